"""Random JSON texts (escapes, surrogates, duplicate and array-index keys,
every number form, whitespace), invalid ones, and what node's
JSON.stringify(JSON.parse(text)) makes of each: the oracle of js_json() on
SQLite (contract/test_js_json.py) and PostgreSQL (postgres/test_postgres.py)."""

import json
import subprocess

STRING_PARTS = [
    "a",
    " ",
    "é",
    "日本",
    "😀",
    "\u2028",
    "\x7f",
    "/",
    '\\"',
    "\\\\",
    "\\/",
    "\\b",
    "\\f",
    "\\n",
    "\\r",
    "\\t",
    "\\u0000",
    "\\u001f",
    "\\u0041",
    "\\u00e9",
    "\\ud800",
    "\\udfff",
    "\\ud83d\\ude00",
    "\\uD83D\\uDE00",
    "\\ufeff",
    "0",
    "01",
    "__proto__",
]
NUMBERS = [
    "0",
    "-0",
    "0.0",
    "-0.0",
    "1e21",
    "1E21",
    "1e-7",
    "1.5e-7",
    "123e-20",
    "1e400",
    "-1e400",
    "9007199254740993",
    "0.1",
    "1.10",
    "5e-324",
    "2e-324",
    "1.7976931348623157e308",
    "1E+2",
    "12345678901234567890123",
    "33.333333333333336",
    "50.0",
]
KEYS = [
    '"a"',
    '"b"',
    '"\\u0061"',
    '"0"',
    '"1"',
    '"10"',
    '"2"',
    '"01"',
    '"-1"',
    '"4294967294"',
    '"4294967295"',
    '"é"',
    '"\\u00e9"',
]
INVALID = [
    "[1,]",
    '{"a":1,}',
    "[01]",
    '["a\x01"]',
    '["\\x"]',
    "[1.]",
    "",
    "nul",
    "[1] x",
    '"\\u12"',
    "[-]",
    '{"a" 1}',
    "[1 2]",
    "[NaN]",
    "'a'",
]


def random_texts(rng, count):
    def string():
        return '"' + "".join(rng.choice(STRING_PARTS) for _ in range(rng.randint(0, 5))) + '"'

    def number():
        if rng.random() < 0.5:
            return rng.choice(NUMBERS)
        return (
            repr(rng.uniform(-1e6, 1e6))
            if rng.random() < 0.5
            else f"{rng.randint(0, 999)}.{rng.randint(0, 9999)}e-{rng.randint(0, 30)}"
        )

    def ws():
        return rng.choice(["", "", " ", "\n", "\t ", "\r\n"])

    def value(depth=0):
        kind = rng.random() * (0.5 if depth > 3 else 1)
        if kind < 0.2:
            return string()
        if kind < 0.4:
            return number()
        if kind < 0.5:
            return rng.choice(["true", "false", "null"])
        if kind < 0.75:
            return (
                "["
                + ",".join(ws() + value(depth + 1) + ws() for _ in range(rng.randint(0, 4)))
                + "]"
            )
        keys = [
            rng.choice(KEYS) if rng.random() < 0.6 else string() for _ in range(rng.randint(0, 6))
        ]
        return "{" + ",".join(ws() + k + ws() + ":" + ws() + value(depth + 1) for k in keys) + "}"

    return [ws() + value() + ws() for _ in range(count)]


def javascript_answers(texts):
    """node's JSON.stringify(JSON.parse(text)) of each text; None where it throws."""
    node = subprocess.run(
        [
            "node",
            "-e",
            "const t = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
            "console.log(JSON.stringify(t.map(x => { try { return JSON.stringify(JSON.parse(x)) }"
            " catch (e) { return null } })))",
        ],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(node.stdout)
