"""Remove Identity and inference-mode Dropout by rewiring their consumers."""

from __future__ import annotations

from ..ir import Graph

PASS_THROUGH = ("Identity", "Dropout")


def drop_identity(graph: Graph) -> Graph:
    rename: dict[str, str] = {}
    keep = []
    for node in graph.nodes:
        src = rename.get(node.inputs[0], node.inputs[0]) if node.inputs else ""
        # A graph output must keep its name, so an Identity producing one stays.
        if node.op in PASS_THROUGH and node.outputs[0] not in graph.outputs:
            rename[node.outputs[0]] = src
            continue
        keep.append(node.replace(inputs=tuple(rename.get(i, i) for i in node.inputs)))
    if not rename:
        return graph
    # Constants only the dropped nodes read (Dropout's ratio) go too, as in the other passes.
    used = {i for n in keep for i in n.inputs} | set(graph.outputs)
    constants = {k: v for k, v in graph.constants.items() if k in used}
    types = {k: v for k, v in graph.types.items() if k not in rename and (k in constants or k not in graph.constants)}
    return graph.replace(nodes=tuple(keep), constants=constants, types=types)
