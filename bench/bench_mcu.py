"""Exact instruction counts of the kernels under QEMU: CSR spmm per nonzero, dense gemm per
multiply-add, block-sparse spmm per stored weight, direct convolutions per multiply-add.

    python setup.py build_ext --inplace -q && PYTHONPATH=. python bench/bench_mcu.py [--quick]

Counts come from sparsec.emulate's TCG counting plugin for one call of the kernel function:
"instructions" are those inside the function, "with callees" adds everything it calls (its
own static helpers when the compiler did not inline them, and on soft-float cores the libgcc
float routines); the per-unit columns use "with callees", the real cost. QEMU models no
cycles, so these are instruction counts, not time. On a Cortex-M4 they are a lower bound on
cycles: most integer instructions take 1 cycle, but loads 1-2, vfma 3 and a vldmia of N
registers 1+N (Cortex-M4 TRM), so the cycle ratio between two kernels is smaller than the
instruction ratio. On aarch64 (qemu-aarch64 user mode) instruction counts say little about
time on a real core; they are shown only to compare code paths.

Targets: cortex-m4f (scalar and armv7em kernels), aarch64-neon (scalar and neon), and, for
spmm and gemm, the soft-float cores cortex-m3, cortex-m0plus and riscv32 (scalar).
cortex-m0plus has 16 KiB of RAM: layers that do not fit say so.

Layers: LeNet-300-100's 784->300 and 300->100, and 100->10, random float32 weights pruned at
random positions to the given sparsity (so rows have binomially distributed lengths), bias and
ReLU fused; batch 1 and 2 on the Cortex-M4F (the armv7em spmm has a 2-sample path), 1 and 8 on
aarch64 (the NEON 8-sample panel path). The same weights are used at every batch size.
spmm uses the narrowest index type (uint8 for k <= 256, else uint16); the 784->300
layer is also run with int32 indices. "per nonzero" is a whole call (row set-up, bias, clamp
and store included) divided by nnz * batch; "per MAC" divides a dense gemm call by n*k*batch.
Block-sparse: the two larger layers with 90% of the 1x4 / 4x1 / 8x1 blocks zeroed, per stored
weight (padding included). Convolutions: 8->16 channels, 3x3, pad 1 on 16x16, sparse (CSR,
uint8) at 0/50/90% sparsity and dense, per nonzero weight times output pixel.
Every output is checked against NumPy float64 (max abs error is printed) before its count is
trusted. Needs the cross toolchains and QEMU (make deps-system); takes a few minutes.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from sparsec.emulate import OUT, DoesNotFitError, EmulatedKernels

LAYERS = [(300, 784), (100, 300), (10, 100)]  # (n outputs, k inputs)
# (target, ISAs, batch sizes): the FPU targets with their tuned kernels, and the soft-float cores
# (their scalar kernels call libgcc for every float operation: see the "with callees" column).
TARGETS = [
    ("cortex-m4f", ("scalar", "armv7em"), (1, 2)),
    ("aarch64-neon", ("scalar", "neon"), (1, 8)),
    ("cortex-m3", ("scalar",), (1,)),
    ("cortex-m0plus", ("scalar",), (1,)),
    ("riscv32", ("scalar",), (1,)),
]
SPMM_SYMBOL = "sparsec_f32_spmm_minmax_ukernel_1x1_{index}__{isa}"
BSPMM_SYMBOL = "sparsec_f32_spmm_minmax_ukernel_{r}x{c}_{index}__{isa}"
BLOCKS = [(1, 4), (4, 1), (8, 1)]
CONV = (8, 16, 16, 16, (3, 3))  # in channels, out channels, height, width, kernel
BLOCK_TARGETS = [("cortex-m4f", ("scalar", "armv7em")), ("aarch64-neon", ("scalar", "neon"))]
GEMM_SYMBOL = "sparsec_f32_gemm_minmax_ukernel__{isa}"
INDEX = {"u8": np.uint8, "u16": np.uint16, "i32": np.int32}


def weights(rng: np.random.Generator, n: int, k: int, sparsity: float) -> np.ndarray:
    w = rng.uniform(-1.0, 1.0, (n, k)).astype(np.float32)
    w[rng.random((n, k)) < sparsity] = 0.0
    return w


def csr(w: np.ndarray, index: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, cols = np.nonzero(w)
    indptr = np.zeros(w.shape[0] + 1, np.uint32)
    np.cumsum(np.bincount(rows, minlength=w.shape[0]), out=indptr[1:])
    return indptr, cols.astype(INDEX[index]), w[rows, cols]


def bsr(
    rng: np.random.Generator, n: int, k: int, block: tuple[int, int], sparsity: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random weights with whole R x C blocks zeroed: (dense W, indptr, block columns, values).

    Values are stored block by block, row-major inside a block, edge padding 0 (kernels.h)."""
    r, c = block
    rows, cols = -(-n // r), -(-k // c)
    keep = rng.random((rows, cols)) >= sparsity
    padded = rng.uniform(-1.0, 1.0, (rows * r, cols * c)).astype(np.float32)
    padded *= np.kron(keep, np.ones((r, c), np.float32))
    padded[n:], padded[:, k:] = 0.0, 0.0
    indptr = np.zeros(rows + 1, np.uint32)
    np.cumsum(keep.sum(axis=1), out=indptr[1:])
    br, bc = np.nonzero(keep)
    values = np.stack([padded[i * r : i * r + r, j * c : j * c + c].ravel() for i, j in zip(br, bc)])
    return padded[:n, :k], indptr, bc, values.astype(np.float32).ravel()


def conv_reference(x: np.ndarray, w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """ReLU(conv2d(x, w) + bias) in float64, stride 1, pad (kh // 2, kw // 2): same-size output."""
    _, c, h, wd = x.shape
    m, _, kh, kw = w.shape
    xp = np.pad(x[0].astype(np.float64), ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2)))
    out = np.zeros((m, h, wd))
    for ky in range(kh):
        for kx in range(kw):
            out += np.einsum("mc,chw->mhw", w[:, :, ky, kx].astype(np.float64), xp[:, ky : ky + h, kx : kx + wd])
    return np.maximum(out + bias[:, None, None], 0.0)[None]


def reference(x: np.ndarray, w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    return np.maximum(x.astype(np.float64) @ w.astype(np.float64).T + bias, 0.0)


def measure(kern: EmulatedKernels, symbol: str, call, ref: np.ndarray, k: int) -> tuple[str, str, float, str]:
    """One call under the counter: own instructions, with callees, per-call total, max error.

    A call whose arrays do not fit the target's RAM gives empty cells (and NaN), not a number.
    """
    try:
        with kern.batch(count=True) as b:
            y = call()
    except DoesNotFitError:
        return "does not fit", "", float("nan"), ""
    err = float(np.abs(y - ref).max()) if y.size else 0.0
    if err > 1e-5 * max(k, 1):
        sys.exit(f"{kern.target.name} {symbol}: wrong result (max abs error {err:.3g})")
    own, total = b.counts.per_call(symbol), b.counts.per_call(symbol, inclusive=True)
    return f"{own:.0f}", f"{total:.0f}", total, f"{err:.1e}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="90%% sparsity only, no int32 row")
    args = ap.parse_args()
    sparsities = (0.9,) if args.quick else (0.5, 0.9, 0.95)
    rng = np.random.default_rng(0)
    spmm_rows, gemm_rows = [], []
    t0 = time.time()
    for target, isas, batches in TARGETS:
        kern = EmulatedKernels(target)
        for n, k in LAYERS:
            bias = rng.uniform(-0.1, 0.1, n).astype(np.float32)
            dense = weights(rng, n, k, 0.0)
            pruned = {sparsity: weights(rng, n, k, sparsity) for sparsity in sparsities}
            for m in batches:
                x = rng.uniform(-1.0, 1.0, (m, k)).astype(np.float32)
                for isa in isas:
                    sym = GEMM_SYMBOL.format(isa=isa)
                    cells = measure(
                        kern, sym, lambda: kern.gemm(x, dense, bias, ymin=0.0, isa=isa), reference(x, dense, bias), k
                    )
                    gemm_rows.append((target, isa, f"{k}->{n}", m, n * k * m, *cells))
                for sparsity, w in pruned.items():
                    indexes = ["u8" if k <= 256 else "u16"]
                    if k == 784 and sparsity == 0.9 and not args.quick:
                        indexes.append("i32")
                    for index in indexes:
                        indptr, indices, values = csr(w, index)
                        for isa in isas:
                            sym = SPMM_SYMBOL.format(index=index, isa=isa)
                            cells = measure(
                                kern,
                                sym,
                                lambda: kern.spmm(x, indptr, indices, values, bias, ymin=0.0, isa=isa),
                                reference(x, w, bias),
                                k,
                            )
                            work = int(indptr[-1]) * m
                            spmm_rows.append((target, isa, f"{k}->{n}", m, f"{sparsity:.0%}", index, work, *cells))
    bsr_rows = []
    for target, isas in BLOCK_TARGETS:
        kern = EmulatedKernels(target)
        for n, k in LAYERS[:2]:
            bias = rng.uniform(-0.1, 0.1, n).astype(np.float32)
            x = rng.uniform(-1.0, 1.0, (1, k)).astype(np.float32)
            for block in BLOCKS:
                w, indptr, cols, values = bsr(rng, n, k, block, 0.9)
                index = "u8" if -(-k // block[1]) <= 256 else "u16"
                indices = cols.astype(INDEX[index])
                for isa in isas:
                    sym = BSPMM_SYMBOL.format(r=block[0], c=block[1], index=index, isa=isa)
                    args = [1, n, k, x, indptr, indices, values, bias, OUT, 0.0, float("inf")]
                    y = np.empty((1, n), np.float32)
                    cells = measure(kern, sym, lambda: kern.call(sym, args, out=y), reference(x, w, bias), k)
                    bsr_rows.append((target, isa, f"{k}->{n}", f"{block[0]}x{block[1]}", index, values.size, *cells))
    conv_rows = []
    c_in, c_out, h, w_, kernel = CONV  # one small CNN layer: 3x3, pad 1, stride 1
    for target, isas in BLOCK_TARGETS:
        kern = EmulatedKernels(target)
        x = rng.uniform(-1.0, 1.0, (1, c_in, h, w_)).astype(np.float32)
        bias = rng.uniform(-0.1, 0.1, c_out).astype(np.float32)
        g = np.array([h, w_, h, w_, *kernel, 1, 1, 1, 1, 1, 1, 1, 1], dtype=kern.size_t)
        for sparsity in (0.0, 0.5, 0.9):
            wt = rng.uniform(-1.0, 1.0, (c_out, c_in, *kernel)).astype(np.float32)
            wt[rng.random(wt.shape) < sparsity] = 0.0
            flat = wt.reshape(c_out, -1)
            rows, cols = np.nonzero(flat)
            indptr = np.zeros(c_out + 1, np.uint32)
            np.cumsum(np.bincount(rows, minlength=c_out), out=indptr[1:])
            ref = conv_reference(x, wt, bias)
            for isa in isas:
                y = np.empty((1, c_out, h, w_), np.float32)
                sym = f"sparsec_f32_spconv_minmax_ukernel_u8__{isa}"
                csr_w = (indptr, cols.astype(np.uint8), flat[rows, cols])
                args = [1, c_in, c_out, g, x, *csr_w, bias, OUT, 0.0, float("inf")]
                cells = measure(kern, sym, lambda: kern.call(sym, args, out=y), ref, c_in * 9)
                conv_rows.append((target, isa, "spconv", f"{sparsity:.0%}", len(cols) * h * w_, *cells))
                if sparsity == 0.0:
                    sym = f"sparsec_f32_conv_minmax_ukernel__{isa}"
                    args = [1, c_in, c_out, g, x, wt, bias, OUT, 0.0, float("inf")]
                    cells = measure(kern, sym, lambda: kern.call(sym, args, out=y), ref, c_in * 9)
                    conv_rows.append((target, isa, "conv (dense)", "0%", wt.size * h * w_, *cells))
    print("\n## CSR spmm: instructions per nonzero (whole call, callees included, / (nnz * batch)), ReLU fused\n")
    print(
        "| target | kernel | layer | batch | sparsity | index | nnz x batch | instructions | with callees "
        "| per nonzero | max err |"
    )
    print("| --- | --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for target, isa, layer, m, sp, index, work, own, total, per_call, err in spmm_rows:
        per = "" if per_call != per_call else f"{per_call / work:.2f}"
        print(f"| {target} | {isa} | {layer} | {m} | {sp} | {index} | {work} | {own} | {total} | {per} | {err} |")
    print("\n## Dense gemm: instructions per multiply-add (whole call, callees included, / (n * k * batch))\n")
    print("| target | kernel | layer | batch | MACs | instructions | with callees | per MAC | max err |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for target, isa, layer, m, macs, own, total, per_call, err in gemm_rows:
        per = "" if per_call != per_call else f"{per_call / macs:.2f}"
        print(f"| {target} | {isa} | {layer} | {m} | {macs} | {own} | {total} | {per} | {err} |")
    print("\n## Block-sparse (BSR) spmm at 90% block sparsity, batch 1: instructions per stored weight\n")
    print("| target | kernel | layer | block | index | stored | instructions | with callees | per weight | max err |")
    print("| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for target, isa, layer, block, index, stored, own, total, per_call, err in bsr_rows:
        per = "" if per_call != per_call else f"{per_call / stored:.2f}"
        print(f"| {target} | {isa} | {layer} | {block} | {index} | {stored} | {own} | {total} | {per} | {err} |")
    print(
        f"\n## Direct convolution {c_in}->{c_out} channels, {kernel[0]}x{kernel[1]}, pad 1, on {h}x{w_}, batch 1: "
        "instructions per multiply-add (nonzeros x output pixels; border taps do fewer)\n"
    )
    print("| target | kernel | op | sparsity | MACs | instructions | with callees | per MAC | max err |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for target, isa, op, sp, macs, own, total, per_call, err in conv_rows:
        per = "" if per_call != per_call else f"{per_call / macs:.2f}"
        print(f"| {target} | {isa} | {op} | {sp} | {macs} | {own} | {total} | {per} | {err} |")
    print(f"\n({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
