"""Data-movement and shape ops: Shape, Gather, Slice, Concat, Transpose, Squeeze, Cast, ...

Inputs that decide an output shape (axes, starts/ends, shape, repeats, split, depth, ...) must be
constants. Integer and bool tensors keep their dtype: torch exports do int64 shape arithmetic with
these ops, and the front end folds such subgraphs through ``reference`` (and ``fold`` for Shape
and Size, whose value depends only on the input type).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import onnx

from ..ir import TensorType
from . import Op, OpFormError, d64, register, sum_to

_CONST_HINT = "Export with static shapes, or fix the input shapes with input_shapes= so it folds to a constant"

# TensorProto.DataType -> the NumPy dtypes sparsec computes with (no float64/float16/strings).
_DTYPES = {
    onnx.TensorProto.FLOAT: "float32",
    onnx.TensorProto.UINT8: "uint8",
    onnx.TensorProto.INT8: "int8",
    onnx.TensorProto.UINT16: "uint16",
    onnx.TensorProto.INT16: "int16",
    onnx.TensorProto.INT32: "int32",
    onnx.TensorProto.INT64: "int64",
    onnx.TensorProto.BOOL: "bool",
    onnx.TensorProto.UINT32: "uint32",
    onnx.TensorProto.UINT64: "uint64",
}
_DTYPE_NAMES = frozenset(_DTYPES.values())


def onnx_dtype(code: int, what: str) -> str:
    """The NumPy name of an ONNX element type, or OpFormError if sparsec does not compute in it."""
    if code in _DTYPES:
        return _DTYPES[code]
    try:
        name = onnx.TensorProto.DataType.Name(code)
    except ValueError:
        name = str(code)
    raise OpFormError(
        f"{what} {name} is not supported",
        hint="sparsec computes in float32 and integer/bool types only",
    )


def check_dtype(dtype: np.dtype | str, what: str) -> str:
    name = np.dtype(dtype).name
    if name not in _DTYPE_NAMES:
        raise OpFormError(f"{what} {name} is not supported", hint="sparsec computes in float32 and integer/bool types")
    return name


def const_input(types: Sequence, consts: Sequence, i: int, what: str) -> np.ndarray | None:
    """Input ``i`` as a constant; None when omitted; OpFormError when it is computed at run time."""
    if i >= len(types) or types[i] is None:
        return None
    if consts[i] is None:
        raise OpFormError(f"{what} must be a constant", hint=_CONST_HINT)
    return consts[i]


def ints(value) -> list[int]:
    return [int(v) for v in np.asarray(value).reshape(-1)]


def norm_axis(axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < rank:
        raise OpFormError(f"{what} {axis} is out of range for rank {rank}")
    return axis % rank


def norm_axes(axes: Sequence[int], rank: int, what: str = "axes") -> list[int]:
    out = [norm_axis(int(a), rank, what) for a in axes]
    if len(set(out)) != len(out):
        raise OpFormError(f"{what} {list(axes)} repeat an axis")
    return out


def _int_type(dtype, what: str) -> None:
    if np.dtype(dtype).kind not in "iu":
        raise OpFormError(f"{what} must be an integer tensor, not {np.dtype(dtype).name}")


def _int_data(x: np.ndarray, what: str) -> np.ndarray:
    _int_type(x.dtype, what)
    return x


# ------------------------------------------------------------------------------------- Shape, Size
@register
class Shape(Op):
    op_type = "Shape"
    defaults = {"start": 0, "end": None}

    @staticmethod
    def _dims(node, shape: tuple[int, ...]) -> np.ndarray:
        # Python slicing clamps exactly as ONNX specifies (negative += rank, then into [0, rank]).
        end = node.attrs.get("end")
        return np.array(shape[node.attrs["start"] : end], dtype=np.int64)

    def fold(self, node, types):
        if types[0] is None:
            return None
        return [self._dims(node, types[0].shape)]

    def infer(self, node, types, consts, opset):
        return [TensorType((len(self._dims(node, types[0].shape)),), "int64")]

    def reference(self, node, inputs, opset):
        return [self._dims(node, inputs[0].shape)]


@register
class Size(Op):
    op_type = "Size"

    def fold(self, node, types):
        if types[0] is None:
            return None
        return [np.array(types[0].size, dtype=np.int64)]

    def infer(self, node, types, consts, opset):
        return [TensorType((), "int64")]

    def reference(self, node, inputs, opset):
        return [np.array(inputs[0].size, dtype=np.int64)]


# -------------------------------------------------------------------------------- Gather family
def _check_indices(idx: np.ndarray, dim: int, what: str = "indices") -> None:
    _int_data(idx, what)
    if idx.size and (idx.min() < -dim or idx.max() >= dim):
        raise OpFormError(f"{what} out of range [{-dim}, {dim - 1}]: {ints(idx)[:8]}")


@register
class Gather(Op):
    op_type = "Gather"
    defaults = {"axis": 0}

    def infer(self, node, types, consts, opset):
        data, idx = types[0], types[1]
        axis = norm_axis(node.attrs["axis"], len(data.shape))
        _int_type(idx.dtype, "indices")
        if consts[1] is not None:
            _check_indices(consts[1], data.shape[axis])
        return [TensorType(data.shape[:axis] + idx.shape + data.shape[axis + 1 :], data.dtype)]

    def reference(self, node, inputs, opset):
        data, idx = inputs
        axis = norm_axis(node.attrs["axis"], data.ndim)
        _check_indices(idx, data.shape[axis])
        idx = np.where(idx < 0, idx + data.shape[axis], idx)
        return [np.take(data, idx.astype(np.int64), axis=axis)]

    def backward(self, node, inputs, outputs, grads, opset):
        data, idx = inputs
        if data.dtype.kind != "f":
            return super().backward(node, inputs, outputs, grads, opset)
        axis = norm_axis(node.attrs["axis"], data.ndim)
        idx = np.where(idx < 0, idx + data.shape[axis], idx).astype(np.int64)
        # Scatter-add along axis (repeated indices add up): move axis to the front first.
        d = np.zeros((data.shape[axis],) + data.shape[:axis] + data.shape[axis + 1 :])
        g = np.moveaxis(d64(grads[0]), tuple(range(axis, axis + idx.ndim)), tuple(range(idx.ndim)))
        np.add.at(d, idx, g)
        return [np.moveaxis(d, 0, axis), None]


@register
class GatherElements(Op):
    op_type = "GatherElements"
    defaults = {"axis": 0}

    def infer(self, node, types, consts, opset):
        data, idx = types[0], types[1]
        rank = len(data.shape)
        axis = norm_axis(node.attrs["axis"], rank)
        _int_type(idx.dtype, "indices")
        if len(idx.shape) != rank:
            raise OpFormError(f"indices have rank {len(idx.shape)}, data rank {rank}")
        for a, (d, n) in enumerate(zip(data.shape, idx.shape)):
            if a != axis and n > d:
                raise OpFormError(f"indices shape {idx.shape} exceeds data shape {data.shape} at axis {a}")
        if consts[1] is not None:
            _check_indices(consts[1], data.shape[axis])
        return [TensorType(idx.shape, data.dtype)]

    def reference(self, node, inputs, opset):
        data, idx = inputs
        axis = norm_axis(node.attrs["axis"], data.ndim)
        _check_indices(idx, data.shape[axis])
        # Index grids over the indices' shape (which may be smaller than the data's off-axis).
        grid = list(np.indices(idx.shape, sparse=True))
        grid[axis] = np.where(idx < 0, idx + data.shape[axis], idx)
        return [data[tuple(grid)]]


# ------------------------------------------------------------------------------------------ Slice
def _slices(shape, starts, ends, axes, steps) -> tuple[slice, ...]:
    """ONNX Slice as Python slices: negative positions += dim, then clamp (differently per step sign).

    This is the spec's clamping; onnxruntime differs in one corner: it reads an end of INT64_MAX with a
    negative step as "through index 0", where the spec clamps it to dim - 1.
    """
    rank = len(shape)
    starts, ends = ints(starts), ints(ends)
    if len(starts) != len(ends):
        raise OpFormError(f"starts ({len(starts)}) and ends ({len(ends)}) differ in length")
    axes = norm_axes(range(len(starts)) if axes is None else ints(axes), rank)
    steps = [1] * len(starts) if steps is None else ints(steps)
    if len(axes) != len(starts) or len(steps) != len(starts):
        raise OpFormError("starts, ends, axes and steps must have the same length")
    out = [slice(None)] * rank
    for axis, s, e, t in zip(axes, starts, ends, steps):
        d = shape[axis]
        if t == 0:
            raise OpFormError("a step of 0")
        s = s + d if s < 0 else s
        e = e + d if e < 0 else e
        if t > 0:
            s, e = min(max(s, 0), d), min(max(e, 0), d)
        else:
            s, e = min(max(s, 0), d - 1), min(max(e, -1), d - 1)
        out[axis] = slice(s, None if e < 0 else e, t)  # e == -1: run through index 0
    return tuple(out)


def _sliced_shape(shape, slices) -> tuple[int, ...]:
    return tuple(len(range(*sl.indices(d))) for d, sl in zip(shape, slices))


@register
class Slice(Op):
    op_type = "Slice"
    defaults = {"starts": None, "ends": None, "axes": None}

    def _params(self, node, values, opset):
        """(starts, ends, axes, steps) from the attributes (opset < 10) or the input values."""
        if opset < 10:
            if "starts" not in node.attrs or "ends" not in node.attrs:
                raise OpFormError("attributes starts and ends are required")
            return node.attrs["starts"], node.attrs["ends"], node.attrs.get("axes"), None
        values = list(values) + [None] * (5 - len(values))
        if values[1] is None or values[2] is None:
            raise OpFormError("inputs starts and ends are required")
        return values[1], values[2], values[3], values[4]

    def infer(self, node, types, consts, opset):
        names = ["data", "starts", "ends", "axes", "steps"]
        values = [None] + [const_input(types, consts, i, names[i]) for i in range(1, len(types))]
        slices = _slices(types[0].shape, *self._params(node, values, opset))
        return [TensorType(_sliced_shape(types[0].shape, slices), types[0].dtype)]

    def reference(self, node, inputs, opset):
        return [inputs[0][_slices(inputs[0].shape, *self._params(node, inputs, opset))]]

    def backward(self, node, inputs, outputs, grads, opset):
        x = inputs[0]
        dx = np.zeros(x.shape)
        dx[_slices(x.shape, *self._params(node, inputs, opset))] = grads[0]
        return [dx] + [None] * (len(inputs) - 1)


# ------------------------------------------------------------------------------ Shape-valued ops
def _shape_input(value: np.ndarray | None, what: str) -> tuple[int, ...]:
    if value is None:
        raise OpFormError(f"{what} must be a constant", hint=_CONST_HINT)
    _int_data(value, what)
    if value.ndim > 1:
        raise OpFormError(f"{what} must be 1-D, not of shape {value.shape}")
    return tuple(ints(value))


@register
class ConstantOfShape(Op):
    op_type = "ConstantOfShape"
    defaults = {"value": None}

    def _value(self, node) -> np.ndarray:
        value = node.attrs.get("value")
        if value is None:
            return np.zeros((), np.float32)
        value = np.asarray(value)
        if value.size != 1:
            raise OpFormError(f"value must hold one element, not {value.size}")
        check_dtype(value.dtype, "value of type")
        return value.reshape(())

    def _shape(self, value):
        shape = _shape_input(value, "the shape input")
        if any(d < 0 for d in shape):
            raise OpFormError(f"negative dimension in shape {shape}")
        return shape

    def infer(self, node, types, consts, opset):
        return [TensorType(self._shape(consts[0]), self._value(node).dtype.name)]

    def reference(self, node, inputs, opset):
        value = self._value(node)
        return [np.full(self._shape(inputs[0]), value, dtype=value.dtype)]


@register
class Concat(Op):
    op_type = "Concat"
    defaults = {"axis": None}

    def infer(self, node, types, consts, opset):
        if "axis" not in node.attrs:
            raise OpFormError("attribute axis is required")
        present = [t for t in types if t is not None]
        if not present:
            raise OpFormError("no inputs")
        first = present[0]
        rank = len(first.shape)
        axis = norm_axis(node.attrs["axis"], rank)
        total = 0
        for t in present:
            if t.dtype != first.dtype:
                raise OpFormError(f"inputs mix {first.dtype} and {t.dtype}")
            if len(t.shape) != rank or any(a != b for k, (a, b) in enumerate(zip(t.shape, first.shape)) if k != axis):
                raise OpFormError(f"input shapes {[t.shape for t in present]} differ off axis {axis}")
            total += t.shape[axis]
        return [TensorType(first.shape[:axis] + (total,) + first.shape[axis + 1 :], first.dtype)]

    def reference(self, node, inputs, opset):
        arrays = [x for x in inputs if x is not None]
        axis = norm_axis(node.attrs["axis"], arrays[0].ndim)
        return [np.concatenate(arrays, axis=axis)]

    def backward(self, node, inputs, outputs, grads, opset):
        arrays = [x for x in inputs if x is not None]
        axis = norm_axis(node.attrs["axis"], arrays[0].ndim)
        parts = iter(np.split(d64(grads[0]), np.cumsum([x.shape[axis] for x in arrays])[:-1], axis=axis))
        return [None if x is None else next(parts) for x in inputs]


def _perm(node, rank: int) -> list[int]:
    perm = node.attrs.get("perm")
    if perm is None:
        return list(range(rank))[::-1]
    perm = [int(p) for p in perm]
    if sorted(perm) != list(range(rank)):
        raise OpFormError(f"perm {perm} is not a permutation of the {rank} axes")
    return perm


@register
class Transpose(Op):
    op_type = "Transpose"
    defaults = {"perm": None}

    def infer(self, node, types, consts, opset):
        shape = types[0].shape
        return [TensorType(tuple(shape[p] for p in _perm(node, len(shape))), types[0].dtype)]

    def reference(self, node, inputs, opset):
        return [np.transpose(inputs[0], _perm(node, inputs[0].ndim))]

    def backward(self, node, inputs, outputs, grads, opset):
        return [np.transpose(grads[0], np.argsort(_perm(node, inputs[0].ndim)))]


def _axes_form(node, values, opset: int, since: int) -> list[int] | None:
    """Axes as an attribute before opset ``since``, as an (optional) input from then on."""
    if opset < since:
        axes = node.attrs.get("axes")
        return None if axes is None else [int(a) for a in axes]
    if len(values) < 2 or values[1] is None:
        return None
    return ints(_int_data(values[1], "axes"))


def _axes_values(types, consts) -> list:
    return [None, const_input(types, consts, 1, "axes")] if len(types) > 1 else [None]


def _squeezed(shape: tuple[int, ...], axes: list[int] | None) -> tuple[int, ...]:
    if axes is None:
        return tuple(d for d in shape if d != 1)
    axes = norm_axes(axes, len(shape))
    for a in axes:
        if shape[a] != 1:
            raise OpFormError(f"cannot squeeze axis {a} of size {shape[a]} (shape {shape})")
    return tuple(d for k, d in enumerate(shape) if k not in axes)


def _unsqueezed(shape: tuple[int, ...], axes: list[int] | None) -> tuple[int, ...]:
    if axes is None:
        raise OpFormError("axes are required")
    rank = len(shape) + len(axes)
    axes = norm_axes(axes, rank)
    dims = iter(shape)
    return tuple(1 if k in axes else next(dims) for k in range(rank))


@register
class Squeeze(Op):
    op_type = "Squeeze"
    defaults = {"axes": None}

    def infer(self, node, types, consts, opset):
        axes = _axes_form(node, _axes_values(types, consts), opset, 13)
        return [TensorType(_squeezed(types[0].shape, axes), types[0].dtype)]

    def reference(self, node, inputs, opset):
        x = inputs[0]
        return [x.reshape(_squeezed(x.shape, _axes_form(node, inputs, opset, 13)))]

    def backward(self, node, inputs, outputs, grads, opset):
        return [grads[0].reshape(inputs[0].shape)] + [None] * (len(inputs) - 1)


@register
class Unsqueeze(Op):
    op_type = "Unsqueeze"
    defaults = {"axes": None}

    def infer(self, node, types, consts, opset):
        axes = _axes_form(node, _axes_values(types, consts), opset, 13)
        return [TensorType(_unsqueezed(types[0].shape, axes), types[0].dtype)]

    def reference(self, node, inputs, opset):
        x = inputs[0]
        return [x.reshape(_unsqueezed(x.shape, _axes_form(node, inputs, opset, 13)))]

    def backward(self, node, inputs, outputs, grads, opset):
        return [grads[0].reshape(inputs[0].shape)] + [None] * (len(inputs) - 1)


def _expanded(shape, target) -> tuple[int, ...]:
    target = _shape_input(target, "the shape input")
    try:
        return tuple(np.broadcast_shapes(tuple(shape), target))
    except ValueError:
        raise OpFormError(f"shape {tuple(shape)} does not broadcast with {target}") from None


@register
class Expand(Op):
    op_type = "Expand"

    def infer(self, node, types, consts, opset):
        return [TensorType(_expanded(types[0].shape, consts[1]), types[0].dtype)]

    def reference(self, node, inputs, opset):
        x = inputs[0]
        return [np.broadcast_to(x, _expanded(x.shape, inputs[1])).copy()]

    def backward(self, node, inputs, outputs, grads, opset):
        return [sum_to(grads[0], inputs[0].shape), None]


def _repeats(value, rank: int) -> list[int]:
    reps = list(_shape_input(value, "repeats"))
    if len(reps) != rank or any(r < 0 for r in reps):
        raise OpFormError(f"repeats {reps} must be {rank} non-negative counts")
    return reps


@register
class Tile(Op):
    op_type = "Tile"

    def infer(self, node, types, consts, opset):
        shape = types[0].shape
        reps = _repeats(consts[1], len(shape))
        return [TensorType(tuple(d * r for d, r in zip(shape, reps)), types[0].dtype)]

    def reference(self, node, inputs, opset):
        x = inputs[0]
        return [np.tile(x, _repeats(inputs[1], x.ndim))]


@register
class Split(Op):
    op_type = "Split"
    defaults = {"axis": 0, "split": None, "num_outputs": None}

    def _sizes(self, node, shape, split, opset) -> tuple[int, list[int]]:
        axis = norm_axis(node.attrs["axis"], len(shape))
        d = shape[axis]
        n = len(node.outputs)
        if opset < 13:
            split = node.attrs.get("split")
        if split is not None:
            sizes = ints(split)
            if len(sizes) != n or sum(sizes) != d or any(s < 0 for s in sizes):
                raise OpFormError(f"split {sizes} does not cut axis {axis} of size {d} into {n} outputs")
            return axis, sizes
        if "num_outputs" in node.attrs and node.attrs["num_outputs"] != n:
            raise OpFormError(f"num_outputs={node.attrs['num_outputs']} but the node has {n} outputs")
        if n < 1:
            raise OpFormError("no outputs")
        if opset >= 18 and "num_outputs" in node.attrs:
            # Equal chunks of ceil(d / n); the last takes what is left.
            chunk = -(-d // n)
            sizes = [chunk] * (n - 1) + [d - chunk * (n - 1)]
            if sizes[-1] < 0:
                raise OpFormError(f"axis {axis} of size {d} cannot be split into {n} outputs")
            return axis, sizes
        if d % n:
            raise OpFormError(f"axis {axis} of size {d} does not split evenly into {n} outputs")
        return axis, [d // n] * n

    def infer(self, node, types, consts, opset):
        split = const_input(types, consts, 1, "split") if opset >= 13 else None
        shape = types[0].shape
        axis, sizes = self._sizes(node, shape, split, opset)
        return [TensorType(shape[:axis] + (s,) + shape[axis + 1 :], types[0].dtype) for s in sizes]

    def reference(self, node, inputs, opset):
        x = inputs[0]
        split = inputs[1] if opset >= 13 and len(inputs) > 1 else None
        axis, sizes = self._sizes(node, x.shape, split, opset)
        bounds = np.cumsum(sizes)[:-1]
        return list(np.split(x, bounds, axis=axis))

    def backward(self, node, inputs, outputs, grads, opset):
        x = inputs[0]
        split = inputs[1] if opset >= 13 and len(inputs) > 1 else None
        axis, sizes = self._sizes(node, x.shape, split, opset)
        parts = [
            np.zeros(x.shape[:axis] + (s,) + x.shape[axis + 1 :]) if g is None else d64(g) for g, s in zip(grads, sizes)
        ]
        return [np.concatenate(parts, axis=axis)] + [None] * (len(inputs) - 1)


@register
class Range(Op):
    op_type = "Range"
    defaults = {"stash_type": None}

    @staticmethod
    def _count(start, limit, delta) -> int:
        if start.size != 1 or limit.size != 1 or delta.size != 1:
            raise OpFormError("start, limit and delta must be scalars")
        if not start.dtype == limit.dtype == delta.dtype:
            raise OpFormError(f"start, limit and delta mix types {start.dtype}, {limit.dtype}, {delta.dtype}")
        if start.dtype.kind in "iu":
            s, lim, dl = int(start.item()), int(limit.item()), int(delta.item())
            if dl == 0:
                raise OpFormError("delta is 0")
            return max(-((s - lim) // dl), 0)  # exact ceil((lim - s) / dl)
        s, lim, dl = float(start.item()), float(limit.item()), float(delta.item())
        if dl == 0 or not all(map(math.isfinite, (s, lim, dl))):
            raise OpFormError(f"cannot count range({s}, {lim}, {dl})")
        return max(math.ceil((lim - s) / dl), 0)

    def infer(self, node, types, consts, opset):
        names = ("start", "limit", "delta")
        values = [const_input(types, consts, i, names[i]) for i in range(3)]
        check_dtype(types[0].dtype, "type")
        return [TensorType((self._count(*values),), types[0].dtype)]

    def reference(self, node, inputs, opset):
        start, limit, delta = inputs
        n = self._count(start, limit, delta)
        if start.dtype.kind in "iu":
            return [(start.reshape(()) + np.arange(n, dtype=start.dtype) * delta.reshape(())).astype(start.dtype)]
        values = float(start.item()) + np.arange(n, dtype=np.float64) * float(delta.item())
        return [values.astype(start.dtype)]


# ------------------------------------------------------------------------------------------- Cast
def _cast(x: np.ndarray, dtype: str) -> np.ndarray:
    if x.dtype == dtype:
        return x
    # float -> int truncates like C; NaN/inf/out-of-range values are undefined in ONNX (C gives what it gives).
    with np.errstate(invalid="ignore", over="ignore"):
        return x.astype(dtype)


@register
class Cast(Op):
    op_type = "Cast"
    defaults = {"to": None, "saturate": 1, "round_mode": None}  # saturate/round_mode: float8 only

    def _to(self, node) -> str:
        if "to" not in node.attrs:
            raise OpFormError("attribute to is required")
        return onnx_dtype(node.attrs["to"], "cast to")

    def infer(self, node, types, consts, opset):
        check_dtype(types[0].dtype, "cast from")
        return [TensorType(types[0].shape, self._to(node))]

    def reference(self, node, inputs, opset):
        return [_cast(inputs[0], self._to(node))]

    def backward(self, node, inputs, outputs, grads, opset):
        """float -> float passes the gradient; a cast to or from an integer type has none."""
        if inputs[0].dtype.kind != "f" or np.dtype(self._to(node)).kind != "f":
            return [None]
        return [grads[0]]


@register
class CastLike(Op):
    op_type = "CastLike"
    defaults = {"saturate": 1, "round_mode": None}

    def infer(self, node, types, consts, opset):
        check_dtype(types[0].dtype, "cast from")
        return [TensorType(types[0].shape, check_dtype(types[1].dtype, "cast to"))]

    def reference(self, node, inputs, opset):
        return [_cast(inputs[0], check_dtype(inputs[1].dtype, "cast to"))]


# ------------------------------------------------------------------------ Generators and layouts
@register
class EyeLike(Op):
    op_type = "EyeLike"
    defaults = {"dtype": None, "k": 0}

    def _dtype(self, node, in_dtype) -> str:
        if "dtype" in node.attrs:
            return onnx_dtype(node.attrs["dtype"], "dtype")
        return check_dtype(in_dtype, "input type")

    def infer(self, node, types, consts, opset):
        if len(types[0].shape) != 2:
            raise OpFormError(f"input must be 2-D, not of shape {types[0].shape}")
        return [TensorType(types[0].shape, self._dtype(node, types[0].dtype))]

    def reference(self, node, inputs, opset):
        n, m = inputs[0].shape
        return [np.eye(n, m, k=node.attrs["k"], dtype=self._dtype(node, inputs[0].dtype))]


@register
class Trilu(Op):
    op_type = "Trilu"
    defaults = {"upper": 1}

    def infer(self, node, types, consts, opset):
        if len(types[0].shape) < 2:
            raise OpFormError(f"input must have rank >= 2, not shape {types[0].shape}")
        if len(types) > 1 and types[1] is not None:
            _int_type(types[1].dtype, "k")
            if types[1].size != 1:
                raise OpFormError("k must be a scalar")
        return [TensorType(types[0].shape, types[0].dtype)]

    def reference(self, node, inputs, opset):
        x = inputs[0]
        k = int(inputs[1].item()) if len(inputs) > 1 and inputs[1] is not None else 0
        # Clamp k so huge values (int64 extremes) do not overflow inside NumPy.
        k = min(max(k, -x.shape[-2] - 1), x.shape[-1] + 1)
        return [np.triu(x, k) if node.attrs["upper"] else np.tril(x, k)]


@register
class OneHot(Op):
    op_type = "OneHot"
    defaults = {"axis": -1}

    @staticmethod
    def _depth(value) -> int:
        if value is None:
            raise OpFormError("depth must be a constant", hint=_CONST_HINT)
        if value.size != 1:
            raise OpFormError("depth must be a scalar")
        depth = float(value.item())
        if not math.isfinite(depth) or depth < 1:
            raise OpFormError(f"depth must be positive, not {depth}")
        return int(depth)

    @staticmethod
    def _axis(node, rank: int) -> int:
        return norm_axis(node.attrs["axis"], rank + 1)

    def infer(self, node, types, consts, opset):
        depth = self._depth(consts[1])
        idx, values = types[0], types[2]
        check_dtype(idx.dtype, "indices of type")
        if values.size != 2:
            raise OpFormError(f"values must hold [off, on], not {values.size} elements")
        axis = self._axis(node, len(idx.shape))
        return [TensorType(idx.shape[:axis] + (depth,) + idx.shape[axis:], check_dtype(values.dtype, "values of type"))]

    def reference(self, node, inputs, opset):
        idx, depth, values = inputs
        depth = self._depth(depth)
        axis = self._axis(node, idx.ndim)
        off, on = values.reshape(-1)
        if idx.dtype.kind == "f":
            idx = _cast(idx, "int64")  # ONNX casts float indices to integers
        idx = idx.astype(np.int64)
        idx = np.where(idx < 0, idx + depth, idx)  # out-of-range ones match no position
        positions = np.arange(depth).reshape((depth,) + (1,) * (idx.ndim - axis))
        hot = np.expand_dims(idx, axis) == positions
        return [np.where(hot, on, off).astype(values.dtype)]


def _block(node, shape, to_space: bool) -> tuple[int, int, int, int, int]:
    if len(shape) != 4:
        raise OpFormError(f"input must be 4-D (N, C, H, W), not of shape {shape}")
    if node.attrs.get("mode", "DCR") not in ("DCR", "CRD"):
        raise OpFormError(f"mode {node.attrs['mode']!r} is not DCR or CRD")
    b = node.attrs.get("blocksize")
    if b is None or b < 1:
        raise OpFormError("attribute blocksize must be a positive integer")
    n, c, h, w = shape
    if to_space and c % (b * b):
        raise OpFormError(f"channels {c} are not a multiple of blocksize^2 = {b * b}")
    if not to_space and (h % b or w % b):
        raise OpFormError(f"height {h} and width {w} must be multiples of blocksize {b}")
    return b, n, c, h, w


@register
class DepthToSpace(Op):
    op_type = "DepthToSpace"
    defaults = {"blocksize": None, "mode": "DCR"}

    def infer(self, node, types, consts, opset):
        b, n, c, h, w = _block(node, types[0].shape, True)
        return [TensorType((n, c // (b * b), h * b, w * b), types[0].dtype)]

    def reference(self, node, inputs, opset):
        x = inputs[0]
        b, n, c, h, w = _block(node, x.shape, True)
        if node.attrs["mode"] == "DCR":  # channel index = (row * b + col) * C' + c'
            y = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
        else:  # CRD: channel index = (c' * b + row) * b + col
            y = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
        return [y.reshape(n, c // (b * b), h * b, w * b)]


@register
class SpaceToDepth(Op):
    op_type = "SpaceToDepth"
    defaults = {"blocksize": None, "mode": "DCR"}

    def infer(self, node, types, consts, opset):
        b, n, c, h, w = _block(node, types[0].shape, False)
        return [TensorType((n, c * b * b, h // b, w // b), types[0].dtype)]

    def reference(self, node, inputs, opset):
        x = inputs[0]
        b, n, c, h, w = _block(node, x.shape, False)
        t = x.reshape(n, c, h // b, b, w // b, b)  # (n, c, h', row, w', col)
        if node.attrs["mode"] == "DCR":
            t = t.transpose(0, 3, 5, 1, 2, 4)
        else:
            t = t.transpose(0, 1, 3, 5, 2, 4)
        return [t.reshape(n, c * b * b, h // b, w // b)]
