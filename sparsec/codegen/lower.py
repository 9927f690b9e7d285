"""Lower an IR graph to a list of kernel calls (steps) and plan their memory.

Ops call back into ``Lowering`` (see ``Op.lower``): fully connected layers pick
CSR or dense storage (the sparsify decision, recorded in the report), a Relu
that is the sole consumer of a layer is fused into its min/max clamp, views
(Flatten, Reshape) become aliases, and elementwise ops may run in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import ops
from ..errors import CodegenError, SparsecError
from ..frontend import rebatch
from ..ir import Graph, Node
from ..passes.memory import Buffer, Plan, plan_memory
from ..sparse import BLOCK_SHAPES, BSR, CSR, choose_format, is_block_structured
from ..targets import Target
from .cwriter import float_literal, identifier
from .kernels import BSPMM_FAMILY, SPCONV_FAMILY, SPMM_FAMILY

INPUT, OUTPUT = "input", "output"  # storage of graph inputs / outputs: the caller's pointers


@dataclass(frozen=True)
class Ref:
    """A tensor argument, resolved to a pointer expression once memory is planned."""

    value: str


@dataclass
class Step:
    kernel: str | None  # kernel family; None copies (a view that is also the graph output)
    args: list[str | Ref]
    reads: list[str]
    writes: str
    nodes: list[Node]
    note: str = ""
    inplace: bool = False  # the output may take the storage of reads[0]


@dataclass
class Lowered:
    graph: Graph
    steps: list[Step]
    roots: dict[str, str]  # value -> value that owns its storage
    storage: dict[str, str]  # root -> INPUT | OUTPUT | "arena" | "const"
    plan: Plan
    constants: dict[str, np.ndarray]  # C symbol -> array, in definition order
    layers: list[dict]
    kernels: list[str]  # families used, in first-use order
    symbols: dict[str, str] = field(default_factory=dict)  # IR constant name -> C symbol
    params: dict[str, str] = field(default_factory=dict)  # input/output value (or its root) -> C parameter
    structs: dict[str, str] = field(default_factory=dict)  # const struct sparsec_window2d symbol -> initializer


class Lowering:
    """The context ops lower themselves into."""

    def __init__(self, graph: Graph, target: Target, prefix: str) -> None:
        self.graph, self.target, self.prefix = graph, target, prefix
        self.opset = graph.opset
        self.steps: list[Step] = []
        self.aliases: dict[str, str] = {}
        self.constants: dict[str, np.ndarray] = {}
        self.symbols: dict[str, str] = {}
        self.layers: list[dict] = []
        self.structs: dict[str, str] = {}
        self.fused: set[str] = set()
        self._taken: set[str] = set()
        self._consumers: dict[str, list[Node]] = {}
        for n in graph.nodes:
            for i in n.inputs:
                self._consumers.setdefault(i, []).append(n)

    # -- queries ops use -------------------------------------------------
    def const(self, value: str) -> np.ndarray | None:
        return self.graph.constants.get(value)

    def type(self, value: str):
        return self.graph.types[value]

    # -- emitters ops call -----------------------------------------------
    def dense_layer(self, node: Node, x: str, weight: np.ndarray, bias: np.ndarray | None, *, m: int, k: int) -> None:
        """y = clamp(x W^T + b) with W [N][K]; stored CSR or dense, whichever the target runs faster."""
        lo, hi, out, fused = self._activation(node)
        n = weight.shape[0]
        name = self._symbol(node.name)
        fmt, why = choose_format(weight, self.target.csr_crossover)
        bias_sym = self._array(f"{name}_bias", np.asarray(bias, np.float32)) if bias is not None else "NULL"
        bsr = _block_form(weight)
        if bsr is not None:
            fmt = f"bsr{bsr.block[0]}x{bsr.block[1]}"
            why = (
                f"pruned in {bsr.block[0]}x{bsr.block[1]} blocks, {bsr.values.size / weight.size:.1%} stored "
                f"<= {BSR_CROSSOVER:.0%}: block-sparse, one index per block"
            )
            family = BSPMM_FAMILY[(bsr.block, str(bsr.indices.dtype))]
            tensors = self._sparse(name, bsr)
            nnz, wbytes, macs = bsr.nnz, bsr.nbytes, m * bsr.values.size
            index = str(bsr.indices.dtype)
        elif fmt == "csr":
            csr = CSR.from_dense(weight)
            family = SPMM_FAMILY[str(csr.indices.dtype)]
            tensors = self._sparse(name, csr)
            nnz, wbytes, macs = csr.nnz, csr.nbytes, m * csr.nnz
            index = str(csr.indices.dtype)
        else:
            family = "f32-gemm"
            tensors = [self._array(f"{name}_weight", np.asarray(weight, np.float32))]
            nnz, wbytes, macs = int(np.count_nonzero(weight)), 4 * weight.size, m * weight.size
            index = None
        note = f"W float32[{n}][{k}] {fmt.upper()}, nnz {nnz}/{weight.size} ({nnz / max(1, weight.size):.1%})"
        self._step(
            family,
            [str(m), str(n), str(k), Ref(x), *tensors, bias_sym, Ref(out), float_literal(lo), float_literal(hi)],
            [x],
            out,
            [node, *fused],
            note,
        )
        self.layers.append(
            {
                "layer": name,
                "nodes": [nd.name for nd in (node, *fused)],
                "ops": "+".join(nd.op for nd in (node, *fused)),
                "shape": [n, k],
                "format": fmt,
                "index_type": index,
                "nonzeros": nnz,
                "density": nnz / max(1, weight.size),
                "weight_bytes": wbytes,
                "bias_bytes": 0 if bias is None else 4 * n,
                "macs": macs,
                "why": why,
            }
        )

    def window(self, node: Node, geo) -> str:
        """A const struct sparsec_window2d for a 2-D Conv/pool geometry (ops.conv.Windows); returns &symbol."""
        if len(geo.kernel) not in (1, 2):
            raise ops.OpFormError(f"only 1-D and 2-D windows are compiled, this one has {len(geo.kernel)} axes")
        one = (1,) * (2 - len(geo.kernel))  # 1-D runs as 2-D with planes of height 1
        z = (0,) * (2 - len(geo.kernel))
        fields = [
            *one, *geo.in_shape, *one, *geo.out_shape, *one, *geo.kernel, *one, *geo.strides, *one, *geo.dilations,
            *z, geo.begin[0], *z, geo.end[0],
        ] if len(geo.kernel) == 1 else [
            *geo.in_shape, *geo.out_shape, *geo.kernel, *geo.strides, *geo.dilations,
            geo.begin[0], geo.begin[1], geo.end[0], geo.end[1],
        ]  # fmt: skip
        symbol = f"{self.prefix}_{self._symbol(node.name + '_window')}"
        self.structs[symbol] = "{" + ", ".join(str(int(f)) for f in fields) + "}"
        return f"&{symbol}"

    def conv2d(self, node: Node, x: str, weight: np.ndarray, bias: np.ndarray | None, geo, depthwise: bool) -> None:
        """ONNX Conv (groups 1, or depthwise with one filter per channel): sparse (CSR over
        [M][C*kh*kw]) or dense by the same rule as fully connected layers; bias and clamp fused."""
        lo, hi, out, fused = self._activation(node)
        batch, c = self.type(x).shape[:2]
        m = weight.shape[0]
        matrix = weight.reshape(m, -1)
        name = self._symbol(node.name)
        window = self.window(node, geo)
        bias_sym = self._array(f"{name}_bias", np.asarray(bias, np.float32)) if bias is not None else "NULL"
        pixels = int(np.prod(geo.out_shape))
        fmt, why = ("dense", "depthwise: dense") if depthwise else choose_format(matrix, self.target.csr_crossover)
        if fmt == "csr":
            csr = CSR.from_dense(matrix)
            family = SPCONV_FAMILY[str(csr.indices.dtype)]
            tensors = self._sparse(name, csr)
            nnz, wbytes, index = csr.nnz, csr.nbytes, str(csr.indices.dtype)
        else:
            family = "f32-dwconv" if depthwise else "f32-conv"
            tensors = [self._array(f"{name}_weight", np.ascontiguousarray(weight, np.float32))]
            nnz, wbytes, index = int(np.count_nonzero(weight)), 4 * weight.size, None
        channels = [str(c)] if depthwise else [str(c), str(m)]
        self._step(
            family,
            [str(batch), *channels, window, Ref(x), *tensors, bias_sym, Ref(out), float_literal(lo), float_literal(hi)],
            [x],
            out,
            [node, *fused],
            f"W float32{list(weight.shape)} {fmt.upper()}, nnz {nnz}/{weight.size} ({nnz / max(1, weight.size):.1%})",
        )
        self.layers.append(
            {
                "layer": name,
                "nodes": [nd.name for nd in (node, *fused)],
                "ops": "+".join(nd.op for nd in (node, *fused)),
                "shape": list(matrix.shape),
                "format": fmt,
                "index_type": index,
                "nonzeros": nnz,
                "density": nnz / max(1, weight.size),
                "weight_bytes": wbytes,
                "bias_bytes": 0 if bias is None else 4 * m,
                "macs": batch * pixels * (nnz if fmt == "csr" else weight.size),
                "why": why,
            }
        )

    def pool2d(self, node: Node, x: str, geo, kind: str, count_include_pad: bool = False) -> None:
        """MaxPool ("max") or AveragePool ("avg") over 2-D planes."""
        batch, c = self.type(x).shape[:2]
        window = self.window(node, geo)
        args = [str(batch), str(c), window] + (["1" if count_include_pad else "0"] if kind == "avg" else [])
        out = node.outputs[0]
        self._step(f"f32-{kind}pool", [*args, Ref(x), Ref(out)], [x], out, [node])

    def global_avgpool(self, node: Node, x: str, first_axis: int = 2) -> None:
        """Mean over the axes from ``first_axis`` on (GlobalAveragePool: the spatial ones)."""
        shape = self.type(x).shape
        planes = int(np.prod(shape[:first_axis], dtype=np.int64))
        size = int(np.prod(shape[first_axis:], dtype=np.int64))
        out = node.outputs[0]
        self._step("f32-gavgpool", [str(planes), str(size), Ref(x), Ref(out)], [x], out, [node])

    def bias_add(self, node: Node, full: str, vec: str, *, m: int, n: int) -> None:
        lo, hi, out, fused = self._activation(node)
        self._step(
            "f32-vbias",
            [str(m), str(n), Ref(full), Ref(vec), Ref(out), float_literal(lo), float_literal(hi)],
            [full, vec],
            out,
            [node, *fused],
            inplace=full not in self.graph.constants,
        )

    def elementwise(self, node: Node, family: str, inputs: list[str], *, size: int) -> None:
        lo, hi, out, fused = self._activation(node)
        self._step(
            family,
            [str(size), *[Ref(i) for i in inputs], Ref(out), float_literal(lo), float_literal(hi)],
            inputs,
            out,
            [node, *fused],
            inplace=inputs[0] not in self.graph.constants,
        )

    def clamp(self, node: Node, x: str, lo: float, hi: float) -> None:
        size = self.type(x).size
        self._step(
            "f32-clamp",
            [str(size), Ref(x), Ref(node.outputs[0]), float_literal(lo), float_literal(hi)],
            [x],
            node.outputs[0],
            [node],
            inplace=True,
        )

    def softmax(self, node: Node, x: str, *, rows: int, cols: int) -> None:
        self._step(
            "f32-softmax",
            [str(rows), str(cols), Ref(x), Ref(node.outputs[0])],
            [x],
            node.outputs[0],
            [node],
            inplace=True,
        )

    def alias(self, node: Node, x: str) -> None:
        """The output is the input viewed with another shape: no code, shared storage."""
        self.aliases[node.outputs[0]] = x

    # -- internals -------------------------------------------------------
    def _activation(self, node: Node) -> tuple[float, float, str, list[Node]]:
        """Fuse a clamp-like op (Relu, Clip with constant bounds) that alone reads ``node``'s output."""
        out = node.outputs[0]
        users = self._consumers.get(out, [])
        if len(users) == 1 and out not in self.graph.outputs and users[0].inputs[0] == out:
            user = users[0]
            consts = [self.const(i) if i else None for i in user.inputs]
            bounds = ops.get(user.op).clamp_range(user, consts, self.opset)
            if bounds is not None:
                self.fused.add(user.name)
                return bounds[0], bounds[1], user.outputs[0], [user]
        return float("-inf"), float("inf"), out, []

    def _step(self, family, args, reads, writes, nodes, note="", inplace=False) -> None:
        self.steps.append(Step(family, args, list(reads), writes, list(nodes), note, inplace))

    def _symbol(self, base: str) -> str:
        name, i = identifier(base), 1
        stem = name
        while name in self._taken:
            i += 1
            name = f"{stem}_{i}"
        self._taken.add(name)
        return name

    def _array(self, base: str, array: np.ndarray) -> str:
        symbol = f"{self.prefix}_{self._symbol(base)}"
        self.constants[symbol] = array
        return symbol

    def _sparse(self, name: str, matrix: CSR | BSR) -> list[str]:
        """The C symbols of a CSR/BSR matrix's row pointers, indices and values, as kernels take them."""
        return [
            self._array(f"{name}_indptr", matrix.indptr),
            self._array(f"{name}_indices", matrix.indices),
            self._array(f"{name}_values", matrix.values),
        ]

    def const_symbol(self, value: str) -> str:
        """C symbol of an IR constant used directly as a kernel operand."""
        if value not in self.symbols:
            self.symbols[value] = self._array(value, np.asarray(self.graph.constants[value], np.float32))
        return self.symbols[value]


def lower(graph: Graph, target: Target, prefix: str, debug: bool = False) -> Lowered:
    """Steps, storage and memory plan for ``graph``. ``debug`` keeps every intermediate
    in its own arena slot (no reuse, no in-place) so tests can read them after a run."""
    for v in (*graph.inputs, *graph.outputs):
        if graph.types[v].dtype != "float32":
            raise CodegenError(
                f"model {'input' if v in graph.inputs else 'output'} '{v}' is {graph.types[v].dtype}; "
                "the generated C takes and returns float32 only",
                file=graph.source,
                hint="Keep only float outputs with outputs=[...] (CLI --outputs)",
            )
    ctx = Lowering(graph, target, prefix)
    for node in graph.nodes:
        if node.name in ctx.fused:
            continue
        try:
            ops.get(node.op).lower(node, ctx)
        except ops.OpFormError as e:
            raise CodegenError(str(e), file=graph.source, node=node.name, op=node.op, hint=e.hint) from None
    steps, aliases = ctx.steps, ctx.aliases

    def root(v: str) -> str:
        while v in aliases:
            v = aliases[v]
        return v

    written = {s.writes for s in steps}
    storage: dict[str, str] = {}
    params = c_parameters(graph)
    for out in graph.outputs:
        r = root(out)
        if r in written and r not in storage and r not in graph.inputs:
            storage[r] = OUTPUT  # the producer writes straight into the caller's array
            params[r] = params[out]
        else:  # a view of an input, of a constant or of another output: copy it at the end
            steps.append(Step(None, [str(graph.types[out].nbytes), Ref(r), Ref(out)], [r], out, []))
            aliases.pop(out, None)
            storage[out] = OUTPUT
    for inp in graph.inputs:
        storage[inp] = INPUT

    def last_read(r: str) -> int:
        return max((i for i, s in enumerate(steps) if any(root(v) == r for v in s.reads)), default=-1)

    if not debug:
        for i, s in enumerate(steps):
            src = root(s.reads[0]) if s.reads else None
            if (
                s.inplace
                and src in written
                and src not in storage
                and root(s.writes) not in storage
                and last_read(src) == i
                and graph.types[src].nbytes == graph.types[s.writes].nbytes
            ):
                aliases[s.writes] = src
    for s in steps:
        for v in s.reads:
            if root(v) in graph.constants:
                storage[root(v)] = "const"
    buffers = []
    for r in sorted({root(s.writes) for s in steps} - set(storage)):
        first = min(i for i, s in enumerate(steps) if root(s.writes) == r)
        buffers.append(Buffer(r, graph.types[r].nbytes, first, max(first, last_read(r))))
        storage[r] = "arena"
    plan = plan_memory(buffers, target.alignment, reuse=not debug)
    for s in steps:
        for a in s.args:
            if isinstance(a, Ref) and storage.get(root(a.value)) == "const":
                ctx.const_symbol(root(a.value))
    kernels = list(dict.fromkeys(s.kernel for s in steps if s.kernel))
    roots = {v: root(v) for v in graph.types}
    return Lowered(
        graph, steps, roots, storage, plan, ctx.constants, ctx.layers, kernels, ctx.symbols, params, ctx.structs
    )


def c_parameters(graph: Graph) -> dict[str, str]:
    """Graph input/output -> the C parameter that carries it: its name made an identifier,
    kept clear of the entry points' own locals and of each other."""
    taken = {"n", "i", "ws", "workspace", "inputs", "outputs", "status"}
    params = {}
    for v in (*graph.inputs, *graph.outputs):
        name = stem = identifier(v)
        k = 1
        while name in taken or name.startswith("sparsec_"):
            k += 1
            name = f"{stem}_{k}"
        taken.add(name)
        params[v] = name
    return params


#: Block-sparse is used for a block-structured weight storing at most this fraction of the dense
#: matrix: a stored weight costs about as much as a dense one (a broadcast or vector load and an
#: FMA, one index per block), so it pays well above the CSR crossover (bench/bench_kernels.py).
BSR_CROSSOVER = 0.5


def _block_form(weight: np.ndarray) -> BSR | None:
    """The weight as BSR when it is exactly block-structured for a block shape the kernels take
    (largest blocks first: fewer indices, wider SIMD), stores at most BSR_CROSSOVER of the dense
    matrix and is smaller than CSR; else None."""
    if not np.any(weight):
        return None
    csr_bytes = CSR.from_dense(weight).nbytes
    for block in sorted(BLOCK_SHAPES, key=lambda b: -b[0] * b[1]):
        if is_block_structured(weight, block):
            bsr = BSR.from_dense(weight, block)
            if bsr.values.size <= BSR_CROSSOVER * weight.size and bsr.nbytes < csr_bytes:
                return bsr
    return None


def lower_tile(graph: Graph, target: Target, prefix: str, single: Lowered, tile: int) -> Lowered | None:
    """``graph`` lowered for ``tile`` samples per call, so batched kernels (SpMM, GEMM) see m = tile;
    None when the samples are not independent along the leading dim or the weights would differ.

    See ``rebatch`` for when samples are independent.
    """
    batched = rebatch(graph, tile)
    if batched is None:
        return None
    try:
        low = lower(batched, target, prefix)
    except SparsecError:
        return None
    same = (
        low.structs == single.structs
        and low.constants.keys() == single.constants.keys()
        and all(
            np.array_equal(a, single.constants[k]) and a.dtype == single.constants[k].dtype
            for k, a in low.constants.items()
        )
    )
    return low if same else None
