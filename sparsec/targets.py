"""Targets: what to compile for, loaded from targets/<name>.toml.

A target lists ISAs in order of preference and never names kernels. Targets that
run on this machine (`detect_isa = true`, the host) drop the ISAs this CPU lacks when
they are loaded, so the first remaining ISA is usable. Codegen uses that ISA for each
kernel family that has it and falls back to scalar per family (Kernel.isa_for).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import OptionError


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    isa: tuple[str, ...]
    cc: str
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...] = ()
    alignment: int = 16
    #: extra C flags for the kernel sources of an ISA (e.g. avx2: -mavx2 -mfma)
    isa_cflags: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: CSR is used for a layer whose density is at or below this (measured in bench/)
    csr_crossover: float = 0.4
    extra: dict = field(default_factory=dict)

    @property
    def primary_isa(self) -> str:
        return self.isa[0]


def targets_dir() -> Path:
    here = Path(__file__).resolve().parent
    for c in (here / "_targets", here.parent / "targets"):
        if c.is_dir():
            return c
    raise FileNotFoundError("sparsec targets/ folder not found")


def available() -> list[str]:
    return sorted(p.stem for p in targets_dir().glob("*.toml"))


def cpu_supports(isa: str) -> bool:
    """Whether this machine's CPU runs `isa` (the check sparsec.kernels does before a call)."""
    if isa == "scalar":
        return True
    if os.environ.get("SPARSEC_HOST_ISA") not in (None, "", isa):
        return False  # forced: SPARSEC_HOST_ISA=scalar builds host models with scalar kernels only
    try:
        from . import kernels
    except ImportError:  # extension not built: read the CPU flags directly
        if isa != "avx2":
            return False
        try:
            with open("/proc/cpuinfo") as f:
                flags = next((line.split() for line in f if line.startswith("flags")), [])
        except OSError:
            return False
        return "avx2" in flags and "fma" in flags
    return bool(kernels.isa_supported(isa))


def load_target(name: str) -> Target:
    path = targets_dir() / f"{name}.toml"
    if not path.is_file():
        raise OptionError(f"unknown target '{name}'", hint=f"Available targets: {', '.join(available())}")
    data = tomllib.loads(path.read_text())
    known = {"name", "description", "isa", "cc", "cflags", "ldflags", "alignment", "csr_crossover"}
    known |= {"isa_cflags", "detect_isa"}
    isa = tuple(data["isa"])
    if data.get("detect_isa", False):
        isa = tuple(i for i in isa if cpu_supports(i)) or ("scalar",)
    return Target(
        name=data.get("name", name),
        description=data.get("description", ""),
        isa=isa,
        cc=data.get("cc", "cc"),
        cflags=tuple(data.get("cflags", ())),
        ldflags=tuple(data.get("ldflags", ())),
        alignment=int(data.get("alignment", 16)),
        isa_cflags={k: tuple(v) for k, v in data.get("isa_cflags", {}).items()},
        csr_crossover=_per_isa(data.get("csr_crossover", 0.4), isa[0]),
        extra={k: v for k, v in data.items() if k not in known},
    )


def _per_isa(value: float | dict, isa: str) -> float:
    """A number, or {isa: number} (kernels differ in where CSR starts to pay) read for ``isa``."""
    if isinstance(value, dict):
        return float(value.get(isa, value.get("scalar", 0.4)))
    return float(value)
