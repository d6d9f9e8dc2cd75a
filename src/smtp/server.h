/*
 * server.h - the SMTP listener's protocol core: one RFC 5321 server session
 * as a pure state machine.  It does no I/O, reads no clock and opens no
 * socket: the embedder (the listener's event loop) feeds it the bytes it
 * read, writes out what it produced, and runs the timers it names.  So every
 * byte of the protocol can be unit-tested, split any way.
 *
 * Driving a session
 *   s = server_new(&settings, &e);      greeting is already in the output
 *   loop:
 *     n = server_feed(s, in, len);       consumes n <= len bytes
 *     write server_output(s, &olen), then server_output_consume(s, written)
 *     keep in[n..len) and feed it again (first) once server_want_input(s)
 *     server_want_close(s)      -> flush the output, then close
 *     server_want_starttls(s)   -> flush the output (the 220), do the TLS
 *                                  handshake, then server_starttls_done()
 *     server_waiting_for_commit(s) -> the embedder owes server_message_done()
 *   server_free(s)
 *
 * server_feed() returns fewer bytes than it was given only while the
 * session is blocked: waiting for the commit of a message (RFC 2920
 * pipelined commands after the end of DATA are answered in order, only
 * after the message's own reply), or while more than SERVER_OUT_HIGHWATER
 * reply bytes are waiting to be written (a client that pipelines without
 * reading its replies is not allowed to grow our memory).  The embedder
 * keeps the unconsumed bytes, stops reading the socket, and feeds them
 * again when server_want_input() says so.  A closed session and a session
 * waiting for the TLS handshake consume and DISCARD everything (see
 * STARTTLS below), so server_feed() then returns len.
 *
 * STARTTLS (RFC 3207 section 4.2, "command injection"): every byte that
 * follows the STARTTLS command line, whether it came in the same read or
 * in a later one before the handshake, is discarded by the session and
 * never answered; the count is logged.  After server_starttls_done(s, 1)
 * the session is back in the pre-EHLO state (helo name, authentication and
 * transaction forgotten) and EHLO no longer offers STARTTLS.
 *
 * DATA (SMTP smuggling; docs/security.md, "Message ends"), decided here:
 *   - the message ends ONLY at <CRLF>.<CRLF> (the CRLF of the DATA command
 *     line counts as the first CRLF, so ".\r\n" right after 354 is an empty
 *     message);
 *   - a bare LF, and a bare CR (a CR not followed by LF), end a body line
 *     and are normalised to CRLF in the stored body;
 *   - a line "." that is ended by, or follows, a bare LF/CR ("\n.\n",
 *     "\r.\r", "\n.\r\n", "\r\n.\n", "\r\n.\r\r\n" ...) is NOT the end of
 *     the data: it is stored as an ordinary body line ".", so whatever
 *     envelope follows it is body text of the same message, never a second
 *     message;
 *   - dot-unstuffing (RFC 5321 section 4.5.2): a line that starts with "."
 *     and has more characters loses its first ".";
 *   - the stored body has CRLF line ends only and is dot-unstuffed (the
 *     SMTP client stuffs it again when relaying);
 *   - a body line longer than SERVER_TEXT_LINE_MAX (1000 octets with CRLF,
 *     RFC 5321 section 4.5.3.1.6, not counting a stuffed dot) or a body
 *     longer than max_message_size does NOT end the session early: the
 *     session keeps reading (without storing) up to <CRLF>.<CRLF> and then
 *     refuses the message with "554 5.6.0" (line) or "552 5.3.4" (size),
 *     so the client and the session stay in step;
 *   - a NUL byte anywhere in the message, header or body, refuses it at
 *     the end of data with "554 5.6.0 Message refused: a NUL byte in the
 *     header, line N; ..." (smtp_data_check_nul(), the rule `outpost
 *     sendmail` applies too).
 * Command lines: CRLF, or a bare LF (as Postfix's "normalize"), ends a
 * line; a bare CR inside a command line, or any other control character,
 * gets "500 5.5.2" for that line.  A line longer than SERVER_CMD_LINE_MAX
 * (an AUTH response: SERVER_AUTH_LINE_MAX) gets "500 5.5.2 Line too long"
 * (AUTH: "500 5.5.6") as soon as the octet past the limit arrives, not at
 * its end; the rest of that line is read and dropped without a second
 * reply.  The SERVER_LONG_LINES_MAX-th such line also gets
 * "421 4.7.0 <host> Too many long lines, closing connection", and the
 * session wants to close.
 *
 * Replies carry RFC 3463 enhanced status codes (RFC 2034), except the 220
 * greeting, the EHLO/HELO replies and 3xx replies, where RFC 2034 section 3
 * leaves them out.  Unknown MAIL/RCPT parameters get 555 5.5.4 (no DSN, no
 * CHUNKING: BDAT gets 502).  AUTH=<...> on MAIL is accepted (RFC 4954
 * section 5 requires it of a server offering AUTH) and ignored.
 *
 * Errors: every reply >= 400 to a client command counts as an error
 * (except 452 4.5.3 too many recipients, which a correct client gets,
 * 454 temporary AUTH failure, and the final reply to a message); at
 * max_errors the session answers
 * "421 4.7.0 <host> Too many errors, closing connection" and wants to close.
 *
 * Logs: "smtp_message" once per message transaction end (queued, refused,
 * deferred), "smtp_session_end" from server_free(), "smtp_auth" per AUTH
 * outcome (mechanism and result only: never a SASL payload),
 * "smtp_starttls_injection" when bytes after STARTTLS were discarded.
 * Peer text in them is escaped by log.c.
 *
 * Memory: a session without a transaction holds a few hundred bytes plus
 * its line and output buffers (both bounded, freed when large and empty);
 * the body buffer is allocated at DATA, grows to at most max_message_size
 * and leaves the session with the message.  server_memory() reports it.
 *
 * Threads: a session is used by one thread at a time; callbacks run inside
 * server_feed() on that thread.  Callbacks must not call server_feed() or
 * server_free(); on_message may call server_message_done() itself.
 */
#ifndef OUTPOST_SMTP_SERVER_H
#define OUTPOST_SMTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

/* RFC 5321 section 4.5.3.1.4: command line, 512 octets including CRLF. */
#define SERVER_CMD_LINE_MAX 512
/* RFC 5321 section 4.5.3.1.6: text line, 1000 octets including CRLF. */
#define SERVER_TEXT_LINE_MAX 1000
/* RFC 5321 section 4.5.3.1.3: path, 256 octets including "<" and ">". */
#define SERVER_PATH_MAX 256
/* RFC 5321 section 4.5.3.1.2 / RFC 1035: a domain, 255 octets (HELO name). */
#define SERVER_DOMAIN_MAX 255
/* RFC 4954 section 4: a line of the AUTH exchange (client responses to
 * 334), 12288 octets including CRLF.  The AUTH command line itself stays
 * within SERVER_CMD_LINE_MAX. */
#define SERVER_AUTH_LINE_MAX 12288
/* RFC 5321 section 4.5.3.1.8 asks for at least 100; we default to 1000. */
#define SERVER_DEFAULT_MAX_RCPT 1000
#define SERVER_DEFAULT_MAX_ERRORS 20
/* Command lines over SERVER_CMD_LINE_MAX (or AUTH lines over
 * SERVER_AUTH_LINE_MAX) a session answers before it ends with 421: a
 * client that sends them is not speaking SMTP. */
#define SERVER_LONG_LINES_MAX 3
#define SERVER_DEFAULT_MAX_MESSAGE (25u * 1024 * 1024)
/* RFC 5321 section 4.5.3.2.7: a server waits at least 5 minutes for the
 * next command; the same for the next block of DATA. */
#define SERVER_DEFAULT_TIMEOUT_COMMAND_S 300
#define SERVER_DEFAULT_TIMEOUT_DATA_S 300
#define SERVER_DEFAULT_TIMEOUT_TLS_S 60
/* Stop consuming input while this many reply bytes wait to be written. */
#define SERVER_OUT_HIGHWATER (16 * 1024)
/* Hard bound of the output buffer: HIGHWATER plus the largest single reply
 * (a 334 challenge of SERVER_AUTH_LINE_MAX). */
#define SERVER_OUT_MAX (SERVER_OUT_HIGHWATER + SERVER_AUTH_LINE_MAX + 1024)
/* Reply text an embedder may supply (before escaping). */
#define SERVER_REPLY_TEXT_MAX 200

/* A refusal chosen by the embedder: code 400..599, enhanced status code
 * "x.y.z" whose class matches the code, and text.  An empty enh or text,
 * or a code out of range, is replaced by the default of the situation.
 * The text is escaped (log_sanitize) before it is sent. */
struct server_reply {
	unsigned code;
	char enh[16];
	char text[SERVER_REPLY_TEXT_MAX];
};

enum server_body {
	SERVER_BODY_NONE = 0,      /* no BODY= parameter */
	SERVER_BODY_7BIT = 1,
	SERVER_BODY_8BITMIME = 2,
};

/* The MAIL FROM parameters, parsed and validated. */
struct server_mail_params {
	uint64_t size;              /* SIZE=, 0 if absent */
	int body;                   /* enum server_body */
	int smtputf8;               /* SMTPUTF8 given */
};

/* A received message, handed to on_message.  From then on the embedder
 * owns it and frees it with server_message_free() (the session never
 * touches it again, so it may outlive the session). */
struct server_message {
	char *helo;                 /* EHLO/HELO argument */
	char *sender;               /* reverse-path mailbox; "" for <> */
	char **rcpts;               /* accepted forward-path mailboxes */
	size_t nrcpts;
	struct server_mail_params params;
	int tls;                    /* received over TLS */
	int authenticated;          /* after a successful AUTH */
	char *body;                 /* CRLF line ends, dot-unstuffed; NUL after
	                             * body_len (not part of it) */
	size_t body_len;
};

void server_message_free(struct server_message *m);

/* auth_step() results. */
enum server_auth_result {
	SERVER_AUTH_OK = 0,         /* authenticated (challenge may hold final
	                             * server data, sent as 334; RFC 4954 s. 4) */
	SERVER_AUTH_CONTINUE = 1,   /* send challenge as "334 <challenge>" */
	SERVER_AUTH_FAIL = 2,       /* 535 5.7.8 unless reply says otherwise */
	SERVER_AUTH_TEMPFAIL = 3,   /* 454 4.7.0 unless reply says otherwise */
};

struct server_settings {
	const char *hostname;       /* required: greeting and EHLO name */
	const char *peer;           /* for logs ("127.0.0.1:40000"); may be NULL */
	uint64_t max_message_size;  /* 0: SERVER_DEFAULT_MAX_MESSAGE */
	unsigned max_recipients;    /* 0: SERVER_DEFAULT_MAX_RCPT */
	unsigned max_errors;        /* 0: SERVER_DEFAULT_MAX_ERRORS */
	unsigned timeout_command_s; /* 0: defaults above */
	unsigned timeout_data_s;
	unsigned timeout_tls_s;
	int tls_available;          /* offer STARTTLS */
	int tls_active;             /* the connection is TLS from the start */
	int auth_available;         /* offer AUTH (needs auth_mechs, auth_step) */
	int auth_required;          /* MAIL needs a successful AUTH first */
	int auth_plaintext;         /* AUTH allowed without TLS (else 538) */
	const char *auth_mechs;     /* advertised SASL mechanisms, space
	                             * separated ("SCRAM-SHA-256 PLAIN") */

	/* All callbacks get arg first. */
	void *arg;

	/* Required.  The address validator (the embedder passes
	 * addr_parse_mailbox() from mail/addr.h): 0 if mailbox (the path
	 * without "<>" and source route, never "") is a valid address, -1 if
	 * not.  smtputf8: the transaction allows UTF-8 addresses. */
	int (*validate_address)(void *arg, const char *mailbox, int smtputf8);

	/* Optional.  0 accepts, -1 refuses with *r (default 550 5.7.1).
	 * sender is "" for the null reverse-path. */
	int (*on_mail)(void *arg, const char *sender,
	    const struct server_mail_params *params, struct server_reply *r);
	int (*on_rcpt)(void *arg, const char *rcpt, struct server_reply *r);

	/* Required when auth_available.  One SASL step: mech is one of
	 * auth_mechs (as written there); response is the client's base64 text,
	 * "" for an empty response ("=" as initial response), or NULL when the
	 * AUTH command had no initial response.  The step appends the base64
	 * challenge (without "334 ") to challenge, a buffer bounded to fit one
	 * reply line.  Returns enum server_auth_result; *r may refine a FAIL
	 * or TEMPFAIL reply.  The embedder keeps the SASL state and the
	 * authenticated identity (for on_mail's allowed_from) in arg. */
	int (*auth_step)(void *arg, const char *mech, const char *response,
	    struct buf *challenge, struct server_reply *r);
	/* Optional.  Forget the SASL exchange in progress and any identity it
	 * established: client cancel ("*"), a broken exchange, STARTTLS. */
	void (*auth_reset)(void *arg);

	/* Required.  A message was received: m is the embedder's now.  The
	 * embedder queues it (asynchronously if it likes) and then calls
	 * server_message_done() exactly once; until then the session answers
	 * nothing more and consumes no input. */
	void (*on_message)(void *arg, struct server_message *m);
};

struct server;

/* A new session; its 220 greeting is already in the output.  Strings in
 * settings are copied.  NULL with ERR_SOFTWARE if a required setting or
 * callback is missing. */
struct server *server_new(const struct server_settings *set, struct op_err *e);

/* Logs "smtp_session_end".  A message handed to on_message stays valid. */
void server_free(struct server *s);

/* Consume input; see the top of this file.  Never fails: protocol errors
 * become replies, fatal ones set want_close.  Returns the bytes consumed. */
size_t server_feed(struct server *s, const void *data, size_t len);

/* Reply bytes waiting to be written (not NUL-terminated), and their
 * removal after the embedder wrote n of them. */
const char *server_output(const struct server *s, size_t *len);
void server_output_consume(struct server *s, size_t n);

int server_want_close(const struct server *s);
int server_want_starttls(const struct server *s);
int server_waiting_for_commit(const struct server *s);
/* 1 if server_feed() would consume input now. */
int server_want_input(const struct server *s);

/* The message handed to on_message is queued as queue_id (fail NULL):
 * "250 2.0.0 Ok: queued as <queue_id>"; or it was not (fail not NULL):
 * fail's reply, default "451 4.3.0 Queue write failed, try again later".
 * Returns -1 with ERR_SOFTWARE if the session was not waiting. */
int server_message_done(struct server *s, const char *queue_id,
    const struct server_reply *fail, struct op_err *e);

/* The handshake the session asked for ended: ok 1 resets the session to
 * the pre-EHLO state over TLS; ok 0 makes it want to close (nothing more
 * can be said in clear).  -1 with ERR_SOFTWARE if no STARTTLS was pending. */
int server_starttls_done(struct server *s, int ok, struct op_err *e);

/* The seconds the embedder should wait for the client in the present state
 * (command, DATA or TLS handshake timeout); 0 when the session is not
 * waiting for the client (commit, closed). */
unsigned server_timeout_s(const struct server *s);

/* The embedder's timer for server_timeout_s() fired: "421 4.4.2 <host>
 * Timeout, closing connection" and want_close.  Also server_shutdown():
 * "421 4.3.2 <host> Service shutting down".  Both -1 with ERR_SOFTWARE
 * while a commit is owed (answer it first). */
int server_timeout(struct server *s, struct op_err *e);
int server_shutdown(struct server *s, struct op_err *e);

/* 1 while the session reads a message body (between 354 and the end of
 * data): the embedder's deadline then runs per read (RFC 5321 4.5.3.2.5,
 * "data block"), not per command. */
int server_in_data(const struct server *s);

/* Bytes of memory the session holds now (struct, buffers, envelope). */
size_t server_memory(const struct server *s);

#endif
