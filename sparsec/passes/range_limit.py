"""Range-limit regularization: clamp every layer's weights and biases into [-r, r].

r is one number for all layers, {layer: r}, or taken per layer from a percentile of the layer's
nonzero |w| (``percentile=99.9`` clips the 0.1% largest weights of each layer; pruned zeros do
not count, so a sparse layer keeps the range of its surviving weights).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..errors import OptionError
from ..ir import Graph, frozen_array
from .layers import layers, per_layer


def range_limit(
    graph: Graph,
    limit: float | Mapping[str, float] | None = None,
    *,
    percentile: float | str | Mapping[str, float] | None = None,
) -> tuple[Graph, list[dict]]:
    """Clamp weights and biases of each layer to [-r, r]; report how many values were clipped.

    ``limit`` is one r for all layers or {layer name: r} (other layers untouched); ``percentile``
    (in (0, 100], one value or {layer: value}) sets each layer's r from its |w| instead.
    """
    found = layers(graph)
    if (limit is None) == (percentile is None):
        raise OptionError(
            "give a range limit (a positive number) or a percentile, not both or neither",
            file=graph.source,
            hint="e.g. range_limit(model, 1.0) or range_limit(model, percentile=99.9)",
        )
    if limit is not None:
        limits = per_layer(
            graph,
            found,
            limit,
            "range limit",
            lambda r: bool(np.isfinite(r)) and r > 0,
            "it must be a positive number",
        )
        pct: dict[str, float] = {}
    else:
        if isinstance(percentile, str):
            try:
                percentile = float(percentile)
            except ValueError:
                raise OptionError(f"percentile {percentile!r} is not a number", hint="e.g. percentile=99.9") from None
        pct = per_layer(
            graph,
            found,
            percentile,
            "percentile",
            lambda p: 0.0 < p <= 100.0,
            "it must be in (0, 100]",
            "e.g. percentile=99.9",
        )
        limits = {}
        for layer in found:
            w = graph.constants[layer.weight]
            nz = np.abs(w[w != 0]).astype(np.float64)
            if layer.name in pct and nz.size:
                # float32, as the weights: the clamp and the clipped count then agree exactly
                limits[layer.name] = float(np.float32(np.percentile(nz, pct[layer.name])))
    constants = dict(graph.constants)
    report = []
    for layer in found:
        r = limits.get(layer.name)
        row = {"layer": layer.name, "op": layer.op, "limit": r, "clipped_weights": 0, "clipped_biases": 0}
        if layer.name in pct:
            row["percentile"] = pct[layer.name]
        w = graph.constants[layer.weight]
        row.update(shape=list(w.shape), nonzeros_before=int(np.count_nonzero(w)))
        for key, const in (("clipped_weights", layer.weight), ("clipped_biases", layer.bias)):
            if r is None or const is None:
                continue
            arr = graph.constants[const]
            row[key] = int(np.count_nonzero(np.abs(arr) > r))
            constants[const] = frozen_array(np.clip(arr, -r, r).astype(arr.dtype))
        new_w = constants[layer.weight]
        row.update(nonzeros=int(np.count_nonzero(new_w)), sparsity=1.0 - np.count_nonzero(new_w) / max(1, new_w.size))
        report.append(row)
    return graph.replace(constants=constants), report
