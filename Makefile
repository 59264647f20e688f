# Youthlink developer commands. Quick start: `make run`, `make test` (see README.md).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_WORKERS ?= 2

.PHONY: run test deps lint lint-openapi typecheck bench openapi widget clean help

help:
	@echo "make run       create .venv, find/start PostgreSQL+PostGIS, migrate, load geodata and seeds, index, run the search worker, serve on :8000"
	@echo "make test      ruff, mypy and the whole pytest suite (real PostgreSQL + PostGIS, headless chromium)"
	@echo "make deps      check PostGIS and chromium; as root on Debian, install what is missing (make test does this first)"
	@echo "make bench     benchmarks under tests/perf (figures, not pass/fail)"
	@echo "make openapi   rewrite openapi/openapi.json from the app"
	@echo "make widget    build the family search widget (service/widget/dist) with esbuild"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

venv: $(STAMP)

# Node tools for the tests (Spectral): the versions package-lock.json pins.
NODE_STAMP := node_modules/.installed-stamp
$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "make test needs Node.js 18+ with npm (Debian: apt-get install nodejs npm)" >&2; exit 2; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The family search widget: one ES module, bundled with Leaflet, served at /widget/v1/.
WIDGET := service/widget/dist/youthlink-search.js
WIDGET_SRC := $(wildcard service/widget/src/*)
$(WIDGET): $(NODE_STAMP) $(WIDGET_SRC)
	node_modules/.bin/esbuild service/widget/src/youthlink-search.js --bundle --format=esm \
	  --minify --loader:.css=text --target=es2020 --legal-comments=eof --log-level=warning \
	  --outfile=$@

widget: $(WIDGET)

run: $(STAMP) $(WIDGET)
	@export YOUTHLINK_DATABASE_URL="$$($(PY) -m service dev-db)" && \
	  echo "database: $$YOUTHLINK_DATABASE_URL" && \
	  $(PY) -m service migrate && \
	  $(PY) -m service load-geodata && \
	  $(PY) -m service seed && $(PY) -m service reindex && \
	  { $(PY) -m service worker & worker=$$!; trap 'kill $$worker' EXIT INT TERM; } && \
	  echo "serving on http://127.0.0.1:8000 (interactive docs: http://127.0.0.1:8000/docs)" && \
	  $(PY) -m service serve --host 127.0.0.1 --port 8000

lint: $(STAMP) lint-openapi
	$(PY) -m ruff check service tests
	$(PY) -m ruff format --check service tests

# spectral:oas and the OWASP API Top 10 rules, as .spectral.yaml adopts them: no errors.
lint-openapi: $(NODE_STAMP)
	node_modules/.bin/spectral lint openapi/openapi.json --fail-severity=error --display-only-failures

typecheck: $(STAMP)
	$(PY) -m mypy

# Machine packages (PostGIS, chromium): installed once here, before any test worker starts.
deps: $(STAMP)
	$(PY) -m service dev-deps

test: deps lint typecheck $(WIDGET)
	$(PY) -m pytest -n $(PYTEST_WORKERS) -p no:cacheprovider

bench: $(STAMP)
	$(PY) -m pytest tests/perf -m perf -p no:cacheprovider -s

openapi: $(STAMP)
	$(PY) -m service openapi

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache service/widget/dist
