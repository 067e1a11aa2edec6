"""Fold and Hopf curves in two parameters, with their codimension-two points.

**Fold curve** (minimally augmented system, Govaerts / MatCont): unknowns ``(y, p1, p2)``,
equations ``f(y, p) = 0`` and ``g(y, p) = 0``, where ``g`` is the last component of the solution
of the bordered system ``[A b; c^T 0] [v; g] = [0; 1]`` (``A = f_y``); ``g = 0`` exactly where
``A`` is singular. Its derivatives are ``g_z = -w^T A_z v`` with ``[A^T c; b^T 0] [w; g] =
[0; 1]``, evaluated with the exact second derivatives. The borders are set to the current null
vectors after every step. Test functions: ``CP`` where ``w^T B(v, v)`` (the fold coefficient up to
a factor) changes sign, ``BT`` where ``w^T v`` does, ``ZH`` where a complex pair crosses the
imaginary axis.

**Hopf curve** (Kuznetsov §10.2.2, a real formulation that stays regular through
Bogdanov–Takens points): unknowns ``(y, p1, p2, v, kappa)``, equations ``f = 0``,
``(A^2 + kappa I) v = 0``, ``v.v = 1`` and ``w0.v = 0``, with ``w0`` the part of ``A v``
orthogonal to ``v`` at the previous point (it fixes ``v`` within the two-dimensional eigenspace).
On a Hopf curve ``kappa = omega^2 > 0``; beyond a Bogdanov–Takens point (``kappa = 0``) the
solution curve continues as neutral saddles (``kappa < 0``), so the Hopf curve ends there.
Test functions: ``BT`` where ``kappa`` changes sign, ``GH`` where the first Lyapunov coefficient
does, ``ZH`` where ``det A`` does (a real eigenvalue crossing zero) without a ``BT``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..derivatives import ParametricSystem
from ..normal_forms import (
    bogdanov_takens_coefficients,
    cusp_coefficient,
    hopf_vectors,
    lyapunov_coefficient,
)
from .branch import Branch
from .engine import Curve, Event, Point
from .equilibria import (
    crossing_pairs,
    det_event,
    hopf_event,
    omega_tolerance,
    sorted_eigenvalues,
)

__all__ = ["FoldCurve", "HopfCurve"]


def _sign_event(kind: str, key: str, a: Point, b: Point) -> Event | None:
    fa, fb = a.data.get(key, np.nan), b.data.get(key, np.nan)
    if np.isfinite(fa) and np.isfinite(fb) and fa * fb < 0:
        return Event(kind, lambda pt: float(pt.data.get(key, np.nan)), fa, fb)
    return None


def _stable_without(ev: np.ndarray, drop: np.ndarray) -> bool:
    keep = np.ones(len(ev), dtype=bool)
    keep[drop] = False
    return bool(np.all(ev[keep].real < 0))


class _TwoParameterCurve(Curve):
    def __init__(self, ps: ParametricSystem, slots, base: np.ndarray, lims, title: str) -> None:
        self.ps = ps
        self.n = ps.n
        self.slots = [list(s) for s in slots]
        self.base = base.copy()
        self.pds = [ps.parameter(s) for s in slots]
        self.title = title
        self.bounds = [(self.n + k, float(lo), float(hi)) for k, (lo, hi) in enumerate(lims)]

    def params(self, X: np.ndarray) -> np.ndarray:
        p = self.base.copy()
        p[self.slots[0]] = X[self.n]
        p[self.slots[1]] = X[self.n + 1]
        return p

    def _special_data(self, pt: Point, y, p) -> dict[str, Any]:
        return {}

    def branch(self, system, names, points: list[Point], stops, make_special) -> Branch:
        n = self.n
        X = np.array([pt.X for pt in points])
        specials = []
        for i, pt in enumerate(points):
            if pt.kind is None:
                continue
            y, p = pt.X[:n], self.params(pt.X)
            extra = self._special_data(pt, y, p)
            parameter = {names[0]: float(pt.X[n]), names[1]: float(pt.X[n + 1])}
            specials.append(make_special(system, self.ps, pt.kind, parameter, y, p,
                                         pt.data["eigenvalues"], i, parameters=tuple(names),
                                         **extra))
        freq = None
        if isinstance(self, HopfCurve):
            kappa = X[:, -1]
            freq = np.where(kappa > 0, np.sqrt(np.abs(kappa)), np.nan) / (2 * np.pi)
        return Branch(
            system=system, kind=self.kind, parameters=names, parameter=X[:, n:n + 2],
            states=X[:, :n], stable=np.array([pt.data["stable"] for pt in points]),
            eigenvalues=np.array([pt.data["eigenvalues"] for pt in points]),
            special_points=specials, stop_reasons=stops, frequency=freq,
            params=np.array([self.params(pt.X) for pt in points]),
        )


class FoldCurve(_TwoParameterCurve):
    """Folds of equilibria in two parameters (minimally augmented system)."""

    kind = "LP"

    def __init__(self, ps, slots, base, scale, lims, title, A0: np.ndarray) -> None:
        super().__init__(ps, slots, base, lims, title)
        self.scale = scale
        U, _, Vh = np.linalg.svd(A0)
        self.b = U[:, -1].copy()
        self.c = Vh[-1].copy()

    def _bordered(self, A: np.ndarray):
        n = self.n
        M = np.zeros((n + 1, n + 1))
        M[:n, :n] = A
        M[:n, n] = self.b
        M[n, :n] = self.c
        e = np.zeros(n + 1)
        e[n] = 1.0
        vg = np.linalg.solve(M, e)
        wg = np.linalg.solve(M.T, e)
        return vg[:n], wg[:n], vg[n]

    def residual(self, X: np.ndarray) -> np.ndarray:
        y, p = X[:self.n], self.params(X)
        A = self.ps.jacobian(y, p)
        _, _, g = self._bordered(A)
        return np.append(self.ps.f(y, p), g)

    def jacobian(self, X: np.ndarray) -> np.ndarray:
        n = self.n
        y, p = X[:n], self.params(X)
        A = self.ps.jacobian(y, p)
        v, w, _ = self._bordered(A)
        D = np.zeros((n + 1, n + 2))
        D[:n, :n] = A
        D[n, :n] = -(w @ self.ps.hessian_matrix(y, p, v))
        for k, pd in enumerate(self.pds):
            D[:n, n + k] = pd.f_p(y, p)
            D[n, n + k] = -(w @ (pd.J_p(y, p) @ v))
        return D

    def analyse(self, point: Point) -> dict[str, Any]:
        y, p = point.X[:self.n], self.params(point.X)
        A = self.ps.jacobian(y, p)
        ev = sorted_eigenvalues(A)
        v, w, _ = self._bordered(A)
        return {
            "A": A, "eigenvalues": ev, "v": v, "w": w,
            "stable": _stable_without(ev, np.argsort(np.abs(ev))[:1]),
            "CP": float(w @ self.ps.B(y, p, v, v)) / float(np.linalg.norm(v) ** 2),
            "BT": float(w @ v) / float(np.linalg.norm(v) * np.linalg.norm(w)),
        }

    def events(self, a: Point, b: Point) -> list[Event]:
        out = [e for e in (_sign_event("CP", "CP", a, b), _sign_event("BT", "BT", a, b)) if e]
        for la, lb in crossing_pairs(a.data["eigenvalues"], b.data["eigenvalues"]):
            out.append(hopf_event("ZH", la, lb))
        return out

    def accept_special(self, point: Point) -> bool:
        if point.kind != "ZH":
            return True
        lam = point.data.get("critical")
        return lam is not None and lam.imag > 100 * omega_tolerance(point.data["eigenvalues"])

    def adapt(self, point: Point) -> bool:
        v, w = point.data["v"], point.data["w"]
        self.c = v / np.linalg.norm(v)
        self.b = w / np.linalg.norm(w)
        return True

    def _special_data(self, pt: Point, y, p) -> dict[str, Any]:
        A = pt.data["A"]
        if pt.kind == "CP":
            return {"normal_form": {"c": cusp_coefficient(self.ps, y, p, A)}}
        if pt.kind == "BT":
            a, b = bogdanov_takens_coefficients(self.ps, y, p, A)
            return {"normal_form": {"a": a, "b": b}}
        if pt.kind == "ZH":
            omega = pt.data["critical"].imag
            return {"frequency": omega / (2 * np.pi), "normal_form": {"omega": omega}}
        return {}


class HopfCurve(_TwoParameterCurve):
    """Hopf points of equilibria in two parameters (``(A^2 + kappa) v = 0`` formulation)."""

    kind = "HB"
    terminal = {"BT": "beyond it the curve continues as neutral saddles, which are not Hopf "
                      "points"}

    def __init__(self, ps, slots, base, state_scale, spans, lims, title, y0, A0, omega):
        super().__init__(ps, slots, base, lims, title)
        n = self.n
        self.scale = np.concatenate([np.full(n, state_scale), spans, np.ones(n),
                                     [max(omega ** 2, 1e-12)]])
        self.w0 = np.zeros(n)

    def initial(self, y0, lam, A, omega) -> np.ndarray:
        q, _ = hopf_vectors(A, omega)
        v = q.real if np.linalg.norm(q.real) >= np.linalg.norm(q.imag) else q.imag
        v = v / np.linalg.norm(v)
        self._set_w0(A, v)
        return np.concatenate([y0, lam, v, [omega ** 2]])

    def _set_w0(self, A, v) -> None:
        Av = A @ v
        w0 = Av - (v @ Av) * v
        self.w0 = w0 / np.linalg.norm(w0)

    def _split(self, X):
        n = self.n
        return X[:n], self.params(X), X[n + 2:2 * n + 2], X[-1]

    def residual(self, X: np.ndarray) -> np.ndarray:
        y, p, v, kappa = self._split(X)
        A = self.ps.jacobian(y, p)
        return np.concatenate([self.ps.f(y, p), A @ (A @ v) + kappa * v,
                               [v @ v - 1.0, self.w0 @ v]])

    def jacobian(self, X: np.ndarray) -> np.ndarray:
        n = self.n
        y, p, v, kappa = self._split(X)
        ps = self.ps
        A = ps.jacobian(y, p)
        Av = A @ v
        D = np.zeros((2 * n + 2, 2 * n + 3))
        D[:n, :n] = A
        D[n:2 * n, :n] = ps.hessian_matrix(y, p, Av) + A @ ps.hessian_matrix(y, p, v)
        for k, pd in enumerate(self.pds):
            D[:n, n + k] = pd.f_p(y, p)
            Jp = pd.J_p(y, p)
            D[n:2 * n, n + k] = Jp @ Av + A @ (Jp @ v)
        D[n:2 * n, n + 2:2 * n + 2] = A @ A + kappa * np.eye(n)
        D[n:2 * n, -1] = v
        D[2 * n, n + 2:2 * n + 2] = 2 * v
        D[2 * n + 1, n + 2:2 * n + 2] = self.w0
        return D

    def analyse(self, point: Point) -> dict[str, Any]:
        y, p, v, kappa = self._split(point.X)
        A = self.ps.jacobian(y, p)
        ev = sorted_eigenvalues(A)
        sign, logabs = np.linalg.slogdet(A)
        data = {"A": A, "eigenvalues": ev, "kappa": float(kappa), "det": (sign, logabs),
                "stable": _stable_without(ev, np.argsort(np.abs(ev.real))[:2])}
        if kappa > 0:
            data["GH"] = lyapunov_coefficient(self.ps, y, p, A, float(np.sqrt(kappa)))
        return data

    def events(self, a: Point, b: Point) -> list[Event]:
        out = []
        bt = _sign_event("BT", "kappa", a, b)
        if bt:
            out.append(bt)
        gh = _sign_event("GH", "GH", a, b)
        if gh:
            out.append(gh)
        if not bt and a.data["det"][0] * b.data["det"][0] < 0:
            out.append(det_event("ZH", a, b, key=lambda pt: pt.data["det"]))
        return out

    def adapt(self, point: Point) -> bool:
        y, p, v, _ = self._split(point.X)
        self._set_w0(point.data["A"], v)
        return True

    def _special_data(self, pt: Point, y, p) -> dict[str, Any]:
        kappa = pt.data["kappa"]
        A = pt.data["A"]
        if pt.kind == "BT":
            a, b = bogdanov_takens_coefficients(self.ps, y, p, A)
            return {"normal_form": {"a": a, "b": b}}
        omega = float(np.sqrt(max(kappa, 0.0)))
        if pt.kind == "GH":
            return {"frequency": omega / (2 * np.pi), "normal_form": {"omega": omega}}
        if pt.kind == "ZH":
            return {"frequency": omega / (2 * np.pi), "normal_form": {"omega": omega}}
        return {}
