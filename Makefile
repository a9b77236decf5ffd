# The kit's two commands: `make demo` and `make test` (both install into .venv first).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

# The venv's bin first: the notebooks' "python3" kernel must be the venv's Python.
RUN := PATH=$(CURDIR)/$(VENV)/bin:$$PATH

.PHONY: install demo test test-fast test-unit test-notebooks test-compat bench bench-browser html students system-packages clean-data

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt -e .
	touch $(STAMP)

# Debian packages beyond Python: graphviz's `dot` (keras.utils.plot_model) and bubblewrap's `bwrap`
# (the sandbox of python -m tp3 grade), as command:package; installed with apt when we are root.
SYSTEM_PACKAGES := dot:graphviz bwrap:bubblewrap
system-packages:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do \
	  command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing:$$missing (Debian/Ubuntu: sudo apt-get install$$missing; macOS: brew install graphviz)"; \
	  fi; fi

install: $(STAMP) system-packages

demo: install
	$(PY) -m tp3 demo

test: install
	$(MAKE) --no-print-directory test-unit test-notebooks

# A contributor's quick loop: the house's structure, the metrics, the U-Net, the preprocessing.
test-fast: install
	$(RUN) TP3_SMOKE=1 $(PY) -m pytest -q -n 2 tests/test_structure.py tests/test_metrics.py tests/test_unet.py tests/test_preprocessing.py

# Two test files at a time: a file's tests often wait on subprocesses or the disk (9 min
# instead of 12 on 2 cores); then the tests marked `alone` (interrupts: beside another file's
# training, a Ctrl-C once came too late to stop anything). The notebooks stay one at a time:
# they share one course root.
test-unit:
	$(RUN) TP3_SMOKE=1 $(PY) -m pytest -n 2 --dist loadfile -m "not alone" tests
	$(RUN) TP3_SMOKE=1 $(PY) -m pytest -m alone tests

# Every solution notebook end to end (smoke mode: 10 cases, 2 epochs); prints its time.
test-notebooks:
	@start=$$(date +%s); \
	$(RUN) TP3_SMOKE=1 $(PY) -m pytest --nbval-lax --nbval-cell-timeout=900 -p no:cacheprovider notebooks/solutions; \
	status=$$?; echo "notebook suite: $$(( $$(date +%s) - start )) s"; exit $$status

# The compatibility matrix (compat/matrix.py): the Keras tests and every notebook on other
# stacks, each a virtual environment built once under ~/.cache/tp3-compat (reused after), then
# whether the install resolves for Pythons 3.13 and 3.12 (Colab's), which this machine lacks. STACKS: some of
# lowest colab-2025-12 colab-2026-08 latest (default: all); CI runs lowest and colab-2026-08.
# Two stacks at a time: a stack's run keeps about one core busy, so two take the time of one.
STACKS ?=
test-compat:
	$(PYTHON) compat/matrix.py --parallel 2 $(STACKS)
	$(PYTHON) compat/matrix.py --resolve 3.13 colab-2026-08 latest
	$(PYTHON) compat/matrix.py --resolve 3.12 colab-2025-12

# Student notebooks from the solutions (instructors; a test fails when they drift).
students: install
	$(PY) -m tp3 notebooks students

# Executed solution notebooks as HTML, for instructors.
html: install
	$(RUN) $(PY) -m tp3 notebooks html --out build/html

# Ex 12's 3D view in a real browser (benchmarks/browser_ex12.py): Debian's Chromium (apt, as
# root) and playwright (pip, without its own browsers); CI has no browser, so not in make test.
bench-browser: install
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  { echo "install Chromium: sudo apt-get install chromium"; exit 1; }
	$(PY) -m pip install --quiet "playwright>=1.40"
	$(RUN) $(PY) benchmarks/browser_ex12.py

bench: install
	$(PY) benchmarks/bench_data.py --cases 4
	$(PY) benchmarks/bench_training.py
	$(PY) benchmarks/bench_ex7.py
	$(PY) benchmarks/bench_eval.py
	$(PY) benchmarks/bench_grading.py

clean-data:
	rm -rf data/BraTS* datasets/*.txt origin_data/BraTS* .tp3-prepare.json .tp3-sample.json data/.tp3-prepare.json data/.tp3-sample.json .tp3_cache
