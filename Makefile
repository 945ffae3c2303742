# The two commands a newcomer needs: `make run` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FRONTEND_STAMP := frontend/node_modules/.installed

.PHONY: setup run test lint typecheck pytest bench sam-validate clean

setup: $(STAMP) frontend-build

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

.PHONY: frontend-build
frontend-build:
	@if [ -f frontend/package.json ]; then \
		if [ ! -f $(FRONTEND_STAMP) ] || [ frontend/package.json -nt $(FRONTEND_STAMP) ]; then \
			(cd frontend && npm install --no-audit --no-fund --silent) && touch $(FRONTEND_STAMP); \
		fi; \
		(cd frontend && npm run --silent build); \
	fi

run: setup
	$(BIN)/vendyz up

test: setup lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

bench: setup
	$(BIN)/vendyz bench

# Regenerate functions/vendyz/core/contracts from proto/ (commit the result).
.PHONY: proto
proto: $(STAMP)
	$(BIN)/python infra/codegen.py

clean:
	rm -rf $(VENV) .vendyz .tools .pytest_cache .mypy_cache .ruff_cache frontend/node_modules frontend/dist

# SAM CLI lives in its own tool venv: it pins boto3 and would fight the project's runtime deps.
SAM_VENV := .tools/sam
SAM_STAMP := $(SAM_VENV)/.installed

$(SAM_STAMP):
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli
	@touch $@

# --lint runs cfn-lint through SAM offline; telemetry off so no call leaves the machine.
sam-validate: $(STAMP) $(SAM_STAMP)
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint --template template.yaml --region us-east-1
	$(BIN)/cfn-lint template.yaml
