"""The compiled engine: a generated kernel module fed with the arrays of a :class:`ProblemSetup`.

:func:`kernel_module` renders the Cython module of a system's :class:`KernelSpec` (one per
structure) and loads it through the cache (:func:`symrates.compile.build.load_kernel`).
:class:`CompiledProblem` packs parameters, coupling matrices and input time series into flat
arrays for the module's ``Kernel`` and implements the problem protocol (``rhs(t, y, k)``), and
:func:`integrate_compiled` runs the whole time loop of ``euler``, ``heun`` or ``rk4`` in
compiled ``nogil`` code, with the semantics of :func:`symrates.runtime.integrate.integrate`:
``t_k = k*dt``, samples at ``0, stride*dt, ...``, input row ``k`` during all stages of step
``k``, the same stage order and arithmetic grouping as :mod:`symrates.runtime.solvers.fixed`.

Noise runs as Euler–Maruyama (``euler``) and stochastic Heun (``heun``) with the
counter-based stream of :mod:`symrates.runtime.rng`, evaluated in the kernel. Additive noise
(``sigma`` per state) is a run-time array; multiplicative noise (amplitudes that are expressions
of the states and parameters, :mod:`symrates.runtime.noise`) is structure: the kernel source gets
one function per group evaluating the amplitudes, and the source's cache key the expressions.
Large systems run in one persistent OpenMP region for the whole run, each thread owning a fixed
block of units of every group (:func:`thread_plan`); results do not depend on the thread count.
Delayed couplings and ``x(t - d)`` in equations read histories interpolated by cubic Hermite
(:mod:`symrates.runtime.history`, the same arithmetic as the numpy reference). Adaptive methods
and inputs given as callables are not compiled (:func:`not_compiled` explains, ``simulate``
falls back or raises).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import secrets
import weakref
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from symrates._version import __version__
from symrates.codegen.lower import noise_digest
from symrates.compile.build import load_kernel, loaded_module
from symrates.compile.cache import STATS, keep_source, kernel_dir, read_kept_source
from symrates.compile.openmp import effective_threads
from symrates.config import Config
from symrates.errors import CompilationError, ModelDefinitionError
from symrates.ir.system import SymbolicSystem
from symrates.runtime.history import delay_lines
from symrates.runtime.integrate import (
    _diverged,
    _initial_state,
    _progress_bar,
    _record_indices,
    _sample_stride,
    step_count,
)
from symrates.runtime.noise import Noise
from symrates.runtime.problem_numpy import ProblemSetup, lowered
from symrates.runtime.rng import _key
from symrates.runtime.solvers import Diffusion

__all__ = ["COMPILED_METHODS", "PARALLEL_MIN_WORK", "DENSE_MIN_DENSITY", "is_dense",
           "not_compiled", "kernel_source", "kernel_module", "CompiledProblem", "thread_plan",
           "threads_for", "integrate_compiled"]

logger = logging.getLogger(__name__)

#: Methods whose time loop runs in the compiled kernel (codes of the kernel's ``METHODS``).
COMPILED_METHODS = ("euler", "heun", "rk4")
#: Methods that take ``noise`` (Euler–Maruyama, stochastic Heun), as in the numpy reference.
NOISE_METHODS = ("euler", "heun")
#: Work per stage below which a run stays serial: the barriers of a parallel run (a few per
#: step, each ~1-3 us on this kind of machine) cost more than the work saved. Work counts a
#: state as 3 (its equations and the sigmoid-like sources of its unit), a sparse non-zero as 1
#: and a dense entry as 1/6 (a vectorised dot product); measured on the JRC network, see
#: docs/compiled_engine.md.
PARALLEL_MIN_WORK = 45_000
#: A coupling whose weight matrix has at least this fraction of non-zeros runs as a dense
#: row-major product (a vectorised dot product per row) instead of CSR: no index loads, half the
#: bytes per entry at density 1 (measured crossover on B2's JRC network: docs/compiled_engine.md).
DENSE_MIN_DENSITY = 0.3
#: ... and at most this many entries (the dense copy is held beside the CSR arrays).
DENSE_MAX_ENTRIES = 16_000_000
#: A compiled run with ``progress=True`` is this many calls of the kernel, each continuing the
#: last (one OpenMP region each, ~13 us): the bar moves by a hundredth of the run.
PROGRESS_PIECES = 100
#: Codes in a kernel's ``doff`` (offset of a coupling's dense matrix, >= 0) for couplings that
#: are not dense: general CSR, and CSR with exactly one entry in every row (e.g. the edges
#: inside N copies of a circuit), which skips the per-row bookkeeping of the sparse product.
CSR = -1
ONE_PER_ROW = -2
#: ... and at least this many source units: shorter rows are all remainder of the eight-way
#: dot product, where a CSR row of one to three entries takes one multiply-add (the edges
#: inside one circuit: at B1's N = 1 the tiny dense products were a fifth of the stage time).
DENSE_MIN_SOURCES = 16


def not_compiled(system: SymbolicSystem, *, method: str, noise: Any,
                 inputs: Mapping[str, Any] | None) -> list[str]:
    """What a run asks for that this version of the compiled engine does not compile.

    Returns
    -------
    list of str
        Empty if the run can be compiled; else phrases such as ``"the adaptive method 'rk45'"``.
    """
    reasons = []
    if method not in COMPILED_METHODS:
        reasons.append(f"the adaptive method {method!r} (compiled: "
                       f"{', '.join(COMPILED_METHODS)})")
    callables = [p for p, v in (inputs or {}).items() if callable(v)]
    if callables:
        reasons.append(f"inputs given as callables ({', '.join(map(repr, callables))}; give "
                       "arrays with one row per step instead)")
    return reasons


@functools.cache
def _generator_hash() -> str:
    """A hash of what generates kernel sources: the lowering, printer, renderer and templates."""
    # the files, found without importing them: a warm start needs neither the printer nor
    # Jinja2 (~30 ms of imports)
    codegen = Path(importlib.util.find_spec("symrates.codegen").origin).parent
    h = hashlib.sha256(__version__.encode())
    for name in ("lower.py", "printer.py", "render.py"):
        h.update((codegen / name).read_bytes())
    templates = codegen / "templates"
    for path in sorted(templates.iterdir()):     # the template and what it includes
        if path.is_file():
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def _stored_source(system: SymbolicSystem, precision: str, noise_key: str = "") -> Path | None:
    """Where the source of ``system``'s structure is kept between processes: a warm start then
    skips the common-subexpression elimination and the rendering (~40 ms for the JRC)."""
    try:
        key = f"{_generator_hash()}\n{precision}\n{system.structure_fingerprint()}"
        if noise_key:       # multiplicative noise is structure too
            key += f"\nnoise:\n{noise_key}"
        digest = hashlib.sha256(key.encode()).hexdigest()
        return kernel_dir() / f"_sr_source_{digest[:24]}.pyx.txt"
    except (OSError, CompilationError):
        return None


def kernel_source(system: SymbolicSystem, precision: str = "float64",
                  noise: Noise | None = None) -> str:
    """The generated Cython source of ``system`` (rendered once per structure, precision and
    multiplicative noise, cached on the system and kept in the cache directory).

    ``noise`` matters only when it is multiplicative (:attr:`Noise.multiplicative`): its
    expressions are part of the source; additive noise is a run-time array.

    Raises
    ------
    CodegenError
        If the model contains something the code generator cannot compile.
    """
    specs = noise.specs if noise is not None else ()
    noise_key = noise.key() if specs else ""
    key = "cython_source" if precision == "float64" else f"cython_source_{precision}"
    if noise_key:
        key = (key, noise_key)
    if key in system._cache:
        return system._cache[key]
    stored = _stored_source(system, precision, noise_key)
    source = read_kept_source(stored) if stored is not None else None
    if source is None:
        from symrates.codegen.render import render

        source = render(lowered(system), precision, specs)
        if stored is not None:
            keep_source(stored, source)
    system._cache[key] = source
    return source


def kernel_module(system: SymbolicSystem, *, config: Config | None = None,
                  precision: str = "float64", noise: Noise | None = None) -> ModuleType:
    """The compiled kernel module of ``system``'s structure, compiled on first use.

    ``precision="float32"`` stores states, parameters, weights and recordings in single
    precision (the arithmetic stays double); it is a module of its own. So is each set of
    multiplicative ``noise`` expressions (additive noise uses the plain module).

    Raises
    ------
    CodegenError
        If the model contains something the code generator cannot compile.
    CompilationError
        If Cython or the C compiler fails.
    """
    config = config or Config.default()
    module = loaded_kernel_module(system, config=config, precision=precision, noise=noise)
    if module is None:
        module = load_kernel(kernel_source(system, precision, noise), config=config)
        system._cache[_module_key(config, precision, noise)] = module.__name__
    return module


def _module_key(config: Config, precision: str, noise: Noise | None) -> tuple:
    specs = noise.specs if noise is not None else ()
    return ("kernel_module", config, precision, noise.key() if specs else "")


def loaded_kernel_module(system: SymbolicSystem, *, config: Config, precision: str = "float64",
                         noise: Noise | None = None) -> ModuleType | None:
    """The module :func:`kernel_module` gave for ``system`` before, if this process still has
    it loaded (``clear_cache`` forgets it): a repeated run skips hashing the source and looking
    up the cache (~20 µs of a short run)."""
    name = system._cache.get(_module_key(config, precision, noise))
    module = loaded_module(name) if name is not None else None
    if module is not None:
        STATS.memory_hits += 1
    return module


def _offsets(lengths: list[int]) -> np.ndarray:
    """Start of each block when blocks of ``lengths`` are concatenated (at least one entry)."""
    if not lengths:
        return np.zeros(1, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)


def _nonempty(arr: np.ndarray, dtype: Any) -> np.ndarray:
    """A C-contiguous array of ``dtype`` with at least one element (kernels take pointers)."""
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if arr.size == 0:
        return np.zeros((1,) * max(arr.ndim, 1), dtype=dtype)
    return arr


_PACKED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _packed(spec: Any, real: np.dtype) -> dict:
    """The kernel arrays that depend on the spec only (sizes, offsets, CSR and dense
    matrices), packed once per spec: repeated runs of one system only pack their parameters
    and inputs."""
    per_spec = _PACKED.setdefault(spec, {})
    if real in per_spec:
        return per_spec[real]
    groups = spec.groups
    yoff, offset = [], 0
    for g in groups:
        yoff.append(g.offsets[0] if g.offsets else offset)
        offset += len(g.states) * g.n
    src_sizes, indptrs, indices, weights = [], [], [], []
    dense, doff, dense_size = [], [], 0
    for ci, c in enumerate(spec.couplings):
        n_t, n_s = groups[c.target].n, groups[c.source].n
        CompiledProblem._check_csr(ci, c, n_t, n_s)
        src_sizes.append(n_s)
        indptrs.append(np.asarray(c.indptr, dtype=np.int64))
        indices.append(np.asarray(c.indices, dtype=np.int32))
        weights.append(np.asarray(c.weights, dtype=real))
        if is_dense(c, n_t, n_s):
            matrix = np.zeros((n_t, n_s), dtype=real)
            rows = np.repeat(np.arange(n_t), np.diff(indptrs[-1]))
            np.add.at(matrix, (rows, indices[-1]), weights[-1])
            dense.append(matrix.reshape(-1))
            doff.append(dense_size)
            dense_size += matrix.size
        elif not c.delayed and n_t and np.array_equal(indptrs[-1], np.arange(n_t + 1)):
            doff.append(ONE_PER_ROW)
        else:
            doff.append(CSR)
    arrays = {
        "sizes": _nonempty(np.array([g.n for g in groups], dtype=np.int64), np.int64),
        "yoff": _nonempty(np.array(yoff, dtype=np.int64), np.int64),
        "poff": _offsets([len(g.params) * g.n for g in groups]),
        "coff": _offsets([len(g.cins) * g.n for g in groups]),
        "soff": _offsets(src_sizes),
        "rowoff": _offsets([len(p) for p in indptrs]),
        "nzoff": _offsets([len(i) for i in indices]),
        "indptr": _nonempty(np.concatenate(indptrs) if indptrs else [], np.int64),
        "indices": _nonempty(np.concatenate(indices) if indices else [], np.int32),
        "weights": _nonempty(np.concatenate(weights) if weights else [], real),
        "dense": _nonempty(np.concatenate(dense) if dense else [], real),
        "doff": _nonempty(np.array(doff, dtype=np.int64), np.int64),
    }
    for a in arrays.values():
        a.flags.writeable = False
    out = {
        "arrays": arrays, "yoff": yoff, "poff": arrays["poff"],
        "n_c": max(sum(len(g.cins) * g.n for g in groups), 1),
        "n_s": 2 * max(sum(src_sizes), 1),    # two copies, alternating by stage
        "nnz": sum(len(i) for i, o in zip(indices, doff) if o < 0),
        "dense_entries": dense_size,
        "dense_couplings": tuple(ci for ci, o in enumerate(doff) if o >= 0),
        "one_per_row_couplings": tuple(ci for ci, o in enumerate(doff) if o == ONE_PER_ROW),
    }
    per_spec[real] = out
    return out


class CompiledProblem:
    """A :class:`ProblemSetup` packed for a compiled kernel module.

    Parameters
    ----------
    setup : ProblemSetup
        Parameters, inputs and state names, resolved.
    module : module
        The kernel module of ``setup.spec``'s structure (:func:`kernel_module`).
    n_steps : int, optional
        Steps of the run; input arrays are cut to this many rows (default: all rows).

    Attributes
    ----------
    n_states, state_names
        As for every problem (see :class:`symrates.runtime.problem.Problem`).
    kernel
        The module's ``Kernel`` holding the arrays.

    Examples
    --------
    >>> import numpy as np, symrates as sr
    >>> from symrates.runtime.problem_numpy import ProblemSetup, NumpyProblem
    >>> system = sr.build("fitzhugh_nagumo.FHN")
    >>> problem = CompiledProblem(ProblemSetup(system), kernel_module(system))
    >>> y = np.array([0.5, -0.2])
    >>> bool(np.allclose(problem.rhs(0.0, y, 0), NumpyProblem(system).rhs(0.0, y, 0)))
    True
    """

    def __init__(self, setup: ProblemSetup, module: ModuleType, *,
                 n_steps: int | None = None) -> None:
        spec = setup.spec
        self.setup = setup
        self.module = module
        self.n_states = setup.n_states
        self.state_names = setup.state_names
        groups = spec.groups
        #: the storage type of the module's float arrays (float64, or float32 on request)
        self.real = real = np.dtype(getattr(module, "REAL", "float64"))
        static = _packed(spec, real)
        poff = static["poff"]
        blocks = []
        for gi, g in enumerate(groups):
            for p in g.params:
                value = setup.params[gi][p]
                if not (isinstance(value, np.ndarray) and value.shape == (g.n,)):
                    value = np.broadcast_to(np.asarray(value, dtype=float), (g.n,))
                blocks.append(value)
        P = np.concatenate(blocks) if blocks else np.zeros(0)

        tables: list[np.ndarray] = []     # per driven parameter: (n_steps, 1 or width)
        col, dst = [], []
        n_columns = 0
        for d in setup.driven:
            if callable(d.source):
                raise ModelDefinitionError(
                    f"The compiled engine takes inputs as arrays with one row per step; the "
                    f"input of {d.param!r} is a callable. Use backend='numpy', or evaluate it "
                    "on the step grid."
                )
            g = groups[d.group]
            base = int(poff[d.group]) + g.params.index(d.param) * g.n + d.rows.start
            width = d.rows.stop - d.rows.start
            values = d.source if n_steps is None else d.source[:n_steps]
            table = values.reshape(values.shape[0], -1)     # a view
            col += [n_columns] * width if table.shape[1] == 1 else range(
                n_columns, n_columns + width)
            dst += range(base, base + width)
            n_columns += table.shape[1]
            tables.append(table)
        # one driven parameter (the common case, e.g. B1's (n_steps, N) input): no copy
        inputs = tables[0] if len(tables) == 1 else (
            np.hstack(tables) if tables else np.zeros((1, 1)))

        self._arrays = {
            **static["arrays"],
            "P": _nonempty(P, real),
            "C": np.zeros(static["n_c"], dtype=real),
            "S": np.zeros(static["n_s"], dtype=real),
            "inputs": np.ascontiguousarray(inputs, dtype=real),
            "input_col": _nonempty(np.array(col, dtype=np.int64), np.int64),
            "input_dst": _nonempty(np.array(dst, dtype=np.int64), np.int64),
        }
        self._n_inputs = len(dst)
        self._yoff = static["yoff"]
        #: the work of one stage, which decides the thread count (see PARALLEL_MIN_WORK)
        self.work = 3 * setup.n_states + static["nnz"] + static["dense_entries"] // 6
        #: indices of the couplings that run as dense products
        self.dense_couplings = static["dense_couplings"]
        #: indices of the sparse couplings with one entry in every row
        self.one_per_row_couplings = static["one_per_row_couplings"]
        self._n_input_rows = inputs.shape[0] if tables else 0
        self.kernel = module.Kernel(*(self._arrays[a] for a in module.ARRAYS),
                                    n_inputs=self._n_inputs)
        #: whether some coupling reads a history (call :meth:`start_history` before a run)
        self.delayed = any(c.delayed for c in spec.couplings)
        self._nzoff = static["arrays"]["nzoff"]

    def start_history(self, dt: float) -> None:
        """Allocate the histories of the delayed couplings for a run with step ``dt``.

        Raises
        ------
        ModelDefinitionError
            If a delay is shorter than ``dt`` (see :func:`symrates.runtime.history.delay_lines`).
        """
        spec = self.setup.spec
        lines = delay_lines(spec, dt, self.setup.params, self.setup.driven)
        n_c = len(spec.couplings)
        hoff = np.zeros(max(n_c, 1), dtype=np.int64)
        h0off = np.zeros(max(n_c, 1), dtype=np.int64)
        slots = np.ones(max(n_c, 1), dtype=np.int64)
        D = np.zeros(max(int(self._arrays["weights"].size), 1), dtype=self.real)
        size = size0 = 0
        for line in lines:
            ci = line.coupling
            n = spec.groups[spec.couplings[ci].source].n
            hoff[ci], h0off[ci], slots[ci] = size, size0, line.slots
            size += line.slots * n
            size0 += n
            D[self._nzoff[ci]:self._nzoff[ci] + line.steps.size] = line.steps
        if self._history is not None:
            raise RuntimeError("CompiledProblem.start_history: the history was started before")
        real = self.real
        self._history = (np.zeros(max(size, 1), dtype=real), np.zeros(max(size, 1), dtype=real),
                         np.zeros(max(size0, 1), dtype=real),
                         D, hoff, h0off, slots)
        self.kernel.set_history(*self._history)

    @staticmethod
    def _check_csr(ci: int, c: Any, n_t: int, n_s: int) -> None:
        indptr = np.asarray(c.indptr)
        indices = np.asarray(c.indices)
        ok = (tuple(c.shape) == (n_t, n_s) and indptr.shape == (n_t + 1,) and indptr[0] == 0
              and indptr[-1] == indices.size == np.asarray(c.weights).size
              and bool(np.all(np.diff(indptr) >= 0))
              and (indices.size == 0 or (indices.min() >= 0 and indices.max() < n_s)))
        if not ok:
            raise ModelDefinitionError(
                f"Coupling {ci} has an inconsistent weight matrix (shape {tuple(c.shape)}, "
                f"expected ({n_t}, {n_s}), {indices.size} entries): a bug in building the "
                "system; please report it."
            )

    _history: tuple | None = None

    def rhs(self, t: float, y: np.ndarray, k: int) -> np.ndarray:
        """``dy/dt`` at time ``t`` during step ``k``, evaluated by the compiled kernel.

        Not for models with delays (their right-hand side reads the history of a run; the
        numpy reference evaluates it step by step).
        """
        if self.delayed:
            raise ModelDefinitionError(
                f"{self.setup.system.name!r} has delays: its right-hand side reads the history "
                "of a run; use integrate_compiled, or NumpyProblem for single evaluations."
            )
        y = np.ascontiguousarray(y, dtype=self.real)
        dy = np.empty_like(y)
        row = min(k, self._n_input_rows - 1) if self._n_inputs else 0
        self.kernel.rhs(float(t), y, dy, int(row))
        return dy


def is_dense(c: Any, n_target: int, n_source: int) -> bool:
    """Whether a coupling runs as a dense product: undelayed, at least
    :data:`DENSE_MIN_DENSITY` non-zeros, at most :data:`DENSE_MAX_ENTRIES` entries and at least
    :data:`DENSE_MIN_SOURCES` source units."""
    entries = n_target * n_source
    return (not c.delayed and 0 < entries <= DENSE_MAX_ENTRIES and n_source >= DENSE_MIN_SOURCES
            and np.asarray(c.indices).size >= DENSE_MIN_DENSITY * entries)


def threads_for(problem: CompiledProblem, n_threads: int | None) -> int:
    """The number of threads a run of ``problem`` uses for a requested ``n_threads``.

    ``None`` means ``Config.default().n_threads`` (``$SYMRATES_NUM_THREADS``), else all usable
    cores. 1 when the module was built without OpenMP, or when the work per stage
    (``CompiledProblem.work``) is below :data:`PARALLEL_MIN_WORK`; else
    :func:`~symrates.compile.openmp.effective_threads`, at most the size of the largest group.
    """
    if n_threads is None:
        n_threads = Config.default().n_threads
    requested = effective_threads(n_threads)
    if requested == 1 or not problem.module.OPENMP or problem.work < PARALLEL_MIN_WORK:
        return 1
    return max(1, min(requested, max(g.n for g in problem.setup.spec.groups)))


def _owners(index: np.ndarray, starts: np.ndarray, sizes: np.ndarray,
            n_threads: int) -> np.ndarray:
    """The thread owning each entry of ``index`` into blocks of (variables x units) per group
    (group g's block starts at ``starts[g]``, units ``n = sizes[g]``): the thread whose share
    ``n*t//nt <= unit < n*(t+1)//nt`` holds the entry's unit."""
    index = np.asarray(index, dtype=np.int64)
    if index.size == 0:
        return np.zeros(0, dtype=np.int64)
    g = np.searchsorted(starts, index, side="right") - 1
    n = sizes[g]
    unit = (index - starts[g]) % n
    t = np.arange(n_threads)
    # owner: the t with n*t//nt <= unit < n*(t+1)//nt, i.e. the number of ends <= unit
    ends = (n[:, None] * (t[None, :] + 1)) // n_threads
    return np.sum(ends <= unit[:, None], axis=1).astype(np.int64)


def thread_plan(problem: CompiledProblem, record: np.ndarray,
                n_threads: int) -> tuple[np.ndarray, ...]:
    """How states, recorded entries and inputs are split among ``n_threads`` threads.

    Thread ``t`` owns units ``n*t//nt <= i < n*(t+1)//nt`` of every group (``n`` units), and
    with them every state, parameter and coupling sum of those units; everything a unit reads
    during a stage is its own except the coupling source values, so the kernel needs one
    barrier per coupling and stage plus one per step.

    Returns
    -------
    tuple of 9 int64 arrays
        ``seg, seg_off, rec_idx, rec_pos, rec_off, in_col, in_dst, in_off, failed`` as taken by
        the kernel's ``Kernel.run``.
    """
    spec = problem.setup.spec
    nt = n_threads
    if nt == 1:     # one thread owns everything: the whole state is one segment
        record = np.asarray(record, dtype=np.int64)
        n_in = problem._n_inputs
        return (np.array([0, problem.n_states], dtype=np.int64), np.array([0, 1], dtype=np.int64),
                _nonempty(record, np.int64), _nonempty(np.arange(record.size), np.int64),
                np.array([0, record.size], dtype=np.int64),
                _nonempty(problem._arrays["input_col"][:n_in], np.int64),
                _nonempty(problem._arrays["input_dst"][:n_in], np.int64),
                np.array([0, n_in], dtype=np.int64), np.full(2, -1, dtype=np.int64))
    segments: list[list[tuple[int, int]]] = [[] for _ in range(nt)]
    for g in spec.groups:
        for base in g.offsets:
            for t in range(nt):
                lo, hi = base + g.n * t // nt, base + g.n * (t + 1) // nt
                if hi > lo:
                    segments[t].append((lo, hi))
    for t in range(nt):     # adjacent blocks as one segment: one loop and one memcpy each
        merged: list[tuple[int, int]] = []
        for lo, hi in sorted(segments[t]):
            if merged and merged[-1][1] == lo:
                merged[-1] = (merged[-1][0], hi)
            else:
                merged.append((lo, hi))
        segments[t] = merged
    seg = np.array([b for per in segments for pair in per for b in pair] or [0, 0],
                   dtype=np.int64)
    seg_off = np.concatenate([[0], np.cumsum([len(p) for p in segments])]).astype(np.int64)

    sizes = np.array([g.n for g in spec.groups], dtype=np.int64)
    ystarts = np.array(problem._yoff, dtype=np.int64)
    record = np.asarray(record, dtype=np.int64)
    owner = _owners(record, ystarts, sizes, nt)
    order = np.argsort(owner, kind="stable")
    rec_idx = _nonempty(record[order], np.int64)
    rec_pos = _nonempty(order, np.int64)
    rec_off = np.searchsorted(owner[order], np.arange(nt + 1), side="left").astype(np.int64)

    n_in = problem._n_inputs
    dst = problem._arrays["input_dst"][:n_in]
    col = problem._arrays["input_col"][:n_in]
    owner = _owners(dst, np.asarray(problem._arrays["poff"]), sizes, nt)
    order = np.argsort(owner, kind="stable")
    in_col = _nonempty(col[order], np.int64)
    in_dst = _nonempty(dst[order], np.int64)
    in_off = np.searchsorted(owner[order], np.arange(nt + 1), side="left").astype(np.int64)
    failed = np.full(2 * nt, -1, dtype=np.int64)
    return seg, seg_off, rec_idx, rec_pos, rec_off, in_col, in_dst, in_off, failed


def integrate_compiled(
    problem: CompiledProblem,
    y0: np.ndarray,
    *,
    t_end: float,
    dt: float,
    method: str = "rk4",
    sampling: float | None = None,
    record: np.ndarray | None = None,
    noise: np.ndarray | Noise | None = None,
    seed: int | None = None,
    n_threads: int | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integrate with the time loop in compiled code; arguments and results as ``integrate``.

    Parameters
    ----------
    problem : CompiledProblem
    y0 : array_like, shape (n_states,)
        Initial state (not modified).
    t_end, dt, sampling, record
        As for :func:`symrates.runtime.integrate.integrate`.
    method : {"euler", "heun", "rk4"}
    noise : array_like or Noise, optional
        ``sigma`` per state (a scalar or shape ``(n_states,)``, additive), or a resolved
        :class:`~symrates.runtime.noise.Noise` (:func:`~symrates.runtime.noise.resolve_noise`);
        a multiplicative one needs the module made with it (``kernel_module(...,
        noise=noise)``). Euler–Maruyama for ``"euler"``, stochastic Heun for ``"heun"``, with
        the numbers of :func:`symrates.runtime.rng.normals` as in the numpy reference.
    seed : int, optional
        Seed of the noise (an integer >= 0); ``None`` draws a fresh one.
    n_threads : int, optional
        Threads (default: all usable cores); see :func:`threads_for`. Results are bit-identical
        for every thread count.
    progress : bool
        Show a tqdm progress bar (silently none if tqdm is missing): the kernel then runs in
        :data:`PROGRESS_PIECES` pieces of steps, each continuing the last, with the same bits
        as one piece.

    Returns
    -------
    t : np.ndarray, shape (n_samples,)
    Y : np.ndarray, shape (n_samples, n_recorded)
    y_final : np.ndarray, shape (n_states,)

    Raises
    ------
    ModelDefinitionError
        For a bad ``t_end``, ``dt``, ``sampling``, ``record``, ``y0``, ``method`` or ``noise``.
    IntegrationError
        If the state becomes non-finite, with the same message as the numpy reference.
    """
    if method not in COMPILED_METHODS:
        raise ModelDefinitionError(
            f"The compiled engine runs the methods {', '.join(COMPILED_METHODS)}; got "
            f"method={method!r}."
        )
    if noise is not None and method not in NOISE_METHODS:
        raise ModelDefinitionError(
            f"noise= needs the 'euler' or 'heun' method (Euler–Maruyama or stochastic Heun); "
            f"got method={method!r}. Use method='euler' or method='heun' for noisy runs."
        )
    n_steps = step_count(t_end, dt)
    t_end, dt = float(t_end), float(dt)
    stride = _sample_stride(sampling, dt, t_end)
    idx = np.ascontiguousarray(_record_indices(record, problem.n_states), dtype=np.int64)
    # no trial evaluation of the rhs: it checks a user's Problem returns the right shape,
    # which the kernel always does
    y = _initial_state(problem, y0, check_rate=False)
    if problem.delayed:
        problem.start_history(dt)
    real = problem.real
    y = np.ascontiguousarray(y, dtype=real)
    sigma = np.zeros(problem.n_states, dtype=real)
    if isinstance(noise, Noise):
        multiplicative = noise.multiplicative
        if multiplicative != getattr(problem.module, "MULTIPLICATIVE_NOISE", False):
            raise ModelDefinitionError(
                "integrate_compiled: the kernel module was made "
                f"{'without' if multiplicative else 'with'} multiplicative noise, the run asks "
                f"for {'multiplicative' if multiplicative else 'additive'} noise; make the "
                "module with kernel_module(system, noise=noise)."
            )
        if multiplicative and noise_digest(noise.specs) != problem.module.NOISE_KEY:
            raise ModelDefinitionError(
                "integrate_compiled: the kernel module was made with other multiplicative noise "
                "expressions than the run asks for; make the module with "
                "kernel_module(system, noise=noise)."
            )
        # NaN marks the entries an expression gives (the kernel computes them each step)
        noise = np.where(noise.noisy & (noise.sigma == 0), np.nan, noise.sigma)
        sigma = np.ascontiguousarray(noise, dtype=real)
    elif noise is not None:
        if getattr(problem.module, "MULTIPLICATIVE_NOISE", False):
            raise ModelDefinitionError(
                "integrate_compiled: the kernel module computes multiplicative noise "
                "expressions, which would replace a sigma array; make the module without "
                "them (kernel_module(system)) or pass the Noise it was made with."
            )
        sigma = Diffusion(noise, problem.n_states)(0.0, y, 0)
        sigma = np.ascontiguousarray(sigma, dtype=real)
    if noise is not None:
        seed = secrets.randbits(63) if seed is None else seed
        _key(seed)  # checks the seed
    n_samples = n_steps // stride + 1
    t_samples = np.arange(n_samples) * (stride * dt)
    Y = np.empty((n_samples, idx.size), dtype=real)
    Y[0] = y[idx]
    if problem._n_inputs and problem._n_input_rows < n_steps:
        raise ModelDefinitionError(
            f"The input arrays have {problem._n_input_rows} rows for {n_steps} steps; give one "
            "row per step."
        )
    work = np.empty((problem.module.WORK_ROWS, problem.n_states), dtype=real)
    threads = threads_for(problem, n_threads)
    plan = thread_plan(problem, idx, threads)
    rest = (stride, problem.module.METHODS[method], 0 if noise is None else int(seed) % 2**64,
            noise is not None)
    piece = n_steps if not progress else max(1, -(-n_steps // PROGRESS_PIECES))
    bar = _progress_bar(n_steps, progress, method)
    failed, first = -1, 0
    try:
        while first < n_steps and failed < 0:
            steps = min(piece, n_steps - first)
            failed = problem.kernel.run(y, work, Y, sigma, plan, dt, steps, *rest, threads,
                                        first=first)
            if failed == -3:    # OpenMP gave fewer threads than asked: nothing ran; serially
                logger.info("OpenMP did not provide %d threads; running serially", threads)
                threads, plan = 1, thread_plan(problem, idx, 1)
                failed = problem.kernel.run(y, work, Y, sigma, plan, dt, steps, *rest, 1,
                                            first=first)
            first += steps
            bar.update(steps)
    finally:
        bar.close()
    if failed >= 0:
        raise _diverged(problem, method, dt, failed, n_steps, y, work[0])
    return t_samples, Y, y
