"""Find the parameterized layers (weight and bias constants) of a graph."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..errors import OptionError
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


def per_layer(
    graph: Graph,
    found: list[Layer],
    value: object,
    what: str,
    valid: Callable[[float], bool],
    requirement: str,
    hint: str | None = None,
) -> dict[str, float]:
    """One option value for every layer, or {layer name: value} for some; each checked with ``valid``.

    Raises OptionError naming the layer and ``requirement`` for a bad value or an unknown layer.
    """
    names = [layer.name for layer in found]
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise OptionError(f"{what} names unknown layers {unknown}", file=graph.source, hint=f"Layers: {names}")
        values = dict(value)
    else:
        values = {name: value for name in names}
    for name, v in values.items():
        if not isinstance(v, numbers.Real) or not valid(float(v)):  # NumPy scalars are Real too
            raise OptionError(f"{what} for layer '{name}' is {v!r}; {requirement}", file=graph.source, hint=hint)
    return {k: float(v) for k, v in values.items()}
