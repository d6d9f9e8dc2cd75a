/*
 * mime_compose - test-only driver for mime_compose(), used by
 * tests/integration/test_mime_reparse.py to check composed messages with
 * an independent parser (Python's email package).
 *
 * Reads a description on stdin, one item per line, fields separated by
 * one space; every field is "-" (NULL) or "b:" followed by base64:
 *   from ADDR NAME          to ADDR NAME          cc ADDR NAME
 *   subject TEXT            text TEXT             html TEXT
 *   header NAME VALUE       att FILENAME TYPE DATA
 *   domain DOMAIN           date SECONDS (plain decimal)
 * Writes the message to stdout and "message_id=... smtputf8=N" to stderr;
 * on failure "error kind=N: message" to stderr and exits with the kind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mail/encode.h"
#include "mail/mime.h"

#define IN_MAX (64u * 1024 * 1024)
#define ITEMS_MAX 256

/* every decoded field, freed at exit (the tool runs under LeakSanitizer) */
static char *owned[4 * ITEMS_MAX + 16];
static size_t nowned;

struct field {
	char *p;                   /* NUL-terminated, NULL for "-" */
	size_t len;
};

static int
decode(const char *tok, struct field *f, struct op_err *e)
{
	struct buf b;

	if (strcmp(tok, "-") == 0) {
		f->p = NULL;
		f->len = 0;
		return 0;
	}
	if (strncmp(tok, "b:", 2) != 0)
		return err_set(e, ERR_USAGE, "field must be - or b:BASE64");
	buf_init(&b, IN_MAX);
	if (enc_base64_decode(&b, tok + 2, strlen(tok + 2), e) < 0) {
		buf_free(&b);
		return -1;
	}
	if (nowned == sizeof(owned) / sizeof(owned[0])) {
		buf_free(&b);
		return err_set(e, ERR_USAGE, "too many fields");
	}
	f->p = buf_detach(&b, &f->len);
	owned[nowned++] = f->p;
	return 0;
}

static int
fields(char *line, struct field *out, size_t want, struct op_err *e)
{
	char *save = NULL, *tok;
	size_t i;

	for (i = 0; i < want; i++) {
		tok = strtok_r(i == 0 ? line : NULL, " ", &save);
		if (tok == NULL)
			return err_set(e, ERR_USAGE, "an item has too few fields");
		if (decode(tok, &out[i], e) < 0)
			return -1;
	}
	return 0;
}

int
main(void)
{
	static struct mime_addr to[ITEMS_MAX], cc[ITEMS_MAX];
	static struct mime_attachment att[ITEMS_MAX];
	static struct mime_header hdr[ITEMS_MAX];
	struct mime_msg m;
	struct mime_info info;
	struct op_err e;
	struct buf in, out;
	char *line, *save = NULL;
	unsigned long date = 0;
	char chunk[65536];
	ssize_t r;
	int rc = 0;
	size_t i;

	memset(&m, 0, sizeof(m));
	err_clear(&e);
	buf_init(&in, IN_MAX);
	buf_init(&out, 4 * IN_MAX);
	while ((r = read(0, chunk, sizeof(chunk))) > 0)
		if (buf_append(&in, chunk, (size_t)r, &e) < 0)
			goto fail;
	for (line = strtok_r(in.data ? in.data : (char *)"", "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		struct field f[3];

		if (sp == NULL) {
			err_set(&e, ERR_USAGE, "bad line");
			goto fail;
		}
		*sp++ = '\0';
		memset(f, 0, sizeof(f));
		if (strcmp(line, "date") == 0) {
			if (str_to_ulong(sp, (unsigned long)-1, &date) < 0) {
				err_set(&e, ERR_USAGE, "bad date");
				goto fail;
			}
			m.date = (int64_t)date;
		} else if (strcmp(line, "from") == 0 || strcmp(line, "to") == 0 ||
		    strcmp(line, "cc") == 0) {
			struct mime_addr *a = line[0] == 'f' ? &m.from :
			    line[0] == 't' ? &to[m.nto++] : &cc[m.ncc++];

			if (m.nto >= ITEMS_MAX || m.ncc >= ITEMS_MAX || fields(sp, f, 2, &e) < 0)
				goto fail;
			a->addr = f[0].p;
			a->name = f[1].p;
		} else if (strcmp(line, "subject") == 0 || strcmp(line, "domain") == 0) {
			if (fields(sp, f, 1, &e) < 0)
				goto fail;
			if (line[0] == 's')
				m.subject = f[0].p;
			else
				m.msgid_domain = f[0].p;
		} else if (strcmp(line, "text") == 0 || strcmp(line, "html") == 0) {
			if (fields(sp, f, 1, &e) < 0)
				goto fail;
			if (line[0] == 't') {
				m.text = f[0].p;
				m.text_len = f[0].len;
			} else {
				m.html = f[0].p;
				m.html_len = f[0].len;
			}
		} else if (strcmp(line, "header") == 0) {
			if (m.nheaders >= ITEMS_MAX || fields(sp, f, 2, &e) < 0)
				goto fail;
			hdr[m.nheaders].name = f[0].p;
			hdr[m.nheaders++].value = f[1].p;
		} else if (strcmp(line, "att") == 0) {
			if (m.natt >= ITEMS_MAX || fields(sp, f, 3, &e) < 0)
				goto fail;
			att[m.natt].filename = f[0].p;
			att[m.natt].content_type = f[1].p;
			att[m.natt].data = f[2].p;
			att[m.natt++].len = f[2].len;
		} else {
			err_set(&e, ERR_USAGE, "unknown item %s", line);
			goto fail;
		}
	}
	m.to = to;
	m.cc = cc;
	m.att = att;
	m.headers = hdr;
	if (mime_compose(&m, &out, &info, &e) < 0)
		goto fail;
	if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0)
		rc = 74;
	else
		fprintf(stderr, "message_id=%s smtputf8=%d\n", info.message_id, info.smtputf8);
	goto out;
fail:
	fprintf(stderr, "error kind=%d: %s\n", e.kind, e.msg);
	rc = e.kind ? e.kind : 70;
out:
	for (i = 0; i < nowned; i++)
		free(owned[i]);
	buf_free(&in);
	buf_free(&out);
	return rc;
}
