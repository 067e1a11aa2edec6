"""Circuit templates → groups and couplings (DESIGN.md §1).

A circuit is flattened into a graph of node instances (:class:`CircuitGraph`). Node instances
with identical structure become one :class:`~symrates.ir.system.Group` with one unit per
instance; every set of template edges between the same pair of (group, variable) becomes one
:class:`~symrates.ir.system.Coupling` with a sparse weight matrix. Edges that carry an
:class:`EdgeTemplate` become a node instance of their own (its operators run once per edge), wired
``source → edge input`` (with the edge's delay) and ``edge output → target`` (with its weight).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import sympy

from ..errors import ModelDefinitionError
from ..frontend.circuits import CircuitTemplate
from ..frontend.templates import EdgeTemplate, NodeTemplate
from .csr import CSR
from .paths import PathIndex, join, split
from .system import Coupling, Group, order_definitions

__all__ = ["CircuitGraph", "flatten_circuit", "build_groups"]


class CircuitGraph:
    """The flattened circuit: node instances (path -> template) and the edges between them.

    Edges are kept per source node and target node; :meth:`edges` lists them source by source
    (in node order), then target by target (in the order their first edge was added), then in
    the order they were added. A plain container: building a system needs nothing else, and it
    keeps a graph library off the import path.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.nodes: dict[str, NodeTemplate] = {}
        self._adjacency: dict[str, dict[str, list[dict]]] = {}

    def add_node(self, path: str, template: NodeTemplate) -> None:
        self.nodes[path] = template
        self._adjacency.setdefault(path, {})

    def add_edge(self, source: str, target: str, **data) -> None:
        self._adjacency[source].setdefault(target, []).append(data)

    def edges(self):
        """``(source, target, data)`` of every edge."""
        for source in self.nodes:
            for target, items in self._adjacency[source].items():
                for data in items:
                    yield source, target, data


@dataclass(frozen=True)
class _Edge:
    source_node: str
    source_var: str
    target_node: str
    target_var: str
    weight: float
    delay: float
    spread: float


def _split_endpoint(path: str, nodes: Mapping[str, NodeTemplate], where: str) -> tuple[str, str]:
    parts = split(path)
    for k in range(len(parts) - 1, 0, -1):
        node = join(*parts[:k])
        if node in nodes:
            index = PathIndex(nodes[node].variable_paths, model=f"node {node!r}")
            return node, index.resolve(join(*parts[k:]))
    raise ModelDefinitionError(
        f"The edge endpoint {path!r} in {where} does not start with a node of the circuit. "
        f"Nodes: {', '.join(nodes)}. Write it as 'node/operator/variable'."
    )


def flatten_circuit(circuit: CircuitTemplate) -> CircuitGraph:
    """Flatten a (nested) circuit into a graph of node instances.

    Graph nodes are node paths with their templates; graph edges carry ``source_var``,
    ``target_var``, ``weight``, ``delay`` and ``spread``.
    """
    nodes: dict[str, NodeTemplate] = dict(circuit.node_paths)
    edges: list[_Edge] = []

    def walk(circ: CircuitTemplate, prefix: str) -> None:
        where = f"circuit {join(circuit.name, prefix)!r}"
        for k, e in enumerate(circ.edges):
            src, svar = _split_endpoint(join(prefix, e.source), nodes, where)
            tgt, tvar = _split_endpoint(join(prefix, e.target), nodes, where)
            if e.template is None:
                edges.append(_Edge(src, svar, tgt, tvar, e.weight, e.delay, e.spread))
                continue
            node_path = join(prefix, f"{e.template.name}_{k}")
            if node_path in nodes:
                raise ModelDefinitionError(
                    f"The edge {e.source} -> {e.target} of {where} would create the edge node "
                    f"{node_path!r}, but a node of that name exists. Rename that node."
                )
            tpl: EdgeTemplate = e.template.update(e.variables) if e.variables else e.template
            nodes[node_path] = NodeTemplate(tpl.name, tpl.operators)
            edges.append(_Edge(src, svar, node_path, tpl.free_input, 1.0, e.delay, e.spread))
            edges.append(_Edge(node_path, tpl.output, tgt, tvar, e.weight, 0.0, 0.0))
        for key, sub in circ.nodes.items():
            if isinstance(sub, CircuitTemplate):
                walk(sub, join(prefix, key))

    walk(circuit, "")
    graph = CircuitGraph(circuit.name)
    for path, tpl in nodes.items():
        graph.add_node(path, tpl)
    for e in edges:
        tvar = nodes[e.target_node].variable(e.target_var)
        if tvar.kind != "input":
            raise ModelDefinitionError(
                f"The edge {join(e.source_node, e.source_var)} -> "
                f"{join(e.target_node, e.target_var)} in circuit {circuit.name!r} targets "
                f"{e.target_var!r}, which is declared as {tvar.kind}. Edges can only target "
                f"variables declared as 'input(x0)'."
            )
        graph.add_edge(e.source_node, e.target_node, **e.__dict__)
    return graph


# --------------------------------------------------------------------------------------------------


def _make_group(name: str, tpl: NodeTemplate, node_paths: Sequence[str],
                templates: Sequence[NodeTemplate], targeted: set[str]) -> Group:
    """Build the unit-local symbolic form of one node structure."""
    def sym(local: str) -> sympy.Symbol:
        return sympy.Symbol(local, real=True)

    var_sym: dict[str, sympy.Symbol] = {}
    param_names: list[str] = []
    states: list[str] = []
    derivs: list[sympy.Expr] = []
    definitions: dict[str, sympy.Expr] = {}
    cin: dict[str, sympy.Symbol] = {}
    outputs: list[str] = []
    op_subs: dict[str, dict[sympy.Symbol, sympy.Symbol]] = {}

    for op in tpl.operators:
        subs = op_subs.setdefault(op.name, {})
        for v in op.variables:
            local = join(op.name, v)
            if v in op.parameters:
                param_names.append(local)
                subs[op.symbols[v]] = var_sym.setdefault(local, sym(local))
            elif v in op.inputs:
                param_names.append(local)          # the input's constant part
                subs[op.symbols[v]] = var_sym.setdefault(local, sym(f"_sr_in:{local}"))
            else:
                subs[op.symbols[v]] = var_sym.setdefault(local, sym(local))
            if v in op.outputs:
                outputs.append(local)
    param_sym = {p: sym(p) for p in param_names}

    for op in tpl.operators:
        subs = op_subs[op.name]
        for eq in op.parsed:
            local = join(op.name, eq.target)
            rhs = eq.rhs.xreplace(subs)
            if eq.kind == "ode":
                states.append(local)
                derivs.append(rhs)
            else:
                definitions[local] = rhs
        for v in op.inputs:
            local = join(op.name, v)
            value = param_sym[local]
            if local in targeted:
                cin[local] = sympy.Symbol(f"_sr_cin:{local}", real=True)
                value = value + cin[local]
            for other in tpl.operators:
                if other is not op and v in other.outputs:
                    value = value + var_sym[join(other.name, v)]
            definitions[local] = value

    order = order_definitions(
        {var_sym[k]: e for k, e in definitions.items()},
        where=f"node {node_paths[0]!r}",
        names={var_sym[k]: k for k in definitions},
    )
    algebraic = tuple((next(k for k, s in var_sym.items() if s == s_), e) for s_, e in order)

    n = len(node_paths)
    values: dict[str, np.ndarray] = {}
    for p in param_names:
        values[p] = np.array([t.variable(p).default for t in templates], dtype=float)
    initial = {s: np.array([t.variable(s).default for t in templates], dtype=float)
               for s in states}
    assert all(v.shape == (n,) for v in values.values())
    return Group(
        name=name,
        nodes=tuple(node_paths),
        states=tuple(states),
        derivatives=tuple(derivs),
        algebraic=algebraic,
        symbols=var_sym,
        parameters=tuple(param_names),
        param_symbols=param_sym,
        param_values=values,
        initial=initial,
        cin=cin,
        outputs=tuple(outputs),
    )


def _csr(rows, cols, shape, weights, *aligned):
    """CSR matrix from unique (row, col) entries, with arrays aligned to its data order."""
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    order = np.lexsort((cols, rows))
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    w = np.asarray(weights, dtype=float)[order]
    mat = CSR(w, cols[order], indptr, shape)
    return mat, [np.asarray(a, dtype=float)[order] for a in aligned]


def build_groups(graph: CircuitGraph) -> tuple[list[Group], list[Coupling]]:
    """Group identical node structures and turn edges into couplings."""
    by_key: dict[tuple, list[str]] = {}
    for path, template in graph.nodes.items():
        by_key.setdefault(template.structure_key(), []).append(path)

    targeted: dict[tuple, set[str]] = {}
    unit_of: dict[str, tuple[int, int]] = {}
    for gi, paths in enumerate(by_key.values()):
        for ui, p in enumerate(paths):
            unit_of[p] = (gi, ui)
    for _, tgt, data in graph.edges():
        key = graph.nodes[tgt].structure_key()
        targeted.setdefault(key, set()).add(data["target_var"])

    groups: list[Group] = []
    used: set[str] = set()
    for key, paths in by_key.items():
        tpls = [graph.nodes[p] for p in paths]
        name = tpls[0].name
        while name in used:
            name = f"{name}_"
        used.add(name)
        groups.append(_make_group(name, tpls[0], paths, tpls, targeted.get(key, set())))

    # edges → couplings, one per (source group, source var, target group, target var) and layer
    entries: dict[tuple, list[tuple[int, int, float, float, float]]] = {}
    seen: dict[tuple, int] = {}
    for src, tgt, data in graph.edges():
        sg, su = unit_of[src]
        tg, tu = unit_of[tgt]
        pair = (sg, data["source_var"], tg, data["target_var"], tu, su)
        layer = seen.get(pair, 0)
        seen[pair] = layer + 1
        entries.setdefault((sg, data["source_var"], tg, data["target_var"], layer), []).append(
            (tu, su, data["weight"], data["delay"], data["spread"])
        )
    couplings: list[Coupling] = []
    for (sg, svar, tg, tvar, _layer), items in entries.items():
        rows, cols, w, d, s = zip(*items)
        shape = (groups[tg].n, groups[sg].n)
        mat, (delays, spreads) = _csr(rows, cols, shape, w, d, s)
        source = groups[sg]
        couplings.append(
            Coupling(
                source=source.name,
                source_var=svar,
                expr=source.value_of(svar),
                target=groups[tg].name,
                target_var=tvar,
                weights=mat,
                delays=delays if np.any(delays) else None,
                spreads=spreads if np.any(spreads) else None,
            )
        )
    return groups, couplings
