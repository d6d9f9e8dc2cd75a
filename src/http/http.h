/*
 * http.h - the web page and JSON API on [server] http_listen.
 *
 * The server (GNU libmicrohttpd, a pool of HTTP_THREADS polling threads)
 * answers the API of docs/http.md, and serves the settings
 * page embedded in the binary.  It gets everything it uses from the
 * daemon through struct http_deps; it owns no settings and no store.
 *
 * Security (docs/http.md): every request's Host must name this server
 * (DNS rebinding); every endpoint but GET /api/health, the page's files
 * and POST /api/login needs `Authorization: Bearer TOKEN` or the page's
 * session cookie, and a cookie-authenticated POST/PUT/DELETE also needs
 * the session's X-CSRF-Token.  Bodies are bounded (HTTP_BODY_MAX, larger
 * for POST /api/messages); over the bound the answer is 413 and the
 * connection ends without the body being read.
 *
 * Threads: the callbacks in http_deps are called from the server's
 * threads, concurrently; they must be thread-safe.  Slow work (a profile
 * check, a test email) runs on its own thread, at most HTTP_JOBS_MAX at
 * once, so it never blocks other requests.
 */
#ifndef OUTPOST_HTTP_HTTP_H
#define OUTPOST_HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct conf;
struct queue;
struct metrics;
struct http_server;

/* API token: 32 random bytes, 64 hex digits when generated; a configured
 * one may be up to HTTP_TOKEN_MAX - 1 bytes. */
#define HTTP_TOKEN_MAX 257

struct http_deps {
	/* The current settings.  conf_get returns a snapshot that stays
	 * valid until it is given back with conf_put. */
	const struct conf *(*conf_get)(void *arg);
	void (*conf_put)(void *arg, const struct conf *c);
	/* The file the settings endpoints edit in place.  It need not exist
	 * yet (the daemon runs on embedded defaults): the first edit creates
	 * it, mode 0600.  NULL: the settings are read-only (409). */
	const char *conf_path;
	/* After an edit was written: load conf_path again, validate, and
	 * swap the new settings in without a restart.  -1 with e filled if
	 * the file does not load (the old settings stay). */
	int (*conf_reload)(void *arg, struct op_err *e);
	/* Cluster (relay/cluster_conf.h; NULL: the file alone).  The settings
	 * endpoints read the effective text (the file's own sections and the
	 * database's shared ones) and its shared version, and write an edit's
	 * shared sections to the database if that version is still current
	 * (ERR_NOINPUT: another node changed them: 409) instead of the file. */
	int (*conf_shared_read)(void *arg, char **text, size_t *len,
	    int64_t *version, struct op_err *e);
	int (*conf_shared_write)(void *arg, const char *text, size_t len,
	    int64_t expect, struct op_err *e);
	/* The store (queue/queue.h). */
	struct queue *queue;
	/* A message was queued or a retry asked for: deliver soon.  May be
	 * NULL. */
	void (*wake_delivery)(void *arg);
	/* Someone signed in through the page (OAuth2): mail waiting for the
	 * sign-in should go now.  May be NULL. */
	void (*oauth_signed_in)(void *arg);
	/* The registry rendered at GET /metrics; may be NULL. */
	struct metrics *metrics;
	/* The API token from http_token_load(), used when the settings hold
	 * no [server] api_token.  Copied by http_start(). */
	const char *api_token;
	void *arg;
	/* HTTPS ([server] http_tls_cert / http_tls_key): both PEM files are
	 * read by http_start() (before the daemon drops root); NULL: plain
	 * HTTP.  insecure: plain HTTP on a non-loopback address was asked
	 * for (http_insecure = yes); GET /api/health says so and the page
	 * shows a warning. */
	const char *tls_cert_file;
	const char *tls_key_file;
	int insecure;
};

/*
 * The API token.  If configured (the settings' api_token) is not NULL and
 * not empty, that is the token.  Otherwise the token is read from
 * DATA_DIR/api_token; if that file does not exist, a new token (32 random
 * bytes as 64 hex digits) is written there, mode 0600, and *created is set
 * to 1 so the caller can show it once.  data_dir must exist.
 * out receives the token (outsz >= HTTP_TOKEN_MAX).
 * Errors: ERR_IO (cannot read or write the file), ERR_CONFIG (the file is
 * empty, too long, or readable by others: fix its mode).
 */
int http_token_load(const char *data_dir, const char *configured, char *out,
    size_t outsz, int *created, struct op_err *e);

/*
 * Listen on listen_spec ("127.0.0.1:8025", "[::1]:8025") and serve until
 * http_stop().  deps is copied (the strings it points to must outlive the
 * server).  Errors: ERR_CONFIG (bad spec), ERR_UNAVAILABLE (cannot listen:
 * e->sys = errno), ERR_SOFTWARE (libmicrohttpd refused to start).
 */
int http_start(const char *listen_spec, const struct http_deps *deps,
    struct http_server **out, struct op_err *e);

/* Stop accepting, wait for running requests and jobs, free everything.
 * s may be NULL. */
void http_stop(struct http_server *s);

#endif
