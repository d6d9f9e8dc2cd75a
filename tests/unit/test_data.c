/*
 * test_data.c - the DATA encoder: CRLF normalisation and dot-stuffing,
 * whatever the chunking.  Every split point of tricky inputs, byte at a
 * time, and random inputs against an independent reference model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/data.h"
#include "util/buf.h"

#define OUT_MAX (1 << 20)

/* Encode in, cut into pieces at the given split points (sorted). */
static void
encode_split(const char *in, size_t len, const size_t *cuts, size_t ncuts,
    struct buf *out)
{
	struct smtp_data_enc d;
	size_t prev = 0, i;

	buf_reset(out);
	smtp_data_init(&d);
	for (i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;

		assert_int_equal(smtp_data_feed(&d, in + prev, end - prev, out, NULL), 0);
		prev = end;
	}
	assert_int_equal(smtp_data_finish(&d, out, NULL), 0);
}

static void
encode(const char *in, size_t len, struct buf *out)
{
	encode_split(in, len, NULL, 0, out);
}

/* The reference: written the obvious way, independently of data.c. */
static void
reference(const char *in, size_t len, struct buf *out)
{
	struct buf norm;
	size_t i, start;

	buf_init(&norm, OUT_MAX);
	buf_reset(out);
	for (i = 0; i < len; i++) {
		if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n') {
			buf_append(&norm, "\r\n", 2, NULL);
			i++;
		} else if (in[i] == '\r' || in[i] == '\n') {
			buf_append(&norm, "\r\n", 2, NULL);
		} else {
			buf_append(&norm, in + i, 1, NULL);
		}
	}
	if (norm.len > 0 && (norm.len < 2 || memcmp(norm.data + norm.len - 2, "\r\n", 2) != 0))
		buf_append(&norm, "\r\n", 2, NULL);
	start = 0;
	for (i = 0; i < norm.len; i++) {
		if (i == start && norm.data[i] == '.')
			buf_append(out, ".", 1, NULL);
		buf_append(out, norm.data + i, 1, NULL);
		if (norm.data[i] == '\n')
			start = i + 1;
	}
	buf_append(out, ".\r\n", 3, NULL);
	buf_free(&norm);
}

/* Wire invariants: only CRLF pairs; the terminator only at the end; every
 * other line starting with "." is stuffed. */
static void
check_wire(const struct buf *w)
{
	size_t i, bol = 1;

	assert_true(w->len >= 3);
	assert_memory_equal(w->data + w->len - 3, ".\r\n", 3);
	assert_true(w->len == 3 || memcmp(w->data + w->len - 5, "\r\n", 2) == 0);
	for (i = 0; i < w->len; i++) {
		char c = w->data[i];

		if (c == '\r')
			assert_true(i + 1 < w->len && w->data[i + 1] == '\n');
		if (c == '\n')
			assert_true(i > 0 && w->data[i - 1] == '\r');
		if (bol && c == '.' && i != w->len - 3)
			assert_true(i + 1 < w->len && w->data[i + 1] == '.');
		if (bol && c == '.')
			i++;    /* skip the stuffed pair */
		bol = c == '\n';
	}
}

static void
expect(const char *in, const char *want)
{
	struct buf out;

	buf_init(&out, OUT_MAX);
	encode(in, strlen(in), &out);
	assert_int_equal(out.len, strlen(want));
	assert_memory_equal(out.data, want, out.len);
	check_wire(&out);
	buf_free(&out);
}

static void
test_fixed_cases(void **state)
{
	(void)state;
	expect("", ".\r\n");
	expect("a", "a\r\n.\r\n");
	expect("a\r\n", "a\r\n.\r\n");
	expect("a\n", "a\r\n.\r\n");
	expect("a\r", "a\r\n.\r\n");
	expect("\r\n", "\r\n.\r\n");
	expect(".", "..\r\n.\r\n");
	expect(".\r\n", "..\r\n.\r\n");
	expect("..", "...\r\n.\r\n");
	expect("a.b\r\n.c\n..d\r.e", "a.b\r\n..c\r\n...d\r\n..e\r\n.\r\n");
	expect("\r\r\n", "\r\n\r\n.\r\n");
	expect("\n\r", "\r\n\r\n.\r\n");
	expect("\r\n\r\n", "\r\n\r\n.\r\n");
	/* SMTP smuggling attempts never end the message early */
	expect("a\n.\nMAIL FROM:<x>\n", "a\r\n..\r\nMAIL FROM:<x>\r\n.\r\n");
	expect("a\r\n.\rRCPT", "a\r\n..\r\nRCPT\r\n.\r\n");
	expect("a\r.\r\nb", "a\r\n..\r\nb\r\n.\r\n");
	expect("a\r\n.\r\n", "a\r\n..\r\n.\r\n");
	/* 8-bit and NUL bytes pass */
	expect("caf\xc3\xa9", "caf\xc3\xa9\r\n.\r\n");
}

/* Every split point (and every pair of split points) of a tricky input
 * gives the one-shot result. */
static void
test_every_split(void **state)
{
	static const char *const inputs[] = {
		"a\r\n.b\r\n..\r\n.\r\nx\ry\nz",
		"\r\n.\r\n",
		".\r\r\n.\n.\r",
		"\n\n..\r\r.",
	};
	struct buf whole, part;
	size_t k, i, j;

	(void)state;
	buf_init(&whole, OUT_MAX);
	buf_init(&part, OUT_MAX);
	for (k = 0; k < sizeof(inputs) / sizeof(inputs[0]); k++) {
		const char *in = inputs[k];
		size_t len = strlen(in);

		encode(in, len, &whole);
		check_wire(&whole);
		reference(in, len, &part);
		assert_int_equal(whole.len, part.len);
		assert_memory_equal(whole.data, part.data, part.len);
		for (i = 0; i <= len; i++) {
			size_t cut1[1] = { i };

			encode_split(in, len, cut1, 1, &part);
			assert_int_equal(part.len, whole.len);
			assert_memory_equal(part.data, whole.data, whole.len);
			for (j = i; j <= len; j++) {
				size_t cut2[2] = { i, j };

				encode_split(in, len, cut2, 2, &part);
				assert_int_equal(part.len, whole.len);
				assert_memory_equal(part.data, whole.data, whole.len);
			}
		}
	}
	/* the example of the brief, checked literally */
	encode(inputs[0], strlen(inputs[0]), &whole);
	assert_int_equal(whole.len, strlen("a\r\n..b\r\n...\r\n..\r\nx\r\ny\r\nz\r\n.\r\n"));
	assert_memory_equal(whole.data, "a\r\n..b\r\n...\r\n..\r\nx\r\ny\r\nz\r\n.\r\n", whole.len);
	buf_free(&whole);
	buf_free(&part);
}

static void
test_byte_at_a_time(void **state)
{
	const char *in = "x\r\r\n\n.\r.\n..\r\n\r";
	size_t len = strlen(in), cuts[64], i;
	struct buf whole, part;

	(void)state;
	buf_init(&whole, OUT_MAX);
	buf_init(&part, OUT_MAX);
	for (i = 1; i < len; i++)
		cuts[i - 1] = i;
	encode(in, len, &whole);
	encode_split(in, len, cuts, len - 1, &part);
	assert_int_equal(part.len, whole.len);
	assert_memory_equal(part.data, whole.data, whole.len);
	check_wire(&whole);
	buf_free(&whole);
	buf_free(&part);
}

static void
test_random_against_reference(void **state)
{
	static const char alphabet[] = "a.\r\n";
	struct buf got, want;
	char in[64];
	int iter;

	(void)state;
	srand(12345);
	buf_init(&got, OUT_MAX);
	buf_init(&want, OUT_MAX);
	for (iter = 0; iter < 20000; iter++) {
		size_t len = (size_t)(rand() % (int)sizeof(in)), i, ncuts, cuts[4];

		for (i = 0; i < len; i++)
			in[i] = alphabet[rand() % 4];
		ncuts = len > 0 ? (size_t)(rand() % 4) : 0;
		for (i = 0; i < ncuts; i++)
			cuts[i] = (size_t)rand() % (len + 1);
		/* sort the cuts */
		for (i = 1; i < ncuts; i++)
			for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
				size_t t = cuts[j];
				cuts[j] = cuts[j - 1];
				cuts[j - 1] = t;
			}
		encode_split(in, len, cuts, ncuts, &got);
		reference(in, len, &want);
		assert_int_equal(got.len, want.len);
		assert_memory_equal(got.data, want.data, want.len);
		check_wire(&got);
	}
	buf_free(&got);
	buf_free(&want);
}

static void
test_bounded_output(void **state)
{
	struct smtp_data_enc d;
	struct buf out;
	struct op_err e;

	(void)state;
	buf_init(&out, 8);
	smtp_data_init(&d);
	/* 4 input bytes may need 2*4+2 = 10 > 8: refused up front */
	assert_int_equal(smtp_data_feed(&d, "abcd", 4, &out, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_int_equal(out.len, 0);
	assert_int_equal(smtp_data_feed(&d, "abc", 3, &out, &e), 0);
	buf_free(&out);
}

static void
test_has_8bit(void **state)
{
	(void)state;
	assert_false(smtp_data_has_8bit("plain ascii\r\n", 13));
	assert_true(smtp_data_has_8bit("caf\xc3\xa9", 5));
	assert_false(smtp_data_has_8bit("", 0));
}

/* One rule for every door: a NUL anywhere is refused, and the message
 * says where (header or body, and the line). */
static void
test_check_nul(void **state)
{
	struct op_err e;
	static const char hdr[] = "From: a@b.c\r\nSubject: x\0y\r\n\r\nbody\r\n";
	static const char body[] = "Subject: x\n\nline 3\nline\0 4\n";
	static const char first[] = "\0";
	static const char lfhdr[] = "A: 1\nB: 2\nC: \0\n";

	(void)state;
	assert_int_equal(smtp_data_check_nul("", 0, &e), 0);
	assert_int_equal(smtp_data_check_nul(NULL, 0, &e), 0);
	assert_int_equal(smtp_data_check_nul("a\r\n\r\nb\xff\r\n", 9, &e), 0);
	assert_int_equal(smtp_data_check_nul(hdr, sizeof(hdr) - 1, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_non_null(strstr(e.msg, "NUL byte in the header, line 2"));
	assert_non_null(strstr(e.msg, "base64"));
	assert_int_equal(smtp_data_check_nul(body, sizeof(body) - 1, &e), -1);
	assert_non_null(strstr(e.msg, "NUL byte in the body, line 4"));
	assert_int_equal(smtp_data_check_nul(first, 1, &e), -1);
	assert_non_null(strstr(e.msg, "in the header, line 1"));
	assert_int_equal(smtp_data_check_nul(lfhdr, sizeof(lfhdr) - 1, &e), -1);
	assert_non_null(strstr(e.msg, "in the header, line 3"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_cases),
		cmocka_unit_test(test_every_split),
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_random_against_reference),
		cmocka_unit_test(test_bounded_output),
		cmocka_unit_test(test_has_8bit),
		cmocka_unit_test(test_check_nul),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
