# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo serve test lint unit e2e bench clean

$(STAMP): pyproject.toml lambdalite/runtimes/sdk.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# The runtimes' own SDKs (boto3, AWS SDK for JavaScript v3) and missing Node.js majors.
	$(BIN)/lambdalite runtimes install
	touch $(STAMP)

## demo: start lambdalite with the example function deployed
demo: $(STAMP)
	$(BIN)/python examples/demo.py

## serve: run `lambdalite serve` from the virtualenv (flags: make serve ARGS="--port 9100")
serve: $(STAMP)
	$(BIN)/lambdalite serve $(ARGS)

## test: lint, type-check and run the whole suite
test: $(STAMP) lint
	$(BIN)/python -m pytest -n 2 -q tests

lint: $(STAMP)
	$(BIN)/ruff check lambdalite tests bench examples
	$(BIN)/ruff format --check lambdalite tests bench examples
	$(BIN)/mypy lambdalite

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

bench: $(STAMP)
	$(BIN)/python bench/invoke_bench.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
