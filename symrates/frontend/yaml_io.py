"""Templates in YAML, in PyRates' template format.

A YAML file holds top-level templates. Each has a ``base``: a class name (``OperatorTemplate``,
``NodeTemplate``, ``EdgeTemplate``, ``CircuitTemplate``) or another template to inherit from.
Files are read with ``yaml.safe_load`` and nothing in them is ever executed.

References
    ``Name`` (same file), ``family.Name`` (``symrates/models/family.yaml`` or a file
    ``family.yaml`` next to / above the referring file), ``pkg.module.Name`` (``pkg/module.yaml``
    searched in the folders above the referring file and on the Python path) and
    ``path/to/file.yaml:Name``.

Inheritance
    ``equations`` given as a list replaces the base's; as a mapping ``{replace: {old: new},
    add: [...], remove: [...]}`` it edits them symbolically (``old`` may be a symbol or a
    sub-expression). ``variables`` override the base's one by one; ``operators`` and ``edges``
    replace; ``nodes``/``circuits`` are merged by name.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import ModelDefinitionError
from .circuits import CircuitTemplate
from .parsing import parse_equation, parse_expression
from .printing import equation_text
from .templates import (
    EdgeTemplate,
    NodeTemplate,
    OperatorTemplate,
    Variable,
)

__all__ = ["load", "list_models", "to_yaml", "save", "MODELS_DIR"]

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
_CLASSES = {
    "OperatorTemplate": OperatorTemplate,
    "NodeTemplate": NodeTemplate,
    "EdgeTemplate": EdgeTemplate,
    "CircuitTemplate": CircuitTemplate,
}
_KEYS = {
    OperatorTemplate: {"equations", "variables"},
    NodeTemplate: {"operators"},
    EdgeTemplate: {"operators"},
    CircuitTemplate: {"nodes", "circuits", "edges"},
}
_COMMON = {"base", "description", "label"}
_SUFFIXES = (".yaml", ".yml")
#: the templates being built, outermost first, as (file, name): references may cross files
_BUILDING: list[tuple[Path, str]] = []


def _stamp(path: Path) -> tuple[int, int]:
    """What tells a changed file: its modification time (ns) and size."""
    try:
        st = path.stat()
    except OSError as exc:
        raise ModelDefinitionError(f"Cannot read model file {str(path)!r}: {exc}.") from exc
    return st.st_mtime_ns, st.st_size


class _File:
    """One parsed YAML file and the templates built from it.

    Cached per path while the file and every file its templates were built from (``uses``) are
    unchanged on disk: a template of ``a.yaml`` that uses ``b.yaml:Op`` holds ``Op`` as it was
    when it was built, so an edit of ``b.yaml`` must also drop ``a.yaml``'s templates.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stamp = _stamp(path)
        self.uses: dict[Path, _File] = {}
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ModelDefinitionError(f"Cannot read model file {str(path)!r}: {exc}.") from exc
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise ModelDefinitionError(
                f"Malformed YAML in {str(path)!r}{where}: {problem}. Fix the file's syntax "
                f"(indentation, quotes, colons)."
            ) from exc
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ModelDefinitionError(
                f"Model file {str(path)!r} must hold a mapping of template names to templates, "
                f"found a {type(data).__name__}."
            )
        self.data = dict(data)
        self.built: dict[str, Any] = {}

    def names(self) -> list[str]:
        return [k for k, v in self.data.items() if isinstance(v, Mapping) and "base" in v]

    def current(self, seen: set[Path] | None = None) -> bool:
        """Whether this file and all files it used are unchanged on disk."""
        seen = set() if seen is None else seen
        if self.path in seen:            # files may use each other
            return True
        seen.add(self.path)
        try:
            if _stamp(self.path) != self.stamp:
                return False
        except ModelDefinitionError:
            return False
        return all(f.current(seen) for f in self.uses.values())

    # -- references ----------------------------------------------------------------------------
    def ref(self, name: Any, where: str):
        if not isinstance(name, str):
            raise ModelDefinitionError(f"{where}: expected a template name, got {name!r}.")
        if name in self.data:
            return self.template(name)
        file, tpl = _locate(name, origin=self.path, where=f"{where} in {str(self.path)!r}")
        if file is not self:
            self.uses[file.path] = file
        return file.template(tpl)

    # -- templates -----------------------------------------------------------------------------
    def template(self, name: str):
        if name in self.built:
            return self.built[name]
        if name not in self.data:
            raise ModelDefinitionError(
                f"No template {name!r} in {str(self.path)!r}. Templates there: "
                f"{', '.join(self.names()) or 'none'}."
            )
        key = (self.path, name)
        if key in _BUILDING:
            cycle = [*_BUILDING[_BUILDING.index(key):], key]
            if all(path == self.path for path, _ in cycle):
                chain = " -> ".join(n for _, n in cycle)
                raise ModelDefinitionError(
                    f"Templates in {str(self.path)!r} refer to each other in a cycle: {chain}."
                )
            chain = " -> ".join(f"{path}:{n}" for path, n in cycle)
            raise ModelDefinitionError(
                f"Templates of several files refer to each other in a cycle: {chain}. A "
                f"template cannot be based on, or made of, itself; break the cycle."
            )
        _BUILDING.append(key)
        try:
            tpl = self._make(name, self.data[name])
        finally:
            _BUILDING.pop()
        self.built[name] = tpl
        return tpl

    def _make(self, name: str, spec: Any):
        where = f"template {name!r} in {str(self.path)!r}"
        if not isinstance(spec, Mapping) or "base" not in spec:
            raise ModelDefinitionError(
                f"{where} must be a mapping with a 'base' (a template class such as "
                f"OperatorTemplate, or another template to inherit from)."
            )
        base = spec["base"]
        if isinstance(base, str) and base in _CLASSES:
            cls, parent = _CLASSES[base], None
        else:
            parent = self.ref(base, f"base of {where}")
            cls = type(parent)
        unknown = set(spec) - _COMMON - _KEYS[cls]
        if unknown:
            raise ModelDefinitionError(
                f"{where} has unknown keys {sorted(unknown)}; a {cls.__name__} takes "
                f"{sorted(_COMMON | _KEYS[cls])}."
            )
        description = spec.get("description", parent.description if parent else "")
        if cls is OperatorTemplate:
            return self._operator(name, spec, parent, description, where)
        if cls in (NodeTemplate, EdgeTemplate):
            ops = spec.get("operators", parent.operators if parent else None)
            if ops is None:
                raise ModelDefinitionError(f"{where} needs 'operators'.")
            return cls(name, self._operators(ops, where), description=description)
        return self._circuit(name, spec, parent, description, where)

    def _operators(self, ops: Any, where: str):
        if isinstance(ops, (str, OperatorTemplate)):
            ops = [ops]
        if isinstance(ops, Mapping):
            out = {}
            for o, v in ops.items():
                if v is not None and not isinstance(v, Mapping):
                    raise ModelDefinitionError(
                        f"'operators' of {where} maps {o!r} to {v!r}; in the mapping form each "
                        f"operator maps to {{variable: value}} (or to nothing), e.g. "
                        f"{{{o}: {{tau: 0.01}}}}. For a plain list write [{o}, ...]."
                    )
                out[self._op(o, where)] = v or {}
            return out
        if isinstance(ops, (list, tuple)):
            return [self._op(o, where) for o in ops]
        raise ModelDefinitionError(
            f"'operators' of {where} must be a list of operator names or a mapping "
            f"{{operator: {{variable: value}}}}, got {ops!r}."
        )

    def _op(self, op: Any, where: str):
        return op if isinstance(op, OperatorTemplate) else self.ref(op, f"operator of {where}")

    def _operator(self, name, spec, parent, description, where):
        variables = dict(parent.variables) if parent else {}
        new_vars = spec.get("variables", {}) or {}
        if not isinstance(new_vars, Mapping):
            raise ModelDefinitionError(f"'variables' of {where} must be a mapping.")
        for var, decl in new_vars.items():
            variables[var] = Variable.parse(decl, name=str(var), where=where)
        equations = spec.get("equations", parent.equations if parent else None)
        if equations is None:
            raise ModelDefinitionError(f"{where} needs 'equations'.")
        if not isinstance(equations, (str, list, tuple, Mapping)):
            raise ModelDefinitionError(
                f"'equations' of {where} must be a string, a list of strings, or (to edit the "
                f"base's equations) a mapping {{replace: ..., add: ..., remove: ...}}; got "
                f"{equations!r}."
            )
        if isinstance(equations, Mapping):
            if parent is None:
                raise ModelDefinitionError(
                    f"{where} edits equations ({sorted(equations)}) but has no base template "
                    f"to edit; give the equations as a list."
                )
            equations = _edit_equations(parent, variables, equations, where)
        return OperatorTemplate(name, equations, variables, description=description)

    def _circuit(self, name, spec, parent, description, where):
        nodes: dict[str, Any] = dict(parent.nodes) if parent else {}
        for key in ("nodes", "circuits"):
            block = spec.get(key) or {}
            if not isinstance(block, Mapping):
                raise ModelDefinitionError(
                    f"'{key}' of {where} must be a mapping name -> template.")
            for node, ref in block.items():
                nodes[str(node)] = ref if not isinstance(ref, str) else self.ref(
                    ref, f"node {node!r} of {where}")
        edges = spec.get("edges", None)
        if edges is None:
            edges = parent.edges if parent else ()
        else:
            if not isinstance(edges, (list, tuple)):
                raise ModelDefinitionError(f"'edges' of {where} must be a list of 4-element lists.")
            edges = [self._edge(e, where) for e in edges]
        return CircuitTemplate(name, nodes, edges, description=description)

    def _edge(self, edge: Any, where: str):
        if not isinstance(edge, (list, tuple)) or not 2 <= len(edge) <= 4:
            raise ModelDefinitionError(
                f"Edge {edge!r} of {where} must be a list [source, target, template or null, "
                f"{{weight: ..., delay: ...}}]."
            )
        if len(edge) > 3 and edge[3] is not None and not isinstance(edge[3], Mapping):
            raise ModelDefinitionError(
                f"Edge {list(edge)!r} of {where}: the fourth entry must be a mapping of edge "
                f"attributes such as {{weight: 1.0, delay: 0.0}}, got {edge[3]!r}. Write the "
                f"weight as {{weight: {edge[3]!r}}}."
            )
        if len(edge) > 2 and isinstance(edge[2], str):
            edge = list(edge)
            edge[2] = self.ref(edge[2], f"edge {edge[0]} -> {edge[1]} of {where}")
        return edge


def _edit_equations(parent: OperatorTemplate, variables: Mapping[str, Variable],
                    edits: Mapping, where: str) -> list[str]:
    """Apply ``{replace: {old: new}, add: [...], remove: [...]}`` to the parent's equations."""
    import sympy

    unknown = set(edits) - {"replace", "add", "remove"}
    if unknown:
        raise ModelDefinitionError(
            f"The equations block of {where} has unknown keys {sorted(unknown)}; allowed: "
            f"replace, add, remove."
        )
    symbols = {v: sympy.Symbol(v, real=True) for v in variables}
    parsed = [parse_equation(eq, symbols, path=where) for eq in parent.equations]
    replace = edits.get("replace") or {}
    if not isinstance(replace, Mapping):
        raise ModelDefinitionError(f"'replace' in the equations of {where} must be a mapping.")
    pairs = [
        (parse_expression(str(old), symbols, path=where),
         parse_expression(str(new), symbols, path=where))
        for old, new in replace.items()
    ]
    removed = _text_list(edits, "remove", where)
    add = _text_list(edits, "add", where)
    out = []
    for eq in parsed:
        if eq.target in removed or eq.text in removed:
            continue
        # all pairs at once: {a: b, b: a} swaps a and b
        rhs = eq.rhs.subs(pairs, simultaneous=True) if pairs else eq.rhs
        target = next((new.name for old, new in pairs
                       if isinstance(old, sympy.Symbol) and isinstance(new, sympy.Symbol)
                       and old.name == eq.target), eq.target)
        out.append(equation_text(eq.kind, target, rhs))
    return out + add


def _text_list(edits: Mapping, key: str, where: str) -> list[str]:
    """``edits[key]`` as a list of strings (one string, a list of them, or nothing)."""
    value = edits.get(key) or []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        what = "equations to add" if key == "add" else "equations or variables to remove"
        raise ModelDefinitionError(
            f"'{key}' in the equations of {where} must be a string or a list of strings (the "
            f"{what}), got {value!r}. Quote equations, e.g. [\"x' = -x\"]."
        )
    return value


# --------------------------------------------------------------------------------------------------
# finding files
# --------------------------------------------------------------------------------------------------

_FILES: dict[Path, _File] = {}


def _open(path: Path) -> _File:
    path = path.resolve()
    file = _FILES.get(path)
    if file is None or not file.current():
        file = _FILES[path] = _File(path)
    return file


def _find_file(parts: list[str], origin: Path | None) -> Path | None:
    roots: list[Path] = [MODELS_DIR]
    if origin is not None:
        roots += list(origin.resolve().parents)
    roots += [Path(p or os.getcwd()) for p in sys.path]
    for root in roots:
        for suffix in _SUFFIXES:
            candidate = root.joinpath(*parts[:-1], parts[-1] + suffix)
            if candidate.is_file():
                return candidate
    return None


def _load(ref: str, *, origin: Path | None = None, where: str = ""):
    file, name = _locate(ref, origin=origin, where=where)
    return file.template(name)


def _locate(ref: str, *, origin: Path | None = None, where: str = "") -> tuple[_File, str]:
    """The file a reference points into, and the template name."""
    if not isinstance(ref, str) or not ref.strip():
        raise ModelDefinitionError(
            f"Expected a model reference such as 'jansen_rit.JRC', got {ref!r}.")
    ref = ref.strip()
    place = f" ({where})" if where else ""
    if ":" in ref:
        file, _, name = ref.rpartition(":")
        path = Path(file).expanduser()
        if origin is not None and not path.is_absolute():
            path = origin.parent / path
        if not path.is_file():
            raise ModelDefinitionError(
                f"Model file {file!r} of reference {ref!r} does not exist{place}."
            )
        return _open(path), name
    parts = ref.split(".")
    if len(parts) < 2 or not all(p.isidentifier() for p in parts):
        raise ModelDefinitionError(
            f"Cannot resolve the model reference {ref!r}{place}: write 'family.Template' for a "
            f"library model (see symrates.list_models()), 'pkg.module.Template' for a YAML file "
            f"pkg/module.yaml, or 'path/to/file.yaml:Template'."
        )
    path = _find_file(parts[:-1], origin)
    if path is None:
        close = [m for m in list_models() if m.split(".")[-1].lower() == parts[-1].lower()]
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ModelDefinitionError(
            f"No model file for {ref!r}{place}: looked for {'/'.join(parts[:-1])}.yaml in the "
            f"model library, the folders above the referring file and the Python path.{hint} "
            f"Library models: see symrates.list_models()."
        )
    return _open(path), parts[-1]


def load(reference: str):
    """Load a template from the model library or a YAML file.

    Parameters
    ----------
    reference : str
        ``"family.Template"`` for a library model (``symrates/models/family.yaml``),
        ``"pkg.module.Template"`` for ``pkg/module.yaml`` on the Python path, or
        ``"path/to/file.yaml:Template"``.

    Returns
    -------
    OperatorTemplate, NodeTemplate, EdgeTemplate or CircuitTemplate

    Examples
    --------
    >>> import symrates as sr
    >>> jrc = sr.load("jansen_rit.JRC")
    """
    return _load(reference)


def list_models() -> list[str]:
    """Names of the library's models, e.g. ``"jansen_rit.JRC"``.

    A model is a circuit, or a node that no circuit of its file uses as a part (the parts, such
    as ``jansen_rit.PC``, still load with :func:`load`).
    """
    out = []
    for path in sorted(MODELS_DIR.glob("*.yaml")):
        f = _open(path)
        built = {name: f.template(name) for name in f.names()}
        parts = {id(node) for tpl in built.values() if isinstance(tpl, CircuitTemplate)
                 for node in tpl.node_paths.values()}
        out += [f"{path.stem}.{name}" for name, tpl in built.items()
                if isinstance(tpl, CircuitTemplate)
                or (isinstance(tpl, NodeTemplate) and id(tpl) not in parts)]
    return out


# --------------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------------


def _walk(tpl, seen: dict[int, Any]) -> None:
    """Every template ``tpl`` uses, dependencies first, into ``seen`` (keyed by identity)."""
    if id(tpl) in seen:
        return
    if isinstance(tpl, (NodeTemplate, EdgeTemplate)):
        for op in tpl.operators:
            _walk(op, seen)
    elif isinstance(tpl, CircuitTemplate):
        for node in tpl.nodes.values():
            _walk(node, seen)
        for e in tpl.edges:
            if e.template is not None:
                _walk(e.template, seen)
    elif not isinstance(tpl, OperatorTemplate):
        raise ModelDefinitionError(f"Cannot write {tpl!r} as a template.")
    seen[id(tpl)] = tpl


def _defaults(tpl) -> dict[str, float]:
    """``{variable path: default}`` of an operator (``var``) or edge (``op/var``)."""
    if isinstance(tpl, OperatorTemplate):
        return {v: d.default for v, d in tpl.variables.items()}
    return {f"{op.name}/{v}": d.default for op in tpl.operators for v, d in op.variables.items()}


class _Writer:
    """Writes templates so that every path stays the same after loading the file back.

    Operator and edge names are path parts (``node/operator/variable``, ``edge_k/...``), so they
    are written under their own names: when two different operators (or edges) share a name but
    differ only in default values, one template is written and the other use gets the differences
    as overrides (``operators: {op: {var: value}}`` in nodes, ``{op/var: value}`` on edges). Node
    and circuit templates are not path parts (circuits address nodes by their keys) and are
    renamed on clashes.
    """

    def __init__(self, template) -> None:
        order: dict[int, Any] = {}
        _walk(template, order)
        self.names: dict[int, str] = {}
        self.overrides: dict[int, dict[str, float]] = {}
        self.docs: dict[str, dict[str, Any]] = {}
        canonical: dict[str, Any] = {}
        for tpl in order.values():
            if not isinstance(tpl, (OperatorTemplate, EdgeTemplate)):
                continue
            first = canonical.setdefault(tpl.name, tpl)
            if first is not tpl and type(first) is not type(tpl):
                raise ModelDefinitionError(
                    f"Cannot write {template.name!r} to YAML: an OperatorTemplate and an "
                    f"EdgeTemplate are both named {tpl.name!r}. A YAML file holds one template "
                    f"per name and both names are path parts (an edge's variables are "
                    f"'{tpl.name}_<k>/<operator>/<variable>'), so rename one of them, e.g. the "
                    f"edge to '{tpl.name}_edge'."
                )
            if first is not tpl and first.structure_key() != tpl.structure_key():
                kind = type(tpl).__name__
                raise ModelDefinitionError(
                    f"Cannot write {template.name!r} to YAML: two different {kind}s are both "
                    f"named {tpl.name!r}. Their names are path parts, so rename one of them."
                )
            base, mine = _defaults(first), _defaults(tpl)
            self.overrides[id(tpl)] = {k: v for k, v in mine.items() if base[k] != v}
            self.names[id(tpl)] = tpl.name
        for tpl in canonical.values():
            self.docs[tpl.name] = self._body(tpl)
        for tpl in order.values():
            if id(tpl) not in self.names:
                name, k = tpl.name, 2
                while name in self.docs:
                    name, k = f"{tpl.name}_{k}", k + 1
                self.names[id(tpl)] = name
                self.docs[name] = self._body(tpl)

    def _operators(self, tpl) -> list | dict:
        ops = [(op.name, self.overrides[id(op)]) for op in tpl.operators]
        if not any(o for _, o in ops):
            return [name for name, _ in ops]
        return {name: dict(o) for name, o in ops}

    def _body(self, tpl) -> dict[str, Any]:
        body: dict[str, Any] = {"base": type(tpl).__name__}
        if tpl.description:
            body["description"] = tpl.description
        if isinstance(tpl, OperatorTemplate):
            body["equations"] = list(tpl.equations)
            body["variables"] = {k: v.to_spec() for k, v in tpl.variables.items()}
        elif isinstance(tpl, (NodeTemplate, EdgeTemplate)):
            body["operators"] = self._operators(tpl)
        else:
            body["nodes"] = {k: self.names[id(n)] for k, n in tpl.nodes.items()}
            edges = []
            for e in tpl.edges:
                row = e.to_list()
                if e.template is not None:
                    row[2] = self.names[id(e.template)]
                    row[3] = {**row[3], **self.overrides[id(e.template)], **e.variables}
                edges.append(row)
            if edges:
                body["edges"] = edges
        return body


def to_yaml(template) -> str:
    """The template and everything it uses, as YAML text in PyRates' format.

    Loading the text back gives a template that builds the same system, with the same paths.
    """
    docs = _Writer(template).docs
    return yaml.safe_dump(docs, sort_keys=False, default_flow_style=False, width=100)


def save(template, path: str | os.PathLike) -> Path:
    """Write ``template`` (and everything it uses) to a YAML file; returns the path.

    The file is written to a temporary name and moved into place, so a failure never leaves a
    half-written file. Load it back with ``load("path.yaml:Name")``.
    """
    path = Path(path)
    text = to_yaml(template)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path

