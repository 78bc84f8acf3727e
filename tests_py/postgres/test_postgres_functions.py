"""PostgreSQL's SQL and PL/pgSQL functions (macros/adapters/postgres_functions/,
one macro file per function), checked as strictly as a linter would.

sqlfluff (scripts/lint_postgres_functions.py, run by make lint) reads a
function's body as a string literal, so PostgreSQL checks the bodies here: each
file is installed, in install_js_functions' order, into a scratch schema with
check_function_bodies on, which fully analyses a SQL function's body (every
function, type and column it names must exist); then every PL/pgSQL function
goes through plpgsql_check, which resolves what PL/pgSQL itself resolves only
when a statement runs (names, types, unused variables, dead code), with all
of its warning classes on. plpgsql_check is Debian's
postgresql-NN-plpgsql-check (make postgres installs it); on a server without
it, only that test is skipped.
"""

import importlib.util
import re
import uuid

import psycopg2
import pytest
from conftest import PROJECT_DIR
from pg import server_settings

_spec = importlib.util.spec_from_file_location(
    "lint_postgres_functions", PROJECT_DIR / "scripts" / "lint_postgres_functions.py"
)
functions = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(functions)

# What plpgsql_check reports that is meant: (function, level, message).
ACCEPTED_FINDINGS = {
    # the cast is the validity test; the json value itself is not needed
    ("js_json_is_valid(t text)", "warning extra", 'never read variable "v"'),
}


def created_functions(sql):
    """What each `create` statement of a rendered file creates."""
    return re.findall(r"\bcreate\b[^(]*", sql, flags=re.IGNORECASE)


def test_each_file_defines_one_function_named_like_it_and_is_installed():
    files = functions.function_files()
    assert len(files) > 1
    for path in files:
        macros = functions.MACRO_TAG.findall(path.read_text())
        assert macros == [(functions.MACRO_PREFIX + path.stem, "schema")], path.name
        # schema-qualified, and nothing else created (overloads share the name)
        created = created_functions(functions.render(path, "scratch"))
        assert created, path.name
        assert set(created) == {f"create or replace function scratch.{path.stem}"}, path.name
    order = functions.install_order()
    # each exactly once; the order itself is checked by installing in it
    assert sorted(order) == sorted(path.stem for path in files)


@pytest.fixture(scope="module")
def scratch():
    """A scratch schema holding every function file, installed in
    install_js_functions' order: (connection, schema, {file: error})."""
    conn = psycopg2.connect(**server_settings())
    conn.autocommit = True
    schema = "fn_" + uuid.uuid4().hex[:12]
    with conn.cursor() as cur:
        cur.execute(f"create schema {schema}")
        # as the profile's connection: the functions call one another by name
        cur.execute(f"set search_path = {schema}")
        cur.execute("set check_function_bodies = on")
        errors = {}
        for name in functions.install_order():
            try:
                cur.execute(functions.render(functions.FUNCTIONS_DIR / f"{name}.sql", schema))
            except psycopg2.Error as error:
                errors[f"{name}.sql"] = str(error).strip()
    try:
        yield conn, schema, errors
    finally:
        with conn.cursor() as cur:
            cur.execute(f"drop schema {schema} cascade")
        conn.close()


def query(conn, sql, params=()):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def installed(conn, schema):
    """{'name(identity arguments)': language} of the schema's own functions."""
    rows = query(
        conn,
        "select p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', l.lanname"
        " from pg_proc as p join pg_language as l on l.oid = p.prolang"
        " where p.pronamespace = %s::regnamespace"
        " and not exists (select from pg_depend as d where d.objid = p.oid and d.deptype = 'e')",
        (schema,),
    )
    return dict(rows)


def test_each_function_compiles_in_install_order(scratch):
    conn, schema, errors = scratch
    assert errors == {}
    names = {signature.split("(")[0] for signature in installed(conn, schema)}
    assert names == set(functions.install_order())
    # every create statement made its own function: no overload replaced another
    statements = sum(
        len(created_functions(functions.render(path, schema)))
        for path in functions.function_files()
    )
    assert len(installed(conn, schema)) == statements


def test_plpgsql_functions_pass_plpgsql_check(scratch):
    conn, schema, errors = scratch
    assert errors == {}, "see test_each_function_compiles_in_install_order"
    if not query(conn, "select from pg_available_extensions where name = 'plpgsql_check'"):
        pytest.skip(
            "the PostgreSQL server has no plpgsql_check: make postgres installs Debian's"
            " postgresql-NN-plpgsql-check"
        )
    where = query(
        conn,
        "select extnamespace::regnamespace::text from pg_extension where extname = 'plpgsql_check'",
    )
    if where:
        extension_schema = where[0][0]
    else:
        with conn.cursor() as cur:
            # dropped with the scratch schema
            cur.execute(f"create extension plpgsql_check schema {schema}")
        extension_schema = schema
    plpgsql = [f for f, language in installed(conn, schema).items() if language == "plpgsql"]
    assert len(plpgsql) > 1
    findings = query(
        conn,
        "select p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',"
        " c.level, c.message"
        " from pg_proc as p join pg_language as l on l.oid = p.prolang"
        f" cross join lateral {extension_schema}.plpgsql_check_function_tb("
        "     p.oid, fatal_errors => false, other_warnings => true,"
        "     performance_warnings => true, extra_warnings => true,"
        "     security_warnings => true, compatibility_warnings => true"
        " ) as c"
        " where p.pronamespace = %s::regnamespace and l.lanname = 'plpgsql'"
        " order by 1, c.lineno",
        (schema,),
    )
    assert sorted(findings) == sorted(ACCEPTED_FINDINGS)
