/*
 * mime.h - composing a complete message (RFC 5322 + MIME, RFC 2045-2049)
 * from its parts: what `outpost send`, POST /api/messages and test emails
 * hand to the queue.
 *
 * The message written:
 *   Date, From, To (or "To: undisclosed-recipients:;"), Cc, Reply-To,
 *   Subject,
 *   Message-ID (<32 random hex digits@domain>), the extra headers,
 *   MIME-Version: 1.0, then the content:
 *     text only            text/plain; charset=utf-8
 *     html only            text/html; charset=utf-8
 *     text and html        multipart/alternative (text, then html)
 *     any attachment       multipart/mixed: the body part (one of the
 *                          above, if any), then each attachment in base64
 *                          with Content-Disposition: attachment
 *   A text part is 7bit when it is ASCII without NUL or bare CR and no line
 *   is longer than 998 octets, else quoted-printable.  Boundaries are
 *   random and checked against every encoded part.  Every line ends with
 *   CRLF and none is longer than 998 characters; header lines are folded
 *   at 78 where a fold point exists.
 *
 * Bcc recipients are envelope only: struct mime_msg has no field for them,
 * so they can never reach a header.
 *
 * Header injection: no input can start a new header field.  CR or LF in an
 * address, display name, subject, extra header name or value, filename or
 * content type is ERR_DATA (refused, not encoded away).
 *
 * Memory: the message struct and everything it points to belong to the
 * caller and are only read.  Output is appended to the caller's struct buf,
 * whose max bounds the message size (ERR_DATA past it); on failure the
 * buffer holds a partial message and must be discarded.
 */
#ifndef OUTPOST_MAIL_MIME_H
#define OUTPOST_MAIL_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "mail/addr.h"
#include "util/buf.h"
#include "util/err.h"

#define MIME_ADDRS_MAX 1000        /* To + Cc addresses in the headers */
#define MIME_ATTACH_MAX 100        /* attachments in one message */
#define MIME_HEADERS_MAX 100       /* extra header fields */
#define MIME_NAME_MAX 256          /* a display name, octets */
#define MIME_SUBJECT_MAX 4096      /* the subject, octets (it is folded) */
#define MIME_HEADER_VALUE_MAX 4096 /* an extra header's value, octets */
#define MIME_FILENAME_MAX 255      /* an attachment's file name, octets */
#define MIME_CTYPE_MAX 256         /* a content type given by the caller */
#define MIME_MSGID_MAX (ADDR_DOMAIN_MAX + 40) /* "<hex@domain>" + NUL */

struct mime_addr {
	const char *addr;          /* "user@example.org" (required) */
	const char *name;          /* display name, UTF-8; NULL or "" if none */
};

struct mime_attachment {
	const char *filename;      /* base name, UTF-8, no '/' or '\'; NULL: none */
	const char *content_type;  /* NULL: mime_detect_type() decides */
	const void *data;
	size_t len;
};

struct mime_header {
	const char *name;          /* "Reply-To", "List-Unsubscribe", "X-..." */
	const char *value;         /* UTF-8; non-ASCII is RFC 2047-encoded */
};

struct mime_msg {
	struct mime_addr from;
	const struct mime_addr *to;
	size_t nto;
	const struct mime_addr *cc;
	size_t ncc;
	const struct mime_addr *reply_to; /* Reply-To; none if nreply_to is 0 */
	size_t nreply_to;
	const char *subject;       /* NULL: no Subject field */
	const char *text;          /* UTF-8 text body, NULL: none */
	size_t text_len;
	const char *html;          /* UTF-8 HTML body, NULL: none */
	size_t html_len;
	const struct mime_attachment *att;
	size_t natt;
	const struct mime_header *headers;
	size_t nheaders;
	const char *msgid_domain;  /* NULL: the From domain ("localhost" if
	                            * that is not ASCII) */
	int64_t date;              /* seconds since the epoch, for Date: */
};

struct mime_info {
	char message_id[MIME_MSGID_MAX]; /* with its angle brackets */
	int smtputf8;              /* an address is non-ASCII (RFC 6531/6532) */
};

/*
 * Compose m into out.  info (may be NULL) receives the Message-ID and
 * whether the message needs SMTPUTF8.
 * Errors: ERR_DATA for any invalid input (the message names the field and
 * the fix), or output past out->max; ERR_OSERR when no random bytes.
 */
int mime_compose(const struct mime_msg *m, struct buf *out,
    struct mime_info *info, struct op_err *e);

/*
 * The Content-Type for an attachment: by the file name's extension (txt,
 * htm(l), csv, pdf, png, jpg/jpeg, gif, svg, zip, json, xml, ics, doc(x),
 * xls(x), ppt(x), gz/tgz, tar); text types only when the data is text
 * (well-formed UTF-8 without NUL or control characters other than HT, LF,
 * CR, FF), with "; charset=utf-8"; an unknown extension gives text/plain for
 * non-empty text and application/octet-stream otherwise.  Returns a static
 * string.  filename may be NULL.
 */
const char *mime_detect_type(const char *filename, const void *data,
    size_t len);

/* A new Message-ID "<32 hex digits@domain>" into dst.  Errors: ERR_DATA
 * for a domain that is not an ASCII host name or address literal or a
 * dst too small, ERR_OSERR when no random bytes. */
int mime_message_id(const char *domain, char *dst, size_t dstsz,
    struct op_err *e);

/* Write one address field "Name: a, B <b>" (folded, display names quoted
 * or encoded as needed).  Every address passes addr_parse_mailbox(); if
 * smtputf8 is not NULL, it is set to 1 when an address needs SMTPUTF8.
 * For sendmail's added From (-f/-F) and redirect mode's X-Original-To.
 * Errors: ERR_DATA. */
int mime_write_addr_header(struct buf *out, const char *name,
    const struct mime_addr *v, size_t n, int *smtputf8, struct op_err *e);

/* Write one unstructured field "Name: text" (folded; RFC 2047-encoded
 * when not plain ASCII).  Errors: ERR_DATA (CR, LF, control characters,
 * invalid UTF-8, a bad field name). */
int mime_write_text_header(struct buf *out, const char *name,
    const char *value, struct op_err *e);

/* May a caller add a header called name?  Refused with ERR_DATA, naming
 * the right option: From, To, Cc, Bcc, Subject, Date, Message-ID (they
 * have their own fields or are set by Outpost), MIME-Version and Content-*
 * (Outpost writes the MIME structure), and invalid field names. */
int mime_header_allowed(const char *name, struct op_err *e);

#endif
