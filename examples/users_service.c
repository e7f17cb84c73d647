/*
 * users_service.c — the users service of the user documents, embedded: the
 * core of its handlers (create a user in a transaction and read it back,
 * get a user by id, reject a duplicate email, take a snapshot), written
 * against the public API the way a service links libheliosdb. The HTTP
 * layer is `heliosdb serve`'s job; here main() calls the handlers.
 *
 *   users_service DBPATH
 */
#include <heliosdb.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct user {
    int64_t id;
    char email[128], name[128];
    int64_t created_at;
};

static int check(int rc, const heliosdb_error *err, const char *what)
{
    if (rc != HELIOSDB_OK && rc != HELIOSDB_DONE && rc != HELIOSDB_ROW) {
        fprintf(stderr, "%s: %s (%s)\n", what, err->message, heliosdb_status_name(rc));
    }
    return rc;
}

/* The schema migration the service runs at start. */
static int migrate(heliosdb_conn *c)
{
    heliosdb_error err;
    return check(heliosdb_exec(c,
                               "CREATE TABLE IF NOT EXISTS users ("
                               " id INTEGER PRIMARY KEY AUTOINCREMENT,"
                               " email TEXT NOT NULL UNIQUE,"
                               " name TEXT NOT NULL,"
                               " created_at INTEGER DEFAULT (strftime('%s', 'now')));"
                               "CREATE INDEX IF NOT EXISTS idx_users_email ON users(email);",
                               &err),
                 &err, "migrate");
}

static int read_user(heliosdb_conn *c, int64_t id, struct user *u)
{
    heliosdb_stmt *st = NULL;
    heliosdb_error err;
    int rc = heliosdb_prepare(c, "SELECT id, email, name, created_at FROM users WHERE id = ?", -1,
                              &st, NULL, &err);
    rc = rc == HELIOSDB_OK ? heliosdb_bind_int64(st, 1, id, &err) : rc;
    rc = rc == HELIOSDB_OK ? heliosdb_step(st, &err) : rc;
    if (rc == HELIOSDB_ROW) {
        u->id = heliosdb_column_int64(st, 0);
        snprintf(u->email, sizeof u->email, "%s", (const char *)heliosdb_column_text(st, 1));
        snprintf(u->name, sizeof u->name, "%s", (const char *)heliosdb_column_text(st, 2));
        u->created_at = heliosdb_column_int64(st, 3);
    }
    heliosdb_finalize(st);
    return check(rc, &err, "read user");
}

/* POST /users: insert and read back in one transaction; HELIOSDB_CONSTRAINT for a taken email. */
static int create_user(heliosdb_conn *c, const char *email, const char *name, struct user *out)
{
    heliosdb_error err;
    int rc = heliosdb_exec(c, "BEGIN", &err);
    heliosdb_stmt *st = NULL;
    rc = rc == HELIOSDB_OK ? heliosdb_prepare(c, "INSERT INTO users (email, name) VALUES (?, ?)",
                                              -1, &st, NULL, &err)
                           : rc;
    rc = rc == HELIOSDB_OK ? heliosdb_bind_text(st, 1, email, -1, &err) : rc;
    rc = rc == HELIOSDB_OK ? heliosdb_bind_text(st, 2, name, -1, &err) : rc;
    rc = rc == HELIOSDB_OK ? heliosdb_step(st, &err) : rc;
    heliosdb_finalize(st);
    if (rc != HELIOSDB_DONE) {
        heliosdb_error ignore;
        heliosdb_exec(c, "ROLLBACK", &ignore);
        return rc;
    }
    rc = read_user(c, heliosdb_last_insert_id(c), out) == HELIOSDB_ROW ? HELIOSDB_OK
                                                                       : HELIOSDB_ERROR;
    rc = rc == HELIOSDB_OK ? heliosdb_exec(c, "COMMIT", &err) : rc;
    return check(rc, &err, "create user");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: users_service DBPATH\n");
        return 2;
    }
    heliosdb *db = NULL;
    heliosdb_conn *c = NULL;
    heliosdb_error err;
    if (check(heliosdb_open(argv[1], NULL, &db, &err), &err, "open") != HELIOSDB_OK ||
        check(heliosdb_connect(db, &c, &err), &err, "connect") != HELIOSDB_OK ||
        migrate(c) != HELIOSDB_OK) {
        return 1;
    }
    struct user u;
    int failures = 0;
    int first = create_user(c, "ada@example.com", "Ada", &u);
    if (first == HELIOSDB_OK) {
        printf("created user %" PRId64 ": %s <%s>, created_at %" PRId64 "\n", u.id, u.name, u.email,
               u.created_at);
    } else if (first == HELIOSDB_CONSTRAINT) {
        printf("user ada@example.com exists already (an earlier run)\n");
    } else {
        failures++;
    }
    int rc = create_user(c, "ada@example.com", "Another Ada", &u);
    printf("duplicate email: %s\n", rc == HELIOSDB_CONSTRAINT ? "rejected (400)" : "ACCEPTED");
    failures += rc != HELIOSDB_CONSTRAINT;
    struct user got;
    if (read_user(c, 1, &got) == HELIOSDB_ROW) {
        printf("GET /users/1: %s\n", got.email);
    } else {
        failures++;
    }
    printf("GET /users/999: %s\n", read_user(c, 999, &got) == HELIOSDB_DONE ? "404" : "FOUND");
    uint64_t snap = 0;
    if (heliosdb_snapshot_create(c, &snap, &err) == HELIOSDB_OK) {
        printf("POST /snapshot: snapshot %" PRIu64 "\n", snap);
        heliosdb_snapshot_drop(c, snap, &err);
    } else {
        failures++;
    }
    heliosdb_disconnect(c);
    if (check(heliosdb_close(db, &err), &err, "close") != HELIOSDB_OK) {
        failures++;
    }
    return failures == 0 ? 0 : 1;
}
