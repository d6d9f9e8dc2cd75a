/*
 * conf_value.c - the typed values of outpost.conf: booleans, durations,
 * sizes, limits, retry lists, security, ports, addresses, host names.
 *
 * Every parser takes the whole value and accepts nothing else: no white
 * space around it, no trailing text, no sign, no overflow.  Messages quote
 * the value (escaped, shortened) and say what to write instead.
 */
#include "config/conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/log.h"

#define SHOW_MAX 64             /* a value quoted in a message */
#define DOMAIN_MAX 253          /* RFC 1035 2.3.4, without the final dot */
#define LABEL_MAX 63            /* RFC 1035 2.3.4 */
#define LOCAL_MAX 64            /* RFC 5321 4.5.3.1.1 */

static void
show(char *dst, size_t dstsz, const char *s)
{
	log_sanitize(dst, dstsz, s);
}

/* Digits only; 0 with *out, or -1 if empty, not digits or over max. */
static int
digits(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (max - (uint64_t)(s[i] - '0')) / 10)
			return -2;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

int
conf_parse_bool_e(const char *s, int *out, struct op_err *e)
{
	static const char *const yes[] = { "yes", "true", "on" };
	static const char *const no[] = { "no", "false", "off" };
	char v[SHOW_MAX];
	size_t i;

	for (i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	show(v, sizeof(v), s);
	return err_set(e, ERR_CONFIG, "'%s' is not yes or no (also true/false, "
	    "on/off)", v);
}

int
conf_parse_bool(const char *s, int *out)
{
	return conf_parse_bool_e(s, out, NULL);
}

static int
unit_seconds(char u, uint32_t *mult)
{
	switch (u) {
	case 's': *mult = 1; return 0;
	case 'm': *mult = 60; return 0;
	case 'h': *mult = 3600; return 0;
	case 'd': *mult = 86400; return 0;
	default: return -1;
	}
}

int
conf_parse_duration_e(const char *s, uint32_t *seconds, struct op_err *e)
{
	char v[SHOW_MAX];
	size_t n = strlen(s);
	uint64_t num;
	uint32_t mult;
	int rc;

	show(v, sizeof(v), s);
	if (n == 0)
		return err_set(e, ERR_CONFIG, "needs a duration; write a unit: "
		    "30s, 5m, 2h or 5d");
	if (strspn(s, "0123456789") == n)
		return err_set(e, ERR_CONFIG, "'%s' has no unit; write a unit: "
		    "30s, 5m, 2h or 5d", v);
	if (n < 2 || unit_seconds(s[n - 1], &mult) < 0 ||
	    (rc = digits(s, n - 1, UINT32_MAX, &num)) == -1)
		return err_set(e, ERR_CONFIG, "'%s' is not a duration; write a "
		    "number and a unit: 30s, 5m, 2h or 5d", v);
	if (rc == -2 || num > UINT32_MAX / mult)
		return err_set(e, ERR_CONFIG, "'%s' is too long (at most %us)", v,
		    (unsigned)UINT32_MAX);
	if (num == 0)
		return err_set(e, ERR_CONFIG, "'%s' must be more than zero", v);
	*seconds = (uint32_t)num * mult;
	return 0;
}

int
conf_parse_duration(const char *s, uint32_t *seconds)
{
	return conf_parse_duration_e(s, seconds, NULL);
}

int
conf_parse_size_e(const char *s, uint64_t *bytes, struct op_err *e)
{
	char v[SHOW_MAX];
	size_t n = strlen(s);
	uint64_t num, mult = 1;
	int rc;

	show(v, sizeof(v), s);
	if (n > 0) {
		switch (s[n - 1]) {
		case 'k': case 'K': mult = 1024; n--; break;
		case 'm': case 'M': mult = 1024 * 1024; n--; break;
		case 'g': case 'G': mult = 1024 * 1024 * 1024; n--; break;
		default: break;
		}
	}
	rc = digits(s, n, UINT64_MAX, &num);
	if (rc == -1)
		return err_set(e, ERR_CONFIG, "'%s' is not a size; write bytes, or "
		    "a number with K, M or G: 512K, 25M, 1G", v);
	if (rc == -2 || num > UINT64_MAX / mult)
		return err_set(e, ERR_CONFIG, "'%s' is too large", v);
	if (num == 0)
		return err_set(e, ERR_CONFIG, "'%s' must be more than zero", v);
	*bytes = num * mult;
	return 0;
}

int
conf_parse_size(const char *s, uint64_t *bytes)
{
	return conf_parse_size_e(s, bytes, NULL);
}

int
conf_parse_security_e(const char *s, int *out, struct op_err *e)
{
	char v[SHOW_MAX];

	if (strcasecmp(s, "none") == 0)
		*out = CONF_SEC_NONE;
	else if (strcasecmp(s, "starttls") == 0)
		*out = CONF_SEC_STARTTLS;
	else if (strcasecmp(s, "tls") == 0)
		*out = CONF_SEC_TLS;
	else {
		show(v, sizeof(v), s);
		return err_set(e, ERR_CONFIG, "'%s' is not none, starttls or tls "
		    "(tls is implicit TLS, also called SSL, on port 465; starttls "
		    "is port 587)", v);
	}
	return 0;
}

int
conf_parse_security(const char *s, int *out)
{
	return conf_parse_security_e(s, out, NULL);
}

int
conf_parse_port(const char *s, unsigned *port, struct op_err *e)
{
	char v[SHOW_MAX];
	uint64_t n;

	if (digits(s, strlen(s), 65535, &n) < 0 || n == 0) {
		show(v, sizeof(v), s);
		return err_set(e, ERR_CONFIG, "'%s' is not a port (1..65535)", v);
	}
	*port = (unsigned)n;
	return 0;
}

/* One item of a comma list, trimmed of blanks; the list is not copied. */
struct item {
	const char *p;
	size_t n;
};

/* Step *cursor to the next item: 1 with *it filled, 0 after the last. */
static int
next_item(const char **cursor, struct item *it)
{
	const char *s = *cursor, *end;

	if (s == NULL)
		return 0;
	end = strchr(s, ',');
	if (end == NULL)
		end = s + strlen(s);
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	it->p = s;
	it->n = (size_t)(end - s);
	while (it->n > 0 && (s[it->n - 1] == ' ' || s[it->n - 1] == '\t'))
		it->n--;
	*cursor = *end == ',' ? end + 1 : NULL;
	return 1;
}

int
conf_parse_limits_e(const char *s, struct conf_limit *out, size_t max,
    size_t *n, struct op_err *e)
{
	const char *cur = s;
	struct item it;
	char v[SHOW_MAX], one[SHOW_MAX];
	size_t count = 0, i;
	uint64_t num;
	uint32_t period;
	int rc;

	*n = 0;
	if (*s == '\0')
		return 0;                       /* no limits */
	show(v, sizeof(v), s);
	while (next_item(&cur, &it)) {
		if (it.n >= sizeof(one))
			it.n = sizeof(one) - 1;
		memcpy(one, it.p, it.n);
		one[it.n] = '\0';
		if (it.n == 0)
			return err_set(e, ERR_CONFIG, "'%s' has an empty item; "
			    "write N/s, N/m, N/h or N/d, separated by commas", v);
		if (it.n < 3 || it.p[it.n - 2] != '/' ||
		    unit_seconds(it.p[it.n - 1], &period) < 0 ||
		    (rc = digits(it.p, it.n - 2, UINT32_MAX, &num)) == -1) {
			show(v, sizeof(v), one);
			return err_set(e, ERR_CONFIG, "'%s' is not a limit; write "
			    "N/s, N/m, N/h or N/d (for example 14/s, 10000/d)", v);
		}
		if (rc == -2) {
			show(v, sizeof(v), one);
			return err_set(e, ERR_CONFIG, "'%s' is too large", v);
		}
		if (num == 0) {
			show(v, sizeof(v), one);
			return err_set(e, ERR_CONFIG, "'%s' allows no message at "
			    "all; to stop sending, set enabled = no", v);
		}
		for (i = 0; i < count; i++)
			if (out[i].period_s == period) {
				show(v, sizeof(v), one);
				return err_set(e, ERR_CONFIG, "'%s': there is "
				    "already a limit per %s", v, period == 1 ?
				    "second" : period == 60 ? "minute" :
				    period == 3600 ? "hour" : "day");
			}
		if (count == max)
			return err_set(e, ERR_CONFIG, "'%s' has more than %zu "
			    "limits", v, max);
		out[count].count = num;
		out[count].period_s = period;
		count++;
	}
	*n = count;
	return 0;
}

int
conf_parse_limits(const char *s, struct conf_limit *out, size_t max, size_t *n)
{
	return conf_parse_limits_e(s, out, max, n, NULL);
}

int
conf_parse_retry(const char *s, uint32_t *out, size_t max, size_t *n,
    struct op_err *e)
{
	const char *cur = s;
	struct item it;
	char one[SHOW_MAX], v[SHOW_MAX];
	size_t count = 0;

	*n = 0;
	if (*s == '\0')
		return err_set(e, ERR_CONFIG, "needs at least one wait, for "
		    "example 1m, 5m, 15m");
	show(v, sizeof(v), s);
	while (next_item(&cur, &it)) {
		if (it.n == 0)
			return err_set(e, ERR_CONFIG, "'%s' has an empty item; "
			    "write durations separated by commas", v);
		if (it.n >= sizeof(one))
			it.n = sizeof(one) - 1;
		memcpy(one, it.p, it.n);
		one[it.n] = '\0';
		if (count == max)
			return err_set(e, ERR_CONFIG, "'%s' has more than %zu "
			    "waits", v, max);
		if (conf_parse_duration_e(one, &out[count], e) < 0)
			return -1;
		count++;
	}
	*n = count;
	return 0;
}

static int
is_atext(int c)
{
	/* RFC 5322 3.2.3 atext */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* LDH labels separated by dots: RFC 1035 2.3.1 with RFC 1123 2.1 digits. */
static const char *
domain_problem(const char *d, size_t n)
{
	size_t i, label = 0;

	if (n == 0)
		return "has no domain after '@'";
	if (n > DOMAIN_MAX)
		return "has a domain longer than 253 bytes";
	for (i = 0; i <= n; i++) {
		char c = i < n ? d[i] : '.';

		if (c == '.') {
			if (label == 0)
				return "has an empty label in the domain (two dots, "
				    "or a dot at an end)";
			if (d[i - 1] == '-')
				return "has a domain label ending in '-'";
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return "has a character a domain cannot hold (letters, "
			    "digits, '-' and '.' only)";
		if (label == 0 && c == '-')
			return "has a domain label starting with '-'";
		if (++label > LABEL_MAX)
			return "has a domain label longer than 63 bytes";
	}
	return NULL;
}

int
conf_check_address(const char *s, struct op_err *e)
{
	char v[SHOW_MAX];
	const char *at, *why = NULL;
	size_t n = strlen(s), i, ln;

	show(v, sizeof(v), s);
	if (n == 0)
		return err_set(e, ERR_CONFIG, "needs an email address "
		    "(local@domain)");
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f) {
			why = c == ' ' ? "has a space" : "has a control or non-ASCII "
			    "character";
			goto bad;
		}
	}
	if (s[0] == '<' || s[n - 1] == '>') {
		why = "must be written without <>";
		goto bad;
	}
	if (n > CONF_ADDRESS_MAX) {
		why = "is longer than 254 bytes";
		goto bad;
	}
	at = strrchr(s, '@');
	if (at == NULL) {
		why = "has no '@' (write local@domain)";
		goto bad;
	}
	if (memchr(s, '@', (size_t)(at - s)) != NULL) {
		why = "has more than one '@'";
		goto bad;
	}
	ln = (size_t)(at - s);
	if (ln == 0) {
		why = "has nothing before '@'";
		goto bad;
	}
	if (ln > LOCAL_MAX) {
		why = "has a local part longer than 64 bytes";
		goto bad;
	}
	if (s[0] == '.' || s[ln - 1] == '.') {
		why = "has a dot at an end of the local part";
		goto bad;
	}
	for (i = 0; i < ln; i++) {
		if (s[i] == '.' && s[i + 1] == '.') {
			why = "has two dots in a row";
			goto bad;
		}
		if (s[i] != '.' && !is_atext((unsigned char)s[i])) {
			why = "has a character that needs quoting in the local part "
			    "(quoted local parts are not accepted)";
			goto bad;
		}
	}
	why = domain_problem(at + 1, n - ln - 1);
	if (why == NULL)
		return 0;
bad:
	return err_set(e, ERR_CONFIG, "'%s' is not a valid address: it %s", v,
	    why);
}

int
conf_check_host(const char *s, struct op_err *e)
{
	char v[SHOW_MAX], lit[64];
	const char *why;
	size_t n = strlen(s);
	struct in6_addr a6;

	show(v, sizeof(v), s);
	if (n == 0)
		return err_set(e, ERR_CONFIG, "needs a host name");
	if (s[0] == '[' && n > 2 && s[n - 1] == ']' && n - 2 < sizeof(lit)) {
		memcpy(lit, s + 1, n - 2);
		lit[n - 2] = '\0';
		if (inet_pton(AF_INET6, lit, &a6) == 1)
			return 0;
		return err_set(e, ERR_CONFIG, "'%s' is not an IPv6 address", v);
	}
	if (strchr(s, ':') != NULL) {
		if (inet_pton(AF_INET6, s, &a6) == 1)
			return 0;
		return err_set(e, ERR_CONFIG, "'%s' is not a host name (write the "
		    "port in its own key, not host:port)", v);
	}
	why = domain_problem(s, n);
	if (why == NULL)
		return 0;
	return err_set(e, ERR_CONFIG, "'%s' is not a host name: it %s", v, why);
}

void
conf_format_duration(uint32_t s, char *dst, size_t n)
{
	if (s == 0)
		snprintf(dst, n, "0s");
	else if (s % 86400 == 0)
		snprintf(dst, n, "%ud", (unsigned)(s / 86400));
	else if (s % 3600 == 0)
		snprintf(dst, n, "%uh", (unsigned)(s / 3600));
	else if (s % 60 == 0)
		snprintf(dst, n, "%um", (unsigned)(s / 60));
	else
		snprintf(dst, n, "%us", (unsigned)s);
}

void
conf_format_size(uint64_t b, char *dst, size_t n)
{
	if (b != 0 && b % (1ULL << 30) == 0)
		snprintf(dst, n, "%lluG", (unsigned long long)(b >> 30));
	else if (b != 0 && b % (1ULL << 20) == 0)
		snprintf(dst, n, "%lluM", (unsigned long long)(b >> 20));
	else if (b != 0 && b % 1024 == 0)
		snprintf(dst, n, "%lluK", (unsigned long long)(b >> 10));
	else
		snprintf(dst, n, "%llu", (unsigned long long)b);
}

void
conf_profile_from_text(const struct conf_profile *p, char *dst, size_t dstsz)
{
	const unsigned char *c;
	size_t o = 0;
	int quote = 0;

	if (dstsz == 0)
		return;
	dst[0] = '\0';
	if (p->from == NULL)
		return;
	if (p->from_name == NULL || p->from_name[0] == '\0') {
		(void)str_copy(dst, dstsz, p->from);
		return;
	}
	for (c = (const unsigned char *)p->from_name; *c != '\0'; c++)
		if (!(isalnum(*c) || *c >= 0x80 || strchr(" .-_'", *c) != NULL))
			quote = 1;
	if (p->from_name[0] == ' ' || p->from_name[strlen(p->from_name) - 1] == ' ')
		quote = 1;
	if (quote && o + 1 < dstsz)
		dst[o++] = '"';
	for (c = (const unsigned char *)p->from_name; *c != '\0' && o + 2 < dstsz; c++) {
		if (quote && (*c == '"' || *c == '\\'))
			dst[o++] = '\\';
		dst[o++] = (char)*c;
	}
	if (quote && o + 1 < dstsz)
		dst[o++] = '"';
	dst[o] = '\0';
	snprintf(dst + o, dstsz - o, " <%s>", p->from);
}
