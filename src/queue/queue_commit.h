/*
 * queue_commit.h - the group commit every backend of the store shares
 * (queue_commit.c), and the write operations of struct queue_ops built on
 * it.  Nothing outside src/queue/ includes this.
 *
 * A backend's handle starts with a struct queue_core.  Every write of the
 * handle is a job; the caller appends it to the core's list and, unless
 * asynchronous, sleeps until it is done.  One committer thread takes every
 * job waiting (at most QUEUE_BATCH_JOBS of them and about
 * QUEUE_BATCH_BYTES of message bodies) and runs them in ONE transaction of
 * the backend's writing connection, each job inside its own savepoint
 * (a job that fails alone is rolled back alone; a failure of the whole
 * transaction fails every job of it: nothing of it was stored, nothing
 * acknowledged); then it wakes the waiters and runs the asynchronous
 * callbacks.  While it commits, new jobs gather for the next transaction.
 *
 * A backend gives the transaction's steps and one function per kind of
 * job (struct queue_txn); the argument checks, the counting of sends and
 * delivery outcomes per batch, and the job plumbing live here.
 */
#ifndef OUTPOST_QUEUE_QUEUE_COMMIT_H
#define OUTPOST_QUEUE_QUEUE_COMMIT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/queue.h"

#define QUEUE_BATCH_JOBS 512           /* operations per transaction */
#define QUEUE_BATCH_TRIES 4            /* transactions for one batch whose
                                        * jobs failed it (run_batch) */
#define QUEUE_BATCH_BYTES (32u << 20)  /* bodies per transaction (about) */
#define QUEUE_RATES_MAX 8              /* profiles and minutes per batch */
#define QUEUE_ID_TRIES 8               /* new ids tried on a collision */

/* The kinds of job; a backend runs each with its own SQL. */
enum queue_job_kind {
	QJ_SUBMIT,      /* reads m; writes id */
	QJ_CLAIM,       /* reads now, max, and id (claim_id, max 1); fills set */
	QJ_RECORD,      /* reads o, now; writes state; calls
	                 * queue_job_count_record() */
	QJ_UNCLAIM,     /* reads id, when (next attempt), text (reason) */
	QJ_WAIT,        /* reads id, w */
	QJ_ADVANCE,     /* reads now, when (until); writes n */
	QJ_FAIL,        /* reads id, now, text (reason); fills cnt,
	                 * cnt_profile */
	QJ_EVENT,       /* reads id, now, text (kind), text2 (text) */
	QJ_RECOVER,     /* reads now, when (claims at or before it); writes n */
	QJ_HOLD,        /* reads now, text (reason, never NULL); writes n */
	QJ_RELEASE,     /* reads now; writes n */
	QJ_RETRY,       /* reads id, now */
	QJ_RETRY_ALL,   /* reads now, state (-1: every retryable state);
	                 * writes n */
	QJ_DELETE,      /* reads id */
	QJ_PURGE,       /* reads when (before), max; writes n */
	QJ_RATE_ADD,    /* reads text (profile), now, count */
	/* events for the application */
	QJ_OUTBOX_CLAIM,   /* reads text (webhook), now, max; fills set */
	QJ_OUTBOX_FINISH,  /* reads odone, max (how many) */
	QJ_SUPP_DELETE,    /* reads text (address, lowercase) */
	QJ_N
};

struct queue_core;

/*
 * One operation for the committer.  Synchronous jobs live on the caller's
 * stack; asynchronous ones are allocated and freed by the committer after
 * their callback.  Which fields a kind reads and writes is said above.
 */
struct queue_job {
	struct queue_job *next;
	int kind;                      /* enum queue_job_kind */
	size_t weight;                 /* body bytes, for the batch bound */
	int rc;                        /* 1 not run yet, 0 done, -1 failed */
	int blamed;                    /* set by the backend: this job's own
	                                * statement failed the transaction */
	int done;                      /* set under mu, then cv is signalled */
	pthread_cond_t cv;             /* the waiter of a synchronous job */
	struct op_err err;
	queue_submit_cb cb;            /* asynchronous submit */
	queue_record_cb rcb;           /* asynchronous record */
	void *cb_arg;
	const struct queue_new *m;
	const struct queue_outcome *o;
	const struct queue_wait *w;
	const struct queue_outbox_done *odone;
	struct queue_set *set;
	char id[QUEUE_ID_SIZE];
	int64_t now;
	int64_t when;
	size_t max;
	const char *text;
	const char *text2;
	unsigned count;
	uint64_t n;
	int state;
	unsigned sends;                /* set by a job: sends to count for */
	const char *sends_profile;     /* this profile if it stands */
	const char *cnt_profile;       /* set by a job: delivery counters to */
	unsigned cnt[QUEUE_COUNT_N];   /* add for this profile if it stands */
};

typedef int (*queue_job_fn)(struct queue_core *c, struct queue_job *j,
    struct op_err *e);

/*
 * A backend's transaction on its writing connection (called on the
 * committer thread only).  Each returns 0 or -1 with e filled; lost()
 * says whether the transaction as a whole is gone after a job failed (a
 * fatal error, or the connection left it).
 */
struct queue_txn {
	int (*begin)(struct queue_core *c, struct op_err *e);
	int (*savepoint)(struct queue_core *c, struct op_err *e);
	/* a job with a savepoint returned 0: the backend may finish what it
	 * left in flight (a pipeline); a failure fails that job alone (NULL:
	 * nothing to do) */
	int (*job_end)(struct queue_core *c, struct op_err *e);
	int (*release)(struct queue_core *c, struct op_err *e);
	int (*rollback_to)(struct queue_core *c, struct op_err *e);
	int (*lost)(struct queue_core *c);
	/* the batch's sums, once per profile (and minute), before commit */
	int (*rate_add)(struct queue_core *c, const char *profile, int64_t at,
	    unsigned n, struct op_err *e);
	int (*count_add)(struct queue_core *c, const char *profile,
	    const uint64_t n[QUEUE_COUNT_N], struct op_err *e);
	int (*commit)(struct queue_core *c, struct op_err *e);
	void (*rollback)(struct queue_core *c);
	/* kinds (bit 1 << kind) run without a savepoint of their own, where
	 * the savepoint would only cost a round trip: such a job that fails
	 * fails the transaction, and the batch goes again without it when the
	 * backend blamed it (queue_job.blamed) or it failed in its own code */
	unsigned no_savepoint;
	/* after a batch, committed (rc 0) or not (may be NULL) */
	void (*after)(struct queue_core *c, struct queue_job *batch, int rc);
	queue_job_fn run[QJ_N];
};

struct queue_core {
	struct queue base;             /* first: a struct queue * is one */
	const struct queue_txn *txn;

	/* the batch's sends and delivery counters, written once per
	 * profile (and minute) before its COMMIT (committer only) */
	struct queue_core_rate {
		char profile[QUEUE_PROFILE_MAX + 1];
		int64_t at;
		unsigned n;
	} rates[QUEUE_RATES_MAX];
	size_t nrates;
	struct queue_core_count {
		char profile[QUEUE_PROFILE_MAX + 1];
		uint64_t n[QUEUE_COUNT_N];
	} counts[QUEUE_RATES_MAX];
	size_t ncounts;

	pthread_mutex_t mu;            /* jobs list, stop, stats; a backend
	                                * may guard its own fields with it */
	pthread_cond_t work_cv;        /* committer: jobs arrived or stop */
	struct queue_job *head, *tail; /* waiting for the committer */
	struct queue_job *running;     /* committer: the job that runs (what a
	                                * backend sends now is that job's) */
	int stop;
	int thread_started;
	pthread_t thread;
	struct queue_stats stats;

	/* events for the application: the webhooks (under mu), and the
	 * committer's copy for the batch it runs */
	struct queue_core_hook {
		char name[QUEUE_HOOK_NAME_MAX];
		unsigned events;
	} hooks[QUEUE_HOOKS_MAX], bhooks[QUEUE_HOOKS_MAX];
	size_t nhooks, nbhooks;
	unsigned bmask;                /* the events any webhook of the batch
	                                * asks for */
	int64_t supp_empty_ms;         /* under mu: the suppression list was
	                                * found empty then (0: not known) */
	uint64_t supp_gen;             /* under mu: additions to it */
};

/* A job added to the suppression list (committer). */
void queue_core_supp_added(struct queue_core *c);

/* Set up c (ops: the backend's table; txn: its transaction). */
void queue_core_init(struct queue_core *c, const struct queue_ops *ops,
    const struct queue_txn *txn);
/* Start the committer thread. */
int queue_core_start(struct queue_core *c, struct op_err *e);
/* Set stop (under mu: also seen by a backend's own threads), wake the
 * committer, and join it once every job waiting is done.  Call before
 * freeing what the jobs use. */
void queue_core_stop(struct queue_core *c, pthread_cond_t *also_signal);
void queue_core_destroy(struct queue_core *c);

/* The delivery counters of a recorded attempt that left the message in
 * state (QJ_RECORD). */
void queue_job_count_record(struct queue_job *j, int state);

/* The write operations of struct queue_ops, for every backend. */
int queue_core_submit(struct queue *q, const struct queue_new *m,
    char id[QUEUE_ID_SIZE], struct op_err *e);
int queue_core_submit_async(struct queue *q, const struct queue_new *m,
    queue_submit_cb cb, void *arg, struct op_err *e);
int queue_core_claim(struct queue *q, int64_t now, size_t max,
    struct queue_set *out, struct op_err *e);
int queue_core_claim_id(struct queue *q, const char *id, int64_t now,
    struct queue_set *out, struct op_err *e);
int queue_core_record(struct queue *q, const struct queue_outcome *o,
    int *state, struct op_err *e);
int queue_core_record_async(struct queue *q, const struct queue_outcome *o,
    queue_record_cb cb, void *arg, struct op_err *e);
int queue_core_unclaim(struct queue *q, const char *id, int64_t next_attempt,
    const char *reason, struct op_err *e);
int queue_core_fail(struct queue *q, const char *id, int64_t now,
    const char *reason, struct op_err *e);
int queue_core_wait(struct queue *q, const struct queue_wait *w,
    struct op_err *e);
int queue_core_advance(struct queue *q, int64_t now, int64_t until,
    uint64_t *n, struct op_err *e);
int queue_core_event_add(struct queue *q, const char *id, int64_t now,
    const char *kind, const char *text, struct op_err *e);
int queue_core_recover(struct queue *q, int64_t now, int64_t claimed_before,
    uint64_t *n, struct op_err *e);
int queue_core_hold_all(struct queue *q, int64_t now, const char *reason,
    uint64_t *n, struct op_err *e);
int queue_core_release_held(struct queue *q, int64_t now, uint64_t *n,
    struct op_err *e);
int queue_core_retry(struct queue *q, const char *id, int64_t now,
    struct op_err *e);
int queue_core_retry_all(struct queue *q, int state, int64_t now,
    uint64_t *n, struct op_err *e);
int queue_core_delete(struct queue *q, const char *id, struct op_err *e);
int queue_core_purge(struct queue *q, int64_t before, size_t max,
    uint64_t *n, struct op_err *e);
int queue_core_rate_add(struct queue *q, const char *profile, int64_t now,
    unsigned n, struct op_err *e);
/* events for the application */
int queue_core_hooks_set(struct queue *q, const struct queue_hook *hooks,
    size_t n, struct op_err *e);
int queue_core_outbox_claim(struct queue *q, const char *hook, int64_t now,
    size_t max, struct queue_set *out, struct op_err *e);
int queue_core_outbox_finish(struct queue *q,
    const struct queue_outbox_done *d, size_t n, struct op_err *e);
int queue_core_supp_delete(struct queue *q, const char *address,
    struct op_err *e);
/* The committer's counters (checkpoints left 0). */
void queue_core_stats(struct queue_core *c, struct queue_stats *st);

#endif
