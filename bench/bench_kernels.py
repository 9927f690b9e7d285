"""Per-layer kernel latency: scalar vs avx2 (dense gemm and CSR spmm) vs onnxruntime vs scipy CSR.

    python setup.py build_ext --inplace -q && PYTHONPATH=. python bench/bench_kernels.py [--quick]
        [--block] [--conv]   (only the block-sparse table / only the convolution table)

Layers: LeNet-300-100 (784->300, 300->100, 100->10) and 1024->1024, random weights pruned by
magnitude to 0/50/90/95% sparsity, bias + ReLU fused, batch 1 and 64, all single-threaded.
The kernels (every ISA in the kernel table this CPU runs) are built from csrc/ into a
throw-away shared library with the same strict flags as setup.py and called through ctypes
on prepared pointers, so a number is the C kernel plus a ~1 µs ctypes call, without the
O(nnz) argument validation of sparsec.kernels. spmm uses the narrowest index type
(uint8 for k <= 256, else uint16). Peers: onnxruntime (one Gemm+Relu node, dense weights,
session.run: includes its ~11 µs per-call overhead), scipy.sparse CSR and NumPy dense
(x @ W.T + b, then ReLU). Reports medians (µs), effective GFLOP/s (as if dense) of the best
sparsec kernel, and the density below which avx2 CSR beats avx2 dense (the crossover the
sparsify pass uses), per batch.

--block: block-sparse (BSR 1x4, 4x1, 8x1) vs CSR vs dense gemm on LeNet fc1 (784->300) and a
1024x1024 layer at 90% sparsity, batch 1 and 64. The BSR kernels get the weights block-pruned
(the lowest-L1 blocks zeroed, as sparsec.prune(granularity="block") does), CSR the same weights
pruned unstructured; the dense kernel the unpruned ones (it does the same work either way).
--conv: sparse direct conv (CSR weights) vs dense direct conv, 16->32 channels 3x3 pad 1 on 32x32,
batch 1, at 0/50/90% unstructured sparsity.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import ctypes  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from bench_models import median_us  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from sparsec import kernels  # noqa: E402
from sparsec.codegen.kernels import BSPMM_FAMILY, ISA_CFLAGS, KERNELS, SPCONV_FAMILY, SPMM_FAMILY, csrc_dir  # noqa: E402
from sparsec.sparse import BSR  # noqa: E402

CFLAGS = ["-std=c99", "-O2", "-fPIC", "-Wall", "-Wextra", "-Werror", "-pedantic"]
LAYERS = [("LeNet fc1", 784, 300), ("LeNet fc2", 300, 100), ("LeNet fc3", 100, 10), ("1024 layer", 1024, 1024)]
SPARSITIES = (0.0, 0.5, 0.9, 0.95)
BATCHES = (1, 64)
F32P = ctypes.POINTER(ctypes.c_float)


def build_library(isas: tuple[str, ...], out_dir: Path) -> ctypes.CDLL:
    """Compile every kernel of the given ISAs (with their flags) into one shared library."""
    csrc = csrc_dir()
    objs = []
    for isa in isas:
        for src in sorted({KERNELS[f].file(isa) for f in KERNELS if isa in KERNELS[f].isas}):
            obj = out_dir / (Path(src).stem + ".o")
            cmd = ["cc", *CFLAGS, *ISA_CFLAGS[isa], f"-I{csrc / 'include'}", "-c", str(csrc / src), "-o", str(obj)]
            subprocess.run(cmd, check=True)
            objs.append(str(obj))
    lib = out_dir / "libbench_kernels.so"
    subprocess.run(["cc", "-shared", "-o", str(lib), *objs, "-lm"], check=True)
    return ctypes.CDLL(str(lib))


def ptr(a: np.ndarray, ctype=ctypes.c_float):
    return a.ctypes.data_as(ctypes.POINTER(ctype))


def prune(w: np.ndarray, sparsity: float) -> np.ndarray:
    """Zero the smallest-magnitude fraction `sparsity` of the weights (unstructured)."""
    w = w.copy()
    if sparsity:
        w[np.abs(w) <= np.quantile(np.abs(w), sparsity)] = 0.0
    return w


def to_csr(w: np.ndarray):
    rows, cols = np.nonzero(w)
    indptr = np.zeros(w.shape[0] + 1, np.uint32)
    np.cumsum(np.bincount(rows, minlength=w.shape[0]), out=indptr[1:])
    index_dtype = np.uint8 if w.shape[1] <= 256 else np.uint16 if w.shape[1] <= 65536 else np.int32
    return indptr, cols.astype(index_dtype), np.ascontiguousarray(w[rows, cols], dtype=np.float32)


def kernel_calls(lib: ctypes.CDLL, isa: str, x, w, b, csr, y):
    """Zero-argument callables running gemm and spmm of `isa` on prepared pointers."""
    m, k = x.shape
    n = w.shape[0]
    indptr, indices, values = csr
    gemm = getattr(lib, KERNELS["f32-gemm"].function(isa))
    spmm = getattr(lib, KERNELS[SPMM_FAMILY[indices.dtype.name]].function(isa))
    ctype = {"uint8": ctypes.c_uint8, "uint16": ctypes.c_uint16, "int32": ctypes.c_int32}[indices.dtype.name]
    size = ctypes.c_size_t
    inf = ctypes.c_float(np.inf)
    zero = ctypes.c_float(0.0)
    g_args = (size(m), size(n), size(k), ptr(x), ptr(w), ptr(b), ptr(y), zero, inf)
    s_args = (size(m), size(n), size(k), ptr(x), ptr(indptr, ctypes.c_uint32), ptr(indices, ctype), ptr(values))
    s_args += (ptr(b), ptr(y), zero, inf)
    return (lambda: gemm(*g_args)), (lambda: spmm(*s_args))


def ort_layer(w: np.ndarray, b: np.ndarray):
    import onnxruntime as ort

    n, k = w.shape
    g = helper.make_graph(
        [
            helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1),
            helper.make_node("Relu", ["h"], ["y"]),
        ],
        "layer",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", n])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return lambda x: sess.run(None, {"x": x})[0]


def crossover(lib: ctypes.CDLL, isa: str, k: int, n: int, batch: int, repeat: int) -> float:
    """Largest density (on a 1% grid, interpolated) at which CSR spmm is faster than dense gemm."""
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((n, k)).astype(np.float32)
    b = np.zeros(n, np.float32)
    x = rng.random((batch, k), dtype=np.float32)
    y = np.empty((batch, n), np.float32)
    gemm, _ = kernel_calls(lib, isa, x, w0, b, to_csr(w0), y)
    t_dense = median_us(gemm, repeat=repeat)
    prev = (0.0, -t_dense)
    for density in np.arange(0.02, 1.001, 0.02):
        w = prune(w0, 1.0 - density)
        _, spmm = kernel_calls(lib, isa, x, w, b, to_csr(w), y)
        diff = median_us(spmm, repeat=repeat) - t_dense
        if diff >= 0:  # interpolate between the last faster and this slower density
            d0, e0 = prev
            return d0 + (density - d0) * (-e0) / (diff - e0)
        prev = (density, diff)
    return 1.0


def block_prune(w: np.ndarray, block: tuple[int, int], sparsity: float) -> np.ndarray:
    """Zero the fraction `sparsity` of aligned blocks with the smallest L1 norm."""
    (r, c), (n, k) = block, w.shape
    padded = np.zeros((-(-n // r) * r, -(-k // c) * c), w.dtype)  # edge blocks are cut at the matrix
    padded[:n, :k] = np.abs(w)
    norms = padded.reshape(padded.shape[0] // r, r, padded.shape[1] // c, c).sum(axis=(1, 3))
    cut = norms <= np.quantile(norms, sparsity)
    return w * ~np.repeat(np.repeat(cut, r, 0), c, 1)[:n, :k]


def spmm_call(lib: ctypes.CDLL, family: str, isa: str, x, indptr, indices, values, b, y):
    """A zero-argument call of a CSR or BSR spmm kernel (same signature) on prepared pointers."""
    fn = getattr(lib, KERNELS[family].function(isa))
    ctype = {"uint8": ctypes.c_uint8, "uint16": ctypes.c_uint16, "int32": ctypes.c_int32}[indices.dtype.name]
    size = ctypes.c_size_t
    args = (size(x.shape[0]), size(y.shape[1]), size(x.shape[1]), ptr(x), ptr(indptr, ctypes.c_uint32))
    args += (ptr(indices, ctype), ptr(values), ptr(b), ptr(y), ctypes.c_float(0.0), ctypes.c_float(np.inf))
    return lambda: fn(*args)


def warm_up(fn, seconds: float = 0.5) -> None:
    """Run `fn` for a while first, so the first row is not measured on a cold, slow-clocked core."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        fn()


def block_table(lib: ctypes.CDLL, isas: tuple[str, ...], repeat: int) -> None:
    rng = np.random.default_rng(1)
    blocks = ((1, 4), (4, 1), (8, 1))
    cols = " | ".join(f"{isa} dense | {isa} CSR | " + " | ".join(f"{isa} {r}x{c}" for r, c in blocks) for isa in isas)
    print("Block-sparse at 90% sparsity; medians in µs; ratios are the best block kernel vs CSR / dense\n")
    print(f"| layer | batch | {cols} | best block | vs CSR | vs dense |")
    print("| --- | ---: | " + "---: | " * ((len(blocks) + 2) * len(isas) + 3))
    for label, k, n in (("LeNet fc1", 784, 300), ("1024 layer", 1024, 1024)):
        w0 = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(np.float32)
        b = (rng.standard_normal(n) * 0.1).astype(np.float32)
        w_csr = prune(w0, 0.9)
        for batch in BATCHES:
            x = rng.random((batch, k), dtype=np.float32)
            y = np.empty((batch, n), np.float32)
            times: dict[str, float] = {}
            for isa in isas:
                gemm, spmm = kernel_calls(lib, isa, x, w0, b, to_csr(w_csr), y)
                warm_up(gemm)
                times[f"{isa} dense"] = median_us(gemm, repeat=repeat)
                times[f"{isa} CSR"] = median_us(spmm, repeat=repeat)
                for block in blocks:
                    w = block_prune(w0, block, 0.9).astype(np.float32)
                    bsr = BSR.from_dense(w, block)
                    family = BSPMM_FAMILY[(block, bsr.indices.dtype.name)]
                    call = spmm_call(lib, family, isa, x, bsr.indptr, bsr.indices, bsr.values, b, y)
                    call()
                    ref = np.maximum(x.astype(np.float64) @ w.T.astype(np.float64) + b, 0.0)
                    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4, err_msg=f"{isa} {block}")
                    times[f"{isa} {block[0]}x{block[1]}"] = median_us(call, repeat=repeat)
            best_isa = isas[-1]
            best = min((times[f"{best_isa} {r}x{c}"], f"{r}x{c}") for r, c in blocks)
            cells = " | ".join(f"{times[key]:.1f}" for key in times)
            print(
                f"| {label} {k}->{n} | {batch} | {cells} | {best_isa} {best[1]} | "
                f"{times[f'{best_isa} CSR'] / best[0]:.2f}x | {times[f'{best_isa} dense'] / best[0]:.2f}x |",
                flush=True,
            )
    print()


class Window2d(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "in_height", "in_width", "out_height", "out_width", "kernel_height", "kernel_width",
            "stride_height", "stride_width", "dilation_height", "dilation_width",
            "pad_top", "pad_left", "pad_bottom", "pad_right",
        )
    ]  # fmt: skip


def conv_table(lib: ctypes.CDLL, isas: tuple[str, ...], repeat: int) -> None:
    rng = np.random.default_rng(2)
    c, m, h, wd = 16, 32, 32, 32
    g = Window2d(h, wd, h, wd, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1)
    x = rng.random((1, c, h, wd), dtype=np.float32)
    w0 = (rng.standard_normal((m, c, 3, 3)) / 12).astype(np.float32)
    b = (rng.standard_normal(m) * 0.1).astype(np.float32)
    y = np.empty((1, m, h, wd), np.float32)
    size = ctypes.c_size_t
    clamp = (ctypes.c_float(0.0), ctypes.c_float(np.inf))
    print("Convolution 16->32, 3x3, pad 1, 32x32, batch 1 (bias + ReLU); medians in µs\n")
    cols = " | ".join(f"{isa} dense | {isa} sparse | {isa} dense/sparse" for isa in isas)
    print(f"| sparsity | {cols} | eff. GFLOP/s (best) |")
    print("| ---: | " + "---: | " * (3 * len(isas) + 1))
    for sparsity in (0.0, 0.5, 0.9):
        w = prune(w0.reshape(m, -1), sparsity).reshape(w0.shape)
        indptr, indices, values = to_csr(w.reshape(m, -1))
        ref = kernels.conv2d(x, w, b, (1, 1), (1, 1, 1, 1), ymin=0.0)
        cells, best = [], np.inf
        for isa in isas:
            dense_fn = getattr(lib, KERNELS["f32-conv"].function(isa))
            sparse_fn = getattr(lib, KERNELS[SPCONV_FAMILY[indices.dtype.name]].function(isa))
            ctype = {"uint8": ctypes.c_uint8, "uint16": ctypes.c_uint16}[indices.dtype.name]
            d_args = (size(1), size(c), size(m), ctypes.byref(g), ptr(x), ptr(w), ptr(b), ptr(y), *clamp)
            s_args = (size(1), size(c), size(m), ctypes.byref(g), ptr(x), ptr(indptr, ctypes.c_uint32))
            s_args += (ptr(indices, ctype), ptr(values), ptr(b), ptr(y), *clamp)
            row = []
            warm_up(lambda: dense_fn(*d_args))
            for fn, args in ((dense_fn, d_args), (sparse_fn, s_args)):
                fn(*args)
                np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4, err_msg=f"{isa} conv")
                row.append(median_us(lambda fn=fn, args=args: fn(*args), repeat=repeat))
            best = min(best, *row)
            cells.append(f"{row[0]:.1f} | {row[1]:.1f} | {row[0] / row[1]:.2f}x")
        gflops = 2 * m * c * 9 * h * wd / (best * 1e-6) / 1e9
        print(f"| {sparsity:.0%} | {' | '.join(cells)} | {gflops:.1f} |", flush=True)
    print()


def main() -> None:
    quick = "--quick" in sys.argv
    repeat = 5 if quick else 9
    isas = kernels.available_isas()
    rng = np.random.default_rng(0)
    only_block, only_conv = "--block" in sys.argv, "--conv" in sys.argv
    with tempfile.TemporaryDirectory() as tmp:
        lib = build_library(isas, Path(tmp))
        if only_block or only_conv:
            if only_block:
                block_table(lib, isas, repeat)
            if only_conv:
                conv_table(lib, isas, repeat)
            return
        block_table(lib, isas, repeat)
        conv_table(lib, isas, repeat)
        cols = " | ".join(f"{isa} dense | {isa} CSR" for isa in isas)
        print(f"ISAs: {', '.join(isas)}; medians in µs\n")
        print(
            f"| layer | sparsity | batch | {cols} | onnxruntime | scipy CSR | numpy dense | best vs ort "
            "| eff. GFLOP/s |"
        )
        print("| --- | ---: | ---: | " + "---: | " * (2 * len(isas) + 5))
        for label, k, n in LAYERS:
            w0 = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(np.float32)
            b = (rng.standard_normal(n) * 0.1).astype(np.float32)
            for s in SPARSITIES:
                w = prune(w0, s)
                csr = to_csr(w)
                ort = ort_layer(w, b)
                wcsr = sp.csr_matrix(w)
                for batch in BATCHES:
                    x = rng.random((batch, k), dtype=np.float32)
                    y = np.empty((batch, n), np.float32)
                    ref = np.maximum(x.astype(np.float64) @ w.T.astype(np.float64) + b, 0.0)
                    times = {}
                    for isa in isas:
                        gemm, spmm = kernel_calls(lib, isa, x, w, b, csr, y)
                        for kind, fn in (("dense", gemm), ("CSR", spmm)):
                            fn()
                            np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4, err_msg=f"{isa} {kind}")
                            times[f"{isa} {kind}"] = median_us(fn, repeat=repeat)
                    t_ort = median_us(lambda x=x: ort(x), repeat=repeat)
                    t_scipy = median_us(lambda x=x: np.maximum((wcsr @ x.T).T + b, 0.0), repeat=repeat)
                    t_np = median_us(lambda x=x: np.maximum(x @ w.T + b, 0.0), repeat=repeat)
                    best = min(times.values())
                    gflops = 2 * n * k * batch / (best * 1e-6) / 1e9
                    cells = " | ".join(f"{times[c]:.1f}" for isa in isas for c in (f"{isa} dense", f"{isa} CSR"))
                    print(
                        f"| {label} {k}->{n} | {s:.0%} | {batch} | {cells} | {t_ort:.1f} | {t_scipy:.1f} | "
                        f"{t_np:.1f} | {t_ort / best:.1f}x | {gflops:.1f} |",
                        flush=True,
                    )
        print()
        for isa in isas:
            for label, k, n in (("LeNet fc1", 784, 300), ("1024 layer", 1024, 1024)):
                for batch in BATCHES:
                    d = crossover(lib, isa, k, n, batch, repeat)
                    print(f"crossover {isa} {label} batch {batch}: CSR beats dense below {d:.0%} density", flush=True)


if __name__ == "__main__":
    main()
