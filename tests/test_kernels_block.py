"""Block-sparse (BSR) spmm kernels (1x4, 4x1, 8x1 tiles) of every ISA, the BSR format in
sparsec.sparse and its tie-in with block pruning, checked against float64 NumPy.

The reference sums exactly the slots the BSR form stores (stored zeros included), so NaN and inf
in x propagate the way the kernels must propagate them. Each test names tile, index type, ISA
and shape on failure. Runs in about 3 s.
"""

from __future__ import annotations

import numpy as np
import pytest

import sparsec
from sparsec import kernels
from sparsec.codegen.kernels import BSPMM_FAMILY, KERNELS
from sparsec.passes.layers import layers, to_matrix
from sparsec.sparse import BLOCK_SHAPES, BSR, CSR, is_block_structured

F32 = np.float32
INF = float("inf")
INDEX_DTYPES = [np.uint8, np.uint16, np.int32]
# Below, at and above each tile's rows (4, 8), the 4-sample batch loop and the 8-lane vectors.
NS = [1, 3, 4, 5, 7, 8, 9, 17]
KS = [1, 2, 3, 4, 5, 7, 8, 9, 16, 33]
MS = [1, 3, 4, 5, 9]


def isa_params() -> list:
    """ISAs of the block families (from the kernel table); those this CPU lacks are skipped."""
    isas = KERNELS[BSPMM_FAMILY[((8, 1), "int32")]].isas
    return [
        pytest.param(
            isa, id=isa, marks=[] if kernels.isa_supported(isa) else [pytest.mark.skip(reason=f"no {isa} CPU")]
        )
        for isa in isas
    ]


ISAS = isa_params()
BLOCKS = pytest.mark.parametrize("block", BLOCK_SHAPES, ids=lambda b: f"{b[0]}x{b[1]}")
INDEX = pytest.mark.parametrize("index_dtype", INDEX_DTYPES, ids=lambda d: np.dtype(d).name)


def rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    a = np.array(rng.uniform(-1.0, 1.0, size=shape), dtype=F32)
    a[a == 0] = 0.5
    return a


def block_sparse(rng: np.random.Generator, n: int, k: int, block: tuple[int, int], keep: float) -> np.ndarray:
    """Random [n, k] weights where a fraction `keep` of the aligned blocks is nonzero, with a few
    exact zeros inside kept blocks (stored zeros must be harmless)."""
    r, c = block
    mask = rng.random((-(-n // r), -(-k // c))) < keep
    w = rand(rng, n, k) * np.repeat(np.repeat(mask, r, 0), c, 1)[:n, :k]
    w[rng.random((n, k)) < 0.05] = 0.0
    return w


def pack(w: np.ndarray, block: tuple[int, int], index_dtype) -> BSR:
    b = BSR.from_dense(w, block)
    return BSR(b.shape, b.block, b.indptr, b.indices.astype(index_dtype), b.values)


def stored_mask(b: BSR) -> np.ndarray:
    """True at every slot of W inside the matrix that the BSR form stores."""
    ones = BSR(b.shape, b.block, b.indptr, b.indices, np.ones_like(b.values))
    return ones.to_dense() != 0


def reference(x: np.ndarray, b: BSR, bias, lo: float, hi: float) -> np.ndarray:
    w = b.to_dense().astype(np.float64)
    stored = stored_mask(b)
    with np.errstate(invalid="ignore"):
        prod = np.where(stored[None], x.astype(np.float64)[:, None, :] * w[None], 0.0)
    ref = prod.sum(axis=2)
    if bias is not None:
        ref = ref + bias
    return np.clip(ref, lo, hi)


def run(b: BSR, x: np.ndarray, bias=None, isa: str = "scalar", **kw) -> np.ndarray:
    return kernels.bspmm(x, b.indptr, b.indices, b.values, b.shape[0], b.block, bias, isa=isa, **kw)


def check(got: np.ndarray, ref: np.ndarray, k: int, what: str) -> None:
    assert got.dtype == F32 and got.shape == ref.shape, what
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * max(k, 1), err_msg=what)


# ------------------------------------------------------------------------------------ kernels


@pytest.mark.parametrize("isa", ISAS)
@INDEX
@BLOCKS
@pytest.mark.parametrize("m", MS, ids=lambda v: f"m{v}")
def test_bspmm_matches_numpy(m: int, block, index_dtype, isa: str) -> None:
    for n in NS:
        for k in KS:
            rng = np.random.default_rng([m, n, k, block[0]])
            b = pack(block_sparse(rng, n, k, block, keep=0.6), block, index_dtype)
            x, bias = rand(rng, m, k), rand(rng, n)
            what = f"bspmm {block} {np.dtype(index_dtype).name} {isa} m={m} n={n} k={k}"
            check(run(b, x, bias, isa), reference(x, b, bias, -INF, INF), k, what)
            check(run(b, x, None, isa), reference(x, b, None, -INF, INF), k, what + " no bias")


@pytest.mark.parametrize("isa", ISAS)
@BLOCKS
@pytest.mark.parametrize("keep", [0.0, 1.0], ids=["all-zero", "dense"])
def test_bspmm_all_zero_and_fully_dense(keep: float, block, isa: str) -> None:
    rng = np.random.default_rng(7)
    n, k = 19, 37
    w = rand(rng, n, k) if keep else np.zeros((n, k), F32)
    b = BSR.from_dense(w, block)
    assert b.blocks == (0 if not keep else -(-n // block[0]) * -(-k // block[1]))
    x, bias = rand(rng, 6, k), rand(rng, n)
    check(run(b, x, bias, isa), reference(x, b, bias, -INF, INF), k, f"{block} {isa} keep={keep}")


@pytest.mark.parametrize("isa", ISAS)
@BLOCKS
def test_bspmm_empty_block_rows_give_clamped_bias(block, isa: str) -> None:
    rng = np.random.default_rng(3)
    n, k = 24, 12
    w = rand(rng, n, k)
    w[: 2 * block[0]] = 0.0  # the first two block rows are empty
    w[-block[0] :] = 0.0
    b = BSR.from_dense(w, block)
    x, bias = rand(rng, 5, k), rand(rng, n)
    got = run(b, x, bias, isa, ymin=-0.5, ymax=0.5)
    check(got, reference(x, b, bias, -0.5, 0.5), k, f"{block} {isa}")
    np.testing.assert_array_equal(
        got[:, : 2 * block[0]], np.clip(np.broadcast_to(bias[: 2 * block[0]], (5, 2 * block[0])), -0.5, 0.5)
    )


@pytest.mark.parametrize("isa", ISAS)
@BLOCKS
@pytest.mark.parametrize("m,n,k", [(0, 5, 8), (3, 0, 8), (3, 5, 0), (0, 0, 0)])
def test_bspmm_zero_sizes(m: int, n: int, k: int, block, isa: str) -> None:
    rng = np.random.default_rng(0)
    b = BSR.from_dense(np.zeros((n, k), F32), block)
    bias = rand(rng, n)
    got = run(b, rand(rng, m, k), bias, isa, ymin=-0.25, ymax=0.25)
    assert got.shape == (m, n)
    np.testing.assert_array_equal(got, np.broadcast_to(np.clip(bias, -0.25, 0.25), (m, n)))


@pytest.mark.parametrize("isa", ISAS)
@BLOCKS
def test_bspmm_clamp_hits_both_ends_nan_and_inf(block, isa: str) -> None:
    rng = np.random.default_rng(11)
    n, k, m = 21, 29, 9
    b = BSR.from_dense(block_sparse(rng, n, k, block, 0.7) * 4, block)
    x, bias = rand(rng, m, k), rand(rng, n)
    x[1, 3] = np.nan
    x[4, 10] = np.inf
    x[6, 28] = np.nan  # in the ragged last block column when k % C != 0
    ref = reference(x, b, bias, -1.0, 1.0)
    got = run(b, x, bias, isa, ymin=-1.0, ymax=1.0)
    assert (ref == -1.0).any() and (ref == 1.0).any() and np.isnan(ref).any(), "test data must hit both ends and NaN"
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg=f"{block} {isa}: NaN positions")
    check(got, ref, k, f"{block} {isa}")


@pytest.mark.parametrize("isa", ISAS)
@BLOCKS
def test_bspmm_unaligned_views(block, isa: str) -> None:
    def unaligned(a: np.ndarray) -> np.ndarray:
        buf = np.empty(a.size + 1, dtype=a.dtype)[1:]
        buf[...] = a.reshape(-1)
        assert buf.ctypes.data % 8 != 0
        return buf.reshape(a.shape)

    rng = np.random.default_rng(5)
    n, k, m = 18, 23, 6
    b = BSR.from_dense(block_sparse(rng, n, k, block, 0.6), block)
    x, bias = rand(rng, m, k), rand(rng, n)
    ub = BSR(b.shape, b.block, b.indptr, b.indices, unaligned(b.values))
    out = unaligned(np.zeros((m, n), F32))
    got = run(ub, unaligned(x), unaligned(bias), isa, out=out)
    assert got is out
    check(got, reference(x, b, bias, -INF, INF), k, f"{block} {isa} unaligned")


@pytest.mark.parametrize("isa", ISAS)
@BLOCKS
@pytest.mark.parametrize("index_dtype,block_cols", [(np.uint8, 256), (np.uint16, 65536), (np.int32, 65537)])
def test_bspmm_largest_block_column_index(index_dtype, block_cols: int, block, isa: str) -> None:
    """One block in the last block column the index type can address (ragged when k % C != 0)."""
    r, c = block
    k = block_cols * c - (c - 1)  # the last block column holds a single input column
    n = r + 1
    values = np.arange(1, 2 * r * c + 1, dtype=F32) / 8
    indptr = np.array([0, 2, 2], np.uint32)
    indices = np.array([0, block_cols - 1], index_dtype)
    b = BSR((n, k), block, indptr, indices, values)
    b.validate()
    x = np.random.default_rng(1).uniform(-1, 1, (5, k)).astype(F32)
    check(run(b, x, None, isa), reference(x, b, None, -INF, INF), 8, f"{block} {isa} {np.dtype(index_dtype).name}")


@pytest.mark.parametrize("isa", ISAS)
@BLOCKS
def test_bspmm_equals_csr_spmm(block, isa: str) -> None:
    """Same weights, same result as the CSR kernel (within float32 rounding)."""
    rng = np.random.default_rng(2)
    w = block_sparse(rng, 40, 70, block, 0.3)
    x = rand(rng, 7, 70)
    b, c = BSR.from_dense(w, block), CSR.from_dense(w)
    want = kernels.spmm(x, c.indptr, c.indices, c.values, isa=isa)
    np.testing.assert_allclose(run(b, x, None, isa), want, rtol=1e-5, atol=1e-5 * 70)


def _arrays(block=(8, 1), n=9, k=6):
    b = BSR.from_dense(np.ones((n, k), F32), block)
    return np.ones((2, k), F32), b.indptr, b.indices, b.values, n


def _bad(**changes):
    def call():
        x, indptr, indices, values, n = _arrays()
        args = dict(x=x, indptr=indptr, indices=indices, values=values, n=n, block=(8, 1))
        args.update(changes)
        return kernels.bspmm(**args)

    return call


_X, _P, _I, _V, _N = _arrays()


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (_bad(block=(2, 2)), ValueError, "block must be one of"),
        (_bad(block=8), TypeError, "block must be a pair"),
        (_bad(x=_X.astype(np.float64)), TypeError, "x must have dtype float32"),
        (_bad(x=_X[0]), ValueError, "x must be 2-D"),
        (_bad(x=np.ones((6, 2), F32).T), ValueError, "C-contiguous"),
        (_bad(x=[[1.0]]), TypeError, "numpy.ndarray"),
        (_bad(indptr=_P.astype(np.int64)), TypeError, "indptr must have dtype uint32"),
        (_bad(indptr=_P[:-1]), ValueError, "indptr must have 3 entries"),
        (_bad(indptr=np.array([1, 6, 12], np.uint32)), ValueError, "indptr\\[0\\] must be 0"),
        (_bad(indptr=np.array([0, 7, 6], np.uint32)), ValueError, "non-decreasing"),
        (_bad(indptr=np.array([0, 6, 11], np.uint32)), ValueError, "must equal len\\(indices\\)"),
        (_bad(indices=_I.astype(np.int64)), TypeError, "uint8, uint16 or int32"),
        (_bad(indices=np.array([0, 1, 2, 3, 4, 6] * 2, np.uint8)), ValueError, "out of range"),
        (_bad(indices=np.array([0, 1, 2, 4, 3, 5] * 2, np.uint8)), ValueError, "strictly ascending"),
        (_bad(indices=np.array([0, 1, 1, 3, 4, 5] * 2, np.uint8)), ValueError, "strictly ascending"),
        (_bad(values=_V[:-1]), ValueError, "values must have 8 \\* len\\(indices\\)"),
        (_bad(n=17), ValueError, "indptr must have 4 entries"),
        (_bad(n=-1), ValueError, "n must be a non-negative integer"),
        (_bad(n=9.0), ValueError, "n must be a non-negative integer"),
        (_bad(bias=np.ones(8, F32)), ValueError, "bias must have shape \\(9,\\)"),
        (_bad(ymin=1.0, ymax=0.0), ValueError, "ymin must be <= ymax"),
        (_bad(ymin=np.nan), ValueError, "must not be NaN"),
        (_bad(out=np.zeros((2, 8), F32)), ValueError, "out must have shape"),
        (_bad(out=_X), ValueError, "out must"),
        (_bad(isa="sse4"), ValueError, "no 'sse4' kernel"),
    ],
)
def test_bspmm_validation_errors(call, exc, match: str) -> None:
    with pytest.raises(exc, match=match):
        call()


def test_bspmm_out_sharing_an_input_is_rejected() -> None:
    x, indptr, indices, values, n = _arrays(n=2, k=8)
    big = np.zeros(2 * 8, F32)
    with pytest.raises(ValueError, match="out must not share memory with x"):
        kernels.bspmm(big.reshape(2, 8), indptr, indices, values, 2, (8, 1), out=big[:4].reshape(2, 2))


def test_bspmm_without_avx2_cpu_raises() -> None:
    kernels._pretend_cpu_lacks_avx2(True)
    try:
        with pytest.raises(RuntimeError, match="AVX2"):
            kernels.bspmm(_X, _P, _I, _V, _N, (8, 1), isa="avx2")
    finally:
        kernels._pretend_cpu_lacks_avx2(False)


# ------------------------------------------------------------------------------------ format


@BLOCKS
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (9, 13), (16, 32), (0, 5), (5, 0)])
def test_bsr_round_trip_and_validate(shape, block) -> None:
    rng = np.random.default_rng(0)
    w = block_sparse(rng, *shape, block, 0.5) if min(shape) else np.zeros(shape, F32)
    b = BSR.from_dense(w, block)
    b.validate()
    np.testing.assert_array_equal(b.to_dense(), w)
    assert b.indptr.dtype == np.uint32 and b.indptr.shape == (-(-shape[0] // block[0]) + 1,)
    assert b.values.shape == (b.blocks * block[0] * block[1],)
    assert b.nnz == np.count_nonzero(w)


@pytest.mark.parametrize(
    "k,block,dtype",
    [
        (1024, (1, 4), np.uint8),
        (1025, (1, 4), np.uint16),
        (256, (8, 1), np.uint8),
        (257, (4, 1), np.uint16),
        (4 * 65536, (1, 4), np.uint16),
        (65537, (8, 1), np.int32),
    ],
)
def test_bsr_narrowest_block_index(k: int, block, dtype) -> None:
    w = np.zeros((block[0], k), F32)
    w[0, -1] = 1.0
    b = BSR.from_dense(w, block)
    assert b.indices.dtype == dtype and int(b.indices[-1]) == -(-k // block[1]) - 1


def test_bsr_validate_rejects_bad_arrays() -> None:
    b = BSR.from_dense(np.ones((8, 8), F32), (4, 1))
    good = dict(shape=b.shape, block=b.block, indptr=b.indptr, indices=b.indices, values=b.values)
    bad = [
        dict(indptr=b.indptr.astype(np.int32)),
        dict(indptr=b.indptr[:-1]),
        dict(indices=b.indices[::-1].copy()),
        dict(indices=np.where(b.indices == 7, 8, b.indices).astype(np.uint8)),
        dict(values=b.values[:-1]),
        dict(block=(0, 1)),
    ]
    for change in bad:
        with pytest.raises(ValueError):
            BSR(**{**good, **change}).validate()


def test_is_block_structured() -> None:
    w = np.zeros((8, 8), F32)
    w[0:4, 4:5] = 1.0  # one full 4x1 block column segment
    assert is_block_structured(w, (4, 1))
    assert not is_block_structured(w, (8, 1))
    assert not is_block_structured(w, (1, 4))
    w[0, 0] = 2.0
    assert not is_block_structured(w, (4, 1))
    ragged = np.ones((5, 6), F32)  # edge blocks count only their part inside the matrix
    assert all(is_block_structured(ragged, blk) for blk in BLOCK_SHAPES)
    with pytest.raises(ValueError):
        is_block_structured(np.ones(3), (1, 4))


@BLOCKS
def test_block_pruned_layers_pack_without_padding(block) -> None:
    """sparsec.prune(granularity="block", block=...) makes exactly the blocks the kernels take:
    every layer packs into BSR with no stored zero, and the block kernel equals the dense layer."""
    from models import mlp

    model = sparsec.load(mlp([32, 24, 16, 8], form="gemm", seed=4))  # shapes divide 1x4 / 4x1 / 8x1
    pruned = sparsec.prune(model, 0.75, granularity="block", block=block)
    graph = pruned.graph
    rng = np.random.default_rng(0)
    for layer in layers(graph):
        w = np.ascontiguousarray(to_matrix(layer, graph.constants[layer.weight]), dtype=F32)
        assert is_block_structured(w, block), layer.name
        b = BSR.from_dense(w, block)
        assert b.padding == 0, f"{layer.name}: {b.padding} stored zeros"
        assert b.blocks * block[0] * block[1] == np.count_nonzero(w) == round(0.25 * w.size)
        x = rand(rng, 3, w.shape[1])
        for isa in kernels.available_isas():
            got = run(b, x, None, isa)
            np.testing.assert_allclose(got, x.astype(np.float64) @ w.T.astype(np.float64), rtol=1e-5, atol=1e-4)
