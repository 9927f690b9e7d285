"""CSR storage for a layer's weight matrix, with the narrowest index type.

Rows are output neurons (the weight is stored [N][K], output-major), so one
CSR row is one dot product and the row pointer array has N+1 entries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Column index types by the largest column index they can hold, narrowest first.
INDEX_TYPES: tuple[tuple[np.dtype, int], ...] = (
    (np.dtype(np.uint8), 0xFF),
    (np.dtype(np.uint16), 0xFFFF),
    (np.dtype(np.int32), 0x7FFFFFFF),
)


def index_dtype(n_cols: int) -> np.dtype:
    """Narrowest type that can hold every column index of an [N][n_cols] matrix."""
    for dtype, largest in INDEX_TYPES:
        if n_cols - 1 <= largest:
            return dtype
    raise ValueError(f"{n_cols} columns do not fit int32 column indices")


@dataclass(frozen=True)
class CSR:
    """A float32 matrix of ``shape`` as (indptr uint32[N+1], indices[nnz], values float32[nnz])."""

    shape: tuple[int, int]
    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray

    @classmethod
    def from_dense(cls, dense: np.ndarray) -> CSR:
        dense = np.asarray(dense, dtype=np.float32)
        if dense.ndim != 2:
            raise ValueError(f"CSR needs a 2-D matrix, got shape {dense.shape}")
        rows, cols = np.nonzero(dense)  # row-major order: rows ascending, columns ascending within a row
        indptr = np.zeros(dense.shape[0] + 1, dtype=np.uint32)
        np.cumsum(np.bincount(rows, minlength=dense.shape[0]), out=indptr[1:])
        return cls(
            shape=(int(dense.shape[0]), int(dense.shape[1])),
            indptr=indptr,
            indices=cols.astype(index_dtype(dense.shape[1])),
            values=dense[rows, cols].astype(np.float32),
        )

    @property
    def nnz(self) -> int:
        return int(self.values.size)

    @property
    def density(self) -> float:
        return self.nnz / max(1, self.shape[0] * self.shape[1])

    @property
    def nbytes(self) -> int:
        """Bytes in flash: values + column indices + row pointers."""
        return self.values.nbytes + self.indices.nbytes + self.indptr.nbytes

    def to_dense(self) -> np.ndarray:
        out = np.zeros(self.shape, dtype=np.float32)
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr.astype(np.int64)))
        out[rows, self.indices.astype(np.int64)] = self.values
        return out

    def validate(self) -> None:
        """Raise ValueError unless the arrays form a well-formed CSR matrix of ``shape``."""
        n, k = self.shape
        ptr = self.indptr.astype(np.int64)
        if self.indptr.dtype != np.uint32 or ptr.shape != (n + 1,):
            raise ValueError(f"indptr must be uint32[{n + 1}], got {self.indptr.dtype}{list(self.indptr.shape)}")
        if ptr[0] != 0 or np.any(np.diff(ptr) < 0) or ptr[-1] != self.nnz or self.indices.size != self.nnz:
            raise ValueError("indptr must start at 0, not decrease, and end at nnz == len(indices) == len(values)")
        if self.nnz and (self.indices.astype(np.int64).min() < 0 or self.indices.astype(np.int64).max() >= k):
            raise ValueError(f"column indices must lie in [0, {k})")


def dense_bytes(shape: tuple[int, int]) -> int:
    return 4 * shape[0] * shape[1]


def choose_format(weight: np.ndarray, crossover: float) -> tuple[str, str]:
    """'csr' or 'dense' for a weight matrix, and why.

    CSR pays when density is at or below the target's measured crossover (a
    CSR nonzero costs an index load and a gather on top of the multiply-add)
    and when it is not larger in flash than the dense matrix.
    """
    csr = CSR.from_dense(weight)
    if csr.density > crossover:
        return "dense", f"density {csr.density:.1%} > crossover {crossover:.0%}"
    if csr.nbytes >= dense_bytes(csr.shape):
        return "dense", f"CSR would take {csr.nbytes} B >= dense {dense_bytes(csr.shape)} B"
    return "csr", f"density {csr.density:.1%} <= crossover {crossover:.0%}"
