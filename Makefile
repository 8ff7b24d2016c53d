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

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src/nnpkit
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -m "not slow" -q

test-all: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy src/nnpkit

clean:
	rm -rf $(VENV) runs
