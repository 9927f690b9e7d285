"""validate(): compiled C vs the NumPy reference, with the first diverging layer on failure."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .compiler import CompiledModel
from .model import bind_inputs, sample_shape


@dataclass(frozen=True)
class ValidationReport:
    samples: int
    max_abs_error: float  # over every output
    max_rel_error: float
    argmax_agreement: float  # fraction of samples whose argmax matches (the worst output)
    atol: float
    rtol: float
    ok: bool
    first_divergence: dict | None  # {"step", "nodes", "value", "max_abs_error"} when not ok
    outputs: dict = field(default_factory=dict)  # name -> {"max_abs_error", "max_rel_error", "argmax_agreement", "ok"}

    def __str__(self) -> str:
        verdict = "PASS" if self.ok else "FAIL"
        text = (
            f"{verdict}: {self.samples} samples, max abs error {self.max_abs_error:.3g}, "
            f"max rel error {self.max_rel_error:.3g}, argmax agreement {self.argmax_agreement:.2%} "
            f"(tolerance {self.atol:g} abs + {self.rtol:g} rel)"
        )
        if len(self.outputs) > 1:
            text += "; " + ", ".join(
                f"{name}: {o['max_abs_error']:.3g} abs, {o['argmax_agreement']:.2%} argmax"
                for name, o in self.outputs.items()
            )
        if self.first_divergence:
            d = self.first_divergence
            text += (
                f"; first diverging layer: {' + '.join(d['nodes'])} (value '{d['value']}', "
                f"max abs error {d['max_abs_error']:.3g})"
            )
        return text


def _exceeds(got: np.ndarray, want: np.ndarray, atol: float, rtol: float) -> np.ndarray:
    # NaN/Inf must match exactly (IEEE propagation is part of the contract).
    same_special = (np.isnan(got) & np.isnan(want)) | (got == want)
    return ~same_special & ~(np.abs(got - want) <= atol + rtol * np.abs(want))


def validate(
    compiled: CompiledModel, *args: object, atol: float = 2e-5, rtol: float = 1e-5, **kwargs: object
) -> ValidationReport:
    """Run the C and the reference on the inputs (one sample or a batch, as ``compiled(...)``
    takes them) and compare every output.

    ``ok`` holds when every element is within ``atol + rtol * |reference|``.
    """
    g = compiled.lowered.graph
    batches, _ = bind_inputs(g, args, kwargs)
    n = len(batches[0])
    samples = [b.reshape((n, *sample_shape(g.types[v].shape))) for b, v in zip(batches, g.inputs)]
    got, want = compiled(*samples), compiled.model.reference(*samples)
    if len(g.outputs) == 1:
        got, want = {g.outputs[0]: got}, {g.outputs[0]: want}
    per, bad_sample = {}, None
    for name in g.outputs:
        got2, want2 = got[name].reshape(n, -1), want[name].reshape(n, -1)
        diff = np.abs(got2.astype(np.float64) - want2)
        finite = np.isfinite(diff)
        rel = diff / np.maximum(np.abs(want2), np.finfo(np.float32).tiny)
        bad = _exceeds(got2, want2, atol, rtol)
        per[name] = {
            "max_abs_error": float(diff[finite].max()) if finite.any() else 0.0,
            "max_rel_error": float(rel[finite].max()) if finite.any() else 0.0,
            "argmax_agreement": float(np.mean(np.argmax(got2, axis=1) == np.argmax(want2, axis=1))) if n else 1.0,
            "ok": not bad.any(),
        }
        if bad.any() and bad_sample is None:
            bad_sample = int(np.argwhere(bad)[0][0])
    first = None
    if bad_sample is not None:
        first = _first_divergence(compiled, [s[bad_sample] for s in samples], atol, rtol)
    return ValidationReport(
        n,
        max(o["max_abs_error"] for o in per.values()),
        max(o["max_rel_error"] for o in per.values()),
        min(o["argmax_agreement"] for o in per.values()),
        atol,
        rtol,
        bad_sample is None,
        first,
        per,
    )


def _first_divergence(compiled: CompiledModel, sample: list[np.ndarray], atol: float, rtol: float) -> dict | None:
    """Compare each step's output with the reference's value of the same name, in order."""
    c_values = compiled.intermediates(*sample)
    ref_values = compiled.model.reference_values(*sample)
    for index, step in enumerate(compiled.lowered.steps):
        v = step.writes
        if v in c_values and v in ref_values and _exceeds(c_values[v], ref_values[v], atol, rtol).any():
            err = float(np.nanmax(np.abs(c_values[v].astype(np.float64) - ref_values[v])))
            return {"step": index, "nodes": [n.name for n in step.nodes] or ["copy"], "value": v, "max_abs_error": err}
    return None
