"""Shared test set-up: one thread everywhere (the machine is shared), a private build cache."""

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(var, "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "examples" / "digits_mlp"
# The bar for all C we write or generate (DESIGN.md): strict C99, no warnings.
STRICT_CFLAGS = [
    "-std=c99",
    "-O2",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-pedantic",
    "-Wdouble-promotion",
    "-Wshadow",
    "-Wmissing-prototypes",
]


@pytest.fixture(autouse=True, scope="session")
def _build_cache(tmp_path_factory):
    """Builds go to a per-session cache so tests never depend on an old one."""
    os.environ["SPARSEC_CACHE_DIR"] = str(tmp_path_factory.mktemp("sparsec-cache"))
    yield


def ort_session(model_proto):
    """An onnxruntime session pinned to one thread."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    # onnxruntime's graph rewrites have had wrong-result bugs (1.32: Transpose->MatMul with a 1-D B);
    # as the judge of the reference it runs each node as written.
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model_proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def pytest_terminal_summary(terminalreporter):
    """Print the ONNX node-test pass count (issue 3's conformance bar) after every run."""
    counts = {
        kind: sum(1 for r in terminalreporter.stats.get(kind, []) if "test_onnx_node.py::test_node[" in r.nodeid)
        for kind in ("passed", "skipped", "failed")
    }
    if any(counts.values()):
        terminalreporter.write_line(
            f"ONNX backend node tests in sparsec's op set: {counts['passed']} passed, "
            f"{counts['skipped']} skipped (reasons: python tests/test_onnx_node.py --skips), {counts['failed']} failed"
        )
