"""Operator registry: one module per ONNX op, registered with @register.

Each op class knows how to read its ONNX attributes (``attributes``), infer
output types (``infer``), execute with NumPy (``reference``, the living spec)
and lower itself to kernel calls (``lower``, used by code generation). The
registry is the single list of what sparsec supports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..ir import Node, TensorType

if TYPE_CHECKING:
    from ..codegen.lower import Lowering


class OpFormError(Exception):
    """Raised inside an op for an unsupported attribute/input form; the caller adds file/node."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class Op:
    """Base class; subclasses set ``op_type`` and override what they support."""

    op_type: ClassVar[str]
    #: attribute name -> default (None: required or optional without default)
    defaults: ClassVar[dict[str, Any]] = {}

    def attributes(self, attrs: dict[str, Any], opset: int) -> dict[str, Any]:
        """Validate ONNX attributes and fill defaults; unknown names are an error."""
        unknown = sorted(set(attrs) - set(self.defaults))
        if unknown:
            raise OpFormError(
                f"attribute(s) {unknown} are not supported",
                hint=f"Supported attributes: {sorted(self.defaults) or 'none'}",
            )
        out = {k: v for k, v in self.defaults.items() if v is not None}
        out.update(attrs)
        return out

    def infer(
        self, node: Node, types: list[TensorType | None], consts: list[np.ndarray | None], opset: int
    ) -> list[TensorType]:
        raise NotImplementedError

    def reference(self, node: Node, inputs: list[np.ndarray | None], opset: int) -> list[np.ndarray]:
        raise NotImplementedError

    def lower(self, node: Node, ctx: Lowering) -> None:
        raise OpFormError(f"{self.op_type} cannot be compiled to C yet")

    def backward(
        self,
        node: Node,
        inputs: list[np.ndarray | None],
        outputs: list[np.ndarray | None],
        grads: list[np.ndarray | None],
        opset: int,
    ) -> list[np.ndarray | None]:
        """dL/d each input (None where not needed or not differentiable) from dL/d each output
        (``grads``, None for an output the loss does not depend on). Used by sparsec.train."""
        raise OpFormError(f"{self.op_type} has no gradient; fine-tuning/gradient importance cannot pass through it")

    def clamp_range(self, node: Node, consts: list[np.ndarray | None], opset: int) -> tuple[float, float] | None:
        """(lo, hi) when the op is y = min(max(x, lo), hi), so a producer's kernel can fuse it."""
        return None


REGISTRY: dict[str, Op] = {}


def register(cls: type[Op]) -> type[Op]:
    REGISTRY[cls.op_type] = cls()
    return cls


def supported_ops() -> list[str]:
    return sorted(REGISTRY)


def get(op_type: str) -> Op:
    return REGISTRY[op_type]


def require_float32(types: list[TensorType | None], op: str) -> None:
    """For ops sparsec computes in float32 only (MatMul, Gemm, ...)."""
    for t in types:
        if t is not None and t.dtype != "float32":
            raise OpFormError(f"{op} on {t.dtype} tensors is not supported", hint="sparsec computes in float32")


def f32(x: np.ndarray) -> np.ndarray:
    """ONNX float tensors stay float32 even when computed in float64 for accuracy."""
    return np.asarray(x, dtype=np.float32)


def sum_to(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a gradient of a broadcast result back to the ``shape`` that was broadcast (float64)."""
    g = np.asarray(g, dtype=np.float64)
    lead = g.ndim - len(shape)
    if lead > 0:
        g = g.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, d in enumerate(shape) if d == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def d64(x: np.ndarray) -> np.ndarray:
    """float64 view/copy for gradient arithmetic."""
    return np.asarray(x, dtype=np.float64)


# Import op modules for their @register side effect.
from . import (  # noqa: E402,F401
    activations,
    batchnorm,
    binary,
    conv,
    dropout,
    flatten,
    gemm,
    identity,
    matmul,
    pad,
    pool,
    reduce,
    relu,
    reshape,
    softmax,
    tensor,
)
