/*
 * client.h - the SMTP client: one session with one upstream server.
 *
 * One library for the delivery daemon, `outpost check`, `outpost
 * test-email` and `send --now` (one client, not one per caller): a params
 * struct in, a session and results out.  Blocking calls with per-phase deadlines and
 * an overall deadline per attempt (smtp_params.deadline_s); a session is
 * used by one thread at a time.
 *
 *   struct smtp_params p;
 *   struct smtp_session *s;
 *   struct smtp_result r;
 *
 *   smtp_params_init(&p);
 *   p.host = "smtp.example.com"; p.port = 587; ...
 *   smtp_result_init(&r);
 *   if (smtp_client_open(&p, &s, &r) < 0) { ...r.phase, r.fail, r.msg... }
 *   smtp_client_send(s, &env, &body, rcpt_results, &r);   (repeat; RSET
 *                                                          is done for you)
 *   smtp_client_quit(s);
 *   smtp_client_free(s);
 *   smtp_result_free(&r);
 *
 * Outcomes (reply.h): every result is SMTP_DELIVERED, SMTP_TEMPORARY or
 * SMTP_PERMANENT with the server's whole reply attached.  A local failure
 * (resolve, connect, TLS, timeout, protocol violation) is TEMPORARY with
 * reply.code 0 and a synthesised msg; `phase` says where it failed and
 * `fail` says what kind of failure it was, so callers can fail over
 * without reading text.  A failure in smtp_client_open() is about the
 * server or the profile (even a 5xx greeting or a 535 to AUTH, which keep
 * their PERMANENT outcome for reporting): the delivery code decides
 * whether to fail over or retry; it must not bounce a message for it.
 * A 421 anywhere (RFC 5321 3.8: the server closes after it) ends the
 * session: it is the result (TEMPORARY, SMTP_FAIL_REPLY, the reply
 * attached) even when the server closes at once with pipelined commands
 * unanswered, when it comes unasked on an idle session before RSET, or
 * when it was sent before a reset that broke the writing of the body;
 * never "the server closed the connection".
 *
 * Security (the rules of docs/security.md that concern the client):
 *   - security=starttls: if STARTTLS is not offered, only QUIT is sent and
 *     open fails (SMTP_FAIL_NO_STARTTLS); bytes received after the 220 to
 *     STARTTLS and before the handshake fail the session
 *     (SMTP_FAIL_INJECTION); EHLO is sent again over TLS.
 *   - security=tls: the handshake comes first (port 465).
 *   - Certificates: chain and host name verified unless tls_verify is 0.
 *   - AUTH never crosses a cleartext connection unless security=none and
 *     allow_plaintext_auth; AUTH lines are logged as "AUTH MECH ********".
 *
 * Logging: log_event(LOG_DEBUG, ...) per command sent ("smtp_send") and
 * reply received ("smtp_reply"), and one "smtp_state" line per state
 * change (from -> to).  Connection and failure events are LOG_INFO.
 *
 * Signals: the client never raises SIGPIPE (send() uses MSG_NOSIGNAL).
 */
#ifndef OUTPOST_SMTP_CLIENT_H
#define OUTPOST_SMTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "smtp/reply.h"
#include "smtp/tls.h"
#include "util/err.h"

/* Same values as enum conf_security (config/conf.h); smtp/ does not
 * include config/. */
enum smtp_security {
	SMTP_SEC_NONE = 0,
	SMTP_SEC_STARTTLS = 1,
	SMTP_SEC_TLS = 2,
};

/* Where a session is, or where it failed. */
enum smtp_phase {
	SMTP_PHASE_NONE = 0,    /* no failure */
	SMTP_PHASE_RESOLVE,
	SMTP_PHASE_CONNECT,
	SMTP_PHASE_GREETING,
	SMTP_PHASE_EHLO,        /* EHLO, or the HELO fallback */
	SMTP_PHASE_STARTTLS,    /* the STARTTLS command and its reply */
	SMTP_PHASE_TLS,         /* the TLS handshake and certificate check */
	SMTP_PHASE_AUTH,
	SMTP_PHASE_MAIL,
	SMTP_PHASE_RCPT,
	SMTP_PHASE_DATA,        /* the DATA command, the body, the final dot */
	SMTP_PHASE_RSET,
	SMTP_PHASE_QUIT,
	SMTP_PHASE_COUNT_
};

/* What kind of failure; detectable by callers without reading msg. */
enum smtp_fail {
	SMTP_FAIL_NONE = 0,
	SMTP_FAIL_REPLY,          /* the server refused: see reply */
	SMTP_FAIL_RESOLVE,        /* the name does not resolve (sys EAI_*) */
	SMTP_FAIL_CONNECT,        /* no address accepted a connection (sys
	                           * errno of the last: ECONNREFUSED,
	                           * ETIMEDOUT, EHOSTUNREACH, ENETUNREACH) */
	SMTP_FAIL_TIMEOUT,        /* a phase's deadline passed */
	SMTP_FAIL_CLOSED,         /* the server closed the connection */
	SMTP_FAIL_IO,             /* socket error (sys errno) */
	SMTP_FAIL_PROTOCOL,       /* malformed or over-long reply, unexpected
	                           * bytes, a reply out of place */
	SMTP_FAIL_INJECTION,      /* bytes after the 220 to STARTTLS, before
	                           * the handshake (CVE-2011-0411 style) */
	SMTP_FAIL_NO_STARTTLS,    /* security=starttls, STARTTLS not offered */
	SMTP_FAIL_TLS,            /* handshake failed (no common protocol,
	                           * alert, garbage) */
	SMTP_FAIL_TLS_VERIFY,     /* certificate not valid: sys is the
	                           * X509_V_ERR_* code; see smtp_client_tls() */
	SMTP_FAIL_PLAIN_ON_TLS_PORT, /* security=tls but the server speaks
	                           * plain SMTP ("220 ..."): use starttls/none */
	SMTP_FAIL_TLS_ON_PLAIN_PORT, /* security=starttls/none but the server
	                           * sends TLS records or never greets on a
	                           * TLS port: use security=tls */
	SMTP_FAIL_NO_AUTH,        /* auth required, server offers no AUTH */
	SMTP_FAIL_NO_MECH,        /* no SASL mechanism in common */
	SMTP_FAIL_AUTH_INSECURE,  /* would send a password in clear: refused */
	SMTP_FAIL_AUTH,           /* the server refused the credentials
	                           * (reply attached, usually 535) */
	SMTP_FAIL_SASL,           /* the SASL exchange failed locally */
	SMTP_FAIL_NO_SMTPUTF8,    /* a non-ASCII address, server lacks SMTPUTF8 */
	SMTP_FAIL_TOO_BIG,        /* message larger than the server's SIZE */
	SMTP_FAIL_BAD_ADDRESS,    /* an address that cannot go on the wire
	                           * (control bytes, <>, over RFC 5321 4.5.3.1.3) */
	SMTP_FAIL_BODY,           /* the body source failed (msg says why) */
	SMTP_FAIL_UNUSABLE,       /* the session is not usable (broken/closed) */
	SMTP_FAIL_PARAMS,         /* bad params (no host, no username, ...) */
	SMTP_FAIL_TOKEN,          /* OAuth2: the server refused the bearer
	                           * token (535, or a 334 error challenge
	                           * then 535; reply attached): the caller
	                           * drops the token, gets a fresh one and
	                           * tries once more */
	SMTP_FAIL_COUNT_
};

/* Bounds. */
#define SMTP_CMD_LINE_MAX 512        /* RFC 5321 4.5.3.1.4, incl. CRLF */
#define SMTP_PATH_MAX 256            /* RFC 5321 4.5.3.1.3 */
#define SMTP_AUTH_LINE_MAX 12288     /* RFC 4954 4: AUTH lines */
#define SMTP_CONNECT_ADDRS_MAX 10    /* addresses of a host tried in turn */
#define SMTP_STEPS_MAX 32            /* steps recorded per session */
#define SMTP_STEP_DETAIL_MAX 512
#define SMTP_MECHS_MAX 256           /* text of the AUTH mechanism list */
#define SMTP_AUTH_ROUNDS_MAX 10      /* 334 challenges per AUTH */
#define SMTP_HELO_MAX 255            /* RFC 1035 name length */

/* RFC 5321 4.5.3.2 timeouts, each capped by smtp_params.timeout_s. */
#define SMTP_TIMEOUT_GREETING_S 300  /* 4.5.3.2.1 initial 220 */
#define SMTP_TIMEOUT_MAIL_S 300      /* 4.5.3.2.2 */
#define SMTP_TIMEOUT_RCPT_S 300      /* 4.5.3.2.3 */
#define SMTP_TIMEOUT_DATA_S 120      /* 4.5.3.2.4 DATA initiation */
#define SMTP_TIMEOUT_BLOCK_S 180     /* 4.5.3.2.5 each data block */
#define SMTP_TIMEOUT_DOT_S 600       /* 4.5.3.2.6 final "." */
#define SMTP_TIMEOUT_OTHER_S 300     /* EHLO, STARTTLS, TLS, AUTH, RSET */
#define SMTP_TIMEOUT_CONNECT_S 30    /* per address, when neither connect_
                                      * timeout_s nor timeout_s is set */

/* Capabilities from EHLO (the last EHLO: the one over TLS if any). */
enum smtp_cap {
	SMTP_CAP_PIPELINING = 1 << 0,
	SMTP_CAP_SIZE = 1 << 1,
	SMTP_CAP_8BITMIME = 1 << 2,
	SMTP_CAP_SMTPUTF8 = 1 << 3,
	SMTP_CAP_STARTTLS = 1 << 4,
	SMTP_CAP_AUTH = 1 << 5,
	SMTP_CAP_ENHANCEDSTATUSCODES = 1 << 6,
	SMTP_CAP_DSN = 1 << 7,
	SMTP_CAP_CHUNKING = 1 << 8,
};

struct smtp_caps {
	int esmtp;                 /* 1: EHLO accepted; 0: HELO fallback */
	unsigned flags;            /* enum smtp_cap bits */
	uint64_t size_max;         /* SIZE n; 0 = no limit announced */
	char mechs[SMTP_MECHS_MAX]; /* "PLAIN LOGIN", upper case, only valid
	                            * RFC 4422 3.1 names; "" if none */
};

struct smtp_params {
	const char *host;            /* name or IP literal; [IPv6] too */
	unsigned port;               /* 1..65535 */
	int security;                /* enum smtp_security */
	int tls_verify;              /* verify chain + host name (default 1) */
	const char *tls_ca_file;     /* extra trust anchors (PEM), or NULL */
	int auth;                    /* log in (default 0) */
	const char *username;        /* required when auth */
	const char *password;        /* required when auth; never logged */
	const char *bearer_token;    /* OAuth2 access token: when set (auth
	                              * on), AUTH uses OAUTHBEARER or XOAUTH2
	                              * (smtp/sasl_oauth.h) instead of the
	                              * password; never logged; the caller
	                              * gets it (the client never fetches one) */
	int allow_plaintext_auth;    /* AUTH without TLS: security=none only */
	const char *helo_name;       /* EHLO name; NULL: gethostname() */
	unsigned timeout_s;          /* caps every phase; 0 = RFC values */
	unsigned deadline_s;         /* overall deadline of an attempt, from
	                              * connect on; 0 = none (see below) */
	unsigned connect_timeout_s;  /* per address; 0: timeout_s, else 30;
	                              * at most 300 */
	const char *log_name;        /* added to log lines (profile name), or NULL */
	/* For diagnostics (`outpost check`): when no greeting has come
	 * greeting_late_s seconds after the connection (and the greeting's
	 * own deadline is later), greeting_late(greeting_late_arg) is called
	 * once, with the connection still open and waiting.  If it returns 1
	 * (it found the port speaks implicit TLS), open fails at once at the
	 * greeting with SMTP_FAIL_TLS_ON_PLAIN_PORT; if 0, the wait goes on
	 * to the deadline.  NULL (the default): no such call. */
	unsigned greeting_late_s;
	int (*greeting_late)(void *arg);
	void *greeting_late_arg;
};

/* Defaults: port 587, starttls, tls_verify 1, everything else 0/NULL. */
void smtp_params_init(struct smtp_params *p);

/*
 * The result of one operation.  reply is the server's reply that decided
 * it (code 0 when none: a local failure); msg is one sanitised sentence for
 * a person ("the server refused the sender: 550 5.7.1 ...").  Owned by the
 * caller, who inits it once and frees it once; every call that fills it
 * frees the previous contents first.
 */
struct smtp_result {
	int outcome;              /* enum smtp_outcome */
	int phase;                /* enum smtp_phase; SMTP_PHASE_NONE if ok */
	int fail;                 /* enum smtp_fail; SMTP_FAIL_NONE if ok */
	int sys;                  /* errno, EAI_*, or X509_V_ERR_* (see fail) */
	struct smtp_reply reply;
	char msg[ERR_MSG_MAX];
};

void smtp_result_init(struct smtp_result *r);
void smtp_result_free(struct smtp_result *r);
void smtp_result_copy(struct smtp_result *dst, const struct smtp_result *src);

/*
 * One step of smtp_client_open(), for diagnostics (`outpost check`, the web
 * page): resolve ("2 addresses: 192.0.2.1, 2001:db8::1"), connect (one step
 * per address tried: "192.0.2.1 port 587" or why not, sys = errno),
 * greeting (the reply), ehlo (the capabilities), starttls (the reply), tls
 * (version, cipher, certificate: see smtp_client_tls()), auth ("offered:
 * PLAIN LOGIN; chosen: PLAIN" and the reply).  detail is sanitised text.
 */
struct smtp_step {
	int phase;                /* enum smtp_phase */
	int ok;
	int fail;                 /* enum smtp_fail when !ok */
	int sys;
	int code;                 /* the reply code involved, 0 if none */
	int64_t elapsed_ms;       /* time the step took */
	char detail[SMTP_STEP_DETAIL_MAX];
};

struct smtp_session;

/*
 * Connect and get a session ready for mail: resolve host (net_resolve:
 * *.invalid fails at once), connect to each address in turn (IPv4 and
 * IPv6, at most SMTP_CONNECT_ADDRS_MAX) until one answers, read the
 * greeting (anything but 220 fails), EHLO (HELO if EHLO gets 500, 501, 502
 * or 504, except when STARTTLS is required or TLS is already on: HELO
 * cannot offer STARTTLS or AUTH), STARTTLS or implicit TLS as
 * params->security says, EHLO again over TLS, AUTH when params->auth.
 *
 * *out is ALWAYS set to a session (even on failure) that the caller frees
 * with smtp_client_free(): on failure it is not usable, but its steps,
 * capabilities and TLS information show how far it got.
 * Returns 0 (res: DELIVERED, phase NONE) or -1 (res says where and why).
 * On failure after the greeting, QUIT is sent when the connection is still
 * sane (never after a protocol violation).
 *
 * Deadlines: each phase has its own (the RFC 5321 4.5.3.2 value capped by
 * params->timeout_s; for a reply, from the command to the reply's last
 * line, however the server drips it).  With params->deadline_s, an overall
 * deadline also runs from the start of this call: the resolve (which
 * cannot be interrupted, but counts), every connect, the greeting, EHLO,
 * STARTTLS, TLS and AUTH share it, and so does the first message sent on
 * the session (smtp_client_send).  When it passes, the phase at hand ends
 * with SMTP_FAIL_TIMEOUT (SMTP_FAIL_CONNECT while connecting) and a msg
 * that names the overall deadline rather than the phase's timeout.
 */
int smtp_client_open(const struct smtp_params *params,
    struct smtp_session **out, struct smtp_result *res);

/*
 * A session that is never opened, for a caller that has decided not to
 * connect (an OAuth2 profile without a token): *out is set as
 * smtp_client_open() sets it, res is TEMPORARY at the AUTH phase with
 * fail and why.  Nothing is sent, nothing is logged.  Returns -1.
 */
int smtp_client_unopened(const struct smtp_params *params, int fail,
    const char *why, struct smtp_session **out, struct smtp_result *res);

/* What a message needs from the session. */
struct smtp_envelope {
	const char *sender;            /* reverse-path without <>; "" = null */
	const char *const *rcpts;      /* forward-paths without <> */
	size_t nrcpts;                 /* >= 1 */
	int64_t deadline_ms;           /* overall deadline for this message
	                                * (clock_mono_ms() based); 0 = none.
	                                * params.deadline_s applies too: the
	                                * sooner of the two is used */
};

/*
 * The body: a pull source of stored message bytes (any line ends; the
 * client normalises to CRLF and dot-stuffs, see data.h).  read() copies up
 * to n bytes into buf and sets *got; *got == 0 means the end.  Return -1
 * (filling e) on a local failure: the connection is then dropped without
 * the final dot, so a truncated message is never delivered.
 */
struct smtp_body {
	int (*read)(void *arg, char *buf, size_t n, size_t *got,
	    struct op_err *e);
	void *arg;
	uint64_t size;        /* size for SIZE= with CRLF line ends (0: unknown) */
	int eightbit;         /* bytes >= 0x80 present: BODY=8BITMIME */
};

/* A body from memory; m must outlive the send.  Sets size (counting line
 * ends as CRLF, RFC 1870 4) and eightbit. */
struct smtp_mem_body {
	const char *data;
	size_t len;
	size_t off;
};
void smtp_body_from_mem(struct smtp_body *b, struct smtp_mem_body *m,
    const char *data, size_t len);

/*
 * Send one message: MAIL FROM (with SIZE= when offered, BODY=8BITMIME when
 * offered and body->eightbit, SMTPUTF8 when offered and an address is not
 * ASCII), one RCPT per recipient, DATA, the body, the final dot.  With
 * PIPELINING, MAIL, the RCPTs and DATA go in one write (RFC 2920) and the
 * replies are read in order.  If no recipient is accepted the body is not
 * sent (after a 354 to a pipelined DATA, the dot alone ends it); if the
 * transaction did not complete, RSET is sent so the session can be reused.
 *
 * rcpt_res: caller-owned array of env->nrcpts results (each initialised
 * with smtp_result_init), filled with each recipient's final outcome:
 *   RCPT refused -> that reply (phase RCPT);
 *   accepted     -> the final reply after the dot (phase DATA on failure),
 *                   or the DATA command's refusal;
 *   MAIL refused or a local failure -> that result, for every recipient.
 * res: the message as a whole: the final-dot reply, or what stopped it.
 * Returns 0 if the message was accepted for at least one recipient, -1
 * otherwise.  After a network or protocol failure the session is not usable
 * (smtp_client_usable() is 0); after refusals it is.
 *
 * The overall deadline (params.deadline_s): the first message on a
 * session gets what smtp_client_open() left of it, so connecting and
 * sending it are one attempt under one deadline (time between the two
 * calls, such as a quota wait of the caller's, is not counted); each later
 * message gets deadline_s from its start.  The lock-step pieces below have
 * per-phase deadlines only.
 */
int smtp_client_send(struct smtp_session *s, const struct smtp_envelope *env,
    struct smtp_body *body, struct smtp_result *rcpt_res,
    struct smtp_result *res);

/*
 * Lock-step pieces, for diagnostics ("is the sender accepted?") and tools.
 * smtp_client_mail: MAIL FROM:<sender> with SIZE=size (when size > 0 and
 * offered) and the flags below (each used only when offered).
 * smtp_client_rcpt: one RCPT TO.  Follow with smtp_client_rset() unless
 * you go on to smtp_client_data().  Return 0 when the reply is 2xx.
 */
#define SMTP_MAIL_8BITMIME 0x1
#define SMTP_MAIL_SMTPUTF8 0x2
int smtp_client_mail(struct smtp_session *s, const char *sender,
    uint64_t size, int flags, struct smtp_result *res);
int smtp_client_rcpt(struct smtp_session *s, const char *rcpt,
    struct smtp_result *res);
/* DATA, the body, the final dot, after a successful MAIL and >= 1 RCPT. */
int smtp_client_data(struct smtp_session *s, struct smtp_body *body,
    struct smtp_result *res);

/* RSET (RFC 5321 4.1.1.5); 0 when the server answers 250. */
int smtp_client_rset(struct smtp_session *s, struct smtp_result *res);

/* QUIT, wait briefly for 221, close the connection (the session stays
 * allocated for its steps).  Harmless on an unusable session. */
void smtp_client_quit(struct smtp_session *s);
/* Close without QUIT if still open, and free.  NULL is fine. */
void smtp_client_free(struct smtp_session *s);

/* 1 when the session is connected, greeted, and not broken. */
int smtp_client_usable(const struct smtp_session *s);
/* Messages accepted (final 250) on this session so far. */
unsigned smtp_client_messages(const struct smtp_session *s);

/* Diagnostics.  Pointers stay valid until smtp_client_free(). */
size_t smtp_client_nsteps(const struct smtp_session *s);
const struct smtp_step *smtp_client_step(const struct smtp_session *s,
    size_t i);
const struct smtp_caps *smtp_client_caps(const struct smtp_session *s);
/* The TLS handshake's findings; info->done 0 if no TLS was attempted or it
 * failed (then the fields are filled as far as it got). NULL if never
 * attempted. */
const struct tls_info *smtp_client_tls(const struct smtp_session *s);
/* The peer's address text ("192.0.2.1"), "" before connecting. */
const char *smtp_client_peer(const struct smtp_session *s);
/* The greeting reply (code 0 if none). */
const struct smtp_reply *smtp_client_greeting(const struct smtp_session *s);
/* AUTH: the mechanism chosen ("" if none); the offered list is in caps. */
const char *smtp_client_auth_mech(const struct smtp_session *s);
/* 1 if the connection is encrypted now. */
int smtp_client_encrypted(const struct smtp_session *s);

const char *smtp_phase_name(int phase);   /* "resolve", "connect", ... */
const char *smtp_fail_name(int fail);     /* "no_starttls", ... */

#endif
