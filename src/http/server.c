/*
 * server.c - libmicrohttpd, routing, request bodies, the Host check,
 * authentication, security headers and slow jobs.
 *
 * A request goes through the access handler in three steps:
 *   1. first call (headers only): Host check, route, authentication, CSRF,
 *      Content-Length against the route's bound.  Any refusal is answered
 *      at once, before the body is read, with "Connection: close".
 *   2. body calls: bytes are appended up to the bound; past it, 413 and
 *      the connection ends (a chunked body cannot announce its length).
 *   3. last call: the handler runs and leaves its reply, which is queued.
 * A route marked HTTP_R_SLOW runs its handler on a job thread while the
 * connection is suspended; the thread resumes it, and step 3 runs again to
 * queue the reply.
 */
#include "http/http_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config/conf.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/net.h"

static const struct http_route routes[] = {
	{ "GET", "/api/health", HTTP_R_PUBLIC, http_api_health },
	{ "POST", "/api/login", HTTP_R_PUBLIC, http_api_login },
	{ "POST", "/api/logout", 0, http_api_logout },
	{ "GET", "/api/session", 0, http_api_session },
	{ "GET", "/metrics", 0, http_api_metrics },

	{ "GET", "/api/profiles", 0, http_api_profiles_list },
	{ "POST", "/api/profiles/order", 0, http_api_profiles_order },
	{ "GET", "/api/profiles/{}", 0, http_api_profile_get },
	{ "POST", "/api/profiles", HTTP_R_SLOW_CHECK, http_api_profile_create },
	{ "PUT", "/api/profiles/{}", HTTP_R_SLOW_CHECK, http_api_profile_put },
	{ "DELETE", "/api/profiles/{}", 0, http_api_profile_delete },
	{ "POST", "/api/profiles/{}/check", HTTP_R_SLOW, http_api_profile_check },
	{ "POST", "/api/profiles/{}/oauth/start", 0, http_api_oauth_start },
	{ "GET", "/oauth/callback", HTTP_R_PUBLIC | HTTP_R_SLOW, http_api_oauth_callback },
	{ "POST", "/api/test-email", HTTP_R_SLOW, http_api_test_email },
	{ "GET", "/api/providers", 0, http_api_providers },
	{ "POST", "/api/detect", HTTP_R_SLOW, http_api_detect },
	{ "GET", "/api/redirect", 0, http_api_redirect_get },
	{ "PUT", "/api/redirect", 0, http_api_redirect_put },

	{ "POST", "/api/messages", HTTP_R_BIG_BODY, http_api_messages_post },
	{ "GET", "/api/messages", 0, http_api_messages_list },
	{ "GET", "/api/messages/{}", 0, http_api_message_get },
	{ "DELETE", "/api/messages/{}", 0, http_api_message_delete },
	{ "POST", "/api/messages/{}/retry", 0, http_api_message_retry },
	{ "GET", "/api/messages/{}/raw", 0, http_api_message_raw },
	{ "GET", "/api/suppressions", 0, http_api_suppressions_list },
	{ "DELETE", "/api/suppressions/{}", 0, http_api_suppression_delete },

	{ "GET", "/", HTTP_R_PUBLIC, http_api_asset },
	{ "GET", "/app.js", HTTP_R_PUBLIC, http_api_asset },
	{ "GET", "/style.css", HTTP_R_PUBLIC, http_api_asset },
	{ "GET", "/icon.svg", HTTP_R_PUBLIC, http_api_asset },
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* Sent with every reply.  The page has no inline script or style, so the
 * policy allows only its own files. */
static const char *const security_headers[][2] = {
	{ "Content-Security-Policy", "default-src 'self'; script-src 'self'; "
	    "style-src 'self'; img-src 'self' data:; connect-src 'self'; "
	    "object-src 'none'; base-uri 'none'; form-action 'self'; "
	    "frame-ancestors 'none'" },
	{ "X-Content-Type-Options", "nosniff" },
	{ "X-Frame-Options", "DENY" },
	{ "Referrer-Policy", "no-referrer" },
	{ "Cache-Control", "no-store" },
	{ "Cross-Origin-Opener-Policy", "same-origin" },
	{ "Cross-Origin-Resource-Policy", "same-origin" },
};

/* ---- request helpers ---- */

const char *
http_header(struct http_req *r, const char *name)
{
	return mhd.lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *
http_query(struct http_req *r, const char *name)
{
	return mhd.lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct query_scan {
	const char *const *known;
	char *unknown;
	int found;
};

static enum MHD_Result
query_scan_one(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct query_scan *qs = cls;
	size_t i;

	(void)kind;
	(void)value;
	for (i = 0; qs->known[i] != NULL; i++)
		if (key != NULL && strcmp(qs->known[i], key) == 0)
			return MHD_YES;
	log_sanitize(qs->unknown, HTTP_PARAM_MAX, key != NULL && *key != '\0' ?
	    key : "(a parameter without a name)");
	qs->found = 1;
	return MHD_NO;
}

int
http_query_unknown(struct http_req *r, const char *const *known,
    char name[HTTP_PARAM_MAX])
{
	struct query_scan qs = { known, name, 0 };

	name[0] = '\0';
	mhd.get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_scan_one, &qs);
	return qs.found;
}

int
http_query_check(struct http_req *r)
{
	const char *v = http_query(r, "check");

	return v != NULL && strcmp(v, "0") != 0 && strcasecmp(v, "no") != 0 &&
	    strcasecmp(v, "false") != 0;
}

const struct conf *
http_conf_get(struct http_req *r)
{
	return r->srv->deps.conf_get(r->srv->deps.arg);
}

void
http_conf_put(struct http_req *r, const struct conf *c)
{
	r->srv->deps.conf_put(r->srv->deps.arg, c);
}

const char *
http_token_current(struct http_server *s, const struct conf *c)
{
	if (c != NULL && c->server.api_token != NULL && c->server.api_token[0] != '\0')
		return c->server.api_token;
	return s->file_token;
}

static int
is_state_changing(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
	    strcmp(method, "OPTIONS") != 0;
}

/* ---- routing ---- */

/* Match path against pattern; {} takes one non-empty segment into the next
 * param.  1 if it matches. */
static int
route_match(const char *pattern, const char *path, char param[2][HTTP_PARAM_MAX])
{
	size_t np = 0, n;

	while (*pattern != '\0' && *path != '\0') {
		if (pattern[0] == '{' && pattern[1] == '}') {
			n = strcspn(path, "/");
			if (n == 0 || n >= HTTP_PARAM_MAX || np == 2)
				return 0;
			memcpy(param[np], path, n);
			param[np][n] = '\0';
			np++;
			path += n;
			pattern += 2;
			continue;
		}
		if (*pattern != *path)
			return 0;
		pattern++;
		path++;
	}
	return *pattern == '\0' && *path == '\0';
}

/* The route for r, or NULL with a 404 or 405 reply set. */
static const struct http_route *
route_find(struct http_req *r)
{
	char param[2][HTTP_PARAM_MAX];
	const char *method = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;
	size_t i, na = 0;

	r->allow[0] = '\0';
	for (i = 0; i < NROUTES; i++) {
		if (!route_match(routes[i].pattern, r->path, param))
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			memcpy(r->param, param, sizeof(param));
			return &routes[i];
		}
		if (strstr(r->allow, routes[i].method) == NULL) {
			size_t len = strlen(r->allow);

			snprintf(r->allow + len, sizeof(r->allow) - len, "%s%s",
			    na++ ? ", " : "", routes[i].method);
		}
	}
	if (r->allow[0] != '\0')
		http_reply_error(r, 405, "%s is not allowed on %s (allowed: %s)",
		    r->method, r->path, r->allow);
	else
		http_reply_error(r, 404, "no such page or API endpoint: %s", r->path);
	return NULL;
}

/* ---- Host check (DNS rebinding) ---- */

/* Split a Host header into host (lower case, brackets kept for IPv6) and
 * port ("" if none).  -1 if malformed. */
static int
host_split(const char *h, char *host, size_t hostsz, char *port, size_t portsz)
{
	const char *colon;
	size_t hl, i;

	if (h[0] == '[') {
		const char *close = strchr(h, ']');

		if (close == NULL)
			return -1;
		hl = (size_t)(close - h) + 1;
		colon = close[1] == ':' ? close + 1 : NULL;
		if (close[1] != '\0' && colon == NULL)
			return -1;
	} else {
		colon = strchr(h, ':');
		hl = colon != NULL ? (size_t)(colon - h) : strlen(h);
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			return -1;
	}
	if (hl == 0 || hl >= hostsz)
		return -1;
	for (i = 0; i < hl; i++)
		host[i] = (char)((h[i] >= 'A' && h[i] <= 'Z') ? h[i] + 32 : h[i]);
	host[hl] = '\0';
	port[0] = '\0';
	if (colon != NULL) {
		unsigned long p;

		if (str_copy(port, portsz, colon + 1) < 0 ||
		    str_to_ulong(port, 65535, &p) < 0)
			return -1;
	}
	return 0;
}

/* 1 if the Host header names this server: the listen address, localhost
 * or a loopback literal (on the listen port or none), or a name in
 * [server] http_allowed_hosts (on any port: a reverse proxy may use its
 * own).  Names compare ignoring case. */
static int
host_allowed(struct http_server *s, const struct conf *c, const char *hdr)
{
	static const char *const loopback[] = { "localhost", "127.0.0.1", "[::1]" };
	char host[HTTP_HOST_MAX], port[16], ahost[HTTP_HOST_MAX], aport[16];
	size_t i;

	if (hdr == NULL || host_split(hdr, host, sizeof(host), port, sizeof(port)) < 0)
		return 0;
	if (port[0] == '\0' || strcmp(port, s->listen_port) == 0) {
		if (strcmp(host, s->listen_host) == 0)
			return 1;
		for (i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++)
			if (strcmp(host, loopback[i]) == 0)
				return 1;
	}
	for (i = 0; c != NULL && i < c->server.nhttp_allowed_hosts; i++) {
		if (host_split(c->server.http_allowed_hosts[i], ahost, sizeof(ahost),
		    aport, sizeof(aport)) < 0)
			continue;
		if (strcmp(host, ahost) == 0 &&
		    (aport[0] == '\0' || strcmp(port, aport) == 0))
			return 1;
	}
	return 0;
}

/* ---- authentication ---- */

/* Fill r->auth, or set a 401/403 reply. */
static void
authenticate(struct http_req *r, const struct conf *c)
{
	const char *token = http_token_current(r->srv, c);
	const char *authz = http_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *cookie, *csrf;

	if (authz != NULL) {
		if (strncasecmp(authz, "Bearer ", 7) != 0) {
			http_reply_error(r, 401, "only Authorization: Bearer TOKEN is "
			    "accepted here");
			return;
		}
		authz += 7;
		while (*authz == ' ')
			authz++;
		if (!http_token_equal(authz, token)) {
			http_reply_error(r, 401, "wrong API token (see [server] api_token, "
			    "or the api_token file in the data directory)");
			return;
		}
		r->auth = HTTP_AUTH_BEARER;
		return;
	}
	cookie = mhd.lookup_connection_value(r->conn, MHD_COOKIE_KIND, HTTP_COOKIE_NAME);
	if (cookie != NULL &&
	    http_session_check(r->srv->sessions, cookie, token, r->csrf) == 0) {
		str_copy(r->session_id, sizeof(r->session_id), cookie);
		if (is_state_changing(r->method)) {
			csrf = http_header(r, "X-CSRF-Token");
			if (csrf == NULL || !http_token_equal(csrf, r->csrf)) {
				http_reply_error(r, 403, "missing or wrong X-CSRF-Token: "
				    "reload the page");
				return;
			}
		}
		r->auth = HTTP_AUTH_SESSION;
		return;
	}
	http_reply_error(r, 401, cookie != NULL ? "your session has ended: log in again" :
	    "log in first: send Authorization: Bearer TOKEN, or log in on the web page");
}

/* The body bound for r's route. */
static size_t
body_max(struct http_req *r, const struct conf *c)
{
	uint64_t m;

	if (!(r->route->flags & HTTP_R_BIG_BODY))
		return HTTP_BODY_MAX;
	m = c->server.max_message_size / 10 * 14 + 1024 * 1024;
	return m > HTTP_MESSAGE_BODY_HARD_MAX ? HTTP_MESSAGE_BODY_HARD_MAX : (size_t)m;
}

/* Step 1: everything that can be decided from the headers. */
static void
req_begin(struct http_req *r)
{
	const struct conf *c = http_conf_get(r);
	const char *cl = http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = http_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	const char *host = http_header(r, MHD_HTTP_HEADER_HOST);
	unsigned long len = 0;
	size_t max;

	r->body_pending = (cl != NULL && strcmp(cl, "0") != 0) || te != NULL;
	if (!host_allowed(r->srv, c, host)) {
		char h[HTTP_HOST_MAX];

		log_sanitize(h, sizeof(h), host != NULL ? host : "");
		http_reply_error(r, 403, "the Host header '%s' does not name this server; "
		    "to reach it under that name, add it to [server] http_allowed_hosts", h);
		goto out;
	}
	r->route = route_find(r);
	if (r->route == NULL)
		goto out;
	if (!(r->route->flags & HTTP_R_PUBLIC)) {
		authenticate(r, c);
		if (r->status != 0)
			goto out;
	}
	max = body_max(r, c);
	buf_init(&r->body, max);
	if (cl != NULL && (str_to_ulong(cl, ~0UL, &len) < 0 || len > max))
		http_reply_error(r, 413, "the request body is larger than %zu bytes", max);
out:
	http_conf_put(r, c);
}

/* ---- replies ---- */

static enum MHD_Result
send_reply(struct http_req *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char code[8];
	size_t i;

	if (r->status == 0)
		http_reply_error(r, 500, "internal error: the request got no reply");
	if (r->out_static)
		resp = mhd.create_response_from_buffer(r->out_len, r->out,
		    MHD_RESPMEM_PERSISTENT);
	else
		resp = mhd.create_response_from_buffer_with_free_callback(r->out_len,
		    r->out, free);
	if (resp == NULL)
		return MHD_NO;
	if (!r->out_static)
		r->out = NULL;          /* the response owns it now */
	for (i = 0; i < sizeof(security_headers) / sizeof(security_headers[0]); i++)
		mhd.add_response_header(resp, security_headers[i][0], security_headers[i][1]);
	if (r->ctype != NULL)
		mhd.add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ctype);
	if (r->set_cookie[0] != '\0')
		mhd.add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, r->set_cookie);
	if (r->status == 405 && r->allow[0] != '\0')
		mhd.add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
	if (r->status == 401)
		mhd.add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		    "Bearer realm=\"outpost\"");
	if (r->etag[0] != '\0')
		mhd.add_response_header(resp, MHD_HTTP_HEADER_ETAG, r->etag);
	if (r->location[0] != '\0')
		mhd.add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
	if (r->close)
		mhd.add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	if (r->replayed)
		mhd.add_response_header(resp, "Idempotent-Replayed", "true");
	ret = mhd.queue_response(r->conn, r->status, resp);
	mhd.destroy_response(resp);
	r->phase = HTTP_PH_SENT;
	snprintf(code, sizeof(code), "%u", r->status);
	metrics_add(r->srv->deps.metrics, METRIC_HTTP_REQUESTS, code, 1);
	return ret;
}

/* ---- slow jobs ---- */

static void *
job_main(void *arg)
{
	struct http_req *r = arg;
	struct http_server *s = r->srv;

	r->route->fn(r);
	pthread_mutex_lock(&s->jobs_mu);
	r->phase = HTTP_PH_JOB_DONE;
	mhd.resume_connection(r->conn);
	s->jobs--;
	pthread_cond_broadcast(&s->jobs_cv);
	pthread_mutex_unlock(&s->jobs_mu);
	return NULL;
}

static enum MHD_Result
job_start(struct http_req *r)
{
	struct http_server *s = r->srv;
	pthread_attr_t attr;
	pthread_t t;
	int busy;

	pthread_mutex_lock(&s->jobs_mu);
	busy = s->stopping || s->jobs >= HTTP_JOBS_MAX;
	if (!busy) {
		s->jobs++;
		r->phase = HTTP_PH_JOB;
		mhd.suspend_connection(r->conn);
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, job_main, r) != 0) {
			mhd.resume_connection(r->conn);
			r->phase = HTTP_PH_READING;
			s->jobs--;
			busy = 1;
		}
		pthread_attr_destroy(&attr);
	}
	pthread_mutex_unlock(&s->jobs_mu);
	if (!busy)
		return MHD_YES;
	http_reply_error(r, 503, "too many checks and test emails are running; "
	    "try again in a moment");
	return send_reply(r);
}

/* ---- libmicrohttpd callbacks ---- */

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct http_server *s = cls;
	struct http_req *r = *con_cls;
	struct op_err e;

	(void)version;
	if (r == NULL) {
		r = mem_alloc(sizeof(*r));
		r->srv = s;
		r->conn = conn;
		r->started_ms = clock_mono_ms();
		buf_init(&r->body, 0);
		*con_cls = r;
		str_copy(r->method, sizeof(r->method), method);
		if (str_copy(r->path, sizeof(r->path), url) < 0) {
			http_reply_error(r, 414, "the URL is longer than %d bytes",
			    HTTP_PATH_MAX - 1);
		} else {
			req_begin(r);
		}
		if (r->status == 0)
			return MHD_YES;
		/* Refused on its headers: the body is never read. */
		r->close = r->body_pending;
		return send_reply(r);
	}
	if (r->phase == HTTP_PH_SENT) {
		*upload_data_size = 0;  /* a refused request's body: discard */
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		/* A body without Content-Length (chunked) that grows past the
		 * bound: libmicrohttpd cannot answer before the body ends, so
		 * the rest is read and dropped, up to HTTP_DISCARD_MAX, then
		 * answered 413; past that the connection is cut. */
		if (r->too_big || buf_append(&r->body, upload_data, *upload_data_size, &e) < 0) {
			r->too_big = 1;
			r->discarded += *upload_data_size;
			buf_free(&r->body);
			if (r->discarded > HTTP_DISCARD_MAX) {
				log_event(LOG_WARN, "http_body_too_large", "path", r->path,
				    "action", "connection closed", NULL);
				return MHD_NO;
			}
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->too_big) {
		http_reply_error(r, 413, "the request body is larger than %zu bytes",
		    r->body.max);
		r->close = 1;
		return send_reply(r);
	}
	if (r->phase == HTTP_PH_JOB_DONE)
		return send_reply(r);
	if (r->phase == HTTP_PH_JOB)
		return MHD_YES;         /* resumed early; the job is not done */
	if ((r->route->flags & HTTP_R_SLOW) ||
	    ((r->route->flags & HTTP_R_SLOW_CHECK) && http_query_check(r)))
		return job_start(r);
	r->route->fn(r);
	return send_reply(r);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http_req *r = *con_cls;
	char status[8], ms[24];

	(void)cls;
	(void)conn;
	if (r == NULL)
		return;
	*con_cls = NULL;
	snprintf(status, sizeof(status), "%u", r->status);
	snprintf(ms, sizeof(ms), "%lld", (long long)(clock_mono_ms() - r->started_ms));
	log_event(r->status >= 500 || toe != MHD_REQUEST_TERMINATED_COMPLETED_OK ?
	    LOG_WARN : (r->status >= 400 || is_state_changing(r->method)) ? LOG_INFO :
	    LOG_DEBUG, "http_request", "method", r->method, "path", r->path,
	    "status", status, "ms", ms, "auth",
	    r->auth == HTTP_AUTH_BEARER ? "bearer" : r->auth == HTTP_AUTH_SESSION ?
	    "session" : "none",
	    "end", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "ok" :
	    toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "timeout" :
	    toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT ? "client_abort" : "error",
	    NULL);
	http_reply_clear(r);
	json_decref(r->json);
	buf_free(&r->body);
	free(r);
}

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_event(LOG_DEBUG, "http_server", "msg", msg, NULL);
}

/* ---- start and stop ---- */

/* A PEM file for HTTPS, whole, NUL-terminated, at most HTTP_PEM_MAX. */
#define HTTP_PEM_MAX (1024 * 1024)

static int
read_pem(const char *what, const char *path, char **out, struct op_err *e)
{
	struct buf b;
	char chunk[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	*out = NULL;
	if (fd < 0)
		return err_set(e, ERR_CONFIG, "cannot read %s %s: %s; let the "
		    "user starting outpost serve read it", what, path,
		    strerror(errno));
	buf_init(&b, HTTP_PEM_MAX);
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || buf_append(&b, chunk, (size_t)n, e) < 0) {
			if (n < 0)
				err_set(e, ERR_CONFIG, "cannot read %s %s: %s",
				    what, path, strerror(errno));
			else
				err_set(e, ERR_CONFIG, "%s %s is larger than %d "
				    "bytes", what, path, HTTP_PEM_MAX);
			close(fd);
			if (b.data != NULL)
				explicit_bzero(b.data, b.len);
			buf_free(&b);
			return -1;
		}
	}
	close(fd);
	*out = mem_alloc(b.len + 1);
	if (b.len > 0)
		memcpy(*out, b.data, b.len);
	(*out)[b.len] = '\0';
	if (b.data != NULL)
		explicit_bzero(b.data, b.len);
	buf_free(&b);
	if (strstr(*out, "-----BEGIN ") == NULL)
		return err_set(e, ERR_CONFIG, "%s %s is not a PEM file (no "
		    "-----BEGIN line)", what, path);
	return 0;
}

static void
free_pem(char *p)
{
	if (p != NULL) {
		explicit_bzero(p, strlen(p));
		free(p);
	}
}

int
http_start(const char *listen_spec, const struct http_deps *deps,
    struct http_server **out, struct op_err *e)
{
	struct http_server *s;
	char host[HTTP_HOST_MAX - 2];
	char *cert = NULL, *key = NULL;
	unsigned int flags;
	int fd = -1;

	*out = NULL;
	if (deps->conf_get == NULL || deps->conf_put == NULL)
		return err_set(e, ERR_SOFTWARE, "http_start: conf_get and conf_put are required");
	s = mem_alloc(sizeof(*s));
	s->deps = *deps;
	pthread_mutex_init(&s->jobs_mu, NULL);
	pthread_cond_init(&s->jobs_cv, NULL);
	pthread_mutex_init(&s->edit_mu, NULL);
	s->sessions = http_sessions_new();
	if (deps->api_token != NULL &&
	    str_copy(s->file_token, sizeof(s->file_token), deps->api_token) < 0) {
		err_set(e, ERR_CONFIG, "the API token is longer than %d bytes",
		    HTTP_TOKEN_MAX - 1);
		goto fail;
	}
	if (str_copy(s->listen_spec, sizeof(s->listen_spec), listen_spec) < 0) {
		err_set(e, ERR_CONFIG, "http_listen '%s' is too long", listen_spec);
		goto fail;
	}
	if (net_split_hostport(listen_spec, host, sizeof(host), s->listen_port,
	    sizeof(s->listen_port), e) < 0)
		goto fail;
	if (strchr(host, ':') != NULL) {
		s->listen_host[0] = '[';
		str_copy(s->listen_host + 1, sizeof(s->listen_host) - 2, host);
		memcpy(s->listen_host + strlen(s->listen_host), "]", 2);
	} else {
		str_copy(s->listen_host, sizeof(s->listen_host), host);
	}
	for (char *p = s->listen_host; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	if (mhd_load(e) < 0)
		goto fail;
	if (deps->tls_cert_file != NULL && deps->tls_key_file != NULL) {
		if (read_pem("http_tls_cert", deps->tls_cert_file, &cert, e) < 0 ||
		    read_pem("http_tls_key", deps->tls_key_file, &key, e) < 0)
			goto fail;
		s->tls = 1;
	}
	if (net_listen(listen_spec, 128, &fd, e) < 0)
		goto fail;

	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
	    MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (s->tls)
		flags |= MHD_USE_TLS;
	/* the key and certificate stay in memory until http_stop(); with
	 * plain HTTP the array is empty (libmicrohttpd complains about TLS
	 * options without MHD_USE_TLS) */
	{
		struct MHD_OptionItem tls_opts[3] = {
			{ MHD_OPTION_END, 0, NULL }, { MHD_OPTION_END, 0, NULL },
			{ MHD_OPTION_END, 0, NULL } };

		if (s->tls) {
			tls_opts[0].option = MHD_OPTION_HTTPS_MEM_KEY;
			tls_opts[0].ptr_value = key;
			tls_opts[1].option = MHD_OPTION_HTTPS_MEM_CERT;
			tls_opts[1].ptr_value = cert;
		}
		s->mhd = mhd.start_daemon(flags,
		    0, NULL, NULL, on_request, s,
		    MHD_OPTION_ARRAY, tls_opts,
		    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
		    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
		    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)HTTP_THREADS,
		    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTP_CONN_MAX,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_CONN_TIMEOUT_S,
		    MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		    MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
		    MHD_OPTION_END);
	}
	if (s->mhd == NULL) {
		if (s->tls)
			err_set(e, ERR_CONFIG, "cannot start HTTPS on %s: "
			    "libmicrohttpd refused http_tls_cert %s with "
			    "http_tls_key %s (do they match? is this "
			    "libmicrohttpd built with TLS?)", listen_spec,
			    deps->tls_cert_file, deps->tls_key_file);
		else
			err_set(e, ERR_SOFTWARE, "cannot start the HTTP server "
			    "on %s (libmicrohttpd refused; see the log)",
			    listen_spec);
		close(fd);
		goto fail;
	}
	s->tls_cert = cert;
	s->tls_key = key;
	log_event(LOG_INFO, "http_listen", "addr", listen_spec, "tls",
	    s->tls ? "yes" : "no", NULL);
	*out = s;
	return 0;
fail:
	free_pem(cert);
	free_pem(key);
	http_sessions_free(s->sessions);
	pthread_mutex_destroy(&s->jobs_mu);
	pthread_cond_destroy(&s->jobs_cv);
	pthread_mutex_destroy(&s->edit_mu);
	free(s);
	return -1;
}

void
http_stop(struct http_server *s)
{
	if (s == NULL)
		return;
	/* Suspended connections must be resumed before MHD stops: wait for
	 * the jobs (each is bounded by its profile's timeouts). */
	pthread_mutex_lock(&s->jobs_mu);
	s->stopping = 1;
	while (s->jobs > 0)
		pthread_cond_wait(&s->jobs_cv, &s->jobs_mu);
	pthread_mutex_unlock(&s->jobs_mu);
	mhd.stop_daemon(s->mhd);
	free_pem(s->tls_cert);
	free_pem(s->tls_key);
	http_sessions_free(s->sessions);
	pthread_mutex_destroy(&s->jobs_mu);
	pthread_cond_destroy(&s->jobs_cv);
	pthread_mutex_destroy(&s->edit_mu);
	explicit_bzero(s->file_token, sizeof(s->file_token));
	free(s);
	log_event(LOG_INFO, "http_stopped", NULL);
}
