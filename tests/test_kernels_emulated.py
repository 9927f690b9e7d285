"""The kernel edge cases of tests/kernel_cases.py on emulated targets, and the harness itself.

For every emulated target and every case, the kernel ISA is the one code generation would pick
for that target (Kernel.isa_for of the target's first ISA): NEON kernels on aarch64-neon,
armv7em on cortex-m4f as soon as the kernel table lists them, and the portable scalar set on
cortex-m3, cortex-m0plus and riscv32 (and for families without a SIMD kernel). SIMD-only cases
run only where a SIMD ISA is picked.

How: the cases run twice. The first pass, per target, calls the host scalar kernels (so the
case's own checks see sane values) while queueing the same calls, with the same bytes,
alignment and aliasing, on sparsec.emulate.EmulatedKernels; all of a target's calls then run in
one emulator session. The second pass, per test, replays the emulated outputs into the case, so
every assertion is made on what the target computed.

Tolerances are those of the host tests, also on the soft-float cores (M0+, M3, rv32): libgcc's
soft-float is IEEE-754 binary32 with round-to-nearest, so the float32 bounds hold
(rtol 1e-5, atol 1e-5 per accumulated term; clamp, relu, vadd and vbias exact).
Calls whose arrays do not fit the target's RAM (cortex-m0plus: 16 KiB) skip, naming the limit.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kernel_cases
from sparsec import emulate, kernels
from sparsec.codegen.kernels import KERNELS
from sparsec.errors import SparsecError, ToolchainError
from sparsec.targets import load_target

EMULATED_TARGETS = ["aarch64-neon", "cortex-m4f", "cortex-m3", "cortex-m0plus", "riscv32"]
F32 = np.float32


@functools.cache
def _tools_missing(target: str) -> str | None:
    """Why `target` cannot build or run here (naming the Debian package), or None."""
    t = load_target(target)
    try:
        emulate.compiler(t)
        emulate.emulator(t)
    except ToolchainError as e:
        return str(e)
    return None


# --------------------------------------------------------------------------- record / replay


def _digest(name: str, args: tuple, kw: dict) -> str:
    """What a call computes from: kernel, argument values and bytes (not addresses)."""
    h = hashlib.sha256(name.encode())
    for key, v in [*enumerate(args), *sorted(kw.items())]:
        h.update(str(key).encode())
        if isinstance(v, np.ndarray):
            h.update(f"{v.dtype}{v.shape}".encode() + np.ascontiguousarray(v).tobytes())
        else:
            h.update(repr(v).encode())
    return h.hexdigest()


class _Skip(Exception):
    pass


class _Recorder:
    """Pass 1: queue each call on the emulator, answer it with the host scalar kernel."""

    def __init__(self, emu: emulate.EmulatedKernels, batch: emulate.Batch, isa: str) -> None:
        self.isa = isa
        self.calls: list[tuple[str, int]] = []  # (digest, index in batch.calls)
        self._emu, self._batch = emu, batch

    def __getattr__(self, name: str) -> Callable:
        def call(*args: Any, **kw: Any) -> np.ndarray:
            digest = _digest(name, args, kw)
            index = len(self._batch.calls)
            try:
                getattr(self._emu, name)(*args, isa=self.isa, **kw)
            except (emulate.DoesNotFitError, emulate.KernelUnavailableError) as e:
                raise _Skip(str(e)) from e
            self.calls.append((digest, index))
            return getattr(kernels, name)(*args, isa="scalar", **kw)

        return call


class _Replayer:
    """Pass 2: answer each call with what the target computed for it."""

    def __init__(self, isa: str, results: list[tuple[str, np.ndarray]]) -> None:
        self.isa = isa
        self._results = iter(results)

    def __getattr__(self, name: str) -> Callable:
        def call(*args: Any, **kw: Any) -> np.ndarray:
            digest, result = next(self._results, ("<no more recorded calls>", None))
            assert digest == _digest(name, args, kw), f"{name}: the case made other calls than when recorded"
            out = kw.get("out")
            if out is None:
                return result.copy()
            out[...] = result
            return out

        return call


def _plan(target: str) -> list[tuple[str, kernel_cases.Case, str, dict]]:
    """(isa, case, id, params) of every case that runs on `target`."""
    first = load_target(target).isa[0]
    items = []
    for case in kernel_cases.CASES:
        isa = KERNELS[case.family].isa_for(first)
        if case.simd and isa == "scalar":
            continue
        items += [(isa, case, pid, params) for pid, params in case.grid()]
    return items


_RECORDINGS: dict[str, dict[tuple[str, str], Any]] = {}


def _recording(target: str) -> dict[tuple[str, str], Any]:
    """Per (case, id): the replay list, a skip reason (str) or the error the recording hit."""
    if target in _RECORDINGS:
        return _RECORDINGS[target]
    emu = emulate.EmulatedKernels(target)
    pending: dict[tuple[str, str], Any] = {}
    try:
        with emu.batch() as batch:
            for isa, case, pid, params in _plan(target):
                rec = _Recorder(emu, batch, isa)
                try:
                    case(rec, **params)
                    pending[case.name, pid] = rec
                except _Skip as e:
                    pending[case.name, pid] = str(e)
                except Exception as e:  # noqa: BLE001 - reported by the case's own test
                    pending[case.name, pid] = e
    except SparsecError as e:  # the emulator run failed: every case of the target reports it
        _RECORDINGS[target] = {key: e for key in pending}
        return _RECORDINGS[target]
    results = batch.results
    _RECORDINGS[target] = {
        key: [(d, results[i]) for d, i in v.calls] if isinstance(v, _Recorder) else v for key, v in pending.items()
    }
    return _RECORDINGS[target]


CASE_ITEMS = [
    pytest.param(target, isa, case, pid, params, id=f"{target}-{isa}-{case.name}" + (f"[{pid}]" if pid else ""))
    for target in EMULATED_TARGETS
    for isa, case, pid, params in _plan(target)
]


@pytest.mark.parametrize("target,isa,case,pid,params", CASE_ITEMS)
def test_kernel_case(target: str, isa: str, case: kernel_cases.Case, pid: str, params: dict) -> None:
    missing = _tools_missing(target)
    if missing:
        pytest.skip(missing)
    outcome = _recording(target)[case.name, pid]
    if isinstance(outcome, str):
        pytest.skip(outcome)
    if isinstance(outcome, BaseException):  # shared by many tests: report, don't re-raise one object
        pytest.fail(f"{type(outcome).__name__}: {outcome}", pytrace=False)
    case(_Replayer(isa, outcome), **params)


def test_every_emulated_isa_of_the_kernel_table_is_covered() -> None:
    """A SIMD ISA in the kernel table runs on the target that lists it (neon, armv7em)."""
    covered = {isa for target in EMULATED_TARGETS for isa, *_ in _plan(target)}
    listed = {isa for target in EMULATED_TARGETS for isa in load_target(target).isa}
    in_table = {isa for kern in KERNELS.values() for isa in kern.isas}
    assert (in_table & listed) <= covered, f"not covered: {(in_table & listed) - covered}"
    assert "scalar" in covered


# --------------------------------------------------------------------------- the harness


def _require(target: str) -> None:
    missing = _tools_missing(target)
    if missing:
        pytest.skip(missing)


def _program(tmp_path: Path, text: str, suffix: str = ".c") -> Path:
    path = tmp_path / f"prog{suffix}"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize("target", EMULATED_TARGETS)
def test_exit_code_passes_through(target: str, tmp_path: Path) -> None:
    _require(target)
    for code in (0, 42):
        src = _program(tmp_path, f"int main(void);\nint main(void) {{ return {code}; }}\n")
        elf = emulate.build(target, [src], name=f"exit{code}")
        assert emulate.run(target, elf).returncode == code


@pytest.mark.parametrize("target", EMULATED_TARGETS)
def test_a_crash_is_a_clear_error_not_a_hang(target: str, tmp_path: Path) -> None:
    _require(target)
    src = _program(tmp_path, "int main(void);\nint main(void) {\n  __builtin_trap();\n}\n")
    elf = emulate.build(target, [src], name="trap")
    with pytest.raises(emulate.EmulatorFaultError, match=f"{target}: trap.elf .* crashed"):
        emulate.run(target, elf, timeout=20)


def test_a_hang_is_a_timeout_error(tmp_path: Path) -> None:
    _require("cortex-m3")
    src = _program(tmp_path, "int main(void);\nint main(void) {\n  for (;;) {\n  }\n}\n")
    elf = emulate.build("cortex-m3", [src], name="hang")
    with pytest.raises(emulate.EmulatorTimeoutError, match="did not finish in 1 s"):
        emulate.run("cortex-m3", elf, timeout=1)


def test_missing_emulator_or_compiler_names_the_debian_package(tmp_path: Path) -> None:
    t = load_target("cortex-m4f")
    gone = dataclasses.replace(t.emulator, command=("qemu-system-arm-not-installed", *t.emulator.command[1:]))
    with pytest.raises(emulate.EmulatorNotFoundError, match="apt-get install qemu-system-arm"):
        emulate.run(dataclasses.replace(t, emulator=gone), tmp_path / "x.elf")
    no_cc = dataclasses.replace(load_target("riscv32"), cc="riscv64-unknown-elf-gcc-not-installed")
    with pytest.raises(ToolchainError, match="apt-get install gcc-riscv64-unknown-elf"):
        emulate.build(no_cc, [_program(tmp_path, "int main(void);\nint main(void) { return 0; }\n")])


# spin(n) runs exactly 2n + 1 instructions: n times (decrement, branch), then return.
SPIN_ASM = """\
#if defined(__aarch64__)
  .text
  .global spin
  .type spin, %function
spin:
1: subs x0, x0, #1
  b.ne 1b
  ret
#elif defined(__arm__)
  .syntax unified
  .thumb
  .text
  .global spin
  .type spin, %function
  .thumb_func
spin:
1: subs r0, r0, #1
  bne 1b
  bx lr
#elif defined(__riscv)
  .text
  .global spin
  .type spin, @function
spin:
1: addi a0, a0, -1
  bnez a0, 1b
  ret
#endif
  .size spin, . - spin
"""
SPIN_MAIN = """\
unsigned long spin(unsigned long n);
int main(void);
static volatile unsigned long spins = SPINS;

int main(void) {
  spin(spins);
  spin(spins);
  spin(spins);
  return 0;
}
"""


@pytest.mark.parametrize("target", EMULATED_TARGETS)
def test_instruction_counter_is_exact_on_a_known_loop(target: str, tmp_path: Path) -> None:
    _require(target)
    asm, main = _program(tmp_path, SPIN_ASM, ".S"), _program(tmp_path, SPIN_MAIN)
    totals = {}
    for spins in (10, 1000):
        # Names of one length: the C library's start-up on aarch64 reads the program's path.
        elf = emulate.build(target, [main, asm], cflags=[f"-DSPINS={spins}ul"], name=f"spin{spins:04d}")
        counts = emulate.count_instructions(target, elf, ["spin"], caller="main")
        assert counts.returncode == 0
        assert counts.functions["spin"] == (3 * (2 * spins + 1), 3), f"{target} spins={spins}"
        assert counts.per_call("spin") == counts.per_call("spin", inclusive=True) == 2 * spins + 1
        totals[spins] = counts.total
    # Same code, only the data differs: the whole program runs exactly 3 * 2 * 990 more.
    assert totals[1000] - totals[10] == 3 * 2 * 990


@pytest.mark.parametrize("target", ["cortex-m4f", "cortex-m0plus"])
def test_kernel_instruction_counts_are_exact_and_linear(target: str) -> None:
    """A clamp over n elements costs a + b*n instructions: the counts must lie on one line.

    On the M4F (FPU) the kernel calls nothing, so the inclusive count equals its own; on the
    M0+ every float comparison is a libgcc call, so the inclusive count is larger.
    """
    _require(target)
    emu = emulate.EmulatedKernels(target)
    fn = KERNELS["f32-clamp"].function("scalar")
    own, inclusive = {}, {}
    for n in (64, 128, 192):
        x = np.tile(np.array([-2.0, -0.5, 0.5, 2.0], F32), n // 4)  # same work per 4 elements
        with emu.batch(count=True) as batch:
            y = emu.clamp(x, -1.0, 1.0)
            emu.clamp(x, -1.0, 1.0)
        np.testing.assert_array_equal(y, np.clip(x, -1.0, 1.0))
        assert batch.counts.functions[fn][1] == 2
        own[n], inclusive[n] = batch.counts.per_call(fn), batch.counts.per_call(fn, inclusive=True)
    for counts in (own, inclusive):
        assert counts[192] - counts[128] == counts[128] - counts[64] > 0, counts
    if target == "cortex-m4f":
        assert inclusive == own
    else:
        assert inclusive[64] > own[64] + 64, "each element costs at least one soft-float call"


def test_call_that_does_not_fit_names_the_ram_limit() -> None:
    _require("cortex-m0plus")
    emu = emulate.EmulatedKernels("cortex-m0plus")
    x, w = np.ones((4, 512), F32), np.ones((8, 512), F32)
    with pytest.raises(emulate.DoesNotFitError, match="16 KiB of RAM"):
        emu.gemm(x, w)


def test_kernel_needing_libm_is_unavailable_without_a_c_library(monkeypatch: pytest.MonkeyPatch) -> None:
    """riscv32 has no C library: a kernel source that includes <math.h> is left out of its
    runner with a reason (today's kernels need none, so one is made to look as if it did)."""
    _require("riscv32")
    softmax = KERNELS["f32-softmax"].file("scalar")
    monkeypatch.setattr(emulate, "_uses_libm", lambda source: source.name == Path(softmax).name)
    with pytest.raises(emulate.KernelUnavailableError, match="softmax on riscv32: .*math library"):
        emulate.EmulatedKernels("riscv32").softmax(np.ones((1, 3), F32))


def test_bad_input_raises_as_sparsec_kernels_does() -> None:
    emu = emulate.EmulatedKernels("cortex-m3")
    with pytest.raises(TypeError, match="^gemm: x must have dtype float32"):
        emu.gemm(np.ones((2, 3)), np.ones((4, 3), F32))
    with pytest.raises(ValueError, match="no 'avx2' kernel|does not run isa='avx2'"):
        emu.clamp(np.ones(3, F32), 0.0, 1.0, isa="avx2")


def test_targets_load_with_their_emulators() -> None:
    expect = {
        "aarch64-neon": (("neon", "scalar"), "qemu-aarch64", "qemu-user"),
        "cortex-m4f": (("armv7em", "scalar"), "qemu-system-arm", "qemu-system-arm"),
        "cortex-m3": (("scalar",), "qemu-system-arm", "qemu-system-arm"),
        "cortex-m0plus": (("scalar",), "qemu-system-arm", "qemu-system-arm"),
        "riscv32": (("scalar",), "qemu-system-riscv32", "qemu-system-misc"),
    }
    for name, (isa, binary, package) in expect.items():
        t = load_target(name)
        assert (t.isa, t.emulator.command[0], t.emulator.package) == (isa, binary, package), name
        assert t.board is not None and t.board.ram, name
        assert t.emulator.arena < (t.emulator.memory.ram if t.emulator.memory else 1 << 40), name
    assert load_target("cortex-m4f").float_abi == "hard" and load_target("cortex-m0plus").float_abi == "soft"
    assert load_target("host").emulator is None


def test_any_kernel_by_its_c_name() -> None:
    """EmulatedKernels.call reaches kernels sparsec.kernels has no function for."""
    _require("cortex-m3")
    emu = emulate.EmulatedKernels("cortex-m3")
    rng = np.random.default_rng(11)
    x, w = kernel_cases.rand(rng, 3, 7), kernel_cases.rand(rng, 5, 7)
    y = np.empty((3, 5), F32)
    fn = KERNELS["f32-gemm"].function("scalar")
    got = emu.call(fn, [3, 5, 7, x, w, None, emulate.OUT, 0.0, float("inf")], y)
    assert got is y
    kernel_cases.assert_close(y, kernel_cases.matmul_ref(x, w, None, 0.0, float("inf")), 7, "gemm by name")
    assert emu.size_t is np.uint32 and emulate.EmulatedKernels("aarch64-neon").size_t is np.uint64


def test_target_file_with_an_unknown_key_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sparsec import targets

    odd = 'isa = ["scalar"]\n[emulator]\ncommand = ["qemu-arm"]\npackage = "x"\nspeed = 3\n'
    (tmp_path / "odd.toml").write_text(odd)
    monkeypatch.setattr(targets, "targets_dir", lambda: tmp_path)
    with pytest.raises(SparsecError, match=r"\[emulator\] in odd.toml: .*speed"):
        load_target("odd")
