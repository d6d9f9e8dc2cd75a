/* test_mime.c - message composition: exact output, structure, refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/mime.h"

#define DATE 1795000000            /* Wed, 18 Nov 2026 11:06:40 +0000 */

static void
base_msg(struct mime_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->from.addr = "sender@example.com";
	m->date = DATE;
}

/* Compose; fail the test with the error if it is refused. */
static void
compose_ok(const struct mime_msg *m, struct buf *out, struct mime_info *info)
{
	struct op_err e;

	buf_init(out, 1 << 24);
	err_clear(&e);
	if (mime_compose(m, out, info, &e) != 0)
		fail_msg("refused: %s", e.msg);
}

static void
compose_bad(const struct mime_msg *m, const char *why)
{
	struct buf out;
	struct op_err e;

	buf_init(&out, 1 << 24);
	err_clear(&e);
	if (mime_compose(m, &out, NULL, &e) == 0)
		fail_msg("accepted: %s", out.data);
	assert_int_equal(e.kind, ERR_DATA);
	if (why != NULL && strstr(e.msg, why) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", e.msg, why);
	buf_free(&out);
}

/* Every line ends with CRLF, none is longer than 998. */
static void
check_lines(const struct buf *b)
{
	size_t i, col = 0;

	for (i = 0; i < b->len; i++) {
		if (b->data[i] == '\r') {
			assert_true(i + 1 < b->len && b->data[i + 1] == '\n');
			i++;
			col = 0;
			continue;
		}
		assert_true(b->data[i] != '\n');
		assert_true(++col <= 998);
	}
	assert_int_equal(col, 0);
}

/* Take the Message-ID line out of the message, checking its form. */
static void
cut_message_id(struct buf *b, const char *domain, const struct mime_info *info)
{
	char *p = strstr(b->data, "\r\nMessage-ID: <"), *end;
	size_t i;

	assert_non_null(p);
	p += 2;
	for (i = 0; i < 32; i++)
		assert_true(isxdigit((unsigned char)p[13 + i]) && !isupper((unsigned char)p[13 + i]));
	assert_int_equal(p[45], '@');
	assert_memory_equal(p + 46, domain, strlen(domain));
	assert_memory_equal(p + 46 + strlen(domain), ">\r\n", 3);
	if (info != NULL)
		assert_memory_equal(info->message_id, p + 12, 35 + strlen(domain));
	end = strstr(p, "\r\n") + 2;
	memmove(p, end, strlen(end) + 1);
	b->len = strlen(b->data);
}

static void
test_text_only_exact(void **state)
{
	struct mime_addr to[] = { { "a@example.org", "Alice" }, { "b@example.org", NULL } };
	struct mime_addr cc[] = { { "c@example.org", "Smith, Carol" } };
	struct mime_header hdr[] = { { "Reply-To", "help@example.com" }, { "X-Tag", "t1" } };
	struct mime_msg m;
	struct mime_info info;
	struct buf out;

	(void)state;
	base_msg(&m);
	m.from.name = "Outpost";
	m.to = to;
	m.nto = 2;
	m.cc = cc;
	m.ncc = 1;
	m.subject = "Hello";
	m.text = "line one\nline two\n";
	m.text_len = strlen(m.text);
	m.headers = hdr;
	m.nheaders = 2;
	compose_ok(&m, &out, &info);
	check_lines(&out);
	assert_false(info.smtputf8);
	cut_message_id(&out, "example.com", &info);
	assert_string_equal(out.data,
	    "Date: Wed, 18 Nov 2026 11:06:40 +0000\r\n"
	    "From: Outpost <sender@example.com>\r\n"
	    "To: Alice <a@example.org>, b@example.org\r\n"
	    "Cc: \"Smith, Carol\" <c@example.org>\r\n"
	    "Subject: Hello\r\n"
	    "Reply-To: help@example.com\r\n"
	    "X-Tag: t1\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n"
	    "\r\n"
	    "line one\r\n"
	    "line two\r\n");
	buf_free(&out);
}

static void
test_text_encodings(void **state)
{
	struct mime_msg m;
	struct buf out;
	char *big;

	(void)state;
	base_msg(&m);
	/* no recipients in the header: undisclosed; no final newline: added */
	m.text = "no newline";
	m.text_len = strlen(m.text);
	m.msgid_domain = "mail.example.net";
	compose_ok(&m, &out, NULL);
	check_lines(&out);
	assert_non_null(strstr(out.data, "To: undisclosed-recipients:;\r\n"));
	assert_null(strstr(out.data, "Subject"));
	cut_message_id(&out, "mail.example.net", NULL);
	assert_non_null(strstr(out.data, "7bit\r\n\r\nno newline\r\n"));
	buf_free(&out);

	/* non-ASCII: quoted-printable; "=" CRLF ends it without adding text */
	m.text = "caf\xc3\xa9";
	m.text_len = strlen(m.text);
	compose_ok(&m, &out, NULL);
	check_lines(&out);
	assert_non_null(strstr(out.data, "Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9=\r\n"));
	assert_int_equal(out.data[out.len - 1], '\n');
	assert_memory_equal(out.data + out.len - 5, "A9=\r\n", 5);
	buf_free(&out);

	/* ASCII with a line over 998: quoted-printable */
	big = malloc(2001);
	memset(big, 'x', 2000);
	big[2000] = '\0';
	m.text = big;
	m.text_len = 2000;
	compose_ok(&m, &out, NULL);
	check_lines(&out);
	assert_non_null(strstr(out.data, "quoted-printable"));
	buf_free(&out);
	/* exactly 998 is still 7bit */
	big[998] = '\0';
	m.text_len = 998;
	compose_ok(&m, &out, NULL);
	check_lines(&out);
	assert_non_null(strstr(out.data, "7bit"));
	buf_free(&out);
	free(big);

	/* a bare CR or a NUL: quoted-printable */
	m.text = "a\rb";
	m.text_len = 3;
	compose_ok(&m, &out, NULL);
	assert_non_null(strstr(out.data, "a=0Db"));
	buf_free(&out);
	m.text = "a\0b";
	m.text_len = 3;
	compose_ok(&m, &out, NULL);
	assert_non_null(strstr(out.data, "a=00b"));
	buf_free(&out);

	/* no body at all: an empty text part */
	m.text = NULL;
	m.text_len = 0;
	compose_ok(&m, &out, NULL);
	check_lines(&out);
	assert_non_null(strstr(out.data, "Content-Type: text/plain; charset=utf-8\r\n"));
	assert_memory_equal(out.data + out.len - 4, "\r\n\r\n", 4);
	buf_free(&out);

	/* invalid UTF-8 in a body is refused: it is declared utf-8 */
	m.text = "\xff";
	m.text_len = 1;
	compose_bad(&m, "not valid UTF-8");
	m.text = NULL;
	m.html = "<p>\xc3</p>";
	m.html_len = strlen(m.html);
	compose_bad(&m, "HTML body");
}

/* The boundary declared in a Content-Type that follows p. */
static void
boundary_of(const char *p, char *dst, size_t dstsz)
{
	const char *b = strstr(p, "boundary=\"");
	size_t n;

	assert_non_null(b);
	b += 10;
	n = strcspn(b, "\"");
	assert_true(n < dstsz);
	memcpy(dst, b, n);
	dst[n] = '\0';
	assert_int_equal(strncmp(dst, "=_outpost_", 10), 0);
	assert_int_equal(strlen(dst), 34);
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (; (hay = strstr(hay, needle)) != NULL; hay++)
		n++;
	return n;
}

static void
test_alternative(void **state)
{
	struct mime_msg m;
	struct buf out;
	char b[64], delim[128];

	(void)state;
	base_msg(&m);
	m.text = "plain";
	m.text_len = 5;
	m.html = "<p>rich</p>";
	m.html_len = strlen(m.html);
	compose_ok(&m, &out, NULL);
	check_lines(&out);
	assert_non_null(strstr(out.data, "MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary=\""));
	boundary_of(out.data, b, sizeof(b));
	snprintf(delim, sizeof(delim), "\r\n--%s\r\n", b);
	assert_int_equal(count(out.data, delim), 2);
	snprintf(delim, sizeof(delim), "\r\n--%s--\r\n", b);
	assert_int_equal(count(out.data, delim), 1);
	assert_int_equal(strcmp(out.data + out.len - strlen(delim), delim), 0);
	assert_true(strstr(out.data, "text/plain") < strstr(out.data, "text/html"));
	snprintf(delim, sizeof(delim), "7bit\r\n\r\nplain\r\n--%s\r\n", b);
	assert_non_null(strstr(out.data, delim));
	buf_free(&out);

	/* html alone is a single text/html part */
	m.text = NULL;
	compose_ok(&m, &out, NULL);
	assert_non_null(strstr(out.data, "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n"));
	assert_null(strstr(out.data, "multipart"));
	buf_free(&out);
}

static void
test_mixed(void **state)
{
	static const unsigned char bin[] = { 0, 1, 2, 0xff, 0xfe, '\r', '\n', '-', '-' };
	struct mime_attachment att[] = {
		{ "report.pdf", NULL, bin, sizeof(bin) },
		{ "R\xc3\xa9sum\xc3\xa9 final.txt", NULL, "text\n", 5 },
		{ NULL, "application/x-thing; v=\"1 2\"", "abc", 3 },
		{ "empty", NULL, NULL, 0 },
	};
	struct mime_msg m;
	struct buf out;
	char b1[64], b2[64], delim[128];
	const char *p;

	(void)state;
	base_msg(&m);
	m.text = "see attached";
	m.text_len = strlen(m.text);
	m.html = "<p>see attached</p>";
	m.html_len = strlen(m.html);
	m.att = att;
	m.natt = 4;
	compose_ok(&m, &out, NULL);
	check_lines(&out);
	assert_non_null(strstr(out.data, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n boundary=\""));
	boundary_of(out.data, b1, sizeof(b1));
	p = strstr(out.data, "Content-Type: multipart/alternative;");
	assert_non_null(p);
	boundary_of(p, b2, sizeof(b2));
	assert_string_not_equal(b1, b2);
	snprintf(delim, sizeof(delim), "\r\n--%s\r\n", b1);
	assert_int_equal(count(out.data, delim), 5);          /* alternative + 4 */
	snprintf(delim, sizeof(delim), "\r\n--%s\r\n", b2);
	assert_int_equal(count(out.data, delim), 2);
	snprintf(delim, sizeof(delim), "\r\n--%s--\r\n", b2);
	assert_int_equal(count(out.data, delim), 1);

	assert_non_null(strstr(out.data,
	    "Content-Type: application/pdf;\r\n name=\"report.pdf\"\r\n"
	    "Content-Disposition: attachment;\r\n filename=\"report.pdf\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nAAEC//4NCi0t\r\n"));
	assert_non_null(strstr(out.data,
	    "Content-Type: text/plain; charset=utf-8;\r\n"
	    " name=\"=?UTF-8?B?UsOpc3Vtw6kgZmluYWwudHh0?=\"\r\n"
	    "Content-Disposition: attachment;\r\n"
	    " filename*=UTF-8''R%C3%A9sum%C3%A9%20final.txt\r\n"));
	assert_non_null(strstr(out.data,
	    "Content-Type: application/x-thing; v=\"1 2\"\r\n"
	    "Content-Disposition: attachment\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nYWJj\r\n"));
	assert_non_null(strstr(out.data,
	    "Content-Type: application/octet-stream;\r\n name=\"empty\"\r\n"
	    "Content-Disposition: attachment;\r\n filename=\"empty\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n\r\n--"));
	buf_free(&out);

	/* text and attachments: no alternative part */
	m.html = NULL;
	m.natt = 1;
	compose_ok(&m, &out, NULL);
	check_lines(&out);
	assert_null(strstr(out.data, "alternative"));
	assert_true(strstr(out.data, "text/plain") < strstr(out.data, "application/pdf"));
	buf_free(&out);

	/* attachments alone: no empty text part */
	m.text = NULL;
	compose_ok(&m, &out, NULL);
	assert_null(strstr(out.data, "text/plain"));
	assert_non_null(strstr(out.data, "multipart/mixed"));
	buf_free(&out);
}

static void
test_long_filename(void **state)
{
	char name[MIME_FILENAME_MAX + 2];
	struct mime_attachment att = { name, NULL, "x", 1 };
	struct mime_msg m;
	struct buf out;
	size_t i;

	(void)state;
	/* 100 two-octet characters: RFC 2231 continuations of 60 characters */
	for (i = 0; i < 200; i += 2)
		memcpy(name + i, "\xc3\xa9", 2);
	memcpy(name + 200, ".txt", 5);
	base_msg(&m);
	m.att = &att;
	m.natt = 1;
	compose_ok(&m, &out, NULL);
	check_lines(&out);
	assert_non_null(strstr(out.data, " filename*0*=UTF-8''%C3%A9"));
	assert_non_null(strstr(out.data, " filename*1*=%C3%A9"));
	assert_non_null(strstr(out.data, ".txt\r\nContent-Transfer-Encoding"));
	buf_free(&out);

	memset(name, 'a', MIME_FILENAME_MAX + 1);
	name[MIME_FILENAME_MAX + 1] = '\0';
	compose_bad(&m, "longer than 255");
	name[MIME_FILENAME_MAX] = '\0';
	compose_ok(&m, &out, NULL);
	check_lines(&out);
	buf_free(&out);
}

static void
test_attachment_refusals(void **state)
{
	struct mime_attachment att = { "a.txt", NULL, "x", 1 };
	struct mime_msg m;

	(void)state;
	base_msg(&m);
	m.att = &att;
	m.natt = 1;
	att.filename = "dir/a.txt";
	compose_bad(&m, "'/'");
	att.filename = "dir\\a.txt";
	compose_bad(&m, "'/'");
	att.filename = "a\r\nContent-Type: text/html.txt";
	compose_bad(&m, "line break");
	att.filename = "";
	compose_bad(&m, "empty");
	att.filename = "bad\xff.txt";
	compose_bad(&m, "UTF-8");
	att.filename = "a.txt";
	att.content_type = "multipart/mixed; boundary=x";
	compose_bad(&m, "octet-stream");
	att.content_type = "message/rfc822";
	compose_bad(&m, "octet-stream");
	att.content_type = "text";
	compose_bad(&m, "type/subtype");
	att.content_type = "text/plain\r\nBcc: x@y.org";
	compose_bad(&m, "type/subtype");
	att.content_type = "text/plain; charset";
	compose_bad(&m, "type/subtype");
	att.content_type = "text/plain; a=\"unterminated";
	compose_bad(&m, "type/subtype");
	att.content_type = "text/pl ain";
	compose_bad(&m, "type/subtype");
	att.content_type = NULL;
	att.data = NULL;
	compose_bad(&m, "no data");
}

static void
test_header_injection(void **state)
{
	struct mime_addr to = { "a@example.org", NULL };
	struct mime_header hdr = { "X-Tag", "ok" };
	struct mime_msg m;

	(void)state;
	base_msg(&m);
	m.to = &to;
	m.nto = 1;
	m.text = "t";
	m.text_len = 1;

	m.subject = "Hello\r\nBcc: victim@example.org";
	compose_bad(&m, "line break");
	m.subject = "Hello\nBcc: victim@example.org";
	compose_bad(&m, "line break");
	m.subject = "Hello\rBcc: victim@example.org";
	compose_bad(&m, "line break");
	m.subject = "bell\x07";
	compose_bad(&m, "control character");
	m.subject = "ok";

	m.from.name = "Name\r\nBcc: victim@example.org";
	compose_bad(&m, "line break");
	m.from.name = NULL;
	to.name = "X\nBcc: v@example.org";
	compose_bad(&m, "line break");
	to.name = NULL;
	to.addr = "a@example.org\r\nBcc: v@example.org";
	compose_bad(&m, "line break");
	to.addr = "a@example.org>, <v@example.org";
	compose_bad(&m, NULL);
	to.addr = "a@example.org";
	m.from.addr = "sender@example.com\nBcc: v@example.org";
	compose_bad(&m, "line break");
	m.from.addr = "sender@example.com";

	m.headers = &hdr;
	m.nheaders = 1;
	hdr.value = "v\r\nBcc: victim@example.org";
	compose_bad(&m, "X-Tag");
	hdr.value = "ok";
	hdr.name = "X-Tag\r\nBcc";
	compose_bad(&m, "field name");
	hdr.name = "X Tag";
	compose_bad(&m, "field name");
	hdr.name = "X-Tag:";
	compose_bad(&m, "field name");
	hdr.name = "";
	compose_bad(&m, "1 to 76");
}

static void
test_extra_header_policy(void **state)
{
	struct op_err e;
	const char *refused[] = { "From", "to", "CC", "bcc", "Subject", "Date",
	    "Message-ID", "message-id", "MIME-Version", "Content-Type",
	    "Content-Transfer-Encoding", "content-disposition" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		err_clear(&e);
		if (mime_header_allowed(refused[i], &e) == 0)
			fail_msg("allowed %s", refused[i]);
		assert_int_equal(e.kind, ERR_DATA);
	}
	err_clear(&e);
	mime_header_allowed("From", &e);
	assert_non_null(strstr(e.msg, "--from"));
	mime_header_allowed("Bcc", &e);
	assert_non_null(strstr(e.msg, "--bcc"));
	mime_header_allowed("Content-Type", &e);
	assert_non_null(strstr(e.msg, "MIME structure"));
	assert_int_equal(mime_header_allowed("Reply-To", NULL), 0);
	assert_int_equal(mime_header_allowed("List-Unsubscribe", NULL), 0);
	assert_int_equal(mime_header_allowed("X-Anything", NULL), 0);
	assert_int_equal(mime_header_allowed("Sender", NULL), 0);
}

static void
test_addresses(void **state)
{
	struct mime_addr to[] = {
		{ "j\xc3\xb6rg@m\xc3\xbcnchen.example", "J\xc3\xb6rg" },
		{ "\"a b\"@example.org", NULL },
		{ "\"john\"@example.org", NULL },
	};
	struct mime_msg m;
	struct mime_info info;
	struct buf out;

	(void)state;
	base_msg(&m);
	m.to = to;
	m.nto = 3;
	compose_ok(&m, &out, &info);
	check_lines(&out);
	assert_true(info.smtputf8);
	assert_non_null(strstr(out.data, "To: =?UTF-8?B?SsO2cmc=?= <j\xc3\xb6rg@m\xc3\xbcnchen.example>,"));
	assert_non_null(strstr(out.data, "\"a b\"@example.org,\r\n john@example.org\r\n"));
	buf_free(&out);

	/* invalid addresses are refused, not repaired */
	to[0].addr = "u%x@example.org";
	compose_bad(&m, "percent hack");
	to[0].addr = "a@b@example.org";
	compose_bad(&m, "more than one '@'");
	to[0].addr = NULL;
	compose_bad(&m, "missing");
	to[0].addr = "ok@example.org";
	m.from.addr = NULL;
	compose_bad(&m, "sender address");
	m.from.addr = "@a,@b:u@c";
	compose_bad(&m, "source route");

	/* many recipients fold at 78 */
	{
		static struct mime_addr many[200];
		static char addrs[200][32];
		size_t i;
		const char *p;

		base_msg(&m);
		for (i = 0; i < 200; i++) {
			snprintf(addrs[i], sizeof(addrs[i]), "user%zu@example.org", i);
			many[i].addr = addrs[i];
			many[i].name = (i % 2) ? "Some User" : NULL;
		}
		m.to = many;
		m.nto = 200;
		compose_ok(&m, &out, NULL);
		check_lines(&out);
		p = strstr(out.data, "\r\nTo: ") + 2;
		do {                                  /* the To field's lines */
			const char *eol = strstr(p, "\r\n");

			assert_true(eol - p <= 78);
			p = eol + 2;
		} while (*p == ' ');
		assert_int_equal(strncmp(p, "Message-ID: ", 12), 0);
		assert_int_equal(count(out.data, "@example.org"), 200);
		buf_free(&out);
		m.nto = MIME_ADDRS_MAX + 1;
		compose_bad(&m, "more than");
	}
}

static void
test_detect_type(void **state)
{
	static const unsigned char bin[] = { 0x89, 'P', 'N', 'G', 0, 1 };

	(void)state;
	assert_string_equal(mime_detect_type("a.pdf", bin, sizeof(bin)), "application/pdf");
	assert_string_equal(mime_detect_type("A.PDF", bin, sizeof(bin)), "application/pdf");
	assert_string_equal(mime_detect_type("x.png", bin, sizeof(bin)), "image/png");
	assert_string_equal(mime_detect_type("x.jpg", bin, sizeof(bin)), "image/jpeg");
	assert_string_equal(mime_detect_type("x.JPEG", bin, sizeof(bin)), "image/jpeg");
	assert_string_equal(mime_detect_type("x.gif", bin, sizeof(bin)), "image/gif");
	assert_string_equal(mime_detect_type("x.svg", "<svg/>", 6), "image/svg+xml");
	assert_string_equal(mime_detect_type("x.zip", bin, sizeof(bin)), "application/zip");
	assert_string_equal(mime_detect_type("x.json", "{}", 2), "application/json");
	assert_string_equal(mime_detect_type("x.xml", "<a/>", 4), "application/xml");
	assert_string_equal(mime_detect_type("x.gz", bin, sizeof(bin)), "application/gzip");
	assert_string_equal(mime_detect_type("x.tar", bin, sizeof(bin)), "application/x-tar");
	assert_string_equal(mime_detect_type("x.doc", bin, sizeof(bin)), "application/msword");
	assert_string_equal(mime_detect_type("x.docx", bin, sizeof(bin)),
	    "application/vnd.openxmlformats-officedocument.wordprocessingml.document");
	assert_string_equal(mime_detect_type("x.xls", bin, sizeof(bin)), "application/vnd.ms-excel");
	assert_string_equal(mime_detect_type("x.xlsx", bin, sizeof(bin)),
	    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
	assert_string_equal(mime_detect_type("x.ppt", bin, sizeof(bin)), "application/vnd.ms-powerpoint");
	assert_string_equal(mime_detect_type("x.pptx", bin, sizeof(bin)),
	    "application/vnd.openxmlformats-officedocument.presentationml.presentation");
	/* text types only for text */
	assert_string_equal(mime_detect_type("x.txt", "hi\n", 3), "text/plain; charset=utf-8");
	assert_string_equal(mime_detect_type("x.txt", "caf\xc3\xa9", 5), "text/plain; charset=utf-8");
	assert_string_equal(mime_detect_type("x.txt", bin, sizeof(bin)), "application/octet-stream");
	assert_string_equal(mime_detect_type("x.txt", "caf\xe9", 4), "application/octet-stream");
	assert_string_equal(mime_detect_type("x.csv", "a,b\n", 4), "text/csv; charset=utf-8");
	assert_string_equal(mime_detect_type("x.html", "<p>", 3), "text/html; charset=utf-8");
	assert_string_equal(mime_detect_type("x.ics", "BEGIN:VCALENDAR\r\n", 17), "text/calendar; charset=utf-8");
	/* unknown: text or octets */
	assert_string_equal(mime_detect_type("README", "hello\n", 6), "text/plain; charset=utf-8");
	assert_string_equal(mime_detect_type("x.unknown", bin, sizeof(bin)), "application/octet-stream");
	assert_string_equal(mime_detect_type(NULL, "hello", 5), "text/plain; charset=utf-8");
	assert_string_equal(mime_detect_type(NULL, "", 0), "application/octet-stream");
	assert_string_equal(mime_detect_type(".pdf", bin, sizeof(bin)), "application/octet-stream");
	assert_string_equal(mime_detect_type("x.", "a\x01", 2), "application/octet-stream");
}

static void
test_message_id(void **state)
{
	char a[MIME_MSGID_MAX], b[MIME_MSGID_MAX], small[20];
	struct op_err e;

	(void)state;
	assert_int_equal(mime_message_id("example.org", a, sizeof(a), NULL), 0);
	assert_int_equal(mime_message_id("example.org", b, sizeof(b), NULL), 0);
	assert_int_equal(strlen(a), 1 + 32 + 1 + 11 + 1);
	assert_string_not_equal(a, b);
	assert_int_equal(mime_message_id("[192.0.2.1]", a, sizeof(a), NULL), 0);
	err_clear(&e);
	assert_int_equal(mime_message_id("bad domain", a, sizeof(a), &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_int_equal(mime_message_id("x.org>\r\nBcc: y", a, sizeof(a), NULL), -1);
	assert_int_equal(mime_message_id("m\xc3\xbcnchen.de", a, sizeof(a), NULL), -1);
	assert_int_equal(mime_message_id("", a, sizeof(a), NULL), -1);
	assert_int_equal(mime_message_id(NULL, a, sizeof(a), NULL), -1);
	assert_int_equal(mime_message_id("example.org", small, sizeof(small), NULL), -1);
}

static void
test_writers(void **state)
{
	struct mime_addr v[] = { { "a@x.org", "A" }, { "b@x.org", NULL } };
	struct buf out;
	int utf8 = 0;

	(void)state;
	buf_init(&out, 4096);
	assert_int_equal(mime_write_addr_header(&out, "X-Original-To", v, 2, &utf8, NULL), 0);
	assert_string_equal(out.data, "X-Original-To: A <a@x.org>, b@x.org\r\n");
	assert_false(utf8);
	buf_reset(&out);
	assert_int_equal(mime_write_text_header(&out, "Subject", "Gr\xc3\xbc\xc3\x9f""e", NULL), 0);
	assert_string_equal(out.data, "Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n");
	buf_reset(&out);
	assert_int_equal(mime_write_text_header(&out, "Subject", "a\nb", NULL), -1);
	buf_free(&out);
}

static void
test_bounds(void **state)
{
	struct mime_msg m;
	struct buf out;
	struct op_err e;
	static struct mime_attachment att[MIME_ATTACH_MAX + 1];
	static struct mime_header hdr[MIME_HEADERS_MAX + 1];
	char subject[MIME_SUBJECT_MAX + 2];
	size_t i;

	(void)state;
	base_msg(&m);
	m.text = "0123456789";
	m.text_len = 10;
	/* the output buffer's max bounds the message */
	buf_init(&out, 100);
	err_clear(&e);
	assert_int_equal(mime_compose(&m, &out, NULL, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	buf_free(&out);

	for (i = 0; i <= MIME_ATTACH_MAX; i++) {
		att[i].filename = "a.bin";
		att[i].data = "x";
		att[i].len = 1;
	}
	m.att = att;
	m.natt = MIME_ATTACH_MAX;
	compose_ok(&m, &out, NULL);
	check_lines(&out);
	buf_free(&out);
	m.natt = MIME_ATTACH_MAX + 1;
	compose_bad(&m, "attachments");
	m.natt = 0;

	for (i = 0; i <= MIME_HEADERS_MAX; i++) {
		hdr[i].name = "X-A";
		hdr[i].value = "v";
	}
	m.headers = hdr;
	m.nheaders = MIME_HEADERS_MAX + 1;
	compose_bad(&m, "extra headers");
	m.nheaders = 0;

	memset(subject, 'a', sizeof(subject) - 1);
	subject[sizeof(subject) - 1] = '\0';
	m.subject = subject;
	compose_bad(&m, "subject is longer");
	subject[MIME_SUBJECT_MAX] = '\0';
	compose_ok(&m, &out, NULL);
	check_lines(&out);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_only_exact),
		cmocka_unit_test(test_text_encodings),
		cmocka_unit_test(test_alternative),
		cmocka_unit_test(test_mixed),
		cmocka_unit_test(test_long_filename),
		cmocka_unit_test(test_attachment_refusals),
		cmocka_unit_test(test_header_injection),
		cmocka_unit_test(test_extra_header_policy),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_detect_type),
		cmocka_unit_test(test_message_id),
		cmocka_unit_test(test_writers),
		cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
