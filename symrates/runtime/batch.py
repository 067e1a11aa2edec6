"""Running many parameter sets of one model in one compiled *batch kernel*.

:class:`BatchProgram` holds the compiled module of a unit (one parameter set) and the signals
observed in a scan (see :mod:`symrates.codegen.render_batch`); :meth:`BatchProgram.run`
integrates ``B`` copies with per-copy parameters, initial states and noise keys, parallel over
tiles of copies with the whole time loop in each thread (no barrier per step), and returns the
window's statistics accumulated in the kernel: Welford's mean and sum of squared deviations,
minimum, maximum and last value of every signal, and, for the signals that need a spectrum, the
window's samples (the Welch spectrum is then computed with numpy).

Per-set noise
-------------
Copy ``b`` draws the normal numbers of :mod:`symrates.runtime.rng` for its own seed
``seeds[b]`` with the unit's state index and state count, exactly what
``simulate(unit, ..., noise=..., seed=seeds[b])`` draws: a set's noise depends on its seed only,
never on its chunk, position or the thread count. :func:`set_seeds` derives the seeds of a scan's
sets from its root seed and their grid indices.

Examples
--------
>>> import numpy as np, sympy, symrates as sr
>>> from symrates.runtime.batch import BatchProgram
>>> unit = sr.build("montbrio.QIF")
>>> prog = BatchProgram(unit, [("r", sympy.Symbol("QIF/QIF_op/r", real=True))])
>>> out = prog.run(params={"QIF/QIF_op/eta": np.array([-6.0, -4.0])}, y0=None, dt=1e-3,
...                n_steps=1000, window_start=900, stride=1, method="euler")
>>> out["mean"].shape
(1, 2)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

import numpy as np
import sympy

from ..codegen.render_batch import BatchSignal, render_batch
from ..compile.build import load_kernel
from ..compile.openmp import effective_threads
from ..config import Config
from ..errors import IntegrationError, ModelDefinitionError
from ..frontend.parsing import TIME
from ..ir.system import SymbolicSystem
from .problem_numpy import ProblemSetup, lowered
from .rng import GAMMA, mix64

__all__ = ["BATCH_METHODS", "NotBatchable", "BatchProgram", "set_seeds", "noise_keys",
           "tile_size"]

logger = logging.getLogger(__name__)

#: Methods the batch kernel integrates (as the compiled engine: fixed steps).
BATCH_METHODS = ("euler", "heun", "rk4")
#: Bytes of one tile's working arrays the tile size aims for (about a level-1/2 cache).
TILE_BYTES = 16 * 1024
#: Largest tile (copies integrated together).
MAX_TILE = 256
#: Rows of the accumulator array per signal row: mean and m2 of the signal minus its first
#: sample, min, max, last, first sample.
ACC_ROWS = 6


class NotBatchable(ValueError):
    """The run needs something the batch kernel does not do (the caller uses another path)."""


def noise_keys(seeds: np.ndarray) -> np.ndarray:
    """The keys of the counter-based stream for ``seeds`` (``symrates.runtime.rng._key``)."""
    s = np.asarray(seeds, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return mix64(s * GAMMA + GAMMA)


def set_seeds(entropy: int, keys: Sequence[tuple[int, ...]]) -> np.ndarray:
    """The noise seed (an integer below 2**63) of each parameter set.

    Parameters
    ----------
    entropy : int
        The scan's root seed (``result.attrs["seed"]``).
    keys : sequence of tuple of int
        Each set's key: ``(flat grid index,)`` in a scan, ``(direction, value index)`` in a
        sweep.

    Returns
    -------
    np.ndarray of uint64
        ``simulate(..., seed=int(seeds[i]))`` draws the noise set ``i`` gets in the scan.

    Examples
    --------
    >>> s = set_seeds(7, [(0,), (1,), (0,)])
    >>> bool(s[0] == s[2] and s[0] != s[1] and s.max() < 2**63)
    True
    """
    base = np.random.SeedSequence(int(entropy), spawn_key=(2,)).generate_state(1, np.uint64)[0]
    arr = np.asarray([tuple(k) for k in keys], dtype=np.uint64).reshape(len(keys), -1)
    z = np.full(arr.shape[0], base, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(arr.shape[1]):
            z = mix64(z + (arr[:, j] + np.uint64(1)) * GAMMA)
    return z >> np.uint64(1)


def tile_size(per_copy_bytes: int, copies: int, n_threads: int) -> int:
    """Copies per tile: a power of two whose working arrays fit :data:`TILE_BYTES`, no larger
    than needed to give every thread a tile. Results do not depend on it."""
    L = 1
    while 2 * L <= MAX_TILE and 2 * L * per_copy_bytes <= TILE_BYTES:
        L *= 2
    share = -(-copies // max(1, n_threads))
    while L > 1 and L // 2 >= share:
        L //= 2
    return L


class BatchProgram:
    """The batch kernel of a unit and its observed signals, with the unit's index maps.

    Parameters
    ----------
    unit : SymbolicSystem
        One parameter set of the model (a node, a circuit, or a small network).
    signals : sequence of (name, expr)
        Observed signals: sympy expressions in symbols named by full paths of the unit's
        states and constant parameters (a name may end in ``:const``, the constant part of an
        input) and ``t``. Each takes one accumulator row per unit (see :meth:`rows`).
    driven : set of str, optional
        Parameters driven by input series (a signal cannot read them).
    config : Config, optional
        Compiler configuration (default :meth:`Config.default`).
    source : str, optional
        The module's source, rendered before (e.g. in another process).

    Raises
    ------
    NotBatchable
        For a unit with delays, or a signal reading something other than states, constant
        parameters and ``t``.
    """

    def __init__(self, unit: SymbolicSystem, signals: Sequence[tuple[str, sympy.Expr]],
                 *, driven: frozenset[str] | set[str] = frozenset(), config: Config | None = None,
                 source: str | None = None) -> None:
        if unit.has_delays:
            raise NotBatchable("the model has delays")
        self.unit = unit
        self.spec = spec = lowered(unit)
        self.config = config or Config.default()
        # flat parameter index of the unit: group blocks of (n_params x n units)
        self._poff = []
        off = 0
        for g in spec.groups:
            self._poff.append(off)
            off += len(g.params) * g.n
        self.n_params = off
        self.n_states = spec.n_states
        self.n_cins = sum(len(g.cins) * g.n for g in spec.groups)
        self.n_sources = sum(spec.groups[c.source].n for c in spec.couplings)
        self.signals = [self._signal(name, expr, set(driven)) for name, expr in signals]
        self._rows, row = {}, 0
        for sig in self.signals:
            self._rows[sig.name] = slice(row, row + sig.units)
            row += sig.units
        local: list[set[str]] = [set() for _ in spec.groups]
        for path in driven:
            g, name, _node = unit.locate(path)
            local[unit.groups.index(g)].add(name)
        self.source = source if source is not None else render_batch(spec, self.signals, local)
        self._module: ModuleType | None = None
        self.per_copy_bytes = 8 * (7 * self.n_states + 2 * self.n_params + self.n_cins
                                   + self.n_sources)
        self.n_rows = sum(s.units for s in self.signals)

    # -- index maps ----------------------------------------------------------------------------
    def param_index(self, path: str) -> np.ndarray:
        """Flat indices of a parameter path's entries in the unit's parameter vector."""
        g, local, node_i = self.unit.locate(path)
        gi = self.unit.groups.index(g)
        gs = self.spec.groups[gi]
        if local not in gs.params:
            raise NotBatchable(f"{path!r} is not a parameter of the lowered model")
        base = self._poff[gi] + gs.params.index(local) * gs.n + node_i * g.copies
        return base + np.arange(g.copies)

    def rows(self, name: str) -> slice:
        """The accumulator rows of a signal (one per unit)."""
        return self._rows[name]

    def _signal(self, name: str, expr: sympy.Expr, driven: set[str]) -> BatchSignal:
        loads, sizes = {}, set()
        for sym in sympy.sympify(expr).free_symbols:
            if sym == TIME:
                continue
            text = str(sym)
            path = text[:-len(":const")] if text.endswith(":const") else text
            if path in self.unit.layout:
                _g, _v, off, length = self.unit.layout[path]
                loads[sym] = ("y", off, 1 if length > 1 else 0)
                sizes.add(length)
            elif path in self.unit.parameters and (text.endswith(":const") or (
                    path not in self.unit.inputs and path not in driven)):
                idx = self.param_index(path)
                loads[sym] = ("p", int(idx[0]), 1 if idx.size > 1 else 0)
                sizes.add(idx.size)
            else:
                raise NotBatchable(f"the signal {name!r} reads {text!r}, which is neither a state "
                                   "nor a constant parameter")
        many = sizes - {1}
        if len(many) > 1:
            raise NotBatchable(f"the signal {name!r} mixes variables of different sizes")
        return BatchSignal(name, sympy.sympify(expr), max(many, default=1), loads)

    # -- the module ----------------------------------------------------------------------------
    @property
    def module(self) -> ModuleType:
        """The compiled module (compiled, or loaded from the cache, on first use).

        Like every kernel it is compiled for the widest vectors of this processor
        (:func:`symrates.compile.build.vector_flags`): the loops over copies then take four
        or eight doubles at a time. This changes no result: every operation is still one IEEE
        double operation (no FMA contraction, see :data:`symrates.compile.build.BASE_CFLAGS`),
        only more of them run side by side.
        """
        if self._module is None:
            self._module = load_kernel(self.source, config=self.config)
        return self._module

    def threads(self, n_threads: int | None) -> int:
        """Threads for a run (``None``: the configured default, else all usable cores)."""
        if n_threads is None:
            n_threads = self.config.n_threads
        nt = effective_threads(n_threads)
        return nt if self.module.OPENMP else 1

    def csr(self, L: int, unit: SymbolicSystem | None = None) -> tuple[np.ndarray, ...]:
        """The coupling matrices of a tile of ``L`` copies, ``kron(W, I_L)`` with the entries
        of each row in ``W``'s order, concatenated (weights of ``unit``, default the
        program's)."""
        indptrs, indices, weights = [], [], []
        unit = self.unit if unit is None else unit
        for c in unit.couplings:     # without delays, the lowered couplings in this order
            W = c.weights
            # row u * L + b holds row u of W in W's order (the order of a run of one copy)
            cols, data = [], []
            b = np.arange(L)[:, None]
            for u in range(W.shape[0]):
                lo, hi = W.indptr[u], W.indptr[u + 1]
                cols.append((W.indices[lo:hi][None, :] * L + b).ravel())
                data.append(np.broadcast_to(W.data[lo:hi], (L, hi - lo)).ravel())
            lengths = np.repeat(np.diff(W.indptr), L)
            indptrs.append(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))
            indices.append(np.concatenate(cols).astype(np.int64) if cols else
                           np.zeros(0, np.int64))
            weights.append(np.concatenate(data).astype(float) if data else np.zeros(0))

        def cat(parts, dtype):
            arr = np.concatenate(parts) if parts else np.zeros(0, dtype)
            return np.ascontiguousarray(arr if arr.size else np.zeros(1, dtype), dtype=dtype)

        rowoff = np.cumsum([0] + [len(p) for p in indptrs])[:-1] if indptrs else [0]
        nzoff = np.cumsum([0] + [len(p) for p in indices])[:-1] if indices else [0]
        return (cat(indptrs, np.int64), cat(indices, np.int64), cat(weights, float),
                np.asarray(rowoff, dtype=np.int64), np.asarray(nzoff, dtype=np.int64))

    # -- a run ---------------------------------------------------------------------------------
    def run(
        self,
        *,
        params: Mapping[str, Any],
        y0: np.ndarray | None,
        dt: float,
        n_steps: int,
        window_start: int,
        stride: int,
        method: str,
        copies: int | None = None,
        fixed: Mapping[str, Any] | None = None,
        inputs: Mapping[str, np.ndarray] | None = None,
        sigma: Mapping[str, Any] | None = None,
        seeds: np.ndarray | None = None,
        spectral: Sequence[int] = (),
        active: Sequence[int] | None = None,
        n_threads: int | None = 1,
        unit: SymbolicSystem | None = None,
    ) -> dict[str, Any]:
        """Integrate ``B`` copies and return the window's statistics.

        Parameters
        ----------
        params : mapping
            ``{path: values}`` with one value per copy (length ``B``), the swept parameters.
        y0 : np.ndarray or None
            Initial states, ``(n_states,)`` for all copies or ``(B, n_states)``; None: the
            declared ones.
        dt, n_steps : float, int
            Step and number of steps.
        window_start, stride : int
            Samples at steps ``window_start, window_start + stride, ..., n_steps`` (step ``s``:
            the state at ``t = s * dt``).
        method : {"euler", "heun", "rk4"}
        copies : int, optional
            ``B`` when ``params`` is empty.
        fixed : mapping, optional
            ``{path: value}`` for all copies (a value may have one entry per unit).
        inputs : mapping, optional
            ``{path: array}`` input series shared by all copies (row ``k`` during step ``k``).
        sigma : mapping, optional
            ``{state path: sigma}`` additive noise (``euler``: Euler–Maruyama, ``heun``:
            stochastic Heun), with per-copy ``seeds``.
        seeds : np.ndarray, optional
            One noise seed per copy (see :func:`set_seeds`).
        spectral : sequence of int
            Accumulator rows whose samples are kept (for spectra), in this order.
        active : sequence of int, optional
            The rows to accumulate (default all; the others stay NaN / infinite).
        n_threads : int, optional
            Threads (results do not depend on it).
        unit : SymbolicSystem, optional
            A system of the same structure whose parameter values, initial state and coupling
            weights to use (default: the program's own).

        Returns
        -------
        dict
            ``mean, m2, min, max, last``: ``(rows, B)`` arrays (a signal takes one row per
            unit, in the order of the signals); ``count``: samples per row; ``buffer``:
            ``(len(spectral), samples, B)``; ``final``: ``(B, n_states)``; ``failed``: the
            first checked step at which each copy was not finite (-1: never).
        """
        mod = self.module
        if method not in BATCH_METHODS:
            raise ModelDefinitionError(f"The batch kernel runs {', '.join(BATCH_METHODS)}; got "
                                       f"method={method!r}.")
        if sigma and method == "rk4":
            raise ModelDefinitionError(
                "noise= needs the 'euler' or 'heun' method (Euler–Maruyama or stochastic Heun); "
                "got method='rk4'.")
        lengths = {np.shape(v)[0] for v in params.values()}
        if len(lengths) > 1:
            raise ModelDefinitionError(
                f"The per-copy parameter values of a batch run must have one length, got "
                f"{ {p: np.shape(v)[0] for p, v in params.items()} }.")
        B = lengths.pop() if lengths else int(copies or 1)
        nt = self.threads(n_threads)
        L = tile_size(self.per_copy_bytes, B, nt)
        n_tiles = -(-B // L)
        width = n_tiles * L
        nt = max(1, min(nt, n_tiles))
        fill = np.minimum(np.arange(width), B - 1)

        unit = self.unit if unit is None else unit
        setup = ProblemSetup(unit, params=fixed or None, inputs=inputs or None,
                             n_steps=n_steps, spec=self.spec)
        base = np.concatenate([np.broadcast_to(np.asarray(setup.params[gi][p], dtype=float),
                                               (g.n,))
                               for gi, g in enumerate(self.spec.groups) for p in g.params]
                              or [np.zeros(0)])
        P = np.empty((n_tiles, self.n_params, L))
        P[...] = base[None, :, None]
        for path, values in params.items():
            v = np.asarray(values, dtype=float)[fill].reshape(n_tiles, 1, L)
            P[:, self.param_index(path), :] = v
        Y = np.empty((n_tiles, self.n_states, L))
        init = unit.initial_state if y0 is None else np.asarray(y0, dtype=float)
        if init.ndim == 1:
            Y[...] = init[None, :, None]
        else:
            Y[...] = init[fill].reshape(n_tiles, L, self.n_states).transpose(0, 2, 1)

        table, col, dst = np.zeros((1, 1)), [], []
        tables, n_columns = [], 0
        for d in setup.driven:
            if callable(d.source):
                raise NotBatchable("inputs given as callables")
            gi = d.group
            gs = self.spec.groups[gi]
            first = self._poff[gi] + gs.params.index(d.param) * gs.n + d.rows.start
            width_d = d.rows.stop - d.rows.start
            t = np.asarray(d.source[:n_steps], dtype=float).reshape(n_steps, -1)
            cols = [n_columns] * width_d if t.shape[1] == 1 else list(
                range(n_columns, n_columns + width_d))
            for j in range(width_d):
                for b in range(L):
                    col.append(cols[j])
                    dst.append((first + j) * L + b)
            n_columns += t.shape[1]
            tables.append(t)
        if tables:
            table = np.ascontiguousarray(np.hstack(tables))

        sig = np.zeros(max(self.n_states, 1))
        keys = np.zeros(width, dtype=np.uint64)
        if sigma:
            for path, value in sigma.items():
                _g, _v, off, length = self.unit.layout[path]
                sig[off:off + length] = value
            if seeds is None or len(seeds) != B:
                raise ModelDefinitionError("noise in a batch needs one seed per copy")
            keys = np.ascontiguousarray(noise_keys(np.asarray(seeds, dtype=np.uint64)[fill]))

        n_samples = (n_steps - window_start) // stride + 1
        rows = max(self.n_rows, 1)
        acc = np.empty((ACC_ROWS, rows, width))
        acc[0:2] = 0.0
        acc[2] = np.inf
        acc[3] = -np.inf
        acc[4:6] = np.nan
        spec_rows = len(spectral)
        spec_map = np.full(rows, -1, dtype=np.int64)
        if active is not None:
            spec_map[:] = -2
            spec_map[np.asarray(active, dtype=np.int64)] = -1
        spec_map[np.asarray(spectral, dtype=np.int64)] = np.arange(spec_rows)
        buf = np.zeros((max(spec_rows, 1), n_samples if spec_rows else 1, width))
        failed = np.full(width, -1, dtype=np.int64)
        Yk = Y.reshape(n_tiles, -1)
        Pk = P.reshape(n_tiles, -1) if self.n_params else np.zeros((n_tiles, 1))
        csr = self.csr(L, unit)
        i64 = np.int64
        args = (Yk, Pk, keys, sig, table, np.asarray(col or [0], dtype=i64),
                np.asarray(dst, dtype=i64), *csr, acc.reshape(ACC_ROWS * rows, width), buf,
                spec_map, failed, L, float(dt), int(n_steps), int(window_start), int(stride),
                mod.METHODS[method], bool(sigma))
        if mod.run(*args, nt) == -3:
            logger.info("OpenMP did not provide %d threads; running serially", nt)
            mod.run(*args, 1)
        out = {name: acc[i, :self.n_rows, :B] for i, name in
               enumerate(("mean", "m2", "min", "max", "last", "shift"))}
        out["mean"] = out["shift"] + out["mean"]
        out["count"] = n_samples
        out["buffer"] = buf[:spec_rows, :, :B]
        out["final"] = Y.transpose(0, 2, 1).reshape(width, self.n_states)[:B]
        out["failed"] = failed[:B]
        return out

    def diverged(self, failed: np.ndarray, dt: float) -> IntegrationError | None:
        """An :class:`IntegrationError` naming the copies whose state became non-finite."""
        bad = np.flatnonzero(failed >= 0)
        if bad.size == 0:
            return None
        t = float(failed[bad].min()) * dt
        err = IntegrationError(
            f"The state of {bad.size} parameter set(s) of {self.unit.name!r} became non-finite "
            f"(first seen by t = {t:g}). Use a smaller dt, or check the parameter values.",
            t=t, state=None)
        err.chunk_sets = [int(b) for b in bad]
        return err
