"""validate(): passes on a correct build and names the first diverging layer on a wrong one."""

import numpy as np

import sparsec
from conftest import DIGITS
from sparsec.ir import frozen_array


def test_validate_passes_and_reports_errors():
    m = sparsec.prune(sparsec.load(DIGITS / "digits_mlp.onnx"), 0.9)
    x = np.random.default_rng(0).random((20, 64), dtype=np.float32)
    r = sparsec.validate(sparsec.compile(m), x)
    assert r.ok and r.samples == 20 and r.argmax_agreement == 1.0
    assert 0 <= r.max_abs_error < 1e-5 and r.first_divergence is None
    assert "PASS" in str(r)


def test_validate_names_the_first_diverging_layer():
    m = sparsec.prune(sparsec.load(DIGITS / "digits_mlp.onnx"), 0.9)
    compiled = sparsec.compile(m)
    # The C was generated from m; check it against a model whose second layer differs.
    g = m.graph
    w2 = g.node("/fc2/MatMul+/fc2/Add").inputs[1]
    changed = dict(g.constants)
    changed[w2] = frozen_array(g.constants[w2] * np.float32(1.5))
    compiled.model = sparsec.Model(g.replace(constants=changed))
    x = np.random.default_rng(0).random((8, 64), dtype=np.float32)
    r = sparsec.validate(compiled, x)
    assert not r.ok and r.max_abs_error > 1e-4
    assert r.first_divergence["nodes"] == ["/fc2/MatMul+/fc2/Add", "/act2/Relu"]
    assert "first diverging layer: /fc2/MatMul+/fc2/Add" in str(r)


def test_intermediates_match_reference_values():
    m = sparsec.load(DIGITS / "digits_mlp.onnx")
    c = sparsec.compile(m)
    x = np.random.default_rng(3).random(64, dtype=np.float32)
    got, want = c.intermediates(x), m.reference_values(x)
    assert {"/act1/Relu_output_0", "/act2/Relu_output_0", "probabilities"} <= set(got)
    for name, value in got.items():
        np.testing.assert_allclose(value, want[name], atol=1e-5, err_msg=name)
