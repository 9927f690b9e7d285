"""Graph -> Graph passes. Each is pure (returns a new graph) and verified after it runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..ir import Graph, verify
from .drop_identity import drop_identity
from .fold_batchnorm import fold_batchnorm
from .fold_constants import fold_constants
from .fuse_gemm import fuse_gemm

Pass = Callable[[Graph], Graph]

#: What sparsec.load() runs by default: outputs stay equal to the original graph's.
SIMPLIFY: tuple[Pass, ...] = (fold_constants, drop_identity, fuse_gemm, fold_batchnorm)


def run_passes(graph: Graph, passes: Sequence[Pass] = SIMPLIFY) -> Graph:
    for p in passes:
        graph = p(graph)
        verify(graph)
    return graph


__all__ = ["SIMPLIFY", "run_passes", "drop_identity", "fold_batchnorm", "fold_constants", "fuse_gemm"]
