/*
 * How the document cache stores its rows in the work file, registered by
 * sqlite3_jsjson_init (js_json.c). The cache keeps every document it built so
 * that a re-run rebuilds only the changed ones; stored as text, the documents
 * made the work file 2.8 times the size of the backend they came from.
 *
 * doc_pack(text): the document as a BLOB in which what the contract spells
 * out in every document takes a byte or two: each key with its quotes,
 * comma and colon ("timestamp":), the enumerations ("PRACTICE"), null, [],
 * the default metadata; and an ISO date ("2024-07-31T23:10:40.101Z", 26
 * bytes) takes nine. A document keeps about 40% of its bytes, in a fraction
 * of a microsecond; zstd with a dictionary of the same strings kept 45% and
 * cost 5 us a document, a second on a first run. JSON.stringify never writes
 * a byte below 0x20, so those bytes are free to name the tokens; a text that
 * holds one, or that would not read back byte for byte (every packed value
 * is unpacked and compared before it is returned), is stored as it is, after
 * a 0 byte. NULL gives NULL.
 *
 * doc_unpack(x): doc_pack's text again. A TEXT is returned as it is, so a
 * cache written by an earlier version (text documents) reads the same; NULL
 * gives NULL; a BLOB that is not a packed document is an error, never a
 * wrong document.
 *
 * sha256_digest(x): the 32 bytes of SHA-256 of x's bytes (a text's UTF-8),
 * as a BLOB; NULL gives NULL. hex_text(x): a BLOB as lower-case hex (the
 * checksum as sync_data holds it), anything else as its text.
 *
 * The token table is part of the stored format: a changed table needs a new
 * PACKED_FORMAT byte, with doc_unpack still reading the old one, or the
 * cache rebuilt (`dbt run --full-refresh --select intermediate`).
 */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3

#include <pthread.h>
#include <stdint.h>
#include <string.h>

enum { STORED_AS_IS = 0, PACKED_FORMAT = 1 };
enum { ISO_DATE = 0x01, EXTENDED = 0x02, FIRST_DIRECT = 0x03, LAST_DIRECT = 0x1f };
#define ISO_DATE_LENGTH 26 /* "YYYY-MM-DDTHH:MM:SS.sssZ" with its quotes */

/* The contract's own strings (docs/contract: the keys of each entity type in
   their order, the enumerations, the defaults). The first 29 take one byte;
   the rest, two. */
static const char *const tokens[] = {
    /* logbook_entry, 10 of 12 rows */
    "{\"id\":", ",\"timestamp\":", ",\"duration\":", ",\"type\":", ",\"instrument\":",
    ",\"pieces\":", ",\"techniques\":", ",\"goalIds\":", ",\"notes\":", ",\"mood\":",
    ",\"tags\":", ",\"sessionId\":", ",\"metadata\":", ",\"createdAt\":", ",\"updatedAt\":",
    "null", "[]", "\"PIANO\"", "\"GUITAR\"", "{\"source\":\"manual\"}", "\"PRACTICE\"",
    "\"PERFORMANCE\"", "\"LESSON\"", "\"REHEARSAL\"", "\"FRUSTRATED\"", "\"NEUTRAL\"",
    "\"SATISFIED\"", "\"EXCITED\"", ",\"title\":",
    /* two bytes: goal, practice_session */
    ",\"description\":", ",\"targetDate\":", ",\"progress\":", ",\"milestones\":",
    ",\"status\":", ",\"linkedEntries\":", ",\"completedAt\":", ",\"sheetMusicId\":",
    ",\"sessionType\":", ",\"startedAt\":", ",\"pausedDuration\":",
    ",\"accuracyPercentage\":", ",\"notesAttempted\":", ",\"notesCorrect\":", "\"ACTIVE\"",
    "\"COMPLETED\"", "\"PAUSED\"", "\"CANCELLED\"", "\"FREE_PRACTICE\"",
    "\"GUIDED_PRACTICE\"", "\"ASSESSMENT\"", "true", "false", "{\"source\":\""};
#define TOKEN_COUNT ((int)(sizeof tokens / sizeof tokens[0]))
#define DIRECT_COUNT (LAST_DIRECT - FIRST_DIRECT + 1)

/* The tokens that may start at a position, by its first and third byte
   (the second is a quote in most), longest first. */
typedef struct {
    unsigned char count;
    unsigned char token[8];
} Candidates;
static Candidates candidates[256][256];
static size_t token_length[TOKEN_COUNT];

static void index_tokens(void) {
    for (int t = 0; t < TOKEN_COUNT; t++) token_length[t] = strlen(tokens[t]);
    for (int t = 0; t < TOKEN_COUNT; t++) {
        Candidates *c = &candidates[(unsigned char)tokens[t][0]][(unsigned char)tokens[t][2]];
        /* a token left out would only be stored as text */
        if (c->count == sizeof c->token) continue;
        int at = c->count++;
        while (at > 0 && token_length[c->token[at - 1]] < token_length[t]) {
            c->token[at] = c->token[at - 1];
            at--;
        }
        c->token[at] = (unsigned char)t;
    }
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* "YYYY-MM-DDTHH:MM:SS.sssZ": its 17 digits as one number, or -1. */
static int64_t iso_date_digits(const unsigned char *p) {
    static const char shape[] = "\"0000-00-00T00:00:00.000Z\"";
    int64_t digits = 0;
    for (int i = 0; i < ISO_DATE_LENGTH; i++) {
        if (shape[i] == '0') {
            if (!is_digit(p[i])) return -1;
            digits = digits * 10 + (p[i] - '0');
        } else if (p[i] != (unsigned char)shape[i]) {
            return -1;
        }
    }
    return digits;
}

/* At most 1 + n bytes: a token is never longer packed than as text. */
static size_t pack(const unsigned char *in, size_t n, unsigned char *out) {
    size_t o = 0;
    out[o++] = PACKED_FORMAT;
    for (size_t i = 0; i < n;) {
        if (in[i] == '"' && n - i >= ISO_DATE_LENGTH) {
            int64_t digits = iso_date_digits(in + i);
            if (digits >= 0) {
                out[o++] = ISO_DATE;
                for (int b = 0; b < 8; b++) out[o++] = (unsigned char)(digits >> (8 * b));
                i += ISO_DATE_LENGTH;
                continue;
            }
        }
        int found = -1;
        if (i + 2 < n) {
            const Candidates *c = &candidates[in[i]][in[i + 2]];
            for (int k = 0; k < c->count; k++) {
                int t = c->token[k];
                if (token_length[t] <= n - i && memcmp(in + i, tokens[t], token_length[t]) == 0) {
                    found = t;
                    break;
                }
            }
        }
        if (found < 0) {
            out[o++] = in[i++];
        } else if (found < DIRECT_COUNT) {
            out[o++] = (unsigned char)(FIRST_DIRECT + found);
            i += token_length[found];
        } else {
            out[o++] = EXTENDED;
            out[o++] = (unsigned char)(found - DIRECT_COUNT);
            i += token_length[found];
        }
    }
    return o;
}

/* The unpacked length of a PACKED_FORMAT body, or -1 if it is not one. */
static int64_t unpacked_length(const unsigned char *in, size_t n) {
    int64_t length = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = in[i];
        if (c == ISO_DATE) {
            if (n - i < 9) return -1;
            length += ISO_DATE_LENGTH;
            i += 9;
        } else if (c == EXTENDED) {
            if (n - i < 2 || in[i + 1] >= TOKEN_COUNT - DIRECT_COUNT) return -1;
            length += (int64_t)token_length[DIRECT_COUNT + in[i + 1]];
            i += 2;
        } else if (c >= FIRST_DIRECT && c <= LAST_DIRECT) {
            length += (int64_t)token_length[c - FIRST_DIRECT];
            i += 1;
        } else if (c < FIRST_DIRECT) {
            return -1;
        } else {
            length += 1;
            i += 1;
        }
    }
    return length;
}

static void unpack(const unsigned char *in, size_t n, unsigned char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = in[i];
        const char *token = NULL;
        if (c == ISO_DATE) {
            uint64_t digits = 0;
            for (int b = 7; b >= 0; b--) digits = (digits << 8) | in[i + 1 + b];
            static const char shape[] = "\"0000-00-00T00:00:00.000Z\"";
            memcpy(out + o, shape, ISO_DATE_LENGTH);
            for (int k = ISO_DATE_LENGTH - 1; k >= 0; k--)
                if (shape[k] == '0') {
                    out[o + k] = (unsigned char)('0' + digits % 10);
                    digits /= 10;
                }
            o += ISO_DATE_LENGTH;
            i += 9;
            continue;
        }
        if (c == EXTENDED) {
            token = tokens[DIRECT_COUNT + in[i + 1]];
            i += 2;
        } else if (c >= FIRST_DIRECT && c <= LAST_DIRECT) {
            token = tokens[c - FIRST_DIRECT];
            i += 1;
        }
        if (token == NULL) {
            out[o++] = c;
            i++;
        } else {
            size_t length = strlen(token);
            memcpy(out + o, token, length);
            o += length;
        }
    }
}

static void doc_pack_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    const unsigned char *text = sqlite3_value_text(argv[0]);
    size_t n = (size_t)sqlite3_value_bytes(argv[0]);
    unsigned char *out = sqlite3_malloc64(1 + n);
    unsigned char *check = sqlite3_malloc64(n + 1);
    if (text == NULL || out == NULL || check == NULL) {
        sqlite3_free(out);
        sqlite3_free(check);
        sqlite3_result_error_nomem(ctx);
        return;
    }
    int control = 0;
    for (size_t i = 0; i < n && !control; i++) control = text[i] < 0x20;
    size_t o = 0;
    if (!control) {
        o = pack(text, n, out);
        if (unpacked_length(out + 1, o - 1) == (int64_t)n) {
            unpack(out + 1, o - 1, check);
            if (memcmp(check, text, n) != 0) o = 0;
        } else {
            o = 0;
        }
    }
    if (o == 0) {
        out[0] = STORED_AS_IS;
        memcpy(out + 1, text, n);
        o = 1 + n;
    }
    sqlite3_free(check);
    sqlite3_result_blob64(ctx, out, o, sqlite3_free);
}

static void doc_unpack_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    if (sqlite3_value_type(argv[0]) != SQLITE_BLOB) {
        sqlite3_result_value(ctx, argv[0]);
        return;
    }
    const unsigned char *blob = sqlite3_value_blob(argv[0]);
    size_t n = (size_t)sqlite3_value_bytes(argv[0]);
    if (n >= 1 && blob[0] == STORED_AS_IS) {
        sqlite3_result_text64(ctx, (const char *)blob + 1, n - 1, SQLITE_TRANSIENT, SQLITE_UTF8);
        return;
    }
    int64_t length = n >= 1 && blob[0] == PACKED_FORMAT ? unpacked_length(blob + 1, n - 1) : -1;
    if (length < 0) {
        sqlite3_result_error(ctx,
                             "doc_unpack: not a document packed by this version of the "
                             "project; rebuild the document cache with "
                             "`dbt run --full-refresh --select intermediate`",
                             -1);
        return;
    }
    unsigned char *out = sqlite3_malloc64((sqlite3_uint64)length + 1);
    if (out == NULL) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    unpack(blob + 1, n - 1, out);
    sqlite3_result_text64(ctx, (const char *)out, (sqlite3_uint64)length, sqlite3_free,
                          SQLITE_UTF8);
}

int sha256_of_value(sqlite3_context *ctx, sqlite3_value *value, unsigned char digest[32],
                    const char *function); /* row_functions.c */

static void sha256_digest_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    unsigned char digest[32];
    if (!sha256_of_value(ctx, argv[0], digest, "sha256_digest")) return;
    sqlite3_result_blob(ctx, digest, 32, SQLITE_TRANSIENT);
}

static void hex_text_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    int type = sqlite3_value_type(argv[0]);
    if (type == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    if (type != SQLITE_BLOB) {
        const unsigned char *text = sqlite3_value_text(argv[0]);
        if (text == NULL) {
            sqlite3_result_error_nomem(ctx);
            return;
        }
        sqlite3_result_text(ctx, (const char *)text, sqlite3_value_bytes(argv[0]),
                            SQLITE_TRANSIENT);
        return;
    }
    const unsigned char *blob = sqlite3_value_blob(argv[0]);
    int n = sqlite3_value_bytes(argv[0]);
    char *out = sqlite3_malloc64(2 * (sqlite3_uint64)n + 1);
    if (out == NULL) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < n; i++) {
        out[2 * i] = hex[blob[i] >> 4];
        out[2 * i + 1] = hex[blob[i] & 15];
    }
    sqlite3_result_text64(ctx, out, 2 * (sqlite3_uint64)n, sqlite3_free, SQLITE_UTF8);
}

int register_document_pack(sqlite3 *db) {
    static pthread_once_t indexed = PTHREAD_ONCE_INIT;
    pthread_once(&indexed, index_tokens);
    int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
    int rc = sqlite3_create_function(db, "doc_pack", 1, flags, NULL, doc_pack_func, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function(db, "doc_unpack", 1, flags, NULL, doc_unpack_func, NULL,
                                     NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function(db, "sha256_digest", 1, flags, NULL, sha256_digest_func,
                                     NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function(db, "hex_text", 1, flags, NULL, hex_text_func, NULL, NULL);
    return rc;
}
