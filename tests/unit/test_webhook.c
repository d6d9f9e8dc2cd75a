/* The events (src/relay/webhook.c): the JSON body an
 * application receives, the header it checks, and the senders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "config/conf.h"
#include "relay/settings.h"
#include "relay/webhook.h"
#include "util/buf.h"

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

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Idle senders (nothing in the outbox) put no jobs on the store's writer:
 * they look with a read first. */
static void
test_idle_senders_do_not_write(void **state)
{
	static const char text[] = "[webhook app]\n"
	    "url = http://127.0.0.1:9/hooks\nsecret = whsec_0123456789abcdef\n";
	const char *tmp = getenv("TMPDIR");
	char dir[512], data[600];
	struct conf *c = NULL;
	struct settings *set;
	struct queue *q = NULL;
	struct webhooks *w = NULL;
	struct queue_stats a, b;
	struct timespec ts = { 2, 500000000L };
	struct buf diag;
	struct op_err e;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/outpost-webhook-XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(data, sizeof(data), "%s/data", dir);
	buf_init(&diag, 64 * 1024);
	assert_int_equal(conf_load_text("outpost.conf", text, strlen(text), &c,
	    &diag, &e), 0);
	buf_free(&diag);
	set = settings_new(NULL, c);
	assert_int_equal(queue_open(data, QUEUE_OPEN_CHECK, &q, &e), 0);
	assert_int_equal(webhook_start(set, q, &w, &e), 0);
	/* the senders' first claim each, then only idle rounds */
	nanosleep(&ts, NULL);
	queue_stats(q, &a);
	nanosleep(&ts, NULL);
	queue_stats(q, &b);
	webhook_stop(w);
	queue_close(q);
	settings_free(set);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	/* before: 4 senders claiming every 500 ms, about 20 jobs here */
	assert_true(b.jobs - a.jobs <= 2);
}

/* An event whose body can never fit (metadata near its bound and a reply
 * of control characters, each escaped as 6 bytes) is dropped at once,
 * not tried again for a day. */
static void
test_event_that_cannot_fit_is_dropped(void **state)
{
	static const char text[] = "[webhook app]\n"
	    "url = http://127.0.0.1:9/hooks\nsecret = whsec_0123456789abcdef\n"
	    "events = failed\n";
	static const char *const rcpts[] = { "x@example.org" };
	const char *tmp = getenv("TMPDIR");
	char dir[512], data[600], id[QUEUE_ID_SIZE];
	char *meta = malloc(QUEUE_META_MAX), *reply = malloc(QUEUE_REPLY_MAX);
	struct conf *c = NULL;
	struct settings *set;
	struct queue *q = NULL;
	struct webhooks *w = NULL;
	struct timespec ts = { 0, 100000000L };
	struct buf diag;
	struct op_err e;
	uint64_t n = 1;
	int i;

	(void)state;
	assert_non_null(meta);
	assert_non_null(reply);
	memset(meta, 'm', QUEUE_META_MAX - 1);
	memcpy(meta, "{\"k\":\"", 6);
	memcpy(meta + QUEUE_META_MAX - 3, "\"}", 3);
	memset(reply, 1, QUEUE_REPLY_MAX - 1);
	reply[QUEUE_REPLY_MAX - 1] = '\0';
	snprintf(dir, sizeof(dir), "%s/outpost-webhook-XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(data, sizeof(data), "%s/data", dir);
	buf_init(&diag, 64 * 1024);
	assert_int_equal(conf_load_text("outpost.conf", text, strlen(text), &c,
	    &diag, &e), 0);
	buf_free(&diag);
	set = settings_new(NULL, c);
	assert_int_equal(queue_open(data, QUEUE_OPEN_CHECK, &q, &e), 0);
	assert_int_equal(webhook_hooks_set(q, settings_get(set), &e), 0);
	{
		struct queue_new m = {
			.sender = "app@example.com", .rcpts = rcpts, .nrcpts = 1,
			.body = "x\r\n", .len = 3, .state = QUEUE_MSG_QUEUED,
			.metadata = meta,
		};
		struct queue_rcpt_result r = {
			.idx = 0, .state = QUEUE_RCPT_FAILED, .code = 550,
			.enhanced = "5.1.1", .reply = reply,
		};
		struct queue_outcome o = {
			.id = id, .now = time(NULL), .profile_used = "main",
			.results = &r, .nresults = 1, .next_attempt = time(NULL) + 60,
		};

		assert_int_equal(queue_submit(q, &m, id, &e), 0);
		assert_int_equal(queue_record(q, &o, NULL, &e), 0);
	}
	assert_int_equal(queue_outbox_count(q, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(webhook_start(set, q, &w, &e), 0);
	/* gone within a few seconds (before: tried again for a day) */
	for (i = 0; i < 100 && n != 0; i++) {
		nanosleep(&ts, NULL);
		assert_int_equal(queue_outbox_count(q, &n, &e), 0);
	}
	webhook_stop(w);
	queue_close(q);
	settings_free(set);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(meta);
	free(reply);
	assert_int_equal(n, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signature),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_idle_senders_do_not_write),
		cmocka_unit_test(test_event_that_cannot_fit_is_dropped),
	};

	return cmocka_run_group_tests_name("webhook", tests, NULL, NULL);
}
