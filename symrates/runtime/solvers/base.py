"""Base classes of the integration methods.

Two families share nothing but a name:

* :class:`FixedStepSolver` advances one step of size ``dt`` at a time (``step``); the time loop
  lives in :func:`symrates.runtime.integrate.integrate`, so a compiled engine can reproduce the
  same arithmetic.
* :class:`AdaptiveSolver` hands the whole interval to :func:`scipy.integrate.solve_ivp`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from symrates.errors import ModelDefinitionError

if TYPE_CHECKING:
    from scipy.integrate._ivp.ivp import OdeResult

    from symrates.runtime.problem import Problem

__all__ = ["step_index", "Diffusion", "FixedStepSolver", "AdaptiveSolver"]


def step_index(t: float, dt: float, n_steps: int) -> int:
    """Return the index of the step that time ``t`` belongs to: ``min(floor(t/dt), n_steps - 1)``.

    A relative guard of ``1e-12`` maps a grid time ``k*dt`` to ``k`` even where ``t/dt`` rounds
    to just below ``k``. This is the ``k`` that adaptive methods pass to ``rhs(t, y, k)``.

    Examples
    --------
    >>> int(0.3 / 0.1), step_index(0.3, 0.1, 10), step_index(1.0, 0.1, 10)
    (2, 3, 9)
    """
    k = int(t / dt * (1.0 + 1e-12))
    return min(max(k, 0), n_steps - 1)


class Diffusion:
    """The noise amplitude ``sigma`` of ``dy = f dt + sigma dW`` (one Wiener process per state).

    Parameters
    ----------
    sigma : array_like or callable
        A scalar or an array of shape ``(n_states,)`` (additive noise), or a callable
        ``sigma(t, y, k)`` returning such an array (multiplicative noise).
    n_states : int
        Length of the state vector.

    Examples
    --------
    >>> import numpy as np
    >>> g = Diffusion([0.5, 0.0], 2)
    >>> g.additive, g(0.0, np.zeros(2), 0)
    (True, array([0.5, 0. ]))
    """

    def __init__(
        self,
        sigma: np.ndarray | float | Callable[[float, np.ndarray, int], np.ndarray],
        n_states: int,
    ) -> None:
        self.n_states = n_states
        if callable(sigma):
            self.additive = False
            self._fun = sigma
            self._sigma = None
            return
        arr = np.asarray(sigma, dtype=float)
        if arr.ndim == 0:
            arr = np.full(n_states, float(arr))
        if arr.shape != (n_states,):
            raise ModelDefinitionError(
                f"noise must be a scalar, an array of shape ({n_states},) (one sigma per state) "
                f"or a callable sigma(t, y, k); got an array of shape {arr.shape}."
            )
        if not np.all(np.isfinite(arr)):
            bad = np.flatnonzero(~np.isfinite(arr))[:5].tolist()
            raise ModelDefinitionError(
                f"noise amplitudes must be finite; not finite at state indices {bad}."
            )
        self.additive = True
        self._fun = None
        self._sigma = arr

    def __call__(self, t: float, y: np.ndarray, k: int) -> np.ndarray:
        """Return ``sigma`` at ``(t, y)`` during step ``k``, shape ``(n_states,)``."""
        if self._sigma is not None:
            return self._sigma
        return np.asarray(self._fun(t, y, k), dtype=float)

    def check(self, t: float, y: np.ndarray, k: int) -> None:
        """Evaluate once and raise a clear error if the shape is wrong."""
        out = self(t, y, k)
        if out.shape not in ((self.n_states,), ()):
            raise ModelDefinitionError(
                "The noise callable sigma(t, y, k) must return an array of shape "
                f"({self.n_states},); it returned shape {out.shape}."
            )


class FixedStepSolver(ABC):
    """A one-step method with a fixed step ``dt``.

    Subclasses implement :meth:`step` and, if they support noise, :meth:`stochastic_step`.

    Attributes
    ----------
    name : str
        Registry key (``"euler"``, ...).
    order : int
        Global order of convergence for ODEs (the error at a fixed time is ``O(dt**order)``).
    supports_noise : bool
        Whether :meth:`stochastic_step` is implemented.
    n_stages : int
        Right-hand-side evaluations per step (without noise).

    Examples
    --------
    >>> import numpy as np
    >>> from symrates.runtime.problem import FunctionProblem
    >>> from symrates.runtime.solvers import RK4
    >>> p = FunctionProblem(lambda t, y, k: -y, 1)
    >>> RK4().step(p, 0.0, np.array([1.0]), 0.1, 0)
    array([0.9048375])
    """

    name: ClassVar[str] = ""
    order: ClassVar[int] = 0
    supports_noise: ClassVar[bool] = False
    n_stages: ClassVar[int] = 0

    @abstractmethod
    def step(self, problem: Problem, t: float, y: np.ndarray, dt: float, k: int) -> np.ndarray:
        """Advance ``y`` from ``t`` to ``t + dt`` during step ``k``; return the new state."""

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
        """Advance ``dy = f dt + sigma dW`` by one step with the Wiener increment ``dW``."""
        raise ModelDefinitionError(f"Method {self.name!r} does not support noise.")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class AdaptiveSolver:
    """A method with error-controlled step size, run by :func:`scipy.integrate.solve_ivp`.

    Parameters
    ----------
    rtol, atol : float
        Relative and absolute local error tolerances.
    max_step : float
        Largest step the solver may take (default: unbounded). Set it to ``dt`` (or less) when
        the inputs change every step and must not be stepped over.
    first_step : float, optional
        Initial step size; default: chosen by the solver.

    Examples
    --------
    >>> import numpy as np
    >>> from symrates.runtime.solvers import RK45
    >>> sol = RK45(rtol=1e-8, atol=1e-10).solve(lambda t, y: -y, (0.0, 1.0), np.ones(1), [1.0])
    >>> round(float(sol.y[0, -1]), 6)
    0.367879
    """

    name: ClassVar[str] = ""
    scipy_method: ClassVar[str] = ""
    implicit: ClassVar[bool] = False
    supports_noise: ClassVar[bool] = False

    def __init__(
        self,
        *,
        rtol: float = 1e-6,
        atol: float = 1e-9,
        max_step: float = math.inf,
        first_step: float | None = None,
    ) -> None:
        for label, value in (("rtol", rtol), ("atol", atol)):
            number = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
            if not (number and value > 0 and math.isfinite(value)):
                raise ModelDefinitionError(
                    f"{label} must be a positive finite number; got {value!r}."
                )
        if max_step is None:
            max_step = math.inf
        if not max_step > 0:
            raise ModelDefinitionError(f"max_step must be positive; got {max_step!r}.")
        if first_step is not None and not (first_step > 0 and math.isfinite(first_step)):
            raise ModelDefinitionError(
                f"first_step must be a positive finite number or None; got {first_step!r}."
            )
        self.rtol = float(rtol)
        self.atol = float(atol)
        self.max_step = float(max_step)
        self.first_step = None if first_step is None else float(first_step)

    def solve(
        self,
        fun: Callable[[float, np.ndarray], np.ndarray],
        t_span: tuple[float, float],
        y0: np.ndarray,
        t_eval: np.ndarray | list[float],
        *,
        jac: Callable[[float, np.ndarray], np.ndarray] | None = None,
    ) -> OdeResult:
        """Integrate ``dy/dt = fun(t, y)`` over ``t_span``, returning the values at ``t_eval``.

        ``jac`` is used by implicit methods only. Returns scipy's ``OdeResult`` unchanged: the
        caller checks ``status``.
        """
        from scipy.integrate import solve_ivp

        options: dict = {"rtol": self.rtol, "atol": self.atol, "max_step": self.max_step}
        if self.first_step is not None:
            options["first_step"] = self.first_step
        if self.implicit and jac is not None:
            options["jac"] = jac
        return solve_ivp(fun, t_span, y0, method=self.scipy_method, t_eval=t_eval, **options)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(rtol={self.rtol:g}, atol={self.atol:g}, "
            f"max_step={self.max_step:g}, first_step={self.first_step})"
        )
