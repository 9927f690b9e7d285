"""Targets: what to compile for, loaded from targets/<name>.toml.

A target lists ISAs in order of preference and never names kernels; codegen
picks the first ISA that has every kernel the model needs.
"""

from __future__ import annotations

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


def load_target(name: str) -> Target:
    path = targets_dir() / f"{name}.toml"
    if not path.is_file():
        raise OptionError(f"unknown target '{name}'", hint=f"Available targets: {', '.join(available())}")
    data = tomllib.loads(path.read_text())
    known = {"name", "description", "isa", "cc", "cflags", "ldflags", "alignment", "csr_crossover"}
    return Target(
        name=data.get("name", name),
        description=data.get("description", ""),
        isa=tuple(data["isa"]),
        cc=data.get("cc", "cc"),
        cflags=tuple(data.get("cflags", ())),
        ldflags=tuple(data.get("ldflags", ())),
        alignment=int(data.get("alignment", 16)),
        csr_crossover=float(data.get("csr_crossover", 0.4)),
        extra={k: v for k, v in data.items() if k not in known},
    )
