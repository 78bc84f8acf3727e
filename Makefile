# The README's commands. `make run` and `make test` set everything up from a
# fresh clone: the virtual environment (Debian's python3, whose sqlite3 can
# load extensions), the pinned dependencies and the sha256 extension.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
DBT := $(VENV)/bin/dbt
SYSTEM_PYTHON ?= /usr/bin/python3
TARGET ?= dev
export DBT_SEND_ANONYMOUS_USAGE_STATS := False
export DO_NOT_TRACK := 1

.PHONY: setup browser postgres lint run test test-postgres verify docs dry-run migrate check-db clean-dev clean

# Shortcuts of the old scripts (migrate:sync:dry, migrate:sync, ...):
#   make dry-run|migrate TARGET=dev|staging|prod USER_ID=... ENTITIES=goal,practice_session
export USER_ID ENTITIES

# Where make's dbt commands point: SYNC_DB_PATH, else the dev database.
DB_PATH = $(or $(SYNC_DB_PATH),data/dev.db)
WORK_DB_PATH = $(or $(SYNC_WORK_DB_PATH),$(DB_PATH).dbt-work)
CRYPTO_EXT = $(wildcard $(VENV)/lib/python3*/site-packages/sqlite_sqlean/crypto.so)

$(VENV)/.installed: requirements.txt
	@$(SYSTEM_PYTHON) -c 'import sqlite3; c = sqlite3.connect(":memory:"); c.enable_load_extension(True)' \
	  || { echo "$(SYSTEM_PYTHON) cannot load SQLite extensions; set SYSTEM_PYTHON to a Python that can (Debian's /usr/bin/python3 does)." >&2; exit 1; }
	@$(SYSTEM_PYTHON) -c 'import ensurepip' 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-venv; }
	$(SYSTEM_PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.txt 2>&1 \
	  | { grep -v 'is ignored: it is neither' || true; }
	touch $@

EXT_DIR := $(VENV)/sqlite-extensions
$(EXT_DIR)/js_json.so: extensions/sqlite/js_json.c $(VENV)/.installed
	@test -f /usr/include/sqlite3ext.h || { apt-get update -qq && apt-get install -y -qq libsqlite3-dev; }
	mkdir -p $(EXT_DIR)
	gcc -O2 -Wall -Wextra -shared -fPIC -o $@ $<

setup: $(VENV)/.installed $(EXT_DIR)/js_json.so

# The main job on the embedded dev database: load the sample backend,
# migrate it into sync_data, test it.
run: setup
	mkdir -p data
	$(DBT) build --target dev

# The docs test opens the generated docs in Debian's Chromium.
browser:
	@command -v chromium > /dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

# The lineage to browse (README, "Browse the lineage"), on the dev database.
docs: run
	$(DBT) docs generate --target dev
	$(DBT) docs generate --static --target dev
	@echo "open target/static_index.html, or: $(DBT) docs serve --port 8080"

# Lint first, as CI does: the pre-commit hooks on every file (yaml, end of
# file, trailing whitespace, ruff, sqlfluff with the dbt templater).
# sqlfluff's dbt templater compiles against a database: a scratch one under
# target/, so lint never needs (or touches) the dev database.
lint: setup
	mkdir -p target/lint
	SYNC_DB_PATH=target/lint/lint.db $(VENV)/bin/pre-commit run --all-files --show-diff-on-failure

# PostgreSQL from Debian's packages, for the second engine's tests (the tests
# start their own cluster; the package's default one is not wanted).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1 || { \
	  mkdir -p /etc/postgresql-common \
	  && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf \
	  && apt-get update -qq && apt-get install -y -qq postgresql; }

# Every test, on both engines: dbt's own tests on the embedded dev database
# are part of the pytest suite, which drives dbt against throwaway SQLite
# databases and a throwaway PostgreSQL cluster (scripts/with_postgres.sh
# starts it on 127.0.0.1 as an unprivileged user and removes it after).
test: lint browser postgres
	scripts/with_postgres.sh $(VENV)/bin/pytest -q tests_py

# Only the PostgreSQL tests (tests_py/test_postgres.py), on a throwaway
# cluster, or on the test server SYNC_PG_TEST_HOST/PORT/USER/DATABASE name.
test-postgres: setup postgres
	scripts/with_postgres.sh $(VENV)/bin/pytest -q tests_py/test_postgres.py

# staging and prod must name an existing database: never create an empty one.
# The database and its work file must be SQLite files: dbt would only say
# "file is not a database", without the path (scripts/check_sqlite_files.py).
check-db:
	@if [ "$(TARGET)" != dev ] && [ ! -s "$(DB_PATH)" ]; then \
	  echo "The $(TARGET) database '$(DB_PATH)' does not exist or is empty: set SYNC_DB_PATH to the database file." >&2; exit 2; fi
	@$(PY) scripts/check_sqlite_files.py "$(TARGET)" "$(DB_PATH)" "$(WORK_DB_PATH)"

# Preview: dbt run --target $(TARGET) --vars '{dry_run: true, ...}'
dry-run: setup check-db
	$(DBT) run --target $(TARGET) --vars "$$(DRY_RUN=1 $(PY) scripts/dbt_vars.py)"

# The migration: dbt build --target $(TARGET) --vars '{...}'
migrate: setup check-db
	$(DBT) build --target $(TARGET) --vars "$$($(PY) scripts/dbt_vars.py)"

# The verification queries (analyses/verify_migration.sql) on TARGET's database.
# SQLite targets only; on PostgreSQL compile the analysis and run it with psql.
verify: setup
	@if [ "$(TARGET)" = postgres ]; then \
	  echo "make verify reads SQLite files; on PostgreSQL: dbt compile --target postgres --select verify_migration, then psql -f target/compiled/sync_data_migration/analyses/verify_migration.sql" >&2; exit 2; fi
	$(DBT) compile --quiet --target $(TARGET) --select verify_migration > /dev/null
	sqlite3 -header -column \
	  -cmd ".load $(basename $(CRYPTO_EXT))" \
	  -cmd "attach '$(WORK_DB_PATH)' as work" \
	  "$(DB_PATH)" < target/compiled/sync_data_migration/analyses/verify_migration.sql

clean-dev:
	rm -f data/dev.db data/dev.db.dbt-work

clean:
	rm -rf target logs data
