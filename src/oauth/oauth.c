/*
 * oauth.c - tokens: cache and single flight, the grants, the store
 * (oauth.h says who owns what and the store's layout).
 */
#include "oauth/oauth.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config/conf_secret.h"
#include "util/buf.h"
#include "util/http_client.h"
#include "util/log.h"
#include "util/net.h"

#define FORM_MAX (64 * 1024)
#define URL_MAX (16 * 1024)
#define BINDING_MAX 1024

/* One profile's state in this process. */
struct entry {
	struct entry *next;
	char *name;
	char *binding;          /* host|tenant|client id the token is for */
	char *token;            /* access token, or NULL */
	int64_t expires;        /* wall seconds; 0 = unknown (command) */
	int64_t obtained;       /* wall seconds */
	char *refused;          /* the last token a server refused */
	int refreshing;         /* a request is under way */
	pthread_cond_t done;
	int64_t backoff_until;  /* wall seconds */
	unsigned failures;
	int needs_signin;
	char error[ERR_MSG_MAX];
};

/* A sign-in started and not finished. */
struct pending {
	char state[OAUTH_STATE_LEN + 1];
	char verifier[64];
	char *redirect_uri;
	char *binding;
	char *profile;
	int64_t created;        /* wall seconds; 0 = free slot */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *data_dir;
static struct entry *entries;
static struct pending pendings[OAUTH_PENDING_MAX];

static int64_t
now_s(void)
{
	return (int64_t)time(NULL);
}

static void
wipe_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void
oauth_token_free(char *token)
{
	wipe_free(token);
}

int
oauth_init(const char *dir, struct op_err *e)
{
	if (dir == NULL || dir[0] == '\0')
		return err_set(e, ERR_CONFIG, "no data directory for OAuth2 tokens");
	pthread_mutex_lock(&lock);
	free(data_dir);
	data_dir = str_dup(dir);
	pthread_mutex_unlock(&lock);
	return 0;
}

static void
pending_clear(struct pending *pd)
{
	explicit_bzero(pd->verifier, sizeof(pd->verifier));
	free(pd->redirect_uri);
	free(pd->binding);
	free(pd->profile);
	memset(pd, 0, sizeof(*pd));
}

void
oauth_shutdown(void)
{
	struct entry *en, *next;
	size_t i;

	pthread_mutex_lock(&lock);
	for (en = entries; en != NULL; en = next) {
		next = en->next;
		free(en->name);
		free(en->binding);
		wipe_free(en->token);
		wipe_free(en->refused);
		pthread_cond_destroy(&en->done);
		free(en);
	}
	entries = NULL;
	for (i = 0; i < OAUTH_PENDING_MAX; i++)
		pending_clear(&pendings[i]);
	pthread_mutex_unlock(&lock);
}

int64_t
oauth_margin_s(int64_t lifetime_s)
{
	int64_t m = lifetime_s / 4;

	return m < OAUTH_MARGIN_MAX_S ? m : OAUTH_MARGIN_MAX_S;
}

/* ---- base64url, PKCE ---- */

static void
b64url(const unsigned char *in, size_t n, char *out, size_t outsz)
{
	char tmp[128];
	int len;
	size_t i, j = 0;

	len = EVP_EncodeBlock((unsigned char *)tmp, in, (int)n);
	for (i = 0; i < (size_t)len && j + 1 < outsz; i++) {
		if (tmp[i] == '=')
			break;
		out[j++] = tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_' : tmp[i];
	}
	out[j] = '\0';
}

static int
random_b64url(char *out, size_t outsz, struct op_err *e)
{
	unsigned char r[32];

	if (outsz < OAUTH_STATE_LEN + 1)
		return err_set(e, ERR_SOFTWARE, "buffer too small");
	if (rand_bytes(r, sizeof(r), e) < 0)
		return -1;
	b64url(r, sizeof(r), out, outsz);
	explicit_bzero(r, sizeof(r));
	return 0;
}

int
oauth_pkce_verifier(char *out, size_t outsz, struct op_err *e)
{
	return random_b64url(out, outsz, e);
}

int
oauth_pkce_challenge(const char *verifier, char *out, size_t outsz,
    struct op_err *e)
{
	unsigned char h[SHA256_DIGEST_LENGTH];

	if (outsz < 44)
		return err_set(e, ERR_SOFTWARE, "buffer too small");
	SHA256((const unsigned char *)verifier, strlen(verifier), h);
	b64url(h, sizeof(h), out, outsz);
	return 0;
}

/* ---- the store ---- */

static void
binding_of(const struct conf_profile *p, char *dst, size_t n)
{
	snprintf(dst, n, "%s|%s|%s", p->host != NULL ? p->host : "",
	    p->oauth_tenant != NULL ? p->oauth_tenant : "",
	    p->oauth_client_id != NULL ? p->oauth_client_id : "");
}

struct stored {
	char *refresh;
	char *access;
	int64_t expires;
	int64_t obtained;
	char *error;
};

static void
stored_free(struct stored *s)
{
	wipe_free(s->refresh);
	wipe_free(s->access);
	free(s->error);
	memset(s, 0, sizeof(*s));
}

static int
store_path(const char *name, const char *ext, char *dst, size_t n,
    struct op_err *e)
{
	int rc;

	pthread_mutex_lock(&lock);
	if (data_dir == NULL) {
		pthread_mutex_unlock(&lock);
		return err_set(e, ERR_SOFTWARE, "oauth_init was not called");
	}
	if (name == NULL)
		rc = snprintf(dst, n, "%s/oauth", data_dir);
	else
		rc = snprintf(dst, n, "%s/oauth/%s.%s", data_dir, name, ext);
	pthread_mutex_unlock(&lock);
	if (rc < 0 || (size_t)rc >= n)
		return err_set(e, ERR_CONFIG, "the data directory's path is too long");
	return 0;
}

static int
store_dir(struct op_err *e)
{
	char dir[PATH_MAX];

	char *slash;

	if (store_path(NULL, NULL, dir, sizeof(dir), e) < 0)
		return -1;
	/* data_dir itself, when no daemon has made it yet */
	slash = strrchr(dir, '/');
	*slash = '\0';
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return err_set(e, ERR_IO, "cannot create %s: %s (check data_dir "
		    "and its permissions)", dir, strerror(errno));
	*slash = '/';
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return err_set(e, ERR_IO, "cannot create %s: %s (check data_dir "
		    "and its permissions)", dir, strerror(errno));
	return 0;
}

/* Read p's file into *s (all NULL if none).  A file for another host,
 * tenant or client id is removed. */
static int
store_read(const struct conf_profile *p, struct stored *s, struct op_err *e)
{
	char path[PATH_MAX], want[BINDING_MAX];
	json_t *j = NULL, *v;
	json_error_t je;
	const char *b;

	memset(s, 0, sizeof(*s));
	if (store_path(p->name, "json", path, sizeof(path), e) < 0)
		return -1;
	j = json_load_file(path, 0, &je);
	if (j == NULL) {
		if (access(path, F_OK) < 0)
			return 0;
		return err_set(e, ERR_IO, "cannot read %s: %s (remove it and sign "
		    "in again)", path, je.text);
	}
	binding_of(p, want, sizeof(want));
	b = json_string_value(json_object_get(j, "binding"));
	if (b == NULL || strcmp(b, want) != 0) {
		log_event(LOG_WARN, "oauth_tokens_dropped", "profile", p->name,
		    "reason", "host, tenant or client id changed since the sign-in",
		    NULL);
		unlink(path);
		json_decref(j);
		return 0;
	}
	if ((v = json_object_get(j, "refresh_token")) != NULL && json_is_string(v))
		s->refresh = str_dup(json_string_value(v));
	if ((v = json_object_get(j, "access_token")) != NULL && json_is_string(v))
		s->access = str_dup(json_string_value(v));
	if ((v = json_object_get(j, "expires_at")) != NULL && json_is_integer(v))
		s->expires = json_integer_value(v);
	if ((v = json_object_get(j, "obtained_at")) != NULL && json_is_integer(v))
		s->obtained = json_integer_value(v);
	if ((v = json_object_get(j, "error")) != NULL && json_is_string(v))
		s->error = str_dup(json_string_value(v));
	/* the parsed copy holds the tokens too */
	json_object_clear(j);
	json_decref(j);
	return 0;
}

/* Write s as p's file: 0600, temporary file, fsync, rename, fsync dir. */
static int
store_write(const struct conf_profile *p, const struct stored *s,
    struct op_err *e)
{
	char path[PATH_MAX], tmp[PATH_MAX + 32], dir[PATH_MAX], want[BINDING_MAX];
	json_t *j = json_object();
	char *text = NULL;
	int fd = -1, rc = -1;
	size_t len, off = 0;

	tmp[0] = '\0';
	if (store_dir(e) < 0 || store_path(p->name, "json", path, sizeof(path), e) < 0 ||
	    store_path(NULL, NULL, dir, sizeof(dir), e) < 0)
		goto out;
	binding_of(p, want, sizeof(want));
	json_object_set_new(j, "binding", json_string(want));
	if (s->refresh != NULL)
		json_object_set_new(j, "refresh_token", json_string(s->refresh));
	if (s->access != NULL)
		json_object_set_new(j, "access_token", json_string(s->access));
	if (s->expires > 0) {
		json_object_set_new(j, "expires_at", json_integer(s->expires));
		json_object_set_new(j, "obtained_at", json_integer(s->obtained));
	}
	if (s->error != NULL)
		json_object_set_new(j, "error", json_string(s->error));
	json_object_set_new(j, "updated", json_integer(now_s()));
	text = json_dumps(j, JSON_COMPACT);
	if (text == NULL) {
		err_set(e, ERR_OSERR, "cannot encode the token file");
		goto out;
	}
	/* writers hold store_lock(); the pid keeps another process's
	 * half-written file apart all the same */
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		err_set(e, ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	len = strlen(text);
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err_set(e, ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		err_set(e, ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		err_set(e, ERR_IO, "cannot replace %s: %s", path, strerror(errno));
		goto out;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		(void)fsync(fd);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0 && tmp[0] != '\0')
		unlink(tmp);
	wipe_free(text);
	json_object_clear(j);
	json_decref(j);
	return rc;
}

/* flock() on PROFILE.lock: one refresh at a time across processes. */
static int
store_lock(const struct conf_profile *p, struct op_err *e)
{
	char path[PATH_MAX];
	int fd;

	if (store_dir(e) < 0 || store_path(p->name, "lock", path, sizeof(path), e) < 0)
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return err_set(e, ERR_IO, "cannot open %s: %s", path, strerror(errno));
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			close(fd);
			return err_set(e, ERR_IO, "cannot lock %s: %s", path,
			    strerror(errno));
		}
	}
	return fd;
}

static void
store_unlock(int fd)
{
	if (fd >= 0) {
		flock(fd, LOCK_UN);
		close(fd);
	}
}

/* ---- token endpoint ---- */

/* What to tell a person about a refused grant. */
static const char *
grant_hint(const char *error, const char *desc)
{
	static const struct {
		const char *needle;
		const char *cause;
	} hints[] = {
		{ "AADSTS700082", "the refresh token expired after 90 days without "
		  "use" },
		{ "AADSTS70043", "a sign-in frequency policy (Conditional Access) "
		  "of the tenant ended the session" },
		{ "AADSTS50173", "the grant was revoked (a password change or a "
		  "revocation of the sessions)" },
		{ "AADSTS70000", "the grant is not valid for this app or scope "
		  "(consent given by another account?)" },
		{ "AADSTS65001", "the user or an administrator has not consented "
		  "to the app" },
		{ "AADSTS7000215", "the client secret is wrong or has expired: "
		  "create a new one" },
		{ "expired or revoked", "the token was revoked or has expired; a "
		  "Google app whose publishing status is \"Testing\" gets refresh "
		  "tokens that die after 7 days: publish the app (OAuth consent "
		  "screen)" },
	};
	size_t i;

	for (i = 0; i < sizeof(hints) / sizeof(hints[0]); i++)
		if (desc != NULL && strstr(desc, hints[i].needle) != NULL)
			return hints[i].cause;
	if (error != NULL && strcmp(error, "invalid_grant") == 0)
		return "the grant is no longer valid (revoked, expired, or the "
		    "consent was given by another account than the username)";
	if (error != NULL && strcmp(error, "invalid_client") == 0)
		return "the client id or client secret is wrong";
	return NULL;
}

/*
 * POST form to url; on 200 with an access_token, *out is the JSON.  On a
 * refusal, e says why (ERR_NOPERM for invalid_grant / invalid_client /
 * unauthorized_client, ERR_TEMP otherwise) and *errcode holds the OAuth2
 * error ("" if none).
 */
static int
token_post(const struct conf_profile *p, const char *url, const char *form,
    json_t **out, char *errcode, size_t errcodesz, struct op_err *e)
{
	struct http_reply r;
	json_error_t je;
	json_t *j = NULL;
	const char *error, *desc;
	char sdesc[300] = "", serr[64] = "";
	const char *hint;
	int rc = -1;

	*out = NULL;
	if (errcode != NULL)
		errcode[0] = '\0';
	if (http_post_form(url, form, p->tls_ca_file, OAUTH_HTTP_TIMEOUT_S, &r, e) < 0)
		return -1;
	j = json_loadb(r.body, r.len, 0, &je);
	if (j == NULL || !json_is_object(j)) {
		err_set(e, r.status >= 500 ? ERR_TEMP : ERR_PROTOCOL, "the token "
		    "endpoint %s answered HTTP %ld without a JSON object", url,
		    r.status);
		goto out;
	}
	error = json_string_value(json_object_get(j, "error"));
	if (r.status == 200 && error == NULL &&
	    json_is_string(json_object_get(j, "access_token"))) {
		const char *rt = json_string_value(json_object_get(j,
		    "refresh_token"));

		if (strlen(json_string_value(json_object_get(j,
		    "access_token"))) > OAUTH_TOKEN_MAX ||
		    (rt != NULL && strlen(rt) > OAUTH_TOKEN_MAX)) {
			err_set(e, ERR_PROTOCOL, "the token endpoint returned a "
			    "token longer than %d bytes: check oauth_token_url",
			    OAUTH_TOKEN_MAX);
			goto out;
		}
		*out = j;
		j = NULL;
		rc = 0;
		goto out;
	}
	desc = json_string_value(json_object_get(j, "error_description"));
	log_sanitize(serr, sizeof(serr), error != NULL ? error : "");
	log_sanitize(sdesc, sizeof(sdesc), desc != NULL ? desc : "");
	if (errcode != NULL)
		str_copy(errcode, errcodesz, serr);
	hint = grant_hint(error, desc);
	err_set(e, error != NULL && (strcmp(error, "invalid_grant") == 0 ||
	    strcmp(error, "invalid_client") == 0 ||
	    strcmp(error, "unauthorized_client") == 0) ? ERR_NOPERM : ERR_TEMP,
	    "the token endpoint refused (HTTP %ld%s%s%s%s)%s%s", r.status,
	    serr[0] ? ": " : "", serr, sdesc[0] ? ": " : "", sdesc,
	    hint != NULL ? ": " : "", hint != NULL ? hint : "");
out:
	if (j != NULL) {
		json_object_clear(j);
		json_decref(j);
	}
	http_reply_free(&r);
	return rc;
}

/* Append "&key=value" (escaped) to b. */
static int
form_add(struct buf *b, const char *key, const char *value, struct op_err *e)
{
	if (value == NULL)
		return 0;
	if (buf_printf(b, e, "%s%s=", b->len > 0 ? "&" : "", key) < 0)
		return -1;
	return http_form_escape(b, value, e);
}

static void
form_free(struct buf *b)
{
	if (b->data != NULL)
		explicit_bzero(b->data, b->len);
	buf_free(b);
}

/* The access token, expiry and refresh token of a token reply. */
static void
take_tokens(json_t *j, struct stored *s)
{
	json_t *v = json_object_get(j, "expires_in");
	const char *rt = json_string_value(json_object_get(j, "refresh_token"));
	int64_t in = 3600;

	wipe_free(s->access);
	s->access = str_dup(json_string_value(json_object_get(j, "access_token")));
	if (json_is_integer(v))
		in = json_integer_value(v);
	else if (json_is_string(v))
		in = strtoll(json_string_value(v), NULL, 10);
	if (in <= 0)
		in = 60;
	s->obtained = now_s();
	s->expires = s->obtained + in;
	if (rt != NULL && rt[0] != '\0') {
		wipe_free(s->refresh);
		s->refresh = str_dup(rt);
	}
	free(s->error);
	s->error = NULL;
}

static void
msg_signin(const struct conf_profile *p, struct op_err *e, const char *why)
{
	err_set(e, ERR_NOPERM, "profile %s is not signed in%s%s: sign in with "
	    "`outpost oauth login %s` (or the page's Sign in button)", p->name,
	    why != NULL ? ": " : "", why != NULL ? why : "", p->name);
}

/*
 * A fresh token for p by its grant (no lock held; the caller is the single
 * flight).  refused: a token not to hand out again.  Fills *token,
 * *expires (0 unknown), *obtained.
 */
static int
fetch(const struct conf_profile *p, const char *refused, char **token,
    int64_t *expires, int64_t *obtained, int *needs_signin, struct op_err *e)
{
	struct buf form;
	struct stored s;
	json_t *j = NULL;
	char code[64];
	int fd = -1, rc = -1;

	*token = NULL;
	*expires = 0;
	*obtained = now_s();
	*needs_signin = 0;
	memset(&s, 0, sizeof(s));
	buf_init(&form, FORM_MAX);
	switch (p->oauth_grant) {
	case CONF_GRANT_COMMAND:
		if (conf_secret_command_max(p->oauth_token_command,
		    CONF_COMMAND_TIMEOUT_MS, OAUTH_TOKEN_MAX, token, e) < 0)
			goto out;
		*expires = now_s() + OAUTH_COMMAND_CACHE_S;
		rc = 0;
		goto out;
	case CONF_GRANT_CLIENT_CREDENTIALS:
		if (form_add(&form, "grant_type", "client_credentials", e) < 0 ||
		    form_add(&form, "client_id", p->oauth_client_id, e) < 0 ||
		    form_add(&form, "client_secret", p->oauth_client_secret, e) < 0 ||
		    form_add(&form, "scope", p->oauth_scope, e) < 0)
			goto out;
		if (token_post(p, p->oauth_token_url, form.data, &j, code,
		    sizeof(code), e) < 0)
			goto out;
		take_tokens(j, &s);
		*token = s.access;
		s.access = NULL;
		*expires = s.expires;
		rc = 0;
		goto out;
	default:
		break;
	}
	/* authorization_code: the refresh token from the store */
	if ((fd = store_lock(p, e)) < 0 || store_read(p, &s, e) < 0)
		goto out;
	/* another process (or an earlier run) got one that is fresh enough */
	if (s.access != NULL && s.error == NULL &&
	    (refused == NULL || strcmp(s.access, refused) != 0) &&
	    s.expires - now_s() > oauth_margin_s(s.expires - s.obtained)) {
		*token = s.access;
		s.access = NULL;
		*expires = s.expires;
		*obtained = s.obtained;
		rc = 0;
		goto out;
	}
	if (s.refresh == NULL) {
		*needs_signin = 1;
		msg_signin(p, e, s.error);
		goto out;
	}
	if (form_add(&form, "grant_type", "refresh_token", e) < 0 ||
	    form_add(&form, "refresh_token", s.refresh, e) < 0 ||
	    form_add(&form, "client_id", p->oauth_client_id, e) < 0 ||
	    form_add(&form, "client_secret", p->oauth_client_secret, e) < 0 ||
	    form_add(&form, "scope", p->oauth_scope, e) < 0)
		goto out;
	if (token_post(p, p->oauth_token_url, form.data, &j, code, sizeof(code),
	    e) < 0) {
		if (e->kind == ERR_NOPERM) {
			struct op_err we;

			/* the refresh token is dead: keep the reason, not it */
			*needs_signin = 1;
			wipe_free(s.refresh);
			s.refresh = NULL;
			wipe_free(s.access);
			s.access = NULL;
			free(s.error);
			s.error = str_dup(e->msg);
			if (store_write(p, &s, &we) < 0)
				log_event(LOG_ERROR, "oauth_store", "profile", p->name,
				    "error", we.msg, NULL);
			msg_signin(p, e, s.error);
		}
		goto out;
	}
	take_tokens(j, &s);
	/* a rotated refresh token is on disk before the access token is used */
	if (store_write(p, &s, e) < 0)
		goto out;
	*token = s.access;
	s.access = NULL;
	*expires = s.expires;
	rc = 0;
out:
	store_unlock(fd);
	if (j != NULL) {
		json_object_clear(j);
		json_decref(j);
	}
	form_free(&form);
	stored_free(&s);
	return rc;
}

/* ---- the cache ---- */

/* p's entry (made if missing), with lock held.  A changed binding resets
 * it. */
static struct entry *
entry_get_locked(const struct conf_profile *p)
{
	char b[BINDING_MAX];
	struct entry *en;

	binding_of(p, b, sizeof(b));
	for (en = entries; en != NULL; en = en->next)
		if (strcmp(en->name, p->name) == 0)
			break;
	if (en == NULL) {
		en = mem_alloc(sizeof(*en));
		en->name = str_dup(p->name);
		en->binding = str_dup(b);
		pthread_cond_init(&en->done, NULL);
		en->next = entries;
		entries = en;
	}
	if (strcmp(en->binding, b) != 0) {
		free(en->binding);
		en->binding = str_dup(b);
		wipe_free(en->token);
		en->token = NULL;
		en->expires = en->obtained = en->backoff_until = 0;
		en->failures = 0;
		en->error[0] = '\0';
	}
	return en;
}

static int
usable_locked(const struct entry *en, int64_t now)
{
	if (en->token == NULL)
		return 0;
	if (en->expires == 0)
		return 1;
	return en->expires - now > oauth_margin_s(en->expires - en->obtained);
}

int
oauth_token_get(const struct conf_profile *p, char **token, struct op_err *e)
{
	struct entry *en;
	char *tok = NULL, *refused = NULL;
	int64_t expires = 0, obtained = 0;
	int needs = 0, rc;
	struct op_err fe;

	*token = NULL;
	if (p->auth != CONF_AUTH_OAUTH2)
		return err_set(e, ERR_CONFIG, "profile %s does not use auth = oauth2",
		    p->name);
	pthread_mutex_lock(&lock);
	en = entry_get_locked(p);
	while (en->refreshing)
		pthread_cond_wait(&en->done, &lock);
	if (usable_locked(en, now_s())) {
		*token = str_dup(en->token);
		pthread_mutex_unlock(&lock);
		return 0;
	}
	if (now_s() < en->backoff_until) {
		rc = err_set(e, en->needs_signin ? ERR_NOPERM : ERR_TEMP, "%s",
		    en->error[0] ? en->error : "waiting before the next token request");
		pthread_mutex_unlock(&lock);
		return rc;
	}
	en->refreshing = 1;
	if (en->refused != NULL)
		refused = str_dup(en->refused);
	pthread_mutex_unlock(&lock);

	err_clear(&fe);
	rc = fetch(p, refused, &tok, &expires, &obtained, &needs, &fe);
	wipe_free(refused);

	pthread_mutex_lock(&lock);
	en->refreshing = 0;
	if (rc == 0) {
		wipe_free(en->token);
		en->token = tok;
		en->obtained = obtained;
		en->expires = expires;
		en->failures = 0;
		en->backoff_until = 0;
		en->needs_signin = 0;
		en->error[0] = '\0';
		*token = str_dup(tok);
	} else {
		unsigned b = OAUTH_BACKOFF_MIN_S;

		en->failures++;
		for (unsigned i = 1; i < en->failures && b < OAUTH_BACKOFF_MAX_S; i++)
			b *= 2;
		if (b > OAUTH_BACKOFF_MAX_S)
			b = OAUTH_BACKOFF_MAX_S;
		/* not signed in: look at the store again soon (a sign-in from
		 * another process ends it) */
		en->backoff_until = now_s() + (needs ? 1 : b);
		en->needs_signin = needs;
		str_copy(en->error, sizeof(en->error), fe.msg);
		*e = fe;
	}
	pthread_cond_broadcast(&en->done);
	pthread_mutex_unlock(&lock);
	log_event(rc == 0 ? LOG_INFO : LOG_WARN, "oauth_token", "profile", p->name,
	    "grant", conf_grant_name(p->oauth_grant),
	    "result", rc == 0 ? "ok" : needs ? "needs_signin" : "failed",
	    "error", rc == 0 ? "-" : fe.msg, NULL);
	return rc;
}

void
oauth_token_refused(const struct conf_profile *p, const char *token)
{
	struct entry *en;

	pthread_mutex_lock(&lock);
	en = entry_get_locked(p);
	if (en->token != NULL && token != NULL && strcmp(en->token, token) == 0) {
		wipe_free(en->token);
		en->token = NULL;
		en->backoff_until = 0;
	}
	wipe_free(en->refused);
	en->refused = token != NULL ? str_dup(token) : NULL;
	pthread_mutex_unlock(&lock);
	log_event(LOG_INFO, "oauth_token_refused", "profile", p->name, NULL);
}

void
oauth_status_get(const struct conf_profile *p, struct oauth_status *st)
{
	struct stored s;
	struct op_err e;
	struct entry *en;

	memset(st, 0, sizeof(*st));
	str_copy(st->grant, sizeof(st->grant), conf_grant_name(p->oauth_grant));
	if (p->auth != CONF_AUTH_OAUTH2)
		return;
	memset(&s, 0, sizeof(s));
	if (p->oauth_grant == CONF_GRANT_AUTHORIZATION_CODE) {
		if (store_read(p, &s, &e) < 0) {
			str_copy(st->error, sizeof(st->error), e.msg);
		} else {
			st->signed_in = s.refresh != NULL;
			st->needs_signin = s.refresh == NULL;
			if (s.access != NULL)
				st->expires = s.expires;
			if (s.error != NULL)
				str_copy(st->error, sizeof(st->error), s.error);
		}
	}
	pthread_mutex_lock(&lock);
	en = entry_get_locked(p);
	if (en->token != NULL) {
		if (p->oauth_grant != CONF_GRANT_AUTHORIZATION_CODE)
			st->signed_in = 1;
		if (en->expires > st->expires)
			st->expires = en->expires;
	}
	/* for authorization_code the store decides whether someone must sign
	 * in: a sign-in by another process (`outpost oauth login`) ends this
	 * process's "not signed in" at once, and its stale message with it */
	if (p->oauth_grant == CONF_GRANT_AUTHORIZATION_CODE && st->signed_in &&
	    en->needs_signin) {
		/* nothing of en's to add */
	} else {
		if (en->error[0] != '\0' && st->error[0] == '\0')
			str_copy(st->error, sizeof(st->error), en->error);
		if (en->needs_signin)
			st->needs_signin = 1;
	}
	pthread_mutex_unlock(&lock);
	stored_free(&s);
}

int
oauth_logout(const struct conf_profile *p, struct op_err *e)
{
	char path[PATH_MAX];
	struct entry *en;

	int fd;

	if (store_path(p->name, "json", path, sizeof(path), e) < 0 ||
	    (fd = store_lock(p, e)) < 0)
		return -1;
	/* under the lock: a refresh running now cannot write the tokens back */
	if (unlink(path) < 0 && errno != ENOENT) {
		err_set(e, ERR_IO, "cannot remove %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	pthread_mutex_lock(&lock);
	en = entry_get_locked(p);
	wipe_free(en->token);
	en->token = NULL;
	en->expires = en->backoff_until = 0;
	en->error[0] = '\0';
	pthread_mutex_unlock(&lock);
	log_event(LOG_INFO, "oauth_logout", "profile", p->name, NULL);
	return 0;
}

/* Tokens from a sign-in: stored, and the cache set. */
static int
signed_in(const struct conf_profile *p, json_t *j, struct op_err *e)
{
	struct stored s;
	struct entry *en;
	int fd, rc;

	memset(&s, 0, sizeof(s));
	take_tokens(j, &s);
	if (s.refresh == NULL)
		log_event(LOG_WARN, "oauth_signin", "profile", p->name, "warning",
		    "no refresh token came back: ask for the offline_access scope "
		    "(Microsoft) or access_type=offline (Google)", NULL);
	/* under the lock: a refresh that read the old refresh token and met
	 * invalid_grant cannot write "needs sign-in" over the new one */
	if ((fd = store_lock(p, e)) < 0) {
		rc = -1;
	} else {
		rc = store_write(p, &s, e);
		close(fd);
	}
	if (rc == 0) {
		pthread_mutex_lock(&lock);
		en = entry_get_locked(p);
		wipe_free(en->token);
		en->token = str_dup(s.access);
		en->obtained = s.obtained;
		en->expires = s.expires;
		en->failures = 0;
		en->backoff_until = 0;
		en->needs_signin = 0;
		en->error[0] = '\0';
		pthread_mutex_unlock(&lock);
		log_event(LOG_INFO, "oauth_signin", "profile", p->name, "result",
		    "ok", NULL);
	}
	stored_free(&s);
	return rc;
}

/* ---- sign-in: authorization code with PKCE ---- */

int
oauth_auth_start(const struct conf_profile *p, const char *redirect_uri,
    const char *binding, char **url, char *state, size_t statesz,
    struct op_err *e)
{
	struct pending pd, *slot = NULL;
	char challenge[64];
	struct buf b;
	int64_t now = now_s();
	size_t i;

	*url = NULL;
	if (p->auth != CONF_AUTH_OAUTH2 ||
	    p->oauth_grant != CONF_GRANT_AUTHORIZATION_CODE ||
	    p->oauth_authorize_url == NULL)
		return err_set(e, ERR_CONFIG, "profile %s does not sign in with a "
		    "person (needs auth = oauth2, oauth_grant = authorization_code "
		    "and an authorize endpoint)", p->name);
	memset(&pd, 0, sizeof(pd));
	if (random_b64url(pd.state, sizeof(pd.state), e) < 0 ||
	    oauth_pkce_verifier(pd.verifier, sizeof(pd.verifier), e) < 0 ||
	    oauth_pkce_challenge(pd.verifier, challenge, sizeof(challenge), e) < 0)
		return -1;
	buf_init(&b, URL_MAX);
	if (buf_appendstr(&b, p->oauth_authorize_url, e) < 0 ||
	    buf_appendstr(&b, strchr(p->oauth_authorize_url, '?') ? "&" : "?", e) < 0 ||
	    buf_appendstr(&b, "response_type=code", e) < 0 ||
	    form_add(&b, "client_id", p->oauth_client_id, e) < 0 ||
	    form_add(&b, "redirect_uri", redirect_uri, e) < 0 ||
	    form_add(&b, "scope", p->oauth_scope, e) < 0 ||
	    form_add(&b, "state", pd.state, e) < 0 ||
	    form_add(&b, "code_challenge", challenge, e) < 0 ||
	    form_add(&b, "code_challenge_method", "S256", e) < 0 ||
	    form_add(&b, "login_hint", p->username, e) < 0 ||
	    (strstr(p->oauth_authorize_url, "accounts.google.com") != NULL &&
	    (form_add(&b, "access_type", "offline", e) < 0 ||
	    form_add(&b, "prompt", "consent", e) < 0))) {
		buf_free(&b);
		return -1;
	}
	pthread_mutex_lock(&lock);
	for (i = 0; i < OAUTH_PENDING_MAX; i++) {
		struct pending *q = &pendings[i];

		if (q->created != 0 && now - q->created > OAUTH_PENDING_TTL_S)
			pending_clear(q);
		if (q->created == 0 && slot == NULL)
			slot = q;
	}
	if (slot == NULL) {
		/* full: the oldest goes */
		slot = &pendings[0];
		for (i = 1; i < OAUTH_PENDING_MAX; i++)
			if (pendings[i].created < slot->created)
				slot = &pendings[i];
		pending_clear(slot);
	}
	*slot = pd;
	slot->redirect_uri = str_dup(redirect_uri);
	slot->binding = str_dup(binding != NULL ? binding : "");
	slot->profile = str_dup(p->name);
	slot->created = now;
	pthread_mutex_unlock(&lock);
	if (state != NULL)
		str_copy(state, statesz, pd.state);
	explicit_bzero(&pd, sizeof(pd));
	*url = buf_detach(&b, NULL);
	return 0;
}

/* Take the pending sign-in of state out of the table (copied to out). */
static int
pending_take(const char *state, struct pending *out)
{
	size_t i;
	int found = 0;

	pthread_mutex_lock(&lock);
	for (i = 0; i < OAUTH_PENDING_MAX; i++) {
		struct pending *q = &pendings[i];

		if (q->created != 0 && strlen(state) == strlen(q->state) &&
		    CRYPTO_memcmp(q->state, state, strlen(state)) == 0) {
			*out = *q;
			memset(q, 0, sizeof(*q));
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	return found;
}

int
oauth_auth_complete(const struct conf *c, const char *state,
    const char *code, const char *binding, char *profile, size_t profilesz,
    struct op_err *e)
{
	struct pending pd;
	const struct conf_profile *p;
	struct buf form;
	json_t *j = NULL;
	int rc = -1;

	memset(&pd, 0, sizeof(pd));
	buf_init(&form, FORM_MAX);
	if (state == NULL || code == NULL || !pending_take(state, &pd)) {
		err_set(e, ERR_NOPERM, "this sign-in is unknown or was already "
		    "used (state does not match): start it again");
		goto out;
	}
	if (profile != NULL)
		str_copy(profile, profilesz, pd.profile);
	if (now_s() - pd.created > OAUTH_PENDING_TTL_S) {
		err_set(e, ERR_NOPERM, "this sign-in took longer than %d minutes: "
		    "start it again", OAUTH_PENDING_TTL_S / 60);
		goto out;
	}
	if (strcmp(pd.binding, binding != NULL ? binding : "") != 0) {
		err_set(e, ERR_NOPERM, "this sign-in was started by another session: "
		    "start it again from this browser");
		goto out;
	}
	p = conf_profile_find(c, pd.profile);
	if (p == NULL || p->auth != CONF_AUTH_OAUTH2 || p->oauth_token_url == NULL) {
		err_set(e, ERR_CONFIG, "profile %s no longer signs in with OAuth2",
		    pd.profile);
		goto out;
	}
	if (form_add(&form, "grant_type", "authorization_code", e) < 0 ||
	    form_add(&form, "code", code, e) < 0 ||
	    form_add(&form, "redirect_uri", pd.redirect_uri, e) < 0 ||
	    form_add(&form, "client_id", p->oauth_client_id, e) < 0 ||
	    form_add(&form, "client_secret", p->oauth_client_secret, e) < 0 ||
	    form_add(&form, "code_verifier", pd.verifier, e) < 0)
		goto out;
	if (token_post(p, p->oauth_token_url, form.data, &j, NULL, 0, e) < 0)
		goto out;
	rc = signed_in(p, j, e);
out:
	if (j != NULL) {
		json_object_clear(j);
		json_decref(j);
	}
	form_free(&form);
	pending_clear(&pd);
	return rc;
}

void
oauth_auth_abort(const char *state, const char *error, const char *description)
{
	struct pending pd;
	char se[64], sd[300];
	struct entry *en;

	memset(&pd, 0, sizeof(pd));
	if (state == NULL || !pending_take(state, &pd))
		return;
	log_sanitize(se, sizeof(se), error != NULL ? error : "error");
	log_sanitize(sd, sizeof(sd), description != NULL ? description : "");
	pthread_mutex_lock(&lock);
	for (en = entries; en != NULL; en = en->next)
		if (strcmp(en->name, pd.profile) == 0)
			snprintf(en->error, sizeof(en->error), "the sign-in was "
			    "refused by the provider: %s%s%s", se, sd[0] ? ": " : "", sd);
	pthread_mutex_unlock(&lock);
	log_event(LOG_WARN, "oauth_signin", "profile", pd.profile, "result",
	    "refused", "error", se, NULL);
	pending_clear(&pd);
}

/* ---- sign-in: device code (RFC 8628) ---- */

int
oauth_device_login(const struct conf_profile *p,
    void (*show)(void *arg, const char *uri, const char *user_code),
    void *arg, struct op_err *e)
{
	struct http_reply r;
	struct buf form;
	json_t *j = NULL, *t = NULL;
	json_error_t je;
	const char *dc, *uc, *uri;
	char *device_code = NULL, code[64];
	int64_t interval = 5, deadline;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	buf_init(&form, FORM_MAX);
	if (p->auth != CONF_AUTH_OAUTH2 ||
	    p->oauth_grant != CONF_GRANT_AUTHORIZATION_CODE) {
		err_set(e, ERR_CONFIG, "profile %s does not sign in with a person "
		    "(auth = oauth2, oauth_grant = authorization_code)", p->name);
		goto out;
	}
	if (p->oauth_device_url == NULL) {
		err_set(e, ERR_CONFIG, "profile %s has no device code endpoint%s; "
		    "sign in without --device (the URL opens in a browser)", p->name,
		    p->provider != NULL && strncmp(p->provider, "g", 1) == 0 ?
		    " (Google refuses the device flow for the Gmail scope)" : 
		    " (set oauth_device_url)");
		goto out;
	}
	if (form_add(&form, "client_id", p->oauth_client_id, e) < 0 ||
	    form_add(&form, "scope", p->oauth_scope, e) < 0)
		goto out;
	if (http_post_form(p->oauth_device_url, form.data, p->tls_ca_file,
	    OAUTH_HTTP_TIMEOUT_S, &r, e) < 0)
		goto out;
	j = json_loadb(r.body, r.len, 0, &je);
	dc = json_string_value(json_object_get(j, "device_code"));
	uc = json_string_value(json_object_get(j, "user_code"));
	uri = json_string_value(json_object_get(j, "verification_uri"));
	if (uri == NULL)
		uri = json_string_value(json_object_get(j, "verification_url"));
	if (r.status != 200 || dc == NULL || uc == NULL || uri == NULL) {
		char sd[300];

		log_sanitize(sd, sizeof(sd), json_string_value(json_object_get(j,
		    "error_description")) != NULL ? json_string_value(
		    json_object_get(j, "error_description")) : "no device code");
		err_set(e, ERR_NOPERM, "the device endpoint refused (HTTP %ld): %s",
		    r.status, sd);
		goto out;
	}
	if (json_is_integer(json_object_get(j, "interval")))
		interval = json_integer_value(json_object_get(j, "interval"));
	if (interval < 1 || interval > 60)
		interval = 5;
	deadline = now_s() + (json_is_integer(json_object_get(j, "expires_in")) ?
	    json_integer_value(json_object_get(j, "expires_in")) : 900);
	device_code = str_dup(dc);
	show(arg, uri, uc);
	for (;;) {
		struct timespec ts = { (time_t)interval, 0 };

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		if (now_s() > deadline) {
			err_set(e, ERR_TEMP, "the code expired before the sign-in "
			    "finished: run the command again");
			goto out;
		}
		buf_reset(&form);
		if (form_add(&form, "grant_type",
		    "urn:ietf:params:oauth:grant-type:device_code", e) < 0 ||
		    form_add(&form, "device_code", device_code, e) < 0 ||
		    form_add(&form, "client_id", p->oauth_client_id, e) < 0 ||
		    form_add(&form, "client_secret", p->oauth_client_secret, e) < 0)
			goto out;
		if (token_post(p, p->oauth_token_url, form.data, &t, code,
		    sizeof(code), e) == 0)
			break;
		if (strcmp(code, "authorization_pending") == 0)
			continue;
		if (strcmp(code, "slow_down") == 0) {
			interval += 5;
			continue;
		}
		goto out;
	}
	rc = signed_in(p, t, e);
out:
	if (t != NULL) {
		json_object_clear(t);
		json_decref(t);
	}
	if (j != NULL) {
		json_object_clear(j);          /* it holds the device code */
		json_decref(j);
	}
	http_reply_free(&r);
	form_free(&form);
	wipe_free(device_code);
	return rc;
}
