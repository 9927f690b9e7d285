"""Train the dense LeNet-300-100 (784-300-100-10, ReLU) on MNIST and export it to ONNX.

    python examples/lenet_mnist/train.py            # (re)trains, writes <cache>/lenet_300_100.onnx

Trained with scikit-learn's MLPClassifier (Adam, fixed seed, early stopping is not used: a fixed
number of epochs keeps runs reproducible), then written as torch.onnx writes a Linear stack:
MatMul + Add per layer, Relu between, Softmax at the end (opset 13). The ONNX file (~1 MB of
float32 weights) lives in the data cache next to mnist.npz, never in the repository; scripts call
``model_path()``, which trains it when it is missing.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import data  # noqa: E402

sys.path.insert(0, str(HERE.parent))
from mlp_onnx import export  # noqa: E402

HIDDEN = (300, 100)
EPOCHS = 20
MODEL_NAME = "lenet_300_100.onnx"


def train(path: Path, epochs: int = EPOCHS) -> dict:
    """Fit the MLP on the 55k training images; {"val_accuracy", "test_accuracy", "seconds"}."""
    from sklearn.neural_network import MLPClassifier

    d = data.load()
    started = time.monotonic()
    clf = MLPClassifier(
        hidden_layer_sizes=HIDDEN,
        activation="relu",
        solver="adam",
        alpha=1e-4,
        batch_size=128,
        learning_rate_init=1e-3,
        max_iter=epochs,
        shuffle=True,
        random_state=0,
    )
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():  # a fixed epoch budget is the point, not convergence
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(d["x_train"], d["y_train"])
    seconds = time.monotonic() - started
    export(clf.coefs_, clf.intercepts_, path)
    return {
        "val_accuracy": float(clf.score(d["x_val"], d["y_val"])),
        "test_accuracy": float(clf.score(d["x_test"], d["y_test"])),
        "seconds": seconds,
    }


def model_path(retrain: bool = False) -> Path:
    """The cached dense model, trained first if it is missing (or ``retrain``)."""
    path = data.cache_dir() / MODEL_NAME
    if retrain or not path.exists():
        print(f"training LeNet-300-100 ({EPOCHS} epochs of Adam, scikit-learn) -> {path}", file=sys.stderr)
        r = train(path)
        print(
            f"trained in {r['seconds']:.0f}s: val accuracy {r['val_accuracy']:.4f}, "
            f"test accuracy {r['test_accuracy']:.4f}",
            file=sys.stderr,
        )
    return path


if __name__ == "__main__":
    p = model_path(retrain=True)
    print(f"wrote {p} ({p.stat().st_size} bytes)")
