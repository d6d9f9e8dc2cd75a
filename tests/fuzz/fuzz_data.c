/*
 * fuzz_data.c - the client's DATA encoder (smtp/data.h) against the
 * listener's DATA parser (smtp/server_data.h).
 *
 * docs/security.md: what Outpost sends upstream has only CRLF line ends
 * and correct dot-stuffing, whatever the stored body held.  The input is
 * a stored body (any bytes); it is encoded in chunks cut by the first
 * byte.  The wire must:
 *   - have CRLF line ends only (no bare CR or LF);
 *   - hold CR LF "." CR LF exactly once, at its very end (or be ".\r\n"
 *     alone for an empty body): no premature end of data;
 *   - decode, through the listener's parser, to the stored body with its
 *     line ends made CRLF and a final line end added.
 * The encoder output must not depend on how the body was cut.
 */
#include "fuzz.h"

#include "smtp/data.h"
#include "smtp/server.h"
#include "smtp/server_data.h"
#include "util/buf.h"

static void
encode(const uint8_t *p, size_t n, unsigned cut, struct buf *out)
{
	struct smtp_data_enc d;
	size_t off = 0;

	smtp_data_init(&d);
	while (off < n) {
		size_t chunk = cut == 0 ? n - off : 1 + (off + cut) % cut;
		size_t before = out->len;

		if (chunk > n - off)
			chunk = n - off;
		fuzz_assert(smtp_data_feed(&d, p + off, chunk, out, NULL) == 0);
		fuzz_assert(out->len - before <= SMTP_DATA_OUT_MAX(chunk));
		off += chunk;
	}
	fuzz_assert(smtp_data_finish(&d, out, NULL) == 0);
}

/* The body with CRLF line ends and a final one. */
static void
normalise(const uint8_t *p, size_t n, struct buf *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\r') {
			buf_append(out, "\r\n", 2, NULL);
			if (i + 1 < n && p[i + 1] == '\n')
				i++;
		} else if (p[i] == '\n') {
			buf_append(out, "\r\n", 2, NULL);
		} else {
			buf_append(out, p + i, 1, NULL);
		}
	}
	if (out->len > 0 && !(out->len >= 2 && out->data[out->len - 1] == '\n'))
		buf_append(out, "\r\n", 2, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf w1, w2, norm;
	struct server_data sd;
	unsigned cut;
	size_t i, used, line, maxline = 0;
	int done;
	char *body;
	size_t blen;

	if (size < 1 || size > 128 * 1024)
		return 0;
	cut = data[0];
	data++;
	size--;
	buf_init(&w1, FUZZ_BUF_MAX);
	buf_init(&w2, FUZZ_BUF_MAX);
	buf_init(&norm, FUZZ_BUF_MAX);
	encode(data, size, 0, &w1);
	encode(data, size, cut, &w2);
	fuzz_assert(fuzz_same(w1.data, w1.len, w2.data, w2.len));

	/* CRLF only; "\r\n.\r\n" only at the end */
	for (i = 0, line = 0; i < w1.len; i++) {
		if (w1.data[i] == '\r') {
			fuzz_assert(i + 1 < w1.len && w1.data[i + 1] == '\n');
			if (line > maxline)
				maxline = line;
			line = 0;
			i++;
			continue;
		}
		fuzz_assert(w1.data[i] != '\n');
		line++;
	}
	fuzz_assert(line == 0);
	fuzz_assert(w1.len >= 3 && memcmp(w1.data + w1.len - 3, ".\r\n", 3) == 0);
	fuzz_assert(w1.len == 3 || memcmp(w1.data + w1.len - 5, "\r\n.\r\n", 5) == 0);
	if (w1.len > 5) {
		const char *hit = memmem(w1.data, w1.len - 3, "\r\n.\r\n", 5);

		fuzz_assert(hit == NULL);
		fuzz_assert(memcmp(w1.data, ".\r\n", 3) != 0);
	}

	/* The listener reads back exactly the stored body, normalised. */
	normalise(data, size, &norm);
	server_data_begin(&sd, 4 * size + 16);
	used = server_data_feed(&sd, w1.data, w1.len, &done);
	fuzz_assert(done && used == w1.len);
	if (sd.refusal == SERVER_DATA_OK) {
		body = server_data_take(&sd, &blen);
		if (!fuzz_same(body, blen, norm.data, norm.len))
			fuzz_fail("round trip differs: %zu vs %zu bytes", blen, norm.len);
		free(body);
	} else {
		/* only a long line may make the listener refuse */
		fuzz_assert(sd.refusal == SERVER_DATA_LINE_TOO_LONG);
		fuzz_assert(maxline > SERVER_TEXT_LINE_MAX - 2);
	}
	server_data_free(&sd);
	buf_free(&w1);
	buf_free(&w2);
	buf_free(&norm);
	return 0;
}
