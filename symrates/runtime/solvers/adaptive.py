"""Adaptive methods: thin wrappers around :func:`scipy.integrate.solve_ivp`.

:class:`SteppedFunction` turns a problem's ``rhs(t, y, k)`` into the ``fun(t, y)`` scipy expects,
passing the step index ``k`` of ``t`` (so piecewise-constant inputs hold as for fixed steps),
and stops a solver that no longer advances in time (scipy's LSODA can loop forever on a
solution that blows up).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from symrates.runtime.solvers.base import AdaptiveSolver, step_index

if TYPE_CHECKING:
    from symrates.runtime.problem import Problem

__all__ = ["RK23", "RK45", "DOP853", "Radau", "BDF", "LSODA", "SteppedFunction", "SolverStalled"]


class RK23(AdaptiveSolver):
    """Explicit Runge–Kutta 3(2) (Bogacki–Shampine), scipy's ``"RK23"``."""

    name = "rk23"
    scipy_method = "RK23"


class RK45(AdaptiveSolver):
    """Explicit Runge–Kutta 5(4) (Dormand–Prince), scipy's ``"RK45"``; a good default."""

    name = "rk45"
    scipy_method = "RK45"


class DOP853(AdaptiveSolver):
    """Explicit Runge–Kutta of order 8 (Dormand–Prince), scipy's ``"DOP853"``; tight tolerances."""

    name = "dop853"
    scipy_method = "DOP853"


class Radau(AdaptiveSolver):
    """Implicit Runge–Kutta Radau IIA of order 5, scipy's ``"Radau"``; for stiff problems."""

    name = "radau"
    scipy_method = "Radau"
    implicit = True


class BDF(AdaptiveSolver):
    """Backward differentiation formulas of order 1–5, scipy's ``"BDF"``; for stiff problems."""

    name = "bdf"
    scipy_method = "BDF"
    implicit = True


class LSODA(AdaptiveSolver):
    """ODEPACK's LSODA, switching automatically between Adams (non-stiff) and BDF (stiff)."""

    name = "lsoda"
    scipy_method = "LSODA"
    implicit = True


class SolverStalled(Exception):
    """Raised from :class:`SteppedFunction` when the solver stops advancing in time."""


class SteppedFunction:
    """``fun(t, y) = problem.rhs(t, y, step_index(t, dt, n_steps))`` for scipy.

    Also remembers the last evaluation (``t``, ``y``, for error messages), reports progress in
    steps of ``dt`` to ``on_step(n)``, and raises :class:`SolverStalled` after ``stall_limit``
    consecutive evaluations at the same ``t``.

    Parameters
    ----------
    problem : Problem
        The problem whose ``rhs`` (and ``jac``, if any) is wrapped.
    dt : float
        Step of the input grid.
    n_steps : int
        Number of steps to ``t_end``.
    on_step : callable, optional
        Called with the number of grid steps newly reached.
    stall_limit : int, optional
        Default ``1000 + 10*n_states`` (a finite-difference Jacobian evaluates ``n_states``
        times at one ``t``).

    Examples
    --------
    >>> import numpy as np
    >>> from symrates.runtime.problem import FunctionProblem
    >>> fun = SteppedFunction(FunctionProblem(lambda t, y, k: np.array([k]), 1), 0.1, 10)
    >>> fun(0.35, np.zeros(1)), fun(2.0, np.zeros(1))
    (array([3.]), array([9.]))
    """

    def __init__(
        self,
        problem: Problem,
        dt: float,
        n_steps: int,
        *,
        on_step: Callable[[int], object] | None = None,
        stall_limit: int | None = None,
    ) -> None:
        self.problem = problem
        self.dt = dt
        self.n_steps = n_steps
        self.on_step = on_step
        self.stall_limit = 1000 + 10 * problem.n_states if stall_limit is None else stall_limit
        self.t = 0.0
        self.y: np.ndarray | None = None
        self.k_max = 0
        self._repeats = 0

    def __call__(self, t: float, y: np.ndarray) -> np.ndarray:
        if t == self.t and self.y is not None:
            self._repeats += 1
            if self._repeats > self.stall_limit:
                raise SolverStalled(
                    f"the solver stopped advancing in time ({self.stall_limit} evaluations at "
                    "the same t)."
                )
        else:
            self._repeats = 0
        self.t, self.y = t, y
        k = step_index(t, self.dt, self.n_steps)
        if k > self.k_max:
            if self.on_step is not None:
                self.on_step(k - self.k_max)
            self.k_max = k
        return self.problem.rhs(t, y, k)

    def jac(self, t: float, y: np.ndarray) -> np.ndarray:
        """The problem's Jacobian at ``(t, y)`` with the step index of ``t``."""
        return self.problem.jac(t, y, step_index(t, self.dt, self.n_steps))  # type: ignore[attr-defined]
