/*
 * deliver.c - one attempt of one message through one profile.
 *
 * Outcomes are the client's three (delivered, temporary, permanent) per
 * recipient, mapped to recipient states sent / deferred / failed.  What is
 * a fault of the profile rather than of the message (the session cannot be
 * opened, or the server says 421) is not recorded as an attempt: the caller
 * fails over.  A provider asking to slow down is not an attempt either.
 */
#include "relay/deliver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/dkim.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "relay/hints.h"
#include "smtp/data.h"
#include "relay/oauth_glue.h"
#include "relay/policy.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/net.h"

#define DELIVER_BODY_EXTRA (64 * 1024)   /* room for headers we add */

struct deliver_msg *
deliver_msg_from_set(const struct queue_set *set, size_t i)
{
	const struct queue_msg *q = &set->msgs[i];
	struct deliver_msg *m = mem_alloc(sizeof(*m));
	size_t r;

	memcpy(m->id, q->id, sizeof(m->id));
	m->sender = str_dup(q->sender != NULL ? q->sender : "");
	m->nrcpts = q->nrcpts;
	m->rcpts = mem_alloc(sizeof(char *) * (q->nrcpts ? q->nrcpts : 1));
	m->rcpt_idx = mem_alloc(sizeof(unsigned) * (q->nrcpts ? q->nrcpts : 1));
	for (r = 0; r < q->nrcpts; r++) {
		m->rcpts[r] = str_dup(q->rcpts[r].address);
		m->rcpt_idx[r] = q->rcpts[r].idx;
	}
	m->attempts = q->attempts;
	m->created = q->created;
	m->since = q->since;
	m->size = q->size;
	m->profile = q->profile != NULL && q->profile[0] != '\0' ? str_dup(q->profile) : NULL;
	m->supp = mem_alloc(sizeof(int) * (q->nrcpts ? q->nrcpts : 1));
	for (r = 0; r < q->nrcpts; r++)
		m->supp[r] = q->rcpts[r].suppressed;
	return m;
}

struct deliver_msg *
deliver_msg_new(const char *id, const char *sender, const char *const *rcpts,
    size_t nrcpts, const char *profile, char *body, size_t len)
{
	struct deliver_msg *m = mem_alloc(sizeof(*m));
	size_t i;

	str_copy(m->id, sizeof(m->id), id);
	m->sender = str_dup(sender);
	m->nrcpts = nrcpts;
	m->rcpts = mem_alloc(sizeof(char *) * (nrcpts ? nrcpts : 1));
	m->rcpt_idx = mem_alloc(sizeof(unsigned) * (nrcpts ? nrcpts : 1));
	for (i = 0; i < nrcpts; i++) {
		m->rcpts[i] = str_dup(rcpts[i]);
		m->rcpt_idx[i] = (unsigned)i;
	}
	m->created = m->since = clock_wall_ms() / 1000;
	m->size = len;
	m->profile = profile != NULL && profile[0] != '\0' ? str_dup(profile) :
	    NULL;
	m->body = body;
	m->body_len = len;
	return m;
}

void
deliver_msg_free(struct deliver_msg *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nrcpts; i++)
		free(m->rcpts[i]);
	for (i = 0; i < m->ntried; i++)
		free(m->tried[i]);
	free(m->tried);
	free(m->rcpts);
	free(m->rcpt_idx);
	free(m->supp);
	free(m->sender);
	free(m->profile);
	free(m->body);
	free(m->waited);
	free(m);
}

int
deliver_msg_tried(const struct deliver_msg *m, const char *profile)
{
	size_t i;

	for (i = 0; i < m->ntried; i++)
		if (strcmp(m->tried[i], profile) == 0)
			return 1;
	return 0;
}

void
deliver_msg_add_tried(struct deliver_msg *m, const char *profile)
{
	if (deliver_msg_tried(m, profile))
		return;
	m->tried = mem_realloc(m->tried, sizeof(char *) * (m->ntried + 1));
	m->tried[m->ntried++] = str_dup(profile);
}

void
deliver_params(const struct conf_profile *p, const char *helo_name,
    struct smtp_params *out)
{
	smtp_params_init(out);
	out->host = p->host;
	out->port = p->port;
	out->security = p->security;
	out->tls_verify = p->tls_verify;
	out->tls_ca_file = p->tls_ca_file;
	out->auth = p->auth;
	out->username = p->username;
	out->password = p->password;
	out->allow_plaintext_auth = p->allow_plaintext_auth;
	out->helo_name = helo_name;
	out->timeout_s = p->timeout_s;
	/* An attempt's overall deadline: 4 x the per-phase timeout, from
	 * connect on (the first message on a session shares it with the
	 * connect, greeting, EHLO, STARTTLS, TLS and AUTH; see client.h). */
	out->deadline_s = (p->timeout_s ? p->timeout_s : 30) * 4;
	out->log_name = p->name;
}

int
deliver_open(const struct deliver_ctx *dc, const struct conf_profile *p,
    struct smtp_session **s, struct smtp_result *res)
{
	struct smtp_params params;
	int rc;

	deliver_params(p, dc->helo_name, &params);
	rc = relay_oauth_open(p, &params, s, res, NULL);   /* auth = oauth2 */
	if (rc < 0) {
		log_event(LOG_WARN, "connect", "profile", p->name, "host", p->host,
		    "phase", smtp_phase_name(res->phase),
		    "failure", smtp_fail_name(res->fail), "reason", res->msg, NULL);
		return -1;
	}
	metrics_add(dc->metrics, METRIC_CONNECTIONS_OPEN, p->name, 1);
	log_event(LOG_INFO, "connect", "profile", p->name, "host", p->host,
	    "relay", smtp_client_peer(*s),
	    "tls", smtp_client_encrypted(*s) ? "yes" : "no",
	    "auth", smtp_client_auth_mech(*s)[0] ? smtp_client_auth_mech(*s) : "-", NULL);
	return 0;
}

/* The enabled report addresses, while redirect is on. */
static size_t
report_addresses(const struct conf *conf, const char **out, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < conf->nreports && n < max; i++)
		if (conf->reports[i].enabled)
			out[n++] = conf->reports[i].email;
	return n;
}

/*
 * The body as it goes upstream: with redirect, an X-Original-To: field
 * listing the original recipients; with force_from, From: replaced by the
 * profile's address (the original kept as Reply-To unless there is one).
 */
static int
build_body(const struct conf *conf, const struct conf_profile *p,
    const struct deliver_msg *m, const char *raw, size_t len,
    struct buf *out, struct op_err *e)
{
	struct hdr_block hb;
	int rc = -1, parsed = 0;

	if (conf->redirect_enabled) {
		struct mime_addr *v = mem_alloc(sizeof(*v) * (m->nrcpts ? m->nrcpts : 1));
		size_t i;

		for (i = 0; i < m->nrcpts; i++)
			v[i].addr = m->rcpts[i];
		rc = mime_write_addr_header(out, "X-Original-To", v, m->nrcpts, NULL, e);
		free(v);
		if (rc < 0)
			return -1;
		rc = -1;
	}
	if (p->force_from && p->from != NULL) {
		static const char *const drop[] = { "From", "Sender", NULL };
		struct mime_addr from = { p->from, p->from_name };
		const char *orig, *reply_to;

		if (hdr_parse(raw, len, &hb, e) < 0)
			goto out;
		parsed = 1;
		orig = hdr_get(&hb, "From");
		reply_to = hdr_get(&hb, "Reply-To");
		if (mime_write_addr_header(out, "From", &from, 1, NULL, e) < 0)
			goto out;
		if (orig != NULL && reply_to == NULL &&
		    buf_printf(out, e, "Reply-To: %s\r\n", orig) < 0)
			goto out;
		if (hdr_remove(raw, len, &hb, drop, out, e) < 0)
			goto out;
	} else if (buf_append(out, raw, len, e) < 0) {
		goto out;
	}
	rc = 0;
out:
	if (parsed)
		hdr_block_free(&hb);
	return rc;
}

/* ---- DKIM (docs/dkim.md) ---- */

/*
 * Sign the message as it will be sent, after every other change: the
 * bytes in wire form (CRLF, dot-stuffing is the SMTP client's and the
 * receiver undoes it) with one DKIM-Signature field per [dkim NAME] of
 * the From: domain before them, into out; *wire and *wirelen then point
 * there.  A message no key is for is left as it is.  A signature that
 * cannot be made is logged and the message goes unsigned: a receiver may
 * still take it, a message held back reaches nobody.
 */
static void
dkim_sign_wire(const struct conf *conf, const struct deliver_msg *m,
    const char **wire, size_t *wirelen, struct buf *out)
{
	struct mail_dkim_key keys[MAIL_DKIM_MAX_KEYS];
	struct buf norm, sigs;
	struct op_err e;
	size_t i, n = 0, nsig = 0;
	char count[24];

	for (i = 0; i < conf->ndkim && n < MAIL_DKIM_MAX_KEYS; i++) {
		const struct conf_dkim *d = &conf->dkim[i];

		keys[n].name = d->name;
		keys[n].domain = d->domain;
		keys[n].selector = d->selector;
		keys[n].pem = d->key_pem;
		keys[n].pem_len = d->key_len;
		keys[n].type = d->key_type;
		n++;
	}
	buf_init(&norm, SMTP_DATA_OUT_MAX(*wirelen));
	buf_init(&sigs, MAIL_DKIM_SIG_MAX * MAIL_DKIM_MAX_KEYS);
	if (mail_dkim_wire(*wire, *wirelen, &norm, &e) < 0 ||
	    mail_dkim_sign(keys, n, norm.data != NULL ? norm.data : "", norm.len,
	    &sigs, &nsig, &e) < 0) {
		log_event(LOG_ERROR, "dkim", "id", m->id, "error", e.msg,
		    "action", "sent unsigned", NULL);
		goto out;
	}
	if (nsig == 0)
		goto out;
	buf_free(out);
	buf_init(out, sigs.len + norm.len);
	if (buf_append(out, sigs.data, sigs.len, &e) < 0 ||
	    buf_append(out, norm.data, norm.len, &e) < 0) {
		log_event(LOG_ERROR, "dkim", "id", m->id, "error", e.msg,
		    "action", "sent unsigned", NULL);
		buf_reset(out);
		goto out;
	}
	*wire = out->data;
	*wirelen = out->len;
	snprintf(count, sizeof(count), "%zu", nsig);
	log_event(LOG_DEBUG, "dkim", "id", m->id, "signatures", count, NULL);
out:
	buf_free(&norm);
	buf_free(&sigs);
}

/* ---- end of DKIM ---- */

static int
rcpt_state_of(int outcome)
{
	switch (outcome) {
	case SMTP_DELIVERED: return QUEUE_RCPT_SENT;
	case SMTP_PERMANENT: return QUEUE_RCPT_FAILED;
	default: return QUEUE_RCPT_DEFERRED;
	}
}

/* The text kept for a result: the reply without its enhanced status code
 * (stored in a column of its own), or the local failure. */
static const char *
result_raw(const struct smtp_result *r)
{
	if (r->reply.code != 0 && r->reply.text != NULL) {
		const char *t = r->reply.text;
		int c, sub, det;
		size_t n = r->reply.enh_class != 0 ?
		    smtp_enh_parse(t, strlen(t), &c, &sub, &det) : 0;

		t += n;
		while (n > 0 && *t == ' ')
			t++;
		return t;
	}
	return r->msg;
}

static void
result_text(const struct smtp_result *r, char *dst, size_t dstsz)
{
	log_sanitize(dst, dstsz, result_raw(r));
}

static int
any_reply(const struct smtp_result *rr, size_t n, const struct smtp_result *res,
    int (*pred)(const struct smtp_reply *))
{
	size_t i;

	for (i = 0; i < n; i++)
		if (pred(&rr[i].reply))
			return 1;
	return pred(&res->reply);
}

static int
is_421(const struct smtp_reply *r)
{
	return r->code == 421;
}

static int
is_slow(const struct smtp_reply *r)
{
	return r->code != 0 && policy_is_slowdown(r->code, r->enh_class,
	    r->enh_subject, r->text);
}

/* The result (of a recipient, else the message's) whose reply a provider
 * rule of class cls matches, or NULL. */
static const struct smtp_result *
rule_result(const struct smtp_result *rr, size_t n,
    const struct smtp_result *res, const char *provider, int cls)
{
	const struct hint_rule *rule;
	size_t i;

	for (i = 0; i < n; i++)
		if ((rule = hint_match(provider, &rr[i].reply)) != NULL &&
		    rule->cls == cls)
			return &rr[i];
	if ((rule = hint_match(provider, &res->reply)) != NULL &&
	    rule->cls == cls)
		return res;
	return NULL;
}

struct attempt_log {
	const struct conf_profile *p;
	const char *relay;
	int64_t start_ms;
};

/* One event=delivery line: r is the reply or local failure (NULL: reason,
 * with no reply); profile and relay may be NULL. */
static void
log_line(const struct deliver_msg *m, const char *profile, const char *relay,
    const char *rcpt, int state, const struct smtp_result *r,
    const char *reason, int64_t start_ms, const char *provider)
{
	char code[8], enh[16] = "", delay[32], attempt[16];
	/* a refusal the provider rules know: what to do, on the same line */
	const struct hint_rule *rule = r != NULL && state != QUEUE_RCPT_SENT ?
	    hint_match(provider, &r->reply) : NULL;

	snprintf(code, sizeof(code), "%d", r != NULL ? r->reply.code : 0);
	if (r != NULL)
		smtp_reply_enh_text(&r->reply, enh, sizeof(enh));
	snprintf(delay, sizeof(delay), "%.3f", (double)(clock_mono_ms() - start_ms) / 1000.0);
	snprintf(attempt, sizeof(attempt), "%u", m->attempts + 1);
	/* log_event escapes peer text itself: give it the raw reply */
	log_event(state == QUEUE_RCPT_SENT ? LOG_INFO : LOG_WARN, "delivery",
	    "id", m->id, "profile", profile != NULL ? profile : "-",
	    "relay", relay != NULL ? relay : "-",
	    "rcpt", rcpt, "state", queue_rcpt_state_name(state),
	    "code", code, "enhanced", enh[0] ? enh : "-",
	    "reply", r != NULL ? result_raw(r) : reason,
	    "delay", delay, "attempt", attempt,
	    rule != NULL ? "class" : NULL, rule != NULL ?
	    hint_class_name(rule->cls) : NULL,
	    "hint", rule != NULL ? rule->hint : NULL, NULL);
}

static void
log_result(const struct deliver_msg *m, const struct attempt_log *al,
    const char *rcpt, int state, const struct smtp_result *r)
{
	log_line(m, al->p->name, al->relay, rcpt, state, r, NULL, al->start_ms,
	    hint_provider(al->p));
}

void
deliver_log_deferred(struct deliver_msg *m, const struct conf_profile *p,
    const char *relay, const struct smtp_result *r, int64_t start_ms)
{
	size_t i;

	m->logged = 1;
	for (i = 0; i < m->nrcpts; i++)
		log_line(m, p->name, relay, m->rcpts[i], QUEUE_RCPT_DEFERRED, r,
		    NULL, start_ms, hint_provider(p));
}

/* The reply that ended an attempt early (a 421 or "slow down"). */
static const struct smtp_result *
abort_result(const struct smtp_result *rr, size_t n,
    const struct smtp_result *res, int (*pred)(const struct smtp_reply *))
{
	size_t i;

	if (pred(&res->reply))
		return res;
	for (i = 0; i < n; i++)
		if (pred(&rr[i].reply))
			return &rr[i];
	return res;
}

/* The attempt was ended by r for every recipient (a 421, a quota, a
 * rate): each is logged deferred with r, and res becomes r (the caller
 * sees the reply that ended it). */
static void
end_aborted(struct deliver_msg *m, const struct attempt_log *al,
    const char *const *rcpts, size_t nr, const struct smtp_result *r,
    struct smtp_result *res)
{
	size_t i;

	for (i = 0; i < nr; i++)
		log_result(m, al, rcpts[i], QUEUE_RCPT_DEFERRED, r);
	m->logged = 1;
	if (r != res)
		smtp_result_copy(res, r);
}

/*
 * Write the outcome: results[i] for m->rcpts[i].  Deferred recipients
 * whose message outlived queue_lifetime fail for good instead.
 */
/* What an asynchronous record needs until its commit returns. */
struct pending {
	struct queue_outcome o;
	struct metrics *metrics;
	char id[QUEUE_ID_SIZE];
	char *profile;
	char *error;
	int64_t created;
	struct queue_rcpt_result *qr;
	char (*texts)[QUEUE_REPLY_MAX];
	char (*enh)[16];
};

static void
pending_free(struct pending *p)
{
	free(p->profile);
	free(p->error);
	free(p->qr);
	free(p->texts);
	free(p->enh);
	free(p);
}

/*
 * The sent/deferred/failed counters are not counted here but by the
 * queue, in the transaction that records each outcome (queue_counters()):
 * `send --now` is another process, and its deliveries must show in the
 * daemon's GET /metrics as well as the daemon's own and the page's test
 * emails.  deliver_metrics_load() copies them into the registry at each
 * scrape.  The latency histogram stays in memory: it observes the
 * deliveries of this process (the daemon's workers and test emails).
 */
static void
observe_latency(struct metrics *metrics, const char *profile, int state,
    int64_t created)
{
	if (profile != NULL && state == QUEUE_MSG_SENT)
		metrics_observe_ms(metrics, METRIC_DELIVERY_LATENCY, profile,
		    clock_wall_ms() - created * 1000);
}

void
deliver_metrics_load(struct queue *q, struct metrics *m)
{
	static const enum metric_id ids[QUEUE_COUNT_N] = {
		[QUEUE_COUNT_SENT] = METRIC_SENT,
		[QUEUE_COUNT_DEFERRED] = METRIC_DEFERRED,
		[QUEUE_COUNT_FAILED] = METRIC_FAILED,
		[QUEUE_COUNT_RCPT_SENT] = METRIC_RCPT_SENT,
		[QUEUE_COUNT_RCPT_DEFERRED] = METRIC_RCPT_DEFERRED,
		[QUEUE_COUNT_RCPT_FAILED] = METRIC_RCPT_FAILED,
	};
	struct queue_counter *c = NULL;
	size_t n = 0, i;
	struct op_err e;
	int k;

	if (m == NULL)
		return;
	if (queue_counters(q, &c, &n, &e) < 0) {
		log_event(LOG_WARN, "metrics", "error", e.msg, NULL);
		return;
	}
	for (i = 0; i < n; i++)
		for (k = 0; k < QUEUE_COUNT_N; k++)
			if (c[i].n[k] > 0)
				metric_set(metrics_get(m, ids[k], c[i].profile),
				    (int64_t)c[i].n[k]);
	free(c);
}

/* On the store's committer thread, once the record is on disk. */
static void
recorded(void *arg, int rc, int state, const struct op_err *e)
{
	struct pending *p = arg;

	if (rc < 0) {
		log_event(LOG_ERROR, "record", "id", p->id, "error",
		    e != NULL ? e->msg : "?", NULL);
	} else {
		observe_latency(p->metrics, p->profile, state, p->created);
	}
	pending_free(p);
}

/*
 * Write the outcome: results[i] for m->rcpts[i].  Deferred recipients
 * whose message outlived queue_lifetime fail for good instead.  The
 * daemon's workers do not wait for the commit (dc->async_record): the
 * message stays "sending" until it is on disk, and is sent again after a
 * crash before that (at least once).
 */
static int
record(const struct deliver_ctx *dc, const struct conf *conf,
    const struct deliver_msg *m, const char *profile, int *states,
    char (*texts)[QUEUE_REPLY_MAX], const int *codes, char (*enh)[16],
    const char *error, int give_up)
{
	struct pending *p = mem_alloc(sizeof(*p));
	size_t n = m->nrcpts ? m->nrcpts : 1, i, sent = 0;
	int64_t now = clock_wall_ms() / 1000, next;
	struct op_err e;
	int state, rc, expired = 0;

	p->metrics = dc->metrics;
	memcpy(p->id, m->id, sizeof(p->id));
	p->profile = profile != NULL ? str_dup(profile) : NULL;
	p->created = m->created;
	p->qr = mem_alloc(sizeof(*p->qr) * n);
	p->texts = mem_alloc(sizeof(*p->texts) * n);
	p->enh = mem_alloc(sizeof(*p->enh) * n);
	memcpy(p->texts, texts, sizeof(*p->texts) * m->nrcpts);
	memcpy(p->enh, enh, sizeof(*p->enh) * m->nrcpts);
	next = policy_next_attempt(now, m->since, conf->server.queue_lifetime_s,
	    conf->server.retry_s, conf->server.nretry, m->attempts + 1);
	for (i = 0; i < m->nrcpts; i++) {
		p->qr[i].idx = m->rcpt_idx[i];
		p->qr[i].state = states[i];
		if (states[i] == QUEUE_RCPT_DEFERRED && (next < 0 || give_up)) {
			p->qr[i].state = QUEUE_RCPT_FAILED;
			expired = 1;
		}
		p->qr[i].code = codes[i];
		p->qr[i].enhanced = p->enh[i];
		p->qr[i].reply = p->texts[i];
		/* suppression: a refusal that will not change */
		p->qr[i].suppressed = m->all_suppressed;
		p->qr[i].suppress = conf->server.suppress &&
		    !conf->redirect_enabled && !m->all_suppressed &&
		    states[i] == QUEUE_RCPT_FAILED &&
		    deliver_suppresses(codes[i], enh[i]);
		if (states[i] == QUEUE_RCPT_SENT)
			sent++;
	}
	if (expired && error != NULL) {
		char t[QUEUE_TEXT_MAX];

		snprintf(t, sizeof(t), "gave up: the queue lifetime "
		    "(queue_lifetime) is over; the last reply: %s", error);
		p->error = str_dup(t);
	} else if (expired)
		p->error = str_dup("gave up: the queue lifetime (queue_lifetime) is over");
	else if (error != NULL)
		p->error = str_dup(error);
	p->o.id = p->id;
	p->o.now = now;
	p->o.profile_used = p->profile;
	p->o.results = p->qr;
	p->o.nresults = m->nrcpts;
	p->o.next_attempt = next < 0 || expired ? now : next;
	p->o.error = p->error;
	p->o.sends = sent > 0 && profile != NULL ? 1 : 0;
	if (dc->async_record) {
		if (queue_record_async(dc->queue, &p->o, recorded, p, &e) == 0)
			return 0;
		log_event(LOG_ERROR, "record", "id", m->id, "error", e.msg, NULL);
		pending_free(p);
		return -1;
	}
	rc = queue_record(dc->queue, &p->o, &state, &e);
	recorded(p, rc, state, &e);
	return rc;
}

/* ---- Suppression ---- */

int
deliver_suppresses(int code, const char *enhanced)
{
	static const char *const codes[] = { "5.1.1", "5.1.10", "5.2.1" };
	size_t i;

	if (code < 500 || code > 599 || enhanced == NULL)
		return 0;
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(enhanced, codes[i]) == 0)
			return 1;
	return 0;
}

int
deliver_suppressed(const struct deliver_ctx *dc, const struct conf *conf,
    struct deliver_msg *m)
{
	struct deliver_msg t;
	struct op_err e;
	size_t i, k, n = m->nrcpts ? m->nrcpts : 1, ns = 0;
	int *states, *codes;
	char (*texts)[QUEUE_REPLY_MAX];
	char (*enh)[16];

	if (m->supp_done || !conf->server.suppress || m->nrcpts == 0)
		return 0;
	m->supp_done = 1;
	if (m->supp == NULL) {
		/* handed over by the listener: not claimed, so not known */
		m->supp = mem_alloc(sizeof(int) * n);
		if (queue_supp_check(dc->queue, (const char *const *)m->rcpts,
		    m->nrcpts, m->supp, &e) < 0) {
			log_event(LOG_ERROR, "suppression", "id", m->id, "error",
			    e.msg, NULL);
			return 0;      /* delivered: better than lost */
		}
	}
	for (i = 0; i < m->nrcpts; i++)
		ns += m->supp[i] != 0;
	if (ns == 0)
		return 0;
	memset(&t, 0, sizeof(t));
	memcpy(t.id, m->id, sizeof(t.id));
	t.rcpts = mem_alloc(sizeof(char *) * ns);
	t.rcpt_idx = mem_alloc(sizeof(unsigned) * ns);
	t.attempts = m->attempts;
	t.created = m->created;
	t.since = m->since;
	t.all_suppressed = 1;
	states = mem_alloc(sizeof(int) * ns);
	codes = mem_alloc(sizeof(int) * ns);
	texts = mem_alloc(sizeof(*texts) * ns);
	enh = mem_alloc(sizeof(*enh) * ns);
	for (i = k = 0; i < m->nrcpts; i++) {
		if (!m->supp[i]) {
			/* keep it in m */
			m->rcpts[k] = m->rcpts[i];
			m->rcpt_idx[k] = m->rcpt_idx[i];
			m->supp[k] = 0;
			k++;
			continue;
		}
		t.rcpts[t.nrcpts] = m->rcpts[i];
		t.rcpt_idx[t.nrcpts] = m->rcpt_idx[i];
		states[t.nrcpts] = QUEUE_RCPT_FAILED;
		snprintf(texts[t.nrcpts], sizeof(texts[0]), "suppressed: the "
		    "address was refused for good before; remove it from the "
		    "suppression list (outpost suppressions delete) to try again");
		log_line(m, NULL, NULL, m->rcpts[i], QUEUE_RCPT_FAILED, NULL,
		    "suppressed", clock_mono_ms(), NULL);
		t.nrcpts++;
	}
	m->nrcpts = k;
	record(dc, conf, &t, NULL, states, texts, codes, enh,
	    "suppressed: every recipient left was refused for good before", 0);
	for (i = 0; i < t.nrcpts; i++)
		free(t.rcpts[i]);
	free(t.rcpts);
	free(t.rcpt_idx);
	free(states);
	free(codes);
	free(texts);
	free(enh);
	return m->nrcpts == 0;
}
/* ---- end of suppression ---- */

int
deliver_expire(const struct deliver_ctx *dc, const struct conf *conf,
    const struct deliver_msg *m)
{
	int64_t now = clock_wall_ms() / 1000;
	struct op_err e;

	/* never failed without an attempt: the first one's result ends it
	 * (record(), deliver_wait()) */
	if (m->attempts == 0 ||
	    now - m->since <= (int64_t)conf->server.queue_lifetime_s)
		return 0;
	if (queue_fail(dc->queue, m->id, now,
	    "gave up: the queue lifetime (queue_lifetime) is over", &e) < 0)
		log_event(LOG_ERROR, "record", "id", m->id, "error", e.msg, NULL);
	else
		log_event(LOG_WARN, "expired", "id", m->id, NULL);
	return 1;
}

int
deliver_defer_all(const struct deliver_ctx *dc, const struct conf *conf,
    const struct deliver_msg *m, const char *profile, const char *reason)
{
	size_t n = m->nrcpts ? m->nrcpts : 1, i;
	int *states = mem_alloc(sizeof(int) * n);
	int *codes = mem_alloc(sizeof(int) * n);
	char (*texts)[QUEUE_REPLY_MAX] = mem_alloc(sizeof(*texts) * n);
	char (*enh)[16] = mem_alloc(sizeof(*enh) * n);
	int rc;

	int gave_up = policy_next_attempt(clock_wall_ms() / 1000, m->since,
	    conf->server.queue_lifetime_s, conf->server.retry_s,
	    conf->server.nretry, m->attempts + 1) < 0;

	for (i = 0; i < m->nrcpts; i++) {
		states[i] = QUEUE_RCPT_DEFERRED;
		log_sanitize(texts[i], sizeof(texts[i]), reason);
		/* one line per recipient and attempt: the failed session
		 * said it already (with its relay and reply) */
		if (!m->logged)
			log_line(m, profile, NULL, m->rcpts[i],
			    gave_up ? QUEUE_RCPT_FAILED : QUEUE_RCPT_DEFERRED, NULL,
			    reason, clock_mono_ms(), NULL);
	}
	rc = record(dc, conf, m, profile, states, texts, codes, enh, reason, 0);
	free(states);
	free(codes);
	free(texts);
	free(enh);
	return rc;
}

void
deliver_msg_set_waited(struct deliver_msg *m, const struct smtp_result *r)
{
	if (r == NULL || r->reply.code == 0)
		return;
	if (m->waited == NULL)
		m->waited = mem_alloc(sizeof(*m->waited));
	deliver_reply_set(m->waited, r);
}

void
deliver_reply_set(struct deliver_reply *dr, const struct smtp_result *r)
{
	dr->code = r->reply.code;
	smtp_reply_enh_text(&r->reply, dr->enhanced, sizeof(dr->enhanced));
	result_text(r, dr->text, sizeof(dr->text));
	if (dr->enhanced[0] != '\0')
		snprintf(dr->line, sizeof(dr->line), "%d %s %.*s", dr->code,
		    dr->enhanced, QUEUE_REPLY_MAX - 32, dr->text);
	else
		snprintf(dr->line, sizeof(dr->line), "%d %.*s", dr->code,
		    QUEUE_REPLY_MAX - 32, dr->text);
}

int
deliver_wait(const struct deliver_ctx *dc, const struct conf *conf,
    const struct deliver_msg *m, const char *profile, const char *why,
    int64_t wait_ms)
{
	const struct deliver_reply *dr = m->waited;
	const char *error = dr != NULL ? dr->line :
	    why != NULL && why[0] != '\0' ? why : NULL;
	int64_t wall = clock_wall_ms(), now = wall / 1000, due;
	struct queue_wait w;
	struct op_err e;

	/* due once the wait is over, not up to a second before (the queue
	 * counts whole seconds) */
	due = (wall + (wait_ms > 0 ? wait_ms : 0) + 999) / 1000;
	if (due <= now)
		due = now + 1;
	if (due - m->since > (int64_t)conf->server.queue_lifetime_s) {
		/* waiting would outlive the message: this was its last
		 * chance, an attempt that failed for good, with its reason */
		size_t n = m->nrcpts ? m->nrcpts : 1, i;
		int *states = mem_alloc(sizeof(int) * n);
		int *codes = mem_alloc(sizeof(int) * n);
		char (*texts)[QUEUE_REPLY_MAX] = mem_alloc(sizeof(*texts) * n);
		char (*enh)[16] = mem_alloc(sizeof(*enh) * n);
		int rc;

		if (error == NULL)
			error = "every enabled profile is paused or cooling down";
		for (i = 0; i < m->nrcpts; i++) {
			states[i] = QUEUE_RCPT_DEFERRED;
			codes[i] = dr != NULL ? dr->code : 0;
			str_copy(enh[i], sizeof(enh[i]), dr != NULL ? dr->enhanced : "");
			log_sanitize(texts[i], sizeof(texts[i]),
			    dr != NULL ? dr->text : error);
			if (!m->logged)
				log_line(m, profile, NULL, m->rcpts[i],
				    QUEUE_RCPT_FAILED, NULL, error, clock_mono_ms(),
				    NULL);
		}
		rc = record(dc, conf, m, profile, states, texts, codes, enh, error, 1);
		free(states);
		free(codes);
		free(texts);
		free(enh);
		return rc;
	}
	memset(&w, 0, sizeof(w));
	w.id = m->id;
	w.now = now;
	w.next_attempt = due;
	w.error = error;
	if (dr != NULL) {
		w.code = dr->code;
		w.enhanced = dr->enhanced;
		w.reply = dr->text;
	}
	if (queue_wait(dc->queue, &w, &e) < 0) {
		log_event(LOG_ERROR, "unclaim", "id", m->id, "error", e.msg, NULL);
		return -1;
	}
	return 0;
}

static int
unclaim(const struct deliver_ctx *dc, const struct deliver_msg *m,
    int64_t delay_s, const char *reason)
{
	struct op_err e;

	if (queue_unclaim(dc->queue, m->id, clock_wall_ms() / 1000 + delay_s,
	    reason, &e) < 0) {
		log_event(LOG_ERROR, "unclaim", "id", m->id, "error", e.msg, NULL);
		return -1;
	}
	return 0;
}

int
deliver_attempt(const struct deliver_ctx *dc, const struct conf *conf,
    const struct conf_profile *p, struct smtp_session *s,
    struct deliver_msg *m, struct smtp_result *res)
{
	const char *reports[256];
	const char *const *rcpts;
	size_t nr, i, n = m->nrcpts ? m->nrcpts : 1;
	char *raw = NULL;
	const char *wire = NULL;
	size_t rawlen = 0, wirelen = 0;
	struct buf body;
	struct buf dkim_body;   /* DKIM: signatures + the message signed */
	struct op_err e;
	struct smtp_envelope env;
	struct smtp_body src;
	struct smtp_mem_body mem;
	struct smtp_result *rr = NULL;
	char relay[320];
	struct attempt_log al = { p, relay, clock_mono_ms() };
	int *states = NULL, *codes = NULL, kind = DELIVER_DONE;
	char (*texts)[QUEUE_REPLY_MAX] = NULL;
	char (*enh)[16] = NULL;
	char error[QUEUE_TEXT_MAX] = "";
	const struct smtp_result *qr;

	/* as Postfix logs it: relay=host[address]:port */
	snprintf(relay, sizeof(relay), "%s[%s]:%u", p->host, smtp_client_peer(s), p->port);
	buf_init(&body, conf->server.max_message_size + DELIVER_BODY_EXTRA + m->size);
	buf_init(&dkim_body, 0);
	if (conf->redirect_enabled) {
		nr = report_addresses(conf, reports, sizeof(reports) / sizeof(reports[0]));
		if (nr == 0) {
			unclaim(dc, m, 60, "redirect is on but no report address is enabled: "
			    "enable one in [report ADDRESS] or turn redirect off");
			kind = DELIVER_NOT_READY;
			goto out;
		}
		rcpts = reports;
	} else {
		rcpts = (const char *const *)m->rcpts;
		nr = m->nrcpts;
	}
	if (m->body != NULL) {
		/* handed over by the listener: no need to read it back */
		wire = m->body;
		wirelen = m->body_len;
	} else if (queue_body_get(dc->queue, m->id, &raw, &rawlen, &e) < 0) {
		log_event(LOG_ERROR, "body", "id", m->id, "error", e.msg, NULL);
		unclaim(dc, m, 60, e.msg);
		kind = DELIVER_NOT_READY;
		goto out;
	} else {
		wire = raw;
		wirelen = rawlen;
	}
	if (!conf->redirect_enabled && !p->force_from) {
		/* sent as stored: no copy */
	} else if (build_body(conf, p, m, wire, wirelen, &body, &e) == 0) {
		wire = body.data;
		wirelen = body.len;
	} else {
		/* the stored message cannot be rewritten: that will not change */
		states = mem_alloc(sizeof(int) * n);
		codes = mem_alloc(sizeof(int) * n);
		texts = mem_alloc(sizeof(*texts) * n);
		enh = mem_alloc(sizeof(*enh) * n);
		for (i = 0; i < m->nrcpts; i++) {
			states[i] = QUEUE_RCPT_FAILED;
			log_sanitize(texts[i], sizeof(texts[i]), e.msg);
		}
		record(dc, conf, m, p->name, states, texts, codes, enh, e.msg, 0);
		goto out;
	}
	if (conf->ndkim > 0)    /* DKIM: last, over what is sent */
		dkim_sign_wire(conf, m, &wire, &wirelen, &dkim_body);

	env.sender = p->force_from && p->from != NULL ? p->from : m->sender;
	env.rcpts = rcpts;
	env.nrcpts = nr;
	env.deadline_ms = 0;    /* the session's deadline_s (deliver_params) */
	smtp_body_from_mem(&src, &mem, wire, wirelen);
	rr = mem_alloc(sizeof(*rr) * nr);
	for (i = 0; i < nr; i++)
		smtp_result_init(&rr[i]);
	smtp_client_send(s, &env, &src, rr, res);

	/* Faults of the profile, not of this message. */
	if (any_reply(rr, nr, res, is_421)) {
		const struct smtp_result *ar = abort_result(rr, nr, res, is_421);

		end_aborted(m, &al, rcpts, nr, ar, res);
		kind = DELIVER_PROFILE_DOWN;
		goto out;
	}
	/* ---- provider quotas and rates (relay/hints.h) ---- */
	if ((qr = rule_result(rr, nr, res, hint_provider(p), HINT_QUOTA)) != NULL) {
		/* a daily quota used up: not this message's failure; the
		 * relay pauses the profile and the message waits or fails
		 * over, its recipients deferred with this reply */
		end_aborted(m, &al, rcpts, nr, qr, res);
		kind = DELIVER_QUOTA;
		goto out;
	}
	if ((qr = rule_result(rr, nr, res, hint_provider(p), HINT_RATE)) != NULL) {
		end_aborted(m, &al, rcpts, nr, qr, res);
		kind = DELIVER_SLOWDOWN;
		goto out;
	}
	/* ---- end of provider quotas and rates ---- */
	if (any_reply(rr, nr, res, is_slow)) {
		const struct smtp_result *ar = abort_result(rr, nr, res, is_slow);

		end_aborted(m, &al, rcpts, nr, ar, res);
		kind = DELIVER_SLOWDOWN;
		goto out;
	}

	states = mem_alloc(sizeof(int) * n);
	codes = mem_alloc(sizeof(int) * n);
	texts = mem_alloc(sizeof(*texts) * n);
	enh = mem_alloc(sizeof(*enh) * n);
	if (conf->redirect_enabled) {
		/* each original recipient shares the fate of the report copy:
		 * sent if any report address took it */
		size_t best = 0;
		for (i = 1; i < nr; i++)
			if (rr[i].outcome < rr[best].outcome)
				best = i;
		for (i = 0; i < m->nrcpts; i++) {
			char t[QUEUE_REPLY_MAX - 300];

			states[i] = rcpt_state_of(rr[best].outcome);
			codes[i] = rr[best].reply.code;
			smtp_reply_enh_text(&rr[best].reply, enh[i], sizeof(enh[i]));
			result_text(&rr[best], t, sizeof(t));
			snprintf(texts[i], sizeof(texts[i]), "redirected to %s: %s",
			    rcpts[best], t);
		}
		for (i = 0; i < nr; i++)
			log_result(m, &al, rcpts[i], rcpt_state_of(rr[i].outcome), &rr[i]);
	} else {
		for (i = 0; i < nr; i++) {
			states[i] = rcpt_state_of(rr[i].outcome);
			codes[i] = rr[i].reply.code;
			smtp_reply_enh_text(&rr[i].reply, enh[i], sizeof(enh[i]));
			result_text(&rr[i], texts[i], sizeof(texts[i]));
			log_result(m, &al, rcpts[i], states[i], &rr[i]);
		}
	}
	/* the queue words last_error from the first recipient not sent
	 * ("550 5.1.1 text"); a local failure has no reply to quote */
	if (res->outcome != SMTP_DELIVERED && res->reply.code == 0)
		log_sanitize(error, sizeof(error), res->msg);
	record(dc, conf, m, p->name, states, texts, codes, enh,
	    error[0] ? error : NULL, 0);
out:
	if (rr != NULL) {
		for (i = 0; i < nr; i++)
			smtp_result_free(&rr[i]);
		free(rr);
	}
	free(states);
	free(codes);
	free(texts);
	free(enh);
	free(raw);
	buf_free(&body);
	buf_free(&dkim_body);
	return kind;
}
