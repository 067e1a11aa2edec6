"""Normal-form coefficients of codimension-one and -two bifurcations of equilibria.

Formulas from Yu. A. Kuznetsov, *Elements of Applied Bifurcation Theory* (3rd ed., Springer 2004):
the fold coefficient (§3.2, §5.4), the first Lyapunov coefficient of a Hopf point (eq. 3.20 and its
invariant n-dimensional form, §3.5 / §5.4), the cusp coefficient (§8.2) and the Bogdanov–Takens
coefficients (§8.4, the normalisation used by MatCont). All derivatives are exact: the multilinear
forms ``B`` and ``C`` come from :class:`~symrates.analysis.derivatives.ParametricSystem`.

Conventions (``<u, v> = conj(u) . v``):

* fold: ``A q = 0``, ``A^T p = 0``, ``<q, q> = 1``, ``<p, q> = 1``, ``q`` oriented so that
  ``<p, f_parameter> > 0``; then ``a = <p, B(q, q)> / 2`` and the restriction to the centre
  manifold reads ``eta' = beta + a eta^2`` with ``beta`` increasing with the parameter: for
  ``a > 0`` the two equilibria exist below the fold value of the parameter, for ``a < 0`` above.
* Hopf: ``A q = i omega q``, ``A^T p = -i omega p``, ``<q, q> = 1``, ``<p, q> = 1``, ``omega > 0``;
  ``l1 = Re(<p, C(q,q,qbar)> - 2 <p, B(q, A^{-1} B(q,qbar))>
  + <p, B(qbar, (2 i omega - A)^{-1} B(q,q))>) / (2 omega)``.
  ``l1 < 0``: supercritical (a stable cycle is born), ``l1 > 0``: subcritical.
"""

from __future__ import annotations

import numpy as np

from .derivatives import ParametricSystem

__all__ = [
    "fold_vectors",
    "fold_coefficient",
    "hopf_vectors",
    "lyapunov_coefficient",
    "cusp_coefficient",
    "bogdanov_takens_coefficients",
]


def _null_pair(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Right and left (approximate) null vectors of a square matrix, unit length."""
    U, _, Vh = np.linalg.svd(M)
    return Vh[-1].conj(), U[:, -1]


def fold_vectors(A: np.ndarray, f_p: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``q, p`` with ``A q = 0``, ``A^T p = 0``, ``|q| = 1``, ``p . q = 1`` (and
    ``p . f_p > 0`` when ``f_p`` is given). ``p`` is NaN when ``p . q = 0`` (a double zero)."""
    q, p = _null_pair(A)
    q, p = q.real, p.real
    pq = p @ q
    if abs(pq) < 1e-12:
        return q, np.full_like(p, np.nan)
    p = p / pq
    if f_p is not None and p @ f_p < 0:
        q, p = -q, -p
    return q, p


def fold_coefficient(ps: ParametricSystem, y: np.ndarray, params: np.ndarray, q: np.ndarray,
                     p: np.ndarray) -> float:
    """``a = <p, B(q, q)> / 2``."""
    return float(0.5 * p @ ps.B(y, params, q, q))


def hopf_vectors(A: np.ndarray, omega: float) -> tuple[np.ndarray, np.ndarray]:
    """``q, p`` with ``A q = i omega q``, ``A^T p = -i omega p``, ``<q,q> = 1``, ``<p,q> = 1``."""
    n = A.shape[0]
    q, p = _null_pair(A - 1j * omega * np.eye(n))
    q = q / np.linalg.norm(q)
    # U[:, -1] is the left null vector u: u^H (A - i omega) = 0, i.e. A^T conj(u) = i omega conj(u)
    # and A^T u = -i omega u: u is p up to a factor
    p = p / np.conj(np.vdot(p, q))
    return q, p


def lyapunov_coefficient(ps: ParametricSystem, y: np.ndarray, params: np.ndarray,
                         A: np.ndarray, omega: float) -> float:
    """The first Lyapunov coefficient ``l1`` of a Hopf point (Kuznetsov eq. 3.20, invariant form).

    Examples
    --------
    Stuart-Landau ``z' = (mu + i omega) z + c |z|^2 z`` has ``l1 = 2 Re(c) / omega``:

    >>> import numpy as np, symrates as sr
    >>> ps = ParametricSystem.of(sr.build("stuart_landau.StuartLandau"))
    >>> p = ps.parameter_vector({"mu": 0.0, "c_re": -1.5})
    >>> A = ps.jacobian(np.zeros(2), p)
    >>> round(lyapunov_coefficient(ps, np.zeros(2), p, A, 2 * np.pi) * np.pi, 12)
    -1.5
    """
    q, p = hopf_vectors(A, omega)
    n = A.shape[0]
    qb = q.conj()
    Bqq = ps.B(y, params, q, q)
    Bqqb = ps.B(y, params, q, qb)
    h11 = np.linalg.solve(A.astype(complex), Bqqb)
    h20 = np.linalg.solve(2j * omega * np.eye(n) - A, Bqq)
    c = (np.vdot(p, ps.C(y, params, q, q, qb))
         - 2 * np.vdot(p, ps.B(y, params, q, h11))
         + np.vdot(p, ps.B(y, params, qb, h20)))
    return float(c.real / (2 * omega))


def cusp_coefficient(ps: ParametricSystem, y: np.ndarray, params: np.ndarray,
                     A: np.ndarray) -> float:
    """``c = <p, C(q,q,q) + 3 B(q, h2)> / 6`` with ``A h2 = -(B(q,q) - <p,B(q,q)> q)``,
    ``<p, h2> = 0`` (Kuznetsov §8.2); the cusp normal form is ``eta' = beta + c eta^3``."""
    q, p = fold_vectors(A)
    Bqq = ps.B(y, params, q, q)
    rhs = -(Bqq - (p @ Bqq) * q)
    h2 = np.linalg.lstsq(A, rhs, rcond=None)[0]
    h2 = h2 - (p @ h2) / (p @ q) * q
    return float((p @ (ps.C(y, params, q, q, q) + 3 * ps.B(y, params, q, h2))) / 6.0)


def bogdanov_takens_coefficients(ps: ParametricSystem, y: np.ndarray, params: np.ndarray,
                                 A: np.ndarray) -> tuple[float, float]:
    """``(a, b)`` of ``w0' = w1, w1' = a w0^2 + b w0 w1`` (Kuznetsov §8.4).

    ``A q0 = 0``, ``A q1 = q0``, ``A^T p1 = 0``, ``A^T p0 = p1``, ``<q0,q0> = 1``, ``<q0,q1> = 0``,
    ``<p0,q0> = <p1,q1> = 1``, ``<p0,q1> = <p1,q0> = 0``;
    ``a = <p1, B(q0,q0)> / 2``, ``b = <p0, B(q0,q0)> + <p1, B(q0,q1)>``. Reversing ``q0``
    reverses both signs, so the pair is reported with ``a >= 0`` (the type is ``sign(a b)``).
    """
    q0, p1 = _null_pair(A)
    q0, p1 = q0.real, p1.real
    q1 = np.linalg.lstsq(A, q0, rcond=None)[0]
    q1 = q1 - (q0 @ q1) * q0
    p1 = p1 / (p1 @ q1)
    p0 = np.linalg.lstsq(A.T, p1, rcond=None)[0]
    p0 = p0 - (p0 @ q1) * p1               # p1 . q1 = 1
    B00 = ps.B(y, params, q0, q0)
    a = 0.5 * p1 @ B00
    b = p0 @ B00 + p1 @ ps.B(y, params, q0, q1)
    if a < 0:                     # q0 -> -q0 maps (a, b) to (-a, -b): report a >= 0
        a, b = -a, -b
    return float(a), float(b)
