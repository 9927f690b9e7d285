"""Reductions (ReduceSum, ReduceMean, ReduceMax, ...) and ArgMax/ArgMin.

Axes are an attribute before the opset where they became an input (ReduceSum 13, the others 18);
the input must be a constant. float32 data is reduced in float64 and returned as float32; integer
data keeps its dtype (sums wrap like C, means and roots truncate toward zero like onnxruntime).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..ir import TensorType
from . import Op, OpFormError, d64, f32, register
from .tensor import const_input, ints, norm_axes, norm_axis


class Reduce(Op):
    """Shared axes/keepdims handling; subclasses define ``compute`` (keepdims=True semantics)."""

    defaults = {"axes": None, "keepdims": 1, "noop_with_empty_axes": 0}
    #: first opset where axes is an input instead of an attribute
    axes_input_since: ClassVar[int] = 18

    def _axes(self, node, rank: int, axes_value: np.ndarray | None, opset: int) -> tuple[int, ...]:
        axes = node.attrs.get("axes") if opset < self.axes_input_since else axes_value
        axes = [] if axes is None else ints(axes)
        if not axes:
            # No axes: all of them, or none (an elementwise no-op) with noop_with_empty_axes.
            return () if node.attrs.get("noop_with_empty_axes") else tuple(range(rank))
        return tuple(sorted(norm_axes(axes, rank)))

    def infer(self, node, types, consts, opset):
        value = const_input(types, consts, 1, "axes") if opset >= self.axes_input_since else None
        shape = types[0].shape
        axes = self._axes(node, len(shape), value, opset)
        if node.attrs["keepdims"]:
            out = tuple(1 if k in axes else d for k, d in enumerate(shape))
        else:
            out = tuple(d for k, d in enumerate(shape) if k not in axes)
        return [TensorType(out, types[0].dtype)]

    def reference(self, node, inputs, opset):
        x = inputs[0]
        value = inputs[1] if opset >= self.axes_input_since and len(inputs) > 1 else None
        axes = self._axes(node, x.ndim, value, opset)
        with np.errstate(all="ignore"):  # log(0), 0/0, int casts of NaN: IEEE/C results are the semantics
            if x.dtype == np.float32:
                y = f32(self.compute(x.astype(np.float64), axes))
            else:
                y = self.compute(x, axes)
                if y.dtype != x.dtype:
                    y = (np.trunc(y) if y.dtype.kind == "f" else y).astype(x.dtype)
        if not node.attrs["keepdims"]:
            y = y.reshape(tuple(d for k, d in enumerate(y.shape) if k not in axes))
        return [y]

    def compute(self, x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        raise NotImplementedError

    def _spread(self, node, inputs, grad, opset) -> tuple[np.ndarray, tuple[int, ...]]:
        """dL/dy broadcast over x's shape (the reduced axes restored), and the axes."""
        x = inputs[0]
        value = inputs[1] if opset >= self.axes_input_since and len(inputs) > 1 else None
        axes = self._axes(node, x.ndim, value, opset)
        kept = tuple(1 if k in axes else d for k, d in enumerate(x.shape))
        return np.broadcast_to(d64(grad).reshape(kept), x.shape), axes


def _sum(x: np.ndarray, axes) -> np.ndarray:
    # An explicit dtype keeps int32 sums int32 (NumPy would widen them).
    return np.sum(x, axis=axes, keepdims=True, dtype=x.dtype)


def _count(x: np.ndarray, axes) -> int:
    return int(np.prod([x.shape[a] for a in axes], dtype=np.int64))


@register
class ReduceSum(Reduce):
    op_type = "ReduceSum"
    axes_input_since = 13

    def compute(self, x, axes):
        return _sum(x, axes)

    def backward(self, node, inputs, outputs, grads, opset):
        if inputs[0].dtype != np.float32:
            return super().backward(node, inputs, outputs, grads, opset)
        return [self._spread(node, inputs, grads[0], opset)[0]] + [None] * (len(inputs) - 1)


@register
class ReduceMean(Reduce):
    op_type = "ReduceMean"

    def lower(self, node, ctx):
        """A mean over trailing axes (global average pooling, as torch.export writes it)."""
        x = ctx.type(node.inputs[0])
        value = ctx.const(node.inputs[1]) if len(node.inputs) > 1 and node.inputs[1] else None
        axes = self._axes(node, len(x.shape), value, ctx.opset)
        if x.dtype != "float32" or not axes or list(axes) != list(range(axes[0], len(x.shape))) or axes[0] == 0:
            raise OpFormError("only ReduceMean over trailing axes (not the batch) is compiled")
        ctx.global_avgpool(node, node.inputs[0], first_axis=axes[0])

    def backward(self, node, inputs, outputs, grads, opset):
        if inputs[0].dtype != np.float32:
            return super().backward(node, inputs, outputs, grads, opset)
        g, axes = self._spread(node, inputs, grads[0], opset)
        return [g / max(_count(inputs[0], axes), 1)] + [None] * (len(inputs) - 1)

    def compute(self, x, axes):
        s, n = _sum(x, axes), _count(x, axes)
        if n == 0:
            return np.zeros_like(s)  # undefined in ONNX; onnxruntime gives 0
        if x.dtype.kind in "iu":
            return np.sign(s) * (np.abs(s) // n)  # C integer division truncates toward zero
        return s / n


@register
class ReduceProd(Reduce):
    op_type = "ReduceProd"

    def compute(self, x, axes):
        return np.prod(x, axis=axes, keepdims=True, dtype=x.dtype)


def _lowest(dtype: np.dtype):
    if dtype.kind == "f":
        return -np.inf
    return False if dtype.kind == "b" else np.iinfo(dtype).min


def _highest(dtype: np.dtype):
    if dtype.kind == "f":
        return np.inf
    return True if dtype.kind == "b" else np.iinfo(dtype).max


@register
class ReduceMax(Reduce):
    op_type = "ReduceMax"

    def compute(self, x, axes):
        # initial: an empty reduction gives -inf (or the type's minimum), as ONNX specifies.
        return np.max(x, axis=axes, keepdims=True, initial=_lowest(x.dtype))


@register
class ReduceMin(Reduce):
    op_type = "ReduceMin"

    def compute(self, x, axes):
        return np.min(x, axis=axes, keepdims=True, initial=_highest(x.dtype))


@register
class ReduceL1(Reduce):
    op_type = "ReduceL1"

    def compute(self, x, axes):
        return _sum(np.abs(x), axes)


@register
class ReduceL2(Reduce):
    op_type = "ReduceL2"

    def compute(self, x, axes):
        return np.sqrt(_sum(x * x, axes).astype(np.float64))


@register
class ReduceSumSquare(Reduce):
    op_type = "ReduceSumSquare"

    def compute(self, x, axes):
        return _sum(x * x, axes)

    def backward(self, node, inputs, outputs, grads, opset):
        if inputs[0].dtype != np.float32:
            return super().backward(node, inputs, outputs, grads, opset)
        return [2.0 * d64(inputs[0]) * self._spread(node, inputs, grads[0], opset)[0]] + [None] * (len(inputs) - 1)


@register
class ReduceLogSum(Reduce):
    op_type = "ReduceLogSum"

    def compute(self, x, axes):
        return np.log(_sum(x, axes).astype(np.float64))


@register
class ReduceLogSumExp(Reduce):
    op_type = "ReduceLogSumExp"

    def compute(self, x, axes):
        x = x.astype(np.float64)
        # Shift by the largest finite value so exp cannot overflow; infinities and NaN pass through.
        m = np.max(np.where(np.isfinite(x), x, -np.inf), axis=axes, keepdims=True, initial=-np.inf)
        m = np.where(np.isfinite(m), m, 0.0)
        return np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m


class ArgReduce(Op):
    defaults = {"axis": 0, "keepdims": 1, "select_last_index": 0}

    def _axis(self, node, shape) -> int:
        axis = norm_axis(node.attrs["axis"], len(shape))
        if shape[axis] == 0:
            raise OpFormError(f"axis {axis} is empty (shape {tuple(shape)}): no index to return")
        return axis

    def infer(self, node, types, consts, opset):
        shape = types[0].shape
        axis = self._axis(node, shape)
        out = shape[:axis] + ((1,) if node.attrs["keepdims"] else ()) + shape[axis + 1 :]
        return [TensorType(out, "int64")]

    def reference(self, node, inputs, opset):
        x = inputs[0]
        axis = self._axis(node, x.shape)
        keep = bool(node.attrs["keepdims"])
        if node.attrs["select_last_index"]:
            idx = x.shape[axis] - 1 - self.pick(np.flip(x, axis), axis, keep)
        else:
            idx = self.pick(x, axis, keep)
        return [np.asarray(idx, dtype=np.int64)]

    def pick(self, x: np.ndarray, axis: int, keepdims: bool) -> np.ndarray:
        raise NotImplementedError


@register
class ArgMax(ArgReduce):
    op_type = "ArgMax"

    def pick(self, x, axis, keepdims):
        return np.argmax(x, axis=axis, keepdims=keepdims)


@register
class ArgMin(ArgReduce):
    op_type = "ArgMin"

    def pick(self, x, axis, keepdims):
        return np.argmin(x, axis=axis, keepdims=keepdims)
