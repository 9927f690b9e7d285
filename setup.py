"""Build the Cython extensions against the portable C kernels in csrc/.

`sparsec.kernels` links the scalar kernels directly (tests and NumPy-level API);
`sparsec.runtime` loads generated models with dlopen.  csrc/ is also copied into
the package as `sparsec/_csrc` so code generation can copy kernels into projects.
"""

import platform
import shutil
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent
CSRC = ROOT / "csrc"
SCALAR_KERNELS = sorted(str(p.relative_to(ROOT)) for p in CSRC.glob("*/*-scalar.c"))
# AVX2+FMA kernels are built only for x86-64; sparsec.kernels checks the CPU before calling them.
X86_64 = platform.machine().lower() in ("x86_64", "amd64")
AVX2_KERNELS = sorted(str(p.relative_to(ROOT)) for p in CSRC.glob("*/*-avx2.c")) if X86_64 else []
# The kernels are held to the same bar as generated code: strict C99, no warnings.
KERNEL_CFLAGS = ["-std=c99", "-O2", "-fPIC", "-Wall", "-Wextra", "-Werror", "-pedantic"]
KERNEL_LIBRARIES = [
    ("sparsec_kernels", {"sources": SCALAR_KERNELS, "include_dirs": [str(CSRC / "include")], "cflags": KERNEL_CFLAGS})
]
if AVX2_KERNELS:
    # A separate library: only these objects may contain AVX2 instructions.
    KERNEL_LIBRARIES.append(
        (
            "sparsec_kernels_avx2",
            {
                "sources": AVX2_KERNELS,
                "include_dirs": [str(CSRC / "include")],
                "cflags": [*KERNEL_CFLAGS, "-mavx2", "-mfma"],
            },
        )
    )


class BuildPyWithCsrc(build_py):
    """Ship csrc/ and targets/ inside the package for non-editable installs."""

    def run(self) -> None:
        super().run()
        for src, name in ((CSRC, "_csrc"), (ROOT / "targets", "_targets")):
            target = Path(self.build_lib) / "sparsec" / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(src, target)


class BuildExtWithKernels(build_ext):
    """Build the kernel library first: plain build_ext (and editable installs) skip build_clib."""

    def run(self) -> None:
        self.run_command("build_clib")
        super().run()


extensions = [
    Extension(
        "sparsec.kernels",
        ["sparsec/kernels.pyx"],
        include_dirs=[str(CSRC / "include"), numpy.get_include()],
        libraries=[name for name, _ in KERNEL_LIBRARIES] + ["m"],
        depends=[*SCALAR_KERNELS, *AVX2_KERNELS, "csrc/include/sparsec/kernels.h"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    ),
    Extension(
        "sparsec.runtime",
        ["sparsec/runtime.pyx"],
        include_dirs=[numpy.get_include()],
        extra_compile_args=["-O2"],
        libraries=["dl"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    ),
]

setup(
    libraries=KERNEL_LIBRARIES,
    ext_modules=cythonize(extensions, language_level=3),
    cmdclass={"build_py": BuildPyWithCsrc, "build_ext": BuildExtWithKernels},
)
