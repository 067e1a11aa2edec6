"""Newton's method on the collocation system at fixed parameters, with mesh adaptation, and the
quantities every computed orbit carries (multipliers, extrema)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse.linalg import splu

from .collocation import Collocation, VectorField
from .floquet import magnus_transfer, multipliers, transfer_matrices, trivial_index

__all__ = ["Solution", "newton", "correct_orbit", "analyse"]


@dataclass
class Solution:
    """A collocated orbit: discretisation, node values ``x`` ``(n_nodes, n)`` and period."""

    col: Collocation
    x: np.ndarray
    T: float


def _weights(x: np.ndarray) -> np.ndarray:
    """Per-variable scale of an orbit: its largest magnitude (floored relative to the others)."""
    w = np.max(np.abs(x), axis=0)
    return np.maximum(w, max(1e-3 * float(w.max(initial=0.0)), 1e-12))


def newton(field: VectorField, sol: Solution, p: np.ndarray, ref_dot: np.ndarray, *,
           tol: float = 1e-11, max_iter: int = 30) -> tuple[Solution | None, float]:
    """Damped Newton on (nodes, period) at parameters ``p``; None if it fails.

    Returns the solution and the last relative step.
    """
    col = sol.col
    x, T = sol.x.copy(), float(sol.T)
    w = _weights(x)
    step = np.inf

    def norm(r):
        return float(np.linalg.norm(r)) if np.all(np.isfinite(r)) else np.inf

    with np.errstate(all="ignore"):
        r = col.residual(field, x, T, p, ref_dot)
        rn = norm(r)
        for _ in range(max_iter):
            if not np.isfinite(rn):
                return None, step
            J = col.jacobian(field, x, T, p, ref_dot)
            try:
                d = splu(J.tocsc()).solve(-r)
            except RuntimeError:
                return None, step
            if not np.all(np.isfinite(d)):
                return None, step
            dx, dT = d[:-1].reshape(x.shape), d[-1]
            lam = 1.0
            while lam > 1e-4:
                xn, Tn = x + lam * dx, T + lam * dT
                if Tn > 0:
                    rn_new = norm(col.residual(field, xn, Tn, p, ref_dot))
                    if rn_new < (1 - 1e-4 * lam) * rn or rn_new < 1e-14:
                        break
                lam /= 2
            else:
                return None, step
            x, T, r, rn = xn, Tn, col.residual(field, xn, Tn, p, ref_dot), rn_new
            step = max(float(np.max(np.abs(lam * dx) / w)), abs(lam * dT) / T)
            if step <= tol:
                return Solution(col, x, T), step
    return None, step


def reference(col: Collocation, x: np.ndarray) -> np.ndarray:
    """``du/dtau`` of the orbit ``x`` at the Gauss points: the phase condition's reference."""
    return col.at_gauss(x)[1]


def correct_orbit(field: VectorField, sol: Solution, p: np.ndarray, *,
                  rounds: int = 3) -> Solution | None:
    """Newton from ``sol`` with the phase fixed against ``sol`` itself, then mesh adaptation
    and Newton again until the mesh settles."""
    current = sol
    for k in range(rounds + 1):
        out, _ = newton(field, current, p, reference(current.col, current.x))
        if out is None:
            return None if k == 0 else current
        current = out
        if k == rounds:
            break
        mesh = current.col.adapted_mesh(current.x, _weights(current.x))
        if np.max(np.abs(np.diff(mesh) / current.col.h - 1.0)) < 0.05 and k > 0:
            break
        col, x = current.col.remeshed(current.x, mesh)
        current = Solution(col, x, current.T)
    return current


def analyse(field: VectorField, sol: Solution, p: np.ndarray) -> dict:
    """Multipliers, stability, extrema and mean of an orbit."""
    col = sol.col
    xc, _ = col.at_gauss(sol.x)
    A = field.jacobian(xc.reshape(-1, col.n), p).reshape(col.ntst, col.m, col.n, col.n)
    P = transfer_matrices(col, A, sol.T)
    mu, log_abs = multipliers(P, lambda: magnus_transfer(col, field, sol.x, sol.T, p))
    k = trivial_index(mu)
    others = np.delete(log_abs, k)
    dense = col.evaluate(sol.x, np.linspace(0.0, 1.0, 8 * col.ntst * col.m, endpoint=False))
    extrema = np.vstack([dense, sol.x])
    return {
        "multipliers": mu,
        "log_multipliers": log_abs,
        "trivial": k,
        "stable": bool(np.all(others < 0.0)),
        "minimum": extrema.min(axis=0),
        "maximum": extrema.max(axis=0),
        "mean": col.integral(xc),
        "A": A,
    }
