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
#include "queue/queue_sqlite.h"
#include "queue/queue_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

static const char *const r_sql[R__COUNT] = {
	[R_BEGIN] = "BEGIN",
	[R_END] = "COMMIT",
	[R_FIND] = "SELECT mid, state FROM messages WHERE id = ?1",
	[R_LIST] = "SELECT " LIST_COLS " FROM messages WHERE mid < ?1"
	    " ORDER BY mid DESC LIMIT ?2",
	[R_LIST_STATE] = "SELECT " LIST_COLS " FROM messages WHERE state = ?3"
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
	/* events for the application */
	[R_SUPP_CHECK] = "SELECT 1 FROM suppressions WHERE address = lower(?1)",
	[R_SUPP_LIST] = "SELECT address, reason, at, id FROM suppressions"
	    " WHERE address > ?1 ORDER BY address LIMIT ?2",
	[R_OUTBOX_COUNT] = "SELECT count(*) FROM outbox",
	[R_SUPP_ANY] = "SELECT EXISTS (SELECT 1 FROM suppressions)",
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

/* ---- Searches (events for the application) ---- */

/* The SQL of a search: ?1 before (mid), ?2 limit, ?3 state, ?4 to, ?5
 * from, ?6 subject, ?7 since, ?8 until; a recipient is found through
 * the index recipients_address; the others are read newest first. */
static void
search_sql(const struct queue_list_opts *o, int state, struct buf *b)
{
	buf_printf(b, NULL, "SELECT " LIST_COLS " FROM messages WHERE mid < ?1");
	if (state != -1)
		buf_printf(b, NULL, " AND state = ?3");
	if (o->to != NULL)
		buf_printf(b, NULL, " AND mid IN (SELECT mid FROM recipients"
		    " WHERE address = ?4 COLLATE NOCASE)");
	if (o->from != NULL)
		buf_printf(b, NULL, " AND sender = ?5 COLLATE NOCASE");
	if (o->subject != NULL)
		buf_printf(b, NULL, " AND instr(lower(subject), lower(?6)) > 0");
	if (o->since > 0)
		buf_printf(b, NULL, " AND created >= ?7");
	if (o->until > 0)
		buf_printf(b, NULL, " AND created < ?8");
	buf_printf(b, NULL, " ORDER BY mid DESC LIMIT ?2");
}

static void
search_bind(sqlite3_stmt *st, const struct queue_list_opts *o, int state,
    int64_t before, size_t limit)
{
	sqlite3_bind_int64(st, 1, before);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
	if (state != -1)
		sqlite3_bind_text(st, 3, queue_msg_state_name(state), -1,
		    SQLITE_STATIC);
	if (o->to != NULL)
		sqlite3_bind_text(st, 4, o->to, -1, SQLITE_STATIC);
	if (o->from != NULL)
		sqlite3_bind_text(st, 5, o->from, -1, SQLITE_STATIC);
	if (o->subject != NULL)
		sqlite3_bind_text(st, 6, o->subject, -1, SQLITE_STATIC);
	if (o->since > 0)
		sqlite3_bind_int64(st, 7, o->since);
	if (o->until > 0)
		sqlite3_bind_int64(st, 8, o->until);
}

int
queue_sqlite_plan(struct queue *q, const struct queue_list_opts *o,
    char *dst, size_t dstsz, struct op_err *e)
{
	struct sq *s = to_sq(q);
	struct sq_reader *r;
	struct buf sql, plan;
	sqlite3_stmt *st = NULL;
	int rc, ret = -1;

	if (dstsz == 0)
		return err_set(e, ERR_SOFTWARE, "no room for the plan");
	dst[0] = '\0';
	if ((r = reader_get(s, e)) == NULL)
		return -1;
	buf_init(&sql, 8192);
	buf_init(&plan, dstsz);
	buf_printf(&sql, NULL, "EXPLAIN QUERY PLAN ");
	search_sql(o, o->state, &sql);
	rc = sqlite3_prepare_v2(r->db, sql.data, (int)sql.len, &st, NULL);
	if (rc != SQLITE_OK) {
		sq_err(s, r->db, rc, "cannot plan a search", e);
		goto out;
	}
	search_bind(st, o, o->state, INT64_MAX, 100);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		buf_printf(&plan, NULL, "%s\n", sq_col_text(st, 3));
	str_copy(dst, dstsz, plan.data != NULL ? plan.data : "");
	ret = 0;
out:
	sqlite3_finalize(st);
	buf_free(&sql);
	buf_free(&plan);
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
	size_t limit;
	int state, rc, ret = -1;

	memset(out, 0, sizeof(*out));
	if (queue_list_check(o, &limit, &state, e) < 0)
		return -1;
	if ((r = reader_get(s, e)) == NULL)
		return -1;
	if (o != NULL && o->before != NULL && r_find(s, r, o->before, &before,
	    e) < 0)
		goto out;
	if (queue_list_searches(o)) {
		struct buf sql;

		buf_init(&sql, 8192);
		search_sql(o, state, &sql);
		rc = sqlite3_prepare_v2(r->db, sql.data, (int)sql.len, &st, NULL);
		buf_free(&sql);
		if (rc != SQLITE_OK) {
			sq_err(s, r->db, rc, "cannot search the queue", e);
			goto out;
		}
		search_bind(st, o, state, before, limit);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			sq_row_msg(out, st);
		sqlite3_finalize(st);
	} else {
		st = r->st[state == -1 ? R_LIST : R_LIST_STATE];
		sqlite3_bind_int64(st, 1, before);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
		if (state != -1)
			sqlite3_bind_text(st, 3, queue_msg_state_name(state), -1,
			    SQLITE_STATIC);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			sq_row_msg(out, st);
		sqlite3_reset(st);
	}
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
	queue_set_finish(out);
	queue_set_add_made_events(out);
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

/* ---- Events for the application ---- */

int
sq_outbox_count(struct queue *q, uint64_t *n, struct op_err *e)
{
	struct sq *s = to_sq(q);
	struct sq_reader *r;
	sqlite3_stmt *st;
	int rc;

	*n = 0;
	if ((r = reader_get(s, e)) == NULL)
		return -1;
	st = r->st[R_OUTBOX_COUNT];
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*n = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	reader_put(s, r);
	if (rc != SQLITE_ROW)
		return sq_err(s, r->db, rc, "cannot count the events waiting", e);
	return 0;
}

int
sq_supp_list(struct queue *q, const char *after, size_t limit,
    struct queue_set *out, struct op_err *e)
{
	struct sq *s = to_sq(q);
	struct sq_reader *r;
	sqlite3_stmt *st;
	int rc;

	if ((r = reader_get(s, e)) == NULL)
		return -1;
	st = r->st[R_SUPP_LIST];
	sqlite3_bind_text(st, 1, after != NULL ? after : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct queue_supp *sp = queue_set_add_supp(out);

		sp->address = sq_set_col(out, st, 0);
		sp->reason = sq_set_col(out, st, 1);
		sp->at = sqlite3_column_int64(st, 2);
		sp->id = sq_set_col(out, st, 3);
	}
	sqlite3_reset(st);
	reader_put(s, r);
	if (rc != SQLITE_DONE) {
		queue_set_free(out);
		return sq_err(s, r->db, rc, "cannot list suppressed addresses", e);
	}
	return 0;
}

int
sq_supp_check(struct queue *q, const char *const *addrs, size_t n,
    int *out, int *empty, struct op_err *e)
{
	struct sq *s = to_sq(q);
	struct sq_reader *r;
	sqlite3_stmt *st;
	size_t i;
	int rc = SQLITE_DONE;

	if ((r = reader_get(s, e)) == NULL)
		return -1;
	/* an empty list (the common case) in one step */
	st = r->st[R_SUPP_ANY];
	rc = sqlite3_step(st);
	*empty = rc == SQLITE_ROW && sqlite3_column_int(st, 0) == 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW) {
		reader_put(s, r);
		return sq_err(s, r->db, rc, "cannot read the suppression list", e);
	}
	rc = SQLITE_DONE;
	st = r->st[R_SUPP_CHECK];
	for (i = 0; i < n && !*empty; i++) {
		sqlite3_bind_text(st, 1, addrs[i], -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		out[i] = rc == SQLITE_ROW;
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			break;
	}
	reader_put(s, r);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq_err(s, r->db, rc, "cannot read the suppression list", e);
	return 0;
}
/* ---- end of events for the application ---- */
