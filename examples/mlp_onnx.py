"""Write a scikit-learn MLPClassifier's weights as ONNX, shared by the examples' train.py scripts.

The graph is what torch.onnx exports for a Linear stack: MatMul + Add per layer, Relu between,
Softmax at the end (opset 13), with a symbolic batch dim.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def export(coefs: list[np.ndarray], intercepts: list[np.ndarray], path: Path) -> None:
    """Save the MLP (weights W[in][out] per layer) to ``path``, atomically; the graph takes the file's name."""
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
    n_in, n_out = np.shape(coefs[0])[0], np.shape(coefs[-1])[1]
    graph = helper.make_graph(
        nodes,
        Path(path).stem,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", n_in])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", n_out])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="sparsec-example")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.onnx")
    onnx.save(model, tmp)
    tmp.replace(path)
