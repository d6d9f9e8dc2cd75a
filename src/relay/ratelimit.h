/*
 * ratelimit.h - a profile's provider quotas ("14/s, 10000/d"), all enforced
 * at once, across every connection of the profile (the limiter is shared
 * and locked).
 *
 * Each limit is a sliding window: at most `count` sends in any `period`.
 * Windows of up to RATELIMIT_EXACT_MAX sends keep every send time (exact);
 * larger ones count in 1/RATELIMIT_BUCKETS-period buckets and round so they
 * never allow more than the quota.  A restart does not reset quotas: the
 * daemon preloads the sends it recorded (ratelimit_preload).
 *
 * Clock: the limiter counts on the caller's clock (the daemon's monotonic
 * clock, which cannot jump); every now_ms/taken_ms must come from it.
 * Times may be negative (sends preloaded from before the clock's start).
 * Recorded sends are dated by the wall clock: ratelimit_preload converts.
 *
 * Ownership: the limiter owns its memory; free with ratelimit_free().
 */
#ifndef OUTPOST_RELAY_RATELIMIT_H
#define OUTPOST_RELAY_RATELIMIT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "config/conf.h"

#define RATELIMIT_EXACT_MAX 100000
#define RATELIMIT_BUCKETS 1440

struct ratelimit;

struct ratelimit *ratelimit_new(const struct conf_limit *limits, size_t n);
void ratelimit_free(struct ratelimit *rl);

/* Take one send at time now_ms if every window has room: returns 0.
 * Otherwise takes nothing and returns how many ms to wait before asking
 * again (> 0). */
int64_t ratelimit_take(struct ratelimit *rl, int64_t now_ms);

/* Give back a send taken but not made (the connection failed before it). */
void ratelimit_untake(struct ratelimit *rl, int64_t taken_ms);

/* Count `count` sends made at wall-clock time at_wall_ms (before a restart
 * or a change of limits), given that the wall clock reads wall_now_ms while
 * the limiter's clock reads now_ms: the send is dated at_wall_ms -
 * wall_now_ms + now_ms on the limiter's clock (never later than now_ms). */
void ratelimit_preload(struct ratelimit *rl, int64_t at_wall_ms,
    int64_t wall_now_ms, int64_t now_ms, uint64_t count);

/* The longest window, in seconds (how far back preloading must look). */
uint32_t ratelimit_horizon_s(const struct ratelimit *rl);

#endif
