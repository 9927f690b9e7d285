"""BatchNormalization in inference mode: Y = (X - mean) / sqrt(var + epsilon) * scale + B.

Channels are axis 1 of an input of any rank >= 2. Training mode (training_mode=1, or the
running/saved statistics outputs being used) is rejected: models must be exported in eval mode.
passes.fold_batchnorm folds it into a preceding Conv/Gemm where it can.
"""

from __future__ import annotations

import numpy as np

from ..ir import TensorType
from . import Op, OpFormError, d64, f32, register

_EVAL_HINT = "Export the model in eval mode (model.eval() before torch.onnx.export)"


def bn_params(attrs, inputs) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (multiplier, offset) in float64: Y = X * mul + off (channel axis 1)."""
    scale, bias, mean, var = (np.asarray(v, dtype=np.float64) for v in inputs[1:5])
    mul = scale / np.sqrt(var + float(attrs["epsilon"]))
    return mul, bias - mean * mul


@register
class BatchNormalization(Op):
    op_type = "BatchNormalization"
    defaults = {"epsilon": 1e-5, "momentum": 0.9, "spatial": 1, "training_mode": 0}

    def attributes(self, attrs, opset):
        out = super().attributes(attrs, opset)
        if out.get("training_mode", 0):
            raise OpFormError("training_mode=1 is not supported", hint=_EVAL_HINT)
        if out.get("spatial", 1) not in (0, 1):
            raise OpFormError(f"spatial must be 0 or 1, got {out['spatial']}")
        return out

    def param_shape(self, node, x_shape: tuple[int, ...]) -> tuple[int, ...]:
        # spatial=0 (opset < 9) normalizes each activation: parameters are shaped like X[0].
        if node.attrs.get("spatial", 1) == 0:
            return tuple(x_shape[1:])
        return (x_shape[1],)

    def infer(self, node, types, consts, opset):
        if any(node.outputs[1:]):
            raise OpFormError("the mean/variance outputs are only produced in training", hint=_EVAL_HINT)
        x = types[0]
        if x is None or len(x.shape) < 2:
            raise OpFormError(f"X must have rank >= 2 (N, C, ...), got {None if x is None else list(x.shape)}")
        if len(types) < 5 or any(t is None for t in types[:5]):
            raise OpFormError("X, scale, B, mean and var are all required")
        want = self.param_shape(node, x.shape)
        for name, t in zip(("scale", "B", "mean", "var"), types[1:5]):
            if t.dtype != "float32" or t.size != int(np.prod(want)) or (len(t.shape) == 1 and t.shape != (want[0],)):
                raise OpFormError(f"{name} is {t}; float32 with shape {list(want)} expected")
        if x.dtype != "float32":
            raise OpFormError(f"BatchNormalization supports float32 tensors only, X is {x.dtype}")
        return [TensorType(x.shape)]

    def reference(self, node, inputs, opset):
        x = inputs[0]
        mul, off = bn_params(node.attrs, inputs)
        shape = self.param_shape(node, x.shape)
        # Parameters line up with axes 1.. of X; trailing axes broadcast.
        tail = (1,) * (x.ndim - 1 - len(shape))
        mul = mul.reshape(shape + tail)
        off = off.reshape(shape + tail)
        return [f32(x.astype(np.float64) * mul + off)]

    def backward(self, node, inputs, outputs, grads, opset):
        """Inference mode is affine per channel; the statistics are constants but get gradients too."""
        x, g = d64(inputs[0]), d64(grads[0])
        scale, _, mean, var = (d64(v) for v in inputs[1:5])
        shape = self.param_shape(node, x.shape)
        tail = (1,) * (x.ndim - 1 - len(shape))
        axes = (0,) + tuple(range(1 + len(shape), x.ndim))  # all but the parameter axes

        def per_channel(v):
            return v.reshape(shape + tail)

        inv = 1.0 / np.sqrt(var + float(node.attrs["epsilon"]))
        centered = x - per_channel(mean)
        g_sum = g.sum(axis=axes)
        g_centered = (g * centered).sum(axis=axes)
        dx = g * per_channel(scale * inv)
        d_scale = g_centered * inv.reshape(shape)
        d_mean = -g_sum * (scale * inv).reshape(shape)
        d_var = g_centered * (-0.5 * scale * inv**3).reshape(shape)
        return [dx] + [d.reshape(v.shape) for d, v in zip((d_scale, g_sum, d_mean, d_var), inputs[1:5])]
