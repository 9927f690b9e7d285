"""The bundled digits example: the foundation's acceptance test.

The model compiled at 90% sparsity matches the NumPy reference within 1e-5 max
abs error on the whole digits test set, through the generated C.
"""

import sys

import numpy as np
import pytest

import sparsec
from conftest import DIGITS

sys.path.insert(0, str(DIGITS))
from data import split  # noqa: E402


@pytest.fixture(scope="module")
def test_set():
    _, x_test, _, y_test = split()
    return x_test, y_test


@pytest.mark.parametrize("file", ["digits_mlp.onnx", "digits_mlp_pruned90.onnx"])
def test_digits_at_90_percent_matches_reference(file, test_set):
    x, y = test_set
    model = sparsec.range_limit(sparsec.prune(sparsec.load(DIGITS / file), 0.9), 1.0)
    compiled = sparsec.compile(model)
    report = sparsec.validate(compiled, x)
    assert report.ok and report.max_abs_error <= 1e-5, str(report)
    assert report.argmax_agreement == 1.0
    assert all(L["format"] == "csr" for L in compiled.report["layers"])


def test_example_models_are_accurate(test_set):
    x, y = test_set
    dense = sparsec.load(DIGITS / "digits_mlp.onnx")
    assert np.mean(dense.reference(x).argmax(1) == y) >= 0.95
    retrained = sparsec.load(DIGITS / "digits_mlp_pruned90.onnx")
    weights = retrained.weights()
    density = sum(np.count_nonzero(w) for w in weights.values()) / sum(w.size for w in weights.values())
    assert density <= 0.101
    assert np.mean(sparsec.compile(retrained)(x).argmax(1) == y) >= 0.95
