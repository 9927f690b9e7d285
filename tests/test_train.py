"""sparsec.train: every op's backward against central finite differences, graph gradients (MLP, CNN),
batched execution, and fine-tuning (loss goes down, masks, range limit, L1, clipping, determinism)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import DIGITS
from models import Builder, mlp

import sparsec
from sparsec import ops
from sparsec.frontend import load_graph
from sparsec.ir import Node, verify
from sparsec.reference import run
from sparsec.train import batched, evaluate, finetune, forward, gradients

sys.path.insert(0, str(DIGITS))
from data import split  # noqa: E402


def away(*shape, seed=0, low=0.1, high=1.0, positive=False):
    """float32 values with |x| in [low, high]: clear of the kinks at 0 (and of each other when sorted)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(low, high, shape)
    if not positive:
        x = x * rng.choice([-1.0, 1.0], shape)
    return x.astype(np.float32)


def distinct(*shape, seed=0):
    """float32 values at least 0.05 apart, so no perturbation changes which one is the maximum."""
    n = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(n) * 0.05 - n * 0.025).astype(np.float32).reshape(shape)


def ints(*values):
    return np.array(values, dtype=np.int64)


def check_backward(op_type, inputs, attrs=None, opset=13, n_outputs=1, diff=None, eps=1e-2):
    """Backward of L = sum(w * y) (random w) against central differences at each input element."""
    op = ops.get(op_type)
    names = tuple(f"in{k}" if x is not None else "" for k, x in enumerate(inputs))
    outs = tuple(f"out{k}" for k in range(n_outputs))
    node = Node(op_type, "the_node", names, outs, op.attributes(dict(attrs or {}), opset))
    ys = op.reference(node, list(inputs), opset)
    rng = np.random.default_rng(7)
    ws = [rng.standard_normal(y.shape) if y.dtype.kind == "f" else None for y in ys]
    got = op.backward(node, list(inputs), ys, ws, opset)
    assert len(got) == len(inputs)

    def loss(args):
        return sum(
            float(np.sum(w * np.asarray(y, np.float64)))
            for w, y in zip(ws, op.reference(node, args, opset))
            if w is not None
        )

    checked = 0
    for k, x in enumerate(inputs):
        if x is None or x.dtype.kind != "f" or (diff is not None and k not in diff):
            continue
        assert got[k] is not None and np.shape(got[k]) == x.shape, f"input {k}"
        base = x.astype(np.float64)
        fd = np.zeros(x.shape)
        for idx in np.ndindex(x.shape):
            plus, minus = base.copy(), base.copy()
            plus[idx] += eps
            minus[idx] -= eps
            fd[idx] = (loss(inputs[:k] + [plus] + inputs[k + 1 :]) - loss(inputs[:k] + [minus] + inputs[k + 1 :])) / (
                2 * eps
            )
        scale = max(float(np.abs(fd).max()), 1e-3)
        np.testing.assert_allclose(
            np.asarray(got[k], np.float64), fd, rtol=2e-3, atol=1e-3 * scale, err_msg=f"input {k}"
        )
        checked += 1
    assert checked


def rnd(*shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


CASES = {
    # op, inputs, attrs, opset, n_outputs, which inputs to check (None: every float input)
    "gemm": ("Gemm", [rnd(3, 4), rnd(4, 5, seed=2), rnd(5, seed=3)], {}, 13, 1, None),
    "gemm-trans-alpha-beta": (
        "Gemm",
        [rnd(4, 3), rnd(5, 4, seed=2), rnd(1, 5, seed=3)],
        {"transA": 1, "transB": 1, "alpha": 0.5, "beta": 2.0},
        13,
        1,
        None,
    ),
    "gemm-scalar-c": ("Gemm", [rnd(3, 4), rnd(4, 2, seed=2), rnd(seed=3)], {"beta": 0.5}, 13, 1, None),
    "gemm-full-c": ("Gemm", [rnd(3, 4), rnd(2, 4, seed=2), rnd(3, 2, seed=3)], {"transB": 1}, 11, 1, None),
    "gemm-no-c": ("Gemm", [rnd(3, 4), rnd(4, 2, seed=2)], {"transA": 0}, 13, 1, None),
    "matmul": ("MatMul", [rnd(3, 4), rnd(4, 5, seed=2)], {}, 13, 1, None),
    "matmul-batch": ("MatMul", [rnd(2, 1, 3, 4), rnd(3, 4, 2, seed=2)], {}, 13, 1, None),
    "matmul-vec-mat": ("MatMul", [rnd(4), rnd(2, 4, 3, seed=2)], {}, 13, 1, None),
    "matmul-mat-vec": ("MatMul", [rnd(2, 3, 4), rnd(4, seed=2)], {}, 13, 1, None),
    "conv1d": (
        "Conv",
        [rnd(2, 3, 9), rnd(4, 3, 3, seed=2), rnd(4, seed=3)],
        {"strides": [2], "pads": [1, 2]},
        13,
        1,
        None,
    ),
    "conv1d-dilated": ("Conv", [rnd(1, 2, 10), rnd(2, 2, 3, seed=2)], {"dilations": [2], "pads": [2, 0]}, 13, 1, None),
    "conv2d-groups": (
        "Conv",
        [rnd(2, 4, 5, 6), rnd(6, 2, 3, 2, seed=2), rnd(6, seed=3)],
        {"group": 2, "strides": [2, 1], "pads": [1, 0, 1, 1]},
        13,
        1,
        None,
    ),
    "conv2d-depthwise-same": (
        "Conv",
        [rnd(1, 3, 5, 5), rnd(3, 1, 3, 3, seed=2)],
        {"group": 3, "auto_pad": "SAME_UPPER", "strides": [2, 2]},
        13,
        1,
        None,
    ),
    "conv2d-dilated": (
        "Conv",
        [rnd(1, 2, 7, 7), rnd(3, 2, 2, 2, seed=2)],
        {"dilations": [2, 3], "pads": [1, 1, 0, 2]},
        11,
        1,
        None,
    ),
    "convtranspose2d": (
        "ConvTranspose",
        [rnd(2, 4, 3, 3), rnd(4, 3, 3, 3, seed=2), rnd(6, seed=3)],
        {"group": 2, "strides": [2, 2], "pads": [1, 0, 0, 1], "output_padding": [1, 0]},
        13,
        1,
        None,
    ),
    "convtranspose1d-dilated": (
        "ConvTranspose",
        [rnd(1, 2, 4), rnd(2, 3, 3, seed=2)],
        {"dilations": [2], "strides": [3]},
        13,
        1,
        None,
    ),
    "add-broadcast": ("Add", [rnd(2, 3, 4), rnd(3, 1, seed=2)], {}, 13, 1, None),
    "sub-broadcast": ("Sub", [rnd(4), rnd(2, 3, 4, seed=2)], {}, 13, 1, None),
    "mul-scalar": ("Mul", [rnd(2, 3), rnd(seed=2)], {}, 13, 1, None),
    "div": ("Div", [rnd(2, 3), away(2, 1, seed=2, low=0.5, high=1.5)], {}, 13, 1, None),
    "pow": ("Pow", [away(2, 3, positive=True, low=0.5, high=2.0), rnd(3, seed=2)], {}, 13, 1, None),
    "sum": ("Sum", [rnd(2, 3), rnd(3, seed=2), rnd(2, 1, seed=3)], {}, 13, 1, None),
    "mean": ("Mean", [rnd(2, 3), rnd(2, 3, seed=2)], {}, 13, 1, None),
    "where": ("Where", [np.array([[True, False, True]]), rnd(2, 3), rnd(3, seed=2)], {}, 13, 1, None),
    "relu": ("Relu", [away(3, 4)], {}, 13, 1, None),
    "leakyrelu": ("LeakyRelu", [away(3, 4)], {"alpha": 0.1}, 13, 1, None),
    "prelu-channels": ("PRelu", [away(2, 3, 2, 2), rnd(3, 1, 1, seed=2)], {}, 13, 1, None),
    "prelu-shared": ("PRelu", [away(2, 5), rnd(1, seed=2)], {}, 13, 1, None),
    "clip-inputs": ("Clip", [away(3, 4), np.float32(-0.5), np.float32(0.55)], {}, 13, 1, [0]),
    "clip-attrs": ("Clip", [away(3, 4)], {"min": -0.45, "max": 0.5}, 6 + 3, 1, None),
    "clip-min-only": ("Clip", [away(3, 4), np.float32(0.05)], {}, 13, 1, [0]),
    "sigmoid": ("Sigmoid", [rnd(3, 4) * 3], {}, 13, 1, None),
    "hardsigmoid": ("HardSigmoid", [away(3, 4) * 4], {"alpha": 0.3, "beta": 0.4}, 13, 1, None),
    "hardswish": ("HardSwish", [away(3, 4) * 3.3], {}, 14, 1, None),
    "tanh": ("Tanh", [rnd(3, 4)], {}, 13, 1, None),
    "elu": ("Elu", [away(3, 4) * 2], {"alpha": 0.7}, 13, 1, None),
    "selu": ("Selu", [away(3, 4) * 2], {}, 13, 1, None),
    "celu": ("Celu", [away(3, 4) * 2], {"alpha": 1.5}, 13, 1, None),
    "gelu": ("Gelu", [rnd(3, 4) * 2], {}, 20, 1, None),
    "gelu-tanh": ("Gelu", [rnd(3, 4) * 2], {"approximate": "tanh"}, 20, 1, None),
    "softplus": ("Softplus", [rnd(3, 4) * 2], {}, 13, 1, None),
    "softsign": ("Softsign", [away(3, 4)], {}, 13, 1, None),
    "mish": ("Mish", [rnd(3, 4)], {}, 18, 1, None),
    "exp": ("Exp", [rnd(3, 4)], {}, 13, 1, None),
    "log": ("Log", [away(3, 4, positive=True, low=0.5, high=2.0)], {}, 13, 1, None),
    "sqrt": ("Sqrt", [away(3, 4, positive=True, low=0.5, high=2.0)], {}, 13, 1, None),
    "reciprocal": ("Reciprocal", [away(3, 4, low=0.5, high=2.0)], {}, 13, 1, None),
    "erf": ("Erf", [rnd(3, 4)], {}, 13, 1, None),
    "sin": ("Sin", [rnd(3, 4)], {}, 13, 1, None),
    "cos": ("Cos", [rnd(3, 4)], {}, 13, 1, None),
    "neg": ("Neg", [rnd(3, 4)], {}, 13, 1, None),
    "abs": ("Abs", [away(3, 4)], {}, 13, 1, None),
    "softmax": ("Softmax", [rnd(2, 3, 4)], {"axis": 1}, 13, 1, None),
    "softmax-last": ("Softmax", [rnd(2, 5) * 2], {}, 13, 1, None),
    "softmax-coerced": ("Softmax", [rnd(2, 3, 4)], {"axis": 1}, 11, 1, None),
    "logsoftmax": ("LogSoftmax", [rnd(2, 3, 4)], {"axis": 2}, 13, 1, None),
    "logsoftmax-coerced": ("LogSoftmax", [rnd(2, 3, 4)], {}, 11, 1, None),
    "flatten": ("Flatten", [rnd(2, 3, 4)], {"axis": 2}, 13, 1, None),
    "reshape": ("Reshape", [rnd(2, 3, 4), ints(0, -1, 2)], {}, 13, 1, None),
    "transpose": ("Transpose", [rnd(2, 3, 4)], {"perm": [1, 2, 0]}, 13, 1, None),
    "squeeze": ("Squeeze", [rnd(2, 1, 3), ints(1)], {}, 13, 1, None),
    "squeeze-attr": ("Squeeze", [rnd(1, 3, 1)], {"axes": [0, 2]}, 11, 1, None),
    "unsqueeze": ("Unsqueeze", [rnd(2, 3), ints(0, 3)], {}, 13, 1, None),
    "concat": ("Concat", [rnd(2, 1, 3), rnd(2, 2, 3, seed=2), rnd(2, 3, 3, seed=3)], {"axis": -2}, 13, 1, None),
    "split": ("Split", [rnd(2, 5), ints(2, 3)], {"axis": 1}, 13, 2, None),
    "split-num-outputs": ("Split", [rnd(5, 2)], {"num_outputs": 3}, 18, 3, None),
    "split-attr": ("Split", [rnd(6, 2)], {"split": [1, 2, 3]}, 11, 3, None),
    "slice": ("Slice", [rnd(4, 5), ints(0, -1), ints(3, -6), ints(0, 1), ints(1, -2)], {}, 13, 1, None),
    "slice-attrs": ("Slice", [rnd(4, 5)], {"starts": [1], "ends": [100], "axes": [1]}, 9, 1, None),
    "pad": ("Pad", [rnd(2, 3), ints(1, -1, 0, 2), np.float32(0.5)], {}, 13, 1, [0]),
    "pad-attrs": ("Pad", [rnd(2, 3)], {"pads": [0, 1, 2, 0], "value": 1.0}, 9, 1, None),
    "maxpool": (
        "MaxPool",
        [distinct(2, 2, 5, 5)],
        {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
        13,
        1,
        None,
    ),
    "maxpool-ceil-dilated": (
        "MaxPool",
        [distinct(1, 2, 7, 6)],
        {"kernel_shape": [2, 2], "strides": [2, 2], "dilations": [2, 1], "ceil_mode": 1},
        13,
        1,
        None,
    ),
    "maxpool-1d-overlap": ("MaxPool", [distinct(1, 2, 8)], {"kernel_shape": [3], "strides": [1]}, 13, 1, None),
    "avgpool": (
        "AveragePool",
        [rnd(2, 2, 5, 5)],
        {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
        13,
        1,
        None,
    ),
    "avgpool-count-pad-ceil": (
        "AveragePool",
        [rnd(1, 2, 6, 5)],
        {"kernel_shape": [3, 2], "strides": [2, 2], "pads": [1, 0, 1, 1], "count_include_pad": 1, "ceil_mode": 1},
        13,
        1,
        None,
    ),
    "avgpool-ceil": (
        "AveragePool",
        [rnd(1, 1, 6, 6)],
        {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1},
        13,
        1,
        None,
    ),
    "global-avgpool": ("GlobalAveragePool", [rnd(2, 3, 4, 2)], {}, 13, 1, None),
    "global-maxpool": ("GlobalMaxPool", [distinct(2, 3, 4, 2)], {}, 13, 1, None),
    "batchnorm": (
        "BatchNormalization",
        [rnd(2, 3, 4, 2), rnd(3, seed=2), rnd(3, seed=3), rnd(3, seed=4), away(3, positive=True, low=0.5, high=1.5)],
        {"epsilon": 1e-3},
        15,
        1,
        None,
    ),
    "batchnorm-2d": (
        "BatchNormalization",
        [rnd(4, 3), rnd(3, seed=2), rnd(3, seed=3), rnd(3, seed=4), away(3, positive=True, low=0.5, high=1.5)],
        {},
        9,
        1,
        None,
    ),
    "reducemean": ("ReduceMean", [rnd(2, 3, 4), ints(0, -1)], {"keepdims": 0}, 18, 1, None),
    "reducemean-attr": ("ReduceMean", [rnd(2, 3, 4)], {"axes": [1]}, 13, 1, None),
    "reducemean-all": ("ReduceMean", [rnd(2, 3)], {"keepdims": 0}, 13, 1, None),
    "reducesum": ("ReduceSum", [rnd(2, 3, 4), ints(1)], {"keepdims": 1}, 13, 1, None),
    "reducesum-attr": ("ReduceSum", [rnd(2, 3, 4)], {"axes": [0, 2], "keepdims": 0}, 11, 1, None),
    "reducesumsquare": ("ReduceSumSquare", [rnd(2, 3)], {"axes": [1]}, 13, 1, None),
    "identity": ("Identity", [rnd(2, 3)], {}, 13, 1, None),
    "dropout": ("Dropout", [rnd(2, 3), np.float32(0.3)], {}, 13, 1, [0]),
    "cast": ("Cast", [rnd(2, 3)], {"to": 1}, 13, 1, None),
    "gather": ("Gather", [rnd(4, 3), ints(2, 0, 2, -1)], {"axis": 0}, 13, 1, None),
    "gather-axis1": ("Gather", [rnd(2, 4, 3), np.array([[1, 1], [3, 0]])], {"axis": 1}, 13, 1, None),
    "expand": ("Expand", [rnd(3, 1), ints(2, 3, 4)], {}, 13, 1, None),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_backward_matches_finite_differences(case):
    op_type, inputs, attrs, opset, n_outputs, diff = case
    check_backward(op_type, list(inputs), attrs, opset, n_outputs, diff)


def test_backward_default_names_the_op():
    with pytest.raises(ops.OpFormError, match="Floor has no gradient"):
        op = ops.get("Floor")
        op.backward(Node("Floor", "n", ("x",), ("y",)), [rnd(2)], [rnd(2)], [np.ones(2)], 13)


def test_required_ops_have_backward():
    required = """Gemm MatMul Conv ConvTranspose Add Sub Mul Div Relu LeakyRelu PRelu Clip Sigmoid HardSigmoid
    HardSwish Tanh Elu Selu Gelu Softplus Exp Log Sqrt Neg Abs Softmax LogSoftmax Flatten Reshape Transpose Squeeze
    Unsqueeze Concat Split Slice Pad MaxPool AveragePool GlobalAveragePool GlobalMaxPool BatchNormalization
    ReduceMean ReduceSum Identity Dropout Cast""".split()
    tested = {case[0] for case in CASES.values()}
    assert set(required) <= tested


# ----------------------------------------------------------------------------------- graph gradients
def cnn_model(opset=13, head="Softmax"):
    """Conv + BatchNormalization + Relu + MaxPool + Flatten + Gemm (+ Softmax/LogSoftmax)."""
    rng = np.random.default_rng(0)
    b = Builder("cnn")
    x = b.input("x", ["N", 2, 6, 6])
    w = b.const(rng.standard_normal((3, 2, 3, 3)) * 0.5, "conv.weight")
    (h,) = b.node("Conv", [x, w, b.const(rng.standard_normal(3) * 0.1, "conv.bias")], name="conv", pads=[1, 1, 1, 1])
    bn = [
        b.const(v, f"bn.{k}")
        for k, v in zip(
            ("scale", "bias", "mean", "var"),
            (
                rng.uniform(0.5, 1.5, 3),
                rng.standard_normal(3) * 0.1,
                rng.standard_normal(3) * 0.1,
                rng.uniform(0.5, 1.5, 3),
            ),
        )
    ]
    (h,) = b.node("BatchNormalization", [h, *bn], name="bn")
    (h,) = b.node("Relu", [h], name="relu")
    (h,) = b.node("MaxPool", [h], name="pool", kernel_shape=[2, 2], strides=[2, 2])
    (h,) = b.node("Flatten", [h], name="flatten")
    fc = [b.const(rng.standard_normal((4, 27)) * 0.3, "fc.weight"), b.const(rng.standard_normal(4) * 0.1, "fc.bias")]
    outs = ["y"] if head is None else None
    (h,) = b.node("Gemm", [h, *fc], name="fc", transB=1, outputs=outs)
    if head:
        b.node(head, [h], name="head", axis=-1 if opset >= 13 else 1, outputs=["y"])
    b.output("y")
    return b.model(opset)


def loss_fn(graph, x, y, kind="cross_entropy"):
    """The loss computed independently of sparsec.train: float64 from the reference's float32 values."""
    values = run(batched(graph, len(x)), {graph.inputs[0]: x}, keep_all=True)
    out = values[graph.outputs[0]].astype(np.float64)
    if kind == "mse":
        return float(np.mean((out - y) ** 2))
    node = graph.producer(graph.outputs[0])
    z = values[node.inputs[0]].astype(np.float64) if node.op in ("Softmax", "LogSoftmax") else out
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-np.mean(log_p[np.arange(len(y)), y]))


def check_param_grads(graph, x, y, grads, kind="cross_entropy", eps=1e-3):
    """Directional derivatives along random directions, per constant, against central differences
    (a small step: larger ones cross Relu/MaxPool kinks; float32 rounding limits the accuracy)."""
    rng = np.random.default_rng(3)
    for name, g in grads.params.items():
        w = graph.constants[name].astype(np.float64)
        v = rng.standard_normal(w.shape) * (np.abs(w).mean() + 1e-3)

        def at(t, name=name, w=w, v=v):
            consts = dict(graph.constants, **{name: (w + t * v).astype(np.float32)})
            return loss_fn(graph.replace(constants=consts), x, y, kind)

        fd = (at(eps) - at(-eps)) / (2 * eps)
        assert np.isclose(float(np.sum(g * v)), fd, rtol=1e-2, atol=2e-4), (name, float(np.sum(g * v)), fd)


@pytest.mark.parametrize("form", ["gemm", "matmul_add", "gemm_transB0_alpha_beta"])
def test_mlp_gradients(form):
    graph = load_graph(mlp([5, 7, 4], form=form, seed=1))
    x = rnd(6, 5, seed=4)
    y = np.array([0, 1, 2, 3, 0, 1])
    grads = gradients(graph, x, y)
    assert set(grads.params) == {k for k in graph.constants}
    assert np.isclose(grads.loss, loss_fn(graph, x, y))
    check_param_grads(graph, x, y, grads)
    # value_grads cover every float value on the path, shaped like the values.
    for k, v in grads.values.items():
        assert grads.value_grads[k].shape == v.shape
    # Without labels: the model's own predictions are the labels.
    own = gradients(graph, x)
    pred = np.argmax(forward(graph, x)["y"], axis=1)
    same = gradients(graph, x, pred)
    for k in own.params:
        np.testing.assert_allclose(own.params[k], same.params[k])


@pytest.mark.parametrize("head", ["Softmax", "LogSoftmax", None])
def test_cnn_gradients(head):
    graph = load_graph(cnn_model(head=head))
    x = rnd(5, 2, 6, 6, seed=5)
    y = np.array([0, 3, 1, 2, 3])
    grads = gradients(graph, x, y)
    assert "bn.scale" in grads.params and "bn.mean" not in grads.params
    assert np.isclose(grads.loss, loss_fn(graph, x, y))
    check_param_grads(graph, x, y, grads)
    # The loss is the same whatever the head, so the gradients are too.
    ref = gradients(load_graph(cnn_model(head="Softmax")), x, y)
    for k in ref.params:
        np.testing.assert_allclose(grads.params[k], ref.params[k], rtol=1e-6, atol=1e-9)
    assert grads.value_grads["x"].shape == x.shape


def test_cnn_gradients_old_opset_and_explicit_params():
    graph = load_graph(cnn_model(opset=11))
    x = rnd(3, 2, 6, 6, seed=6)
    y = np.array([1, 0, 2])
    grads = gradients(graph, x, y, params=["conv.weight", "bn.var"])
    assert set(grads.params) == {"conv.weight", "bn.var"}
    check_param_grads(graph, x, y, grads)


def test_mse_gradients():
    graph = load_graph(mlp([4, 6, 3], softmax=False, seed=2))
    x = rnd(5, 4, seed=1)
    target = rnd(5, 3, seed=2)
    grads = gradients(graph, x, target)
    assert np.isclose(grads.loss, loss_fn(graph, x, target, "mse"))
    check_param_grads(graph, x, target, grads, "mse")
    # A regression output: integer targets are regression targets too; without targets, no loss.
    reg = load_graph(mlp([4, 6, 1], softmax=False, seed=2))
    ints_y = np.arange(5)
    assert np.isclose(gradients(reg, x, ints_y).loss, loss_fn(reg, x, ints_y[:, None], "mse"))
    with pytest.raises(sparsec.OptionError, match="targets y"):
        gradients(reg, x)
    # Class ids stored as floats are still class ids.
    labels = np.array([0, 2, 1, 1, 0])
    assert np.isclose(gradients(graph, x, labels.astype(np.float32)).loss, gradients(graph, x, labels).loss)


def test_gradient_through_op_without_backward_names_the_node():
    b = Builder()
    x = b.input("x", [1, 3])
    (h,) = b.node("Floor", [x], name="floor")
    b.node("Gemm", [h, b.const(rnd(3, 2), "w")], name="fc", outputs=["y"])
    b.output("y")
    with pytest.raises(sparsec.UnsupportedOperatorError, match="'floor'.*Floor has no gradient"):
        gradients(load_graph(b.model()), rnd(4, 3))


def test_gradient_options():
    graph = load_graph(mlp([4, 6, 3], seed=2))
    x = rnd(5, 4, seed=1)
    with pytest.raises(sparsec.OptionError, match="loss"):
        gradients(graph, x, loss="hinge")
    with pytest.raises(sparsec.OptionError, match="params"):
        gradients(graph, x, params=["nope"])
    with pytest.raises(sparsec.OptionError, match="class ids"):
        gradients(graph, x, np.array([0, 1, 2, 3, 9]))
    with pytest.raises(sparsec.OptionError, match="mse"):
        gradients(graph, x, loss="mse")


# ------------------------------------------------------------------------------------------ batched
def flat_mlp():
    """Conv -> Relu -> Reshape to a hard-coded [1, -1] -> Gemm, as torch exports x.view(1, -1)."""
    rng = np.random.default_rng(0)
    b = Builder()
    x = b.input("x", [1, 2, 4, 4])
    (h,) = b.node("Conv", [x, b.const(rng.standard_normal((3, 2, 3, 3)), "cw")], name="conv")
    (h,) = b.node("Relu", [h], name="relu")
    (h,) = b.node("Reshape", [h, b.const(np.array([1, -1]), "shape", dtype=np.int64)], name="flat")
    b.node(
        "Gemm",
        [h, b.const(rng.standard_normal((12, 5)), "w"), b.const(rng.standard_normal(5), "b")],
        name="fc",
        outputs=["y"],
    )
    b.output("y")
    return b.model()


def test_batched_rewrites_hard_coded_batch():
    graph = load_graph(flat_mlp())
    big = batched(graph, 7)
    assert big.types["x"].shape == (7, 2, 4, 4) and big.types["y"].shape == (7, 5)
    assert batched(graph, 7) is big and batched(graph, 1) is graph
    verify(big)
    x = rnd(7, 2, 4, 4)
    want = np.concatenate([run(graph, {"x": s[None]})["y"] for s in x])
    np.testing.assert_array_equal(forward(graph, x, batch_size=3)["y"], want)
    np.testing.assert_array_equal(run(big, {"x": x})["y"], want)
    assert set(graph.constants) == {"cw", "shape", "w", "b"}  # the input graph is untouched


def test_batched_digits_model():
    model = sparsec.load(DIGITS / "digits_mlp.onnx")
    x = split()[1][:50]
    got = forward(model.graph, x, batch_size=16)["probabilities"]
    want = np.concatenate([run(model.graph, {"input": s[None]})["probabilities"] for s in x])
    np.testing.assert_array_equal(got, want)
    every = forward(model.graph, x, keep_all=True)
    assert every["input"].shape == (50, 64) and every["probabilities"].shape == (50, 10)
    assert every["/fc1/MatMul_weight"].shape == (128, 64)  # constants once, unbatched
    one = forward(model.graph, x[:1])  # exactly the input's shape
    np.testing.assert_array_equal(one["probabilities"], want[:1])


def test_batched_rejects_batch_mixing():
    b = Builder()
    x = b.input("x", [1, 2, 3])
    (h,) = b.node("Flatten", [x], name="mix", axis=0)
    b.node("Relu", [h], name="relu", outputs=["y"])
    b.output("y")
    graph = load_graph(b.model())
    with pytest.raises(sparsec.OptionError, match="'mix'.*batch size 1"):
        batched(graph, 3)
    # Still usable one sample at a time.
    assert forward(graph, rnd(3, 2, 3), batch_size=1)["y"].shape == (3, 6)
    with pytest.raises(sparsec.OptionError, match="batch_size"):
        forward(graph, rnd(3, 2, 3), batch_size=0)


def test_batched_rejects_softmax_over_batch():
    b = Builder()
    x = b.input("x", [1, 4])
    b.node("Softmax", [x], name="sm", axis=0, outputs=["y"])
    b.output("y")
    with pytest.raises(sparsec.OptionError, match="'sm'"):
        batched(load_graph(b.model()), 2)


def test_forward_rejects_bad_shapes():
    graph = load_graph(mlp([4, 3]))
    with pytest.raises(sparsec.OptionError, match=r"\[N, 4\]"):
        forward(graph, rnd(5, 3))


# ----------------------------------------------------------------------------------------- finetune
@pytest.fixture(scope="module")
def digits():
    x_train, x_test, y_train, y_test = split()
    graph = sparsec.load(DIGITS / "digits_mlp.onnx").graph
    rng = np.random.default_rng(1)
    noisy = {
        k: (v + rng.standard_normal(v.shape) * 0.5 * v.std()).astype(np.float32) for k, v in graph.constants.items()
    }
    return graph.replace(constants=noisy), x_train[:600], y_train[:600], x_test, y_test


def test_finetune_reduces_loss(digits):
    graph, x, y, x_test, y_test = digits
    before = evaluate(graph, x, y)
    trained, history = finetune(graph, x, y, epochs=2, lr=1e-3, validation=(x_test, y_test))
    after = evaluate(trained, x, y)
    assert after["loss"] < 0.8 * before["loss"] and after["accuracy"] >= before["accuracy"]
    assert [h["epoch"] for h in history] == [1, 2]
    assert set(history[0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy"}
    assert history[1]["loss"] < history[0]["loss"]
    assert np.isclose(history[-1]["val_loss"], evaluate(trained, x_test, y_test)["loss"])
    for v in trained.constants.values():
        assert v.dtype == np.float32 and not v.flags.writeable
    assert any(not np.array_equal(trained.constants[k], graph.constants[k]) for k in graph.constants)


def test_finetune_keeps_pruned_weights_zero(digits):
    graph, x, y, _, _ = digits
    w = graph.constants["/fc1/MatMul_weight"]
    pruned = np.where(np.abs(w) < np.quantile(np.abs(w), 0.7), 0, w).astype(np.float32)
    graph = graph.replace(constants=dict(graph.constants, **{"/fc1/MatMul_weight": pruned}))
    trained, _ = finetune(graph, x, y, epochs=1, lr=1e-2, l2=1e-3)
    new = trained.constants["/fc1/MatMul_weight"]
    assert np.all(new[pruned == 0] == 0) and np.any(new != pruned)
    # An explicit mask: only the given entries are held at zero (here a bias).
    mask = np.ones(64, bool)
    mask[:10] = False
    trained, _ = finetune(graph, x, y, epochs=1, optimizer="sgd", lr=0.05, masks={"/fc2/MatMul_bias": mask})
    assert np.all(trained.constants["/fc2/MatMul_bias"][:10] == 0)
    assert np.count_nonzero(trained.constants["/fc1/MatMul_weight"] == 0) < np.count_nonzero(pruned == 0)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_finetune_range_limit(digits, optimizer):
    graph, x, y, _, _ = digits
    for limit in (0.05, {"/fc1/MatMul_weight": 0.02, "/fc3/MatMul_bias": 0.1}):
        for epochs in (0, 1):
            trained, _ = finetune(
                graph, x[:200], y[:200], epochs=epochs, lr=0.05, optimizer=optimizer, range_limit=limit
            )
            limits = limit if isinstance(limit, dict) else dict.fromkeys(graph.constants, limit)
            for k, r in limits.items():
                assert np.abs(trained.constants[k]).max() <= r
    # The clamp is a projection after every step: with a huge lr and one step, weights sit on the bound.
    trained, _ = finetune(graph, x, y, batch_size=len(x), lr=10.0, optimizer="sgd", momentum=0.0, range_limit=0.05)
    w = np.abs(trained.constants["/fc1/MatMul_weight"])
    assert w.max() <= 0.05 and np.mean(w >= np.float32(0.05) * (1 - 1e-6)) > 0.1


def test_finetune_l1_sparsifies(digits):
    graph, x, y, _, _ = digits
    kw = dict(epochs=3, lr=0.05, optimizer="sgd", seed=3)
    plain, _ = finetune(graph, x, y, **kw)
    sparse, _ = finetune(graph, x, y, l1=2e-3, **kw)
    for k in ("/fc1/MatMul_weight", "/fc2/MatMul_weight"):
        small = [np.count_nonzero(np.abs(g.constants[k]) < 0.01) for g in (plain, sparse)]
        assert small[1] > 1.5 * small[0]
        assert np.abs(sparse.constants[k]).sum() < np.abs(plain.constants[k]).sum()
    # Biases are not penalized.
    b = "/fc1/MatMul_bias"
    assert np.abs(sparse.constants[b]).sum() > 0.9 * np.abs(plain.constants[b]).sum()


def test_finetune_clipping_bounds_the_update(digits):
    graph, x, y, _, _ = digits
    lr, c = 0.1, 0.01
    one_step = dict(batch_size=len(x), lr=lr, optimizer="sgd", momentum=0.0)
    free, _ = finetune(graph, x, y, **one_step)
    clipped, _ = finetune(graph, x, y, clip_norm=c, **one_step)

    def step_norm(g):
        return np.sqrt(
            sum(np.sum((g.constants[k].astype(np.float64) - graph.constants[k]) ** 2) for k in graph.constants)
        )

    assert step_norm(free) > 2 * lr * c
    assert step_norm(clipped) <= lr * c * 1.001
    assert step_norm(clipped) >= lr * c * 0.99
    by_value, _ = finetune(graph, x, y, clip_value=1e-3, **one_step)
    for k in graph.constants:
        delta = by_value.constants[k].astype(np.float64) - graph.constants[k]
        assert np.abs(delta).max() <= lr * 1e-3 * 1.01


def test_finetune_is_deterministic(digits):
    graph, x, y, _, _ = digits
    kw = dict(epochs=1, batch_size=50, lr=1e-3)
    a, ha = finetune(graph, x, y, seed=5, **kw)
    b, hb = finetune(graph, x, y, seed=5, **kw)
    c, _ = finetune(graph, x, y, seed=6, **kw)
    assert ha == hb
    for k in graph.constants:
        np.testing.assert_array_equal(a.constants[k], b.constants[k])
    assert any(not np.array_equal(a.constants[k], c.constants[k]) for k in graph.constants)


def test_finetune_without_labels_and_progress(digits, capsys):
    graph, x, y, _, _ = digits
    trained, history = finetune(graph, x[:100], None, epochs=2, lr=1e-3, progress=True)
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "epoch 2/2" in err and "loss" in err
    assert history[0]["accuracy"] > 0.5  # agreement with the model's own labels
    finetune(graph, x[:64], y[:64], epochs=1)  # progress=None: stderr is no terminal here
    assert capsys.readouterr().err == ""


def unbatchable_model():
    """Flatten at axis 0 (folds the batch into the features): only one sample at a time works."""
    rng = np.random.default_rng(0)
    b = Builder()
    x = b.input("x", [1, 2, 3])
    (h,) = b.node("Flatten", [x], name="mix", axis=0)
    (h,) = b.node(
        "Gemm", [h, b.const(rng.standard_normal((6, 3)), "w"), b.const(rng.standard_normal(3), "b")], name="fc"
    )
    b.node("Softmax", [h], name="sm", outputs=["y"])
    b.output("y")
    return load_graph(b.model())


def test_unbatchable_graph_runs_one_sample_at_a_time():
    graph = unbatchable_model()
    x = rnd(6, 2, 3, seed=2)
    y = np.arange(6) % 3
    grads = gradients(graph, x, y)
    each = [gradients(graph, x[i : i + 1], y[i : i + 1]) for i in range(6)]
    np.testing.assert_allclose(grads.params["w"], np.mean([g.params["w"] for g in each], axis=0))
    assert np.isclose(grads.loss, np.mean([g.loss for g in each]))
    assert grads.values["y"].shape == (6, 3) and grads.value_grads["x"].shape == (6, 2, 3)
    np.testing.assert_allclose(grads.value_grads["x"][2:3], each[2].value_grads["x"] / 6)
    trained, history = finetune(graph, x, y, epochs=3, batch_size=4, lr=1e-2)
    assert history[-1]["loss"] < history[0]["loss"]
    assert np.isclose(
        evaluate(trained, x, y)["loss"],
        np.mean([evaluate(trained, x[i : i + 1], y[i : i + 1])["loss"] for i in range(6)]),
    )


BAD_OPTIONS = {
    "epochs": -1,
    "lr": 0.0,
    "batch_size": 0,
    "optimizer": "rmsprop",
    "momentum": 1.0,
    "l1": -1e-3,
    "l2": float("nan"),
    "clip_value": 0,
    "clip_norm": -1.0,
    "range_limit": 0.0,
    "masks": {"nope": np.ones(3, bool)},
    "params": ["nope"],
    "seed": "x",
    "progress": "yes",
    "validation": (np.zeros((2, 64), np.float32),),
    "loss": "hinge",
}


@pytest.mark.parametrize("option,value", BAD_OPTIONS.items(), ids=BAD_OPTIONS.keys())
def test_finetune_bad_options(digits, option, value):
    graph, x, y, _, _ = digits
    with pytest.raises(sparsec.OptionError, match=option):
        finetune(graph, x[:10], y[:10], **{option: value})


def test_finetune_bad_mask_shape_and_range_dict(digits):
    graph, x, y, _, _ = digits
    with pytest.raises(sparsec.OptionError, match="masks"):
        finetune(graph, x[:10], y[:10], masks={"/fc1/MatMul_weight": np.ones(3, bool)})
    with pytest.raises(sparsec.OptionError, match="range_limit"):
        finetune(graph, x[:10], y[:10], range_limit={"/fc1/MatMul_weight": -1.0})


def test_evaluate(digits):
    graph, _, _, x_test, y_test = digits
    scores = evaluate(graph, x_test, y_test)
    pred = np.argmax(forward(graph, x_test)["probabilities"], axis=1)
    assert scores["accuracy"] == np.mean(pred == y_test)
    assert np.isclose(scores["loss"], loss_fn(graph, x_test, y_test))
