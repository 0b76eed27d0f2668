# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test test-quick fuzz lint fmt bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[server,heic]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[server,heic,dev,postgres,s3]'
	touch $(VENV)/.installed $@

## Start the server on http://127.0.0.1:$(PORT) with its data in ./data: make run PORT=8081
## chooses the port (default VITRINA_PORT, else 8080); a port in use stops it with one line.
## Webhooks may go to http:// on this machine, for an app you run here (docs/webhooks.md).
PORT ?= $(or $(VITRINA_PORT),8080)
LOCAL_WEBHOOKS := VITRINA_WEBHOOK_ALLOW_HTTP=true VITRINA_WEBHOOK_ALLOW_NETWORKS=127.0.0.0/8,::1/128
run: $(VENV)/.installed
	$(BIN)/vitrina demo --port $(PORT)
	$(LOCAL_WEBHOOKS) $(BIN)/vitrina serve --port $(PORT)

## Lint, type-check and run the whole test suite (it starts its own PostgreSQL and S3 server),
## a test file to each of as many processes as the machine has cores (PYTEST_WORKERS=N: N).
PYTEST_WORKERS ?= auto
PYTEST := $(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile
test: $(VENV)/.dev-installed lint
	scripts/test-deps.sh
	$(PYTEST)

## The quick subset for development: no slow end-to-end tests, no browser, a shorter fuzz,
## and two processes a core (its tests wait on sockets and sleeps about as much as they compute).
QUICK_WORKERS ?= $(shell echo $$(( $$(nproc) * 2 )))
test-quick: $(VENV)/.dev-installed
	VITRINA_FUZZ_EXAMPLES=$${VITRINA_FUZZ_EXAMPLES:-10} \
		$(BIN)/pytest -q -n $(QUICK_WORKERS) --dist loadfile -m "not slow and not browser"

## schemathesis against the OpenAPI document with a random seed (CI runs a fixed one).
fuzz: $(VENV)/.dev-installed
	VITRINA_FUZZ_SEED=random VITRINA_FUZZ_EXAMPLES=$${VITRINA_FUZZ_EXAMPLES:-200} \
		$(BIN)/pytest -q -s tests/test_openapi.py -k keeps_to_its_document

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(VENV)/.dev-installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(VENV)/.dev-installed
	scripts/bench-deps.sh
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/upload.py
	$(BIN)/python bench/serve.py
	$(BIN)/python bench/console.py
	$(BIN)/python bench/bulk.py
	$(BIN)/python bench/catalog.py
	$(BIN)/python bench/rate_limit.py
	$(BIN)/python bench/jobs.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
