"""ONNX -> IR (sparsec.frontend.load_graph / sparsec.load): what loads, and clear errors.

Every error test checks the exception class and that the message names the culprit: the file,
the node and the op where there is one, and the fix.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ort_session
from models import Builder, mlp, random_feeds, save, single_op
import onnx
from onnx import TensorProto, helper

import sparsec
from sparsec import ops
from sparsec.frontend import MAX_OPSET, MIN_OPSET, load_graph
from sparsec.ir import Node, TensorType, toposort
from sparsec.reference import run


def raises(exc, model, *, names=(), **kwargs):
    """Load ``model`` expecting ``exc``; check the message contains every string in ``names``."""
    with pytest.raises(exc) as info:
        load_graph(model, **kwargs)
    msg = str(info.value)
    for part in names:
        assert str(part) in msg, f"{part!r} missing from the error message: {msg}"
    return info.value


def saved(tmp_path, model, name="model.onnx"):
    return save(model, tmp_path / name)


# ------------------------------------------------------------------------------ unsupported ops
@pytest.mark.parametrize(
    "op_type,inputs",
    [
        ("Det", [("x", (3, 3))]),
        ("Hardmax", [("x", (2, 3))]),
        ("NonZero", [("x", (2, 3))]),
    ],
    ids=["Det", "Hardmax", "NonZero"],
)
def test_unsupported_op_names_file_node_op_and_supported_list(tmp_path, op_type, inputs):
    path = saved(tmp_path, single_op(op_type, inputs, node_name="/enc/bad_node"))
    err = raises(
        sparsec.UnsupportedOperatorError, path, names=[path, "'/enc/bad_node'", f"({op_type})", "Supported operators:"]
    )
    assert (err.file, err.node, err.op) == (path, "/enc/bad_node", op_type)
    for op in ops.supported_ops():
        assert op in err.hint
    assert op_type not in err.hint
    assert isinstance(err, sparsec.SparsecError)


def test_unsupported_op_through_public_load(tmp_path):
    path = saved(tmp_path, single_op("Det", [("x", (3, 3))], node_name="sine"))
    with pytest.raises(sparsec.UnsupportedOperatorError, match="sine"):
        sparsec.load(path)


def test_unsupported_domain(tmp_path):
    model = single_op("FusedMatMul", [("a", (2, 3)), ("b", (3, 4))], node_name="fused", domain="com.microsoft")
    path = saved(tmp_path, model)
    err = raises(
        sparsec.UnsupportedOperatorError, path, names=[path, "'fused'", "(FusedMatMul)", "com.microsoft", "outputs="]
    )
    assert err.node == "fused" and err.op == "FusedMatMul"


def test_unknown_attribute_is_a_checker_error():
    b = Builder()
    x = b.input("x", (1, 4))
    (y,) = b.node("Softmax", [x], name="sm")
    b.nodes[-1].attribute.append(helper.make_attribute("foo", 1))
    b.output(y, shape=(1, 4))
    model = b.model()
    # the checker rejects unknown attributes before sparsec sees them: still a clear ModelLoadError
    raises(sparsec.ModelLoadError, model, names=["foo", "sm", "Softmax", "Re-export"])


# ---------------------------------------------------------------------------- unreadable files
def test_missing_file(tmp_path):
    path = tmp_path / "nope.onnx"
    err = raises(sparsec.ModelLoadError, path, names=[str(path), "not found", "Check the path"])
    assert err.file == str(path)
    with pytest.raises(sparsec.ModelLoadError):
        sparsec.load(str(path))


def test_directory_is_not_a_model(tmp_path):
    raises(sparsec.ModelLoadError, tmp_path, names=[str(tmp_path)])


@pytest.mark.parametrize(
    "content", [b"hello, this is not an ONNX model\n" * 4, b"", b"\x00\x01\x02"], ids=["text", "empty", "bytes"]
)
def test_not_onnx(tmp_path, content):
    path = tmp_path / "fake.onnx"
    path.write_bytes(content)
    err = raises(sparsec.ModelLoadError, path, names=[str(path), "Is this an .onnx file"])
    assert err.node is None


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.9, 0.99])
def test_truncated_file(tmp_path, fraction):
    data = mlp([4, 8, 3], form="gemm").SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: int(len(data) * fraction)])
    err = raises(sparsec.ModelLoadError, path, names=[str(path)])
    assert "Is this an .onnx file" in str(err) or "Re-export" in str(err)


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_external_data_missing_or_truncated(tmp_path, damage):
    model = mlp([16, 32, 4], form="gemm")
    path = tmp_path / "ext.onnx"
    onnx.save(model, path, save_as_external_data=True, location="ext.data", size_threshold=0)
    data = tmp_path / "ext.data"
    if damage == "missing":
        data.unlink()
    else:
        data.write_bytes(data.read_bytes()[:100])
    raises(sparsec.ModelLoadError, path, names=[str(path), "external data"])


def test_external_data_beside_the_model_loads(tmp_path):
    model = mlp([16, 32, 4], form="gemm")
    path = tmp_path / "ext.onnx"
    feeds = random_feeds(model)
    want = run(load_graph(model), feeds)["y"]
    onnx.save(model, path, save_as_external_data=True, location="ext.data", size_threshold=0)
    np.testing.assert_array_equal(run(load_graph(path), feeds)["y"], want)


# ---------------------------------------------------------------------------------- checker
def test_checker_failure_names_node_and_fix(tmp_path):
    b = Builder()
    x = b.input("x", (1, 4))
    (y,) = b.node("Gemm", [x], name="/fc/Gemm")  # Gemm needs 2 or 3 inputs
    b.output(y, shape=(1, 4))
    path = saved(tmp_path, b.model())
    raises(sparsec.ModelLoadError, path, names=[path, "checker", "/fc/Gemm", "Gemm", "Re-export"])


def test_checker_rejects_unsorted_graph_naming_the_node():
    b = Builder()
    x = b.input("x", (1, 4))
    b.node("Relu", ["z"], outputs=["y"], name="late")
    b.node("Relu", [x], outputs=["z"], name="early")
    b.output("y", shape=(1, 4))
    raises(sparsec.ModelLoadError, b.model(), names=["topologically sorted", "'z'", "late", "Re-export"])


# ---------------------------------------------------------------------------------- opsets
@pytest.mark.parametrize("opset", [5, MIN_OPSET - 1], ids=lambda v: f"opset{v}")
def test_opset_too_old(tmp_path, opset):
    path = saved(tmp_path, single_op("Relu", [("x", (1, 4))], opset=opset))
    raises(sparsec.ModelLoadError, path, names=[path, f"opset {opset}", f"{MIN_OPSET}..{MAX_OPSET}", "convert_version"])


@pytest.mark.parametrize("opset", [MAX_OPSET + 1, MAX_OPSET + 20], ids=lambda v: f"opset{v}")
def test_opset_newer_than_onnx(tmp_path, opset):
    path = saved(tmp_path, single_op("Relu", [("x", (1, 4))], opset=opset))
    raises(sparsec.ModelLoadError, path, names=[path, f"opset {opset}", f"{MIN_OPSET}..{MAX_OPSET}", "convert_version"])


@pytest.mark.parametrize("opset", [MIN_OPSET, 9, 11, 13, 17, MAX_OPSET])
def test_supported_opsets_load(opset):
    g = load_graph(single_op("Relu", [("x", (1, 4))], opset=opset))
    assert g.opset == opset


def test_no_onnx_opset_import():
    model = single_op("Relu", [("x", (1, 4))])
    model.opset_import[0].domain = "com.example"
    with pytest.raises(sparsec.ModelLoadError):
        load_graph(model)


# ---------------------------------------------------------------------------------- shapes
def test_symbolic_feature_dim_needs_input_shapes(tmp_path):
    model = single_op("Relu", [("x", ("N", "F"))])
    path = saved(tmp_path, model)
    err = raises(sparsec.ShapeError, path, names=[path, "'x'", "'F'", "input_shapes"])
    assert err.hint and "input_shapes" in err.hint

    g = load_graph(path, input_shapes={"x": (1, 8)})
    assert g.types["x"].shape == (1, 8) and g.types["y"].shape == (1, 8)
    feeds = random_feeds(model, shapes={"x": (1, 8)})
    np.testing.assert_array_equal(run(g, feeds)["y"], ort_session(model).run(None, feeds)[0])
    assert sparsec.load(path, input_shapes={"x": [1, 8]}).input_shape == (1, 8)


def test_symbolic_batch_dim_becomes_one():
    model = mlp([6, 5, 3], form="gemm", batch="batch_size")
    g = load_graph(model)
    assert g.types["x"].shape == (1, 6)
    assert g.types["y"].shape == (1, 3)
    assert sparsec.load(model).input_shape == (1, 6)


def test_input_shapes_can_set_the_batch():
    g = load_graph(mlp([6, 5, 3], form="gemm"), input_shapes={"x": (4, 6)})
    assert g.types["x"].shape == (4, 6) and g.types["y"].shape == (4, 3)


@pytest.mark.parametrize(
    "shapes,names",
    [
        ({"z": (1, 6)}, ["'z'", "not a model input", "['x']"]),
        ({"fc0.weight": (6, 5)}, ["'fc0.weight'", "not a model input"]),
    ],
    ids=["unknown-name", "initializer"],
)
def test_input_shapes_naming_a_non_input(shapes, names):
    raises(sparsec.ShapeError, mlp([6, 5, 3]), input_shapes=shapes, names=names)


@pytest.mark.parametrize("shape", [(1, 7), (1, 6, 1), (6,)], ids=str)
def test_input_shapes_contradicting_the_model(shape):
    raises(sparsec.ShapeError, mlp([6, 5, 3]), input_shapes={"x": shape}, names=["'x'", str(list(shape))])


# -------------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize(
    "elem_type,dtype", [(TensorProto.INT64, np.int64), (TensorProto.DOUBLE, np.float64)], ids=["int64", "float64"]
)
def test_non_float32_graph_input(tmp_path, elem_type, dtype):
    b = Builder()
    x = b.input("ids", (1, 4), elem_type)
    (y,) = b.node("Add", [x, b.const([1, 2, 3, 4], dtype=dtype)], name="add")
    b.output(y)
    path = saved(tmp_path, b.model())
    with pytest.raises(sparsec.SparsecError) as info:
        load_graph(path)
    msg = str(info.value)
    for part in (path, "'ids'", np.dtype(dtype).name, "float32", "Convert the model to float32"):
        assert part in msg, msg


def test_float64_inside_the_graph_names_the_node(tmp_path):
    b = Builder()
    x = b.input("x", (1, 4))
    (d,) = b.node("Cast", [x], name="/to_double", to=TensorProto.DOUBLE)
    (y,) = b.node("Cast", [d], name="/to_float", to=TensorProto.FLOAT)
    b.output(y)
    path = saved(tmp_path, b.model())
    raises(sparsec.UnsupportedOperatorError, path, names=[path, "'/to_double'", "(Cast)", "float32"])


def test_int64_label_output_loads_and_matches_onnxruntime():
    b = Builder()
    x = b.input("x", (3, 5))
    b.node("Softmax", [x], outputs=["probabilities"], axis=1)
    b.node("ArgMax", ["probabilities"], outputs=["label"], axis=1, keepdims=0)
    b.output("label", elem_type=TensorProto.INT64)
    b.output("probabilities")
    model = b.model()
    g = load_graph(model)
    assert g.types["label"] == TensorType((3,), "int64")
    feeds = random_feeds(model)
    ours = run(g, feeds)
    theirs = ort_session(model).run(["label", "probabilities"], feeds)
    assert ours["label"].dtype == np.int64
    np.testing.assert_array_equal(ours["label"], theirs[0])


# ---------------------------------------------------------------------------- graph structure
def test_toposort_orders_nodes():
    a = Node("Relu", "a", ("x",), ("h",))
    b = Node("Relu", "b", ("h",), ("y",))
    c = Node("Add", "c", ("y", "h"), ("z",))
    assert toposort([c, b, a], ["x"]) == (a, b, c)


@pytest.mark.parametrize("case", ["cycle", "dangling", "self-loop"])
def test_toposort_rejects_cycles_and_dangling_inputs(case):
    if case == "cycle":
        nodes = [
            Node("Relu", "ok", ("x",), ("h",)),
            Node("Add", "n1", ("h", "q"), ("p",)),
            Node("Relu", "n2", ("p",), ("q",)),
        ]
        culprit, op, missing = "n1", "Add", "'q'"
    elif case == "dangling":
        nodes = [Node("Relu", "ok", ("x",), ("h",)), Node("Add", "n1", ("h", "ghost"), ("y",))]
        culprit, op, missing = "n1", "Add", "'ghost'"
    else:
        nodes = [Node("Relu", "loop", ("y",), ("y",))]
        culprit, op, missing = "loop", "Relu", "'y'"
    with pytest.raises(sparsec.GraphError) as info:
        toposort(nodes, ["x"], source="m.onnx")
    err = info.value
    assert (err.file, err.node, err.op) == ("m.onnx", culprit, op)
    assert missing in str(err) and "exported completely" in str(err)


def test_dropout_mask_in_inference_is_all_true():
    b = Builder()
    x = b.input("x", (1, 4))
    b.node("Dropout", [x, b.const(np.float32(0.5))], outputs=["y", "mask"], name="drop")
    (z,) = b.node("Not", ["mask"], name="not_mask")
    b.output("y")
    b.output("mask")
    model = b.model()
    g = load_graph(model)
    assert g.types["mask"].dtype == "bool"
    feeds = random_feeds(model)
    out = run(g, feeds)
    np.testing.assert_array_equal(out["y"], feeds["x"])
    np.testing.assert_array_equal(out["mask"], np.ones((1, 4), bool))


def test_dropout_mask_named_but_unused_loads():
    b = Builder()
    x = b.input("x", (1, 4))
    b.node("Dropout", [x, b.const(np.float32(0.5))], outputs=["y", "mask"], name="drop")
    b.output("y")
    model = b.model()
    g = load_graph(model)
    feeds = random_feeds(model)
    np.testing.assert_array_equal(run(g, feeds)["y"], feeds["x"])
    np.testing.assert_array_equal(sparsec.load(model).reference(feeds["x"]), feeds["x"])


def test_dropout_training_mode_is_unsupported():
    model = single_op("Dropout", [("x", (1, 4)), np.array(0.5, np.float32), np.array(True)], node_name="drop")
    raises(sparsec.UnsupportedOperatorError, model, names=["'drop'", "(Dropout)", "training_mode", "eval"])
    # ... unless nothing is dropped: then it is deterministic
    model = single_op("Dropout", [("x", (1, 4)), np.array(0.0, np.float32), np.array(True)], node_name="drop")
    feeds = random_feeds(model)
    np.testing.assert_array_equal(run(load_graph(model), feeds)[model.graph.output[0].name], feeds["x"])


def unsupported_tail():
    """x -> Relu -> r (output) -> Einsum -> s (output)."""
    b = Builder("two_heads")
    x = b.input("x", (2, 6))
    b.node("Relu", [x], outputs=["r"], name="relu")
    b.node("Einsum", ["r"], outputs=["s"], name="sine", equation="ij->ji")
    b.output("r")
    b.output("s")
    return b.model()


def test_outputs_keeps_only_the_needed_subgraph():
    model = unsupported_tail()
    raises(sparsec.UnsupportedOperatorError, model, names=["sine", "Einsum"])
    g = load_graph(model, outputs=["r"])
    assert g.outputs == ("r",) and [n.op for n in g.nodes] == ["Relu"]
    feeds = random_feeds(model)
    np.testing.assert_array_equal(run(g, feeds)["r"], ort_session(model).run(["r"], feeds)[0])
    assert sparsec.load(model, outputs=["r"]).output_name == "r"


def test_outputs_may_name_an_intermediate_value():
    model = mlp([4, 6, 3], form="matmul_add", softmax=False)
    hidden = next(n.output[0] for n in model.graph.node if n.op_type == "Relu")
    g = load_graph(model, outputs=[hidden])
    assert g.outputs == (hidden,) and [n.op for n in g.nodes] == ["MatMul", "Add", "Relu"]
    assert g.types[hidden].shape == (1, 6)


def test_outputs_unknown_name():
    err = raises(sparsec.GraphError, unsupported_tail(), outputs=["nope"], names=["'nope'", "['r', 's']"])
    assert err.hint


# ------------------------------------------------------------------------------- conversion
@pytest.mark.parametrize("batch", ["N", 1])
def test_callers_model_proto_is_not_modified(batch):
    model = mlp([5, 4, 3], form="gemm_transB0_alpha_beta", batch=batch, dropout=True, identity=True)
    before = model.SerializeToString()
    load_graph(model)
    sparsec.load(model)
    sparsec.load(model, input_shapes={"x": (2, 5) if batch == "N" else (1, 5)})
    assert model.SerializeToString() == before


def test_loaded_graph_is_read_only():
    g = load_graph(mlp([5, 4, 3]))
    for arr in g.constants.values():
        assert not arr.flags.writeable
        with pytest.raises(ValueError):
            arr[...] = 0
    with pytest.raises(TypeError):
        g.constants["new"] = np.zeros(1)  # type: ignore[index]


@pytest.mark.parametrize("attr", ["value", "value_ints"])
def test_constant_nodes_become_constants(attr):
    b = Builder()
    x = b.input("x", (2, 6))
    if attr == "value":
        kwargs = {"value": helper.make_tensor("v", TensorProto.INT64, [3], [0, 3, -1])}
    else:
        kwargs = {"value_ints": [0, 3, -1]}
    (shape,) = b.node("Constant", [], name="shape_const", **kwargs)
    (bias,) = b.node("Constant", [], name="bias_const", value_float=0.5)
    (r,) = b.node("Reshape", [x, shape], name="reshape")
    (y,) = b.node("Add", [r, bias], name="add")
    b.output(y)
    model = b.model()
    g = load_graph(model)
    assert [n.op for n in g.nodes] == ["Reshape", "Add"]
    np.testing.assert_array_equal(g.constants[shape], [0, 3, -1])
    assert g.constants[shape].dtype == np.int64
    assert g.constants[bias] == np.float32(0.5) and g.constants[bias].dtype == np.float32
    feeds = random_feeds(model)
    want = ort_session(model).run(None, feeds)[0]
    got = run(g, feeds)[y]
    assert got.shape == want.shape == (2, 3, 2)
    np.testing.assert_array_equal(got, want)


def test_empty_node_names_get_unique_names():
    b = Builder()
    x = b.input("x", (1, 4))
    (h,) = b.node("Relu", [x], name="")
    (h,) = b.node("Relu", [h], name="")
    (h,) = b.node("Relu", [h], name="Relu_0")  # clashes with a generated name
    (h,) = b.node("Relu", [h], name="dup")
    (h,) = b.node("Relu", [h], name="dup")
    b.output(h)
    g = load_graph(b.model())
    names = [n.name for n in g.nodes]
    assert len(names) == 5 and len(set(names)) == 5 and all(names)
    assert "Relu_0" in names and "dup" in names


def test_graph_structure_and_types():
    model = mlp([6, 5, 3], form="matmul_add", dropout=True, identity=True, opset=13)
    g = load_graph(model)
    assert g.inputs == ("x",) and g.outputs == ("y",)
    assert [n.op for n in g.nodes] == ["MatMul", "Add", "Relu", "Dropout", "Identity", "MatMul", "Add", "Softmax"]
    assert g.nodes[0].name == "/fc0/MatMul"
    assert set(g.constants) == {"fc0.weight", "fc0.bias", "fc1.weight", "fc1.bias", "drop0.ratio"}
    assert g.types["fc0.weight"].shape == (6, 5)
    assert all(g.types[o].dtype == "float32" for n in g.nodes for o in n.outputs if o)
    assert g.nodes[-1].attrs["axis"] == -1


def test_attribute_defaults_are_filled():
    g = load_graph(single_op("Gemm", [("a", (2, 3)), np.ones((3, 4), np.float32)]))
    assert dict(g.nodes[0].attrs) == {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0}


def test_file_and_proto_give_the_same_graph(tmp_path):
    model = mlp([5, 4, 3], form="gemm", seed=3)
    path = saved(tmp_path, model, "tiny_mlp.onnx")
    from_file, from_proto = load_graph(path), load_graph(model)
    assert from_file.name == "tiny_mlp" and from_file.source == path
    assert from_file.nodes == from_proto.nodes
    for k, v in from_proto.constants.items():
        np.testing.assert_array_equal(from_file.constants[k], v)
