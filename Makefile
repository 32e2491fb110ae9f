# Two commands: `make run` (the whole stack, embedded mode, no servers) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck bench bench-retention bench-fairness clean browser-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/parley dev

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) browser-deps lint typecheck
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# 1M runs and 20M events in a scratch PostgreSQL database (PARLEY_TEST_POSTGRES_URL's server).
bench-retention: $(STAMP)
	$(BIN)/python -m bench.retention $(BENCH_ARGS)

bench-fairness: $(STAMP)
	$(BIN)/python -m bench.fairness $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var

# The browser tests (tests/browser) drive Debian's Chromium through Playwright; Playwright's
# own browser download is never used. Installs the package when it is missing and we are root.
browser-deps:
	@if [ -x /usr/bin/chromium ]; then \
		echo "chromium present: /usr/bin/chromium"; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
		echo "the browser tests need Debian's chromium: sudo apt-get install chromium" >&2; exit 1; \
	fi
