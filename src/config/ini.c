/*
 * ini.c - the lexer of outpost.conf lines (see ini.h for the grammar).
 */
#include "config/ini.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INI_NAME_MAX 64

static int
is_blank(int c)
{
	return c == ' ' || c == '\t';
}

static int
is_word(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

/* A comment starts at p[i] if it is ';' or '#' and follows white space;
 * at i == 0, blank_before says whether white space came just before p. */
static int
comment_at(const char *p, size_t i, int blank_before)
{
	if (p[i] != ';' && p[i] != '#')
		return 0;
	return i > 0 ? is_blank((unsigned char)p[i - 1]) : blank_before;
}

static int
bad(struct ini_line *out, const char *line, size_t len, const char *why)
{
	size_t i = 0, n;

	out->kind = INI_BAD;
	snprintf(out->why, sizeof(out->why), "%s", why);
	while (i < len && is_blank((unsigned char)line[i]))
		i++;
	for (n = 0; i + n < len && is_word((unsigned char)line[i + n]) &&
	    n < INI_NAME_MAX; n++)
		;
	if (out->name == NULL && n > 0)
		out->name = str_ndup(line + i, n);
	return -1;
}

/* Nothing, or white space and then maybe a comment, from p[i] to len. */
static int
rest_is_empty(const char *p, size_t i, size_t len)
{
	size_t start = i;

	while (i < len && is_blank((unsigned char)p[i]))
		i++;
	if (i == len)
		return 1;
	return (p[i] == ';' || p[i] == '#') && i > start;
}

static int
parse_section(const char *p, size_t len, size_t i, struct ini_line *out)
{
	size_t start = i, ts, te, as, ae, close;

	i++;                                    /* '[' */
	for (close = i; close < len && p[close] != ']'; close++)
		;
	if (close == len)
		return bad(out, p, len, "the section header has no closing ']'");
	while (i < close && is_blank((unsigned char)p[i]))
		i++;
	ts = i;
	while (i < close && !is_blank((unsigned char)p[i]))
		i++;
	te = i;
	while (i < close && is_blank((unsigned char)p[i]))
		i++;
	as = i;
	ae = close;
	while (ae > as && is_blank((unsigned char)p[ae - 1]))
		ae--;
	if (te == ts)
		return bad(out, p, len, "the section header has no name");
	if (!rest_is_empty(p, close + 1, len))
		return bad(out, p, len, "text after the section header's ']'");
	out->kind = INI_SECTION;
	out->name = str_ndup(p + ts, te - ts);
	out->arg = ae > as ? str_ndup(p + as, ae - as) : NULL;
	out->vstart = start;
	out->vend = close + 1;
	return 0;
}

static int
parse_quoted(const char *p, size_t len, size_t i, struct ini_line *out)
{
	struct buf v;
	size_t start = i;
	char why[sizeof(out->why)];

	buf_init(&v, INI_LINE_MAX);
	for (i++; i < len && p[i] != '"'; i++) {
		char c = p[i];

		if (c == '\\') {
			if (i + 1 == len) {
				i = len;
				break;
			}
			c = p[++i];
			if (c != '"' && c != '\\') {
				snprintf(why, sizeof(why), "unknown escape '\\%c' in a "
				    "quoted value (only \\\" and \\\\ are allowed)",
				    (unsigned char)c >= 0x20 && c != 0x7f ? c : '?');
				buf_free(&v);
				return bad(out, p, len, why);
			}
		}
		buf_append(&v, &c, 1, NULL);    /* bounded by the line */
	}
	if (i >= len) {
		buf_free(&v);
		return bad(out, p, len, "the quoted value has no closing '\"'");
	}
	i++;                                    /* closing quote */
	if (!rest_is_empty(p, i, len)) {
		buf_free(&v);
		return bad(out, p, len, "text after the closing '\"' (put a "
		    "comment after a space, or the whole value in the quotes)");
	}
	out->arg = buf_detach(&v, NULL);
	out->quoted = 1;
	out->vstart = start;
	out->vend = i;
	return 0;
}

int
ini_parse_line(const char *p, size_t len, struct ini_line *out)
{
	size_t i = 0, ks, ke, vs, ve;

	memset(out, 0, sizeof(*out));
	if (len > 0 && p[len - 1] == '\r')
		len--;
	if (len > INI_LINE_MAX) {
		char why[80];

		snprintf(why, sizeof(why), "the line is longer than %d bytes",
		    INI_LINE_MAX);
		return bad(out, p, len, why);
	}
	if (memchr(p, '\0', len) != NULL)
		return bad(out, p, len, "the line holds a NUL byte");
	while (i < len && is_blank((unsigned char)p[i]))
		i++;
	if (i == len) {
		out->kind = INI_BLANK;
		return 0;
	}
	if (p[i] == ';' || p[i] == '#') {
		out->kind = INI_COMMENT;
		return 0;
	}
	if (p[i] == '[')
		return parse_section(p, len, i, out);

	ks = i;
	while (i < len && is_word((unsigned char)p[i]))
		i++;
	ke = i;
	while (i < len && is_blank((unsigned char)p[i]))
		i++;
	if (i == len || p[i] != '=') {
		if (memchr(p, '=', len) != NULL && ke > ks)
			return bad(out, p, len, "not a valid key name (letters, "
			    "digits and '_' only) before '='");
		return bad(out, p, len, "expected KEY = VALUE or a [section] "
		    "header (this line has no '=')");
	}
	if (ke == ks)
		return bad(out, p, len, "the line has no key before '='");
	if (ke - ks > INI_NAME_MAX)
		return bad(out, p, len, "the key name is too long");
	out->name = str_ndup(p + ks, ke - ks);
	i++;                                    /* '=' */
	vs = i;
	while (i < len && is_blank((unsigned char)p[i]))
		i++;
	if (i < len && p[i] == '"') {
		if (parse_quoted(p, len, i, out) < 0)
			return -1;
		out->kind = INI_KEY;
		return 0;
	}
	{
		int blank_before = i > vs;

		vs = i;
		for (ve = vs; ve < len; ve++)
			if (comment_at(p + vs, ve - vs, blank_before))
				break;
	}
	while (ve > vs && is_blank((unsigned char)p[ve - 1]))
		ve--;
	out->kind = INI_KEY;
	out->arg = str_ndup(p + vs, ve - vs);
	out->vstart = vs;
	out->vend = ve;
	return 0;
}

void
ini_line_free(struct ini_line *l)
{
	if (l == NULL)
		return;
	free(l->name);
	free(l->arg);
	l->name = l->arg = NULL;
}

int
ini_needs_quotes(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || is_blank((unsigned char)v[0]) ||
	    is_blank((unsigned char)v[n - 1]))
		return 1;
	return strpbrk(v, ";#\"") != NULL;
}

int
ini_append_value(struct buf *out, const char *v, struct op_err *e)
{
	const unsigned char *s;

	for (s = (const unsigned char *)v; *s != '\0'; s++)
		if ((*s < 0x20 && *s != '\t') || *s == 0x7f)
			return err_set(e, ERR_CONFIG, "a value cannot hold a "
			    "control character or a line break");
	if (strlen(v) > INI_LINE_MAX - INI_NAME_MAX - 8)
		return err_set(e, ERR_CONFIG, "the value is longer than a line "
		    "of the file may be");
	if (!ini_needs_quotes(v))
		return buf_appendstr(out, v, e);
	if (buf_appendstr(out, "\"", e) < 0)
		return -1;
	for (s = (const unsigned char *)v; *s != '\0'; s++) {
		if ((*s == '"' || *s == '\\') && buf_appendstr(out, "\\", e) < 0)
			return -1;
		if (buf_append(out, s, 1, e) < 0)
			return -1;
	}
	return buf_appendstr(out, "\"", e);
}

int
ini_is_name(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') ||
		    s[n] == '_'))
			return 0;
	return n > 0 && n <= INI_NAME_MAX;
}
