# essmon: `make run` starts the whole service with demo data; `make test` runs the whole suite.
# Both install what they need: the virtualenv, Python and npm packages, and Chromium.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VENDOR := essmon/static/vendor
PG_URL ?= postgres://postgres@127.0.0.1:5432/essmon

.PHONY: run test test-sqlite test-postgres lint format deps static chromium sheet-fonts mosquitto clean

run: deps static
	$(BIN)/essmon serve --demo

test: deps static chromium sheet-fonts mosquitto lint test-sqlite test-postgres

test-sqlite:
	$(BIN)/pytest -p no:cacheprovider

# The suite again on PostgreSQL (browser tests excluded: they run above and do not
# depend on the database engine; so are modules marked engine_independent, which never
# reach the test database: README, Tests). Under CI=true a missing server fails the run.
test-postgres:
	@if $(BIN)/python -c "import psycopg,sys; psycopg.connect('$(PG_URL:/essmon=/postgres)', connect_timeout=3).close()" 2>/dev/null; then \
		ESSMON_DATABASE_URL=$(PG_URL) $(BIN)/pytest -p no:cacheprovider -m "not browser and not engine_independent" -q; \
	elif [ "$$CI" = "true" ]; then \
		echo "PostgreSQL at $(PG_URL) is not reachable and CI=true: failing"; exit 1; \
	else \
		echo "SKIPPED: PostgreSQL suite (no server at $(PG_URL))"; \
	fi

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/essmon makemigrations --check --dry-run
	# the apps' layer order (pyproject.toml [tool.importlinter], docs/architecture.md "Layers")
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

format: deps
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

deps: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

static: node_modules/.installed
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/
	cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css $(VENDOR)/

# Debian's Chromium for the browser tests (Playwright never downloads a browser here).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = "0" ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
		else \
			echo "Chromium is missing: install Debian's chromium package (browser tests will skip)"; \
		fi; \
	fi

# The printed sheets' Japanese font (TrueType, embedded in their PDF: `essmon print-sheets`)
# and poppler's pdffonts/pdftoppm, with which the tests check the embedding and the QR code.
SHEET_DEBS := fonts-ipaexfont-gothic poppler-utils
sheet-fonts:
	@if [ ! -f /usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf ] || ! command -v pdffonts >/dev/null \
		|| ! command -v pdftoppm >/dev/null; then \
		if [ "$$(id -u)" = "0" ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SHEET_DEBS) >/dev/null; \
		else \
			echo "The sheet font or poppler is missing: install Debian's $(SHEET_DEBS) (sheet tests will skip)"; \
		fi; \
	fi

# Debian's Mosquitto for the MQTT tests, which start brokers of their own, and essmon's
# access-control plugin for the gateways' listener, built against its headers.
MOSQUITTO_DEBS := mosquitto mosquitto-dev libmosquitto-dev gcc
mosquitto: deps
	@if ! command -v mosquitto >/dev/null || [ ! -f /usr/include/mosquitto_plugin.h ] \
		|| [ ! -f /usr/include/mosquitto.h ] || ! command -v gcc >/dev/null; then \
		if [ "$$(id -u)" = "0" ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(MOSQUITTO_DEBS) >/dev/null; \
		else \
			echo "Mosquitto or its headers are missing: install Debian's $(MOSQUITTO_DEBS) (MQTT tests will skip)"; \
		fi; \
	fi
	@if [ -f /usr/include/mosquitto_plugin.h ]; then \
		$(BIN)/essmon build-mqtt-plugin --out build/essmon_gateway_acl.so; \
	fi

clean:
	rm -rf $(VENV) node_modules $(VENDOR) .pytest_cache .ruff_cache
