/*
 * server_data.h - the DATA phase of the SMTP listener: finds the end of the
 * message and builds the stored body.  Used by server.c; the rules
 * (normalisation of bare LF/CR, end only at <CRLF>.<CRLF>, dot-unstuffing,
 * text line and size limits) are written down in server.h.
 *
 * A struct server_data is a value the session embeds; it owns its body
 * buffer (allocated at the first stored byte, freed by server_data_free or
 * taken with server_data_take).  Feeding never fails: a line or size over
 * its limit only marks the message as refused and stops storing.
 */
#ifndef OUTPOST_SMTP_SERVER_DATA_H
#define OUTPOST_SMTP_SERVER_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

enum server_data_refusal {
	SERVER_DATA_OK = 0,
	SERVER_DATA_TOO_BIG = 1,        /* body over max_size: 552 5.3.4 */
	SERVER_DATA_LINE_TOO_LONG = 2,  /* a line over SERVER_TEXT_LINE_MAX */
};

struct server_data {
	struct buf body;        /* the stored body, max = max_size */
	size_t line_len;        /* octets of the current line (unstuffed) */
	uint64_t received;      /* octets received, terminator included */
	int refusal;            /* enum server_data_refusal, first one wins */
	unsigned cr : 1;        /* the last byte was a CR, its LF not yet seen */
	unsigned bol : 1;       /* at the beginning of a line */
	unsigned dot : 1;       /* the line so far is a single "." */
	unsigned prev_crlf : 1; /* the previous line ended with a real CRLF */
};

/* Start a message of at most max_size stored octets (no allocation). */
void server_data_begin(struct server_data *d, size_t max_size);

/* Consume up to n bytes; stops right after the <CRLF>.<CRLF> that ends the
 * message and sets *done to 1 (else 0).  Returns the bytes consumed. */
size_t server_data_feed(struct server_data *d, const void *data, size_t n,
    int *done);

/* Hand the body to the caller (free() it); the buffer is emptied. */
char *server_data_take(struct server_data *d, size_t *len);

void server_data_free(struct server_data *d);

#endif
