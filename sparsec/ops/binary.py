"""Elementwise binary, variadic, comparison and logical ops with multidirectional (NumPy) broadcasting.

float32 tensors are computed in float64 and rounded back once; integer tensors keep their dtype
and ONNX/onnxruntime integer semantics (Div truncates, Mod follows ``fmod``), which is what the
int64 shape arithmetic of torch exports relies on.
"""

from __future__ import annotations

import functools
from typing import ClassVar

import numpy as np

from ..ir import TensorType
from . import Op, OpFormError, d64, register, sum_to

NUMERIC = ("float", "int", "uint")


def kind(dtype: str | np.dtype) -> str:
    """'float', 'int' (signed), 'uint', 'bool', or the dtype name for anything else (strings...)."""
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return "bool"
    if np.issubdtype(dt, np.floating):
        return "float"
    if np.issubdtype(dt, np.signedinteger):
        return "int"
    if np.issubdtype(dt, np.unsignedinteger):
        return "uint"
    return dt.name


def check_kind(op: str, t: TensorType, kinds: tuple[str, ...], what: str = "input") -> None:
    if kind(t.dtype) not in kinds:
        names = {"float": "float32", "int": "signed integer", "uint": "unsigned integer", "bool": "bool"}
        raise OpFormError(
            f"{what} of type {t.dtype} is not supported",
            hint=f"{op} takes {' or '.join(names[k] for k in kinds)} tensors",
        )


def broadcast(types: list[TensorType]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*(t.shape for t in types)))
    except ValueError:
        shapes = " and ".join(str(t.shape) for t in types)
        raise OpFormError(f"shapes {shapes} do not broadcast") from None


def present(op: str, types: list[TensorType | None], names: tuple[str, ...] | None = None) -> list[TensorType]:
    """The input types, all required: an omitted ("") one is a malformed node."""
    for i, t in enumerate(types):
        if t is None:
            raise OpFormError(f"input {names[i] if names and i < len(names) else i} is required")
    if not types:
        raise OpFormError(f"{op} needs at least one input")
    return list(types)


class Elementwise(Op):
    """Inputs of one dtype from ``kinds``, broadcast together; ``compute`` sees float64 for float tensors."""

    kinds: ClassVar[tuple[str, ...]] = NUMERIC
    arity: ClassVar[int | None] = 2  # None: variadic, one or more
    out_dtype: ClassVar[str | None] = None  # None: the inputs' dtype
    promote: ClassVar[bool] = True  # float tensors in float64 (exact ops like Max need not)

    def compute(self, attrs, opset, *xs):
        raise NotImplementedError

    def check(self, node, types, opset) -> None:
        """Extra per-op validation (attribute/dtype combinations)."""

    def infer(self, node, types, consts, opset):
        if self.arity is not None and len(types) != self.arity:
            raise OpFormError(f"expected {self.arity} inputs, got {len(types)}")
        types = present(self.op_type, types)
        check_kind(self.op_type, types[0], self.kinds)
        for t in types[1:]:
            if t.dtype != types[0].dtype:
                raise OpFormError(
                    f"inputs have different types ({', '.join(t.dtype for t in types)})",
                    hint="ONNX requires one element type for all inputs; insert a Cast",
                )
        self.check(node, types, opset)
        return [TensorType(broadcast(types), self.out_dtype or types[0].dtype)]

    def reference(self, node, inputs, opset):
        dtype = inputs[0].dtype
        if self.promote and kind(dtype) == "float":
            inputs = [x.astype(np.float64) for x in inputs]
        with np.errstate(all="ignore"):  # inf/NaN are the IEEE semantics; integer /0 is undefined
            y = self.compute(node.attrs, opset, *inputs)
            return [np.asarray(y, dtype=self.out_dtype or dtype)]

    def backward(self, node, inputs, outputs, grads, opset):
        rule = _GRADIENTS.get(self.op_type)
        if rule is None or kind(inputs[0].dtype) != "float":
            return super().backward(node, inputs, outputs, grads, opset)
        xs = [d64(x) for x in inputs]
        with np.errstate(all="ignore"):
            return [sum_to(d, x.shape) for d, x in zip(rule(d64(grads[0]), *xs), xs)]


def _binary(op_type: str, fn, kinds: tuple[str, ...] = NUMERIC, out_dtype: str | None = None) -> type[Op]:
    """Register a plain binary op whose NumPy ufunc already has the ONNX semantics."""
    cls = type(
        op_type,
        (Elementwise,),
        {
            "op_type": op_type,
            "kinds": kinds,
            "out_dtype": out_dtype,
            "promote": out_dtype is None,
            "compute": lambda self, attrs, opset, a, b: fn(a, b),
            "__doc__": f"ONNX {op_type} ({fn.__name__}).",
        },
    )
    return register(cls)


@register
class Add(Elementwise):
    op_type = "Add"

    def compute(self, attrs, opset, a, b):
        return np.add(a, b)

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


_binary("Sub", np.subtract)
_binary("Mul", np.multiply)


def trunc_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer division rounding toward zero (C, onnxruntime), exact for all int64 values.

    Division by zero is undefined in ONNX (onnxruntime traps); it gives 0 here.
    """
    safe = np.where(b == 0, 1, b).astype(b.dtype)
    q = np.floor_divide(a, safe)
    inexact = (a - q * safe) != 0
    q = q + (inexact & ((a < 0) != (safe < 0))).astype(q.dtype)
    return np.where(b == 0, 0, q)


@register
class Div(Elementwise):
    op_type = "Div"

    def compute(self, attrs, opset, a, b):
        return np.divide(a, b) if kind(a.dtype) == "float" else trunc_div(a, b)


@register
class Mod(Elementwise):
    """fmod=0: result has the sign of the divisor (Python %), fmod=1: sign of the dividend (C fmod)."""

    op_type = "Mod"
    defaults = {"fmod": 0}

    def attributes(self, attrs, opset):
        attrs = super().attributes(attrs, opset)
        if attrs["fmod"] not in (0, 1):
            raise OpFormError(f"fmod={attrs['fmod']} is not supported", hint="fmod must be 0 or 1")
        return attrs

    def check(self, node, types, opset):
        if kind(types[0].dtype) == "float" and not node.attrs["fmod"] and opset < 28:
            raise OpFormError(
                f"Mod of float tensors needs fmod=1 before opset 28 (this model has opset {opset})",
                hint="Set fmod=1 (C fmod semantics)",
            )

    def compute(self, attrs, opset, a, b):
        if kind(a.dtype) != "float":  # integer x % 0 is undefined in ONNX; 0 here, no trap
            safe = np.where(b == 0, 1, b).astype(b.dtype)
            r = np.fmod(a, safe) if attrs["fmod"] else np.mod(a, safe)
            return np.where(b == 0, 0, r)
        return np.fmod(a, b) if attrs["fmod"] else np.mod(a, b)


@register
class Pow(Elementwise):
    """Base and exponent may have different types; the result has the base's type."""

    op_type = "Pow"
    kinds = ("float", "int")

    def infer(self, node, types, consts, opset):
        if len(types) != 2:
            raise OpFormError(f"expected 2 inputs, got {len(types)}")
        base, exponent = present(self.op_type, types, ("X", "Y"))
        check_kind(self.op_type, base, self.kinds, "base X")
        check_kind(self.op_type, exponent, NUMERIC, "exponent Y")
        return [TensorType(broadcast([base, exponent]), base.dtype)]

    def reference(self, node, inputs, opset):
        base, exp = inputs
        with np.errstate(all="ignore"):
            if kind(base.dtype) == "float" or kind(exp.dtype) == "float":
                y = np.power(base.astype(np.float64), exp.astype(np.float64))
                if kind(base.dtype) != "float":
                    y = np.trunc(y)  # onnxruntime converts the real power to the integer type
                return [np.asarray(y, dtype=base.dtype)]
            # Integer ** integer, exact (NumPy refuses negative exponents: x**-n truncates to 0
            # unless |x| == 1).
            neg = exp < 0
            y = np.power(base, np.where(neg, 0, exp).astype(base.dtype))
            odd = (exp % 2) != 0
            small = np.where(base == 1, 1, np.where(base == -1, np.where(odd, -1, 1), 0))
            return [np.asarray(np.where(neg, small, y), dtype=base.dtype)]


def _variadic(op_type: str, fn, kinds: tuple[str, ...], promote: bool) -> type[Op]:
    cls = type(
        op_type,
        (Elementwise,),
        {
            "op_type": op_type,
            "kinds": kinds,
            "arity": None,
            "promote": promote,
            "compute": lambda self, attrs, opset, *xs: fn(xs),
            "__doc__": f"ONNX {op_type} over one or more inputs.",
        },
    )
    return register(cls)


def _reduce(ufunc):
    return lambda xs: functools.reduce(ufunc, xs)


_variadic("Min", _reduce(np.minimum), NUMERIC, promote=False)  # NaN propagates, like onnxruntime
_variadic("Max", _reduce(np.maximum), NUMERIC, promote=False)
_variadic("Sum", _reduce(np.add), ("float",), promote=True)
_variadic("Mean", lambda xs: _reduce(np.add)(xs) / len(xs), ("float",), promote=True)

_binary("Equal", np.equal, NUMERIC + ("bool",), out_dtype="bool")
_binary("Less", np.less, out_dtype="bool")
_binary("Greater", np.greater, out_dtype="bool")
_binary("LessOrEqual", np.less_equal, out_dtype="bool")
_binary("GreaterOrEqual", np.greater_equal, out_dtype="bool")
_binary("And", np.logical_and, ("bool",), out_dtype="bool")
_binary("Or", np.logical_or, ("bool",), out_dtype="bool")
_binary("Xor", np.logical_xor, ("bool",), out_dtype="bool")


@register
class Not(Elementwise):
    op_type = "Not"
    kinds = ("bool",)
    arity = 1

    def compute(self, attrs, opset, x):
        return np.logical_not(x)


def _pow_gradient(g, a, b):
    y = np.power(a, b)
    log_a = np.log(np.where(a > 0, a, 1.0))  # d/db is defined for a > 0 only; 0 elsewhere
    return [g * b * np.power(a, b - 1.0), g * y * log_a]


#: Gradient rules of the float elementwise ops: (dL/dy, *inputs in float64) -> dL/d each input
#: at the broadcast shape (the caller sums them back to each input's shape).
_GRADIENTS = {
    "Add": lambda g, a, b: [g, g],
    "Sub": lambda g, a, b: [g, -g],
    "Mul": lambda g, a, b: [g * b, g * a],
    "Div": lambda g, a, b: [g / b, -g * a / (b * b)],
    "Pow": _pow_gradient,
    "Sum": lambda g, *xs: [g] * len(xs),
    "Mean": lambda g, *xs: [g / len(xs)] * len(xs),
}


@register
class Where(Op):
    """Where(condition, X, Y): condition is bool; X and Y share any type; all three broadcast."""

    op_type = "Where"

    def infer(self, node, types, consts, opset):
        if len(types) != 3:
            raise OpFormError(f"expected 3 inputs, got {len(types)}")
        cond, x, y = present(self.op_type, types, ("condition", "X", "Y"))
        check_kind(self.op_type, cond, ("bool",), "condition")
        check_kind(self.op_type, x, NUMERIC + ("bool",), "X")
        if x.dtype != y.dtype:
            raise OpFormError(f"X and Y have different types ({x.dtype}, {y.dtype})", hint="Insert a Cast")
        return [TensorType(broadcast([cond, x, y]), x.dtype)]

    def reference(self, node, inputs, opset):
        cond, x, y = inputs
        return [np.asarray(np.where(cond, x, y), dtype=x.dtype)]

    def backward(self, node, inputs, outputs, grads, opset):
        cond, x, y = inputs
        if kind(x.dtype) != "float":
            return super().backward(node, inputs, outputs, grads, opset)
        g = d64(grads[0])
        return [None, sum_to(np.where(cond, g, 0.0), x.shape), sum_to(np.where(cond, 0.0, g), y.shape)]
