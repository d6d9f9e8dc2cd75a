/*
 * data.h - the DATA body on the wire: CRLF line ends and dot-stuffing,
 * streamed, never the whole body in memory.  What Outpost sends upstream
 * has only CRLF line ends and correct dot-stuffing, whatever the stored
 * body held (docs/security.md, "Message ends").
 *
 * Feed stored body bytes in chunks of any size; the encoder keeps the two
 * bits of state that cross chunk boundaries (a CR not yet known to be bare,
 * and "at the start of a line").  Rules (RFC 5321 2.3.8, 4.5.2):
 *   CRLF           -> CRLF
 *   bare LF        -> CRLF
 *   bare CR        -> CRLF
 *   "." at the start of a line -> ".."
 * smtp_data_finish() ends the last line if the body did not (CRLF) and
 * appends the end-of-data ".\r\n", so the wire carries CRLF.CRLF exactly
 * once, at the end.  NUL bytes pass unchanged (they cannot end the
 * message), but no door stores one: see smtp_data_check_nul().
 *
 * Output goes to a caller-owned bounded struct buf; a feed of n bytes adds
 * at most SMTP_DATA_OUT_MAX(n) bytes, finish at most 5.  The only error is
 * the buffer's bound (ERR_DATA); the encoder state is then unspecified.
 */
#ifndef OUTPOST_SMTP_DATA_H
#define OUTPOST_SMTP_DATA_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

/* Worst case growth: every byte doubles ("\n" -> "\r\n", "." -> ".."),
 * plus a CRLF for a CR held from the previous chunk. */
#define SMTP_DATA_OUT_MAX(n) (2 * (n) + 2)

struct smtp_data_enc {
	int bol;        /* at the beginning of a line */
	int cr;         /* a CR was seen and its LF not yet */
};

void smtp_data_init(struct smtp_data_enc *d);
int smtp_data_feed(struct smtp_data_enc *d, const void *in, size_t n,
    struct buf *out, struct op_err *e);
int smtp_data_finish(struct smtp_data_enc *d, struct buf *out,
    struct op_err *e);

/*
 * The one rule on NUL bytes, applied by every door to the message it is
 * about to store: the listener at the end of DATA (554 5.6.0), `outpost
 * sendmail` (exit 65); composed messages (`outpost send`, POST
 * /api/messages) never hold one, as text is quoted-printable and
 * attachments base64.  A NUL anywhere, header or body, is refused: neither
 * 7bit nor 8bit data may carry one (RFC 2045 sections 2.7 and 2.8), and
 * Outpost does not offer BINARYMIME.  Returns 0, or -1 with ERR_DATA and a
 * sentence naming where the first NUL is ("a NUL byte in the header,
 * line 2; ...") and the fix.  p may be NULL when n is 0.
 */
int smtp_data_check_nul(const void *p, size_t n, struct op_err *e);

/* 1 if p[0..n) has a byte >= 0x80 (then BODY=8BITMIME is wanted). */
int smtp_data_has_8bit(const void *p, size_t n);

#endif
