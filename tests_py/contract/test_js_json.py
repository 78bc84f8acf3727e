"""js_json() of the C extension against JavaScript itself: random JSON texts
(escapes, surrogates, duplicate and array-index keys, every number form,
whitespace) and invalid ones, each compared with node's
JSON.stringify(JSON.parse(text)); invalid text gives NULL."""

import csv
import hashlib
import io
import json
import random
import sqlite3
import subprocess

import pytest
from conftest import JS_JSON_EXT, oracle
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
    assert all(isinstance(p, bytes) and len(p) == 16 for p in prints)
    again = conn.execute("select row_fingerprint('s', 'a', 'b')").fetchone()[0]
    assert again == prints[rows.index(("s", "a", "b"))]


def test_first_blob_is_the_position_typeof_finds_first():
    """first_blob(...) against the CASE of typeof() it replaces in reject_blob,
    over every storage class in every position, an empty BLOB included."""
    conn = extension()
    values = [None, "", "x", 0, 2.5, b"", b"\x00"]
    rows = [(a, b, c) for a in values for b in values for c in values]
    wrong = []
    for row in rows:
        found, expected = conn.execute(
            "select first_blob(?, ?, ?), case 'blob' when typeof(?) then 1"
            " when typeof(?) then 2 when typeof(?) then 3 else 0 end",
            row + row,
        ).fetchone()
        if found != expected:
            wrong.append((row, found, expected))
    assert wrong == []
    assert conn.execute("select first_blob(1, 'a', x'01', x'02')").fetchone()[0] == 3
    assert conn.execute("select first_blob('a')").fetchone()[0] == 0


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


def test_doc_pack_reads_back_every_text_byte_for_byte():
    """doc_pack/doc_unpack, how the document cache stores a document on
    SQLite: documents of every entity type, texts shaped almost like a
    document (a date one digit short, a key without its colon), random
    texts over the tokens' own characters, control characters, the empty
    text: each reads back exactly, and a contract document shrinks."""
    rng = random.Random(11)
    documents = [
        '{"id":"le_1","timestamp":"2024-06-01T00:00:00.123Z","duration":1800,"type":"PRACTICE",'
        '"instrument":"PIANO","pieces":[{"title":"Prelude","composer":"Bach"}],"techniques":[],'
        '"goalIds":[],"notes":null,"mood":"EXCITED","tags":["a"],"sessionId":null,'
        '"metadata":{"source":"manual"},"createdAt":"1969-12-31T23:59:59.999Z",'
        '"updatedAt":"+275760-09-13T00:00:00.000Z"}',
        '{"id":"g_1","title":"Goal","description":"\u00dcn\\"i\\"","targetDate":null,'
        '"progress":33.333333333333336,"milestones":[{"title":"Step 1","done":true}],'
        '"status":"ACTIVE","linkedEntries":["le_1"],"createdAt":"9999-12-31T23:59:59.999Z",'
        '"updatedAt":"0000-01-01T00:00:00.000Z","completedAt":null}',
        '{"id":"ps_1","instrument":"GUITAR","sheetMusicId":null,"sessionType":"ASSESSMENT",'
        '"startedAt":"2024-06-01T08:00:00.000Z","completedAt":null,"pausedDuration":0,'
        '"accuracyPercentage":null,"notesAttempted":0,"notesCorrect":0}',
    ]
    near = [
        '"2024-06-01T00:00:00.12Z"',
        '"2024-06-01T00:00:00.123Z',
        '"2024-06-01 00:00:00.123Z"',
        ',"timestamp"',
        ',"timestamp":',
        '{"source":"manual"',
        "nul",
        "null",
        '"PIANO',
        "\u0001",
        "",
        "a\x01b\x1fc\n",
    ]
    alphabet = list(',{}[]":-.TZ0123456789nultrefasPIANOé中🎸\n\x01\x02\x03 ')
    texts = documents + near + [d[:k] for d in documents for k in range(0, len(d), 7)]
    texts += [
        "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 300))) for _ in range(3000)
    ]
    texts += [
        "".join(rng.choice(documents)[rng.randrange(200) :][:60] for _ in range(5))
        for _ in range(500)
    ]
    conn = extension()
    got = [conn.execute("select doc_unpack(doc_pack(?))", (t,)).fetchone()[0] for t in texts]
    assert [t for t, g in zip(texts, got, strict=True) if g != t] == []
    packed = [conn.execute("select doc_pack(?)", (d,)).fetchone()[0] for d in documents]
    assert [round(len(p) / len(d.encode()), 2) for p, d in zip(packed, documents, strict=True)] == [
        0.36,
        0.42,
        0.2,
    ]
    # a text holding a control character is stored as it is, after a 0 byte
    assert conn.execute("select hex(doc_pack('a' || char(1)))").fetchone()[0] == "006101"
    assert conn.execute("select doc_pack(null), doc_unpack(null)").fetchone() == (None, None)
    # a text (a cache written before documents were packed) reads as it is
    assert conn.execute("select doc_unpack('{\"id\":1}')").fetchone()[0] == '{"id":1}'
    for damaged in ("x'02aa'", "x'0102'", "x'0101aa'", "x''"):
        with pytest.raises(sqlite3.OperationalError, match="not a document packed"):
            conn.execute(f"select doc_unpack({damaged})").fetchone()


def test_sha256_digest_and_hex_text_are_the_stored_checksum():
    """The cache's checksum is sha256_digest's 32 bytes; hex_text gives back
    sync_data's lower-case hex, and reads a text checksum as it is."""
    conn = extension()
    text = '{"id":"le_1","notes":"é"}'
    digest, hexed, again = conn.execute(
        "select sha256_digest(?), hex_text(sha256_digest(?)), hex_text(sha256_hex(?))",
        (text, text, text),
    ).fetchone()
    assert digest == hashlib.sha256(text.encode()).digest()
    assert hexed == again == hashlib.sha256(text.encode()).hexdigest()
    assert conn.execute("select sha256_digest(null), hex_text(null)").fetchone() == (None, None)
    assert conn.execute("select hex_text(x'00ff10')").fetchone()[0] == "00ff10"


def datetime_texts(rng):
    """DATETIME texts near the contract's two forms: real and impossible
    dates and times, fractions, zones, and each mutated by a character or
    two (inserted, deleted, replaced)."""
    texts = [
        "2024-02-29 10:00:00",
        "0000-01-01T00:00:00.000Z",
        "9999-12-31T23:59:59.9999999-23:59",
        "2024-06-01T08:00:00+05:30",
        "2024-01-01T10:00:00.",
        "2024-01-01 10:00:00Z",
        "2024-01-01T10:00:00+0530",
        "2024-01-01T10:00:00é",
        "",
    ]
    for _ in range(4000):
        text = (
            f"{rng.randrange(10000):04d}-{rng.randrange(14):02d}-{rng.randrange(33):02d}"
            f"{rng.choice(' T')}{rng.randrange(26):02d}:{rng.randrange(62):02d}"
            f":{rng.randrange(62):02d}"
        )
        if rng.random() < 0.5:
            text += "." + "".join(rng.choice("0123456789") for _ in range(rng.randrange(6)))
        text += rng.choice(
            ["", "Z", f"{rng.choice('+-')}{rng.randrange(26):02d}:{rng.randrange(62):02d}"]
        )
        texts.append(text)
    mutated = []
    for text in texts[:600]:
        chars = list(text)
        for _ in range(rng.randrange(1, 3)):
            at = rng.randrange(len(chars) + 1)
            if rng.random() < 0.4:
                chars.insert(at, rng.choice("0123456789-:T Z.+é"))
            elif chars and at < len(chars):
                if rng.random() < 0.5:
                    del chars[at]
                else:
                    chars[at] = rng.choice("0123456789-:T Z.+")
        mutated.append("".join(chars))
    return texts + mutated


def test_datetime_text_ms_reads_what_the_contract_reads():
    """datetime_text_ms(t), the C reader of a practice session's DATETIME
    text, against the JavaScript oracle's: the same instant for every text
    the oracle reads, NULL for every text it rejects as unreadable."""
    texts = datetime_texts(random.Random(13))
    rows = [
        {
            "entity_type": "practice_session",
            "user_exists": True,
            "row": {
                "id": f"ps_{i}",
                "user_id": "u_1",
                "instrument": "PIANO",
                "sheet_music_id": None,
                "session_type": "FREE_PRACTICE",
                "started_at": text,
                "completed_at": None,
                "paused_duration": None,
                "accuracy_percentage": None,
                "notes_attempted": None,
                "notes_correct": None,
            },
        }
        for i, text in enumerate(texts)
    ]
    expected = [
        json.loads(answer["data"])["startedAt"] if "data" in answer else answer["reject"]
        for answer in oracle(rows)
    ]
    conn = extension()
    got = [
        conn.execute("select js_date_iso(datetime_text_ms(?))", (text,)).fetchone()[0]
        or "unreadable_datetime: started_at"
        for text in texts
    ]
    assert [(t, e, g) for t, e, g in zip(texts, expected, got, strict=True) if e != g] == []
    assert 1000 < sum(not e.startswith("unreadable") for e in expected) < len(texts) - 1000
    assert conn.execute("select datetime_text_ms(null)").fetchone()[0] is None


def test_csv_line_is_read_back_by_a_csv_reader_value_for_value():
    """csv_line writes the diff file's lines: every value quoted, a quote
    doubled, NULL and '' both "", numbers as SQLite writes them as text."""
    values = [None, "", '"', 'a"b', "x\ny, z", "é\u2028", 7, -2, 2.5, 1e300]
    rng = random.Random(3)
    rows = [[rng.choice(values) for _ in range(4)] for _ in range(400)]
    conn = extension()
    lines = [conn.execute("select csv_line(?, ?, ?, ?)", row).fetchone()[0] for row in rows]
    as_text = {None: "", 7: "7", -2: "-2", 2.5: "2.5", 1e300: "1.0e+300"}
    expected = [[as_text.get(v, v) if not isinstance(v, str) else v for v in row] for row in rows]
    assert list(csv.reader(io.StringIO("\n".join(lines) + "\n"))) == expected
    assert conn.execute("select csv_line('a\"b', null, 1)").fetchone()[0] == '"a""b","","1"'
