"""Range-limit regularization: clamp every layer's weights and biases into [-r, r]."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..errors import OptionError
from ..ir import Graph, frozen_array
from .layers import layers


def range_limit(graph: Graph, limit: float | Mapping[str, float]) -> tuple[Graph, list[dict]]:
    """Clamp weights and biases of each layer to [-r, r]; report how many values were clipped.

    ``limit`` is one r for all layers or {layer name: r} (other layers untouched).
    """
    found = layers(graph)
    names = [layer.name for layer in found]
    if isinstance(limit, Mapping):
        unknown = sorted(set(limit) - set(names))
        if unknown:
            raise OptionError(f"range limit names unknown layers {unknown}", file=graph.source,
                              hint=f"Layers: {names}")
        limits = {k: float(v) for k, v in limit.items()}
    else:
        limits = {name: float(limit) for name in names}
    for name, r in limits.items():
        if not np.isfinite(r) or r <= 0:
            raise OptionError(f"range limit for layer '{name}' is {r}; it must be a positive number",
                              file=graph.source)
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
