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

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import data  # noqa: E402

HIDDEN = (300, 100)
EPOCHS = 20
MODEL_NAME = "lenet_300_100.onnx"


def export(coefs: list[np.ndarray], intercepts: list[np.ndarray], path: Path) -> None:
    nodes, inits = [], []
    x = "input"
    for i, (w, b) in enumerate(zip(coefs, intercepts), start=1):
        inits += [
            numpy_helper.from_array(np.asarray(w, np.float32), f"fc{i}.weight"),
            numpy_helper.from_array(np.asarray(b, np.float32), f"fc{i}.bias"),
        ]
        nodes += [
            helper.make_node("MatMul", [x, f"fc{i}.weight"], [f"/fc{i}/MatMul_output_0"], name=f"/fc{i}/MatMul"),
            helper.make_node(
                "Add", [f"/fc{i}/MatMul_output_0", f"fc{i}.bias"], [f"/fc{i}/Add_output_0"], name=f"/fc{i}/Add"
            ),
        ]
        x = f"/fc{i}/Add_output_0"
        if i < len(coefs):
            nodes.append(helper.make_node("Relu", [x], [f"/act{i}/Relu_output_0"], name=f"/act{i}/Relu"))
            x = f"/act{i}/Relu_output_0"
    nodes.append(helper.make_node("Softmax", [x], ["probabilities"], name="/softmax/Softmax", axis=-1))
    graph = helper.make_graph(
        nodes,
        "lenet_300_100",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 784])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="sparsec-example")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.onnx")
    onnx.save(model, tmp)
    tmp.replace(path)


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
