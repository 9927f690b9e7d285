"""Remove Identity, inference-mode Dropout and casts to the type a value already has, by rewiring their consumers."""

from __future__ import annotations

from ..ir import Graph

PASS_THROUGH = ("Identity", "Dropout")


def drop_identity(graph: Graph) -> Graph:
    produced = {o for n in graph.nodes for o in n.outputs if o}
    alias: dict[str, str] = {}  # dropped output -> the value it equals
    rename: dict[str, str] = {}  # node output -> graph output name it takes over

    def root(v: str) -> str:
        while v in alias:
            v = alias[v]
        return v

    keep = []
    for node in graph.nodes:
        same_type_cast = node.op in ("Cast", "CastLike") and graph.types[node.outputs[0]] == graph.types[node.inputs[0]]
        if (node.op in PASS_THROUGH or same_type_cast) and not any(node.outputs[1:]):  # a used Dropout mask stays
            out, src = node.outputs[0], root(node.inputs[0])
            if out not in graph.outputs:
                alias[out] = src
                continue
            # A graph output keeps its name: the node producing the source writes it directly.
            if src in produced and src not in graph.outputs and src not in rename:
                rename[src] = out
                continue
        keep.append(node)
    if not alias and not rename:
        return graph

    def value(v: str) -> str:
        v = root(v)
        return rename.get(v, v)

    nodes = tuple(
        n.replace(
            inputs=tuple(value(i) if i else i for i in n.inputs), outputs=tuple(rename.get(o, o) for o in n.outputs)
        )
        for n in keep
    )
    # Constants only the dropped nodes read (Dropout's ratio) go too, as in the other passes.
    used = {i for n in nodes for i in n.inputs} | set(graph.outputs)
    constants = {k: v for k, v in graph.constants.items() if k in used}
    gone = set(alias) | set(rename)
    types = {k: v for k, v in graph.types.items() if k not in gone and (k in constants or k not in graph.constants)}
    return graph.replace(nodes=nodes, constants=constants, types=types)
