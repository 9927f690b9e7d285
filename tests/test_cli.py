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
