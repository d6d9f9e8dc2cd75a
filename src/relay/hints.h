/*
 * hints.h - what each provider's refusals mean, in one table of rules
 * (hints.c): data, not a chain of ifs.
 *
 * A rule matches a server reply by provider (or any), reply code (or any),
 * enhanced status code (or any) and a piece of its text (case-insensitive,
 * or any); the first rule that matches wins.  It gives a hint (what to do,
 * in words) and a class:
 *
 *   auth    the login was refused for a reason the provider explains
 *   sender  the sender address is not one the account may use
 *   quota   a daily quota is used up: not a failure of the message; the
 *           profile pauses until the quota's window ends (window_s, or the
 *           next midnight UTC) and the message waits or fails over
 *   rate    sending too fast: the profile slows down (as after a 421)
 *
 * Used by `check` and the test email (diag.c), the delivery log
 * (deliver.c: hint= on event=delivery lines), the relay (quota and rate),
 * and the API (a message's recipients get their hint).
 * docs/providers.md lists the rules.
 */
#ifndef OUTPOST_RELAY_HINTS_H
#define OUTPOST_RELAY_HINTS_H

#include <stddef.h>
#include <stdint.h>

#include "config/conf.h"
#include "smtp/reply.h"

enum hint_class {
	HINT_AUTH = 1,
	HINT_SENDER = 2,
	HINT_QUOTA = 3,
	HINT_RATE = 4,
};

struct hint_rule {
	const char *providers;  /* "gmail,google-workspace"; NULL: any */
	int code;               /* 0: any */
	const char *enhanced;   /* "5.7.139"; NULL: any */
	const char *text;       /* in the reply text, any case; NULL: any */
	int cls;                /* enum hint_class */
	uint32_t window_s;      /* quota: pause this long; 0: until the next
	                         * midnight UTC */
	const char *hint;
};

/* The provider a profile's replies are judged as: its provider = (unless
 * custom), else the provider whose server its host is; NULL if none. */
const char *hint_provider(const struct conf_profile *p);

/* The first rule for provider (NULL: only rules for any provider) that
 * matches the reply, or NULL. */
const struct hint_rule *hint_match(const char *provider,
    const struct smtp_reply *r);

/* The same from a stored result: code, enhanced ("5.7.1" or ""), text. */
const struct hint_rule *hint_match_text(const char *provider, int code,
    const char *enhanced, const char *text);

/* "auth", "sender", "quota", "rate". */
const char *hint_class_name(int cls);

/* How long a quota rule pauses the profile, from wall-clock time now_ms
 * (window_s, or until the next midnight UTC). */
int64_t hint_quota_wait_ms(const struct hint_rule *rule, int64_t now_ms);

/* Rule i of the table (for tests and docs), NULL past the end. */
const struct hint_rule *hint_rule_at(size_t i);

#endif
