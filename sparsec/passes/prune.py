"""Unstructured pruning: zero the least important weights (one by one or in blocks).

Pruning writes zeros into the dense constants (the reference needs no change); codegen's
sparsify step later decides per layer whether CSR pays. Every weight is seen as the matrix
[out][in·k] of ``layers.to_matrix`` (one row per output neuron/channel).

Importance (``criterion``) of weight w_ij, for output i and input j:

- ``magnitude``: |w_ij|
- ``random``: uniform noise from ``seed`` (the baseline every other criterion should beat)
- ``activation`` (also granularity ``connection``): |w_ij|·mean|a_j|, a_j the input it reads
- ``gradient``: mean |dL/dw_ij| over minibatches of the data
- ``taylor``: mean |w_ij·dL/dw_ij| (first-order estimate of the loss change when it is zeroed)

Weights that are already zero always go first, so a target sparsity counts them and chained or
iterative pruning never grows the number of nonzeros. Ties are broken by position, so the
number of zeros is exact: round(sparsity · weights) per layer, or over all layers with
``scope="global"``. Granularity ``block`` zeroes whole blocks (e.g. (1, 4): one output row, four
consecutive inputs) ranked by the sum of their members' importance; its sparsity is the fraction
of blocks, which equals the fraction of weights when the block shape divides the matrix.
Blocks are aligned at multiples of the block shape, exactly as ``sparse.BSR`` cuts the matrix, so
a block-pruned layer packs into BSR with no stored zero; (1, 4), (4, 1) and (8, 1)
(``sparse.BLOCK_SHAPES``) have block-sparse kernels, other shapes run as CSR.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import OptionError
from ..ir import Graph, frozen_array
from .layers import Layer, Stats, column_inputs, from_matrix, layers, nonzero_rows, per_layer, to_matrix

WEIGHT_CRITERIA = ("magnitude", "random", "activation", "gradient", "taylor")


def weight_importance(
    layer: Layer, w: np.ndarray, criterion: str, stats: Stats | None, rng: np.random.Generator
) -> np.ndarray:
    """Importance of every weight of ``layer`` as a float64 matrix [out][in·k]."""
    m = np.abs(to_matrix(layer, w).astype(np.float64))
    if criterion == "magnitude":
        return m
    if criterion == "random":
        return rng.random(m.shape)
    if stats is None:
        raise OptionError(f"criterion '{criterion}' needs data", hint="pass data=(x,) or (x, y)")
    if criterion in ("activation", "connection"):
        return m * stats.inputs[layer.name].astype(np.float64)[column_inputs(layer, w)]
    if criterion == "gradient":
        return to_matrix(layer, stats.grads[layer.name]).astype(np.float64)
    if criterion == "taylor":
        return to_matrix(layer, stats.taylor[layer.name]).astype(np.float64)
    raise OptionError(f"unknown weight criterion '{criterion}'", hint=f"one of {list(WEIGHT_CRITERIA)}")


def prune_weights(
    graph: Graph,
    sparsity: float | Mapping[str, float] | None = None,
    *,
    threshold: float | Mapping[str, float] | None = None,
    granularity: str = "weight",
    criterion: str = "magnitude",
    scope: str = "layer",
    block: Sequence[int] = (1, 4),
    include: Sequence[str] | None = None,
    stats: Stats | None = None,
    seed: int = 0,
) -> tuple[Graph, list[dict]]:
    """Zero the least important weights (or blocks) of each layer in ``include`` (default: all).

    ``sparsity`` is a fraction in [0, 1) for every layer or {layer: fraction}; ``threshold`` zeroes
    every weight (block) whose importance is below it. ``scope="global"`` ranks all layers together
    against one sparsity. Returns the new graph and one report row per layer.
    """
    found = layers(graph)
    names = [layer.name for layer in found] if include is None else list(include)
    eligible = [layer for layer in found if layer.name in names]
    if (sparsity is None) == (threshold is None):
        raise OptionError(
            "give either a sparsity in [0, 1) or a threshold", hint="e.g. sparsity=0.9 keeps 10% of the weights"
        )
    targets = (
        per_layer(graph, found, sparsity, "sparsity", lambda s: 0.0 <= s < 1.0, "it must be in [0, 1)", _HINT)
        if sparsity is not None
        else per_layer(graph, found, threshold, "threshold", lambda t: t == t, "it must be a number")
    )
    targets = {k: v for k, v in targets.items() if k in names}
    if isinstance(sparsity if sparsity is not None else threshold, Mapping) and scope == "global":
        raise OptionError("scope='global' takes one sparsity for all layers, not a mapping", file=graph.source)
    block = _check_block(block) if granularity == "block" else (1, 1)
    rng = np.random.default_rng(seed)
    items: dict[str, np.ndarray] = {}
    for layer in eligible:
        if layer.name not in targets:
            continue
        w = graph.constants[layer.weight]
        score = weight_importance(layer, w, criterion, stats, rng)
        items[layer.name] = _item_scores(score, to_matrix(layer, w) == 0, block)
    cut: dict[str, np.ndarray] = {}  # layer -> bool mask of pruned items
    if threshold is not None:
        cut = {name: s < targets[name] for name, s in items.items()}
    elif scope == "global" and items:
        cut = _lowest({k: v for k, v in items.items()}, next(iter(targets.values())))
    else:
        for name, s in items.items():
            cut.update(_lowest({name: s}, targets[name]))
    constants = dict(graph.constants)
    for layer in eligible:
        if layer.name in cut:
            w = graph.constants[layer.weight]
            m = to_matrix(layer, w).copy()
            m[_expand(cut[layer.name], block, m.shape)] = 0.0
            constants[layer.weight] = frozen_array(from_matrix(layer, m, w.shape).astype(w.dtype))
    new = graph.replace(constants=constants)
    rows = nonzero_rows(graph, new)
    for name, row in rows.items():
        row["target"] = targets.get(name) if sparsity is not None else None
        if threshold is not None:
            row["threshold"] = targets.get(name)
    return new, list(rows.values())


def magnitude_prune(graph: Graph, sparsity: float | Mapping[str, float]) -> tuple[Graph, list[dict]]:
    """Magnitude pruning per layer to ``sparsity`` (one fraction or {layer: fraction})."""
    if sparsity is None:
        raise OptionError("sparsity is None; it must be in [0, 1)", hint=_HINT)
    return prune_weights(graph, sparsity)


_HINT = "0.9 keeps 10% of the weights"


def _check_block(block: Sequence[int]) -> tuple[int, int]:
    try:
        br, bc = (int(b) for b in block)
    except (TypeError, ValueError):
        br = bc = 0
    if br < 1 or bc < 1 or (br, bc) != tuple(block):
        raise OptionError(f"block {block!r} is not two positive integers", hint="e.g. block=(1, 4) or (4, 1)")
    return br, bc


def _item_scores(score: np.ndarray, zero: np.ndarray, block: tuple[int, int]) -> np.ndarray:
    """Flat scores of the items that are pruned together; items already all zero score -inf."""
    score = np.nan_to_num(score, nan=0.0, posinf=np.finfo(np.float64).max)
    if block == (1, 1):
        return np.where(zero, -np.inf, score).reshape(-1)
    (r, c), (br, bc) = score.shape, block
    pr, pc = -r % br, -c % bc
    s = np.pad(np.where(zero, 0.0, score), ((0, pr), (0, pc)))
    z = np.pad(zero, ((0, pr), (0, pc)), constant_values=True)
    shape = (s.shape[0] // br, br, s.shape[1] // bc, bc)
    sums = s.reshape(shape).sum(axis=(1, 3))
    return np.where(z.reshape(shape).all(axis=(1, 3)), -np.inf, sums).reshape(-1)


def _expand(cut: np.ndarray, block: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """The item mask as a mask of the [out][in·k] matrix."""
    br, bc = block
    rows, cols = -(-shape[0] // br), -(-shape[1] // bc)
    full = np.repeat(np.repeat(cut.reshape(rows, cols), br, axis=0), bc, axis=1)
    return full[: shape[0], : shape[1]]


def _lowest(items: dict[str, np.ndarray], sparsity: float) -> dict[str, np.ndarray]:
    """Mark round(sparsity · count) lowest-scoring items over all of ``items`` (ties: first come first)."""
    flat = np.concatenate(list(items.values()))
    n = int(round(sparsity * flat.size))
    cut = np.zeros(flat.size, bool)
    if n:
        cut[np.argsort(flat, kind="stable")[:n]] = True
    out, start = {}, 0
    for name, s in items.items():
        out[name] = cut[start : start + s.size]
        start += s.size
    return out
