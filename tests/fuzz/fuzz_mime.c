/*
 * fuzz_mime.c - message composition (mail/mime.h): what `outpost send`,
 * POST /api/messages and test emails hand to the queue.
 *
 * Input: a stream of pieces that fill a struct mime_msg (sender, up to 3
 * To and 3 Cc addresses with display names, subject, text, html, up to 2
 * attachments, up to 3 extra headers).  Checked, when composing succeeds:
 *   - every line ends with CRLF, none is longer than 998 octets, there is
 *     no bare CR, bare LF or NUL anywhere;
 *   - the header section parses (mail/header.h), and its fields are only
 *     the ones Outpost writes plus the extra headers given: no input
 *     starts a header field of its own (header injection), there is no
 *     Bcc, and one From, Date, Message-ID and MIME-Version;
 *   - the To and Cc fields read back as exactly the To and Cc addresses;
 *   - the Message-ID is the one reported in struct mime_info.
 */
#include "fuzz.h"

#include <strings.h>

#include "mail/addr.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "mime_fields.h"
#include "util/buf.h"

#define OUT_MAX (1024 * 1024)

/* The addresses of m's To and Cc, normalised and unique. */
static void
expected_rcpts(const struct mime_msg *m, struct addr_list *l)
{
	struct addr_mailbox mb;
	size_t i;

	for (i = 0; i < m->nto; i++)
		if (addr_parse_mailbox(m->to[i].addr, &mb, NULL) == 0)
			addr_list_add(l, &mb, 1, NULL);
	for (i = 0; i < m->ncc; i++)
		if (addr_parse_mailbox(m->cc[i].addr, &mb, NULL) == 0)
			addr_list_add(l, &mb, 1, NULL);
}

static void
check(const struct mime_msg *m, const struct buf *out,
    const struct mime_info *info)
{
	struct hdr_block b;
	struct addr_list got, want;
	size_t i, line = 0, j;
	const char *mid;

	for (i = 0; i < out->len; i++) {
		char c = out->data[i];

		fuzz_assert(c != '\0');
		if (c == '\r') {
			fuzz_assert(i + 1 < out->len && out->data[i + 1] == '\n');
			fuzz_assert(line <= 998);
			line = 0;
			i++;
			continue;
		}
		fuzz_assert(c != '\n');
		line++;
	}
	fuzz_assert(line == 0);

	memset(&b, 0, sizeof(b));
	if (hdr_parse(out->data, out->len, &b, NULL) != 0)
		fuzz_fail("composed header section does not parse");
	fuzz_assert(b.blank);
	for (i = 0; i < b.n; i++)
		if (!fuzz_known_field(b.v[i].name, m))
			fuzz_fail("unexpected header field '%s'", b.v[i].name);
	fuzz_assert(hdr_count(&b, "From") == 1 && hdr_count(&b, "Date") == 1 &&
	    hdr_count(&b, "Message-ID") == 1 && hdr_count(&b, "MIME-Version") == 1);
	fuzz_assert(hdr_count(&b, "To") <= 1 && hdr_count(&b, "Cc") <= 1);
	fuzz_assert(!hdr_has(&b, "Bcc"));
	mid = hdr_get(&b, "Message-ID");
	fuzz_assert(strcmp(mid, info->message_id) == 0);

	addr_list_init(&got, 0);
	addr_list_init(&want, 0);
	expected_rcpts(m, &want);
	if (hdr_recipients(&b, &got, NULL) != 0)
		fuzz_fail("composed To/Cc do not parse back");
	if (got.n != want.n)
		fuzz_fail("To/Cc read back %zu addresses, %zu given", got.n, want.n);
	for (i = 0; i < want.n; i++) {
		for (j = 0; j < got.n; j++)
			if (addr_mailbox_equal(&want.v[i], &got.v[j]))
				break;
		if (j == got.n)
			fuzz_fail("address %s lost in the headers", want.v[i].addr);
	}
	addr_list_free(&got);
	addr_list_free(&want);
	hdr_block_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct mime_msg m;
	struct mime_addr to[3], cc[3];
	struct mime_attachment att[2];
	struct mime_header hdr[3];
	struct mime_info info;
	struct buf out;
	char *strs[64];
	size_t nstrs = 0, i, n;
	unsigned sel;
	int rc;

	if (size > 256 * 1024)
		return 0;
#define S(max) (strs[nstrs++] = fuzz_str(&in, (max)))
	memset(&m, 0, sizeof(m));
	sel = fuzz_byte(&in) | (fuzz_byte(&in) << 8);
	m.from.addr = S(300);
	m.from.name = (sel & 1) ? S(300) : NULL;
	m.nto = (sel >> 1) % 4;
	m.ncc = (sel >> 3) % 4;
	for (i = 0; i < m.nto; i++) {
		to[i].addr = S(300);
		to[i].name = (sel & 0x20) ? S(300) : NULL;
	}
	for (i = 0; i < m.ncc; i++) {
		cc[i].addr = S(300);
		cc[i].name = (sel & 0x40) ? S(300) : NULL;
	}
	m.to = to;
	m.cc = cc;
	m.subject = (sel & 0x80) ? S(5000) : NULL;
	if (sel & 0x100) {
		m.text = S(20000);
		m.text_len = strlen(m.text);
	}
	if (sel & 0x200) {
		m.html = S(20000);
		m.html_len = strlen(m.html);
	}
	m.natt = (sel >> 10) % 3;
	for (i = 0; i < m.natt; i++) {
		const uint8_t *p;

		att[i].filename = (sel & 0x1000) ? S(300) : NULL;
		att[i].content_type = (sel & 0x2000) ? S(300) : NULL;
		p = fuzz_piece(&in, 20000, &n);
		att[i].data = p;
		att[i].len = n;
	}
	m.att = att;
	m.nheaders = (sel >> 14) % 4;
	for (i = 0; i < m.nheaders; i++) {
		hdr[i].name = S(100);
		hdr[i].value = S(5000);
	}
	m.headers = hdr;
	m.msgid_domain = (fuzz_byte(&in) & 1) ? S(300) : NULL;
	m.date = (int64_t)fuzz_byte(&in) << 24;
#undef S

	buf_init(&out, OUT_MAX);
	memset(&info, 0, sizeof(info));
	rc = mime_compose(&m, &out, &info, NULL);
	if (rc == 0)
		check(&m, &out, &info);
	buf_free(&out);

	/* The helpers on their own. */
	buf_init(&out, OUT_MAX);
	if (m.nheaders > 0 && mime_write_text_header(&out, m.headers[0].name,
	    m.headers[0].value, NULL) == 0) {
		/* one field: it parses as exactly one, named as asked */
		struct hdr_block hb;

		memset(&hb, 0, sizeof(hb));
		fuzz_assert(out.len >= 2 && memcmp(out.data + out.len - 2, "\r\n", 2) == 0);
		buf_appendstr(&out, "\r\n", NULL);
		if (hdr_parse(out.data, out.len, &hb, NULL) != 0)
			fuzz_fail("a written text header does not parse");
		fuzz_assert(hb.n == 1);
		fuzz_assert(strcmp(hb.v[0].name, m.headers[0].name) == 0);
		hdr_block_free(&hb);
	}
	buf_free(&out);
	(void)mime_detect_type(m.natt > 0 ? att[0].filename : NULL,
	    m.natt > 0 ? att[0].data : NULL, m.natt > 0 ? att[0].len : 0);

	for (i = 0; i < nstrs; i++)
		free(strs[i]);
	return 0;
}
