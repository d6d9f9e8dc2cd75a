/*
 * client.c - the SMTP client session (client.h).
 *
 * Shape (curl lib/smtp.c, OpenSMTPD mta_session.c):
 *   - smtp_state() is the only way to change a session's state; it logs
 *     "from -> to".
 *   - <x>_perform() builds a command into the output buffer and logs it;
 *     <x>_resp() judges the reply and fills a struct smtp_result.  Reading
 *     and writing the socket happen between them (flush_out, read_reply),
 *     so the same judges serve lock-step and pipelined (RFC 2920) use.
 *   - Every read and write has a deadline: the phase's RFC 5321 4.5.3.2
 *     timeout, capped by params.timeout_s, and the attempt's overall
 *     deadline (params.deadline_s, env.deadline_ms) when one is running:
 *     from the start of smtp_client_open() (connect, greeting, EHLO,
 *     STARTTLS, TLS, AUTH) through the first message's transaction, then
 *     per message.  A phase that ends because the overall deadline passed
 *     says so ("the attempt's overall deadline ... passed").
 *
 * The socket is non-blocking from connect on; waits are poll() (net_wait).
 */
#include "smtp/client.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smtp/data.h"
#include "smtp/sasl.h"
#include "smtp/sasl_oauth.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/net.h"

#define SMTP_BODY_CHUNK 65536         /* body bytes read and written at once */
#define SMTP_IN_MAX 65536             /* received, not yet parsed */
#define SMTP_OUT_MAX (3 * SMTP_BODY_CHUNK + 64) /* see body_send() */
#define SMTP_PIPE_WINDOW 100          /* commands per pipelined write */
#define SMTP_QUIT_TIMEOUT_S 10        /* waiting for 221 is a courtesy */
#define SMTP_LAST_WORDS_MS 2000       /* reading what a server that reset
                                       * the connection sent before */

enum smtp_state {
	ST_INIT,
	ST_CONNECT,
	ST_GREETING,
	ST_EHLO,
	ST_HELO,
	ST_STARTTLS,
	ST_TLS,
	ST_AUTH,
	ST_READY,
	ST_MAIL,
	ST_RCPT,
	ST_DATA,
	ST_BODY,
	ST_RSET,
	ST_QUIT,
	ST_CLOSED,
	ST_BROKEN,
};

static const char *const state_names[] = {
	"init", "connect", "greeting", "ehlo", "helo", "starttls", "tls",
	"auth", "ready", "mail", "rcpt", "data", "body", "rset", "quit",
	"closed", "broken",
};

struct smtp_session {
	/* params, with copies of every string */
	struct smtp_params p;
	char *host, *helo, *user, *password, *ca_file, *log_name;
	char port[8];

	int state;
	int fd;
	struct tls_ctx *tctx;
	struct tls_conn *tls;
	struct tls_info tinfo;
	int tls_tried;

	struct buf in;                /* received, not yet parsed */
	struct buf out;               /* to be written */
	struct smtp_reply_parser rp;
	unsigned char first[4];       /* first bytes of the connection */
	size_t nfirst;
	uint64_t bytes_in;
	int sent;                     /* sent since the last read: the reply
	                               * cannot be there yet, wait first */

	struct smtp_caps caps;
	struct smtp_reply greeting;
	char peer[64];
	char mech[SMTP_SASL_MECH_MAX + 1];
	struct smtp_step steps[SMTP_STEPS_MAX];
	size_t nsteps;
	int rset_next;          /* a transaction completed: the next one
	                          * starts with RSET (pipelined with MAIL) */
	unsigned messages;
	int64_t deadline;             /* the overall deadline in force
	                               * (clock_mono_ms()); 0: none */
	unsigned deadline_secs;       /* its length, for messages; 0: the
	                               * caller's env.deadline_ms */
	int64_t open_spent_ms;        /* what smtp_client_open() took ... */
	int fresh;                    /* ... and no message was sent yet:
	                               * the first one's deadline is what
	                               * the open left of deadline_s */
	char *chunk;                  /* SMTP_BODY_CHUNK bytes for the body */
};

/* ---- names ---- */

const char *
smtp_phase_name(int phase)
{
	static const char *const names[] = {
		"none", "resolve", "connect", "greeting", "ehlo", "starttls",
		"tls", "auth", "mail", "rcpt", "data", "rset", "quit",
	};

	if (phase < 0 || phase >= SMTP_PHASE_COUNT_)
		return "unknown";
	return names[phase];
}

const char *
smtp_fail_name(int fail)
{
	static const char *const names[] = {
		"none", "reply", "resolve", "connect", "timeout", "closed", "io",
		"protocol", "injection", "no_starttls", "tls", "tls_verify",
		"plain_on_tls_port", "tls_on_plain_port", "no_auth", "no_mech",
		"auth_insecure", "auth", "sasl", "no_smtputf8", "too_big",
		"bad_address", "body", "unusable", "params", "token_refused",
	};

	if (fail < 0 || fail >= SMTP_FAIL_COUNT_)
		return "unknown";
	return names[fail];
}

/* ---- params and results ---- */

void
smtp_params_init(struct smtp_params *p)
{
	memset(p, 0, sizeof(*p));
	p->port = 587;
	p->security = SMTP_SEC_STARTTLS;
	p->tls_verify = 1;
}

void
smtp_result_init(struct smtp_result *r)
{
	memset(r, 0, sizeof(*r));
	r->outcome = SMTP_DELIVERED;
}

void
smtp_result_free(struct smtp_result *r)
{
	smtp_reply_free(&r->reply);
	smtp_result_init(r);
}

void
smtp_result_copy(struct smtp_result *dst, const struct smtp_result *src)
{
	struct smtp_reply tmp;

	if (dst == src)
		return;
	smtp_reply_init(&tmp);
	smtp_reply_copy(&tmp, &src->reply);
	smtp_reply_free(&dst->reply);
	*dst = *src;
	dst->reply = tmp;
}

/* A local failure: TEMPORARY unless told otherwise, no reply. */
static int res_local(struct smtp_result *r, int outcome, int phase, int fail,
    int sys, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int
res_local(struct smtp_result *r, int outcome, int phase, int fail, int sys,
    const char *fmt, ...)
{
	va_list ap;

	smtp_result_free(r);
	r->outcome = outcome;
	r->phase = phase;
	r->fail = fail;
	r->sys = sys;
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* The outcome the reply says; "what" names the step for people.  Returns 0
 * when the reply is a success (2xx, or 3xx when ok3xx), else -1. */
static int
res_reply(struct smtp_result *r, int phase, const struct smtp_reply *rep,
    int ok3xx, const char *what)
{
	char text[ERR_MSG_MAX - 64];
	int ok = (rep->code >= 200 && rep->code < 300) ||
	    (ok3xx && rep->code >= 300 && rep->code < 400);

	smtp_result_free(r);
	smtp_reply_copy(&r->reply, rep);
	smtp_reply_format(rep, text, sizeof(text));
	if (ok) {
		r->outcome = SMTP_DELIVERED;
		snprintf(r->msg, sizeof(r->msg), "%s: %s", what, text);
		return 0;
	}
	r->outcome = rep->code >= 300 && rep->code < 400 ? SMTP_TEMPORARY :
	    smtp_reply_outcome(rep);
	r->phase = phase;
	r->fail = SMTP_FAIL_REPLY;
	snprintf(r->msg, sizeof(r->msg), "%s: %s", what, text);
	return -1;
}

/* A reply that refuses, whatever its code says: an unexpected 2xx/3xx
 * (a "250" greeting, a "250" to STARTTLS) is TEMPORARY. */
static int
res_refused(struct smtp_result *r, int phase, const struct smtp_reply *rep,
    const char *what)
{
	res_reply(r, phase, rep, 0, what);
	r->phase = phase;
	r->fail = SMTP_FAIL_REPLY;
	if (r->outcome == SMTP_DELIVERED)
		r->outcome = SMTP_TEMPORARY;
	return -1;
}

/* ---- state, steps, logging ---- */

/* The only way to change a session's state, so that every change is
 * logged (from -> to). */
static void
smtp_state(struct smtp_session *s, int st)
{
	if (s->state == st)
		return;
	log_event(LOG_DEBUG, "smtp_state", "profile", s->log_name, "host", s->host,
	    "from", state_names[s->state], "to", state_names[st], NULL);
	s->state = st;
}

static void step_add(struct smtp_session *s, int phase, int ok, int fail,
    int sys, int code, int64_t t0, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

static void
step_add(struct smtp_session *s, int phase, int ok, int fail, int sys,
    int code, int64_t t0, const char *fmt, ...)
{
	struct smtp_step *st;
	char raw[SMTP_STEP_DETAIL_MAX];
	va_list ap;

	if (s->nsteps >= SMTP_STEPS_MAX)
		return;
	st = &s->steps[s->nsteps++];
	st->phase = phase;
	st->ok = ok;
	st->fail = ok ? SMTP_FAIL_NONE : fail;
	st->sys = sys;
	st->code = code;
	st->elapsed_ms = clock_mono_ms() - t0;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* Callers format replies with smtp_reply_format() (already
	 * sanitised); this keeps anything else printable too. */
	for (char *c = raw; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f)
			*c = ' ';
	str_copy(st->detail, sizeof(st->detail), raw);
}

static void
log_fail(struct smtp_session *s, const struct smtp_result *r)
{
	log_event(LOG_INFO, "smtp_fail", "profile", s->log_name, "host", s->host,
	    "peer", s->peer[0] ? s->peer : NULL, "phase", smtp_phase_name(r->phase),
	    "fail", smtp_fail_name(r->fail), "outcome", smtp_outcome_name(r->outcome),
	    "msg", r->msg, NULL);
}

/* ---- deadlines ---- */

static int64_t
phase_deadline(const struct smtp_session *s, unsigned rfc_s)
{
	unsigned t = rfc_s;
	int64_t d;

	if (s->p.timeout_s > 0 && s->p.timeout_s < t)
		t = s->p.timeout_s;
	d = clock_mono_ms() + (int64_t)t * 1000;
	if (s->deadline > 0 && s->deadline < d)
		d = s->deadline;
	return d;
}

/* 1 once the overall deadline in force has passed: a timeout then is the
 * deadline's, not the phase's. */
static int
deadline_passed(const struct smtp_session *s)
{
	return s->deadline > 0 && clock_mono_ms() >= s->deadline;
}

static unsigned
phase_seconds(const struct smtp_session *s, unsigned rfc_s)
{
	return s->p.timeout_s > 0 && s->p.timeout_s < rfc_s ? s->p.timeout_s : rfc_s;
}

/* ---- the wire ---- */

static void
session_close(struct smtp_session *s)
{
	tls_conn_free(s->tls);
	s->tls = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* A failure of the connection itself: nothing more can be said on it. */
static void
session_break(struct smtp_session *s)
{
	session_close(s);
	smtp_state(s, ST_BROKEN);
}

/* The overall deadline ended the attempt: TEMPORARY, SMTP_FAIL_TIMEOUT,
 * and a message that names the deadline, not the phase's timeout. */
static int
deadline_fail(struct smtp_session *s, struct smtp_result *r, int phase,
    const char *doing)
{
	if (s->deadline_secs > 0)
		return res_local(r, SMTP_TEMPORARY, phase, SMTP_FAIL_TIMEOUT,
		    ETIMEDOUT, "the attempt's overall deadline (%u s) passed "
		    "while %s (%s phase)", s->deadline_secs, doing,
		    smtp_phase_name(phase));
	return res_local(r, SMTP_TEMPORARY, phase, SMTP_FAIL_TIMEOUT, ETIMEDOUT,
	    "the message's overall deadline passed while %s (%s phase)", doing,
	    smtp_phase_name(phase));
}

static int
io_fail_as(struct smtp_session *s, struct smtp_result *r, int phase,
    const struct op_err *e, const char *doing, int tls)
{
	int fail = SMTP_FAIL_IO, sys = e->sys;

	if (tls) {
		/* tls.c reports enum tls_fail in sys. */
		if (e->sys == TLS_FAIL_TIMEOUT)
			fail = SMTP_FAIL_TIMEOUT, sys = ETIMEDOUT;
		else if (e->sys == TLS_FAIL_HANDSHAKE)
			fail = SMTP_FAIL_PROTOCOL, sys = 0;
		else
			sys = 0;        /* the errno text is in e->msg */
	} else if (e->sys == ETIMEDOUT) {
		fail = SMTP_FAIL_TIMEOUT;
	}
	session_break(s);
	if (fail == SMTP_FAIL_TIMEOUT && deadline_passed(s))
		return deadline_fail(s, r, phase, doing);
	if (fail == SMTP_FAIL_TIMEOUT)
		return res_local(r, SMTP_TEMPORARY, phase, fail, ETIMEDOUT,
		    "timed out %s (%s phase)", doing, smtp_phase_name(phase));
	return res_local(r, SMTP_TEMPORARY, phase, fail, sys,
	    "the connection failed while %s (%s phase): %s", doing,
	    smtp_phase_name(phase), e->msg);
}

static int
io_fail(struct smtp_session *s, struct smtp_result *r, int phase,
    const struct op_err *e, const char *doing)
{
	return io_fail_as(s, r, phase, e, doing, s->tls != NULL);
}

/*
 * RFC 5321 3.8: a 421 is the server's goodbye, whatever it answers: it
 * closes the connection after it.  The session ends here too (no QUIT,
 * nothing more on it), and the 421 is what the caller reports.  1 if rep
 * was one.
 */
static int
goodbye(struct smtp_session *s, const struct smtp_reply *rep)
{
	if (rep->code != 421)
		return 0;
	session_break(s);
	return 1;
}

static int read_reply(struct smtp_session *s, int phase, int64_t deadline,
    struct smtp_reply *rep, struct smtp_result *r);

/*
 * Writing failed because the server reset or closed the connection: it
 * may have said why first (a 421 in the middle of the body, say).  A
 * reply already on its way is read and reported (the session ends);
 * otherwise the write failure is.
 */
static int
write_fail(struct smtp_session *s, struct smtp_result *r, int phase,
    const struct op_err *e)
{
	struct smtp_result tmp;
	struct smtp_reply rep;
	int tls = s->tls != NULL, rc = -1;

	if (!(tls ? e->sys == TLS_FAIL_IO : e->sys == EPIPE || e->sys == ECONNRESET))
		return io_fail(s, r, phase, e, "sending");
	smtp_result_init(&tmp);
	smtp_reply_init(&rep);
	buf_reset(&s->out);
	s->sent = 1;
	/* the peer is gone: what it sent is there at once */
	if (read_reply(s, phase, clock_mono_ms() + SMTP_LAST_WORDS_MS, &rep,
	    &tmp) == 0) {
		res_refused(r, phase, &rep, "the server ended the session");
		session_break(s);
	} else {
		rc = io_fail_as(s, r, phase, e, "sending", tls);
	}
	smtp_reply_free(&rep);
	smtp_result_free(&tmp);
	return rc;
}

/* Write all of s->out before the deadline. */
static int
flush_out(struct smtp_session *s, int phase, int64_t deadline,
    struct smtp_result *r)
{
	struct op_err e;
	size_t off = 0;

	if (s->fd < 0)
		return res_local(r, SMTP_TEMPORARY, phase, SMTP_FAIL_UNUSABLE, 0,
		    "the connection is closed");
	err_clear(&e);
	if (s->tls != NULL) {
		if (tls_write(s->tls, s->out.data, s->out.len, deadline, &e) < 0)
			return write_fail(s, r, phase, &e);
		buf_reset(&s->out);
		return 0;
	}
	while (off < s->out.len) {
		ssize_t n = send(s->fd, s->out.data + off, s->out.len - off,
		    MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			err_set(&e, ERR_IO, "%s", strerror(errno));
			e.sys = errno;
			return write_fail(s, r, phase, &e);
		}
		if (net_wait(s->fd, POLLOUT, deadline, &e) < 0)
			return write_fail(s, r, phase, &e);
	}
	buf_reset(&s->out);
	s->sent = 1;
	return 0;
}

/* Read what is there (waiting until the deadline) into s->in. */
static int
read_more(struct smtp_session *s, int phase, int64_t deadline,
    struct smtp_result *r)
{
	char tmp[4096];
	struct op_err e;
	size_t got = 0;

	err_clear(&e);
	if (s->fd < 0)
		return res_local(r, SMTP_TEMPORARY, phase, SMTP_FAIL_UNUSABLE, 0,
		    "the connection is closed");
	if (s->tls != NULL) {
		if (tls_read(s->tls, tmp, sizeof(tmp), &got, deadline, &e) < 0)
			return io_fail(s, r, phase, &e, "waiting for the server");
	} else {
		/* a reply to what was just sent takes a round trip: poll
		 * first rather than hear EAGAIN from recv */
		if (s->sent && net_wait(s->fd, POLLIN, deadline, &e) < 0)
			return io_fail(s, r, phase, &e, "waiting for the server");
		s->sent = 0;
		for (;;) {
			ssize_t n = recv(s->fd, tmp, sizeof(tmp), MSG_DONTWAIT);

			if (n >= 0) {
				got = (size_t)n;
				break;
			}
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				err_set(&e, ERR_IO, "%s", strerror(errno));
				e.sys = errno;
				return io_fail(s, r, phase, &e, "waiting for the server");
			}
			if (net_wait(s->fd, POLLIN, deadline, &e) < 0)
				return io_fail(s, r, phase, &e, "waiting for the server");
		}
	}
	if (got == 0) {
		session_break(s);
		return res_local(r, SMTP_TEMPORARY, phase, SMTP_FAIL_CLOSED, 0,
		    "the server closed the connection (%s phase)",
		    smtp_phase_name(phase));
	}
	while (s->nfirst < sizeof(s->first) && s->nfirst < (size_t)s->bytes_in + got) {
		s->first[s->nfirst] = (unsigned char)tmp[s->nfirst - s->bytes_in];
		s->nfirst++;
	}
	s->bytes_in += got;
	if (buf_append(&s->in, tmp, got, &e) < 0) {
		session_break(s);
		return res_local(r, SMTP_TEMPORARY, phase, SMTP_FAIL_PROTOCOL, 0,
		    "the server sent too much at once");
	}
	return 0;
}

/* Read one complete reply into *rep. */
static int
read_reply(struct smtp_session *s, int phase, int64_t deadline,
    struct smtp_reply *rep, struct smtp_result *r)
{
	struct op_err e;
	size_t used;
	int rc;

	err_clear(&e);
	for (;;) {
		if (s->in.len > 0) {
			rc = smtp_reply_feed(&s->rp, s->in.data, s->in.len, &used, rep, &e);
			buf_consume(&s->in, used);
			if (rc == 1) {
				char code[8];

				snprintf(code, sizeof(code), "%d", rep->code);
				/* AUTH challenges are payloads: masked. */
				log_event(LOG_DEBUG, "smtp_reply", "profile", s->log_name,
				    "host", s->host, "code", code, "text",
				    s->state == ST_AUTH && rep->code == 334 ? "********" :
				    rep->text, NULL);
				return 0;
			}
			if (rc < 0) {
				session_break(s);
				return res_local(r, SMTP_TEMPORARY, phase, SMTP_FAIL_PROTOCOL,
				    0, "%s (%s phase)", e.msg, smtp_phase_name(phase));
			}
		}
		if (read_more(s, phase, deadline, r) < 0)
			return -1;
	}
}

/*
 * Append one command line to s->out (CRLF added) and log it; "shown" is
 * what the log says instead of the line (AUTH payloads), or NULL.  Callers
 * have validated every argument, so the line holds no CR or LF.
 */
static int cmd_add(struct smtp_session *s, const char *shown,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
cmd_add(struct smtp_session *s, const char *shown, const char *fmt, ...)
{
	struct op_err e;
	size_t start = s->out.len;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(&s->out, &e, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return -1;
	log_event(LOG_DEBUG, "smtp_send", "profile", s->log_name, "host", s->host,
	    "line", shown != NULL ? shown : s->out.data + start, NULL);
	return buf_append(&s->out, "\r\n", 2, &e);
}

/* Nothing may be waiting from the server before we speak: a reply nobody
 * asked for means the two sides no longer agree on what answers what. */
static int
check_quiet(struct smtp_session *s, int phase, struct smtp_result *r)
{
	struct smtp_reply rep;
	struct op_err e;
	size_t used;
	int rc;

	if (s->in.len == 0 && !smtp_reply_parser_busy(&s->rp))
		return 0;
	/* but a 421 is the server's goodbye (an idle session it gave up on):
	 * that is what happened, not a protocol error */
	smtp_reply_init(&rep);
	err_clear(&e);
	rc = smtp_reply_feed(&s->rp, s->in.data, s->in.len, &used, &rep, &e);
	if (rc == 1 && rep.code == 421) {
		res_refused(r, phase, &rep, "the server ended the session");
		smtp_reply_free(&rep);
		session_break(s);
		return -1;
	}
	smtp_reply_free(&rep);
	session_break(s);
	return res_local(r, SMTP_TEMPORARY, phase, SMTP_FAIL_PROTOCOL, 0,
	    "the server sent data that was not asked for (%s phase)",
	    smtp_phase_name(phase));
}

/* Send what is in s->out, read one reply. */
static int
exchange(struct smtp_session *s, int phase, unsigned rfc_s,
    struct smtp_reply *rep, struct smtp_result *r)
{
	if (flush_out(s, phase, phase_deadline(s, rfc_s), r) < 0)
		return -1;
	return read_reply(s, phase, phase_deadline(s, rfc_s), rep, r);
}

/* QUIT and close; a courtesy, so failures only end the connection. */
static void
quit_run(struct smtp_session *s)
{
	struct smtp_result r;
	struct smtp_reply rep;

	if (s->fd < 0)
		return;
	smtp_result_init(&r);
	smtp_reply_init(&rep);
	smtp_state(s, ST_QUIT);
	buf_reset(&s->out);
	if (cmd_add(s, NULL, "QUIT") == 0 &&
	    flush_out(s, SMTP_PHASE_QUIT, phase_deadline(s, SMTP_QUIT_TIMEOUT_S), &r) == 0)
		(void)read_reply(s, SMTP_PHASE_QUIT, phase_deadline(s, SMTP_QUIT_TIMEOUT_S), &rep, &r);
	smtp_reply_free(&rep);
	smtp_result_free(&r);
	session_close(s);
	if (s->state != ST_BROKEN)
		smtp_state(s, ST_CLOSED);
}

/* ---- session ---- */

static char *
dup_or_null(const char *v)
{
	return v != NULL ? str_dup(v) : NULL;
}

static struct smtp_session *
session_new(const struct smtp_params *p)
{
	struct smtp_session *s = mem_alloc(sizeof(*s));
	char hn[SMTP_HELO_MAX + 1];

	s->p = *p;
	s->host = str_dup(p->host != NULL ? p->host : "");
	if (p->helo_name != NULL && p->helo_name[0] != '\0') {
		s->helo = str_dup(p->helo_name);
	} else {
		if (gethostname(hn, sizeof(hn)) < 0 || hn[0] == '\0')
			str_copy(hn, sizeof(hn), "localhost");
		hn[sizeof(hn) - 1] = '\0';
		s->helo = str_dup(hn);
	}
	s->user = dup_or_null(p->username);
	s->password = dup_or_null(p->password);
	s->ca_file = dup_or_null(p->tls_ca_file);
	s->log_name = dup_or_null(p->log_name);
	s->p.host = s->host;
	s->p.helo_name = s->helo;
	s->p.username = s->user;
	s->p.password = s->password;
	s->p.tls_ca_file = s->ca_file;
	s->p.log_name = s->log_name;
	snprintf(s->port, sizeof(s->port), "%u", p->port);
	s->fd = -1;
	s->state = ST_INIT;
	buf_init(&s->in, SMTP_IN_MAX);
	buf_init(&s->out, SMTP_OUT_MAX);
	smtp_reply_parser_init(&s->rp);
	return s;
}

void
smtp_client_free(struct smtp_session *s)
{
	if (s == NULL)
		return;
	session_close(s);
	tls_ctx_free(s->tctx);
	buf_free(&s->in);
	buf_free(&s->out);
	smtp_reply_parser_free(&s->rp);
	smtp_reply_free(&s->greeting);
	free(s->host);
	free(s->helo);
	free(s->user);
	if (s->password != NULL) {
		explicit_bzero(s->password, strlen(s->password));
		free(s->password);
	}
	free(s->ca_file);
	free(s->log_name);
	free(s->chunk);
	free(s);
}

/* A name for EHLO: a domain or an address literal, printable, no spaces. */
static int
helo_ok(const char *h)
{
	size_t n = strlen(h);

	if (n == 0 || n > SMTP_HELO_MAX)
		return 0;
	for (; *h != '\0'; h++)
		if ((unsigned char)*h <= 0x20 || (unsigned char)*h >= 0x7f)
			return 0;
	return 1;
}

static int
params_check(struct smtp_session *s, struct smtp_result *r)
{
	const struct smtp_params *p = &s->p;
	const char *why = NULL;

	if (p->host[0] == '\0' || strlen(p->host) > 255)
		why = "no usable host name";
	else if (strpbrk(p->host, " \t\r\n") != NULL)
		why = "the host name contains spaces or line breaks";
	else if (p->port == 0 || p->port > 65535)
		why = "the port must be 1..65535";
	else if (p->security < SMTP_SEC_NONE || p->security > SMTP_SEC_TLS)
		why = "security must be none, starttls or tls";
	else if (!helo_ok(p->helo_name))
		why = "the EHLO name must be a host name without spaces";
	else if (p->auth && (p->username == NULL || p->username[0] == '\0'))
		why = "authentication is on but no username is set";
	else if (p->auth && p->password == NULL && p->bearer_token == NULL)
		why = "authentication is on but no password is set";
	if (why == NULL)
		return 0;
	return res_local(r, SMTP_TEMPORARY, SMTP_PHASE_NONE, SMTP_FAIL_PARAMS, 0,
	    "bad SMTP settings: %s", why);
}

/* ---- resolve and connect ---- */

static int
connect_run(struct smtp_session *s, struct smtp_result *r)
{
	struct addrinfo *res = NULL, *ai;
	struct op_err e;
	char list[SMTP_STEP_DETAIL_MAX], a[64], last[ERR_MSG_MAX];
	int64_t t0 = clock_mono_ms();
	unsigned ct;
	size_t naddr = 0, tried = 0, off;
	int last_sys = 0, fd;

	err_clear(&e);
	smtp_state(s, ST_CONNECT);
	if (net_resolve(s->host, s->port, &res, &e) < 0) {
		step_add(s, SMTP_PHASE_RESOLVE, 0, SMTP_FAIL_RESOLVE, e.sys, 0, t0, "%s", e.msg);
		return res_local(r, SMTP_TEMPORARY, SMTP_PHASE_RESOLVE, SMTP_FAIL_RESOLVE,
		    e.sys, "%s", e.msg);
	}
	list[0] = '\0';
	off = 0;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		net_addr_text(ai->ai_addr, a, sizeof(a));
		if (off < sizeof(list))
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
			    naddr > 0 ? ", " : "", a);
		naddr++;
	}
	step_add(s, SMTP_PHASE_RESOLVE, 1, 0, 0, 0, t0, "%s: %zu address%s: %s",
	    s->host, naddr, naddr == 1 ? "" : "es", list);

	ct = s->p.connect_timeout_s > 0 ? s->p.connect_timeout_s :
	    s->p.timeout_s > 0 ? s->p.timeout_s : SMTP_TIMEOUT_CONNECT_S;
	if (ct > SMTP_TIMEOUT_GREETING_S)
		ct = SMTP_TIMEOUT_GREETING_S;
	last[0] = '\0';
	for (ai = res; ai != NULL && tried < SMTP_CONNECT_ADDRS_MAX; ai = ai->ai_next) {
		int64_t left;

		if (tried > 0 && deadline_passed(s))
			break;          /* no time left for the next address */
		t0 = clock_mono_ms();
		tried++;
		net_addr_text(ai->ai_addr, a, sizeof(a));
		left = (int64_t)ct * 1000;
		if (s->deadline > 0 && s->deadline - t0 < left)
			left = s->deadline - t0 > 0 ? s->deadline - t0 : 1;
		if (net_connect_addr(ai, (int)left, &fd, &e) == 0) {
			step_add(s, SMTP_PHASE_CONNECT, 1, 0, 0, 0, t0,
			    "connected to %s port %s", a, s->port);
			s->fd = fd;
			str_copy(s->peer, sizeof(s->peer), a);
			break;
		}
		last_sys = e.sys;
		snprintf(last, sizeof(last), "%s port %s: %s", a, s->port,
		    e.sys == ETIMEDOUT ? "connection timed out" :
		    e.sys == ECONNREFUSED ? "connection refused" :
		    e.sys == EHOSTUNREACH ? "host unreachable" :
		    e.sys == ENETUNREACH ? "network unreachable" : strerror(e.sys));
		step_add(s, SMTP_PHASE_CONNECT, 0, SMTP_FAIL_CONNECT, e.sys, 0, t0, "%s", last);
	}
	freeaddrinfo(res);
	if (s->fd < 0 && deadline_passed(s)) {
		deadline_fail(s, r, SMTP_PHASE_CONNECT, "connecting");
		r->fail = SMTP_FAIL_CONNECT;    /* no address answered in time */
		r->sys = last_sys;
		return -1;
	}
	if (s->fd < 0)
		return res_local(r, SMTP_TEMPORARY, SMTP_PHASE_CONNECT, SMTP_FAIL_CONNECT,
		    last_sys, "cannot connect to %s (%zu address%s tried): %s", s->host,
		    tried, tried == 1 ? "" : "es", last);
	if (net_set_nonblock(s->fd, 1) < 0) {
		last_sys = errno;
		session_break(s);
		return res_local(r, SMTP_TEMPORARY, SMTP_PHASE_CONNECT, SMTP_FAIL_IO,
		    last_sys, "cannot set up the socket: %s", strerror(last_sys));
	}
	log_event(LOG_DEBUG, "smtp_connect", "profile", s->log_name, "host", s->host,
	    "peer", s->peer, "port", s->port, NULL);
	return 0;
}

/* ---- greeting ---- */

static int
greeting_resp(struct smtp_session *s, const struct smtp_reply *rep,
    struct smtp_result *r, int64_t t0)
{
	char text[SMTP_STEP_DETAIL_MAX - 32];

	smtp_reply_copy(&s->greeting, rep);
	smtp_reply_format(rep, text, sizeof(text));
	if (rep->code == 220) {
		step_add(s, SMTP_PHASE_GREETING, 1, 0, 0, rep->code, t0, "%s", text);
		return 0;
	}
	step_add(s, SMTP_PHASE_GREETING, 0, SMTP_FAIL_REPLY, 0, rep->code, t0, "%s", text);
	res_refused(r, SMTP_PHASE_GREETING, rep, "the server refused the connection");
	if (rep->code == 421)
		session_break(s);            /* it is closing; no QUIT (4.2.2) */
	return -1;
}

/* A TLS record header: alert (0x15) or handshake (0x16), version 3.x. */
static int
first_is_tls(const struct smtp_session *s)
{
	return s->nfirst >= 2 && (s->first[0] == 0x15 || s->first[0] == 0x16) &&
	    s->first[1] == 0x03;
}

/* 1 if the params' greeting_late hook ran because the greeting was late,
 * and said to stop waiting (the port speaks implicit TLS). */
static int
greeting_is_late(struct smtp_session *s, int64_t deadline)
{
	struct op_err e;
	int64_t soon;

	if (s->p.greeting_late == NULL || s->p.greeting_late_s == 0 ||
	    s->in.len > 0)
		return 0;
	soon = clock_mono_ms() + (int64_t)s->p.greeting_late_s * 1000;
	if (soon >= deadline)
		return 0;               /* the timeout itself comes first */
	err_clear(&e);
	if (net_wait(s->fd, POLLIN, soon, &e) == 0 || e.sys != ETIMEDOUT)
		return 0;               /* something came: read it as usual */
	return s->p.greeting_late(s->p.greeting_late_arg) == 1;
}

static int
greeting_run(struct smtp_session *s, struct smtp_result *r)
{
	struct smtp_reply rep;
	int64_t t0 = clock_mono_ms(), deadline;
	int rc;

	smtp_reply_init(&rep);
	smtp_state(s, ST_GREETING);
	/* one deadline for the greeting, whatever the hook took */
	deadline = phase_deadline(s, SMTP_TIMEOUT_GREETING_S);
	if (greeting_is_late(s, deadline)) {
		res_local(r, SMTP_TEMPORARY, SMTP_PHASE_GREETING,
		    SMTP_FAIL_TLS_ON_PLAIN_PORT, 0, "the server did not greet "
		    "within %u s", s->p.greeting_late_s);
		step_add(s, SMTP_PHASE_GREETING, 0, r->fail, 0, 0, t0, "%s", r->msg);
		smtp_reply_free(&rep);
		return -1;
	}
	rc = read_reply(s, SMTP_PHASE_GREETING, deadline, &rep, r);
	if (rc < 0) {
		if (s->tls == NULL && first_is_tls(s)) {
			res_local(r, SMTP_TEMPORARY, SMTP_PHASE_GREETING,
			    SMTP_FAIL_TLS_ON_PLAIN_PORT, 0, "the server sent TLS instead "
			    "of a greeting: it expects implicit TLS here: use "
			    "security=tls (port 465)");
		} else if (s->tls == NULL && r->fail == SMTP_FAIL_TIMEOUT &&
		    s->bytes_in == 0 && !deadline_passed(s)) {
			/* A TLS server waits for our ClientHello in silence. */
			if (s->p.port == 465)
				r->fail = SMTP_FAIL_TLS_ON_PLAIN_PORT;
			snprintf(r->msg, sizeof(r->msg), "the server did not greet "
			    "within %u s; if it expects implicit TLS here, use "
			    "security=tls (port 465)",
			    phase_seconds(s, SMTP_TIMEOUT_GREETING_S));
		}
		step_add(s, SMTP_PHASE_GREETING, 0, r->fail, r->sys, 0, t0, "%s", r->msg);
	} else {
		rc = greeting_resp(s, &rep, r, t0);
	}
	smtp_reply_free(&rep);
	return rc;
}

/* ---- EHLO / HELO ---- */

/* RFC 4422 3.1: 1..20 of A-Z 0-9 - _ */
static int
mech_name_ok(const char *m, size_t n)
{
	size_t i;

	if (n == 0 || n > SMTP_SASL_MECH_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = m[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

static void
caps_add_mechs(struct smtp_caps *c, const char *p)
{
	while (*p != '\0') {
		size_t n, len = strlen(c->mechs), i;
		char m[SMTP_SASL_MECH_MAX + 2];

		while (*p == ' ' || *p == '\t')
			p++;
		n = strcspn(p, " \t");
		if (n == 0)
			break;
		if (mech_name_ok(p, n)) {
			for (i = 0; i < n; i++)
				m[i] = (p[i] >= 'a' && p[i] <= 'z') ? (char)(p[i] - 32) : p[i];
			m[n] = '\0';
			/* skip duplicates ("AUTH" and "AUTH=" both listed) */
			const char *hit = strstr(c->mechs, m);
			int dup = hit != NULL && (hit == c->mechs || hit[-1] == ' ') &&
			    (hit[n] == ' ' || hit[n] == '\0');

			if (!dup && len + n + 2 <= sizeof(c->mechs)) {
				if (len > 0)
					c->mechs[len++] = ' ';
				memcpy(c->mechs + len, m, n + 1);
			}
		}
		p += n;
	}
}

/* Parse the keyword lines of an EHLO reply (all but the first). */
static void
caps_parse(struct smtp_caps *c, const char *text)
{
	static const struct { const char *kw; unsigned flag; } kws[] = {
		{ "PIPELINING", SMTP_CAP_PIPELINING },
		{ "8BITMIME", SMTP_CAP_8BITMIME },
		{ "SMTPUTF8", SMTP_CAP_SMTPUTF8 },
		{ "STARTTLS", SMTP_CAP_STARTTLS },
		{ "ENHANCEDSTATUSCODES", SMTP_CAP_ENHANCEDSTATUSCODES },
		{ "DSN", SMTP_CAP_DSN },
		{ "CHUNKING", SMTP_CAP_CHUNKING },
	};
	const char *line = strchr(text, '\n');

	c->esmtp = 1;
	while (line != NULL) {
		char l[SMTP_REPLY_LINE_MAX];
		const char *next = strchr(line + 1, '\n');
		size_t n = next != NULL ? (size_t)(next - line - 1) : strlen(line + 1);
		size_t kl, i;

		if (n >= sizeof(l))
			n = sizeof(l) - 1;
		memcpy(l, line + 1, n);
		l[n] = '\0';
		line = next;
		kl = strcspn(l, " =");
		for (i = 0; i < sizeof(kws) / sizeof(kws[0]); i++)
			if (strlen(kws[i].kw) == kl && strncasecmp(l, kws[i].kw, kl) == 0)
				c->flags |= kws[i].flag;
		if (kl == 4 && strncasecmp(l, "SIZE", 4) == 0) {
			unsigned long v;

			c->flags |= SMTP_CAP_SIZE;
			if (l[4] == ' ' && str_to_ulong(str_trim(l + 5), ULONG_MAX, &v) == 0)
				c->size_max = v;
		} else if (kl == 4 && strncasecmp(l, "AUTH", 4) == 0 &&
		    (l[4] == ' ' || l[4] == '=')) {
			c->flags |= SMTP_CAP_AUTH;
			caps_add_mechs(c, l + 5);
		}
	}
}

static void
caps_text(const struct smtp_caps *c, char *dst, size_t dstsz)
{
	struct buf b;
	char *t;

	buf_init(&b, dstsz > 0 ? dstsz - 1 : 0);
	if (!c->esmtp)
		buf_appendstr(&b, "HELO (no ESMTP extensions)", NULL);
	if (c->flags & SMTP_CAP_PIPELINING)
		buf_appendstr(&b, " PIPELINING", NULL);
	if (c->flags & SMTP_CAP_SIZE)
		buf_printf(&b, NULL, " SIZE %" PRIu64, c->size_max);
	if (c->flags & SMTP_CAP_8BITMIME)
		buf_appendstr(&b, " 8BITMIME", NULL);
	if (c->flags & SMTP_CAP_SMTPUTF8)
		buf_appendstr(&b, " SMTPUTF8", NULL);
	if (c->flags & SMTP_CAP_STARTTLS)
		buf_appendstr(&b, " STARTTLS", NULL);
	if (c->flags & SMTP_CAP_ENHANCEDSTATUSCODES)
		buf_appendstr(&b, " ENHANCEDSTATUSCODES", NULL);
	if (c->flags & SMTP_CAP_DSN)
		buf_appendstr(&b, " DSN", NULL);
	if (c->flags & SMTP_CAP_CHUNKING)
		buf_appendstr(&b, " CHUNKING", NULL);
	if (c->flags & SMTP_CAP_AUTH)
		buf_printf(&b, NULL, " AUTH %s", c->mechs);
	t = b.data != NULL ? b.data : "";
	str_copy(dst, dstsz, *t == ' ' ? t + 1 : t);
	if (b.len == 0)
		str_copy(dst, dstsz, "no extensions");
	buf_free(&b);
}

static int
helo_resp(struct smtp_session *s, const struct smtp_reply *rep,
    struct smtp_result *r, int64_t t0)
{
	char text[SMTP_STEP_DETAIL_MAX - 64];

	smtp_reply_format(rep, text, sizeof(text));
	if (rep->code != 250) {
		res_refused(r, SMTP_PHASE_EHLO, rep, "the server refused HELO");
		step_add(s, SMTP_PHASE_EHLO, 0, SMTP_FAIL_REPLY, 0, rep->code, t0,
		    "HELO refused: %s", text);
		return -1;
	}
	memset(&s->caps, 0, sizeof(s->caps));
	smtp_result_free(r);
	step_add(s, SMTP_PHASE_EHLO, 1, 0, 0, rep->code, t0,
	    "EHLO not supported; HELO accepted (no extensions)");
	return 0;
}

static int
ehlo_resp(struct smtp_session *s, const struct smtp_reply *rep,
    struct smtp_result *r, int64_t t0)
{
	char text[SMTP_STEP_DETAIL_MAX - 64];

	if (rep->code == 250) {
		memset(&s->caps, 0, sizeof(s->caps));
		caps_parse(&s->caps, rep->text);
		caps_text(&s->caps, text, sizeof(text));
		step_add(s, SMTP_PHASE_EHLO, 1, 0, 0, rep->code, t0, "%s%s",
		    s->tls != NULL ? "over TLS: " : "", text);
		smtp_result_free(r);
		return 0;
	}
	smtp_reply_format(rep, text, sizeof(text));
	res_refused(r, SMTP_PHASE_EHLO, rep, "the server refused EHLO");
	step_add(s, SMTP_PHASE_EHLO, 0, SMTP_FAIL_REPLY, 0, rep->code, t0,
	    "EHLO refused: %s", text);
	return -1;
}

/* EHLO; HELO when EHLO is not understood (RFC 5321 3.2), unless STARTTLS
 * is required, which HELO cannot offer. */
static int
ehlo_run(struct smtp_session *s, struct smtp_result *r)
{
	struct smtp_reply rep;
	int64_t t0 = clock_mono_ms();
	int rc = -1;

	smtp_reply_init(&rep);
	if (check_quiet(s, SMTP_PHASE_EHLO, r) < 0)
		return -1;
	smtp_state(s, ST_EHLO);
	cmd_add(s, NULL, "EHLO %s", s->helo);
	if (exchange(s, SMTP_PHASE_EHLO, SMTP_TIMEOUT_OTHER_S, &rep, r) < 0) {
		step_add(s, SMTP_PHASE_EHLO, 0, r->fail, r->sys, 0, t0, "%s", r->msg);
		goto out;
	}
	rc = ehlo_resp(s, &rep, r, t0);
	if (rc == 0 || s->tls != NULL || s->p.security == SMTP_SEC_STARTTLS ||
	    !(rep.code == 500 || rep.code == 501 || rep.code == 502 || rep.code == 504))
		goto out;
	t0 = clock_mono_ms();
	smtp_state(s, ST_HELO);
	cmd_add(s, NULL, "HELO %s", s->helo);
	if (exchange(s, SMTP_PHASE_EHLO, SMTP_TIMEOUT_OTHER_S, &rep, r) < 0) {
		step_add(s, SMTP_PHASE_EHLO, 0, r->fail, r->sys, 0, t0, "%s", r->msg);
		rc = -1;
		goto out;
	}
	rc = helo_resp(s, &rep, r, t0);
out:
	smtp_reply_free(&rep);
	return rc;
}

/* ---- STARTTLS and TLS ---- */

static int
starttls_resp(struct smtp_session *s, const struct smtp_reply *rep,
    struct smtp_result *r, int64_t t0)
{
	char text[SMTP_STEP_DETAIL_MAX - 64], c;

	smtp_reply_format(rep, text, sizeof(text));
	if (rep->code != 220) {
		res_refused(r, SMTP_PHASE_STARTTLS, rep, "the server refused STARTTLS");
		step_add(s, SMTP_PHASE_STARTTLS, 0, SMTP_FAIL_REPLY, 0, rep->code, t0,
		    "STARTTLS refused: %s", text);
		return -1;
	}
	/* Anything the server sent after its 220 and before our ClientHello
	 * would be taken as said over TLS: response injection (CVE-2011-0411;
	 * curl's pp.overflow, msmtp's SMTP_EINSECURE). */
	if (s->in.len > 0 || smtp_reply_parser_busy(&s->rp) ||
	    recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0) {
		session_break(s);
		step_add(s, SMTP_PHASE_STARTTLS, 0, SMTP_FAIL_INJECTION, 0, rep->code, t0,
		    "the server sent more data after its 220 to STARTTLS");
		return res_local(r, SMTP_TEMPORARY, SMTP_PHASE_STARTTLS, SMTP_FAIL_INJECTION,
		    0, "protocol error: the server sent data after agreeing to STARTTLS "
		    "(possible response injection); the session was ended");
	}
	step_add(s, SMTP_PHASE_STARTTLS, 1, 0, 0, rep->code, t0, "%s", text);
	return 0;
}

static int
starttls_run(struct smtp_session *s, struct smtp_result *r)
{
	struct smtp_reply rep;
	int64_t t0 = clock_mono_ms();
	int rc;

	if (!(s->caps.flags & SMTP_CAP_STARTTLS)) {
		step_add(s, SMTP_PHASE_STARTTLS, 0, SMTP_FAIL_NO_STARTTLS, 0, 0, t0,
		    "the server does not offer STARTTLS");
		return res_local(r, SMTP_TEMPORARY, SMTP_PHASE_STARTTLS,
		    SMTP_FAIL_NO_STARTTLS, 0, "the server does not offer STARTTLS, and "
		    "security=starttls forbids going on without it: nothing was sent "
		    "in clear (use security=tls on port 465 if the server expects "
		    "implicit TLS)");
	}
	smtp_reply_init(&rep);
	if (check_quiet(s, SMTP_PHASE_STARTTLS, r) < 0)
		return -1;
	smtp_state(s, ST_STARTTLS);
	cmd_add(s, NULL, "STARTTLS");
	rc = exchange(s, SMTP_PHASE_STARTTLS, SMTP_TIMEOUT_OTHER_S, &rep, r);
	if (rc < 0)
		step_add(s, SMTP_PHASE_STARTTLS, 0, r->fail, r->sys, 0, t0, "%s", r->msg);
	else
		rc = starttls_resp(s, &rep, r, t0);
	smtp_reply_free(&rep);
	return rc;
}

static int
tls_fail_map(struct smtp_session *s, const struct op_err *e, int *sys)
{
	*sys = 0;
	switch (e->sys) {
	case TLS_FAIL_VERIFY:
		*sys = s->tinfo.verify_code;
		return SMTP_FAIL_TLS_VERIFY;
	case TLS_FAIL_PLAINTEXT:
		return s->p.security == SMTP_SEC_TLS ? SMTP_FAIL_PLAIN_ON_TLS_PORT :
		    SMTP_FAIL_PROTOCOL;
	case TLS_FAIL_TIMEOUT:
		*sys = ETIMEDOUT;
		return SMTP_FAIL_TIMEOUT;
	case TLS_FAIL_IO:
		*sys = s->tinfo.sys;
		return s->tinfo.sys != 0 ? SMTP_FAIL_IO : SMTP_FAIL_CLOSED;
	default:
		return SMTP_FAIL_TLS;
	}
}

static int
tls_run(struct smtp_session *s, struct smtp_result *r)
{
	struct op_err e;
	int64_t t0 = clock_mono_ms();
	const struct tls_info *ti = &s->tinfo;
	int fail, sys;

	err_clear(&e);
	smtp_state(s, ST_TLS);
	s->tls_tried = 1;
	if (s->tctx == NULL &&
	    tls_client_ctx_new(s->ca_file, s->p.tls_verify, &s->tctx, &e) < 0) {
		session_break(s);
		step_add(s, SMTP_PHASE_TLS, 0, SMTP_FAIL_TLS, 0, 0, t0, "%s", e.msg);
		return res_local(r, SMTP_TEMPORARY, SMTP_PHASE_TLS, SMTP_FAIL_TLS, 0,
		    "%s", e.msg);
	}
	if (tls_client_handshake(s->tctx, s->fd, s->host,
	    phase_deadline(s, SMTP_TIMEOUT_OTHER_S), &s->tls, &s->tinfo, &e) < 0) {
		fail = tls_fail_map(s, &e, &sys);
		session_break(s);
		if (fail == SMTP_FAIL_PLAIN_ON_TLS_PORT)
			res_local(r, SMTP_TEMPORARY, SMTP_PHASE_TLS, fail, 0,
			    "server speaks plain SMTP here: use security=starttls "
			    "(port 587) or none");
		else if (fail == SMTP_FAIL_TIMEOUT && deadline_passed(s))
			deadline_fail(s, r, SMTP_PHASE_TLS, "in the TLS handshake");
		else if (fail == SMTP_FAIL_TLS_VERIFY)
			res_local(r, SMTP_TEMPORARY, SMTP_PHASE_TLS, fail, sys,
			    "%s%s%s%s", e.msg, /* tls_verify_reason()'s text */
			    ti->have_cert ? " (certificate " : "",
			    ti->have_cert ? ti->subject : "", ti->have_cert ? ")" : "");
		else
			res_local(r, SMTP_TEMPORARY, SMTP_PHASE_TLS, fail, sys, "%s", e.msg);
		step_add(s, SMTP_PHASE_TLS, 0, fail, sys, 0, t0, "%s", r->msg);
		return -1;
	}
	step_add(s, SMTP_PHASE_TLS, 1, 0, 0, 0, t0,
	    "%s %s; certificate %s, issuer %s, expires %s; %s%s", ti->version,
	    ti->cipher, ti->have_cert ? ti->subject : "(none)",
	    ti->have_cert ? ti->issuer : "-", ti->have_cert ? ti->not_after : "-",
	    ti->verify_code == 0 ? "verified" : ti->verify_text,
	    ti->verify_enabled ? "" : " (verification is off: tls_verify = no)");
	/* RFC 3207 4.2: forget what was learnt in clear. */
	memset(&s->caps, 0, sizeof(s->caps));
	return 0;
}

/* ---- AUTH ---- */

static int
auth_run(struct smtp_session *s, struct smtp_result *r)
{
	struct smtp_sasl *x = NULL;
	struct smtp_reply rep;
	struct op_err e;
	char *resp = NULL, shown[64], text[SMTP_STEP_DETAIL_MAX - 128];
	int64_t t0 = clock_mono_ms();
	int done = 0, rounds = 0, rc = -1;

	smtp_reply_init(&rep);
	err_clear(&e);
	if (s->tls == NULL && !(s->p.security == SMTP_SEC_NONE &&
	    s->p.allow_plaintext_auth)) {
		res_local(r, SMTP_TEMPORARY, SMTP_PHASE_AUTH, SMTP_FAIL_AUTH_INSECURE, 0,
		    "refusing to send the password over an unencrypted connection: "
		    "use security=starttls or tls (or allow_plaintext_auth = yes with "
		    "security = none)");
		goto fail_step;
	}
	if (!(s->caps.flags & SMTP_CAP_AUTH) || s->caps.mechs[0] == '\0') {
		res_local(r, SMTP_TEMPORARY, SMTP_PHASE_AUTH, SMTP_FAIL_NO_AUTH, 0,
		    "the server does not offer authentication (no AUTH in its EHLO "
		    "reply)%s", s->tls == NULL && (s->caps.flags & SMTP_CAP_STARTTLS) ?
		    ": it may offer it after STARTTLS (security=starttls)" : "");
		goto fail_step;
	}
	if (smtp_sasl_choose(s->caps.mechs, s->mech, sizeof(s->mech), &e) < 0) {
		res_local(r, SMTP_TEMPORARY, SMTP_PHASE_AUTH, SMTP_FAIL_NO_MECH, 0,
		    "%s", e.msg);
		goto fail_step;
	}
	if (smtp_sasl_start(s->mech, s->host, s->user, s->password, &x, &e) < 0) {
		res_local(r, SMTP_TEMPORARY, SMTP_PHASE_AUTH, SMTP_FAIL_SASL, 0, "%s", e.msg);
		goto fail_step;
	}
	if (check_quiet(s, SMTP_PHASE_AUTH, r) < 0)
		goto fail_step;
	smtp_state(s, ST_AUTH);
	snprintf(shown, sizeof(shown), "AUTH %s ********", s->mech);
	if (smtp_sasl_client_first(s->mech)) {
		if (smtp_sasl_step(x, NULL, &resp, &done, &e) < 0) {
			res_local(r, SMTP_TEMPORARY, SMTP_PHASE_AUTH, SMTP_FAIL_SASL, 0,
			    "%s", e.msg);
			goto fail_step;
		}
		/* RFC 4954 4: an empty initial response is sent as "=". */
		rc = cmd_add(s, shown, "AUTH %s %s", s->mech, resp[0] ? resp : "=");
	} else {
		rc = cmd_add(s, NULL, "AUTH %s", s->mech);
	}
	free(resp);
	resp = NULL;
	if (rc < 0) {
		res_local(r, SMTP_TEMPORARY, SMTP_PHASE_AUTH, SMTP_FAIL_SASL, 0,
		    "the authentication response is too long");
		goto fail_step;
	}
	rc = -1;
	for (;;) {
		if (exchange(s, SMTP_PHASE_AUTH, SMTP_TIMEOUT_OTHER_S, &rep, r) < 0)
			goto fail_step;
		if (rep.code != 334)
			break;
		if (++rounds > SMTP_AUTH_ROUNDS_MAX) {
			session_break(s);
			res_local(r, SMTP_TEMPORARY, SMTP_PHASE_AUTH, SMTP_FAIL_PROTOCOL, 0,
			    "the server sent more than %d authentication challenges",
			    SMTP_AUTH_ROUNDS_MAX);
			goto fail_step;
		}
		if (smtp_sasl_step(x, rep.text, &resp, &done, &e) < 0) {
			/* RFC 4954 4: "*" cancels; the server answers 501. */
			cmd_add(s, NULL, "*");
			if (exchange(s, SMTP_PHASE_AUTH, SMTP_TIMEOUT_OTHER_S, &rep, r) < 0)
				goto fail_step;
			res_local(r, SMTP_TEMPORARY, SMTP_PHASE_AUTH, SMTP_FAIL_SASL, 0,
			    "%s", e.msg);
			goto fail_step;
		}
		rc = cmd_add(s, "********", "%s", resp);
		explicit_bzero(resp, strlen(resp));
		free(resp);
		resp = NULL;
		if (rc < 0) {
			session_break(s);
			res_local(r, SMTP_TEMPORARY, SMTP_PHASE_AUTH, SMTP_FAIL_SASL, 0,
			    "the authentication response is too long");
			goto fail_step;
		}
		rc = -1;
	}
	smtp_reply_format(&rep, text, sizeof(text));
	if (rep.code == 235) {
		step_add(s, SMTP_PHASE_AUTH, 1, 0, 0, rep.code, t0,
		    "offered: %s; chosen: %s; %s", s->caps.mechs, s->mech, text);
		smtp_result_free(r);
		rc = 0;
		goto out;
	}
	res_refused(r, SMTP_PHASE_AUTH, &rep, "the server refused the login");
	r->fail = SMTP_FAIL_AUTH;
fail_step:
	step_add(s, SMTP_PHASE_AUTH, 0, r->fail, r->sys, r->reply.code, t0,
	    "offered: %s; chosen: %s; %s", s->caps.mechs[0] ? s->caps.mechs : "none",
	    s->mech[0] ? s->mech : "none", r->msg);
out:
	if (resp != NULL) {
		explicit_bzero(resp, strlen(resp));
		free(resp);
	}
	smtp_sasl_free(x);
	smtp_reply_free(&rep);
	return rc;
}

/*
 * AUTH with an OAuth2 bearer token (XOAUTH2 / OAUTHBEARER): one initial
 * response; 235 logs in.  A 334 is the server's error challenge (Gmail):
 * the mechanism's empty answer is sent and the final reply read.  535 (or
 * the challenge) is SMTP_FAIL_TOKEN, so the caller refreshes the token and
 * tries once more; 535 5.7.139 (SMTP AUTH disabled) and any other refusal
 * are SMTP_FAIL_AUTH: a fresh token would not help.
 */
static int
auth_oauth_run(struct smtp_session *s, struct smtp_result *r)
{
	struct smtp_reply rep;
	struct op_err e;
	char *resp = NULL, shown[64], text[SMTP_STEP_DETAIL_MAX - 160];
	char why[200] = "";
	int64_t t0 = clock_mono_ms();
	int rc = -1, challenged = 0;

	smtp_reply_init(&rep);
	err_clear(&e);
	if (s->tls == NULL && !(s->p.security == SMTP_SEC_NONE &&
	    s->p.allow_plaintext_auth)) {
		res_local(r, SMTP_TEMPORARY, SMTP_PHASE_AUTH, SMTP_FAIL_AUTH_INSECURE, 0,
		    "refusing to send the access token over an unencrypted "
		    "connection: use security=starttls or tls");
		goto fail_step;
	}
	if (!(s->caps.flags & SMTP_CAP_AUTH) || s->caps.mechs[0] == '\0') {
		res_local(r, SMTP_TEMPORARY, SMTP_PHASE_AUTH, SMTP_FAIL_NO_AUTH, 0,
		    "the server does not offer authentication (no AUTH in its EHLO "
		    "reply)");
		goto fail_step;
	}
	if (smtp_sasl_oauth_choose(s->caps.mechs, s->mech, sizeof(s->mech), &e) < 0) {
		res_local(r, SMTP_TEMPORARY, SMTP_PHASE_AUTH, SMTP_FAIL_NO_MECH, 0,
		    "%s", e.msg);
		goto fail_step;
	}
	if (smtp_sasl_oauth_initial(s->mech, s->user, s->host, s->p.port,
	    s->p.bearer_token, &resp, &e) < 0) {
		res_local(r, SMTP_TEMPORARY, SMTP_PHASE_AUTH, SMTP_FAIL_SASL, 0, "%s", e.msg);
		goto fail_step;
	}
	if (check_quiet(s, SMTP_PHASE_AUTH, r) < 0)
		goto fail_step;
	smtp_state(s, ST_AUTH);
	snprintf(shown, sizeof(shown), "AUTH %s ********", s->mech);
	if (cmd_add(s, shown, "AUTH %s %s", s->mech, resp) < 0) {
		res_local(r, SMTP_TEMPORARY, SMTP_PHASE_AUTH, SMTP_FAIL_SASL, 0,
		    "the access token is too long for an AUTH line");
		goto fail_step;
	}
	if (exchange(s, SMTP_PHASE_AUTH, SMTP_TIMEOUT_OTHER_S, &rep, r) < 0)
		goto fail_step;
	if (rep.code == 334) {
		/* RFC 7628 3.2.3: the error challenge; answer it, then 535 */
		challenged = 1;
		smtp_sasl_oauth_challenge_text(rep.text != NULL ? rep.text : "",
		    why, sizeof(why));
		if (cmd_add(s, "********", "%s", smtp_sasl_oauth_abort_line(s->mech)) < 0 ||
		    exchange(s, SMTP_PHASE_AUTH, SMTP_TIMEOUT_OTHER_S, &rep, r) < 0)
			goto fail_step;
		if (rep.code == 334) {
			session_break(s);
			res_local(r, SMTP_TEMPORARY, SMTP_PHASE_AUTH, SMTP_FAIL_PROTOCOL, 0,
			    "the server sent a second challenge to an OAuth2 login");
			goto fail_step;
		}
	}
	smtp_reply_format(&rep, text, sizeof(text));
	if (rep.code == 235) {
		step_add(s, SMTP_PHASE_AUTH, 1, 0, 0, rep.code, t0,
		    "offered: %s; chosen: %s (OAuth2 token); %s", s->caps.mechs,
		    s->mech, text);
		smtp_result_free(r);
		rc = 0;
		goto out;
	}
	res_refused(r, SMTP_PHASE_AUTH, &rep, "the server refused the access token");
	r->fail = SMTP_FAIL_AUTH;
	if ((challenged || rep.code == 535) && !(rep.enh_class == 5 &&
	    rep.enh_subject == 7 && rep.enh_detail == 139))
		r->fail = SMTP_FAIL_TOKEN;
	if (why[0] != '\0') {
		size_t l = strlen(r->msg);

		snprintf(r->msg + l, sizeof(r->msg) - l, " (its challenge: %s)", why);
	}
fail_step:
	step_add(s, SMTP_PHASE_AUTH, 0, r->fail, r->sys, r->reply.code, t0,
	    "offered: %s; chosen: %s (OAuth2 token); %s", s->caps.mechs[0] ?
	    s->caps.mechs : "none", s->mech[0] ? s->mech : "none", r->msg);
out:
	if (resp != NULL) {
		explicit_bzero(resp, strlen(resp));
		free(resp);
	}
	smtp_reply_free(&rep);
	return rc;
}

/* ---- open ---- */

int
smtp_client_unopened(const struct smtp_params *params, int fail,
    const char *why, struct smtp_session **out, struct smtp_result *res)
{
	*out = session_new(params);
	smtp_result_free(res);
	return res_local(res, SMTP_TEMPORARY, SMTP_PHASE_AUTH, fail, 0, "%s",
	    why);
}

int
smtp_client_open(const struct smtp_params *params, struct smtp_session **out,
    struct smtp_result *res)
{
	struct smtp_session *s = session_new(params);
	int64_t t0 = clock_mono_ms();

	*out = s;
	smtp_result_free(res);
	/* The attempt's overall deadline runs from here: resolving (which
	 * cannot be interrupted), connecting, every phase below, and then the
	 * first message's transaction (smtp_client_send). */
	if (params->deadline_s > 0) {
		s->deadline = t0 + (int64_t)params->deadline_s * 1000;
		s->deadline_secs = params->deadline_s;
	}
	if (params_check(s, res) < 0)
		goto fail;
	if (connect_run(s, res) < 0)
		goto fail;
	if (s->p.security == SMTP_SEC_TLS && tls_run(s, res) < 0)
		goto fail;
	if (greeting_run(s, res) < 0)
		goto fail;
	if (ehlo_run(s, res) < 0)
		goto fail;
	if (s->p.security == SMTP_SEC_STARTTLS) {
		if (starttls_run(s, res) < 0 || tls_run(s, res) < 0 ||
		    ehlo_run(s, res) < 0)
			goto fail;
	}
	if (s->p.auth && (s->p.bearer_token != NULL ? auth_oauth_run(s, res) :
	    auth_run(s, res)) < 0)
		goto fail;
	smtp_state(s, ST_READY);
	s->open_spent_ms = clock_mono_ms() - t0;
	s->fresh = 1;
	s->deadline = 0;                /* until a message starts */
	smtp_result_free(res);
	snprintf(res->msg, sizeof(res->msg), "connected to %s (%s port %s)%s%s%s%s",
	    s->host, s->peer, s->port, s->tls != NULL ? ", " : "",
	    s->tls != NULL ? s->tinfo.version : "", s->mech[0] ? ", logged in with " : "",
	    s->mech);
	log_event(LOG_INFO, "smtp_connected", "profile", s->log_name, "host", s->host,
	    "peer", s->peer, "port", s->port,
	    "tls", s->tls != NULL ? s->tinfo.version : "no",
	    "auth", s->mech[0] ? s->mech : "no", NULL);
	return 0;
fail:
	log_fail(s, res);
	if (s->fd >= 0 && s->state != ST_BROKEN)
		quit_run(s);
	session_close(s);
	if (s->state != ST_BROKEN)
		smtp_state(s, ST_CLOSED);
	s->deadline = 0;
	return -1;
}

/* ---- the mail transaction ---- */

/*
 * An address that can go between <> on a command line: at most
 * SMTP_PATH_MAX - 2 bytes (RFC 5321 4.5.3.1.3), no control bytes, no
 * angle brackets.  Addresses were validated by mail/ before they were
 * queued; this is the last line of defence against command injection.
 * Returns 0 and sets *utf8 when a byte is >= 0x80, -1 if unusable.
 */
static int
addr_check(const char *a, int *utf8)
{
	size_t n = strlen(a);

	if (n > SMTP_PATH_MAX - 2)
		return -1;
	for (; *a != '\0'; a++) {
		unsigned char c = (unsigned char)*a;

		if (c < 0x20 || c == 0x7f || c == '<' || c == '>')
			return -1;
		if (c >= 0x80)
			*utf8 = 1;
	}
	return 0;
}

/* Check the sender; -1 with r filled (PERMANENT) if it cannot be sent. */
static int
sender_check(struct smtp_session *s, const char *sender, struct smtp_result *r)
{
	int utf8 = 0;

	if (addr_check(sender, &utf8) < 0)
		return res_local(r, SMTP_PERMANENT, SMTP_PHASE_MAIL,
		    SMTP_FAIL_BAD_ADDRESS, 0, "the sender address cannot be sent: "
		    "it is too long or holds control characters or <>");
	if (utf8 && !(s->caps.flags & SMTP_CAP_SMTPUTF8))
		return res_local(r, SMTP_PERMANENT, SMTP_PHASE_MAIL,
		    SMTP_FAIL_NO_SMTPUTF8, 0, "the sender address is not ASCII and "
		    "the server does not support SMTPUTF8");
	return 0;
}

static int
mail_perform(struct smtp_session *s, const char *sender, uint64_t size,
    int flags, struct smtp_result *r)
{
	char params[96];
	size_t n = 0;

	if (sender_check(s, sender, r) < 0)
		return -1;
	params[0] = '\0';
	if (size > 0 && (s->caps.flags & SMTP_CAP_SIZE))
		n += (size_t)snprintf(params + n, sizeof(params) - n, " SIZE=%" PRIu64, size);
	if ((flags & SMTP_MAIL_8BITMIME) && (s->caps.flags & SMTP_CAP_8BITMIME))
		n += (size_t)snprintf(params + n, sizeof(params) - n, " BODY=8BITMIME");
	if ((flags & SMTP_MAIL_SMTPUTF8) && (s->caps.flags & SMTP_CAP_SMTPUTF8))
		n += (size_t)snprintf(params + n, sizeof(params) - n, " SMTPUTF8");
	smtp_state(s, ST_MAIL);
	if (cmd_add(s, NULL, "MAIL FROM:<%s>%s", sender, params) < 0)
		return res_local(r, SMTP_TEMPORARY, SMTP_PHASE_MAIL, SMTP_FAIL_PARAMS, 0,
		    "too many commands at once");
	return 0;
}

static int
mail_resp(struct smtp_session *s, const struct smtp_reply *rep,
    struct smtp_result *r)
{
	(void)s;
	if (rep->code / 100 == 2) {
		res_reply(r, SMTP_PHASE_MAIL, rep, 0, "sender accepted");
		return 0;
	}
	return res_refused(r, SMTP_PHASE_MAIL, rep, "the server refused the sender");
}

/* Check a recipient; -1 with r filled (PERMANENT) if it cannot be sent. */
static int
rcpt_check(struct smtp_session *s, const char *rcpt, struct smtp_result *r)
{
	int utf8 = 0;

	if (addr_check(rcpt, &utf8) < 0)
		return res_local(r, SMTP_PERMANENT, SMTP_PHASE_RCPT,
		    SMTP_FAIL_BAD_ADDRESS, 0, "the recipient address cannot be sent: "
		    "it is too long or holds control characters or <>");
	if (utf8 && !(s->caps.flags & SMTP_CAP_SMTPUTF8))
		return res_local(r, SMTP_PERMANENT, SMTP_PHASE_RCPT,
		    SMTP_FAIL_NO_SMTPUTF8, 0, "the recipient address is not ASCII and "
		    "the server does not support SMTPUTF8");
	return 0;
}

static int
rcpt_perform(struct smtp_session *s, const char *rcpt, struct smtp_result *r)
{
	if (rcpt_check(s, rcpt, r) < 0)
		return -1;
	smtp_state(s, ST_RCPT);
	if (cmd_add(s, NULL, "RCPT TO:<%s>", rcpt) < 0)
		return res_local(r, SMTP_TEMPORARY, SMTP_PHASE_RCPT, SMTP_FAIL_PARAMS, 0,
		    "too many commands at once");
	return 0;
}

static int
rcpt_resp(const struct smtp_reply *rep, struct smtp_result *r)
{
	if (rep->code / 100 == 2) {
		res_reply(r, SMTP_PHASE_RCPT, rep, 0, "recipient accepted");
		return 0;
	}
	return res_refused(r, SMTP_PHASE_RCPT, rep, "the server refused the recipient");
}

static void
data_perform(struct smtp_session *s)
{
	smtp_state(s, ST_DATA);
	cmd_add(s, NULL, "DATA");
}

static int
data_resp(const struct smtp_reply *rep, struct smtp_result *r)
{
	if (rep->code == 354) {
		res_reply(r, SMTP_PHASE_DATA, rep, 1, "ready for the message");
		return 0;
	}
	return res_refused(r, SMTP_PHASE_DATA, rep, "the server refused DATA");
}

static int
dot_resp(struct smtp_session *s, const struct smtp_reply *rep,
    struct smtp_result *r)
{
	if (goodbye(s, rep))
		return res_refused(r, SMTP_PHASE_DATA, rep, "the server refused the message");
	smtp_state(s, ST_READY);
	if (rep->code / 100 == 2) {
		s->messages++;
		res_reply(r, SMTP_PHASE_DATA, rep, 0, "message accepted");
		return 0;
	}
	return res_refused(r, SMTP_PHASE_DATA, rep, "the server refused the message");
}

/*
 * Stream the body through the encoder (data.h) and end it with the dot;
 * read the final reply.  Writes are SMTP_BODY_CHUNK-sized; the last one
 * carries the rest of the body and the terminator together.  A failing
 * body source drops the connection: the dot is never sent after a
 * partial body.
 */
static int
body_send(struct smtp_session *s, struct smtp_body *body, struct smtp_result *r)
{
	struct smtp_data_enc d;
	struct smtp_reply rep;
	struct op_err e;
	uint64_t total = 0;
	char nbytes[32];
	size_t got;
	int rc;

	err_clear(&e);
	smtp_state(s, ST_BODY);
	smtp_data_init(&d);
	buf_reset(&s->out);
	if (s->chunk == NULL)
		s->chunk = mem_alloc(SMTP_BODY_CHUNK);
	for (;;) {
		got = 0;
		if (body->read(body->arg, s->chunk, SMTP_BODY_CHUNK, &got, &e) < 0 ||
		    got > SMTP_BODY_CHUNK) {
			session_break(s);
			return res_local(r, SMTP_TEMPORARY, SMTP_PHASE_DATA, SMTP_FAIL_BODY,
			    0, "cannot read the message body (%s); the connection was "
			    "dropped so that no partial message is delivered",
			    got > SMTP_BODY_CHUNK ? "the source overran its buffer" : e.msg);
		}
		if (got == 0)
			break;
		total += got;
		/* out.len < SMTP_BODY_CHUNK here, so the worst case fits
		 * SMTP_OUT_MAX: no failure possible. */
		if (smtp_data_feed(&d, s->chunk, got, &s->out, &e) < 0) {
			session_break(s);
			return res_local(r, SMTP_TEMPORARY, SMTP_PHASE_DATA, SMTP_FAIL_BODY,
			    0, "%s", e.msg);
		}
		if (s->out.len >= SMTP_BODY_CHUNK &&
		    flush_out(s, SMTP_PHASE_DATA, phase_deadline(s, SMTP_TIMEOUT_BLOCK_S), r) < 0)
			return -1;
	}
	smtp_data_finish(&d, &s->out, &e);
	snprintf(nbytes, sizeof(nbytes), "%" PRIu64, total);
	log_event(LOG_DEBUG, "smtp_send", "profile", s->log_name, "host", s->host,
	    "line", "<message body> .", "bytes", nbytes, NULL);
	if (flush_out(s, SMTP_PHASE_DATA, phase_deadline(s, SMTP_TIMEOUT_BLOCK_S), r) < 0)
		return -1;
	smtp_reply_init(&rep);
	rc = read_reply(s, SMTP_PHASE_DATA, phase_deadline(s, SMTP_TIMEOUT_DOT_S), &rep, r);
	if (rc == 0)
		rc = dot_resp(s, &rep, r);
	smtp_reply_free(&rep);
	return rc;
}

/* RSET after an unfinished transaction; a refusal leaves the session in
 * an unknown state, so it is closed. */
static int
rset_run(struct smtp_session *s, struct smtp_result *r)
{
	struct smtp_reply rep;
	int rc;

	smtp_reply_init(&rep);
	if (check_quiet(s, SMTP_PHASE_RSET, r) < 0)
		return -1;
	smtp_state(s, ST_RSET);
	s->rset_next = 0;
	cmd_add(s, NULL, "RSET");
	rc = exchange(s, SMTP_PHASE_RSET, SMTP_TIMEOUT_OTHER_S, &rep, r);
	if (rc == 0) {
		if (rep.code / 100 == 2) {
			res_reply(r, SMTP_PHASE_RSET, &rep, 0, "reset");
			smtp_state(s, ST_READY);
		} else {
			rc = res_refused(r, SMTP_PHASE_RSET, &rep, "the server refused RSET");
			log_fail(s, r);
			if (!goodbye(s, &rep))
				quit_run(s);
		}
	}
	smtp_reply_free(&rep);
	return rc;
}

static int
usable_for(struct smtp_session *s, int phase, struct smtp_result *r)
{
	if (s != NULL && s->fd >= 0 && s->state == ST_READY)
		return 0;
	return res_local(r, SMTP_TEMPORARY, phase, SMTP_FAIL_UNUSABLE, 0,
	    "the SMTP session is not usable (%s)",
	    s == NULL ? "none" : state_names[s->state]);
}

/* Recipient states during a transaction. */
enum {
	RC_SENT = 0,      /* to be sent, or sent and not answered yet */
	RC_OK,            /* RCPT accepted */
	RC_REFUSED,       /* RCPT refused by the server */
	RC_LOCAL,         /* refused here, never sent */
};

/* Recipients in state which (all of them if which < 0) get a copy of r. */
static void
rcpts_fill(const int *st, size_t n, int which, struct smtp_result *rr,
    const struct smtp_result *r)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (which < 0 || st[i] == which)
			smtp_result_copy(&rr[i], r);
}

/*
 * MAIL, RCPTs and DATA.  With PIPELINING they go in windows of
 * SMTP_PIPE_WINDOW commands per write (normally one write), and the
 * replies are read in order (RFC 2920 3.1); otherwise one at a time,
 * stopping at the first refusal that makes the rest pointless.
 * Sets *mail_ok and *data_open (354 received).
 * Returns -1 only when the connection failed (r filled).
 */
static int
envelope_run(struct smtp_session *s, const struct smtp_envelope *env,
    uint64_t size, int flags, int *st, struct smtp_result *rr,
    struct smtp_result *mail_r, struct smtp_result *data_r, int *mail_ok,
    int *data_open, struct smtp_result *r)
{
	struct smtp_reply rep;
	size_t n = env->nrcpts, i, naccepted = 0;
	long pos, start, end, k;
	int pipe = (s->caps.flags & SMTP_CAP_PIPELINING) != 0;
	int rc = 0, rset_sent = 0;

	*mail_ok = *data_open = 0;
	smtp_reply_init(&rep);
	/* Items: -1 = MAIL, 0..n-1 = recipients (skipped if RC_SKIP),
	 * n = DATA. */
	pos = -1;
	while (pos <= (long)n) {
		int count = 0;

		if (check_quiet(s, pos == -1 && s->rset_next ? SMTP_PHASE_RSET :
		    SMTP_PHASE_MAIL, r) < 0)
			goto fail;
		start = pos;
		while (pos <= (long)n && count < (pipe ? SMTP_PIPE_WINDOW : 1)) {
			if (pos == -1) {
				if (s->rset_next) {
					/* a reused connection: reset it in the same
					 * write as MAIL; its reply comes first */
					cmd_add(s, NULL, "RSET");
					rset_sent = 1;
					s->rset_next = 0;
				}
				if (mail_perform(s, env->sender, size, flags, r) < 0) {
					session_break(s);   /* out of sync now */
					goto fail;
				}
				count++;
			} else if (pos < (long)n) {
				if (st[pos] == RC_SENT) {
					if (rcpt_perform(s, env->rcpts[pos], r) < 0) {
						session_break(s);
						goto fail;
					}
					count++;
				}
			} else {
				/* Lock-step: DATA only if a recipient was taken. */
				if (!pipe && naccepted == 0)
					break;
				data_perform(s);
				count++;
			}
			pos++;
		}
		end = pos;
		if (count == 0)
			break;
		if (flush_out(s, SMTP_PHASE_MAIL, phase_deadline(s, SMTP_TIMEOUT_MAIL_S), r) < 0)
			goto fail;
		for (k = start; k < end; k++) {
			if (k == -1 && rset_sent) {
				rset_sent = 0;
				if (read_reply(s, SMTP_PHASE_RSET,
				    phase_deadline(s, SMTP_TIMEOUT_OTHER_S), &rep, r) < 0)
					goto fail;
				if (rep.code / 100 != 2) {
					res_refused(r, SMTP_PHASE_RSET, &rep, "the server refused RSET");
					session_break(s);
					goto fail;
				}
			}
			if (k == -1) {
				if (read_reply(s, SMTP_PHASE_MAIL,
				    phase_deadline(s, SMTP_TIMEOUT_MAIL_S), &rep, r) < 0)
					goto fail;
				if (goodbye(s, &rep)) {
					/* the replies to the rest will not come */
					mail_resp(s, &rep, r);
					goto fail;
				}
				*mail_ok = mail_resp(s, &rep, mail_r) == 0;
			} else if (k < (long)n) {
				if (st[k] != RC_SENT)
					continue;
				if (read_reply(s, SMTP_PHASE_RCPT,
				    phase_deadline(s, SMTP_TIMEOUT_RCPT_S), &rep, r) < 0)
					goto fail;
				if (goodbye(s, &rep)) {
					rcpt_resp(&rep, r);
					goto fail;
				}
				if (rcpt_resp(&rep, &rr[k]) == 0) {
					st[k] = RC_OK;
					naccepted++;
				} else {
					st[k] = RC_REFUSED;
				}
			} else {
				if (read_reply(s, SMTP_PHASE_DATA,
				    phase_deadline(s, SMTP_TIMEOUT_DATA_S), &rep, r) < 0)
					goto fail;
				if (goodbye(s, &rep)) {
					data_resp(&rep, r);
					goto fail;
				}
				*data_open = data_resp(&rep, data_r) == 0;
			}
		}
		/* Lock-step: a refused MAIL ends the envelope. */
		if (!pipe && !*mail_ok)
			break;
	}
	goto out;
fail:
	rc = -1;
	for (i = 0; i < n; i++)
		if (st[i] == RC_SENT || st[i] == RC_OK)
			st[i] = RC_SENT;
out:
	smtp_reply_free(&rep);
	return rc;
}

/* The message result when no recipient was accepted: TEMPORARY if any
 * refusal was temporary (a retry may work), else PERMANENT; the reply is
 * the last refusal's. */
static void
no_rcpt_result(const int *st, size_t n, const struct smtp_result *rr,
    struct smtp_result *r)
{
	char tail[ERR_MSG_MAX - 64];
	size_t i, last = n;
	int temp = 0;

	for (i = 0; i < n; i++) {
		if (st[i] != RC_REFUSED && st[i] != RC_LOCAL)
			continue;
		last = i;
		if (rr[i].outcome == SMTP_TEMPORARY)
			temp = 1;
	}
	if (last < n)
		smtp_result_copy(r, &rr[last]);
	else
		smtp_result_free(r);
	r->outcome = temp ? SMTP_TEMPORARY : SMTP_PERMANENT;
	r->phase = SMTP_PHASE_RCPT;
	if (r->fail == SMTP_FAIL_NONE)
		r->fail = SMTP_FAIL_REPLY;
	str_copy(tail, sizeof(tail), r->msg);
	snprintf(r->msg, sizeof(r->msg), "no recipient was accepted (last: %s)", tail);
}

/* End a transaction that will not deliver: after a 354, the dot alone
 * (RFC 2920 3.1); otherwise RSET when MAIL had been accepted. */
static void
txn_abandon(struct smtp_session *s, int mail_ok, int data_open)
{
	struct smtp_result tmp;
	struct smtp_reply rep;

	smtp_result_init(&tmp);
	smtp_reply_init(&rep);
	if (data_open) {
		cmd_add(s, NULL, ".");
		if (exchange(s, SMTP_PHASE_DATA, SMTP_TIMEOUT_DOT_S, &rep, &tmp) == 0 &&
		    !goodbye(s, &rep))
			smtp_state(s, ST_READY);
	} else if (mail_ok) {
		(void)rset_run(s, &tmp);
	} else {
		smtp_state(s, ST_READY);    /* no transaction was opened */
	}
	smtp_reply_free(&rep);
	smtp_result_free(&tmp);
}

/*
 * The overall deadline of this message's transaction: env->deadline_ms,
 * and deadline_s from now, less what smtp_client_open() took when this is
 * the session's first message (connect and transaction are one attempt;
 * a wait between the two, such as a provider quota, is Outpost's own and
 * does not count), whichever is sooner.
 */
static void
message_deadline(struct smtp_session *s, const struct smtp_envelope *env)
{
	int64_t d;

	s->deadline = env->deadline_ms > 0 ? env->deadline_ms : 0;
	s->deadline_secs = 0;
	if (s->p.deadline_s > 0) {
		d = clock_mono_ms() + (int64_t)s->p.deadline_s * 1000 -
		    (s->fresh ? s->open_spent_ms : 0);
		if (s->deadline == 0 || d <= s->deadline) {
			s->deadline = d;
			s->deadline_secs = s->p.deadline_s;
		}
	}
	s->fresh = 0;
}

int
smtp_client_send(struct smtp_session *s, const struct smtp_envelope *env,
    struct smtp_body *body, struct smtp_result *rcpt_res,
    struct smtp_result *res)
{
	struct smtp_result mail_r, data_r;
	size_t i, n = env->nrcpts, nsend = 0, naccepted = 0;
	int *st = NULL, utf8 = 0, flags = 0, mail_ok = 0, data_open = 0;
	int rc = -1;

	smtp_result_free(res);
	for (i = 0; i < n; i++)
		smtp_result_free(&rcpt_res[i]);
	if (usable_for(s, SMTP_PHASE_MAIL, res) < 0) {
		for (i = 0; i < n; i++)
			smtp_result_copy(&rcpt_res[i], res);
		return -1;
	}
	if (n == 0)
		return res_local(res, SMTP_PERMANENT, SMTP_PHASE_RCPT, SMTP_FAIL_PARAMS,
		    0, "a message needs at least one recipient");
	smtp_result_init(&mail_r);
	smtp_result_init(&data_r);
	message_deadline(s, env);
	st = mem_alloc(n * sizeof(*st));

	/* Local checks first: nothing goes out for a message that cannot. */
	if (s->caps.size_max > 0 && body->size > s->caps.size_max) {
		res_local(res, SMTP_PERMANENT, SMTP_PHASE_MAIL, SMTP_FAIL_TOO_BIG, 0,
		    "the message (%" PRIu64 " bytes) is larger than the server "
		    "accepts (SIZE %" PRIu64 ")", body->size, s->caps.size_max);
		rcpts_fill(st, n, -1, rcpt_res, res);
		goto out;
	}
	if (sender_check(s, env->sender, res) < 0) {
		rcpts_fill(st, n, -1, rcpt_res, res);
		goto out;
	}
	(void)addr_check(env->sender, &utf8);
	for (i = 0; i < n; i++) {
		if (rcpt_check(s, env->rcpts[i], &rcpt_res[i]) < 0) {
			st[i] = RC_LOCAL;
			continue;
		}
		(void)addr_check(env->rcpts[i], &utf8);
		st[i] = RC_SENT;
		nsend++;
	}
	if (nsend == 0) {
		no_rcpt_result(st, n, rcpt_res, res);
		goto out;
	}
	if (body->eightbit)
		flags |= SMTP_MAIL_8BITMIME;
	if (utf8)
		flags |= SMTP_MAIL_SMTPUTF8;

	if (envelope_run(s, env, body->size, flags, st, rcpt_res, &mail_r, &data_r,
	    &mail_ok, &data_open, res) < 0) {
		/* the connection failed: every undecided recipient shares it */
		rcpts_fill(st, n, RC_SENT, rcpt_res, res);
		goto out;
	}
	for (i = 0; i < n; i++)
		if (st[i] == RC_OK)
			naccepted++;
	if (!mail_ok) {
		/* RFC 2920: RCPTs and DATA after a refused MAIL are refused
		 * too; the MAIL reply is what counts, for every recipient. */
		for (i = 0; i < n; i++)
			if (st[i] != RC_LOCAL)
				smtp_result_copy(&rcpt_res[i], &mail_r);
		smtp_result_copy(res, &mail_r);
		txn_abandon(s, 0, data_open);
		goto out;
	}
	if (naccepted == 0) {
		no_rcpt_result(st, n, rcpt_res, res);
		txn_abandon(s, 1, data_open);
		goto out;
	}
	if (!data_open) {
		rcpts_fill(st, n, RC_OK, rcpt_res, &data_r);
		smtp_result_copy(res, &data_r);
		txn_abandon(s, 1, 0);
		goto out;
	}
	rc = body_send(s, body, res);
	s->rset_next = 1;
	rcpts_fill(st, n, RC_OK, rcpt_res, res);
out:
	s->deadline = 0;
	if (rc < 0)
		log_fail(s, res);
	free(st);
	smtp_result_free(&mail_r);
	smtp_result_free(&data_r);
	return rc;
}

/* ---- lock-step pieces ---- */

int
smtp_client_mail(struct smtp_session *s, const char *sender, uint64_t size,
    int flags, struct smtp_result *res)
{
	struct smtp_reply rep;
	int rc;

	smtp_result_free(res);
	if (usable_for(s, SMTP_PHASE_MAIL, res) < 0)
		return -1;
	if (check_quiet(s, SMTP_PHASE_MAIL, res) < 0)
		return -1;
	if (mail_perform(s, sender, size, flags, res) < 0)
		return -1;
	smtp_reply_init(&rep);
	rc = exchange(s, SMTP_PHASE_MAIL, SMTP_TIMEOUT_MAIL_S, &rep, res);
	if (rc == 0) {
		rc = mail_resp(s, &rep, res);
		if (rc < 0 && !goodbye(s, &rep))
			smtp_state(s, ST_READY);
	}
	smtp_reply_free(&rep);
	return rc;
}

int
smtp_client_rcpt(struct smtp_session *s, const char *rcpt,
    struct smtp_result *res)
{
	struct smtp_reply rep;
	int rc;

	smtp_result_free(res);
	if (s == NULL || s->fd < 0 || (s->state != ST_MAIL && s->state != ST_RCPT))
		return res_local(res, SMTP_TEMPORARY, SMTP_PHASE_RCPT, SMTP_FAIL_UNUSABLE,
		    0, "RCPT needs an accepted MAIL first");
	if (check_quiet(s, SMTP_PHASE_RCPT, res) < 0)
		return -1;
	if (rcpt_perform(s, rcpt, res) < 0)
		return -1;
	smtp_reply_init(&rep);
	rc = exchange(s, SMTP_PHASE_RCPT, SMTP_TIMEOUT_RCPT_S, &rep, res);
	if (rc == 0) {
		rc = rcpt_resp(&rep, res);
		(void)goodbye(s, &rep);
	}
	smtp_reply_free(&rep);
	return rc;
}

int
smtp_client_data(struct smtp_session *s, struct smtp_body *body,
    struct smtp_result *res)
{
	struct smtp_reply rep;
	int rc;

	smtp_result_free(res);
	if (s == NULL || s->fd < 0 || s->state != ST_RCPT)
		return res_local(res, SMTP_TEMPORARY, SMTP_PHASE_DATA, SMTP_FAIL_UNUSABLE,
		    0, "DATA needs an accepted recipient first");
	if (check_quiet(s, SMTP_PHASE_DATA, res) < 0)
		return -1;
	data_perform(s);
	smtp_reply_init(&rep);
	rc = exchange(s, SMTP_PHASE_DATA, SMTP_TIMEOUT_DATA_S, &rep, res);
	if (rc == 0) {
		rc = data_resp(&rep, res);
		if (rc == 0)
			rc = body_send(s, body, res);
		else if (!goodbye(s, &rep))
			smtp_state(s, ST_RCPT);   /* still in the transaction */
	}
	smtp_reply_free(&rep);
	return rc;
}

int
smtp_client_rset(struct smtp_session *s, struct smtp_result *res)
{
	smtp_result_free(res);
	if (s == NULL || s->fd < 0 || (s->state != ST_READY && s->state != ST_MAIL &&
	    s->state != ST_RCPT))
		return res_local(res, SMTP_TEMPORARY, SMTP_PHASE_RSET, SMTP_FAIL_UNUSABLE,
		    0, "the SMTP session is not usable");
	return rset_run(s, res);
}

void
smtp_client_quit(struct smtp_session *s)
{
	if (s == NULL)
		return;
	if (s->fd >= 0 && s->state != ST_BROKEN)
		quit_run(s);
	session_close(s);
}

/* ---- bodies ---- */

static int
mem_read(void *arg, char *buf, size_t n, size_t *got, struct op_err *e)
{
	struct smtp_mem_body *m = arg;
	size_t left = m->len - m->off;

	(void)e;
	*got = left < n ? left : n;
	if (*got > 0)
		memcpy(buf, m->data + m->off, *got);
	m->off += *got;
	return 0;
}

void
smtp_body_from_mem(struct smtp_body *b, struct smtp_mem_body *m,
    const char *data, size_t len)
{
	size_t i, size = len;

	m->data = data;
	m->len = len;
	m->off = 0;
	/* RFC 1870 4: the size counts CRLF pairs; bare CR or LF will be
	 * sent as CRLF. */
	for (i = 0; i < len; i++) {
		if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
			size++;
		else if (data[i] == '\r' && (i + 1 == len || data[i + 1] != '\n'))
			size++;
	}
	b->read = mem_read;
	b->arg = m;
	b->size = size;
	b->eightbit = smtp_data_has_8bit(data, len);
}

/* ---- accessors ---- */

int
smtp_client_usable(const struct smtp_session *s)
{
	return s != NULL && s->fd >= 0 && s->state == ST_READY;
}

unsigned
smtp_client_messages(const struct smtp_session *s)
{
	return s->messages;
}

size_t
smtp_client_nsteps(const struct smtp_session *s)
{
	return s->nsteps;
}

const struct smtp_step *
smtp_client_step(const struct smtp_session *s, size_t i)
{
	return i < s->nsteps ? &s->steps[i] : NULL;
}

const struct smtp_caps *
smtp_client_caps(const struct smtp_session *s)
{
	return &s->caps;
}

const struct tls_info *
smtp_client_tls(const struct smtp_session *s)
{
	return s->tls_tried ? &s->tinfo : NULL;
}

const char *
smtp_client_peer(const struct smtp_session *s)
{
	return s->peer;
}

const struct smtp_reply *
smtp_client_greeting(const struct smtp_session *s)
{
	return &s->greeting;
}

const char *
smtp_client_auth_mech(const struct smtp_session *s)
{
	return s->mech;
}

int
smtp_client_encrypted(const struct smtp_session *s)
{
	return s->tls != NULL;
}
