# Quick start: `make demo` and `make test`. Both create (or reuse) .venv, install the
# package with its test extra, rebuild the C core when csrc/ changed, and run.
# Nothing else needs to be on the machine but a C compiler and Python >= 3.10 with venv.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NATIVE := src/gcheap/_native.abi3.so
CSRCS  := $(shell find csrc -name '*.[ch]' -o -name '*.py')

.PHONY: demo test bench build clean doctor tsan

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

# ThreadSanitizer: the C core built with -fsanitize=thread into build/tsan (apart
# from the normal build), run under the concurrency tests with libtsan preloaded
# (Python itself is not instrumented). TSAN_TESTS to choose the tests; a report
# fails the run (exitcode 66) and is printed (pytest would swallow it: log_path).
TSAN_DIR   := build/tsan
TSAN_TESTS ?= tests/runtime/test_concurrent_mark.py tests/runtime/test_threads.py tests/runtime/test_cmc.py \
              tests/cmc/test_compactor.py tests/interp/test_run_concurrently.py
tsan: $(STAMP)
	rm -rf $(TSAN_DIR)/pkg && mkdir -p $(TSAN_DIR)/pkg
	GCHEAP_SANITIZE=thread PYTHONWARNINGS=ignore $(PY) setup.py -q build_clib --build-clib $(TSAN_DIR)/clib \
		build_ext --build-lib $(TSAN_DIR)/lib --build-temp $(TSAN_DIR)/tmp -L $(TSAN_DIR)/clib
	cp -r src/gcheap $(TSAN_DIR)/pkg/ && rm -f $(TSAN_DIR)/pkg/gcheap/_native*.so
	cp $(TSAN_DIR)/lib/gcheap/_native*.so $(TSAN_DIR)/pkg/gcheap/
	rm -f $(TSAN_DIR)/report.*
	TSAN_OPTIONS="exitcode=66 halt_on_error=0 report_signal_unsafe=0 log_path=$(CURDIR)/$(TSAN_DIR)/report suppressions=$(CURDIR)/.tsan-suppressions" \
		LD_PRELOAD=$$(gcc -print-file-name=libtsan.so) PYTHONPATH=$(TSAN_DIR)/pkg GCHEAP_TSAN=1 \
		$(PY) -m pytest -q -p no:cacheprovider -p no:faulthandler $(TSAN_TESTS) \
		|| { cat $(TSAN_DIR)/report.* 2>/dev/null; exit 66; }
	@if ls $(TSAN_DIR)/report.* >/dev/null 2>&1; then cat $(TSAN_DIR)/report.*; exit 66; fi

clean:
	rm -rf build $(VENV) src/gcheap/_native* src/*.egg-info
