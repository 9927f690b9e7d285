"""Add with multidirectional (NumPy) broadcasting."""

from __future__ import annotations

import numpy as np

from ..ir import TensorType
from . import Op, OpFormError, f32, register


@register
class Add(Op):
    op_type = "Add"

    def infer(self, node, types, consts, opset):
        a, b = types
        try:
            shape = np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise OpFormError(f"shapes {a.shape} and {b.shape} do not broadcast") from None
        return [TensorType(tuple(shape))]

    def reference(self, node, inputs, opset):
        return [f32(inputs[0].astype(np.float64) + inputs[1].astype(np.float64))]

    def lower(self, node, ctx):
        x, y = node.inputs
        sx, sy = ctx.type(x).shape, ctx.type(y).shape
        out = ctx.type(node.outputs[0]).shape
        if sx == sy:
            ctx.elementwise(node, "f32-vadd", [x, y], size=int(np.prod(out, dtype=np.int64)))
            return
        # A row vector broadcast over the leading dims: the bias form.
        for full, vec in ((x, y), (y, x)):
            sf, sv = ctx.type(full).shape, ctx.type(vec).shape
            n = sf[-1] if sf else 1
            if sf == out and int(np.prod(sv, dtype=np.int64)) == n and (not sv or sv[-1] == n):
                ctx.bias_add(node, full, vec, m=int(np.prod(sf[:-1], dtype=np.int64)), n=n)
                return
        raise OpFormError(
            f"broadcasting {sx} + {sy} is not compiled yet",
            hint="Same shapes and a row vector added to a matrix are supported",
        )
