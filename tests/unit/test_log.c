/*
 * test_log.c - log lines: which keys are masked (exact secret names only,
 * so that a key such as password_cleared keeps its value), escaping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/log.h"

/* Run log_event's output into a pipe and return the line (static). */
static const char *
logged(void (*emit)(void))
{
	static char line[8192];
	int fds[2];
	ssize_t n;

	assert_int_equal(pipe(fds), 0);
	log_set_fd(fds[1]);
	emit();
	log_set_fd(2);
	close(fds[1]);
	n = read(fds[0], line, sizeof(line) - 1);
	close(fds[0]);
	assert_true(n > 0);
	line[n] = '\0';
	/* drop the time stamp */
	return strchr(line, ' ') + 1;
}

static void
test_secret_names_exact(void **state)
{
	static const char *const secret[] = {
		"password", "api_token", "token", "secret", "client_secret",
		"oauth_client_secret", "access_token", "refresh_token",
		"auth_data", "credential", "PASSWORD", "Api_Token",
	};
	static const char *const plain[] = {
		"password_cleared", "password_file", "password_command",
		"has_password", "token_type", "tokens", "secret_file",
		"oauth_client_secret_file", "auth", "mech", "client", "line",
		"text", "reply", "msg", "",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
		if (!log_key_is_secret(secret[i]))
			fail_msg("%s is not masked", secret[i]);
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (log_key_is_secret(plain[i]))
			fail_msg("%s is masked", plain[i]);
}

static void
emit_profile_saved(void)
{
	log_event(LOG_INFO, "http_profile_saved", "profile", "primary",
	    "password_cleared", "yes", "password", "hunter2",
	    "api_token", "tok-123", "access_token", "ya29.a0",
	    "refresh_token", "1//0g", "oauth_client_secret", "GOCSPX-x", NULL);
}

static void
test_line_masks_exactly(void **state)
{
	(void)state;
	assert_string_equal(logged(emit_profile_saved),
	    "level=info event=http_profile_saved profile=primary "
	    "password_cleared=yes password=******** api_token=******** "
	    "access_token=******** refresh_token=******** "
	    "oauth_client_secret=********\n");
}

static void
emit_escaped(void)
{
	log_event(LOG_WARN, "smtp_reply", "text", "a b\r\nevent=forged", "x",
	    NULL, NULL);
}

static void
test_line_escapes(void **state)
{
	(void)state;
	assert_string_equal(logged(emit_escaped),
	    "level=warn event=smtp_reply text=\"a b\\r\\nevent=forged\" x=-\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_names_exact),
		cmocka_unit_test(test_line_masks_exactly),
		cmocka_unit_test(test_line_escapes),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
