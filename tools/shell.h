/*
 * shell.h — `heliosdb shell` (tools/shell.c).
 */
#ifndef HDB_TOOLS_SHELL_H
#define HDB_TOOLS_SHELL_H

#include <stdbool.h>
#include <stdint.h>

#include "shards/kv.h"

/* Runs the shell on stdin/stdout over an open database; returns the exit status. */
/* `timeout_ms`: [database] statement_timeout_ms (0: none); `work_mem_mb`: [database]
 * work_mem_mb. */
int hdb_shell_run(struct hdb_db *db, bool slt, uint32_t timeout_ms, uint32_t work_mem_mb);

#endif
