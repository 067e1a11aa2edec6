"""Integration methods, one class per method, looked up by name in :data:`SOLVERS`.

Fixed-step methods (:class:`FixedStepSolver`): ``"euler"``, ``"heun"``, ``"rk4"``.
Adaptive methods (:class:`AdaptiveSolver`, via :func:`scipy.integrate.solve_ivp`): ``"rk23"``,
``"rk45"``, ``"dop853"``, ``"radau"``, ``"bdf"``, ``"lsoda"``.

Examples
--------
>>> from symrates.runtime.solvers import get_solver
>>> get_solver("rk4").order
4
"""

from __future__ import annotations

from symrates.errors import ModelDefinitionError
from symrates.runtime.solvers.adaptive import BDF, DOP853, LSODA, RK23, RK45, Radau
from symrates.runtime.solvers.base import AdaptiveSolver, Diffusion, FixedStepSolver, step_index
from symrates.runtime.solvers.fixed import RK4, Euler, Heun

__all__ = [
    "SOLVERS",
    "get_solver",
    "step_index",
    "FixedStepSolver",
    "AdaptiveSolver",
    "Diffusion",
    "Euler",
    "Heun",
    "RK4",
    "RK23",
    "RK45",
    "DOP853",
    "Radau",
    "BDF",
    "LSODA",
]

SOLVERS: dict[str, type[FixedStepSolver] | type[AdaptiveSolver]] = {
    "euler": Euler,
    "heun": Heun,
    "rk4": RK4,
    "rk23": RK23,
    "rk45": RK45,
    "dop853": DOP853,
    "radau": Radau,
    "bdf": BDF,
    "lsoda": LSODA,
}
"""Registry of integration methods: name → solver class."""


def get_solver(name: str) -> type[FixedStepSolver] | type[AdaptiveSolver]:
    """Return the solver class registered under ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`SOLVERS` (case-sensitive), e.g. ``"rk4"`` or ``"radau"``.

    Raises
    ------
    ModelDefinitionError
        If ``name`` is not registered; the message lists the valid names.

    Examples
    --------
    >>> get_solver("heun").__name__
    'Heun'
    """
    try:
        return SOLVERS[name]
    except (KeyError, TypeError):
        fixed = [k for k, v in SOLVERS.items() if issubclass(v, FixedStepSolver)]
        adaptive = [k for k in SOLVERS if k not in fixed]
        raise ModelDefinitionError(
            f"Unknown integration method {name!r}; valid methods: fixed-step "
            f"{', '.join(fixed)}; adaptive {', '.join(adaptive)}. Pass one of these as method=."
        ) from None
