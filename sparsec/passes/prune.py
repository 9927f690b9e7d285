"""Unstructured magnitude pruning: zero the smallest |w| of each layer's weight.

Pruning writes zeros into the dense constants (the reference needs no change);
codegen's sparsify step later decides per layer whether CSR pays.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..ir import Graph, frozen_array
from .layers import layers, per_layer


def magnitude_prune(graph: Graph, sparsity: float | Mapping[str, float]) -> tuple[Graph, list[dict]]:
    """Prune every fully connected layer to its target sparsity (fraction of zeros).

    ``sparsity`` is one fraction for all layers or {layer name: fraction}; layers
    a mapping does not name are left alone. Ties at the threshold are broken by
    position so the count of zeros is exact.
    """
    found = layers(graph)
    targets = per_layer(
        graph,
        found,
        sparsity,
        "sparsity",
        lambda s: 0.0 <= s < 1.0,
        "it must be in [0, 1)",
        "0.9 keeps 10% of the weights",
    )
    constants = dict(graph.constants)
    report = []
    for layer in found:
        w = graph.constants[layer.weight]
        target = targets.get(layer.name)
        new = w if target is None else _prune_array(w, target)
        constants[layer.weight] = frozen_array(new)
        report.append(
            {
                "layer": layer.name,
                "shape": list(w.shape),
                "target": target,
                "nonzeros_before": int(np.count_nonzero(w)),
                "nonzeros": int(np.count_nonzero(new)),
                "sparsity": 1.0 - np.count_nonzero(new) / max(1, new.size),
            }
        )
    return graph.replace(constants=constants), report


def _prune_array(w: np.ndarray, sparsity: float) -> np.ndarray:
    n_zero = int(round(sparsity * w.size))
    flat = w.reshape(-1).copy()
    if n_zero:
        order = np.argsort(np.abs(flat), kind="stable")
        flat[order[:n_zero]] = 0.0
    return flat.reshape(w.shape)
