/*
 * http_int.h - what the files of src/http/ share; nothing outside
 * src/http/ includes it.
 *
 *   server.c       libmicrohttpd, routing, bodies, Host check, headers, jobs
 *   auth.c         the API token, login sessions, CSRF tokens
 *   json.c         bounded JSON parsing, replies, small JSON helpers
 *   assets.c       the web page's files, embedded in the binary
 *   api_core.c     health, login/logout/session, metrics, the page
 *   settings.c     read-edit-check-write of outpost.conf for the API
 *   api_profiles.c profiles (list, put, delete, order) and redirect
 *   api_messages.c messages (submit, list, show, retry, delete)
 *   api_diag.c     profile check and test email
 *   api_oauth.c    OAuth2 sign-in (start, callback), status, gauges
 *
 * A request (struct http_req) lives from the first call of the access
 * handler to MHD's "completed" notification; it owns its body, its parsed
 * JSON and its reply.  A handler is called once per request, on a server
 * thread or (HTTP_R_SLOW) on a job thread, and always leaves a reply in
 * the request (http_reply_*).
 */
#ifndef OUTPOST_HTTP_HTTP_INT_H
#define OUTPOST_HTTP_HTTP_INT_H

#include <jansson.h>
#include <microhttpd.h>

#include "http/mhd.h"
#include <pthread.h>
#include <stdint.h>

#include "http/http.h"
#include "util/buf.h"

struct conf;

/* Threads polling connections, and connection bounds. */
#define HTTP_THREADS 4
#define HTTP_CONN_MAX 256
#define HTTP_CONN_TIMEOUT_S 30          /* idle connection, seconds */
#define HTTP_JOBS_MAX 8                 /* checks / test emails at once */

/* Request bodies: JSON everywhere is small ... */
#define HTTP_BODY_MAX (64 * 1024)
/* ... but POST /api/messages carries attachments in base64 (4/3 of the
 * message, RFC 4648 section 4): [server] max_message_size * 1.4 + 1 MB of
 * JSON around it, and never more than HTTP_MESSAGE_BODY_HARD_MAX. */
#define HTTP_MESSAGE_BODY_HARD_MAX ((size_t)64 * 1024 * 1024)
/* A chunked body past its bound is read and dropped up to this much more,
 * to answer 413; beyond it the connection is cut. */
#define HTTP_DISCARD_MAX ((size_t)1024 * 1024)
#define HTTP_JSON_DEPTH_MAX 16          /* nesting of arrays and objects */
#define HTTP_PATH_MAX 512
#define HTTP_PARAM_MAX 128              /* one {name} or {id} segment */
#define HTTP_HOST_MAX 300               /* RFC 1035 name + port + brackets */

#define HTTP_COOKIE_NAME "outpost_session"
#define HTTP_ID_HEX 64                  /* session ids and CSRF tokens */

enum http_auth { HTTP_AUTH_NONE = 0, HTTP_AUTH_BEARER, HTTP_AUTH_SESSION };

struct http_req;
typedef void (*http_handler)(struct http_req *r);

/* Route flags */
#define HTTP_R_PUBLIC 1     /* no authentication */
#define HTTP_R_SLOW 2       /* run the handler on a job thread */
#define HTTP_R_BIG_BODY 4   /* the POST /api/messages body bound */
#define HTTP_R_SLOW_CHECK 8 /* HTTP_R_SLOW when the query asks for ?check */

struct http_route {
	const char *method;
	const char *pattern;    /* "/api/profiles/{}/check": {} is one segment */
	unsigned flags;
	http_handler fn;
};

struct http_sessions;

struct http_server {
	struct MHD_Daemon *mhd;
	struct http_deps deps;
	char listen_spec[HTTP_HOST_MAX];
	char listen_host[HTTP_HOST_MAX];        /* "127.0.0.1", "[::1]" */
	char listen_port[16];
	char file_token[HTTP_TOKEN_MAX];
	struct http_sessions *sessions;
	int tls;                                /* served over HTTPS */
	char *tls_cert, *tls_key;               /* PEM, kept until stopped */

	pthread_mutex_t jobs_mu;
	pthread_cond_t jobs_cv;
	unsigned jobs;
	int stopping;

	pthread_mutex_t edit_mu;                /* one settings edit at a time */
};

enum http_phase {
	HTTP_PH_READING = 0,    /* body arriving */
	HTTP_PH_JOB,            /* suspended, a job thread has the request */
	HTTP_PH_JOB_DONE,       /* the job left its reply */
	HTTP_PH_SENT,           /* reply queued */
};

struct http_req {
	struct http_server *srv;
	struct MHD_Connection *conn;
	const struct http_route *route;
	char method[16];
	char path[HTTP_PATH_MAX];
	char param[2][HTTP_PARAM_MAX];
	int auth;                       /* enum http_auth */
	char session_id[HTTP_ID_HEX + 1];
	char csrf[HTTP_ID_HEX + 1];
	int64_t started_ms;
	int phase;                      /* enum http_phase */
	int body_pending;               /* the client announced a body */
	int too_big;                    /* the body passed its bound */
	size_t discarded;               /* bytes dropped since */

	struct buf body;
	json_t *json;                   /* the parsed body, owned */

	/* the reply */
	unsigned status;                /* 0: none yet */
	char *out;                      /* owned unless out_static */
	size_t out_len;
	int out_static;
	const char *ctype;
	char set_cookie[256];
	char allow[64];
	char etag[80];
	char location[HTTP_PATH_MAX];
	int close;                      /* end the connection after the reply */
	int replayed;                   /* Idempotent-Replayed: true */
};

/* ---- server.c ---- */

/* Request helpers. */
const char *http_header(struct http_req *r, const char *name);
const char *http_query(struct http_req *r, const char *name);
/* 1 and its name (sanitised) in name[HTTP_PARAM_MAX] if the query has a
 * parameter not in known (NULL-terminated); 0 if every one is known. */
int http_query_unknown(struct http_req *r, const char *const *known,
    char name[HTTP_PARAM_MAX]);
/* The current settings (never NULL); give back with http_conf_put(). */
const struct conf *http_conf_get(struct http_req *r);
void http_conf_put(struct http_req *r, const struct conf *c);
/* The token requests must present (configured or generated). */
const char *http_token_current(struct http_server *s, const struct conf *c);

/* ---- json.c ---- */

/* Replies; each replaces any reply set before. */
void http_reply_json(struct http_req *r, unsigned status, json_t *j);   /* steals j */
void http_reply_error(struct http_req *r, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* {"error": msg, "fields": fields}; steals fields (may be NULL). */
void http_reply_fields(struct http_req *r, unsigned status, const char *msg,
    json_t *fields);
void http_reply_empty(struct http_req *r, unsigned status);
/* A reply of static bytes (not freed) or owned bytes (freed). */
void http_reply_static(struct http_req *r, unsigned status, const char *ctype,
    const void *data, size_t len);
void http_reply_owned(struct http_req *r, unsigned status, const char *ctype,
    char *data, size_t len);
void http_reply_clear(struct http_req *r);

/*
 * The body as a JSON object, parsed once (cached in r->json, owned by r).
 * NULL if there is no body or it is not an object of valid UTF-8 JSON
 * within HTTP_JSON_DEPTH_MAX: a 400 reply is then set.
 */
json_t *http_body_object(struct http_req *r);

/* Validate JSON text: UTF-8 (RFC 3629), nesting depth.  0 or -1 with a
 * message in e (ERR_DATA).  Exposed for the unit tests. */
int http_json_precheck(const char *p, size_t n, size_t depth_max,
    struct op_err *e);

/* A JSON string for s: NULL -> null; text that is not UTF-8 is escaped
 * with log_sanitize() first. */
json_t *http_jstr(const char *s);
/* Object member as string: NULL if absent or null; -1 if present but not a
 * string (then *out is untouched). */
int http_jget_str(json_t *o, const char *key, const char **out);

/* ---- auth.c ---- */

struct http_sessions *http_sessions_new(void);
void http_sessions_free(struct http_sessions *ss);

#define HTTP_SESSIONS_MAX 64
#define HTTP_SESSION_IDLE_MS (2LL * 3600 * 1000)
#define HTTP_SESSION_LIFE_MS (24LL * 3600 * 1000)
#define HTTP_LOGIN_FAILS_MAX 20         /* per HTTP_LOGIN_WINDOW_MS */
#define HTTP_LOGIN_WINDOW_MS (60LL * 1000)

/* 1 if the tokens are equal, compared in constant time (SHA-256 of each,
 * then CRYPTO_memcmp), so neither content nor length leaks by timing. */
int http_token_equal(const char *a, const char *b);

/* New session bound to token (a token change ends it).  id and csrf get
 * HTTP_ID_HEX hex digits.  The oldest session is dropped when the table is
 * full.  -1 only if the kernel has no random bytes (ERR_OSERR). */
int http_session_create(struct http_sessions *ss, const char *token,
    char id[HTTP_ID_HEX + 1], char csrf[HTTP_ID_HEX + 1], struct op_err *e);
/* 0 and csrf filled if id names a live session made with this token (its
 * idle time restarts); -1 otherwise. */
int http_session_check(struct http_sessions *ss, const char *id,
    const char *token, char csrf[HTTP_ID_HEX + 1]);
void http_session_end(struct http_sessions *ss, const char *id);
/* HTTP_ID_HEX random hex digits (the OAuth2 sign-in cookie). */
int http_session_nonce(char dst[HTTP_ID_HEX + 1], struct op_err *e);

/* Failed-login throttle: http_login_allowed() is 0 while more than
 * HTTP_LOGIN_FAILS_MAX logins failed in the current window. */
int http_login_allowed(struct http_sessions *ss);
void http_login_failed(struct http_sessions *ss);

/* ---- assets.c ---- */

struct http_asset {
	const char *path;       /* "/", "/app.js" */
	const char *ctype;
	const unsigned char *data;
	size_t len;
};
/* 0 and *out filled if path names a file of the page; -1 if not. */
int http_asset_find(const char *path, struct http_asset *out);

/* ---- handlers ---- */

void http_api_health(struct http_req *r);
void http_api_login(struct http_req *r);
void http_api_logout(struct http_req *r);
void http_api_session(struct http_req *r);
void http_api_metrics(struct http_req *r);
void http_api_asset(struct http_req *r);

void http_api_profiles_list(struct http_req *r);
void http_api_profile_get(struct http_req *r);
void http_api_profile_put(struct http_req *r);
void http_api_profile_delete(struct http_req *r);
void http_api_profiles_order(struct http_req *r);
void http_api_redirect_get(struct http_req *r);
void http_api_redirect_put(struct http_req *r);

void http_api_profile_create(struct http_req *r);

void http_api_profile_check(struct http_req *r);
/* ---- api_diag.c ---- */
struct diag_report;
/* The check's JSON ({"ok", "steps": [{"step", "ok", "status", "detail",
 * "hint"}]}); NULL if out of memory. */
json_t *http_diag_report_json(const struct diag_report *rep);
/* 1 if the request's query asks to test first (?check, ?check=yes/1/true). */
int http_query_check(struct http_req *r);
void http_api_test_email(struct http_req *r);
/* api_providers.c: the presets and port detection */
void http_api_providers(struct http_req *r);
void http_api_detect(struct http_req *r);

/* ---- api_oauth.c ---- */
struct conf_profile;
void http_api_oauth_start(struct http_req *r);
void http_api_oauth_callback(struct http_req *r);
/* {"signed_in", "needs_signin", "expires", "error", "grant"} for a profile
 * with auth = oauth2, NULL for any other. */
json_t *http_oauth_status_json(const struct conf_profile *p);
/* The OAuth2 gauges of GET /metrics, appended to out. */
int http_oauth_metrics(struct http_req *r, struct buf *out, struct op_err *e);

void http_api_messages_post(struct http_req *r);
void http_api_messages_list(struct http_req *r);
void http_api_message_get(struct http_req *r);
void http_api_message_retry(struct http_req *r);
void http_api_message_delete(struct http_req *r);
/* events for the application */
void http_api_message_raw(struct http_req *r);
void http_api_suppressions_list(struct http_req *r);
void http_api_suppression_delete(struct http_req *r);

#endif
