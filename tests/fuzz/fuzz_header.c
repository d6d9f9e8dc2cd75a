/*
 * fuzz_header.c - header parsing for `sendmail -t` (mail/header.h): the
 * header section, address lists, Bcc removal.
 *
 * Input: a message.  Checked, when hdr_parse() accepts it:
 *   - fields lie in the message, in order, without overlap, before
 *     end <= body <= length; names are non-empty and hdr_get() finds them;
 *   - every recipient hdr_recipients() gives passes addr_parse_mailbox()
 *     and appears once;
 *   - hdr_strip_bcc()'s output parses again, has no Bcc or Resent-Bcc
 *     field, every other field in the same order, and the body octet for
 *     octet; stripping it again changes nothing.
 * A value of the message is also parsed as an address list on its own.
 */
#include "fuzz.h"

#include <strings.h>

#include "mail/addr.h"
#include "mail/header.h"
#include "util/buf.h"

static int
is_bcc(const char *name)
{
	return strcasecmp(name, "Bcc") == 0 || strcasecmp(name, "Resent-Bcc") == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *msg = (const char *)data;
	struct hdr_block b, b2;
	struct addr_list rc, al;
	struct buf out, out2;
	struct addr_mailbox mb;
	size_t i, j, k, prev_end;
	char *v;

	if (size > 256 * 1024)
		return 0;
	memset(&b, 0, sizeof(b));
	if (hdr_parse(msg, size, &b, NULL) < 0)
		return 0;
	fuzz_assert(b.n <= HDR_COUNT_MAX);
	fuzz_assert(b.skip <= b.end || b.n == 0);
	fuzz_assert(b.end <= b.body && b.body <= size);
	prev_end = b.skip;
	for (i = 0; i < b.n; i++) {
		const struct hdr_field *f = &b.v[i];

		fuzz_assert(f->name[0] != '\0' && f->value != NULL);
		fuzz_assert(f->off >= prev_end && f->len > 0 && f->off + f->len <= b.end);
		fuzz_assert(strncmp(msg + f->off, f->name, strlen(f->name)) == 0);
		fuzz_assert(hdr_get(&b, f->name) != NULL && hdr_has(&b, f->name));
		prev_end = f->off + f->len;
	}

	addr_list_init(&rc, 0);
	if (hdr_recipients(&b, &rc, NULL) == 0) {
		for (i = 0; i < rc.n; i++) {
			fuzz_assert(addr_parse_mailbox(rc.v[i].addr, &mb, NULL) == 0);
			for (j = 0; j < i; j++)
				fuzz_assert(!addr_mailbox_equal(&rc.v[i], &rc.v[j]));
		}
	}
	addr_list_free(&rc);

	buf_init(&out, 2 * size + 16);
	if (hdr_strip_bcc(msg, size, &b, &out, NULL) == 0) {
		memset(&b2, 0, sizeof(b2));
		if (hdr_parse(out.data, out.len, &b2, NULL) != 0)
			fuzz_fail("stripped message does not parse");
		for (i = 0, k = 0; i < b.n; i++) {
			if (is_bcc(b.v[i].name))
				continue;
			fuzz_assert(k < b2.n);
			fuzz_assert(strcmp(b.v[i].name, b2.v[k].name) == 0);
			fuzz_assert(strcmp(b.v[i].value, b2.v[k].value) == 0);
			k++;
		}
		fuzz_assert(k == b2.n);
		for (i = 0; i < b2.n; i++)
			fuzz_assert(!is_bcc(b2.v[i].name));
		fuzz_assert(size - b.body <= out.len - b2.body);
		fuzz_assert(fuzz_same(msg + b.body, size - b.body,
		    out.data + out.len - (size - b.body), size - b.body));
		buf_init(&out2, 2 * size + 16);
		fuzz_assert(hdr_strip_bcc(out.data, out.len, &b2, &out2, NULL) == 0);
		fuzz_assert(fuzz_same(out2.data, out2.len, out.data, out.len));
		buf_free(&out2);
		hdr_block_free(&b2);
	}
	buf_free(&out);

	/* Each value as an address list on its own. */
	for (i = 0; i < b.n && i < 8; i++) {
		v = b.v[i].value;
		addr_list_init(&al, 64);
		if (hdr_parse_addr_list(v, &al, NULL) == 0)
			for (j = 0; j < al.n; j++)
				fuzz_assert(addr_parse_mailbox(al.v[j].addr, &mb, NULL) == 0);
		addr_list_free(&al);
	}
	hdr_block_free(&b);
	return 0;
}
