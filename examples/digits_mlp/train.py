"""Train a 64-128-64-10 MLP on scikit-learn's bundled digits and export it to ONNX.

    python examples/digits_mlp/train.py        # writes examples/digits_mlp/digits_mlp.onnx

The network is trained for real with scikit-learn's MLPClassifier (ReLU, Adam),
then written as ONNX the way torch.onnx exports a Linear stack: MatMul + Add per
layer, Relu between, Softmax at the end (opset 13). The split is fixed
(`data.split()`), so the demo and tests evaluate on the same held-out 360 images.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from data import split  # noqa: E402

sys.path.insert(0, str(HERE.parent))
from mlp_onnx import export  # noqa: E402


def prune_retrain(clf, x, y, schedule=(0.5, 0.75, 0.9), epochs=60) -> None:
    """Iterative magnitude pruning with masked retraining (Han et al. 2015), in scikit-learn:
    zero each layer's smallest weights, keep training with partial_fit, re-apply the mask."""
    rng = np.random.default_rng(0)
    for sparsity in schedule:
        masks = []
        for w in clf.coefs_:
            cut = np.quantile(np.abs(w), sparsity)
            masks.append(np.abs(w) > cut)
        for _ in range(epochs):
            order = rng.permutation(len(x))
            for start in range(0, len(x), 200):
                idx = order[start : start + 200]
                clf.partial_fit(x[idx], y[idx])
                for w, m in zip(clf.coefs_, masks):
                    w *= m


def main() -> None:
    from sklearn.neural_network import MLPClassifier

    x_train, x_test, y_train, y_test = split()
    clf = MLPClassifier(hidden_layer_sizes=(128, 64), activation="relu", alpha=1e-4, max_iter=400, random_state=0)
    clf.fit(x_train, y_train)
    print(f"trained: train accuracy {clf.score(x_train, y_train):.4f}, test accuracy {clf.score(x_test, y_test):.4f}")
    path = HERE / "digits_mlp.onnx"
    export(clf.coefs_, clf.intercepts_, path)
    print(f"wrote {path} ({path.stat().st_size} bytes)")
    prune_retrain(clf, x_train, y_train)
    density = sum(int(np.count_nonzero(w)) for w in clf.coefs_) / sum(w.size for w in clf.coefs_)
    print(f"pruned to {density:.1%} density and retrained: test accuracy {clf.score(x_test, y_test):.4f}")
    path = HERE / "digits_mlp_pruned90.onnx"
    export(clf.coefs_, clf.intercepts_, path)
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
