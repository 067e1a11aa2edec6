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
import scipy.sparse as sp
import sympy

from ..codegen.lower import KernelSpec, lower
from ..errors import ModelDefinitionError
from ..ir.system import SymbolicSystem

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
        W = sp.csr_matrix((c.weights, c.indices, c.indptr), shape=c.shape)
        coupling_fns.append((fn, W))
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
        self.params = [
            {p: np.array(g.param_values[p], dtype=float) for p in g.parameters}
            for g in system.groups
        ]
        self._driven: list[_Driven] = []
        for path, value in (params or {}).items():
            gi, local, rows = self._param_slot(path, "params")
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
        names = []
        for path, (_g, _var, _off, length) in self.system.layout.items():
            names += [path] if length == 1 else [f"{path}[{c}]" for c in range(length)]
        return tuple(names)

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
        if isinstance(y, Mapping):
            out = self.system.initial_state.copy()
            for path, value in y.items():
                full = self.system.resolve(path)
                if full not in self.system.layout:
                    raise ModelDefinitionError(
                        f"y0 of {self.system.name!r} names {path!r}, which is not a state. "
                        f"States: {', '.join(self.system.states[:8])}."
                    )
                _, _, off, length = self.system.layout[full]
                out[off:off + length] = value
            return out
        arr = np.array(y, dtype=float).reshape(-1)
        if arr.shape != (self.n_states,):
            raise ModelDefinitionError(
                f"The state vector for {self.system.name!r} must have {self.n_states} entries "
                f"(states: {', '.join(self.system.states[:8])}), got shape {np.shape(y)}."
            )
        return arr


class NumpyProblem(ProblemSetup):
    """A simulation problem ``dy/dt = f(t, y)`` evaluated with numpy.

    Takes the parameters of :class:`ProblemSetup`; models with delays are refused (the numpy
    reference does not integrate them yet).
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
        if system.has_delays:
            raise ModelDefinitionError(
                f"{system.name!r} has delayed couplings or equations: the numpy reference "
                f"simulator does not integrate delays; the compiled engine will. For now set the "
                f"delays to zero (edge 'delay', or x(t - d) in equations)."
            )
        super().__init__(system, params=params, inputs=inputs, n_steps=n_steps, spec=spec)
        self.spec, self._group_fns, self._coupling_fns = _functions(system, spec)

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

    def coupling_sums(self, t: float, y: np.ndarray) -> list[dict[str, np.ndarray]]:
        """The coupling sums of every group's coupled inputs at ``(t, y)``."""
        cins = [{c: np.zeros(g.n) for c in g.cins} for g in self.spec.groups]
        for c, (fn, W) in zip(self.spec.couplings, self._coupling_fns):
            src = self.spec.groups[c.source]
            (values,) = fn(*self._arguments(c.source, t, y, cins))
            values = np.broadcast_to(np.asarray(values, dtype=float), (src.n,))
            cins[c.target][c.target_cin] += W @ values
        return cins

    def rhs(self, t: float, y: np.ndarray, k: int) -> np.ndarray:
        """``dy/dt`` at time ``t`` during step ``k``."""
        self._refresh(t, k)
        cins = self.coupling_sums(t, y)
        out = np.empty_like(y)
        for gi, (g, fn) in enumerate(zip(self.spec.groups, self._group_fns)):
            derivs = fn(*self._arguments(gi, t, y, cins))
            for off, d in zip(g.offsets, derivs):
                out[off:off + g.n] = d
        return out

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
        fn = _lambdify(g.arguments, (), [group.value_of(local)])

        def value(t, y, k):
            self._refresh(t, k)
            (v,) = fn(*self._arguments(gi, t, y, self.coupling_sums(t, y)))
            return np.broadcast_to(np.asarray(v, dtype=float), (g.n,))[rows].copy()

        return value

