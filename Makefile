# Dateline: `make run` serves the demo, `make test` runs the whole suite (both set up everything).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
QA_INDEX ?= var/index
HOST ?= 127.0.0.1
PORT ?= 8000
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install install-test browser index run test lint eval bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch is pinned to the CPU build that lies on this disk; any other spec pulls a CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# Debian's Chromium for the widget's browser tests (a test tool's own browser download fails here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

index: install
	$(BIN)/qa ingest data/articles --index $(QA_INDEX)

run: index
	$(BIN)/qa serve --index $(QA_INDEX) --host $(HOST) --port $(PORT)

test: install-test browser
	$(BIN)/python -m pytest

lint: install-test
	$(BIN)/ruff check qa index api tests tools
	$(BIN)/ruff format --check qa index api tests tools
	$(BIN)/mypy

clean:
	rm -rf var test-artifacts .pytest_cache
