"""Structured sparse Jacobians of grouped systems (DESIGN.md §6).

The Jacobian of a :class:`~symrates.ir.system.SymbolicSystem` is assembled from its structure
instead of from the flattened sympy view (one symbol per state of every unit, which takes tens of
seconds to build for a few hundred units):

* per group, the exact symbolic derivatives of the unit-local right-hand sides with respect to the
  unit's own states (the block-diagonal part) and with respect to its coupling sums, lambdified
  once and evaluated vectorised over the group's units (per-unit parameter arrays included);
* per coupling, the derivative of the source expression with respect to the source unit's states
  (and coupling sums), so that ``d input_i / d x_j = W[i, j] * d source / d x_j``;
* chained couplings (a source that reads a coupled input of its own group, e.g. an edge node
  without states) follow by the chain rule, in the coupling order of the system.

Algebraic variables are substituted into the right-hand sides (``Group.rhs``, ``Coupling.expr``)
before differentiation, so the chain rule through them is exact. Gamma-delay chains are ordinary
states. Discrete delays have no Jacobian in this sense; :class:`StructuredJacobian` refuses them,
naming the coupling or equation, and :func:`without_delays` gives the undelayed system (what
``fixed_points(..., delays="ignore")`` uses).

The matrix is a ``scipy.sparse`` CSR matrix in the order of the state vector (structure of arrays:
per group, per state variable, one contiguous block of ``n`` units), the same order as the numpy
evaluator and the flattened view.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import sympy

from ..errors import ModelDefinitionError
from ..frontend.parsing import TIME, Delay
from ..ir.build import build
from ..ir.system import SymbolicSystem

__all__ = ["StructuredJacobian", "SparseSystem", "sparse_jacobian", "without_delays",
           "check_delays", "DELAY_MODES"]

#: How delays are treated: refused, or set to zero (equilibria only; see :func:`without_delays`)
DELAY_MODES = ("error", "ignore")


def _lambdify(args: Sequence[sympy.Symbol], exprs: Sequence[sympy.Expr]) -> Callable:
    """A numpy function of ``args`` returning the list ``exprs`` (CSE'd, names made safe)."""
    names = {a: sympy.Symbol(f"_sr_a{i}", real=True) for i, a in enumerate(args)}
    exprs = [sympy.sympify(e).xreplace(names) for e in exprs]
    if not exprs:
        return lambda *a: []
    fn = sympy.lambdify(list(names.values()), exprs, modules="numpy", cse=True,
                        docstring_limit=0)
    return fn


def _per_unit(value: Any, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, dtype=float), (n,))


def _strip_delay(expr: sympy.Expr) -> sympy.Expr:
    return expr.replace(lambda e: isinstance(e, Delay), lambda e: e.args[0])


def without_delays(system: SymbolicSystem) -> SymbolicSystem:
    """The system with every discrete delay set to zero (cached on ``system``).

    Couplings lose their delays and ``x(t - d)`` in equations becomes ``x(t)``. A delayed system
    and its undelayed copy have the same equilibria, but not the same stability: the eigenvalues
    of the undelayed Jacobian say nothing about the delayed system.
    """
    if not system.has_delays:
        return system
    cached = system._cache.get("analysis.undelayed")
    if cached is not None:
        return cached
    groups = tuple(
        dataclasses.replace(
            g,
            derivatives=tuple(_strip_delay(d) for d in g.derivatives),
            algebraic=tuple((k, _strip_delay(e)) for k, e in g.algebraic),
        ) for g in system.groups
    )
    couplings = tuple(
        dataclasses.replace(c, expr=_strip_delay(c.expr), delays=None) for c in system.couplings
    )
    out = SymbolicSystem(system.name, groups, couplings, description=system.description)
    system._cache.setdefault("analysis.undelayed", out)
    return out


def check_delays(system: SymbolicSystem) -> None:
    """Raise :class:`ModelDefinitionError` naming the first delayed coupling or equation."""
    for c in system.couplings:
        if c.delays is not None:
            raise ModelDefinitionError(
                f"The coupling {c.source}/{c.source_var} -> {c.target}/{c.target_var} of "
                f"{system.name!r} has discrete delays (up to {float(np.max(c.delays)):.6g}): "
                f"equilibria and their stability are computed for ordinary differential "
                f"equations only. Use gamma-distributed delays (spread > 0, ordinary states), "
                f"set the delays to zero, or pass delays='ignore' to locate the equilibria of the "
                f"undelayed system (their stability then ignores the delays)."
            )
    for g in system.groups:
        for state, rhs in zip(g.states, g.rhs):
            if rhs.has(Delay):
                raise ModelDefinitionError(
                    f"The equation of {g.nodes[0]}/{state} in {system.name!r} uses delayed values "
                    f"x(t - d): equilibria and their stability are computed for ordinary "
                    f"differential equations only. Remove the delay, or pass delays='ignore' to "
                    f"locate the equilibria of the undelayed system."
                )


@dataclass(frozen=True)
class _GroupDerivatives:
    """The non-zero derivatives of one group's right-hand sides, as one numpy function."""

    index: int
    n: int
    offsets: tuple[int, ...]          # offset in y of each state's block
    local: tuple[tuple[int, int], ...]    # (state k, state m): d f_k / d x_m
    inputs: tuple[tuple[int, str], ...]   # (state k, coupled input): d f_k / d c
    fn: Callable


@dataclass(frozen=True)
class _CouplingDerivatives:
    """The non-zero derivatives of one coupling's source expression."""

    source: int
    target: int
    target_var: str
    weights: sp.csr_matrix
    states: tuple[int, ...]           # source states the expression depends on
    inputs: tuple[str, ...]           # source coupled inputs the expression depends on
    fn: Callable


class StructuredJacobian:
    """The Jacobian ``d rhs / d y`` of a grouped system as a sparse matrix.

    Built once per system (use :meth:`of`, which caches it); evaluating it costs a few vectorised
    numpy calls per group and coupling and sparse-matrix products that are linear in the number of
    edges. No flattened sympy view is built, so it serves networks of thousands of states.

    Parameters
    ----------
    system : SymbolicSystem
        The system; it must not have discrete delays (see :func:`without_delays`).

    Raises
    ------
    ModelDefinitionError
        If a coupling or an equation of ``system`` is delayed; the message names it.

    Notes
    -----
    With ``n_g`` units per group and ``W`` the weights of a coupling from group ``a`` to the input
    ``c`` of group ``b``, the Jacobian is

    ``J = blockdiag_g(d f_g / d x_g) + sum_c diag(d f_b / d c) W diag(d h / d x_a)``,

    where ``h`` is the coupling's source expression, plus the chain-rule terms of couplings whose
    source reads a coupled input. All diagonal factors are evaluated per unit.

    Examples
    --------
    >>> import numpy as np, symrates as sr
    >>> from symrates.analysis.network_jacobian import sparse_jacobian
    >>> W = np.array([[0.0, 1.0], [0.5, 0.0]])
    >>> net = sr.network("wilson_cowan.WC", 2, couplings=[sr.Coupling("E", "P", W)])
    >>> J = sparse_jacobian(net, np.zeros(4))
    >>> J.shape, J.format
    ((4, 4), 'csr')
    """

    def __init__(self, system: SymbolicSystem) -> None:
        check_delays(system)
        self.system = system
        self.n_states = system.n_states
        offsets: list[tuple[int, ...]] = []
        offset = 0
        for g in system.groups:
            offsets.append(tuple(offset + k * g.n for k in range(len(g.states))))
            offset += len(g.states) * g.n
        self._offsets = offsets
        self._groups = [self._group(gi, g) for gi, g in enumerate(system.groups)]
        index = {g.name: i for i, g in enumerate(system.groups)}
        self._couplings = [self._coupling(c, index) for c in system.couplings]

    @classmethod
    def of(cls, system: SymbolicSystem) -> StructuredJacobian:
        """The structured Jacobian of ``system``, built once and cached on it."""
        cached = system._cache.get("analysis.structured_jacobian")
        if cached is None:
            cached = cls(system)
            system._cache.setdefault("analysis.structured_jacobian", cached)
        return cached

    # -- construction --------------------------------------------------------------------------
    @staticmethod
    def _arguments(g) -> tuple[sympy.Symbol, ...]:
        return (TIME, *(g.symbols[s] for s in g.states),
                *(g.param_symbols[p] for p in g.parameters), *g.cin.values())

    def _group(self, gi: int, g) -> _GroupDerivatives:
        states = [g.symbols[s] for s in g.states]
        local, inputs, local_exprs, input_exprs = [], [], [], []
        for k, f in enumerate(g.rhs):
            free = f.free_symbols
            for m, x in enumerate(states):
                if x in free:
                    d = sympy.diff(f, x)
                    if d != 0:
                        local.append((k, m))
                        local_exprs.append(d)
            for name, c in g.cin.items():
                if c in free:
                    d = sympy.diff(f, c)
                    if d != 0:
                        inputs.append((k, name))
                        input_exprs.append(d)
        # one function for all entries: the local ones first, then those by coupled input
        return _GroupDerivatives(gi, g.n, self._offsets[gi], tuple(local), tuple(inputs),
                                 _lambdify(self._arguments(g), local_exprs + input_exprs))

    def _coupling(self, c, index: Mapping[str, int]) -> _CouplingDerivatives:
        g = self.system.group(c.source)
        free = c.expr.free_symbols
        states, inputs, exprs = [], [], []
        for m, s in enumerate(g.states):
            x = g.symbols[s]
            if x in free:
                d = sympy.diff(c.expr, x)
                if d != 0:
                    states.append(m)
                    exprs.append(d)
        for name, sym in g.cin.items():
            if sym in free:
                d = sympy.diff(c.expr, sym)
                if d != 0:
                    inputs.append(name)
                    exprs.append(d)
        W = c.weights.tocsr()
        return _CouplingDerivatives(index[c.source], index[c.target], c.target_var, W,
                                    tuple(states), tuple(inputs),
                                    _lambdify(self._arguments(g), exprs))

    # -- evaluation ----------------------------------------------------------------------------
    def _values(self, gi: int, t: float, y: np.ndarray, params: Sequence[Mapping],
                cins: Sequence[Mapping]) -> list:
        g = self.system.groups[gi]
        args: list = [t]
        args += [y[off:off + g.n] for off in self._offsets[gi]]
        args += [params[gi][p] for p in g.parameters]
        args += [cins[gi][c] for c in g.cin]
        return args

    def matrix(self, y: np.ndarray, *, params: Sequence[Mapping[str, np.ndarray]],
               cins: Sequence[Mapping[str, np.ndarray]], t: float = 0.0) -> sp.csr_matrix:
        """The Jacobian at state ``y``.

        Parameters
        ----------
        y : np.ndarray
            The state vector.
        params : sequence of mapping
            Per group, ``{local parameter name: array of length n}`` (as in
            :class:`~symrates.runtime.problem_numpy.ProblemSetup`).
        cins : sequence of mapping
            Per group, ``{coupled input: array of length n}``: the coupling sums at ``y``
            (:meth:`~symrates.runtime.problem_numpy.NumpyProblem.coupling_sums`).
        t : float
            Time (for right-hand sides that depend on it).

        Returns
        -------
        scipy.sparse.csr_matrix
            ``(n_states, n_states)``, with sorted indices and no duplicates.
        """
        N = self.n_states
        y = np.asarray(y, dtype=float)
        # d (coupling sum of (group, input)) / d y, as CSR (n_group, N), in coupling order
        dcin: dict[tuple[int, str], sp.csr_matrix] = {}
        for cd in self._couplings:
            src = self.system.groups[cd.source]
            values = cd.fn(*self._values(cd.source, t, y, params, cins))
            W = cd.weights
            n_b = W.shape[0]
            total = None
            for m, v in zip(cd.states, values):
                d = _per_unit(v, src.n)
                block = sp.csr_matrix(
                    (W.data * d[W.indices], W.indices + self._offsets[cd.source][m], W.indptr),
                    shape=(n_b, N))
                total = block if total is None else total + block
            for name, v in zip(cd.inputs, values[len(cd.states):]):
                upstream = dcin.get((cd.source, name))
                if upstream is None:
                    continue
                d = _per_unit(v, src.n)
                Wd = sp.csr_matrix((W.data * d[W.indices], W.indices, W.indptr), shape=W.shape)
                block = sp.csr_matrix(Wd @ upstream)
                total = block if total is None else total + block
            if total is None:
                continue
            key = (cd.target, cd.target_var)
            dcin[key] = total if key not in dcin else dcin[key] + total

        rows, cols, vals = [], [], []
        for gd in self._groups:
            values = gd.fn(*self._values(gd.index, t, y, params, cins))
            units = np.arange(gd.n)
            for (k, m), v in zip(gd.local, values):
                rows.append(gd.offsets[k] + units)
                cols.append(gd.offsets[m] + units)
                vals.append(np.array(_per_unit(v, gd.n)))
            for (k, name), v in zip(gd.inputs, values[len(gd.local):]):
                D = dcin.get((gd.index, name))
                if D is None:
                    continue
                D = D.tocoo()
                rows.append(D.row + gd.offsets[k])
                cols.append(D.col)
                vals.append(D.data * _per_unit(v, gd.n)[D.row])
        if not rows:
            return sp.csr_matrix((N, N))
        J = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(N, N))
        J.sum_duplicates()
        return J


def _check_autonomous(system: SymbolicSystem) -> None:
    exprs = [e for g in system.groups for e in g.rhs] + [c.expr for c in system.couplings]
    if any(e.has(TIME) for e in exprs):
        raise ModelDefinitionError(
            f"{system.name!r} depends explicitly on time t: fixed points and their "
            f"continuation are defined for autonomous systems only."
        )


class SparseSystem:
    """A system's right-hand side and structured sparse Jacobian at fixed parameters.

    The counterpart of :class:`~symrates.analysis.fixed_points.NumericSystem` for networks: ``f``
    is the lowered numpy evaluator (vectorised over units), ``jacobian`` the
    :class:`StructuredJacobian` as a CSR matrix and ``solve`` a sparse LU solve. Nothing builds
    the flattened sympy view.

    Parameters
    ----------
    system : SymbolicSystem
        An autonomous system without discrete delays.
    params : mapping, optional
        ``{path: value}`` parameter overrides (a value may be an array with one entry per
        network copy).
    """

    def __init__(self, system: SymbolicSystem,
                 params: Mapping[str, Any] | None = None) -> None:
        from ..runtime.problem_numpy import NumpyProblem

        _check_autonomous(system)
        self.system = system
        self.jac = StructuredJacobian.of(system)
        self.problem = NumpyProblem(system, params=params)
        self.n = system.n_states
        self._lu = None

    def f(self, y: np.ndarray) -> np.ndarray:
        """The right-hand side at ``y``."""
        return self.problem.rhs(0.0, np.asarray(y, dtype=float), 0)

    def jacobian(self, y: np.ndarray) -> sp.csr_matrix:
        """The sparse Jacobian at ``y``."""
        y = np.asarray(y, dtype=float)
        return self.jac.matrix(y, params=self.problem.params,
                               cins=self.problem.coupling_sums(0.0, y))

    @staticmethod
    def solve(J: sp.spmatrix, b: np.ndarray) -> np.ndarray:
        """``J^{-1} b`` by sparse LU; least squares (LSQR) when ``J`` is singular."""
        try:
            return spla.splu(sp.csc_matrix(J)).solve(b)
        except RuntimeError:                      # "Factor is exactly singular"
            return spla.lsqr(J, b, atol=1e-14, btol=1e-14, iter_lim=10 * J.shape[0])[0]

    def step(self, y: np.ndarray, b: np.ndarray, *, fresh: bool = False
             ) -> tuple[np.ndarray, bool]:
        """A Newton step ``J^{-1} b`` and whether ``J`` is stale.

        Unless ``fresh``, the last LU factorization is reused (it may come from another point:
        Newton's method decides whether the step is good enough). Factorizing dominates the cost
        for well-connected networks, whose LU fills in; start points near an equilibrium found
        earlier then need no new factorization at all.
        """
        if not fresh and self._lu is not None:
            return self._lu.solve(b), True
        J = self.jacobian(y)
        try:
            self._lu = spla.splu(sp.csc_matrix(J))
        except RuntimeError:                      # "Factor is exactly singular"
            self._lu = None
            return spla.lsqr(J, b, atol=1e-14, btol=1e-14, iter_lim=10 * J.shape[0])[0], False
        return self._lu.solve(b), False


def sparse_jacobian(model: Any, y: Any, *, params: Mapping[str, Any] | None = None,
                    t: float = 0.0) -> sp.csr_matrix:
    """The exact Jacobian of a model's vector field at ``y``, as a sparse CSR matrix.

    Parameters
    ----------
    model : template, str, Network or SymbolicSystem
    y : array_like or mapping
        A state vector (order of ``build(model).states``, one block of units per path) or
        ``{path: value}`` (other states keep their declared initial values).
    params : mapping, optional
        ``{path: value}`` parameter overrides (arrays for per-unit values).
    t : float
        Time, for models that depend on it explicitly.

    Returns
    -------
    scipy.sparse.csr_matrix

    Examples
    --------
    >>> import numpy as np, symrates as sr
    >>> from symrates.analysis.network_jacobian import sparse_jacobian
    >>> J = sparse_jacobian("fitzhugh_nagumo.FHN", [1.0, 0.0], params={"I": 0.5})
    >>> J.toarray()
    array([[ 0.   , -1.   ],
           [ 0.08 , -0.064]])
    """
    from ..runtime.problem_numpy import NumpyProblem

    system = build(model)
    jac = StructuredJacobian.of(system)
    problem = NumpyProblem(system, params=params)
    y = problem.state_vector(y)
    return jac.matrix(y, params=problem.params, cins=problem.coupling_sums(float(t), y),
                      t=float(t))
