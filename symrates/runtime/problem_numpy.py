"""The numpy reference evaluator of a :class:`~symrates.codegen.lower.KernelSpec`.

:class:`ProblemSetup` resolves parameters, inputs and initial states from paths (shared with the
compiled engine); :class:`NumpyProblem` evaluates the spec with numpy.

Each group's derivatives are evaluated vectorised over its units (lambdified once from the lowered,
CSE'd expressions); each coupling evaluates its source once per source unit and adds a CSR product
to the target's coupling sum. Parameters are arrays with one entry per unit; parameters and inputs
driven by time series or callables are refreshed at every evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy

from ..codegen.lower import KernelSpec, lower
from ..errors import ModelDefinitionError
from ..frontend.parsing import Delay
from ..ir.csr import CSR
from ..ir.system import SymbolicSystem
from .history import delay_lines, hermite

__all__ = ["ProblemSetup", "NumpyProblem", "lowered"]


def lowered(system: SymbolicSystem) -> KernelSpec:
    """The :class:`KernelSpec` of ``system``, lowered once and cached on it."""
    if "spec" not in system._cache:
        system._cache["spec"] = lower(system)
    return system._cache["spec"]


def _lambdify(args, temporaries, exprs):
    """A numpy function of ``args`` computing ``exprs`` after the CSE ``temporaries``.

    Arguments are renamed to ``_sr_a0, _sr_a1, ...`` first: names such as ``RPO_e/v`` are not
    identifiers, and lambdify's own replacements (``_Dummy_<counter>``) would make the printed
    term order, and so the last bit of the results, depend on how many symbols were made before.
    """
    names = {a: sympy.Symbol(f"_sr_a{i}", real=True) for i, a in enumerate(args)}
    temps = [(s, e.xreplace(names)) for s, e in temporaries]
    exprs = [sympy.sympify(e).xreplace(names) for e in exprs]
    return sympy.lambdify(list(names.values()), exprs, modules="numpy",
                          cse=lambda e: (temps, exprs), docstring_limit=0)


def _functions(system: SymbolicSystem, spec: KernelSpec | None):
    """The lowered spec and its numpy functions, built once per system and cached on it."""
    if spec is None and "numpy" in system._cache:
        return system._cache["numpy"]
    spec = spec or lowered(system)
    group_fns = [_lambdify(g.arguments, g.temporaries, g.derivatives) for g in spec.groups]
    coupling_fns = []
    for c in spec.couplings:
        src = spec.groups[c.source]
        fn = _lambdify(src.arguments, c.temporaries, [c.expr])
        # scipy's C matrix-vector product (imported here, not for every build: ir/csr.py)
        W = CSR(c.weights, c.indices, c.indptr, c.shape).tocsr()
        rate = None
        if c.delayed:
            rate = _lambdify((*src.arguments, *c.rate_symbols), c.dtemporaries, [c.dexpr])
        coupling_fns.append((fn, W, rate))
    out = (spec, group_fns, coupling_fns)
    system._cache.setdefault("numpy", out)
    return out


@dataclass
class _Driven:
    group: int
    param: str
    rows: slice
    source: np.ndarray | Callable[[float], Any]


class ProblemSetup:
    """Parameters, driven inputs and initial states of a system, resolved from paths.

    What every backend needs before it integrates: the lowered spec, one array of values per
    parameter and group (length ``n``), the parameters driven by ``inputs=``, the state names
    and :meth:`state_vector`. :class:`NumpyProblem` adds numpy evaluation; the compiled engine
    (:mod:`symrates.runtime.compiled`) packs the same arrays for its kernel.

    Parameters
    ----------
    system : SymbolicSystem
    params : mapping, optional
        ``{path: value}`` overrides of parameter defaults; a value may be an array with one
        entry per network copy.
    inputs : mapping, optional
        ``{path: array | callable}`` time-varying parameters or input constants. An array has one
        row per step (row ``k`` holds during step ``k``); a callable is called as ``f(t)``.
    n_steps : int, optional
        Number of steps, to check the length of input arrays.
    spec : KernelSpec, optional
        A spec lowered earlier from ``system``.
    """

    def __init__(
        self,
        system: SymbolicSystem,
        *,
        params: Mapping[str, Any] | None = None,
        inputs: Mapping[str, Any] | None = None,
        n_steps: int | None = None,
        spec: KernelSpec | None = None,
    ) -> None:
        self.system = system
        self.spec = spec or lowered(system)
        self.n_states = self.spec.n_states
        self.state_names = self._state_names()
        # the system's arrays, shared until written: a parameter set by params= or driven by
        # inputs= (which NumpyProblem writes step by step) gets a copy of its own
        self.params = [{p: g.param_values[p] for p in g.parameters} for g in system.groups]
        own: set[tuple[int, str]] = set()

        def writable(gi: int, local: str) -> None:
            if (gi, local) not in own:
                self.params[gi][local] = np.array(self.params[gi][local], dtype=float)
                own.add((gi, local))

        self._driven: list[_Driven] = []
        for path, value in (params or {}).items():
            gi, local, rows = self._param_slot(path, "params")
            writable(gi, local)
            arr = np.asarray(value, dtype=float)
            if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != rows.stop - rows.start):
                raise ModelDefinitionError(
                    f"The value of parameter {path!r} in {system.name!r} must be a number"
                    f" or an array of {rows.stop - rows.start} entries (one per copy), got "
                    f"shape {arr.shape}."
                )
            if not np.all(np.isfinite(arr)):
                raise ModelDefinitionError(
                    f"The value of parameter {path!r} in {system.name!r} is not finite: {value!r}."
                )
            self.params[gi][local][rows] = arr
        for path, value in (inputs or {}).items():
            gi, local, rows = self._param_slot(path, "inputs")
            writable(gi, local)
            if not callable(value):
                value = np.asarray(value, dtype=float)
                width = rows.stop - rows.start
                if value.ndim == 2 and value.shape[1] == 1:
                    value = value[:, 0]
                ok = value.ndim == 1 or (value.ndim == 2 and value.shape[1] == width)
                if not ok or (n_steps is not None and value.shape[0] < n_steps):
                    raise ModelDefinitionError(
                        f"The input array for {path!r} in {system.name!r} has shape "
                        f"{value.shape}; expected ({n_steps or 'n_steps'},) or "
                        f"({n_steps or 'n_steps'}, {width}): one row per step."
                    )
            self._driven.append(_Driven(gi, local, rows, value))

    @property
    def driven(self) -> tuple[_Driven, ...]:
        """The parameters driven by ``inputs=``: ``(group index, parameter, rows, source)``."""
        return tuple(self._driven)

    # -- setup helpers -------------------------------------------------------------------------
    def _state_names(self) -> tuple[str, ...]:
        cache = self.system._cache
        if "state_names" not in cache:
            names = []
            for path, (_g, _var, _off, length) in self.system.layout.items():
                names += [path] if length == 1 else [f"{path}[{c}]" for c in range(length)]
            cache["state_names"] = tuple(names)
        return cache["state_names"]

    def _param_slot(self, path: str, option: str) -> tuple[int, str, slice]:
        group, local, node_i = self.system.locate(path)
        if local not in group.param_symbols:
            kinds = "a state" if local in group.states else "an algebraic variable"
            raise ModelDefinitionError(
                f"{option}= of {self.system.name!r} names {path!r}, which is {kinds}; only "
                f"parameters and inputs can be set there. Use y0= for initial states."
            )
        gi = self.system.groups.index(group)
        rows = slice(node_i * group.copies, (node_i + 1) * group.copies)
        return gi, local, rows

    def state_vector(self, y: Any = None) -> np.ndarray:
        """A full state vector from ``None`` (declared initial values), a vector, or
        ``{path: value}`` (the other states keep their declared initial values)."""
        if y is None:
            return self.system.initial_state.copy()
        # arrays first: the first isinstance(array, Mapping) of a process walks the ABC
        # registry (~30 µs of a B1 N = 1 run)
        if not isinstance(y, (np.ndarray, list, tuple)) and isinstance(y, Mapping):
            return self.system.state_from(y, "y0")
        arr = np.array(y, dtype=float).reshape(-1)
        if arr.shape != (self.n_states,):
            raise ModelDefinitionError(
                f"The state vector for {self.system.name!r} must have {self.n_states} entries "
                f"(states: {', '.join(self.system.states[:8])}), got shape {np.shape(y)}."
            )
        return arr


class NumpyProblem(ProblemSetup):
    """A simulation problem ``dy/dt = f(t, y)`` evaluated with numpy.

    Takes the parameters of :class:`ProblemSetup`. A model with delays (:attr:`delayed`) keeps
    the histories of its delayed couplings (:mod:`symrates.runtime.history`): call
    :meth:`start_history` with the step before integrating; it then needs the fixed-step
    convention of :class:`~symrates.runtime.problem.Problem` that the first evaluation of step
    ``k`` is at ``(t_k, y_k)``, which every fixed-step method keeps.
    """

    def __init__(
        self,
        system: SymbolicSystem,
        *,
        params: Mapping[str, Any] | None = None,
        inputs: Mapping[str, Any] | None = None,
        n_steps: int | None = None,
        spec: KernelSpec | None = None,
    ) -> None:
        super().__init__(system, params=params, inputs=inputs, n_steps=n_steps, spec=spec)
        self.spec, self._group_fns, self._coupling_fns = _functions(system, spec)
        #: whether some coupling reads a history (edge delays or x(t - d) in equations)
        self.delayed = any(c.delayed for c in self.spec.couplings)
        self._history: dict[int, tuple] | None = None
        self._dt = 0.0
        self._last = -1

    # -- delays --------------------------------------------------------------------------------
    def start_history(self, dt: float) -> None:
        """Start the histories of the delayed couplings for a run with fixed step ``dt``.

        Raises
        ------
        ModelDefinitionError
            If a delay is shorter than ``dt`` (see :func:`~symrates.runtime.history.delay_lines`).
        """
        self._history = {}
        for line in delay_lines(self.spec, dt, self.params, self._driven):
            c = self.spec.couplings[line.coupling]
            n = self.spec.groups[c.source].n
            rows = np.repeat(np.arange(c.shape[0]), np.diff(c.indptr))
            self._history[line.coupling] = (line, np.zeros((line.slots, n)),
                                            np.zeros((line.slots, n)), np.zeros(n), rows)
        self._dt = float(dt)
        self._last = -1

    def _delayed_sum(self, ci: int, c, values: np.ndarray, k: int, stage: float) -> np.ndarray:
        line, Hs, Hd, H0, rows = self._history[ci]
        W = self._coupling_fns[ci][1]
        if k > self._last:            # the first stage of step k: at (t_k, y_k)
            if k == 0:
                H0[:] = values
            Hs[k % line.slots] = values
        delayed = hermite(line.steps, c.indices, k, stage, Hs, Hd, H0, values)
        return np.bincount(rows, weights=W.data * delayed, minlength=c.shape[0])

    def _record_rates(self, t: float, y: np.ndarray, dy: np.ndarray, k: int,
                      cins: list[dict]) -> None:
        """After the first stage of step ``k``: ``dt * d(source)/dt`` into the histories."""
        for ci, (line, _Hs, Hd, _H0, _rows) in self._history.items():
            c = self.spec.couplings[ci]
            src = self.spec.groups[c.source]
            rates = [dy[off:off + src.n] for off in src.offsets]
            (d,) = self._coupling_fns[ci][2](*self._arguments(c.source, t, y, cins), *rates)
            Hd[k % line.slots] = self._dt * np.broadcast_to(np.asarray(d, dtype=float), (src.n,))
        self._last = k

    # -- evaluation ----------------------------------------------------------------------------
    def _refresh(self, t: float, k: int) -> None:
        for d in self._driven:
            if callable(d.source):
                value = d.source(t)
            else:
                value = d.source[min(k, d.source.shape[0] - 1)]
            self.params[d.group][d.param][d.rows] = value

    def _arguments(self, gi: int, t: float, y: np.ndarray, cins: list[dict]) -> list:
        g = self.spec.groups[gi]
        args: list = [t]
        args += [y[off:off + g.n] for off in g.offsets]
        args += [self.params[gi][p] for p in g.params]
        args += [cins[gi][c] for c in g.cins]
        return args

    def coupling_sums(self, t: float, y: np.ndarray, k: int | None = None
                      ) -> list[dict[str, np.ndarray]]:
        """The coupling sums of every group's coupled inputs at ``(t, y)`` during step ``k``.

        The sums of delayed couplings need the step ``k`` and a started history; without
        them they are NaN.
        """
        cins = [{c: np.zeros(g.n) for c in g.cins} for g in self.spec.groups]
        stage = None
        if self.delayed and k is not None and self._history is not None:
            stage = round(2.0 * (t / self._dt - k)) / 2.0
        for ci, (c, (fn, W, _rate)) in enumerate(zip(self.spec.couplings, self._coupling_fns)):
            src = self.spec.groups[c.source]
            (values,) = fn(*self._arguments(c.source, t, y, cins))
            values = np.broadcast_to(np.asarray(values, dtype=float), (src.n,))
            if not c.delayed:
                cins[c.target][c.target_cin] += W @ values
            elif stage is None:
                cins[c.target][c.target_cin] += np.nan
            else:
                cins[c.target][c.target_cin] += self._delayed_sum(ci, c, values, k, stage)
        return cins

    def rhs(self, t: float, y: np.ndarray, k: int) -> np.ndarray:
        """``dy/dt`` at time ``t`` during step ``k``."""
        self._refresh(t, k)
        if self.delayed and self._history is None:
            raise ModelDefinitionError(
                f"{self.system.name!r} has delays: its right-hand side reads a history, which "
                "a run starts (start_history(dt)); simulate it with a fixed-step method "
                "(euler, heun, rk4)."
            )
        cins = self.coupling_sums(t, y, k)
        out = np.empty_like(y)
        for gi, (g, fn) in enumerate(zip(self.spec.groups, self._group_fns)):
            derivs = fn(*self._arguments(gi, t, y, cins))
            for off, d in zip(g.offsets, derivs):
                out[off:off + g.n] = d
        if self.delayed and k > self._last:
            self._record_rates(t, y, out, k, cins)
        return out

    def _check_observable(self, path: str, expr: sympy.Expr, gi: int) -> None:
        """Values read after a run cannot use histories (only the last steps are kept)."""
        delayed = {self.spec.groups[gi].cin_symbols[self.spec.groups[gi].cins.index(
            c.target_cin)] for c in self.spec.couplings if c.delayed and c.target == gi}
        if expr.has(Delay) or expr.free_symbols & delayed:
            raise ModelDefinitionError(
                f"{path!r} of {self.system.name!r} depends on delayed values, which are not "
                "kept after the run; record the states it is computed from instead (outputs= "
                "with state paths)."
            )

    def observe(self, path: str) -> Callable[[float, np.ndarray, int], np.ndarray]:
        """A function ``(t, y, k) -> value`` of any variable (state, algebraic, input) or
        parameter path, evaluated per copy."""
        full = self.system.resolve(path)
        group, local, node_i = self.system.locate(full)
        gi = self.system.groups.index(group)
        rows = slice(node_i * group.copies, (node_i + 1) * group.copies)
        g = self.spec.groups[gi]
        if full in self.system.layout:
            _, _, off, length = self.system.layout[full]
            return lambda t, y, k: y[off:off + length]
        if local in group.param_symbols and local not in group.symbols:
            def param_value(t, y, k):
                self._refresh(t, k)
                return self.params[gi][local][rows].copy()
            return param_value
        expr = group.value_of(local)
        self._check_observable(full, expr, gi)
        fn = _lambdify(g.arguments, (), [expr])

        def value(t, y, k):
            self._refresh(t, k)
            (v,) = fn(*self._arguments(gi, t, y, self.coupling_sums(t, y)))
            return np.broadcast_to(np.asarray(v, dtype=float), (g.n,))[rows].copy()

        return value

