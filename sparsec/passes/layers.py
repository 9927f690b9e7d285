"""Find the parameterized layers (weight and bias constants) of a graph and view their weights.

A layer is a Gemm or MatMul with a constant 2-D weight, or a Conv/ConvTranspose with a constant
weight. Pruning works on one view of every weight: a matrix [out][in·k] with one row per output
neuron/channel (``to_matrix``/``from_matrix``), so criteria and block shapes read the same for
fully connected and convolutional layers.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import OptionError
from ..ir import Graph, Node

LAYER_OPS = ("Gemm", "MatMul", "Conv", "ConvTranspose")


@dataclass(frozen=True)
class Layer:
    name: str  # the node name
    op: str
    weight: str  # constant holding the weight
    bias: str | None  # constant holding the bias, if any
    input: str = ""  # the activation the layer reads
    output: str = ""  # the value it writes
    trans_b: bool = True  # Gemm: W stored [N, K] (transB=1) or [K, N]
    group: int = 1  # Conv/ConvTranspose groups

    @property
    def is_conv(self) -> bool:
        return self.op in ("Conv", "ConvTranspose")


def layer_of(graph: Graph, node: Node) -> Layer | None:
    """The Layer ``node`` is, or None when it is not one (variable or odd-shaped weight)."""
    if node.op not in LAYER_OPS or len(node.inputs) < 2 or node.inputs[1] not in graph.constants:
        return None
    w = graph.constants[node.inputs[1]]
    if node.op in ("Gemm", "MatMul") and w.ndim != 2:
        return None
    if node.op == "Gemm" and node.attrs.get("transA", 0):
        return None  # x stored [K, M]: not a layer form pruning understands
    if node.op in ("Conv", "ConvTranspose") and w.ndim < 3:
        return None
    bias = None
    if node.op != "MatMul" and len(node.inputs) > 2 and node.inputs[2] in graph.constants:
        bias = node.inputs[2]
    return Layer(
        node.name,
        node.op,
        node.inputs[1],
        bias,
        node.inputs[0],
        node.outputs[0],
        bool(node.attrs.get("transB", 0)) if node.op == "Gemm" else node.op != "MatMul",
        int(node.attrs.get("group", 1)),
    )


def layers(graph: Graph) -> list[Layer]:
    """Gemm/MatMul nodes with a constant 2-D weight and Conv/ConvTranspose nodes with a constant weight."""
    return [layer for node in graph.nodes if (layer := layer_of(graph, node)) is not None]


def out_axis(layer: Layer) -> int:
    """The axis of the stored weight that indexes output neurons/channels."""
    if layer.op == "Gemm":
        return 0 if layer.trans_b else 1
    return 1 if layer.op in ("MatMul", "ConvTranspose") else 0


def in_axis(layer: Layer) -> int:
    """The axis of the stored weight that indexes input features/channels."""
    return 1 - out_axis(layer)


def out_features(layer: Layer, w: np.ndarray) -> int:
    return w.shape[1] * layer.group if layer.op == "ConvTranspose" else w.shape[out_axis(layer)]


def to_matrix(layer: Layer, w: np.ndarray) -> np.ndarray:
    """The weight as [out][in·k]: row o holds every weight that feeds output neuron/channel o.

    Conv rows are [C/group, k...] flattened; a grouped ConvTranspose W[C, M/g, k...] is regrouped
    so row g·M/g + j holds the C/g input channels of group g.
    """
    if layer.op in ("Gemm", "MatMul"):
        return w if out_axis(layer) == 0 else w.T
    if layer.op == "Conv":
        return w.reshape(w.shape[0], -1)
    g, (c, mg), k = layer.group, w.shape[:2], w.shape[2:]
    return w.reshape((g, c // g, mg) + k).swapaxes(1, 2).reshape(g * mg, -1)


def from_matrix(layer: Layer, m: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of ``to_matrix``: the [out][in·k] matrix back in the stored weight ``shape``."""
    if layer.op in ("Gemm", "MatMul"):
        return np.ascontiguousarray(m if out_axis(layer) == 0 else m.T)
    if layer.op == "Conv":
        return m.reshape(shape)
    g, (c, mg), k = layer.group, shape[:2], tuple(shape[2:])
    return np.ascontiguousarray(m.reshape((g, mg, c // g) + k).swapaxes(1, 2)).reshape(shape)


def column_inputs(layer: Layer, w: np.ndarray) -> np.ndarray:
    """For each entry of ``to_matrix(w)``, the input feature/channel it reads (an int matrix).

    Connection importance multiplies |w| by statistics of that input.
    """
    rows = to_matrix(layer, w).shape
    if layer.op in ("Gemm", "MatMul"):
        return np.broadcast_to(np.arange(rows[1]), rows)
    cg = w.shape[1] if layer.op == "Conv" else w.shape[0] // layer.group
    k = int(np.prod(w.shape[2:]))
    per_group = rows[0] // layer.group
    group_of_row = np.arange(rows[0]) // per_group
    return group_of_row[:, None] * cg + (np.arange(cg * k) // k)[None, :]


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
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not valid(float(v)):  # NumPy scalars are Real
            raise OptionError(f"{what} for layer '{name}' is {v!r}; {requirement}", file=graph.source, hint=hint)
    return {k: float(v) for k, v in values.items()}


@dataclass
class Stats:
    """What data told us about each layer (filled by sparsec.optimize.collect_stats).

    ``inputs``/``means``: mean |a| and mean a per input feature/channel. ``outputs``/``signed``:
    per sample and output neuron/channel, the mean over positions of |y| and of y, where y is the
    layer output after its activation. ``pre``: the same mean of the layer's own output z, before
    the activation. ``grads``/``taylor``: mean over minibatches of |dL/dW| and |W·dL/dW| (stored
    shape).
    """

    samples: int = 0
    labels: str = ""
    inputs: dict[str, np.ndarray] = field(default_factory=dict)
    means: dict[str, np.ndarray] = field(default_factory=dict)  # signed mean of each input feature/channel
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    signed: dict[str, np.ndarray] = field(default_factory=dict)
    pre: dict[str, np.ndarray] = field(default_factory=dict)
    grads: dict[str, np.ndarray] = field(default_factory=dict)
    taylor: dict[str, np.ndarray] = field(default_factory=dict)


def nonzero_rows(before: Graph, after: Graph) -> dict[str, dict]:
    """Layer name -> the shape/nonzero columns every report row has, comparing two graphs."""
    old = {layer.name: layer for layer in layers(before)}
    new = {layer.name: layer for layer in layers(after)}
    rows = {}
    for name in list(old) + [n for n in new if n not in old]:
        w0 = before.constants[old[name].weight] if name in old else None
        w1 = after.constants[new[name].weight] if name in new else None
        layer = new.get(name) or old[name]
        rows[name] = {
            "layer": name,
            "op": layer.op,
            "shape_before": None if w0 is None else list(w0.shape),
            "shape": None if w1 is None else list(w1.shape),
            "nonzeros_before": 0 if w0 is None else int(np.count_nonzero(w0)),
            "nonzeros": 0 if w1 is None else int(np.count_nonzero(w1)),
            "sparsity": None if w1 is None else 1.0 - np.count_nonzero(w1) / max(1, w1.size),
        }
    return rows
