"""Evaluate nodes whose inputs are all constants with the reference; they become constants."""

from __future__ import annotations

from .. import ops
from ..ir import Graph, TensorType, frozen_array


def fold_constants(graph: Graph) -> Graph:
    constants = dict(graph.constants)
    types = dict(graph.types)
    keep = []
    for node in graph.nodes:
        foldable = all(i in constants for i in node.inputs if i) and not set(node.outputs) & set(graph.outputs)
        if not foldable:
            keep.append(node)
            continue
        args = [constants[i] if i else None for i in node.inputs]
        for name, value in zip(node.outputs, ops.get(node.op).reference(node, args, graph.opset)):
            if name:
                constants[name] = frozen_array(value)
                types[name] = TensorType(tuple(value.shape), str(value.dtype))
    if len(keep) == len(graph.nodes):
        return graph
    used = {i for n in keep for i in n.inputs} | set(graph.outputs)
    constants = {k: v for k, v in constants.items() if k in used}
    types = {k: v for k, v in types.items() if k in used or k in graph.inputs or any(k in n.outputs for n in keep)}
    return graph.replace(nodes=tuple(keep), constants=constants, types=types)
