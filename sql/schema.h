/*
 * schema.h — the catalog stored in the database, and DDL on it.
 *
 * The catalog is a key-value table, `_catalog`, on the shard runtime:
 *
 *   key          value
 *   "v"          u64 catalog version, +1 by every DDL statement
 *   "n"          u64 next object id
 *   "t:<name>"   u32 kind (1 = table), u32 id, then the CREATE TABLE text
 *   "i:<name>"   u32 kind (2 = index), u32 id, u16 table name length, the
 *                table name, then the CREATE INDEX text
 *
 * (<name> in lower case.) A table's rows live in the key-value table
 * "t<id>"; ids are never reused, so a dropped table's name can be created
 * again at once. DDL runs inside the caller's transaction, so it commits or
 * rolls back with it, and it writes the version key; a statement planned
 * against the schema read the version in its transaction, so a DDL that
 * commits in between makes that statement's commit fail with HDB_CONFLICT
 * (the catalog version is checked at commit, as DESIGN §4 asks).
 *
 * The CREATE TABLE text is parsed again when the schema is loaded, as SQLite
 * does; ALTER TABLE ... ADD COLUMN rewrites it with the new column at the end.
 * Indexes are in the catalog (names, columns, UNIQUE, partial WHERE); every
 * index and every UNIQUE constraint has a key-value table of entries (struct
 * hdb_schema_ix) that the executor keeps in step with the rows in the same
 * transaction, checks uniqueness against and reads for equality lookups.
 * A dropped table's rows and entries stay in their key-value tables until
 * space reclamation (VACUUM) exists.
 */
#ifndef HDB_SQL_SCHEMA_H
#define HDB_SQL_SCHEMA_H

#include <stdint.h>

#include "shards/kv.h"
#include "sql/catalog.h"

#define HDB_SCHEMA_TABLES_MAX 100000u /* tables in one database */
#define HDB_CATALOG_TABLE     "_catalog"

/*
 * An index of a table with entries of its own: each UNIQUE constraint of
 * the table and each CREATE INDEX on it. An entry's key is the key encoding
 * of the indexed columns (DESC ones inverted) followed by the row's storage
 * key; its value is the row's storage key. A partial index holds only the
 * rows its WHERE accepts.
 */
struct hdb_schema_ix {
    const char *name;                 /* the index's name; a UNIQUE constraint's own name or NULL */
    const struct hdb_key_def *key;    /* column positions in the table */
    const struct hdb_sql_expr *where; /* partial index condition, or NULL */
    bool unique;
    bool lookup;               /* every column compares with BINARY: equality may use the index */
    struct hdb_table *entries; /* the key-value table "u<table id>.<n>" or "x<index id>" */
};

struct hdb_schema_table {
    struct hdb_table_def *def;
    uint32_t id;
    struct hdb_table *rows; /* the key-value table "t<id>" */
    uint32_t nix;
    struct hdb_schema_ix *ix; /* UNIQUE constraints first, then indexes in name order */
};

struct hdb_schema_index {
    struct hdb_sql_arena arena; /* the parse of `sql` */
    const char *name, *table, *sql;
    uint32_t id;
    bool unique;
    struct hdb_key_def key;           /* column positions in the table */
    const struct hdb_sql_expr *where; /* partial index condition, or NULL */
    bool binary;                      /* no column term has a COLLATE other than BINARY */
};

struct hdb_schema {
    uint64_t version;
    uint32_t ntables;
    struct hdb_schema_table *tables;
    uint32_t nindexes;
    struct hdb_schema_index **indexes;
};

/* Reads the catalog inside transaction `t` (which then depends on its version). */
int hdb_schema_load(struct hdb_conn *c, struct hdb_txn *t, struct hdb_schema **out,
                    struct hdb_err *err);
void hdb_schema_free(struct hdb_schema *s);
/* Reads just the catalog version inside `t` (which then depends on it, as after a load): a
 * schema loaded from committed data at the same version can be used again. */
int hdb_schema_version(struct hdb_conn *c, struct hdb_txn *t, uint64_t *out, struct hdb_err *err);
/* The next object id (every table and index id is below it; 0 before the first). */
int hdb_schema_next_id(struct hdb_conn *c, struct hdb_txn *t, uint64_t *out, struct hdb_err *err);

/* The table called `name` (case-insensitive), or NULL. */
const struct hdb_schema_table *hdb_schema_table(const struct hdb_schema *s, const char *name);
/* The index called `name` (case-insensitive), or NULL. */
const struct hdb_schema_index *hdb_schema_index(const struct hdb_schema *s, const char *name);

/*
 * Runs a DDL statement (CREATE TABLE, DROP TABLE, ALTER TABLE ... ADD COLUMN,
 * CREATE [UNIQUE] INDEX, DROP INDEX)
 * in transaction `t`. `src` is the text the statement was parsed from.
 * Errors name the object: "table t already exists", "index i already
 * exists" (HDB_EXISTS), "no such table: t", "no such index: i"
 * (HDB_NOTFOUND), "duplicate column name: c", the CREATE TABLE
 * checks of catalog.h, and names starting with "_" (reserved). Load the
 * schema again after the transaction commits.
 */
int hdb_schema_ddl(struct hdb_conn *c, struct hdb_txn *t, const struct hdb_sql_stmt *st,
                   const char *src, struct hdb_err *err);

#endif
