# The kit's two commands: `make demo` and `make test` (both install into .venv first).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test bench graphviz clean-data

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt -e .
	touch $(STAMP)

# keras.utils.plot_model needs graphviz's `dot`: installed with apt when we are root.
graphviz:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; \
	  else \
	    echo "graphviz is missing: install it (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install graphviz)"; \
	  fi; }

install: $(STAMP) graphviz

demo: install
	$(PY) -m tp3 demo

test: install
	TP3_SMOKE=1 $(PY) -m pytest

bench: install
	$(PY) benchmarks/bench_data.py

clean-data:
	rm -rf data/BraTS* datasets/*.txt origin_data/BraTS* data/.tp3-prepare.json .tp3_cache
