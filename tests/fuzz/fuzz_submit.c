/*
 * fuzz_submit.c - POST /api/messages without the queue: the body decoded
 * as the handler decodes it (http_body_object(), then api_submit_decode()
 * in http/api_submit.c, field by field) and, when accepted, composed
 * (mail/mime.h mime_compose()).
 *
 * Input: a request body (JSON).  Checked:
 *   - a refusal names its fields, each a key of the body ("to" when no
 *     recipient was given) or one of its elements: "to[3]",
 *     "headers.X-Tag", "attachments[0]";
 *   - an accepted request composes: every refusal mime_compose() could
 *     make of a field was made by the decoder, naming the field;
 *   - the message: every line ends with CRLF, none is longer than 998
 *     octets, no bare CR, bare LF or NUL; its header section parses and
 *     holds only the fields Outpost writes and the extra headers asked
 *     for (no header injection), no Bcc, one From, Date, Message-ID and
 *     MIME-Version;
 *   - From reads back as the sender, To, Cc and Reply-To as exactly the
 *     addresses given (none added, none lost; a string address may be
 *     "Name <addr>"), and the envelope is exactly the To,
 *     Cc and Bcc addresses, each once: the only recipients are those
 *     given.
 */
#include "fuzz.h"

#include <jansson.h>
#include <strings.h>

#include "http/api_decode.h"
#include "http/http_int.h"
#include "mail/addr.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "mime_fields.h"
#include "util/buf.h"

#define OUT_MAX (8 * 1024 * 1024)
#define ATT_MAX (1024 * 1024)

/* A field named in a refusal belongs to the request. */
static int
field_of_body(json_t *body, const char *field)
{
	const char *key;
	json_t *v;
	size_t n;

	if (strcmp(field, "from") == 0 || strcmp(field, "to") == 0 ||
	    strcmp(field, "cc") == 0)
		return 1;
	json_object_foreach(body, key, v) {
		n = strlen(key);
		if (strncmp(field, key, n) == 0 &&
		    (field[n] == '\0' || field[n] == '[' || field[n] == '.'))
			return 1;
	}
	return 0;
}

/* The addresses of body[key] (one, or an array), as the request gives
 * them, added to l. */
static void
addrs_of(json_t *body, const char *key, struct addr_list *l)
{
	json_t *v = json_object_get(body, key), *x;
	struct addr_mailbox mb;
	size_t i, n = 1;

	if (v == NULL || json_is_null(v))
		return;
	if (json_is_array(v))
		n = json_array_size(v);
	for (i = 0; i < n; i++) {
		const char *email;

		char name[ADDR_NAME_MAX + 1];

		x = json_is_array(v) ? json_array_get(v, i) : v;
		email = json_is_string(x) ? json_string_value(x) :
		    json_string_value(json_object_get(x, "email"));
		fuzz_assert(email != NULL);
		/* a string may be "Name <addr>"; the object's email is bare */
		if (json_is_string(x))
			fuzz_assert(addr_parse_display(email, &mb, name, sizeof(name),
			    NULL) == 0);
		else
			fuzz_assert(addr_parse_mailbox(email, &mb, NULL) == 0);
		fuzz_assert(addr_list_add(l, &mb, 1, NULL) == 0);
	}
}

/* Both lists hold the same mailboxes (each is unique already). */
static int
same_set(const struct addr_list *a, const struct addr_list *b)
{
	size_t i, j;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++) {
		for (j = 0; j < b->n; j++)
			if (addr_mailbox_equal(&a->v[i], &b->v[j]))
				break;
		if (j == b->n)
			return 0;
	}
	return 1;
}

static void
check_lines(const struct buf *out)
{
	size_t i, line = 0;

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
}

static void
check_message(json_t *body, const struct api_submit *s, const struct buf *out,
    const struct mime_info *info)
{
	const struct mime_msg *m = &s->m;
	struct addr_list got, want, from;
	struct hdr_block b;
	size_t i;

	check_lines(out);
	memset(&b, 0, sizeof(b));
	if (hdr_parse(out->data, out->len, &b, NULL) != 0)
		fuzz_fail("the composed header section does not parse");
	fuzz_assert(b.blank);
	for (i = 0; i < b.n; i++)
		if (!fuzz_known_field(b.v[i].name, m))
			fuzz_fail("header field '%s' nobody asked for", b.v[i].name);
	fuzz_assert(hdr_count(&b, "From") == 1 && hdr_count(&b, "Date") == 1 &&
	    hdr_count(&b, "Message-ID") == 1 && hdr_count(&b, "MIME-Version") == 1);
	/* "To: undisclosed-recipients:;" when there is neither To nor Cc */
	fuzz_assert(hdr_count(&b, "To") == (m->nto > 0 || m->ncc == 0 ? 1u : 0u));
	fuzz_assert(hdr_count(&b, "Cc") == (m->ncc > 0 ? 1u : 0u));
	fuzz_assert(hdr_count(&b, "Subject") == (m->subject != NULL ? 1u : 0u));
	fuzz_assert(m->nreply_to == 0 || hdr_count(&b, "Reply-To") == 1);
	fuzz_assert(!hdr_has(&b, "Bcc"));
	fuzz_assert(strcmp(hdr_get(&b, "Message-ID"), info->message_id) == 0);

	/* From: the sender, alone */
	addr_list_init(&from, 0);
	addr_list_init(&want, 0);
	if (hdr_parse_addr_list(hdr_get(&b, "From"), &from, NULL) != 0)
		fuzz_fail("the composed From does not parse back");
	{
		struct addr_mailbox mb;

		fuzz_assert(addr_parse_mailbox(m->from.addr, &mb, NULL) == 0);
		addr_list_add(&want, &mb, 1, NULL);
	}
	fuzz_assert(same_set(&from, &want));
	addr_list_free(&from);
	addr_list_free(&want);

	/* To and Cc: exactly the addresses given */
	addr_list_init(&got, 0);
	addr_list_init(&want, 0);
	addrs_of(body, "to", &want);
	addrs_of(body, "cc", &want);
	if (hdr_recipients(&b, &got, NULL) != 0)
		fuzz_fail("the composed To/Cc do not parse back");
	if (!same_set(&got, &want))
		fuzz_fail("To/Cc read back %zu addresses, %zu given", got.n, want.n);
	addr_list_free(&got);

	/* Reply-To: exactly the addresses given, and none of them a recipient
	 * unless also given as one */
	if (m->nreply_to > 0) {
		struct addr_list rt;

		addr_list_init(&rt, 0);
		addr_list_init(&got, 0);
		addrs_of(body, "reply_to", &rt);
		if (hdr_parse_addr_list(hdr_get(&b, "Reply-To"), &got, NULL) != 0)
			fuzz_fail("the composed Reply-To does not parse back");
		if (!same_set(&got, &rt))
			fuzz_fail("Reply-To read back %zu addresses, %zu given", got.n, rt.n);
		addr_list_free(&got);
		addr_list_free(&rt);
	}

	/* the envelope: To, Cc and Bcc, each once */
	addrs_of(body, "bcc", &want);
	fuzz_assert(same_set(&s->rcpts, &want));
	for (i = 0; i < s->rcpts.n; i++) {
		struct addr_mailbox mb;

		fuzz_assert(addr_parse_mailbox(s->rcpts.v[i].addr, &mb, NULL) == 0);
	}
	addr_list_free(&want);
	hdr_block_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_req r;
	struct api_submit s;
	struct mime_info info;
	struct op_err e;
	struct buf out;
	json_t *body, *fields, *v;
	const char *key;
	int rc;

	if (size > HTTP_BODY_MAX)
		return 0;
	memset(&r, 0, sizeof(r));
	buf_init(&r.body, HTTP_BODY_MAX);
	buf_append(&r.body, data, size, NULL);
	body = http_body_object(&r);
	if (body == NULL)
		goto out;
	fields = json_object();
	rc = api_submit_decode(body, ATT_MAX, 0, &s, fields);
	if (rc < 0) {
		fuzz_assert(json_object_size(fields) > 0);
		json_object_foreach(fields, key, v) {
			fuzz_assert(json_is_string(v) && json_string_length(v) > 0);
			if (!field_of_body(body, key))
				fuzz_fail("refusal names '%s', not a field of the request", key);
		}
	} else {
		fuzz_assert(json_object_size(fields) == 0);
		fuzz_assert(s.rcpts.n > 0);
		s.m.date = 1700000000;
		buf_init(&out, OUT_MAX);
		memset(&info, 0, sizeof(info));
		if (mime_compose(&s.m, &out, &info, &e) != 0)
			fuzz_fail("accepted, but composing refused it: %s", e.msg);
		check_message(body, &s, &out, &info);
		buf_free(&out);
	}
	api_submit_free(&s);
	json_decref(fields);
out:
	json_decref(r.json);
	http_reply_clear(&r);
	buf_free(&r.body);
	return 0;
}
