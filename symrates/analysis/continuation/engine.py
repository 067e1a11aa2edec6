"""Pseudo-arclength continuation of the solution curve of ``G(X) = 0``, ``G: R^{N+1} -> R^N``.

The engine knows nothing about equilibria or bifurcations: a :class:`Curve` supplies ``G``, its
Jacobian, what to record at each point, which test functions changed sign between two points, and
what a located zero of a test function is. The engine supplies:

* **Moore–Penrose continuation** (the corrector of MatCont): from the prediction
  ``X + h V`` along the unit tangent ``V``, Newton steps on the bordered system
  ``[G_X; V^T] dX = [G; 0]`` update the point and, in the same solve, the tangent; corrections
  are orthogonal to the current tangent, so a fold in one coordinate is passed smoothly.
* **Scaling**: all norms, the step ``h`` and the tangent live in scaled coordinates ``X / scale``
  (the curve's :attr:`Curve.scale`), so a parameter over ``(-200, 500)`` and a potential in mV
  weigh alike.
* **Step control**: the step grows by 1.3 after quick convergence, halves after a failure, and a
  step is also rejected when the tangent turns by more than ``max_angle`` or the corrector moves
  the point further than the step itself: a sharp fold is then approached with smaller steps
  instead of being jumped over.
* **Location** of the zero of a test function between two accepted points by the Illinois
  variant of regula falsi on the step length, each trial point corrected onto the curve: a
  bracketing method, so it cannot wander off, and superlinear.
* **Bounds** on components of ``X``: the last point is placed exactly on the bound.
* **Sparse curves**: a curve whose :meth:`Curve.jacobian` returns a ``scipy.sparse`` matrix (the
  collocation system of periodic orbits, with about a thousand unknowns) is solved with sparse LU
  (SuperLU); determinants come from the diagonal of ``U`` and the parities of the permutations.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import splu

from ...errors import ConvergenceError, ModelDefinitionError

__all__ = ["Options", "Point", "Event", "Curve", "run", "ContinuationError"]

log = logging.getLogger(__name__)


class ContinuationError(ConvergenceError):
    """A continuation could not go on; ``.branch`` holds what was computed before the failure
    (None if nothing was), ``.parameter`` and ``.state`` say where it stopped."""

    def __init__(self, message: str, *, branch: Any = None, parameter: Any = None,
                 state: Any = None) -> None:
        super().__init__(message)
        self.branch = branch
        self.parameter = parameter
        self.state = state


@dataclass(frozen=True)
class Options:
    """Numerical settings of a continuation (all step lengths in scaled coordinates)."""

    ds: float = 0.01
    ds_min: float = 1e-9
    ds_max: float = 0.02
    max_steps: int = 2000
    max_angle: float = math.radians(10.0)
    tol: float = 1e-10
    max_newton: int = 8

    @classmethod
    def make(cls, *, ds, ds_min, ds_max, max_steps, max_angle, tol,
             default_ds_max: float = 0.02, default_max_steps: int = 2000) -> Options:
        """Options from the user's arguments (None: the default), checked.

        Raises
        ------
        ModelDefinitionError
            If the step sizes are not ``0 < ds_min <= ds <= ds_max`` or ``max_steps < 1``.
        """
        opts = cls(
            ds=0.01 if ds is None else float(ds),
            ds_min=1e-9 if ds_min is None else float(ds_min),
            ds_max=default_ds_max if ds_max is None else float(ds_max),
            max_steps=default_max_steps if max_steps is None else int(max_steps),
            max_angle=math.radians(float(max_angle)),
            tol=float(tol),
        )
        if not 0 < opts.ds_min <= opts.ds <= opts.ds_max:
            raise ModelDefinitionError(
                f"Step sizes must satisfy 0 < ds_min <= ds <= ds_max; got ds_min = "
                f"{opts.ds_min}, ds = {opts.ds}, ds_max = {opts.ds_max}."
            )
        if opts.max_steps < 1:
            raise ModelDefinitionError(f"max_steps must be at least 1, got {max_steps}.")
        return opts


@dataclass
class Point:
    """An accepted (or trial) point on the curve."""

    X: np.ndarray                 # unknowns, unscaled
    V: np.ndarray                 # unit tangent in scaled coordinates
    det: tuple[float, float]      # sign and log|det| of [G_X; V^T] (scaled)
    iterations: int = 0
    data: dict[str, Any] = field(default_factory=dict)
    kind: str | None = None       # set on located special points


@dataclass
class Event:
    """A test function that changed sign between two points: ``fn(point) -> float``."""

    kind: str
    fn: Callable[[Point], float]
    fa: float
    fb: float
    info: dict[str, Any] = field(default_factory=dict)


class Curve(ABC):
    """What the engine needs to know about one kind of curve (subclasses fill it in)."""

    #: positive scale of every unknown
    scale: np.ndarray
    #: ``[(index, low, high)]``: the curve ends where ``X[index]`` leaves ``[low, high]``
    bounds: list[tuple[int, float, float]] = []
    #: a short name for messages, e.g. "equilibria of 'JR6' in 'p'"
    title: str = "curve"
    #: special points where the curve ends: ``{kind: why}``
    terminal: dict[str, str] = {}

    @abstractmethod
    def residual(self, X: np.ndarray) -> np.ndarray:
        """The defining equations of the curve at ``X`` (unknowns and parameters)."""

    @abstractmethod
    def jacobian(self, X: np.ndarray) -> np.ndarray:
        """Their Jacobian with respect to ``X``."""

    def analyse(self, point: Point) -> dict[str, Any]:
        """Data recorded at an accepted point (eigenvalues, test functions, ...)."""
        return {}

    def events(self, a: Point, b: Point) -> list[Event]:
        """Test functions that changed sign between ``a`` and ``b``."""
        return []

    def accept_special(self, point: Point) -> bool:
        """Whether a located point really is a special point of its kind."""
        return True

    def adapt(self, point: Point) -> bool:
        """Update the curve's definition (borders) at an accepted point; True if changed."""
        return False

    def where(self, X: np.ndarray) -> str:
        """``"p = 1.23 (y = ...)"``: a point, for messages."""
        return np.array2string(X, precision=6)


# -- linear algebra ---------------------------------------------------------------------------
def _scaled_jacobian(curve: Curve, X: np.ndarray):
    J = curve.jacobian(X)
    if sparse.issparse(J):
        return sparse.csr_matrix(J) @ sparse.diags(curve.scale)
    return J * curve.scale


def _bordered(D, V: np.ndarray):
    """``[D; V^T]``: dense, or sparse (CSC) when ``D`` is sparse."""
    if sparse.issparse(D):
        return sparse.vstack([D, sparse.csr_matrix(V[None, :])], format="csc")
    return np.vstack([D, V])


def _splu(M):
    try:
        return splu(sparse.csc_matrix(M))
    except RuntimeError as exc:          # "Factor is exactly singular"
        raise np.linalg.LinAlgError(str(exc)) from exc


def _solve(M, rhs: np.ndarray) -> np.ndarray:
    """``M^{-1} rhs`` (raises ``LinAlgError`` for a singular ``M``)."""
    if sparse.issparse(M):
        return _splu(M).solve(np.asarray(rhs, dtype=float))
    return np.linalg.solve(M, rhs)


def _parity(perm: np.ndarray) -> int:
    """Sign of a permutation given as an index array (by its cycle decomposition)."""
    seen = np.zeros(len(perm), dtype=bool)
    sign = 1
    for i in range(len(perm)):
        if seen[i]:
            continue
        j, length = i, 0
        while not seen[j]:
            seen[j] = True
            j = perm[j]
            length += 1
        if length % 2 == 0:
            sign = -sign
    return sign


def slogdet(M) -> tuple[float, float]:
    """Sign and log|det| of a dense or sparse square matrix."""
    if not sparse.issparse(M):
        sign, logabs = np.linalg.slogdet(M)
        return float(sign), float(logabs)
    try:
        lu = _splu(M)
    except np.linalg.LinAlgError:
        return 0.0, -np.inf
    d = lu.U.diagonal()
    sign = float(np.prod(np.sign(d))) * _parity(lu.perm_r) * _parity(lu.perm_c)
    with np.errstate(divide="ignore"):
        return sign, float(np.sum(np.log(np.abs(d))))


def tangent(curve: Curve, X: np.ndarray, V: np.ndarray | None = None) -> np.ndarray:
    """The unit tangent (scaled) at ``X``, oriented along ``V`` when given."""
    D = _scaled_jacobian(curve, X)
    if V is not None:
        try:
            W = _solve(_bordered(D, V), np.append(np.zeros(D.shape[0]), 1.0))
            if np.all(np.isfinite(W)):
                return W / np.linalg.norm(W)
        except np.linalg.LinAlgError:
            pass
    if sparse.issparse(D):
        # no SVD of a large sparse matrix: border with the last unknown (the parameter), and
        # with a fixed random direction if that is singular (a fold in the parameter)
        rng = np.random.default_rng(0)
        for border in (np.eye(D.shape[1])[-1], rng.standard_normal(D.shape[1])):
            try:
                W = _solve(_bordered(D, border), np.append(np.zeros(D.shape[0]), 1.0))
            except np.linalg.LinAlgError:
                continue
            if np.all(np.isfinite(W)):
                W = W / np.linalg.norm(W)
                return -W if V is not None and W @ V < 0 else W
        raise np.linalg.LinAlgError("no tangent: the Jacobian is rank deficient")
    _, _, vt = np.linalg.svd(D)
    W = vt[-1]
    if V is not None and W @ V < 0:
        W = -W
    return W


def _det(D, V: np.ndarray) -> tuple[float, float]:
    return slogdet(_bordered(D, V))


def _finite(D) -> bool:
    return bool(np.all(np.isfinite(D.data if sparse.issparse(D) else D)))


def correct(curve: Curve, X: np.ndarray, V: np.ndarray, opts: Options) -> Point | None:
    """Moore–Penrose corrector from the prediction ``X`` with tangent ``V`` (None: failed)."""
    s = curve.scale
    X = X.copy()
    V = V.copy()
    last = np.inf
    with np.errstate(all="ignore"):
        for it in range(1, opts.max_newton + 1):
            G = curve.residual(X)
            D = _scaled_jacobian(curve, X)
            if not (np.all(np.isfinite(G)) and _finite(D)):
                return None
            M = _bordered(D, V)
            rhs = np.column_stack([np.append(G, 0.0), np.append(D @ V, 0.0)])
            try:
                sol = _solve(M, rhs)
            except np.linalg.LinAlgError:
                return None
            if not np.all(np.isfinite(sol)):
                return None
            dZ = sol[:, 0]
            W = V - sol[:, 1]
            V = W / np.linalg.norm(W)
            X = X - s * dZ
            size = np.max(np.abs(dZ) / np.maximum(1.0, np.abs(X / s)))
            if size <= opts.tol:
                break
            if it >= 3 and size > 0.5 * last:      # not converging quadratically: give up early
                return None
            last = size
        else:
            return None
        D = _scaled_jacobian(curve, X)
        if not (_finite(D) and np.all(np.isfinite(curve.residual(X)))):
            return None
        try:
            V = tangent(curve, X, V)
        except np.linalg.LinAlgError:
            return None
        return Point(X=X, V=V, det=_det(D, V), iterations=it)


def correct_fixed(curve: Curve, X: np.ndarray, fixed: int, *, max_iter: int = 50,
                  tol: float = 1e-12) -> tuple[np.ndarray | None, float]:
    """Damped Newton on ``G(X) = 0`` with ``X[fixed]`` held: the start point of a curve.

    Returns the corrected point (None if Newton failed) and the last scaled residual.
    """
    s = curve.scale
    free = np.arange(len(X)) != fixed
    X = np.array(X, dtype=float)

    def measure(X):
        G = curve.residual(X)
        return G, float(np.linalg.norm(G)) if np.all(np.isfinite(G)) else np.inf

    with np.errstate(all="ignore"):
        G, norm = measure(X)
        for _ in range(max_iter):
            if not np.isfinite(norm):
                return None, norm
            D = _scaled_jacobian(curve, X)
            if sparse.issparse(D):
                try:
                    dZ = _solve(sparse.csc_matrix(D)[:, np.flatnonzero(free)], -G)
                except np.linalg.LinAlgError:
                    break
            else:
                try:
                    dZ = np.linalg.solve(D[:, free], -G)
                except np.linalg.LinAlgError:
                    dZ = np.linalg.lstsq(D[:, free], -G, rcond=None)[0]
            lam = 1.0
            while lam > 1e-6:
                Xn = X.copy()
                Xn[free] += lam * s[free] * dZ
                Gn, nn = measure(Xn)
                if nn < (1 - 1e-4 * lam) * norm or nn == 0.0:
                    break
                lam /= 2
            else:
                break
            X, G, norm = Xn, Gn, nn
            if np.max(np.abs(lam * dZ) / np.maximum(1.0, np.abs(X[free] / s[free]))) <= tol:
                return X, norm
    D = _scaled_jacobian(curve, X)
    row = (abs(D).max(axis=1).toarray().ravel() if sparse.issparse(D)
           else np.abs(D).max(axis=1))
    scaled = float(np.max(np.abs(G) / np.where(row > 0, row, 1.0)))
    return (X if scaled <= 1e-8 else None), scaled


# -- location of special points ---------------------------------------------------------------
def locate(curve: Curve, a: Point, h_b: float, event: Event, opts: Options) -> Point | None:
    """The zero of ``event.fn`` on the curve between ``a`` (step 0) and the point at step ``h_b``.

    Illinois regula falsi on the step length; every trial point is corrected onto the curve.
    """
    lo, hi = 0.0, h_b
    f_lo, f_hi = event.fa, event.fb
    small = 1e-8 * max(abs(f_lo), abs(f_hi))      # |f| that counts as located if all else fails
    best: Point | None = None
    best_f = np.inf
    side = 0
    for _ in range(80):
        h = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
        if not lo < h < hi or not np.isfinite(h):
            h = 0.5 * (lo + hi)
        pt = correct(curve, a.X + h * curve.scale * a.V, a.V, opts)
        f = np.nan
        if pt is not None:
            pt.data = curve.analyse(pt)
            f = event.fn(pt)
        if not np.isfinite(f):
            return best if best_f <= small else None
        if abs(f) < best_f:
            best, best_f = pt, abs(f)
        if f == 0.0:
            break
        if np.sign(f) == np.sign(f_hi):
            hi, f_hi = h, f
            if side == -1:
                f_lo /= 2
            side = -1
        else:
            lo, f_lo = h, f
            if side == 1:
                f_hi /= 2
            side = 1
        if hi - lo <= 1e-13 * max(1.0, abs(h_b)):
            break
    return best


# -- the march along the curve ----------------------------------------------------------------
@dataclass
class Leg:
    """The points of one direction from the start, with special points marked by ``kind``."""

    points: list[Point]
    stop: str


def _bound_events(curve: Curve, a: Point, b: Point) -> list[Event]:
    out = []
    for idx, low, high in curve.bounds:
        for edge in (low, high):
            if np.isfinite(edge) and (a.X[idx] - edge) * (b.X[idx] - edge) < 0:
                out.append(Event("bound", lambda pt, i=idx, e=edge: pt.X[i] - e,
                                 a.X[idx] - edge, b.X[idx] - edge, {"edge": (idx, edge)}))
    return out


def _merge_coincident(curve: Curve, found: list[tuple[float, Point]]):
    """One point for events of one kind located at the same place (e.g. two Hopf pairs crossing
    together in a symmetric network); ``data["multiplicity"]`` counts them."""
    out: list[tuple[float, Point]] = []
    for dist, pt in found:
        for _, kept in out:
            if kept.kind == pt.kind and \
                    np.linalg.norm((kept.X - pt.X) / curve.scale) <= 1e-7:
                kept.data["multiplicity"] = kept.data.get("multiplicity", 1) + 1
                break
        else:
            out.append((dist, pt))
    return out


def _on_edge(curve: Curve, pt: Point, edge: tuple[int, float]) -> Point:
    """The located end point ``pt``, moved exactly onto the bound when Newton allows."""
    idx, value = edge
    pt.kind = None
    X = pt.X.copy()
    X[idx] = value
    X, _ = correct_fixed(curve, X, idx, max_iter=5)
    if X is None:
        return pt
    V = tangent(curve, X, pt.V)
    out = Point(X=X, V=V, det=_det(_scaled_jacobian(curve, X), V))
    out.data = curve.analyse(out)
    return out


def _on_bound(curve: Curve, a: Point, b: Point) -> bool:
    """``a`` lies on a bound (e.g. the start) and ``b`` beyond it."""
    for idx, low, high in curve.bounds:
        if (a.X[idx] <= low and b.X[idx] < low) or (a.X[idx] >= high and b.X[idx] > high):
            return True
    return False


def march(curve: Curve, start: Point, opts: Options, *, direction: int,
          describe: Callable[[Point], str]) -> Leg:
    """Continue from ``start`` along ``direction * start.V`` until a bound, ``max_steps``, a
    closed loop or divergence; raise :class:`ContinuationError` if the step size underflows."""
    # flipping the tangent flips the sign of det [G_X; V^T]
    a = Point(X=start.X, V=direction * start.V, det=(direction * start.det[0], start.det[1]),
              data=start.data)
    if curve.adapt(a):      # each leg starts from the borders of the start point
        a.V = tangent(curve, a.X, a.V)
        a.det = _det(_scaled_jacobian(curve, a.X), a.V)
    points = [a]
    h = opts.ds
    steps = 0
    while True:
        if steps >= opts.max_steps:
            return Leg(points, f"max_steps = {opts.max_steps} reached")
        b = correct(curve, a.X + h * curve.scale * a.V, a.V, opts)
        why = "the corrector (Newton on the bordered system) did not converge"
        if b is not None:
            turn = float(np.clip(a.V @ b.V, -1.0, 1.0))
            dist = np.linalg.norm((b.X - a.X) / curve.scale)
            if turn < math.cos(opts.max_angle):
                why = (f"the tangent turned by {math.degrees(math.acos(turn)):.3g} degrees "
                       f"(max_angle = {math.degrees(opts.max_angle):.3g})")
                b = None
            elif dist > 2.0 * h:
                why = "the corrector jumped further than twice the step"
                b = None
        if b is None:
            if h <= opts.ds_min * (1 + 1e-12):
                raise _StepFailure(points, why)
            h = max(0.5 * h, opts.ds_min)
            continue
        if _on_bound(curve, a, b):
            return Leg(points, "bound reached")
        b.data = curve.analyse(b)
        events = curve.events(a, b) + _bound_events(curve, a, b)
        found = []
        ev_edges = {}
        for ev in events:
            pt = locate(curve, a, h, ev, opts)
            if pt is None:
                if ev.kind in curve.terminal:     # the curve ends within the step: stop at a
                    return Leg(points, f"{ev.kind} point reached: {curve.terminal[ev.kind]} "
                                       f"(between {describe(a)} and {describe(b)})")
                # a tentative event (e.g. a pair that became real within the step) may be none
                level = logging.DEBUG if ev.info.get("tentative") else logging.WARNING
                log.log(level, "%s: could not locate the %s between %s and %s", curve.title,
                        ev.kind, describe(a), describe(b))
                continue
            pt.kind = ev.kind
            if ev.kind == "bound":
                ev_edges[id(pt)] = ev.info["edge"]
            if ev.kind == "bound" or curve.accept_special(pt):
                found.append((float(np.linalg.norm((pt.X - a.X) / curve.scale)), pt))
        found.sort(key=lambda item: item[0])
        found = _merge_coincident(curve, found)
        for _, pt in found:
            if pt.kind == "bound":
                points.append(_on_edge(curve, pt, ev_edges[id(pt)]))
                return Leg(points, "bound reached")
            points.append(pt)
            if pt.kind in curve.terminal:
                return Leg(points, f"{pt.kind} point reached: {curve.terminal[pt.kind]}")
        points.append(b)
        steps += 1
        if curve.adapt(b):
            b.V = tangent(curve, b.X, b.V)
        Zb = b.X / curve.scale
        if not np.all(np.abs(Zb) < 1e8):
            return Leg(points, "the curve diverges (|X / scale| > 1e8)")
        # (measured in the current scale: a curve may rescale itself as it goes)
        if steps > 3 and np.linalg.norm(Zb - start.X / curve.scale) < h \
                and b.V @ (direction * start.V) > 0.9:
            return Leg(points, "closed curve: returned to the start point")
        if b.iterations <= 3:
            h = min(1.3 * h, opts.ds_max)
        a = b


class _StepFailure(Exception):
    def __init__(self, points: list[Point], why: str) -> None:
        super().__init__(why)
        self.points = points
        self.why = why


def run(curve: Curve, start: Point, opts: Options, *, directions: tuple[int, ...] = (1, -1),
        describe: Callable[[Point], str]) -> tuple[list[Point], dict[str, str], dict | None]:
    """Both legs from ``start``: the points in curve order and each leg's stop reason.

    Returns ``(points, stops, failure)``: ``failure`` is None, or ``{"direction", "why",
    "point"}`` of a leg whose step size underflowed (its points are still included).
    """
    legs: dict[int, Leg] = {}
    failure = None
    for d in directions:
        try:
            legs[d] = march(curve, start, opts, direction=d, describe=describe)
        except _StepFailure as exc:
            legs[d] = Leg(exc.points, f"failed: {exc.why}")
            if failure is None:
                failure = {"direction": d, "why": exc.why, "point": exc.points[-1]}
        if legs[d].stop.startswith("closed"):
            break
    forward = legs.get(1, Leg([start], "")).points
    backward = legs.get(-1, Leg([start], "")).points
    points = backward[::-1] + forward[1:]
    for p in backward:                 # tangents of the backward leg point backwards
        p.V = -p.V
        p.det = (-p.det[0], p.det[1])
    names = {1: "forward", -1: "backward"}
    stops = {names[d]: leg.stop for d, leg in legs.items()}
    return points, stops, failure
