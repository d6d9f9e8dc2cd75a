/*
 * api_oauth.c - OAuth2 sign-in from the web page (docs/http.md, "OAuth2
 * sign-in"), the profiles' "oauth" status and the OAuth2 gauges of
 * GET /metrics.
 *
 *   POST /api/profiles/{name}/oauth/start   {"authorize_url", "redirect_uri"}
 *   GET  /oauth/callback?state=&code=       (or ?state=&error=&error_description=)
 *
 * The page's session cookie is SameSite=Strict: a browser does not send it
 * on the provider's redirect back (a cross-site navigation), so the
 * callback is public and the sign-in is bound to the browser that started
 * it another way: oauth/start (an authenticated request) sets a random
 * value in a short-lived cookie, HTTP_OAUTH_COOKIE (HttpOnly,
 * SameSite=Lax so it does come back on that top-level navigation, Path
 * /oauth/callback so no other request carries it), and the value is kept
 * with the state (oauth_auth_start's binding).  The callback completes the
 * sign-in only when the state is known, unused, not expired and the
 * cookie's value matches; PKCE (S256) is the oauth module's.
 *
 * The redirect URI is http://HOST/oauth/callback (https:// when the page
 * is served over TLS) with HOST the Host the page was opened on; every request's Host has already been checked
 * against the listen address and [server] http_allowed_hosts.
 */
#include "http/http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/conf.h"
#include "oauth/oauth.h"
#include "util/log.h"
#include "util/metrics.h"

#define HTTP_OAUTH_COOKIE "outpost_oauth"
#define CALLBACK_PATH "/oauth/callback"
#define REDIRECT_URI_MAX (HTTP_HOST_MAX + 32)
#define PAGE_MAX 4096

json_t *
http_oauth_status_json(const struct conf_profile *p)
{
	struct oauth_status st;
	json_t *j;

	if (p->auth != CONF_AUTH_OAUTH2)
		return NULL;
	oauth_status_get(p, &st);
	j = json_object();
	json_object_set_new(j, "signed_in", json_boolean(st.signed_in));
	json_object_set_new(j, "needs_signin", json_boolean(st.needs_signin));
	json_object_set_new(j, "expires", st.expires > 0 ?
	    json_integer((json_int_t)st.expires) : json_null());
	json_object_set_new(j, "error", st.error[0] != '\0' ?
	    http_jstr(st.error) : json_null());
	json_object_set_new(j, "grant", json_string(st.grant));
	return j;
}

/* ---- POST /api/profiles/{name}/oauth/start ---- */

void
http_api_oauth_start(struct http_req *r)
{
	char nonce[HTTP_ID_HEX + 1];
	char uri[REDIRECT_URI_MAX];
	const char *host = http_header(r, MHD_HTTP_HEADER_HOST);
	const struct conf *c;
	const struct conf_profile *p;
	char *url = NULL;
	struct op_err e;
	int rc;

	/* a random value for the cookie: a session id's way of making one */
	if (http_session_nonce(nonce, &e) < 0) {
		http_reply_error(r, 500, "%s", e.msg);
		return;
	}
	if (host == NULL || snprintf(uri, sizeof(uri), "%s://%s%s",
	    r->srv->tls ? "https" : "http", host, CALLBACK_PATH) >= (int)sizeof(uri)) {
		http_reply_error(r, 400, "the Host header is missing or too long");
		return;
	}
	c = http_conf_get(r);
	p = conf_profile_find(c, r->param[0]);
	if (p == NULL) {
		http_conf_put(r, c);
		http_reply_error(r, 404, "no profile called %s", r->param[0]);
		return;
	}
	rc = oauth_auth_start(p, uri, nonce, &url, NULL, 0, &e);
	http_conf_put(r, c);
	if (rc < 0) {
		http_reply_error(r, e.kind == ERR_CONFIG ? 409 : 500, "%s", e.msg);
		explicit_bzero(nonce, sizeof(nonce));
		return;
	}
	snprintf(r->set_cookie, sizeof(r->set_cookie),
	    "%s=%s; Path=%s; HttpOnly; SameSite=Lax; Max-Age=%d%s",
	    HTTP_OAUTH_COOKIE, nonce, CALLBACK_PATH, OAUTH_PENDING_TTL_S,
	    r->srv->tls ? "; Secure" : "");
	explicit_bzero(nonce, sizeof(nonce));
	log_event(LOG_INFO, "http_oauth_start", "profile", r->param[0], NULL);
	http_reply_json(r, 200, json_pack("{s:s,s:s}", "authorize_url", url,
	    "redirect_uri", uri));
	free(url);
}

/* ---- GET /oauth/callback ---- */

/* s with & < > " ' as entities (and anything that is not printable
 * sanitised first), appended to b. */
static void
html_text(struct buf *b, const char *s)
{
	char clean[ERR_MSG_MAX];
	const char *p;

	log_sanitize(clean, sizeof(clean), s);
	for (p = clean; *p != '\0'; p++) {
		switch (*p) {
		case '&': buf_appendstr(b, "&amp;", NULL); break;
		case '<': buf_appendstr(b, "&lt;", NULL); break;
		case '>': buf_appendstr(b, "&gt;", NULL); break;
		case '"': buf_appendstr(b, "&quot;", NULL); break;
		case '\'': buf_appendstr(b, "&#39;", NULL); break;
		default: buf_append(b, p, 1, NULL); break;
		}
	}
}

/* The small page the browser lands on: title, one sentence, a link back. */
static void
reply_page(struct http_req *r, unsigned status, const char *title,
    const char *profile, const char *text)
{
	struct buf b;
	char *out;
	size_t len;

	buf_init(&b, PAGE_MAX);
	buf_appendstr(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><meta name=\"viewport\" "
	    "content=\"width=device-width, initial-scale=1\"><title>", NULL);
	html_text(&b, title);
	buf_appendstr(&b, " - Outpost</title><link rel=\"icon\" href=\"/icon.svg\" "
	    "type=\"image/svg+xml\"><link rel=\"stylesheet\" "
	    "href=\"/style.css\"></head><body><main class=\"callback\">"
	    "<h1 id=\"oauth-result\" data-ok=\"", NULL);
	buf_appendstr(&b, status == 200 ? "yes" : "no", NULL);
	buf_appendstr(&b, "\">", NULL);
	html_text(&b, title);
	buf_appendstr(&b, "</h1>", NULL);
	if (profile != NULL && profile[0] != '\0') {
		buf_appendstr(&b, "<p>Profile <strong>", NULL);
		html_text(&b, profile);
		buf_appendstr(&b, "</strong></p>", NULL);
	}
	buf_appendstr(&b, "<p id=\"oauth-detail\">", NULL);
	html_text(&b, text);
	buf_appendstr(&b, "</p><p><a class=\"button\" href=\"/\">Back to "
	    "Outpost</a></p></main></body></html>\n", NULL);
	out = buf_detach(&b, &len);
	if (out == NULL) {
		http_reply_error(r, 500, "out of memory");
		return;
	}
	http_reply_owned(r, status, "text/html; charset=utf-8", out, len);
}

void
http_api_oauth_callback(struct http_req *r)
{
	const char *state = http_query(r, "state");
	const char *code = http_query(r, "code");
	const char *error = http_query(r, "error");
	const char *desc = http_query(r, "error_description");
	const char *cookie = mhd.lookup_connection_value(r->conn, MHD_COOKIE_KIND,
	    HTTP_OAUTH_COOKIE);
	char profile[HTTP_PARAM_MAX] = "", text[ERR_MSG_MAX];
	const struct conf *c;
	struct op_err e;
	int rc;

	/* the cookie has done its job, whatever happens */
	snprintf(r->set_cookie, sizeof(r->set_cookie),
	    "%s=; Path=%s; HttpOnly; SameSite=Lax; Max-Age=0", HTTP_OAUTH_COOKIE,
	    CALLBACK_PATH);
	if (error != NULL) {
		char se[64], sd[300];

		log_sanitize(se, sizeof(se), error);
		log_sanitize(sd, sizeof(sd), desc != NULL ? desc : "");
		if (state != NULL)
			oauth_auth_abort(state, error, desc);
		snprintf(text, sizeof(text), "The provider refused the sign-in: "
		    "%s%s%s. Check the account you chose and the app's "
		    "permissions, then sign in again from the page.", se,
		    sd[0] ? ": " : "", sd);
		reply_page(r, 400, "Sign-in failed", NULL, text);
		return;
	}
	if (state == NULL || code == NULL) {
		reply_page(r, 400, "Sign-in failed", NULL, "This address needs the "
		    "state and code the provider adds when it sends you back; "
		    "start the sign-in again from the page.");
		return;
	}
	if (cookie == NULL) {
		log_event(LOG_WARN, "http_oauth_callback", "result", "refused",
		    "reason", "no sign-in cookie", NULL);
		reply_page(r, 403, "Sign-in failed", NULL, "This browser did not "
		    "start this sign-in (its cookie is missing): start it again "
		    "from the page, in this browser.");
		return;
	}
	c = http_conf_get(r);
	rc = oauth_auth_complete(c, state, code, cookie, profile, sizeof(profile),
	    &e);
	http_conf_put(r, c);
	if (rc < 0) {
		log_event(LOG_WARN, "http_oauth_callback", "profile",
		    profile[0] ? profile : "-", "result", "failed", "error", e.msg,
		    NULL);
		reply_page(r, e.kind == ERR_NOPERM ? 403 : 502, "Sign-in failed",
		    profile, e.msg);
		return;
	}
	log_event(LOG_INFO, "http_oauth_callback", "profile", profile, "result",
	    "signed_in", NULL);
	if (r->srv->deps.oauth_signed_in != NULL)
		r->srv->deps.oauth_signed_in(r->srv->deps.arg);
	snprintf(text, sizeof(text), "Signed in: profile %s can send mail now; "
	    "mail that waited for the sign-in goes out.", profile);
	reply_page(r, 200, "Signed in", profile, text);
}

/* ---- GET /metrics: one gauge pair per OAuth2 profile ---- */

int
http_oauth_metrics(struct http_req *r, struct buf *out, struct op_err *e)
{
	const struct conf *c = http_conf_get(r);
	const char **names = NULL;
	int64_t *signed_in = NULL, *expiry = NULL;
	size_t i, n = 0;
	int rc = -1;

	names = mem_alloc((c->nprofiles ? c->nprofiles : 1) * sizeof(*names));
	signed_in = mem_alloc((c->nprofiles ? c->nprofiles : 1) * sizeof(*signed_in));
	expiry = mem_alloc((c->nprofiles ? c->nprofiles : 1) * sizeof(*expiry));
	for (i = 0; i < c->nprofiles; i++) {
		const struct conf_profile *p = &c->profiles[i];
		struct oauth_status st;

		if (p->auth != CONF_AUTH_OAUTH2)
			continue;
		oauth_status_get(p, &st);
		names[n] = p->name;
		signed_in[n] = st.signed_in && !st.needs_signin;
		expiry[n] = st.expires;
		n++;
	}
	if (metrics_render_gauge(out, "outpost_oauth_signed_in",
	    "1 if the OAuth2 profile holds a usable sign-in or token, 0 if it "
	    "needs one (mail waits), by profile.", "profile", names, signed_in,
	    n, e) < 0 ||
	    metrics_render_gauge(out, "outpost_oauth_token_expiry_seconds",
	    "Unix time the OAuth2 access token of the profile expires (0: none "
	    "held), by profile.", "profile", names, expiry, n, e) < 0)
		goto out;
	rc = 0;
out:
	http_conf_put(r, c);
	free(names);
	free(signed_in);
	free(expiry);
	return rc;
}
