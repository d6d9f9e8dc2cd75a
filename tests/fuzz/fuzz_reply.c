/*
 * fuzz_reply.c - the SMTP reply parser (smtp/reply.h).
 *
 * The input (after one control byte) is a stream of server bytes.  It is
 * parsed as a sequence of replies twice: in one piece, and cut into
 * chunks whose sizes come from the control byte.  Both runs must give the
 * same replies and fail (or stop incomplete) at the same place: the
 * parser is incremental and must not depend on how reads split a reply.
 * Each reply must keep the header's promises: code 200..599, the same on
 * every line; 1..SMTP_REPLY_LINES_MAX lines; at most SMTP_REPLY_TEXT_MAX
 * bytes of text, without NUL; an enhanced code only when its class is
 * the code's; smtp_reply_format() gives printable ASCII only.
 */
#include "fuzz.h"

#include "smtp/reply.h"
#include "util/buf.h"

/* Parse data[0..n) cut in chunks; append a description of every reply and
 * the end state to rec. */
static void
run(const char *data, size_t n, unsigned seed, struct buf *rec)
{
	struct smtp_reply_parser p;
	struct smtp_reply r;
	struct op_err e;
	size_t off = 0, used;
	int rc = 0;

	smtp_reply_parser_init(&p);
	smtp_reply_init(&r);
	while (off < n) {
		size_t chunk = seed == 0 ? n - off : 1 + (seed + off) % (seed % 17 + 1);
		size_t pos = 0;

		if (chunk > n - off)
			chunk = n - off;
		while (pos < chunk) {
			rc = smtp_reply_feed(&p, data + off + pos, chunk - pos,
			    &used, &r, &e);
			if (rc < 0) {
				fuzz_assert(e.kind == ERR_PROTOCOL);
				buf_appendstr(rec, "fail\n", NULL);
				goto out;
			}
			fuzz_assert(used <= chunk - pos);
			pos += used;
			if (rc == 1) {
				char enh[16], fmt[256];
				size_t tl = strlen(r.text);
				const char *c;

				fuzz_assert(r.code >= 200 && r.code <= 599);
				fuzz_assert(r.nlines >= 1 && r.nlines <= SMTP_REPLY_LINES_MAX);
				fuzz_assert(tl <= SMTP_REPLY_TEXT_MAX);
				fuzz_assert(r.enh_class == 0 || r.enh_class == r.code / 100);
				smtp_reply_enh_text(&r, enh, sizeof(enh));
				smtp_reply_format(&r, fmt, sizeof(fmt));
				fuzz_assert(strlen(fmt) < sizeof(fmt));
				for (c = fmt; *c != '\0'; c++)
					fuzz_assert(*c >= 0x20 && *c < 0x7f);
				fuzz_assert(smtp_reply_outcome(&r) ==
				    (r.code < 400 ? SMTP_DELIVERED : r.code < 500 ?
				    SMTP_TEMPORARY : SMTP_PERMANENT));
				buf_printf(rec, NULL, "%d %s %zu %zu:", r.code, enh,
				    r.nlines, tl);
				buf_append(rec, r.text, tl, NULL);
				buf_appendstr(rec, "\n", NULL);
				fuzz_assert(!smtp_reply_parser_busy(&p));
			} else {
				fuzz_assert(pos == chunk);
			}
		}
		off += chunk;
	}
	buf_printf(rec, NULL, "end busy=%d\n", smtp_reply_parser_busy(&p));
out:
	smtp_reply_free(&r);
	smtp_reply_parser_free(&p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf whole, split;
	struct smtp_reply r;
	unsigned seed;
	int cls, subj, det;

	if (size < 1 || size > 256 * 1024)
		return 0;
	seed = data[0];
	data++;
	size--;
	buf_init(&whole, FUZZ_BUF_MAX);
	buf_init(&split, FUZZ_BUF_MAX);
	run((const char *)data, size, 0, &whole);
	run((const char *)data, size, seed | 1, &split);
	if (!fuzz_same(whole.data, whole.len, split.data, split.len))
		fuzz_fail("split parse differs:\n--- whole\n%s--- split\n%s",
		    whole.data, split.data);
	buf_free(&whole);
	buf_free(&split);

	/* The one-shot parser and the enhanced-code parser. */
	smtp_reply_init(&r);
	if (smtp_reply_parse((const char *)data, size, &r, NULL) == 0)
		fuzz_assert(r.code >= 200 && r.code <= 599 && r.text != NULL);
	smtp_reply_free(&r);
	if (smtp_enh_parse((const char *)data, size, &cls, &subj, &det) > 0)
		fuzz_assert(cls >= 2 && cls <= 5 && subj >= 0 && subj <= 999 &&
		    det >= 0 && det <= 999);
	return 0;
}
