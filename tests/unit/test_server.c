/*
 * test_server.c - the SMTP listener session, byte by byte.
 *
 * Every scenario asserts the exact reply transcript, and run_all() feeds
 * the same input in one piece, one byte at a time and in other splits:
 * all must give the same replies, the same callbacks and the same
 * messages.  The address validator here is a stand-in for mail/addr.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtp/server.h"
#include "util/buf.h"
#include "util/log.h"

#define GREET "220 mx.test ESMTP Outpost\r\n"
#define EHLO_BASE "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1048576\r\n" \
	"250-8BITMIME\r\n250-SMTPUTF8\r\n"
#define EHLO_REPLY EHLO_BASE "250 ENHANCEDSTATUSCODES\r\n"
#define OK_MAIL "250 2.1.0 Ok\r\n"
#define OK_RCPT "250 2.1.5 Ok\r\n"
#define OK "250 2.0.0 Ok\r\n"
#define GO_DATA "354 End data with <CR><LF>.<CR><LF>\r\n"
#define QUEUED(id) "250 2.0.0 Ok: queued as " id "\r\n"
#define BYE "221 2.0.0 Bye\r\n"
#define TOO_LONG "500 5.5.2 Line too long\r\n"
#define UNKNOWN "500 5.5.2 Command not recognized\r\n"

#define MAX_MSGS 8

static int quiet_fd = 2;        /* where session logs go outside the log test */

enum commit_mode { COMMIT_AUTO = 0, COMMIT_MANUAL = 1, COMMIT_INLINE = 2 };

struct cfg {
	int commit_mode;
	const char *refuse_mail;        /* on_mail refuses this sender */
	const char *refuse_rcpt;        /* on_rcpt refuses this recipient */
	struct server_reply refusal;    /* ... with this reply */
	const struct server_reply *commit_fail; /* COMMIT_AUTO/INLINE: fail */
};

struct msg_copy {
	char *helo, *sender, *rcpts, *body;
	size_t nrcpts, body_len;
	struct server_mail_params params;
	int tls, authenticated;
};

struct rec {
	struct cfg cfg;
	struct server *s;
	struct buf out;         /* every reply, in order */
	struct buf calls;       /* every callback, in order */
	struct msg_copy msgs[MAX_MSGS];
	int nmsgs;
	struct server_message *pending;  /* COMMIT_MANUAL */
	int ids;
	int auth_stage;
	int auth_resets;
	size_t consumed;
};

/* ---- the embedder's side, as a test double ---- */

static int
test_validate(void *arg, const char *m, int smtputf8)
{
	const char *at = strrchr(m, '@');
	const unsigned char *p;

	(void)arg;
	assert_true(m[0] != '\0');
	if (at == NULL || at == m || at[1] == '\0' || strchr(m, ' ') != NULL)
		return -1;
	for (p = (const unsigned char *)m; *p != '\0'; p++)
		if (*p >= 0x80 && !smtputf8)
			return -1;
	return 0;
}

static void call_log(struct rec *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
call_log(struct rec *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	assert_int_equal(buf_vprintf(&r->calls, NULL, fmt, ap), 0);
	va_end(ap);
}

static int
test_on_mail(void *arg, const char *sender, const struct server_mail_params *p,
    struct server_reply *reply)
{
	struct rec *r = arg;
	char t[64];

	snprintf(t, sizeof(t), " size=%llu body=%d utf8=%d\n",
	    (unsigned long long)p->size, p->body, p->smtputf8);
	call_log(r, "mail %s", sender);
	call_log(r, "%s", t);
	if (r->cfg.refuse_mail != NULL && strcmp(sender, r->cfg.refuse_mail) == 0) {
		*reply = r->cfg.refusal;
		return -1;
	}
	return 0;
}

static int
test_on_rcpt(void *arg, const char *rcpt, struct server_reply *reply)
{
	struct rec *r = arg;

	call_log(r, "rcpt %s\n", rcpt);
	if (r->cfg.refuse_rcpt != NULL && strcmp(rcpt, r->cfg.refuse_rcpt) == 0) {
		*reply = r->cfg.refusal;
		return -1;
	}
	return 0;
}

/* Mechanisms: PLAIN (user/pass), LOGIN (two challenges), X-FINAL (success
 * with final server data), X-TEMP (temporary failure). */
static int
test_auth_step(void *arg, const char *mech, const char *resp, struct buf *ch,
    struct server_reply *reply)
{
	struct rec *r = arg;

	(void)reply;
	call_log(r, "auth %s\n", mech);
	if (strcmp(mech, "PLAIN") == 0) {
		if (resp == NULL)
			return SERVER_AUTH_CONTINUE;
		return strcmp(resp, "AHVzZXIAcGFzcw==") == 0 ? SERVER_AUTH_OK :
		    SERVER_AUTH_FAIL;
	}
	if (strcmp(mech, "LOGIN") == 0) {
		if (r->auth_stage == 0 && resp == NULL) {
			r->auth_stage = 1;
			assert_int_equal(buf_appendstr(ch, "VXNlcm5hbWU6", NULL), 0);
			return SERVER_AUTH_CONTINUE;
		}
		if (r->auth_stage <= 1) {
			r->auth_stage = 2;
			if (strcmp(resp, "dXNlcg==") != 0)
				return SERVER_AUTH_FAIL;
			assert_int_equal(buf_appendstr(ch, "UGFzc3dvcmQ6", NULL), 0);
			return SERVER_AUTH_CONTINUE;
		}
		r->auth_stage = 0;
		return strcmp(resp, "cGFzcw==") == 0 ? SERVER_AUTH_OK :
		    SERVER_AUTH_FAIL;
	}
	if (strcmp(mech, "X-FINAL") == 0) {
		assert_int_equal(buf_appendstr(ch, "ZmluYWw=", NULL), 0);
		return SERVER_AUTH_OK;
	}
	return SERVER_AUTH_TEMPFAIL;
}

static void
test_auth_reset(void *arg)
{
	struct rec *r = arg;

	r->auth_stage = 0;
	r->auth_resets++;
	call_log(r, "%s", "auth_reset\n");
}

static void
commit(struct rec *r)
{
	char id[16];

	snprintf(id, sizeof(id), "Q%d", ++r->ids);
	assert_int_equal(server_message_done(r->s, id, r->cfg.commit_fail,
	    NULL), 0);
}

static void
test_on_message(void *arg, struct server_message *m)
{
	struct rec *r = arg;
	struct msg_copy *c;
	struct buf rc;
	size_t i;

	assert_true(server_waiting_for_commit(r->s));
	assert_true(r->nmsgs < MAX_MSGS);
	c = &r->msgs[r->nmsgs++];
	buf_init(&rc, 1 << 20);
	for (i = 0; i < m->nrcpts; i++)
		assert_int_equal(buf_printf(&rc, NULL, "%s%s", i ? "," : "",
		    m->rcpts[i]), 0);
	c->rcpts = buf_detach(&rc, NULL);
	c->nrcpts = m->nrcpts;
	c->helo = str_dup(m->helo);
	c->sender = str_dup(m->sender);
	c->body = str_ndup(m->body, m->body_len);
	c->body_len = m->body_len;
	assert_int_equal(m->body[m->body_len], '\0');
	c->params = m->params;
	c->tls = m->tls;
	c->authenticated = m->authenticated;
	call_log(r, "message %s\n", m->sender);
	if (r->cfg.commit_mode == COMMIT_MANUAL) {
		r->pending = m;
		return;
	}
	server_message_free(m);
	if (r->cfg.commit_mode == COMMIT_INLINE)
		commit(r);
}

static void
base_settings(struct server_settings *set)
{
	memset(set, 0, sizeof(*set));
	set->hostname = "mx.test";
	set->peer = "127.0.0.1:40000";
	set->max_message_size = 1048576;
	set->validate_address = test_validate;
	set->on_mail = test_on_mail;
	set->on_rcpt = test_on_rcpt;
	set->on_message = test_on_message;
	set->auth_step = test_auth_step;
	set->auth_reset = test_auth_reset;
	set->auth_mechs = "PLAIN LOGIN X-FINAL X-TEMP";
}

static void
rec_init(struct rec *r, const struct cfg *cfg)
{
	memset(r, 0, sizeof(*r));
	if (cfg != NULL)
		r->cfg = *cfg;
	buf_init(&r->out, 1 << 22);
	buf_init(&r->calls, 1 << 22);
}

static void
rec_free(struct rec *r)
{
	int i;

	for (i = 0; i < r->nmsgs; i++) {
		free(r->msgs[i].helo);
		free(r->msgs[i].sender);
		free(r->msgs[i].rcpts);
		free(r->msgs[i].body);
	}
	server_message_free(r->pending);
	buf_free(&r->out);
	buf_free(&r->calls);
}

static struct server *
start(const struct server_settings *tmpl, struct rec *r)
{
	struct server_settings set = *tmpl;
	struct op_err e;

	set.arg = r;
	r->s = server_new(&set, &e);
	assert_non_null(r->s);
	return r->s;
}

/* Write out what the session produced, in uneven pieces. */
static void
drain(struct rec *r)
{
	const char *p;
	size_t len, n;

	for (;;) {
		p = server_output(r->s, &len);
		if (len == 0)
			return;
		n = len > 5 ? len - 5 : len;
		assert_int_equal(buf_append(&r->out, p, n, NULL), 0);
		server_output_consume(r->s, n);
	}
}

/* Feed in[0..len) in chunks of step (0: all at once), like an event loop:
 * unconsumed bytes are fed again once the session wants input. */
static void
drive(struct rec *r, const char *in, size_t len, size_t step)
{
	size_t off = 0, chunk, n;

	drain(r);
	while (off < len) {
		chunk = step == 0 || len - off < step ? len - off : step;
		n = server_feed(r->s, in + off, chunk);
		assert_true(n <= chunk);
		off += n;
		drain(r);
		if (n == chunk)
			continue;
		if (server_waiting_for_commit(r->s) &&
		    r->cfg.commit_mode == COMMIT_AUTO) {
			commit(r);
			drain(r);
			continue;
		}
		if (!server_want_input(r->s))
			break;
	}
	/* A commit owed at the very end of the input. */
	if (server_waiting_for_commit(r->s) && r->cfg.commit_mode == COMMIT_AUTO) {
		commit(r);
		drain(r);
	}
	r->consumed = off;
}

static void
assert_same(const struct rec *a, const struct rec *b)
{
	int i;

	assert_string_equal(a->out.data ? a->out.data : "",
	    b->out.data ? b->out.data : "");
	assert_string_equal(a->calls.data ? a->calls.data : "",
	    b->calls.data ? b->calls.data : "");
	assert_int_equal(a->consumed, b->consumed);
	assert_int_equal(a->nmsgs, b->nmsgs);
	for (i = 0; i < a->nmsgs; i++) {
		assert_string_equal(a->msgs[i].sender, b->msgs[i].sender);
		assert_string_equal(a->msgs[i].rcpts, b->msgs[i].rcpts);
		assert_int_equal(a->msgs[i].body_len, b->msgs[i].body_len);
		assert_memory_equal(a->msgs[i].body, b->msgs[i].body,
		    a->msgs[i].body_len);
	}
}

/*
 * Run in through fresh sessions in every split (whole, 1, 2, 3, 7, 64
 * bytes, and pseudo-random chunks): the transcript must be expected (when
 * not NULL) and identical across splits, and so must the callbacks and
 * messages.  The whole-feed run is left in *r (rec_free it).
 */
static void
run_all(const struct server_settings *tmpl, const struct cfg *cfg,
    const char *in, size_t len, const char *expected, struct rec *r)
{
	static const size_t steps[] = { 1, 2, 3, 7, 64 };
	struct rec x;
	size_t i, off, chunk, n;
	unsigned seed = 12345;

	rec_init(r, cfg);
	start(tmpl, r);
	drive(r, in, len, 0);
	server_free(r->s);
	r->s = NULL;
	if (expected != NULL)
		assert_string_equal(r->out.data ? r->out.data : "", expected);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		rec_init(&x, cfg);
		start(tmpl, &x);
		drive(&x, in, len, steps[i]);
		server_free(x.s);
		assert_same(r, &x);
		rec_free(&x);
	}
	/* Random chunk sizes 1..97, with the event loop's re-feeding. */
	rec_init(&x, cfg);
	start(tmpl, &x);
	for (off = 0; off < len;) {
		seed = seed * 1103515245u + 12345u;
		chunk = 1 + (seed >> 16) % 97;
		if (chunk > len - off)
			chunk = len - off;
		drive(&x, in + off, chunk, 0);
		n = x.consumed;
		off += n;
		if (n < chunk && !server_want_input(x.s))
			break;
	}
	x.consumed = off;
	server_free(x.s);
	assert_same(r, &x);
	rec_free(&x);
}

static void
run_str(const struct server_settings *tmpl, const struct cfg *cfg,
    const char *in, const char *expected, struct rec *r)
{
	run_all(tmpl, cfg, in, strlen(in), expected, r);
}

/* ---- tests ---- */

static void
test_greeting(void **state)
{
	struct server_settings set;
	struct rec r;
	size_t len;

	(void)state;
	base_settings(&set);
	rec_init(&r, NULL);
	start(&set, &r);
	assert_string_equal(server_output(r.s, &len), GREET);
	assert_int_equal(len, strlen(GREET));
	assert_true(server_want_input(r.s));
	assert_false(server_want_close(r.s));
	assert_false(server_want_starttls(r.s));
	assert_false(server_waiting_for_commit(r.s));
	server_free(r.s);
	rec_free(&r);
}

static void
test_ehlo_capabilities(void **state)
{
	struct server_settings set;
	struct rec r;

	(void)state;
	/* Neither TLS nor AUTH. */
	base_settings(&set);
	run_str(&set, NULL, "EHLO client.test\r\n", GREET EHLO_REPLY, &r);
	rec_free(&r);

	/* HELO: no capabilities. */
	run_str(&set, NULL, "HELO client.test\r\n", GREET "250 mx.test\r\n", &r);
	rec_free(&r);

	/* STARTTLS available. */
	set.tls_available = 1;
	run_str(&set, NULL, "EHLO client.test\r\n", GREET EHLO_BASE
	    "250-ENHANCEDSTATUSCODES\r\n250 STARTTLS\r\n", &r);
	rec_free(&r);

	/* AUTH allowed in clear (and no TLS). */
	base_settings(&set);
	set.auth_available = 1;
	set.auth_plaintext = 1;
	run_str(&set, NULL, "EHLO client.test\r\n", GREET EHLO_BASE
	    "250-ENHANCEDSTATUSCODES\r\n250 AUTH PLAIN LOGIN X-FINAL X-TEMP\r\n",
	    &r);
	rec_free(&r);

	/* AUTH only over TLS: not offered in clear, but STARTTLS is. */
	set.auth_plaintext = 0;
	set.tls_available = 1;
	run_str(&set, NULL, "EHLO client.test\r\n", GREET EHLO_BASE
	    "250-ENHANCEDSTATUSCODES\r\n250 STARTTLS\r\n", &r);
	rec_free(&r);

	/* Implicit TLS: AUTH offered, STARTTLS not. */
	set.tls_active = 1;
	run_str(&set, NULL, "EHLO client.test\r\n", GREET EHLO_BASE
	    "250-ENHANCEDSTATUSCODES\r\n250 AUTH PLAIN LOGIN X-FINAL X-TEMP\r\n",
	    &r);
	rec_free(&r);
}

#define TXN "EHLO client.test\r\nMAIL FROM:<app@example.com>\r\n" \
	"RCPT TO:<one@example.org>\r\nRCPT TO:<two@example.org>\r\nDATA\r\n"
#define TXN_REPLY GREET EHLO_REPLY OK_MAIL OK_RCPT OK_RCPT GO_DATA

static void
test_full_transaction(void **state)
{
	struct server_settings set;
	struct rec r;

	(void)state;
	base_settings(&set);
	run_str(&set, NULL,
	    TXN "Subject: hi\r\n\r\nHello.\r\n.\r\nQUIT\r\n",
	    TXN_REPLY QUEUED("Q1") BYE, &r);
	assert_int_equal(r.nmsgs, 1);
	assert_string_equal(r.msgs[0].helo, "client.test");
	assert_string_equal(r.msgs[0].sender, "app@example.com");
	assert_string_equal(r.msgs[0].rcpts, "one@example.org,two@example.org");
	assert_int_equal(r.msgs[0].nrcpts, 2);
	assert_string_equal(r.msgs[0].body, "Subject: hi\r\n\r\nHello.\r\n");
	assert_int_equal(r.msgs[0].tls, 0);
	assert_int_equal(r.msgs[0].authenticated, 0);
	assert_string_equal(r.calls.data,
	    "mail app@example.com size=0 body=0 utf8=0\n"
	    "rcpt one@example.org\nrcpt two@example.org\n"
	    "message app@example.com\n");
	rec_free(&r);

	/* Two messages in one session, and an empty one. */
	run_str(&set, NULL,
	    TXN "a\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<x@y.z>\r\nDATA\r\n.\r\n",
	    TXN_REPLY QUEUED("Q1") OK_MAIL OK_RCPT GO_DATA QUEUED("Q2"), &r);
	assert_int_equal(r.nmsgs, 2);
	assert_string_equal(r.msgs[1].sender, "");
	assert_string_equal(r.msgs[1].body, "");
	rec_free(&r);
}

static void
test_pipelining(void **state)
{
	struct server_settings set;
	struct rec r;
	size_t len;
	const char *out;
	static const char batch[] = "MAIL FROM:<a@b.c>\r\nRCPT TO:<c@d.e>\r\n"
	    "RCPT TO:<e@f.g>\r\nDATA\r\n";

	(void)state;
	base_settings(&set);
	rec_init(&r, NULL);
	start(&set, &r);
	drive(&r, "EHLO c\r\n", 8, 0);
	/* The whole group in one read: four replies, in order, at once. */
	assert_int_equal(server_feed(r.s, batch, strlen(batch)), strlen(batch));
	out = server_output(r.s, &len);
	assert_int_equal(len, strlen(OK_MAIL OK_RCPT OK_RCPT GO_DATA));
	assert_memory_equal(out, OK_MAIL OK_RCPT OK_RCPT GO_DATA, len);
	server_output_consume(r.s, len);
	server_free(r.s);
	rec_free(&r);
}

/* The smuggling variants: a lone "." around bare LF/CR must stay body. */
static void
test_smuggling(void **state)
{
	static const struct {
		const char *sep;
		const char *body_sep;   /* how the stored body shows it */
	} v[] = {
		{ "\n.\n", "\r\n.\r\n" },
		{ "\r.\r", "\r\n.\r\n" },
		{ "\n.\r\n", "\r\n.\r\n" },
		{ "\r\n.\n", "\r\n.\r\n" },
		{ "\r\n.\r\r\n", "\r\n.\r\n\r\n" },
		{ "\n.\r", "\r\n.\r\n" },
		{ "\r.\n", "\r\n.\r\n" },
		{ "\r.\r\n", "\r\n.\r\n" },
	};
	static const char evil[] = "MAIL FROM:<evil@x.test>\r\n"
	    "RCPT TO:<victim@y.test>\r\nDATA\r\nevil body\r\n";
	struct server_settings set;
	char in[1024], body[1024];
	struct rec r;
	size_t i;

	(void)state;
	base_settings(&set);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		snprintf(in, sizeof(in), TXN "Subject: x\r\n\r\nhello%s%s.\r\n",
		    v[i].sep, evil);
		snprintf(body, sizeof(body), "Subject: x\r\n\r\nhello%s%s",
		    v[i].body_sep, evil);
		run_str(&set, NULL, in, TXN_REPLY QUEUED("Q1"), &r);
		assert_int_equal(r.nmsgs, 1);
		assert_string_equal(r.msgs[0].sender, "app@example.com");
		assert_string_equal(r.msgs[0].body, body);
		assert_non_null(strstr(r.msgs[0].body, "RCPT TO:<victim@y.test>"));
		assert_null(strstr(r.calls.data, "evil"));
		assert_null(strstr(r.calls.data, "victim"));
		rec_free(&r);
	}

	/* Bare LF/CR elsewhere: normalised to CRLF, never an end. */
	run_str(&set, NULL, TXN "a\nb\rc\r\n\n\r\r\n.\r\n",
	    TXN_REPLY QUEUED("Q1"), &r);
	assert_string_equal(r.msgs[0].body, "a\r\nb\r\nc\r\n\r\n\r\n\r\n");
	rec_free(&r);

	/* A genuine end followed by pipelined commands: those are commands,
	 * in order, after the message's reply (RFC 2920). */
	run_str(&set, NULL, TXN "x\r\n.\r\n" "MAIL FROM:<next@x.test>\r\n"
	    "RCPT TO:<n@y.test>\r\nDATA\r\ny\r\n.\r\nQUIT\r\n",
	    TXN_REPLY QUEUED("Q1") OK_MAIL OK_RCPT GO_DATA QUEUED("Q2") BYE, &r);
	assert_int_equal(r.nmsgs, 2);
	assert_string_equal(r.msgs[1].sender, "next@x.test");
	assert_string_equal(r.msgs[1].body, "y\r\n");
	rec_free(&r);
}

static void
test_dot_unstuffing(void **state)
{
	struct server_settings set;
	struct rec r;

	(void)state;
	base_settings(&set);
	run_str(&set, NULL, TXN "..\r\n...x\r\n.y\r\n. \r\nz.\r\n.\r\n",
	    TXN_REPLY QUEUED("Q1"), &r);
	assert_string_equal(r.msgs[0].body, ".\r\n..x\r\ny\r\n \r\nz.\r\n");
	rec_free(&r);
}

static void
test_command_line_limit(void **state)
{
	struct server_settings set;
	char in[8192];
	struct rec r;
	size_t n;

	(void)state;
	base_settings(&set);
	/* 512 octets with CRLF: accepted. */
	n = (size_t)snprintf(in, sizeof(in), "NOOP %0505d\r\n", 0);
	assert_int_equal(n, 512);
	run_str(&set, NULL, in, GREET OK, &r);
	rec_free(&r);
	/* 513: refused, and the next command is read normally. */
	n = (size_t)snprintf(in, sizeof(in), "NOOP %0506d\r\nNOOP\r\n", 0);
	run_str(&set, NULL, in, GREET TOO_LONG OK, &r);
	rec_free(&r);
	/* Far longer, ended by a bare LF. */
	memset(in, 'A', 6000);
	memcpy(in + 6000, "\nQUIT\r\n", 8);
	run_str(&set, NULL, in, GREET TOO_LONG BYE, &r);
	rec_free(&r);
	/* A too long MAIL is not half-executed. */
	n = (size_t)snprintf(in, sizeof(in),
	    "EHLO c\r\nMAIL FROM:<%0600d@x.test>\r\nRCPT TO:<a@b.c>\r\n", 0);
	run_str(&set, NULL, in, GREET EHLO_REPLY TOO_LONG
	    "503 5.5.1 Need MAIL command\r\n", &r);
	assert_null(r.calls.data);
	rec_free(&r);
}

/* The 500 comes as soon as the limit is passed, not at the line's end: a
 * client that never sends CRLF still hears why.  The rest of the line is
 * discarded unanswered; SERVER_LONG_LINES_MAX such lines end the session. */
static void
test_command_line_limit_at_once(void **state)
{
	struct server_settings set;
	static char in[16384];
	struct rec r;
	size_t n;

	(void)state;
	base_settings(&set);
	/* 511 octets and no line end yet: refused already. */
	n = (size_t)snprintf(in, sizeof(in), "NOOP %0506d", 0);
	assert_int_equal(n, 511);
	run_str(&set, NULL, in, GREET TOO_LONG, &r);
	rec_free(&r);
	/* The rest of that line, however long, gets no second reply. */
	memset(in, 'A', 3000);
	memcpy(in + 3000, "\r\nNOOP\r\n", 9);
	run_str(&set, NULL, in, GREET TOO_LONG OK, &r);
	rec_free(&r);
	/* Three long lines end the session; what follows is not read. */
	n = 0;
	for (int k = 0; k < SERVER_LONG_LINES_MAX; k++) {
		memset(in + n, 'B', 600);
		n += 600;
		memcpy(in + n, "\r\n", 2);
		n += 2;
	}
	memcpy(in + n, "NOOP\r\n", 7);
	in[n + 7] = '\0';
	run_str(&set, NULL, in, GREET TOO_LONG TOO_LONG TOO_LONG
	    "421 4.7.0 mx.test Too many long lines, closing connection\r\n",
	    &r);
	rec_free(&r);
	/* An AUTH response line: 5.5.6 at once as well. */
	n = (size_t)snprintf(in, sizeof(in), "EHLO c\r\nAUTH LOGIN\r\n");
	memset(in + n, 'A', 12400);
	in[n + 12400] = '\0';
	set.auth_available = 1;
	set.auth_plaintext = 1;
	run_str(&set, NULL, in, NULL, &r);
	assert_non_null(strstr(r.out.data,
	    "500 5.5.6 Authentication Exchange line is too long\r\n"));
	rec_free(&r);
}

static void
test_command_line_characters(void **state)
{
	struct server_settings set;
	struct rec r;
	static const char nul[] = "NOOP a\0b\r\nNOOP\r\n";

	(void)state;
	base_settings(&set);
	/* Bare LF ends a command like CRLF. */
	run_str(&set, NULL, "EHLO c\nMAIL FROM:<a@b.c>\nRSET\n",
	    GREET EHLO_REPLY OK_MAIL OK, &r);
	rec_free(&r);
	/* A bare CR inside a command line: refused. */
	run_str(&set, NULL, "NOOP a\rb\r\nNOOP\r\n",
	    GREET "500 5.5.2 Bare CR in command line\r\n" OK, &r);
	rec_free(&r);
	/* NUL and other controls. */
	run_all(&set, NULL, nul, sizeof(nul) - 1,
	    GREET "500 5.5.2 Invalid character in command line\r\n" OK, &r);
	rec_free(&r);
	/* Case does not matter, trailing blanks do not either. */
	run_str(&set, NULL, "ehlo c\r\nmail from:<a@b.c> \r\nNoOp\r\n",
	    GREET EHLO_REPLY OK_MAIL OK, &r);
	rec_free(&r);
}

static void
test_body_line_limit(void **state)
{
	struct server_settings set;
	static char in[8192], line[1200];
	struct rec r;

	(void)state;
	base_settings(&set);
	/* 998 + CRLF = 1000: fine. */
	memset(line, 'x', 998);
	line[998] = '\0';
	snprintf(in, sizeof(in), TXN "%s\r\n.\r\n", line);
	run_str(&set, NULL, in, TXN_REPLY QUEUED("Q1"), &r);
	assert_int_equal(r.msgs[0].body_len, 1000);
	rec_free(&r);
	/* A stuffed dot does not count. */
	snprintf(in, sizeof(in), TXN ".%s\r\n.\r\n", line);
	run_str(&set, NULL, in, TXN_REPLY QUEUED("Q1"), &r);
	assert_int_equal(r.msgs[0].body_len, 1000);
	rec_free(&r);
	/* 999 + CRLF: refused at the end of data, the session goes on. */
	line[998] = 'y';
	line[999] = '\0';
	snprintf(in, sizeof(in), TXN "ok\r\n%s\r\nmore\r\n.\r\n"
	    "RCPT TO:<a@b.c>\r\nMAIL FROM:<a@b.c>\r\n", line);
	run_str(&set, NULL, in, TXN_REPLY
	    "554 5.6.0 Message refused: a line is longer than 1000 octets\r\n"
	    "503 5.5.1 Need MAIL command\r\n" OK_MAIL, &r);
	assert_int_equal(r.nmsgs, 0);
	rec_free(&r);
}

/* A NUL anywhere in the message: 554 at the end of DATA naming it, the
 * message not handed over, the session in step. */
static void
test_body_nul(void **state)
{
	struct server_settings set;
	struct rec r;
	static const char hdr[] = TXN "Subject: a\0b\r\n\r\nhi\r\n.\r\nNOOP\r\n";
	static const char body[] = TXN "Subject: a\r\n\r\nhi\r\nx\0\r\n.\r\n";

	(void)state;
	base_settings(&set);
	run_all(&set, NULL, hdr, sizeof(hdr) - 1, TXN_REPLY
	    "554 5.6.0 Message refused: a NUL byte in the header, line 1; "
	    "mail cannot carry NUL bytes (RFC 2045 section 2.8): remove it, "
	    "or send binary data as a base64 attachment\r\n" OK, &r);
	assert_int_equal(r.nmsgs, 0);
	rec_free(&r);
	run_all(&set, NULL, body, sizeof(body) - 1, NULL, &r);
	assert_non_null(strstr(r.out.data, "554 5.6.0 Message refused: a NUL "
	    "byte in the body, line 4;"));
	assert_int_equal(r.nmsgs, 0);
	rec_free(&r);
}

static void
test_max_recipients(void **state)
{
	struct server_settings set;
	struct buf in, want;
	struct rec r;
	int i;

	(void)state;
	base_settings(&set);
	buf_init(&in, 1 << 20);
	buf_init(&want, 1 << 20);
	assert_int_equal(buf_appendstr(&in, "EHLO c\r\nMAIL FROM:<a@b.c>\r\n", NULL), 0);
	assert_int_equal(buf_appendstr(&want, GREET EHLO_REPLY OK_MAIL, NULL), 0);
	for (i = 1; i <= 1001; i++) {
		assert_int_equal(buf_printf(&in, NULL, "RCPT TO:<r%d@x.test>\r\n", i), 0);
		assert_int_equal(buf_appendstr(&want, i <= 1000 ? OK_RCPT :
		    "452 4.5.3 Too many recipients\r\n", NULL), 0);
	}
	assert_int_equal(buf_appendstr(&in, "DATA\r\nhi\r\n.\r\n", NULL), 0);
	assert_int_equal(buf_appendstr(&want, GO_DATA QUEUED("Q1"), NULL), 0);
	run_all(&set, NULL, in.data, in.len, want.data, &r);
	assert_int_equal(r.nmsgs, 1);
	assert_int_equal(r.msgs[0].nrcpts, 1000);
	assert_non_null(strstr(r.msgs[0].rcpts, "r1000@x.test"));
	assert_null(strstr(r.msgs[0].rcpts, "r1001@"));
	assert_null(strstr(r.calls.data, "r1001@"));
	rec_free(&r);
	buf_free(&in);
	buf_free(&want);

	/* A smaller configured limit. */
	set.max_recipients = 2;
	run_str(&set, NULL, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<1@x.y>\r\n"
	    "RCPT TO:<2@x.y>\r\nRCPT TO:<3@x.y>\r\n", GREET EHLO_REPLY OK_MAIL
	    OK_RCPT OK_RCPT "452 4.5.3 Too many recipients\r\n", &r);
	rec_free(&r);
}

static void
test_size(void **state)
{
	struct server_settings set;
	struct rec r;
	char in[4096], body[300];

	(void)state;
	base_settings(&set);
	set.max_message_size = 100;
	run_str(&set, NULL, "EHLO c\r\n"
	    "MAIL FROM:<a@b.c> SIZE=101\r\n"
	    "MAIL FROM:<a@b.c> SIZE=18446744073709551616\r\n"
	    "MAIL FROM:<a@b.c> SIZE=123456789012345678901\r\n"
	    "MAIL FROM:<a@b.c> SIZE=1x\r\n"
	    "MAIL FROM:<a@b.c> SIZE=100\r\n",
	    GREET "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 100\r\n"
	    "250-8BITMIME\r\n250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES\r\n"
	    "552 5.3.4 Message size exceeds fixed maximum message size\r\n"
	    "552 5.3.4 Message size exceeds fixed maximum message size\r\n"
	    "501 5.5.4 Bad SIZE parameter\r\n"
	    "501 5.5.4 Bad SIZE parameter\r\n" OK_MAIL, &r);
	assert_string_equal(r.calls.data,
	    "mail a@b.c size=100 body=0 utf8=0\n");
	rec_free(&r);

	/* A body over the limit: drained to the end, refused, no message. */
	memset(body, 'b', 60);
	body[60] = '\0';
	snprintf(in, sizeof(in), "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n"
	    "DATA\r\n%s\r\n%s\r\n.\r\nRCPT TO:<d@e.f>\r\nMAIL FROM:<a@b.c>\r\n",
	    body, body);
	run_str(&set, NULL, in, GREET "250-mx.test\r\n250-PIPELINING\r\n"
	    "250-SIZE 100\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
	    "250 ENHANCEDSTATUSCODES\r\n" OK_MAIL OK_RCPT GO_DATA
	    "552 5.3.4 Message size exceeds fixed maximum message size\r\n"
	    "503 5.5.1 Need MAIL command\r\n" OK_MAIL, &r);
	assert_int_equal(r.nmsgs, 0);
	rec_free(&r);

	/* Exactly the limit (after unstuffing and normalisation). */
	memset(body, 'b', 98);
	body[98] = '\0';
	snprintf(in, sizeof(in), "HELO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n"
	    "DATA\r\n.%s\r\n.\r\n", body);
	run_str(&set, NULL, in, GREET "250 mx.test\r\n" OK_MAIL OK_RCPT GO_DATA
	    QUEUED("Q1"), &r);
	assert_int_equal(r.msgs[0].body_len, 100);
	rec_free(&r);
}

static void
test_starttls_injection(void **state)
{
	struct server_settings set;
	struct rec r;
	static const char in[] = "EHLO c\r\nSTARTTLS\r\nMAIL FROM:<a@b.c>\r\n";
	size_t step;

	(void)state;
	base_settings(&set);
	set.tls_available = 1;
	set.auth_available = 1;         /* AUTH only after TLS */
	for (step = 0; step <= 3; step++) {
		rec_init(&r, NULL);
		start(&set, &r);
		drive(&r, in, strlen(in), step);
		/* Everything was consumed, the MAIL was dropped unanswered. */
		assert_int_equal(r.consumed, strlen(in));
		assert_true(server_want_starttls(r.s));
		assert_false(server_want_input(r.s));
		assert_string_equal(r.out.data, GREET EHLO_BASE
		    "250-ENHANCEDSTATUSCODES\r\n250 STARTTLS\r\n"
		    "220 2.0.0 Ready to start TLS\r\n");
		assert_null(r.calls.data);
		/* More plaintext before the handshake: dropped too. */
		assert_int_equal(server_feed(r.s, "RCPT TO:<x@y.z>\r\n", 17), 17);
		assert_int_equal(server_starttls_done(r.s, 1, NULL), 0);
		assert_false(server_want_starttls(r.s));
		/* Back to the pre-EHLO state, over TLS. */
		drive(&r, "MAIL FROM:<a@b.c>\r\nEHLO c\r\nSTARTTLS\r\n", 37, step);
		assert_string_equal(r.out.data, GREET EHLO_BASE
		    "250-ENHANCEDSTATUSCODES\r\n250 STARTTLS\r\n"
		    "220 2.0.0 Ready to start TLS\r\n"
		    "503 5.5.1 Send HELO/EHLO first\r\n"
		    EHLO_BASE "250-ENHANCEDSTATUSCODES\r\n"
		    "250 AUTH PLAIN LOGIN X-FINAL X-TEMP\r\n"
		    "502 5.5.1 Command not implemented\r\n");
		assert_null(r.calls.data);
		server_free(r.s);
		rec_free(&r);
	}

	/* A failed handshake: close, nothing more said. */
	rec_init(&r, NULL);
	start(&set, &r);
	drive(&r, "EHLO c\r\nSTARTTLS\r\n", 18, 0);
	assert_int_equal(server_starttls_done(r.s, 0, NULL), 0);
	assert_true(server_want_close(r.s));
	assert_int_equal(server_starttls_done(r.s, 1, NULL), -1);
	server_free(r.s);
	rec_free(&r);

	/* STARTTLS refused: args, inside a transaction, before EHLO, not
	 * offered. */
	run_str(&set, NULL, "STARTTLS\r\nEHLO c\r\nSTARTTLS now\r\n"
	    "MAIL FROM:<a@b.c>\r\nSTARTTLS\r\n",
	    GREET "503 5.5.1 Send EHLO first\r\n" EHLO_BASE
	    "250-ENHANCEDSTATUSCODES\r\n250 STARTTLS\r\n"
	    "501 5.5.4 Syntax: STARTTLS\r\n" OK_MAIL
	    "503 5.5.1 Not allowed in a mail transaction\r\n", &r);
	rec_free(&r);
	base_settings(&set);
	run_str(&set, NULL, "EHLO c\r\nSTARTTLS\r\nNOOP\r\n",
	    GREET EHLO_REPLY "502 5.5.1 Command not implemented\r\n" OK, &r);
	rec_free(&r);
}

static void
test_auth(void **state)
{
	struct server_settings set;
	struct rec r;

	(void)state;
	base_settings(&set);
	set.auth_available = 1;
	set.auth_required = 1;
	set.auth_plaintext = 1;
#define EHLO_AUTH EHLO_BASE "250-ENHANCEDSTATUSCODES\r\n" \
	"250 AUTH PLAIN LOGIN X-FINAL X-TEMP\r\n"
	/* Required: 530 before, 250 after a good PLAIN. */
	run_str(&set, NULL, "EHLO c\r\nMAIL FROM:<a@b.c>\r\n"
	    "AUTH PLAIN AHVzZXIAcGFzcw==\r\nMAIL FROM:<a@b.c>\r\n"
	    "AUTH PLAIN AHVzZXIAcGFzcw==\r\n",
	    GREET EHLO_AUTH "530 5.7.0 Authentication required\r\n"
	    "235 2.7.0 Authentication successful\r\n" OK_MAIL
	    "503 5.5.1 Not allowed in a mail transaction\r\n", &r);
	rec_free(&r);
	/* Already authenticated. */
	run_str(&set, NULL, "EHLO c\r\nAUTH PLAIN AHVzZXIAcGFzcw==\r\n"
	    "AUTH PLAIN AHVzZXIAcGFzcw==\r\n",
	    GREET EHLO_AUTH "235 2.7.0 Authentication successful\r\n"
	    "503 5.5.1 Already authenticated\r\n", &r);
	rec_free(&r);
	/* PLAIN without initial response, LOGIN in three steps. */
	run_str(&set, NULL, "EHLO c\r\nAUTH plain\r\nAHVzZXIAcGFzcw==\r\n",
	    GREET EHLO_AUTH "334 \r\n235 2.7.0 Authentication successful\r\n",
	    &r);
	rec_free(&r);
	run_str(&set, NULL, "EHLO c\r\nAUTH LOGIN\r\ndXNlcg==\r\ncGFzcw==\r\n"
	    "MAIL FROM:<a@b.c>\r\n",
	    GREET EHLO_AUTH "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n"
	    "235 2.7.0 Authentication successful\r\n" OK_MAIL, &r);
	rec_free(&r);
	/* LOGIN with the user name as initial response. */
	run_str(&set, NULL, "EHLO c\r\nAUTH LOGIN dXNlcg==\r\ncGFzcw==\r\n",
	    GREET EHLO_AUTH "334 UGFzc3dvcmQ6\r\n"
	    "235 2.7.0 Authentication successful\r\n", &r);
	rec_free(&r);
	/* Wrong password, cancel, bad base64, unknown mechanism, bad
	 * syntax, temporary failure. */
	run_str(&set, NULL, "EHLO c\r\nAUTH PLAIN AHVzZXIAeA==\r\n"
	    "AUTH LOGIN\r\n*\r\nAUTH LOGIN\r\n!!\r\nAUTH PLAIN !!\r\n"
	    "AUTH CRAM-MD5\r\nAUTH\r\nAUTH PLAIN a b\r\nAUTH X-TEMP\r\n"
	    "MAIL FROM:<a@b.c>\r\n",
	    GREET EHLO_AUTH "535 5.7.8 Authentication credentials invalid\r\n"
	    "334 VXNlcm5hbWU6\r\n501 5.7.0 Authentication cancelled\r\n"
	    "334 VXNlcm5hbWU6\r\n501 5.5.2 Invalid base64 data\r\n"
	    "501 5.5.2 Invalid base64 data\r\n"
	    "504 5.5.4 Unrecognized authentication type\r\n"
	    "501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n"
	    "501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n"
	    "454 4.7.0 Temporary authentication failure\r\n"
	    "530 5.7.0 Authentication required\r\n", &r);
	assert_true(r.auth_resets >= 2);
	rec_free(&r);
	/* Success with final server data (RFC 4954 section 4). */
	run_str(&set, NULL, "EHLO c\r\nAUTH X-FINAL =\r\n\r\nMAIL FROM:<a@b.c>\r\n",
	    GREET EHLO_AUTH "334 ZmluYWw=\r\n"
	    "235 2.7.0 Authentication successful\r\n" OK_MAIL, &r);
	rec_free(&r);
	/* An overlong exchange line. */
	{
		char in[14000];
		int n = snprintf(in, sizeof(in), "EHLO c\r\nAUTH LOGIN\r\n");

		memset(in + n, 'A', 12400);
		memcpy(in + n + 12400, "\r\nNOOP\r\n", 9);
		run_str(&set, NULL, in, GREET EHLO_AUTH "334 VXNlcm5hbWU6\r\n"
		    "500 5.5.6 Authentication Exchange line is too long\r\n" OK,
		    &r);
		rec_free(&r);
		/* 12288 with CRLF is not too long (here it is simply not
		 * base64: 12286 is no multiple of 4). */
		n = snprintf(in, sizeof(in), "EHLO c\r\nAUTH LOGIN\r\n");
		memset(in + n, 'A', 12284);
		memcpy(in + n + 12284, "==\r\n", 5);
		run_str(&set, NULL, in, GREET EHLO_AUTH "334 VXNlcm5hbWU6\r\n"
		    "501 5.5.2 Invalid base64 data\r\n", &r);
		rec_free(&r);
		/* 12284 octets of base64: handed to the SASL step. */
		n = snprintf(in, sizeof(in), "EHLO c\r\nAUTH LOGIN\r\n");
		memset(in + n, 'A', 12284);
		memcpy(in + n + 12284, "\r\n", 3);
		run_str(&set, NULL, in, GREET EHLO_AUTH "334 VXNlcm5hbWU6\r\n"
		    "535 5.7.8 Authentication credentials invalid\r\n", &r);
		rec_free(&r);
	}
	/* In clear when only TLS allows AUTH: 538, and MAIL says STARTTLS. */
	set.auth_plaintext = 0;
	set.tls_available = 1;
	run_str(&set, NULL, "EHLO c\r\nAUTH PLAIN AHVzZXIAcGFzcw==\r\n"
	    "MAIL FROM:<a@b.c>\r\n",
	    GREET EHLO_BASE "250-ENHANCEDSTATUSCODES\r\n250 STARTTLS\r\n"
	    "538 5.7.11 Encryption required for requested authentication "
	    "mechanism\r\n530 5.7.0 Must issue a STARTTLS command first\r\n", &r);
	assert_null(r.calls.data);
	rec_free(&r);
	/* AUTH not offered at all, and AUTH needs EHLO. */
	base_settings(&set);
	run_str(&set, NULL, "EHLO c\r\nAUTH PLAIN\r\n",
	    GREET EHLO_REPLY "502 5.5.1 Command not implemented\r\n", &r);
	rec_free(&r);
	set.auth_available = 1;
	set.auth_plaintext = 1;
	run_str(&set, NULL, "HELO c\r\nAUTH PLAIN\r\n",
	    GREET "250 mx.test\r\n503 5.5.1 Send EHLO first\r\n", &r);
	rec_free(&r);
}

static void
test_auth_not_logged(void **state)
{
	struct server_settings set;
	struct rec r;
	char path[] = "/tmp/test_server_log_XXXXXX";
	static char log[1 << 17];
	ssize_t n;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	log_set_fd(fd);
	log_set_level(LOG_DEBUG);
	base_settings(&set);
	set.auth_available = 1;
	set.auth_plaintext = 1;
	run_str(&set, NULL, "EHLO c\r\nAUTH LOGIN dXNlcg==\r\ncGFzcw==\r\n"
	    "AUTH PLAIN AHVzZXIAeA==\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n"
	    "DATA\r\nsecret-body\r\n.\r\nQUIT\r\n", NULL, &r);
	rec_free(&r);
	log_set_level(LOG_INFO);
	log_set_fd(quiet_fd);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	n = read(fd, log, sizeof(log) - 1);
	close(fd);
	assert_true(n > 0);
	log[n] = '\0';
	assert_null(strstr(log, "dXNlcg"));
	assert_null(strstr(log, "cGFzcw"));
	assert_null(strstr(log, "AHVzZXIAeA"));
	assert_null(strstr(log, "secret-body"));
	assert_non_null(strstr(log, "event=smtp_auth peer=127.0.0.1:40000 "
	    "mech=LOGIN result=ok"));
	assert_non_null(strstr(log, "event=smtp_message"));
	assert_non_null(strstr(log, "result=queued id=Q1 from=a@b.c rcpts=1"));
	assert_non_null(strstr(log, "event=smtp_session_end peer=127.0.0.1:40000"
	    " reason=quit messages=1"));
}

static void
test_misc_commands(void **state)
{
	struct server_settings set;
	struct rec r;

	(void)state;
	base_settings(&set);
	run_str(&set, NULL, "VRFY someone\r\nVRFY\r\nHELP\r\nFOO bar\r\n"
	    "BDAT 10 LAST\r\nEXPN list\r\nNOOP hello there\r\n\r\n"
	    "RSET now\r\nRSET\r\nQUIT now\r\nQUIT\r\nNOOP\r\n",
	    GREET "252 2.5.0 Cannot VRFY user, but will accept message\r\n"
	    "501 5.5.4 Syntax: VRFY address\r\n"
	    "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY "
	    "HELP\r\n" UNKNOWN
	    "502 5.5.1 BDAT not offered (no CHUNKING)\r\n"
	    "502 5.5.1 Command not implemented\r\n" OK UNKNOWN
	    "501 5.5.4 Syntax: RSET\r\n" OK "501 5.5.4 Syntax: QUIT\r\n" BYE,
	    &r);
	rec_free(&r);
}

static void
test_quit(void **state)
{
	struct server_settings set;
	struct rec r;

	(void)state;
	base_settings(&set);
	rec_init(&r, NULL);
	start(&set, &r);
	drive(&r, "QUIT\r\nNOOP\r\n", 12, 0);
	assert_string_equal(r.out.data, GREET BYE);
	assert_true(server_want_close(r.s));
	assert_false(server_want_input(r.s));
	assert_int_equal(r.consumed, 12);
	assert_int_equal(server_timeout_s(r.s), 0);
	server_free(r.s);
	rec_free(&r);
}

static void
test_too_many_errors(void **state)
{
	struct server_settings set;
	struct rec r;

	(void)state;
	base_settings(&set);
	set.max_errors = 3;
	run_str(&set, NULL, "FOO\r\nRCPT TO:<a@b.c>\r\nNOOP\r\nBAR\r\nNOOP\r\n",
	    GREET UNKNOWN "503 5.5.1 Send HELO/EHLO first\r\n" OK UNKNOWN
	    "421 4.7.0 mx.test Too many errors, closing connection\r\n", &r);
	rec_free(&r);
	rec_init(&r, NULL);
	start(&set, &r);
	drive(&r, "A\r\nB\r\nC\r\nQUIT\r\n", 15, 1);
	assert_true(server_want_close(r.s));
	assert_int_equal(r.consumed, 15);
	server_free(r.s);
	rec_free(&r);
	/* The default is 20. */
	base_settings(&set);
	{
		struct buf in, want;
		int i;

		buf_init(&in, 4096);
		buf_init(&want, 4096);
		assert_int_equal(buf_appendstr(&want, GREET, NULL), 0);
		for (i = 0; i < 25; i++) {
			assert_int_equal(buf_appendstr(&in, "X\r\n", NULL), 0);
			if (i < 20)
				assert_int_equal(buf_appendstr(&want, UNKNOWN, NULL), 0);
		}
		assert_int_equal(buf_appendstr(&want, "421 4.7.0 mx.test Too many "
		    "errors, closing connection\r\n", NULL), 0);
		run_all(&set, NULL, in.data, in.len, want.data, &r);
		rec_free(&r);
		buf_free(&in);
		buf_free(&want);
	}
}

static void
test_commit_wait(void **state)
{
	struct server_settings set;
	struct cfg cfg;
	struct rec r;
	struct server_reply fail;
	static const char in[] = TXN "body\r\n.\r\nNOOP\r\nQUIT\r\n";
	size_t end = strlen(TXN "body\r\n.\r\n");
	size_t step;

	(void)state;
	base_settings(&set);
	memset(&cfg, 0, sizeof(cfg));
	cfg.commit_mode = COMMIT_MANUAL;
	for (step = 0; step <= 2; step++) {
		rec_init(&r, &cfg);
		start(&set, &r);
		drive(&r, in, strlen(in), step);
		/* Input stops right after the end of data; nothing answered. */
		assert_int_equal(r.consumed, end);
		assert_true(server_waiting_for_commit(r.s));
		assert_false(server_want_input(r.s));
		assert_int_equal(server_timeout_s(r.s), 0);
		assert_string_equal(r.out.data, TXN_REPLY);
		assert_int_equal(server_feed(r.s, "NOOP\r\n", 6), 0);
		assert_int_equal(server_timeout(r.s, NULL), -1);
		assert_non_null(r.pending);
		assert_string_equal(r.pending->body, "body\r\n");
		/* Only now the 250, with the queue id. */
		assert_int_equal(server_message_done(r.s, "0K7Q2B", NULL, NULL), 0);
		server_message_free(r.pending);
		r.pending = NULL;
		assert_true(server_want_input(r.s));
		drive(&r, in + end, strlen(in) - end, step);
		assert_string_equal(r.out.data, TXN_REPLY QUEUED("0K7Q2B") OK BYE);
		assert_int_equal(server_message_done(r.s, "x", NULL, NULL), -1);
		server_free(r.s);
		rec_free(&r);
	}

	/* The commit failed: 451 by default, or the embedder's reply. */
	cfg.commit_mode = COMMIT_AUTO;
	memset(&fail, 0, sizeof(fail));
	cfg.commit_fail = &fail;
	run_str(&set, &cfg, TXN "b\r\n.\r\nRCPT TO:<a@b.c>\r\n", TXN_REPLY
	    "451 4.3.0 Queue write failed, try again later\r\n"
	    "503 5.5.1 Need MAIL command\r\n", &r);
	rec_free(&r);
	fail.code = 452;
	str_copy(fail.enh, sizeof(fail.enh), "4.3.1");
	str_copy(fail.text, sizeof(fail.text), "Insufficient system storage");
	run_str(&set, &cfg, TXN "b\r\n.\r\n", TXN_REPLY
	    "452 4.3.1 Insufficient system storage\r\n", &r);
	rec_free(&r);
	/* A broken reply from the embedder is repaired, never injected. */
	fail.code = 452;
	str_copy(fail.enh, sizeof(fail.enh), "5.3.1");
	str_copy(fail.text, sizeof(fail.text), "no\r\n250 2.0.0 Ok");
	run_str(&set, &cfg, TXN "b\r\n.\r\n", TXN_REPLY
	    "452 4.3.0 no\\r\\n250 2.0.0 Ok\r\n", &r);
	rec_free(&r);

	/* Committed from inside on_message: the pipeline goes on at once. */
	cfg.commit_mode = COMMIT_INLINE;
	cfg.commit_fail = NULL;
	run_str(&set, &cfg, TXN "b\r\n.\r\nNOOP\r\n", TXN_REPLY QUEUED("Q1") OK,
	    &r);
	assert_int_equal(r.nmsgs, 1);
	rec_free(&r);
}

static void
test_sequence_errors(void **state)
{
	struct server_settings set;
	struct cfg cfg;
	struct rec r;

	(void)state;
	base_settings(&set);
	run_str(&set, NULL, "MAIL FROM:<a@b.c>\r\nDATA\r\nEHLO c\r\n"
	    "RCPT TO:<a@b.c>\r\nDATA\r\nMAIL FROM:<a@b.c>\r\n"
	    "MAIL FROM:<a@b.c>\r\nDATA\r\nDATA now\r\nRSET\r\nRCPT TO:<a@b.c>\r\n"
	    "EHLO\r\n",
	    GREET "503 5.5.1 Send HELO/EHLO first\r\n"
	    "503 5.5.1 Send HELO/EHLO first\r\n" EHLO_REPLY
	    "503 5.5.1 Need MAIL command\r\n" "503 5.5.1 Need MAIL command\r\n"
	    OK_MAIL "503 5.5.1 Nested MAIL command\r\n"
	    "503 5.5.1 Need RCPT command\r\n" "501 5.5.4 Syntax: DATA\r\n"
	    OK "503 5.5.1 Need MAIL command\r\n"
	    "501 5.5.4 Syntax: EHLO hostname\r\n", &r);
	rec_free(&r);

	/* Every recipient refused: DATA gets 554 and the body that a
	 * pipelining client sent anyway is read as commands (RFC 2920). */
	memset(&cfg, 0, sizeof(cfg));
	cfg.refuse_rcpt = "bad@x.test";
	run_str(&set, &cfg, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<bad@x.test>\r\n"
	    "DATA\r\nSubject: x\r\n.\r\nRSET\r\n",
	    GREET EHLO_REPLY OK_MAIL "550 5.7.1 Recipient refused\r\n"
	    "554 5.5.1 No valid recipients\r\n" UNKNOWN UNKNOWN OK, &r);
	assert_int_equal(r.nmsgs, 0);
	rec_free(&r);

	/* EHLO in a transaction resets it. */
	run_str(&set, NULL, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nEHLO d\r\n"
	    "RCPT TO:<a@b.c>\r\n", GREET EHLO_REPLY OK_MAIL EHLO_REPLY
	    "503 5.5.1 Need MAIL command\r\n", &r);
	rec_free(&r);
}

static void
test_parameters(void **state)
{
	struct server_settings set;
	struct rec r;

	(void)state;
	base_settings(&set);
	run_str(&set, NULL, "EHLO c\r\n"
	    "MAIL FROM:<a@b.c> RET=HDRS\r\n"
	    "MAIL FROM:<a@b.c> BODY=BINARYMIME\r\n"
	    "MAIL FROM:<a@b.c> BODY=8BITMIME BODY=7BIT\r\n"
	    "MAIL FROM:<a@b.c> SMTPUTF8=yes\r\n"
	    "MAIL FROM:<a@b.c> AUTH=<>\r\n"
	    "MAIL FROM:<a@b.c> =x\r\n"
	    "MAIL FROM:<a@b.c>x\r\n"
	    "MAIL FROM:<a\xc3\xa9@b.c>\r\n"
	    "MAIL FROM:<a\xc3\xa9@b.c> smtputf8 body=8bitmime size=10\r\n"
	    "RCPT TO:<z\xc3\xa9@b.c> NOTIFY=NEVER\r\n"
	    "RCPT TO:<z\xc3\xa9@b.c>\r\n",
	    GREET EHLO_REPLY
	    "555 5.5.4 Unsupported MAIL parameter\r\n"
	    "501 5.5.4 Bad BODY parameter\r\n"
	    "501 5.5.4 Duplicate MAIL parameter\r\n"
	    "501 5.5.4 SMTPUTF8 takes no value\r\n"
	    "555 5.5.4 Unsupported MAIL parameter\r\n"
	    "501 5.5.4 Bad MAIL parameter syntax\r\n"
	    "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]\r\n"
	    "553 5.6.7 Non-ASCII address requires SMTPUTF8\r\n"
	    OK_MAIL "555 5.5.4 Unsupported RCPT parameter\r\n" OK_RCPT, &r);
	assert_string_equal(r.calls.data,
	    "mail a\xc3\xa9@b.c size=10 body=2 utf8=1\nrcpt z\xc3\xa9@b.c\n");
	rec_free(&r);

	/* Parameters need EHLO; AUTH= is accepted when AUTH is offered. */
	set.auth_available = 1;
	set.auth_plaintext = 1;
	run_str(&set, NULL, "HELO c\r\nMAIL FROM:<a@b.c> BODY=7BIT\r\n"
	    "EHLO c\r\nMAIL FROM:<a@b.c> AUTH=<> BODY=7BIT\r\n",
	    GREET "250 mx.test\r\n555 5.5.4 MAIL parameters need EHLO\r\n"
	    EHLO_BASE "250-ENHANCEDSTATUSCODES\r\n"
	    "250 AUTH PLAIN LOGIN X-FINAL X-TEMP\r\n" OK_MAIL, &r);
	assert_string_equal(r.calls.data, "mail a@b.c size=0 body=1 utf8=0\n");
	rec_free(&r);
}

static void
test_addresses(void **state)
{
	struct server_settings set;
	struct rec r;
	char in[2048];

	(void)state;
	base_settings(&set);
	run_str(&set, NULL, "EHLO c\r\n"
	    "MAIL FROM:a@b.c\r\n"
	    "MAIL FROM:<a@b.c\r\n"
	    "MAIL FROM:<nodomain>\r\n"
	    "MAIL TO:<a@b.c>\r\n"
	    "MAIL FROM: <a@b.c>\r\n"
	    "RCPT TO:<>\r\n"
	    "RCPT TO:<bad>\r\n"
	    "RCPT TO:<@relay.test,@r2.test:user@example.com>\r\n"
	    "RCPT TO:<\"a>b\"@example.com>\r\n"
	    "RCPT TO:<@relay.test>\r\n"
	    "RCPT TO: <x@y.z>\r\n",
	    GREET EHLO_REPLY
	    "501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
	    "501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
	    "553 5.1.7 Invalid sender address\r\n"
	    "501 5.5.4 Syntax: MAIL FROM:<address>\r\n" OK_MAIL
	    "553 5.1.3 Invalid recipient address\r\n"
	    "553 5.1.3 Invalid recipient address\r\n"
	    "553 5.1.3 Source routes are not accepted\r\n" OK_RCPT
	    "501 5.5.4 Syntax: RCPT TO:<address>\r\n" OK_RCPT, &r);
	/* the routed recipient never reaches the embedder */
	assert_string_equal(r.calls.data, "mail a@b.c size=0 body=0 utf8=0\n"
	    "rcpt \"a>b\"@example.com\nrcpt x@y.z\n");
	rec_free(&r);

	/* RFC 5321 section 4.5.3.1.3: a path is at most 256 octets. */
	snprintf(in, sizeof(in), "EHLO c\r\nMAIL FROM:<%0250d@b.c>\r\n"
	    "MAIL FROM:<%0251d@b.c>\r\n", 0, 0);
	run_str(&set, NULL, in, GREET EHLO_REPLY OK_MAIL
	    "503 5.5.1 Nested MAIL command\r\n", &r);
	rec_free(&r);
	snprintf(in, sizeof(in), "EHLO c\r\nMAIL FROM:<%0251d@b.c>\r\n", 0);
	run_str(&set, NULL, in, GREET EHLO_REPLY
	    "553 5.1.7 Sender address too long\r\n", &r);
	rec_free(&r);
}

static void
test_refusals(void **state)
{
	struct server_settings set;
	struct cfg cfg;
	struct rec r;

	(void)state;
	base_settings(&set);
	memset(&cfg, 0, sizeof(cfg));
	cfg.refuse_mail = "other@example.com";
	cfg.refuse_rcpt = "no@x.test";
	cfg.refusal.code = 553;
	str_copy(cfg.refusal.enh, sizeof(cfg.refusal.enh), "5.7.1");
	str_copy(cfg.refusal.text, sizeof(cfg.refusal.text),
	    "Sender not allowed for this client");
	run_str(&set, &cfg, "EHLO c\r\nMAIL FROM:<other@example.com>\r\n"
	    "MAIL FROM:<a@b.c>\r\nRCPT TO:<no@x.test>\r\nRCPT TO:<yes@x.test>\r\n"
	    "DATA\r\nx\r\n.\r\n",
	    GREET EHLO_REPLY "553 5.7.1 Sender not allowed for this client\r\n"
	    OK_MAIL "553 5.7.1 Sender not allowed for this client\r\n" OK_RCPT
	    GO_DATA QUEUED("Q1"), &r);
	assert_string_equal(r.msgs[0].rcpts, "yes@x.test");
	rec_free(&r);

	/* Defaults for an empty reply; a 4xx keeps its class. */
	memset(&cfg.refusal, 0, sizeof(cfg.refusal));
	run_str(&set, &cfg, "EHLO c\r\nMAIL FROM:<other@example.com>\r\n"
	    "MAIL FROM:<a@b.c>\r\nRCPT TO:<no@x.test>\r\n",
	    GREET EHLO_REPLY "550 5.7.1 Sender refused\r\n" OK_MAIL
	    "550 5.7.1 Recipient refused\r\n", &r);
	rec_free(&r);
	cfg.refusal.code = 450;
	run_str(&set, &cfg, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<no@x.test>\r\n",
	    GREET EHLO_REPLY OK_MAIL "450 4.0.0 Recipient refused\r\n", &r);
	rec_free(&r);
}

static void
test_timeouts_and_shutdown(void **state)
{
	struct server_settings set;
	struct rec r;

	(void)state;
	base_settings(&set);
	set.timeout_data_s = 600;
	rec_init(&r, NULL);
	start(&set, &r);
	assert_int_equal(server_timeout_s(r.s), SERVER_DEFAULT_TIMEOUT_COMMAND_S);
	drive(&r, TXN, strlen(TXN), 0);
	assert_int_equal(server_timeout_s(r.s), 600);
	assert_int_equal(server_timeout(r.s, NULL), 0);
	assert_true(server_want_close(r.s));
	drain(&r);
	assert_string_equal(r.out.data, TXN_REPLY
	    "421 4.4.2 mx.test Timeout, closing connection\r\n");
	server_free(r.s);
	rec_free(&r);

	set.tls_available = 1;
	rec_init(&r, NULL);
	start(&set, &r);
	drive(&r, "EHLO c\r\nSTARTTLS\r\n", 18, 0);
	assert_int_equal(server_timeout_s(r.s), SERVER_DEFAULT_TIMEOUT_TLS_S);
	/* Mid-handshake nothing can be said in clear. */
	assert_int_equal(server_shutdown(r.s, NULL), 0);
	assert_true(server_want_close(r.s));
	server_free(r.s);
	rec_free(&r);

	rec_init(&r, NULL);
	start(&set, &r);
	assert_int_equal(server_shutdown(r.s, NULL), 0);
	drain(&r);
	assert_string_equal(r.out.data, GREET
	    "421 4.3.2 mx.test Service shutting down\r\n");
	server_free(r.s);
	rec_free(&r);
}

/* A client that pipelines without reading its replies cannot grow the
 * output past the high-water mark: input stops until it is drained. */
static void
test_output_backpressure(void **state)
{
	struct server_settings set;
	struct rec r;
	struct buf in;
	size_t n, off = 0, len;
	int i, replies = 0;
	const char *p;

	(void)state;
	base_settings(&set);
	buf_init(&in, 1 << 20);
	for (i = 0; i < 3000; i++)
		assert_int_equal(buf_appendstr(&in, "NOOP\r\n", NULL), 0);
	rec_init(&r, NULL);
	start(&set, &r);
	n = server_feed(r.s, in.data, in.len);
	assert_true(n < in.len);
	server_output(r.s, &len);
	assert_true(len >= SERVER_OUT_HIGHWATER);
	assert_true(len < SERVER_OUT_HIGHWATER + 64);
	assert_false(server_want_input(r.s));
	off = n;
	while (off < in.len) {
		drain(&r);
		assert_true(server_want_input(r.s));
		off += server_feed(r.s, in.data + off, in.len - off);
	}
	drain(&r);
	for (p = r.out.data; (p = strstr(p, OK)) != NULL; p += strlen(OK))
		replies++;
	assert_int_equal(replies, 3000);
	server_free(r.s);
	rec_free(&r);
	buf_free(&in);
}

static void
test_memory(void **state)
{
	struct server_settings set;
	struct cfg cfg;
	struct rec r;
	struct buf in;
	int i;

	(void)state;
	base_settings(&set);
	memset(&cfg, 0, sizeof(cfg));
	rec_init(&r, &cfg);
	start(&set, &r);
	drive(&r, "EHLO client.test\r\n", 18, 0);
	assert_true(server_memory(r.s) < 2048);
	/* A big transaction, then back to idle. */
	buf_init(&in, 1 << 22);
	assert_int_equal(buf_appendstr(&in, "MAIL FROM:<a@b.c>\r\n", NULL), 0);
	for (i = 0; i < 1000; i++)
		assert_int_equal(buf_printf(&in, NULL,
		    "RCPT TO:<recipient-%d@example.org>\r\n", i), 0);
	assert_int_equal(buf_appendstr(&in, "DATA\r\n", NULL), 0);
	for (i = 0; i < 5000; i++)
		assert_int_equal(buf_appendstr(&in, "a body line of the message"
		    " that is long enough to matter\r\n", NULL), 0);
	drive(&r, in.data, in.len, 0);
	assert_true(server_memory(r.s) > 200000);       /* it was counted */
	drive(&r, ".\r\n", 3, 0);
	assert_int_equal(r.nmsgs, 1);
	assert_true(server_memory(r.s) < 10 * 1024);
	assert_true(server_memory(r.s) < 4096);
	server_free(r.s);
	rec_free(&r);
	buf_free(&in);
}

/* Random mixtures of protocol fragments, bare CR/LF, dots and bytes: every
 * split must give the same replies, callbacks and messages (run_all), and
 * nothing may trip the sanitizers. */
static void
test_random_splits(void **state)
{
	static const char *frag[] = {
		"EHLO c\r\n", "HELO c\r\n", "MAIL FROM:<a@b.c>\r\n",
		"MAIL FROM:<a@b.c> SIZE=10 BODY=8BITMIME\r\n",
		"RCPT TO:<d@e.f>\r\n", "RCPT TO:<bad>\r\n", "DATA\r\n",
		"RSET\r\n", "NOOP\r\n", "AUTH LOGIN\r\n", "dXNlcg==\r\n",
		"cGFzcw==\r\n", "*\r\n", "AUTH PLAIN AHVzZXIAcGFzcw==\r\n",
		".", "..", "\r", "\n", "\r\n", "\r\n.\r\n", "\n.\n", "\r.\r",
		"x", "Subject: y", "\x80", " ", "\t", "QUIT\r\n",
	};
	struct server_settings set;
	struct buf in;
	struct rec r;
	unsigned seed = 42, k;
	int iter, i;

	(void)state;
	base_settings(&set);
	set.auth_available = 1;
	set.auth_plaintext = 1;
	set.max_message_size = 300;
	set.max_errors = 1000;
	buf_init(&in, 1 << 16);
	for (iter = 0; iter < 300; iter++) {
		buf_reset(&in);
		for (i = 0; i < 60; i++) {
			seed = seed * 1103515245u + 12345u;
			k = (seed >> 16) % (sizeof(frag) / sizeof(frag[0]));
			assert_int_equal(buf_appendstr(&in, frag[k], NULL), 0);
		}
		run_all(&set, NULL, in.data, in.len, NULL, &r);
		assert_true(r.out.len > 0);
		rec_free(&r);
	}
	buf_free(&in);
}

static void
test_new_checks(void **state)
{
	struct server_settings set;
	struct op_err e;

	(void)state;
	base_settings(&set);
	set.validate_address = NULL;
	assert_null(server_new(&set, &e));
	assert_int_equal(e.kind, ERR_SOFTWARE);
	base_settings(&set);
	set.on_message = NULL;
	assert_null(server_new(&set, &e));
	base_settings(&set);
	set.hostname = "bad host";
	assert_null(server_new(&set, &e));
	base_settings(&set);
	set.auth_available = 1;
	set.auth_mechs = "";
	assert_null(server_new(&set, &e));
	set.auth_mechs = "PLAIN\r\n250 X";
	assert_null(server_new(&set, &e));
	set.auth_mechs = "PLAIN";
	set.auth_step = NULL;
	assert_null(server_new(&set, &e));
	server_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting),
		cmocka_unit_test(test_ehlo_capabilities),
		cmocka_unit_test(test_full_transaction),
		cmocka_unit_test(test_pipelining),
		cmocka_unit_test(test_smuggling),
		cmocka_unit_test(test_dot_unstuffing),
		cmocka_unit_test(test_command_line_limit),
		cmocka_unit_test(test_command_line_limit_at_once),
		cmocka_unit_test(test_command_line_characters),
		cmocka_unit_test(test_body_line_limit),
		cmocka_unit_test(test_body_nul),
		cmocka_unit_test(test_max_recipients),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_starttls_injection),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_auth_not_logged),
		cmocka_unit_test(test_misc_commands),
		cmocka_unit_test(test_quit),
		cmocka_unit_test(test_too_many_errors),
		cmocka_unit_test(test_commit_wait),
		cmocka_unit_test(test_sequence_errors),
		cmocka_unit_test(test_parameters),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_timeouts_and_shutdown),
		cmocka_unit_test(test_output_backpressure),
		cmocka_unit_test(test_memory),
		cmocka_unit_test(test_random_splits),
		cmocka_unit_test(test_new_checks),
	};
	int devnull = open("/dev/null", O_WRONLY);

	/* Session logs are checked in test_auth_not_logged; elsewhere quiet. */
	if (devnull >= 0)
		quiet_fd = devnull;
	log_set_fd(quiet_fd);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
