/* http/: the JSON body checks, token comparison, the token file and the
 * session table.  The server itself is tested over HTTP in
 * tests/integration/test_http_api.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/http_int.h"

static void
check_ok(const char *s)
{
	struct op_err e;

	if (http_json_precheck(s, strlen(s), HTTP_JSON_DEPTH_MAX, &e) != 0)
		fail_msg("refused %s: %s", s, e.msg);
}

static void
check_bad(const char *s, size_t n, const char *words)
{
	struct op_err e;

	assert_int_equal(http_json_precheck(s, n, HTTP_JSON_DEPTH_MAX, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	if (strstr(e.msg, words) == NULL)
		fail_msg("message '%s' lacks '%s'", e.msg, words);
}

static void
test_precheck_utf8(void **state)
{
	(void)state;
	check_ok("{\"a\": \"plain\"}");
	check_ok("{\"a\": \"\xc3\xa9\xe2\x9c\x93\xf0\x9f\x93\xa7\"}");   /* e-acute, check, envelope */
	check_ok("{\"a\": \"\xf4\x8f\xbf\xbf\"}");                         /* U+10FFFF */
	check_bad("{\"a\": \"\xff\"}", 8, "UTF-8");
	check_bad("{\"a\": \"\xc0\xaf\"}", 9, "byte 0xc0 at offset 7");      /* overlong '/' */
	check_bad("{\"a\": \"\xe0\x80\xaf\"}", 10, "UTF-8");                /* overlong */
	check_bad("{\"a\": \"\xed\xa0\x80\"}", 10, "UTF-8");                /* surrogate */
	check_bad("{\"a\": \"\xf4\x90\x80\x80\"}", 11, "UTF-8");            /* > U+10FFFF */
	check_bad("{\"a\": \"\xe2\x9c\"}", 9, "UTF-8");                     /* cut short */
	check_bad("{\"a\": \"\x80\"}", 8, "UTF-8");                         /* stray continuation */
}

static void
test_precheck_depth(void **state)
{
	char deep[2 * (HTTP_JSON_DEPTH_MAX + 1) + 1];
	size_t i;
	(void)state;

	for (i = 0; i < HTTP_JSON_DEPTH_MAX; i++) {
		deep[i] = '[';
		deep[2 * HTTP_JSON_DEPTH_MAX - 1 - i] = ']';
	}
	deep[2 * HTTP_JSON_DEPTH_MAX] = '\0';
	check_ok(deep);                         /* exactly the bound */
	for (i = 0; i <= HTTP_JSON_DEPTH_MAX; i++) {
		deep[i] = '{';
		deep[2 * HTTP_JSON_DEPTH_MAX + 1 - i] = '}';
	}
	deep[2 * HTTP_JSON_DEPTH_MAX + 2] = '\0';
	check_bad(deep, strlen(deep), "deeper than 16");
	/* brackets inside strings, and escaped quotes, do not count */
	check_ok("{\"a\": \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}");
	check_ok("{\"a\": \"\\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\\\"}");
}

static void
test_token_equal(void **state)
{
	(void)state;
	assert_true(http_token_equal("abcdefabcdef0123", "abcdefabcdef0123"));
	assert_false(http_token_equal("abcdefabcdef0123", "abcdefabcdef0124"));
	assert_false(http_token_equal("abcdefabcdef0123", "abcdefabcdef012"));
	assert_false(http_token_equal("abcdefabcdef0123", "abcdefabcdef01234"));
	assert_false(http_token_equal("", ""));             /* no token never matches */
	assert_false(http_token_equal(NULL, "x"));
	assert_false(http_token_equal("x", NULL));
}

static char tmpdir[64];

static int
make_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/outpost-test-http-XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
remove_tmpdir(void **state)
{
	char path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/api_token", tmpdir);
	unlink(path);
	return rmdir(tmpdir);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void
test_token_load(void **state)
{
	char tok[HTTP_TOKEN_MAX], again[HTTP_TOKEN_MAX], path[128], big[400];
	struct op_err e;
	struct stat st;
	int created;
	size_t i;
	(void)state;

	/* configured: used as is, nothing written */
	assert_int_equal(http_token_load(tmpdir, "configured-token-123", tok, sizeof(tok),
	    &created, &e), 0);
	assert_string_equal(tok, "configured-token-123");
	assert_int_equal(created, 0);
	snprintf(path, sizeof(path), "%s/api_token", tmpdir);
	assert_int_equal(access(path, F_OK), -1);

	/* none: generated, 64 hex digits, mode 0600, created once */
	assert_int_equal(http_token_load(tmpdir, NULL, tok, sizeof(tok), &created, &e), 0);
	assert_int_equal(created, 1);
	assert_int_equal(strlen(tok), 64);
	for (i = 0; i < 64; i++)
		assert_non_null(strchr("0123456789abcdef", tok[i]));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(http_token_load(tmpdir, "", again, sizeof(again), &created, &e), 0);
	assert_int_equal(created, 0);
	assert_string_equal(again, tok);

	/* readable by others: refused, with the fix */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(http_token_load(tmpdir, NULL, tok, sizeof(tok), &created, &e), -1);
	assert_int_equal(e.kind, ERR_CONFIG);
	assert_non_null(strstr(e.msg, "chmod 600"));

	/* written by hand: trailing newline dropped; empty or too long refused */
	write_file(path, "hand-made-token-value\n", 0600);
	assert_int_equal(http_token_load(tmpdir, NULL, tok, sizeof(tok), &created, &e), 0);
	assert_string_equal(tok, "hand-made-token-value");
	write_file(path, "\n", 0600);
	assert_int_equal(http_token_load(tmpdir, NULL, tok, sizeof(tok), &created, &e), -1);
	assert_non_null(strstr(e.msg, "empty"));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	write_file(path, big, 0600);
	assert_int_equal(http_token_load(tmpdir, NULL, tok, sizeof(tok), &created, &e), -1);
	assert_non_null(strstr(e.msg, "longer"));
}

static void
test_sessions(void **state)
{
	struct http_sessions *ss = http_sessions_new();
	char id[HTTP_ID_HEX + 1], csrf[HTTP_ID_HEX + 1], got[HTTP_ID_HEX + 1];
	char first[HTTP_ID_HEX + 1], other[HTTP_ID_HEX + 1];
	struct op_err e;
	int i;
	(void)state;

	assert_int_equal(http_session_create(ss, "tok-A", id, csrf, &e), 0);
	assert_int_equal(strlen(id), HTTP_ID_HEX);
	assert_int_equal(strlen(csrf), HTTP_ID_HEX);
	assert_string_not_equal(id, csrf);
	assert_int_equal(http_session_check(ss, id, "tok-A", got), 0);
	assert_string_equal(got, csrf);
	/* a wrong id, a short id, NULL */
	memcpy(first, id, sizeof(id));
	first[0] = first[0] == 'a' ? 'b' : 'a';
	assert_int_equal(http_session_check(ss, first, "tok-A", got), -1);
	assert_int_equal(http_session_check(ss, "abc", "tok-A", got), -1);
	assert_int_equal(http_session_check(ss, NULL, "tok-A", got), -1);
	/* the token changed: the session is over, also for the old token */
	assert_int_equal(http_session_check(ss, id, "tok-B", got), -1);
	assert_int_equal(http_session_check(ss, id, "tok-A", got), -1);

	/* logout */
	assert_int_equal(http_session_create(ss, "tok-A", id, csrf, &e), 0);
	http_session_end(ss, id);
	assert_int_equal(http_session_check(ss, id, "tok-A", got), -1);

	/* the table is bounded: the least recently used session goes */
	assert_int_equal(http_session_create(ss, "tok-A", first, csrf, &e), 0);
	assert_int_equal(http_session_create(ss, "tok-A", other, csrf, &e), 0);
	for (i = 0; i < HTTP_SESSIONS_MAX - 2; i++)
		assert_int_equal(http_session_create(ss, "tok-A", id, csrf, &e), 0);
	assert_int_equal(http_session_check(ss, other, "tok-A", got), 0);   /* used */
	assert_int_equal(http_session_create(ss, "tok-A", id, csrf, &e), 0);
	assert_int_equal(http_session_check(ss, first, "tok-A", got), -1);  /* evicted */
	assert_int_equal(http_session_check(ss, other, "tok-A", got), 0);
	assert_int_equal(http_session_check(ss, id, "tok-A", got), 0);
	http_sessions_free(ss);
}

static void
test_login_throttle(void **state)
{
	struct http_sessions *ss = http_sessions_new();
	int i;
	(void)state;

	for (i = 0; i < HTTP_LOGIN_FAILS_MAX; i++) {
		assert_true(http_login_allowed(ss));
		http_login_failed(ss);
	}
	assert_false(http_login_allowed(ss));
	http_sessions_free(ss);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_precheck_utf8),
		cmocka_unit_test(test_precheck_depth),
		cmocka_unit_test(test_token_equal),
		cmocka_unit_test_setup_teardown(test_token_load, make_tmpdir, remove_tmpdir),
		cmocka_unit_test(test_sessions),
		cmocka_unit_test(test_login_throttle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
