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
# under ASan/UBSan. As root, install what is missing; otherwise tests that
# need a missing tool say so when they skip.
deps-system:
	@if [ "$$(id -u)" = 0 ] && { ! command -v clang >/dev/null || ! command -v make >/dev/null; }; then \
		echo "installing clang (Debian)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang make >/dev/null; \
	fi

clean:
	rm -rf build $(VENV) sparsec/*.so sparsec/kernels.c sparsec/runtime.c *.egg-info examples/digits_mlp/out
