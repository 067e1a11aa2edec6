"""Floquet multipliers of a collocated periodic orbit.

**Condensation.** On mesh interval ``j`` the linearised collocation equations (at fixed period and
parameters) relate the ``m + 1`` node perturbations ``[d_j0, d_j1, ..., d_jm]`` by ``m n``
equations ``B_j [d_j0; d_inner; d_jm] = 0``. Eliminating the inner nodes gives the interval's
transfer matrix ``P_j`` with ``d_jm = P_j d_j0``: the Gauss–Legendre Runge–Kutta step of the
variational equation over that interval. The monodromy matrix is ``M = P_{N-1} ... P_0``.

**Tiny multipliers.** Forming ``M`` and taking its eigenvalues is accurate only to about
``eps |M|``: a relaxation cycle whose strongly contracting directions have multipliers like
``1e-40`` would get them as rounding noise of size ``1e-16``. The magnitudes are therefore also
computed without forming the product, by the periodic QR iteration (orthogonal iteration on the
factors): ``P_j Q_{j-1} = Q_j R_j`` around the orbit, repeated until ``Q`` returns to itself; then
``Q^T M Q = R_{N-1} ... R_0`` is triangular and ``log |mu_k| = sum_j log |R_j[k, k]|`` is exact to
rounding in every factor, however small ``mu_k`` is. Multipliers below
``TINY * max(1, |M|)`` are taken from there (as real numbers with the sign of the product of the
diagonals), the others from the eigenvalues of ``M`` (complex pairs included).

For those tiny multipliers the factors are not the collocation transfer matrices: Gauss
collocation is A- but not L-stable, so on an interval where a direction contracts with
``h |lambda| >> 1`` its transfer matrix damps that direction far too little (FitzHugh–Nagumo at
I = 0.5 with 40 intervals: ``log mu_2 = -37.0`` instead of ``-38.31``). They are instead the
matrix exponentials of the fourth-order Magnus expansion of the variational equation along the
collocation polynomial, ``m`` steps per mesh interval: exact for the exponential contraction
however stiff it is (the same example: ``-38.3114`` against ``int tr f_y dt = -38.3113``).
"""

from __future__ import annotations

import numpy as np

from .collocation import Collocation, VectorField

__all__ = ["transfer_matrices", "magnus_transfer", "multipliers", "trivial_index", "TINY"]

#: Below ``TINY * max(1, |M|)`` a multiplier is taken from the log-form product.
TINY = 1e-9


def transfer_matrices(col: Collocation, A: np.ndarray, T: float) -> np.ndarray:
    """``P_j`` ``(ntst, n, n)`` from the Jacobians ``A`` ``(ntst, m, n, n)`` at the Gauss points."""
    n, m, N = col.n, col.m, col.ntst
    B = col.collocation_blocks(A, T)                          # (N, m, m+1, n, n)
    B = B.transpose(0, 1, 3, 2, 4).reshape(N, m * n, (m + 1) * n)
    left, right = B[:, :, :n], B[:, :, n:]
    sol = np.linalg.solve(right, -left)                       # (N, m n, n)
    return sol[:, -n:, :]


def magnus_transfer(col: Collocation, field: VectorField, x: np.ndarray, T: float,
                    p: np.ndarray) -> np.ndarray:
    """Transfer matrices of ``d' = T f_y(x(tau)) d`` over ``m`` sub-steps of every mesh
    interval by the fourth-order Magnus method: ``(ntst m, n, n)``."""
    sub = col.m
    edges = col.mesh[:-1, None] + col.h[:, None] * np.arange(sub + 1)[None, :] / sub
    a = edges[:, :-1].ravel()
    h = (edges[:, 1:] - edges[:, :-1]).ravel()
    g = np.array([0.5 - np.sqrt(3) / 6, 0.5 + np.sqrt(3) / 6])
    xs = col.evaluate(x, (a[:, None] + h[:, None] * g[None, :]).ravel())
    n = col.n
    A = field.jacobian(xs, p).reshape(len(a), 2, n, n) * T
    A1, A2 = A[:, 0], A[:, 1]
    hh = h[:, None, None]
    omega = 0.5 * hh * (A1 + A2) + (np.sqrt(3) / 12) * hh**2 * (A2 @ A1 - A1 @ A2)
    return batched_expm(omega)


def batched_expm(X: np.ndarray) -> np.ndarray:
    """``exp`` of each matrix of a stack ``(K, n, n)``: diagonal Padé (6, 6) with scaling and
    squaring, vectorised over the stack."""
    K, n, _ = X.shape
    norms = np.max(np.sum(np.abs(X), axis=1), axis=1)
    s = np.maximum(0, np.ceil(np.log2(np.maximum(norms, 1e-300) / 0.5))).astype(int)
    Y = X / (2.0 ** s)[:, None, None]
    c = [1.0, 1 / 2, 5 / 44, 1 / 66, 1 / 792, 1 / 15840, 1 / 665280]
    eye = np.broadcast_to(np.eye(n), X.shape)
    Y2 = Y @ Y
    Y4 = Y2 @ Y2
    Y6 = Y4 @ Y2
    U = Y @ (c[1] * eye + c[3] * Y2 + c[5] * Y4)
    V = c[0] * eye + c[2] * Y2 + c[4] * Y4 + c[6] * Y6
    E = np.linalg.solve(V - U, V + U)
    for k in range(int(s.max(initial=0))):
        sel = s > k
        E[sel] = E[sel] @ E[sel]
    return E


def _periodic_qr(P: np.ndarray, sweeps: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """``log |mu_k|`` and the signs of the real multipliers, by periodic QR iteration."""
    n = P.shape[1]
    Q = np.eye(n)
    prev = None
    logs = np.zeros(n)
    signs = np.ones(n)
    for _ in range(sweeps):
        Q0 = Q
        logs = np.zeros(n)
        signs = np.ones(n)
        for Pj in P:
            Q, R = np.linalg.qr(Pj @ Q)
            d = np.diag(R)
            with np.errstate(divide="ignore"):
                logs += np.log(np.abs(d))
            signs *= np.sign(d)
        signs *= np.sign(np.einsum("ij,ij->j", Q0, Q))      # Q_end = Q_start diag(+-1)
        if prev is not None and np.allclose(logs, prev, rtol=1e-10, atol=1e-10):
            break
        prev = logs
    return logs, signs


def multipliers(P: np.ndarray, P_log=None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Floquet multipliers (by decreasing modulus) and ``log |mu|`` of each.

    ``P``: the collocation transfer matrices (the monodromy matrix is their product);
    ``P_log``: the factors for the log-form magnitudes of the tiny multipliers (default ``P``),
    or a function returning them (called only when some multiplier is that small).

    Returns
    -------
    mu : np.ndarray of complex
    log_abs : np.ndarray
        ``log |mu_k|``, accurate also where ``mu_k`` underflows to zero.
    """
    n = P.shape[1]
    M = np.eye(n)
    for Pj in P:
        M = Pj @ M
    direct = np.linalg.eigvals(M)
    direct = direct[np.argsort(-np.abs(direct), kind="stable")]
    with np.errstate(divide="ignore"):
        log_direct = np.log(np.abs(direct))
    cutoff = np.log(TINY * max(1.0, float(np.linalg.norm(M, 2))))
    if np.all(log_direct >= cutoff + np.log(1e3)):       # nothing near the noise level
        return direct.astype(complex), log_direct
    if callable(P_log):
        P_log = P_log()
    logs, signs = _periodic_qr(P if P_log is None else P_log)
    order = np.argsort(-logs, kind="stable")
    logs, signs = logs[order], signs[order]
    mu = direct.astype(complex)
    log_abs = log_direct.copy()
    small = logs < cutoff
    mu[small] = signs[small] * np.exp(logs[small])
    log_abs[small] = logs[small]
    order = np.argsort(-log_abs, kind="stable")
    return mu[order], log_abs[order]


def trivial_index(mu: np.ndarray) -> int:
    """Index of the trivial multiplier (the one closest to 1)."""
    return int(np.argmin(np.abs(mu - 1.0)))
