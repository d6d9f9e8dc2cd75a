/*
 * queue_sqlite_read.c - the reading side of the SQLite backend: a pool of
 * up to READERS_MAX read-only connections (PRAGMA query_only), opened on
 * demand and each used by one thread at a time; in WAL mode they read
 * while the committer writes.  A read of several statements (a message
 * with its recipients and events, a body) runs in one read transaction so
 * it sees one state of the queue.  Every statement is reset as soon as it
 * is done, so no reader holds a snapshot that would keep the WAL from
 * being checkpointed.
 */
#include "queue/queue_sqlite_int.h"
#include "queue/queue_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

static const char *const r_sql[R__COUNT] = {
	[R_BEGIN] = "BEGIN",
	[R_END] = "COMMIT",
	[R_FIND] = "SELECT mid, state FROM messages WHERE id = ?1",
	[R_LIST] = "SELECT " MSG_COLS " FROM messages WHERE mid < ?1"
	    " ORDER BY mid DESC LIMIT ?2",
	[R_LIST_STATE] = "SELECT " MSG_COLS " FROM messages WHERE state = ?3"
	    " AND mid < ?1 ORDER BY mid DESC LIMIT ?2",
	[R_GET] = "SELECT " MSG_COLS " FROM messages WHERE mid = ?1",
	[R_RCPTS] = "SELECT " RCPT_COLS " FROM recipients WHERE mid = ?1"
	    " ORDER BY idx",
	[R_EVENTS] = "SELECT at, kind, text FROM (SELECT eid, at, kind, text"
	    " FROM events WHERE mid = ?1 ORDER BY eid DESC LIMIT ?2)"
	    " ORDER BY eid",
	[R_COUNTS] = "SELECT state, count(*) FROM messages GROUP BY state",
	[R_NEXT_DUE] = "SELECT min(next_attempt) FROM messages"
	    " INDEXED BY messages_due WHERE " WAITING,
	[R_RATE] = "SELECT last, n FROM sends WHERE profile = ?1"
	    " AND minute >= ?2 ORDER BY minute",
	[R_COUNTERS] = "SELECT profile, sent, deferred, failed, rcpt_sent,"
	    " rcpt_deferred, rcpt_failed FROM counters ORDER BY profile",
};

static struct sq *
to_sq(struct queue *q)
{
	return (struct sq *)q;
}

static void
reader_close(struct sq_reader *r)
{
	sq_finalize_all(r->st, R__COUNT);
	sqlite3_close(r->db);
	r->db = NULL;
}

static int
reader_open(struct sq *s, struct sq_reader *r, struct op_err *e)
{
	if (sq_db_connect(s, &r->db, READER_CACHE_KIB, e) < 0)
		return -1;
	if (sq_db_exec(s, r->db, "PRAGMA query_only = ON", "cannot set up the "
	    "queue database", e) < 0 ||
	    sq_prepare_all(s, r->db, r_sql, r->st, R__COUNT, e) < 0) {
		reader_close(r);
		return -1;
	}
	return 0;
}

/* A reading connection for this thread alone, until reader_put(). */
static struct sq_reader *
reader_get(struct sq *s, struct op_err *e)
{
	struct sq_reader *r = NULL, *fresh = NULL;
	size_t i;

	pthread_mutex_lock(&s->rmu);
	for (;;) {
		for (i = 0; i < READERS_MAX; i++) {
			if (s->readers[i].busy)
				continue;
			if (s->readers[i].db != NULL) {
				r = &s->readers[i];
				break;
			}
			if (fresh == NULL)
				fresh = &s->readers[i];
		}
		if (r == NULL && fresh != NULL)
			r = fresh;
		if (r != NULL)
			break;
		pthread_cond_wait(&s->rcv, &s->rmu);
	}
	r->busy = 1;
	pthread_mutex_unlock(&s->rmu);
	if (r->db == NULL && reader_open(s, r, e) < 0) {
		pthread_mutex_lock(&s->rmu);
		r->busy = 0;
		pthread_cond_signal(&s->rcv);
		pthread_mutex_unlock(&s->rmu);
		return NULL;
	}
	return r;
}

static void
reader_put(struct sq *s, struct sq_reader *r)
{
	/* end the read transaction of a multi-statement read */
	if (!sqlite3_get_autocommit(r->db)) {
		sqlite3_step(r->st[R_END]);
		sqlite3_reset(r->st[R_END]);
		if (!sqlite3_get_autocommit(r->db))
			sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
	}
	pthread_mutex_lock(&s->rmu);
	r->busy = 0;
	pthread_cond_signal(&s->rcv);
	pthread_mutex_unlock(&s->rmu);
}

static int
r_exec(struct sq *s, struct sq_reader *r, int idx, struct op_err *e)
{
	int rc = sqlite3_step(r->st[idx]);

	sqlite3_reset(r->st[idx]);
	if (rc != SQLITE_DONE)
		return sq_err(s, r->db, rc, "cannot read the queue", e);
	return 0;
}

static int
r_find(struct sq *s, struct sq_reader *r, const char *id, int64_t *mid,
    struct op_err *e)
{
	sqlite3_stmt *st = r->st[R_FIND];
	int rc;

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*mid = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return err_set(e, ERR_NOINPUT, "no message with id %s", id);
	return sq_err(s, r->db, rc, "cannot find the message", e);
}

int
sq_body_read(struct queue *q, const char *id, uint64_t off, void *dst,
    size_t n, size_t *got, struct op_err *e)
{
	struct sq *s = to_sq(q);
	struct sq_reader *r;
	sqlite3_blob *blob = NULL;
	int64_t mid;
	uint64_t total;
	int rc, ret = -1;

	*got = 0;
	if (n > INT32_MAX)
		n = INT32_MAX;
	if (queue_id_check(id, e) < 0 || (r = reader_get(s, e)) == NULL)
		return -1;
	if (r_exec(s, r, R_BEGIN, e) < 0 || r_find(s, r, id, &mid, e) < 0)
		goto out;
	rc = sqlite3_blob_open(r->db, "main", "bodies", "body", mid, 0, &blob);
	if (rc != SQLITE_OK) {
		if ((rc & 0xff) == SQLITE_ERROR)
			err_set(e, ERR_NOINPUT, "message %s has no body", id);
		else
			sq_err(s, r->db, rc, "cannot read the message", e);
		goto out;
	}
	total = (uint64_t)sqlite3_blob_bytes(blob);
	if (off < total && n > 0) {
		size_t take = total - off < n ? (size_t)(total - off) : n;

		rc = sqlite3_blob_read(blob, dst, (int)take, (int)off);
		if (rc != SQLITE_OK) {
			sq_err(s, r->db, rc, "cannot read the message", e);
			goto out;
		}
		*got = take;
	}
	ret = 0;
out:
	sqlite3_blob_close(blob);
	reader_put(s, r);
	return ret;
}

int
sq_body_get(struct queue *q, const char *id, char **body, size_t *len,
    struct op_err *e)
{
	struct sq *s = to_sq(q);
	struct sq_reader *r;
	sqlite3_blob *blob = NULL;
	int64_t mid;
	char *p = NULL;
	int rc, size, ret = -1;

	*body = NULL;
	*len = 0;
	if (queue_id_check(id, e) < 0 || (r = reader_get(s, e)) == NULL)
		return -1;
	if (r_exec(s, r, R_BEGIN, e) < 0 || r_find(s, r, id, &mid, e) < 0)
		goto out;
	rc = sqlite3_blob_open(r->db, "main", "bodies", "body", mid, 0, &blob);
	if (rc != SQLITE_OK) {
		if ((rc & 0xff) == SQLITE_ERROR)
			err_set(e, ERR_NOINPUT, "message %s has no body", id);
		else
			sq_err(s, r->db, rc, "cannot read the message", e);
		goto out;
	}
	size = sqlite3_blob_bytes(blob);
	p = mem_alloc((size_t)size + 1);
	if (size > 0 && (rc = sqlite3_blob_read(blob, p, size, 0)) != SQLITE_OK) {
		sq_err(s, r->db, rc, "cannot read the message", e);
		free(p);
		goto out;
	}
	p[size] = '\0';
	*body = p;
	*len = (size_t)size;
	ret = 0;
out:
	sqlite3_blob_close(blob);
	reader_put(s, r);
	return ret;
}

int
sq_list(struct queue *q, const struct queue_list_opts *o,
    struct queue_set *out, struct op_err *e)
{
	struct sq *s = to_sq(q);
	struct sq_reader *r;
	sqlite3_stmt *st;
	int64_t before = INT64_MAX;
	size_t limit = o != NULL && o->limit > 0 ? o->limit : 100;
	int state = o != NULL ? o->state : -1, rc, ret = -1;

	memset(out, 0, sizeof(*out));
	if (limit > QUEUE_LIST_MAX)
		limit = QUEUE_LIST_MAX;
	if (state != -1 && queue_msg_state_name(state) == NULL)
		return err_set(e, ERR_DATA, "unknown message state %d", state);
	if (o != NULL && o->before != NULL && queue_id_check(o->before, e) < 0)
		return -1;
	if ((r = reader_get(s, e)) == NULL)
		return -1;
	if (o != NULL && o->before != NULL && r_find(s, r, o->before, &before,
	    e) < 0)
		goto out;
	st = r->st[state == -1 ? R_LIST : R_LIST_STATE];
	sqlite3_bind_int64(st, 1, before);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
	if (state != -1)
		sqlite3_bind_text(st, 3, queue_msg_state_name(state), -1,
		    SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		sq_row_msg(out, st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		sq_err(s, r->db, rc, "cannot list the queue", e);
		queue_set_free(out);
		goto out;
	}
	queue_set_finish(out);
	ret = 0;
out:
	reader_put(s, r);
	return ret;
}

/*
 * The first event of every message, "accepted", is not stored (one row
 * and one index entry less per message on the busiest path): it is made
 * from the message row when the listing reaches back to the beginning.
 * A message held at acceptance has no event of its own (holding a queued
 * one stores "held"), so the note says so.  Files written before this
 * have the row; it is not repeated.
 */
static void
add_accepted(struct queue_set *out)
{
	const struct queue_msg *m = &out->msgs[0];
	struct queue_event *ev = queue_set_add_event(out), first;
	char text[128];
	int n;

	n = snprintf(text, sizeof(text), "%zu recipient%s, %llu bytes%s",
	    m->nrcpts_total, m->nrcpts_total == 1 ? "" : "s",
	    (unsigned long long)m->size, m->state == QUEUE_MSG_HELD &&
	    out->nevents == 1 ? "; held until a profile is enabled" : "");
	ev->at = m->created;
	ev->kind = queue_set_strndup(out, "accepted", 8);
	ev->text = queue_set_strndup(out, text, n > 0 ? (size_t)n : 0);
	first = *ev;
	memmove(out->events + 1, out->events,
	    (out->nevents - 1) * sizeof(*out->events));
	out->events[0] = first;
}

/*
 * Nor are "sent" results stored as events (one row and one index entry
 * less per recipient delivered): a recipient row keeps its sent result for
 * good, with the profile that delivered it, and the event is made from it
 * here, in its place by time among the stored ones (before those of the
 * same second; recipients sent in the same second in their order).  Rows of schema version 1 have no profile;
 * their event is stored.  The latest QUEUE_EVENTS_MAX are kept.
 */
static void
add_sent(struct queue_set *out)
{
	const struct queue_msg *m = &out->msgs[0];
	struct queue_event *syn, *merged;
	char result[QUEUE_TEXT_MAX], text[QUEUE_TEXT_MAX + 512];
	size_t i, k, a, b, o, nsyn = 0, nstored = out->nevents;

	for (i = 0; i < m->nrcpts; i++)
		if (m->rcpts[i].state == QUEUE_RCPT_SENT &&
		    m->rcpts[i].profile != NULL)
			nsyn++;
	if (nsyn == 0)
		return;
	syn = mem_alloc(nsyn * sizeof(*syn));
	for (i = 0, k = 0; i < m->nrcpts; i++) {
		const struct queue_rcpt *r = &m->rcpts[i];
		struct queue_event t;
		int n;

		if (r->state != QUEUE_RCPT_SENT || r->profile == NULL)
			continue;
		sq_format_result(result, sizeof(result), r->code, r->enhanced,
		    r->reply);
		sq_format_event(text, sizeof(text), r->address, r->profile, result);
		n = (int)strlen(text);
		t.at = r->updated;
		t.kind = queue_set_strndup(out, "sent", 4);
		t.text = queue_set_strndup(out, text, (size_t)n);
		/* by time; stable, so a second keeps the recipients' order */
		for (a = k; a > 0 && syn[a - 1].at > t.at; a--)
			syn[a] = syn[a - 1];
		syn[a] = t;
		k++;
	}
	/* before the stored events of the same second (a record stores its
	 * results before the caller's own events), never before "accepted" */
	merged = mem_alloc((nstored + nsyn) * sizeof(*merged));
	for (a = b = o = 0; a < nstored || b < nsyn; o++) {
		const struct queue_event *ev = a < nstored ? &out->events[a] : NULL;

		if (b < nsyn && (ev == NULL || syn[b].at < ev->at ||
		    (syn[b].at == ev->at && !(a == 0 &&
		    strcmp(ev->kind, "accepted") == 0))))
			merged[o] = syn[b++];
		else
			merged[o] = out->events[a++];
	}
	for (i = 0; i < nsyn; i++)
		(void)queue_set_add_event(out);        /* room for them */
	if (o > QUEUE_EVENTS_MAX) {
		memcpy(out->events, merged + (o - QUEUE_EVENTS_MAX),
		    QUEUE_EVENTS_MAX * sizeof(*merged));
		out->nevents = QUEUE_EVENTS_MAX;
	} else {
		memcpy(out->events, merged, o * sizeof(*merged));
	}
	free(syn);
	free(merged);
}

int
sq_get(struct queue *q, const char *id, struct queue_set *out,
    struct op_err *e)
{
	struct sq *s = to_sq(q);
	struct sq_reader *r;
	sqlite3_stmt *st;
	int64_t mid;
	int rc, ret = -1;

	memset(out, 0, sizeof(*out));
	if (queue_id_check(id, e) < 0 || (r = reader_get(s, e)) == NULL)
		return -1;
	if (r_exec(s, r, R_BEGIN, e) < 0 || r_find(s, r, id, &mid, e) < 0)
		goto out;
	st = r->st[R_GET];
	sqlite3_bind_int64(st, 1, mid);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		sq_row_msg(out, st);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		goto fail_db;
	st = r->st[R_RCPTS];
	sqlite3_bind_int64(st, 1, mid);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		sq_row_rcpt(out, &out->msgs[0], st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		goto fail_db;
	st = r->st[R_EVENTS];
	sqlite3_bind_int64(st, 1, mid);
	sqlite3_bind_int(st, 2, QUEUE_EVENTS_MAX);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct queue_event *ev = queue_set_add_event(out);
		const char *text = sq_set_col(out, st, 2);

		ev->at = sqlite3_column_int64(st, 0);
		ev->kind = queue_set_strndup(out, sq_col_text(st, 1),
		    (size_t)sqlite3_column_bytes(st, 1));
		ev->text = text != NULL ? text : queue_set_strndup(out, "", 0);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		goto fail_db;
	if (out->nevents < QUEUE_EVENTS_MAX && (out->nevents == 0 ||
	    strcmp(out->events[0].kind, "accepted") != 0))
		add_accepted(out);
	queue_set_finish(out);
	add_sent(out);
	ret = 0;
	goto out;
fail_db:
	if (rc == SQLITE_DONE)
		err_set(e, ERR_NOINPUT, "no message with id %s", id);
	else
		sq_err(s, r->db, rc, "cannot read the message", e);
	queue_set_free(out);
out:
	reader_put(s, r);
	return ret;
}

int
sq_counts(struct queue *q, uint64_t counts[QUEUE_MSG_NSTATES],
    struct op_err *e)
{
	struct sq *s = to_sq(q);
	struct sq_reader *r;
	sqlite3_stmt *st;
	int rc, state;

	memset(counts, 0, sizeof(uint64_t) * QUEUE_MSG_NSTATES);
	if ((r = reader_get(s, e)) == NULL)
		return -1;
	st = r->st[R_COUNTS];
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		state = queue_msg_state_parse(sq_col_text(st, 0));
		if (state >= 0)
			counts[state] = (uint64_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		sq_err(s, r->db, rc, "cannot count the queue", e);
	reader_put(s, r);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
sq_next_due(struct queue *q, int64_t *when, int *found, struct op_err *e)
{
	struct sq *s = to_sq(q);
	struct sq_reader *r;
	sqlite3_stmt *st;
	int rc;

	*when = 0;
	*found = 0;
	if ((r = reader_get(s, e)) == NULL)
		return -1;
	st = r->st[R_NEXT_DUE];
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		*when = sqlite3_column_int64(st, 0);
		*found = 1;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		sq_err(s, r->db, rc, "cannot read the queue", e);
	reader_put(s, r);
	return rc == SQLITE_ROW ? 0 : -1;
}

int
sq_rate_load(struct queue *q, const char *profile, int64_t since,
    struct queue_rate_bucket **out, size_t *n, struct op_err *e)
{
	struct sq *s = to_sq(q);
	struct sq_reader *r;
	struct queue_rate_bucket *b = NULL;
	sqlite3_stmt *st;
	size_t len = 0, cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (profile == NULL || strlen(profile) >= QUEUE_PROFILE_MAX)
		return err_set(e, ERR_DATA, "profile name missing or longer than "
		    "%d bytes", QUEUE_PROFILE_MAX - 1);
	if ((r = reader_get(s, e)) == NULL)
		return -1;
	st = r->st[R_RATE];
	sqlite3_bind_text(st, 1, profile, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since / 60);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : 64;
			b = mem_realloc(b, cap * sizeof(*b));
		}
		b[len].at = sqlite3_column_int64(st, 0);
		b[len].count = (uint64_t)sqlite3_column_int64(st, 1);
		len++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		sq_err(s, r->db, rc, "cannot read send counts", e);
		free(b);
		reader_put(s, r);
		return -1;
	}
	reader_put(s, r);
	*out = b;
	*n = len;
	return 0;
}

int
sq_counters(struct queue *q, struct queue_counter **out, size_t *n,
    struct op_err *e)
{
	struct sq *s = to_sq(q);
	struct sq_reader *r;
	struct queue_counter *c = NULL;
	sqlite3_stmt *st;
	size_t len = 0, cap = 0;
	int rc, k;

	if ((r = reader_get(s, e)) == NULL)
		return -1;
	st = r->st[R_COUNTERS];
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : 8;
			c = mem_realloc(c, cap * sizeof(*c));
		}
		str_copy(c[len].profile, sizeof(c[len].profile), sq_col_text(st, 0));
		for (k = 0; k < QUEUE_COUNT_N; k++)
			c[len].n[k] = (uint64_t)sqlite3_column_int64(st, k + 1);
		len++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		sq_err(s, r->db, rc, "cannot read the delivery counters", e);
		free(c);
		reader_put(s, r);
		return -1;
	}
	reader_put(s, r);
	*out = c;
	*n = len;
	return 0;
}

void
sq_readers_close(struct sq *s)
{
	size_t i;

	for (i = 0; i < READERS_MAX; i++)
		if (s->readers[i].db != NULL)
			reader_close(&s->readers[i]);
}
