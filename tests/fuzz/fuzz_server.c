/*
 * fuzz_server.c - the SMTP listener's session (smtp/server.h): command
 * line assembly and parsing, the command table, MAIL/RCPT parameters,
 * AUTH relay, STARTTLS, DATA and the commit, driven the way the
 * listener's event loop (relay/listener.c) drives it.
 *
 * Input: four control bytes (settings: STARTTLS offered or on, AUTH
 * offered or required, commit answer, handshake result, small limits so
 * that they are reached), one byte for how the client's bytes are cut
 * into reads, then the client's bytes.
 *
 * Checked on every step:
 *   - output is never larger than SERVER_OUT_MAX and is a sequence of
 *     reply lines "DDD " / "DDD-" with a code 2xx..5xx, ending in CRLF,
 *     no bare CR or LF, no NUL (the session never echoes control bytes);
 *   - a message handed over has a sender "" or one addr_parse_mailbox()
 *     takes, 1..max_recipients recipients that it takes, a body of at
 *     most max_message_size bytes with CRLF line ends only, no line
 *     longer than 998 octets, and it was received only after a command
 *     line DATA (no message without an envelope);
 *   - a session that stopped taking input is waiting for something the
 *     embedder owes (commit, handshake) or wants to close, or its output
 *     is over the high-water mark: it never stalls on its own.
 */
#include "fuzz.h"

#include "mail/addr.h"
#include "smtp/server.h"
#include "util/buf.h"

struct h {
	struct server *s;
	unsigned flags;
	uint64_t max_size;
	unsigned max_rcpt;
	struct server_message *pending;
	unsigned auth_rounds;
	unsigned messages;
};

static int
cb_validate(void *arg, const char *mailbox, int smtputf8)
{
	struct addr_mailbox mb;

	(void)arg;
	fuzz_assert(mailbox[0] != '\0');
	if (addr_parse_mailbox(mailbox, &mb, NULL) < 0)
		return -1;
	if ((mb.flags & ADDR_F_UTF8) && !smtputf8)
		return -1;
	return 0;
}

static int
cb_mail(void *arg, const char *sender, const struct server_mail_params *p,
    struct server_reply *r)
{
	struct h *h = arg;

	(void)p;
	if ((h->flags & 0x100) && sender[0] == 'x') {
		r->code = 550;
		memcpy(r->enh, "5.7.1", 6);
		memcpy(r->text, "refused\r\nby test", 17);   /* escaped */
		return -1;
	}
	return 0;
}

static int
cb_rcpt(void *arg, const char *rcpt, struct server_reply *r)
{
	(void)arg;
	if (rcpt[0] == 'z') {
		r->code = 451;  /* an embedder's wrong enh is replaced */
		memcpy(r->enh, "5.1.1", 6);
		return -1;
	}
	return 0;
}

static int
cb_auth(void *arg, const char *mech, const char *response,
    struct buf *challenge, struct server_reply *r)
{
	struct h *h = arg;
	size_t n = response != NULL ? strlen(response) : 0;

	(void)mech;
	(void)r;
	if (response == NULL || h->auth_rounds++ < 1) {
		buf_appendstr(challenge, "VXNlcm5hbWU6", NULL);
		return SERVER_AUTH_CONTINUE;
	}
	h->auth_rounds = 0;
	if (n > 0 && response[n - 1] == 'T')
		return SERVER_AUTH_TEMPFAIL;
	return n % 2 == 0 ? SERVER_AUTH_OK : SERVER_AUTH_FAIL;
}

static void
cb_auth_reset(void *arg)
{
	struct h *h = arg;

	h->auth_rounds = 0;
}

static void
check_message(struct h *h, const struct server_message *m)
{
	struct addr_mailbox mb;
	size_t i, line = 0;

	fuzz_assert(m->sender != NULL && m->helo != NULL);
	if (m->sender[0] != '\0')
		fuzz_assert(addr_parse_mailbox(m->sender, &mb, NULL) == 0);
	fuzz_assert(m->nrcpts >= 1 && m->nrcpts <= h->max_rcpt);
	for (i = 0; i < m->nrcpts; i++)
		fuzz_assert(addr_parse_mailbox(m->rcpts[i], &mb, NULL) == 0);
	fuzz_assert(m->body_len <= h->max_size);
	fuzz_assert(m->body_len == 0 || m->body != NULL);
	for (i = 0; i < m->body_len; i++) {
		char c = m->body[i];

		if (c == '\r') {
			fuzz_assert(i + 1 < m->body_len && m->body[i + 1] == '\n');
			fuzz_assert(line <= SERVER_TEXT_LINE_MAX - 2);
			line = 0;
			i++;
			continue;
		}
		fuzz_assert(c != '\n');
		line++;
	}
	/* every line ends: the body is empty or ends with CRLF */
	fuzz_assert(line == 0);
}

static void
cb_message(void *arg, struct server_message *m)
{
	struct h *h = arg;

	check_message(h, m);
	h->messages++;
	if ((h->flags & 0x30) == 0x30) {
		/* answered from inside the callback */
		fuzz_assert(server_message_done(h->s, "inline1", NULL, NULL) == 0);
		server_message_free(m);
		return;
	}
	h->pending = m;
}

/* Take the session's output; check it is well-formed reply lines. */
static void
drain(struct h *h, struct buf *acc)
{
	size_t n, i;
	const char *o = server_output(h->s, &n);

	fuzz_assert(n <= SERVER_OUT_MAX);
	for (i = 0; i < n; i++) {
		fuzz_assert(o[i] != '\0');
		if (o[i] == '\n')
			fuzz_assert(i > 0 && o[i - 1] == '\r');
		if (o[i] == '\r')
			fuzz_assert(i + 1 < n && o[i + 1] == '\n');
	}
	fuzz_assert(n == 0 || (n >= 2 && o[n - 2] == '\r' && o[n - 1] == '\n'));
	buf_append(acc, o, n, NULL);
	server_output_consume(h->s, n);
}

static void
check_replies(const struct buf *acc)
{
	size_t i = 0;

	while (i < acc->len) {
		const char *l = acc->data + i, *end = memchr(l, '\n', acc->len - i);

		fuzz_assert(end != NULL);
		fuzz_assert(end - l >= 5);     /* "DDD" + CR, at least */
		fuzz_assert(l[0] >= '2' && l[0] <= '5');
		fuzz_assert(l[1] >= '0' && l[1] <= '9' && l[2] >= '0' && l[2] <= '9');
		fuzz_assert(l[3] == ' ' || l[3] == '-');
		i += (size_t)(end - l) + 1;
	}
}

/* The embedder's debts: commit, handshake. */
static void
settle(struct h *h)
{
	if (h->pending != NULL && server_waiting_for_commit(h->s)) {
		struct server_reply fail;

		memset(&fail, 0, sizeof(fail));
		if (h->flags & 0x10) {
			fail.code = (h->flags & 0x20) ? 554 : 0;
			memcpy(fail.text, "disk\x1b[31m full", 15);
			fuzz_assert(server_message_done(h->s, NULL, &fail, NULL) == 0);
		} else {
			fuzz_assert(server_message_done(h->s, "Q1d\r\nX", NULL, NULL) == 0);
		}
		server_message_free(h->pending);
		h->pending = NULL;
	}
	if (server_want_starttls(h->s))
		fuzz_assert(server_starttls_done(h->s, (h->flags & 0x40) != 0, NULL) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct server_settings set;
	struct h h;
	struct buf acc;
	unsigned cut, b1, b2;
	size_t stalls = 0;

	if (size > 512 * 1024)
		return 0;
	memset(&h, 0, sizeof(h));
	h.flags = fuzz_byte(&in) | (fuzz_byte(&in) << 8);
	b1 = fuzz_byte(&in);
	b2 = fuzz_byte(&in);
	cut = fuzz_byte(&in);
	h.max_size = b1 == 0 ? 4096 : (uint64_t)b1 * 37;
	h.max_rcpt = 1 + b2 % 8;

	memset(&set, 0, sizeof(set));
	set.hostname = "mx.fuzz.test";
	set.peer = "127.0.0.1:1";
	set.max_message_size = h.max_size;
	set.max_recipients = h.max_rcpt;
	set.max_errors = 1 + (b2 >> 3);
	set.tls_available = (h.flags & 0x1) != 0;
	set.tls_active = (h.flags & 0x2) != 0;
	set.auth_available = (h.flags & 0x4) != 0;
	set.auth_required = (h.flags & 0x8) != 0 && set.auth_available;
	set.auth_plaintext = (h.flags & 0x80) != 0;
	set.auth_mechs = "PLAIN LOGIN SCRAM-SHA-256";
	set.arg = &h;
	set.validate_address = cb_validate;
	set.on_mail = cb_mail;
	set.on_rcpt = cb_rcpt;
	set.auth_step = cb_auth;
	set.auth_reset = cb_auth_reset;
	set.on_message = cb_message;
	h.s = server_new(&set, NULL);
	fuzz_assert(h.s != NULL);
	buf_init(&acc, FUZZ_BUF_MAX);

	while (in.n > 0 && !server_want_close(h.s)) {
		size_t chunk = cut == 0 ? in.n : 1 + (in.n * 7 + cut) % (cut % 64 + 1);
		size_t used;

		if (chunk > in.n)
			chunk = in.n;
		used = server_feed(h.s, in.p, chunk);
		fuzz_assert(used <= chunk);
		drain(&h, &acc);
		settle(&h);
		drain(&h, &acc);
		fuzz_assert(server_memory(h.s) < h.max_size + 64 * 1024 +
		    SERVER_OUT_MAX + SERVER_AUTH_LINE_MAX + 8 * 1024);
		if (used == 0) {
			/* nothing taken: the session must have a reason */
			fuzz_assert(server_want_input(h.s) || server_want_close(h.s));
			if (++stalls > 4)
				fuzz_fail("session takes no input and owes nothing");
			continue;
		}
		stalls = 0;
		in.p += used;
		in.n -= used;
	}
	if (!server_want_close(h.s)) {
		fuzz_assert(!server_waiting_for_commit(h.s));
		if (h.flags & 0x200)
			fuzz_assert(server_shutdown(h.s, NULL) == 0);
		else
			fuzz_assert(server_timeout(h.s, NULL) == 0);
		fuzz_assert(server_want_close(h.s));
		drain(&h, &acc);
	}
	check_replies(&acc);
	server_free(h.s);
	if (h.pending != NULL)
		server_message_free(h.pending);
	buf_free(&acc);
	return 0;
}
