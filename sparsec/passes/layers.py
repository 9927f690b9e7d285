"""Find the parameterized layers (weight and bias constants) of a graph."""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Graph


@dataclass(frozen=True)
class Layer:
    name: str  # the node name
    op: str
    weight: str  # constant holding the weight matrix
    bias: str | None  # constant holding the bias, if any


def layers(graph: Graph) -> list[Layer]:
    """Gemm and MatMul nodes whose weight is a constant, in graph order."""
    found = []
    for node in graph.nodes:
        if node.op in ("Gemm", "MatMul") and node.inputs[1] in graph.constants:
            bias = node.inputs[2] if node.op == "Gemm" and len(node.inputs) > 2 and node.inputs[2] else None
            found.append(Layer(node.name, node.op, node.inputs[1], bias if bias in graph.constants else None))
    return found
