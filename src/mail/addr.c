/*
 * addr.c - envelope mailboxes, SMTP paths, allowed_from patterns.
 * The policy (what is refused and why) is written once, in addr.h.
 */
#include "mail/addr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/encode.h"
#include "util/buf.h"
#include "util/log.h"

/* Longest input looked at: a mailbox is at most 254 octets once
 * normalised; quoting can make the input longer, not 4 times longer. */
#define ADDR_INPUT_MAX (4 * ADDR_MAILBOX_MAX)

/* Input echoed in an error message, escaped (log_sanitize) and shortened:
 * a message never carries a raw CR, LF or control character onwards. */
#define SHOW_MAX 72

static const char *
show(char *dst, const char *s)
{
	log_sanitize(dst, SHOW_MAX, s);
	return dst;
}

static int
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

/* RFC 5322 section 3.2.3 atext, less '%' and '!' (see addr.h). */
static int
is_atext(int c)
{
	if (is_alpha(c) || is_digit(c))
		return 1;
	return c != '\0' && strchr("#$&'*+-/=?^_`{|}~", c) != NULL;
}

/* What to say about a character that cannot stand where it is. */
static int
bad_char(struct op_err *e, const char *text, int c, const char *where)
{
	char sh[SHOW_MAX];

	if (c == '\r' || c == '\n')
		return err_set(e, ERR_DATA, "address contains a line break");
	if (c < 0x20 || c == 0x7f)
		return err_set(e, ERR_DATA, "address contains a control character (0x%02x)", c);
	if (c == ' ' || c == '\t')
		return err_set(e, ERR_DATA, "address \"%s\" contains a space outside quotes", show(sh, text));
	if (c == '%')
		return err_set(e, ERR_DATA, "address contains '%%': the percent hack (u%%x@relay) is refused");
	if (c == '!')
		return err_set(e, ERR_DATA, "address contains '!': bang paths are refused");
	return err_set(e, ERR_DATA, "address contains '%c', which is not allowed in the %s", c, where);
}

/*
 * One UTF-8 character starting with a non-ASCII octet: its length, or 0
 * with e set.  C1 controls (U+0080..U+009F) are control characters too.
 */
static size_t
utf8_char(const char *s, size_t n, struct op_err *e)
{
	unsigned long cp;
	size_t k = enc_utf8_char((const unsigned char *)s, n, &cp);

	if (k == 0) {
		err_set(e, ERR_DATA, "address contains octets that are not valid UTF-8");
		return 0;
	}
	if (cp >= 0x80 && cp <= 0x9f) {
		err_set(e, ERR_DATA, "address contains a control character (U+%04lX)", cp);
		return 0;
	}
	return k;
}

/* 1 if s[0..n) is an RFC 5321 Dot-string under our atext (with UTF-8). */
static int
is_dot_string(const char *s, size_t n)
{
	size_t i = 0;
	int prev_dot = 1;

	if (n == 0)
		return 0;
	while (i < n) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (prev_dot)
				return 0;
			prev_dot = 1;
			i++;
		} else if (c >= 0x80) {
			size_t k = utf8_char(s + i, n - i, NULL);

			if (k == 0)
				return 0;
			prev_dot = 0;
			i += k;
		} else if (is_atext(c)) {
			prev_dot = 0;
			i++;
		} else {
			return 0;
		}
	}
	return !prev_dot;
}

/*
 * The local part at text: a Dot-string or a Quoted-string.  The content
 * (unescaped, for a quoted string) goes to local[], its length to *llen;
 * *quoted tells which form it was; *end is the offset just past it.
 */
static int
parse_local(const char *text, char *local, size_t *llen, int *quoted,
    unsigned *flags, size_t *end, struct op_err *e)
{
	char sh[SHOW_MAX];
	size_t i = 0, n = 0, len = strlen(text);

	*quoted = 0;
	if (text[0] == '"') {
		*quoted = 1;
		for (i = 1;; i++) {
			unsigned char c = (unsigned char)text[i];

			if (c == '\0')
				return err_set(e, ERR_DATA, "address has an unterminated quoted string");
			if (c == '"')
				break;
			if (c == '\\') {
				/* quoted-pairSMTP: '\' followed by 32..126 */
				c = (unsigned char)text[++i];
				if (c < 0x20 || c > 0x7e)
					return bad_char(e, text, c == '\0' ? '\\' : c, "local part");
			} else if (c >= 0x80) {
				size_t k = utf8_char(text + i, len - i, e);

				if (k == 0)
					return -1;
				if (n + k > ADDR_LOCAL_MAX)
					return err_set(e, ERR_DATA, "local part is longer than %d octets", ADDR_LOCAL_MAX);
				memcpy(local + n, text + i, k);
				n += k;
				i += k - 1;
				*flags |= ADDR_F_UTF8;
				continue;
			} else if (c < 0x20 || c == 0x7f) {
				return bad_char(e, text, c, "local part");
			}
			if (c == '%' || c == '!')
				return bad_char(e, text, c, "local part");
			if (c == '@')
				return err_set(e, ERR_DATA, "address has an '@' inside its quoted local part");
			if (n >= ADDR_LOCAL_MAX)
				return err_set(e, ERR_DATA, "local part is longer than %d octets", ADDR_LOCAL_MAX);
			local[n++] = (char)c;
		}
		*end = i + 1;
		if (n == 0)
			return err_set(e, ERR_DATA, "address has an empty local part");
		*llen = n;
		return 0;
	}

	for (i = 0; text[i] != '\0' && text[i] != '@'; ) {
		unsigned char c = (unsigned char)text[i];

		if (c >= 0x80) {
			size_t k = utf8_char(text + i, len - i, e);

			if (k == 0)
				return -1;
			*flags |= ADDR_F_UTF8;
			i += k;
			continue;
		}
		if (c != '.' && !is_atext(c)) {
			if (c == '"')
				return err_set(e, ERR_DATA, "address has a quote inside its local part");
			return bad_char(e, text, c, "local part");
		}
		i++;
	}
	if (i == 0) {
		if (text[0] == '@' && strpbrk(text, ",:") != NULL)
			return err_set(e, ERR_DATA, "address has a source route (@a,@b:u@c), which is refused");
		return err_set(e, ERR_DATA, "address has an empty local part");
	}
	if (i > ADDR_LOCAL_MAX)
		return err_set(e, ERR_DATA, "local part is longer than %d octets", ADDR_LOCAL_MAX);
	if (!is_dot_string(text, i))
		return err_set(e, ERR_DATA, "local part \"%s\" has a misplaced dot", show(sh, text));
	memcpy(local, text, i);
	*llen = i;
	*end = i;
	return 0;
}

/* [1.2.3.4] or [IPv6:...]; s points after '[', n octets up to the ']'. */
static int
parse_literal(const char *s, size_t n, struct op_err *e)
{
	char tmp[64], sh[SHOW_MAX];
	size_t i;
	int parts = 0, digits = 0;
	unsigned v = 0;

	if (n >= 5 && strncasecmp(s, "IPv6:", 5) == 0) {
		struct in6_addr a6;

		if (n - 5 >= sizeof(tmp) || n == 5)
			return err_set(e, ERR_DATA, "address literal is not a valid IPv6 address");
		memcpy(tmp, s + 5, n - 5);
		tmp[n - 5] = '\0';
		if (inet_pton(AF_INET6, tmp, &a6) != 1)
			return err_set(e, ERR_DATA, "address literal [%s] is not a valid IPv6 address", show(sh, tmp));
		return 0;
	}
	/* IPv4-address-literal = Snum 3("." Snum), Snum = 1*3DIGIT (0..255) */
	for (i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (digits == 0 || v > 255)
				goto bad;
			parts++;
			digits = 0;
			v = 0;
		} else if (is_digit(s[i]) && digits < 3) {
			v = v * 10 + (unsigned)(s[i] - '0');
			digits++;
		} else {
			goto bad;
		}
	}
	if (parts == 4)
		return 0;
bad:
	return err_set(e, ERR_DATA, "address literal is neither [a.b.c.d] nor [IPv6:...]");
}

/* The domain at s (after the '@'), to the end of the string. */
static int
parse_domain(const char *s, unsigned *flags, struct op_err *e)
{
	char sh[SHOW_MAX];
	size_t n = strlen(s), i, label = 0;

	if (n == 0)
		return err_set(e, ERR_DATA, "address has no domain after '@'");
	if (n > ADDR_DOMAIN_MAX)
		return err_set(e, ERR_DATA, "domain is longer than %d octets", ADDR_DOMAIN_MAX);
	if (s[0] == '[') {
		if (s[n - 1] != ']')
			return err_set(e, ERR_DATA, "address literal is missing its ']'");
		*flags |= ADDR_F_LITERAL;
		return parse_literal(s + 1, n - 2, e);
	}
	for (i = 0; i <= n; ) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.' || c == '\0') {
			if (label == 0)
				return err_set(e, ERR_DATA, "domain \"%s\" has an empty label", show(sh, s));
			if (s[i - 1] == '-')
				return err_set(e, ERR_DATA, "domain label ends with '-'");
			label = 0;
			i++;
			continue;
		}
		if (c >= 0x80) {
			size_t k = utf8_char(s + i, n - i, e);

			if (k == 0)
				return -1;
			*flags |= ADDR_F_UTF8;
			i += k;
			label += k;
		} else if (is_alpha(c) || is_digit(c) || c == '-') {
			if (c == '-' && label == 0)
				return err_set(e, ERR_DATA, "domain label starts with '-'");
			i++;
			label++;
		} else if (c == '@') {
			return err_set(e, ERR_DATA, "address has more than one '@'");
		} else {
			return bad_char(e, s, c, "domain");
		}
		if (label > ADDR_LABEL_MAX)
			return err_set(e, ERR_DATA, "domain label is longer than %d octets", ADDR_LABEL_MAX);
	}
	return 0;
}

int
addr_parse_mailbox(const char *text, struct addr_mailbox *out,
    struct op_err *e)
{
	char local[ADDR_LOCAL_MAX + 1], sh[SHOW_MAX];
	size_t llen = 0, end = 0, dlen, i, o = 0;
	unsigned flags = 0;
	int quoted;

	memset(out, 0, sizeof(*out));
	if (text == NULL || text[0] == '\0')
		return err_set(e, ERR_DATA, "address is empty");
	if (strnlen(text, ADDR_INPUT_MAX + 1) > ADDR_INPUT_MAX)
		return err_set(e, ERR_DATA, "address is longer than %d octets", ADDR_MAILBOX_MAX);
	if (parse_local(text, local, &llen, &quoted, &flags, &end, e) < 0)
		return -1;
	if (text[end] != '@') {
		if (text[end] == '\0')
			return err_set(e, ERR_DATA, "address \"%s\" has no '@'", show(sh, text));
		return bad_char(e, text, (unsigned char)text[end], "local part");
	}
	if (parse_domain(text + end + 1, &flags, e) < 0)
		return -1;
	dlen = strlen(text + end + 1);

	/* Normalise the local part: quotes only when needed. */
	if (quoted && !is_dot_string(local, llen)) {
		flags |= ADDR_F_QUOTED;
		out->addr[o++] = '"';
		for (i = 0; i < llen; i++) {
			if (o + 3 > ADDR_LOCAL_MAX + 1)
				return err_set(e, ERR_DATA, "local part is longer than %d octets", ADDR_LOCAL_MAX);
			if (local[i] == '"' || local[i] == '\\')
				out->addr[o++] = '\\';
			out->addr[o++] = local[i];
		}
		out->addr[o++] = '"';
		if (o > ADDR_LOCAL_MAX)
			return err_set(e, ERR_DATA, "local part is longer than %d octets", ADDR_LOCAL_MAX);
	} else {
		memcpy(out->addr, local, llen);
		o = llen;
	}
	if (o + 1 + dlen > ADDR_MAILBOX_MAX)
		return err_set(e, ERR_DATA, "address is longer than %d octets", ADDR_MAILBOX_MAX);
	out->local_len = o;
	out->addr[o++] = '@';
	memcpy(out->addr + o, text + end + 1, dlen + 1);
	out->flags = flags;
	return 0;
}

const char *
addr_domain(const struct addr_mailbox *mb)
{
	return mb->addr + mb->local_len + 1;
}

int
addr_domain_equal(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++)
		if (lower((unsigned char)*a) != lower((unsigned char)*b))
			return 0;
	return *a == *b;
}

int
addr_mailbox_equal(const struct addr_mailbox *a, const struct addr_mailbox *b)
{
	if (a->local_len != b->local_len ||
	    memcmp(a->addr, b->addr, a->local_len) != 0)
		return 0;
	return addr_domain_equal(addr_domain(a), addr_domain(b));
}

/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
static size_t
param_keyword(const char *s)
{
	size_t i = 0;

	if (!is_alpha(s[0]) && !is_digit(s[0]))
		return 0;
	while (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '-')
		i++;
	return i;
}

/* esmtp-value = 1*(%d33-60 / %d62-126 / UTF8-non-ascii) */
static int
param_value(const char *s, size_t *len, struct op_err *e)
{
	size_t i = 0, n = strlen(s);

	while (s[i] != '\0' && s[i] != ' ') {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x80) {
			size_t k = utf8_char(s + i, n - i, e);

			if (k == 0)
				return -1;
			i += k;
		} else if (c < 33 || c > 126 || c == '=') {
			return err_set(e, ERR_DATA, "SMTP parameter value contains an invalid character (0x%02x)", c);
		} else {
			i++;
		}
	}
	if (i == 0)
		return err_set(e, ERR_DATA, "SMTP parameter has an empty value after '='");
	*len = i;
	return 0;
}

static int
parse_params(const char *s, struct addr_path *out, struct op_err *e)
{
	size_t t = 0;

	for (;;) {
		size_t klen, vlen = 0, j;
		const char *v = NULL;

		while (*s == ' ')
			s++;
		if (*s == '\0')
			return 0;
		klen = param_keyword(s);
		if (klen == 0)
			return err_set(e, ERR_DATA, "SMTP parameter has an invalid keyword");
		if (s[klen] == '=') {
			v = s + klen + 1;
			if (param_value(v, &vlen, e) < 0)
				return -1;
		} else if (s[klen] != ' ' && s[klen] != '\0') {
			return err_set(e, ERR_DATA, "SMTP parameter keyword contains an invalid character");
		}
		if (out->nparams == ADDR_PARAMS_MAX)
			return err_set(e, ERR_DATA, "more than %d SMTP parameters", ADDR_PARAMS_MAX);
		if (t + klen + vlen + 2 > ADDR_PARAMS_TEXT_MAX)
			return err_set(e, ERR_DATA, "SMTP parameters are too long");
		for (j = 0; j < out->nparams; j++) {
			const char *k = out->text + out->key_off[j];

			if (strlen(k) == klen && strncasecmp(k, s, klen) == 0)
				return err_set(e, ERR_DATA, "SMTP parameter %.*s is given twice", (int)klen, s);
		}
		out->key_off[out->nparams] = (unsigned short)t;
		memcpy(out->text + t, s, klen);
		t += klen;
		out->text[t++] = '\0';
		out->val_off[out->nparams] = (unsigned short)t;
		out->has_val[out->nparams] = v != NULL;
		if (vlen > 0)
			memcpy(out->text + t, v, vlen);
		t += vlen;
		out->text[t++] = '\0';
		out->nparams++;
		s = v != NULL ? v + vlen : s + klen;
	}
}

int
addr_parse_path(const char *text, int kind, struct addr_path *out,
    struct op_err *e)
{
	char mbox[ADDR_PATH_MAX + 1];
	size_t i;
	int inq = 0;

	memset(out, 0, sizeof(*out));
	if (text == NULL || text[0] != '<')
		return err_set(e, ERR_DATA, "the address must be written in angle brackets: <user@example.org>");
	/* find the closing '>' outside a quoted local part */
	for (i = 1; text[i] != '\0'; i++) {
		if (i + 1 > ADDR_PATH_MAX)
			return err_set(e, ERR_DATA, "path is longer than %d octets", ADDR_PATH_MAX);
		if (inq && text[i] == '\\' && text[i + 1] != '\0')
			i++;
		else if (text[i] == '"')
			inq = !inq;
		else if (!inq && text[i] == '>')
			break;
	}
	if (text[i] != '>')
		return err_set(e, ERR_DATA, "path is missing its closing '>'");
	if (i == 1) {
		if (kind != ADDR_PATH_REVERSE)
			return err_set(e, ERR_DATA, "the null path <> is allowed only as a sender");
		out->is_null = 1;
	} else {
		memcpy(mbox, text + 1, i - 1);
		mbox[i - 1] = '\0';
		if (mbox[0] == '@')
			return err_set(e, ERR_DATA, "address has a source route (@a,@b:u@c), which is refused");
		if (addr_parse_mailbox(mbox, &out->mbox, e) < 0)
			return -1;
	}
	i++;
	if (text[i] == '\0')
		return 0;
	if (text[i] != ' ')
		return err_set(e, ERR_DATA, "unexpected text after the path's '>'");
	return parse_params(text + i, out, e);
}

const char *
addr_path_param_key(const struct addr_path *p, size_t i)
{
	return p->text + p->key_off[i];
}

const char *
addr_path_param_value(const struct addr_path *p, size_t i)
{
	return p->text + p->val_off[i];
}

const char *
addr_path_param(const struct addr_path *p, const char *key)
{
	size_t i;

	for (i = 0; i < p->nparams; i++)
		if (strcasecmp(p->text + p->key_off[i], key) == 0)
			return p->text + p->val_off[i];
	return NULL;
}

/*
 * Glob match of s[0..sn) against p[0..pn) where '*' matches any run,
 * ignoring ASCII case.  The classic two-pointer walk: at most one
 * backtrack point, so O(pn * sn) at worst, and both are short.
 */
static int
glob_match(const char *p, size_t pn, const char *s, size_t sn)
{
	size_t pi = 0, si = 0, star = (size_t)-1, mark = 0;

	while (si < sn) {
		if (pi < pn && p[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < pn && lower((unsigned char)p[pi]) == lower((unsigned char)s[si])) {
			pi++;
			si++;
		} else if (star != (size_t)-1) {
			pi = star + 1;
			si = ++mark;
		} else {
			return 0;
		}
	}
	while (pi < pn && p[pi] == '*')
		pi++;
	return pi == pn;
}

int
addr_match_pattern(const char *pattern, const struct addr_mailbox *mb)
{
	const char *at = strrchr(pattern, '@');
	const char *dom = addr_domain(mb);

	if (at == NULL)
		return 0;
	return glob_match(pattern, (size_t)(at - pattern), mb->addr, mb->local_len) &&
	    glob_match(at + 1, strlen(at + 1), dom, strlen(dom));
}

int
addr_pattern_valid(const char *pattern, struct op_err *e)
{
	const char *at, *s;
	char sh[SHOW_MAX];

	if (pattern == NULL || pattern[0] == '\0')
		return err_set(e, ERR_DATA, "sender pattern is empty");
	if (strlen(pattern) > ADDR_MAILBOX_MAX)
		return err_set(e, ERR_DATA, "sender pattern is longer than %d octets", ADDR_MAILBOX_MAX);
	at = strchr(pattern, '@');
	if (at == NULL || strchr(at + 1, '@') != NULL)
		return err_set(e, ERR_DATA, "sender pattern \"%s\" must have exactly one '@' (like *@example.com)", show(sh, pattern));
	if (at == pattern || at[1] == '\0')
		return err_set(e, ERR_DATA, "sender pattern \"%s\" needs text on both sides of '@'", show(sh, pattern));
	for (s = pattern; s < at; s++) {
		unsigned char c = (unsigned char)*s;

		if (c != '*' && c != '.' && !is_atext(c) && c < 0x80)
			return err_set(e, ERR_DATA, "sender pattern \"%s\" has a character not allowed in its local part", show(sh, pattern));
	}
	for (s = at + 1; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c != '*' && c != '.' && c != '-' && !is_alpha(c) && !is_digit(c) && c < 0x80)
			return err_set(e, ERR_DATA, "sender pattern \"%s\" has a character not allowed in its domain", show(sh, pattern));
	}
	if (!enc_utf8_valid(pattern, strlen(pattern)))
		return err_set(e, ERR_DATA, "sender pattern is not valid UTF-8");
	return 0;
}

void
addr_list_init(struct addr_list *l, size_t max)
{
	memset(l, 0, sizeof(*l));
	l->max = max;
}

void
addr_list_free(struct addr_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

int
addr_list_add(struct addr_list *l, const struct addr_mailbox *mb, int unique,
    struct op_err *e)
{
	size_t i;

	if (unique)
		for (i = 0; i < l->n; i++)
			if (addr_mailbox_equal(&l->v[i], mb))
				return 0;
	if (l->max != 0 && l->n >= l->max)
		return err_set(e, ERR_DATA, "more than %zu addresses", l->max);
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = mem_realloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = *mb;
	return 0;
}

int
addr_parse_display(const char *text, struct addr_mailbox *mb, char *name,
    size_t namesz, struct op_err *e)
{
	char sh[SHOW_MAX], addr[ADDR_INPUT_MAX + 1];
	const char *s = text, *lt, *p;
	size_t n, k, i = 0;

	if (namesz <= ADDR_NAME_MAX)
		return err_set(e, ERR_SOFTWARE, "display name buffer too small");
	name[0] = '\0';
	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n == 0 || s[n - 1] != '>') {
		if (n > ADDR_INPUT_MAX)
			return err_set(e, ERR_DATA, "the address is longer than %d "
			    "octets", ADDR_MAILBOX_MAX);
		memcpy(addr, s, n);
		addr[n] = '\0';
		if (addr_parse_mailbox(addr, mb, e) == 0)
			return 0;
		if (memchr(s, ' ', n) != NULL && memchr(s, '<', n) == NULL)
			return err_set(e, ERR_DATA, "\"%s\" is not an address; write a "
			    "name with its address as Name <user@example.org>",
			    show(sh, text));
		return -1;
	}
	if ((lt = memrchr(s, '<', n)) == NULL)
		return err_set(e, ERR_DATA, "\"%s\" has a '>' without '<'", show(sh, text));
	if ((size_t)(s + n - 1 - (lt + 1)) > ADDR_INPUT_MAX)
		return err_set(e, ERR_DATA, "the address is longer than %d octets",
		    ADDR_MAILBOX_MAX);
	memcpy(addr, lt + 1, (size_t)(s + n - 1 - (lt + 1)));
	addr[s + n - 1 - (lt + 1)] = '\0';
	if (addr_parse_mailbox(addr, mb, e) < 0)
		return -1;
	/* the display name: what comes before '<', trimmed */
	k = (size_t)(lt - s);
	while (k > 0 && (s[k - 1] == ' ' || s[k - 1] == '\t'))
		k--;
	if (k >= 2 && s[0] == '"' && s[k - 1] == '"') {
		/* a quoted string: drop the quotes and the backslashes of
		 * quoted pairs (RFC 5322 section 3.2.4) */
		for (p = s + 1; p < s + k - 1 && i < ADDR_NAME_MAX + 1; p++) {
			if (*p == '\\' && p + 1 < s + k - 1)
				p++;
			name[i++] = *p;
		}
		if (p < s + k - 1)
			i = ADDR_NAME_MAX + 1;
	} else {
		i = k > ADDR_NAME_MAX ? ADDR_NAME_MAX + 1 : k;
		memcpy(name, s, i);
	}
	if (i > ADDR_NAME_MAX) {
		name[0] = '\0';
		return err_set(e, ERR_DATA, "the display name is longer than %d "
		    "octets", ADDR_NAME_MAX);
	}
	name[i] = '\0';
	if (enc_check_text(name, "the display name", e) < 0) {
		name[0] = '\0';
		return -1;
	}
	if (strchr(name, '\t') != NULL) {
		name[0] = '\0';
		return err_set(e, ERR_DATA, "the display name contains a tab");
	}
	return 0;
}
