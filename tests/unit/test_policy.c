/* Retry/backoff arithmetic and the rate limiter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "relay/policy.h"
#include "relay/ratelimit.h"

static void
test_next_attempt_schedule(void **state)
{
	const uint32_t retry[] = { 60, 300, 900 };
	(void)state;

	/* after the first attempt wait 1m, then 5m, then 15m, then 15m again */
	assert_int_equal(policy_next_attempt(1000, 1000, 86400, retry, 3, 1), 1060);
	assert_int_equal(policy_next_attempt(2000, 1000, 86400, retry, 3, 2), 2300);
	assert_int_equal(policy_next_attempt(3000, 1000, 86400, retry, 3, 3), 3900);
	assert_int_equal(policy_next_attempt(5000, 1000, 86400, retry, 3, 9), 5900);
	/* attempt 0 (never tried): due now */
	assert_int_equal(policy_next_attempt(5000, 1000, 86400, retry, 3, 0), 5000);
}

static void
test_next_attempt_lifetime(void **state)
{
	const uint32_t retry[] = { 3600 };
	(void)state;

	/* created at 0, lifetime 2h: an attempt at 1h30 may retry at 2h30? no */
	assert_int_equal(policy_next_attempt(5400, 0, 7200, retry, 1, 2), -1);
	assert_int_equal(policy_next_attempt(3600, 0, 7200, retry, 1, 1), 7200);
}

static void
test_cooldown_and_backoff(void **state)
{
	(void)state;
	assert_int_equal(policy_cooldown_s(1), 30);
	assert_int_equal(policy_cooldown_s(2), 60);
	assert_int_equal(policy_cooldown_s(3), 120);
	assert_int_equal(policy_cooldown_s(50), 600);
	assert_int_equal(policy_backoff_ms(1), 1000);
	assert_int_equal(policy_backoff_ms(4), 8000);
	assert_int_equal(policy_backoff_ms(100), 300000);
}

static void
test_slowdown_detection(void **state)
{
	(void)state;
	assert_true(policy_is_slowdown(421, 4, 7, "4.7.0 Try again later"));
	assert_true(policy_is_slowdown(451, 4, 7, "4.7.1 Rate limit exceeded"));
	assert_true(policy_is_slowdown(450, 0, 0, "Too many messages, slow down"));
	assert_false(policy_is_slowdown(452, 4, 5, "4.5.3 Too many recipients"));
	assert_false(policy_is_slowdown(451, 4, 3, "4.3.0 Temporary local problem"));
	assert_false(policy_is_slowdown(550, 5, 7, "5.7.1 rate limit"));
	assert_false(policy_is_slowdown(250, 2, 0, "ok"));
}

static void
test_ratelimit_per_second(void **state)
{
	struct conf_limit l[] = { { 3, 1 } };
	struct ratelimit *rl = ratelimit_new(l, 1);
	(void)state;

	assert_int_equal(ratelimit_take(rl, 10000), 0);
	assert_int_equal(ratelimit_take(rl, 10100), 0);
	assert_int_equal(ratelimit_take(rl, 10200), 0);
	/* the fourth must wait until the first leaves the window */
	assert_int_equal(ratelimit_take(rl, 10300), 700);
	assert_int_equal(ratelimit_take(rl, 10999), 1);
	assert_int_equal(ratelimit_take(rl, 11000), 0);
	ratelimit_free(rl);
}

static void
test_ratelimit_all_windows(void **state)
{
	struct conf_limit l[] = { { 10, 1 }, { 12, 60 } };
	struct ratelimit *rl = ratelimit_new(l, 2);
	int64_t t = 0;
	int sent = 0, i;
	(void)state;

	/* over 3 seconds at most 12 sends: the per-minute quota binds */
	for (i = 0; i < 3000; i++, t++)
		if (ratelimit_take(rl, t) == 0)
			sent++;
	assert_int_equal(sent, 12);
	assert_int_equal(ratelimit_horizon_s(rl), 60);
	ratelimit_free(rl);
}

/* As the daemon runs: sends were recorded by the wall clock (before a
 * restart), the limiter counts on the monotonic clock, which reads far
 * less (it starts at boot). */
#define WALL_NOW 1795345171000LL
#define MONO_NOW 5000LL

static void
test_ratelimit_untake_and_preload(void **state)
{
	struct conf_limit l[] = { { 2, 60 } };
	struct ratelimit *rl = ratelimit_new(l, 1);
	int64_t wait;
	(void)state;

	/* one send 30 s ago by the wall clock */
	ratelimit_preload(rl, WALL_NOW - 30000, WALL_NOW, MONO_NOW, 1);
	assert_int_equal(ratelimit_take(rl, MONO_NOW + 1000), 0);
	/* full until the preloaded send is 60 s old: 29 s more, not years */
	wait = ratelimit_take(rl, MONO_NOW + 2000);
	assert_int_equal(wait, 28000);
	ratelimit_untake(rl, MONO_NOW + 1000);
	assert_int_equal(ratelimit_take(rl, MONO_NOW + 2000), 0);
	assert_int_equal(ratelimit_take(rl, MONO_NOW + 2500), 28000 - 500);
	/* once it left the window, there is room again */
	assert_int_equal(ratelimit_take(rl, MONO_NOW + 30000), 0);
	ratelimit_free(rl);
}

static void
test_ratelimit_preload_old_sends_expire(void **state)
{
	struct conf_limit l[] = { { 2, 1 } };
	struct ratelimit *rl = ratelimit_new(l, 1);
	(void)state;

	/* two sends a few seconds before a restart: a 2/s window is free */
	ratelimit_preload(rl, WALL_NOW - 3000, WALL_NOW, MONO_NOW, 2);
	assert_int_equal(ratelimit_take(rl, MONO_NOW), 0);
	assert_int_equal(ratelimit_take(rl, MONO_NOW + 1), 0);
	assert_int_equal(ratelimit_take(rl, MONO_NOW + 2), 998);
	/* a send dated after now (the wall clock went back) counts as now */
	ratelimit_free(rl);
	rl = ratelimit_new(l, 1);
	ratelimit_preload(rl, WALL_NOW + 60000, WALL_NOW, MONO_NOW, 2);
	assert_int_equal(ratelimit_take(rl, MONO_NOW + 1000), 0);
	ratelimit_free(rl);
}

static void
test_ratelimit_bucketed(void **state)
{
	struct conf_limit l[] = { { 200000, 86400 } };
	struct ratelimit *rl = ratelimit_new(l, 1);
	int64_t t = 1000000;
	(void)state;

	ratelimit_preload(rl, t, t, t, 199999);
	assert_int_equal(ratelimit_take(rl, t + 10), 0);
	assert_true(ratelimit_take(rl, t + 20) > 0);
	/* a day later the window is empty again */
	assert_int_equal(ratelimit_take(rl, t + 86400000LL + 120000), 0);
	ratelimit_free(rl);
}

static void
test_ratelimit_bucketed_preload_before_clock_start(void **state)
{
	struct conf_limit l[] = { { 200000, 86400 } };
	struct ratelimit *rl = ratelimit_new(l, 1);
	int64_t wait;
	(void)state;

	/* sent an hour ago by the wall clock: before the monotonic clock's
	 * zero (negative times), and still counted */
	ratelimit_preload(rl, WALL_NOW - 3600000, WALL_NOW, MONO_NOW, 199999);
	assert_int_equal(ratelimit_take(rl, MONO_NOW), 0);
	wait = ratelimit_take(rl, MONO_NOW + 10);
	/* free once the hour-old bucket leaves the day: in about 23 h */
	assert_true(wait > 22 * 3600000LL && wait <= 23 * 3600000LL + 60000);
	ratelimit_untake(rl, MONO_NOW);
	assert_int_equal(ratelimit_take(rl, MONO_NOW + 20), 0);
	assert_int_equal(ratelimit_take(rl, MONO_NOW + 23 * 3600000LL + 120000), 0);
	ratelimit_free(rl);
}

static void
test_ratelimit_zero_limits(void **state)
{
	struct ratelimit *rl = ratelimit_new(NULL, 0);
	(void)state;

	assert_int_equal(ratelimit_take(rl, 5), 0);
	assert_int_equal(ratelimit_horizon_s(rl), 0);
	ratelimit_free(rl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next_attempt_schedule),
		cmocka_unit_test(test_next_attempt_lifetime),
		cmocka_unit_test(test_cooldown_and_backoff),
		cmocka_unit_test(test_slowdown_detection),
		cmocka_unit_test(test_ratelimit_per_second),
		cmocka_unit_test(test_ratelimit_all_windows),
		cmocka_unit_test(test_ratelimit_untake_and_preload),
		cmocka_unit_test(test_ratelimit_preload_old_sends_expire),
		cmocka_unit_test(test_ratelimit_bucketed),
		cmocka_unit_test(test_ratelimit_bucketed_preload_before_clock_start),
		cmocka_unit_test(test_ratelimit_zero_limits),
	};
	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
