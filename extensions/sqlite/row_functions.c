/*
 * Per-row functions of the project's SQLite extension that SQL can only
 * compute slowly, registered by sqlite3_jsjson_init (js_json.c):
 *
 * js_date_iso(ms): new Date(ms).toISOString() for a number of milliseconds
 * inside Date's range (the caller rejects the others): the proleptic
 * Gregorian calendar in UTC, years 0000-9999 as four digits, others as a
 * signed six-digit year (+275760, -000001). A REAL is truncated toward zero
 * first, as Date's TimeClip does and as CAST(x AS INTEGER) does; NULL gives
 * NULL. The SQL it replaces (iso_from_unix_ms, four nested subqueries around
 * strftime) cost a third of a logbook document's time.
 *
 * row_fingerprint(salt, v1, ..., vn): a 128-bit fingerprint of a backend
 * row's values, as a 16-byte BLOB (the document cache keeps one per row and
 * indexes it: as 32 hex digits it took twice the room). Each value enters with its storage class and,
 * for text and blobs, its length, so NULL, '', 5, 5.0 and '5' all differ,
 * and no two different rows of values give the same stream of bytes. The
 * hash is not cryptographic: it detects change (a changed row whose
 * fingerprint stays equal is a 2^-128 accident), it does not authenticate.
 * It replaces sha256 over quote() of every column, whose text building cost
 * more than the rest of a no-change re-run's reading of the backend.
 *
 * datetime_text_ms(text): a practice_sessions DATETIME text as Unix ms, or
 * NULL when it is not one of the contract's two forms or names no real
 * instant: 'YYYY-MM-DD HH:MM:SS[.f...]' (UTC) and 'YYYY-MM-DDTHH:MM:SS[.f...]'
 * followed by nothing, 'Z', '+HH:MM' or '-HH:MM'; any number of fraction
 * digits, truncated to milliseconds; a real month, day (Gregorian leap
 * years), time and an offset within 23:59. The SQL it replaces (substr,
 * glob and strftime over nested subqueries) cost 35 us a row.
 *
 * sha256_hex(x): the SHA-256 of x's bytes (a text's UTF-8, a blob's own, a
 * number's text) as 64 lower-case hex digits; NULL gives NULL, as
 * PostgreSQL's encode(sha256(...), 'hex') does. OpenSSL's digest uses the
 * CPU's SHA instructions where it has them: sqlean's sha256() under
 * lower(hex(...)) cost a fifth of a logbook document's time.
 *
 * first_blob(v1, ..., vn): the position (from 1) of the first BLOB among the
 * values, or 0. reject_blob's CASE of one typeof() per backend column made
 * sixteen function calls a logbook row; this is one.
 */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3

#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Days since 1970-01-01 to a civil date, for any day in Date's range. */
static void civil_from_days(int64_t days, int64_t *year, int *month, int *day) {
    int64_t z = days + 719468; /* days since 0000-03-01 */
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t day_of_era = z - era * 146097;
    int64_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int64_t month_from_march = (5 * day_of_year + 2) / 153;
    *day = (int)(day_of_year - (153 * month_from_march + 2) / 5 + 1);
    *month = (int)(month_from_march < 10 ? month_from_march + 3 : month_from_march - 9);
    *year = year_of_era + era * 400 + (*month <= 2);
}

static void js_date_iso_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    int64_t ms = sqlite3_value_int64(argv[0]);
    int64_t days = ms / 86400000, in_day = ms % 86400000;
    if (in_day < 0) {
        in_day += 86400000;
        days -= 1;
    }
    int64_t year;
    int month, day;
    civil_from_days(days, &year, &month, &day);
    char out[40];
    int n;
    if (year >= 0 && year <= 9999) {
        n = snprintf(out, sizeof out, "%04lld", (long long)year);
    } else {
        n = snprintf(out, sizeof out, "%c%06lld", year < 0 ? '-' : '+',
                     (long long)(year < 0 ? -year : year));
    }
    n += snprintf(out + n, sizeof out - n, "-%02d-%02dT%02d:%02d:%02d.%03dZ", month, day,
                  (int)(in_day / 3600000), (int)(in_day / 60000 % 60), (int)(in_day / 1000 % 60),
                  (int)(in_day % 1000));
    sqlite3_result_text(ctx, out, n, SQLITE_TRANSIENT);
}

typedef struct {
    uint64_t h1, h2, length;
} Fingerprint;

static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static uint64_t final_mix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

static void mix_word(Fingerprint *f, uint64_t word) {
    const uint64_t c1 = 0x87c37b91114253d5ULL, c2 = 0x4cf5ad432745937fULL;
    f->h1 ^= rotl(word * c1, 31) * c2;
    f->h1 = (rotl(f->h1, 27) + f->h2) * 5 + 0x52dce729;
    f->h2 ^= rotl(word * c2, 33) * c1;
    f->h2 = (rotl(f->h2, 31) + f->h1) * 5 + 0x38495ab5;
    f->length += 8;
}

static void mix_bytes(Fingerprint *f, const unsigned char *bytes, int64_t n) {
    mix_word(f, (uint64_t)n);
    for (; n >= 8; bytes += 8, n -= 8) {
        uint64_t word;
        memcpy(&word, bytes, 8);
        mix_word(f, word);
    }
    if (n > 0) {
        uint64_t word = 0;
        memcpy(&word, bytes, (size_t)n);
        mix_word(f, word);
    }
}

static void row_fingerprint_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    Fingerprint f = {0x9e3779b97f4a7c15ULL, 0x6a09e667f3bcc909ULL, 0};
    for (int i = 0; i < argc; i++) {
        int type = sqlite3_value_type(argv[i]);
        mix_word(&f, (uint64_t)type);
        if (type == SQLITE_INTEGER) {
            mix_word(&f, (uint64_t)sqlite3_value_int64(argv[i]));
        } else if (type == SQLITE_FLOAT) {
            double x = sqlite3_value_double(argv[i]);
            uint64_t bits;
            memcpy(&bits, &x, 8);
            mix_word(&f, bits);
        } else if (type == SQLITE_TEXT) {
            const unsigned char *text = sqlite3_value_text(argv[i]);
            mix_bytes(&f, text, sqlite3_value_bytes(argv[i]));
        } else if (type == SQLITE_BLOB) {
            const unsigned char *blob = sqlite3_value_blob(argv[i]);
            mix_bytes(&f, blob, sqlite3_value_bytes(argv[i]));
        }
    }
    f.h1 ^= f.length;
    f.h2 ^= f.length;
    f.h1 += f.h2;
    f.h2 += f.h1;
    f.h1 = final_mix(f.h1);
    f.h2 = final_mix(f.h2);
    f.h1 += f.h2;
    f.h2 += f.h1;
    unsigned char out[16];
    for (int i = 0; i < 8; i++) {
        out[i] = (unsigned char)(f.h1 >> (56 - 8 * i));
        out[8 + i] = (unsigned char)(f.h2 >> (56 - 8 * i));
    }
    sqlite3_result_blob(ctx, out, 16, SQLITE_TRANSIENT);
}

static int two_digits(const unsigned char *p, int *out) {
    if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9') return 0;
    *out = (p[0] - '0') * 10 + (p[1] - '0');
    return 1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void datetime_text_ms_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    const unsigned char *t = sqlite3_value_text(argv[0]);
    int n = sqlite3_value_bytes(argv[0]);
    if (t == NULL || n < 19) {
        sqlite3_result_null(ctx);
        return;
    }
    int c1, c2, mo, d, hh, mi, ss;
    if (!two_digits(t, &c1) || !two_digits(t + 2, &c2) || t[4] != '-' || !two_digits(t + 5, &mo)
        || t[7] != '-' || !two_digits(t + 8, &d) || (t[10] != ' ' && t[10] != 'T')
        || !two_digits(t + 11, &hh) || t[13] != ':' || !two_digits(t + 14, &mi) || t[16] != ':'
        || !two_digits(t + 17, &ss)) {
        sqlite3_result_null(ctx);
        return;
    }
    int i = 19, ms = 0;
    if (i < n && t[i] == '.') {
        int digits = 0;
        for (i++; i < n && t[i] >= '0' && t[i] <= '9'; i++, digits++)
            if (digits < 3) ms = ms * 10 + (t[i] - '0');
        if (digits == 0) {
            sqlite3_result_null(ctx);
            return;
        }
        for (; digits < 3; digits++) ms *= 10;
    }
    int sign = 1, offset_hh = 0, offset_mi = 0;
    const unsigned char *zone = t + i;
    int zone_length = n - i;
    if (zone_length > 0 && t[10] == ' ') {
        sqlite3_result_null(ctx); /* the space form carries no zone */
        return;
    }
    if (zone_length == 1 && zone[0] == 'Z') {
        /* UTC */
    } else if (zone_length == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':'
               && two_digits(zone + 1, &offset_hh) && two_digits(zone + 4, &offset_mi)) {
        sign = zone[0] == '-' ? -1 : 1;
    } else if (zone_length != 0) {
        sqlite3_result_null(ctx);
        return;
    }
    int y = c1 * 100 + c2;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    int month_days = mo == 2 ? 28 + leap : (mo == 4 || mo == 6 || mo == 9 || mo == 11) ? 30 : 31;
    if (mo < 1 || mo > 12 || d < 1 || d > month_days || hh > 23 || mi > 59 || ss > 59
        || offset_hh > 23 || offset_mi > 59) {
        sqlite3_result_null(ctx);
        return;
    }
    int64_t result = days_from_civil(y, mo, d) * 86400000 + hh * 3600000LL + mi * 60000LL
                     + ss * 1000LL + ms - sign * (offset_hh * 60LL + offset_mi) * 60000LL;
    sqlite3_result_int64(ctx, result);
}

/*
 * The SHA-256 of a value's bytes (a text's UTF-8, a blob's own) into digest,
 * for sha256_hex here and sha256_digest (document_pack.c). Returns 0 when it
 * has set the function's result instead: NULL for NULL, or the error.
 */
int sha256_of_value(sqlite3_context *ctx, sqlite3_value *value, unsigned char digest[32],
                    const char *function) {
    int type = sqlite3_value_type(value);
    if (type == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return 0;
    }
    const void *bytes =
        type == SQLITE_BLOB ? sqlite3_value_blob(value) : (const void *)sqlite3_value_text(value);
    int n = sqlite3_value_bytes(value);
    if (bytes == NULL && n > 0) {
        sqlite3_result_error_nomem(ctx);
        return 0;
    }
    unsigned char full[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (!EVP_Digest(bytes == NULL ? "" : bytes, (size_t)n, full, &length, EVP_sha256(), NULL)
        || length != 32) {
        char *message = sqlite3_mprintf("%s: OpenSSL's SHA-256 failed", function);
        sqlite3_result_error(ctx, message, -1);
        sqlite3_free(message);
        return 0;
    }
    memcpy(digest, full, 32);
    return 1;
}

static void sha256_hex_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    unsigned char digest[32];
    if (!sha256_of_value(ctx, argv[0], digest, "sha256_hex")) return;
    static const char hex[] = "0123456789abcdef";
    char out[64];
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    sqlite3_result_text(ctx, out, 64, SQLITE_TRANSIENT);
}

static void first_blob_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    for (int i = 0; i < argc; i++) {
        if (sqlite3_value_type(argv[i]) == SQLITE_BLOB) {
            sqlite3_result_int(ctx, i + 1);
            return;
        }
    }
    sqlite3_result_int(ctx, 0);
}

int register_row_functions(sqlite3 *db) {
    int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
    int rc = sqlite3_create_function(db, "js_date_iso", 1, flags, NULL, js_date_iso_func, NULL,
                                     NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function(db, "row_fingerprint", -1, flags, NULL,
                                     row_fingerprint_func, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function(db, "sha256_hex", 1, flags, NULL, sha256_hex_func, NULL,
                                     NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function(db, "datetime_text_ms", 1, flags, NULL,
                                     datetime_text_ms_func, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function(db, "first_blob", -1, flags, NULL, first_blob_func, NULL,
                                     NULL);
    return rc;
}
