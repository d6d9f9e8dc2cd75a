/*
 * conf.c - loading and validating outpost.conf (the format is in ini.h,
 * every key in docs/config.md).
 *
 * The loader reads the whole file (at most CONF_FILE_MAX bytes), takes it
 * apart line by line with the lexer of ini.c, and fills a struct conf from
 * tables of keys: one table per section type, each key with its type, the
 * field it sets and its range.  When a section ends, the checks that span
 * keys run (a profile needs a host, authentication needs a username and a
 * password ...) and its secret is resolved; when the file ends, the
 * checks that span sections run.  Every problem is reported as
 *
 *     FILE:LINE: KEY: what is wrong
 *
 * (KEY is the section header, e.g. "[profile x]", for a section's
 * problems), all of them are collected, and the first is returned.
 */
#include "config/conf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/aliases.h"
#include "config/conf_secret.h"
#include "config/providers.h"
#include "config/ini.h"
#include "mail/addr.h"
#include "mail/dkim.h"
#include "util/log.h"
#include "util/net.h"

#define DEFAULT_SMTP_LISTEN "127.0.0.1:2525"
#define DEFAULT_HTTP_LISTEN "127.0.0.1:8025"
#define DEFAULT_DATA_DIR "./outpost-data"
#define DEFAULT_MAX_MESSAGE_SIZE (25ULL * 1024 * 1024)
#define DEFAULT_QUEUE_LIFETIME (5U * 86400)
#define DEFAULT_RETENTION (30U * 86400)
#define DEFAULT_SMTP_MAX_SESSIONS 1000
#define DEFAULT_SMTP_TIMEOUT 300        /* RFC 5321 4.5.3.2.7: 5 minutes */
#define DEFAULT_MAX_CONNECTIONS 4
#define DEFAULT_MAX_MESSAGES_PER_CONN 100
#define DEFAULT_TIMEOUT 30

#define USERNAME_MAX 255
#define API_TOKEN_MAX 256
#define KEYS_MAX 40                     /* keys of the largest section */
#define HEADER_MAX (CONF_ADDRESS_MAX + 48)

static const uint32_t default_retry[] = { 60, 300, 900, 1800, 3600, 7200, 14400 };

/* The types of values; each names what set_value() checks and stores. */
enum ktype {
	K_LISTEN,       /* host:port, or "" for off */
	K_PATH,         /* a path, not opened */
	K_FILE,         /* a path that must be readable */
	K_HOSTNAME,     /* a domain name for EHLO */
	K_HOST,         /* a host name or IP address */
	K_SIZE,         /* uint64_t bytes */
	K_DURATION,     /* uint32_t seconds */
	K_RETRY,        /* conf_server.retry_s / nretry */
	K_BOOL,         /* int */
	K_UINT,         /* unsigned */
	K_PORT,         /* unsigned */
	K_SECURITY,     /* int */
	K_LIMITS,       /* conf_profile.limits / nlimits */
	K_SECRET,       /* a password written in the file */
	K_TOKEN,        /* the API token */
	K_COMMAND,      /* password_command */
	K_TEXT,         /* a user name */
	K_ADDRESS,      /* an email address */
	K_SENDER,       /* a profile's from: address, or "Name <address>" */
	K_HOSTS,        /* conf_server.http_allowed_hosts */
	K_FROMLIST,     /* conf_client.allowed_from */
	K_AUTH,         /* conf_profile.auth: no | yes | oauth2 */
	K_PROVIDER,     /* a name of the provider table */
	K_REGION,       /* a region of the provider (checked at the end) */
	K_GRANT,        /* enum conf_oauth_grant */
	K_IDENT,        /* a tenant or client id: no spaces, URL-safe */
	K_URL,          /* https://..., or http:// to a loopback address */
	K_CLIENT_SECRET, /* oauth_client_secret */
	K_DATABASE,     /* [server] database: a postgresql:// URI */
	K_NODE,         /* [server] node: a node's name */
};

struct kdef {
	const char *name;
	int type;               /* enum ktype */
	size_t off;             /* the field in the section's struct */
	uint64_t min, max;      /* K_UINT, K_SIZE, K_DURATION, K_RETRY */
};

#define SRV(f) offsetof(struct conf_server, f)
#define PRF(f) offsetof(struct conf_profile, f)
#define CLI(f) offsetof(struct conf_client, f)
#define DAY 86400

static const struct kdef server_keys[] = {
	{ "smtp_listen", K_LISTEN, SRV(smtp_listen), 0, 0 },
	{ "http_listen", K_LISTEN, SRV(http_listen), 0, 0 },
	{ "data_dir", K_PATH, SRV(data_dir), 0, 0 },
	{ "hostname", K_HOSTNAME, SRV(hostname), 0, 0 },
	{ "max_message_size", K_SIZE, SRV(max_message_size), 1024, 2ULL << 30 },
	{ "queue_lifetime", K_DURATION, SRV(queue_lifetime_s), 1, 365 * DAY },
	{ "retention", K_DURATION, SRV(retention_s), 3600, 3650 * DAY },
	{ "retry", K_RETRY, SRV(retry_s), 1, 7 * DAY },
	{ "api_token", K_TOKEN, SRV(api_token), 0, 0 },
	{ "smtp_tls_cert", K_FILE, SRV(smtp_tls_cert), 0, 0 },
	{ "smtp_tls_key", K_FILE, SRV(smtp_tls_key), 0, 0 },
	{ "smtp_auth", K_BOOL, SRV(smtp_auth), 0, 0 },
	{ "http_allowed_hosts", K_HOSTS, SRV(http_allowed_hosts), 0, 0 },
	/* running as a service */
	{ "user", K_TEXT, SRV(user), 0, 0 },
	{ "http_tls_cert", K_FILE, SRV(http_tls_cert), 0, 0 },
	{ "http_tls_key", K_FILE, SRV(http_tls_key), 0, 0 },
	{ "http_insecure", K_BOOL, SRV(http_insecure), 0, 0 },
	{ "smtp_max_sessions", K_UINT, SRV(smtp_max_sessions), 1, 100000 },
	{ "smtp_timeout", K_DURATION, SRV(smtp_timeout_s), 1, 3600 },
	{ "aliases", K_FILE, SRV(aliases), 0, 0 },
	{ "database", K_DATABASE, SRV(database), 0, 0 },
	{ "node", K_NODE, SRV(node), 0, 0 },
	{ "suppress", K_BOOL, SRV(suppress), 0, 0 },
};

static const struct kdef profile_keys[] = {
	{ "enabled", K_BOOL, PRF(enabled), 0, 0 },
	{ "host", K_HOST, PRF(host), 0, 0 },
	{ "port", K_PORT, PRF(port), 0, 0 },
	{ "security", K_SECURITY, PRF(security), 0, 0 },
	{ "tls_verify", K_BOOL, PRF(tls_verify), 0, 0 },
	{ "tls_ca_file", K_FILE, PRF(tls_ca_file), 0, 0 },
	{ "auth", K_AUTH, PRF(auth), 0, 0 },
	{ "username", K_TEXT, PRF(username), 0, 0 },
	{ "password", K_SECRET, PRF(password), 0, 0 },
	{ "password_file", K_PATH, PRF(password_file), 0, 0 },
	{ "password_command", K_COMMAND, PRF(password_command), 0, 0 },
	{ "allow_plaintext_auth", K_BOOL, PRF(allow_plaintext_auth), 0, 0 },
	{ "from", K_SENDER, PRF(from), 0, 0 },
	{ "force_from", K_BOOL, PRF(force_from), 0, 0 },
	{ "limits", K_LIMITS, PRF(limits), 0, 0 },
	{ "max_connections", K_UINT, PRF(max_connections), 1, 100 },
	{ "max_messages_per_connection", K_UINT,
	  PRF(max_messages_per_connection), 1, 100000 },
	{ "timeout", K_DURATION, PRF(timeout_s), 1, 3600 },
	{ "provider", K_PROVIDER, PRF(provider), 0, 0 },
	{ "region", K_REGION, PRF(region), 0, 0 },
	{ "oauth_grant", K_GRANT, PRF(oauth_grant), 0, 0 },
	{ "oauth_tenant", K_IDENT, PRF(oauth_tenant), 0, 0 },
	{ "oauth_client_id", K_IDENT, PRF(oauth_client_id), 0, 0 },
	{ "oauth_client_secret", K_CLIENT_SECRET, PRF(oauth_client_secret), 0, 0 },
	{ "oauth_client_secret_file", K_PATH, PRF(oauth_client_secret_file), 0, 0 },
	{ "oauth_token_command", K_COMMAND, PRF(oauth_token_command), 0, 0 },
	{ "oauth_authorize_url", K_URL, PRF(oauth_authorize_url), 0, 0 },
	{ "oauth_token_url", K_URL, PRF(oauth_token_url), 0, 0 },
	{ "oauth_device_url", K_URL, PRF(oauth_device_url), 0, 0 },
	{ "oauth_scope", K_TEXT, PRF(oauth_scope), 0, 0 },
};

static const struct kdef client_keys[] = {
	{ "password", K_SECRET, CLI(password), 0, 0 },
	{ "password_file", K_PATH, CLI(password_file), 0, 0 },
	{ "allowed_from", K_FROMLIST, CLI(allowed_from), 0, 0 },
};

static const struct kdef redirect_keys[] = {
	{ "enabled", K_BOOL, offsetof(struct conf, redirect_enabled), 0, 0 },
};

static const struct kdef report_keys[] = {
	{ "enabled", K_BOOL, offsetof(struct conf_report, enabled), 0, 0 },
};

/* [dkim NAME]: the key file is read and checked when the section ends
 * (finish_dkim). */
static const struct kdef dkim_keys[] = {
	{ "domain", K_HOSTNAME, offsetof(struct conf_dkim, domain), 0, 0 },
	{ "selector", K_HOSTNAME, offsetof(struct conf_dkim, selector), 0, 0 },
	{ "key_file", K_PATH, offsetof(struct conf_dkim, key_file), 0, 0 },
};

/* [webhook NAME]: checked when the section ends (finish_webhook). */
static const struct kdef webhook_keys[] = {
	{ "url", K_URL, offsetof(struct conf_webhook, url), 0, 0 },
	{ "secret", K_SECRET, offsetof(struct conf_webhook, secret), 0, 0 },
	{ "secret_file", K_PATH, offsetof(struct conf_webhook, secret_file), 0, 0 },
	{ "events", K_TEXT, offsetof(struct conf_webhook, events), 0, 0 },
};

enum skind { S_NONE = 0, S_SERVER, S_CLIENT, S_PROFILE, S_REDIRECT, S_REPORT,
	S_DKIM, S_WEBHOOK, S_SKIP };

#define NKEYS(t) (sizeof(t) / sizeof((t)[0]))

static const struct sdef {
	const char *type;
	int kind;
	int takes_arg;
	const struct kdef *keys;
	size_t nkeys;
} sections[] = {
	{ "server", S_SERVER, 0, server_keys, NKEYS(server_keys) },
	{ "client", S_CLIENT, 1, client_keys, NKEYS(client_keys) },
	{ "profile", S_PROFILE, 1, profile_keys, NKEYS(profile_keys) },
	{ "redirect", S_REDIRECT, 0, redirect_keys, NKEYS(redirect_keys) },
	{ "report", S_REPORT, 1, report_keys, NKEYS(report_keys) },
	{ "dkim", S_DKIM, 1, dkim_keys, NKEYS(dkim_keys) },
	{ "webhook", S_WEBHOOK, 1, webhook_keys, NKEYS(webhook_keys) },
};

#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

_Static_assert(CONF_LINE_MAX == INI_LINE_MAX, "one line limit for both");
_Static_assert(NKEYS(profile_keys) <= KEYS_MAX, "KEYS_MAX too small");
_Static_assert(NKEYS(server_keys) <= KEYS_MAX, "KEYS_MAX too small");

/* The loader's state while it walks the file. */
struct lstate {
	const char *file;               /* the name in messages */
	struct conf *c;
	struct lerr {                   /* problems, sorted by line at the end */
		unsigned line;
		char *text;             /* "FILE:LINE: KEY: message" */
	} errs[CONF_MAX_ERRORS];
	struct buf warns;               /* one line each */
	unsigned nerrors;
	int stop;                       /* too many errors */
	int holds_secret;               /* a password or api_token in the file */
	size_t nsections;

	const struct sdef *sec;         /* the current section, NULL if none */
	int kind;                       /* enum skind */
	void *obj;                      /* the struct its keys fill */
	unsigned hline;                 /* line of its header */
	unsigned sec_errors;            /* errors inside it */
	char header[HEADER_MAX];        /* "[profile x]" */
	unsigned *seen;                 /* line each key was set on, 0 = not */
	unsigned sec_seen[KEYS_MAX];
	unsigned server_seen[KEYS_MAX]; /* kept for the checks at the end */
	unsigned server_line, redirect_line;
	int scratch;                    /* obj is a section that is not kept
	                                 * (its name was refused) */
};

static void cerr(struct lstate *st, unsigned line, const char *key,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void cwarn(struct lstate *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Record one problem: "FILE:LINE: KEY: message". */
static void
cerr(struct lstate *st, unsigned line, const char *key, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX], text[ERR_MSG_MAX + PATH_MAX + 64];
	va_list ap;

	st->nerrors++;
	st->sec_errors++;
	if (st->nerrors > CONF_MAX_ERRORS) {
		st->stop = 1;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(text, sizeof(text), "%s:%u: %s: %s", st->file, line, key, msg);
	else
		snprintf(text, sizeof(text), "%s: %s: %s", st->file, key, msg);
	st->errs[st->nerrors - 1].line = line;
	st->errs[st->nerrors - 1].text = str_dup(text);
}

/* Hand the problems over in line order (stable), the first also in e. */
static void
flush_errors(struct lstate *st, struct buf *diag, struct op_err *e)
{
	size_t n = st->nerrors < CONF_MAX_ERRORS ? st->nerrors : CONF_MAX_ERRORS;
	size_t i, j;

	for (i = 1; i < n; i++) {
		struct lerr x = st->errs[i];

		for (j = i; j > 0 && st->errs[j - 1].line > x.line; j--)
			st->errs[j] = st->errs[j - 1];
		st->errs[j] = x;
	}
	if (n > 0)
		err_set(e, ERR_CONFIG, "%s", st->errs[0].text);
	for (i = 0; i < n; i++) {
		if (diag != NULL)
			buf_printf(diag, NULL, "%s\n", st->errs[i].text);
		free(st->errs[i].text);
	}
	if (st->stop && diag != NULL)
		buf_printf(diag, NULL, "%s: stopping after %d errors\n", st->file,
		    CONF_MAX_ERRORS);
}

static void
cwarn(struct lstate *st, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	buf_printf(&st->warns, NULL, "warning: %s\n", msg);
}

/* ---- memory ------------------------------------------------------- */

static void
free_list(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
free_secret(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void
server_free(struct conf_server *s)
{
	free(s->smtp_listen);
	free(s->http_listen);
	free(s->data_dir);
	free(s->hostname);
	free_secret(s->api_token);
	free(s->smtp_tls_cert);
	free(s->smtp_tls_key);
	free_list(s->http_allowed_hosts, s->nhttp_allowed_hosts);
	free(s->aliases);
	free_secret(s->database);
	free(s->node);
	free(s->user);
	free(s->http_tls_cert);
	free(s->http_tls_key);
}

static void
profile_free(struct conf_profile *p)
{
	free(p->name);
	free(p->host);
	free(p->tls_ca_file);
	free(p->username);
	free_secret(p->password);
	free(p->password_file);
	free(p->password_command);
	free(p->from);
	free(p->from_name);
	free(p->provider);
	free(p->region);
	free(p->oauth_tenant);
	free(p->oauth_client_id);
	free_secret(p->oauth_client_secret);
	free(p->oauth_client_secret_file);
	free(p->oauth_token_command);
	free(p->oauth_authorize_url);
	free(p->oauth_token_url);
	free(p->oauth_device_url);
	free(p->oauth_scope);
}

static void
client_free(struct conf_client *cl)
{
	free(cl->name);
	free_secret(cl->password);
	free(cl->password_file);
	free_list(cl->allowed_from, cl->nallowed_from);
}

void
conf_free(struct conf *c)
{
	size_t i;

	if (c == NULL)
		return;
	free(c->path);
	server_free(&c->server);
	for (i = 0; i < c->nprofiles; i++)
		profile_free(&c->profiles[i]);
	free(c->profiles);
	for (i = 0; i < c->nclients; i++)
		client_free(&c->clients[i]);
	free(c->clients);
	for (i = 0; i < c->nreports; i++)
		free(c->reports[i].email);
	free(c->reports);
	aliases_free(c->alias_map);
	for (i = 0; i < c->nwebhooks; i++) {
		free(c->webhooks[i].name);
		free(c->webhooks[i].url);
		free_secret(c->webhooks[i].secret);
		free(c->webhooks[i].secret_file);
		free(c->webhooks[i].events);
	}
	free(c->webhooks);
	for (i = 0; i < c->ndkim; i++) {
		free(c->dkim[i].name);
		free(c->dkim[i].domain);
		free(c->dkim[i].selector);
		free(c->dkim[i].key_file);
		if (c->dkim[i].key_pem != NULL)
			explicit_bzero(c->dkim[i].key_pem, c->dkim[i].key_len);
		free(c->dkim[i].key_pem);
	}
	free(c->dkim);
	free(c);
}

/* ---- defaults ----------------------------------------------------- */

/* The machine's name as gethostname() gives it; never a DNS lookup (a
 * name without a dot is kept as it is). */
static char *
default_hostname(void)
{
	char h[256];

	if (gethostname(h, sizeof(h)) < 0)
		return str_dup("localhost");
	h[sizeof(h) - 1] = '\0';
	if (h[0] == '\0' || conf_check_host(h, NULL) < 0 || strchr(h, ':') != NULL)
		return str_dup("localhost");
	return str_dup(h);
}

static void
server_defaults(struct conf_server *s)
{
	memset(s, 0, sizeof(*s));
	s->smtp_listen = str_dup(DEFAULT_SMTP_LISTEN);
	s->http_listen = str_dup(DEFAULT_HTTP_LISTEN);
	s->data_dir = str_dup(DEFAULT_DATA_DIR);
	s->max_message_size = DEFAULT_MAX_MESSAGE_SIZE;
	s->queue_lifetime_s = DEFAULT_QUEUE_LIFETIME;
	s->retention_s = DEFAULT_RETENTION;
	memcpy(s->retry_s, default_retry, sizeof(default_retry));
	s->nretry = NKEYS(default_retry);
	s->smtp_max_sessions = DEFAULT_SMTP_MAX_SESSIONS;
	s->suppress = 1;
	s->smtp_timeout_s = DEFAULT_SMTP_TIMEOUT;
}

static void
profile_defaults(struct conf_profile *p)
{
	memset(p, 0, sizeof(*p));
	p->enabled = 1;
	p->security = CONF_SEC_STARTTLS;
	p->tls_verify = 1;
	p->max_connections = DEFAULT_MAX_CONNECTIONS;
	p->max_messages_per_connection = DEFAULT_MAX_MESSAGES_PER_CONN;
	p->timeout_s = DEFAULT_TIMEOUT;
}

static struct conf *
conf_new(const char *path)
{
	struct conf *c = mem_alloc(sizeof(*c));

	c->path = path != NULL ? str_dup(path) : NULL;
	server_defaults(&c->server);
	return c;
}

/* ---- values ------------------------------------------------------- */

static void
show(char *dst, size_t dstsz, const char *s)
{
	log_sanitize(dst, dstsz, s);
}

/* Split a comma list into trimmed items; each checked by check(). */
static int
split_list(const char *v, int (*check)(const char *, struct op_err *),
    char ***out, size_t *nout, struct op_err *e)
{
	char **items = NULL;
	size_t n = 0;
	const char *p = v;

	for (;;) {
		const char *end = strchr(p, ','), *s = p;
		size_t len;
		char *item;

		if (end == NULL)
			end = p + strlen(p);
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		len = (size_t)(end - s);
		while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		if (len == 0) {
			free_list(items, n);
			return err_set(e, ERR_CONFIG, "has an empty item; write "
			    "items separated by commas");
		}
		if (n == CONF_MAX_LIST) {
			free_list(items, n);
			return err_set(e, ERR_CONFIG, "has more than %d items",
			    CONF_MAX_LIST);
		}
		item = str_ndup(s, len);
		if (check(item, e) < 0) {
			free(item);
			free_list(items, n);
			return -1;
		}
		items = mem_realloc(items, (n + 1) * sizeof(*items));
		items[n++] = item;
		if (*end == '\0')
			break;
		p = end + 1;
	}
	*out = items;
	*nout = n;
	return 0;
}

/* allowed_from: "*", "*@DOMAIN" or "LOCAL@DOMAIN". */
static int
check_from_pattern(const char *s, struct op_err *e)
{
	char v[64];

	if (strcmp(s, "*") == 0)
		return 0;
	if (strncmp(s, "*@", 2) == 0) {
		char probe[CONF_ADDRESS_MAX + 8];

		/* Check the domain the way an address's domain is checked. */
		if (snprintf(probe, sizeof(probe), "x%s", s + 1) >= (int)sizeof(probe) ||
		    conf_check_address(probe, NULL) < 0) {
			show(v, sizeof(v), s);
			return err_set(e, ERR_CONFIG, "'%s' is not a pattern; write "
			    "*@example.com, an address, or *", v);
		}
		return 0;
	}
	if (strchr(s, '*') != NULL) {
		show(v, sizeof(v), s);
		return err_set(e, ERR_CONFIG, "'%s': '*' may only stand for the "
		    "whole local part (*@example.com) or for any address (*)", v);
	}
	return conf_check_address(s, e);
}

static int
check_allowed_host(const char *s, struct op_err *e)
{
	return conf_check_host(s, e);
}

const char *
conf_grant_name(int grant)
{
	return grant == CONF_GRANT_CLIENT_CREDENTIALS ? "client_credentials" :
	    grant == CONF_GRANT_COMMAND ? "command" : "authorization_code";
}

/* 1 if host (no brackets) is a loopback address or "localhost". */
static int
is_loopback_host(const char *host)
{
	return strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 ||
	    strncmp(host, "127.", 4) == 0;
}

int
conf_check_oauth_url(const char *v, struct op_err *e)
{
	char shown[160], host[256];
	const char *h, *end;
	size_t n;
	int https = strncmp(v, "https://", 8) == 0;

	show(shown, sizeof(shown), v);
	if (strlen(v) > CONF_URL_MAX)
		return err_set(e, ERR_CONFIG, "the address is longer than %d bytes",
		    CONF_URL_MAX);
	if (!https && strncmp(v, "http://", 7) != 0)
		return err_set(e, ERR_CONFIG, "'%s' is not an https:// address",
		    shown);
	if (strpbrk(v, " \t\"<>\\^`{|}") != NULL)
		return err_set(e, ERR_CONFIG, "'%s' holds characters an address "
		    "cannot hold (spaces, quotes, braces)", shown);
	h = v + (https ? 8 : 7);
	if (*h == '[') {
		end = strchr(h, ']');
		if (end == NULL)
			return err_set(e, ERR_CONFIG, "'%s' has an unclosed [", shown);
		h++;
	} else {
		end = h + strcspn(h, ":/?#");
	}
	n = (size_t)(end - h);
	if (n == 0 || n >= sizeof(host) || memchr(h, '@', n) != NULL)
		return err_set(e, ERR_CONFIG, "'%s' has no usable host name", shown);
	memcpy(host, h, n);
	host[n] = '\0';
	if (!https && !is_loopback_host(host))
		return err_set(e, ERR_CONFIG, "'%s': http:// is allowed only to "
		    "a loopback address (127.0.0.1, [::1], localhost); use https://",
		    shown);
	return 0;
}

static int
set_string(char **field, const char *v)
{
	free(*field);
	*field = str_dup(v);
	return 0;
}

enum { R_NUMBER, R_DURATION, R_SIZE };   /* how check_range shows bounds */

static int
check_range(const struct kdef *k, uint64_t n, const char *v, struct op_err *e,
    int style)
{
	char lo[32], hi[32], shown[64];

	if (n >= k->min && n <= k->max)
		return 0;
	show(shown, sizeof(shown), v);
	if (style == R_DURATION) {
		conf_format_duration((uint32_t)k->min, lo, sizeof(lo));
		conf_format_duration((uint32_t)k->max, hi, sizeof(hi));
	} else if (style == R_SIZE) {
		conf_format_size(k->min, lo, sizeof(lo));
		conf_format_size(k->max, hi, sizeof(hi));
	} else {
		snprintf(lo, sizeof(lo), "%llu", (unsigned long long)k->min);
		snprintf(hi, sizeof(hi), "%llu", (unsigned long long)k->max);
	}
	return err_set(e, ERR_CONFIG, "'%s' is out of range (%s to %s)", shown,
	    lo, hi);
}

/*
 * Check v for key k and store it in obj (the section's struct).  Files are
 * opened only if open_files.  Messages name neither file nor key, and never
 * quote a secret.
 */
static int
set_value(const struct kdef *k, void *obj, const char *v, int open_files,
    struct op_err *e)
{
	char *field = (char *)obj + k->off;
	char shown[160];
	const unsigned char *u;
	size_t len = strlen(v);

	for (u = (const unsigned char *)v; *u != '\0'; u++)
		if (*u < 0x20 || *u == 0x7f)
			return err_set(e, ERR_CONFIG, "the value holds a control "
			    "character");
	if (len == 0 && k->type != K_LISTEN && k->type != K_LIMITS)
		return err_set(e, ERR_CONFIG, "needs a value (to use the "
		    "default, remove the line)");
	show(shown, sizeof(shown), v);

	switch (k->type) {
	case K_LISTEN: {
		char host[256], port[16];

		if (len > 0 && net_split_hostport(v, host, sizeof(host), port,
		    sizeof(port), e) < 0)
			return -1;
		if (len > 0 && conf_check_host(host, NULL) < 0)
			return err_set(e, ERR_CONFIG, "'%s' is not host:port "
			    "(for example 127.0.0.1:2525)", shown);
		return set_string((char **)field, v);
	}
	case K_PATH:
	case K_FILE:
		if (len >= PATH_MAX)
			return err_set(e, ERR_CONFIG, "the path is longer than %d "
			    "bytes", PATH_MAX - 1);
		if (k->type == K_FILE && open_files) {
			int fd = open(v, O_RDONLY | O_CLOEXEC | O_NOCTTY);

			if (fd < 0)
				return err_set(e, ERR_CONFIG, "cannot read %s: %s",
				    shown, strerror(errno));
			close(fd);
		}
		return set_string((char **)field, v);
	case K_HOSTNAME:
		if (conf_check_host(v, e) < 0)
			return -1;
		if (strchr(v, ':') != NULL || v[0] == '[')
			return err_set(e, ERR_CONFIG, "'%s' is not a host name (an "
			    "EHLO name is a domain, for example mail.example.org)",
			    shown);
		return set_string((char **)field, v);
	case K_HOST:
		if (conf_check_host(v, e) < 0)
			return -1;
		return set_string((char **)field, v);
	case K_SIZE: {
		uint64_t n;

		if (conf_parse_size_e(v, &n, e) < 0 || check_range(k, n, v, e, R_SIZE) < 0)
			return -1;
		memcpy(field, &n, sizeof(n));
		return 0;
	}
	case K_DURATION: {
		uint32_t n;

		if (conf_parse_duration_e(v, &n, e) < 0 ||
		    check_range(k, n, v, e, R_DURATION) < 0)
			return -1;
		memcpy(field, &n, sizeof(n));
		return 0;
	}
	case K_RETRY: {
		struct conf_server *s = obj;
		uint32_t waits[CONF_MAX_RETRY];
		size_t n, i;

		if (conf_parse_retry(v, waits, CONF_MAX_RETRY, &n, e) < 0)
			return -1;
		for (i = 0; i < n; i++)
			if (check_range(k, waits[i], v, e, R_DURATION) < 0)
				return -1;
		memcpy(s->retry_s, waits, sizeof(waits));
		s->nretry = n;
		return 0;
	}
	case K_BOOL: {
		int b;

		if (conf_parse_bool_e(v, &b, e) < 0)
			return -1;
		memcpy(field, &b, sizeof(b));
		return 0;
	}
	case K_UINT: {
		unsigned long n;
		unsigned u32;

		if (str_to_ulong(v, ULONG_MAX, &n) < 0)
			return err_set(e, ERR_CONFIG, "'%s' is not a whole number",
			    shown);
		if (check_range(k, n, v, e, R_NUMBER) < 0)
			return -1;
		u32 = (unsigned)n;
		memcpy(field, &u32, sizeof(u32));
		return 0;
	}
	case K_PORT: {
		unsigned p;

		if (conf_parse_port(v, &p, e) < 0)
			return -1;
		memcpy(field, &p, sizeof(p));
		return 0;
	}
	case K_SECURITY: {
		int sec;

		if (conf_parse_security_e(v, &sec, e) < 0)
			return -1;
		memcpy(field, &sec, sizeof(sec));
		return 0;
	}
	case K_LIMITS: {
		struct conf_profile *p = obj;

		return conf_parse_limits_e(v, p->limits, CONF_MAX_LIMITS,
		    &p->nlimits, e);
	}
	case K_SECRET:
		if (len > CONF_SECRET_MAX)
			return err_set(e, ERR_CONFIG, "the password is longer than "
			    "%d bytes", CONF_SECRET_MAX);
		free_secret(*(char **)field);
		*(char **)field = str_dup(v);
		return 0;
	case K_TOKEN:
		if (len < CONF_API_TOKEN_MIN || len > API_TOKEN_MAX)
			return err_set(e, ERR_CONFIG, "must be %d to %d characters "
			    "long (for example the output of: openssl rand -hex 32)",
			    CONF_API_TOKEN_MIN, API_TOKEN_MAX);
		for (u = (const unsigned char *)v; *u != '\0'; u++)
			if (*u <= 0x20 || *u >= 0x7f)
				return err_set(e, ERR_CONFIG, "may hold only visible "
				    "ASCII characters (no spaces)");
		free_secret(*(char **)field);
		*(char **)field = str_dup(v);
		return 0;
	case K_COMMAND: {
		char **argv;

		if (conf_command_split(v, &argv, e) < 0)
			return -1;
		free(argv);
		return set_string((char **)field, v);
	}
	case K_TEXT:
		if (len > USERNAME_MAX)
			return err_set(e, ERR_CONFIG, "is longer than %d bytes",
			    USERNAME_MAX);
		return set_string((char **)field, v);
	case K_ADDRESS:
		if (conf_check_address(v, e) < 0)
			return -1;
		return set_string((char **)field, v);
	case K_SENDER: {
		struct conf_profile *p = obj;
		struct addr_mailbox mb;
		char name[ADDR_NAME_MAX + 1], addr[CONF_ADDRESS_MAX + 1];
		const char *lt = strrchr(v, '<');

		/* "Name <address>": the name as addr_parse_display() takes it
		 * apart (no CR, LF or control characters), the address as
		 * strictly as a bare one */
		if (lt != NULL && addr_parse_display(v, &mb, name, sizeof(name), e) < 0) {
			if (e != NULL)
				e->kind = ERR_CONFIG;
			return -1;
		}
		if (lt != NULL) {
			str_copy(addr, sizeof(addr), lt + 1);
			addr[strcspn(addr, ">")] = '\0';
		}
		if (conf_check_address(lt != NULL ? addr : v, e) < 0)
			return -1;
		if (set_string((char **)field, lt != NULL ? addr : v) < 0)
			return -1;
		free(p->from_name);
		p->from_name = lt != NULL && name[0] != '\0' ? str_dup(name) : NULL;
		return 0;
	}
	case K_HOSTS: {
		struct conf_server *s = obj;
		char **items;
		size_t n;

		if (split_list(v, check_allowed_host, &items, &n, e) < 0)
			return -1;
		free_list(s->http_allowed_hosts, s->nhttp_allowed_hosts);
		s->http_allowed_hosts = items;
		s->nhttp_allowed_hosts = n;
		return 0;
	}
	case K_FROMLIST: {
		struct conf_client *cl = obj;
		char **items;
		size_t n;

		if (split_list(v, check_from_pattern, &items, &n, e) < 0)
			return -1;
		free_list(cl->allowed_from, cl->nallowed_from);
		cl->allowed_from = items;
		cl->nallowed_from = n;
		return 0;
	}
	case K_AUTH: {
		int b;

		if (strcmp(v, "oauth2") == 0) {
			b = CONF_AUTH_OAUTH2;
		} else if (conf_parse_bool(v, &b) < 0) {
			return err_set(e, ERR_CONFIG, "'%s' is not no, yes or oauth2 "
			    "(yes: a password; oauth2: a token from a sign-in)", shown);
		}
		memcpy(field, &b, sizeof(b));
		return 0;
	}
	case K_PROVIDER:
		if (conf_provider_find(v) == NULL)
			return err_set(e, ERR_CONFIG, "'%s' is not a provider Outpost "
			    "knows; write one of %s", shown, conf_provider_names());
		return set_string((char **)field, v);
	case K_REGION:
		if (len > CONF_NAME_MAX)
			return err_set(e, ERR_CONFIG, "is longer than %d bytes",
			    CONF_NAME_MAX);
		for (u = (const unsigned char *)v; *u != '\0'; u++)
			if (!isalnum(*u) && *u != '-' && *u != '.')
				return err_set(e, ERR_CONFIG, "'%s' is not a region "
				    "name (letters, digits, '-' and '.')", shown);
		return set_string((char **)field, v);
	case K_GRANT: {
		int g;

		if (strcmp(v, "authorization_code") == 0)
			g = CONF_GRANT_AUTHORIZATION_CODE;
		else if (strcmp(v, "client_credentials") == 0)
			g = CONF_GRANT_CLIENT_CREDENTIALS;
		else if (strcmp(v, "command") == 0)
			g = CONF_GRANT_COMMAND;
		else
			return err_set(e, ERR_CONFIG, "'%s' is not a grant; write "
			    "authorization_code, client_credentials or command", shown);
		memcpy(field, &g, sizeof(g));
		return 0;
	}
	case K_IDENT:
		if (len > USERNAME_MAX)
			return err_set(e, ERR_CONFIG, "is longer than %d bytes",
			    USERNAME_MAX);
		for (u = (const unsigned char *)v; *u != '\0'; u++)
			if (!isalnum(*u) && strchr(".-_~@", *u) == NULL)
				return err_set(e, ERR_CONFIG, "'%s' may hold only letters, "
				    "digits and . - _ ~ @", shown);
		return set_string((char **)field, v);
	case K_URL:
		if (conf_check_oauth_url(v, e) < 0)
			return -1;
		return set_string((char **)field, v);
	case K_CLIENT_SECRET:
		if (len > CONF_SECRET_MAX)
			return err_set(e, ERR_CONFIG, "the secret is longer than %d "
			    "bytes", CONF_SECRET_MAX);
		free_secret(*(char **)field);
		*(char **)field = str_dup(v);
		return 0;
	case K_DATABASE: {
		size_t i;

		/* may hold a password: never echoed in a message */
		if (len > CONF_DATABASE_MAX)
			return err_set(e, ERR_CONFIG, "the URI is longer than %d "
			    "bytes", CONF_DATABASE_MAX);
		for (i = 0; i < len; i++)
			if ((unsigned char)v[i] <= 0x20 || v[i] == 0x7f)
				return err_set(e, ERR_CONFIG, "the URI holds a space "
				    "or a control character");
		if (len > 0 && strncmp(v, "postgresql://", 13) != 0 &&
		    strncmp(v, "postgres://", 11) != 0)
			return err_set(e, ERR_CONFIG, "is not a postgresql:// URI "
			    "(postgresql://USER@HOST:PORT/DB); leave it out for the "
			    "SQLite queue in data_dir");
		free_secret(*(char **)field);
		*(char **)field = len > 0 ? str_dup(v) : NULL;
		return 0;
	}
	case K_NODE: {
		size_t i;

		if (len == 0 || len > CONF_NODE_MAX)
			return err_set(e, ERR_CONFIG, "a node name is 1 to %d "
			    "characters", CONF_NODE_MAX);
		for (i = 0; i < len; i++)
			if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' &&
			    v[i] <= 'Z') || (v[i] >= '0' && v[i] <= '9') ||
			    v[i] == '-' || v[i] == '.' || v[i] == '_'))
				return err_set(e, ERR_CONFIG, "'%s' is not a node name "
				    "(letters, digits, '-', '.' and '_')", shown);
		return set_string((char **)field, v);
	}
	}
	return err_set(e, ERR_SOFTWARE, "unknown value type");
}

/* ---- sections and keys -------------------------------------------- */

static const struct sdef *
find_section(const char *type)
{
	size_t i;

	for (i = 0; i < NSECTIONS; i++)
		if (strcmp(sections[i].type, type) == 0)
			return &sections[i];
	return NULL;
}

static int
key_index(const struct sdef *sec, const char *key)
{
	size_t i;

	for (i = 0; i < sec->nkeys; i++)
		if (strcmp(sec->keys[i].name, key) == 0)
			return (int)i;
	return -1;
}

/* The line a key of the current section was set on, 0 if it was not. */
static unsigned
seen_at(const struct lstate *st, const char *key)
{
	int i = key_index(st->sec, key);

	return i >= 0 ? st->seen[i] : 0;
}

static int
is_name_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

int
conf_check_section(const char *type, const char *arg, struct op_err *e)
{
	const struct sdef *sec = find_section(type);
	char v[80];
	size_t i, n;

	if (sec == NULL)
		return err_set(e, ERR_CONFIG, "unknown section; the sections are "
		    "[server], [client NAME], [profile NAME], [redirect], "
		    "[report ADDRESS], [dkim NAME] and [webhook NAME]");
	if (!sec->takes_arg && arg != NULL)
		return err_set(e, ERR_CONFIG, "[%s] takes no name", type);
	if (sec->takes_arg && (arg == NULL || arg[0] == '\0'))
		return err_set(e, ERR_CONFIG, "needs a %s: write [%s %s]",
		    sec->kind == S_REPORT ? "address" : "name", type,
		    sec->kind == S_REPORT ? "ADDRESS" : "NAME");
	if (sec->kind == S_REPORT)
		return conf_check_address(arg, e);
	if (sec->kind == S_PROFILE || sec->kind == S_CLIENT ||
	    sec->kind == S_DKIM || sec->kind == S_WEBHOOK) {
		n = strlen(arg);
		show(v, sizeof(v), arg);
		if (n > CONF_NAME_MAX)
			return err_set(e, ERR_CONFIG, "the name '%s' is longer than "
			    "%d characters", v, CONF_NAME_MAX);
		for (i = 0; i < n; i++)
			if (!is_name_char((unsigned char)arg[i]))
				return err_set(e, ERR_CONFIG, "the name '%s' may hold "
				    "only letters, digits, '-', '_' and '.'", v);
		if (arg[0] == '.' || arg[0] == '-')
			return err_set(e, ERR_CONFIG, "the name '%s' must start "
			    "with a letter, a digit or '_'", v);
	}
	return 0;
}

/* Edit distance, for "did you mean"; names are at most 64 bytes. */
static size_t
distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t row[65], prev, tmp;

	if (la > 64 || lb > 64)
		return 99;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t best = prev + (tolower((unsigned char)a[i - 1]) !=
			    tolower((unsigned char)b[j - 1]));

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			tmp = row[j];
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

/* A hint for an unknown key: a near miss in this section, or the section
 * the key belongs to. */
static void
unknown_key_hint(const struct sdef *sec, const char *key, char *dst, size_t n)
{
	size_t i, j, best = 3;
	const char *name = NULL;

	dst[0] = '\0';
	for (i = 0; i < sec->nkeys; i++) {
		size_t d = distance(key, sec->keys[i].name);

		if (d < best) {
			best = d;
			name = sec->keys[i].name;
		}
	}
	if (name != NULL) {
		snprintf(dst, n, "; did you mean '%s'?", name);
		return;
	}
	for (i = 0; i < NSECTIONS; i++)
		for (j = 0; j < sections[i].nkeys; j++)
			if (&sections[i] != sec &&
			    strcmp(sections[i].keys[j].name, key) == 0) {
				snprintf(dst, n, "; it belongs in [%s%s]",
				    sections[i].type, sections[i].takes_arg ?
				    (sections[i].kind == S_REPORT ? " ADDRESS" : " NAME") : "");
				return;
			}
}

/* ---- the checks when a section ends -------------------------------- */

static void
resolve_file(struct lstate *st, unsigned line, const char *path, char **secret)
{
	struct op_err e;
	unsigned mode = 0;
	char shown[256];

	if (conf_secret_file(path, secret, &mode, &e) < 0) {
		cerr(st, line, "password_file", "%s", e.msg);
		return;
	}
	if (mode & S_IROTH) {
		show(shown, sizeof(shown), path);
		cwarn(st, "%s: readable by other users; chmod 600 %s", shown, shown);
	}
}

/* *field as written (with "{tenant}" put in), else the provider's. */
static void
oauth_url(struct lstate *st, const char *key, char **field, const char *tmpl,
    const char *tenant)
{
	struct op_err e;
	char *v = NULL;

	if (*field != NULL)
		tmpl = *field;
	if (tmpl == NULL)
		return;
	if (conf_provider_url(tmpl, tenant, &v, &e) < 0 ||
	    conf_check_oauth_url(v, &e) < 0) {
		cerr(st, seen_at(st, key), key, "%s", e.msg);
		free(v);
		return;
	}
	free(*field);
	*field = v;
}

/* auth = oauth2: the provider's endpoints, then what each grant needs. */
static void
finish_oauth(struct lstate *st, const struct conf_provider *pv, int nsrc)
{
	struct conf_profile *p = st->obj;
	unsigned la = seen_at(st, "auth"), ls = seen_at(st, "oauth_client_secret");
	unsigned lf = seen_at(st, "oauth_client_secret_file");
	const char *missing = NULL;
	struct op_err e;
	unsigned mode = 0;

	if (p->username == NULL)
		cerr(st, la, "auth", "auth = oauth2 needs a username; add username "
		    "= the mailbox the token is for");
	if (nsrc > 0)
		cerr(st, la, "auth", "auth = oauth2 signs in with a token, not a "
		    "password; remove password, password_file and password_command "
		    "from %s", st->header);
	if (p->security == CONF_SEC_NONE && !p->allow_plaintext_auth)
		cerr(st, seen_at(st, "security"), "security", "security = none with "
		    "authentication would send the token unencrypted; use starttls "
		    "or tls, or set allow_plaintext_auth = yes to allow that");
	if (p->oauth_tenant == NULL && pv != NULL && pv->default_tenant != NULL)
		p->oauth_tenant = str_dup(pv->default_tenant);
	oauth_url(st, "oauth_authorize_url", &p->oauth_authorize_url,
	    pv != NULL ? pv->authorize_url : NULL, p->oauth_tenant);
	oauth_url(st, "oauth_token_url", &p->oauth_token_url,
	    pv != NULL ? pv->token_url : NULL, p->oauth_tenant);
	oauth_url(st, "oauth_device_url", &p->oauth_device_url,
	    pv != NULL ? pv->device_url : NULL, p->oauth_tenant);
	if (p->oauth_scope == NULL && pv != NULL) {
		const char *sc = p->oauth_grant == CONF_GRANT_CLIENT_CREDENTIALS ?
		    pv->app_scope : pv->scope;

		if (sc != NULL)
			p->oauth_scope = str_dup(sc);
	}
	if (ls && lf)
		cerr(st, ls > lf ? ls : lf, ls > lf ? "oauth_client_secret" :
		    "oauth_client_secret_file", "%s sets both oauth_client_secret "
		    "and oauth_client_secret_file; use one", st->header);
	if (p->oauth_grant != CONF_GRANT_COMMAND && p->oauth_token_command != NULL)
		cerr(st, seen_at(st, "oauth_token_command"), "oauth_token_command",
		    "is used only with oauth_grant = command");
	switch (p->oauth_grant) {
	case CONF_GRANT_AUTHORIZATION_CODE:
		if (p->oauth_client_id == NULL)
			missing = "oauth_client_id (the application id of the app "
			    "registered with the provider)";
		else if (p->oauth_token_url == NULL || p->oauth_authorize_url == NULL)
			missing = "provider = microsoft365, outlook, gmail or "
			    "google-workspace, or oauth_authorize_url and "
			    "oauth_token_url";
		break;
	case CONF_GRANT_CLIENT_CREDENTIALS:
		if (p->oauth_client_id == NULL)
			missing = "oauth_client_id (the application id)";
		else if (!ls && !lf)
			missing = "oauth_client_secret or oauth_client_secret_file "
			    "(the app's client secret)";
		else if (p->oauth_token_url == NULL)
			missing = "provider = microsoft365 with oauth_tenant, or "
			    "oauth_token_url";
		else if (p->oauth_scope == NULL)
			missing = "oauth_scope (for Microsoft 365: "
			    "https://outlook.office365.com/.default)";
		break;
	case CONF_GRANT_COMMAND:
		if (p->oauth_token_command == NULL)
			missing = "oauth_token_command (a command that prints an "
			    "access token)";
		break;
	}
	if (missing != NULL)
		cerr(st, st->hline, st->header, "auth = oauth2 with oauth_grant = "
		    "%s needs %s", conf_grant_name(p->oauth_grant), missing);
	if (lf && st->sec_errors == 0) {
		if (conf_secret_file(p->oauth_client_secret_file,
		    &p->oauth_client_secret, &mode, &e) < 0)
			cerr(st, lf, "oauth_client_secret_file", "%s", e.msg);
		else if (mode & S_IROTH)
			cwarn(st, "%s:%u: oauth_client_secret_file: readable by other "
			    "users; chmod 600 it", st->file, lf);
	}
}

/* ---- presets (config/providers.h) ---- */

/*
 * The provider's preset fills the keys the profile does not write (a key
 * written wins), and records which (p->preset_keys).  A region is checked
 * against the provider's.  Under "provider = custom", or without a
 * provider, nothing is filled.
 */
static int
apply_preset(struct lstate *st, const struct conf_provider *pv)
{
	struct conf_profile *p = st->obj;
	unsigned lr = seen_at(st, "region");
	const char *host = NULL;
	char names[512];
	struct op_err e;

	if (lr && (pv == NULL || pv->regions == NULL)) {
		cerr(st, lr, "region", "region is used only with provider = ses, "
		    "mailgun or zoho%s", pv == NULL ? " (this profile has no "
		    "provider)" : "");
		return -1;
	}
	if (pv == NULL || pv->host == NULL)
		return 0;
	host = conf_provider_host(pv, p->region);
	if (host == NULL) {
		conf_provider_region_names(pv, names, sizeof(names));
		cerr(st, lr, "region", "'%s' is not a region of %s; write one "
		    "of %s", p->region, pv->name, names);
		return -1;
	}
	if (!seen_at(st, "host")) {
		p->host = str_dup(host);
		p->preset_keys |= CONF_PRESET_HOST;
	}
	if (!seen_at(st, "security")) {
		p->security = pv->security;
		p->preset_keys |= CONF_PRESET_SECURITY;
	}
	if (!seen_at(st, "port") && !seen_at(st, "security")) {
		p->port = pv->port;
		p->preset_keys |= CONF_PRESET_PORT;
	}
	if (!seen_at(st, "auth") && pv->auth != 0) {
		p->auth = pv->auth;
		p->preset_keys |= CONF_PRESET_AUTH;
	}
	if (!seen_at(st, "username") && pv->username != NULL) {
		p->username = str_dup(pv->username);
		p->preset_keys |= CONF_PRESET_USERNAME;
	}
	if (!seen_at(st, "limits") && pv->limits != NULL) {
		if (conf_parse_limits_e(pv->limits, p->limits, CONF_MAX_LIMITS,
		    &p->nlimits, &e) < 0)
			cerr(st, seen_at(st, "provider"), "provider", "%s", e.msg);
		else
			p->preset_keys |= CONF_PRESET_LIMITS;
	}
	return 0;
}

static void
finish_profile(struct lstate *st)
{
	struct conf_profile *p = st->obj;
	unsigned lp = seen_at(st, "password"), lf = seen_at(st, "password_file");
	unsigned lc = seen_at(st, "password_command"), la = seen_at(st, "auth");
	int nsrc = (lp > 0) + (lf > 0) + (lc > 0);
	struct op_err e;
	const struct conf_provider *pv = p->provider != NULL ?
	    conf_provider_find(p->provider) : NULL;

	int bad_region = apply_preset(st, pv) < 0;

	if (p->host == NULL && !seen_at(st, "host") && !bad_region)
		cerr(st, st->hline, st->header, "has no host; add host = the "
		    "provider's SMTP server (for example smtp.example.com)");
	if (p->port == 0)
		p->port = p->security == CONF_SEC_TLS ? 465 :
		    p->security == CONF_SEC_NONE ? 25 : 587;
	if (!la && !(p->preset_keys & CONF_PRESET_AUTH))
		p->auth = p->username != NULL;
	if (!la)                /* where a preset's auth comes from */
		la = seen_at(st, "provider");
	if (p->auth == CONF_AUTH_OAUTH2) {
		finish_oauth(st, pv, nsrc);
		return;
	}
	if (nsrc > 1) {
		unsigned last = lp > lf ? lp : lf;

		last = lc > last ? lc : last;
		cerr(st, last, last == lp ? "password" : last == lf ?
		    "password_file" : "password_command", "%s sets more than one "
		    "password; use exactly one of password, password_file and "
		    "password_command", st->header);
	}
	if (p->auth) {
		if (p->username == NULL && (p->preset_keys & CONF_PRESET_AUTH))
			cerr(st, la, "provider", "provider = %s logs in: add "
			    "username = the login the provider gave you",
			    p->provider);
		else if (p->username == NULL)
			cerr(st, la, "auth", "auth = yes needs a username; add "
			    "username = the login the provider gave you");
		/* Not an error: a change of server over the web page or the
		 * API clears the password (a new server never gets the old
		 * one: docs/security.md), and the profile is
		 * kept until the password is entered again.  It cannot log in
		 * meanwhile; `outpost check` says why. */
		if (nsrc == 0)
			cwarn(st, "%s:%u: %s: authentication needs a password; add "
			    "password, password_file or password_command (until "
			    "then profile %s cannot send)", st->file,
			    la ? la : seen_at(st, "username"), la ? "auth" :
			    "username", p->name);
		if (p->security == CONF_SEC_NONE && !p->allow_plaintext_auth)
			cerr(st, seen_at(st, "security"), "security", "security = "
			    "none with authentication would send the password "
			    "unencrypted; use starttls or tls, or set "
			    "allow_plaintext_auth = yes to allow that");
	}
	if (!p->tls_verify && p->security != CONF_SEC_NONE)
		cwarn(st, "%s:%u: tls_verify: certificate checks are off for "
		    "profile %s; anyone on the path can read the password and mail",
		    st->file, seen_at(st, "tls_verify"), p->name);
	/* A section with errors does not run its password_command. */
	if (st->sec_errors > 0 || nsrc != 1)
		return;
	if (lf) {
		resolve_file(st, lf, p->password_file, &p->password);
	} else if (lc) {
		if (conf_secret_command(p->password_command,
		    CONF_COMMAND_TIMEOUT_MS, &p->password, &e) < 0)
			cerr(st, lc, "password_command", "%s", e.msg);
	}
}

static void
finish_client(struct lstate *st)
{
	struct conf_client *cl = st->obj;
	unsigned lp = seen_at(st, "password"), lf = seen_at(st, "password_file");

	if (lp && lf)
		cerr(st, lp > lf ? lp : lf, lp > lf ? "password" : "password_file",
		    "%s sets both password and password_file; use one", st->header);
	else if (!lp && !lf)
		cerr(st, st->hline, st->header, "needs a password: add password "
		    "= ... or password_file = PATH (applications log in with the "
		    "name of the section and this password)");
	else if (lf && st->sec_errors == 0)
		resolve_file(st, lf, cl->password_file, &cl->password);
}

/* ---- DKIM: [dkim NAME] ends (docs/dkim.md) ---- */

/* Read the key file (at most MAIL_DKIM_KEY_FILE_MAX bytes) into d, its
 * st_mode into *mode; a failed read is wiped (conf_read_file). */
static int
read_dkim_key(struct conf_dkim *d, unsigned *mode, struct op_err *e)
{
	struct stat sb;
	struct buf b;

	buf_init(&b, MAIL_DKIM_KEY_FILE_MAX);
	if (conf_read_file(d->key_file, &b, MAIL_DKIM_KEY_FILE_MAX,
	    ": it is not a DKIM private key", &sb, e) < 0) {
		buf_free(&b);
		/* a missing key is most likely one not made yet */
		if (stat(d->key_file, &sb) < 0 && errno == ENOENT)
			return err_set(e, ERR_CONFIG, "%s does not exist: make the "
			    "key with `outpost dkim keygen %s --selector %s` or "
			    "correct the path", d->key_file, d->domain, d->selector);
		return -1;
	}
	*mode = (unsigned)sb.st_mode;
	d->key_pem = buf_detach(&b, &d->key_len);
	return 0;
}

static void
finish_dkim(struct lstate *st)
{
	struct conf_dkim *d = st->obj;
	unsigned lk = seen_at(st, "key_file"), mode = 0;
	struct op_err e;
	size_t i;
	char shown[256];

	if (d->domain == NULL)
		cerr(st, st->hline, st->header, "needs domain = DOMAIN (mail whose "
		    "From: is at this domain is signed)");
	if (d->selector == NULL)
		cerr(st, st->hline, st->header, "needs selector = NAME (the "
		    "record is published at NAME._domainkey.DOMAIN)");
	if (d->key_file == NULL)
		cerr(st, st->hline, st->header, "needs key_file = PATH (make the "
		    "key with `outpost dkim keygen DOMAIN --selector NAME`)");
	if (st->sec_errors > 0)
		return;
	for (i = 0; d->domain[i] != '\0'; i++)
		d->domain[i] = (char)tolower((unsigned char)d->domain[i]);
	for (i = 0; i + 1 < st->c->ndkim; i++)
		if (strcasecmp(st->c->dkim[i].domain, d->domain) == 0 &&
		    strcasecmp(st->c->dkim[i].selector, d->selector) == 0)
			cerr(st, st->hline, st->header, "domain %s and selector %s "
			    "are already used by [dkim %s] at line %u; give each key "
			    "its own selector", d->domain, d->selector,
			    st->c->dkim[i].name, st->c->dkim[i].line);
	if (read_dkim_key(d, &mode, &e) < 0 ||
	    mail_dkim_key_check(d->key_pem, d->key_len, &d->key_type,
	    &d->key_bits, &e) < 0) {
		cerr(st, lk, "key_file", "%s: %s", st->header, e.msg);
		return;
	}
	if (mode & (S_IRGRP | S_IROTH)) {
		show(shown, sizeof(shown), d->key_file);
		cwarn(st, "%s: the DKIM private key is readable by other users; "
		    "chmod 600 %s", shown, shown);
	}
}

/* ---- end of DKIM ---- */

/* ---- [webhook NAME] ends: its secret and events ---- */

static void
finish_webhook(struct lstate *st)
{
	struct conf_webhook *w = st->obj;
	unsigned ls = seen_at(st, "secret"), lf = seen_at(st, "secret_file");
	unsigned le = seen_at(st, "events");
	char *save = NULL, *tok, *copy;

	if (w->url == NULL)
		cerr(st, st->hline, st->header, "needs a url: add url = "
		    "https://app.example.com/hooks/mail");
	if (ls && lf)
		cerr(st, ls > lf ? ls : lf, ls > lf ? "secret" : "secret_file",
		    "%s sets both secret and secret_file; use one", st->header);
	else if (!ls && !lf)
		cerr(st, st->hline, st->header, "needs a secret to sign its "
		    "events: add secret = ... or secret_file = PATH (for example "
		    "the output of: openssl rand -hex 32)");
	else if (lf && st->sec_errors == 0)
		resolve_file(st, lf, w->secret_file, &w->secret);
	w->mask = CONF_HOOK_SENT | CONF_HOOK_DEFERRED | CONF_HOOK_FAILED |
	    CONF_HOOK_SUPPRESSED;
	if (w->events == NULL)
		return;
	w->mask = 0;
	copy = str_dup(w->events);
	for (tok = strtok_r(copy, ", \t", &save); tok != NULL;
	    tok = strtok_r(NULL, ", \t", &save)) {
		if (strcmp(tok, "all") == 0)
			w->mask |= CONF_HOOK_SENT | CONF_HOOK_DEFERRED |
			    CONF_HOOK_FAILED | CONF_HOOK_SUPPRESSED;
		else if (strcmp(tok, "queued") == 0)
			w->mask |= CONF_HOOK_QUEUED;
		else if (strcmp(tok, "sent") == 0)
			w->mask |= CONF_HOOK_SENT;
		else if (strcmp(tok, "deferred") == 0)
			w->mask |= CONF_HOOK_DEFERRED;
		else if (strcmp(tok, "failed") == 0)
			w->mask |= CONF_HOOK_FAILED;
		else if (strcmp(tok, "suppressed") == 0)
			w->mask |= CONF_HOOK_SUPPRESSED;
		else {
			char shown[64];

			show(shown, sizeof(shown), tok);
			cerr(st, le, "events", "unknown event '%s'; the events are "
			    "sent, deferred, failed, suppressed and queued (or all)",
			    shown);
		}
	}
	free(copy);
	if (w->mask == 0)
		cerr(st, le, "events", "names no event; the events are sent, "
		    "deferred, failed, suppressed and queued (or all)");
}

/* ---- end of [webhook NAME] ---- */

static void
end_section(struct lstate *st)
{
	if (st->kind == S_PROFILE)
		finish_profile(st);
	else if (st->kind == S_CLIENT)
		finish_client(st);
	else if (st->kind == S_DKIM)
		finish_dkim(st);
	else if (st->kind == S_WEBHOOK)
		finish_webhook(st);
	if (st->scratch) {
		if (st->kind == S_PROFILE)
			profile_free(st->obj);
		else
			client_free(st->obj);
		free(st->obj);
		st->scratch = 0;
	}
	st->kind = S_NONE;
	st->sec = NULL;
	st->obj = NULL;
}

static void
begin_section(struct lstate *st, unsigned line, const char *type,
    const char *arg)
{
	struct conf *c = st->c;
	const struct sdef *sec;
	struct op_err e;
	char sarg[CONF_ADDRESS_MAX + 1];
	size_t i;

	end_section(st);
	st->kind = S_SKIP;
	st->sec_errors = 0;
	st->hline = line;
	show(sarg, sizeof(sarg), arg != NULL ? arg : "");
	snprintf(st->header, sizeof(st->header), "[%.32s%s%s]", type,
	    arg != NULL ? " " : "", sarg);
	if (++st->nsections == CONF_MAX_SECTIONS + 1) {
		cerr(st, line, st->header, "the file has more than %d sections",
		    CONF_MAX_SECTIONS);
		return;
	}
	if (st->nsections > CONF_MAX_SECTIONS)
		return;
	if (conf_check_section(type, arg, &e) < 0) {
		cerr(st, line, st->header, "%s", e.msg);
		sec = find_section(type);
		if (sec != NULL && arg != NULL && arg[0] != '\0' &&
		    (sec->kind == S_PROFILE || sec->kind == S_CLIENT))
			goto scratch;
		return;
	}
	sec = find_section(type);
	switch (sec->kind) {
	case S_SERVER:
		if (st->server_line) {
			cerr(st, line, st->header, "appears twice (first at line %u); "
			    "put all its keys in one section", st->server_line);
			return;
		}
		st->server_line = line;
		st->obj = &c->server;
		break;
	case S_REDIRECT:
		if (st->redirect_line) {
			cerr(st, line, st->header, "appears twice (first at line %u); "
			    "put all its keys in one section", st->redirect_line);
			return;
		}
		st->redirect_line = line;
		st->obj = c;
		break;
	case S_PROFILE:
		for (i = 0; i < c->nprofiles; i++)
			if (strcmp(c->profiles[i].name, arg) == 0) {
				cerr(st, line, st->header, "a profile of this name is "
				    "already defined at line %u; names must be unique",
				    c->profiles[i].line);
				goto scratch;
			}
		c->profiles = mem_realloc(c->profiles,
		    (c->nprofiles + 1) * sizeof(*c->profiles));
		st->obj = &c->profiles[c->nprofiles];
		profile_defaults(st->obj);
		c->profiles[c->nprofiles].name = str_dup(arg);
		c->profiles[c->nprofiles].line = line;
		c->nprofiles++;
		break;
	case S_CLIENT:
		for (i = 0; i < c->nclients; i++)
			if (strcmp(c->clients[i].name, arg) == 0) {
				cerr(st, line, st->header, "a client of this name is "
				    "already defined at line %u; names must be unique",
				    c->clients[i].line);
				goto scratch;
			}
		c->clients = mem_realloc(c->clients,
		    (c->nclients + 1) * sizeof(*c->clients));
		st->obj = &c->clients[c->nclients];
		memset(st->obj, 0, sizeof(struct conf_client));
		c->clients[c->nclients].name = str_dup(arg);
		c->clients[c->nclients].line = line;
		c->nclients++;
		break;
	case S_REPORT:
		for (i = 0; i < c->nreports; i++)
			if (strcasecmp(c->reports[i].email, arg) == 0) {
				cerr(st, line, st->header, "this address already has a "
				    "section at line %u", c->reports[i].line);
				return;
			}
		c->reports = mem_realloc(c->reports,
		    (c->nreports + 1) * sizeof(*c->reports));
		st->obj = &c->reports[c->nreports];
		c->reports[c->nreports].email = str_dup(arg);
		c->reports[c->nreports].line = line;
		c->reports[c->nreports].enabled = 1;
		c->nreports++;
		break;
	case S_DKIM:
		for (i = 0; i < c->ndkim; i++)
			if (strcmp(c->dkim[i].name, arg) == 0) {
				cerr(st, line, st->header, "a dkim section of this name "
				    "is already defined at line %u; names must be "
				    "unique", c->dkim[i].line);
				return;
			}
		c->dkim = mem_realloc(c->dkim, (c->ndkim + 1) * sizeof(*c->dkim));
		st->obj = &c->dkim[c->ndkim];
		memset(st->obj, 0, sizeof(*c->dkim));
		c->dkim[c->ndkim].name = str_dup(arg);
		c->dkim[c->ndkim].line = line;
		c->ndkim++;
		break;
	case S_WEBHOOK:
		for (i = 0; i < c->nwebhooks; i++)
			if (strcmp(c->webhooks[i].name, arg) == 0) {
				cerr(st, line, st->header, "a webhook of this name is "
				    "already defined at line %u; names must be unique",
				    c->webhooks[i].line);
				return;
			}
		if (c->nwebhooks >= CONF_WEBHOOKS_MAX) {
			cerr(st, line, st->header, "more than %d webhooks",
			    CONF_WEBHOOKS_MAX);
			return;
		}
		c->webhooks = mem_realloc(c->webhooks,
		    (c->nwebhooks + 1) * sizeof(*c->webhooks));
		st->obj = &c->webhooks[c->nwebhooks];
		memset(st->obj, 0, sizeof(*c->webhooks));
		c->webhooks[c->nwebhooks].name = str_dup(arg);
		c->webhooks[c->nwebhooks].line = line;
		c->nwebhooks++;
		break;
	default:
		return;
	}
	goto keys;
scratch:
	/* The name is refused, but the keys are still checked (into a
	 * section that is not kept), so that the name does not hide the
	 * section's other problems. */
	st->scratch = 1;
	if (sec->kind == S_PROFILE) {
		struct conf_profile *p = mem_alloc(sizeof(*p));

		profile_defaults(p);
		p->name = str_dup(sarg);
		p->line = line;
		st->obj = p;
	} else {
		struct conf_client *cl = mem_alloc(sizeof(*cl));

		cl->name = str_dup(sarg);
		cl->line = line;
		st->obj = cl;
	}
keys:
	st->sec = sec;
	st->kind = sec->kind;
	st->seen = sec->kind == S_SERVER ? st->server_seen : st->sec_seen;
	if (sec->kind != S_SERVER)
		memset(st->sec_seen, 0, sizeof(st->sec_seen));
}

static void
key_line(struct lstate *st, unsigned line, const char *key, const char *value)
{
	const struct kdef *k;
	struct op_err e;
	char hint[96];
	int i;

	if (st->kind == S_SKIP)
		return;
	if (st->kind == S_NONE) {
		cerr(st, line, key, "is outside any section; put it under [server] "
		    "or the section it belongs to");
		return;
	}
	i = key_index(st->sec, key);
	if (i < 0) {
		unknown_key_hint(st->sec, key, hint, sizeof(hint));
		cerr(st, line, key, "unknown key in %s%s", st->header, hint);
		return;
	}
	k = &st->sec->keys[i];
	if (st->seen[i]) {
		cerr(st, line, key, "is set twice in %s (first at line %u)",
		    st->header, st->seen[i]);
		return;
	}
	st->seen[i] = line;
	if (k->type == K_SECRET || k->type == K_TOKEN ||
	    k->type == K_CLIENT_SECRET)
		st->holds_secret = 1;
	if (set_value(k, st->obj, value, 1, &e) < 0)
		cerr(st, line, key, "%s", e.msg);
}

/* A line the lexer refused.  A broken header starts a section nobody can
 * name, so the keys below it are not blamed on the section before. */
static void
bad_line(struct lstate *st, unsigned line, const char *p, size_t n,
    const struct ini_line *l)
{
	char key[48], raw[48];
	size_t i = 0, m;

	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i < n && p[i] == '[') {
		m = n - i < sizeof(raw) - 1 ? n - i : sizeof(raw) - 1;
		memcpy(raw, p + i, m);
		raw[m] = '\0';
		raw[strcspn(raw, ";#\r")] = '\0';
		show(key, sizeof(key), str_trim(raw));
		cerr(st, line, key, "%s", l->why);
		end_section(st);
		st->kind = S_SKIP;
		return;
	}
	cerr(st, line, l->name != NULL ? l->name : "line", "%s", l->why);
}

/* [server] aliases: the file's problems, each as "aliases: PATH:LINE: ...". */
static void
load_aliases(struct lstate *st, unsigned line)
{
	struct buf diag;
	struct op_err e;
	const char *p, *nl;

	buf_init(&diag, 64 * 1024);
	if (aliases_load(st->c->server.aliases, &st->c->alias_map, &diag, &e) < 0) {
		for (p = diag.data; p != NULL && (nl = strchr(p, '\n')) != NULL;
		    p = nl + 1)
			cerr(st, line, "aliases", "%.*s", (int)(nl - p), p);
		if (diag.len == 0)
			cerr(st, line, "aliases", "%s", e.msg);
	}
	buf_free(&diag);
}

static void
final_checks(struct lstate *st)
{
	struct conf_server *s = &st->c->server;
	const struct sdef *sec = find_section("server");
	unsigned lc, lk, ll, la;
	size_t i, nenabled = 0;
	char shown[160];

	st->sec = sec;
	st->seen = st->server_seen;
	lc = seen_at(st, "smtp_tls_cert");
	lk = seen_at(st, "smtp_tls_key");
	ll = seen_at(st, "smtp_listen");
	la = seen_at(st, "smtp_auth");
	if (lc && !lk)
		cerr(st, lc, "smtp_tls_cert", "is set without smtp_tls_key; set "
		    "both or neither");
	if (lk && !lc)
		cerr(st, lk, "smtp_tls_key", "is set without smtp_tls_cert; set "
		    "both or neither");
	if (s->smtp_listen[0] != '\0' && !net_spec_is_loopback(s->smtp_listen) &&
	    (!s->smtp_auth || s->smtp_tls_cert == NULL || s->smtp_tls_key == NULL)) {
		show(shown, sizeof(shown), s->smtp_listen);
		cerr(st, ll, "smtp_listen", "%s is not a loopback address, so it "
		    "needs smtp_auth = yes, smtp_tls_cert and smtp_tls_key; "
		    "Outpost will not be an open relay", shown);
	}
	/* running as a service: the page over HTTPS, or on loopback */
	lc = seen_at(st, "http_tls_cert");
	lk = seen_at(st, "http_tls_key");
	if (lc && !lk)
		cerr(st, lc, "http_tls_cert", "is set without http_tls_key; set "
		    "both or neither");
	if (lk && !lc)
		cerr(st, lk, "http_tls_key", "is set without http_tls_cert; set "
		    "both or neither");
	if (s->http_listen[0] != '\0' && !net_spec_is_loopback(s->http_listen) &&
	    (s->http_tls_cert == NULL || s->http_tls_key == NULL) &&
	    !s->http_insecure) {
		show(shown, sizeof(shown), s->http_listen);
		cerr(st, seen_at(st, "http_listen"), "http_listen", "%s is not a "
		    "loopback address, so the page and its API token need HTTPS: "
		    "set http_tls_cert and http_tls_key (or http_insecure = yes "
		    "to serve plain HTTP on purpose)", shown);
	}
	if (s->user != NULL && (s->user[0] == '\0' || s->user[0] == '-' ||
	    strspn(s->user, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") != strlen(s->user)))
		cerr(st, seen_at(st, "user"), "user", "must be a user name (letters, "
		    "digits, . _ -), e.g. outpost");
	if (s->smtp_auth && st->c->nclients == 0)
		cerr(st, la, "smtp_auth", "is yes but there is no [client NAME] "
		    "section; add one so applications can log in");
	if (s->smtp_listen[0] != '\0' &&
	    strcmp(s->smtp_listen, s->http_listen) == 0)
		cerr(st, seen_at(st, "http_listen"), "http_listen", "is the same "
		    "address as smtp_listen");
	if (s->hostname == NULL)
		s->hostname = default_hostname();
	if (s->node == NULL) {
		/* the host name, up to its first dot, within the bounds */
		char *h = default_hostname();

		h[strcspn(h, ".")] = '\0';
		if (strlen(h) > CONF_NODE_MAX)
			h[CONF_NODE_MAX] = '\0';
		s->node = h;
	}
	if (s->aliases != NULL)
		load_aliases(st, seen_at(st, "aliases"));

	for (i = 0; i < st->c->nreports; i++)
		nenabled += st->c->reports[i].enabled != 0;
	if (st->c->redirect_enabled && nenabled == 0)
		cerr(st, st->redirect_line, "[redirect]", "is enabled but there is "
		    "no enabled [report ADDRESS] section, so mail would go nowhere; "
		    "add one or set enabled = no");
	st->sec = NULL;
}

/* ---- loading ------------------------------------------------------ */

static int
load_text(const char *name, const char *text, size_t len,
    const struct stat *fst, struct conf **out, struct buf *diag,
    struct op_err *e)
{
	struct lstate st;
	size_t pos = 0;
	unsigned line = 0;
	int rc = -1;

	memset(&st, 0, sizeof(st));
	st.file = name;
	st.c = conf_new(name);
	buf_init(&st.warns, 16 * 1024);
	*out = NULL;

	if (len > CONF_FILE_MAX) {
		cerr(&st, 0, "file", "is larger than %d bytes", CONF_FILE_MAX);
		goto done;
	}
	while (pos < len && !st.stop) {
		const char *p = text + pos, *nl = memchr(p, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - p) : len - pos;
		struct ini_line l;

		line++;
		if (ini_parse_line(p, n, &l) < 0)
			bad_line(&st, line, p, n, &l);
		else if (l.kind == INI_SECTION)
			begin_section(&st, line, l.name, l.arg);
		else if (l.kind == INI_KEY)
			key_line(&st, line, l.name, l.arg);
		ini_line_free(&l);
		pos += n + (nl != NULL);
	}
	end_section(&st);
	if (!st.stop)
		final_checks(&st);
	if (fst != NULL && st.holds_secret &&
	    (fst->st_mode & (S_IRGRP | S_IROTH)))
		cwarn(&st, "%s: readable by other users; chmod 600 %s", name, name);
done:
	flush_errors(&st, diag, e);
	if (diag != NULL && st.warns.len > 0)
		buf_append(diag, st.warns.data, st.warns.len, NULL);
	if (st.nerrors > 0) {
		conf_free(st.c);
	} else {
		*out = st.c;
		rc = 0;
	}
	buf_free(&st.warns);
	return rc;
}

int
conf_load_text(const char *name, const char *text, size_t len,
    struct conf **out, struct buf *diag, struct op_err *e)
{
	return load_text(name, text, len, NULL, out, diag, e);
}

int
conf_read_file(const char *path, struct buf *out, size_t max,
    const char *hint, struct stat *st, struct op_err *e)
{
	struct stat sb;
	char chunk[8192];
	ssize_t r;
	int fd;

	if (st == NULL)
		st = &sb;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno == EACCES)
		return err_set(e, ERR_CONFIG, "%s: cannot read: %s: let the user "
		    "Outpost runs as (uid %ld) read it (chown or chmod), or run "
		    "Outpost as its owner", path, strerror(errno), (long)geteuid());
	if (fd < 0)
		return err_set(e, ERR_CONFIG, "%s: cannot read: %s", path,
		    strerror(errno));
	if (fstat(fd, st) < 0) {
		err_set(e, ERR_CONFIG, "%s: cannot read: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st->st_mode)) {
		err_set(e, ERR_CONFIG, "%s: is not a regular file", path);
		goto fail;
	}
	for (;;) {
		r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err_set(e, ERR_CONFIG, "%s: cannot read: %s", path,
			    strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		if (buf_append(out, chunk, (size_t)r, NULL) < 0) {
			err_set(e, ERR_CONFIG, "%s: is larger than %zu bytes%s", path,
			    max, hint != NULL ? hint : "");
			goto fail;
		}
	}
	close(fd);
	return 0;
fail:
	close(fd);
	if (out->data != NULL)
		explicit_bzero(out->data, out->len);
	return -1;
}

int
conf_load(const char *path, struct conf **out, struct buf *diag,
    struct op_err *e)
{
	struct stat st;
	struct buf b;
	char *text;
	size_t len;
	int rc;

	*out = NULL;
	if (path == NULL) {
		*out = conf_new(NULL);
		(*out)->server.hostname = default_hostname();
		return 0;
	}
	buf_init(&b, CONF_FILE_MAX);
	if (conf_read_file(path, &b, CONF_FILE_MAX, NULL, &st, e) < 0) {
		buf_free(&b);
		if (diag != NULL && e != NULL)
			buf_printf(diag, NULL, "%s\n", e->msg);
		return -1;
	}
	text = buf_detach(&b, &len);
	rc = load_text(path, text, len, &st, out, diag, e);
	explicit_bzero(text, len);
	free(text);
	return rc;
}

int
conf_check_value(const char *type, const char *key, const char *value,
    struct op_err *e)
{
	const struct sdef *sec = find_section(type);
	union {
		struct conf_server s;
		struct conf_profile p;
		struct conf_client cl;
		struct conf_report r;
		struct conf c;
	} scratch;
	int i, rc;

	if (sec == NULL)
		return err_set(e, ERR_CONFIG, "unknown section [%s]", type);
	i = key_index(sec, key);
	if (i < 0)
		return err_set(e, ERR_CONFIG, "unknown key in [%s]", type);
	memset(&scratch, 0, sizeof(scratch));
	rc = set_value(&sec->keys[i], &scratch, value, 0, e);
	switch (sec->kind) {
	case S_SERVER: server_free(&scratch.s); break;
	case S_PROFILE: profile_free(&scratch.p); break;
	case S_CLIENT: client_free(&scratch.cl); break;
	default: break;
	}
	return rc;
}

/* ---- lookups ------------------------------------------------------ */

const char *
conf_find_path(const char *cli_path)
{
	const char *env;
	struct stat st;

	if (cli_path != NULL)
		return cli_path;
	env = getenv("OUTPOST_CONFIG");
	if (env != NULL && env[0] != '\0')
		return env;
	if (stat("outpost.conf", &st) == 0)
		return "outpost.conf";
	if (stat("/etc/outpost/outpost.conf", &st) == 0)
		return "/etc/outpost/outpost.conf";
	return NULL;
}

const struct conf_profile *
conf_profile_find(const struct conf *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nprofiles; i++)
		if (strcmp(c->profiles[i].name, name) == 0)
			return &c->profiles[i];
	return NULL;
}

const struct conf_profile *
conf_profile_first_enabled(const struct conf *c)
{
	size_t i;

	for (i = 0; i < c->nprofiles; i++)
		if (c->profiles[i].enabled)
			return &c->profiles[i];
	return NULL;
}
