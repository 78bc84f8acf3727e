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

.DEFAULT_GOAL := help
.PHONY: help setup browser postgres lint run test test-postgres verify report docs dry-run migrate rollback check-db check-make-vars clean-dev clean d1-pull d1-migrate d1-push d1-sync d1-rollback

# Shortcuts of the old scripts (migrate:sync:dry, migrate:sync, ...):
#   make dry-run|migrate TARGET=dev|staging|prod USER_ID=... ENTITIES=goal,practice_session
#   make migrate COMPARE=changed   (only the keys that may have changed since the last run)
#   make rollback ENTITY=goal|USER_ID=...|ALL=1 CONFIRM=1 [DRY_RUN=1]
# Given on the command line or in the environment, these reach the recipes'
# environment as they are (make passes exactly those); nothing is exported
# when they are not given, so that "given but blank" stays visible.

# Where make's dbt commands point: SYNC_DB_PATH, else the dev database.
DB_PATH = $(or $(SYNC_DB_PATH),data/dev.db)
WORK_DB_PATH = $(or $(SYNC_WORK_DB_PATH),$(DB_PATH).dbt-work)
CRYPTO_EXT = $(EXT_DIR)/crypto.so
# Production paths run no unit tests: their fixtures are the project's, not
# production's data, and dbt advises leaving them out of production builds.
PROD_BUILD = $(DBT) build --target $(TARGET) --exclude-resource-type unit_test

# A misspelt variable would be ignored and the run would widen to every row:
# any variable given on the command line that this Makefile does not read is
# refused (user_id=, USERID=, UID=), and so are the likely misspellings when
# they come from the environment.
KNOWN_VARS := TARGET SYNC_DB_PATH SYNC_WORK_DB_PATH USER_ID ENTITIES ENTITY DRY_RUN COMPARE ALL CONFIRM REPORT \
  D1_DATABASE WRANGLER_CONFIG WRANGLER_ENV D1_REMOTE D1_PERSIST_TO D1_FILE D1_PART_BYTES D1_RETRY_SECONDS SYSTEM_PYTHON
MISSPELT_VARS := USERID USER_IDS ENTITY_TYPE ENTITY_TYPES ENTITYS DRYRUN SYNC_DB
COMMAND_LINE_VARS = $(foreach v,$(.VARIABLES),$(if $(filter command line,$(origin $(v))),$(v)))
GIVEN_MISSPELT = $(strip $(filter-out $(KNOWN_VARS) SYNC_PG_% SYNC_SQLITE_%,$(COMMAND_LINE_VARS)) \
  $(foreach v,$(MISSPELT_VARS),$(if $(filter environment,$(origin $(v))),$(v))))
# A filter given but blank (USER_ID=$$unset, 'USER_ID=$$x', ENTITIES= , ) would
# be dropped and widen the run to every user or entity type; a DRY_RUN that is
# blank or misspelt (DRY_RUN=, DRY_RUN=on) would be a real run.
comma := ,
FILTER_VARS := USER_ID ENTITIES ENTITY
GIVEN_BLANK = $(strip $(foreach v,$(FILTER_VARS),$(if $(filter command line environment,$(origin $(v))),$(if $(strip $(subst $(comma), ,$($(v)))),,$(v)))))
FLAG_WORDS := 1 0 true false yes no TRUE FALSE YES NO True False Yes No
GIVEN_BAD_FLAGS = $(strip $(foreach v,DRY_RUN ALL CONFIRM,$(if $(filter command line environment,$(origin $(v))),$(if $(filter $(FLAG_WORDS),$(strip $($(v)))),,$(v)))))
# Targets that read no filter: a filter given to them narrows nothing.
UNFILTERED_GOALS := $(filter run verify docs d1-pull d1-push,$(MAKECMDGOALS))
GIVEN_FILTERS = $(strip $(foreach v,$(FILTER_VARS),$(if $(filter command line,$(origin $(v))),$(v))))
check-make-vars: ## refuse a variable this Makefile does not read (USERID=), a blank filter (USER_ID=), a DRY_RUN that is not 1 or 0, or an unknown TARGET
	@if [ -n "$(GIVEN_MISSPELT)" ]; then \
	  echo "make: $(foreach v,$(GIVEN_MISSPELT),$(v)=) is not a variable of this Makefile, so it would be ignored and the run would widen to every row; nothing was run. Use USER_ID=, ENTITIES= (or ENTITY=), DRY_RUN=1, TARGET= and SYNC_DB_PATH= (make help lists them)." >&2; exit 2; fi
	@if [ -n "$(GIVEN_BLANK)" ]; then \
	  echo "make: $(foreach v,$(GIVEN_BLANK),$(v)=) given but blank, which would widen the run to every row; nothing was run. Leave the variable out to cover everything, or give it a value." >&2; exit 2; fi
	@if [ -n "$(GIVEN_BAD_FLAGS)" ]; then \
	  echo "make: $(foreach v,$(GIVEN_BAD_FLAGS),$(v)=$($(v))) is neither 1 nor 0 (or true/false, yes/no); nothing was run." >&2; exit 2; fi
	@if [ -n "$(UNFILTERED_GOALS)" ] && [ -n "$(GIVEN_FILTERS)" ]; then \
	  echo "make: $(UNFILTERED_GOALS) reads no filter, so $(foreach v,$(GIVEN_FILTERS),$(v)=) would narrow nothing; nothing was run. Filters belong to migrate, dry-run, rollback and d1-migrate." >&2; exit 2; fi
	@case "$(TARGET)" in dev|staging|prod|postgres) ;; \
	  *) echo "make: TARGET=$(TARGET) is not a target of profiles.yml; use dev, staging, prod or postgres." >&2; exit 2 ;; esac

# make migrate, dry-run and rollback hold the lock the weekly job and the d1
# steps take on a SQLite file, so none of them runs beside another.
LOCKED = $(if $(filter postgres,$(TARGET)),,scripts/with_lock.sh "$(DB_PATH).lock")

help: ## every target, one line each, with the variables it reads
	@echo "usage: make TARGET [VAR=value ...]"
	@grep -E '^[a-z][a-z0-9-]*:.*## ' $(MAKEFILE_LIST) \
	  | sed -E 's/^([a-z0-9-]+):.*## (.*)$$/\1\t\2/' \
	  | awk -F '\t' '{ printf "  %-14s %s\n", $$1, $$2 }'

$(VENV)/.installed: requirements.txt
	@$(SYSTEM_PYTHON) -c 'import sqlite3; c = sqlite3.connect(":memory:"); c.enable_load_extension(True)' \
	  || { echo "$(SYSTEM_PYTHON) cannot load SQLite extensions; set SYSTEM_PYTHON to a Python that can (Debian's /usr/bin/python3 does)." >&2; exit 1; }
	@$(SYSTEM_PYTHON) -c 'import ensurepip' 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-venv; }
	$(SYSTEM_PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.txt 2>&1 \
	  | { grep -v 'is ignored: it is neither' || true; }
	touch $@

# .venv/bin/dbt becomes the project's launcher (scripts/dbt_launcher.py):
# dbt-core's CLI, runnable from any folder of the repository, refusing a
# SYNC_DB_PATH that names no file before SQLite creates one. .venv/bin/sqlfluff
# lifts sqlparse's limits as dbt's CLI does (scripts/sqlfluff_launcher.py).
$(VENV)/.launcher: scripts/dbt_launcher.py scripts/sqlfluff_launcher.py $(VENV)/.installed
	{ echo "#!$$(realpath $(VENV))/bin/python"; cat scripts/dbt_launcher.py; } > $(VENV)/bin/dbt
	{ echo "#!$$(realpath $(VENV))/bin/python"; cat scripts/sqlfluff_launcher.py; } > $(VENV)/bin/sqlfluff
	chmod +x $(VENV)/bin/dbt $(VENV)/bin/sqlfluff
	touch $@

EXT_DIR := $(VENV)/sqlite-extensions
# sqlean's crypto.so (sha256) from the installed wheel, under a path that
# names no Python version, as profiles.yml loads it. A copy, not a link: make
# reads a link's age from the wheel's file, older than .installed, and would
# redo the link on every call, under the feet of a running dbt.
$(EXT_DIR)/crypto.so: $(VENV)/.installed
	mkdir -p $(EXT_DIR)
	cp $(VENV)/lib/python3*/site-packages/sqlite_sqlean/crypto.so $@.tmp
	mv $@.tmp $@

$(EXT_DIR)/js_json.so: extensions/sqlite/js_json.c extensions/sqlite/row_functions.c extensions/sqlite/file_functions.c extensions/sqlite/document_pack.c $(VENV)/.installed
	@test -f /usr/include/sqlite3ext.h || { apt-get update -qq && apt-get install -y -qq libsqlite3-dev; }
	@test -f /usr/include/openssl/evp.h || { apt-get update -qq && apt-get install -y -qq libssl-dev; }
	mkdir -p $(EXT_DIR)
	gcc -O2 -Wall -Wextra -shared -fPIC -o $@ extensions/sqlite/js_json.c extensions/sqlite/row_functions.c extensions/sqlite/file_functions.c extensions/sqlite/document_pack.c -lcrypto

# Cloudflare's wrangler, pinned by package-lock.json, for the D1 round trip.
# Node and npm come from Debian's packages where missing.
node_modules/.installed: package.json package-lock.json
	@command -v npm > /dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed $(VENV)/.launcher $(EXT_DIR)/crypto.so $(EXT_DIR)/js_json.so node_modules/.installed ## the virtual environment, pinned packages, dbt launcher, C extension, wrangler (SYSTEM_PYTHON)

run: setup check-make-vars ## the main job on the embedded dev database data/dev.db: sample backend, migrate, test
	mkdir -p data
	$(DBT) build --target dev

browser: ## Debian's Chromium, for the docs lineage test
	@command -v chromium > /dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

docs: run ## the lineage site on the dev database: target/index.html and target/static_index.html
	$(DBT) docs generate --target dev
	$(DBT) docs generate --static --target dev
	@echo "open target/static_index.html, or: $(DBT) docs serve --port 8080"

# sqlfluff's dbt templater compiles against a database: a scratch one under
# target/, so lint never needs (or touches) the dev database.
lint: setup ## the pre-commit hooks on every file: yaml, whitespace, ruff, sqlfluff
	mkdir -p target/lint
	SYNC_DB_PATH=target/lint/lint.db $(VENV)/bin/pre-commit run --all-files --show-diff-on-failure

# The tests start their own cluster; the package's default one is not wanted.
# plpgsql_check is packaged per server version: the one scripts/pg_cluster.sh
# starts, the newest.
postgres: ## Debian's PostgreSQL and plpgsql_check, for the second engine's tests
	@ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1 || { \
	  mkdir -p /etc/postgresql-common \
	  && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf \
	  && apt-get update -qq && apt-get install -y -qq postgresql; }
	@version=$$(ls /usr/lib/postgresql | sort -V | tail -n 1); \
	  ls /usr/share/postgresql/$$version/extension/plpgsql_check.control > /dev/null 2>&1 || { \
	  apt-get update -qq && apt-get install -y -qq postgresql-$$version-plpgsql-check; }

# scripts/with_postgres.sh starts a throwaway cluster on 127.0.0.1 as an
# unprivileged user around pytest and removes it after. pytest-xdist runs one
# worker more than there are cores (the tests spend part of their time waiting
# on wrangler, servers and locks), each test module whole on one worker, so a
# module's shared D1 or scenario is built once.
TEST_WORKERS := $(shell echo $$(( $$(nproc) + 1 )))
test: lint browser postgres ## lint, then every test on SQLite and a throwaway PostgreSQL (installs Chromium, PostgreSQL)
	scripts/with_postgres.sh $(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadfile --durations 25 tests_py

test-postgres: setup postgres ## the PostgreSQL tests only (SYNC_PG_TEST_HOST/PORT/USER/DATABASE for an existing server)
	scripts/with_postgres.sh $(VENV)/bin/pytest -q tests_py/postgres/test_postgres.py

# Only the default dev database may be created; any other path must exist.
# The database and its work file must be SQLite files: dbt would only say
# "file is not a database", without the path (scripts/check_sqlite_files.py).
check-db: check-make-vars ## refuse a SYNC_DB_PATH that names no database (TARGET, SYNC_DB_PATH)
	@if [ "$(TARGET)" != postgres ] && [ "$(DB_PATH)" != data/dev.db ] && [ ! -s "$(DB_PATH)" ]; then \
	  echo "The $(TARGET) database '$(DB_PATH)' does not exist or is empty: set SYNC_DB_PATH to the database file. Nothing was run." >&2; exit 2; fi
	@if [ "$(TARGET)" = staging ] || [ "$(TARGET)" = prod ]; then [ -n "$(SYNC_DB_PATH)" ] || { \
	  echo "TARGET=$(TARGET) needs SYNC_DB_PATH, the $(TARGET) database file. Nothing was run." >&2; exit 2; }; fi
	@$(PY) scripts/check_sqlite_files.py "$(TARGET)" "$(DB_PATH)" "$(WORK_DB_PATH)"

dry-run: setup check-db ## what a migration would write, writing nothing (TARGET, SYNC_DB_PATH, USER_ID, ENTITIES or ENTITY)
	vars=$$(DRY_RUN=1 $(PY) scripts/dbt_vars.py) && $(LOCKED) $(DBT) run --target $(TARGET) --vars "$$vars"

migrate: setup check-db ## the migration: dbt build without unit tests (TARGET, SYNC_DB_PATH, USER_ID, ENTITIES or ENTITY, COMPARE=changed)
	vars=$$($(PY) scripts/dbt_vars.py) && $(LOCKED) $(PROD_BUILD) --vars "$$vars"

rollback: setup check-db ## remove migrated rows (ENTITY or USER_ID, or ALL=1 CONFIRM=1; DRY_RUN=1 counts only; TARGET, SYNC_DB_PATH)
	args=$$($(PY) scripts/dbt_vars.py --rollback) && $(LOCKED) $(DBT) run-operation rollback_sync_data --target $(TARGET) --args "$$args"

# The run report reads what the runs recorded (migration_runs, the latest
# run's document diff, conflicts, rejects) and writes one HTML page that
# opens offline; it changes nothing.
report: setup check-db ## the run report: history chart, the latest run's document diff, conflicts, rejects, as one offline HTML page (TARGET, SYNC_DB_PATH, REPORT=target/run_report.html)
	$(PY) scripts/run_report.py --target $(TARGET) --database "$(DB_PATH)" --out "$(or $(REPORT),target/run_report.html)"

verify: setup check-db ## the verification queries, every check with its verdict (TARGET, SYNC_DB_PATH; SQLite only)
	@if [ "$(TARGET)" = postgres ]; then \
	  echo "make verify reads SQLite files; on PostgreSQL: dbt compile --target postgres --select verify_migration, then psql -f target/compiled/sync_data_migration/analyses/verify_migration.sql" >&2; exit 2; fi
	@[ -s "$(DB_PATH)" ] || { echo "make verify: the database '$(DB_PATH)' does not exist; run make run (dev) or set SYNC_DB_PATH." >&2; exit 2; }
	$(DBT) compile --quiet --target $(TARGET) --select verify_migration > /dev/null
	@report=$$(sqlite3 -readonly -header -column \
	  -cmd ".load $(EXT_DIR)/js_json" \
	  -cmd "attach 'file:$(WORK_DB_PATH)?mode=ro' as work" \
	  "$(DB_PATH)" < target/compiled/sync_data_migration/analyses/verify_migration.sql) \
	  && echo "$$report" \
	  && if echo "$$report" | grep -Eq '^0 verdict +[0-9]+ [A-Za-z_ ]+ +FAIL '; then \
	    echo "make verify: a check failed (FAIL above)." >&2; exit 1; fi

# The D1 round trip (docs/d1.md): pull D1 into a local SQLite file, migrate
# it as any SQLite file, push a guarded patch of what changed. Wrangler's local
# D1 unless D1_REMOTE=1; credentials only from wrangler's own environment.
# Each step takes the lock of its database (scripts/d1/identity.py), so a pull
# cannot delete the patch a push is applying. The variables reach scripts/d1
# through the environment, as make passes what was given.
D1 := $(PY) scripts/d1

d1-pull: setup check-make-vars ## D1's tables into the database's local copy, checked value for value (D1_DATABASE, WRANGLER_CONFIG, WRANGLER_ENV, D1_REMOTE, D1_PERSIST_TO, D1_FILE)
	$(D1) pull

d1-migrate: setup check-make-vars ## the migration on the pulled copy, then the patch of what it changed; DRY_RUN=1 plans only (USER_ID, ENTITIES or ENTITY, DRY_RUN, and the d1-pull variables)
	$(D1) migrate

d1-push: setup check-make-vars ## the patch into D1, guarded, then every patched row read back and the run history (the d1-pull variables)
	$(D1) push

d1-sync: setup check-make-vars ## pull, migrate, push: the weekly job on D1 (scripts/weekly_sync.sh d1); DRY_RUN=1 stops after the patch
	scripts/weekly_sync.sh d1

d1-rollback: setup check-make-vars ## pull, tombstone the migrated rows on the copy, push them (ENTITY or USER_ID, or ALL=1 CONFIRM=1; DRY_RUN=1 counts only; the d1-pull variables)
	$(D1) rollback

clean-dev: ## remove the dev database to start again
	rm -f data/dev.db data/dev.db.dbt-work

clean: ## remove target/, logs/ and data/
	rm -rf target logs data
