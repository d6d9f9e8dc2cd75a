/* util/metrics: counters, gauges, histograms and the Prometheus text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/metrics.h"

static char *
render(struct metrics *m)
{
	struct buf b;
	struct op_err e;
	size_t len;

	buf_init(&b, 1 << 20);
	assert_int_equal(metrics_render(m, &b, &e), 0);
	return buf_detach(&b, &len);
}

static void
test_counters_and_labels(void **state)
{
	struct metrics *m = metrics_new();
	struct metric *a, *b;
	char *text;
	(void)state;

	a = metrics_get(m, METRIC_SENT, "primary");
	b = metrics_get(m, METRIC_SENT, "primary");
	assert_ptr_equal(a, b);                 /* same series */
	metric_add(a, 2);
	metrics_add(m, METRIC_SENT, "primary", 3);
	metrics_add(m, METRIC_SENT, "backup", 1);
	metrics_add(m, METRIC_FAILED, "primary", 1);
	metrics_add(m, METRIC_RCPT_SENT, "primary", 3);
	metrics_add(m, METRIC_RCPT_FAILED, "primary", 2);
	assert_int_equal(metric_value(a), 5);
	text = render(m);
	assert_non_null(strstr(text, "# TYPE outpost_recipients_sent_total counter\n"
	    "outpost_recipients_sent_total{profile=\"primary\"} 3\n"));
	/* no recipient deferred yet: HELP and TYPE, no series */
	assert_non_null(strstr(text, "# TYPE outpost_recipients_deferred_total counter\n"
	    "# HELP outpost_recipients_failed_total "));
	assert_non_null(strstr(text,
	    "outpost_recipients_failed_total{profile=\"primary\"} 2\n"));
	assert_non_null(strstr(text, "# HELP outpost_delivery_sent_total "));
	assert_non_null(strstr(text, "# TYPE outpost_delivery_sent_total counter\n"
	    "outpost_delivery_sent_total{profile=\"primary\"} 5\n"
	    "outpost_delivery_sent_total{profile=\"backup\"} 1\n"));
	assert_non_null(strstr(text, "outpost_delivery_failed_total{profile=\"primary\"} 1\n"));
	/* metrics without a series still have their HELP and TYPE */
	assert_non_null(strstr(text, "# TYPE outpost_rate_limit_waits_total counter\n"));
	free(text);
	metrics_free(m);
}

static void
test_gauge(void **state)
{
	struct metrics *m = metrics_new();
	struct metric *g = metrics_get(m, METRIC_CONNECTIONS_OPEN, "p");
	char *text;
	(void)state;

	metric_add(g, 1);
	metric_add(g, 1);
	metric_add(g, -1);
	text = render(m);
	assert_non_null(strstr(text, "# TYPE outpost_upstream_connections_open gauge\n"
	    "outpost_upstream_connections_open{profile=\"p\"} 1\n"));
	free(text);
	metric_set(metrics_get(m, METRIC_QUEUE_MESSAGES, "queued"), 42);
	text = render(m);
	assert_non_null(strstr(text, "outpost_queue_messages{state=\"queued\"} 42\n"));
	free(text);
	metrics_free(m);
}

static void
test_histogram(void **state)
{
	struct metrics *m = metrics_new();
	char *text;
	(void)state;

	metrics_observe_ms(m, METRIC_DELIVERY_LATENCY, "p", 50);       /* <= 0.1 */
	metrics_observe_ms(m, METRIC_DELIVERY_LATENCY, "p", 100);      /* <= 0.1 */
	metrics_observe_ms(m, METRIC_DELIVERY_LATENCY, "p", 1200);     /* <= 2.5 */
	metrics_observe_ms(m, METRIC_DELIVERY_LATENCY, "p", 9000000);  /* +Inf only */
	text = render(m);
	assert_non_null(strstr(text, "# TYPE outpost_delivery_latency_seconds histogram\n"));
	assert_non_null(strstr(text,
	    "outpost_delivery_latency_seconds_bucket{profile=\"p\",le=\"0.1\"} 2\n"
	    "outpost_delivery_latency_seconds_bucket{profile=\"p\",le=\"0.25\"} 2\n"
	    "outpost_delivery_latency_seconds_bucket{profile=\"p\",le=\"0.5\"} 2\n"
	    "outpost_delivery_latency_seconds_bucket{profile=\"p\",le=\"1\"} 2\n"
	    "outpost_delivery_latency_seconds_bucket{profile=\"p\",le=\"2.5\"} 3\n"));
	assert_non_null(strstr(text,
	    "outpost_delivery_latency_seconds_bucket{profile=\"p\",le=\"600\"} 3\n"
	    "outpost_delivery_latency_seconds_bucket{profile=\"p\",le=\"+Inf\"} 4\n"
	    "outpost_delivery_latency_seconds_sum{profile=\"p\"} 9001.35\n"
	    "outpost_delivery_latency_seconds_count{profile=\"p\"} 4\n"));
	free(text);
	metrics_free(m);
}

static void
test_label_escaping_and_bounds(void **state)
{
	struct metrics *m = metrics_new();
	char label[16], *text;
	size_t i;
	(void)state;

	metrics_add(m, METRIC_SENT, "a\"b\\c\nd\re", 1);
	text = render(m);
	assert_non_null(strstr(text, "{profile=\"a\\\"b\\\\c\\nd?e\"} 1\n"));
	free(text);
	/* the registry is bounded; past it counting is a no-op, not a crash */
	for (i = 0; i < METRICS_SERIES_MAX + 10; i++) {
		snprintf(label, sizeof(label), "p%zu", i);
		metrics_add(m, METRIC_DEFERRED, label, 1);
	}
	assert_null(metrics_get(m, METRIC_DEFERRED, "one-too-many"));
	metric_add(NULL, 1);
	metric_observe_ms(NULL, 1);
	metrics_add(NULL, METRIC_SENT, "x", 1);
	assert_null(metrics_get(m, METRIC__COUNT, "x"));
	metrics_free(m);
}

static struct metrics *shared;

static void *
hammer(void *arg)
{
	int i;
	(void)arg;

	for (i = 0; i < 10000; i++) {
		metrics_add(shared, METRIC_SENT, "p", 1);
		metrics_observe_ms(shared, METRIC_DELIVERY_LATENCY, "p", i % 700);
	}
	return NULL;
}

static void
test_threads(void **state)
{
	pthread_t t[4];
	int i;
	(void)state;

	shared = metrics_new();
	for (i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, hammer, NULL);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(metric_value(metrics_get(shared, METRIC_SENT, "p")), 40000);
	assert_int_equal(metric_value(metrics_get(shared, METRIC_DELIVERY_LATENCY, "p")), 40000);
	metrics_free(shared);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counters_and_labels),
		cmocka_unit_test(test_gauge),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_label_escaping_and_bounds),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
