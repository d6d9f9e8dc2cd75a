#include "relay/policy.h"

#include <string.h>
#include <strings.h>

int64_t
policy_next_attempt(int64_t now, int64_t created, uint32_t lifetime_s,
    const uint32_t *retry_s, size_t nretry, unsigned attempts)
{
	uint32_t wait;
	int64_t due;

	if (nretry == 0)
		wait = 300;
	else if (attempts == 0)
		wait = 0;
	else if (attempts > nretry)
		wait = retry_s[nretry - 1];
	else
		wait = retry_s[attempts - 1];
	due = now + wait;
	if (due > created + (int64_t)lifetime_s)
		return -1;
	return due;
}

uint32_t
policy_cooldown_s(unsigned consecutive_failures)
{
	uint32_t s = 30;
	unsigned i;

	for (i = 1; i < consecutive_failures && s < 600; i++)
		s *= 2;
	return s > 600 ? 600 : s;
}

uint32_t
policy_backoff_ms(unsigned consecutive_slowdowns)
{
	uint32_t ms = 1000;
	unsigned i;

	for (i = 1; i < consecutive_slowdowns && ms < 300000; i++)
		ms *= 2;
	return ms > 300000 ? 300000 : ms;
}

int
policy_is_slowdown(int code, int enh_class, int enh_subject, const char *text)
{
	static const char *words[] = { "rate", "too many", "limit", "throttl",
		"slow down", "try again later", "too fast", "quota" };
	size_t i;

	if (code == 421)
		return 1;
	if (code < 400 || code >= 500)
		return 0;
	if (enh_class == 4 && enh_subject == 7) {
		for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
			if (text != NULL && strcasestr(text, words[i]) != NULL)
				return 1;
	}
	if (code == 450 || code == 451 || code == 452) {
		/* providers without enhanced codes still say so in words */
		for (i = 0; i < 4; i++)
			if (text != NULL && strcasestr(text, words[i]) != NULL &&
			    strcasestr(text, "mailbox") == NULL &&
			    strcasestr(text, "recipient") == NULL)
				return 1;
	}
	return 0;
}
