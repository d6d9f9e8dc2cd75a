/*
 * conf_shared.c - which sections of outpost.conf several nodes share
 * (see conf_shared.h).  Lines are classified with the loader's own lexer
 * (config/ini.h), so a header the loader reads is a header here.
 */
#include "config/conf_shared.h"

#include <string.h>

#include "config/ini.h"

int
conf_shared_type(const char *type)
{
	return type != NULL && (strcmp(type, "profile") == 0 ||
	    strcmp(type, "redirect") == 0 || strcmp(type, "report") == 0);
}

static int
put(struct buf *b, const char *line, size_t n, struct op_err *e)
{
	if (b == NULL)
		return 0;
	if (buf_append(b, line, n, NULL) < 0)
		return err_set(e, ERR_CONFIG, "the settings are larger than the "
		    "buffer for them (%zu bytes)", b->len);
	return 0;
}

int
conf_shared_split(const char *text, size_t len, struct buf *own,
    struct buf *shared, struct op_err *e)
{
	size_t off = 0, n;
	int in_shared = 0;

	while (off < len) {
		const char *line = text + off, *nl = memchr(line, '\n', len - off);
		struct ini_line l;

		n = nl != NULL ? (size_t)(nl - line) + 1 : len - off;
		memset(&l, 0, sizeof(l));
		(void)ini_parse_line(line, nl != NULL ? n - 1 : n, &l);
		if (l.kind == INI_SECTION)
			in_shared = conf_shared_type(l.name);
		if (l.arg != NULL)
			explicit_bzero(l.arg, strlen(l.arg));
		ini_line_free(&l);
		if (put(in_shared ? shared : own, line, n, e) < 0)
			return -1;
		off += n;
	}
	return 0;
}

int
conf_shared_any(const char *text, size_t len)
{
	size_t off = 0, n;
	int any = 0;

	while (off < len && !any) {
		const char *line = text + off, *nl = memchr(line, '\n', len - off);
		struct ini_line l;

		n = nl != NULL ? (size_t)(nl - line) : len - off;
		off += n + (nl != NULL);
		memset(&l, 0, sizeof(l));
		(void)ini_parse_line(line, n, &l);
		any = l.kind != INI_BLANK && l.kind != INI_COMMENT;
		if (l.arg != NULL)
			explicit_bzero(l.arg, strlen(l.arg));
		ini_line_free(&l);
	}
	return any;
}

int
conf_shared_join(const char *own, size_t olen, const char *shared,
    size_t slen, struct buf *out, struct op_err *e)
{
	if (put(out, own, olen, e) < 0 ||
	    (olen > 0 && own[olen - 1] != '\n' && put(out, "\n", 1, e) < 0) ||
	    put(out, shared, slen, e) < 0)
		return -1;
	return 0;
}
