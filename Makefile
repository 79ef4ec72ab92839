# The two commands the README promises: `make run` and `make test`. Both set everything up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The resolver that writes the locks; pinned so that `make lock` gives the same files everywhere.
UV_VERSION := 0.13.9
# `make lock LOCK_ARGS=--upgrade` moves every pin to the newest release pyproject.toml allows;
# `LOCK_ARGS="--upgrade-package fastapi"` moves one. Without them, existing pins are kept.
LOCK_ARGS ?=
# One resolution that holds for every platform and for Python 3.11 and later (markers, not this
# machine's answer), with the hash of every file, so that pip installs only what was locked.
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" $(LOCK_ARGS)

.PHONY: run test check lint format bench soak install lock clean system-packages

# Debian packages that some tests drive for real, as command:package: nginx for the forward-auth
# suite (marker proxy), chromium and chromedriver for the browser suite (marker browser),
# docker-compose for tests/docker/test_compose.py (marker docker), prometheus and promtool (one
# package) for the alert rules (marker prometheus). `make test` calls the system-packages target,
# which installs the missing ones when it can (apt-get, root); otherwise it says how, and those
# tests fail saying so. `make check` needs none of them.
TEST_PACKAGES := nginx:nginx chromium:chromium chromedriver:chromium-driver docker-compose:docker-compose \
	prometheus:prometheus promtool:prometheus

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is needed (PYTHON=$(PYTHON))"; exit 1; }
	$(PYTHON) -m venv $(VENV)

# The versions that were tested, from the locks and with their hashes; then the project itself,
# editable, built by the locked setuptools rather than whatever an isolated build would fetch.
$(STAMP): pyproject.toml requirements-dev.lock requirements-build.lock | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes --requirement requirements-dev.lock
	$(BIN)/pip install --quiet --require-hashes --requirement requirements-build.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation --editable .
	@touch $(STAMP)

install: $(STAMP)

# Rewrites the three locks from pyproject.toml: the runtime dependencies (the image installs
# these), runtime plus the dev extra (make install), and the build backend. Each later lock is
# constrained by the one before, so a package has the same version in all three.
lock: | $(BIN)/python
	$(BIN)/pip install --quiet "uv==$(UV_VERSION)"
	$(UV_COMPILE) pyproject.toml --output-file requirements.lock
	$(UV_COMPILE) pyproject.toml --extra dev --constraint requirements.lock \
		--output-file requirements-dev.lock
	$(BIN)/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")' \
		| $(UV_COMPILE) - --constraint requirements-dev.lock --output-file requirements-build.lock

# Mail is printed on the terminal (links and tokens included) unless MAIL_URL is set; an empty
# MAIL_URL turns mail off.
run: $(STAMP)
	SESSION_COOKIE_SECURE=$${SESSION_COOKIE_SECURE:-false} MAIL_URL=$${MAIL_URL-console:} \
		PUBLIC_URL=$${PUBLIC_URL:-http://localhost:8000} \
		$(BIN)/sessionauth serve --host 127.0.0.1 --port 8000

# Everything, every tier: needs PostgreSQL, a Docker engine, nginx, Chromium (see TEST_PACKAGES).
# Static checks first: a finding fails the run before the slow tiers start.
test: $(STAMP) system-packages
	$(MAKE) lint
	$(BIN)/pytest $(PYTEST_ARGS)

# ruff (lint and format) and mypy, configured in pyproject.toml; the pre-commit hooks run these.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Applies the formatter and ruff's safe fixes; what is left needs a person (make lint lists it).
format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The edit-test loop: the layer, unit, contract (in-memory), API and property tests, spread over
# the cores. Nothing else is needed and nothing is started or connected to: the tiers that would
# (markers set in tests/conftest.py) are left out.
CHECK_WORKERS ?= auto
check: $(STAMP)
	$(BIN)/pytest -n $(CHECK_WORKERS) tests/unit tests/contract tests/api \
		-m "not (postgres or docker or browser or proxy or prometheus or e2e)" $(PYTEST_ARGS)

system-packages:
	@missing=; for pair in $(TEST_PACKAGES); do \
	  command -v $${pair%%:*} >/dev/null || [ -x /usr/sbin/$${pair%%:*} ] || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "make test: installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "make test: missing Debian packages:$$missing; the tests that need them will fail (install: apt-get install$$missing)"; \
	  fi; \
	fi

# Performance goals as ratios to a bare FastAPI app (needs wrk and PostgreSQL on 127.0.0.1:5432,
# or BENCH_DATABASE_URL); see bench/RESULTS.md.
bench: $(STAMP)
	@command -v wrk >/dev/null || { command -v apt-get >/dev/null && apt-get install -y -qq wrk; } || { echo "install wrk (Debian: apt-get install wrk)"; exit 1; }
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Ten minutes of mixed traffic against PostgreSQL (not in CI): errors, p99 and memory over time;
# see bench/SOAK.md. SOAK_ARGS="--quick" for a one-minute trial.
soak: $(STAMP)
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
