# Two commands for a fresh clone; each creates (or reuses) the local virtual environment.
#   make demo   - explain the bundled photo with the offline default model (no network)
#   make test   - install the system packages the tests need where missing
#                 (scripts/setup-test-deps.sh: chromium), then run the test suite
#                 (tests + tutorials + mypy + the docs build)
#   make docs   - build the documentation site into docs/_build/html (offline, -W)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.captum-igos-installed

.PHONY: demo test lint docs bench install

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	MPLBACKEND=Agg $(BIN)/captum-igos demo --out captum-igos-out

test: $(STAMP)
	bash scripts/setup-test-deps.sh
	MPLBACKEND=Agg $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy captum_igos

docs: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m sphinx -b html -W --keep-going docs docs/_build/html
