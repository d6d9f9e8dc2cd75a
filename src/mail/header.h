/*
 * header.h - reading the header section of a message handed to Outpost
 * (`sendmail -t`): fields, their unfolded values, address lists, and a
 * copy of the message without its Bcc fields.
 *
 * The header section (RFC 5322 section 2.2) runs from the start of the
 * message to the first empty line.  As sendmail and Postfix do, a first
 * line "From sender date" (a Unix mailbox envelope line) is not a field and
 * is dropped, and a line that is neither a field nor a continuation line
 * ends the header section: the body starts there (hdr_remove() then puts
 * the missing empty line back).  Lines may end with LF or CRLF; a CR that
 * is not followed by LF, or a NUL, is refused.
 *
 * Memory: struct hdr_block owns its fields and their strings; release it
 * with hdr_block_free().  Offsets refer to the message the block was parsed
 * from; the caller keeps that message alive while it uses them.
 */
#ifndef OUTPOST_MAIL_HEADER_H
#define OUTPOST_MAIL_HEADER_H

#include <stddef.h>

#include "mail/addr.h"
#include "mail/encode.h"
#include "util/buf.h"
#include "util/err.h"

#define HDR_LINE_MAX ENC_LINE_MAX       /* RFC 5322 section 2.1.1: 998 */
#define HDR_BLOCK_MAX (1024 * 1024)     /* the whole header section */
#define HDR_COUNT_MAX 1000              /* fields in a header section */
#define HDR_COMMENT_DEPTH 32            /* nested comments, RFC 5322 3.2.2 */

struct hdr_field {
	char *name;            /* as written, without the colon */
	char *value;           /* unfolded (line ends removed), surrounding
	                        * whitespace trimmed; raw octets otherwise */
	size_t off;            /* where the field starts in the message */
	size_t len;            /* its octets, continuation lines and the
	                        * final line end included */
};

struct hdr_block {
	struct hdr_field *v;   /* in message order */
	size_t n;
	size_t skip;           /* octets of a leading "From " line, or 0 */
	size_t end;            /* offset just past the last field */
	size_t body;           /* offset of the body (past the empty line if
	                        * there was one); the message length if none */
	int blank;             /* 1 if an empty line ended the header */
	int crlf;              /* 1 if the first line ended with CRLF */
};

/*
 * Parse the header section of msg[0..len).  Errors (ERR_DATA): a header
 * line longer than 998 octets, a header section over HDR_BLOCK_MAX, more
 * than HDR_COUNT_MAX fields, a bare CR or a NUL in the header section.
 */
int hdr_parse(const char *msg, size_t len, struct hdr_block *out,
    struct op_err *e);
void hdr_block_free(struct hdr_block *b);

/* The value of the first field called name (ignoring case), or NULL. */
const char *hdr_get(const struct hdr_block *b, const char *name);
/* How many fields are called name (ignoring case). */
size_t hdr_count(const struct hdr_block *b, const char *name);
/* 1 if there is a field called name: sendmail adds a missing Date,
 * Message-ID and From. */
int hdr_has(const struct hdr_block *b, const char *name);

/*
 * Parse an RFC 5322 address-list (section 3.4) and append each mailbox to
 * out (skipping duplicates): "a@b", "Name <a@b>", "\"Quoted, Name\" <a@b>",
 * comments "(x)", groups "team: a@b, c@d;" and "undisclosed-recipients:;",
 * empty list elements (obs-addr-list).  Every address must pass
 * addr_parse_mailbox(); route addresses are refused.
 * Errors: ERR_DATA naming what is wrong; out keeps what was added before.
 */
int hdr_parse_addr_list(const char *value, struct addr_list *out,
    struct op_err *e);

/* The recipients of every To, Cc and Bcc field, in message order, without
 * duplicates.  Errors: ERR_DATA naming the field. */
int hdr_recipients(const struct hdr_block *b, struct addr_list *out,
    struct op_err *e);

/* The same, except that an address without '@' (a bare local name such as
 * "root", cron's "To: root") is handed to local(arg, name, out, e), which
 * adds what it stands for to out or fails with e.  local NULL: as
 * hdr_recipients(). */
typedef int (*hdr_local_fn)(void *arg, const char *name, struct addr_list *out,
    struct op_err *e);
int hdr_recipients_local(const struct hdr_block *b, hdr_local_fn local,
    void *arg, struct addr_list *out, struct op_err *e);

/*
 * Append to out a copy of msg without the fields whose names are in
 * names[] (NULL-terminated, ignoring case), each removed with its
 * continuation lines; without the leading "From " line; everything else,
 * the body included, octet for octet.  If no empty line separated header
 * and body, one is written (in the message's line-end style).
 */
int hdr_remove(const char *msg, size_t len, const struct hdr_block *b,
    const char *const *names, struct buf *out, struct op_err *e);

/* hdr_remove() of "Bcc" and "Resent-Bcc": what `sendmail -t` sends. */
int hdr_strip_bcc(const char *msg, size_t len, const struct hdr_block *b,
    struct buf *out, struct op_err *e);

#endif
