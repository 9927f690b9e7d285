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
from .model import Model, as_batch, from_batch, sample_shape
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
                    f"{self.name}_run_ws",
                    g.types[g.inputs[0]].size,
                    g.types[g.outputs[0]].size,
                    low.plan.peak,
                    low.plan.alignment,
                    f"{self.name}_run_batch_ws",
                    max(low.plan.peak, self.tile.plan.peak if self.tile else 0),
                )
            return self._lib

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Run the C on one sample or a batch [B, ...] of float32; returns float32."""
        lib = self._lib if self._lib is not None else self.library()
        # Fast path for one sample, with or without the batch dim of 1: nothing but the C call.
        if type(x) is np.ndarray and x.dtype == np.float32 and x.flags.c_contiguous:
            shape = x.shape
            if shape == self._in_shape or shape == self._in_one:
                out = np.empty(self._out_shape if shape == self._in_shape else self._out_one, np.float32)
                lib.run1(x, out)
                return out
        batch, single = as_batch(x, self._in_shape)
        out = np.empty((batch.shape[0], lib.out_len), np.float32)
        lib.run(batch, out)
        return from_batch(out, self._out_shape, single)

    def intermediates(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every value the C computes for one sample, read back from a debug build's arena
        (one slot per value, nothing reused). Used by validate() to find the first bad layer."""
        twin = self if self.debug else self._debug()
        lib = twin.library()
        low = twin.lowered
        batch, _ = as_batch(x, self.model.input_shape)
        batch = np.ascontiguousarray(batch[:1])
        ws = np.zeros(low.plan.peak + low.plan.alignment, np.uint8)
        out = np.empty((1, low.graph.types[self.model.output_name].size), np.float32)
        base = lib.run(batch, out, ws)
        values = {}
        for value, r in low.roots.items():
            t = low.graph.types[value]
            where = low.storage.get(r)
            if where == "arena":
                start = base + low.plan.offsets[r]
                values[value] = ws[start : start + t.nbytes].view(np.float32).reshape(t.shape).copy()
            elif where == "output":
                values[value] = out.reshape(t.shape).copy()
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
