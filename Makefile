# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo serve test lint unit e2e bench conformance clean

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

## test: lint, type-check and run the whole suite (a module's tests on one worker, in order:
## module-scoped servers are shared by its tests)
test: $(STAMP) lint
	$(BIN)/python -m pytest -n 2 --dist loadfile -q tests

lint: $(STAMP)
	$(BIN)/ruff check lambdalite tests bench examples
	$(BIN)/ruff format --check lambdalite tests bench examples
	$(BIN)/mypy lambdalite

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

bench: $(STAMP)
	$(BIN)/python bench/invoke_bench.py

## conformance: LocalStack's Lambda API suite, whose answers AWS recorded, against a fresh server
## (a measurement, not part of .ci/run; it installs the suite's own dependencies on first use).
## CONFORMANCE_ARGS passes pytest arguments, e.g. make conformance CONFORMANCE_ARGS="-k TestLambdaAlias".
CONFORMANCE_DIR ?= ../shared/conformance
CONFORMANCE_ARGS ?= -n 2
CONFORMANCE_OUT ?= /tmp/lambdalite-conformance-$(shell id -un).xml
# AWS keeps a function Pending (an update InProgress) for about a second, and the recordings
# catch those states between two calls; the server settles no sooner than this.
CONFORMANCE_SETTLE_S ?= 0.5
conformance: $(STAMP)
	@test -x $(CONFORMANCE_DIR)/run || { echo "conformance: $(CONFORMANCE_DIR) is absent on this machine (it holds LocalStack's test_lambda_api.py and its AWS recordings); nothing was run."; exit 2; }
	@set -u; data=$$(mktemp -d); port=$$($(BIN)/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'); \
	LAMBDALITE_STATE_SETTLE_S=$(CONFORMANCE_SETTLE_S) $(BIN)/lambdalite serve --port $$port --data-dir $$data/data > $$data/server.log 2>&1 & server=$$!; \
	trap 'kill $$server 2>/dev/null; wait $$server 2>/dev/null; rm -rf $$data' EXIT INT TERM; \
	for i in $$(seq 100); do $(BIN)/python -c "import socket; socket.create_connection(('127.0.0.1', $$port), 0.2)" 2>/dev/null && break; sleep 0.1; done; \
	echo "conformance: lambdalite on port $$port (log $$data/server.log), suite in $(CONFORMANCE_DIR)"; \
	CONFORMANCE_OUT=$(CONFORMANCE_OUT) $(CONFORMANCE_DIR)/run http://127.0.0.1:$$port $(CONFORMANCE_ARGS) | tail -n 3; \
	$(BIN)/python -c "import sys, xml.etree.ElementTree as ET; r = ET.parse(sys.argv[1]).getroot(); s = r if r.tag == 'testsuite' else r.find('testsuite'); t, f, e, k = (int(s.get(a)) for a in ('tests', 'failures', 'errors', 'skipped')); print(f'conformance: {t - f - e - k} of {t} passed ({f} failed, {e} errors, {k} skipped)')" $(CONFORMANCE_OUT)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
