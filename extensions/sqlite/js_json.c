/*
 * The two JavaScript serialisation rules SQLite cannot follow exactly, as
 * functions of a loadable extension (built by `make setup`, loaded by every
 * profile target):
 *
 * js_number(x): a number as JavaScript's Number.prototype.toString writes it,
 * which is what JSON.stringify writes (ECMA-262, Number::toString): the
 * shortest decimal digits that read back as the same double, laid out plain
 * up to 21 integer digits and down to 1e-7, in exponent form outside;
 * NaN and the infinities give "null", as JSON.stringify gives.
 *
 * js_json(text): JSON.stringify(JSON.parse(text)); NULL when text is not
 * JSON. Strings are decoded and re-escaped the way JavaScript escapes them,
 * numbers re-written by js_number, and an object keeps JavaScript's property
 * order: keys that are array indices first in numeric order, then the others
 * in the order they first appeared, a key given twice holding its last value.
 *
 * Why C: the digits must be exact and the rebuild must be fast. SQLite
 * 3.40's printf() and its text-to-REAL conversion are not correctly rounded
 * (a shortest-digits search written in SQL got about 1 value in 400 wrong in
 * the last digit), while glibc's printf and strtod are; and rebuilding a
 * document from json_tree in SQL cost about 80% of a migration's time.
 */
#define _GNU_SOURCE /* qsort_r */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* out must hold at least 32 bytes. */
static void js_number_format(double x, char *out) {
    if (isnan(x) || isinf(x)) {
        strcpy(out, "null");
        return;
    }
    if (x == 0) {
        strcpy(out, "0"); /* -0 too */
        return;
    }
    char buf[40];
    for (int precision = 0; precision <= 16; precision++) {
        snprintf(buf, sizeof buf, "%.*e", precision, x);
        if (strtod(buf, NULL) == x) break;
    }
    const char *s = buf;
    char *o = out;
    if (*s == '-') {
        *o++ = '-';
        s++;
    }
    const char *e = strchr(s, 'e');
    char digits[24];
    int k = 0;
    for (const char *c = s; c < e; c++) {
        if (*c != '.') digits[k++] = *c;
    }
    while (k > 1 && digits[k - 1] == '0') k--;
    int n = atoi(e + 1) + 1; /* x = 0.digits * 10^n */

    if (k <= n && n <= 21) {
        memcpy(o, digits, k);
        o += k;
        for (int i = 0; i < n - k; i++) *o++ = '0';
    } else if (0 < n && n <= 21) {
        memcpy(o, digits, n);
        o += n;
        *o++ = '.';
        memcpy(o, digits + n, k - n);
        o += k - n;
    } else if (-6 < n && n <= 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -n; i++) *o++ = '0';
        memcpy(o, digits, k);
        o += k;
    } else {
        *o++ = digits[0];
        if (k > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, k - 1);
            o += k - 1;
        }
        o += sprintf(o, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
    }
    *o = '\0';
}

static void js_number_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    int type = sqlite3_value_type(argv[0]);
    if (type != SQLITE_INTEGER && type != SQLITE_FLOAT) {
        sqlite3_result_null(ctx);
        return;
    }
    char out[40];
    js_number_format(sqlite3_value_double(argv[0]), out);
    sqlite3_result_text(ctx, out, -1, SQLITE_TRANSIENT);
}

/* ---- js_json ---------------------------------------------------------- */

/* A growable output buffer; `failed` is set once memory runs out. */
typedef struct {
    char *data;
    size_t len, cap;
    int failed;
} Buf;

static int buf_reserve(Buf *b, size_t extra) {
    if (b->failed) return 0;
    if (b->len + extra <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    char *data = sqlite3_realloc64(b->data, cap);
    if (!data) {
        b->failed = 1;
        return 0;
    }
    b->data = data;
    b->cap = cap;
    return 1;
}

static void buf_append(Buf *b, const char *s, size_t n) {
    if (buf_reserve(b, n)) {
        memcpy(b->data + b->len, s, n);
        b->len += n;
    }
}

static void buf_byte(Buf *b, char c) {
    if (buf_reserve(b, 1)) b->data[b->len++] = c;
}

typedef struct {
    const unsigned char *s, *end;
    Buf out;
    Buf scratch;
} Parser;

/* JSON's deepest nesting accepted (SQLite 3.40's json_valid stops at 2000). */
#define JS_JSON_MAX_DEPTH 2000

static void skip_ws(Parser *p) {
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r')) p->s++;
}

/* Consume c when it comes next. */
static int take(Parser *p, unsigned char c) {
    if (p->s < p->end && *p->s == c) {
        p->s++;
        return 1;
    }
    return 0;
}

static int hex4(const unsigned char *s, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else return 0;
    }
    *out = v;
    return 1;
}

/* One UTF-16 code unit as JSON.stringify writes it. */
static void put_escaped_unit(Buf *b, unsigned u) {
    char tmp[8];
    switch (u) {
    case '"': buf_append(b, "\\\"", 2); return;
    case '\\': buf_append(b, "\\\\", 2); return;
    case '\b': buf_append(b, "\\b", 2); return;
    case '\f': buf_append(b, "\\f", 2); return;
    case '\n': buf_append(b, "\\n", 2); return;
    case '\r': buf_append(b, "\\r", 2); return;
    case '\t': buf_append(b, "\\t", 2); return;
    }
    if (u < 0x20 || (u >= 0xD800 && u <= 0xDFFF)) {
        /* control characters and lone surrogates: lower-case \uXXXX */
        snprintf(tmp, sizeof tmp, "\\u%04x", u);
        buf_append(b, tmp, 6);
        return;
    }
    if (u < 0x80) {
        buf_byte(b, (char)u);
    } else if (u < 0x800) {
        buf_byte(b, (char)(0xC0 | (u >> 6)));
        buf_byte(b, (char)(0x80 | (u & 0x3F)));
    } else {
        buf_byte(b, (char)(0xE0 | (u >> 12)));
        buf_byte(b, (char)(0x80 | ((u >> 6) & 0x3F)));
        buf_byte(b, (char)(0x80 | (u & 0x3F)));
    }
}

static void put_code_point(Buf *b, unsigned cp) {
    buf_byte(b, (char)(0xF0 | (cp >> 18)));
    buf_byte(b, (char)(0x80 | ((cp >> 12) & 0x3F)));
    buf_byte(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
    buf_byte(b, (char)(0x80 | (cp & 0x3F)));
}

/*
 * A string token, written as JSON.stringify writes the decoded string. Bytes
 * of the input that need no escaping are copied as they are (UTF-8 text in,
 * UTF-8 text out). Two texts decode to the same string exactly when they
 * are written the same way, so the written form doubles as the key identity.
 */
static int parse_string(Parser *p, Buf *b) {
    p->s++; /* the opening quote */
    buf_byte(b, '"');
    for (;;) {
        const unsigned char *run = p->s;
        while (p->s < p->end && *p->s != '"' && *p->s != '\\' && *p->s >= 0x20) p->s++;
        buf_append(b, (const char *)run, (size_t)(p->s - run));
        if (p->s >= p->end || *p->s < 0x20) return 0;
        if (*p->s == '"') {
            p->s++;
            buf_byte(b, '"');
            return 1;
        }
        /* a backslash escape */
        if (p->end - p->s < 2) return 0;
        unsigned char c = p->s[1];
        p->s += 2;
        switch (c) {
        case '"': put_escaped_unit(b, '"'); break;
        case '\\': put_escaped_unit(b, '\\'); break;
        case '/': buf_byte(b, '/'); break;
        case 'b': put_escaped_unit(b, '\b'); break;
        case 'f': put_escaped_unit(b, '\f'); break;
        case 'n': put_escaped_unit(b, '\n'); break;
        case 'r': put_escaped_unit(b, '\r'); break;
        case 't': put_escaped_unit(b, '\t'); break;
        case 'u': {
            unsigned u, low;
            if (p->end - p->s < 4 || !hex4(p->s, &u)) return 0;
            p->s += 4;
            if (u >= 0xD800 && u <= 0xDBFF && p->end - p->s >= 6 && p->s[0] == '\\' && p->s[1] == 'u'
                && hex4(p->s + 2, &low) && low >= 0xDC00 && low <= 0xDFFF) {
                p->s += 6;
                put_code_point(b, 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00));
            } else {
                put_escaped_unit(b, u);
            }
            break;
        }
        default:
            return 0;
        }
    }
}

static int parse_number(Parser *p, Buf *b) {
    const unsigned char *start = p->s;
    if (p->s < p->end && *p->s == '-') p->s++;
    if (p->s >= p->end) return 0;
    if (*p->s == '0') {
        p->s++;
    } else if (*p->s >= '1' && *p->s <= '9') {
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9') p->s++;
    } else {
        return 0;
    }
    if (p->s < p->end && *p->s == '.') {
        p->s++;
        if (p->s >= p->end || *p->s < '0' || *p->s > '9') return 0;
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9') p->s++;
    }
    if (p->s < p->end && (*p->s == 'e' || *p->s == 'E')) {
        p->s++;
        if (p->s < p->end && (*p->s == '+' || *p->s == '-')) p->s++;
        if (p->s >= p->end || *p->s < '0' || *p->s > '9') return 0;
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9') p->s++;
    }
    /* strtod needs a terminated copy; the token is short unless hostile */
    size_t n = (size_t)(p->s - start);
    p->scratch.len = 0;
    buf_append(&p->scratch, (const char *)start, n);
    buf_byte(&p->scratch, '\0');
    if (p->scratch.failed) return 0;
    char formatted[40];
    js_number_format(strtod(p->scratch.data, NULL), formatted);
    buf_append(b, formatted, strlen(formatted));
    return 1;
}

/* One object member, as offsets into the output buffer. */
typedef struct {
    size_t key, key_len, value, value_len; /* key includes its quotes */
    size_t position;                       /* order of appearance */
    long long index;                       /* array-index key's value, or -1 */
} Member;

/* An array index is "0" or digits without a leading zero, below 2^32 - 1. */
static long long array_index(const char *key, size_t len) {
    /* len includes the two quotes */
    if (len < 3 || len > 12) return -1;
    const char *d = key + 1;
    size_t n = len - 2;
    if (n > 1 && d[0] == '0') return -1;
    long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] < '0' || d[i] > '9') return -1;
        v = v * 10 + (d[i] - '0');
    }
    return v < 4294967295LL ? v : -1;
}

static int by_key_then_position(const void *a, const void *b, void *base) {
    const Member *x = a, *y = b;
    const char *text = base;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(text + x->key, text + y->key, n);
    if (c) return c;
    if (x->key_len != y->key_len) return x->key_len < y->key_len ? -1 : 1;
    return x->position < y->position ? -1 : x->position > y->position;
}

static int in_property_order(const void *a, const void *b) {
    const Member *x = a, *y = b;
    if ((x->index >= 0) != (y->index >= 0)) return x->index >= 0 ? -1 : 1;
    if (x->index >= 0 && x->index != y->index) return x->index < y->index ? -1 : 1;
    return x->position < y->position ? -1 : x->position > y->position;
}

static int same_key(const char *text, const Member *x, const Member *y) {
    return x->key_len == y->key_len && memcmp(text + x->key, text + y->key, x->key_len) == 0;
}

static int has_repeated_key(const char *text, const Member *members, size_t count) {
    if (count > 16) return 1; /* not worth checking pair by pair: sort */
    for (size_t i = 1; i < count; i++)
        for (size_t j = 0; j < i; j++)
            if (same_key(text, &members[i], &members[j])) return 1;
    return 0;
}

/*
 * JavaScript's property order: a key given twice keeps its first position and
 * takes its last value; array-index keys come first, in numeric order. The
 * members, found at their offsets in the buffer, are rewritten over the
 * object's stretch of the buffer (never longer: only duplicates are dropped).
 */
static int reorder_members(Parser *p, Buf *b, size_t start, Member *members, size_t count) {
    qsort_r(members, count, sizeof *members, by_key_then_position, b->data);
    size_t kept = 0;
    for (size_t i = 0; i < count;) {
        size_t j = i + 1;
        while (j < count && same_key(b->data, &members[j], &members[i])) j++;
        Member first = members[i];
        first.value = members[j - 1].value;
        first.value_len = members[j - 1].value_len;
        members[kept++] = first;
        i = j;
    }
    qsort(members, kept, sizeof *members, in_property_order);
    Buf *tmp = &p->scratch;
    tmp->len = 0;
    buf_byte(tmp, '{');
    for (size_t i = 0; i < kept; i++) {
        if (i) buf_byte(tmp, ',');
        buf_append(tmp, b->data + members[i].key, members[i].key_len);
        buf_byte(tmp, ':');
        buf_append(tmp, b->data + members[i].value, members[i].value_len);
    }
    buf_byte(tmp, '}');
    if (tmp->failed) return 0;
    b->len = start;
    buf_append(b, tmp->data, tmp->len);
    return !b->failed;
}

static int parse_value(Parser *p, Buf *b, int depth);

/* Members are written as they come; the object is rewritten only if needed. */
static int parse_object(Parser *p, Buf *b, int depth) {
    size_t start = b->len;
    Member *members = NULL;
    size_t count = 0, cap = 0;
    int ok = 0, has_index = 0;
    p->s++;
    buf_byte(b, '{');
    skip_ws(p);
    if (take(p, '}')) {
        buf_byte(b, '}');
        return 1;
    }
    for (;;) {
        if (count == cap) {
            cap = cap ? cap * 2 : 8;
            Member *grown = sqlite3_realloc64(members, cap * sizeof *members);
            if (!grown) goto done;
            members = grown;
        }
        Member *m = &members[count];
        if (count) buf_byte(b, ',');
        skip_ws(p);
        if (p->s >= p->end || *p->s != '"') goto done;
        m->key = b->len;
        if (!parse_string(p, b)) goto done;
        m->key_len = b->len - m->key;
        skip_ws(p);
        if (!take(p, ':')) goto done;
        buf_byte(b, ':');
        m->value = b->len;
        if (!parse_value(p, b, depth + 1)) goto done;
        if (b->failed) goto done;
        m->value_len = b->len - m->value;
        m->position = count;
        m->index = array_index(b->data + m->key, m->key_len);
        has_index |= m->index >= 0;
        count++;
        skip_ws(p);
        if (take(p, ',')) continue;
        if (take(p, '}')) break;
        goto done;
    }
    buf_byte(b, '}');
    if (has_index || has_repeated_key(b->data, members, count)) {
        ok = reorder_members(p, b, start, members, count);
    } else {
        ok = !b->failed;
    }
done:
    sqlite3_free(members);
    return ok;
}

static int parse_array(Parser *p, Buf *b, int depth) {
    p->s++;
    buf_byte(b, '[');
    skip_ws(p);
    if (take(p, ']')) {
        buf_byte(b, ']');
        return 1;
    }
    for (int first = 1;; first = 0) {
        if (!first) buf_byte(b, ',');
        if (!parse_value(p, b, depth + 1)) return 0;
        skip_ws(p);
        if (take(p, ',')) continue;
        if (take(p, ']')) {
            buf_byte(b, ']');
            return 1;
        }
        return 0;
    }
}

static int literal(Parser *p, Buf *b, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(p->end - p->s) < n || memcmp(p->s, word, n) != 0) return 0;
    p->s += n;
    buf_append(b, word, n);
    return 1;
}

static int parse_value(Parser *p, Buf *b, int depth) {
    if (depth > JS_JSON_MAX_DEPTH) return 0;
    skip_ws(p);
    if (p->s >= p->end) return 0;
    switch (*p->s) {
    case '{': return parse_object(p, b, depth);
    case '[': return parse_array(p, b, depth);
    case '"': return parse_string(p, b);
    case 't': return literal(p, b, "true");
    case 'f': return literal(p, b, "false");
    case 'n': return literal(p, b, "null");
    default: return parse_number(p, b);
    }
}

static void js_json_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    if (sqlite3_value_type(argv[0]) != SQLITE_TEXT) {
        sqlite3_result_null(ctx);
        return;
    }
    const unsigned char *text = sqlite3_value_text(argv[0]);
    int n = sqlite3_value_bytes(argv[0]);
    Parser p = {text, text + n, {0}, {0}};
    int ok = parse_value(&p, &p.out, 0);
    skip_ws(&p);
    if (p.out.failed || p.scratch.failed) {
        sqlite3_result_error_nomem(ctx);
    } else if (ok && p.s == p.end) {
        sqlite3_result_text64(ctx, p.out.data ? p.out.data : "", p.out.len, SQLITE_TRANSIENT, SQLITE_UTF8);
    } else {
        sqlite3_result_null(ctx);
    }
    sqlite3_free(p.out.data);
    sqlite3_free(p.scratch.data);
}

int register_row_functions(sqlite3 *db); /* row_functions.c */
int register_file_functions(sqlite3 *db); /* file_functions.c */
int register_document_pack(sqlite3 *db);  /* document_pack.c */

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_jsjson_init(sqlite3 *db, char **err, const sqlite3_api_routines *api) {
    (void)err;
    SQLITE_EXTENSION_INIT2(api);
    int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
    int rc = sqlite3_create_function(db, "js_number", 1, flags, NULL, js_number_func, NULL, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "js_json", 1, flags, NULL, js_json_func, NULL, NULL);
    if (rc == SQLITE_OK) rc = register_row_functions(db);
    if (rc == SQLITE_OK) rc = register_file_functions(db);
    if (rc == SQLITE_OK) rc = register_document_pack(db);
    return rc;
}
