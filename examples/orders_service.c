/*
 * orders_service.c — the orders and inventory services of the user
 * documents, embedded: create an order in a transaction (insert, then read
 * it back by its id), list a customer's orders newest first with paging,
 * and the inventory reservation transaction (check stock, reserve,
 * record the reservation) with its compensating transaction.
 *
 *   orders_service DBPATH
 */
#include <heliosdb.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int exec_ok(heliosdb_conn *c, const char *sql)
{
    heliosdb_error err;
    int rc = heliosdb_exec(c, sql, &err);
    if (rc != HELIOSDB_OK) {
        fprintf(stderr, "%s: %s\n", sql, err.message);
    }
    return rc;
}

/* Binds int64 parameters 1..n and steps once; the caller reads columns and finalizes. */
static int run(heliosdb_conn *c, const char *sql, const int64_t *args, int n, heliosdb_stmt **out)
{
    heliosdb_error err;
    int rc = heliosdb_prepare(c, sql, -1, out, NULL, &err);
    for (int i = 0; rc == HELIOSDB_OK && i < n; i++) {
        rc = heliosdb_bind_int64(*out, i + 1, args[i], &err);
    }
    rc = rc == HELIOSDB_OK ? heliosdb_step(*out, &err) : rc;
    if (rc != HELIOSDB_ROW && rc != HELIOSDB_DONE) {
        fprintf(stderr, "%s: %s\n", sql, err.message);
    }
    return rc;
}

static int64_t create_order(heliosdb_conn *c, int64_t customer, int64_t product, int64_t qty,
                            int64_t created_at)
{
    if (exec_ok(c, "BEGIN") != HELIOSDB_OK) {
        return -1;
    }
    heliosdb_stmt *st = NULL;
    int64_t args[] = {customer, product, qty, created_at};
    int rc = run(c,
                 "INSERT INTO orders (customer_id, product_id, quantity, total_price, status, "
                 "created_at) VALUES (?, ?, ?, 9.99 * ?3, 'pending', ?)",
                 args, 4, &st);
    heliosdb_finalize(st);
    int64_t id = heliosdb_last_insert_id(c);
    rc = rc == HELIOSDB_DONE ? run(c, "SELECT id, status FROM orders WHERE id = ?", &id, 1, &st)
                             : rc;
    bool found = rc == HELIOSDB_ROW && heliosdb_column_int64(st, 0) == id;
    heliosdb_finalize(st);
    if (!found || exec_ok(c, "COMMIT") != HELIOSDB_OK) {
        exec_ok(c, "ROLLBACK");
        return -1;
    }
    return id;
}

/* Reserve stock for an order: all of it or nothing. Returns 1 reserved, 0 out of stock. */
static int reserve(heliosdb_conn *c, int64_t order, int64_t product, int64_t qty)
{
    if (exec_ok(c, "BEGIN") != HELIOSDB_OK) {
        return -1;
    }
    heliosdb_stmt *st = NULL;
    int rc = run(c, "SELECT quantity FROM inventory WHERE product_id = ?", &product, 1, &st);
    int64_t have = rc == HELIOSDB_ROW ? heliosdb_column_int64(st, 0) : -1;
    heliosdb_finalize(st);
    if (have < qty) {
        exec_ok(c, "ROLLBACK");
        return have < 0 ? -1 : 0;
    }
    int64_t upd[] = {qty, qty, product};
    rc = run(c,
             "UPDATE inventory SET quantity = quantity - ?, reserved = reserved + ? "
             "WHERE product_id = ? AND quantity >= ?1",
             upd, 3, &st);
    heliosdb_finalize(st);
    int64_t ins[] = {order, product, qty};
    rc = rc == HELIOSDB_DONE ? run(c,
                                   "INSERT INTO reservations (order_id, product_id, quantity) "
                                   "VALUES (?, ?, ?)",
                                   ins, 3, &st)
                             : rc;
    heliosdb_finalize(st);
    if (rc != HELIOSDB_DONE || exec_ok(c, "COMMIT") != HELIOSDB_OK) {
        exec_ok(c, "ROLLBACK");
        return -1;
    }
    return 1;
}

/* The compensating transaction when the order fails later. */
static int release(heliosdb_conn *c, int64_t order, int64_t product, int64_t qty)
{
    heliosdb_stmt *st = NULL;
    int64_t upd[] = {qty, qty, product};
    int rc = exec_ok(c, "BEGIN");
    rc = rc == HELIOSDB_OK ? run(c,
                                 "UPDATE inventory SET quantity = quantity + ?, reserved = "
                                 "reserved - ? WHERE product_id = ?",
                                 upd, 3, &st)
                           : rc;
    heliosdb_finalize(st);
    rc = rc == HELIOSDB_DONE ? run(c, "DELETE FROM reservations WHERE order_id = ?", &order, 1, &st)
                             : rc;
    heliosdb_finalize(st);
    return rc == HELIOSDB_DONE ? exec_ok(c, "COMMIT") : (exec_ok(c, "ROLLBACK"), rc);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: orders_service DBPATH\n");
        return 2;
    }
    heliosdb *db = NULL;
    heliosdb_conn *c = NULL;
    heliosdb_error err;
    if (heliosdb_open(argv[1], NULL, &db, &err) != HELIOSDB_OK ||
        heliosdb_connect(db, &c, &err) != HELIOSDB_OK) {
        fprintf(stderr, "open: %s\n", err.message);
        return 1;
    }
    int failures =
        exec_ok(c, "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY "
                   "AUTOINCREMENT, customer_id INTEGER NOT NULL, product_id INTEGER NOT "
                   "NULL, quantity INTEGER NOT NULL, total_price REAL NOT NULL, status "
                   "TEXT NOT NULL, created_at INTEGER DEFAULT (strftime('%s', 'now')));"
                   "CREATE INDEX IF NOT EXISTS idx_orders_customer ON orders(customer_id, "
                   "created_at DESC);"
                   "CREATE TABLE IF NOT EXISTS inventory (product_id INTEGER PRIMARY KEY, "
                   "quantity INTEGER NOT NULL CHECK (quantity >= 0), reserved INTEGER NOT "
                   "NULL DEFAULT 0);"
                   "CREATE TABLE IF NOT EXISTS reservations (order_id INTEGER PRIMARY KEY, "
                   "product_id INTEGER NOT NULL, quantity INTEGER NOT NULL);"
                   "INSERT OR IGNORE INTO inventory (product_id, quantity) VALUES (7, 5);") !=
        HELIOSDB_OK;
    int64_t first = 0;
    for (int i = 0; i < 6 && failures == 0; i++) {
        int64_t id = create_order(c, 42, 7, 1 + i % 2, 1700000000 + i);
        failures += id < 0;
        first = first == 0 ? id : first;
    }
    /* GET /orders?customer_id=42&limit=3&offset=1, newest first */
    heliosdb_stmt *st = NULL;
    int64_t page[] = {42, 3, 1};
    int rc = run(c,
                 "SELECT id, created_at FROM orders WHERE customer_id = ? ORDER BY created_at "
                 "DESC LIMIT ? OFFSET ?",
                 page, 3, &st);
    printf("customer 42, page 2 (3 per page, newest first):");
    int rows = 0;
    while (rc == HELIOSDB_ROW) {
        printf(" #%" PRId64, heliosdb_column_int64(st, 0));
        rows++;
        rc = heliosdb_step(st, &err);
    }
    printf("\n");
    heliosdb_finalize(st);
    failures += rows != 3;
    int r1 = reserve(c, first, 7, 4), r2 = reserve(c, first + 1, 7, 4);
    printf("reserve 4 of product 7: %s; another 4: %s\n", r1 == 1 ? "reserved" : "FAILED",
           r2 == 0 ? "out of stock" : "UNEXPECTED");
    failures += r1 != 1 || r2 != 0;
    failures += release(c, first, 7, 4) != HELIOSDB_OK;
    rc = run(c, "SELECT quantity, reserved FROM inventory WHERE product_id = 7", NULL, 0, &st);
    printf("after the compensating transaction: quantity %" PRId64 ", reserved %" PRId64 "\n",
           heliosdb_column_int64(st, 0), heliosdb_column_int64(st, 1));
    failures += rc != HELIOSDB_ROW || heliosdb_column_int64(st, 0) != 5 ||
                heliosdb_column_int64(st, 1) != 0;
    heliosdb_finalize(st);
    heliosdb_disconnect(c);
    failures += heliosdb_close(db, &err) != HELIOSDB_OK;
    return failures == 0 ? 0 : 1;
}
