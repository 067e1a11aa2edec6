"""Fixed points and their linear stability, from the exact symbolic Jacobian.

Damped Newton iterations with the exact Jacobian, started from user guesses, from the declared
initial state and from points along a short simulation; converged points are deduplicated and
classified by the eigenvalues of the Jacobian.

Two paths share the Newton iteration (DESIGN.md §6):

* ``"dense"``: the flattened sympy view, lambdified with the parameters as arguments
  (:class:`NumericSystem`), dense LU; for small models.
* ``"sparse"``: the lowered numpy evaluator and the structured sparse Jacobian
  (:class:`~symrates.analysis.network_jacobian.SparseSystem`), sparse LU (``splu``); for networks
  and large systems. The flattened view is never built on this path.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConvergenceError, ModelDefinitionError
from ..ir.build import build
from ..ir.system import SymbolicSystem
from ._states import state_dict
from .network_jacobian import DELAY_MODES, SparseSystem, check_delays, without_delays
from .stability import eigenvalues, rates

__all__ = ["FixedPoint", "fixed_points", "NumericSystem", "METHODS"]

#: Newton and stability paths of :func:`fixed_points`
METHODS = ("auto", "dense", "sparse")

#: Above this many states ``method="auto"`` takes the sparse path
SPARSE_MIN_STATES = 200

#: On the sparse path the short simulation that provides start points has at most this many steps
SPARSE_MAX_STEPS = 5000


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
        values, _ = _parameter_values(system, params)
        self.params = values
        self._ps = ParametricSystem.of(system)
        self._p = self._ps.parameter_vector(values)
        self.n = self._ps.n

    def f(self, y: np.ndarray) -> np.ndarray:
        return self._ps.f(np.asarray(y, dtype=float), self._p)

    def jacobian(self, y: np.ndarray) -> np.ndarray:
        return self._ps.jacobian(np.asarray(y, dtype=float), self._p)

    @staticmethod
    def solve(J: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``J^{-1} b`` by dense LU; least squares when ``J`` is singular."""
        try:
            return np.linalg.solve(J, b)
        except np.linalg.LinAlgError:
            return np.linalg.lstsq(J, b, rcond=None)[0]

    def step(self, y: np.ndarray, b: np.ndarray, *, fresh: bool = True) -> tuple[np.ndarray, bool]:
        """The Newton step ``J(y)^{-1} b`` and False (never from a stale Jacobian)."""
        return self.solve(self.jacobian(y), b), False


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
        Eigenvalues of the Jacobian, sorted by decreasing real part: all of them, or for large
        networks the rightmost ones (see ``n_eigenvalues`` of :func:`fixed_points`).
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
        ``"non-hyperbolic"``.

        With a partial spectrum (only the rightmost eigenvalues, fewer than states) the kind
        describes those; when all of them are unstable it is just ``"unstable"``, because the
        eigenvalues not computed may be stable or unstable."""
        ev = self.eigenvalues
        partial = ev.size < np.size(self.y)
        re = ev.real
        scale = max(1.0, float(np.abs(ev).max()))
        if np.any(np.abs(re) <= 1e-9 * scale):
            return "non-hyperbolic"
        oscill = bool(np.any(np.abs(ev.imag) > 1e-9 * scale))
        if np.all(re < 0):
            return "stable focus" if oscill else "stable node"
        if np.all(re > 0):
            if partial:
                return "unstable"
            return "unstable focus" if oscill else "unstable node"
        unstable = ev[re > 0]
        return "saddle-focus" if np.any(np.abs(unstable.imag) > 1e-9 * scale) else "saddle"

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={_short_value(v)}" for k, v in list(self.state.items())[:4])
        more = ", ..." if len(self.state) > 4 else ""
        return f"FixedPoint({shown}{more}; {self.kind})"


def _newton(ns: NumericSystem | SparseSystem, y: np.ndarray, *, tol: float,
            max_iter: int) -> np.ndarray | None:
    """Damped Newton from ``y``; None if it does not converge.

    ``ns.step`` may return a step from an earlier factorization (the sparse path reuses its LU
    while it contracts the residual at least fourfold per step); a stale step that does not is
    replaced by a fresh Newton step with a backtracking line search.
    """
    y = np.array(y, dtype=float)
    with np.errstate(all="ignore"):
        fy = ns.f(y)
        for _ in range(max_iter):
            if not np.all(np.isfinite(fy)):
                return None
            if np.linalg.norm(fy) <= 1e-3 * tol * (1.0 + np.abs(y).max()):
                return y                      # already as good as rounding allows
            norm = np.linalg.norm(fy)
            step, stale = ns.step(y, -fy)
            lam = 1.0
            if stale:
                # a step with an earlier factorization: kept only if it contracts well
                y_new = y + step
                f_new = ns.f(y_new)
                if np.all(np.isfinite(f_new)) and np.linalg.norm(f_new) <= 0.25 * norm:
                    y, fy = y_new, f_new
                    if np.linalg.norm(fy) <= 1e-3 * tol * (1.0 + np.abs(y).max()):
                        return y
                    continue
                step, _ = ns.step(y, -fy, fresh=True)
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


def _starts(system: SymbolicSystem, ns, problem, guesses, simulate_starts: bool,
            max_steps: int | None = None) -> list[np.ndarray]:
    starts = [problem.state_vector(g) for g in (guesses or [])]
    y0 = problem.state_vector(None)
    starts.append(y0)
    if simulate_starts:
        # points along a short trajectory: the dynamics carry us near attractors and saddles
        from ..runtime.integrate import integrate

        r = rates(ns.jacobian(y0))
        horizon = 50.0 / r.min() if r.size else 50.0
        dt = min(horizon / 2000, 0.1 / r.max()) if r.size else horizon / 2000
        n = max(int(round(horizon / dt)), 1)
        if max_steps is not None:
            n = min(n, max_steps)       # stiff networks: a shorter look beats a long wait
        try:
            t, Y, _ = integrate(problem, y0, t_end=n * dt, dt=dt, method="rk4",
                                sampling=dt * max(n // 40, 1))
            starts += list(Y)
        except Exception:  # noqa: BLE001 - a diverging trajectory just gives no extra starts
            pass
    return starts


def _parameter_values(system: SymbolicSystem,
                      params: Mapping[str, Any] | None) -> tuple[dict, dict]:
    """All parameter values ``{full path: value}`` and the resolved overrides among them."""
    values = {p: _value(v) for p, v in system.parameters.items()}
    overrides = {}
    for path, v in (params or {}).items():
        full = system.resolve(path, what="parameter")
        if full not in values:
            raise ModelDefinitionError(
                f"params= of {system.name!r} names {path!r}, which is not a parameter. "
                f"Parameters: {', '.join(list(values)[:10])}."
            )
        values[full] = overrides[full] = _value(v)
    return values, overrides


def _choose(option: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ModelDefinitionError(
            f"Unknown {option}={value!r} for fixed_points; choose one of "
            f"{', '.join(repr(a) for a in allowed)}."
        )
    return value


def fixed_points(
    model: Any,
    *,
    params: Mapping[str, float] | None = None,
    guesses: Sequence[Any] | None = None,
    simulate: bool = True,
    tol: float = 1e-10,
    max_iter: int = 50,
    method: str = "auto",
    n_eigenvalues: int | None = None,
    delays: str = "error",
) -> list[FixedPoint]:
    """Find equilibria of a model by Newton's method with the exact Jacobian.

    Parameters
    ----------
    model : template, str, Network or SymbolicSystem
    params : mapping, optional
        ``{path: value}`` parameter overrides (for a network, a value may be an array with one
        entry per unit).
    guesses : sequence, optional
        Start points: ``{path: value}`` mappings or state vectors. The declared initial state and
        points along a short simulation from it are always tried as well (``simulate=False``
        skips the simulation).
    simulate : bool
        Also start from points along a short simulation from the declared initial state.
    tol : float
        Residual tolerance (relative to ``1 + max|y|``).
    max_iter : int
        Newton iterations per start point.
    method : {"auto", "dense", "sparse"}
        ``"dense"``: the flattened sympy right-hand side and its Jacobian, dense LU (small
        models). ``"sparse"``: the structured sparse Jacobian (per-group symbolic derivatives
        evaluated per unit, coupling weights scaled by the derivative of the source) and sparse
        LU (``scipy.sparse.linalg.splu``); the flattened view is never built, so networks of
        thousands of states take seconds. ``"auto"`` (default) takes the sparse path for
        networks (any group with arrays of copies, also gamma-delay chains) and for systems with
        more than 200 states, else the dense path.
    n_eigenvalues : int, optional
        Report only the ``n_eigenvalues`` rightmost eigenvalues, computed by ARPACK (sparse
        ``eigs``: Arnoldi for the largest real parts, supplemented by shift-invert about zero if
        it does not converge). Default: the full spectrum (dense LAPACK) for systems of up to
        1,000 states, the 10 rightmost above.
    delays : {"error", "ignore"}
        Discrete delays have no finite-dimensional Jacobian. ``"error"`` (default) refuses
        delayed models; ``"ignore"`` sets all delays to zero: the equilibria are then exactly
        those of the delayed system, but the eigenvalues and ``stable`` are those of the
        undelayed system and do not account for the delays. Gamma-distributed delays
        (``spread``) are ordinary states and need neither.

    Returns
    -------
    list of FixedPoint
        Distinct equilibria, sorted by their state vectors.

    Raises
    ------
    ConvergenceError
        If no start point converges.
    ModelDefinitionError
        For unknown parameters or options, models that depend on time, and delayed models
        (``delays="error"``).

    Notes
    -----
    Stability is decided by the reported eigenvalues: with a partial spectrum (the sparse
    eigen-solver) :attr:`FixedPoint.kind` describes the rightmost eigenvalues only.

    On the sparse path Newton's method keeps its last LU factorization while each step shrinks
    the residual at least fourfold (factorizing dominates for well-connected networks, whose LU
    fills in), and start points already within the deduplication distance of an equilibrium
    found are skipped; the short simulation has at most 5,000 steps. Every point returned meets
    the residual tolerance, as with a fresh factorization at every step.

    Examples
    --------
    >>> import symrates as sr
    >>> guesses = [{"r": 0.1, "v": -2.0}, {"r": 0.5, "v": -0.3}, {"r": 1.5, "v": -0.1}]
    >>> [fp.kind for fp in sr.fixed_points("montbrio.QIF", guesses=guesses)]
    ['stable node', 'saddle', 'stable focus']

    A network of 200 Wilson-Cowan units takes the sparse path:

    >>> import numpy as np
    >>> W = 0.05 * (np.ones((200, 200)) - np.eye(200))
    >>> net = sr.network("wilson_cowan.WC", 200, couplings=[sr.Coupling("E", "P", W)])
    >>> (fp,) = sr.fixed_points(net, params={"P": 0.5}, simulate=False)
    >>> fp.y.shape, fp.stable
    ((400,), True)
    """
    method = _choose("method", method, METHODS)
    delays = _choose("delays", delays, DELAY_MODES)
    if n_eigenvalues is not None and (isinstance(n_eigenvalues, bool) or not isinstance(
            n_eigenvalues, numbers.Integral) or n_eigenvalues < 1):
        raise ModelDefinitionError(
            f"n_eigenvalues of fixed_points must be a positive integer (how many of the "
            f"rightmost eigenvalues to report) or None, got {n_eigenvalues!r}."
        )
    system = build(model)
    if delays == "ignore":
        system = without_delays(system)
    else:
        check_delays(system)            # names the delayed coupling or equation
    if method == "auto":
        network = any(g.arrays or g.copies > 1 for g in system.groups)
        method = "sparse" if network or system.n_states > SPARSE_MIN_STATES else "dense"
    values, overrides = _parameter_values(system, params)
    from ..runtime.problem_numpy import NumpyProblem

    if method == "dense":
        ns = NumericSystem(system, params)
        problem = NumpyProblem(system, params=params)
    else:
        ns = SparseSystem(system, overrides)
        problem = ns.problem
    def known(y: np.ndarray) -> bool:
        return any(np.linalg.norm(y - z) <= 1e-7 * (1 + np.abs(z).max()) for z in found)

    found: list[np.ndarray] = []
    max_steps = None if method == "dense" else SPARSE_MAX_STEPS
    for start in _starts(system, ns, problem, guesses, simulate, max_steps):
        if method == "sparse" and known(start):
            continue        # Newton would return to that point: save a sparse factorization
        y = _newton(ns, start, tol=tol, max_iter=max_iter)
        if y is None or known(y):
            continue
        found.append(y)
    if not found:
        raise ConvergenceError(
            f"No fixed point of {system.name!r} found: Newton's method did not converge from "
            f"any start point. Give start points with guesses=[{{path: value}}, ...]."
        )
    out = []
    for y in sorted(found, key=lambda z: tuple(z)):
        ev = eigenvalues(ns.jacobian(y), k=n_eigenvalues)
        out.append(FixedPoint(
            y=y, state=state_dict(system, y), eigenvalues=ev,
            stable=bool(np.all(ev.real < 0)), params=dict(values),
        ))
    return out
