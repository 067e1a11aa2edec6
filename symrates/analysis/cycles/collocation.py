"""Orthogonal collocation of periodic orbits (the discretisation of AUTO-07p and MatCont).

Time is rescaled to ``tau = t / T`` on ``[0, 1]``, so the orbit solves ``x' = T f(x, p)`` with
``x(0) = x(1)``. The interval is cut into ``ntst`` mesh intervals; on each the orbit is a
polynomial of degree ``m`` (``ncol``), given by its values at ``m + 1`` equally spaced nodes (the
last node of one interval is the first of the next), so the unknowns are ``ntst * m + 1`` node
vectors plus the period ``T``. The equations are

* collocation at the ``m`` Gauss–Legendre points ``zeta_c`` of every interval
  ``j``: ``sum_k D[c, k] x_jk - h_j T f(x(zeta_jc)) = 0`` (``D``: derivatives of the Lagrange
  basis at the Gauss points, ``h_j``: interval length);
* periodicity ``x(0) - x(1) = 0``;
* the integral phase condition ``int_0^1 <x(tau), u'(tau)> dtau = 0`` against a reference orbit
  ``u`` (the previous point of a continuation): of all time shifts of the orbit it selects the one
  closest to ``u`` in L2, so the continuation does not slide along the orbit.

Gauss collocation is superconvergent: errors at the mesh points are ``O(h^{2m})``. The Jacobian
is sparse (an ``n (m + 1)``-wide band of blocks per interval plus a few full columns and rows);
it is assembled as a ``scipy.sparse`` matrix from the exact Jacobian of the symbolic model at all
collocation points at once.

The mesh is adapted by equidistributing ``|x^{(m+1)}|^{1/(m+1)}`` (the local error of degree-``m``
collocation is ``h^{m+1} |x^{(m+1)}|``): ``x^{(m)}`` is constant on each interval, and its jumps
between intervals estimate ``x^{(m+1)}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial

import numpy as np
import sympy
from numpy.polynomial.legendre import leggauss
from scipy import sparse

from ..derivatives import ParametricSystem

__all__ = ["VectorField", "Collocation", "lagrange_table"]


def lagrange_table(nodes: np.ndarray, s: np.ndarray, derivative: int = 0) -> np.ndarray:
    """Values (or first derivatives) of the Lagrange basis on ``nodes`` at the points ``s``:
    shape ``(len(s), len(nodes))``."""
    s = np.atleast_1d(np.asarray(s, dtype=float))
    k = len(nodes)
    out = np.empty((len(s), k))
    for i in range(k):
        others = np.delete(nodes, i)
        denom = np.prod(nodes[i] - others)
        if derivative == 0:
            out[:, i] = np.prod(s[:, None] - others[None, :], axis=1) / denom
        else:
            total = np.zeros(len(s))
            for j in range(k - 1):
                rest = np.delete(others, j)
                total += np.prod(s[:, None] - rest[None, :], axis=1)
            out[:, i] = total / denom
    return out


class VectorField:
    """``f``, ``f_y`` and ``f_parameter`` of a model evaluated at many states at once.

    The lambdified functions of :class:`ParametricSystem` return one state; collocation needs
    the right-hand side and the Jacobian at all ``ntst * m`` collocation points of an orbit in
    one call. Built once per model (cached on the system).
    """

    def __init__(self, ps: ParametricSystem) -> None:
        self.ps = ps
        self.n = ps.n
        self._f = sympy.lambdify(ps.args, ps.rhs, modules="numpy", cse=True, docstring_limit=0)
        rows, cols = ps._jac_index
        self.jac_rows, self.jac_cols = rows, cols
        self._J = sympy.lambdify(ps.args, ps._jac_exprs, modules="numpy", cse=True,
                                 docstring_limit=0) if len(rows) else None
        self._fp: dict[tuple[int, ...], object] = {}

    @classmethod
    def of(cls, ps: ParametricSystem) -> VectorField:
        cached = ps.system._cache.get("analysis.cycles.field")
        if cached is None:
            cached = cls(ps)
            ps.system._cache.setdefault("analysis.cycles.field", cached)
        return cached

    @staticmethod
    def _stack(values, K: int) -> np.ndarray:
        return np.stack([np.broadcast_to(np.asarray(v, dtype=float), (K,)) for v in values])

    def f(self, x: np.ndarray, p: np.ndarray) -> np.ndarray:
        """``f`` at the rows of ``x`` ``(K, n)``: shape ``(K, n)``."""
        K = x.shape[0]
        return self._stack(self._f(x.T, p), K).T

    def jacobian(self, x: np.ndarray, p: np.ndarray) -> np.ndarray:
        """``f_y`` at the rows of ``x``: shape ``(K, n, n)``."""
        K = x.shape[0]
        out = np.zeros((K, self.n, self.n))
        if self._J is not None:
            out[:, self.jac_rows, self.jac_cols] = self._stack(self._J(x.T, p), K).T
        return out

    def f_p(self, x: np.ndarray, p: np.ndarray, slots: tuple[int, ...]) -> np.ndarray:
        """``d f / d parameter`` (all ``slots`` moving together) at the rows of ``x``."""
        if slots not in self._fp:
            syms = [self.ps.param_symbols[m] for m in slots]
            exprs = [sum((sympy.diff(e, s) for s in syms), sympy.Integer(0))
                     for e in self.ps.rhs]
            self._fp[slots] = sympy.lambdify(self.ps.args, exprs, modules="numpy", cse=True,
                                             docstring_limit=0)
        return self._stack(self._fp[slots](x.T, p), x.shape[0]).T


@dataclass
class Collocation:
    """The collocation discretisation with ``ntst`` intervals of degree ``m`` on ``mesh``.

    ``mesh`` holds the ``ntst + 1`` interval ends in ``[0, 1]``. Node ``g = j m + k`` lies at
    ``mesh[j] + h_j k / m``; node vectors are stored as an array ``(ntst m + 1, n)``.
    """

    n: int
    ntst: int
    m: int
    mesh: np.ndarray

    def __post_init__(self) -> None:
        m = self.m
        z, w = leggauss(m)
        self.zeta = 0.5 * (z + 1.0)           # Gauss points on [0, 1]
        self.weights = 0.5 * w
        self.local = np.arange(m + 1) / m      # node positions in an interval
        self.L = lagrange_table(self.local, self.zeta)              # (m, m+1)
        self.D = lagrange_table(self.local, self.zeta, derivative=1)
        self.mesh = np.asarray(self.mesh, dtype=float)
        self.index = np.arange(self.ntst)[:, None] * m + np.arange(m + 1)[None, :]
        # m-th derivative of the local polynomial from its node values (a constant)
        V = np.vander(self.local, m + 1, increasing=True)
        self._lead = np.linalg.inv(V)[m] * factorial(m)      # d^m/ds^m of the basis

    # -- geometry ----------------------------------------------------------------------------
    @property
    def h(self) -> np.ndarray:
        return np.diff(self.mesh)

    @property
    def n_nodes(self) -> int:
        return self.ntst * self.m + 1

    @property
    def size(self) -> int:
        """Number of node unknowns ``n (ntst m + 1)``."""
        return self.n * self.n_nodes

    def nodes(self) -> np.ndarray:
        """Times (in ``[0, 1]``) of all nodes."""
        t = self.mesh[:-1, None] + self.h[:, None] * self.local[None, :-1]
        return np.append(t.ravel(), 1.0)

    def gauss_times(self) -> np.ndarray:
        return (self.mesh[:-1, None] + self.h[:, None] * self.zeta[None, :]).ravel()

    def blocks(self, x: np.ndarray) -> np.ndarray:
        """Node vectors per interval: ``(ntst, m + 1, n)``."""
        return x[self.index]

    def at_gauss(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The orbit and its derivative ``dx/dtau`` at the Gauss points: ``(ntst, m, n)`` each."""
        Xb = self.blocks(x)
        xc = np.einsum("ck,jkn->jcn", self.L, Xb)
        dx = np.einsum("ck,jkn->jcn", self.D, Xb) / self.h[:, None, None]
        return xc, dx

    def evaluate(self, x: np.ndarray, tau: np.ndarray) -> np.ndarray:
        """The piecewise polynomial at the times ``tau`` (taken modulo 1): ``(len(tau), n)``."""
        tau = np.mod(np.asarray(tau, dtype=float), 1.0)
        j = np.clip(np.searchsorted(self.mesh, tau, side="right") - 1, 0, self.ntst - 1)
        s = (tau - self.mesh[j]) / self.h[j]
        basis = lagrange_table(self.local, s)
        return np.einsum("tk,tkn->tn", basis, x[self.index[j]])

    def integral(self, values_at_gauss: np.ndarray) -> np.ndarray:
        """``int_0^1`` of a function given at the Gauss points ``(ntst, m, ...)``."""
        return np.einsum("j,c,jc...->...", self.h, self.weights, values_at_gauss)

    # -- the system --------------------------------------------------------------------------
    def residual(self, field: VectorField, x: np.ndarray, T: float, p: np.ndarray,
                 ref_dot: np.ndarray) -> np.ndarray:
        """Collocation equations, periodicity and the phase condition (length ``size + 1``).

        ``ref_dot``: ``du/dtau`` of the reference orbit at the Gauss points ``(ntst, m, n)``.
        """
        xc, dx = self.at_gauss(x)
        fc = field.f(xc.reshape(-1, self.n), p).reshape(xc.shape)
        coll = (dx - T * fc) * self.h[:, None, None]
        phase = self.integral(np.einsum("jcn,jcn->jc", xc, ref_dot))
        return np.concatenate([coll.ravel(), x[0] - x[-1], [phase]])

    def jacobian(self, field: VectorField, x: np.ndarray, T: float, p: np.ndarray,
                 ref_dot: np.ndarray, slots: tuple[int, ...] | None = None):
        """Sparse Jacobian of :meth:`residual` with respect to the nodes and ``T`` (and the
        parameter occupying ``slots`` when given, as the last column). CSR."""
        n, m, N = self.n, self.m, self.ntst
        xc, _ = self.at_gauss(x)
        flat = xc.reshape(-1, n)
        A = field.jacobian(flat, p).reshape(N, m, n, n)
        fc = field.f(flat, p).reshape(N, m, n)
        h = self.h
        blocks = self.collocation_blocks(A, T)                  # (N, m, m+1, n, n)
        # rows (j, c, i), columns (node index[j, k], l)
        r = (np.arange(N)[:, None, None, None, None] * m
             + np.arange(m)[None, :, None, None, None]) * n \
            + np.arange(n)[None, None, None, :, None]
        c = self.index[:, None, :, None, None] * n + np.arange(n)[None, None, None, None, :]
        r, c = np.broadcast_arrays(r, c)
        rows = [r.ravel()]
        cols = [c.ravel()]
        vals = [blocks.ravel()]
        size = self.size
        n_coll = N * m * n
        # period column
        rows.append(np.arange(n_coll))
        cols.append(np.full(n_coll, size))
        vals.append((-fc * h[:, None, None]).ravel())
        # periodicity
        rows += [n_coll + np.arange(n)] * 2
        cols += [np.arange(n), size - n + np.arange(n)]
        vals += [np.ones(n), -np.ones(n)]
        # phase: d/dx_{jk} = h_j sum_c w_c L[c, k] u'_jc
        ph = np.einsum("j,c,ck,jcn->jkn", h, self.weights, self.L, ref_dot)
        prow = np.zeros((self.n_nodes, n))
        np.add.at(prow, self.index, ph)
        rows.append(np.full(size, n_coll + n))
        cols.append(np.arange(size))
        vals.append(prow.ravel())
        width = size + 1
        if slots is not None:
            fp = field.f_p(flat, p, slots).reshape(N, m, n)
            rows.append(np.arange(n_coll))
            cols.append(np.full(n_coll, size + 1))
            vals.append((-T * fp * h[:, None, None]).ravel())
            width += 1
        J = sparse.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                              shape=(n_coll + n + 1, width))
        return J.tocsr()

    def collocation_blocks(self, A: np.ndarray, T: float) -> np.ndarray:
        """``d(collocation_jc) / d x_jk``, ``(ntst, m, m+1, n, n)``, from the Jacobians ``A``
        ``(ntst, m, n, n)`` at the Gauss points."""
        n = self.n
        eye = np.eye(n)
        h = self.h
        return (self.D[None, :, :, None, None] * eye[None, None, None]
                - (T * h)[:, None, None, None, None] * self.L[None, :, :, None, None]
                * A[:, :, None, :, :])

    # -- mesh --------------------------------------------------------------------------------
    def adapted_mesh(self, x: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """A mesh equidistributing ``|x^{(m+1)}|^{1/(m+1)}`` (components divided by
        ``weights``)."""
        Xb = self.blocks(x) / weights
        h = self.h
        dm = np.einsum("k,jkn->jn", self._lead, Xb) / h[:, None] ** self.m   # x^(m), per interval
        # x^(m+1) from the jumps of x^(m) to both neighbours (periodic)
        nxt = np.roll(dm, -1, axis=0)
        prv = np.roll(dm, 1, axis=0)
        hn = np.roll(h, -1)
        hp = np.roll(h, 1)
        d1 = np.abs(nxt - dm) * 2 / (h + hn)[:, None]
        d2 = np.abs(dm - prv) * 2 / (h + hp)[:, None]
        rate = np.max(0.5 * (d1 + d2), axis=1) ** (1.0 / (self.m + 1))
        rate = rate + 1e-2 * max(float(np.sum(rate * h)), 1e-300)   # keep every interval finite
        F = np.concatenate([[0.0], np.cumsum(rate * h)])
        new = np.interp(np.linspace(0.0, F[-1], self.ntst + 1), F, self.mesh)
        new[0], new[-1] = 0.0, 1.0
        return new

    def remeshed(self, x: np.ndarray, mesh: np.ndarray) -> tuple[Collocation, np.ndarray]:
        """The discretisation on ``mesh`` and the orbit interpolated onto its nodes."""
        other = Collocation(self.n, self.ntst, self.m, mesh)
        inner = self.evaluate(x, other.nodes()[:-1])
        return other, np.vstack([inner, inner[:1]])
