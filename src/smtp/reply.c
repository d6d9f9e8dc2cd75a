/*
 * reply.c - SMTP reply parser (see reply.h for the rules and bounds).
 */
#include "smtp/reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

void
smtp_reply_init(struct smtp_reply *r)
{
	memset(r, 0, sizeof(*r));
}

void
smtp_reply_free(struct smtp_reply *r)
{
	free(r->text);
	memset(r, 0, sizeof(*r));
}

void
smtp_reply_copy(struct smtp_reply *dst, const struct smtp_reply *src)
{
	if (dst == src)
		return;
	smtp_reply_free(dst);
	*dst = *src;
	dst->text = src->text != NULL ? str_dup(src->text) : NULL;
}

void
smtp_reply_move(struct smtp_reply *dst, struct smtp_reply *src)
{
	if (dst == src)
		return;
	smtp_reply_free(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

enum smtp_outcome
smtp_reply_outcome(const struct smtp_reply *r)
{
	if (r->code >= 200 && r->code < 400)
		return SMTP_DELIVERED;
	if (r->code >= 500 && r->code < 600)
		return SMTP_PERMANENT;
	return SMTP_TEMPORARY;
}

const char *
smtp_outcome_name(int outcome)
{
	switch (outcome) {
	case SMTP_DELIVERED: return "delivered";
	case SMTP_TEMPORARY: return "temporary";
	case SMTP_PERMANENT: return "permanent";
	}
	return "unknown";
}

void
smtp_reply_enh_text(const struct smtp_reply *r, char *dst, size_t dstsz)
{
	if (dstsz == 0)
		return;
	if (r->enh_class == 0)
		dst[0] = '\0';
	else
		snprintf(dst, dstsz, "%d.%d.%d", r->enh_class, r->enh_subject,
		    r->enh_detail);
}

void
smtp_reply_format(const struct smtp_reply *r, char *dst, size_t dstsz)
{
	char code[8];
	size_t n;

	if (dstsz == 0)
		return;
	if (r->code == 0) {
		str_copy(dst, dstsz, "(no reply)");
		return;
	}
	snprintf(code, sizeof(code), "%03d", r->code);
	str_copy(dst, dstsz, code);
	n = strlen(dst);
	if (r->text != NULL && r->text[0] != '\0' && n + 1 < dstsz) {
		dst[n++] = ' ';
		dst[n] = '\0';
		log_sanitize(dst + n, dstsz - n, r->text);
	}
}

/* Up to three digits; returns how many were taken (0 if none). */
static size_t
take_number(const char *s, size_t len, int *out)
{
	size_t i = 0;
	int v = 0;

	while (i < len && i < 3 && s[i] >= '0' && s[i] <= '9') {
		v = v * 10 + (s[i] - '0');
		i++;
	}
	*out = v;
	return i;
}

size_t
smtp_enh_parse(const char *s, size_t len, int *cls, int *subject, int *detail)
{
	size_t i = 0, n;
	int c, sub, det;

	/* class "." 1*3digit "." 1*3digit (RFC 3463 section 2) */
	if (len < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return 0;
	c = s[0] - '0';
	i = 2;
	if ((n = take_number(s + i, len - i, &sub)) == 0)
		return 0;
	i += n;
	if (i >= len || s[i] != '.')
		return 0;
	i++;
	if ((n = take_number(s + i, len - i, &det)) == 0)
		return 0;
	i += n;
	if (i < len && s[i] != ' ')
		return 0;
	*cls = c;
	*subject = sub;
	*detail = det;
	return i;
}

void
smtp_reply_parser_init(struct smtp_reply_parser *p)
{
	memset(p, 0, sizeof(*p));
	buf_init(&p->line, SMTP_REPLY_LINE_MAX);
	buf_init(&p->text, SMTP_REPLY_TEXT_MAX);
}

void
smtp_reply_parser_reset(struct smtp_reply_parser *p)
{
	buf_reset(&p->line);
	buf_reset(&p->text);
	p->code = 0;
	p->nlines = 0;
	p->enh_class = p->enh_subject = p->enh_detail = 0;
	p->failed = 0;
}

void
smtp_reply_parser_free(struct smtp_reply_parser *p)
{
	buf_free(&p->line);
	buf_free(&p->text);
	memset(p, 0, sizeof(*p));
}

int
smtp_reply_parser_busy(const struct smtp_reply_parser *p)
{
	return p->line.len > 0 || p->nlines > 0;
}

/* The part of "DDD" received so far is plausible. */
static int
code_prefix_ok(const char *l, size_t len)
{
	if (len > 0 && (l[0] < '2' || l[0] > '5'))
		return len == 1 && l[0] == '\r';    /* "\r" before "\n": judged then */
	if (len > 1 && (l[1] < '0' || l[1] > '9'))
		return 0;
	if (len > 2 && (l[2] < '0' || l[2] > '9'))
		return 0;
	return 1;
}

static int
parse_fail(struct smtp_reply_parser *p, struct op_err *e, const char *what)
{
	p->failed = 1;
	return err_set(e, ERR_PROTOCOL, "malformed reply from the server: %s", what);
}

/*
 * One complete line (without its line end) is in p->line.  Returns 1 if it
 * was the last line of the reply, 0 if more lines follow, -1 on error.
 */
static int
parse_line(struct smtp_reply_parser *p, struct op_err *e)
{
	const char *l = p->line.data;
	size_t len = p->line.len;
	int code, last;
	const char *text;
	size_t tlen;

	if (len < 3 || l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '9' ||
	    l[2] < '0' || l[2] > '9')
		return parse_fail(p, e, "a line does not start with a 3-digit code 2xx..5xx");
	code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
	if (len == 3) {
		last = 1;
		text = l + 3;
		tlen = 0;
	} else if (l[3] == ' ' || l[3] == '-') {
		last = l[3] == ' ';
		text = l + 4;
		tlen = len - 4;
	} else {
		return parse_fail(p, e, "the code is not followed by a space or '-'");
	}
	if (p->nlines > 0 && code != p->code)
		return parse_fail(p, e, "the lines of one reply carry different codes");
	if (p->nlines >= SMTP_REPLY_LINES_MAX)
		return parse_fail(p, e, "more than 100 lines in one reply");
	if (p->nlines == 0) {
		int c, s, d;

		p->code = code;
		if (smtp_enh_parse(text, tlen, &c, &s, &d) > 0 && c == code / 100) {
			p->enh_class = c;
			p->enh_subject = s;
			p->enh_detail = d;
		}
	} else if (buf_append(&p->text, "\n", 1, NULL) < 0) {
		return parse_fail(p, e, "the reply text is longer than 16384 bytes");
	}
	if (buf_append(&p->text, text, tlen, NULL) < 0)
		return parse_fail(p, e, "the reply text is longer than 16384 bytes");
	p->nlines++;
	return last;
}

int
smtp_reply_feed(struct smtp_reply_parser *p, const char *data, size_t len,
    size_t *used, struct smtp_reply *out, struct op_err *e)
{
	size_t i = 0;

	*used = 0;
	if (p->failed)
		return err_set(e, ERR_PROTOCOL, "the reply parser already failed");
	while (i < len) {
		const char *nl = memchr(data + i, '\n', len - i);
		size_t n = nl != NULL ? (size_t)(nl - (data + i)) : len - i;
		int rc;

		if (memchr(data + i, '\0', n) != NULL) {
			*used = i;
			return parse_fail(p, e, "a NUL byte in a reply");
		}
		/* The LF counts against the bound (the CR, if any, is in the
		 * line until the LF arrives). */
		if (p->line.len + n > SMTP_REPLY_LINE_MAX - 1 ||
		    buf_append(&p->line, data + i, n, NULL) < 0) {
			*used = i;
			return parse_fail(p, e, "a reply line is longer than 4096 bytes");
		}
		i += n;
		/* Refuse a bad start at once, not when the line ends: a peer
		 * speaking TLS or garbage fails fast. */
		if (!code_prefix_ok(p->line.data, p->line.len)) {
			*used = i;
			return parse_fail(p, e, "a line does not start with a 3-digit code 2xx..5xx");
		}
		if (nl == NULL)
			break;
		i++;    /* the LF */
		if (p->line.len > 0 && p->line.data[p->line.len - 1] == '\r')
			p->line.data[--p->line.len] = '\0';
		rc = parse_line(p, e);
		buf_reset(&p->line);
		if (rc < 0) {
			*used = i;
			return -1;
		}
		if (rc == 1) {
			smtp_reply_free(out);
			out->code = p->code;
			out->enh_class = p->enh_class;
			out->enh_subject = p->enh_subject;
			out->enh_detail = p->enh_detail;
			out->nlines = p->nlines;
			out->text = str_ndup(p->text.data != NULL ? p->text.data : "",
			    p->text.len);
			smtp_reply_parser_reset(p);
			*used = i;
			return 1;
		}
	}
	*used = i;
	return 0;
}

int
smtp_reply_parse(const char *data, size_t len, struct smtp_reply *out,
    struct op_err *e)
{
	struct smtp_reply_parser p;
	size_t used;
	int rc;

	smtp_reply_parser_init(&p);
	rc = smtp_reply_feed(&p, data, len, &used, out, e);
	if (rc == 0)
		rc = err_set(e, ERR_PROTOCOL, "incomplete reply");
	else if (rc == 1 && used != len) {
		smtp_reply_free(out);
		rc = err_set(e, ERR_PROTOCOL, "bytes after the end of the reply");
	} else if (rc == 1)
		rc = 0;
	smtp_reply_parser_free(&p);
	return rc;
}
