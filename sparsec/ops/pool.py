"""MaxPool (with the optional Indices output), AveragePool, GlobalAveragePool, GlobalMaxPool.

Window geometry (auto_pad, pads, strides, dilations, ceil_mode) is shared with Conv
(conv.windows); pooling runs on a strided window view, without Python loops over pixels.
"""

from __future__ import annotations

import numpy as np

from ..ir import TensorType
from . import Op, OpFormError, d64, f32, register
from .conv import Windows, check_auto_pad, window_grad, window_view, windows

_FLOAT_OR_INT8 = ("float32", "int8", "uint8")


def _spatial_input(types, op: str, dtypes=("float32",)) -> TensorType:
    x = types[0]
    if len(x.shape) < 3:
        raise OpFormError(f"X must have rank >= 3 (N, C, spatial...), got {list(x.shape)}")
    if x.dtype not in dtypes:
        raise OpFormError(f"{op} does not support {x.dtype} tensors")
    return x


def _geometry(node, shape) -> Windows:
    a = node.attrs
    kernel = a.get("kernel_shape")
    if kernel is None:
        raise OpFormError("kernel_shape is required")
    if len(kernel) != len(shape) - 2:
        raise OpFormError(f"kernel_shape {list(kernel)} does not fit {len(shape) - 2} spatial axes")
    return windows(shape[2:], kernel, a, ceil_mode=bool(a.get("ceil_mode", 0)))


def _taps_on_input(geo: Windows, count_pads: bool) -> np.ndarray:
    """Per output position, how many window taps fall on the input, or on the input and its
    pads (count_pads), but never on the extra cells ceil_mode windows reach past the pads."""
    nd = len(geo.kernel)
    inside = np.zeros(tuple(b + n + e for b, n, e in zip(geo.begin, geo.in_shape, geo.end)))
    if count_pads:
        inside[...] = 1.0
    else:
        inside[tuple(slice(b, b + n) for b, n in zip(geo.begin, geo.in_shape))] = 1.0
    counted = Windows(inside.shape, geo.out_shape, geo.kernel, geo.strides, geo.dilations, (0,) * nd, (0,) * nd)
    return window_view(inside, counted, 0.0).sum(axis=tuple(range(-nd, 0)))


class _Pool(Op):
    def attributes(self, attrs, opset):
        out = super().attributes(attrs, opset)
        check_auto_pad(out)
        if out.get("ceil_mode", 0) not in (0, 1):
            raise OpFormError(f"ceil_mode must be 0 or 1, got {out['ceil_mode']}")
        return out


@register
class MaxPool(_Pool):
    op_type = "MaxPool"
    defaults = {
        "auto_pad": "NOTSET",
        "ceil_mode": 0,
        "dilations": None,
        "kernel_shape": None,
        "pads": None,
        "storage_order": 0,
        "strides": None,
    }

    def attributes(self, attrs, opset):
        out = super().attributes(attrs, opset)
        if out["storage_order"] not in (0, 1):
            raise OpFormError(f"storage_order must be 0 or 1, got {out['storage_order']}")
        return out

    def infer(self, node, types, consts, opset):
        x = _spatial_input(types, "MaxPool", _FLOAT_OR_INT8)
        geo = _geometry(node, x.shape)
        shape = x.shape[:2] + geo.out_shape
        return [TensorType(shape, x.dtype), TensorType(shape, "int64")]

    def lower(self, node, ctx):
        x = ctx.type(node.inputs[0])
        if len(node.outputs) > 1 and node.outputs[1]:
            raise OpFormError("MaxPool's Indices output is not compiled")
        if x.dtype != "float32" or len(x.shape) not in (3, 4):
            raise OpFormError("only 1-D and 2-D float32 MaxPool is compiled")
        ctx.pool2d(node, node.inputs[0], _geometry(node, x.shape), "max")

    def reference(self, node, inputs, opset):
        x = inputs[0]
        geo = _geometry(node, x.shape)
        nd = len(geo.kernel)
        axes = tuple(range(-nd, 0))
        floating = x.dtype.kind == "f"
        vals = window_view(x, geo, -np.inf if floating else np.iinfo(x.dtype).min)
        y = vals.max(axis=axes)
        if floating:
            # A window wholly in the padding (possible with dilations) gives the lowest finite
            # value, as onnxruntime does, rather than -inf.
            empty = _taps_on_input(geo, count_pads=False) == 0
            if empty.any():
                y = np.where(empty, np.finfo(x.dtype).min, y)
        outs = [y.astype(x.dtype, copy=False)]
        if len(node.outputs) > 1 and node.outputs[1]:
            outs.append(self._indices(x, vals, geo, node.attrs["storage_order"]))
        return outs

    def backward(self, node, inputs, outputs, grads, opset):
        """The gradient goes to each window's maximum (the first, like the Indices output)."""
        x = inputs[0]
        if x.dtype.kind != "f":
            return [None]
        geo = _geometry(node, x.shape)
        nd = len(geo.kernel)
        vals = window_view(x, geo, -np.inf)
        flat = vals.reshape(vals.shape[: 2 + nd] + (-1,))
        arg = np.argmax(flat, axis=-1)[..., None]
        d_view = np.zeros(flat.shape)
        np.put_along_axis(d_view, arg, d64(grads[0])[..., None], axis=-1)
        return [window_grad(d_view.reshape(vals.shape), geo)]

    @staticmethod
    def _indices(x, vals, geo: Windows, storage_order: int) -> np.ndarray:
        """Flat index into X of each maximum (the first one in window order); padding never wins."""
        nd = len(geo.kernel)
        spatial = x.shape[2:]
        pos = np.arange(int(np.prod(spatial)), dtype=np.int64).reshape(spatial)
        if storage_order:  # column-major numbering of the spatial positions
            pos = pos.reshape(spatial[::-1]).T
        where = window_view(pos, geo, -1)  # (*out, *kernel)
        flat_vals = vals.reshape(vals.shape[: 2 + nd] + (-1,))
        # Padding holds -inf; a NaN in the window makes the first NaN the arg like max() returns it.
        arg = np.argmax(flat_vals, axis=-1)
        nan = np.isnan(flat_vals) if x.dtype.kind == "f" else None
        if nan is not None and nan.any():
            has = nan.any(axis=-1)
            arg = np.where(has, np.argmax(nan, axis=-1), arg)
        flat_where = np.broadcast_to(where.reshape(geo.out_shape + (-1,)), flat_vals.shape)
        idx = np.take_along_axis(flat_where, arg[..., None], axis=-1)[..., 0]
        n, c = x.shape[:2]
        base = (np.arange(n * c, dtype=np.int64) * int(np.prod(spatial))).reshape((n, c) + (1,) * nd)
        return idx + base


@register
class AveragePool(_Pool):
    op_type = "AveragePool"
    defaults = {
        "auto_pad": "NOTSET",
        "ceil_mode": 0,
        "count_include_pad": 0,
        "dilations": None,
        "kernel_shape": None,
        "pads": None,
        "strides": None,
    }

    def attributes(self, attrs, opset):
        out = super().attributes(attrs, opset)
        if out["count_include_pad"] not in (0, 1):
            raise OpFormError(f"count_include_pad must be 0 or 1, got {out['count_include_pad']}")
        return out

    def infer(self, node, types, consts, opset):
        x = _spatial_input(types, "AveragePool")
        geo = _geometry(node, x.shape)
        return [TensorType(x.shape[:2] + geo.out_shape)]

    def lower(self, node, ctx):
        x = ctx.type(node.inputs[0])
        if len(x.shape) not in (3, 4):
            raise OpFormError("only 1-D and 2-D AveragePool is compiled")
        ctx.pool2d(node, node.inputs[0], _geometry(node, x.shape), "avg", bool(node.attrs["count_include_pad"]))

    def reference(self, node, inputs, opset):
        x = inputs[0]
        geo = _geometry(node, x.shape)
        nd = len(geo.kernel)
        axes = tuple(range(-nd, 0))
        total = window_view(x.astype(np.float64), geo, 0.0).sum(axis=axes)
        count = _taps_on_input(geo, bool(node.attrs["count_include_pad"]))
        # A window wholly in the padding averages to 0 (onnxruntime) instead of 0 / 0.
        return [f32(np.divide(total, count, out=np.zeros_like(total), where=count > 0))]

    def backward(self, node, inputs, outputs, grads, opset):
        x = inputs[0]
        geo = _geometry(node, x.shape)
        nd = len(geo.kernel)
        count = _taps_on_input(geo, bool(node.attrs["count_include_pad"]))
        share = np.divide(d64(grads[0]), count, out=np.zeros(grads[0].shape), where=count > 0)
        d_view = np.broadcast_to(share[(Ellipsis,) + (None,) * nd], share.shape + geo.kernel)
        return [window_grad(d_view, geo)]


class _GlobalPool(Op):
    def infer(self, node, types, consts, opset):
        x = types[0]
        if len(x.shape) < 2:
            raise OpFormError(f"X must have rank >= 2 (N, C, ...), got {list(x.shape)}")
        if x.dtype != "float32":
            raise OpFormError(f"{self.op_type} supports float32 tensors only")
        return [TensorType(x.shape[:2] + (1,) * (len(x.shape) - 2))]


@register
class GlobalAveragePool(_GlobalPool):
    op_type = "GlobalAveragePool"

    def reference(self, node, inputs, opset):
        x = inputs[0]
        axes = tuple(range(2, x.ndim))
        return [f32(x.astype(np.float64).mean(axis=axes, keepdims=True))]

    def lower(self, node, ctx):
        ctx.global_avgpool(node, node.inputs[0])

    def backward(self, node, inputs, outputs, grads, opset):
        x = inputs[0]
        count = int(np.prod(x.shape[2:], dtype=np.int64))
        return [np.broadcast_to(d64(grads[0]) / max(count, 1), x.shape)]


@register
class GlobalMaxPool(_GlobalPool):
    op_type = "GlobalMaxPool"

    def reference(self, node, inputs, opset):
        x = inputs[0]
        axes = tuple(range(2, x.ndim))
        return [x.max(axis=axes, keepdims=True)]

    def backward(self, node, inputs, outputs, grads, opset):
        x = inputs[0]
        flat = x.reshape(x.shape[:2] + (-1,))
        d = np.zeros(flat.shape)
        np.put_along_axis(d, np.argmax(flat, axis=-1)[..., None], d64(grads[0]).reshape(x.shape[:2] + (1,)), axis=-1)
        return [d.reshape(x.shape)]
