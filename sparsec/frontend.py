"""ONNX -> IR: load, check, fix input shapes, infer shapes, convert nodes.

Every failure becomes a SparsecError naming the file, the node, the op and the fix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from . import ops
from .errors import GraphError, ModelLoadError, ShapeError, SparsecError, UnsupportedOperatorError
from .ir import Graph, Node, TensorType, frozen_array, toposort, unique_name, verify

MIN_OPSET = 7
MAX_OPSET = onnx.defs.onnx_opset_version()
_ONNX_DOMAINS = ("", "ai.onnx")
#: sparsec computes in float32; integer and bool tensors appear in shape arithmetic and labels.
_FLOAT = "float32"


def load_graph(
    model: str | os.PathLike[str] | onnx.ModelProto,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    outputs: Sequence[str] | None = None,
) -> Graph:
    """Read an ONNX file or ModelProto into a verified IR graph.

    ``input_shapes`` fixes symbolic input dims ({"x": (1, 64)}); a symbolic
    leading (batch) dim defaults to 1. ``outputs`` keeps only what those need.
    """
    proto, source = _read(model)
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as e:
        # All of it: the later lines name the node ("==> Context: ... Name: fc1 OpType: Gemm").
        text = " ".join(str(e).split())[:500].rstrip(".")
        raise ModelLoadError(
            f"fails the ONNX checker: {text}",
            file=source,
            hint="Re-export the model or run onnx.checker.check_model for details",
        ) from None
    opset = _opset(proto, source)
    graph = proto.graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    _fix_input_shapes(proto, constants, input_shapes or {}, source)
    wanted = tuple(outputs) if outputs else tuple(o.name for o in graph.output)
    known_outputs = {o.name for o in graph.output} | {o for n in graph.node for o in n.output}
    for o in wanted:
        if o not in known_outputs:
            raise GraphError(
                f"requested output '{o}' is not produced by the model",
                file=source,
                hint=f"Model outputs: {[o.name for o in graph.output]}",
            )
    # Unsupported ops first: their names matter more than a shape inference failure they cause.
    _check_supported(_needed_nodes(list(graph.node), wanted), graph, source)
    _keep_only(proto, wanted)
    # No onnx.shape_inference: it is wrong in corners (e.g. MaxPool ceil_mode); the ops decide types.
    graph = proto.graph

    inputs = tuple(i.name for i in graph.input if i.name not in constants)
    nodes = _needed_nodes(list(graph.node), wanted)
    consumed = {i for n in nodes for i in n.input} | set(wanted)

    types: dict[str, TensorType] = {}
    for vi in graph.input:
        if vi.name in inputs:
            types[vi.name] = _value_type(vi, source)
    ir_nodes: list[Node] = []
    used_names: set[str] = set()
    for index, nproto in enumerate(nodes):
        name = _unique(nproto.name or f"{nproto.op_type}_{index}", used_names)
        attrs = {a.name: _attr_value(a) for a in nproto.attribute}
        if nproto.op_type == "Constant":
            constants[nproto.output[0]] = _constant_value(attrs, source, name)
            continue
        op = ops.get(nproto.op_type)
        try:
            attrs = op.attributes(attrs, opset)
        except ops.OpFormError as e:
            raise UnsupportedOperatorError(str(e), file=source, node=name, op=nproto.op_type, hint=e.hint) from None
        # An optional output nothing reads (e.g. Dropout's mask) is dropped, as if omitted.
        outs = tuple(o if k == 0 or o in consumed else "" for k, o in enumerate(nproto.output))
        ir_nodes.append(Node(nproto.op_type, name, tuple(nproto.input), outs, attrs))

    for k, v in constants.items():
        _check_dtype(k, str(v.dtype), source, None, None)
        types[k] = TensorType(tuple(v.shape), str(v.dtype))
    ordered = toposort(ir_nodes, list(inputs) + list(constants), source)
    # Fold while inferring: torch exports compute Reshape targets from Shape -> Gather -> Concat.
    ordered, types, constants = fold_and_infer(ordered, types, constants, opset, source)
    used = {i for n in ordered for i in n.inputs}
    consts = {k: frozen_array(v) for k, v in constants.items() if k in used or k in wanted}
    live = used | set(wanted) | set(inputs) | set(consts) | {o for n in ordered for o in n.outputs}
    types = {k: t for k, t in types.items() if k in live}
    name = Path(source).stem if source and not source.startswith("<") else (graph.name or "model")
    g = Graph(
        name=name,
        nodes=ordered,
        inputs=inputs,
        outputs=wanted,
        types=types,
        constants=consts,
        opset=opset,
        source=source,
    )
    verify(g)
    return g


def _check_supported(nodes: list, graph: onnx.GraphProto, source: str) -> None:
    used: set[str] = set()
    for index, nproto in enumerate(nodes):
        name = _unique(nproto.name or f"{nproto.op_type}_{index}", used)
        if nproto.domain not in _ONNX_DOMAINS:
            raise UnsupportedOperatorError(
                f"operator domain '{nproto.domain}' is not supported",
                file=source,
                node=name,
                op=nproto.op_type,
                hint=_pick_outputs_hint(graph, nproto),
            )
        if nproto.op_type != "Constant" and nproto.op_type not in ops.REGISTRY:
            raise UnsupportedOperatorError(
                "operator is not supported",
                file=source,
                node=name,
                op=nproto.op_type,
                hint=f"Supported operators: {', '.join(ops.supported_ops())}",
            )


def fold_and_infer(
    nodes: Sequence[Node],
    types: Mapping[str, TensorType],
    constants: Mapping[str, np.ndarray],
    opset: int,
    source: str | None,
    fold: bool = True,
) -> tuple[tuple[Node, ...], dict[str, TensorType], dict[str, np.ndarray]]:
    """Infer every node's output types in order, evaluating nodes whose value is already known.

    A node is folded when all its inputs are constants, or when its op can answer from input
    types alone (Shape, Size: ``op.fold``). Ops, not onnx, are the authority on types.
    """
    types, constants = dict(types), dict(constants)
    kept: list[Node] = []
    for node in nodes:
        op = ops.get(node.op)
        in_types = [types.get(i) if i else None for i in node.inputs]
        consts = [constants.get(i) if i else None for i in node.inputs]
        try:
            out = op.infer(node, in_types, consts, opset)
            values = None
            if fold and all(c is not None for i, c in zip(node.inputs, consts) if i):
                with np.errstate(all="ignore"):
                    values = op.reference(node, consts, opset)
            elif fold and hasattr(op, "fold"):
                values = op.fold(node, in_types)
        except ops.OpFormError as e:
            raise UnsupportedOperatorError(str(e), file=source, node=node.name, op=node.op, hint=e.hint) from None
        for k, (name, t) in enumerate(zip(node.outputs, out)):
            if not name:
                continue
            _check_dtype(name, t.dtype, source, node.name, node.op)
            types[name] = t
            if values is not None:
                value = np.asarray(values[k])
                if TensorType(tuple(value.shape), str(value.dtype)) != t:
                    raise RuntimeError(
                        f"internal error: {node.op} '{node.name}' inferred {t} but computed "
                        f"{value.dtype}{list(value.shape)}; please report this"
                    )
                constants[name] = value
        if values is None:
            kept.append(node)
    return tuple(kept), types, constants


def infer_types(
    nodes: Sequence[Node],
    types: Mapping[str, TensorType],
    constants: Mapping[str, np.ndarray],
    opset: int,
    source: str | None,
) -> dict[str, TensorType]:
    """Output types of every node (nothing is folded)."""
    return fold_and_infer(nodes, types, constants, opset, source, fold=False)[1]


def _check_dtype(value: str, dtype: str, source: str | None, node: str | None, op: str | None) -> None:
    if np.dtype(dtype).kind == "f" and dtype != _FLOAT or np.dtype(dtype).kind not in "fiub":
        raise UnsupportedOperatorError(
            f"tensor '{value}' is {dtype}; sparsec computes in float32 (integer and bool tensors "
            "are allowed for shapes, indices and labels)",
            file=source,
            node=node,
            op=op,
            hint="Convert the model to float32",
        )


def _keep_only(proto: onnx.ModelProto, wanted: Sequence[str]) -> None:
    """Cut ``proto`` down to the nodes ``wanted`` needs, so other ops never reach shape inference."""
    graph = proto.graph
    nodes = _needed_nodes(list(graph.node), wanted)
    if len(nodes) == len(graph.node) and [o.name for o in graph.output] == list(wanted):
        return
    declared = {vi.name: vi for vi in list(graph.output) + list(graph.value_info)}
    outputs = [declared.get(o) or onnx.ValueInfoProto(name=o) for o in wanted]
    copies = [onnx.ValueInfoProto() for _ in outputs]
    for c, o in zip(copies, outputs):
        c.CopyFrom(o)
    needed = {i for n in nodes for i in n.input} | set(wanted)
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.output[:]
    graph.output.extend(copies)
    inputs = [vi for vi in graph.input if vi.name in needed]
    del graph.input[:]
    graph.input.extend(inputs)
    inits = [t for t in graph.initializer if t.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(inits)


def _read(model: Any) -> tuple[onnx.ModelProto, str]:
    if isinstance(model, onnx.ModelProto):
        copy = onnx.ModelProto()
        copy.CopyFrom(model)  # input shapes get fixed in place; the caller's proto stays untouched
        return copy, f"<ModelProto {model.graph.name or 'unnamed'}>"
    path = Path(os.fspath(model))
    source = str(path)
    if not path.is_file():
        raise ModelLoadError("file not found", file=source, hint="Check the path")
    try:
        proto = onnx.load(source)
    except Exception as e:  # DecodeError, missing external data, ...
        raise ModelLoadError(
            f"not a readable ONNX model ({type(e).__name__}: {str(e).strip()[:200]})",
            file=source,
            hint="Is this an .onnx file, complete, with its external data beside it?",
        ) from None
    if not proto.graph.node and not proto.graph.output:
        raise ModelLoadError(
            "not an ONNX model (empty graph)", file=source, hint="Is this an .onnx file, complete and not truncated?"
        )
    return proto, source


def _opset(proto: onnx.ModelProto, source: str) -> int:
    versions = [o.version for o in proto.opset_import if o.domain in _ONNX_DOMAINS]
    if not versions:
        raise ModelLoadError("the model imports no ONNX opset", file=source)
    opset = versions[0]
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ModelLoadError(
            f"opset {opset} is not supported (supported: {MIN_OPSET}..{MAX_OPSET})",
            file=source,
            hint="Convert it with onnx.version_converter.convert_version(model, 13)",
        )
    return opset


def _fix_input_shapes(
    proto: onnx.ModelProto, constants: dict, input_shapes: Mapping[str, Sequence[int]], source: str
) -> None:
    names = [i.name for i in proto.graph.input if i.name not in constants]
    for key in input_shapes:
        if key not in names:
            raise ShapeError(
                f"input_shapes names '{key}', which is not a model input", file=source, hint=f"Model inputs: {names}"
            )
    for vi in proto.graph.input:
        if vi.name in constants:
            continue
        dims = vi.type.tensor_type.shape.dim
        if vi.name in input_shapes:
            shape = [int(d) for d in input_shapes[vi.name]]
            if len(shape) != len(dims) or any(
                d.HasField("dim_value") and d.dim_value != s for d, s in zip(dims, shape)
            ):
                raise ShapeError(
                    f"input_shapes gives {shape} for '{vi.name}', which the model declares as "
                    f"{[d.dim_value if d.HasField('dim_value') else d.dim_param for d in dims]}",
                    file=source,
                )
        else:
            shape = []
            for axis, d in enumerate(dims):
                if d.HasField("dim_value"):
                    shape.append(d.dim_value)
                elif axis == 0:
                    shape.append(1)  # a symbolic batch dim: C runs one sample per call
                else:
                    raise ShapeError(
                        f"input '{vi.name}' has symbolic dim '{d.dim_param}' at axis {axis}",
                        file=source,
                        hint=f"Pass input_shapes={{'{vi.name}': (...)}} or --input-shape {vi.name}:1x...",
                    )
        del vi.type.tensor_type.shape.dim[:]
        for s in shape:
            vi.type.tensor_type.shape.dim.add().dim_value = s


def _needed_nodes(nodes: list, wanted: Sequence[str]) -> list:
    needed = set(wanted)
    keep = []
    for n in reversed(nodes):
        if any(o in needed for o in n.output):
            keep.append(n)
            needed.update(n.input)
    return keep[::-1]


def _value_type(vi: onnx.ValueInfoProto, source: str) -> TensorType:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        raise ShapeError(f"input '{vi.name}' has no shape", file=source, hint="Pass input_shapes=")
    dtype = helper.tensor_dtype_to_np_dtype(t.elem_type)
    if dtype != np.float32:
        raise UnsupportedOperatorError(
            f"input '{vi.name}' is {dtype}; only float32 inputs are supported",
            file=source,
            hint="Convert the model to float32",
        )
    return TensorType(tuple(d.dim_value for d in t.shape.dim), "float32")


def _attr_value(a: onnx.AttributeProto) -> Any:
    v = helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, list):
        return tuple(x.decode() if isinstance(x, bytes) else x for x in v)
    if isinstance(v, onnx.TensorProto):
        return numpy_helper.to_array(v)
    return v


def _constant_value(attrs: dict, source: str, node: str) -> np.ndarray:
    for key, dtype in (
        ("value", None),
        ("value_float", np.float32),
        ("value_floats", np.float32),
        ("value_int", np.int64),
        ("value_ints", np.int64),
    ):
        if key in attrs:
            return np.array(attrs[key], dtype=dtype)
    raise UnsupportedOperatorError(
        f"Constant with attributes {sorted(attrs)} is not supported", file=source, node=node, op="Constant"
    )


def _unique(name: str, used: set[str]) -> str:
    base, i = name, 1
    while name in used:
        i += 1
        name = f"{base}_{i}"
    used.add(name)
    return name


def _pick_outputs_hint(graph: onnx.GraphProto, node: onnx.NodeProto) -> str:
    """Suggest stopping where the foreign op starts: at the values it reads that ONNX ops produce."""
    onnx_made = {o for n in graph.node if n.domain in _ONNX_DOMAINS for o in n.output}
    before = [i for i in node.input if i in onnx_made]
    where = f"e.g. outputs={before} (what this node reads); " if before else ""
    return (
        f"Keep only the outputs you need with outputs=[...] (CLI --outputs), {where}"
        f"model outputs: {[o.name for o in graph.output]}"
    )


def rebatch(graph: Graph, batch: int) -> Graph | None:
    """The graph for ``batch`` samples instead of 1, or None when its samples are not independent
    along the leading dim: every non-constant value must have batch 1 as its leading dim and get
    ``batch`` there, and no op may reduce over that axis (a Softmax over axis 0).

    A Reshape to a constant shape that starts with the batch of 1 (what exporters' Shape ->
    Concat -> Reshape chains fold to at load) gets 0 there instead, ONNX's "copy this dim
    from the input" (or -1 under allowzero=1), the same at batch 1 and right at any batch.
    """
    if not graph.inputs or any(not graph.types[v].shape or graph.types[v].shape[0] != 1 for v in graph.inputs):
        return None
    constants, nodes, taken = dict(graph.constants), [], set(graph.constants)
    for node in graph.nodes:  # ops whose output shape looks batched but mixes rows
        rank = len(graph.types[node.inputs[0]].shape)
        if node.op in ("Softmax", "LogSoftmax") and ops.get(node.op).axis(node, rank, graph.opset) == 0:
            return None
        if node.op in ("Trilu", "EyeLike") and rank <= 2:
            return None
        shape = graph.constants.get(node.inputs[1]) if node.op == "Reshape" else None
        if shape is not None and shape.size and shape[0] == 1 and rank:
            # 0 copies the input's dim; with allowzero=1 a 0 is literal, so -1 (infer it) if free.
            lead = 0 if not node.attrs.get("allowzero", 0) else -1 if np.all(shape[1:] > 0) else None
            if lead is not None:
                name = unique_name(graph, f"{node.inputs[1]}_batch", taken)
                constants[name] = frozen_array(np.concatenate([[lead], shape[1:]]).astype(shape.dtype))
                node = node.replace(inputs=(node.inputs[0], name, *node.inputs[2:]))
        nodes.append(node)
    try:
        new = infer_types(
            nodes,
            {
                **{k: TensorType(v.shape, str(v.dtype)) for k, v in constants.items()},
                **{v: TensorType((batch, *graph.types[v].shape[1:]), graph.types[v].dtype) for v in graph.inputs},
            },
            constants,
            graph.opset,
            graph.source,
        )
    except SparsecError:
        return None
    for v, old in graph.types.items():
        if v in graph.constants:
            continue
        if not old.shape or old.shape[0] != 1 or new[v].shape != (batch, *old.shape[1:]):
            return None
    types = {**{k: TensorType(v.shape, str(v.dtype)) for k, v in constants.items()}, **new}
    return graph.replace(nodes=tuple(nodes), constants=constants, types=types)
