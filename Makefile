# The two set-up commands of the README: `make demo`, then `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test wheel lint format bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[lab,dev]'
	touch $(STAMP)

demo: venv
	$(BIN)/workbench demo

# The suite runs on every core (pytest-xdist), a test file per worker at a time: module-scoped
# fixtures (bundles, stubs) stay built once; session-wide ones (the wheel, the demo workspace)
# are built once for all workers (tests/wheelenv.py). TEST_WORKERS=0 runs it in one process.
# pytest exits 5 when it collects nothing; that is a failure of the suite's set-up, say so.
TEST_WORKERS ?= auto
test: venv
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: check tests/" >&2; fi; exit $$rc

# The wheel carries the notebooks and templates (tests/test_packaging.py installs it into a fresh
# venv and runs the demo from outside the checkout).
wheel: venv
	$(BIN)/python -m pip wheel --no-deps --quiet -w dist .

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: venv
	$(BIN)/python benchmarks/run_overhead.py

clean:
	rm -rf $(VENV) workspace build dist *.egg-info
