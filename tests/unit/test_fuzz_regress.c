/*
 * test_fuzz_regress.c - what the fuzzers (tests/fuzz/) found, one test
 * each, so the fix stays (docs/security.md lists them).  The inputs are
 * also in the seed corpora, which `make fuzz-smoke` replays.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/conf_edit.h"
#include "smtp/server_data.h"
#include "util/buf.h"

/* Feed p[0..n) in pieces of `piece` bytes (0: one piece). */
static void
feed_data(const char *p, size_t n, size_t piece, size_t max,
    int *refusal, int *done, size_t *consumed)
{
	struct server_data d;
	size_t off = 0;

	server_data_begin(&d, max);
	*done = 0;
	while (off < n && !*done) {
		size_t chunk = piece == 0 || piece > n - off ? n - off : piece;

		off += server_data_feed(&d, p + off, chunk, done);
	}
	*refusal = d.refusal;
	*consumed = off;
	server_data_free(&d);
}

/*
 * fuzz_server_data: a body line longer than 1000 octets in a message
 * whose size limit is smaller than that line was refused as "line too
 * long" (554 5.6.0) when the line came in one read, and as "too big"
 * (552 5.3.4) when it came byte by byte: the client's reply depended on
 * TCP segmentation.  Now the same, however the input is cut.
 */
static void
test_server_data_refusal_does_not_depend_on_reads(void **state)
{
	struct buf in;
	size_t pieces[] = { 0, 1, 7, 999, 1000, 4096 };
	size_t i, consumed, consumed0 = 0;
	int refusal, done, refusal0 = -1;

	(void)state;
	buf_init(&in, 1 << 20);
	for (i = 0; i < 1265; i++)
		buf_append(&in, "x", 1, NULL);
	buf_appendstr(&in, "\r\nshort\r\n.\r\n", NULL);
	for (i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		feed_data(in.data, in.len, pieces[i], 80, &refusal, &done, &consumed);
		assert_true(done);
		assert_int_equal(consumed, in.len);
		if (i == 0) {
			refusal0 = refusal;
			consumed0 = consumed;
		}
		assert_int_equal(refusal, refusal0);
		assert_int_equal(consumed, consumed0);
	}
	/* 80 bytes fit in neither: the size limit is reached first */
	assert_int_equal(refusal0, SERVER_DATA_TOO_BIG);

	/* With room for the message, the long line is what refuses it. */
	for (i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		feed_data(in.data, in.len, pieces[i], 1 << 20, &refusal, &done,
		    &consumed);
		assert_true(done);
		assert_int_equal(refusal, SERVER_DATA_LINE_TOO_LONG);
	}
	buf_free(&in);
}

/*
 * fuzz_conf_edit: a NUL byte in outpost.conf cut its line at the NUL; the
 * editor then wrote the rest of the line away and the loader (which
 * refuses the NUL line) would read a different line after a save.  Now
 * the editor refuses such a file, as the loader does.
 */
static void
test_conf_doc_refuses_nul(void **state)
{
	static const char text[] = "[server]\nhostname = a\0b\nhttp_listen = \n";
	struct conf_doc *d = NULL;
	struct op_err e;

	(void)state;
	assert_int_equal(conf_doc_parse(text, sizeof(text) - 1, &d, &e), -1);
	assert_null(d);
	assert_int_equal(e.kind, ERR_CONFIG);
	assert_non_null(strstr(e.msg, "NUL"));
	/* the same text without the NUL is fine */
	assert_int_equal(conf_doc_parse("[server]\nhostname = ab\n", 23, &d, &e), 0);
	conf_doc_free(d);
	/* an empty document still is */
	assert_int_equal(conf_doc_parse(NULL, 0, &d, &e), 0);
	conf_doc_free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_data_refusal_does_not_depend_on_reads),
		cmocka_unit_test(test_conf_doc_refuses_nul),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
