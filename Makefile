# Quick start: `make demo` and `make test`. Both create (or reuse) .venv, install the
# package with its test extra, rebuild the C core when csrc/ changed, and run.
# Nothing else needs to be on the machine but a C compiler and Python >= 3.10 with venv.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NATIVE := src/gcheap/_native.abi3.so
CSRCS  := $(shell find csrc -name '*.[ch]' -o -name '*.py')

.PHONY: demo test bench build clean doctor

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Installs dependencies and builds the extension (editable: src/ is what runs).
$(STAMP): $(PY) pyproject.toml setup.py
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Rebuilds only the C core in place after csrc/ changed.
$(NATIVE): $(CSRCS) | $(STAMP)
	PYTHONWARNINGS=ignore $(PY) setup.py -q build_clib build_ext --inplace
	touch $(NATIVE)

build: $(STAMP) $(NATIVE)

demo: build
	$(VENV)/bin/gcheap doctor
	$(PY) examples/demo.py
	$(PY) examples/stw_vs_cmc.py
	$(PY) bench/interp_demo.py

test: build
	$(PY) -m pytest -q $(PYTEST_ARGS)

doctor: build
	$(VENV)/bin/gcheap doctor

# The standard benchmark suite (gcheap bench --suite standard): raw costs, the default
# sweep, the cmc and interpreter suites; writes bench-out/ and regenerates
# docs/benchmarks.md and the README's tables. BENCH_ARGS=--small for a smoke run.
bench: build
	$(VENV)/bin/gcheap bench --suite standard --out bench-out $(BENCH_ARGS)

clean:
	rm -rf build $(VENV) src/gcheap/_native* src/*.egg-info
