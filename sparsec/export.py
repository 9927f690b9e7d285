"""IR -> ONNX: write a (pruned) model back as a valid ONNX file that onnxruntime runs."""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .frontend import rebatch
from .ir import Graph


def to_onnx(graph: Graph) -> onnx.ModelProto:
    """An ONNX model with the graph's nodes and constants as initializers. Inputs and outputs
    get a symbolic batch dim "N" when the samples are independent (see frontend.rebatch), so
    the file runs on batches as exported models do; otherwise the graph's static shapes."""
    generic = rebatch(graph, 2)
    if generic is not None:  # its nodes and constants work at any batch; keep batch-1 types
        graph = graph.replace(nodes=generic.nodes, constants=generic.constants, types={**generic.types, **graph.types})

    def value_info(name: str) -> onnx.ValueInfoProto:
        t = graph.types[name]
        shape: list = list(t.shape)
        if generic is not None:
            shape[0] = "N"
        return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(t.dtype)), shape)

    nodes = [
        helper.make_node(n.op, list(n.inputs), list(n.outputs), name=n.name, **_schema_attrs(n, graph.opset))
        for n in graph.nodes
    ]
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in sorted(graph.constants.items())]
    g = helper.make_graph(
        nodes, graph.name, [value_info(i) for i in graph.inputs], [value_info(o) for o in graph.outputs], inits
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", graph.opset)], producer_name="sparsec")
    onnx.checker.check_model(model)
    return model


def save(graph: Graph, path: str | os.PathLike[str]) -> None:
    onnx.save(to_onnx(graph), os.fspath(path))


def _schema_attrs(node, opset: int) -> dict:
    """The node's attributes that its op's schema at ``opset`` defines: the IR fills defaults
    for every opset an op class covers (e.g. Reshape's allowzero), which older schemas reject."""
    known = onnx.defs.get_schema(node.op, opset).attributes
    return {k: v for k, v in node.attrs.items() if k in known}
