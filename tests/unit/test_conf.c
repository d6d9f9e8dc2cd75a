/*
 * test_conf.c - the settings loader: typed values, the lexer, defaults,
 * every kind of error and its "FILE:LINE: KEY: ..." format, secrets
 * (password_file, password_command), warnings, show, conf_find_path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/conf.h"
#include "config/conf_secret.h"
#include "config/ini.h"

/* Paths in these tests are short: a mkdtemp directory and a file name. */
#define TPATH 256

static char tmpdir[128];

static int
make_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/outpost-conf-XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int
remove_tmpdir(void **state)
{
	DIR *dir = opendir(tmpdir);
	struct dirent *de;
	char path[TPATH + 256];

	(void)state;
	if (dir == NULL)
		return -1;
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmpdir, de->d_name);
		unlink(path);
	}
	closedir(dir);
	return rmdir(tmpdir);
}

/* Write text to tmpdir/name with mode; the full path goes to path. */
static void
write_file(const char *name, const char *text, mode_t mode, char *path,
    size_t pathsz)
{
	int fd;
	size_t n = strlen(text);

	snprintf(path, pathsz, "%s/%s", tmpdir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* Load text as "outpost.conf"; diag is initialised here. */
static int
load(const char *text, struct conf **c, struct buf *diag, struct op_err *e)
{
	buf_init(diag, 64 * 1024);
	err_clear(e);
	return conf_load_text("outpost.conf", text, strlen(text), c, diag, e);
}

/* The load fails and the first problem is exactly want, also first in diag. */
static void
expect_error(const char *text, const char *want)
{
	struct conf *c = NULL;
	struct buf diag;
	struct op_err e;
	size_t n = strlen(want);

	assert_int_equal(load(text, &c, &diag, &e), -1);
	assert_null(c);
	assert_int_equal(e.kind, ERR_CONFIG);
	assert_string_equal(e.msg, want);
	assert_non_null(diag.data);
	assert_true(strncmp(diag.data, want, n) == 0 && diag.data[n] == '\n');
	buf_free(&diag);
}

/* The load succeeds; returns the conf (caller frees) and checks no
 * warning was given unless warn is not NULL (then diag must equal it). */
static struct conf *
expect_ok(const char *text, const char *warn)
{
	struct conf *c = NULL;
	struct buf diag;
	struct op_err e;
	int rc = load(text, &c, &diag, &e);

	if (rc != 0)
		fail_msg("load failed: %s", diag.data != NULL ? diag.data : e.msg);
	assert_non_null(c);
	if (warn == NULL)
		assert_int_equal(diag.len, 0);
	else
		assert_string_equal(diag.data, warn);
	buf_free(&diag);
	return c;
}

static size_t
count_lines(const char *s)
{
	size_t n = 0;

	for (; s != NULL && *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* ---- typed values -------------------------------------------------- */

static void
test_bool(void **state)
{
	static const char *const yes[] = { "yes", "true", "on", "YES", "True", "On" };
	static const char *const no[] = { "no", "false", "off", "NO", "False", "oFF" };
	static const char *const bad[] = { "", "1", "0", "y", "yess", " yes", "enable" };
	struct op_err e;
	size_t i;
	int b;

	(void)state;
	for (i = 0; i < 6; i++) {
		b = -1;
		assert_int_equal(conf_parse_bool(yes[i], &b), 0);
		assert_int_equal(b, 1);
		assert_int_equal(conf_parse_bool(no[i], &b), 0);
		assert_int_equal(b, 0);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(conf_parse_bool(bad[i], &b), -1);
	assert_int_equal(conf_parse_bool_e("maybe", &b, &e), -1);
	assert_int_equal(e.kind, ERR_CONFIG);
	assert_string_equal(e.msg, "'maybe' is not yes or no (also true/false, on/off)");
}

static void
test_duration(void **state)
{
	struct op_err e;
	uint32_t s = 0;

	(void)state;
	assert_int_equal(conf_parse_duration("30s", &s), 0);
	assert_int_equal(s, 30);
	assert_int_equal(conf_parse_duration("5m", &s), 0);
	assert_int_equal(s, 300);
	assert_int_equal(conf_parse_duration("2h", &s), 0);
	assert_int_equal(s, 7200);
	assert_int_equal(conf_parse_duration("5d", &s), 0);
	assert_int_equal(s, 432000);
	assert_int_equal(conf_parse_duration("4294967295s", &s), 0);
	assert_int_equal(s, 4294967295U);

	assert_int_equal(conf_parse_duration_e("30", &s, &e), -1);
	assert_string_equal(e.msg, "'30' has no unit; write a unit: 30s, 5m, 2h or 5d");
	assert_int_equal(conf_parse_duration_e("", &s, &e), -1);
	assert_string_equal(e.msg, "needs a duration; write a unit: 30s, 5m, 2h or 5d");
	assert_int_equal(conf_parse_duration_e("5x", &s, &e), -1);
	assert_string_equal(e.msg, "'5x' is not a duration; write a number and a "
	    "unit: 30s, 5m, 2h or 5d");
	assert_int_equal(conf_parse_duration_e("0s", &s, &e), -1);
	assert_string_equal(e.msg, "'0s' must be more than zero");
	assert_int_equal(conf_parse_duration_e("4294967296s", &s, &e), -1);
	assert_string_equal(e.msg, "'4294967296s' is too long (at most 4294967295s)");
	assert_int_equal(conf_parse_duration_e("49711d", &s, &e), -1);
	assert_string_equal(e.msg, "'49711d' is too long (at most 4294967295s)");
	assert_int_equal(conf_parse_duration("99999999999999999999999m", &s), -1);
	assert_int_equal(conf_parse_duration("m", &s), -1);
	assert_int_equal(conf_parse_duration("-5m", &s), -1);
	assert_int_equal(conf_parse_duration("+5m", &s), -1);
	assert_int_equal(conf_parse_duration("5 m", &s), -1);
	assert_int_equal(conf_parse_duration("1.5h", &s), -1);
	assert_int_equal(conf_parse_duration("5M", &s), -1);
	assert_int_equal(conf_parse_duration("1h30m", &s), -1);
}

static void
test_size(void **state)
{
	struct op_err e;
	uint64_t b = 0;

	(void)state;
	assert_int_equal(conf_parse_size("512K", &b), 0);
	assert_int_equal(b, 512 * 1024);
	assert_int_equal(conf_parse_size("25M", &b), 0);
	assert_int_equal(b, 25 * 1024 * 1024);
	assert_int_equal(conf_parse_size("25m", &b), 0);
	assert_int_equal(b, 25 * 1024 * 1024);
	assert_int_equal(conf_parse_size("1G", &b), 0);
	assert_int_equal(b, 1024ULL * 1024 * 1024);
	assert_int_equal(conf_parse_size("1000", &b), 0);
	assert_int_equal(b, 1000);
	assert_int_equal(conf_parse_size("18446744073709551615", &b), 0);
	assert_true(b == UINT64_MAX);

	assert_int_equal(conf_parse_size_e("25MB", &b, &e), -1);
	assert_string_equal(e.msg, "'25MB' is not a size; write bytes, or a number "
	    "with K, M or G: 512K, 25M, 1G");
	assert_int_equal(conf_parse_size_e("18446744073709551616", &b, &e), -1);
	assert_string_equal(e.msg, "'18446744073709551616' is too large");
	assert_int_equal(conf_parse_size_e("17179869184G", &b, &e), -1);
	assert_string_equal(e.msg, "'17179869184G' is too large");
	assert_int_equal(conf_parse_size_e("0", &b, &e), -1);
	assert_string_equal(e.msg, "'0' must be more than zero");
	assert_int_equal(conf_parse_size("", &b), -1);
	assert_int_equal(conf_parse_size("K", &b), -1);
	assert_int_equal(conf_parse_size("-1", &b), -1);
	assert_int_equal(conf_parse_size("1.5M", &b), -1);
	assert_int_equal(conf_parse_size("25 M", &b), -1);
}

static void
test_format(void **state)
{
	char v[24];

	(void)state;
	conf_format_duration(90, v, sizeof(v));
	assert_string_equal(v, "90s");
	conf_format_duration(300, v, sizeof(v));
	assert_string_equal(v, "5m");
	conf_format_duration(7200, v, sizeof(v));
	assert_string_equal(v, "2h");
	conf_format_duration(5 * 86400, v, sizeof(v));
	assert_string_equal(v, "5d");
	conf_format_duration(0, v, sizeof(v));
	assert_string_equal(v, "0s");
	conf_format_duration(UINT32_MAX, v, sizeof(v));
	assert_string_equal(v, "4294967295s");
	conf_format_size(25 * 1024 * 1024, v, sizeof(v));
	assert_string_equal(v, "25M");
	conf_format_size(512 * 1024, v, sizeof(v));
	assert_string_equal(v, "512K");
	conf_format_size(2ULL << 30, v, sizeof(v));
	assert_string_equal(v, "2G");
	conf_format_size(1000, v, sizeof(v));
	assert_string_equal(v, "1000");
	conf_format_size(UINT64_MAX, v, sizeof(v));
	assert_string_equal(v, "18446744073709551615");
}

static void
test_limits(void **state)
{
	struct conf_limit l[CONF_MAX_LIMITS];
	struct op_err e;
	size_t n = 99;

	(void)state;
	assert_int_equal(conf_parse_limits("14/s, 10000/d", l, CONF_MAX_LIMITS, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(l[0].count, 14);
	assert_int_equal(l[0].period_s, 1);
	assert_int_equal(l[1].count, 10000);
	assert_int_equal(l[1].period_s, 86400);
	assert_int_equal(conf_parse_limits("1/s,2/m,3/h,4/d", l, CONF_MAX_LIMITS, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(l[1].period_s, 60);
	assert_int_equal(l[2].period_s, 3600);
	assert_int_equal(l[3].count, 4);
	assert_int_equal(conf_parse_limits("", l, CONF_MAX_LIMITS, &n), 0);
	assert_int_equal(n, 0);

	assert_int_equal(conf_parse_limits_e("14", l, CONF_MAX_LIMITS, &n, &e), -1);
	assert_string_equal(e.msg, "'14' is not a limit; write N/s, N/m, N/h or N/d "
	    "(for example 14/s, 10000/d)");
	assert_int_equal(conf_parse_limits_e("14/s, 10/x", l, CONF_MAX_LIMITS, &n, &e), -1);
	assert_string_equal(e.msg, "'10/x' is not a limit; write N/s, N/m, N/h or N/d "
	    "(for example 14/s, 10000/d)");
	assert_int_equal(conf_parse_limits_e("14/s, 15/s", l, CONF_MAX_LIMITS, &n, &e), -1);
	assert_string_equal(e.msg, "'15/s': there is already a limit per second");
	assert_int_equal(conf_parse_limits_e("0/m", l, CONF_MAX_LIMITS, &n, &e), -1);
	assert_string_equal(e.msg, "'0/m' allows no message at all; to stop sending, "
	    "set enabled = no");
	assert_int_equal(conf_parse_limits_e("14/s,", l, CONF_MAX_LIMITS, &n, &e), -1);
	assert_string_equal(e.msg, "'14/s,' has an empty item; write N/s, N/m, N/h or "
	    "N/d, separated by commas");
	assert_int_equal(conf_parse_limits_e("99999999999/s", l, CONF_MAX_LIMITS, &n, &e), -1);
	assert_string_equal(e.msg, "'99999999999/s' is too large");
	assert_int_equal(conf_parse_limits_e("1/s, 1/m", l, 1, &n, &e), -1);
	assert_string_equal(e.msg, "'1/s, 1/m' has more than 1 limits");
	assert_int_equal(conf_parse_limits("/s", l, CONF_MAX_LIMITS, &n), -1);
	assert_int_equal(conf_parse_limits("14/ s", l, CONF_MAX_LIMITS, &n), -1);
	assert_int_equal(conf_parse_limits("-1/s", l, CONF_MAX_LIMITS, &n), -1);
	assert_int_equal(conf_parse_limits("14/S", l, CONF_MAX_LIMITS, &n), -1);
}

static void
test_retry(void **state)
{
	uint32_t w[CONF_MAX_RETRY];
	struct op_err e;
	size_t n;
	char many[512];
	int i, len = 0;

	(void)state;
	assert_int_equal(conf_parse_retry("1m, 5m, 15m", w, CONF_MAX_RETRY, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_int_equal(w[0], 60);
	assert_int_equal(w[2], 900);
	assert_int_equal(conf_parse_retry("30s", w, CONF_MAX_RETRY, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(conf_parse_retry("", w, CONF_MAX_RETRY, &n, &e), -1);
	assert_string_equal(e.msg, "needs at least one wait, for example 1m, 5m, 15m");
	assert_int_equal(conf_parse_retry("1m,,5m", w, CONF_MAX_RETRY, &n, &e), -1);
	assert_string_equal(e.msg, "'1m,,5m' has an empty item; write durations "
	    "separated by commas");
	assert_int_equal(conf_parse_retry("1m, 5", w, CONF_MAX_RETRY, &n, &e), -1);
	assert_string_equal(e.msg, "'5' has no unit; write a unit: 30s, 5m, 2h or 5d");
	for (i = 0; i < CONF_MAX_RETRY + 1; i++)
		len += snprintf(many + len, sizeof(many) - (size_t)len, "%s1m",
		    i ? "," : "");
	assert_int_equal(conf_parse_retry(many, w, CONF_MAX_RETRY, &n, &e), -1);
	assert_non_null(strstr(e.msg, "has more than 32 waits"));
}

static void
test_security_and_port(void **state)
{
	struct op_err e;
	unsigned p;
	int s;

	(void)state;
	assert_int_equal(conf_parse_security("none", &s), 0);
	assert_int_equal(s, CONF_SEC_NONE);
	assert_int_equal(conf_parse_security("starttls", &s), 0);
	assert_int_equal(s, CONF_SEC_STARTTLS);
	assert_int_equal(conf_parse_security("tls", &s), 0);
	assert_int_equal(s, CONF_SEC_TLS);
	assert_int_equal(conf_parse_security("STARTTLS", &s), 0);
	assert_int_equal(s, CONF_SEC_STARTTLS);
	assert_int_equal(conf_parse_security_e("ssl", &s, &e), -1);
	assert_string_equal(e.msg, "'ssl' is not none, starttls or tls (tls is "
	    "implicit TLS, also called SSL, on port 465; starttls is port 587)");
	assert_int_equal(conf_parse_security("", &s), -1);

	assert_int_equal(conf_parse_port("1", &p, &e), 0);
	assert_int_equal(p, 1);
	assert_int_equal(conf_parse_port("65535", &p, &e), 0);
	assert_int_equal(p, 65535);
	assert_int_equal(conf_parse_port("0", &p, &e), -1);
	assert_string_equal(e.msg, "'0' is not a port (1..65535)");
	assert_int_equal(conf_parse_port("65536", &p, &e), -1);
	assert_int_equal(conf_parse_port("99999999999999999999999", &p, &e), -1);
	assert_int_equal(conf_parse_port("", &p, &e), -1);
	assert_int_equal(conf_parse_port("+25", &p, &e), -1);
	assert_int_equal(conf_parse_port("smtp", &p, &e), -1);
}

static void
test_address(void **state)
{
	static const char *const good[] = {
		"a@b.c", "noreply@example.com", "first.last+tag@sub.example.org",
		"x@localhost", "o'brien@example.ie", "user_1=x@ex-ample.com",
	};
	static const struct { const char *in, *why; } bad[] = {
		{ "", "needs an email address (local@domain)" },
		{ "a", "'a' is not a valid address: it has no '@' (write local@domain)" },
		{ "@b.c", "'@b.c' is not a valid address: it has nothing before '@'" },
		{ "a@", "'a@' is not a valid address: it has no domain after '@'" },
		{ "a b@c.d", "'a b@c.d' is not a valid address: it has a space" },
		{ "a@b..c", "'a@b..c' is not a valid address: it has an empty label in "
		  "the domain (two dots, or a dot at an end)" },
		{ "a@b.c.", "'a@b.c.' is not a valid address: it has an empty label in "
		  "the domain (two dots, or a dot at an end)" },
		{ ".a@b.c", "'.a@b.c' is not a valid address: it has a dot at an end of "
		  "the local part" },
		{ "a.@b.c", "'a.@b.c' is not a valid address: it has a dot at an end of "
		  "the local part" },
		{ "a..b@c.d", "'a..b@c.d' is not a valid address: it has two dots in a row" },
		{ "a@b@c", "'a@b@c' is not a valid address: it has more than one '@'" },
		{ "a@-b.c", "'a@-b.c' is not a valid address: it has a domain label "
		  "starting with '-'" },
		{ "a@b-.c", "'a@b-.c' is not a valid address: it has a domain label "
		  "ending in '-'" },
		{ "<a@b.c>", "'<a@b.c>' is not a valid address: it must be written "
		  "without <>" },
		{ "a@b.c\r\n", "'a@b.c\\r\\n' is not a valid address: it has a control "
		  "or non-ASCII character" },
		{ "\"q\"@b.c", "'\"q\"@b.c' is not a valid address: it has a "
		  "character that needs quoting in the local part (quoted local parts "
		  "are not accepted)" },
		{ "\xc3\xa4@b.c", "'\\xc3\\xa4@b.c' is not a valid address: it has a "
		  "control or non-ASCII character" },
		{ "a@b_c.d", "'a@b_c.d' is not a valid address: it has a character a "
		  "domain cannot hold (letters, digits, '-' and '.' only)" },
	};
	char longlocal[80], longlabel[100];
	struct op_err e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (conf_check_address(good[i], &e) != 0)
			fail_msg("%s: %s", good[i], e.msg);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(conf_check_address(bad[i].in, &e), -1);
		assert_int_equal(e.kind, ERR_CONFIG);
		assert_string_equal(e.msg, bad[i].why);
	}
	memset(longlocal, 'a', 65);
	snprintf(longlocal + 65, sizeof(longlocal) - 65, "@b.c");
	assert_int_equal(conf_check_address(longlocal, &e), -1);
	assert_non_null(strstr(e.msg, "local part longer than 64 bytes"));
	memset(longlabel, 'a', 64);
	snprintf(longlabel + 64, sizeof(longlabel) - 64, ".c");
	assert_int_equal(conf_check_host(longlabel, &e), -1);
	assert_non_null(strstr(e.msg, "label longer than 63 bytes"));
}

static void
test_host(void **state)
{
	static const char *const good[] = {
		"smtp.example.com", "127.0.0.1", "::1", "[::1]", "localhost",
		"mail-1.example.org", "2001:db8::25",
	};
	struct op_err e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (conf_check_host(good[i], &e) != 0)
			fail_msg("%s: %s", good[i], e.msg);
	assert_int_equal(conf_check_host("smtp.example.com:587", &e), -1);
	assert_string_equal(e.msg, "'smtp.example.com:587' is not a host name "
	    "(write the port in its own key, not host:port)");
	assert_int_equal(conf_check_host("", &e), -1);
	assert_int_equal(conf_check_host("a b", &e), -1);
	assert_int_equal(conf_check_host("-a.com", &e), -1);
	assert_int_equal(conf_check_host("[1.2.3.4]", &e), -1);
	assert_string_equal(e.msg, "'[1.2.3.4]' is not an IPv6 address");
}

/* ---- the lexer ---------------------------------------------------- */

static void
lex(const char *line, struct ini_line *l, int want_rc, int want_kind)
{
	assert_int_equal(ini_parse_line(line, strlen(line), l), want_rc);
	assert_int_equal(l->kind, want_kind);
}

static void
test_lexer(void **state)
{
	struct ini_line l;
	struct buf b;
	char longline[INI_LINE_MAX + 10];

	(void)state;
	lex("", &l, 0, INI_BLANK);
	lex("   \t ", &l, 0, INI_BLANK);
	lex("; comment", &l, 0, INI_COMMENT);
	lex("  # comment = with equals", &l, 0, INI_COMMENT);

	lex("[profile primary]   ; the main one", &l, 0, INI_SECTION);
	assert_string_equal(l.name, "profile");
	assert_string_equal(l.arg, "primary");
	ini_line_free(&l);
	lex("[ server ]", &l, 0, INI_SECTION);
	assert_string_equal(l.name, "server");
	assert_null(l.arg);
	ini_line_free(&l);
	lex("[profile x", &l, -1, INI_BAD);
	assert_string_equal(l.why, "the section header has no closing ']'");
	ini_line_free(&l);
	lex("[server] junk", &l, -1, INI_BAD);
	assert_string_equal(l.why, "text after the section header's ']'");
	ini_line_free(&l);
	lex("[server];no space", &l, -1, INI_BAD);
	ini_line_free(&l);
	lex("[]", &l, -1, INI_BAD);
	ini_line_free(&l);

	lex("host = smtp.example.com ; comment", &l, 0, INI_KEY);
	assert_string_equal(l.name, "host");
	assert_string_equal(l.arg, "smtp.example.com");
	assert_int_equal(l.quoted, 0);
	assert_int_equal(l.vstart, 7);
	assert_int_equal(l.vend, 23);
	ini_line_free(&l);
	lex("  username=user#1;x", &l, 0, INI_KEY);   /* no blank: kept */
	assert_string_equal(l.arg, "user#1;x");
	ini_line_free(&l);
	lex("retry = 1m, 5m\t# waits", &l, 0, INI_KEY);
	assert_string_equal(l.arg, "1m, 5m");
	ini_line_free(&l);
	lex("smtp_listen =", &l, 0, INI_KEY);
	assert_string_equal(l.arg, "");
	ini_line_free(&l);
	lex("smtp_listen = ; off", &l, 0, INI_KEY);
	assert_string_equal(l.arg, "");
	ini_line_free(&l);
	lex("password = \"a;b #c \\\"d\\\" \\\\e\"   ; note", &l, 0, INI_KEY);
	assert_string_equal(l.arg, "a;b #c \"d\" \\e");
	assert_int_equal(l.quoted, 1);
	ini_line_free(&l);
	lex("password = \"\"", &l, 0, INI_KEY);
	assert_string_equal(l.arg, "");
	ini_line_free(&l);
	lex("password = un\"quoted", &l, 0, INI_KEY);
	assert_string_equal(l.arg, "un\"quoted");
	ini_line_free(&l);
	lex("key = value\r", &l, 0, INI_KEY);          /* CRLF file */
	assert_string_equal(l.arg, "value");
	ini_line_free(&l);

	lex("password = \"open", &l, -1, INI_BAD);
	assert_string_equal(l.why, "the quoted value has no closing '\"'");
	assert_string_equal(l.name, "password");
	ini_line_free(&l);
	lex("password = \"ends in backslash\\", &l, -1, INI_BAD);
	ini_line_free(&l);
	lex("password = \"a\\nb\"", &l, -1, INI_BAD);
	assert_string_equal(l.why, "unknown escape '\\n' in a quoted value (only "
	    "\\\" and \\\\ are allowed)");
	ini_line_free(&l);
	lex("password = \"a\"b", &l, -1, INI_BAD);
	ini_line_free(&l);
	lex("hostname", &l, -1, INI_BAD);
	assert_string_equal(l.name, "hostname");
	assert_string_equal(l.why, "expected KEY = VALUE or a [section] header "
	    "(this line has no '=')");
	ini_line_free(&l);
	lex("= value", &l, -1, INI_BAD);
	assert_string_equal(l.why, "the line has no key before '='");
	ini_line_free(&l);
	lex("my key = v", &l, -1, INI_BAD);
	ini_line_free(&l);

	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	lex(longline, &l, -1, INI_BAD);
	assert_string_equal(l.why, "the line is longer than 4096 bytes");
	ini_line_free(&l);
	assert_int_equal(ini_parse_line("a = b\0c", 7, &l), -1);
	assert_string_equal(l.why, "the line holds a NUL byte");
	ini_line_free(&l);

	/* Values written back read back the same. */
	assert_int_equal(ini_needs_quotes("plain"), 0);
	assert_int_equal(ini_needs_quotes("1m, 5m"), 0);
	assert_int_equal(ini_needs_quotes(""), 1);
	assert_int_equal(ini_needs_quotes(" lead"), 1);
	assert_int_equal(ini_needs_quotes("a;b"), 1);
	assert_int_equal(ini_needs_quotes("a#b"), 1);
	assert_int_equal(ini_needs_quotes("say \"hi\""), 1);
	buf_init(&b, 1024);
	assert_int_equal(ini_append_value(&b, "x \"y\" \\z;", NULL), 0);
	assert_string_equal(b.data, "\"x \\\"y\\\" \\\\z;\"");
	buf_reset(&b);
	assert_int_equal(ini_append_value(&b, "back\\slash", NULL), 0);
	assert_string_equal(b.data, "back\\slash");
	assert_int_equal(ini_append_value(&b, "line\nbreak", NULL), -1);
	buf_free(&b);
}

/* ---- defaults ----------------------------------------------------- */

static void
test_defaults(void **state)
{
	struct conf *c = NULL;
	struct buf diag;
	struct op_err e;
	char host[256];

	(void)state;
	buf_init(&diag, 1024);
	assert_int_equal(conf_load(NULL, &c, &diag, &e), 0);
	assert_int_equal(diag.len, 0);
	assert_null(c->path);
	assert_string_equal(c->server.smtp_listen, "127.0.0.1:2525");
	assert_string_equal(c->server.http_listen, "127.0.0.1:8025");
	assert_string_equal(c->server.data_dir, "./outpost-data");
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	assert_string_equal(c->server.hostname, host);
	assert_int_equal(c->server.max_message_size, 25 * 1024 * 1024);
	assert_int_equal(c->server.queue_lifetime_s, 5 * 86400);
	assert_int_equal(c->server.retention_s, 30 * 86400);
	assert_int_equal(c->server.nretry, 7);
	assert_int_equal(c->server.retry_s[0], 60);
	assert_int_equal(c->server.retry_s[1], 300);
	assert_int_equal(c->server.retry_s[2], 900);
	assert_int_equal(c->server.retry_s[3], 1800);
	assert_int_equal(c->server.retry_s[4], 3600);
	assert_int_equal(c->server.retry_s[5], 7200);
	assert_int_equal(c->server.retry_s[6], 14400);
	assert_null(c->server.api_token);
	assert_null(c->server.smtp_tls_cert);
	assert_null(c->server.smtp_tls_key);
	assert_int_equal(c->server.smtp_auth, 0);
	assert_int_equal(c->server.nhttp_allowed_hosts, 0);
	assert_int_equal(c->server.smtp_max_sessions, 1000);
	assert_int_equal(c->server.smtp_timeout_s, 300);
	assert_int_equal(c->nprofiles, 0);
	assert_int_equal(c->nclients, 0);
	assert_int_equal(c->nreports, 0);
	assert_int_equal(c->redirect_enabled, 0);
	assert_null(conf_profile_first_enabled(c));
	conf_free(c);
	buf_free(&diag);

	/* An empty file is the defaults too. */
	c = expect_ok("", NULL);
	assert_string_equal(c->path, "outpost.conf");
	assert_string_equal(c->server.smtp_listen, "127.0.0.1:2525");
	conf_free(c);
}

static void
test_profile_defaults(void **state)
{
	struct conf *c;
	const struct conf_profile *p;

	(void)state;
	c = expect_ok("[profile a]\nhost = smtp.example.com\n"
	    "[profile b]\nhost = b.example\nsecurity = tls\n"
	    "[profile c]\nhost = c.example\nsecurity = none\nenabled = no\n"
	    "[profile d]\nhost = d.example\nusername = u\npassword = p\n"
	    "[profile e]\nhost = e.example\nusername = u\nauth = no\n"
	    "[report qa@example.com]\n", NULL);
	assert_int_equal(c->nprofiles, 5);
	p = conf_profile_find(c, "a");
	assert_non_null(p);
	assert_int_equal(p->line, 1);
	assert_int_equal(p->enabled, 1);
	assert_string_equal(p->host, "smtp.example.com");
	assert_int_equal(p->port, 587);
	assert_int_equal(p->security, CONF_SEC_STARTTLS);
	assert_int_equal(p->tls_verify, 1);
	assert_null(p->tls_ca_file);
	assert_int_equal(p->auth, 0);
	assert_null(p->username);
	assert_null(p->password);
	assert_int_equal(p->allow_plaintext_auth, 0);
	assert_null(p->from);
	assert_int_equal(p->force_from, 0);
	assert_int_equal(p->nlimits, 0);
	assert_int_equal(p->max_connections, 4);
	assert_int_equal(p->max_messages_per_connection, 100);
	assert_int_equal(p->timeout_s, 30);
	assert_int_equal(conf_profile_find(c, "b")->port, 465);
	assert_int_equal(conf_profile_find(c, "c")->port, 25);
	assert_int_equal(conf_profile_find(c, "c")->enabled, 0);
	p = conf_profile_find(c, "d");
	assert_int_equal(p->auth, 1);
	assert_string_equal(p->password, "p");
	assert_int_equal(conf_profile_find(c, "e")->auth, 0);
	assert_null(conf_profile_find(c, "zz"));
	assert_ptr_equal(conf_profile_first_enabled(c), &c->profiles[0]);
	assert_string_equal(c->profiles[3].name, "d");   /* file order */
	assert_int_equal(c->nreports, 1);
	assert_int_equal(c->reports[0].enabled, 1);
	assert_int_equal(c->reports[0].line, 18);
	conf_free(c);
}

static void
test_full_file(void **state)
{
	struct conf *c;
	const struct conf_profile *p;
	char cert[TPATH], key[TPATH], text[4096];

	(void)state;
	write_file("cert.pem", "cert\n", 0644, cert, sizeof(cert));
	write_file("key.pem", "key\n", 0600, key, sizeof(key));
	snprintf(text, sizeof(text),
	    "# Outpost settings\r\n"
	    "\r\n"
	    "[server]\r\n"
	    "  smtp_listen = 0.0.0.0:2525     ; all addresses\r\n"
	    "http_listen =                    ; off\r\n"
	    "data_dir = /var/lib/outpost\r\n"
	    "hostname = mail.example.org\r\n"
	    "max_message_size = 10M\r\n"
	    "queue_lifetime = 2d\r\n"
	    "retention = 7d\r\n"
	    "retry = 30s, 2m\r\n"
	    "api_token = 0123456789abcdef0123\r\n"
	    "smtp_tls_cert = %s\r\n"
	    "smtp_tls_key = %s\r\n"
	    "smtp_auth = on\r\n"
	    "http_allowed_hosts = outpost.example.org, 10.0.0.5\r\n"
	    "smtp_max_sessions = 50\r\n"
	    "smtp_timeout = 2m\r\n"
	    "\r\n"
	    "[client billing-app]\r\n"
	    "password = \"app pass; #1\"\r\n"
	    "allowed_from = *@example.com, billing@example.net, *\r\n"
	    "\r\n"
	    "[profile primary]\r\n"
	    "enabled = true\r\n"
	    "host = smtp.example.com\r\n"
	    "port = 2587\r\n"
	    "security = starttls\r\n"
	    "tls_verify = yes\r\n"
	    "tls_ca_file = %s\r\n"
	    "auth = yes\r\n"
	    "username = apikey\r\n"
	    "password = \"se;cr#et \\\"x\\\"\"   # quoted\r\n"
	    "allow_plaintext_auth = no\r\n"
	    "from = noreply@example.com\r\n"
	    "force_from = yes\r\n"
	    "limits = 14/s, 10000/d\r\n"
	    "max_connections = 8\r\n"
	    "max_messages_per_connection = 500\r\n"
	    "timeout = 1m\r\n"
	    "\r\n"
	    "[redirect]\r\n"
	    "enabled = yes\r\n"
	    "[report qa@example.com]\r\n"
	    "[report dev@example.com]\r\n"
	    "enabled = no\r\n", cert, key, cert);
	c = expect_ok(text, NULL);
	assert_string_equal(c->server.smtp_listen, "0.0.0.0:2525");
	assert_string_equal(c->server.http_listen, "");
	assert_string_equal(c->server.data_dir, "/var/lib/outpost");
	assert_string_equal(c->server.hostname, "mail.example.org");
	assert_int_equal(c->server.max_message_size, 10 * 1024 * 1024);
	assert_int_equal(c->server.queue_lifetime_s, 2 * 86400);
	assert_int_equal(c->server.retention_s, 7 * 86400);
	assert_int_equal(c->server.nretry, 2);
	assert_int_equal(c->server.retry_s[0], 30);
	assert_int_equal(c->server.retry_s[1], 120);
	assert_string_equal(c->server.api_token, "0123456789abcdef0123");
	assert_string_equal(c->server.smtp_tls_cert, cert);
	assert_string_equal(c->server.smtp_tls_key, key);
	assert_int_equal(c->server.smtp_auth, 1);
	assert_int_equal(c->server.nhttp_allowed_hosts, 2);
	assert_string_equal(c->server.http_allowed_hosts[1], "10.0.0.5");
	assert_int_equal(c->server.smtp_max_sessions, 50);
	assert_int_equal(c->server.smtp_timeout_s, 120);
	assert_int_equal(c->nclients, 1);
	assert_string_equal(c->clients[0].name, "billing-app");
	assert_string_equal(c->clients[0].password, "app pass; #1");
	assert_int_equal(c->clients[0].nallowed_from, 3);
	assert_string_equal(c->clients[0].allowed_from[0], "*@example.com");
	assert_string_equal(c->clients[0].allowed_from[2], "*");
	p = conf_profile_find(c, "primary");
	assert_int_equal(p->port, 2587);
	assert_string_equal(p->tls_ca_file, cert);
	assert_string_equal(p->password, "se;cr#et \"x\"");
	assert_string_equal(p->from, "noreply@example.com");
	assert_int_equal(p->force_from, 1);
	assert_int_equal(p->nlimits, 2);
	assert_int_equal(p->max_connections, 8);
	assert_int_equal(p->max_messages_per_connection, 500);
	assert_int_equal(p->timeout_s, 60);
	assert_int_equal(c->redirect_enabled, 1);
	assert_int_equal(c->nreports, 2);
	assert_string_equal(c->reports[1].email, "dev@example.com");
	assert_int_equal(c->reports[1].enabled, 0);
	conf_free(c);
}

/* The shipped example passes, when the test runs from the source tree. */
static void
test_example_file(void **state)
{
	struct conf *c = NULL;
	struct buf diag;
	struct op_err e;
	struct stat st;

	(void)state;
	if (stat("outpost.conf.example", &st) != 0)
		skip();
	buf_init(&diag, 64 * 1024);
	if (conf_load("outpost.conf.example", &c, &diag, &e) != 0)
		fail_msg("%s", diag.data != NULL ? diag.data : e.msg);
	assert_int_equal(c->nprofiles, 2);
	assert_string_equal(c->profiles[0].name, "primary");
	assert_string_equal(c->profiles[0].password, "change me; #1");
	assert_int_equal(c->profiles[1].enabled, 0);
	assert_int_equal(c->redirect_enabled, 0);
	assert_int_equal(c->nreports, 1);
	conf_free(c);
	buf_free(&diag);
}

/* ---- errors ------------------------------------------------------- */

static void
test_error_syntax(void **state)
{
	char longline[5000];

	(void)state;
	expect_error("[server]\nbogus = 1\n",
	    "outpost.conf:2: bogus: unknown key in [server]");
	expect_error("[profile a]\nhost = h\nhots = x\n",
	    "outpost.conf:3: hots: unknown key in [profile a]; did you mean 'host'?");
	expect_error("[server]\nhost = x\n",
	    "outpost.conf:2: host: unknown key in [server]; it belongs in "
	    "[profile NAME]");
	expect_error("[server]\nHostName = x\n",
	    "outpost.conf:2: HostName: unknown key in [server]; did you mean "
	    "'hostname'?");
	expect_error("[server]\nhostname\n",
	    "outpost.conf:2: hostname: expected KEY = VALUE or a [section] "
	    "header (this line has no '=')");
	expect_error("; top\nhostname = x\n",
	    "outpost.conf:2: hostname: is outside any section; put it under "
	    "[server] or the section it belongs to");
	expect_error("[server]\nsmtp_auth = no\nsmtp_auth = no\n",
	    "outpost.conf:3: smtp_auth: is set twice in [server] (first at line 2)");
	expect_error("[smtp]\nfoo = bar\n",
	    "outpost.conf:1: [smtp]: unknown section; the sections are [server], "
	    "[client NAME], [profile NAME], [redirect], [report ADDRESS], "
	    "[dkim NAME] and [webhook NAME]");
	expect_error("[server]\n[redirect]\n[server]\n",
	    "outpost.conf:3: [server]: appears twice (first at line 1); put all "
	    "its keys in one section");
	expect_error("[server x]\n", "outpost.conf:1: [server x]: [server] takes no name");
	expect_error("[profile]\n",
	    "outpost.conf:1: [profile]: needs a name: write [profile NAME]");
	expect_error("[report]\n",
	    "outpost.conf:1: [report]: needs a address: write [report ADDRESS]");
	expect_error("[profile a/b]\n",
	    "outpost.conf:1: [profile a/b]: the name 'a/b' may hold only letters, "
	    "digits, '-', '_' and '.'");
	expect_error("[profile -a]\n",
	    "outpost.conf:1: [profile -a]: the name '-a' must start with a letter, "
	    "a digit or '_'");
	expect_error("[report not-an-address]\n",
	    "outpost.conf:1: [report not-an-address]: 'not-an-address' is not a "
	    "valid address: it has no '@' (write local@domain)");
	expect_error("[profile a]\nhost = h\n[profile a]\nhost = h\n",
	    "outpost.conf:3: [profile a]: a profile of this name is already "
	    "defined at line 1; names must be unique");
	expect_error("[client a]\npassword = x\n[client a]\npassword = y\n",
	    "outpost.conf:3: [client a]: a client of this name is already defined "
	    "at line 1; names must be unique");
	expect_error("[report qa@example.com]\n[report QA@example.com]\n",
	    "outpost.conf:2: [report QA@example.com]: this address already has a "
	    "section at line 1");
	expect_error("[profile a\nhost = h\n",
	    "outpost.conf:1: [profile a: the section header has no closing ']'");
	expect_error("[server] x\n",
	    "outpost.conf:1: [server] x: text after the section header's ']'");
	expect_error("[ ]\n",
	    "outpost.conf:1: [ ]: the section header has no name");
	expect_error("[server]\n[]\n",
	    "outpost.conf:2: []: the section header has no name");
	expect_error("[server]\nsmtp/auth = no\n",
	    "outpost.conf:2: smtp: not a valid key name (letters, digits and '_' "
	    "only) before '='");
	expect_error("[server]\n= no\n",
	    "outpost.conf:2: line: the line has no key before '='");
	{
		char key[80], text[160], want[200];

		memset(key, 'k', 65);
		key[65] = '\0';
		snprintf(text, sizeof(text), "[server]\n%s = 1\n", key);
		key[64] = '\0';                /* the message names 64 bytes of it */
		snprintf(want, sizeof(want), "outpost.conf:2: %s: the key name is too "
		    "long", key);
		expect_error(text, want);
		/* 64 bytes is a key name, just not a known one */
		snprintf(text, sizeof(text), "[server]\n%s = 1\n", key);
		snprintf(want, sizeof(want), "outpost.conf:2: %s: unknown key in "
		    "[server]", key);
		expect_error(text, want);
	}
	expect_error("[server]\npassword = \"abc\n",
	    "outpost.conf:2: password: the quoted value has no closing '\"'");
	expect_error("[server]\nhostname = \"a\\tb\"\n",
	    "outpost.conf:2: hostname: unknown escape '\\t' in a quoted value "
	    "(only \\\" and \\\\ are allowed)");
	expect_error("[server]\nhostname = \"a\" b\n",
	    "outpost.conf:2: hostname: text after the closing '\"' (put a comment "
	    "after a space, or the whole value in the quotes)");
	expect_error("[server]\nhostname = \n",
	    "outpost.conf:2: hostname: needs a value (to use the default, remove "
	    "the line)");
	expect_error("[server]\nhostname = \"a\x01\"\n",
	    "outpost.conf:2: hostname: the value holds a control character");
	memset(longline, 'x', sizeof(longline) - 1);
	memcpy(longline, "[server]\n#", 10);
	longline[sizeof(longline) - 1] = '\0';
	expect_error(longline,
	    "outpost.conf:2: line: the line is longer than 4096 bytes");
}

static void
test_error_values(void **state)
{
	(void)state;
	expect_error("[server]\nsmtp_timeout = 30\n",
	    "outpost.conf:2: smtp_timeout: '30' has no unit; write a unit: 30s, "
	    "5m, 2h or 5d");
	expect_error("[server]\nsmtp_timeout = 2h\n",
	    "outpost.conf:2: smtp_timeout: '2h' is out of range (1s to 1h)");
	expect_error("[server]\nmax_message_size = 25\n",
	    "outpost.conf:2: max_message_size: '25' is out of range (1K to 2G)");
	expect_error("[server]\nmax_message_size = 3G\n",
	    "outpost.conf:2: max_message_size: '3G' is out of range (1K to 2G)");
	expect_error("[server]\nsmtp_max_sessions = 0\n",
	    "outpost.conf:2: smtp_max_sessions: '0' is out of range (1 to 100000)");
	expect_error("[server]\nsmtp_max_sessions = many\n",
	    "outpost.conf:2: smtp_max_sessions: 'many' is not a whole number");
	expect_error("[server]\nretry = 1m, 8d\n",
	    "outpost.conf:2: retry: '1m, 8d' is out of range (1s to 7d)");
	expect_error("[server]\nsmtp_listen = 127.0.0.1\n",
	    "outpost.conf:2: smtp_listen: '127.0.0.1' has no port (write host:port)");
	expect_error("[server]\nhttp_listen = 127.0.0.1:0\n",
	    "outpost.conf:2: http_listen: '127.0.0.1:0': port must be 1..65535");
	expect_error("[server]\nhttp_listen = bad host:80\n",
	    "outpost.conf:2: http_listen: 'bad host:80' is not host:port (for "
	    "example 127.0.0.1:2525)");
	expect_error("[server]\nhostname = ::1\n",
	    "outpost.conf:2: hostname: '::1' is not a host name (an EHLO name is "
	    "a domain, for example mail.example.org)");
	expect_error("[server]\napi_token = short\n",
	    "outpost.conf:2: api_token: must be 16 to 256 characters long (for "
	    "example the output of: openssl rand -hex 32)");
	expect_error("[server]\napi_token = \"0123456789 abcdef\"\n",
	    "outpost.conf:2: api_token: may hold only visible ASCII characters "
	    "(no spaces)");
	expect_error("[server]\nsmtp_tls_cert = /nonexistent/cert.pem\n",
	    "outpost.conf:2: smtp_tls_cert: cannot read /nonexistent/cert.pem: "
	    "No such file or directory");
	expect_error("[server]\nhttp_allowed_hosts = a.example, bad_host\n",
	    "outpost.conf:2: http_allowed_hosts: 'bad_host' is not a host name: it "
	    "has a character a domain cannot hold (letters, digits, '-' and '.' "
	    "only)");
	expect_error("[server]\nhttp_allowed_hosts = a.example,\n",
	    "outpost.conf:2: http_allowed_hosts: has an empty item; write items "
	    "separated by commas");
	expect_error("[client a]\npassword = x\nallowed_from = bob*@example.com\n",
	    "outpost.conf:3: allowed_from: 'bob*@example.com': '*' may only stand "
	    "for the whole local part (*@example.com) or for any address (*)");
	expect_error("[client a]\npassword = x\nallowed_from = *@bad..domain\n",
	    "outpost.conf:3: allowed_from: '*@bad..domain' is not a pattern; write "
	    "*@example.com, an address, or *");
	expect_error("[profile a]\nhost = h\nport = 0\n",
	    "outpost.conf:3: port: '0' is not a port (1..65535)");
	expect_error("[profile a]\nhost = h:25\n",
	    "outpost.conf:2: host: 'h:25' is not a host name (write the port in "
	    "its own key, not host:port)");
	expect_error("[profile a]\nhost = h\nsecurity = ssl\n",
	    "outpost.conf:3: security: 'ssl' is not none, starttls or tls (tls is "
	    "implicit TLS, also called SSL, on port 465; starttls is port 587)");
	expect_error("[profile a]\nhost = h\ntls_verify = maybe\n",
	    "outpost.conf:3: tls_verify: 'maybe' is not yes or no (also "
	    "true/false, on/off)");
	expect_error("[profile a]\nhost = h\nfrom = Name a@b.c\n",
	    "outpost.conf:3: from: 'Name a@b.c' is not a valid address: it has "
	    "a space");
	expect_error("[profile a]\nhost = h\nfrom = Name <a b@c.d>\n",
	    "outpost.conf:3: from: address \"a b@c.d\" contains a space "
	    "outside quotes");
	expect_error("[profile a]\nhost = h\nlimits = 14/s, 10/x\n",
	    "outpost.conf:3: limits: '10/x' is not a limit; write N/s, N/m, N/h or "
	    "N/d (for example 14/s, 10000/d)");
	expect_error("[profile a]\nhost = h\nmax_connections = 101\n",
	    "outpost.conf:3: max_connections: '101' is out of range (1 to 100)");
	expect_error("[profile a]\nhost = h\ntimeout = 0s\n",
	    "outpost.conf:3: timeout: '0s' must be more than zero");
	expect_error("[profile a]\nhost = h\nusername = u\n"
	    "password_command = /bin/echo \"open\n",
	    "outpost.conf:4: password_command: the command has a '\"' without its "
	    "closing '\"'");
	{
		char pw[1100], text[1200];

		memset(pw, 'p', 1025);
		pw[1025] = '\0';
		snprintf(text, sizeof(text), "[profile a]\nhost = h\nusername = u\n"
		    "password = %s\n", pw);
		expect_error(text, "outpost.conf:4: password: the password is longer "
		    "than 1024 bytes");
		snprintf(text, sizeof(text), "[client app]\npassword = %s\n", pw);
		expect_error(text, "outpost.conf:2: password: the password is longer "
		    "than 1024 bytes");
		pw[1024] = '\0';                   /* 1024 bytes: accepted */
		snprintf(text, sizeof(text), "[client app]\npassword = %s\n", pw);
		conf_free(expect_ok(text, NULL));
	}
	expect_error("[redirect]\nenabled = perhaps\n",
	    "outpost.conf:2: enabled: 'perhaps' is not yes or no (also "
	    "true/false, on/off)");
	expect_error("[report qa@example.com]\nenabled = 2\n",
	    "outpost.conf:2: enabled: '2' is not yes or no (also true/false, "
	    "on/off)");
}

static void
test_error_cross_checks(void **state)
{
	struct conf *c;
	char cert[TPATH], text[2048];

	(void)state;
	expect_error("[profile a]\nenabled = yes\n",
	    "outpost.conf:1: [profile a]: has no host; add host = the provider's "
	    "SMTP server (for example smtp.example.com)");
	expect_error("[profile a]\nhost = h\nauth = yes\n",
	    "outpost.conf:3: auth: auth = yes needs a username; add username = "
	    "the login the provider gave you");
	/* A profile that logs in without a password is kept (a change of
	 * server over the API clears the password), with a warning. */
	c = expect_ok("[profile a]\nhost = h\nusername = u\n",
	    "warning: outpost.conf:3: username: authentication needs a "
	    "password; add password, password_file or password_command "
	    "(until then profile a cannot send)\n");
	assert_true(c->profiles[0].auth);
	assert_null(c->profiles[0].password);
	conf_free(c);
	c = expect_ok("[profile a]\nhost = h\nauth = yes\nusername = u\n",
	    "warning: outpost.conf:3: auth: authentication needs a password; "
	    "add password, password_file or password_command (until then "
	    "profile a cannot send)\n");
	conf_free(c);
	expect_error("[profile a]\nhost = h\nusername = u\npassword = p\n"
	    "password_command = /bin/echo p\n",
	    "outpost.conf:5: password_command: [profile a] sets more than one "
	    "password; use exactly one of password, password_file and "
	    "password_command");
	expect_error("[profile a]\nhost = h\nsecurity = none\nusername = u\n"
	    "password = p\n",
	    "outpost.conf:3: security: security = none with authentication would "
	    "send the password unencrypted; use starttls or tls, or set "
	    "allow_plaintext_auth = yes to allow that");
	c = expect_ok("[profile a]\nhost = h\nsecurity = none\nusername = u\n"
	    "password = p\nallow_plaintext_auth = yes\n", NULL);
	assert_int_equal(c->profiles[0].port, 25);
	assert_int_equal(c->profiles[0].auth, 1);
	conf_free(c);
	c = expect_ok("[profile a]\nhost = h\nsecurity = none\n", NULL);
	conf_free(c);

	write_file("cross-cert.pem", "x\n", 0644, cert, sizeof(cert));
	snprintf(text, sizeof(text), "[server]\nsmtp_tls_cert = %s\n", cert);
	expect_error(text, "outpost.conf:2: smtp_tls_cert: is set without "
	    "smtp_tls_key; set both or neither");
	snprintf(text, sizeof(text), "[server]\n\nsmtp_tls_key = %s\n", cert);
	expect_error(text, "outpost.conf:3: smtp_tls_key: is set without "
	    "smtp_tls_cert; set both or neither");
	expect_error("[server]\nsmtp_listen = 0.0.0.0:2525\n",
	    "outpost.conf:2: smtp_listen: 0.0.0.0:2525 is not a loopback address, "
	    "so it needs smtp_auth = yes, smtp_tls_cert and smtp_tls_key; Outpost "
	    "will not be an open relay");
	snprintf(text, sizeof(text), "[server]\nsmtp_listen = [::]:25\n"
	    "smtp_tls_cert = %s\nsmtp_tls_key = %s\n", cert, cert);
	expect_error(text, "outpost.conf:2: smtp_listen: [::]:25 is not a "
	    "loopback address, so it needs smtp_auth = yes, smtp_tls_cert and "
	    "smtp_tls_key; Outpost will not be an open relay");
	snprintf(text, sizeof(text), "[server]\nsmtp_listen = 0.0.0.0:25\n"
	    "smtp_auth = yes\nsmtp_tls_cert = %s\nsmtp_tls_key = %s\n"
	    "[client app]\npassword = secret\n", cert, cert);
	c = expect_ok(text, NULL);
	conf_free(c);
	c = expect_ok("[server]\nsmtp_listen = localhost:2525\n"
	    "http_listen = [::1]:8025\n", NULL);
	conf_free(c);
	expect_error("[server]\nsmtp_auth = yes\n",
	    "outpost.conf:2: smtp_auth: is yes but there is no [client NAME] "
	    "section; add one so applications can log in");
	expect_error("[server]\nhttp_listen = 127.0.0.1:2525\n",
	    "outpost.conf:2: http_listen: is the same address as smtp_listen");
	expect_error("[client app]\nallowed_from = *@example.com\n",
	    "outpost.conf:1: [client app]: needs a password: add password = ... "
	    "or password_file = PATH (applications log in with the name of the "
	    "section and this password)");
	expect_error("[client app]\npassword = a\npassword_file = /x\n",
	    "outpost.conf:3: password_file: [client app] sets both password and "
	    "password_file; use one");
	expect_error("[redirect]\nenabled = yes\n[report qa@example.com]\n"
	    "enabled = no\n",
	    "outpost.conf:1: [redirect]: is enabled but there is no enabled "
	    "[report ADDRESS] section, so mail would go nowhere; add one or set "
	    "enabled = no");
	c = expect_ok("[redirect]\nenabled = yes\n[report qa@example.com]\n", NULL);
	assert_int_equal(c->redirect_enabled, 1);
	conf_free(c);
}

/* Every problem is listed, in line order; the first is returned. */
static void
test_error_all_collected(void **state)
{
	struct conf *c = NULL;
	struct buf diag;
	struct op_err e;
	struct buf text;
	int i;

	(void)state;
	assert_int_equal(load("[server]\n"
	    "smtp_timeout = 30\n"
	    "bogus = 1\n"
	    "[profile a]\n"
	    "port = 0\n"
	    "[profile b]\n"
	    "host = h\n", &c, &diag, &e), -1);
	assert_string_equal(diag.data,
	    "outpost.conf:2: smtp_timeout: '30' has no unit; write a unit: 30s, "
	    "5m, 2h or 5d\n"
	    "outpost.conf:3: bogus: unknown key in [server]\n"
	    "outpost.conf:4: [profile a]: has no host; add host = the provider's "
	    "SMTP server (for example smtp.example.com)\n"
	    "outpost.conf:5: port: '0' is not a port (1..65535)\n");
	assert_string_equal(e.msg, "outpost.conf:2: smtp_timeout: '30' has no "
	    "unit; write a unit: 30s, 5m, 2h or 5d");
	buf_free(&diag);

	/* Past CONF_MAX_ERRORS the list stops, saying so. */
	buf_init(&text, 1 << 20);
	buf_appendstr(&text, "[server]\n", NULL);
	for (i = 0; i < 150; i++)
		buf_printf(&text, NULL, "bogus%d = 1\n", i);
	assert_int_equal(load(text.data, &c, &diag, &e), -1);
	assert_int_equal(count_lines(diag.data), CONF_MAX_ERRORS + 1);
	assert_non_null(strstr(diag.data, "outpost.conf: stopping after 100 errors\n"));
	buf_free(&diag);
	buf_free(&text);

	/* More than CONF_MAX_SECTIONS sections. */
	buf_init(&text, 1 << 20);
	for (i = 0; i < CONF_MAX_SECTIONS + 1; i++)
		buf_printf(&text, NULL, "[report r%d@example.com]\n", i);
	assert_int_equal(load(text.data, &c, &diag, &e), -1);
	assert_string_equal(e.msg, "outpost.conf:513: [report r512@example.com]: "
	    "the file has more than 512 sections");
	buf_free(&diag);
	buf_free(&text);
}

/* A section whose name is refused still has its keys checked, so that
 * one bad name does not hide the section's other problems (issue 10). */
static void
test_error_bad_name_keeps_checking(void **state)
{
	struct conf *c = NULL;
	struct buf diag;
	struct op_err e;

	(void)state;
	assert_int_equal(load("[profile Gmail Work]\n"
	    "port = 99999\n"
	    "securty = tls\n"
	    "auth = yes\n"
	    "[client app one]\n"
	    "allowed_from = not an address\n"
	    "[profile ok]\n"
	    "host = h\n"
	    "[profile ok]\n"
	    "port = 0\n", &c, &diag, &e), -1);
	assert_null(c);
	assert_string_equal(diag.data,
	    "outpost.conf:1: [profile Gmail Work]: the name 'Gmail Work' may "
	    "hold only letters, digits, '-', '_' and '.'\n"
	    "outpost.conf:1: [profile Gmail Work]: has no host; add host = the "
	    "provider's SMTP server (for example smtp.example.com)\n"
	    "outpost.conf:2: port: '99999' is not a port (1..65535)\n"
	    "outpost.conf:3: securty: unknown key in [profile Gmail Work]; did "
	    "you mean 'security'?\n"
	    "outpost.conf:4: auth: auth = yes needs a username; add username = "
	    "the login the provider gave you\n"
	    "outpost.conf:5: [client app one]: the name 'app one' may hold only "
	    "letters, digits, '-', '_' and '.'\n"
	    "outpost.conf:5: [client app one]: needs a password: add password = "
	    "... or password_file = PATH (applications log in with the name of "
	    "the section and this password)\n"
	    "outpost.conf:6: allowed_from: 'not an address' is not a valid "
	    "address: it has a space\n"
	    "outpost.conf:9: [profile ok]: a profile of this name is already "
	    "defined at line 7; names must be unique\n"
	    "outpost.conf:9: [profile ok]: has no host; add host = the "
	    "provider's SMTP server (for example smtp.example.com)\n"
	    "outpost.conf:10: port: '0' is not a port (1..65535)\n"
	    "warning: outpost.conf:4: auth: authentication needs a password; "
	    "add password, password_file or password_command (until then "
	    "profile Gmail Work cannot send)\n");
	assert_string_equal(e.msg, "outpost.conf:1: [profile Gmail Work]: the "
	    "name 'Gmail Work' may hold only letters, digits, '-', '_' and '.'");
	buf_free(&diag);
}

static void
test_load_file(void **state)
{
	struct conf *c = NULL;
	struct buf diag;
	struct op_err e;
	char path[TPATH], want[TPATH + 128];
	char *big;
	int fd;

	(void)state;
	buf_init(&diag, 4096);
	snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
	assert_int_equal(conf_load(path, &c, &diag, &e), -1);
	assert_int_equal(e.kind, ERR_CONFIG);
	snprintf(want, sizeof(want), "%s: cannot read: No such file or directory", path);
	assert_string_equal(e.msg, want);
	snprintf(want, sizeof(want), "%s: cannot read: No such file or directory\n", path);
	assert_string_equal(diag.data, want);
	buf_reset(&diag);

	assert_int_equal(conf_load(tmpdir, &c, &diag, &e), -1);
	snprintf(want, sizeof(want), "%s: is not a regular file", tmpdir);
	assert_string_equal(e.msg, want);
	buf_reset(&diag);

	/* Messages name the file as given. */
	write_file("bad.conf", "[server]\nbogus = 1\n", 0600, path, sizeof(path));
	assert_int_equal(conf_load(path, &c, &diag, &e), -1);
	snprintf(want, sizeof(want), "%s:2: bogus: unknown key in [server]", path);
	assert_string_equal(e.msg, want);
	buf_reset(&diag);

	/* Larger than CONF_FILE_MAX. */
	snprintf(path, sizeof(path), "%s/big.conf", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	big = malloc(CONF_FILE_MAX + 1);
	memset(big, '\n', CONF_FILE_MAX + 1);
	assert_int_equal(write(fd, big, CONF_FILE_MAX + 1), CONF_FILE_MAX + 1);
	close(fd);
	free(big);
	assert_int_equal(conf_load(path, &c, &diag, &e), -1);
	snprintf(want, sizeof(want), "%s: is larger than 1048576 bytes", path);
	assert_string_equal(e.msg, want);
	unlink(path);

	/* Larger than CONF_FILE_MAX, handed over as text (the API's path):
	 * the same check, the file named as given. */
	big = malloc(CONF_FILE_MAX + 1);
	memset(big, '\n', CONF_FILE_MAX + 1);
	buf_reset(&diag);
	assert_int_equal(conf_load_text("outpost.conf", big, CONF_FILE_MAX + 1, &c,
	    &diag, &e), -1);
	assert_null(c);
	assert_int_equal(e.kind, ERR_CONFIG);
	assert_string_equal(e.msg, "outpost.conf: file: is larger than 1048576 bytes");
	assert_string_equal(diag.data, "outpost.conf: file: is larger than 1048576 "
	    "bytes\n");
	/* exactly CONF_FILE_MAX (blank lines) is fine */
	assert_int_equal(conf_load_text("outpost.conf", big, CONF_FILE_MAX, &c,
	    NULL, &e), 0);
	conf_free(c);
	c = NULL;
	free(big);

	/* NUL bytes. */
	assert_int_equal(conf_load_text("outpost.conf", "[server]\nhostname = a\0b\n",
	    22, &c, NULL, &e), -1);
	assert_string_equal(e.msg, "outpost.conf:2: hostname: the line holds a NUL byte");
	buf_free(&diag);
}

/* ---- secrets ------------------------------------------------------ */

static void
test_password_file(void **state)
{
	struct conf *c = NULL;
	struct buf diag;
	struct op_err e;
	char pw[TPATH], text[TPATH * 3], want[TPATH * 5];
	char big[CONF_SECRET_MAX + 10];

	(void)state;
	write_file("pw", "s3cret pass\r\nsecond line\n", 0600, pw, sizeof(pw));
	snprintf(text, sizeof(text), "[profile a]\nhost = h\nusername = u\n"
	    "password_file = %s\n[client app]\npassword_file = %s\n", pw, pw);
	c = expect_ok(text, NULL);
	assert_string_equal(c->profiles[0].password, "s3cret pass");
	assert_string_equal(c->profiles[0].password_file, pw);
	assert_int_equal(c->profiles[0].auth, 1);
	assert_string_equal(c->clients[0].password, "s3cret pass");
	conf_free(c);

	/* No line end at all. */
	write_file("pw", "only", 0600, pw, sizeof(pw));
	c = expect_ok(text, NULL);
	assert_string_equal(c->profiles[0].password, "only");
	conf_free(c);

	/* Readable by others: a warning. */
	write_file("pw", "s3cret\n", 0604, pw, sizeof(pw));
	snprintf(want, sizeof(want), "warning: %s: readable by other users; "
	    "chmod 600 %s\nwarning: %s: readable by other users; chmod 600 %s\n",
	    pw, pw, pw, pw);
	c = expect_ok(text, want);
	conf_free(c);

	write_file("pw", "", 0600, pw, sizeof(pw));
	snprintf(want, sizeof(want), "outpost.conf:4: password_file: %s is empty", pw);
	expect_error(text, want);
	write_file("pw", "\nx\n", 0600, pw, sizeof(pw));
	snprintf(want, sizeof(want), "outpost.conf:4: password_file: %s has an "
	    "empty first line", pw);
	expect_error(text, want);
	write_file("pw", "pass\x01word\n", 0600, pw, sizeof(pw));
	snprintf(want, sizeof(want), "outpost.conf:4: password_file: %s has a "
	    "control character in its first line", pw);
	expect_error(text, want);
	write_file("pw", "pass\x7fword\n", 0600, pw, sizeof(pw));
	expect_error(text, want);
	/* a control character after the first line does not matter */
	write_file("pw", "password\n\x01\n", 0600, pw, sizeof(pw));
	c = expect_ok(text, NULL);
	assert_string_equal(c->profiles[0].password, "password");
	conf_free(c);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	write_file("pw", big, 0600, pw, sizeof(pw));
	snprintf(want, sizeof(want), "outpost.conf:4: password_file: %s has a first "
	    "line longer than 1024 bytes", pw);
	expect_error(text, want);
	unlink(pw);
	snprintf(want, sizeof(want), "outpost.conf:4: password_file: cannot read "
	    "%s: No such file or directory", pw);
	expect_error(text, want);
	snprintf(text, sizeof(text), "[profile a]\nhost = h\nusername = u\n"
	    "password_file = %s\n", tmpdir);
	snprintf(want, sizeof(want), "outpost.conf:4: password_file: %s is not a "
	    "regular file", tmpdir);
	expect_error(text, want);

	/* The secret never appears in a message. */
	assert_int_equal(load("[profile a]\nhost = h\nusername = u\n"
	    "password = \"hunter2\x07\"\n", &c, &diag, &e), -1);
	assert_string_equal(e.msg, "outpost.conf:4: password: the value holds a "
	    "control character");
	assert_null(strstr(diag.data, "hunter2"));
	buf_free(&diag);
}

static void
test_password_command(void **state)
{
	struct conf *c;
	char *secret = NULL, **argv = NULL;
	struct op_err e;

	(void)state;
	c = expect_ok("[profile a]\nhost = h\nusername = u\n"
	    "password_command = /bin/echo   hunter2\n", NULL);
	assert_string_equal(c->profiles[0].password, "hunter2");
	assert_string_equal(c->profiles[0].password_command, "/bin/echo   hunter2");
	conf_free(c);

	/* Quotes group words; \" inside them; no shell: $ ; * are plain text. */
	c = expect_ok("[profile a]\nhost = h\nusername = u\n"
	    "password_command = \"/usr/bin/printf \\\"%s|%s\\\\n\\\" "
	    "\\\"two words\\\" $HOME;*\"\n", NULL);
	assert_string_equal(c->profiles[0].password, "two words|$HOME;*");
	conf_free(c);

	/* printf is found through PATH. */
	c = expect_ok("[profile a]\nhost = h\nusername = u\n"
	    "password_command = printf first\\nsecond\n", NULL);
	assert_string_equal(c->profiles[0].password, "first");
	conf_free(c);

	expect_error("[profile a]\nhost = h\nusername = u\n"
	    "password_command = /bin/false\n",
	    "outpost.conf:4: password_command: '/bin/false' exited with status 1");
	expect_error("[profile a]\nhost = h\nusername = u\n"
	    "password_command = /bin/ls /nonexistent-outpost-dir\n",
	    "outpost.conf:4: password_command: '/bin/ls /nonexistent-outpost-dir' "
	    "exited with status 2: /bin/ls: cannot access "
	    "'/nonexistent-outpost-dir': No such file or directory");
	expect_error("[profile a]\nhost = h\nusername = u\n"
	    "password_command = /bin/true\n",
	    "outpost.conf:4: password_command: the output of '/bin/true' is empty");
	expect_error("[profile a]\nhost = h\nusername = u\n"
	    "password_command = /nonexistent/outpost-pw\n",
	    "outpost.conf:4: password_command: cannot run '/nonexistent/outpost-pw': "
	    "No such file or directory");
	/* A section with other errors does not run its command. */
	expect_error("[profile a]\nhost = h\nusername = u\nport = 0\n"
	    "password_command = /bin/false\n",
	    "outpost.conf:4: port: '0' is not a port (1..65535)");

	expect_error("[profile a]\nhost = h\nusername = u\n"
	    "password_command = /bin/sh -c \"kill -TERM $$\"\n",
	    "outpost.conf:4: password_command: '/bin/sh -c \"kill -TERM $$\"' "
	    "was killed by signal 15");
	expect_error("[profile a]\nhost = h\nusername = u\n"
	    "password_command = /bin/sh -c \"echo gone >&2; kill -KILL $$\"\n",
	    "outpost.conf:4: password_command: '/bin/sh -c \"echo gone >&2; "
	    "kill -KILL $$\"' was killed by signal 9: gone");
	/* (messages show a backslash doubled, as logs do) */
	expect_error("[profile a]\nhost = h\nusername = u\n"
	    "password_command = /bin/echo -e pass\\tword\n",
	    "outpost.conf:4: password_command: the output of '/bin/echo -e "
	    "pass\\\\tword' has a control character in its first line");
	{
		char cmd[1100], text[1200], want[1300];

		memset(cmd, 'x', 1025);
		memcpy(cmd, "/bin/echo ", 10);
		cmd[1025] = '\0';
		snprintf(text, sizeof(text), "[profile a]\nhost = h\nusername = u\n"
		    "password_command = %s\n", cmd);
		expect_error(text, "outpost.conf:4: password_command: the command is "
		    "longer than 1024 bytes");
		cmd[1024] = '\0';                  /* 1024 bytes: it runs */
		snprintf(text, sizeof(text), "[profile a]\nhost = h\nusername = u\n"
		    "password_command = %s\n", cmd);
		c = expect_ok(text, NULL);
		snprintf(want, sizeof(want), "%s", cmd + 10);
		assert_string_equal(c->profiles[0].password, want);
		conf_free(c);
	}

	/* The timeout (short here; 10 s in the loader, which says "within 10
	 * seconds"). */
	assert_int_equal(conf_secret_command("/bin/sleep 5", 300, &secret, &e), -1);
	assert_string_equal(e.msg, "'/bin/sleep 5' did not finish within 300 ms "
	    "(it was stopped)");
	assert_null(secret);
	assert_int_equal(conf_secret_command("/bin/sleep 5", 1000, &secret, &e), -1);
	assert_int_equal(e.kind, ERR_CONFIG);
	assert_string_equal(e.msg, "'/bin/sleep 5' did not finish within 1 second "
	    "(it was stopped)");
	assert_null(secret);
	assert_int_equal(conf_secret_command("/bin/sleep 5", 2000, &secret, &e), -1);
	assert_string_equal(e.msg, "'/bin/sleep 5' did not finish within 2 seconds "
	    "(it was stopped)");
	assert_null(secret);
	assert_int_equal(conf_secret_command("/bin/echo ok", 5000, &secret, &e), 0);
	assert_string_equal(secret, "ok");
	free(secret);

	/* Splitting. */
	assert_int_equal(conf_command_split("a  \"b c\"\td\"e f\"g \"\"", &argv, &e), 0);
	assert_string_equal(argv[0], "a");
	assert_string_equal(argv[1], "b c");
	assert_string_equal(argv[2], "de fg");
	assert_string_equal(argv[3], "");
	assert_null(argv[4]);
	free(argv);
	assert_int_equal(conf_command_split("   ", &argv, &e), -1);
	assert_string_equal(e.msg, "the command is empty");
	assert_int_equal(conf_command_split("a \"b", &argv, &e), -1);
	assert_int_equal(conf_command_split("1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 "
	    "17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33", &argv, &e), -1);
	assert_string_equal(e.msg, "the command has more than 32 words");
	{
		char cmd[1100];

		memset(cmd, 'x', 1025);
		cmd[1025] = '\0';
		assert_int_equal(conf_command_split(cmd, &argv, &e), -1);
		assert_null(argv);
		assert_int_equal(e.kind, ERR_CONFIG);
		assert_string_equal(e.msg, "the command is longer than 1024 bytes");
	}
}

/* ---- warnings ----------------------------------------------------- */

static void
test_permission_warning(void **state)
{
	struct conf *c = NULL;
	struct buf diag;
	struct op_err e;
	char path[TPATH], want[2 * TPATH + 64];
	static const char *const with_pw =
	    "[profile a]\nhost = h\nusername = u\npassword = p\n";

	(void)state;
	buf_init(&diag, 4096);
	write_file("perm.conf", with_pw, 0644, path, sizeof(path));
	assert_int_equal(conf_load(path, &c, &diag, &e), 0);
	snprintf(want, sizeof(want), "warning: %s: readable by other users; "
	    "chmod 600 %s\n", path, path);
	assert_string_equal(diag.data, want);
	conf_free(c);

	buf_reset(&diag);
	write_file("perm.conf", with_pw, 0640, path, sizeof(path));
	assert_int_equal(conf_load(path, &c, &diag, &e), 0);
	assert_string_equal(diag.data, want);
	conf_free(c);

	buf_reset(&diag);
	write_file("perm.conf", with_pw, 0600, path, sizeof(path));
	assert_int_equal(conf_load(path, &c, &diag, &e), 0);
	assert_int_equal(diag.len, 0);
	conf_free(c);

	buf_reset(&diag);
	write_file("perm.conf", "[server]\napi_token = 0123456789abcdef\n", 0644,
	    path, sizeof(path));
	assert_int_equal(conf_load(path, &c, &diag, &e), 0);
	assert_string_equal(diag.data, want);
	conf_free(c);

	buf_reset(&diag);
	write_file("perm.conf", "[profile a]\nhost = h\n", 0644, path, sizeof(path));
	assert_int_equal(conf_load(path, &c, &diag, &e), 0);
	assert_int_equal(diag.len, 0);
	conf_free(c);
	buf_free(&diag);
}

static void
test_tls_verify_warning(void **state)
{
	struct conf *c;

	(void)state;
	c = expect_ok("[profile p]\nhost = h\n\ntls_verify = no\n",
	    "warning: outpost.conf:4: tls_verify: certificate checks are off for "
	    "profile p; anyone on the path can read the password and mail\n");
	assert_int_equal(c->profiles[0].tls_verify, 0);
	conf_free(c);
	/* No TLS, no certificate to check: no warning. */
	c = expect_ok("[profile p]\nhost = h\nsecurity = none\ntls_verify = no\n", NULL);
	conf_free(c);
}

/* ---- show --------------------------------------------------------- */

/* A database URI's password masked in both forms libpq takes: in the
 * userinfo (user:PASS@host) and as a password query parameter. */
static void
test_mask_uri(void **state)
{
	static const struct {
		const char *in, *out;
	} t[] = {
		{ "postgresql://u:s3cret@h:5432/db",
		    "postgresql://u:********@h:5432/db" },
		{ "postgresql://u@h/db?password=s3cret",
		    "postgresql://u@h/db?password=********" },
		{ "postgres://h/db?sslmode=require&password=s3cret&x=1",
		    "postgres://h/db?sslmode=require&password=********&x=1" },
		{ "postgresql://u:a@h/db?pass%77ord=s3cret",
		    "postgresql://u:********@h/db?pass%77ord=********" },
		{ "postgresql://u:pa?ss@h/db", "postgresql://u:********@h/db" },
		{ "postgresql://u?x@h/db?password=s3cret",
		    "postgresql://u?x@h/db?password=********" },
		{ "postgresql://u@h/db?password=", "postgresql://u@h/db?password=" },
		{ "postgresql://u@h/db?passwords=1&password",
		    "postgresql://u@h/db?passwords=1&password" },
		{ "postgresql://u@h/db", "postgresql://u@h/db" },
		{ "postgresql://h:5432/db?user=u", "postgresql://h:5432/db?user=u" },
		{ "", "" },
	};
	char out[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		conf_mask_uri(out, sizeof(out), t[i].in);
		assert_string_equal(out, t[i].out);
	}
	/* truncated, never past dst, and never a partial secret */
	conf_mask_uri(out, 20, "postgresql://u:s3cret@h/db");
	assert_int_equal(strlen(out), 19);
	assert_null(strstr(out, "s3"));
}

static void
test_show(void **state)
{
	struct conf *c, *again = NULL;
	struct buf out, diag;
	struct op_err e;
	char pw[TPATH], text[TPATH + 1024];

	(void)state;
	write_file("show-pw", "filesecret\n", 0600, pw, sizeof(pw));
	snprintf(text, sizeof(text),
	    "[server]\napi_token = tokentokentokentoken\nhttp_listen =\n"
	    "http_allowed_hosts = a.example, b.example\n"
	    "[client app]\npassword = clientsecret\nallowed_from = *@example.com\n"
	    "[client other]\npassword_file = %s\n"
	    "[profile one]\nhost = smtp.example.com\nusername = user name\n"
	    "password = \"topsecret;#\"\nfrom = a@example.com\n"
	    "limits = 14/s, 10000/d\ntimeout = 90s\n"
	    "[profile two]\nhost = h2\nusername = u\n"
	    "password_command = /bin/echo cmdsecret\nenabled = no\n"
	    "[profile three]\nhost = h3\nusername = u\npassword_file = %s\n"
	    "[redirect]\nenabled = yes\n[report qa@example.com]\n", pw, pw);
	c = expect_ok(text, NULL);
	buf_init(&out, 1 << 20);
	assert_int_equal(conf_show(c, &out, &e), 0);
	assert_null(strstr(out.data, "tokentokentokentoken"));
	assert_null(strstr(out.data, "clientsecret"));
	assert_null(strstr(out.data, "topsecret"));
	assert_null(strstr(out.data, "password = cmdsecret"));
	assert_null(strstr(out.data, "filesecret"));
	assert_non_null(strstr(out.data, "\napi_token = ********\n"));
	assert_non_null(strstr(out.data, "\nhttp_listen = \"\"\n"));
	assert_non_null(strstr(out.data, "\nhttp_allowed_hosts = a.example, b.example\n"));
	assert_non_null(strstr(out.data, "[client app]\npassword = ********\n"
	    "allowed_from = *@example.com\n"));
	assert_non_null(strstr(out.data, "[profile one]\nenabled = yes\n"
	    "host = smtp.example.com\nport = 587\nsecurity = starttls\n"
	    "tls_verify = yes\nauth = yes\nusername = user name\n"
	    "password = ********\nallow_plaintext_auth = no\n"
	    "from = a@example.com\nforce_from = no\nlimits = 14/s, 10000/d\n"
	    "max_connections = 4\nmax_messages_per_connection = 100\n"
	    "timeout = 90s\n"));
	assert_non_null(strstr(out.data, "password_command = /bin/echo cmdsecret\n"));
	assert_non_null(strstr(out.data, "[profile three]"));
	assert_non_null(strstr(out.data, "retry = 1m, 5m, 15m, 30m, 1h, 2h, 4h\n"));
	assert_non_null(strstr(out.data, "max_message_size = 25M\n"));
	assert_non_null(strstr(out.data, "queue_lifetime = 5d\n"));
	assert_non_null(strstr(out.data, "retention = 30d\n"));
	assert_non_null(strstr(out.data, "smtp_timeout = 5m\n"));
	assert_non_null(strstr(out.data, "[redirect]\nenabled = yes\n"));
	assert_non_null(strstr(out.data, "[report qa@example.com]\nenabled = yes\n"));

	/* What show prints is itself a valid file with the same settings
	 * (but for the masked api_token, shorter than a token may be). */
	*strstr(out.data, "api_token = ********") = ';';
	buf_init(&diag, 4096);
	if (conf_load_text("shown", out.data, out.len, &again, &diag, &e) != 0)
		fail_msg("%s", diag.data != NULL ? diag.data : e.msg);
	assert_int_equal(again->nprofiles, 3);
	assert_int_equal(again->profiles[0].port, 587);
	assert_int_equal(again->profiles[0].timeout_s, 90);
	assert_int_equal(again->profiles[1].enabled, 0);
	assert_string_equal(again->profiles[1].password, "cmdsecret");
	assert_int_equal(again->server.nhttp_allowed_hosts, 2);
	assert_string_equal(again->server.http_listen, "");
	conf_free(again);
	conf_free(c);
	buf_free(&out);
	buf_free(&diag);

	/* The defaults show too. */
	assert_int_equal(conf_load(NULL, &c, NULL, &e), 0);
	buf_init(&out, 1 << 20);
	assert_int_equal(conf_show(c, &out, &e), 0);
	assert_non_null(strstr(out.data, "; effective settings of the built-in defaults"));
	assert_non_null(strstr(out.data, "; api_token: not set, generated into data_dir\n"));
	conf_free(c);
	buf_free(&out);
}

/* ---- the file's place --------------------------------------------- */

static void
test_find_path(void **state)
{
	char cwd[TPATH], path[TPATH];
	struct stat st;
	const char *etc = stat("/etc/outpost/outpost.conf", &st) == 0 ?
	    "/etc/outpost/outpost.conf" : NULL;

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(tmpdir), 0);
	unlink("outpost.conf");
	unsetenv("OUTPOST_CONFIG");

	assert_string_equal(conf_find_path("given.conf"), "given.conf");
	if (etc == NULL)
		assert_null(conf_find_path(NULL));
	else
		assert_string_equal(conf_find_path(NULL), etc);

	write_file("outpost.conf", "", 0600, path, sizeof(path));
	assert_string_equal(conf_find_path(NULL), "outpost.conf");

	setenv("OUTPOST_CONFIG", "/from/env.conf", 1);
	assert_string_equal(conf_find_path(NULL), "/from/env.conf");
	assert_string_equal(conf_find_path("given.conf"), "given.conf");
	setenv("OUTPOST_CONFIG", "", 1);          /* empty = not set */
	assert_string_equal(conf_find_path(NULL), "outpost.conf");
	unsetenv("OUTPOST_CONFIG");

	unlink(path);
	assert_int_equal(chdir(cwd), 0);
}

/* ---- one value, as the API checks it ------------------------------- */

static void
test_check_value(void **state)
{
	struct op_err e;

	(void)state;
	assert_int_equal(conf_check_value("profile", "host", "smtp.example.com", &e), 0);
	assert_int_equal(conf_check_value("profile", "port", "465", &e), 0);
	assert_int_equal(conf_check_value("profile", "limits", "", &e), 0);
	assert_int_equal(conf_check_value("profile", "password", "any thing", &e), 0);
	assert_int_equal(conf_check_value("profile", "tls_ca_file", "/not/opened", &e), 0);
	assert_int_equal(conf_check_value("profile", "port", "0", &e), -1);
	assert_string_equal(e.msg, "'0' is not a port (1..65535)");
	assert_int_equal(conf_check_value("profile", "from", "nope", &e), -1);
	assert_string_equal(e.msg, "'nope' is not a valid address: it has no '@' "
	    "(write local@domain)");
	assert_int_equal(conf_check_value("profile", "nope", "x", &e), -1);
	assert_string_equal(e.msg, "unknown key in [profile]");
	assert_int_equal(conf_check_value("bogus", "x", "x", &e), -1);
	assert_int_equal(conf_check_value("server", "retry", "1m, 2m", &e), 0);
	assert_int_equal(conf_check_value("server", "http_allowed_hosts", "a.b, c.d", &e), 0);
	assert_int_equal(conf_check_value("client", "allowed_from", "*", &e), 0);
	assert_int_equal(conf_check_value("redirect", "enabled", "yes", &e), 0);
	assert_int_equal(conf_check_value("report", "enabled", "nah", &e), -1);

	/* A path of PATH_MAX bytes: no line of the file can hold one (lines
	 * stop at 4096 bytes), but a value handed to the API can. */
	{
		char path[PATH_MAX + 2];

		memset(path, 'd', PATH_MAX);
		path[0] = '/';
		path[PATH_MAX] = '\0';
		assert_int_equal(conf_check_value("profile", "tls_ca_file", path, &e), -1);
		assert_string_equal(e.msg, "the path is longer than 4095 bytes");
		assert_int_equal(conf_check_value("client", "password_file", path, &e), -1);
		assert_string_equal(e.msg, "the path is longer than 4095 bytes");
		path[PATH_MAX - 1] = '\0';
		assert_int_equal(conf_check_value("profile", "tls_ca_file", path, &e), 0);
	}
	{
		char pw[CONF_SECRET_MAX + 2];

		memset(pw, 'p', CONF_SECRET_MAX + 1);
		pw[CONF_SECRET_MAX + 1] = '\0';
		assert_int_equal(conf_check_value("profile", "password", pw, &e), -1);
		assert_string_equal(e.msg, "the password is longer than 1024 bytes");
	}

	assert_int_equal(conf_check_section("profile", "primary", &e), 0);
	assert_int_equal(conf_check_section("report", "qa@example.com", &e), 0);
	assert_int_equal(conf_check_section("server", NULL, &e), 0);
	assert_int_equal(conf_check_section("profile", NULL, &e), -1);
	assert_int_equal(conf_check_section("profile", "has space", &e), -1);
}

/* A profile's from may carry a display name (issue 10): the address is
 * the envelope's, the name the From: field's; config show writes it back. */
static void
test_from_display_name(void **state)
{
	struct conf *c = NULL;
	struct buf diag;
	struct op_err e;
	char text[CONF_FROM_TEXT_MAX];

	(void)state;
	assert_int_equal(load("[profile a]\nhost = h\nfrom = Survey Team <s@example.com>\n"
	    "[profile b]\nhost = h\nfrom = \"\\\"Doe, Jane\\\" <j@example.com>\"\n"
	    "[profile c]\nhost = h\nfrom = c@example.com\n", &c, &diag, &e), 0);
	assert_string_equal(c->profiles[0].from, "s@example.com");
	assert_string_equal(c->profiles[0].from_name, "Survey Team");
	conf_profile_from_text(&c->profiles[0], text, sizeof(text));
	assert_string_equal(text, "Survey Team <s@example.com>");
	assert_string_equal(c->profiles[1].from, "j@example.com");
	assert_string_equal(c->profiles[1].from_name, "Doe, Jane");
	conf_profile_from_text(&c->profiles[1], text, sizeof(text));
	assert_string_equal(text, "\"Doe, Jane\" <j@example.com>");
	assert_null(c->profiles[2].from_name);
	conf_profile_from_text(&c->profiles[2], text, sizeof(text));
	assert_string_equal(text, "c@example.com");
	conf_free(c);
	buf_free(&diag);
}

/* [webhook NAME] and [server] suppress (events for the application). */
static void
test_webhook_sections(void **state)
{
	struct conf *c = NULL;
	struct buf diag;
	struct op_err e;
	char path[512], text[1024];

	(void)state;
	write_file("hook.secret", "s3cret-from-a-file\n", 0600, path, sizeof(path));
	snprintf(text, sizeof(text), "[server]\nsuppress = no\n"
	    "[webhook app]\nurl = https://app.example.com/hooks\nsecret = abc\n"
	    "[webhook local]\nurl = http://127.0.0.1:9000/h\nsecret_file = %s\n"
	    "events = queued, failed\n", path);
	assert_int_equal(load(text, &c, &diag, &e), 0);
	assert_int_equal(c->server.suppress, 0);
	assert_int_equal(c->nwebhooks, 2);
	assert_string_equal(c->webhooks[0].secret, "abc");
	assert_int_equal(c->webhooks[0].mask, CONF_HOOK_SENT | CONF_HOOK_DEFERRED |
	    CONF_HOOK_FAILED | CONF_HOOK_SUPPRESSED);
	assert_string_equal(c->webhooks[1].secret, "s3cret-from-a-file");
	assert_int_equal(c->webhooks[1].mask, CONF_HOOK_QUEUED | CONF_HOOK_FAILED);
	conf_free(c);
	buf_free(&diag);
	assert_int_equal(load("", &c, &diag, &e), 0);
	assert_int_equal(c->server.suppress, 1);
	conf_free(c);
	buf_free(&diag);

	expect_error("[webhook app]\nurl = https://a.example.com/h\n",
	    "outpost.conf:1: [webhook app]: needs a secret to sign its events: "
	    "add secret = ... or secret_file = PATH (for example the output "
	    "of: openssl rand -hex 32)");
	expect_error("[webhook app]\nurl = https://a.example.com/h\nsecret = x\n"
	    "events = sent, bounced\n",
	    "outpost.conf:4: events: unknown event 'bounced'; the events are "
	    "sent, deferred, failed, suppressed and queued (or all)");
	expect_error("[webhook app]\nsecret = x\n",
	    "outpost.conf:1: [webhook app]: needs a url: add url = "
	    "https://app.example.com/hooks/mail");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_webhook_sections),
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_retry),
		cmocka_unit_test(test_security_and_port),
		cmocka_unit_test(test_address),
		cmocka_unit_test(test_host),
		cmocka_unit_test(test_lexer),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_profile_defaults),
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_example_file),
		cmocka_unit_test(test_error_syntax),
		cmocka_unit_test(test_error_values),
		cmocka_unit_test(test_from_display_name),
		cmocka_unit_test(test_error_cross_checks),
		cmocka_unit_test(test_error_all_collected),
		cmocka_unit_test(test_error_bad_name_keeps_checking),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_password_file),
		cmocka_unit_test(test_password_command),
		cmocka_unit_test(test_permission_warning),
		cmocka_unit_test(test_tls_verify_warning),
		cmocka_unit_test(test_mask_uri),
		cmocka_unit_test(test_show),
		cmocka_unit_test(test_find_path),
		cmocka_unit_test(test_check_value),
	};

	return cmocka_run_group_tests_name("conf", tests, make_tmpdir, remove_tmpdir);
}
