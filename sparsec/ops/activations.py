"""Unary elementwise ops (activations and math functions): same shape and type in, out.

Float tensors are computed in float64 with overflow-free formulas and rounded to float32 once;
Abs, Neg and Sign also take integer tensors and keep their type (shape arithmetic).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from . import Op, OpFormError, d64, register, sum_to
from .binary import check_kind, kind, present


def _f32(value: float) -> float:
    """ONNX float attributes are float32: defaults must round the same way a stored value does."""
    return float(np.float32(value))


class Unary(Op):
    """Same shape and type out as in; ``fn(x, **attrs)`` gets float64 for float tensors."""

    kinds: ClassVar[tuple[str, ...]] = ("float",)

    @staticmethod
    def fn(x, **attrs):
        raise NotImplementedError

    def infer(self, node, types, consts, opset):
        if len(types) != 1:
            raise OpFormError(f"expected 1 input, got {len(types)}")
        (x,) = present(self.op_type, types)
        check_kind(self.op_type, x, self.kinds)
        return [x]

    def reference(self, node, inputs, opset):
        x = inputs[0]
        with np.errstate(all="ignore"):  # inf/NaN results are the IEEE semantics
            y = self.fn(x.astype(np.float64) if kind(x.dtype) == "float" else x, **node.attrs)
            return [np.asarray(y, dtype=x.dtype)]

    def backward(self, node, inputs, outputs, grads, opset):
        derivative = _DERIVATIVES.get(self.op_type)
        x = inputs[0]
        if derivative is None or kind(x.dtype) != "float":
            return super().backward(node, inputs, outputs, grads, opset)
        with np.errstate(all="ignore"):
            return [d64(grads[0]) * derivative(d64(x), **node.attrs)]


def _unary(op_type: str, fn, defaults: dict | None = None, kinds: tuple[str, ...] = ("float",)) -> None:
    """Register ``op_type`` computing ``fn(x, **attrs)`` (float64 for float tensors, native for integers)."""
    attrs = {"op_type": op_type, "fn": staticmethod(fn), "defaults": defaults or {}, "kinds": kinds}
    register(type(op_type, (Unary,), attrs))


def sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))  # never overflows
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)  # log(1 + e^x) without overflow for large x


def _vectorize(f):
    ufunc = np.frompyfunc(f, 1, 1)  # exact libm erf/erfc; NumPy has none
    return lambda x: np.asarray(ufunc(x), dtype=np.float64)


erf = _vectorize(math.erf)
erfc = _vectorize(math.erfc)


def gelu(x: np.ndarray, approximate: str) -> np.ndarray:
    if approximate == "tanh":
        # 0.5 (1 + tanh(u)) == sigmoid(2u), which keeps the tail for large negative x.
        return x * sigmoid(2.0 * math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3))
    # 0.5 (1 + erf(x / sqrt 2)) == 0.5 erfc(-x / sqrt 2), likewise.
    return 0.5 * x * erfc(-x / math.sqrt(2.0))


_unary("Sigmoid", sigmoid)
_unary("Tanh", np.tanh)
_unary("Softplus", softplus)
_unary("Softsign", lambda x: x / (1.0 + np.abs(x)))
_unary("Mish", lambda x: x * np.tanh(softplus(x)))
_unary("LeakyRelu", lambda x, alpha: np.where(x < 0, alpha * x, x), {"alpha": _f32(0.01)})
_unary("ThresholdedRelu", lambda x, alpha: np.where(x > alpha, x, 0.0), {"alpha": 1.0})
_unary("Elu", lambda x, alpha: np.where(x < 0, alpha * np.expm1(x), x), {"alpha": 1.0})
_unary(
    "Selu",
    lambda x, alpha, gamma: gamma * np.where(x <= 0, alpha * np.expm1(x), x),
    {"alpha": _f32(1.67326319217681884765625), "gamma": _f32(1.05070102214813232421875)},
)
_unary(
    "Celu",
    lambda x, alpha: np.maximum(x, 0.0) + np.minimum(0.0, alpha * np.expm1(x / alpha)),
    {"alpha": 1.0},
)
_unary(
    "HardSigmoid",
    lambda x, alpha, beta: np.clip(alpha * x + beta, 0.0, 1.0),
    {"alpha": _f32(0.2), "beta": 0.5},
)
_unary("HardSwish", lambda x: x * np.clip(x / 6.0 + 0.5, 0.0, 1.0))
_unary("Exp", np.exp)
_unary("Log", np.log)
_unary("Sqrt", np.sqrt)
_unary("Reciprocal", lambda x: 1.0 / x)
_unary("Floor", np.floor)
_unary("Ceil", np.ceil)
_unary("Round", np.round)  # half to even, like ONNX
_unary("Erf", erf)
_unary("Sin", np.sin)
_unary("Cos", np.cos)
_unary("Abs", np.abs, kinds=("float", "int", "uint"))
_unary("Neg", np.negative, kinds=("float", "int"))
_unary("Sign", np.sign, kinds=("float", "int", "uint"))


def _gelu_derivative(x: np.ndarray, approximate: str) -> np.ndarray:
    if approximate == "tanh":
        c = math.sqrt(2.0 / math.pi)
        s = sigmoid(2.0 * c * (x + 0.044715 * x**3))
        return s + x * s * (1.0 - s) * 2.0 * c * (1.0 + 3 * 0.044715 * x**2)
    return 0.5 * erfc(-x / math.sqrt(2.0)) + x * np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _hard_swish_derivative(x: np.ndarray) -> np.ndarray:
    return np.where(x < -3.0, 0.0, np.where(x > 3.0, 1.0, x / 3.0 + 0.5))


#: dy/dx of the unary ops, from x (float64) and the node's attributes; kinks take the right side.
_DERIVATIVES = {
    "Sigmoid": lambda x: sigmoid(x) * (1.0 - sigmoid(x)),
    "Tanh": lambda x: 1.0 - np.tanh(x) ** 2,
    "Softplus": sigmoid,
    "Softsign": lambda x: 1.0 / (1.0 + np.abs(x)) ** 2,
    "Mish": lambda x: np.tanh(softplus(x)) + x * sigmoid(x) * (1.0 - np.tanh(softplus(x)) ** 2),
    "LeakyRelu": lambda x, alpha: np.where(x < 0, alpha, 1.0),
    "ThresholdedRelu": lambda x, alpha: np.where(x > alpha, 1.0, 0.0),
    "Elu": lambda x, alpha: np.where(x < 0, alpha * np.exp(x), 1.0),
    "Selu": lambda x, alpha, gamma: gamma * np.where(x <= 0, alpha * np.exp(x), 1.0),
    "Celu": lambda x, alpha: np.where(x > 0, 1.0, np.exp(x / alpha)),
    "HardSigmoid": lambda x, alpha, beta: np.where((alpha * x + beta > 0) & (alpha * x + beta < 1), alpha, 0.0),
    "HardSwish": _hard_swish_derivative,
    "Exp": np.exp,
    "Log": lambda x: 1.0 / x,
    "Sqrt": lambda x: 0.5 / np.sqrt(x),
    "Reciprocal": lambda x: -1.0 / (x * x),
    "Erf": lambda x: 2.0 / math.sqrt(math.pi) * np.exp(-x * x),
    "Sin": np.cos,
    "Cos": lambda x: -np.sin(x),
    "Abs": np.sign,
    "Neg": lambda x: -np.ones_like(x),
    "Gelu": _gelu_derivative,
}


@register
class Gelu(Unary):
    op_type = "Gelu"
    defaults = {"approximate": "none"}

    def attributes(self, attrs, opset):
        attrs = super().attributes(attrs, opset)
        if attrs["approximate"] not in ("none", "tanh"):
            raise OpFormError(f"approximate='{attrs['approximate']}' is not supported", hint="Use 'none' or 'tanh'")
        return attrs

    fn = staticmethod(gelu)


@register
class PRelu(Op):
    """x if x >= 0 else slope * x; slope broadcasts unidirectionally to X (the output has X's shape)."""

    op_type = "PRelu"

    def infer(self, node, types, consts, opset):
        if len(types) != 2:
            raise OpFormError(f"expected 2 inputs, got {len(types)}")
        x, slope = present(self.op_type, types, ("X", "slope"))
        check_kind(self.op_type, x, ("float", "int", "uint"))
        if slope.dtype != x.dtype:
            raise OpFormError(f"slope is {slope.dtype} but X is {x.dtype}", hint="Insert a Cast")
        try:
            ok = len(slope.shape) <= len(x.shape) and np.broadcast_shapes(x.shape, slope.shape) == x.shape
        except ValueError:
            ok = False
        if not ok:
            raise OpFormError(
                f"slope of shape {slope.shape} does not broadcast to X of shape {x.shape}",
                hint="ONNX PRelu broadcasts slope to X only (unidirectionally), e.g. [C, 1, 1] for NCHW",
            )
        return [x]

    def reference(self, node, inputs, opset):
        x, slope = inputs
        if kind(x.dtype) == "float":
            x, slope = x.astype(np.float64), slope.astype(np.float64)
        with np.errstate(all="ignore"):
            return [np.asarray(np.where(x < 0, slope * x, x), dtype=inputs[0].dtype)]

    def backward(self, node, inputs, outputs, grads, opset):
        x, slope = d64(inputs[0]), d64(inputs[1])
        g = d64(grads[0])
        neg = x < 0
        return [g * np.where(neg, slope, 1.0), sum_to(np.where(neg, g * x, 0.0), slope.shape)]


@register
class Clip(Op):
    """min(max(x, lo), hi); lo/hi default to the type's lowest/highest value (so -inf becomes
    -FLT_MAX, as in the ONNX spec and onnxruntime), and lo > hi gives hi everywhere.

    Opset < 11: attributes min/max; opset >= 11: optional scalar inputs min/max.
    """

    op_type = "Clip"
    defaults = {"min": None, "max": None}

    def attributes(self, attrs, opset):
        if opset >= 11 and attrs:
            raise OpFormError(
                f"attribute(s) {sorted(attrs)} are not supported from opset 11",
                hint="min and max are inputs from opset 11",
            )
        return super().attributes(attrs, opset)

    def infer(self, node, types, consts, opset):
        if not 1 <= len(types) <= (3 if opset >= 11 else 1):
            raise OpFormError(f"unexpected number of inputs ({len(types)})")
        x = present(self.op_type, types[:1], ("input",))[0]
        check_kind(self.op_type, x, ("float", "int", "uint"))
        for name, t in zip(("min", "max"), types[1:]):
            if t is None:
                continue
            if t.dtype != x.dtype:
                raise OpFormError(f"{name} is {t.dtype} but the input is {x.dtype}", hint="Insert a Cast")
            if t.size != 1:
                raise OpFormError(f"{name} must be a scalar, got shape {t.shape}")
        return [x]

    def reference(self, node, inputs, opset):
        x = inputs[0]
        info = np.finfo(x.dtype) if kind(x.dtype) == "float" else np.iinfo(x.dtype)
        if opset >= 11:
            bounds = list(inputs[1:3]) + [None] * (3 - len(inputs))
        else:
            bounds = [node.attrs.get("min"), node.attrs.get("max")]
        lo = info.min if bounds[0] is None else np.asarray(bounds[0]).reshape(())
        hi = info.max if bounds[1] is None else np.asarray(bounds[1]).reshape(())
        # NumPy's maximum/minimum propagate NaN from x, like onnxruntime.
        return [np.asarray(np.minimum(np.maximum(x, lo), hi), dtype=x.dtype)]

    def backward(self, node, inputs, outputs, grads, opset):
        """Passes where lo <= x <= hi (as torch.clamp); the bounds get no gradient."""
        x = inputs[0]
        if kind(x.dtype) != "float":
            return super().backward(node, inputs, outputs, grads, opset)
        y = self.reference(node, inputs, opset)[0]
        return [np.where(y == x, d64(grads[0]), 0.0)] + [None] * (len(inputs) - 1)

    def clamp_range(self, node, consts, opset):
        """Constant float bounds (omitted: +-FLT_MAX) let a producing layer's kernel apply them."""
        if opset >= 11:
            bounds = list(consts[1:3]) + [None] * (3 - len(consts))
            if any(i and c is None for i, c in zip(node.inputs[1:3], bounds)):
                return None
        else:
            bounds = [node.attrs.get("min"), node.attrs.get("max")]
        big = float(np.finfo(np.float32).max)
        lo = -big if bounds[0] is None else float(np.asarray(bounds[0], np.float32).reshape(()))
        hi = big if bounds[1] is None else float(np.asarray(bounds[1], np.float32).reshape(()))
        return lo, hi  # lo > hi gives hi everywhere, in the kernel as in the reference

    def lower(self, node, ctx):
        bounds = self.clamp_range(node, [ctx.const(i) if i else None for i in node.inputs], ctx.opset)
        if bounds is None or ctx.type(node.inputs[0]).dtype != "float32":
            raise OpFormError("only Clip of float32 by constant bounds is compiled", hint="Make min/max constants")
        ctx.clamp(node, node.inputs[0], *bounds)
