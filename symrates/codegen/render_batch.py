"""Render the Cython module of a *batch kernel*: many independent copies of one small model.

A scan integrates ``B`` parameter sets of a model (the *unit*, which may itself be a network of
a few nodes). The batch kernel (``templates/batch.pyx.j2``) runs them in one call, parallel over
copies with the whole time loop inside each thread's share, so no thread ever waits for another
(DESIGN.md §3(a), §7); the observables of the window accumulate in the kernel.

Copies are integrated in *tiles* of ``L`` copies. Inside a tile every entry of the unit's state
(parameter, coupling sum, source value) vector is expanded to ``L`` contiguous copies: entry
``i`` of copy ``b`` sits at ``L * i + b``. A group of ``n`` units is then a group of ``n * L``
units laid out exactly as ``network(unit, L)`` lays it out (unit ``u`` of copy ``b`` is
``u * L + b``), so the group and source loop bodies are the ones of the ordinary kernel
(:func:`symrates.codegen.render._loop_body`) and the innermost loops run over copies with unit
stride, which the C compiler vectorises. The coupling matrices of a tile are ``kron(W, I_L)``,
whose rows keep the order of ``W``'s, so every copy sums its inputs in the order a run of the
unit alone does; results are bit-identical to ``simulate`` of each set alone.

Unlike the ordinary kernel, the module of a batch is specific to the unit's sizes (group sizes
and the state, parameter and coupling offsets are constants in the source), and to the observed
signals (printed into the sampling routine). Both are fixed for a scan.

Examples
--------
>>> import symrates as sr
>>> from symrates.codegen.lower import lower
>>> source = render_batch(lower(sr.build("fitzhugh_nagumo.FHN")), [])
>>> "def run(" in source and "_sr_group_0" in source
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sympy

from ..errors import CodegenError
from ..frontend.parsing import TIME
from .lower import GroupSpec, KernelSpec
from .printer import CythonPrinter
from .render import _environment, _loop_body, check_target

__all__ = ["BatchSignal", "render_batch", "BATCH_TEMPLATE"]

#: The template of a batch module, in ``symrates/codegen/templates``.
BATCH_TEMPLATE = "batch.pyx.j2"


@dataclass(frozen=True)
class BatchSignal:
    """A signal sampled in the window, with its values per unit of the model.

    Attributes
    ----------
    name : str
        For comments only.
    expr : sympy.Expr
        The signal, in the symbols of ``loads`` and :data:`~symrates.frontend.parsing.TIME`.
    units : int
        Values per copy (1, or the number of units of a network model).
    loads : dict
        ``{symbol: (array, base, step)}``: the symbol's value for unit ``u`` of the signal is
        entry ``base + step * u`` of the unit's state vector (``array="y"``) or parameter
        vector (``array="p"``); ``step`` is 0 for symbols with one value per copy.
    """

    name: str
    expr: sympy.Expr
    units: int
    loads: dict = field(default_factory=dict)


def _signal_context(k: int, s: BatchSignal, row: int) -> dict:
    temps, (expr,) = sympy.cse([sympy.sympify(s.expr)],
                               symbols=sympy.numbered_symbols("_sr_q", real=True),
                               optimizations="basic")
    names = {TIME: "_sr_time"}
    loads = []
    free = set(sympy.sympify(expr).free_symbols)
    for _, e in temps:
        free |= e.free_symbols
    for j, (sym, (array, base, step)) in enumerate(sorted(s.loads.items(), key=lambda kv: str(
            kv[0]))):
        if sym not in free:
            continue
        names[sym] = f"_sr_a{k}_{j}"
        src = "_sr_y" if array == "y" else "_sr_p"
        where = f"{base}" if step == 0 else f"{base} + _sr_u"
        loads.append(f"_sr_a{k}_{j} = {src}[({where}) * _sr_L + _sr_b]")
    for j, (sym, _) in enumerate(temps):
        names[sym] = f"_sr_q{k}_{j}"
    printer = CythonPrinter(names)
    try:
        lines = loads + [f"{names[sym]} = {printer.doprint(e)}" for sym, e in temps]
        lines.append(f"_sr_x = {printer.doprint(expr)}")
    except CodegenError as exc:
        raise CodegenError(f"Cannot generate code for the observed signal {s.name!r}: {exc}"
                           ) from exc
    local = [n for sym, n in names.items() if sym != TIME]
    return {"index": k, "name": s.name.replace("\n", " "), "units": s.units, "row": row,
            "locals": local, "body": lines}


def _hoisted(temporaries, constants: set) -> set:
    """The temporaries that depend on constant parameters only (and on each other): computed
    once per run instead of at every stage."""
    out: set = set()
    for sym, e in temporaries:
        if e.free_symbols and e.free_symbols <= constants | out:
            out.add(sym)
    return out


def _body(g: GroupSpec, temporaries, results, what: str, hoist: set,
          hoisted_index: dict) -> tuple[list[str], list[str], list[str]]:
    """The body of a loop over a group's units, printed as the ordinary kernel prints it: its
    locals, the lines loading the used arguments and computing the (non-hoisted) temporaries,
    and the printed ``results`` expressions."""
    names: dict = {TIME: "_sr_time"}
    loads: dict = {}
    for prefix, array, symbols in (("_sr_x", "_sr_y", g.state_symbols),
                                   ("_sr_p", "_sr_p", g.param_symbols),
                                   ("_sr_c", "_sr_c", g.cin_symbols)):
        for j, sym in enumerate(symbols):
            names[sym] = f"{prefix}{j}"
            loads[sym] = f"{array}[{j} * _sr_n + _sr_i]"
    for j, (sym, _) in enumerate(temporaries):
        names[sym] = f"_sr_t{j}"
        if sym in hoist:
            loads[sym] = f"_sr_h[{hoisted_index[sym]} * _sr_n + _sr_i]"
    printer = CythonPrinter(names)
    used: set = set()
    for sym, e in temporaries:
        if sym not in hoist:
            used |= e.free_symbols
    for e in results:
        used |= sympy.sympify(e).free_symbols
    ordered = [*g.state_symbols, *g.param_symbols, *g.cin_symbols,
               *(sym for sym, _ in temporaries if sym in hoist)]
    arguments = [sym for sym in ordered if sym in used]
    try:
        lines = [f"{names[sym]} = {loads[sym]}" for sym in arguments]
        lines += [f"{names[sym]} = {printer.doprint(e)}" for sym, e in temporaries
                  if sym not in hoist]
        exprs = [printer.doprint(e) for e in results]
    except CodegenError as exc:
        raise CodegenError(f"Cannot generate code for {what}: {exc}") from exc
    local = [names[sym] for sym in arguments] + [names[sym] for sym, _ in temporaries
                                                 if sym not in hoist]
    return local, lines, exprs


def _prepare_body(g: GroupSpec, temporaries, hoist: set, hoisted_index: dict
                  ) -> tuple[list[str], list[str]]:
    """The loop body computing a group's hoisted temporaries into ``_sr_h``."""
    names: dict = {}
    for j, sym in enumerate(g.param_symbols):
        names[sym] = f"_sr_p{j}"
    for j, (sym, _) in enumerate(temporaries):
        names[sym] = f"_sr_t{j}"
    printer = CythonPrinter(names)
    used: set = set()
    for sym, e in temporaries:
        if sym in hoist:
            used |= e.free_symbols
    params = [(j, sym) for j, sym in enumerate(g.param_symbols) if sym in used]
    lines = [f"_sr_p{j} = _sr_p[{j} * _sr_n + _sr_i]" for j, _ in params]
    local = [f"_sr_p{j}" for j, _ in params]
    for sym, e in temporaries:
        if sym in hoist:
            lines.append(f"{names[sym]} = {printer.doprint(e)}")
            lines.append(f"_sr_h[{hoisted_index[sym]} * _sr_n + _sr_i] = {names[sym]}")
            local.append(names[sym])
    return local, lines


def render_batch(spec: KernelSpec, signals: Sequence[BatchSignal],
                 driven: Sequence[set[str]] | None = None) -> str:
    """Return the Cython source of the batch module of ``spec`` observing ``signals``.

    Parameters
    ----------
    spec : KernelSpec
        The lowered unit (one parameter set). Delayed couplings are not supported.
    signals : sequence of BatchSignal
        The signals whose window statistics the kernel accumulates, in the order of the
        accumulator rows (a signal with ``units`` values takes that many rows). Which rows keep
        their samples for a spectrum is chosen at run time.
    driven : sequence of set of str, optional
        Per group, the local names of parameters driven by input series. Common subexpressions
        of the other parameters only (``1/tau``) are computed once per run, not per stage.

    Returns
    -------
    str
        The ``.pyx`` text; equal for equal structures, sizes and signals.

    Raises
    ------
    CodegenError
        If the unit has delays, or an expression cannot be compiled.
    """
    if any(c.delayed for c in spec.couplings):
        raise CodegenError(f"The batch kernel of {spec.name!r} does not support delays.")
    driven = list(driven) if driven is not None else [set() for _ in spec.groups]
    groups = []
    poff = coff = hoff = 0
    for gi, g in enumerate(spec.groups):
        constants = {sym for p, sym in zip(g.params, g.param_symbols) if p not in driven[gi]}
        hoist = _hoisted(g.temporaries, constants)
        index = {sym: j for j, sym in enumerate(s for s, _ in g.temporaries if s in hoist)}
        local, lines, exprs = _body(g, g.temporaries, [sympy.sympify(d) for d in g.derivatives],
                                    f"the equations of group {g.name!r}", hoist, index)
        plocal, plines = _prepare_body(g, g.temporaries, hoist, index)
        at = ["_sr_i" if j == 0 else f"{j} * _sr_n + _sr_i" for j in range(len(exprs))]
        groups.append({"index": gi, "n": g.n, "yoff": g.offsets[0] if g.offsets else 0,
                       "poff": poff, "coff": coff, "hoff": hoff, "n_cins": len(g.cins),
                       "locals": local, "lines": lines, "n_hoisted": len(hoist),
                       "results": list(zip(at, exprs)),
                       "prepare_locals": plocal, "prepare": plines,
                       "comment": f"group {g.name!r}: states {', '.join(g.states)}"})
        poff += len(g.params) * g.n
        coff += len(g.cins) * g.n
        hoff += len(hoist) * g.n
    couplings = []
    soff = 0
    for ci, c in enumerate(spec.couplings):
        src, tgt = spec.groups[c.source], spec.groups[c.target]
        check_target(spec, ci)
        body = _loop_body(src, c.temporaries, [("_sr_out[_sr_i]", sympy.sympify(c.expr))],
                          f"coupling {ci} of {spec.name!r} (from group {src.name!r})")
        couplings.append({"index": ci, "source": c.source, "target": c.target,
                          "cin": tgt.cins.index(c.target_cin), "soff": soff,
                          "locals": body.locals, "body": body.lines})
        soff += src.n
    contexts, row = [], 0
    for k, s in enumerate(signals):
        contexts.append(_signal_context(k, s, row))
        row += s.units
    template = _environment().get_template(BATCH_TEMPLATE)
    return template.render(
        name=spec.name, groups=groups, couplings=couplings, signals=contexts,
        n_states=spec.n_states, n_params=poff, n_cins=coff, n_sources=soff, n_hoisted=hoff,
        n_rows=row,
    )
