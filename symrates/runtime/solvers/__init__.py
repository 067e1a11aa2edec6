"""Integration methods: one class per method, registered in :data:`SOLVERS`."""

from __future__ import annotations

from ...errors import ModelDefinitionError
from .adaptive import BDF, DOP853, LSODA, RK45, AdaptiveSolver, Radau
from .fixed import RK4, Euler, FixedStepSolver, Heun

__all__ = ["SOLVERS", "get_solver", "FixedStepSolver", "AdaptiveSolver",
           "Euler", "Heun", "RK4", "RK45", "DOP853", "Radau", "BDF", "LSODA"]

SOLVERS: dict[str, type] = {
    "euler": Euler,
    "heun": Heun,
    "rk4": RK4,
    "rk45": RK45,
    "dop853": DOP853,
    "radau": Radau,
    "bdf": BDF,
    "lsoda": LSODA,
}


def get_solver(name: str):
    """An instance of the solver registered as ``name``."""
    try:
        return SOLVERS[name]()
    except (KeyError, TypeError):
        raise ModelDefinitionError(
            f"Unknown integration method {name!r}; choose one of {', '.join(SOLVERS)}."
        ) from None
