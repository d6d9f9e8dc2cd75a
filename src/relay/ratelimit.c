#include "relay/ratelimit.h"

#include <stdlib.h>

#include "util/buf.h"

struct window {
	uint64_t count;        /* quota */
	int64_t period_ms;
	int exact;
	/* exact: ring of send times, oldest at head */
	int64_t *times;
	uint64_t head, len;
	/* bucketed: counts per bucket, bucket index = time / bucket_ms */
	uint64_t *buckets;
	int64_t bucket_ms;
	int started;           /* last_bucket is set */
	int64_t last_bucket;   /* absolute index of the newest bucket written */
	uint64_t total;        /* sum of live buckets */
};

struct ratelimit {
	pthread_mutex_t lock;
	struct window *w;
	size_t n;
};

struct ratelimit *
ratelimit_new(const struct conf_limit *limits, size_t n)
{
	struct ratelimit *rl = mem_alloc(sizeof(*rl));
	size_t i;

	pthread_mutex_init(&rl->lock, NULL);
	rl->w = mem_alloc(sizeof(*rl->w) * (n ? n : 1));
	rl->n = n;
	for (i = 0; i < n; i++) {
		struct window *w = &rl->w[i];

		w->count = limits[i].count;
		w->period_ms = (int64_t)limits[i].period_s * 1000;
		if (w->count <= RATELIMIT_EXACT_MAX) {
			w->exact = 1;
			w->times = mem_alloc(sizeof(int64_t) * (size_t)(w->count ? w->count : 1));
		} else {
			w->buckets = mem_alloc(sizeof(uint64_t) * RATELIMIT_BUCKETS);
			w->bucket_ms = w->period_ms / RATELIMIT_BUCKETS;
			if (w->bucket_ms < 1)
				w->bucket_ms = 1;
		}
	}
	return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
	size_t i;

	if (rl == NULL)
		return;
	for (i = 0; i < rl->n; i++) {
		free(rl->w[i].times);
		free(rl->w[i].buckets);
	}
	free(rl->w);
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

/* The bucket of time t: floor division, as t may be negative. */
static int64_t
bucket_of(const struct window *w, int64_t t)
{
	int64_t b = t / w->bucket_ms;

	if (t % w->bucket_ms < 0)
		b--;
	return b;
}

static uint64_t *
slot_of(struct window *w, int64_t b)
{
	int64_t i = b % RATELIMIT_BUCKETS;

	if (i < 0)
		i += RATELIMIT_BUCKETS;
	return &w->buckets[i];
}

/* Drop what fell out of the window. */
static void
expire(struct window *w, int64_t now)
{
	if (w->exact) {
		while (w->len > 0 && w->times[w->head] <= now - w->period_ms) {
			w->head = (w->head + 1) % w->count;
			w->len--;
		}
		return;
	}
	int64_t cur = bucket_of(w, now);
	if (!w->started) {
		w->started = 1;
		w->last_bucket = cur;
		return;
	}
	/* zero the buckets between last_bucket+1 and cur (they are reused) */
	int64_t b;
	for (b = w->last_bucket + 1; b <= cur && b <= w->last_bucket + RATELIMIT_BUCKETS; b++) {
		uint64_t *slot = slot_of(w, b);
		w->total -= *slot;
		*slot = 0;
	}
	if (cur > w->last_bucket)
		w->last_bucket = cur;
}

/* ms until this window has room, 0 if it has room now. */
static int64_t
wait_for(struct window *w, int64_t now)
{
	if (w->count == 0)
		return w->period_ms;
	if (w->exact) {
		if (w->len < w->count)
			return 0;
		return w->times[w->head] + w->period_ms - now;
	}
	if (w->total < w->count)
		return 0;
	/* the oldest live bucket leaves the window at its end + period */
	int64_t b;
	for (b = w->last_bucket - RATELIMIT_BUCKETS + 1; b <= w->last_bucket; b++)
		if (*slot_of(w, b) > 0)
			return (b + 1) * w->bucket_ms + w->period_ms - now;
	return w->bucket_ms;
}

static void
record(struct window *w, int64_t at, uint64_t count)
{
	if (w->exact) {
		while (count-- > 0) {
			if (w->len == w->count) {       /* full: drop the oldest */
				w->head = (w->head + 1) % w->count;
				w->len--;
			}
			w->times[(w->head + w->len) % w->count] = at;
			w->len++;
		}
		return;
	}
	int64_t b = bucket_of(w, at);
	if (!w->started || b > w->last_bucket)
		expire(w, at);
	if (b <= w->last_bucket - RATELIMIT_BUCKETS)
		return;
	*slot_of(w, b) += count;
	w->total += count;
}

int64_t
ratelimit_take(struct ratelimit *rl, int64_t now_ms)
{
	int64_t wait = 0, wi;
	size_t i;

	pthread_mutex_lock(&rl->lock);
	for (i = 0; i < rl->n; i++) {
		expire(&rl->w[i], now_ms);
		wi = wait_for(&rl->w[i], now_ms);
		if (wi > wait)
			wait = wi;
	}
	if (wait == 0)
		for (i = 0; i < rl->n; i++)
			record(&rl->w[i], now_ms, 1);
	pthread_mutex_unlock(&rl->lock);
	return wait;
}

void
ratelimit_untake(struct ratelimit *rl, int64_t taken_ms)
{
	size_t i;

	pthread_mutex_lock(&rl->lock);
	for (i = 0; i < rl->n; i++) {
		struct window *w = &rl->w[i];

		if (w->exact) {
			/* remove the newest entry with that time */
			uint64_t k;
			for (k = w->len; k > 0; k--) {
				uint64_t idx = (w->head + k - 1) % w->count;
				if (w->times[idx] == taken_ms) {
					/* shift newer entries down by one */
					uint64_t j;
					for (j = k; j < w->len; j++)
						w->times[(w->head + j - 1) % w->count] =
						    w->times[(w->head + j) % w->count];
					w->len--;
					break;
				}
			}
		} else {
			int64_t b = bucket_of(w, taken_ms);
			uint64_t *slot = slot_of(w, b);
			if (w->started && b <= w->last_bucket &&
			    b > w->last_bucket - RATELIMIT_BUCKETS && *slot > 0) {
				(*slot)--;
				w->total--;
			}
		}
	}
	pthread_mutex_unlock(&rl->lock);
}

void
ratelimit_preload(struct ratelimit *rl, int64_t at_wall_ms,
    int64_t wall_now_ms, int64_t now_ms, uint64_t count)
{
	int64_t at_ms = at_wall_ms - wall_now_ms + now_ms;
	size_t i;

	if (at_ms > now_ms)             /* the wall clock went back */
		at_ms = now_ms;
	pthread_mutex_lock(&rl->lock);
	for (i = 0; i < rl->n; i++) {
		expire(&rl->w[i], at_ms);
		record(&rl->w[i], at_ms, count);
	}
	pthread_mutex_unlock(&rl->lock);
}

uint32_t
ratelimit_horizon_s(const struct ratelimit *rl)
{
	int64_t m = 0;
	size_t i;

	for (i = 0; i < rl->n; i++)
		if (rl->w[i].period_ms > m)
			m = rl->w[i].period_ms;
	return (uint32_t)(m / 1000);
}
