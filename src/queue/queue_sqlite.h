/*
 * queue_sqlite.h - the SQLite backend of the store (see queue_sqlite.c for
 * the schema and the group commit design).  Callers use queue_open(); this
 * is what it calls.
 */
#ifndef OUTPOST_QUEUE_QUEUE_SQLITE_H
#define OUTPOST_QUEUE_QUEUE_SQLITE_H

#include "queue/queue.h"

/* Open the database file db_path (created 0600 if missing); flags as for
 * queue_open(). */
int queue_sqlite_open(const char *db_path, unsigned flags, struct queue **out,
    struct op_err *e);
/* The query plan (EXPLAIN QUERY PLAN, one step a line) of queue_list()
 * with the searches of o, for tests that the searches use the indexes. */
int queue_sqlite_plan(struct queue *q, const struct queue_list_opts *o,
    char *dst, size_t dstsz, struct op_err *e);

#endif
