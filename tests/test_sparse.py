"""CSR packing: exact round trip, narrowest index type, validation, format choice."""

import numpy as np
import pytest

from sparsec.sparse import CSR, choose_format, dense_bytes, index_dtype


def random_sparse(rows, cols, density, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((rows, cols)).astype(np.float32)
    w[rng.random((rows, cols)) >= density] = 0.0
    return w


@pytest.mark.parametrize(
    "shape,density", [((1, 1), 1.0), ((7, 3), 0.5), ((64, 128), 0.1), ((5, 9), 0.0), ((3, 300), 0.2), ((10, 10), 1.0)]
)
def test_round_trip_is_exact(shape, density):
    w = random_sparse(*shape, density)
    csr = CSR.from_dense(w)
    csr.validate()
    assert csr.nnz == np.count_nonzero(w)
    np.testing.assert_array_equal(csr.to_dense(), w)
    assert csr.indptr.dtype == np.uint32 and csr.indptr.shape == (shape[0] + 1,)


def test_empty_rows_and_order():
    w = np.array([[0, 0, 0], [0, 2, 1], [0, 0, 0], [3, 0, 0]], np.float32)
    csr = CSR.from_dense(w)
    assert csr.indptr.tolist() == [0, 0, 2, 2, 3]
    assert csr.indices.tolist() == [1, 2, 0]
    assert csr.values.tolist() == [2.0, 1.0, 3.0]


@pytest.mark.parametrize(
    "cols,dtype", [(1, np.uint8), (256, np.uint8), (257, np.uint16), (65536, np.uint16), (65537, np.int32)]
)
def test_narrowest_index_type(cols, dtype):
    assert index_dtype(cols) == dtype
    w = np.zeros((1, cols), np.float32)
    w[0, -1] = 1.0  # the largest index must survive the narrowing
    csr = CSR.from_dense(w)
    assert csr.indices.dtype == dtype and int(csr.indices[0]) == cols - 1


def test_nbytes_counts_values_indices_and_row_pointers():
    w = random_sparse(10, 20, 0.3)
    csr = CSR.from_dense(w)
    assert csr.nbytes == 4 * csr.nnz + 1 * csr.nnz + 4 * 11


@pytest.mark.parametrize("mutate", ["indptr_dtype", "indptr_start", "indptr_decreasing", "index_range", "length"])
def test_validate_rejects_malformed(mutate):
    csr = CSR.from_dense(random_sparse(4, 6, 0.5, seed=3))
    ptr, idx, val = csr.indptr.copy(), csr.indices.copy(), csr.values.copy()
    if mutate == "indptr_dtype":
        ptr = ptr.astype(np.int64)
    elif mutate == "indptr_start":
        ptr[0] = 1
    elif mutate == "indptr_decreasing":
        ptr[1], ptr[2] = ptr[2] + 1, ptr[1]
    elif mutate == "index_range":
        idx[0] = 6
    else:
        val = val[:-1]
    with pytest.raises(ValueError):
        CSR(csr.shape, ptr, idx, val).validate()


def test_choose_format():
    assert choose_format(random_sparse(64, 64, 0.1), 0.4)[0] == "csr"
    assert choose_format(random_sparse(64, 64, 0.9), 0.4)[0] == "dense"
    # A 1-column matrix: CSR's row pointers make it bigger than dense even when sparse.
    fmt, why = choose_format(random_sparse(64, 1, 0.3, seed=1), 0.4)
    assert fmt == "dense" and "dense" in why
    assert dense_bytes((3, 4)) == 48
