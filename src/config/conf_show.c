/*
 * conf_show.c - the settings in effect, printed in the file's own format
 * (`outpost config show`): defaults filled in, passwords and the API token
 * as ********, password_file and password_command as written (a command
 * is not a secret).  Values are quoted where the file would need it, so
 * the output reads back with conf_load() (but for a masked api_token,
 * which is shorter than a token may be).
 */
#include "config/conf.h"

#include <stdio.h>
#include <string.h>

#include "config/conf_secret.h"
#include "config/ini.h"

static int
show_kv(struct buf *out, const char *key, const char *value, struct op_err *e)
{
	if (buf_printf(out, e, "%s = ", key) < 0 ||
	    ini_append_value(out, value, e) < 0)
		return -1;
	return buf_appendstr(out, "\n", e);
}

/* key = value, with "; from provider NAME" when p's preset filled it. */
static int
show_pv(struct buf *out, const struct conf_profile *p, unsigned bit,
    const char *key, const char *value, struct op_err *e)
{
	if (!(p->preset_keys & bit))
		return show_kv(out, key, value, e);
	if (buf_printf(out, e, "%s = ", key) < 0 ||
	    ini_append_value(out, value, e) < 0)
		return -1;
	return buf_printf(out, e, "   ; from provider %s\n", p->provider);
}

static const char *
yn(int b)
{
	return b ? "yes" : "no";
}

static int
show_list(struct buf *out, const char *key, char **v, size_t n,
    struct op_err *e)
{
	struct buf line;
	size_t i;
	int rc;

	if (n == 0)
		return 0;
	buf_init(&line, CONF_LINE_MAX);
	for (i = 0; i < n; i++)
		if (buf_printf(&line, e, "%s%s", i ? ", " : "", v[i]) < 0) {
			buf_free(&line);
			return -1;
		}
	rc = show_kv(out, key, line.data, e);
	buf_free(&line);
	return rc;
}

#define MASK CONF_MASK

/* The OAuth2 keys of a profile with auth = oauth2; the client secret
 * masked, its file and the token command as written. */
static int
show_oauth(struct buf *out, const struct conf_profile *p, struct op_err *e)
{
	const struct {
		const char *key;
		const char *value;
	} kv[] = {
		{ "oauth_grant", conf_grant_name(p->oauth_grant) },
		{ "oauth_tenant", p->oauth_tenant },
		{ "oauth_client_id", p->oauth_client_id },
		{ "oauth_client_secret_file", p->oauth_client_secret_file },
		{ "oauth_client_secret", p->oauth_client_secret_file == NULL &&
		    p->oauth_client_secret != NULL ? MASK : NULL },
		{ "oauth_token_command", p->oauth_token_command },
		{ "oauth_authorize_url", p->oauth_authorize_url },
		{ "oauth_token_url", p->oauth_token_url },
		{ "oauth_device_url", p->oauth_device_url },
		{ "oauth_scope", p->oauth_scope },
	};
	size_t i;

	for (i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
		if (kv[i].value != NULL && show_kv(out, kv[i].key, kv[i].value,
		    e) < 0)
			return -1;
	return 0;
}

int
conf_show(const struct conf *c, struct buf *out, struct op_err *e)
{
	const struct conf_server *s = &c->server;
	/* each masked password grows by at most 7 bytes and takes 11
	 * ("&password=x"): twice the bound always fits */
	char v[64], dbv[2 * CONF_DATABASE_MAX + 1];
	size_t i, j;
	int rc = -1;

	if (buf_printf(out, e, "; effective settings of %s (defaults filled "
	    "in, secrets masked)\n\n[server]\n", c->path != NULL ? c->path :
	    "the built-in defaults") < 0)
		goto out;
	if (show_kv(out, "smtp_listen", s->smtp_listen, e) < 0 ||
	    show_kv(out, "http_listen", s->http_listen, e) < 0 ||
	    show_kv(out, "data_dir", s->data_dir, e) < 0 ||
	    show_kv(out, "hostname", s->hostname != NULL ? s->hostname : "", e) < 0)
		goto out;
	conf_format_size(s->max_message_size, v, sizeof(v));
	if (show_kv(out, "max_message_size", v, e) < 0)
		goto out;
	conf_format_duration(s->queue_lifetime_s, v, sizeof(v));
	if (show_kv(out, "queue_lifetime", v, e) < 0)
		goto out;
	conf_format_duration(s->retention_s, v, sizeof(v));
	if (show_kv(out, "retention", v, e) < 0 ||
	    buf_appendstr(out, "retry = ", e) < 0)
		goto out;
	for (i = 0; i < s->nretry; i++) {
		conf_format_duration(s->retry_s[i], v, sizeof(v));
		if (buf_printf(out, e, "%s%s", i ? ", " : "", v) < 0)
			goto out;
	}
	if (buf_appendstr(out, "\n", e) < 0)
		goto out;
	if (s->database != NULL)
		conf_mask_uri(dbv, sizeof(dbv), s->database);
	if ((s->database != NULL && show_kv(out, "database", dbv, e) < 0) ||
	    (s->node != NULL && show_kv(out, "node", s->node, e) < 0))
		goto out;
	if (s->api_token != NULL ? show_kv(out, "api_token", MASK, e) < 0 :
	    buf_appendstr(out, "; api_token: not set, generated into data_dir\n",
	    e) < 0)
		goto out;
	if ((s->smtp_tls_cert != NULL &&
	    show_kv(out, "smtp_tls_cert", s->smtp_tls_cert, e) < 0) ||
	    (s->smtp_tls_key != NULL &&
	    show_kv(out, "smtp_tls_key", s->smtp_tls_key, e) < 0) ||
	    show_kv(out, "smtp_auth", yn(s->smtp_auth), e) < 0 ||
	    show_list(out, "http_allowed_hosts", s->http_allowed_hosts,
	    s->nhttp_allowed_hosts, e) < 0 ||
	    buf_printf(out, e, "smtp_max_sessions = %u\n", s->smtp_max_sessions) < 0)
		goto out;
	conf_format_duration(s->smtp_timeout_s, v, sizeof(v));
	if (show_kv(out, "smtp_timeout", v, e) < 0)
		goto out;
	if (s->aliases != NULL && show_kv(out, "aliases", s->aliases, e) < 0)
		goto out;
	if ((s->user != NULL && show_kv(out, "user", s->user, e) < 0) ||
	    (s->http_tls_cert != NULL &&
	    show_kv(out, "http_tls_cert", s->http_tls_cert, e) < 0) ||
	    (s->http_tls_key != NULL &&
	    show_kv(out, "http_tls_key", s->http_tls_key, e) < 0) ||
	    (s->http_insecure && show_kv(out, "http_insecure", "yes", e) < 0) ||
	    (!s->suppress && show_kv(out, "suppress", "no", e) < 0))
		goto out;

	for (i = 0; i < c->nclients; i++) {
		const struct conf_client *cl = &c->clients[i];

		if (buf_printf(out, e, "\n[client %s]\n", cl->name) < 0 ||
		    (cl->password_file != NULL ?
		    show_kv(out, "password_file", cl->password_file, e) :
		    show_kv(out, "password", MASK, e)) < 0 ||
		    show_list(out, "allowed_from", cl->allowed_from,
		    cl->nallowed_from, e) < 0)
			goto out;
	}

	for (i = 0; i < c->nprofiles; i++) {
		const struct conf_profile *p = &c->profiles[i];
		static const char *const sec[] = { "none", "starttls", "tls" };
		char from[CONF_FROM_TEXT_MAX];

		char port[16];

		snprintf(port, sizeof(port), "%u", p->port);
		if (buf_printf(out, e, "\n[profile %s]\n", p->name) < 0 ||
		    show_kv(out, "enabled", yn(p->enabled), e) < 0 ||
		    (p->provider != NULL &&
		    show_kv(out, "provider", p->provider, e) < 0) ||
		    (p->region != NULL &&
		    show_kv(out, "region", p->region, e) < 0) ||
		    show_pv(out, p, CONF_PRESET_HOST, "host", p->host != NULL ?
		    p->host : "", e) < 0 ||
		    show_pv(out, p, CONF_PRESET_PORT, "port", port, e) < 0 ||
		    show_pv(out, p, CONF_PRESET_SECURITY, "security",
		    sec[p->security], e) < 0 ||
		    show_kv(out, "tls_verify", yn(p->tls_verify), e) < 0 ||
		    (p->tls_ca_file != NULL &&
		    show_kv(out, "tls_ca_file", p->tls_ca_file, e) < 0) ||
		    show_pv(out, p, CONF_PRESET_AUTH, "auth", p->auth ==
		    CONF_AUTH_OAUTH2 ? "oauth2" : yn(p->auth), e) < 0 ||
		    (p->username != NULL &&
		    show_pv(out, p, CONF_PRESET_USERNAME, "username", p->username,
		    e) < 0))
			goto out;
		if (p->password_file != NULL)
			rc = show_kv(out, "password_file", p->password_file, e);
		else if (p->password_command != NULL)
			rc = show_kv(out, "password_command", p->password_command, e);
		else if (p->password != NULL)
			rc = show_kv(out, "password", MASK, e);
		else
			rc = 0;
		if (rc < 0)
			goto out;
		rc = -1;
		conf_profile_from_text(p, from, sizeof(from));
		if (p->auth == CONF_AUTH_OAUTH2 && show_oauth(out, p, e) < 0)
			goto out;
		if (show_kv(out, "allow_plaintext_auth",
		    yn(p->allow_plaintext_auth), e) < 0 ||
		    (p->from != NULL && show_kv(out, "from", from, e) < 0) ||
		    show_kv(out, "force_from", yn(p->force_from), e) < 0)
			goto out;
		if (p->nlimits > 0 && buf_appendstr(out, "limits = ", e) < 0)
			goto out;
		for (j = 0; j < p->nlimits; j++) {
			uint32_t per = p->limits[j].period_s;

			if (buf_printf(out, e, "%s%llu/%c", j ? ", " : "",
			    (unsigned long long)p->limits[j].count, per == 1 ? 's' :
			    per == 60 ? 'm' : per == 3600 ? 'h' : 'd') < 0)
				goto out;
		}
		if (p->nlimits > 0 && (p->preset_keys & CONF_PRESET_LIMITS) &&
		    buf_printf(out, e, "   ; from provider %s", p->provider) < 0)
			goto out;
		if (p->nlimits > 0 && buf_appendstr(out, "\n", e) < 0)
			goto out;
		conf_format_duration(p->timeout_s, v, sizeof(v));
		if (buf_printf(out, e, "max_connections = %u\n"
		    "max_messages_per_connection = %u\n", p->max_connections,
		    p->max_messages_per_connection) < 0 ||
		    show_kv(out, "timeout", v, e) < 0)
			goto out;
	}

	if (buf_printf(out, e, "\n[redirect]\nenabled = %s\n",
	    yn(c->redirect_enabled)) < 0)
		goto out;
	for (i = 0; i < c->nreports; i++)
		if (buf_printf(out, e, "\n[report %s]\nenabled = %s\n",
		    c->reports[i].email, yn(c->reports[i].enabled)) < 0)
			goto out;
	/* events for the application: the secret masked */
	for (i = 0; i < c->nwebhooks; i++) {
		const struct conf_webhook *w = &c->webhooks[i];
		static const char *const names[] = { "queued", "sent", "deferred",
			"failed", "suppressed" };
		int first = 1;

		if (buf_printf(out, e, "\n[webhook %s]\n", w->name) < 0 ||
		    (w->url != NULL && show_kv(out, "url", w->url, e) < 0) ||
		    (w->secret_file != NULL ?
		    show_kv(out, "secret_file", w->secret_file, e) :
		    show_kv(out, "secret", MASK, e)) < 0 ||
		    buf_appendstr(out, "events = ", e) < 0)
			goto out;
		for (j = 0; j < 5; j++) {
			if (!(w->mask & (1u << j)))
				continue;
			if (buf_printf(out, e, "%s%s", first ? "" : ", ", names[j]) < 0)
				goto out;
			first = 0;
		}
		if (buf_appendstr(out, "\n", e) < 0)
			goto out;
	}
	rc = 0;
out:
	return rc;
}
