/*
 * http_client.h - a small HTTPS client for token endpoints (and later the
 * webhooks): one request, one bounded reply.  libcurl does the work; it
 * is loaded with dlopen() on the first request (the Debian package
 * libcurl4, "libcurl.so.4"), so the binary does not link it and short
 * commands (`outpost sendmail`) do not pay for loading it.
 *
 * Rules: only https:// and http:// (the caller checks that http:// goes
 * to a loopback address: conf_check_oauth_url); certificates verified
 * against the system store plus ca_file when given; redirects are not
 * followed; a reply body over HTTP_CLIENT_BODY_MAX fails the request; the
 * whole request is bounded by timeout_s.  Request bodies are never logged
 * (they carry secrets).
 *
 * Errors: ERR_UNAVAILABLE (libcurl missing, cannot connect or resolve),
 * ERR_TEMP (timeout), ERR_PROTOCOL (TLS, bad reply, too large), ERR_SOFTWARE.
 */
#ifndef OUTPOST_UTIL_HTTP_CLIENT_H
#define OUTPOST_UTIL_HTTP_CLIENT_H

#include <stddef.h>

#include "util/err.h"

#define HTTP_CLIENT_BODY_MAX (256 * 1024)
#define HTTP_CLIENT_SONAME "libcurl.so.4"

struct http_reply {
	long status;            /* 200, 400, ... */
	char *body;             /* NUL-terminated, malloc'ed; free with
	                         * http_reply_free (wiped: it may hold tokens) */
	size_t len;
};

/* POST an application/x-www-form-urlencoded body (form), Accept: JSON. */
int http_post_form(const char *url, const char *form, const char *ca_file,
    unsigned timeout_s, struct http_reply *out, struct op_err *e);
/* GET url. */
int http_get(const char *url, const char *ca_file, unsigned timeout_s,
    struct http_reply *out, struct op_err *e);
void http_reply_free(struct http_reply *r);

#define HTTP_CLIENT_HEADERS_MAX 8
/* POST a JSON body (Content-Type: application/json) with up to
 * HTTP_CLIENT_HEADERS_MAX more header lines ("Name: value").  keep (may
 * be NULL): a handle kept between requests so its connection is reused;
 * *keep NULL at first; free it with http_handle_free(). */
int http_post_json(void **keep, const char *url, const char *body,
    size_t len, const char *const *headers, size_t nheaders,
    unsigned timeout_s, struct http_reply *out, struct op_err *e);
void http_handle_free(void *keep);

/* s percent-encoded for a form or a query (RFC 3986 unreserved kept),
 * appended to out (a struct buf *, as void * to keep buf.h out). */
int http_form_escape(void *out, const char *s, struct op_err *e);

/* 1 if libcurl has been loaded into this process (for tests). */
int http_client_loaded(void);

#endif
