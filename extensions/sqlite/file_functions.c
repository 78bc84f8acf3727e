/*
 * The file writer of the project's SQLite extension, registered by
 * sqlite3_jsjson_init (js_json.c):
 *
 * write_lines(path, line): an aggregate that writes its lines, in the order
 * the rows reach it, to a file, each followed by a newline, and returns how
 * many it wrote. It streams: a run's document diff of millions of lines
 * never sits in memory, and no line passes through Python (dbt's agate
 * tables cost seconds per 100,000 rows). The lines go to path + ".partial".
 * A NULL line says the lines are complete, and must come last: only then is
 * the file renamed over path. SQLite also finishes an aggregate whose
 * statement failed or was interrupted part-way; without the end, the
 * partial file is removed and the previous file stays whole. A failure (a
 * read-only folder, a full disk) fails the statement with the path and the
 * system's reason.
 *
 * csv_line(value, ...): one line of CSV, every value quoted (a quote inside
 * doubled) and NULL as "", the form the diff file's lines take. In C because
 * the same line written as ten replace() calls and concatenations in SQL
 * cost half a second a first run of 240,000 inserts.
 */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3

#include <errno.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    FILE *out;
    char *path;
    sqlite3_int64 lines;
    int error;          /* errno of the first failure, 0 while all is well */
    int complete;       /* the NULL line that ends the lines has come */
    const char *doing;  /* what failed: "open", "write" */
} LineWriter;

static void fail(LineWriter *w, const char *doing) {
    if (!w->error) {
        w->error = errno ? errno : EIO;
        w->doing = doing;
    }
}

static void write_lines_step(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    LineWriter *w = sqlite3_aggregate_context(ctx, sizeof *w);
    if (!w || w->error) return;
    if (!w->path) {
        const char *path = (const char *)sqlite3_value_text(argv[0]);
        if (!path || !*path) {
            sqlite3_result_error(ctx, "write_lines: the path is empty", -1);
            w->error = EINVAL;
            w->doing = "name";
            return;
        }
        w->path = sqlite3_mprintf("%s", path);
        char *partial = sqlite3_mprintf("%s.partial", path);
        errno = 0;
        w->out = fopen(partial, "w");
        sqlite3_free(partial);
        if (!w->out) {
            fail(w, "open");
            return;
        }
    }
    if (sqlite3_value_type(argv[1]) == SQLITE_NULL) {
        w->complete = 1;
        return;
    }
    if (w->complete) {
        errno = EINVAL;
        fail(w, "write after the end");
        return;
    }
    const unsigned char *line = sqlite3_value_text(argv[1]);
    int n = sqlite3_value_bytes(argv[1]);
    errno = 0;
    if (fwrite(line, 1, (size_t)n, w->out) != (size_t)n || fputc('\n', w->out) == EOF) {
        fail(w, "write");
        return;
    }
    w->lines++;
}

static void write_lines_final(sqlite3_context *ctx) {
    LineWriter *w = sqlite3_aggregate_context(ctx, 0);
    if (!w || !w->path) {
        sqlite3_result_int64(ctx, 0);
        return;
    }
    char *partial = sqlite3_mprintf("%s.partial", w->path);
    if (w->out) {
        errno = 0;
        if (fclose(w->out) != 0) fail(w, "write");
        w->out = NULL;
    }
    if (!w->error && !w->complete) {
        /* the statement ended before its last line: nothing replaces path */
        remove(partial);
        sqlite3_result_error(ctx, "write_lines: the lines ended without their end (a NULL line)",
                             -1);
        sqlite3_free(partial);
        sqlite3_free(w->path);
        w->path = NULL;
        return;
    }
    if (!w->error) {
        errno = 0;
        if (rename(partial, w->path) != 0) fail(w, "rename");
    }
    if (w->error) {
        remove(partial);
        char *message = sqlite3_mprintf("could not write the file %s (%s of %s: %s)", w->path,
                                        w->doing, w->doing[1] == 'e' ? w->path : partial,
                                        strerror(w->error));
        sqlite3_result_error(ctx, message, -1);
        sqlite3_free(message);
    } else {
        sqlite3_result_int64(ctx, w->lines);
    }
    sqlite3_free(partial);
    sqlite3_free(w->path);
    w->path = NULL;
}

static void csv_line_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    sqlite3_str *line = sqlite3_str_new(sqlite3_context_db_handle(ctx));
    for (int i = 0; i < argc; i++) {
        if (i) sqlite3_str_appendchar(line, 1, ',');
        sqlite3_str_appendchar(line, 1, '"');
        const char *text = (const char *)sqlite3_value_text(argv[i]);
        int n = sqlite3_value_bytes(argv[i]);
        for (int start = 0, at = 0; text && at <= n; at++) {
            if (at == n || text[at] == '"') {
                sqlite3_str_append(line, text + start, at - start);
                if (at < n) sqlite3_str_append(line, "\"\"", 2);
                start = at + 1;
            }
        }
        sqlite3_str_appendchar(line, 1, '"');
    }
    if (sqlite3_str_errcode(line)) {
        sqlite3_free(sqlite3_str_finish(line));
        sqlite3_result_error_nomem(ctx);
        return;
    }
    int n = sqlite3_str_length(line);
    char *text = sqlite3_str_finish(line);
    sqlite3_result_text(ctx, text ? text : "", n, text ? sqlite3_free : SQLITE_STATIC);
}

int register_file_functions(sqlite3 *db) {
    /* not deterministic, not innocuous: it writes a file */
    int rc = sqlite3_create_function(db, "write_lines", 2, SQLITE_UTF8 | SQLITE_DIRECTONLY, NULL,
                                     NULL, write_lines_step, write_lines_final);
    if (rc != SQLITE_OK) return rc;
    return sqlite3_create_function(db, "csv_line", -1,
                                   SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
                                   csv_line_func, NULL, NULL);
}
