"""The kernel table: family -> source file and symbol, per ISA.

Codegen asks for a family; the table names the file to copy into the project
and the function to call. Adding a kernel is one line here plus its source.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


#: Extra C flags each ISA's kernel sources need (on top of the strict C99 flags).
ISA_CFLAGS: dict[str, tuple[str, ...]] = {"scalar": (), "avx2": ("-mavx2", "-mfma"), "neon": (), "armv7em": ()}
# neon (aarch64) and armv7em (Cortex-M4F/M7) need no per-file flags: their sources build only with the
# target's own compiler and flags (the float ABI is the whole project's), and #error elsewhere.

SCALAR_AVX2 = ("scalar", "avx2")
ALL_ISAS = ("scalar", "avx2", "neon", "armv7em")


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
        Kernel("f32-gemm", "f32-gemm/f32-gemm-minmax-{isa}.c", "sparsec_f32_gemm_minmax_ukernel__{isa}", ALL_ISAS),
        Kernel(
            "f32-spmm-u8",
            "f32-spmm/f32-spmm-minmax-{isa}.c",
            "sparsec_f32_spmm_minmax_ukernel_1x1_u8__{isa}",
            ALL_ISAS,
        ),
        Kernel(
            "f32-spmm-u16",
            "f32-spmm/f32-spmm-minmax-{isa}.c",
            "sparsec_f32_spmm_minmax_ukernel_1x1_u16__{isa}",
            ALL_ISAS,
        ),
        Kernel(
            "f32-spmm-i32",
            "f32-spmm/f32-spmm-minmax-{isa}.c",
            "sparsec_f32_spmm_minmax_ukernel_1x1_i32__{isa}",
            ALL_ISAS,
        ),
        Kernel("f32-vbias", "f32-vbias/f32-vbias-minmax-{isa}.c", "sparsec_f32_vbias_minmax_ukernel__{isa}", ALL_ISAS),
        Kernel("f32-vadd", "f32-vadd/f32-vadd-minmax-{isa}.c", "sparsec_f32_vadd_minmax_ukernel__{isa}", ALL_ISAS),
        Kernel("f32-clamp", "f32-clamp/f32-clamp-{isa}.c", "sparsec_f32_clamp_ukernel__{isa}", ALL_ISAS),
        Kernel("f32-softmax", "f32-softmax/f32-softmax-{isa}.c", "sparsec_f32_softmax_ukernel__{isa}"),
        # Block-sparse (BSR) spmm, one family per tile and block-column index type.
        *(
            Kernel(
                f"f32-spmm-{tile}-{index}",
                f"f32-spmm/f32-spmm-{tile}-minmax-{{isa}}.c",
                f"sparsec_f32_spmm_minmax_ukernel_{tile}_{index}__{{isa}}",
                ALL_ISAS,
            )
            for tile in ("1x4", "4x1", "8x1")
            for index in ("u8", "u16", "i32")
        ),
        *(
            Kernel(
                f"f32-spconv-{index}",
                "f32-spconv/f32-spconv-minmax-{isa}.c",
                f"sparsec_f32_spconv_minmax_ukernel_{index}__{{isa}}",
                ALL_ISAS,
            )
            for index in ("u8", "u16", "i32")
        ),
        Kernel("f32-conv", "f32-conv/f32-conv-minmax-{isa}.c", "sparsec_f32_conv_minmax_ukernel__{isa}", ALL_ISAS),
        Kernel(
            "f32-dwconv",
            "f32-dwconv/f32-dwconv-minmax-{isa}.c",
            "sparsec_f32_dwconv_minmax_ukernel__{isa}",
            ALL_ISAS,
        ),
        Kernel("f32-maxpool", "f32-maxpool/f32-maxpool-{isa}.c", "sparsec_f32_maxpool_ukernel__{isa}", SCALAR_AVX2),
        Kernel("f32-avgpool", "f32-avgpool/f32-avgpool-{isa}.c", "sparsec_f32_avgpool_ukernel__{isa}", SCALAR_AVX2),
        Kernel("f32-gavgpool", "f32-gavgpool/f32-gavgpool-{isa}.c", "sparsec_f32_gavgpool_ukernel__{isa}", SCALAR_AVX2),
    )
}

SPMM_FAMILY = {"uint8": "f32-spmm-u8", "uint16": "f32-spmm-u16", "int32": "f32-spmm-i32"}
#: Block-sparse spmm families by (block shape, index dtype name), e.g. ((8, 1), "uint8").
BSPMM_FAMILY = {
    ((r, c), dtype): f"f32-spmm-{r}x{c}-{index}"
    for r, c in ((1, 4), (4, 1), (8, 1))
    for dtype, index in (("uint8", "u8"), ("uint16", "u16"), ("int32", "i32"))
}
SPCONV_FAMILY = {"uint8": "f32-spconv-u8", "uint16": "f32-spconv-u16", "int32": "f32-spconv-i32"}


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
