/*
 * shell.c — `heliosdb shell`: SQL from a terminal, a file or a pipe, and the
 * engine-shell protocol of ../shared/tools/slt_run.py (`--slt`).
 *
 * Interactive and piped input: statements end at ';' (a statement may span
 * lines); results print in SQLite's list mode (values separated by '|') or
 * as CSV; dot commands .tables .schema .mode .timer .help .quit. Line
 * editing and history are not built (no readline is among the project's
 * dependencies); a terminal's own line discipline applies.
 *
 * --slt: a request is the lines up to an empty line; its statements run in
 * order and the response is "ok NCOLS", one line per row of TAB-separated
 * tagged values (N, I, R, T with escapes, B hex), "end" — or "error MESSAGE".
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <editline/readline.h>

#include "sql/exec.h"
#include "sql/parser.h"
#include "sql/schema.h"
#include "tools/shell.h"

#define SHELL_REQUEST_BYTES_MAX (64u << 20) /* one --slt request or one statement */
#define SHELL_LINE_BYTES_MAX    (1u << 20)
#define SHELL_HISTORY_LINES     1000 /* kept in the history file */

struct shell {
    struct hdb_db *db;
    struct hdb_sql_session *s;
    bool csv, timer;
};

/* --- values --- */

static void put_text_escaped(FILE *out, const uint8_t *p, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        uint8_t b = p[i];
        switch (b) {
        case '\\':
            fputs("\\\\", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case 0:
            fputs("\\0", out);
            break;
        default:
            fputc(b, out);
        }
    }
}

static void put_tagged(FILE *out, const struct hdb_value *v)
{
    switch (v->type) {
    case HDB_V_NULL:
        fputc('N', out);
        break;
    case HDB_V_INT:
        fprintf(out, "I%" PRId64, v->u.i);
        break;
    case HDB_V_REAL:
        if (isinf(v->u.r)) {
            fputs(v->u.r > 0 ? "Rinf" : "R-inf", out);
        } else {
            fprintf(out, "R%.17g", v->u.r);
        }
        break;
    case HDB_V_DEC:
        if (v->u.d.scale == 0) {
            char buf[HDB_DEC_TEXT_MAX];
            hdb_dec_format(&v->u.d, buf);
            fprintf(out, "I%s", buf);
        } else {
            fprintf(out, "R%.17g", hdb_dec_to_double(&v->u.d));
        }
        break;
    case HDB_V_TEXT:
        fputc('T', out);
        put_text_escaped(out, v->u.s.p, v->u.s.len);
        break;
    default:
        fputc('B', out);
        for (uint32_t i = 0; i < v->u.s.len; i++) {
            fprintf(out, "%02x", v->u.s.p[i]);
        }
    }
}

static void put_plain(FILE *out, const struct hdb_value *v, bool csv)
{
    char buf[HDB_DEC_TEXT_MAX];
    switch (v->type) {
    case HDB_V_NULL:
        break;
    case HDB_V_INT:
        fprintf(out, "%" PRId64, v->u.i);
        break;
    case HDB_V_REAL:
        fprintf(out, "%.15g", v->u.r);
        break;
    case HDB_V_DEC:
        hdb_dec_format(&v->u.d, buf);
        fputs(buf, out);
        break;
    default:
        if (csv) {
            fputc('"', out);
            for (uint32_t i = 0; i < v->u.s.len; i++) {
                if (v->u.s.p[i] == '"') {
                    fputc('"', out);
                }
                fputc(v->u.s.p[i], out);
            }
            fputc('"', out);
        } else {
            fwrite(v->u.s.p, 1, v->u.s.len, out);
        }
    }
}

/* --- running text --- */

/* Runs every statement of `text`; stops at the first error. The last result stays in `res`. */
static int run_text(struct shell *sh, const char *text, size_t len, struct hdb_sql_result *res,
                    struct hdb_err *err, bool print, FILE *out)
{
    struct hdb_sql_script script;
    int rc = hdb_sql_script_init(&script, text, len, err);
    while (rc == HDB_OK) {
        struct hdb_sql_arena arena = {0};
        struct hdb_sql_stmt *st = NULL;
        rc = hdb_sql_script_next(&script, &arena, &st, NULL, err);
        if (rc == HDB_OK && st == NULL) {
            hdb_sql_arena_free(&arena);
            break;
        }
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = rc == HDB_OK ? hdb_sql_exec(sh->s, text, st, NULL, 0, res, err) : rc;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        hdb_sql_arena_free(&arena);
        if (rc == HDB_OK && print) {
            for (uint32_t r = 0; r < res->nrows; r++) {
                for (uint32_t c = 0; c < res->ncols; c++) {
                    if (c > 0) {
                        fputc(sh->csv ? ',' : '|', out);
                    }
                    put_plain(out, &res->rows[(size_t)r * res->ncols + c], sh->csv);
                }
                fputc('\n', out);
            }
            if (sh->timer) {
                fprintf(out, "Run Time: real %.3f\n",
                        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
            }
        }
    }
    return rc;
}

static void one_line(char *msg)
{
    for (char *p = msg; *p != '\0'; p++) {
        *p = *p == '\n' || *p == '\r' ? ' ' : *p;
    }
}

/* --- the slt protocol --- */

static void slt_answer(struct shell *sh, const char *req, size_t len)
{
    struct hdb_sql_result res = {0};
    struct hdb_err err = {0};
    int rc = run_text(sh, req, len, &res, &err, false, stdout);
    if (rc != HDB_OK) {
        one_line(err.msg);
        printf("error %s\n", err.msg[0] != '\0' ? err.msg : hdb_status_name(rc));
    } else {
        printf("ok %u\n", res.ncols);
        for (uint32_t r = 0; r < res.nrows; r++) {
            for (uint32_t c = 0; c < res.ncols; c++) {
                if (c > 0) {
                    putchar('\t');
                }
                put_tagged(stdout, &res.rows[(size_t)r * res.ncols + c]);
            }
            putchar('\n');
        }
        puts("end");
    }
    fflush(stdout);
    hdb_sql_result_free(&res);
}

static int slt_loop(struct shell *sh)
{
    char *line = malloc(SHELL_LINE_BYTES_MAX);
    char *req = malloc(SHELL_REQUEST_BYTES_MAX);
    if (line == NULL || req == NULL) {
        free(line);
        free(req);
        fprintf(stderr, "heliosdb shell: out of memory\n");
        return 2;
    }
    size_t len = 0;
    while (fgets(line, (int)SHELL_LINE_BYTES_MAX, stdin) != NULL) {
        size_t n = strlen(line);
        bool empty = n == 0 || line[0] == '\n' || (line[0] == '\r' && line[1] == '\n');
        if (empty) {
            if (len > 0) {
                slt_answer(sh, req, len);
            }
            len = 0;
            continue;
        }
        if (len + n >= SHELL_REQUEST_BYTES_MAX) {
            printf("error request larger than %u bytes\n", SHELL_REQUEST_BYTES_MAX);
            fflush(stdout);
            len = 0;
            continue;
        }
        memcpy(req + len, line, n);
        len += n;
    }
    if (len > 0) {
        slt_answer(sh, req, len);
    }
    free(line);
    free(req);
    return 0;
}

/* --- the interactive / piped shell --- */

/* .tables / .schema: the catalog, read in a transaction of its own. */
static void dot_tables(struct shell *sh, bool schema, FILE *out)
{
    struct hdb_conn *c = NULL;
    struct hdb_txn *t = NULL;
    struct hdb_schema *s = NULL;
    struct hdb_err err = {0};
    int rc = hdb_db_connect(sh->db, &c, &err);
    rc = rc == HDB_OK ? hdb_txn_begin(c, &t, &err) : rc;
    rc = rc == HDB_OK ? hdb_schema_load(c, t, &s, &err) : rc;
    for (uint32_t i = 0; rc == HDB_OK && i < s->ntables; i++) {
        const struct hdb_table_def *d = s->tables[i].def;
        fprintf(out, "%s%s\n", schema ? d->sql : d->name, schema ? ";" : "");
    }
    if (rc != HDB_OK) {
        fprintf(out, "Error: %s\n", err.msg);
    }
    hdb_schema_free(s);
    if (t != NULL) {
        hdb_txn_rollback(t);
    }
    if (c != NULL) {
        hdb_db_disconnect(c);
    }
}

static bool dot_command(struct shell *sh, const char *line, FILE *out)
{
    char cmd[32] = {0}, arg[32] = {0};
    sscanf(line, ".%31s %31s", cmd, arg);
    if (strcmp(cmd, "quit") == 0 || strcmp(cmd, "exit") == 0) {
        return false;
    }
    if (strcmp(cmd, "tables") == 0 || strcmp(cmd, "schema") == 0) {
        dot_tables(sh, strcmp(cmd, "schema") == 0, out);
    } else if (strcmp(cmd, "mode") == 0) {
        if (strcmp(arg, "csv") == 0 || strcmp(arg, "list") == 0) {
            sh->csv = strcmp(arg, "csv") == 0;
        } else {
            fprintf(out, "Error: .mode list or .mode csv\n");
        }
    } else if (strcmp(cmd, "timer") == 0) {
        sh->timer = strcmp(arg, "on") == 0;
    } else if (strcmp(cmd, "help") == 0) {
        fputs(".help              this text\n"
              ".mode list|csv     how results print\n"
              ".quit              leave\n"
              ".schema            CREATE statements of every table\n"
              ".tables            table names\n"
              ".timer on|off      time each statement\n",
              out);
    } else {
        fprintf(out, "Error: unknown command: .%s (try .help)\n", cmd);
    }
    return true;
}

/* Is `text` one or more complete statements (ends with ';' outside strings and comments)? */
static bool complete(const char *text, size_t len)
{
    struct hdb_sql_lexer lx;
    struct hdb_err err;
    if (hdb_sql_lexer_init(&lx, text, len, &err) != HDB_OK) {
        return true;
    }
    struct hdb_sql_token tok, last = {.kind = HDB_TK_EOF};
    while (hdb_sql_lex(&lx, &tok, &err) == HDB_OK && tok.kind != HDB_TK_EOF) {
        last = tok;
    }
    return last.kind == HDB_TK_SEMI || err.code == HDB_INVALID;
}

/* The history file: ~/.heliosdb_history (NULL without $HOME). */
static const char *history_path(char *buf, size_t cap)
{
    const char *home = getenv("HOME");
    if (home == NULL || home[0] == '\0') {
        return NULL;
    }
    int n = snprintf(buf, cap, "%s/.heliosdb_history", home);
    return n > 0 && (size_t)n < cap ? buf : NULL;
}

/* One line into `line` (with its newline): with line editing and history on a terminal. */
static bool read_line(bool tty, const char *prompt, char *line, size_t cap)
{
    if (!tty) {
        return fgets(line, (int)cap, stdin) != NULL;
    }
    char *got = readline(prompt);
    if (got == NULL) {
        fputc('\n', stdout);
        return false;
    }
    if (got[0] != '\0') {
        add_history(got);
    }
    snprintf(line, cap, "%s\n", got);
    free(got);
    return true;
}

static int interactive(struct shell *sh)
{
    bool tty = isatty(0) && isatty(1);
    char hist_buf[4096];
    const char *hist = tty ? history_path(hist_buf, sizeof hist_buf) : NULL;
    if (tty) {
        using_history();
        stifle_history(SHELL_HISTORY_LINES);
        if (hist != NULL) {
            read_history(hist); /* a missing file is not an error */
        }
    }
    char *line = malloc(SHELL_LINE_BYTES_MAX);
    char *buf = malloc(SHELL_REQUEST_BYTES_MAX);
    if (line == NULL || buf == NULL) {
        free(line);
        free(buf);
        return 2;
    }
    size_t len = 0;
    int status = 0;
    for (;;) {
        if (!read_line(tty, len == 0 ? "heliosdb> " : "   ...> ", line, SHELL_LINE_BYTES_MAX)) {
            break;
        }
        size_t n = strlen(line);
        if (len == 0 && line[0] == '.') {
            if (!dot_command(sh, line, stdout)) {
                break;
            }
            continue;
        }
        if (len + n >= SHELL_REQUEST_BYTES_MAX) {
            fprintf(stderr, "Error: statement longer than %u bytes\n", SHELL_REQUEST_BYTES_MAX);
            len = 0;
            status = 1;
            continue;
        }
        memcpy(buf + len, line, n);
        len += n;
        if (!complete(buf, len)) {
            continue;
        }
        struct hdb_sql_result res = {0};
        struct hdb_err err = {0};
        if (run_text(sh, buf, len, &res, &err, true, stdout) != HDB_OK) {
            fprintf(stderr, "Error: %s\n", err.msg);
            status = 1;
        }
        hdb_sql_result_free(&res);
        len = 0;
    }
    if (hist != NULL && write_history(hist) != 0) {
        fprintf(stderr, "heliosdb shell: could not write the history to %s\n", hist);
    }
    free(line);
    free(buf);
    return status;
}

int hdb_shell_run(struct hdb_db *db, bool slt, uint32_t timeout_ms, uint32_t work_mem_mb)
{
    struct shell sh = {.db = db};
    struct hdb_err err = {0};
    if (hdb_sql_session_open(db, &sh.s, &err) != HDB_OK) {
        fprintf(stderr, "heliosdb shell: %s\n", err.msg);
        return 2;
    }
    hdb_sql_session_set_timeout(sh.s, timeout_ms);
    hdb_sql_session_set_work_mem(sh.s, work_mem_mb);
    int rc = slt ? slt_loop(&sh) : interactive(&sh);
    hdb_sql_session_close(sh.s);
    return rc;
}
