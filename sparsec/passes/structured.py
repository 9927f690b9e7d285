"""Structured pruning: remove whole neurons/channels, or whole layers, so the model gets smaller.

Removing output neuron (channel) u of a layer deletes row u of its weight and bias and, walking
forward through ops that keep neurons apart (activations, Clip, Dropout/Identity, pooling,
BatchNormalization, Flatten/flattening Reshape, Add/Mul/Sub/Div by a constant), the matching
input columns (channels) of every consumer layer. The pruned model computes exactly what the
original does with the neuron's contribution to its consumers set to zero. A layer whose
neurons reach anything else (an Add of two branches, Concat, another Reshape, a graph output)
is not prunable: it is left alone and the report says why.

Neuron importance (``criterion``), per output neuron/channel u:

- ``magnitude``/``l1``, ``l2``: norm of the weights feeding u
- ``random``: seeded noise (the baseline)
- ``activation``: the spread (standard deviation over the data) of y_u, y the output after the
  layer's activation: a neuron whose output barely changes acts as a constant and carries little.
  (The mean |y_u| ranks worse than random on LeNet-300-100: it drops rarely firing,
  class-specific neurons; examples/lenet_mnist/results.md.)
- ``contribution``: mean |y_u| · Σ_i |w_iu| over the consumers' weights reading u
- ``dead``: max |y_u| on the data (0 for a neuron that never fires); with no amount given,
  exactly the dead neurons are removed
- ``entropy``: entropy of the histogram of u's pre-activation z_u over the data, with bins shared
  by the whole layer, so it measures information at one resolution for all of its neurons
  (per-neuron bins, or the post-ReLU output with its point mass at 0, rank worse than random)
- ``gradient``, ``taylor``: the per-weight |dL/dw| and |w·dL/dw| summed over u's weights

Layer removal replaces a layer with the identity where that is shape-correct: a square
Gemm/MatMul with its activation, a same-shape Conv with its BatchNorm/activation, or the whole
branch f of a residual x + f(x).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import OptionError
from ..frontend import infer_types
from ..ir import Graph, Node, TensorType, frozen_array, unique_name, verify
from .layers import Layer, Stats, layer_of, layers, nonzero_rows, out_axis, per_layer, to_matrix
from .prune import weight_importance

NEURON_CRITERIA = (
    "magnitude",
    "l1",
    "l2",
    "random",
    "activation",
    "contribution",
    "dead",
    "entropy",
    "gradient",
    "taylor",
)

#: One input, same shape out, each element depends on its own input only.
ELEMENTWISE = {
    "Relu",
    "LeakyRelu",
    "Sigmoid",
    "Tanh",
    "HardSwish",
    "HardSigmoid",
    "Elu",
    "Selu",
    "Celu",
    "Softplus",
    "Softsign",
    "Gelu",
    "Mish",
    "ThresholdedRelu",
    "Identity",
    "Dropout",
    "Clip",
}
POOLS = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"}
BINARY = {"Add", "Sub", "Mul", "Div"}


@dataclass
class Plan:
    """Where the neurons of one layer live in the graph: for every edit site, per neuron u the
    indices ``cols[u]`` it occupies along ``axis`` of a constant input (or a Reshape's size)."""

    layer: Layer
    units: int
    edits: list[tuple[str, int, int, np.ndarray]] = field(default_factory=list)  # node, input, axis, cols
    reshapes: list[tuple[str, np.ndarray]] = field(default_factory=list)  # Reshape node, cols
    consumers: list[tuple[Layer, np.ndarray]] = field(default_factory=list)  # consumer layer, its weight cols


def _consumers(graph: Graph) -> dict[str, list[Node]]:
    out: dict[str, list[Node]] = {}
    for n in graph.nodes:
        for i in dict.fromkeys(n.inputs):
            if i:
                out.setdefault(i, []).append(n)
    return out


def activation_value(graph: Graph, layer: Layer) -> str:
    """The layer's output after its activation: followed through sole-consumer elementwise ops."""
    cons = _consumers(graph)
    v = layer.output
    while v not in graph.outputs and len(cons.get(v, [])) == 1:
        n = cons[v][0]
        if n.inputs[0] != v or not (n.op in ELEMENTWISE or n.op == "BatchNormalization") or any(n.outputs[1:]):
            break
        v = n.outputs[0]
    return v


def unit_axis(graph: Graph, layer: Layer) -> int:
    """The axis of the layer's output value that indexes its neurons/channels."""
    return len(graph.types[layer.output].shape) - 1 if layer.op == "MatMul" else 1


def plan(graph: Graph, layer: Layer, consumers: dict[str, list[Node]] | None = None) -> Plan | str:
    """How removing neurons of ``layer`` changes the graph, or why it cannot be done."""
    cons = consumers if consumers is not None else _consumers(graph)
    node = graph.node(layer.name)
    w = graph.constants[layer.weight]
    if layer.group != 1:
        return f"grouped {layer.op} (group={layer.group})"
    if layer.op == "Gemm" and len(node.inputs) > 2 and node.inputs[2] and layer.bias is None:
        return "its bias is not a constant"
    units = w.shape[out_axis(layer)]
    p = Plan(layer, units)
    one = np.arange(units)[:, None]
    p.edits.append((node.name, 1, out_axis(layer), one))
    if layer.bias is not None:
        b = graph.constants[layer.bias]
        if b.size != 1:
            if b.shape[-1] != units:
                return f"bias of shape {list(b.shape)}"
            p.edits.append((node.name, 2, b.ndim - 1, one))
    if layer.output in graph.outputs:
        return "its output is a graph output"
    todo = [(layer.output, unit_axis(graph, layer), one)]
    while todo:
        v, ax, cols = todo.pop()
        if v in graph.outputs:
            return f"its neurons reach the graph output '{v}'"
        shape = graph.types[v].shape
        for c in cons.get(v, []):
            where = [i for i, x in enumerate(c.inputs) if x == v]
            why = f"its neurons reach {c.op} '{c.name}'"
            if len(where) > 1:
                return why
            pos = where[0]
            if c.op in ELEMENTWISE and pos == 0:
                if c.op == "Dropout" and any(o in cons or o in graph.outputs for o in c.outputs[1:] if o):
                    return why + " (its mask is used)"
                todo.append((c.outputs[0], ax, cols))
            elif c.op in POOLS and ax == 1:
                todo.append((c.outputs[0], ax, cols))
            elif c.op == "BatchNormalization" and pos == 0 and ax == 1 and c.attrs.get("spatial", 1) == 1:
                if not all(i in graph.constants for i in c.inputs[1:5]):
                    return why + " (statistics are not constants)"
                p.edits += [(c.name, i, 0, cols) for i in range(1, 5)]
                todo.append((c.outputs[0], ax, cols))
            elif c.op == "Flatten":
                a = c.attrs.get("axis", 1)
                a = a + len(shape) if a < 0 else a
                if not 1 <= a <= ax:
                    return why + f" (axis {a} mixes them with other dims)"
                todo.append((c.outputs[0], 1, _merged(shape, a, ax, cols)))
            elif c.op == "Reshape" and pos == 0:
                out = graph.types[c.outputs[0]].shape
                spec = graph.constants.get(c.inputs[1])
                a = len(out) - 1
                flat = 1 <= a <= ax and out[:a] == shape[:a]
                leading = a >= 1 and ax == len(shape) - 1 and out[-1] == shape[-1]
                if not (flat or leading) or spec is None or (spec.reshape(-1)[-1] == 0 and a != ax):
                    return why + f" (to shape {list(out)})"
                new = _merged(shape, a, ax, cols) if flat else cols
                p.reshapes.append((c.name, new))
                todo.append((c.outputs[0], a, new))
            elif c.op in BINARY or (c.op == "PRelu" and pos == 0):
                other = c.inputs[1 - pos]
                k = graph.constants.get(other)
                if k is None or graph.types[c.outputs[0]].shape != shape:
                    return why + (" (with another branch)" if k is None else " (it broadcasts)")
                kax = ax - (len(shape) - k.ndim)
                if kax >= 0 and k.shape[kax] != 1:
                    p.edits.append((c.name, 1 - pos, kax, cols))
                todo.append((c.outputs[0], ax, cols))
            elif (consumer := layer_of(graph, c)) is not None and pos == 0:
                if consumer.group != 1:
                    return why + f" (group={consumer.group})"
                feature = len(shape) - 1 if consumer.op in ("Gemm", "MatMul") else 1
                if ax != feature or (consumer.op == "Gemm" and len(shape) != 2):
                    return why + " (not along its input features)"
                p.edits.append((c.name, 1, 1 - out_axis(consumer), cols))
                p.consumers.append((consumer, cols))
            else:
                return why
    return p


def _feeds_a_layer(graph: Graph, layer: Layer, cons: dict[str, list[Node]]) -> bool:
    """Whether any layer is downstream of ``layer`` (if none, its neurons are the model's outputs)."""
    todo, seen = [layer.output], set()
    while todo:
        v = todo.pop()
        for c in cons.get(v, []):
            if c.name in seen:
                continue
            seen.add(c.name)
            if layer_of(graph, c) is not None:
                return True
            todo += [o for o in c.outputs if o]
    return False


def _merged(shape: tuple[int, ...], a: int, ax: int, cols: np.ndarray) -> np.ndarray:
    """Indices of each neuron once dims a.. of ``shape`` are merged into one (neurons on ``ax``)."""
    pre = int(np.prod(shape[a:ax], dtype=np.int64))
    inner = int(np.prod(shape[ax + 1 :], dtype=np.int64))
    outer = np.arange(pre)[None, :, None, None] * shape[ax]
    idx = (outer + cols[:, None, :, None]) * inner + np.arange(inner)[None, None, None, :]
    return idx.reshape(cols.shape[0], -1)


def neuron_scores(
    graph: Graph, layer: Layer, criterion: str, stats: Stats | None, rng: np.random.Generator, p: Plan | None = None
) -> np.ndarray:
    """Importance of each output neuron/channel of ``layer`` (float64, one per neuron)."""
    w = graph.constants[layer.weight]
    m = np.abs(to_matrix(layer, w).astype(np.float64))
    if criterion in ("magnitude", "l1"):
        return m.sum(axis=1)
    if criterion == "l2":
        return np.sqrt((m * m).sum(axis=1))
    if criterion == "random":
        return rng.random(m.shape[0])
    if criterion in ("gradient", "taylor"):
        return weight_importance(layer, w, criterion, stats, rng).sum(axis=1)
    if stats is None:
        raise OptionError(f"criterion '{criterion}' needs data", hint="pass data=(x,) or (x, y)")
    y = stats.outputs[layer.name].astype(np.float64)  # [samples, neurons]
    if criterion == "activation":
        return stats.signed[layer.name].astype(np.float64).std(axis=0)
    if criterion == "dead":
        return y.max(axis=0, initial=0.0)
    if criterion == "entropy":
        return _entropy(stats.pre[layer.name].astype(np.float64))
    if criterion == "contribution":
        out = np.zeros(m.shape[0])
        for consumer, cols in p.consumers if isinstance(p, Plan) else ():
            cw = np.abs(to_matrix(consumer, graph.constants[consumer.weight]).astype(np.float64)).sum(axis=0)
            out += cw[cols].sum(axis=1)
        return y.mean(axis=0) * out
    raise OptionError(f"unknown neuron criterion '{criterion}'", hint=f"one of {list(NEURON_CRITERIA)}")


def _entropy(z: np.ndarray, bins: int = 32) -> np.ndarray:
    """Entropy (bits) of each column of z [samples, neurons], histogrammed on bins shared by all columns."""
    lo, hi = float(z.min(initial=0.0)), float(z.max(initial=0.0))
    if not hi > lo:
        return np.zeros(z.shape[1])
    which = np.minimum(((z - lo) * (bins / (hi - lo))).astype(np.int64), bins - 1)
    counts = np.zeros((bins, z.shape[1]))
    np.add.at(counts, (which, np.broadcast_to(np.arange(z.shape[1]), z.shape)), 1.0)
    q = counts / z.shape[0]
    return -(q * np.log2(np.where(q > 0, q, 1.0))).sum(axis=0)


def prune_neurons(
    graph: Graph,
    keep_ratio: float | Mapping[str, float] | None = None,
    *,
    threshold: float | None = None,
    criterion: str = "magnitude",
    scope: str = "layer",
    include: Sequence[str] | None = None,
    stats: Stats | None = None,
    seed: int = 0,
    keep: Mapping[str, int] | None = None,
    compensate: bool = False,
) -> tuple[Graph, list[dict]]:
    """Physically remove the least important output neurons/channels of the layers in ``include``.

    ``keep_ratio`` keeps that fraction of each layer's neurons (at least one), or of all prunable
    layers' neurons with ``scope="global"``; ``threshold`` removes neurons scoring below it;
    ``keep`` ({layer: count}) fixes the count directly (schedules use it). With criterion
    ``dead`` and no amount, exactly the neurons that are always zero on the data go. The
    layers whose outputs are graph outputs are never pruned. ``compensate`` (needs ``stats`` with
    input means) adds each removed neuron's mean contribution to its consumers' biases.
    """
    found = layers(graph)
    names = [layer.name for layer in found] if include is None else list(include)
    if keep_ratio is not None:
        ratios = per_layer(
            graph, found, keep_ratio, "keep_ratio", lambda p: 0.0 < p <= 1.0, "it must be in (0, 1]", _HINT
        )
    elif threshold is None and keep is None and criterion != "dead":
        raise OptionError("give keep_ratio (the fraction of neurons to keep) or a threshold", hint=_HINT)
    else:
        ratios = {}
    if isinstance(keep_ratio, Mapping) and scope == "global":
        raise OptionError("scope='global' takes one keep_ratio for all layers, not a mapping", file=graph.source)
    cons = _consumers(graph)
    rng = np.random.default_rng(seed)
    plans: dict[str, Plan] = {}
    reasons: dict[str, str] = {}
    scores: dict[str, np.ndarray] = {}
    targets = set(names)
    if isinstance(keep_ratio, Mapping):
        targets &= set(ratios)
    if keep is not None:
        targets &= set(keep)
    for layer in found:
        if layer.name not in targets:
            reasons[layer.name] = "excluded"
            continue
        p = plan(graph, layer, cons)
        if isinstance(p, str):
            reasons[layer.name] = p if _feeds_a_layer(graph, layer, cons) else f"output layer ({p})"
            continue
        plans[layer.name] = p
        scores[layer.name] = np.nan_to_num(neuron_scores(graph, layer, criterion, stats, rng, p), nan=0.0)
    removed = _select(scores, ratios, threshold, criterion, scope, keep)
    removals = [(plans[k], v) for k, v in removed.items() if len(v)]
    if compensate and stats is None:
        raise OptionError("compensate needs data (the mean of each removed neuron)", hint="pass data=(x,)")
    new = apply_plans(graph, removals, compensation(graph, removals, stats) if compensate else None)
    rows = nonzero_rows(graph, new)
    for name, row in rows.items():
        row["units_before"] = plans[name].units if name in plans else None
        row["removed"] = int(len(removed.get(name, ())))
        row["removed_units"] = [int(i) for i in removed.get(name, ())]
        row["target"] = ratios.get(name) if name in plans else None
        if name in reasons:
            row["skipped"] = reasons[name]
    return new, list(rows.values())


_HINT = "keep_ratio=0.5 keeps half of each layer's neurons"


def _select(
    scores: dict[str, np.ndarray],
    ratios: dict[str, float],
    threshold: float | None,
    criterion: str,
    scope: str,
    keep: Mapping[str, int] | None,
) -> dict[str, np.ndarray]:
    """Layer -> sorted indices of the neurons to remove (each layer keeps at least one)."""
    out: dict[str, np.ndarray] = {}
    if keep is not None:
        for name, s in scores.items():
            out[name] = _lowest(s, len(s) - max(1, min(len(s), int(keep[name]))))
    elif ratios and scope == "global":
        ratio = next(iter(ratios.values()))
        norm = {k: s / s.mean() if s.mean() > 0 else s for k, s in scores.items()}
        total = sum(len(s) for s in norm.values())
        n_remove = total - int(round(ratio * total))
        keys = list(norm)
        offsets = np.cumsum([0] + [len(norm[k]) for k in keys])
        order = np.argsort(np.concatenate([norm[k] for k in keys]), kind="stable")[:n_remove] if keys else []
        for i, name in enumerate(keys):
            mine = np.sort(order[(order >= offsets[i]) & (order < offsets[i + 1])] - offsets[i])
            if len(mine) == len(norm[name]):  # never empty a layer: keep its best neuron
                mine = _lowest(norm[name], len(mine) - 1)
            out[name] = mine
    elif ratios:
        for name, s in scores.items():
            out[name] = _lowest(s, len(s) - max(1, int(round(ratios[name] * len(s)))))
    else:
        for name, s in scores.items():
            bad = np.flatnonzero(s <= 0.0) if threshold is None else np.flatnonzero(s < threshold)
            out[name] = bad if len(bad) < len(s) else _lowest(s, len(s) - 1)
    return out


def _lowest(s: np.ndarray, n: int) -> np.ndarray:
    return np.sort(np.argsort(s, kind="stable")[: max(0, n)])


def compensation(graph: Graph, removals: Sequence[tuple[Plan, np.ndarray]], stats: Stats) -> dict[str, np.ndarray]:
    """Consumer layer -> what to add to its bias so each removed neuron's input is replaced by
    its mean on the data instead of 0 (exact for Gemm; for Conv up to the padded border).

    MatMul consumers (no bias) and consumers with a variable or full-matrix bias get nothing.
    """
    adds: dict[str, np.ndarray] = {}
    for p, gone in removals:
        for consumer, cols in p.consumers:
            mean = stats.means.get(consumer.name)
            node = graph.node(consumer.name)
            w = graph.constants[consumer.weight].astype(np.float64)
            n_out = w.shape[out_axis(consumer)]
            has_bias = len(node.inputs) > 2 and bool(node.inputs[2])
            if mean is None or consumer.op == "MatMul" or (has_bias and consumer.bias is None):
                continue
            if has_bias and graph.constants[consumer.bias].size not in (1, n_out):
                continue
            idx = cols[gone].reshape(-1)
            if consumer.op == "Gemm":
                delta = to_matrix(consumer, w)[:, idx] @ mean[idx]
            else:  # a kernel sums the channel's mean over its taps
                ws = w.sum(axis=tuple(range(2, w.ndim)))
                delta = (ws if consumer.op == "Conv" else ws.T)[:, idx] @ mean[idx]
            adds[consumer.name] = adds.get(consumer.name, 0.0) + delta
    return adds


def apply_plans(
    graph: Graph, removals: Sequence[tuple[Plan, np.ndarray]], bias_adds: Mapping[str, np.ndarray] | None = None
) -> Graph:
    """Delete the given neurons of each planned layer (adding ``bias_adds`` {layer: vector over its
    original outputs} to the biases first); re-infer types and verify."""
    if not removals:
        return graph
    bias_adds = bias_adds or {}
    takes: dict[tuple[str, int], list[tuple[int, np.ndarray]]] = {}
    sizes: dict[str, np.ndarray] = {}  # Reshape node -> kept indices along its last axis
    kept_rows: dict[str, np.ndarray] = {}
    for p, gone in removals:
        kept = np.setdiff1d(np.arange(p.units), gone)
        kept_rows[p.layer.name] = kept
        for node, i, axis, cols in p.edits:
            takes.setdefault((node, i), []).append((axis, cols[kept].reshape(-1)))
        for node, cols in p.reshapes:
            sizes[node] = cols[kept].reshape(-1)
    uses: dict[str, int] = {}
    for n in graph.nodes:
        for i in n.inputs:
            uses[i] = uses.get(i, 0) + 1
    constants = dict(graph.constants)
    taken: set[str] = set()
    nodes = []
    for n in graph.nodes:
        inputs = list(n.inputs)
        add = bias_adds.get(n.name)
        if add is not None and (len(inputs) < 3 or not inputs[2]):  # a layer without bias gets one
            arr = add if n.name not in kept_rows else add[kept_rows[n.name]]
            name = unique_name(graph, f"{n.name}_bias", taken)
            constants[name] = frozen_array(arr.astype(np.float32))
            inputs[2:] = [name]
            add = None
        for i, name in enumerate(n.inputs):
            if (n.name, i) in takes or (i == 2 and add is not None):
                arr = graph.constants[name]
                if i == 2 and add is not None:
                    full = arr.size != 1 or n.name not in kept_rows
                    arr = (arr.astype(np.float64) + add.reshape(arr.shape if arr.size != 1 else -1)).astype(np.float32)
                    if not full:  # a broadcast scalar bias became a vector: it loses the removed rows too
                        arr = arr[kept_rows[n.name]]
                for axis, idx in takes.get((n.name, i), ()):
                    arr = np.take(arr, idx, axis=axis)
                inputs[i] = _put(graph, constants, name, arr, uses, taken)
        if n.name in sizes:
            spec = graph.constants[n.inputs[1]].copy()
            if spec[-1] > 0:
                spec[-1] = len(sizes[n.name])
            inputs[1] = _put(graph, constants, n.inputs[1], spec, uses, taken)
        nodes.append(n.replace(inputs=tuple(inputs)) if inputs != list(n.inputs) else n)
    return rebuild(graph, nodes, constants)


def _put(graph: Graph, constants: dict, name: str, arr: np.ndarray, uses: dict[str, int], taken: set[str]) -> str:
    """Store ``arr`` as the new value of constant ``name``, under a new name if others read it."""
    if uses.get(name, 0) > 1 or name in graph.outputs:
        name = unique_name(graph, name, taken)
    constants[name] = frozen_array(arr)
    return name


def rebuild(graph: Graph, nodes: Sequence[Node], constants: Mapping[str, np.ndarray]) -> Graph:
    """A graph with ``nodes``: unused constants dropped, every type inferred again, verified."""
    used = {i for n in nodes for i in n.inputs} | set(graph.outputs)
    consts = {k: v for k, v in constants.items() if k in used}
    types: dict[str, TensorType] = {i: graph.types[i] for i in graph.inputs}
    types.update({k: TensorType(tuple(v.shape), str(v.dtype)) for k, v in consts.items()})
    types = infer_types(nodes, types, consts, graph.opset, graph.source)
    new = graph.replace(nodes=tuple(nodes), constants=consts, types=types)
    verify(new)
    return new


# --------------------------------------------------------------------------------- layers
@dataclass
class Candidate:
    """Nodes that together compute something replaceable by the identity: ``end`` equals ``start``."""

    name: str  # the (first) layer's name
    kind: str
    nodes: tuple[str, ...]
    start: str
    end: str
    layers: tuple[str, ...]


def identity_candidates(graph: Graph) -> tuple[list[Candidate], dict[str, str]]:
    """Layers (and residual branches) that could be replaced by the identity; reasons for the rest."""
    cons = _consumers(graph)
    by_name = {layer.name: layer for layer in layers(graph)}
    producer = {o: n for n in graph.nodes for o in n.outputs if o}
    found: list[Candidate] = []
    why: dict[str, str] = {}
    for layer in by_name.values():
        tin, tout = graph.types[layer.input], graph.types[layer.output]
        if tin.shape != tout.shape:
            why[layer.name] = f"shape {list(tin.shape)} -> {list(tout.shape)} is not the identity's"
            continue
        end = activation_value(graph, layer)
        chain = [layer.name]
        v = layer.output
        while v != end:
            nxt = cons[v][0]
            chain.append(nxt.name)
            v = nxt.outputs[0]
        if end in graph.outputs:
            why[layer.name] = "it computes a graph output"
            continue
        kind = "square " + layer.op if layer.op in ("Gemm", "MatMul") else "same-shape " + layer.op
        found.append(Candidate(layer.name, kind, tuple(chain), layer.input, end, (layer.name,)))
    for add in graph.nodes:  # x + f(x): f goes
        if add.op != "Add" or add.outputs[0] in graph.outputs:
            continue
        for pos in (0, 1):
            x, fx = add.inputs[pos], add.inputs[1 - pos]
            branch = _branch(graph, x, fx, cons, producer)
            if branch and any(n in by_name for n in branch) and graph.types[add.outputs[0]] == graph.types[x]:
                first = next(n for n in branch if n in by_name)
                names = tuple(n for n in branch if n in by_name)
                # A branch that is just one layer's chain: replacing that layer by the identity would
                # give x + x, so only the branch's removal is offered.
                found = [c for c in found if not (c.layers == names and c.start == x and c.end == fx)]
                found.append(Candidate(first, "residual branch", (*branch, add.name), x, add.outputs[0], names))
                why.pop(first, None)
                break
    return found, why


def _branch(graph: Graph, x: str, fx: str, cons: dict[str, list[Node]], producer: dict[str, Node]) -> list[str]:
    """Names of the nodes computing ``fx`` from ``x`` alone (each used only inside), in graph order."""
    seen: dict[str, Node] = {}
    todo = [fx]
    while todo:
        v = todo.pop()
        if v == x or v in graph.constants:
            continue
        n = producer.get(v)
        if n is None or v in graph.outputs:
            return []
        if n.name not in seen:
            seen[n.name] = n
            todo += [i for i in n.inputs if i]
    inside = {o for n in seen.values() for o in n.outputs}
    for n in seen.values():
        for o in n.outputs:
            if o and o != fx and any(c.name not in seen for c in cons.get(o, [])):
                return []
    if not inside or x not in {i for n in seen.values() for i in n.inputs}:
        return []
    order = [n.name for n in graph.nodes if n.name in seen]
    return order


def prune_layers(
    graph: Graph,
    keep_ratio: float | None = None,
    *,
    threshold: float | None = None,
    criterion: str = "magnitude",
    include: Sequence[str] | None = None,
    stats: Stats | None = None,
    seed: int = 0,
) -> tuple[Graph, list[dict], list[str]]:
    """Replace the least important removable layers by the identity.

    A candidate's score is its criterion summed over its neurons (over all layers of a residual
    branch). ``keep_ratio`` keeps that fraction of all layers (removing the lowest-scoring
    candidates to get there); ``threshold`` removes candidates scoring below it. Returns the new
    graph, the report rows and the names of the removed layers.
    """
    found = layers(graph)
    if (keep_ratio is None) == (threshold is None):
        raise OptionError("give keep_ratio (the fraction of layers to keep) or a threshold", hint=_HINT_LAYERS)
    if isinstance(keep_ratio, Mapping):
        raise OptionError("layer removal takes one keep_ratio (a fraction of all layers), not a mapping")
    if keep_ratio is not None:
        per_layer(graph, found, keep_ratio, "keep_ratio", lambda p: 0.0 < p <= 1.0, "it must be in (0, 1]")
    names = set(layer.name for layer in found) if include is None else set(include)
    cands, why = identity_candidates(graph)
    cands = [c for c in cands if set(c.layers) <= names]
    rng = np.random.default_rng(seed)
    by_name = {layer.name: layer for layer in found}
    cons = _consumers(graph)

    def layer_score(name: str) -> float:
        p = plan(graph, by_name[name], cons) if criterion == "contribution" else None
        return float(neuron_scores(graph, by_name[name], criterion, stats, rng, p).sum())

    score = {id(c): sum(layer_score(n) for n in c.layers) for c in cands}
    order = sorted(cands, key=lambda c: score[id(c)])
    if threshold is not None:
        chosen = [c for c in order if score[id(c)] < threshold]
        budget = len(found)
    else:
        chosen, budget = order, len(found) - max(1, int(round(keep_ratio * len(found))))
    dropped: set[str] = set()
    alias: dict[str, str] = {}
    removed: list[str] = []
    for c in chosen:
        if dropped & set(c.nodes) or len(removed) + len(c.layers) > budget:
            continue
        dropped |= set(c.nodes)
        alias[c.end] = c.start
        removed += list(c.layers)

    def root(v: str) -> str:
        while v in alias:
            v = alias[v]
        return v

    nodes = [
        n.replace(inputs=tuple(root(i) if i else i for i in n.inputs)) for n in graph.nodes if n.name not in dropped
    ]
    new = rebuild(graph, nodes, graph.constants) if dropped else graph
    rows = nonzero_rows(graph, new)
    cand_of = {n: c for c in cands for n in c.layers}
    for name, row in rows.items():
        row["removed_layer"] = name in removed
        c = cand_of.get(name)
        if c is not None:
            row["candidate"] = c.kind
            row["score"] = score[id(c)]
        elif name in why:
            row["skipped"] = why[name]
        elif name not in names:
            row["skipped"] = "excluded"
    return new, list(rows.values()), removed


_HINT_LAYERS = "keep_ratio=0.75 removes up to a quarter of the layers where the identity can replace them"
