"""NumPy executor for any IR graph, before or after passes: the living spec.

Each op's ``reference`` implements ONNX semantics; tests check it against
onnxruntime, and every compiled model is checked against it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import ops
from .errors import ShapeError
from .ir import Graph


def run(graph: Graph, feeds: Mapping[str, np.ndarray], keep_all: bool = False) -> dict[str, np.ndarray]:
    """Execute ``graph`` on ``feeds`` (input name -> array of the input's exact shape).

    Returns the graph outputs, or every value computed when ``keep_all``.
    """
    env: dict[str, np.ndarray] = dict(graph.constants)
    for name in graph.inputs:
        if name not in feeds:
            raise ShapeError(f"missing input '{name}'", file=graph.source, hint=f"Inputs: {list(graph.inputs)}")
        x = np.asarray(feeds[name], dtype=np.float32)
        want = graph.types[name].shape
        if x.shape != want:
            raise ShapeError(f"input '{name}' has shape {x.shape}, expected {want}", file=graph.source)
        env[name] = x
    for node in graph.nodes:
        args = [env[i] if i else None for i in node.inputs]
        try:
            with np.errstate(all="ignore"):  # IEEE results (inf, NaN) are the semantics, not errors
                results = ops.get(node.op).reference(node, args, graph.opset)
        except ops.OpFormError as e:  # a value only known at run time (e.g. an index out of range)
            raise ShapeError(str(e), file=graph.source, node=node.name, op=node.op, hint=e.hint) from None
        for name, value in zip(node.outputs, results):
            if name:
                got, want = (tuple(value.shape), str(value.dtype)), (graph.types[name].shape, graph.types[name].dtype)
                if got != want:  # a bug in the op's infer or reference, never the user's
                    raise RuntimeError(
                        f"internal error: {node.op} '{node.name}' computed {got[1]}{list(got[0])} for '{name}' "
                        f"but its type is {want[1]}{list(want[0])}; please report this"
                    )
                env[name] = value
    if keep_all:
        return env
    return {o: env[o] for o in graph.outputs}
