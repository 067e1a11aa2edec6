"""``CSR``: the weight matrices of couplings, without importing scipy.

Building a model only needs the three CSR arrays of each coupling (the code generator, the
numpy reference and the analysis read ``data``, ``indices`` and ``indptr``). scipy.sparse costs
~0.1-0.15 s to import (with its array-API layer), a fifth of a warm start (BENCHMARKS.md B4),
so the IR keeps its matrices in this small immutable container and converts to
``scipy.sparse.csr_matrix`` (:meth:`CSR.tocsr`) only where sparse linear algebra is done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CSR"]


@dataclass(frozen=True, eq=False)
class CSR:
    """A compressed-sparse-row matrix: row ``i`` has the entries ``data[indptr[i]:indptr[i+1]]``
    in the columns ``indices[indptr[i]:indptr[i+1]]``.

    The arrays are taken as given (float data, int64 indices and row pointers); use the
    constructors to build one from other forms. Entry order within a row is kept: arrays
    aligned with ``data`` (per-edge delays) stay aligned.

    Examples
    --------
    >>> import numpy as np
    >>> W = CSR.from_dense(np.array([[0.0, 2.0], [3.0, 0.0]]))
    >>> W.nnz, W.indptr.tolist(), W.indices.tolist()
    (2, [0, 1, 2], [1, 0])
    >>> (W @ np.array([1.0, 10.0])).tolist()
    [20.0, 3.0]
    >>> CSR.from_coo([1, 0, 1], [0, 1, 0], [1.0, 2.0, 0.5], (2, 2)).toarray().tolist()
    [[0.0, 2.0], [1.5, 0.0]]
    """

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    shape: tuple[int, int]

    def __post_init__(self) -> None:
        if len(tuple(self.shape)) != 2:
            raise ValueError(f"a CSR matrix has 2 dimensions, got shape {tuple(self.shape)}")
        object.__setattr__(self, "data", np.asarray(self.data, dtype=float))
        object.__setattr__(self, "indices", np.asarray(self.indices, dtype=np.int64))
        object.__setattr__(self, "indptr", np.asarray(self.indptr, dtype=np.int64))
        object.__setattr__(self, "shape", (int(self.shape[0]), int(self.shape[1])))
        if self.indptr.shape != (self.shape[0] + 1,) or self.data.shape != self.indices.shape \
                or self.indptr[-1] != self.data.size:
            raise ValueError(f"inconsistent CSR arrays for shape {self.shape}: indptr "
                             f"{self.indptr.shape}, indices {self.indices.shape}, data "
                             f"{self.data.shape}")

    # -- constructors ----------------------------------------------------------------------------
    @classmethod
    def from_coo(cls, rows: Any, cols: Any, data: Any, shape: tuple[int, int]) -> CSR:
        """From (row, column, value) triplets: entries sorted by row and column, duplicates
        summed (as ``scipy.sparse.csr_matrix((data, (rows, cols)))``)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        cols = np.asarray(cols, dtype=np.int64).reshape(-1)
        data = np.asarray(data, dtype=float).reshape(-1)
        if rows.size:
            order = np.lexsort((cols, rows))
            rows, cols, data = rows[order], cols[order], data[order]
            first = np.ones(rows.size, dtype=bool)
            first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
            starts = np.flatnonzero(first)
            data = np.add.reduceat(data, starts)
            rows, cols = rows[starts], cols[starts]
        indptr = np.zeros(shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
        return cls(data, cols, indptr, shape)

    @classmethod
    def from_dense(cls, array: Any) -> CSR:
        """The non-zeros of a 2-d array, row by row."""
        a = np.asarray(array, dtype=float)
        if a.ndim != 2:
            raise ValueError(f"expected a 2-d array, got shape {a.shape}")
        rows, cols = np.nonzero(a)
        indptr = np.zeros(a.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=a.shape[0]), out=indptr[1:])
        return cls(a[rows, cols], cols, indptr, a.shape)

    @classmethod
    def from_sparse(cls, matrix: Any) -> CSR:
        """From a scipy.sparse matrix or array (any format): duplicates summed, explicit zeros
        dropped, columns sorted within rows."""
        if len(matrix.shape) != 2:
            raise ValueError(f"expected a 2-d sparse matrix, got shape {matrix.shape}")
        m = matrix.astype(float).tocsr(copy=True)     # float first: sums may not fit
        m.sum_duplicates()
        m.eliminate_zeros()
        m.sort_indices()
        return cls(m.data, m.indices, m.indptr, m.shape)

    # -- properties and conversions --------------------------------------------------------------
    @property
    def nnz(self) -> int:
        """The number of stored entries."""
        return int(self.data.size)

    def rows(self) -> np.ndarray:
        """The row of every stored entry (aligned with ``data``)."""
        return np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))

    def toarray(self) -> np.ndarray:
        """The dense matrix (duplicates, if any, summed)."""
        out = np.zeros(self.shape)
        np.add.at(out, (self.rows(), self.indices), self.data)
        return out

    def tocsr(self) -> Any:
        """The same matrix as a ``scipy.sparse.csr_matrix`` (imports scipy)."""
        import scipy.sparse as sp

        return sp.csr_matrix((self.data, self.indices, self.indptr), shape=self.shape)

    def select(self, keep: np.ndarray) -> CSR:
        """The entries where ``keep`` (aligned with ``data``) is true, in their order."""
        keep = np.asarray(keep, dtype=bool)
        indptr = np.zeros(self.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.rows()[keep], minlength=self.shape[0]), out=indptr[1:])
        return CSR(self.data[keep], self.indices[keep], indptr, self.shape)

    def eliminate_zeros(self) -> CSR:
        """A copy without the stored zeros (the order of the other entries kept)."""
        return self.select(self.data != 0.0)

    def __matmul__(self, x: Any) -> np.ndarray:
        """``W @ x`` for a vector ``x`` of length ``shape[1]``."""
        x = np.asarray(x, dtype=float)
        if x.shape != (self.shape[1],):
            raise ValueError(f"W @ x: x has shape {x.shape}, expected ({self.shape[1]},)")
        return np.bincount(self.rows(), weights=self.data * x[self.indices],
                           minlength=self.shape[0]).astype(float)
