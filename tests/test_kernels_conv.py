"""Convolution and pooling kernels of every ISA: sparse conv (CSR weights), dense conv, depthwise
conv, max/average/global-average pooling, through sparsec.kernels.

Convolutions are checked against a float64 NumPy direct convolution (itself checked against the
sparsec reference Conv, which onnxruntime checks in test_ops_nn); pooling against the sparsec
reference MaxPool/AveragePool (ONNX semantics: ceil_mode, count_include_pad, dilations, windows
wholly in the padding). The AVX2 max/average pools must equal the scalar ones bit for bit. Each
geometry sweep covers 1x1 to 5x5 kernels, widths below/at/above the 8-lane vectors, strides 1, 2
and 3, padding on every side and dilation. Runs in about 10 s.
"""

from __future__ import annotations

import numpy as np
import pytest
from models import single_op

from sparsec import kernels
from sparsec.codegen.kernels import KERNELS
from sparsec.frontend import load_graph
from sparsec.reference import run as reference_run
from sparsec.sparse import CSR

F32 = np.float32
INF = float("inf")
INDEX_DTYPES = [np.uint8, np.uint16, np.int32]


def isa_params(family: str) -> list:
    return [
        pytest.param(
            isa, id=isa, marks=[] if kernels.isa_supported(isa) else [pytest.mark.skip(reason=f"no {isa} CPU")]
        )
        for isa in KERNELS[family].isas
    ]


# (H, W, kernel, strides, pads (top, left, bottom, right), dilations)
GEOMETRIES = [
    (1, 1, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1)),
    (5, 7, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1)),
    (6, 8, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
    (9, 9, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
    (7, 17, (3, 3), (1, 1), (0, 0, 0, 0), (1, 1)),
    (8, 33, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1)),
    (11, 40, (2, 3), (2, 2), (0, 2, 1, 0), (1, 1)),
    (10, 19, (5, 5), (1, 1), (2, 2, 2, 2), (1, 1)),
    (12, 26, (3, 2), (3, 1), (2, 0, 0, 3), (2, 3)),
    (9, 16, (3, 3), (1, 2), (2, 2, 2, 2), (2, 2)),
    (4, 4, (2, 2), (1, 1), (3, 3, 3, 3), (1, 1)),  # pads wider than the kernel: all-padding windows
    (6, 45, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),  # interior rows of 43: 32 + 8 + 3 pixels
    (5, 75, (1, 3), (2, 1), (0, 2, 0, 1), (1, 2)),
    (6, 2, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),  # no column has every tap inside
]
GEO_IDS = [
    f"{h}x{w}-k{k[0]}{k[1]}-s{s[0]}{s[1]}-p{''.join(map(str, p))}-d{d[0]}{d[1]}" for h, w, k, s, p, d in GEOMETRIES
]


def rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    a = np.array(rng.uniform(-1.0, 1.0, size=shape), dtype=F32)
    a[a == 0] = 0.5
    return a


def out_size(n: int, k: int, s: int, b: int, e: int, d: int) -> int:
    return (n + b + e - ((k - 1) * d + 1)) // s + 1


def conv_ref(x, w, bias, strides, pads, dilations, lo=-INF, hi=INF, groups=1) -> np.ndarray:
    """float64 direct convolution: one shifted, strided slice of the padded input per tap."""
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    (sh, sw), (pt, pl, pb, pr), (dh, dw) = strides, pads, dilations
    oh, ow = out_size(h, kh, sh, pt, pb, dh), out_size(wd, kw, sw, pl, pr, dw)
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    y = np.zeros((n, m, oh, ow))
    if bias is not None:
        y += bias.astype(np.float64)[None, :, None, None]
    w64 = w.astype(np.float64)
    for ky in range(kh):
        for kx in range(kw):
            tap = xp[:, :, ky * dh : ky * dh + (oh - 1) * sh + 1 : sh, kx * dw : kx * dw + (ow - 1) * sw + 1 : sw]
            if groups == 1:
                y += np.einsum("nchw,mc->nmhw", tap, w64[:, :, ky, kx])
            else:  # depthwise
                y += tap * w64[None, :, 0, ky, kx, None, None]
    return np.clip(y, lo, hi)


def check(got, ref, terms: int, what: str) -> None:
    assert got.dtype == F32 and got.shape == ref.shape, f"{what}: {got.shape} vs {ref.shape}"
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * max(terms, 1), err_msg=what)


def onnx_attrs(kernel, strides, pads, dilations) -> dict:
    pt, pl, pb, pr = pads
    return {
        "kernel_shape": list(kernel),
        "strides": list(strides),
        "pads": [pt, pl, pb, pr],
        "dilations": list(dilations),
    }


def test_numpy_conv_matches_the_reference_conv() -> None:
    """The float64 NumPy convolution used below agrees with sparsec's ONNX reference Conv."""
    rng = np.random.default_rng(0)
    for h, wd, k, s, p, d in GEOMETRIES[2:10]:
        x, w, b = rand(rng, 2, 3, h, wd), rand(rng, 4, 3, *k), rand(rng, 4)
        model = single_op("Conv", [("x", x.shape), w, b], {k_: v for k_, v in onnx_attrs(k, s, p, d).items()})
        want = reference_run(load_graph(model), {"x": x})["y"]
        check(conv_ref(x, w, b, s, p, d).astype(F32), want.astype(np.float64), 27, f"{h}x{wd} {k} {s} {p} {d}")


# ------------------------------------------------------------------------------- dense conv


@pytest.mark.parametrize("isa", isa_params("f32-conv"))
@pytest.mark.parametrize("geo", GEOMETRIES, ids=GEO_IDS)
def test_conv2d_matches_numpy(geo, isa: str) -> None:
    h, wd, k, s, p, d = geo
    rng = np.random.default_rng([h, wd, *k])
    for n, c, m in [(1, 1, 1), (2, 3, 5), (1, 8, 2)]:  # 8 channels: several 32-term chunks
        x, w, b = rand(rng, n, c, h, wd), rand(rng, m, c, *k), rand(rng, m)
        got = kernels.conv2d(x, w, b, s, p, d, isa=isa)
        check(got, conv_ref(x, w, b, s, p, d), c * k[0] * k[1], f"conv2d {isa} {geo} n={n} c={c} m={m}")
        got = kernels.conv2d(x, w, None, s, p, d, ymin=-0.5, ymax=0.25, isa=isa)
        check(got, conv_ref(x, w, None, s, p, d, -0.5, 0.25), c * k[0] * k[1], f"conv2d {isa} {geo} clamped")


# ------------------------------------------------------------------------------ sparse conv


def csr_of(w: np.ndarray, index_dtype) -> CSR:
    c = CSR.from_dense(w.reshape(w.shape[0], -1))
    return CSR(c.shape, c.indptr, c.indices.astype(index_dtype), c.values)


@pytest.mark.parametrize("isa", isa_params("f32-spconv-i32"))
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("density", [0.0, 0.3, 1.0], ids=["all-zero", "30%", "dense"])
def test_spconv2d_matches_numpy(density: float, index_dtype, isa: str) -> None:
    for geo in GEOMETRIES:
        h, wd, k, s, p, d = geo
        rng = np.random.default_rng([h, wd, *k, int(density * 10)])
        n, c, m = 2, 8, 6  # up to 8 * kh * kw terms per channel: several 32-term chunks
        x, w, b = rand(rng, n, c, h, wd), rand(rng, m, c, *k), rand(rng, m)
        w[rng.random(w.shape) >= density] = 0.0
        w[1] = 0.0  # an empty output channel gives clamp(bias)
        csr = csr_of(w, index_dtype)
        got = kernels.spconv2d(x, csr.indptr, csr.indices, csr.values, k, b, s, p, d, ymin=-1.0, ymax=1.5, isa=isa)
        what = f"spconv2d {isa} {np.dtype(index_dtype).name} density={density} {geo}"
        check(got, conv_ref(x, w, b, s, p, d, -1.0, 1.5), c * k[0] * k[1], what)


@pytest.mark.parametrize("isa", isa_params("f32-spconv-i32"))
@pytest.mark.parametrize(
    "index_dtype,c,k", [(np.uint8, 16, (4, 4)), (np.uint16, 4096, (4, 4)), (np.int32, 65537, (1, 1))]
)
def test_spconv2d_largest_column_index(index_dtype, c: int, k, isa: str) -> None:
    """The last weight column (c*kh*kw - 1) is at the index type's limit (255, 65535, 65536)."""
    rng = np.random.default_rng(1)
    x = rand(rng, 1, c, 5, 6)
    w = np.zeros((2, c, *k), F32)
    w[0, -1, -1, -1] = 0.75
    w[1, 0, 0, 0] = -0.5
    w[1, -1, 0, -1] = 1.25
    csr = CSR.from_dense(w.reshape(2, -1))
    assert csr.indices.dtype == index_dtype
    got = kernels.spconv2d(x, csr.indptr, csr.indices, csr.values, k, None, (1, 1), (1, 1, 1, 1), isa=isa)
    check(got, conv_ref(x, w, None, (1, 1), (1, 1, 1, 1), (1, 1)), 3, f"{isa} {np.dtype(index_dtype).name}")


@pytest.mark.parametrize("isa", isa_params("f32-spconv-i32"))
def test_spconv2d_equals_dense_conv2d(isa: str) -> None:
    rng = np.random.default_rng(4)
    x, w, b = rand(rng, 2, 16, 13, 21), rand(rng, 8, 16, 3, 3), rand(rng, 8)
    w[rng.random(w.shape) < 0.8] = 0.0
    csr = CSR.from_dense(w.reshape(8, -1))
    sparse = kernels.spconv2d(x, csr.indptr, csr.indices, csr.values, (3, 3), b, (1, 1), (1, 1, 1, 1), isa=isa)
    dense = kernels.conv2d(x, w, b, (1, 1), (1, 1, 1, 1), isa=isa)
    np.testing.assert_allclose(sparse, dense, rtol=1e-5, atol=1e-5 * 144)


# ------------------------------------------------------------------------------ depthwise


@pytest.mark.parametrize("isa", isa_params("f32-dwconv"))
@pytest.mark.parametrize("geo", GEOMETRIES, ids=GEO_IDS)
def test_dwconv2d_matches_numpy(geo, isa: str) -> None:
    h, wd, k, s, p, d = geo
    rng = np.random.default_rng([h, wd, *k, 9])
    x, w, b = rand(rng, 2, 5, h, wd), rand(rng, 5, 1, *k), rand(rng, 5)
    check(
        kernels.dwconv2d(x, w, b, s, p, d, isa=isa), conv_ref(x, w, b, s, p, d, groups=5), k[0] * k[1], f"{isa} {geo}"
    )
    got = kernels.dwconv2d(x, w, None, s, p, d, ymin=0.0, ymax=0.5, isa=isa)
    check(got, conv_ref(x, w, None, s, p, d, 0.0, 0.5, groups=5), k[0] * k[1], f"{isa} {geo} relu-ish")


# --------------------------------------------------------------------- NaN, clamp, alignment


@pytest.mark.parametrize("isa", ["scalar", "avx2"])
@pytest.mark.parametrize("kind", ["conv2d", "spconv2d", "dwconv2d"])
def test_conv_nan_inf_and_clamp_both_ends(kind: str, isa: str) -> None:
    if not kernels.isa_supported(isa):
        pytest.skip(f"no {isa} CPU")
    rng = np.random.default_rng(8)
    c = m = 4
    x = rand(rng, 1, c, 9, 19) * 3
    x[0, 1, 4, 7] = np.nan
    x[0, 2, 0, 18] = np.inf
    geo = ((1, 1), (1, 1, 1, 1), (1, 1))
    b = rand(rng, m)
    if kind == "dwconv2d":
        w = rand(rng, c, 1, 3, 3)
        got = kernels.dwconv2d(x, w, b, *geo, ymin=-1.0, ymax=1.0, isa=isa)
        ref = conv_ref(x, w, b, *geo, -1.0, 1.0, groups=c)
    else:
        w = rand(rng, m, c, 3, 3)  # fully dense, so NaN reaches the same outputs in both forms
        if kind == "conv2d":
            got = kernels.conv2d(x, w, b, *geo, ymin=-1.0, ymax=1.0, isa=isa)
        else:
            csr = CSR.from_dense(w.reshape(m, -1))
            got = kernels.spconv2d(
                x, csr.indptr, csr.indices, csr.values, (3, 3), b, *geo, ymin=-1.0, ymax=1.0, isa=isa
            )
        with np.errstate(invalid="ignore"):
            ref = conv_ref(x, w, b, *geo, -1.0, 1.0)
    assert np.isnan(ref).any() and (ref == -1.0).any() and (ref == 1.0).any(), "data must hit NaN and both bounds"
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg=f"{kind} {isa}: NaN positions")
    check(got, ref, 36, f"{kind} {isa}")


def unaligned(a: np.ndarray) -> np.ndarray:
    buf = np.empty(a.size + 1, dtype=a.dtype)[1:]
    buf[...] = a.reshape(-1)
    assert buf.ctypes.data % 8 != 0
    return buf.reshape(a.shape)


@pytest.mark.parametrize("isa", ["scalar", "avx2"])
def test_conv_kernels_take_unaligned_views(isa: str) -> None:
    if not kernels.isa_supported(isa):
        pytest.skip(f"no {isa} CPU")
    rng = np.random.default_rng(6)
    x, w, b = rand(rng, 2, 3, 10, 21), rand(rng, 4, 3, 3, 3), rand(rng, 4)
    geo = ((2, 1), (1, 0, 1, 2), (1, 1))
    ref = conv_ref(x, w, b, *geo)
    out = unaligned(np.zeros(ref.shape, F32))
    assert kernels.conv2d(unaligned(x), unaligned(w), unaligned(b), *geo, out=out, isa=isa) is out
    check(out, ref, 27, f"conv2d {isa}")
    csr = CSR.from_dense(w.reshape(4, -1))
    got = kernels.spconv2d(
        unaligned(x), csr.indptr, csr.indices, unaligned(csr.values), (3, 3), unaligned(b), *geo, isa=isa
    )
    check(got, ref, 27, f"spconv2d {isa}")
    dw = rand(rng, 3, 1, 3, 3)
    got = kernels.dwconv2d(unaligned(x), unaligned(dw), None, *geo, isa=isa)
    check(got, conv_ref(x, dw, None, *geo, groups=3), 9, f"dwconv2d {isa}")
    got = kernels.maxpool2d(unaligned(x), (3, 3), (2, 1), (1, 0, 1, 2), isa=isa)
    np.testing.assert_array_equal(got, kernels.maxpool2d(x, (3, 3), (2, 1), (1, 0, 1, 2)))


@pytest.mark.parametrize("isa", ["scalar", "avx2"])
def test_conv_and_pool_zero_batch_and_channels(isa: str) -> None:
    if not kernels.isa_supported(isa):
        pytest.skip(f"no {isa} CPU")
    x = np.zeros((0, 3, 5, 5), F32)
    assert kernels.conv2d(x, np.ones((2, 3, 3, 3), F32), isa=isa).shape == (0, 2, 3, 3)
    assert kernels.dwconv2d(np.zeros((2, 0, 5, 5), F32), np.zeros((0, 1, 3, 3), F32), isa=isa).shape == (2, 0, 3, 3)
    y = kernels.conv2d(
        np.zeros((1, 0, 5, 5), F32), np.zeros((2, 0, 3, 3), F32), np.array([0.5, 3.0], F32), ymax=1.0, isa=isa
    )
    np.testing.assert_array_equal(y, np.broadcast_to(np.array([0.5, 1.0], F32)[None, :, None, None], (1, 2, 3, 3)))
    empty = CSR.from_dense(np.zeros((0, 27), F32))
    assert kernels.spconv2d(
        np.zeros((1, 3, 5, 5), F32), empty.indptr, empty.indices, empty.values, (3, 3), isa=isa
    ).shape == (1, 0, 3, 3)
    assert kernels.maxpool2d(x, (2, 2), isa=isa).shape == (0, 3, 4, 4)
    assert kernels.avgpool2d(x, (2, 2), isa=isa).shape == (0, 3, 4, 4)
    assert kernels.global_avgpool(x, isa=isa).shape == (0, 3, 1, 1)


# -------------------------------------------------------------------------------- pooling

# (H, W, kernel, strides, pads, dilations, ceil_mode)
POOLS = [
    (4, 4, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), False),
    (7, 9, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), True),
    (8, 33, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), False),
    (9, 17, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), True),
    (5, 8, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), False),
    (11, 40, (3, 2), (2, 3), (1, 0, 2, 1), (1, 1), False),
    (10, 12, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), False),
    (6, 7, (2, 3), (3, 2), (1, 2, 1, 2), (2, 1), True),
    (3, 3, (2, 2), (2, 2), (1, 1, 1, 1), (3, 3), False),  # dilated taps can all land in the pads
    (1, 1, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), False),
]
POOL_IDS = [
    f"{h}x{w}-k{k[0]}{k[1]}-s{s[0]}{s[1]}-p{''.join(map(str, p))}-d{d[0]}{d[1]}-{'ceil' if c else 'floor'}"
    for h, w, k, s, p, d, c in POOLS
]


def pool_ref(op: str, x: np.ndarray, kernel, strides, pads, dilations, ceil_mode, count_include_pad=False):
    attrs = dict(onnx_attrs(kernel, strides, pads, dilations), ceil_mode=int(ceil_mode))
    if op == "AveragePool":
        attrs["count_include_pad"] = int(count_include_pad)
    model = single_op(op, [("x", x.shape)], attrs, opset=19)
    return reference_run(load_graph(model), {"x": x})["y"]


@pytest.mark.parametrize("isa", isa_params("f32-maxpool"))
@pytest.mark.parametrize("geo", POOLS, ids=POOL_IDS)
def test_maxpool2d_matches_reference(geo, isa: str) -> None:
    h, wd, k, s, p, d, ceil = geo
    rng = np.random.default_rng([h, wd])
    x = rand(rng, 2, 3, h, wd)
    x[0, 0].flat[::7] = -np.inf
    if x[1, 1].size > 2:
        x[1, 1].flat[2] = np.nan
    got = kernels.maxpool2d(x, k, s, p, d, ceil_mode=ceil, isa=isa)
    want = pool_ref("MaxPool", x, k, s, p, d, ceil)
    np.testing.assert_array_equal(got, want, err_msg=f"maxpool {isa} {geo}")
    np.testing.assert_array_equal(got, kernels.maxpool2d(x, k, s, p, d, ceil_mode=ceil), err_msg="avx2 != scalar")


@pytest.mark.parametrize("isa", isa_params("f32-avgpool"))
@pytest.mark.parametrize("count_include_pad", [False, True], ids=["exclude-pad", "include-pad"])
@pytest.mark.parametrize("geo", POOLS, ids=POOL_IDS)
def test_avgpool2d_matches_reference(geo, count_include_pad: bool, isa: str) -> None:
    h, wd, k, s, p, d, ceil = geo
    rng = np.random.default_rng([h, wd, 2])
    x = rand(rng, 2, 3, h, wd)
    got = kernels.avgpool2d(x, k, s, p, d, ceil_mode=ceil, count_include_pad=count_include_pad, isa=isa)
    want = pool_ref("AveragePool", x, k, s, p, d, ceil, count_include_pad)
    check(got, want.astype(np.float64), k[0] * k[1], f"avgpool {isa} {geo} {count_include_pad}")
    scalar = kernels.avgpool2d(x, k, s, p, d, ceil_mode=ceil, count_include_pad=count_include_pad)
    np.testing.assert_array_equal(got, scalar, err_msg="avx2 != scalar")


@pytest.mark.parametrize("isa", isa_params("f32-avgpool"))
def test_avgpool2d_nan_propagates(isa: str) -> None:
    x = np.ones((1, 1, 4, 4), F32)
    x[0, 0, 1, 1] = np.nan
    got = kernels.avgpool2d(x, (2, 2), (1, 1), isa=isa)
    np.testing.assert_array_equal(
        np.isnan(got[0, 0]), [[True, True, False], [True, True, False], [False, False, False]]
    )


@pytest.mark.parametrize("isa", isa_params("f32-gavgpool"))
@pytest.mark.parametrize("hw", [(1, 1), (1, 7), (2, 4), (3, 3), (4, 8), (5, 7), (8, 8), (7, 9), (32, 32)], ids=str)
def test_global_avgpool_matches_numpy(hw, isa: str) -> None:
    rng = np.random.default_rng(list(hw))
    x = rand(rng, 2, 5, *hw)
    got = kernels.global_avgpool(x, isa=isa)
    want = x.astype(np.float64).mean(axis=(2, 3), keepdims=True)
    check(got, want, 1, f"gavgpool {isa} {hw}")
    x[1, 2, 0, -1] = np.nan
    assert np.isnan(kernels.global_avgpool(x, isa=isa)[1, 2, 0, 0])


# ----------------------------------------------------------------------------- validation

_X = np.ones((1, 2, 5, 5), F32)
_W = np.ones((3, 2, 3, 3), F32)
_CSR = CSR.from_dense(_W.reshape(3, -1))


def _sp(**kw):
    args = dict(x=_X, indptr=_CSR.indptr, indices=_CSR.indices, values=_CSR.values, kernel_shape=(3, 3))
    args.update(kw)
    return lambda: kernels.spconv2d(**args)


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: kernels.conv2d(_X[0], _W), ValueError, "x must be 4-D"),
        (lambda: kernels.conv2d(_X.astype(np.float64), _W), TypeError, "x must have dtype float32"),
        (lambda: kernels.conv2d(_X, np.ones((3, 1, 3, 3), F32)), ValueError, "w must have shape \\(M, 2, kh, kw\\)"),
        (lambda: kernels.conv2d(_X, _W, np.ones(2, F32)), ValueError, "bias must have shape \\(3,\\)"),
        (lambda: kernels.conv2d(_X, _W, strides=(0, 1)), ValueError, "strides must be >= 1"),
        (lambda: kernels.conv2d(_X, _W, strides=(1.5, 1)), TypeError, "strides must be a pair of integers"),
        (lambda: kernels.conv2d(_X, _W, dilations=(1,)), TypeError, "dilations must be a pair"),
        (lambda: kernels.conv2d(_X, _W, pads=(1, 1)), TypeError, "pads must be 4 integers"),
        (lambda: kernels.conv2d(_X, _W, pads=(0, -1, 0, 0)), ValueError, "pads must be >= 0"),
        (lambda: kernels.conv2d(_X, np.ones((3, 2, 6, 3), F32)), ValueError, "larger than the padded input"),
        (lambda: kernels.conv2d(_X, _W, dilations=(3, 1)), ValueError, "larger than the padded input"),
        (lambda: kernels.conv2d(_X, _W, ymin=2.0, ymax=1.0), ValueError, "ymin must be <= ymax"),
        (lambda: kernels.conv2d(_X, _W, out=np.zeros((1, 3, 3, 4), F32)), ValueError, "out must have shape"),
        (lambda: kernels.conv2d(_X, _W, isa="sse4"), ValueError, "no 'sse4' kernel"),
        (lambda: kernels.dwconv2d(_X, np.ones((2, 2, 3, 3), F32)), ValueError, "w must have shape \\(2, 1, kh, kw\\)"),
        (lambda: kernels.dwconv2d(_X, np.ones((2, 1, 3, 3), F32), np.ones(3, F32)), ValueError, "bias must have shape"),
        (_sp(indices=_CSR.indices.astype(np.int64)), TypeError, "uint8, uint16 or int32"),
        (_sp(indices=np.full(_CSR.nnz, 18, np.uint8)), ValueError, "out of range"),
        (_sp(kernel_shape=(2, 3)), ValueError, "out of range"),
        (_sp(kernel_shape=(3,)), TypeError, "kernel_shape must be a pair"),
        (_sp(indptr=np.zeros(0, np.uint32)), ValueError, "out_channels \\+ 1 >= 1"),
        (_sp(indptr=np.array([0, 18, 36, 53], np.uint32)), ValueError, "must equal len\\(indices\\)"),
        (_sp(indptr=np.array([0, 20, 18, 54], np.uint32)), ValueError, "non-decreasing"),
        (_sp(values=_CSR.values[:-1]), ValueError, "values must have"),
        (_sp(bias=np.ones(4, F32)), ValueError, "bias must have shape \\(3,\\)"),
        (_sp(x=np.ones((1, 1, 5, 5), F32)), ValueError, "out of range"),
        (lambda: kernels.conv2d(_X, _W[:, :, ::2]), ValueError, "C-contiguous"),
        (lambda: kernels.maxpool2d(_X, (6, 1)), ValueError, "larger than the padded input"),
        (lambda: kernels.maxpool2d(_X, (2, 2), out=_X), ValueError, "out must"),
        (lambda: kernels.avgpool2d(_X, 2), TypeError, "kernel_shape must be a pair"),
        (lambda: kernels.avgpool2d(_X.reshape(2, 5, 5), (2, 2)), ValueError, "x must be 4-D"),
        (lambda: kernels.global_avgpool(np.ones((1, 2, 0, 3), F32)), ValueError, "at least one pixel"),
        (lambda: kernels.global_avgpool(_X, out=np.zeros((1, 2), F32)), ValueError, "out must be 4-D"),
        (lambda: kernels.global_avgpool(_X, isa="sse4"), ValueError, "no 'sse4' kernel"),
    ],
)
def test_conv_and_pool_validation_errors(call, exc, match: str) -> None:
    with pytest.raises(exc, match=match):
        call()


def test_conv_out_sharing_an_input_is_rejected() -> None:
    buf = np.zeros(2 * 5 * 5 + 3 * 3 * 3, F32)
    x = buf[:50].reshape(1, 2, 5, 5)
    with pytest.raises(ValueError, match="out must not share memory with x"):
        kernels.conv2d(x, _W, out=buf[40:67].reshape(1, 3, 3, 3))
