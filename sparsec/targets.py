"""Targets: what to compile for, loaded from targets/<name>.toml.

A target lists ISAs in order of preference and never names kernels. Targets that
run on this machine (`detect_isa = true`, the host) drop the ISAs this CPU lacks when
they are loaded, so the first remaining ISA is usable. Codegen uses that ISA for each
kernel family that has it and falls back to scalar per family (Kernel.isa_for).

Cross targets also say which Debian packages hold their compiler (`cc_package`), the
board a model is sized for (`board`: flash and RAM to warn against) and how a program runs
under emulation (`emulator`: the command, its package, the start-up and semihosting files
under targets/, the emulated memory map); sparsec.emulate builds and runs with them.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import OptionError


@dataclass(frozen=True)
class Board:
    """The reference device of a target: its flash and RAM in bytes (None: no such limit)."""

    name: str
    flash: int | None = None
    ram: int | None = None


@dataclass(frozen=True)
class Memory:
    """The emulated machine's memory map, for the linker script (flash None: all in RAM)."""

    ram_origin: int
    ram: int
    flash_origin: int | None = None
    flash: int | None = None


@dataclass(frozen=True)
class Emulator:
    """How a program built for the target runs on this machine."""

    #: argv; "{elf}" stands for the program
    command: tuple[str, ...]
    #: Debian package that provides command[0]
    package: str
    #: start-up, semihosting (or, hosted, stdio) and fault-handling sources, relative to targets/
    sources: tuple[str, ...] = ()
    #: include directories, relative to targets/
    include: tuple[str, ...] = ()
    #: linker script relative to targets/, given the memory map through --defsym
    linker_script: str | None = None
    memory: Memory | None = None
    #: bytes of RAM kept for the stack (the link fails when statics leave less)
    stack: int = 0
    #: bytes of the kernel runner's buffer for one call's arrays
    arena: int = 0
    #: seconds before a run counts as hung
    timeout: float = 120.0

    def argv(self, elf: str) -> list[str]:
        return [a.replace("{elf}", elf) for a in self.command]


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
    #: Debian package(s) with the compiler, space separated (named when it is missing)
    cc_package: str = "gcc"
    #: "hard" (FPU, float arguments in FPU registers), "soft" (library float) or "softfp"
    float_abi: str = "hard"
    #: False when the toolchain has no C library (no libm: kernels calling expf are out)
    libc: bool = True
    board: Board | None = None
    #: None for the host: its programs run natively
    emulator: Emulator | None = None
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
    known |= {"isa_cflags", "detect_isa", "cc_package", "float_abi", "libc", "board", "emulator"}
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
        cc_package=data.get("cc_package", "gcc"),
        float_abi=data.get("float_abi", "hard"),
        libc=bool(data.get("libc", True)),
        board=_table(Board, data, "board", path),
        emulator=_table(Emulator, data, "emulator", path),
        extra={k: v for k, v in data.items() if k not in known},
    )


def _per_isa(value: float | dict, isa: str) -> float:
    """A number, or {isa: number} (kernels differ in where CSR starts to pay) read for ``isa``."""
    if isinstance(value, dict):
        return float(value.get(isa, value.get("scalar", 0.4)))
    return float(value)


def _table(cls: type, data: dict, key: str, path: Path):
    """A [board] or [emulator] table as its dataclass (None when absent); bad keys name the file."""
    if key not in data:
        return None
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in data[key].items()}
    try:
        if "memory" in fields:
            fields["memory"] = Memory(**fields["memory"])
        return cls(**fields)
    except TypeError as e:
        raise OptionError(f"[{key}] in {path.name}: {e}", file=str(path)) from None
