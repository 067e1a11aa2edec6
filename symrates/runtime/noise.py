"""``noise={state_path: sigma}`` of :func:`symrates.simulate`, resolved for both backends.

A ``sigma`` is a number >= 0, an array with one such number per unit (additive noise), or an
expression (text or sympy) of the states and parameters of the state's unit and ``t``
(multiplicative noise, DESIGN.md §5). Text is parsed by
:func:`symrates.frontend.parsing.parse_expression` (no ``eval``); names resolve like equation
names in the unit (node) of the state: the variables of the state's own operator by their name,
any other variable of the node by an unambiguous suffix of its local path with ``__`` between
the parts (``RPO_i__v``). Algebraic variables are replaced by their definitions.

:func:`resolve_noise` returns a :class:`Noise`: the constant amplitudes as a vector, and the
expressions lowered per group (:func:`symrates.codegen.lower.lower_noise`). The numpy reference
evaluates them with :meth:`Noise.diffusion`; the compiled engine generates one function per
group from them (their :meth:`Noise.key` is part of the kernel source's cache key).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy

from ..codegen.lower import NoiseSpec, lower_noise
from ..errors import EquationParseError, ModelDefinitionError
from ..frontend.parsing import TIME, Delay, parse_expression
from ..ir.system import SymbolicSystem
from .problem_numpy import _lambdify, lowered

__all__ = ["Noise", "resolve_noise"]

#: Prefix of the placeholder symbols of names that match several variables of a node.
_AMBIGUOUS = "_sr_ambiguous:"


@dataclass(frozen=True, eq=False)
class Noise:
    """The noise of one run.

    Attributes
    ----------
    sigma : np.ndarray, shape (n_states,)
        Constant amplitudes (additive noise); 0 for states without noise and for the entries
        whose amplitude is an expression.
    noisy : np.ndarray of bool, shape (n_states,)
        The entries that receive noise: a non-zero constant or an expression.
    specs : tuple of NoiseSpec
        The expressions, lowered per group; empty for additive noise.
    """

    sigma: np.ndarray
    noisy: np.ndarray
    specs: tuple[NoiseSpec, ...]

    @property
    def multiplicative(self) -> bool:
        """Whether some amplitude depends on the state, the parameters or ``t``."""
        return bool(self.specs)

    def key(self) -> str:
        """The structure of the expressions (empty for additive noise), for cache keys."""
        return "\n".join(s.key() for s in self.specs)

    def diffusion(self, problem: Any) -> np.ndarray | Callable[[float, np.ndarray, int],
                                                                np.ndarray]:
        """The ``noise`` argument of :func:`~symrates.runtime.integrate.integrate` for a
        :class:`~symrates.runtime.problem_numpy.NumpyProblem`: the constant vector, or a
        function ``sigma(t, y, k)`` evaluating the expressions vectorised over units."""
        if not self.specs:
            return self.sigma
        spec = problem.spec
        parts = []
        for ns in self.specs:
            g = spec.groups[ns.group]
            args = (TIME, *g.state_symbols, *g.param_symbols)
            for part in ns.parts:
                parts.append((ns.group, g.n // ns.n_nodes, part,
                              _lambdify(args, part.temporaries, part.sigmas)))
        base = self.sigma

        def sigma(t: float, y: np.ndarray, k: int) -> np.ndarray:
            problem._refresh(t, k)
            out = base.copy()
            for gi, m, part, fn in parts:
                g = spec.groups[gi]
                values = fn(t, *(y[off:off + g.n] for off in g.offsets),
                            *(problem.params[gi][p] for p in g.params))
                rows = slice(part.nodes[0] * m, part.nodes[1] * m)
                for j, v in zip(part.states, values):
                    v = np.broadcast_to(np.asarray(v, dtype=float), (g.n,))
                    out[g.offsets[j] + rows.start:g.offsets[j] + rows.stop] = v[rows]
            return out

        return sigma


def _identifiers(group: Any, state_local: str) -> dict[str, set[str]]:
    """Names usable in a noise expression of ``state_local`` -> the local names they match."""
    table: dict[str, set[str]] = {}
    for local in dict.fromkeys([*group.symbols, *group.param_symbols]):
        parts = local.split("/")
        for k in range(1, len(parts) + 1):
            ident = "__".join(parts[-k:])
            if ident.isidentifier() and ident != "t":
                table.setdefault(ident, set()).add(local)
    scope = state_local.rsplit("/", 1)[0] + "/" if "/" in state_local else ""
    for ident, found in table.items():     # the state's own operator wins, as in equations
        if len(found) > 1 and scope + ident in found:
            table[ident] = {scope + ident}
    return table


def _symbol(group: Any, local: str) -> sympy.Symbol:
    return group.symbols[local] if local in group.symbols else group.param_symbols[local]


def _expression(system: SymbolicSystem, full: str, value: Any, group: Any, local: str,
                node: str) -> sympy.Expr:
    """``value`` (text or sympy) in the group's unit-local symbols, algebraic variables
    replaced by their definitions; checked."""
    where = f"noise= of {system.name!r} for the state {full!r}"
    allowed = (f"A noise expression may use the states, parameters and algebraic variables of "
               f"the unit {node!r} (by name, or by the suffix of their path joined with '__') "
               "and t.")
    table = _identifiers(group, local)
    if isinstance(value, str):
        symbols = {ident: (_symbol(group, next(iter(found))) if len(found) == 1 else
                           sympy.Symbol(_AMBIGUOUS + ident, real=True))
                   for ident, found in table.items()}
        try:
            expr = parse_expression(value, symbols, path=where)
        except EquationParseError as exc:
            message = str(exc).replace(" Declare it under variables or fix the name.",
                                       " Fix the name.")
            raise EquationParseError(f"{message} {allowed}", equation=exc.equation,
                                     path=exc.path, position=exc.position) from exc
        text = value
    else:
        expr = value
        text = str(value)
        subs = {}
        for s in expr.free_symbols:
            name = s.name
            if name == "t":
                subs[s] = TIME
                continue
            found = table.get(name) or ({name} if name in group.symbols
                                        or name in group.param_symbols else None)
            if found is None:
                try:
                    other, other_local, other_i = system.locate(name)
                except ModelDefinitionError:
                    other = None
                if other is group and group.nodes[other_i] == node:
                    found = {other_local}
            if found is None:
                near = sorted(table, key=len)[:12]
                raise ModelDefinitionError(
                    f"Unknown symbol {name!r} in the expression {text!r} of {where}; names "
                    f"of that unit include {', '.join(near)}. {allowed}"
                )
            subs[s] = (_symbol(group, next(iter(found))) if len(found) == 1
                       else sympy.Symbol(_AMBIGUOUS + name, real=True))
        expr = expr.xreplace(subs)
    ambiguous = sorted(s.name[len(_AMBIGUOUS):] for s in expr.free_symbols
                       if s.name.startswith(_AMBIGUOUS))
    if ambiguous:
        name = ambiguous[0]
        options = ", ".join("__".join(m.split("/")) for m in sorted(table[name]))
        raise ModelDefinitionError(
            f"The name {name!r} in the expression {text!r} of {where} is ambiguous: it "
            f"matches {', '.join(sorted(table[name]))} of the unit {node!r}. Write one of "
            f"{options}."
        )
    if expr.has(Delay):
        raise ModelDefinitionError(
            f"The expression {text!r} of {where} uses a delayed value; a noise amplitude is "
            f"evaluated at the current state only. Remove the delay."
        )
    expr = group.substitute(expr)
    cins = set(group.cin.values())
    read = sorted(k for k, s in group.cin.items() if s in expr.free_symbols)
    if read or expr.free_symbols & cins:
        raise ModelDefinitionError(
            f"The expression {text!r} of {where} depends on the coupled input(s) "
            f"{', '.join(read)} (sums of incoming edges), which a noise amplitude cannot read. "
            f"{allowed} Use the states the input is computed from instead."
        )
    if expr.has(sympy.I) or expr.is_real is False or expr.has(*(
            sympy.zoo, sympy.nan, sympy.oo, -sympy.oo)):
        raise ModelDefinitionError(
            f"The expression {text!r} of {where} is not real ({expr}); a noise amplitude must "
            "be a finite real number. Check roots and logarithms of negative constants."
        )
    return expr


def resolve_noise(system: SymbolicSystem, noise: Mapping[str, Any]) -> Noise:
    """Resolve ``noise={state_path: sigma}`` of ``system``.

    Parameters
    ----------
    system : SymbolicSystem
    noise : mapping
        ``{state path: sigma}`` with ``sigma`` a number >= 0, an array of such numbers (one
        per unit of the path), or an expression (str or sympy) of the unit's states and
        parameters and ``t``.

    Returns
    -------
    Noise

    Raises
    ------
    ModelDefinitionError
        If a path is not a state, a number is negative or not finite, an array has the wrong
        length, or an expression uses unknown or ambiguous names, coupled inputs, delayed
        values or is not real (:class:`~symrates.errors.EquationParseError` for text that does
        not parse).

    Examples
    --------
    >>> import symrates as sr
    >>> system = sr.build("fitzhugh_nagumo.FHN")
    >>> noise = resolve_noise(system, {"v": "0.1 * (1 + v**2)", "w": 0.05})
    >>> noise.multiplicative, noise.sigma.tolist(), noise.noisy.tolist()
    (True, [0.0, 0.05], [True, True])
    """
    if not isinstance(noise, Mapping):
        raise ModelDefinitionError(
            f"noise= of {system.name!r} must be a mapping {{state path: sigma}}, e.g. "
            f"{{'{system.states[0]}': 0.1}}; got {noise!r}."
        )
    sigma = np.zeros(system.n_states)
    noisy = np.zeros(system.n_states, dtype=bool)
    exprs: dict[tuple[int, int, int], sympy.Expr] = {}
    for path, value in noise.items():
        full = system.resolve(path, what="state")
        if full not in system.layout:
            kind = ("a parameter" if full in system.parameters and full not in system.inputs
                    else "an input" if full in system.inputs else "an algebraic variable")
            hint = (" (for an algebraic variable, on a state it is computed from)"
                    if kind == "an algebraic variable" else "")
            raise ModelDefinitionError(
                f"noise= of {system.name!r} names {path!r}, which is {kind}, not a state; noise "
                f"is added to state equations (dx = f dt + sigma dW). Put it on a state{hint}. "
                f"States: {', '.join(system.states[:8])}."
            )
        group, local, off, length = system.layout[full]
        node_i = system.locate(full)[2]
        gi = system.groups.index(group)
        key = (gi, node_i, group.states.index(local))
        expr, given = None, value
        if isinstance(value, (str, sympy.Basic)):
            expr = _expression(system, full, value, group, local, group.nodes[node_i])
            if not expr.free_symbols:
                value = float(expr)     # a constant: additive noise
                expr = None
        if expr is not None:
            exprs[key] = expr
            sigma[off:off + length] = 0.0
            noisy[off:off + length] = True
            continue
        exprs.pop(key, None)
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ModelDefinitionError(
                f"The noise intensity of {full!r} in {system.name!r} must be a number >= 0, an "
                f"array of {length} such numbers, or an expression of the unit's states and "
                f"parameters (text such as '0.1 * x'), got {given!r}."
            ) from exc
        if (arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != length)
                or not np.all(np.isfinite(arr)) or np.any(arr < 0)):
            raise ModelDefinitionError(
                f"The noise intensity of {full!r} in {system.name!r} must be a number >= 0 or "
                f"an array of {length} such numbers (one per unit), got {given!r}. A negative "
                "constant amplitude has the same effect as its absolute value; give that, or "
                "an expression (text such as '0.1 * x') for multiplicative noise."
            )
        sigma[off:off + length] = arr
        noisy[off:off + length] = arr != 0
    specs = lower_noise(lowered(system), exprs) if exprs else ()
    return Noise(sigma, noisy, specs)
