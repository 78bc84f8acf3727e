"""The layout's promises (issue 14), checked so that they stay true."""

import re

import yaml
from conftest import BACKEND_COLUMNS, PROJECT_DIR

MACRO_FILE_LIMIT = 250


def sql_files(folder):
    return sorted((PROJECT_DIR / folder).rglob("*.sql"))


# The one reader outside staging: the document cache's post-hook that forgets
# the cached rows whose backend row is gone reads the backend's keys (a hook
# cannot inline an ephemeral staging model).
CACHE_FORGETTING = "macros/document_cache/forget_gone_documents.sql"
# A narrowed merge's state hashes the backend's user ids inside the merge's
# transaction, where no model can be read.
USERS_HASH = "macros/sync_merge/merge_state.sql"


def test_only_staging_reads_sources():
    readers = [
        str(path.relative_to(PROJECT_DIR))
        for folder in ["models", "macros", "tests", "analyses"]
        for path in sql_files(folder)
        if re.search(r"(?<![\w.])source\(", path.read_text())
    ]
    assert CACHE_FORGETTING in readers and USERS_HASH in readers
    assert all(
        re.match(r"models/staging/(\w+)/stg_\1__", r)
        for r in readers
        if r not in (CACHE_FORGETTING, USERS_HASH)
    )


def test_no_macro_file_is_over_the_limit():
    long = {
        str(p.relative_to(PROJECT_DIR)): n
        for p in sql_files("macros")
        if (n := len(p.read_text().splitlines())) > MACRO_FILE_LIMIT
    }
    assert long == {}


def test_backend_columns_are_the_sources_columns():
    sources = yaml.safe_load(
        (PROJECT_DIR / "models/staging/backend/_backend__sources.yml").read_text()
    )
    declared = {
        table["name"]: [column["name"] for column in table["columns"]]
        for table in sources["sources"][0]["tables"]
    }
    macro = (PROJECT_DIR / "macros/contract/backend_columns.sql").read_text()
    listed = {
        table: re.findall(r"'(\w+)',", body)
        for table, body in re.findall(r"'(\w+)': \[(.*?)\]", macro, re.S)
    }
    assert listed == declared == BACKEND_COLUMNS


def test_entity_types_are_written_once():
    """Each migration entity type is named in code only by the contract's list
    and by its own documented model (its tag and meta)."""
    allowed = {
        "macros/contract/entity_types.sql",
        "models/intermediate/int_logbook_entries_documented.sql",
        "models/intermediate/int_goals_documented.sql",
        "models/intermediate/int_practice_sessions_documented.sql",
    }
    naming = set()
    for folder in ["models", "macros", "tests", "analyses"]:
        for path in sql_files(folder):
            if re.search(r"'(logbook_entry|practice_session|goal)'", path.read_text()):
                naming.add(str(path.relative_to(PROJECT_DIR)))
    assert naming == allowed
