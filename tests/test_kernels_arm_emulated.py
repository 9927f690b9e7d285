"""Block-sparse spmm and convolution kernels of the emulated ISAs (neon, armv7em) on their targets.

tests/test_kernels_block.py and tests/test_kernels_conv.py check these families on the ISAs
sparsec.kernels runs on this machine; the neon (aarch64-neon, qemu-aarch64) and armv7em
(cortex-m4f, qemu-system-arm) kernels run here, through sparsec.emulate.EmulatedKernels.call
(tests/test_kernels_emulated.py covers gemm/spmm/vbias/vadd/clamp).

BSR spmm: every tile (1x4, 4x1, 8x1) and index type; n and k below, at and above the tile and
unroll widths (ragged edge blocks, whose padding must be ignored); batches 1-5; empty, half and
full block rows; no bias; clamps hitting both ends; NaN propagation; the largest block column
of each index type. Checked against float64 NumPy (rtol 1e-5, atol 1e-5 per accumulated term,
as the host tests) and against the host scalar kernel.
Convolutions (sparse CSR, dense, depthwise): geometries with pads, strides 1 and 2, dilation 2,
kernels 1x1 to 5x5, row widths below, at and above the 8-pixel step, batch 2, every index type,
densities 0 / 0.3 / 1, clamps; checked against the host scalar kernel (itself checked against
NumPy by tests/test_kernels_conv.py) with the same tolerances.
All calls of one test run in one emulator session; the 10 tests take about 30 s.
"""

from __future__ import annotations

import numpy as np
import pytest

from sparsec import emulate, kernels
from sparsec.emulate import OUT, EmulatedKernels
from sparsec.errors import ToolchainError
from sparsec.sparse import BSR
from sparsec.targets import load_target

TARGETS = [("aarch64-neon", "neon"), ("cortex-m4f", "armv7em")]
BLOCKS = [(1, 4), (4, 1), (8, 1)]
INDEX = {np.dtype(np.uint8): "u8", np.dtype(np.uint16): "u16", np.dtype(np.int32): "i32"}
F32 = np.float32
INF = float("inf")


def _emulator_for(target: str) -> EmulatedKernels:
    t = load_target(target)
    try:
        emulate.compiler(t)
        emulate.emulator(t)
    except ToolchainError as e:
        pytest.skip(f"{target}: {e} (make test installs it as root)")
    return EmulatedKernels(t)


def _weights(rng: np.random.Generator, n: int, k: int, block: tuple[int, int], keep: float) -> np.ndarray:
    """[n, k] float32 with whole aligned blocks zeroed; every third block row empty when keep < 1."""
    r, c = block
    rows, cols = -(-n // r), -(-k // c)
    mask = rng.random((rows, cols)) < keep
    if keep < 1.0:
        mask[::3] = False
    w = rng.uniform(-1.0, 1.0, (rows * r, cols * c)).astype(F32)
    w[w == 0] = 0.5
    w *= np.kron(mask, np.ones(block, F32))
    return np.ascontiguousarray(w[:n, :k])


def _cases(block: tuple[int, int]):
    """(what, x, BSR, bias, lo, hi) for every edge case of one tile."""
    rng = np.random.default_rng(block[0] * 10 + block[1])
    for m in (1, 2, 3, 5):
        for n in (1, 3, 4, 5, 8, 9, 17):
            for k in (1, 3, 4, 5, 8, 9, 33):
                for keep in (0.0, 0.5, 1.0):
                    w = _weights(rng, n, k, block, keep)
                    x = rng.uniform(-1.0, 1.0, (m, k)).astype(F32)
                    bias = rng.uniform(-1.0, 1.0, n).astype(F32) if (n + k) % 2 else None
                    b = BSR.from_dense(w, block)
                    for dtype in INDEX:
                        yield f"m={m} n={n} k={k} keep={keep}", x, _typed(b, dtype), bias, -INF, INF
    w = _weights(rng, 17, 33, block, 0.7)  # clamp hitting both ends
    x = rng.uniform(-1.0, 1.0, (4, 33)).astype(F32)
    yield "clamp", x, BSR.from_dense(w, block), rng.uniform(-1.0, 1.0, 17).astype(F32), -0.5, 0.5
    x = np.ones((2, 12), F32)
    x[:, 3] = np.nan  # block column 3 // C reads the NaN; the other rows must not see it
    w = np.zeros((9, 12), F32)
    w[0, 3] = 1.0
    w[8, 8] = 1.0
    yield "nan", x, BSR.from_dense(w, block), None, 0.0, 6.0
    for dtype in INDEX:  # the largest block column of each index type
        cols = {np.dtype(np.uint8): 256, np.dtype(np.uint16): 65536, np.dtype(np.int32): 70001}[dtype]
        k = cols * block[1]
        w = np.zeros((block[0] + 1, k), F32)
        w[0, k - 1] = 2.0
        w[-1, 0] = -1.0
        w[-1, k // 2] = 0.5
        x = rng.uniform(-1.0, 1.0, (1, k)).astype(F32)
        b = BSR.from_dense(w, block)
        assert int(b.indices.max()) == cols - 1
        yield f"largest index k={k}", x, _typed(b, dtype), None, -INF, INF


def _typed(b: BSR, dtype: np.dtype) -> BSR:
    return BSR(b.shape, b.block, b.indptr, b.indices.astype(dtype), b.values)


def _reference(x: np.ndarray, b: BSR, bias, lo: float, hi: float) -> np.ndarray:
    """float64 result over the stored slots only (a stored zero times NaN is NaN, a hole is not)."""
    stored = BSR(b.shape, b.block, b.indptr, b.indices, np.ones_like(b.values)).to_dense() != 0
    w = b.to_dense().astype(np.float64)
    ref = np.zeros((x.shape[0], b.shape[0]))
    with np.errstate(invalid="ignore"):
        for i, row in enumerate(x.astype(np.float64)):
            ref[i] = np.where(stored, row[None, :] * w, 0.0).sum(axis=1)
    if bias is not None:
        ref += bias
    return np.clip(ref, lo, hi)


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: f"{b[0]}x{b[1]}")
@pytest.mark.parametrize("target,isa", TARGETS, ids=[t for t, _ in TARGETS])
def test_bspmm_on_target_matches_numpy_and_scalar(target: str, isa: str, block: tuple[int, int]) -> None:
    emu = _emulator_for(target)
    runs = []
    with emu.batch():
        for what, x, b, bias, lo, hi in _cases(block):
            index = INDEX[b.indices.dtype]
            fn = f"sparsec_f32_spmm_minmax_ukernel_{block[0]}x{block[1]}_{index}__{isa}"
            m, (n, k) = x.shape[0], b.shape
            out = np.full((m, n), np.nan, F32)
            emu.call(fn, [m, n, k, x, b.indptr, b.indices, b.values, bias, OUT, lo, hi], out=out)
            runs.append((f"{fn} {what}", out, x, b, bias, lo, hi))
    for what, got, x, b, bias, lo, hi in runs:
        k = b.shape[1]
        ref = _reference(x, b, bias, lo, hi)
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * max(k, 1), err_msg=what)
        host = kernels.bspmm(x, b.indptr, b.indices, b.values, b.shape[0], b.block, bias, lo, hi)
        np.testing.assert_allclose(got, host, rtol=1e-5, atol=1e-6 * max(k, 1), err_msg=f"{what} vs host scalar")
        if what.endswith("nan"):
            assert np.isnan(got[:, 0]).all() and np.isfinite(got[:, 8]).all(), what


# (batch, channels, height, width, out_channels, kernel, strides, pads (t, l, b, r), dilations)
CONV_GEOMETRIES = [
    (1, 1, 1, 1, 1, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1)),
    (2, 3, 5, 7, 4, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
    (1, 2, 9, 17, 3, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
    (1, 4, 6, 33, 2, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1)),
    (1, 2, 11, 16, 3, (5, 5), (2, 2), (2, 2, 2, 2), (1, 1)),
    (2, 2, 10, 19, 2, (3, 2), (1, 2), (0, 1, 2, 0), (2, 2)),
    (1, 3, 8, 8, 5, (2, 2), (2, 1), (0, 0, 1, 1), (1, 1)),
    (1, 1, 3, 4, 2, (5, 5), (1, 1), (2, 2, 2, 2), (1, 1)),
]


def _window(emu: EmulatedKernels, x_shape, kernel, strides, pads, dilations) -> tuple[np.ndarray, int, int]:
    """struct sparsec_window2d as bytes of the target's size_t, and the output height/width."""
    _, _, h, w = x_shape
    oh = (h + pads[0] + pads[2] - dilations[0] * (kernel[0] - 1) - 1) // strides[0] + 1
    ow = (w + pads[1] + pads[3] - dilations[1] * (kernel[1] - 1) - 1) // strides[1] + 1
    fields = [h, w, oh, ow, *kernel, *strides, *dilations, pads[0], pads[1], pads[2], pads[3]]
    return np.array(fields, dtype=emu.size_t), oh, ow


@pytest.mark.parametrize("target,isa", TARGETS, ids=[t for t, _ in TARGETS])
def test_convolutions_on_target_match_host_scalar(target: str, isa: str) -> None:
    emu = _emulator_for(target)
    rng = np.random.default_rng(11)
    runs = []
    with emu.batch():
        for nb, c, h, w, m, kernel, strides, pads, dilations in CONV_GEOMETRIES:
            g, oh, ow = _window(emu, (nb, c, h, w), kernel, strides, pads, dilations)
            geometry = dict(strides=strides, pads=pads, dilations=dilations)
            x = rng.uniform(-1.0, 1.0, (nb, c, h, w)).astype(F32)
            bias = rng.uniform(-1.0, 1.0, m).astype(F32)
            what = f"{nb}x{c}x{h}x{w} -> {m} kernel={kernel} strides={strides} pads={pads} dilations={dilations}"
            terms = c * kernel[0] * kernel[1]
            for density in (0.0, 0.3, 1.0):
                wt = rng.uniform(-1.0, 1.0, (m, c, *kernel)).astype(F32)
                wt[rng.random(wt.shape) >= density] = 0.0
                flat = wt.reshape(m, -1)
                rows, cols = np.nonzero(flat)
                indptr = np.zeros(m + 1, np.uint32)
                np.cumsum(np.bincount(rows, minlength=m), out=indptr[1:])
                values = flat[rows, cols]
                lo, hi = (-0.5, 0.5) if density == 1.0 else (-INF, INF)
                for dtype in INDEX:
                    idx = cols.astype(dtype)
                    fn = f"sparsec_f32_spconv_minmax_ukernel_{INDEX[np.dtype(dtype)]}__{isa}"
                    out = np.full((nb, m, oh, ow), np.nan, F32)
                    emu.call(fn, [nb, c, m, g, x, indptr, idx, values, bias, OUT, lo, hi], out=out)
                    ref = kernels.spconv2d(x, indptr, idx, values, kernel, bias, ymin=lo, ymax=hi, **geometry)
                    runs.append((f"{fn} {what} density={density}", out, ref, terms))
                fn = f"sparsec_f32_conv_minmax_ukernel__{isa}"
                out = np.full((nb, m, oh, ow), np.nan, F32)
                emu.call(fn, [nb, c, m, g, x, wt, None, OUT, lo, hi], out=out)
                ref = kernels.conv2d(x, wt, None, ymin=lo, ymax=hi, **geometry)
                runs.append((f"{fn} {what} density={density} no bias", out, ref, terms))
            dw = rng.uniform(-1.0, 1.0, (c, 1, *kernel)).astype(F32)
            fn = f"sparsec_f32_dwconv_minmax_ukernel__{isa}"
            out = np.full((nb, c, oh, ow), np.nan, F32)
            emu.call(fn, [nb, c, g, x, dw, bias[:c] if c <= m else None, OUT, 0.0, INF], out=out)
            ref = kernels.dwconv2d(x, dw, bias[:c] if c <= m else None, ymin=0.0, ymax=INF, **geometry)
            runs.append((f"{fn} {what}", out, ref, kernel[0] * kernel[1]))
    assert len(runs) == len(CONV_GEOMETRIES) * 13
    for what, got, ref, terms in runs:
        assert got.shape == ref.shape, what
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * terms, err_msg=what)
