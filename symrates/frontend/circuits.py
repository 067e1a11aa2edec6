"""Circuit templates: nodes (or sub-circuits) connected by edges."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Union

from ..errors import ModelDefinitionError
from ..ir.paths import SEP, PathIndex, join, split
from .templates import (
    EdgeTemplate,
    NodeTemplate,
    OperatorTemplate,
    _check_name,
    _frozen,
    _number,
    _resolve_reference,
)

__all__ = ["CircuitTemplate", "EdgeSpec", "Template"]

_EDGE_KEYS = ("weight", "delay", "spread")

@dataclass(frozen=True)
class EdgeSpec:
    """One edge of a circuit (paths relative to the circuit that declares it)."""

    source: str
    target: str
    template: EdgeTemplate | None
    weight: float = 1.0
    delay: float = 0.0
    spread: float = 0.0
    variables: Mapping[str, float] = field(default_factory=dict)

    def to_list(self) -> list:
        attrs: dict[str, Any] = {"weight": self.weight}
        if self.delay:
            attrs["delay"] = self.delay
        if self.spread:
            attrs["spread"] = self.spread
        attrs.update(self.variables)
        return [self.source, self.target, self.template.name if self.template else None, attrs]


def _edge_spec(edge: Any, where: str) -> EdgeSpec:
    if isinstance(edge, EdgeSpec):
        return edge
    if not isinstance(edge, (list, tuple)) or not 2 <= len(edge) <= 4:
        raise ModelDefinitionError(
            f"Edge {edge!r} of {where} must be a list [source, target, template or None, "
            f"{{weight: ..., delay: ...}}]."
        )
    source, target = edge[0], edge[1]
    tpl = edge[2] if len(edge) > 2 else None
    attrs = edge[3] if len(edge) > 3 and edge[3] is not None else {}
    if not isinstance(attrs, Mapping):
        raise ModelDefinitionError(
            f"Edge {list(edge)!r} of {where}: the fourth entry must be a mapping of edge "
            f"attributes such as {{weight: 1.0, delay: 0.0}}, got {attrs!r}. Write the weight as "
            f"{{weight: {attrs!r}}}."
        )
    attrs = dict(attrs)
    for p in (source, target):
        if not isinstance(p, str) or not split(p):
            raise ModelDefinitionError(
                f"Edge {list(edge)!r} of {where}: source and target must be paths such as "
                f"'pc/pro/m_out', got {p!r}."
            )
    if isinstance(tpl, str):
        tpl = _resolve_reference(tpl, EdgeTemplate, f"edge {source} -> {target} of {where}")
    if tpl is not None and not isinstance(tpl, EdgeTemplate):
        raise ModelDefinitionError(
            f"Edge {source} -> {target} of {where}: the third entry must be an EdgeTemplate, "
            f"its name, or None; got {tpl!r}."
        )
    values = {k: _number(attrs.pop(k), k, f"edge {source} -> {target} of {where}")
              for k in _EDGE_KEYS if k in attrs}
    for k in ("delay", "spread"):
        if values.get(k, 0.0) < 0:
            raise ModelDefinitionError(
                f"Edge {source} -> {target} of {where}: {k} must be >= 0, got {values[k]}."
            )
    if attrs and tpl is None:
        raise ModelDefinitionError(
            f"Edge {source} -> {target} of {where} has unknown attributes {sorted(attrs)}; "
            f"allowed: {', '.join(_EDGE_KEYS)} (and variables of the edge's template, if any)."
        )
    if attrs:
        index = PathIndex(tpl.variable_paths, model=f"edge template {tpl.name!r}")
        attrs = {index.resolve(k): _number(v, k, where) for k, v in attrs.items()}
    return EdgeSpec(source, target, tpl, variables=_frozen(attrs), **values)


Template = Union[OperatorTemplate, NodeTemplate, EdgeTemplate, "CircuitTemplate"]


@dataclass(frozen=True, eq=False)
class CircuitTemplate:
    """Nodes (or sub-circuits) connected by edges.

    Parameters
    ----------
    name : str
        Name of the circuit.
    nodes : mapping
        ``{node_name: NodeTemplate | CircuitTemplate | reference}``; circuits nest to any depth.
    edges : sequence, optional
        ``[(source_path, target_path, EdgeTemplate | reference | None, {"weight": 1.0,
        "delay": 0.0, "spread": 0.0, ...})]``; paths are ``node/operator/variable`` relative to
        this circuit (``sub/node/operator/variable`` into sub-circuits). The target must be an
        input variable.
    description : str, optional

    Examples
    --------
    >>> import symrates as sr
    >>> jrc = sr.load("jansen_rit.JRC")
    >>> jrc2 = jrc.update({"pc/RPO_e_pc/u": 200.0})
    """

    name: str
    nodes: Mapping[str, NodeTemplate | CircuitTemplate]
    edges: tuple[EdgeSpec, ...] = ()
    description: str = ""

    def __init__(
        self,
        name: str,
        nodes: Mapping[str, Any],
        edges: Iterable[Any] = (),
        *,
        description: str = "",
    ) -> None:
        where = f"CircuitTemplate {name!r}"
        _check_name(name, "circuit", where)
        if not isinstance(nodes, Mapping) or not nodes:
            raise ModelDefinitionError(
                f"{where} needs a non-empty mapping of nodes {{name: NodeTemplate}}, got {nodes!r}."
            )
        resolved = {}
        for key, node in nodes.items():
            _check_name(key, "node", where)
            if isinstance(node, str):
                from .yaml_io import load

                node = load(node)
            if isinstance(node, OperatorTemplate):
                node = NodeTemplate(node.name, [node])
            if not isinstance(node, (NodeTemplate, CircuitTemplate)):
                raise ModelDefinitionError(
                    f"Node {key!r} of {where} must be a NodeTemplate, a CircuitTemplate or a "
                    f"reference to one, got {node!r}."
                )
            resolved[key] = node
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "nodes", _frozen(resolved))
        object.__setattr__(self, "edges", tuple(_edge_spec(e, where) for e in edges))
        object.__setattr__(self, "description", str(description or ""))

    @cached_property
    def node_paths(self) -> Mapping[str, NodeTemplate]:
        """``{node path: NodeTemplate}`` of all nodes, flattened through sub-circuits."""
        out: dict[str, NodeTemplate] = {}
        for key, node in self.nodes.items():
            if isinstance(node, CircuitTemplate):
                for sub, tpl in node.node_paths.items():
                    out[join(key, sub)] = tpl
            else:
                out[key] = node
        return _frozen(out)

    @cached_property
    def variable_paths(self) -> tuple[str, ...]:
        return tuple(
            join(node, var) for node, tpl in self.node_paths.items() for var in tpl.variable_paths
        )

    def update(self, changes: Mapping[str, Any]) -> CircuitTemplate:
        """Return a copy with new default values ``{"node/operator/variable": value}``.

        Any unambiguous suffix of a path works; an ambiguous or unknown path is an error that
        lists the candidates.
        """
        if not changes:
            return self
        index = PathIndex(self.variable_paths, model=f"circuit {self.name!r}")
        per_key: dict[str, dict[str, Any]] = {}
        for path, value in changes.items():
            full = split(index.resolve(path))
            per_key.setdefault(full[0], {})[SEP.join(full[1:])] = value
        nodes = {k: (n.update(per_key[k]) if k in per_key else n) for k, n in self.nodes.items()}
        return CircuitTemplate(self.name, nodes, self.edges, description=self.description)

    def structure_key(self) -> tuple:
        return (
            tuple((k, n.structure_key()) for k, n in self.nodes.items()),
            tuple((e.source, e.target, e.template and e.template.structure_key())
                  for e in self.edges),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CircuitTemplate):
            return NotImplemented
        return (self.name, dict(self.nodes), self.edges) == (
            other.name,
            dict(other.nodes),
            other.edges,
        )

    def __hash__(self) -> int:
        return hash((self.name, tuple(self.nodes)))

    def __repr__(self) -> str:
        return (
            f"CircuitTemplate({self.name!r}, nodes=[{', '.join(self.nodes)}], "
            f"{len(self.edges)} edges)"
        )
