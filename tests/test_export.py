"""sparsec.save(): a pruned model written back to ONNX runs in onnxruntime with the reference's outputs."""

import numpy as np
import onnx
import pytest

import sparsec
from conftest import DIGITS, ort_session
from test_exported_models import DATA, FIXTURES


@pytest.mark.parametrize("sparsity", [0.0, 0.9])
def test_saved_model_matches_reference_in_onnxruntime(tmp_path, sparsity):
    m = sparsec.load(DIGITS / "digits_mlp.onnx")
    p = sparsec.range_limit(sparsec.prune(m, sparsity), 0.5) if sparsity else m
    path = tmp_path / "pruned.onnx"
    sparsec.save(p, path)
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"  # runs on batches
    x = np.random.default_rng(0).random((5, 64), dtype=np.float32)
    (got,) = ort_session(proto).run(None, {"input": x})
    np.testing.assert_allclose(got, p.reference(x), atol=1e-6)
    reloaded = sparsec.load(path)
    for name, w in p.weights().items():
        np.testing.assert_array_equal(reloaded.weights()[name], w)
    if sparsity:
        assert all(np.count_nonzero(w) <= 0.1 * w.size + 1 for w in reloaded.weights().values())


@pytest.mark.parametrize("simplify", [False, True], ids=["raw", "simplified"])
@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_exported_fixtures_round_trip_through_save(tmp_path, name, simplify):
    """Every fixture, as loaded (BatchNormalization, Reshape, Clip, ... at their opsets), saves as valid ONNX."""
    outputs, _ = FIXTURES[name]
    m = sparsec.load(DATA / f"{name}.onnx", outputs=outputs, simplify=simplify)
    path = tmp_path / "saved.onnx"
    sparsec.save(m, path)
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    x = np.random.default_rng(1).standard_normal(m.input_shape).astype(np.float32)
    got = ort_session(proto).run([m.output_name], {m.input_name: x})[0]
    np.testing.assert_allclose(got, m.reference(x), rtol=1e-5, atol=1e-5)


def test_batch_in_saved_models(tmp_path):
    """A Reshape that moves the batch dim ties a model to batch 1: saved as such. A Reshape to a
    constant [1, ...] (a folded Flatten) is saved with 0 there, so the file runs on any batch."""
    from test_codegen import SPECIAL

    m = sparsec.load(SPECIAL["output_is_input_view"])  # [1, 6] -> [2, 3]
    sparsec.save(m, tmp_path / "m.onnx")
    dims = onnx.load(tmp_path / "m.onnx").graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [1, 6]
    m = sparsec.load(SPECIAL["softmax_opset11_coerced"])  # fc -> Reshape to [1, 2, 5] -> Softmax
    sparsec.save(m, tmp_path / "f.onnx")
    proto = onnx.load(tmp_path / "f.onnx")
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    (got,) = ort_session(proto).run(None, {"input": x})
    np.testing.assert_allclose(got, m.reference(x), atol=1e-6)
