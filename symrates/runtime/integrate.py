"""The reference integration loop: fixed-step methods in numpy, adaptive ones through scipy."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import IntegrationError, ModelDefinitionError
from .solvers import AdaptiveSolver, FixedStepSolver, get_solver

__all__ = ["integrate", "step_count"]


def step_count(t_end: float, dt: float) -> int:
    """Number of steps of size ``dt`` to ``t_end``; errors unless ``t_end`` is a multiple of it."""
    try:
        t_end, dt = float(t_end), float(dt)
    except (TypeError, ValueError):
        raise ModelDefinitionError(
            f"t_end and dt must be numbers, got t_end={t_end!r}, dt={dt!r}."
        ) from None
    if not (math.isfinite(t_end) and math.isfinite(dt)) or t_end <= 0 or dt <= 0:
        raise ModelDefinitionError(
            f"t_end and dt must be finite and > 0, got t_end={t_end!r}, dt={dt!r}."
        )
    n = int(round(t_end / dt))
    if n < 1 or abs(n * dt - t_end) > 1e-9 * t_end:
        raise ModelDefinitionError(
            f"t_end={t_end!r} is not a whole multiple of dt={dt!r} ({t_end / dt:.6g} steps). "
            f"Choose t_end = n * dt."
        )
    return n


def _stride(sampling: float | None, dt: float) -> int:
    if sampling is None:
        return 1
    s = int(round(float(sampling) / dt))
    if s < 1 or abs(s * dt - sampling) > 1e-9 * sampling:
        raise ModelDefinitionError(
            f"sampling={sampling!r} must be a whole multiple of dt={dt!r} "
            f"({sampling / dt:.6g} steps)."
        )
    return s


def _blow_up(problem, t: float, y: np.ndarray, method: str) -> IntegrationError:
    bad = np.flatnonzero(~np.isfinite(y))
    names = [problem.state_names[i] for i in bad[:5]]
    more = f" and {bad.size - 5} more" if bad.size > 5 else ""
    return IntegrationError(
        f"The simulation diverged at t = {t:.6g}: {', '.join(names)}{more} became non-finite "
        f"(method {method!r}). Try a smaller dt, a stiff method ('radau', 'bdf'), or check "
        f"the parameters.",
        t=t, state=y.copy(),
    )


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None
    return tqdm(total=total, unit="step", leave=False)


def integrate(
    problem: Any,
    y0: np.ndarray,
    *,
    t_end: float,
    dt: float,
    method: str = "rk4",
    sampling: float | None = None,
    record: np.ndarray | None = None,
    noise: np.ndarray | Callable | None = None,
    rng_seed: int | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integrate ``problem`` from ``t = 0`` to ``t_end``.

    Parameters
    ----------
    problem
        Has ``n_states``, ``state_names`` and ``rhs(t, y, k)`` (``k``: the step index, so that
        input row ``k`` holds during step ``k``).
    y0 : np.ndarray
        Initial state.
    t_end, dt : float
        End time (a whole multiple of ``dt``) and step size. Adaptive methods choose their own
        steps and see input row ``min(int(t / dt), n_steps - 1)``.
    method : str
        A key of :data:`symrates.runtime.solvers.SOLVERS`.
    sampling : float, optional
        Recording interval (a whole multiple of ``dt``; default ``dt``).
    record : array of int, optional
        Indices of the states to store (default all).
    noise : array or callable, optional
        ``sigma`` (per state) or ``sigma(t, y, k)``: adds ``sigma dW`` (``"euler"``: Euler–Maruyama;
        ``"heun"``: stochastic Heun).
    rng_seed : int, optional
        Seed of the noise (Philox).

    Returns
    -------
    t : np.ndarray
        Sample times ``0, sampling, 2 sampling, ...``.
    Y : np.ndarray
        ``(n_samples, n_recorded)`` samples.
    y_final : np.ndarray
        The state at ``t_end``.
    """
    solver = get_solver(method)
    n_steps = step_count(t_end, dt)
    stride = _stride(sampling, dt)
    n_samples = n_steps // stride + 1
    t_samples = np.arange(n_samples) * (stride * dt)
    idx = np.arange(problem.n_states) if record is None else np.asarray(record, dtype=np.int64)
    Y = np.empty((n_samples, idx.size))
    y = np.array(y0, dtype=float)
    if not np.all(np.isfinite(y)):
        raise _blow_up(problem, 0.0, y, method)
    Y[0] = y[idx]

    if isinstance(solver, AdaptiveSolver):
        if noise is not None:
            raise ModelDefinitionError(
                f"noise= needs the 'euler' (Euler–Maruyama) or 'heun' (stochastic Heun) method, "
                f"not {method!r}."
            )
        return _adaptive(problem, solver, y, t_samples, idx, dt, n_steps, rtol, atol, method)

    assert isinstance(solver, FixedStepSolver)
    sigma = None
    if noise is not None:
        if solver.noise_scheme is None:
            raise ModelDefinitionError(
                f"noise= needs the 'euler' (Euler–Maruyama) or 'heun' (stochastic Heun) method, "
                f"not {method!r}."
            )
        sigma = noise if callable(noise) else (lambda t, y, k, _s=np.asarray(noise): _s)
        rng = np.random.Generator(np.random.Philox(rng_seed))
        sqdt = math.sqrt(dt)
    bar = _progress(n_steps, progress)
    sample = 1
    for k in range(n_steps):
        t = k * dt
        if sigma is None:
            y = solver.step(problem, t, y, dt, k)
        else:
            dw = sqdt * rng.standard_normal(y.size)
            y = solver.noisy_step(problem, t, y, dt, k, dw, sigma)
        if not np.all(np.isfinite(y)):
            raise _blow_up(problem, t + dt, y, method)
        if (k + 1) % stride == 0:
            Y[sample] = y[idx]
            sample += 1
        if bar is not None and k % 1000 == 999:
            bar.update(1000)
    if bar is not None:
        bar.close()
    return t_samples, Y, y


def _adaptive(problem, solver, y0, t_samples, idx, dt, n_steps, rtol, atol, method):
    from scipy.integrate import solve_ivp

    last = n_steps - 1

    def fun(t, y):
        return problem.rhs(t, y, min(int(t / dt), last))

    with np.errstate(all="ignore"):
        sol = solve_ivp(fun, (0.0, t_samples[-1]), y0, method=solver.scipy_method,
                        t_eval=t_samples, rtol=rtol, atol=atol)
    if sol.status < 0 or sol.y.shape[1] != t_samples.size:
        t_fail = float(sol.t[-1]) if sol.t.size else 0.0
        y_fail = sol.y[:, -1] if sol.y.size else y0
        if not np.all(np.isfinite(y_fail)):
            raise _blow_up(problem, t_fail, y_fail, method)
        raise IntegrationError(
            f"The adaptive method {method!r} failed at t = {t_fail:.6g}: {sol.message} "
            f"Try a stiff method ('radau', 'bdf') or looser tolerances.",
            t=t_fail, state=np.array(y_fail),
        )
    Y = sol.y.T
    if not np.all(np.isfinite(Y)):
        row = int(np.argmax(~np.all(np.isfinite(Y), axis=1)))
        raise _blow_up(problem, float(t_samples[row]), Y[row], method)
    return t_samples, np.ascontiguousarray(Y[:, idx]), Y[-1].copy()
