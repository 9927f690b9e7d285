"""Graph passes: simplification keeps outputs and gives canonical layers; prune and range_limit.

The unsimplified graph run by the reference (itself checked against onnxruntime in
test_reference.py) is the oracle for every simplification pass.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import ort_session
from models import FORMS, Builder, mlp, random_feeds
from onnx import TensorProto, helper

import sparsec
from sparsec.frontend import load_graph
from sparsec.ir import verify
from sparsec.passes import SIMPLIFY, drop_identity, fold_batchnorm, fold_constants, fuse_gemm, run_passes
from sparsec.reference import run

PASSES = {
    "fold_constants": fold_constants,
    "drop_identity": drop_identity,
    "fuse_gemm": fuse_gemm,
    "all": lambda g: run_passes(g),
}


def assert_close(got, want, what="", tol=1e-5):
    assert got.shape == want.shape, f"{what}: shape {got.shape} vs {want.shape}"
    assert got.dtype == np.float32
    err = np.abs(got.astype(np.float64) - want) / np.maximum(1.0, np.abs(want))
    assert err.max(initial=0.0) <= tol, f"{what}: error {err.max():.3g}"


def constant_fed_model(opset=13):
    """x[2, 12] -> Reshape(Constant [0, 3, -1]) -> Flatten -> MatMul by a weight that is itself
    Reshape(flat initializer, Constant) -> Add(bias_a + bias_b) -> Identity (graph output)."""
    rng = np.random.default_rng(7)
    b = Builder("constant_fed")
    x = b.input("x", (2, 12))
    (shape,) = b.node("Constant", [], name="shape", value=helper.make_tensor("s", TensorProto.INT64, [3], [0, 3, -1]))
    (h,) = b.node("Reshape", [x, shape], name="reshape_x")
    (h,) = b.node("Flatten", [h], name="flatten", axis=1)
    (wshape,) = b.node("Constant", [], name="wshape", value_ints=[12, 5])
    (w,) = b.node("Reshape", [b.const(rng.standard_normal(60), "w_flat"), wshape], name="reshape_w")
    (bias,) = b.node(
        "Add", [b.const(rng.standard_normal(5), "b1"), b.const(rng.standard_normal((1, 5)), "b2")], name="bias_sum"
    )
    (h,) = b.node("MatMul", [h, w], name="mm")
    (h,) = b.node("Add", [h, bias], name="add")
    (h,) = b.node("Relu", [h], name="relu")
    b.node("Identity", [h], outputs=["y"], name="out")
    b.output("y")
    return b.model(opset)


def column_bias_model():
    """MatMul x[3, 4] @ W[4, 3] + b[3, 1]: the bias broadcasts over columns, not a per-neuron bias."""
    rng = np.random.default_rng(3)
    b = Builder("column_bias")
    x = b.input("x", (3, 4))
    (h,) = b.node("MatMul", [x, b.const(rng.standard_normal((4, 3)))], name="mm")
    b.node("Add", [h, b.const(rng.standard_normal((3, 1)))], outputs=["y"], name="add")
    b.output("y")
    return b.model()


def full_c_model():
    """Gemm with a full [M, N] C, transB=0 and alpha/beta: not a layer form; it must stay correct."""
    rng = np.random.default_rng(4)
    b = Builder("full_c")
    x = b.input("x", (3, 4))
    w, c = b.const(rng.standard_normal((4, 5))), b.const(rng.standard_normal((3, 5)))
    b.node("Gemm", [x, w, c], outputs=["y"], name="g", alpha=0.5, beta=-2.0)
    b.output("y")
    return b.model()


MODELS = {}
for _form in FORMS:
    for _opset in (11, 13):
        MODELS[f"{_form}-opset{_opset}"] = lambda f=_form, o=_opset: mlp([6, 9, 7, 4], opset=o, form=f, seed=o)
    MODELS[f"{_form}-dropout-identity"] = lambda f=_form: mlp([5, 8, 8, 3], form=f, dropout=True, identity=True)
    MODELS[f"{_form}-dropout-opset11"] = lambda f=_form: mlp([5, 8, 3], form=f, dropout=True, opset=11)
    MODELS[f"{_form}-identity-output"] = lambda f=_form: mlp([5, 8, 3], form=f, identity=True, identity_output=True)
    MODELS[f"{_form}-bias[1,N]-batch3"] = lambda f=_form: mlp([5, 8, 3], form=f, bias_shape="1n", batch=3)
    MODELS[f"{_form}-bias-scalar"] = lambda f=_form: mlp([5, 8, 3], form=f, bias_shape="scalar", softmax=False)
    MODELS[f"{_form}-width1"] = lambda f=_form: mlp([1, 1, 1], form=f, relu=False, softmax=False)
MODELS["constant-fed-reshape"] = constant_fed_model
MODELS["column-bias"] = column_bias_model
MODELS["gemm-full-C"] = full_c_model


@pytest.mark.parametrize("build", MODELS.values(), ids=MODELS.keys())
@pytest.mark.parametrize("name", PASSES)
def test_pass_keeps_outputs(build, name):
    model = build()
    graph = load_graph(model)
    before_nodes, before_consts = graph.nodes, dict(graph.constants)
    new = PASSES[name](graph)
    verify(new)
    assert graph.nodes == before_nodes and dict(graph.constants) == before_consts  # passes are pure
    assert new.inputs == graph.inputs and new.outputs == graph.outputs
    for seed in range(2):
        feeds = random_feeds(model, seed=seed)
        want = run(graph, feeds)
        got = run(new, feeds)
        for out in graph.outputs:
            assert_close(got[out], want[out].astype(np.float64), f"{name} on {out}")
            assert new.types[out] == graph.types[out]


@pytest.mark.parametrize("build", MODELS.values(), ids=MODELS.keys())
def test_simplified_load_matches_onnxruntime(build):
    model = build()
    m = sparsec.load(model)
    feeds = random_feeds(model, seed=5)
    want = ort_session(model).run(None, feeds)[0]
    assert_close(run(m.graph, feeds)[m.output_name], want.astype(np.float64), "simplified")


def canonical_problems(graph):
    """Why ``graph`` is not made of canonical layers (empty if it is)."""
    problems = []
    for node in graph.nodes:
        if node.op in ("Identity", "Dropout") and node.outputs[0] not in graph.outputs:
            problems.append(f"{node.op} '{node.name}' survived")
        if node.op == "MatMul":
            problems.append(f"MatMul '{node.name}' was not fused")
        if node.op != "Gemm":
            continue
        attrs = dict(node.attrs)
        if attrs != {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 1}:
            problems.append(f"Gemm '{node.name}' attrs {attrs}")
        w = graph.constants.get(node.inputs[1])
        m, k = graph.types[node.inputs[0]].shape
        n = graph.types[node.outputs[0]].shape[1]
        if w is None or w.shape != (n, k) or w.dtype != np.float32:
            problems.append(f"Gemm '{node.name}' weight {None if w is None else (w.shape, w.dtype)}")
        if len(node.inputs) > 2 and node.inputs[2]:
            c = graph.constants.get(node.inputs[2])
            if c is None or c.shape != (n,) or c.dtype != np.float32:
                problems.append(f"Gemm '{node.name}' bias {None if c is None else (c.shape, c.dtype)}")
    return problems


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("bias_shape", ["n", "1n", "scalar"])
@pytest.mark.parametrize("opset", [11, 13])
def test_simplified_mlp_is_canonical(form, bias_shape, opset):
    sizes = [6, 9, 7, 4]
    model = mlp(sizes, opset=opset, form=form, dropout=True, identity=True, bias_shape=bias_shape)
    g = sparsec.load(model).graph
    assert canonical_problems(g) == []
    ops = [n.op for n in g.nodes]
    assert ops == ["Gemm", "Relu", "Gemm", "Relu", "Gemm", "Softmax"], ops
    assert all(len(n.inputs) == 3 for n in g.nodes if n.op == "Gemm")  # the bias is part of the layer
    assert set(g.constants) == {i for n in g.nodes for i in n.inputs[1:]}  # nothing left over


@pytest.mark.parametrize("form", FORMS)
def test_fused_weights_are_the_original_weights(form):
    """Whatever the ONNX form, the layer weight is stored output-major: W[N, K] with y = x @ W.T + b."""
    model = mlp([6, 9, 4], form=form, softmax=False, relu=False)
    g = sparsec.load(model).graph
    x = np.eye(6, dtype=np.float32)  # rows of the identity pick rows of the effective x @ W matrix
    raw = load_graph(model)
    layers = [n for n in g.nodes if n.op == "Gemm"]
    assert len(layers) == 2
    w0 = g.constants[layers[0].inputs[1]]
    b0 = g.constants[layers[0].inputs[2]]
    h = run(raw, {"x": np.zeros((1, 6), np.float32)}, keep_all=True)
    first_out = next(o for n in raw.nodes for o in n.outputs if n.name.startswith("/fc0/") and n.op != "MatMul")
    np.testing.assert_allclose(b0, h[first_out].reshape(-1), rtol=1e-6, atol=1e-7)
    for i in range(6):
        hi = run(raw, {"x": x[i : i + 1]}, keep_all=True)[first_out].reshape(-1)
        np.testing.assert_allclose(w0[:, i], hi - h[first_out].reshape(-1), rtol=1e-5, atol=1e-6)


def test_identity_as_graph_output_keeps_its_name():
    model = mlp([5, 8, 3], form="matmul_add", identity=True, dropout=True, identity_output=True)
    g = sparsec.load(model).graph
    assert g.outputs == ("y",)
    # The layer producing the Identity's input writes "y" itself.
    assert [n.op for n in g.nodes if n.op in ("Identity", "Dropout")] == []
    assert g.nodes[-1].outputs == ("y",)
    assert [p for p in canonical_problems(g)] == []
    feeds = random_feeds(model)
    np.testing.assert_allclose(run(g, feeds)["y"], run(load_graph(model), feeds)["y"], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("source", ["input", "output"])
def test_identity_of_an_input_or_output_stays(source):
    b = Builder()
    x = b.input("x", (1, 4))
    if source == "input":
        b.node("Identity", [x], outputs=["y"])
        b.output("y")
    else:
        b.node("Relu", [x], outputs=["r"])
        b.node("Identity", ["r"], outputs=["y"])
        b.output("r")
        b.output("y")
    g = sparsec.load(b.model()).graph
    assert [n.op for n in g.nodes][-1] == "Identity"


def test_constant_fed_reshape_is_folded_and_fused():
    g = sparsec.load(constant_fed_model()).graph
    ops = [n.op for n in g.nodes]
    assert "MatMul" not in ops and "Add" not in ops and ops.count("Gemm") == 1
    assert ops.count("Reshape") == 1  # the one on the input stays
    gemm = next(n for n in g.nodes if n.op == "Gemm")
    assert g.constants[gemm.inputs[1]].shape == (5, 12)
    assert canonical_problems(g) == []


def test_column_bias_is_not_fused_as_a_neuron_bias():
    model = column_bias_model()
    g = sparsec.load(model).graph
    feeds = random_feeds(model)
    want = ort_session(model).run(None, feeds)[0]
    assert_close(run(g, feeds)["y"], want.astype(np.float64), "column bias")


def test_simplify_default_passes():
    assert SIMPLIFY == (fold_constants, drop_identity, fuse_gemm, fold_batchnorm)
    model = mlp([4, 4, 4], dropout=True)
    assert [n.op for n in sparsec.load(model, simplify=False).graph.nodes] == [
        "MatMul",
        "Add",
        "Relu",
        "Dropout",
        "MatMul",
        "Add",
        "Softmax",
    ]


def test_passes_return_same_graph_when_nothing_to_do():
    g = sparsec.load(mlp([4, 5, 3], form="gemm")).graph
    for p in (fold_constants, drop_identity, fuse_gemm):
        assert p(g) is g


# ------------------------------------------------------------------------------------ prune
def loaded(form="gemm", sizes=(10, 20, 30, 5), seed=0):
    return sparsec.load(mlp(list(sizes), form=form, seed=seed))


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.123, 0.5, 0.777, 0.9, 0.98])
def test_prune_zero_count_per_layer(form, sparsity):
    m = loaded(form)
    before = {k: v.copy() for k, v in m.weights().items()}
    p = sparsec.prune(m, sparsity)
    assert p.layers() == m.layers() and len(p.layers()) == 3
    for (name, w), row in zip(p.weights().items(), p.report):
        orig = before[name]
        assert np.count_nonzero(orig) == orig.size  # random weights: the zeros all come from pruning
        n_zero = round(sparsity * orig.size)
        assert abs(n_zero - sparsity * orig.size) < 0.5 or sparsity == 0.0  # no rounding tie here
        assert w.size - np.count_nonzero(w) == n_zero, name
        kept = w != 0
        np.testing.assert_array_equal(w[kept], orig[kept])  # survivors are untouched
        if 0 < n_zero < w.size:
            assert np.abs(orig[~kept]).max() <= np.abs(orig[kept]).min()  # the smallest went
        assert row["layer"] == name and row["nonzeros"] == w.size - n_zero
        assert row["nonzeros_before"] == orig.size
        assert math.isclose(row["sparsity"], n_zero / w.size)
        assert not w.flags.writeable


def test_prune_leaves_the_input_model_alone():
    m = loaded("matmul_add")
    consts = {k: v.copy() for k, v in m.graph.constants.items()}
    x = np.random.default_rng(0).standard_normal((3, 10)).astype(np.float32)
    y_before = m.reference(x)
    p = sparsec.prune(m, 0.8)
    for k, v in m.graph.constants.items():
        np.testing.assert_array_equal(v, consts[k])
        assert not v.flags.writeable
        with pytest.raises(ValueError):
            v[...] = 0
    np.testing.assert_array_equal(m.reference(x), y_before)
    assert not np.array_equal(p.reference(x), y_before)
    # biases are not pruned
    for node in p.graph.nodes:
        if node.op == "Gemm":
            np.testing.assert_array_equal(p.graph.constants[node.inputs[2]], m.graph.constants[node.inputs[2]])


def test_prune_ties_still_give_the_exact_count():
    b = Builder("ties")
    x = b.input("x", (1, 4))
    w = np.array([[1, -1, 1, 2], [-1, 1, 3, 1], [1, 1, -1, 4]], np.float32)  # eight |w| == 1
    b.node("Gemm", [x, b.const(w), b.const(np.zeros(3))], outputs=["y"], name="fc", transB=1)
    b.output("y")
    m = sparsec.load(b.model())
    for s in (0.25, 0.5, 0.75):
        pw = sparsec.prune(m, s).weights()["fc"]
        assert pw.size - np.count_nonzero(pw) == round(s * 12)
        assert set(np.abs(pw[pw != 0]).tolist()) <= {1.0, 2.0, 3.0, 4.0}


def test_prune_dict_form():
    m = loaded("gemm")
    names = m.layers()
    p = sparsec.prune(m, {names[1]: 0.75})
    w, orig = p.weights(), m.weights()
    assert w[names[1]].size - np.count_nonzero(w[names[1]]) == round(0.75 * w[names[1]].size)
    for name in (names[0], names[2]):
        np.testing.assert_array_equal(w[name], orig[name])
    assert [r["target"] for r in p.report] == [None, 0.75, None]


@pytest.mark.parametrize("sparsity", [-0.1, 1.0, 1.5, float("nan"), float("inf"), "0.5", None], ids=lambda v: repr(v))
def test_prune_bad_sparsity(sparsity):
    m = loaded()
    with pytest.raises(sparsec.OptionError, match=r"\[0, 1\)") as info:
        sparsec.prune(m, sparsity)
    assert info.value.hint
    with pytest.raises(sparsec.OptionError):
        sparsec.prune(m, {m.layers()[0]: sparsity})


def test_prune_unknown_layer():
    m = loaded()
    with pytest.raises(sparsec.OptionError) as info:
        sparsec.prune(m, {"no_such_layer": 0.5})
    assert "no_such_layer" in str(info.value)
    for name in m.layers():
        assert name in info.value.hint


def test_prune_chains():
    m = loaded("matmul_add")
    p = sparsec.prune(sparsec.prune(m, 0.5), 0.9)
    for w in p.weights().values():
        assert w.size - np.count_nonzero(w) == round(0.9 * w.size)


# ------------------------------------------------------------------------------ range_limit
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("r", [0.05, 0.3, 10.0])
def test_range_limit_clamps_weights_and_biases(form, r):
    m = loaded(form)
    consts = {k: v.copy() for k, v in m.graph.constants.items()}
    out = sparsec.range_limit(m, r)
    gemms = [n for n in m.graph.nodes if n.op == "Gemm"]
    assert len(gemms) == 3 and len(out.report) == 3
    total_clipped = 0
    for node, row in zip(gemms, out.report):
        w0, b0 = consts[node.inputs[1]], consts[node.inputs[2]]
        w1, b1 = out.graph.constants[node.inputs[1]], out.graph.constants[node.inputs[2]]
        np.testing.assert_array_equal(w1, np.minimum(np.maximum(w0, -r), r))
        np.testing.assert_array_equal(b1, np.minimum(np.maximum(b0, -r), r))
        assert w1.dtype == np.float32 and b1.dtype == np.float32
        assert np.abs(w1).max() <= r and np.abs(b1).max() <= r
        assert row["layer"] == node.name and row["limit"] == r
        assert row["clipped_weights"] == int(np.sum((w0 > r) | (w0 < -r)))
        assert row["clipped_biases"] == int(np.sum((b0 > r) | (b0 < -r)))
        total_clipped += row["clipped_weights"] + row["clipped_biases"]
    if r == 0.05:
        assert all(row["clipped_biases"] > 0 for row in out.report)
    if r == 10.0:
        assert total_clipped == 0
    for k, v in m.graph.constants.items():  # the input model is untouched
        np.testing.assert_array_equal(v, consts[k])


def test_range_limit_dict_form():
    m = loaded("gemm")
    names = m.layers()
    out = sparsec.range_limit(m, {names[0]: 0.1})
    w = out.weights()
    assert np.abs(w[names[0]]).max() <= 0.1
    for name in names[1:]:
        np.testing.assert_array_equal(w[name], m.weights()[name])
    assert [r["limit"] for r in out.report] == [0.1, None, None]


@pytest.mark.parametrize("r", [0, 0.0, -1.0, float("nan"), float("inf"), None, "1.0", "x"], ids=lambda v: repr(v))
def test_range_limit_bad_limit(r):
    m = loaded()
    with pytest.raises(sparsec.OptionError):
        sparsec.range_limit(m, r)
    with pytest.raises(sparsec.OptionError):
        sparsec.range_limit(m, {m.layers()[0]: r})


def test_range_limit_unknown_layer():
    m = loaded()
    with pytest.raises(sparsec.OptionError) as info:
        sparsec.range_limit(m, {"ghost": 1.0})
    assert "ghost" in str(info.value) and all(n in info.value.hint for n in m.layers())


def test_prune_then_range_limit_keeps_zeros():
    m = loaded("matmul_add")
    p = sparsec.range_limit(sparsec.prune(m, 0.6), 0.2)
    for w in p.weights().values():
        assert w.size - np.count_nonzero(w) == round(0.6 * w.size)
        assert np.abs(w).max() <= 0.2


@pytest.mark.parametrize("value", [np.float32(0.5), np.float64(0.5), 0.5], ids=["float32", "float64", "float"])
def test_numpy_scalars_are_accepted(value):
    m = loaded()
    p = sparsec.prune(m, value)
    assert all(w.size - np.count_nonzero(w) == round(0.5 * w.size) for w in p.weights().values())
    r = sparsec.range_limit(m, value)
    assert all(np.abs(w).max() <= 0.5 for w in r.weights().values())
    assert sparsec.prune(m, {m.layers()[0]: value}).report[0]["target"] == 0.5


def test_range_limit_values_at_the_limit_are_not_clipped():
    b = Builder("edge")
    x = b.input("x", (1, 3))
    w = np.array([[0.5, -0.5, 0.25], [0.75, -1.0, 0.5]], np.float32)
    bias = np.array([-0.5, 0.625], np.float32)
    b.node("Gemm", [x, b.const(w), b.const(bias)], outputs=["y"], name="fc", transB=1)
    b.output("y")
    out = sparsec.range_limit(sparsec.load(b.model()), 0.5)
    assert out.report[0]["clipped_weights"] == 2 and out.report[0]["clipped_biases"] == 1
    np.testing.assert_array_equal(out.weights()["fc"], [[0.5, -0.5, 0.25], [0.5, -0.5, 0.5]])
