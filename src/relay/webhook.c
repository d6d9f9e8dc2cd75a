/*
 * webhook.c - the senders of the events for the application (webhook.h).
 */
#include "relay/webhook.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "config/conf.h"
#include "util/buf.h"
#include "util/http_client.h"
#include "util/log.h"
#include "util/net.h"

_Static_assert(CONF_HOOK_QUEUED == QUEUE_HOOK_QUEUED &&
    CONF_HOOK_SENT == QUEUE_HOOK_SENT &&
    CONF_HOOK_DEFERRED == QUEUE_HOOK_DEFERRED &&
    CONF_HOOK_FAILED == QUEUE_HOOK_FAILED &&
    CONF_HOOK_SUPPRESSED == QUEUE_HOOK_SUPPRESSED,
    "one set of event bits");
_Static_assert(CONF_WEBHOOKS_MAX == QUEUE_HOOKS_MAX, "one bound");

#define SYNC_MS 1000                   /* the settings looked at again */

struct worker {
	struct webhooks *w;
	char name[QUEUE_HOOK_NAME_MAX];
	pthread_t thread;
	int done;                      /* under w->mu: it ended, join it */
	struct worker *next;
};

struct webhooks {
	struct settings *settings;
	struct queue *q;
	pthread_mutex_t mu;
	pthread_cond_t cv;             /* stop */
	int stop;
	int started;
	pthread_t manager;
	struct worker *workers;        /* under mu */
};

/* ---- The body and its signature ---- */

/* The body being built: a bounded buffer, and whether anything did not
 * fit (then no body at all: never a cut one). */
struct jb {
	struct buf b;
	int bad;
};

static void
jb_add(struct jb *j, const void *p, size_t n)
{
	if (!j->bad && buf_append(&j->b, p, n, NULL) < 0)
		j->bad = 1;
}

static void
jb_str(struct jb *j, const char *s)
{
	jb_add(j, s, strlen(s));
}

static void
jb_printf(struct jb *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
jb_printf(struct jb *j, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		j->bad = 1;
	else
		jb_add(j, tmp, (size_t)n);
}

/* s as a JSON string (quotes included), or null. */
static void
json_str(struct jb *j, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p;
	char u[7];

	if (s == NULL) {
		jb_str(j, "null");
		return;
	}
	jb_str(j, "\"");
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\') {
			u[0] = '\\';
			u[1] = (char)*p;
			jb_add(j, u, 2);
		} else if (*p < 0x20 || *p == 0x7f) {
			memcpy(u, "\\u00", 4);
			u[4] = hex[*p >> 4];
			u[5] = hex[*p & 15];
			jb_add(j, u, 6);
		} else {
			jb_add(j, p, 1);
		}
	}
	jb_str(j, "\"");
}

size_t
webhook_body(const struct queue_outbox_ev *ev, char *dst, size_t dstsz)
{
	struct jb j;
	size_t n = 0;

	if (dstsz == 0)
		return 0;
	buf_init(&j.b, dstsz - 1);
	j.bad = 0;
	jb_str(&j, "{\"event\":");
	json_str(&j, ev->kind);
	jb_printf(&j, ",\"event_id\":%" PRId64 ",\"id\":", ev->oid);
	json_str(&j, ev->id);
	jb_str(&j, ",\"recipient\":");
	json_str(&j, ev->rcpt);
	jb_printf(&j, ",\"code\":%d,\"enhanced\":", ev->code);
	json_str(&j, ev->enhanced != NULL ? ev->enhanced : "");
	jb_str(&j, ",\"reply\":");
	json_str(&j, ev->reply != NULL ? ev->reply : "");
	jb_str(&j, ",\"profile\":");
	json_str(&j, ev->profile);
	jb_str(&j, ",\"node\":");
	json_str(&j, ev->node);
	jb_printf(&j, ",\"attempt\":%u,\"time\":%" PRId64 ",\"webhook\":",
	    ev->attempt, ev->at);
	json_str(&j, ev->hook);
	/* the metadata as submitted: a JSON object checked by the API */
	jb_str(&j, ",\"metadata\":");
	jb_str(&j, ev->metadata != NULL && ev->metadata[0] == '{' ?
	    ev->metadata : "{}");
	jb_str(&j, "}");
	if (!j.bad && j.b.len < dstsz) {
		n = j.b.len;
		memcpy(dst, j.b.data, n);
	}
	dst[n] = '\0';
	buf_free(&j.b);
	return n;
}

void
webhook_sign(const char *secret, int64_t t, const char *body, size_t len,
    char *dst, size_t dstsz)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0, i;
	char ts[24], out[2 * EVP_MAX_MD_SIZE + 1];
	size_t tl;
	unsigned char *msg;

	/* HMAC-SHA256 over "t.body" (one-shot HMAC(): not deprecated) */
	tl = (size_t)snprintf(ts, sizeof(ts), "%" PRId64 ".", t);
	msg = mem_alloc(tl + len + 1);
	memcpy(msg, ts, tl);
	memcpy(msg + tl, body, len);
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, tl + len, md,
	    &mdlen) == NULL)
		mdlen = 0;
	free(msg);
	ts[tl - 1] = '\0';
	for (i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * mdlen] = '\0';
	snprintf(dst, dstsz, "Outpost-Signature: t=%s,v1=%s", ts, out);
}

/* ---- Senders ---- */

static int64_t
backoff_s(unsigned tries)
{
	int64_t d = (int64_t)1 << (tries < 9 ? tries : 9);

	return d < WEBHOOK_BACKOFF_MAX_S ? d : WEBHOOK_BACKOFF_MAX_S;
}

/* The url and secret of webhook name now (copies; url NULL: only whether
 * it is there), or -1 if it is gone. */
static int
hook_now(struct webhooks *w, const char *name, char **url, char **secret)
{
	const struct conf *c = settings_get(w->settings);
	size_t i;
	int rc = -1;

	for (i = 0; i < c->nwebhooks; i++)
		if (strcmp(c->webhooks[i].name, name) == 0 &&
		    c->webhooks[i].url != NULL && c->webhooks[i].secret != NULL) {
			if (url != NULL) {
				*url = str_dup(c->webhooks[i].url);
				*secret = str_dup(c->webhooks[i].secret);
			}
			rc = 0;
			break;
		}
	settings_put(w->settings, c);
	return rc;
}

static void
free_secret(char *s)
{
	if (s != NULL)
		explicit_bzero(s, strlen(s));
	free(s);
}

/* Sleep ms, or less if stopping; 1 if stopping. */
static int
nap(struct webhooks *w, int ms)
{
	struct timespec ts;
	int stop;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->mu);
	if (!w->stop)
		pthread_cond_timedwait(&w->cv, &w->mu, &ts);
	stop = w->stop;
	pthread_mutex_unlock(&w->mu);
	return stop;
}

/* POST one event; 0 delivered (2xx), -1 not (why in e; e->kind ERR_DATA:
 * the event can never be sent, its body does not fit). */
static int
post_one(void **conn, const char *url, const char *secret,
    const struct queue_outbox_ev *ev, char *body, struct op_err *e)
{
	struct http_reply rep;
	char sig[160];
	const char *hdrs[1];
	size_t len = webhook_body(ev, body, WEBHOOK_BODY_MAX);
	int rc;

	if (len == 0)
		return err_set(e, ERR_DATA, "the event does not fit in %d bytes",
		    WEBHOOK_BODY_MAX);
	webhook_sign(secret, clock_wall_ms() / 1000, body, len, sig, sizeof(sig));
	hdrs[0] = sig;
	rc = http_post_json(conn, url, body, len, hdrs, 1, WEBHOOK_TIMEOUT_S,
	    &rep, e);
	if (rc < 0) {
		/* a broken connection is not reused */
		http_handle_free(*conn);
		*conn = NULL;
		return -1;
	}
	rc = rep.status >= 200 && rep.status < 300 ? 0 : -1;
	if (rc < 0)
		err_set(e, ERR_PROTOCOL, "the receiver answered HTTP %ld",
		    rep.status);
	http_reply_free(&rep);
	return rc;
}

static void *
worker_main(void *arg)
{
	struct worker *k = arg;
	struct webhooks *w = k->w;
	struct queue_outbox_done done[WEBHOOK_BATCH];
	char *body = mem_alloc(WEBHOOK_BODY_MAX);
	void *conn = NULL;
	int idle = 0;

	pthread_setname_np(pthread_self(), "op-webhook");
	for (;;) {
		struct queue_set set;
		struct op_err e;
		char *url = NULL, *secret = NULL;
		int64_t now;
		size_t i;

		pthread_mutex_lock(&w->mu);
		i = (size_t)w->stop;
		pthread_mutex_unlock(&w->mu);
		if (i)
			break;
		if (idle) {
			uint64_t waiting = 1;

			/* idle: a read (the reader pool) before a claim (a
			 * write through the group commit's writer) */
			if (hook_now(w, k->name, NULL, NULL) < 0)
				break;
			if (queue_outbox_count(w->q, &waiting, &e) < 0)
				waiting = 1;
			if (waiting == 0) {
				if (nap(w, WEBHOOK_IDLE_MS))
					break;
				continue;
			}
		}
		if (hook_now(w, k->name, &url, &secret) < 0)
			break;
		now = clock_wall_ms() / 1000;
		if (queue_outbox_claim(w->q, k->name, now, WEBHOOK_BATCH, &set,
		    &e) < 0) {
			log_event(LOG_ERROR, "webhook", "name", k->name, "error",
			    e.msg, NULL);
			set.noutbox = 0;
		}
		for (i = 0; i < set.noutbox; i++) {
			const struct queue_outbox_ev *ev = &set.outbox[i];

			done[i].oid = ev->oid;
			done[i].next_try = 0;
			if (post_one(&conn, url, secret, ev, body, &e) == 0)
				continue;
			now = clock_wall_ms() / 1000;
			if (e.kind == ERR_DATA) {
				/* its body can never be built: no retry helps */
				log_event(LOG_WARN, "webhook_dropped", "name", k->name,
				    "id", ev->id, "kind", ev->kind, "rcpt", ev->rcpt,
				    "error", e.msg, NULL);
				continue;
			}
			if (now - ev->at >= WEBHOOK_KEEP_S) {
				char age[24];

				snprintf(age, sizeof(age), "%" PRId64 "s", now - ev->at);
				log_event(LOG_WARN, "webhook_dropped", "name", k->name,
				    "id", ev->id, "kind", ev->kind, "rcpt", ev->rcpt,
				    "age", age, "error", e.msg, NULL);
				continue;
			}
			done[i].next_try = now + backoff_s(ev->tries);
			if (ev->tries == 0)
				log_event(LOG_WARN, "webhook_retry", "name", k->name,
				    "id", ev->id, "kind", ev->kind, "error", e.msg,
				    NULL);
		}
		free(url);
		free_secret(secret);
		if (set.noutbox > 0 && queue_outbox_finish(w->q, done, set.noutbox,
		    &e) < 0)
			log_event(LOG_ERROR, "webhook", "name", k->name, "error",
			    e.msg, NULL);
		i = set.noutbox;
		queue_set_free(&set);
		idle = i == 0;
		if (idle && nap(w, WEBHOOK_IDLE_MS))
			break;
	}
	http_handle_free(conn);
	free(body);
	pthread_mutex_lock(&w->mu);
	k->done = 1;
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static int
running(struct webhooks *w, const char *name)
{
	struct worker *k;

	for (k = w->workers; k != NULL; k = k->next)
		if (!k->done && strcmp(k->name, name) == 0)
			return 1;
	return 0;
}

static size_t
hooks_of(const struct conf *c, struct queue_hook hooks[QUEUE_HOOKS_MAX])
{
	size_t i, n = 0;

	for (i = 0; i < c->nwebhooks && n < QUEUE_HOOKS_MAX; i++) {
		if (c->webhooks[i].url == NULL || c->webhooks[i].secret == NULL)
			continue;
		hooks[n].name = c->webhooks[i].name;
		hooks[n].events = c->webhooks[i].mask;
		n++;
	}
	return n;
}

int
webhook_hooks_set(struct queue *q, const struct conf *c, struct op_err *e)
{
	struct queue_hook hooks[QUEUE_HOOKS_MAX];

	return queue_hooks_set(q, hooks, hooks_of(c, hooks), e);
}

/* The webhooks of the settings now: the store's list, and senders for
 * each new one; those of removed ones end by themselves. */
static void
sync_hooks(struct webhooks *w)
{
	const struct conf *c = settings_get(w->settings);
	struct queue_hook hooks[QUEUE_HOOKS_MAX];
	struct worker *k, **pk;
	struct op_err e;
	size_t i, n = hooks_of(c, hooks);
	int j;

	if (queue_hooks_set(w->q, hooks, n, &e) < 0)
		log_event(LOG_ERROR, "webhook", "error", e.msg, NULL);
	pthread_mutex_lock(&w->mu);
	/* join the senders that ended */
	for (pk = &w->workers; (k = *pk) != NULL;) {
		if (k->done) {
			*pk = k->next;
			pthread_mutex_unlock(&w->mu);
			pthread_join(k->thread, NULL);
			free(k);
			pthread_mutex_lock(&w->mu);
			continue;
		}
		pk = &k->next;
	}
	for (i = 0; i < n && !w->stop; i++) {
		if (running(w, hooks[i].name))
			continue;
		for (j = 0; j < WEBHOOK_WORKERS; j++) {
			k = mem_alloc(sizeof(*k));
			k->w = w;
			str_copy(k->name, sizeof(k->name), hooks[i].name);
			if (pthread_create(&k->thread, NULL, worker_main, k) != 0) {
				log_event(LOG_ERROR, "webhook", "name", k->name, "error",
				    "cannot start a sender thread", NULL);
				free(k);
				break;
			}
			k->next = w->workers;
			w->workers = k;
		}
	}
	pthread_mutex_unlock(&w->mu);
	settings_put(w->settings, c);
}

static void *
manager_main(void *arg)
{
	struct webhooks *w = arg;

	pthread_setname_np(pthread_self(), "op-webhooks");
	while (!nap(w, SYNC_MS))
		sync_hooks(w);
	return NULL;
}

int
webhook_start(struct settings *settings, struct queue *q,
    struct webhooks **out, struct op_err *e)
{
	struct webhooks *w = mem_alloc(sizeof(*w));
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	w->settings = settings;
	w->q = q;
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	sync_hooks(w);
	rc = pthread_create(&w->manager, NULL, manager_main, w);
	if (rc != 0) {
		webhook_stop(w);
		return err_set(e, ERR_OSERR, "cannot start the webhook thread: %s",
		    strerror(rc));
	}
	w->started = 1;
	*out = w;
	return 0;
}

void
webhook_stop(struct webhooks *w)
{
	struct worker *k, *next;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	if (w->started)
		pthread_join(w->manager, NULL);
	for (k = w->workers; k != NULL; k = next) {
		next = k->next;
		pthread_join(k->thread, NULL);
		free(k);
	}
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}
