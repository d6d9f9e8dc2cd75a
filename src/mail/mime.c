/*
 * mime.c - message composition.  See mime.h for the contract; the
 * encodings themselves are in encode.c.
 */
#include "mail/mime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/encode.h"
#include "util/log.h"
#include "util/net.h"

#define BOUNDARY_RANDOM 12         /* octets: 24 hex digits */
#define BOUNDARY_TRIES 8
#define MSGID_RANDOM 16            /* octets: 32 hex digits */
/* A continuation section of an RFC 2231 parameter: its value's length. */
#define PARAM_CHUNK 60

static const char hex_lower[] = "0123456789abcdef";

/* Input echoed in an error message, escaped (log_sanitize) and shortened:
 * a message never carries a raw CR, LF or control character onwards. */
#define SHOW_MAX 72

static const char *
show(char *dst, const char *s)
{
	log_sanitize(dst, SHOW_MAX, s);
	return dst;
}

struct ext_type {
	const char *ext;
	const char *type;
	int text;                  /* only for text data; gets a charset */
};

static const struct ext_type ext_types[] = {
	{ "txt", "text/plain; charset=utf-8", 1 },
	{ "htm", "text/html; charset=utf-8", 1 },
	{ "html", "text/html; charset=utf-8", 1 },
	{ "csv", "text/csv; charset=utf-8", 1 },
	{ "ics", "text/calendar; charset=utf-8", 1 },
	{ "json", "application/json", 0 },
	{ "xml", "application/xml", 0 },
	{ "pdf", "application/pdf", 0 },
	{ "png", "image/png", 0 },
	{ "jpg", "image/jpeg", 0 },
	{ "jpeg", "image/jpeg", 0 },
	{ "gif", "image/gif", 0 },
	{ "svg", "image/svg+xml", 0 },
	{ "zip", "application/zip", 0 },
	{ "gz", "application/gzip", 0 },
	{ "tgz", "application/gzip", 0 },
	{ "tar", "application/x-tar", 0 },
	{ "doc", "application/msword", 0 },
	{ "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", 0 },
	{ "xls", "application/vnd.ms-excel", 0 },
	{ "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", 0 },
	{ "ppt", "application/vnd.ms-powerpoint", 0 },
	{ "pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation", 0 },
};

/* Text: well-formed UTF-8, no NUL, no C0 control but HT, LF, CR, FF. */
static int
is_text(const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' &&
		    p[i] != '\r' && p[i] != '\f')
			return 0;
	return enc_utf8_valid(data, len);
}

const char *
mime_detect_type(const char *filename, const void *data, size_t len)
{
	const char *dot = filename != NULL ? strrchr(filename, '.') : NULL;
	size_t i;

	if (dot != NULL && dot != filename) {
		for (i = 0; i < sizeof(ext_types) / sizeof(ext_types[0]); i++) {
			if (strcasecmp(dot + 1, ext_types[i].ext) != 0)
				continue;
			if (ext_types[i].text && !is_text(data, len))
				return "application/octet-stream";
			return ext_types[i].type;
		}
	}
	if (len > 0 && is_text(data, len))
		return "text/plain; charset=utf-8";
	return "application/octet-stream";
}

int
mime_header_allowed(const char *name, struct op_err *e)
{
	static const struct {
		const char *name;
		const char *fix;
	} own[] = {
		{ "From", "set the sender with the from option (--from, \"from\")" },
		{ "To", "give recipients with the to option (--to, \"to\")" },
		{ "Cc", "give recipients with the cc option (--cc, \"cc\")" },
		{ "Bcc", "give hidden recipients with the bcc option (--bcc, \"bcc\")" },
		{ "Subject", "set it with the subject option (--subject, \"subject\")" },
		{ "Date", "Outpost sets it" },
		{ "Message-ID", "Outpost sets it" },
		{ "MIME-Version", "Outpost writes the MIME structure" },
	};
	char sh[SHOW_MAX];
	size_t i;

	for (i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (strcasecmp(name, own[i].name) == 0)
			return err_set(e, ERR_DATA, "header %s cannot be given as an extra header: %s", own[i].name, own[i].fix);
	if (str_casecmp_prefix(name, "Content-"))
		return err_set(e, ERR_DATA, "header %s cannot be given as an extra header: Outpost writes the MIME structure", show(sh, name));
	if (name[0] == '\0' || strlen(name) > ENC_FOLD_COL - 2)
		return err_set(e, ERR_DATA, "header name must have 1 to %d characters", ENC_FOLD_COL - 2);
	for (i = 0; name[i] != '\0'; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 33 || c > 126 || c == ':')
			return err_set(e, ERR_DATA, "header name \"%s\" contains a character not allowed in a field name (letters, digits and '-' are)", show(sh, name));
	}
	return 0;
}

static void
hex_encode(const unsigned char *p, size_t n, char *dst)
{
	size_t i;

	for (i = 0; i < n; i++) {
		dst[2 * i] = hex_lower[p[i] >> 4];
		dst[2 * i + 1] = hex_lower[p[i] & 0x0f];
	}
	dst[2 * n] = '\0';
}

int
mime_message_id(const char *domain, char *dst, size_t dstsz,
    struct op_err *e)
{
	unsigned char r[MSGID_RANDOM];
	char hex[2 * MSGID_RANDOM + 1], probe[ADDR_DOMAIN_MAX + 3];
	struct addr_mailbox mb;
	char sh[SHOW_MAX];
	int n;

	if (domain == NULL || domain[0] == '\0')
		return err_set(e, ERR_DATA, "the Message-ID domain is empty");
	n = snprintf(probe, sizeof(probe), "x@%s", domain);
	if (n < 0 || (size_t)n >= sizeof(probe) || addr_parse_mailbox(probe, &mb, e) < 0)
		return err_prefix(e, "Message-ID domain \"%s\"", show(sh, domain));
	if (mb.flags & ADDR_F_UTF8)
		return err_set(e, ERR_DATA, "the Message-ID domain must be ASCII");
	if (rand_bytes(r, sizeof(r), e) < 0)
		return -1;
	hex_encode(r, sizeof(r), hex);
	n = snprintf(dst, dstsz, "<%s@%s>", hex, domain);
	if (n < 0 || (size_t)n >= dstsz)
		return err_set(e, ERR_DATA, "no room for the Message-ID");
	return 0;
}

int
mime_write_addr_header(struct buf *out, const char *name,
    const struct mime_addr *v, size_t n, int *smtputf8, struct op_err *e)
{
	struct enc_fold f;
	size_t i;

	if (enc_fold_begin(&f, out, name, e) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		char piece[ADDR_MAILBOX_MAX + 4], sh[SHOW_MAX];
		struct addr_mailbox mb;
		int has_name = v[i].name != NULL && v[i].name[0] != '\0';
		int k;

		if (v[i].addr == NULL)
			return err_set(e, ERR_DATA, "%s: an address is missing", name);
		if (addr_parse_mailbox(v[i].addr, &mb, e) < 0)
			return err_prefix(e, "%s address \"%s\"", name, show(sh, v[i].addr));
		if (smtputf8 != NULL && (mb.flags & ADDR_F_UTF8))
			*smtputf8 = 1;
		if (has_name) {
			if (strlen(v[i].name) > MIME_NAME_MAX)
				return err_set(e, ERR_DATA, "%s: a display name is longer than %d octets", name, MIME_NAME_MAX);
			if (enc_fold_phrase(&f, v[i].name, 1, e) < 0)
				return err_prefix(e, "%s", name);
		}
		k = snprintf(piece, sizeof(piece), has_name ? "<%s>%s" : "%s%s",
		    mb.addr, i + 1 < n ? "," : "");
		if (k < 0 || (size_t)k >= sizeof(piece))
			return err_set(e, ERR_SOFTWARE, "address piece does not fit");
		if (enc_fold_piece(&f, piece, (size_t)k, 1, e) < 0)
			return -1;
	}
	return enc_fold_end(&f, e);
}

int
mime_write_text_header(struct buf *out, const char *name, const char *value,
    struct op_err *e)
{
	struct enc_fold f;

	if (enc_fold_begin(&f, out, name, e) < 0)
		return -1;
	if (enc_fold_text(&f, value, e) < 0)
		return err_prefix(e, "header %s", name);
	return enc_fold_end(&f, e);
}

/* A caller's Content-Type: type "/" subtype *(";" attribute "=" value)
 * with RFC 2045 tokens or quoted-strings; no composite types, which
 * cannot be base64-encoded (RFC 2045 section 6.4). */
static int
is_tspecial(int c)
{
	return c != '\0' && strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static size_t
token_len(const char *s)
{
	size_t i = 0;

	while (s[i] > 32 && s[i] < 127 && !is_tspecial(s[i]))
		i++;
	return i;
}

static int
check_ctype(const char *ct, struct op_err *e)
{
	const char *s = ct;
	char sh[SHOW_MAX];
	size_t k;

	if (strlen(ct) > MIME_CTYPE_MAX)
		return err_set(e, ERR_DATA, "content type is longer than %d characters", MIME_CTYPE_MAX);
	if ((k = token_len(s)) == 0 || s[k] != '/')
		goto bad;
	if (strncasecmp(s, "multipart/", 10) == 0 || strncasecmp(s, "message/", 8) == 0)
		return err_set(e, ERR_DATA, "content type %s cannot be used for an attachment; use application/octet-stream", show(sh, ct));
	s += k + 1;
	if ((k = token_len(s)) == 0)
		goto bad;
	s += k;
	for (;;) {
		while (*s == ' ')
			s++;
		if (*s == '\0')
			return 0;
		if (*s++ != ';')
			goto bad;
		while (*s == ' ')
			s++;
		if ((k = token_len(s)) == 0 || s[k] != '=')
			goto bad;
		s += k + 1;
		if (*s == '"') {
			for (s++; *s != '"'; s++) {
				if (*s == '\\' && s[1] != '\0')
					s++;
				if (*s == '\0' || (unsigned char)*s < 32 || (unsigned char)*s > 126)
					goto bad;
			}
			s++;
		} else if ((k = token_len(s)) == 0) {
			goto bad;
		} else {
			s += k;
		}
	}
bad:
	return err_set(e, ERR_DATA, "content type \"%s\" is not type/subtype with valid parameters", show(sh, ct));
}

static int
check_filename(const char *fn, struct op_err *e)
{
	char sh[SHOW_MAX];

	if (fn[0] == '\0')
		return err_set(e, ERR_DATA, "an attachment's file name is empty");
	if (strlen(fn) > MIME_FILENAME_MAX)
		return err_set(e, ERR_DATA, "attachment file name is longer than %d octets", MIME_FILENAME_MAX);
	if (enc_check_text(fn, "attachment file name", e) < 0)
		return -1;
	if (strpbrk(fn, "/\\") != NULL)
		return err_set(e, ERR_DATA, "attachment file name \"%s\" must not contain '/' or '\\' (give the base name)", show(sh, fn));
	return 0;
}

/* attr-char of RFC 5987 section 3.2.1, kept as is in filename*= */
static int
is_attr_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$&+-.^_`|~", c) != NULL);
}

/* ';' CRLF SP attr="value" with '"' and '\' escaped. */
static int
param_quoted(struct buf *b, const char *attr, const char *v, struct op_err *e)
{
	if (buf_printf(b, e, ";\r\n %s=\"", attr) < 0)
		return -1;
	for (; *v != '\0'; v++) {
		if ((*v == '"' || *v == '\\') && buf_append(b, "\\", 1, e) < 0)
			return -1;
		if (buf_append(b, v, 1, e) < 0)
			return -1;
	}
	return buf_append(b, "\"", 1, e);
}

/* RFC 2231 filename*=UTF-8''..., in continuation sections of at most
 * PARAM_CHUNK characters, never splitting a character. */
static int
param_2231(struct buf *b, const char *attr, const char *v, struct op_err *e)
{
	const unsigned char *p = (const unsigned char *)v;
	size_t n = strlen(v), i = 0, enc = 0, sect = 0;
	int split;

	for (i = 0; i < n; i++)
		enc += is_attr_char(p[i]) ? 1 : 3;
	split = enc + 7 > PARAM_CHUNK;
	i = 0;
	while (i < n) {
		size_t col = 0;

		if (split) {
			if (buf_printf(b, e, ";\r\n %s*%zu*=%s", attr, sect, sect == 0 ? "UTF-8''" : "") < 0)
				return -1;
		} else if (buf_printf(b, e, ";\r\n %s*=UTF-8''", attr) < 0) {
			return -1;
		}
		while (i < n) {
			size_t k = enc_utf8_char(p + i, n - i, NULL), cost = 0, j;

			if (k == 0)
				return err_set(e, ERR_DATA, "attachment file name is not valid UTF-8");
			for (j = 0; j < k; j++)
				cost += is_attr_char(p[i + j]) ? 1 : 3;
			if (split && col > 0 && col + cost > PARAM_CHUNK)
				break;
			for (j = 0; j < k; j++) {
				unsigned char c = p[i + j];

				if (is_attr_char(c)) {
					if (buf_append(b, &c, 1, e) < 0)
						return -1;
				} else if (buf_printf(b, e, "%%%c%c", "0123456789ABCDEF"[c >> 4], "0123456789ABCDEF"[c & 0x0f]) < 0) {
					return -1;
				}
			}
			col += cost;
			i += k;
		}
		sect++;
	}
	return 0;
}

/* name="=?UTF-8?B?...?=" for clients that do not read RFC 2231. */
static int
param_2047(struct buf *b, const char *attr, const char *v, struct op_err *e)
{
	struct buf words;
	struct enc_fold f;
	int rc = -1;

	/* encode with the header writer, then unfold into one line */
	buf_init(&words, ENC_LINE_MAX * 4);
	if (enc_fold_begin(&f, &words, "X", e) < 0 ||
	    enc_fold_words(&f, v, strlen(v), 0, e) < 0)
		goto out;
	if (buf_printf(b, e, ";\r\n %s=\"", attr) < 0)
		goto out;
	{
		const char *s = words.data + 2;   /* past "X:" */
		size_t i, n = words.len - 2;

		for (i = 0; i < n; i++) {
			if (s[i] == '\r' || s[i] == '\n')
				continue;
			if (buf_append(b, s + i, 1, e) < 0)
				goto out;
		}
	}
	rc = buf_append(b, "\"", 1, e);
out:
	buf_free(&words);
	return rc;
}

/* A text leaf: 7bit when it can be, else quoted-printable. */
static int
leaf_text(const char *ctype, const char *text, size_t n, struct buf *head,
    struct buf *body, int *qp, struct op_err *e)
{
	size_t i, line = 0, longest = 0;
	int seven = enc_is_ascii(text, n);

	for (i = 0; i < n && seven; i++) {
		if (text[i] == '\0' || (text[i] == '\r' && (i + 1 == n || text[i + 1] != '\n')))
			seven = 0;
		if (text[i] == '\n') {
			line = 0;
		} else if (text[i] != '\r' && ++line > longest) {
			longest = line;
		}
	}
	if (longest > ENC_LINE_MAX)
		seven = 0;
	*qp = !seven;
	if (buf_printf(head, e, "Content-Type: %s; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: %s\r\n", ctype, seven ? "7bit" : "quoted-printable") < 0)
		return -1;
	if (!seven)
		return enc_qp(body, text, n, e);
	for (i = 0; i < n; i++) {
		if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) {
			if (buf_append(body, "\r\n", 2, e) < 0)
				return -1;
		} else if (buf_append(body, text + i, 1, e) < 0) {
			return -1;
		}
	}
	return 0;
}

static int
leaf_attachment(const struct mime_attachment *a, struct buf *head,
    struct buf *body, struct op_err *e)
{
	const char *ct = a->content_type;
	int ascii_name;

	if (a->data == NULL && a->len > 0)
		return err_set(e, ERR_DATA, "an attachment has no data");
	if (a->filename != NULL && check_filename(a->filename, e) < 0)
		return -1;
	if (ct != NULL) {
		if (check_ctype(ct, e) < 0)
			return -1;
	} else {
		ct = mime_detect_type(a->filename, a->data, a->len);
	}
	if (buf_printf(head, e, "Content-Type: %s", ct) < 0)
		return -1;
	ascii_name = a->filename != NULL && enc_is_ascii(a->filename, strlen(a->filename));
	if (a->filename != NULL) {
		if (ascii_name ? param_quoted(head, "name", a->filename, e) :
		    param_2047(head, "name", a->filename, e))
			return -1;
	}
	if (buf_appendstr(head, "\r\nContent-Disposition: attachment", e) < 0)
		return -1;
	if (a->filename != NULL) {
		if (ascii_name ? param_quoted(head, "filename", a->filename, e) :
		    param_2231(head, "filename", a->filename, e))
			return -1;
	}
	if (buf_appendstr(head, "\r\nContent-Transfer-Encoding: base64\r\n", e) < 0)
		return -1;
	return enc_base64(body, a->data, a->len, 1, e);
}

/* The parts of a message, encoded, before the boundaries are chosen. */
struct leaf {
	struct buf head;           /* Content-* lines, each with CRLF */
	struct buf body;
	int qp;                    /* quoted-printable (for the last line) */
};

static void
leaf_free(struct leaf *l)
{
	buf_free(&l->head);
	buf_free(&l->body);
}

static int
new_boundary(char *dst, size_t dstsz, struct leaf *leaves, size_t n,
    struct op_err *e)
{
	unsigned char r[BOUNDARY_RANDOM];
	char hex[2 * BOUNDARY_RANDOM + 1];
	int tries;
	size_t i;

	for (tries = 0; tries < BOUNDARY_TRIES; tries++) {
		int clash = 0;

		if (rand_bytes(r, sizeof(r), e) < 0)
			return -1;
		hex_encode(r, sizeof(r), hex);
		snprintf(dst, dstsz, "=_outpost_%s", hex);
		for (i = 0; i < n && !clash; i++)
			clash = memmem(leaves[i].body.data ? leaves[i].body.data : "",
			    leaves[i].body.len, dst, strlen(dst)) != NULL;
		if (!clash)
			return 0;
	}
	return err_set(e, ERR_SOFTWARE, "no MIME boundary absent from the content after %d tries", BOUNDARY_TRIES);
}

static int
write_leaf(struct buf *out, const struct leaf *l, struct op_err *e)
{
	if (buf_append(out, l->head.data, l->head.len, e) < 0 ||
	    buf_append(out, "\r\n", 2, e) < 0)
		return -1;
	return buf_append(out, l->body.data ? l->body.data : "", l->body.len, e);
}

/* A multipart entity: its Content-Type, then the parts.  sub (may be
 * NULL) is a nested multipart/alternative written as the first part. */
static int
write_multipart(struct buf *out, const char *subtype, const char *boundary,
    const struct leaf *parts, size_t n, const char *sub_boundary,
    const struct leaf *sub, size_t nsub, struct op_err *e)
{
	size_t i;

	if (buf_printf(out, e, "Content-Type: multipart/%s;\r\n boundary=\"%s\"\r\n\r\n", subtype, boundary) < 0)
		return -1;
	if (buf_appendstr(out, "This is a multi-part message in MIME format.\r\n", e) < 0)
		return -1;
	if (sub != NULL) {
		if (buf_printf(out, e, "\r\n--%s\r\n", boundary) < 0 ||
		    write_multipart(out, "alternative", sub_boundary, sub, nsub, NULL, NULL, 0, e) < 0)
			return -1;
	}
	for (i = 0; i < n; i++) {
		if (buf_printf(out, e, "\r\n--%s\r\n", boundary) < 0 ||
		    write_leaf(out, &parts[i], e) < 0)
			return -1;
	}
	return buf_printf(out, e, "\r\n--%s--\r\n", boundary);
}

static int
check_msg(const struct mime_msg *m, struct op_err *e)
{
	size_t i;

	if ((m->nto > 0 && m->to == NULL) || (m->ncc > 0 && m->cc == NULL) ||
	    (m->natt > 0 && m->att == NULL) || (m->nheaders > 0 && m->headers == NULL) ||
	    (m->nreply_to > 0 && m->reply_to == NULL))
		return err_set(e, ERR_SOFTWARE, "a message part count is set without its array");
	if (m->from.addr == NULL || m->from.addr[0] == '\0')
		return err_set(e, ERR_DATA, "a sender address (from) is required");
	if (m->nto + m->ncc > MIME_ADDRS_MAX)
		return err_set(e, ERR_DATA, "more than %d To and Cc addresses", MIME_ADDRS_MAX);
	if (m->nreply_to > MIME_ADDRS_MAX)
		return err_set(e, ERR_DATA, "more than %d Reply-To addresses", MIME_ADDRS_MAX);
	if (m->natt > MIME_ATTACH_MAX)
		return err_set(e, ERR_DATA, "more than %d attachments", MIME_ATTACH_MAX);
	if (m->nheaders > MIME_HEADERS_MAX)
		return err_set(e, ERR_DATA, "more than %d extra headers", MIME_HEADERS_MAX);
	if (m->subject != NULL) {
		if (strlen(m->subject) > MIME_SUBJECT_MAX)
			return err_set(e, ERR_DATA, "the subject is longer than %d octets", MIME_SUBJECT_MAX);
		if (enc_check_text(m->subject, "the subject", e) < 0)
			return -1;
	}
	for (i = 0; i < m->nheaders; i++) {
		const struct mime_header *h = &m->headers[i];

		if (h->name == NULL || h->value == NULL)
			return err_set(e, ERR_DATA, "an extra header has no name or no value");
		if (mime_header_allowed(h->name, e) < 0)
			return -1;
		if (strlen(h->value) > MIME_HEADER_VALUE_MAX)
			return err_set(e, ERR_DATA, "header %s is longer than %d octets", h->name, MIME_HEADER_VALUE_MAX);
		if (enc_check_text(h->value, "the header value", e) < 0)
			return err_prefix(e, "header %s", h->name);
	}
	if (m->text != NULL && !enc_utf8_valid(m->text, m->text_len))
		return err_set(e, ERR_DATA, "the text body is not valid UTF-8");
	if (m->html != NULL && !enc_utf8_valid(m->html, m->html_len))
		return err_set(e, ERR_DATA, "the HTML body is not valid UTF-8");
	return 0;
}

int
mime_compose(const struct mime_msg *m, struct buf *out,
    struct mime_info *info, struct op_err *e)
{
	struct leaf body[2], *att = NULL, *all = NULL;
	struct addr_mailbox from;
	char date[64], msgid[MIME_MSGID_MAX], b1[64], b2[64], sh[SHOW_MAX];
	const char *dom;
	size_t nbody = 0, i, natt_done = 0;
	int utf8 = 0, rc = -1;

	memset(body, 0, sizeof(body));
	if (check_msg(m, e) < 0)
		return -1;
	if (addr_parse_mailbox(m->from.addr, &from, e) < 0)
		return err_prefix(e, "sender address \"%s\"", show(sh, m->from.addr));

	/* encoded parts first: boundaries must avoid their content */
	if (m->text != NULL || (m->html == NULL && m->natt == 0)) {
		buf_init(&body[nbody].head, out->max);
		buf_init(&body[nbody].body, out->max);
		if (leaf_text("text/plain", m->text != NULL ? m->text : "",
		    m->text != NULL ? m->text_len : 0, &body[nbody].head,
		    &body[nbody].body, &body[nbody].qp, e) < 0) {
			nbody++;
			goto out;
		}
		nbody++;
	}
	if (m->html != NULL) {
		buf_init(&body[nbody].head, out->max);
		buf_init(&body[nbody].body, out->max);
		if (leaf_text("text/html", m->html, m->html_len, &body[nbody].head,
		    &body[nbody].body, &body[nbody].qp, e) < 0) {
			nbody++;
			goto out;
		}
		nbody++;
	}
	if (m->natt > 0) {
		att = mem_alloc(m->natt * sizeof(*att));
		for (i = 0; i < m->natt; i++) {
			buf_init(&att[i].head, out->max);
			buf_init(&att[i].body, out->max);
			natt_done++;
			if (leaf_attachment(&m->att[i], &att[i].head, &att[i].body, e) < 0) {
				err_prefix(e, "attachment %zu", i + 1);
				goto out;
			}
		}
	}

	/* the header */
	dom = m->msgid_domain;
	if (dom == NULL)
		dom = (from.flags & ADDR_F_UTF8) ? "localhost" : addr_domain(&from);
	if (mime_message_id(dom, msgid, sizeof(msgid), e) < 0)
		goto out;
	clock_rfc5322(m->date, date, sizeof(date));
	if (buf_printf(out, e, "Date: %s\r\n", date) < 0)
		goto out;
	if (mime_write_addr_header(out, "From", &m->from, 1, &utf8, e) < 0)
		goto out;
	if (m->nto == 0 && m->ncc == 0) {
		if (buf_appendstr(out, "To: undisclosed-recipients:;\r\n", e) < 0)
			goto out;
	} else if (m->nto > 0 &&
	    mime_write_addr_header(out, "To", m->to, m->nto, &utf8, e) < 0) {
		goto out;
	}
	if (m->ncc > 0 && mime_write_addr_header(out, "Cc", m->cc, m->ncc, &utf8, e) < 0)
		goto out;
	if (m->nreply_to > 0 &&
	    mime_write_addr_header(out, "Reply-To", m->reply_to, m->nreply_to, &utf8, e) < 0)
		goto out;
	if (m->subject != NULL && mime_write_text_header(out, "Subject", m->subject, e) < 0)
		goto out;
	if (buf_printf(out, e, "Message-ID: %s\r\n", msgid) < 0)
		goto out;
	for (i = 0; i < m->nheaders; i++)
		if (mime_write_text_header(out, m->headers[i].name, m->headers[i].value, e) < 0)
			goto out;
	if (buf_appendstr(out, "MIME-Version: 1.0\r\n", e) < 0)
		goto out;

	/* the content */
	if (m->natt == 0 && nbody == 1) {
		const struct buf *bb = &body[0].body;

		if (write_leaf(out, &body[0], e) < 0)
			goto out;
		/* the message ends with CRLF; "=" CRLF adds nothing to the text */
		if (bb->len > 0 && !(bb->len >= 2 && bb->data[bb->len - 1] == '\n') &&
		    buf_appendstr(out, body[0].qp ? "=\r\n" : "\r\n", e) < 0)
			goto out;
	} else if (m->natt == 0) {
		if (new_boundary(b1, sizeof(b1), body, nbody, e) < 0 ||
		    write_multipart(out, "alternative", b1, body, nbody, NULL, NULL, 0, e) < 0)
			goto out;
	} else {
		/* multipart/mixed: the body part(s), then the attachments */
		size_t nall = 0;

		all = mem_alloc((nbody + m->natt) * sizeof(*all));
		for (i = 0; i < nbody; i++)
			all[nall++] = body[i];
		for (i = 0; i < m->natt; i++)
			all[nall++] = att[i];
		if (new_boundary(b1, sizeof(b1), all, nall, e) < 0)
			goto out;
		if (nbody == 2) {
			if (new_boundary(b2, sizeof(b2), body, nbody, e) < 0)
				goto out;
			if (strcmp(b1, b2) == 0) {     /* 2^-96, but never nest equal */
				err_set(e, ERR_SOFTWARE, "MIME boundaries collided");
				goto out;
			}
			if (
			    write_multipart(out, "mixed", b1, att, m->natt, b2, body, nbody, e) < 0)
				goto out;
		} else if (write_multipart(out, "mixed", b1, all, nall, NULL, NULL, 0, e) < 0) {
			goto out;
		}
	}
	if (info != NULL) {
		str_copy(info->message_id, sizeof(info->message_id), msgid);
		info->smtputf8 = utf8;
	}
	rc = 0;
out:
	for (i = 0; i < nbody; i++)
		leaf_free(&body[i]);
	for (i = 0; i < natt_done; i++)
		leaf_free(&att[i]);
	free(att);
	free(all);
	return rc;
}
