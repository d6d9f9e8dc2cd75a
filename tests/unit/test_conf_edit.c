/*
 * test_conf_edit.c - in-place edits of outpost.conf: every line not edited
 * comes back byte for byte (comments, blank lines, order), edited text
 * reloads with the loader, saves are atomic and keep the file's mode.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/conf.h"
#include "config/conf_edit.h"

#define TPATH 256

static char tmpdir[128];

static const char *const sample =
    "# Outpost settings\n"
    "# (header comment)\n"
    "\n"
    "[server]\n"
    "smtp_listen = 127.0.0.1:2525   ; apps\n"
    "data_dir = ./data\n"
    "\n"
    "# The main provider.\n"
    "[profile primary]\n"
    "host = smtp.example.com   ; provider\n"
    "port = 587\n"
    "username = apikey\n"
    "password = \"old secret\"\n"
    ";password_file = /etc/outpost/pw\n"
    "\n"
    "; Backup, used when primary fails.\n"
    "[profile backup]\n"
    "enabled = no\n"
    "host = backup.example.net\n"
    "\n"
    "[redirect]\n"
    "enabled = no\n"
    "\n"
    "# third\n"
    "[profile third]\n"
    "host = third.example.org\n";

static int
make_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/outpost-edit-XXXXXX",
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

static struct conf_doc *
parse(const char *text)
{
	struct conf_doc *d = NULL;
	struct op_err e;

	assert_int_equal(conf_doc_parse(text, strlen(text), &d, &e), 0);
	assert_non_null(d);
	return d;
}

/* The document's text must be exactly want. */
static void
expect_text(const struct conf_doc *d, const char *want)
{
	struct buf b;
	struct op_err e;

	buf_init(&b, 2 * CONF_FILE_MAX);
	assert_int_equal(conf_doc_text(d, &b, &e), 0);
	assert_string_equal(b.data != NULL ? b.data : "", want);
	buf_free(&b);
}

/* The document loads; the caller frees the conf. */
static struct conf *
reload(const struct conf_doc *d)
{
	struct buf b, diag;
	struct op_err e;
	struct conf *c = NULL;

	buf_init(&b, 2 * CONF_FILE_MAX);
	buf_init(&diag, 64 * 1024);
	assert_int_equal(conf_doc_text(d, &b, &e), 0);
	if (conf_load_text("edited.conf", b.data != NULL ? b.data : "", b.len,
	    &c, &diag, &e) != 0)
		fail_msg("edited text does not load:\n%s\n---\n%s", diag.data,
		    b.data);
	buf_free(&b);
	buf_free(&diag);
	return c;
}

/* sample with line `from` replaced by `to` (which may be "" to drop it,
 * or hold several lines). */
static char *
sample_with(const char *from, const char *to)
{
	const char *at = strstr(sample, from);
	size_t pre, n;
	char *out;

	assert_non_null(at);
	pre = (size_t)(at - sample);
	n = strlen(sample) - strlen(from) + strlen(to) + 1;
	out = malloc(n);
	assert_non_null(out);
	memcpy(out, sample, pre);
	memcpy(out + pre, to, strlen(to));
	memcpy(out + pre + strlen(to), at + strlen(from),
	    strlen(at + strlen(from)) + 1);
	return out;
}

static void
test_roundtrip(void **state)
{
	struct conf_doc *d;
	struct conf *c;
	struct op_err e;

	(void)state;
	d = parse(sample);
	expect_text(d, sample);
	c = reload(d);
	assert_int_equal(c->nprofiles, 3);
	conf_free(c);
	conf_doc_free(d);

	/* A missing final line end is added; CRLF files stay CRLF. */
	d = parse("[server]\ndata_dir = x");
	expect_text(d, "[server]\ndata_dir = x\n");
	conf_doc_free(d);
	d = parse("; c\r\n[server]\r\ndata_dir = x\r\n");
	assert_int_equal(conf_edit_set(d, "server", "data_dir", "y", &e), 0);
	expect_text(d, "; c\r\n[server]\r\ndata_dir = y\r\n");
	conf_doc_free(d);
	d = parse("");
	expect_text(d, "");
	conf_doc_free(d);
}

static void
test_set_existing(void **state)
{
	struct conf_doc *d = parse(sample);
	struct op_err e;
	struct conf *c;
	char *want;

	(void)state;
	assert_int_equal(conf_edit_set(d, "profile primary", "host",
	    "smtp.new.example", &e), 0);
	want = sample_with("host = smtp.example.com   ; provider",
	    "host = smtp.new.example   ; provider");
	expect_text(d, want);
	free(want);
	c = reload(d);
	assert_string_equal(conf_profile_find(c, "primary")->host, "smtp.new.example");
	conf_free(c);

	/* Same key name in another section is not touched. */
	assert_int_equal(conf_edit_set(d, "profile backup", "enabled", "yes", &e), 0);
	assert_int_equal(conf_edit_set(d, "redirect", "enabled", "no", &e), 0);
	c = reload(d);
	assert_int_equal(conf_profile_find(c, "backup")->enabled, 1);
	assert_int_equal(c->redirect_enabled, 0);
	conf_free(c);
	conf_doc_free(d);

	/* An empty value, with or without a comment after it. */
	d = parse("[server]\nsmtp_listen =\nhttp_listen = ; off\n");
	assert_int_equal(conf_edit_set(d, "server", "smtp_listen", "127.0.0.1:25", &e), 0);
	assert_int_equal(conf_edit_set(d, "server", "http_listen", "127.0.0.1:80", &e), 0);
	expect_text(d, "[server]\nsmtp_listen = 127.0.0.1:25\n"
	    "http_listen = 127.0.0.1:80 ; off\n");
	assert_int_equal(conf_edit_set(d, "server", "http_listen", "", &e), 0);
	expect_text(d, "[server]\nsmtp_listen = 127.0.0.1:25\n"
	    "http_listen = \"\" ; off\n");
	c = reload(d);
	assert_string_equal(c->server.http_listen, "");
	conf_free(c);
	conf_doc_free(d);
}

static void
test_set_new_key(void **state)
{
	struct conf_doc *d = parse(sample);
	struct op_err e;
	char *want;

	(void)state;
	/* After the last key of the section, before its trailing comment. */
	assert_int_equal(conf_edit_set(d, "profile primary", "from",
	    "noreply@example.com", &e), 0);
	want = sample_with("password = \"old secret\"\n",
	    "password = \"old secret\"\nfrom = noreply@example.com\n");
	expect_text(d, want);
	free(want);
	conf_doc_free(d);

	/* A section with no key yet: right after its header. */
	d = parse("[server]\n\n[profile a]\n\n; next\n[redirect]\n");
	assert_int_equal(conf_edit_set(d, "profile a", "host", "h", &e), 0);
	expect_text(d, "[server]\n\n[profile a]\nhost = h\n\n; next\n[redirect]\n");
	conf_doc_free(d);
}

static void
test_set_quoting(void **state)
{
	static const char *const values[] = {
		"new; #secret \"x\"", " lead", "trail ", "a#b", "a;b", "\"",
		"back\\slash", "x\\\"y", "plain words", "#", ";",
	};
	struct conf_doc *d = parse(sample);
	struct op_err e;
	struct conf *c;
	size_t i;

	(void)state;
	assert_int_equal(conf_edit_set(d, "profile primary", "password",
	    "new; #secret \"x\"", &e), 0);
	{
		char *want = sample_with("password = \"old secret\"",
		    "password = \"new; #secret \\\"x\\\"\"");

		expect_text(d, want);
		free(want);
	}
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		assert_int_equal(conf_edit_set(d, "profile primary", "password",
		    values[i], &e), 0);
		c = reload(d);
		assert_string_equal(conf_profile_find(c, "primary")->password, values[i]);
		conf_free(c);
	}
	/* A line break cannot be written. */
	assert_int_equal(conf_edit_set(d, "profile primary", "password", "a\nb", &e), -1);
	assert_int_equal(e.kind, ERR_CONFIG);
	conf_doc_free(d);
}

static void
test_set_refused(void **state)
{
	struct conf_doc *d = parse(sample);
	struct op_err e;

	(void)state;
	assert_int_equal(conf_edit_set(d, "profile primary", "port", "0", &e), -1);
	assert_int_equal(e.kind, ERR_CONFIG);
	assert_string_equal(e.msg, "'0' is not a port (1..65535)");
	assert_int_equal(conf_edit_set(d, "profile primary", "colour", "red", &e), -1);
	assert_string_equal(e.msg, "unknown key in [profile]");
	assert_int_equal(conf_edit_set(d, "server", "host", "x", &e), -1);
	assert_int_equal(conf_edit_set(d, "profile bad/name", "host", "x", &e), -1);
	assert_int_equal(conf_edit_set(d, "smtp", "host", "x", &e), -1);
	assert_int_equal(conf_edit_set(d, "report nobody", "enabled", "yes", &e), -1);
	assert_int_equal(conf_edit_set(d, "profile primary", "host", "", &e), -1);
	expect_text(d, sample);
	conf_doc_free(d);
}

static void
test_set_adds_section(void **state)
{
	struct conf_doc *d = parse(sample);
	struct op_err e;
	struct conf *c;
	char *want;

	(void)state;
	/* No [report] yet: at the end. */
	assert_int_equal(conf_edit_set(d, "report qa@example.com", "enabled", "yes", &e), 0);
	want = malloc(strlen(sample) + 64);
	snprintf(want, strlen(sample) + 64, "%s\n[report qa@example.com]\n"
	    "enabled = yes\n", sample);
	expect_text(d, want);
	free(want);
	assert_int_equal(conf_doc_has_section(d, "report QA@example.com"), 1);
	assert_int_equal(conf_doc_has_section(d, "report other@example.com"), 0);
	/* A second one after the first. */
	assert_int_equal(conf_edit_set(d, "report dev@example.com", "enabled", "no", &e), 0);
	c = reload(d);
	assert_int_equal(c->nreports, 2);
	assert_string_equal(c->reports[1].email, "dev@example.com");
	conf_free(c);
	conf_doc_free(d);

	/* A new profile goes after the last profile. */
	d = parse("[profile a]\nhost = a\n\n[redirect]\nenabled = no\n");
	assert_int_equal(conf_edit_add_section(d, "profile b", &e), 0);
	expect_text(d, "[profile a]\nhost = a\n\n[profile b]\n\n[redirect]\n"
	    "enabled = no\n");
	assert_int_equal(conf_edit_set(d, "profile b", "host", "b.example", &e), 0);
	expect_text(d, "[profile a]\nhost = a\n\n[profile b]\nhost = b.example\n\n"
	    "[redirect]\nenabled = no\n");
	assert_int_equal(conf_edit_add_section(d, "profile b", &e), -1);
	assert_int_equal(e.kind, ERR_CONFIG);
	assert_string_equal(e.msg, "[profile b] exists already");
	conf_doc_free(d);

	/* Sections that touch: a blank line is put on both sides. */
	d = parse("[profile a]\nhost = a\n[redirect]\n");
	assert_int_equal(conf_edit_add_section(d, "profile b", &e), 0);
	expect_text(d, "[profile a]\nhost = a\n\n[profile b]\n\n[redirect]\n");
	conf_doc_free(d);

	/* From nothing. */
	d = parse("");
	assert_int_equal(conf_edit_set(d, "profile p", "host", "smtp.example.com", &e), 0);
	assert_int_equal(conf_edit_set(d, "profile p", "username", "u", &e), 0);
	assert_int_equal(conf_edit_set(d, "profile p", "password", "p w", &e), 0);
	assert_int_equal(conf_edit_set(d, "server", "data_dir", "/var/lib/outpost", &e), 0);
	expect_text(d, "[profile p]\nhost = smtp.example.com\nusername = u\n"
	    "password = p w\n\n[server]\ndata_dir = /var/lib/outpost\n");
	c = reload(d);
	assert_string_equal(c->profiles[0].password, "p w");
	conf_free(c);
	conf_doc_free(d);
}

static void
test_unset(void **state)
{
	struct conf_doc *d = parse(sample);
	struct op_err e;
	size_t n = 99;
	char *want;

	(void)state;
	assert_int_equal(conf_edit_unset(d, "profile primary", "port", &n, &e), 0);
	assert_int_equal(n, 1);
	want = sample_with("port = 587\n", "");
	expect_text(d, want);
	free(want);
	assert_int_equal(conf_edit_unset(d, "profile primary", "port", &n, &e), 0);
	assert_int_equal(n, 0);
	assert_int_equal(conf_edit_unset(d, "profile nope", "port", &n, &e), 0);
	assert_int_equal(n, 0);
	assert_int_equal(conf_edit_unset(d, "bogus", "port", &n, &e), -1);
	conf_doc_free(d);

	/* Every occurrence goes; set keeps only the first. */
	d = parse("[server]\ndata_dir = a ; one\nsmtp_auth = no\ndata_dir = b\n"
	    "data_dir = c\n");
	assert_int_equal(conf_edit_set(d, "server", "data_dir", "x", &e), 0);
	expect_text(d, "[server]\ndata_dir = x ; one\nsmtp_auth = no\n");
	conf_doc_free(d);
	d = parse("[server]\ndata_dir = a\nsmtp_auth = no\ndata_dir = b\n");
	assert_int_equal(conf_edit_unset(d, "server", "data_dir", &n, NULL), 0);
	assert_int_equal(n, 2);
	expect_text(d, "[server]\nsmtp_auth = no\n");
	conf_doc_free(d);
}

static void
test_delete_section(void **state)
{
	struct conf_doc *d = parse(sample);
	struct op_err e;
	struct conf *c;
	char *want;

	(void)state;
	/* Its keys, the comment above it and its blank line go. */
	assert_int_equal(conf_edit_delete_section(d, "profile backup", &e), 0);
	want = sample_with("; Backup, used when primary fails.\n[profile backup]\n"
	    "enabled = no\nhost = backup.example.net\n\n", "");
	expect_text(d, want);
	free(want);

	/* The last section: no blank lines left dangling at the end. */
	assert_int_equal(conf_edit_delete_section(d, "profile third", &e), 0);
	want = sample_with("; Backup, used when primary fails.\n[profile backup]\n"
	    "enabled = no\nhost = backup.example.net\n\n", "");
	want[strlen(want) - strlen("\n# third\n[profile third]\nhost = third.example.org\n")] = '\0';
	expect_text(d, want);
	free(want);
	c = reload(d);
	assert_int_equal(c->nprofiles, 1);
	conf_free(c);

	assert_int_equal(conf_edit_delete_section(d, "profile backup", &e), -1);
	assert_int_equal(e.kind, ERR_NOINPUT);
	assert_string_equal(e.msg, "there is no [profile backup]");

	/* The file's header comment is separated by a blank line: it stays. */
	assert_int_equal(conf_edit_delete_section(d, "server", &e), 0);
	expect_text(d, "# Outpost settings\n# (header comment)\n\n"
	    "# The main provider.\n[profile primary]\n"
	    "host = smtp.example.com   ; provider\nport = 587\nusername = apikey\n"
	    "password = \"old secret\"\n;password_file = /etc/outpost/pw\n\n"
	    "[redirect]\nenabled = no\n");
	conf_doc_free(d);
}

static void
test_rename_profile(void **state)
{
	struct conf_doc *d = parse(sample);
	struct op_err e;
	struct conf *c;
	char *want;

	(void)state;
	assert_int_equal(conf_edit_rename_profile(d, "primary", "main", &e), 0);
	want = sample_with("[profile primary]", "[profile main]");
	expect_text(d, want);
	free(want);
	c = reload(d);
	assert_non_null(conf_profile_find(c, "main"));
	assert_null(conf_profile_find(c, "primary"));
	conf_free(c);

	assert_int_equal(conf_edit_rename_profile(d, "main", "backup", &e), -1);
	assert_int_equal(e.kind, ERR_CONFIG);
	assert_string_equal(e.msg, "[profile backup] exists already");
	assert_int_equal(conf_edit_rename_profile(d, "nope", "x", &e), -1);
	assert_int_equal(e.kind, ERR_NOINPUT);
	assert_int_equal(conf_edit_rename_profile(d, "main", "has space", &e), -1);
	assert_int_equal(e.kind, ERR_CONFIG);
	assert_int_equal(conf_edit_rename_profile(d, "main", "main", &e), 0);
	conf_doc_free(d);

	/* The comment after the header stays. */
	d = parse("[profile a]   ; the one\nhost = h\n");
	assert_int_equal(conf_edit_rename_profile(d, "a", "b", &e), 0);
	expect_text(d, "[profile b]   ; the one\nhost = h\n");
	conf_doc_free(d);
}

static void
test_order_profiles(void **state)
{
	static const char *const order[] = { "third", "primary", "backup" };
	static const char *const same[] = { "primary", "backup", "third" };
	static const char *const twice[] = { "primary", "primary", "third" };
	static const char *const missing[] = { "primary", "backup", "nope" };
	struct conf_doc *d = parse(sample);
	struct op_err e;
	struct conf *c;

	(void)state;
	assert_int_equal(conf_edit_order_profiles(d, same, 3, &e), 0);
	expect_text(d, sample);

	assert_int_equal(conf_edit_order_profiles(d, order, 3, &e), 0);
	expect_text(d,
	    "# Outpost settings\n"
	    "# (header comment)\n"
	    "\n"
	    "[server]\n"
	    "smtp_listen = 127.0.0.1:2525   ; apps\n"
	    "data_dir = ./data\n"
	    "\n"
	    "# third\n"
	    "[profile third]\n"
	    "host = third.example.org\n"
	    "\n"
	    "# The main provider.\n"
	    "[profile primary]\n"
	    "host = smtp.example.com   ; provider\n"
	    "port = 587\n"
	    "username = apikey\n"
	    "password = \"old secret\"\n"
	    ";password_file = /etc/outpost/pw\n"
	    "\n"
	    "[redirect]\n"
	    "enabled = no\n"
	    "\n"
	    "; Backup, used when primary fails.\n"
	    "[profile backup]\n"
	    "enabled = no\n"
	    "host = backup.example.net\n");
	c = reload(d);
	assert_string_equal(c->profiles[0].name, "third");
	assert_string_equal(c->profiles[1].name, "primary");
	assert_string_equal(c->profiles[2].name, "backup");
	conf_free(c);

	/* And back again. */
	assert_int_equal(conf_edit_order_profiles(d, same, 3, &e), 0);
	expect_text(d, sample);

	assert_int_equal(conf_edit_order_profiles(d, same, 2, &e), -1);
	assert_int_equal(e.kind, ERR_CONFIG);
	assert_string_equal(e.msg, "the order names 2 profiles, the file has 3; "
	    "name each profile once");
	assert_int_equal(conf_edit_order_profiles(d, twice, 3, &e), -1);
	assert_string_equal(e.msg, "the order names profile primary twice");
	assert_int_equal(conf_edit_order_profiles(d, missing, 3, &e), -1);
	assert_int_equal(e.kind, ERR_NOINPUT);
	expect_text(d, sample);
	conf_doc_free(d);
}

/* The names in tmpdir, apart from . and .. */
static size_t
count_entries(void)
{
	DIR *dir = opendir(tmpdir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(dir);
	while ((de = readdir(dir)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(dir);
	return n;
}

static void
test_save(void **state)
{
	struct conf_doc *d = parse(sample), *back = NULL;
	struct op_err e;
	struct stat st;
	struct conf *c = NULL;
	struct buf diag;
	char path[TPATH], real[TPATH], link[TPATH];
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/outpost.conf", tmpdir);
	assert_int_equal(count_entries(), 0);

	/* A new file holding a password: 0600. */
	assert_int_equal(conf_doc_save(d, path, &e), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(count_entries(), 1);           /* no temporary left */
	assert_int_equal(conf_doc_load(path, &back, &e), 0);
	expect_text(back, sample);                      /* comments survive */
	conf_doc_free(back);
	buf_init(&diag, 4096);
	assert_int_equal(conf_load(path, &c, &diag, &e), 0);
	assert_int_equal(diag.len, 0);
	conf_free(c);

	/* An edit saved over it. */
	assert_int_equal(conf_edit_set(d, "profile backup", "enabled", "yes", &e), 0);
	assert_int_equal(conf_doc_save(d, path, &e), 0);
	assert_int_equal(conf_load(path, &c, &diag, &e), 0);
	assert_int_equal(conf_profile_find(c, "backup")->enabled, 1);
	conf_free(c);
	assert_int_equal(count_entries(), 1);

	/* The mode of the file it replaces is kept ... */
	assert_int_equal(conf_edit_delete_section(d, "profile primary", &e), 0);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(conf_doc_save(d, path, &e), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	/* ... unless it holds a password: then never group or other. */
	assert_int_equal(conf_edit_set(d, "profile backup", "username", "u", &e), 0);
	assert_int_equal(conf_edit_set(d, "profile backup", "password", "pw", &e), 0);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(conf_doc_save(d, path, &e), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	buf_reset(&diag);
	assert_int_equal(conf_load(path, &c, &diag, &e), 0);
	assert_int_equal(diag.len, 0);                  /* no permission warning */
	conf_free(c);

	/* Through a symbolic link: the target is replaced, the link stays. */
	snprintf(real, sizeof(real), "%s/real.conf", tmpdir);
	snprintf(link, sizeof(link), "%s/link.conf", tmpdir);
	fd = open(real, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(symlink("real.conf", link), 0);
	assert_int_equal(conf_doc_save(d, link, &e), 0);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(conf_doc_load(real, &back, &e), 0);
	assert_int_equal(conf_doc_has_section(back, "profile backup"), 1);
	conf_doc_free(back);
	assert_int_equal(count_entries(), 3);

	/* A directory that does not exist: an error, nothing written. */
	assert_int_equal(conf_doc_save(d, "/nonexistent-outpost-dir/x.conf", &e), -1);
	assert_int_equal(e.kind, ERR_IO);

	unlink(link);
	unlink(real);
	unlink(path);
	buf_free(&diag);
	conf_doc_free(d);
}

static void
test_load_missing(void **state)
{
	struct conf_doc *d = NULL;
	struct op_err e;
	char path[TPATH];

	(void)state;
	snprintf(path, sizeof(path), "%s/none.conf", tmpdir);
	assert_int_equal(conf_doc_load(path, &d, &e), -1);
	assert_null(d);
	assert_int_equal(e.kind, ERR_NOINPUT);
	assert_int_equal(e.sys, ENOENT);
}

static void
test_size_limit(void **state)
{
	struct conf_doc *d;
	struct op_err e;
	struct buf text, before, after;
	char value[3000];

	(void)state;
	buf_init(&text, CONF_FILE_MAX);
	buf_appendstr(&text, "[server]\n", NULL);
	/* Exactly 40 bytes short of the limit. */
	while (text.len + 2 <= CONF_FILE_MAX - 40)
		buf_appendstr(&text, ";\n", NULL);
	if (text.len < CONF_FILE_MAX - 40)
		buf_appendstr(&text, "\n", NULL);
	assert_int_equal(text.len, CONF_FILE_MAX - 40);
	d = parse(text.data);
	memset(value, 'a', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	buf_init(&before, 2 * CONF_FILE_MAX);
	buf_init(&after, 2 * CONF_FILE_MAX);
	assert_int_equal(conf_doc_text(d, &before, &e), 0);
	assert_int_equal(conf_edit_set(d, "server", "data_dir", value, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_int_equal(conf_edit_set(d, "profile new", "host",
	    "a-rather-long-host-name.example.org", &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_int_equal(conf_doc_text(d, &after, &e), 0);
	assert_string_equal(before.data, after.data);
	assert_int_equal(conf_edit_set(d, "server", "data_dir", "/x", &e), 0);
	conf_doc_free(d);
	buf_free(&before);
	buf_free(&after);
	buf_free(&text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_set_existing),
		cmocka_unit_test(test_set_new_key),
		cmocka_unit_test(test_set_quoting),
		cmocka_unit_test(test_set_refused),
		cmocka_unit_test(test_set_adds_section),
		cmocka_unit_test(test_unset),
		cmocka_unit_test(test_delete_section),
		cmocka_unit_test(test_rename_profile),
		cmocka_unit_test(test_order_profiles),
		cmocka_unit_test(test_save),
		cmocka_unit_test(test_load_missing),
		cmocka_unit_test(test_size_limit),
	};

	return cmocka_run_group_tests_name("conf_edit", tests, make_tmpdir,
	    remove_tmpdir);
}
