"""Generated C: matches the reference through every lowering path, compiles warning-free
with gcc and clang, runs clean under ASan/UBSan, round-trips every constant bit for bit,
is deterministic, and is written atomically."""

import ctypes
import json
import os
import shutil
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import sparsec
from conftest import DIGITS, STRICT_CFLAGS


def graph_model(nodes, inputs, outputs, inits=(), opset=13):
    """A ModelProto from nodes and (name, shape) pairs; inits are {name: array}."""
    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in dict(inits).items()],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def rand(*shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def dense_layer(name, x, k, n, seed, relu=True):
    nodes = [helper.make_node("Gemm", [x, f"{name}.w", f"{name}.b"], [f"{name}.y"], name=name, transB=1)]
    inits = {f"{name}.w": rand(n, k, seed=seed, scale=1 / np.sqrt(k)), f"{name}.b": rand(n, seed=seed + 1)}
    out = f"{name}.y"
    if relu:
        nodes.append(helper.make_node("Relu", [out], [f"{name}.r"], name=f"{name}_relu"))
        out = f"{name}.r"
    return nodes, inits, out


def chain(sizes, seed=0):
    """input[1, sizes[0]] -> Gemm+Relu ... -> Gemm (no relu) -> out."""
    nodes, inits, x = [], {}, "input"
    for i, (k, n) in enumerate(zip(sizes, sizes[1:])):
        ns, ini, x = dense_layer(f"fc{i}", x, k, n, seed + 10 * i, relu=i < len(sizes) - 2)
        nodes += ns
        inits.update(ini)
    nodes.append(helper.make_node("Identity", [x], ["out"], name="out_id"))
    return graph_model(nodes, [("input", [1, sizes[0]])], [("out", [1, sizes[-1]])], inits)


def special_graphs():
    """Small graphs, one per lowering path (views, copies, vadd, vbias, clamp, softmax forms)."""
    g = {}
    ns, ini, y = dense_layer("fc", "flat", 64, 10, 1, relu=False)
    g["flatten_3d_input"] = graph_model(
        [
            helper.make_node("Flatten", ["input"], ["flat"], name="flatten"),
            *ns,
            helper.make_node("Softmax", [y], ["out"], name="sm"),
        ],
        [("input", [1, 4, 16])],
        [("out", [1, 10])],
        ini,
    )
    ns, ini, y = dense_layer("fc", "input", 8, 10, 2)
    g["reshape_output_view"] = graph_model(
        [*ns, helper.make_node("Reshape", [y, "shape"], ["out"], name="reshape")],
        [("input", [1, 8])],
        [("out", [1, 2, 5])],
        {**ini, "shape": np.array([1, 2, 5], np.int64)},
    )
    g["output_is_input_view"] = graph_model(
        [helper.make_node("Reshape", ["input", "shape"], ["out"], name="reshape")],
        [("input", [1, 6])],
        [("out", [2, 3])],
        {"shape": np.array([2, 3], np.int64)},
    )
    a, ia, ya = dense_layer("a", "input", 12, 7, 3, relu=False)
    b, ib, yb = dense_layer("b", "input", 12, 7, 4, relu=False)
    g["vadd_fused_relu"] = graph_model(
        [
            *a,
            *b,
            helper.make_node("Add", [ya, yb], ["sum"], name="add"),
            helper.make_node("Relu", ["sum"], ["out"], name="relu"),
        ],
        [("input", [1, 12])],
        [("out", [1, 7])],
        {**ia, **ib},
    )
    ns, ini, y = dense_layer("fc", "input", 5, 9, 5)
    g["vbias_after_relu"] = graph_model(
        [*ns, helper.make_node("Add", ["bias2", y], ["out"], name="add_bias")],
        [("input", [1, 5])],
        [("out", [1, 9])],
        {**ini, "bias2": rand(9, seed=6)},
    )
    g["relu_on_input_then_softmax"] = graph_model(
        [
            helper.make_node("Relu", ["input"], ["r"], name="relu"),
            helper.make_node("Softmax", ["r"], ["out"], name="sm"),
        ],
        [("input", [1, 11])],
        [("out", [1, 11])],
    )
    ns, ini, y = dense_layer("fc", "input", 6, 10, 7, relu=False)
    g["softmax_opset11_coerced"] = graph_model(
        [
            *ns,
            helper.make_node("Reshape", [y, "shape"], ["r"], name="reshape"),
            helper.make_node("Softmax", ["r"], ["out"], name="sm", axis=1),
        ],
        [("input", [1, 6])],
        [("out", [1, 2, 5])],
        {**ini, "shape": np.array([1, 2, 5], np.int64)},
        opset=11,
    )
    w = rand(6, 4, seed=8)
    g["matmul_no_bias_standalone_relu"] = graph_model(
        [
            helper.make_node("MatMul", ["input", "w"], ["mm"], name="mm"),
            helper.make_node("Relu", ["mm"], ["out"], name="relu"),
        ],
        [("input", [1, 6])],
        [("out", [1, 4])],
        {"w": w},
    )
    # Clip fused into the layer before it (ReLU6; one-sided; opset-10 attributes) or standalone.
    for name, bounds, attrs, opset in [
        ("relu6_fused", ["zero", "six"], {}, 13),
        ("clip_max_only_fused", ["", "six"], {}, 13),
        ("clip_attrs_fused", [], {"min": -0.5, "max": 0.25}, 10),
    ]:
        ns, ini, y = dense_layer("fc", "input", 7, 9, 9, relu=False)
        g[name] = graph_model(
            [*ns, helper.make_node("Clip", [y, *bounds], ["out"], name="clip", **attrs)],
            [("input", [1, 7])],
            [("out", [1, 9])],
            {**ini, "zero": np.float32(0), "six": np.float32(0.6)},
            opset=opset,
        )
    g["clip_on_input"] = graph_model(
        [helper.make_node("Clip", ["input", "lo", ""], ["out"], name="clip")],
        [("input", [1, 5])],
        [("out", [1, 5])],
        {"lo": np.float32(0.1)},
    )
    return g


SPECIAL = special_graphs()


def multi_io_graph():
    """Inputs a[1, 12] and b[1, 7]; outputs: relu(fc(a)) (also read by a later op), that plus b,
    and b reshaped (a view of an input, so copied); names that need sanitizing in C."""
    ns, ini, y = dense_layer("fc", "a", 12, 7, 11)
    nodes = [
        *ns,
        helper.make_node("Add", [y, "b"], ["sum.out"], name="add"),
        helper.make_node("Reshape", ["b", "shape"], ["b view"], name="view"),
        helper.make_node("Identity", [y], ["hidden"], name="expose"),
    ]
    return graph_model(
        nodes,
        [("a", [1, 12]), ("b", [1, 7])],
        [("hidden", [1, 7]), ("sum.out", [1, 7]), ("b view", [1, 7, 1])],
        {**ini, "shape": np.array([1, 7, 1], np.int64)},
    )


MULTI = {"multi_io": multi_io_graph()}


def conv_graphs():
    """Conv (groups 1: dense and 90% sparse; depthwise; 1-D), pooling and their geometry corners,
    each followed by a Relu/Clip that fuses where it can."""
    g = {}

    def conv(name, x, c_in, c_out, k, seed, sparsity=0.0, **attrs):
        kernel = (k,) * (2 if "1d" not in name else 1)
        group = attrs.get("group", 1)
        w = rand(c_out, c_in // group, *kernel, seed=seed, scale=0.5)
        if sparsity:
            w[np.random.default_rng(seed).random(w.shape) < sparsity] = 0
        node = helper.make_node("Conv", [x, f"{name}.w", f"{name}.b"], [f"{name}.y"], name=name, **attrs)
        return node, {f"{name}.w": w, f"{name}.b": rand(c_out, seed=seed + 1)}

    for name, sparsity, attrs, hw in [
        ("conv_dense_pad1", 0.0, {"pads": [1, 1, 1, 1]}, 9),
        ("conv_sparse90_stride2", 0.9, {"pads": [1, 0, 2, 1], "strides": [2, 2]}, 10),
        ("conv_dilated", 0.5, {"dilations": [2, 1], "auto_pad": "SAME_UPPER"}, 8),
    ]:
        node, ini = conv("c", "input", 4, 6, 3, 5, sparsity, **attrs)
        g[name] = graph_model(
            [node, helper.make_node("Relu", ["c.y"], ["out"], name="relu")],
            [("input", [1, 4, hw, hw])],
            [("out", [1, 6, None, None])],
            ini,
        )
    node, ini = conv("dw", "input", 5, 5, 3, 9, group=5, pads=[1, 1, 1, 1])
    g["depthwise_relu6"] = graph_model(
        [node, helper.make_node("Clip", ["dw.y", "zero", "six"], ["out"], name="relu6")],
        [("input", [1, 5, 7, 7])],
        [("out", [1, 5, 7, 7])],
        {**ini, "zero": np.float32(0), "six": np.float32(6)},
    )
    node, ini = conv("c1d", "input", 3, 4, 5, 13, 0.5, pads=[2, 2], strides=[2])
    g["conv1d_maxpool1d"] = graph_model(
        [node, helper.make_node("MaxPool", ["c1d.y"], ["out"], name="pool", kernel_shape=[2], strides=[2])],
        [("input", [1, 3, 20])],
        [("out", [1, 4, 5])],
        ini,
    )
    fc, fini, _ = dense_layer("fc", "flat", 6 * 3 * 3, 5, 17, relu=False)
    node, ini = conv("c", "input", 2, 6, 3, 21)
    g["cnn_pools_gap_fc"] = graph_model(
        [
            node,
            helper.make_node(
                "MaxPool", ["c.y"], ["p1"], name="maxpool", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1
            ),
            helper.make_node(
                "AveragePool",
                ["p1"],
                ["p2"],
                name="avgpool",
                kernel_shape=[2, 2],
                pads=[1, 1, 0, 0],
                count_include_pad=1,
            ),
            helper.make_node("Flatten", ["p2"], ["flat"], name="flatten"),
            *fc,
            helper.make_node("GlobalAveragePool", ["c.y"], ["gap"], name="gap"),
        ],
        [("input", [1, 2, 8, 8])],
        [("fc.y", [1, 5]), ("gap", [1, 6, 1, 1])],
        {**ini, **fini},
    )
    return g


CONV = conv_graphs()


@pytest.mark.parametrize("name", sorted(CONV))
def test_conv_and_pool_graphs_match_reference(name):
    """One by one and in batch tiles (11 samples), through the C conv/pool kernels."""
    model = sparsec.load(CONV[name])
    c = sparsec.compile(model, name=name)
    assert c.batch_tile == 8
    g = model.graph
    xs = [np.random.default_rng(3).standard_normal((11, *g.types[v].shape[1:])).astype(np.float32) for v in g.inputs]
    got, want = c(*xs), model.reference(*xs)
    got, want = (got, want) if isinstance(got, dict) else ({0: got}, {0: want})
    for k in want:
        np.testing.assert_allclose(got[k], want[k], atol=2e-5, rtol=1e-5, err_msg=f"{name} {k}")
    formats = [L["format"] for L in c.report["layers"]]
    if "sparse90" in name:
        assert formats == ["csr"] and "spconv" in c.files[f"{name}.c"]
    if "depthwise" in name:
        assert "dwconv" in c.files[f"{name}.c"] and c.report["layers"][0]["ops"] == "Conv+Clip"


def inputs_for(model, n=16, seed=0):
    shape = model.input_shape[1:] if model.input_shape[0] == 1 else model.input_shape
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)


def assert_matches_reference(compiled, x, tol=1e-5):
    got, want = compiled(x), compiled.model.reference(x)
    assert got.shape == want.shape
    err = np.abs(got.astype(np.float64) - want) / np.maximum(1.0, np.abs(want))
    assert err.max() <= tol, f"{compiled.name}: max error {err.max():.3g}"


@pytest.mark.parametrize("name", sorted(SPECIAL))
def test_lowering_paths_match_reference(name):
    model = sparsec.load(SPECIAL[name])
    compiled = sparsec.compile(model, name=name)
    assert_matches_reference(compiled, inputs_for(model))


@pytest.mark.parametrize("name", ["relu6_fused", "clip_max_only_fused", "clip_attrs_fused"])
def test_clamp_like_activations_fuse_into_the_producer(name):
    report = sparsec.compile(sparsec.load(SPECIAL[name]), name=name).report
    steps = [layer["ops"] for layer in report["layers"]]
    assert any(s.endswith(("+Clip", "+Relu")) for s in steps), steps


@pytest.mark.parametrize(
    "sizes,sparsity,index_type",
    [
        ((64, 128, 64, 10), 0.0, None),
        ((64, 128, 64, 10), 0.5, None),
        ((64, 128, 64, 10), 0.9, "uint8"),
        ((300, 100, 10), 0.95, "uint16"),
        ((70000, 3), 0.99, "int32"),
        ((16, 16, 4), 0.999, "uint8"),
    ],
    ids=lambda v: str(v),
)
def test_pruned_chains_match_reference(sizes, sparsity, index_type):
    model = sparsec.prune(sparsec.load(chain(sizes)), sparsity) if sparsity else sparsec.load(chain(sizes))
    compiled = sparsec.compile(model, name="chain")
    assert_matches_reference(compiled, inputs_for(model, n=4))
    first = compiled.report["layers"][0]
    assert first["index_type"] == index_type
    assert first["format"] == ("csr" if index_type else "dense")


def test_digits_csr_project_contents():
    model = sparsec.prune(sparsec.load(DIGITS / "digits_mlp.onnx"), 0.9)
    c = sparsec.compile(model, name="mlp")
    r = c.report
    assert [L["format"] for L in r["layers"]] == ["csr"] * 3
    assert [L["shape"] for L in r["layers"]] == [[128, 64], [64, 128], [10, 64]]
    assert r["arena"]["bytes"] == r["arena"]["lower_bound"] == 768  # chain: max(512 + 256, ...)
    header = c.files["mlp.h"]
    assert "#define MLP_ARENA_BYTES 768" in header and "int mlp_run_ws(" in header
    assert "int mlp_run(const float *input, float *probabilities);" in header  # named after the ONNX values
    src = c.files["mlp.c"]
    assert '/* Gemm "/fc1/MatMul+/fc1/Add" + Relu "/act1/Relu"' in src
    assert "malloc" not in src and "printf" not in src
    assert set(c.files) >= {
        "mlp.c",
        "mlp.h",
        "mlp_weights.c",
        "mlp_weights.h",
        "Makefile",
        "report.json",
        "report.md",
        "sparsec/kernels.h",
        f"kernels/f32-spmm-minmax-{r['kernel_isas']['f32-spmm-u8']}.c",  # avx2 on an AVX2 host
    }
    assert not any("gemm" in f for f in c.files)  # only the kernels the model uses
    weight_bytes = sum(L["weight_bytes"] + L["bias_bytes"] for L in r["layers"])
    assert r["weight_bytes"] == weight_bytes


def test_generation_is_deterministic():
    a = sparsec.compile(sparsec.prune(sparsec.load(DIGITS / "digits_mlp.onnx"), 0.8))
    b = sparsec.compile(sparsec.prune(sparsec.load(DIGITS / "digits_mlp.onnx"), 0.8))
    assert a.files == b.files


@pytest.mark.parametrize("special", [False, True], ids=["digits", "inf-nan-free-extremes"])
def test_every_constant_round_trips_bit_exactly(special):
    model = sparsec.prune(sparsec.load(DIGITS / "digits_mlp.onnx"), 0.5)
    if special:  # infinities (SPARSEC_INFINITY, no <math.h>), -0, subnormals, FLT_MAX in a bias
        nodes, inits, _ = dense_layer("fc", "input", 3, 8, 0, relu=False)
        inits["fc.b"] = np.array([np.inf, -np.inf, -0.0, 1e-45, -1e-40, 3.4028235e38, -3.4028235e38, 1.0], np.float32)
        model = sparsec.load(graph_model(nodes, [("input", [1, 3])], [("fc.y", [1, 8])], inits))
    c = sparsec.compile(model, name="rt")
    lib = ctypes.CDLL(c.library().path)
    ctype = {
        "float32": ctypes.c_uint32,
        "uint8": ctypes.c_uint8,
        "uint16": ctypes.c_uint16,
        "uint32": ctypes.c_uint32,
        "int32": ctypes.c_int32,
    }
    checked = 0
    for symbol, array in c.lowered.constants.items():
        raw = (ctype[str(array.dtype)] * max(1, array.size)).in_dll(lib, symbol)
        got = np.ctypeslib.as_array(raw)[: array.size]
        want = array.reshape(-1).view(np.uint32) if array.dtype == np.float32 else array.reshape(-1)
        np.testing.assert_array_equal(got, want, err_msg=symbol)
        checked += array.size
    assert checked > (8 if special else 10000)


def compile_strict(compiler, project):
    for src in sorted(project.rglob("*.c")):
        proc = subprocess.run(
            [compiler, *STRICT_CFLAGS, f"-I{project}", "-c", str(src), "-o", os.devnull], capture_output=True, text=True
        )
        assert proc.returncode == 0, f"{compiler} {src.name}:\n{proc.stderr}"


def all_projects(tmp_path):
    models = {
        "digits90": sparsec.prune(sparsec.load(DIGITS / "digits_mlp.onnx"), 0.9),
        "digits_dense": sparsec.load(DIGITS / "digits_mlp.onnx"),
        "digits_bsr": _model_of("digits_bsr"),
        **{k: sparsec.load(v) for k, v in {**SPECIAL, **MULTI, **CONV}.items()},
    }
    return {k: sparsec.compile(m, name=k).export(tmp_path / k) for k, m in models.items()}


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_generated_c_is_warning_free(compiler, tmp_path):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} not installed: `make test` installs it when run as root")
    for project in all_projects(tmp_path).values():
        compile_strict(compiler, project)


def test_makefile_builds_static_library(tmp_path):
    out = sparsec.compile(sparsec.load(DIGITS / "digits_mlp.onnx"), name="mlp").export(tmp_path / "p")
    proc = subprocess.run(["make", "-s", f"CFLAGS={' '.join(STRICT_CFLAGS)}"], cwd=out, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (out / "libmlp.a").is_file()


def harness(name: str, model, xs: list[np.ndarray]) -> str:
    """A C main() that runs every sample through <name>_run / _run_ws (alternating), then all of
    them through <name>_run_batch_ws, printing each output; workspaces malloc'd at their exact
    sizes so ASan sees any overrun."""
    up, n = name.upper(), len(xs[0])
    g = sparsec.compile(model, name=name).lowered
    arrays = "".join(
        f"static const float in_{j}[{n}][{x.shape[1]}] = {{\n"
        + ",\n".join("{" + ", ".join(f"{v!r}f" for v in row.tolist()) + "}" for row in x)
        + "};\n"
        for j, x in enumerate(xs)
    )
    n_out = len(g.graph.outputs)
    outs = "".join(f"  float out_{j}[{up}_OUTPUT_{j}_LEN];\n" for j in range(n_out))
    args = ", ".join([f"in_{j}[i]" for j in range(len(xs))] + [f"out_{j}" for j in range(n_out)])
    prints = "".join(
        f'    for (j = 0; j < {up}_OUTPUT_{k}_LEN; j++) printf("%.9g\\n", (double)out_{k}[j]);\n' for k in range(n_out)
    )
    batch_in = "".join(f"  ins[{j}] = &in_{j}[0][0];\n" for j in range(len(xs)))
    batch_out = "".join(f"  outs[{k}] = malloc(sizeof(float) * {n} * {up}_OUTPUT_{k}_LEN);\n" for k in range(n_out))
    batch_print = "".join(
        f'  for (j = 0; j < {n} * {up}_OUTPUT_{k}_LEN; j++) printf("%.9g\\n", (double)outs[{k}][j]);\n'
        f"  free(outs[{k}]);\n"
        for k in range(n_out)
    )
    return f"""#include <stdio.h>
#include <stdlib.h>
#include "{name}.h"
{arrays}
int main(void) {{
{outs}  const float *ins[{len(xs)}];
  float *outs[{n_out}];
  void *ws = malloc({up}_ARENA_BYTES ? {up}_ARENA_BYTES : 1);
  void *bws = malloc({up}_BATCH_ARENA_BYTES ? {up}_BATCH_ARENA_BYTES : 1);
  int i, j;
  for (i = 0; i < {n}; i++) {{
    if ((i % 2 ? {name}_run({args}) : {name}_run_ws({args}, ws)) != 0) return 2;
{prints}  }}
{batch_in}{batch_out}  if ({name}_run_batch_ws({n}, ins, outs, bws) != 0) return 3;
{batch_print}  free(ws);
  free(bws);
  return 0;
}}
"""


def test_generated_c_is_clean_under_asan_and_ubsan(tmp_path):
    for name, project in all_projects(tmp_path).items():
        model = _model_of(name)
        g = model.graph
        xs = [
            np.random.default_rng(j).standard_normal((11, g.types[v].size)).astype(np.float32)
            for j, v in enumerate(g.inputs)
        ]  # a batch tile of 8 and 3 more
        (project / "harness.c").write_text(harness(name, model, xs))
        exe = project / "harness"
        build = subprocess.run(
            [
                "gcc",
                "-std=c99",
                "-O1",
                "-g",
                "-fsanitize=address,undefined",
                "-fno-sanitize-recover=all",
                f"-I{project}",
                "-o",
                str(exe),
                *map(str, sorted(project.rglob("*.c"))),
                "-lm",
            ],
            capture_output=True,
            text=True,
        )
        assert build.returncode == 0, build.stderr
        run = subprocess.run([str(exe)], capture_output=True, text=True)
        assert run.returncode == 0 and not run.stderr, f"{name}: {run.stderr}"
        got = np.array(run.stdout.split(), dtype=np.float64)
        want = model.reference(*[x.reshape((11, *g.types[v].shape[1:])) for x, v in zip(xs, g.inputs)])
        want = [want] if len(g.outputs) == 1 else [want[o] for o in g.outputs]
        one_by_one = np.concatenate([np.concatenate([w[i].reshape(-1) for w in want]) for i in range(11)])
        batched = np.concatenate([w.reshape(-1) for w in want])
        np.testing.assert_allclose(got[: got.size // 2], one_by_one, atol=1e-5, rtol=1e-5, err_msg=f"{name} 1 by 1")
        np.testing.assert_allclose(got[got.size // 2 :], batched, atol=1e-5, rtol=1e-5, err_msg=f"{name} batched")


def _model_of(name):
    if name == "digits90":
        return sparsec.prune(sparsec.load(DIGITS / "digits_mlp.onnx"), 0.9)
    if name == "digits_dense":
        return sparsec.load(DIGITS / "digits_mlp.onnx")
    if name == "digits_bsr":
        return sparsec.prune(sparsec.load(DIGITS / "digits_mlp.onnx"), 0.75, granularity="block", block=(4, 1))
    return sparsec.load({**SPECIAL, **MULTI, **CONV}[name])


def test_export_replaces_atomically_and_failure_keeps_the_old_project(tmp_path, monkeypatch):
    out = tmp_path / "proj"
    c1 = sparsec.compile(sparsec.load(DIGITS / "digits_mlp.onnx"), name="one")
    c1.export(out)
    (out / "user_note.txt").write_text("keep me")
    c2 = sparsec.compile(sparsec.prune(sparsec.load(DIGITS / "digits_mlp.onnx"), 0.9), name="two")

    def fail(self, *a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("pathlib.Path.write_text", fail)
    with pytest.raises(OSError):
        c2.export(out)
    monkeypatch.undo()
    assert (out / "one.c").is_file() and (out / "user_note.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]  # no temporary folders left
    c2.export(out)
    assert (out / "two.c").is_file() and not (out / "one.c").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]
    assert json.loads((out / "report.json").read_text())["model"] == "two"


def test_codegen_errors_name_the_problem():
    label = graph_model([helper.make_node("ArgMax", ["x"], ["label"], name="argmax", axis=1)], [("x", [1, 4])], [])
    label.graph.output.append(helper.make_tensor_value_info("label", TensorProto.INT64, [1, 1]))
    with pytest.raises(sparsec.CodegenError, match="output 'label' is int64.*float32 only"):
        sparsec.compile(sparsec.load(label))
    outer = graph_model(
        [helper.make_node("Add", ["input", "c"], ["out"], name="outer_add")],
        [("input", [1, 4, 1])],
        [("out", [1, 4, 5])],
        {"c": rand(1, 1, 5)},
    )
    with pytest.raises(sparsec.CodegenError, match="outer_add.*broadcasting"):
        sparsec.compile(sparsec.load(outer))
    with pytest.raises(sparsec.CodegenError, match="not a valid C identifier"):
        sparsec.compile(sparsec.load(DIGITS / "digits_mlp.onnx"), name="9lives")
    with pytest.raises(sparsec.OptionError, match="Available targets"):
        sparsec.compile(sparsec.load(DIGITS / "digits_mlp.onnx"), target="no-such-board")


def test_onnx_file_loads_from_path_and_proto_alike():
    proto = onnx.load(DIGITS / "digits_mlp.onnx")
    a = sparsec.compile(sparsec.load(proto), name="m")
    b = sparsec.compile(sparsec.load(DIGITS / "digits_mlp.onnx"), name="m")
    body = lambda text: text.split("\n", 1)[1]  # noqa: E731 - the banner names the source
    assert body(a.files["m_weights.c"]) == body(b.files["m_weights.c"])


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 16, 19])
def test_batches_run_in_tiles_and_match_reference(n):
    """Batches go through <name>_run_batch_ws: whole tiles through the batched kernels, the rest
    one sample at a time; every split of the batch must give the reference's answers."""
    model = sparsec.prune(sparsec.load(chain((64, 48, 32, 10))), 0.8)
    compiled = sparsec.compile(model, name="tiled")
    assert compiled.batch_tile == 8
    tile_c = compiled.files["tiled.c"].split("static int tiled_tile_ws")[1]
    assert "(8, 48, 64," in tile_c  # the first layer's kernel gets m = 8
    x = inputs_for(model, n=n, seed=n)
    got = compiled(x)
    assert got.shape == (n, 10)
    if n:
        assert_matches_reference(compiled, x)


def test_models_that_mix_samples_run_one_sample_at_a_time():
    """A Reshape that moves the batch dim ([1, 6] -> [2, 3]) and a softmax over the batch axis cannot
    be tiled over the batch: those models get batch_tile 1 and still answer correctly. A Reshape to a
    constant shape with the batch of 1 folded in (torch's Flatten) is tiled: its 1 becomes 0."""
    mixing = sparsec.load(SPECIAL["output_is_input_view"])
    ns, ini, y = dense_layer("fc", "input", 6, 10, 7, relu=False)
    over_batch = sparsec.load(
        graph_model(
            [*ns, helper.make_node("Softmax", [y], ["out"], name="sm", axis=0)],
            [("input", [1, 6])],
            [("out", [1, 10])],
            ini,
            opset=11,
        )
    )
    for model in (mixing, over_batch):
        compiled = sparsec.compile(model, name="untiled")
        assert compiled.batch_tile == 1
        assert "untiled_tile_ws" not in compiled.files["untiled.c"]
        assert_matches_reference(compiled, inputs_for(model, n=10))
    folded = sparsec.compile(sparsec.load(SPECIAL["softmax_opset11_coerced"]), name="tiled")  # Reshape to [1, 2, 5]
    assert folded.batch_tile == 8
    assert_matches_reference(folded, inputs_for(folded.model, n=10))


def test_multiple_inputs_and_outputs():
    """Named C parameters and per-input/output macros; Python takes inputs positionally, as a dict
    or by keyword and returns {output: array}; batches through tiles; validate() per output."""
    model = sparsec.load(MULTI["multi_io"])
    c = sparsec.compile(model, name="mio")
    h = c.files["mio.h"]
    assert "int mio_run(const float *a, const float *b, float *hidden, float *sum_out, float *b_view);" in h
    assert '#define MIO_OUTPUT_2_NAME "b view"' in h and "#define MIO_OUTPUT_2_SHAPE {1, 7, 1}" in h
    assert "#define MIO_INPUT_COUNT 2" in h and "MIO_INPUT_LEN" not in h and "#define MIO_OUTPUT_1_LEN 7" in h
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((11, 12)).astype(np.float32), rng.standard_normal((11, 7)).astype(np.float32)
    want = model.reference(a, b)
    assert c.batch_tile == 8
    for got in (c(a, b), c({"a": a, "b": b}), c(b=b, a=a)):
        assert sorted(got) == ["b view", "hidden", "sum.out"] and got["b view"].shape == (11, 7, 1)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], atol=1e-5, err_msg=k)
    one = c(a[0], b[0])
    np.testing.assert_allclose(one["sum.out"], want["sum.out"][0], atol=1e-5)
    report = sparsec.validate(c, a, b)
    assert report.ok and sorted(report.outputs) == ["b view", "hidden", "sum.out"], str(report)
    assert [o["name"] for o in c.report["outputs"]] == ["hidden", "sum.out", "b view"]
    with pytest.raises(TypeError, match="2 input"):
        c(a)
    with pytest.raises(ValueError, match="inputs are"):
        c(a=a, c=b)
    with pytest.raises(ValueError, match="same size"):
        c(a, b[:3])
    with pytest.raises(TypeError, match="input 'b'.*float32"):
        c(a, b.astype(np.float64))


def _cmake_build(project, build, *extra):
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake not found: `make test` installs it (the dev extras pull it from PyPI)")
    flags = " ".join(STRICT_CFLAGS)
    for cmd in (
        [cmake, "-S", str(project), "-B", str(build), f"-DCMAKE_C_FLAGS={flags}", *extra],
        [cmake, "--build", str(build)],
    ):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cmake_builds_the_static_library(tmp_path):
    model = sparsec.prune(sparsec.load(DIGITS / "digits_mlp.onnx"), 0.9)
    out = sparsec.compile(model, name="mlp").export(tmp_path / "p")
    _cmake_build(out, tmp_path / "b")
    assert (tmp_path / "b" / "libmlp.a").is_file()


@pytest.mark.parametrize("target", ["cortex-m4f", "aarch64-neon", "riscv32"])
def test_cross_projects_build_with_their_toolchain(tmp_path, target):
    """make and CMake (with the generated toolchain file) build the project with the target's
    cross compiler, warnings as errors, into a library of that architecture."""
    model = sparsec.prune(sparsec.load(DIGITS / "digits_mlp.onnx"), 0.9)
    c = sparsec.compile(model, target=target, name="mlp")
    if shutil.which(c.target.cc) is None:
        pytest.skip(f"{c.target.cc} not installed: `make test` installs {c.target.cc_package} as root")
    out = c.export(tmp_path / "p")
    cflags = " ".join([*c.target.cflags, *STRICT_CFLAGS[1:]])
    proc = subprocess.run(["make", "-s", f"CFLAGS={cflags}"], cwd=out, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    _cmake_build(out, tmp_path / "b", f"-DCMAKE_TOOLCHAIN_FILE={out / 'toolchain.cmake'}")
    lib = tmp_path / "b" / "libmlp.a"
    objdump = c.target.cc[: -len("gcc")] + "objdump"
    arch = subprocess.run([objdump, "-f", str(lib)], capture_output=True, text=True).stdout
    assert {"cortex-m4f": "arm", "aarch64-neon": "aarch64", "riscv32": "riscv"}[target] in arch


@pytest.mark.parametrize("block", [(1, 4), (4, 1), (8, 1)])
def test_block_pruned_layers_compile_to_block_sparse(block):
    """Weights pruned in blocks the kernels take are stored BSR (one index per block) and match
    the reference one by one and in batch tiles; unstructured pruning stays CSR."""
    base = sparsec.load(chain((64, 48, 30, 10)))
    model = sparsec.prune(base, 0.75, granularity="block", block=block)
    c = sparsec.compile(model, name="blocky")
    r, k = block
    assert [L["format"] for L in c.report["layers"]] == [f"bsr{r}x{k}"] * 3, c.report["layers"]
    layer = c.report["layers"][0]
    assert layer["weight_bytes"] < 4 * 48 * 64 * 0.3 and layer["index_type"] == "uint8"
    assert f"sparsec_f32_spmm_minmax_ukernel_{r}x{k}_u8__" in c.files["blocky.c"]
    x = inputs_for(model, n=19, seed=3)
    assert_matches_reference(c, x)
    assert_matches_reference(c, x[:1])
    assert [L["format"] for L in sparsec.compile(sparsec.prune(base, 0.75), name="u").report["layers"]] == ["dense"] * 3
    assert [L["format"] for L in sparsec.compile(sparsec.prune(base, 0.9), name="u").report["layers"]][0] == "csr"


COMPILED_FIXTURES = {"torch_cnn2d_dynamo", "torch_cnn2d_dynamo_raw", "torch_cnn2d_legacy", "torch_cnn2d_legacy_folded",
                     "torch_mlp_dynamo", "torch_mlp_legacy", "skl_mlp_nozipmap", "skl_mlp_zipmap"}  # fmt: skip


def test_exported_models_compile_or_name_the_missing_op():
    """The torch/skl2onnx fixtures: those whose ops all lower compile and match the reference in
    batch tiles (also 90% pruned); the others fail naming the node and op not compiled yet."""
    from test_exported_models import DATA, FIXTURES

    for name, (outputs, _) in sorted(FIXTURES.items()):
        model = sparsec.load(DATA / f"{name}.onnx", outputs=outputs)
        if name not in COMPILED_FIXTURES:
            with pytest.raises(sparsec.CodegenError, match="cannot be compiled to C yet"):
                sparsec.compile(model, name="fx")
            continue
        for m in (model, sparsec.prune(model, 0.9)):
            c = sparsec.compile(m, name="fx")
            assert c.batch_tile == 8, name
            x = np.random.default_rng(0).standard_normal((11, *m.input_shape[1:])).astype(np.float32)
            np.testing.assert_allclose(c(x), m.reference(x), atol=2e-5, rtol=1e-5, err_msg=name)
