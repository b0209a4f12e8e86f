# ocpp-gateway: `make run` starts the gateway, `make test` runs everything CI runs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run demo test lint typecheck unit clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)  ## the gateway on data/gateway.sqlite3 (no demo data)
	$(BIN)/ocpp-gateway run

demo: $(STAMP)  ## the gateway on data/demo.sqlite3, seeded with demo stations and tokens
	$(BIN)/ocpp-gateway demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck  ## lint, types, then unit, integration and adversity tests
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Deployment files (deploy/): promtool, hadolint, compose/Kubernetes schemas, systemd-analyze and
# a real Prometheus scraping a real gateway. Fails, rather than skips, when a tool is missing;
# Prometheus and promtool come from Debian's package: sudo apt-get install prometheus
.PHONY: deploy-check
deploy-check: $(STAMP)
	OCPP_GATEWAY_REQUIRE_DEPLOY_TOOLS=1 $(BIN)/python -m pytest tests/deploy

# Benchmark (bench/): builds a 100,000-member network, runs the gateway and two references (a bare
# websockets server, the ocpp package's accept-all server) against the same load generator, pinned
# to separate cores with taskset; prints the table and ratios, writes bench-results/latest.json.
.PHONY: bench
bench: $(STAMP)  ## load bench (gateway vs references), the policy engine at 1M tokens, a handshake flood
	$(BIN)/python -m bench
	$(BIN)/python bench/policy_engine.py
	$(BIN)/python bench/handshake_flood.py
