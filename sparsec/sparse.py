"""CSR and block-sparse (BSR) storage for a layer's weight matrix, with the narrowest index type.

Rows are output neurons (the weight is stored [N][K], output-major), so one
CSR row is one dot product and the row pointer array has N+1 entries. BSR cuts the
matrix into aligned R x C blocks (the shapes in BLOCK_SHAPES have kernels) and stores
each block that holds a nonzero whole; block-structured pruning
(``granularity="block"``) makes matrices whose BSR form stores no zero at all.
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


#: Block shapes (R output rows, C input columns) the block-sparse kernels take.
BLOCK_SHAPES: tuple[tuple[int, int], ...] = ((1, 4), (4, 1), (8, 1))


def _blocks(dense: np.ndarray, block: tuple[int, int]) -> np.ndarray:
    """The matrix zero-padded to whole blocks, as [block rows][block cols][R][C]."""
    (n, k), (r, c) = dense.shape, block
    padded = np.zeros((-(-n // r) * r, -(-k // c) * c), dtype=dense.dtype)
    padded[:n, :k] = dense
    return padded.reshape(padded.shape[0] // r, r, padded.shape[1] // c, c).transpose(0, 2, 1, 3)


def _check_block(block: tuple[int, int]) -> tuple[int, int]:
    r, c = (int(b) for b in block)
    if r < 1 or c < 1:
        raise ValueError(f"block shape must be two positive integers, got {block!r}")
    return r, c


def is_block_structured(dense: np.ndarray, block: tuple[int, int]) -> bool:
    """True when every aligned R x C block of ``dense`` (cut at the matrix edge) is all zero or
    all nonzero, i.e. the BSR form with this block shape stores no zero inside the matrix."""
    dense = np.asarray(dense)
    if dense.ndim != 2:
        raise ValueError(f"a block structure needs a 2-D matrix, got shape {dense.shape}")
    block = _check_block(block)
    nonzero = _blocks(dense != 0, block)
    inside = _blocks(np.ones(dense.shape, bool), block)
    full = (nonzero | ~inside).all(axis=(2, 3))
    return bool(np.all(full | ~nonzero.any(axis=(2, 3))))


@dataclass(frozen=True)
class BSR:
    """A float32 matrix of ``shape`` in aligned ``block`` = (R, C) blocks: block row pointers
    (uint32[ceil(N/R) + 1]), the block column of each stored block (narrowest type for
    ceil(K/C) block columns, ascending within a block row) and the blocks' values
    (float32[blocks * R * C], row-major inside each block). Slots past the matrix edge hold 0."""

    shape: tuple[int, int]
    block: tuple[int, int]
    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray

    @classmethod
    def from_dense(cls, dense: np.ndarray, block: tuple[int, int]) -> BSR:
        dense = np.asarray(dense, dtype=np.float32)
        if dense.ndim != 2:
            raise ValueError(f"BSR needs a 2-D matrix, got shape {dense.shape}")
        block = _check_block(block)
        blocks = _blocks(dense, block)
        rows, cols = np.nonzero((blocks != 0).any(axis=(2, 3)))  # row-major: block columns ascending
        indptr = np.zeros(blocks.shape[0] + 1, dtype=np.uint32)
        np.cumsum(np.bincount(rows, minlength=blocks.shape[0]), out=indptr[1:])
        return cls(
            shape=(int(dense.shape[0]), int(dense.shape[1])),
            block=block,
            indptr=indptr,
            indices=cols.astype(index_dtype(blocks.shape[1])),
            values=np.ascontiguousarray(blocks[rows, cols].reshape(-1), dtype=np.float32),
        )

    @property
    def blocks(self) -> int:
        return int(self.indices.size)

    @property
    def nnz(self) -> int:
        """Nonzero values stored."""
        return int(np.count_nonzero(self.values))

    @property
    def padding(self) -> int:
        """Stored slots that hold zero (inside the matrix or past its edge): the cost of blocking."""
        return self.values.size - self.nnz

    @property
    def nbytes(self) -> int:
        """Bytes in flash: values + block column indices + block row pointers."""
        return self.values.nbytes + self.indices.nbytes + self.indptr.nbytes

    def to_dense(self) -> np.ndarray:
        (n, k), (r, c) = self.shape, self.block
        blocks = np.zeros((-(-n // r), -(-k // c), r, c), dtype=np.float32)
        rows = np.repeat(np.arange(blocks.shape[0]), np.diff(self.indptr.astype(np.int64)))
        blocks[rows, self.indices.astype(np.int64)] = self.values.reshape(-1, r, c)
        full = blocks.transpose(0, 2, 1, 3).reshape(blocks.shape[0] * r, blocks.shape[1] * c)
        return np.ascontiguousarray(full[:n, :k])

    def validate(self) -> None:
        """Raise ValueError unless the arrays form a well-formed BSR matrix of ``shape``."""
        (n, k), (r, c) = self.shape, _check_block(self.block)
        block_rows, block_cols = -(-n // r), -(-k // c)
        ptr = self.indptr.astype(np.int64)
        if self.indptr.dtype != np.uint32 or ptr.shape != (block_rows + 1,):
            raise ValueError(
                f"indptr must be uint32[{block_rows + 1}], got {self.indptr.dtype}{list(self.indptr.shape)}"
            )
        if ptr[0] != 0 or np.any(np.diff(ptr) < 0) or ptr[-1] != self.indices.size:
            raise ValueError("indptr must start at 0, not decrease, and end at the number of blocks == len(indices)")
        if self.values.dtype != np.float32 or self.values.shape != (self.indices.size * r * c,):
            raise ValueError(f"values must be float32[{self.indices.size * r * c}] (blocks * {r} * {c})")
        idx = self.indices.astype(np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= block_cols):
            raise ValueError(f"block column indices must lie in [0, {block_cols})")
        same_row = np.repeat(np.arange(block_rows), np.diff(ptr))
        if np.any((np.diff(idx) <= 0) & (np.diff(same_row) == 0)):
            raise ValueError("block column indices must be strictly ascending within a block row")


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
