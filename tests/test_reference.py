"""The NumPy reference (sparsec.reference.run) against onnxruntime, op by op and on random nets.

Every case builds a tiny ONNX model, runs it through ``load_graph`` + ``reference.run`` and
through a one-thread onnxruntime session, and compares: NaN and inf in the same places, the
rest within 1e-5 (relative to the magnitude once it exceeds 1).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ort_session
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from models import FORMS, Builder, dense, mlp, random_feeds, single_op

import sparsec
from sparsec.frontend import load_graph
from sparsec.ir import TensorType
from sparsec.passes import run_passes
from sparsec.reference import run

TOL = 1e-5


def ort_run(model, feeds):
    names = [o.name for o in model.graph.output]
    return dict(zip(names, ort_session(model).run(names, feeds)))


def assert_close(got: np.ndarray, want: np.ndarray, what: str = "", tol: float = TOL) -> None:
    got = np.asarray(got)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, onnxruntime gives {want.shape}"
    assert got.dtype == np.float32, f"{what}: dtype {got.dtype}, expected float32"
    nan_got, nan_want = np.isnan(got), np.isnan(want)
    assert np.array_equal(nan_got, nan_want), f"{what}: NaN at {np.argwhere(nan_got != nan_want)[:5].tolist()}"
    inf = np.isinf(want) | np.isinf(got)
    assert np.array_equal(got[inf], want[inf]), f"{what}: inf differs: {got[inf]} vs {want[inf]}"
    fin = ~(nan_want | inf)
    if not fin.any():
        return
    g, w = got[fin].astype(np.float64), want[fin].astype(np.float64)
    err = np.abs(g - w) / np.maximum(1.0, np.abs(w))
    worst = int(np.argmax(err))
    assert err[worst] <= tol, f"{what}: error {err[worst]:.3g} at flat index {worst}: {g[worst]!r} vs {w[worst]!r}"


def check_against_ort(model, feeds=None, *, seed=0, scale=1.0, tol=TOL):
    """Reference vs onnxruntime on ``model``: float32 outputs within ``tol``, other dtypes exactly,
    and the inferred type of every output equal to what onnxruntime produces. Returns ours."""
    feeds = feeds if feeds is not None else random_feeds(model, seed=seed, scale=scale)
    graph = load_graph(model)
    ours = run(graph, feeds)
    theirs = ort_run(model, feeds)
    assert set(ours) == set(theirs)
    for name, want in theirs.items():
        got = np.asarray(ours[name])
        assert graph.types[name] == TensorType(want.shape, str(want.dtype)), f"{name}: inferred {graph.types[name]}"
        if want.dtype == np.float32:
            assert_close(got, want, name, tol=tol)
        else:
            assert (got.dtype, got.shape) == (want.dtype, want.shape), f"{name}: {got.dtype}{got.shape}"
            np.testing.assert_array_equal(got, want, err_msg=name)
    return ours


def raises_unsupported(model, *parts, node="the_node"):
    """Loading ``model`` raises UnsupportedOperatorError whose message names ``node`` and ``parts``."""
    with pytest.raises(sparsec.UnsupportedOperatorError) as info:
        load_graph(model)
    for part in (node, *parts):
        assert part in str(info.value), f"{part!r} missing from: {info.value}"
    return info.value


def rnd(*shape, seed=1, scale=1.0):
    return np.asarray(np.random.default_rng(seed).standard_normal(shape) * scale, dtype=np.float32)


# ---------------------------------------------------------------------------------------- Gemm
M, K, N = 3, 4, 5
C_SHAPES = {"none": None, "scalar": (), "[N]": (N,), "[1,N]": (1, N), "[M,N]": (M, N), "[M,1]": (M, 1)}


def gemm_cases():
    for trans_a in (0, 1):
        for trans_b in (0, 1):
            for alpha, beta in ((1.0, 1.0), (0.5, 2.5)):
                for c in C_SHAPES:
                    yield pytest.param(
                        trans_a,
                        trans_b,
                        alpha,
                        beta,
                        c,
                        id=f"transA{trans_a}-transB{trans_b}-alpha{alpha}-beta{beta}-C{c}",
                    )


@pytest.mark.parametrize("trans_a,trans_b,alpha,beta,c", list(gemm_cases()))
def test_gemm(trans_a, trans_b, alpha, beta, c):
    a = ("a", (K, M) if trans_a else (M, K))
    b = rnd(*((N, K) if trans_b else (K, N)), seed=2)
    inputs = [a, b]
    if C_SHAPES[c] is not None:
        inputs.append(rnd(*C_SHAPES[c], seed=3))
    model = single_op("Gemm", inputs, {"transA": trans_a, "transB": trans_b, "alpha": alpha, "beta": beta})
    out = check_against_ort(model)
    assert out["y"].shape == (M, N)


@pytest.mark.parametrize("variable", ["B", "C", "B+C"])
def test_gemm_variable_operands(variable):
    b = ("b", (N, K)) if "B" in variable else rnd(N, K, seed=2)
    c = ("c", (N,)) if "C" in variable else rnd(N, seed=3)
    check_against_ort(single_op("Gemm", [("a", (M, K)), b, c], {"transB": 1, "beta": 0.5}))


# -------------------------------------------------------------------------------------- MatMul
MATMUL_CASES = {
    "1d@1d": ((4,), (4,)),
    "1d@2d": ((4,), (4, 3)),
    "2d@1d": ((3, 4), (4,)),
    "2d@2d": ((3, 4), (4, 5)),
    "1x1@1x1": ((1, 1), (1, 1)),
    "3d@2d": ((2, 3, 4), (4, 5)),
    "2d@3d": ((3, 4), (2, 4, 5)),
    "3d@3d": ((2, 3, 4), (2, 4, 5)),
    "3d@1d": ((2, 3, 4), (4,)),
    "1d@3d": ((4,), (2, 4, 5)),
    "batch-broadcast-4d@3d": ((2, 1, 3, 4), (3, 4, 5)),
    "batch-broadcast-1@2": ((1, 3, 4), (2, 4, 5)),
}


@pytest.mark.parametrize("shape_a,shape_b", MATMUL_CASES.values(), ids=MATMUL_CASES.keys())
@pytest.mark.parametrize("b_const", [False, True], ids=["B-input", "B-const"])
def test_matmul(shape_a, shape_b, b_const):
    b = rnd(*shape_b, seed=5) if b_const else ("b", shape_b)
    out = check_against_ort(single_op("MatMul", [("a", shape_a), b]))
    assert out["y"].shape == np.matmul(np.zeros(shape_a), np.zeros(shape_b)).shape


# ----------------------------------------------------------------------------------------- Add
ADD_CASES = {
    "same": ((3, 4), (3, 4)),
    "row": ((3, 4), (4,)),
    "row-2d": ((3, 4), (1, 4)),
    "column": ((3, 4), (3, 1)),
    "scalar-right": ((3, 4), ()),
    "scalar-left": ((), (3, 4)),
    "scalars": ((), ()),
    "rank-up-left": ((4,), (2, 3, 4)),
    "rank-up-right": ((2, 3, 4), (3, 1)),
    "outer": ((3, 1), (1, 4)),
    "both-broadcast-3d": ((2, 1, 4), (3, 1)),
    "4d": ((2, 1, 3, 1), (1, 5, 1, 4)),
}


@pytest.mark.parametrize("shape_a,shape_b", ADD_CASES.values(), ids=ADD_CASES.keys())
@pytest.mark.parametrize("b_const", [False, True], ids=["B-input", "B-const"])
def test_add(shape_a, shape_b, b_const):
    b = rnd(*shape_b, seed=6) if b_const else ("b", shape_b)
    out = check_against_ort(single_op("Add", [("a", shape_a), b]))
    assert out["y"].shape == np.broadcast_shapes(shape_a, shape_b)


# ---------------------------------------------------------------------------------------- Relu
SPECIAL = np.array(
    [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 3.4e38, -3.4e38, -1.0, 2.5], dtype=np.float32
)


@pytest.mark.parametrize("shape", [(), (7,), (2, 3), (2, 3, 4, 5)], ids=str)
def test_relu(shape):
    check_against_ort(single_op("Relu", [("x", shape)]))


def test_relu_nan_inf():
    out = check_against_ort(single_op("Relu", [("x", SPECIAL.shape)]), {"x": SPECIAL})
    y = out["y"]
    assert np.isnan(y[:2]).all() and y[2] == np.inf and y[3] == 0
    assert (y[~np.isnan(y)] >= 0).all()


# ------------------------------------------------------------------------------------- Flatten
@pytest.mark.parametrize("shape", [(2, 3, 4), (2, 3, 4, 5)], ids=["3d", "4d"])
@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2, "rank", "-rank"])
def test_flatten(shape, axis):
    axis = {"rank": len(shape), "-rank": -len(shape)}.get(axis, axis)
    out = check_against_ort(single_op("Flatten", [("x", shape)], {"axis": axis}))
    a = axis + len(shape) if axis < 0 else axis
    assert out["y"].shape == (int(np.prod(shape[:a])), int(np.prod(shape[a:])))


def test_flatten_default_axis():
    out = check_against_ort(single_op("Flatten", [("x", (2, 3, 4))]))
    assert out["y"].shape == (2, 12)


# ------------------------------------------------------------------------------------- Reshape
RESHAPE_CASES = {
    "copy-and-infer": ((2, 3, 4), [0, -1], 0, 13),
    "flat": ((2, 3, 4), [-1], 0, 13),
    "copy-middle": ((2, 3, 4), [4, 0, -1], 0, 13),
    "copy-two-split": ((2, 3, 4), [0, 0, 2, 2], 0, 13),
    "infer-first": ((2, 3, 4), [-1, 0], 0, 13),
    "add-unit-dims": ((6,), [1, 6, 1], 0, 13),
    "to-scalar": ((1, 1), [], 0, 13),
    "explicit": ((2, 3, 4), [3, 8], 0, 11),
    "allowzero-no-zero": ((2, 3, 4), [4, -1], 1, 14),
    "allowzero-empty": ((0, 3), [3, 0], 1, 14),
    "allowzero0-opset14": ((2, 3, 4), [0, 12], 0, 14),
}


@pytest.mark.parametrize("shape,spec,allowzero,opset", RESHAPE_CASES.values(), ids=RESHAPE_CASES.keys())
def test_reshape(shape, spec, allowzero, opset):
    attrs = {"allowzero": allowzero} if opset >= 14 else {}
    model = single_op("Reshape", [("x", shape), np.array(spec, dtype=np.int64)], attrs, opset=opset)
    check_against_ort(model)


# ------------------------------------------------------------------------------------- Softmax
@pytest.mark.parametrize("opset", [11, 13])
@pytest.mark.parametrize("axis", [None, 0, 1, 2, -1, -3])
@pytest.mark.parametrize("scale", [1.0, 1e3, 1e30], ids=["unit", "1e3", "1e30"])
def test_softmax(opset, axis, scale):
    attrs = {} if axis is None else {"axis": axis}
    out = check_against_ort(single_op("Softmax", [("x", (2, 3, 4))], attrs, opset=opset), scale=scale)
    assert np.isfinite(out["y"]).all()


@pytest.mark.parametrize("opset", [11, 13])
def test_softmax_2d_and_1d(opset):
    check_against_ort(single_op("Softmax", [("x", (3, 7))], opset=opset))
    check_against_ort(single_op("Softmax", [("x", (7,))], {"axis": 0}, opset=opset))


def test_softmax_with_minus_inf():
    x = np.array([[-np.inf, 0.0, 1.0, -np.inf], [5.0, 5.0, 5.0, 5.0]], dtype=np.float32)
    out = check_against_ort(single_op("Softmax", [("x", x.shape)]), {"x": x})
    assert np.allclose(out["y"].sum(axis=-1), 1.0)


# ----------------------------------------------------------------------------- Identity/Dropout
@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 4)], ids=str)
def test_identity(shape):
    out = check_against_ort(single_op("Identity", [("x", shape)]))
    assert out["y"].shape == shape


DROPOUT_CASES = {
    "opset11-ratio-attr": (11, [], {"ratio": 0.3}),
    "opset11-no-ratio": (11, [], {}),
    "opset12-ratio-input": (12, [np.array(0.5, dtype=np.float32)], {}),
    "opset13-ratio-input": (13, [np.array(0.5, dtype=np.float32)], {}),
    "opset13-no-ratio": (13, [], {}),
    "opset13-eval-mode-false": (13, [np.array(0.5, dtype=np.float32), np.array(False)], {}),
    "opset13-omitted-ratio-eval": (13, ["", np.array(False)], {}),
    "opset13-seed": (13, [np.array(0.1, dtype=np.float32)], {"seed": 3}),
}


@pytest.mark.parametrize("opset,extra,attrs", DROPOUT_CASES.values(), ids=DROPOUT_CASES.keys())
def test_dropout_eval(opset, extra, attrs):
    model = single_op("Dropout", [("x", (2, 6)), *extra], attrs, opset=opset)
    feeds = random_feeds(model)
    out = check_against_ort(model, feeds)
    np.testing.assert_array_equal(out["y"], feeds["x"])


# ----------------------------------------------------------------------------- whole models
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("opset", [11, 13, 17])
def test_mlp_load_simplified_matches_onnxruntime(form, opset):
    model = mlp([6, 9, 7, 4], opset=opset, form=form, dropout=True, identity=True, identity_output=True, seed=opset)
    m = sparsec.load(model, simplify=True)
    x = rnd(5, 6, seed=11)
    want = ort_run(model, {"x": x})["y"]
    assert_close(m.reference(x), want, "load(simplify=True).reference(batch)")
    for i in range(len(x)):
        assert_close(run(m.graph, {"x": x[i : i + 1]})["y"], want[i : i + 1], f"reference.run row {i}")


@pytest.mark.parametrize("simplify", [False, True])
def test_load_fixed_batch_matches_onnxruntime(simplify):
    model = mlp([8, 16, 3], form="gemm", batch=1, softmax=False)
    x = rnd(1, 8, seed=4)
    assert_close(sparsec.load(model, simplify=simplify).reference(x), ort_run(model, {"x": x})["y"], "batch 1")


# ------------------------------------------------------------------------- random differential
@st.composite
def random_nets(draw):
    """A random MLP-like net: 1-4 dense layers of widths 1-40 in any ONNX form, with Relu,
    Softmax, Reshape (with 0 and -1) and Reshape-to-3-D + Flatten sprinkled in."""
    opset = draw(st.sampled_from([11, 13, 17]))
    batch = draw(st.integers(1, 3))
    depth = draw(st.integers(1, 4))
    widths = draw(st.lists(st.integers(1, 40), min_size=depth + 1, max_size=depth + 1))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    b = Builder("random")
    x = b.input("x", [batch, widths[0]])
    for i in range(depth):
        form = draw(st.sampled_from(FORMS))
        bias = draw(st.sampled_from(["n", "1n", "scalar"]))
        x = dense(b, x, widths[i], widths[i + 1], form, rng, f"fc{i}", bias)
        n = widths[i + 1]
        for extra in draw(st.lists(st.sampled_from(["relu", "softmax", "reshape", "reshape3d"]), max_size=3)):
            if extra == "relu":
                (x,) = b.node("Relu", [x])
            elif extra == "softmax":
                (x,) = b.node("Softmax", [x], axis=draw(st.sampled_from([-1, 0, 1])))
            elif extra == "reshape":
                spec = draw(st.sampled_from([[0, -1], [-1, n], [batch, n], [0, n]]))
                (x,) = b.node("Reshape", [x, b.const(spec, dtype=np.int64)])
            else:
                d = draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]))
                spec = draw(st.sampled_from([[0, d, -1], [batch, -1, n // d], [-1, d, n // d]]))
                (x,) = b.node("Reshape", [x, b.const(spec, dtype=np.int64)])
                if draw(st.booleans()):
                    (x,) = b.node("Softmax", [x], axis=draw(st.sampled_from([-1, 1, 2])))
                (x,) = b.node("Flatten", [x], axis=1)
    b.nodes[-1].output[0] = "y"
    b.output("y")
    return b.model(opset)


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=random_nets(), seed=st.integers(0, 1000))
def test_random_nets_match_onnxruntime(model, seed):
    feeds = random_feeds(model, seed=seed)
    want = ort_run(model, feeds)["y"]
    graph = load_graph(model)
    assert_close(run(graph, feeds)["y"], want, "reference")
    assert_close(run(run_passes(graph), feeds)["y"], want, "reference after simplify")
