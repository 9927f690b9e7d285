"""Models exported by torch.onnx (legacy and dynamo) and skl2onnx load and match onnxruntime.

The fixtures in tests/data/ are committed (built by tests/data/make_models.py), so neither torch
nor scikit-learn is needed here. Each one is checked unsimplified (``load_graph``) and simplified
(``sparsec.load``), at batch 1 and, where the exporter left the batch dim symbolic, at batch 3.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import ort_session
from onnx import TensorProto, helper
from test_reference import assert_close

import sparsec
from sparsec.errors import UnsupportedOperatorError
from sparsec.frontend import load_graph
from sparsec.reference import run

DATA = Path(__file__).resolve().parent / "data"

# fixture -> (outputs to keep (None: all), ops the raw export must contain, so a re-export that
# loses what the fixture is for fails here)
FIXTURES: dict[str, tuple[list[str] | None, set[str]]] = {
    "torch_mlp_legacy": (None, {"Gemm", "Relu", "Softmax"}),
    "torch_mlp_dynamo": (None, {"Gemm", "Relu", "Softmax"}),
    "torch_cnn2d_legacy": (None, {"Conv", "BatchNormalization", "Clip", "MaxPool", "AveragePool", "Flatten"}),
    "torch_cnn2d_legacy_folded": (None, {"Conv", "Clip", "GlobalAveragePool", "Constant"}),
    "torch_cnn2d_dynamo": (None, {"Conv", "Clip", "ReduceMean", "Reshape", "Gemm"}),
    "torch_cnn2d_dynamo_raw": (None, {"BatchNormalization", "CastLike", "Constant", "Concat", "Reshape"}),
    "torch_kws1d_legacy": (None, {"BatchNormalization", "Shape", "Gather", "Unsqueeze", "Concat", "LogSoftmax"}),
    "torch_kws1d_res_legacy": (None, {"HardSwish", "Sigmoid", "Add", "Mul", "Unsqueeze", "ReduceMean"}),
    "torch_kws1d_res_dynamo": (None, {"HardSwish", "Sigmoid", "Add", "Mul", "Unsqueeze", "ReduceMean"}),
    "skl_mlp_nozipmap": (["probabilities"], {"Cast", "MatMul", "Add", "Softmax", "Identity"}),
    "skl_mlp_zipmap": (["out_activations_result"], {"Cast", "MatMul", "Add", "Softmax", "ZipMap"}),
}
# fixture -> the ai.onnx.ml op that stops loading it with all of its outputs
REJECTED = {
    "skl_mlp_nozipmap": "ArrayFeatureExtractor",
    "skl_mlp_zipmap": "ZipMap",
    "skl_logreg_nozipmap": "LinearClassifier",
}
ALL_FILES = sorted(set(FIXTURES) | set(REJECTED))
FOLDABLE = ("BatchNormalization", "Dropout", "Identity")


def path_of(name: str) -> Path:
    return DATA / f"{name}.onnx"


def proto_of(name: str) -> onnx.ModelProto:
    return onnx.load(path_of(name))


def input_info(proto: onnx.ModelProto) -> tuple[str, list[int | None]]:
    """The single non-initializer input: its name and dims (None where symbolic)."""
    inits = {t.name for t in proto.graph.initializer}
    (vi,) = [i for i in proto.graph.input if i.name not in inits]
    dims = [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
    return vi.name, dims


def cases():
    for name in FIXTURES:
        _, dims = input_info(proto_of(name))
        for batch in (1, 3) if dims[0] is None else (1,):
            for simplify in (False, True):
                yield pytest.param(
                    name, batch, simplify, id=f"{name}-batch{batch}-{'simplified' if simplify else 'raw'}"
                )


def ort_outputs(proto: onnx.ModelProto, names: list[str], feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """onnxruntime's values for ``names``; an intermediate tensor becomes an extra graph output."""
    proto = onnx.ModelProto.FromString(proto.SerializeToString())
    declared = {o.name for o in proto.graph.output}
    for n in names:
        if n not in declared:
            proto.graph.output.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, None))
    return dict(zip(names, ort_session(proto).run(names, feeds)))


def feeds_for(proto: onnx.ModelProto, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    name, dims = input_info(proto)
    shape = [batch if d is None else d for d in dims]
    return {name: np.random.default_rng(seed).standard_normal(shape).astype(np.float32)}


def test_fixture_sizes():
    sizes = {p.name: p.stat().st_size for p in DATA.glob("*.onnx")}
    assert {f"{n}.onnx" for n in ALL_FILES} <= set(sizes), "run python tests/data/make_models.py"
    assert all(s < 200_000 for s in sizes.values()), sizes
    assert sum(sizes.values()) < 1_000_000


@pytest.mark.parametrize("name", ALL_FILES)
def test_fixture_is_valid_onnx(name):
    onnx.checker.check_model(proto_of(name))
    if name in FIXTURES:
        ops = {n.op_type for n in proto_of(name).graph.node}
        missing = FIXTURES[name][1] - ops
        assert not missing, f"{name} no longer exercises {sorted(missing)}; re-check make_models.py"


@pytest.mark.parametrize("name,batch,simplify", list(cases()))
def test_matches_onnxruntime(name, batch, simplify):
    proto = proto_of(name)
    outputs, _ = FIXTURES[name]
    feeds = feeds_for(proto, batch)
    ((x, value),) = feeds.items()
    shapes = {x: value.shape} if batch != 1 else None
    if simplify:
        graph = sparsec.load(path_of(name), input_shapes=shapes, outputs=outputs).graph
    else:
        graph = load_graph(path_of(name), input_shapes=shapes, outputs=outputs)
    names = outputs or [o.name for o in proto.graph.output]
    assert list(graph.outputs) == names
    want = ort_outputs(proto, names, feeds)
    got = run(graph, feeds)
    for n in names:
        assert graph.types[n].shape == want[n].shape, f"{n}: inferred {graph.types[n]}, runs as {want[n].shape}"
        assert_close(got[n], want[n], f"{name}:{n}")


@pytest.mark.parametrize("name", list(FIXTURES))
def test_simplified_has_no_foldable_nodes(name):
    """BatchNorm after a Conv/Gemm folds into it; Dropout and Identity go (an Identity that
    renames a node's output into a graph output can too: the producer takes the name)."""
    outputs, _ = FIXTURES[name]
    graph = sparsec.load(path_of(name), outputs=outputs).graph
    producer = {o: n for n in graph.nodes for o in n.outputs}
    left = []
    for node in graph.nodes:
        if node.op not in FOLDABLE:
            continue
        src = producer.get(node.inputs[0])
        if node.op == "BatchNormalization" and (src is None or src.op not in ("Conv", "Gemm")):
            continue
        if node.op == "Identity" and (src is None or node.inputs[0] in graph.outputs):
            continue
        left.append(f"{node.op} {node.name!r}")
    assert not left, f"{name}: left after simplification: {left}"


@pytest.mark.parametrize("name", [n for n in FIXTURES if n.startswith("torch_")])
def test_model_reference_api(name):
    """Model.reference on a batch of samples, as users call it, against onnxruntime row by row."""
    proto = proto_of(name)
    model = sparsec.load(path_of(name))
    rows = np.random.default_rng(1).standard_normal((3, *model.input_shape[1:])).astype(np.float32)
    got = model.reference(rows)
    x = model.input_name
    want = np.concatenate([ort_session(proto).run(None, {x: row[None]})[0] for row in rows])
    assert_close(got.reshape(want.shape), want, name)


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_ml_ops_rejected_with_outputs_hint(name):
    with pytest.raises(UnsupportedOperatorError) as info:
        load_graph(path_of(name))
    text = str(info.value)
    assert REJECTED[name] in text and "ai.onnx.ml" in text, text
    assert "outputs=" in text, text
    assert str(path_of(name)) in text, text


def test_zipmap_classifier_probabilities_match_plain_export():
    """The ZipMap export kept to its probability tensor computes what the plain export does."""
    feeds = feeds_for(proto_of("skl_mlp_zipmap"), 1, seed=2)
    a = sparsec.load(path_of("skl_mlp_zipmap"), outputs=["out_activations_result"])
    b = sparsec.load(path_of("skl_mlp_nozipmap"), outputs=["probabilities"])
    pa = run(a.graph, feeds)["out_activations_result"]
    pb = run(b.graph, feeds)["probabilities"]
    np.testing.assert_array_equal(pa, pb)
    assert pa.shape == (1, 10) and abs(float(pa.sum()) - 1.0) < 1e-5


def test_logreg_rejected_whatever_outputs():
    """Every output of skl2onnx's LogisticRegression comes from ai.onnx.ml ops."""
    with pytest.raises(UnsupportedOperatorError, match="LinearClassifier|Normalizer"):
        load_graph(path_of("skl_logreg_nozipmap"), outputs=["probabilities"])
