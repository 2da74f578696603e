# Two entry points for a newcomer: `make demo` and `make test`. Both are idempotent.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck layers unit lint-infra lock bench catalog-docs clean

$(STAMP): requirements.in requirements.txt requirements-dev.txt requirements-iac.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

NODE_STAMP := node_modules/.installed

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

demo: $(STAMP) $(NODE_STAMP)
	$(BIN)/phiguard demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The import-layer contracts (pyproject [tool.importlinter], README "Layout").
layers: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP) $(NODE_STAMP)
	$(BIN)/pytest -n 2 -q

# checkov scans infra/ offline (--skip-download: no platform calls), from its own virtualenv.
CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

$(CHECKOV_STAMP): requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	@touch $(CHECKOV_STAMP)

# A template checkov cannot parse is not scanned at all: that fails too.
lint-infra: $(CHECKOV_STAMP)
	@out=$$($(CHECKOV_VENV)/bin/checkov --skip-download --quiet --compact -d infra --framework bicep 2>&1); \
	status=$$?; echo "$$out"; \
	if echo "$$out" | grep -q "Parsing errors: [1-9]"; then echo "checkov could not parse every template"; exit 1; fi; \
	exit $$status

test: lint typecheck layers lint-infra unit

bench: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m bench.catalog
	$(BIN)/python -m bench.cold_start
	$(BIN)/python -m bench.sim_throughput

# requirements.txt = requirements.in + its transitive closure, pinned (the remote build's input).
lock: $(STAMP)
	$(BIN)/python scripts/lock_requirements.py

catalog-docs: $(STAMP)
	$(BIN)/phiguard catalog --format md > docs/CHECKS.md

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .demo
