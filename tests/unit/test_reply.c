/*
 * test_reply.c - the SMTP reply parser: multi-line replies, enhanced
 * status codes, strictness, bounds, and replies split at every byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/reply.h"
#include "util/buf.h"

static int
parse(const char *s, struct smtp_reply *r)
{
	return smtp_reply_parse(s, strlen(s), r, NULL);
}

static void
test_single_line(void **state)
{
	struct smtp_reply r;

	(void)state;
	smtp_reply_init(&r);
	assert_int_equal(parse("250 OK\r\n", &r), 0);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.text, "OK");
	assert_int_equal(r.nlines, 1);
	assert_int_equal(r.enh_class, 0);
	assert_int_equal(smtp_reply_outcome(&r), SMTP_DELIVERED);
	smtp_reply_free(&r);
	assert_null(r.text);
}

static void
test_bare_code_and_lf(void **state)
{
	struct smtp_reply r;

	(void)state;
	smtp_reply_init(&r);
	assert_int_equal(parse("250\r\n", &r), 0);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.text, "");
	/* bare LF line ends are accepted */
	assert_int_equal(parse("221 bye\n", &r), 0);
	assert_int_equal(r.code, 221);
	assert_string_equal(r.text, "bye");
	smtp_reply_free(&r);
}

static void
test_multi_line(void **state)
{
	struct smtp_reply r;
	const char *ehlo = "250-mx.example.com Hello\r\n"
	    "250-PIPELINING\r\n250-SIZE 10240000\r\n250 AUTH PLAIN LOGIN\r\n";

	(void)state;
	smtp_reply_init(&r);
	assert_int_equal(parse(ehlo, &r), 0);
	assert_int_equal(r.code, 250);
	assert_int_equal(r.nlines, 4);
	assert_string_equal(r.text, "mx.example.com Hello\nPIPELINING\nSIZE 10240000\nAUTH PLAIN LOGIN");
	smtp_reply_free(&r);
}

static void
test_enhanced(void **state)
{
	struct smtp_reply r;
	char enh[16], line[128];

	(void)state;
	smtp_reply_init(&r);
	assert_int_equal(parse("550 5.1.1 <x@y>: Recipient address rejected\r\n", &r), 0);
	assert_int_equal(r.enh_class, 5);
	assert_int_equal(r.enh_subject, 1);
	assert_int_equal(r.enh_detail, 1);
	assert_int_equal(smtp_reply_outcome(&r), SMTP_PERMANENT);
	smtp_reply_enh_text(&r, enh, sizeof(enh));
	assert_string_equal(enh, "5.1.1");
	assert_string_equal(r.text, "5.1.1 <x@y>: Recipient address rejected");
	smtp_reply_format(&r, line, sizeof(line));
	assert_string_equal(line, "550 5.1.1 <x@y>: Recipient address rejected");

	assert_int_equal(parse("451-4.7.100 greylisted\r\n451 4.7.100 try later\r\n", &r), 0);
	assert_int_equal(r.enh_class, 4);
	assert_int_equal(r.enh_subject, 7);
	assert_int_equal(r.enh_detail, 100);
	assert_int_equal(smtp_reply_outcome(&r), SMTP_TEMPORARY);

	/* class must agree with the code */
	assert_int_equal(parse("550 2.0.0 odd\r\n", &r), 0);
	assert_int_equal(r.enh_class, 0);
	/* not an enhanced code: no space after, too many digits, bad class */
	assert_int_equal(parse("250 2.0.0ok\r\n", &r), 0);
	assert_int_equal(r.enh_class, 0);
	assert_int_equal(parse("250 2.0000.0 x\r\n", &r), 0);
	assert_int_equal(r.enh_class, 0);
	assert_int_equal(parse("250 3.0.0 x\r\n", &r), 0);
	assert_int_equal(r.enh_class, 0);
	assert_int_equal(parse("250 2.1\r\n", &r), 0);
	assert_int_equal(r.enh_class, 0);
	/* code at the very end */
	assert_int_equal(parse("250 2.0.0\r\n", &r), 0);
	assert_int_equal(r.enh_class, 2);
	assert_int_equal(parse("250 2.999.999 max\r\n", &r), 0);
	assert_int_equal(r.enh_subject, 999);
	assert_int_equal(r.enh_detail, 999);
	smtp_reply_free(&r);
}

static void
expect_bad(const char *s, size_t len)
{
	struct smtp_reply r;
	struct op_err e;

	smtp_reply_init(&r);
	err_clear(&e);
	assert_int_equal(smtp_reply_parse(s, len, &r, &e), -1);
	assert_int_equal(e.kind, ERR_PROTOCOL);
	assert_int_equal(r.code, 0);
	smtp_reply_free(&r);
}

static void
test_strict(void **state)
{
	(void)state;
	expect_bad("25 ok\r\n", 7);
	expect_bad("2500 x\r\n", 8);
	expect_bad("600 x\r\n", 7);
	expect_bad("100 x\r\n", 7);
	expect_bad("099 x\r\n", 7);
	expect_bad("abc x\r\n", 7);
	expect_bad("250_x\r\n", 7);
	expect_bad("\r\n", 2);
	expect_bad("250-a\r\n251 b\r\n", 14);          /* mixed codes */
	expect_bad("250-a\r\n550 b\r\n", 14);
	expect_bad("250 a\0b\r\n", 9);                  /* NUL */
	expect_bad("250-a\r\n", 7);                     /* incomplete */
	expect_bad("250 a\r\n250 b\r\n", 14);           /* two replies */
}

static void
test_line_bound(void **state)
{
	struct buf b;
	struct smtp_reply r;
	size_t n;

	(void)state;
	buf_init(&b, 1 << 20);
	smtp_reply_init(&r);
	/* exactly SMTP_REPLY_LINE_MAX bytes including CRLF: accepted */
	buf_appendstr(&b, "250 ", NULL);
	for (n = 4; n < SMTP_REPLY_LINE_MAX - 2; n++)
		buf_append(&b, "x", 1, NULL);
	buf_appendstr(&b, "\r\n", NULL);
	assert_int_equal(b.len, SMTP_REPLY_LINE_MAX);
	assert_int_equal(smtp_reply_parse(b.data, b.len, &r, NULL), 0);
	assert_int_equal(strlen(r.text), SMTP_REPLY_LINE_MAX - 6);
	/* one more byte: refused */
	buf_reset(&b);
	buf_appendstr(&b, "250 ", NULL);
	for (n = 4; n < SMTP_REPLY_LINE_MAX - 1; n++)
		buf_append(&b, "x", 1, NULL);
	buf_appendstr(&b, "\r\n", NULL);
	expect_bad(b.data, b.len);
	/* a line that never ends is refused once it passes the bound,
	 * without waiting for the end */
	{
		struct smtp_reply_parser p;
		size_t used;
		int rc = 0;

		smtp_reply_parser_init(&p);
		for (n = 0; n < 10000 && rc == 0; n++)
			rc = smtp_reply_feed(&p, "2", 1, &used, &r, NULL);
		assert_int_equal(rc, -1);
		assert_true(n <= SMTP_REPLY_LINE_MAX);
		smtp_reply_parser_free(&p);
	}
	smtp_reply_free(&r);
	buf_free(&b);
}

static void
test_line_count_and_text_bound(void **state)
{
	struct buf b;
	struct smtp_reply r;
	int i;

	(void)state;
	buf_init(&b, 1 << 20);
	smtp_reply_init(&r);
	for (i = 0; i < SMTP_REPLY_LINES_MAX - 1; i++)
		buf_appendstr(&b, "250-x\r\n", NULL);
	buf_appendstr(&b, "250 x\r\n", NULL);
	assert_int_equal(smtp_reply_parse(b.data, b.len, &r, NULL), 0);
	assert_int_equal(r.nlines, SMTP_REPLY_LINES_MAX);
	buf_reset(&b);
	for (i = 0; i < SMTP_REPLY_LINES_MAX; i++)
		buf_appendstr(&b, "250-x\r\n", NULL);
	buf_appendstr(&b, "250 x\r\n", NULL);
	expect_bad(b.data, b.len);
	/* total text: 10 lines of 2000 bytes pass the 16384 text bound */
	buf_reset(&b);
	for (i = 0; i < 10; i++) {
		int k;

		buf_appendstr(&b, i == 9 ? "250 " : "250-", NULL);
		for (k = 0; k < 2000; k++)
			buf_append(&b, "y", 1, NULL);
		buf_appendstr(&b, "\r\n", NULL);
	}
	expect_bad(b.data, b.len);
	smtp_reply_free(&r);
	buf_free(&b);
}

/* Pipelined replies in one buffer come out one at a time. */
static void
test_incremental_pipelined(void **state)
{
	const char *in = "250 2.1.0 sender ok\r\n250 2.1.5 rcpt ok\r\n"
	    "550-5.1.1 no\r\n550 5.1.1 such user\r\n354 go ahead\r\n";
	struct smtp_reply_parser p;
	struct smtp_reply r;
	size_t len = strlen(in), off = 0, used;
	int codes[8], n = 0;

	(void)state;
	smtp_reply_parser_init(&p);
	smtp_reply_init(&r);
	while (off < len) {
		int rc = smtp_reply_feed(&p, in + off, len - off, &used, &r, NULL);

		assert_int_not_equal(rc, -1);
		off += used;
		if (rc == 1)
			codes[n++] = r.code;
		else
			assert_int_equal(off, len);
	}
	assert_int_equal(n, 4);
	assert_int_equal(codes[0], 250);
	assert_int_equal(codes[1], 250);
	assert_int_equal(codes[2], 550);
	assert_int_equal(codes[3], 354);
	assert_string_equal(r.text, "go ahead");
	assert_false(smtp_reply_parser_busy(&p));
	smtp_reply_free(&r);
	smtp_reply_parser_free(&p);
}

/* The same replies fed in two pieces split at every byte position, and
 * one byte at a time, give the same results. */
static void
test_every_split(void **state)
{
	const char *in = "250-mx.example\r\n250-8BITMIME\r\n250 2.0.0 OK\r\n"
	    "452 4.5.3 too many\r\n";
	size_t len = strlen(in), split;

	(void)state;
	for (split = 0; split <= len; split++) {
		struct smtp_reply_parser p;
		struct smtp_reply r;
		const char *pieces[2] = { in, in + split };
		size_t plen[2] = { split, len - split };
		int got = 0, k;
		char texts[2][128];
		int codes[2];

		smtp_reply_parser_init(&p);
		smtp_reply_init(&r);
		for (k = 0; k < 2; k++) {
			size_t off = 0, used;

			while (off < plen[k]) {
				int rc = smtp_reply_feed(&p, pieces[k] + off, plen[k] - off,
				    &used, &r, NULL);

				assert_int_not_equal(rc, -1);
				off += used;
				if (rc == 1) {
					assert_true(got < 2);
					codes[got] = r.code;
					str_copy(texts[got], sizeof(texts[got]), r.text);
					got++;
				}
			}
		}
		assert_int_equal(got, 2);
		assert_int_equal(codes[0], 250);
		assert_string_equal(texts[0], "mx.example\n8BITMIME\n2.0.0 OK");
		assert_int_equal(codes[1], 452);
		assert_int_equal(r.enh_class, 4);
		assert_int_equal(r.enh_detail, 3);
		smtp_reply_free(&r);
		smtp_reply_parser_free(&p);
	}
}

static void
test_failed_parser_stays_failed(void **state)
{
	struct smtp_reply_parser p;
	struct smtp_reply r;
	size_t used;

	(void)state;
	smtp_reply_parser_init(&p);
	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_feed(&p, "xyz\r\n", 5, &used, &r, NULL), -1);
	assert_int_equal(smtp_reply_feed(&p, "250 ok\r\n", 8, &used, &r, NULL), -1);
	smtp_reply_parser_reset(&p);
	assert_int_equal(smtp_reply_feed(&p, "250 ok\r\n", 8, &used, &r, NULL), 1);
	assert_int_equal(r.code, 250);
	smtp_reply_free(&r);
	smtp_reply_parser_free(&p);
}

static void
test_outcomes_and_copy(void **state)
{
	struct smtp_reply a, b;

	(void)state;
	smtp_reply_init(&a);
	smtp_reply_init(&b);
	assert_int_equal(smtp_reply_outcome(&a), SMTP_TEMPORARY);   /* no reply */
	assert_int_equal(parse("354 go\r\n", &a), 0);
	assert_int_equal(smtp_reply_outcome(&a), SMTP_DELIVERED);
	assert_int_equal(parse("421 4.3.2 closing\r\n", &a), 0);
	assert_int_equal(smtp_reply_outcome(&a), SMTP_TEMPORARY);
	smtp_reply_copy(&b, &a);
	assert_int_equal(b.code, 421);
	assert_string_equal(b.text, "4.3.2 closing");
	assert_ptr_not_equal(a.text, b.text);
	smtp_reply_free(&a);
	smtp_reply_move(&a, &b);
	assert_int_equal(a.code, 421);
	assert_null(b.text);
	assert_string_equal(smtp_outcome_name(SMTP_PERMANENT), "permanent");
	smtp_reply_free(&a);
}

static void
test_format_sanitises(void **state)
{
	struct smtp_reply r;
	char out[64];

	(void)state;
	smtp_reply_init(&r);
	assert_int_equal(parse("550-a\x1b[31m\r\n550 b\r\n", &r), 0);
	smtp_reply_format(&r, out, sizeof(out));
	assert_null(strchr(out, '\x1b'));
	assert_null(strchr(out, '\n'));
	assert_string_equal(out, "550 a\\x1b[31m\\nb");
	smtp_reply_free(&r);
	smtp_reply_format(&r, out, sizeof(out));
	assert_string_equal(out, "(no reply)");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_line),
		cmocka_unit_test(test_bare_code_and_lf),
		cmocka_unit_test(test_multi_line),
		cmocka_unit_test(test_enhanced),
		cmocka_unit_test(test_strict),
		cmocka_unit_test(test_line_bound),
		cmocka_unit_test(test_line_count_and_text_bound),
		cmocka_unit_test(test_incremental_pipelined),
		cmocka_unit_test(test_every_split),
		cmocka_unit_test(test_failed_parser_stays_failed),
		cmocka_unit_test(test_outcomes_and_copy),
		cmocka_unit_test(test_format_sanitises),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
