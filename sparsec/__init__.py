"""sparsec: compile pruned neural networks (ONNX) into small, fast, dependency-free C.

m = sparsec.load("model.onnx")
p = sparsec.range_limit(sparsec.prune(m, sparsity=0.9), 1.0)
c = sparsec.compile(p, target="host")      # callable on NumPy arrays
c.export("out_dir")                        # the self-contained C project
print(sparsec.validate(c, x))
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    BuildError,
    CodegenError,
    GraphError,
    ModelLoadError,
    OptionError,
    ShapeError,
    SparsecError,
    ToolchainError,
    UnsupportedOperatorError,
)
from .model import Model, Report, load  # noqa: E402
from .optimize import prune, range_limit  # noqa: E402


def save(model: Model, path: str) -> None:
    """Write ``model`` (e.g. pruned) as an ONNX file that passes onnx.checker and runs in onnxruntime."""
    from .export import save as _save

    _save(model.graph, path)


from .compiler import CompiledModel, compile  # noqa: E402
from .validate import ValidationReport, validate  # noqa: E402

__all__ = [
    "BuildError",
    "CodegenError",
    "CompiledModel",
    "GraphError",
    "Model",
    "ModelLoadError",
    "OptionError",
    "Report",
    "ShapeError",
    "SparsecError",
    "ToolchainError",
    "UnsupportedOperatorError",
    "ValidationReport",
    "compile",
    "load",
    "prune",
    "range_limit",
    "save",
    "validate",
]
