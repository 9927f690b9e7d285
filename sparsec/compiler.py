"""compile(): Model -> C project -> host shared library -> a callable CompiledModel."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import numpy as np

from .build import build_shared
from .codegen.cwriter import check_model_name, identifier
from .codegen.emit import tile_size
from .codegen.lower import Lowered, lower, lower_tile
from .codegen.project import project_files, write_project
from .model import Model, bind_inputs, sample_shape, unbind_outputs
from .targets import Target, load_target


#: Samples per batched kernel call in <name>_run_batch_ws: the avx2 SpMM's tile (8 lanes).
BATCH_TILE = 8


class CompiledModel:
    """A model compiled to C. Calling it runs the generated C (host target) on NumPy arrays.

    ``files`` holds the project, ``report`` its per-layer report, ``export(dir)``
    writes it. Calls release the GIL and use their own workspace (thread-safe).
    """

    def __init__(
        self,
        model: Model,
        target: Target,
        name: str,
        lowered: Lowered,
        files: dict[str, str],
        debug: bool = False,
        tile: Lowered | None = None,
    ) -> None:
        self.model, self.target, self.name, self.tile = model, target, name, tile
        self.lowered, self.files, self.debug = lowered, files, debug
        self._lib = None
        self._lock = threading.Lock()
        self._debug_twin: CompiledModel | None = None
        g = lowered.graph  # shapes the hot path needs, looked up once
        self._single_io = len(g.inputs) == 1 and len(g.outputs) == 1
        self._in_shape, self._out_shape = g.types[g.inputs[0]].shape, g.types[g.outputs[0]].shape
        self._in_one, self._out_one = sample_shape(self._in_shape), sample_shape(self._out_shape)

    @property
    def report(self) -> dict:
        return json.loads(self.files["report.json"])

    @property
    def batch_tile(self) -> int:
        """Samples per kernel call on batches (1: this model runs a batch one sample at a time)."""
        return tile_size(self.tile)

    @property
    def arena_bytes(self) -> int:
        return self.lowered.plan.peak

    @property
    def footprint(self) -> dict[str, int]:
        """Bytes of flash, RAM, weights, code, arena and stack of the model built for its target
        (cross targets: measured from the linked ELF; see sparsec.device)."""
        from . import device

        return device.footprint(self)

    def profile(self, *args: object, **kwargs: object) -> dict[str, float]:
        """Instructions per inference (exact, under the target's emulator) and a cycle estimate."""
        from . import device

        batches, _ = bind_inputs(self.lowered.graph, args, kwargs)
        return device.profile(self, batches)

    def export(self, out_dir: str | os.PathLike[str]) -> Path:
        """Write the self-contained C project to ``out_dir`` (atomically; see write_project)."""
        return write_project(self.files, out_dir)

    def library(self):
        """Build (or fetch from the cache) and load the shared library; host target only."""
        from .runtime import Library

        with self._lock:
            if self._lib is None:
                so = build_shared(self.files, self.name, self.target)
                low = self.lowered
                g = low.graph
                self._lib = Library(
                    str(so),
                    self.name,
                    tuple(g.types[v].size for v in g.inputs),
                    tuple(g.types[v].size for v in g.outputs),
                    low.plan.peak,
                    max(low.plan.peak, self.tile.plan.peak if self.tile else 0),
                    low.plan.alignment,
                )
            return self._lib

    def __call__(self, *args: object, **kwargs: object) -> np.ndarray | dict[str, np.ndarray]:
        """Run the C on float32 inputs: one sample or a batch [B, ...]; positionally in the model's
        input order, as one dict {name: array} or by keyword. Returns float32: an array for one
        output, else {name: array}."""
        if self.target.emulator is not None:  # a cross target: build for it, run under its emulator
            from . import device

            g = self.lowered.graph
            batches, single = bind_inputs(g, args, kwargs)
            return unbind_outputs(g, device.run(self, batches), single)
        lib = self._lib if self._lib is not None else self.library()
        # Fast path for one sample, with or without the batch dim of 1: nothing but the C call.
        if self._single_io and len(args) == 1 and not kwargs:
            x = args[0]
            if type(x) is np.ndarray and x.dtype == np.float32 and x.flags.c_contiguous:
                shape = x.shape
                if shape == self._in_shape or shape == self._in_one:
                    out = np.empty(self._out_shape if shape == self._in_shape else self._out_one, np.float32)
                    lib.run1(x, out)
                    return out
        g = self.lowered.graph
        batches, single = bind_inputs(g, args, kwargs)
        outs = [np.empty((len(batches[0]), g.types[v].size), np.float32) for v in g.outputs]
        lib.run(batches, outs)
        return unbind_outputs(g, outs, single)

    def intermediates(self, *args: object, **kwargs: object) -> dict[str, np.ndarray]:
        """Every value the C computes for one sample, read back from a debug build's arena
        (one slot per value, nothing reused). Used by validate() to find the first bad layer."""
        twin = self if self.debug else self._debug()
        lib = twin.library()
        low = twin.lowered
        g = low.graph
        batches, _ = bind_inputs(g, args, kwargs)
        batches = [np.ascontiguousarray(b[:1]) for b in batches]
        ws = np.zeros(lib.batch_ws_bytes + low.plan.alignment, np.uint8)
        outs = [np.empty((1, g.types[v].size), np.float32) for v in g.outputs]
        base = lib.run(batches, outs, ws)
        by_param = {low.params[v]: out for v, out in zip(g.outputs, outs)}
        values = {}
        for value, r in low.roots.items():
            t = g.types[value]
            where = low.storage.get(r)
            if where == "arena":
                start = base + low.plan.offsets[r]
                values[value] = ws[start : start + t.nbytes].view(np.float32).reshape(t.shape).copy()
            elif where == "output":
                values[value] = by_param[low.params[r]].reshape(t.shape).copy()
        return values

    def _debug(self) -> CompiledModel:
        if self._debug_twin is None:
            # From the graph this C was made from, so a mismatch with self.model shows up.
            self._debug_twin = compile(Model(self.lowered.graph), self.target.name, name=self.name, debug=True)
        return self._debug_twin

    def __repr__(self) -> str:
        return (
            f"CompiledModel({self.name!r}, target={self.target.name!r}, arena={self.arena_bytes} B, "
            f"const={self.report['weight_bytes']} B)"
        )


def compile(model: Model, target: str = "host", *, name: str | None = None, debug: bool = False) -> CompiledModel:
    """Generate the C project for ``model`` and return it as a callable CompiledModel.

    ``name`` prefixes every C symbol (default: the model's name made a C identifier).
    """
    t = load_target(target)
    name = check_model_name(name) if name is not None else identifier(model.name).lower()
    lowered = lower(model.graph, t, name, debug=debug)
    tile = None if debug else lower_tile(model.graph, t, name, lowered, BATCH_TILE)
    files = project_files(lowered, name, _origin(model), t, tile)
    return CompiledModel(model, t, name, lowered, files, debug, tile)


def _origin(model: Model) -> str:
    """Source file name and a short digest of the model's content (not of time or paths)."""
    h = hashlib.sha256()
    g = model.graph
    for node in g.nodes:
        h.update(repr((node.op, node.name, node.inputs, node.outputs, sorted(node.attrs.items()))).encode())
    for k in sorted(g.constants):
        h.update(k.encode() + np.ascontiguousarray(g.constants[k]).tobytes())
    src = os.path.basename(g.source) if g.source and not g.source.startswith("<") else g.name
    return f"{src} (sha256:{h.hexdigest()[:8]})"
