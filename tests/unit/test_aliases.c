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

/* A stock Debian /etc/aliases: local names that name other entries,
 * resolved through the file, flattened, each address once. */
static void
test_local_name_targets(void **state)
{
	static const char text[] =
	    "# /etc/aliases\n"
	    "mailer-daemon: postmaster\n"
	    "postmaster: root\n"
	    "nobody: root\n"
	    "hostmaster: root\n"
	    "usenet: root\n"
	    "news: root\n"
	    "webmaster: root\n"
	    "www: root\n"
	    "ftp: root\n"
	    "abuse: root\n"
	    "noc: root\n"
	    "security: root\n"
	    "root: admin@example.com, Ops\n"
	    "ops: ops@example.com, ADMIN@example.com\n"
	    "team: Root, ops, dev@example.com, postmaster\n"
	    "other: unknown\n"
	    "default: catchall@example.com\n";
	struct aliases *a;
	struct buf diag;
	struct op_err e;
	char *const *t;
	size_t n;

	(void)state;
	write_file(text, sizeof(text) - 1);
	buf_init(&diag, 65536);
	if (aliases_load(path, &a, &diag, &e) < 0)
		fail_msg("refused: %s", diag.data);
	assert_int_equal(aliases_lookup(a, "postmaster", &t, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(t[0], "admin@example.com");
	assert_string_equal(t[1], "ops@example.com");
	/* two levels down, the same two */
	assert_int_equal(aliases_lookup(a, "MAILER-DAEMON", &t, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(t[0], "admin@example.com");
	assert_string_equal(t[1], "ops@example.com");
	/* flattened and de-duplicated across branches */
	assert_int_equal(aliases_lookup(a, "team", &t, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_string_equal(t[0], "admin@example.com");
	assert_string_equal(t[1], "ops@example.com");
	assert_string_equal(t[2], "dev@example.com");
	/* a name with no entry of its own goes where default goes */
	assert_int_equal(aliases_lookup(a, "other", &t, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(t[0], "catchall@example.com");
	aliases_free(a);
	buf_free(&diag);
	unlink(path);
}

/* Local-name targets that cannot be resolved: each reported once, at the
 * line of the entry that has the problem, the loop named. */
static void
test_local_name_target_errors(void **state)
{
	static const char text[] =
	    "postmaster: root\n"                    /* 1: root has no entry */
	    "a: b\n"
	    "b: c, x@example.com\n"
	    "c: a\n"                                /* 4: a -> b -> c -> a */
	    "self: self\n"                          /* 5: self -> self */
	    "uses-loop: a\n"                        /* 6: fails, silently */
	    "pipe: |/bin/sh\n"                      /* 7: refused */
	    "uses-pipe: pipe\n"                     /* 8: not "no entry" */
	    "d: \\d\n"                              /* 9: \name refused */
	    "e: \"quoted\"\n";                      /* 10: neither */
	struct aliases *a = NULL;
	struct buf diag;
	struct op_err e;
	static const char *const want[] = {
	    ":1: postmaster: 'root' is a local name with no entry in this "
	    "file, and the file has no 'default' entry",
	    ":4: c: 'a' makes a loop (a -> b -> c -> a)",
	    ":5: self: 'self' makes a loop (self -> self)",
	    ":7: pipe: '|/bin/sh' is a pipe",
	    ":9: d: '\\\\d' is a local name for a local mailbox",
	    ":10: e: '\"quoted\"' is neither a full address nor a local name",
	};
	size_t i;

	(void)state;
	write_file(text, sizeof(text) - 1);
	buf_init(&diag, 65536);
	assert_int_equal(aliases_load(path, &a, &diag, &e), -1);
	assert_null(a);
	assert_int_equal(e.kind, ERR_CONFIG);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (strstr(diag.data, want[i]) == NULL)
			fail_msg("missing '%s' in:\n%s", want[i], diag.data);
	/* one line per problem: the loop once, nothing for the entries that
	 * only lead to a problem reported elsewhere */
	{
		size_t lines = 0;
		const char *c;

		for (c = diag.data; *c != '\0'; c++)
			lines += *c == '\n';
		if (lines != sizeof(want) / sizeof(want[0]))
			fail_msg("%zu lines:\n%s", lines, diag.data);
	}
	buf_free(&diag);
	unlink(path);
}

/* Bounds: a chain longer than ALIASES_DEPTH_MAX, and more than
 * ALIASES_TARGETS_MAX addresses once flattened. */
static void
test_local_name_target_bounds(void **state)
{
	struct buf text, diag;
	struct aliases *a = NULL;
	struct op_err e;
	char *const *t;
	size_t n;
	int i;

	(void)state;
	/* n0: n1, n1: n2, ... n{D}: x@example.com: D + 1 names in a chain */
	buf_init(&text, 1 << 20);
	for (i = 0; i < ALIASES_DEPTH_MAX; i++)
		buf_printf(&text, NULL, "n%d: n%d\n", i, i + 1);
	buf_printf(&text, NULL, "n%d: x@example.com\n", ALIASES_DEPTH_MAX);
	write_file(text.data, text.len);
	buf_init(&diag, 65536);
	assert_int_equal(aliases_load(path, &a, &diag, &e), -1);
	if (strstr(diag.data, ":1: n0: more than 10 local names in a chain "
	    "(n0 -> n1 -> n2 -> n3 -> n4 -> n5 -> n6 -> n7 -> n8 -> n9 -> n10)")
	    == NULL)
		fail_msg("%s", diag.data);
	/* the same chain met through an entry already resolved */
	buf_reset(&text);
	for (i = 1; i < ALIASES_DEPTH_MAX; i++)
		buf_printf(&text, NULL, "n%d: n%d\n", i, i + 1);
	buf_printf(&text, NULL, "n%d: x@example.com\nz: n1\n", ALIASES_DEPTH_MAX);
	write_file(text.data, text.len);
	buf_reset(&diag);
	assert_int_equal(aliases_load(path, &a, &diag, &e), -1);
	if (strstr(diag.data, ":11: z: more than 10 local names in a chain "
	    "(z -> n1 -> ...)") == NULL)
		fail_msg("%s", diag.data);
	/* one name fewer is fine */
	buf_reset(&text);
	for (i = 1; i < ALIASES_DEPTH_MAX; i++)
		buf_printf(&text, NULL, "n%d: n%d\n", i, i + 1);
	buf_printf(&text, NULL, "n%d: x@example.com\n", ALIASES_DEPTH_MAX);
	write_file(text.data, text.len);
	assert_int_equal(aliases_load(path, &a, NULL, &e), 0);
	assert_int_equal(aliases_lookup(a, "n1", &t, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(t[0], "x@example.com");
	aliases_free(a);
	/* two lists of 60 addresses each: 120 once flattened */
	buf_reset(&text);
	buf_printf(&text, NULL, "both: l1, l2\nl1: ");
	for (i = 0; i < 60; i++)
		buf_printf(&text, NULL, "%sa%d@example.com", i ? ", " : "", i);
	buf_printf(&text, NULL, "\nl2: ");
	for (i = 0; i < 60; i++)
		buf_printf(&text, NULL, "%sb%d@example.com", i ? ", " : "", i);
	buf_printf(&text, NULL, "\n");
	write_file(text.data, text.len);
	buf_reset(&diag);
	assert_int_equal(aliases_load(path, &a, &diag, &e), -1);
	assert_non_null(strstr(diag.data, ":1: both: more than 100 addresses"));
	buf_free(&diag);
	buf_free(&text);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_form_and_lookup),
		cmocka_unit_test(test_is_local),
		cmocka_unit_test(test_refusals_name_the_line),
		cmocka_unit_test(test_local_name_targets),
		cmocka_unit_test(test_local_name_target_errors),
		cmocka_unit_test(test_local_name_target_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
