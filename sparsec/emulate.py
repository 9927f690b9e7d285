"""Build C programs for a target, run them under its emulator, count their instructions.

- `build(target, sources)`: compile with the target's flags, start-up code and linker script,
  warnings as errors, into a cache keyed by the content of everything that goes in.
- `run(target, elf)`: run under the target's emulator (qemu-user or qemu-system with
  semihosting) with a timeout; exit codes pass through, a fault or hang is a clear error.
- `count_instructions(target, elf, symbols)`: exact counts from a QEMU TCG plugin
  (targets/qemu/insn_count.c, built with the host gcc on first use): every instruction, and
  the instructions and calls inside each named function.
- `EmulatedKernels(target)`: the functions of `sparsec.kernels` (gemm, spmm, vbias, vadd,
  clamp, relu, softmax, bspmm, spconv2d, conv2d, dwconv2d, maxpool2d, avgpool2d,
  global_avgpool; `isa=` picks the kernel variant), executed on the target by a kernel
  runner built once per (target, ISA). Inside `with k.batch():` calls are queued and run in one
  emulator session when the block ends (their results are filled in then); `k.call(name, args,
  out)` reaches any kernel of sparsec/kernels.h by its C name. `batch(count=True)` also counts
  each kernel's instructions per call, inside the function itself and inclusive of what it
  calls (on soft-float cores: the libgcc float helpers).

Missing tools raise `ToolchainError` subclasses that name the Debian package to install.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .build import cache_dir
from .codegen.kernels import BSPMM_FAMILY, KERNELS, SPCONV_FAMILY, SPMM_FAMILY, csrc_dir
from .errors import BuildError, SparsecError, ToolchainError
from .targets import Target, load_target, targets_dir

#: The warning bar for everything built here (DESIGN.md): strict C99, no warnings.
STRICT_WARNINGS = (
    "-Wall",
    "-Wextra",
    "-Werror",
    "-pedantic",
    "-Wdouble-promotion",
    "-Wshadow",
    "-Wmissing-prototypes",
)
#: Exit code of a CPU fault in the bare-metal start-up code (targets/semihost/semihost.h).
EXIT_FAULT = 127
#: Exit codes of `timeout -k`: the run hung.
HANG_CODES = (124, 137)


class EmulatorNotFoundError(ToolchainError):
    """The emulator a target runs under is not installed."""


class EmulationError(SparsecError):
    """A program run under emulation crashed, hung or broke the runner protocol."""


class EmulatorFaultError(EmulationError):
    """The program faulted (HardFault, illegal instruction, bad access, signal)."""


class EmulatorTimeoutError(EmulationError):
    """The program did not finish within the timeout."""


class DoesNotFitError(SparsecError):
    """A kernel call needs more RAM than the target's runner has."""


class KernelUnavailableError(SparsecError):
    """The kernel (or the library function it calls) does not exist for this target."""


# --------------------------------------------------------------------------- tools


def _need(tool: str, package: str, what: str, error: type[ToolchainError]) -> str:
    path = shutil.which(tool)
    if path is None:
        raise error(
            f"{what} '{tool}' not found",
            hint=f"Install the Debian package(s) {package} (as root: apt-get install {package}, or make deps-system)",
        )
    return path


def compiler(target: Target) -> str:
    return _need(target.cc, target.cc_package, f"{target.name} C compiler", ToolchainError)


def emulator(target: Target) -> str:
    emu = _emulator_spec(target)
    return _need(emu.command[0], emu.package, f"{target.name} emulator", EmulatorNotFoundError)


def _emulator_spec(target: Target):
    if target.emulator is None:
        raise SparsecError(f"target '{target.name}' runs natively, not under an emulator")
    return target.emulator


def _tool(target: Target, name: str) -> str:
    """A binutils program of the target's toolchain (arm-none-eabi-gcc -> arm-none-eabi-nm)."""
    cc = Path(target.cc).name
    prefix = cc[: -len("gcc")] if cc.endswith("gcc") else ""
    return _need(prefix + name, target.cc_package, f"{target.name} {name}", ToolchainError)


def _as_target(target: Target | str) -> Target:
    return load_target(target) if isinstance(target, str) else target


# --------------------------------------------------------------------------- build


def build(
    target: Target | str,
    sources: Sequence[str | Path],
    *,
    include_dirs: Sequence[str | Path] = (),
    cflags: Sequence[str] = (),
    name: str = "program",
) -> Path:
    """Compile and link `sources` (with the target's support files) into a cached ELF."""
    t = _as_target(target)
    emu = _emulator_spec(t)
    cc = compiler(t)
    support = targets_dir()
    all_sources = [Path(s).resolve() for s in sources] + [support / s for s in emu.sources]
    includes = [Path(d).resolve() for d in include_dirs] + [support / d for d in emu.include]
    flags = [*t.cflags, *STRICT_WARNINGS, *cflags, *(f"-I{d}" for d in includes)]
    link = list(t.ldflags)
    if emu.linker_script:
        mem = emu.memory
        assert mem is not None, f"{t.name}: a linker script needs emulator.memory"
        syms = {"RAM_ORIGIN": mem.ram_origin, "RAM_SIZE": mem.ram, "STACK_SIZE": emu.stack}
        if mem.flash is not None:
            syms |= {"FLASH_ORIGIN": mem.flash_origin or 0, "FLASH_SIZE": mem.flash}
        link = [f"-T{support / emu.linker_script}", *(f"-Wl,--defsym={k}={v:#x}" for k, v in syms.items()), *link]
        all_sources.append(support / emu.linker_script)  # in the cache key, not on the command line
    digest = hashlib.sha256()
    for part in [cc, *flags, *link]:
        digest.update(part.encode() + b"\0")
    for path in all_sources + sorted(p for d in includes if d.is_dir() for p in d.rglob("*.h")):
        digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    key = digest.hexdigest()[:24]
    final = cache_dir() / "emulate" / t.name / key / f"{name}.elf"
    if final.is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    compile_sources = [str(p) for p in all_sources if p.suffix in (".c", ".S", ".s")]
    with tempfile.TemporaryDirectory(dir=final.parent) as work:
        out = Path(work) / final.name
        cmd = [cc, *flags, *compile_sources, "-o", str(out), *link]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or proc.stderr.strip():
            raise BuildError(
                f"{t.name}: the build of {name} failed (exit {proc.returncode}):\n$ {' '.join(cmd)}\n"
                f"{proc.stderr.strip()[-4000:]}"
            )
        os.replace(out, final)  # atomic: concurrent builders agree on the result
    return final


# --------------------------------------------------------------------------- run


@dataclass(frozen=True)
class RunResult:
    returncode: int
    stdout: str
    stderr: str


def run(
    target: Target | str,
    elf: str | Path,
    *,
    cwd: str | Path | None = None,
    timeout: float | None = None,
    plugin: Sequence[str] = (),
) -> RunResult:
    """Run `elf` under the target's emulator; main's return value is `returncode`.

    Raises EmulatorFaultError when the program faults (the start-up code's fault exit, a
    QEMU lock-up or a signal: timeout(1) reports those as 128 + signal, so main's own codes
    must stay below 128) and EmulatorTimeoutError when it hangs.
    """
    t = _as_target(target)
    emu = _emulator_spec(t)
    qemu = emulator(t)
    argv = emu.argv(str(Path(elf).resolve()))
    argv[0] = qemu
    if plugin:
        argv[1:1] = ["-plugin", ",".join(plugin)]
    limit = emu.timeout if timeout is None else timeout
    # timeout(1) kills the whole emulator even if it ignores SIGTERM (-k), and gives 124/137.
    cmd = ["timeout", "-k", "2", str(limit), *argv]
    proc = subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace")
    out, err = proc.stdout, proc.stderr
    what = f"{t.name}: {Path(elf).name} under {emu.command[0]}"
    if proc.returncode in HANG_CODES:
        raise EmulatorTimeoutError(
            f"{what} did not finish in {limit:g} s (exit {proc.returncode}): it hung or is far too slow",
            hint="Look for an endless loop, or raise the timeout",
        )
    tail = (out + err).strip()[-2000:]
    if "sparsec:" in tail and "fault" in tail and proc.returncode == EXIT_FAULT:
        raise EmulatorFaultError(f"{what} crashed: {tail}")
    if proc.returncode < 0 or proc.returncode > 128 or "qemu: fatal" in tail or "Lockup" in tail:
        raise EmulatorFaultError(f"{what} crashed (exit {proc.returncode}): {tail}")
    return RunResult(proc.returncode, out, err)


# --------------------------------------------------------------------------- instruction counts


def plugin_path() -> Path:
    """The instruction-counting TCG plugin, built with the host gcc once per source version."""
    source = targets_dir() / "qemu" / "insn_count.c"
    cc = _need("gcc", "gcc", "host C compiler", ToolchainError)
    key = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    final = cache_dir() / "emulate" / "plugins" / f"insn_count-{key}.so"
    if final.is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent) as work:
        out = Path(work) / final.name
        cmd = [cc, "-std=c99", "-O2", "-shared", "-fPIC", *STRICT_WARNINGS, str(source), "-o", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"the instruction-count plugin failed to build:\n{proc.stderr.strip()[-4000:]}")
        os.replace(out, final)
    return final


def symbols(target: Target | str, elf: str | Path) -> dict[str, tuple[int, int]]:
    """Function symbols of `elf`: name -> (start, end) addresses (Thumb bit cleared)."""
    t = _as_target(target)
    proc = subprocess.run([_tool(t, "nm"), "-S", str(elf)], capture_output=True, text=True, check=True)
    found = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTwW":
            start = int(parts[0], 16) & ~1  # Thumb functions have bit 0 set in their symbol
            found[parts[3]] = (start, start + int(parts[1], 16))
    return found


@dataclass(frozen=True)
class Counts:
    """Exact instruction counts of one emulator run."""

    total: int
    #: symbol -> (instructions executed inside it, calls)
    functions: dict[str, tuple[int, int]]
    returncode: int
    #: symbol -> instructions of its calls including the functions they called (when a caller was given)
    inclusive: dict[str, int] = field(default_factory=dict)

    def per_call(self, symbol: str, *, inclusive: bool = False) -> float:
        """Instructions per call: inside the function, or with its callees (soft-float helpers)."""
        insns, calls = self.functions[symbol]
        if calls == 0:
            raise EmulationError(f"{symbol} was never called")
        return (self.inclusive[symbol] if inclusive else insns) / calls


def count_instructions(
    target: Target | str,
    elf: str | Path,
    functions: Sequence[str] = (),
    *,
    caller: str | None = None,
    cwd: str | Path | None = None,
    timeout: float | None = None,
) -> Counts:
    """Run `elf` under the counting plugin: total instructions and those inside `functions`.

    With `caller` (the function that calls them), each call is also counted inclusively: from
    the function's entry until control is back in `caller`.
    """
    t = _as_target(target)
    table = symbols(t, elf)
    missing = [f for f in [*functions, *([caller] if caller else [])] if f not in table]
    if missing:
        raise SparsecError(f"{Path(elf).name} has no function {', '.join(missing)}")
    back = f":{table[caller][0]:x}:{table[caller][1]:x}" if caller else ""
    with tempfile.TemporaryDirectory() as work:
        report = Path(work) / "counts.txt"
        args = [str(plugin_path()), f"out={report}"]
        args += [f"range={f}:{table[f][0]:x}:{table[f][1]:x}{back}" for f in functions]
        result = run(t, elf, cwd=cwd, timeout=timeout, plugin=args)
        lines = report.read_text().split("\n")
    total = int(lines[0].split()[1])
    found, inclusive = {}, {}
    for line in lines[1:]:
        if line:
            _, name, insns, calls, incl = line.split()
            found[name] = (int(insns), int(calls))
            if incl != "-":
                inclusive[name] = int(incl)
    return Counts(total, found, result.returncode, inclusive)


# --------------------------------------------------------------------------- kernel runner

_PROTOTYPE = re.compile(r"\bvoid\s+(sparsec_\w+)\s*\(([^;{)]*)\)\s*;")
NULL_OFFSET = 0xFFFFFFFF
MAGIC_REQUEST = 0x51525053
MAGIC_DONE = 0x454E4F44
GUARD = 16  # bytes of known pattern on each side of every output, checked after the call
_GUARD_BYTES = bytes([0xA5]) * GUARD
_SENTINEL = np.array(0x7FC0DEAD, np.uint32).view(np.float32)  # a NaN: an output the kernel never wrote stays NaN


def kernel_prototypes() -> dict[str, list[str]]:
    """Parameter types of every kernel declared in sparsec/kernels.h, by function name."""
    text = (csrc_dir() / "include" / "sparsec" / "kernels.h").read_text()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    found = {}
    for name, params in _PROTOTYPE.findall(text):
        types = []
        for p in params.split(","):
            p = " ".join(p.split())
            types.append(re.sub(r"\s*\b\w+$", "", p).replace(" *", "*").replace("*", " *"))
        found[name] = types
    return found


def _uses_libm(source: Path) -> bool:
    return "#include <math.h>" in source.read_text()


@dataclass
class Runner:
    """The kernel-runner program of one (target, ISA)."""

    target: Target
    isa: str
    elf: Path
    ids: dict[str, int]  # C function -> dispatch id
    prototypes: dict[str, list[str]]
    unavailable: dict[str, str]  # family -> why it is not in this runner


def _families(isa: str) -> list[str]:
    """Families with a kernel for `isa` (sparsec.kernels refuses the others)."""
    return [f for f, k in KERNELS.items() if isa in k.isas]


def build_runner(target: Target | str, isa: str) -> Runner:
    t = _as_target(target)
    emu = _emulator_spec(t)
    csrc = csrc_dir()
    protos = kernel_prototypes()
    unavailable, functions, sources = {}, {}, set()
    for family in _families(isa):
        kern = KERNELS[family]
        source = csrc / kern.file(isa)
        if kern.function(isa) not in protos:
            unavailable[family] = f"{kern.function(isa)} is not declared in sparsec/kernels.h"
        elif not t.libc and _uses_libm(source):
            unavailable[family] = (
                f"{kern.file(isa)} needs the C math library, and {t.name}'s toolchain ({t.cc_package}) has none"
            )
        else:
            functions[kern.function(isa)] = protos[kern.function(isa)]
            sources.add(source)
    ids = {fn: i for i, fn in enumerate(sorted(functions))}
    work = cache_dir() / "emulate" / t.name / "runner-src"
    work.mkdir(parents=True, exist_ok=True)
    calls = work / f"calls-{isa}.c"
    text = _dispatch_source(ids, functions, f"{t.name} {isa}")
    if not calls.is_file() or calls.read_text() != text:
        tmp = calls.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, calls)
    runner_dir = targets_dir() / "runner"
    elf = build(
        t,
        [runner_dir / "runner.c", calls, *sorted(sources)],
        include_dirs=[csrc / "include", runner_dir],
        cflags=[*t.isa_cflags.get(isa, ()), f"-DSPARSEC_ARENA_BYTES={emu.arena}u"],
        name=f"kernel-runner-{isa}",
    )
    return Runner(t, isa, elf, ids, functions, unavailable)


def _dispatch_source(ids: dict[str, int], functions: dict[str, list[str]], what: str) -> str:
    lines = [
        f"/* Kernel dispatch for {what}, generated by sparsec.emulate from sparsec/kernels.h. */",
        "#include <sparsec/kernels.h>",
        "",
        '#include "runner.h"',
        "",
        "static float f32(uint32_t bits) {",
        "  union {",
        "    uint32_t u;",
        "    float f;",
        "  } v;",
        "  v.u = bits;",
        "  return v.f;",
        "}",
        "",
        "static void *ptr(unsigned char *arena, uint32_t offset) {",
        "  return offset == 0xFFFFFFFFu ? NULL : arena + offset;",
        "}",
        "",
        "int sparsec_runner_call(uint32_t id, const uint32_t *a, uint32_t nargs, unsigned char *arena) {",
        "  switch (id) {",
    ]
    for fn, i in ids.items():
        args = []
        for j, ctype in enumerate(functions[fn]):
            if "*" in ctype:
                args.append(f"({ctype})ptr(arena, a[{j}])")
            elif ctype == "float":
                args.append(f"f32(a[{j}])")
            else:
                args.append(f"({ctype})a[{j}]")
        lines += [
            f"  case {i}:",
            f"    if (nargs != {len(args)}u) {{",
            "      return -1;",
            "    }",
            f"    {fn}({', '.join(args)});",
            "    return 0;",
        ]
    lines += ["  default:", "    return -1;", "  }", "}", ""]
    return "\n".join(lines)


@dataclass
class _Call:
    function: str
    isa: str
    words: list[int]  # dispatch id, then the argument words
    loads: list[tuple[int, bytes]]  # (arena offset, bytes) written before the call
    store: tuple[int, int]  # (arena offset, bytes): the output with its guards, read after it
    out: np.ndarray  # where the result goes
    what: str
    result: np.ndarray | None = None  # a copy of what the kernel stored, once run


@dataclass
class Batch:
    """Calls queued by `EmulatedKernels.batch()`; after the block, `counts` has their
    instruction counts when counting was asked for."""

    count: bool = False
    calls: list[_Call] = field(default_factory=list)
    counts: Counts | None = None

    @property
    def results(self) -> list[np.ndarray | None]:
        """Each queued call's output (a copy, in call order), once the block has ended."""
        return [c.result for c in self.calls]


class EmulatedKernels:
    """`sparsec.kernels` run on an emulated target: same functions, same signatures.

    `isa=` picks the kernel variant as in sparsec.kernels (default "scalar"); a family with
    no kernel for that ISA raises ValueError as there. Inputs are validated by sparsec.kernels
    itself, so errors read the same. Calls outside `batch()` run at once (one emulator run
    each); inside it, results appear when the block ends.

    Each call's arrays keep their address modulo 16 (unaligned stays unaligned) and their
    aliasing (in place stays in place); an output starts as NaN, so an element the kernel
    never writes shows, and it sits between guard bytes that must come back unchanged.
    """

    def __init__(self, target: Target | str) -> None:
        self.target = _as_target(target)
        self._runners: dict[str, Runner] = {}
        self._batch: Batch | None = None

    # -- public kernel API (mirrors sparsec.kernels) -------------------------------------

    def gemm(self, x, w, bias=None, ymin=-np.inf, ymax=np.inf, out=None, isa="scalar"):
        y = _host().gemm(x, w, bias, ymin, ymax)  # sparsec.kernels' checks; its result gives the shape
        m, k = x.shape
        fn = self._function("gemm", "f32-gemm", isa)
        args = [m, w.shape[0], k, x, w, bias, _Out(y.shape), _f(ymin), _f(ymax)]
        return self._call(fn, isa, args, out, f"gemm m={m} n={w.shape[0]} k={k}")

    def spmm(self, x, indptr, indices, values, bias=None, ymin=-np.inf, ymax=np.inf, out=None, isa="scalar"):
        y = _host().spmm(x, indptr, indices, values, bias, ymin, ymax)
        m, k = x.shape
        n = indptr.shape[0] - 1
        fn = self._function("spmm", SPMM_FAMILY[np.dtype(indices.dtype).name], isa)
        args = [m, n, k, x, indptr, indices, values, bias, _Out(y.shape), _f(ymin), _f(ymax)]
        return self._call(fn, isa, args, out, f"spmm_{indices.dtype} m={m} n={n} k={k} nnz={indices.size}")

    def vbias(self, x, bias, ymin=-np.inf, ymax=np.inf, out=None, isa="scalar"):
        _host().vbias(x, bias, ymin, ymax)
        m, n = x.shape
        fn = self._function("vbias", "f32-vbias", isa)
        args = [m, n, x, bias, _Out(x.shape, x), _f(ymin), _f(ymax)]
        return self._call(fn, isa, args, out, f"vbias m={m} n={n}")

    def vadd(self, a, b, ymin=-np.inf, ymax=np.inf, out=None, isa="scalar"):
        _host().vadd(a, b, ymin, ymax)
        fn = self._function("vadd", "f32-vadd", isa)
        args = [a.size, a, b, _Out(a.shape, a, b), _f(ymin), _f(ymax)]
        return self._call(fn, isa, args, out, f"vadd shape={a.shape}")

    def clamp(self, x, ymin, ymax, out=None, isa="scalar"):
        return self._clamp("clamp", x, ymin, ymax, out, isa)

    def relu(self, x, out=None, isa="scalar"):
        return self._clamp("relu", x, 0.0, np.inf, out, isa)

    def softmax(self, x, out=None, isa="scalar"):
        _host().softmax(x)
        m, n = x.shape
        fn = self._function("softmax", "f32-softmax", isa)
        return self._call(fn, isa, [m, n, x, _Out(x.shape, x)], out, f"softmax m={m} n={n}")

    def bspmm(
        self, x, indptr, indices, values, n, block=(8, 1), bias=None, ymin=-np.inf, ymax=np.inf, out=None, isa="scalar"
    ):
        y = _host().bspmm(x, indptr, indices, values, n, block, bias, ymin, ymax)
        m, k = x.shape
        shape = (int(block[0]), int(block[1]))
        fn = self._function("bspmm", BSPMM_FAMILY[shape, np.dtype(indices.dtype).name], isa)
        args = [m, int(n), k, x, indptr, indices, values, bias, _Out(y.shape), _f(ymin), _f(ymax)]
        what = f"bspmm {shape[0]}x{shape[1]} {indices.dtype} m={m} n={n} k={k} blocks={indices.size}"
        return self._call(fn, isa, args, out, what)

    def spconv2d(
        self,
        x,
        indptr,
        indices,
        values,
        kernel_shape,
        bias=None,
        strides=None,
        pads=None,
        dilations=None,
        ymin=-np.inf,
        ymax=np.inf,
        out=None,
        isa="scalar",
    ):
        y = _host().spconv2d(x, indptr, indices, values, kernel_shape, bias, strides, pads, dilations, ymin, ymax)
        fn = self._function("spconv2d", SPCONV_FAMILY[np.dtype(indices.dtype).name], isa)
        g = self._window(x.shape, y.shape, kernel_shape, strides, pads, dilations)
        args = [x.shape[0], x.shape[1], y.shape[1], g, x, indptr, indices, values, bias, _Out(y.shape)]
        return self._call(fn, isa, [*args, _f(ymin), _f(ymax)], out, f"spconv2d x={x.shape} y={y.shape}")

    def conv2d(
        self,
        x,
        w,
        bias=None,
        strides=None,
        pads=None,
        dilations=None,
        ymin=-np.inf,
        ymax=np.inf,
        out=None,
        isa="scalar",
    ):
        y = _host().conv2d(x, w, bias, strides, pads, dilations, ymin, ymax)
        fn = self._function("conv2d", "f32-conv", isa)
        g = self._window(x.shape, y.shape, w.shape[2:], strides, pads, dilations)
        args = [x.shape[0], x.shape[1], w.shape[0], g, x, w, bias, _Out(y.shape), _f(ymin), _f(ymax)]
        return self._call(fn, isa, args, out, f"conv2d x={x.shape} w={w.shape}")

    def dwconv2d(
        self,
        x,
        w,
        bias=None,
        strides=None,
        pads=None,
        dilations=None,
        ymin=-np.inf,
        ymax=np.inf,
        out=None,
        isa="scalar",
    ):
        y = _host().dwconv2d(x, w, bias, strides, pads, dilations, ymin, ymax)
        fn = self._function("dwconv2d", "f32-dwconv", isa)
        g = self._window(x.shape, y.shape, w.shape[2:], strides, pads, dilations)
        args = [x.shape[0], x.shape[1], g, x, w, bias, _Out(y.shape), _f(ymin), _f(ymax)]
        return self._call(fn, isa, args, out, f"dwconv2d x={x.shape} w={w.shape}")

    def maxpool2d(
        self, x, kernel_shape, strides=None, pads=None, dilations=None, ceil_mode=False, out=None, isa="scalar"
    ):
        y = _host().maxpool2d(x, kernel_shape, strides, pads, dilations, ceil_mode)
        fn = self._function("maxpool2d", "f32-maxpool", isa)
        g = self._window(x.shape, y.shape, kernel_shape, strides, pads, dilations)
        args = [x.shape[0], x.shape[1], g, x, _Out(y.shape)]
        return self._call(fn, isa, args, out, f"maxpool2d x={x.shape} y={y.shape}")

    def avgpool2d(
        self,
        x,
        kernel_shape,
        strides=None,
        pads=None,
        dilations=None,
        ceil_mode=False,
        count_include_pad=False,
        out=None,
        isa="scalar",
    ):
        y = _host().avgpool2d(x, kernel_shape, strides, pads, dilations, ceil_mode, count_include_pad)
        fn = self._function("avgpool2d", "f32-avgpool", isa)
        g = self._window(x.shape, y.shape, kernel_shape, strides, pads, dilations)
        args = [x.shape[0], x.shape[1], g, 1 if count_include_pad else 0, x, _Out(y.shape)]
        return self._call(fn, isa, args, out, f"avgpool2d x={x.shape} y={y.shape}")

    def global_avgpool(self, x, out=None, isa="scalar"):
        y = _host().global_avgpool(x)
        fn = self._function("global_avgpool", "f32-gavgpool", isa)
        args = [x.shape[0] * x.shape[1], x.shape[2] * x.shape[3], x, _Out(y.shape)]
        return self._call(fn, isa, args, out, f"global_avgpool x={x.shape}")

    def call(self, function: str, args: Sequence, out: np.ndarray, *, inplace: Sequence[np.ndarray] = ()):
        """Call any kernel declared in sparsec/kernels.h by its C name, with C-level arguments.

        `args` follow the prototype: ints for integer parameters (size_t, ...), Python floats for
        float ones, arrays for pointers (their bytes; a struct is an array of its bytes, with
        `size_t` fields of `self.size_t`), None for NULL and `OUT` for the output, which is
        `out` (float32, filled and returned). `inplace` lists inputs `out` may be exactly.
        For kernel families sparsec.kernels has no function for yet.
        """
        isa = function.rsplit("__", 1)[-1]
        runner = self.runner(isa)
        if function not in runner.prototypes:
            raise KernelUnavailableError(f"{function} is not in the {self.target.name} {isa} kernel runner")
        types = runner.prototypes[function]
        if len(args) != len(types):
            raise ValueError(f"{function} takes {len(types)} arguments, got {len(args)}")
        words = [
            _Out(out.shape, *inplace) if a is OUT else _f(a) if ctype == "float" else a for a, ctype in zip(args, types)
        ]
        return self._call(function, isa, words, out, function)

    @property
    def size_t(self) -> type:
        """The target's size_t as a NumPy type (for struct arguments of `call`)."""
        return np.uint64 if "aarch64" in self.target.cc else np.uint32

    def _window(self, x_shape, y_shape, kernel_shape, strides, pads, dilations) -> np.ndarray:
        """struct sparsec_window2d for arguments sparsec.kernels has already validated; the output
        size comes from its result (so ceil_mode needs no second implementation here)."""
        fields = [
            *x_shape[2:],
            *y_shape[2:],
            *kernel_shape,
            *(strides or (1, 1)),
            *(dilations or (1, 1)),
            *(pads or (0, 0, 0, 0)),
        ]
        return np.array([int(v) for v in fields], self.size_t)

    def _clamp(self, name, x, ymin, ymax, out, isa):
        getattr(_host(), name)(x, *((ymin, ymax) if name == "clamp" else ()))
        fn = self._function(name, "f32-clamp", isa)
        return self._call(fn, isa, [x.size, x, _Out(x.shape, x), _f(ymin), _f(ymax)], out, f"{name} n={x.size}")

    # -- batching ------------------------------------------------------------------------

    @contextmanager
    def batch(self, *, count: bool = False) -> Iterator[Batch]:
        """Queue the calls made inside the block; run them in one emulator session at its end.

        With count=True, `batch.counts` holds exact instruction counts: the total and, per
        kernel function called, (instructions inside it, calls).
        """
        if self._batch is not None:
            raise SparsecError("EmulatedKernels.batch() blocks do not nest")
        self._batch = Batch(count=count)
        try:
            yield self._batch
            queued = self._batch
        finally:
            self._batch = None
        self._execute(queued)

    def runner(self, isa: str = "scalar") -> Runner:
        if isa not in self._runners:
            self._runners[isa] = build_runner(self.target, isa)
        return self._runners[isa]

    # -- internals -------------------------------------------------------------------------

    def _function(self, kernel: str, family: str, isa: str) -> str:
        kern = KERNELS[family]
        if isa not in kern.isas:
            raise ValueError(f"{kernel}: no {isa!r} kernel for {family}; it has {', '.join(kern.isas)}")
        if isa not in self.target.isa:
            raise ValueError(f"{kernel}: target {self.target.name} does not run isa={isa!r}; it runs {self.target.isa}")
        runner = self.runner(isa)
        if family in runner.unavailable:
            raise KernelUnavailableError(f"{kernel} on {self.target.name}: {runner.unavailable[family]}")
        return kern.function(isa)

    def _call(self, fn: str, isa: str, args: list, out, what: str) -> np.ndarray:
        spec = next(a for a in args if isinstance(a, _Out))
        inputs = [a for a in args if isinstance(a, np.ndarray)]
        if out is None:
            out = np.empty(spec.shape, np.float32)
        else:
            _check_out(what.split()[0], out, spec, inputs)
        call = self._layout(fn, isa, args, out, what)
        if self._batch is not None:
            self._batch.calls.append(call)
        else:
            self._execute(Batch(calls=[call]))
        return out

    def _layout(self, fn: str, isa: str, args: list, out: np.ndarray, what: str) -> _Call:
        """Place the call's arrays in the runner's arena, keeping each pointer's offset modulo
        16 (an unaligned array stays unaligned) and aliasing (in place stays in place)."""
        runner = self.runner(isa)
        emu = _emulator_spec(self.target)
        arena = emu.arena
        placed: dict[tuple[int, int], int] = {}
        loads, words = [], []
        cursor = 0

        def place(a: np.ndarray, data: bytes) -> int:
            """Every array sits between two guards, so an in-place output is guarded too."""
            nonlocal cursor
            start = -(-(cursor + GUARD) // 16) * 16 + a.ctypes.data % 16
            cursor = start + a.nbytes + GUARD
            loads.append((start - GUARD, _GUARD_BYTES + data + _GUARD_BYTES))
            return start

        out_offset = 0
        for a in args:
            if isinstance(a, _Out):
                key = (out.ctypes.data, out.nbytes)
                if key in placed:  # in place: the kernel reads and writes the same bytes
                    out_offset = placed[key]
                else:
                    out_offset = place(out, np.full(out.size, _SENTINEL, np.float32).tobytes())
                words.append(out_offset)
            elif isinstance(a, np.ndarray):
                key = (a.ctypes.data, a.nbytes)
                if key not in placed:
                    placed[key] = place(a, np.ascontiguousarray(a).tobytes())
                words.append(placed[key])
            elif a is None:
                words.append(NULL_OFFSET)
            else:
                words.append(int(a))
        if cursor > arena:
            ram = f"{emu.memory.ram // 1024} KiB of RAM" if emu.memory else "its memory"
            raise DoesNotFitError(
                f"{what} needs {cursor} bytes for its arrays; the {self.target.name} kernel runner has a "
                f"{arena}-byte arena ({ram} on the emulated board, less stack and statics)"
            )
        if fn not in runner.ids:
            raise KernelUnavailableError(f"{fn} is not in the {self.target.name} {isa} runner")
        if len(words) != len(runner.prototypes[fn]):
            raise SparsecError(f"{fn}: {len(words)} arguments given, kernels.h declares {len(runner.prototypes[fn])}")
        store = (out_offset - GUARD, out.nbytes + 2 * GUARD)
        return _Call(fn, isa, [runner.ids[fn], *words], loads, store, out, what)

    def _execute(self, batch: Batch) -> None:
        if not batch.calls:
            return
        by_isa: dict[str, list[_Call]] = {}
        for c in batch.calls:
            by_isa.setdefault(c.isa, []).append(c)
        for isa, calls in by_isa.items():
            self._run_calls(self.runner(isa), calls, batch)

    def _run_calls(self, runner: Runner, calls: list[_Call], batch: Batch) -> None:
        request = bytearray(np.array([MAGIC_REQUEST, len(calls)], "<u4").tobytes())
        for c in calls:
            request += np.array([c.words[0], len(c.words) - 1, *c.words[1:], len(c.loads)], "<u4").tobytes()
            for offset, data in c.loads:
                request += np.array([offset, len(data)], "<u4").tobytes() + data
            request += np.array([1, *c.store], "<u4").tobytes()
        with tempfile.TemporaryDirectory(prefix="sparsec-run-") as work:
            (Path(work) / "sparsec-request.bin").write_bytes(request)
            if batch.count:
                names = sorted({c.function for c in calls})
                counts = count_instructions(self.target, runner.elf, names, caller="sparsec_runner_call", cwd=work)
                code, detail = counts.returncode, ""
                if batch.counts is not None:  # one run per ISA: add them up
                    before = batch.counts
                    counts = Counts(
                        before.total + counts.total,
                        before.functions | counts.functions,
                        code,
                        before.inclusive | counts.inclusive,
                    )
                batch.counts = counts
            else:
                result = run(self.target, runner.elf, cwd=work)
                code, detail = result.returncode, (result.stdout + result.stderr).strip()[-1000:]
            reply_path = Path(work) / "sparsec-reply.bin"
            reply = reply_path.read_bytes() if reply_path.is_file() else b""
        if code != 0:
            raise EmulationError(f"{self.target.name} kernel runner ({runner.isa}) exited {code}: {detail}")
        expect_done = np.array([MAGIC_DONE, len(calls)], "<u4").tobytes()
        if not reply.endswith(expect_done):
            raise EmulationError(f"{self.target.name} kernel runner ({runner.isa}) wrote an incomplete reply")
        pos = 0
        for c in calls:
            nbytes = c.store[1]
            chunk = reply[pos : pos + nbytes]
            pos += nbytes
            if chunk[:GUARD] != _GUARD_BYTES or chunk[-GUARD:] != _GUARD_BYTES:
                raise EmulationError(f"{c.function} ({c.what}) on {self.target.name} wrote outside its output array")
            c.result = np.frombuffer(chunk[GUARD:-GUARD], np.float32).reshape(c.out.shape).copy()
            c.out[...] = c.result


#: The output argument of `EmulatedKernels.call`.
OUT = object()


@dataclass(frozen=True)
class _Out:
    """The output argument; `inplace` lists the inputs it may be exactly (same array)."""

    shape: tuple[int, ...]
    inplace: tuple[np.ndarray, ...] = ()

    def __init__(self, shape: tuple[int, ...], *inplace: np.ndarray) -> None:
        object.__setattr__(self, "shape", tuple(shape))
        object.__setattr__(self, "inplace", inplace)


def _host():
    """sparsec.kernels (imported late: this module also works before the extension is built)."""
    from . import kernels

    return kernels


def _f(value: float) -> int:
    """A clamp bound as the bits of its float32 (the runner passes floats as words)."""
    return int(np.array(value, np.float32).view(np.uint32))


def _check_out(kernel: str, out, spec: _Out, inputs: list[np.ndarray]) -> None:
    """sparsec.kernels' rules for `out`: float32, C-contiguous, the result's shape, writable,
    and no overlap with an input except being exactly an input the kernel may work in place on."""
    if not isinstance(out, np.ndarray) or out.dtype != np.float32:
        raise TypeError(f"{kernel}: out must have dtype float32")
    if out.shape != spec.shape:
        raise ValueError(f"{kernel}: out must have shape {spec.shape}, got {out.shape}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"{kernel}: out must be C-contiguous and writable")
    for a in inputs:
        if out.nbytes and a.nbytes and np.shares_memory(out, a):
            same = out.ctypes.data == a.ctypes.data and out.nbytes == a.nbytes
            if not (same and any(a is b for b in spec.inplace)):
                raise ValueError(f"{kernel}: out must not share memory with an input (other than in-place)")
