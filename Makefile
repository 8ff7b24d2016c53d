# Set-up and the two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-all lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[xtb,dft,farm,postgres,growth,stability,soap,crystals,solvation,multiscale,response,dev]"
	touch $(STAMP)

run: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/nnpkit quickstart --out runs/quickstart

# The tests run on every core (pytest-xdist), one test file per worker at a time so that a
# file's module-scoped fixtures are built once; each worker computes on one thread.
PYTEST := OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n auto --dist loadfile -q

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src/nnpkit
	$(PYTEST) -m "not slow"

test-all: $(STAMP)
	$(PYTEST)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy src/nnpkit

clean:
	rm -rf $(VENV) runs
