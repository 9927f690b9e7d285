"""validate(): compiled C vs the NumPy reference, with the first diverging layer on failure."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .compiler import CompiledModel
from .model import as_batch, sample_shape


@dataclass(frozen=True)
class ValidationReport:
    samples: int
    max_abs_error: float
    max_rel_error: float
    argmax_agreement: float  # fraction of samples whose argmax matches
    atol: float
    rtol: float
    ok: bool
    first_divergence: dict | None  # {"step", "nodes", "value", "max_abs_error"} when not ok

    def __str__(self) -> str:
        verdict = "PASS" if self.ok else "FAIL"
        text = (
            f"{verdict}: {self.samples} samples, max abs error {self.max_abs_error:.3g}, "
            f"max rel error {self.max_rel_error:.3g}, argmax agreement {self.argmax_agreement:.2%} "
            f"(tolerance {self.atol:g} abs + {self.rtol:g} rel)"
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


def validate(compiled: CompiledModel, x: np.ndarray, *, atol: float = 2e-5, rtol: float = 1e-5) -> ValidationReport:
    """Run the C and the reference on ``x`` (one sample or a batch) and compare outputs.

    ``ok`` holds when every element is within ``atol + rtol * |reference|``.
    """
    batch, _ = as_batch(x, compiled.model.input_shape)
    samples = batch.reshape((len(batch), *sample_shape(compiled.model.input_shape)))
    got, want = compiled(samples), compiled.model.reference(samples)
    got2, want2 = got.reshape(len(batch), -1), want.reshape(len(batch), -1)
    diff = np.abs(got2.astype(np.float64) - want2)
    finite = np.isfinite(diff)
    max_abs = float(diff[finite].max()) if finite.any() else 0.0
    rel = diff / np.maximum(np.abs(want2), np.finfo(np.float32).tiny)
    max_rel = float(rel[finite].max()) if finite.any() else 0.0
    agree = float(np.mean(np.argmax(got2, axis=1) == np.argmax(want2, axis=1))) if len(batch) else 1.0
    bad = _exceeds(got2, want2, atol, rtol)
    first = None
    if bad.any():
        first = _first_divergence(compiled, batch[int(np.argwhere(bad)[0][0])], atol, rtol)
    return ValidationReport(len(batch), max_abs, max_rel, agree, atol, rtol, not bad.any(), first)


def _first_divergence(compiled: CompiledModel, sample: np.ndarray, atol: float, rtol: float) -> dict | None:
    """Compare each step's output with the reference's value of the same name, in order."""
    c_values = compiled.intermediates(sample)
    ref_values = compiled.model.reference_values(sample)
    for index, step in enumerate(compiled.lowered.steps):
        v = step.writes
        if v in c_values and v in ref_values and _exceeds(c_values[v], ref_values[v], atol, rtol).any():
            err = float(np.nanmax(np.abs(c_values[v].astype(np.float64) - ref_values[v])))
            return {"step": index, "nodes": [n.name for n in step.nodes] or ["copy"], "value": v, "max_abs_error": err}
    return None
