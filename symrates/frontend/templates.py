"""Templates: operators → nodes → edges → circuits.

Templates are immutable descriptions of a model. They hold equations as text (parsed eagerly, so
that errors show up where a template is defined) and variables with their kinds and default values.
``update`` returns a new template; nothing is ever changed in place.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Any

import sympy

from ..errors import ModelDefinitionError
from ..ir.paths import PathIndex, join, split
from .parsing import ParsedEquation, parse_equation

__all__ = [
    "Variable",
    "OperatorTemplate",
    "NodeTemplate",
    "EdgeTemplate",
    "KINDS",
]

#: Variable kinds: ``variable`` (state if it has an ODE, else algebraic), ``output`` (same,
#: marked as the node's output), ``input`` (sum of incoming edges plus its default),
#: ``parameter`` (a number).
KINDS = ("variable", "output", "input", "parameter")

_SPEC = re.compile(r"^\s*(variable|output|input|state)\s*(?:\(\s*([^()]*?)\s*\))?\s*$")


def _check_name(name: Any, what: str, where: str) -> str:
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_sr_"):
        raise ModelDefinitionError(
            f"Invalid {what} name {name!r} in {where}: use a Python-style identifier (letters, "
            f"digits, underscores; not starting with a digit or '_sr_')."
        )
    return name


def _number(value: Any, what: str, where: str) -> float:
    if isinstance(value, bool):
        raise ModelDefinitionError(f"{what} in {where} must be a number, got {value!r}.")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ModelDefinitionError(
            f"{what} in {where} must be a number, got {value!r}."
        ) from None
    if not math.isfinite(out):
        raise ModelDefinitionError(f"{what} in {where} must be finite, got {value!r}.")
    return out


@dataclass(frozen=True)
class Variable:
    """A declared variable of an operator.

    Parameters
    ----------
    kind : {"variable", "output", "input", "parameter"}
        See :data:`KINDS`.
    default : float
        Initial value (states), default value (parameters) or constant part (inputs).
    """

    kind: str
    default: float = 0.0

    @classmethod
    def parse(cls, spec: Any, *, name: str, where: str) -> Variable:
        """Read a variable declaration: a number, ``"variable(x0)"``, ``"output(x0)"``,
        ``"input(x0)"``, the bare forms ``"variable"``/``"output"``/``"input"``, a numeric string,
        a :class:`Variable`, or PyRates' ``{default: ...}`` mapping."""
        what = f"variable {name!r}"
        if isinstance(spec, Variable):
            return spec
        if isinstance(spec, Mapping):
            if "default" not in spec:
                raise ModelDefinitionError(
                    f"The declaration of {what} in {where} is a mapping without 'default': "
                    f"write e.g. "
                    f"{{default: 'output(0.0)'}} or just 'output(0.0)'."
                )
            return cls.parse(spec["default"], name=name, where=where)
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):
            return cls("parameter", _number(spec, what, where))
        if isinstance(spec, str):
            m = _SPEC.match(spec)
            if m:
                kind = "variable" if m.group(1) == "state" else m.group(1)
                value = m.group(2)
                return cls(kind, _number(value, what, where) if value else 0.0)
            try:
                return cls("parameter", _number(spec, what, where))
            except ModelDefinitionError:
                pass
        raise ModelDefinitionError(
            f"Cannot read the declaration {spec!r} of {what} in {where}. Allowed: a number "
            f"(parameter), "
            f"'variable(x0)', 'output(x0)', 'input(x0)' or the bare 'variable', 'output', 'input'."
        )

    def to_spec(self) -> float | str:
        """The declaration in template text form (inverse of :meth:`parse`)."""
        if self.kind == "parameter":
            return self.default
        return f"{self.kind}({self.default!r})"


def _frozen(mapping: Mapping) -> Mapping:
    return MappingProxyType(dict(mapping))


# --------------------------------------------------------------------------------------------------
# Operators
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class OperatorTemplate:
    """A set of equations with their declared variables.

    Parameters
    ----------
    name : str
        Name of the operator (becomes a path part, e.g. ``"rpo_e"`` in ``"pc/rpo_e/v"``).
    equations : str or sequence of str
        ODEs ``x' = f`` (also ``d/dt * x = f``) and algebraic equations ``a = g``.
    variables : mapping
        ``{name: "variable(x0)" | "output(x0)" | "input(x0)" | number}``.
    description : str, optional
        Free text (source, units).

    Examples
    --------
    >>> li = OperatorTemplate("li", ["r' = (-r + I_ext) / tau"],
    ...                       {"r": "output(0.0)", "I_ext": "input(0.0)", "tau": 10.0})
    >>> li.states
    ('r',)
    """

    name: str
    equations: tuple[str, ...]
    variables: Mapping[str, Variable]
    description: str = ""

    def __init__(
        self,
        name: str,
        equations: str | Iterable[str],
        variables: Mapping[str, Any],
        *,
        description: str = "",
    ) -> None:
        _check_name(name, "operator", f"OperatorTemplate {name!r}")
        if isinstance(equations, str):
            equations = [equations]
        if not isinstance(equations, Iterable) or isinstance(equations, Mapping):
            raise ModelDefinitionError(
                f"Equations of operator {name!r} must be a string or a list of strings such as "
                f"[\"x' = -x/tau\"], got {equations!r}."
            )
        eqs = tuple(equations)
        for eq in eqs:
            if not isinstance(eq, str):
                raise ModelDefinitionError(
                    f"Equations of operator {name!r} must be strings, got {eq!r}."
                )
        if not isinstance(variables, Mapping):
            raise ModelDefinitionError(
                f"Variables of operator {name!r} must be a mapping name -> declaration, "
                f"got {type(variables).__name__}."
            )
        parsed_vars = {}
        for var, spec in variables.items():
            _check_name(var, "variable", f"operator {name!r}")
            if var == "t":
                raise ModelDefinitionError(
                    f"Operator {name!r} declares a variable 't', but 't' is the time. "
                    f"Rename the variable."
                )
            parsed_vars[var] = Variable.parse(spec, name=var, where=f"operator {name!r}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "equations", eqs)
        object.__setattr__(self, "variables", _frozen(parsed_vars))
        object.__setattr__(self, "description", str(description or ""))
        self._check()

    # -- structure ---------------------------------------------------------------------------
    @cached_property
    def symbols(self) -> Mapping[str, sympy.Symbol]:
        """One real sympy symbol per declared variable, named like the variable."""
        return _frozen({v: sympy.Symbol(v, real=True) for v in self.variables})

    @cached_property
    def parsed(self) -> tuple[ParsedEquation, ...]:
        """The equations as sympy expressions, in the order written."""
        return tuple(parse_equation(eq, self.symbols, path=self.name) for eq in self.equations)

    def _check(self) -> None:
        targets: dict[str, ParsedEquation] = {}
        for eq in self.parsed:
            var = self.variables[eq.target]
            if eq.target in targets:
                raise ModelDefinitionError(
                    f"Variable {eq.target!r} of operator {self.name!r} has two equations: "
                    f'"{targets[eq.target].text}" and "{eq.text}". Keep one.'
                )
            if var.kind in ("parameter", "input"):
                raise ModelDefinitionError(
                    f'Equation "{eq.text}" of operator {self.name!r} defines {eq.target!r}, '
                    f"which is declared as {var.kind} ({var.to_spec()!r}). Declare it as "
                    f"'variable(x0)' or 'output(x0)' instead."
                )
            targets[eq.target] = eq

    @cached_property
    def states(self) -> tuple[str, ...]:
        """Variables with an ODE, in the order of the equations."""
        return tuple(eq.target for eq in self.parsed if eq.kind == "ode")

    @cached_property
    def algebraic(self) -> tuple[str, ...]:
        """Variables defined by an algebraic equation."""
        return tuple(eq.target for eq in self.parsed if eq.kind == "algebraic")

    @cached_property
    def inputs(self) -> tuple[str, ...]:
        return tuple(v for v, d in self.variables.items() if d.kind == "input")

    @cached_property
    def outputs(self) -> tuple[str, ...]:
        return tuple(v for v, d in self.variables.items() if d.kind == "output")

    @cached_property
    def parameters(self) -> tuple[str, ...]:
        """Parameters: numbers, and declared variables that no equation defines (constants)."""
        defined = set(self.states) | set(self.algebraic)
        return tuple(
            v
            for v, d in self.variables.items()
            if d.kind == "parameter" or (d.kind in ("variable", "output") and v not in defined)
        )

    def structure_key(self) -> tuple:
        """What makes two operators structurally identical (values excluded)."""
        kinds = tuple(
            (v, "parameter" if v in self.parameters else d.kind) for v, d in self.variables.items()
        )
        return (self.name, self.equations, kinds)

    # -- values ------------------------------------------------------------------------------
    def update(self, changes: Mapping[str, Any]) -> OperatorTemplate:
        """Return a copy with new default values (``{variable: value}``)."""
        if not changes:
            return self
        index = PathIndex(self.variables, model=f"operator {self.name!r}")
        new = dict(self.variables)
        for path, value in changes.items():
            var = index.resolve(path)
            old = new[var]
            new[var] = Variable(old.kind, _number(value, f"value of {var!r}", self.name))
        return OperatorTemplate(self.name, self.equations, new, description=self.description)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OperatorTemplate):
            return NotImplemented
        return (self.name, self.equations, dict(self.variables)) == (
            other.name,
            other.equations,
            dict(other.variables),
        )

    def __hash__(self) -> int:
        return hash((self.name, self.equations))

    def __repr__(self) -> str:
        return f"OperatorTemplate({self.name!r}, {len(self.equations)} equations)"


# --------------------------------------------------------------------------------------------------
# Nodes and edges
# --------------------------------------------------------------------------------------------------


def _resolve_reference(ref: str, cls: type, where: str):
    from .yaml_io import load

    tpl = load(ref)
    if not isinstance(tpl, cls):
        raise ModelDefinitionError(
            f"{where} refers to {ref!r}, which is a {type(tpl).__name__}, "
            f"but a {cls.__name__} is needed here."
        )
    return tpl


def _operator_list(operators: Any, where: str) -> tuple[OperatorTemplate, ...]:
    """Operators as a list (of templates or references) or a mapping ``{op: {var: value}}``."""
    if isinstance(operators, (OperatorTemplate, str)):
        operators = [operators]
    items: list[tuple[Any, Mapping]] = []
    if isinstance(operators, Mapping):
        for op, changes in operators.items():
            items.append((op, changes or {}))
    else:
        try:
            items = [(op, {}) for op in operators]
        except TypeError:
            raise ModelDefinitionError(
                f"Operators of {where} must be a list of OperatorTemplates or references, "
                f"got {operators!r}."
            ) from None
    out = []
    for op, changes in items:
        if isinstance(op, str):
            op = _resolve_reference(op, OperatorTemplate, where)
        if not isinstance(op, OperatorTemplate):
            raise ModelDefinitionError(
                f"{where} lists {op!r} as an operator; expected an OperatorTemplate or the "
                f"name of one."
            )
        if not isinstance(changes, Mapping):
            raise ModelDefinitionError(
                f"{where} gives {changes!r} as the changes of operator {op.name!r}; in the "
                f"mapping form of operators each operator maps to {{variable: value}} (or to "
                f"nothing), e.g. {{{op.name}: {{tau: 0.01}}}}."
            )
        out.append(op.update(changes) if changes else op)
    names = [op.name for op in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ModelDefinitionError(
            f"{where} has several operators named {sorted(dup)}: operator names within a node "
            f"must be unique (they are path parts)."
        )
    if not out:
        raise ModelDefinitionError(f"{where} has no operators.")
    return tuple(out)


@dataclass(frozen=True, eq=False)
class _OperatorGraph:
    """Common base of nodes and edges: a named list of operators."""

    name: str
    operators: tuple[OperatorTemplate, ...]
    description: str = ""

    _kind = "node"

    def __init__(self, name: str, operators: Any, *, description: str = "") -> None:
        where = f"{type(self).__name__} {name!r}"
        _check_name(name, self._kind, where)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "operators", _operator_list(operators, where))
        object.__setattr__(self, "description", str(description or ""))

    @cached_property
    def variable_paths(self) -> tuple[str, ...]:
        """``operator/variable`` for every declared variable."""
        return tuple(join(op.name, v) for op in self.operators for v in op.variables)

    def variable(self, path: str) -> Variable:
        op, var = split(path)
        return next(o for o in self.operators if o.name == op).variables[var]

    def structure_key(self) -> tuple:
        return tuple(op.structure_key() for op in self.operators)

    def update(self, changes: Mapping[str, Any]):
        """Return a copy with new default values ``{"operator/variable": value}`` (any
        unambiguous suffix works)."""
        if not changes:
            return self
        index = PathIndex(self.variable_paths, model=f"{self._kind} {self.name!r}")
        per_op: dict[str, dict[str, Any]] = {}
        for path, value in changes.items():
            op, var = split(index.resolve(path))
            per_op.setdefault(op, {})[var] = value
        ops = [op.update(per_op.get(op.name, {})) for op in self.operators]
        return type(self)(self.name, ops, description=self.description)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return (self.name, self.operators) == (other.name, other.operators)

    def __hash__(self) -> int:
        return hash((self.name, self.operators))

    def __repr__(self) -> str:
        ops = ", ".join(op.name for op in self.operators)
        return f"{type(self).__name__}({self.name!r}, operators=[{ops}])"


class NodeTemplate(_OperatorGraph):
    """A population: operators whose same-named outputs and inputs are chained.

    Inside a node, an operator's input receives the sum of the same-named outputs of the node's
    other operators (two synapse operators with output ``v`` feed a sigmoid with input ``v``).

    Examples
    --------
    >>> syn = OperatorTemplate("syn", ["v' = -v + m_in"], {"v": "output", "m_in": "input"})
    >>> rate = OperatorTemplate("rate", ["m = tanh(v)"], {"m": "output", "v": "input"})
    >>> NodeTemplate("pop", [syn, rate])           # rate's input v receives syn's output v
    NodeTemplate('pop', operators=[syn, rate])
    """

    _kind = "node"


class EdgeTemplate(_OperatorGraph):
    """Operators applied along an edge.

    The edge's source value feeds the edge's one free input (an input no edge operator's output
    feeds); the edge's output (the one variable marked ``output`` that no other edge operator takes
    as input) is what reaches the target, times the edge weight. Operators chain as in a node.

    Examples
    --------
    >>> gain = OperatorTemplate("gain", ["s_in = k*u"], {"s_in": "output", "u": "input", "k": 2.0})
    >>> lp = OperatorTemplate("lp", ["s' = (s_in - s)/tau"],
    ...                       {"s": "output", "s_in": "input", "tau": 0.1})
    >>> edge = EdgeTemplate("filtered", [gain, lp])      # lp's input s_in receives gain's s_in
    >>> edge.free_input, edge.output
    ('gain/u', 'lp/s')
    """

    _kind = "edge"

    @cached_property
    def free_input(self) -> str:
        outs = {v for op in self.operators for v in op.outputs}
        free = [join(op.name, v) for op in self.operators for v in op.inputs if v not in outs]
        if len(free) != 1:
            raise ModelDefinitionError(
                f"EdgeTemplate {self.name!r} needs exactly one input that receives the edge's "
                f"source, found {free or 'none'}. Declare one variable as 'input(0.0)'."
            )
        return free[0]

    @cached_property
    def output(self) -> str:
        def consumed(op: OperatorTemplate, v: str) -> bool:
            return any(other is not op and v in other.inputs for other in self.operators)

        outs = [join(op.name, v) for op in self.operators for v in op.outputs
                if not consumed(op, v)]
        if len(outs) != 1:
            raise ModelDefinitionError(
                f"EdgeTemplate {self.name!r} needs exactly one variable marked 'output' that no "
                f"other operator of the edge takes as input (what reaches the target), found "
                f"{outs or 'none'}. Mark only the final variable as 'output(x0)'."
            )
        return outs[0]
