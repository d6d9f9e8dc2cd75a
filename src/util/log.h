/*
 * log.h - one key=value line per event, on stderr (systemd's journal).
 *
 *   2026-11-22T11:00:00Z level=info event=delivery id=Ab3x profile=primary ...
 *
 * log_event() takes the event name and then (key, value) pairs of C strings,
 * ended by NULL.  Values are sanitised: anything outside printable ASCII,
 * and the quote and backslash, are escaped (\r \n \t \\ \" \xNN), and a value
 * with a space or '=' is quoted; peer text can never forge a line or a key.
 * A key that is exactly the name of a secret (password, api_token, token,
 * secret, client_secret, oauth_client_secret, access_token, refresh_token,
 * auth_data, credential; any case) is masked as ********, whatever the
 * caller passed; other keys are not (password_cleared=yes stays readable).  A NULL value is logged as "-".
 * Thread-safe: a line is written with a single write().
 */
#ifndef OUTPOST_UTIL_LOG_H
#define OUTPOST_UTIL_LOG_H

#include <stddef.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

void log_set_level(int level);
int log_get_level(void);
/* Where lines go (default 2, stderr). */
void log_set_fd(int fd);

void log_event(int level, const char *event, ...) __attribute__((sentinel));

/* Escape src into dst (NUL-terminated, truncated with "..." if it does not
 * fit) the way log values are escaped, without quoting.  For storing peer
 * text in the database or showing it to a user. */
void log_sanitize(char *dst, size_t dstsz, const char *src);

/* 1 if a key is one of the secret names above and must be masked. */
int log_key_is_secret(const char *key);

#endif
