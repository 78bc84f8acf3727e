"""Random, varied backend rows for differential tests (deterministic per seed).

JSON texts are written by hand, not by json.dumps, so that they carry what
real data carries: blanks, \\u escapes, \\/, numbers written as 1.50, 1E2, -0,
integers beyond 2^53, duplicate keys and array-index keys.
"""

import struct

ALPHABET = "abcxyzABC 0123456789-_.,:;!?'\"\\/\t\n\r\b\f\x00\x01\x1f\x7féüß€你好🎹👍🏽\u2028\u2029"


def random_text(rng, max_len=12):
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, max_len)))


def json_string(rng, text):
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif code < 0x20:
            out.append(rng.choice([f"\\u{code:04x}", f"\\u{code:04X}"]))
        elif ch == "/" and rng.random() < 0.5:
            out.append("\\/")
        elif rng.random() < 0.15:
            if code > 0xFFFF:
                hi, lo = divmod(code - 0x10000, 0x400)
                out.append(f"\\u{0xD800 + hi:04x}\\u{0xDC00 + lo:04x}")
            else:
                out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    if rng.random() < 0.05:
        out.append(rng.choice(["\\ud800", "\\uDBFF", "\\udc00", "\\uDFFF x"]))
    out.append('"')
    return "".join(out)


def random_double(rng):
    choice = rng.random()
    if choice < 0.25:
        return struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
    if choice < 0.5:
        return rng.choice(
            [
                0.1 + 0.2,
                1e21,
                1e-7,
                1e-6,
                123e-20,
                5e-324,
                1.7976931348623157e308,
                33.333333333333336,
                50.0,
                2.0**53 + 2,
                2.0**63,
                1e300,
                0.5,
                -1.25,
                100.0 / 3,
            ]
        )
    return round(rng.uniform(-1e6, 1e6), rng.randint(0, 12)) * rng.choice([1, 1e-10, 1e10, 1e20])


def json_number(rng):
    choice = rng.random()
    if choice < 0.3:
        return str(rng.randint(-(10**6), 10**6))
    if choice < 0.45:
        return rng.choice(
            [
                "-0",
                "-0.0",
                "0e5",
                "1.50",
                "1E2",
                "1e+2",
                "2.5E-3",
                "1e21",
                "1e-7",
                "12345678901234567890",
                "9007199254740993",
                "-9007199254740993",
                "0.30000000000000004",
                "1e400",
                "-1e400",
                "123456789012345678901234567890",
            ]
        )
    value = random_double(rng)
    if value != value or value in (float("inf"), float("-inf")):
        return "0"
    text = repr(value)
    if rng.random() < 0.3:
        text = text.replace("e", "E")
    return text


def json_value(rng, depth=0):
    kinds = ["string", "number", "literal"] + (["array", "object"] * 2 if depth < 4 else [])
    kind = rng.choice(kinds)
    if kind == "string":
        return json_string(rng, random_text(rng))
    if kind == "number":
        return json_number(rng)
    if kind == "literal":
        return rng.choice(["true", "false", "null"])
    if kind == "array":
        return json_array(rng, depth)
    return json_object(rng, depth)


def ws(rng):
    return rng.choice(["", "", "", " ", "\n  ", "\t"])


def json_array(rng, depth=0, item=None):
    items = [item(rng) if item else json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return "[" + ws(rng) + ("," + ws(rng)).join(items) + ws(rng) + "]"


def json_object(rng, depth=0):
    keys = [
        "a",
        "b",
        "title",
        "0",
        "1",
        "10",
        "01",
        "-1",
        "4294967294",
        "4294967295",
        "é",
        "",
        "a b",
    ]
    members = []
    for _ in range(rng.randint(0, 5)):
        key = rng.choice(keys) if rng.random() < 0.7 else random_text(rng, 5)
        members.append(json_string(rng, key) + ws(rng) + ":" + ws(rng) + json_value(rng, depth + 1))
    return "{" + ws(rng) + ("," + ws(rng)).join(members) + ws(rng) + "}"


def maybe_empty(rng, value, empty_p=0.15):
    r = rng.random()
    if r < empty_p / 2:
        return None
    if r < empty_p:
        return ""
    return value


def unix_ms(rng):
    r = rng.random()
    if r < 0.6:
        return rng.randint(0, 2_000_000_000_000)
    if r < 0.75:
        return rng.randint(-8_640_000_000_000_000, 8_640_000_000_000_000)
    if r < 0.85:
        return rng.randint(-(10**12), 10**13) + rng.choice([0.25, 0.5, 0.999, -0.75])
    return rng.choice(
        [
            0,
            -1,
            8_640_000_000_000_000,
            -8_640_000_000_000_000,
            253402300799999,
            -62167219200000,
            -62167219200001,
        ]
    )


DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def datetime_text(rng):
    y = rng.randint(0, 9999)
    mo = rng.randint(1, 12)
    d = rng.randint(1, DAYS[mo - 1])
    h, mi, s = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
    frac = (
        ""
        if rng.random() < 0.4
        else "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 7)))
    )
    if rng.random() < 0.5:
        return f"{y:04d}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d}{frac}"
    zone = rng.choice(
        [
            "",
            "Z",
            f"+{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
            f"-{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
        ]
    )
    return f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}{zone}"


def datetime_value(rng):
    r = rng.random()
    if r < 0.7:
        return datetime_text(rng)
    if r < 0.85:
        return unix_ms(rng)
    return rng.choice(
        [
            "2024-02-30 10:00:00",
            "2023-02-29T00:00:00Z",
            "2024-01-01 24:00:00",
            "2024-01-01T10:00:60Z",
            "2024-01-01t10:00:00z",
            " 2024-01-01 10:00:00",
            "2024-01-01 10:00:00Z",
            "2024-01-01T10:00:00+0200",
            "2024-01-01T10:00:00.Z",
            "2024-13-01 00:00:00",
            "2024-01-01",
            "yesterday",
            "2024-01-01T10:00:00+24:00",
        ]
    )


def any_scalar(rng):
    return rng.choice(
        [
            random_text(rng),
            rng.randint(-(10**6), 10**6),
            random_double(rng),
            None,
            rng.randint(2**53, 2**62),
        ]
    )


def logbook_entry(rng, i, users):
    return {
        "id": f"le_{i}",
        "user_id": rng.choice(users),
        "timestamp": unix_ms(rng),
        "duration": rng.choice([rng.randint(0, 10000), "90 min", random_double(rng), 2**60]),
        "type": rng.choice(["PRACTICE", "PERFORMANCE", "LESSON", "REHEARSAL", "practice"]),
        "instrument": rng.choice(["PIANO", "GUITAR"]),
        "pieces": rng.choice(["", json_array(rng)]),
        "techniques": rng.choice(
            ["", "[]", json_array(rng, item=lambda r: json_string(r, random_text(r)))]
        ),
        "goal_ids": rng.choice(
            ["", "[]", json_array(rng, item=lambda r: json_string(r, random_text(r)))]
        ),
        "notes": maybe_empty(rng, random_text(rng, 40)),
        "mood": maybe_empty(rng, rng.choice(["FRUSTRATED", "NEUTRAL", "SATISFIED", "EXCITED"])),
        "tags": rng.choice(["", "[]", json_array(rng)]),
        "session_id": maybe_empty(rng, f"ps_{rng.randint(1, 50)}"),
        "metadata": maybe_empty(rng, json_object(rng), 0.4),
        "created_at": unix_ms(rng),
        "updated_at": unix_ms(rng),
    }


def goal(rng, i, users):
    return {
        "id": f"goal_{i}",
        "user_id": rng.choice(users),
        "title": rng.choice([random_text(rng, 30), "Learn Clair de Lune"]),
        "description": maybe_empty(rng, random_text(rng, 40)),
        "target_date": rng.choice([None, "", 0, unix_ms(rng)]),
        "progress": rng.choice([random_double(rng), 0, 100, 33.333333333333336, 50.0]),
        "milestones": rng.choice(["", "[]", json_array(rng)]),
        "status": rng.choice(["", "ACTIVE", "COMPLETED", "PAUSED", "CANCELLED"]),
        "linked_entries": rng.choice(
            ["", "[]", json_array(rng, item=lambda r: json_string(r, random_text(r)))]
        ),
        "created_at": unix_ms(rng),
        "updated_at": unix_ms(rng),
        "completed_at": rng.choice([None, "", 0, unix_ms(rng)]),
    }


def practice_session(rng, i, users):
    return {
        "id": f"ps_{i}",
        "user_id": rng.choice(users),
        "instrument": rng.choice(["PIANO", "GUITAR"]),
        "sheet_music_id": maybe_empty(rng, random_text(rng)),
        "session_type": rng.choice(["FREE_PRACTICE", "GUIDED_PRACTICE", "ASSESSMENT"]),
        "started_at": datetime_value(rng),
        "completed_at": rng.choice([None, "", 0, datetime_value(rng)]),
        "paused_duration": rng.choice([None, 0, rng.randint(0, 5000)]),
        "accuracy_percentage": rng.choice([None, 0, random_double(rng), 87.5]),
        "notes_attempted": rng.choice([None, 0, rng.randint(0, 5000)]),
        "notes_correct": rng.choice([None, 0, rng.randint(0, 5000)]),
    }
