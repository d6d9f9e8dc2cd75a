/*
 * data.c - CRLF normalisation and dot-stuffing for the DATA body (data.h).
 */
#include "smtp/data.h"

#include <string.h>

void
smtp_data_init(struct smtp_data_enc *d)
{
	d->bol = 1;
	d->cr = 0;
}

int
smtp_data_feed(struct smtp_data_enc *d, const void *in, size_t n,
    struct buf *out, struct op_err *e)
{
	const unsigned char *p = in;
	size_t i, start;

	/* Reserve the worst case once, then copy runs of ordinary bytes. */
	if (out->len + SMTP_DATA_OUT_MAX(n) > out->max)
		return err_set(e, ERR_DATA, "message body chunk does not fit the output buffer");
	i = start = 0;
	while (i < n) {
		unsigned char c = p[i];

		if (d->cr) {
			/* The CR before this byte ends a line either way:
			 * CRLF stays CRLF, a bare CR becomes CRLF. */
			d->cr = 0;
			d->bol = 1;
			if (buf_append(out, "\r\n", 2, e) < 0)
				return -1;
			if (c == '\n') {
				start = ++i;
				continue;
			}
		}
		if (c == '\r' || c == '\n') {
			if (buf_append(out, p + start, i - start, e) < 0)
				return -1;
			if (c == '\r') {
				d->cr = 1;
			} else {
				if (buf_append(out, "\r\n", 2, e) < 0)
					return -1;
				d->bol = 1;
			}
			start = ++i;
			continue;
		}
		if (d->bol && c == '.') {
			/* RFC 5321 4.5.2: double a leading dot. */
			if (buf_append(out, p + start, i - start, e) < 0 ||
			    buf_append(out, ".", 1, e) < 0)
				return -1;
			start = i;
		}
		d->bol = 0;
		i++;
	}
	return buf_append(out, p + start, i - start, e);
}

int
smtp_data_finish(struct smtp_data_enc *d, struct buf *out, struct op_err *e)
{
	if (d->cr || !d->bol) {
		if (buf_append(out, "\r\n", 2, e) < 0)
			return -1;
	}
	d->cr = 0;
	d->bol = 1;
	return buf_append(out, ".\r\n", 3, e);
}

int
smtp_data_has_8bit(const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] >= 0x80)
			return 1;
	return 0;
}

int
smtp_data_check_nul(const void *p, size_t n, struct op_err *e)
{
	const char *s = p, *nul, *q, *nl;
	unsigned long line = 1;
	int header = 1;

	if (n == 0 || (nul = memchr(s, '\0', n)) == NULL)
		return 0;
	/* Count the lines before it; the first empty one ends the header. */
	for (q = s; q < nul && (nl = memchr(q, '\n', (size_t)(nul - q))) != NULL;
	    q = nl + 1) {
		if (header && (nl == q || (nl == q + 1 && *q == '\r')))
			header = 0;
		line++;
	}
	return err_set(e, ERR_DATA, "a NUL byte in the %s, line %lu; mail cannot "
	    "carry NUL bytes (RFC 2045 section 2.8): remove it, or send binary "
	    "data as a base64 attachment", header ? "header" : "body", line);
}
