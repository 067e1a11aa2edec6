"""``periodic_orbit``: find a limit cycle by simulation and correct it by collocation."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from ...errors import ConvergenceError, ModelDefinitionError
from ...ir.build import build
from ...ir.system import SymbolicSystem
from ...runtime.result import PathDict, SimulationResult
from .._states import flat_state_names, short_name, state_dict
from ..derivatives import ParametricSystem
from .collocation import Collocation, VectorField
from .solve import Solution, analyse, correct_orbit

__all__ = ["PeriodicOrbit", "periodic_orbit"]

log = logging.getLogger(__name__)

#: Default number of mesh intervals and polynomial degree of the collocation (continuation);
#: a single orbit is cheap, so periodic_orbit uses a finer mesh by default.
NTST, NCOL = 40, 4
NTST_ORBIT = 60


class PeriodicOrbit:
    """A periodic orbit (limit cycle) with its period and Floquet multipliers.

    Attributes
    ----------
    period : float
        In the model's time unit.
    t : np.ndarray
        ``(n_times,)`` times in ``[0, period]`` of the samples: the nodes of the collocation mesh,
        denser where the orbit changes fast.
    states : np.ndarray
        ``(n_times, n_states)``; the first and last rows are the same point.
    multipliers : np.ndarray of complex
        Floquet multipliers by decreasing modulus, the trivial one (``1`` up to the collocation
        error) included. Multipliers far below machine precision are computed in log form and
        are exact to rounding, not noise (see ``log_multipliers`` where they underflow).
    log_multipliers : np.ndarray
        ``log |mu|`` of each multiplier.
    trivial : int
        Index of the trivial multiplier in ``multipliers``.
    stable : bool
        All non-trivial multipliers lie inside the unit circle.
    minimum, maximum, mean : dict
        ``{path: value}`` per state over one period (the mean is the time average); looked up
        by any unambiguous suffix of the path.
    params : dict
        ``{path: value}`` of all parameters.

    Examples
    --------
    >>> import symrates as sr
    >>> orbit = sr.periodic_orbit("fitzhugh_nagumo.FHN", params={"I": 0.5})
    >>> round(orbit.period, 4), orbit.stable
    (39.4744, True)
    >>> orbit["v"].shape == orbit.t.shape
    True
    """

    def __init__(self, system: SymbolicSystem, sol: Solution, p: np.ndarray,
                 data: dict | None = None) -> None:
        ps = ParametricSystem.of(system)
        field = VectorField.of(ps)
        self.system = system
        self._sol = sol
        self._p = np.array(p, dtype=float)
        data = data if data is not None else analyse(field, sol, self._p)
        self.period = float(sol.T)
        self.t = sol.col.nodes() * self.period
        self.states = sol.x.copy()
        self.multipliers = np.asarray(data["multipliers"])
        self.log_multipliers = np.asarray(data["log_multipliers"])
        self.trivial = int(data["trivial"])
        self.stable = bool(data["stable"])
        self.minimum = PathDict(state_dict(system, data["minimum"]))
        self.maximum = PathDict(state_dict(system, data["maximum"]))
        self.mean = PathDict(state_dict(system, data["mean"]))
        self.params = ps.parameter_dict(self._p)

    @property
    def model(self) -> str:
        return self.system.name

    @property
    def state_names(self) -> tuple[str, ...]:
        """Names of the columns of :attr:`states`."""
        return tuple(flat_state_names(self.system))

    def __getitem__(self, path: str) -> np.ndarray:
        """The state ``path`` along one period (``(n_times, n_copies)`` for a network state)."""
        full = self.system.resolve(path)
        if full not in self.system.layout:
            raise ModelDefinitionError(
                f"{path!r} is not a state of {self.system.name!r}; an orbit holds the states "
                f"{', '.join(self.system.states[:8])}."
            )
        _, _, off, length = self.system.layout[full]
        return self.states[:, off] if length == 1 else self.states[:, off:off + length]

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        """The state at times ``t`` (taken modulo the period): ``(len(t), n_states)``."""
        tau = np.atleast_1d(np.asarray(t, dtype=float)) / self.period
        return self._sol.col.evaluate(self._sol.x, tau)

    def __repr__(self) -> str:
        nontrivial = np.delete(self.multipliers, self.trivial)
        shown = ", ".join(_format_multiplier(mu, lg) for mu, lg in
                          zip(nontrivial[:4], np.delete(self.log_multipliers, self.trivial)[:4]))
        ranges = ", ".join(
            f"{short_name(self.system, name)} in [{lo:.4g}, {hi:.4g}]"
            for name, lo, hi in list(zip(self.state_names, _flat(self.minimum),
                                         _flat(self.maximum)))[:4])
        more = ", ..." if len(self.state_names) > 4 else ""
        return (f"<PeriodicOrbit of {self.model!r}: period {self.period:.10g}, "
                f"{'stable' if self.stable else 'unstable'}; multipliers 1 (trivial), {shown}"
                f"{', ...' if len(nontrivial) > 4 else ''}; {ranges}{more}>")


def _flat(d: dict) -> list[float]:
    out: list[float] = []
    for v in d.values():
        out += list(np.ravel(v))
    return out


def _format_multiplier(mu: complex, log_abs: float) -> str:
    if abs(mu) == 0.0 and np.isfinite(log_abs):
        return f"~1e{log_abs / np.log(10):.0f}"
    if abs(mu.imag) > 1e-12 * max(abs(mu), 1e-300):
        return f"{mu.real:.4g}{mu.imag:+.4g}j"
    return f"{mu.real:.4g}"


# -- periodic_orbit ---------------------------------------------------------------------------
def periodic_orbit(model: Any, *, params: Mapping[str, float] | None = None,
                   guess: Any = None, t_transient: float | None = None,
                   ntst: int = NTST_ORBIT, ncol: int = NCOL) -> PeriodicOrbit:
    """Find a periodic orbit: simulate onto it, cut out one period, correct it by collocation.

    The model is simulated (numpy reference, adaptive RK45) for ``t_transient``, then until the
    upward crossings of a Poincaré section (the state with the largest relative swing, at its
    mean) repeat; the last period is simulated once more finely and corrected by orthogonal
    collocation (Gauss–Legendre, mesh adapted to the orbit), which also gives the Floquet
    multipliers. A stable cycle is found from any start in its basin; an unstable one only from
    a close ``guess``.

    Parameters
    ----------
    model : template, str or SymbolicSystem
    params : mapping, optional
        ``{path: value}`` parameter overrides.
    guess : mapping, SimulationResult or None
        None: simulate from the declared initial state. A ``{path: value}`` state: simulate from
        it. A :class:`~symrates.SimulationResult` recording all states over about one period or
        more: its period is detected and corrected directly (no further simulation), which is
        how an unstable cycle can be given.
    t_transient : float, optional
        Time to simulate before looking for the period. Default: 50 of the slowest time
        constants of the Jacobian at the start.
    ntst, ncol : int
        Mesh intervals and polynomial degree of the collocation (the period's error falls as
        ``ntst**-(2 ncol)``).

    Returns
    -------
    PeriodicOrbit

    Raises
    ------
    ConvergenceError
        If the simulation settles to an equilibrium (or does not repeat), or Newton's method on
        the collocation system fails; the message says what was seen and what to try.

    Examples
    --------
    >>> import symrates as sr
    >>> orbit = sr.periodic_orbit("jansen_rit.JR6", params={"p": 220.0})
    >>> round(1 / orbit.period, 2), orbit.stable
    (10.94, True)
    """
    system = build(model)
    ps = ParametricSystem.of(system)
    field = VectorField.of(ps)
    p = ps.parameter_vector(params)
    if int(ntst) < 4 or int(ncol) < 2:
        raise ModelDefinitionError(
            f"ntst = {ntst} and ncol = {ncol}: the collocation needs at least 4 mesh intervals "
            f"of degree at least 2 (defaults {NTST_ORBIT} and {NCOL})."
        )
    where = _where(params)
    if isinstance(guess, SimulationResult):
        t, Y = _result_states(system, guess)
        found = _one_period(t, Y)
        if found is None:
            raise ConvergenceError(
                f"guess= does not contain a repeating oscillation of {system.name!r}{where}: "
                f"no state crosses its mean upwards at least twice at the same point. Give a "
                f"simulation that covers at least one full period of the orbit."
            )
        t0, T = found
        tt = np.linspace(t0, t0 + T, 1001)
        Ys = np.column_stack([np.interp(tt, t, Y[:, k]) for k in range(Y.shape[1])])
        start = _initial(tt - t0, Ys, T, ps.n, int(ntst), int(ncol))
    else:
        y0 = _start_state(system, guess)
        start = _simulate_period(system, ps, p, y0, params, t_transient, where, int(ntst),
                                 int(ncol))
    sol = correct_orbit(field, start, p)
    if sol is None:
        raise ConvergenceError(
            f"The periodic orbit of {system.name!r}{where} (period about {start.T:.6g} from the "
            f"simulation) could not be corrected: Newton's method on the collocation system did "
            f"not converge. Try a larger ntst (now {ntst}), or a guess closer to the orbit."
        )
    return PeriodicOrbit(system, sol, p)


def _where(params) -> str:
    if not params:
        return ""
    shown = ", ".join(f"{k} = {v:g}" for k, v in params.items()
                      if np.ndim(v) == 0)
    return f" at {shown}" if shown else ""


def _start_state(system: SymbolicSystem, guess: Any) -> np.ndarray:
    y = system.initial_state.copy()
    if guess is None:
        return y
    if isinstance(guess, Mapping):
        return system.state_from(guess, "guess=")
    raise ModelDefinitionError(
        f"guess= must be None, a {{path: value}} state or a SimulationResult of "
        f"{system.name!r}; got {type(guess).__name__}."
    )


def _result_states(system: SymbolicSystem, res: SimulationResult) -> tuple[np.ndarray, np.ndarray]:
    cols = []
    for path in system.layout:
        try:
            values = res[path]
        except Exception as exc:
            raise ModelDefinitionError(
                f"guess= does not record the state {path!r} of {system.name!r}; simulate with "
                f"all states recorded (the default outputs)."
            ) from exc
        cols.append(np.asarray(values, dtype=float).reshape(len(res.t), -1))
    return res.t, np.hstack(cols)


def _time_scales(ps: ParametricSystem, y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Fastest and slowest time constant of the Jacobian at ``y``."""
    with np.errstate(all="ignore"):
        ev = np.linalg.eigvals(ps.jacobian(y, p))
    rates = np.abs(ev)
    rates = rates[np.isfinite(rates) & (rates > 1e-9 * max(rates.max(initial=0.0), 1e-300))]
    if rates.size == 0:
        return 1.0, 1.0
    return 1.0 / rates.max(), 1.0 / rates.min()


def _crossings(t: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Upward crossings of the mean by the state with the largest relative swing: their times,
    the (interpolated) states there, and that relative swing."""
    span = Y.max(axis=0) - Y.min(axis=0)
    size = np.maximum(np.max(np.abs(Y), axis=0), 1e-12)
    rel = span / size
    k = int(np.argmax(rel))
    level = 0.5 * (Y[:, k].max() + Y[:, k].min())
    s = Y[:, k] - level
    idx = np.nonzero((s[:-1] < 0) & (s[1:] >= 0))[0]
    frac = -s[idx] / (s[idx + 1] - s[idx])
    times = t[idx] + frac * (t[idx + 1] - t[idx])
    states = Y[idx] + frac[:, None] * (Y[idx + 1] - Y[idx])
    return times, states, float(rel[k])


def _one_period(t: np.ndarray, Y: np.ndarray, tol: float = 1e-2) -> tuple[float, float] | None:
    """``(t0, T)`` of the last full period in the samples, or None."""
    times, states, rel = _crossings(t, Y)
    if rel < 1e-6 or len(times) < 2:
        return None
    scale = np.maximum(Y.max(axis=0) - Y.min(axis=0), 1e-12)
    last = states[-1]
    for k in range(1, len(times)):
        if np.max(np.abs(states[-1 - k] - last) / scale) < tol:
            return float(times[-1 - k]), float(times[-1] - times[-1 - k])
    return None


def _simulate_period(system, ps, p, y0, params, t_transient, where, ntst, ncol) -> Solution:
    from ...runtime.simulate import simulate

    fast, slow = _time_scales(ps, y0, p)
    t_tr = 50.0 * slow if t_transient is None else float(t_transient)
    if not t_tr >= 0:
        raise ModelDefinitionError(f"t_transient must be >= 0, got {t_transient!r}.")
    dt = min(fast, slow) / 10.0

    def run(y, t_end, dt):
        steps = max(int(np.ceil(t_end / dt)), 1)
        res = simulate(system, steps * dt, dt=dt, method="rk45", backend="numpy",
                       params=params, y0=y, rtol=1e-9, atol=1e-12)
        return _result_states(system, res)

    y = y0
    if t_tr > 0:
        _, Y = run(y, t_tr, max(dt, t_tr / 20000))
        y = Y[-1]
    window = 40.0 * slow
    found = None
    for _ in range(4):
        t, Y = run(y, window, dt)
        found = _one_period(t, Y)
        if found is not None:
            t0, T = found
            times, _, _ = _crossings(t, Y)
            periods = np.diff(times)
            if len(periods) >= 3 and abs(periods[-1] - periods[-2]) <= 1e-3 * T:
                break
        y = Y[-1]
        window *= 2
    span = Y.max(axis=0) - Y.min(axis=0)
    if found is None:
        rel = float(np.max(span / np.maximum(np.max(np.abs(Y), axis=0), 1e-12)))
        shown = ", ".join(f"{short_name(system, k)} = {v:.6g}"
                          for k, v in list(zip(flat_state_names(system), Y[-1]))[:6])
        what = ("settles to an equilibrium" if rel < 1e-3 else
                "does not repeat (no periodic orbit within the simulated time)")
        raise ConvergenceError(
            f"No periodic orbit of {system.name!r}{where} found: the simulation from "
            f"{_state_text(system, y0)} {what} (relative swing {rel:.2g} at the end, "
            f"state {shown}). Choose parameters where the model oscillates, start elsewhere "
            f"with guess={{path: value}}, or give a longer t_transient."
        )
    t0, T = found
    k0 = int(np.searchsorted(t, t0))
    yk = Y[max(k0 - 1, 0)] + (Y[min(k0, len(t) - 1)] - Y[max(k0 - 1, 0)]) * (
        (t0 - t[max(k0 - 1, 0)]) / max(t[min(k0, len(t) - 1)] - t[max(k0 - 1, 0)], 1e-300))
    # one more period from the crossing, finely sampled
    tt, Ys = run(yk, T, T / 2000)
    log.info("%s%s: period about %.6g from a simulation", system.name, where, T)
    return _initial(tt, Ys, T, ps.n, ntst, ncol)


def _state_text(system: SymbolicSystem, y: np.ndarray) -> str:
    shown = ", ".join(f"{short_name(system, k)} = {v:.4g}"
                      for k, v in list(zip(flat_state_names(system), y))[:6])
    return f"({shown}{', ...' if len(y) > 6 else ''})"


def _initial(t: np.ndarray, Y: np.ndarray, T: float, n: int, ntst: int, ncol: int) -> Solution:
    """A collocation guess from samples of one period starting at ``t[0]``."""
    col = Collocation(n, ntst, ncol, np.linspace(0.0, 1.0, ntst + 1))
    tau = (t - t[0]) / T
    nodes = col.nodes()
    x = np.column_stack([np.interp(nodes, tau, Y[:, k]) for k in range(n)])
    x[-1] = x[0]
    # put the mesh where the samples change fast, then interpolate again
    mesh = col.adapted_mesh(x, np.maximum(np.max(np.abs(x), axis=0), 1e-12))
    col = Collocation(n, ntst, ncol, mesh)
    x = np.column_stack([np.interp(col.nodes(), tau, Y[:, k]) for k in range(n)])
    x[-1] = x[0]
    return Solution(col, x, float(T))

