/*
 * server_data.c - the DATA phase: end of message, normalisation, unstuffing.
 *
 * The input is cut into lines at CRLF, at a bare LF and at a bare CR (a CR
 * whose next byte is not LF; the decision waits for that byte, so any
 * split of the input gives the same result).  Each line is stored with a
 * CRLF.  The message ends only at a line that is exactly "." ended by a
 * real CRLF, when the line before it also ended with a real CRLF (or it is
 * the first line): the bytes <CRLF>.<CRLF>.  Every other "." line is body.
 */
#include "smtp/server_data.h"

#include <stdlib.h>
#include <string.h>

#include "smtp/server.h"

/* The longest line content: the limit less its CRLF. */
#define DATA_LINE_CONTENT_MAX (SERVER_TEXT_LINE_MAX - 2)

void
server_data_begin(struct server_data *d, size_t max_size)
{
	memset(d, 0, sizeof(*d));
	buf_init(&d->body, max_size);
	d->bol = 1;
	d->prev_crlf = 1;       /* the CRLF of the DATA command line */
}

static void
refuse(struct server_data *d, int why)
{
	if (d->refusal == SERVER_DATA_OK)
		d->refusal = why;
	buf_free(&d->body);     /* nothing more is stored: drop what we had */
}

static void
store(struct server_data *d, const void *p, size_t n)
{
	if (d->refusal != SERVER_DATA_OK)
		return;
	if (n > d->body.max - d->body.len) {
		refuse(d, SERVER_DATA_TOO_BIG);
		return;
	}
	/* Cannot fail: the bound was checked above. */
	(void)buf_append(&d->body, p, n, NULL);
}

/* Line content (not the terminator).  As if fed byte by byte, so that
 * the refusal does not depend on how reads cut the input: what still fits
 * in the line is stored (and counts against the size limit) before the
 * line is found too long. */
static void
store_text(struct server_data *d, const void *p, size_t n)
{
	size_t room = d->line_len < DATA_LINE_CONTENT_MAX ?
	    DATA_LINE_CONTENT_MAX - d->line_len : 0;

	d->line_len += n;
	if (n > room) {
		store(d, p, room);
		refuse(d, SERVER_DATA_LINE_TOO_LONG);
		return;
	}
	store(d, p, n);
}

/* The current line ended (crlf: with a real CRLF).  Returns 1 if it was the
 * end-of-data line. */
static int
end_line(struct server_data *d, int crlf)
{
	if (d->dot) {
		if (crlf && d->prev_crlf)
			return 1;
		store_text(d, ".", 1);  /* a lone "." that is not the end */
		d->dot = 0;
	}
	store(d, "\r\n", 2);
	d->prev_crlf = crlf ? 1 : 0;
	d->bol = 1;
	d->line_len = 0;
	return 0;
}

size_t
server_data_feed(struct server_data *d, const void *data, size_t n, int *done)
{
	const unsigned char *p = data;
	size_t i = 0, j;

	*done = 0;
	while (i < n) {
		unsigned char c = p[i];

		if (d->cr) {
			d->cr = 0;
			if (c == '\n') {
				i++;
				if (end_line(d, 1)) {
					*done = 1;
					break;
				}
				continue;
			}
			/* A bare CR ends the line; c begins the next one. */
			end_line(d, 0);
			continue;
		}
		if (c == '\r') {
			d->cr = 1;
			i++;
			continue;
		}
		if (c == '\n') {
			end_line(d, 0);     /* a bare LF */
			i++;
			continue;
		}
		if (d->bol) {
			d->bol = 0;
			if (c == '.') {
				/* Decided by what follows: end of data, a lone
				 * ".", or a stuffed dot to remove. */
				d->dot = 1;
				i++;
				continue;
			}
		}
		/* More text after a leading dot: RFC 5321 section 4.5.2
		 * transparency, the dot is deleted. */
		d->dot = 0;
		for (j = i; j < n && p[j] != '\r' && p[j] != '\n'; j++)
			;
		store_text(d, p + i, j - i);
		i = j;
	}
	d->received += i;
	return i;
}

char *
server_data_take(struct server_data *d, size_t *len)
{
	return buf_detach(&d->body, len);
}

void
server_data_free(struct server_data *d)
{
	buf_free(&d->body);
}
