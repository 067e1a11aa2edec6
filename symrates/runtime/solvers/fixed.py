"""Fixed-step explicit methods (the numpy reference)."""

from __future__ import annotations

import numpy as np

__all__ = ["FixedStepSolver", "Euler", "Heun", "RK4"]


class FixedStepSolver:
    """Base of fixed-step methods: ``step(problem, t, y, dt, k)`` advances one step.

    All stages of step ``k`` see input row ``k`` (inputs are held during a step).
    """

    name = ""
    order = 0
    #: whether the method takes additive noise (and how: "ito" Euler–Maruyama, "heun")
    noise_scheme: str | None = None

    def step(self, problem, t: float, y: np.ndarray, dt: float, k: int) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover - abstract

    def noisy_step(self, problem, t, y, dt, k, dw, sigma) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


class Euler(FixedStepSolver):
    """Forward Euler; with noise, Euler–Maruyama."""

    name, order, noise_scheme = "euler", 1, "euler-maruyama"

    def step(self, problem, t, y, dt, k):
        return y + dt * problem.rhs(t, y, k)

    def noisy_step(self, problem, t, y, dt, k, dw, sigma):
        return y + dt * problem.rhs(t, y, k) + sigma(t, y, k) * dw


class Heun(FixedStepSolver):
    """Heun's method (explicit trapezoid); with noise, the stochastic Heun scheme."""

    name, order, noise_scheme = "heun", 2, "stochastic heun"

    def step(self, problem, t, y, dt, k):
        f0 = problem.rhs(t, y, k)
        f1 = problem.rhs(t + dt, y + dt * f0, k)
        return y + 0.5 * dt * (f0 + f1)

    def noisy_step(self, problem, t, y, dt, k, dw, sigma):
        f0 = problem.rhs(t, y, k)
        g0 = sigma(t, y, k)
        pred = y + dt * f0 + g0 * dw
        f1 = problem.rhs(t + dt, pred, k)
        g1 = sigma(t + dt, pred, k)
        return y + 0.5 * dt * (f0 + f1) + 0.5 * (g0 + g1) * dw


class RK4(FixedStepSolver):
    """The classical fourth-order Runge–Kutta method."""

    name, order = "rk4", 4

    def step(self, problem, t, y, dt, k):
        h2 = 0.5 * dt
        k1 = problem.rhs(t, y, k)
        k2 = problem.rhs(t + h2, y + h2 * k1, k)
        k3 = problem.rhs(t + h2, y + h2 * k2, k)
        k4 = problem.rhs(t + dt, y + dt * k3, k)
        return y + (dt / 6.0) * (k1 + 2.0 * (k2 + k3) + k4)
