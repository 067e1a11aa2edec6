"""Running chunks here or on an executor: retries, failures, progress."""

from __future__ import annotations

import logging
import os
import pickle
import queue
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import IntegrationError, ModelDefinitionError, SymratesError
from .engine import Plan, run_chunk, runner, ship

__all__ = ["Chunk", "ChunkFailure", "ScanError", "progress_bar", "run_chunks", "worker_count"]

logger = logging.getLogger(__name__)

#: A progress bar appears once a scan has run this long (seconds).
PROGRESS_DELAY = 2.0


@dataclass
class Chunk:
    """Parameter sets run together: ``sets`` are their flat grid indices."""

    index: int
    sets: np.ndarray
    values: dict[str, np.ndarray]
    y0_sets: np.ndarray | None = None

    @property
    def key(self) -> tuple[int, ...]:
        return (self.index,)

    @property
    def set_keys(self) -> list[tuple[int, ...]]:
        return [(int(i),) for i in self.sets]


@dataclass
class ChunkFailure:
    """A chunk that failed (after its retry, on an executor).

    Attributes
    ----------
    chunk : int
        The chunk's index.
    sets : np.ndarray
        Flat grid indices of its parameter sets.
    params : dict
        ``{path: values}`` of those sets.
    error : BaseException
        The last error.
    diverged : dict or None
        ``{path: values}`` of the sets whose states became non-finite, when known.
    """

    chunk: int
    sets: np.ndarray
    params: dict[str, np.ndarray]
    error: BaseException
    diverged: dict[str, np.ndarray] | None = None

    def describe(self) -> str:
        def fmt(values: dict[str, np.ndarray]) -> str:
            parts = []
            for p, v in values.items():
                shown = ", ".join(f"{x:g}" for x in v[:6]) + (" ..." if len(v) > 6 else "")
                parts.append(f"{p} = [{shown}]")
            return "; ".join(parts)

        text = (f"chunk {self.chunk} ({len(self.sets)} sets: {fmt(self.params)}): "
                f"{type(self.error).__name__}: {self.error}")
        if self.diverged:
            text += f" Diverged: {fmt(self.diverged)}."
        return text


class ScanError(SymratesError, RuntimeError):
    """Some chunks of a scan failed; the others' results are kept.

    Attributes
    ----------
    result : ScanResult or SweepResult
        The result with the failed sets set to NaN (``result.failed`` marks them).
    failures : list of ChunkFailure
        What failed, with the parameter values.
    """

    def __init__(self, message: str, *, result: Any = None,
                 failures: Sequence[ChunkFailure] = ()) -> None:
        super().__init__(message)
        self.result = result
        self.failures = list(failures)


def fatal(exc: BaseException) -> bool:
    """Errors of the set-up (bad options, compilation): no retry, raised at once."""
    return isinstance(exc, SymratesError) and not isinstance(exc, IntegrationError)


def failure(chunk: Chunk, exc: BaseException) -> ChunkFailure:
    diverged = None
    positions = getattr(exc, "chunk_sets", None)
    if positions:
        diverged = {p: v[positions] for p, v in chunk.values.items()}
    return ChunkFailure(chunk.index, chunk.sets, chunk.values, exc, diverged)


# ------------------------------------------------------------------------------------------------
# Progress
# ------------------------------------------------------------------------------------------------


class _NoBar:
    def update(self, n: float = 1) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(progress: Any, total: float, desc: str) -> Any:
    """A tqdm bar over ``total`` parameter sets: shown after :data:`PROGRESS_DELAY` seconds when
    ``progress`` is True, or None and stderr is a terminal; never when False."""
    if progress is not None and not isinstance(progress, bool):
        raise ModelDefinitionError(f"progress must be True, False or None (automatic), got "
                                   f"{progress!r}.")
    show = progress if progress is not None else bool(getattr(sys.stderr, "isatty", None)
                                                      and sys.stderr.isatty())
    if not show:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        logger.info("progress bar requested but tqdm is not installed")
        return _NoBar()
    return tqdm(total=total, desc=desc, unit="set", delay=PROGRESS_DELAY, leave=False,
                bar_format="{l_bar}{bar}| {n:.0f}/{total_fmt} [{elapsed}<{remaining}]")


# ------------------------------------------------------------------------------------------------
# Executors
# ------------------------------------------------------------------------------------------------


def is_dask(executor: Any) -> bool:
    return type(executor).__module__.split(".")[0] == "distributed"


def worker_count(executor: Any) -> int:
    """How many chunks ``executor`` runs at once (a guess when it does not say)."""
    if is_dask(executor):
        try:
            workers = executor.scheduler_info()["workers"].values()
            return max(1, sum(int(w.get("nthreads", 1)) for w in workers))
        except Exception:  # noqa: BLE001 - only a guess
            pass
    n = getattr(executor, "_max_workers", None)
    return int(n) if isinstance(n, int) and n > 0 else (os.cpu_count() or 1)


def check_executor(executor: Any, plan: Plan) -> None:
    if isinstance(executor, ThreadPoolExecutor):
        return
    try:
        pickle.dumps(plan)
    except Exception as exc:  # noqa: BLE001 - any pickling failure means the same
        if is_dask(executor):
            try:
                import cloudpickle

                cloudpickle.dumps(plan)
                return
            except Exception:  # noqa: BLE001
                pass
        raise ModelDefinitionError(
            f"The scan cannot be sent to the executor's workers: {exc}. Functions given in "
            f"inputs= or random_inputs= must be picklable (defined at module level, not lambdas "
            f"or local functions) for a process pool."
        ) from exc


def run_chunks(plan: Plan, chunks: Sequence[Chunk], executor: Any, bar: Any
               ) -> tuple[dict[int, dict], list[ChunkFailure]]:
    """Run every chunk; return ``{chunk index: output}`` and the failures."""
    if executor is None:
        return _run_here(plan, chunks, bar)
    return _run_on(plan, chunks, executor, bar)


def _run_here(plan: Plan, chunks: Sequence[Chunk], bar: Any):
    results, failures = {}, []
    r = runner(plan)
    for c in chunks:
        before = getattr(bar, "n", 0)
        try:
            results[c.index] = r.run(c.key, c.set_keys, c.values, c.y0_sets, progress=bar.update)
        except Exception as exc:
            if fatal(exc):
                raise
            failures.append(failure(c, exc))
            if hasattr(bar, "n"):
                bar.update(before + len(c.sets) - bar.n)
    return results, failures


def _run_on(plan: Plan, chunks: Sequence[Chunk], executor: Any, bar: Any):
    if not callable(getattr(executor, "submit", None)):
        raise ModelDefinitionError(
            f"executor must be a concurrent.futures.Executor (or a dask.distributed.Client), "
            f"something with submit(fn, *args); got {type(executor).__name__}."
        )
    ship(plan)
    check_executor(executor, plan)
    dask = is_dask(executor)
    plan_arg: Any = plan
    if dask:   # ship the plan to every worker once, not with every chunk
        plan_arg = executor.scatter(plan, broadcast=True, hash=False)
    done: queue.Queue = queue.Queue()
    futures: dict[int, Any] = {}

    def submit(c: Chunk, attempt: int) -> None:
        args = (plan_arg, c.key, c.set_keys, c.values, c.y0_sets)
        fut = (executor.submit(run_chunk, *args, pure=False) if dask
               else executor.submit(run_chunk, *args))
        futures[c.index] = fut
        fut.add_done_callback(lambda f, c=c, a=attempt: done.put((c, a, f)))

    results, failures = {}, []
    try:
        for c in chunks:
            submit(c, 0)
        pending = len(chunks)
        while pending:
            c, attempt, fut = done.get()
            try:
                results[c.index] = fut.result()
            except Exception as exc:
                if fatal(exc):
                    raise
                if attempt == 0:
                    logger.warning("chunk %d of the scan failed (%s: %s); retrying it once",
                                   c.index, type(exc).__name__, exc)
                    submit(c, 1)
                    continue
                failures.append(failure(c, exc))
            pending -= 1
            bar.update(len(c.sets))
    finally:
        for fut in futures.values():
            if not fut.done():
                fut.cancel()
    return results, failures


def assemble(chunks: Sequence[Chunk], outputs: dict[int, dict], *, n_sets: int,
             lead: tuple[int, ...], units: dict[str, int], stats: dict[str, tuple[str, ...]],
             n_times: int, kept: Sequence[str]) -> tuple[dict, dict, np.ndarray]:
    """Observables and trajectories in grid order, NaN for the sets of failed chunks.

    ``units[name]`` is 0 for signals with one value per set (no unit axis).
    """
    def empty(name: str, *time: int) -> np.ndarray:
        return np.full((n_sets, *time, max(units[name], 1)), np.nan)

    obs = {(name, s): empty(name) for name, ss in stats.items() for s in ss}
    traj = {name: empty(name, n_times) for name in kept}
    failed = np.ones(n_sets, bool)
    for c in chunks:
        out = outputs.get(c.index)
        if out is None:
            continue
        failed[c.sets] = False
        for key, arr in out["obs"].items():
            obs[key][c.sets] = arr
        for name, arr in out["traj"].items():
            traj[name][c.sets] = arr

    def shaped(name: str, arr: np.ndarray) -> np.ndarray:
        return arr.reshape(lead + arr.shape[1:-1] + ((units[name],) if units[name] else ()))

    return ({k: shaped(k[0], v) for k, v in obs.items()},
            {k: shaped(k, v) for k, v in traj.items()}, failed.reshape(lead))
