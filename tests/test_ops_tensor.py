"""Shape/data-movement ops, Cast, reductions and ArgMax/ArgMin vs onnxruntime.

sparsec's graph inputs are float32, so integer operands (indices, shapes, axes, int data) are
initializers; nodes whose inputs are all constant are folded at load time through the same
``reference`` code (and Shape/Size through ``fold``), so both paths are checked here.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from models import Builder, single_op
from onnx import TensorProto
from test_reference import raises_unsupported, rnd
from test_reference import check_against_ort as check

import sparsec
from sparsec import ops
from sparsec.frontend import load_graph
from sparsec.ir import Node, TensorType
from sparsec.reference import run

F32, I64, I32 = np.float32, np.int64, np.int32


def i64(*values):
    return np.array(values, dtype=I64)


def runtime_int(b: Builder, shape) -> str:
    """An int64 tensor computed at run time (Cast of a float input), so it is not a constant."""
    x = b.input("ints_source", shape)
    (y,) = b.node("Cast", [x], to=TensorProto.INT64)
    return y


# --------------------------------------------------------------------------------- Shape / Size
SHAPE_ATTRS = [{}, {"start": 1}, {"end": -1}, {"start": -1}, {"start": 1, "end": 2}, {"start": -10}, {"end": 10}]


@pytest.mark.parametrize("attrs", SHAPE_ATTRS, ids=str)
def test_shape(attrs):
    out = check(single_op("Shape", [("x", (2, 3, 4))], attrs, opset=15))
    assert out["y"].dtype == I64


def test_shape_start_after_end_is_empty():
    assert check(single_op("Shape", [("x", (2, 3, 4))], {"start": 2, "end": 1}, opset=15))["y"].shape == (0,)


@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("op", ["Shape", "Size"])
def test_shape_size_fold_from_types(op, shape):
    check(single_op(op, [("x", shape)], opset=13))
    node = Node(op, "n", ("x",), ("y",), ops.get(op).attributes({}, 13))
    (value,) = ops.get(op).fold(node, [TensorType(shape)])
    want = np.array(shape, I64) if op == "Shape" else np.array(int(np.prod(shape)), I64)
    assert value.dtype == I64 and np.array_equal(value, want)


def test_shape_fold_honours_start_end():
    op = ops.get("Shape")
    node = Node("Shape", "n", ("x",), ("y",), op.attributes({"start": -2, "end": 5}, 15))
    assert op.fold(node, [TensorType((2, 3, 4))])[0].tolist() == [3, 4]


def test_torch_shape_chain_reshape():
    """x -> Shape -> Gather(0) -> Unsqueeze -> Concat([-1]) -> Reshape(x): torch's flatten idiom.

    Loads only because the front end folds Shape (op.fold) and then the all-constant
    Gather/Unsqueeze/Concat (op.reference) so Reshape sees a constant target.
    """
    for opset in (11, 13):
        b = Builder("chain")
        x = b.input("x", (2, 3, 4))
        (s,) = b.node("Shape", [x])
        (d0,) = b.node("Gather", [s, b.const(np.array(0, I64), dtype=I64)], axis=0)
        if opset >= 13:
            (u,) = b.node("Unsqueeze", [d0, b.const(i64(0), dtype=I64)])
        else:
            (u,) = b.node("Unsqueeze", [d0], axes=[0])
        (target,) = b.node("Concat", [u, b.const(i64(-1), dtype=I64)], axis=0)
        b.node("Reshape", [x, target], outputs=["y"])
        b.output("y")
        model = b.model(opset)
        out = check(model)
        assert out["y"].shape == (2, 12)
        graph = load_graph(model)
        assert [n.op for n in graph.nodes] == ["Reshape"], "the shape chain should fold away"


# ----------------------------------------------------------------------------------------- Gather
GATHER_CASES = {
    "scalar-axis0": ((5, 4), np.array(2, I64), 0),
    "1d-axis0": ((5, 4), i64(0, 4, 1), 0),
    "negative-idx": ((5, 4), i64(-1, -5, 2), 0),
    "2d-idx-axis1": ((3, 4, 2), np.array([[0, 3], [-1, 1]], I64), 1),
    "axis-neg1": ((3, 4, 2), i64(1, 0, 1), -1),
    "int32-idx": ((5, 4), np.array([3, -2], I32), 1),
    "empty-idx": ((5, 4), np.zeros((0,), I64), 0),
}


@pytest.mark.parametrize("shape,idx,axis", GATHER_CASES.values(), ids=GATHER_CASES.keys())
def test_gather(shape, idx, axis):
    check(single_op("Gather", [("x", shape), idx], {"axis": axis}))


def test_gather_int64_data_folds():
    out = check(single_op("Gather", [i64(7, 8, 9), np.array(-1, I64)]))
    assert out["y"].dtype == I64 and out["y"].shape == ()


GATHER_ELEMENTS_CASES = {
    "axis0": ((3, 4), np.array([[0, 2, 1, 0], [2, -1, 0, -3]], I64), 0),
    "axis1": ((3, 4), np.array([[3, 0], [1, -4], [-1, 2]], I64), 1),
    "axis-neg1-3d": ((2, 3, 4), np.random.default_rng(0).integers(-4, 4, (2, 3, 5)), -1),
    "smaller-off-axis": ((3, 4), np.array([[1], [0]], I64), 1),
}


@pytest.mark.parametrize("shape,idx,axis", GATHER_ELEMENTS_CASES.values(), ids=GATHER_ELEMENTS_CASES.keys())
def test_gather_elements(shape, idx, axis):
    check(single_op("GatherElements", [("x", shape), idx.astype(I64)], {"axis": axis}))


def test_gather_out_of_range_index_rejected():
    raises_unsupported(single_op("Gather", [("x", (5, 4)), i64(5)]), "out of range")


# ------------------------------------------------------------------------------------------ Slice
BIG = np.iinfo(I64).max
SLICE_CASES = {
    # name: (starts, ends, axes, steps)
    "basic": ((0, 1), (2, 3), (0, 1), None),
    "default-axes": ((1, 0, 2), (3, 4, 5), None, None),
    "default-steps": ((1,), (3,), (1,), None),
    "negative-bounds": ((-3,), (-1,), (2,), None),
    "negative-axes": ((1, 1), (-1, 3), (-1, -3), None),
    "step2": ((0,), (5,), (2,), (2,)),
    "neg-step-full": ((-1,), (-BIG,), (2,), (-1,)),
    "neg-step2": ((4, 3), (0, 0), (2, 1), (-2, -1)),
    "clamp-big": ((1,), (BIG,), (1,), None),
    "clamp-start-below": ((-100,), (2,), (0,), None),
    "neg-step-clamp-start": ((100,), (-100,), (1,), (-1,)),
    "neg-step-start-below": ((-100,), (-100,), (2,), (-1,)),
    "empty": ((3,), (1,), (1,), None),
    "empty-neg-step": ((1,), (3,), (1,), (-1,)),
    "start-past-end": ((10,), (20,), (2,), None),
}


@pytest.mark.parametrize("starts,ends,axes,steps", SLICE_CASES.values(), ids=SLICE_CASES.keys())
def test_slice(starts, ends, axes, steps):
    inputs = [("x", (3, 4, 5)), i64(*starts), i64(*ends)]
    if axes is not None or steps is not None:
        inputs.append(i64(*axes) if axes is not None else "")
    if steps is not None:
        inputs.append(i64(*steps))
    check(single_op("Slice", inputs, opset=13))


@pytest.mark.parametrize("axes", [None, (0, 2)], ids=["default-axes", "axes"])
def test_slice_opset9_attributes(axes):
    attrs = {"starts": [1, -4], "ends": [3, 100]}
    if axes:
        attrs["axes"] = list(axes)
    check(single_op("Slice", [("x", (3, 4, 5))], attrs, opset=9))


def test_slice_int64_shape_vector_folds():
    out = check(single_op("Slice", [i64(2, 3, 4), i64(1), i64(BIG)], opset=13))
    assert out["y"].tolist() == [3, 4]


# ------------------------------------------------------------------------ ConstantOfShape, Range
@pytest.mark.parametrize(
    "shape,value",
    [
        ((2, 3), None),
        ((4,), np.array([1.5], F32)),
        ((2, 2), np.array([7], I64)),
        ((3,), np.array([1], I32)),
        ((0, 2), np.array([2.0], F32)),
        ((), np.array([3.0], F32)),
    ],
    ids=["default", "float", "int64", "int32", "zero-dim", "scalar"],
)
def test_constant_of_shape(shape, value):
    attrs = {} if value is None else {"value": onnx.numpy_helper.from_array(value)}
    out = check(single_op("ConstantOfShape", [np.array(shape, I64)], attrs, opset=9))
    assert out["y"].dtype == (F32 if value is None else value.dtype)


RANGES = [(0, 5, 1), (10, 4, -2), (3, 9, 3), (5, 5, 1), (1, 0, 1), (-3, 8, 4)]
RANGE_CASES = [(r, t) for r in RANGES for t in (I64, I32, F32)] + [((0.5, 2.0, 0.25), F32), ((1.0, -1.0, -0.3), F32)]


@pytest.mark.parametrize("bounds,dtype", RANGE_CASES, ids=[f"{r}-{np.dtype(t).name}" for r, t in RANGE_CASES])
def test_range(bounds, dtype):
    start, limit, delta = bounds
    check(single_op("Range", [np.array(start, dtype), np.array(limit, dtype), np.array(delta, dtype)], opset=11))


# ----------------------------------------------------------------------------- Concat, Transpose
@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3])
def test_concat(axis):
    shapes = [[2, 3, 4] for _ in range(3)]
    for k, s in enumerate(shapes):
        s[axis] = k + 1
    check(single_op("Concat", [("a", shapes[0]), rnd(*shapes[1], seed=4), ("c", shapes[2])], {"axis": axis}))


def test_concat_int64_with_empty():
    out = check(single_op("Concat", [i64(1, 2), np.zeros(0, I64), i64(-1)], {"axis": 0}))
    assert out["y"].tolist() == [1, 2, -1]


@pytest.mark.parametrize("perm", [None, (0, 1, 2), (2, 0, 1), (1, 2, 0), (0, 2, 1)], ids=str)
def test_transpose(perm):
    check(single_op("Transpose", [("x", (2, 3, 4))], {} if perm is None else {"perm": list(perm)}))


def test_transpose_bad_perm_rejected():
    model = single_op("Transpose", [("x", (2, 3))], {"perm": [0, 0]})
    model.graph.output[0].type.tensor_type.shape.Clear()
    with pytest.raises(sparsec.SparsecError):
        load_graph(model)


# ---------------------------------------------------------------------------- Squeeze/Unsqueeze
@pytest.mark.parametrize("axes", [None, (0,), (-1,), (0, 2), (2, -4)], ids=str)
@pytest.mark.parametrize("opset", [11, 13])
def test_squeeze(axes, opset):
    shape = (1, 3, 1, 1)
    if axes is None:
        inputs, attrs = [("x", shape)], {}
    elif opset < 13:
        inputs, attrs = [("x", shape)], {"axes": list(axes)}
    else:
        inputs, attrs = [("x", shape), i64(*axes)], {}
    check(single_op("Squeeze", inputs, attrs, opset=opset))


@pytest.mark.parametrize(
    "shape,axes",
    [((3, 4), (0,)), ((3, 4), (1,)), ((3, 4), (2,)), ((3, 4), (-1,)), ((3, 4), (3, 0)), ((), (0,)), ((2,), (-1, 0))],
    ids=str,
)
@pytest.mark.parametrize("opset", [11, 13])
def test_unsqueeze(shape, axes, opset):
    if opset < 13:
        model = single_op("Unsqueeze", [("x", shape)], {"axes": list(axes)}, opset=opset)
    else:
        model = single_op("Unsqueeze", [("x", shape), i64(*axes)], opset=opset)
    check(model)


def test_squeeze_non_unit_axis_rejected():
    # onnx shape inference catches this in a model first; the op's own check guards other callers.
    node = Node("Squeeze", "n", ("x", "axes"), ("y",), {})
    with pytest.raises(ops.OpFormError, match="cannot squeeze"):
        ops.get("Squeeze").infer(node, [TensorType((1, 3)), TensorType((1,), "int64")], [None, i64(1)], 13)


# --------------------------------------------------------------------------- Expand, Tile, Split
@pytest.mark.parametrize(
    "shape,target",
    [((3, 1), (2, 1, 4)), ((3, 1), (4,)), ((1,), (2, 3)), ((2, 3), (1, 1)), ((), (2, 2)), ((3, 1), (3, 0))],
    ids=str,
)
def test_expand(shape, target):
    check(single_op("Expand", [("x", shape), np.array(target, I64)]))


@pytest.mark.parametrize(
    "shape,reps", [((2, 3), (1, 1)), ((2, 3), (2, 3)), ((3,), (4,)), ((2, 1, 2), (1, 0, 2))], ids=str
)
def test_tile(shape, reps):
    check(single_op("Tile", [("x", shape), np.array(reps, I64)]))


SPLIT_CASES = {
    # name: (opset, axis, split, n_outputs, num_outputs attr)
    "opset11-attr": (11, 1, (2, 4), 2, None),
    "opset11-equal": (11, 0, None, 2, None),
    "opset13-input": (13, -1, (1, 2, 3), 3, None),
    "opset13-equal": (13, 1, None, 3, None),
    "opset13-zero-size": (13, 1, (0, 6), 2, None),
    "opset18-num-outputs": (18, 1, None, 3, 3),
    "opset18-uneven": (18, 1, None, 4, 4),
    "opset18-input": (18, 0, (1, 1), 2, None),
}


@pytest.mark.parametrize("opset,axis,split,n,num_outputs", SPLIT_CASES.values(), ids=SPLIT_CASES.keys())
def test_split(opset, axis, split, n, num_outputs):
    inputs, attrs = [("x", (2, 6))], {"axis": axis}
    if split is not None and opset < 13:
        attrs["split"] = list(split)
    elif split is not None:
        inputs.append(i64(*split))
    if num_outputs:
        attrs["num_outputs"] = num_outputs
    outs = check(single_op("Split", inputs, attrs, opset=opset, n_outputs=n))
    assert len(outs) == n


def test_split_unread_output():
    b = Builder("split")
    x = b.input("x", (4, 3))
    y0, _ = b.node("Split", [x], n_outputs=2, name="the_node", axis=0)
    b.node("Relu", [y0], outputs=["y"])
    b.output("y")
    check(b.model(13))


# ------------------------------------------------------------------------------- Cast, CastLike
CAST_VALUES = np.array([0.0, -0.0, 0.4, -0.6, 1.5, -2.5, 7.9, -7.9, 100.2, -100.2, 3.0], F32)
CAST_TO = {
    "int64": TensorProto.INT64,
    "int32": TensorProto.INT32,
    "int16": TensorProto.INT16,
    "int8": TensorProto.INT8,
    "uint8": TensorProto.UINT8,
    "bool": TensorProto.BOOL,
    "float32": TensorProto.FLOAT,
}


@pytest.mark.parametrize("to", CAST_TO.values(), ids=CAST_TO.keys())
def test_cast_from_float(to):
    values = np.abs(CAST_VALUES) if to == TensorProto.UINT8 else CAST_VALUES  # negative -> uint is undefined
    check(single_op("Cast", [("x", values.shape)], {"to": to}), {"x": values})


@pytest.mark.parametrize("to", CAST_TO.values(), ids=CAST_TO.keys())
@pytest.mark.parametrize("src", [i64(-3, 0, 5, 300), np.array([True, False, True, True])], ids=["int64", "bool"])
def test_cast_from_constants(src, to):
    check(single_op("Cast", [src], {"to": to}, opset=13))


def test_cast_saturate_ignored_opset19():
    # onnxruntime refuses saturate on non-float8 casts; ONNX says it has no effect there.
    model = single_op("Cast", [("x", (11,))], {"to": TensorProto.INT32, "saturate": 0}, opset=19)
    out = run(load_graph(model), {"x": CAST_VALUES})["y"]
    assert out.dtype == I32 and np.array_equal(out, np.trunc(CAST_VALUES).astype(I32))


@pytest.mark.parametrize("to", [TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.STRING])
def test_cast_to_unsupported_type_rejected(to):
    raises_unsupported(single_op("Cast", [("x", (3,))], {"to": to}), TensorProto.DataType.Name(to))


@pytest.mark.parametrize("target", [np.zeros(2, I64), np.zeros((), np.int8), np.zeros(1, bool), np.zeros(3, F32)])
def test_castlike(target):
    check(single_op("CastLike", [("x", (11,)), target], opset=15), {"x": CAST_VALUES})


# --------------------------------------------------------------------- EyeLike, Trilu, OneHot, ...
@pytest.mark.parametrize("shape", [(3, 3), (3, 5), (4, 2)], ids=str)
@pytest.mark.parametrize("k", [0, 1, -2, 7])
@pytest.mark.parametrize("dtype", [None, TensorProto.INT64], ids=["input-dtype", "int64"])
def test_eyelike(shape, k, dtype):
    attrs = {"k": k} if dtype is None else {"k": k, "dtype": dtype}
    check(single_op("EyeLike", [("x", shape)], attrs, opset=9))


@pytest.mark.parametrize("k", [None, 0, 1, -1, 4, -5], ids=str)
@pytest.mark.parametrize("upper", [0, 1])
@pytest.mark.parametrize("shape", [(3, 4), (2, 4, 3)], ids=str)
def test_trilu(shape, upper, k):
    inputs = [("x", shape)] + ([] if k is None else [np.array(k, I64)])
    check(single_op("Trilu", inputs, {"upper": upper}, opset=14))


@pytest.mark.parametrize("axis", [-1, 0, 1, -2])
@pytest.mark.parametrize("values", [np.array([0, 1], F32), np.array([-2.5, 3.0], F32), np.array([1, 5], I64)])
def test_onehot(axis, values):
    indices = np.array([[0, 3, -1], [5, -5, 2]], I64)  # 5 and -5 are out of range: all off
    check(single_op("OneHot", [indices, np.array(4, I64), values], {"axis": axis}, opset=11))


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
@pytest.mark.parametrize("blocksize", [1, 2])
def test_depth_to_space(mode, blocksize):
    check(single_op("DepthToSpace", [("x", (2, 8, 2, 3))], {"blocksize": blocksize, "mode": mode}, opset=13))


@pytest.mark.parametrize("mode", [None, "DCR", "CRD"])
def test_space_to_depth(mode):
    attrs = {"blocksize": 2} if mode is None else {"blocksize": 2, "mode": mode}
    check(single_op("SpaceToDepth", [("x", (2, 3, 4, 6))], attrs, opset=13 if mode is None else 28))


def test_depth_space_round_trip():
    x = rnd(1, 8, 2, 3)
    for mode in ("DCR", "CRD"):
        b = Builder("rt")
        (h,) = b.node("DepthToSpace", [b.input("x", x.shape)], blocksize=2, mode=mode)
        b.node("SpaceToDepth", [h], outputs=["y"], blocksize=2, mode=mode)
        b.output("y")
        assert np.array_equal(check(b.model(28), {"x": x})["y"], x)


# ------------------------------------------------------------------------------------ Reductions
REDUCE_OPS = [
    "ReduceSum",
    "ReduceMean",
    "ReduceMax",
    "ReduceMin",
    "ReduceProd",
    "ReduceL1",
    "ReduceL2",
    "ReduceSumSquare",
    "ReduceLogSum",
    "ReduceLogSumExp",
]


def reduce_model(op, shape, axes, keepdims, opset, noop=None, data=None):
    """axes as an attribute before the opset where it became an input (ReduceSum 13, others 18)."""
    since = 13 if op == "ReduceSum" else 18
    attrs = {"keepdims": keepdims}
    inputs = [("x", shape) if data is None else data]
    if axes is not None and opset < since:
        attrs["axes"] = list(axes)
    elif axes is not None:
        inputs.append(np.array(axes, I64))
    if noop is not None:
        attrs["noop_with_empty_axes"] = noop
    return single_op(op, inputs, attrs, opset=opset)


def positive_if_log(op, shape, seed=0):
    x = rnd(*shape, seed=seed)
    return np.abs(x) + F32(0.1) if op == "ReduceLogSum" else x  # log of a negative sum is NaN


@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("axes", [None, (1,), (0, 2), (-1,), (2, -3)], ids=str)
@pytest.mark.parametrize("keepdims", [0, 1])
@pytest.mark.parametrize("opset", [13, 18])
def test_reduce(op, axes, keepdims, opset):
    shape = (2, 3, 4)
    check(reduce_model(op, shape, axes, keepdims, opset), {"x": positive_if_log(op, shape)})


@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("form", ["omitted", "empty"])
def test_reduce_noop_with_empty_axes(op, form):
    shape = (2, 3)
    axes = () if form == "empty" else None
    model = reduce_model(op, shape, axes, 1, 18, noop=1)
    out = check(model, {"x": positive_if_log(op, shape)})
    assert out["y"].shape == shape


@pytest.mark.parametrize("op", REDUCE_OPS)
def test_reduce_empty_axes_reduces_all(op):
    shape = (2, 3)
    out = check(reduce_model(op, shape, (), 0, 18), {"x": positive_if_log(op, shape)})
    assert out["y"].shape == ()


@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_empty_set(op, keepdims):
    """Reducing zero elements: sum 0, prod 1, max -inf, min +inf, log-sums -inf (mean: onnxruntime's 0)."""
    out = check(reduce_model(op, (2, 0, 3), (1,), keepdims, 18), {"x": np.zeros((2, 0, 3), F32)})
    assert out["y"].shape == ((2, 1, 3) if keepdims else (2, 3))


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceMean", "ReduceL1"])
@pytest.mark.parametrize("dtype", [I64, I32])
def test_reduce_integers_keep_dtype(op, dtype):
    data = np.array([[3, -7, 2], [5, 0, -1]], dtype)
    out = check(reduce_model(op, None, (1,), 0, 18, data=data))
    assert out["y"].dtype == dtype


@pytest.mark.parametrize("op", ["ReduceL2", "ReduceSumSquare"])
def test_reduce_integer_norms(op):
    check(reduce_model(op, None, (0,), 1, 18, data=np.array([[3, -7, 2], [5, 1, -1]], I32)))


@pytest.mark.parametrize("op", ["ReduceMax", "ReduceMin"])
def test_reduce_max_min_bool(op):
    check(reduce_model(op, None, (1,), 1, 20, data=np.array([[True, False], [False, False]])))


def test_reduce_log_sum_exp_large_and_infinite():
    x = np.array([[1000.0, 999.0, -np.inf], [np.inf, 1.0, 2.0], [-np.inf, -np.inf, -np.inf]], F32)
    check(reduce_model("ReduceLogSumExp", (3, 3), (1,), 1, 18), {"x": x})


def test_reduce_old_opset_axes_attribute():
    check(reduce_model("ReduceSum", (2, 3, 4), (0, -1), 1, 11))
    check(reduce_model("ReduceMean", (2, 3, 4), (1,), 0, 11))


# ------------------------------------------------------------------------------ ArgMax / ArgMin
@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("axis", [0, 1, -1, -3])
@pytest.mark.parametrize("keepdims", [0, 1])
@pytest.mark.parametrize("last", [0, 1])
def test_argmax_argmin(op, axis, keepdims, last):
    x = np.random.default_rng(3).integers(-2, 3, (3, 4, 5)).astype(F32)  # many ties
    out = check(
        single_op(op, [("x", x.shape)], {"axis": axis, "keepdims": keepdims, "select_last_index": last}), {"x": x}
    )
    assert out["y"].dtype == I64


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
def test_argmax_defaults_and_int_data(op):
    check(single_op(op, [("x", (4, 3))], opset=11))
    check(single_op(op, [np.array([[3, 9, 9], [-1, -4, -4]], I64)], {"axis": 1, "select_last_index": 1}, opset=12))


def test_argmax_empty_axis_rejected():
    raises_unsupported(single_op("ArgMax", [("x", (0, 3))], {"axis": 0}), "empty")


# ---------------------------------------------------------------------------------- Bad forms
def _dynamic(op, attrs=None, opset=13, position=1, n_inputs=2, data_shape=(2, 3), extra=()):
    """``op`` whose input at ``position`` is computed at run time (int64 from a Cast)."""
    b = Builder("dyn")
    x = b.input("x", data_shape)
    dyn = runtime_int(b, (1,))
    inputs = [x] + [b.const(e, dtype=e.dtype) for e in extra]
    inputs.insert(position, dyn)
    b.node(op, inputs[:n_inputs], outputs=["y"], name="the_node", **(attrs or {}))
    b.output("y", shape=None)
    return b.model(opset)


DYNAMIC_CASES = {
    "ReduceSum-axes": ("ReduceSum", {}, 13, 1, 2, (), "axes"),
    "ReduceMean-axes": ("ReduceMean", {}, 18, 1, 2, (), "axes"),
    "ReduceMax-axes": ("ReduceMax", {}, 18, 1, 2, (), "axes"),
    "Squeeze-axes": ("Squeeze", {}, 13, 1, 2, (), "axes"),
    "Unsqueeze-axes": ("Unsqueeze", {}, 13, 1, 2, (), "axes"),
    "Slice-starts": ("Slice", {}, 13, 1, 3, (i64(2),), "starts"),
    "Slice-steps": ("Slice", {}, 13, 4, 5, (i64(0), i64(2), i64(1)), "steps"),
    "Expand-shape": ("Expand", {}, 13, 1, 2, (), "shape"),
    "Tile-repeats": ("Tile", {}, 13, 1, 2, (), "repeats"),
    "Split-split": ("Split", {"axis": 1}, 13, 1, 2, (), "split"),
}


@pytest.mark.parametrize("op,attrs,opset,pos,n,extra,what", DYNAMIC_CASES.values(), ids=DYNAMIC_CASES.keys())
def test_non_constant_shape_inputs_rejected(op, attrs, opset, pos, n, extra, what):
    model = _dynamic(op, attrs, opset, pos, n, extra=extra)
    raises_unsupported(model, op, what, "must be a constant")


def test_non_constant_constant_of_shape_rejected():
    b = Builder("cos")
    s = runtime_int(b, (2,))
    b.node("ConstantOfShape", [s], outputs=["y"], name="the_node")
    b.output("y", shape=None)
    raises_unsupported(b.model(13), "ConstantOfShape", "must be a constant")


def test_non_constant_range_rejected():
    b = Builder("range")
    (s,) = b.node("Squeeze", [runtime_int(b, (1,)), b.const(i64(0), dtype=I64)])
    b.node(
        "Range",
        [b.const(np.array(0, I64), dtype=I64), s, b.const(np.array(1, I64), dtype=I64)],
        outputs=["y"],
        name="the_node",
    )
    b.output("y", shape=None)
    raises_unsupported(b.model(13), "Range", "limit must be a constant")


def test_non_constant_indices_are_fine():
    """Indices (unlike axes) may be computed at run time: Gather of ArgMax positions."""
    b = Builder("argmax_gather")
    x = b.input("x", (4, 5))
    (idx,) = b.node("ArgMax", [x], axis=1, keepdims=0)
    b.node("Gather", [b.const(rnd(5, 3, seed=9)), idx], outputs=["y"], axis=0)
    b.output("y")
    check(b.model(13))
