"""Reshape to a constant shape (0 copies a dim unless allowzero, -1 is inferred): a view."""

from __future__ import annotations

import numpy as np

from ..ir import TensorType
from . import Op, OpFormError, register


def target_shape(in_shape: tuple[int, ...], spec: np.ndarray, allowzero: int) -> tuple[int, ...]:
    dims = [int(d) for d in spec.reshape(-1)]
    if dims.count(-1) > 1:
        raise OpFormError("more than one -1 in the shape")
    out = []
    for i, d in enumerate(dims):
        if d == 0 and not allowzero:
            if i >= len(in_shape):
                raise OpFormError(f"0 at position {i} has no input dim to copy")
            d = in_shape[i]
        out.append(d)
    total = int(np.prod(in_shape, dtype=np.int64))
    if -1 in out:
        known = int(np.prod([d for d in out if d != -1], dtype=np.int64))
        if known == 0 or total % known:
            raise OpFormError(f"cannot reshape {in_shape} to {dims}")
        out[out.index(-1)] = total // known
    if int(np.prod(out, dtype=np.int64)) != total:
        raise OpFormError(f"cannot reshape {in_shape} ({total} elements) to {dims}")
    return tuple(out)


@register
class Reshape(Op):
    op_type = "Reshape"
    defaults = {"allowzero": 0}

    def infer(self, node, types, consts, opset):
        if consts[1] is None:
            raise OpFormError(
                "the shape input must be a constant",
                hint="Export with a static shape, or fix the input shapes with input_shapes=",
            )
        return [TensorType(target_shape(types[0].shape, consts[1], node.attrs["allowzero"]), types[0].dtype)]

    def reference(self, node, inputs, opset):
        return [inputs[0].reshape(target_shape(inputs[0].shape, inputs[1], node.attrs["allowzero"]))]

    def backward(self, node, inputs, outputs, grads, opset):
        return [grads[0].reshape(inputs[0].shape), None]

    def lower(self, node, ctx):
        ctx.alias(node, node.inputs[0])
