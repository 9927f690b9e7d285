"""The sparsec command line: compile writes a project and a table; errors exit 1 and write nothing."""

import subprocess
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from conftest import DIGITS, ROOT


def sparsec_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "sparsec", *map(str, args)], capture_output=True, text=True, cwd=cwd or ROOT
    )


def test_compile_writes_project_and_prints_table(tmp_path):
    out = tmp_path / "out"
    r = sparsec_cli("compile", DIGITS / "digits_mlp.onnx", "-o", out, "--sparsity", "0.9", "--range-limit", "1.0")
    assert r.returncode == 0, r.stderr
    assert "csr/uint8" in r.stdout and "arena 768 bytes" in r.stdout
    assert (out / "digits_mlp.c").is_file() and (out / "Makefile").is_file()
    assert "nnz 819/8192" in (out / "digits_mlp.c").read_text()


def test_help_lists_options():
    r = sparsec_cli("compile", "--help")
    assert r.returncode == 0 and "--sparsity" in r.stdout and "examples:" in r.stdout


def test_missing_file_is_a_user_error(tmp_path):
    r = sparsec_cli("compile", tmp_path / "none.onnx", "-o", tmp_path / "out")
    assert r.returncode == 1 and "file not found" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


def test_bad_option_is_a_user_error(tmp_path):
    r = sparsec_cli("compile", DIGITS / "digits_mlp.onnx", "-o", tmp_path / "out", "--sparsity", "1.5")
    assert r.returncode == 1 and "sparsity" in r.stderr
    assert not (tmp_path / "out").exists()


def test_failed_compile_leaves_existing_output_untouched(tmp_path):
    model = helper.make_model(
        helper.make_graph(
            [helper.make_node("Det", ["x"], ["y"], name="the_det")],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        ),
        opset_imports=[helper.make_opsetid("", 13)],
    )
    path = tmp_path / "sin.onnx"
    path.write_bytes(model.SerializeToString())
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.c").write_text("previous good output")
    r = sparsec_cli("compile", path, "-o", out)
    assert r.returncode == 1
    assert "the_det" in r.stderr and "Det" in r.stderr and "Supported operators" in r.stderr
    assert [p.name for p in out.iterdir()] == ["old.c"] and (out / "old.c").read_text() == "previous good output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "sin.onnx"]


def test_unused_initializer_model_compiles_quietly(tmp_path):
    w = numpy_helper.from_array(np.eye(4, dtype=np.float32), "w")
    unused = numpy_helper.from_array(np.ones(3, np.float32), "unused")
    model = helper.make_model(
        helper.make_graph(
            [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
            [w, unused],
        ),
        opset_imports=[helper.make_opsetid("", 13)],
    )
    path = tmp_path / "eye.onnx"
    path.write_bytes(model.SerializeToString())
    r = sparsec_cli("compile", path, "-o", tmp_path / "o", "-q")
    assert r.returncode == 0 and r.stdout == "", r.stderr


# ------------------------------------------------------------------------------------------ prune
def digits_npz(tmp_path):
    sys.path.insert(0, str(DIGITS))
    from data import split

    x_train, _, y_train, _ = split()
    path = tmp_path / "train.npz"
    np.savez(path, x=x_train, y=y_train)
    return path


def test_prune_writes_valid_onnx_and_prints_table(tmp_path):
    import onnx
    from conftest import ort_session

    import sparsec

    data = digits_npz(tmp_path)
    out = tmp_path / "pruned.onnx"
    r = sparsec_cli(
        "prune", DIGITS / "digits_mlp.onnx", "-o", out, "--sparsity", "0.8", "--criterion", "taylor", "--data", data,
        "--schedule", "iterative", "--steps", "2", "--finetune-epochs", "1", "--lr", "3e-3", "--range-limit", "1.0",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "/fc1/MatMul+/fc1/Add" in r.stdout and "8192->1638" in r.stdout and "accuracy on the data" in r.stdout
    assert "schedule iterative" in r.stdout and f"wrote {out}" in r.stdout
    proto = onnx.load(out)
    onnx.checker.check_model(proto, full_check=True)
    m = sparsec.load(out)
    assert all(w.size - np.count_nonzero(w) == round(0.8 * w.size) for w in m.weights().values())
    assert all(np.abs(w).max() <= 1.0 for w in m.weights().values())
    x = np.random.default_rng(0).random((1, 64), dtype=np.float32)
    np.testing.assert_allclose(ort_session(proto).run(None, {"input": x})[0], m.reference(x), atol=1e-6)


def test_prune_neurons_shrinks_the_saved_model(tmp_path):
    import sparsec

    out = tmp_path / "small.onnx"
    r = sparsec_cli("prune", DIGITS / "digits_mlp.onnx", "-o", out, "--method", "neuron", "--keep-ratio", "0.5", "-q")
    assert r.returncode == 0 and r.stdout == "", r.stderr
    assert [w.shape for w in sparsec.load(out).weights().values()] == [(64, 64), (32, 64), (10, 32)]


def test_prune_errors_exit_1_and_write_nothing(tmp_path):
    out = tmp_path / "p.onnx"
    r = sparsec_cli("prune", DIGITS / "digits_mlp.onnx", "-o", out, "--sparsity", "0.5", "--criterion", "gradient")
    assert r.returncode == 1 and "needs data" not in r.stderr and "--data" in r.stderr and "Traceback" not in r.stderr
    r = sparsec_cli("prune", DIGITS / "digits_mlp.onnx", "-o", out)
    assert r.returncode == 1 and "sparsity" in r.stderr
    r = sparsec_cli("prune", DIGITS / "digits_mlp.onnx", "-o", out, "--sparsity", "0.5", "--data", tmp_path / "no.npz")
    assert r.returncode == 1 and "not found" in r.stderr
    r = sparsec_cli("prune", DIGITS / "digits_mlp.onnx", "-o", tmp_path / "no" / "p.onnx", "--sparsity", "0.5")
    assert r.returncode == 1 and "does not exist" in r.stderr
    r = sparsec_cli("prune", DIGITS / "digits_mlp.onnx", "-o", out, "--sparsity", "0.5", "--keep-ratio", "0.5")
    assert r.returncode == 2 and "not allowed with" in r.stderr  # argparse's own usage error
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_compile_takes_the_pruning_options(tmp_path):
    out = tmp_path / "out"
    r = sparsec_cli(
        "compile", DIGITS / "digits_mlp.onnx", "-o", out, "--method", "neuron", "--keep-ratio", "0.5",
        "--range-percentile", "99.9",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "neuron pruning" in r.stdout and "64x64" in r.stdout and (out / "digits_mlp.c").is_file()
    r = sparsec_cli("prune", "--help")
    assert r.returncode == 0 and all(
        o in r.stdout for o in ("--method", "--keep-ratio", "--finetune-epochs", "DATA.npz")
    )
