"""The kernel table: family -> source file and symbol, per ISA.

Codegen asks for a family; the table names the file to copy into the project
and the function to call. Adding a kernel is one line here plus its source.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


#: Extra C flags each ISA's kernel sources need (on top of the strict C99 flags).
ISA_CFLAGS: dict[str, tuple[str, ...]] = {"scalar": (), "avx2": ("-mavx2", "-mfma")}

SCALAR_AVX2 = ("scalar", "avx2")


@dataclass(frozen=True)
class Kernel:
    family: str
    source: str  # path under csrc/, with {isa}
    symbol: str  # C function, with {isa}
    isas: tuple[str, ...] = ("scalar",)  # ISAs with a source file; "scalar" always

    def isa_for(self, isa: str) -> str:
        """The ISA actually used when a target prefers `isa`: the family falls back to scalar."""
        return isa if isa in self.isas else "scalar"

    def file(self, isa: str) -> str:
        return self.source.format(isa=self.isa_for(isa))

    def function(self, isa: str) -> str:
        return self.symbol.format(isa=self.isa_for(isa))


KERNELS: dict[str, Kernel] = {
    k.family: k
    for k in (
        Kernel("f32-gemm", "f32-gemm/f32-gemm-minmax-{isa}.c", "sparsec_f32_gemm_minmax_ukernel__{isa}", SCALAR_AVX2),
        Kernel(
            "f32-spmm-u8",
            "f32-spmm/f32-spmm-minmax-{isa}.c",
            "sparsec_f32_spmm_minmax_ukernel_1x1_u8__{isa}",
            SCALAR_AVX2,
        ),
        Kernel(
            "f32-spmm-u16",
            "f32-spmm/f32-spmm-minmax-{isa}.c",
            "sparsec_f32_spmm_minmax_ukernel_1x1_u16__{isa}",
            SCALAR_AVX2,
        ),
        Kernel(
            "f32-spmm-i32",
            "f32-spmm/f32-spmm-minmax-{isa}.c",
            "sparsec_f32_spmm_minmax_ukernel_1x1_i32__{isa}",
            SCALAR_AVX2,
        ),
        Kernel(
            "f32-vbias", "f32-vbias/f32-vbias-minmax-{isa}.c", "sparsec_f32_vbias_minmax_ukernel__{isa}", SCALAR_AVX2
        ),
        Kernel("f32-vadd", "f32-vadd/f32-vadd-minmax-{isa}.c", "sparsec_f32_vadd_minmax_ukernel__{isa}", SCALAR_AVX2),
        Kernel("f32-clamp", "f32-clamp/f32-clamp-{isa}.c", "sparsec_f32_clamp_ukernel__{isa}", SCALAR_AVX2),
        Kernel("f32-softmax", "f32-softmax/f32-softmax-{isa}.c", "sparsec_f32_softmax_ukernel__{isa}"),
    )
}

SPMM_FAMILY = {"uint8": "f32-spmm-u8", "uint16": "f32-spmm-u16", "int32": "f32-spmm-i32"}


def csrc_dir() -> Path:
    """csrc/ beside the package (editable install) or shipped inside it (wheel)."""
    env = os.environ.get("SPARSEC_CSRC")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve().parent.parent
    candidates += [here / "_csrc", here.parent / "csrc"]
    for c in candidates:
        if (c / "include" / "sparsec" / "kernels.h").is_file():
            return c
    raise FileNotFoundError(f"sparsec kernel sources not found in {[str(c) for c in candidates]}")
