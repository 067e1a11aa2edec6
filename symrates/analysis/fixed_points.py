"""Fixed points and their linear stability, from the exact symbolic Jacobian.

Damped Newton iterations with the exact Jacobian, started from user guesses, from the declared
initial state and from points along a short simulation; converged points are deduplicated and
classified by the eigenvalues of the Jacobian.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConvergenceError, ModelDefinitionError
from ..ir.build import build
from ..ir.system import SymbolicSystem
from ._states import state_dict

__all__ = ["FixedPoint", "fixed_points", "NumericSystem"]


class NumericSystem:
    """The flattened rhs and its exact Jacobian as numpy functions of ``y`` at fixed parameters.

    A view of :class:`~symrates.analysis.derivatives.ParametricSystem` (lambdified once per
    model, with the parameters as arguments) at one parameter vector.

    Parameters
    ----------
    system : SymbolicSystem
    params : mapping, optional
        ``{path: value}`` parameter overrides (a value may be an array with one entry per
        network copy).
    """

    def __init__(self, system: SymbolicSystem, params: Mapping[str, float] | None = None) -> None:
        from .derivatives import ParametricSystem

        self.system = system
        values = {p: _value(v) for p, v in system.parameters.items()}
        for path, v in (params or {}).items():
            full = system.resolve(path, what="parameter")
            if full not in values:
                raise ModelDefinitionError(
                    f"params= of {system.name!r} names {path!r}, which is not a parameter. "
                    f"Parameters: {', '.join(list(values)[:10])}."
                )
            values[full] = _value(v)
        self.params = values
        self._ps = ParametricSystem.of(system)
        self._p = self._ps.parameter_vector(values)
        self.n = self._ps.n

    def f(self, y: np.ndarray) -> np.ndarray:
        return self._ps.f(np.asarray(y, dtype=float), self._p)

    def jacobian(self, y: np.ndarray) -> np.ndarray:
        return self._ps.jacobian(np.asarray(y, dtype=float), self._p)


def _short_value(v: Any) -> str:
    if np.ndim(v) == 0:
        return f"{v:.6g}"
    flat = np.ravel(v)
    return "[" + ", ".join(f"{x:.4g}" for x in flat[:3]) + (", ...]" if flat.size > 3 else "]")


def _value(v: Any) -> float | np.ndarray:
    return float(v) if np.ndim(v) == 0 else np.array(v, dtype=float)


@dataclass(frozen=True)
class FixedPoint:
    """An equilibrium with its eigenvalues.

    Attributes
    ----------
    y : np.ndarray
        The state vector (order of ``system.states``).
    state : dict
        ``{path: value}``.
    eigenvalues : np.ndarray
        Eigenvalues of the Jacobian, sorted by decreasing real part.
    stable : bool
        All eigenvalues have negative real part.
    """

    y: np.ndarray
    state: dict[str, float]
    eigenvalues: np.ndarray
    stable: bool
    params: dict[str, float] = field(default_factory=dict, repr=False)

    @property
    def kind(self) -> str:
        """``"stable node"``, ``"stable focus"``, ``"saddle"``, ``"saddle-focus"`` (unstable
        oscillatory directions), ``"unstable node"``, ``"unstable focus"`` or
        ``"non-hyperbolic"``."""
        ev = self.eigenvalues
        re = ev.real
        scale = max(1.0, float(np.abs(ev).max()))
        if np.any(np.abs(re) <= 1e-9 * scale):
            return "non-hyperbolic"
        oscill = bool(np.any(np.abs(ev.imag) > 1e-9 * scale))
        if np.all(re < 0):
            return "stable focus" if oscill else "stable node"
        if np.all(re > 0):
            return "unstable focus" if oscill else "unstable node"
        unstable = ev[re > 0]
        return "saddle-focus" if np.any(np.abs(unstable.imag) > 1e-9 * scale) else "saddle"

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={_short_value(v)}" for k, v in list(self.state.items())[:4])
        more = ", ..." if len(self.state) > 4 else ""
        return f"FixedPoint({shown}{more}; {self.kind})"


def _newton(ns: NumericSystem, y: np.ndarray, *, tol: float, max_iter: int) -> np.ndarray | None:
    y = np.array(y, dtype=float)
    with np.errstate(all="ignore"):
        fy = ns.f(y)
        for _ in range(max_iter):
            if not np.all(np.isfinite(fy)):
                return None
            if np.linalg.norm(fy) <= 1e-3 * tol * (1.0 + np.abs(y).max()):
                return y                      # already as good as rounding allows
            J = ns.jacobian(y)
            try:
                step = np.linalg.solve(J, -fy)
            except np.linalg.LinAlgError:
                step = np.linalg.lstsq(J, -fy, rcond=None)[0]
            norm = np.linalg.norm(fy)
            lam = 1.0
            while lam > 1e-6:
                y_new = y + lam * step
                f_new = ns.f(y_new)
                if np.all(np.isfinite(f_new)) and np.linalg.norm(f_new) < (1 - 1e-4 * lam) * norm:
                    break
                lam /= 2
            else:
                # no decrease possible: converged to rounding level, or stuck
                return y if norm <= tol * (1.0 + np.abs(y).max()) else None
            y, fy = y_new, f_new
            scale = 1.0 + np.abs(y).max()
            if np.linalg.norm(lam * step) <= 1e-12 * scale and np.linalg.norm(fy) <= tol * scale:
                return y
            if np.linalg.norm(fy) <= 1e-3 * tol * scale:
                return y
    return y if np.all(np.isfinite(fy)) and np.linalg.norm(fy) <= tol * (1 + np.abs(y).max()) \
        else None


def _starts(system: SymbolicSystem, params, guesses, simulate_starts: bool) -> list[np.ndarray]:
    from ..runtime.problem_numpy import NumpyProblem

    problem = NumpyProblem(system, params=params)
    starts = [problem.state_vector(g) for g in (guesses or [])]
    y0 = problem.state_vector(None)
    starts.append(y0)
    if simulate_starts:
        # points along a short trajectory: the dynamics carry us near attractors and saddles
        from ..runtime.integrate import integrate

        rates = np.abs(np.linalg.eigvals(NumericSystem(system, params).jacobian(y0)))
        rates = rates[rates > 0]
        horizon = 50.0 / rates.min() if rates.size else 50.0
        dt = min(horizon / 2000, 0.1 / rates.max()) if rates.size else horizon / 2000
        n = max(int(round(horizon / dt)), 1)
        try:
            t, Y, _ = integrate(problem, y0, t_end=n * dt, dt=dt, method="rk4",
                                sampling=dt * max(n // 40, 1))
            starts += list(Y)
        except Exception:  # noqa: BLE001 - a diverging trajectory just gives no extra starts
            pass
    return starts


def fixed_points(
    model: Any,
    *,
    params: Mapping[str, float] | None = None,
    guesses: Sequence[Any] | None = None,
    simulate: bool = True,
    tol: float = 1e-10,
    max_iter: int = 50,
) -> list[FixedPoint]:
    """Find equilibria of a model by Newton's method with the exact Jacobian.

    Parameters
    ----------
    model : template, str or SymbolicSystem
    params : mapping, optional
        ``{path: value}`` parameter overrides.
    guesses : sequence, optional
        Start points: ``{path: value}`` mappings or state vectors. The declared initial state and
        points along a short simulation from it are always tried as well (``simulate=False``
        skips the simulation).
    tol : float
        Residual tolerance (relative to ``1 + max|y|``).

    Returns
    -------
    list of FixedPoint
        Distinct equilibria, sorted by their first state.

    Raises
    ------
    ConvergenceError
        If no start point converges.

    Examples
    --------
    >>> import symrates as sr
    >>> guesses = [{"r": 0.1, "v": -2.0}, {"r": 0.5, "v": -0.3}, {"r": 1.5, "v": -0.1}]
    >>> [fp.kind for fp in sr.fixed_points("montbrio.QIF", guesses=guesses)]
    ['stable node', 'saddle', 'stable focus']
    """
    system = build(model)
    ns = NumericSystem(system, params)
    found: list[np.ndarray] = []
    for start in _starts(system, params, guesses, simulate):
        y = _newton(ns, start, tol=tol, max_iter=max_iter)
        if y is None:
            continue
        if any(np.linalg.norm(y - z) <= 1e-7 * (1 + np.abs(z).max()) for z in found):
            continue
        found.append(y)
    if not found:
        raise ConvergenceError(
            f"No fixed point of {system.name!r} found: Newton's method did not converge from "
            f"any start point. Give start points with guesses=[{{path: value}}, ...]."
        )
    out = []
    for y in sorted(found, key=lambda z: tuple(z)):
        ev = np.linalg.eigvals(ns.jacobian(y))
        ev = ev[np.lexsort((-ev.imag, -ev.real))]
        out.append(FixedPoint(
            y=y, state=state_dict(system, y), eigenvalues=ev,
            stable=bool(np.all(ev.real < 0)), params=dict(ns.params),
        ))
    return out
