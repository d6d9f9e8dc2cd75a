/*
 * queue_sqlite_int.h - what the two files of the SQLite backend share:
 * queue_sqlite.c (schema, opening, the committer thread and every write)
 * and queue_sqlite_read.c (the pool of reading connections and every
 * read).  Nothing outside src/queue/queue_sqlite*.c includes this.
 */
#ifndef OUTPOST_QUEUE_QUEUE_SQLITE_INT_H
#define OUTPOST_QUEUE_QUEUE_SQLITE_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "queue/queue.h"
#include "queue/queue_commit.h"

#define BUSY_TIMEOUT_MS 5000
#define READERS_MAX 4
#define READER_CACHE_KIB 2048

/* The columns read into a struct queue_msg (sq_row_msg()), in this order. */
#define MSG_COLS "mid, id, sender, size, state, attempts, created, since," \
	" next_attempt, updated, profile, profile_used, last_error," \
	" (SELECT count(*) FROM recipients AS r WHERE r.mid = messages.mid)," \
	" metadata, subject"
/* queue_list: MSG_COLS and the first recipient and latest reply */
#define LIST_COLS MSG_COLS ", (SELECT address FROM recipients AS r" \
	" WHERE r.mid = messages.mid AND r.idx = 0)," \
	" (SELECT r.code || CASE WHEN coalesce(r.enhanced, '') = '' THEN ''" \
	" ELSE ' ' || r.enhanced END || ' ' || coalesce(r.reply, '')" \
	" FROM recipients AS r WHERE r.mid = messages.mid AND r.code IS NOT NULL" \
	" ORDER BY r.updated DESC LIMIT 1)"
#define RCPT_COLS "idx, address, state, code, enhanced, reply, attempts," \
	" updated, profile"
#define WAITING "state IN ('queued', 'deferred')"
#define BACK_FROM_SENDING \
	"CASE WHEN attempts > 0 THEN 'deferred' ELSE 'queued' END"

/* Statements of the writing connection (committer thread only). */
enum {
	W_BEGIN, W_COMMIT, W_ROLLBACK, W_SAVEPOINT, W_RELEASE, W_ROLLBACK_TO,
	W_MSG_INSERT, W_BODY_INSERT, W_RCPT_INSERT, W_EVENT_INSERT, W_FIND,
	W_CLAIM, W_CLAIM_ID, W_RCPTS_OF, W_RCPT_RESULT, W_RCPT_ADDR, W_RCPT_TALLY,
	W_MSG_RESULT,
	W_RCPT_FAIL_OPEN, W_MSG_FAIL, W_UNCLAIM, W_WAIT_RCPTS, W_WAIT, W_ADVANCE, W_RECOVER_EVENTS, W_RECOVER,
	W_HOLD_EVENTS, W_HOLD, W_RELEASE_EVENTS, W_RELEASE_HELD,
	W_RETRY_RCPTS, W_RETRY_MSG, W_RETRY_ALL_EVENTS, W_RETRY_ALL_RCPTS,
	W_RETRY_ALL, W_DELETE, W_PURGE_SCAN, W_RATE_ADD, W_RATE_PRUNE,
	W_COUNT_ADD,
	/* events for the application */
	W_IDEM_FIND, W_IDEM_PUT, W_IDEM_PURGE, W_OUTBOX_QUEUED, W_OUTBOX_RESULT,
	W_OUTBOX_FAIL, W_SUPP_ADD, W_OUTBOX_CLAIM, W_OUTBOX_DEL, W_OUTBOX_RETRY,
	W_SUPP_DEL, W_SUPP_UNRETRY,
	W__COUNT
};

/* Statements of a reading connection. */
enum {
	R_BEGIN, R_END, R_FIND, R_LIST, R_LIST_STATE, R_GET, R_RCPTS,
	R_EVENTS, R_COUNTS, R_NEXT_DUE, R_RATE, R_COUNTERS,
	R_SUPP_CHECK, R_SUPP_LIST, R_OUTBOX_COUNT, R_SUPP_ANY,
	R__COUNT
};

struct sq_reader {
	sqlite3 *db;
	sqlite3_stmt *st[R__COUNT];
	int busy;
};

struct sq {
	struct queue_core core;        /* first: the group commit and its
	                                * handle (queue_commit.h) */
	char *path;

	sqlite3 *wdb;                  /* the committer's connection */
	sqlite3_stmt *w[W__COUNT];
	int fatal;                     /* the current transaction is lost */
	int64_t last_prune;

	/* QUEUE_OPEN_DAEMON: checkpoints run here, off the commit path */
	sqlite3 *cdb;                  /* the checkpointer's connection */
	pthread_t cthread;
	int cthread_started;
	pthread_cond_t ckpt_cv;        /* under core.mu: a checkpoint is wanted */
	int ckpt_wanted;
	int ckpt_pending;              /* under core.mu: frames written since the
	                                * last checkpoint request */
	int ckpt_mark;                 /* committer: WAL frames at the last
	                                * checkpoint request */
	uint64_t checkpoints;

	int wal_frames;                /* committer, commands only: the WAL's
	                                * length after the last commit */

	pthread_mutex_t rmu;           /* the reader pool */
	pthread_cond_t rcv;
	struct sq_reader readers[READERS_MAX];
};

/* Fill e from SQLite's result rc on db (of s), prefixed by what was being
 * done; an error of the writing connection that loses the transaction
 * marks the batch failed.  Returns -1. */
int sq_err(struct sq *s, sqlite3 *db, int rc, const char *what,
    struct op_err *e);

/* Column helpers: text or "" / a copy in the set's arena or NULL. */
const char *sq_col_text(sqlite3_stmt *st, int i);
const char *sq_set_col(struct queue_set *set, sqlite3_stmt *st, int i);
/* A row of MSG_COLS into a new message of set; returns its mid. */
int64_t sq_row_msg(struct queue_set *set, sqlite3_stmt *st);
/* A row of RCPT_COLS into a new recipient of message m. */
void sq_row_rcpt(struct queue_set *set, struct queue_msg *m, sqlite3_stmt *st);

/* A new connection to s->path with the pragmas every connection gets. */
int sq_db_connect(struct sq *s, sqlite3 **out, int cache_kib,
    struct op_err *e);
int sq_db_exec(struct sq *s, sqlite3 *db, const char *sql, const char *what,
    struct op_err *e);
int sq_prepare_all(struct sq *s, sqlite3 *db, const char *const *sql,
    sqlite3_stmt **st, int n, struct op_err *e);
void sq_finalize_all(sqlite3_stmt **st, int n);

/* queue_sqlite_read.c: the reading operations of struct queue_ops, and
 * closing the pool. */
int sq_body_get(struct queue *q, const char *id, char **body, size_t *len,
    struct op_err *e);
int sq_body_read(struct queue *q, const char *id, uint64_t off, void *dst,
    size_t n, size_t *got, struct op_err *e);
int sq_list(struct queue *q, const struct queue_list_opts *o,
    struct queue_set *out, struct op_err *e);
int sq_get(struct queue *q, const char *id, struct queue_set *out,
    struct op_err *e);
int sq_counts(struct queue *q, uint64_t counts[QUEUE_MSG_NSTATES],
    struct op_err *e);
int sq_next_due(struct queue *q, int64_t *when, int *found,
    struct op_err *e);
int sq_counters(struct queue *q, struct queue_counter **out, size_t *n,
    struct op_err *e);
int sq_rate_load(struct queue *q, const char *profile, int64_t since,
    struct queue_rate_bucket **out, size_t *n, struct op_err *e);
void sq_readers_close(struct sq *s);
/* events for the application */
int sq_outbox_count(struct queue *q, uint64_t *n, struct op_err *e);
int sq_supp_list(struct queue *q, const char *after, size_t limit,
    struct queue_set *out, struct op_err *e);
int sq_supp_check(struct queue *q, const char *const *addrs, size_t n,
    int *out, int *empty, struct op_err *e);

#endif
