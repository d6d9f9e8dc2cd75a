/* The events' body and signature (src/relay/webhook.c): the JSON an
 * application receives, and the header it checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "relay/webhook.h"

/* HMAC-SHA256("whsec", "1700000000.{\"a\":1}"), as Python's hmac says. */
static void
test_signature(void **state)
{
	char h[160];

	(void)state;
	webhook_sign("whsec", 1700000000, "{\"a\":1}", 7, h, sizeof(h));
	assert_string_equal(h, "Outpost-Signature: t=1700000000,v1="
	    "8ad37ba156048ae0e0a5533c75cdf26fee88b07f93cb57ee4c80adb053012032");
}

static void
test_body(void **state)
{
	struct queue_outbox_ev ev = {
		.oid = 42, .hook = "app", .kind = "failed", .id = "0k3m9ztq4c2f7hxb",
		.rcpt = "a\"b@example.org", .code = 550, .enhanced = "5.1.1",
		.reply = "no \\ such\tuser", .profile = "main", .node = NULL,
		.attempt = 2, .at = 1700000000,
		.metadata = "{\"survey\":\"42\"}",
	};
	char *body = malloc(WEBHOOK_BODY_MAX);
	size_t n;
	json_t *j;

	(void)state;
	n = webhook_body(&ev, body, WEBHOOK_BODY_MAX);
	assert_true(n > 0);
	j = json_loads(body, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "event")), "failed");
	assert_int_equal(json_integer_value(json_object_get(j, "event_id")), 42);
	assert_string_equal(json_string_value(json_object_get(j, "recipient")),
	    "a\"b@example.org");
	assert_string_equal(json_string_value(json_object_get(j, "reply")),
	    "no \\ such\tuser");
	assert_int_equal(json_integer_value(json_object_get(j, "code")), 550);
	assert_true(json_is_null(json_object_get(j, "node")));
	assert_int_equal(json_integer_value(json_object_get(j, "attempt")), 2);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j,
	    "metadata"), "survey")), "42");
	json_decref(j);
	/* too small a buffer: no body, never a cut one */
	assert_int_equal(webhook_body(&ev, body, 64), 0);
	assert_string_equal(body, "");
	free(body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signature),
		cmocka_unit_test(test_body),
	};

	return cmocka_run_group_tests_name("webhook", tests, NULL, NULL);
}
