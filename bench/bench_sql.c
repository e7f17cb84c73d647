/*
 * bench_sql.c — HeliosDB-Lite against SQLite through their C APIs, in one
 * run, on the same machine and disk, with the same data and statements.
 *
 * Each engine gets a fresh directory under --dir. It loads a users table
 * (the "insert_batch" row: 1000 inserts per transaction) and an orders table
 * over 10,000 customers, checks a few answers, then runs the measured rows
 * one after the other: point selects, selects by email, a customer's newest
 * orders, durable single-row inserts, a three-statement transaction, and 2
 * reader + 2 writer threads together. HeliosDB runs first and is closed
 * before SQLite opens, so neither engine's threads share the CPUs with the
 * other's. The table of both engines' figures is printed at the end, with
 * the cross-engine answer checks. See bench/README.md.
 *
 * The two APIs are wrapped by one small layer (struct conn, struct stmt)
 * so every workload is written once. Any API error is printed with its
 * status and ends the program with exit status 1; so does a wrong answer.
 */
#include <heliosdb.h>
#include <sqlite3.h>

#include <assert.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ROWS_DEFAULT        1000000
#define ROWS_QUICK          20000
#define ROWS_MAX            100000000
#define SECONDS_DEFAULT     3
#define SECONDS_QUICK       1
#define SECONDS_MAX         3600
#define BATCH_ROWS          1000    /* inserts per transaction while loading */
#define CUSTOMERS           10000   /* orders.customer_id is 1..CUSTOMERS */
#define ORDERS_LIMIT        50      /* the LIMIT of sql_customer_orders */
#define READ_OPS_MAX        2000000 /* timed operations of one single-thread row */
#define WRITE_OPS_MAX       2000    /* durable inserts or transactions of one row */
#define MIXED_READERS       2
#define MIXED_WRITERS       2
#define MIXED_READ_OPS_MAX  1000000 /* per reader thread */
#define MIXED_WRITE_OPS_MAX 100000  /* per writer thread */
#define CHECK_CUSTOMERS     3       /* customers whose orders are compared across engines */
#define STMTS_MAX           5       /* prepared statements of one worker */
#define TEXT_BYTES_MAX      64      /* emails, names and statuses the benchmark writes */
#define FAILURE_BYTES       640     /* a kept serialization-failure message */
#define ORDERS_SEED         0x9E3779B97F4A7C15ull /* the loaded orders' random sequence */
#define USER_EPOCH          1700000000
#define ORDER_EPOCH         1710000000

static_assert(ROWS_MAX / BATCH_ROWS + 1 <= READ_OPS_MAX, "load latencies fit the row buffer");
static_assert(WRITE_OPS_MAX <= READ_OPS_MAX, "write latencies fit the row buffer");
static_assert(ROWS_QUICK <= ROWS_DEFAULT, "quick is smaller");
static_assert(FAILURE_BYTES > sizeof(((heliosdb_error *)0)->message) + 64,
              "a HeliosDB message and its status name fit");

static const char sql_users_table[] =
    "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL UNIQUE, "
    "name TEXT NOT NULL, created_at INTEGER)";
static const char sql_orders_table[] =
    "CREATE TABLE orders (id INTEGER PRIMARY KEY AUTOINCREMENT, customer_id INTEGER NOT NULL, "
    "amount REAL, status TEXT, created_at INTEGER)";
static const char sql_orders_index[] =
    "CREATE INDEX idx_orders_customer ON orders (customer_id, created_at)";
static const char sql_user_insert[] =
    "INSERT INTO users (email, name, created_at) VALUES (?, ?, ?)";
static const char sql_user_by_id[] = "SELECT id, email, name, created_at FROM users WHERE id = ?";
static const char sql_user_by_email[] =
    "SELECT id, email, name, created_at FROM users WHERE email = ?";
static const char sql_user_rename[] = "UPDATE users SET name = ? WHERE id = ?";
static const char sql_order_insert[] =
    "INSERT INTO orders (customer_id, amount, status, created_at) VALUES (?, ?, ?, ?)";
static const char sql_customer_orders[] =
    "SELECT * FROM orders WHERE customer_id = ? ORDER BY created_at DESC LIMIT 50";
static const char sql_orders_by_status[] =
    "SELECT status, count(*), sum(amount) FROM orders GROUP BY status";
static const char *const order_statuses[] = {"new", "paid", "shipped", "cancelled"};

/* --- options --- */

struct options {
    uint64_t rows;
    uint32_t seconds;
    const char *only; /* a row name, or NULL for every row */
    const char *dir;
    bool keep;
};

static struct options opt = {ROWS_DEFAULT, SECONDS_DEFAULT, NULL, "/tmp", false};

/* --- rows of the table --- */

enum row_id {
    ROW_INSERT_BATCH,
    ROW_POINT_SELECT,
    ROW_EMAIL_SELECT,
    ROW_CUSTOMER_ORDERS,
    ROW_GROUP_BY,
    ROW_INSERT,
    ROW_TXN,
    ROW_MIXED,
    ROW_COUNT
};

static const char *const row_names[ROW_COUNT] = {
    "insert_batch", "point_select", "email_select", "customer_orders",
    "group_by",     "insert",       "txn",          "mixed",
};

static const char *const row_descriptions[ROW_COUNT] = {
    "users loaded 1000 inserts per transaction: rows/s, latency per transaction",
    "SELECT ... FROM users WHERE id = ? (random ids)",
    "SELECT ... FROM users WHERE email = ? (random existing emails)",
    "SELECT * FROM orders WHERE customer_id = ? ORDER BY created_at DESC LIMIT 50",
    "SELECT status, count(*), sum(amount) FROM orders GROUP BY status (every row, once per op)",
    "INSERT INTO users, one row per durable autocommit",
    "BEGIN; INSERT orders; UPDATE users name; SELECT users by id; COMMIT",
    "2 threads point select + 2 threads single-row insert, together",
};

/* One measured figure: operations, the time they took, latency percentiles. */
struct figures {
    uint64_t ops;
    uint64_t elapsed_ns;
    uint64_t p50_ns, p99_ns;
};

struct result {
    bool done;
    struct figures all;
    struct figures reads, writes; /* ROW_MIXED only */
    /* operations failed with HELIOSDB_CONFLICT/BUSY or SQLITE_BUSY, not in the figures */
    uint64_t read_failures, write_failures;
    char failure[FAILURE_BYTES]; /* the first failure's message */
};

/* --- engines, connections and statements --- */

enum engine_kind { ENGINE_HELIOS, ENGINE_SQLITE, ENGINES };

static const char *const engine_names[ENGINES] = {"HeliosDB", "SQLite"};

struct engine {
    enum engine_kind kind;
    char dir[PATH_MAX - 64]; /* the fresh temporary directory */
    char path[PATH_MAX];     /* HeliosDB: dir/db; SQLite: dir/bench.db */
    heliosdb *hdb;
    _Atomic uint64_t users; /* users inserted so far: the next user is users + 1 */
    uint32_t customer_orders[CUSTOMERS + 1];
    int64_t check_customer[CHECK_CUSTOMERS];
    uint32_t check_rows[CHECK_CUSTOMERS];
    int64_t check_ids[CHECK_CUSTOMERS][ORDERS_LIMIT];
    struct result results[ROW_COUNT];
};

static struct engine engines[ENGINES];

struct conn {
    struct engine *e;
    heliosdb_conn *h;
    sqlite3 *s;
};

struct stmt {
    struct conn *c;
    const char *sql;
    heliosdb_stmt *h;
    sqlite3_stmt *s;
    char busy_message[FAILURE_BYTES]; /* the last STEP_BUSY's message */
};

enum step_result { STEP_ROW, STEP_DONE, STEP_BUSY };

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

static int remove_tree_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0) {
        fprintf(stderr, "bench_sql: could not remove %s\n", path);
    }
    return 0;
}

static void remove_tree(const char *dir)
{
    if (dir[0] != '\0' && nftw(dir, remove_tree_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        fprintf(stderr, "bench_sql: could not remove %s\n", dir);
    }
}

static void remove_dirs(void)
{
    for (int k = 0; k < ENGINES; k++) {
        if (opt.keep && engines[k].dir[0] != '\0') {
            printf("kept %s\n", engines[k].dir);
        } else {
            remove_tree(engines[k].dir);
        }
        engines[k].dir[0] = '\0';
    }
}

/* Prints the message and ends the process with status 1; the first thread to fail wins. */
static _Noreturn __attribute__((format(printf, 1, 2))) void die(const char *fmt, ...)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&lock); /* never unlocked: a second failing thread waits for _exit */
    fflush(stdout);
    fputs("bench_sql: ", stderr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    remove_dirs();
    fflush(NULL);
    _exit(1);
}

static _Noreturn void die_helios(const char *what, const char *sql, int rc,
                                 const heliosdb_error *err)
{
    die("HeliosDB: %s: %s: %s (%s)", what, sql, err->message, heliosdb_status_name(rc));
}

static _Noreturn void die_sqlite(const char *what, const char *sql, sqlite3 *db, int rc)
{
    die("SQLite: %s: %s: %s (%s, %d)", what, sql, db != NULL ? sqlite3_errmsg(db) : "",
        sqlite3_errstr(rc), rc);
}

static void conn_exec(struct conn *c, const char *sql)
{
    if (c->h != NULL) {
        heliosdb_error err;
        int rc = heliosdb_exec(c->h, sql, &err);
        if (rc != HELIOSDB_OK) {
            die_helios("exec", sql, rc, &err);
        }
        return;
    }
    int rc = sqlite3_exec(c->s, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        die_sqlite("exec", sql, c->s, rc);
    }
}

/* A connection for the calling thread; SQLite's is set to WAL, synchronous=FULL. */
static void conn_open(struct engine *e, struct conn *c)
{
    *c = (struct conn){.e = e};
    if (e->kind == ENGINE_HELIOS) {
        heliosdb_error err;
        int rc = heliosdb_connect(e->hdb, &c->h, &err);
        if (rc != HELIOSDB_OK) {
            die_helios("connect", e->path, rc, &err);
        }
        return;
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(e->path, &c->s, flags, NULL);
    if (rc != SQLITE_OK) {
        die_sqlite("open", e->path, c->s, rc);
    }
    conn_exec(c, "PRAGMA busy_timeout=5000");
    conn_exec(c, "PRAGMA journal_mode=WAL");
    conn_exec(c, "PRAGMA synchronous=FULL");
}

static void conn_close(struct conn *c)
{
    if (c->h != NULL) {
        heliosdb_disconnect(c->h);
    }
    if (c->s != NULL) {
        int rc = sqlite3_close(c->s);
        if (rc != SQLITE_OK) {
            die_sqlite("close", "", c->s, rc);
        }
    }
    *c = (struct conn){0};
}

static int64_t conn_changes(struct conn *c)
{
    return c->h != NULL ? heliosdb_changes(c->h) : sqlite3_changes64(c->s);
}

static void stmt_prepare(struct conn *c, const char *sql, struct stmt *st)
{
    *st = (struct stmt){.c = c, .sql = sql};
    if (c->h != NULL) {
        heliosdb_error err;
        int rc = heliosdb_prepare(c->h, sql, -1, &st->h, NULL, &err);
        if (rc != HELIOSDB_OK) {
            die_helios("prepare", sql, rc, &err);
        }
        return;
    }
    int rc = sqlite3_prepare_v3(c->s, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->s, NULL);
    if (rc != SQLITE_OK) {
        die_sqlite("prepare", sql, c->s, rc);
    }
}

static void stmt_finalize(struct stmt *st)
{
    heliosdb_finalize(st->h);
    sqlite3_finalize(st->s);
    *st = (struct stmt){0};
}

static void stmt_bind_int64(struct stmt *st, int index, int64_t v)
{
    if (st->h != NULL) {
        heliosdb_error err;
        int rc = heliosdb_bind_int64(st->h, index, v, &err);
        if (rc != HELIOSDB_OK) {
            die_helios("bind", st->sql, rc, &err);
        }
        return;
    }
    int rc = sqlite3_bind_int64(st->s, index, v);
    if (rc != SQLITE_OK) {
        die_sqlite("bind", st->sql, st->c->s, rc);
    }
}

static void stmt_bind_double(struct stmt *st, int index, double v)
{
    if (st->h != NULL) {
        heliosdb_error err;
        int rc = heliosdb_bind_double(st->h, index, v, &err);
        if (rc != HELIOSDB_OK) {
            die_helios("bind", st->sql, rc, &err);
        }
        return;
    }
    int rc = sqlite3_bind_double(st->s, index, v);
    if (rc != SQLITE_OK) {
        die_sqlite("bind", st->sql, st->c->s, rc);
    }
}

/* The text is copied by both engines (SQLITE_TRANSIENT), as heliosdb_bind_text always does. */
static void stmt_bind_text(struct stmt *st, int index, const char *text)
{
    if (st->h != NULL) {
        heliosdb_error err;
        int rc = heliosdb_bind_text(st->h, index, text, -1, &err);
        if (rc != HELIOSDB_OK) {
            die_helios("bind", st->sql, rc, &err);
        }
        return;
    }
    int rc = sqlite3_bind_text(st->s, index, text, -1, SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) {
        die_sqlite("bind", st->sql, st->c->s, rc);
    }
}

/*
 * Steps the statement. With busy_ok, a serialization failure (HELIOSDB_CONFLICT,
 * HELIOSDB_BUSY, SQLITE_BUSY after busy_timeout) resets it and returns STEP_BUSY;
 * every other error ends the program.
 */
static enum step_result stmt_step(struct stmt *st, bool busy_ok)
{
    if (st->h != NULL) {
        heliosdb_error err;
        int rc = heliosdb_step(st->h, &err);
        if (rc == HELIOSDB_ROW || rc == HELIOSDB_DONE) {
            return rc == HELIOSDB_ROW ? STEP_ROW : STEP_DONE;
        }
        if (busy_ok && (rc == HELIOSDB_CONFLICT || rc == HELIOSDB_BUSY)) {
            snprintf(st->busy_message, sizeof st->busy_message, "%s (%s)", err.message,
                     heliosdb_status_name(rc));
            heliosdb_reset(st->h);
            return STEP_BUSY;
        }
        die_helios("step", st->sql, rc, &err);
    }
    int rc = sqlite3_step(st->s);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        return rc == SQLITE_ROW ? STEP_ROW : STEP_DONE;
    }
    if (busy_ok && (rc & 0xff) == SQLITE_BUSY) {
        snprintf(st->busy_message, sizeof st->busy_message, "%s (%s)", sqlite3_errmsg(st->c->s),
                 sqlite3_errstr(rc));
        sqlite3_reset(st->s);
        return STEP_BUSY;
    }
    die_sqlite("step", st->sql, st->c->s, rc);
}

static void stmt_reset(struct stmt *st)
{
    if (st->h != NULL) {
        heliosdb_reset(st->h);
    } else {
        sqlite3_reset(st->s); /* returns the last step's error, handled by stmt_step */
    }
}

static int64_t stmt_int64(struct stmt *st, int col)
{
    return st->h != NULL ? heliosdb_column_int64(st->h, col) : sqlite3_column_int64(st->s, col);
}

static double stmt_double(struct stmt *st, int col)
{
    return st->h != NULL ? heliosdb_column_double(st->h, col) : sqlite3_column_double(st->s, col);
}

/* NULL for a NULL value. */
static const char *stmt_text(struct stmt *st, int col)
{
    const unsigned char *t =
        st->h != NULL ? heliosdb_column_text(st->h, col) : sqlite3_column_text(st->s, col);
    return (const char *)t;
}

/* Steps a statement that returns no rows (or whose rows are ignored) to its end, then resets. */
static void stmt_run(struct stmt *st)
{
    while (stmt_step(st, false) == STEP_ROW) {
    }
    stmt_reset(st);
}

/* Runs a query expected to return one integer (a COUNT(*)). */
static int64_t query_int64(struct conn *c, const char *sql)
{
    struct stmt st;
    stmt_prepare(c, sql, &st);
    if (stmt_step(&st, false) != STEP_ROW) {
        die("%s: %s: no row (wrong answer)", engine_names[c->e->kind], sql);
    }
    int64_t v = stmt_int64(&st, 0);
    if (stmt_step(&st, false) != STEP_DONE) {
        die("%s: %s: more than one row (wrong answer)", engine_names[c->e->kind], sql);
    }
    stmt_finalize(&st);
    return v;
}

/* --- the data --- */

static void user_email(uint64_t k, char out[TEXT_BYTES_MAX])
{
    snprintf(out, TEXT_BYTES_MAX, "user%" PRIu64 "@example.com", k);
}

/* Binds user k (1-based; AUTOINCREMENT makes it row id k) to sql_user_insert. */
static void bind_user(struct stmt *st, uint64_t k)
{
    char text[TEXT_BYTES_MAX];
    user_email(k, text);
    stmt_bind_text(st, 1, text);
    snprintf(text, TEXT_BYTES_MAX, "User %" PRIu64, k);
    stmt_bind_text(st, 2, text);
    stmt_bind_int64(st, 3, USER_EPOCH + (int64_t)k);
}

/* Binds order k to sql_order_insert; orders are newer as k grows. Returns the customer. */
static int64_t bind_order(struct stmt *st, uint64_t k, uint64_t *seed)
{
    int64_t customer = 1 + (int64_t)(rnd(seed) % CUSTOMERS);
    stmt_bind_int64(st, 1, customer);
    stmt_bind_double(st, 2, (double)(rnd(seed) % 100000) / 100.0);
    stmt_bind_text(st, 3, order_statuses[rnd(seed) % 4]);
    stmt_bind_int64(st, 4, ORDER_EPOCH + (int64_t)k);
    return customer;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts the n latencies in place and fills f (nearest-rank percentiles). */
static void figures_of(uint64_t *lat_ns, uint64_t n, uint64_t ops, uint64_t elapsed_ns,
                       struct figures *f)
{
    *f = (struct figures){.ops = ops, .elapsed_ns = elapsed_ns};
    if (n == 0) {
        return;
    }
    qsort(lat_ns, n, sizeof *lat_ns, compare_u64);
    f->p50_ns = lat_ns[(n * 50 + 99) / 100 - 1];
    f->p99_ns = lat_ns[(n * 99 + 99) / 100 - 1];
}

/* --- loading and checking --- */

/* The insert_batch row: users 1..rows in transactions of BATCH_ROWS. */
static void load_users(struct conn *c, uint64_t *lat_ns, struct result *r)
{
    struct stmt begin, insert, commit;
    stmt_prepare(c, "BEGIN", &begin);
    stmt_prepare(c, sql_user_insert, &insert);
    stmt_prepare(c, "COMMIT", &commit);
    uint64_t batches = 0;
    uint64_t start = now_ns();
    for (uint64_t k = 1; k <= opt.rows; batches++) {
        uint64_t t = now_ns();
        stmt_run(&begin);
        for (uint64_t i = 0; i < BATCH_ROWS && k <= opt.rows; i++, k++) {
            bind_user(&insert, k);
            stmt_run(&insert);
        }
        stmt_run(&commit);
        assert(batches < READ_OPS_MAX);
        lat_ns[batches] = now_ns() - t;
    }
    figures_of(lat_ns, batches, opt.rows, now_ns() - start, &r->all);
    r->done = true;
    atomic_store(&c->e->users, opt.rows);
    stmt_finalize(&begin);
    stmt_finalize(&insert);
    stmt_finalize(&commit);
}

/* Orders 1..rows over CUSTOMERS customers in transactions of BATCH_ROWS; counts each customer's. */
static void load_orders(struct conn *c)
{
    struct stmt begin, insert, commit;
    stmt_prepare(c, "BEGIN", &begin);
    stmt_prepare(c, sql_order_insert, &insert);
    stmt_prepare(c, "COMMIT", &commit);
    uint64_t seed = ORDERS_SEED;
    for (uint64_t k = 1; k <= opt.rows;) {
        stmt_run(&begin);
        for (uint64_t i = 0; i < BATCH_ROWS && k <= opt.rows; i++, k++) {
            int64_t customer = bind_order(&insert, k, &seed);
            c->e->customer_orders[customer]++;
            stmt_run(&insert);
        }
        stmt_run(&commit);
    }
    stmt_finalize(&begin);
    stmt_finalize(&insert);
    stmt_finalize(&commit);
}

/*
 * Runs sql_customer_orders for `customer` on a prepared statement: checks the
 * row count (min(LIMIT, the customer's orders)), the customer and the
 * descending created_at; fills ids (may be NULL). Returns the rows.
 */
static uint32_t customer_orders(struct stmt *st, int64_t customer, int64_t *ids)
{
    struct engine *e = st->c->e;
    stmt_bind_int64(st, 1, customer);
    uint32_t n = 0;
    int64_t last = INT64_MAX;
    while (stmt_step(st, false) == STEP_ROW) {
        int64_t created_at = stmt_int64(st, 4);
        double amount = stmt_double(st, 2);
        const char *status = stmt_text(st, 3);
        if (n >= ORDERS_LIMIT || stmt_int64(st, 1) != customer || created_at > last ||
            status == NULL || amount < 0) {
            die("%s: %s with customer_id = %" PRId64 ": row %u is wrong (customer %" PRId64
                ", created_at %" PRId64 " after %" PRId64 ")",
                engine_names[e->kind], st->sql, customer, n + 1, stmt_int64(st, 1), created_at,
                last);
        }
        if (ids != NULL) {
            ids[n] = stmt_int64(st, 0);
        }
        last = created_at;
        n++;
    }
    stmt_reset(st);
    uint32_t want = e->customer_orders[customer];
    want = want < ORDERS_LIMIT ? want : ORDERS_LIMIT;
    if (n != want) {
        die("%s: %s with customer_id = %" PRId64 ": %u rows, expected %u (wrong answer)",
            engine_names[e->kind], st->sql, customer, n, want);
    }
    return n;
}

/* Counts both tables and keeps CHECK_CUSTOMERS customers' newest orders for the cross-check. */
static void check_loaded(struct conn *c)
{
    struct engine *e = c->e;
    int64_t users = query_int64(c, "SELECT COUNT(*) FROM users");
    int64_t orders = query_int64(c, "SELECT COUNT(*) FROM orders");
    if (users != (int64_t)opt.rows || orders != (int64_t)opt.rows) {
        die("%s: after loading %" PRIu64 " rows: COUNT(*) users %" PRId64 ", orders %" PRId64
            " (wrong answer)",
            engine_names[e->kind], opt.rows, users, orders);
    }
    int64_t busiest = 1;
    for (int64_t k = 1; k <= CUSTOMERS; k++) {
        busiest = e->customer_orders[k] > e->customer_orders[busiest] ? k : busiest;
    }
    uint64_t seed = ORDERS_SEED;
    e->check_customer[0] = 1;
    e->check_customer[1] = 1 + (int64_t)(rnd(&seed) % CUSTOMERS); /* the first order's customer */
    e->check_customer[2] = busiest;
    struct stmt st;
    stmt_prepare(c, sql_customer_orders, &st);
    for (int k = 0; k < CHECK_CUSTOMERS; k++) {
        e->check_rows[k] = customer_orders(&st, e->check_customer[k], e->check_ids[k]);
    }
    stmt_finalize(&st);
}

/* --- measured rows --- */

/*
 * One thread's share of a measured row: its connection, statements and
 * latency samples. `op` runs one operation and returns false for a
 * serialization failure (counted in `failures`, not timed).
 */
struct worker {
    struct engine *e;
    struct conn *c;
    struct conn own; /* the connection of a mixed-row thread */
    struct stmt st[STMTS_MAX];
    bool (*op)(struct worker *w);
    uint64_t seed;
    uint64_t *lat_ns;
    uint64_t ops_max, ops, failures;
    uint64_t start_ns, end_ns;
    char failure[FAILURE_BYTES];      /* the first failure's message */
    pthread_barrier_t *start_barrier; /* mixed row: threads start together */
    atomic_bool *stop;                /* mixed row: set by the first thread to reach ops_max */
};

static bool op_point_select(struct worker *w)
{
    struct stmt *st = &w->st[0];
    int64_t id = 1 + (int64_t)(rnd(&w->seed) % opt.rows);
    stmt_bind_int64(st, 1, id);
    enum step_result s = stmt_step(st, true);
    if (s == STEP_BUSY) {
        return false;
    }
    if (s != STEP_ROW || stmt_int64(st, 0) != id || stmt_text(st, 1) == NULL ||
        stmt_text(st, 2) == NULL || stmt_int64(st, 3) <= 0) {
        die("%s: %s with id = %" PRId64 ": no row or a wrong row (wrong answer)",
            engine_names[w->e->kind], st->sql, id);
    }
    if (stmt_step(st, false) != STEP_DONE) {
        die("%s: %s with id = %" PRId64 ": more than one row (wrong answer)",
            engine_names[w->e->kind], st->sql, id);
    }
    stmt_reset(st);
    return true;
}

static bool op_email_select(struct worker *w)
{
    struct stmt *st = &w->st[0];
    uint64_t k = 1 + rnd(&w->seed) % opt.rows;
    char email[TEXT_BYTES_MAX];
    user_email(k, email);
    stmt_bind_text(st, 1, email);
    uint32_t n = 0;
    int64_t id = 0;
    while (stmt_step(st, false) == STEP_ROW) {
        id = stmt_int64(st, 0);
        n++;
    }
    stmt_reset(st);
    if (n != 1 || id != (int64_t)k) {
        die("%s: %s with email = '%s': %u rows, id %" PRId64 ", expected 1 row with id %" PRIu64
            " (wrong answer)",
            engine_names[w->e->kind], st->sql, email, n, id, k);
    }
    return true;
}

static bool op_customer_orders(struct worker *w)
{
    customer_orders(&w->st[0], 1 + (int64_t)(rnd(&w->seed) % CUSTOMERS), NULL);
    return true;
}

/* Every order once: the groups' counts must add up to the orders table. */
static bool op_group_by(struct worker *w)
{
    struct stmt *st = &w->st[0];
    int64_t total = 0;
    uint32_t groups = 0;
    while (stmt_step(st, false) == STEP_ROW) {
        total += stmt_int64(st, 1);
        groups++;
    }
    stmt_reset(st);
    if (groups != sizeof order_statuses / sizeof order_statuses[0] || total != (int64_t)opt.rows) {
        die("%s: %s: %u groups of %" PRId64 " orders, expected 4 groups of %" PRIu64
            " (wrong answer)",
            engine_names[w->e->kind], st->sql, groups, total, opt.rows);
    }
    return true;
}

static bool op_insert(struct worker *w)
{
    struct stmt *st = &w->st[0];
    bind_user(st, atomic_fetch_add(&w->e->users, 1) + 1);
    enum step_result s = stmt_step(st, true);
    stmt_reset(st);
    return s != STEP_BUSY;
}

/* BEGIN; INSERT INTO orders; UPDATE users SET name; SELECT the user; COMMIT. */
static bool op_txn(struct worker *w)
{
    struct stmt *st = w->st;
    uint64_t k = w->ops + w->failures + 1;
    stmt_run(&st[0]);
    w->e->customer_orders[bind_order(&st[1], opt.rows + k, &w->seed)]++;
    stmt_run(&st[1]);
    int64_t id = 1 + (int64_t)(rnd(&w->seed) % opt.rows);
    char name[TEXT_BYTES_MAX];
    snprintf(name, sizeof name, "Renamed %" PRIu64, k);
    stmt_bind_text(&st[2], 1, name);
    stmt_bind_int64(&st[2], 2, id);
    stmt_run(&st[2]);
    int64_t changes = conn_changes(w->c);
    stmt_bind_int64(&st[3], 1, id);
    if (changes != 1 || stmt_step(&st[3], false) != STEP_ROW || stmt_text(&st[3], 2) == NULL ||
        strcmp(stmt_text(&st[3], 2), name) != 0) {
        die("%s: in a transaction, %s with id = %" PRId64 " changed %" PRId64
            " rows, then %s did not return the new name (wrong answer)",
            engine_names[w->e->kind], sql_user_rename, id, changes, st[3].sql);
    }
    stmt_reset(&st[3]);
    stmt_run(&st[4]);
    return true;
}

/* Runs w->op for opt.seconds, or until a thread of the row has done its ops_max timed operations.
 */
static void worker_run(struct worker *w)
{
    uint64_t t = now_ns();
    uint64_t deadline = t + (uint64_t)opt.seconds * 1000000000ull;
    w->start_ns = t;
    while (t < deadline && !atomic_load_explicit(w->stop, memory_order_relaxed)) {
        if (w->ops == w->ops_max) {
            atomic_store(w->stop, true);
            break;
        }
        bool ok = w->op(w);
        uint64_t t1 = now_ns();
        if (ok) {
            w->lat_ns[w->ops++] = t1 - t;
        } else if (w->failures++ == 0) {
            memcpy(w->failure, w->st[0].busy_message, sizeof w->failure);
        }
        t = t1;
    }
    w->end_ns = t;
}

static void worker_prepare(struct worker *w, const char *const *sqls)
{
    for (int k = 0; k < STMTS_MAX && sqls[k] != NULL; k++) {
        stmt_prepare(w->c, sqls[k], &w->st[k]);
    }
}

static void worker_finalize(struct worker *w)
{
    for (int k = 0; k < STMTS_MAX; k++) {
        stmt_finalize(&w->st[k]);
    }
}

/* One single-thread row on the engine's main connection. */
static void measure_row(struct conn *c, enum row_id row, uint64_t *lat_ns)
{
    static const char *const txn_sqls[] = {"BEGIN", sql_order_insert, sql_user_rename,
                                           sql_user_by_id, "COMMIT"};
    static const char *const single_sqls[ROW_COUNT][2] = {
        [ROW_POINT_SELECT] = {sql_user_by_id, NULL},
        [ROW_EMAIL_SELECT] = {sql_user_by_email, NULL},
        [ROW_CUSTOMER_ORDERS] = {sql_customer_orders, NULL},
        [ROW_GROUP_BY] = {sql_orders_by_status, NULL},
        [ROW_INSERT] = {sql_user_insert, NULL},
    };
    static bool (*const ops[ROW_COUNT])(struct worker *) = {
        [ROW_POINT_SELECT] = op_point_select,
        [ROW_EMAIL_SELECT] = op_email_select,
        [ROW_CUSTOMER_ORDERS] = op_customer_orders,
        [ROW_GROUP_BY] = op_group_by,
        [ROW_INSERT] = op_insert,
        [ROW_TXN] = op_txn,
    };
    assert(ops[row] != NULL);
    atomic_bool stop = false;
    struct worker w = {.e = c->e, .c = c, .op = ops[row], .lat_ns = lat_ns, .stop = &stop};
    w.seed = 0xD1B54A32D192ED03ull ^ (uint64_t)row;
    w.ops_max = row == ROW_INSERT || row == ROW_TXN ? WRITE_OPS_MAX : READ_OPS_MAX;
    worker_prepare(&w, row == ROW_TXN ? txn_sqls : single_sqls[row]);
    worker_run(&w);
    worker_finalize(&w);
    struct result *r = &c->e->results[row];
    figures_of(lat_ns, w.ops, w.ops, w.end_ns - w.start_ns, &r->all);
    *(row == ROW_INSERT ? &r->write_failures : &r->read_failures) = w.failures;
    memcpy(r->failure, w.failure, sizeof r->failure);
    r->done = true;
}

static void *mixed_thread_main(void *arg)
{
    struct worker *w = arg;
    static const char *const reader_sqls[] = {sql_user_by_id, NULL};
    static const char *const writer_sqls[] = {sql_user_insert, NULL};
    conn_open(w->e, &w->own);
    w->c = &w->own;
    worker_prepare(w, w->op == op_point_select ? reader_sqls : writer_sqls);
    pthread_barrier_wait(w->start_barrier);
    worker_run(w);
    worker_finalize(w);
    conn_close(&w->own);
    return NULL;
}

/* Moves the threads' samples to the front of lat_ns (slices of `cap`) and fills f. */
static void mixed_figures(struct worker *ws, int n, uint64_t *lat_ns, uint64_t cap,
                          struct figures *f, uint64_t *failures, char *failure)
{
    uint64_t ops = 0, start = UINT64_MAX, end = 0;
    for (int k = 0; k < n; k++) {
        memmove(lat_ns + ops, lat_ns + (uint64_t)k * cap, ws[k].ops * sizeof *lat_ns);
        ops += ws[k].ops;
        if (failure[0] == '\0' && ws[k].failures > 0) {
            memcpy(failure, ws[k].failure, FAILURE_BYTES);
        }
        *failures += ws[k].failures;
        start = ws[k].start_ns < start ? ws[k].start_ns : start;
        end = ws[k].end_ns > end ? ws[k].end_ns : end;
    }
    figures_of(lat_ns, ops, ops, end - start, f);
}

/* The mixed row: MIXED_READERS + MIXED_WRITERS threads, each with its own connection. */
static void measure_mixed(struct engine *e, uint64_t *read_lat_ns, uint64_t *write_lat_ns)
{
    enum { THREADS = MIXED_READERS + MIXED_WRITERS };
    struct worker ws[THREADS];
    pthread_t tids[THREADS];
    pthread_barrier_t barrier;
    atomic_bool stop = false;
    if (pthread_barrier_init(&barrier, NULL, THREADS) != 0) {
        die("pthread_barrier_init failed");
    }
    for (int k = 0; k < THREADS; k++) {
        bool reader = k < MIXED_READERS;
        int slot = reader ? k : k - MIXED_READERS;
        ws[k] = (struct worker){.e = e, .start_barrier = &barrier, .stop = &stop};
        ws[k].op = reader ? op_point_select : op_insert;
        ws[k].seed = 0xA0761D6478BD642Full + (uint64_t)k * 0x9E3779B97F4A7C15ull;
        ws[k].ops_max = reader ? MIXED_READ_OPS_MAX : MIXED_WRITE_OPS_MAX;
        ws[k].lat_ns = reader ? read_lat_ns + (uint64_t)slot * MIXED_READ_OPS_MAX
                              : write_lat_ns + (uint64_t)slot * MIXED_WRITE_OPS_MAX;
        if (pthread_create(&tids[k], NULL, mixed_thread_main, &ws[k]) != 0) {
            die("pthread_create failed");
        }
    }
    for (int k = 0; k < THREADS; k++) {
        pthread_join(tids[k], NULL);
    }
    pthread_barrier_destroy(&barrier);
    struct result *r = &e->results[ROW_MIXED];
    mixed_figures(ws, MIXED_READERS, read_lat_ns, MIXED_READ_OPS_MAX, &r->reads, &r->read_failures,
                  r->failure);
    mixed_figures(ws + MIXED_READERS, MIXED_WRITERS, write_lat_ns, MIXED_WRITE_OPS_MAX, &r->writes,
                  &r->write_failures, r->failure);
    uint64_t start = UINT64_MAX, end = 0;
    for (int k = 0; k < THREADS; k++) {
        start = ws[k].start_ns < start ? ws[k].start_ns : start;
        end = ws[k].end_ns > end ? ws[k].end_ns : end;
    }
    r->all = (struct figures){.ops = r->reads.ops + r->writes.ops, .elapsed_ns = end - start};
    r->done = true;
}

/* --- one engine, start to end --- */

/* Latency buffers, allocated once up front. */
struct buffers {
    uint64_t *row_ns;   /* READ_OPS_MAX */
    uint64_t *reads_ns; /* MIXED_READERS * MIXED_READ_OPS_MAX */
    uint64_t *writes_ns;
};

static bool row_selected(enum row_id row)
{
    return opt.only == NULL || strcmp(opt.only, row_names[row]) == 0;
}

static void engine_open(struct engine *e, enum engine_kind kind)
{
    e->kind = kind;
    int n = snprintf(e->dir, sizeof e->dir, "%s/bench_sql-%s-XXXXXX", opt.dir,
                     kind == ENGINE_HELIOS ? "heliosdb" : "sqlite");
    if (n < 0 || (size_t)n >= sizeof e->dir) {
        e->dir[0] = '\0';
        die("--dir %s: path too long", opt.dir);
    }
    if (mkdtemp(e->dir) == NULL) {
        char failed[sizeof e->dir];
        memcpy(failed, e->dir, sizeof failed);
        e->dir[0] = '\0';
        die("mkdtemp %s: %s", failed, strerror(errno));
    }
    snprintf(e->path, sizeof e->path, "%s/%s", e->dir, kind == ENGINE_HELIOS ? "db" : "bench.db");
    if (kind == ENGINE_HELIOS) {
        heliosdb_error err;
        int rc = heliosdb_open(e->path, NULL, &e->hdb, &err);
        if (rc != HELIOSDB_OK) {
            die_helios("open", e->path, rc, &err);
        }
    }
}

static void engine_close(struct engine *e)
{
    if (e->hdb != NULL) {
        heliosdb_error err;
        int rc = heliosdb_close(e->hdb, &err);
        if (rc != HELIOSDB_OK) {
            die_helios("close", e->path, rc, &err);
        }
        e->hdb = NULL;
    }
}

/* The durability the rows rely on: a WAL file and an fsync of it at every commit. */
static void check_sqlite_settings(struct conn *c)
{
    struct stmt st;
    stmt_prepare(c, "PRAGMA journal_mode", &st);
    bool wal = stmt_step(&st, false) == STEP_ROW && stmt_text(&st, 0) != NULL &&
               strcmp(stmt_text(&st, 0), "wal") == 0;
    stmt_finalize(&st);
    int64_t synchronous = query_int64(c, "PRAGMA synchronous");
    if (!wal || synchronous != 2) {
        die("SQLite: PRAGMA journal_mode=WAL and synchronous=FULL did not take effect "
            "(synchronous is %" PRId64 ")",
            synchronous);
    }
}

static void engine_run(struct engine *e, enum engine_kind kind, const struct buffers *b)
{
    engine_open(e, kind);
    struct conn c;
    conn_open(e, &c);
    if (kind == ENGINE_SQLITE) {
        check_sqlite_settings(&c);
    }
    conn_exec(&c, sql_users_table);
    conn_exec(&c, sql_orders_table);
    conn_exec(&c, sql_orders_index);
    load_users(&c, b->row_ns, &e->results[ROW_INSERT_BATCH]);
    uint64_t t = now_ns();
    load_orders(&c);
    double orders_s = (double)(now_ns() - t) / 1e9;
    check_loaded(&c);
    printf("%-8s  loaded %" PRIu64 " users in %.2f s and %" PRIu64
           " orders in %.2f s; counts and customer orders checked\n",
           engine_names[kind], opt.rows, (double)e->results[ROW_INSERT_BATCH].all.elapsed_ns / 1e9,
           opt.rows, orders_s);
    fflush(stdout);
    for (enum row_id row = ROW_POINT_SELECT; row < ROW_MIXED; row++) {
        if (row_selected(row)) {
            measure_row(&c, row, b->row_ns);
        }
    }
    if (row_selected(ROW_MIXED)) {
        measure_mixed(e, b->reads_ns, b->writes_ns);
    }
    conn_close(&c);
    engine_close(e);
}

/* --- the report --- */

#define FIGURES_WIDTH 40 /* the columns print_figures prints, after one space */
#define DASHES        "----------------------------------------"
static_assert(sizeof DASHES - 1 == FIGURES_WIDTH, "a banner can be all dashes");

/* Without percentiles (the mixed row's total), they are printed as "-". */
static void print_figures(const struct figures *f, bool percentiles)
{
    double secs = (double)f->elapsed_ns / 1e9;
    printf(" %11.0f", secs > 0 ? (double)f->ops / secs : 0.0);
    if (percentiles) {
        printf(" %9.1f %9.1f", (double)f->p50_ns / 1e3, (double)f->p99_ns / 1e3);
    } else {
        printf(" %9s %9s", "-", "-");
    }
    printf(" %8" PRIu64, f->ops);
}

static void print_line(const char *name, const struct figures *h, const struct figures *s,
                       bool percentiles)
{
    printf("%-16s", name);
    print_figures(h, percentiles);
    print_figures(s, percentiles);
    double hs = (double)h->elapsed_ns / 1e9, ss = (double)s->elapsed_ns / 1e9;
    double ho = hs > 0 ? (double)h->ops / hs : 0, so = ss > 0 ? (double)s->ops / ss : 0;
    if (so > 0) {
        printf(" %7.2f", ho / so);
    }
    printf("\n");
}

/* Operations that failed with a serialization error: not in the table, counted here. */
static void print_failures(void)
{
    for (enum row_id row = 0; row < ROW_COUNT; row++) {
        for (int k = 0; k < ENGINES && row_selected(row); k++) {
            const struct result *r = &engines[k].results[row];
            if (row == ROW_MIXED || r->read_failures + r->write_failures > 0) {
                printf("%s: %s: failed (%s, not counted above): %" PRIu64 " reads, %" PRIu64
                       " writes%s%s\n",
                       row_names[row], engine_names[k],
                       k == ENGINE_HELIOS ? "HELIOSDB_CONFLICT or HELIOSDB_BUSY" : "SQLITE_BUSY",
                       r->read_failures, r->write_failures,
                       r->failure[0] != '\0' ? "; first: " : "", r->failure);
            }
        }
    }
}

static void print_table(void)
{
    const struct result *h = engines[ENGINE_HELIOS].results, *s = engines[ENGINE_SQLITE].results;
    printf("\n%-16s", "");
    for (int k = 0; k < ENGINES; k++) {
        int dashes = FIGURES_WIDTH - 2 - (int)strlen(engine_names[k]);
        printf(" %.*s %s %.*s", dashes / 2, DASHES, engine_names[k], dashes - dashes / 2, DASHES);
    }
    printf("\n%-16s", "row");
    for (int k = 0; k < ENGINES; k++) {
        printf(" %11s %9s %9s %8s", "ops/s", "p50 us", "p99 us", "ops");
    }
    printf(" %7s\n", "H/S");
    for (enum row_id row = 0; row < ROW_COUNT; row++) {
        if (!row_selected(row) || !h[row].done || !s[row].done) {
            continue;
        }
        print_line(row_names[row], &h[row].all, &s[row].all, row != ROW_MIXED);
        if (row == ROW_MIXED) {
            print_line("  mixed reads", &h[row].reads, &s[row].reads, true);
            print_line("  mixed writes", &h[row].writes, &s[row].writes, true);
        }
    }
    printf("\nH/S = HeliosDB ops/s / SQLite ops/s; insert_batch: ops = rows, latency per "
           "%d-row transaction\n",
           BATCH_ROWS);
    for (enum row_id row = 0; row < ROW_COUNT; row++) {
        if (row_selected(row)) {
            printf("  %-16s %s\n", row_names[row], row_descriptions[row]);
        }
    }
    print_failures();
}

/* Compares the newest orders of the checked customers on both engines; returns the mismatches. */
static int cross_check(void)
{
    const struct engine *h = &engines[ENGINE_HELIOS], *s = &engines[ENGINE_SQLITE];
    int wrong = 0;
    for (int k = 0; k < CHECK_CUSTOMERS; k++) {
        bool same = h->check_rows[k] == s->check_rows[k] &&
                    memcmp(h->check_ids[k], s->check_ids[k],
                           h->check_rows[k] * sizeof h->check_ids[k][0]) == 0;
        printf("check: %s with customer_id = %" PRId64 ": HeliosDB %u rows, SQLite %u rows, %s\n",
               sql_customer_orders, h->check_customer[k], h->check_rows[k], s->check_rows[k],
               same ? "same ids in the same order" : "DIFFERENT (wrong answer)");
        wrong += !same;
    }
    return wrong;
}

/* --- main --- */

static void usage(void)
{
    fprintf(stderr, "usage: bench_sql [--rows N] [--seconds S] [--only ROW] [--dir D] [--keep] "
                    "[--quick]\nrows:");
    for (int k = 0; k < ROW_COUNT; k++) {
        fprintf(stderr, " %s", row_names[k]);
    }
    fputc('\n', stderr);
    exit(2);
}

static uint64_t parse_count(const char *flag, const char *text, uint64_t max)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = text != NULL ? strtoull(text, &end, 10) : 0;
    if (text == NULL || errno != 0 || end == text || *end != '\0' || v < 1 || v > max) {
        fprintf(stderr, "bench_sql: %s wants a number from 1 to %" PRIu64 "\n", flag, max);
        usage();
    }
    return v;
}

static void parse_options(int argc, char **argv)
{
    bool quick = false, rows_set = false, seconds_set = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--rows") == 0) {
            opt.rows = parse_count(a, v, ROWS_MAX);
            rows_set = true;
            i++;
        } else if (strcmp(a, "--seconds") == 0) {
            opt.seconds = (uint32_t)parse_count(a, v, SECONDS_MAX);
            seconds_set = true;
            i++;
        } else if (strcmp(a, "--only") == 0 && v != NULL) {
            opt.only = argv[++i];
        } else if (strcmp(a, "--dir") == 0 && v != NULL) {
            opt.dir = argv[++i];
        } else if (strcmp(a, "--keep") == 0) {
            opt.keep = true;
        } else if (strcmp(a, "--quick") == 0) {
            quick = true;
        } else {
            usage();
        }
    }
    bool known = opt.only == NULL;
    for (int k = 0; k < ROW_COUNT && !known; k++) {
        known = strcmp(opt.only, row_names[k]) == 0;
    }
    if (!known) {
        fprintf(stderr, "bench_sql: --only %s: no such row\n", opt.only);
        usage();
    }
    opt.rows = quick && !rows_set ? ROWS_QUICK : opt.rows;
    opt.seconds = quick && !seconds_set ? SECONDS_QUICK : opt.seconds;
}

static void print_header(void)
{
    cpu_set_t set;
    int usable = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : -1;
    printf("bench_sql: HeliosDB-Lite against SQLite %s (threadsafe=%d), same data, same run\n",
           sqlite3_libversion(), sqlite3_threadsafe());
    printf("CPUs: %ld online, %d usable by this process\n", sysconf(_SC_NPROCESSORS_ONLN), usable);
    printf("data: %" PRIu64 " users, %" PRIu64 " orders over %d customers; %u s per row "
           "(at most %d durable writes, %d reads); under %s\n",
           opt.rows, opt.rows, CUSTOMERS, opt.seconds, WRITE_OPS_MAX, READ_OPS_MAX, opt.dir);
    printf("SQLite: WAL, synchronous=FULL, busy_timeout=5000. HeliosDB: heliosdb_open(dir, NULL) "
           "defaults (durable sync commits)\n");
    for (char **v = environ; *v != NULL; v++) {
        if (strncmp(*v, "HELIOSDB_", 9) == 0) {
            printf("note: environment %s applies to HeliosDB\n", *v);
        }
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    parse_options(argc, argv);
    if (sqlite3_threadsafe() == 0) {
        die("this SQLite is built without threads; the mixed row needs them");
    }
    print_header();
    struct buffers b = {
        .row_ns = malloc(READ_OPS_MAX * sizeof(uint64_t)),
        .reads_ns = malloc((size_t)MIXED_READERS * MIXED_READ_OPS_MAX * sizeof(uint64_t)),
        .writes_ns = malloc((size_t)MIXED_WRITERS * MIXED_WRITE_OPS_MAX * sizeof(uint64_t)),
    };
    if (b.row_ns == NULL || b.reads_ns == NULL || b.writes_ns == NULL) {
        die("out of memory for the latency buffers");
    }
    for (int k = 0; k < ENGINES; k++) {
        engine_run(&engines[k], (enum engine_kind)k, &b);
    }
    print_table();
    int wrong = cross_check();
    remove_dirs();
    free(b.row_ns);
    free(b.reads_ns);
    free(b.writes_ns);
    return wrong == 0 ? 0 : 1;
}
