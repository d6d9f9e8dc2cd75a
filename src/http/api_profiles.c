/*
 * api_profiles.c - the settings over HTTP: profiles and redirect.
 *
 *   GET    /api/profiles                  {"profiles": [...], "version"}
 *   GET    /api/profiles/{name}           {"profile": {...}, "version"}
 *   PUT    /api/profiles/{name}           create (201) or update (200)
 *   DELETE /api/profiles/{name}           204
 *   POST   /api/profiles/order            {"order": [names]}
 *   GET    /api/redirect, PUT /api/redirect
 *                 {"enabled": bool, "reports": [{"email", "enabled"}]}
 *
 * Reads show the settings in effect (the daemon's loaded conf).  Writes
 * edit outpost.conf in place (config/conf_edit.h: comments and everything
 * not changed stay byte for byte), check the edited text with the loader
 * itself (conf_load_text: exactly `outpost config check`), and only then
 * save it atomically and have the daemon reload it.  Any problem: 422 with
 * per-field errors, and the file is untouched.
 *
 * "version" (also the ETag) identifies one write of the file on disk
 * (see version_of(): never derived from a secret); a write that sends
 * If-Match with an older version gets 409, so two people editing at once
 * cannot overwrite each other without noticing.
 *
 * Passwords are write-only: never returned (only "has_password"), never
 * logged.  A PUT that changes host, port or security without a password
 * clears the stored one (password, password_file, password_command), so
 * settings changed through a stolen session cannot send the old password
 * to a new server; a profile that logs in is then left without a password
 * ("has_password": false), which the loader accepts with a warning and
 * the check reports, until one is entered.  password_file and
 * password_command cannot be set over HTTP: they would let the web page
 * read files or run commands.
 */
#include "http/http_int.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/conf.h"
#include "config/conf_edit.h"
#include "config/ini.h"
#include "http/api_decode.h"
#include "oauth/oauth.h"
#include "relay/diag.h"
#include "util/log.h"

#define VERSION_HEX 32          /* 16 bytes of SHA-256, in hex */
#define PROFILE_SECTION_MAX (HTTP_PARAM_MAX + 16)
#define REPORTS_MAX 256         /* report addresses in one PUT */

/* Keys a PUT may carry, with their JSON form. */
enum jtype { J_BOOL, J_UINT, J_TEXT, J_LIMITS, J_DURATION, J_AUTH };

static const struct pkey {
	const char *key;
	int jtype;
} profile_keys[] = {
	{ "enabled", J_BOOL },
	{ "host", J_TEXT },
	{ "port", J_UINT },
	{ "security", J_TEXT },
	{ "tls_verify", J_BOOL },
	{ "tls_ca_file", J_TEXT },
	{ "auth", J_AUTH },
	{ "username", J_TEXT },
	{ "password", J_TEXT },
	{ "allow_plaintext_auth", J_BOOL },
	{ "from", J_TEXT },
	{ "force_from", J_BOOL },
	{ "limits", J_LIMITS },
	{ "max_connections", J_UINT },
	{ "max_messages_per_connection", J_UINT },
	{ "timeout", J_DURATION },
	/* OAuth2 (auth = oauth2); oauth_client_secret is write-only */
	{ "oauth_grant", J_TEXT },
	{ "oauth_tenant", J_TEXT },
	{ "oauth_client_id", J_TEXT },
	{ "oauth_client_secret", J_TEXT },
	{ "oauth_authorize_url", J_TEXT },
	{ "oauth_token_url", J_TEXT },
	{ "oauth_device_url", J_TEXT },
	{ "oauth_scope", J_TEXT },
	{ "provider", J_TEXT },          /* presets (config/providers.h) */
	{ "region", J_TEXT },
};
#define NPROFILE_KEYS (sizeof(profile_keys) / sizeof(profile_keys[0]))
_Static_assert(NPROFILE_KEYS <= API_PROFILE_KEYS_MAX, "api_profile_edit too small");

static const char *const security_names[] = { "none", "starttls", "tls" };

/* ---- reading the file ---- */

/* Keys whose values are secrets: they never enter the version. */
static int
secret_key(const char *key)
{
	return strcmp(key, "password") == 0 || strcmp(key, "password_command") == 0 ||
	    strcmp(key, "api_token") == 0 || strcmp(key, "oauth_client_secret") == 0 ||
	    strcmp(key, "oauth_token_command") == 0;
}

/*
 * The version of the settings file: 16 bytes of SHA-256 over what
 * identifies this write of the file (device, inode, modification and
 * change times: a save through the API renames a new file into place, an
 * editor's write moves the times) and over its text with every secret
 * value masked.  Nothing in it is derived from a password or the token,
 * so a version cannot be used to test guesses of them offline; a change
 * of only a password still changes it (new inode or new times).  Lines
 * the lexer cannot take apart are hashed as a mark only: they might hold
 * a secret.
 */
static int
version_of(const struct stat *st, const char *text, size_t len,
    char version[VERSION_HEX + 1])
{
	static const char tag[] = "outpost settings version 2";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int64_t id[6] = { 0 };
	size_t off = 0, n;
	int ok;

	if (ctx == NULL)
		return -1;
	if (st != NULL) {
		id[0] = (int64_t)st->st_dev;
		id[1] = (int64_t)st->st_ino;
		id[2] = (int64_t)st->st_mtim.tv_sec;
		id[3] = (int64_t)st->st_mtim.tv_nsec;
		id[4] = (int64_t)st->st_ctim.tv_sec;
		id[5] = (int64_t)st->st_ctim.tv_nsec;
	}
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, tag, sizeof(tag)) == 1 &&
	    EVP_DigestUpdate(ctx, id, sizeof(id)) == 1;
	while (ok && off < len) {
		const char *line = text + off, *nl = memchr(line, '\n', len - off);
		struct ini_line l;

		n = nl != NULL ? (size_t)(nl - line) : len - off;
		off += n + (nl != NULL);
		memset(&l, 0, sizeof(l));
		if (ini_parse_line(line, n, &l) < 0) {
			ok = EVP_DigestUpdate(ctx, "\001bad\001\n", 7) == 1;
		} else if (l.kind == INI_KEY && secret_key(l.name)) {
			ok = EVP_DigestUpdate(ctx, line, l.vstart) == 1 &&
			    EVP_DigestUpdate(ctx, "\001secret\001", 8) == 1 &&
			    EVP_DigestUpdate(ctx, line + l.vend, n - l.vend) == 1 &&
			    EVP_DigestUpdate(ctx, "\n", 1) == 1;
		} else {
			ok = EVP_DigestUpdate(ctx, line, n) == 1 &&
			    EVP_DigestUpdate(ctx, "\n", 1) == 1;
		}
		if (l.arg != NULL)
			explicit_bzero(l.arg, strlen(l.arg));
		ini_line_free(&l);
	}
	ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen >= VERSION_HEX / 2;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	for (i = 0; i < VERSION_HEX / 2; i++)
		snprintf(version + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static void
text_free_early(char *text, size_t len)
{
	if (text != NULL) {
		explicit_bzero(text, len);
		free(text);
	}
}

/* Cluster: the effective settings (the file's own sections and the
 * database's shared ones) and their version, made from the shared
 * version (dbver) and the text. */
static int
shared_read(struct http_req *r, char **text, size_t *len,
    char version[VERSION_HEX + 1], int64_t *dbver)
{
	struct stat st;
	struct op_err e;
	int64_t v = 0;

	*text = NULL;
	*len = 0;
	if (r->srv->deps.conf_shared_read(r->srv->deps.arg, text, len, &v, &e) < 0) {
		http_reply_error(r, e.kind == ERR_TEMP ? 503 : 500, "cannot read the "
		    "settings: %s", e.msg);
		return -1;
	}
	memset(&st, 0, sizeof(st));
	st.st_ino = (ino_t)v;            /* one write of the shared settings */
	st.st_dev = (dev_t)0x5348;
	if (dbver != NULL)
		*dbver = v;
	if (version_of(&st, *text, *len, version) < 0) {
		text_free_early(*text, *len);
		*text = NULL;
		http_reply_error(r, 500, "cannot hash the settings");
		return -1;
	}
	return 0;
}

/* The settings file's text (malloc'd; "" if it does not exist yet) and
 * its version.  -1 with a reply set on failure.  Cluster: the effective
 * settings (shared_read), *dbver the shared version (may be NULL). */
static int
file_read(struct http_req *r, char **text, size_t *len,
    char version[VERSION_HEX + 1], int64_t *dbver)
{
	const char *path = r->srv->deps.conf_path;
	struct stat st;
	struct buf b;
	char chunk[8192];
	ssize_t n;
	int fd, have_st = 0;

	if (r->srv->deps.conf_shared_read != NULL)
		return shared_read(r, text, len, version, dbver);
	*text = NULL;
	*len = 0;
	buf_init(&b, CONF_FILE_MAX);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno != ENOENT) {
		http_reply_error(r, 500, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if (fd >= 0) {
		if (fstat(fd, &st) < 0) {
			http_reply_error(r, 500, "cannot read %s: %s", path, strerror(errno));
			goto fail;
		}
		have_st = 1;
	}
	while (fd >= 0) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			http_reply_error(r, 500, "cannot read %s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		if (buf_append(&b, chunk, (size_t)n, NULL) < 0) {
			http_reply_error(r, 500, "%s is larger than %d bytes", path, CONF_FILE_MAX);
			goto fail;
		}
	}
	if (fd >= 0)
		close(fd);
	fd = -1;
	if (version_of(have_st ? &st : NULL, b.data != NULL ? b.data : "", b.len,
	    version) < 0) {
		http_reply_error(r, 500, "cannot hash the settings file");
		goto fail;
	}
	*text = buf_detach(&b, len);
	if (*text == NULL)
		*text = str_dup("");
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	explicit_bzero(b.data, b.len);
	buf_free(&b);
	return -1;
}

static void
text_free(char *text, size_t len)
{
	if (text != NULL) {
		explicit_bzero(text, len);
		free(text);
	}
}

/* ---- JSON views of the settings ---- */

static json_t *
limits_json(const struct conf_profile *p)
{
	char s[CONF_MAX_LIMITS * 32] = "";
	size_t i, o = 0;

	for (i = 0; i < p->nlimits; i++) {
		uint32_t per = p->limits[i].period_s;
		char unit = per == 1 ? 's' : per == 60 ? 'm' : per == 3600 ? 'h' : 'd';

		o += (size_t)snprintf(s + o, sizeof(s) - o, "%s%llu/%c", i ? ", " : "",
		    (unsigned long long)p->limits[i].count, unit);
		if (o >= sizeof(s))
			break;
	}
	return json_string(s);
}

static json_t *
duration_json(uint32_t sec)
{
	char s[32];

	if (sec % 86400 == 0)
		snprintf(s, sizeof(s), "%ud", sec / 86400);
	else if (sec % 3600 == 0)
		snprintf(s, sizeof(s), "%uh", sec / 3600);
	else if (sec % 60 == 0)
		snprintf(s, sizeof(s), "%um", sec / 60);
	else
		snprintf(s, sizeof(s), "%us", sec);
	return json_string(s);
}

/* The OAuth2 settings (effective values; the secret only as
 * has_client_secret, the command only as has_token_command) and, for
 * auth = oauth2, the sign-in's status. */
static void
profile_oauth_json(const struct conf_profile *p, json_t *j)
{
	json_t *st;

	json_object_set_new(j, "oauth_grant", json_string(conf_grant_name(p->oauth_grant)));
	json_object_set_new(j, "oauth_tenant", http_jstr(p->oauth_tenant));
	json_object_set_new(j, "oauth_client_id", http_jstr(p->oauth_client_id));
	json_object_set_new(j, "has_client_secret", json_boolean(
	    p->oauth_client_secret != NULL || p->oauth_client_secret_file != NULL));
	json_object_set_new(j, "has_token_command",
	    json_boolean(p->oauth_token_command != NULL));
	json_object_set_new(j, "oauth_authorize_url", http_jstr(p->oauth_authorize_url));
	json_object_set_new(j, "oauth_token_url", http_jstr(p->oauth_token_url));
	json_object_set_new(j, "oauth_device_url", http_jstr(p->oauth_device_url));
	json_object_set_new(j, "oauth_scope", http_jstr(p->oauth_scope));
	if ((st = http_oauth_status_json(p)) != NULL)
		json_object_set_new(j, "oauth", st);
}

/* The keys the provider's preset filled (the profile does not write
 * them): ["host", "port", ...]. */
static json_t *
preset_json(const struct conf_profile *p)
{
	static const struct {
		unsigned bit;
		const char *key;
	} keys[] = {
		{ CONF_PRESET_HOST, "host" }, { CONF_PRESET_PORT, "port" },
		{ CONF_PRESET_SECURITY, "security" }, { CONF_PRESET_AUTH, "auth" },
		{ CONF_PRESET_USERNAME, "username" },
		{ CONF_PRESET_LIMITS, "limits" },
	};
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (p->preset_keys & keys[i].bit)
			json_array_append_new(a, json_string(keys[i].key));
	return a;
}

static json_t *
profile_json(const struct conf_profile *p)
{
	char from[CONF_FROM_TEXT_MAX];
	json_t *j = json_object();

	json_object_set_new(j, "name", http_jstr(p->name));
	json_object_set_new(j, "enabled", json_boolean(p->enabled));
	json_object_set_new(j, "host", http_jstr(p->host));
	json_object_set_new(j, "port", json_integer(p->port));
	json_object_set_new(j, "security", json_string(
	    p->security >= 0 && p->security <= 2 ? security_names[p->security] : "starttls"));
	json_object_set_new(j, "tls_verify", json_boolean(p->tls_verify));
	json_object_set_new(j, "tls_ca_file", http_jstr(p->tls_ca_file));
	json_object_set_new(j, "auth", json_string(p->auth == CONF_AUTH_OAUTH2 ?
	    "oauth2" : p->auth ? "yes" : "no"));
	json_object_set_new(j, "username", http_jstr(p->username));
	json_object_set_new(j, "has_password", json_boolean(p->password != NULL ||
	    p->password_file != NULL || p->password_command != NULL));
	json_object_set_new(j, "password_source", json_string(
	    p->password_command != NULL ? "command" : p->password_file != NULL ? "file" :
	    p->password != NULL ? "inline" : "none"));
	json_object_set_new(j, "allow_plaintext_auth", json_boolean(p->allow_plaintext_auth));
	conf_profile_from_text(p, from, sizeof(from));
	json_object_set_new(j, "from", p->from != NULL ? http_jstr(from) : json_null());
	json_object_set_new(j, "force_from", json_boolean(p->force_from));
	json_object_set_new(j, "limits", limits_json(p));
	json_object_set_new(j, "max_connections", json_integer(p->max_connections));
	json_object_set_new(j, "max_messages_per_connection",
	    json_integer(p->max_messages_per_connection));
	json_object_set_new(j, "timeout", duration_json(p->timeout_s));
	profile_oauth_json(p, j);
	json_object_set_new(j, "provider", http_jstr(p->provider));
	json_object_set_new(j, "region", http_jstr(p->region));
	json_object_set_new(j, "from_provider", preset_json(p));
	return j;
}

static json_t *
redirect_json(const struct conf *c)
{
	json_t *j = json_object(), *a = json_array();
	size_t i;

	for (i = 0; i < c->nreports; i++)
		json_array_append_new(a, json_pack("{s:o,s:b}", "email",
		    http_jstr(c->reports[i].email), "enabled", c->reports[i].enabled));
	json_object_set_new(j, "enabled", json_boolean(c->redirect_enabled));
	json_object_set_new(j, "reports", a);
	return j;
}

/* Reply with json plus "version" (and the ETag header).  Steals j. */
static void
reply_versioned(struct http_req *r, unsigned status, json_t *j)
{
	char version[VERSION_HEX + 1] = "";
	char *text;
	size_t len;

	if (r->srv->deps.conf_path != NULL) {
		if (file_read(r, &text, &len, version, NULL) < 0) {
			json_decref(j);
			return;
		}
		text_free(text, len);
		json_object_set_new(j, "version", json_string(version));
		snprintf(r->etag, sizeof(r->etag), "\"%s\"", version);
	} else {
		json_object_set_new(j, "version", json_null());
	}
	json_object_set_new(j, "editable", json_boolean(r->srv->deps.conf_path != NULL));
	http_reply_json(r, status, j);
}

void
http_api_profiles_list(struct http_req *r)
{
	const struct conf *c = http_conf_get(r);
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < c->nprofiles; i++)
		json_array_append_new(a, profile_json(&c->profiles[i]));
	http_conf_put(r, c);
	reply_versioned(r, 200, json_pack("{s:o}", "profiles", a));
}

void
http_api_profile_get(struct http_req *r)
{
	const struct conf *c = http_conf_get(r);
	const struct conf_profile *p = conf_profile_find(c, r->param[0]);
	json_t *j = p != NULL ? profile_json(p) : NULL;

	http_conf_put(r, c);
	if (j == NULL) {
		http_reply_error(r, 404, "no profile called %s", r->param[0]);
		return;
	}
	reply_versioned(r, 200, json_pack("{s:o}", "profile", j));
}

void
http_api_redirect_get(struct http_req *r)
{
	const struct conf *c = http_conf_get(r);
	json_t *j = redirect_json(c);

	http_conf_put(r, c);
	reply_versioned(r, 200, j);
}

/* ---- the edit transaction ---- */

struct edit {
	struct conf_doc *doc;
	char *text;
	size_t len;
	char version[VERSION_HEX + 1];
	int64_t dbver;                 /* cluster: the shared version read */
	int locked;
};

/* If-Match (RFC 9110 section 13.1.1): "*", or a list of entity tags,
 * quoted or (leniently) bare. */
static int
version_matches(const char *match, const char *version)
{
	const char *p = match;
	size_t n, vl = strlen(version);

	while (*p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '*')
			return 1;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (*p == '"')
			p++;
		n = strcspn(p, "\", ");
		if (n == vl && strncmp(p, version, vl) == 0)
			return 1;
		p += n;
		if (*p == '"')
			p++;
	}
	return 0;
}

/* Lock, read the file, check If-Match.  -1 with a reply set. */
static int
edit_begin(struct http_req *r, struct edit *ed)
{
	const char *match = http_header(r, MHD_HTTP_HEADER_IF_MATCH);
	struct op_err e;

	memset(ed, 0, sizeof(*ed));
	if (r->srv->deps.conf_path == NULL) {
		http_reply_error(r, 409, "these settings are built in (Outpost was started "
		    "without a settings file), so they cannot be edited here");
		return -1;
	}
	pthread_mutex_lock(&r->srv->edit_mu);
	ed->locked = 1;
	if (file_read(r, &ed->text, &ed->len, ed->version, &ed->dbver) < 0)
		return -1;
	if (match != NULL && !version_matches(match, ed->version)) {
		http_reply_error(r, 409, "the settings were changed by someone else since "
		    "you loaded them; reload and make your change again");
		return -1;
	}
	if (conf_doc_parse(ed->text, ed->len, &ed->doc, &e) < 0) {
		http_reply_error(r, 422, "%s: %s", r->srv->deps.conf_path, e.msg);
		return -1;
	}
	return 0;
}

static void
edit_end(struct edit *ed, struct http_req *r)
{
	conf_doc_free(ed->doc);
	text_free(ed->text, ed->len);
	if (ed->locked)
		pthread_mutex_unlock(&r->srv->edit_mu);
	memset(ed, 0, sizeof(*ed));
}

/* Put the loader's problems into fields: each "FILE:LINE: KEY: why" whose
 * KEY is one of keys[] (NULL-terminated, or NULL for none) becomes
 * fields[KEY]; the rest stay in msg. */
static void
map_load_errors(const char *diag, const char *const *keys, json_t *fields)
{
	const char *line = diag, *nl, *p, *k = NULL;
	char key[64], why[ERR_MSG_MAX];
	size_t n, i;

	for (; line != NULL && *line != '\0'; line = nl != NULL ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		n = nl != NULL ? (size_t)(nl - line) : strlen(line);
		if (strncmp(line, "warning: ", 9) == 0)
			continue;
		/* skip "FILE:LINE: " (FILE may hold ':'; LINE is digits) */
		for (p = line; p < line + n; p++) {
			if (*p != ':')
				continue;
			k = p + 1;
			while (k < line + n && *k >= '0' && *k <= '9')
				k++;
			if (k > p + 1 && k + 1 < line + n && k[0] == ':' && k[1] == ' ')
				break;
		}
		if (p >= line + n)
			continue;
		k += 2;
		p = memchr(k, ':', (size_t)(line + n - k));
		if (p == NULL || (size_t)(p - k) >= sizeof(key) || p[1] != ' ')
			continue;
		memcpy(key, k, (size_t)(p - k));
		key[p - k] = '\0';
		for (i = 0; keys != NULL && keys[i] != NULL; i++) {
			if (strcmp(keys[i], key) == 0 && json_object_get(fields, key) == NULL) {
				snprintf(why, sizeof(why), "%.*s", (int)(line + n - p - 2), p + 2);
				json_object_set_new(fields, key, http_jstr(why));
			}
		}
	}
}

/* A rule of one request on top of the loader's: -1 with a reply set if
 * the loaded settings (check) must not be saved. */
typedef int (*edit_rule)(struct http_req *r, const struct conf *check,
    const void *arg);

/*
 * Check the edited text with the loader (and rule, if not NULL), save it,
 * reload.  keys are the keys this request set (for mapping errors to
 * fields).  -1 with a reply set (422 if the settings are wrong; the file
 * is untouched).
 */
static int
edit_commit(struct http_req *r, struct edit *ed, const char *const *keys,
    edit_rule rule, const void *rule_arg)
{
	const char *path = r->srv->deps.conf_path;
	struct conf *check = NULL;
	struct buf text, diag;
	struct op_err e;
	json_t *fields;
	int rc = -1;

	buf_init(&text, CONF_FILE_MAX + 1);
	buf_init(&diag, 64 * 1024);
	if (conf_doc_text(ed->doc, &text, &e) < 0) {
		http_reply_error(r, 422, "%s", e.msg);
		goto out;
	}
	if (conf_load_text(path, text.data != NULL ? text.data : "", text.len, &check,
	    &diag, &e) < 0) {
		fields = json_object();
		map_load_errors(diag.data, keys, fields);
		http_reply_fields(r, 422, e.msg, fields);
		goto out;
	}
	if (rule != NULL && rule(r, check, rule_arg) < 0) {
		conf_free(check);
		goto out;
	}
	conf_free(check);
	if (r->srv->deps.conf_shared_write != NULL) {
		/* cluster: the shared sections go to the database */
		if (r->srv->deps.conf_shared_write(r->srv->deps.arg, text.data != NULL ?
		    text.data : "", text.len, ed->dbver, &e) < 0) {
			if (e.kind == ERR_NOINPUT)
				http_reply_error(r, 409, "the settings were changed by "
				    "someone else since you loaded them; reload and make "
				    "your change again");
			else
				http_reply_error(r, e.kind == ERR_TEMP ? 503 : 500,
				    "cannot save the settings: %s", e.msg);
			goto out;
		}
	} else if (conf_doc_save(ed->doc, path, &e) < 0) {
		http_reply_error(r, 500, "cannot save the settings: %s", e.msg);
		goto out;
	}
	if (r->srv->deps.conf_reload != NULL && r->srv->deps.conf_reload(r->srv->deps.arg, &e) < 0) {
		http_reply_error(r, 500, "the settings were saved, but reloading them "
		    "failed: %s", e.msg);
		goto out;
	}
	rc = 0;
out:
	if (text.data != NULL)
		explicit_bzero(text.data, text.len);
	buf_free(&text);
	buf_free(&diag);
	return rc;
}

/* ---- PUT /api/profiles/{name} ---- */

/* The JSON value v as the file writes it.  -1 with why filled. */
static int
value_text(const struct pkey *k, json_t *v, char *out, size_t outsz,
    const char **why)
{
	json_t *x;
	size_t i, o = 0;

	switch (k->jtype) {
	case J_BOOL:
		if (json_is_boolean(v)) {
			str_copy(out, outsz, json_is_true(v) ? "yes" : "no");
			return 0;
		}
		break;
	case J_UINT:
		if (json_is_integer(v) && json_integer_value(v) >= 0) {
			snprintf(out, outsz, "%lld", (long long)json_integer_value(v));
			return 0;
		}
		break;
	case J_AUTH:
		/* "no" | "yes" | "oauth2"; true and false as "yes" and "no" */
		if (json_is_boolean(v)) {
			str_copy(out, outsz, json_is_true(v) ? "yes" : "no");
			return 0;
		}
		break;
	case J_DURATION:
		if (json_is_integer(v) && json_integer_value(v) >= 0) {
			snprintf(out, outsz, "%llds", (long long)json_integer_value(v));
			return 0;
		}
		break;
	case J_LIMITS:
		if (json_is_array(v)) {
			out[0] = '\0';
			json_array_foreach(v, i, x) {
				if (!json_is_string(x)) {
					*why = "a list of limits like \"14/s\"";
					return -1;
				}
				o += (size_t)snprintf(out + o, outsz - o, "%s%s", i ? ", " : "",
				    json_string_value(x));
				if (o >= outsz) {
					*why = "too long";
					return -1;
				}
			}
			return 0;
		}
		break;
	default:
		break;
	}
	if (json_is_string(v)) {
		if (str_copy(out, outsz, json_string_value(v)) < 0) {
			*why = "too long";
			return -1;
		}
		return 0;
	}
	*why = k->jtype == J_AUTH ? "must be \"no\", \"yes\" (a password) or "
	    "\"oauth2\"" :
	    k->jtype == J_BOOL ? "must be true or false" :
	    k->jtype == J_UINT ? "must be a whole number" :
	    k->jtype == J_DURATION ? "a duration like \"30s\" or \"5m\"" :
	    "must be a string";
	return -1;
}

static const struct pkey *
pkey_find(const char *key)
{
	size_t i;

	for (i = 0; i < NPROFILE_KEYS; i++)
		if (strcmp(profile_keys[i].key, key) == 0)
			return &profile_keys[i];
	return NULL;
}

/* Both NULL, or the same text. */
static int
same_text(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Does the PUT move the profile to another server (host, port or
 * security), compared with what is in effect?  A profile that is not in
 * effect yet counts as moved. */
static int
moves_server(const struct conf_profile *old, const char *host, const char *port,
    const char *security)
{
	unsigned long pn;
	int sec;

	if (old == NULL)
		return 1;
	if (host != NULL && (old->host == NULL || strcasecmp(host, old->host) != 0))
		return 1;
	if (security != NULL && (conf_parse_security(security, &sec) < 0 || sec != old->security))
		return 1;
	if (port != NULL && (str_to_ulong(port, 65535, &pn) < 0 || pn != old->port))
		return 1;
	return 0;
}

int
api_profile_decode(json_t *body, const char *name, struct api_profile_edit *pe,
    json_t *fields)
{
	const char *key, *why;
	char value[CONF_LINE_MAX];
	struct op_err e;
	json_t *v;
	size_t before = json_object_size(fields);

	memset(pe, 0, sizeof(*pe));
	if (conf_check_section("profile", name, &e) < 0) {
		json_object_set_new(fields, "name", http_jstr(e.msg));
		return -1;
	}
	/* Every value is checked as the loader checks it, before any edit. */
	json_object_foreach(body, key, v) {
		const struct pkey *k = pkey_find(key);

		if (strcmp(key, "name") == 0) {
			if (!json_is_string(v) || conf_check_section("profile",
			    json_string_value(v), &e) < 0)
				json_object_set_new(fields, "name", http_jstr(json_is_string(v) ?
				    e.msg : "must be a string"));
			else if (strcmp(json_string_value(v), name) != 0)
				pe->newname = json_string_value(v);
			continue;
		}
		if (strcmp(key, "oauth_client_secret_file") == 0 ||
		    strcmp(key, "oauth_token_command") == 0) {
			json_object_set_new(fields, key, json_string("cannot be set from the "
			    "web page or the API; edit outpost.conf, or set "
			    "oauth_client_secret"));
			continue;
		}
		if (strcmp(key, "password_file") == 0 || strcmp(key, "password_command") == 0) {
			json_object_set_new(fields, key, json_string("cannot be set from the "
			    "web page or the API; edit outpost.conf, or set password"));
			continue;
		}
		if (k == NULL) {
			/* Read-only keys of GET are accepted back unchanged. */
			if (strcmp(key, "has_password") != 0 && strcmp(key, "password_source") != 0 &&
			    strcmp(key, "has_client_secret") != 0 &&
			    strcmp(key, "has_token_command") != 0 && strcmp(key, "oauth") != 0 &&
			    strcmp(key, "from_provider") != 0)
				json_object_set_new(fields, key, json_string("unknown setting"));
			continue;
		}
		if (json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0 &&
		    strcmp(key, "password") != 0)) {
			pe->provider_touched |= strcmp(key, "provider") == 0;
			pe->region_touched |= strcmp(key, "region") == 0;
			pe->keys[pe->n++] = key;        /* unset: back to the default */
			continue;
		}
		if (value_text(k, v, value, sizeof(value), &why) < 0) {
			json_object_set_new(fields, key, json_string(why));
			continue;
		}
		if (strcmp(key, "password") == 0 && value[0] == '\0') {
			pe->keys[pe->n++] = key;        /* "" clears the password */
			continue;
		}
		if (conf_check_value("profile", key, value, &e) < 0) {
			json_object_set_new(fields, key, http_jstr(e.msg));
			continue;
		}
		pe->vals[pe->n] = str_dup(value);
		if (strcmp(key, "host") == 0)
			pe->host = pe->vals[pe->n];
		else if (strcmp(key, "port") == 0)
			pe->port = pe->vals[pe->n];
		else if (strcmp(key, "security") == 0)
			pe->security = pe->vals[pe->n];
		else if (strcmp(key, "password") == 0)
			pe->has_password = 1;
		else if (strcmp(key, "provider") == 0) {
			pe->provider_touched = 1;
			pe->provider = pe->vals[pe->n];
		} else if (strcmp(key, "region") == 0) {
			pe->region_touched = 1;
			pe->region = pe->vals[pe->n];
		}
		pe->keys[pe->n++] = key;
	}
	pe->keys[pe->n] = NULL;
	explicit_bzero(value, sizeof(value));
	return json_object_size(fields) > before ? -1 : 0;
}

void
api_profile_edit_free(struct api_profile_edit *pe)
{
	size_t i;

	for (i = 0; i < pe->n; i++) {
		if (pe->vals[i] != NULL) {
			explicit_bzero(pe->vals[i], strlen(pe->vals[i]));
			free(pe->vals[i]);
		}
	}
	memset(pe, 0, sizeof(*pe));
}

/* The profile logs in but has no password from any source: what a change
 * of server without the password leaves (docs/http.md).  It cannot send
 * until one is entered; `outpost check` and the delivery log say so. */
static int
lacks_password(const struct conf_profile *p)
{
	return p != NULL && p->auth == CONF_AUTH_PASSWORD && p->password == NULL &&
	    p->password_file == NULL && p->password_command == NULL;
}

static int
has_password_source(const struct conf_profile *p)
{
	return p != NULL && (p->password != NULL || p->password_file != NULL ||
	    p->password_command != NULL);
}

struct put_rule {
	const char *name;       /* the profile's name after the PUT */
	int lacked;             /* it lacked a password before */
	int cleared;            /* this PUT cleared it: the server moved */
	int test_first;         /* ?check: store only if the check passes */
	json_t *check;          /* the check's report, when it ran */
};

/* A PUT may leave a profile without the password it needs only when that
 * is the clearing a change of server causes (or it lacked one already); a new
 * profile, or "password": "" on one that logs in, is refused. */
static int
put_rule(struct http_req *r, const struct conf *check, const void *arg)
{
	struct put_rule *pr = (struct put_rule *)arg;
	const struct conf_profile *p = conf_profile_find(check, pr->name);
	struct diag_report *rep;
	struct op_err e;
	json_t *j;
	int rc = -1;

	if (lacks_password(p) && !pr->lacked && !pr->cleared) {
		http_reply_fields(r, 422, "authentication needs a password",
		    json_pack("{s:s}", "password", "enter the password (or turn "
		    "authentication off)"));
		return -1;
	}
	if (!pr->test_first || p == NULL)
		return 0;
	/* Test first: the diagnostics of `outpost check` on the candidate
	 * settings, as they would be stored; nothing is stored if a step
	 * fails. */
	rep = mem_alloc(sizeof(*rep));
	if (diag_run(p, check->server.hostname, rep, &e) < 0) {
		http_reply_fields(r, 422, e.msg, NULL);
		goto out;
	}
	log_event(LOG_INFO, "http_check", "profile", pr->name, "ok",
	    rep->ok ? "yes" : "no", "failed_step", rep->ok ? NULL : rep->failed_step,
	    "stored", rep->ok ? "yes" : "no", NULL);
	if ((j = http_diag_report_json(rep)) == NULL) {
		http_reply_error(r, 500, "out of memory");
		goto out;
	}
	json_object_set_new(j, "profile", http_jstr(pr->name));
	if (!rep->ok) {
		char msg[ERR_MSG_MAX];

		snprintf(msg, sizeof(msg), "the connection check failed at step \"%s\", "
		    "so nothing was saved; fix the settings, or save them without "
		    "the check", rep->failed_step);
		http_reply_json(r, 422, json_pack("{s:s,s:b,s:o}", "error", msg,
		    "saved", 0, "check", j));
		goto out;
	}
	pr->check = j;
	rc = 0;
out:
	free(rep);
	return rc;
}

/* OAuth2 tokens are bound to the profile's host, tenant and client id (the
 * token store ignores and removes tokens whose binding differs): a PUT
 * that changes one of them, or renames the profile, drops its sign-in, and
 * says so ("tokens_dropped": true), as a change of server clears the
 * password. */
struct tokens_kept {
	int had;                /* the profile in effect held a sign-in */
	char host[CONF_LINE_MAX], tenant[CONF_LINE_MAX], client[CONF_LINE_MAX];
};

static void
tokens_before(const struct conf_profile *old, struct tokens_kept *tk)
{
	struct oauth_status st;

	memset(tk, 0, sizeof(*tk));
	if (old == NULL || old->auth != CONF_AUTH_OAUTH2)
		return;
	oauth_status_get(old, &st);
	tk->had = st.signed_in || st.expires > 0;
	str_copy(tk->host, sizeof(tk->host), old->host != NULL ? old->host : "");
	str_copy(tk->tenant, sizeof(tk->tenant), old->oauth_tenant != NULL ?
	    old->oauth_tenant : "");
	str_copy(tk->client, sizeof(tk->client), old->oauth_client_id != NULL ?
	    old->oauth_client_id : "");
}

/* 1 if the sign-in held before is gone with the saved settings p. */
static int
tokens_after(const struct tokens_kept *tk, const struct conf_profile *p,
    int renamed)
{
	struct oauth_status st;

	if (!tk->had || p == NULL || p->auth != CONF_AUTH_OAUTH2)
		return 0;       /* kept for when it signs in with OAuth2 again */
	if (!renamed &&
	    strcmp(tk->host, p->host != NULL ? p->host : "") == 0 &&
	    strcmp(tk->tenant, p->oauth_tenant != NULL ? p->oauth_tenant : "") == 0 &&
	    strcmp(tk->client, p->oauth_client_id != NULL ? p->oauth_client_id : "") == 0)
		return 0;
	oauth_status_get(p, &st);       /* the store removes the old file */
	return 1;
}

/*
 * Create or update [profile NAME] (NAME is r->param[0]).  taken_status:
 * 0 to update an existing profile too (a plain PUT); else the status that
 * refuses a name already taken (409 for POST /api/profiles, 412 for a PUT
 * with If-None-Match: *), leaving the file untouched.
 */
static void
profile_save(struct http_req *r, unsigned taken_status)
{
	const char *name = r->param[0];
	const char *none_match = http_header(r, MHD_HTTP_HEADER_IF_NONE_MATCH);
	char section[PROFILE_SECTION_MAX];
	const struct conf *c;
	const struct conf_profile *old;
	struct api_profile_edit pe;
	struct edit ed = { 0 };
	struct put_rule rule = { NULL, 0, 0, 0, NULL };
	struct tokens_kept tk;
	struct op_err e;
	json_t *body, *v, *fields = NULL, *j;
	size_t i;
	int exists, moved, status, dropped;

	memset(&pe, 0, sizeof(pe));
	memset(&tk, 0, sizeof(tk));
	rule.test_first = http_query_check(r);
	if ((body = http_body_object(r)) == NULL)
		return;
	fields = json_object();
	if (api_profile_decode(body, name, &pe, fields) < 0)
		goto invalid;

	if (edit_begin(r, &ed) < 0)
		goto out;
	snprintf(section, sizeof(section), "profile %s", name);
	exists = conf_doc_has_section(ed.doc, section);
	/* If-None-Match (RFC 9110 section 13.1.2): "*" means "only if there
	 * is no such profile yet"; a list of versions, "not this one" */
	if (taken_status == 0 && none_match != NULL && (strchr(none_match, '*') != NULL ?
	    exists : version_matches(none_match, ed.version)))
		taken_status = 412;
	if (exists && taken_status != 0) {
		char msg[ERR_MSG_MAX];

		snprintf(msg, sizeof(msg), "a profile called %s already exists; "
		    "choose another name, or edit that profile", name);
		http_reply_fields(r, taken_status, msg, json_pack("{s:s}", "name", msg));
		goto out;
	}
	/* a new profile names its server, or a provider whose preset does */
	if (!exists && (v = json_object_get(body, "host"), v == NULL || json_is_null(v)) &&
	    (pe.provider == NULL || strcmp(pe.provider, "custom") == 0)) {
		json_object_set_new(fields, "host", json_string("required: the name of "
		    "your provider's SMTP server"));
		goto invalid;
	}
	if (pe.newname != NULL) {
		if (!exists) {
			http_reply_error(r, 404, "no profile called %s to rename", name);
			goto out;
		}
		if (conf_edit_rename_profile(ed.doc, name, pe.newname, &e) < 0) {
			http_reply_fields(r, e.kind == ERR_NOINPUT ? 404 : 409, e.msg,
			    json_pack("{s:s}", "name", e.msg));
			goto out;
		}
		snprintf(section, sizeof(section), "profile %s", pe.newname);
	}

	c = http_conf_get(r);
	old = conf_profile_find(c, name);
	moved = exists && (pe.host != NULL || pe.port != NULL || pe.security != NULL) &&
	    moves_server(old, pe.host, pe.port, pe.security);
	/* another provider or region is another server too (its preset
	 * fills host, port and security) */
	moved |= exists && old != NULL && ((pe.provider_touched &&
	    !same_text(pe.provider, old->provider)) || (pe.region_touched &&
	    !same_text(pe.region, old->region)));
	rule.name = pe.newname != NULL ? pe.newname : name;
	rule.lacked = exists && lacks_password(old);
	rule.cleared = moved && !pe.has_password && has_password_source(old);
	tokens_before(old, &tk);
	http_conf_put(r, c);
	if (!exists && conf_edit_add_section(ed.doc, section, &e) < 0) {
		http_reply_error(r, 422, "%s", e.msg);
		goto out;
	}
	if (moved && !pe.has_password) {
		/* A new server does not get the old password. */
		if (conf_edit_unset(ed.doc, section, "password", NULL, &e) < 0 ||
		    conf_edit_unset(ed.doc, section, "password_file", NULL, &e) < 0 ||
		    conf_edit_unset(ed.doc, section, "password_command", NULL, &e) < 0) {
			http_reply_error(r, 500, "%s", e.msg);
			goto out;
		}
	}
	for (i = 0; i < pe.n; i++) {
		const char *val = pe.vals[i];
		int rc;

		if (strcmp(pe.keys[i], "oauth_client_secret") == 0 && val != NULL)
			conf_edit_unset(ed.doc, section, "oauth_client_secret_file", NULL, NULL);
		if (pe.has_password && strcmp(pe.keys[i], "password") == 0) {
			/* one source of the password at a time */
			conf_edit_unset(ed.doc, section, "password_file", NULL, NULL);
			conf_edit_unset(ed.doc, section, "password_command", NULL, NULL);
		}
		rc = val != NULL ? conf_edit_set(ed.doc, section, pe.keys[i], val, &e) :
		    conf_edit_unset(ed.doc, section, pe.keys[i], NULL, &e);
		if (rc < 0)
			json_object_set_new(fields, pe.keys[i], http_jstr(e.msg));
	}
	if (json_object_size(fields) > 0)
		goto invalid;
	if (edit_commit(r, &ed, pe.keys, put_rule, &rule) < 0)
		goto out;
	edit_end(&ed, r);

	c = http_conf_get(r);
	old = conf_profile_find(c, pe.newname != NULL ? pe.newname : name);
	dropped = tokens_after(&tk, old, pe.newname != NULL);
	log_event(LOG_INFO, "http_profile_saved", "profile",
	    pe.newname != NULL ? pe.newname : name,
	    "created", exists ? "no" : "yes", "password_cleared",
	    rule.cleared ? "yes" : "no", "tokens_dropped", dropped ? "yes" : "no",
	    NULL);
	j = old != NULL ? profile_json(old) : json_null();
	http_conf_put(r, c);
	status = exists ? 200 : 201;
	if (!exists)
		snprintf(r->location, sizeof(r->location), "/api/profiles/%s", name);
	j = json_pack("{s:o,s:b,s:b}", "profile", j, "password_cleared", rule.cleared,
	    "tokens_dropped", dropped);
	if (rule.check != NULL) {
		json_object_set_new(j, "check", rule.check);
		rule.check = NULL;
	}
	reply_versioned(r, status, j);
	goto out;

invalid:
	http_reply_fields(r, 422, "some settings are not valid", fields);
	fields = NULL;
out:
	edit_end(&ed, r);
	json_decref(fields);
	json_decref(rule.check);
	api_profile_edit_free(&pe);
}

void
http_api_profile_put(struct http_req *r)
{
	profile_save(r, 0);
}

/* POST /api/profiles {"name": ..., settings}: create only (409 if the
 * name is taken). */
void
http_api_profile_create(struct http_req *r)
{
	json_t *body;
	const char *name = NULL;

	if ((body = http_body_object(r)) == NULL)
		return;
	if (http_jget_str(body, "name", &name) < 0 || name == NULL || *name == '\0' ||
	    str_copy(r->param[0], sizeof(r->param[0]), name) < 0) {
		http_reply_fields(r, 422, "the new profile needs a name",
		    json_pack("{s:s}", "name", "give the profile a name: letters, "
		    "digits, '-', '_' and '.'"));
		return;
	}
	profile_save(r, 409);
}

void
http_api_profile_delete(struct http_req *r)
{
	char section[PROFILE_SECTION_MAX];
	struct edit ed;
	struct op_err e;

	if (conf_check_section("profile", r->param[0], &e) < 0) {
		http_reply_error(r, 404, "no profile called %s", r->param[0]);
		return;
	}
	if (edit_begin(r, &ed) < 0)
		goto out;
	snprintf(section, sizeof(section), "profile %s", r->param[0]);
	if (!conf_doc_has_section(ed.doc, section)) {
		http_reply_error(r, 404, "no profile called %s", r->param[0]);
		goto out;
	}
	if (conf_edit_delete_section(ed.doc, section, &e) < 0) {
		http_reply_error(r, 500, "%s", e.msg);
		goto out;
	}
	if (edit_commit(r, &ed, NULL, NULL, NULL) < 0)
		goto out;
	log_event(LOG_INFO, "http_profile_deleted", "profile", r->param[0], NULL);
	http_reply_empty(r, 204);
out:
	edit_end(&ed, r);
}

void
http_api_profiles_order(struct http_req *r)
{
	const char **names = NULL;
	struct edit ed = { 0 };
	struct op_err e;
	json_t *body, *order, *x;
	size_t i, n;

	if ((body = http_body_object(r)) == NULL)
		return;
	order = json_object_get(body, "order");
	if (!json_is_array(order) || json_array_size(order) > CONF_MAX_SECTIONS) {
		http_reply_fields(r, 400, "send {\"order\": [profile names]}",
		    json_pack("{s:s}", "order", "a list of every profile's name"));
		return;
	}
	n = json_array_size(order);
	names = mem_alloc((n ? n : 1) * sizeof(*names));
	json_array_foreach(order, i, x) {
		if (!json_is_string(x)) {
			http_reply_fields(r, 400, "profile names are strings",
			    json_pack("{s:s}", "order", "a list of every profile's name"));
			goto out;
		}
		names[i] = json_string_value(x);
	}
	if (edit_begin(r, &ed) < 0)
		goto out;
	if (conf_edit_order_profiles(ed.doc, names, n, &e) < 0) {
		http_reply_fields(r, 409, e.msg, json_pack("{s:s}", "order", e.msg));
		goto out;
	}
	if (edit_commit(r, &ed, NULL, NULL, NULL) < 0)
		goto out;
	edit_end(&ed, r);
	log_event(LOG_INFO, "http_profiles_ordered", NULL);
	http_api_profiles_list(r);
out:
	edit_end(&ed, r);
	free(names);
}

/* ---- PUT /api/redirect ---- */

int
api_redirect_decode(json_t *body, json_t **enabled, json_t **reports,
    size_t *nenabled, json_t *fields)
{
	char field[48];
	struct op_err e;
	json_t *en, *rs, *x;
	const char *email;
	size_t i, k, before = json_object_size(fields);

	en = *enabled = json_object_get(body, "enabled");
	rs = *reports = json_object_get(body, "reports");
	*nenabled = 0;
	if (en != NULL && !json_is_boolean(en))
		json_object_set_new(fields, "enabled", json_string("must be true or false"));
	if (rs != NULL && (!json_is_array(rs) ||
	    json_array_size(rs) > REPORTS_MAX)) {
		json_object_set_new(fields, "reports", json_string("a list of "
		    "{\"email\": ..., \"enabled\": true|false}"));
		return -1;
	}
	json_array_foreach(rs, i, x) {
		json_t *xe = json_object_get(x, "enabled");

		snprintf(field, sizeof(field), "reports[%zu]", i);
		if (!json_is_object(x) || http_jget_str(x, "email", &email) < 0 || email == NULL) {
			json_object_set_new(fields, field, json_string("needs \"email\""));
			continue;
		}
		if (conf_check_section("report", email, &e) < 0) {
			json_object_set_new(fields, field, http_jstr(e.msg));
			continue;
		}
		if (xe != NULL && !json_is_boolean(xe)) {
			json_object_set_new(fields, field, json_string("\"enabled\" must be "
			    "true or false"));
			continue;
		}
		for (k = 0; k < i; k++) {
			const char *other = json_string_value(json_object_get(
			    json_array_get(rs, k), "email"));

			if (other != NULL && strcasecmp(other, email) == 0)
				json_object_set_new(fields, field, json_string("listed twice"));
		}
		if (xe == NULL || json_is_true(xe))
			(*nenabled)++;
	}
	return json_object_size(fields) > before ? -1 : 0;
}

void
http_api_redirect_put(struct http_req *r)
{
	static const char *const keys[] = { "enabled", NULL };
	char section[CONF_ADDRESS_MAX + 16], field[48];
	const struct conf *c = NULL;
	struct edit ed = { 0 };
	struct op_err e;
	json_t *body, *en, *reports, *x, *fields = json_object(), *j;
	size_t i, k, nenabled = 0;
	int found;

	if ((body = http_body_object(r)) == NULL)
		goto out;
	if (api_redirect_decode(body, &en, &reports, &nenabled, fields) < 0)
		goto invalid;

	c = http_conf_get(r);
	if (reports == NULL)
		for (i = 0; i < c->nreports; i++)
			nenabled += c->reports[i].enabled != 0;
	if (json_is_true(en) && nenabled == 0) {
		json_object_set_new(fields, "reports", json_string("add at least one "
		    "enabled report address before turning redirect on"));
		goto invalid;
	}
	if (edit_begin(r, &ed) < 0)
		goto out;
	if (en != NULL && conf_edit_set(ed.doc, "redirect", "enabled",
	    json_is_true(en) ? "yes" : "no", &e) < 0) {
		http_reply_error(r, 500, "%s", e.msg);
		goto out;
	}
	if (reports != NULL) {
		/* Drop the addresses no longer listed ... */
		for (i = 0; i < c->nreports; i++) {
			found = 0;
			json_array_foreach(reports, k, x)
				if (strcasecmp(json_string_value(json_object_get(x, "email")),
				    c->reports[i].email) == 0)
					found = 1;
			snprintf(section, sizeof(section), "report %s", c->reports[i].email);
			if (!found && conf_doc_has_section(ed.doc, section) &&
			    conf_edit_delete_section(ed.doc, section, &e) < 0) {
				http_reply_error(r, 500, "%s", e.msg);
				goto out;
			}
		}
		/* ... and add or update the others. */
		json_array_foreach(reports, i, x) {
			json_t *xe = json_object_get(x, "enabled");

			snprintf(section, sizeof(section), "report %s",
			    json_string_value(json_object_get(x, "email")));
			if (conf_edit_set(ed.doc, section, "enabled",
			    xe == NULL || json_is_true(xe) ? "yes" : "no", &e) < 0) {
				snprintf(field, sizeof(field), "reports[%zu]", i);
				json_object_set_new(fields, field, http_jstr(e.msg));
			}
		}
		if (json_object_size(fields) > 0)
			goto invalid;
	}
	http_conf_put(r, c);
	c = NULL;
	if (edit_commit(r, &ed, keys, NULL, NULL) < 0)
		goto out;
	edit_end(&ed, r);
	log_event(LOG_INFO, "http_redirect_saved", "enabled",
	    en == NULL ? "unchanged" : json_is_true(en) ? "yes" : "no", NULL);
	c = http_conf_get(r);
	j = redirect_json(c);
	http_conf_put(r, c);
	c = NULL;
	reply_versioned(r, 200, j);
	goto out;
invalid:
	http_reply_fields(r, 422, "the redirect settings are not valid", fields);
	fields = NULL;
out:
	if (c != NULL)
		http_conf_put(r, c);
	edit_end(&ed, r);
	json_decref(fields);
}
