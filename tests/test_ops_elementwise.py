"""Elementwise ops (activations, math, arithmetic, comparison, logic, Where, LogSoftmax) vs onnxruntime.

Float cases feed graph inputs; integer and bool operands are initializers (sparsec's graph inputs
are float32), so those nodes are folded at load time by the same ``reference`` code.
"""

from __future__ import annotations

import numpy as np
import pytest
from models import Builder, single_op
from test_reference import raises_unsupported, rnd
from test_reference import check_against_ort as check

from sparsec import ops
from sparsec.frontend import load_graph
from sparsec.ir import Node, TensorType
from sparsec.reference import run

F32 = np.float32
I64 = np.int64


SPECIAL = np.array(
    [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 3.4e38, -3.4e38, -1.0, 1.0, 2.5, -2.5, 0.5, -0.5, 100, -100],
    dtype=F32,
)

# op -> (attribute variants, opset, input scale); the first variant is the defaults.
UNARY = {
    "Sigmoid": ([{}], 13, 50.0),
    "Tanh": ([{}], 13, 10.0),
    "Softplus": ([{}], 13, 50.0),
    "Softsign": ([{}], 13, 10.0),
    "Mish": ([{}], 18, 10.0),
    "LeakyRelu": ([{}, {"alpha": 0.3}], 16, 1.0),
    "ThresholdedRelu": ([{}, {"alpha": 0.25}, {"alpha": -1.0}], 10, 2.0),
    "Elu": ([{}, {"alpha": 0.4}], 7, 3.0),
    "Selu": ([{}, {"alpha": 2.0, "gamma": 0.5}], 7, 3.0),
    "Celu": ([{}, {"alpha": 2.5}], 12, 3.0),
    "HardSigmoid": ([{}, {"alpha": 0.5, "beta": 0.25}], 7, 4.0),
    "HardSwish": ([{}], 14, 5.0),
    "Gelu": ([{}, {"approximate": "tanh"}], 20, 4.0),
    "Exp": ([{}], 13, 30.0),
    "Log": ([{}], 13, 1.0),
    "Sqrt": ([{}], 13, 1.0),
    "Reciprocal": ([{}], 13, 1.0),
    "Floor": ([{}], 13, 3.0),
    "Ceil": ([{}], 13, 3.0),
    "Round": ([{}], 11, 3.0),
    "Erf": ([{}], 13, 2.0),
    "Sign": ([{}], 13, 1.0),
    "Sin": ([{}], 7, 3.0),
    "Cos": ([{}], 7, 3.0),
    "Abs": ([{}], 13, 1.0),
    "Neg": ([{}], 13, 1.0),
}
# Where onnxruntime's float32 kernels differ from the exact value (we compute in float64):
# approximations of erf/tanh accurate to a few ulp.
UNARY_TOL = {"Erf": 1e-6, "Gelu": 1e-6, "Mish": 2e-6, "Tanh": 1e-6, "Sigmoid": 1e-6}


def unary_cases():
    for op, (variants, opset, scale) in UNARY.items():
        for k, attrs in enumerate(variants):
            yield pytest.param(op, attrs, opset, scale, id=f"{op}-{k}" if k else op)


@pytest.mark.parametrize("op,attrs,opset,scale", list(unary_cases()))
def test_unary(op, attrs, opset, scale):
    tol = UNARY_TOL.get(op, 1e-5)
    for shape in ((), (2, 3, 4)):
        check(single_op(op, [("x", shape)], attrs, opset=opset), scale=scale, tol=tol)
    # Values where the formulas overflow or cancel if written naively, plus NaN/inf/denormals.
    check(single_op(op, [("x", SPECIAL.shape)], attrs, opset=opset), {"x": SPECIAL}, tol=tol)


def test_numerically_careful_tails():
    x = np.array([-1000, -100, -30, 30, 100, 1000, 3e38], dtype=F32)
    y = {op: run(load_graph(single_op(op, [("x", x.shape)])), {"x": x})["y"] for op in ("Sigmoid", "Softplus")}
    assert np.all(np.isfinite(y["Sigmoid"])) and y["Sigmoid"][0] == 0 and y["Sigmoid"][-1] == 1
    assert y["Sigmoid"][2] > 0  # e^-30 is representable: no underflow to 0 from 1 - 1
    np.testing.assert_array_equal(y["Softplus"][3:], x[3:])
    assert 0 < y["Softplus"][2] < 1e-12


@pytest.mark.parametrize("dtype", [I64, np.int32])
@pytest.mark.parametrize("op", ["Abs", "Neg", "Sign"])
def test_unary_integer_keeps_dtype(op, dtype):
    x = np.array([[-7, 0, 5], [np.iinfo(dtype).max, -1, 1]], dtype=dtype)
    out = check(single_op(op, [x]))
    assert out["y"].dtype == dtype


def test_unary_rejects_integer_for_float_ops():
    op = ops.get("Exp")
    with pytest.raises(ops.OpFormError, match="int64"):
        op.infer(Node("Exp", "n", ("x",), ("y",)), [TensorType((2,), "int64")], [None], 13)


def test_gelu_bad_approximate():
    raises_unsupported(single_op("Gelu", [("x", (3,))], {"approximate": "erf"}, opset=20), "Gelu", "approximate")


# ------------------------------------------------------------------------------------- PRelu
PRELU_SLOPES = {
    "scalar": ((2, 3, 4, 4), ()),
    "one": ((2, 3, 4, 4), (1,)),
    "channel-C11": ((2, 3, 4, 4), (3, 1, 1)),
    "last-dim": ((2, 3, 4, 4), (4,)),
    "1C11": ((2, 3, 4, 4), (1, 3, 1, 1)),
    "full": ((2, 3), (2, 3)),
    "2d-channel": ((5, 3), (3,)),
}


@pytest.mark.parametrize("slope_const", [True, False], ids=["slope-const", "slope-input"])
@pytest.mark.parametrize("x_shape,s_shape", PRELU_SLOPES.values(), ids=PRELU_SLOPES.keys())
def test_prelu(x_shape, s_shape, slope_const):
    slope = rnd(*s_shape, seed=9) if slope_const else ("slope", s_shape)
    check(single_op("PRelu", [("x", x_shape), slope], opset=16))


def test_prelu_special_and_int():
    check(single_op("PRelu", [("x", SPECIAL.shape), np.array([0.1], F32)], opset=9), {"x": SPECIAL})
    check(single_op("PRelu", [np.array([[-3, 4], [5, -6]], I64), np.array([2, -1], I64)], opset=16))


def test_prelu_slope_must_broadcast_to_x():
    # onnxruntime would broadcast both ways ([3, 1] x [4] -> [3, 4]); ONNX says the output has X's shape.
    raises_unsupported(single_op("PRelu", [("x", (3, 1)), rnd(4)], opset=16), "PRelu", "slope", "(4,)")


# -------------------------------------------------------------------------------------- Clip
CLIP_FORMS = {
    "opset10-default": (10, {}, []),
    "opset10-min": (10, {"min": -0.5}, []),
    "opset10-max": (10, {"max": 0.5}, []),
    "opset10-both": (10, {"min": 0.0, "max": 6.0}, []),
    "opset13-none": (13, {}, []),
    "opset13-min": (13, {}, [np.array(-0.5, F32)]),
    "opset13-max-only": (13, {}, ["", np.array(0.5, F32)]),
    "opset13-relu6": (13, {}, [np.array(0.0, F32), np.array(6.0, F32)]),
    "opset11-both": (11, {}, [np.array(-1.0, F32), np.array(1.0, F32)]),
    "opset13-min-gt-max": (13, {}, [np.array(1.0, F32), np.array(-1.0, F32)]),
    "opset13-shape1-bounds": (13, {}, [np.array([-0.5], F32), np.array([0.5], F32)]),
    "opset13-bounds-are-inputs": (13, {}, [("lo", ()), ("hi", ())]),
    "opset13-max-input-only": (13, {}, ["", ("hi", ())]),
}


@pytest.mark.parametrize("opset,attrs,bounds", CLIP_FORMS.values(), ids=CLIP_FORMS.keys())
def test_clip(opset, attrs, bounds):
    model = single_op("Clip", [("x", (3, 4)), *bounds], attrs, opset=opset)
    check(model, scale=3.0)
    # -inf/+inf clamp to the float32 range when a bound is omitted (numeric_limits::lowest/max).
    feeds = {"x": SPECIAL, "lo": np.array(-0.25, F32), "hi": np.array(0.25, F32)}
    names = {"x"} | {b[0] for b in bounds if isinstance(b, tuple)}
    feeds = {k: v for k, v in feeds.items() if k in names}
    check(single_op("Clip", [("x", SPECIAL.shape), *bounds], attrs, opset=opset), feeds)


def test_clip_integer():
    x = np.array([-9, -1, 0, 3, 12], I64)
    check(single_op("Clip", [x, np.array(-2, I64), np.array(5, I64)], opset=13))
    check(single_op("Clip", [x, "", np.array(5, I64)], opset=13))
    check(single_op("Clip", [x.astype(np.int32)], opset=13))


def test_clip_rejects_non_scalar_bounds():
    raises_unsupported(single_op("Clip", [("x", (3, 2)), np.array([0.0, 1.0], F32)], opset=13), "Clip", "scalar")


# ----------------------------------------------------------------------------- binary (float)
SHAPES = {
    "same": ((3, 4), (3, 4)),
    "row": ((3, 4), (4,)),
    "column": ((3, 4), (3, 1)),
    "scalar-right": ((3, 4), ()),
    "scalar-left": ((), (3, 4)),
    "scalars": ((), ()),
    "rank-up-left": ((4,), (2, 3, 4)),
    "outer": ((3, 1), (1, 4)),
    "4d": ((2, 1, 3, 1), (1, 5, 1, 4)),
}
BINARY = {
    "Add": ({}, 14),
    "Sub": ({}, 14),
    "Mul": ({}, 14),
    "Div": ({}, 14),
    "Pow": ({}, 15),
    "Mod": ({"fmod": 1}, 13),
    "Min": ({}, 13),
    "Max": ({}, 13),
    "Sum": ({}, 13),
    "Mean": ({}, 13),
    "Equal": ({}, 13),
    "Less": ({}, 13),
    "Greater": ({}, 13),
    "LessOrEqual": ({}, 16),
    "GreaterOrEqual": ({}, 16),
}


@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize("shape_a,shape_b", SHAPES.values(), ids=SHAPES.keys())
def test_binary_broadcasting(op, shape_a, shape_b):
    attrs, opset = BINARY[op]
    check(single_op(op, [("a", shape_a), ("b", shape_b)], attrs, opset=opset), scale=2.0)


@pytest.mark.parametrize("op", BINARY)
def test_binary_const_operand_and_old_opset(op):
    attrs, opset = BINARY[op]
    check(single_op(op, [("a", (2, 3)), rnd(3, seed=7)], attrs, opset=opset))
    # the oldest opset whose schema takes float32 and broadcasts
    old = {"Mod": 10, "Equal": 11, "LessOrEqual": 12, "GreaterOrEqual": 12, "Min": 8, "Max": 8, "Sum": 8, "Mean": 8}
    check(single_op(op, [rnd(2, 1, seed=8), ("b", (2, 3))], attrs, opset=old.get(op, 7)))


# Pairs of special values: every combination of NaN, infinities, zeros and ordinary numbers.
_S = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -2.5, 3.4e38], F32)
PAIR_A, PAIR_B = (a.reshape(-1) for a in np.meshgrid(_S, _S, indexing="ij"))


@pytest.mark.parametrize("op", BINARY)
def test_binary_special_values(op):
    attrs, opset = BINARY[op]
    a, b = PAIR_A, PAIR_B
    if op == "Mean":  # onnxruntime sums in float32: (3.4e38 + 3.4e38) / 2 overflows there, not here
        a, b = (np.where(v == 3.4e38, F32(1e38), v) for v in (a, b))
    check(single_op(op, [("a", a.shape), ("b", b.shape)], attrs, opset=opset), {"a": a, "b": b})


def test_pow_large_and_mixed_types():
    base = np.array([2.0, -2.0, 0.5, 10.0, 0.0, -0.0, 1.0], F32)
    check(single_op("Pow", [("x", base.shape), np.array([3, 2, -2, 38, -1, 3, 1000], I64)], opset=15), {"x": base})
    check(single_op("Pow", [("x", base.shape), np.array(3.0, F32)], opset=15), {"x": base})


@pytest.mark.parametrize("n", [1, 3])
@pytest.mark.parametrize("op", ["Min", "Max", "Sum", "Mean"])
def test_variadic(op, n):
    shapes = [(2, 1, 4), (3, 1), (4,)][:n]
    check(single_op(op, [(f"x{i}", s) for i, s in enumerate(shapes)], opset=13))
    check(single_op(op, [(f"x{i}", s) for i, s in enumerate(shapes)], opset=8))  # broadcasting since 8


def test_mod_float_fmod0():
    a, b = rnd(4, 5, seed=2, scale=5.0), rnd(5, seed=3, scale=2.0)
    # floor mod of floats is new in opset 28; before, fmod must be 1
    check(single_op("Mod", [("a", a.shape), ("b", b.shape)], {}, opset=28), {"a": a, "b": b})
    raises_unsupported(single_op("Mod", [("a", (2,)), ("b", (2,))], {}, opset=13), "Mod", "fmod=1")


# ---------------------------------------------------------------------------------- integers
IA = np.array([7, -7, 7, -7, 5, -5, 0, 1, -1, 9_000_000_000_000_000_000, -(2**62) - 3], I64)
IB = np.array([2, 2, -2, -2, 3, -3, 4, 7, 7, 7, 2**31 + 11], I64)
INT_OPS = {
    "Add": {},
    "Sub": {},
    "Mul": {},
    "Div": {},  # truncates toward zero: -7 / 2 == -3
    "Mod-fmod0": {"fmod": 0},  # sign of the divisor: -7 % 2 == 1
    "Mod-fmod1": {"fmod": 1},  # sign of the dividend: -7 fmod 2 == -1
    "Min": {},
    "Max": {},
    "Equal": {},
    "Less": {},
    "Greater": {},
    "LessOrEqual": {},
    "GreaterOrEqual": {},
}


@pytest.mark.parametrize("dtype", [I64, np.int32, np.uint8])
@pytest.mark.parametrize("name", INT_OPS)
def test_integer_binary(name, dtype):
    op = name.split("-")[0]
    if dtype == np.int64:
        a, b = IA, IB
    else:
        a, b = IA[:9] % 100, IB[:9] % 100  # fit the narrow types
        a, b = a.astype(dtype), np.where(b == 0, 1, b).astype(dtype)
    out = check(single_op(op, [a, b], INT_OPS[name], opset=16))
    if op in ("Add", "Sub", "Mul", "Div", "Mod", "Min", "Max"):
        assert out["y"].dtype == dtype


def test_integer_division_semantics():
    out = check(single_op("Div", [IA[:6], IB[:6]], opset=14))
    np.testing.assert_array_equal(out["y"], [3, -3, -3, 3, 1, 1])
    out = check(single_op("Mod", [IA[:6], IB[:6]], opset=13))
    np.testing.assert_array_equal(out["y"], [1, 1, -1, -1, 2, -2])


def test_integer_broadcast_shape_arithmetic():
    # the torch-export pattern: a shape vector scaled and divided by scalars
    shape = np.array([1, 64, 7, 7], I64)
    check(single_op("Div", [shape, np.array(2, I64)], opset=14))
    check(single_op("Mul", [np.array([[2], [3]], I64), shape], opset=14))


def test_integer_pow():
    base = np.array([2, -2, 3, 1, -1, -1, 5, 0, 2], I64)
    exp = np.array([3, 3, -1, -5, -3, -2, 0, 4, 62], I64)
    out = check(single_op("Pow", [base, exp], opset=15))
    assert out["y"].dtype == I64
    # int base, float exponent: the real power truncated; float base, int exponent: float
    check(single_op("Pow", [np.array([2, 3, 4, 10], np.int32), np.array([0.5, 2.0, 1.5, -1.0], F32)], opset=15))
    check(single_op("Pow", [("x", (4,)), np.array([0, 1, 2, -3], np.int32)], opset=15))


def test_bool_ops():
    a = np.array([[True, False, True, False]])
    b = np.array([[True], [False]])
    for op in ("And", "Or", "Xor", "Equal"):
        check(single_op(op, [a, b], opset=13))
    check(single_op("Not", [a], opset=13))


@pytest.mark.parametrize(
    "cond_shape,x_shape,y_shape", [((3, 4), (3, 4), (3, 4)), ((4,), (3, 1), ()), ((2, 1, 4), (3, 1), (4,))]
)
def test_where(cond_shape, x_shape, y_shape):
    cond = np.random.default_rng(5).random(cond_shape) < 0.5
    check(single_op("Where", [cond, ("a", x_shape), ("b", y_shape)], opset=16))
    check(single_op("Where", [cond, np.arange(3, dtype=I64).reshape(3, 1), np.array(-1, I64)], opset=9))


def test_bool_tensors_at_run_time():
    """A mask computed from the input (not folded): x < 0.5 ? x : -x, and x >= 0 && x <= 1."""
    b = Builder()
    x = b.input("x", (3, 4))
    (mask,) = b.node("Less", [x, b.const(0.5)])
    (neg,) = b.node("Neg", [x])
    (w,) = b.node("Where", [mask, x, neg], outputs=["w"])
    (ge,) = b.node("GreaterOrEqual", [x, b.const(0.0)])
    (le,) = b.node("LessOrEqual", [x, b.const(1.0)])
    (both,) = b.node("And", [ge, le])
    b.node("Not", [both], outputs=["outside"])
    b.output(w)
    b.output("outside")
    check(b.model(16))


def test_mixed_input_types_are_rejected():
    add = ops.get("Add")
    with pytest.raises(ops.OpFormError, match="different types"):
        add.infer(Node("Add", "n", ("a", "b"), ("y",)), [TensorType((2,)), TensorType((2,), "int64")], [None, None], 14)
    for op in ("Less", "Max"):
        with pytest.raises(ops.OpFormError):
            ops.get(op).infer(
                Node(op, "n", ("a", "b"), ("y",)),
                [TensorType((2,), "int32"), TensorType((2,), "int64")],
                [None, None],
                13,
            )
    with pytest.raises(ops.OpFormError, match="float32"):
        ops.get("And").infer(Node("And", "n", ("a", "b"), ("y",)), [TensorType((2,))] * 2, [None] * 2, 7)


def test_broadcast_error_message():
    node = Node("Mul", "n", ("a", "b"), ("y",))
    with pytest.raises(ops.OpFormError, match=r"\(3,\) and \(4,\)"):
        ops.get("Mul").infer(node, [TensorType((3,)), TensorType((4,))], [None, None], 14)


# -------------------------------------------------------------------------------- LogSoftmax
@pytest.mark.parametrize("opset", [11, 13])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, -3])
@pytest.mark.parametrize("scale", [1.0, 1e3], ids=["unit", "1e3"])
def test_log_softmax(opset, axis, scale):
    attrs = {} if axis is None else {"axis": axis}
    out = check(single_op("LogSoftmax", [("x", (2, 3, 4))], attrs, opset=opset), scale=scale)
    assert np.isfinite(out["y"]).all()


def test_log_softmax_with_minus_inf():
    x = np.array([[-np.inf, 0.0, 1.0, -np.inf], [5.0, 5.0, 5.0, 5.0], [-np.inf] * 4], dtype=F32)
    check(single_op("LogSoftmax", [("x", x.shape)]), {"x": x})  # an all -inf row is NaN


def test_log_softmax_bad_axis():
    with pytest.raises(ops.OpFormError, match="axis 2"):
        node = Node("LogSoftmax", "n", ("x",), ("y",), {"axis": 2})
        ops.get("LogSoftmax").infer(node, [TensorType((2, 3))], [None], 13)
