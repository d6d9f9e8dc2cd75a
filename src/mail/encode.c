/*
 * encode.c - UTF-8 checks, base64, quoted-printable, RFC 2047 words and
 * the folding header writer.  See encode.h for the contract.
 */
#include "mail/encode.h"

#include <string.h>

#include "util/log.h"

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char hex_digits[] = "0123456789ABCDEF";

/* An encoded-word is "=?UTF-8?X?" text "?=": 12 characters of frame. */
#define WORD_FRAME 12
/* The shortest first word worth putting after a long field name; below
 * it the word goes at full length and the line passes column 78. */
#define WORD_MIN 24

/* Input echoed in an error message, escaped (log_sanitize) and shortened:
 * a message never carries a raw CR, LF or control character onwards. */
#define SHOW_MAX 72

static const char *
show(char *dst, const char *s)
{
	log_sanitize(dst, SHOW_MAX, s);
	return dst;
}

size_t
enc_utf8_char(const unsigned char *s, size_t n, unsigned long *cp)
{
	unsigned long c;
	size_t k, i;

	if (n == 0)
		return 0;
	if (s[0] < 0x80) {
		c = s[0];
		k = 1;
	} else if (s[0] < 0xc2) {
		return 0;       /* continuation octet, or overlong C0/C1 */
	} else if (s[0] < 0xe0) {
		c = s[0] & 0x1f;
		k = 2;
	} else if (s[0] < 0xf0) {
		c = s[0] & 0x0f;
		k = 3;
	} else if (s[0] < 0xf5) {
		c = s[0] & 0x07;
		k = 4;
	} else {
		return 0;
	}
	if (k > n)
		return 0;
	for (i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((k == 3 && c < 0x800) || (k == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	if (cp != NULL)
		*cp = c;
	return k;
}

int
enc_utf8_valid(const void *s, size_t n)
{
	const unsigned char *p = s;
	size_t i = 0;

	while (i < n) {
		size_t k;

		if (p[i] < 0x80) {
			i++;
			continue;
		}
		k = enc_utf8_char(p + i, n - i, NULL);
		if (k == 0)
			return 0;
		i += k;
	}
	return 1;
}

int
enc_is_ascii(const void *s, size_t n)
{
	const unsigned char *p = s;
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] >= 0x80)
			return 0;
	return 1;
}

/* Encode one group of 1..3 octets into 4 characters. */
static void
b64_quad(const unsigned char *in, size_t n, char out[4])
{
	unsigned long v = (unsigned long)in[0] << 16;

	if (n > 1)
		v |= (unsigned long)in[1] << 8;
	if (n > 2)
		v |= in[2];
	out[0] = b64_alphabet[(v >> 18) & 0x3f];
	out[1] = b64_alphabet[(v >> 12) & 0x3f];
	out[2] = n > 1 ? b64_alphabet[(v >> 6) & 0x3f] : '=';
	out[3] = n > 2 ? b64_alphabet[v & 0x3f] : '=';
}

int
enc_base64(struct buf *out, const void *data, size_t n, int wrap,
    struct op_err *e)
{
	const unsigned char *p = data;
	char line[ENC_B64_LINE + 2];
	size_t i = 0, col = 0;

	while (i < n) {
		size_t take = n - i < 3 ? n - i : 3;

		b64_quad(p + i, take, line + col);
		col += 4;
		i += take;
		if (col == ENC_B64_LINE || i == n) {
			if (wrap) {
				line[col++] = '\r';
				line[col++] = '\n';
			}
			if (buf_append(out, line, col, e) < 0)
				return -1;
			col = 0;
		}
	}
	return 0;
}

static int
b64_value(int c)
{
	const char *p;

	if (c == '\0')
		return -1;
	p = strchr(b64_alphabet, c);
	return p == NULL ? -1 : (int)(p - b64_alphabet);
}

int
enc_base64_decode(struct buf *out, const char *text, size_t n,
    struct op_err *e)
{
	unsigned char quad[4], bytes[3];
	size_t i, q = 0;
	int pad = 0, done = 0;

	for (i = 0; i < n; i++) {
		int c = (unsigned char)text[i], v;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (done)
			return err_set(e, ERR_DATA, "base64 has data after its padding");
		if (c == '=') {
			/* padding: only in the last two places of a quad */
			if (q < 2)
				return err_set(e, ERR_DATA, "base64 padding is misplaced");
			pad++;
			v = 0;
		} else {
			v = b64_value(c);
			if (v < 0)
				return err_set(e, ERR_DATA, "base64 contains an invalid character (0x%02x)", c);
			if (pad > 0)
				return err_set(e, ERR_DATA, "base64 has data after its padding");
		}
		quad[q++] = (unsigned char)v;
		if (q < 4)
			continue;
		bytes[0] = (unsigned char)((quad[0] << 2) | (quad[1] >> 4));
		bytes[1] = (unsigned char)((quad[1] << 4) | (quad[2] >> 2));
		bytes[2] = (unsigned char)((quad[2] << 6) | quad[3]);
		if (buf_append(out, bytes, 3 - (size_t)pad, e) < 0)
			return -1;
		q = 0;
		done = pad > 0;
	}
	if (q != 0)
		return err_set(e, ERR_DATA, "base64 text is truncated (its length is not a multiple of 4)");
	return 0;
}

/* One octet in quoted-printable: the characters in tok, their count. */
static size_t
qp_token(unsigned char c, int at_line_end, char tok[3])
{
	if ((c == ' ' || c == '\t') && !at_line_end) {
		tok[0] = (char)c;
		return 1;
	}
	if (c >= 33 && c <= 126 && c != '=') {
		tok[0] = (char)c;
		return 1;
	}
	tok[0] = '=';
	tok[1] = hex_digits[c >> 4];
	tok[2] = hex_digits[c & 0x0f];
	return 3;
}

int
enc_qp(struct buf *out, const void *data, size_t n, struct op_err *e)
{
	const unsigned char *p = data;
	size_t i, col = 0;

	for (i = 0; i < n; i++) {
		char tok[3];
		size_t k;
		int at_end;

		if (p[i] == '\n' || (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')) {
			if (p[i] == '\r')
				i++;
			if (buf_append(out, "\r\n", 2, e) < 0)
				return -1;
			col = 0;
			continue;
		}
		at_end = i + 1 == n || p[i + 1] == '\n' ||
		    (p[i + 1] == '\r' && i + 2 < n && p[i + 2] == '\n');
		k = qp_token(p[i], at_end, tok);
		/* room for the soft break's '=' within 76 characters */
		if (col + k > ENC_QP_LINE - 1) {
			if (buf_append(out, "=\r\n", 3, e) < 0)
				return -1;
			col = 0;
		}
		if (buf_append(out, tok, k, e) < 0)
			return -1;
		col += k;
	}
	return 0;
}

int
enc_header_text_plain(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c >= 0x7f)
			return 0;
		if (c == '=' && i + 1 < n && s[i + 1] == '?')
			return 0;
	}
	return 1;
}

int
enc_check_text(const char *text, const char *what, struct op_err *e)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t i = 0, n = strlen(text);

	while (i < n) {
		unsigned long cp;
		size_t k = enc_utf8_char(p + i, n - i, &cp);

		if (k == 0)
			return err_set(e, ERR_DATA, "%s is not valid UTF-8", what);
		if (cp == '\r' || cp == '\n')
			return err_set(e, ERR_DATA, "%s contains a line break (CR or LF), which could start a new header field", what);
		if ((cp < 0x20 && cp != '\t') || (cp >= 0x7f && cp <= 0x9f))
			return err_set(e, ERR_DATA, "%s contains a control character (U+%04lX)", what, cp);
		i += k;
	}
	return 0;
}

int
enc_fold_begin(struct enc_fold *f, struct buf *out, const char *name,
    struct op_err *e)
{
	size_t i, n = strlen(name);
	char sh[SHOW_MAX];

	if (n == 0 || n > ENC_FOLD_COL - 2)
		return err_set(e, ERR_DATA, "header name \"%s\" must have 1 to %d characters", show(sh, name), ENC_FOLD_COL - 2);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		/* RFC 5322 section 3.6.8: ftext = %d33-57 / %d59-126 */
		if (c < 33 || c > 126 || c == ':')
			return err_set(e, ERR_DATA, "header name \"%s\" contains a character not allowed in a field name", show(sh, name));
	}
	f->out = out;
	f->col = n + 1;
	f->start = f->col;
	f->pieces = 0;
	if (buf_append(out, name, n, e) < 0 || buf_append(out, ":", 1, e) < 0)
		return -1;
	return 0;
}

int
enc_fold_piece(struct enc_fold *f, const char *p, size_t n, int space,
    struct op_err *e)
{
	if (space && f->pieces > 0 && f->col + 1 + n > ENC_FOLD_COL) {
		if (buf_append(f->out, "\r\n ", 3, e) < 0)
			return -1;
		f->col = 1;
	} else if (space) {
		if (buf_append(f->out, " ", 1, e) < 0)
			return -1;
		f->col++;
	}
	if (f->col + n > ENC_LINE_MAX)
		return err_set(e, ERR_DATA, "a header line would be longer than %d characters", ENC_LINE_MAX);
	if (buf_append(f->out, p, n, e) < 0)
		return -1;
	f->col += n;
	f->pieces++;
	return 0;
}

int
enc_fold_end(struct enc_fold *f, struct op_err *e)
{
	return buf_append(f->out, "\r\n", 2, e);
}

/* Characters RFC 2047 section 5 (3) lets stand for themselves. */
static int
q_safe(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '!' || c == '*' || c == '+' ||
	    c == '-' || c == '/';
}

static size_t
q_cost(unsigned char c)
{
	return (q_safe(c) || c == ' ') ? 1 : 3;
}

int
enc_fold_words(struct enc_fold *f, const char *text, size_t n, int space,
    struct op_err *e)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t i, qlen = 0, blen = ((n + 2) / 3) * 4;
	int use_q, first = 1;

	for (i = 0; i < n; i++)
		qlen += q_cost(p[i]);
	use_q = qlen <= blen;

	i = 0;
	while (i < n) {
		char word[ENC_WORD_MAX + WORD_FRAME + 1];
		size_t wmax = ENC_WORD_MAX, used = 0, start = i, wl, j;

		if (f->pieces == 0) {
			size_t room = f->col + 1 < ENC_FOLD_COL ? ENC_FOLD_COL - f->col - 1 : 0;

			if (room >= WORD_MIN && room < wmax)
				wmax = room;
		}
		/* take whole characters while the word fits */
		while (i < n) {
			size_t k = enc_utf8_char(p + i, n - i, NULL), cost = 0;

			if (k == 0)
				return err_set(e, ERR_DATA, "header text is not valid UTF-8");
			if (use_q) {
				for (j = 0; j < k; j++)
					cost += q_cost(p[i + j]);
				cost += used;
			} else {
				cost = ((i + k - start + 2) / 3) * 4;
			}
			if (WORD_FRAME + cost > wmax && i > start)
				break;
			used = cost;
			i += k;
		}
		memcpy(word, use_q ? "=?UTF-8?Q?" : "=?UTF-8?B?", 10);
		wl = 10;
		if (use_q) {
			for (j = start; j < i; j++) {
				if (p[j] == ' ') {
					word[wl++] = '_';
				} else if (q_safe(p[j])) {
					word[wl++] = (char)p[j];
				} else {
					word[wl++] = '=';
					word[wl++] = hex_digits[p[j] >> 4];
					word[wl++] = hex_digits[p[j] & 0x0f];
				}
			}
		} else {
			for (j = start; j < i; j += 3) {
				b64_quad(p + j, i - j < 3 ? i - j : 3, word + wl);
				wl += 4;
			}
		}
		word[wl++] = '?';
		word[wl++] = '=';
		if (enc_fold_piece(f, word, wl, first ? space : 1, e) < 0)
			return -1;
		first = 0;
	}
	return 0;
}

int
enc_fold_text(struct enc_fold *f, const char *text, struct op_err *e)
{
	size_t n, i, k, longest = 0;

	if (enc_check_text(text, "header text", e) < 0)
		return -1;
	/* surrounding whitespace is not part of the value (RFC 5322 2.2.3) */
	while (*text == ' ' || *text == '\t')
		text++;
	n = strlen(text);
	while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t'))
		n--;
	if (n == 0)
		return 0;
	/* the longest run of whitespace and a word: a line must hold it */
	for (i = 0; i < n; i = k) {
		for (k = i; k < n && (text[k] == ' ' || text[k] == '\t'); k++)
			;
		for (; k < n && text[k] != ' ' && text[k] != '\t'; k++)
			;
		if (k - i > longest)
			longest = k - i;
	}
	if (!enc_header_text_plain(text, n) || f->col + 1 + longest > ENC_LINE_MAX)
		return enc_fold_words(f, text, n, 1, e);

	if (buf_append(f->out, " ", 1, e) < 0)
		return -1;
	f->col++;
	for (i = 0; i < n; i = k) {
		size_t w;

		for (k = i; k < n && (text[k] == ' ' || text[k] == '\t'); k++)
			;
		w = k;
		for (; k < n && text[k] != ' ' && text[k] != '\t'; k++)
			;
		/* fold before the whitespace, never into a blank line */
		if (i > 0 && w > i && k > w && f->col + (k - i) > ENC_FOLD_COL) {
			if (buf_append(f->out, "\r\n", 2, e) < 0)
				return -1;
			f->col = 0;
		}
		if (buf_append(f->out, text + i, k - i, e) < 0)
			return -1;
		f->col += k - i;
	}
	f->pieces++;
	return 0;
}

/* 1 if name is ASCII atext words separated by single spaces. */
static int
phrase_is_atoms(const char *s)
{
	int prev_space = 1;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == ' ') {
			if (prev_space)
				return 0;
			prev_space = 1;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL)) {
			prev_space = 0;
		} else {
			return 0;
		}
	}
	return !prev_space;
}

int
enc_fold_phrase(struct enc_fold *f, const char *name, int space,
    struct op_err *e)
{
	char q[ENC_LINE_MAX + 1];
	size_t n, i, o = 0;

	if (enc_check_text(name, "display name", e) < 0)
		return -1;
	n = strlen(name);
	if (n == 0)
		return 0;
	if (!enc_header_text_plain(name, n))
		return enc_fold_words(f, name, n, space, e);
	if (phrase_is_atoms(name)) {
		const char *s = name;

		while (*s != '\0') {
			size_t w = strcspn(s, " ");

			if (enc_fold_piece(f, s, w, s == name ? space : 1, e) < 0)
				return -1;
			s += w;
			if (*s == ' ')
				s++;
		}
		return 0;
	}
	/* a quoted-string, one piece */
	q[o++] = '"';
	for (i = 0; i < n; i++) {
		if (o + 3 > sizeof(q))
			return err_set(e, ERR_DATA, "display name is too long");
		if (name[i] == '"' || name[i] == '\\')
			q[o++] = '\\';
		q[o++] = name[i];
	}
	q[o++] = '"';
	return enc_fold_piece(f, q, o, space, e);
}
