"""Canonical fully connected layers: Gemm(x, W[N,K], b[N], transB=1, alpha=beta=1).

MatMul by a constant 2-D matrix followed by an Add of a constant row vector
becomes one Gemm; an existing Gemm with constant B gets alpha, beta and the
transpose folded into its constants. Codegen, pruning and sparsify then see
one layer form, with weights stored output-major (one CSR row per neuron).
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Node, TensorType, frozen_array, unique_name


def fuse_gemm(graph: Graph) -> Graph:
    constants = dict(graph.constants)
    types = dict(graph.types)
    taken: set[str] = set()
    consumers: dict[str, list[Node]] = {}
    for n in graph.nodes:
        for i in n.inputs:
            consumers.setdefault(i, []).append(n)
    removed: set[str] = set()
    out: list[Node] = []
    changed = False

    def add_const(base: str, value: np.ndarray) -> str:
        name = unique_name(graph, base, taken)
        constants[name] = frozen_array(value.astype(np.float32))
        types[name] = TensorType(tuple(value.shape), "float32")
        return name

    for node in graph.nodes:
        if node.name in removed:
            continue
        if node.op == "MatMul" and _is_fc_matmul(graph, node):
            w = graph.constants[node.inputs[1]]
            n = w.shape[1]
            inputs = [node.inputs[0], add_const(f"{node.name}_weight", w.T)]
            output = node.outputs[0]
            names = [node.name]
            nxt = consumers.get(output, [])
            if len(nxt) == 1 and nxt[0].op == "Add" and output not in graph.outputs:
                add = nxt[0]
                other = add.inputs[1] if add.inputs[0] == output else add.inputs[0]
                bias = graph.constants.get(other)
                # A row ([N], [1, N]) or one value; a column [M, 1] adds per row, not per neuron.
                row = bias is not None and (bias.ndim == 0 or bias.shape[-1] == bias.size)
                if row and bias.size in (1, n) and bias.ndim <= 2 and types[add.outputs[0]] == types[output]:
                    inputs.append(add_const(f"{node.name}_bias", np.broadcast_to(bias.reshape(-1), (n,))))
                    removed.add(add.name)
                    names.append(add.name)
                    output = add.outputs[0]
            out.append(
                Node(
                    "Gemm",
                    "+".join(names) if len(names) > 1 else node.name,
                    tuple(inputs),
                    (output,),
                    {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 1},
                )
            )
            changed = True
        elif node.op == "Gemm" and _needs_canonical(graph, node):
            a = node.attrs
            w = graph.constants[node.inputs[1]].astype(np.float64)
            w = (w if a["transB"] else w.T) * a["alpha"]
            inputs = [node.inputs[0], add_const(f"{node.name}_weight", w)]
            if len(node.inputs) > 2 and node.inputs[2]:
                c = graph.constants[node.inputs[2]].astype(np.float64) * a["beta"]
                inputs.append(add_const(f"{node.name}_bias", np.broadcast_to(c.reshape(-1), (w.shape[0],))))
            out.append(node.replace(inputs=tuple(inputs), attrs={"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 1}))
            changed = True
        else:
            out.append(node)
    if not changed:
        return graph
    used = {i for n in out for i in n.inputs} | set(graph.outputs)
    constants = {k: v for k, v in constants.items() if k in used}
    produced = set(graph.inputs) | {o for n in out for o in n.outputs}
    types = {k: v for k, v in types.items() if k in constants or k in produced}
    return graph.replace(nodes=tuple(out), constants=constants, types=types)


def _is_fc_matmul(graph: Graph, node: Node) -> bool:
    w = graph.constants.get(node.inputs[1])
    return w is not None and w.ndim == 2 and len(graph.types[node.inputs[0]].shape) == 2


def _needs_canonical(graph: Graph, node: Node) -> bool:
    a = node.attrs
    w = graph.constants.get(node.inputs[1])
    if w is None or a["transA"]:
        return False
    n = w.shape[0] if a["transB"] else w.shape[1]
    c = graph.constants.get(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
    if (
        len(node.inputs) > 2
        and node.inputs[2]
        and (c is None or c.size not in (1, n) or (c.ndim == 2 and c.shape[0] != 1))
    ):
        return False  # a full [M, N] or variable C stays as it is
    canonical_c = c is None or (c.ndim == 1 and c.shape == (n,))
    return not (a["transB"] == 1 and a["alpha"] == 1.0 and a["beta"] == 1.0 and canonical_c)
