# Two commands do all the set-up on a fresh machine with Python 3.11+:
#   make demo   the main job on the embedded default
#   make test   ruff, mypy, unit and integration tests
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck unit integration bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[embedded,dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/verdict demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy events state models decisions streams replay verdict benchmarks

unit: $(STAMP)
	$(BIN)/pytest tests/unit events state models decisions streams replay verdict -q

integration: $(STAMP)
	$(BIN)/pytest tests/integration -q

test: lint typecheck unit integration

bench: $(STAMP)
	$(BIN)/verdict bench

clean:
	-$(BIN)/verdict stack down
	rm -rf $(VENV) .verdict verdict-demo .mypy_cache .ruff_cache .pytest_cache
