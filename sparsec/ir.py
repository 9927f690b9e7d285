"""The IR: a small, immutable graph of ONNX operators.

Ops and attributes are ONNX's (the spec); passes build new graphs instead of
editing old ones, so a Model handed to a user never changes under them.
Constants are read-only NumPy arrays.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from .errors import GraphError, ShapeError


@dataclass(frozen=True)
class TensorType:
    """Static shape and element type of a value (dtype as a NumPy name)."""

    shape: tuple[int, ...]
    dtype: str = "float32"

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    def __str__(self) -> str:
        return self.dtype + "".join(f"[{d}]" for d in self.shape)


@dataclass(frozen=True)
class Node:
    """One operator application. Omitted optional inputs are empty strings."""

    op: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "attrs", MappingProxyType(dict(self.attrs)))

    def replace(self, **changes: Any) -> Node:
        return dataclasses.replace(self, **changes)


def frozen_array(value: Any, dtype: Any = None) -> np.ndarray:
    """A read-only copy, so constants cannot be changed behind the graph's back."""
    arr = np.array(value, dtype=dtype, copy=True)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True)
class Graph:
    """A topologically ordered list of nodes with the types of every value.

    ``types`` covers graph inputs, constants and every node output. ``source``
    is the file (or description) the graph came from, for error messages.
    """

    name: str
    nodes: tuple[Node, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    types: Mapping[str, TensorType]
    constants: Mapping[str, np.ndarray]
    opset: int
    source: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", tuple(self.nodes))
        object.__setattr__(self, "types", MappingProxyType(dict(self.types)))
        consts = {}
        for k, v in self.constants.items():
            consts[k] = v if not v.flags.writeable else frozen_array(v)
        object.__setattr__(self, "constants", MappingProxyType(consts))

    def replace(self, **changes: Any) -> Graph:
        return dataclasses.replace(self, **changes)

    def producer(self, value: str) -> Node | None:
        for node in self.nodes:
            if value in node.outputs:
                return node
        return None

    def consumers(self, value: str) -> list[Node]:
        return [n for n in self.nodes if value in n.inputs]

    def is_const(self, value: str) -> bool:
        return value in self.constants

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


def unique_name(graph: Graph, base: str, taken: set[str] | None = None) -> str:
    """A value name not yet used in ``graph`` (nor in ``taken``, which records it)."""
    used = set(graph.types) | (taken or set())
    name, i = base, 1
    while name in used:
        i += 1
        name = f"{base}_{i}"
    if taken is not None:
        taken.add(name)
    return name


def toposort(nodes: Iterable[Node], available: Iterable[str], source: str | None = None) -> tuple[Node, ...]:
    """Order nodes so each comes after the producers of its inputs.

    Raises GraphError naming a node whose inputs can never be produced (a cycle
    or a dangling input).
    """
    pending = list(nodes)
    ready = set(available) | {""}
    ordered: list[Node] = []
    while pending:
        progressed = False
        rest = []
        for node in pending:
            if all(i in ready for i in node.inputs):
                ordered.append(node)
                ready.update(node.outputs)
                progressed = True
            else:
                rest.append(node)
        if not progressed:
            node = rest[0]
            missing = [i for i in node.inputs if i not in ready]
            raise GraphError(
                f"inputs {missing} are never produced (a cycle or a dangling input)",
                file=source,
                node=node.name,
                op=node.op,
                hint="Check that the model was exported completely",
            )
        pending = rest
    return tuple(ordered)


def verify(graph: Graph) -> None:
    """Check the invariants every pass must keep; raise GraphError/ShapeError if broken."""
    seen = set(graph.inputs) | set(graph.constants) | {""}
    names = set()
    for node in graph.nodes:
        if node.name in names:
            raise GraphError("duplicate node name", file=graph.source, node=node.name, op=node.op)
        names.add(node.name)
        for i in node.inputs:
            if i not in seen:
                raise GraphError(
                    f"input '{i}' is used before it is produced",
                    file=graph.source,
                    node=node.name,
                    op=node.op,
                )
        for o in node.outputs:
            if o in seen and o:
                raise GraphError(f"value '{o}' is produced twice", file=graph.source, node=node.name, op=node.op)
            seen.add(o)
    for o in graph.outputs:
        if o not in seen:
            raise GraphError(f"graph output '{o}' is never produced", file=graph.source)
    for v in seen - {""}:
        if v not in graph.types:
            raise ShapeError(f"value '{v}' has no static type", file=graph.source)
    for k, arr in graph.constants.items():
        t = graph.types[k]
        if tuple(arr.shape) != t.shape or str(arr.dtype) != t.dtype:
            raise ShapeError(f"constant '{k}' is {arr.dtype}{list(arr.shape)} but typed {t}", file=graph.source)
