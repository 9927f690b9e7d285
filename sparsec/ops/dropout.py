"""Dropout in inference: the identity, with an all-true mask when the mask output is used."""

from __future__ import annotations

import numpy as np

from ..ir import TensorType
from . import Op, OpFormError, register


@register
class Dropout(Op):
    op_type = "Dropout"
    defaults = {"ratio": None, "seed": None, "is_test": None}

    def infer(self, node, types, consts, opset):
        if len(node.inputs) > 2 and node.inputs[2]:
            mode, ratio = consts[2], consts[1] if node.inputs[1] else np.float32(0.5)
            # Training mode is random, except when nothing is dropped.
            if mode is None or (bool(mode.reshape(-1)[0]) and (ratio is None or float(ratio) != 0.0)):
                raise OpFormError("training_mode must be a constant false", hint="Export the model in eval mode")
        out = [TensorType(types[0].shape, types[0].dtype)]
        if len(node.outputs) > 1 and node.outputs[1]:
            out.append(TensorType(types[0].shape, "bool"))
        return out

    def reference(self, node, inputs, opset):
        return [inputs[0], np.ones(inputs[0].shape, dtype=bool)][: len(node.outputs)]

    def backward(self, node, inputs, outputs, grads, opset):
        return [grads[0]] + [None] * (len(inputs) - 1)

    def lower(self, node, ctx):
        if len(node.outputs) > 1 and node.outputs[1]:
            raise OpFormError("Dropout's mask output is not compiled", hint="Do not use the mask (eval mode)")
        ctx.alias(node, node.inputs[0])
