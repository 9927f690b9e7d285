"""Range-limit regularization: clamp every layer's weights and biases into [-r, r]."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..ir import Graph, frozen_array
from .layers import layers, per_layer


def range_limit(graph: Graph, limit: float | Mapping[str, float]) -> tuple[Graph, list[dict]]:
    """Clamp weights and biases of each layer to [-r, r]; report how many values were clipped.

    ``limit`` is one r for all layers or {layer name: r} (other layers untouched).
    """
    found = layers(graph)
    limits = per_layer(
        graph, found, limit, "range limit", lambda r: bool(np.isfinite(r)) and r > 0, "it must be a positive number"
    )
    constants = dict(graph.constants)
    report = []
    for layer in found:
        r = limits.get(layer.name)
        row = {"layer": layer.name, "limit": r, "clipped_weights": 0, "clipped_biases": 0}
        for key, const in (("clipped_weights", layer.weight), ("clipped_biases", layer.bias)):
            if r is None or const is None:
                continue
            arr = graph.constants[const]
            row[key] = int(np.count_nonzero(np.abs(arr) > r))
            constants[const] = frozen_array(np.clip(arr, -r, r).astype(arr.dtype))
        report.append(row)
    return graph.replace(constants=constants), report
