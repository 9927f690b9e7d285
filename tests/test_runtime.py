"""The Python binding: shapes it accepts, clear errors for bad arrays, threads, build failures."""

import threading

import numpy as np
import pytest

import sparsec
from conftest import DIGITS


@pytest.fixture(scope="module")
def compiled():
    return sparsec.compile(sparsec.prune(sparsec.load(DIGITS / "digits_mlp.onnx"), 0.9), name="rt_mlp")


def test_batch_single_sample_and_full_shape(compiled):
    x = np.random.default_rng(0).random((5, 64), dtype=np.float32)
    batch = compiled(x)
    assert batch.shape == (5, 10) and batch.dtype == np.float32
    assert compiled(x[0]).shape == (10,)
    np.testing.assert_array_equal(compiled(x[0]), batch[0])
    np.testing.assert_array_equal(compiled(x[:1]), batch[:1])  # [1, 64] is the model's own shape
    assert compiled(np.zeros((0, 64), np.float32)).shape == (0, 10)


def test_read_only_and_unaligned_inputs_work(compiled):
    x = np.random.default_rng(1).random((3, 64), dtype=np.float32)
    want = compiled(x)
    ro = x.copy()
    ro.setflags(write=False)
    np.testing.assert_array_equal(compiled(ro), want)
    buf = np.zeros(3 * 64 + 1, np.float32)
    unaligned = buf[1:].reshape(3, 64)  # 4-byte offset from the allocation
    unaligned[:] = x
    np.testing.assert_array_equal(compiled(unaligned), want)


@pytest.mark.parametrize(
    "bad,exc,match",
    [
        (np.zeros((2, 64), np.float64), TypeError, "float32"),
        (np.zeros((2, 64), np.int32), TypeError, "float32"),
        ([[0.0] * 64], TypeError, "numpy.ndarray"),
        (np.zeros((2, 63), np.float32), ValueError, r"\[1, 64\]"),
        (np.zeros((2, 3, 64), np.float32), ValueError, r"\[B, 64\]"),
        (np.zeros((64, 2), np.float32).T, ValueError, "contiguous"),
        (np.zeros((4, 128), np.float32)[:, ::2], ValueError, "contiguous"),
        (np.float32(1.0), ValueError, "shape"),
    ],
    ids=["float64", "int32", "list", "wrong-width", "extra-dim", "fortran", "strided", "scalar"],
)
def test_bad_arrays_raise_clear_errors(compiled, bad, exc, match):
    with pytest.raises(exc, match=match):
        compiled(bad if not isinstance(bad, np.generic) else np.asarray(bad))


def test_nan_propagates(compiled):
    x = np.zeros((2, 64), np.float32)
    x[0, 5] = np.nan
    got, want = compiled(x), compiled.model.reference(x)
    assert np.isnan(want[0]).all() and np.isnan(got[0]).all()
    assert np.isfinite(got[1]).all()


def test_concurrent_calls_from_threads(compiled):
    xs = [np.random.default_rng(i).random((50, 64), dtype=np.float32) for i in range(4)]
    want = [compiled(x) for x in xs]
    results, errors = {}, []

    def work(i):
        try:
            for _ in range(20):
                results[i] = compiled(xs[i])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i in range(4):
        np.testing.assert_array_equal(results[i], want[i])


def test_missing_compiler_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("CC", "/nonexistent/bin/cc")
    c = sparsec.compile(sparsec.load(DIGITS / "digits_mlp.onnx"), name="nocc")
    with pytest.raises(sparsec.ToolchainError, match="not found.*apt-get install gcc"):
        c(np.zeros(64, np.float32))


def test_failed_build_shows_the_compiler_message(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSEC_CACHE_DIR", str(tmp_path))
    c = sparsec.compile(sparsec.load(DIGITS / "digits_mlp.onnx"), name="broken")
    c.files["broken.c"] += "\nthis is not C;\n"
    with pytest.raises(sparsec.BuildError, match=r"(?s)failed.*broken\.c.*error"):
        c(np.zeros(64, np.float32))
    assert not list(tmp_path.glob("*/libbroken.so"))  # nothing half-built in the cache


def test_builds_are_cached_by_content():
    a = sparsec.compile(sparsec.load(DIGITS / "digits_mlp.onnx"), name="cached")
    b = sparsec.compile(sparsec.load(DIGITS / "digits_mlp.onnx"), name="cached")
    assert a.library().path == b.library().path
