"""Adaptive methods through :func:`scipy.integrate.solve_ivp`."""

from __future__ import annotations

__all__ = ["AdaptiveSolver", "RK45", "DOP853", "Radau", "BDF", "LSODA"]


class AdaptiveSolver:
    """An adaptive scipy method; ``scipy_method`` is the name ``solve_ivp`` knows."""

    name = ""
    scipy_method = ""
    implicit = False
    noise_scheme = None


class RK45(AdaptiveSolver):
    """Dormand–Prince 5(4)."""

    name, scipy_method = "rk45", "RK45"


class DOP853(AdaptiveSolver):
    """Dormand–Prince 8(5,3)."""

    name, scipy_method = "dop853", "DOP853"


class Radau(AdaptiveSolver):
    """Implicit Radau IIA of order 5 (stiff problems)."""

    name, scipy_method, implicit = "radau", "Radau", True


class BDF(AdaptiveSolver):
    """Implicit backward differentiation formulas (stiff problems)."""

    name, scipy_method, implicit = "bdf", "BDF", True


class LSODA(AdaptiveSolver):
    """LSODA: switches between Adams and BDF automatically."""

    name, scipy_method, implicit = "lsoda", "LSODA", True
