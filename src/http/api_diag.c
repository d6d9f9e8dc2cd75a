/*
 * api_diag.c - the connection check and the test email (relay/diag.h, the
 * same code as `outpost check` and `outpost test-email`).  Both talk to
 * the upstream server for up to a few timeouts, so they run on job
 * threads (HTTP_R_SLOW).
 *
 *   POST /api/profiles/{name}/check
 *        {"ok": bool, "profile": name, "steps": [{"step", "ok", "status",
 *         "detail", "hint"}]}
 *   POST /api/test-email {"to": ..., "profile": ...}
 *        {"ok": bool, "code", "reply", "step", "message", "hint",
 *         "message_id", "profile", "to"}
 * A check or a test email that fails upstream is still a 200: the request
 * was carried out, and "ok" says how it went.
 *
 * The test email is sent directly (not through the queue: it must work
 * for a profile that is not enabled yet, and redirect mode must not
 * change where it goes), then entered in the delivery log as a finished
 * message - sent, or failed for good so it is never retried on its own -
 * with the server's reply, so the log shows every message Outpost sent.
 */
#include "http/http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/conf.h"
#include "mail/mime.h"
#include "queue/queue.h"
#include "relay/diag.h"
#include "util/log.h"

/* diag_report_to_json() plus each step's status word ("ok", "failed",
 * "skipped", "warning") for the page's icons. */
json_t *
http_diag_report_json(const struct diag_report *rep)
{
	json_t *j = diag_report_to_json(rep), *steps;
	size_t i;

	if (j == NULL)
		return NULL;
	steps = json_object_get(j, "steps");
	for (i = 0; i < rep->nsteps && i < json_array_size(steps); i++)
		json_object_set_new(json_array_get(steps, i), "status",
		    json_string(diag_status_name(rep->steps[i].status)));
	return j;
}

void
http_api_profile_check(struct http_req *r)
{
	const struct conf *c = http_conf_get(r);
	const struct conf_profile *p = conf_profile_find(c, r->param[0]);
	struct diag_report *rep;
	struct op_err e;
	json_t *j;

	if (p == NULL) {
		http_conf_put(r, c);
		http_reply_error(r, 404, "no profile called %s", r->param[0]);
		return;
	}
	rep = mem_alloc(sizeof(*rep));
	if (diag_run(p, c->server.hostname, rep, &e) < 0) {
		http_conf_put(r, c);
		http_reply_error(r, 422, "%s", e.msg);
		goto out;
	}
	diag_dkim(c, rep);      /* DKIM: the published records */
	http_conf_put(r, c);
	log_event(LOG_INFO, "http_check", "profile", r->param[0], "ok",
	    rep->ok ? "yes" : "no", "failed_step", rep->ok ? NULL : rep->failed_step, NULL);
	j = http_diag_report_json(rep);
	if (j != NULL)
		json_object_set_new(j, "profile", http_jstr(r->param[0]));
	http_reply_json(r, 200, j);
out:
	free(rep);
}

/* Split "250 2.0.0 Ok: queued" into the enhanced status code "2.0.0"
 * (RFC 3463 section 2; "" if none) and the text that follows, as the
 * queue keeps them (the code is stored on its own).  Returns the text. */
static const char *
reply_split(const char *reply, char *enhanced, size_t enhsz)
{
	const char *p = reply, *text;
	size_t n = 0, dots = 0, digits = 0;

	enhanced[0] = '\0';
	while (*p >= '0' && *p <= '9')
		p++;
	if (p == reply || (*p != ' ' && *p != '-'))
		return reply;
	text = ++p;
	if (*p < '2' || *p > '5')
		return text;
	for (; p[n] != '\0' && p[n] != ' '; n++) {
		if (p[n] == '.') {
			if (digits == 0)
				return text;
			dots++;
			digits = 0;
		} else if (p[n] >= '0' && p[n] <= '9' && digits < 3) {
			digits++;
		} else {
			return text;
		}
	}
	if (dots != 2 || digits == 0 || n >= enhsz)
		return text;
	snprintf(enhanced, enhsz, "%.*s", (int)n, p);
	p += n;
	while (*p == ' ')
		p++;
	return p;
}

/* Enter the test email in the delivery log.  Failures are logged only:
 * the email itself went (or not) whatever the log says. */
static void
log_test_email(struct http_req *r, const struct conf_profile *p, const char *to,
    const struct diag_send_result *res, char id[QUEUE_ID_SIZE])
{
	struct queue *q = r->srv->deps.queue;
	char subject[256], text[512], enhanced[QUEUE_ENHANCED_MAX];
	struct mime_addr to_addr = { to, NULL };
	struct queue_rcpt_result rr;
	struct queue_event_new ev;
	struct queue_outcome o;
	struct queue_new qn;
	struct mime_msg m;
	struct op_err e;
	struct buf msg;
	const char *rcpts[1] = { to };

	id[0] = '\0';
	if (q == NULL || p->from == NULL)
		return;
	snprintf(subject, sizeof(subject), DIAG_SUBJECT " (%s)", p->name);
	snprintf(text, sizeof(text), "This is a test email from Outpost, sent from "
	    "the web page through the profile \"%s\".\n", p->name);
	memset(&m, 0, sizeof(m));
	m.from.addr = p->from;
	m.from.name = p->from_name;
	m.to = &to_addr;
	m.nto = 1;
	m.subject = subject;
	m.text = text;
	m.text_len = strlen(text);
	m.date = (int64_t)time(NULL);
	buf_init(&msg, 64 * 1024);
	if (mime_compose(&m, &msg, NULL, &e) < 0)
		goto fail;
	memset(&qn, 0, sizeof(qn));
	qn.sender = p->from;
	qn.rcpts = rcpts;
	qn.nrcpts = 1;
	qn.body = msg.data;
	qn.len = msg.len;
	qn.profile = p->name;
	qn.state = QUEUE_MSG_SENDING;   /* stored claimed: never picked up by
	                                 * the scheduler, recorded just below */
	if (queue_submit(q, &qn, id, &e) < 0)
		goto fail;

	memset(&rr, 0, sizeof(rr));
	rr.idx = 0;
	rr.state = res->ok ? QUEUE_RCPT_SENT : QUEUE_RCPT_FAILED;
	rr.code = res->code;
	rr.reply = res->code != 0 ? reply_split(res->reply, enhanced, sizeof(enhanced)) :
	    res->msg;
	rr.enhanced = res->code != 0 ? enhanced : "";
	ev.kind = "test_email";
	ev.text = res->ok ? "test email sent from the web page" :
	    "test email from the web page failed; not retried";
	memset(&o, 0, sizeof(o));
	o.id = id;
	o.now = (int64_t)time(NULL);
	o.profile_used = p->name;
	o.results = &rr;
	o.nresults = 1;
	o.error = res->ok ? NULL : res->msg;
	o.sends = res->ok ? 1 : 0;
	o.events = &ev;
	o.nevents = 1;
	if (queue_record(q, &o, NULL, &e) < 0)
		goto fail;
	buf_free(&msg);
	return;
fail:
	log_event(LOG_WARN, "http_test_email_log", "error", e.msg, NULL);
	buf_free(&msg);
}

void
http_api_test_email(struct http_req *r)
{
	const struct conf *c = NULL;
	const struct conf_profile *p;
	const char *to = NULL, *profile = NULL;
	struct diag_send_result *res = NULL;
	char id[QUEUE_ID_SIZE] = "";
	struct op_err e;
	json_t *body, *j;

	if ((body = http_body_object(r)) == NULL)
		return;
	if (http_jget_str(body, "to", &to) < 0 || to == NULL || *to == '\0') {
		http_reply_fields(r, 400, "send {\"to\": \"address\", \"profile\": \"name\"}",
		    json_pack("{s:s}", "to", "the address to send the test email to"));
		return;
	}
	if (http_jget_str(body, "profile", &profile) < 0) {
		http_reply_fields(r, 400, "the profile is a name",
		    json_pack("{s:s}", "profile", "must be a string"));
		return;
	}
	c = http_conf_get(r);
	if (profile != NULL && *profile != '\0')
		p = conf_profile_find(c, profile);
	else if ((p = conf_profile_first_enabled(c)) == NULL && c->nprofiles > 0)
		p = &c->profiles[0];
	if (p == NULL) {
		http_reply_fields(r, 404, profile != NULL ? "no such profile" :
		    "there is no profile yet: add one first",
		    json_pack("{s:s}", "profile", "no such profile"));
		goto out;
	}
	res = mem_alloc(sizeof(*res));
	if (diag_test_email(p, c->server.hostname, to, res, &e) < 0) {
		http_reply_fields(r, e.kind == ERR_DATA ? 400 : 422, e.msg,
		    json_pack("{s:s}", e.kind == ERR_DATA ? "to" : "profile", e.msg));
		goto out;
	}
	log_test_email(r, p, to, res, id);
	log_event(LOG_INFO, "http_test_email", "profile", p->name, "to", to,
	    "ok", res->ok ? "yes" : "no", "reply", res->reply, "id", id, NULL);
	j = json_object();
	json_object_set_new(j, "id", id[0] != '\0' ? json_string(id) : json_null());
	json_object_set_new(j, "ok", json_boolean(res->ok));
	json_object_set_new(j, "profile", http_jstr(p->name));
	json_object_set_new(j, "to", http_jstr(to));
	json_object_set_new(j, "code", res->code != 0 ? json_integer(res->code) : json_null());
	json_object_set_new(j, "reply", res->reply[0] ? http_jstr(res->reply) : json_null());
	json_object_set_new(j, "step", res->step[0] ? http_jstr(res->step) : json_null());
	json_object_set_new(j, "message", http_jstr(res->msg));
	json_object_set_new(j, "hint", res->hint[0] ? http_jstr(res->hint) : json_null());
	json_object_set_new(j, "message_id", res->message_id[0] ?
	    http_jstr(res->message_id) : json_null());
	http_reply_json(r, 200, j);
out:
	if (c != NULL)
		http_conf_put(r, c);
	free(res);
}
