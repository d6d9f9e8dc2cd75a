/*
 * metrics.c - the registry behind GET /metrics (see metrics.h).
 *
 * Series are kept in one array, in creation order, each allocated on its
 * own so pointers handed out stay valid.  Rendering walks the catalogue in
 * enum order and, for each metric, its series in creation order, so the
 * output is stable between scrapes.
 */
#include "util/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum metric_type { MT_COUNTER, MT_GAUGE, MT_HISTOGRAM };

struct metric_def {
	const char *name;
	int type;               /* enum metric_type */
	const char *label;      /* label name, or NULL */
	const char *help;
};

static const struct metric_def metric_defs[METRIC__COUNT] = {
	[METRIC_QUEUE_MESSAGES] = { "outpost_queue_messages", MT_GAUGE, "state",
	    "Messages in the queue, by state." },
	[METRIC_SENT] = { "outpost_delivery_sent_total", MT_COUNTER, "profile",
	    "Messages delivered (upstream answered 250), by profile." },
	[METRIC_DEFERRED] = { "outpost_delivery_deferred_total", MT_COUNTER, "profile",
	    "Delivery attempts that failed temporarily (retried later), by profile." },
	[METRIC_FAILED] = { "outpost_delivery_failed_total", MT_COUNTER, "profile",
	    "Messages that failed permanently, by profile." },
	[METRIC_RCPT_SENT] = { "outpost_recipients_sent_total", MT_COUNTER, "profile",
	    "Recipients accepted by the upstream server, by profile." },
	[METRIC_RCPT_DEFERRED] = { "outpost_recipients_deferred_total", MT_COUNTER, "profile",
	    "Recipient results that failed temporarily (retried later), by profile." },
	[METRIC_RCPT_FAILED] = { "outpost_recipients_failed_total", MT_COUNTER, "profile",
	    "Recipients that failed permanently, by profile." },
	[METRIC_DELIVERY_LATENCY] = { "outpost_delivery_latency_seconds", MT_HISTOGRAM, "profile",
	    "Seconds from acceptance to delivery, by profile." },
	[METRIC_CONNECTIONS_OPEN] = { "outpost_upstream_connections_open", MT_GAUGE, "profile",
	    "Open connections to the upstream SMTP server, by profile." },
	[METRIC_RATE_LIMIT_WAITS] = { "outpost_rate_limit_waits_total", MT_COUNTER, "profile",
	    "Times a send waited for a provider quota (limits), by profile." },
	[METRIC_HTTP_REQUESTS] = { "outpost_http_requests_total", MT_COUNTER, "code",
	    "HTTP requests answered, by status code." },
};

/* Histogram bucket upper bounds, in milliseconds (le="0.1" ... "600"). */
static const int64_t hist_bounds_ms[] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000,
};
#define HIST_NBOUNDS (sizeof(hist_bounds_ms) / sizeof(hist_bounds_ms[0]))

struct metric {
	int id;                                 /* enum metric_id */
	char label[METRICS_LABEL_MAX + 1];
	_Atomic int64_t value;                  /* counter/gauge; histogram: count */
	_Atomic int64_t sum_ms;                 /* histogram */
	_Atomic int64_t buckets[HIST_NBOUNDS];  /* histogram: non-cumulative */
};

struct metrics {
	pthread_mutex_t mu;
	struct metric *series[METRICS_SERIES_MAX];
	size_t nseries;
};

struct metrics *
metrics_new(void)
{
	struct metrics *m = mem_alloc(sizeof(*m));

	pthread_mutex_init(&m->mu, NULL);
	return m;
}

void
metrics_free(struct metrics *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nseries; i++)
		free(m->series[i]);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

struct metric *
metrics_get(struct metrics *m, enum metric_id id, const char *label_value)
{
	char label[METRICS_LABEL_MAX + 1];
	struct metric *s = NULL;
	size_t i;

	if (m == NULL || (int)id < 0 || id >= METRIC__COUNT)
		return NULL;
	if (label_value == NULL || metric_defs[id].label == NULL)
		label_value = "";
	str_copy(label, sizeof(label), label_value);   /* cut, by design */

	pthread_mutex_lock(&m->mu);
	for (i = 0; i < m->nseries; i++) {
		if (m->series[i]->id == (int)id && strcmp(m->series[i]->label, label) == 0) {
			s = m->series[i];
			goto out;
		}
	}
	if (m->nseries == METRICS_SERIES_MAX)
		goto out;
	s = mem_alloc(sizeof(*s));
	s->id = (int)id;
	memcpy(s->label, label, sizeof(label));
	m->series[m->nseries++] = s;
out:
	pthread_mutex_unlock(&m->mu);
	return s;
}

void
metric_add(struct metric *s, int64_t n)
{
	if (s != NULL)
		atomic_fetch_add(&s->value, n);
}

void
metric_set(struct metric *s, int64_t v)
{
	if (s != NULL)
		atomic_store(&s->value, v);
}

void
metric_observe_ms(struct metric *s, int64_t ms)
{
	size_t i;

	if (s == NULL)
		return;
	if (ms < 0)
		ms = 0;
	for (i = 0; i < HIST_NBOUNDS; i++) {
		if (ms <= hist_bounds_ms[i]) {
			atomic_fetch_add(&s->buckets[i], 1);
			break;
		}
	}
	/* Past the last bound the observation counts only in +Inf. */
	atomic_fetch_add(&s->sum_ms, ms);
	atomic_fetch_add(&s->value, 1);
}

int64_t
metric_value(const struct metric *s)
{
	return s != NULL ? atomic_load(&s->value) : 0;
}

void
metrics_add(struct metrics *m, enum metric_id id, const char *label_value,
    int64_t n)
{
	metric_add(metrics_get(m, id, label_value), n);
}

void
metrics_observe_ms(struct metrics *m, enum metric_id id,
    const char *label_value, int64_t ms)
{
	metric_observe_ms(metrics_get(m, id, label_value), ms);
}

/* A label value escaped as the exposition format wants: \\ \" \n; other
 * control bytes become '?', so a line can never be broken. */
static void
label_escape(char *dst, size_t dstsz, const char *src)
{
	size_t o = 0;

	for (; *src != '\0' && o + 3 < dstsz; src++) {
		unsigned char c = (unsigned char)*src;

		if (c == '\\' || c == '"') {
			dst[o++] = '\\';
			dst[o++] = (char)c;
		} else if (c == '\n') {
			dst[o++] = '\\';
			dst[o++] = 'n';
		} else if (c < 0x20 || c == 0x7f) {
			dst[o++] = '?';
		} else {
			dst[o++] = (char)c;
		}
	}
	dst[o] = '\0';
}

/* "1.5" for 1500 ms: milliseconds as seconds, without trailing zeros. */
static void
ms_as_seconds(char *dst, size_t dstsz, int64_t ms)
{
	int64_t whole = ms / 1000, frac = ms % 1000;

	if (frac == 0)
		snprintf(dst, dstsz, "%lld", (long long)whole);
	else if (frac % 100 == 0)
		snprintf(dst, dstsz, "%lld.%lld", (long long)whole, (long long)(frac / 100));
	else if (frac % 10 == 0)
		snprintf(dst, dstsz, "%lld.%02lld", (long long)whole, (long long)(frac / 10));
	else
		snprintf(dst, dstsz, "%lld.%03lld", (long long)whole, (long long)frac);
}

static int
render_series(const struct metric_def *d, const struct metric *s, struct buf *out,
    struct op_err *e)
{
	char lab[METRICS_LABEL_MAX * 2 + 1], sel[METRICS_LABEL_MAX * 2 + 32];
	char le[32], sum[32];
	int64_t cum = 0;
	size_t i;

	label_escape(lab, sizeof(lab), s->label);
	if (d->label != NULL)
		snprintf(sel, sizeof(sel), "%s=\"%s\"", d->label, lab);
	else
		sel[0] = '\0';

	if (d->type != MT_HISTOGRAM)
		return buf_printf(out, e, "%s%s%s%s %lld\n", d->name,
		    sel[0] ? "{" : "", sel, sel[0] ? "}" : "",
		    (long long)atomic_load(&s->value));

	for (i = 0; i < HIST_NBOUNDS; i++) {
		cum += atomic_load(&s->buckets[i]);
		ms_as_seconds(le, sizeof(le), hist_bounds_ms[i]);
		if (buf_printf(out, e, "%s_bucket{%s%sle=\"%s\"} %lld\n", d->name,
		    sel, sel[0] ? "," : "", le, (long long)cum) < 0)
			return -1;
	}
	ms_as_seconds(sum, sizeof(sum), atomic_load(&s->sum_ms));
	if (buf_printf(out, e, "%s_bucket{%s%sle=\"+Inf\"} %lld\n", d->name,
	    sel, sel[0] ? "," : "", (long long)atomic_load(&s->value)) < 0)
		return -1;
	if (buf_printf(out, e, "%s_sum%s%s%s %s\n", d->name, sel[0] ? "{" : "", sel,
	    sel[0] ? "}" : "", sum) < 0)
		return -1;
	return buf_printf(out, e, "%s_count%s%s%s %lld\n", d->name, sel[0] ? "{" : "",
	    sel, sel[0] ? "}" : "", (long long)atomic_load(&s->value));
}

int
metrics_render(struct metrics *m, struct buf *out, struct op_err *e)
{
	static const char *type_names[] = { "counter", "gauge", "histogram" };
	struct metric **snap = NULL;
	size_t n, i;
	int id, rc = -1;

	pthread_mutex_lock(&m->mu);
	n = m->nseries;
	snap = mem_alloc((n ? n : 1) * sizeof(*snap));
	memcpy(snap, m->series, n * sizeof(*snap));
	pthread_mutex_unlock(&m->mu);

	for (id = 0; id < METRIC__COUNT; id++) {
		const struct metric_def *d = &metric_defs[id];

		if (buf_printf(out, e, "# HELP %s %s\n# TYPE %s %s\n", d->name, d->help,
		    d->name, type_names[d->type]) < 0)
			goto out;
		for (i = 0; i < n; i++)
			if (snap[i]->id == id && render_series(d, snap[i], out, e) < 0)
				goto out;
	}
	rc = 0;
out:
	free(snap);
	return rc;
}

int
metrics_render_gauge(struct buf *out, const char *name, const char *help,
    const char *label, const char *const *labels, const int64_t *values,
    size_t n, struct op_err *e)
{
	char lab[METRICS_LABEL_MAX * 2 + 1], cut[METRICS_LABEL_MAX + 1];
	size_t i;

	if (buf_printf(out, e, "# HELP %s %s\n# TYPE %s gauge\n", name, help,
	    name) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		snprintf(cut, sizeof(cut), "%s", labels[i]);
		label_escape(lab, sizeof(lab), cut);
		if (buf_printf(out, e, "%s{%s=\"%s\"} %lld\n", name, label, lab,
		    (long long)values[i]) < 0)
			return -1;
	}
	return 0;
}
