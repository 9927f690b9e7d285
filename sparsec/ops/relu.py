"""Relu: max(x, 0), NaN propagating."""

from __future__ import annotations

import numpy as np

from . import Op, f32, register


@register
class Relu(Op):
    op_type = "Relu"

    def infer(self, node, types, consts, opset):
        return [types[0]]

    def reference(self, node, inputs, opset):
        return [f32(np.maximum(inputs[0], np.float32(0)))]

    def backward(self, node, inputs, outputs, grads, opset):
        return [np.where(inputs[0] > 0, grads[0], 0.0)]

    def clamp_range(self, node, consts, opset):
        return 0.0, float("inf")

    def lower(self, node, ctx):
        ctx.clamp(node, node.inputs[0], 0.0, float("inf"))
