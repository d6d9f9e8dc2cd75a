/*
 * test_fuzz_regress.c - what the fuzzers (tests/fuzz/) found, one test
 * each, so the fix stays (docs/security.md lists them).  The inputs are
 * also in the seed corpora, which `make fuzz-smoke` replays.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "config/conf_edit.h"
#include "http/api_decode.h"
#include "mail/mime.h"
#include "smtp/server_data.h"
#include "util/buf.h"

/* Feed p[0..n) in pieces of `piece` bytes (0: one piece). */
static void
feed_data(const char *p, size_t n, size_t piece, size_t max,
    int *refusal, int *done, size_t *consumed)
{
	struct server_data d;
	size_t off = 0;

	server_data_begin(&d, max);
	*done = 0;
	while (off < n && !*done) {
		size_t chunk = piece == 0 || piece > n - off ? n - off : piece;

		off += server_data_feed(&d, p + off, chunk, done);
	}
	*refusal = d.refusal;
	*consumed = off;
	server_data_free(&d);
}

/*
 * fuzz_server_data: a body line longer than 1000 octets in a message
 * whose size limit is smaller than that line was refused as "line too
 * long" (554 5.6.0) when the line came in one read, and as "too big"
 * (552 5.3.4) when it came byte by byte: the client's reply depended on
 * TCP segmentation.  Now the same, however the input is cut.
 */
static void
test_server_data_refusal_does_not_depend_on_reads(void **state)
{
	struct buf in;
	size_t pieces[] = { 0, 1, 7, 999, 1000, 4096 };
	size_t i, consumed, consumed0 = 0;
	int refusal, done, refusal0 = -1;

	(void)state;
	buf_init(&in, 1 << 20);
	for (i = 0; i < 1265; i++)
		buf_append(&in, "x", 1, NULL);
	buf_appendstr(&in, "\r\nshort\r\n.\r\n", NULL);
	for (i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		feed_data(in.data, in.len, pieces[i], 80, &refusal, &done, &consumed);
		assert_true(done);
		assert_int_equal(consumed, in.len);
		if (i == 0) {
			refusal0 = refusal;
			consumed0 = consumed;
		}
		assert_int_equal(refusal, refusal0);
		assert_int_equal(consumed, consumed0);
	}
	/* 80 bytes fit in neither: the size limit is reached first */
	assert_int_equal(refusal0, SERVER_DATA_TOO_BIG);

	/* With room for the message, the long line is what refuses it. */
	for (i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		feed_data(in.data, in.len, pieces[i], 1 << 20, &refusal, &done,
		    &consumed);
		assert_true(done);
		assert_int_equal(refusal, SERVER_DATA_LINE_TOO_LONG);
	}
	buf_free(&in);
}

/*
 * fuzz_conf_edit: a NUL byte in outpost.conf cut its line at the NUL; the
 * editor then wrote the rest of the line away and the loader (which
 * refuses the NUL line) would read a different line after a save.  Now
 * the editor refuses such a file, as the loader does.
 */
static void
test_conf_doc_refuses_nul(void **state)
{
	static const char text[] = "[server]\nhostname = a\0b\nhttp_listen = \n";
	struct conf_doc *d = NULL;
	struct op_err e;

	(void)state;
	assert_int_equal(conf_doc_parse(text, sizeof(text) - 1, &d, &e), -1);
	assert_null(d);
	assert_int_equal(e.kind, ERR_CONFIG);
	assert_non_null(strstr(e.msg, "NUL"));
	/* the same text without the NUL is fine */
	assert_int_equal(conf_doc_parse("[server]\nhostname = ab\n", 23, &d, &e), 0);
	conf_doc_free(d);
	/* an empty document still is */
	assert_int_equal(conf_doc_parse(NULL, 0, &d, &e), 0);
	conf_doc_free(d);
}

/* Decode a POST /api/messages body; the field errors in *fields. */
static int
submit_decode(const char *json, struct api_submit *s, json_t **fields)
{
	json_error_t je;
	json_t *body = json_loads(json, JSON_REJECT_DUPLICATES, &je);
	int rc;

	assert_non_null(body);
	*fields = json_object();
	rc = api_submit_decode(body, 1 << 20, 0, s, *fields);
	json_decref(body);      /* s points into it: only counts are used */
	return rc;
}

/*
 * fuzz_submit's invariant (an accepted POST /api/messages composes; a
 * refusal names the field): not found by a run but closed when the
 * target was written.  The decoder let through what mime_compose() then
 * refused with a bare 400 that named no field of the request: control
 * characters in the subject, a header value or a display name, an
 * over-long subject or header value, an attachment's content type, more
 * than 1000 To and Cc addresses together.  Each is now a field error.
 */
static void
test_submit_decode_names_what_compose_refuses(void **state)
{
	static const struct {
		const char *json, *field;
	} cases[] = {
		{ "{\"from\":\"a@example.org\",\"to\":\"b@example.org\","
		  "\"subject\":\"\\u001b[31mred\"}", "subject" },
		{ "{\"from\":\"a@example.org\",\"to\":\"b@example.org\","
		  "\"headers\":{\"X-A\":\"bell\\u0007\"}}", "headers.X-A" },
		{ "{\"from\":\"a@example.org\",\"to\":\"b@example.org\","
		  "\"headers\":{\"X-A\":\"c1\\u0085\"}}", "headers.X-A" },
		{ "{\"from\":{\"email\":\"a@example.org\",\"name\":\"\\u0001\"},"
		  "\"to\":\"b@example.org\"}", "from" },
		{ "{\"from\":\"a@example.org\",\"to\":[\"b@example.org\","
		  "{\"email\":\"c@example.org\",\"name\":\"\\u007f\"}]}", "to[1]" },
		{ "{\"from\":\"a@example.org\",\"to\":\"b@example.org\","
		  "\"attachments\":[{\"content_base64\":\"eA==\"},{\"content_type\":"
		  "\"multipart/mixed\",\"content_base64\":\"eA==\"}]}", "attachments[1]" },
		{ "{\"from\":\"a@example.org\",\"to\":\"b@example.org\","
		  "\"attachments\":[{\"content_type\":\"text/plain; x\","
		  "\"content_base64\":\"eA==\"}]}", "attachments[0]" },
	};
	struct api_submit s;
	json_t *fields;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(submit_decode(cases[i].json, &s, &fields), -1);
		if (json_object_get(fields, cases[i].field) == NULL)
			fail_msg("case %zu: no error for %s", i, cases[i].field);
		assert_int_equal(json_object_size(fields), 1);
		/* the probe's own "attachment 1: " is not passed on */
		assert_null(strstr(json_string_value(json_object_get(fields,
		    cases[i].field)), "attachment 1:"));
		api_submit_free(&s);
		json_decref(fields);
	}
}

/* The same for lengths and counts: a subject over MIME_SUBJECT_MAX, a
 * header value over MIME_HEADER_VALUE_MAX, 600 To and 600 Cc addresses;
 * and the accepted request just under each bound composes. */
static void
test_submit_decode_bounds(void **state)
{
	struct api_submit s;
	struct buf out;
	json_t *body, *fields, *to, *cc;
	char addr[32], *big;
	size_t i;

	(void)state;
	big = malloc(MIME_SUBJECT_MAX + 2);
	assert_non_null(big);
	memset(big, 'a', MIME_SUBJECT_MAX + 1);
	big[MIME_SUBJECT_MAX + 1] = '\0';
	body = json_pack("{s:s,s:s,s:s}", "from", "a@example.org", "to",
	    "b@example.org", "subject", big);
	fields = json_object();
	assert_int_equal(api_submit_decode(body, 1 << 20, 0, &s, fields), -1);
	assert_non_null(json_object_get(fields, "subject"));
	api_submit_free(&s);
	json_decref(fields);
	json_decref(body);

	big[MIME_HEADER_VALUE_MAX + 1] = '\0';
	body = json_pack("{s:s,s:s,s:{s:s}}", "from", "a@example.org", "to",
	    "b@example.org", "headers", "X-Big", big);
	fields = json_object();
	assert_int_equal(api_submit_decode(body, 1 << 20, 0, &s, fields), -1);
	assert_non_null(json_object_get(fields, "headers.X-Big"));
	api_submit_free(&s);
	json_decref(fields);
	json_decref(body);

	to = json_array();
	cc = json_array();
	for (i = 0; i < 600; i++) {
		snprintf(addr, sizeof(addr), "t%zu@example.org", i);
		json_array_append_new(to, json_string(addr));
		snprintf(addr, sizeof(addr), "c%zu@example.org", i);
		json_array_append_new(cc, json_string(addr));
	}
	body = json_pack("{s:s,s:o,s:o}", "from", "a@example.org", "to", to,
	    "cc", cc);
	fields = json_object();
	assert_int_equal(api_submit_decode(body, 1 << 20, 0, &s, fields), -1);
	assert_non_null(json_object_get(fields, "cc"));
	api_submit_free(&s);
	json_decref(fields);

	/* 600 + 400: accepted, and it composes */
	while (json_array_size(cc) > 400)
		json_array_remove(cc, json_array_size(cc) - 1);
	big[MIME_SUBJECT_MAX] = '\0';
	json_object_set_new(body, "subject", json_string(big));
	fields = json_object();
	assert_int_equal(api_submit_decode(body, 1 << 20, 0, &s, fields), 0);
	assert_int_equal(json_object_size(fields), 0);
	assert_int_equal(s.rcpts.n, 1000);
	buf_init(&out, 8 << 20);
	assert_int_equal(mime_compose(&s.m, &out, NULL, NULL), 0);
	buf_free(&out);
	api_submit_free(&s);
	json_decref(fields);
	json_decref(body);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_data_refusal_does_not_depend_on_reads),
		cmocka_unit_test(test_conf_doc_refuses_nul),
		cmocka_unit_test(test_submit_decode_names_what_compose_refuses),
		cmocka_unit_test(test_submit_decode_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
