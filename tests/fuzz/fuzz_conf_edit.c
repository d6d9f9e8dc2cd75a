/*
 * fuzz_conf_edit.c - editing outpost.conf in place (config/conf_edit.h),
 * as the web page and the API do.
 *
 * Input: the file's text, then a list of edits (set, unset, add, delete
 * and rename sections, reorder profiles) with their arguments.  Checked
 * after parsing and after every edit:
 *   - the loader's lexer (config/ini.h) reads the document's text as it
 *     read the file, and the text parses again into the same text (the
 *     editor's output is stable);
 *   - a failed edit leaves the text as it was;
 *   - after a successful set, the lexer reads exactly that value for that
 *     key in that section, once; after a successful unset it reads none;
 *     a deleted section is gone (one of them, if the header was
 *     repeated): what the editor believes is a key is what the loader
 *     will read.  Files with a repeated header or key, which the loader
 *     refuses, are exempt from the read-back checks;
 *   - nothing it writes exceeds CONF_FILE_MAX by more than a line.
 */
#include "fuzz.h"

#include "config/conf.h"
#include "config/conf_edit.h"
#include "config/ini.h"
#include "util/buf.h"

static const char *const types[] = { "server", "profile", "client", "redirect",
	"report" };
static const char *const keys[] = { "host", "port", "security", "password",
	"enabled", "from", "username", "limits", "timeout", "smtp_listen",
	"data_dir", "hostname", "allowed_from", "tls_verify", "auth", "retry" };

/* How many times key appears in section of text, the last value in *val
 * (malloc'd, or NULL).  A broken header ("[x] junk", a BAD line that
 * starts with '[') ends the section: what follows belongs to no section
 * anyone can name (the loader refuses the file there). */
static int
lookup(const struct buf *t, const char *section, const char *key, char **val)
{
	size_t pos = 0;
	int n = 0;
	char cur[256] = "";

	*val = NULL;
	while (pos < t->len) {
		const char *p = t->data + pos, *nl = memchr(p, '\n', t->len - pos);
		size_t len = nl != NULL ? (size_t)(nl - p) : t->len - pos;
		struct ini_line l;

		if (ini_parse_line(p, len, &l) == 0) {
			if (l.kind == INI_SECTION) {
				snprintf(cur, sizeof(cur), "%s%s%s", l.name,
				    l.arg != NULL ? " " : "", l.arg != NULL ? l.arg : "");
			} else if (l.kind == INI_KEY && strcmp(cur, section) == 0 &&
			    strcmp(l.name, key) == 0) {
				n++;
				free(*val);
				*val = strdup(l.arg != NULL ? l.arg : "");
			}
		} else if (p[strspn(p, " \t")] == '[') {
			snprintf(cur, sizeof(cur), "\001broken");
		}
		ini_line_free(&l);
		pos += len + (nl != NULL);
	}
	return n;
}

/* How many headers name section in t. */
static int
count_sections(const struct buf *t, const char *section)
{
	size_t pos = 0;
	int n = 0;

	while (pos < t->len) {
		const char *p = t->data + pos, *nl = memchr(p, '\n', t->len - pos);
		size_t len = nl != NULL ? (size_t)(nl - p) : t->len - pos;
		struct ini_line l;
		char cur[256];

		if (ini_parse_line(p, len, &l) == 0 && l.kind == INI_SECTION) {
			snprintf(cur, sizeof(cur), "%s%s%s", l.name,
			    l.arg != NULL ? " " : "", l.arg != NULL ? l.arg : "");
			n += strcmp(cur, section) == 0;
		}
		ini_line_free(&l);
		pos += len + (nl != NULL);
	}
	return n;
}

static void
text_of(const struct conf_doc *d, struct buf *t)
{
	buf_reset(t);
	fuzz_assert(conf_doc_text(d, t, NULL) == 0);
	fuzz_assert(t->len <= CONF_FILE_MAX + 4096);
}

/* What the loader's lexer reads in t, line by line.  A run of CRs at the
 * end of a line is left out: the editor takes one CR there as part of the
 * line end (a CRLF in an LF file), so "v\r\r\n" is written back as
 * "v\r\n" (known and harmless: the editor never writes a CR itself,
 * ini_append_value() refuses one). */
static void
lex_sig(const struct buf *t, struct buf *sig)
{
	size_t pos = 0;

	while (pos < t->len) {
		const char *p = t->data + pos, *nl = memchr(p, '\n', t->len - pos);
		size_t len = nl != NULL ? (size_t)(nl - p) : t->len - pos;
		size_t n = len;
		struct ini_line l;

		while (n > 0 && p[n - 1] == '\r')
			n--;
		ini_parse_line(p, n, &l);
		buf_printf(sig, NULL, "%d|%s|%s|%d|%s\n", l.kind,
		    l.name != NULL ? l.name : "-", l.arg != NULL ? l.arg : "-",
		    l.quoted, l.kind == INI_BAD ? l.why : "");
		ini_line_free(&l);
		pos += len + (nl != NULL);
	}
}

/* The editor's text parses again; the loader reads the same in both;
 * and the text is byte for byte the same when no CR can be taken for a
 * line end (mixed line ends are made uniform once, which is allowed). */
static void
check_stable(const struct buf *t)
{
	struct conf_doc *d2 = NULL;
	struct buf t2, s1, s2;

	buf_init(&t2, FUZZ_BUF_MAX);
	buf_init(&s1, FUZZ_BUF_MAX);
	buf_init(&s2, FUZZ_BUF_MAX);
	if (conf_doc_parse(t->data, t->len, &d2, NULL) != 0)
		fuzz_fail("the editor's own text does not parse");
	text_of(d2, &t2);
	lex_sig(t, &s1);
	lex_sig(&t2, &s2);
	if (!fuzz_same(s1.data, s1.len, s2.data, s2.len))
		fuzz_fail("the loader reads the text differently once parsed "
		    "again:\n--- 1\n%s--- 2\n%s", s1.data, s2.data);
	if (t->len > 0 && memchr(t->data, '\r', t->len) == NULL &&
	    !fuzz_same(t2.data, t2.len, t->data, t->len))
		fuzz_fail("text changes when parsed again:\n--- 1\n%s--- 2\n%s",
		    t->data, t2.data);
	conf_doc_free(d2);
	buf_free(&t2);
	buf_free(&s1);
	buf_free(&s2);
}

/* The document for the input keeps what the loader reads in it. */
static void
check_parse(const uint8_t *text, size_t n, const struct buf *t)
{
	struct buf in, s1, s2;

	buf_init(&in, FUZZ_BUF_MAX);
	buf_init(&s1, FUZZ_BUF_MAX);
	buf_init(&s2, FUZZ_BUF_MAX);
	buf_append(&in, text, n, NULL);
	lex_sig(&in, &s1);
	lex_sig(t, &s2);
	if (!fuzz_same(s1.data, s1.len, s2.data, s2.len))
		fuzz_fail("parsing the file changed what the loader reads:\n"
		    "--- file\n%s--- document\n%s", s1.data, s2.data);
	buf_free(&in);
	buf_free(&s1);
	buf_free(&s2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct conf_doc *d = NULL;
	struct buf before, after;
	const uint8_t *text;
	size_t tlen, ops = 0;
	char *strs[8];

	if (size > 64 * 1024)
		return 0;
	text = fuzz_piece(&in, 60000, &tlen);
	if (conf_doc_parse((const char *)text, tlen, &d, NULL) != 0)
		return 0;
	buf_init(&before, FUZZ_BUF_MAX);
	buf_init(&after, FUZZ_BUF_MAX);
	text_of(d, &before);
	check_parse(text, tlen, &before);
	check_stable(&before);

	while (in.n > 0 && ops++ < 16) {
		unsigned op = fuzz_byte(&in), t = fuzz_byte(&in);
		char section[300], *val = NULL;
		const char *key;
		int rc = -1, n, plain, one_sec;
		size_t removed = 0, i;

		memset(strs, 0, sizeof(strs));
		strs[0] = fuzz_str(&in, 80);    /* section argument */
		if (t & 0x80)
			snprintf(section, sizeof(section), "%s", strs[0]);
		else if (t % 5 == 0 || t % 5 == 3)     /* server, redirect */
			snprintf(section, sizeof(section), "%s", types[t % 5]);
		else
			snprintf(section, sizeof(section), "%s %s", types[t % 5], strs[0]);
		key = keys[(t >> 3) % (sizeof(keys) / sizeof(keys[0]))];
		/* A header or a key written twice makes a file the loader
		 * refuses ("appears twice"); the editor need not repair it, so
		 * the read-back checks hold for files without them (unset
		 * removes every occurrence in one section, as promised). */
		one_sec = count_sections(&before, section) <= 1;
		plain = one_sec && lookup(&before, section, key, &val) <= 1;
		free(val);
		val = NULL;
		switch (op % 6) {
		case 0:
			strs[1] = fuzz_str(&in, 300);
			rc = conf_edit_set(d, section, key, strs[1], NULL);
			if (rc == 0 && plain) {
				text_of(d, &after);
				n = lookup(&after, section, key, &val);
				if (n != 1 || strcmp(val, strs[1]) != 0)
					fuzz_fail("set %s/%s = '%s' reads back %d times as '%s':\n%s",
					    section, key, strs[1], n, val ? val : "(none)", after.data);
				fuzz_assert(conf_doc_has_section(d, section));
				free(val);
			}
			break;
		case 1:
			rc = conf_edit_unset(d, section, key, &removed, NULL);
			if (rc == 0 && one_sec) {
				text_of(d, &after);
				if (lookup(&after, section, key, &val) != 0)
					fuzz_fail("unset %s/%s: still there:\n--- before\n%s"
					    "--- after\n%s", section, key, before.data,
					    after.data);
			}
			break;
		case 2:
			rc = conf_edit_add_section(d, section, NULL);
			if (rc == 0)
				fuzz_assert(conf_doc_has_section(d, section));
			break;
		case 3:
			rc = conf_edit_delete_section(d, section, NULL);
			text_of(d, &after);
			/* one section goes (a file may repeat a header; the
			 * loader refuses that, the editor need not repair it) */
			if (rc == 0 && count_sections(&after, section) !=
			    count_sections(&before, section) - 1) {
				fuzz_fail("[%s] still there after its deletion:\n"
				    "--- before\n%s--- after\n%s", section,
				    before.data, after.data);
			}
			break;
		case 4:
			strs[1] = fuzz_str(&in, 80);
			rc = conf_edit_rename_profile(d, strs[0], strs[1], NULL);
			if (rc == 0) {
				snprintf(section, sizeof(section), "profile %s", strs[1]);
				fuzz_assert(conf_doc_has_section(d, section));
			}
			break;
		default: {
			const char *names[4];
			size_t nn = 1 + t % 4;

			names[0] = strs[0];
			for (i = 1; i < nn; i++)
				names[i] = strs[i] = fuzz_str(&in, 80);
			rc = conf_edit_order_profiles(d, names, nn, NULL);
			break;
		}
		}
		text_of(d, &after);
		if (rc != 0 &&
		    !fuzz_same(after.data, after.len, before.data, before.len))
			fuzz_fail("a failed edit (op %u) changed the document", op % 6);
		check_stable(&after);
		buf_reset(&before);
		buf_append(&before, after.data, after.len, NULL);
		for (i = 0; i < 8; i++)
			free(strs[i]);
	}
	conf_doc_free(d);
	buf_free(&before);
	buf_free(&after);
	return 0;
}
