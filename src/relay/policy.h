/*
 * policy.h - the arithmetic of retries, failover cool-downs and adaptive
 * backoff.  Pure functions of their arguments (no clocks, no state), so the
 * scheduler's decisions can be unit-tested.
 */
#ifndef OUTPOST_RELAY_POLICY_H
#define OUTPOST_RELAY_POLICY_H

#include <stddef.h>
#include <stdint.h>

/*
 * When the next attempt of a message is due, in seconds after `now`, given
 * how many attempts have been made (1 after the first) and the `retry`
 * schedule (waits between attempts; the last one repeats).
 * Returns -1 if the next attempt would fall after created + lifetime: the
 * message then fails for good ("queue lifetime exceeded").
 */
int64_t policy_next_attempt(int64_t now, int64_t created, uint32_t lifetime_s,
    const uint32_t *retry_s, size_t nretry, unsigned attempts);

/* A broken profile (cannot connect, TLS or AUTH refused, 421) is retried
 * after a cool-down that doubles with each consecutive failure:
 * 30s, 60s, 2m, ... capped at 10 minutes. */
uint32_t policy_cooldown_s(unsigned consecutive_failures);

/* Adaptive backoff after a provider said "slow down" (421, or 4.7.x with
 * "rate"/"too many"/"limit"/"throttl" in the text): how long the profile
 * pauses: 1s, 2s, 4s, ... capped at 5 minutes. */
uint32_t policy_backoff_ms(unsigned consecutive_slowdowns);

/* 1 if a temporary reply means "you are sending too fast" rather than a
 * problem with this message. code is the SMTP code, enh_class/subject the
 * enhanced status code (0 if none), text the reply text. */
int policy_is_slowdown(int code, int enh_class, int enh_subject,
    const char *text);

#endif
