"""MatMul with NumPy matmul semantics (batch broadcasting, 1-D promotion)."""

from __future__ import annotations

import numpy as np

from ..ir import TensorType
from . import Op, OpFormError, d64, f32, register, require_float32, sum_to


@register
class MatMul(Op):
    op_type = "MatMul"

    def infer(self, node, types, consts, opset):
        require_float32(types, self.op_type)
        a, b = types[0].shape, types[1].shape
        if not a or not b:
            raise OpFormError("MatMul inputs must have rank >= 1")
        a2, b2 = (1, *a) if len(a) == 1 else a, (*b, 1) if len(b) == 1 else b
        if a2[-1] != b2[-2]:
            raise OpFormError(f"shapes {a} and {b} do not multiply: inner dims {a2[-1]} != {b2[-2]}")
        try:
            batch = np.broadcast_shapes(a2[:-2], b2[:-2])
        except ValueError:
            raise OpFormError(f"batch dims of {a} and {b} do not broadcast") from None
        shape = (*batch, *(a2[-2:-1] if len(a) > 1 else ()), *(b2[-1:] if len(b) > 1 else ()))
        return [TensorType(tuple(shape))]

    def reference(self, node, inputs, opset):
        return [f32(np.matmul(inputs[0].astype(np.float64), inputs[1].astype(np.float64)))]

    def backward(self, node, inputs, outputs, grads, opset):
        a, b = d64(inputs[0]), d64(inputs[1])
        # 1-D operands are promoted to matrices (and the output loses that axis): undo it.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g = d64(grads[0])
        if a.ndim == 1:
            g = g[..., None, :] if b.ndim > 1 else g[..., None]
        if b.ndim == 1:
            g = g[..., None]
        da = np.matmul(g, np.swapaxes(b2, -1, -2))
        db = np.matmul(np.swapaxes(a2, -1, -2), g)
        return [sum_to(da, a2.shape).reshape(a.shape), sum_to(db, b2.shape).reshape(b.shape)]

    def lower(self, node, ctx):
        weight = ctx.const(node.inputs[1])
        shape = ctx.type(node.inputs[0]).shape
        if weight is None or weight.ndim != 2 or len(shape) < 1:
            raise OpFormError(
                "only MatMul by a constant 2-D matrix is compiled",
                hint="Variable x variable products are not supported by code generation yet",
            )
        k = shape[-1]
        m = int(np.prod(shape[:-1], dtype=np.int64)) if len(shape) > 1 else 1
        ctx.dense_layer(node, node.inputs[0], np.ascontiguousarray(weight.T), None, m=m, k=k)
