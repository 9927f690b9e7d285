"""Pad: modes constant, reflect, edge and wrap; negative pads crop.

Opset < 11 takes ``pads``/``value`` as attributes; opset >= 11 takes pads (and the optional
constant_value) as inputs, opset >= 18 also an optional ``axes`` input. Pads must be constants.
"""

from __future__ import annotations

import numpy as np

from ..ir import TensorType
from . import Op, OpFormError, d64, register

_MODES = ("constant", "reflect", "edge", "wrap")
_CONST_HINT = "Export with static shapes (or fold the pads computation to a constant with input_shapes=)"


def _as_str(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


@register
class Pad(Op):
    op_type = "Pad"
    defaults = {"mode": "constant", "pads": None, "value": None}

    def attributes(self, attrs, opset):
        out = super().attributes(attrs, opset)
        out["mode"] = _as_str(out["mode"])
        if out["mode"] not in _MODES or (out["mode"] == "wrap" and opset < 19):
            raise OpFormError(f"mode '{out['mode']}' is not supported", hint=f"Supported modes: {list(_MODES)}")
        if opset < 11 and out.get("pads") is None:
            raise OpFormError("the pads attribute is required before opset 11")
        if opset >= 11 and ("pads" in out or "value" in out):
            raise OpFormError("pads/value are inputs from opset 11 on, not attributes")
        return out

    def widths(self, node, rank: int, pads, axes, opset) -> list[tuple[int, int]]:
        """(begin, end) per axis of the data; negative values crop."""
        if opset < 11:
            pads = node.attrs["pads"]
        if pads is None:
            raise OpFormError("the pads input must be a constant", hint=_CONST_HINT)
        pads = [int(p) for p in np.asarray(pads).reshape(-1)]
        if axes is None:
            axes = list(range(rank))
        else:
            axes = [int(a) for a in np.asarray(axes).reshape(-1)]
            if any(not -rank <= a < rank for a in axes):
                raise OpFormError(f"axes {axes} are out of range for rank {rank}")
            axes = [a % rank for a in axes]
            if len(set(axes)) != len(axes):
                raise OpFormError(f"axes {axes} repeat an axis")
        if len(pads) != 2 * len(axes):
            raise OpFormError(f"pads has {len(pads)} values; {2 * len(axes)} expected (begin and end per axis)")
        widths = [(0, 0)] * rank
        for i, a in enumerate(axes):
            widths[a] = (pads[i], pads[len(axes) + i])
        return widths

    def _check(self, mode: str, shape, widths) -> tuple[int, ...]:
        out = []
        for n, (b, e) in zip(shape, widths):
            if n + b + e < 0:
                raise OpFormError(f"pads ({b}, {e}) crop more than the dimension ({n})")
            kept = n + min(b, 0) + min(e, 0)  # what is left after cropping, before padding
            grow = max(b, 0) + max(e, 0)
            if mode != "constant" and grow and kept < 1:
                raise OpFormError(f"mode '{mode}' cannot pad an empty dimension")
            if mode == "reflect" and grow and max(b, e) >= kept:
                raise OpFormError(f"reflect pads ({b}, {e}) must be smaller than the dimension ({kept})")
            if mode == "wrap" and max(b, e) > kept:
                raise OpFormError(f"wrap pads ({b}, {e}) must not exceed the dimension ({kept})")
            out.append(n + b + e)
        return tuple(out)

    def infer(self, node, types, consts, opset):
        data = types[0]
        pads = consts[1] if opset >= 11 and len(consts) > 1 else None
        if opset >= 11 and (len(types) < 2 or types[1] is None):
            raise OpFormError("the pads input is required")
        if opset >= 11 and types[1].dtype != "int64":
            raise OpFormError(f"pads must be int64, got {types[1].dtype}")
        if len(types) > 2 and types[2] is not None:
            if types[2].size != 1 or types[2].dtype != data.dtype:
                raise OpFormError(f"constant_value must be one {data.dtype} value, got {types[2]}")
        axes = None
        if len(types) > 3 and types[3] is not None:
            if consts[3] is None:
                raise OpFormError("the axes input must be a constant", hint=_CONST_HINT)
            axes = consts[3]
        widths = self.widths(node, len(data.shape), pads, axes, opset)
        return [TensorType(self._check(node.attrs["mode"], data.shape, widths), data.dtype)]

    def reference(self, node, inputs, opset):
        x = inputs[0]
        pads = inputs[1] if opset >= 11 else None
        axes = inputs[3] if len(inputs) > 3 else None
        widths = self.widths(node, x.ndim, pads, axes, opset)
        mode = node.attrs["mode"]
        self._check(mode, x.shape, widths)
        # Crop first (negative pads), then pad what is left.
        x = x[tuple(slice(-min(b, 0), n + min(e, 0)) for n, (b, e) in zip(x.shape, widths))]
        grow = [(max(b, 0), max(e, 0)) for b, e in widths]
        if mode == "constant":
            if opset < 11:
                value = node.attrs.get("value", 0.0)
            else:
                value = inputs[2] if len(inputs) > 2 and inputs[2] is not None else 0
            value = np.asarray(value, dtype=x.dtype).reshape(-1)[0] if np.size(value) else x.dtype.type(0)
            return [np.pad(x, grow, mode="constant", constant_values=value)]
        return [np.pad(x, grow, mode=mode)]

    def backward(self, node, inputs, outputs, grads, opset):
        x = inputs[0]
        if node.attrs["mode"] != "constant":
            raise OpFormError(f"Pad mode '{node.attrs['mode']}' has no gradient here; only mode 'constant'")
        pads = inputs[1] if opset >= 11 else None
        axes = inputs[3] if len(inputs) > 3 else None
        widths = self.widths(node, x.ndim, pads, axes, opset)
        # The padded gradient minus the pads, placed where the (possibly cropped) input was read.
        inner = d64(grads[0])[
            tuple(slice(max(b, 0), max(b, 0) + n + min(b, 0) + min(e, 0)) for n, (b, e) in zip(x.shape, widths))
        ]
        dx = np.zeros(x.shape)
        dx[tuple(slice(-min(b, 0), n + min(e, 0)) for n, (b, e) in zip(x.shape, widths))] = inner
        return [dx] + [None] * (len(inputs) - 1)
