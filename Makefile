# Two commands do all the set-up on a fresh machine with Python 3.11+:
#   make demo   the main job on the embedded default
#   make test   ruff, mypy, unit and integration tests, and the dependency audit
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck unit integration audit bench clean

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

# pip-audit over the locked dependencies (pip freeze of the venv, the project left out):
# fails on a known vulnerability that has a fix, reports those without one, and fails clearly
# (not hanging) when the vulnerability service (pypi.org) cannot be reached.
audit: $(STAMP)
	$(BIN)/python deploy/audit_gate.py --lock $(VENV)/audit-requirements.lock --timeout-s 20 --deadline-s 300

test: lint typecheck unit integration audit

bench: $(STAMP)
	$(BIN)/verdict bench

clean:
	-$(BIN)/verdict stack down
	rm -rf $(VENV) .verdict verdict-demo .mypy_cache .ruff_cache .pytest_cache
