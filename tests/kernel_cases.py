"""The kernel edge cases, shared by the host tests (tests/test_kernels.py, through
sparsec.kernels) and the emulated ones (tests/test_kernels_emulated.py, on QEMU targets).

Each case is a function `case(kern, **params)`: `kern` has sparsec.kernels' functions with the
ISA already chosen (`on(isa)` on the host) and an `isa` attribute; the case makes its inputs
from fixed seeds, calls the kernels and checks the results against float64 NumPy (or, for the
SIMD-only cases, against the host scalar kernel). `@case(family, *axes)` registers it with its
parameter grid; `CASES` lists them all, `Case.parametrize` turns a grid into pytest marks.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from sparsec import kernels

# Below, at and above the 4-wide unroll and typical SIMD widths (4, 8, 16).
SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33]
INDEX_DTYPES = [np.uint8, np.uint16, np.int32]
F32 = np.float32
INF = float("inf")
VADD_SHAPES = [(n,) for n in SIZES] + [(), (0,), (3, 5), (2, 3, 4)]
CLAMP_BOUNDS = [(-INF, INF), (0.0, INF), (0.0, 6.0), (-0.5, 0.5), (0.25, 0.25)]
# Batch sizes around the 2-sample gemm tile and the 8-sample spmm panel.
BATCHES = [1, 2, 3, 7, 8, 9, 16, 17]

#: Anything with sparsec.kernels' functions (ISA bound) and an `isa` attribute.
Kernels = Any


class on:  # noqa: N801 - reads as `on(isa).gemm(...)`
    """sparsec.kernels with every call pinned to one ISA."""

    def __init__(self, isa: str) -> None:
        self.isa = isa

    def __getattr__(self, name: str) -> Callable:
        fn = getattr(kernels, name)
        return lambda *args, **kw: fn(*args, isa=self.isa, **kw)


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Axis:
    """One parametrize axis: argument name(s), values and their test ids."""

    names: str
    values: Sequence
    ids: Callable | Sequence[str] | None = None

    def id_of(self, i: int) -> str:
        value = self.values[i]
        if callable(self.ids):
            return str(self.ids(value))
        if self.ids is not None:
            return self.ids[i]
        return "-".join(map(str, value)) if isinstance(value, tuple) else str(value)


@dataclass(frozen=True)
class Case:
    name: str
    run: Callable[..., None]
    #: the kernel family whose ISAs the case runs for
    family: str
    axes: tuple[Axis, ...]
    #: compares a SIMD kernel with the scalar one: not run for isa == "scalar"
    simd: bool

    def __call__(self, kern: Kernels, **params: Any) -> None:
        self.run(kern, **params)

    def parametrize(self, test: Callable) -> Callable:
        """The axes as pytest marks, first axis first in the test id."""
        for axis in self.axes:
            test = pytest.mark.parametrize(axis.names, axis.values, ids=axis.ids)(test)
        return test

    def grid(self) -> list[tuple[str, dict[str, Any]]]:
        """Every parameter combination as (test id, keyword arguments)."""
        combos = []
        for picks in itertools.product(*(range(len(a.values)) for a in self.axes)):
            params: dict[str, Any] = {}
            for axis, i in zip(self.axes, picks):
                names = [n.strip() for n in axis.names.split(",")]
                values = axis.values[i] if len(names) > 1 else (axis.values[i],)
                params.update(zip(names, values))
            combos.append(("-".join(a.id_of(i) for a, i in zip(self.axes, picks)), params))
        return combos


CASES: list[Case] = []


def case(family: str, *axes: Axis, simd: bool = False) -> Callable[[Callable], Case]:
    def register(fn: Callable) -> Case:
        c = Case(fn.__name__, fn, family, axes, simd)
        CASES.append(c)
        return c

    return register


def dtype_id(d: type) -> str:
    return np.dtype(d).name


# --------------------------------------------------------------------------- helpers


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


def sparse_weights(rng: np.random.Generator, n: int, k: int, density: float) -> np.ndarray:
    """[n, k] weights with the given density; every third row is empty when density < 1."""
    w = rand(rng, n, k)
    w[rng.random((n, k)) >= density] = 0.0
    if density < 1.0:
        w[::3] = 0.0
    return w


# --------------------------------------------------------------------------- cases


@case(
    "f32-gemm",
    Axis("m", [1, 3], lambda v: f"m{v}"),
    Axis("n", SIZES, lambda v: f"n{v}"),
    Axis("k", SIZES, lambda v: f"k{v}"),
    Axis("with_bias", [True, False], ["bias", "nobias"]),
)
def gemm_matches_numpy(kern: Kernels, m: int, n: int, k: int, with_bias: bool) -> None:
    rng = np.random.default_rng([m, n, k])
    x, w, b = rand(rng, m, k), rand(rng, n, k), rand(rng, n)
    bias = b if with_bias else None
    got = kern.gemm(x, w, bias)
    assert_close(got, matmul_ref(x, w, bias, -INF, INF), k, f"gemm m={m} n={n} k={k}")


@case("f32-gemm", Axis("m,n,k", [(0, 3, 4), (2, 0, 4), (2, 3, 0), (0, 0, 0)]))
def gemm_zero_sizes(kern: Kernels, m: int, n: int, k: int) -> None:
    rng = np.random.default_rng(0)
    x, w, b = rand(rng, m, k), rand(rng, n, k), rand(rng, n)
    got = kern.gemm(x, w, b, ymin=-0.25, ymax=0.25)
    # k == 0: the product is empty, so y is clamp(bias) on every row.
    assert_close(got, matmul_ref(x, w, b, -0.25, 0.25), 1, f"gemm m={m} n={n} k={k}")


@case("f32-gemm", Axis("m,n,k", [(1, 9, 17), (5, 7, 33)]))
def gemm_clamp_hits_both_ends(kern: Kernels, m: int, n: int, k: int) -> None:
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


@case("f32-gemm")
def gemm_relu_bounds_and_nan(kern: Kernels) -> None:
    x = np.array([[1.0, np.nan], [1.0, 2.0]], dtype=F32)
    w = np.array([[1.0, 1.0], [-1.0, -1.0]], dtype=F32)
    got = kern.gemm(x, w, ymin=0.0)
    assert np.isnan(got[0]).all(), "gemm: NaN in x must reach every output of its row"
    np.testing.assert_array_equal(got[1], [3.0, 0.0])


@case("f32-gemm", Axis("m,n,k", [(1, 5, 9), (3, 17, 4)]))
def gemm_unaligned(kern: Kernels, m: int, n: int, k: int) -> None:
    rng = np.random.default_rng(2)
    x, w, b = unaligned(rand(rng, m, k)), unaligned(rand(rng, n, k)), unaligned(rand(rng, n))
    out = unaligned(np.zeros((m, n), F32))
    got = kern.gemm(x, w, b, out=out)
    assert got is out
    assert_close(got, matmul_ref(x, w, b, -INF, INF), k, f"gemm unaligned m={m} n={n} k={k}")


@case(
    "f32-spmm-i32",
    Axis("m", [1, 3], lambda v: f"m{v}"),
    Axis("n", SIZES, lambda v: f"n{v}"),
    Axis("k", [1, 4, 9, 17, 33], lambda v: f"k{v}"),
    Axis("index_dtype", INDEX_DTYPES, dtype_id),
)
def spmm_matches_numpy(kern: Kernels, m: int, n: int, k: int, index_dtype: type) -> None:
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


@case("f32-spmm-i32", Axis("index_dtype", INDEX_DTYPES, dtype_id))
def spmm_empty_rows_give_clamped_bias(kern: Kernels, index_dtype: type) -> None:
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


@case("f32-spmm-i32", Axis("index_dtype", INDEX_DTYPES, dtype_id))
def spmm_zero_sizes(kern: Kernels, index_dtype: type) -> None:
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


@case(
    "f32-spmm-i32",
    Axis(
        "index_dtype,k",
        [(np.uint8, 256), (np.uint16, 65536), (np.int32, 70001)],
        ["uint8-k256", "uint16-k65536", "int32-k70001"],
    ),
)
def spmm_largest_column_index(kern: Kernels, index_dtype: type, k: int) -> None:
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


@case("f32-spmm-i32", Axis("index_dtype", INDEX_DTYPES, dtype_id))
def spmm_clamp_hits_both_ends(kern: Kernels, index_dtype: type) -> None:
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


@case("f32-spmm-i32", Axis("index_dtype", INDEX_DTYPES, dtype_id))
def spmm_unaligned(kern: Kernels, index_dtype: type) -> None:
    rng = np.random.default_rng(6)
    m, n, k = 3, 9, 17
    x, b = unaligned(rand(rng, m, k)), unaligned(rand(rng, n))
    w = sparse_weights(rng, n, k, 0.4)
    indptr, indices, values = csr(w, index_dtype)
    out = unaligned(np.zeros((m, n), F32))
    got = kern.spmm(x, indptr, indices, unaligned(values), b, out=out)
    assert got is out
    assert_close(got, matmul_ref(x, w, b, -INF, INF), k, f"spmm unaligned m={m} n={n} k={k}")


@case("f32-spmm-i32")
def spmm_matches_gemm_on_same_weights(kern: Kernels) -> None:
    """The sparse and dense kernels agree: sparsify may pick either for a layer."""
    rng = np.random.default_rng(7)
    x, b = rand(rng, 5, 33), rand(rng, 16)
    w = sparse_weights(rng, 16, 33, 0.25)
    dense = kern.gemm(x, w, b, ymin=0.0)
    for index_dtype in INDEX_DTYPES:
        sparse = kern.spmm(x, *csr(w, index_dtype), b, ymin=0.0)
        np.testing.assert_allclose(sparse, dense, rtol=1e-5, atol=1e-5, err_msg=str(index_dtype))


@case("f32-vbias", Axis("m", [1, 3], lambda v: f"m{v}"), Axis("n", SIZES, lambda v: f"n{v}"))
def vbias_matches_numpy(kern: Kernels, m: int, n: int) -> None:
    rng = np.random.default_rng([m, n])
    x, b = rand(rng, m, n), rand(rng, n)
    for lo, hi in ((-INF, INF), (0.0, INF), (-0.25, 0.25)):
        got = kern.vbias(x, b, ymin=lo, ymax=hi)
        ref = np.clip(x.astype(np.float64) + b, lo, hi)
        assert_close(got, ref, 1, f"vbias m={m} n={n} clamp [{lo}, {hi}]")


@case("f32-vbias")
def vbias_in_place_and_unaligned(kern: Kernels) -> None:
    rng = np.random.default_rng(8)
    x, b = unaligned(rand(rng, 3, 17)), unaligned(rand(rng, 17))
    ref = np.clip(x.astype(np.float64) + b, -0.5, 0.5)
    assert (ref == -0.5).any() and (ref == 0.5).any()
    got = kern.vbias(x, b, ymin=-0.5, ymax=0.5, out=x)
    assert got is x
    assert_close(x, ref, 1, "vbias in place m=3 n=17")


@case("f32-vbias")
def vbias_zero_sizes(kern: Kernels) -> None:
    assert kern.vbias(np.ones((0, 3), F32), np.ones(3, F32)).shape == (0, 3)
    assert kern.vbias(np.ones((2, 0), F32), np.ones(0, F32)).shape == (2, 0)


@case("f32-vadd", Axis("shape", VADD_SHAPES, lambda s: "x".join(map(str, s)) or "scalar"))
def vadd_matches_numpy(kern: Kernels, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(len(shape) * 100 + sum(shape))
    a, b = rand(rng, *shape), rand(rng, *shape)
    for lo, hi in ((-INF, INF), (0.0, INF), (-0.5, 0.5)):
        got = kern.vadd(a, b, ymin=lo, ymax=hi)
        ref = np.clip(a.astype(np.float64) + b, lo, hi)
        assert_close(got, ref, 1, f"vadd shape={shape} clamp [{lo}, {hi}]")


@case("f32-vadd", Axis("alias", ["a", "b", "both"]))
def vadd_in_place(kern: Kernels, alias: str) -> None:
    rng = np.random.default_rng(9)
    a, b = rand(rng, 4, 9), rand(rng, 4, 9)
    if alias == "both":
        b = a
    ref = np.clip(a.astype(np.float64) + b, -1.0, 1.0)
    target = b if alias == "b" else a
    got = kern.vadd(a, b, ymin=-1.0, ymax=1.0, out=target)
    assert got is target
    assert_close(got, ref, 1, f"vadd in place out={alias} shape=(4, 9)")


@case("f32-vadd")
def vadd_nan_and_unaligned(kern: Kernels) -> None:
    a = unaligned(np.array([1.0, np.nan, 2.0, -3.0, np.nan], F32))
    b = unaligned(np.array([1.0, 1.0, np.nan, 5.0, -np.inf], F32))
    got = kern.vadd(a, b, ymin=0.0, ymax=1.0)
    np.testing.assert_array_equal(got, [1.0, np.nan, np.nan, 1.0, np.nan], err_msg="vadd NaN")


@case(
    "f32-clamp",
    Axis("n", SIZES + [0], lambda v: f"n{v}"),
    Axis("bounds", CLAMP_BOUNDS, lambda b: f"[{b[0]},{b[1]}]"),
)
def clamp_matches_numpy(kern: Kernels, n: int, bounds: tuple[float, float]) -> None:
    rng = np.random.default_rng(n)
    x = rand(rng, n) * 8.0
    lo, hi = bounds
    got = kern.clamp(x, lo, hi)
    # Clamping is exact: no tolerance.
    np.testing.assert_array_equal(got, np.clip(x, lo, hi), err_msg=f"clamp n={n} [{lo}, {hi}]")


@case("f32-clamp")
def clamp_hits_both_ends_nan_and_infinities(kern: Kernels) -> None:
    x = np.array([-np.inf, -7.0, -0.5, 0.0, 0.5, 7.0, np.inf, np.nan], F32)
    got = kern.clamp(x, -1.0, 1.0)
    np.testing.assert_array_equal(got, [-1, -1, -0.5, 0, 0.5, 1, 1, np.nan], err_msg="clamp")
    np.testing.assert_array_equal(kern.clamp(x, -INF, INF), x, err_msg="clamp no-op")


@case("f32-clamp")
def relu_nan_negative_zero_and_in_place(kern: Kernels) -> None:
    x = unaligned(np.array([[-1.0, np.nan, -0.0], [2.0, -np.inf, np.inf]], F32))
    got = kern.relu(x, out=x)
    assert got is x
    np.testing.assert_array_equal(x, [[0.0, np.nan, 0.0], [2.0, 0.0, np.inf]], err_msg="relu")
    assert np.signbit(x[0, 2]), "relu: -0.0 passes through (comparison clamp)"


@case("f32-clamp", Axis("shape", [(1,), (7,), (3, 5), (2, 3, 4), (0, 3)]))
def clamp_and_relu_any_shape_in_place(kern: Kernels, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(sum(shape))
    x = rand(rng, *shape)
    ref_clamp, ref_relu = np.clip(x, -0.5, 0.25), np.maximum(x, 0.0)
    y = x.copy()
    assert kern.clamp(y, -0.5, 0.25, out=y) is y
    np.testing.assert_array_equal(y, ref_clamp, err_msg=f"clamp shape={shape}")
    y = x.copy()
    assert kern.relu(y, out=y) is y
    np.testing.assert_array_equal(y, ref_relu, err_msg=f"relu shape={shape}")


@case(
    "f32-softmax",
    Axis("m", [1, 3], lambda v: f"m{v}"),
    Axis("n", SIZES, lambda v: f"n{v}"),
)
def softmax_matches_numpy(kern: Kernels, m: int, n: int) -> None:
    rng = np.random.default_rng([m, n])
    x = rand(rng, m, n) * 10.0
    got = kern.softmax(x)
    what = f"softmax m={m} n={n}"
    np.testing.assert_allclose(got, softmax_ref(x), rtol=1e-5, atol=1e-7, err_msg=what)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5, err_msg=what)


@case("f32-softmax")
def softmax_large_values_in_place_unaligned(kern: Kernels) -> None:
    # Without subtracting the max, expf(1000) would overflow to inf (max first, equal, last).
    rows = [[1000.0, 999.0, 998.0], [-1000.0, -1000.0, -1000.0], [-1000.0, 0.0, 100.0]]
    x = unaligned(np.array(rows, F32))
    ref = softmax_ref(x)
    got = kern.softmax(x, out=x)
    assert got is x
    np.testing.assert_allclose(x, ref, rtol=1e-5, atol=1e-7, err_msg="softmax large values")


@case("f32-softmax")
def softmax_nan_stays_in_its_row(kern: Kernels) -> None:
    x = np.array([[0.0, np.nan, 1.0], [0.0, 1.0, 2.0], [np.nan, 0.0, 0.0]], F32)
    got = kern.softmax(x)
    assert np.isnan(got[0]).all() and np.isnan(got[2]).all(), "softmax: NaN row"
    np.testing.assert_allclose(got[1], softmax_ref(x[1:2])[0], rtol=1e-5, err_msg="softmax")


@case("f32-softmax")
def softmax_zero_sizes(kern: Kernels) -> None:
    assert kern.softmax(np.ones((0, 4), F32)).shape == (0, 4)
    assert kern.softmax(np.ones((3, 0), F32)).shape == (3, 0)


@case("f32-gemm", Axis("m", BATCHES, lambda v: f"m{v}"), simd=True)
def gemm_simd_matches_scalar(kern: Kernels, m: int) -> None:
    rng = np.random.default_rng(m)
    for n, k in ((1, 1), (3, 7), (4, 8), (5, 9), (9, 16), (13, 17), (8, 33)):
        x, w, b = rand(rng, m, k), rand(rng, n, k), rand(rng, n)
        for bias, lo, hi in ((b, -INF, INF), (None, 0.0, INF), (b, -0.5, 0.5)):
            what = f"gemm {kern.isa} vs scalar m={m} n={n} k={k} [{lo}, {hi}]"
            got = kern.gemm(x, w, bias, lo, hi)
            ref = kernels.gemm(x, w, bias, lo, hi, isa="scalar")
            # Sums are reassociated: equal within float32 rounding of k terms.
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6 * k, err_msg=what)
            assert_close(got, matmul_ref(x, w, bias, lo, hi), k, what)


@case(
    "f32-spmm-i32",
    Axis("m", BATCHES, lambda v: f"m{v}"),
    Axis("index_dtype", INDEX_DTYPES, dtype_id),
    simd=True,
)
def spmm_simd_matches_scalar(kern: Kernels, m: int, index_dtype: type) -> None:
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
            what = f"spmm_{np.dtype(index_dtype).name} {kern.isa} vs scalar m={m} n={n} k={k} [{lo}, {hi}]"
            got = kern.spmm(x, indptr, indices, values, bias, lo, hi)
            ref = kernels.spmm(x, indptr, indices, values, bias, lo, hi, isa="scalar")
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6 * k, err_msg=what)
            assert_close(got, matmul_ref(x, w, bias, lo, hi), k, what)


@case(
    "f32-spmm-i32",
    Axis("m,k", [(8, 1024), (9, 1025), (16, 256), (17, 1)], lambda v: str(v)),
    simd=True,
)
def spmm_simd_batch_panel_limits(kern: Kernels, m: int, k: int) -> None:
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
        got = kern.spmm(x, indptr, indices, values, b, -0.75, 0.75, out=out)
        what = f"spmm_{np.dtype(index_dtype).name} {kern.isa} m={m} k={k}"
        assert_close(got, matmul_ref(x, w, b, -0.75, 0.75), k, what)


@case("f32-spmm-i32", simd=True)
def spmm_simd_nan_propagates(kern: Kernels) -> None:
    for m in (1, 8):
        x = np.ones((m, 20), F32)
        x[:, 3] = np.nan
        w = np.zeros((3, 20), F32)
        w[0, 3] = 1.0  # reads the NaN
        w[1, [0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]] = 1.0  # 17 nonzeros, no NaN
        for index_dtype in INDEX_DTYPES:
            got = kern.spmm(x, *csr(w, index_dtype), ymin=0.0, ymax=6.0)
            np.testing.assert_array_equal(got, [[np.nan, 6.0, 0.0]] * m, err_msg=f"spmm {kern.isa} NaN m={m}")


@case("f32-clamp", Axis("n", [*SIZES, 0, 64, 1001], lambda v: f"n{v}"), simd=True)
def elementwise_simd_is_bit_identical_to_scalar(kern: Kernels, n: int) -> None:
    """vbias, vadd and clamp do one rounding per element, so SIMD equals scalar exactly."""
    rng = np.random.default_rng(n)
    a, b = rand(rng, 3, n) * 4.0, rand(rng, 3, n) * 4.0
    a = unaligned(a) if n else a
    a.reshape(-1)[::5] = np.nan
    b.reshape(-1)[::7] = -np.inf
    a.reshape(-1)[1::6] = -0.0
    for lo, hi in ((-INF, INF), (0.0, INF), (0.0, 6.0), (-0.5, 0.5)):
        what = f"{kern.isa} n={n} [{lo}, {hi}]"
        for name, call in (
            ("vbias", lambda kk, a=a, lo=lo, hi=hi: kk.vbias(a, b[0].copy(), lo, hi)),
            ("vadd", lambda kk, a=a, lo=lo, hi=hi: kk.vadd(a, b, lo, hi)),
            ("clamp", lambda kk, a=a, lo=lo, hi=hi: kk.clamp(a, lo, hi)),
        ):
            got, ref = call(kern), call(on("scalar"))
            assert np.array_equal(got.view(np.uint32), ref.view(np.uint32)) or np.array_equal(
                got, ref, equal_nan=True
            ), f"{name} {what}"
            np.testing.assert_array_equal(np.signbit(got), np.signbit(ref), err_msg=f"{name} {what} -0.0")
