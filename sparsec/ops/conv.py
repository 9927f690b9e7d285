"""Conv and ConvTranspose (1-D, 2-D, 3-D; groups, strides, pads, auto_pad, dilations, bias).

The window geometry helpers here are shared with the pooling ops (pool.py). The reference
computes in float64 with im2col + one batched matmul per call, never a Python loop over pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..ir import TensorType
from . import Op, OpFormError, d64, f32, register

AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def check_auto_pad(attrs: dict) -> None:
    mode = attrs.get("auto_pad", "NOTSET")
    if mode not in AUTO_PADS:
        raise OpFormError(f"auto_pad '{mode}' is not one of {list(AUTO_PADS)}")


def spatial_attr(attrs, name: str, nd: int, default: int) -> tuple[int, ...]:
    """A per-spatial-axis attribute (strides, dilations) with its default, length-checked."""
    value = attrs.get(name)
    if value is None:
        return (default,) * nd
    value = tuple(int(v) for v in value)
    if len(value) != nd:
        raise OpFormError(f"{name} has {len(value)} values for {nd} spatial axes")
    if any(v < 1 for v in value):
        raise OpFormError(f"{name} must be positive, got {list(value)}")
    return value


def explicit_pads(attrs, nd: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    pads = attrs.get("pads")
    if pads is None:
        return (0,) * nd, (0,) * nd
    pads = tuple(int(p) for p in pads)
    if len(pads) != 2 * nd:
        raise OpFormError(f"pads has {len(pads)} values; {2 * nd} expected (begin and end per spatial axis)")
    if any(p < 0 for p in pads):
        raise OpFormError(f"negative pads {list(pads)} are not supported")
    return pads[:nd], pads[nd:]


@dataclass(frozen=True)
class Windows:
    """Where the sliding windows of a Conv/pool lie on one input.

    ``begin``/``end`` are the pads the op itself defines (explicit or from auto_pad); the
    windows may also run past ``end`` (ceil_mode) or stop before it, which ``window_view``
    handles by padding further / cropping.
    """

    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    begin: tuple[int, ...]
    end: tuple[int, ...]

    @property
    def extent(self) -> tuple[int, ...]:
        """Dilated kernel sizes."""
        return tuple((k - 1) * d + 1 for k, d in zip(self.kernel, self.dilations))

    @property
    def span(self) -> tuple[int, ...]:
        """Length of (padded) input the windows cover, from the first padded position."""
        return tuple((o - 1) * s + e for o, s, e in zip(self.out_shape, self.strides, self.extent))


def windows(
    in_shape: Sequence[int],
    kernel: Sequence[int],
    attrs,
    ceil_mode: bool = False,
) -> Windows:
    """Output size and padding of a windowed op per ONNX (auto_pad, pads, strides, dilations, ceil_mode)."""
    nd = len(in_shape)
    kernel = tuple(int(k) for k in kernel)
    if len(kernel) != nd or any(k < 1 for k in kernel):
        raise OpFormError(f"kernel shape {list(kernel)} does not fit {nd} spatial axes")
    strides = spatial_attr(attrs, "strides", nd, 1)
    dilations = spatial_attr(attrs, "dilations", nd, 1)
    mode = attrs.get("auto_pad", "NOTSET")
    extent = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    begin, end, out = [], [], []
    if mode in ("NOTSET", "VALID"):
        # VALID is no padding; with ceil_mode it rounds up like explicit pads do (onnxruntime
        # and ONNX shape inference; the spec's VALID formula ignores ceil_mode).
        b_all, e_all = explicit_pads(attrs, nd) if mode == "NOTSET" else ((0,) * nd, (0,) * nd)
        for n, e, s, b, a in zip(in_shape, extent, strides, b_all, e_all):
            room = n + b + a - e
            if room < 0:
                raise OpFormError(f"kernel (dilated size {e}) is larger than the padded input ({n + b + a})")
            o = (-(-room // s) if ceil_mode else room // s) + 1
            if ceil_mode and (o - 1) * s >= n + b:
                o -= 1  # the last window must start inside the input or the left padding
            begin.append(b)
            end.append(a)
            out.append(o)
    else:  # SAME_UPPER / SAME_LOWER: output = ceil(input / stride)
        for n, e, s in zip(in_shape, extent, strides):
            o = -(-n // s)
            total = max(0, (o - 1) * s + e - n)
            small, big = total // 2, total - total // 2
            begin.append(small if mode == "SAME_UPPER" else big)
            end.append(big if mode == "SAME_UPPER" else small)
            out.append(o)
    if any(o < 1 for o in out):
        raise OpFormError(f"the output would be empty (spatial shape {out})")
    return Windows(tuple(in_shape), tuple(out), kernel, strides, dilations, tuple(begin), tuple(end))


def pad_spatial(x: np.ndarray, begin: Sequence[int], end: Sequence[int], value: float = 0.0) -> np.ndarray:
    """Pad the trailing len(begin) axes of x; a negative end crops instead."""
    lead = x.ndim - len(begin)
    widths = [(0, 0)] * lead + [(b, max(e, 0)) for b, e in zip(begin, end)]
    if any(w != (0, 0) for w in widths):
        x = np.pad(x, widths, constant_values=value)
    if any(e < 0 for e in end):
        x = x[(Ellipsis,) + tuple(slice(0, x.shape[lead + i] + min(e, 0)) for i, e in enumerate(end))]
    return x


def window_view(x: np.ndarray, w: Windows, value: float = 0.0) -> np.ndarray:
    """View (..., *out_shape, *kernel) of the windows over the last len(kernel) axes of x."""
    nd = len(w.kernel)
    lead = x.ndim - nd
    # Pad exactly to the span the windows cover: pads past it are never read.
    end = [sp - b - n for sp, b, n in zip(w.span, w.begin, w.in_shape)]
    xp = pad_spatial(x, w.begin, end, value)
    view = sliding_window_view(xp, w.extent, axis=tuple(range(lead, x.ndim)))
    index = (
        (slice(None),) * lead
        + tuple(slice(None, None, s) for s in w.strides)
        + tuple(slice(None, None, d) for d in w.dilations)
    )
    return view[index]


def window_grad(d_view: np.ndarray, w: Windows) -> np.ndarray:
    """The adjoint of ``window_view``: add each tap's gradient (..., *out, *kernel) back onto the
    input position it read (col2im, a loop over taps); reads of the padding are dropped."""
    nd = len(w.kernel)
    lead = d_view.shape[: d_view.ndim - 2 * nd]
    size = tuple(max(sp, b + n) for sp, b, n in zip(w.span, w.begin, w.in_shape))
    full = np.zeros(lead + size)
    for tap in np.ndindex(*w.kernel):
        where = tuple(
            slice(t * d, t * d + (o - 1) * s + 1, s) for t, d, o, s in zip(tap, w.dilations, w.out_shape, w.strides)
        )
        full[(Ellipsis,) + where] += d_view[(Ellipsis,) + tap]
    return full[(Ellipsis,) + tuple(slice(b, b + n) for b, n in zip(w.begin, w.in_shape))]


def _kernel_attr(node_attrs, w_shape: tuple[int, ...]) -> tuple[int, ...]:
    kernel = tuple(w_shape[2:])
    given = node_attrs.get("kernel_shape")
    if given is not None and tuple(int(k) for k in given) != kernel:
        raise OpFormError(f"kernel_shape {list(given)} does not match the weight's spatial shape {list(kernel)}")
    return kernel


def _check_inputs(op: str, types) -> tuple[TensorType, TensorType]:
    x, w = types[0], types[1]
    if x is None or w is None:
        raise OpFormError("X and W are required")
    if len(x.shape) < 3:
        raise OpFormError(f"X must have rank >= 3 (N, C, spatial...), got {list(x.shape)}")
    if len(w.shape) != len(x.shape):
        raise OpFormError(f"W has rank {len(w.shape)} but X has rank {len(x.shape)}")
    if x.dtype != "float32" or w.dtype != "float32":
        raise OpFormError(f"{op} supports float32 tensors only")
    return x, w


def _check_bias(types, channels: int) -> None:
    if len(types) > 2 and types[2] is not None and types[2].shape != (channels,):
        raise OpFormError(f"bias B has shape {list(types[2].shape)}; ({channels},) expected")


def _group(attrs) -> int:
    g = int(attrs.get("group", 1))
    if g < 1:
        raise OpFormError(f"group must be positive, got {g}")
    return g


class _ConvAttributes(Op):
    """Attribute checks Conv and ConvTranspose share: auto_pad and a positive group."""

    def attributes(self, attrs, opset):
        out = super().attributes(attrs, opset)
        check_auto_pad(out)
        _group(out)
        return out


@register
class Conv(_ConvAttributes):
    op_type = "Conv"
    defaults = {
        "auto_pad": "NOTSET",
        "dilations": None,
        "group": 1,
        "kernel_shape": None,
        "pads": None,
        "strides": None,
    }

    def geometry(self, attrs, x_shape, w_shape) -> Windows:
        g = _group(attrs)
        c, m = x_shape[1], w_shape[0]
        if c % g or m % g:
            raise OpFormError(f"group {g} does not divide the input channels {c} and output channels {m}")
        if w_shape[1] != c // g:
            raise OpFormError(f"W has {w_shape[1]} input channels per group; X gives {c} / group {g} = {c // g}")
        return windows(x_shape[2:], _kernel_attr(attrs, w_shape), attrs)

    def infer(self, node, types, consts, opset):
        x, w = _check_inputs("Conv", types)
        geo = self.geometry(node.attrs, x.shape, w.shape)
        _check_bias(types, w.shape[0])
        return [TensorType((x.shape[0], w.shape[0]) + geo.out_shape)]

    def reference(self, node, inputs, opset):
        x, w = inputs[0], inputs[1]
        b = inputs[2] if len(inputs) > 2 else None
        geo = self.geometry(node.attrs, x.shape, w.shape)
        g = _group(node.attrs)
        n, c = x.shape[:2]
        m = w.shape[0]
        nd = len(geo.kernel)
        view = window_view(x.astype(np.float64), geo)  # (N, C, *out, *kernel)
        p = math.prod(geo.out_shape)
        k = math.prod(geo.kernel)
        view = view.reshape((n, g, c // g) + geo.out_shape + geo.kernel)
        # im2col: (N, G, P, C/G * K), channels then kernel positions, W's own layout.
        cols = np.moveaxis(view, 2, 2 + nd).reshape(n, g, p, (c // g) * k)
        wg = w.astype(np.float64).reshape(g, m // g, (c // g) * k)
        y = np.matmul(cols, wg.transpose(0, 2, 1))  # (N, G, P, M/G)
        y = y.transpose(0, 1, 3, 2).reshape((n, m) + geo.out_shape)
        if b is not None:
            y = y + b.astype(np.float64).reshape((m,) + (1,) * nd)
        return [f32(y)]

    def lower(self, node, ctx):
        """1-D/2-D Conv with constant weights: groups 1 (sparse or dense) or depthwise."""
        x = ctx.type(node.inputs[0])
        weight = ctx.const(node.inputs[1])
        if weight is None or len(x.shape) not in (3, 4):
            raise OpFormError("only 1-D and 2-D Conv (NCW, NCHW) with constant weights is compiled")
        bias = None
        if len(node.inputs) > 2 and node.inputs[2]:
            bias = ctx.const(node.inputs[2])
            if bias is None:
                raise OpFormError("only Conv with a constant bias is compiled")
        g, c, m = _group(node.attrs), x.shape[1], weight.shape[0]
        depthwise = g > 1 and g == c == m
        if g != 1 and not depthwise:
            raise OpFormError(
                f"grouped Conv (group {g}, {c} -> {m} channels) is not compiled yet; groups 1 and depthwise are"
            )
        ctx.conv2d(node, node.inputs[0], weight, bias, self.geometry(node.attrs, x.shape, weight.shape), depthwise)

    def backward(self, node, inputs, outputs, grads, opset):
        x, w = inputs[0], inputs[1]
        geo = self.geometry(node.attrs, x.shape, w.shape)
        g = _group(node.attrs)
        n, c = x.shape[:2]
        m = w.shape[0]
        nd = len(geo.kernel)
        p, k = math.prod(geo.out_shape), math.prod(geo.kernel)
        dy = d64(grads[0]).reshape(n, g, m // g, p).transpose(0, 1, 3, 2)  # (N, G, P, M/G)
        # The forward's im2col columns, again: (N, G, P, C/G * K).
        view = window_view(d64(x), geo).reshape((n, g, c // g) + geo.out_shape + geo.kernel)
        cols = np.moveaxis(view, 2, 2 + nd).reshape(n, g, p, (c // g) * k)
        wg = d64(w).reshape(g, m // g, (c // g) * k)
        dw = np.einsum("ngpm,ngpk->gmk", dy, cols).reshape(w.shape)
        d_cols = np.matmul(dy, wg).reshape((n, g) + geo.out_shape + (c // g,) + geo.kernel)
        d_view = np.moveaxis(d_cols, 2 + nd, 2).reshape((n, c) + geo.out_shape + geo.kernel)
        out = [window_grad(d_view, geo), dw]
        if len(inputs) > 2:
            out.append(None if inputs[2] is None else d64(grads[0]).sum(axis=(0,) + tuple(range(2, 2 + nd))))
        return out


@dataclass(frozen=True)
class _Transposed:
    out_shape: tuple[int, ...]
    begin: tuple[int, ...]
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]


@register
class ConvTranspose(_ConvAttributes):
    op_type = "ConvTranspose"
    defaults = {
        "auto_pad": "NOTSET",
        "dilations": None,
        "group": 1,
        "kernel_shape": None,
        "output_padding": None,
        "output_shape": None,
        "pads": None,
        "strides": None,
    }

    def geometry(self, attrs, x_shape, w_shape) -> _Transposed:
        g = _group(attrs)
        if x_shape[1] != w_shape[0] or x_shape[1] % g:
            raise OpFormError(f"W has {w_shape[0]} input channels, X has {x_shape[1]} (group {g})")
        in_shape = tuple(x_shape[2:])
        nd = len(in_shape)
        kernel = _kernel_attr(attrs, w_shape)
        strides = spatial_attr(attrs, "strides", nd, 1)
        dilations = spatial_attr(attrs, "dilations", nd, 1)
        out_pad = attrs.get("output_padding")
        out_pad = (0,) * nd if out_pad is None else tuple(int(v) for v in out_pad)
        if len(out_pad) != nd or any(v < 0 for v in out_pad):
            raise OpFormError(f"output_padding {list(out_pad)} does not fit {nd} spatial axes")
        # Full (unpadded) output length per axis.
        full = [
            s * (n - 1) + op + (k - 1) * d + 1 for n, s, op, k, d in zip(in_shape, strides, out_pad, kernel, dilations)
        ]
        mode = attrs.get("auto_pad", "NOTSET")
        target = attrs.get("output_shape")
        if target is not None:
            target = tuple(int(v) for v in target)
            if len(target) == nd + 2:
                target = target[2:]
            if len(target) != nd or any(t < 1 for t in target):
                raise OpFormError(f"output_shape {list(target)} does not fit {nd} spatial axes")
        elif mode in ("SAME_UPPER", "SAME_LOWER"):
            target = tuple(n * s for n, s in zip(in_shape, strides))
            # SAME never pads negatively: with a kernel shorter than the stride the output is
            # the full length, not input * stride (onnxruntime and ONNX shape inference).
            target = tuple(min(t, f) for t, f in zip(target, full))
        if target is not None:
            # Pads follow from the wanted output size (ONNX spec): an odd one goes at the end for
            # SAME_UPPER, at the beginning otherwise. An explicit output_shape larger than the
            # full output gets zeros at the end, as output_padding does.
            begin = []
            for f, t in zip(full, target):
                total = max(f - t, 0)
                begin.append(total // 2 if mode == "SAME_UPPER" else total - total // 2)
            out = target
        elif mode == "VALID":
            begin, out = [0] * nd, tuple(full)
        else:
            b_all, e_all = explicit_pads(attrs, nd)
            begin, out = list(b_all), tuple(f - b - e for f, b, e in zip(full, b_all, e_all))
        if any(o < 1 for o in out):
            raise OpFormError(f"the output would be empty (spatial shape {list(out)})")
        return _Transposed(tuple(out), tuple(begin), kernel, strides, dilations)

    def infer(self, node, types, consts, opset):
        x, w = _check_inputs("ConvTranspose", types)
        geo = self.geometry(node.attrs, x.shape, w.shape)
        m = w.shape[1] * _group(node.attrs)
        _check_bias(types, m)
        return [TensorType((x.shape[0], m) + geo.out_shape)]

    def reference(self, node, inputs, opset):
        x, w = inputs[0], inputs[1]
        b = inputs[2] if len(inputs) > 2 else None
        geo = self.geometry(node.attrs, x.shape, w.shape)
        g = _group(node.attrs)
        n, c = x.shape[:2]
        in_shape = x.shape[2:]
        nd = len(in_shape)
        mg = w.shape[1]
        p = math.prod(in_shape)
        k = math.prod(geo.kernel)
        # Every input pixel times every kernel tap: (N, G, P, M/G * K) in one matmul.
        xg = x.astype(np.float64).reshape(n, g, c // g, p).transpose(0, 1, 3, 2)
        wg = w.astype(np.float64).reshape(g, c // g, mg * k)
        contrib = np.matmul(xg, wg).reshape((n, g) + tuple(in_shape) + (mg,) + geo.kernel)
        contrib = np.moveaxis(contrib, 2 + nd, 2)  # (N, G, M/G, *in, *kernel)
        # Scatter-add each kernel tap (a loop over taps, not pixels) into an output that holds
        # the begin pads and the requested output, whichever is longer than the taps reach.
        size = tuple(
            max(b_ + o, s * (i - 1) + (kk - 1) * d + 1)
            for b_, o, s, i, kk, d in zip(geo.begin, geo.out_shape, geo.strides, in_shape, geo.kernel, geo.dilations)
        )
        full = np.zeros((n, g, mg) + size)
        for tap in np.ndindex(*geo.kernel):
            where = tuple(
                slice(t * d, t * d + (i - 1) * s + 1, s)
                for t, d, i, s in zip(tap, geo.dilations, in_shape, geo.strides)
            )
            full[(slice(None),) * 3 + where] += contrib[(Ellipsis,) + tap]
        crop = tuple(slice(b_, b_ + o) for b_, o in zip(geo.begin, geo.out_shape))
        y = full[(slice(None),) * 3 + crop].reshape((n, g * mg) + geo.out_shape)
        if b is not None:
            y = y + b.astype(np.float64).reshape((g * mg,) + (1,) * nd)
        return [f32(y)]

    def backward(self, node, inputs, outputs, grads, opset):
        x, w = inputs[0], inputs[1]
        geo = self.geometry(node.attrs, x.shape, w.shape)
        g = _group(node.attrs)
        n, c = x.shape[:2]
        in_shape = x.shape[2:]
        nd = len(in_shape)
        mg = w.shape[1]
        p, k = math.prod(in_shape), math.prod(geo.kernel)
        # Undo the crop and the tap-wise scatter of the forward: gather each tap's gradient.
        size = tuple(
            max(b_ + o, s * (i - 1) + (kk - 1) * d + 1)
            for b_, o, s, i, kk, d in zip(geo.begin, geo.out_shape, geo.strides, in_shape, geo.kernel, geo.dilations)
        )
        full = np.zeros((n, g, mg) + size)
        crop = tuple(slice(b_, b_ + o) for b_, o in zip(geo.begin, geo.out_shape))
        full[(slice(None),) * 3 + crop] = d64(grads[0]).reshape((n, g, mg) + geo.out_shape)
        d_contrib = np.empty((n, g, mg) + tuple(in_shape) + geo.kernel)
        for tap in np.ndindex(*geo.kernel):
            where = tuple(
                slice(t * d, t * d + (i - 1) * s + 1, s)
                for t, d, i, s in zip(tap, geo.dilations, in_shape, geo.strides)
            )
            d_contrib[(Ellipsis,) + tap] = full[(slice(None),) * 3 + where]
        d_contrib = np.moveaxis(d_contrib, 2, 2 + nd).reshape(n, g, p, mg * k)  # (N, G, P, M/G * K)
        xg = d64(x).reshape(n, g, c // g, p).transpose(0, 1, 3, 2)
        wg = d64(w).reshape(g, c // g, mg * k)
        dx = np.matmul(d_contrib, wg.transpose(0, 2, 1)).transpose(0, 1, 3, 2).reshape(x.shape)
        dw = np.einsum("ngpc,ngpk->gck", xg, d_contrib).reshape(w.shape)
        out = [dx, dw]
        if len(inputs) > 2:
            out.append(None if inputs[2] is None else d64(grads[0]).sum(axis=(0,) + tuple(range(2, 2 + nd))))
        return out
