"""Results of a continuation: :class:`Branch` (a curve of points) and :class:`SpecialPoint`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import ModelDefinitionError
from .._states import flat_state_names

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

    from ...ir.system import SymbolicSystem

__all__ = ["Branch", "SpecialPoint", "KIND_NAMES"]

#: What the special-point codes stand for.
KIND_NAMES = {
    "LP": "fold",
    "HB": "Hopf",
    "BP": "branch point",
    "CP": "cusp",
    "BT": "Bogdanov-Takens",
    "GH": "generalised Hopf (Bautin)",
    "ZH": "zero-Hopf",
    "LPC": "fold of cycles",
    "PD": "period doubling",
    "NS": "Neimark-Sacker (torus)",
}


@dataclass(frozen=True, eq=False)
class SpecialPoint:
    """A bifurcation point located on a :class:`Branch`.

    Attributes
    ----------
    kind : str
        ``"LP"`` (fold), ``"HB"`` (Hopf), ``"BP"`` (branch point) on curves of equilibria;
        ``"CP"`` (cusp), ``"BT"`` (Bogdanov-Takens), ``"GH"`` (Bautin), ``"ZH"`` (zero-Hopf) on
        fold and Hopf curves.
    parameter : float or dict
        The parameter value, or ``{path: value}`` of both parameters on two-parameter curves.
    state : dict
        ``{path: value}`` of the equilibrium (an array over the copies of a network state).
    y : np.ndarray
        The same state as a vector.
    eigenvalues : np.ndarray
        Eigenvalues of the Jacobian, by decreasing real part.
    frequency : float or None
        Hopf points: ``omega / (2 pi)`` in the model's inverse time unit.
    lyapunov : float or None
        Hopf points: the first Lyapunov coefficient ``l1`` (Kuznetsov eq. 3.20 with
        ``<q, q> = 1``, ``<p, q> = 1``): negative supercritical, positive subcritical. NaN where
        several pairs cross the imaginary axis together (a symmetric network):
        ``normal_form["multiplicity"]`` says how many.
    normal_form : dict
        Normal-form coefficients: ``{"a"}`` for folds (see
        :mod:`symrates.analysis.normal_forms` for the orientation), ``{"l1", "omega"}`` for Hopf
        points, ``{"c"}`` for cusps, ``{"a", "b"}`` for Bogdanov-Takens points.
    params : dict
        All parameter values at the point, ``{path: value}``.
    index : int
        Position of the point in the arrays of its branch.
    parameters : tuple of str
        Full paths of the continued parameter(s).
    period : float or None
        Points on branches of periodic orbits (``"LPC"``, ``"PD"``, ``"NS"``): the period;
        ``state`` is then the orbit's point at phase 0 and ``eigenvalues`` its Floquet
        multipliers.
    orbit : PeriodicOrbit or None
        Points on branches of periodic orbits: the orbit (start a continuation from a ``PD``
        point to switch onto the period-doubled branch).

    Examples
    --------
    >>> from symrates.analysis import continuation
    >>> branch = continuation("kuramoto.OttAntonsen", "K", bounds=(0.1, 5.0),
    ...                       start={"x": 0.0, "y": 0.0}, params={"K": 0.5})
    >>> (hb,) = branch.special_points
    >>> hb.kind, round(hb.parameter, 12), round(hb.lyapunov, 12)     # K_c = 2 Delta, l1 = -2 Delta
    ('HB', 1.0, -1.0)
    """

    kind: str
    parameter: float | dict[str, float]
    state: dict[str, float]
    y: np.ndarray
    eigenvalues: np.ndarray
    frequency: float | None = None
    lyapunov: float | None = None
    normal_form: dict[str, float] = field(default_factory=dict)
    params: dict[str, float] = field(default_factory=dict, repr=False)
    index: int = -1
    model: str = ""
    parameters: tuple[str, ...] = field(default=(), repr=False)
    _p: np.ndarray | None = field(default=None, repr=False)
    period: float | None = None
    orbit: Any = field(default=None, repr=False)

    @property
    def description(self) -> str:
        """A one-line description, e.g. ``"HB (Hopf) at p = 89.83, frequency 10.38, l1 = ..."``."""
        if isinstance(self.parameter, Mapping):
            where = ", ".join(f"{_short(k)} = {v:.8g}" for k, v in self.parameter.items())
        elif self.parameters:
            where = f"{_short(self.parameters[0])} = {self.parameter:.10g}"
        else:
            where = f"{self.parameter:.10g}"
        text = f"{self.kind} ({KIND_NAMES.get(self.kind, self.kind)}) at {where}"
        if self.period is not None:
            text += f", period {self.period:.8g}"
        if self.frequency is not None:
            text += f", frequency {self.frequency:.6g}"
        if self.lyapunov is not None and np.isfinite(self.lyapunov):
            crit = "supercritical" if self.lyapunov < 0 else "subcritical"
            text += f", l1 = {self.lyapunov:.4g} ({crit})"
        elif self.normal_form:
            text += ", " + ", ".join(f"{k} = {v:.4g}" for k, v in self.normal_form.items())
        return text

    def __repr__(self) -> str:
        return f"SpecialPoint({self.description})"


def _short(path: str) -> str:
    return path.rsplit("/", 1)[-1]


class Branch:
    """A continued curve: equilibria in one parameter, or a fold or Hopf curve in two.

    Attributes
    ----------
    parameter : np.ndarray
        ``(n_points,)``, or ``(n_points, 2)`` on two-parameter curves.
    parameters : tuple of str
        Full paths of the continued parameter(s).
    states : np.ndarray
        ``(n_points, n_states)`` equilibria, columns in the order of ``state_paths``.
    stable : np.ndarray of bool
        Equilibria: all eigenvalues have negative real part. Fold and Hopf curves: all
        eigenvalues other than the critical ones (the zero or the pair ``±i omega``) do, i.e. the
        bifurcation happens to an otherwise stable equilibrium.
    eigenvalues : np.ndarray
        ``(n_points, n_states)``, by decreasing real part.
    special_points : list of SpecialPoint
        In the order of the points.
    kind : str
        ``"EP"`` (equilibria), ``"LP"`` (fold curve) or ``"HB"`` (Hopf curve).
    stop_reasons : dict
        Why each direction ended (``"bound reached"``, ``"max_steps = ... reached"``, ...).
    frequency : np.ndarray or None
        Hopf curves: ``omega / (2 pi)`` at every point (a Hopf curve ends at a
        Bogdanov-Takens point, where the frequency reaches zero).

    Examples
    --------
    >>> from symrates.analysis import continuation
    >>> branch = continuation("montbrio.QIF", "eta", bounds=(-12.0, 0.0))
    >>> branch.parameter.shape == (len(branch),), branch.states.shape[1]
    (True, 2)
    >>> [f"{sp.kind} {sp.parameter:.6f}" for sp in branch.special_points]
    ['LP -3.136134', 'LP -5.743527']
    >>> fold = continuation("montbrio.QIF", ("eta", "J"), start=branch.special_points[0],
    ...                     bounds=((-12.0, 0.0), (0.0, 30.0)))
    >>> fold.kind, fold.parameter.shape[1], [sp.kind for sp in fold.special_points]
    ('LP', 2, ['CP'])
    """

    period = None  #: periodic orbits only

    def __init__(self, *, system: SymbolicSystem, kind: str, parameters: tuple[str, ...],
                 parameter: np.ndarray, states: np.ndarray, stable: np.ndarray,
                 eigenvalues: np.ndarray, special_points: list[SpecialPoint],
                 stop_reasons: dict[str, str], frequency: np.ndarray | None = None,
                 params: np.ndarray | None = None) -> None:
        self.system = system
        self.kind = kind
        self.parameters = tuple(parameters)
        self.parameter = parameter
        self.states = states
        self.stable = stable
        self.eigenvalues = eigenvalues
        self.special_points = list(special_points)
        self.stop_reasons = dict(stop_reasons)
        self.frequency = frequency
        self._params = params           # (n_points, n_flat_params): all values at every point

    @property
    def state_names(self) -> tuple[str, ...]:
        """Names of the columns of :attr:`states`: the state paths (``path[k]`` for the copies
        of a network state)."""
        return tuple(flat_state_names(self.system))

    def __len__(self) -> int:
        return len(self.parameter)

    def __repr__(self) -> str:
        kinds = ", ".join(sp.kind for sp in self.special_points) or "none"
        names = {"EP": "equilibria", "LP": "fold curve", "HB": "Hopf curve"}
        par = self.parameter
        if par.ndim == 1:
            span = f"{self.parameters[0]} in [{par.min():.6g}, {par.max():.6g}]"
        else:
            span = " and ".join(self.parameters)
        return (f"<Branch of {names[self.kind]} of {self.system.name!r}: {len(self)} points, "
                f"{span}; special points: {kinds}>")

    # -- values along the branch ---------------------------------------------------------------
    def values(self, path: str) -> np.ndarray:
        """Values of a state, algebraic variable or parameter at every point of the branch
        (``(n_points, n_copies)`` for a network state)."""
        full = self.system.resolve(path)
        if full in self.system.layout:
            _, _, off, length = self.system.layout[full]
            return self.states[:, off] if length == 1 else self.states[:, off:off + length]
        if full in self.parameters:
            col = self.parameters.index(full)
            return self.parameter if self.parameter.ndim == 1 else self.parameter[:, col]
        if full in self.system.parameters and self._params is not None:
            from ..derivatives import ParametricSystem

            ps = ParametricSystem.of(self.system)
            return self._params[:, ps.slots(full)[0]]
        return self._observe(full)

    def _observe(self, full: str) -> np.ndarray:
        from ...runtime.problem_numpy import NumpyProblem
        from ..derivatives import ParametricSystem

        ps = ParametricSystem.of(self.system)
        current: dict[str, Any] = {}
        names = [k for k in self.system.parameters if k in ps._slot]
        inputs = {k: (lambda t, k=k: current[k]) for k in names}
        problem = NumpyProblem(self.system, inputs=inputs)
        observe = problem.observe(full)
        out = np.empty(len(self))
        for i in range(len(self)):
            for k in names:
                current[k] = self._params[i, ps._slot[k]]
            out[i] = float(np.ravel(observe(0.0, self.states[i], 0))[0])
        return out

    def to_dataframe(self) -> pd.DataFrame:
        """One row per point: parameter(s), states, ``stable`` and ``special`` (the special
        point's kind, or ``""``)."""
        import pandas as pd

        cols: dict[str, Any] = {}
        par = self.parameter.reshape(len(self), -1)
        for k, name in enumerate(self.parameters):
            cols[name] = par[:, k]
        for k, name in enumerate(flat_state_names(self.system)):
            cols[name] = self.states[:, k]
        cols["stable"] = self.stable
        special = np.full(len(self), "", dtype=object)
        for sp in self.special_points:
            special[sp.index] = sp.kind
        cols["special"] = special
        if self.frequency is not None:
            cols["frequency"] = self.frequency
        return pd.DataFrame(cols)

    # -- plotting ------------------------------------------------------------------------------
    def plot(self, y: str | None = None, *, x: str | None = None, ax: Axes | None = None,
             labels: bool = True, unit: int = 0, **line_kwargs: Any) -> Axes:
        """Plot the branch: stable parts solid, unstable parts dashed, special points labelled.

        Parameters
        ----------
        y : str, optional
            Path of a state, algebraic variable or parameter for the vertical axis. Default:
            the second parameter on two-parameter curves, else the model's first output (or
            first state).
        x : str, optional
            Horizontal axis; default the (first) continued parameter.
        ax : matplotlib.axes.Axes, optional
        labels : bool
            Write the special points' kinds next to them.
        unit : int
            For a network state: which copy to draw.
        **line_kwargs
            Passed to ``Axes.plot`` (``color``, ``lw``, ``label``, ...).

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from symrates.analysis import continuation
        >>> branch = continuation("fitzhugh_nagumo.FHN", "I", bounds=(0.0, 2.0))
        >>> ax = branch.plot(y="v")
        >>> [t.get_text() for t in ax.texts]
        ['HB', 'HB']
        """
        from ...plotting import axes, plot_by_stability

        ax = axes(ax)
        xs = self.values(x) if x is not None else self.values(self.parameters[0])
        if y is None:
            if len(self.parameters) == 2:
                y = self.parameters[1]
            else:
                outs = [o for o in self.system.outputs]
                y = outs[0] if outs else self.system.states[0]
        ys = self.values(y)
        xs = xs[:, unit] if xs.ndim == 2 else xs
        ys = ys[:, unit] if ys.ndim == 2 else ys
        kwargs = dict(line_kwargs)
        color = kwargs.pop("color", None)
        label = kwargs.pop("label", None)
        stable = np.asarray(self.stable, dtype=bool)
        color, _ = plot_by_stability(ax, xs, ys, stable, color=color, label=label, **kwargs)
        for sp in self.special_points:
            ax.plot(xs[sp.index], ys[sp.index], "o", color=color, markersize=5,
                    markeredgecolor="k", markeredgewidth=0.6)
            if labels:
                ax.annotate(sp.kind, (xs[sp.index], ys[sp.index]), textcoords="offset points",
                            xytext=(4, 4), fontsize="small")
        ax.set_xlabel(self.system.resolve(x) if x is not None else self.parameters[0])
        ax.set_ylabel(self.system.resolve(y))
        return ax

    def special(self, kind: str) -> list[SpecialPoint]:
        """The special points of one kind, e.g. ``branch.special("HB")``."""
        if kind not in KIND_NAMES:
            raise ModelDefinitionError(
                f"Unknown special-point kind {kind!r}; kinds: {', '.join(KIND_NAMES)}."
            )
        return [sp for sp in self.special_points if sp.kind == kind]
