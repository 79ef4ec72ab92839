# The two commands the README promises: `make run` and `make test`. Both set everything up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench soak install clean system-packages

# Debian packages that some tests drive for real, as command:package. `make test` installs the
# missing ones when it can (apt-get, root); otherwise it says how, and those tests fail saying so.
TEST_PACKAGES := nginx:nginx chromium:chromium chromedriver:chromium-driver docker-compose:docker-compose

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is needed (PYTHON=$(PYTHON))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	SESSION_COOKIE_SECURE=$${SESSION_COOKIE_SECURE:-false} $(BIN)/sessionauth serve --host 127.0.0.1 --port 8000

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
