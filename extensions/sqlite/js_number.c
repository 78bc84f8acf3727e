/*
 * js_number(x): a number as JavaScript's Number.prototype.toString writes it,
 * which is what JSON.stringify writes (ECMA-262, Number::toString): the
 * shortest decimal digits that read back as the same double, laid out plain
 * up to 21 integer digits and down to 1e-7, in exponent form outside;
 * NaN and the infinities give "null", as JSON.stringify gives.
 *
 * Why C: the digits must be exact. SQLite 3.40's printf() and its text-to-
 * REAL conversion are not correctly rounded (a shortest-digits search written
 * in SQL got about 1 value in 400 wrong in the last digit), while glibc's
 * printf and strtod are. Built by `make setup`, loaded by every profile target.
 */
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

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_jsnumber_init(sqlite3 *db, char **err, const sqlite3_api_routines *api) {
    (void)err;
    SQLITE_EXTENSION_INIT2(api);
    return sqlite3_create_function(
        db, "js_number", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
        js_number_func, NULL, NULL);
}
