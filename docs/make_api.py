"""Write ``docs/api.md``: one entry per public name of ``symrates.__all__``.

Each entry shows the signature and the numpydoc docstring: the summary, the extended summary, and
the Parameters, Returns, Raises, Attributes and Examples sections. Classes also list their public
methods and properties, each with its signature and first docstring line. The script only imports
symrates and reads docstrings with :mod:`inspect`; it needs neither Sphinx nor numpydoc.

Usage::

    python docs/make_api.py            # (re)write docs/api.md
    python docs/make_api.py --check    # exit 1 if docs/api.md is out of date
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "api.md"

#: numpydoc sections rendered as name/type/description lists, and the ones rendered as code.
LIST_SECTIONS = ("Parameters", "Returns", "Yields", "Raises", "Warns", "Attributes",
                 "Other Parameters")
CODE_SECTIONS = ("Examples",)
TEXT_SECTIONS = ("Notes", "See Also", "References", "Warnings")
_UNDERLINE = re.compile(r"^\s*-{3,}\s*$")

GROUPS = [
    ("Templates", ("OperatorTemplate", "NodeTemplate", "EdgeTemplate", "CircuitTemplate")),
    ("Loading and saving", ("load", "save", "to_yaml", "list_models")),
    ("The symbolic system", ("build", "SymbolicSystem")),
    ("Simulation", ("simulate", "SimulationResult")),
    ("Networks", ("network", "Coupling")),
    ("Analysis", ("fixed_points", "FixedPoint", "continuation", "periodic_orbit", "Branch",
                  "SpecialPoint", "PeriodicOrbit")),
    ("Scans", ("scan", "sweep")),
]


def split_sections(doc: str) -> tuple[list[str], dict[str, list[str]]]:
    """Split a cleaned numpydoc docstring into its free text and its ``{section: lines}``."""
    lines = doc.splitlines()
    head: list[str] = []
    sections: dict[str, list[str]] = {}
    current = head
    i = 0
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and line.strip() and _UNDERLINE.match(lines[i + 1]):
            current = sections.setdefault(line.strip(), [])
            i += 2
            continue
        current.append(line)
        i += 1
    return head, sections


def paragraphs(lines: list[str]) -> list[str]:
    out, cur = [], []
    for line in lines:
        if line.strip():
            cur.append(line.strip())
        elif cur:
            out.append(" ".join(cur))
            cur = []
    if cur:
        out.append(" ".join(cur))
    return out


def rst_to_md(text: str) -> str:
    """The few reST constructs docstrings use, as Markdown."""
    text = re.sub(r":(?:func|class|meth|attr|data|mod|exc|obj):`~?([^`]+)`", r"`\1`", text)
    text = text.replace("``", "`")
    return text


def render_list(lines: list[str], *, types_only: bool = False) -> list[str]:
    """``name : type`` entries with indented descriptions → a Markdown bullet list.

    In Returns-like sections an entry without ``" : "`` is a type, not a name."""
    items: list[tuple[str, list[str]]] = []
    for line in lines:
        if not line.strip():
            if items:
                items[-1][1].append("")
            continue
        if not line.startswith((" ", "\t")):
            items.append((line.strip(), []))
        elif items:
            items[-1][1].append(line.strip())
    out = []
    for head, desc in items:
        name, sep, kind = head.partition(" : ")
        if types_only and not sep:
            entry = f"- {rst_to_md(name.strip())}"
        else:
            names = ", ".join(f"`{n.strip()}`" for n in name.split(","))
            entry = f"- {names}" + (f" ({rst_to_md(kind.strip())})" if kind.strip() else "")
        text = " ".join(p for p in paragraphs(desc))
        if text:
            entry += f": {rst_to_md(text)}"
        out.append(entry)
    return out


def render_examples(lines: list[str]) -> list[str]:
    body = [line for line in lines]
    while body and not body[-1].strip():
        body.pop()
    while body and not body[0].strip():
        body.pop(0)
    if not body:
        return []
    text = inspect.cleandoc("\n".join(body))
    return ["```python", text, "```"]


def render_doc(doc: str | None, level: int) -> list[str]:
    if not doc:
        return ["*(no docstring)*"]
    head, sections = split_sections(inspect.cleandoc(doc))
    out: list[str] = []
    for par in paragraphs(head):
        out += [rst_to_md(par), ""]
    hashes = "#" * level
    for name, lines in sections.items():
        if name in LIST_SECTIONS:
            rendered = render_list(lines, types_only=name in ("Returns", "Yields"))
        elif name in CODE_SECTIONS:
            rendered = render_examples(lines)
        else:
            rendered = [rst_to_md(p) + "\n" for p in paragraphs(lines)]
        if rendered:
            out += [f"{hashes} {name}", "", *rendered, ""]
    return out


class _Text:
    """Shows a string annotation as written (``str``, not ``'str'``)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _plain(annotation):
    return _Text(annotation) if isinstance(annotation, str) else annotation


def signature(obj, name: str) -> str:
    """``name(params) -> return`` with string annotations unquoted and private parameters
    (a leading underscore, such as dataclass caches) left out."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return name
    params = [p.replace(annotation=_plain(p.annotation))
              for p in sig.parameters.values() if not p.name.startswith("_")]
    ret = inspect.Signature.empty if inspect.isclass(obj) else _plain(sig.return_annotation)
    sig = sig.replace(parameters=params, return_annotation=ret)
    text = f"{name}{sig}"
    if len(text) <= 100:
        return text
    # one parameter per line, as black would format a long definition
    parts: list[str] = []
    kind = None
    for p in params:
        if p.kind is p.KEYWORD_ONLY and kind not in (p.KEYWORD_ONLY, p.VAR_POSITIONAL):
            parts.append("*")
        if kind is p.POSITIONAL_ONLY and p.kind is not p.POSITIONAL_ONLY:
            parts.append("/")
        parts.append(str(p))
        kind = p.kind
    if kind is inspect.Parameter.POSITIONAL_ONLY:
        parts.append("/")
    body = "".join(f"\n    {part}," for part in parts)
    tail = "" if ret is inspect.Signature.empty else f" -> {inspect.formatannotation(ret)}"
    return f"{name}({body}\n){tail}"


def members(cls) -> list[tuple[str, object, str]]:
    """Public methods and properties defined by ``cls`` (not inherited from builtins)."""
    out = []
    for klass in cls.__mro__:
        if klass in (object, Exception, BaseException, UserWarning, Warning, ValueError,
                     RuntimeError, ArithmeticError):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") or any(m[0] == name for m in out):
                continue
            if isinstance(value, (property,)) or type(value).__name__ == "cached_property":
                out.append((name, value, "property"))
            elif isinstance(value, (staticmethod, classmethod)):
                out.append((name, value.__func__, "method"))
            elif inspect.isfunction(value):
                out.append((name, value, "method"))
    return out


def first_line(doc: str | None) -> str:
    if not doc:
        return ""
    paras = paragraphs(inspect.cleandoc(doc).splitlines())
    return rst_to_md(paras[0]) if paras else ""


def render(name: str, obj) -> list[str]:
    out = [f"### `{name}`", ""]
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        bases = ", ".join(b.__name__ for b in obj.__bases__)
        out += [f"```python\nclass {name}({bases})\n```", ""]
        out += render_doc(obj.__doc__, 4)
        return out
    if inspect.isclass(obj):
        out += [f"```python\nclass {signature(obj, name)}\n```", ""]
        out += render_doc(obj.__doc__, 4)
        rows = members(obj)
        if rows:
            out += ["#### Members", ""]
            for mname, member, kind in rows:
                if kind == "property":
                    fget = getattr(member, "fget", None) or getattr(member, "func", None)
                    out.append(f"- `{mname}` (property): {first_line(fget.__doc__)}".rstrip(": "))
                else:
                    sig = signature(member, mname).replace("(self, ", "(").replace("(self)", "()")
                    sig = sig.replace("(cls, ", "(").replace("(cls)", "()")
                    out.append(f"- `{sig}`: {first_line(member.__doc__)}".rstrip(": "))
            out.append("")
        return out
    if callable(obj):
        out += [f"```python\n{signature(obj, name)}\n```", ""]
        out += render_doc(obj.__doc__, 4)
        return out
    out += [f"```python\n{name} = {obj!r}\n```", ""]
    return out


def generate() -> str:
    import symrates

    names = [n for n in symrates.__all__ if n != "__version__"]
    placed: set[str] = set()
    lines = [
        "# API reference",
        "",
        "<!-- Generated by docs/make_api.py from the docstrings; do not edit by hand. -->",
        "",
        "Every public name of `symrates` (`symrates.__all__`), with its signature and docstring. "
        "Options shown after `*` are keyword-only, and an unknown option is an error that names "
        "it. Paths such as `\"pc/RPO_e_pc/u\"` accept any unambiguous suffix "
        "(see [Getting started](getting_started.md#paths)).",
        "",
        "```python",
        "import symrates as sr",
        "sr.__version__",
        "```",
        "",
    ]
    for title, group in GROUPS:
        present = [n for n in group if n in names]
        if not present:
            continue
        lines += [f"## {title}", ""]
        for n in present:
            lines += render(n, getattr(symrates, n))
            placed.add(n)
    errors = [n for n in names if n not in placed and inspect.isclass(getattr(symrates, n))
              and issubclass(getattr(symrates, n), BaseException | Warning)]
    rest = [n for n in names if n not in placed and n not in errors]
    if rest:
        lines += ["## Other", ""]
        for n in rest:
            lines += render(n, getattr(symrates, n))
    if errors:
        lines += ["## Errors and warnings", ""]
        for n in errors:
            lines += render(n, getattr(symrates, n))
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text).rstrip() + "\n"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only check that docs/api.md is up to date")
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is out of date: run python docs/make_api.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
