# The two commands a newcomer needs: `make run` and `make test`. Everything else is set up by them.
# The interpreter is part of every order's CPU. Linux distributions build their python3 with
# PGO and LTO; pyenv and other source builds, by default, do not. Here Debian's 3.11 ran the
# functions' framework code ~15% faster than pyenv's 3.11 and their cold starts 13-22% faster
# (README, "Performance"). So the OS's python3 comes first when it is 3.11+ and can make a
# venv (ensurepip; Debian ships it in python3-venv); `make PYTHON=...` picks another.
ifndef PYTHON
PYTHON := $(shell for p in /usr/bin/python3 python3; do \
	$$p -c 'import sys, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { echo $$p; exit; }; done; echo python3)
endif
VENV := .venv
BIN := $(VENV)/bin
# `make run` needs only the local cloud's packages; `make test` adds the dev tools.
RUN_STAMP := $(VENV)/.installed-local
DEV_STAMP := $(VENV)/.installed-dev
FRONTEND_STAMP := frontend/node_modules/.installed

.PHONY: setup run test lint typecheck pytest bench proto sam-validate frontend-build clean
.PHONY: frontend-test chromium deploy-frontend

setup: $(DEV_STAMP) frontend-build chromium

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[local]'
	@touch $@

$(DEV_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@ $(RUN_STAMP)

frontend-build:
	@if [ -f frontend/package.json ]; then \
		if [ ! -f $(FRONTEND_STAMP) ] || [ frontend/package.json -nt $(FRONTEND_STAMP) ] \
			|| [ frontend/package-lock.json -nt $(FRONTEND_STAMP) ]; then \
			(cd frontend && npm install --no-audit --no-fund --silent) && touch $(FRONTEND_STAMP); \
		fi; \
		(cd frontend && npm run --silent build); \
	fi

run: $(RUN_STAMP) frontend-build
	$(BIN)/vendyz up

test: setup lint typecheck sam-validate frontend-test pytest

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

pytest: $(DEV_STAMP)
	$(BIN)/pytest

bench: $(RUN_STAMP) frontend-build
	$(BIN)/vendyz bench

# -- The shop (frontend/): its unit tests, the browser its e2e tests drive, its deploy.
# Playwright drives Debian's chromium; it must never download a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
CHROMIUM := $(or $(VENDYZ_CHROMIUM),/usr/bin/chromium)
STACK ?= vendyz-dev

frontend-test: frontend-build
	cd frontend && npm run --silent test

chromium:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "The browser tests need Chromium at $(CHROMIUM): sudo apt-get install chromium"; \
		echo "(or point VENDYZ_CHROMIUM at another Chromium 156 binary)"; \
	fi

# Uploads frontend/dist and /config.json to the stack's shop bucket (after `sam deploy`).
deploy-frontend: $(RUN_STAMP) frontend-build
	$(BIN)/python infra/deploy_frontend.py --stack $(STACK)

# Regenerate functions/vendyz/core/contracts from proto/ (commit the result).
proto: $(DEV_STAMP)
	$(BIN)/python infra/codegen.py

# SAM CLI lives in its own tool venv: it pins boto3 and would fight the project's runtime deps.
SAM_VENV := .tools/sam
SAM_STAMP := $(SAM_VENV)/.installed

$(SAM_STAMP):
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check aws-sam-cli
	@touch $@

# --lint runs cfn-lint through SAM offline; telemetry off so no call leaves the machine.
sam-validate: $(DEV_STAMP) $(SAM_STAMP)
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint --template template.yaml --region us-east-1
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --config-env localstack --template template.yaml
	$(BIN)/cfn-lint template.yaml

.PHONY: acceptance migrations-hash deploy-localstack

# The acceptance suite alone, against VENDYZ_BASE_URL (a local cloud of its own without it).
# --confcutdir: only its own conftest, none of the rest of the test tree's fixtures.
acceptance: $(DEV_STAMP)
	$(BIN)/pytest --confcutdir=tests/acceptance -p no:cacheprovider tests/acceptance

# After adding or changing a migration: the Migrations resource's MigrationsHash property.
migrations-hash: $(DEV_STAMP)
	$(BIN)/vendyz migrate --stamp-template

# LocalStack (needs its auth token and the Base plan: README, "LocalStack"). AWS_ENDPOINT_URL
# points every client of the SAM CLI at it, as samlocal would.
LOCALSTACK_URL ?= http://localhost.localstack.cloud:4566
deploy-localstack: $(RUN_STAMP) $(SAM_STAMP)
	AWS_ENDPOINT_URL=$(LOCALSTACK_URL) $(BIN)/python infra/localstack_secrets.py
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam build --config-env localstack
	SAM_CLI_TELEMETRY=0 AWS_ENDPOINT_URL=$(LOCALSTACK_URL) AWS_ACCESS_KEY_ID=test \
		AWS_SECRET_ACCESS_KEY=test $(SAM_VENV)/bin/sam deploy --config-env localstack

clean:
	rm -rf $(VENV) .vendyz .tools .pytest_cache .mypy_cache .ruff_cache frontend/node_modules frontend/dist
