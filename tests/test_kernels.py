"""The C kernels (csrc/) of every ISA through sparsec.kernels, checked against float64 NumPy.

The ISAs come from the kernel table (sparsec.codegen.kernels.KERNELS); each edge-case test
runs once per ISA of its family, and ISAs this CPU lacks are skipped. SIMD kernels are also
checked against the scalar kernel (bit for bit for the elementwise ones, within float32
reassociation for gemm/spmm).

The scalar kernels are the reference every SIMD kernel and every generated model is checked
against, so they get the full edge-case sweep: k = 1, sizes below/at/above the unroll width,
empty rows, all-zero and fully dense CSR, clamps hitting both ends, NaN, unaligned views,
index-type limits, in-place aliasing, every validation error, and a strict compile of every
C file.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from conftest import STRICT_CFLAGS

from sparsec import kernels
from sparsec.codegen.kernels import ISA_CFLAGS, KERNELS

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "csrc"
C_FILES = sorted(CSRC.glob("*/*.c"))

# Below, at and above the 4-wide unroll and typical SIMD widths (4, 8, 16).
SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33]
INDEX_DTYPES = [np.uint8, np.uint16, np.int32]
F32 = np.float32
INF = float("inf")


# --------------------------------------------------------------------------- helpers


def isa_params(family: str) -> list:
    """The family's ISAs from the kernel table; those this CPU cannot run are skipped."""
    return [
        pytest.param(
            isa, id=isa, marks=[] if kernels.isa_supported(isa) else [pytest.mark.skip(reason=f"no {isa} CPU")]
        )
        for isa in KERNELS[family].isas
    ]


GEMM_ISAS = isa_params("f32-gemm")
SPMM_ISAS = isa_params("f32-spmm-i32")
VBIAS_ISAS = isa_params("f32-vbias")
VADD_ISAS = isa_params("f32-vadd")
CLAMP_ISAS = isa_params("f32-clamp")


class on:  # noqa: N801 - reads as `on(isa).gemm(...)`
    """sparsec.kernels with every call pinned to one ISA."""

    def __init__(self, isa: str) -> None:
        self.isa = isa

    def __getattr__(self, name: str) -> Callable:
        fn = getattr(kernels, name)
        return lambda *args, **kw: fn(*args, isa=self.isa, **kw)


def rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """float32 uniform in [-1, 1) with no exact zeros (so 'dense' really is dense)."""
    a = np.array(rng.uniform(-1.0, 1.0, size=shape), dtype=F32)
    a[a == 0] = 0.5
    return a


def csr(dense: np.ndarray, index_dtype: type) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR (indptr uint32, indices of index_dtype, values float32) of a dense [n, k] matrix."""
    rows, cols = np.nonzero(dense)
    counts = np.bincount(rows, minlength=dense.shape[0])
    indptr = np.zeros(dense.shape[0] + 1, dtype=np.uint32)
    np.cumsum(counts, out=indptr[1:])
    return indptr, cols.astype(index_dtype), dense[rows, cols].astype(F32)


def unaligned(a: np.ndarray) -> np.ndarray:
    """Copy of `a` in a C-contiguous float32 view starting one element into its buffer."""
    buf = np.empty(a.size + 1, dtype=F32)[1:]
    buf[...] = a.reshape(-1)
    view = buf.reshape(a.shape)
    assert view.ctypes.data % 8 == 4, "numpy buffers are at least 8-byte aligned"
    return view


def matmul_ref(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, lo: float, hi: float):
    ref = x.astype(np.float64) @ w.astype(np.float64).T
    if bias is not None:
        ref += bias
    return np.clip(ref, lo, hi)


def assert_close(got: np.ndarray, ref: np.ndarray, k: int, what: str) -> None:
    # float32 accumulation over k terms of magnitude <= 1.
    assert got.dtype == F32, what
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != {ref.shape}"
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * max(k, 1), err_msg=what)


def softmax_ref(x: np.ndarray) -> np.ndarray:
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------- gemm


@pytest.mark.parametrize("isa", GEMM_ISAS)
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("k", SIZES, ids=lambda v: f"k{v}")
@pytest.mark.parametrize("n", SIZES, ids=lambda v: f"n{v}")
@pytest.mark.parametrize("m", [1, 3], ids=lambda v: f"m{v}")
def test_gemm_matches_numpy(m: int, n: int, k: int, with_bias: bool, isa: str) -> None:
    kern = on(isa)
    rng = np.random.default_rng([m, n, k])
    x, w, b = rand(rng, m, k), rand(rng, n, k), rand(rng, n)
    bias = b if with_bias else None
    got = kern.gemm(x, w, bias)
    assert_close(got, matmul_ref(x, w, bias, -INF, INF), k, f"gemm m={m} n={n} k={k}")


@pytest.mark.parametrize("isa", GEMM_ISAS)
@pytest.mark.parametrize("m,n,k", [(0, 3, 4), (2, 0, 4), (2, 3, 0), (0, 0, 0)])
def test_gemm_zero_sizes(m: int, n: int, k: int, isa: str) -> None:
    kern = on(isa)
    rng = np.random.default_rng(0)
    x, w, b = rand(rng, m, k), rand(rng, n, k), rand(rng, n)
    got = kern.gemm(x, w, b, ymin=-0.25, ymax=0.25)
    # k == 0: the product is empty, so y is clamp(bias) on every row.
    assert_close(got, matmul_ref(x, w, b, -0.25, 0.25), 1, f"gemm m={m} n={n} k={k}")


@pytest.mark.parametrize("isa", GEMM_ISAS)
@pytest.mark.parametrize("m,n,k", [(1, 9, 17), (5, 7, 33)])
def test_gemm_clamp_hits_both_ends(m: int, n: int, k: int, isa: str) -> None:
    kern = on(isa)
    rng = np.random.default_rng(1)
    x, w, b = rand(rng, m, k), rand(rng, n, k), rand(rng, n)
    lo, hi = -0.5, 0.5
    ref = matmul_ref(x, w, b, -INF, INF)
    assert (ref < lo).any() and (ref > hi).any(), "test data must exceed both bounds"
    got = kern.gemm(x, w, b, ymin=lo, ymax=hi)
    what = f"gemm m={m} n={n} k={k} clamp [{lo}, {hi}]"
    assert (got[ref < lo] == F32(lo)).all(), what
    assert (got[ref > hi] == F32(hi)).all(), what
    assert_close(got, np.clip(ref, lo, hi), k, what)


@pytest.mark.parametrize("isa", GEMM_ISAS)
def test_gemm_relu_bounds_and_nan(isa: str) -> None:
    kern = on(isa)
    x = np.array([[1.0, np.nan], [1.0, 2.0]], dtype=F32)
    w = np.array([[1.0, 1.0], [-1.0, -1.0]], dtype=F32)
    got = kern.gemm(x, w, ymin=0.0)
    assert np.isnan(got[0]).all(), "gemm: NaN in x must reach every output of its row"
    np.testing.assert_array_equal(got[1], [3.0, 0.0])


@pytest.mark.parametrize("isa", GEMM_ISAS)
@pytest.mark.parametrize("m,n,k", [(1, 5, 9), (3, 17, 4)])
def test_gemm_unaligned(m: int, n: int, k: int, isa: str) -> None:
    kern = on(isa)
    rng = np.random.default_rng(2)
    x, w, b = unaligned(rand(rng, m, k)), unaligned(rand(rng, n, k)), unaligned(rand(rng, n))
    out = unaligned(np.zeros((m, n), F32))
    got = kern.gemm(x, w, b, out=out)
    assert got is out
    assert_close(got, matmul_ref(x, w, b, -INF, INF), k, f"gemm unaligned m={m} n={n} k={k}")


def test_gemm_out_is_filled_and_returned() -> None:
    rng = np.random.default_rng(3)
    x, w = rand(rng, 2, 5), rand(rng, 3, 5)
    out = np.full((2, 3), np.nan, dtype=F32)
    assert kernels.gemm(x, w, out=out) is out
    assert_close(out, matmul_ref(x, w, None, -INF, INF), 5, "gemm out=")


def test_gemm_accepts_readonly_inputs() -> None:
    rng = np.random.default_rng(4)
    x, w = rand(rng, 2, 5), rand(rng, 3, 5)
    x.flags.writeable = False
    w.flags.writeable = False
    assert_close(kernels.gemm(x, w), matmul_ref(x, w, None, -INF, INF), 5, "gemm read-only")


# --------------------------------------------------------------------------- spmm


def sparse_weights(rng: np.random.Generator, n: int, k: int, density: float) -> np.ndarray:
    """[n, k] weights with the given density; every third row is empty when density < 1."""
    w = rand(rng, n, k)
    w[rng.random((n, k)) >= density] = 0.0
    if density < 1.0:
        w[::3] = 0.0
    return w


@pytest.mark.parametrize("isa", SPMM_ISAS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("k", [1, 4, 9, 17, 33], ids=lambda v: f"k{v}")
@pytest.mark.parametrize("n", SIZES, ids=lambda v: f"n{v}")
@pytest.mark.parametrize("m", [1, 3], ids=lambda v: f"m{v}")
def test_spmm_matches_numpy(m: int, n: int, k: int, index_dtype: type, isa: str) -> None:
    kern = on(isa)
    rng = np.random.default_rng([m, n, k])
    x, b = rand(rng, m, k), rand(rng, n)
    for density in (0.0, 0.3, 1.0):  # all-zero (nnz 0), sparse with empty rows, fully dense
        w = sparse_weights(rng, n, k, density)
        indptr, indices, values = csr(w, index_dtype)
        if density == 1.0:
            assert indices.size == n * k
        for bias in (b, None):
            what = (
                f"spmm_{np.dtype(index_dtype).name} m={m} n={n} k={k} density={density} "
                f"nnz={indices.size} bias={bias is not None}"
            )
            got = kern.spmm(x, indptr, indices, values, bias)
            assert_close(got, matmul_ref(x, w, bias, -INF, INF), k, what)


@pytest.mark.parametrize("isa", SPMM_ISAS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES, ids=lambda d: np.dtype(d).name)
def test_spmm_empty_rows_give_clamped_bias(index_dtype: type, isa: str) -> None:
    kern = on(isa)
    n, k = 6, 5
    w = np.zeros((n, k), F32)
    w[2, 4] = 1.0
    indptr, indices, values = csr(w, index_dtype)
    bias = np.array([-2.0, -0.5, 0.0, 0.5, 2.0, 1.0], F32)
    x = np.ones((2, k), F32)
    got = kern.spmm(x, indptr, indices, values, bias, ymin=-1.0, ymax=1.0)
    expect = np.array([-1.0, -0.5, 1.0, 0.5, 1.0, 1.0], F32)
    for i in range(2):
        np.testing.assert_array_equal(got[i], expect, err_msg=f"spmm row {i} n={n} k={k}")


@pytest.mark.parametrize("isa", SPMM_ISAS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES, ids=lambda d: np.dtype(d).name)
def test_spmm_zero_sizes(index_dtype: type, isa: str) -> None:
    kern = on(isa)
    x = np.ones((3, 4), F32)
    empty_idx, empty_val = np.zeros(0, index_dtype), np.zeros(0, F32)
    # n == 0: indptr is [0].
    got = kern.spmm(x, np.zeros(1, np.uint32), empty_idx, empty_val)
    assert got.shape == (3, 0)
    # m == 0
    got = kern.spmm(np.ones((0, 4), F32), np.zeros(3, np.uint32), empty_idx, empty_val)
    assert got.shape == (0, 2)
    # k == 0: only empty rows are possible.
    b = np.array([0.5, -0.5], F32)
    got = kern.spmm(np.ones((2, 0), F32), np.zeros(3, np.uint32), empty_idx, empty_val, b)
    np.testing.assert_array_equal(got, np.tile(b, (2, 1)))


@pytest.mark.parametrize("isa", SPMM_ISAS)
@pytest.mark.parametrize(
    "index_dtype,k",
    [(np.uint8, 256), (np.uint16, 65536), (np.int32, 70001)],
    ids=["uint8-k256", "uint16-k65536", "int32-k70001"],
)
def test_spmm_largest_column_index(index_dtype: type, k: int, isa: str) -> None:
    kern = on(isa)
    rng = np.random.default_rng(k)
    x = rand(rng, 2, k)
    w = np.zeros((3, k), F32)
    w[0, k - 1] = 2.0  # the largest legal index for the type (or beyond uint16 for int32)
    w[1, 0] = -1.0
    w[1, k - 1] = 0.5
    w[2, k // 2] = 1.0
    indptr, indices, values = csr(w, index_dtype)
    assert int(indices.max()) == k - 1
    got = kern.spmm(x, indptr, indices, values)
    assert_close(got, matmul_ref(x, w, None, -INF, INF), 2, f"spmm_{index_dtype.__name__} k={k}")


@pytest.mark.parametrize("isa", SPMM_ISAS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES, ids=lambda d: np.dtype(d).name)
def test_spmm_clamp_hits_both_ends(index_dtype: type, isa: str) -> None:
    kern = on(isa)
    rng = np.random.default_rng(5)
    m, n, k = 4, 17, 33
    x, b = rand(rng, m, k), rand(rng, n)
    w = sparse_weights(rng, n, k, 0.5)
    lo, hi = -0.5, 0.5
    ref = matmul_ref(x, w, b, -INF, INF)
    assert (ref < lo).any() and (ref > hi).any(), "test data must exceed both bounds"
    got = kern.spmm(x, *csr(w, index_dtype), b, ymin=lo, ymax=hi)
    what = f"spmm_{np.dtype(index_dtype).name} m={m} n={n} k={k} clamp [{lo}, {hi}]"
    assert (got[ref < lo] == F32(lo)).all(), what
    assert (got[ref > hi] == F32(hi)).all(), what
    assert_close(got, np.clip(ref, lo, hi), k, what)


@pytest.mark.parametrize("isa", SPMM_ISAS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES, ids=lambda d: np.dtype(d).name)
def test_spmm_unaligned(index_dtype: type, isa: str) -> None:
    kern = on(isa)
    rng = np.random.default_rng(6)
    m, n, k = 3, 9, 17
    x, b = unaligned(rand(rng, m, k)), unaligned(rand(rng, n))
    w = sparse_weights(rng, n, k, 0.4)
    indptr, indices, values = csr(w, index_dtype)
    out = unaligned(np.zeros((m, n), F32))
    got = kern.spmm(x, indptr, indices, unaligned(values), b, out=out)
    assert got is out
    assert_close(got, matmul_ref(x, w, b, -INF, INF), k, f"spmm unaligned m={m} n={n} k={k}")


@pytest.mark.parametrize("isa", SPMM_ISAS)
def test_spmm_matches_gemm_on_same_weights(isa: str) -> None:
    """The sparse and dense kernels agree: sparsify may pick either for a layer."""
    kern = on(isa)
    rng = np.random.default_rng(7)
    x, b = rand(rng, 5, 33), rand(rng, 16)
    w = sparse_weights(rng, 16, 33, 0.25)
    dense = kern.gemm(x, w, b, ymin=0.0)
    for index_dtype in INDEX_DTYPES:
        sparse = kern.spmm(x, *csr(w, index_dtype), b, ymin=0.0)
        np.testing.assert_allclose(sparse, dense, rtol=1e-5, atol=1e-5, err_msg=str(index_dtype))


# --------------------------------------------------------------------------- vbias


@pytest.mark.parametrize("isa", VBIAS_ISAS)
@pytest.mark.parametrize("n", SIZES, ids=lambda v: f"n{v}")
@pytest.mark.parametrize("m", [1, 3], ids=lambda v: f"m{v}")
def test_vbias_matches_numpy(m: int, n: int, isa: str) -> None:
    kern = on(isa)
    rng = np.random.default_rng([m, n])
    x, b = rand(rng, m, n), rand(rng, n)
    for lo, hi in ((-INF, INF), (0.0, INF), (-0.25, 0.25)):
        got = kern.vbias(x, b, ymin=lo, ymax=hi)
        ref = np.clip(x.astype(np.float64) + b, lo, hi)
        assert_close(got, ref, 1, f"vbias m={m} n={n} clamp [{lo}, {hi}]")


@pytest.mark.parametrize("isa", VBIAS_ISAS)
def test_vbias_in_place_and_unaligned(isa: str) -> None:
    kern = on(isa)
    rng = np.random.default_rng(8)
    x, b = unaligned(rand(rng, 3, 17)), unaligned(rand(rng, 17))
    ref = np.clip(x.astype(np.float64) + b, -0.5, 0.5)
    assert (ref == -0.5).any() and (ref == 0.5).any()
    got = kern.vbias(x, b, ymin=-0.5, ymax=0.5, out=x)
    assert got is x
    assert_close(x, ref, 1, "vbias in place m=3 n=17")


@pytest.mark.parametrize("isa", VBIAS_ISAS)
def test_vbias_zero_sizes(isa: str) -> None:
    kern = on(isa)
    assert kern.vbias(np.ones((0, 3), F32), np.ones(3, F32)).shape == (0, 3)
    assert kern.vbias(np.ones((2, 0), F32), np.ones(0, F32)).shape == (2, 0)


# --------------------------------------------------------------------------- vadd

VADD_SHAPES = [(n,) for n in SIZES] + [(), (0,), (3, 5), (2, 3, 4)]


@pytest.mark.parametrize("isa", VADD_ISAS)
@pytest.mark.parametrize("shape", VADD_SHAPES, ids=lambda s: "x".join(map(str, s)) or "scalar")
def test_vadd_matches_numpy(shape: tuple[int, ...], isa: str) -> None:
    kern = on(isa)
    rng = np.random.default_rng(len(shape) * 100 + sum(shape))
    a, b = rand(rng, *shape), rand(rng, *shape)
    for lo, hi in ((-INF, INF), (0.0, INF), (-0.5, 0.5)):
        got = kern.vadd(a, b, ymin=lo, ymax=hi)
        ref = np.clip(a.astype(np.float64) + b, lo, hi)
        assert_close(got, ref, 1, f"vadd shape={shape} clamp [{lo}, {hi}]")


@pytest.mark.parametrize("isa", VADD_ISAS)
@pytest.mark.parametrize("alias", ["a", "b", "both"])
def test_vadd_in_place(alias: str, isa: str) -> None:
    kern = on(isa)
    rng = np.random.default_rng(9)
    a, b = rand(rng, 4, 9), rand(rng, 4, 9)
    if alias == "both":
        b = a
    ref = np.clip(a.astype(np.float64) + b, -1.0, 1.0)
    target = b if alias == "b" else a
    got = kern.vadd(a, b, ymin=-1.0, ymax=1.0, out=target)
    assert got is target
    assert_close(got, ref, 1, f"vadd in place out={alias} shape=(4, 9)")


@pytest.mark.parametrize("isa", VADD_ISAS)
def test_vadd_nan_and_unaligned(isa: str) -> None:
    kern = on(isa)
    a = unaligned(np.array([1.0, np.nan, 2.0, -3.0, np.nan], F32))
    b = unaligned(np.array([1.0, 1.0, np.nan, 5.0, -np.inf], F32))
    got = kern.vadd(a, b, ymin=0.0, ymax=1.0)
    np.testing.assert_array_equal(got, [1.0, np.nan, np.nan, 1.0, np.nan], err_msg="vadd NaN")


# --------------------------------------------------------------------------- clamp / relu

CLAMP_BOUNDS = [(-INF, INF), (0.0, INF), (0.0, 6.0), (-0.5, 0.5), (0.25, 0.25)]


@pytest.mark.parametrize("isa", CLAMP_ISAS)
@pytest.mark.parametrize("bounds", CLAMP_BOUNDS, ids=lambda b: f"[{b[0]},{b[1]}]")
@pytest.mark.parametrize("n", SIZES + [0], ids=lambda v: f"n{v}")
def test_clamp_matches_numpy(n: int, bounds: tuple[float, float], isa: str) -> None:
    kern = on(isa)
    rng = np.random.default_rng(n)
    x = rand(rng, n) * 8.0
    lo, hi = bounds
    got = kern.clamp(x, lo, hi)
    # Clamping is exact: no tolerance.
    np.testing.assert_array_equal(got, np.clip(x, lo, hi), err_msg=f"clamp n={n} [{lo}, {hi}]")


@pytest.mark.parametrize("isa", CLAMP_ISAS)
def test_clamp_hits_both_ends_nan_and_infinities(isa: str) -> None:
    kern = on(isa)
    x = np.array([-np.inf, -7.0, -0.5, 0.0, 0.5, 7.0, np.inf, np.nan], F32)
    got = kern.clamp(x, -1.0, 1.0)
    np.testing.assert_array_equal(got, [-1, -1, -0.5, 0, 0.5, 1, 1, np.nan], err_msg="clamp")
    np.testing.assert_array_equal(kern.clamp(x, -INF, INF), x, err_msg="clamp no-op")


@pytest.mark.parametrize("isa", CLAMP_ISAS)
def test_relu_nan_negative_zero_and_in_place(isa: str) -> None:
    kern = on(isa)
    x = unaligned(np.array([[-1.0, np.nan, -0.0], [2.0, -np.inf, np.inf]], F32))
    got = kern.relu(x, out=x)
    assert got is x
    np.testing.assert_array_equal(x, [[0.0, np.nan, 0.0], [2.0, 0.0, np.inf]], err_msg="relu")
    assert np.signbit(x[0, 2]), "relu: -0.0 passes through (comparison clamp)"


@pytest.mark.parametrize("isa", CLAMP_ISAS)
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (2, 3, 4), (0, 3)])
def test_clamp_and_relu_any_shape_in_place(shape: tuple[int, ...], isa: str) -> None:
    kern = on(isa)
    rng = np.random.default_rng(sum(shape))
    x = rand(rng, *shape)
    ref_clamp, ref_relu = np.clip(x, -0.5, 0.25), np.maximum(x, 0.0)
    y = x.copy()
    assert kern.clamp(y, -0.5, 0.25, out=y) is y
    np.testing.assert_array_equal(y, ref_clamp, err_msg=f"clamp shape={shape}")
    y = x.copy()
    assert kern.relu(y, out=y) is y
    np.testing.assert_array_equal(y, ref_relu, err_msg=f"relu shape={shape}")


# --------------------------------------------------------------------------- softmax


@pytest.mark.parametrize("n", SIZES, ids=lambda v: f"n{v}")
@pytest.mark.parametrize("m", [1, 3], ids=lambda v: f"m{v}")
def test_softmax_matches_numpy(m: int, n: int) -> None:
    rng = np.random.default_rng([m, n])
    x = rand(rng, m, n) * 10.0
    got = kernels.softmax(x)
    what = f"softmax m={m} n={n}"
    np.testing.assert_allclose(got, softmax_ref(x), rtol=1e-5, atol=1e-7, err_msg=what)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5, err_msg=what)


def test_softmax_large_values_in_place_unaligned() -> None:
    # Without subtracting the max, expf(1000) would overflow to inf (max first, equal, last).
    rows = [[1000.0, 999.0, 998.0], [-1000.0, -1000.0, -1000.0], [-1000.0, 0.0, 100.0]]
    x = unaligned(np.array(rows, F32))
    ref = softmax_ref(x)
    got = kernels.softmax(x, out=x)
    assert got is x
    np.testing.assert_allclose(x, ref, rtol=1e-5, atol=1e-7, err_msg="softmax large values")


def test_softmax_nan_stays_in_its_row() -> None:
    x = np.array([[0.0, np.nan, 1.0], [0.0, 1.0, 2.0], [np.nan, 0.0, 0.0]], F32)
    got = kernels.softmax(x)
    assert np.isnan(got[0]).all() and np.isnan(got[2]).all(), "softmax: NaN row"
    np.testing.assert_allclose(got[1], softmax_ref(x[1:2])[0], rtol=1e-5, err_msg="softmax")


def test_softmax_zero_sizes() -> None:
    assert kernels.softmax(np.ones((0, 4), F32)).shape == (0, 4)
    assert kernels.softmax(np.ones((3, 0), F32)).shape == (3, 0)


# --------------------------------------------------------------------------- validation


def _gemm_args() -> dict:
    return {"x": np.ones((2, 3), F32), "w": np.ones((4, 3), F32), "bias": np.ones(4, F32)}


def _spmm_args(index_dtype: type = np.uint8) -> dict:
    w = np.array([[1, 0, 2], [0, 0, 0], [0, 3, 0], [4, 5, 6]], F32)
    indptr, indices, values = csr(w, index_dtype)
    return {
        "x": np.ones((2, 3), F32),
        "indptr": indptr,
        "indices": indices,
        "values": values,
        "bias": np.ones(4, F32),
    }


def _with(base: dict, **changes) -> dict:
    args = dict(base)
    args.update(changes)
    return args


def _readonly(shape: tuple[int, ...]) -> np.ndarray:
    a = np.zeros(shape, F32)
    a.flags.writeable = False
    return a


def _indptr(values: list[int]) -> np.ndarray:
    return np.array(values, np.uint32)


SPMM = _spmm_args()
GEMM = _gemm_args()
X23 = np.ones((2, 3), F32)
# (id, kernel, kwargs, exception, message regex)
BAD_CALLS: list[tuple[str, Callable, dict, type, str]] = [
    # gemm
    ("gemm-x-float64", kernels.gemm, _with(GEMM, x=np.ones((2, 3))), TypeError, "x must have dtype float32"),
    ("gemm-x-list", kernels.gemm, _with(GEMM, x=[[1.0, 2.0, 3.0]]), TypeError, "x must be a numpy.ndarray"),
    ("gemm-x-bigendian", kernels.gemm, _with(GEMM, x=np.ones((2, 3), ">f4")), TypeError, "x must have dtype float32"),
    ("gemm-w-int32", kernels.gemm, _with(GEMM, w=np.ones((4, 3), np.int32)), TypeError, "w must have dtype"),
    ("gemm-bias-float16", kernels.gemm, _with(GEMM, bias=np.ones(4, np.float16)), TypeError, "bias must have dtype"),
    ("gemm-x-1d", kernels.gemm, _with(GEMM, x=np.ones(3, F32)), ValueError, r"x must be 2-D, got 1-D"),
    ("gemm-w-3d", kernels.gemm, _with(GEMM, w=np.ones((4, 3, 1), F32)), ValueError, "w must be 2-D"),
    ("gemm-k-mismatch", kernels.gemm, _with(GEMM, w=np.ones((4, 5), F32)), ValueError, r"w must have shape \(n, 3\)"),
    ("gemm-bias-len", kernels.gemm, _with(GEMM, bias=np.ones(5, F32)), ValueError, r"bias must have shape \(4,\)"),
    ("gemm-bias-2d", kernels.gemm, _with(GEMM, bias=np.ones((1, 4), F32)), ValueError, "bias must be 1-D"),
    ("gemm-x-strided", kernels.gemm, _with(GEMM, x=np.ones((2, 6), F32)[:, ::2]), ValueError, "x .* must be C-contiguous"),
    ("gemm-w-fortran", kernels.gemm, _with(GEMM, w=np.asfortranarray(np.ones((4, 3), F32))), ValueError, "C-contiguous"),
    ("gemm-out-shape", kernels.gemm, _with(GEMM, out=np.ones((4, 2), F32)), ValueError, r"out must have shape \(2, 4\)"),
    ("gemm-out-dtype", kernels.gemm, _with(GEMM, out=np.ones((2, 4))), TypeError, "out must have dtype float32"),
    ("gemm-out-readonly", kernels.gemm, _with(GEMM, out=_readonly((2, 4))), ValueError, "out must be writable"),
    ("gemm-out-strided", kernels.gemm, _with(GEMM, out=np.ones((2, 8), F32)[:, ::2]), ValueError, "C-contiguous"),
    ("gemm-ymin-gt-ymax", kernels.gemm, _with(GEMM, ymin=1.0, ymax=0.0), ValueError, "ymin must be <= ymax"),
    ("gemm-ymax-nan", kernels.gemm, _with(GEMM, ymax=float("nan")), ValueError, "must not be NaN"),
    # spmm: types
    ("spmm-x-float64", kernels.spmm, _with(SPMM, x=np.ones((2, 3))), TypeError, "x must have dtype float32"),
    ("spmm-indptr-int64", kernels.spmm, _with(SPMM, indptr=SPMM["indptr"].astype(np.int64)), TypeError, "indptr must have dtype uint32"),
    ("spmm-indptr-list", kernels.spmm, _with(SPMM, indptr=[0, 2, 2, 3, 6]), TypeError, "indptr must be a numpy.ndarray"),
    ("spmm-indices-int64", kernels.spmm, _with(SPMM, indices=SPMM["indices"].astype(np.int64)), TypeError, "uint8, uint16 or int32"),
    ("spmm-indices-uint32", kernels.spmm, _with(SPMM, indices=SPMM["indices"].astype(np.uint32)), TypeError, "uint8, uint16 or int32"),
    ("spmm-indices-float32", kernels.spmm, _with(SPMM, indices=SPMM["indices"].astype(F32)), TypeError, "uint8, uint16 or int32"),
    ("spmm-indices-list", kernels.spmm, _with(SPMM, indices=[0, 2, 1, 0, 1, 2]), TypeError, "indices must be a numpy.ndarray"),
    ("spmm-values-float64", kernels.spmm, _with(SPMM, values=SPMM["values"].astype(np.float64)), TypeError, "values must have dtype float32"),
    ("spmm-bias-int32", kernels.spmm, _with(SPMM, bias=np.ones(4, np.int32)), TypeError, "bias must have dtype float32"),
    # spmm: shapes and layout
    ("spmm-x-1d", kernels.spmm, _with(SPMM, x=np.ones(3, F32)), ValueError, "x must be 2-D"),
    ("spmm-indptr-2d", kernels.spmm, _with(SPMM, indptr=SPMM["indptr"].reshape(1, -1)), ValueError, "indptr must be 1-D"),
    ("spmm-indices-strided", kernels.spmm, _with(SPMM, indices=np.repeat(SPMM["indices"], 2)[::2]), ValueError, "indices .* must be C-contiguous"),
    ("spmm-values-len", kernels.spmm, _with(SPMM, values=np.ones(5, F32)), ValueError, "same length"),
    ("spmm-bias-len", kernels.spmm, _with(SPMM, bias=np.ones(3, F32)), ValueError, r"bias must have shape \(4,\)"),
    ("spmm-out-shape", kernels.spmm, _with(SPMM, out=np.ones((2, 3), F32)), ValueError, r"out must have shape \(2, 4\)"),
    # spmm: CSR structure
    ("spmm-indptr-empty", kernels.spmm, _with(SPMM, indptr=_indptr([])), ValueError, "n \\+ 1 >= 1"),
    ("spmm-indptr0-nonzero", kernels.spmm, _with(SPMM, indptr=_indptr([1, 2, 2, 3, 6])), ValueError, r"indptr\[0\] must be 0"),
    ("spmm-indptr-decreasing", kernels.spmm, _with(SPMM, indptr=_indptr([0, 3, 2, 3, 6])), ValueError, "non-decreasing"),
    ("spmm-indptr-short-nnz", kernels.spmm, _with(SPMM, indptr=_indptr([0, 2, 2, 3, 5])), ValueError, r"indptr\[n\]"),
    ("spmm-indptr-long-nnz", kernels.spmm, _with(SPMM, indptr=_indptr([0, 2, 2, 3, 7])), ValueError, r"indptr\[n\]"),
    ("spmm-index-eq-k-u8", kernels.spmm, _with(SPMM, indices=np.array([0, 3, 1, 0, 1, 2], np.uint8)), ValueError, r"indices\[1\] = 3 \(row 0\) is out of range"),
    ("spmm-index-eq-k-u16", kernels.spmm, _with(SPMM, indices=np.array([0, 2, 1, 0, 1, 3], np.uint16)), ValueError, r"indices\[5\] = 3 \(row 3\)"),
    ("spmm-index-big-i32", kernels.spmm, _with(SPMM, indices=np.array([0, 2, 2**31 - 1, 0, 1, 2], np.int32)), ValueError, r"indices\[2\] .* \(row 2\)"),
    ("spmm-index-negative-i32", kernels.spmm, _with(SPMM, indices=np.array([0, 2, 1, -1, 1, 2], np.int32)), ValueError, r"indices\[3\] = -1 \(row 3\)"),
    ("spmm-ymin-nan", kernels.spmm, _with(SPMM, ymin=float("nan")), ValueError, "must not be NaN"),
    # vbias
    ("vbias-x-float64", kernels.vbias, {"x": np.ones((2, 3)), "bias": np.ones(3, F32)}, TypeError, "x must have dtype float32"),
    ("vbias-bias-len", kernels.vbias, {"x": X23, "bias": np.ones(2, F32)}, ValueError, r"bias must have shape \(3,\)"),
    ("vbias-x-1d", kernels.vbias, {"x": np.ones(3, F32), "bias": np.ones(3, F32)}, ValueError, "x must be 2-D"),
    ("vbias-x-strided", kernels.vbias, {"x": np.ones((2, 6), F32)[:, ::2], "bias": np.ones(3, F32)}, ValueError, "C-contiguous"),
    ("vbias-out-shape", kernels.vbias, {"x": X23, "bias": np.ones(3, F32), "out": np.ones((3, 2), F32)}, ValueError, "out must have shape"),
    # vadd
    ("vadd-b-float64", kernels.vadd, {"a": X23, "b": np.ones((2, 3))}, TypeError, "b must have dtype float32"),
    ("vadd-shape-mismatch", kernels.vadd, {"a": X23, "b": np.ones((3, 2), F32)}, ValueError, "same shape"),
    ("vadd-no-broadcast", kernels.vadd, {"a": X23, "b": np.ones(3, F32)}, ValueError, "no broadcasting"),
    ("vadd-a-strided", kernels.vadd, {"a": np.ones(8, F32)[::2], "b": np.ones(4, F32)}, ValueError, "C-contiguous"),
    ("vadd-out-readonly", kernels.vadd, {"a": X23, "b": X23, "out": _readonly((2, 3))}, ValueError, "writable"),
    ("vadd-ymin-gt-ymax", kernels.vadd, {"a": X23, "b": X23, "ymin": 2.0, "ymax": 1.0}, ValueError, "ymin must be <= ymax"),
    # clamp / relu
    ("clamp-x-int32", kernels.clamp, {"x": np.ones(3, np.int32), "ymin": 0.0, "ymax": 1.0}, TypeError, "x must have dtype float32"),
    ("clamp-bounds-reversed", kernels.clamp, {"x": X23, "ymin": 1.0, "ymax": -1.0}, ValueError, "ymin must be <= ymax"),
    ("clamp-ymin-nan", kernels.clamp, {"x": X23, "ymin": float("nan"), "ymax": 1.0}, ValueError, "must not be NaN"),
    ("clamp-out-shape", kernels.clamp, {"x": X23, "ymin": 0.0, "ymax": 1.0, "out": np.ones(6, F32)}, ValueError, "out must be 2-D"),
    ("relu-x-float64", kernels.relu, {"x": np.ones(3)}, TypeError, "x must have dtype float32"),
    ("relu-x-fortran", kernels.relu, {"x": np.asfortranarray(np.ones((2, 3), F32))}, ValueError, "C-contiguous"),
    # softmax
    ("softmax-x-1d", kernels.softmax, {"x": np.ones(3, F32)}, ValueError, "x must be 2-D"),
    ("softmax-x-3d", kernels.softmax, {"x": np.ones((1, 2, 3), F32)}, ValueError, "x must be 2-D"),
    ("softmax-x-float64", kernels.softmax, {"x": np.ones((2, 3))}, TypeError, "x must have dtype float32"),
    ("softmax-out-dtype", kernels.softmax, {"x": X23, "out": np.ones((2, 3), np.float64)}, TypeError, "out must have dtype"),
]  # fmt: skip


@pytest.mark.parametrize("kernel,kwargs,exc,match", [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS])
def test_bad_input_raises(kernel: Callable, kwargs: dict, exc: type, match: str) -> None:
    with pytest.raises(exc, match=f"^{kernel.__name__}: .*{match}"):
        kernel(**kwargs)


def test_valid_base_calls_succeed() -> None:
    """The BAD_CALLS bases are valid, so each failure above is due to its one change."""
    kernels.gemm(**GEMM)
    for index_dtype in INDEX_DTYPES:
        y = kernels.spmm(**_spmm_args(index_dtype))
        np.testing.assert_array_equal(y, [[4, 1, 4, 16]] * 2, err_msg=str(index_dtype))


def test_spmm_index_out_of_range_for_u16_limit() -> None:
    # 65535 is legal only when k > 65535.
    x = np.ones((1, 65535), F32)
    indptr, indices, values = _indptr([0, 1]), np.array([65535], np.uint16), np.ones(1, F32)
    with pytest.raises(ValueError, match=r"spmm: indices\[0\] = 65535 .*k = 65535"):
        kernels.spmm(x, indptr, indices, values)


def _overlapping_pair(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Two arrays of `shape` sharing memory, offset by one element (partial overlap)."""
    size = int(np.prod(shape))
    buf = np.zeros(size + 1, F32)
    return buf[:size].reshape(shape), buf[1:].reshape(shape)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(
            lambda: (lambda x: kernels.gemm(x, np.ones((3, 3), F32), out=x))(np.ones((3, 3), F32)),
            id="gemm-out-is-x",
        ),
        pytest.param(
            lambda: (lambda w: kernels.gemm(np.ones((3, 3), F32), w, out=w))(np.ones((3, 3), F32)),
            id="gemm-out-is-w",
        ),
        pytest.param(
            lambda: (lambda x: kernels.spmm(x, _indptr([0, 0, 0, 0]), np.zeros(0, np.uint8), np.zeros(0, F32), out=x))(
                np.ones((2, 3), F32)
            ),
            id="spmm-out-is-x",
        ),
        pytest.param(
            lambda: (lambda p: kernels.vadd(p[0], np.ones((2, 3), F32), out=p[1]))(_overlapping_pair((2, 3))),
            id="vadd-partial",
        ),
        pytest.param(
            lambda: (lambda p: kernels.vbias(p[0], np.ones(3, F32), out=p[1]))(_overlapping_pair((2, 3))),
            id="vbias-partial",
        ),
        pytest.param(
            lambda: (lambda b: kernels.vbias(b.reshape(2, 3), b[:3], out=b.reshape(2, 3)))(np.ones(6, F32)),
            id="vbias-out-is-bias",
        ),
        pytest.param(
            lambda: (lambda p: kernels.clamp(p[0], 0.0, 1.0, out=p[1]))(_overlapping_pair((5,))),
            id="clamp-partial",
        ),
        pytest.param(
            lambda: (lambda p: kernels.softmax(p[0], out=p[1]))(_overlapping_pair((2, 3))),
            id="softmax-partial",
        ),
    ],
)
def test_overlapping_out_is_rejected(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="out (must not share memory|partially overlaps)"):
        call()


# --------------------------------------------------------------------------- strict compile


def _compile(compiler: str, source: Path, obj: Path, extra: list[str] | None = None):
    cmd = [compiler, *STRICT_CFLAGS, *(extra or []), f"-I{CSRC / 'include'}", "-c", str(source)]
    return subprocess.run([*cmd, "-o", str(obj)], capture_output=True, text=True, check=False)


def _require(compiler: str) -> None:
    if shutil.which(compiler) is None:
        if compiler == "clang":
            pytest.skip("clang not installed: make test installs it as root")
        pytest.fail(f"{compiler} not installed")


def test_every_kernel_family_has_a_scalar_source() -> None:
    families = sorted(p.name for p in CSRC.iterdir() if p.is_dir() and p.name != "include")
    assert families, "no kernel families under csrc/"
    for family in families:
        assert list((CSRC / family).glob(f"{family}-*scalar.c")), f"{family}: no scalar kernel"


def _isa_of(source: Path) -> str:
    return source.stem.rsplit("-", 1)[1]


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
@pytest.mark.parametrize("source", C_FILES, ids=lambda p: p.name)
def test_kernel_compiles_strictly(source: Path, compiler: str, tmp_path: Path) -> None:
    _require(compiler)
    proc = _compile(compiler, source, tmp_path / "k.o", list(ISA_CFLAGS[_isa_of(source)]))
    assert proc.returncode == 0, f"{compiler} {source.relative_to(ROOT)}:\n{proc.stderr}"
    assert proc.stderr == "", f"{compiler} {source.relative_to(ROOT)} warned:\n{proc.stderr}"


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_header_is_self_contained_and_guarded(compiler: str, tmp_path: Path) -> None:
    _require(compiler)
    src = tmp_path / "h.c"
    src.write_text(
        "#include <sparsec/kernels.h>\n#include <sparsec/kernels.h>\n"
        "size_t sparsec_test_probe(void);\n"
        "size_t sparsec_test_probe(void) { return sizeof(uint32_t); }\n"
    )
    proc = _compile(compiler, src, tmp_path / "h.o")
    assert proc.returncode == 0, f"{compiler} kernels.h:\n{proc.stderr}"


def test_header_compiles_as_cxx(tmp_path: Path) -> None:
    cxx = shutil.which("g++") or shutil.which("clang++")
    if cxx is None:
        pytest.skip("no C++ compiler installed")
    src = tmp_path / "h.cc"
    src.write_text("#include <sparsec/kernels.h>\nint main() { return 0; }\n")
    cmd = [cxx, "-std=c++11", "-Wall", "-Wextra", "-Werror", "-pedantic",
           f"-I{CSRC / 'include'}", "-c", str(src), "-o", str(tmp_path / "h.o")]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{cxx} kernels.h as C++:\n{proc.stderr}"


def test_kernel_table_matches_csrc_and_header() -> None:
    """Every (family, ISA) in the table has its file and declaration, and every file is listed."""
    header = (CSRC / "include" / "sparsec" / "kernels.h").read_text()
    listed = set()
    for family, kern in KERNELS.items():
        assert "scalar" in kern.isas, family
        for isa in kern.isas:
            assert isa in ISA_CFLAGS, f"{family}: no cflags for ISA {isa}"
            source = CSRC / kern.file(isa)
            assert source.is_file(), f"{family} {isa}: {source} missing"
            assert f"void {kern.function(isa)}(" in header, f"{family} {isa}: not declared"
            assert kern.function(isa) in source.read_text(), f"{family} {isa}: not defined there"
            listed.add(source)
    assert set(C_FILES) == listed, f"C files missing from the table: {set(C_FILES) - listed}"


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
@pytest.mark.parametrize("source", [p for p in C_FILES if _isa_of(p) != "scalar"], ids=lambda p: p.name)
def test_simd_source_builds_strictly_without_isa_flags(source: Path, compiler: str, tmp_path: Path) -> None:
    """SIMD functions carry their own target attribute, so generated projects build with any CFLAGS."""
    _require(compiler)
    proc = _compile(compiler, source, tmp_path / "k.o")
    assert proc.returncode == 0 and proc.stderr == "", f"{compiler} {source.name}:\n{proc.stderr}"


# --------------------------------------------------------------------------- SIMD vs scalar

SIMD_GEMM = [p for p in GEMM_ISAS if p.values[0] != "scalar"]
SIMD_SPMM = [p for p in SPMM_ISAS if p.values[0] != "scalar"]
SIMD_ELEMENTWISE = [p for p in CLAMP_ISAS if p.values[0] != "scalar"]
# Batch sizes around the 2-sample gemm tile and the 8-sample spmm panel.
BATCHES = [1, 2, 3, 7, 8, 9, 16, 17]


@pytest.mark.parametrize("isa", SIMD_GEMM)
@pytest.mark.parametrize("m", BATCHES, ids=lambda v: f"m{v}")
def test_gemm_simd_matches_scalar(m: int, isa: str) -> None:
    rng = np.random.default_rng(m)
    for n, k in ((1, 1), (3, 7), (4, 8), (5, 9), (9, 16), (13, 17), (8, 33)):
        x, w, b = rand(rng, m, k), rand(rng, n, k), rand(rng, n)
        for bias, lo, hi in ((b, -INF, INF), (None, 0.0, INF), (b, -0.5, 0.5)):
            what = f"gemm {isa} vs scalar m={m} n={n} k={k} [{lo}, {hi}]"
            got = kernels.gemm(x, w, bias, lo, hi, isa=isa)
            ref = kernels.gemm(x, w, bias, lo, hi, isa="scalar")
            # Sums are reassociated: equal within float32 rounding of k terms.
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6 * k, err_msg=what)
            assert_close(got, matmul_ref(x, w, bias, lo, hi), k, what)


@pytest.mark.parametrize("isa", SIMD_SPMM)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("m", BATCHES, ids=lambda v: f"m{v}")
def test_spmm_simd_matches_scalar(m: int, index_dtype: type, isa: str) -> None:
    """Rows with 0..40 nonzeros cover the 16- and 8-wide steps and every scalar tail."""
    rng = np.random.default_rng([m, np.dtype(index_dtype).itemsize])
    for k in (1, 5, 41, 200):
        n = 41
        w = rand(rng, n, k)
        for r in range(n):  # row r keeps min(r, k) nonzeros at random columns
            w[r, rng.permutation(k)[min(r, k) :]] = 0.0
        indptr, indices, values = csr(w, index_dtype)
        x, b = rand(rng, m, k), rand(rng, n)
        for bias, lo, hi in ((b, -INF, INF), (None, 0.0, INF), (b, -0.5, 0.5)):
            what = f"spmm_{np.dtype(index_dtype).name} {isa} vs scalar m={m} n={n} k={k} [{lo}, {hi}]"
            got = kernels.spmm(x, indptr, indices, values, bias, lo, hi, isa=isa)
            ref = kernels.spmm(x, indptr, indices, values, bias, lo, hi, isa="scalar")
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6 * k, err_msg=what)
            assert_close(got, matmul_ref(x, w, bias, lo, hi), k, what)


@pytest.mark.parametrize("isa", SIMD_SPMM)
@pytest.mark.parametrize("m,k", [(8, 1024), (9, 1025), (16, 256), (17, 1)], ids=lambda v: str(v))
def test_spmm_simd_batch_panel_limits(m: int, k: int, isa: str) -> None:
    """The 8-sample panel path (k <= 1024) and its per-sample fallback, largest indices included."""
    rng = np.random.default_rng(k)
    n = 12
    w = sparse_weights(rng, n, k, 0.3)
    w[1, k - 1] = 2.0
    w[2, 0] = -1.0
    w[4] = rand(rng, k)  # a fully dense row
    x, b = unaligned(rand(rng, m, k)), rand(rng, n)
    for index_dtype in INDEX_DTYPES:
        if k > np.iinfo(index_dtype).max + 1:
            continue
        indptr, indices, values = csr(w, index_dtype)
        out = unaligned(np.zeros((m, n), F32))
        got = kernels.spmm(x, indptr, indices, values, b, -0.75, 0.75, out=out, isa=isa)
        what = f"spmm_{np.dtype(index_dtype).name} {isa} m={m} k={k}"
        assert_close(got, matmul_ref(x, w, b, -0.75, 0.75), k, what)


@pytest.mark.parametrize("isa", SIMD_SPMM)
def test_spmm_simd_nan_propagates(isa: str) -> None:
    for m in (1, 8):
        x = np.ones((m, 20), F32)
        x[:, 3] = np.nan
        w = np.zeros((3, 20), F32)
        w[0, 3] = 1.0  # reads the NaN
        w[1, [0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]] = 1.0  # 17 nonzeros, no NaN
        for index_dtype in INDEX_DTYPES:
            got = kernels.spmm(x, *csr(w, index_dtype), ymin=0.0, ymax=6.0, isa=isa)
            np.testing.assert_array_equal(got, [[np.nan, 6.0, 0.0]] * m, err_msg=f"spmm {isa} NaN m={m}")


@pytest.mark.parametrize("isa", SIMD_ELEMENTWISE)
@pytest.mark.parametrize("n", [*SIZES, 0, 64, 1001], ids=lambda v: f"n{v}")
def test_elementwise_simd_is_bit_identical_to_scalar(n: int, isa: str) -> None:
    """vbias, vadd and clamp do one rounding per element, so SIMD equals scalar exactly."""
    rng = np.random.default_rng(n)
    a, b = rand(rng, 3, n) * 4.0, rand(rng, 3, n) * 4.0
    a = unaligned(a) if n else a
    a.reshape(-1)[::5] = np.nan
    b.reshape(-1)[::7] = -np.inf
    a.reshape(-1)[1::6] = -0.0
    for lo, hi in ((-INF, INF), (0.0, INF), (0.0, 6.0), (-0.5, 0.5)):
        what = f"{isa} n={n} [{lo}, {hi}]"
        for name, call in (
            ("vbias", lambda i, a=a, lo=lo, hi=hi: kernels.vbias(a, b[0].copy(), lo, hi, isa=i)),
            ("vadd", lambda i, a=a, lo=lo, hi=hi: kernels.vadd(a, b, lo, hi, isa=i)),
            ("clamp", lambda i, a=a, lo=lo, hi=hi: kernels.clamp(a, lo, hi, isa=i)),
        ):
            got, ref = call(isa), call("scalar")
            assert np.array_equal(got.view(np.uint32), ref.view(np.uint32)) or np.array_equal(
                got, ref, equal_nan=True
            ), f"{name} {what}"
            np.testing.assert_array_equal(np.signbit(got), np.signbit(ref), err_msg=f"{name} {what} -0.0")


# --------------------------------------------------------------------------- ISA selection


def test_available_isas() -> None:
    assert kernels.available_isas()[0] == "scalar"
    assert set(kernels.available_isas()) <= set(kernels.BUILT_ISAS)
    assert kernels.isa_supported("scalar") and not kernels.isa_supported("neon9")


@pytest.mark.parametrize(
    "call",
    [
        lambda isa: kernels.gemm(np.ones((1, 2), F32), np.ones((1, 2), F32), isa=isa),
        lambda isa: kernels.spmm(np.ones((1, 2), F32), *csr(np.ones((1, 2), F32), np.uint8), isa=isa),
        lambda isa: kernels.vbias(np.ones((1, 2), F32), np.ones(2, F32), isa=isa),
        lambda isa: kernels.vadd(np.ones(2, F32), np.ones(2, F32), isa=isa),
        lambda isa: kernels.clamp(np.ones(2, F32), 0.0, 1.0, isa=isa),
        lambda isa: kernels.relu(np.ones(2, F32), isa=isa),
    ],
    ids=["gemm", "spmm", "vbias", "vadd", "clamp", "relu"],
)
def test_avx2_on_a_cpu_without_it_raises(call: Callable) -> None:
    """Never SIGILL: the CPU check runs before any AVX2 instruction could."""
    kernels._pretend_cpu_lacks_avx2(True)
    try:
        assert not kernels.isa_supported("avx2")
        with pytest.raises(RuntimeError, match="isa='avx2'.*use isa='scalar'"):
            call("avx2")
        call("scalar")
    finally:
        kernels._pretend_cpu_lacks_avx2(False)


def test_unknown_or_missing_isa_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="softmax: no 'avx2' kernel for f32-softmax"):
        kernels.softmax(np.ones((1, 2), F32), isa="avx2")
    with pytest.raises(ValueError, match="gemm: no 'sse9' kernel"):
        kernels.gemm(np.ones((1, 2), F32), np.ones((1, 2), F32), isa="sse9")


# --------------------------------------------------------------------------- codegen ISA choice


def _digits_compiled(name: str):
    import sparsec
    from conftest import DIGITS

    return sparsec.compile(sparsec.prune(sparsec.load(DIGITS / "digits_mlp.onnx"), 0.9), name=name)


def test_host_target_prefers_avx2_only_when_the_cpu_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from sparsec.targets import load_target

    host = load_target("host")
    assert host.isa == (("avx2", "scalar") if kernels.isa_supported("avx2") else ("scalar",))
    assert host.isa_cflags["avx2"] == ISA_CFLAGS["avx2"]
    monkeypatch.setenv("SPARSEC_HOST_ISA", "scalar")
    assert load_target("host").isa == ("scalar",)
    kernels._pretend_cpu_lacks_avx2(True)
    try:
        monkeypatch.delenv("SPARSEC_HOST_ISA")
        assert load_target("host").isa == ("scalar",), "a CPU without AVX2 must get scalar kernels"
    finally:
        kernels._pretend_cpu_lacks_avx2(False)


def test_kernel_isa_falls_back_to_scalar_per_family() -> None:
    assert KERNELS["f32-softmax"].file("avx2") == "f32-softmax/f32-softmax-scalar.c"
    assert KERNELS["f32-softmax"].function("avx2") == "sparsec_f32_softmax_ukernel__scalar"
    assert KERNELS["f32-gemm"].function("avx2") == "sparsec_f32_gemm_minmax_ukernel__avx2"
    assert KERNELS["f32-gemm"].function("neon") == "sparsec_f32_gemm_minmax_ukernel__scalar"


@pytest.mark.skipif(not kernels.isa_supported("avx2"), reason="no avx2 CPU")
def test_host_project_uses_avx2_kernels_and_matches_scalar_build(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _digits_compiled("dfast")
    assert "kernels/f32-spmm-minmax-avx2.c" in fast.files
    assert "kernels/f32-softmax-scalar.c" in fast.files, "softmax has no avx2 kernel: scalar fallback"
    assert not any(f.endswith("-scalar.c") and "spmm" in f for f in fast.files)
    assert fast.report["kernel_isas"] == {"f32-spmm-u8": "avx2", "f32-softmax": "scalar"}
    assert "sparsec_f32_spmm_minmax_ukernel_1x1_u8__avx2(" in fast.files["dfast.c"]
    assert "kernels/%-avx2.o: kernels/%-avx2.c\n\t$(CC) $(CFLAGS) -mavx2 -mfma" in fast.files["Makefile"]
    monkeypatch.setenv("SPARSEC_HOST_ISA", "scalar")
    slow = _digits_compiled("dslow")
    assert "kernels/f32-spmm-minmax-scalar.c" in slow.files and "kernels/%-avx2.o" not in slow.files["Makefile"]
    x = np.random.default_rng(0).random((9, 64), dtype=F32)
    np.testing.assert_allclose(fast(x), slow(x), rtol=1e-5, atol=1e-6, err_msg="avx2 vs scalar host build")


@pytest.mark.skipif(not kernels.isa_supported("avx2"), reason="no avx2 CPU")
@pytest.mark.parametrize("cflags", ["", "strict"])
def test_avx2_project_makefile_builds(cflags: str, tmp_path: Path) -> None:
    """With its own flags (-mavx2 rule) and with CFLAGS overridden to the strict set."""
    out = _digits_compiled("mk").export(tmp_path / "p")
    cmd = ["make", "-s"] + ([f"CFLAGS={' '.join(STRICT_CFLAGS)}"] if cflags else [])
    proc = subprocess.run(cmd, cwd=out, capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert (out / "libmk.a").is_file() and (out / "kernels" / "f32-spmm-minmax-avx2.o").is_file()
