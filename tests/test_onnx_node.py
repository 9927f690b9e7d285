"""The ONNX backend node test suite, run through sparsec's front end and NumPy reference.

Cases come from the installed onnx package's own generators (the wheel ships no .pb files),
so the suite is pinned by the onnx version in the dev extras. A case is in scope when every
op of its graph is one sparsec supports. Each case is loaded with ``load_graph`` and run with
``reference.run``, and its outputs must match within the case's own rtol/atol, dtype included.

Non-float32 graph inputs of a case (shapes, axes, indices) become initializers: in the models
sparsec compiles they are constants, and that path exercises load-time folding as well.

``python tests/test_onnx_node.py`` prints the per-operator table for the README.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections import Counter, defaultdict
from functools import cache

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from sparsec import ops
from sparsec.frontend import MAX_OPSET, MIN_OPSET, load_graph
from sparsec.reference import run

#: Reviewed exceptions, each with the reason it cannot or should not pass.
_RANDOM = "training-mode Dropout with ratio > 0 is random; sparsec compiles inference (eval-mode) models"
SKIP: dict[str, str] = {
    "test_training_dropout": _RANDOM,
    "test_training_dropout_default": _RANDOM,
    "test_training_dropout_default_mask": _RANDOM,
    "test_training_dropout_mask": _RANDOM,
    # Deterministic only because the ratio is 0, but the ratio is a runtime input here, not a constant.
    "test_training_dropout_zero_ratio": _RANDOM,
    "test_training_dropout_zero_ratio_mask": _RANDOM,
    "test_batchnorm_epsilon_training_mode": "training-mode BatchNormalization (batch statistics); eval mode only",
    "test_batchnorm_example_training_mode": "training-mode BatchNormalization (batch statistics); eval mode only",
    # Values that decide an output shape must be constants; these cases feed them at run time.
    **dict.fromkeys(
        [
            "test_range_float_type_positive_delta",
            "test_onehot_negative_indices",
            "test_onehot_out_of_range_indices",
            "test_onehot_with_axis",
            "test_onehot_with_negative_axis",
            "test_onehot_without_axis",
        ],
        "a float32 input decides the output shape; sparsec needs it to be a constant (static shapes)",
    ),
}

#: Element types sparsec accepts anywhere in a graph (float32 compute; ints/bool for shapes, labels).
_ALLOWED = {
    np.dtype(t) for t in ("float32", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool")
}


@cache
def all_cases() -> tuple:
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # the generators overflow casts on purpose
        return tuple(sorted(collect_testcases(None), key=lambda c: c.name))


def ops_of(case) -> set[str]:
    return {n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}" for n in case.model.graph.node}


def in_scope(case) -> bool:
    return ops_of(case) <= set(ops.REGISTRY) | {"Constant"}


def op_of(case) -> str:
    """The operator a case tests: the longest graph op its name starts with, else its last node's."""
    squashed = case.name.removeprefix("test_").replace("_", "").lower()
    named = [o for o in ops_of(case) if squashed.startswith(o.lower())]
    return max(named, key=len) if named else case.model.graph.node[-1].op_type


def _elem_types(case):
    g = case.model.graph
    for vi in list(g.input) + list(g.output):
        if not vi.type.HasField("tensor_type"):
            yield vi.name, None
        else:
            yield vi.name, onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
    for t in g.initializer:
        yield t.name, onnx.helper.tensor_dtype_to_np_dtype(t.data_type)
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                yield f"{n.op_type}.{a.name}", onnx.helper.tensor_dtype_to_np_dtype(a.t.data_type)
            elif n.op_type == "Cast" and a.name == "to":
                yield f"the output of {n.op_type} '{n.name}'", onnx.helper.tensor_dtype_to_np_dtype(a.i)


def skip_reason(case) -> str | None:
    if case.name in SKIP:
        return SKIP[case.name]
    opset = next(o.version for o in case.model.opset_import if o.domain in ("", "ai.onnx"))
    if opset < MIN_OPSET:
        return f"opset {opset} is older than sparsec supports ({MIN_OPSET})"
    for name, dtype in _elem_types(case):
        if dtype is None:
            return f"'{name}' is a sequence/optional value; sparsec compiles tensors only"
        if dtype not in _ALLOWED:
            return f"'{name}' is {dtype}; sparsec takes float32 tensors (and integers/bool for shapes, indices, labels)"
    return None


def run_case(case) -> None:
    """Raise AssertionError (or a SparsecError) unless every data set matches."""
    for inputs, expected in case.data_sets:
        model = onnx.ModelProto()
        model.CopyFrom(case.model)
        graph = model.graph
        feeds = {}
        as_consts = []
        for vi, value in zip(list(graph.input), inputs):
            value = np.asarray(value)
            if value.dtype == np.float32:
                feeds[vi.name] = value
            else:
                as_consts.append(numpy_helper.from_array(value, vi.name))
        graph.initializer.extend(as_consts)
        if model.ir_version >= 4:  # before IR 4, initializers are listed as graph inputs too
            names = {t.name for t in as_consts}
            kept = [vi for vi in graph.input if vi.name not in names]
            del graph.input[:]
            graph.input.extend(kept)
        g = load_graph(model)
        got = run(g, feeds)
        for vi, want in zip(graph.output, expected):
            want = np.asarray(want)
            out = np.asarray(got[vi.name])
            assert out.dtype == want.dtype, f"{vi.name}: dtype {out.dtype}, expected {want.dtype}"
            assert out.shape == want.shape, f"{vi.name}: shape {out.shape}, expected {want.shape}"
            np.testing.assert_allclose(out, want, rtol=case.rtol, atol=case.atol, err_msg=vi.name)


def scoped_cases() -> list:
    return [c for c in all_cases() if in_scope(c)]


@pytest.mark.parametrize("case", scoped_cases(), ids=lambda c: c.name)
def test_node(case):
    reason = skip_reason(case)
    if reason:
        pytest.skip(reason)
    run_case(case)


def test_skip_list_names_real_cases():
    names = {c.name for c in all_cases()}
    stale = sorted(set(SKIP) - names)
    assert not stale, f"SKIP names cases the onnx suite does not have: {stale}"


def _opsets(op: str) -> str:
    first = min(s.since_version for s in onnx.defs.get_all_schemas_with_history() if s.name == op and s.domain == "")
    return f"{max(first, MIN_OPSET)}–{MAX_OPSET}"


def table() -> str:
    """Per-operator Markdown table for the README: opsets, attributes, node tests passed/skipped."""
    rows: dict[str, Counter] = defaultdict(Counter)
    failures = []
    for case in scoped_cases():
        op = op_of(case)
        if skip_reason(case):
            rows[op]["skipped"] += 1
            continue
        try:
            run_case(case)
            rows[op]["passed"] += 1
        except Exception as e:  # noqa: BLE001 - report every kind of failure
            rows[op]["failed"] += 1
            failures.append(f"{case.name}: {type(e).__name__}: {str(e).strip().splitlines()[0][:150]}")
    lines = [
        "| op | opsets | attributes | node tests passed | skipped | C |",
        "| --- | --- | --- | ---: | ---: | :---: |",
    ]
    total: Counter = Counter()
    for op in sorted(set(ops.REGISTRY) | set(rows)):
        r = rows[op]
        total.update(r)
        attrs = ", ".join(sorted(ops.REGISTRY[op].defaults)) if op in ops.REGISTRY else ""
        failed = f" (**{r['failed']} failed**)" if r["failed"] else ""
        lowers = op in ops.REGISTRY and type(ops.REGISTRY[op]).lower is not ops.Op.lower
        c = "✓" if lowers else ""
        lines.append(f"| {op} | {_opsets(op)} | {attrs or '–'} | {r['passed']}{failed} | {r['skipped']} | {c} |")
    lines.append(f"| **all** | | | **{total['passed']}** | **{total['skipped']}** | |")
    return "\n".join(lines + [""] + failures)


if __name__ == "__main__":
    if "--skips" in sys.argv:
        for c in scoped_cases():
            if r := skip_reason(c):
                print(f"{c.name}: {r}")
    elif "--skip-summary" in sys.argv:
        reasons = Counter(re.sub(r"^'.*' is", "a tensor is", r) for c in scoped_cases() if (r := skip_reason(c)))
        for reason, n in reasons.most_common():
            print(f"| {n} | {reason} |")
    else:
        print(table())
