"""Gemm: Y = alpha * A' @ B' + beta * C (A' = A^T if transA, B' = B^T if transB)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..ir import Node, TensorType
from . import Op, OpFormError, d64, f32, register, require_float32, sum_to

if TYPE_CHECKING:
    from ..codegen.lower import Lowering


@register
class Gemm(Op):
    op_type = "Gemm"
    defaults = {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0}

    def infer(self, node, types, consts, opset):
        require_float32(types, self.op_type)
        a, b = types[0], types[1]
        if a is None or b is None or len(a.shape) != 2 or len(b.shape) != 2:
            raise OpFormError("A and B must be 2-D")
        m, k = a.shape[::-1] if node.attrs["transA"] else a.shape
        kb, n = b.shape[::-1] if node.attrs["transB"] else b.shape
        if k != kb:
            raise OpFormError(f"inner dimensions differ: A gives K={k}, B gives K={kb}")
        if len(types) > 2 and types[2] is not None:
            try:
                np.broadcast_shapes(types[2].shape, (m, n))
            except ValueError:
                raise OpFormError(f"C of shape {types[2].shape} does not broadcast to {(m, n)}") from None
        return [TensorType((m, n))]

    def reference(self, node, inputs, opset):
        a = inputs[0].astype(np.float64)
        b = inputs[1].astype(np.float64)
        if node.attrs["transA"]:
            a = a.T
        if node.attrs["transB"]:
            b = b.T
        y = node.attrs["alpha"] * (a @ b)
        if len(inputs) > 2 and inputs[2] is not None:
            y = y + node.attrs["beta"] * inputs[2].astype(np.float64)
        return [f32(y)]

    def backward(self, node, inputs, outputs, grads, opset):
        attrs, g = node.attrs, d64(grads[0])
        a = d64(inputs[0]).T if attrs["transA"] else d64(inputs[0])
        b = d64(inputs[1]).T if attrs["transB"] else d64(inputs[1])
        da, db = attrs["alpha"] * (g @ b.T), attrs["alpha"] * (a.T @ g)  # gradients of A' and B'
        out = [da.T if attrs["transA"] else da, db.T if attrs["transB"] else db]
        if len(inputs) > 2:
            c = inputs[2]
            out.append(None if c is None else sum_to(attrs["beta"] * g, c.shape))
        return out

    def lower(self, node: Node, ctx: Lowering) -> None:
        """Fully connected layer: needs constant B in canonical form (see passes.fuse_gemm)."""
        a = node.attrs
        weight = ctx.const(node.inputs[1])
        if weight is None or a["transA"] or not a["transB"] or a["alpha"] != 1.0:
            raise OpFormError(
                "only Gemm with a constant weight B is compiled (transA=0)",
                hint="Run sparsec.load() with simplify=True so Gemm is canonicalized",
            )
        m, k = ctx.type(node.inputs[0]).shape
        n = weight.shape[0]
        bias = None
        if len(node.inputs) > 2 and node.inputs[2]:
            c = ctx.const(node.inputs[2])
            if c is None or c.size not in (1, n) or (c.ndim == 2 and c.shape[0] != 1):
                raise OpFormError("bias C must be a constant of N values (or one value)")
            bias = np.broadcast_to(a["beta"] * c.reshape(-1).astype(np.float64), (n,))
        ctx.dense_layer(node, node.inputs[0], weight, bias, m=m, k=k)
