/*
 * test_aliases.c - the [server] aliases file (config/aliases.h): its
 * /etc/aliases form, the lookups, and the refusals with their lines.
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

#include "config/aliases.h"
#include "util/buf.h"

static char path[64];

static void
write_file(const char *text, size_t len)
{
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/test_aliases.%ld", (long)getpid());
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
}

static void
test_form_and_lookup(void **state)
{
	static const char text[] =
	    "# comment\r\n"
	    "\n"
	    "root: admin@example.com\r\n"
	    "Postmaster:\tadmin@example.com,\n"
	    "  # a comment between continuation lines\n"
	    "\tops@example.com , ADMIN@example.com,\n"
	    "default: any@example.com\n";
	struct aliases *a;
	struct op_err e;
	char *const *t;
	size_t n;

	(void)state;
	write_file(text, sizeof(text) - 1);
	assert_int_equal(aliases_load(path, &a, NULL, &e), 0);
	assert_int_equal(aliases_lookup(a, "ROOT", &t, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(t[0], "admin@example.com");
	assert_int_equal(aliases_lookup(a, "postmaster", &t, &n, &e), 0);
	assert_int_equal(n, 2);                 /* ADMIN@ is the same address */
	assert_string_equal(t[1], "ops@example.com");
	assert_int_equal(aliases_lookup(a, "www-data", &t, &n, &e), 0);
	assert_string_equal(t[0], "any@example.com");
	aliases_free(a);
	unlink(path);

	/* without default, an unknown name names the file and the fix */
	write_file("root: a@example.com\n", 20);
	assert_int_equal(aliases_load(path, &a, NULL, &e), 0);
	assert_int_equal(aliases_lookup(a, "bob", &t, &n, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_non_null(strstr(e.msg, path));
	assert_non_null(strstr(e.msg, "default"));
	aliases_free(a);
	unlink(path);
	/* no file at all: the hint names [server] aliases */
	assert_int_equal(aliases_lookup(NULL, "root", &t, &n, &e), -1);
	assert_non_null(strstr(e.msg, "[server] aliases"));
}

static void
test_is_local(void **state)
{
	(void)state;
	assert_true(aliases_is_local("root"));
	assert_true(aliases_is_local("www-data"));
	assert_true(aliases_is_local("a.b"));
	assert_false(aliases_is_local(""));
	assert_false(aliases_is_local("a@b"));
	assert_false(aliases_is_local(".a"));
	assert_false(aliases_is_local("a..b"));
	assert_false(aliases_is_local("a b"));
	assert_false(aliases_is_local("$(x)"));
	assert_false(aliases_is_local("\"root\""));
}

static void
test_refusals_name_the_line(void **state)
{
	static const char text[] =
	    "  x@example.com\n"                     /* 1: nothing to continue */
	    "root: |/bin/sh\n"                      /* 2: pipe */
	    "a: \"|/bin/sh\"\n"                     /* 3: quoted pipe */
	    "b: /var/mail/b\n"                      /* 4: file */
	    "c: :include:/etc/c\n"                  /* 5: include */
	    "d: \\d\n"                              /* 6: local mailbox */
	    "e:\n"                                  /* 7: no address */
	    "f: <f@example.com>\n"                  /* 8: brackets */
	    "g: g@example.com\n"
	    "G: h@example.com\n";                   /* 10: twice */
	struct aliases *a = NULL;
	struct buf diag;
	struct op_err e;
	static const char *const want[] = {
	    ":1: a continuation line", ":2: root: '|/bin/sh' is a pipe",
	    ":3: a: '\"|/bin/sh\"' is a pipe", ":4: b: '/var/mail/b' is a file",
	    ":5: c: ':include:'", ":6: d: '\\\\d' is a local name",
	    ":7: e: no address", ":8: f: ", ":10: g is defined twice (first at line 9)",
	};
	size_t i;

	(void)state;
	write_file(text, sizeof(text) - 1);
	buf_init(&diag, 65536);
	assert_int_equal(aliases_load(path, &a, &diag, &e), -1);
	assert_null(a);
	assert_int_equal(e.kind, ERR_CONFIG);
	assert_non_null(strstr(e.msg, ":1: a continuation line"));
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (strstr(diag.data, want[i]) == NULL)
			fail_msg("missing '%s' in:\n%s", want[i], diag.data);
	}
	buf_free(&diag);
	unlink(path);

	/* bounds: an over-long entry, a file over ALIASES_FILE_MAX */
	{
		size_t big = ALIASES_FILE_MAX + 16;
		char *s = malloc(big);

		assert_non_null(s);
		memcpy(s, "root: a@example.com,", 20);
		memset(s + 20, ' ', ALIASES_ENTRY_MAX);
		s[20 + ALIASES_ENTRY_MAX] = '\n';
		write_file(s, 21 + ALIASES_ENTRY_MAX);
		assert_int_equal(aliases_load(path, &a, NULL, &e), -1);
		assert_non_null(strstr(e.msg, ":1: the entry"));
		memset(s, '#', big);
		write_file(s, big);
		assert_int_equal(aliases_load(path, &a, NULL, &e), -1);
		assert_non_null(strstr(e.msg, "larger than"));
		free(s);
		unlink(path);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_form_and_lookup),
		cmocka_unit_test(test_is_local),
		cmocka_unit_test(test_refusals_name_the_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
