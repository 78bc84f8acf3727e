"""Where a dbt invocation spent its time, statement by statement, from its debug log.

dbt writes every statement it sends, and then "SQL status: OK in N seconds",
to logs/dbt.log (DBT_LOG_PATH). This reads the last invocation in a log and
returns its statements, slowest first, each labelled with its node and the
first words of its SQL.

    .venv/bin/python benchmarks/statement_profile.py [logs/dbt.log] [--top 12]
"""

import argparse
import re
from pathlib import Path

STATEMENT = re.compile(r"\]: On ([^:]+): (.*)$")
STATUS = re.compile(r"SQL status: \S+ in ([0-9.]+) seconds")
START = "Running with dbt="
COMMENT = re.compile(r"/\*.*?\*/")
STAMP = re.compile(r"(\d\d):(\d\d):(\d\d\.\d+) \[")


def label(node, sql_lines):
    """The node's short name and the statement's first words."""
    text = COMMENT.sub("", " ".join(sql_lines))
    words = " ".join(text.split())[:90]
    return f"{node.split('.')[-1]}: {words}"


def statements(log_path):
    """[(seconds, label)] of the last invocation in the log, slowest first."""
    lines = Path(log_path).read_text(errors="replace").splitlines()
    begin = max((i for i, line in enumerate(lines) if START in line), default=0)
    found, node, sql = [], None, []
    for line in lines[begin:]:
        started = STATEMENT.search(line)
        if started:
            node, sql = started.group(1), [started.group(2)]
            continue
        done = STATUS.search(line)
        if done and node:
            found.append((float(done.group(1)), label(node, sql)))
            node, sql = None, []
        elif node and "[debug]" not in line and "[info" not in line:
            sql.append(line)
    return sorted(found, reverse=True)


def span(log_path, first, last):
    """Seconds from the first line holding `first` to the next holding `last`,
    in the last invocation in the log (0 when either is missing)."""
    lines = Path(log_path).read_text(errors="replace").splitlines()
    begin = max((i for i, line in enumerate(lines) if START in line), default=0)
    started = None
    for i, line in enumerate(lines[begin:], begin):
        if started is None and first in line:
            # the statement's text follows its "On node:" line with the time
            started = next(
                (STAMP.search(lines[j]) for j in range(i, begin - 1, -1) if STAMP.search(lines[j])),
                None,
            )
        elif started is not None and last in line and STAMP.search(line):
            return seconds_of(STAMP.search(line)) - seconds_of(started)
    return 0.0


def seconds_of(stamp):
    hours, minutes, seconds = stamp.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("log", nargs="?", default="logs/dbt.log")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    found = statements(args.log)
    print(f"{sum(s for s, _ in found):.2f} s in {len(found)} statements")
    for seconds, text in found[: args.top]:
        print(f"{seconds:8.3f}  {text}")


if __name__ == "__main__":
    main()
