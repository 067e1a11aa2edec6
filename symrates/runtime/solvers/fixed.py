"""Fixed-step methods: explicit Euler, Heun and the classical Runge–Kutta method.

Every stage of step ``k`` is evaluated with the same step index ``k``, so piecewise-constant
inputs (row ``k`` holds during step ``k``) are integrated exactly as the user defined them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from symrates.runtime.solvers.base import Diffusion, FixedStepSolver

if TYPE_CHECKING:
    from symrates.runtime.problem import Problem

__all__ = ["Euler", "Heun", "RK4"]


class Euler(FixedStepSolver):
    """Explicit Euler, order 1; with noise, Euler–Maruyama (Itô).

    ``y_new = y + dt*f(t, y) + sigma(t, y)*dW``.

    Examples
    --------
    >>> import numpy as np
    >>> from symrates.runtime.problem import FunctionProblem
    >>> Euler().step(FunctionProblem(lambda t, y, k: -y, 1), 0.0, np.array([1.0]), 0.1, 0)
    array([0.9])
    """

    name = "euler"
    order = 1
    supports_noise = True
    n_stages = 1

    def step(self, problem: Problem, t: float, y: np.ndarray, dt: float, k: int) -> np.ndarray:
        return y + dt * problem.rhs(t, y, k)

    def stochastic_step(
        self,
        problem: Problem,
        t: float,
        y: np.ndarray,
        dt: float,
        k: int,
        dW: np.ndarray,
        diffusion: Diffusion,
    ) -> np.ndarray:
        return y + dt * problem.rhs(t, y, k) + diffusion(t, y, k) * dW


class Heun(FixedStepSolver):
    """Heun's method (explicit trapezoidal rule), order 2; with noise, stochastic Heun.

    Deterministic step::

        k1 = f(t, y);  k2 = f(t + dt, y + dt*k1);  y_new = y + dt/2*(k1 + k2)

    With noise, the predictor and the corrector use the *same* increment ``dW``::

        y_p   = y + dt*f(t, y) + g(t, y)*dW
        y_new = y + dt/2*(f(t, y) + f(t + dt, y_p)) + 1/2*(g(t, y) + g(t + dt, y_p))*dW

    which converges to the Stratonovich solution (for additive noise Itô and Stratonovich
    agree, and ``g`` is evaluated once).

    Examples
    --------
    >>> import numpy as np
    >>> from symrates.runtime.problem import FunctionProblem
    >>> Heun().step(FunctionProblem(lambda t, y, k: -y, 1), 0.0, np.array([1.0]), 0.1, 0)
    array([0.905])
    """

    name = "heun"
    order = 2
    supports_noise = True
    n_stages = 2

    def step(self, problem: Problem, t: float, y: np.ndarray, dt: float, k: int) -> np.ndarray:
        k1 = problem.rhs(t, y, k)
        k2 = problem.rhs(t + dt, y + dt * k1, k)
        return y + (0.5 * dt) * (k1 + k2)

    def stochastic_step(
        self,
        problem: Problem,
        t: float,
        y: np.ndarray,
        dt: float,
        k: int,
        dW: np.ndarray,
        diffusion: Diffusion,
    ) -> np.ndarray:
        f1 = problem.rhs(t, y, k)
        g1 = diffusion(t, y, k)
        y_p = y + dt * f1 + g1 * dW
        f2 = problem.rhs(t + dt, y_p, k)
        if diffusion.additive:
            return y + (0.5 * dt) * (f1 + f2) + g1 * dW
        g2 = diffusion(t + dt, y_p, k)
        return y + (0.5 * dt) * (f1 + f2) + 0.5 * (g1 + g2) * dW


class RK4(FixedStepSolver):
    """The classical fourth-order Runge–Kutta method.

    Examples
    --------
    >>> import numpy as np
    >>> from symrates.runtime.problem import FunctionProblem
    >>> y = RK4().step(FunctionProblem(lambda t, y, k: -y, 1), 0.0, np.array([1.0]), 0.1, 0)
    >>> abs(y[0] - np.exp(-0.1)) < 1e-6
    np.True_
    """

    name = "rk4"
    order = 4
    n_stages = 4

    def step(self, problem: Problem, t: float, y: np.ndarray, dt: float, k: int) -> np.ndarray:
        half = 0.5 * dt
        k1 = problem.rhs(t, y, k)
        k2 = problem.rhs(t + half, y + half * k1, k)
        k3 = problem.rhs(t + half, y + half * k2, k)
        k4 = problem.rhs(t + dt, y + dt * k3, k)
        return y + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
