/* test_encode.c - UTF-8 checks, base64, quoted-printable, RFC 2047 words,
 * header folding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/encode.h"

static void
test_utf8(void **state)
{
	unsigned long cp = 0;

	(void)state;
	assert_true(enc_utf8_valid("", 0));
	assert_true(enc_utf8_valid("plain", 5));
	assert_true(enc_utf8_valid("\xc3\xa9\xe2\x9c\x93\xf0\x9f\x98\x80", 9));
	assert_true(enc_utf8_valid("\xf4\x8f\xbf\xbf", 4));       /* U+10FFFF */
	assert_false(enc_utf8_valid("\x80", 1));
	assert_false(enc_utf8_valid("\xc3", 1));
	assert_false(enc_utf8_valid("\xc0\x80", 2));               /* overlong NUL */
	assert_false(enc_utf8_valid("\xc1\xbf", 2));
	assert_false(enc_utf8_valid("\xe0\x9f\xbf", 3));           /* overlong */
	assert_false(enc_utf8_valid("\xf0\x8f\xbf\xbf", 4));       /* overlong */
	assert_false(enc_utf8_valid("\xed\xa0\x80", 3));           /* surrogate */
	assert_false(enc_utf8_valid("\xf4\x90\x80\x80", 4));       /* > U+10FFFF */
	assert_false(enc_utf8_valid("\xf5\x80\x80\x80", 4));
	assert_false(enc_utf8_valid("\xe2\x9c", 2));               /* truncated */
	assert_false(enc_utf8_valid("\xe2\x28\xa1", 3));
	assert_int_equal(enc_utf8_char((const unsigned char *)"\xe2\x9c\x93", 3, &cp), 3);
	assert_int_equal(cp, 0x2713);
	assert_int_equal(enc_utf8_char((const unsigned char *)"\xe2\x9c\x93", 2, &cp), 0);
	assert_true(enc_is_ascii("abc\x7f", 4));
	assert_false(enc_is_ascii("ab\xc3\xa9", 4));
}

static void
b64_is(const char *in, size_t n, int wrap, const char *want)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	assert_int_equal(enc_base64(&b, in, n, wrap, NULL), 0);
	assert_string_equal(b.data ? b.data : "", want);
	buf_free(&b);
}

static void
test_base64(void **state)
{
	unsigned char bytes[1000];
	struct buf b, d;
	size_t i, n;

	(void)state;
	/* RFC 4648 section 10 */
	b64_is("", 0, 0, "");
	b64_is("f", 1, 0, "Zg==");
	b64_is("fo", 2, 0, "Zm8=");
	b64_is("foo", 3, 0, "Zm9v");
	b64_is("foob", 4, 0, "Zm9vYg==");
	b64_is("fooba", 5, 0, "Zm9vYmE=");
	b64_is("foobar", 6, 0, "Zm9vYmFy");
	b64_is("foobar", 6, 1, "Zm9vYmFy\r\n");
	b64_is("", 0, 1, "");

	/* 57 octets make one full line of 76 characters */
	for (i = 0; i < sizeof(bytes); i++)
		bytes[i] = (unsigned char)(i * 7 + 3);
	for (n = 0; n < sizeof(bytes); n += 19) {
		const char *p;

		buf_init(&b, 1 << 20);
		buf_init(&d, 1 << 20);
		assert_int_equal(enc_base64(&b, bytes, n, 1, NULL), 0);
		for (p = b.data; p != NULL && *p != '\0'; ) {
			const char *eol = strstr(p, "\r\n");

			assert_non_null(eol);
			assert_true(eol - p <= ENC_B64_LINE);
			if (eol[2] != '\0')
				assert_int_equal(eol - p, ENC_B64_LINE);
			p = eol + 2;
		}
		assert_int_equal(enc_base64_decode(&d, b.data ? b.data : "", b.len, NULL), 0);
		assert_int_equal(d.len, n);
		if (n > 0)
			assert_memory_equal(d.data, bytes, n);
		buf_free(&b);
		buf_free(&d);
	}
	buf_init(&b, 1 << 20);
	assert_int_equal(enc_base64(&b, bytes, 57, 1, NULL), 0);
	assert_int_equal(b.len, 78);
	buf_reset(&b);
	assert_int_equal(enc_base64(&b, bytes, 58, 1, NULL), 0);
	assert_int_equal(b.len, 78 + 4 + 2);
	buf_free(&b);
}

static void
test_base64_decode(void **state)
{
	struct buf d;
	struct op_err e;
	const char *bad[] = { "Zg=", "Z===", "Zg==Zg==", "Zm9v!", "=Zm9", "Zm=v",
	    "Zg==x", "Zm9vY", "Zm9v\x80" };
	size_t i;

	(void)state;
	buf_init(&d, 1 << 20);
	assert_int_equal(enc_base64_decode(&d, "Zm9v YmFy\r\n", 11, NULL), 0);
	assert_string_equal(d.data, "foobar");
	buf_reset(&d);
	assert_int_equal(enc_base64_decode(&d, "Zg==\r\n  ", 8, NULL), 0);
	assert_string_equal(d.data, "f");
	buf_reset(&d);
	assert_int_equal(enc_base64_decode(&d, "", 0, NULL), 0);
	assert_int_equal(d.len, 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&d);
		err_clear(&e);
		if (enc_base64_decode(&d, bad[i], strlen(bad[i]), &e) == 0)
			fail_msg("accepted base64 \"%s\"", bad[i]);
		assert_int_equal(e.kind, ERR_DATA);
	}
	buf_free(&d);
	/* bounded by the buffer */
	buf_init(&d, 2);
	assert_int_equal(enc_base64_decode(&d, "Zm9v", 4, NULL), -1);
	buf_free(&d);
}

static void
qp_is(const char *in, const char *want)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	assert_int_equal(enc_qp(&b, in, strlen(in), NULL), 0);
	assert_string_equal(b.data ? b.data : "", want);
	buf_free(&b);
}

/* Decode quoted-printable (for round trips): soft breaks vanish. */
static size_t
qp_decode(const char *s, char *out)
{
	size_t o = 0;

	while (*s != '\0') {
		if (s[0] == '=' && s[1] == '\r' && s[2] == '\n') {
			s += 3;
		} else if (s[0] == '=') {
			char hex[3] = { s[1], s[2], 0 };

			out[o++] = (char)strtoul(hex, NULL, 16);
			s += 3;
		} else {
			out[o++] = *s++;
		}
	}
	return o;
}

static void
test_qp(void **state)
{
	char in[3000], dec[4000];
	struct buf b;
	size_t i, n;
	const char *p;

	(void)state;
	qp_is("", "");
	qp_is("plain text", "plain text");
	qp_is("a=b", "a=3Db");
	qp_is("line\nnext\n", "line\r\nnext\r\n");
	qp_is("line\r\nnext", "line\r\nnext");
	qp_is("trailing \nspace", "trailing=20\r\nspace");
	qp_is("trailing\t\r\ntab", "trailing=09\r\ntab");
	qp_is("end ", "end=20");
	qp_is("in the middle", "in the middle");
	qp_is("lone\rcr", "lone=0Dcr");
	qp_is("caf\xc3\xa9", "caf=C3=A9");
	qp_is("nul\x01", "nul=01");

	/* long lines: at most 76 characters, "=" soft breaks, round trip */
	for (i = 0; i < sizeof(in) - 1; i++)
		in[i] = "ab =\xc3\xa9x \t"[i % 10];
	in[sizeof(in) - 1] = '\0';
	for (n = 1; n < sizeof(in); n += 97) {
		char c = in[n];

		in[n] = '\0';
		buf_init(&b, 1 << 20);
		assert_int_equal(enc_qp(&b, in, n, NULL), 0);
		for (p = b.data; p != NULL && *p != '\0'; ) {
			const char *eol = strstr(p, "\r\n");
			size_t len = eol ? (size_t)(eol - p) : strlen(p);

			assert_true(len <= ENC_QP_LINE);
			/* no whitespace at the end of an encoded line */
			if (len > 0)
				assert_true(p[len - 1] != ' ' && p[len - 1] != '\t');
			p += len + (eol ? 2 : 0);
		}
		assert_int_equal(qp_decode(b.data, dec), n);
		assert_memory_equal(dec, in, n);
		buf_free(&b);
		in[n] = c;
	}
}

/* Split a header into its encoded-words; check each is at most 75
 * characters, and that each decodes on its own to whole UTF-8 characters;
 * return the decoded text of all words joined. */
static size_t
words_decode(const char *h, char *out)
{
	const char *p = h;
	size_t o = 0;

	while ((p = strstr(p, "=?UTF-8?")) != NULL) {
		const char *end = strstr(p + 10, "?=");
		char enc = p[8], part[200];
		size_t k = 0;
		const char *s;

		assert_non_null(end);
		assert_true(end + 2 - p <= ENC_WORD_MAX);
		if (enc == 'Q') {
			for (s = p + 10; s < end; ) {
				if (*s == '_') {
					part[k++] = ' ';
					s++;
				} else if (*s == '=') {
					char hex[3] = { s[1], s[2], 0 };

					part[k++] = (char)strtoul(hex, NULL, 16);
					s += 3;
				} else {
					part[k++] = *s++;
				}
			}
		} else {
			struct buf d;

			assert_int_equal(enc, 'B');
			buf_init(&d, 200);
			assert_int_equal(enc_base64_decode(&d, p + 10, (size_t)(end - p - 10), NULL), 0);
			memcpy(part, d.data, d.len);
			k = d.len;
			buf_free(&d);
		}
		assert_true(enc_utf8_valid(part, k));
		memcpy(out + o, part, k);
		o += k;
		p = end + 2;
	}
	out[o] = '\0';
	return o;
}

static void
check_lines(const char *h)
{
	const char *p = h;

	while (*p != '\0') {
		const char *eol = strstr(p, "\r\n");

		assert_non_null(eol);
		assert_true(eol - p <= ENC_FOLD_COL);
		p = eol + 2;
		if (*p != '\0')
			assert_true(*p == ' ' || *p == '\t');
	}
}

static void
text_is(const char *name, const char *text, const char *want)
{
	struct enc_fold f;
	struct buf b;
	struct op_err e;

	buf_init(&b, 1 << 20);
	err_clear(&e);
	assert_int_equal(enc_fold_begin(&f, &b, name, &e), 0);
	if (enc_fold_text(&f, text, &e) != 0)
		fail_msg("refused \"%s\": %s", text, e.msg);
	assert_int_equal(enc_fold_end(&f, NULL), 0);
	assert_string_equal(b.data, want);
	buf_free(&b);
}

static void
test_fold_text(void **state)
{
	(void)state;
	text_is("Subject", "hello world", "Subject: hello world\r\n");
	text_is("Subject", "", "Subject:\r\n");
	text_is("Subject", "  padded  ", "Subject: padded\r\n");
	/* Q or B, whichever is shorter */
	text_is("Subject", "Gr\xc3\xbc\xc3\x9f""e", "Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n");
	text_is("Subject", "Caf\xc3\xa9 au lait", "Subject: =?UTF-8?Q?Caf=C3=A9_au_lait?=\r\n");
	text_is("Subject", "a =?x?Q?y?= b", "Subject: =?UTF-8?B?YSA9P3g/UT95Pz0gYg==?=\r\n");
	text_is("Subject", "\xe6\x97\xa5\xe6\x9c\xac", "Subject: =?UTF-8?B?5pel5pys?=\r\n");
	text_is("X-A", "one two three four five six seven eight nine ten eleven twelve thirteen fourteen",
	    "X-A: one two three four five six seven eight nine ten eleven twelve thirteen\r\n"
	    " fourteen\r\n");
	/* whitespace is kept exactly: the fold goes before it */
	text_is("X-A", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\t  bb",
	    "X-A: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
	    "\t  bb\r\n");
}

static void
test_fold_words_long(void **state)
{
	const char *samples[] = {
		"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
		"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
		"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
		"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80",
		"Gr\xc3\xbc\xc3\x9f""e aus K\xc3\xb6ln, ein sehr langer Betreff, der gefaltet werden "
		"muss, weil er nicht in eine Zeile passt \xe2\x80\x94 und noch mehr Text dazu.",
		"\xd0\x97\xd0\xbe\xd1\x8f \xd0\x9a\xd0\xbe\xd1\x81\xd0\xbc\xd0\xbe\xd0\xb4\xd0\xb5"
		"\xd0\xbc\xd1\x8c\xd1\x8f\xd0\xbd\xd1\x81\xd0\xba\xd0\xb0\xd1\x8f \xd0\x97\xd0\xbe"
		"\xd1\x8f \xd0\x9a\xd0\xbe\xd1\x81\xd0\xbc\xd0\xbe\xd0\xb4\xd0\xb5\xd0\xbc\xd1\x8c"
		"\xd1\x8f\xd0\xbd\xd1\x81\xd0\xba\xd0\xb0\xd1\x8f",
	};
	char dec[4096];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		struct enc_fold f;
		struct buf b;

		buf_init(&b, 1 << 20);
		assert_int_equal(enc_fold_begin(&f, &b, "Subject", NULL), 0);
		assert_int_equal(enc_fold_text(&f, samples[i], NULL), 0);
		assert_int_equal(enc_fold_end(&f, NULL), 0);
		check_lines(b.data);
		words_decode(b.data, dec);
		assert_string_equal(dec, samples[i]);
		buf_free(&b);
	}
}

static void
test_fold_refuses(void **state)
{
	const char *bad[] = { "a\r\nBcc: x@y.org", "a\nb", "a\rb", "nul\x01", "del\x7f",
	    "c1\xc2\x85", "bad\xff" };
	struct enc_fold f;
	struct buf b;
	struct op_err e;
	size_t i;

	(void)state;
	buf_init(&b, 1 << 20);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&b);
		assert_int_equal(enc_fold_begin(&f, &b, "Subject", NULL), 0);
		err_clear(&e);
		assert_int_equal(enc_fold_text(&f, bad[i], &e), -1);
		assert_int_equal(e.kind, ERR_DATA);
		assert_null(strstr(b.data, "Bcc"));
		err_clear(&e);
		assert_int_equal(enc_fold_phrase(&f, bad[i], 1, &e), -1);
		assert_int_equal(e.kind, ERR_DATA);
		assert_int_equal(enc_check_text(bad[i], "x", NULL), -1);
	}
	assert_int_equal(enc_check_text("tab\tok \xe2\x9c\x93", "x", NULL), 0);
	err_clear(&e);
	assert_int_equal(enc_fold_begin(&f, &b, "Bad Name", &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_int_equal(enc_fold_begin(&f, &b, "Bad:Name", NULL), -1);
	assert_int_equal(enc_fold_begin(&f, &b, "", NULL), -1);
	assert_int_equal(enc_fold_begin(&f, &b, "Bad\r\nName", NULL), -1);
	buf_free(&b);
}

static void
phrase_is(const char *name, const char *want)
{
	struct enc_fold f;
	struct buf b;

	buf_init(&b, 1 << 20);
	assert_int_equal(enc_fold_begin(&f, &b, "From", NULL), 0);
	assert_int_equal(enc_fold_phrase(&f, name, 1, NULL), 0);
	assert_int_equal(enc_fold_piece(&f, "<a@x.org>", 9, 1, NULL), 0);
	assert_int_equal(enc_fold_end(&f, NULL), 0);
	assert_string_equal(b.data, want);
	buf_free(&b);
}

static void
test_phrase(void **state)
{
	(void)state;
	phrase_is("Alice", "From: Alice <a@x.org>\r\n");
	phrase_is("Alice B Smith", "From: Alice B Smith <a@x.org>\r\n");
	phrase_is("Smith, Alice", "From: \"Smith, Alice\" <a@x.org>\r\n");
	phrase_is("Jo Q. Public", "From: \"Jo Q. Public\" <a@x.org>\r\n");
	phrase_is("say \"hi\"", "From: \"say \\\"hi\\\"\" <a@x.org>\r\n");
	phrase_is("back\\slash", "From: \"back\\\\slash\" <a@x.org>\r\n");
	phrase_is("two  spaces", "From: \"two  spaces\" <a@x.org>\r\n");
	phrase_is(" lead", "From: \" lead\" <a@x.org>\r\n");
	phrase_is("a<b>@c", "From: \"a<b>@c\" <a@x.org>\r\n");
	phrase_is("J\xc3\xb6rg", "From: =?UTF-8?B?SsO2cmc=?= <a@x.org>\r\n");
	phrase_is("J\xc3\xb6rg Schmidt", "From: =?UTF-8?Q?J=C3=B6rg_Schmidt?= <a@x.org>\r\n");
	phrase_is("=?UTF-8?Q?x?=", "From: =?UTF-8?B?PT9VVEYtOD9RP3g/PQ==?= <a@x.org>\r\n");
	phrase_is("", "From: <a@x.org>\r\n");
}

static void
test_line_limit(void **state)
{
	char big[1200];
	struct enc_fold f;
	struct buf b;
	struct op_err e;

	(void)state;
	/* an unbreakable piece that cannot fit 998 characters is refused */
	memset(big, 'x', sizeof(big));
	buf_init(&b, 1 << 20);
	assert_int_equal(enc_fold_begin(&f, &b, "X-A", NULL), 0);
	err_clear(&e);
	assert_int_equal(enc_fold_piece(&f, big, 996, 1, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	buf_reset(&b);
	assert_int_equal(enc_fold_begin(&f, &b, "X-A", NULL), 0);
	assert_int_equal(enc_fold_piece(&f, big, 993, 1, NULL), 0);
	buf_reset(&b);
	/* a word too long for a line is encoded instead, and folds */
	big[1100] = '\0';
	assert_int_equal(enc_fold_begin(&f, &b, "Subject", NULL), 0);
	assert_int_equal(enc_fold_text(&f, big, NULL), 0);
	assert_int_equal(enc_fold_end(&f, NULL), 0);
	check_lines(b.data);
	buf_free(&b);
	/* the output buffer's bound holds */
	buf_init(&b, 10);
	assert_int_equal(enc_fold_begin(&f, &b, "Subject", NULL), 0);
	assert_int_equal(enc_fold_text(&f, "far too long for ten", NULL), -1);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_base64_decode),
		cmocka_unit_test(test_qp),
		cmocka_unit_test(test_fold_text),
		cmocka_unit_test(test_fold_words_long),
		cmocka_unit_test(test_fold_refuses),
		cmocka_unit_test(test_phrase),
		cmocka_unit_test(test_line_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
