"""Running one chunk of parameter sets: ``B`` uncoupled copies of the model, one simulation.

This is the part that runs in executor workers. A :class:`Plan` holds everything a chunk needs
(small, picklable: the model travels as bytes of its :class:`SymbolicSystem`); a worker builds the
``B``-copy network once per plan (cached by the plan's token) and reuses it for every chunk it
receives. Parameter values are run-time arrays of ``simulate``: nothing is rebuilt per value.

Copy layout: in ``network(unit, B)`` the copy ``b`` of the unit's unit ``u`` (a network model has
several units per path) is unit ``u * B + b`` of the batch; a path's samples come back as
``(n_samples, n_u * B)`` and are viewed as ``(n_samples, n_u, B)``.
"""

from __future__ import annotations

import copyreg
import io
import pickle
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import sympy

from ...errors import IntegrationError, ModelDefinitionError
from ...frontend.parsing import TIME
from ...ir.system import SymbolicSystem
from ...runtime.simulate import simulate
from .accumulate import SignalStats
from .spec import CONST, Signal, base_path

__all__ = ["Plan", "dumps", "recorded_paths", "release", "run_chunk", "runner", "ship"]


# ------------------------------------------------------------------------------------------------
# Shipping models to workers
# ------------------------------------------------------------------------------------------------


def _proxy(d: dict) -> MappingProxyType:
    return MappingProxyType(d)


def _reduce_proxy(m: MappingProxyType):
    return _proxy, (dict(m),)


def _system(name: str, groups: tuple, couplings: tuple, description: str,
            cache: dict) -> SymbolicSystem:
    system = SymbolicSystem(name, groups, couplings, description)
    system._cache.update(cache)
    return system


def _reduce_system(s: SymbolicSystem):
    # Rebuilt from its parts, with the cached data that pickles (the lowered spec, generated
    # source): every process then evaluates the same expressions in the same order (and finds
    # the same compiled module); functions and loaded modules stay behind.
    cache = {}
    for key, value in s._cache.items():
        if callable(value) or isinstance(value, tuple):
            continue
        try:
            dumps(value)
        except Exception:  # noqa: BLE001 - whatever does not pickle stays behind
            continue
        cache[key] = value
    return _system, (s.name, s.groups, s.couplings, s.description, cache)


class _Pickler(pickle.Pickler):
    dispatch_table = {**copyreg.dispatch_table, MappingProxyType: _reduce_proxy,
                      SymbolicSystem: _reduce_system}


def dumps(obj: Any) -> bytes:
    """Pickle ``obj``, including symbolic systems (read-only mappings, no per-process caches)."""
    buf = io.BytesIO()
    _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------
# The plan
# ------------------------------------------------------------------------------------------------


@dataclass
class Plan:
    """Everything a chunk needs; built by the caller of ``scan``/``sweep``, read by workers.

    ``segments`` are ``(first step, last step, recorded)``: the run is split so that only the
    window (or, with ``record``, everything) is sampled, in blocks that fit the memory budget.
    """

    token: str
    payload: bytes | None           # dumps((unit, batch, signals)), made for executors
    copies: int
    method: str
    dt: float
    n_steps: int
    stride: int
    window_start: int
    segments: tuple[tuple[int, int, bool], ...]
    backend: str
    n_threads: int | None
    entropy: int
    nperseg: int
    params: Mapping[str, Any] = field(default_factory=dict)
    y0: np.ndarray | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)
    random_inputs: Mapping[str, Callable] = field(default_factory=dict)
    noise: Mapping[str, Any] | None = None
    keep: tuple[str, ...] = ()
    keep_final: bool = False
    #: the source of the batch kernel when chunks run in it (see .batched), else None
    batch_source: str | None = None


class _Shifted:
    """``f(t + t0)`` for a segment starting at ``t0``, repeated over the copies."""

    def __init__(self, f: Callable, t0: float, repeat: int) -> None:
        self.f, self.t0, self.repeat = f, t0, repeat

    def __call__(self, t: float) -> Any:
        value = self.f(t + self.t0)
        arr = np.asarray(value, dtype=float)
        return np.repeat(arr, self.repeat) if arr.ndim == 1 and self.repeat > 1 else value


def _seed(entropy: int, key: tuple[int, ...]) -> np.random.SeedSequence:
    return np.random.SeedSequence(entropy, spawn_key=tuple(int(k) for k in key))


def recorded_paths(unit: SymbolicSystem, signals: list[Signal], driven: set[str]) -> list[str]:
    """The paths the simulator records for ``signals``: states, and variables that are not
    constant parameters (inputs fed by couplings, driven parameters)."""
    out: dict[str, None] = {}
    for s in signals:
        for sym in s.symbols:
            p = str(sym)
            if not _constant(unit, p, driven):
                out[p] = None
    return list(out) or [unit.states[0]]


def _constant(unit: SymbolicSystem, name: str, driven: set[str]) -> bool:
    """Whether a signal symbol is a parameter value that is constant during the run."""
    if name.endswith(CONST):
        return True
    return name in unit.parameters and name not in unit.inputs and name not in driven


# ------------------------------------------------------------------------------------------------
# The runner of one plan (cached per process)
# ------------------------------------------------------------------------------------------------


class Runner:
    """The ``B``-copy network of one plan, its index maps and compiled signal functions."""

    def __init__(self, plan: Plan, unit: SymbolicSystem, batch: SymbolicSystem,
                 signals: list[Signal]) -> None:
        self.plan = plan
        self.unit = unit
        self.signals = signals
        B = self.B = plan.copies
        self.batch = batch
        # state vector maps: batch[bidx[i, b]] is unit state entry i of copy b
        bidx = np.empty((unit.n_states, B), dtype=np.int64)
        for path, (_g, _v, off, length) in unit.layout.items():
            off_b = self.batch.layout[path][2]
            bidx[off:off + length] = off_b + np.arange(length)[:, None] * B + np.arange(B)
        self.bidx = bidx
        self.copy_of = np.empty(self.batch.n_states, dtype=np.int64)
        self.copy_of[bidx] = np.arange(B)[None, :]

        driven = set(plan.inputs) | set(plan.random_inputs)
        self.outputs = recorded_paths(unit, signals, driven)
        self.constants = {str(p) for s in signals for p in s.symbols
                          if _constant(unit, str(p), driven)}
        self.functions = {}
        for s in signals:
            if isinstance(s.expr, sympy.Symbol) and str(s.expr) in self.outputs:
                continue
            args = [TIME, *s.symbols]
            self.functions[s.name] = sympy.lambdify(args, s.expr, modules="numpy")

    # -- sizes ---------------------------------------------------------------------------------
    def units(self, path: str) -> int:
        """Units per copy of a path (1 unless the model is a network)."""
        return self.unit.locate(base_path(path))[0].copies

    def signal_units(self, s: Signal) -> int:
        return max([self.units(str(p)) for p in s.symbols], default=1)

    # -- parameters ----------------------------------------------------------------------------
    def _batch_param(self, path: str, per_set: np.ndarray | None, unit_value: Any) -> np.ndarray:
        n_u = self.units(path)
        if per_set is not None:                     # one value per copy: unit u*B + b gets v[b]
            return np.tile(per_set, n_u)
        return np.repeat(np.broadcast_to(np.asarray(unit_value, dtype=float), (n_u,)), self.B)

    def _constant(self, name: str, swept: Mapping[str, np.ndarray]) -> np.ndarray:
        """A parameter's value as ``(n_u, B)``."""
        path = base_path(name)
        n_u = self.units(path)
        if path in swept:
            return np.broadcast_to(swept[path][None, :], (n_u, self.B))
        value = self.plan.params.get(path, self.unit.parameters[path])
        return np.broadcast_to(np.asarray(value, dtype=float).reshape(-1, 1), (n_u, self.B))

    # -- states --------------------------------------------------------------------------------
    def to_batch(self, Y: np.ndarray) -> np.ndarray:
        """``(B, n_unit_states)`` -> batch state vector."""
        y = np.empty(self.batch.n_states)
        y[self.bidx] = Y.T
        return y

    def from_batch(self, y: np.ndarray) -> np.ndarray:
        return y[self.bidx].T.copy()

    def _vector(self, final: Mapping[str, Any]) -> np.ndarray:
        y = np.empty(self.batch.n_states)
        for path, (_g, _v, off, length) in self.batch.layout.items():
            y[off:off + length] = final[path]
        return y

    # -- inputs --------------------------------------------------------------------------------
    def _inputs(self, s0: int, s1: int, rngs: list, n: int) -> dict[str, Any]:
        plan, B = self.plan, self.B
        out: dict[str, Any] = {}
        for path, value in plan.inputs.items():
            if callable(value):
                out[path] = _Shifted(value, s0 * plan.dt, B)
            else:
                block = value[s0:s1]
                out[path] = block if block.ndim == 1 else np.repeat(block, B, axis=1)
        for path, f in plan.random_inputs.items():
            n_u, steps = self.units(path), s1 - s0
            arr = np.empty((steps, n_u * B))
            for b in range(n):
                col = np.asarray(f(rngs[b], steps), dtype=float)
                if col.shape not in ((steps,), (steps, n_u)) or not np.all(np.isfinite(col)):
                    raise ModelDefinitionError(
                        f"random_inputs[{path!r}] must return {steps} finite values "
                        f"(shape ({steps},){f' or ({steps}, {n_u})' if n_u > 1 else ''}) when "
                        f"called as f(rng, {steps}); got shape {col.shape}."
                    )
                arr[:, b::B] = col.reshape(steps, -1)
            for b in range(n, B):
                arr[:, b::B] = arr[:, n - 1::B]
            out[path] = arr
        return out

    # -- one chunk -----------------------------------------------------------------------------
    def run(self, chunk_key: tuple[int, ...], set_keys: list[tuple[int, ...]],
            values: Mapping[str, np.ndarray], y0_sets: np.ndarray | None = None,
            progress: Callable[[float], None] | None = None) -> dict[str, Any]:
        plan, B, n = self.plan, self.B, len(set_keys)
        fill = np.r_[np.arange(n), np.full(B - n, n - 1)]          # pad with the last set
        swept = {p: np.asarray(v, dtype=float)[fill] for p, v in values.items()}
        sim_params = {p: self._batch_param(p, swept.get(p), plan.params.get(p))
                      for p in {**plan.params, **swept}}
        if y0_sets is not None:
            y = self.to_batch(np.asarray(y0_sets, dtype=float)[fill])
        else:
            u0 = self.unit.initial_state if plan.y0 is None else plan.y0
            y = self.to_batch(np.broadcast_to(u0, (B, self.unit.n_states)))
        noise = None
        if plan.noise:
            noise = {p: (v if np.ndim(v) == 0 else np.repeat(np.asarray(v, dtype=float), B))
                     for p, v in plan.noise.items()}
        rngs = [np.random.Generator(np.random.Philox(_seed(plan.entropy, (1, *k))))
                for k in set_keys] if plan.random_inputs else []
        consts = {p: self._constant(p, swept) for p in self.constants}
        stats = {s.name: SignalStats(s.stats, plan.nperseg, 1.0 / (plan.stride * plan.dt))
                 for s in self.signals if s.stats}
        kept: dict[str, list[np.ndarray]] = {name: [] for name in plan.keep}
        kept_t: list[np.ndarray] = []
        recorded_before = False
        for si, (s0, s1, rec) in enumerate(plan.segments):
            steps = s1 - s0
            seed = None
            if noise:
                state = _seed(plan.entropy, (0, *chunk_key, si)).generate_state(1, np.uint64)
                seed = int(state[0]) >> 1       # 63 bits, as the noise stream takes
            try:
                res = simulate(
                    self.batch, steps * plan.dt, dt=plan.dt, method=plan.method,
                    backend=plan.backend, params=sim_params, y0=y,
                    inputs=self._inputs(s0, s1, rngs, n), noise=noise, seed=seed,
                    outputs=self.outputs if rec else self.outputs[:1],
                    sampling=(plan.stride if rec else steps) * plan.dt, n_threads=plan.n_threads,
                )
            except IntegrationError as exc:
                raise self._diverged(exc, n, s0) from exc
            y = self._vector(res.final_state)
            if rec:
                first = 1 if recorded_before else 0
                recorded_before = True
                k = s0 + plan.stride * np.arange(first, len(res.t))
                data = {p: res[p].reshape(len(res.t), -1, B)[first:] for p in self.outputs}
                in_window = k >= plan.window_start
                t = (k * plan.dt).reshape(-1, 1, 1)
                for s in self.signals:
                    if not s.stats and s.name not in kept:
                        continue
                    x = self._evaluate(s, data, consts, t)
                    if s.name in stats and in_window.any():
                        stats[s.name].add(x[in_window])
                    if s.name in kept:
                        kept[s.name].append(x)
                if kept:
                    kept_t.append(k * plan.dt)
            if progress is not None:
                progress(n * steps / plan.n_steps)
        out: dict[str, Any] = {"obs": {}, "traj": {}, "final": None}
        for name, acc in stats.items():
            for stat, arr in acc.result().items():
                out["obs"][(name, stat)] = arr.T[:n]             # (n, n_u)
        for name, blocks in kept.items():
            out["traj"][name] = np.concatenate(blocks).transpose(2, 0, 1)[:n]   # (n, time, n_u)
        if kept_t:
            out["t"] = np.concatenate(kept_t)
        if plan.keep_final:
            out["final"] = self.from_batch(y)[:n]
        return out

    def _evaluate(self, s: Signal, data: Mapping[str, np.ndarray], consts: Mapping,
                  t: np.ndarray) -> np.ndarray:
        shape = (t.shape[0], self.signal_units(s), self.B)
        fn = self.functions.get(s.name)
        if fn is None:
            return data[str(s.expr)]
        args = [t] + [data[str(p)] if str(p) in data else consts[str(p)] for p in s.symbols]
        with np.errstate(all="ignore"):
            value = np.asarray(fn(*args), dtype=float)
        return np.broadcast_to(value, shape)

    def _diverged(self, exc: IntegrationError, n: int, s0: int) -> IntegrationError:
        sets: list[int] = []
        state = getattr(exc, "state", None)
        if state is not None and np.shape(state) == (self.batch.n_states,):
            bad = np.flatnonzero(~np.isfinite(np.asarray(state, dtype=float)))
            sets = sorted({int(b) for b in self.copy_of[bad] if b < n})
        t = None if exc.t is None else exc.t + s0 * self.plan.dt
        where = (f" Parameter sets of this chunk that diverged (positions): {sets[:20]}"
                 f"{' ...' if len(sets) > 20 else ''}." if sets else "")
        err = IntegrationError(f"{exc}{where}", t=t, state=state)
        err.chunk_sets = sets
        return err


_RUNNERS: OrderedDict[str, Runner] = OrderedDict()
_MAX_RUNNERS = 4


def runner(plan: Plan, parts: tuple | None = None) -> Any:
    """The runner of ``plan``, made once per process: from ``parts`` ``(unit, batch, signals)``
    where the plan is made, else from the plan's payload (in executor workers). A plan with a
    batch source gets a :class:`~symrates.analysis.scans.batched.BatchRunner` (``batch`` is
    then None), else a :class:`Runner` of the ``B``-copy network."""
    r = _RUNNERS.get(plan.token)
    if r is None:
        if parts is None:
            if plan.payload is None:
                raise RuntimeError("a scan plan without payload reached another process")
            parts = pickle.loads(plan.payload)
        if plan.batch_source is not None:
            from .batched import BatchRunner

            r = BatchRunner(plan, parts[0], parts[2])
        else:
            r = Runner(plan, *parts)
        _RUNNERS[plan.token] = r
        while len(_RUNNERS) > _MAX_RUNNERS:
            _RUNNERS.popitem(last=False)
    else:
        _RUNNERS.move_to_end(plan.token)
    return r


def release(plan: Plan) -> None:
    """Forget the runner of a finished plan in this process."""
    _RUNNERS.pop(plan.token, None)


def ship(plan: Plan) -> None:
    """Give ``plan`` its payload: the model with its lowered form, for other processes."""
    if plan.payload is not None:
        return
    r = runner(plan)
    if plan.batch_source is not None:     # lowered and rendered here; workers load the module
        plan.payload = dumps((r.unit, None, r.signals))
        return
    # lower (and, for a compiled backend, build) here once, so that every worker evaluates the
    # same expressions and loads the same cached module
    simulate(r.batch, plan.dt, dt=plan.dt, method="euler", backend=plan.backend,
             params=None, outputs=[r.unit.states[0]], n_threads=plan.n_threads)
    plan.payload = dumps((r.unit, r.batch, r.signals))


def run_chunk(plan: Plan, chunk_key: tuple[int, ...], set_keys: list[tuple[int, ...]],
              values: Mapping[str, np.ndarray], y0_sets: np.ndarray | None = None
              ) -> dict[str, Any]:
    """Run one chunk (the function executors call)."""
    return runner(plan).run(chunk_key, set_keys, values, y0_sets)
