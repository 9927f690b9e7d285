"""Model: an IR graph plus where it came from and what was last done to it."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import onnx

from . import reference as ref
from .frontend import load_graph
from .ir import Graph
from .passes import run_passes
from .passes.layers import layers


class Report(tuple):
    """What the last optimization did: one dict per layer (a tuple of rows) and ``summary``.

    ``str(report)`` is the per-layer table the CLI prints.
    """

    summary: Mapping[str, object]

    def __new__(cls, rows: Iterable[dict] = (), summary: Mapping[str, object] | None = None) -> Report:
        self = super().__new__(cls, rows)
        self.summary = MappingProxyType(dict(summary or {}))
        return self

    def __reduce__(self) -> tuple:
        return (Report, (tuple(self), dict(self.summary)))

    def table(self) -> str:
        """The rows as a fixed-width table, then the summary's main numbers."""
        if not self:
            return "(no layers)"
        lines = [
            f"{'layer':30} {'shape before':>14} {'shape after':>14} {'nonzeros':>17} {'sparsity':>8} "
            f"{'removed':>7} {'clipped':>7}  note"
        ]
        for r in self:
            shape0 = "x".join(map(str, r.get("shape_before") or r.get("shape") or [])) or "-"
            shape1 = "x".join(map(str, r.get("shape") or [])) or "-"
            nz = f"{r['nonzeros_before']}->{r['nonzeros']}" if "nonzeros_before" in r else ""
            sp = f"{r['sparsity']:.1%}" if r.get("sparsity") is not None else "-"
            removed = r.get("removed", "")
            clipped = r.get("clipped_weights", 0) + r.get("clipped_biases", 0) if "clipped_weights" in r else ""
            note = (
                f"removed ({r.get('candidate', 'identity')})"
                if r.get("removed_layer")
                else r.get("skipped", "") or (f"limit {r['limit']:.4g}" if r.get("limit") is not None else "")
            )
            name = r["layer"] if len(r["layer"]) <= 30 else "..." + r["layer"][-27:]
            lines.append(
                f"{name:30} {shape0:>14} {shape1:>14} {nz:>17} {sp:>8} {removed!s:>7} {clipped!s:>7}  {note}".rstrip()
            )
        s = self.summary
        if "nonzeros" in s:
            lines.append(
                f"weights: {s['nonzeros_before']} -> {s['nonzeros']} nonzero ({s['compression']:.2f}x fewer), "
                f"parameters {s['params_before']} -> {s['params']}"
            )
        if "criterion" in s:
            lines.append(
                f"{s['granularity']} pruning, criterion {s['criterion']}, scope {s['scope']}, "
                f"schedule {s['schedule']}; importance from {s['importance']}"
            )
        if s.get("removed_layers"):
            lines.append(f"removed layers: {', '.join(s['removed_layers'])}")
        for k, on in (("accuracy", "the data"), ("loss", "the data"), ("val_accuracy", "validation")):
            if f"{k}_before" in s and f"{k}_after" in s:
                lines.append(f"{k.removeprefix('val_')} on {on}: {s[f'{k}_before']:.4f} -> {s[f'{k}_after']:.4f}")
        if "output_change_max" in s:
            lines.append(
                f"output change on {s['samples']} samples: max {s['output_change_max']:.4g}, "
                f"mean {s['output_change_mean']:.4g}"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


@dataclass(frozen=True)
class Model:
    """A loaded (and possibly pruned) model. Immutable: optimizations return new Models.

    ``report`` (a Report: per-layer rows and a ``summary``) describes the last optimization.
    """

    graph: Graph
    report: Report = field(default_factory=Report)

    def __post_init__(self) -> None:
        if not isinstance(self.report, Report):
            object.__setattr__(self, "report", Report(self.report))

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
        """Layer name -> weight (read-only), as stored after simplification: Gemm [out, in], Conv [M, C/g, k...]."""
        return {layer.name: self.graph.constants[layer.weight] for layer in layers(self.graph)}

    @property
    def input_names(self) -> tuple[str, ...]:
        return self.graph.inputs

    @property
    def output_names(self) -> tuple[str, ...]:
        return self.graph.outputs

    def reference(self, *args: object, **kwargs: object) -> np.ndarray | dict[str, np.ndarray]:
        """Outputs of the NumPy reference for one sample or a batch; inputs and outputs as in
        ``bind_inputs``/``unbind_outputs`` (an array for one input/output, else by name)."""
        g = self.graph
        batches, single = bind_inputs(g, args, kwargs)
        n = len(batches[0])
        outs = [np.empty((n, g.types[o].size), np.float32) for o in g.outputs]
        for i in range(n):
            feed = {name: b[i].reshape(g.types[name].shape) for name, b in zip(g.inputs, batches)}
            got = ref.run(g, feed)
            for out, name in zip(outs, g.outputs):
                out[i] = got[name].reshape(-1)
        return unbind_outputs(g, outs, single)

    def reference_values(self, *args: object, **kwargs: object) -> dict[str, np.ndarray]:
        """Every value the reference computes for one sample (for layer-by-layer validation)."""
        batches, _ = bind_inputs(self.graph, args, kwargs)
        feed = {name: b[0].reshape(self.graph.types[name].shape) for name, b in zip(self.graph.inputs, batches)}
        return ref.run(self.graph, feed, keep_all=True)

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


def bind_inputs(graph: Graph, args: Sequence[object], kwargs: Mapping[str, object]) -> tuple[list[np.ndarray], bool]:
    """The model's inputs as float32 [B, size] batches in graph order, and whether one sample was given.

    Inputs come positionally in the graph's order, as one dict {name: array}, or by keyword;
    each is one sample or a batch as ``as_batch`` accepts, and all must agree on the batch.
    """
    names = graph.inputs
    if len(args) == 1 and isinstance(args[0], Mapping) and not kwargs:
        kwargs, args = args[0], ()
    if args and kwargs:
        raise TypeError("pass the inputs positionally or by name, not both")
    if kwargs:
        unknown = sorted(set(kwargs) - set(names))
        missing = [n for n in names if n not in kwargs]
        if unknown or missing:
            raise ValueError(f"the model's inputs are {list(names)}; got {sorted(kwargs)}")
        values = [kwargs[n] for n in names]
    else:
        values = list(args)
        if len(values) != len(names):
            raise TypeError(f"the model takes {len(names)} input(s) {list(names)}; got {len(values)}")
    bound = []
    for name, value in zip(names, values):
        try:
            bound.append(as_batch(value, graph.types[name].shape))
        except (TypeError, ValueError) as e:
            raise type(e)(f"input '{name}': {e}") if len(names) > 1 else e from None
    singles = {single for _, single in bound}
    sizes = {len(b) for b, _ in bound}
    if len(singles) > 1 or len(sizes) > 1:
        raise ValueError(f"inputs {list(names)} must all be one sample or all batches of the same size")
    return [b for b, _ in bound], bound[0][1]


def unbind_outputs(graph: Graph, outs: Sequence[np.ndarray], single: bool) -> np.ndarray | dict[str, np.ndarray]:
    """[B, size] arrays per output back to shapes: an array for one output, else {name: array}."""
    shaped = [from_batch(y, graph.types[name].shape, single) for y, name in zip(outs, graph.outputs)]
    return shaped[0] if len(shaped) == 1 else dict(zip(graph.outputs, shaped))
