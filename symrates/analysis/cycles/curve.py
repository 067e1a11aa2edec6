"""The curve of periodic orbits in one parameter, for the pseudo-arclength engine.

Unknowns ``X = (node values, T, parameter)``; equations: the collocation system (collocation,
periodicity, integral phase condition against the last accepted orbit). At every accepted point
the curve adapts its mesh to the orbit (nodes and tangent are interpolated onto the new mesh),
renews the phase reference and the scaling.

Test functions between consecutive points ``a`` and ``b``:

* ``LPC`` (fold of cycles): the parameter component of the tangent changes sign;
* ``PD`` (period doubling): ``prod_k (mu_k + 1) / (|mu_k| + 1)`` changes sign, i.e. a real
  multiplier crosses -1;
* ``NS`` (Neimark–Sacker): a multiplier with positive imaginary part, followed from ``a`` to ``b``
  by an optimal assignment of the multipliers, crosses the unit circle;
* the end of the branch where the orbit shrinks onto an equilibrium, another Hopf point: the
  projection of the orbit's deviation from its mean onto that of ``a`` changes sign (a step
  passed through zero amplitude, beyond which the same orbits come back shifted by half a
  period), or the amplitude falls below a small fraction of the amplitude at the start.

A located special point is accepted only where the orbit is resolved (a multiplier within 1e-3
of the trivial 1) and the multipliers confirm it: two near 1 at an ``LPC``, a real one at -1 at
a ``PD``, a complex pair on the unit circle at an ``NS``. This rejects the spurious sign changes of
the test functions on nearly vertical stretches of a branch (a canard explosion).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..continuation.engine import Curve, Event, Point
from ..derivatives import ParametricSystem
from .collocation import Collocation, VectorField
from .solve import Solution, analyse

__all__ = ["CycleCurve", "amplitude"]


def amplitude(data: dict, weights: np.ndarray) -> float:
    """Largest swing of a variable over the orbit, relative to the variable's weight."""
    return float(np.max((data["maximum"] - data["minimum"]) / weights))


class CycleCurve(Curve):
    """Periodic orbits of ``ps`` with the parameter occupying ``slots`` free."""

    terminal = {"END": "the orbits shrink onto an equilibrium (a Hopf point)"}

    def __init__(self, ps: ParametricSystem, slots: tuple[int, ...], base: np.ndarray,
                 col: Collocation, x: np.ndarray, span: float,
                 bounds: tuple[float, float], max_period: float, title: str,
                 describe) -> None:
        self.ps = ps
        self.field = VectorField.of(ps)
        self.n = ps.n
        self.slots = tuple(slots)
        self.base = base.copy()
        self.col = col
        self.span = float(span)
        self.title = title
        self.describe = describe
        self.size = col.size
        self.bounds = [(self.size + 1, float(bounds[0]), float(bounds[1])),
                       (self.size, 0.0, float(max_period))]
        self.max_period = float(max_period)
        self.ref_dot = col.at_gauss(x)[1]
        self.amp_min = 0.0          # set by the caller once the start orbit is known
        self.amp_weights: np.ndarray | None = None   # fixed weights of the amplitude measure
        self.amp_max = 0.0
        self.weights = np.ones(self.n)
        self.scale = self._scale(x, 1.0)

    # -- unknowns ----------------------------------------------------------------------------
    def split(self, X: np.ndarray) -> tuple[np.ndarray, float, float]:
        return X[:self.size].reshape(-1, self.n), float(X[self.size]), float(X[self.size + 1])

    def pack(self, x: np.ndarray, T: float, lam: float) -> np.ndarray:
        return np.concatenate([x.ravel(), [T, lam]])

    def params(self, X: np.ndarray) -> np.ndarray:
        p = self.base.copy()
        p[list(self.slots)] = X[self.size + 1]
        return p

    def _scale(self, x: np.ndarray, T: float) -> np.ndarray:
        w = np.max(np.abs(x), axis=0)
        w = np.maximum(w, max(0.1 * float(w.max(initial=0.0)), 1e-9))
        self.weights = w
        nodes = np.tile(w * np.sqrt(self.col.n_nodes), self.col.n_nodes)
        return np.concatenate([nodes, [abs(T), self.span]])

    # -- equations ---------------------------------------------------------------------------
    def residual(self, X: np.ndarray) -> np.ndarray:
        x, T, _ = self.split(X)
        return self.col.residual(self.field, x, T, self.params(X), self.ref_dot)

    def jacobian(self, X: np.ndarray):
        x, T, _ = self.split(X)
        return self.col.jacobian(self.field, x, T, self.params(X), self.ref_dot, self.slots)

    def solution(self, X: np.ndarray, mesh: np.ndarray | None = None) -> Solution:
        x, T, _ = self.split(X)
        col = self.col if mesh is None else Collocation(self.n, self.col.ntst, self.col.m, mesh)
        return Solution(col, x, T)

    def analyse(self, point: Point) -> dict[str, Any]:
        data = analyse(self.field, self.solution(point.X), self.params(point.X))
        data.pop("A", None)
        data["mesh"] = self.col.mesh.copy()
        w = self.amp_weights if self.amp_weights is not None else self.weights
        data["amplitude"] = amplitude(data, w)
        self.amp_max = max(self.amp_max, data["amplitude"])
        return data

    # -- adaptation --------------------------------------------------------------------------
    def adapt(self, point: Point) -> bool:
        data = point.data
        if "scale" in data:                      # a point adapted before: restore its setting
            self.col = Collocation(self.n, self.col.ntst, self.col.m, data["mesh"])
            x, T, _ = self.split(point.X)
            self.ref_dot = self.col.at_gauss(x)[1]
            self.scale = data["scale"].copy()
            self.weights = data["weights"].copy()
            return True
        x, T, lam = self.split(point.X)
        dX = point.V * self.scale
        mesh = self.col.adapted_mesh(x, self.weights)
        if np.max(np.abs(np.diff(mesh) / self.col.h - 1.0)) > 0.1:
            new, x = self.col.remeshed(x, mesh)
            _, dx = self.col.remeshed(dX[:self.size].reshape(-1, self.n), mesh)
            self.col = new
            point.X = self.pack(x, T, lam)
            dX = np.concatenate([dx.ravel(), dX[self.size:]])
        self.ref_dot = self.col.at_gauss(x)[1]
        self.scale = self._scale(x, T)
        V = dX / self.scale
        point.V = V / np.linalg.norm(V)
        data["mesh"] = self.col.mesh.copy()
        data["scale"] = self.scale.copy()
        data["weights"] = self.weights.copy()
        return True

    # -- test functions ----------------------------------------------------------------------
    def events(self, a: Point, b: Point) -> list[Event]:
        amp_a, amp_b = a.data["amplitude"], b.data["amplitude"]
        flip = self._flip(a)
        if flip(b) < 0 and min(amp_a, amp_b) < 0.1 * self.amp_max:
            return [Event("END", flip, 1.0, flip(b))]
        if amp_b < self.amp_min <= amp_a:
            return [Event("END", lambda pt: pt.data["amplitude"] - self.amp_min,
                          amp_a - self.amp_min, amp_b - self.amp_min)]
        out = []
        i = self.size + 1
        if a.V[i] * b.V[i] < 0:
            out.append(Event("LPC", lambda pt: float(pt.V[i]), a.V[i], b.V[i]))
        fa, fb = _pd(a), _pd(b)
        if fa * fb < 0:
            out.append(Event("PD", _pd, fa, fb))
        for ma, mb in _ns_crossings(a.data["multipliers"], b.data["multipliers"]):
            out.append(_ns_event(ma, mb))
        return out

    def _flip(self, a: Point):
        """``int <x - mean x, u - mean u> / int |u - mean u|^2`` with ``u`` the orbit of ``a``
        (all on the current mesh): 1 at ``a``, negative once the orbit has passed through zero
        amplitude."""
        col = self.col

        def deviation(X):
            xc, _ = col.at_gauss(self.split(X)[0])
            return (xc - col.integral(xc)) / self.weights

        u = deviation(a.X)
        norm = col.integral(np.einsum("jcn,jcn->jc", u, u))

        def fn(pt: Point) -> float:
            return float(col.integral(np.einsum("jcn,jcn->jc", deviation(pt.X), u)) / norm)

        return fn

    def accept_special(self, point: Point) -> bool:
        mu = point.data["multipliers"]
        if point.kind == "END":
            return True
        if not np.any(np.abs(mu - 1.0) < 1e-3):      # orbit not resolved: no trivial multiplier
            return False
        if point.kind == "LPC":
            return bool(np.sum(np.abs(mu - 1.0) < 5e-2) >= 2)
        if point.kind == "PD":
            real = np.abs(mu.imag) <= 1e-6 * np.maximum(1.0, np.abs(mu))
            return bool(np.any(real & (np.abs(mu + 1.0) < 1e-3)))
        if point.kind == "NS":
            crit = point.data.get("critical")
            return crit is not None and abs(abs(crit) - 1.0) < 1e-4 and crit.imag > 1e-6
        return True

    def where(self, X: np.ndarray) -> str:
        return self.describe(X)


def _pd(pt: Point) -> float:
    mu = pt.data["multipliers"]
    return float(np.real(np.prod((mu + 1.0) / (np.abs(mu) + 1.0))))


def _ns_crossings(ma: np.ndarray, mb: np.ndarray) -> list[tuple[complex, complex]]:
    rows, cols = linear_sum_assignment(np.abs(ma[:, None] - mb[None, :]))
    out = []
    for i, j in zip(rows, cols):
        a, b = ma[i], mb[j]
        tol = 1e-6 * max(1.0, abs(a), abs(b))
        if min(a.imag, b.imag) > tol and (abs(a) - 1.0) * (abs(b) - 1.0) < 0:
            out.append((complex(a), complex(b)))
    return out


def _ns_event(ma: complex, mb: complex) -> Event:
    ref = [0.5 * (ma + mb)]

    def fn(pt: Point) -> float:
        mu = pt.data["multipliers"]
        upper = mu[mu.imag > 0]
        if upper.size == 0:
            return float("nan")
        m = upper[np.argmin(np.abs(upper - ref[0]))]
        ref[0] = m
        pt.data["critical"] = complex(m)
        return float(abs(m) - 1.0)

    return Event("NS", fn, abs(ma) - 1.0, abs(mb) - 1.0)
