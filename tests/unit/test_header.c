/* test_header.c - header sections for sendmail -t: fields, address lists,
 * Bcc removal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/header.h"

static void
parse_ok(const char *msg, struct hdr_block *b)
{
	struct op_err e;

	err_clear(&e);
	if (hdr_parse(msg, strlen(msg), b, &e) != 0)
		fail_msg("refused: %s", e.msg);
}

static void
test_parse_lf(void **state)
{
	const char *msg =
	    "From: Alice <a@x.org>\n"
	    "To: b@x.org,\n"
	    "  c@x.org\n"
	    "Subject: hello\n"
	    "\tworld\n"
	    "X-Empty:\n"
	    "\n"
	    "body line\n"
	    "To: not-a-header@x.org\n";
	struct hdr_block b;

	(void)state;
	parse_ok(msg, &b);
	assert_int_equal(b.n, 4);
	assert_string_equal(b.v[0].name, "From");
	assert_string_equal(b.v[0].value, "Alice <a@x.org>");
	assert_string_equal(b.v[1].value, "b@x.org,  c@x.org");
	assert_string_equal(b.v[2].value, "hello\tworld");
	assert_string_equal(b.v[3].name, "X-Empty");
	assert_string_equal(b.v[3].value, "");
	assert_true(b.blank);
	assert_false(b.crlf);
	assert_int_equal(b.skip, 0);
	assert_string_equal(msg + b.body, "body line\nTo: not-a-header@x.org\n");
	assert_int_equal(b.v[1].off, strlen("From: Alice <a@x.org>\n"));
	assert_int_equal(b.v[1].len, strlen("To: b@x.org,\n  c@x.org\n"));
	hdr_block_free(&b);
}

static void
test_parse_crlf_and_lookup(void **state)
{
	const char *msg =
	    "Date: Sun, 22 Nov 2026 11:00:00 +0000\r\n"
	    "message-id: <1@x.org>\r\n"
	    "Subject : obsolete space before the colon\r\n"
	    "Received: one\r\n"
	    "Received: two\r\n"
	    "\r\n"
	    "body\r\n";
	struct hdr_block b;

	(void)state;
	parse_ok(msg, &b);
	assert_true(b.crlf);
	assert_int_equal(b.n, 5);
	assert_string_equal(hdr_get(&b, "Message-ID"), "<1@x.org>");
	assert_string_equal(hdr_get(&b, "DATE"), "Sun, 22 Nov 2026 11:00:00 +0000");
	assert_string_equal(hdr_get(&b, "subject"), "obsolete space before the colon");
	assert_string_equal(b.v[2].name, "Subject");
	assert_string_equal(hdr_get(&b, "Received"), "one");
	assert_int_equal(hdr_count(&b, "received"), 2);
	assert_true(hdr_has(&b, "Date"));
	assert_true(hdr_has(&b, "Message-Id"));
	assert_false(hdr_has(&b, "From"));
	assert_null(hdr_get(&b, "From"));
	assert_string_equal(msg + b.body, "body\r\n");
	hdr_block_free(&b);
}

static void
test_parse_shapes(void **state)
{
	struct hdr_block b;
	const char *msg;

	(void)state;
	/* a Unix mailbox "From " line is dropped, "From:" is a field */
	msg = "From sender@x.org Sun Nov 22 11:00:00 2026\nFrom: a@x.org\n\nhi\n";
	parse_ok(msg, &b);
	assert_int_equal(b.skip, strlen("From sender@x.org Sun Nov 22 11:00:00 2026\n"));
	assert_int_equal(b.n, 1);
	assert_string_equal(hdr_get(&b, "from"), "a@x.org");
	hdr_block_free(&b);
	msg = "From : a@x.org\n\nhi\n";
	parse_ok(msg, &b);
	assert_int_equal(b.skip, 0);
	assert_string_equal(hdr_get(&b, "From"), "a@x.org");
	hdr_block_free(&b);

	/* no empty line: the first non-field line starts the body */
	msg = "To: a@x.org\nthis is the body\n";
	parse_ok(msg, &b);
	assert_int_equal(b.n, 1);
	assert_false(b.blank);
	assert_string_equal(msg + b.body, "this is the body\n");
	hdr_block_free(&b);

	/* only a header, without a final line end */
	msg = "To: a@x.org\nSubject: s";
	parse_ok(msg, &b);
	assert_int_equal(b.n, 2);
	assert_string_equal(hdr_get(&b, "Subject"), "s");
	assert_int_equal(b.body, strlen(msg));
	hdr_block_free(&b);

	/* no header at all */
	msg = "\nbody\n";
	parse_ok(msg, &b);
	assert_int_equal(b.n, 0);
	assert_true(b.blank);
	assert_string_equal(msg + b.body, "body\n");
	hdr_block_free(&b);
	msg = " starts with a space\n";
	parse_ok(msg, &b);
	assert_int_equal(b.n, 0);
	assert_int_equal(b.body, 0);
	hdr_block_free(&b);
	parse_ok("", &b);
	assert_int_equal(b.n, 0);
	hdr_block_free(&b);

	/* 8-bit header text is kept as it is (RFC 6532) */
	parse_ok("Subject: Gr\xc3\xbc\xc3\x9f""e\n\n", &b);
	assert_string_equal(hdr_get(&b, "Subject"), "Gr\xc3\xbc\xc3\x9f""e");
	hdr_block_free(&b);
}

static void
parse_bad(const char *msg, size_t len, const char *why)
{
	struct hdr_block b;
	struct op_err e;

	err_clear(&e);
	if (hdr_parse(msg, len, &b, &e) == 0)
		fail_msg("accepted a bad header");
	assert_int_equal(e.kind, ERR_DATA);
	if (strstr(e.msg, why) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", e.msg, why);
	assert_null(b.v);
}

static void
test_parse_bounds(void **state)
{
	struct hdr_block b;
	char *big;
	size_t i, o;

	(void)state;
#define PARSE_BAD(lit, why) parse_bad(lit, sizeof(lit) - 1, why)
	PARSE_BAD("Subject: a\rBcc: x@y.org\n\n", "bare CR");
	PARSE_BAD("Subject: a\0b\n\n", "NUL");
	PARSE_BAD("To: a@x.org\nSubject: x\r", "bare CR");
	PARSE_BAD("To: a@x.org\n cont\r\rinued\n\n", "bare CR");

	/* a line of 998 is fine, 999 is not (RFC 5322 section 2.1.1) */
	big = malloc(HDR_BLOCK_MAX + 4096);
	o = (size_t)snprintf(big, 16, "X-Long: ");
	memset(big + o, 'a', 998 - o);
	memcpy(big + 998, "\r\n\r\n", 5);
	parse_ok(big, &b);
	assert_int_equal(strlen(hdr_get(&b, "X-Long")), 990);
	hdr_block_free(&b);
	memset(big + o, 'a', 999 - o);
	memcpy(big + 999, "\r\n\r\n", 5);
	parse_bad(big, strlen(big), "longer than 998");

	/* the bound is for header lines: a long body line is the body's */
	o = (size_t)snprintf(big, 32, "To: a@x.org\n\n");
	memset(big + o, 'x', 5000);
	big[o + 5000] = '\0';
	parse_ok(big, &b);
	assert_int_equal(b.body, o);
	hdr_block_free(&b);
	o = (size_t)snprintf(big, 32, "To: a@x.org\n");
	memset(big + o, 'x', 5000);
	big[o + 5000] = '\0';
	parse_ok(big, &b);
	assert_int_equal(b.body, o);
	assert_false(b.blank);
	hdr_block_free(&b);
	o = (size_t)snprintf(big, 32, "From ");
	memset(big + o, 'x', 1200);
	memcpy(big + o + 1200, "\nTo: a@x.org\n\n", 15);
	parse_bad(big, strlen(big), "\"From \" line");

	/* 1000 fields are fine, 1001 are not */
	for (i = 0, o = 0; i < HDR_COUNT_MAX; i++)
		o += (size_t)snprintf(big + o, 32, "X-%zu: v\n", i);
	memcpy(big + o, "\nbody", 6);
	parse_ok(big, &b);
	assert_int_equal(b.n, HDR_COUNT_MAX);
	hdr_block_free(&b);
	snprintf(big + o, 32, "X-last: v\n\nbody");
	parse_bad(big, strlen(big), "more than 1000");

	/* the whole header section is bounded */
	o = (size_t)snprintf(big, 32, "X-Big: v\n");
	while (o < HDR_BLOCK_MAX + 1000) {
		big[o++] = ' ';
		memset(big + o, 'b', 900);
		o += 900;
		big[o++] = '\n';
	}
	memcpy(big + o, "\nbody", 6);
	parse_bad(big, strlen(big), "larger than");
	free(big);
}

static void
list_ok(const char *value, const char *const *want)
{
	struct addr_list l;
	struct op_err e;
	size_t n = 0;

	addr_list_init(&l, 100);
	err_clear(&e);
	if (hdr_parse_addr_list(value, &l, &e) != 0)
		fail_msg("refused \"%s\": %s", value, e.msg);
	for (; want[n] != NULL; n++) {
		if (n >= l.n)
			fail_msg("\"%s\": %zu addresses, wanted more", value, l.n);
		assert_string_equal(l.v[n].addr, want[n]);
	}
	assert_int_equal(l.n, n);
	addr_list_free(&l);
}

static void
list_bad(const char *value, const char *why)
{
	struct addr_list l;
	struct op_err e;

	addr_list_init(&l, 100);
	err_clear(&e);
	if (hdr_parse_addr_list(value, &l, &e) == 0)
		fail_msg("accepted \"%s\"", value);
	assert_int_equal(e.kind, ERR_DATA);
	if (why != NULL && strstr(e.msg, why) == NULL)
		fail_msg("\"%s\": message \"%s\" lacks \"%s\"", value, e.msg, why);
	addr_list_free(&l);
}

#define L(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define NONE ((const char *const[]){ NULL })

static void
test_addr_lists(void **state)
{
	(void)state;
	list_ok("a@x.org", L("a@x.org"));
	list_ok("  a@x.org  ", L("a@x.org"));
	list_ok("Name <a@x.org>", L("a@x.org"));
	list_ok("<a@x.org>", L("a@x.org"));
	list_ok("a@x.org, b@x.org", L("a@x.org", "b@x.org"));
	list_ok("\"Quoted, Name\" <a@x.org>, b@x.org", L("a@x.org", "b@x.org"));
	list_ok("\"Tricky <c@evil.org>, \\\"\" <a@x.org>", L("a@x.org"));
	list_ok("Jo Q. Public <a@x.org>", L("a@x.org"));
	list_ok("=?UTF-8?Q?J=C3=B6rg?= <a@x.org>", L("a@x.org"));
	list_ok("a@x.org (Alice, with a comma), (lead) b@x.org", L("a@x.org", "b@x.org"));
	list_ok("a@x.org (nested (comment) here)", L("a@x.org"));
	list_ok("Name (c) <a@x.org> (trailing)", L("a@x.org"));
	list_ok("< a@x.org >", L("a@x.org"));
	list_ok("undisclosed-recipients:;", NONE);
	list_ok("undisclosed-recipients: ;", NONE);
	list_ok("team: a@x.org, Bob <b@x.org>; , c@x.org", L("a@x.org", "b@x.org", "c@x.org"));
	list_ok("g1: a@x.org;, g2: b@x.org;", L("a@x.org", "b@x.org"));
	list_ok(", , a@x.org,,", L("a@x.org"));
	list_ok("", NONE);
	list_ok("\"a b\"@x.org", L("\"a b\"@x.org"));
	list_ok("\"a,b\"@x.org, c@x.org", L("\"a,b\"@x.org", "c@x.org"));
	list_ok("u@[IPv6:::1], v@[192.0.2.1]", L("u@[IPv6:::1]", "v@[192.0.2.1]"));
	list_ok("a@x.org, A <a@X.ORG>", L("a@x.org"));            /* duplicate */
	list_ok("j\xc3\xb6rg@m\xc3\xbcnchen.de", L("j\xc3\xb6rg@m\xc3\xbcnchen.de"));
}

static void
test_addr_lists_bad(void **state)
{
	(void)state;
	list_bad("a@b@c.org", "more than one '@'");
	list_bad("<@a,@b:u@c.org>", "source route");
	list_bad("Name <a@x.org", "closing '>'");
	list_bad("Name <>", "empty");
	list_bad("a@x.org b@x.org", "space");
	list_bad("a@x.org;", "outside a group");
	list_bad("g: a@x.org", "closing ';'");
	list_bad("g: h: a@x.org;;", "group inside a group");
	list_bad("\"unterminated <a@x.org>", "unterminated quoted");
	list_bad("(unterminated a@x.org", "unterminated comment");
	list_bad("a@x.org)", "without '('");
	list_bad("u%x@y.org", "percent hack");
	list_bad("x!u@y.org", "bang path");
	list_bad("Name <a@x.org> junk", "text after");
	list_bad("Name", "no '@'");
	list_bad("a@", "no domain");
	list_bad("a@[1.2.3.4", "unterminated domain literal");
	list_bad("g: a@x.org; junk", "after a group");
	list_bad("(((((((((((((((((((((((((((((((((((deep)))))))))))))))))))))))))))))))))) a@x.org",
	    "nested deeper");
}

static void
test_recipients(void **state)
{
	const char *msg =
	    "From: sender@x.org\n"
	    "To: a@x.org, B <b@x.org>\n"
	    "Reply-To: r@x.org\n"
	    "Cc: c@x.org,\n"
	    " d@x.org\n"
	    "bcc: hidden@x.org\n"
	    "To: e@x.org, a@x.org\n"
	    "Resent-To: not@x.org\n"
	    "\n"
	    "To: body@x.org\n";
	const char *want[] = { "a@x.org", "b@x.org", "c@x.org", "d@x.org",
	    "hidden@x.org", "e@x.org" };
	struct hdr_block b;
	struct addr_list l;
	struct op_err e;
	size_t i;

	(void)state;
	parse_ok(msg, &b);
	addr_list_init(&l, 100);
	assert_int_equal(hdr_recipients(&b, &l, NULL), 0);
	assert_int_equal(l.n, 6);
	for (i = 0; i < 6; i++)
		assert_string_equal(l.v[i].addr, want[i]);
	addr_list_free(&l);

	/* the recipient bound holds across fields */
	addr_list_init(&l, 3);
	err_clear(&e);
	assert_int_equal(hdr_recipients(&b, &l, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	addr_list_free(&l);
	hdr_block_free(&b);

	parse_ok("To: a@x.org\nBcc: ok@x.org, bad@@x.org\n\n", &b);
	addr_list_init(&l, 100);
	err_clear(&e);
	assert_int_equal(hdr_recipients(&b, &l, &e), -1);
	assert_non_null(strstr(e.msg, "Bcc header"));
	addr_list_free(&l);
	hdr_block_free(&b);
}

static void
strip(const char *msg, const char *want)
{
	struct hdr_block b;
	struct buf out;

	parse_ok(msg, &b);
	buf_init(&out, 1 << 20);
	assert_int_equal(hdr_strip_bcc(msg, strlen(msg), &b, &out, NULL), 0);
	assert_string_equal(out.data, want);
	buf_free(&out);
	hdr_block_free(&b);
}

static void
test_strip_bcc(void **state)
{
	const char *const names[] = { "X-Drop", NULL };
	struct hdr_block b;
	struct buf out;
	const char *msg;

	(void)state;
	strip("From: a@x.org\r\n"
	    "Bcc: hidden@x.org,\r\n"
	    "  other@x.org\r\n"
	    "To: b@x.org\r\n"
	    "bcc: more@x.org\r\n"
	    "Resent-Bcc: r@x.org\r\n"
	    "Subject: Bcc: in a value stays\r\n"
	    "\r\n"
	    "Bcc: in the body stays\r\n"
	    "  and so does this\r\n",
	    "From: a@x.org\r\n"
	    "To: b@x.org\r\n"
	    "Subject: Bcc: in a value stays\r\n"
	    "\r\n"
	    "Bcc: in the body stays\r\n"
	    "  and so does this\r\n");
	/* the last field, without a body */
	strip("To: b@x.org\nBcc: c@x.org\n", "To: b@x.org\n");
	strip("To: b@x.org\nBcc: c@x.org", "To: b@x.org\n");
	/* the mailbox "From " line goes, a missing empty line comes back */
	strip("From someone Sun Nov 22 11:00:00 2026\nTo: b@x.org\nBcc: c@x.org\nbody\n",
	    "To: b@x.org\n\nbody\n");
	strip("To: b@x.org\r\nBcc: c@x.org\r\nbody\r\n", "To: b@x.org\r\n\r\nbody\r\n");
	/* nothing to remove: the same octets */
	strip("To: b@x.org\n\n\n\nbody", "To: b@x.org\n\n\n\nbody");

	msg = "X-Drop: 1\nX-Keep: 2\nx-drop: 3\n\tcont\n\nbody";
	parse_ok(msg, &b);
	buf_init(&out, 1 << 20);
	assert_int_equal(hdr_remove(msg, strlen(msg), &b, names, &out, NULL), 0);
	assert_string_equal(out.data, "X-Keep: 2\n\nbody");
	buf_free(&out);
	/* the output is bounded by the buffer */
	buf_init(&out, 5);
	assert_int_equal(hdr_remove(msg, strlen(msg), &b, names, &out, NULL), -1);
	buf_free(&out);
	hdr_block_free(&b);
}

static unsigned long
next(unsigned long *seed)
{
	*seed = *seed * 6364136223846793005UL + 1442695040888963407UL;
	return *seed >> 33;
}

/* Random messages and address lists: whatever is accepted is consistent.
 * Fields tile the header section, values hold no line break, the Bcc-less
 * copy is the message less exactly those fields, and every address in a
 * list passed addr_parse_mailbox(). */
static void
test_random_input(void **state)
{
	static const char *const atoms[] = { "To: ", "Bcc: ", "From ", "X-A:",
	    "a@x.org", "<b@y.org>", "\"q, r\"", "(c)", ",", ";", ":", " ", "\t",
	    "\n", "\r\n", "\r", "\n ", "\n\n", "@", "g:", "\\", "\"", "(", ")",
	    "\xc3\xa9", "[1.2.3.4]", "u%v@w.org", "Name <" };
	unsigned long seed = 5322;
	char text[400];
	int iter, lists = 0;

	(void)state;
	for (iter = 0; iter < 50000; iter++) {
		struct hdr_block b;
		struct addr_list l;
		struct buf out;
		size_t n = 0, i, k, parts = next(&seed) % 24;

		for (k = 0; k < parts; k++) {
			const char *a = atoms[next(&seed) % (sizeof(atoms) / sizeof(atoms[0]))];

			memcpy(text + n, a, strlen(a));
			n += strlen(a);
		}
		text[n] = '\0';
		if (hdr_parse(text, n, &b, NULL) == 0) {
			size_t at = b.skip, kept = 0;

			for (i = 0; i < b.n; i++) {
				assert_int_equal(b.v[i].off, at);
				at += b.v[i].len;
				assert_null(strpbrk(b.v[i].value, "\r\n"));
				if (strcasecmp(b.v[i].name, "Bcc") != 0)
					kept += b.v[i].len;
			}
			assert_int_equal(at, b.end);
			assert_true(b.end <= b.body && b.body <= n);
			buf_init(&out, 1 << 20);
			assert_int_equal(hdr_strip_bcc(text, n, &b, &out, NULL), 0);
			assert_int_equal(out.len, kept + (n - b.end) +
			    (!b.blank && b.body < n ? (b.crlf ? 2 : 1) : 0));
			buf_free(&out);
			hdr_block_free(&b);
		}
		addr_list_init(&l, 100);
		if (hdr_parse_addr_list(text, &l, NULL) == 0) {
			lists++;
			for (i = 0; i < l.n; i++) {
				struct addr_mailbox mb;

				assert_int_equal(addr_parse_mailbox(l.v[i].addr, &mb, NULL), 0);
			}
		}
		addr_list_free(&l);
	}
	assert_true(lists > 100);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_lf),
		cmocka_unit_test(test_parse_crlf_and_lookup),
		cmocka_unit_test(test_parse_shapes),
		cmocka_unit_test(test_parse_bounds),
		cmocka_unit_test(test_addr_lists),
		cmocka_unit_test(test_addr_lists_bad),
		cmocka_unit_test(test_recipients),
		cmocka_unit_test(test_strip_bcc),
		cmocka_unit_test(test_random_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
