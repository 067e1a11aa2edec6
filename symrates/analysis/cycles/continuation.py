"""Continuation of periodic orbits in one parameter: from a Hopf point, a periodic orbit or a
period-doubling point (the entry point is :func:`symrates.continuation`)."""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any

import numpy as np

from ...errors import ModelDefinitionError, SymratesWarning
from .._states import flat_state_names, short_name, state_dict
from ..continuation.branch import SpecialPoint
from ..continuation.engine import (
    ContinuationError,
    Options,
    Point,
    _det,
    _scaled_jacobian,
    correct,
    run,
    tangent,
)
from ..normal_forms import hopf_vectors
from .branch import CycleBranch
from .collocation import Collocation, VectorField
from .curve import CycleCurve
from .floquet import transfer_matrices
from .orbit import NCOL, NTST, PeriodicOrbit
from .solve import Solution, correct_orbit

__all__ = ["continue_cycles"]

log = logging.getLogger(__name__)

_DIRECTIONS = {"both": (1, -1), "forward": (1,), "backward": (-1,)}


def continue_cycles(system, ps, path: str, slots: tuple[int, ...], base: np.ndarray, start: Any,
                    lims: tuple[float, float], *, ds: float | None, ds_min: float | None,
                    ds_max: float | None, max_steps: int | None, max_angle: float, tol: float,
                    direction: str, ntst: int | None, ncol: int | None,
                    max_period: float | None) -> CycleBranch:
    """Periodic orbits of ``system`` in the parameter ``path`` from ``start`` (a Hopf or PD
    :class:`SpecialPoint`, or a :class:`PeriodicOrbit`)."""
    opts = Options.make(ds=ds, ds_min=ds_min, ds_max=ds_max, max_steps=max_steps,
                        max_angle=max_angle, tol=tol, default_ds_max=0.1,
                        default_max_steps=500)
    ntst = NTST if ntst is None else int(ntst)
    ncol = NCOL if ncol is None else int(ncol)
    if ntst < 4 or ncol < 2:
        raise ModelDefinitionError(
            f"ntst = {ntst} and ncol = {ncol}: the collocation needs at least 4 mesh intervals "
            f"of degree at least 2 (defaults {NTST} and {NCOL})."
        )
    low, high = lims
    lam0 = float(base[slots[0]])
    span = high - low if np.isfinite(high - low) else max(1.0, abs(lam0))
    short = system.index.short(path)
    title = f"periodic orbits of {system.name!r} in {short!r}"
    n = ps.n

    def describe(X: np.ndarray) -> str:
        x = X[:-2].reshape(-1, n)
        lo, hi = x.min(axis=0), x.max(axis=0)
        shown = ", ".join(f"{short_name(system, s)} in [{a:.4g}, {b:.4g}]"
                          for s, a, b in list(zip(flat_state_names(system), lo, hi))[:4])
        return f"{short} = {X[-1]:.8g} (period {X[-2]:.6g}; {shown}{', ...' if n > 4 else ''})"

    def make_curve(col: Collocation, x: np.ndarray, T: float, base: np.ndarray) -> CycleCurve:
        top = max_period if max_period is not None else 1e3 * T
        if not top > T:
            raise ModelDefinitionError(
                f"max_period = {max_period:g} is not above the period {T:.6g} of the start "
                f"orbit; give a larger max_period."
            )
        curve = CycleCurve(ps, slots, base, col, x, span, lims, top, title, describe)
        curve.scale = curve._scale(x, T)
        return curve

    head: dict | None = None
    if isinstance(start, SpecialPoint) and start.kind == "HB":
        curve, point, head = _from_hopf(system, ps, path, slots, base, start, span, opts,
                                        ntst, ncol, make_curve)
        directions = (1,)
        end_fraction = 0.5
    elif isinstance(start, SpecialPoint) and start.kind == "PD":
        curve, point, head = _from_pd(system, ps, path, slots, start, opts, make_curve)
        directions = (1,)
        end_fraction = 1e-3
    elif isinstance(start, PeriodicOrbit) or (
            isinstance(start, SpecialPoint) and start.orbit is not None):
        orbit = start if isinstance(start, PeriodicOrbit) else start.orbit
        curve, point = _from_orbit(system, ps, path, slots, base, orbit, opts, make_curve,
                                   lims)
        directions = _DIRECTIONS[direction]
        end_fraction = 1e-3
    else:
        kind = f"a {start.kind} point" if isinstance(start, SpecialPoint) else type(start).__name__
        raise ModelDefinitionError(
            f"Periodic orbits of {system.name!r} are continued from a Hopf ('HB') or period-"
            f"doubling ('PD') SpecialPoint or from a PeriodicOrbit; got {kind}."
        )
    curve.amp_weights = curve.weights.copy()
    point.data = curve.analyse(point)
    curve.amp_min = end_fraction * point.data["amplitude"]
    points, stops, failure = run(curve, point, opts, directions=directions,
                                 describe=lambda pt: describe(pt.X))
    branch = CycleBranch.build(system, ps, curve, path, points, stops, head)
    _warn_unresolved(branch, title, ntst)
    for sp in branch.special_points:
        log.info("%s: %s", title, sp.description)
    if failure is not None:
        name = {1: "forward", -1: "backward"}[failure["direction"]]
        raise ContinuationError(
            f"The continuation of {title} stopped in the {name} direction at "
            f"{describe(failure['point'].X)}: {failure['why']} with the step size reduced to "
            f"ds_min = {opts.ds_min:g}. The points computed up to there are in .branch of this "
            f"error; a larger ntst (now {ntst}), a smaller ds_max or max_angle may get past it.",
            branch=branch, parameter=float(failure["point"].X[-1]),
            state=state_dict(system, failure["point"].X[:n]),
        )
    return branch


def _warn_unresolved(branch: CycleBranch, title: str, ntst: int) -> None:
    """Warn where the mesh does not resolve the orbits: no multiplier near the trivial 1."""
    mu = branch.eigenvalues
    off = np.nanmin(np.abs(mu - 1.0), axis=1)
    bad = np.flatnonzero(off > 1e-2)
    if bad.size:
        lo, hi = branch.parameter[bad].min(), branch.parameter[bad].max()
        warnings.warn(
            f"{bad.size} of the {len(branch)} orbits of the continuation of {title} "
            f"({branch.system.index.short(branch.parameters[0])} in [{lo:.10g}, {hi:.10g}]) "
            f"are not resolved by the mesh: no Floquet multiplier is within 1e-2 of the "
            f"trivial 1 (worst off by {off[bad].max():.3g}). Their multipliers, stability and "
            f"special points are unreliable (typical of a canard explosion); a larger ntst "
            f"(now {ntst}) may resolve them.",
            SymratesWarning, stacklevel=4,
        )


# -- start points -----------------------------------------------------------------------------
def _uniform(n: int, ntst: int, ncol: int) -> Collocation:
    return Collocation(n, ntst, ncol, np.linspace(0.0, 1.0, ntst + 1))


def _from_hopf(system, ps, path, slots, base, sp, span, opts, ntst, ncol, make_curve):
    """The first cycle a small step from the Hopf point, from its normal form."""
    n = ps.n
    y = np.array(sp.y, dtype=float)
    p = base.copy()
    lam_h = float(p[slots[0]])
    A = ps.jacobian(y, p)
    omega = abs(float(sp.normal_form.get("omega", 0.0)))
    if not omega > 0:
        ev = np.linalg.eigvals(A)
        omega = float(np.max(np.abs(ev.imag)))
    if not omega > 0:
        raise ModelDefinitionError(
            f"The Hopf point of {system.name!r} at {path} = {lam_h:g} has no imaginary pair of "
            f"eigenvalues; no periodic orbits are born there."
        )
    q, pv = hopf_vectors(A, omega)
    # d(Re lambda)/d parameter = Re <p, (f_yp + f_yy y_p) q> with y_p = -A^{-1} f_p
    pd = ps.parameter(slots)
    y_p = -np.linalg.solve(A, pd.f_p(y, p))
    dA = pd.J_p(y, p) + ps.hessian_matrix(y, p, y_p)
    alpha_p = float(np.real(np.vdot(pv, dA @ q)))
    l1 = sp.lyapunov if sp.lyapunov is not None and np.isfinite(sp.lyapunov) else 0.0
    # normal form z' = (alpha + i omega) z + omega l1 |z|^2 z: cycles at
    # alpha_p (lam - lam_h) = -omega l1 |z|^2, with x = y + 2 Re(z q e^{i omega t})
    size = float(np.max(np.abs(y)))
    size = size if size > 1e-8 else 1.0        # an equilibrium at the origin: unit scale
    r = 5e-3 * size
    if l1 != 0 and alpha_p != 0:
        r = min(r, math.sqrt(1e-3 * span * abs(alpha_p) / (omega * abs(l1))))
    dlam_dr2 = -omega * l1 / alpha_p if alpha_p != 0 else 0.0
    col = _uniform(n, ntst, ncol)
    tau = col.nodes()
    shape = 2 * np.real(q[None, :] * np.exp(2j * np.pi * tau)[:, None])     # (nodes, n)
    x = y[None, :] + r * shape
    T = 2 * np.pi / omega
    lam = lam_h + dlam_dr2 * r * r
    p[list(slots)] = lam
    curve = make_curve(col, x, T, p)
    X0 = curve.pack(x, T, lam)
    dX = curve.pack(shape, 0.0, 2 * dlam_dr2 * r)
    V0 = dX / curve.scale
    V0 /= np.linalg.norm(V0)
    point = correct(curve, X0, V0, opts)
    if point is None:
        raise ContinuationError(
            f"Could not start the periodic orbits of {system.name!r} at the Hopf point "
            f"{path} = {lam_h:.8g}: Newton's method on the collocation system did not converge "
            f"for the first orbit (radius {r:.3g} from the normal form, l1 = {l1:.3g}). Try a "
            f"larger ntst, or start from an orbit of sr.periodic_orbit(model, params=...).",
            parameter=lam_h, state=state_dict(system, y),
        )
    if point.V @ V0 < 0:
        point.V = -point.V
        point.det = (-point.det[0], point.det[1])
    head = {"kind": "HB", "parameter": lam_h, "y": y, "period": T,
            "multipliers": np.exp(np.linalg.eigvals(A) * T)}
    return curve, point, head


def _from_orbit(system, ps, path, slots, base, orbit: PeriodicOrbit, opts, make_curve, lims):
    if orbit.system.name != system.name or len(orbit._p) != len(base):
        raise ModelDefinitionError(
            f"start= is a periodic orbit of {orbit.model!r}, not of {system.name!r}; continue "
            f"it on the model it was found on."
        )
    sol = orbit._sol
    lam = float(base[slots[0]])
    low, high = lims
    if not low <= lam <= high:
        raise ModelDefinitionError(
            f"The start orbit has {path} = {lam:g}, outside bounds=({low:g}, {high:g}). Choose "
            f"bounds that contain it."
        )
    if not np.array_equal(base, orbit._p):       # params= moved the orbit: correct it there
        sol = correct_orbit(VectorField.of(ps), sol, base)
        if sol is None:
            raise ContinuationError(
                f"The start orbit of {system.name!r} could not be corrected at the parameters "
                f"given by params=; find it there with sr.periodic_orbit(model, params=...)."
            )
    curve = make_curve(sol.col, sol.x, sol.T, base)
    X = curve.pack(sol.x, sol.T, lam)
    V = tangent(curve, X)
    if V[-1] < 0:
        V = -V
    point = Point(X=X, V=V, det=_det(_scaled_jacobian(curve, X), V))
    return curve, point


def _from_pd(system, ps, path, slots, sp, opts, make_curve):
    """Switch onto the period-doubled branch: the orbit run twice plus a multiple of the
    eigenfunction of the multiplier -1 (anti-periodic over one period)."""
    orbit = sp.orbit
    if orbit is None:
        raise ModelDefinitionError("start= is a PD point without its orbit (sp.orbit is None).")
    sol = orbit._sol
    p = orbit._p.copy()
    lam = float(p[slots[0]])
    col = sol.col
    v = _antiperiodic_eigenfunction(col, VectorField.of(ps), sol, p)
    # doubled mesh and orbit over [0, 2T]: tau -> tau / 2
    mesh2 = np.concatenate([0.5 * col.mesh[:-1], 0.5 + 0.5 * col.mesh])
    col2 = Collocation(col.n, 2 * col.ntst, col.m, mesh2)
    x2 = np.vstack([sol.x[:-1], sol.x])
    v2 = np.vstack([v[:-1], -v])
    amp = float(np.max(np.abs(sol.x))) or 1.0
    eps = 1e-2 * amp / float(np.max(np.abs(v2)))
    T2 = 2 * sol.T
    curve = make_curve(col2, x2, T2, p)
    X0 = curve.pack(x2 + eps * v2, T2, lam)
    dX = curve.pack(v2, 0.0, 0.0)
    V0 = dX / curve.scale
    V0 /= np.linalg.norm(V0)
    point = correct(curve, X0, V0, opts)
    if point is None:
        raise ContinuationError(
            f"Could not switch onto the period-doubled orbits of {system.name!r} at the PD "
            f"point {path} = {lam:.8g}: Newton's method did not converge for the first orbit.",
            parameter=lam,
        )
    if point.V @ V0 < 0:
        point.V = -point.V
        point.det = (-point.det[0], point.det[1])
    head = {"kind": "PD", "parameter": lam, "solution": Solution(col2, x2, T2),
            "multipliers": np.asarray(sp.eigenvalues)}
    return curve, point, head


def _antiperiodic_eigenfunction(col, field, sol, p) -> np.ndarray:
    """``v`` on the nodes with ``v' = T f_y v`` and ``v(1) = -v(0)`` (multiplier -1)."""
    xc, _ = col.at_gauss(sol.x)
    A = field.jacobian(xc.reshape(-1, col.n), p).reshape(col.ntst, col.m, col.n, col.n)
    P = transfer_matrices(col, A, sol.T)
    M = np.eye(col.n)
    for Pj in P:
        M = Pj @ M
    w, V = np.linalg.eig(M)
    k = int(np.argmin(np.abs(w + 1.0)))
    v0 = np.real(V[:, k])
    # propagate through the intervals, filling the inner nodes from the condensed blocks
    n, m = col.n, col.m
    B = col.collocation_blocks(A, sol.T).transpose(0, 1, 3, 2, 4).reshape(
        col.ntst, m * n, (m + 1) * n)
    out = np.zeros((col.n_nodes, n))
    d = v0
    for j in range(col.ntst):
        inner = np.linalg.solve(B[j][:, n:], -B[j][:, :n] @ d).reshape(m, n)
        out[j * m] = d
        out[j * m + 1:j * m + m + 1] = inner
        d = inner[-1]
    return out
