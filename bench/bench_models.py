"""Latency of the digits MLP, LeNet-300-100 and a 1024x3 MLP (random weights) at several sparsities,
batch 1 and 64.

    make install && .venv/bin/python bench/bench_models.py

Peers measured in the same run, all single-threaded: onnxruntime (dense model,
session.run), NumPy dense (x @ W.T + b per layer), scipy.sparse CSR. sparsec
numbers are the generated C called from Python through sparsec.runtime. Reports
medians of repeated timings after warm-up, and the ratio to onnxruntime.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import sparsec  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def mlp_proto(sizes: list[int], seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    nodes, inits, x = [], [], "input"
    for i, (k, n) in enumerate(zip(sizes, sizes[1:])):
        inits += [
            numpy_helper.from_array((rng.standard_normal((n, k)) / np.sqrt(k)).astype(np.float32), f"w{i}"),
            numpy_helper.from_array(rng.standard_normal(n).astype(np.float32) * 0.1, f"b{i}"),
        ]
        nodes.append(helper.make_node("Gemm", [x, f"w{i}", f"b{i}"], [f"y{i}"], name=f"fc{i}", transB=1))
        x = f"y{i}"
        if i < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [x], [f"r{i}"], name=f"relu{i}"))
            x = f"r{i}"
    g = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", sizes[0]])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", sizes[-1]])],
        inits,
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def median_us(fn, repeat: int = 7, min_time: float = 0.05) -> float:
    fn()
    n, t = 1, 0.0
    while t < min_time / 5:  # calibrate the loop count
        start = time.perf_counter()
        for _ in range(n):
            fn()
        t = time.perf_counter() - start
        n *= 2
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - start) / n)
    return statistics.median(samples) * 1e6


#: (label, sparsec.prune options): unstructured magnitude, then 8x1 blocks (stored block-sparse).
LEVELS = [
    ("0%", {}),
    ("50%", {"sparsity": 0.5}),
    ("90%", {"sparsity": 0.9}),
    ("95%", {"sparsity": 0.95}),
    ("90% in 8x1 blocks", {"sparsity": 0.9, "granularity": "block", "block": (8, 1)}),
]


def run(label: str, proto: onnx.ModelProto, sparsities=LEVELS, batches=(1, 64)) -> list[str]:
    import onnxruntime as ort
    import scipy.sparse as sp

    rows = []
    base = sparsec.load(proto)
    for level, options in sparsities:
        model = sparsec.prune(base, **options) if options else base
        compiled = sparsec.compile(model, name="bench")
        weights = [
            (model.graph.constants[n.inputs[1]], model.graph.constants[n.inputs[2]])
            for n in model.graph.nodes
            if n.op == "Gemm"
        ]
        pruned = onnx.ModelProto()
        pruned.CopyFrom(proto)
        for init in pruned.graph.initializer:  # same pruned weights, dense, for onnxruntime
            for n in model.graph.nodes:
                if n.op == "Gemm" and init.name == n.name.replace("fc", "w"):
                    init.CopyFrom(numpy_helper.from_array(model.graph.constants[n.inputs[1]], init.name))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(pruned.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        csrs = [(sp.csr_matrix(w), b) for w, b in weights]
        macs = sum(w.size for w, _ in weights)
        for batch in batches:
            x = np.random.default_rng(1).random((batch, weights[0][0].shape[1]), dtype=np.float32)

            def np_dense(x=x):
                h = x
                for i, (w, b) in enumerate(weights):
                    h = h @ w.T + b
                    if i < len(weights) - 1:
                        np.maximum(h, 0, out=h)
                return h

            def scipy_csr(x=x):
                h = x
                for i, (w, b) in enumerate(csrs):
                    h = (w @ h.T).T + b
                    if i < len(csrs) - 1:
                        np.maximum(h, 0, out=h)
                return h

            t = {
                "sparsec": median_us(lambda: compiled(x)),
                "onnxruntime": median_us(lambda: sess.run(None, {"input": x})),
                "numpy": median_us(np_dense),
                "scipy": median_us(scipy_csr),
            }
            np.testing.assert_allclose(compiled(x), np_dense(), rtol=1e-4, atol=1e-4)
            gflops = 2 * macs * batch / (t["sparsec"] * 1e-6) / 1e9
            wgbs = compiled.report["weight_bytes"] / (t["sparsec"] * 1e-6) / 1e9
            rows.append(
                f"| {label} | {level} | {batch} | {t['sparsec']:.1f} | {t['onnxruntime']:.1f} | "
                f"{t['numpy']:.1f} | {t['scipy']:.1f} | {t['onnxruntime'] / t['sparsec']:.2f}x | {gflops:.2f} | "
                f"{wgbs:.2f} |"
            )
            print(rows[-1], flush=True)
    return rows


def overhead() -> None:
    """Per-call cost on a tiny model (one Relu over 4 floats): what a call costs beyond the math."""
    import onnxruntime as ort

    g = helper.make_graph(
        [helper.make_node("Relu", ["input"], ["y"], name="relu")],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
    )
    proto = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    proto.ir_version = 8
    compiled = sparsec.compile(sparsec.load(proto), name="tiny")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    x = np.ones((1, 4), np.float32)
    ours, theirs = median_us(lambda: compiled(x)), median_us(lambda: sess.run(None, {"input": x}))
    print("\n| per-call overhead (Relu on 4 floats) | sparsec `c(x)` µs | onnxruntime `session.run` µs | ratio |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| batch 1 | {ours:.2f} | {theirs:.2f} | {theirs / ours:.1f}x |")


def main() -> None:
    print(
        "| model | sparsity | batch | sparsec µs | onnxruntime µs | numpy µs | scipy CSR µs | "
        "sparsec vs ort | effective GFLOP/s | weight GB/s |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    if "--quick" not in sys.argv:
        run("digits 64-128-64-10", mlp_proto([64, 128, 64, 10]))
    run("LeNet-300-100", mlp_proto([784, 300, 100, 10]))
    run("MLP 1024x3", mlp_proto([1024, 1024, 1024, 1024]))
    overhead()


if __name__ == "__main__":
    main()
