"""The symbolic system: groups of identical units plus sparse couplings (DESIGN.md §1–§2).

A :class:`Group` holds unit-local sympy expressions (one symbol per variable, not per unit) for
``n`` identical units; a :class:`Coupling` adds ``W @ source`` of one group to an input of another.
:class:`SymbolicSystem` bundles them with the path addressing and derives, on demand, the
flattened sympy view (``rhs``, ``jacobian()``, ``latex()``) used for display and small-system
analysis. Nothing on the simulation path needs the flattened view.
"""

from __future__ import annotations

import graphlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

import numpy as np
import sympy

from ..errors import ModelDefinitionError
from ..frontend.parsing import TIME, Delay
from .csr import CSR
from .paths import PathIndex, join, split

__all__ = ["Group", "Coupling", "SymbolicSystem", "order_definitions"]


def topological_order(nodes, edges) -> tuple[list, list]:
    """``(order, [])`` with every edge ``(a, b)`` putting ``a`` before ``b``, nodes otherwise in
    the given order; or ``([], cycle)`` with the nodes of one cycle, the first repeated last.

    Examples
    --------
    >>> topological_order("abc", [("c", "a")])
    (['b', 'c', 'a'], [])
    >>> topological_order("ab", [("a", "b"), ("b", "a")])[1]
    ['a', 'b', 'a']
    """
    sorter = graphlib.TopologicalSorter()
    for n in nodes:
        sorter.add(n)
    for a, b in edges:
        sorter.add(b, a)
    try:
        return list(sorter.static_order()), []
    except graphlib.CycleError as exc:
        cycle = list(exc.args[1])
        return [], cycle


def order_definitions(
    definitions: Mapping[sympy.Symbol, sympy.Expr], *, where: str,
    names: Mapping[sympy.Symbol, str] | None = None,
) -> list[tuple[sympy.Symbol, sympy.Expr]]:
    """Order algebraic definitions so that each comes after everything it uses.

    Raises
    ------
    ModelDefinitionError
        If the definitions form a cycle; the message lists the variables of the cycle.
    """
    names = names or {s: s.name for s in definitions}
    edges = [(dep, sym) for sym, expr in definitions.items()
             for dep in sorted(expr.free_symbols & definitions.keys(), key=lambda s: s.name)]
    order, cycle = topological_order(definitions, edges)
    if cycle:
        loop = " -> ".join(names[a] for a in cycle)
        raise ModelDefinitionError(
            f"Cyclic algebraic equations in {where}: {loop}. Algebraic variables are evaluated "
            f"before the vector field and cannot depend on themselves; make one of them a state "
            f"(give it an ODE) or break the loop."
        ) from None
    return [(s, definitions[s]) for s in order]


def _frozen(d: Mapping) -> Mapping:
    return MappingProxyType(dict(d))


@dataclass(frozen=True, eq=False)
class Group:
    """``n`` identical units of one node structure.

    Local names are ``operator/variable``. ``symbols`` maps each local variable to its unit-local
    symbol, ``param_symbols`` each parameter (including the constant part of every input) to its
    symbol, and ``cin`` each coupled input to the symbol holding the sum of its couplings.
    ``algebraic`` lists the algebraic and input definitions in evaluation order; ``derivatives``
    are aligned with ``states`` and may use algebraic symbols (:attr:`rhs` substitutes them).
    """

    name: str
    nodes: tuple[str, ...]
    states: tuple[str, ...]
    derivatives: tuple[sympy.Expr, ...]
    algebraic: tuple[tuple[str, sympy.Expr], ...]
    symbols: Mapping[str, sympy.Symbol]
    parameters: tuple[str, ...]
    param_symbols: Mapping[str, sympy.Symbol]
    param_values: Mapping[str, np.ndarray]
    initial: Mapping[str, np.ndarray]
    cin: Mapping[str, sympy.Symbol]
    outputs: tuple[str, ...] = ()
    copies: int = 1
    #: paths of this group address one value per copy (networks, delay chains), even for one copy
    arrays: bool = False

    def __post_init__(self) -> None:
        for name in ("symbols", "param_symbols", "param_values", "initial", "cin"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    @property
    def n(self) -> int:
        """Number of units (node instances × network copies)."""
        return len(self.nodes) * self.copies

    @property
    def scalar_paths(self) -> bool:
        """Whether a path of this group addresses a single number (not an array of copies)."""
        return self.copies == 1 and not self.arrays

    @cached_property
    def _substitution(self) -> dict[sympy.Symbol, sympy.Expr]:
        subs: dict[sympy.Symbol, sympy.Expr] = {}
        for local, expr in self.algebraic:
            subs[self.symbols[local]] = expr.xreplace(subs)
        return subs

    def substitute(self, expr: sympy.Expr) -> sympy.Expr:
        """Replace algebraic and input variables by their definitions."""
        return sympy.sympify(expr).xreplace(self._substitution)

    @cached_property
    def rhs(self) -> tuple[sympy.Expr, ...]:
        """Derivatives in states, parameters, coupling sums and ``t`` only."""
        return tuple(self.substitute(d) for d in self.derivatives)

    def value_of(self, local: str) -> sympy.Expr:
        """The value of a local variable in states, parameters, coupling sums and ``t``."""
        if local in self.symbols:
            return self.substitute(self.symbols[local])
        return self.param_symbols[local]

    @cached_property
    def algebraic_names(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.algebraic)


@dataclass(frozen=True, eq=False)
class Coupling:
    """``target.target_var[i] += sum_j weights[i, j] * expr(source unit j)(t - delays_ij)``.

    ``delays`` and ``spreads`` are aligned with ``weights.data`` (CSR order), or None when all zero.
    """

    source: str
    source_var: str
    expr: sympy.Expr
    target: str
    target_var: str
    weights: CSR
    delays: np.ndarray | None = None
    spreads: np.ndarray | None = None

    @property
    def has_delays(self) -> bool:
        return self.delays is not None or self.spreads is not None


@dataclass(frozen=True, eq=False)
class SymbolicSystem:
    """A model as groups of identical units and sparse couplings.

    Build one with :func:`symrates.build`. Variables are addressed by path (any unambiguous suffix);
    the flattened sympy view is derived on demand.

    Examples
    --------
    >>> import symrates as sr
    >>> system = sr.build("fitzhugh_nagumo.FHN")
    >>> system.states
    ('FHN/FHN_op/v', 'FHN/FHN_op/w')
    >>> system.rhs.shape
    (2, 1)
    """

    name: str
    groups: tuple[Group, ...]
    couplings: tuple[Coupling, ...]
    description: str = ""
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "groups", tuple(self.groups))
        object.__setattr__(self, "couplings", tuple(self._order_couplings(self.couplings)))

    # -- structure -----------------------------------------------------------------------------
    def structure_fingerprint(self) -> str:
        """What generated code depends on: equations, names, sizes and which couplings exist
        (and whether they are delayed); not parameter values, initial states, weights or delay
        values. Cheap (no lowering), so a model built again finds its generated source."""
        if "fingerprint" not in self._cache:
            parts = [self.name]
            for g in self.groups:
                parts.append(repr((g.name, g.nodes, g.copies, g.states, g.derivatives,
                                   g.algebraic, g.parameters, tuple(g.cin), tuple(g.symbols))))
            for c in self.couplings:
                parts.append(repr((c.source, c.source_var, c.expr, c.target, c.target_var,
                                   c.weights.shape, c.has_delays)))
            self._cache["fingerprint"] = "\n".join(parts)
        return self._cache["fingerprint"]

    def state_from(self, values: Mapping[str, Any], option: str = "y0") -> np.ndarray:
        """The declared initial state with the states named in ``values`` replaced.

        ``option`` names the argument the mapping came from (e.g. ``"y0"``, or
        ``"start= of 'FHN'"``), for the error message.

        Raises
        ------
        ModelDefinitionError
            If a path is not a state.
        """
        y = self.initial_state.copy()
        where = "" if repr(self.name) in option else f" of {self.name!r}"
        for path, value in values.items():
            full = self.resolve(path, what="state")
            if full not in self.layout:
                raise ModelDefinitionError(
                    f"{option} names {path!r}, which is not a state{where}. States: "
                    f"{', '.join(self.states[:8])}."
                )
            _, _, off, length = self.layout[full]
            try:
                arr = np.asarray(value, dtype=float)
            except (TypeError, ValueError):
                arr = None
            if arr is None or arr.shape not in ((), (length,)):
                raise ModelDefinitionError(
                    f"{option} gives {path!r}{where} the value {value!r}; it needs a number"
                    f"{f' or {length} of them (one per copy)' if length > 1 else ''}."
                )
            y[off:off + length] = arr
        return y

    def group(self, name: str) -> Group:
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(name)

    def _order_couplings(self, couplings: Sequence[Coupling]) -> list[Coupling]:
        """Couplings whose source reads a coupled input come after the couplings feeding it."""
        edges = []
        for i, c in enumerate(couplings):
            src = self.group(c.source)
            reads = {k for k, s in src.cin.items() if s in c.expr.free_symbols}
            for j, d in enumerate(couplings):
                if d.target == c.source and d.target_var in reads:
                    edges.append((j, i))
        order, cycle = topological_order(range(len(couplings)), edges)
        if cycle:
            loop = " -> ".join(f"{couplings[a].source}/{couplings[a].source_var}" for a in cycle)
            raise ModelDefinitionError(
                f"Cyclic algebraic equations in {self.name!r}: the edges {loop} feed each other "
                f"without a state in between. Make one of the variables a state or break the loop."
            )
        return [couplings[i] for i in order]

    @cached_property
    def layout(self) -> Mapping[str, tuple[Group, str, int, int]]:
        """``{state path: (group, local name, offset in y, length)}`` in vector order."""
        out: dict[str, tuple[Group, str, int, int]] = {}
        offset = 0
        for g in self.groups:
            for var in g.states:
                for node in g.nodes:
                    out[join(node, var)] = (g, var, offset, g.copies)
                    offset += g.copies
        return _frozen(out)

    @property
    def n_states(self) -> int:
        """Length of the state vector."""
        return sum(len(g.states) * g.n for g in self.groups)

    @cached_property
    def states(self) -> tuple[str, ...]:
        """Full paths of the state variables, in vector order."""
        return tuple(self.layout)

    def _paths(self, pick) -> tuple[str, ...]:
        return tuple(join(node, v) for g in self.groups for v in pick(g) for node in g.nodes)

    @cached_property
    def algebraic_variables(self) -> tuple[str, ...]:
        """Paths of algebraic variables (not inputs)."""
        return self._paths(lambda g: [k for k in g.algebraic_names if k not in g.param_symbols])

    @cached_property
    def inputs(self) -> tuple[str, ...]:
        """Paths of input variables (their constant parts are in :attr:`parameters`)."""
        return self._paths(lambda g: [k for k in g.algebraic_names if k in g.param_symbols])

    @cached_property
    def outputs(self) -> tuple[str, ...]:
        """Paths of the variables declared as ``output``."""
        return self._paths(lambda g: g.outputs)

    @cached_property
    def parameters(self) -> Mapping[str, float]:
        """Default parameter values ``{path: value}`` (the constant part, for inputs)."""
        out = {}
        for g in self.groups:
            for p in g.parameters:
                for i, node in enumerate(g.nodes):
                    vals = g.param_values[p][i * g.copies:(i + 1) * g.copies]
                    out[join(node, p)] = float(vals[0]) if g.scalar_paths else vals.copy()
        return _frozen(out)

    @cached_property
    def initial_state(self) -> np.ndarray:
        """The declared initial values, as a state vector."""
        y = np.empty(self.n_states)
        for path, (g, var, off, length) in self.layout.items():
            i = g.nodes.index(_node_of(path, var))
            y[off:off + length] = g.initial[var][i * g.copies:(i + 1) * g.copies]
        return y

    @cached_property
    def index(self) -> PathIndex:
        """Path index over states, algebraic variables, inputs and parameters."""
        paths = list(dict.fromkeys(
            self.states + self.algebraic_variables + self.inputs + tuple(self.parameters)
        ))
        return PathIndex(paths, model=self.name)

    def resolve(self, path: str, *, what: str = "variable") -> str:
        """Full path of ``path`` (any unambiguous suffix); errors list candidates."""
        return self.index.resolve(path, what=what)

    def locate(self, path: str) -> tuple[Group, str, int]:
        """``(group, local name, node index)`` of a variable or parameter path."""
        full = self.resolve(path)
        for g in self.groups:
            for i, node in enumerate(g.nodes):
                if full.startswith(node + "/"):
                    local = full[len(node) + 1:]
                    if local in g.symbols or local in g.param_symbols:
                        return g, local, i
        raise ModelDefinitionError(f"Cannot locate {path!r} in {self.name!r}.")  # pragma: no cover

    @property
    def has_delays(self) -> bool:
        """Whether any coupling or equation uses delayed values."""
        if any(c.has_delays for c in self.couplings):
            return True
        return any(e.has(Delay) for g in self.groups for e in g.rhs)

    # -- the flattened sympy view --------------------------------------------------------------
    def _flat_name(self, node: str, local: str, copy: int, copies: int) -> str:
        path = join(node, local)
        return path if copies == 1 else f"{path}[{copy}]"

    @cached_property
    def _flat(self) -> dict[str, Any]:
        if self.n_states > 2000:
            raise ModelDefinitionError(
                f"{self.name!r} has {self.n_states} states: the flattened sympy view (rhs, "
                f"jacobian, latex) is meant for small systems. Use the simulation and analysis "
                f"functions, which work on the grouped form."
            )
        state_syms: dict[str, sympy.Symbol] = {}
        param_syms: dict[str, sympy.Symbol] = {}
        unit_subs: dict[str, list[dict]] = {}
        for g in self.groups:
            units = []
            for node in g.nodes:
                for c in range(g.copies):
                    subs: dict[sympy.Symbol, sympy.Expr] = {}
                    for s in g.states:
                        name = self._flat_name(node, s, c, g.copies)
                        subs[g.symbols[s]] = state_syms.setdefault(
                            name, sympy.Symbol(name, real=True))
                    for p in g.parameters:
                        name = self._flat_name(node, p, c, g.copies)
                        subs[g.param_symbols[p]] = param_syms.setdefault(
                            name, sympy.Symbol(name, real=True))
                    for sym in g.cin.values():
                        subs[sym] = sympy.Integer(0)
                    units.append(subs)
            unit_subs[g.name] = units
        for c in self.couplings:
            src_units = unit_subs[c.source]
            values = [c.expr.xreplace(s) for s in src_units]
            W = c.weights
            tgt = self.group(c.target)
            cin = tgt.cin[c.target_var]
            for i in range(W.shape[0]):
                terms = []
                for k in range(W.indptr[i], W.indptr[i + 1]):
                    j = W.indices[k]
                    v = values[j]
                    if c.delays is not None and c.delays[k] > 0:
                        v = Delay(v, sympy.Float(c.delays[k]))
                    terms.append(_number(W.data[k]) * v)
                unit = unit_subs[c.target][i]
                unit[cin] = unit[cin] + sympy.Add(*terms)
        rhs = []
        states = []
        for path, (g, var, _off, length) in self.layout.items():
            k = g.states.index(var)
            node = _node_of(path, var)
            node_i = g.nodes.index(node)
            for c in range(length):
                rhs.append(g.rhs[k].xreplace(unit_subs[g.name][node_i * g.copies + c]))
                states.append(state_syms[self._flat_name(node, var, c, length)])
        return {"rhs": sympy.Matrix(rhs), "states": states, "params": param_syms}

    @property
    def rhs(self) -> sympy.Matrix:
        """The flattened right-hand side, aligned with :attr:`states`."""
        return self._flat["rhs"]

    @property
    def state_symbols(self) -> list[sympy.Symbol]:
        return list(self._flat["states"])

    @property
    def equations(self) -> list[sympy.Eq]:
        """``Eq(Derivative(x, t), rhs)`` for every state."""
        return [
            sympy.Eq(sympy.Derivative(x, TIME), f)
            for x, f in zip(self._flat["states"], self.rhs)
        ]

    def jacobian(self) -> sympy.Matrix:
        """The exact Jacobian ``d rhs / d states`` (flattened view)."""
        if "jacobian" not in self._cache:
            self._cache["jacobian"] = self.rhs.jacobian(self._flat["states"])
        return self._cache["jacobian"]

    def symbol(self, path: str) -> sympy.Symbol:
        """The sympy symbol of a state or parameter in the flattened view.

        In a network every unit has its own symbol: ``"pc/rpo/v[3]"`` is ``v`` of unit 3.
        """
        base, copy = path, None
        if path.endswith("]"):
            base, _, copy = path[:-1].rpartition("[")
        full = self.resolve(base)
        flat = self._flat
        symbols = {s.name: s for s in flat["states"]}
        symbols.update(flat["params"])
        name = full if copy is None else f"{full}[{copy}]"
        if name in symbols:
            return symbols[name]
        per_unit = [k for k in symbols if k.startswith(full + "[")]
        if per_unit:
            shown = ", ".join(repr(k) for k in per_unit[:4]) + (", ..." if len(per_unit) > 4
                                                                else "")
            raise ModelDefinitionError(
                f"{path!r} of {self.name!r} names no single symbol: the flattened view has one "
                f"per unit, {shown}. Ask for one of them, e.g. symbol({per_unit[0]!r})."
            )
        raise ModelDefinitionError(
            f"{full!r} of {self.name!r} is an algebraic variable or input; only states and "
            f"parameters have symbols in the flattened view (algebraic ones are substituted)."
        )

    def latex(self) -> str:
        """The equations as a LaTeX ``aligned`` block."""
        names = {s: _latex_name(s.name) for s in self._flat["states"]}
        names.update({s: _latex_name(s.name) for s in self._flat["params"].values()})
        lines = []
        for x, f in zip(self._flat["states"], self.rhs):
            rhs = sympy.latex(f, symbol_names=names)
            lines.append(rf"\frac{{d}}{{dt}} {names[x]} &= {rhs}")
        return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"

    def _repr_latex_(self) -> str:
        return "$$" + self.latex() + "$$"

    def vector_field(self, y, *, t: float = 0.0, params: Mapping[str, Any] | None = None):
        """Evaluate the right-hand side numerically at state ``y`` (vector or ``{path: value}``).

        Uses the same lowered, vectorised evaluator as the numpy simulator.
        """
        from ..runtime.problem_numpy import NumpyProblem

        problem = NumpyProblem(self, params=params)
        y_vec = problem.state_vector(y)
        return problem.rhs(float(t), y_vec, 0)

    def __repr__(self) -> str:
        return (
            f"<SymbolicSystem {self.name!r}: {self.n_states} states in {len(self.groups)} "
            f"groups, {len(self.couplings)} couplings, {len(self.parameters)} parameters>"
        )


def _node_of(path: str, local: str) -> str:
    return path[: len(path) - len(local) - 1]


def _number(x: float) -> sympy.Expr:
    return sympy.Integer(int(x)) if float(x).is_integer() else sympy.Float(x)


def _latex_name(name: str) -> str:
    """LaTeX of a flat name: the variable, subscripted with its path and, for a network, the
    copy (``"pc/rpo/v[3]"`` -> ``{v}_{\\mathrm{pc,rpo},3}``)."""
    path, copy = name, ""
    if name.endswith("]"):
        path, _, copy = name[:-1].rpartition("[")
    parts = split(path)
    base = sympy.latex(sympy.Symbol(parts[-1]))
    subs = []
    if len(parts) > 1:
        where = ",".join(p.replace("_", r"\_") for p in parts[:-1])
        subs.append(rf"\mathrm{{{where}}}")
    if copy:
        subs.append(copy)
    return rf"{{{base}}}_{{{','.join(subs)}}}" if subs else base
