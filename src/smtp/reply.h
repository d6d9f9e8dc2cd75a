/*
 * reply.h - SMTP replies: a strict, bounded, incremental parser, and the
 * three outcomes every part of Outpost speaks.
 *
 * A reply is one or more lines "DDD-text" ... "DDD text" (RFC 5321 4.2.1).
 * The parser is strict where it matters and bounded everywhere:
 *   - a line starts with three digits, the first 2..5, followed by a space,
 *     a dash (more lines follow) or the end of the line ("250" alone is a
 *     final line with empty text);
 *   - every line of one reply carries the same code;
 *   - a line ends at LF; a CR just before it is dropped (bare-LF replies
 *     from sloppy servers are accepted);
 *   - a NUL byte anywhere is an error;
 *   - a line may be at most SMTP_REPLY_LINE_MAX bytes including CRLF;
 *     RFC 5321 4.5.3.1.5 sets 512, real servers exceed it, so we are
 *     lenient up to 4096 and fail past that;
 *   - at most SMTP_REPLY_LINES_MAX lines and SMTP_REPLY_TEXT_MAX bytes of
 *     joined text per reply (msmtp: "to prevent an extremely long reply
 *     from eating all the memory").
 * Any violation fails the parse with ERR_PROTOCOL; the parser is then
 * unusable (the session must end: the byte stream cannot be resynchronised).
 *
 * The text kept is the peer's raw text (lines after "DDD-"/"DDD ", joined
 * with '\n').  It is NOT sanitised: pass it through log_sanitize() (or use
 * smtp_reply_format()) before logging, storing or showing it.
 *
 * Enhanced status codes (RFC 3463, "5.7.1 " at the start of the first
 * line's text) are parsed into enh_class/subject/detail when present and
 * when the class agrees with the reply code's first digit (2, 4 or 5);
 * otherwise enh_class is 0.  The text keeps them (it is the whole text).
 */
#ifndef OUTPOST_SMTP_REPLY_H
#define OUTPOST_SMTP_REPLY_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

#define SMTP_REPLY_LINE_MAX 4096   /* RFC 5321 4.5.3.1.5 says 512; lenient */
#define SMTP_REPLY_LINES_MAX 100   /* lines in one reply (EHLO lists ~20) */
#define SMTP_REPLY_TEXT_MAX 16384  /* joined text kept per reply */

/* The three outcomes, the same everywhere from the socket up to the API:
 * delivered, temporary failure (retry later), permanent failure. */
enum smtp_outcome {
	SMTP_DELIVERED = 0,   /* 2xx/3xx: done, or accepted for this step */
	SMTP_TEMPORARY = 1,   /* 4xx, or a local/network failure: retry later */
	SMTP_PERMANENT = 2,   /* 5xx: do not retry */
};

struct smtp_reply {
	int code;             /* 200..599; 0 = no reply (a local failure) */
	int enh_class;        /* 2, 4 or 5; 0 = no enhanced status code */
	int enh_subject;      /* 0..999 */
	int enh_detail;       /* 0..999 */
	size_t nlines;
	char *text;           /* owned; NUL-terminated; NULL when code is 0 */
};

/* An all-zero struct smtp_reply is a valid empty reply (code 0). */
void smtp_reply_init(struct smtp_reply *r);
/* Free the text and reset to empty.  Safe on an empty reply. */
void smtp_reply_free(struct smtp_reply *r);
/* Deep copy; dst is freed first.  Never fails (aborts on OOM). */
void smtp_reply_copy(struct smtp_reply *dst, const struct smtp_reply *src);
/* Move src into dst (dst freed first, src left empty). */
void smtp_reply_move(struct smtp_reply *dst, struct smtp_reply *src);

/* 2xx/3xx -> DELIVERED, 4xx -> TEMPORARY, 5xx -> PERMANENT;
 * code 0 (no reply) -> TEMPORARY. */
enum smtp_outcome smtp_reply_outcome(const struct smtp_reply *r);
/* "delivered", "temporary", "permanent". */
const char *smtp_outcome_name(int outcome);

/* "5.7.1" into dst (at least 12 bytes), or "" when there is none. */
void smtp_reply_enh_text(const struct smtp_reply *r, char *dst, size_t dstsz);

/* One sanitised line for logs and people: "550 5.1.1 no such user\nline 2"
 * rendered as `550 5.1.1 no such user\nline 2` with control bytes escaped
 * (log_sanitize()), truncated to dstsz with "...".  "(no reply)" for code 0. */
void smtp_reply_format(const struct smtp_reply *r, char *dst, size_t dstsz);

/*
 * Incremental parser.  Feed it whatever bytes arrived; it takes bytes up to
 * the end of one complete reply and no further, so several pipelined
 * replies in one buffer come out one by one (call again with the rest).
 *
 * smtp_reply_feed(p, data, len, &used, out, e):
 *   returns 1: a complete reply is in *out (out is freed first; the caller
 *              owns the result) and *used bytes of data were taken: the
 *              rest belongs to the next reply, or is a protocol violation
 *              if nothing more was expected;
 *   returns 0: all len bytes were taken (*used == len), the reply is not
 *              complete yet: feed more;
 *   returns -1: the reply is malformed or over a bound; e says which
 *              (kind ERR_PROTOCOL); the parser must not be fed again
 *              before smtp_reply_parser_reset().
 * The parser owns a bounded line buffer; free it with smtp_reply_parser_free.
 */
struct smtp_reply_parser {
	struct buf line;      /* the line being received */
	struct buf text;      /* joined text of the lines received so far */
	int code;             /* of the first line; 0 before it */
	size_t nlines;
	int enh_class, enh_subject, enh_detail;
	int failed;
};

void smtp_reply_parser_init(struct smtp_reply_parser *p);
void smtp_reply_parser_reset(struct smtp_reply_parser *p);
void smtp_reply_parser_free(struct smtp_reply_parser *p);
/* 1 when the parser holds part of a reply (bytes fed, reply not done). */
int smtp_reply_parser_busy(const struct smtp_reply_parser *p);
int smtp_reply_feed(struct smtp_reply_parser *p, const char *data, size_t len,
    size_t *used, struct smtp_reply *out, struct op_err *e);

/* Parse one whole buffer that must hold exactly one reply (tests, tools).
 * -1 with ERR_PROTOCOL if malformed, incomplete, or followed by more. */
int smtp_reply_parse(const char *data, size_t len, struct smtp_reply *out,
    struct op_err *e);

/* Parse an RFC 3463 code "C.SSS.DDD" at the start of s, followed by a space
 * or the end of s.  Returns the number of bytes it took (0: none there). */
size_t smtp_enh_parse(const char *s, size_t len, int *cls, int *subject,
    int *detail);

#endif
