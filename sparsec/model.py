"""Model: an IR graph plus where it came from and what was last done to it."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx

from . import reference as ref
from .frontend import load_graph
from .ir import Graph
from .passes import run_passes
from .passes.layers import layers


@dataclass(frozen=True)
class Model:
    """A loaded (and possibly pruned) model. Immutable: optimizations return new Models."""

    graph: Graph
    report: tuple[dict, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.graph.name

    @property
    def input_name(self) -> str:
        return self.graph.inputs[0]

    @property
    def output_name(self) -> str:
        return self.graph.outputs[0]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.graph.types[self.input_name].shape

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.graph.types[self.output_name].shape

    def layers(self) -> list[str]:
        return [layer.name for layer in layers(self.graph)]

    def weights(self) -> dict[str, np.ndarray]:
        """Layer name -> weight matrix (read-only), as stored after simplification."""
        return {layer.name: self.graph.constants[layer.weight] for layer in layers(self.graph)}

    def reference(self, x: np.ndarray) -> np.ndarray:
        """Outputs of the NumPy reference for one sample or a batch (see ``as_batch``)."""
        batch, single = as_batch(x, self.input_shape)
        outs = [
            ref.run(self.graph, {self.input_name: row.reshape(self.input_shape)})[self.output_name] for row in batch
        ]
        return from_batch(
            np.stack(outs).reshape(len(outs), -1)
            if outs
            else np.zeros((0, int(np.prod(self.output_shape))), np.float32),
            self.output_shape,
            single,
        )

    def reference_values(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every value the reference computes for one sample (for layer-by-layer validation)."""
        return ref.run(
            self.graph, {self.input_name: np.asarray(x, np.float32).reshape(self.input_shape)}, keep_all=True
        )

    def __repr__(self) -> str:
        return (
            f"Model({self.name!r}, {self.input_name}{list(self.input_shape)} -> "
            f"{self.output_name}{list(self.output_shape)}, {len(self.graph.nodes)} nodes, "
            f"layers={self.layers()})"
        )


def load(
    path: str | os.PathLike[str] | onnx.ModelProto,
    *,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    outputs: Sequence[str] | None = None,
    simplify: bool = True,
) -> Model:
    """Load an ONNX model; ``simplify`` folds constants, drops Identity/Dropout, fuses MatMul+Add."""
    graph = load_graph(path, input_shapes=input_shapes, outputs=outputs)
    if simplify:
        graph = run_passes(graph)
    return Model(graph)


def sample_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """One sample's shape: a leading batch dim of 1 is dropped."""
    return shape[1:] if shape and shape[0] == 1 else shape


def as_batch(x: object, input_shape: tuple[int, ...]) -> tuple[np.ndarray, bool]:
    """Return x as float32 [B, size] and whether it was a single sample.

    Accepted: the model's exact input shape, one sample (the shape without its
    batch dim of 1), or a batch of samples [B, *sample shape].
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"expected a numpy.ndarray of float32, got {type(x).__name__}")
    if x.dtype != np.float32:
        raise TypeError(f"expected dtype float32, got {x.dtype}; convert with x.astype(np.float32)")
    if not x.flags.c_contiguous:
        raise ValueError("expected a C-contiguous array; pass np.ascontiguousarray(x)")
    one = sample_shape(input_shape)
    size = math.prod(one)
    if x.shape == input_shape or x.shape == one:
        return x.reshape(1, size), x.shape == one and one != input_shape
    if x.ndim == len(one) + 1 and x.shape[1:] == tuple(one):
        return x.reshape(x.shape[0], size), False
    raise ValueError(
        f"expected an input of shape {list(input_shape)}, one sample {list(one)} or a batch "
        f"[B, {', '.join(map(str, one))}]; got {list(x.shape)}"
    )


def from_batch(y: np.ndarray, output_shape: tuple[int, ...], single: bool) -> np.ndarray:
    one = sample_shape(output_shape)
    return y.reshape(one) if single else y.reshape((y.shape[0], *one))
