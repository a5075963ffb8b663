# Dateline: `make run` serves the demo, `make test` runs the whole suite (both set up everything).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
QA_INDEX ?= var/index
HOST ?= 127.0.0.1
PORT ?= 8000
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install install-test browser index run test lint eval train onnx bench soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch is pinned to the CPU build that lies on this disk; any other spec pulls a CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .
	$(BIN)/python -m index.onnx_export
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test,ray]'
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

# Answer quality on SQuAD v1.1 dev against a BM25 baseline; writes docs/quality.md.
eval: install
	$(BIN)/python -m tools.squad_eval

# Refits qa/ranker_weights.json, then fine-tunes the span reader (qa/reader.onnx, .json), on
# the training articles only (seeded; on a 2-core Intel Xeon with AMX, in bfloat16 without
# dropout at 0.47-0.53 s per batch of 16: 23-26 min, 2026-12-04, docs/benchmarks.md; a
# processor without AMX runs float32, 0.70 s per batch of NYT examples on that Xeon without
# dropout against 0.45 in bfloat16, so about 35 min; more on an AVX2-only AMD EPYC, which took
# 1.9 s per batch with dropout).
train: install
	$(BIN)/python -m tools.train_ranker
	$(BIN)/python -m tools.train_reader

# The int8 ONNX encoder, exported from the bundled weights into ~/.cache/dateline/onnx (once).
onnx: install
	$(BIN)/python -m index.onnx_export

# Speed at >= 100k chunks of real news (about an hour on an idle 2-core machine the first time,
# the big index is cached); appends to docs/benchmarks.md. Not part of `make test`.
bench: install onnx
	$(BIN)/python -m tools.bench

# 10,000 questions (a tenth malformed) at concurrency 16 against `qa serve` on loopback: no 5xx,
# answers as when unloaded, flat memory. Several minutes; not part of `make test`.
soak: install
	$(BIN)/python -m tools.soak

clean:
	rm -rf var test-artifacts .pytest_cache
