/*
 * sqlrun.c — running one SQL text of a request (sqlrun.h): planning, binding
 * through the caller, stepping, and the failures with their messages.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "rpc/sqlrun.h"

#include "sql/api_int.h"

static_assert(SQLRUN_MESSAGE_BYTES > sizeof(((heliosdb_error *)0)->message) + 64,
              "room for prefixes beside the engine's message");

int sqlrun_fail_set(struct sqlrun_fail *f, int code, const char *fmt, ...)
{
    assert(code != HELIOSDB_OK);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(f->message, sizeof f->message, fmt, ap);
    va_end(ap);
    if (n < 0) {
        snprintf(f->message, sizeof f->message, "%s", "error message could not be formatted");
    }
    f->code = code;
    return code;
}

int sqlrun_fail_nomem(struct sqlrun_fail *f)
{
    return sqlrun_fail_set(f, HELIOSDB_NOMEM, "out of memory");
}

int sqlrun_fail_engine(struct sqlrun_fail *f, int rc, const heliosdb_error *e, size_t offset_base)
{
    assert(rc != HELIOSDB_OK);
    if (e->offset >= 0 && strstr(e->message, "offset") == NULL) {
        return sqlrun_fail_set(f, rc, "%s (at offset %zu)", e->message,
                               offset_base + (size_t)e->offset);
    }
    return sqlrun_fail_set(f, rc, "%s", e->message);
}

void sqlrun_fail_prefix(struct sqlrun_fail *f, const char *name, size_t index)
{
    char old[SQLRUN_MESSAGE_BYTES];
    memcpy(old, f->message, sizeof old);
    if (snprintf(f->message, sizeof f->message, "%s[%zu]: %s", name, index, old) < 0) {
        snprintf(f->message, sizeof f->message, "%s", old); /* cut, but never lost */
    }
}

/* Takes one planned statement into p: its index and parameter count. */
static int plan_take(const struct sqlrun_text *t, struct sqlrun_plan *p, int count,
                     struct sqlrun_fail *f)
{
    if (p->statements == t->statements_max) {
        return sqlrun_fail_set(f, HELIOSDB_TOOBIG, "%s holds more than %u statements", t->name,
                               t->statements_max);
    }
    if (count > 0 && p->param_statement != SQLRUN_NONE) {
        return sqlrun_fail_set(f, HELIOSDB_INVALID,
                               "statements %u and %u of %s both take parameters; params bind "
                               "to one statement per text",
                               p->param_statement + 1, p->statements + 1, t->name);
    }
    if (count > 0) {
        p->param_statement = p->statements;
        p->param_count = count;
    }
    p->statements++;
    return HELIOSDB_OK;
}

int sqlrun_plan(heliosdb_conn *c, const struct sqlrun_text *t, struct sqlrun_plan *p,
                struct sqlrun_fail *f)
{
    assert(t->statements_max < SQLRUN_NONE);
    *p = (struct sqlrun_plan){.param_statement = SQLRUN_NONE};
    const char *at = t->sql, *end = t->sql + t->sql_len;
    while (at < end) {
        heliosdb_stmt *st = NULL;
        const char *tail = NULL;
        heliosdb_error e;
        int rc = heliosdb_prepare_cached(c, at, (long)(end - at), &st, &tail, &e);
        if (rc != HELIOSDB_OK) {
            return sqlrun_fail_engine(f, rc, &e, (size_t)(at - t->sql));
        }
        if (st == NULL) {
            break;
        }
        int count = heliosdb_bind_parameter_count(st);
        heliosdb_finalize(st);
        assert(tail > at && tail <= end);
        rc = plan_take(t, p, count, f);
        if (rc != HELIOSDB_OK) {
            return rc;
        }
        at = tail;
    }
    if (p->statements == 0) {
        return sqlrun_fail_set(f, HELIOSDB_INVALID, "%s holds no statement", t->name);
    }
    if (t->params_given != (size_t)p->param_count) {
        return sqlrun_fail_set(f, HELIOSDB_INVALID, "%zu params given, the statement takes %d",
                               t->params_given, p->param_count);
    }
    return HELIOSDB_OK;
}

static int bind_params(const struct sqlrun_text *t, const struct sqlrun_calls *calls,
                       heliosdb_stmt *st, struct sqlrun_fail *f)
{
    for (size_t i = 0; i < t->params_given; i++) {
        heliosdb_error e = {.offset = -1};
        int rc = calls->bind(calls->ctx, st, i, &e);
        if (rc != HELIOSDB_OK) {
            sqlrun_fail_engine(f, rc, &e, 0);
            sqlrun_fail_prefix(f, "params", i);
            return rc;
        }
    }
    return HELIOSDB_OK;
}

/* Steps st to its end; with answer, its rows go to calls->row and its end to calls->done. */
static int step_statement(heliosdb_stmt *st, bool answer, const struct sqlrun_calls *calls,
                          struct sqlrun_fail *f)
{
    heliosdb_error e = {.offset = -1};
    int rc = HELIOSDB_OK, step;
    while ((step = heliosdb_step(st, &e)) == HELIOSDB_ROW) {
        rc = answer ? calls->row(calls->ctx, st, f) : HELIOSDB_OK;
        if (rc != HELIOSDB_OK) {
            return rc;
        }
    }
    if (step != HELIOSDB_DONE) {
        return sqlrun_fail_engine(f, step, &e, 0);
    }
    return answer ? calls->done(calls->ctx, st, f) : HELIOSDB_OK;
}

int sqlrun_run(heliosdb_conn *c, const struct sqlrun_text *t, const struct sqlrun_plan *p,
               const struct sqlrun_calls *calls, struct sqlrun_fail *f)
{
    assert(calls->bind != NULL && calls->row != NULL);
    assert(calls->done != NULL);
    const char *at = t->sql, *end = t->sql + t->sql_len;
    for (uint32_t k = 0; k < p->statements; k++) {
        int rc =
            calls->statement_start != NULL ? calls->statement_start(calls->ctx, f) : HELIOSDB_OK;
        if (rc != HELIOSDB_OK) {
            return rc;
        }
        heliosdb_stmt *st = NULL;
        const char *tail = NULL;
        heliosdb_error e;
        rc = heliosdb_prepare_cached(c, at, (long)(end - at), &st, &tail, &e);
        if (rc != HELIOSDB_OK) {
            return sqlrun_fail_engine(f, rc, &e, (size_t)(at - t->sql));
        }
        if (st == NULL) {
            return sqlrun_fail_set(f, HELIOSDB_ERROR, "statement %u of %s vanished", k + 1,
                                   t->name);
        }
        rc = k == p->param_statement ? bind_params(t, calls, st, f) : HELIOSDB_OK;
        if (rc == HELIOSDB_OK) {
            rc = step_statement(st, k + 1 == p->statements, calls, f);
        }
        heliosdb_finalize(st);
        if (rc != HELIOSDB_OK) {
            return rc;
        }
        at = tail;
    }
    return HELIOSDB_OK;
}

void sqlrun_rollback_open(heliosdb_conn *c)
{
    if (heliosdb_in_transaction(c)) {
        heliosdb_error e;
        heliosdb_exec(c, "ROLLBACK", &e);
    }
}

int sqlrun_end_outside(heliosdb_conn *c, int rc, struct sqlrun_fail *f)
{
    if (!heliosdb_in_transaction(c)) {
        return rc;
    }
    sqlrun_rollback_open(c);
    if (rc != HELIOSDB_OK) {
        return rc;
    }
    return sqlrun_fail_set(f, HELIOSDB_INVALID,
                           "the text left a transaction open (BEGIN without COMMIT); it was "
                           "rolled back");
}

int sqlrun_fail_batch_ended(struct sqlrun_fail *f)
{
    return sqlrun_fail_set(f, HELIOSDB_INVALID,
                           "ended the batch's transaction (no COMMIT or ROLLBACK in a batch); the "
                           "statements after it did not run");
}
