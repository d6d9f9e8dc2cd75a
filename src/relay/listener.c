/*
 * listener.c - the SMTP listener's event loop (see listener.h).
 *
 * Each connection is a struct conn in a slot table; epoll carries the
 * slot number and a generation, so a commit that completes after its
 * connection closed finds nobody and is dropped (the message is stored:
 * the client, which got no 250, may send it again: at least once).
 *
 * A bare local name as recipient (RCPT TO:<root>, what cron's mail says)
 * is accepted only if [server] aliases maps it (its own entry or
 * "default"; config/aliases.h), else refused with 550 5.1.1 naming
 * `aliases`; the stored message goes to the alias's addresses instead
 * (each address once).  A local name is never a sender.  A recipient
 * that would bring the addresses of the transaction (an alias counts its
 * addresses, each time it is given) past QUEUE_RCPTS_MAX, what the queue
 * stores, gets 452 4.5.3 at RCPT (RFC 5321 section 4.5.3.1.10).  The mapping is
 * the one of the settings the session started with (a SIGHUP reload
 * reaches the sessions that start after it).
 */
#include "relay/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gsasl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/aliases.h"
#include "mail/addr.h"
#include "relay/relay.h"
#include "smtp/server.h"
#include "smtp/tls.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/net.h"

#define LISTENER_READ_CHUNK 16384        /* one read from a socket */
#define LISTENER_PENDING_MAX 65536       /* unconsumed input per session */
#define LISTENER_EVENTS 256
#define LISTENER_TICK_MS 1000            /* timeout scan */
#define LISTENER_AUTH_MECHS "SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN"

struct listener;

struct conn {
	struct listener *l;
	unsigned slot;
	uint32_t gen;
	int fd;
	char peer[64];
	struct server *srv;
	struct tls_conn *tls;
	int handshaking;
	short tls_want;              /* POLLIN/POLLOUT the TLS layer waits for */
	struct buf pending;          /* read but not consumed by the session */
	int64_t deadline_ms;
	int64_t data_cap_ms;         /* the whole body must arrive by then */
	int in_data;
	uint32_t events;             /* registered epoll events */
	const struct conf *conf;     /* settings this session started with */
	Gsasl_session *sasl;
	char *client;                /* authenticated [client NAME] */
	size_t txn_addrs;            /* addresses this transaction's accepted
	                              * recipients expand to (cb_rcpt) */
};

/* A message on its way to disk, and back. */
struct ticket {
	struct listener *l;
	unsigned slot;
	uint32_t gen;
	struct server_message *msg;
	struct queue_new qn;
	int how;                     /* enum relay_how */
	int rc;
	char id[QUEUE_ID_SIZE];
	char error[ERR_MSG_MAX];
	struct ticket *next;
};

struct listener {
	struct settings *settings;
	struct queue *queue;
	void (*on_queued)(void *arg);
	void *arg;
	int (*reserve)(void *arg, size_t len);
	void (*unreserve)(void *arg, int how, size_t len);
	void (*handoff)(void *arg, const char *id, const char *sender,
	    char *const *rcpts, size_t nrcpts, char *body, size_t len);
	int lfd, efd, wakefd;
	int loopback;
	struct tls_ctx *tls;
	Gsasl *gsasl;
	pthread_t thread;
	int stopping;                /* set by listener_stop */
	int64_t stop_deadline;
	struct conn **conns;         /* slot table */
	unsigned nslots, nopen;
	uint32_t next_gen;
	unsigned commits_owed;
	char *refuse;                /* the queue is unusable: why */
	pthread_mutex_t lock;        /* guards done list, stopping */
	struct ticket *done;
};

/* ---- callbacks from the session ---- */

static int
cb_validate(void *arg, const char *mailbox, int smtputf8)
{
	struct addr_mailbox mb;

	(void)arg;
	if (aliases_is_local(mailbox))
		return 0;               /* cb_mail and cb_rcpt decide */
	if (addr_parse_mailbox(mailbox, &mb, NULL) < 0)
		return -1;
	if ((mb.flags & ADDR_F_UTF8) && !smtputf8)
		return -1;
	return 0;
}

static const struct conf_client *
find_client(const struct conf *conf, const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < conf->nclients; i++)
		if (strcmp(conf->clients[i].name, name) == 0)
			return &conf->clients[i];
	return NULL;
}

static int
cb_mail(void *arg, const char *sender, const struct server_mail_params *params,
    struct server_reply *r)
{
	struct conn *c = arg;
	const struct conf_client *cl;
	struct addr_mailbox mb;
	size_t i;

	(void)params;
	c->txn_addrs = 0;               /* a new transaction (after RSET too) */
	if (sender[0] != '\0' && strchr(sender, '@') == NULL) {
		r->code = 553;
		str_copy(r->enh, sizeof(r->enh), "5.1.7");
		str_copy(r->text, sizeof(r->text), "A sender must be a full "
		    "address (local@domain); aliases map recipients only");
		return -1;
	}
	if (!c->conf->server.smtp_auth)
		return 0;
	cl = find_client(c->conf, c->client);
	if (cl == NULL || cl->nallowed_from == 0)
		return 0;
	if (sender[0] != '\0' && addr_parse_mailbox(sender, &mb, NULL) == 0)
		for (i = 0; i < cl->nallowed_from; i++)
			if (addr_match_pattern(cl->allowed_from[i], &mb))
				return 0;
	r->code = 550;
	str_copy(r->enh, sizeof(r->enh), "5.7.1");
	snprintf(r->text, sizeof(r->text), "Sender address not allowed for client %s", cl->name);
	return -1;
}

/*
 * A bare local name must have an alias, and the transaction's addresses
 * stay within what the queue stores (see the top of the file).
 */
static int
cb_rcpt(void *arg, const char *rcpt, struct server_reply *r)
{
	struct conn *c = arg;
	char *const *t;
	size_t n = 1;
	struct op_err e;

	if (strchr(rcpt, '@') == NULL &&
	    aliases_lookup(c->conf->alias_map, rcpt, &t, &n, &e) < 0) {
		r->code = 550;
		str_copy(r->enh, sizeof(r->enh), "5.1.1");
		str_copy(r->text, sizeof(r->text), e.msg);
		return -1;
	}
	if (n > QUEUE_RCPTS_MAX - c->txn_addrs) {
		r->code = 452;
		str_copy(r->enh, sizeof(r->enh), "4.5.3");
		str_copy(r->text, sizeof(r->text), "Too many recipients");
		return -1;
	}
	c->txn_addrs += n;
	return 0;
}

/*
 * Replace the local names among m's recipients by their aliases'
 * addresses, keeping order and each address once.  cb_rcpt accepted only
 * names that have one, and the session's settings do not change; it also
 * kept the total within QUEUE_RCPTS_MAX, which bounds the loops here.
 */
static void
expand_aliases(struct conn *c, struct server_message *m)
{
	char **v = NULL, *const *t;
	size_t i, j, k, nt, n = 0, cap = 0;
	struct op_err e;
	int any = 0;

	for (i = 0; i < m->nrcpts && !any; i++)
		any = strchr(m->rcpts[i], '@') == NULL;
	if (!any)
		return;
	for (i = 0; i < m->nrcpts; i++) {
		const char *one[1] = { m->rcpts[i] };
		char *const *list = (char *const *)one;

		nt = 1;
		if (strchr(m->rcpts[i], '@') == NULL) {
			if (aliases_lookup(c->conf->alias_map, m->rcpts[i], &t,
			    &nt, &e) < 0)
				continue;       /* not reached: cb_rcpt checked */
			list = t;
			log_event(LOG_INFO, "smtp_alias", "peer", c->peer, "name",
			    m->rcpts[i], "to", t[0], NULL);
		}
		for (j = 0; j < nt; j++) {
			for (k = 0; k < n && strcasecmp(v[k], list[j]) != 0; k++)
				;
			if (k < n)
				continue;
			if (n == cap) {
				cap = cap ? 2 * cap : 8;
				v = mem_realloc(v, cap * sizeof(*v));
			}
			v[n++] = str_dup(list[j]);
		}
	}
	for (i = 0; i < m->nrcpts; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
	m->rcpts = v;
	m->nrcpts = n;
}

static int
sasl_callback(Gsasl *ctx, Gsasl_session *sctx, Gsasl_property prop)
{
	struct conn *c = gsasl_session_hook_get(sctx);
	const struct conf_client *cl;
	const char *authid, *authzid;

	(void)ctx;
	if (c == NULL)
		return GSASL_NO_CALLBACK;
	authid = gsasl_property_fast(sctx, GSASL_AUTHID);
	authzid = gsasl_property_fast(sctx, GSASL_AUTHZID);
	cl = find_client(c->conf, authid);
	switch (prop) {
	case GSASL_PASSWORD:
		if (cl == NULL || cl->password == NULL)
			return GSASL_NO_PASSWORD;
		return gsasl_property_set(sctx, GSASL_PASSWORD, cl->password);
	case GSASL_VALIDATE_SIMPLE: {
		const char *pw = gsasl_property_fast(sctx, GSASL_PASSWORD);
		size_t a, b, i;
		unsigned char diff = 0;

		if (cl == NULL || cl->password == NULL || pw == NULL)
			return GSASL_AUTHENTICATION_ERROR;
		if (authzid != NULL && authzid[0] != '\0' && strcmp(authzid, authid) != 0)
			return GSASL_AUTHENTICATION_ERROR;
		a = strlen(pw);
		b = strlen(cl->password);
		diff = (unsigned char)(a != b);
		for (i = 0; i < a && i < b; i++)
			diff |= (unsigned char)(pw[i] ^ cl->password[i]);
		return diff == 0 ? GSASL_OK : GSASL_AUTHENTICATION_ERROR;
	}
	default:
		return GSASL_NO_CALLBACK;
	}
}

static void
cb_auth_reset(void *arg)
{
	struct conn *c = arg;

	if (c->sasl != NULL) {
		gsasl_finish(c->sasl);
		c->sasl = NULL;
	}
	free(c->client);
	c->client = NULL;
}

static int
cb_auth_step(void *arg, const char *mech, const char *response,
    struct buf *challenge, struct server_reply *r)
{
	struct conn *c = arg;
	char *out = NULL;
	int rc;

	(void)r;
	if (c->sasl == NULL) {
		if (gsasl_server_start(c->l->gsasl, mech, &c->sasl) != GSASL_OK)
			return SERVER_AUTH_TEMPFAIL;
		gsasl_session_hook_set(c->sasl, c);
	}
	rc = gsasl_step64(c->sasl, response != NULL ? response : "", &out);
	if (rc == GSASL_NEEDS_MORE || rc == GSASL_OK) {
		if (out != NULL && out[0] != '\0' &&
		    buf_appendstr(challenge, out, NULL) < 0) {
			gsasl_free(out);
			cb_auth_reset(c);
			return SERVER_AUTH_FAIL;
		}
		gsasl_free(out);
		if (rc == GSASL_NEEDS_MORE)
			return SERVER_AUTH_CONTINUE;
		const char *who = gsasl_property_fast(c->sasl, GSASL_AUTHID);
		if (who == NULL || find_client(c->conf, who) == NULL) {
			cb_auth_reset(c);
			return SERVER_AUTH_FAIL;
		}
		free(c->client);
		c->client = str_dup(who);
		gsasl_finish(c->sasl);
		c->sasl = NULL;
		log_event(LOG_INFO, "smtp_auth", "peer", c->peer, "client", c->client,
		    "mech", mech, "result", "ok", NULL);
		return SERVER_AUTH_OK;
	}
	gsasl_free(out);
	log_event(LOG_WARN, "smtp_auth", "peer", c->peer, "mech", mech,
	    "result", "refused", NULL);
	cb_auth_reset(c);
	return SERVER_AUTH_FAIL;
}

static void
commit_done(void *arg, int rc, const char *id, const struct op_err *e)
{
	struct ticket *t = arg;
	struct listener *l = t->l;
	uint64_t one = 1;
	ssize_t w;
	int first;

	t->rc = rc;
	if (rc == 0)
		str_copy(t->id, sizeof(t->id), id);
	else
		str_copy(t->error, sizeof(t->error), e != NULL ? e->msg : "queue write failed");
	pthread_mutex_lock(&l->lock);
	first = l->done == NULL;
	t->next = l->done;
	l->done = t;
	pthread_mutex_unlock(&l->lock);
	/* one wake-up per batch: the listener takes the whole list after
	 * reading the eventfd, so only the ticket that finds it empty calls */
	if (first) {
		w = write(l->wakefd, &one, sizeof(one));
		(void)w;
	}
}

/*
 * Prepend the trace field every relay adds (RFC 5321 section 4.4):
 *   Received: from HELO (PEER) by HOSTNAME (Outpost) with ESMTPSA; DATE
 * The protocol name says TLS (S) and AUTH (A) as in RFC 3848.
 */
static int
add_received(struct conn *c, struct server_message *m)
{
	char date[64], helo[128], line[512];
	char *body;
	int n;

	clock_rfc5322(clock_wall_ms() / 1000, date, sizeof(date));
	log_sanitize(helo, sizeof(helo), m->helo != NULL ? m->helo : "");
	n = snprintf(line, sizeof(line),
	    "Received: from %s (%s)\r\n\tby %s (Outpost) with ESMTP%s%s;\r\n\t%s\r\n",
	    helo[0] ? helo : "unknown", c->peer, c->conf->server.hostname,
	    m->tls ? "S" : "", m->authenticated ? "A" : "", date);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -1;
	body = malloc((size_t)n + m->body_len + 1);
	if (body == NULL)
		return -1;
	memcpy(body, line, (size_t)n);
	memcpy(body + n, m->body, m->body_len);
	body[(size_t)n + m->body_len] = '\0';
	free(m->body);
	m->body = body;
	m->body_len += (size_t)n;
	return 0;
}

static void
cb_message(void *arg, struct server_message *m)
{
	struct conn *c = arg;
	struct ticket *t = mem_alloc(sizeof(*t));
	struct op_err e;

	t->l = c->l;
	t->slot = c->slot;
	t->gen = c->gen;
	t->msg = m;
	expand_aliases(c, m);
	t->qn.sender = m->sender;
	t->qn.rcpts = (const char *const *)m->rcpts;
	t->qn.nrcpts = m->nrcpts;
	if (add_received(c, m) < 0) {
		server_message_free(m);
		free(t);
		struct server_reply fail;
		memset(&fail, 0, sizeof(fail));
		fail.code = 452;
		str_copy(fail.enh, sizeof(fail.enh), "4.3.1");
		str_copy(fail.text, sizeof(fail.text), "Insufficient system storage");
		server_message_done(c->srv, NULL, &fail, NULL);
		return;
	}
	t->qn.body = m->body;
	t->qn.len = m->body_len;
	t->how = c->l->reserve != NULL ? c->l->reserve(c->l->arg, m->body_len) :
	    RELAY_QUEUE;
	t->qn.state = t->how == RELAY_TAKE ? QUEUE_MSG_SENDING :
	    t->how == RELAY_HOLD ? QUEUE_MSG_HELD : QUEUE_MSG_QUEUED;
	t->qn.profile = NULL;
	c->l->commits_owed++;
	if (queue_submit_async(c->l->queue, &t->qn, commit_done, t, &e) < 0) {
		struct server_reply fail;

		c->l->commits_owed--;
		if (t->how != RELAY_QUEUE)
			c->l->unreserve(c->l->arg, t->how, m->body_len);
		memset(&fail, 0, sizeof(fail));
		fail.code = e.kind == ERR_DATA ? 554 : 451;
		str_copy(fail.enh, sizeof(fail.enh), e.kind == ERR_DATA ? "5.3.0" : "4.3.0");
		str_copy(fail.text, sizeof(fail.text), e.msg);
		log_event(LOG_ERROR, "smtp_queue", "peer", c->peer, "error", e.msg, NULL);
		server_message_free(m);
		free(t);
		server_message_done(c->srv, NULL, &fail, NULL);
	}
}

/* ---- connections ---- */

static void
conn_close(struct listener *l, struct conn *c)
{
	epoll_ctl(l->efd, EPOLL_CTL_DEL, c->fd, NULL);
	cb_auth_reset(c);
	tls_conn_free(c->tls);
	server_free(c->srv);
	close(c->fd);
	buf_free(&c->pending);
	settings_put(l->settings, c->conf);
	l->conns[c->slot] = NULL;
	l->nopen--;
	free(c);
}

static void
conn_arm(struct listener *l, struct conn *c)
{
	size_t olen = 0;
	uint32_t ev = 0;
	struct epoll_event ee;

	server_output(c->srv, &olen);
	if (c->handshaking) {
		ev = c->tls_want == POLLOUT ? EPOLLOUT : EPOLLIN;
	} else {
		if (olen > 0 || (c->tls != NULL && c->tls_want == POLLOUT))
			ev |= EPOLLOUT;
		if (server_want_input(c->srv) && c->pending.len == 0 && !server_want_close(c->srv))
			ev |= EPOLLIN;
	}
	ev |= EPOLLRDHUP;
	if (ev == c->events)
		return;
	memset(&ee, 0, sizeof(ee));
	ee.events = ev;
	ee.data.u64 = ((uint64_t)c->gen << 32) | c->slot;
	epoll_ctl(l->efd, EPOLL_CTL_MOD, c->fd, &ee);
	c->events = ev;
}

/* Write what the session produced.  0 ok (maybe partial), -1 broken. */
static int
conn_flush(struct conn *c)
{
	size_t olen, done;
	const char *out;
	short want = 0;
	int rc;

	while ((out = server_output(c->srv, &olen)), olen > 0) {
		if (c->tls != NULL) {
			rc = tls_nb_write(c->tls, out, olen, &done, &want, NULL);
			if (rc < 0)
				return -1;
			if (done > 0)
				server_output_consume(c->srv, done);
			if (rc == 1) {
				c->tls_want = want;
				return 0;
			}
		} else {
			ssize_t w = send(c->fd, out, olen, MSG_NOSIGNAL);
			if (w < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					return 0;
				if (errno == EINTR)
					continue;
				return -1;
			}
			server_output_consume(c->srv, (size_t)w);
		}
	}
	c->tls_want = 0;
	return 0;
}

/* Read once.  1 got bytes into dst, 0 would block, -1 closed or broken. */
static int
conn_read(struct conn *c, char *dst, size_t n, size_t *got)
{
	short want = 0;
	int rc;

	*got = 0;
	if (c->tls != NULL) {
		rc = tls_nb_read(c->tls, dst, n, got, &want, NULL);
		if (rc < 0)
			return -1;
		if (rc == 1) {
			c->tls_want = want;
			return 0;
		}
		return *got > 0 ? 1 : -1;
	}
	for (;;) {
		ssize_t r = recv(c->fd, dst, n, 0);
		if (r > 0) {
			*got = (size_t)r;
			return 1;
		}
		if (r == 0)
			return -1;
		if (errno == EINTR)
			continue;
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
	}
}

static void
conn_touch(struct conn *c)
{
	unsigned t = server_timeout_s(c->srv);

	c->deadline_ms = t > 0 ? clock_mono_ms() + (int64_t)t * 1000 : 0;
}

/*
 * The deadline after input was fed.  A command must be complete within
 * the command timeout of its first byte: bytes that end no command do not
 * extend it, so a client dripping a byte at a time cannot hold a session
 * (and a place under smtp_max_sessions) for ever.  While a body arrives,
 * each read extends it (RFC 5321 4.5.3.2.5 is per data block), but the
 * whole body must arrive within LISTENER_DATA_CAP timeouts.
 */
#define LISTENER_DATA_CAP 4

static void
conn_progress(struct conn *c, size_t out_before)
{
	size_t out_after;
	int in_data = server_in_data(c->srv);
	unsigned t = server_timeout_s(c->srv);
	int64_t now = clock_mono_ms();

	server_output(c->srv, &out_after);
	if (in_data && !c->in_data)
		c->data_cap_ms = now + (int64_t)t * 1000 * LISTENER_DATA_CAP;
	if (out_after != out_before || in_data != c->in_data) {
		conn_touch(c);          /* a command was answered: a new one */
	} else if (in_data && t > 0) {
		int64_t d = now + (int64_t)t * 1000;
		c->deadline_ms = d < c->data_cap_ms ? d : c->data_cap_ms;
	}
	c->in_data = in_data;
}

/* Feed pending input to the session; drop what it consumed. */
static void
conn_feed_pending(struct conn *c)
{
	size_t used;

	if (c->pending.len == 0 || !server_want_input(c->srv))
		return;
	used = server_feed(c->srv, c->pending.data, c->pending.len);
	buf_consume(&c->pending, used);
}

/* Move the connection as far as it can go without blocking. */
static void
conn_run(struct listener *l, struct conn *c)
{
	char in[LISTENER_READ_CHUNK];
	size_t got, used;
	int rc, progress, drained = 0;
	struct op_err e;

	do {
		progress = 0;
		if (c->handshaking) {
			short want = 0;

			rc = tls_nb_handshake(c->tls, &want, &e);
			if (rc == 1) {
				c->tls_want = want;
				break;
			}
			c->handshaking = 0;
			c->tls_want = 0;
			if (rc < 0)
				log_event(LOG_INFO, "smtp_tls", "peer", c->peer,
				    "result", "failed", "error", e.msg, NULL);
			server_starttls_done(c->srv, rc == 0, NULL);
			conn_touch(c);
			progress = 1;
		}
		if (conn_flush(c) < 0) {
			conn_close(l, c);
			return;
		}
		server_output(c->srv, &got);
		if (got > 0)
			break;          /* wait until the client takes its replies */
		if (server_want_close(c->srv)) {
			conn_close(l, c);
			return;
		}
		if (server_want_starttls(c->srv) && c->tls == NULL && !c->handshaking) {
			if (l->tls == NULL || tls_server_conn_new(l->tls, c->fd, &c->tls, &e) < 0) {
				server_starttls_done(c->srv, 0, NULL);
			} else {
				c->handshaking = 1;
				conn_touch(c);
				/* input read before the handshake is discarded by the
				 * session (RFC 3207 section 4.2): feed it now */
				if (c->pending.len > 0) {
					server_feed(c->srv, c->pending.data, c->pending.len);
					buf_reset(&c->pending);
				}
			}
			progress = 1;
			continue;
		}
		if (c->pending.len > 0) {
			size_t before = c->pending.len, out_before;

			server_output(c->srv, &out_before);
			conn_feed_pending(c);
			if (c->pending.len != before) {
				conn_progress(c, out_before);
				progress = 1;
			}
			continue;
		}
		/* a short plain read emptied the socket: another would only
		 * say EAGAIN (epoll is level-triggered and tells of more) */
		if (!server_want_input(c->srv) || drained)
			break;
		rc = conn_read(c, in, sizeof(in), &got);
		if (rc < 0) {
			conn_close(l, c);
			return;
		}
		if (rc == 0)
			break;
		drained = c->tls == NULL && got < sizeof(in);
		{
			size_t out_before;

			server_output(c->srv, &out_before);
			used = server_feed(c->srv, in, got);
			if (used < got && buf_append(&c->pending, in + used, got - used, NULL) < 0) {
				conn_close(l, c);
				return;
			}
			conn_progress(c, out_before);
		}
		progress = 1;
	} while (progress);
	conn_arm(l, c);
}

static void
conn_accept(struct listener *l)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct server_settings set;
		struct epoll_event ee;
		struct conn *c;
		struct op_err e;
		char addr[INET6_ADDRSTRLEN];
		unsigned slot, port = 0;
		int fd, one = 1;

		fd = accept4(l->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_event(LOG_WARN, "smtp_accept", "error", strerror(errno), NULL);
			return;
		}
		setsockopt(fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof(one));
		net_addr_text((struct sockaddr *)&ss, addr, sizeof(addr));
		if (ss.ss_family == AF_INET)
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		if (l->refuse != NULL) {
			char line[600];
			int n = snprintf(line, sizeof(line), "421 4.3.5 Cannot store mail now: %s\r\n",
			    l->refuse);
			ssize_t w = send(fd, line, n > 0 && (size_t)n < sizeof(line) ? (size_t)n :
			    strlen(line), MSG_NOSIGNAL);
			(void)w;
			close(fd);
			log_event(LOG_WARN, "smtp_refused", "peer", addr, "reason", l->refuse, NULL);
			continue;
		}
		if (l->nopen >= l->nslots || l->stopping) {
			static const char busy[] = "421 4.3.2 Too many connections, try again later\r\n";
			ssize_t w = send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL);
			(void)w;
			close(fd);
			log_event(LOG_WARN, "smtp_refused", "peer", addr, "reason", "too many connections", NULL);
			continue;
		}
		for (slot = 0; slot < l->nslots && l->conns[slot] != NULL; slot++)
			;
		c = mem_alloc(sizeof(*c));
		c->l = l;
		c->slot = slot;
		c->gen = ++l->next_gen;
		c->fd = fd;
		snprintf(c->peer, sizeof(c->peer), "%s:%u", addr, port);
		buf_init(&c->pending, LISTENER_PENDING_MAX);
		c->conf = settings_get(l->settings);

		memset(&set, 0, sizeof(set));
		set.hostname = c->conf->server.hostname;
		set.peer = c->peer;
		set.max_message_size = c->conf->server.max_message_size;
		set.timeout_command_s = c->conf->server.smtp_timeout_s;
		set.timeout_data_s = c->conf->server.smtp_timeout_s;
		set.tls_available = l->tls != NULL;
		set.auth_available = c->conf->server.smtp_auth;
		set.auth_required = c->conf->server.smtp_auth;
		set.auth_plaintext = l->loopback;
		set.auth_mechs = LISTENER_AUTH_MECHS;
		set.arg = c;
		set.validate_address = cb_validate;
		set.on_mail = cb_mail;
		set.on_rcpt = cb_rcpt;
		set.auth_step = cb_auth_step;
		set.auth_reset = cb_auth_reset;
		set.on_message = cb_message;
		c->srv = server_new(&set, &e);
		if (c->srv == NULL) {
			log_event(LOG_ERROR, "smtp_session", "error", e.msg, NULL);
			settings_put(l->settings, c->conf);
			buf_free(&c->pending);
			close(fd);
			free(c);
			continue;
		}
		l->conns[slot] = c;
		l->nopen++;
		memset(&ee, 0, sizeof(ee));
		ee.events = EPOLLOUT | EPOLLRDHUP;
		ee.data.u64 = ((uint64_t)c->gen << 32) | c->slot;
		c->events = ee.events;
		epoll_ctl(l->efd, EPOLL_CTL_ADD, fd, &ee);
		conn_touch(c);
		conn_run(l, c);
	}
}

static struct conn *
conn_lookup(struct listener *l, unsigned slot, uint32_t gen)
{
	struct conn *c;

	if (slot >= l->nslots)
		return NULL;
	c = l->conns[slot];
	return c != NULL && c->gen == gen ? c : NULL;
}

/* Commits that came back: answer their sessions. */
static void
drain_commits(struct listener *l)
{
	struct ticket *t, *next, *rev = NULL;
	uint64_t v;
	ssize_t r = read(l->wakefd, &v, sizeof(v));
	int any = 0;

	(void)r;
	pthread_mutex_lock(&l->lock);
	t = l->done;
	l->done = NULL;
	pthread_mutex_unlock(&l->lock);
	for (; t != NULL; t = next) {       /* oldest first */
		next = t->next;
		t->next = rev;
		rev = t;
	}
	for (t = rev; t != NULL; t = next) {
		struct conn *c = conn_lookup(l, t->slot, t->gen);

		next = t->next;
		l->commits_owed--;
		if (t->rc == 0 && t->how == RELAY_QUEUE)
			any = 1;        /* queued the ordinary way: wake the scheduler */
		if (c != NULL) {
			if (t->rc == 0) {
				server_message_done(c->srv, t->id, NULL, NULL);
			} else {
				struct server_reply fail;

				memset(&fail, 0, sizeof(fail));
				/* the client is told to retry; the details (file
				 * names, the disk) are for the log only */
				fail.code = 451;
				str_copy(fail.enh, sizeof(fail.enh), "4.3.0");
				str_copy(fail.text, sizeof(fail.text),
				    "Cannot store the message now, try again later");
				log_event(LOG_ERROR, "smtp_queue", "peer", c->peer, "error", t->error, NULL);
				server_message_done(c->srv, NULL, &fail, NULL);
			}
			conn_touch(c);
			conn_run(l, c);
		}
		if (t->how == RELAY_TAKE && t->rc == 0) {
			/* delivery takes the body; the session is done with it */
			struct server_message *m = t->msg;

			l->handoff(l->arg, t->id, m->sender, m->rcpts, m->nrcpts,
			    m->body, m->body_len);
			m->body = NULL;
		} else if (t->how != RELAY_QUEUE) {
			l->unreserve(l->arg, t->how, t->msg->body_len);
		}
		server_message_free(t->msg);
		free(t);
	}
	if (any && l->on_queued != NULL)
		l->on_queued(l->arg);
}

static void
check_timeouts(struct listener *l)
{
	int64_t now = clock_mono_ms();
	unsigned i;

	for (i = 0; i < l->nslots; i++) {
		struct conn *c = l->conns[i];

		if (c == NULL || c->deadline_ms == 0 || now < c->deadline_ms)
			continue;
		if (c->handshaking) {
			conn_close(l, c);
			continue;
		}
		if (server_timeout(c->srv, NULL) == 0) {
			log_event(LOG_INFO, "smtp_timeout", "peer", c->peer, NULL);
			c->deadline_ms = 0;
			conn_run(l, c);
		}
	}
}

static void
shutdown_sessions(struct listener *l)
{
	unsigned i;

	for (i = 0; i < l->nslots; i++) {
		struct conn *c = l->conns[i];

		if (c == NULL || server_waiting_for_commit(c->srv))
			continue;
		if (c->handshaking) {
			conn_close(l, c);
			continue;
		}
		if (server_shutdown(c->srv, NULL) == 0)
			conn_run(l, c);
	}
}

static void *
loop_main(void *arg)
{
	struct listener *l = arg;
	struct epoll_event ev[LISTENER_EVENTS];
	int64_t last_tick = clock_mono_ms();
	int stopping_seen = 0;

	pthread_setname_np(pthread_self(), "op-listener");

	for (;;) {
		int n, i, stopping;

		pthread_mutex_lock(&l->lock);
		stopping = l->stopping;
		pthread_mutex_unlock(&l->lock);
		if (stopping && !stopping_seen) {
			stopping_seen = 1;
			epoll_ctl(l->efd, EPOLL_CTL_DEL, l->lfd, NULL);
			shutdown_sessions(l);
		}
		if (stopping_seen) {
			shutdown_sessions(l);       /* sessions whose commit came back */
			if ((l->nopen == 0 && l->commits_owed == 0) ||
			    clock_mono_ms() >= l->stop_deadline)
				break;
		}
		n = epoll_wait(l->efd, ev, LISTENER_EVENTS, stopping_seen ? 50 : LISTENER_TICK_MS);
		if (n < 0 && errno != EINTR)
			break;
		for (i = 0; i < n; i++) {
			uint64_t d = ev[i].data.u64;

			if (d == UINT64_MAX) {
				conn_accept(l);
			} else if (d == UINT64_MAX - 1) {
				drain_commits(l);
			} else if (d == UINT64_MAX - 2) {
				uint64_t v;
				ssize_t r = read(l->wakefd + 0, &v, 0);
				(void)r;
			} else {
				struct conn *c = conn_lookup(l, (unsigned)(d & 0xffffffffu), (uint32_t)(d >> 32));

				if (c == NULL)
					continue;
				if ((ev[i].events & (EPOLLERR | EPOLLHUP)) &&
				    !(ev[i].events & EPOLLIN)) {
					conn_close(l, c);
					continue;
				}
				conn_run(l, c);
			}
		}
		if (clock_mono_ms() - last_tick >= LISTENER_TICK_MS) {
			last_tick = clock_mono_ms();
			check_timeouts(l);
		}
	}
	return NULL;
}

int
listener_start(const struct listener_deps *d, struct listener **out,
    struct op_err *e)
{
	struct listener *l = mem_alloc(sizeof(*l));
	const struct conf *conf = settings_get(d->settings);
	struct epoll_event ee;
	int rc = -1;

	l->settings = d->settings;
	l->queue = d->queue;
	l->on_queued = d->on_queued;
	l->arg = d->arg;
	if (d->reserve != NULL && d->unreserve != NULL && d->handoff != NULL) {
		l->reserve = d->reserve;
		l->unreserve = d->unreserve;
		l->handoff = d->handoff;
	}
	if (d->refuse != NULL) {
		char clean[400];

		log_sanitize(clean, sizeof(clean), d->refuse);
		l->refuse = str_dup(clean);
	}
	l->lfd = l->efd = l->wakefd = -1;
	pthread_mutex_init(&l->lock, NULL);
	l->nslots = conf->server.smtp_max_sessions ? conf->server.smtp_max_sessions : 1000;
	l->conns = mem_alloc(sizeof(*l->conns) * l->nslots);
	l->loopback = net_spec_is_loopback(conf->server.smtp_listen);
	if (!l->loopback && !(conf->server.smtp_auth && conf->server.smtp_tls_cert != NULL)) {
		err_set(e, ERR_CONFIG, "smtp_listen = %s is not a loopback address: "
		    "Outpost will not be an open relay; set smtp_auth = yes and "
		    "smtp_tls_cert/smtp_tls_key, or listen on 127.0.0.1",
		    conf->server.smtp_listen);
		goto out;
	}
	if (conf->server.smtp_tls_cert != NULL &&
	    tls_server_ctx_new(conf->server.smtp_tls_cert, conf->server.smtp_tls_key,
	    &l->tls, e) < 0)
		goto out;
	if (conf->server.smtp_auth && gsasl_init(&l->gsasl) != GSASL_OK) {
		err_set(e, ERR_SOFTWARE, "cannot start GNU SASL");
		goto out;
	}
	if (l->gsasl != NULL)
		gsasl_callback_set(l->gsasl, sasl_callback);
	if (net_listen(conf->server.smtp_listen, 512, &l->lfd, e) < 0)
		goto out;
	l->efd = epoll_create1(EPOLL_CLOEXEC);
	l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->efd < 0 || l->wakefd < 0) {
		err_set(e, ERR_OSERR, "epoll/eventfd: %s", strerror(errno));
		goto out;
	}
	memset(&ee, 0, sizeof(ee));
	ee.events = EPOLLIN;
	ee.data.u64 = UINT64_MAX;
	epoll_ctl(l->efd, EPOLL_CTL_ADD, l->lfd, &ee);
	ee.data.u64 = UINT64_MAX - 1;
	epoll_ctl(l->efd, EPOLL_CTL_ADD, l->wakefd, &ee);
	if (pthread_create(&l->thread, NULL, loop_main, l) != 0) {
		err_set(e, ERR_OSERR, "cannot start the listener thread");
		goto out;
	}
	log_event(LOG_INFO, "smtp_listen", "address", conf->server.smtp_listen,
	    "starttls", l->tls != NULL ? "yes" : "no",
	    "auth", conf->server.smtp_auth ? "required" : "no", NULL);
	*out = l;
	rc = 0;
out:
	settings_put(d->settings, conf);
	if (rc < 0) {
		if (l->lfd >= 0)
			close(l->lfd);
		if (l->efd >= 0)
			close(l->efd);
		if (l->wakefd >= 0)
			close(l->wakefd);
		tls_ctx_free(l->tls);
		if (l->gsasl != NULL)
			gsasl_done(l->gsasl);
		pthread_mutex_destroy(&l->lock);
		free(l->refuse);
		free(l->conns);
		free(l);
	}
	return rc;
}

void
listener_stop(struct listener *l, int grace_ms)
{
	uint64_t one = 1;
	ssize_t w;
	unsigned i;

	pthread_mutex_lock(&l->lock);
	l->stopping = 1;
	l->stop_deadline = clock_mono_ms() + grace_ms;
	pthread_mutex_unlock(&l->lock);
	w = write(l->wakefd, &one, sizeof(one));
	(void)w;
	pthread_join(l->thread, NULL);
	for (i = 0; i < l->nslots; i++)
		if (l->conns[i] != NULL)
			conn_close(l, l->conns[i]);
}

void
listener_free(struct listener *l)
{
	struct ticket *t, *next;

	if (l == NULL)
		return;
	/* commits still owed belong to the queue's thread: queue_close()
	 * runs their callbacks, which only touch l->done; free them after */
	for (t = l->done; t != NULL; t = next) {
		next = t->next;
		server_message_free(t->msg);
		free(t);
	}
	close(l->lfd);
	close(l->efd);
	close(l->wakefd);
	tls_ctx_free(l->tls);
	if (l->gsasl != NULL)
		gsasl_done(l->gsasl);
	pthread_mutex_destroy(&l->lock);
	free(l->refuse);
	free(l->conns);
	free(l);
}

unsigned
listener_sessions(struct listener *l)
{
	return l->nopen;
}
