"""Build the exported-model fixtures in tests/data/ (run by hand: ``python tests/data/make_models.py``).

The .onnx files are committed so the tests need neither torch nor scikit-learn. Every model is
small, seeded and exported by the real exporters (torch.onnx legacy and dynamo, skl2onnx), so the
tests see the exporters' own noise: Shape subgraphs, Constant nodes, Identity, Dropout, ZipMap.
Re-running may change bytes (exporter versions) but not what the models exercise.
"""

from __future__ import annotations

import io
import warnings
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import onnx

HERE = Path(__file__).resolve().parent


def _torch():
    import torch

    torch.manual_seed(0)
    return torch


def _settle_batchnorm(torch, model, shape, passes=8):
    """Give every BatchNorm non-trivial running stats and affine params, so BN folding is really tested."""
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.3)
    model.train()
    with torch.no_grad():
        for _ in range(passes):
            model(torch.randn(*shape, generator=gen) * 2.0 + 0.5)
    model.eval()


def _mlp(torch):
    return torch.nn.Sequential(
        torch.nn.Linear(64, 32),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.2),
        torch.nn.Linear(32, 10),
        torch.nn.Softmax(dim=-1),
    ).eval()


def _cnn2d(torch):
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU6(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8),  # depthwise
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.AvgPool2d(3, stride=2, padding=1),  # count_include_pad=True, torch's default
        nn.Conv2d(8, 16, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 5),
    )


def _kws1d(torch):
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv1d(10, 16, 5, stride=2),
                nn.BatchNorm1d(16),
                nn.ReLU(),
                nn.Conv1d(16, 16, 3, padding=1, groups=16),  # depthwise
                nn.BatchNorm1d(16),
                nn.ReLU(),
                nn.MaxPool1d(2),
                nn.AdaptiveAvgPool1d(1),
            )
            self.head = nn.Sequential(nn.Linear(16, 6), nn.LogSoftmax(dim=-1))

        def forward(self, x):
            x = self.features(x)
            return self.head(x.view(x.size(0), -1))  # traced as a Shape -> Gather -> Concat -> Reshape subgraph

    return Net()


def _kws1d_res(torch):
    """Residual block (Add), HardSwish and a squeeze-excite gate (Sigmoid, Mul)."""
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv1d(10, 16, 3, stride=2, padding=1), nn.BatchNorm1d(16), nn.Hardswish())
            self.dw = nn.Sequential(
                nn.Conv1d(16, 16, 3, padding=2, dilation=2, groups=16), nn.BatchNorm1d(16), nn.ReLU()
            )
            self.pw = nn.Sequential(nn.Conv1d(16, 16, 1, bias=False), nn.BatchNorm1d(16))
            self.se = nn.Sequential(nn.Linear(16, 4), nn.ReLU(), nn.Linear(4, 16), nn.Sigmoid())
            self.head = nn.Linear(16, 6)

        def forward(self, x):
            x = self.stem(x)
            x = x + self.pw(self.dw(x))
            gate = self.se(x.mean(dim=-1))
            x = x * gate.unsqueeze(-1)
            x = nn.functional.hardswish(x)
            x = nn.functional.max_pool1d(x, 2)
            return torch.log_softmax(self.head(x.mean(dim=-1)), dim=-1)

    return Net()


def _export_torch(torch, model, example, path, *, dynamo, opset, dynamic_batch=False, raw=False):
    """``raw`` turns the exporter's own clean-up off (legacy: constant folding, which also folds
    BatchNorm into Conv; dynamo: the onnxscript optimizer), leaving the noise sparsec must handle."""
    kwargs = {}
    if raw:
        kwargs["optimize" if dynamo else "do_constant_folding"] = False
    if dynamo:
        if dynamic_batch:
            kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch", min=1, max=1024)},)
    elif dynamic_batch:
        kwargs["dynamic_axes"] = {"x": {0: "batch"}, "y": {0: "batch"}}
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=["x"],
            output_names=["y"],
            opset_version=opset,
            dynamo=dynamo,
            external_data=False,
            **kwargs,
        )


def torch_models() -> None:
    torch = _torch()
    mlp = _mlp(torch)
    x = torch.randn(2, 64)
    _export_torch(torch, mlp, x, HERE / "torch_mlp_legacy.onnx", dynamo=False, opset=13, dynamic_batch=True)
    _export_torch(torch, mlp, x, HERE / "torch_mlp_dynamo.onnx", dynamo=True, opset=18, dynamic_batch=True)

    torch.manual_seed(1)
    cnn = _cnn2d(torch)
    _settle_batchnorm(torch, cnn, (4, 3, 16, 16))
    x = torch.randn(1, 3, 16, 16)
    _export_torch(torch, cnn, x, HERE / "torch_cnn2d_legacy.onnx", dynamo=False, opset=13, raw=True)
    _export_torch(torch, cnn, x, HERE / "torch_cnn2d_legacy_folded.onnx", dynamo=False, opset=13)
    _export_torch(torch, cnn, x, HERE / "torch_cnn2d_dynamo.onnx", dynamo=True, opset=18)
    _export_torch(torch, cnn, x, HERE / "torch_cnn2d_dynamo_raw.onnx", dynamo=True, opset=18, raw=True)

    torch.manual_seed(2)
    kws = _kws1d(torch)
    _settle_batchnorm(torch, kws, (4, 10, 49))
    x = torch.randn(1, 10, 49)
    _export_torch(torch, kws, x, HERE / "torch_kws1d_legacy.onnx", dynamo=False, opset=9, raw=True, dynamic_batch=True)

    torch.manual_seed(3)
    res = _kws1d_res(torch)
    _settle_batchnorm(torch, res, (4, 10, 49))
    _export_torch(torch, res, x, HERE / "torch_kws1d_res_legacy.onnx", dynamo=False, opset=17)
    _export_torch(torch, res, x, HERE / "torch_kws1d_res_dynamo.onnx", dynamo=True, opset=18)


def sklearn_models() -> None:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    inputs = [("x", FloatTensorType([None, 64]))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier(hidden_layer_sizes=(16,), max_iter=60, random_state=0).fit(x, y)
        logreg = LogisticRegression(max_iter=100).fit(x, y)
    # (classifier, zipmap): the MLP's probabilities are plain ONNX ops, its label goes through
    # ai.onnx.ml; LogisticRegression computes everything with ai.onnx.ml ops (a model sparsec rejects).
    for name, clf, zipmap in (("mlp", mlp, False), ("mlp", mlp, True), ("logreg", logreg, False)):
        options = {id(clf): {"zipmap": zipmap}}
        proto = to_onnx(clf, initial_types=inputs, options=options, target_opset={"": 13, "ai.onnx.ml": 3})
        suffix = "zipmap" if zipmap else "nozipmap"
        onnx.save(proto, HERE / f"skl_{name}_{suffix}.onnx")


def main() -> None:
    torch_models()
    sklearn_models()
    total = 0
    for path in sorted(HERE.glob("*.onnx")):
        onnx.checker.check_model(onnx.load(path))
        size = path.stat().st_size
        total += size
        print(f"{path.name:36s} {size:8d} B")
    print(f"{'total':36s} {total:8d} B")


if __name__ == "__main__":
    main()
