# ocpp-gateway: `make run` starts the gateway, `make test` runs everything CI runs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run demo test test-dates lint typecheck unit clean lock

# The versions that were tested: constraints.txt (pip's own constraints file, written by `make lock`).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
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

# Re-resolve every dependency within pyproject.toml's ranges, newest first, into constraints.txt;
# then `make test` (and `make bench`) on it before committing the two together.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet '.[dev]'
	{ echo "# Versions tested together (make lock; installed by make install and CI)."; \
	  .venv-lock/bin/python -m pip freeze --exclude ocpp-gateway; } > constraints.txt
	rm -rf .venv-lock

# The date-sensitive tests at fixed instants, the clock moved by libfaketime (Debian: faketime):
# the last minutes of a year (UTC), a month's first seconds in Paris, the hour after a DST change,
# the first minutes of a day (an hour ago is yesterday).
DATE_TESTS ?= tests/unit tests/integration/test_policies.py tests/integration/test_sessions_16.py \
	tests/integration/test_sessions_201.py tests/integration/test_cache_refresh.py tests/integration/admin
DATES ?= 2026-12-31T23:58:00 2027-02-28T23:00:30 2027-03-28T01:00:30 2027-06-15T00:05:00
test-dates: $(STAMP)
	@for at in $(DATES); do \
	  echo "== $(DATE_TESTS) at $$at UTC"; \
	  TZ=UTC faketime -f "@$$(echo $$at | tr T ' ')" $(BIN)/python -m pytest -q -p no:cacheprovider \
	    $(DATE_TESTS) || exit 1; \
	done

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
