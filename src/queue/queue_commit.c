/*
 * queue_commit.c - the group commit of the store's backends (see
 * queue_commit.h) and the write operations of struct queue_ops: argument
 * checks, one job per call, the committer thread that runs them in
 * batches, and the sums of sends and delivery counters per batch.
 */
#include "queue/queue_commit.h"
#include "queue/queue_impl.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/net.h"

static struct queue_core *
to_core(struct queue *q)
{
	return (struct queue_core *)q;
}

static int64_t
now_s(void)
{
	return clock_wall_ms() / 1000;
}

/* ---- Sums of the batch ---- */

/*
 * Sends for the quotas: a batch of records adds to one row per profile
 * and minute, so they are summed here and written once, in the same
 * transaction, before its COMMIT.
 */
static int
rates_flush(struct queue_core *c, struct op_err *e)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < c->nrates && rc == 0; i++)
		rc = c->txn->rate_add(c, c->rates[i].profile, c->rates[i].at,
		    c->rates[i].n, e);
	c->nrates = 0;
	return rc;
}

static int
rates_note(struct queue_core *c, const char *profile, int64_t at, unsigned n,
    struct op_err *e)
{
	struct queue_core_rate *r;
	size_t i;

	for (i = 0; i < c->nrates; i++) {
		r = &c->rates[i];
		if (r->at / 60 == at / 60 && strcmp(r->profile, profile) == 0) {
			r->n += n;
			if (at > r->at)
				r->at = at;
			return 0;
		}
	}
	if (c->nrates == QUEUE_RATES_MAX && rates_flush(c, e) < 0)
		return -1;
	r = &c->rates[c->nrates++];
	str_copy(r->profile, sizeof(r->profile), profile);
	r->at = at;
	r->n = n;
	return 0;
}

/* The delivery counters: summed over the batch per profile and written
 * once per profile before its COMMIT, like the sends. */
static int
counts_flush(struct queue_core *c, struct op_err *e)
{
	size_t i;

	for (i = 0; i < c->ncounts; i++) {
		if (c->txn->count_add(c, c->counts[i].profile, c->counts[i].n,
		    e) < 0) {
			c->ncounts = 0;
			return -1;
		}
	}
	c->ncounts = 0;
	return 0;
}

static int
counts_note(struct queue_core *c, const struct queue_job *j, struct op_err *e)
{
	struct queue_core_count *k = NULL;
	size_t i;
	int x;

	for (i = 0; i < c->ncounts && k == NULL; i++)
		if (strcmp(c->counts[i].profile, j->cnt_profile) == 0)
			k = &c->counts[i];
	if (k == NULL) {
		if (c->ncounts == QUEUE_RATES_MAX && counts_flush(c, e) < 0)
			return -1;
		k = &c->counts[c->ncounts++];
		memset(k, 0, sizeof(*k));
		str_copy(k->profile, sizeof(k->profile), j->cnt_profile);
	}
	for (x = 0; x < QUEUE_COUNT_N; x++)
		k->n[x] += j->cnt[x];
	return 0;
}

void
queue_job_count_record(struct queue_job *j, int state)
{
	const struct queue_outcome *o = j->o;
	size_t i;

	if (o->sends > 0 && o->profile_used != NULL) {
		/* counted by run_batch() once the job stands */
		j->sends_profile = o->profile_used;
		j->sends = o->sends;
	}
	/* the delivery counters, also once the job stands */
	memset(j->cnt, 0, sizeof(j->cnt));
	j->cnt_profile = o->profile_used != NULL ? o->profile_used : "-";
	j->cnt[state == QUEUE_MSG_SENT ? QUEUE_COUNT_SENT :
	    state == QUEUE_MSG_FAILED ? QUEUE_COUNT_FAILED :
	    QUEUE_COUNT_DEFERRED]++;
	for (i = 0; i < o->nresults; i++)
		j->cnt[o->results[i].state == QUEUE_RCPT_SENT ?
		    QUEUE_COUNT_RCPT_SENT : o->results[i].state == QUEUE_RCPT_FAILED ?
		    QUEUE_COUNT_RCPT_FAILED : QUEUE_COUNT_RCPT_DEFERRED]++;
	j->state = state;
}

/* ---- The committer ---- */

/*
 * One try at the batch in one transaction: the jobs not failed already
 * (rc -1) run; 0 if it committed.  A job with a savepoint that fails is
 * rolled back to it and fails alone; any other failure leaves the
 * transaction to be rolled back, its cause in *berr and, when a job
 * without a savepoint failed in its own code, that job in *culprit.
 */
static int
run_round(struct queue_core *c, struct queue_job *batch,
    struct queue_job **culprit, struct op_err *berr)
{
	const struct queue_txn *t = c->txn;
	struct queue_job *j;
	int failed = 0;

	*culprit = NULL;
	if (t->begin(c, berr) < 0)
		failed = 1;
	for (j = batch; !failed && j != NULL; j = j->next) {
		int sp = !(t->no_savepoint & (1u << j->kind));

		if (j->rc == -1)
			continue;
		if (sp && t->savepoint(c, berr) < 0) {
			failed = 1;
			break;
		}
		err_clear(&j->err);
		j->blamed = 0;
		j->sends = 0;
		j->cnt_profile = NULL;
		c->running = j;
		j->rc = t->run[j->kind](c, j, &j->err) < 0 ? -1 : 0;
		if (j->rc == 0 && sp && t->job_end != NULL &&
		    t->job_end(c, &j->err) < 0)
			j->rc = -1;
		c->running = NULL;
		if (j->rc == 0) {
			if (sp && t->release(c, berr) < 0)
				failed = 1;
			continue;
		}
		if (!sp || t->lost(c)) {
			*berr = j->err;
			j->rc = 1;
			if (!sp && !t->lost(c))
				*culprit = j;
			failed = 1;
			break;
		}
		if (t->rollback_to(c, berr) < 0)
			failed = 1;
	}
	/* what the jobs without a savepoint left in flight is read before
	 * the sums of the jobs that stand are taken */
	if (!failed && t->job_end != NULL && t->job_end(c, berr) < 0)
		failed = 1;
	for (j = batch; !failed && j != NULL; j = j->next)
		if (j->rc == 0 && ((j->sends > 0 && rates_note(c, j->sends_profile,
		    j->now, j->sends, berr) < 0) ||
		    (j->cnt_profile != NULL && counts_note(c, j, berr) < 0)))
			failed = 1;
	if (!failed && (rates_flush(c, berr) < 0 ||
	    counts_flush(c, berr) < 0 || t->commit(c, berr) < 0))
		failed = 1;
	c->nrates = 0;
	c->ncounts = 0;
	return failed ? -1 : 0;
}

/*
 * Run the batch in one transaction; 0 if it committed.  When a try fails
 * because of some jobs of their own (the backend blamed them: a statement
 * of theirs failed, or a job without a savepoint failed in its own code),
 * those jobs fail alone and the others go again in a new transaction, up
 * to QUEUE_BATCH_TRIES tries; any other failure fails every job left.
 */
static int
run_batch(struct queue_core *c, struct queue_job *batch)
{
	const struct queue_txn *t = c->txn;
	struct queue_job *j, *culprit;
	struct op_err berr;
	int tries, blamed;

	/* the webhooks this batch writes events for */
	pthread_mutex_lock(&c->mu);
	memcpy(c->bhooks, c->hooks, sizeof(c->hooks[0]) * c->nhooks);
	c->nbhooks = c->nhooks;
	pthread_mutex_unlock(&c->mu);
	c->bmask = 0;
	for (size_t h = 0; h < c->nbhooks; h++)
		c->bmask |= c->bhooks[h].events;
	for (j = batch; j != NULL; j = j->next) {
		j->rc = 1;
		j->blamed = 0;
	}
	for (tries = 1; ; tries++) {
		err_clear(&berr);
		if (run_round(c, batch, &culprit, &berr) == 0)
			return 0;
		t->rollback(c);
		blamed = 0;
		for (j = batch; j != NULL; j = j->next)
			if (j->blamed) {
				/* counted once: it runs no more */
				j->blamed = 0;
				j->rc = -1;
				blamed++;
			}
		if (blamed == 0 && culprit != NULL) {
			culprit->rc = -1;
			culprit->err = berr;
			blamed++;
		}
		if (blamed == 0 || tries == QUEUE_BATCH_TRIES)
			break;
		/* the others go again: what a rolled back try filled is gone */
		for (j = batch; j != NULL; j = j->next)
			if (j->rc != -1) {
				j->rc = 1;
				if (j->set != NULL)
					queue_set_free(j->set);
			}
	}
	for (j = batch; j != NULL; j = j->next) {
		if (j->rc != -1) {
			j->rc = -1;
			j->err = berr;
		}
		if (j->set != NULL)
			queue_set_free(j->set);
	}
	return -1;
}

/*
 * The end of a batch (committed or rolled back: each job's rc says): wake
 * the waiters of its synchronous jobs and run the callbacks of its
 * asynchronous ones (freeing them), in order.
 */
static void
finish_batch(struct queue_core *c, struct queue_job *batch)
{
	struct queue_job *j, *next, *async = NULL, **tail = &async;

	pthread_mutex_lock(&c->mu);
	for (j = batch; j != NULL; j = next) {
		next = j->next;
		if (j->cb != NULL || j->rcb != NULL) {
			j->next = NULL;
			*tail = j;
			tail = &j->next;
		} else {
			/* wake only this waiter (not every waiter of the
			 * handle); once it runs it may free j */
			j->done = 1;
			pthread_cond_signal(&j->cv);
		}
	}
	pthread_mutex_unlock(&c->mu);

	for (j = async; j != NULL; j = next) {
		next = j->next;
		if (j->rcb != NULL)
			j->rcb(j->cb_arg, j->rc, j->state,
			    j->rc == 0 ? NULL : &j->err);
		else
			j->cb(j->cb_arg, j->rc, j->rc == 0 ? j->id : NULL,
			    j->rc == 0 ? NULL : &j->err);
		free(j);
	}
}

static void *
committer(void *arg)
{
	struct queue_core *c = arg;
	struct queue_job *batch, *j, *last;
	size_t n, bytes, ok_submits;
	int rc;

	pthread_setname_np(pthread_self(), "op-commit");

	pthread_mutex_lock(&c->mu);
	for (;;) {
		/* jobs that come while a batch commits gather for the next */
		while (c->head == NULL && !c->stop)
			pthread_cond_wait(&c->work_cv, &c->mu);
		if (c->head == NULL)
			break;
		/* take what waits, within the bounds */
		batch = c->head;
		last = NULL;
		n = bytes = 0;
		for (j = c->head; j != NULL && n < QUEUE_BATCH_JOBS &&
		    (n == 0 || bytes + j->weight <= QUEUE_BATCH_BYTES); j = j->next) {
			bytes += j->weight;
			n++;
			last = j;
		}
		c->head = last->next;
		if (c->head == NULL)
			c->tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&c->mu);

		rc = run_batch(c, batch);
		if (c->txn->after != NULL)
			c->txn->after(c, batch, rc);

		pthread_mutex_lock(&c->mu);
		ok_submits = 0;
		for (j = batch; j != NULL; j = j->next)
			if (j->rc == 0 && j->m != NULL)
				ok_submits++;
		if (rc == 0)
			c->stats.commits++;
		else
			c->stats.failed_batches++;
		c->stats.jobs += n;
		c->stats.submitted += ok_submits;
		if (n > c->stats.max_batch)
			c->stats.max_batch = n;
		pthread_mutex_unlock(&c->mu);
		/* the commit returned: durable, or failed, already */
		finish_batch(c, batch);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

static int
in_committer(struct queue_core *c)
{
	/* callbacks run on the committer */
	return c->thread_started && pthread_equal(pthread_self(), c->thread);
}

/* Put j at the end of the committer's list and wake it (c->mu held). */
static void
append_locked(struct queue_core *c, struct queue_job *j)
{
	if (c->tail != NULL)
		c->tail->next = j;
	else
		c->head = j;
	c->tail = j;
	pthread_cond_signal(&c->work_cv);
}

/* Hand an asynchronous job to the committer (it frees j after the
 * callback). */
static void
enqueue(struct queue_core *c, struct queue_job *j)
{
	pthread_mutex_lock(&c->mu);
	append_locked(c, j);
	pthread_mutex_unlock(&c->mu);
}

/* Hand j to the committer and wait for it to be done. */
static int
core_exec(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	if (in_committer(c))
		return err_set(e, ERR_SOFTWARE, "queue function called from a "
		    "submit callback (it would wait for itself)");
	j->next = NULL;
	j->done = 0;
	pthread_cond_init(&j->cv, NULL);
	pthread_mutex_lock(&c->mu);
	append_locked(c, j);
	while (!j->done)
		pthread_cond_wait(&j->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
	pthread_cond_destroy(&j->cv);
	if (j->rc != 0) {
		if (e != NULL)
			*e = j->err;
		return -1;
	}
	return 0;
}

void
queue_core_init(struct queue_core *c, const struct queue_ops *ops,
    const struct queue_txn *txn)
{
	c->base.ops = ops;
	c->txn = txn;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->work_cv, NULL);
}

int
queue_core_start(struct queue_core *c, struct op_err *e)
{
	int rc = pthread_create(&c->thread, NULL, committer, c);

	if (rc != 0)
		return err_set(e, ERR_OSERR, "cannot start the queue's committer "
		    "thread: %s", strerror(rc));
	c->thread_started = 1;
	return 0;
}

void
queue_core_stop(struct queue_core *c, pthread_cond_t *also_signal)
{
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_signal(&c->work_cv);
	if (also_signal != NULL)
		pthread_cond_signal(also_signal);
	pthread_mutex_unlock(&c->mu);
	if (c->thread_started)
		pthread_join(c->thread, NULL);
	c->thread_started = 0;
}

void
queue_core_destroy(struct queue_core *c)
{
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->work_cv);
}

void
queue_core_stats(struct queue_core *c, struct queue_stats *st)
{
	pthread_mutex_lock(&c->mu);
	*st = c->stats;
	pthread_mutex_unlock(&c->mu);
}

/* ---- Operations that write ---- */

int
queue_core_submit(struct queue *q, const struct queue_new *m,
    char id[QUEUE_ID_SIZE], struct op_err *e)
{
	struct queue_job j;

	id[0] = '\0';
	if (queue_new_check(m, e) < 0)
		return -1;
	memset(&j, 0, sizeof(j));
	j.kind = QJ_SUBMIT;
	j.m = m;
	j.weight = m->len;
	if (core_exec(to_core(q), &j, e) < 0)
		return -1;
	memcpy(id, j.id, QUEUE_ID_SIZE);
	return 0;
}

int
queue_core_submit_async(struct queue *q, const struct queue_new *m,
    queue_submit_cb cb, void *arg, struct op_err *e)
{
	struct queue_job *j;

	if (cb == NULL)
		return err_set(e, ERR_SOFTWARE, "queue_submit_async without a "
		    "callback");
	if (queue_new_check(m, e) < 0)
		return -1;
	j = mem_alloc(sizeof(*j));
	j->kind = QJ_SUBMIT;
	j->m = m;
	j->weight = m->len;
	j->cb = cb;
	j->cb_arg = arg;
	enqueue(to_core(q), j);
	return 0;
}

int
queue_core_claim(struct queue *q, int64_t now, size_t max,
    struct queue_set *out, struct op_err *e)
{
	struct queue_job j;

	memset(out, 0, sizeof(*out));
	if (max == 0)
		return 0;
	if (max > QUEUE_CLAIM_MAX)
		max = QUEUE_CLAIM_MAX;
	memset(&j, 0, sizeof(j));
	j.kind = QJ_CLAIM;
	j.now = now;
	j.max = max;
	j.set = out;
	return core_exec(to_core(q), &j, e);
}

/* A job on one message id: copy the id in. */
static int
id_job(struct queue_job *j, int kind, const char *id, struct op_err *e)
{
	memset(j, 0, sizeof(*j));
	if (queue_id_check(id, e) < 0)
		return -1;
	j->kind = kind;
	memcpy(j->id, id, QUEUE_ID_SIZE);
	return 0;
}

int
queue_core_claim_id(struct queue *q, const char *id, int64_t now,
    struct queue_set *out, struct op_err *e)
{
	struct queue_job j;

	memset(out, 0, sizeof(*out));
	if (id_job(&j, QJ_CLAIM, id, e) < 0)
		return -1;
	j.now = now;
	j.max = 1;
	j.set = out;
	if (core_exec(to_core(q), &j, e) < 0)
		return -1;
	if (out->n == 0)
		return err_set(e, ERR_DATA, "message %s is not waiting to be sent "
		    "(no such message, or it is being sent, sent, failed or held)", id);
	return 0;
}

int
queue_core_record(struct queue *q, const struct queue_outcome *o, int *state,
    struct op_err *e)
{
	struct queue_job j;

	if (o == NULL || queue_id_check(o->id, e) < 0 ||
	    queue_outcome_check(o, e) < 0)
		return -1;
	memset(&j, 0, sizeof(j));
	j.kind = QJ_RECORD;
	j.o = o;
	j.now = o->now != 0 ? o->now : now_s();
	if (core_exec(to_core(q), &j, e) < 0)
		return -1;
	if (state != NULL)
		*state = j.state;
	return 0;
}

int
queue_core_record_async(struct queue *q, const struct queue_outcome *o,
    queue_record_cb cb, void *arg, struct op_err *e)
{
	struct queue_job *j;

	if (cb == NULL)
		return err_set(e, ERR_SOFTWARE, "queue_record_async without a "
		    "callback");
	if (o == NULL || queue_id_check(o->id, e) < 0 ||
	    queue_outcome_check(o, e) < 0)
		return -1;
	j = mem_alloc(sizeof(*j));
	j->kind = QJ_RECORD;
	j->o = o;
	j->now = o->now != 0 ? o->now : now_s();
	j->rcb = cb;
	j->cb_arg = arg;
	enqueue(to_core(q), j);
	return 0;
}

int
queue_core_unclaim(struct queue *q, const char *id, int64_t next_attempt,
    const char *reason, struct op_err *e)
{
	struct queue_job j;

	if (id_job(&j, QJ_UNCLAIM, id, e) < 0)
		return -1;
	j.when = next_attempt;
	j.text = reason;
	return core_exec(to_core(q), &j, e);
}

int
queue_core_wait(struct queue *q, const struct queue_wait *w, struct op_err *e)
{
	struct queue_job j;

	if (id_job(&j, QJ_WAIT, w->id, e) < 0)
		return -1;
	j.w = w;
	return core_exec(to_core(q), &j, e);
}

/* A job over many messages that reports how many it changed. */
static int
count_job(struct queue *q, int kind, int64_t now, int64_t when,
    const char *text, uint64_t *n, struct op_err *e)
{
	struct queue_job j;

	memset(&j, 0, sizeof(j));
	j.kind = kind;
	j.now = now;
	j.when = when;
	j.text = text;
	if (core_exec(to_core(q), &j, e) < 0)
		return -1;
	if (n != NULL)
		*n = j.n;
	return 0;
}

int
queue_core_advance(struct queue *q, int64_t now, int64_t until, uint64_t *n,
    struct op_err *e)
{
	return count_job(q, QJ_ADVANCE, now, until, NULL, n, e);
}

int
queue_core_fail(struct queue *q, const char *id, int64_t now,
    const char *reason, struct op_err *e)
{
	struct queue_job j;

	if (id_job(&j, QJ_FAIL, id, e) < 0)
		return -1;
	j.now = now;
	j.text = reason != NULL ? reason : "failed for good";
	return core_exec(to_core(q), &j, e);
}

int
queue_core_event_add(struct queue *q, const char *id, int64_t now,
    const char *kind, const char *text, struct op_err *e)
{
	struct queue_job j;

	if (kind == NULL || kind[0] == '\0')
		return err_set(e, ERR_DATA, "an event without a kind");
	if (id_job(&j, QJ_EVENT, id, e) < 0)
		return -1;
	j.now = now;
	j.text = kind;
	j.text2 = text;
	return core_exec(to_core(q), &j, e);
}

int
queue_core_recover(struct queue *q, int64_t now, int64_t claimed_before,
    uint64_t *n, struct op_err *e)
{
	return count_job(q, QJ_RECOVER, now, claimed_before, NULL, n, e);
}

int
queue_core_hold_all(struct queue *q, int64_t now, const char *reason,
    uint64_t *n, struct op_err *e)
{
	return count_job(q, QJ_HOLD, now, 0, reason != NULL ? reason :
	    QUEUE_TEXT_HELD, n, e);
}

int
queue_core_release_held(struct queue *q, int64_t now, uint64_t *n,
    struct op_err *e)
{
	return count_job(q, QJ_RELEASE, now, 0, NULL, n, e);
}

int
queue_core_retry(struct queue *q, const char *id, int64_t now,
    struct op_err *e)
{
	struct queue_job j;

	if (id_job(&j, QJ_RETRY, id, e) < 0)
		return -1;
	j.now = now;
	return core_exec(to_core(q), &j, e);
}

int
queue_core_retry_all(struct queue *q, int state, int64_t now, uint64_t *n,
    struct op_err *e)
{
	struct queue_job j;

	memset(&j, 0, sizeof(j));
	j.kind = QJ_RETRY_ALL;
	j.now = now;
	j.state = state;
	if (core_exec(to_core(q), &j, e) < 0)
		return -1;
	*n = j.n;
	return 0;
}

int
queue_core_purge(struct queue *q, int64_t before, size_t max, uint64_t *n,
    struct op_err *e)
{
	struct queue_job j;

	memset(&j, 0, sizeof(j));
	j.kind = QJ_PURGE;
	j.when = before;
	j.max = max;
	if (core_exec(to_core(q), &j, e) < 0)
		return -1;
	*n = j.n;
	return 0;
}

int
queue_core_delete(struct queue *q, const char *id, struct op_err *e)
{
	struct queue_job j;

	if (id_job(&j, QJ_DELETE, id, e) < 0)
		return -1;
	return core_exec(to_core(q), &j, e);
}

int
queue_core_rate_add(struct queue *q, const char *profile, int64_t now,
    unsigned n, struct op_err *e)
{
	struct queue_job j;

	if (profile == NULL || profile[0] == '\0' ||
	    strlen(profile) >= QUEUE_PROFILE_MAX)
		return err_set(e, ERR_DATA, "profile name empty or longer than %d "
		    "bytes", QUEUE_PROFILE_MAX - 1);
	if (n == 0)
		return 0;
	memset(&j, 0, sizeof(j));
	j.kind = QJ_RATE_ADD;
	j.text = profile;
	j.now = now;
	j.count = n;
	return core_exec(to_core(q), &j, e);
}

/* ---- Events for the application ---- */

void
queue_core_supp_added(struct queue_core *c)
{
	pthread_mutex_lock(&c->mu);
	c->supp_empty_ms = 0;
	c->supp_gen++;
	pthread_mutex_unlock(&c->mu);
}

int
queue_core_hooks_set(struct queue *q, const struct queue_hook *hooks,
    size_t n, struct op_err *e)
{
	struct queue_core *c = to_core(q);
	size_t i;

	if (n > QUEUE_HOOKS_MAX)
		return err_set(e, ERR_DATA, "too many webhooks: %zu (at most %d)",
		    n, QUEUE_HOOKS_MAX);
	for (i = 0; i < n; i++)
		if (hooks[i].name == NULL || hooks[i].name[0] == '\0' ||
		    strlen(hooks[i].name) >= QUEUE_HOOK_NAME_MAX)
			return err_set(e, ERR_DATA, "webhook name empty or longer "
			    "than %d bytes", QUEUE_HOOK_NAME_MAX - 1);
	pthread_mutex_lock(&c->mu);
	for (i = 0; i < n; i++) {
		str_copy(c->hooks[i].name, sizeof(c->hooks[i].name),
		    hooks[i].name);
		c->hooks[i].events = hooks[i].events;
	}
	c->nhooks = n;
	pthread_mutex_unlock(&c->mu);
	return 0;
}

int
queue_core_outbox_claim(struct queue *q, const char *hook, int64_t now,
    size_t max, struct queue_set *out, struct op_err *e)
{
	struct queue_job j;

	memset(&j, 0, sizeof(j));
	j.kind = QJ_OUTBOX_CLAIM;
	j.text = hook;
	j.now = now;
	j.max = max;
	j.set = out;
	return core_exec(to_core(q), &j, e);
}

int
queue_core_outbox_finish(struct queue *q, const struct queue_outbox_done *d,
    size_t n, struct op_err *e)
{
	struct queue_job j;

	memset(&j, 0, sizeof(j));
	j.kind = QJ_OUTBOX_FINISH;
	j.odone = d;
	j.max = n;
	return core_exec(to_core(q), &j, e);
}

int
queue_core_supp_delete(struct queue *q, const char *address,
    struct op_err *e)
{
	struct queue_job j;
	char low[QUEUE_ADDR_MAX];

	queue_addr_lower(low, sizeof(low), address);
	memset(&j, 0, sizeof(j));
	j.kind = QJ_SUPP_DELETE;
	j.text = low;
	return core_exec(to_core(q), &j, e);
}
/* ---- end of events for the application ---- */
