"""Exact derivatives of a model's vector field as numpy functions of the state and parameters.

:class:`ParametricSystem` lambdifies, once per model, the flattened right-hand side ``f(y, p)``
with the parameter vector ``p`` as an argument, and the non-zero entries of its Jacobian ``f_y``,
of the second and third derivative tensors (for normal forms) and, per continued parameter, of
``f_p`` and ``f_yp``. Nothing is lambdified again when the point or the parameters change.

The tensors are kept as lists of their non-zero entries (with the symmetric index orderings
stored once), so that the cost of a contraction such as ``B(u, v)`` grows with the number of
non-zeros, not with ``n**3``: that is what keeps a network of a few hundred states cheap and lets
a sparse path be added later (:meth:`ParametricSystem.jacobian_entries` already gives COO data).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import permutations

import numpy as np
import sympy

from ..errors import ModelDefinitionError
from ..frontend.parsing import TIME, Delay
from ..ir.system import SymbolicSystem

__all__ = ["ParametricSystem", "ParameterDerivatives"]


def _lambdify(args, exprs):
    """A numpy function of ``args`` returning ``exprs`` as a float array (empty-safe)."""
    exprs = list(exprs)
    if not exprs:
        return lambda *a: np.zeros(0)
    fn = sympy.lambdify(args, exprs, modules="numpy", cse=True, docstring_limit=0)

    def call(*a):
        return np.asarray(fn(*a), dtype=float).reshape(len(exprs))

    return call


def _contract_pairs(n, rows, j, k, values, u, v):
    """``out[i] = sum h_ijk u_j v_k`` over the stored entries (j <= k) of a symmetric tensor."""
    terms = values * (u[j] * v[k] + u[k] * v[j])
    terms = np.where(j == k, 0.5 * terms, terms)
    return _accumulate(n, rows, terms)


def _accumulate(n, rows, terms):
    if np.iscomplexobj(terms):
        return (np.bincount(rows, terms.real, minlength=n)
                + 1j * np.bincount(rows, terms.imag, minlength=n))
    return np.bincount(rows, terms, minlength=n).astype(float)


@dataclass(frozen=True)
class _Entries:
    """Non-zero entries of a tensor: integer index arrays and a function of ``(y, p)``."""

    index: tuple[np.ndarray, ...]
    values: object          # callable (y, p) -> np.ndarray aligned with the index arrays

    @property
    def nnz(self) -> int:
        return len(self.index[0])


class ParameterDerivatives:
    """``f_p`` and ``f_yp`` for one continued parameter (one or several flat parameter slots
    moving together, e.g. a parameter shared by all units of a network)."""

    def __init__(self, owner: ParametricSystem, slots: Sequence[int]) -> None:
        self.slots = tuple(slots)
        n = owner.n
        psyms = [owner.param_symbols[m] for m in self.slots]
        rows, fexprs = [], []
        for i, fi in enumerate(owner.rhs):
            d = sum((sympy.diff(fi, s) for s in psyms if s in fi.free_symbols), sympy.Integer(0))
            if d != 0:
                rows.append(i)
                fexprs.append(d)
        self._f_rows = np.array(rows, dtype=int)
        self._f_vals = _lambdify(owner.args, fexprs)
        ji, jj, jexprs = [], [], []
        for (i, j), expr in zip(zip(*owner._jac_index), owner._jac_exprs):
            d = sum((sympy.diff(expr, s) for s in psyms if s in expr.free_symbols),
                    sympy.Integer(0))
            if d != 0:
                ji.append(i)
                jj.append(j)
                jexprs.append(d)
        self._J_index = (np.array(ji, dtype=int), np.array(jj, dtype=int))
        self._J_vals = _lambdify(owner.args, jexprs)
        self.n = n

    def f_p(self, y: np.ndarray, p: np.ndarray) -> np.ndarray:
        """``d f / d parameter`` at ``(y, p)``."""
        out = np.zeros(self.n)
        out[self._f_rows] = self._f_vals(y, p)
        return out

    def J_p(self, y: np.ndarray, p: np.ndarray) -> np.ndarray:
        """``d f_y / d parameter`` (dense ``(n, n)``)."""
        out = np.zeros((self.n, self.n))
        np.add.at(out, self._J_index, self._J_vals(y, p))
        return out


class ParametricSystem:
    """A model's vector field ``f(y, p)`` and its exact derivatives as numpy functions.

    ``p`` is the full vector of the flattened parameters, in the order of :attr:`param_names`
    (the flat names of :attr:`SymbolicSystem._flat`); :meth:`parameter_vector` builds it from
    ``{path: value}`` overrides. Build one with :meth:`of`, which caches it on the system.

    Examples
    --------
    >>> import numpy as np, symrates as sr
    >>> ps = ParametricSystem.of(sr.build("fitzhugh_nagumo.FHN"))
    >>> p = ps.parameter_vector({"I": 0.5})
    >>> ps.f(np.array([0.0, 0.0]), p)
    array([0.5  , 0.056])
    >>> ps.jacobian(np.array([1.0, 0.0]), p)
    array([[ 0.   , -1.   ],
           [ 0.08 , -0.064]])
    """

    def __init__(self, system: SymbolicSystem) -> None:
        if system.has_delays:
            raise ModelDefinitionError(
                f"{system.name!r} has delayed couplings or equations: equilibria and their "
                f"continuation are computed here for ordinary differential equations only. Set "
                f"the delays to zero (edge 'delay', or x(t - d) in equations)."
            )
        flat = system._flat
        rhs = list(system.rhs)
        if any(e.has(TIME) for e in rhs):
            raise ModelDefinitionError(
                f"{system.name!r} depends explicitly on time t: fixed points and their "
                f"continuation are defined for autonomous systems only."
            )
        if any(e.has(Delay) for e in rhs):  # pragma: no cover - caught by has_delays
            raise ModelDefinitionError(f"{system.name!r} has delayed terms.")
        self.system = system
        self.param_names = list(flat["params"])
        # Path names ("pc/rpo_e/v[3]") are no Python identifiers: lambdify would replace every
        # argument in every expression (quadratic in the size). Rename once to _sr_ symbols.
        safe: dict[sympy.Symbol, sympy.Symbol] = {}
        for i, sym in enumerate(flat["states"]):
            safe[sym] = sympy.Symbol(f"_sr_y{i}", real=True)
        for m, name in enumerate(self.param_names):
            safe[flat["params"][name]] = sympy.Symbol(f"_sr_p{m}", real=True)
        self.rhs = [e.xreplace(safe) for e in rhs]
        self.x = [safe[s] for s in flat["states"]]
        self.n = len(self.x)
        self.param_symbols = [safe[flat["params"][k]] for k in self.param_names]
        self.args = [self.x, self.param_symbols]
        self._slot = {name: m for m, name in enumerate(self.param_names)}
        self._pos = {s: k for k, s in enumerate(self.x)}
        self._f = _lambdify(self.args, self.rhs)
        # Jacobian: non-zero entries only
        ji, jj, jexprs = [], [], []
        for i, fi in enumerate(self.rhs):
            for s in sorted(fi.free_symbols & self._pos.keys(), key=self._pos.get):
                d = sympy.diff(fi, s)
                if d != 0:
                    ji.append(i)
                    jj.append(self._pos[s])
                    jexprs.append(d)
        self._jac_index = (np.array(ji, dtype=int), np.array(jj, dtype=int))
        self._jac_exprs = jexprs
        self._J_vals = _lambdify(self.args, jexprs)
        self._hessian: _Entries | None = None
        self._third: _Entries | None = None
        self._param_derivs: dict[tuple[int, ...], ParameterDerivatives] = {}
        self.defaults = self._default_vector()

    @classmethod
    def of(cls, system: SymbolicSystem) -> ParametricSystem:
        """The parametric system of ``system``, built once and cached on it."""
        cached = system._cache.get("analysis.parametric")
        if cached is None:
            cached = cls(system)
            system._cache.setdefault("analysis.parametric", cached)
        return cached

    # -- parameters --------------------------------------------------------------------------
    def _default_vector(self) -> np.ndarray:
        out = np.empty(len(self.param_names))
        values = self.system.parameters
        for m, name in enumerate(self.param_names):
            if name in values:
                out[m] = float(values[name])
            else:                                    # "path[c]": copy c of a network parameter
                base, copy = name[:-1].rsplit("[", 1)
                out[m] = float(np.asarray(values[base])[int(copy)])
        return out

    def slots(self, path: str, *, option: str = "parameter") -> tuple[int, ...]:
        """Indices in ``p`` of the parameter ``path`` (several for a network parameter)."""
        full = self.system.resolve(path, what="parameter")
        if full in self._slot:
            return (self._slot[full],)
        copies = tuple(m for m, name in enumerate(self.param_names)
                       if name.startswith(full + "[") and name.endswith("]")
                       and name[len(full) + 1:-1].isdigit())
        if copies:
            return copies
        kind = "a state" if full in self.system.layout else "an algebraic variable or input"
        names = [k for k in self.system.parameters]
        raise ModelDefinitionError(
            f"{option}= of {self.system.name!r} names {path!r}, which is {kind}, not a "
            f"parameter. Parameters: {', '.join(names[:12])}{', ...' if len(names) > 12 else ''}."
        )

    def parameter_vector(self, params: Mapping[str, float] | None = None,
                         base: np.ndarray | None = None) -> np.ndarray:
        """The parameter vector with ``{path: value}`` overrides (a value may be an array with
        one entry per network copy)."""
        p = (self.defaults if base is None else base).copy()
        for path, value in (params or {}).items():
            slots = self.slots(path, option="params")
            p[list(slots)] = np.broadcast_to(np.asarray(value, dtype=float), (len(slots),))
        return p

    def parameter_dict(self, p: np.ndarray) -> dict[str, float]:
        """``{flat name: value}`` of a parameter vector."""
        return dict(zip(self.param_names, map(float, p)))

    # -- evaluation --------------------------------------------------------------------------
    def f(self, y: np.ndarray, p: np.ndarray) -> np.ndarray:
        """The right-hand side at ``(y, p)``."""
        return self._f(y, p)

    def jacobian_entries(self, y: np.ndarray, p: np.ndarray):
        """``(rows, cols, values)`` of the non-zero Jacobian entries (COO data)."""
        return self._jac_index[0], self._jac_index[1], self._J_vals(y, p)

    def jacobian(self, y: np.ndarray, p: np.ndarray) -> np.ndarray:
        """The dense Jacobian ``f_y`` at ``(y, p)``."""
        out = np.zeros((self.n, self.n))
        out[self._jac_index] = self._J_vals(y, p)
        return out

    def parameter(self, slots: Sequence[int]) -> ParameterDerivatives:
        """``f_p`` and ``f_yp`` for the parameter occupying ``slots`` (built once)."""
        key = tuple(slots)
        if key not in self._param_derivs:
            self._param_derivs[key] = ParameterDerivatives(self, key)
        return self._param_derivs[key]

    # -- higher derivatives ------------------------------------------------------------------
    def _differentiate(self, index: tuple[np.ndarray, ...], exprs: list) -> tuple[tuple, list]:
        """The next order of non-zero derivatives: each entry ``(i, j, ..., k)`` differentiated
        by every state ``y_m`` with ``m >= k`` (symmetry keeps the indices sorted)."""
        columns: list[list[int]] = [[] for _ in range(len(index) + 1)]
        out = []
        for *idx, expr in zip(*index, exprs):
            for s in expr.free_symbols & self._pos.keys():
                m = self._pos[s]
                if m < idx[-1]:
                    continue
                d = sympy.diff(expr, s)
                if d != 0:
                    for col, value in zip(columns, (*idx, m)):
                        col.append(int(value))
                    out.append(d)
        return tuple(np.array(c, dtype=int) for c in columns), out

    @property
    def hessian(self) -> _Entries:
        """Non-zero ``d2 f_i / dy_j dy_k`` with ``j <= k``."""
        if self._hessian is None:
            index, exprs = self._differentiate(self._jac_index, self._jac_exprs)
            self._hessian = _Entries(index, _lambdify(self.args, exprs))
            self._hessian_exprs = exprs
        return self._hessian

    @property
    def third(self) -> _Entries:
        """Non-zero ``d3 f_i / dy_j dy_k dy_l`` with ``j <= k <= l``."""
        if self._third is None:
            index, exprs = self._differentiate(self.hessian.index, self._hessian_exprs)
            self._third = _Entries(index, _lambdify(self.args, exprs))
        return self._third

    def B(self, y: np.ndarray, p: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """The bilinear form ``B(u, v)_i = sum_jk d2 f_i/dy_j dy_k u_j v_k`` (complex allowed)."""
        H = self.hessian
        if H.nnz == 0:
            return np.zeros(self.n, dtype=np.result_type(u, v, float))
        rows, j, k = H.index
        return _contract_pairs(self.n, rows, j, k, H.values(y, p), u, v)

    def hessian_matrix(self, y: np.ndarray, p: np.ndarray, u: np.ndarray) -> np.ndarray:
        """``M_ik = sum_j d2 f_i/dy_j dy_k u_j``: the Jacobian of ``f_y(y) u`` with respect to y."""
        out = np.zeros((self.n, self.n), dtype=np.result_type(u, float))
        H = self.hessian
        if H.nnz == 0:
            return out
        rows, j, k = H.index
        h = H.values(y, p)
        np.add.at(out, (rows, k), h * u[j])
        off = j != k
        np.add.at(out, (rows[off], j[off]), h[off] * u[k[off]])
        return out

    def C(self, y: np.ndarray, p: np.ndarray, u: np.ndarray, v: np.ndarray,
          w: np.ndarray) -> np.ndarray:
        """The trilinear form ``C(u, v, w)_i = sum_jkl d3 f_i/dy_j dy_k dy_l u_j v_k w_l``."""
        T = self.third
        if T.nnz == 0:
            return np.zeros(self.n, dtype=np.result_type(u, v, w, float))
        rows, j, k, m = T.index
        idx = (j, k, m)
        total = sum(u[idx[a]] * v[idx[b]] * w[idx[c]] for a, b, c in permutations(range(3)))
        # each distinct index tuple was counted (6 / number of distinct orderings) times
        distinct = np.where((j == k) & (k == m), 1, np.where((j == k) | (k == m), 3, 6))
        return _accumulate(self.n, rows, T.values(y, p) * total * distinct / 6.0)
