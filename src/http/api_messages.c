/*
 * api_messages.c - the delivery log and the queue over HTTP:
 *   GET    /api/messages?status=&limit=&before=   list, newest first
 *          (&to=&from=&subject=&since=&until=  searches)
 *   GET    /api/messages/{id}/raw                 the message as stored
 *   GET    /api/suppressions?after=&limit=        suppressed addresses
 *   DELETE /api/suppressions/{address}
 *   GET    /api/messages/{id}                     one message, every
 *                                                 recipient and its events
 *   POST   /api/messages/{id}/retry               deliver again now
 *   DELETE /api/messages/{id}
 * (POST /api/messages, composing and queuing a message, is in
 * api_submit.c.)
 */
#include "http/http_int.h"
#include "http/msg_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mail/header.h"
#include "config/conf.h"
#include "queue/queue.h"
#include "relay/hints.h"
#include "util/log.h"
#include "util/net.h"

#define LIST_LIMIT_DEFAULT 100
#define LIST_LIMIT_MAX 1000
#define SUBJECT_SCAN_MAX (64 * 1024)    /* header bytes read for Subject */
#define SUBJECT_SCAN_LIST (8 * 1024)    /* ... per message of a list */

/* The reply status for a failed queue call, and the reply. */
static void
reply_queue_error(struct http_req *r, const struct op_err *e)
{
	unsigned status;

	switch (e->kind) {
	case ERR_NOINPUT: status = 404; break;
	case ERR_DATA: status = 409; break;
	case ERR_TEMP: status = 503; break;
	default: status = 500; break;
	}
	http_reply_error(r, status, "%s", e->msg);
}

static struct queue *
need_queue(struct http_req *r)
{
	if (r->srv->deps.queue == NULL)
		http_reply_error(r, 503, "the queue is not open in this process");
	return r->srv->deps.queue;
}

/* The Subject of message id as written (RFC 2047 words are left for the
 * page to decode), or null.  Reads only the first scan bytes of the body:
 * a Subject past them is not found. */
static json_t *
subject_json(struct queue *q, const char *id, size_t scan)
{
	struct hdr_block hb = { 0 };
	struct op_err e;
	char *head = mem_alloc(scan + 1);
	const char *end, *v;
	size_t got = 0, len;
	json_t *j = json_null();

	if (queue_body_read(q, id, 0, head, scan, &got, &e) < 0)
		goto out;
	head[got] = '\0';
	end = strstr(head, "\r\n\r\n");
	if (end == NULL && got == scan) {
		/* cut inside the header: parse whole lines only */
		end = head + got;
		while (end > head && end[-1] != '\n')
			end--;
		len = (size_t)(end - head);
	} else {
		len = end != NULL ? (size_t)(end - head) + 4 : got;
	}
	if (hdr_parse(head, len, &hb, &e) == 0 && (v = hdr_get(&hb, "Subject")) != NULL) {
		json_decref(j);
		j = http_jstr(v);
	}
	hdr_block_free(&hb);
out:
	free(head);
	return j;
}

void
http_api_messages_list(struct http_req *r)
{
	struct queue *q = need_queue(r);
	const char *status = http_query(r, "status");
	const char *limit = http_query(r, "limit");
	const char *before = http_query(r, "before");
	/* searches (events for the application) */
	const char *to = http_query(r, "to"), *from = http_query(r, "from");
	const char *subject = http_query(r, "subject");
	const char *since = http_query(r, "since"), *until = http_query(r, "until");
	static const char *const known[] = { "status", "limit", "before", "to",
		"from", "subject", "since", "until", NULL };
	char unknown[HTTP_PARAM_MAX];
	struct queue_list_opts o = { .state = -1, .limit = LIST_LIMIT_DEFAULT };
	struct queue_set set = { 0 };
	uint64_t counts[QUEUE_MSG_NSTATES];
	struct op_err e;
	unsigned long n;
	json_t *j, *arr, *cj;
	size_t i;
	int k;

	if (q == NULL)
		return;
	if (http_query_unknown(r, known, unknown)) {
		http_reply_fields(r, 400, "unknown query parameter; this list takes "
		    "status, limit, before, to, from, subject, since and until",
		    json_pack("{s:s}", unknown, "not a parameter of this list; use "
		    "status, limit, before, to, from, subject, since or until"));
		return;
	}
	if (to != NULL && *to != '\0')
		o.to = to;
	if (from != NULL && *from != '\0')
		o.from = from;
	if (subject != NULL && *subject != '\0')
		o.subject = subject;
	if ((o.to != NULL && strlen(o.to) >= QUEUE_ADDR_MAX) ||
	    (o.from != NULL && strlen(o.from) >= QUEUE_ADDR_MAX) ||
	    (o.subject != NULL && strlen(o.subject) >= QUEUE_SUBJECT_MAX)) {
		http_reply_fields(r, 400, "search too long", json_pack("{s:s}",
		    o.subject != NULL && strlen(o.subject) >= QUEUE_SUBJECT_MAX ?
		    "subject" : o.to != NULL && strlen(o.to) >= QUEUE_ADDR_MAX ?
		    "to" : "from", "too long"));
		return;
	}
	if (since != NULL && *since != '\0') {
		if (str_to_ulong(since, (unsigned long)INT64_MAX / 2, &n) < 0) {
			http_reply_fields(r, 400, "bad since", json_pack("{s:s}",
			    "since", "a time in Unix seconds"));
			return;
		}
		o.since = (int64_t)n;
	}
	if (until != NULL && *until != '\0') {
		if (str_to_ulong(until, (unsigned long)INT64_MAX / 2, &n) < 0) {
			http_reply_fields(r, 400, "bad until", json_pack("{s:s}",
			    "until", "a time in Unix seconds"));
			return;
		}
		o.until = (int64_t)n;
	}
	if (status != NULL && *status != '\0' && strcmp(status, "all") != 0) {
		o.state = queue_msg_state_parse(status);
		if (o.state < 0) {
			http_reply_fields(r, 400, "unknown status", json_pack("{s:s}",
			    "status", "one of queued, sending, deferred, sent, failed, held, all"));
			return;
		}
	}
	if (limit != NULL && *limit != '\0') {
		if (str_to_ulong(limit, LIST_LIMIT_MAX, &n) < 0 || n == 0) {
			http_reply_fields(r, 400, "bad limit", json_pack("{s:s}",
			    "limit", "a number from 1 to 1000"));
			return;
		}
		o.limit = n;
	}
	if (before != NULL && *before != '\0') {
		if (!queue_id_valid(before)) {
			http_reply_fields(r, 400, "bad before", json_pack("{s:s}",
			    "before", "a message id"));
			return;
		}
		o.before = before;
	}
	if (queue_list(q, &o, &set, &e) < 0 || queue_counts(q, counts, &e) < 0) {
		queue_set_free(&set);
		reply_queue_error(r, &e);
		return;
	}
	arr = json_array();
	for (i = 0; i < set.n; i++) {
		json_t *m = msg_json_summary(&set.msgs[i]);

		/* kept with the message (since schema 4); else read */
		json_object_set_new(m, "subject", set.msgs[i].subject != NULL ?
		    http_jstr(set.msgs[i].subject) : subject_json(q, set.msgs[i].id,
		    SUBJECT_SCAN_LIST));
		json_array_append_new(arr, m);
	}
	cj = json_object();
	for (k = 0; k < QUEUE_MSG_NSTATES; k++)
		json_object_set_new(cj, queue_msg_state_name(k), json_integer((json_int_t)counts[k]));
	j = json_object();
	json_object_set_new(j, "messages", arr);
	json_object_set_new(j, "counts", cj);
	json_object_set_new(j, "more", json_boolean(set.n == o.limit));
	queue_set_free(&set);
	http_reply_json(r, 200, j);
}

/*
 * Each recipient's "hint" and "hint_class": what the provider's reply
 * means (relay/hints.h), judged as the provider of the profile that last
 * tried the message; null when no rule knows the reply.
 */
static void
add_hints(struct http_req *r, const struct queue_set *set, json_t *j)
{
	const struct queue_msg *m = &set->msgs[0];
	const struct conf *c = http_conf_get(r);
	const struct conf_profile *p = m->profile_used != NULL ?
	    conf_profile_find(c, m->profile_used) : NULL;
	json_t *rc = json_object_get(j, "recipients");
	size_t i;

	if (p == NULL && m->profile != NULL)
		p = conf_profile_find(c, m->profile);
	for (i = 0; i < m->nrcpts && i < json_array_size(rc); i++) {
		const struct queue_rcpt *x = &m->rcpts[i];
		const struct hint_rule *rule = x->state == QUEUE_RCPT_SENT ? NULL :
		    hint_match_text(hint_provider(p), x->code, x->enhanced,
		    x->reply);
		json_t *o = json_array_get(rc, i);

		json_object_set_new(o, "hint", rule != NULL ?
		    json_string(rule->hint) : json_null());
		json_object_set_new(o, "hint_class", rule != NULL ?
		    json_string(hint_class_name(rule->cls)) : json_null());
	}
	http_conf_put(r, c);
}

void
http_api_message_get(struct http_req *r)
{
	struct queue *q = need_queue(r);
	struct queue_set set = { 0 };
	struct op_err e = { 0 };
	json_t *j;

	if (q == NULL)
		return;
	if (!queue_id_valid(r->param[0])) {
		http_reply_error(r, 404, "no message with id %s", r->param[0]);
		return;
	}
	if (queue_get(q, r->param[0], &set, &e) < 0 || set.n != 1) {
		if (set.n != 1 && e.kind == ERR_NONE)
			err_set(&e, ERR_NOINPUT, "no message with id %s", r->param[0]);
		queue_set_free(&set);
		reply_queue_error(r, &e);
		return;
	}
	j = msg_json_detail(&set, subject_json(q, set.msgs[0].id, SUBJECT_SCAN_MAX));
	add_hints(r, &set, j);
	queue_set_free(&set);
	http_reply_json(r, 200, j);
}

void
http_api_message_retry(struct http_req *r)
{
	struct queue *q = need_queue(r);
	struct op_err e;

	if (q == NULL)
		return;
	if (!queue_id_valid(r->param[0])) {
		http_reply_error(r, 404, "no message with id %s", r->param[0]);
		return;
	}
	if (queue_retry(q, r->param[0], (int64_t)time(NULL), &e) < 0) {
		reply_queue_error(r, &e);
		return;
	}
	if (r->srv->deps.wake_delivery != NULL)
		r->srv->deps.wake_delivery(r->srv->deps.arg);
	log_event(LOG_INFO, "http_retry", "id", r->param[0], NULL);
	http_api_message_get(r);
}

void
http_api_message_delete(struct http_req *r)
{
	struct queue *q = need_queue(r);
	struct op_err e;

	if (q == NULL)
		return;
	if (!queue_id_valid(r->param[0])) {
		http_reply_error(r, 404, "no message with id %s", r->param[0]);
		return;
	}
	if (queue_delete(q, r->param[0], &e) < 0) {
		reply_queue_error(r, &e);
		return;
	}
	log_event(LOG_INFO, "http_delete", "id", r->param[0], NULL);
	http_reply_empty(r, 204);
}

/* ---- Events for the application ---- */

void
http_api_message_raw(struct http_req *r)
{
	struct queue *q = need_queue(r);
	struct op_err e;
	char *body = NULL;
	size_t len = 0;

	if (q == NULL)
		return;
	if (!queue_id_valid(r->param[0])) {
		http_reply_error(r, 404, "no message with id %s", r->param[0]);
		return;
	}
	if (queue_body_get(q, r->param[0], &body, &len, &e) < 0) {
		reply_queue_error(r, &e);
		return;
	}
	http_reply_owned(r, 200, "message/rfc822", body, len);
}

void
http_api_suppressions_list(struct http_req *r)
{
	struct queue *q = need_queue(r);
	const char *after = http_query(r, "after"), *limit = http_query(r, "limit");
	static const char *const known[] = { "after", "limit", NULL };
	char unknown[HTTP_PARAM_MAX];
	struct queue_set set = { 0 };
	struct op_err e;
	unsigned long n = 100;
	json_t *arr, *j;
	size_t i;

	if (q == NULL)
		return;
	if (http_query_unknown(r, known, unknown)) {
		http_reply_fields(r, 400, "unknown query parameter; this list takes "
		    "after and limit", json_pack("{s:s}", unknown, "not a "
		    "parameter of this list; use after or limit"));
		return;
	}
	if (limit != NULL && *limit != '\0' &&
	    (str_to_ulong(limit, QUEUE_SUPP_LIST_MAX, &n) < 0 || n == 0)) {
		http_reply_fields(r, 400, "bad limit", json_pack("{s:s}", "limit",
		    "a number from 1 to 1000"));
		return;
	}
	if (queue_supp_list(q, after != NULL && *after != '\0' ? after : NULL,
	    n, &set, &e) < 0) {
		reply_queue_error(r, &e);
		return;
	}
	arr = json_array();
	for (i = 0; i < set.nsupps; i++)
		json_array_append_new(arr, json_pack("{s:o,s:o,s:o,s:o}",
		    "address", msg_json_str(set.supps[i].address),
		    "reason", msg_json_str(set.supps[i].reason),
		    "at", msg_json_time(set.supps[i].at),
		    "id", msg_json_str(set.supps[i].id)));
	j = json_object();
	json_object_set_new(j, "suppressions", arr);
	json_object_set_new(j, "more", json_boolean(set.nsupps == n));
	queue_set_free(&set);
	http_reply_json(r, 200, j);
}

void
http_api_suppression_delete(struct http_req *r)
{
	struct queue *q = need_queue(r);
	struct op_err e;

	if (q == NULL)
		return;
	if (queue_supp_delete(q, r->param[0], &e) < 0) {
		if (e.kind == ERR_DATA)
			http_reply_error(r, 400, "%s", e.msg);
		else
			reply_queue_error(r, &e);
		return;
	}
	log_event(LOG_INFO, "http_unsuppress", "rcpt", r->param[0], NULL);
	http_reply_empty(r, 204);
}
/* ---- end of events for the application ---- */
