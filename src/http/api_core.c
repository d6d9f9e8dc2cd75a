/*
 * api_core.c - GET /api/health, the login session (POST /api/login,
 * POST /api/logout, GET /api/session), GET /metrics and the page's files.
 */
#include "http/http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/conf.h"
#include "queue/queue.h"
#include "relay/deliver.h"
#include "util/log.h"
#include "util/metrics.h"

#define METRICS_TEXT_MAX (4 * 1024 * 1024)

/* {"queued": n, ...} from the store; NULL (and a log line) if it failed. */
static json_t *
queue_counts_json(struct http_server *s, uint64_t counts[QUEUE_MSG_NSTATES])
{
	struct op_err e;
	json_t *j;
	int i;

	if (s->deps.queue == NULL)
		return NULL;
	if (queue_counts(s->deps.queue, counts, &e) < 0) {
		log_event(LOG_WARN, "http_queue_counts", "error", e.msg, NULL);
		return NULL;
	}
	j = json_object();
	for (i = 0; i < QUEUE_MSG_NSTATES; i++)
		json_object_set_new(j, queue_msg_state_name(i), json_integer((json_int_t)counts[i]));
	return j;
}

void
http_api_health(struct http_req *r)
{
	uint64_t counts[QUEUE_MSG_NSTATES];
	const struct conf *c = http_conf_get(r);
	json_t *j = json_object(), *q;
	int redirect = c->redirect_enabled;

	http_conf_put(r, c);
	q = queue_counts_json(r->srv, counts);
	json_object_set_new(j, "status", json_string(q != NULL || r->srv->deps.queue == NULL ?
	    "ok" : "degraded"));
	json_object_set_new(j, "version", json_string(OUTPOST_VERSION));
	json_object_set_new(j, "redirect", json_boolean(redirect));
	json_object_set_new(j, "https", json_boolean(r->srv->tls));
	json_object_set_new(j, "http_insecure",
	    json_boolean(!r->srv->tls && r->srv->deps.insecure));
	if (q != NULL)
		json_object_set_new(j, "queue", q);
	http_reply_json(r, q != NULL || r->srv->deps.queue == NULL ? 200 : 503, j);
}

void
http_api_login(struct http_req *r)
{
	char id[HTTP_ID_HEX + 1], csrf[HTTP_ID_HEX + 1];
	const struct conf *c;
	const char *token = NULL;
	struct op_err e;
	json_t *body, *j;
	int ok;

	if ((body = http_body_object(r)) == NULL)
		return;
	if (http_jget_str(body, "token", &token) < 0 || token == NULL) {
		http_reply_fields(r, 400, "send {\"token\": \"...\"}",
		    json_pack("{s:s}", "token", "required"));
		return;
	}
	if (!http_login_allowed(r->srv->sessions)) {
		http_reply_error(r, 429, "too many failed logins; wait a minute");
		return;
	}
	c = http_conf_get(r);
	ok = http_token_equal(token, http_token_current(r->srv, c));
	if (ok && http_session_create(r->srv->sessions, http_token_current(r->srv, c),
	    id, csrf, &e) < 0) {
		http_conf_put(r, c);
		http_reply_error(r, 500, "%s", e.msg);
		return;
	}
	http_conf_put(r, c);
	if (!ok) {
		http_login_failed(r->srv->sessions);
		log_event(LOG_WARN, "http_login_failed", NULL);
		http_reply_fields(r, 401, "wrong token",
		    json_pack("{s:s}", "token", "this is not the API token"));
		return;
	}
	snprintf(r->set_cookie, sizeof(r->set_cookie),
	    "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld%s",
	    HTTP_COOKIE_NAME, id, (long long)(HTTP_SESSION_LIFE_MS / 1000),
	    r->srv->tls ? "; Secure" : "");
	j = json_pack("{s:s}", "csrf_token", csrf);
	explicit_bzero(id, sizeof(id));
	log_event(LOG_INFO, "http_login", NULL);
	http_reply_json(r, 200, j);
}

void
http_api_logout(struct http_req *r)
{
	if (r->auth == HTTP_AUTH_SESSION)
		http_session_end(r->srv->sessions, r->session_id);
	snprintf(r->set_cookie, sizeof(r->set_cookie),
	    "%s=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0%s",
	    HTTP_COOKIE_NAME, r->srv->tls ? "; Secure" : "");
	http_reply_empty(r, 204);
}

void
http_api_session(struct http_req *r)
{
	json_t *j = json_object();

	json_object_set_new(j, "auth", json_string(r->auth == HTTP_AUTH_SESSION ?
	    "session" : "bearer"));
	if (r->auth == HTTP_AUTH_SESSION)
		json_object_set_new(j, "csrf_token", json_string(r->csrf));
	json_object_set_new(j, "version", json_string(OUTPOST_VERSION));
	http_reply_json(r, 200, j);
}

/*
 * Cluster (a shared PostgreSQL queue): the queue gauge and the delivery
 * and recipient totals above are the cluster's (every node records into
 * one database); these series say which node this is and split the
 * delivery counts by the node that recorded them.
 */
static int
cluster_metrics(struct http_req *r, struct buf *out, struct op_err *e)
{
	static const char *const results[] = { "sent", "deferred", "failed" };
	struct queue_node_counter *c = NULL;
	struct op_err qe;
	const struct conf *conf;
	size_t n = 0, i;
	int k, rc = 0;

	if (!queue_shared(r->srv->deps.queue))
		return 0;
	conf = http_conf_get(r);
	/* node names are [A-Za-z0-9._-]: nothing to escape in a label */
	rc = buf_printf(out, e, "# HELP outpost_node_info This node of a cluster "
	    "on one PostgreSQL database; outpost_queue_messages and the "
	    "outpost_delivery_* and outpost_recipients_* totals are the "
	    "cluster's.\n# TYPE outpost_node_info gauge\n"
	    "outpost_node_info{node=\"%s\"} 1\n",
	    conf->server.node != NULL ? conf->server.node : "");
	http_conf_put(r, conf);
	if (rc < 0)
		return -1;
	if (queue_node_counters(r->srv->deps.queue, &c, &n, &qe) < 0) {
		log_event(LOG_WARN, "http_metrics", "error", qe.msg, NULL);
		return 0;
	}
	rc = buf_printf(out, e, "# HELP outpost_node_delivery_total Delivery "
	    "attempts by the node that recorded them and their result (the "
	    "cluster's, from the database).\n"
	    "# TYPE outpost_node_delivery_total counter\n");
	for (i = 0; rc == 0 && i < n; i++)
		for (k = 0; rc == 0 && k < 3; k++)
			rc = buf_printf(out, e, "outpost_node_delivery_total{node=\"%s\","
			    "result=\"%s\"} %llu\n", c[i].node[0] ? c[i].node : "-",
			    results[k], (unsigned long long)c[i].n[QUEUE_COUNT_SENT + k]);
	if (rc == 0)
		rc = buf_printf(out, e, "# HELP outpost_node_recipients_total "
		    "Recipient results by the node that recorded them (the "
		    "cluster's, from the database).\n"
		    "# TYPE outpost_node_recipients_total counter\n");
	for (i = 0; rc == 0 && i < n; i++)
		for (k = 0; rc == 0 && k < 3; k++)
			rc = buf_printf(out, e, "outpost_node_recipients_total{node=\"%s\","
			    "result=\"%s\"} %llu\n", c[i].node[0] ? c[i].node : "-",
			    results[k],
			    (unsigned long long)c[i].n[QUEUE_COUNT_RCPT_SENT + k]);
	free(c);
	return rc;
}

void
http_api_metrics(struct http_req *r)
{
	uint64_t counts[QUEUE_MSG_NSTATES];
	struct metrics *m = r->srv->deps.metrics;
	struct op_err e;
	struct buf out;
	json_t *q;
	char *text;
	size_t len;
	int i;

	if (m == NULL) {
		http_reply_error(r, 404, "metrics are not collected by this server");
		return;
	}
	q = queue_counts_json(r->srv, counts);
	if (q != NULL) {
		json_decref(q);
		for (i = 0; i < QUEUE_MSG_NSTATES; i++)
			metric_set(metrics_get(m, METRIC_QUEUE_MESSAGES, queue_msg_state_name(i)),
			    (int64_t)counts[i]);
	}
	/* counted by the queue, whichever process delivered */
	deliver_metrics_load(r->srv->deps.queue, m);
	buf_init(&out, METRICS_TEXT_MAX);
	if (metrics_render(m, &out, &e) < 0 ||
	    http_oauth_metrics(r, &out, &e) < 0 ||
	    cluster_metrics(r, &out, &e) < 0) {
		buf_free(&out);
		http_reply_error(r, 500, "cannot render the metrics: %s", e.msg);
		return;
	}
	text = buf_detach(&out, &len);
	http_reply_owned(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

void
http_api_asset(struct http_req *r)
{
	struct http_asset a;

	if (http_asset_find(r->path, &a) < 0) {
		http_reply_error(r, 404, "no such file: %s", r->path);
		return;
	}
	http_reply_static(r, 200, a.ctype, a.data, a.len);
}
