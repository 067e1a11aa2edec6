"""The reference integration loop: fixed-step methods in numpy, adaptive ones through scipy.

:func:`integrate` is independent of how models are built: it takes any object implementing
:class:`symrates.runtime.problem.Problem` and a flat initial state. It defines the semantics a
compiled engine must reproduce:

* the time grid is ``t_k = k*dt`` (``k = 0..n_steps``, computed by multiplication, not by
  accumulation), and step ``k`` calls ``rhs(t, y, k)`` for all its stages;
* samples are taken at ``t = j*m*dt`` with ``m = sampling/dt``;
* noise uses ``dW_k[i] = sqrt(dt) * Z(seed, k, i)`` with the counter-based normal stream of
  :mod:`symrates.runtime.rng` (a pure function of seed, step and state index), so that compiled
  kernels, any thread count and any split of the work draw the same numbers.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Callable
from typing import Any

import numpy as np

from symrates.errors import IntegrationError, ModelDefinitionError
from symrates.runtime.problem import Problem
from symrates.runtime.rng import normals
from symrates.runtime.solvers import (
    SOLVERS,
    AdaptiveSolver,
    Diffusion,
    FixedStepSolver,
    get_solver,
    step_index,
)
from symrates.runtime.solvers.adaptive import SolverStalled, SteppedFunction

__all__ = ["integrate", "step_count", "step_index"]

logger = logging.getLogger(__name__)

#: Relative tolerance for "t_end (sampling) is a whole multiple of dt".
_MULTIPLE_RTOL = 1e-9
#: Variables named in an error message before "and N more".
_NAMES_SHOWN = 5
#: Stiff methods suggested in error messages.
_STIFF = "'radau', 'bdf' or 'lsoda'"


# --------------------------------------------------------------------------------------------
# Grid and argument checks
# --------------------------------------------------------------------------------------------


def _positive(value: Any, label: str, context: str = "") -> float:
    try:
        x = float(value)
    except (TypeError, ValueError) as exc:
        raise ModelDefinitionError(
            f"{label} must be a number; got {value!r}{context}."
        ) from exc
    if not (math.isfinite(x) and x > 0):
        raise ModelDefinitionError(
            f"{label} must be finite and > 0; got {label}={value!r}{context}."
        )
    return x


def step_count(t_end: float, dt: float) -> int:
    """Return the number of steps ``n_steps = t_end/dt``, checking that it is a whole number.

    Parameters
    ----------
    t_end, dt : float
        End time and step size, both finite and positive; ``t_end`` must be a whole multiple of
        ``dt`` to a relative tolerance of ``1e-9``.

    Raises
    ------
    ModelDefinitionError
        If ``t_end`` or ``dt`` is not a positive finite number, or ``t_end/dt`` is not a whole
        number (the message suggests a nearby ``dt``).

    Examples
    --------
    >>> step_count(1.0, 0.1)
    10
    >>> step_count(1.0, 0.3)
    Traceback (most recent call last):
    ...
    symrates.errors.ModelDefinitionError: t_end=1.0 is not a whole multiple of dt=0.3 ...
    """
    t_end = _positive(t_end, "t_end")
    dt = _positive(dt, "dt", f" (with t_end={t_end!r})")
    q = t_end / dt
    n = round(q)
    if n < 1 or abs(n * dt - t_end) > _MULTIPLE_RTOL * t_end:
        n_up = max(1, math.ceil(q))
        raise ModelDefinitionError(
            f"t_end={t_end!r} is not a whole multiple of dt={dt!r} (t_end/dt = {q:.9g}). "
            f"Choose dt so that t_end/dt is an integer, e.g. dt={t_end / n_up:.6g} "
            f"({n_up} steps), or t_end={max(n, 1) * dt:.6g}."
        )
    return int(n)


def _sample_stride(sampling: float | None, dt: float, t_end: float) -> int:
    """Steps per sample; ``sampling`` must be a whole multiple of ``dt``."""
    if sampling is None:
        return 1
    s = _positive(sampling, "sampling")
    q = s / dt
    m = round(q)
    if m < 1 or abs(m * dt - s) > _MULTIPLE_RTOL * s:
        lo = max(1, math.floor(q))
        raise ModelDefinitionError(
            f"sampling={sampling!r} must be a whole multiple of dt={dt!r} "
            f"(sampling/dt = {q:.9g}). Use e.g. sampling={lo * dt:.6g} or {(lo + 1) * dt:.6g}."
        )
    if m * dt > t_end * (1 + _MULTIPLE_RTOL):
        logger.info("sampling=%g exceeds t_end=%g: only t = 0 is sampled", s, t_end)
    return int(m)


def _record_indices(record: Any, n_states: int) -> np.ndarray:
    if record is None:
        return np.arange(n_states)
    idx = np.asarray(record)
    if idx.dtype == bool:
        if idx.shape != (n_states,):
            raise ModelDefinitionError(
                f"A boolean record mask must have shape ({n_states},); got {idx.shape}."
            )
        return np.flatnonzero(idx)
    if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
        raise ModelDefinitionError(
            "record must be a 1-D array of state indices (integers) or a boolean mask; "
            f"got dtype {idx.dtype} with shape {idx.shape}."
        )
    idx = idx.astype(np.intp)
    bad = idx[(idx < 0) | (idx >= n_states)]
    if bad.size:
        raise ModelDefinitionError(
            f"record holds state indices {bad[:5].tolist()} outside 0..{n_states - 1} "
            f"(the problem has {n_states} states)."
        )
    return idx


def _check_problem(problem: Any) -> None:
    missing = [name for name in ("n_states", "state_names", "rhs") if not hasattr(problem, name)]
    if missing:
        raise TypeError(
            f"integrate() needs a problem with n_states, state_names and rhs(t, y, k); "
            f"{type(problem).__name__} lacks {', '.join(missing)}. "
            "Wrap a plain function in symrates.runtime.problem.FunctionProblem."
        )
    if len(problem.state_names) != problem.n_states:
        raise ModelDefinitionError(
            f"The problem has n_states={problem.n_states} but {len(problem.state_names)} "
            "state_names; give exactly one name per state."
        )


def _initial_state(problem: Problem, y0: Any, check_rate: bool = True) -> np.ndarray:
    y = np.array(y0, dtype=float)   # a copy: the caller's array is never modified
    if y.shape != (problem.n_states,):
        raise ModelDefinitionError(
            f"The initial state must have shape ({problem.n_states},) (one value per state); "
            f"got shape {y.shape}."
        )
    if not np.all(np.isfinite(y)):
        bad = np.flatnonzero(~np.isfinite(y))
        raise ModelDefinitionError(
            f"The initial state is not finite: {_values(problem, bad, y)}. Give finite initial "
            "values."
        )
    if not check_rate:
        return y
    rate = np.asarray(problem.rhs(0.0, y, 0))
    if rate.shape != y.shape:
        raise ModelDefinitionError(
            f"problem.rhs(t, y, k) must return an array of shape ({problem.n_states},); "
            f"it returned shape {rate.shape}."
        )
    return y


# --------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------


def _names(problem: Problem, indices: np.ndarray) -> str:
    names = [problem.state_names[i] for i in indices[:_NAMES_SHOWN]]
    more = f" and {indices.size - _NAMES_SHOWN} more" if indices.size > _NAMES_SHOWN else ""
    return ", ".join(names) + more


def _values(problem: Problem, indices: np.ndarray, y: np.ndarray) -> str:
    shown = ", ".join(f"{problem.state_names[i]} = {y[i]:.6g}" for i in indices[:_NAMES_SHOWN])
    more = f" and {indices.size - _NAMES_SHOWN} more" if indices.size > _NAMES_SHOWN else ""
    return shown + more


def _diverged(
    problem: Problem, method: str, dt: float, k: int, n_steps: int, y_old: np.ndarray,
    y_new: np.ndarray,
) -> IntegrationError:
    """The error for a non-finite state after step ``k`` (``y_old`` at ``k*dt`` was finite)."""
    t_new = (k + 1) * dt
    bad = np.flatnonzero(~np.isfinite(y_new))
    return IntegrationError(
        f"The simulation diverged at t = {t_new:.6g}: {_names(problem, bad)} became non-finite "
        f"(method {method!r}, dt={dt:g}, step {k + 1} of {n_steps}). Last finite values, at "
        f"t = {k * dt:.6g}: {_values(problem, bad, y_old)}. The model may blow up, or dt may be "
        f"too large for it: try a smaller dt or a stiff method ({_STIFF}), or check the "
        "parameters.",
        t=t_new,
        state=y_new.copy(),
    )


# --------------------------------------------------------------------------------------------
# Progress bar
# --------------------------------------------------------------------------------------------


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, enabled: bool, method: str) -> Any:
    if not enabled:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        logger.info("progress=True but tqdm is not installed: no progress bar")
        return _NoBar()
    return tqdm(total=total, unit="step", desc=f"integrate ({method})", leave=False)


# --------------------------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------------------------


def integrate(
    problem: Problem,
    y0: np.ndarray,
    *,
    t_end: float,
    dt: float,
    method: str = "rk4",
    sampling: float | None = None,
    record: np.ndarray | None = None,
    noise: np.ndarray | Callable[[float, np.ndarray, int], np.ndarray] | None = None,
    rng_seed: int | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    max_step: float | None = None,
    first_step: float | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integrate ``dy/dt = problem.rhs(t, y, k)`` from ``t = 0`` to ``t_end``.

    Parameters
    ----------
    problem : Problem
        Provides ``n_states``, ``state_names`` and ``rhs(t, y, k)``; optionally ``jac(t, y, k)``
        for the implicit adaptive methods.
    y0 : array_like, shape (n_states,)
        Initial state (not modified).
    t_end : float
        End time; a whole multiple of ``dt`` (to a relative ``1e-9``).
    dt : float
        Step size of fixed-step methods. For every method it also sets the step index ``k`` that
        ``rhs`` receives: step ``k`` covers ``[k*dt, (k+1)*dt]``, and all stages of a fixed step
        see the same ``k``. Adaptive methods choose their own steps and pass
        ``k = min(floor(t/dt), n_steps - 1)`` (with a relative ``1e-12`` guard, so that
        ``t = k*dt`` maps to ``k`` despite rounding): piecewise-constant inputs then hold exactly
        as for fixed steps. An adaptive step may straddle an input change; pass
        ``max_step=dt`` if brief pulses must not be stepped over.
    method : str
        A key of :data:`symrates.runtime.solvers.SOLVERS`: fixed-step ``"euler"``, ``"heun"``,
        ``"rk4"``; adaptive ``"rk23"``, ``"rk45"``, ``"dop853"``, ``"radau"``, ``"bdf"``,
        ``"lsoda"``.
    sampling : float, optional
        Recording interval, a whole multiple of ``dt`` (default ``dt``). Samples are taken at
        ``t = 0, sampling, 2*sampling, ...`` up to ``t_end``.
    record : array of int or bool, optional
        Indices (or a mask) of the states to store (default all).
    noise : array_like or callable, optional
        ``sigma`` as a scalar or an array of shape ``(n_states,)`` (additive), or a callable
        ``sigma(t, y, k)`` (multiplicative): adds ``sigma * dW`` to every state equation
        (diagonal noise). ``"euler"`` uses Euler–Maruyama (converges to the Itô solution),
        ``"heun"`` the stochastic Heun scheme (Stratonovich). Other methods raise. Step ``k``
        uses ``dW[i] = sqrt(dt) * normals(rng_seed, k, i, n_states)`` of
        :mod:`symrates.runtime.rng`.
    rng_seed : int, optional
        Seed of the noise (an integer >= 0); ``None`` draws a fresh seed.
    rtol, atol : float
        Tolerances of the adaptive methods (ignored by fixed-step methods).
    max_step, first_step : float, optional
        Largest and first step of the adaptive methods (default: unbounded / chosen by scipy).
        Fixed-step methods reject them.
    progress : bool
        Show a tqdm progress bar (silently none if tqdm is missing).

    Returns
    -------
    t : np.ndarray, shape (n_samples,)
        Sample times ``j*m*dt``.
    Y : np.ndarray, shape (n_samples, n_recorded)
        The recorded states at the sample times.
    y_final : np.ndarray, shape (n_states,)
        The full state at ``t_end``.

    Raises
    ------
    ModelDefinitionError
        For a bad ``t_end``, ``dt``, ``sampling``, ``method``, ``record``, ``y0`` or ``noise``.
    IntegrationError
        If the state becomes non-finite (the message names the time and the variables, and the
        error carries ``t`` and ``state``), or an adaptive method fails or stalls.

    Examples
    --------
    >>> import numpy as np
    >>> from symrates.runtime.problem import FunctionProblem
    >>> decay = FunctionProblem(lambda t, y, k: -y, 1, state_names=("x",))
    >>> t, Y, y_end = integrate(decay, [1.0], t_end=1.0, dt=0.01, sampling=0.5)
    >>> t
    array([0. , 0.5, 1. ])
    >>> bool(abs(y_end[0] - np.exp(-1.0)) < 1e-9)
    True
    """
    _check_problem(problem)
    n_steps = step_count(t_end, dt)
    t_end, dt = float(t_end), float(dt)
    stride = _sample_stride(sampling, dt, t_end)
    solver_cls = get_solver(method)
    idx = _record_indices(record, problem.n_states)

    if noise is not None and not solver_cls.supports_noise:
        allowed = [name for name, cls in SOLVERS.items() if cls.supports_noise]
        raise ModelDefinitionError(
            f"noise= needs the {' or '.join(repr(a) for a in allowed)} method (Euler–Maruyama or "
            f"stochastic Heun); got method={method!r}. Use method='euler' or method='heun' for "
            "noisy runs."
        )
    if issubclass(solver_cls, FixedStepSolver) and (max_step is not None or first_step is not None):
        raise ModelDefinitionError(
            f"max_step and first_step apply to adaptive methods only; method {method!r} takes "
            "fixed steps of size dt. Drop them or choose an adaptive method."
        )

    if getattr(problem, "delayed", False):
        if not issubclass(solver_cls, FixedStepSolver):
            fixed = [name for name, cls in SOLVERS.items() if issubclass(cls, FixedStepSolver)]
            raise ModelDefinitionError(
                f"The model has delays, which the fixed-step methods integrate "
                f"({', '.join(fixed)}); got the adaptive method {method!r}. Use method='rk4'."
            )
        problem.start_history(dt)
    y = _initial_state(problem, y0)
    n_samples = n_steps // stride + 1
    t_samples = np.arange(n_samples) * (stride * dt)

    bar = _progress_bar(n_steps, progress, method)
    try:
        if issubclass(solver_cls, FixedStepSolver):
            diffusion = None
            if noise is not None:
                diffusion = Diffusion(noise, problem.n_states)
                diffusion.check(0.0, y, 0)
            Y, y_final = _run_fixed(
                problem, solver_cls(), y, dt, n_steps, stride, n_samples, idx, diffusion,
                rng_seed, bar,
            )
        else:
            solver = solver_cls(
                rtol=rtol, atol=atol, max_step=math.inf if max_step is None else max_step,
                first_step=first_step,
            )
            Y, y_final = _run_adaptive(problem, solver, y, dt, n_steps, t_samples, idx, bar)
    finally:
        bar.close()
    return t_samples, Y, y_final


# --------------------------------------------------------------------------------------------
# Fixed steps
# --------------------------------------------------------------------------------------------


def _run_fixed(
    problem: Problem,
    solver: FixedStepSolver,
    y: np.ndarray,
    dt: float,
    n_steps: int,
    stride: int,
    n_samples: int,
    idx: np.ndarray,
    diffusion: Diffusion | None,
    rng_seed: int | None,
    bar: Any,
) -> tuple[np.ndarray, np.ndarray]:
    Y = np.empty((n_samples, idx.size))
    Y[0] = y[idx]
    n = problem.n_states
    if diffusion is not None:
        seed = secrets.randbits(63) if rng_seed is None else rng_seed
        sqrt_dt = math.sqrt(dt)
        index = np.arange(n)
    bar_every = max(1, n_steps // 200)
    step = solver.step
    # Overflow and invalid operations show up as non-finite states, reported below with names.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for k in range(n_steps):
            t = k * dt
            if diffusion is None:
                y_new = step(problem, t, y, dt, k)
            else:
                dW = sqrt_dt * normals(seed, k, index, n)
                y_new = solver.stochastic_step(problem, t, y, dt, k, dW, diffusion)
            if not np.isfinite(y_new).all():
                raise _diverged(problem, solver.name, dt, k, n_steps, y, y_new)
            y = y_new
            if (k + 1) % stride == 0:
                Y[(k + 1) // stride] = y[idx]
            if (k + 1) % bar_every == 0:
                bar.update(bar_every)
    bar.update(n_steps % bar_every)
    return Y, np.array(y, dtype=float)


# --------------------------------------------------------------------------------------------
# Adaptive steps
# --------------------------------------------------------------------------------------------


def _failed(
    problem: Problem, method: str, monitor: SteppedFunction, reason: str
) -> IntegrationError:
    t = float(monitor.t)
    y = np.array(monitor.y, dtype=float) if monitor.y is not None else None
    where = ""
    if y is not None:
        bad = np.flatnonzero(~np.isfinite(y))
        if bad.size:
            where = f" Non-finite there: {_names(problem, bad)}."
        else:
            largest = np.argsort(-np.abs(y), kind="stable")[: min(3, y.size)]
            where = f" Largest magnitudes there: {_values(problem, largest, y)}."
    return IntegrationError(
        f"The adaptive method {method!r} failed near t = {t:.6g}: {reason}{where} The model may "
        f"blow up there, or be too stiff for this method: check the parameters, or try a stiff "
        f"method ({_STIFF}) or other tolerances.",
        t=t,
        state=y,
    )


def _run_adaptive(
    problem: Problem,
    solver: AdaptiveSolver,
    y0: np.ndarray,
    dt: float,
    n_steps: int,
    t_samples: np.ndarray,
    idx: np.ndarray,
    bar: Any,
) -> tuple[np.ndarray, np.ndarray]:
    t_stop = n_steps * dt
    n_samples = t_samples.size
    # The last sample may fall before t_end; evaluate at t_end too, for the final state.
    t_eval = t_samples if t_samples[-1] == t_stop else np.append(t_samples, t_stop)
    monitor = SteppedFunction(problem, dt, n_steps, on_step=bar.update)
    jac = monitor.jac if callable(getattr(problem, "jac", None)) else None
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            sol = solver.solve(monitor, (0.0, t_stop), y0, t_eval, jac=jac)
    except SolverStalled as exc:
        raise _failed(problem, solver.name, monitor, str(exc)) from exc
    if sol.status < 0 or sol.y.shape[1] != t_eval.size:
        raise _failed(problem, solver.name, monitor, str(sol.message))
    Ys = sol.y
    finite = np.isfinite(Ys).all(axis=0)
    if not finite.all():
        j = int(np.argmin(finite))
        bad = np.flatnonzero(~np.isfinite(Ys[:, j]))
        raise IntegrationError(
            f"The simulation diverged at t = {t_eval[j]:.6g}: {_names(problem, bad)} became "
            f"non-finite (method {solver.name!r}). Try a stiff method ({_STIFF}), tighter "
            "tolerances, or check the parameters.",
            t=float(t_eval[j]),
            state=Ys[:, j].copy(),
        )
    bar.update(n_steps - monitor.k_max)
    Y = np.ascontiguousarray(Ys[idx, :n_samples].T)
    return Y, Ys[:, -1].copy()
