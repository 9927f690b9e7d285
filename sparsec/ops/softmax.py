"""Softmax and LogSoftmax; opset < 13 coerces to 2-D at ``axis`` (default 1), opset >= 13 is per-axis
(default -1)."""

from __future__ import annotations

import numpy as np

from ..ir import TensorType
from . import Op, OpFormError, d64, f32, register


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    x = x.astype(np.float64)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    x = x.astype(np.float64)
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _apply(fn, x: np.ndarray, axis: int, opset: int) -> np.ndarray:
    """``fn`` over ``axis`` (opset >= 13) or over the rows of x coerced to 2-D at ``axis``."""
    if opset >= 13:
        return f32(fn(x, axis))
    rows = int(np.prod(x.shape[:axis], dtype=np.int64))
    return f32(fn(x.reshape(rows, -1), 1).reshape(x.shape))


def _rows(x: np.ndarray, axis: int, opset: int) -> tuple[np.ndarray, int]:
    """x as the op normalizes it: coerced to 2-D before opset 13, per axis from 13."""
    if opset >= 13:
        return x, axis
    return x.reshape(int(np.prod(x.shape[:axis], dtype=np.int64)), -1), 1


def _softmax_backward(log: bool, node, inputs, grads, opset, axis: int) -> list[np.ndarray]:
    x = inputs[0]
    xs, ax = _rows(d64(x), axis, opset)
    g, _ = _rows(d64(grads[0]), axis, opset)
    y = _softmax(xs, ax)  # recomputed in float64 rather than read from the float32 output
    if log:  # d/dx of x - logsumexp(x)
        dx = g - y * g.sum(axis=ax, keepdims=True)
    else:
        dx = y * (g - (g * y).sum(axis=ax, keepdims=True))
    return [dx.reshape(x.shape)]


@register
class Softmax(Op):
    op_type = "Softmax"
    defaults = {"axis": None}

    @staticmethod
    def axis(node, rank, opset):
        axis = node.attrs.get("axis", -1 if opset >= 13 else 1)
        if not -rank <= axis < max(rank, 1):
            raise OpFormError(f"axis {axis} is out of range for rank {rank}")
        return axis % max(rank, 1)

    def infer(self, node, types, consts, opset):
        self.axis(node, len(types[0].shape), opset)
        return [TensorType(types[0].shape)]

    def reference(self, node, inputs, opset):
        x = inputs[0]
        return [_apply(_softmax, x, self.axis(node, x.ndim, opset), opset)]

    def backward(self, node, inputs, outputs, grads, opset):
        return _softmax_backward(False, node, inputs, grads, opset, self.axis(node, inputs[0].ndim, opset))

    def lower(self, node, ctx):
        shape = ctx.type(node.inputs[0]).shape
        axis = self.axis(node, len(shape), ctx.opset)
        size = int(np.prod(shape, dtype=np.int64))
        if ctx.opset < 13:
            cols = int(np.prod(shape[axis:], dtype=np.int64))
        else:
            if int(np.prod(shape[axis + 1 :], dtype=np.int64)) != 1:
                raise OpFormError("softmax over an axis other than the last is not compiled yet")
            cols = shape[axis] if shape else 1
        ctx.softmax(node, node.inputs[0], rows=size // max(cols, 1), cols=cols)


@register
class LogSoftmax(Op):
    op_type = "LogSoftmax"
    defaults = {"axis": None}
    axis = staticmethod(Softmax.axis)
    infer = Softmax.infer

    def reference(self, node, inputs, opset):
        x = inputs[0]
        with np.errstate(all="ignore"):  # a row of all -inf gives NaN, as in onnxruntime
            return [_apply(_log_softmax, x, self.axis(node, x.ndim, opset), opset)]

    def backward(self, node, inputs, outputs, grads, opset):
        return _softmax_backward(True, node, inputs, grads, opset, self.axis(node, inputs[0].ndim, opset))
