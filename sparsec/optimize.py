"""The model optimizer behind ``sparsec.prune`` and ``sparsec.range_limit``.

One call: check the options, read the data, score weights/neurons/layers (from the weights, or
from activations and gradients on the data), prune in one or several steps with fine-tuning in
between (``sparsec.train``), and return a new Model whose report has one row per layer and a
summary (accuracy before/after when labels are given, the fine-tuning history).
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import OptionError
from .ir import Graph
from .model import Model, Report
from .passes.layers import Layer, Stats, layers, nonzero_rows, out_axis
from .passes.prune import WEIGHT_CRITERIA, prune_weights
from .passes.range_limit import range_limit as _range_limit
from .passes.structured import (
    NEURON_CRITERIA,
    Plan,
    activation_value,
    plan,
    prune_layers,
    prune_neurons,
    unit_axis,
)

GRANULARITIES = ("weight", "block", "connection", "neuron", "channel", "layer")
SCHEDULES = ("oneshot", "iterative", "gradual")
#: Criteria that read activations or gradients, so they need data.
DATA_CRITERIA = ("activation", "gradient", "taylor", "contribution", "dead", "entropy")
FINETUNE_KEYS = (
    "epochs",
    "lr",
    "batch_size",
    "optimizer",
    "momentum",
    "l1",
    "l2",
    "clip_value",
    "clip_norm",
    "range_limit",
    "seed",
    "progress",
    "validation",
    "loss",
)
#: At most this many samples (a seeded random subset) are used to compute importance.
STATS_SAMPLES = 2048
GRAD_BATCH = 64


# ------------------------------------------------------------------------------------------ data
def load_data(data: Any, graph: Graph) -> tuple[np.ndarray, np.ndarray | None]:
    """(x, y or None) from (x,), (x, y), a bare x array, or an .npz path holding x (and y)."""
    source = "data"
    if isinstance(data, str | os.PathLike):
        source = os.fspath(data)
        if not os.path.isfile(source):
            raise OptionError(f"data file '{source}' not found", hint="pass an .npz with arrays x (and y)")
        try:
            with np.load(source, allow_pickle=False) as f:
                if "x" not in f.files:
                    raise OptionError(
                        f"data file '{source}' holds {sorted(f.files)}, no 'x'",
                        hint="np.savez(path, x=inputs, y=labels)",
                    )
                data = (f["x"],) + ((f["y"],) if "y" in f.files else ())
        except (OSError, ValueError) as e:
            raise OptionError(
                f"cannot read data file '{source}': {e}", hint="pass an .npz with arrays x (and y)"
            ) from None
    elif isinstance(data, np.ndarray):
        data = (data,)
    if not isinstance(data, tuple | list) or len(data) not in (1, 2):
        raise OptionError(
            f"data must be (x,), (x, y) or an .npz path, got {type(data).__name__}", hint="e.g. data=(x_train, y_train)"
        )
    try:
        x = np.ascontiguousarray(data[0], dtype=np.float32)
    except (TypeError, ValueError):
        raise OptionError(f"x in {source} is not a numeric array") from None
    y = None if len(data) < 2 or data[1] is None else np.asarray(data[1])
    if y is not None and len(y) != len(x):
        raise OptionError(f"x has {len(x)} samples but y has {len(y)}", file=graph.source)
    if len(x) == 0:
        raise OptionError("x holds no samples", file=graph.source)
    return x, y


def collect_stats(
    graph: Graph,
    x: np.ndarray,
    y: np.ndarray | None,
    names: Sequence[str],
    *,
    activations: bool = False,
    outputs: bool = False,
    grads: bool = False,
    seed: int = 0,
    inputs_of: Sequence[str] | None = None,
) -> Stats:
    """Activation statistics and gradient magnitudes of the layers ``names`` on (a subset of) x.

    ``activations``: input statistics (of ``inputs_of`` if given); ``outputs``: the neurons' outputs
    after their activation; ``grads``: |dL/dW| and |W·dL/dW|.
    """
    from .train import forward, gradients

    if len(x) > STATS_SAMPLES:
        pick = np.sort(np.random.default_rng(seed).choice(len(x), STATS_SAMPLES, replace=False))
        x, y = x[pick], None if y is None else y[pick]
    wanted = set(names) | set(inputs_of or ())
    found = [layer for layer in layers(graph) if layer.name in wanted]
    readers = set(names if inputs_of is None else inputs_of)
    stats = Stats(samples=len(x), labels="the model's own predictions")
    if activations or outputs:
        acts = {layer.name: activation_value(graph, layer) for layer in found}
        sums: dict[str, np.ndarray] = {}
        means: dict[str, np.ndarray] = {}
        outs: dict[str, list[np.ndarray]] = {}
        signed: dict[str, list[np.ndarray]] = {}
        pre: dict[str, list[np.ndarray]] = {}
        for start in range(0, len(x), 256):
            values = forward(graph, x[start : start + 256], keep_all=True)
            for layer in found:
                if activations and layer.name in readers:
                    a = _per_unit(graph, values[layer.input], layer.input, _input_axis(graph, layer))
                    sums[layer.name] = sums.get(layer.name, 0.0) + np.abs(a).mean(axis=2).sum(axis=0)
                    means[layer.name] = means.get(layer.name, 0.0) + a.mean(axis=2).sum(axis=0)
                if outputs and layer.name in names:
                    v = acts[layer.name]
                    a = _per_unit(graph, values[v], v, unit_axis(graph, layer))
                    outs.setdefault(layer.name, []).append(np.abs(a).mean(axis=2))
                    signed.setdefault(layer.name, []).append(a.mean(axis=2))
                    z = graph.node(layer.name).outputs[0]
                    z_units = _per_unit(graph, values[z], z, unit_axis(graph, layer))
                    pre.setdefault(layer.name, []).append(z_units.mean(axis=2))
        stats.inputs = {k: v / len(x) for k, v in sums.items()}
        stats.means = {k: v / len(x) for k, v in means.items()}
        stats.outputs = {k: np.concatenate(v) for k, v in outs.items()}
        stats.signed = {k: np.concatenate(v) for k, v in signed.items()}
        stats.pre = {k: np.concatenate(v) for k, v in pre.items()}
    if grads:
        weights = {layer.weight: layer for layer in found if layer.name in names}
        g_sum: dict[str, np.ndarray] = {}
        t_sum: dict[str, np.ndarray] = {}
        batches = 0
        for start in range(0, len(x), GRAD_BATCH):
            # Labels from the model's own predictions, even when y is given: on data the model
            # fits, true-label gradients are tiny and dominated by the few misfits, and rank
            # weights worse than random (LeNet-300-100, examples/lenet_mnist/results.md).
            g = gradients(graph, x[start : start + GRAD_BATCH], None, params=list(weights))
            for name, layer in weights.items():
                d = np.abs(g.params[name])
                g_sum[layer.name] = g_sum.get(layer.name, 0.0) + d
                t_sum[layer.name] = t_sum.get(layer.name, 0.0) + d * np.abs(graph.constants[name].astype(np.float64))
            batches += 1
        stats.grads = {k: v / batches for k, v in g_sum.items()}
        stats.taylor = {k: v / batches for k, v in t_sum.items()}
    return stats


def _input_axis(graph: Graph, layer: Layer) -> int:
    return len(graph.types[layer.input].shape) - 1 if layer.op in ("Gemm", "MatMul") else 1


def _per_unit(graph: Graph, arr: np.ndarray, value: str, axis: int) -> np.ndarray:
    """A batch of ``value`` as [samples, units, positions] (units along ``axis`` of its type)."""
    arr = np.asarray(arr, dtype=np.float64)
    off = arr.ndim - len(graph.types[value].shape)  # 1 when the graph ran one sample at a time
    arr = np.moveaxis(arr, axis + off, 1)
    return arr.reshape(arr.shape[0], arr.shape[1], -1)


# ----------------------------------------------------------------------------------- prune
def prune(
    model: Model,
    sparsity: float | Mapping[str, float] | None = None,
    *,
    threshold: float | Mapping[str, float] | None = None,
    keep_ratio: float | Mapping[str, float] | None = None,
    granularity: str = "weight",
    criterion: str = "magnitude",
    scope: str = "layer",
    data: Any = None,
    finetune: Mapping[str, Any] | None = None,
    schedule: str = "oneshot",
    steps: int = 3,
    block: Sequence[int] = (1, 4),
    exclude: Sequence[str] = (),
    skip_first: bool = False,
    skip_last: bool = False,
    seed: int = 0,
    compensate: bool = False,
) -> Model:
    """Prune ``model``; returns a new Model (``model`` is untouched) whose ``report`` has one row
    per layer and a ``summary``.

    How much: ``sparsity`` (fraction of zeros in [0, 1), one value or {layer: value}),
    ``threshold`` (prune what scores below it) or, for neurons/layers, ``keep_ratio`` (fraction kept).

    ``granularity``: "weight" (single weights), "block" (``block``-shaped blocks of the
    [out][in] weight matrix, e.g. (1, 4)), "connection" (|w_ij|·mean|a_j| from data), "neuron"
    or "channel" (remove whole output neurons/channels and the consumers' matching inputs), "layer"
    (replace removable layers by the identity).

    ``criterion``: "magnitude", "random" (the baseline), "activation", "gradient", "taylor"; for
    neurons/layers also "l1", "l2", "contribution", "dead", "entropy". All but magnitude, l1, l2
    and random need ``data``: (x,), (x, y) or an .npz path with x (and y). With labels y the
    summary has the accuracy before and after.

    ``scope="global"`` ranks all layers together. ``exclude``, ``skip_first``, ``skip_last``
    leave layers alone. ``finetune``: options for sparsec.train.finetune (epochs, lr, batch_size,
    optimizer, momentum, l1, l2, clip_value, clip_norm, range_limit, validation, ...) run after
    each pruning step on ``data``; ``schedule``: "oneshot", "iterative" (``steps`` equal steps) or
    "gradual" (Zhu & Gupta: s_t = s·(1 - (1 - t/steps)^3)). ``compensate`` (neurons, with data)
    adds each removed neuron's mean output to its consumers' biases instead of dropping it.
    """
    graph = model.graph
    found = layers(graph)
    names = [layer.name for layer in found]
    _choice(granularity, GRANULARITIES, "granularity", graph)
    _choice(scope, ("layer", "global"), "scope", graph)
    _choice(schedule, SCHEDULES, "schedule", graph)
    structured = granularity in ("neuron", "channel", "layer")
    if granularity == "connection":
        if criterion not in ("magnitude", "activation"):
            raise OptionError(
                f"granularity 'connection' scores |w_ij|·mean|a_j|; criterion '{criterion}' does not apply",
                file=graph.source,
                hint="leave criterion='magnitude', or use granularity='weight' with this criterion",
            )
        criterion = "activation"
    allowed = NEURON_CRITERIA if structured else WEIGHT_CRITERIA
    _choice(criterion, allowed, f"criterion for granularity '{granularity}'", graph)
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise OptionError(f"steps must be a positive integer, got {steps!r}", file=graph.source)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise OptionError(f"seed must be an integer, got {seed!r}", file=graph.source)
    exclude = [exclude] if isinstance(exclude, str) else list(exclude)
    unknown = sorted(set(exclude) - set(names))
    if unknown:
        raise OptionError(f"exclude names unknown layers {unknown}", file=graph.source, hint=f"Layers: {names}")
    include = [
        n
        for i, n in enumerate(names)
        if n not in exclude and not (skip_first and i == 0) and not (skip_last and i == len(names) - 1)
    ]
    if structured:
        if sparsity is not None and keep_ratio is not None:
            raise OptionError("give keep_ratio or sparsity (= 1 - keep_ratio), not both", file=graph.source)
        if sparsity is not None:
            keep_ratio = _complement(sparsity, graph)
        amount = {"keep_ratio": keep_ratio, "threshold": threshold}
        if keep_ratio is not None and threshold is not None:
            raise OptionError("give keep_ratio or threshold, not both", file=graph.source)
    else:
        if keep_ratio is not None:
            raise OptionError(
                f"keep_ratio is for neuron and layer pruning; granularity '{granularity}' takes a sparsity",
                file=graph.source,
                hint=f"sparsity={1 - keep_ratio if isinstance(keep_ratio, numbers.Real) else 0.9}",
            )
        if sparsity is None and threshold is None:
            raise OptionError(
                "give a sparsity in [0, 1) or a threshold",
                file=graph.source,
                hint="e.g. sparsity=0.9 keeps 10% of the weights",
            )
        if sparsity is not None and threshold is not None:
            raise OptionError("give sparsity or threshold, not both", file=graph.source)
        amount = {"sparsity": sparsity, "threshold": threshold}
    if schedule != "oneshot" and (threshold is not None or granularity == "layer"):
        raise OptionError(
            f"schedule '{schedule}' needs a target sparsity/keep_ratio"
            + (" and is not for layer removal" if granularity == "layer" else ""),
            file=graph.source,
            hint="use schedule='oneshot'",
        )
    needs_data = criterion in DATA_CRITERIA
    if compensate and granularity not in ("neuron", "channel"):
        raise OptionError("compensate is for neuron/channel pruning", file=graph.source)
    x = y = None
    if data is not None:
        x, y = load_data(data, graph)
    if compensate and x is None:
        raise OptionError(
            "compensate replaces removed neurons by their mean on data", file=graph.source, hint="pass data=(x,)"
        )
    if needs_data and x is None:
        raise OptionError(
            f"criterion '{criterion}'"
            + (" (granularity 'connection')" if granularity == "connection" else "")
            + " computes importance from data",
            file=graph.source,
            hint="pass data=(x,) or (x, y) (sparsec prune: --data DATA.npz), or use a weight-only criterion: "
            "magnitude, l1, l2 or random",
        )
    ft = _finetune_options(finetune, graph, found, seed)
    if ft is not None and x is None:
        raise OptionError("fine-tuning needs data", file=graph.source, hint="pass data=(x, y)")

    # Labels for fine-tuning when none are given: what the original model predicts.
    from .train import evaluate, forward
    from .train import finetune as train

    labels = y
    if ft is not None and y is None:
        out = forward(graph, x)[graph.outputs[0]]
        out = out.reshape(len(x), -1)
        labels = out.argmax(axis=1) if out.shape[1] > 1 else out
    summary: dict[str, Any] = {
        "granularity": granularity,
        "criterion": criterion,
        "scope": scope,
        "schedule": schedule,
        "steps": 1 if schedule == "oneshot" else int(steps),
        **{k: v for k, v in amount.items() if v is not None},
        "importance": (
            f"data: {min(len(x), STATS_SAMPLES)} samples"
            + (f", gradients towards {_labels(y)}" if needs_grads(criterion) else "")
            if needs_data
            else "weights only" + (" (no data given)" if x is None else "")
        ),
    }
    if compensate:
        summary["compensate"] = True
        summary["importance"] += "; removed neurons replaced by their mean on the data"
    if y is not None:
        summary.update(_metrics(evaluate, graph, x, y, "before"))
    if ft is not None and ft.get("validation") is not None:
        summary.update(_metrics(evaluate, graph, *ft["validation"], "val_before", prefix="val_"))

    n = 1 if schedule == "oneshot" else int(steps)
    fractions = [(t / n) if schedule != "gradual" else 1.0 - (1.0 - t / n) ** 3 for t in range(1, n + 1)]
    units = {layer.name: graph.constants[layer.weight].shape[out_axis(layer)] for layer in found}
    current = graph
    history: list[dict] = []
    step_rows: list[dict] = []
    removed_layers: list[str] = []
    for step, frac in enumerate(fractions, start=1):
        stats = _stats(current, x, y, include, criterion, structured, seed) if needs_data else None
        step_seed = seed + step - 1
        if granularity == "layer":
            current, step_rows, removed_layers = prune_layers(
                current,
                keep_ratio,
                threshold=threshold,
                criterion=criterion,
                include=include,
                stats=stats,
                seed=step_seed,
            )
        elif structured:
            keep, ratio = None, keep_ratio
            if schedule != "oneshot" and keep_ratio is not None:
                keep, ratio = _keep_counts(current, units, keep_ratio, frac, scope, include)
            if compensate:
                current, step_rows = _compensated(
                    current, x, y, ratio, keep, threshold, criterion, scope, include, stats, step_seed
                )
            else:
                current, step_rows = prune_neurons(
                    current,
                    ratio,
                    threshold=threshold,
                    criterion=criterion,
                    scope=scope,
                    include=include,
                    stats=stats,
                    seed=step_seed,
                    keep=keep,
                )
        else:
            target = sparsity
            if sparsity is not None and frac != 1.0:
                target = (
                    {k: v * frac for k, v in sparsity.items()} if isinstance(sparsity, Mapping) else sparsity * frac
                )
            current, step_rows = prune_weights(
                current,
                target,
                threshold=threshold,
                granularity="block" if granularity == "block" else "weight",
                criterion=criterion,
                scope=scope,
                block=block,
                include=include,
                stats=stats,
                seed=step_seed,
            )
        entry: dict[str, Any] = {"step": step, "fraction": frac, "nonzeros": _nonzeros(current)}
        if ft is not None:
            current, epochs = train(current, x, labels, **_for_graph(ft, current))
            entry["finetune"] = epochs
        history.append(entry)
    if y is not None:
        summary.update(_metrics(evaluate, current, x, y, "after"))
    if ft is not None and ft.get("validation") is not None:
        summary.update(_metrics(evaluate, current, *ft["validation"], "val_after", prefix="val_"))
    rows = _rows(graph, current, step_rows, units, n)
    summary.update(_totals(graph, current))
    if granularity == "layer":
        summary["removed_layers"] = removed_layers
    if ft is not None:
        summary["finetune"] = {k: v for k, v in ft.items() if k != "validation"}
    summary["history"] = history
    return Model(current, Report(rows, summary))


OUTPUT_CRITERIA = ("activation", "contribution", "dead", "entropy")


def _stats(
    graph: Graph, x: Any, y: Any, names: Sequence[str], criterion: str, structured: bool, seed: int, **kw: Any
) -> Stats:
    return collect_stats(
        graph,
        x,
        y,
        names,
        activations=(criterion == "activation" and not structured) or "inputs_of" in kw,
        outputs=structured and criterion in OUTPUT_CRITERIA,
        grads=needs_grads(criterion),
        seed=seed,
        **kw,
    )


def _compensated(
    graph: Graph,
    x: Any,
    y: Any,
    keep_ratio: Any,
    keep: Mapping[str, int] | None,
    threshold: float | None,
    criterion: str,
    scope: str,
    include: Sequence[str],
    stats: Stats | None,
    seed: int,
) -> tuple[Graph, list[dict]]:
    """Neuron pruning that replaces each removed neuron by its mean (folded into the consumers'
    biases), one layer at a time so every layer's means and scores are measured on the model with
    the layers before it already pruned. The counts come from the same selection without it."""
    notes: dict[str, dict] = {}
    if keep is None:
        _, rows = prune_neurons(
            graph,
            keep_ratio,
            threshold=threshold,
            criterion=criterion,
            scope=scope,
            include=include,
            stats=stats,
            seed=seed,
        )
        keep = {r["layer"]: r["units_before"] - r["removed"] for r in rows if r.get("units_before") is not None}
        notes = {r["layer"]: r for r in rows if r.get("units_before") is None}
    every = [layer.name for layer in layers(graph)]
    current = graph
    for name in [n for n in every if n in keep]:
        s = _stats(current, x, y, [name], criterion, True, seed, inputs_of=every)
        current, rows = prune_neurons(
            current, keep={name: keep[name]}, criterion=criterion, include=[name], stats=s, seed=seed, compensate=True
        )
        notes[name] = next(r for r in rows if r["layer"] == name)
    rows = nonzero_rows(graph, current)
    for name, row in rows.items():
        for key in ("units_before", "removed", "removed_units", "target", "skipped"):
            if key in notes.get(name, {}):
                row[key] = notes[name][key]
    return current, list(rows.values())


def needs_grads(criterion: str) -> bool:
    return criterion in ("gradient", "taylor")


def _labels(y: np.ndarray | None) -> str:
    return "the given labels" if y is not None else "the model's own predictions"


def _choice(value: Any, allowed: Sequence[str], what: str, graph: Graph) -> None:
    if not isinstance(value, str) or value not in allowed:
        raise OptionError(f"{what} must be one of {list(allowed)}, got {value!r}", file=graph.source)


def _complement(sparsity: Any, graph: Graph) -> Any:
    def one(s: Any) -> Any:
        if isinstance(s, bool) or not isinstance(s, numbers.Real) or not 0.0 <= float(s) < 1.0:
            raise OptionError(f"sparsity {s!r} must be in [0, 1) (the fraction removed)", file=graph.source)
        return 1.0 - float(s)

    return {k: one(v) for k, v in sparsity.items()} if isinstance(sparsity, Mapping) else one(sparsity)


def _finetune_options(ft: Any, graph: Graph, found: list[Layer], seed: int) -> dict | None:
    if ft is None or ft is False:
        return None
    if ft is True:
        ft = {}
    if not isinstance(ft, Mapping):
        raise OptionError(
            f"finetune must be a dict of options, got {type(ft).__name__}", hint=f"keys: {list(FINETUNE_KEYS)}"
        )
    unknown = sorted(set(ft) - set(FINETUNE_KEYS))
    if unknown:
        raise OptionError(
            f"finetune has unknown options {unknown}", file=graph.source, hint=f"keys: {list(FINETUNE_KEYS)}"
        )
    out = {"seed": seed, **ft}
    rl = out.get("range_limit")
    if isinstance(rl, Mapping):  # {layer: r}; _for_graph maps it onto the layer's constants
        names = [layer.name for layer in found]
        bad = sorted(set(rl) - set(names))
        if bad:
            raise OptionError(f"finetune range_limit names unknown layers {bad}", hint=f"Layers: {names}")
    return out


def _for_graph(ft: dict, graph: Graph) -> dict:
    """Fine-tuning options with a per-layer range limit mapped onto the layer's current constants."""
    rl = ft.get("range_limit")
    if not isinstance(rl, Mapping):
        return ft
    by_name = {layer.name: layer for layer in layers(graph)}
    limits = {}
    for name, r in rl.items():
        layer = by_name.get(name)
        if layer is not None:
            limits[layer.weight] = r
            if layer.bias is not None:
                limits[layer.bias] = r
    return {**ft, "range_limit": limits}


def _keep_counts(
    graph: Graph, units: dict[str, int], keep_ratio: Any, frac: float, scope: str, include: Sequence[str]
) -> tuple[dict[str, int] | None, Any]:
    """(neurons each layer keeps, or None) and the keep ratio for this step of a schedule: a
    ``frac`` share of the way from the original count to the final one."""
    if scope == "global":  # the total follows the schedule; the global ranking splits it
        prunable = [n for n in include if isinstance(plan(graph, _layer(graph, n)), Plan)]
        now = {layer.name: graph.constants[layer.weight].shape[out_axis(layer)] for layer in layers(graph)}
        total = sum(units[n] for n in prunable)
        target = total - (total - float(keep_ratio) * total) * frac
        current = sum(now[n] for n in prunable)
        return None, min(1.0, max(target / max(1, current), 1e-9))
    ratios = keep_ratio if isinstance(keep_ratio, Mapping) else {n: keep_ratio for n in include}
    out = {}
    for name in include:
        if name in ratios:
            final = max(1, int(round(float(ratios[name]) * units[name])))
            out[name] = int(round(units[name] - (units[name] - final) * frac))
    return out, None


def _layer(graph: Graph, name: str) -> Layer:
    return next(layer for layer in layers(graph) if layer.name == name)


def _nonzeros(graph: Graph) -> int:
    return int(sum(np.count_nonzero(graph.constants[layer.weight]) for layer in layers(graph)))


def _totals(before: Graph, after: Graph) -> dict:
    def count(g: Graph) -> tuple[int, int, int]:
        found = layers(g)
        weights = sum(g.constants[layer.weight].size for layer in found)
        nonzero = _nonzeros(g)
        params = weights + sum(g.constants[layer.bias].size for layer in found if layer.bias)
        return weights, nonzero, params

    w0, nz0, p0 = count(before)
    w1, nz1, p1 = count(after)
    return {
        "weights_before": w0,
        "weights": w1,
        "nonzeros_before": nz0,
        "nonzeros": nz1,
        "params_before": p0,
        "params": p1,
        "sparsity": 1.0 - nz1 / max(1, w0),
        "compression": nz0 / max(1, nz1),
    }


def _metrics(evaluate: Any, graph: Graph, x: Any, y: Any, when: str, prefix: str = "") -> dict:
    m = evaluate(graph, x, y)
    suffix = when.removeprefix("val_")
    out = {f"{prefix}loss_{suffix}": float(m["loss"])}
    if m.get("accuracy") is not None:
        out[f"{prefix}accuracy_{suffix}"] = float(m["accuracy"])
    return out


def _rows(before: Graph, after: Graph, last: list[dict], units: dict[str, int], steps: int) -> list[dict]:
    """Per-layer rows comparing the original and the final graph, with the last step's notes."""
    base = nonzero_rows(before, after)
    notes = {r["layer"]: r for r in last}
    out_units = {layer.name: after.constants[layer.weight].shape[out_axis(layer)] for layer in layers(after)}
    for name, row in base.items():
        extra = notes.get(name, {})
        for key in ("target", "threshold", "skipped", "removed_layer", "candidate", "score"):
            if key in extra:
                row[key] = extra[key]
        if "removed" in extra or "removed_layer" in extra:
            row["units_before"] = units.get(name)
            row["units"] = out_units.get(name, 0)
            row["removed"] = (units.get(name) or 0) - row["units"]
            if steps == 1 and "removed_units" in extra:
                row["removed_units"] = extra["removed_units"]
    return list(base.values())


# ------------------------------------------------------------------------------------ range limit
def range_limit(
    model: Model,
    limit: float | Mapping[str, float] | None = None,
    *,
    percentile: float | str | Mapping[str, float] | None = None,
    data: Any = None,
) -> Model:
    """Clamp every layer's weights and biases into [-r, r]: r = ``limit`` (or {layer: r}), or per
    layer the ``percentile`` of its nonzero |w|. With ``data`` the report's summary has the
    output change it caused."""
    graph = model.graph
    new, rows = _range_limit(graph, limit, percentile=percentile)
    summary: dict[str, Any] = {"limit": limit} if percentile is None else {"percentile": percentile}
    summary["clipped_weights"] = sum(r["clipped_weights"] for r in rows)
    summary["clipped_biases"] = sum(r["clipped_biases"] for r in rows)
    if data is not None:
        from .train import forward

        x, _ = load_data(data, graph)
        a, b = forward(graph, x, keep_all=True), forward(new, x, keep_all=True)
        for row, layer in zip(rows, layers(graph)):
            d = np.abs(a[layer.output].astype(np.float64) - b[layer.output])
            row["output_change_max"], row["output_change_mean"] = float(d.max(initial=0.0)), float(d.mean())
        d = np.concatenate([np.abs(a[o].astype(np.float64) - b[o]).reshape(-1) for o in graph.outputs])
        summary["output_change_max"], summary["output_change_mean"] = float(d.max(initial=0.0)), float(d.mean())
        summary["samples"] = len(x)
    return Model(new, Report(rows, summary))


__all__ = ["collect_stats", "load_data", "prune", "range_limit"]
