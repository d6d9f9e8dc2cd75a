/* test_addr.c - envelope mailboxes, SMTP paths, allowed_from patterns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "mail/addr.h"

/* Parse text; expect success and the normalised form want. */
static void
ok_as(const char *text, const char *want, unsigned flags)
{
	struct addr_mailbox mb;
	struct op_err e;

	err_clear(&e);
	if (addr_parse_mailbox(text, &mb, &e) != 0)
		fail_msg("refused \"%s\": %s", text, e.msg);
	assert_string_equal(mb.addr, want);
	assert_int_equal(mb.flags, flags);
	assert_int_equal(mb.addr[mb.local_len], '@');
}

static void
ok_same(const char *text)
{
	ok_as(text, text, 0);
}

/* Expect refusal with ERR_DATA and a message containing why. */
static void
bad(const char *text, const char *why)
{
	struct addr_mailbox mb;
	struct op_err e;

	err_clear(&e);
	if (addr_parse_mailbox(text, &mb, &e) == 0)
		fail_msg("accepted \"%s\" as \"%s\"", text, mb.addr);
	assert_int_equal(e.kind, ERR_DATA);
	if (why != NULL && strstr(e.msg, why) == NULL)
		fail_msg("\"%s\": message \"%s\" lacks \"%s\"", text, e.msg, why);
}

static void
test_valid(void **state)
{
	(void)state;
	ok_same("user@example.org");
	ok_same("first.last+tag@sub.example.co.uk");
	ok_same("User@Example.ORG");                 /* case is kept */
	ok_same("u@localhost");
	ok_same("x@a-b.c0");
	ok_same("o'brien@example.ie");
	ok_same("#&'*+-/=?^_`{|}~@example.org");      /* atext, less % and ! */
	ok_as("user@[192.0.2.1]", "user@[192.0.2.1]", ADDR_F_LITERAL);
	ok_as("user@[IPv6:2001:db8::1]", "user@[IPv6:2001:db8::1]", ADDR_F_LITERAL);
	ok_as("user@[IPv6:::ffff:192.0.2.1]", "user@[IPv6:::ffff:192.0.2.1]", ADDR_F_LITERAL);
}

static void
test_quoted(void **state)
{
	(void)state;
	ok_as("\"a b\"@x.org", "\"a b\"@x.org", ADDR_F_QUOTED);
	/* quotes that are not needed are dropped (RFC 5321 section 4.1.2) */
	ok_as("\"john\"@x.org", "john@x.org", 0);
	ok_as("\"j\\ohn\"@x.org", "john@x.org", 0);
	ok_as("\"a\\\"b\"@x.org", "\"a\\\"b\"@x.org", ADDR_F_QUOTED);
	ok_as("\"a\\\\b\"@x.org", "\"a\\\\b\"@x.org", ADDR_F_QUOTED);
	ok_as("\"a..b\"@x.org", "\"a..b\"@x.org", ADDR_F_QUOTED);
	ok_as("\"$(id)\"@x.org", "\"$(id)\"@x.org", ADDR_F_QUOTED);
	ok_as("\"a>b\"@x.org", "\"a>b\"@x.org", ADDR_F_QUOTED);
}

/*
 * Shell look-alikes: Outpost never hands an address to a shell, so atext
 * characters are data.  Backticks and '$' are atext and accepted; '(' and
 * ')' are not atext (RFC 5322 section 3.2.3), so "$(id)" unquoted is not
 * an address at all.
 */
static void
test_shell_lookalikes(void **state)
{
	(void)state;
	ok_same("`id`@x.org");
	ok_same("$id@x.org");
	ok_same("a|b@x.org");
	bad("$(id)@x.org", "'('");
	bad("a;b@x.org", "';'");
	bad("a<b@x.org", "'<'");
	bad("a\\b@x.org", "'\\'");
}

static void
test_hostile(void **state)
{
	(void)state;
	bad("a@b@c", "more than one '@'");
	bad("u@x@y", "more than one '@'");
	bad("@a,@b:u@c", "source route");
	bad("@a:u@c", "source route");
	bad("u%x@y", "percent hack");
	bad("\"u%x\"@y", "percent hack");
	bad("x!u@y", "bang path");
	bad("\"x!u\"@y", "bang path");
	bad("\"a@b\"@x.org", "'@' inside");
	bad("u@", "no domain");
	bad("u@.x", "empty label");
	bad("u@x..y", "empty label");
	bad("u@x.", "empty label");
	bad("", "empty");
	bad("user", "no '@'");
	bad("@x.org", "empty local part");
	bad("\"\"@x.org", "empty local part");
	bad(".u@x.org", "misplaced dot");
	bad("u.@x.org", "misplaced dot");
	bad("u..v@x.org", "misplaced dot");
	bad("a b@x.org", "space");
	bad("u@x y.org", "space");
	bad(" u@x.org", "space");
	bad("u@x.org ", "space");
	bad("u\r\n@x.org", "line break");
	bad("u@x.org\r\nRCPT TO:<evil@y.org>", "line break");
	bad("u@x.org\n", "line break");
	bad("\"a\r\nb\"@x.org", "line break");
	bad("u\x01@x.org", "control character");
	bad("u@x\x7f.org", "control character");
	bad("\"a\tb\"@x.org", "control character");
	bad("\"unterminated@x.org", "'@' inside");
	bad("\"unterminated", "unterminated");
	bad("\"a\"b@x.org", NULL);
	bad("<u@x.org>", "'<'");
	bad("u@x.org>", "'>'");
	bad("u@-x.org", "starts with '-'");
	bad("u@x-.org", "ends with '-'");
	bad("u@x_y.org", "'_'");
	bad("u@x.org,v@y.org", "','");
}

static void
test_literals(void **state)
{
	(void)state;
	bad("u@[1.2.3]", "literal");
	bad("u@[1.2.3.4.5]", "literal");
	bad("u@[256.1.1.1]", "literal");
	bad("u@[1.2.3.1234]", "literal");
	bad("u@[1.2.3.4", "']'");
	bad("u@[]", "literal");
	bad("u@[IPv6:zz::1]", "IPv6");
	bad("u@[IPv6:]", "IPv6");
	bad("u@[tag:stuff]", "literal");
	bad("u@[1.2.3.4]x", NULL);
}

static void
test_utf8(void **state)
{
	(void)state;
	ok_as("j\xc3\xb6rg@m\xc3\xbcnchen.de", "j\xc3\xb6rg@m\xc3\xbcnchen.de", ADDR_F_UTF8);
	ok_as("\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a",
	    "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a", ADDR_F_UTF8);
	ok_as("\"\xc3\xa9 x\"@x.org", "\"\xc3\xa9 x\"@x.org", ADDR_F_UTF8 | ADDR_F_QUOTED);
	bad("\xff@x.org", "UTF-8");
	bad("\xc3@x.org", "UTF-8");                   /* truncated */
	bad("\xc0\xaf@x.org", "UTF-8");               /* overlong '/' */
	bad("\xe0\x80\xaf@x.org", "UTF-8");           /* overlong */
	bad("\xed\xa0\x80@x.org", "UTF-8");           /* surrogate */
	bad("\xf4\x90\x80\x80@x.org", "UTF-8");       /* above U+10FFFF */
	bad("u@x\xc3.org", "UTF-8");
	bad("\xc2\x85@x.org", "control character");   /* C1 NEL */
}

static void
test_limits(void **state)
{
	char local[70], text[400], label[70];
	size_t i;

	(void)state;
	memset(local, 'a', 64);
	local[64] = '\0';
	snprintf(text, sizeof(text), "%s@x.org", local);
	ok_same(text);
	local[64] = 'a';
	local[65] = '\0';
	snprintf(text, sizeof(text), "%s@x.org", local);
	bad(text, "longer than 64");
	/* quoting counts: 63 characters plus two quotes is 65 */
	memset(local, 'a', 63);
	local[10] = ' ';
	local[63] = '\0';
	snprintf(text, sizeof(text), "\"%s\"@x.org", local);
	bad(text, "longer than 64");

	memset(label, 'b', 63);
	label[63] = '\0';
	snprintf(text, sizeof(text), "u@%s.org", label);
	ok_same(text);
	snprintf(text, sizeof(text), "u@%sb.org", label);
	bad(text, "label is longer than 63");

	/* 254 octets in all (a path of 256 with its brackets) */
	memset(text, 0, sizeof(text));
	memcpy(text, "u@", 2);
	for (i = 2; i < 254; i++)
		text[i] = (i % 50 == 0) ? '.' : 'd';
	ok_same(text);
	text[254] = 'd';
	bad(text, "longer than 254");
	memset(text, 'a', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	bad(text, "longer than");
}

static void
test_compare(void **state)
{
	struct addr_mailbox a, b;

	(void)state;
	assert_true(addr_domain_equal("Example.ORG", "example.org"));
	assert_false(addr_domain_equal("example.org", "example.org."));
	assert_false(addr_domain_equal("example.org", "example.com"));
	assert_false(addr_domain_equal("m\xc3\xbcnchen.de", "m\xc3\x9cnchen.de"));
	assert_int_equal(addr_parse_mailbox("u@X.org", &a, NULL), 0);
	assert_int_equal(addr_parse_mailbox("u@x.ORG", &b, NULL), 0);
	assert_true(addr_mailbox_equal(&a, &b));
	assert_string_equal(addr_domain(&a), "X.org");
	assert_int_equal(addr_parse_mailbox("U@x.org", &b, NULL), 0);
	assert_false(addr_mailbox_equal(&a, &b));     /* local parts: exact */
	assert_int_equal(addr_parse_mailbox("\"u\"@x.org", &b, NULL), 0);
	assert_true(addr_mailbox_equal(&a, &b));      /* normalised */
}

static void
path_ok(const char *text, int kind, struct addr_path *p)
{
	struct op_err e;

	err_clear(&e);
	if (addr_parse_path(text, kind, p, &e) != 0)
		fail_msg("refused path \"%s\": %s", text, e.msg);
}

static void
path_bad(const char *text, int kind, const char *why)
{
	struct addr_path p;
	struct op_err e;

	err_clear(&e);
	if (addr_parse_path(text, kind, &p, &e) == 0)
		fail_msg("accepted path \"%s\"", text);
	assert_int_equal(e.kind, ERR_DATA);
	if (why != NULL && strstr(e.msg, why) == NULL)
		fail_msg("\"%s\": message \"%s\" lacks \"%s\"", text, e.msg, why);
}

static void
test_path(void **state)
{
	struct addr_path p, copy;

	(void)state;
	path_ok("<u@x.org>", ADDR_PATH_FORWARD, &p);
	assert_false(p.is_null);
	assert_string_equal(p.mbox.addr, "u@x.org");
	assert_int_equal(p.nparams, 0);

	path_ok("<>", ADDR_PATH_REVERSE, &p);
	assert_true(p.is_null);
	path_bad("<>", ADDR_PATH_FORWARD, "null path");

	path_ok("<u@x.org> SIZE=1234 BODY=8BITMIME SMTPUTF8", ADDR_PATH_REVERSE, &p);
	assert_int_equal(p.nparams, 3);
	assert_string_equal(addr_path_param_key(&p, 0), "SIZE");
	assert_string_equal(addr_path_param_value(&p, 0), "1234");
	assert_string_equal(addr_path_param_key(&p, 2), "SMTPUTF8");
	assert_string_equal(addr_path_param_value(&p, 2), "");
	assert_false(p.has_val[2]);
	assert_string_equal(addr_path_param(&p, "size"), "1234");
	assert_string_equal(addr_path_param(&p, "Body"), "8BITMIME");
	assert_string_equal(addr_path_param(&p, "smtputf8"), "");
	assert_null(addr_path_param(&p, "RET"));
	copy = p;                                      /* no pointers inside */
	assert_string_equal(addr_path_param(&copy, "SIZE"), "1234");

	path_ok("<> SIZE=10", ADDR_PATH_REVERSE, &p);
	assert_true(p.is_null);
	assert_string_equal(addr_path_param(&p, "SIZE"), "10");
	path_ok("<\"a>b\"@x.org>", ADDR_PATH_FORWARD, &p);
	assert_string_equal(p.mbox.addr, "\"a>b\"@x.org");
	path_ok("<u@x.org> ORCPT=rfc822;u+2Bx@x.org NOTIFY=SUCCESS,FAILURE", ADDR_PATH_FORWARD, &p);
	assert_string_equal(addr_path_param(&p, "ORCPT"), "rfc822;u+2Bx@x.org");
	path_ok("<u@x.org> AUTH=<>", ADDR_PATH_REVERSE, &p);
	assert_string_equal(addr_path_param(&p, "AUTH"), "<>");

	path_bad("u@x.org", ADDR_PATH_FORWARD, "angle brackets");
	path_bad(" <u@x.org>", ADDR_PATH_FORWARD, "angle brackets");
	path_bad("<u@x.org", ADDR_PATH_FORWARD, "closing '>'");
	path_bad("<@a,@b:u@c>", ADDR_PATH_FORWARD, "source route");
	path_bad("<u@x.org>SIZE=1", ADDR_PATH_REVERSE, "after the path");
	path_bad("<u@x.org> SIZE=", ADDR_PATH_REVERSE, "empty value");
	path_bad("<u@x.org> =1", ADDR_PATH_REVERSE, "keyword");
	path_bad("<u@x.org> -X=1", ADDR_PATH_REVERSE, "keyword");
	path_bad("<u@x.org> SIZE=1 size=2", ADDR_PATH_REVERSE, "twice");
	path_bad("<u@x.org> SIZE=1=2", ADDR_PATH_REVERSE, "invalid character");
	path_bad("<u@x.org> X=a\tb", ADDR_PATH_REVERSE, "invalid character");
	path_bad("<u@x.org> X=a\r\nRCPT", ADDR_PATH_REVERSE, "invalid character");
	path_bad("<u@x.org> X_Y=1", ADDR_PATH_REVERSE, "keyword");
	path_bad("<u%x@y.org>", ADDR_PATH_FORWARD, "percent hack");
	path_bad("<a@b@c>", ADDR_PATH_FORWARD, "more than one");
}

static void
test_path_limits(void **state)
{
	char text[600];
	struct addr_path p;
	size_t i, o;

	(void)state;
	/* a path of exactly 256 octets: <, 64 + @ + 189, > */
	o = 0;
	text[o++] = '<';
	for (i = 0; i < 64; i++)
		text[o++] = 'l';
	text[o++] = '@';
	for (i = 0; i < 189; i++)
		text[o++] = (i % 40 == 39) ? '.' : 'd';
	text[o++] = '>';
	text[o] = '\0';
	assert_int_equal(o, 256);
	path_ok(text, ADDR_PATH_FORWARD, &p);
	memmove(text + 66, text + 65, o - 65 + 1);
	text[65] = 'd';
	path_bad(text, ADDR_PATH_FORWARD, "longer than");

	/* at most 16 parameters */
	o = (size_t)snprintf(text, sizeof(text), "<u@x.org>");
	for (i = 0; i < ADDR_PARAMS_MAX; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, " K%zu=v", i);
	path_ok(text, ADDR_PATH_REVERSE, &p);
	assert_int_equal(p.nparams, ADDR_PARAMS_MAX);
	snprintf(text + o, sizeof(text) - o, " K99=v");
	path_bad(text, ADDR_PATH_REVERSE, "more than 16");
}

static int
match(const char *pattern, const char *addr)
{
	struct addr_mailbox mb;

	assert_int_equal(addr_parse_mailbox(addr, &mb, NULL), 0);
	return addr_match_pattern(pattern, &mb);
}

static void
test_pattern(void **state)
{
	struct op_err e;

	(void)state;
	assert_true(match("*@example.com", "a@example.com"));
	assert_true(match("*@example.com", "Billing@EXAMPLE.com"));
	assert_false(match("*@example.com", "a@example.org"));
	assert_false(match("*@example.com", "a@sub.example.com"));
	assert_false(match("*@example.com", "a@evilexample.com"));
	assert_false(match("*@example.com", "a@example.com.evil.org"));
	assert_true(match("billing@example.com", "billing@example.com"));
	assert_true(match("billing@example.com", "Billing@Example.com"));
	assert_false(match("billing@example.com", "billing2@example.com"));
	assert_false(match("billing@example.com", "xbilling@example.com"));
	assert_true(match("*@*.example.com", "a@x.example.com"));
	assert_true(match("*@*.example.com", "a@x.y.example.com"));
	assert_false(match("*@*.example.com", "a@example.com"));
	assert_false(match("*@*.example.com", "a@evilexample.com"));
	assert_true(match("noreply-*@example.com", "noreply-billing@example.com"));
	assert_false(match("noreply-*@example.com", "billing@example.com"));
	assert_true(match("*@*", "a@b"));
	assert_false(match("example.com", "a@example.com"));
	assert_true(match("\"a b\"@x.org", "\"a b\"@x.org"));

	assert_int_equal(addr_pattern_valid("*@example.com", NULL), 0);
	assert_int_equal(addr_pattern_valid("*@*.example.com", NULL), 0);
	assert_int_equal(addr_pattern_valid("billing@example.com", NULL), 0);
	err_clear(&e);
	assert_int_equal(addr_pattern_valid("example.com", &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_int_equal(addr_pattern_valid("a@b@c", NULL), -1);
	assert_int_equal(addr_pattern_valid("@example.com", NULL), -1);
	assert_int_equal(addr_pattern_valid("a@", NULL), -1);
	assert_int_equal(addr_pattern_valid("a b@x.org", NULL), -1);
	assert_int_equal(addr_pattern_valid("*@exa mple.com", NULL), -1);
	assert_int_equal(addr_pattern_valid("*@x.org\n", NULL), -1);
	assert_int_equal(addr_pattern_valid("", NULL), -1);
	assert_int_equal(addr_pattern_valid("*@\xff", NULL), -1);
}

static void
test_list(void **state)
{
	struct addr_list l;
	struct addr_mailbox a, b, c;
	struct op_err e;

	(void)state;
	assert_int_equal(addr_parse_mailbox("a@x.org", &a, NULL), 0);
	assert_int_equal(addr_parse_mailbox("b@x.org", &b, NULL), 0);
	assert_int_equal(addr_parse_mailbox("c@x.org", &c, NULL), 0);
	addr_list_init(&l, 2);
	assert_int_equal(addr_list_add(&l, &a, 1, NULL), 0);
	assert_int_equal(addr_list_add(&l, &a, 1, NULL), 0);   /* duplicate */
	assert_int_equal(l.n, 1);
	assert_int_equal(addr_list_add(&l, &b, 1, NULL), 0);
	err_clear(&e);
	assert_int_equal(addr_list_add(&l, &c, 1, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[1].addr, "b@x.org");
	addr_list_free(&l);

	addr_list_init(&l, 0);                          /* no bound */
	for (int i = 0; i < 100; i++)
		assert_int_equal(addr_list_add(&l, &a, 0, NULL), 0);
	assert_int_equal(l.n, 100);
	addr_list_free(&l);
}

static unsigned long
next(unsigned long *seed)
{
	*seed = *seed * 6364136223846793005UL + 1442695040888963407UL;
	return *seed >> 33;
}

/* Random strings from an alphabet of troublesome characters: whatever is
 * accepted is clean (no control character, no space outside quotes, one
 * unquoted '@') and parses again to itself. */
static void
test_random_input(void **state)
{
	static const char alphabet[] = "aZ09.@\"\\ \t\r\n%!()<>[]:;,-_`$'*+=?^{|}~#&/"
	    "\xc3\xa9\xff\x01\x7f";
	static const char domain_chars[] = "abc-.19[]:\xc3\xa9@_";
	unsigned long seed = 5321;
	char text[40];
	int iter, accepted = 0;

	(void)state;
	for (iter = 0; iter < 200000; iter++) {
		struct addr_mailbox mb, again;
		size_t n, i;
		int inq = 0, ats = 0;

		/* a local part from the whole alphabet, '@', a domain from a
		 * narrower one, so that some of them are addresses */
		n = 1 + next(&seed) % 12;
		for (i = 0; i < n; i++)
			text[i] = alphabet[next(&seed) % (sizeof(alphabet) - 1)];
		text[n++] = '@';
		for (i = 0; i < 1 + next(&seed) % 12; i++)
			text[n++] = domain_chars[next(&seed) % (sizeof(domain_chars) - 1)];
		text[n] = '\0';
		if (addr_parse_mailbox(text, &mb, NULL) != 0)
			continue;
		accepted++;
		for (i = 0; mb.addr[i] != '\0'; i++) {
			unsigned char c = (unsigned char)mb.addr[i];

			assert_true(c >= 0x20 && c != 0x7f);
			assert_true(c != '%' && c != '!');
			if (inq && c == '\\') {
				i++;
				continue;
			}
			if (c == '"')
				inq = !inq;
			else if (!inq && c == '@')
				ats++;
			else if (!inq)
				assert_true(c != ' ');
		}
		assert_int_equal(ats, 1);
		assert_int_equal(addr_parse_mailbox(mb.addr, &again, NULL), 0);
		assert_string_equal(again.addr, mb.addr);
	}
	print_message("random addresses: %d of 200000 accepted\n", accepted);
	assert_true(accepted > 500);
}

/* "Name <addr>" as people write it (issue 10): the name taken apart from
 * the address, quotes and quoted pairs removed; no CR, LF or control
 * character in the name, the address as strict as a bare one. */
static void
test_display(void **state)
{
	static const struct { const char *in, *addr, *name; } ok[] = {
		{ "a@example.org", "a@example.org", "" },
		{ "  <a@example.org>  ", "a@example.org", "" },
		{ "Survey Team <noreply@example.com>", "noreply@example.com", "Survey Team" },
		{ "\"Doe, Jane\" <j@example.com>", "j@example.com", "Doe, Jane" },
		{ "\"say \\\"hi\\\"\" <h@example.com>", "h@example.com", "say \"hi\"" },
		{ "Jos\xc3\xa9 <j@example.com>", "j@example.com", "Jos\xc3\xa9" },
		{ "a <b> <c@example.com>", "c@example.com", "a <b>" },
	};
	static const char *const bad[] = {
		"Survey Team noreply@example.com", "X\r\nBcc: e@example.org <a@example.com>",
		"X\n <a@example.com>", "X\tY <a@example.com>", "Team <not an address>",
		"Team <a@example.com", "Team a@example.com>", "<>", "", "\xff <a@example.com>",
		"Team <a%b@example.com>",
	};
	struct addr_mailbox mb;
	char name[ADDR_NAME_MAX + 1], longname[ADDR_NAME_MAX + 40];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(addr_parse_display(ok[i].in, &mb, name, sizeof(name), NULL), 0);
		assert_string_equal(mb.addr, ok[i].addr);
		assert_string_equal(name, ok[i].name);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(addr_parse_display(bad[i], &mb, name, sizeof(name), NULL), -1);
	memset(longname, 'n', ADDR_NAME_MAX + 1);
	snprintf(longname + ADDR_NAME_MAX + 1, 30, " <a@example.org>");
	assert_int_equal(addr_parse_display(longname, &mb, name, sizeof(name), NULL), -1);
	longname[0] = '"';
	longname[ADDR_NAME_MAX] = '"';
	assert_int_equal(addr_parse_display(longname, &mb, name, sizeof(name), NULL), 0);
	assert_int_equal(strlen(name), ADDR_NAME_MAX - 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_quoted),
		cmocka_unit_test(test_shell_lookalikes),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_compare),
		cmocka_unit_test(test_path),
		cmocka_unit_test(test_path_limits),
		cmocka_unit_test(test_pattern),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_display),
		cmocka_unit_test(test_random_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
