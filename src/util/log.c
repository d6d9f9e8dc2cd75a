#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* A log line is bounded: long values are cut with "...". */
#define LOG_LINE_MAX 4096
#define LOG_VALUE_MAX 1024

static int log_level = LOG_INFO;
static int log_fd = 2;

static const char *level_names[] = { "error", "warn", "info", "debug" };

void
log_set_level(int level)
{
	log_level = level;
}

int
log_get_level(void)
{
	return log_level;
}

void
log_set_fd(int fd)
{
	log_fd = fd;
}

/*
 * The keys whose values are secrets, by their exact names (any case): a
 * key that merely contains one of them (password_cleared, password_file,
 * token_type) is not a secret and keeps its value.  The AUTH exchange is
 * masked where it is logged (smtp/client.c: the "line" of an AUTH command
 * and the "text" of a 334 challenge), since those keys carry other text
 * too.
 */
static const char *const secret_keys[] = {
	"password",             /* profile and client passwords, however got */
	"api_token", "token",
	"secret", "client_secret",
	"oauth_client_secret", "access_token", "refresh_token",
	"auth_data", "credential",
};

int
log_key_is_secret(const char *key)
{
	size_t i;

	for (i = 0; i < sizeof(secret_keys) / sizeof(secret_keys[0]); i++)
		if (strcasecmp(key, secret_keys[i]) == 0)
			return 1;
	return 0;
}

/* Escape one value; returns the number of bytes written (excluding NUL). */
static size_t
escape(char *dst, size_t dstsz, const char *src, int quote_ok, int *needs_quote)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	const unsigned char *s = (const unsigned char *)src;
	char tmp[5];
	size_t tl;

	if (needs_quote != NULL)
		*needs_quote = (*src == '\0');
	for (; *s != '\0'; s++) {
		unsigned char c = *s;

		tl = 0;
		switch (c) {
		case '\r': tmp[tl++] = '\\'; tmp[tl++] = 'r'; break;
		case '\n': tmp[tl++] = '\\'; tmp[tl++] = 'n'; break;
		case '\t': tmp[tl++] = '\\'; tmp[tl++] = 't'; break;
		case '\\': tmp[tl++] = '\\'; tmp[tl++] = '\\'; break;
		case '"':
			if (quote_ok) {
				tmp[tl++] = '\\';
			}
			tmp[tl++] = '"';
			break;
		default:
			if (c < 0x20 || c >= 0x7f) {
				tmp[tl++] = '\\';
				tmp[tl++] = 'x';
				tmp[tl++] = hex[c >> 4];
				tmp[tl++] = hex[c & 15];
			} else {
				tmp[tl++] = (char)c;
				if ((c == ' ' || c == '=') && needs_quote != NULL)
					*needs_quote = 1;
			}
		}
		if (o + tl + 4 >= dstsz) {
			/* truncate */
			if (dstsz >= 4) {
				size_t at = o < dstsz - 4 ? o : dstsz - 4;
				memcpy(dst + at, "...", 3);
				o = at + 3;
			}
			break;
		}
		memcpy(dst + o, tmp, tl);
		o += tl;
	}
	if (dstsz > 0)
		dst[o < dstsz ? o : dstsz - 1] = '\0';
	return o;
}

void
log_sanitize(char *dst, size_t dstsz, const char *src)
{
	escape(dst, dstsz, src != NULL ? src : "", 0, NULL);
}

static void
append(char *line, size_t *len, const char *s, size_t n)
{
	size_t room = LOG_LINE_MAX - 2 - *len;   /* keep space for "\n" */

	if (*len >= LOG_LINE_MAX - 2)
		return;
	if (n > room)
		n = room;
	memcpy(line + *len, s, n);
	*len += n;
}

void
log_event(int level, const char *event, ...)
{
	char line[LOG_LINE_MAX];
	char val[LOG_VALUE_MAX];
	char ts[32];
	size_t len = 0;
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;
	const char *key, *v;
	int quote;
	ssize_t w;

	if (level > log_level)
		return;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	len = (size_t)snprintf(line, sizeof(line), "%s level=%s event=%s", ts,
	    level_names[level < 0 ? 0 : level > 3 ? 3 : level], event);
	va_start(ap, event);
	while ((key = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		append(line, &len, " ", 1);
		append(line, &len, key, strlen(key));
		append(line, &len, "=", 1);
		if (v == NULL) {
			append(line, &len, "-", 1);
			continue;
		}
		if (log_key_is_secret(key))
			v = "********";
		size_t n = escape(val, sizeof(val), v, 1, &quote);
		if (quote)
			append(line, &len, "\"", 1);
		append(line, &len, val, n);
		if (quote)
			append(line, &len, "\"", 1);
	}
	va_end(ap);
	line[len++] = '\n';
	w = write(log_fd, line, len);
	(void)w;
}
