"""The problem protocol: what the integrators need to know about a model.

The integrators in :mod:`symrates.runtime.solvers` and :func:`symrates.runtime.integrate.integrate`
never see templates or sympy expressions. They work on a *problem*: a right-hand side
``rhs(t, y, k)`` over a flat state vector ``y`` whose entries are named by ``state_names``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from symrates.errors import ModelDefinitionError

__all__ = ["Problem", "JacobianProblem", "FunctionProblem"]


@runtime_checkable
class Problem(Protocol):
    """An initial-value problem ``dy/dt = rhs(t, y, k)`` over a flat state vector.

    Attributes
    ----------
    n_states : int
        Length of the state vector ``y``.
    state_names : tuple of str
        One name per entry of ``y``, e.g. ``"pc/rpo_e/v"`` or ``"pc/rpo_e/v[3]"`` for unit 3 of a
        network. Used in error messages and by the result object.

    Notes
    -----
    ``k`` is the index of the current time step: step ``k`` runs from ``t = k*dt`` to
    ``(k+1)*dt`` and row ``k`` of every input time series holds during that step, for *all*
    stages of the step (also for the stage evaluated at ``(k+1)*dt``). Adaptive methods pass
    ``k = min(int(t/dt), n_steps - 1)``.

    Examples
    --------
    Any object with these three members is a problem:

    >>> import numpy as np
    >>> class Decay:
    ...     n_states = 1
    ...     state_names = ("x",)
    ...     def rhs(self, t, y, k):
    ...         return -y
    >>> isinstance(Decay(), Problem)
    True
    """

    n_states: int
    state_names: tuple[str, ...]

    def rhs(self, t: float, y: np.ndarray, k: int) -> np.ndarray:
        """Return ``dy/dt`` at time ``t`` and state ``y`` during step ``k``."""
        ...


@runtime_checkable
class JacobianProblem(Problem, Protocol):
    """A :class:`Problem` that also provides its Jacobian ``d rhs / d y``.

    The implicit adaptive methods (``"radau"``, ``"bdf"``, ``"lsoda"``) use ``jac`` when the
    problem has it; otherwise they approximate the Jacobian by finite differences.
    """

    def jac(self, t: float, y: np.ndarray, k: int) -> np.ndarray:
        """Return the ``(n_states, n_states)`` Jacobian at ``t``, ``y`` during step ``k``."""
        ...


class FunctionProblem:
    """A :class:`Problem` made from a plain function ``fun(t, y, k) -> dy/dt``.

    Parameters
    ----------
    fun : callable
        ``fun(t, y, k)`` returning an array of shape ``(n_states,)``.
    n_states : int
        Length of the state vector.
    state_names : sequence of str, optional
        One name per state; default ``("y[0]", "y[1]", ...)``.
    jac : callable, optional
        ``jac(t, y, k)`` returning the ``(n_states, n_states)`` Jacobian, used by implicit methods.

    Examples
    --------
    >>> import numpy as np
    >>> p = FunctionProblem(lambda t, y, k: -y, 2, state_names=("a", "b"))
    >>> p.rhs(0.0, np.array([1.0, 2.0]), 0)
    array([-1., -2.])
    """

    def __init__(
        self,
        fun: Callable[[float, np.ndarray, int], np.ndarray],
        n_states: int,
        *,
        state_names: Sequence[str] | None = None,
        jac: Callable[[float, np.ndarray, int], np.ndarray] | None = None,
    ) -> None:
        if not callable(fun):
            raise TypeError(f"fun must be callable as fun(t, y, k); got {type(fun).__name__}.")
        is_int = isinstance(n_states, (int, np.integer)) and not isinstance(n_states, bool)
        if not is_int or n_states < 1:
            raise ModelDefinitionError(f"n_states must be a positive integer; got {n_states!r}.")
        n_states = int(n_states)
        if state_names is None:
            state_names = tuple(f"y[{i}]" for i in range(n_states))
        else:
            state_names = tuple(str(name) for name in state_names)
            if len(state_names) != n_states:
                raise ModelDefinitionError(
                    f"state_names has {len(state_names)} entries but n_states = {n_states}; "
                    "give exactly one name per state."
                )
        self._fun = fun
        self._jac = jac
        self.n_states = n_states
        self.state_names = state_names
        if jac is not None:
            # Expose ``jac`` only when given, so ``hasattr(problem, "jac")`` tells the truth.
            self.jac = self._call_jac

    def rhs(self, t: float, y: np.ndarray, k: int) -> np.ndarray:
        """Return ``dy/dt = fun(t, y, k)`` as a float array."""
        return np.asarray(self._fun(t, y, k), dtype=float)

    def _call_jac(self, t: float, y: np.ndarray, k: int) -> np.ndarray:
        return np.asarray(self._jac(t, y, k), dtype=float)

    def __repr__(self) -> str:
        shown = ", ".join(self.state_names[:4]) + (", ..." if self.n_states > 4 else "")
        return f"FunctionProblem(n_states={self.n_states}, states=({shown}))"
