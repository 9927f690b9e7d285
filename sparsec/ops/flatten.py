"""Flatten to 2-D at ``axis``: a view, no data moves."""

from __future__ import annotations

import numpy as np

from ..ir import TensorType
from . import Op, OpFormError, register


@register
class Flatten(Op):
    op_type = "Flatten"
    defaults = {"axis": 1}

    def infer(self, node, types, consts, opset):
        shape = types[0].shape
        axis = node.attrs["axis"]
        if not -len(shape) <= axis <= len(shape):
            raise OpFormError(f"axis {axis} is out of range for rank {len(shape)}")
        if axis < 0:
            axis += len(shape)
        outer = int(np.prod(shape[:axis], dtype=np.int64))
        return [TensorType((outer, int(np.prod(shape, dtype=np.int64)) // max(outer, 1)), types[0].dtype)]

    def reference(self, node, inputs, opset):
        shape = self.infer(node, [TensorType(inputs[0].shape)], [], opset)[0].shape
        return [inputs[0].reshape(shape)]

    def backward(self, node, inputs, outputs, grads, opset):
        return [grads[0].reshape(inputs[0].shape)]

    def lower(self, node, ctx):
        ctx.alias(node, node.inputs[0])
