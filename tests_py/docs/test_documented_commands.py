"""The shell commands of README.md and docs/operations.md work as documented.

Every ```sh block is split into commands (backslash continuations and quoted
newlines joined, comment lines skipped), and each command runs with bash, in
document order, in a scratch copy of the project whose dev database `make run`
has migrated. The absolute paths the docs use for an operator's files
(/backups/prod.db, /data/prod.db, /var/log/sync_data/..., /tmp/...) are
rewritten to files under the test's folder: the databases among them are
copies of the dev database with nothing migrated yet, so a documented command
never touches the machine and its effect can be seen.

The Markdown itself marks what cannot run here (docs/development.md, "The
documented commands"): a fence language other than sh, `<!-- not run: why -->`
on the line before a block, ``<!-- not run `cmd`: why -->`` for single
commands, and `# exit N` after a command that is expected to fail.
"""

import shutil
import sqlite3
import subprocess

import pytest
from conftest import PROJECT_DIR
from documented import (
    DOCUMENTS,
    SCRATCH_DATABASES,
    SCRATCH_ROOTS,
    command_env,
    date_back_sources,
    documented_commands,
    rewrite_paths,
    run_documented,
)


@pytest.fixture
def scratch_project(project_copy, tmp_path):
    """A project copy after `make run`, and the operator's databases as copies of it."""
    date_back_sources(project_copy)
    proc = subprocess.run(
        ["make", "run"],
        cwd=project_copy,
        env=command_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    scratch = tmp_path / "root"
    for root in SCRATCH_ROOTS:
        (scratch / root.lstrip("/")).mkdir(parents=True)
    for name in SCRATCH_DATABASES:
        path = scratch / name.lstrip("/")
        shutil.copy(project_copy / "data" / "dev.db", path)
        # the backend as it is before its first migration
        with sqlite3.connect(path) as conn:
            for table in ["sync_data", "migration_runs", "migration_rejects"]:
                conn.execute(f"delete from {table}")
    return project_copy, scratch


@pytest.mark.parametrize("document", DOCUMENTS)
def test_documented_commands_run(document, scratch_project):
    project, scratch = scratch_project
    commands, _ = documented_commands(document, (PROJECT_DIR / document).read_text())
    assert commands, f"{document} has no sh block"
    failures = run_documented(commands, project, scratch)
    assert not failures, f"{len(failures)} of {len(commands)} documented commands broke:\n\n" + (
        "\n\n".join(failures)
    )


def test_readme_starts_with_make_run_and_make_test():
    commands, not_run = documented_commands("README.md", (PROJECT_DIR / "README.md").read_text())
    first_block = (PROJECT_DIR / "README.md").read_text().split("```sh\n", 1)[1]
    assert first_block.startswith("make run    # ")
    assert first_block.splitlines()[1].startswith("make test   # ")
    assert commands[0].text.startswith("make run ")
    assert "make test" in [text.split("#")[0].strip() for text in not_run]


SAMPLE = """\
# Sample

```sh
echo one \\
  two                      # a continued command
# a comment line
false                      # exit 1: expected to fail
printf '%s' "a
b"
```

<!-- not run: needs a server -->
```sh
psql -c 'select 1'
```

<!-- not run `make test`: it is the suite -->
```sh
make help
make test   # every test
```

```cron
0 2 * * 0  scripts/weekly_sync.sh prod
```

```text
the API's own rows: not a command, and its quote never closes
```
"""


def test_commands_are_split_and_marked_as_documented():
    commands, not_run = documented_commands("SAMPLE.md", SAMPLE)
    assert [(c.line, c.text, c.expected_exit) for c in commands] == [
        (4, "echo one two                      # a continued command", 0),
        (7, "false                      # exit 1: expected to fail", 1),
        (8, "printf '%s' \"a\nb\"", 0),
        (19, "make help", 0),
    ]
    assert not_run == ["psql -c 'select 1'", "make test   # every test"]


def test_a_broken_command_fails(tmp_path):
    (tmp_path / "data").mkdir()
    markdown = "```sh\ntrue\nfalse   # exit 1\nexit 3\nls /backups/\n```\n"
    (tmp_path / "root" / "backups").mkdir(parents=True)
    commands, _ = documented_commands("BROKEN.md", markdown)
    failures = run_documented(commands, tmp_path, tmp_path / "root")
    assert len(failures) == 1 and failures[0].startswith("BROKEN.md:4: exit 3")
    with pytest.raises(AssertionError, match="not a scratch path"):
        rewrite_paths("cat /etc/passwd", tmp_path / "root")
