"""sparsec: compile pruned neural networks (ONNX) into small, fast, dependency-free C.

m = sparsec.load("model.onnx")
p = sparsec.range_limit(sparsec.prune(m, sparsity=0.9), 1.0)
c = sparsec.compile(p, target="host")      # callable on NumPy arrays
c.export("out_dir")                        # the self-contained C project
print(sparsec.validate(c, x))
"""

from __future__ import annotations

__version__ = "0.1.0"

from collections.abc import Mapping, Sequence  # noqa: E402

from .errors import (  # noqa: E402
    BuildError,
    CodegenError,
    GraphError,
    ModelLoadError,
    OptionError,
    ShapeError,
    SparsecError,
    ToolchainError,
    UnsupportedOperatorError,
)
from .model import Model, Report, load  # noqa: E402


def prune(
    model: Model,
    sparsity: float | Mapping[str, float] | None = None,
    *,
    threshold: float | Mapping[str, float] | None = None,
    keep_ratio: float | Mapping[str, float] | None = None,
    granularity: str = "weight",
    criterion: str = "magnitude",
    scope: str = "layer",
    data: object = None,
    finetune: Mapping[str, object] | None = None,
    schedule: str = "oneshot",
    steps: int = 3,
    block: Sequence[int] = (1, 4),
    exclude: Sequence[str] = (),
    skip_first: bool = False,
    skip_last: bool = False,
    seed: int = 0,
    compensate: bool = False,
) -> Model:
    """Prune ``model``; returns a new Model (``model`` is untouched) whose ``report`` has one row
    per layer and a ``summary``.

    How much: ``sparsity`` (fraction of zeros in [0, 1), one value or {layer: value}),
    ``threshold`` (prune what scores below it) or, for neurons/layers, ``keep_ratio`` (fraction kept).

    ``granularity``: "weight" (single weights), "block" (``block``-shaped blocks of the
    [out][in] weight matrix, e.g. (1, 4)), "connection" (|w_ij|·mean|a_j| from data), "neuron"
    or "channel" (remove whole output neurons/channels and the consumers' matching inputs), "layer"
    (replace removable layers by the identity).

    ``criterion``: "magnitude", "random" (the baseline), "activation", "gradient", "taylor"; for
    neurons/layers also "l1", "l2", "contribution", "dead", "entropy". All but magnitude, l1, l2
    and random need ``data``: (x,), (x, y) or an .npz path with x (and y). With labels y the
    summary has the accuracy before and after.

    ``scope="global"`` ranks all layers together. ``exclude``, ``skip_first``, ``skip_last``
    leave layers alone. ``finetune``: options for sparsec.train.finetune (epochs, lr, batch_size,
    optimizer, momentum, l1, l2, clip_value, clip_norm, range_limit, validation, ...) run after
    each pruning step on ``data``; ``schedule``: "oneshot", "iterative" (``steps`` equal steps) or
    "gradual" (Zhu & Gupta: s_t = s·(1 - (1 - t/steps)^3)). ``compensate`` (neurons, with data)
    adds each removed neuron's mean output to its consumers' biases instead of dropping it.
    """
    from .optimize import prune as _prune

    return _prune(
        model,
        sparsity,
        threshold=threshold,
        keep_ratio=keep_ratio,
        granularity=granularity,
        criterion=criterion,
        scope=scope,
        data=data,
        finetune=finetune,
        schedule=schedule,
        steps=steps,
        block=block,
        exclude=exclude,
        skip_first=skip_first,
        skip_last=skip_last,
        seed=seed,
        compensate=compensate,
    )


def range_limit(
    model: Model,
    limit: float | Mapping[str, float] | None = None,
    *,
    percentile: float | str | Mapping[str, float] | None = None,
    data: object = None,
) -> Model:
    """Clamp every layer's weights and biases into [-r, r]: r = ``limit`` (or {layer: r}), or per
    layer the ``percentile`` of its nonzero |w|. With ``data`` the report's summary has the
    output change it caused."""
    from .optimize import range_limit as _range_limit

    return _range_limit(model, limit, percentile=percentile, data=data)


def save(model: Model, path: str) -> None:
    """Write ``model`` (e.g. pruned) as an ONNX file that passes onnx.checker and runs in onnxruntime."""
    from .export import save as _save

    _save(model.graph, path)


from .compiler import CompiledModel, compile  # noqa: E402
from .validate import ValidationReport, validate  # noqa: E402

__all__ = [
    "BuildError",
    "CodegenError",
    "CompiledModel",
    "GraphError",
    "Model",
    "ModelLoadError",
    "OptionError",
    "Report",
    "ShapeError",
    "SparsecError",
    "ToolchainError",
    "UnsupportedOperatorError",
    "ValidationReport",
    "compile",
    "load",
    "prune",
    "range_limit",
    "save",
    "validate",
]
