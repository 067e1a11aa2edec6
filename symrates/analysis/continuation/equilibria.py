"""The curve of equilibria ``f(y, p) = 0`` in one parameter, with its test functions.

Unknowns ``X = (y, p)``. Test functions between consecutive points ``a``, ``b``:

* ``LP`` (fold): the parameter component of the tangent changes sign;
* ``BP`` (branch point): ``det [f_X; V^T]`` changes sign (it does not at a regular fold);
* ``HB`` (Hopf): an eigenvalue with positive imaginary part, followed from ``a`` to ``b`` by an
  optimal assignment of the eigenvalues of both points, changes the sign of its real part. A pair
  of real eigenvalues ``±lambda`` (a neutral saddle, where the bialternate-product test of other
  codes also vanishes) never triggers it: no eigenvalue crosses the imaginary axis there.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..derivatives import ParametricSystem
from .engine import Curve, Event, Point

__all__ = ["EquilibriumCurve", "sorted_eigenvalues", "crossing_pairs", "omega_tolerance"]


def sorted_eigenvalues(A: np.ndarray) -> np.ndarray:
    """Eigenvalues by decreasing real part (then decreasing imaginary part)."""
    ev = np.linalg.eigvals(A)
    return ev[np.lexsort((-ev.imag, -ev.real))]


def omega_tolerance(ev: np.ndarray) -> float:
    """Below this imaginary part an eigenvalue counts as real."""
    return 1e-7 * max(1.0, float(np.abs(ev).max(initial=0.0)))


def crossing_pairs(ev_a: np.ndarray, ev_b: np.ndarray) -> list[tuple[complex, complex]]:
    """Eigenvalues in the upper half plane whose real part changes sign from ``a`` to ``b``,
    each as ``(value at a, value at b)``, after matching the two spectra by least distance."""
    if len(ev_a) == 0:
        return []
    tol = max(omega_tolerance(ev_a), omega_tolerance(ev_b))
    rows, cols = linear_sum_assignment(np.abs(ev_a[:, None] - ev_b[None, :]))
    out = []
    for i, j in zip(rows, cols):
        la, lb = ev_a[i], ev_b[j]
        if min(la.imag, lb.imag) > -tol and max(la.imag, lb.imag) > tol \
                and la.real * lb.real < 0:
            out.append((complex(la), complex(lb)))
    return out


def hopf_event(kind: str, la: complex, lb: complex) -> Event:
    """Event following the eigenvalue that crosses the imaginary axis between ``la`` and ``lb``."""
    ref = [0.5 * (la + lb)]

    def fn(pt: Point) -> float:
        ev = pt.data["eigenvalues"]
        upper = ev[ev.imag > 0]
        if upper.size == 0:
            return float("nan")
        lam = upper[np.argmin(np.abs(upper - ref[0]))]
        ref[0] = lam
        pt.data["critical"] = complex(lam)
        return float(lam.real)

    tol = 1e-7 * max(1.0, abs(la), abs(lb))
    # one end real: the pair may have collided on the real axis rather than crossed
    return Event(kind, fn, la.real, lb.real, {"tentative": min(la.imag, lb.imag) <= tol})


def det_event(kind: str, a: Point, b: Point, key=None) -> Event:
    """Event on the sign of a determinant stored as ``(sign, log|det|)``, scaled by ``a``'s."""
    get = key or (lambda pt: pt.det)
    ref = get(a)[1]

    def fn(pt: Point) -> float:
        sign, logabs = get(pt)
        return float(sign * np.exp(logabs - ref))

    return Event(kind, fn, fn(a), fn(b))


class EquilibriumCurve(Curve):
    """Equilibria of ``ps`` with the parameter in ``slots`` free (all slots move together)."""

    def __init__(self, ps: ParametricSystem, slots: tuple[int, ...], base: np.ndarray,
                 scale: np.ndarray, bounds: tuple[float, float], title: str) -> None:
        self.ps = ps
        self.n = ps.n
        self.slots = list(slots)
        self.base = base.copy()
        self.pd = ps.parameter(slots)
        self.scale = scale
        self.bounds = [(self.n, float(bounds[0]), float(bounds[1]))]
        self.title = title

    def params(self, X: np.ndarray) -> np.ndarray:
        p = self.base.copy()
        p[self.slots] = X[self.n]
        return p

    def residual(self, X: np.ndarray) -> np.ndarray:
        return self.ps.f(X[:self.n], self.params(X))

    def jacobian(self, X: np.ndarray) -> np.ndarray:
        y, p = X[:self.n], self.params(X)
        return np.column_stack([self.ps.jacobian(y, p), self.pd.f_p(y, p)])

    def analyse(self, point: Point) -> dict[str, Any]:
        y, p = point.X[:self.n], self.params(point.X)
        A = self.ps.jacobian(y, p)
        ev = sorted_eigenvalues(A)
        return {"A": A, "eigenvalues": ev, "stable": bool(np.all(ev.real < 0))}

    def events(self, a: Point, b: Point) -> list[Event]:
        out = []
        n = self.n
        if a.V[n] * b.V[n] < 0:
            out.append(Event("LP", lambda pt: float(pt.V[n]), a.V[n], b.V[n]))
        if a.det[0] * b.det[0] < 0:
            out.append(det_event("BP", a, b))
        for la, lb in crossing_pairs(a.data["eigenvalues"], b.data["eigenvalues"]):
            out.append(hopf_event("HB", la, lb))
        return out

    def accept_special(self, point: Point) -> bool:
        if point.kind != "HB":
            return True
        lam = point.data.get("critical")
        ev = point.data["eigenvalues"]
        # a Hopf point has a genuinely complex pair on the imaginary axis
        return lam is not None and lam.imag > 100 * omega_tolerance(ev) \
            and abs(lam.real) <= 1e-6 * max(1.0, abs(lam))
