"""Small ONNX model builders shared by the tests (onnx.helper only; no sparsec code).

    model = single_op("Gemm", [("a", (3, 4)), w, b], {"transB": 1})
    model = mlp([8, 16, 4], form="gemm", dropout=True)
    feeds = random_feeds(model)

Graph inputs are given as ``(name, shape)`` (float32; a str dim is symbolic), constants as NumPy
arrays (initializers), an omitted optional input as ``""``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

Shape = Sequence[int | str]
Input = tuple[str, Shape] | np.ndarray | str


def ir_version_for(opset: int) -> int:
    """The oldest IR version that carries ``opset`` (onnxruntime rejects IR versions it does not know)."""
    try:
        return max(7, helper.find_min_ir_version_for([helper.make_opsetid("", opset)]))
    except ValueError:  # an opset onnx does not know (tests of the error for it)
        return onnx.IR_VERSION


class Builder:
    """Collects inputs, initializers and nodes; ``model()`` makes a ModelProto."""

    def __init__(self, name: str = "g") -> None:
        self.name = name
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.nodes: list[onnx.NodeProto] = []
        self._count = 0
        self._infer: dict[str, bool] = {}  # output -> also infer its elem type

    def fresh(self, base: str) -> str:
        self._count += 1
        return f"{base}_{self._count}"

    def input(self, name: str, shape: Shape | None, elem_type: int = TensorProto.FLOAT) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, elem_type, None if shape is None else list(shape)))
        return name

    def const(self, value: Any, name: str | None = None, dtype: Any = np.float32) -> str:
        name = name or self.fresh("c")
        arr = np.asarray(value, dtype=dtype)
        self.initializers.append(numpy_helper.from_array(arr, name))
        return name

    def node(
        self,
        op_type: str,
        inputs: Sequence[str],
        n_outputs: int = 1,
        name: str | None = None,
        outputs: Sequence[str] | None = None,
        domain: str = "",
        **attrs: Any,
    ) -> list[str]:
        outs = list(outputs) if outputs is not None else [self.fresh(op_type.lower()) for _ in range(n_outputs)]
        self.nodes.append(
            helper.make_node(
                op_type,
                list(inputs),
                outs,
                name=self.fresh(op_type) if name is None else name,
                domain=domain or None,
                **attrs,
            )
        )
        return outs

    def output(self, name: str, elem_type: int | None = None, shape: Shape | None = None) -> None:
        """Declare a graph output; without ``shape`` its type (and elem_type if None) is inferred by ONNX."""
        vi = helper.make_tensor_value_info(name, elem_type or TensorProto.FLOAT, None if shape is None else list(shape))
        if shape is None:
            self._infer[name] = elem_type is None
        self.outputs.append(vi)

    def model(self, opset: int = 13, extra_opsets: Sequence[tuple[str, int]] = ()) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.initializers)
        imports = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
        model = helper.make_model(
            graph, opset_imports=imports, ir_version=ir_version_for(opset), producer_name="sparsec-tests"
        )
        _fill_output_types(model, self._infer)
        return model


def _fill_output_types(model: onnx.ModelProto, which: dict[str, bool]) -> None:
    """Give the outputs in ``which`` the shape (and, if its value is True, the elem type) ONNX
    infers: the checker wants a shape on every graph output."""
    if not which:
        return
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    kept = [o for o in probe.graph.output if o.name not in which]
    del probe.graph.output[:]
    probe.graph.output.extend(kept)  # undeclared, they come back in value_info as inferred
    try:
        inferred = onnx.shape_inference.infer_shapes(probe)
    except Exception:  # an op onnx cannot infer (e.g. a custom domain): leave a rank-free shape
        inferred = probe
    known = {v.name: v for v in inferred.graph.value_info}
    for o in model.graph.output:
        if o.name not in which:
            continue
        v = known.get(o.name)
        t = v.type.tensor_type if v is not None else None
        if t is not None and t.HasField("shape"):
            o.type.tensor_type.shape.CopyFrom(t.shape)
        else:
            o.type.tensor_type.shape.SetInParent()
        if which[o.name] and t is not None and t.elem_type:
            o.type.tensor_type.elem_type = t.elem_type


def single_op(
    op_type: str,
    inputs: Sequence[Input],
    attrs: dict[str, Any] | None = None,
    opset: int = 13,
    n_outputs: int = 1,
    node_name: str = "the_node",
    domain: str = "",
) -> onnx.ModelProto:
    """One node fed by graph inputs ``(name, shape)``, constants (arrays) and omitted inputs ("").

    Outputs are named y, y1, ... and declared without shapes (onnxruntime and sparsec infer them).
    """
    b = Builder(f"single_{op_type}")
    names = []
    for i, spec in enumerate(inputs):
        if isinstance(spec, str):
            names.append(spec)
        elif isinstance(spec, np.ndarray):
            names.append(b.const(spec, name=f"const{i}", dtype=spec.dtype))
        else:
            names.append(b.input(spec[0], spec[1]))
    outs = ["y"] + [f"y{i}" for i in range(1, n_outputs)]
    b.node(op_type, names, outputs=outs, name=node_name, domain=domain, **(attrs or {}))
    for o in outs:
        b.output(o)
    extra = [(domain, 1)] if domain else []
    return b.model(opset, extra)


FORMS = ("matmul_add", "gemm", "gemm_transB0_alpha_beta")


def dense(
    b: Builder, x: str, k: int, n: int, form: str, rng: np.random.Generator, tag: str, bias_shape: str = "n"
) -> str:
    """One fully connected layer x[*, k] -> [*, n] in the given ONNX form; returns the output name.

    ``bias_shape``: "n" ([N]), "1n" ([1, N]) or "scalar" ([]) for the bias / C.
    """
    scale = 1.0 / np.sqrt(k)
    w = rng.standard_normal((k, n)).astype(np.float32) * np.float32(scale)  # x @ w
    bias = rng.standard_normal(n).astype(np.float32) * np.float32(0.1)
    if bias_shape == "1n":
        bias = bias.reshape(1, n)
    elif bias_shape == "scalar":
        bias = np.array(bias[0], dtype=np.float32)
    if form == "matmul_add":
        (h,) = b.node("MatMul", [x, b.const(w, f"{tag}.weight")], name=f"/{tag}/MatMul")
        (y,) = b.node("Add", [h, b.const(bias, f"{tag}.bias")], name=f"/{tag}/Add")
    elif form == "gemm":
        (y,) = b.node(
            "Gemm",
            [x, b.const(np.ascontiguousarray(w.T), f"{tag}.weight"), b.const(bias, f"{tag}.bias")],
            name=f"/{tag}/Gemm",
            transB=1,
        )
    elif form == "gemm_transB0_alpha_beta":
        alpha, beta = 0.5, 2.0
        (y,) = b.node(
            "Gemm",
            [x, b.const(w / alpha, f"{tag}.weight"), b.const(bias / beta, f"{tag}.bias")],
            name=f"/{tag}/Gemm",
            transB=0,
            alpha=alpha,
            beta=beta,
        )
    else:
        raise ValueError(f"unknown form {form!r}; one of {FORMS}")
    return y


def dropout_node(b: Builder, x: str, opset: int, tag: str) -> str:
    """An inference Dropout: ratio as an attribute before opset 12, as a constant input after."""
    if opset < 12:
        (y,) = b.node("Dropout", [x], name=f"/{tag}/Dropout", ratio=0.25)
    else:
        (y,) = b.node("Dropout", [x, b.const(np.float32(0.25), f"{tag}.ratio")], name=f"/{tag}/Dropout")
    return y


def mlp(
    sizes: Sequence[int],
    opset: int = 13,
    form: str = "matmul_add",
    relu: bool = True,
    softmax: bool = True,
    dropout: bool = False,
    identity: bool = False,
    seed: int = 0,
    batch: int | str = "N",
    identity_output: bool = False,
    bias_shape: str = "n",
) -> onnx.ModelProto:
    """A multilayer perceptron x[batch, sizes[0]] -> y[batch, sizes[-1]].

    Hidden layers get Relu (``relu``), then Dropout (``dropout``) and Identity (``identity``);
    ``softmax`` ends the net with Softmax over the last axis; ``identity_output`` adds an Identity
    that produces the graph output.
    """
    rng = np.random.default_rng(seed)
    b = Builder("mlp")
    x = b.input("x", [batch, sizes[0]])
    n_layers = len(sizes) - 1
    for i in range(n_layers):
        tag = f"fc{i}"
        x = dense(b, x, sizes[i], sizes[i + 1], form, rng, tag, bias_shape)
        if i < n_layers - 1:
            if relu:
                (x,) = b.node("Relu", [x], name=f"/act{i}/Relu")
            if dropout:
                x = dropout_node(b, x, opset, f"drop{i}")
            if identity:
                (x,) = b.node("Identity", [x], name=f"/id{i}/Identity")
    if softmax:
        (x,) = b.node("Softmax", [x], name="/softmax/Softmax", axis=-1 if opset >= 13 else 1)
    if identity_output:
        (x,) = b.node("Identity", [x], name="/out/Identity")
    b.nodes[-1].output[0] = "y"
    b.output("y")
    return b.model(opset)


def random_feeds(
    model: onnx.ModelProto, seed: int = 0, scale: float = 1.0, shapes: dict[str, Sequence[int]] | None = None
) -> dict[str, np.ndarray]:
    """Standard normal float32 inputs for every graph input that is not an initializer (symbolic dims -> 1)."""
    rng = np.random.default_rng(seed)
    inits = {t.name for t in model.graph.initializer}
    feeds = {}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        if shapes and vi.name in shapes:
            shape = tuple(shapes[vi.name])
        else:
            shape = tuple(d.dim_value if d.HasField("dim_value") else 1 for d in vi.type.tensor_type.shape.dim)
        feeds[vi.name] = np.asarray(rng.standard_normal(shape) * scale, dtype=np.float32)
    return feeds


def save(model: onnx.ModelProto, path) -> str:
    """Write ``model`` to ``path`` (without running the checker) and return the path as a str."""
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    return str(path)
