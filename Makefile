# The two commands of the README: `make book` and `make test`. Both start from a fresh
# clone with nothing but Python 3.11: they create .venv and install the pinned packages.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# OpenMP threads sleep while they wait instead of spinning: on a shared CPU spinning makes
# small torch operations many times slower (tests, benchmarks, kernels alike).
export OMP_WAIT_POLICY := passive
# Executed for the book, chapters precompute their slider frames (book/sliders.py).
BUILD_ENV := BOOK_SLIDERS=static PYTHONHASHSEED=0 OMP_WAIT_POLICY=passive OMP_NUM_THREADS=1

.PHONY: book test bench robust unit lab clean help

help:
	@echo "make book   build the HTML book into _build/html (executes the chapters, cached)"
	@echo "make test   unit tests, every chapter executed within budget, the -W build, browser tests"
	@echo "make bench  execute every chapter in a fresh kernel and write _build/bench/*.json"
	@echo "            (BENCH_ARGS=--all: also the scripts that only repeat a chapter's numbers)"
	@echo "make robust every chapter under seeds 1-3, torch without SIMD, two threads"
	@echo "make unit   only the fast unit tests of book/"
	@echo "make lab    JupyterLab on the chapters, .md files opened as notebooks"

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (set PYTHON=/path/to/python3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==24.3.1
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# Executes every chapter not already in the build's cache (all of them, even after a
# failure), builds every page, then names each failing chapter with its failing assertion.
book: $(STAMP)
	$(BUILD_ENV) $(BIN)/python -m tools.chapters book

test: $(STAMP)
	$(BIN)/python -m pytest tests

unit: $(STAMP)
	$(BIN)/python -m pytest tests -m "not book and not browser and not live and not binder_env"

bench: $(STAMP)
	$(BIN)/python -m tools.bench $(BENCH_ARGS)

# Every chapter under BOOK_SEED=1,2,3, ATEN_CPU_CAPABILITY=default and two threads
# (ROBUST_ARGS="--jobs 2" or "gan_zoo --variants seed1" for less).
robust: $(STAMP)
	$(BIN)/python -m tools.robust $(ROBUST_ARGS)

clean:
	rm -rf _build

# JupyterLab on the chapters, opening the .md files as notebooks (as on Binder).
lab: $(STAMP)
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp binder/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	$(BIN)/jupyter lab chapters/
