/*
 * server.c - the SMTP listener session (RFC 5321, 2920, 3207, 4954, 1870,
 * 6152, 6531, 2034): line assembly, the command table, AUTH relay,
 * STARTTLS, the transaction and its commit.  The DATA phase is in
 * server_data.c.  Contract and memory rules: server.h.
 */
#include "smtp/server.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/data.h"
#include "smtp/server_data.h"
#include "util/log.h"

enum state {
	ST_INIT = 0,    /* before EHLO/HELO (also after STARTTLS) */
	ST_READY,       /* EHLO/HELO given, no transaction */
	ST_MAIL,        /* MAIL accepted; RCPTs being collected */
	ST_DATA,        /* reading the message */
	ST_COMMIT,      /* on_message called; server_message_done() owed */
	ST_AUTH,        /* SASL exchange: the next line is a response */
	ST_TLS,         /* STARTTLS accepted; waiting for the handshake */
	ST_CLOSED,      /* QUIT, 421 or a failed handshake: input discarded */
};

static const char *state_names[] = {
	"init", "ready", "mail", "data", "commit", "auth", "tls", "closed",
};

enum helo_kind { HELO_NONE = 0, HELO_HELO = 1, HELO_EHLO = 2 };

enum line_fault { LINE_OK = 0, LINE_BARE_CR = 1, LINE_CTL = 2 };

/* RFC 4422 section 3.1: a SASL mechanism name is at most 20 characters. */
#define SASL_MECH_MAX 20
/* Keep no more than this much idle buffer memory per session. */
#define IDLE_BUF_KEEP 2048
/* RFC 1870: SIZE values are at most 20 digits. */
#define SIZE_PARAM_DIGITS_MAX 20

struct server {
	struct server_settings set;     /* string members point to copies */
	char *hostname;
	char *peer;
	char *mechs;                    /* NULL if AUTH is not offered */
	int state;                      /* enum state */
	int helo_kind;                  /* enum helo_kind */
	char *helo;
	int tls;
	int authenticated;
	char auth_mech[SASL_MECH_MAX + 1];
	int auth_final;                 /* OK given with data: await "" */
	struct buf challenge;           /* the next 334 text */

	/* The transaction. */
	char *sender;
	struct server_mail_params params;
	char **rcpts;
	size_t nrcpts, rcpts_cap;
	unsigned rcpt_attempts;
	struct server_data data;

	/* The command line being assembled. */
	struct buf line;
	unsigned line_cr : 1;           /* last byte was CR */
	unsigned line_toolong : 1;
	int line_fault;                 /* enum line_fault */

	struct buf out;

	size_t max_message;
	unsigned max_rcpt;
	unsigned max_errors;
	unsigned errors;
	unsigned long_lines;            /* lines over their limit, answered */
	unsigned messages;
	uint64_t tls_discarded;         /* bytes dropped after STARTTLS */
	const char *end_reason;
};

/* ---- output ---- */

static void set_state(struct server *s, int st);

static void
out_vprintf(struct server *s, const char *fmt, va_list ap)
{
	struct op_err e;

	if (buf_vprintf(&s->out, &e, fmt, ap) < 0) {
		/* Cannot happen while input stops at SERVER_OUT_HIGHWATER;
		 * if it does, the session cannot stay in step: end it. */
		log_event(LOG_ERROR, "smtp_output_overflow", "peer", s->peer,
		    "error", e.msg, NULL);
		s->end_reason = "output_overflow";
		set_state(s, ST_CLOSED);
	}
}

static void out_printf(struct server *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
out_printf(struct server *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	out_vprintf(s, fmt, ap);
	va_end(ap);
}

/* "code enh text\r\n". */
static void reply(struct server *s, unsigned code, const char *enh,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
vreply(struct server *s, unsigned code, const char *enh, const char *fmt,
    va_list ap)
{
	if (s->state == ST_CLOSED)
		return;
	out_printf(s, "%u %s ", code, enh);
	out_vprintf(s, fmt, ap);
	out_printf(s, "\r\n");
}

static void
reply(struct server *s, unsigned code, const char *enh, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreply(s, code, enh, fmt, ap);
	va_end(ap);
}

static void
close_session(struct server *s, const char *reason)
{
	if (s->state == ST_CLOSED)
		return;
	s->end_reason = reason;
	set_state(s, ST_CLOSED);
}

static void
count_error(struct server *s)
{
	if (s->state == ST_CLOSED)
		return;
	if (++s->errors < s->max_errors)
		return;
	reply(s, 421, "4.7.0", "%s Too many errors, closing connection",
	    s->hostname);
	close_session(s, "errors");
}

/* A negative reply to a client command: counted against max_errors. */
static void fail(struct server *s, unsigned code, const char *enh,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
fail(struct server *s, unsigned code, const char *enh, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreply(s, code, enh, fmt, ap);
	va_end(ap);
	count_error(s);
}

/* "x.y.z" (RFC 3463: class 2/4/5, subject and detail 1-3 digits) whose
 * class is the first digit of code. */
static int
enh_valid(const char *enh, unsigned code)
{
	const char *p = enh;
	int part, digits;

	if (p[0] != (char)('0' + code / 100) || p[1] != '.')
		return 0;
	p += 2;
	for (part = 0; part < 2; part++) {
		for (digits = 0; *p >= '0' && *p <= '9'; p++)
			digits++;
		if (digits < 1 || digits > 3)
			return 0;
		if (part == 0 && *p++ != '.')
			return 0;
	}
	return *p == '\0';
}

/* The embedder's refusal r, with the defaults where it left gaps; returns
 * the code sent. */
static unsigned
reply_custom(struct server *s, const struct server_reply *r, unsigned defcode,
    const char *defenh, const char *deftext, int counted)
{
	char text[SERVER_REPLY_TEXT_MAX * 2];
	char enh[16];
	unsigned code = defcode;

	if (r != NULL && r->code >= 400 && r->code <= 599)
		code = r->code;
	if (r != NULL && enh_valid(r->enh, code))
		str_copy(enh, sizeof(enh), r->enh);
	else if (code / 100 == defcode / 100)
		str_copy(enh, sizeof(enh), defenh);
	else
		snprintf(enh, sizeof(enh), "%u.0.0", code / 100);
	if (r != NULL && r->text[0] != '\0') {
		char raw[SERVER_REPLY_TEXT_MAX];

		/* The embedder's text may come from anywhere: one line of
		 * printable ASCII, whatever it held. */
		memcpy(raw, r->text, sizeof(raw));
		raw[sizeof(raw) - 1] = '\0';
		log_sanitize(text, sizeof(text), raw);
	} else {
		str_copy(text, sizeof(text), deftext);
	}
	reply(s, code, enh, "%s", text);
	if (counted)
		count_error(s);
	return code;
}

/* ---- state ---- */

/* The one place the state changes, so that every change is logged. */
static void
set_state(struct server *s, int st)
{
	if (s->state == ST_CLOSED || s->state == st)
		return;
	log_event(LOG_DEBUG, "smtp_state", "peer", s->peer,
	    "from", state_names[s->state], "to", state_names[st], NULL);
	s->state = st;
}

static void
rcpts_free(char **rcpts, size_t n)
{
	size_t i;

	if (rcpts == NULL)
		return;
	for (i = 0; i < n; i++)
		free(rcpts[i]);
	free(rcpts);
}

/* Forget the transaction (RSET, EHLO, end of message, STARTTLS). */
static void
txn_reset(struct server *s)
{
	free(s->sender);
	s->sender = NULL;
	rcpts_free(s->rcpts, s->nrcpts);
	s->rcpts = NULL;
	s->nrcpts = s->rcpts_cap = 0;
	s->rcpt_attempts = 0;
	memset(&s->params, 0, sizeof(s->params));
	server_data_free(&s->data);
	if (s->state == ST_MAIL || s->state == ST_DATA || s->state == ST_COMMIT)
		set_state(s, ST_READY);
}

static void
log_message(struct server *s, const char *result, const char *id,
    unsigned code, uint64_t size)
{
	char ncode[8], nrcpt[24], nsize[24];

	snprintf(ncode, sizeof(ncode), "%u", code);
	snprintf(nrcpt, sizeof(nrcpt), "%zu", s->nrcpts);
	snprintf(nsize, sizeof(nsize), "%llu", (unsigned long long)size);
	log_event(LOG_INFO, "smtp_message", "peer", s->peer, "result", result,
	    "id", id, "from", s->sender, "rcpts", nrcpt, "size", nsize,
	    "reply", ncode, NULL);
}

/* ---- AUTH (RFC 4954) ---- */

static void
auth_log(struct server *s, const char *result)
{
	/* Mechanism and outcome only: never a SASL payload. */
	log_event(LOG_INFO, "smtp_auth", "peer", s->peer, "mech", s->auth_mech,
	    "result", result, NULL);
}

/* Drop the exchange in progress and whatever the embedder established. */
static void
auth_abort(struct server *s)
{
	if (s->set.auth_reset != NULL)
		s->set.auth_reset(s->set.arg);
	s->auth_final = 0;
	buf_free(&s->challenge);
	if (s->state == ST_AUTH)
		set_state(s, ST_READY);
}

static int
is_base64(const char *p)
{
	size_t n = 0, pad = 0;

	for (; *p != '\0'; p++, n++) {
		unsigned char c = (unsigned char)*p;

		if (c == '=') {
			pad++;
			continue;
		}
		if (pad > 0)
			return 0;       /* data after padding */
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return 0;
	}
	return pad <= 2 && n % 4 == 0;
}

static void
auth_success(struct server *s)
{
	s->authenticated = 1;
	s->auth_final = 0;
	buf_free(&s->challenge);
	set_state(s, ST_READY);
	reply(s, 235, "2.7.0", "Authentication successful");
	auth_log(s, "ok");
}

/* One step of the exchange with the client's response (NULL: none). */
static void
auth_run(struct server *s, const char *response)
{
	struct server_reply r;
	int rc;

	memset(&r, 0, sizeof(r));
	/* "334 " + challenge + CRLF must fit a reply line. */
	if (s->challenge.max == 0)
		buf_init(&s->challenge, SERVER_AUTH_LINE_MAX - 6);
	buf_reset(&s->challenge);
	rc = s->set.auth_step(s->set.arg, s->auth_mech, response,
	    &s->challenge, &r);
	switch (rc) {
	case SERVER_AUTH_OK:
		if (s->challenge.len == 0) {
			auth_success(s);
			return;
		}
		/* Final server data: a 334 answered by an empty line. */
		s->auth_final = 1;
		/* FALLTHROUGH */
	case SERVER_AUTH_CONTINUE:
		set_state(s, ST_AUTH);
		out_printf(s, "334 %s\r\n",
		    s->challenge.data != NULL ? s->challenge.data : "");
		return;
	case SERVER_AUTH_FAIL:
		auth_abort(s);
		auth_log(s, "failed");
		reply_custom(s, &r, 535, "5.7.8",
		    "Authentication credentials invalid", 1);
		return;
	default:
		auth_abort(s);
		auth_log(s, "tempfail");
		reply_custom(s, &r, 454, "4.7.0",
		    "Temporary authentication failure", 0);
		return;
	}
}

/* A line in ST_AUTH: the client's response to our 334. */
static void
auth_response(struct server *s, const char *line)
{
	if (strcmp(line, "*") == 0) {
		auth_abort(s);
		auth_log(s, "cancelled");
		fail(s, 501, "5.7.0", "Authentication cancelled");
		return;
	}
	if (s->auth_final) {
		if (line[0] == '\0') {
			auth_success(s);
			return;
		}
		auth_abort(s);
		auth_log(s, "failed");
		fail(s, 501, "5.5.2", "Expected an empty response");
		return;
	}
	if (!is_base64(line)) {
		auth_abort(s);
		auth_log(s, "failed");
		fail(s, 501, "5.5.2", "Invalid base64 data");
		return;
	}
	auth_run(s, line);
}

/* The advertised mechanism matching name (case-insensitive) into out. */
static int
auth_find_mech(const struct server *s, const char *name, char *out,
    size_t outsz)
{
	const char *p = s->mechs;
	size_t n = strlen(name), len;

	if (n == 0 || n > SASL_MECH_MAX)
		return -1;
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		len = strcspn(p, " ");
		if (len == n && strncasecmp(p, name, n) == 0 && len < outsz) {
			memcpy(out, p, len);
			out[len] = '\0';
			return 0;
		}
		p += len;
	}
	return -1;
}

static int
auth_offered_now(const struct server *s)
{
	return s->mechs != NULL && (s->tls || s->set.auth_plaintext);
}

/* ---- commands ---- */

/* Command table flags: checks done before the handler runs. */
#define CMD_NEED_HELO 0x01      /* 503 5.5.1 after HELO/EHLO only */
#define CMD_NEED_EHLO 0x02      /* an extension: after EHLO only */
#define CMD_NO_ARGS   0x04      /* 501 5.5.4 if arguments are given */
#define CMD_NO_TXN    0x08      /* 503 5.5.1 inside a mail transaction */

struct command {
	const char *name;
	unsigned flags;
	int (*offered)(const struct server *s); /* NULL: always; 0 -> 502 */
	void (*fn)(struct server *s, char *args);
};

static void
ehlo_reply(struct server *s)
{
	char size[48];
	char auth[SASL_MECH_MAX * 16];
	const char *caps[8];
	size_t n = 0, i;

	snprintf(size, sizeof(size), "SIZE %zu", s->max_message);
	caps[n++] = "PIPELINING";
	caps[n++] = size;
	caps[n++] = "8BITMIME";
	caps[n++] = "SMTPUTF8";
	caps[n++] = "ENHANCEDSTATUSCODES";
	if (s->set.tls_available && !s->tls)
		caps[n++] = "STARTTLS";
	if (auth_offered_now(s)) {
		snprintf(auth, sizeof(auth), "AUTH %s", s->mechs);
		caps[n++] = auth;
	}
	out_printf(s, "250-%s\r\n", s->hostname);
	for (i = 0; i < n; i++)
		out_printf(s, "250%c%s\r\n", i + 1 < n ? '-' : ' ', caps[i]);
}

/* The EHLO/HELO argument: a domain or address literal (RFC 5321 4.1.1.1);
 * we insist only that it is there, printable ASCII and bounded. */
static int
helo_arg_ok(const char *a)
{
	size_t n = strlen(a);

	if (n == 0 || n > SERVER_DOMAIN_MAX)
		return 0;
	for (; *a != '\0'; a++)
		if ((unsigned char)*a < 0x20 || (unsigned char)*a > 0x7e)
			return 0;
	return 1;
}

static void
do_helo(struct server *s, char *args, int kind)
{
	const char *verb = kind == HELO_EHLO ? "EHLO" : "HELO";

	if (!helo_arg_ok(args)) {
		fail(s, 501, "5.5.4", "Syntax: %s hostname", verb);
		return;
	}
	/* RFC 5321 section 4.1.4: EHLO/HELO also resets the transaction. */
	txn_reset(s);
	free(s->helo);
	s->helo = str_dup(args);
	s->helo_kind = kind;
	set_state(s, ST_READY);
	if (kind == HELO_EHLO)
		ehlo_reply(s);
	else
		out_printf(s, "250 %s\r\n", s->hostname);
}

static void
cmd_ehlo(struct server *s, char *args)
{
	do_helo(s, args, HELO_EHLO);
}

static void
cmd_helo(struct server *s, char *args)
{
	do_helo(s, args, HELO_HELO);
}

/*
 * "<[A-d-l:]mailbox>" at p (RFC 5321 section 4.1.2).  A source route is
 * refused (-3): section 4.1.1.3 lets a server decline the relaying it
 * implies, and Outpost is no relay for routed mail.  Only the bracket structure
 * is read here, honouring quoted strings; the mailbox itself is judged by
 * the validator.  On success *mailbox is the NUL-terminated mailbox inside
 * p and *rest what follows ">".
 */
static int
parse_path(char *p, char **mailbox, char **rest)
{
	char *open = p, *q;
	int quoted = 0;

	if (*p++ != '<')
		return -1;
	if (*p == '@')
		return strchr(p, ':') != NULL ? -3 : -1;
	for (q = p; *q != '\0'; q++) {
		if (quoted) {
			if (*q == '\\' && q[1] != '\0')
				q++;
			else if (*q == '"')
				quoted = 0;
			continue;
		}
		if (*q == '"')
			quoted = 1;
		else if (*q == '>')
			break;
	}
	if (*q != '>')
		return -1;
	if ((size_t)(q - open) + 1 > SERVER_PATH_MAX)
		return -2;
	*q = '\0';
	*mailbox = p;
	*rest = q + 1;
	return 0;
}

static int
has_8bit(const char *p)
{
	for (; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			return 1;
	return 0;
}

/* Address checks shared by MAIL and RCPT; replies and returns -1 if bad. */
static int
check_mailbox(struct server *s, const char *mailbox, int smtputf8,
    const char *enh_bad, const char *what)
{
	if (has_8bit(mailbox) && !smtputf8) {
		/* RFC 6531 section 3.6.4. */
		fail(s, 553, "5.6.7", "Non-ASCII address requires SMTPUTF8");
		return -1;
	}
	if (s->set.validate_address(s->set.arg, mailbox, smtputf8) < 0) {
		fail(s, 553, enh_bad, "Invalid %s address", what);
		return -1;
	}
	return 0;
}

/* esmtp-keyword and esmtp-value (RFC 5321 section 4.1.2). */
static int
param_syntax_ok(const char *kw, const char *val)
{
	const unsigned char *p = (const unsigned char *)kw;

	if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
	    (*p >= '0' && *p <= '9')))
		return 0;
	for (p++; *p != '\0'; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-'))
			return 0;
	if (val == NULL)
		return 1;
	if (*val == '\0')
		return 0;
	for (p = (const unsigned char *)val; *p != '\0'; p++)
		if (*p < 33 || *p > 126 || *p == '=')
			return 0;
	return 1;
}

#define SEEN_SIZE 0x1
#define SEEN_BODY 0x2
#define SEEN_UTF8 0x4
#define SEEN_AUTH 0x8

/* MAIL parameters (RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8,
 * RFC 4954 AUTH); replies and returns -1 on a bad one. */
static int
parse_mail_params(struct server *s, char *rest, struct server_mail_params *mp)
{
	char *tok, *save = NULL, *val;
	unsigned seen = 0, bit;
	unsigned long v;

	memset(mp, 0, sizeof(*mp));
	if (*rest == '\0')
		return 0;
	if (*rest != ' ') {
		fail(s, 501, "5.5.4", "Syntax: MAIL FROM:<address> [parameters]");
		return -1;
	}
	if (s->helo_kind != HELO_EHLO) {
		fail(s, 555, "5.5.4", "MAIL parameters need EHLO");
		return -1;
	}
	for (tok = strtok_r(rest, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save)) {
		val = strchr(tok, '=');
		if (val != NULL)
			*val++ = '\0';
		if (!param_syntax_ok(tok, val)) {
			fail(s, 501, "5.5.4", "Bad MAIL parameter syntax");
			return -1;
		}
		if (strcasecmp(tok, "SIZE") == 0)
			bit = SEEN_SIZE;
		else if (strcasecmp(tok, "BODY") == 0)
			bit = SEEN_BODY;
		else if (strcasecmp(tok, "SMTPUTF8") == 0)
			bit = SEEN_UTF8;
		else if (strcasecmp(tok, "AUTH") == 0 && s->mechs != NULL)
			bit = SEEN_AUTH;
		else {
			fail(s, 555, "5.5.4", "Unsupported MAIL parameter");
			return -1;
		}
		if (seen & bit) {
			fail(s, 501, "5.5.4", "Duplicate MAIL parameter");
			return -1;
		}
		seen |= bit;
		switch (bit) {
		case SEEN_SIZE:
			if (val == NULL || strlen(val) > SIZE_PARAM_DIGITS_MAX ||
			    strspn(val, "0123456789") != strlen(val)) {
				fail(s, 501, "5.5.4", "Bad SIZE parameter");
				return -1;
			}
			/* 20 digits may not fit: then it is simply too big. */
			if (str_to_ulong(val, ULONG_MAX, &v) < 0)
				mp->size = UINT64_MAX;
			else
				mp->size = v;
			break;
		case SEEN_BODY:
			if (val != NULL && strcasecmp(val, "7BIT") == 0)
				mp->body = SERVER_BODY_7BIT;
			else if (val != NULL && strcasecmp(val, "8BITMIME") == 0)
				mp->body = SERVER_BODY_8BITMIME;
			else {
				fail(s, 501, "5.5.4", "Bad BODY parameter");
				return -1;
			}
			break;
		case SEEN_UTF8:
			if (val != NULL) {
				fail(s, 501, "5.5.4", "SMTPUTF8 takes no value");
				return -1;
			}
			mp->smtputf8 = 1;
			break;
		case SEEN_AUTH:
			/* RFC 4954 section 5: accepted; we trust no claim in
			 * it, so the value is not used. */
			if (val == NULL) {
				fail(s, 501, "5.5.4", "Bad AUTH parameter");
				return -1;
			}
			break;
		}
	}
	return 0;
}

static void
cmd_mail(struct server *s, char *args)
{
	struct server_mail_params mp;
	struct server_reply r;
	char *mailbox, *rest;
	int rc;

	if (s->state == ST_MAIL) {
		fail(s, 503, "5.5.1", "Nested MAIL command");
		return;
	}
	if (s->set.auth_required && !s->authenticated) {
		if (!s->tls && !s->set.auth_plaintext && s->set.tls_available)
			fail(s, 530, "5.7.0", "Must issue a STARTTLS command first");
		else
			fail(s, 530, "5.7.0", "Authentication required");
		return;
	}
	if (!str_casecmp_prefix(args, "FROM:")) {
		fail(s, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
		return;
	}
	args += 5;
	args += strspn(args, " ");      /* "FROM: <a@b>" is common */
	rc = parse_path(args, &mailbox, &rest);
	if (rc == -2) {
		fail(s, 553, "5.1.7", "Sender address too long");
		return;
	}
	if (rc == -3) {
		fail(s, 553, "5.1.7", "Source routes are not accepted");
		return;
	}
	if (rc < 0) {
		fail(s, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
		return;
	}
	if (parse_mail_params(s, rest, &mp) < 0)
		return;
	if (mailbox[0] != '\0' &&
	    check_mailbox(s, mailbox, mp.smtputf8, "5.1.7", "sender") < 0)
		return;
	if (mp.size > s->max_message) {
		fail(s, 552, "5.3.4",
		    "Message size exceeds fixed maximum message size");
		return;
	}
	if (s->set.on_mail != NULL) {
		memset(&r, 0, sizeof(r));
		if (s->set.on_mail(s->set.arg, mailbox, &mp, &r) < 0) {
			reply_custom(s, &r, 550, "5.7.1", "Sender refused", 1);
			return;
		}
	}
	s->sender = str_dup(mailbox);
	s->params = mp;
	s->rcpt_attempts = 0;
	set_state(s, ST_MAIL);
	reply(s, 250, "2.1.0", "Ok");
}

static void
cmd_rcpt(struct server *s, char *args)
{
	struct server_reply r;
	char *mailbox, *rest;
	int rc;

	if (s->state != ST_MAIL) {
		fail(s, 503, "5.5.1", "Need MAIL command");
		return;
	}
	if (!str_casecmp_prefix(args, "TO:")) {
		fail(s, 501, "5.5.4", "Syntax: RCPT TO:<address>");
		return;
	}
	args += 3;
	args += strspn(args, " ");
	rc = parse_path(args, &mailbox, &rest);
	if (rc == -2) {
		fail(s, 553, "5.1.3", "Recipient address too long");
		return;
	}
	if (rc == -3) {
		fail(s, 553, "5.1.3", "Source routes are not accepted");
		return;
	}
	if (rc < 0 || (*rest != '\0' && *rest != ' ')) {
		fail(s, 501, "5.5.4", "Syntax: RCPT TO:<address>");
		return;
	}
	if (*rest != '\0') {
		/* No DSN (RFC 3461) or other RCPT extension is offered. */
		fail(s, 555, "5.5.4", "Unsupported RCPT parameter");
		return;
	}
	s->rcpt_attempts++;
	if (mailbox[0] == '\0') {
		fail(s, 553, "5.1.3", "Invalid recipient address");
		return;
	}
	if (s->nrcpts >= s->max_rcpt) {
		/* RFC 5321 section 4.5.3.1.10: 452, the client retries the
		 * rest later; not a client error. */
		reply(s, 452, "4.5.3", "Too many recipients");
		return;
	}
	if (check_mailbox(s, mailbox, s->params.smtputf8, "5.1.3",
	    "recipient") < 0)
		return;
	if (s->set.on_rcpt != NULL) {
		memset(&r, 0, sizeof(r));
		if (s->set.on_rcpt(s->set.arg, mailbox, &r) < 0) {
			/* 452 4.5.3 (too many recipients) is not a client
			 * error, as above. */
			reply_custom(s, &r, 550, "5.7.1", "Recipient refused",
			    !(r.code == 452 && strcmp(r.enh, "4.5.3") == 0));
			return;
		}
	}
	if (s->nrcpts == s->rcpts_cap) {
		s->rcpts_cap = s->rcpts_cap ? s->rcpts_cap * 2 : 4;
		s->rcpts = mem_realloc(s->rcpts, s->rcpts_cap * sizeof(*s->rcpts));
	}
	s->rcpts[s->nrcpts++] = str_dup(mailbox);
	reply(s, 250, "2.1.5", "Ok");
}

static void
cmd_data(struct server *s, char *args)
{
	(void)args;
	if (s->state != ST_MAIL) {
		fail(s, 503, "5.5.1", "Need MAIL command");
		return;
	}
	if (s->nrcpts == 0) {
		if (s->rcpt_attempts == 0)
			fail(s, 503, "5.5.1", "Need RCPT command");
		else
			fail(s, 554, "5.5.1", "No valid recipients");
		return;
	}
	server_data_begin(&s->data, s->max_message);
	set_state(s, ST_DATA);
	out_printf(s, "354 End data with <CR><LF>.<CR><LF>\r\n");
}

static void
cmd_rset(struct server *s, char *args)
{
	(void)args;
	txn_reset(s);
	reply(s, 250, "2.0.0", "Ok");
}

static void
cmd_noop(struct server *s, char *args)
{
	(void)args;
	reply(s, 250, "2.0.0", "Ok");
}

static void
cmd_quit(struct server *s, char *args)
{
	(void)args;
	reply(s, 221, "2.0.0", "Bye");
	close_session(s, "quit");
}

static void
cmd_vrfy(struct server *s, char *args)
{
	if (args[0] == '\0') {
		fail(s, 501, "5.5.4", "Syntax: VRFY address");
		return;
	}
	reply(s, 252, "2.5.0", "Cannot VRFY user, but will accept message");
}

static void
cmd_help(struct server *s, char *args)
{
	(void)args;
	reply(s, 214, "2.0.0",
	    "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP%s%s",
	    s->set.tls_available && !s->tls ? " STARTTLS" : "",
	    s->mechs != NULL ? " AUTH" : "");
}

static int
starttls_offered(const struct server *s)
{
	return s->set.tls_available && !s->tls;
}

static void
cmd_starttls(struct server *s, char *args)
{
	(void)args;
	reply(s, 220, "2.0.0", "Ready to start TLS");
	s->tls_discarded = 0;
	set_state(s, ST_TLS);
}

static int
auth_available(const struct server *s)
{
	return s->mechs != NULL;
}

static void
cmd_auth(struct server *s, char *args)
{
	char *mech, *initial, *extra, *save = NULL;
	const char *response;

	if (s->authenticated) {
		fail(s, 503, "5.5.1", "Already authenticated");
		return;
	}
	if (!auth_offered_now(s)) {
		/* RFC 4954 section 6. */
		fail(s, 538, "5.7.11",
		    "Encryption required for requested authentication mechanism");
		return;
	}
	mech = strtok_r(args, " ", &save);
	initial = mech != NULL ? strtok_r(NULL, " ", &save) : NULL;
	extra = initial != NULL ? strtok_r(NULL, " ", &save) : NULL;
	if (mech == NULL || extra != NULL) {
		fail(s, 501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
		return;
	}
	if (auth_find_mech(s, mech, s->auth_mech, sizeof(s->auth_mech)) < 0) {
		s->auth_mech[0] = '\0';
		fail(s, 504, "5.5.4", "Unrecognized authentication type");
		return;
	}
	response = initial;
	if (initial != NULL && strcmp(initial, "=") == 0)
		response = "";  /* RFC 4954 section 4: empty initial response */
	else if (initial != NULL && !is_base64(initial)) {
		fail(s, 501, "5.5.2", "Invalid base64 data");
		return;
	}
	s->auth_final = 0;
	auth_run(s, response);
}

static void
cmd_bdat(struct server *s, char *args)
{
	(void)args;
	fail(s, 502, "5.5.1", "BDAT not offered (no CHUNKING)");
}

static void
cmd_expn(struct server *s, char *args)
{
	(void)args;
	fail(s, 502, "5.5.1", "Command not implemented");
}

static const struct command commands[] = {
	{ "EHLO", 0, NULL, cmd_ehlo },
	{ "HELO", 0, NULL, cmd_helo },
	{ "MAIL", CMD_NEED_HELO, NULL, cmd_mail },
	{ "RCPT", CMD_NEED_HELO, NULL, cmd_rcpt },
	{ "DATA", CMD_NEED_HELO | CMD_NO_ARGS, NULL, cmd_data },
	{ "RSET", CMD_NO_ARGS, NULL, cmd_rset },
	{ "NOOP", 0, NULL, cmd_noop },
	{ "QUIT", CMD_NO_ARGS, NULL, cmd_quit },
	{ "VRFY", 0, NULL, cmd_vrfy },
	{ "HELP", 0, NULL, cmd_help },
	{ "STARTTLS", CMD_NEED_EHLO | CMD_NO_ARGS | CMD_NO_TXN,
	    starttls_offered, cmd_starttls },
	{ "AUTH", CMD_NEED_EHLO | CMD_NO_TXN, auth_available, cmd_auth },
	{ "BDAT", 0, NULL, cmd_bdat },
	{ "EXPN", 0, NULL, cmd_expn },
};

static void
command(struct server *s, char *line)
{
	const struct command *c = NULL;
	char *verb, *args;
	size_t i, n;

	line = str_trim(line);
	n = strcspn(line, " ");
	verb = line;
	args = line + n;
	if (*args != '\0')
		*args++ = '\0';
	args += strspn(args, " ");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcasecmp(verb, commands[i].name) == 0)
			c = &commands[i];
	if (c == NULL) {
		fail(s, 500, "5.5.2", "Command not recognized");
		return;
	}
	if (c->offered != NULL && !c->offered(s)) {
		fail(s, 502, "5.5.1", "Command not implemented");
		return;
	}
	if ((c->flags & CMD_NO_ARGS) && *args != '\0') {
		fail(s, 501, "5.5.4", "Syntax: %s", c->name);
		return;
	}
	if ((c->flags & CMD_NEED_HELO) && s->helo_kind == HELO_NONE) {
		fail(s, 503, "5.5.1", "Send HELO/EHLO first");
		return;
	}
	if ((c->flags & CMD_NEED_EHLO) && s->helo_kind != HELO_EHLO) {
		fail(s, 503, "5.5.1", "Send EHLO first");
		return;
	}
	if ((c->flags & CMD_NO_TXN) && s->state == ST_MAIL) {
		fail(s, 503, "5.5.1", "Not allowed in a mail transaction");
		return;
	}
	c->fn(s, args);
}

/* ---- input ---- */

/*
 * The line being read just passed its limit: answer at once, whether or
 * not its end ever comes (the rest of it is then read and dropped without
 * a second reply), and end the session at the SERVER_LONG_LINES_MAX-th.
 */
static void
line_too_long(struct server *s)
{
	if (s->state == ST_AUTH) {
		auth_abort(s);
		auth_log(s, "failed");
		/* RFC 4954 section 6. */
		fail(s, 500, "5.5.6", "Authentication Exchange line is too long");
	} else {
		fail(s, 500, "5.5.2", "Line too long");
	}
	if (++s->long_lines < SERVER_LONG_LINES_MAX || s->state == ST_CLOSED)
		return;
	reply(s, 421, "4.7.0", "%s Too many long lines, closing connection",
	    s->hostname);
	close_session(s, "long_lines");
}

static void
line_done(struct server *s)
{
	char empty[1] = "";
	char *line = s->line.data != NULL ? s->line.data : empty;

	if (s->line_toolong) {
		/* answered by line_too_long() when the limit was passed */
	} else if (s->line_fault != LINE_OK) {
		if (s->state == ST_AUTH) {
			auth_abort(s);
			auth_log(s, "failed");
		}
		if (s->line_fault == LINE_BARE_CR)
			fail(s, 500, "5.5.2", "Bare CR in command line");
		else
			fail(s, 500, "5.5.2", "Invalid character in command line");
	} else if (s->state == ST_AUTH) {
		auth_response(s, line);
	} else {
		command(s, line);
	}
	buf_reset(&s->line);
	if (s->line.cap > IDLE_BUF_KEEP)
		buf_free(&s->line);
	s->line_cr = 0;
	s->line_toolong = 0;
	s->line_fault = LINE_OK;
}

/* Assemble one command (or AUTH response) line; runs it when complete and
 * returns right after it, so the caller sees the new state. */
static size_t
line_feed(struct server *s, const unsigned char *p, size_t n)
{
	size_t max = (s->state == ST_AUTH ? SERVER_AUTH_LINE_MAX :
	    SERVER_CMD_LINE_MAX) - 2;
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = p[i];

		if (s->line_cr) {
			s->line_cr = 0;
			if (c == '\n') {
				line_done(s);
				return i + 1;
			}
			s->line_fault = LINE_BARE_CR;
		}
		if (c == '\r') {
			s->line_cr = 1;
			continue;
		}
		if (c == '\n') {
			/* A bare LF ends a command line like CRLF. */
			line_done(s);
			return i + 1;
		}
		if ((c < 0x20 || c == 0x7f) && s->line_fault == LINE_OK)
			s->line_fault = LINE_CTL;
		if (s->line.len >= max) {
			if (!s->line_toolong) {
				s->line_toolong = 1;
				line_too_long(s);
				return i + 1;
			}
			continue;
		}
		(void)buf_append(&s->line, &c, 1, NULL);
	}
	return n;
}

static void
data_end(struct server *s)
{
	struct server_message *m;
	struct op_err e;
	uint64_t size = s->data.received;

	if (s->data.refusal == SERVER_DATA_TOO_BIG) {
		reply(s, 552, "5.3.4",
		    "Message size exceeds fixed maximum message size");
		log_message(s, "refused", NULL, 552, size);
		txn_reset(s);
		return;
	}
	if (s->data.refusal == SERVER_DATA_LINE_TOO_LONG) {
		reply(s, 554, "5.6.0",
		    "Message refused: a line is longer than 1000 octets");
		log_message(s, "refused", NULL, 554, size);
		txn_reset(s);
		return;
	}
	if (smtp_data_check_nul(s->data.body.data, s->data.body.len, &e) < 0) {
		reply(s, 554, "5.6.0", "Message refused: %s", e.msg);
		log_message(s, "refused", NULL, 554, size);
		txn_reset(s);
		return;
	}
	m = mem_alloc(sizeof(*m));
	m->helo = str_dup(s->helo != NULL ? s->helo : "");
	m->sender = str_dup(s->sender);
	m->rcpts = s->rcpts;
	m->nrcpts = s->nrcpts;
	s->rcpts = NULL;
	s->rcpts_cap = 0;               /* nrcpts stays for the log */
	m->params = s->params;
	m->tls = s->tls;
	m->authenticated = s->authenticated;
	m->body = server_data_take(&s->data, &m->body_len);
	set_state(s, ST_COMMIT);
	s->set.on_message(s->set.arg, m);
}

size_t
server_feed(struct server *s, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i = 0;
	int done;

	while (i < len) {
		switch (s->state) {
		case ST_CLOSED:
			return len;
		case ST_TLS:
			/* RFC 3207 section 4.2 / 6: nothing sent before the
			 * handshake may be taken as a command after it. */
			s->tls_discarded += len - i;
			return len;
		case ST_COMMIT:
			return i;
		case ST_DATA:
			i += server_data_feed(&s->data, p + i, len - i, &done);
			if (done)
				data_end(s);
			break;
		default:
			if (s->out.len >= SERVER_OUT_HIGHWATER)
				return i;
			i += line_feed(s, p + i, len - i);
			break;
		}
	}
	return i;
}

/* ---- the embedder's side ---- */

int
server_message_done(struct server *s, const char *queue_id,
    const struct server_reply *fail_reply, struct op_err *e)
{
	char id[128];
	uint64_t size;
	unsigned code;

	if (s->state != ST_COMMIT)
		return err_set(e, ERR_SOFTWARE,
		    "server_message_done: no message is waiting for its commit");
	size = s->data.received;
	if (fail_reply == NULL) {
		log_sanitize(id, sizeof(id), queue_id != NULL ? queue_id : "");
		reply(s, 250, "2.0.0", "Ok: queued as %s", id);
		log_message(s, "queued", id, 250, size);
		s->messages++;
	} else {
		code = reply_custom(s, fail_reply, 451, "4.3.0",
		    "Queue write failed, try again later", 0);
		log_message(s, code >= 500 ? "refused" : "deferred", NULL, code,
		    size);
	}
	txn_reset(s);
	return 0;
}

int
server_starttls_done(struct server *s, int ok, struct op_err *e)
{
	char n[24];

	if (s->state != ST_TLS)
		return err_set(e, ERR_SOFTWARE,
		    "server_starttls_done: no STARTTLS is pending");
	if (s->tls_discarded > 0) {
		snprintf(n, sizeof(n), "%llu",
		    (unsigned long long)s->tls_discarded);
		log_event(LOG_WARN, "smtp_starttls_injection", "peer", s->peer,
		    "discarded_bytes", n, NULL);
		s->tls_discarded = 0;
	}
	if (!ok) {
		close_session(s, "tls_failed");
		return 0;
	}
	/* RFC 3207 section 4.2: forget everything learnt in clear. */
	s->tls = 1;
	if (s->authenticated || s->auth_mech[0] != '\0')
		auth_abort(s);
	s->authenticated = 0;
	s->auth_mech[0] = '\0';
	txn_reset(s);
	free(s->helo);
	s->helo = NULL;
	s->helo_kind = HELO_NONE;
	buf_free(&s->line);
	s->line_cr = s->line_toolong = 0;
	s->line_fault = LINE_OK;
	set_state(s, ST_INIT);
	return 0;
}

static int
say_421(struct server *s, const char *enh, const char *text,
    const char *reason, struct op_err *e)
{
	if (s->state == ST_COMMIT)
		return err_set(e, ERR_SOFTWARE,
		    "a message is waiting for its commit: answer it first");
	if (s->state == ST_CLOSED)
		return 0;
	if (s->state != ST_TLS)   /* mid-handshake: nothing can be said */
		reply(s, 421, enh, "%s %s", s->hostname, text);
	close_session(s, reason);
	return 0;
}

int
server_timeout(struct server *s, struct op_err *e)
{
	return say_421(s, "4.4.2", "Timeout, closing connection", "timeout", e);
}

int
server_shutdown(struct server *s, struct op_err *e)
{
	return say_421(s, "4.3.2", "Service shutting down", "shutdown", e);
}

const char *
server_output(const struct server *s, size_t *len)
{
	*len = s->out.len;
	return s->out.data != NULL ? s->out.data : "";
}

void
server_output_consume(struct server *s, size_t n)
{
	buf_consume(&s->out, n);
	if (s->out.len == 0 && s->out.cap > IDLE_BUF_KEEP)
		buf_free(&s->out);
}

int
server_want_close(const struct server *s)
{
	return s->state == ST_CLOSED;
}

int
server_want_starttls(const struct server *s)
{
	return s->state == ST_TLS;
}

int
server_waiting_for_commit(const struct server *s)
{
	return s->state == ST_COMMIT;
}

int
server_want_input(const struct server *s)
{
	switch (s->state) {
	case ST_CLOSED:
	case ST_TLS:
	case ST_COMMIT:
		return 0;
	case ST_DATA:
		return 1;
	default:
		return s->out.len < SERVER_OUT_HIGHWATER;
	}
}

unsigned
server_timeout_s(const struct server *s)
{
	switch (s->state) {
	case ST_DATA:
		return s->set.timeout_data_s;
	case ST_TLS:
		return s->set.timeout_tls_s;
	case ST_COMMIT:
	case ST_CLOSED:
		return 0;
	default:
		return s->set.timeout_command_s;
	}
}

int
server_in_data(const struct server *s)
{
	return s->state == ST_DATA;
}

size_t
server_memory(const struct server *s)
{
	size_t n = sizeof(*s), i;

	n += s->line.cap + s->out.cap + s->challenge.cap + s->data.body.cap;
	if (s->hostname != NULL)
		n += strlen(s->hostname) + 1;
	if (s->peer != NULL)
		n += strlen(s->peer) + 1;
	if (s->mechs != NULL)
		n += strlen(s->mechs) + 1;
	if (s->helo != NULL)
		n += strlen(s->helo) + 1;
	if (s->sender != NULL)
		n += strlen(s->sender) + 1;
	n += s->rcpts_cap * sizeof(*s->rcpts);
	for (i = 0; s->rcpts != NULL && i < s->nrcpts; i++)
		n += strlen(s->rcpts[i]) + 1;
	return n;
}

static int
hostname_ok(const char *h)
{
	size_t n = h != NULL ? strlen(h) : 0;

	if (n == 0 || n > SERVER_DOMAIN_MAX)
		return 0;
	for (; *h != '\0'; h++)
		if ((unsigned char)*h <= 0x20 || (unsigned char)*h > 0x7e)
			return 0;
	return 1;
}

static int
mechs_ok(const char *m)
{
	const char *p;
	size_t len;

	/* It must fit the EHLO line "AUTH <mechs>". */
	if (m == NULL || m[strspn(m, " ")] == '\0' || strlen(m) > 250)
		return 0;
	for (p = m; *p != '\0'; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '_' || *p == ' '))
			return 0;
	for (p = m; *p != '\0'; p += len) {
		p += strspn(p, " ");
		len = strcspn(p, " ");
		if (len > SASL_MECH_MAX)
			return 0;
	}
	return 1;
}

struct server *
server_new(const struct server_settings *set, struct op_err *e)
{
	struct server *s;

	if (!hostname_ok(set->hostname)) {
		err_set(e, ERR_SOFTWARE, "smtp server: a valid hostname is required");
		return NULL;
	}
	if (set->validate_address == NULL || set->on_message == NULL) {
		err_set(e, ERR_SOFTWARE,
		    "smtp server: validate_address and on_message are required");
		return NULL;
	}
	if (set->auth_available &&
	    (set->auth_step == NULL || !mechs_ok(set->auth_mechs))) {
		err_set(e, ERR_SOFTWARE, "smtp server: AUTH needs auth_step and "
		    "a list of mechanisms (upper case, space separated)");
		return NULL;
	}
	s = mem_alloc(sizeof(*s));
	s->set = *set;
	s->hostname = str_dup(set->hostname);
	s->peer = str_dup(set->peer != NULL ? set->peer : "-");
	s->mechs = set->auth_available ? str_dup(set->auth_mechs) : NULL;
	s->set.hostname = s->hostname;
	s->set.peer = s->peer;
	s->set.auth_mechs = s->mechs;
	s->max_message = set->max_message_size ? (size_t)(set->max_message_size
	    > SIZE_MAX / 2 ? SIZE_MAX / 2 : set->max_message_size) :
	    SERVER_DEFAULT_MAX_MESSAGE;
	s->max_rcpt = set->max_recipients ? set->max_recipients :
	    SERVER_DEFAULT_MAX_RCPT;
	s->max_errors = set->max_errors ? set->max_errors :
	    SERVER_DEFAULT_MAX_ERRORS;
	if (s->set.timeout_command_s == 0)
		s->set.timeout_command_s = SERVER_DEFAULT_TIMEOUT_COMMAND_S;
	if (s->set.timeout_data_s == 0)
		s->set.timeout_data_s = SERVER_DEFAULT_TIMEOUT_DATA_S;
	if (s->set.timeout_tls_s == 0)
		s->set.timeout_tls_s = SERVER_DEFAULT_TIMEOUT_TLS_S;
	s->tls = set->tls_active ? 1 : 0;
	s->state = ST_INIT;
	buf_init(&s->line, SERVER_AUTH_LINE_MAX);
	buf_init(&s->out, SERVER_OUT_MAX);
	buf_init(&s->challenge, 0);
	server_data_begin(&s->data, 0);
	/* RFC 5321 section 4.2 / RFC 2034: no enhanced code on the greeting. */
	out_printf(s, "220 %s ESMTP Outpost\r\n", s->hostname);
	return s;
}

void
server_free(struct server *s)
{
	char nmsg[24], nerr[24], n[24];

	if (s == NULL)
		return;
	if (s->state == ST_TLS && s->tls_discarded > 0) {
		snprintf(n, sizeof(n), "%llu",
		    (unsigned long long)s->tls_discarded);
		log_event(LOG_WARN, "smtp_starttls_injection", "peer", s->peer,
		    "discarded_bytes", n, NULL);
	}
	snprintf(nmsg, sizeof(nmsg), "%u", s->messages);
	snprintf(nerr, sizeof(nerr), "%u", s->errors);
	log_event(LOG_INFO, "smtp_session_end", "peer", s->peer,
	    "reason", s->end_reason != NULL ? s->end_reason :
	    s->state == ST_COMMIT ? "disconnect_during_commit" : "disconnect",
	    "messages", nmsg, "errors", nerr, "tls", s->tls ? "yes" : "no",
	    NULL);
	txn_reset(s);
	free(s->helo);
	free(s->hostname);
	free(s->peer);
	free(s->mechs);
	buf_free(&s->line);
	buf_free(&s->out);
	buf_free(&s->challenge);
	free(s);
}

void
server_message_free(struct server_message *m)
{
	if (m == NULL)
		return;
	free(m->helo);
	free(m->sender);
	rcpts_free(m->rcpts, m->nrcpts);
	free(m->body);
	free(m);
}
