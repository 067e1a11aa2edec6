"""``scan`` and ``sweep`` (API.md §7): many parameter sets of one model, as copies in one run."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ...config import check_n_threads
from ...errors import IntegrationError, ModelDefinitionError
from ...frontend.parsing import TIME
from ...ir.build import build
from ...ir.network import network
from ...runtime.batch import ACC_ROWS
from ...runtime.integrate import step_count
from ...runtime.solvers import SOLVERS
from .batched import program_for
from .engine import Plan, recorded_paths, release, runner
from .execute import (
    Chunk,
    ChunkFailure,
    ScanError,
    assemble,
    progress_bar,
    run_chunks,
    worker_count,
)
from .options import (
    available_memory,
    drives,
    entropy,
    fixed_params,
    format_bytes,
    initial_state,
    kept_signals,
    noise_sigma,
    positive_int,
    signal_units,
)
from .options import stride as stride_of
from .results import ScanResult, SweepResult
from .spec import SPECTRAL, Axis, Signal, base_path, check_window, parse_grid, parse_signals

__all__ = ["scan", "sweep", "BLOCK_BYTES", "DIRECTIONS"]

#: Working memory of one chunk's recorded samples (bytes): windows longer than this are
#: recorded and reduced block by block.
BLOCK_BYTES = 256 * 2**20
#: Longest default Welch segment (samples); longer windows average several segments.
MAX_NPERSEG = 2**16
#: The directions of a sweep.
DIRECTIONS = {"both": ("up", "down"), "up": ("up",), "down": ("down",)}
_MULTIPLE_RTOL = 1e-9


# ------------------------------------------------------------------------------------------------
# The plan: segments, chunk size, memory
# ------------------------------------------------------------------------------------------------


def _prepare(model: Any, *, n_sets: int, swept: Sequence[str], t_end: Any, dt: Any, method: str,
             observables: Any, expressions: Any, window: Any, sampling: Any, record: Any,
             params: Any, y0: Any, inputs: Any, random_inputs: Any, noise: Any, seed: Any,
             backend: str, n_threads: int | None, nperseg: Any, max_memory: Any,
             chunk_size: Any, n_parallel: int, keep_final: bool) -> tuple[Plan, dict]:
    system = build(model)
    n_threads = check_n_threads(n_threads)      # a bad value is an error now, not per chunk
    if method not in SOLVERS:
        raise ModelDefinitionError(
            f"Unknown method {method!r} for the scan of {system.name!r}; choose one of "
            f"{', '.join(SOLVERS)}."
        )
    n_steps = step_count(t_end, dt)
    dt = float(dt)
    stride = stride_of(sampling, dt, n_steps, float(t_end))
    window = check_window(window)
    window_steps = max(1, round(window * n_steps / stride)) * stride
    window_start = n_steps - window_steps
    n_window = window_steps // stride + 1

    taken = {p: "grid" for p in swept}
    fixed = fixed_params(system, params, taken)
    shared, rand = drives(system, inputs, random_inputs, n_steps, taken)
    sigma = noise_sigma(system, noise)
    signals = parse_signals(system, observables, expressions,
                            driven=frozenset(shared) | frozenset(rand))
    kept = kept_signals(system, signals, record, frozenset(shared) | frozenset(rand))
    u0 = initial_state(system, y0)

    spectral = [s for s in signals if any(x in SPECTRAL for x in s.stats)]
    if nperseg is None:
        nperseg = min(n_window, MAX_NPERSEG)
    else:
        nperseg = positive_int(nperseg, "nperseg")
    if spectral and not 4 <= nperseg <= n_window:
        raise ModelDefinitionError(
            f"The spectrum needs 4 <= nperseg <= the {n_window} samples of the window "
            f"(window={window:g} of t_end={t_end!r}, sampling={stride * dt:g}); got "
            f"nperseg={nperseg}. Lengthen the window or t_end, or sample more often."
        )

    units = {s.name: signal_units(system, s) for s in signals}
    prog = program_for(system, signals, method=method, backend=backend, kept=kept,
                       inputs=shared, random_inputs=rand)
    if prog is not None:
        return _prepare_batch(
            system, prog, signals, units, n_sets=n_sets, n_steps=n_steps, dt=dt, t_end=t_end,
            stride=stride, window=window, window_start=window_start, n_window=n_window,
            nperseg=nperseg, spectral=spectral, method=method, backend=backend,
            n_threads=n_threads, seed=seed, fixed=fixed, u0=u0, shared=shared, sigma=sigma,
            max_memory=max_memory, chunk_size=chunk_size, n_parallel=n_parallel,
            keep_final=keep_final)

    # -- memory, per parameter set ------------------------------------------------------------
    driven = set(shared) | set(rand)
    outputs = recorded_paths(system, signals, driven)
    copies = {p: system.locate(base_path(p))[0].copies for p in outputs}
    per_sample = 8 * (sum(copies.values()) + sum(max(u, 1) for u in units.values())
                      + (system.n_states if any(p not in system.layout for p in outputs) else 0))
    per_step_random = 8 * sum(system.locate(p)[0].copies for p in rand)
    spectral_bytes = 8 * 2 * nperseg * sum(max(units[s.name], 1) for s in spectral)
    limit = available_memory() // 4 if max_memory is None else positive_int(max_memory,
                                                                              "max_memory")
    budget = min(limit, BLOCK_BYTES)
    explicit_t = any(e.has(TIME) for g in system.groups for e in g.rhs)
    # a run split into segments restarts from the last state: t would restart, and a delayed
    # model would lose its history, so such runs are one segment
    whole = bool(kept) or explicit_t or system.has_delays
    n_samples = n_steps // stride + 1
    if kept:
        total = 8 * n_sets * n_samples * sum(max(units[k], 1) for k in kept)
        if total > limit:
            raise ModelDefinitionError(
                f"record= would keep {format_bytes(total)} of trajectories ({n_sets} parameter "
                f"sets x {n_samples} samples x {len(kept)} signals), more than max_memory="
                f"{format_bytes(limit)}. Record fewer signals (record=['path', ...]), sample "
                f"less often (sampling=), scan fewer sets, or raise max_memory; observables "
                f"(record=False) need no trajectories."
            )
        budget = max(budget, min(limit, total))
    L0 = n_samples if whole else min(n_window, 1024)
    per_set = per_sample * L0 + spectral_bytes + per_step_random * L0 * stride
    fit = int(budget // per_set)
    if chunk_size is None:
        if fit < 1:
            why = ("the whole run is recorded (record=, or a model with explicit t or delays)"
                   if whole
                   else "the window is recorded in blocks")
            raise ModelDefinitionError(
                f"One parameter set of the scan of {system.name!r} needs "
                f"{format_bytes(per_set)} of working memory ({why}), more than "
                f"{format_bytes(budget)}. Sample less often (sampling=), observe fewer signals, "
                f"shorten nperseg, or raise max_memory."
            )
        B = min(n_sets, max(1, math.ceil(n_sets / n_parallel)), fit)
    else:
        B = min(positive_int(chunk_size, "chunk_size"), n_sets)
        minimum = per_sample * (n_samples if whole else 1) + spectral_bytes + per_step_random * (
            n_steps if whole else stride)
        if B * minimum > max(budget, limit):
            raise ModelDefinitionError(
                f"chunk_size={chunk_size} needs at least {format_bytes(B * minimum)} of working "
                f"memory per chunk, more than max_memory={format_bytes(limit)}; use a smaller "
                f"chunk_size or raise max_memory."
            )
        budget = max(budget, B * minimum)

    # -- segments -----------------------------------------------------------------------------
    if whole:
        segments = [(0, n_steps, True)]
    else:
        segments = []
        if window_start > 0:
            piece = window_start
            if per_step_random:
                piece = max(1, int(budget // (B * per_step_random)))
            segments += [(a, min(a + piece, window_start), False)
                         for a in range(0, window_start, piece)]
        L = (budget / B - spectral_bytes) / (per_sample + per_step_random * stride)
        block = max(1, min(n_window, int(L))) * stride
        segments += [(a, min(a + block, n_steps), True)
                     for a in range(window_start, n_steps, block)]

    plan = Plan(
        token=uuid.uuid4().hex, payload=None, copies=B, method=method,
        dt=dt, n_steps=n_steps, stride=stride, window_start=window_start,
        segments=tuple(segments), backend=backend, n_threads=n_threads, entropy=entropy(seed),
        nperseg=nperseg, params=fixed, y0=u0, inputs=shared, random_inputs=rand, noise=sigma,
        keep=kept, keep_final=keep_final,
    )
    runner(plan, (system, build(network(system, B)), signals))     # the B-copy model, built once
    info = {
        "system": system, "signals": signals, "units": units, "n_samples": n_samples,
        "attrs": {"t_end": float(t_end), "dt": dt, "method": method, "window": window,
                  "sampling": stride * dt, "seed": plan.entropy, "chunk_size": B,
                  "nperseg": nperseg if spectral else None, "backend": backend,
                  "engine": "simulate"},
    }
    return plan, info


def _prepare_batch(system, prog, signals, units, *, n_sets, n_steps, dt, t_end, stride, window,
                   window_start, n_window, nperseg, spectral, method, backend, n_threads, seed,
                   fixed, u0, shared, sigma, max_memory, chunk_size, n_parallel,
                   keep_final) -> tuple[Plan, dict]:
    """The plan of a scan whose chunks run in the batch kernel: one run of ``n_steps`` per
    chunk, statistics accumulated in the kernel; the chunk size is bounded by the memory of
    the per-set statistics, states and parameters, and the window's samples of the signals
    whose spectrum is asked for."""
    rows = prog.n_rows             # the module observes every state and every expression
    spec_rows = sum(max(units[s.name], 1) for s in spectral)
    per_set = 8 * (ACC_ROWS * rows + spec_rows * n_window + 3 * system.n_states
                   + 2 * prog.n_params + 4)
    limit = available_memory() // 4 if max_memory is None else positive_int(max_memory,
                                                                              "max_memory")
    budget = min(limit, BLOCK_BYTES)
    if chunk_size is None:
        if per_set > budget:
            raise ModelDefinitionError(
                f"One parameter set of the scan of {system.name!r} needs "
                f"{format_bytes(per_set)} of working memory (the window's {n_window} samples "
                f"of the signals whose spectrum is asked for), more than "
                f"{format_bytes(budget)}. Sample less often (sampling=), shorten the window, or "
                f"raise max_memory."
            )
        B = min(n_sets, max(1, math.ceil(n_sets / n_parallel)), int(budget // per_set))
    else:
        B = min(positive_int(chunk_size, "chunk_size"), n_sets)
        if B * per_set > max(budget, limit):
            raise ModelDefinitionError(
                f"chunk_size={chunk_size} needs at least {format_bytes(B * per_set)} of working "
                f"memory per chunk, more than max_memory={format_bytes(limit)}; use a smaller "
                f"chunk_size or raise max_memory."
            )
    plan = Plan(
        token=uuid.uuid4().hex, payload=None, copies=B, method=method, dt=dt, n_steps=n_steps,
        stride=stride, window_start=window_start, segments=((0, n_steps, True),),
        backend=backend, n_threads=n_threads, entropy=entropy(seed), nperseg=nperseg,
        params=fixed, y0=u0, inputs=shared, random_inputs={}, noise=sigma, keep=(),
        keep_final=keep_final, batch_source=prog.source,
    )
    runner(plan, (system, None, signals))
    info = {
        "system": system, "signals": signals, "units": units,
        "n_samples": n_steps // stride + 1,
        "attrs": {"t_end": float(t_end), "dt": dt, "method": method, "window": window,
                  "sampling": stride * dt, "seed": plan.entropy, "chunk_size": B,
                  "nperseg": nperseg if spectral else None, "backend": backend,
                  "engine": "batch"},
    }
    return plan, info


def _stats(signals: Sequence[Signal]) -> dict[str, tuple[str, ...]]:
    return {s.name: s.stats for s in signals}


def _report(what: str, failures: Sequence[ChunkFailure], total: int, retried: bool) -> str:
    shown = "\n  ".join(f.describe() for f in failures[:5])
    more = f"\n  ... and {len(failures) - 5} more" if len(failures) > 5 else ""
    return (f"{len(failures)} of {total} chunks of the {what} failed"
            f"{' (each was retried once)' if retried else ''}; the other results are kept in "
            f"err.result (failed sets are NaN and err.result.failed marks them; err.failures has "
            f"the details):\n  {shown}{more}")


# ------------------------------------------------------------------------------------------------
# scan
# ------------------------------------------------------------------------------------------------


def scan(
    model: Any,
    grid: Mapping[Any, Any],
    *,
    t_end: float,
    dt: float,
    method: str = "euler",
    observables: Any = None,
    expressions: Mapping[str, str] | None = None,
    executor: Any = None,
    zip: bool = False,  # noqa: A002 - the documented name (API.md §7)
    chunk_size: int | None = None,
    window: float = 0.1,
    sampling: float | None = None,
    record: bool | Sequence[str] = False,
    params: Mapping[str, Any] | None = None,
    y0: Any = None,
    inputs: Mapping[str, Any] | None = None,
    random_inputs: Mapping[str, Callable] | None = None,
    noise: Mapping[str, Any] | None = None,
    seed: int | None = None,
    backend: str = "auto",
    n_threads: int | None = None,
    nperseg: int | None = None,
    max_memory: int | None = None,
    progress: bool | None = None,
) -> ScanResult:
    """Simulate a model for every parameter set of a grid and reduce each run to observables.

    A chunk of ``B`` parameter sets runs in **one** compiled batch kernel
    (:mod:`symrates.runtime.batch`): ``B`` copies of the model with per-copy parameter arrays,
    integrated in parallel over copies with the whole time loop in each thread, and the
    statistics of the window (the last ``window`` fraction of ``t_end``) accumulated in the
    kernel, so memory grows with ``B``, not with ``B`` times the time (see docs/scans.md).
    Where the batch kernel does not apply (``backend="numpy"``, delays, adaptive methods,
    ``record=``, ``random_inputs=``, callable inputs, signals of algebraic variables fed by
    couplings) a chunk runs as one simulation of ``network(model, B)``, sampling only the
    window, in blocks that fit ``max_memory``. ``result.attrs["engine"]`` says which ran.

    Parameters
    ----------
    model : template, str, SymbolicSystem or Network
        The model (a network model is scanned as a whole: every set is a copy of the network).
    grid : mapping
        ``{path: values}``: the full product of the values is scanned (``zip=True``: the values
        are paired and must have equal lengths). A key may be a tuple of paths, with values of
        shape ``(n, len(paths))``, to move several parameters together along one axis.
    t_end, dt : float
        Duration of every run and the step (``t_end`` a whole multiple of ``dt``).
    method : str
        Integration method of :func:`symrates.simulate` (default forward Euler).
    observables : str, list of str or mapping, optional
        Statistics over the window, the samples at ``t_end - window * t_end, ..., t_end``:
        ``"mean"`` (default), ``"std"``, ``"min"``, ``"max"``, ``"final"``, ``"frequency"``
        (dominant, from the Welch spectrum, in the model's inverse time unit; 0 for a constant
        signal) and ``"power"`` (the spectral density there). A statistic or list applies to
        every state and expression; ``{path or expression name: statistic(s)}`` chooses per
        signal (any variable path: states, algebraic variables, inputs, parameters).
    expressions : mapping, optional
        User-defined signals ``{name: "text"}``: symbolic expressions of the model's variables
        and parameters (and ``t``), parsed without eval, e.g. ``{"eeg": "y1 - y2"}``. Write a
        variable by its name, or by more of its path with ``__`` for ``/`` when the name is
        ambiguous (``"pc__PRO__m_out"``).
    executor : concurrent.futures.Executor or dask.distributed.Client, optional
        Run the chunks there; results come back in grid order. A failed chunk is retried once.
    zip : bool
        Pair the grid values instead of taking their product.
    chunk_size : int, optional
        Parameter sets per simulation. Default: all (one chunk), or enough chunks to keep the
        executor's workers busy, fewer if memory requires.
    window : float
        Fraction of ``t_end`` (at its end) over which observables are taken; default 0.1.
    sampling : float, optional
        Interval of the samples in the window (a multiple of ``dt``; default ``dt``).
    record : bool or list of str
        Keep full trajectories (from ``t = 0``, every ``sampling``) of all observed signals
        (True) or of the ones listed; see :meth:`ScanResult.trajectory`. Checked against
        ``max_memory`` before anything runs.
    params : mapping, optional
        Fixed parameter values for all sets.
    y0 : mapping or array, optional
        Initial state of every set (default: the declared values).
    inputs : mapping, optional
        ``{path: array | callable(t)}`` time series driving a parameter, the same for every set
        (arrays: one row per step).
    random_inputs : mapping, optional
        ``{path: f(rng, n_steps)}``: per-set random drives; ``rng`` is the set's own
        ``numpy.random.Generator`` (from ``seed`` and the set's grid index, so a set's drive does
        not depend on chunking or executors). ``f`` is called for consecutive stretches of steps
        and must return ``n_steps`` values (``rng.normal``/``rng.uniform`` continue the stream).
    noise : mapping, optional
        ``{state path: sigma}`` (``sigma * dW``, as in :func:`symrates.simulate`; needs
        ``method="euler"`` or ``"heun"``). In the batch kernel (``attrs["engine"] ==
        "batch"``) every set draws its own stream, from ``seed`` and its grid index
        (:func:`symrates.runtime.batch.set_seeds`): ``simulate(..., seed=set_seeds(seed,
        [(i,)])[0])`` of set ``i`` alone gives the same numbers, whatever the chunking. On the
        ``simulate`` path (``backend="numpy"``, delays, adaptive methods, ``record=``) the noise
        of a chunk is drawn for all of its copies at once, so it depends on ``seed`` *and* on
        the chunking: give ``chunk_size`` to get the same numbers with and without an
        executor.
    seed : int, optional
        Root seed of ``noise`` and ``random_inputs`` (default: fresh entropy, kept in
        ``result.attrs["seed"]``).
    backend, n_threads
        Passed to :func:`symrates.simulate`. With an ``executor`` the default ``n_threads`` is 1:
        the parallelism is across workers, and two threads that must meet at barriers on a
        loaded machine are slower than one.
    nperseg : int, optional
        Welch segment length in samples (default: the whole window, at most 65536; segments
        overlap by half).
    max_memory : int, optional
        Bytes allowed for recorded samples (default: a quarter of the available memory); a
        chunk's working buffers use at most 256 MiB of it.
    progress : bool, optional
        Progress bar (tqdm) for scans that take more than a few seconds: None shows it on a
        terminal only, False never.

    Returns
    -------
    ScanResult
        ``sc[path]`` (mean) and ``sc[path, statistic]`` shaped like the grid.

    Raises
    ------
    ScanError
        When chunks failed (after one retry on an executor); ``err.result`` keeps the others.

    Examples
    --------
    >>> import numpy as np, symrates as sr
    >>> sc = sr.scan("montbrio.QIF", {"eta": [-6.0, -4.0], "J": [10.0, 15.0]}, t_end=5.0,
    ...              dt=1e-3, observables={"r": ["mean", "max"]})
    >>> sc["r"].shape, sc["r", "max"].shape
    ((2, 2), (2, 2))
    """
    system = build(model)
    axes = parse_grid(system, grid, zip_=bool(zip))
    shape = tuple(a.size for a in axes)
    n_sets = int(np.prod(shape))
    n_parallel = 1 if executor is None else 2 * worker_count(executor)
    if executor is not None and n_threads is None:
        n_threads = 1
    plan, info = _prepare(
        system, n_sets=n_sets, swept=[p for a in axes for p in a.paths], t_end=t_end, dt=dt,
        method=method, observables=observables, expressions=expressions, window=window,
        sampling=sampling, record=record, params=params, y0=y0, inputs=inputs,
        random_inputs=random_inputs, noise=noise, seed=seed, backend=backend,
        n_threads=n_threads, nperseg=nperseg, max_memory=max_memory, chunk_size=chunk_size,
        n_parallel=n_parallel, keep_final=False,
    )
    B = plan.copies
    chunks = []
    for ci, start in enumerate(range(0, n_sets, B)):
        sets = np.arange(start, min(start + B, n_sets))
        where = np.unravel_index(sets, shape)
        values = {p: a.values[where[i], j] for i, a in enumerate(axes)
                  for j, p in enumerate(a.paths)}
        chunks.append(Chunk(ci, sets, values))
    bar = progress_bar(progress, n_sets, f"scan {system.name}")
    try:
        outputs, failures = run_chunks(plan, chunks, executor, bar)
    finally:
        bar.close()
        release(plan)
    t = next((o["t"] for o in outputs.values() if "t" in o), None)
    obs, traj, failed = assemble(
        chunks, outputs, n_sets=n_sets, lead=shape, units=info["units"],
        stats={s.name: s.stats for s in info["signals"]}, n_times=info["n_samples"],
        kept=plan.keep)
    attrs = {**info["attrs"], "zip": bool(zip), "n_chunks": len(chunks)}
    result = ScanResult(system.name, axes, obs, info["units"], attrs, failed=failed, t=t,
                        trajectories=traj)
    if failures:
        raise ScanError(_report("scan of " + repr(system.name), failures, len(chunks),
                                executor is not None), result=result, failures=failures)
    return result


# ------------------------------------------------------------------------------------------------
# sweep
# ------------------------------------------------------------------------------------------------


def sweep(
    model: Any,
    parameter: str | tuple[str, ...],
    values: Any,
    *,
    direction: str = "both",
    t_end: float,
    dt: float,
    method: str = "euler",
    observables: Any = None,
    expressions: Mapping[str, str] | None = None,
    window: float = 0.1,
    sampling: float | None = None,
    params: Mapping[str, Any] | None = None,
    y0: Any = None,
    inputs: Mapping[str, Any] | None = None,
    random_inputs: Mapping[str, Callable] | None = None,
    noise: Mapping[str, Any] | None = None,
    seed: int | None = None,
    backend: str = "auto",
    n_threads: int | None = None,
    nperseg: int | None = None,
    max_memory: int | None = None,
    progress: bool | None = None,
) -> SweepResult:
    """A quasi-static sweep: each value starts from the final state of the value before it.

    The values are visited in ascending order ("up") and/or descending order ("down"); with
    ``direction="both"`` the down sweep starts from the final state of the up sweep, so the pair
    traces a hysteresis loop where the model is bistable.

    Parameters
    ----------
    model : template, str, SymbolicSystem or Network
    parameter : str or tuple of str
        The swept parameter (several move together for a tuple, with ``values`` of shape
        ``(n, len(parameter))``, ordered by the first).
    values : array_like
        The values (sorted ascending for the result).
    direction : {"both", "up", "down"}
    t_end, dt : float
        Duration of the run at every value and the step.
    **options
        As for :func:`scan`: ``method``, ``observables``, ``expressions``, ``window``,
        ``sampling``, ``params``, ``y0`` (initial state of the first value), ``inputs``,
        ``random_inputs``, ``noise``, ``seed``, ``backend``, ``n_threads``, ``nperseg``,
        ``max_memory``, ``progress``.

    Returns
    -------
    SweepResult
        ``sw[path]`` has shape ``(len(sw.directions), len(sw.values))``; ``sw.values`` ascending.

    Raises
    ------
    ScanError
        If a run fails; ``err.result`` keeps the values swept so far.

    Examples
    --------
    >>> import numpy as np, symrates as sr
    >>> sw = sr.sweep("montbrio.QIF", "eta", np.linspace(-6.5, -2.5, 5), t_end=10.0, dt=1e-2,
    ...               observables={"r": "mean"})
    >>> sw.directions, sw["r"].shape
    (('up', 'down'), (2, 5))
    >>> bool(sw["r"][1, 2] > 5 * sw["r"][0, 2])      # at eta = -4.5: high on the way down
    True
    """
    if direction not in DIRECTIONS:
        raise ModelDefinitionError(
            f"direction must be one of {', '.join(repr(d) for d in DIRECTIONS)}, got "
            f"{direction!r}."
        )
    directions = DIRECTIONS[direction]
    system = build(model)
    (axis,) = parse_grid(system, {parameter: values}, zip_=False)
    order = np.argsort(axis.values[:, 0], kind="stable")
    axis = Axis(axis.paths, axis.values[order])
    M = axis.size
    plan, info = _prepare(
        system, n_sets=M, swept=list(axis.paths), t_end=t_end, dt=dt, method=method,
        observables=observables, expressions=expressions, window=window, sampling=sampling,
        record=False, params=params, y0=y0, inputs=inputs, random_inputs=random_inputs,
        noise=noise, seed=seed, backend=backend, n_threads=n_threads, nperseg=nperseg,
        max_memory=max_memory, chunk_size=1, n_parallel=1, keep_final=True,
    )
    r = runner(plan)
    stats = {s.name: s.stats for s in info["signals"]}
    units = info["units"]
    obs = {(n, s): np.full((len(directions), M, max(units[n], 1)), np.nan)
           for n, ss in stats.items() for s in ss}
    final = np.full((len(directions), M, system.n_states), np.nan)
    Y = (system.initial_state if plan.y0 is None else plan.y0)[None, :]
    bar = progress_bar(progress, len(directions) * M, f"sweep {system.name}")
    failure = None
    try:
        for d, name in enumerate(directions):
            for k in (range(M) if name == "up" else range(M - 1, -1, -1)):
                vals = {p: axis.values[[k], j] for j, p in enumerate(axis.paths)}
                try:
                    out = r.run((d, k), [(d, k)], vals, Y, progress=bar.update)
                except IntegrationError as exc:
                    failure = ChunkFailure(d * M + k, np.array([k]), vals, exc, vals)
                    break
                Y = out["final"]
                final[d, k] = Y[0]
                for key, arr in out["obs"].items():
                    obs[key][d, k] = arr[0]
            if failure is not None:
                break
    finally:
        bar.close()
        release(plan)
    obs = {k: (v if units[k[0]] else v[..., 0]) for k, v in obs.items()}
    attrs = {**info["attrs"], "direction": direction}
    attrs.pop("chunk_size", None)
    result = SweepResult(system.name, axis, directions, obs, units, attrs, final, system.states)
    if failure is not None:
        raise ScanError(
            f"The sweep of {axis.name!r} in {system.name!r} failed at {axis.name} = "
            f"{axis.values[failure.sets[0], 0]:g} (direction {directions[d]!r}): "
            f"{type(failure.error).__name__}: {failure.error} The values swept before are kept "
            f"in err.result (the rest are NaN).", result=result, failures=[failure])
    return result
