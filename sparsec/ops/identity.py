"""Identity: removed by passes.drop_identity; a view if it survives."""

from __future__ import annotations

from . import Op, register


@register
class Identity(Op):
    op_type = "Identity"

    def infer(self, node, types, consts, opset):
        return [types[0]]

    def reference(self, node, inputs, opset):
        return [inputs[0]]

    def backward(self, node, inputs, outputs, grads, opset):
        return [grads[0]]

    def lower(self, node, ctx):
        ctx.alias(node, node.inputs[0])
