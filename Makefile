# Two commands set everything up on a fresh machine:
#   make demo   -> creates .venv, installs archrank, ranks a sample of NAS-Bench-201 architectures
#   make test   -> creates .venv if needed, runs the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch is pinned first so that pip takes the local CPU build instead of a multi-GB CUDA wheel.
TORCH  ?= torch==2.13.0

.PHONY: demo test lint install

$(BIN)/archrank: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev,groundtruth,ray]"
	touch $(BIN)/archrank

install: $(BIN)/archrank

demo: install
	$(BIN)/archrank rank --space nb201 --sample 200 --seed 0 --top 10 --by ensemble --workers 2

test: install
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

lint: install
	$(BIN)/ruff check .
