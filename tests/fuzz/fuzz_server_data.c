/*
 * fuzz_server_data.c - the listener's DATA state machine
 * (smtp/server_data.h), the heart of the SMTP smuggling defence.
 *
 * Input: a control byte (how to cut the input into reads, the size
 * limit), then the bytes a client sends after "354".  They are fed in one
 * piece, one byte at a time, and in chunks; every way must consume the
 * same number of bytes, end (or not) at the same place and store the same
 * body with the same refusal.  And:
 *   - the message ends only right after the bytes CR LF "." CR LF (or
 *     ".\r\n" as the very first line): no other end-of-data variant;
 *   - the stored body has CRLF line ends only, no line longer than 998
 *     octets, and is at most the size limit;
 *   - a refusal stores nothing;
 *   - the body equals a straightforward reference model: lines cut at
 *     CRLF, bare LF and bare CR, a leading dot removed from lines that
 *     have more after it.
 */
#include "fuzz.h"

#include "smtp/server.h"
#include "smtp/server_data.h"
#include "util/buf.h"

struct result {
	size_t consumed;
	int done;
	int refusal;
	char *body;
	size_t len;
};

static void
feed(const uint8_t *p, size_t n, size_t max, unsigned mode, struct result *r)
{
	struct server_data d;
	size_t off = 0;

	server_data_begin(&d, max);
	r->done = 0;
	while (off < n && !r->done) {
		size_t chunk = mode == 0 ? n - off : mode == 1 ? 1 :
		    1 + (off * 31 + mode) % mode;
		size_t used;

		if (chunk > n - off)
			chunk = n - off;
		used = server_data_feed(&d, p + off, chunk, &r->done);
		fuzz_assert(used <= chunk);
		fuzz_assert(r->done || used == chunk);
		off += used;
	}
	fuzz_assert(d.received == off);
	r->consumed = off;
	r->refusal = d.refusal;
	r->body = server_data_take(&d, &r->len);
	server_data_free(&d);
}

/* The reference: what the body must be for input p[0..n) that ends at
 * (and includes) the terminator when done. */
static void
model(const uint8_t *p, size_t n, int done, struct buf *out)
{
	size_t i = 0, start;

	if (done)
		n -= 3;  /* ".\r\n" of the terminator; the CRLF before it
			  * ended the last body line */
	while (i < n) {
		size_t end, next;

		start = i;
		while (i < n && p[i] != '\r' && p[i] != '\n')
			i++;
		end = i;
		if (i < n && p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
			next = i + 2;
		else if (i < n)
			next = i + 1;
		else
			next = i;
		if (i == n && !done)
			break;          /* an unfinished line: not stored yet */
		if (end - start >= 2 && p[start] == '.')
			start++;
		buf_append(out, p + start, end - start, NULL);
		buf_append(out, "\r\n", 2, NULL);
		i = next;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result a, b, c;
	unsigned ctl;
	size_t max, i, line;
	struct buf ref;

	if (size < 1 || size > 128 * 1024)
		return 0;
	ctl = data[0];
	data++;
	size--;
	max = (ctl & 0x80) ? 64 + (ctl & 0x7f) * 16 : 1024 * 1024;

	feed(data, size, max, 0, &a);
	feed(data, size, max, 1, &b);
	feed(data, size, max, 2 + (ctl & 0x3f), &c);
	fuzz_assert(a.consumed == b.consumed && a.consumed == c.consumed);
	fuzz_assert(a.done == b.done && a.done == c.done);
	fuzz_assert(a.refusal == b.refusal && a.refusal == c.refusal);
	fuzz_assert(a.len == b.len && a.len == c.len);
	fuzz_assert(fuzz_same(a.body, a.len, b.body, b.len));
	fuzz_assert(fuzz_same(a.body, a.len, c.body, c.len));

	if (a.done) {
		/* CRLF.CRLF, or ".\r\n" as the first line */
		fuzz_assert(a.consumed >= 3);
		fuzz_assert(memcmp(data + a.consumed - 3, ".\r\n", 3) == 0);
		fuzz_assert(a.consumed == 3 ||
		    (a.consumed >= 5 && data[a.consumed - 5] == '\r' &&
		    data[a.consumed - 4] == '\n'));
	} else {
		fuzz_assert(a.consumed == size);
	}
	if (a.refusal != SERVER_DATA_OK) {
		fuzz_assert(a.len == 0);
	} else {
		fuzz_assert(a.len <= max);
		for (i = 0, line = 0; i < a.len; i++) {
			if (a.body[i] == '\r') {
				fuzz_assert(i + 1 < a.len && a.body[i + 1] == '\n');
				fuzz_assert(line <= SERVER_TEXT_LINE_MAX - 2);
				line = 0;
				i++;
			} else {
				fuzz_assert(a.body[i] != '\n');
				line++;
			}
		}
		if (a.done) {
			fuzz_assert(line == 0);
			buf_init(&ref, FUZZ_BUF_MAX);
			model(data, a.consumed, 1, &ref);
			if (!fuzz_same(ref.data, ref.len, a.body, a.len))
				fuzz_fail("body differs from the model (%zu vs %zu bytes)",
				    a.len, ref.len);
			buf_free(&ref);
		}
	}
	free(a.body);
	free(b.body);
	free(c.body);
	return 0;
}
