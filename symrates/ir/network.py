"""Networks: ``n`` copies of a unit model coupled by weight matrices (API.md §5, DESIGN.md §1).

Building is matrix-native: every group of the unit gets ``nodes × n`` units, the unit's own edges
become block-diagonal couplings (``kron(w, I_n)``) and each network coupling one more sparse
coupling. No Python object is made per edge or per copy.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy

from ..errors import ModelDefinitionError
from .csr import CSR
from .delays import expand_distributed_delays
from .system import Coupling as _IRCoupling
from .system import Group, SymbolicSystem

__all__ = ["Coupling", "Network", "network"]


def _is_sparse(value: Any) -> bool:
    """A scipy.sparse matrix or array (or our CSR), told without importing scipy."""
    return isinstance(value, CSR) or (hasattr(value, "tocsr") and hasattr(value, "nnz"))


def _as_csr(weights: Any, n: int, what: str) -> CSR:
    """``weights`` as CSR with sorted columns, duplicates summed and zeros dropped."""
    if isinstance(weights, CSR):
        mat = CSR.from_coo(weights.rows(), weights.indices, weights.data, weights.shape)
        mat = mat.eliminate_zeros()
    elif _is_sparse(weights):
        if len(weights.shape) != 2:
            raise ModelDefinitionError(
                f"{what} must be an (n, n) numpy array or scipy.sparse matrix, got a sparse "
                f"array of shape {weights.shape}."
            )
        mat = CSR.from_sparse(weights)
    else:
        try:
            arr = np.asarray(weights, dtype=float)
        except (TypeError, ValueError):
            arr = None
        if arr is None or arr.ndim != 2:
            raise ModelDefinitionError(
                f"{what} must be an (n, n) numpy array or scipy.sparse matrix, got "
                f"{type(weights).__name__}."
            ) from None
        mat = CSR.from_dense(arr)
    if mat.shape != (n, n):
        raise ModelDefinitionError(
            f"{what} must have shape ({n}, {n}) (weights[i, j]: from unit j to unit i), "
            f"got {mat.shape}."
        )
    if not np.all(np.isfinite(mat.data)):
        raise ModelDefinitionError(f"{what} contains non-finite values.")
    return mat


def _on_pattern(values: Any, pattern: CSR, n: int, what: str) -> np.ndarray | None:
    """``values`` (scalar, dense or sparse (n, n)) read at the non-zeros of ``pattern``."""
    if values is None:
        return None
    if isinstance(values, numbers.Real):
        out = np.full(pattern.nnz, float(values))
    else:
        arr = values.toarray() if _is_sparse(values) else np.asarray(values, dtype=float)
        if arr.shape != (n, n):
            raise ModelDefinitionError(f"{what} must be a number or have shape ({n}, {n}), "
                                       f"got {arr.shape}.")
        rows = np.repeat(np.arange(n), np.diff(pattern.indptr))
        out = arr[rows, pattern.indices].astype(float)
    if not np.all(np.isfinite(out)) or np.any(out < 0):
        raise ModelDefinitionError(f"{what} must be finite and >= 0.")
    return out if np.any(out) else None


@dataclass(frozen=True, eq=False)
class Coupling:
    """Couple ``source`` of every unit to the input ``target`` of every unit.

    Unit ``i``'s input ``target`` receives ``sum_j weights[i, j] * source_j(t - delays[i, j])``.

    Parameters
    ----------
    source : str
        Path of the source variable within the unit (any unambiguous suffix), e.g.
        ``"pc/PRO/m_out"``.
    target : str
        Path of an input variable within the unit, e.g. ``"pc/RPO_e_pc/m_in"``.
    weights : (n, n) array or scipy.sparse matrix
        ``weights[i, j]`` is the weight from unit ``j`` to unit ``i``.
    delays : float or (n, n) array, optional
        Transmission delays in the model's time unit.
    spread : float or (n, n) array, optional
        Standard deviation of gamma-distributed delays (mean ``delays``).

    Examples
    --------
    >>> import numpy as np, symrates as sr
    >>> W = np.array([[0.0, 1.0], [0.5, 0.0]])
    >>> c = sr.Coupling("pc/PRO/m_out", "pc/RPO_e_pc/m_in", W)
    """

    source: str
    target: str
    weights: Any
    delays: Any = None
    spread: Any = None

    def __init__(self, source: str, target: str, weights: Any, *, delays: Any = None,
                 spread: Any = None) -> None:
        for name, value in (("source", source), ("target", target)):
            if not isinstance(value, str) or not value.strip():
                raise ModelDefinitionError(
                    f"Coupling {name} must be a variable path, got {value!r}.")
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "delays", delays)
        object.__setattr__(self, "spread", spread)


@dataclass(frozen=True, eq=False)
class Network:
    """``n`` copies of ``unit`` with couplings; build it with :func:`network`."""

    unit: Any
    n: int
    couplings: tuple[Coupling, ...]
    params: Mapping[str, Any]

    def to_system(self) -> SymbolicSystem:
        """The network's :class:`SymbolicSystem` (cached)."""
        cached = self.__dict__.get("_system")
        if cached is None:
            cached = _build(self)
            object.__setattr__(self, "_system", cached)
        return cached

    def __repr__(self) -> str:
        name = getattr(self.unit, "name", self.unit)
        return f"<Network of {self.n} x {name!r}, {len(self.couplings)} couplings>"


def network(unit: Any, n: int, *, couplings: Sequence[Coupling] = (),
            params: Mapping[str, Any] | None = None) -> Network:
    """A network of ``n`` copies of ``unit``.

    Parameters
    ----------
    unit : template or str
        Any template or library/YAML reference (e.g. ``"jansen_rit.JRC"``).
    n : int
        Number of copies (units).
    couplings : sequence of Coupling
        How units drive each other.
    params : mapping, optional
        ``{path: value or array of length n}`` for heterogeneous units.

    Returns
    -------
    Network
        Accepted wherever a model is (``build``, ``simulate``, ...). Results hold one column per
        unit: ``res[path]`` has shape ``(n_samples, n)``.

    Examples
    --------
    >>> import numpy as np, symrates as sr
    >>> W = np.ones((3, 3)) - np.eye(3)
    >>> net = sr.network("jansen_rit.JRC", 3,
    ...                  couplings=[sr.Coupling("pc/PRO/m_out", "pc/RPO_e_pc/m_in", W / 2)])
    >>> system = sr.build(net)
    >>> system.n_states, len(system.states)
    (24, 8)
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ModelDefinitionError(f"The number of units n of a network must be an integer >= 1, "
                                   f"got {n!r}.")
    if isinstance(couplings, Coupling):
        couplings = [couplings]
    couplings = tuple(couplings)
    for c in couplings:
        if not isinstance(c, Coupling):
            raise ModelDefinitionError(f"couplings must be symrates.Coupling objects, got {c!r}.")
    net = Network(unit, int(n), couplings, dict(params or {}))
    net.to_system()        # validate now, where the user wrote the network
    return net


def _replicate(g: Group, n: int) -> Group:
    """The group with ``n`` copies of each of its units (node-major: unit = node * n + copy)."""
    return dataclasses.replace(
        g,
        copies=g.copies * n,
        arrays=True,
        param_values={p: np.repeat(v, n) for p, v in g.param_values.items()},
        initial={s: np.repeat(v, n) for s, v in g.initial.items()},
    )


def _with_coupled_input(g: Group, local: str) -> Group:
    """The group with a coupling-sum symbol added to the input ``local``."""
    if local in g.cin:
        return g
    cin = sympy.Symbol(f"_sr_cin:{local}", real=True)
    algebraic = tuple((k, e + cin if k == local else e) for k, e in g.algebraic)
    return dataclasses.replace(g, algebraic=algebraic, cin={**g.cin, local: cin})


def _block_diagonal(W: CSR, n: int, *aligned: np.ndarray | None):
    """``kron(W, I_n)`` in node-major unit order, with arrays aligned to ``W.data`` carried along.

    Unit ``(node, copy)`` has index ``node * n + copy``; the entries of big row ``t * n + c`` are
    those of row ``t`` of ``W``, in the same order.
    """
    m = W.shape[0]
    rows = np.repeat(np.arange(m), n)                 # the small row of every big row
    copies = np.tile(np.arange(n), m)
    lengths = np.diff(W.indptr)[rows]
    starts = W.indptr[rows]
    total = int(lengths.sum())
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    idx = np.arange(total) - offsets + np.repeat(starts, lengths)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = W.indices[idx] * n + np.repeat(copies, lengths)
    big = CSR(W.data[idx], indices, indptr, (m * n, W.shape[1] * n))
    return big, [None if a is None else a[idx] for a in aligned]


def _place(W: CSR, shape: tuple[int, int], row0: int, col0: int) -> CSR:
    """The block ``W`` placed at ``(row0, col0)`` of a matrix of ``shape``, data order kept."""
    indptr = np.concatenate([np.zeros(row0, dtype=np.int64), W.indptr,
                             np.full(shape[0] - row0 - W.shape[0], W.nnz, dtype=np.int64)])
    return CSR(W.data, W.indices + col0, indptr, shape)


def _build(net: Network) -> SymbolicSystem:
    from .build import build

    if isinstance(net.unit, Network):
        raise ModelDefinitionError("A network's unit cannot itself be a Network; use a circuit.")
    unit = build(net.unit)
    n = net.n
    name = unit.name
    groups = {g.name: _replicate(g, n) for g in unit.groups}

    couplings = []
    for c in unit.couplings:
        W, (delays, spreads) = _block_diagonal(c.weights, n, c.delays, c.spreads)
        couplings.append(dataclasses.replace(c, weights=W, delays=delays, spreads=spreads))

    for k, c in enumerate(net.couplings):
        where = f"coupling {k} ({c.source} -> {c.target}) of the network of {name!r}"
        sg, slocal, snode = unit.locate(c.source)
        tg, tlocal, tnode = unit.locate(c.target)
        # an input has a constant part (a parameter) and a definition (algebraic); a plain
        # parameter has only the former, a state or algebraic variable only the latter
        if tlocal not in tg.param_symbols or tlocal not in tg.algebraic_names:
            raise ModelDefinitionError(
                f"The target {c.target!r} of {where} is not an input variable; couplings add "
                f"into variables declared as 'input(x0)'. Inputs: "
                f"{', '.join(unit.inputs[:8]) or 'none'}; declare the target as an input."
            )
        W = _as_csr(c.weights, n, f"The weights of {where}")
        delays = _on_pattern(c.delays, W, n, f"The delays of {where}")
        spreads = _on_pattern(c.spread, W, n, f"The spread of {where}")
        shape = (groups[tg.name].n, groups[sg.name].n)
        groups[tg.name] = _with_coupled_input(groups[tg.name], tlocal)
        couplings.append(_IRCoupling(
            source=sg.name, source_var=slocal, expr=sympy.S.Zero, target=tg.name,
            target_var=tlocal, weights=_place(W, shape, tnode * n, snode * n),
            delays=delays, spreads=spreads,
        ))
    # source values from the final groups: a source may read an input the network now couples
    couplings = [dataclasses.replace(c, expr=groups[c.source].value_of(c.source_var))
                 for c in couplings]
    system = SymbolicSystem(name, tuple(groups.values()), tuple(couplings),
                            description=unit.description)
    if net.params:
        system = _with_params(system, net.params, n)
    return expand_distributed_delays(system)


def _with_params(system: SymbolicSystem, params: Mapping[str, Any], n: int) -> SymbolicSystem:
    groups = {g.name: g for g in system.groups}
    for path, value in params.items():
        g, local, node = system.locate(path)
        g = groups[g.name]
        if local not in g.param_symbols:
            raise ModelDefinitionError(
                f"params= of the network of {system.name!r} names {path!r}, which is not a "
                f"parameter. Set initial states with y0= of simulate."
            )
        arr = np.asarray(value, dtype=float)
        if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != n) or not np.all(np.isfinite(arr)):
            raise ModelDefinitionError(
                f"The value of {path!r} in the network of {system.name!r} must be a finite number "
                f"or an array of {n} (one per unit), got shape {arr.shape}."
            )
        values = dict(g.param_values)
        column = values[local].copy()
        column[node * n:(node + 1) * n] = arr
        values[local] = column
        groups[g.name] = dataclasses.replace(g, param_values=values)
    return SymbolicSystem(system.name, tuple(groups.values()), system.couplings,
                          description=system.description)
