"""The sparsec demo: digits MLP -> prune 90% -> C -> run from Python -> validate.

    python examples/digits_mlp/demo.py          (or `make demo` from the repository root)

Prints test accuracy of the dense model, of the model pruned one-shot to 90%
sparsity (no fine-tuning), of the model pruned gradually to 90% by sparsec with
fine-tuning on the training split, and of the model trained with pruning in the
loop (train.py), each run through the generated C; validates the C against the
NumPy reference and writes the C project to examples/digits_mlp/out/.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import sparsec

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from data import split  # noqa: E402


def accuracy(y: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(y, axis=1) == labels))


def main() -> int:
    x_train, x_test, y_train, y_test = split()
    dense = sparsec.load(HERE / "digits_mlp.onnx")
    print(f"loaded {dense}")
    rows = []
    c_dense = sparsec.compile(dense)
    rows.append(("dense", dense, c_dense))
    oneshot = sparsec.range_limit(sparsec.prune(dense, sparsity=0.9), 1.0)
    rows.append(("90% one-shot magnitude, no fine-tuning", oneshot, sparsec.compile(oneshot)))
    tuned = sparsec.prune(
        dense, 0.9, data=(x_train, y_train), schedule="gradual", steps=3, finetune=dict(epochs=4, lr=3e-3)
    )
    tuned = sparsec.range_limit(tuned, 1.0)
    rows.append(("90% gradual + fine-tuning (sparsec.prune)", tuned, sparsec.compile(tuned)))
    retrained = sparsec.range_limit(sparsec.prune(sparsec.load(HERE / "digits_mlp_pruned90.onnx"), 0.9), 1.0)
    c_sparse = sparsec.compile(retrained)
    rows.append(("90% pruned during training (train.py)", retrained, c_sparse))

    print(f"\n{'model':42} {'reference acc':>13} {'C acc':>7} {'const bytes':>11} {'arena':>6} {'max |err|':>9}")
    all_ok = True
    for label, model, compiled in rows:
        ref_acc = accuracy(model.reference(x_test), y_test)
        c_acc = accuracy(compiled(x_test), y_test)
        report = sparsec.validate(compiled, x_test)
        all_ok &= report.ok
        print(
            f"{label:42} {ref_acc:13.2%} {c_acc:7.2%} {compiled.report['weight_bytes']:11d} "
            f"{compiled.arena_bytes:6d} {report.max_abs_error:9.2g}"
        )

    start = time.perf_counter()
    for _ in range(20):
        c_sparse(x_test)
    per_sample = (time.perf_counter() - start) / 20 / len(x_test)
    out = c_sparse.export(HERE / "out")
    print(f"\n90% sparse model through the C: {per_sample * 1e6:.2f} us per sample (batch of {len(x_test)})")
    print(f"validation: {sparsec.validate(c_sparse, x_test)}")
    print(f"C project written to {out}:")
    for f in sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()):
        print(f"  {f}")
    print()
    print((out / "report.md").read_text())
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
