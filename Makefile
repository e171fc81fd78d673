# Developer entry points. Everything runs from ./.venv, created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# reinstall only when pyproject.toml changed since the last install
STAMP := $(VENV)/.installed
SERVE_ARGS ?=

.PHONY: run test lint bench venv assets shell

venv: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# the embedded default: SQLite in ./crm.db, jobs inline (no Redis needed); `crm serve` prints
# the URL it answers on (SERVE_ARGS="--host 0.0.0.0 --port 9000" changes it)
run: venv
	$(BIN)/crm demo
	$(BIN)/crm serve $(SERVE_ARGS)

# an interactive shell with the venv active: `crm`, `python`, `pytest` on PATH (exit to leave)
shell: venv
	@echo "$(VENV) is active in this shell: crm --help; exit to leave."
	@VIRTUAL_ENV="$(CURDIR)/$(VENV)" PATH="$(CURDIR)/$(BIN):$$PATH" $${SHELL:-/bin/sh} -i

# -ra: the summary names every skipped test and why (no PostgreSQL, no Redis...)
test: venv
	$(BIN)/python -m pytest -n auto -q -ra

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# runs bench/<name>/run.py for every benchmark, or only BENCH=<name>
BENCH ?= *
bench: venv
	@found=0; for script in bench/$(BENCH)/run.py; do \
		[ -e "$$script" ] || continue; found=1; \
		echo "==> $$script"; $(BIN)/python "$$script" || exit 1; \
	done; \
	[ $$found = 1 ] || echo "no benchmark found (bench/$(BENCH)/run.py)"

# GraphiQL's browser files (GraphiQL, React, ReactDOM), which the app serves itself (no CDN):
# `npm ci` of the versions pinned in graphql_schema/graphiql/package-lock.json into its
# node_modules (gitignored). Runs again only when the lock file changed.
GRAPHIQL := graphql_schema/graphiql
assets: $(GRAPHIQL)/node_modules/.package-lock.json

$(GRAPHIQL)/node_modules/.package-lock.json: $(GRAPHIQL)/package-lock.json $(GRAPHIQL)/package.json
	@command -v npm >/dev/null || { echo "make assets needs npm (Node.js): apt-get install npm" >&2; exit 1; }
	npm ci --prefix $(GRAPHIQL) --no-audit --no-fund
	touch $@
