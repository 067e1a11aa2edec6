"""Distributed (gamma) delays as linear chains of first-order stages (DESIGN.md §4).

An edge with mean delay ``d`` and spread ``s > 0`` convolves its source with the gamma kernel of
mean ``d`` and standard deviation ``s``, i.e. of shape ``k = round((d/s)²)`` and rate
``a = k/d``. That kernel is the impulse response of ``k`` first-order stages

    z1' = a (source - z1),   zm' = a (z(m-1) - zm),   output zk,

so the delay becomes ordinary states that every solver and the analysis see. Edges from the same
source unit with the same ``(k, a)`` share one chain. Chains start at the source's initial value
(the history before ``t = 0`` is the initial state). The chains of order ``k`` form a group named
``_gamma{k}`` (``_gamma{k}_2``, ... if that name is taken).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import sympy

from ..errors import ModelDefinitionError
from ..frontend.parsing import TIME, Delay
from .csr import CSR
from .paths import split
from .system import Coupling, Group, SymbolicSystem

__all__ = ["expand_distributed_delays", "chain_order"]


def chain_order(delay: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """Number of stages ``k = max(1, round((delay/spread)²))`` of each gamma delay."""
    return np.maximum(1, np.rint((delay / spread) ** 2)).astype(np.int64)


def _chain_name(k: int, taken: set[str]) -> str:
    """``_gamma{k}``, or ``_gamma{k}_2``, ``_gamma{k}_3``, ... if a group or the first part of a
    node path already has that name (a network expands the chains of its unit's own edges first,
    and users may name nodes ``_gamma1``)."""
    name, m = f"_gamma{k}", 2
    while name in taken:
        name, m = f"_gamma{k}_{m}", m + 1
    return name


def _chain_group(name: str, k: int, n: int, rates: np.ndarray, start: np.ndarray) -> Group:
    sym = {f"chain/z{m}": sympy.Symbol(f"chain/z{m}", real=True) for m in range(1, k + 1)}
    rate = sympy.Symbol("chain/rate", real=True)
    base = sympy.Symbol("chain/in", real=True)
    inp = sympy.Symbol("_sr_in:chain/in", real=True)
    cin = sympy.Symbol("_sr_cin:chain/in", real=True)
    states = tuple(sym)
    prev = [inp] + [sym[f"chain/z{m}"] for m in range(1, k)]
    derivs = tuple(rate * (p - sym[s]) for p, s in zip(prev, states))
    return Group(
        name=name, nodes=(name,), states=states, derivatives=derivs,
        algebraic=(("chain/in", base + cin),),
        symbols={**sym, "chain/in": inp},
        parameters=("chain/in", "chain/rate"),
        param_symbols={"chain/in": base, "chain/rate": rate},
        param_values={"chain/in": np.zeros(n), "chain/rate": rates},
        initial={s: start.copy() for s in states},
        cin={"chain/in": cin},
        outputs=(states[-1],),
        copies=n,
        arrays=True,
    )


def _initial_sources(system: SymbolicSystem) -> dict[int, np.ndarray]:
    """Each coupling's source values at ``t = 0`` and the declared initial state (by coupling
    index). A delayed value there is its history, the value at the initial state."""
    cins = {g.name: {v: np.zeros(g.n) for v in g.cin} for g in system.groups}
    values = {}
    for ci, c in enumerate(system.couplings):
        g = system.group(c.source)
        args = [*(g.symbols[s] for s in g.states), *(g.param_symbols[p] for p in g.parameters),
                *g.cin.values()]
        expr = c.expr.replace(Delay, lambda inner, _delay: inner).xreplace({TIME: 0})
        fn = sympy.lambdify(args, expr, modules="numpy")
        vals = fn(*(g.initial[s] for s in g.states), *(g.param_values[p] for p in g.parameters),
                  *(cins[g.name][v] for v in g.cin))
        values[ci] = np.broadcast_to(np.asarray(vals, dtype=float), (g.n,)).copy()
        cins[c.target][c.target_var] += c.weights @ values[ci]
    return values


def expand_distributed_delays(system: SymbolicSystem) -> SymbolicSystem:
    """Replace every edge with ``spread > 0`` by a gamma chain; other edges are unchanged."""
    if not any(c.spreads is not None for c in system.couplings):
        return system
    starts = _initial_sources(system)
    groups = list(system.groups)
    couplings: list[Coupling] = []
    chains: dict[int, list] = {}        # k -> [(coupling index, source unit, rate)]
    feeds: list[tuple] = []             # (k, chain unit, coupling, target row, weight)
    for ci, c in enumerate(system.couplings):
        if c.spreads is None:
            couplings.append(c)
            continue
        W = c.weights
        rows = np.repeat(np.arange(W.shape[0]), np.diff(W.indptr))
        delays = c.delays if c.delays is not None else np.zeros(W.nnz)
        gamma = c.spreads > 0
        if np.any(gamma & (delays <= 0)):
            raise ModelDefinitionError(
                f"An edge {c.source}/{c.source_var} -> {c.target}/{c.target_var} of "
                f"{system.name!r} has a spread but no delay: a gamma-distributed delay needs its "
                f"mean (delay > 0)."
            )
        plain = ~gamma
        if np.any(plain):
            keep = W.select(plain)     # aligned with delays[plain], also for zero weights
            d = delays[plain]
            couplings.append(dataclasses.replace(
                c, weights=keep, delays=d if np.any(d) else None, spreads=None))
        k_all = chain_order(delays[gamma], c.spreads[gamma])
        rate_all = k_all / delays[gamma]
        index: dict[tuple, int] = {}
        for row, col, w, k, a in zip(rows[gamma], W.indices[gamma], W.data[gamma], k_all,
                                     rate_all):
            key = (ci, int(col), int(k), float(a))
            units = chains.setdefault(int(k), [])
            if key not in index:
                index[key] = len(units)
                units.append((ci, int(col), float(a)))
            feeds.append((int(k), index[key], c, int(row), float(w)))

    taken = {g.name for g in groups} | {split(node)[0] for g in groups for node in g.nodes}
    for k, units in sorted(chains.items()):
        n = len(units)
        rates = np.array([a for _, _, a in units])
        start = np.array([starts[ci][col] for ci, col, _ in units])
        chain = _chain_group(_chain_name(k, taken), k, n, rates, start)
        taken.add(chain.name)
        groups.append(chain)
        # sources -> chain inputs, one coupling per source coupling feeding this chain group
        for ci in sorted({ci for ci, _, _ in units}):
            c = system.couplings[ci]
            mine = [(u, col) for u, (cj, col, _) in enumerate(units) if cj == ci]
            r = np.array([u for u, _ in mine])
            cols = np.array([col for _, col in mine])
            W_in = CSR.from_coo(r, cols, np.ones(len(mine)), (n, system.group(c.source).n))
            couplings.append(Coupling(source=c.source, source_var=c.source_var, expr=c.expr,
                                      target=chain.name, target_var="chain/in", weights=W_in))
        # chain outputs -> targets, one coupling per original coupling
        for ci in sorted({c_idx for c_idx, _, _ in units}):
            c = system.couplings[ci]
            rows, cols, data = zip(*[(row, u, w) for kk, u, cc, row, w in feeds
                                     if kk == k and cc is c])
            W_out = CSR.from_coo(rows, cols, data, (c.weights.shape[0], n))
            last = chain.states[-1]
            couplings.append(Coupling(source=chain.name, source_var=last,
                                      expr=chain.symbols[last], target=c.target,
                                      target_var=c.target_var, weights=W_out))
    return SymbolicSystem(system.name, tuple(groups), tuple(couplings),
                          description=system.description)
