"""Eigenvalues of Jacobians for linear stability: all of them, or the rightmost few.

Up to :data:`DENSE_EIGEN_MAX` states the full spectrum is computed with LAPACK (``numpy``'s
``eigvals`` of the dense matrix): exact to rounding and fast enough (about 0.3 s at 1,000 states).
Above, or when only ``k`` eigenvalues are asked for, ARPACK (``scipy.sparse.linalg.eigs``) gives
the rightmost ones:

* ``which="LR"``: Arnoldi iterations on ``J`` itself for the largest real parts, with a Krylov
  space of at least 80 vectors (which keeps stiff spectra from needing thousands of restarts).
  The rightmost eigenvalues lie on the boundary of the spectrum's convex hull, where Arnoldi
  converges; ARPACK checks every Ritz value it returns.
* If that does not converge, shift-invert about ``sigma = 0`` (a sparse LU of ``J``) adds the
  eigenvalues nearest the origin, where folds happen. It is not run otherwise: for well-connected
  networks the LU fills in and costs more than the Arnoldi iterations.

The eigenvalues found are sorted by decreasing real part and the first ``k`` kept.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

__all__ = ["DENSE_EIGEN_MAX", "eigenvalues", "sort_eigenvalues", "rates"]

logger = logging.getLogger(__name__)

#: Largest system whose full spectrum is computed densely by default
DENSE_EIGEN_MAX = 1000


def sort_eigenvalues(ev: np.ndarray) -> np.ndarray:
    """Eigenvalues by decreasing real part (then decreasing imaginary part)."""
    ev = np.asarray(ev)
    return ev[np.lexsort((-ev.imag, -ev.real))]


def _start_vector(n: int) -> np.ndarray:
    # a fixed start vector makes ARPACK's results reproducible
    return np.random.default_rng(0).uniform(0.5, 1.5, n)


def _arpack(J: sp.spmatrix, k: int, **options) -> tuple[np.ndarray, bool]:
    """``k`` eigenvalues by ARPACK and whether all of them converged."""
    try:
        ev = spla.eigs(J, k=k, return_eigenvectors=False, v0=_start_vector(J.shape[0]),
                       maxiter=max(1000, 20 * J.shape[0]), **options)
        return ev, True
    except spla.ArpackNoConvergence as exc:
        logger.info("ARPACK (%s) converged for %d of %d eigenvalues", options,
                    len(exc.eigenvalues), k)
        return np.asarray(exc.eigenvalues, dtype=complex), False
    except (RuntimeError, spla.ArpackError) as exc:   # singular J for shift-invert
        logger.info("ARPACK (%s) failed: %s", options, exc)
        return np.zeros(0, dtype=complex), False


def _unique(ev: np.ndarray) -> np.ndarray:
    ev = sort_eigenvalues(ev)
    if ev.size == 0:
        return ev
    scale = max(1.0, float(np.abs(ev).max()))
    keep = [0]
    for i in range(1, ev.size):
        if np.all(np.abs(ev[keep] - ev[i]) > 1e-9 * scale):
            keep.append(i)
    return ev[keep]


def eigenvalues(J, *, k: int | None = None, dense_max: int = DENSE_EIGEN_MAX) -> np.ndarray:
    """Eigenvalues of ``J`` by decreasing real part: all, or the ``k`` rightmost.

    Parameters
    ----------
    J : np.ndarray or scipy.sparse matrix
        A square Jacobian.
    k : int, optional
        Return only the ``k`` rightmost eigenvalues (sparse ARPACK path when ``k < n - 2``).
        Default: all eigenvalues when ``n <= dense_max``, else the 10 rightmost.
    dense_max : int
        Size up to which the full spectrum is computed densely when ``k`` is None.

    Returns
    -------
    np.ndarray
        Eigenvalues sorted by decreasing real part; complex, except from the dense path when
        the spectrum is real (as ``numpy.linalg.eigvals``).

    Notes
    -----
    The sparse path (see the module docstring) is an iterative method: it returns the rightmost
    eigenvalues ARPACK converged to. Those decide stability unless ARPACK misses an eigenvalue
    with a larger real part than all those it found, which Arnoldi's convergence to exterior
    eigenvalues makes unlikely but not impossible. The dense path has no such caveat.

    Examples
    --------
    >>> import numpy as np
    >>> eigenvalues(np.diag([-1.0, -3.0, 2.0]))
    array([ 2., -1., -3.])
    """
    n = J.shape[0]
    if k is None and n <= dense_max or k is not None and k >= n - 2:
        dense = J.toarray() if sp.issparse(J) else np.asarray(J, dtype=float)
        ev = sort_eigenvalues(np.linalg.eigvals(dense))
        return ev if k is None else ev[:k]
    k = 10 if k is None else int(k)
    J = sp.csc_matrix(J, dtype=float)
    m = min(n - 2, max(2 * k, k + 8))
    # a wide Krylov space makes Arnoldi converge far faster on stiff spectra (many restarts else)
    ncv = min(n - 1, max(2 * m + 1, 80))
    found, converged = _arpack(J, m, which="LR", ncv=ncv)
    if not converged or found.size < k:
        # shift-invert about 0: a sparse LU, dearer for well-connected networks (fill-in)
        near_zero, _ = _arpack(J, m, sigma=0.0, which="LM")
        found = np.concatenate([found, near_zero])
    return _unique(found)[:k]


def rates(J) -> np.ndarray:
    """Magnitudes of the slowest and fastest non-zero eigenvalues of ``J`` (for time scales).

    Dense for up to :data:`DENSE_EIGEN_MAX` states; above, ARPACK finds the eigenvalue of largest
    magnitude (falling back to the Gershgorin bound, the largest absolute row sum) and, by
    shift-invert about zero, the one of smallest magnitude. Returns ``[slowest, fastest]``, or an
    empty array when no non-zero eigenvalue is found.
    """
    n = J.shape[0]
    if n <= DENSE_EIGEN_MAX:
        dense = J.toarray() if sp.issparse(J) else np.asarray(J, dtype=float)
        r = np.abs(np.linalg.eigvals(dense))
        r = r[r > 0]
        return np.array([r.min(), r.max()]) if r.size else r
    J = sp.csc_matrix(J, dtype=float)
    # time scales need no more than a couple of digits
    fast = np.abs(_arpack(J, 1, which="LM", tol=1e-3)[0])
    fastest = float(fast.max()) if fast.size else float(abs(J).sum(axis=1).max())
    if fastest <= 0:
        return np.zeros(0)
    slow = np.abs(_arpack(J, 1, sigma=0.0, which="LM", tol=1e-3)[0])
    slow = slow[slow > 0]
    return np.array([float(slow.min()) if slow.size else fastest, fastest])
