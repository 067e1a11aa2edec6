"""Render one Cython module per :class:`~symrates.codegen.lower.KernelSpec` structure.

The file structure lives in ``templates/kernel.pyx.j2`` (Jinja2); this module only prepares,
per group and per coupling, the lines of the loop body, printed by
:class:`~symrates.codegen.printer.CythonPrinter` through a name map:

- ``_sr_x<j>``: state ``j`` of the group, ``_sr_p<j>``: parameter ``j``, ``_sr_c<j>``: coupled
  input ``j``, ``_sr_t<j>``: common subexpression ``j``, ``_sr_time``: time.

Nothing sizes-dependent enters the source: the number of units, weights, parameter values,
inputs and initial states are run-time arrays (see the template's ``Kernel``), so the source,
and with it the cache key of the compiled module, depends only on the structure.

Examples
--------
>>> import symrates as sr
>>> from symrates.codegen.lower import lower
>>> source = render(lower(sr.build("fitzhugh_nagumo.FHN")))
>>> "_sr_group_0" in source and "cdef class Kernel" in source
True
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import jinja2
import sympy

from ..errors import CodegenError
from ..frontend.parsing import TIME, Delay
from .lower import CouplingSpec, GroupSpec, KernelSpec, NoiseSpec, noise_digest
from .printer import CythonPrinter

__all__ = ["render", "TEMPLATE", "PRECISIONS"]

#: The template of a kernel module, in ``symrates/codegen/templates``.
TEMPLATE = "kernel.pyx.j2"


class _TemplateCache(jinja2.FileSystemBytecodeCache):
    """Compiled templates kept beside the kernels (in ``<cache>/_sr_templates``): compiling
    kernel.pyx.j2 costs ~40 ms of
    every process start. A cache that cannot be read or written only costs that time."""

    def load_bytecode(self, bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, ValueError, EOFError):
            bucket.reset()

    def dump_bytecode(self, bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


@functools.cache
def _environment() -> jinja2.Environment:
    from ..config import Config

    cache = None
    try:
        from ..compile.cache import TEMPLATES_DIR

        directory = Config.default().cache_dir / TEMPLATES_DIR
        directory.mkdir(parents=True, exist_ok=True)
        cache = _TemplateCache(str(directory))
    except (OSError, ValueError):
        pass
    return jinja2.Environment(
        loader=jinja2.PackageLoader("symrates.codegen", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        bytecode_cache=cache,
    )


@dataclass(frozen=True)
class _Body:
    """The loop body of a group or source function."""

    locals: tuple[str, ...]
    lines: tuple[str, ...]


def _loop_body(
    group: GroupSpec,
    temporaries: Sequence[tuple[sympy.Symbol, sympy.Expr]],
    results: Sequence[tuple[str, sympy.Expr]],
    what: str,
    rates: Sequence[sympy.Symbol] = (),
) -> _Body:
    """Loads of the used arguments, the temporaries, then ``target = expression`` lines.

    ``rates`` name the derivatives of the group's states (read from ``_sr_dy``), for the time
    derivatives of delayed sources.
    """
    names: dict[sympy.Symbol, str] = {TIME: "_sr_time"}
    loads: dict[sympy.Symbol, str] = {}
    for prefix, array, symbols in (("_sr_x", "_sr_y", group.state_symbols),
                                   ("_sr_p", "_sr_p", group.param_symbols),
                                   ("_sr_c", "_sr_c", group.cin_symbols),
                                   ("_sr_r", "_sr_dy", rates)):
        for j, s in enumerate(symbols):
            names[s] = f"{prefix}{j}"
            loads[s] = f"{array}[_sr_i]" if j == 0 else f"{array}[{j} * _sr_n + _sr_i]"
    for j, (s, _) in enumerate(temporaries):
        names[s] = f"_sr_t{j}" if not rates else f"_sr_u{j}"
    printer = CythonPrinter(names)

    used: set[sympy.Symbol] = set()
    for e in [e for _, e in temporaries] + [e for _, e in results]:
        if e.has(Delay):     # lower() turns delayed values into couplings
            raise CodegenError(
                f"{what} uses a delayed value ({next(iter(e.atoms(Delay)))}) that was not "
                "lowered to a delayed coupling."
            )
        used |= e.free_symbols
    arguments = [s for s in (*group.state_symbols, *group.param_symbols, *group.cin_symbols,
                             *rates) if s in used]
    lines = [f"{names[s]} = {loads[s]}" for s in arguments]
    try:
        lines += [f"{names[s]} = {printer.doprint(e)}" for s, e in temporaries]
        lines += [f"{target} = {printer.doprint(e)}" for target, e in results]
    except CodegenError as exc:
        raise CodegenError(f"Cannot generate code for {what}: {exc}") from exc
    local_names = [names[s] for s in arguments] + [names[s] for s, _ in temporaries]
    return _Body(tuple(local_names), tuple(lines))


def _comment(names: Sequence[str]) -> str:
    text = ", ".join(repr(n) for n in names)
    return text if len(text) <= 200 else text[:197] + "..."


def _group_context(index: int, g: GroupSpec) -> dict:
    results = []
    for j, d in enumerate(g.derivatives):
        target = "_sr_dy[_sr_i]" if j == 0 else f"_sr_dy[{j} * _sr_n + _sr_i]"
        results.append((target, sympy.sympify(d)))
    body = _loop_body(g, g.temporaries, results, f"the equations of group {g.name!r}")
    return {
        "index": index,
        "n_cins": len(g.cins),
        "comment": f"states {_comment(g.states)}; parameters {_comment(g.params)}; "
                   f"coupled inputs {_comment(g.cins)}",
        "locals": body.locals,
        "body": body.lines,
    }


def _noise_context(ns: NoiseSpec, g: GroupSpec) -> dict:
    """The function ``_sr_noise_<group>``: the amplitudes of the group's expression states,
    per part (a run of nodes), into the rows of ``_sr_g`` (laid out like the state)."""
    parts, local_names = [], {}
    for part in ns.parts:
        results = []
        for j, sigma in zip(part.states, part.sigmas):
            target = "_sr_g[_sr_i]" if j == 0 else f"_sr_g[{j} * _sr_n + _sr_i]"
            results.append((target, sympy.sympify(sigma)))
        body = _loop_body(g, part.temporaries, results,
                          f"the noise amplitudes of group {g.name!r}")
        local_names.update(dict.fromkeys(body.locals))
        whole = part.nodes == (0, ns.n_nodes)
        parts.append({"nodes": part.nodes, "whole": whole, "body": body.lines,
                      "states": ", ".join(repr(g.states[j]) for j in part.states)})
    return {"index": ns.group, "n_nodes": ns.n_nodes, "parts": parts,
            "locals": tuple(local_names),
            "split": any(not p["whole"] for p in parts)}


def check_target(spec: KernelSpec, ci: int) -> None:
    """Raise CodegenError if coupling ``ci`` targets an input its group does not have."""
    c = spec.couplings[ci]
    tgt = spec.groups[c.target]
    if c.target_cin not in tgt.cins:
        raise CodegenError(
            f"Coupling {ci} of {spec.name!r} targets {c.target_cin!r}, which is not a coupled "
            f"input of group {tgt.name!r} (coupled inputs: {', '.join(tgt.cins) or 'none'})."
        )


def _source_key(c: CouplingSpec, source: GroupSpec):
    """Couplings with equal keys compute the same source values (None: never shared)."""
    exprs = [e for _, e in c.temporaries] + [c.expr]
    if any(set(source.cin_symbols) & sympy.sympify(e).free_symbols for e in exprs):
        return None  # reads coupling sums that may change between couplings
    return (c.source, tuple(c.temporaries), sympy.sympify(c.expr))


#: Models of at most this many states per copy get a run for one copy whose state stays in
#: registers (the template's SINGLE).
SINGLE_MAX_STATES = 64


def _with_libm_exp(lines: Sequence[str]) -> tuple[str, ...]:
    """Loop body lines calling libm's ``exp`` instead of ``_sr_exp``, for the run of one copy
    (scalar code, where libm's is faster; names starting ``_sr_`` are reserved for generated
    code, so the replaced text can only be that call)."""
    return tuple(line.replace("_sr_exp(", "exp(") for line in lines)


def _single_context(spec: KernelSpec) -> dict | None:
    """The constants of the run of one copy (every group ``n_nodes`` units): sizes, and the
    offsets the runtime packs (``symrates.runtime.compiled._packed``) for those sizes; None if
    the model is too big for it."""
    n = [g.n_nodes for g in spec.groups]
    ns = sum(len(g.states) * m for g, m in zip(spec.groups, n))
    if not 0 < ns <= SINGLE_MAX_STATES:      # no states: nothing to keep in registers
        return None

    def starts(lengths):
        out, total = [], 0
        for length in lengths:
            out.append(total)
            total += length
        return out

    return {
        "ns": ns,
        "n": n,
        "yoff": starts([len(g.states) * m for g, m in zip(spec.groups, n)]),
        "poff": starts([len(g.params) * m for g, m in zip(spec.groups, n)]),
        "coff": starts([len(g.cins) * m for g, m in zip(spec.groups, n)]),
        "soff": starts([n[c.source] for c in spec.couplings]),
    }


#: Storage precisions of kernels: numpy dtype name -> C type.
PRECISIONS = {"float64": "double", "float32": "float"}


def render(spec: KernelSpec, precision: str = "float64",
           noise: Sequence[NoiseSpec] = ()) -> str:
    """Return the Cython source of the kernel module for ``spec``.

    Parameters
    ----------
    spec : KernelSpec
        The lowered model. Only its structure enters the source.
    precision : {"float64", "float32"}
        Storage type of states, parameters, weights and recordings; the arithmetic of every
        expression is in double either way (``float32`` halves the memory traffic).

    Returns
    -------
    str
        The ``.pyx`` text; equal for equal structures (it is the basis of the cache key).

    Raises
    ------
    CodegenError
        If an expression cannot be compiled (delayed values, unknown functions, complex
        numbers) or a coupling names an input its target group does not have.
    """
    groups = [_group_context(i, g) for i, g in enumerate(spec.groups)]
    sources = []
    couplings = []
    rates = []
    first: dict = {}
    filled: set = set()      # (group, coupled input) pairs a coupling already wrote this stage
    for ci, c in enumerate(spec.couplings):
        src, tgt = spec.groups[c.source], spec.groups[c.target]
        check_target(spec, ci)
        key = _source_key(c, src)
        values_from = first.setdefault(key, ci) if key is not None else ci
        computes = values_from == ci
        if computes:
            body = _loop_body(src, c.temporaries, [("_sr_out[_sr_i]", sympy.sympify(c.expr))],
                              f"coupling {ci} of {spec.name!r} (from group {src.name!r})")
            shared = [j for j, d in enumerate(spec.couplings) if j != ci and key is not None
                      and _source_key(d, spec.groups[d.source]) == key]
            sources.append({
                "index": ci,
                "comment": f"group {src.name!r}",
                "shared_note": f" (also used by couplings {shared})" if shared else "",
                "locals": body.locals,
                "body": body.lines,
            })
        if c.delayed:
            body = _loop_body(src, c.dtemporaries, [("_sr_rate", sympy.sympify(c.dexpr))],
                              f"the time derivative of delayed coupling {ci} of {spec.name!r}",
                              rates=c.rate_symbols)
            last = body.lines[-1].replace("_sr_rate = ", "_sr_out[_sr_i] = _sr_dt * (", 1) + ")"
            rates.append({"index": ci, "source": c.source, "locals": body.locals,
                          "body": (*body.lines[:-1], last)})
        couplings.append({
            "index": ci,
            "source": c.source,
            "target": c.target,
            "cin": tgt.cins.index(c.target_cin),
            "computes": computes,
            "values_from": values_from,
            "delayed": c.delayed,
            # the first coupling into a coupled input assigns its sums (no pass zeroes them)
            "assign": int((c.target, c.target_cin) not in filled),
        })
        filled.add((c.target, c.target_cin))
    summary = (f"{len(spec.groups)} group(s) with {sum(len(g.states) for g in spec.groups)} "
               f"state variable(s) per unit, {len(spec.couplings)} coupling(s)")
    template = _environment().get_template(TEMPLATE)
    if precision not in PRECISIONS:
        raise CodegenError(f"precision must be one of {', '.join(PRECISIONS)}, got "
                           f"{precision!r}.")
    real = PRECISIONS[precision]
    formats = ("d", "=d", "<d") if real == "double" else ("f", "=f", "<f")
    noise_groups = [_noise_context(ns, spec.groups[ns.group]) for ns in noise]
    if noise_groups:
        summary += (f", multiplicative noise in {len(noise_groups)} group(s)")
    single = None if rates or noise_groups else _single_context(spec)
    if single:
        for context in (*groups, *sources):
            context["scalar_body"] = _with_libm_exp(context["body"])
    return template.render(groups=groups, sources=sources, couplings=couplings, summary=summary,
                           single=single, single_max=SINGLE_MAX_STATES,
                           n_groups=max(1, len(groups)), rates=rates, has_delays=bool(rates),
                           real=real, real_formats=repr(formats), noise_groups=noise_groups,
                           noise_digest=noise_digest(noise))
