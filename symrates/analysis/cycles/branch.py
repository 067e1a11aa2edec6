"""A :class:`Branch` of periodic orbits: period, envelopes, Floquet multipliers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import ModelDefinitionError
from .._states import flat_state_names, state_dict
from ..continuation.branch import Branch, SpecialPoint

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["CycleBranch"]


class CycleBranch(Branch):
    """A branch of periodic orbits in one parameter (``kind == "LC"``).

    As :class:`Branch`, with these differences:

    Attributes
    ----------
    states : np.ndarray
        ``(n_points, n_states)``: the time average of each state over the orbit (it meets the
        equilibrium at a Hopf point).
    minimum, maximum : np.ndarray
        ``(n_points, n_states)``: the envelopes, each state's extremes over the orbit.
    period : np.ndarray
        ``(n_points,)``, in the model's time unit.
    eigenvalues : np.ndarray
        ``(n_points, n_states)`` Floquet multipliers by decreasing modulus, the trivial one
        included; ``log_multipliers`` holds ``log |mu|`` (exact also where ``mu`` underflows).
    stable : np.ndarray of bool
        All non-trivial multipliers inside the unit circle.
    special_points : list of SpecialPoint
        ``"LPC"`` (fold of cycles), ``"PD"`` (period doubling), ``"NS"`` (Neimark-Sacker), each
        with its ``period`` and ``orbit``.

    A branch started at a Hopf point begins with that point itself (amplitude zero, period
    ``2 pi / omega``); one switched onto the period-doubled orbits at a ``PD`` point begins with
    the orbit of the PD point run twice. ``branch.orbit(i)`` returns the
    :class:`PeriodicOrbit` of point ``i``.

    Examples
    --------
    The synchronised state of the Ott-Antonsen model, born at ``K_c = 2 Delta = 1``, is a
    cycle of radius ``sqrt(1 - 1/K)`` and period ``2 pi / omega0``:

    >>> import symrates as sr
    >>> eq = sr.continuation("kuramoto.OttAntonsen", "K", bounds=(0.1, 4.0),
    ...                      start={"x": 0.0, "y": 0.0}, params={"K": 0.5})
    >>> cycles = sr.continuation("kuramoto.OttAntonsen", "K", start=eq.special("HB")[0],
    ...                          bounds=(0.1, 4.0))
    >>> cycles.kind, cycles.stop_reasons, bool(cycles.stable.all())
    ('LC', {'forward': 'bound reached'}, True)
    >>> [round(float(v), 9) for v in (cycles.parameter[-1], cycles.period[-1],
    ...                                cycles.maximum[-1, 0])]
    [4.0, 6.283185307, 0.866025404]
    """

    def __init__(self, *, minimum: np.ndarray, maximum: np.ndarray, period: np.ndarray,
                 log_multipliers: np.ndarray, solutions: list, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.minimum = minimum
        self.maximum = maximum
        self.period = period
        self.log_multipliers = log_multipliers
        self._solutions = solutions

    @classmethod
    def build(cls, system, ps, curve, path: str, points, stops, head) -> CycleBranch:
        from .orbit import PeriodicOrbit

        n = ps.n
        rows: list[dict] = []
        sols: list = []
        specials: list[SpecialPoint] = []
        if head is not None:
            if head["kind"] == "HB":
                y = head["y"]
                mu = head["multipliers"]
                mu = mu[np.argsort(-np.abs(mu), kind="stable")]
                rows.append({"parameter": head["parameter"], "mean": y, "minimum": y,
                             "maximum": y, "period": head["period"], "multipliers": mu,
                             "log": np.log(np.abs(mu)), "stable": None})
                sols.append(None)
            elif head["kind"] == "PD":      # the PD point: the orbit run twice
                from .solve import analyse

                sol = head["solution"]
                p0 = curve.params(points[0].X)
                p0[list(curve.slots)] = head["parameter"]
                d = analyse(curve.field, sol, p0)
                rows.append({"parameter": head["parameter"], "mean": d["mean"],
                             "minimum": d["minimum"], "maximum": d["maximum"],
                             "period": float(sol.T), "multipliers": d["multipliers"],
                             "log": d["log_multipliers"], "stable": d["stable"]})
                sols.append((sol, p0))
        for pt in points:
            sol = curve.solution(pt.X, pt.data["mesh"])
            d = pt.data
            rows.append({"parameter": float(pt.X[-1]), "mean": d["mean"], "minimum": d["minimum"],
                         "maximum": d["maximum"], "period": float(pt.X[-2]),
                         "multipliers": d["multipliers"], "log": d["log_multipliers"],
                         "stable": d["stable"], "data": d})
            sols.append((sol, curve.params(pt.X)))
            if pt.kind in ("LPC", "PD", "NS"):
                orbit = PeriodicOrbit(system, sol, curve.params(pt.X), data=d)
                mu = d["multipliers"]
                extra = {}
                if pt.kind == "PD":
                    extra["multiplier"] = complex(mu[np.argmin(np.abs(mu + 1.0))]).real
                elif pt.kind == "NS":
                    crit = d.get("critical", mu[np.argmin(np.abs(np.abs(mu) - 1.0))])
                    extra["multiplier"] = complex(crit)
                    extra["angle"] = float(np.angle(crit))
                specials.append(SpecialPoint(
                    kind=pt.kind, parameter=float(pt.X[-1]), state=state_dict(system, sol.x[0]),
                    y=sol.x[0].copy(), eigenvalues=np.asarray(mu), params=ps.parameter_dict(
                        curve.params(pt.X)), index=len(rows) - 1, model=system.name,
                    parameters=(path,), _p=curve.params(pt.X), period=float(pt.X[-2]),
                    orbit=orbit, normal_form=extra,
                ))
        stable = [r["stable"] for r in rows]
        if head is not None and stable[0] is None:
            stable[0] = stable[1] if len(stable) > 1 else False
        params = np.array([curve.params(pt.X) for pt in points])
        if head is not None and len(params):
            params = np.vstack([params[:1], params])
            params[0, list(curve.slots)] = rows[0]["parameter"]
        width = max(len(r["multipliers"]) for r in rows)
        mus = np.full((len(rows), width), np.nan, dtype=complex)
        logs = np.full((len(rows), width), np.nan)
        for i, r in enumerate(rows):
            mus[i, :len(r["multipliers"])] = r["multipliers"]
            logs[i, :len(r["log"])] = r["log"]
        return cls(
            system=system, kind="LC", parameters=(path,),
            parameter=np.array([r["parameter"] for r in rows]),
            states=np.array([r["mean"] for r in rows]).reshape(len(rows), n),
            stable=np.array(stable, dtype=bool), eigenvalues=mus, special_points=specials,
            stop_reasons=stops, params=params,
            minimum=np.array([r["minimum"] for r in rows]).reshape(len(rows), n),
            maximum=np.array([r["maximum"] for r in rows]).reshape(len(rows), n),
            period=np.array([r["period"] for r in rows]), log_multipliers=logs, solutions=sols,
        )

    # -- access --------------------------------------------------------------------------------
    def __repr__(self) -> str:
        kinds = ", ".join(sp.kind for sp in self.special_points) or "none"
        return (f"<Branch of periodic orbits of {self.system.name!r}: {len(self)} points, "
                f"{self.parameters[0]} in [{self.parameter.min():.6g}, "
                f"{self.parameter.max():.6g}], period in [{np.nanmin(self.period):.6g}, "
                f"{np.nanmax(self.period):.6g}]; special points: {kinds}>")

    def orbit(self, i: int):
        """The :class:`PeriodicOrbit` of point ``i`` (not for the Hopf point a branch starts
        with, which has no orbit)."""
        from .orbit import PeriodicOrbit

        i = range(len(self))[i]
        if self._solutions[i] is None:
            raise ModelDefinitionError(
                f"Point {i} of this branch is the Hopf point it starts from: an equilibrium, "
                f"not an orbit. Take point {i + 1} or later."
            )
        sol, p = self._solutions[i]
        return PeriodicOrbit(self.system, sol, p)

    def envelope(self, path: str) -> tuple[np.ndarray, np.ndarray]:
        """``(minimum, maximum)`` of a state at every point."""
        full = self.system.resolve(path)
        if full not in self.system.layout:
            raise ModelDefinitionError(
                f"{path!r} is not a state of {self.system.name!r}; envelopes exist for the "
                f"states {', '.join(self.system.states[:8])}."
            )
        _, _, off, length = self.system.layout[full]
        sl = slice(off, off + length) if length > 1 else off
        return self.minimum[:, sl], self.maximum[:, sl]

    def to_dataframe(self) -> pd.DataFrame:
        """One row per point: parameter, period, the mean, ``min <path>`` and ``max <path>``
        of every state, ``stable`` and ``special``."""
        import pandas as pd

        cols: dict[str, Any] = {self.parameters[0]: self.parameter, "period": self.period}
        for k, name in enumerate(flat_state_names(self.system)):
            cols[name] = self.states[:, k]
            cols[f"min {name}"] = self.minimum[:, k]
            cols[f"max {name}"] = self.maximum[:, k]
        cols["stable"] = self.stable
        special = np.full(len(self), "", dtype=object)
        for sp in self.special_points:
            special[sp.index] = sp.kind
        cols["special"] = special
        return pd.DataFrame(cols)

    def plot(self, y: str | None = None, *, x: str | None = None, ax: Axes | None = None,
             labels: bool = True, unit: int = 0, **line_kwargs: Any) -> Axes:
        """Plot the envelopes (minimum and maximum of ``y`` over each orbit) against the
        parameter: stable orbits solid, unstable dashed, special points labelled.

        Draw it on the axes of an equilibrium branch (``ax=eq.plot(y=...)``) for a bifurcation
        diagram. ``y="period"`` plots the period instead.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import symrates as sr
        >>> eq = sr.continuation("kuramoto.OttAntonsen", "K", bounds=(0.1, 4.0),
        ...                      start={"x": 0.0, "y": 0.0}, params={"K": 0.5})
        >>> ax = eq.plot(y="x")
        >>> cycles = sr.continuation("kuramoto.OttAntonsen", "K", start=eq.special("HB")[0],
        ...                          bounds=(0.1, 4.0))
        >>> ax = cycles.plot(y="x", ax=ax)
        >>> len(ax.lines)    # equilibria: stable, unstable, the HB marker; cycles: max, min
        5
        """
        from ...plotting import axes, plot_by_stability

        ax = axes(ax)
        if x is not None and self.system.resolve(x) != self.parameters[0]:
            raise ModelDefinitionError(
                f"x={x!r}: a branch of periodic orbits is drawn against its parameter "
                f"{self.parameters[0]!r}."
            )
        xs = self.parameter
        if y is None:
            outs = [o for o in self.system.outputs if o in self.system.layout]
            y = outs[0] if outs else self.system.states[0]
        if y == "period":
            curves = [self.period]
            ylabel = "period"
        else:
            lo, hi = self.envelope(y)
            lo = lo[:, unit] if lo.ndim == 2 else lo
            hi = hi[:, unit] if hi.ndim == 2 else hi
            curves = [hi, lo]
            ylabel = self.system.resolve(y)
        kwargs = dict(line_kwargs)
        color = kwargs.pop("color", None)
        label = kwargs.pop("label", None)
        stable = np.asarray(self.stable, dtype=bool)
        first = True
        for ys in curves:
            color, first = plot_by_stability(ax, xs, ys, stable, color=color, label=label,
                                             first=first, **kwargs)
        for sp in self.special_points:
            ax.plot(xs[sp.index], curves[0][sp.index], "s", color=color, markersize=5,
                    markeredgecolor="k", markeredgewidth=0.6)
            if labels:
                ax.annotate(sp.kind, (xs[sp.index], curves[0][sp.index]),
                            textcoords="offset points", xytext=(4, 4), fontsize="small")
        ax.set_xlabel(self.parameters[0])
        if not ax.get_ylabel():
            ax.set_ylabel(ylabel)
        return ax
