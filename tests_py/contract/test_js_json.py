"""js_json() of the C extension against JavaScript itself: random JSON texts
(escapes, surrogates, duplicate and array-index keys, every number form,
whitespace) and invalid ones, each compared with node's
JSON.stringify(JSON.parse(text)); invalid text gives NULL."""

import hashlib
import json
import random
import sqlite3
import subprocess

import pytest
from conftest import JS_JSON_EXT
from json_texts import INVALID, javascript_answers, random_texts


@pytest.mark.parametrize("seed", [1, 2])
def test_js_json_matches_javascript(seed):
    texts = random_texts(random.Random(seed), 5000) + INVALID
    expected = javascript_answers(texts)
    conn = sqlite3.connect(":memory:")
    conn.enable_load_extension(True)
    conn.load_extension(str(JS_JSON_EXT))
    got = [conn.execute("select js_json(?)", (text,)).fetchone()[0] for text in texts]
    wrong = [(t, e, g) for t, e, g in zip(texts, expected, got, strict=True) if e != g]
    assert wrong == []
    assert sum(e is None for e in expected) >= len(INVALID)


def extension():
    conn = sqlite3.connect(":memory:")
    conn.enable_load_extension(True)
    conn.load_extension(str(JS_JSON_EXT))
    return conn


def test_js_date_iso_matches_javascript():
    """js_date_iso(ms) against node's new Date(ms).toISOString(): Date's range
    ends, the years around 0000 and 9999, leap days, negative instants,
    non-integral numbers (truncated toward zero), and random instants."""
    limit = 8_640_000_000_000_000
    rng = random.Random(3)
    values = [
        -limit,
        limit,
        0,
        -1,
        1,
        1.9,
        -1.9,
        -86_400_000,
        -86_399_999,
        -62_167_219_200_000,  # 0000-01-01
        -62_167_219_200_001,
        253_402_300_799_999,  # 9999-12-31T23:59:59.999
        253_402_300_800_000,
        951_782_400_000,  # 2000-02-29
        -2_208_988_800_000,
        4_107_542_400_000,  # 2100-03-01
    ] + [rng.randint(-limit, limit) for _ in range(3000)]
    node = subprocess.run(
        [
            "node",
            "-e",
            "const v = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
            "console.log(JSON.stringify(v.map((x) => new Date(x).toISOString())))",
        ],
        input=json.dumps(values),
        capture_output=True,
        text=True,
        check=True,
    )
    expected = json.loads(node.stdout)
    conn = extension()
    got = [conn.execute("select js_date_iso(?)", (value,)).fetchone()[0] for value in values]
    wrong = [(v, e, g) for v, e, g in zip(values, expected, got, strict=True) if e != g]
    assert wrong == []
    assert got[:2] == ["-271821-04-20T00:00:00.000Z", "+275760-09-13T00:00:00.000Z"]
    assert conn.execute("select js_date_iso(null)").fetchone()[0] is None


def test_row_fingerprint_tells_values_apart():
    """Every storage class, the boundaries between values, and the salt
    change the fingerprint; the same values give the same one."""
    conn = extension()
    rows = [
        ("s", None),
        ("s", ""),
        ("s", 5),
        ("s", 5.0),
        ("s", "5"),
        ("s", b"5"),
        ("s", "ab", ""),
        ("s", "a", "b"),
        ("s", "", "ab"),
        ("s", "b", "a"),
        ("s", None, None),
        ("t", None),
        ("s", "x" * 17),
        ("s", "x" * 16),
        ("s", 2**63 - 1),
        ("s", -(2**63)),
        ("s", 0),
        ("s", -0.0),
    ]
    prints = [
        conn.execute(f"select row_fingerprint({', '.join('?' * len(row))})", row).fetchone()[0]
        for row in rows
    ]
    assert len(set(prints)) == len(rows)
    assert all(len(p) == 32 and int(p, 16) >= 0 for p in prints)
    again = conn.execute("select row_fingerprint('s', 'a', 'b')").fetchone()[0]
    assert again == prints[rows.index(("s", "a", "b"))]


def test_sha256_hex_is_the_checksum_javascript_computes():
    """sha256_hex(x), the checksum of every document, against node's
    createHash('sha256').update(text, 'utf8').digest('hex'): ASCII, escapes,
    multi-byte characters and emoji, the empty text, long documents; a blob
    hashes its own bytes and NULL gives NULL."""
    rng = random.Random(7)
    alphabet = 'ab"\\{}:,\n\u00e9\u4e2d\U0001f3b8 '
    texts = ["", "abc", '{"id":"le_1","notes":"She said \\"slower\\""}', "x" * 100_000]
    texts += [
        "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 600))) for _ in range(300)
    ]
    script = (
        "const {createHash} = require('crypto');"
        "const texts = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(texts.map("
        "t => createHash('sha256').update(t, 'utf8').digest('hex'))));"
    )
    node = subprocess.run(
        ["node", "-e", script], input=json.dumps(texts), capture_output=True, text=True, check=True
    )
    expected = json.loads(node.stdout)
    conn = extension()
    got = [conn.execute("select sha256_hex(?)", (text,)).fetchone()[0] for text in texts]
    assert got == expected
    assert expected[2] == hashlib.sha256(texts[2].encode()).hexdigest()
    assert conn.execute("select sha256_hex(null)").fetchone()[0] is None
    assert conn.execute("select sha256_hex(x'00ff')").fetchone()[0] == (
        hashlib.sha256(b"\x00\xff").hexdigest()
    )
    assert conn.execute("select sha256_hex(5)").fetchone()[0] == hashlib.sha256(b"5").hexdigest()
