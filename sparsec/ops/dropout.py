"""Dropout in inference: the identity (a mask output, if used, is not supported)."""

from __future__ import annotations

from ..ir import TensorType
from . import Op, OpFormError, register


@register
class Dropout(Op):
    op_type = "Dropout"
    defaults = {"ratio": None, "seed": None, "is_test": None}

    def infer(self, node, types, consts, opset):
        if len(node.outputs) > 1 and node.outputs[1]:
            raise OpFormError("the mask output is not supported", hint="Export the model in eval mode")
        if len(node.inputs) > 2 and node.inputs[2]:
            mode = consts[2]
            if mode is None or bool(mode.reshape(-1)[0]):
                raise OpFormError("training_mode must be a constant false", hint="Export in eval mode")
        return [TensorType(types[0].shape)]

    def reference(self, node, inputs, opset):
        return [inputs[0]]

    def lower(self, node, ctx):
        ctx.alias(node, node.inputs[0])
