/*
 * metrics.h - counters, gauges and latency histograms, rendered for
 * Prometheus (text exposition format 0.0.4) at GET /metrics.
 *
 * The catalogue of metrics is fixed (enum metric_id; names, types, help
 * text and the one label each may carry are in metrics.c), so a typo in a
 * caller cannot invent a new time series.  A series is one metric with one
 * label value, e.g. outpost_delivery_sent_total{profile="primary"}; it is
 * created on first use and lives as long as the registry.
 *
 * Who counts what:
 *   METRIC_QUEUE_MESSAGES      gauge {state}: set by the HTTP server from
 *                              the queue's counts at each scrape
 *   METRIC_SENT / _DEFERRED /  counter {profile}: once per message and
 *   _FAILED                    attempt outcome; set at each scrape from
 *                              the queue's counters (queue_counters()),
 *                              which every process that records an
 *                              outcome adds to (send --now included)
 *   METRIC_RCPT_SENT /         counter {profile}: the same, once per
 *   _DEFERRED / _FAILED        recipient result recorded (a message to
 *                              three addresses counts three)
 *   METRIC_DELIVERY_LATENCY    histogram {profile}: delivery in this
 *                              process, seconds from acceptance to the
 *                              final 250 (observe_ms)
 *   METRIC_CONNECTIONS_OPEN    gauge {profile}: delivery, +1 on connect,
 *                              -1 on close
 *   METRIC_RATE_LIMIT_WAITS    counter {profile}: delivery, each time a
 *                              send had to wait for a provider quota
 *   METRIC_HTTP_REQUESTS       counter {code}: the HTTP server
 *
 * Thread-safety: every function may be called from any thread.  Values
 * are C11 atomics; only creating a series takes the registry's lock.
 * Bounds: at most METRICS_SERIES_MAX series; label values are cut to
 * METRICS_LABEL_MAX bytes.  Past the bound, metrics_get() returns NULL
 * and the metric_* functions accept NULL and do nothing, so counting can
 * never fail a delivery.
 *
 * Ownership: the registry owns every series; metrics_free() releases all.
 */
#ifndef OUTPOST_UTIL_METRICS_H
#define OUTPOST_UTIL_METRICS_H

#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

#define METRICS_SERIES_MAX 1024
#define METRICS_LABEL_MAX 64

enum metric_id {
	METRIC_QUEUE_MESSAGES = 0,
	METRIC_SENT,
	METRIC_DEFERRED,
	METRIC_FAILED,
	METRIC_RCPT_SENT,
	METRIC_RCPT_DEFERRED,
	METRIC_RCPT_FAILED,
	METRIC_DELIVERY_LATENCY,
	METRIC_CONNECTIONS_OPEN,
	METRIC_RATE_LIMIT_WAITS,
	METRIC_HTTP_REQUESTS,
	METRIC__COUNT
};

struct metrics;
struct metric;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* The series of metric id with this label value (NULL or "" for a metric
 * without a label), created if new.  The pointer stays valid until
 * metrics_free().  NULL if the registry is full or id is unknown. */
struct metric *metrics_get(struct metrics *m, enum metric_id id,
    const char *label_value);

/* Counter: add n >= 0.  Gauge: add n (may be negative). */
void metric_add(struct metric *s, int64_t n);
/* Gauge: set the value. */
void metric_set(struct metric *s, int64_t v);
/* Histogram: record one observation of ms milliseconds. */
void metric_observe_ms(struct metric *s, int64_t ms);
/* The current value of a counter or gauge (histogram: the count). */
int64_t metric_value(const struct metric *s);

/* Shorthands: metrics_get() then metric_add() / metric_observe_ms().
 * m may be NULL (nothing counted). */
void metrics_add(struct metrics *m, enum metric_id id, const char *label_value,
    int64_t n);
void metrics_observe_ms(struct metrics *m, enum metric_id id,
    const char *label_value, int64_t ms);

/* Append the whole registry in Prometheus text format to out.
 * Fails only if out reaches its maximum (ERR_DATA). */
int metrics_render(struct metrics *m, struct buf *out, struct op_err *e);

/* Append one gauge that is not in the registry (its series are computed
 * at each scrape, e.g. one per OAuth2 profile of the current settings):
 * HELP, TYPE and name{label="labels[i]"} values[i] for i < n, label
 * values escaped as in the registry.  Fails only if out is full. */
int metrics_render_gauge(struct buf *out, const char *name, const char *help,
    const char *label, const char *const *labels, const int64_t *values,
    size_t n, struct op_err *e);

#endif
