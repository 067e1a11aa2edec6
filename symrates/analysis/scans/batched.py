"""Chunks of a scan in one compiled batch kernel (:mod:`symrates.runtime.batch`).

The fast path of ``scan`` and ``sweep``: the ``B`` parameter sets of a chunk are copies in one
batch kernel, integrated in parallel over tiles of copies with no barrier per step, and the
window's statistics accumulate in the kernel, so a chunk needs memory for its states and
statistics (plus the window's samples of the signals whose spectrum is asked for), not for
trajectories. :func:`program_for` decides whether a scan can take this path (compiled engine
available, fixed-step method, no delays, no trajectories recorded, no per-set random drives,
signals of states and constant parameters); otherwise the chunk runs as ``network(unit, B)``
through ``simulate`` (:class:`symrates.analysis.scans.engine.Runner`).

Programs are cached per process by the model's structure and the observed signals, so a repeated
scan of the same model neither renders nor loads its module again; their sources are also kept
in the cache directory under the same key, so a new process does not render them either.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..._version import __version__
from ...codegen import render_batch
from ...codegen.render_batch import BATCH_TEMPLATE
from ...compile.build import is_cached
from ...compile.cache import keep_source, kernel_dir, read_kept_source
from ...compile.openmp import probe_compiler
from ...config import Config
from ...errors import CodegenError, CompilationError
from ...ir.system import SymbolicSystem
from ...runtime.batch import BATCH_METHODS, BatchProgram, NotBatchable, set_seeds
from .accumulate import Welch, dominant
from .spec import SPECTRAL, Signal, path_symbol

__all__ = ["program_for", "BatchRunner"]

logger = logging.getLogger(__name__)

_PROGRAMS: OrderedDict[tuple, BatchProgram] = OrderedDict()
_MAX_PROGRAMS = 16


def _module_signals(system: SymbolicSystem, signals: Sequence[Signal]) -> list[tuple]:
    """What the module observes: every state (so a scan of the same model with other
    statistics or other states finds the same compiled module), then the other signals."""
    out = [(p, path_symbol(p)) for p in system.states]
    out += [(s.name, s.expr) for s in signals if s.name not in system.layout]
    return out


def fingerprint(system: SymbolicSystem) -> str:
    """What the batch module of ``system`` depends on
    (:meth:`SymbolicSystem.structure_fingerprint`): cheap, unlike lowering, so a repeated scan
    of a model built again finds its program without lowering it again."""
    return system.structure_fingerprint()


@functools.cache
def _generator_hash() -> str:
    """A hash of what generates batch sources (the template, the renderer, the version)."""
    h = hashlib.sha256(__version__.encode())
    for path in (Path(render_batch.__file__),
                 Path(render_batch.__file__).parent / "templates" / BATCH_TEMPLATE):
        h.update(path.read_bytes())
    return h.hexdigest()


def _stored(key: tuple, config: Config) -> Path | None:
    """Where the source of ``key`` is kept in the cache directory, so that a new process finds
    its module without rendering (the template alone takes ~30 ms to compile)."""
    try:
        digest = hashlib.sha256((_generator_hash() + repr(key[:3])).encode()).hexdigest()
        return kernel_dir(config) / f"_sr_batch_{digest[:24]}.pyx.txt"
    except (OSError, CompilationError):
        return None


def program(system: SymbolicSystem, signals: Sequence[Signal], driven: frozenset[str],
            source: str | None = None) -> BatchProgram:
    """The batch program of ``system``'s structure observing ``signals``, made once per
    process (its ``unit`` is the first system of that structure; pass the current one to
    :meth:`BatchProgram.run`). Its source is kept in the cache directory by the same key."""
    config = Config.default()
    parts = _module_signals(system, signals)
    key = (fingerprint(system), tuple((name, str(expr)) for name, expr in parts),
           tuple(sorted(driven)), config)
    prog = _PROGRAMS.get(key)
    if prog is None:
        stored = _stored(key, config)
        kept = read_kept_source(stored) if stored is not None else None
        prog = BatchProgram(system, parts, driven=driven, config=config,
                            source=source if source is not None else kept)
        if stored is not None and kept is None:
            keep_source(stored, prog.source)
        _PROGRAMS[key] = prog
        while len(_PROGRAMS) > _MAX_PROGRAMS:
            _PROGRAMS.popitem(last=False)
    else:
        _PROGRAMS.move_to_end(key)
    return prog


def program_for(system: SymbolicSystem, signals: Sequence[Signal], *, method: str,
                backend: str, kept: Sequence[str], inputs: Mapping[str, Any],
                random_inputs: Mapping[str, Callable]) -> BatchProgram | None:
    """The batch program for a scan, or None when the scan takes the ``simulate`` path.

    ``backend="cython"`` raises when the module cannot be built; ``"auto"`` logs and returns
    None.
    """
    why = None
    if backend == "numpy":
        return None
    if method not in BATCH_METHODS:
        why = f"the method {method!r} is adaptive"
    elif kept:
        why = "trajectories are recorded (record=)"
    elif random_inputs:
        why = "random_inputs= are drawn in Python per set"
    elif any(callable(v) for v in inputs.values()):
        why = "inputs= are given as callables"
    if why is None:
        try:
            prog = program(system, signals, frozenset(inputs))
            config = prog.config
            if backend == "auto" and not is_cached(prog.source, config):
                compiler = probe_compiler(config.cc)
                if not compiler.works:
                    why = f"the C compiler {compiler.name!r} does not work"
            if why is None:
                prog.module    # noqa: B018 - compile or load now, errors here
                return prog
        except NotBatchable as exc:
            why = str(exc)
        except (CodegenError, CompilationError) as exc:
            if backend == "cython":
                raise
            logger.warning("scan of %r: the batch kernel could not be built (%s); running the "
                           "chunks through simulate", system.name, exc)
            return None
    logger.info("scan of %r: chunks run through simulate, not the batch kernel, because %s",
                system.name, why)
    return None


class BatchRunner:
    """Runs a plan's chunks in the batch kernel; the interface of
    :class:`symrates.analysis.scans.engine.Runner`."""

    def __init__(self, plan: Any, unit: SymbolicSystem, signals: list[Signal]) -> None:
        self.plan = plan
        self.unit = unit
        self.signals = signals
        self.program = program(unit, signals, frozenset(plan.inputs), source=plan.batch_source)

    def run(self, chunk_key: tuple[int, ...], set_keys: list[tuple[int, ...]],
            values: Mapping[str, np.ndarray], y0_sets: np.ndarray | None = None,
            progress: Callable[[float], None] | None = None) -> dict[str, Any]:
        """Run one chunk: ``set_keys`` name its sets (they seed their noise), ``values`` hold
        the swept parameters per set, ``y0_sets`` optional initial states ``(n, n_states)``.

        Returns ``{"obs": {(signal, statistic): (n, units)}, "traj": {}, "final": (n,
        n_states) or None}`` as :meth:`symrates.analysis.scans.engine.Runner.run` does.

        Raises
        ------
        IntegrationError
            If some set's state became non-finite (``.chunk_sets`` lists their positions).
        """
        plan, prog = self.plan, self.program
        n = len(set_keys)
        seeds = set_seeds(plan.entropy, set_keys) if plan.noise else None
        spectral = [r for s in self.signals if any(x in SPECTRAL for x in s.stats)
                    for r in range(prog.rows(s.name).start, prog.rows(s.name).stop)]
        if y0_sets is not None:
            y0 = np.asarray(y0_sets, dtype=float)
        else:
            y0 = plan.y0
        res = prog.run(
            params={p: np.asarray(v, dtype=float) for p, v in values.items()}, y0=y0,
            dt=plan.dt, n_steps=plan.n_steps, window_start=plan.window_start,
            stride=plan.stride, method=plan.method, copies=n, fixed=plan.params,
            inputs=plan.inputs, sigma=plan.noise, seeds=seeds, spectral=spectral,
            active=[r for s in self.signals
                    for r in range(prog.rows(s.name).start, prog.rows(s.name).stop)],
            n_threads=plan.n_threads, unit=self.unit,
        )
        err = prog.diverged(res["failed"], plan.dt)
        if err is not None:
            raise err
        count = res["count"]
        out: dict[str, Any] = {"obs": {}, "traj": {}, "final": None}
        spec_row = 0
        fs = 1.0 / (plan.stride * plan.dt)
        for s in self.signals:
            rows = prog.rows(s.name)
            units = rows.stop - rows.start
            mean = res["mean"][rows]
            std = np.sqrt(res["m2"][rows] / count)
            stats = {"mean": mean, "std": std, "min": res["min"][rows],
                     "max": res["max"][rows], "final": res["last"][rows]}
            if any(x in SPECTRAL for x in s.stats):
                x = res["buffer"][spec_row:spec_row + units].transpose(1, 0, 2)
                spec_row += units
                welch = Welch(plan.nperseg, fs)
                welch.add(x)
                freq, power = dominant(welch.frequencies, welch.psd())
                flat = std <= 1e-12 * np.maximum(1.0, np.abs(mean))
                stats["frequency"] = np.where(flat, 0.0, freq)
                stats["power"] = np.where(flat, 0.0, power)
            for name in s.stats:
                out["obs"][(s.name, name)] = np.asarray(stats[name], dtype=float).T[:n]
        if plan.keep_final:
            out["final"] = res["final"]
        if progress is not None:
            progress(n)
        return out
