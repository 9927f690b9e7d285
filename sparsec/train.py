"""NumPy training core: batched execution, gradients (a backward pass over the op set) and fine-tuning.

Graphs are loaded with a batch of 1 (C runs one sample per call); ``batched`` re-types a graph for
n samples so the reference runs a whole mini-batch at once. ``gradients`` runs the reference
forward and each op's ``backward`` in reverse, in float64. ``finetune`` trains the float32
constants (weights, biases) with SGD/Adam, keeping pruned weights at zero.

Losses (the mean over the batch): cross-entropy on class scores [N, C] with class ids y (computed
from the logits when the graph ends in Softmax/LogSoftmax), MSE (mean over all output elements)
with float targets of the output's shape. Without y, the labels are the model's own predictions
(argmax of its output), so gradient importance works on unlabeled calibration data.
"""

from __future__ import annotations

import math
import numbers
import sys
import time
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import ops
from . import reference as ref
from .errors import OptionError, ShapeError, UnsupportedOperatorError
from .ir import Graph, frozen_array, unique_name

_BATCH_HINT = "This graph cannot run several samples at once; use batch size 1 (batch_size=1)"
#: Softmax-like ops whose axis must not be the batch axis.
_ROW_OPS = ("Softmax", "LogSoftmax", "Hardmax")

# ------------------------------------------------------------------------------------------ batched
#: id(graph) -> (weak reference to the graph, {n: batched graph}); entries die with their graph.
_BATCHED: dict[int, tuple[weakref.ref, dict[int, Graph]]] = {}


def batched(graph: Graph, n: int) -> Graph:
    """``graph`` with the leading (batch) dim of every input set to ``n``, types re-inferred.

    Reshape shape constants that hard-code the old batch (torch's ``[1, -1]``) get 0 there (copy
    the batch dim). Every value computed from the inputs must keep the batch as its leading dim;
    otherwise (a Flatten at axis 0, a Transpose of the batch axis, a softmax over it, ...) the
    graph mixes samples and OptionError names the node.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise OptionError(f"the batch size must be a positive integer, got {n!r}", file=graph.source)
    n = int(n)
    entry = _BATCHED.get(id(graph))
    if entry is not None and entry[0]() is graph and n in entry[1]:
        return entry[1][n]
    result = _batched(graph, n)
    if entry is None or entry[0]() is not graph:
        key = id(graph)
        entry = (weakref.ref(graph, lambda _, key=key, cache=_BATCHED: cache.pop(key, None)), {})
        _BATCHED[key] = entry
    entry[1][n] = result
    return result


def _batch_of(graph: Graph) -> int:
    """The leading dim all graph inputs share (OptionError if they do not)."""
    dims = set()
    for name in graph.inputs:
        shape = graph.types[name].shape
        if not shape:
            raise OptionError(f"input '{name}' is a scalar: it has no batch dim", file=graph.source, hint=_BATCH_HINT)
        dims.add(shape[0])
    if len(dims) != 1:
        raise OptionError(f"the inputs have different leading dims {sorted(dims)}", file=graph.source, hint=_BATCH_HINT)
    return dims.pop()


def _batched(graph: Graph, n: int) -> Graph:
    old = _batch_of(graph)
    if old == n:
        return graph
    types = dict(graph.types)
    constants = dict(graph.constants)
    for name in graph.inputs:
        t = types[name]
        types[name] = t.__class__((n, *t.shape[1:]), t.dtype)
    dep = set(graph.inputs)  # values computed from the inputs: they carry the batch
    taken: set[str] = set()
    nodes = []
    for node in graph.nodes:
        where = dict(file=graph.source, node=node.name, op=node.op, hint=_BATCH_HINT)
        if node.op == "Reshape" and node.inputs[0] in dep and node.inputs[1] in constants:
            spec = np.asarray(constants[node.inputs[1]])
            if spec.size and int(spec.reshape(-1)[0]) == old and old != 0:
                if node.attrs.get("allowzero", 0):
                    raise OptionError("the Reshape target hard-codes the batch size (allowzero=1)", **where)
                fixed = spec.reshape(-1).copy()
                fixed[0] = 0
                name = unique_name(graph, f"{node.inputs[1]}_batched", taken)
                constants[name] = frozen_array(fixed.reshape(spec.shape))
                types[name] = graph.types[node.inputs[1]]
                node = node.replace(inputs=(node.inputs[0], name, *node.inputs[2:]))
        op = ops.get(node.op)
        in_types = [types.get(i) if i else None for i in node.inputs]
        consts = [constants.get(i) if i else None for i in node.inputs]
        try:
            out = op.infer(node, in_types, consts, graph.opset)
        except ops.OpFormError as e:
            raise OptionError(f"cannot be batched: {e}", **where) from None
        carries = any(i in dep for i in node.inputs)
        if carries and node.op in _ROW_OPS:
            rank = len(in_types[0].shape)
            axis = node.attrs.get("axis", -1 if graph.opset >= 13 else 1)
            if rank and axis % rank == 0:
                raise OptionError("normalizes over the batch axis (axis 0)", **where)
        if carries and node.op == "Transpose":
            perm = node.attrs.get("perm")
            if perm is None or int(perm[0]) != 0:
                raise OptionError("moves the batch axis", **where)
        for name, t in zip(node.outputs, out):
            if not name:
                continue
            types[name] = t
            if carries:
                dep.add(name)
                before = graph.types[name].shape
                if not before or before[0] != old or t.shape != (n, *before[1:]):
                    raise OptionError(
                        f"output '{name}' of shape {list(before)} does not keep the batch as its leading dim "
                        f"(with {n} samples it would be {list(t.shape)})",
                        **where,
                    )
        nodes.append(node)
    used = {i for node in nodes for i in node.inputs} | set(graph.outputs)
    constants = {k: v for k, v in constants.items() if k in used}
    types = {k: t for k, t in types.items() if k in used or k in dep or k not in graph.constants}
    return graph.replace(nodes=tuple(nodes), types=types, constants=constants)


# ------------------------------------------------------------------------------------------ forward
def _depends(graph: Graph) -> set[str]:
    """Graph inputs and every value computed from them."""
    dep = set(graph.inputs)
    for node in graph.nodes:
        if any(i in dep for i in node.inputs):
            dep.update(o for o in node.outputs if o)
    return dep


def _feeds(graph: Graph, x: Any) -> tuple[dict[str, np.ndarray], int, bool]:
    """Input arrays, the number of samples, and whether the graph has a batch dim to batch along.

    Without a leading batch dim of 1 on its inputs the graph runs one sample at a time.
    """
    if isinstance(x, Mapping):
        missing = [k for k in graph.inputs if k not in x]
        unknown = sorted(set(x) - set(graph.inputs))
        if missing or unknown:
            raise OptionError(f"x names inputs {sorted(x)}; the graph's are {list(graph.inputs)}", file=graph.source)
        given = {k: x[k] for k in graph.inputs}
    else:
        if len(graph.inputs) != 1:
            raise OptionError(
                f"the graph has {len(graph.inputs)} inputs; pass x as a dict {{name: array}}",
                file=graph.source,
                hint=f"Inputs: {list(graph.inputs)}",
            )
        given = {graph.inputs[0]: x}
    feeds, counts, batchable = {}, set(), True
    for name, value in given.items():
        try:
            arr = np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError):
            raise OptionError(f"x for input '{name}' is not a numeric array", file=graph.source) from None
        shape = graph.types[name].shape
        if shape and shape[0] == 1 and arr.ndim == len(shape) and arr.shape[1:] == shape[1:]:
            counts.add(arr.shape[0])
        elif arr.shape == shape:
            counts.add(1)
            batchable = False
            arr = arr[None]
        elif arr.shape[1:] == shape:
            counts.add(arr.shape[0])
            batchable = False
        else:
            sample = shape[1:] if shape and shape[0] == 1 else shape
            raise OptionError(
                f"x for input '{name}' has shape {list(arr.shape)}; expected a batch [N, "
                f"{', '.join(map(str, sample))}] (the input is {list(shape)})",
                file=graph.source,
            )
        feeds[name] = arr
    if len(counts) != 1:
        raise OptionError(f"the inputs hold different numbers of samples {sorted(counts)}", file=graph.source)
    count = counts.pop()
    if count == 0:
        raise OptionError("x holds no samples", file=graph.source)
    if not batchable:  # every input as one sample with a leading axis over the samples
        feeds = {k: v if v.shape[1:] == graph.types[k].shape else v[:, None] for k, v in feeds.items()}
    return feeds, count, batchable


def _run(
    graph: Graph, feeds: dict[str, np.ndarray], count: int, batchable: bool, keep_all: bool, batch_size: int
) -> dict[str, np.ndarray]:
    """The reference over the samples of ``feeds`` in chunks; batch-carrying values concatenated."""
    dep = _depends(graph)
    parts: dict[str, list[np.ndarray]] = {}
    shared: dict[str, np.ndarray] = {}
    step = batch_size if batchable else 1
    for start in range(0, count, step):
        chunk = {k: v[start : start + step] for k, v in feeds.items()}
        m = len(next(iter(chunk.values())))
        if batchable:
            g = batched(graph, m)
        else:
            g = graph
            chunk = {k: v[0] for k, v in chunk.items()}
        values = ref.run(g, chunk, keep_all=keep_all)
        for k, v in values.items():
            if k in dep:
                parts.setdefault(k, []).append(v if batchable else v[None])
            elif start == 0 and k in graph.types:  # not the batched graph's rewritten Reshape targets
                shared[k] = v
    out = {k: np.concatenate(v, axis=0) if len(v) > 1 else v[0] for k, v in parts.items()}
    out.update(shared)
    return out


def _check_batch_size(batch_size: Any, graph: Graph, what: str = "batch_size") -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise OptionError(f"{what} must be a positive integer, got {batch_size!r}", file=graph.source)
    return int(batch_size)


def forward(graph: Graph, x: Any, *, keep_all: bool = False, batch_size: int = 256) -> dict[str, np.ndarray]:
    """Run the reference on a batch ``x`` [N, *sample shape] (or a dict of them for several inputs).

    The sample shape is the graph input's shape without its leading batch dim of 1; an ``x`` of
    exactly the input's shape is one sample. Runs ``batch_size`` samples at a time and returns
    the outputs (every value with ``keep_all``) concatenated along axis 0; with ``keep_all``,
    constants appear once, unbatched.
    """
    batch_size = _check_batch_size(batch_size, graph)
    return _run(graph, *_feeds(graph, x), keep_all, batch_size)


# ---------------------------------------------------------------------------------------- the loss
_LOSSES = ("auto", "cross_entropy", "mse")
#: Where each op reads trainable constants: (input positions, only when the constant has > 1 value).
_PARAM_ROLES = {
    "Gemm": ((0, 1, 2), False),
    "MatMul": ((0, 1), False),
    "Conv": ((1, 2), False),
    "ConvTranspose": ((1, 2), False),
    "BatchNormalization": ((1, 2), False),  # scale and B; the running statistics stay fixed
    "Add": ((0, 1), True),
    "Mul": ((0, 1), True),
    "PRelu": ((1,), False),
}
#: The weight (not bias) operands: what L1/L2 penalize and default masks keep pruned.
_WEIGHT_ROLES = {"Gemm": (0, 1), "MatMul": (0, 1), "Conv": (1,), "ConvTranspose": (1,)}


@dataclass(frozen=True)
class _Loss:
    kind: str  # "cross_entropy" | "mse"
    output: str  # the graph output the loss is on
    logits: str  # cross-entropy is computed from these scores (the Softmax input, or the output)
    through: str | None  # the final Softmax/LogSoftmax node the loss differentiates itself
    log: bool  # the output is LogSoftmax


def _float_output(graph: Graph) -> str:
    for o in graph.outputs:
        if graph.types[o].dtype == "float32":
            return o
    raise OptionError("the graph has no float32 output to compute a loss on", file=graph.source)


def _class_count(graph: Graph, out: str) -> int | None:
    """C when the output is class scores [batch, C] (C >= 2)."""
    shape = graph.types[out].shape
    return shape[1] if len(shape) == 2 and shape[1] >= 2 else None


def _integral(y: np.ndarray) -> bool:
    """Whole numbers only (class ids stored as floats); NaN and inf are not."""
    return bool(np.all(np.isfinite(y))) and bool(np.all(np.floor(y) == y))


def _loss_spec(graph: Graph, loss: Any, y: Any) -> _Loss:
    if loss not in _LOSSES:
        raise OptionError(f"loss must be one of {list(_LOSSES)}, got {loss!r}", file=graph.source)
    out = _float_output(graph)
    classes = _class_count(graph, out)
    kind = loss
    if loss == "auto":  # class ids [N] (integers, or integral floats) for class scores; else targets
        labels = y is None
        if not labels:
            arr = np.asarray(y)
            labels = arr.ndim == 1 and (arr.dtype.kind in "iub" or (arr.dtype.kind == "f" and _integral(arr)))
        kind = "cross_entropy" if labels and classes else "mse"
    if kind == "cross_entropy" and classes is None:
        raise OptionError(
            f"loss: the output '{out}' of shape {list(graph.types[out].shape)} is not class scores [N, C]",
            file=graph.source,
            hint="Pass float targets y of the output's shape (loss='mse')",
        )
    if kind == "mse" and y is None:
        raise OptionError(
            f"the output '{out}' is not class scores [N, C], so the loss needs targets y (mse)", file=graph.source
        )
    node = graph.producer(out)
    through, logits, log = None, out, False
    if kind == "cross_entropy" and node is not None and node.op in ("Softmax", "LogSoftmax"):
        axis = node.attrs.get("axis", -1 if graph.opset >= 13 else 1)
        if axis % 2 == 1:  # over the classes (a 2-D output): CE from the logits, stable
            through, logits, log = node.name, node.inputs[0], node.op == "LogSoftmax"
    return _Loss(kind, out, logits, through, log)


def _targets(graph: Graph, spec: _Loss, y: Any, count: int) -> np.ndarray | None:
    """Labels (int64 [N]) or regression targets (float64 [N, *output sample]); None: the model's own labels."""
    if y is None:
        return None
    y = np.asarray(y)
    if y.shape[:1] != (count,):
        raise OptionError(f"y holds {y.shape[0] if y.ndim else 0} targets for {count} samples", file=graph.source)
    if spec.kind == "cross_entropy":
        classes = _class_count(graph, spec.output)
        if y.ndim != 1 or y.dtype.kind not in "iubf" or (y.dtype.kind == "f" and not _integral(y)):
            raise OptionError(
                f"y must be class ids [N] for cross-entropy, got {y.dtype}{list(y.shape)}", file=graph.source
            )
        if y.size and (y.min() < 0 or y.max() >= classes):
            raise OptionError(f"y holds class ids outside [0, {classes - 1}]", file=graph.source)
        return y.astype(np.int64)
    sample = graph.types[spec.output].shape[1:]
    if y.dtype.kind not in "iuf" or y.size != count * math.prod(sample):
        raise OptionError(
            f"y of shape {list(y.shape)} does not match the output '{spec.output}' [N, {', '.join(map(str, sample))}]",
            file=graph.source,
        )
    return y.astype(np.float64).reshape((count, *sample))


def _loss_and_seeds(
    spec: _Loss, env: Mapping[str, np.ndarray], target: np.ndarray | None
) -> tuple[float, dict[str, np.ndarray], int | None]:
    """Mean loss over the batch, dL/d the values it is computed from, and the correct count."""
    out = np.asarray(env[spec.output], dtype=np.float64)
    n = out.shape[0]
    if spec.kind == "mse":
        diff = out - target
        return float(np.mean(diff * diff)), {spec.output: 2.0 * diff / diff.size}, None
    z = np.asarray(env[spec.logits], dtype=np.float64)
    labels = np.argmax(out, axis=1) if target is None else target
    shifted = z - z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_p = shifted - lse
    rows = np.arange(n)
    loss = float(-np.mean(log_p[rows, labels]))
    hot = np.zeros_like(z)
    hot[rows, labels] = 1.0
    seeds = {spec.logits: (np.exp(log_p) - hot) / n}
    if spec.through is not None:  # dL/d the output itself, for value_grads
        if spec.log:
            seeds[spec.output] = -hot / n
        else:
            with np.errstate(all="ignore"):
                seeds[spec.output] = -hot / (n * np.maximum(out, np.finfo(np.float64).tiny))
    correct = int(np.sum(np.argmax(z, axis=1) == labels))
    return loss, seeds, correct


# ---------------------------------------------------------------------------------- forward/backward
def _execute(graph: Graph, feeds: Mapping[str, np.ndarray], params: Mapping[str, np.ndarray]) -> dict:
    """Every value of ``graph`` (constants ``params`` overridden) on ``feeds`` of the inputs' exact shapes."""
    env: dict[str, np.ndarray] = dict(graph.constants)
    env.update(params)
    env.update(feeds)
    for node in graph.nodes:
        args = [env[i] if i else None for i in node.inputs]
        try:
            with np.errstate(all="ignore"):
                results = ops.get(node.op).reference(node, args, graph.opset)
        except ops.OpFormError as e:
            raise ShapeError(str(e), file=graph.source, node=node.name, op=node.op, hint=e.hint) from None
        env.update((name, value) for name, value in zip(node.outputs, results) if name)
    return env


def _backward(
    graph: Graph, env: Mapping[str, np.ndarray], seeds: Mapping[str, np.ndarray], wanted: set[str], skip: str | None
) -> dict[str, np.ndarray]:
    """dL/d every float value (and the ``wanted`` constants) reached from the ``seeds`` backwards."""
    grads = dict(seeds)
    for node in reversed(graph.nodes):
        if node.name == skip:
            continue
        outs = [grads.get(o) if o else None for o in node.outputs]
        if all(g is None for g in outs):
            continue
        ins = [env[i] if i else None for i in node.inputs]
        try:
            with np.errstate(all="ignore"):
                back = ops.get(node.op).backward(
                    node, ins, [env.get(o) if o else None for o in node.outputs], outs, graph.opset
                )
        except ops.OpFormError as e:
            raise UnsupportedOperatorError(str(e), file=graph.source, node=node.name, op=node.op, hint=e.hint) from None
        for name, d in zip(node.inputs, back):
            if d is None or not name or env[name].dtype.kind != "f":
                continue
            if name in graph.constants and name not in wanted:
                continue
            grads[name] = d if name not in grads else grads[name] + d
    return grads


def default_params(graph: Graph) -> list[str]:
    """The float32 constants read as weights/biases: Gemm/MatMul operands, Conv/ConvTranspose W and B,
    BatchNormalization scale and B, PRelu slopes, and Add/Mul operands with more than one value."""
    found: dict[str, None] = {}
    for node in graph.nodes:
        positions, several = _PARAM_ROLES.get(node.op, ((), False))
        for k in positions:
            name = node.inputs[k] if k < len(node.inputs) else ""
            value = graph.constants.get(name)
            if value is not None and value.dtype == np.float32 and (not several or value.size > 1):
                found[name] = None
    return list(found)


def weight_names(graph: Graph) -> set[str]:
    """The constants among the params that are weights (Gemm/MatMul operands, Conv/ConvTranspose W)."""
    found = set()
    for node in graph.nodes:
        for k in _WEIGHT_ROLES.get(node.op, ()):
            if k < len(node.inputs) and node.inputs[k] in graph.constants:
                found.add(node.inputs[k])
    return found


def _param_names(graph: Graph, params: Any) -> list[str]:
    if params is None:
        return default_params(graph)
    if isinstance(params, str) or not isinstance(params, Iterable):
        raise OptionError(f"params must be a list of constant names, got {params!r}", file=graph.source)
    names = list(dict.fromkeys(params))
    for name in names:
        value = graph.constants.get(name)
        if value is None or value.dtype != np.float32:
            raise OptionError(
                f"params names '{name}', which is not a float32 constant of the graph",
                file=graph.source,
                hint=f"Trainable constants: {default_params(graph)}",
            )
    return names


@dataclass
class _Pass:
    loss: float  # mean over the samples
    correct: int | None
    params: dict[str, np.ndarray]  # mean-loss gradients
    values: dict[str, np.ndarray] | None = None
    value_grads: dict[str, np.ndarray] | None = None


def _grad_pass(
    graph: Graph,
    spec: _Loss,
    feeds: Mapping[str, np.ndarray],
    target: np.ndarray | None,
    wanted: set[str],
    params: Mapping[str, np.ndarray],
    keep: bool,
) -> _Pass:
    """Loss and gradients over the samples of ``feeds`` in one batched run, or one sample at a
    time (averaged) when the graph cannot be batched."""
    count = len(next(iter(feeds.values())))
    try:
        g = batched(graph, count)
    except OptionError:
        if count == 1:
            raise
        g = None
    if g is not None:
        env = _execute(g, feeds, params)
        loss, seeds, correct = _loss_and_seeds(spec, env, target)
        grads = _backward(g, env, seeds, wanted, spec.through)
        found = {k: grads[k] if k in grads else np.zeros(env[k].shape) for k in wanted}
        if not keep:
            return _Pass(loss, correct, found)
        values = {k: v for k, v in env.items() if k not in g.constants}
        value_grads = {k: v for k, v in grads.items() if k not in g.constants}
        return _Pass(loss, correct, found, values, value_grads)
    parts = [
        _grad_pass(
            graph,
            spec,
            {k: v[i : i + 1] for k, v in feeds.items()},
            None if target is None else target[i : i + 1],
            wanted,
            params,
            keep,
        )
        for i in range(count)
    ]
    total = _Pass(
        float(np.mean([p.loss for p in parts])),
        None if parts[0].correct is None else sum(p.correct for p in parts),
        {k: sum(p.params[k] for p in parts) / count for k in wanted},
    )
    if keep:
        total.values = {k: np.concatenate([p.values[k] for p in parts]) for k in parts[0].values}
        # Per-sample passes see a loss averaged over one sample: rescale to the mean over all.
        total.value_grads = {k: np.concatenate([p.value_grads[k] for p in parts]) / count for k in parts[0].value_grads}
    return total


def _batch_feeds(graph: Graph, x: Any) -> tuple[dict[str, np.ndarray], int]:
    feeds, count, batchable = _feeds(graph, x)
    if not batchable:
        raise OptionError(
            "training needs inputs with a leading batch dim of 1 (x is [N, *sample shape])",
            file=graph.source,
            hint=f"Input shapes: {[list(graph.types[i].shape) for i in graph.inputs]}",
        )
    return feeds, count


@dataclass
class Gradients:
    """What ``gradients`` computes on a batch (every array float64 except ``values``)."""

    loss: float  #: the mean loss over the batch
    params: dict[str, np.ndarray]  #: constant name -> dL/dconstant (the constant's shape)
    values: dict[str, np.ndarray]  #: graph inputs and node outputs on the batch (the forward pass)
    value_grads: dict[str, np.ndarray]  #: dL/dvalue for every float value the loss depends on


def gradients(graph: Graph, x: Any, y: Any = None, *, loss: str = "auto", params: Any = None) -> Gradients:
    """Loss and gradients of the mean loss over the batch ``x`` [N, *sample shape].

    ``loss="auto"``: cross-entropy for class scores [N, C] with integer labels y (from the logits
    when the graph ends in Softmax/LogSoftmax), MSE (mean over all output elements) for float
    targets y of the output's shape. With ``y=None`` the labels are the model's own predictions
    (argmax of its output), so importance can be computed from unlabeled calibration data.
    ``params``: the constants to differentiate (default: ``default_params(graph)``).
    The whole batch runs at once (one sample at a time if the graph cannot be batched).
    """
    feeds, count = _batch_feeds(graph, x)
    spec = _loss_spec(graph, loss, y)
    target = _targets(graph, spec, y, count)
    wanted = _param_names(graph, params)
    result = _grad_pass(graph, spec, feeds, target, set(wanted), {}, keep=True)

    def dense(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in d.items()}

    return Gradients(
        result.loss, dense({k: result.params[k] for k in wanted}), result.values, dense(result.value_grads)
    )


# --------------------------------------------------------------------------------------- evaluate
def evaluate(graph: Graph, x: Any, y: Any, *, loss: str = "auto", batch_size: int = 256) -> dict:
    """{"loss": mean loss, "accuracy": fraction of correct class ids (cross-entropy only)} on (x, y)."""
    batch_size = _check_batch_size(batch_size, graph)
    feeds, count = _batch_feeds(graph, x)
    spec = _loss_spec(graph, loss, y)
    target = _targets(graph, spec, y, count)
    return _evaluate(graph, spec, feeds, target, count, batch_size, {})


def _evaluate(graph, spec, feeds, target, count, batch_size, params) -> dict:
    total, correct = 0.0, 0
    for start in range(0, count, batch_size):
        chunk = {k: v[start : start + batch_size] for k, v in feeds.items()}
        m = len(next(iter(chunk.values())))
        t = None if target is None else target[start : start + m]
        try:
            envs = [(_execute(batched(graph, m), chunk, params), t)]
        except OptionError:
            if m == 1:
                raise
            envs = [
                (
                    _execute(graph, {k: v[i : i + 1] for k, v in chunk.items()}, params),
                    None if t is None else t[i : i + 1],
                )
                for i in range(m)
            ]
        for env, t_part in envs:
            k = len(next(iter(env[i] for i in graph.inputs)))
            loss, _, right = _loss_and_seeds(spec, env, t_part)
            total += loss * k
            correct += right or 0
    result = {"loss": total / count}
    if spec.kind == "cross_entropy":
        result["accuracy"] = correct / count
    return result


# --------------------------------------------------------------------------------------- finetune
_OPTIMIZERS = ("sgd", "adam")
_ADAM = (0.9, 0.999, 1e-8)  # beta1, beta2, epsilon


def _positive(value: Any, what: str, graph: Graph, allow_zero: bool = False, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))
    if not ok or float(value) < 0 or (float(value) == 0 and not allow_zero):
        need = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise OptionError(f"{what} must be {need}, got {value!r}", file=graph.source)
    return float(value)


def _count(value: Any, what: str, graph: Graph, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise OptionError(f"{what} must be an integer >= {minimum}, got {value!r}", file=graph.source)
    return int(value)


def _masks(graph: Graph, masks: Any, trained: list[str], weights: set[str]) -> dict[str, np.ndarray]:
    """{name: bool keep-mask}; by default every trained weight's current nonzeros."""
    if masks is None:
        return {k: graph.constants[k] != 0 for k in trained if k in weights}
    if not isinstance(masks, Mapping):
        raise OptionError(
            f"masks must be a dict {{constant name: bool array}}, got {type(masks).__name__}", file=graph.source
        )
    out = {}
    for name, mask in masks.items():
        if name not in trained:
            raise OptionError(
                f"masks names '{name}', which is not a trained constant", file=graph.source, hint=f"Trained: {trained}"
            )
        arr = np.asarray(mask)
        if arr.shape != graph.constants[name].shape:
            raise OptionError(
                f"masks['{name}'] has shape {list(arr.shape)}; the constant is {list(graph.constants[name].shape)}",
                file=graph.source,
            )
        out[name] = arr.astype(bool)
    return out


def _float32_below(r: float) -> float:
    """The largest float32 <= r, so that clamped weights stay within r once stored as float32."""
    r32 = np.float32(r)
    return float(r32 if float(r32) <= r else np.nextafter(r32, np.float32(0)))


def _limits(graph: Graph, range_limit: Any, trained: list[str]) -> dict[str, float]:
    """{name: r} (as float32 values) for the trained constants ``range_limit`` covers."""
    if range_limit is None:
        return {}
    if isinstance(range_limit, Mapping):
        out = {}
        for name, r in range_limit.items():
            if name not in trained:
                raise OptionError(
                    f"range_limit names '{name}', which is not a trained constant",
                    file=graph.source,
                    hint=f"Trained: {trained}",
                )
            out[name] = _float32_below(_positive(r, f"range_limit['{name}']", graph))
        return out
    r = _float32_below(_positive(range_limit, "range_limit", graph))
    return {name: r for name in trained}


class _Progress:
    """One line per epoch on stderr; on a terminal, the line also counts the batches as they go."""

    def __init__(self, enabled: bool | None, epochs: int) -> None:
        tty = bool(getattr(sys.stderr, "isatty", lambda: False)())
        self.enabled = tty if enabled is None else bool(enabled)
        self.live = self.enabled and tty
        self.epochs = epochs
        self.last = 0.0

    def batch(self, epoch: int, done: int, total: int, loss: float) -> None:
        now = time.monotonic()
        if self.live and (now - self.last > 0.1 or done == total):
            self.last = now
            width = 24
            bar = "=" * (width * done // total)
            sys.stderr.write(f"\repoch {epoch}/{self.epochs} [{bar:<{width}}] {done}/{total} loss {loss:.4f}")
            sys.stderr.flush()

    def epoch(self, row: dict, seconds: float) -> None:
        if not self.enabled:
            return
        parts = [f"epoch {row['epoch']}/{self.epochs}", f"loss {row['loss']:.4f}"]
        parts += [f"{k} {row[k]:.4f}" for k in ("accuracy", "val_loss", "val_accuracy") if k in row]
        line = "  ".join(parts) + f"  ({seconds:.1f}s)"
        sys.stderr.write(("\r\033[K" if self.live else "") + line + "\n")
        sys.stderr.flush()


def finetune(
    graph: Graph,
    x: Any,
    y: Any,
    *,
    epochs: int = 1,
    lr: float = 1e-3,
    batch_size: int = 32,
    optimizer: str = "adam",
    momentum: float = 0.9,
    l1: float = 0.0,
    l2: float = 0.0,
    clip_value: float | None = None,
    clip_norm: float | None = None,
    range_limit: float | Mapping[str, float] | None = None,
    masks: Mapping[str, np.ndarray] | None = None,
    params: Iterable[str] | None = None,
    seed: int | None = 0,
    progress: bool | None = None,
    validation: tuple[Any, Any] | None = None,
    loss: str = "auto",
) -> tuple[Graph, list[dict]]:
    """Mini-batch training of the float32 constants ``params`` (default: ``default_params``).

    Each step: gradient of the mean batch loss, + ``l1``·sign(w) + ``l2``·w on weights (not
    biases), masked, clipped by value then by global norm, an SGD-with-momentum or Adam step,
    masked again (``masks``: {name: bool, False = pruned, held at exactly 0}; default: every
    trained weight's current zero pattern, so pruned stays pruned; an explicit dict replaces the
    default), then clamped into [-r, r] (``range_limit``: r for every trained constant, or
    {name: r}). Shuffles with ``np.random.default_rng(seed)``: the same seed gives the same model.
    ``y=None`` trains towards the input graph's own predicted labels. Returns the trained graph
    (``graph`` is untouched) and one dict per epoch: epoch, loss (mean over the epoch's batches,
    before each step, penalties excluded), accuracy (class ids), val_loss/val_accuracy
    (``validation=(x, y)``, after the epoch).
    """
    epochs = _count(epochs, "epochs", graph, 0)
    lr = _positive(lr, "lr", graph)
    batch_size = _count(batch_size, "batch_size", graph, 1)
    if optimizer not in _OPTIMIZERS:
        raise OptionError(f"optimizer must be one of {list(_OPTIMIZERS)}, got {optimizer!r}", file=graph.source)
    momentum = _positive(momentum, "momentum", graph, allow_zero=True)
    if momentum >= 1:
        raise OptionError(f"momentum must be in [0, 1), got {momentum!r}", file=graph.source)
    l1 = _positive(l1, "l1", graph, allow_zero=True)
    l2 = _positive(l2, "l2", graph, allow_zero=True)
    clip_value = _positive(clip_value, "clip_value", graph, optional=True)
    clip_norm = _positive(clip_norm, "clip_norm", graph, optional=True)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise OptionError(f"seed must be an integer or None, got {seed!r}", file=graph.source)
    if progress is not None and not isinstance(progress, bool):
        raise OptionError(f"progress must be None, True or False, got {progress!r}", file=graph.source)
    trained = _param_names(graph, params)
    weights = weight_names(graph) & set(trained)
    keep = _masks(graph, masks, trained, weights)
    limits = _limits(graph, range_limit, trained)
    feeds, count = _batch_feeds(graph, x)
    spec = _loss_spec(graph, loss, y)
    if y is None:  # the labels the untrained graph predicts
        target = np.argmax(forward(graph, x)[spec.output].reshape(count, -1), axis=1)
    else:
        target = _targets(graph, spec, y, count)
    val = None
    if validation is not None:
        if not isinstance(validation, tuple | list) or len(validation) != 2:
            raise OptionError("validation must be a pair (x, y)", file=graph.source)
        vfeeds, vcount = _batch_feeds(graph, validation[0])
        vspec = _loss_spec(graph, loss, validation[1])
        if vspec.kind != spec.kind:
            raise OptionError("validation y is not the same kind of target as y", file=graph.source)
        val = (vfeeds, _targets(graph, vspec, validation[1], vcount), vcount)

    w = {k: graph.constants[k].astype(np.float64) for k in trained}
    for k, m in keep.items():
        w[k] = np.where(m, w[k], 0.0)
    for k, r in limits.items():
        w[k] = np.clip(w[k], -r, r)
    state = {k: np.zeros_like(v) for k, v in w.items()}
    state2 = {k: np.zeros_like(v) for k, v in w.items()}
    rng = np.random.default_rng(seed)
    shown = _Progress(progress, epochs)
    history: list[dict] = []
    step = 0
    wanted = set(trained)
    n_batches = -(-count // batch_size)
    for epoch in range(1, epochs + 1):
        started = time.monotonic()
        order = rng.permutation(count)
        total, correct = 0.0, 0
        for b in range(n_batches):
            idx = order[b * batch_size : (b + 1) * batch_size]
            chunk = {k: v[idx] for k, v in feeds.items()}
            current = {k: v.astype(np.float32) for k, v in w.items()}
            result = _grad_pass(
                graph, spec, chunk, None if target is None else target[idx], wanted, current, keep=False
            )
            total += result.loss * len(idx)
            correct += result.correct or 0
            grads = {}
            for k in trained:
                d = np.asarray(result.params[k], dtype=np.float64)
                if k in weights and (l1 or l2):
                    d = d + l1 * np.sign(w[k]) + l2 * w[k]
                if k in keep:
                    d = np.where(keep[k], d, 0.0)
                if clip_value is not None:
                    d = np.clip(d, -clip_value, clip_value)
                grads[k] = d
            if clip_norm is not None:
                norm = math.sqrt(sum(float(np.sum(d * d)) for d in grads.values()))
                if norm > clip_norm:
                    grads = {k: d * (clip_norm / norm) for k, d in grads.items()}
            step += 1
            for k, d in grads.items():
                if optimizer == "sgd":
                    state[k] = momentum * state[k] + d
                    w[k] = w[k] - lr * state[k]
                else:
                    b1, b2, eps = _ADAM
                    state[k] = b1 * state[k] + (1 - b1) * d
                    state2[k] = b2 * state2[k] + (1 - b2) * d * d
                    m_hat = state[k] / (1 - b1**step)
                    v_hat = state2[k] / (1 - b2**step)
                    w[k] = w[k] - lr * m_hat / (np.sqrt(v_hat) + eps)
                if k in keep:
                    w[k] = np.where(keep[k], w[k], 0.0)
                if k in limits:
                    w[k] = np.clip(w[k], -limits[k], limits[k])
            shown.batch(epoch, b + 1, n_batches, total / min((b + 1) * batch_size, count))
        row = {"epoch": epoch, "loss": total / count}
        if spec.kind == "cross_entropy":
            row["accuracy"] = correct / count
        if val is not None:
            current = {k: v.astype(np.float32) for k, v in w.items()}
            scores = _evaluate(graph, spec, val[0], val[1], val[2], 256, current)
            row["val_loss"] = scores["loss"]
            if "accuracy" in scores:
                row["val_accuracy"] = scores["accuracy"]
        history.append(row)
        shown.epoch(row, time.monotonic() - started)
    constants = dict(graph.constants)
    constants.update({k: frozen_array(v, np.float32) for k, v in w.items()})
    return graph.replace(constants=constants), history
