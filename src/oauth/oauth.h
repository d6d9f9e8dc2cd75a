/*
 * oauth.h - OAuth2 access tokens for SMTP AUTH (XOAUTH2 / OAUTHBEARER):
 * the three grants, the token store in data_dir/oauth/, refresh.
 *
 * Who owns what:
 *   - The SMTP client (smtp/) never fetches a token: the caller gets one
 *     here (oauth_token_get), passes it in smtp_params.bearer_token, and
 *     on SMTP_FAIL_TOKEN ("token refused") calls oauth_token_refused() and
 *     tries once more with a fresh one.
 *   - This module owns the tokens.  Process-wide state, set up once by
 *     oauth_init(data_dir); every function is thread-safe.  A token handed
 *     out is a malloc'ed copy: the caller wipes it (explicit_bzero) and
 *     frees it (oauth_token_free does both).
 *   - The HTTP requests go through util/http_client (libcurl, loaded only
 *     when a request is made); their JSON is read with Jansson.
 *
 * Grants (conf_profile.oauth_grant):
 *   - authorization_code: a person signs in once (oauth_auth_start +
 *     oauth_auth_complete, PKCE S256 always, or oauth_device_login); the
 *     refresh token is kept in the store and used to get access tokens.
 *   - client_credentials: the client id and secret get an access token
 *     (Microsoft 365 app-only); no refresh token.
 *   - command: oauth_token_command prints an access token (the bounds of
 *     password_command); it is run again when the server refuses the
 *     token or after OAUTH_COMMAND_CACHE_S.
 *
 * The store: data_dir/oauth/ (mode 0700), one file per profile,
 * PROFILE.json (0600, written to a temporary file, fsync'ed, renamed,
 * directory fsync'ed):
 *     {"binding": "HOST|TENANT|CLIENT_ID", "refresh_token": "...",
 *      "access_token": "...", "expires_at": UNIX_SECONDS,
 *      "error": "why the last refresh failed, or absent",
 *      "updated": UNIX_SECONDS}
 * A file whose binding differs from the profile's current host, tenant
 * and client id is ignored and removed (a change of server or app drops
 * the tokens, as a change of server drops a password).  A rotated refresh
 * token is written before the new access token is handed out.  Refreshes
 * of one profile are serialised across processes with flock() on
 * PROFILE.lock, and inside a process by a per-profile single flight: one
 * request however many connections wait for it.
 *
 * Refresh margin: a token is refreshed when less than
 * min(OAUTH_MARGIN_MAX_S, lifetime / 4) is left (Microsoft refuses tokens
 * that expire within 10 minutes with 501 5.5.127).  After a failure the
 * profile backs off (OAUTH_BACKOFF_MIN_S doubling to OAUTH_BACKOFF_MAX_S);
 * invalid_grant drops the refresh token: the profile needs a new sign-in.
 *
 * Errors: ERR_CONFIG (profile not set up for OAuth2, or unusable
 * settings), ERR_NOPERM (not signed in, or the provider refused the
 * grant: needs a sign-in), ERR_TEMPFAIL (network, provider 5xx, backoff),
 * ERR_PROTOCOL (a reply that is not the JSON of RFC 6749 5.1), ERR_IO.
 * Messages never hold a token or a secret.
 */
#ifndef OUTPOST_OAUTH_OAUTH_H
#define OUTPOST_OAUTH_OAUTH_H

#include <stddef.h>
#include <stdint.h>

#include "config/conf.h"
#include "util/err.h"

#define OAUTH_TOKEN_MAX 16384        /* an access or refresh token */
#define OAUTH_MARGIN_MAX_S 600       /* refresh 10 minutes before expiry */
#define OAUTH_BACKOFF_MIN_S 5
#define OAUTH_BACKOFF_MAX_S 300
#define OAUTH_COMMAND_CACHE_S 300    /* a command's token is reused this long */
#define OAUTH_PENDING_TTL_S 600      /* a started sign-in is valid this long */
#define OAUTH_PENDING_MAX 64         /* started sign-ins kept at once */
#define OAUTH_STATE_LEN 43           /* base64url of 32 random bytes */
#define OAUTH_HTTP_TIMEOUT_S 30

/* Set the data directory (copied).  Call once before anything else; again
 * to change it (tests).  Creates nothing until a token is stored. */
int oauth_init(const char *data_dir, struct op_err *e);
/* Forget every cached token and pending sign-in (wiped). */
void oauth_shutdown(void);

/* ---- for delivery ---- */

/*
 * A usable access token for profile p (auth = oauth2): the cached one when
 * it has more than the margin left, else a fresh one from the grant (one
 * request per profile however many callers wait).  *token is malloc'ed;
 * free it with oauth_token_free().  -1 fills e (see the errors above); the
 * profile's status then carries the same message.
 */
int oauth_token_get(const struct conf_profile *p, char **token,
    struct op_err *e);
/* The server refused token: forget it (only if it is still the cached one,
 * so many connections refused at once cause one refresh). */
void oauth_token_refused(const struct conf_profile *p, const char *token);
void oauth_token_free(char *token);

/* ---- status, for `oauth status`, the API and the page ---- */

struct oauth_status {
	int signed_in;          /* a refresh token (authorization_code) or a
	                         * valid access token (other grants) is held */
	int needs_signin;       /* authorization_code without a usable
	                         * refresh token: someone must sign in */
	int64_t expires;        /* the access token's expiry, UNIX seconds;
	                         * 0 if none is held */
	char grant[24];         /* authorization_code | client_credentials |
	                         * command */
	char error[ERR_MSG_MAX]; /* the last failure, "" if none */
};

/* Status of p from memory and the store (no request is made). */
void oauth_status_get(const struct conf_profile *p, struct oauth_status *st);

/* Remove p's tokens (store and memory). */
int oauth_logout(const struct conf_profile *p, struct op_err *e);

/* ---- signing in (authorization_code) ---- */

/*
 * Start a sign-in for p: a fresh state (OAUTH_STATE_LEN characters,
 * base64url) and PKCE verifier are kept in memory for OAUTH_PENDING_TTL_S,
 * with redirect_uri and binding (a value of the caller's that must come
 * back with the redirect: the page's session, or "cli").  *url is the
 * authorize URL to open (malloc'ed, caller frees); state is copied to
 * state (at least OAUTH_STATE_LEN + 1 bytes) if not NULL.
 */
int oauth_auth_start(const struct conf_profile *p, const char *redirect_uri,
    const char *binding, char **url, char *state, size_t statesz,
    struct op_err *e);

/*
 * Finish the sign-in that state started: checks the state (known, not
 * expired, used once) and the binding, trades code (with the PKCE
 * verifier and the same redirect_uri) for tokens at p's token endpoint
 * (p from c, by the name kept with the state) and stores them.  The
 * profile's name is copied to profile (may be NULL).
 */
int oauth_auth_complete(const struct conf *c, const char *state,
    const char *code, const char *binding, char *profile, size_t profilesz,
    struct op_err *e);

/* The provider sent ?error=...: forget the pending sign-in of state and
 * record the provider's error text (sanitised) on its profile. */
void oauth_auth_abort(const char *state, const char *error,
    const char *description);

/*
 * The device code flow (RFC 8628): asks p's device endpoint for a code,
 * calls show(arg, verification_uri, user_code) once, then polls the token
 * endpoint at the server's interval (slow_down adds 5 s) until the person
 * has signed in, the code expires or the server refuses.  Blocking.
 */
int oauth_device_login(const struct conf_profile *p,
    void (*show)(void *arg, const char *uri, const char *user_code),
    void *arg, struct op_err *e);

/* ---- pieces, exposed for tests ---- */

/* PKCE (RFC 7636 4.1, 4.2): a 43-character verifier of base64url random
 * bytes, and its S256 challenge (base64url without padding of SHA-256). */
int oauth_pkce_verifier(char *out, size_t outsz, struct op_err *e);
int oauth_pkce_challenge(const char *verifier, char *out, size_t outsz,
    struct op_err *e);

/* The refresh margin in seconds for a token that lived lifetime_s. */
int64_t oauth_margin_s(int64_t lifetime_s);

#endif
