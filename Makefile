# sparsec — two entry points that work on a fresh machine:
#   make demo   venv + install, compile the digits example at 90% sparsity, run and validate it
#   make test   system deps (as root), venv + dev install, the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sparsec-installed
SOURCES := pyproject.toml setup.py $(wildcard sparsec/*.pyx) $(wildcard csrc/*/*.c) $(wildcard csrc/include/sparsec/*.h)
# One thread everywhere: the machines are shared and results must be repeatable.
export OMP_NUM_THREADS = 1
export OPENBLAS_NUM_THREADS = 1
export MKL_NUM_THREADS = 1

.PHONY: demo test install deps-system clean

demo: $(STAMP)
	$(PY) examples/digits_mlp/demo.py

test: deps-system $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider

install: $(STAMP)

$(STAMP): $(SOURCES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

# The tests compile generated C with gcc and clang (warnings as errors) and
# under ASan/UBSan, and run the kernels on Arm and RISC-V targets under QEMU
# (cross compilers + emulators). As root, install what is missing; otherwise
# tests that need a missing tool say so (naming the package) when they skip.
SYSTEM_PACKAGES := clang make gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm qemu-user \
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-riscv64-unknown-elf qemu-system-misc
deps-system:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ]; then \
		echo "installing (Debian):" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	elif [ -n "$$missing" ]; then \
		echo "not root, so not installing (tests needing these skip):" $$missing; \
	fi

clean:
	rm -rf build $(VENV) sparsec/*.so sparsec/kernels.c sparsec/runtime.c *.egg-info examples/digits_mlp/out
