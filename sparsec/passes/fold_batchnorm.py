"""Fold an inference BatchNormalization into the Conv, ConvTranspose or Gemm that feeds it.

BN is Y = X * mul + off per channel (mul = scale / sqrt(var + eps), off = B - mean * mul), so
scaling the producer's weights per output channel by mul and its bias to bias * mul + off gives
the same output with one node less. Folded only when BN is the producer's sole consumer, the
producer's output is not a graph output, and weights, bias and BN statistics are constants;
anything else (e.g. a BN right after a graph input) is left as it is.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Node, TensorType, frozen_array, unique_name
from ..ops.batchnorm import bn_params

_FOLDABLE = ("Conv", "ConvTranspose", "Gemm")


def fold_batchnorm(graph: Graph) -> Graph:
    consumers: dict[str, int] = {}
    for n in graph.nodes:
        for i in n.inputs:
            consumers[i] = consumers.get(i, 0) + 1
    producers = {o: n for n in graph.nodes for o in n.outputs if o}
    constants = dict(graph.constants)
    types = dict(graph.types)
    taken: set[str] = set()

    def add_const(base: str, value: np.ndarray) -> str:
        name = unique_name(graph, base, taken)
        constants[name] = frozen_array(value.astype(np.float32))
        types[name] = TensorType(tuple(value.shape), "float32")
        return name

    replaced: dict[str, Node] = {}  # producer name -> folded node
    dropped: set[str] = set()  # BN node names
    for bn in graph.nodes:
        if bn.op != "BatchNormalization" or any(bn.outputs[1:]):
            continue
        x = bn.inputs[0]
        prod = producers.get(x)
        if (
            prod is None  # a graph input (or a constant): nothing to fold into
            or prod.op not in _FOLDABLE
            or prod.name in replaced
            or consumers.get(x, 0) != 1
            or x in graph.outputs
            or not all(i in graph.constants for i in bn.inputs[1:5])
        ):
            continue
        mul, off = bn_params(bn.attrs, [None] + [graph.constants[i] for i in bn.inputs[1:5]])
        channels = graph.types[x].shape[1]
        if mul.size != channels or off.size != channels:
            continue  # spatial=0 statistics per activation, not per channel
        mul, off = mul.reshape(-1), off.reshape(-1)
        folded = _fold(graph, prod, mul, off, add_const)
        if folded is None:
            continue
        replaced[prod.name] = folded.replace(name=f"{prod.name}+{bn.name}", outputs=(bn.outputs[0],))
        dropped.add(bn.name)
    if not replaced:
        return graph
    out = tuple(replaced.get(n.name, n) for n in graph.nodes if n.name not in dropped)
    used = {i for n in out for i in n.inputs} | set(graph.outputs)
    constants = {k: v for k, v in constants.items() if k in used}
    produced = set(graph.inputs) | {o for n in out for o in n.outputs}
    types = {k: v for k, v in types.items() if k in constants or k in produced}
    return graph.replace(nodes=out, constants=constants, types=types)


def _const(graph: Graph, node: Node, index: int) -> np.ndarray | None:
    """Constant input ``index`` of ``node`` as float64; None when omitted or not a constant."""
    if len(node.inputs) <= index or not node.inputs[index] or node.inputs[index] not in graph.constants:
        return None
    return graph.constants[node.inputs[index]].astype(np.float64)


def _has_input(node: Node, index: int) -> bool:
    return len(node.inputs) > index and bool(node.inputs[index])


def _fold(graph: Graph, prod: Node, mul: np.ndarray, off: np.ndarray, add_const) -> Node | None:
    w = _const(graph, prod, 1)
    bias = _const(graph, prod, 2)
    if w is None or (_has_input(prod, 2) and bias is None):
        return None  # a variable weight or bias cannot absorb the scale
    if prod.op == "Conv":
        w = w * mul.reshape((-1,) + (1,) * (w.ndim - 1))  # W: [M, C/group, k...]
        b = (0.0 if bias is None else bias) * mul + off
        return prod.replace(
            inputs=(prod.inputs[0], add_const(f"{prod.name}_weight", w), add_const(f"{prod.name}_bias", b))
        )
    if prod.op == "ConvTranspose":
        group = int(prod.attrs.get("group", 1))
        c, mg = w.shape[:2]  # W: [C, M/group, k...]; output channel = g * M/group + j
        scale = mul.reshape((group, 1, mg) + (1,) * (w.ndim - 2))
        w = (w.reshape((group, c // group) + w.shape[1:]) * scale).reshape(w.shape)
        b = (0.0 if bias is None else bias) * mul + off
        return prod.replace(
            inputs=(prod.inputs[0], add_const(f"{prod.name}_weight", w), add_const(f"{prod.name}_bias", b))
        )
    # Gemm: Y[M, N] = alpha * A' @ B' + beta * C; BN scales column n.
    if len(graph.types[prod.outputs[0]].shape) != 2:
        return None
    a = prod.attrs
    w = w * (mul[:, None] if a["transB"] else mul[None, :])
    c = a["beta"] * (0.0 if bias is None else bias) * mul + off  # broadcasts C against [N]
    attrs = dict(a)
    attrs["beta"] = 1.0
    return prod.replace(
        inputs=(prod.inputs[0], add_const(f"{prod.name}_weight", w), add_const(f"{prod.name}_bias", np.asarray(c))),
        attrs=attrs,
    )
