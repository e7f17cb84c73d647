/*
 * api.c — the public C API (include/heliosdb.h) over the engine: a
 * database is a shard-runtime database opened with a loaded configuration,
 * a connection is an SQL session, a statement keeps its parse, its bound
 * parameters and its last result, which heliosdb_step walks row by row.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/config.h"
#include "core/log.h"
#include "heliosdb.h"
#include "sql/api_int.h"
#include "sql/eval.h"
#include "sql/exec.h"
#include "sql/parser.h"
#include "sql/rowids.h"
#include "sql/schema.h"

#define API_PARAMS_MAX 32766u /* ?NNN goes up to this, as in SQLite */

extern char **environ;

_Static_assert(HELIOSDB_CONSTRAINT == HDB_CONSTRAINT, "public and engine codes agree");
_Static_assert(HELIOSDB_EXISTS == HDB_EXISTS, "public and engine codes agree");
_Static_assert(HELIOSDB_CONFLICT == HDB_CONFLICT, "public and engine codes agree");

struct heliosdb {
    struct hdb_db *db;
    uint32_t statement_timeout_ms;
    uint32_t work_mem_mb;
};

/* heliosdb_prepare_cached: the parses of a connection's recent texts (a parse does not read
 * the catalog: statements are planned when they run, so an entry never goes stale). */
#define STMT_CACHE_ENTRIES  64u
#define STMT_CACHE_TEXT_MAX 8192u /* longer texts are parsed each time */
struct stmt_cache_entry {
    char *text; /* the whole text given to prepare (NULL: a free entry) */
    size_t len;
    uint64_t hash, used;
    heliosdb_stmt *st;
    size_t tail; /* where the text's next statement starts */
    bool busy;   /* handed out: a second prepare of the text parses it anew */
};

struct heliosdb_conn {
    heliosdb *db;
    struct hdb_sql_session *s;
    int64_t last_insert_id, changes;
    struct stmt_cache_entry cache[STMT_CACHE_ENTRIES];
    uint64_t cache_clock;
};

struct heliosdb_stmt {
    heliosdb_conn *c;
    char *sql; /* this statement's text (the tree refers to it by offsets) */
    struct hdb_sql_arena arena;
    struct hdb_sql_stmt *st;
    uint32_t nparams;
    struct hdb_value *params; /* bound values; TEXT/BLOB bytes malloc'd */
    struct hdb_sql_result res;
    bool executed;
    uint32_t next;                   /* the row heliosdb_step returns next */
    int64_t cur;                     /* the current row, -1 before the first */
    struct stmt_cache_entry *cached; /* its cache entry: finalize gives it back */
    char *row_text;                  /* the current row's TEXT and BLOB bytes, NUL-terminated */
    size_t row_text_cap;
};

static int fail(heliosdb_error *out, const struct hdb_err *e, int offset)
{
    if (out != NULL) {
        out->code = e->code;
        out->offset = offset;
        snprintf(out->message, sizeof out->message, "%s", e->msg);
    }
    return e->code;
}

static int fail_msg(heliosdb_error *out, int code, const char *msg)
{
    struct hdb_err e;
    hdb_err_set(&e, code, "%s", msg);
    return fail(out, &e, -1);
}

static void ok(heliosdb_error *out)
{
    if (out != NULL) {
        out->code = HELIOSDB_OK;
        out->offset = -1;
        out->message[0] = '\0';
    }
}

const char *heliosdb_status_name(int code)
{
    if (code == HELIOSDB_ROW) {
        return "HELIOSDB_ROW";
    }
    if (code == HELIOSDB_DONE) {
        return "HELIOSDB_DONE";
    }
    static char names[16][32];
    static const char *const known[] = {
        "OK",   "ERROR",  "INVALID", "NOTFOUND", "CORRUPT",  "IOERR",      "NOSPACE", "NOMEM",
        "BUSY", "TOOBIG", "FULL",    "READONLY", "CONFLICT", "CONSTRAINT", "EXISTS",  "TIMEOUT"};
    if (code < 0 || code >= (int)(sizeof known / sizeof known[0])) {
        return "HELIOSDB_UNKNOWN";
    }
    snprintf(names[code], sizeof names[code], "HELIOSDB_%s", known[code]);
    return names[code];
}

/* --- databases and connections --- */

/* [observability] log_level as the engine's log level ("trace" logs what "debug" does). */
static enum hdb_log_level log_level_of(const struct hdb_config *cfg)
{
    const char *name = hdb_config_schema()[hdb_config_find("observability.log_level")]
                           .choices[cfg->observability.log_level];
    return strcmp(name, "error") == 0  ? HDB_LOG_ERROR
           : strcmp(name, "warn") == 0 ? HDB_LOG_WARN
           : strcmp(name, "info") == 0 ? HDB_LOG_INFO
                                       : HDB_LOG_DEBUG;
}

int heliosdb_open_config(const char *path, const struct hdb_config *cfg,
                         struct hdb_db_open_info *info, heliosdb **out, heliosdb_error *err)
{
    *out = NULL;
    struct hdb_err e = {0};
    struct hdb_db_opts o;
    hdb_db_opts_from_config(cfg, &o);
    hdb_log_set_level(log_level_of(cfg));
    hdb_log_set_json(cfg->observability.log_format == HDB_CFG_LOG_JSON);
    heliosdb *db = calloc(1, sizeof *db);
    int rc = db != NULL ? HDB_OK : hdb_err_set(&e, HDB_NOMEM, "out of memory");
    const char *where = path != NULL ? path : cfg->database.path;
    rc = rc == HDB_OK ? hdb_db_open(where, &o, &db->db, info, &e) : rc;
    if (rc != HDB_OK) {
        free(db);
        return fail(err, &e, -1);
    }
    db->statement_timeout_ms = (uint32_t)cfg->database.statement_timeout_ms;
    db->work_mem_mb = (uint32_t)cfg->database.work_mem_mb;
    *out = db;
    ok(err);
    return HELIOSDB_OK;
}

int heliosdb_open(const char *path, const char *config_path, heliosdb **out, heliosdb_error *err)
{
    *out = NULL;
    struct hdb_config cfg;
    struct hdb_err e = {0};
    if (hdb_config_load(&cfg, config_path, environ, &e) != HDB_OK) {
        return fail(err, &e, -1);
    }
    int rc = heliosdb_open_config(path, &cfg, NULL, out, err);
    hdb_config_free(&cfg);
    return rc;
}

void heliosdb_set_timeout(heliosdb_conn *c, uint32_t ms)
{
    hdb_sql_session_set_timeout(c->s, ms);
}

uint32_t heliosdb_default_timeout_ms(heliosdb_conn *c)
{
    return c->db->statement_timeout_ms;
}

uint64_t heliosdb_schema_seq(heliosdb_conn *c)
{
    return hdb_sql_ddl_seq(c->db->db);
}

uint32_t heliosdb_shards(heliosdb *db)
{
    return hdb_db_shards(db->db);
}

uint32_t heliosdb_threads(heliosdb *db)
{
    return hdb_db_threads(db->db);
}

void heliosdb_set_service(heliosdb *db, const struct hdb_db_service *svc)
{
    hdb_db_set_service(db->db, svc);
}

int heliosdb_shard_stats(heliosdb *db, uint32_t shard, struct hdb_shard_stats *out,
                         heliosdb_error *err)
{
    struct hdb_conn *kc = NULL;
    struct hdb_err e = {0};
    int rc = hdb_db_connect(db->db, &kc, &e);
    rc = rc == HDB_OK ? hdb_db_shard_stats(kc, shard, out, &e) : rc;
    if (kc != NULL) {
        hdb_db_disconnect(kc);
    }
    if (rc != HDB_OK) {
        return fail(err, &e, -1);
    }
    ok(err);
    return HELIOSDB_OK;
}

void heliosdb_tables_free(struct heliosdb_table_info *t, uint32_t n)
{
    for (uint32_t i = 0; t != NULL && i < n; i++) {
        for (uint32_t k = 0; k < t[i].ncols; k++) {
            free(t[i].cols[k].name);
            free(t[i].cols[k].type);
        }
        free(t[i].cols);
        free(t[i].name);
        free(t[i].sql);
    }
    free(t);
}

static int table_info_of(const struct hdb_table_def *d, struct heliosdb_table_info *ti)
{
    *ti = (struct heliosdb_table_info){.name = strdup(d->name),
                                       .sql = strdup(d->sql),
                                       .rowid = d->pk.ncols == 0 || d->rowid_col >= 0,
                                       .autoincrement = d->autoincrement,
                                       .ncols = d->ncols,
                                       .cols = calloc(d->ncols + 1, sizeof *ti->cols)};
    if (ti->name == NULL || ti->sql == NULL || ti->cols == NULL) {
        return HDB_NOMEM;
    }
    for (uint32_t k = 0; k < d->ncols; k++) {
        const struct hdb_column *col = &d->cols[k];
        struct heliosdb_column_info *ci = &ti->cols[k];
        *ci = (struct heliosdb_column_info){.name = strdup(col->name),
                                            .type = strdup(col->type != NULL ? col->type : ""),
                                            .id = col->id,
                                            .affinity = (int)col->affinity,
                                            .decimal = col->decimal,
                                            .not_null = col->not_null,
                                            .has_default = col->default_expr != NULL};
        for (uint32_t p = 0; p < d->pk.ncols; p++) {
            ci->pk_position = d->pk.cols[p] == k ? (int)p + 1 : ci->pk_position;
        }
        ci->pk_position = d->rowid_col == (int32_t)k ? 1 : ci->pk_position;
        if (ci->name == NULL || ci->type == NULL) {
            return HDB_NOMEM;
        }
    }
    return HDB_OK;
}

int heliosdb_tables(heliosdb_conn *c, struct heliosdb_table_info **out, uint32_t *n,
                    heliosdb_error *err)
{
    *out = NULL;
    *n = 0;
    struct hdb_conn *kc = NULL;
    struct hdb_txn *t = NULL;
    struct hdb_schema *s = NULL;
    struct hdb_err e = {0};
    int rc = hdb_db_connect(c->db->db, &kc, &e);
    rc = rc == HDB_OK ? hdb_txn_begin(kc, &t, &e) : rc;
    rc = rc == HDB_OK ? hdb_schema_load(kc, t, &s, &e) : rc;
    struct heliosdb_table_info *ti = rc == HDB_OK ? calloc(s->ntables + 1, sizeof *ti) : NULL;
    rc = rc == HDB_OK && ti == NULL ? hdb_err_set(&e, HDB_NOMEM, "out of memory") : rc;
    uint32_t done = 0;
    for (; rc == HDB_OK && done < s->ntables; done++) {
        rc = table_info_of(s->tables[done].def, &ti[done]);
        rc = rc == HDB_OK ? rc : hdb_err_set(&e, rc, "out of memory listing tables");
    }
    hdb_schema_free(s);
    if (t != NULL) {
        hdb_txn_rollback(t);
    }
    if (kc != NULL) {
        hdb_db_disconnect(kc);
    }
    if (rc != HDB_OK) {
        heliosdb_tables_free(ti, done + (ti != NULL && done < UINT32_MAX ? 1 : 0));
        return fail(err, &e, -1);
    }
    *out = ti;
    *n = done;
    ok(err);
    return HELIOSDB_OK;
}

uint32_t heliosdb_snapshot_list(heliosdb *db, struct hdb_snapshot_info *out, uint32_t max)
{
    return hdb_snapshot_list(db->db, out, max);
}

int heliosdb_close(heliosdb *db, heliosdb_error *err)
{
    struct hdb_err e = {0};
    int rc = hdb_db_close(db->db, &e);
    free(db);
    if (rc != HDB_OK) {
        return fail(err, &e, -1);
    }
    ok(err);
    return HELIOSDB_OK;
}

int heliosdb_connect(heliosdb *db, heliosdb_conn **out, heliosdb_error *err)
{
    *out = NULL;
    heliosdb_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return fail_msg(err, HELIOSDB_NOMEM, "out of memory");
    }
    struct hdb_err e = {0};
    if (hdb_sql_session_open(db->db, &c->s, &e) != HDB_OK) {
        free(c);
        return fail(err, &e, -1);
    }
    c->db = db;
    hdb_sql_session_set_timeout(c->s, db->statement_timeout_ms);
    hdb_sql_session_set_work_mem(c->s, db->work_mem_mb);
    *out = c;
    ok(err);
    return HELIOSDB_OK;
}

static void stmt_free(heliosdb_stmt *st);

void heliosdb_disconnect(heliosdb_conn *c)
{
    if (c != NULL) {
        for (uint32_t i = 0; i < STMT_CACHE_ENTRIES; i++) {
            stmt_free(c->cache[i].st); /* (a statement still handed out is the caller's bug) */
            free(c->cache[i].text);
        }
        hdb_sql_session_close(c->s);
        free(c);
    }
}

int64_t heliosdb_last_insert_id(heliosdb_conn *c)
{
    return c->last_insert_id;
}

int64_t heliosdb_changes(heliosdb_conn *c)
{
    return c->changes;
}

int heliosdb_in_transaction(heliosdb_conn *c)
{
    return hdb_sql_in_transaction(c->s) ? 1 : 0;
}

/* --- statements --- */

int heliosdb_prepare(heliosdb_conn *c, const char *sql, long len, heliosdb_stmt **out,
                     const char **tail, heliosdb_error *err)
{
    *out = NULL;
    size_t n = len < 0 ? strlen(sql) : (size_t)len;
    struct hdb_sql_script script;
    struct hdb_sql_arena scratch = {0};
    struct hdb_sql_stmt *first = NULL;
    size_t end = 0;
    struct hdb_err e = {0};
    int rc = hdb_sql_script_init(&script, sql, n, &e);
    rc = rc == HDB_OK ? hdb_sql_script_next(&script, &scratch, &first, &end, &e) : rc;
    hdb_sql_arena_free(&scratch);
    if (rc != HDB_OK) {
        return fail(err, &e, (int)script.error_pos.offset);
    }
    if (tail != NULL) {
        *tail = sql + (first != NULL ? end : n);
    }
    if (first == NULL) {
        ok(err);
        return HELIOSDB_OK;
    }
    heliosdb_stmt *st = calloc(1, sizeof *st);
    char *copy = malloc(end + 1);
    if (st == NULL || copy == NULL) {
        free(st);
        free(copy);
        return fail_msg(err, HELIOSDB_NOMEM, "out of memory");
    }
    memcpy(copy, sql, end);
    copy[end] = '\0';
    struct hdb_sql_pos pos = {0};
    rc = hdb_sql_parse(&st->arena, copy, end, &st->st, &pos, &e);
    st->nparams = rc == HDB_OK ? st->st->params : 0;
    if (rc == HDB_OK && st->nparams > API_PARAMS_MAX) {
        rc = hdb_err_set(&e, HDB_TOOBIG, "more than %u parameters", API_PARAMS_MAX);
    }
    st->params = rc == HDB_OK ? calloc(st->nparams + 1, sizeof *st->params) : NULL;
    if (rc == HDB_OK && st->params == NULL) {
        rc = hdb_err_set(&e, HDB_NOMEM, "out of memory");
    }
    st->sql = copy;
    st->c = c;
    st->cur = -1;
    if (rc != HDB_OK) {
        heliosdb_finalize(st);
        return fail(err, &e, (int)pos.offset);
    }
    *out = st;
    ok(err);
    return HELIOSDB_OK;
}

static void free_param(struct hdb_value *v)
{
    if (v->type == HDB_V_TEXT || v->type == HDB_V_BLOB) {
        free((void *)v->u.s.p);
    }
    *v = (struct hdb_value){.type = HDB_V_NULL};
}

void heliosdb_finalize(heliosdb_stmt *st)
{
    if (st != NULL && st->cached != NULL) {
        heliosdb_reset(st); /* back to its cache entry, as prepared */
        heliosdb_clear_bindings(st);
        st->cached->busy = false;
        return;
    }
    stmt_free(st);
}

static void stmt_free(heliosdb_stmt *st)
{
    if (st == NULL) {
        return;
    }
    for (uint32_t i = 0; st->params != NULL && i < st->nparams; i++) {
        free_param(&st->params[i]);
    }
    free(st->params);
    free(st->row_text);
    hdb_sql_result_free(&st->res);
    hdb_sql_arena_free(&st->arena);
    free(st->sql);
    free(st);
}

/* The entry holding `sql`, or the one to replace (free, else the least recently used idle). */
static struct stmt_cache_entry *cache_find(heliosdb_conn *c, const char *sql, size_t n,
                                           uint64_t hash, bool *hit)
{
    struct stmt_cache_entry *victim = NULL;
    *hit = false;
    for (uint32_t i = 0; i < STMT_CACHE_ENTRIES; i++) {
        struct stmt_cache_entry *e = &c->cache[i];
        if (e->text != NULL && e->hash == hash && e->len == n && memcmp(e->text, sql, n) == 0) {
            *hit = true;
            return e;
        }
        if (!e->busy && (victim == NULL || (victim->text != NULL && e->used < victim->used))) {
            victim = e;
        }
    }
    return victim;
}

int heliosdb_prepare_cached(heliosdb_conn *c, const char *sql, long len, heliosdb_stmt **out,
                            const char **tail, heliosdb_error *err)
{
    size_t n = len < 0 ? strlen(sql) : (size_t)len;
    if (n > STMT_CACHE_TEXT_MAX) {
        return heliosdb_prepare(c, sql, len, out, tail, err);
    }
    uint64_t hash = XXH3_64bits(sql, n);
    bool hit = false;
    struct stmt_cache_entry *e = cache_find(c, sql, n, hash, &hit);
    if (hit && !e->busy) {
        e->busy = true;
        e->used = ++c->cache_clock;
        *out = e->st;
        if (tail != NULL) {
            *tail = sql + e->tail;
        }
        ok(err);
        return HELIOSDB_OK;
    }
    const char *t = NULL;
    int rc = heliosdb_prepare(c, sql, len, out, &t, err);
    if (tail != NULL) {
        *tail = t;
    }
    char *text = rc == HELIOSDB_OK && *out != NULL && !hit && e != NULL ? malloc(n + 1) : NULL;
    if (text == NULL) {
        return rc; /* not kept: an error, no statement, the text in use, or no memory */
    }
    stmt_free(e->st);
    free(e->text);
    memcpy(text, sql, n);
    text[n] = '\0';
    *e = (struct stmt_cache_entry){.text = text,
                                   .len = n,
                                   .hash = hash,
                                   .used = ++c->cache_clock,
                                   .st = *out,
                                   .tail = (size_t)(t - sql),
                                   .busy = true};
    (*out)->cached = e;
    return rc;
}

int heliosdb_bind_parameter_count(heliosdb_stmt *st)
{
    return (int)st->nparams;
}

static int bind(heliosdb_stmt *st, int index, const struct hdb_value *v, heliosdb_error *err)
{
    if (index < 1 || (uint32_t)index > st->nparams) {
        char msg[96];
        snprintf(msg, sizeof msg, "parameter index %d out of range (the statement has %u)", index,
                 st->nparams);
        return fail_msg(err, HELIOSDB_INVALID, msg);
    }
    struct hdb_value copy = *v;
    if (v->type == HDB_V_TEXT || v->type == HDB_V_BLOB) {
        if (v->u.s.len > HDB_VALUE_BYTES_MAX) {
            return fail_msg(err, HELIOSDB_TOOBIG, "a bound value longer than 16 MiB");
        }
        uint8_t *p = malloc((size_t)v->u.s.len + 1);
        if (p == NULL) {
            return fail_msg(err, HELIOSDB_NOMEM, "out of memory");
        }
        if (v->u.s.len > 0) {
            memcpy(p, v->u.s.p, v->u.s.len);
        }
        p[v->u.s.len] = '\0';
        copy.u.s.p = p;
    }
    free_param(&st->params[index - 1]);
    st->params[index - 1] = copy;
    ok(err);
    return HELIOSDB_OK;
}

int heliosdb_bind_null(heliosdb_stmt *st, int index, heliosdb_error *err)
{
    struct hdb_value v = {.type = HDB_V_NULL};
    return bind(st, index, &v, err);
}

int heliosdb_bind_int64(heliosdb_stmt *st, int index, int64_t value, heliosdb_error *err)
{
    struct hdb_value v = {.type = HDB_V_INT, .u.i = value};
    return bind(st, index, &v, err);
}

int heliosdb_bind_double(heliosdb_stmt *st, int index, double value, heliosdb_error *err)
{
    struct hdb_value v = {.type = isnan(value) ? HDB_V_NULL : HDB_V_REAL, .u.r = value};
    return bind(st, index, &v, err);
}

int heliosdb_bind_text(heliosdb_stmt *st, int index, const char *text, long len,
                       heliosdb_error *err)
{
    if (text == NULL) {
        return heliosdb_bind_null(st, index, err);
    }
    size_t n = len < 0 ? strlen(text) : (size_t)len;
    struct hdb_value v = {
        .type = HDB_V_TEXT,
        .u.s = {(const uint8_t *)text, n > UINT32_MAX ? UINT32_MAX : (uint32_t)n}};
    return bind(st, index, &v, err);
}

int heliosdb_bind_blob(heliosdb_stmt *st, int index, const void *data, size_t len,
                       heliosdb_error *err)
{
    struct hdb_value v = {.type = HDB_V_BLOB,
                          .u.s = {data, len > UINT32_MAX ? UINT32_MAX : (uint32_t)len}};
    return bind(st, index, &v, err);
}

int heliosdb_clear_bindings(heliosdb_stmt *st)
{
    for (uint32_t i = 0; i < st->nparams; i++) {
        free_param(&st->params[i]);
    }
    return HELIOSDB_OK;
}

int heliosdb_reset(heliosdb_stmt *st)
{
    hdb_sql_result_free(&st->res);
    st->executed = false;
    st->next = 0;
    st->cur = -1;
    return HELIOSDB_OK;
}

/*
 * Makes the TEXT and BLOB values of the current row NUL-terminated, as heliosdb_column_text
 * promises, by copying them into st->row_text (valid until the next step). Found by
 * test_fuzz_sql: values read from a row record point into it and were followed by the next
 * value's bytes, so column_text of 'one' read past its end; an empty text was NULL.
 */
static int row_terminate(heliosdb_stmt *st, heliosdb_error *err)
{
    struct hdb_value *row = &st->res.rows[(size_t)st->cur * st->res.ncols];
    size_t need = 0;
    for (uint32_t i = 0; i < st->res.ncols; i++) {
        if (row[i].type == HDB_V_TEXT || row[i].type == HDB_V_BLOB) {
            need += (size_t)row[i].u.s.len + 1;
        }
    }
    if (need > st->row_text_cap) {
        char *p = realloc(st->row_text, need);
        if (p == NULL) {
            return fail_msg(err, HELIOSDB_NOMEM, "out of memory reading a row's text");
        }
        st->row_text = p;
        st->row_text_cap = need;
    }
    size_t at = 0;
    for (uint32_t i = 0; i < st->res.ncols; i++) {
        if (row[i].type == HDB_V_TEXT || row[i].type == HDB_V_BLOB) {
            if (row[i].u.s.len > 0) {
                memcpy(st->row_text + at, row[i].u.s.p, row[i].u.s.len);
            }
            st->row_text[at + row[i].u.s.len] = '\0';
            row[i].u.s.p = (const uint8_t *)st->row_text + at;
            at += (size_t)row[i].u.s.len + 1;
        }
    }
    return HELIOSDB_OK;
}

int heliosdb_step(heliosdb_stmt *st, heliosdb_error *err)
{
    if (!st->executed) {
        struct hdb_err e = {0};
        int rc = hdb_sql_exec(st->c->s, st->sql, st->st, st->params, st->nparams, &st->res, &e);
        if (rc != HDB_OK) {
            return fail(err, &e, -1);
        }
        st->executed = true;
        st->next = 0;
        st->c->changes = st->res.changes;
        if (st->st->kind == HDB_STMT_INSERT && st->res.changes > 0) {
            st->c->last_insert_id = st->res.last_insert_id;
        }
    }
    ok(err);
    if (st->next < st->res.nrows) {
        st->cur = st->next++;
        int rc = st->res.ncols == 0 ? HELIOSDB_OK : row_terminate(st, err);
        return rc == HELIOSDB_OK ? HELIOSDB_ROW : rc;
    }
    st->cur = -1;
    return HELIOSDB_DONE;
}

int heliosdb_exec(heliosdb_conn *c, const char *sql, heliosdb_error *err)
{
    const char *at = sql;
    ok(err);
    while (*at != '\0') {
        heliosdb_stmt *st = NULL;
        const char *tail = NULL;
        int rc = heliosdb_prepare(c, at, -1, &st, &tail, err);
        if (rc != HELIOSDB_OK) {
            if (err != NULL && err->offset >= 0) {
                err->offset += (int)(at - sql);
            }
            return rc;
        }
        if (st == NULL) {
            break;
        }
        while ((rc = heliosdb_step(st, err)) == HELIOSDB_ROW) {
        }
        heliosdb_finalize(st);
        if (rc != HELIOSDB_DONE) {
            return rc;
        }
        at = tail;
    }
    ok(err);
    return HELIOSDB_OK;
}

/* --- columns --- */

static const struct hdb_value *column(heliosdb_stmt *st, int col)
{
    static const struct hdb_value null = {.type = HDB_V_NULL};
    if (st->cur < 0 || col < 0 || (uint32_t)col >= st->res.ncols) {
        return &null;
    }
    return &st->res.rows[(size_t)st->cur * st->res.ncols + (uint32_t)col];
}

int heliosdb_column_count(heliosdb_stmt *st)
{
    if (!st->executed && st->st->kind == HDB_STMT_SELECT) {
        return 0; /* known after the first step */
    }
    return (int)st->res.ncols;
}

const char *heliosdb_column_name(heliosdb_stmt *st, int col)
{
    if (col < 0 || (uint32_t)col >= st->res.ncols || st->res.names == NULL) {
        return NULL;
    }
    return st->res.names[col] != NULL ? st->res.names[col] : "";
}

int heliosdb_column_type(heliosdb_stmt *st, int col)
{
    static const int types[] = {HELIOSDB_NULL, HELIOSDB_INTEGER, HELIOSDB_FLOAT,
                                HELIOSDB_TEXT, HELIOSDB_BLOB,    HELIOSDB_DECIMAL};
    return types[column(st, col)->type];
}

int64_t heliosdb_column_int64(heliosdb_stmt *st, int col)
{
    struct hdb_value n;
    hdb_value_numeric(column(st, col), &n);
    switch (n.type) {
    case HDB_V_INT:
        return n.u.i;
    case HDB_V_REAL:
        return n.u.r >= 9223372036854775807.0    ? INT64_MAX
               : n.u.r <= -9223372036854775808.0 ? INT64_MIN
                                                 : (int64_t)n.u.r;
    case HDB_V_DEC: {
        int64_t v = 0;
        struct hdb_err e;
        return hdb_dec_to_i64(&n.u.d, &v, &e) == HDB_OK ? v
                                                        : (n.u.d.coef < 0 ? INT64_MIN : INT64_MAX);
    }
    default:
        return 0;
    }
}

double heliosdb_column_double(heliosdb_stmt *st, int col)
{
    struct hdb_value n;
    hdb_value_numeric(column(st, col), &n);
    return n.type == HDB_V_INT    ? (double)n.u.i
           : n.type == HDB_V_REAL ? n.u.r
           : n.type == HDB_V_DEC  ? hdb_dec_to_double(&n.u.d)
                                  : 0.0;
}

/* The value as NUL-terminated text in the result's arena (numbers converted). */
static const struct hdb_value *as_text(heliosdb_stmt *st, int col, struct hdb_value *tmp)
{
    const struct hdb_value *v = column(st, col);
    if (v->type == HDB_V_NULL || v->type == HDB_V_TEXT || v->type == HDB_V_BLOB) {
        return v;
    }
    char buf[HDB_DEC_TEXT_MAX];
    int n = v->type == HDB_V_INT    ? snprintf(buf, sizeof buf, "%" PRId64, v->u.i)
            : v->type == HDB_V_REAL ? hdb_real_text(v->u.r, buf)
                                    : (int)hdb_dec_format(&v->u.d, buf);
    int rc = HDB_OK;
    char *p = hdb_sql_arena_alloc(&st->res.arena, (size_t)n + 1, &rc);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, buf, (size_t)n + 1);
    *tmp = (struct hdb_value){.type = HDB_V_TEXT, .u.s = {(const uint8_t *)p, (uint32_t)n}};
    return tmp;
}

const unsigned char *heliosdb_column_text(heliosdb_stmt *st, int col)
{
    struct hdb_value tmp;
    const struct hdb_value *v = as_text(st, col, &tmp);
    return v == NULL || v->type == HDB_V_NULL ? NULL : v->u.s.p;
}

const void *heliosdb_column_blob(heliosdb_stmt *st, int col)
{
    return heliosdb_column_text(st, col);
}

int heliosdb_column_bytes(heliosdb_stmt *st, int col)
{
    struct hdb_value tmp;
    const struct hdb_value *v = as_text(st, col, &tmp);
    return v == NULL || v->type == HDB_V_NULL ? 0 : (int)v->u.s.len;
}

/* Runs `op` on a connection of its own (the caller's may be inside a transaction). */
static int on_own_conn(heliosdb_conn *c,
                       int (*op)(struct hdb_conn *kc, void *ctx, struct hdb_err *e), void *ctx,
                       heliosdb_error *err)
{
    struct hdb_conn *kc = NULL;
    struct hdb_err e = {0};
    int rc = hdb_db_connect(c->db->db, &kc, &e);
    rc = rc == HDB_OK ? op(kc, ctx, &e) : rc;
    if (kc != NULL) {
        hdb_db_disconnect(kc);
    }
    if (rc != HDB_OK) {
        return fail(err, &e, -1);
    }
    ok(err);
    return HELIOSDB_OK;
}

static int op_checkpoint(struct hdb_conn *kc, void *ctx, struct hdb_err *e)
{
    (void)ctx;
    return hdb_db_checkpoint(kc, e);
}

int heliosdb_checkpoint(heliosdb_conn *c, heliosdb_error *err)
{
    return on_own_conn(c, op_checkpoint, NULL, err);
}

/* --- snapshots --- */

static int op_snapshot_create(struct hdb_conn *kc, void *ctx, struct hdb_err *e)
{
    struct hdb_snapshot_info info;
    int rc = hdb_snapshot_create(kc, &info, e);
    *(uint64_t *)ctx = rc == HDB_OK ? info.id : 0;
    return rc;
}

int heliosdb_snapshot_create(heliosdb_conn *c, uint64_t *id, heliosdb_error *err)
{
    return on_own_conn(c, op_snapshot_create, id, err);
}

static int op_snapshot_drop(struct hdb_conn *kc, void *ctx, struct hdb_err *e)
{
    return hdb_snapshot_drop(kc, *(const uint64_t *)ctx, e);
}

int heliosdb_snapshot_drop(heliosdb_conn *c, uint64_t id, heliosdb_error *err)
{
    return on_own_conn(c, op_snapshot_drop, &id, err);
}
