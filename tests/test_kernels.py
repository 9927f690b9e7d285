"""The C kernels (csrc/) of every ISA through sparsec.kernels, checked against float64 NumPy.

The ISAs come from the kernel table (sparsec.codegen.kernels.KERNELS); each edge-case test
runs once per ISA of its family, and ISAs this CPU lacks are skipped. SIMD kernels are also
checked against the scalar kernel (bit for bit for the elementwise ones, within float32
reassociation for gemm/spmm).

The ISA-parametrized edge cases live in tests/kernel_cases.py, so that
tests/test_kernels_emulated.py runs the very same checks on QEMU targets.

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

import kernel_cases as cases
from conftest import STRICT_CFLAGS
from kernel_cases import F32, INDEX_DTYPES, INF, assert_close, csr, matmul_ref, on, rand

from sparsec import kernels
from sparsec.codegen.kernels import ISA_CFLAGS, KERNELS

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "csrc"
C_FILES = sorted(CSRC.glob("*/*.c"))


# --------------------------------------------------------------------------- helpers


# ISAs sparsec.kernels never runs on the host: their kernels are checked under QEMU by
# tests/test_kernels_emulated.py (neon on aarch64-neon, armv7em on cortex-m4f), so they are left
# out here rather than skipped once per case.
EMULATED_ISAS = ("neon", "armv7em")


def isa_params(family: str) -> list:
    """The family's host ISAs from the kernel table; those this CPU cannot run are skipped."""
    return [
        pytest.param(
            isa, id=isa, marks=[] if kernels.isa_supported(isa) else [pytest.mark.skip(reason=f"no {isa} CPU")]
        )
        for isa in KERNELS[family].isas
        if isa not in EMULATED_ISAS
    ]


GEMM_ISAS = isa_params("f32-gemm")
SPMM_ISAS = isa_params("f32-spmm-i32")
VBIAS_ISAS = isa_params("f32-vbias")
VADD_ISAS = isa_params("f32-vadd")
CLAMP_ISAS = isa_params("f32-clamp")


# --------------------------------------------------------------------------- gemm


@pytest.mark.parametrize("isa", GEMM_ISAS)
@cases.gemm_matches_numpy.parametrize
def test_gemm_matches_numpy(m: int, n: int, k: int, with_bias: bool, isa: str) -> None:
    cases.gemm_matches_numpy(on(isa), m=m, n=n, k=k, with_bias=with_bias)


@pytest.mark.parametrize("isa", GEMM_ISAS)
@cases.gemm_zero_sizes.parametrize
def test_gemm_zero_sizes(m: int, n: int, k: int, isa: str) -> None:
    cases.gemm_zero_sizes(on(isa), m=m, n=n, k=k)


@pytest.mark.parametrize("isa", GEMM_ISAS)
@cases.gemm_clamp_hits_both_ends.parametrize
def test_gemm_clamp_hits_both_ends(m: int, n: int, k: int, isa: str) -> None:
    cases.gemm_clamp_hits_both_ends(on(isa), m=m, n=n, k=k)


@pytest.mark.parametrize("isa", GEMM_ISAS)
def test_gemm_relu_bounds_and_nan(isa: str) -> None:
    cases.gemm_relu_bounds_and_nan(on(isa))


@pytest.mark.parametrize("isa", GEMM_ISAS)
@cases.gemm_unaligned.parametrize
def test_gemm_unaligned(m: int, n: int, k: int, isa: str) -> None:
    cases.gemm_unaligned(on(isa), m=m, n=n, k=k)


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


@pytest.mark.parametrize("isa", SPMM_ISAS)
@cases.spmm_matches_numpy.parametrize
def test_spmm_matches_numpy(m: int, n: int, k: int, index_dtype: type, isa: str) -> None:
    cases.spmm_matches_numpy(on(isa), m=m, n=n, k=k, index_dtype=index_dtype)


@pytest.mark.parametrize("isa", SPMM_ISAS)
@cases.spmm_empty_rows_give_clamped_bias.parametrize
def test_spmm_empty_rows_give_clamped_bias(index_dtype: type, isa: str) -> None:
    cases.spmm_empty_rows_give_clamped_bias(on(isa), index_dtype=index_dtype)


@pytest.mark.parametrize("isa", SPMM_ISAS)
@cases.spmm_zero_sizes.parametrize
def test_spmm_zero_sizes(index_dtype: type, isa: str) -> None:
    cases.spmm_zero_sizes(on(isa), index_dtype=index_dtype)


@pytest.mark.parametrize("isa", SPMM_ISAS)
@cases.spmm_largest_column_index.parametrize
def test_spmm_largest_column_index(index_dtype: type, k: int, isa: str) -> None:
    cases.spmm_largest_column_index(on(isa), index_dtype=index_dtype, k=k)


@pytest.mark.parametrize("isa", SPMM_ISAS)
@cases.spmm_clamp_hits_both_ends.parametrize
def test_spmm_clamp_hits_both_ends(index_dtype: type, isa: str) -> None:
    cases.spmm_clamp_hits_both_ends(on(isa), index_dtype=index_dtype)


@pytest.mark.parametrize("isa", SPMM_ISAS)
@cases.spmm_unaligned.parametrize
def test_spmm_unaligned(index_dtype: type, isa: str) -> None:
    cases.spmm_unaligned(on(isa), index_dtype=index_dtype)


@pytest.mark.parametrize("isa", SPMM_ISAS)
def test_spmm_matches_gemm_on_same_weights(isa: str) -> None:
    cases.spmm_matches_gemm_on_same_weights(on(isa))


# --------------------------------------------------------------------------- vbias


@pytest.mark.parametrize("isa", VBIAS_ISAS)
@cases.vbias_matches_numpy.parametrize
def test_vbias_matches_numpy(m: int, n: int, isa: str) -> None:
    cases.vbias_matches_numpy(on(isa), m=m, n=n)


@pytest.mark.parametrize("isa", VBIAS_ISAS)
def test_vbias_in_place_and_unaligned(isa: str) -> None:
    cases.vbias_in_place_and_unaligned(on(isa))


@pytest.mark.parametrize("isa", VBIAS_ISAS)
def test_vbias_zero_sizes(isa: str) -> None:
    cases.vbias_zero_sizes(on(isa))


# --------------------------------------------------------------------------- vadd


@pytest.mark.parametrize("isa", VADD_ISAS)
@cases.vadd_matches_numpy.parametrize
def test_vadd_matches_numpy(shape: tuple[int, ...], isa: str) -> None:
    cases.vadd_matches_numpy(on(isa), shape=shape)


@pytest.mark.parametrize("isa", VADD_ISAS)
@cases.vadd_in_place.parametrize
def test_vadd_in_place(alias: str, isa: str) -> None:
    cases.vadd_in_place(on(isa), alias=alias)


@pytest.mark.parametrize("isa", VADD_ISAS)
def test_vadd_nan_and_unaligned(isa: str) -> None:
    cases.vadd_nan_and_unaligned(on(isa))


# --------------------------------------------------------------------------- clamp / relu


@pytest.mark.parametrize("isa", CLAMP_ISAS)
@cases.clamp_matches_numpy.parametrize
def test_clamp_matches_numpy(n: int, bounds: tuple[float, float], isa: str) -> None:
    cases.clamp_matches_numpy(on(isa), n=n, bounds=bounds)


@pytest.mark.parametrize("isa", CLAMP_ISAS)
def test_clamp_hits_both_ends_nan_and_infinities(isa: str) -> None:
    cases.clamp_hits_both_ends_nan_and_infinities(on(isa))


@pytest.mark.parametrize("isa", CLAMP_ISAS)
def test_relu_nan_negative_zero_and_in_place(isa: str) -> None:
    cases.relu_nan_negative_zero_and_in_place(on(isa))


@pytest.mark.parametrize("isa", CLAMP_ISAS)
@cases.clamp_and_relu_any_shape_in_place.parametrize
def test_clamp_and_relu_any_shape_in_place(shape: tuple[int, ...], isa: str) -> None:
    cases.clamp_and_relu_any_shape_in_place(on(isa), shape=shape)


# --------------------------------------------------------------------------- softmax


@cases.softmax_matches_numpy.parametrize
def test_softmax_matches_numpy(m: int, n: int) -> None:
    cases.softmax_matches_numpy(on("scalar"), m=m, n=n)


def test_softmax_large_values_in_place_unaligned() -> None:
    cases.softmax_large_values_in_place_unaligned(on("scalar"))


def test_softmax_nan_stays_in_its_row() -> None:
    cases.softmax_nan_stays_in_its_row(on("scalar"))


def test_softmax_zero_sizes() -> None:
    cases.softmax_zero_sizes(on("scalar"))


def test_softmax_exp_is_accurate_over_the_float_range() -> None:
    """The kernel carries its own expf (no libm on bare-metal targets): rows [0, t] give
    e^t / (1 + e^t), which must be within a few ulp of float64 over t in [-103, 0], down
    through the subnormal results."""
    t = np.concatenate([-np.geomspace(1e-8, 103.9, 200_000), [0.0, -87.0, -87.4, -88.0, -100.0]]).astype(F32)
    x = np.stack([np.zeros_like(t), t], axis=1)
    got = kernels.softmax(x)[:, 1].astype(np.float64)
    e = np.exp(t.astype(np.float64))
    want = e / (1.0 + e)
    ulp = np.spacing(want.astype(F32)).astype(np.float64)
    assert np.max(np.abs(got - want) / ulp) <= 3.0


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


_M4F = ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]
# Sources of these ISAs build only for their own target (#error elsewhere): gcc means its cross gcc,
# clang means clang for that target.
CROSS_CC = {
    "neon": {"gcc": ["aarch64-linux-gnu-gcc"], "clang": ["clang", "--target=aarch64-linux-gnu"]},
    "armv7em": {
        "gcc": ["arm-none-eabi-gcc", *_M4F],
        "clang": ["clang", "--target=thumbv7em-none-eabihf", *_M4F],
    },
}


def _compile(compiler: str, source: Path, obj: Path, extra: list[str] | None = None):
    cc = CROSS_CC.get(_isa_of(source), {}).get(compiler, [compiler])
    _require(cc[0])
    cmd = [*cc, *STRICT_CFLAGS, *(extra or []), f"-I{CSRC / 'include'}", "-c", str(source)]
    return subprocess.run([*cmd, "-o", str(obj)], capture_output=True, text=True, check=False)


def _require(compiler: str) -> None:
    if shutil.which(compiler) is None:
        if compiler != "gcc":
            pytest.skip(f"{compiler} not installed: make test installs it as root")
        pytest.fail(f"{compiler} not installed")


def test_every_kernel_family_has_a_scalar_source() -> None:
    families = sorted(p.name for p in CSRC.iterdir() if p.is_dir() and p.name != "include")
    assert families, "no kernel families under csrc/"
    for family in families:
        assert list((CSRC / family).glob(f"{family}-*scalar.c")), f"{family}: no scalar kernel"


def _isa_of(source: Path) -> str:
    return source.stem.rsplit("-", 1)[-1]


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


@pytest.mark.parametrize("isa", SIMD_GEMM)
@cases.gemm_simd_matches_scalar.parametrize
def test_gemm_simd_matches_scalar(m: int, isa: str) -> None:
    cases.gemm_simd_matches_scalar(on(isa), m=m)


@pytest.mark.parametrize("isa", SIMD_SPMM)
@cases.spmm_simd_matches_scalar.parametrize
def test_spmm_simd_matches_scalar(m: int, index_dtype: type, isa: str) -> None:
    cases.spmm_simd_matches_scalar(on(isa), m=m, index_dtype=index_dtype)


@pytest.mark.parametrize("isa", SIMD_SPMM)
@cases.spmm_simd_batch_panel_limits.parametrize
def test_spmm_simd_batch_panel_limits(m: int, k: int, isa: str) -> None:
    cases.spmm_simd_batch_panel_limits(on(isa), m=m, k=k)


@pytest.mark.parametrize("isa", SIMD_SPMM)
def test_spmm_simd_nan_propagates(isa: str) -> None:
    cases.spmm_simd_nan_propagates(on(isa))


@pytest.mark.parametrize("isa", SIMD_ELEMENTWISE)
@cases.elementwise_simd_is_bit_identical_to_scalar.parametrize
def test_elementwise_simd_is_bit_identical_to_scalar(n: int, isa: str) -> None:
    cases.elementwise_simd_is_bit_identical_to_scalar(on(isa), n=n)


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
    assert KERNELS["f32-gemm"].function("neon") == "sparsec_f32_gemm_minmax_ukernel__neon"
    assert KERNELS["f32-gemm"].function("rv32") == "sparsec_f32_gemm_minmax_ukernel__scalar"


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
