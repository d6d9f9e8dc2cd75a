/*
 * header.c - header section parsing, address lists, Bcc removal.
 * See header.h for the contract.
 */
#include "mail/header.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ftext = %d33-57 / %d59-126 (RFC 5322 section 3.6.8) */
static int
is_ftext(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

static int
is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

/* Length of a field name at s[0..n) followed by optional WSP and ':'
 * (obs-optional, RFC 5322 section 4.5), or 0 if the line is no field.
 * *colon is the offset of the ':'. */
static size_t
field_name(const char *s, size_t n, size_t *colon)
{
	size_t i = 0, k;

	while (i < n && is_ftext((unsigned char)s[i]))
		i++;
	if (i == 0)
		return 0;
	for (k = i; k < n && is_wsp(s[k]); k++)
		;
	if (k == n || s[k] != ':')
		return 0;
	*colon = k;
	return i;
}

/* The unfolded, trimmed value of raw[0..n). */
static char *
unfold(const char *raw, size_t n)
{
	char *v = mem_alloc(n + 1);
	size_t i, o = 0, a = 0;

	for (i = 0; i < n; i++)
		if (raw[i] != '\r' && raw[i] != '\n')
			v[o++] = raw[i];
	while (a < o && is_wsp(v[a]))
		a++;
	while (o > a && is_wsp(v[o - 1]))
		o--;
	memmove(v, v + a, o - a);
	v[o - a] = '\0';
	return v;
}

void
hdr_block_free(struct hdr_block *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		free(b->v[i].name);
		free(b->v[i].value);
	}
	free(b->v);
	memset(b, 0, sizeof(*b));
}

/* Turn the raw field at msg[off..off+len) into f. */
static void
field_make(const char *msg, size_t off, size_t len, struct hdr_field *f)
{
	size_t colon = 0, nl = field_name(msg + off, len, &colon);

	f->name = str_ndup(msg + off, nl);
	f->value = unfold(msg + off + colon + 1, len - colon - 1);
	f->off = off;
	f->len = len;
}

int
hdr_parse(const char *msg, size_t len, struct hdr_block *out,
    struct op_err *e)
{
	size_t pos = 0, cap = 0, cur = (size_t)-1;
	int first = 1;

	memset(out, 0, sizeof(*out));
	/* a Unix mailbox envelope line "From sender date" is not a field */
	if (len >= 5 && memcmp(msg, "From ", 5) == 0) {
		size_t k = 4;

		while (k < len && is_wsp(msg[k]))
			k++;
		if (k == len || msg[k] != ':') {
			const char *nl = memchr(msg, '\n', len);

			pos = nl == NULL ? len : (size_t)(nl - msg) + 1;
			out->skip = pos;
			if (pos > HDR_LINE_MAX + 2)
				return err_set(e, ERR_DATA, "the leading \"From \" line is longer than %d characters", HDR_LINE_MAX);
		}
	}

	for (;;) {
		const char *line = msg + pos, *nl;
		size_t eol, full, colon;

		if (pos == len) {
			out->end = out->body = len;
			break;
		}
		nl = memchr(line, '\n', len - pos);
		full = nl == NULL ? len - pos : (size_t)(nl - line) + 1;
		eol = nl == NULL ? full : full - 1;
		if (eol > 0 && line[eol - 1] == '\r' && nl != NULL)
			eol--;
		if (first) {
			out->crlf = nl != NULL && eol + 2 == full;
			first = 0;
		}
		if (eol == 0) {
			out->end = pos;
			out->body = pos + full;
			out->blank = 1;
			break;
		}
		if (is_wsp(line[0]) && cur != (size_t)-1) {
			/* continuation line: belongs to the current field */
		} else if (field_name(line, eol, &colon) > 0) {
			if (cur != (size_t)-1)
				field_make(msg, out->v[cur].off, pos - out->v[cur].off, &out->v[cur]);
			if (out->n == HDR_COUNT_MAX) {
				hdr_block_free(out);
				return err_set(e, ERR_DATA, "the message has more than %d header fields", HDR_COUNT_MAX);
			}
			if (out->n == cap) {
				cap = cap ? cap * 2 : 16;
				out->v = mem_realloc(out->v, cap * sizeof(*out->v));
			}
			cur = out->n++;
			memset(&out->v[cur], 0, sizeof(out->v[cur]));
			out->v[cur].off = pos;
		} else {
			/* neither a field nor a continuation: the body starts */
			out->end = out->body = pos;
			break;
		}
		if (eol > HDR_LINE_MAX) {
			hdr_block_free(out);
			return err_set(e, ERR_DATA, "a header line is longer than %d characters", HDR_LINE_MAX);
		}
		if (memchr(line, '\0', eol) != NULL ||
		    memchr(line, '\r', eol) != NULL) {
			hdr_block_free(out);
			return err_set(e, ERR_DATA, "a header line contains a bare CR or a NUL");
		}
		pos += full;
		if (pos > HDR_BLOCK_MAX) {
			hdr_block_free(out);
			return err_set(e, ERR_DATA, "the header section is larger than %d octets", HDR_BLOCK_MAX);
		}
	}
	if (cur != (size_t)-1)
		field_make(msg, out->v[cur].off, out->end - out->v[cur].off, &out->v[cur]);
	return 0;
}

const char *
hdr_get(const struct hdr_block *b, const char *name)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		if (strcasecmp(b->v[i].name, name) == 0)
			return b->v[i].value;
	return NULL;
}

size_t
hdr_count(const struct hdr_block *b, const char *name)
{
	size_t i, c = 0;

	for (i = 0; i < b->n; i++)
		if (strcasecmp(b->v[i].name, name) == 0)
			c++;
	return c;
}

int
hdr_has(const struct hdr_block *b, const char *name)
{
	return hdr_get(b, name) != NULL;
}

/*
 * The address-list scanner.  It walks s[i..] over quoted strings,
 * comments and domain literals, which hide the specials it stops at.
 */
struct scan {
	const char *s;
	size_t i;
	size_t n;
};

/* Skip a quoted string starting at the '"'. */
static int
skip_quoted(struct scan *sc, struct op_err *e)
{
	for (sc->i++; sc->i < sc->n; sc->i++) {
		if (sc->s[sc->i] == '\\' && sc->i + 1 < sc->n)
			sc->i++;
		else if (sc->s[sc->i] == '"') {
			sc->i++;
			return 0;
		}
	}
	return err_set(e, ERR_DATA, "an address has an unterminated quoted string");
}

/* Skip a (possibly nested) comment starting at the '('. */
static int
skip_comment(struct scan *sc, struct op_err *e)
{
	int depth = 0;

	for (; sc->i < sc->n; sc->i++) {
		char c = sc->s[sc->i];

		if (c == '\\' && sc->i + 1 < sc->n) {
			sc->i++;
		} else if (c == '(') {
			if (++depth > HDR_COMMENT_DEPTH)
				return err_set(e, ERR_DATA, "comments nested deeper than %d", HDR_COMMENT_DEPTH);
		} else if (c == ')') {
			if (--depth == 0) {
				sc->i++;
				return 0;
			}
		}
	}
	return err_set(e, ERR_DATA, "an address has an unterminated comment");
}

/* Advance to the first of the characters in stops outside quotes,
 * comments and brackets, or to the end; *hit is that character or '\0'. */
static int
scan_to(struct scan *sc, const char *stops, char *hit, struct op_err *e)
{
	while (sc->i < sc->n) {
		char c = sc->s[sc->i];

		if (strchr(stops, c) != NULL && c != '\0') {
			*hit = c;
			return 0;
		}
		if (c == '"') {
			if (skip_quoted(sc, e) < 0)
				return -1;
		} else if (c == '(') {
			if (skip_comment(sc, e) < 0)
				return -1;
		} else if (c == '[') {
			const char *r = memchr(sc->s + sc->i, ']', sc->n - sc->i);

			if (r == NULL)
				return err_set(e, ERR_DATA, "an address has an unterminated domain literal");
			sc->i = (size_t)(r - sc->s) + 1;
		} else if (c == ')') {
			return err_set(e, ERR_DATA, "an address has a ')' without '('");
		} else {
			sc->i++;
		}
	}
	*hit = '\0';
	return 0;
}

static int
skip_cfws(struct scan *sc, struct op_err *e)
{
	while (sc->i < sc->n) {
		char c = sc->s[sc->i];

		if (is_wsp(c) || c == '\r' || c == '\n')
			sc->i++;
		else if (c == '(') {
			if (skip_comment(sc, e) < 0)
				return -1;
		} else
			break;
	}
	return 0;
}

/* Parse s[from..to) as an addr-spec: comments dropped, surrounding
 * whitespace trimmed, then addr_parse_mailbox(); appended to out. */
/* hdr_recipients_local()'s handler of bare local names; NULL: refused. */
struct local_cb {
	hdr_local_fn fn;
	void *arg;
};

static int
add_spec(const char *s, size_t from, size_t to, const struct local_cb *loc,
    struct addr_list *out, struct op_err *e)
{
	char spec[ADDR_PATH_MAX * 2];
	struct addr_mailbox mb;
	struct scan sc = { s, from, to };
	size_t o = 0, a = 0;

	while (sc.i < to) {
		size_t st = sc.i;

		if (s[sc.i] == '(') {
			if (skip_comment(&sc, e) < 0)
				return -1;
			continue;
		}
		if (s[sc.i] == '"') {
			if (skip_quoted(&sc, e) < 0)
				return -1;
		} else {
			sc.i++;
		}
		if (o + (sc.i - st) >= sizeof(spec))
			return err_set(e, ERR_DATA, "an address is longer than %d octets", ADDR_MAILBOX_MAX);
		memcpy(spec + o, s + st, sc.i - st);
		o += sc.i - st;
	}
	while (a < o && is_wsp(spec[a]))
		a++;
	while (o > a && is_wsp(spec[o - 1]))
		o--;
	spec[o] = '\0';
	if (o == a)
		return err_set(e, ERR_DATA, "an address is empty");
	if (loc != NULL && memchr(spec + a, '@', o - a) == NULL)
		return loc->fn(loc->arg, spec + a, out, e);
	if (addr_parse_mailbox(spec + a, &mb, e) < 0)
		return -1;
	return addr_list_add(out, &mb, 1, e);
}

/*
 * One mailbox (name-addr or addr-spec) at sc->i, ending before one of
 * the characters in ends (or the end).  in_group: ':' is an error.
 * *group is set when the element turned out to be a group's start.
 */
static int
parse_mailbox(struct scan *sc, const char *ends, int in_group, int *group,
    const struct local_cb *loc, struct addr_list *out, struct op_err *e)
{
	char stops[8], hit;
	size_t start = sc->i, lt;

	*group = 0;
	snprintf(stops, sizeof(stops), "<:%s", ends);
	if (scan_to(sc, stops, &hit, e) < 0)
		return -1;
	if (hit == ':') {
		if (in_group)
			return err_set(e, ERR_DATA, "an address list has a group inside a group");
		sc->i++;
		*group = 1;
		return 0;
	}
	if (hit != '<')
		return add_spec(sc->s, start, sc->i, loc, out, e);
	/* name-addr: the display name before '<' is not needed */
	lt = ++sc->i;
	if (scan_to(sc, ">", &hit, e) < 0)
		return -1;
	if (hit != '>')
		return err_set(e, ERR_DATA, "an address is missing its closing '>'");
	if (add_spec(sc->s, lt, sc->i, loc, out, e) < 0)
		return -1;
	sc->i++;
	return skip_cfws(sc, e);
}

static int
parse_addr_list(const char *value, const struct local_cb *loc,
    struct addr_list *out, struct op_err *e)
{
	struct scan sc = { value, 0, strlen(value) };
	int in_group = 0;

	for (;;) {
		int group;

		if (skip_cfws(&sc, e) < 0)
			return -1;
		if (sc.i == sc.n)
			break;
		if (sc.s[sc.i] == ',') {           /* an empty element */
			sc.i++;
			continue;
		}
		if (sc.s[sc.i] == ';') {
			if (!in_group)
				return err_set(e, ERR_DATA, "an address list has a ';' outside a group");
			in_group = 0;
			sc.i++;
			if (skip_cfws(&sc, e) < 0)
				return -1;
			if (sc.i < sc.n && sc.s[sc.i] != ',')
				return err_set(e, ERR_DATA, "an address list has text after a group's ';'");
			continue;
		}
		if (parse_mailbox(&sc, ",;", in_group, &group, loc, out, e) < 0)
			return -1;
		if (group) {
			in_group = 1;
			continue;
		}
		if (sc.i < sc.n && sc.s[sc.i] != ',' && sc.s[sc.i] != ';')
			return err_set(e, ERR_DATA, "an address list has text after an address");
		if (sc.i < sc.n && sc.s[sc.i] == ',')
			sc.i++;
	}
	if (in_group)
		return err_set(e, ERR_DATA, "an address list has a group without its closing ';'");
	return 0;
}

int
hdr_parse_addr_list(const char *value, struct addr_list *out,
    struct op_err *e)
{
	return parse_addr_list(value, NULL, out, e);
}

int
hdr_recipients(const struct hdr_block *b, struct addr_list *out,
    struct op_err *e)
{
	return hdr_recipients_local(b, NULL, NULL, out, e);
}

int
hdr_recipients_local(const struct hdr_block *b, hdr_local_fn local,
    void *arg, struct addr_list *out, struct op_err *e)
{
	struct local_cb loc = { local, arg };
	size_t i;

	for (i = 0; i < b->n; i++) {
		const char *name = b->v[i].name;

		if (strcasecmp(name, "To") != 0 && strcasecmp(name, "Cc") != 0 &&
		    strcasecmp(name, "Bcc") != 0)
			continue;
		if (parse_addr_list(b->v[i].value, local != NULL ? &loc : NULL,
		    out, e) < 0)
			return err_prefix(e, "%s header", name);
	}
	return 0;
}

static int
name_listed(const char *name, const char *const *names)
{
	for (; *names != NULL; names++)
		if (strcasecmp(name, *names) == 0)
			return 1;
	return 0;
}

int
hdr_remove(const char *msg, size_t len, const struct hdr_block *b,
    const char *const *names, struct buf *out, struct op_err *e)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		if (name_listed(b->v[i].name, names))
			continue;
		if (buf_append(out, msg + b->v[i].off, b->v[i].len, e) < 0)
			return -1;
	}
	if (!b->blank && b->body < len) {
		if (buf_appendstr(out, b->crlf ? "\r\n" : "\n", e) < 0)
			return -1;
	}
	return buf_append(out, msg + b->end, len - b->end, e);
}

int
hdr_strip_bcc(const char *msg, size_t len, const struct hdr_block *b,
    struct buf *out, struct op_err *e)
{
	static const char *const bcc[] = { "Bcc", "Resent-Bcc", NULL };

	return hdr_remove(msg, len, b, bcc, out, e);
}
