"""CNN ops against onnxruntime: Conv, ConvTranspose, MaxPool, AveragePool, global pools,
BatchNormalization, Pad; bad forms raise UnsupportedOperatorError; fold_batchnorm keeps outputs.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from models import Builder, random_feeds, single_op
from onnx import TensorProto, helper
from test_reference import assert_close, check_against_ort, ort_run

import sparsec
from sparsec.frontend import MIN_OPSET, load_graph
from sparsec.ir import verify
from sparsec.passes.fold_batchnorm import fold_batchnorm
from sparsec.reference import run


def rnd(*shape, seed=1, scale=1.0):
    return np.asarray(np.random.default_rng(seed).standard_normal(shape) * scale, dtype=np.float32)


def bad(model, *names):
    """Loading ``model`` raises UnsupportedOperatorError naming the node and each of ``names``."""
    with pytest.raises(sparsec.UnsupportedOperatorError) as info:
        load_graph(model)
    text = str(info.value)
    for name in ("'the_node'",) + names:
        assert name in text, f"{name!r} not in {text!r}"
    return info.value


# ---------------------------------------------------------------------------------------- Conv
CONV_2D = {
    "3x3": {},
    "pads": {"pads": [1, 1, 1, 1]},
    "asym-pads": {"pads": [0, 1, 2, 1]},
    "strides": {"strides": [2, 2], "pads": [1, 1, 1, 1]},
    "strides-uneven": {"strides": [1, 3]},
    "dilations": {"dilations": [2, 2], "pads": [2, 2, 2, 2]},
    "dilations-strides": {"dilations": [2, 1], "strides": [2, 1]},
    "same-upper": {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
    "same-lower": {"auto_pad": "SAME_LOWER", "strides": [2, 2]},
    "valid": {"auto_pad": "VALID", "strides": [2, 1]},
    "kernel_shape": {"kernel_shape": [3, 3]},
}


@pytest.mark.parametrize("attrs", CONV_2D.values(), ids=CONV_2D.keys())
@pytest.mark.parametrize("group,c,m", [(1, 4, 6), (2, 4, 6), (4, 4, 4), (4, 4, 8)], ids=["g1", "g2", "dw", "dw-x2"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_conv_2d(attrs, group, c, m, bias):
    inputs = [("x", (2, c, 7, 8)), rnd(m, c // group, 3, 3, seed=2)] + ([rnd(m, seed=3)] if bias else [])
    check_against_ort(single_op("Conv", inputs, dict(attrs, group=group)))


@pytest.mark.parametrize(
    "x,w,attrs",
    [
        ((1, 3, 10), (5, 3, 3), {}),
        ((2, 3, 10), (5, 3, 4), {"pads": [2, 1], "strides": [2]}),
        ((1, 4, 9), (4, 1, 3), {"group": 4, "strides": [2], "auto_pad": "SAME_LOWER"}),
        ((1, 2, 9), (3, 2, 1), {"auto_pad": "VALID", "strides": [4]}),
        ((1, 2, 5, 6, 4), (3, 2, 3, 3, 2), {}),
        ((1, 4, 5, 6, 4), (4, 2, 2, 3, 2), {"group": 2, "pads": [1, 0, 1, 0, 1, 1], "strides": [2, 1, 2]}),
        ((1, 2, 5, 6, 7), (2, 1, 3, 3, 3), {"group": 2, "auto_pad": "SAME_UPPER", "strides": [1, 2, 1]}),
        ((1, 3, 1, 1), (2, 3, 1, 1), {}),
        ((1, 1, 4, 4), (1, 1, 4, 4), {}),
    ],
    ids=["1d", "1d-pads-strides", "1d-dw-same", "1d-valid", "3d", "3d-group-pads", "3d-same", "1x1", "full"],
)
def test_conv_other_ranks(x, w, attrs):
    check_against_ort(single_op("Conv", [("x", x), rnd(*w, seed=2), rnd(w[0], seed=3)], attrs))


def test_conv_variable_weight_and_bias():
    check_against_ort(single_op("Conv", [("x", (1, 2, 6, 6)), ("w", (3, 2, 3, 3)), ("b", (3,))], {"pads": [1] * 4}))


def test_conv_small_cnn_layer_is_fast():
    model = single_op("Conv", [("x", (1, 3, 32, 32)), rnd(16, 3, 3, 3), rnd(16)], {"pads": [1] * 4})
    graph = load_graph(model)
    feeds = random_feeds(model)
    run(graph, feeds)
    start = time.perf_counter()
    for _ in range(5):
        run(graph, feeds)
    assert (time.perf_counter() - start) / 5 < 0.05


# ------------------------------------------------------------------------------- ConvTranspose
CONVT = {
    "plain": ((1, 2, 4, 5), (2, 3, 3, 3), {}),
    "strides": ((1, 2, 4, 5), (2, 3, 3, 3), {"strides": [2, 3]}),
    "pads": ((2, 2, 4, 5), (2, 3, 3, 3), {"strides": [2, 2], "pads": [1, 0, 2, 1]}),
    "output_padding": ((1, 2, 4, 5), (2, 3, 3, 3), {"strides": [3, 2], "output_padding": [1, 1]}),
    "output_shape": ((1, 2, 3, 3), (2, 3, 3, 3), {"strides": [3, 2], "output_shape": [10, 8]}),
    "output_shape-crop": ((1, 2, 4, 4), (2, 3, 3, 3), {"strides": [2, 2], "output_shape": [8, 7]}),
    "same-upper-even": ((1, 2, 4, 4), (2, 3, 4, 4), {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    "same-lower-even": ((1, 2, 4, 4), (2, 3, 4, 4), {"strides": [2, 2], "auto_pad": "SAME_LOWER"}),
    "valid": ((1, 2, 4, 4), (2, 3, 3, 2), {"strides": [2, 1], "auto_pad": "VALID"}),
    "dilations": ((1, 2, 4, 5), (2, 3, 3, 3), {"dilations": [2, 2], "pads": [1, 1, 1, 1]}),
    "group": ((1, 4, 4, 5), (4, 2, 3, 3), {"group": 2, "strides": [2, 2]}),
    "depthwise": ((1, 3, 4, 5), (3, 1, 2, 2), {"group": 3, "strides": [2, 2]}),
    "1d": ((1, 2, 6), (2, 3, 3), {"strides": [2], "pads": [1, 0], "output_padding": [1]}),
    "1d-dil": ((2, 2, 6), (2, 2, 2), {"dilations": [3]}),
    "3d": ((1, 2, 3, 4, 3), (2, 2, 2, 3, 2), {"strides": [2, 1, 2], "pads": [0, 1, 0, 0, 1, 1]}),
}


@pytest.mark.parametrize("x,w,attrs", CONVT.values(), ids=CONVT.keys())
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_conv_transpose(x, w, attrs, bias):
    m = w[1] * attrs.get("group", 1)
    inputs = [("x", x), rnd(*w, seed=2)] + ([rnd(m, seed=3)] if bias else [])
    check_against_ort(single_op("ConvTranspose", inputs, attrs))


@pytest.mark.parametrize(
    "attrs",
    [
        {"auto_pad": "SAME_UPPER"},
        {"auto_pad": "SAME_LOWER"},
        {"output_shape": [8]},
        {"output_shape": [7]},
        {"output_shape": [10]},
        {"auto_pad": "SAME_UPPER", "output_shape": [8]},
        {"auto_pad": "SAME_LOWER", "output_shape": [8]},
        {"pads": [1, 0], "output_shape": [8]},
    ],
    ids=["same-upper", "same-lower", "shape8", "shape7", "shape10", "same-upper-shape8", "same-lower-shape8", "pads"],
)
def test_conv_transpose_odd_padding(attrs):
    """Which side gets the odd pad (ONNX spec, as onnxruntime does it): the end only for SAME_UPPER."""
    model = single_op("ConvTranspose", [("x", (1, 1, 4)), np.ones((1, 1, 3), np.float32)], dict(attrs, strides=[2]))
    check_against_ort(model, {"x": np.arange(4, dtype=np.float32).reshape(1, 1, 4)})


# ------------------------------------------------------------------------------------ Pooling
POOL_2D = {
    "2x2": {"kernel_shape": [2, 2]},
    "3x3-s2": {"kernel_shape": [3, 3], "strides": [2, 2]},
    "pads": {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]},
    "asym-pads": {"kernel_shape": [3, 2], "pads": [1, 0, 2, 1], "strides": [2, 1]},
    "same-upper": {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"},
    "same-lower": {"kernel_shape": [2, 2], "auto_pad": "SAME_LOWER"},
    "valid": {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "VALID"},
    "valid-ceil": {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "VALID", "ceil_mode": 1},
    "same-ceil": {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER", "ceil_mode": 1},
    "ceil": {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1},
    "ceil-pads": {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1},
    # the last window would start in the right padding: it is dropped
    "ceil-last-window": {"kernel_shape": [3, 3], "strides": [3, 3], "pads": [1, 1, 1, 1], "ceil_mode": 1},
    "ceil-strides": {"kernel_shape": [2, 3], "strides": [3, 2], "pads": [0, 1, 0, 1], "ceil_mode": 1},
    "dilations": {"kernel_shape": [2, 2], "dilations": [2, 2]},
    "dilations-pads-ceil": {"kernel_shape": [2, 2], "dilations": [2, 3], "pads": [1, 1, 1, 1], "ceil_mode": 1},
}


@pytest.mark.parametrize("attrs", POOL_2D.values(), ids=POOL_2D.keys())
@pytest.mark.parametrize("shape", [(2, 3, 7, 8), (1, 1, 6, 6)], ids=["7x8", "6x6"])
def test_maxpool_2d(attrs, shape):
    check_against_ort(single_op("MaxPool", [("x", shape)], attrs))


@pytest.mark.parametrize("attrs", POOL_2D.values(), ids=POOL_2D.keys())
@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_averagepool_2d(attrs, count_include_pad):
    opset = 19 if "dilations" in attrs else 13
    model = single_op("AveragePool", [("x", (2, 3, 7, 8))], dict(attrs, count_include_pad=count_include_pad), opset)
    check_against_ort(model)


POOL_OTHER = {
    "1d": ((2, 3, 9), {"kernel_shape": [3]}),
    "1d-s2-pads-ceil": ((1, 2, 10), {"kernel_shape": [3], "strides": [2], "pads": [1, 1], "ceil_mode": 1}),
    "1d-same": ((1, 2, 9), {"kernel_shape": [4], "strides": [2], "auto_pad": "SAME_UPPER"}),
    "3d": ((1, 2, 5, 6, 4), {"kernel_shape": [2, 2, 2]}),
    "3d-pads-strides": ((1, 2, 5, 6, 4), {"kernel_shape": [3, 2, 2], "strides": [2, 1, 2], "pads": [1, 0, 1, 1, 1, 0]}),
}


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("shape,attrs", POOL_OTHER.values(), ids=POOL_OTHER.keys())
def test_pool_other_ranks(op, shape, attrs):
    check_against_ort(single_op(op, [("x", shape)], attrs))


@pytest.mark.parametrize("opset", [11, 19])
def test_averagepool_opsets(opset):
    attrs = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1, "ceil_mode": 1, "strides": [2, 2]}
    check_against_ort(single_op("AveragePool", [("x", (1, 2, 6, 7))], attrs, opset))


def test_maxpool_with_inf():
    x = rnd(1, 1, 4, 4)
    x[0, 0, 0, 0] = np.inf
    x[0, 0, 3, :] = -np.inf
    check_against_ort(single_op("MaxPool", [("x", (1, 1, 4, 4))], {"kernel_shape": [2, 2]}), {"x": x})


MAXPOOL_INDICES = {
    "2x2": {"kernel_shape": [2, 2]},
    "pads-strides": {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2]},
    "column-major": {"kernel_shape": [3, 2], "storage_order": 1, "strides": [1, 2]},
    "ceil-dil": {"kernel_shape": [2, 2], "dilations": [2, 2], "ceil_mode": 1, "strides": [2, 2]},
}


@pytest.mark.parametrize("attrs", MAXPOOL_INDICES.values(), ids=MAXPOOL_INDICES.keys())
def test_maxpool_indices(attrs):
    model = single_op("MaxPool", [("x", (2, 3, 7, 6))], attrs, n_outputs=2)
    model.graph.output[1].type.tensor_type.elem_type = TensorProto.INT64
    feeds = random_feeds(model)
    graph = load_graph(model)
    assert graph.types["y1"].dtype == "int64"
    ours = run(graph, feeds)
    theirs = ort_run(model, feeds)
    assert_close(ours["y"], theirs["y"], "y")
    np.testing.assert_array_equal(ours["y1"], theirs["y1"])


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 5), (1, 2, 3, 4, 2), (1, 4, 1, 1)])
def test_global_pools(op, shape):
    check_against_ort(single_op(op, [("x", shape)]))


# ------------------------------------------------------------------------- BatchNormalization
def bn_inputs(c, seed=4):
    rng = np.random.default_rng(seed)
    scale = rng.standard_normal(c).astype(np.float32)
    bias = rng.standard_normal(c).astype(np.float32)
    mean = rng.standard_normal(c).astype(np.float32)
    var = (rng.random(c) + 0.1).astype(np.float32)
    return [scale, bias, mean, var]


@pytest.mark.parametrize("shape", [(3, 4), (2, 4, 5), (2, 4, 3, 5), (1, 4, 2, 3, 2)])
@pytest.mark.parametrize("opset", [11, 14, 15])
@pytest.mark.parametrize("epsilon", [1e-5, 0.1])
def test_batchnorm(shape, opset, epsilon):
    model = single_op("BatchNormalization", [("x", shape)] + bn_inputs(shape[1]), {"epsilon": epsilon}, opset)
    check_against_ort(model)


def test_batchnorm_variable_statistics():
    ins = [("x", (2, 3, 4)), ("s", (3,)), ("b", (3,)), ("m", (3,)), np.array([0.5, 1.0, 2.0], np.float32)]
    check_against_ort(single_op("BatchNormalization", ins, {"momentum": 0.5}))


@pytest.mark.skipif(MIN_OPSET > 7, reason="the front end does not load opsets before 11")
def test_batchnorm_spatial_0():
    ins = [("x", (2, 3, 4))] + [np.abs(rnd(3, 4, seed=s)) + np.float32(0.1) for s in range(4)]
    check_against_ort(single_op("BatchNormalization", ins, {"spatial": 0}, opset=7))


@pytest.mark.parametrize("opset,attrs", [(15, {"training_mode": 1}), (11, {})], ids=["training_mode", "stats"])
def test_batchnorm_training_rejected(opset, attrs):
    b = Builder()
    x = b.input("x", (2, 3))
    names = [b.const(v) for v in bn_inputs(3)]
    outs = ["y", "rm", "rv"] if opset >= 14 else ["y", "rm", "rv", "sm", "sv"]
    b.node("BatchNormalization", [x] + names, outputs=outs, name="the_node", **attrs)
    for o in outs:
        b.output(o)
    bad(b.model(opset), "(BatchNormalization)", "eval mode")


# ---------------------------------------------------------------------------------------- Pad
def pad_model(shape, pads, mode="constant", value=None, axes=None, opset=13):
    inputs = [("x", shape), np.asarray(pads, np.int64)]
    if value is not None or axes is not None:
        inputs.append(np.asarray(value, np.float32) if value is not None else "")
    if axes is not None:
        inputs.append(np.asarray(axes, np.int64))
    return single_op("Pad", inputs, {"mode": mode}, opset)


PADS = {
    "constant": ((2, 3), [1, 2, 0, 1], "constant", None, None, 13),
    "constant-value": ((2, 3, 4), [0, 1, 1, 0, 2, 0], "constant", 1.5, None, 11),
    "negative": ((3, 5), [-1, 2, 1, -2], "constant", -2.0, None, 13),
    "crop-all-but-one": ((3, 5), [0, -2, -2, -2], "constant", None, None, 13),
    "4d-spatial": ((1, 2, 3, 3), [0, 0, 1, 1, 0, 0, 1, 1], "constant", None, None, 13),
    "axes": ((1, 2, 3, 4), [1, 2, 0, 3], "constant", 0.5, [1, 3], 18),
    "axes-negative": ((1, 2, 3, 4), [1, 0, 2, 3], "constant", None, [-1, -2], 18),
    "reflect": ((3, 4), [2, 1, 1, 3], "reflect", None, None, 13),
    "edge": ((1, 2, 3, 4), [0, 0, 2, 3, 0, 0, 3, 1], "edge", None, None, 13),
    "edge-axes": ((2, 3, 4), [2, 5], "edge", None, [1], 18),
    "wrap": ((3, 4), [1, 2, 3, 4], "wrap", None, None, 19),
    "reflect-negative": ((3, 5), [1, -1, 1, 2], "reflect", None, None, 13),
    "edge-negative": ((3, 5), [-1, 2, 2, -2], "edge", None, None, 13),
}


@pytest.mark.parametrize("shape,pads,mode,value,axes,opset", PADS.values(), ids=PADS.keys())
def test_pad(shape, pads, mode, value, axes, opset):
    check_against_ort(pad_model(shape, pads, mode, value, axes, opset))


@pytest.mark.skipif(MIN_OPSET > 10, reason="the front end does not load opsets before 11")
@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_pad_attribute_form(mode):
    check_against_ort(
        single_op("Pad", [("x", (2, 3, 4))], {"pads": [0, 1, 2, 0, 1, 1], "mode": mode, "value": 2.0}, 10)
    )


def test_pad_int64_tensor():
    """Shape arithmetic may pad int64 tensors: the dtype and an int constant_value are kept."""
    node = sparsec.ir.Node("Pad", "n", ("s", "p", "v"), ("y",), {"mode": "constant"})
    args = [np.array([2, 3], np.int64), np.array([1, 2], np.int64), np.array(7, np.int64)]
    got = sparsec.ops.get("Pad").reference(node, args, 13)[0]
    np.testing.assert_array_equal(got, [7, 2, 3, 7, 7])
    assert got.dtype == np.int64


def test_pad_non_constant_pads_rejected():
    b = Builder()
    x = b.input("x", (2, 3))
    (p,) = b.node("Cast", [b.input("p", (4,))], to=TensorProto.INT64)
    b.node("Pad", [x, p], outputs=["y"], name="the_node")
    b.output("y", shape=("a", "b"))
    bad(b.model(13), "(Pad)", "pads", "constant")


@pytest.mark.parametrize(
    "pads,mode,message",
    [
        ([0, 3, 0, 0], "reflect", "smaller than"),
        ([0, -5, 0, 1], "constant", "crop more"),
        ([0, 4, 0, 0], "wrap", "exceed"),
    ],
)
def test_pad_bad_forms(pads, mode, message):
    bad(pad_model((2, 3), pads, mode, opset=19), "(Pad)", message)


# ------------------------------------------------------------------------------- bad forms
def test_conv_bad_group_rejected():
    model = single_op("Conv", [("x", (1, 4, 5, 5)), ("w", (6, 3, 3, 3))], {"group": 2})
    with pytest.raises(sparsec.SparsecError):
        load_graph(model)


def test_pool_kernel_larger_than_input_rejected():
    model = single_op("MaxPool", [("x", (1, 1, 2, 2))], {"kernel_shape": [3, 3]})
    with pytest.raises(sparsec.SparsecError, match="kernel"):
        load_graph(model)


def test_conv_unknown_auto_pad_rejected():
    bad(single_op("Conv", [("x", (1, 1, 5, 5)), rnd(1, 1, 3, 3)], {"auto_pad": "SAME"}), "(Conv)", "auto_pad")


# ------------------------------------------------------------------------------ fold_batchnorm
def folded_matches(model, expect_bn: int):
    """fold_batchnorm keeps outputs (vs the unfolded reference) and leaves ``expect_bn`` BN nodes."""
    graph = load_graph(model)
    folded = fold_batchnorm(graph)
    verify(folded)
    assert sum(n.op == "BatchNormalization" for n in folded.nodes) == expect_bn
    feeds = random_feeds(model, seed=3)
    want = run(graph, feeds)
    got = run(folded, feeds)
    for name in want:
        assert_close(got[name], want[name], name)
    return folded


def conv_bn(shape=(1, 4, 6, 6), m=6, group=1, bias=True, extra_consumer=False, op="Conv", opset=13):
    rng = np.random.default_rng(9)
    b = Builder()
    x = b.input("x", shape)
    c = shape[1]
    if op == "Conv":
        w = b.const(rng.standard_normal((m, c // group, 3, 3)))
        attrs = {"pads": [1, 1, 1, 1], "group": group}
    else:
        w = b.const(rng.standard_normal((c, m // group, 3, 3)))
        attrs = {"strides": [2, 2], "group": group}
    ins = [x, w] + ([b.const(rng.standard_normal(m))] if bias else [])
    (h,) = b.node(op, ins, name="conv", **attrs)
    (y,) = b.node("BatchNormalization", [h] + [b.const(v) for v in bn_inputs(m)], name="bn", epsilon=1e-3)
    (y,) = b.node("Relu", [y], outputs=["y"], name="relu")
    b.output(y)
    if extra_consumer:
        b.node("Sigmoid", [h], outputs=["side"], name="side")
        b.output("side")
    return b.model(opset)


def test_fold_conv_bn():
    folded = folded_matches(conv_bn(), 0)
    conv = folded.node("conv+bn")
    assert conv.op == "Conv" and len(conv.inputs) == 3
    assert [n.op for n in folded.nodes] == ["Conv", "Relu"]


def test_fold_depthwise_conv_bn():
    folded_matches(conv_bn(shape=(2, 4, 5, 5), m=4, group=4), 0)


def test_fold_conv_without_bias_bn():
    folded = folded_matches(conv_bn(bias=False), 0)
    assert folded.types[folded.node("conv+bn").inputs[2]].shape == (6,)


def test_fold_grouped_conv_transpose_bn():
    folded_matches(conv_bn(shape=(1, 4, 3, 3), m=6, group=2, op="ConvTranspose"), 0)
    folded_matches(conv_bn(shape=(1, 4, 3, 3), m=4, bias=False, op="ConvTranspose"), 0)


@pytest.mark.parametrize("why", ["another-consumer", "graph-output"])
def test_no_fold_when_conv_output_is_needed(why):
    model = conv_bn(extra_consumer=why == "another-consumer")
    if why == "graph-output":
        conv_out = model.graph.node[0].output[0]
        model.graph.output.append(helper.make_tensor_value_info(conv_out, TensorProto.FLOAT, [1, 6, 6, 6]))
    folded_matches(model, 1)
    graph = load_graph(model)
    assert fold_batchnorm(graph) is graph


def test_fold_keeps_a_shared_weight_for_its_other_user():
    b = Builder()
    x = b.input("x", (1, 2, 5, 5))
    w = b.const(rnd(2, 2, 3, 3))
    (h,) = b.node("Conv", [x, w], name="conv_a", pads=[1, 1, 1, 1])
    (h,) = b.node("BatchNormalization", [h] + [b.const(v) for v in bn_inputs(2)], name="bn")
    b.node("Conv", [h, w], outputs=["y"], name="conv_b")
    b.output("y")
    folded = folded_matches(b.model(), 0)
    assert folded.node("conv_b").inputs[1] == w
    assert folded.node("conv_a+bn").inputs[1] != w


@pytest.mark.parametrize(
    "trans_b,alpha,beta,c_shape",
    [(1, 1.0, 1.0, (5,)), (0, 0.5, 2.0, (1, 5)), (1, 1.0, 1.0, None), (0, 2.0, -1.0, (3, 5)), (1, 1.0, 0.5, ())],
    ids=["canonical", "transB0-alpha-beta-row", "no-C", "full-C", "scalar-C"],
)
def test_fold_gemm_bn(trans_b, alpha, beta, c_shape):
    rng = np.random.default_rng(5)
    b = Builder()
    x = b.input("x", (3, 4))
    w = b.const(rng.standard_normal((5, 4) if trans_b else (4, 5)))
    ins = [x, w] + ([b.const(rng.standard_normal(c_shape))] if c_shape is not None else [])
    (h,) = b.node("Gemm", ins, name="fc", transB=trans_b, alpha=alpha, beta=beta)
    b.node("BatchNormalization", [h] + [b.const(v) for v in bn_inputs(5)], outputs=["y"], name="bn")
    b.output("y")
    model = b.model()
    check_against_ort(model)
    folded = folded_matches(model, 0)
    assert [n.op for n in folded.nodes] == ["Gemm"]


def test_no_fold_after_graph_input_or_variable_weight():
    b = Builder()
    x = b.input("x", (2, 3, 4, 4))
    (h,) = b.node("BatchNormalization", [x] + [b.const(v) for v in bn_inputs(3)], name="bn0")
    w = b.input("w", (3, 3, 1, 1))
    (h,) = b.node("Conv", [h, w], name="conv")
    b.node("BatchNormalization", [h] + [b.const(v) for v in bn_inputs(3, seed=5)], outputs=["y"], name="bn1")
    b.output("y")
    graph = load_graph(b.model())
    assert fold_batchnorm(graph) is graph


def test_no_fold_when_bn_statistics_are_inputs():
    b = Builder()
    x = b.input("x", (1, 2, 4, 4))
    (h,) = b.node("Conv", [x, b.const(rnd(3, 2, 1, 1))], name="conv")
    scale = b.input("scale", (3,))
    stats = [b.const(v) for v in bn_inputs(3)[1:]]
    b.node("BatchNormalization", [h, scale] + stats, outputs=["y"], name="bn")
    b.output("y")
    graph = load_graph(b.model())
    assert fold_batchnorm(graph) is graph


def test_fold_small_cnn_matches_onnxruntime():
    """Conv+BN+Relu -> depthwise Conv+BN+Clip -> MaxPool -> GlobalAveragePool -> Flatten -> Gemm."""
    rng = np.random.default_rng(11)
    b = Builder("cnn")
    x = b.input("x", (1, 3, 12, 12))
    (h,) = b.node("Conv", [x, b.const(rng.standard_normal((8, 3, 3, 3)) * 0.3)], strides=[2, 2], pads=[1, 1, 1, 1])
    (h,) = b.node("BatchNormalization", [h] + [b.const(v) for v in bn_inputs(8)])
    (h,) = b.node("Relu", [h])
    (h,) = b.node("Conv", [h, b.const(rng.standard_normal((8, 1, 3, 3))), b.const(rng.standard_normal(8))], group=8)
    (h,) = b.node("BatchNormalization", [h] + [b.const(v) for v in bn_inputs(8, seed=8)])
    (h,) = b.node("Clip", [h, b.const(np.float32(0.0)), b.const(np.float32(6.0))])
    (h,) = b.node("MaxPool", [h], kernel_shape=[2, 2], ceil_mode=1)
    (h,) = b.node("GlobalAveragePool", [h])
    (h,) = b.node("Flatten", [h])
    b.node("Gemm", [h, b.const(rng.standard_normal((5, 8))), b.const(rng.standard_normal(5))], outputs=["y"], transB=1)
    b.output("y")
    model = b.model()
    check_against_ort(model)
    folded = folded_matches(model, 0)
    assert [n.op for n in folded.nodes][:3] == ["Conv", "Relu", "Conv"]


def test_global_pool_bad_rank():
    model = single_op("GlobalAveragePool", [("x", (3,))])
    with pytest.raises(sparsec.SparsecError):
        load_graph(model)


# --------------------------------------------------------------------- random geometry (hypothesis)
@st.composite
def geometry(draw, pool: bool):
    nd = draw(st.integers(1, 2))
    kernel = draw(st.lists(st.integers(1, 3), min_size=nd, max_size=nd))
    strides = draw(st.lists(st.integers(1, 3), min_size=nd, max_size=nd))
    dilations = draw(st.lists(st.integers(1, 2), min_size=nd, max_size=nd))
    top = [k - 1 for k in kernel] if pool else [2] * nd  # onnxruntime wants pool pads < kernel
    pads = [draw(st.integers(0, t)) for t in top] + [draw(st.integers(0, t)) for t in top]
    spatial = [
        draw(st.integers(max(1, (k - 1) * d + 1 - p - q), 8))
        for k, d, p, q in zip(kernel, dilations, pads[:nd], pads[nd:])
    ]
    attrs = {"kernel_shape": kernel, "strides": strides, "dilations": dilations, "pads": pads}
    if pool:
        attrs["ceil_mode"] = draw(st.integers(0, 1))
    return spatial, attrs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(geo=geometry(pool=False), group=st.sampled_from([1, 2]), seed=st.integers(0, 100))
def test_conv_random_geometry(geo, group, seed):
    spatial, attrs = geo
    w = rnd(4, 4 // group, *attrs["kernel_shape"], seed=seed)
    model = single_op("Conv", [("x", [1, 4, *spatial]), w, rnd(4, seed=seed + 1)], dict(attrs, group=group))
    check_against_ort(model, seed=seed)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(geo=geometry(pool=True), op=st.sampled_from(["MaxPool", "AveragePool0", "AveragePool1"]), seed=st.integers(0, 9))
def test_pool_random_geometry(geo, op, seed):
    spatial, attrs = geo
    if op != "MaxPool":
        attrs = dict(attrs, count_include_pad=int(op[-1]))
        op = "AveragePool"
    check_against_ort(single_op(op, [("x", [2, 3, *spatial])], attrs, opset=19), seed=seed)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), nd=st.integers(1, 2), group=st.sampled_from([1, 2]), seed=st.integers(0, 100))
def test_conv_transpose_random_geometry(data, nd, group, seed):
    ints = lambda lo, hi: data.draw(st.lists(st.integers(lo, hi), min_size=nd, max_size=nd))  # noqa: E731
    kernel, strides, dilations, spatial = ints(1, 3), ints(1, 3), ints(1, 2), ints(1, 4)
    attrs = {"strides": strides, "dilations": dilations}
    full = [s * (n - 1) + (k - 1) * d + 1 for s, n, k, d in zip(strides, spatial, kernel, dilations)]
    form = data.draw(st.sampled_from(["pads", "output_shape", "SAME_UPPER", "SAME_LOWER"]))
    if form == "pads":
        attrs["pads"] = [data.draw(st.integers(0, (f - 1) // 2)) for f in full * 2]
        attrs["output_padding"] = [data.draw(st.integers(0, min(s, d) - 1)) for s, d in zip(strides, dilations)]
    elif form == "output_shape":
        attrs["output_shape"] = [
            data.draw(st.integers(max(1, f - 2), f + min(s, 2) - 1)) for f, s in zip(full, strides)
        ]
    else:
        attrs["auto_pad"] = form
    w = rnd(4, 4 // group, *kernel, seed=seed)
    model = single_op("ConvTranspose", [("x", [1, 4, *spatial]), w, rnd(4, seed=seed + 1)], dict(attrs, group=group))
    check_against_ort(model, seed=seed)
