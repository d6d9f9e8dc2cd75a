/*
 * queue_pg.h - the PostgreSQL backend of the store (see queue_pg.c for the
 * schema, the claims with leases and the outages).  Callers use
 * queue_open_db(); this is what it calls for a postgresql:// database.
 */
#ifndef OUTPOST_QUEUE_QUEUE_PG_H
#define OUTPOST_QUEUE_QUEUE_PG_H

#include "queue/queue.h"

/* Open the queue in the database named by uri (a libpq URI); node names
 * this process's claims and deliveries; flags as for queue_open(). */
int queue_pg_open(const char *uri, const char *node, unsigned flags,
    struct queue **out, struct op_err *e);

#endif
