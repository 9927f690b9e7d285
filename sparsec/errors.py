"""Errors sparsec raises: each names the culprit (file, node, op) and the fix."""

from __future__ import annotations


class SparsecError(Exception):
    """Base class for every error sparsec raises on bad models, options or builds.

    The message is built from the parts so that every error reads the same way:
    ``<file>: node '<node>' (<op>): <what went wrong>. <hint>``.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        node: str | None = None,
        op: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.node = node
        self.op = op
        self.hint = hint
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.file:
            where.append(str(self.file))
        if self.node is not None or self.op:
            node = f"node '{self.node}'" if self.node is not None else "node"
            where.append(f"{node} ({self.op})" if self.op else node)
        text = ": ".join(where + [self.message])
        if self.hint:
            text += f". {self.hint}"
        return text


class ModelLoadError(SparsecError):
    """The file is missing, not ONNX, or fails the ONNX checker."""


class UnsupportedOperatorError(SparsecError):
    """An operator (or an attribute/input form of it) that sparsec cannot handle."""


class ShapeError(SparsecError):
    """Shapes are unknown, symbolic where they must be fixed, or inconsistent."""


class GraphError(SparsecError):
    """The graph is malformed: cycles, dangling inputs, duplicate names."""


class OptionError(SparsecError):
    """An option passed to prune/range_limit/compile is out of range or inconsistent."""


class CodegenError(SparsecError):
    """A graph that loads cannot be lowered to C (unsupported form for code generation)."""


class ToolchainError(SparsecError):
    """The C compiler needed for a target is missing."""


class BuildError(SparsecError):
    """The C compiler rejected the generated project; the message carries its output."""
