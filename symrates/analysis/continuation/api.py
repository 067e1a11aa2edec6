"""``continuation``: equilibria in one parameter, folds and Hopf points in two (API.md §6)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ...errors import ModelDefinitionError
from ...ir.build import build
from ...ir.system import SymbolicSystem
from .._states import flat_state_names, short_name, state_dict
from ..derivatives import ParametricSystem
from ..fixed_points import FixedPoint, fixed_points
from ..normal_forms import fold_coefficient, fold_vectors, lyapunov_coefficient
from .branch import Branch, SpecialPoint
from .curves import FoldCurve, HopfCurve
from .engine import ContinuationError, Curve, Options, Point, correct_fixed, run, tangent
from .equilibria import EquilibriumCurve, sorted_eigenvalues

__all__ = ["continuation"]

log = logging.getLogger(__name__)

_DIRECTIONS = {"both": (1, -1), "forward": (1,), "backward": (-1,)}


def continuation(
    model: Any,
    parameter: str | Sequence[str],
    *,
    start: Any = None,
    bounds: Sequence[float] | Sequence[Sequence[float]],
    params: Mapping[str, float] | None = None,
    ds: float | None = None,
    max_steps: int | None = None,
    ds_min: float | None = None,
    ds_max: float | None = None,
    max_angle: float = 10.0,
    tol: float = 1e-10,
    direction: str = "both",
    ntst: int | None = None,
    ncol: int | None = None,
    max_period: float | None = None,
) -> Branch:
    """Continue equilibria or periodic orbits in one parameter, or a fold or Hopf point in two.

    Pseudo-arclength (Moore–Penrose) continuation with exact derivatives of the symbolic model;
    folds (``LP``), Hopf points (``HB``) and branch points (``BP``) are detected and located on
    curves of equilibria; cusps (``CP``), Bogdanov–Takens (``BT``), Bautin (``GH``) and zero-Hopf
    (``ZH``) points on fold and Hopf curves. Each Hopf point carries its frequency and first
    Lyapunov coefficient, each fold its normal-form coefficient ``a``.

    Started from a Hopf point (``HB``), a :class:`~symrates.PeriodicOrbit` or a period-doubling
    point (``PD``), it continues periodic orbits by orthogonal collocation (see
    ``docs/limit_cycles.md``) and returns a branch of kind ``"LC"`` with ``period``, envelopes
    and Floquet multipliers; folds of cycles (``LPC``), period doublings (``PD``) and
    Neimark–Sacker points (``NS``) are located on it.

    Parameters
    ----------
    model : template, str or SymbolicSystem
    parameter : str or (str, str)
        Path of the parameter to vary; a pair continues the fold or Hopf point ``start`` in two
        parameters.
    start : FixedPoint, SpecialPoint, mapping or array, optional
        One parameter: where to start, an equilibrium (a :class:`FixedPoint`, a
        :class:`SpecialPoint`, or a ``{path: value}`` state / state vector that Newton's method
        corrects). None: the equilibrium Newton's method reaches from the declared initial
        state; if it does not converge, the first stable (else the first) of the equilibria
        :func:`~symrates.fixed_points` finds with short simulations.
        Two parameters: an ``LP`` or ``HB`` :class:`SpecialPoint`.
        Periodic orbits (one parameter): an ``HB`` :class:`SpecialPoint` (the orbits born
        there, started from the normal form's amplitude and critical eigenvector, continued
        away from the Hopf point), a :class:`~symrates.PeriodicOrbit`, or a ``PD`` point of a
        branch of orbits (switches onto the period-doubled orbits).
    bounds : (low, high) or ((low1, high1), (low2, high2))
        The range of the (first) parameter; the curve ends where it leaves it. On two-parameter
        curves a second pair bounds the second parameter.
    params : mapping, optional
        ``{path: value}`` overrides of the other parameters (and of the start value of the
        continued one).
    ds, ds_min, ds_max : float, optional
        Initial, smallest and largest step, in scaled units (the parameter is scaled by the width
        of ``bounds``, the states by their magnitude): defaults 0.01, 1e-9, 0.02 (periodic
        orbits: 0.01, 1e-9, 0.1).
    max_steps : int, optional
        Largest number of steps in each direction (default 2000; periodic orbits 500).
    max_angle : float
        Largest angle in degrees between consecutive tangents; a step that turns further is
        retried with half the step, so sharp folds are followed rather than jumped.
    tol : float
        Newton tolerance of the corrector, in scaled units.
    direction : {"both", "forward", "backward"}
        "forward" increases the (first) parameter from the start, "backward" decreases it.
        (Orbits started at a Hopf or PD point always go away from it.)
    ntst, ncol : int, optional
        Periodic orbits: mesh intervals and polynomial degree of the collocation (default 40
        and 4).
    max_period : float, optional
        Periodic orbits: the branch ends where the period exceeds this (an orbit approaching
        a homoclinic orbit or a saddle-node on the cycle); default 1000 times the start period.

    Returns
    -------
    Branch

    Raises
    ------
    ModelDefinitionError
        For an unknown or non-parameter path, bounds that do not contain the start value, or a
        start that is not an equilibrium / special point of the right kind.
    ContinuationError
        (a :class:`~symrates.errors.ConvergenceError`) if Newton's method fails at the start
        point, or the step size falls below ``ds_min`` on the way; the message says where and
        why, ``.branch`` holds the points computed until then.

    Examples
    --------
    >>> from symrates.analysis import continuation
    >>> branch = continuation("fitzhugh_nagumo.FHN", "I", bounds=(0.0, 2.0))
    >>> [(sp.kind, round(sp.parameter, 6), sp.lyapunov > 0) for sp in branch.special_points]
    [('HB', 0.331281, True), ('HB', 1.418719, True)]
    """
    system = build(model)
    ps = ParametricSystem.of(system)
    paths = _parameters(parameter)
    if direction not in _DIRECTIONS:
        raise ModelDefinitionError(
            f"direction={direction!r} is not known; use one of {', '.join(_DIRECTIONS)}."
        )
    opts = Options.make(ds=ds, ds_min=ds_min, ds_max=ds_max, max_steps=max_steps,
                        max_angle=max_angle, tol=tol)
    slots = [ps.slots(p) for p in paths]
    full = tuple(system.resolve(p, what="parameter") for p in paths)
    if len(full) == 2 and full[0] == full[1]:
        raise ModelDefinitionError(
            f"parameter= names {full[0]!r} twice; a two-parameter continuation needs two "
            f"different parameters."
        )
    lims = _bounds(bounds, len(paths))
    base = _base_parameters(ps, system, start, params)
    for path, sl in zip(full, slots):
        vals = base[list(sl)]
        if np.ptp(vals) > 0:
            raise ModelDefinitionError(
                f"{path!r} differs between the units of {system.name!r}; the continuation moves "
                f"all units' values together. Set them equal with params={{{path!r}: value}}."
            )
    values = [float(base[sl[0]]) for sl in slots]
    for path, value, (low, high) in zip(full, values, lims):
        if not low <= value <= high:
            raise ModelDefinitionError(
                f"The start value {path} = {value:g} lies outside bounds=({low:g}, {high:g}). "
                f"Choose bounds that contain it, or start elsewhere with "
                f"params={{{path!r}: value}}."
            )
    if len(paths) == 1 and _is_cycle_start(start):
        from ..cycles.continuation import continue_cycles

        return continue_cycles(
            system, ps, full[0], slots[0], base, start, lims[0], ds=ds, ds_min=ds_min,
            ds_max=ds_max, max_steps=max_steps, max_angle=max_angle, tol=tol,
            direction=direction, ntst=ntst, ncol=ncol, max_period=max_period)
    if len(paths) == 1:
        return _equilibria(system, ps, full[0], slots[0], base, start, params, lims[0], opts,
                           direction)
    return _two_parameter(system, ps, full, slots, base, start, lims, opts, direction)


# -- arguments --------------------------------------------------------------------------------
def _is_cycle_start(start: Any) -> bool:
    from ..cycles.orbit import PeriodicOrbit

    return isinstance(start, PeriodicOrbit) or (
        isinstance(start, SpecialPoint) and start.kind in ("HB", "PD", "LPC", "NS"))


def _parameters(parameter: Any) -> tuple[str, ...]:
    if isinstance(parameter, str):
        return (parameter,)
    if isinstance(parameter, Sequence) and len(parameter) == 2 \
            and all(isinstance(p, str) for p in parameter):
        return tuple(parameter)
    raise ModelDefinitionError(
        f"parameter= must be a parameter path such as 'p', or a pair of paths ('p1', 'p2') for a "
        f"two-parameter continuation; got {parameter!r}."
    )


def _bounds(bounds: Any, n: int) -> list[tuple[float, float]]:
    def pair(b) -> tuple[float, float] | None:
        try:
            low, high = (float(v) for v in b)
        except (TypeError, ValueError):
            return None
        return (low, high) if low < high and not (np.isnan(low) or np.isnan(high)) else None

    if n == 2 and isinstance(bounds, Sequence) and len(bounds) == 2 \
            and all(isinstance(b, Sequence) for b in bounds):
        out = [pair(b) for b in bounds]
    else:
        out = [pair(bounds)] + [(-np.inf, np.inf)] * (n - 1)
    if any(b is None for b in out):
        allowed = "(low, high)" if n == 1 else "(low, high) or ((low1, high1), (low2, high2))"
        raise ModelDefinitionError(
            f"bounds= must be {allowed} with low < high; got {bounds!r}."
        )
    return out


def _base_parameters(ps: ParametricSystem, system: SymbolicSystem, start: Any,
                     params: Mapping[str, float] | None) -> np.ndarray:
    base = ps.defaults
    if isinstance(start, SpecialPoint):
        if start.model != system.name or start._p is None or len(start._p) != len(base) \
                or len(start.y) != ps.n:
            raise ModelDefinitionError(
                f"start= is a special point of {start.model!r}, not of {system.name!r}; "
                f"continue it on the model it was found on."
            )
        base = start._p.copy()
    elif isinstance(start, FixedPoint) and start.params:
        base = ps.parameter_vector({k: v for k, v in start.params.items()})
    elif _is_cycle_start(start):
        if start.system.name != system.name or len(start._p) != len(base):
            raise ModelDefinitionError(
                f"start= is a periodic orbit of {start.model!r}, not of {system.name!r}; "
                f"continue it on the model it was found on."
            )
        base = start._p.copy()
    return ps.parameter_vector(params, base=base)


def _state(system: SymbolicSystem, ps: ParametricSystem, start: Any) -> np.ndarray:
    if isinstance(start, (FixedPoint, SpecialPoint)):
        return np.array(start.y, dtype=float)
    if isinstance(start, Mapping):
        return system.state_from(start, f"start= of {system.name!r}")
    y = np.array(start, dtype=float).reshape(-1) if start is not None else None
    if y is None or y.shape != (ps.n,):
        raise ModelDefinitionError(
            f"start= must be a FixedPoint, a SpecialPoint, a {{path: value}} state or a vector of "
            f"{ps.n} states of {system.name!r}; got {start!r}."
        )
    return y


def _describe(system: SymbolicSystem, names: tuple[str, ...], n: int):
    def describe(X: np.ndarray) -> str:
        par = ", ".join(f"{system.index.short(p)} = {X[n + k]:.8g}" for k, p in enumerate(names))
        shown = ", ".join(f"{short_name(system, s)} = {v:.6g}"
                          for s, v in list(zip(flat_state_names(system), X[:n]))[:6])
        return f"{par} ({shown}{', ...' if n > 6 else ''})"

    return describe


def _start_point(curve: Curve, X0: np.ndarray, fixed: int, what: str) -> Point:
    X, residual = correct_fixed(curve, X0, fixed)
    if X is None:
        raise ContinuationError(
            f"The start point of the continuation of {curve.title} is not {what}: Newton's "
            f"method did not converge (scaled residual {residual:.3g}). Give start= a point "
            f"closer to it, e.g. a FixedPoint from sr.fixed_points(model, params=...)."
        )
    V = tangent(curve, X)
    first = curve.bounds[0][0]
    if V[first] < 0:
        V = -V
    D = curve.jacobian(X) * curve.scale
    sign, logabs = np.linalg.slogdet(np.vstack([D, V]))
    point = Point(X=X, V=V, det=(float(sign), float(logabs)))
    point.data = curve.analyse(point)
    return point


def _finish(curve: Curve, start: Point, opts: Options, direction: str, describe,
            make_branch) -> Branch:
    points, stops, failure = run(curve, start, opts, directions=_DIRECTIONS[direction],
                                 describe=lambda pt: describe(pt.X))
    branch = make_branch(points, stops)
    for sp in branch.special_points:
        log.info("%s: %s", curve.title, sp.description)
    if failure is not None:
        name = {1: "forward", -1: "backward"}[failure["direction"]]
        where = describe(failure["point"].X)
        raise ContinuationError(
            f"The continuation of {curve.title} stopped in the {name} direction at {where}: "
            f"{failure['why']} with the step size reduced to ds_min = {opts.ds_min:g}. The "
            f"points computed up to there are in .branch of this error; a smaller ds_min or "
            f"max_angle, or a start closer to that point, may get past it.",
            branch=branch, parameter=failure["point"].X[curve.bounds[0][0]],
            state=state_dict(curve.ps.system, failure["point"].X[:curve.ps.n]),
        )
    return branch


def _state_scale(y: np.ndarray, dy: np.ndarray | None, span: float) -> float:
    scale = float(np.max(np.abs(y), initial=0.0))
    if dy is not None and np.all(np.isfinite(dy)):
        scale = max(scale, min(float(np.max(np.abs(dy), initial=0.0)) * span,
                               1e3 * max(scale, 1.0)))
    return max(scale, 1e-6)


# -- equilibria in one parameter --------------------------------------------------------------
def _equilibria(system, ps, path, slots, base, start, params, lims, opts, direction) -> Branch:
    y0 = system.initial_state.copy() if start is None else _state(system, ps, start)
    n = ps.n
    lam0 = float(base[slots[0]])
    low, high = lims
    span = high - low if np.isfinite(high - low) else max(1.0, abs(lam0))
    pd = ps.parameter(slots)
    title = f"equilibria of {system.name!r} in {system.index.short(path)!r}"

    def make_curve(y0: np.ndarray) -> EquilibriumCurve:
        # states share one scale: their magnitude, or how far they move over the bounds
        with np.errstate(all="ignore"):
            try:
                dy = -np.linalg.solve(ps.jacobian(y0, base), pd.f_p(y0, base))
            except np.linalg.LinAlgError:
                dy = None
        scale = np.append(np.full(n, _state_scale(y0, dy, span)), span)
        return EquilibriumCurve(ps, slots, base, scale, lims, title)

    curve = make_curve(y0)
    if start is None and correct_fixed(curve, np.append(y0, lam0), n)[0] is None:
        # Newton from the declared initial state failed: search with short simulations too
        found = fixed_points(system, params=params)
        stable = [fp for fp in found if fp.stable]
        y0 = (stable or found)[0].y
        log.info("%d equilibria at %s = %g; continuing the one at %s", len(found), path, lam0,
                 state_dict(system, y0))
        curve = make_curve(y0)
    point = _start_point(curve, np.append(y0, lam0), n,
                         f"close to an equilibrium at {path} = {lam0:g}")
    describe = _describe(system, (path,), n)
    return _finish(curve, point, opts, direction, describe,
                   lambda pts, stops: _equilibrium_branch(system, ps, curve, (path,), pts, stops))


def _equilibrium_branch(system, ps, curve: EquilibriumCurve, names, points, stops) -> Branch:
    n = ps.n
    X = np.array([pt.X for pt in points])
    specials = []
    for i, pt in enumerate(points):
        if pt.kind is None:
            continue
        y, p = pt.X[:n], curve.params(pt.X)
        A = pt.data["A"]
        extra: dict[str, Any] = {}
        if pt.kind == "LP":
            q, pl = fold_vectors(A, curve.pd.f_p(y, p))
            extra["normal_form"] = {"a": fold_coefficient(ps, y, p, q, pl)}
        elif pt.kind == "HB":
            omega = pt.data["critical"].imag
            multiplicity = pt.data.get("multiplicity", 1)
            if multiplicity == 1:
                l1 = lyapunov_coefficient(ps, y, p, A, omega)
                extra.update(frequency=omega / (2 * np.pi), lyapunov=l1,
                             normal_form={"l1": l1, "omega": omega})
            else:   # several pairs cross together (symmetry): no single l1
                extra.update(frequency=omega / (2 * np.pi), lyapunov=float("nan"),
                             normal_form={"omega": omega, "multiplicity": multiplicity})
        specials.append(_special(system, ps, pt.kind, float(pt.X[n]), y, p,
                                 pt.data["eigenvalues"], i, parameters=names, **extra))
    return Branch(
        system=system, kind="EP", parameters=names, parameter=X[:, n], states=X[:, :n],
        stable=np.array([pt.data["stable"] for pt in points]),
        eigenvalues=np.array([pt.data["eigenvalues"] for pt in points]),
        special_points=specials, stop_reasons=stops,
        params=np.array([curve.params(pt.X) for pt in points]),
    )


def _special(system, ps, kind, parameter, y, p, eigenvalues, index, **extra) -> SpecialPoint:
    return SpecialPoint(
        kind=kind, parameter=parameter, state=state_dict(system, y),
        y=np.array(y), eigenvalues=np.array(eigenvalues), params=ps.parameter_dict(p),
        index=index, model=system.name, _p=np.array(p), **extra,
    )


# -- two-parameter curves ---------------------------------------------------------------------
def _two_parameter(system, ps, names, slots, base, start, lims, opts, direction) -> Branch:
    if not isinstance(start, SpecialPoint) or start.kind not in ("LP", "HB"):
        got = f"a {start.kind} point" if isinstance(start, SpecialPoint) else repr(start)
        raise ModelDefinitionError(
            f"A two-parameter continuation starts from a fold ('LP') or Hopf ('HB') "
            f"SpecialPoint of a one-parameter branch (start=branch.special_points[k]); got "
            f"{got}."
        )
    n = ps.n
    y0 = np.array(start.y, dtype=float)
    lam = np.array([base[sl[0]] for sl in slots])
    spans = [high - low if np.isfinite(high - low) else max(1.0, abs(v))
             for (low, high), v in zip(lims, lam)]
    sy = float(np.max(np.abs(y0), initial=0.0))
    sy = sy if sy > 1e-8 else 1.0          # an equilibrium at the origin: unit scale
    short = " and ".join(repr(system.index.short(p)) for p in names)
    A = ps.jacobian(y0, base)
    describe = _describe(system, names, n)
    if start.kind == "LP":
        title = f"the fold of {system.name!r} in {short}"
        curve = FoldCurve(ps, slots, base, np.concatenate([np.full(n, sy), spans]), lims, title,
                          A)
        X0 = np.concatenate([y0, lam])
        what = "a fold point"
    else:
        omega = float(np.abs(start.normal_form.get("omega", 0.0))) or \
            float(np.max(np.abs(sorted_eigenvalues(A).imag)))
        title = f"the Hopf point of {system.name!r} in {short}"
        curve = HopfCurve(ps, slots, base, sy, spans, lims, title, y0, A, omega)
        X0 = curve.initial(y0, lam, A, omega)
        what = "a Hopf point"
    point = _start_point(curve, X0, n + 1, what)
    return _finish(curve, point, opts, direction, describe,
                   lambda pts, stops: curve.branch(system, names, pts, stops, _special))
