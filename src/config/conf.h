/*
 * conf.h - the settings: outpost.conf loaded, validated, shown and edited.
 *
 * The file format and every key are what users write and scripts rely on:
 * keep them; docs/config.md is the reference.  conf_load() returns a struct conf the caller owns (free it
 * with conf_free()); every string in it is owned by the struct.  A loaded
 * conf is immutable: the daemon swaps in a whole new one on reload.
 * Secrets (profile and client passwords) are resolved at load time from
 * password, password_file or password_command and kept only in memory.
 */
#ifndef OUTPOST_CONFIG_CONF_H
#define OUTPOST_CONFIG_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

enum conf_security {
	CONF_SEC_NONE = 0,      /* plain SMTP; AUTH only with allow_plaintext_auth */
	CONF_SEC_STARTTLS = 1,  /* STARTTLS required, port 587 */
	CONF_SEC_TLS = 2,       /* implicit TLS ("SSL"), port 465 */
};

#define CONF_MAX_LIMITS 8
#define CONF_MAX_RETRY 32

/* conf_profile.auth: 0 no, 1 yes (a password), 2 oauth2 (a token). */
#define CONF_AUTH_PASSWORD 1
#define CONF_AUTH_OAUTH2 2

enum conf_oauth_grant {
	CONF_GRANT_AUTHORIZATION_CODE = 0,   /* the default */
	CONF_GRANT_CLIENT_CREDENTIALS = 1,
	CONF_GRANT_COMMAND = 2,
};

/* "authorization_code", "client_credentials", "command". */
const char *conf_grant_name(int grant);

struct conf_limit {
	uint64_t count;         /* at most count messages ... */
	uint32_t period_s;      /* ... per period_s seconds (1, 60, 3600, 86400) */
};

struct conf_profile {
	char *name;
	unsigned line;          /* line of the [profile NAME] header, 0 if none */
	int enabled;
	char *host;
	unsigned port;          /* default: 587 starttls, 465 tls, 25 none */
	int security;           /* enum conf_security, default starttls */
	int tls_verify;         /* default yes */
	char *tls_ca_file;      /* NULL if unset */
	int auth;               /* "use authentication", default: yes if username set */
	char *username;         /* NULL if unset */
	char *password;         /* the resolved secret; NULL if none */
	char *password_file;    /* as written, NULL if unset */
	char *password_command; /* as written, NULL if unset */
	int allow_plaintext_auth; /* default no */
	char *from;             /* the address (envelope), NULL if unset */
	char *from_name;        /* its display name ("Name <address>" in the
	                         * file; the From: field), NULL if none */
	int force_from;         /* default no */
	struct conf_limit limits[CONF_MAX_LIMITS];
	size_t nlimits;
	unsigned max_connections;             /* default 4 */
	unsigned max_messages_per_connection; /* default 100 */
	unsigned timeout_s;                   /* default 30 */
	/* OAuth2 (auth = oauth2; docs/oauth.md).  The oauth_*_url and
	 * oauth_scope fields hold the effective values: as written, else
	 * the provider's (with the tenant put in), else NULL. */
	char *provider;         /* as written, NULL if unset (custom) */
	int oauth_grant;        /* enum conf_oauth_grant */
	char *oauth_tenant;     /* effective: written, else the provider's */
	char *oauth_client_id;
	char *oauth_client_secret;      /* the resolved secret; NULL if none */
	char *oauth_client_secret_file; /* as written, NULL if unset */
	char *oauth_token_command;      /* as written, NULL if unset */
	char *oauth_authorize_url;
	char *oauth_token_url;
	char *oauth_device_url;
	char *oauth_scope;
	/* Presets (config/providers.h): the region as written (NULL if
	 * unset), and which keys the provider's preset filled because the
	 * profile does not write them (CONF_PRESET_*), for `config show`. */
	char *region;
	unsigned preset_keys;
};

#define CONF_PRESET_HOST     0x01
#define CONF_PRESET_PORT     0x02
#define CONF_PRESET_SECURITY 0x04
#define CONF_PRESET_AUTH     0x08
#define CONF_PRESET_USERNAME 0x10
#define CONF_PRESET_LIMITS   0x20

struct conf_client {
	char *name;
	unsigned line;
	char *password;         /* resolved */
	char *password_file;
	char **allowed_from;    /* patterns like *@example.com; NULL if none */
	size_t nallowed_from;
};

struct conf_report {
	char *email;
	unsigned line;
	int enabled;            /* default yes */
};

#define CONF_DATABASE_MAX 1024  /* [server] database URI */
#define CONF_NODE_MAX 64        /* [server] node (queue.h QUEUE_NODE_MAX) */

struct conf_server {
	char *smtp_listen;      /* "" = off; default 127.0.0.1:2525 */
	char *http_listen;      /* "" = off; default 127.0.0.1:8025 */
	char *data_dir;         /* default ./outpost-data */
	char *hostname;         /* default: the machine's FQDN */
	uint64_t max_message_size;   /* bytes, default 25M */
	uint32_t queue_lifetime_s;   /* default 5d */
	uint32_t retention_s;        /* sent/failed messages kept, default 30d */
	uint32_t retry_s[CONF_MAX_RETRY]; /* default 1m,5m,15m,30m,1h,2h,4h */
	size_t nretry;
	char *api_token;        /* NULL: generated into data_dir */
	char *smtp_tls_cert;    /* NULL if unset */
	char *smtp_tls_key;
	int smtp_auth;          /* default no */
	char **http_allowed_hosts;
	size_t nhttp_allowed_hosts;
	unsigned smtp_max_sessions;     /* default 1000 */
	unsigned smtp_timeout_s;        /* listener idle/command timeout, default 300 */
	char *aliases;          /* the aliases file (config/aliases.h); NULL if unset */
	char *database;         /* postgresql://... (queue/queue.h:
	                         * queue_open_db()); NULL: SQLite in data_dir */
	char *node;             /* this node's name; default the host name
	                         * (up to its first dot) */
	/* Running as a service (docs/config.md): */
	char *user;             /* drop to this user after binding; NULL if unset */
	char *http_tls_cert;    /* the page and the API over HTTPS; NULL if unset */
	char *http_tls_key;
	int http_insecure;      /* plain HTTP on a non-loopback http_listen */
	int suppress;           /* suppression list in use, default yes */
};

/* [dkim NAME] (docs/dkim.md): mail whose From: is at domain is signed
 * with the key of key_file, read and checked at load time and kept in
 * memory (a reload reads it again). */
struct conf_dkim {
	char *name;
	unsigned line;          /* line of the [dkim NAME] header */
	char *domain;           /* d=, lower case */
	char *selector;         /* s= */
	char *key_file;         /* as written */
	char *key_pem;          /* the file's bytes, NUL-terminated */
	size_t key_len;
	int key_type;           /* enum mail_dkim_type */
	unsigned key_bits;
};

/* [webhook NAME]: events for the application (signed JSON POSTs). */
struct conf_webhook {
	char *name;
	unsigned line;
	char *url;              /* https://..., or http:// to loopback */
	char *secret;           /* resolved (secret or secret_file) */
	char *secret_file;
	char *events;           /* as written; NULL: all but queued */
	unsigned mask;          /* CONF_HOOK_* bits */
};
/* The events of a webhook (the same bits as queue.h's
 * enum queue_hook_event). */
#define CONF_WEBHOOKS_MAX 16    /* queue.h QUEUE_HOOKS_MAX */
#define CONF_HOOK_QUEUED 0x1
#define CONF_HOOK_SENT 0x2
#define CONF_HOOK_DEFERRED 0x4
#define CONF_HOOK_FAILED 0x8
#define CONF_HOOK_SUPPRESSED 0x10

struct aliases;

struct conf {
	char *path;             /* the file loaded; NULL for embedded defaults */
	struct conf_server server;
	struct conf_profile *profiles;  /* in file order */
	size_t nprofiles;
	struct conf_client *clients;
	size_t nclients;
	int redirect_enabled;
	struct conf_report *reports;
	size_t nreports;
	struct aliases *alias_map;      /* server.aliases loaded; NULL if unset */
	struct conf_dkim *dkim;         /* [dkim NAME] sections, in file order */
	size_t ndkim;
	struct conf_webhook *webhooks;  /* [webhook NAME] sections */
	size_t nwebhooks;
};

/*
 * The file to use: cli_path (-c) if not NULL, else $OUTPOST_CONFIG, else
 * ./outpost.conf if it exists, else /etc/outpost/outpost.conf if it
 * exists, else NULL (run on the embedded defaults).  Returns a pointer to
 * static or caller memory; do not free.
 */
const char *conf_find_path(const char *cli_path);

/*
 * Load and validate.  path NULL = embedded defaults.  On failure returns -1,
 * e->kind = ERR_CONFIG and e->msg holds the first problem as
 * "FILE:LINE: KEY: what is wrong"; if diag is not NULL every problem found
 * is appended to it, one per line.  Warnings (a password readable by others,
 * tls_verify = no) are appended to diag prefixed "warning: " even on
 * success.
 */
int conf_load(const char *path, struct conf **out, struct buf *diag,
    struct op_err *e);

/* Read the whole regular file path into out (buf_init'ed with the bound
 * max), and its status into *st if st is not NULL: ERR_CONFIG naming the
 * file when it cannot be read, is not a regular file, or is larger than
 * max (hint, if not NULL, said after that).  On failure what was read is
 * wiped (a file may hold passwords). */
struct stat;
int conf_read_file(const char *path, struct buf *out, size_t max,
    const char *hint, struct stat *st, struct op_err *e);
void conf_free(struct conf *c);

/* The profile called name, or NULL. */
const struct conf_profile *conf_profile_find(const struct conf *c,
    const char *name);
/* The first enabled profile, or NULL. */
const struct conf_profile *conf_profile_first_enabled(const struct conf *c);

/* Print the effective settings (defaults filled in) in the file's format,
 * secrets shown as ********. */
int conf_show(const struct conf *c, struct buf *out, struct op_err *e);

/* Typed values, shared with the API's validation. */
int conf_parse_bool(const char *s, int *out);
int conf_parse_duration(const char *s, uint32_t *seconds);   /* 30s 5m 2h 5d */
int conf_parse_size(const char *s, uint64_t *bytes);         /* 512K 25M 1G */
int conf_parse_limits(const char *s, struct conf_limit *out, size_t max,
    size_t *n);                                             /* 14/s, 10000/d */
int conf_parse_security(const char *s, int *out);

/*
 * Added by the config module (additive to the declarations above).
 *
 * Bounds of the file.  A line longer than CONF_LINE_MAX, a file larger
 * than CONF_FILE_MAX or more than CONF_MAX_SECTIONS sections is an error.
 */
#define CONF_FILE_MAX (1024 * 1024)
#define CONF_LINE_MAX 4096          /* = INI_LINE_MAX */
#define CONF_MAX_SECTIONS 512
#define CONF_MAX_ERRORS 100         /* diag stops listing after this many */
#define CONF_NAME_MAX 64            /* [profile NAME], [client NAME] */
#define CONF_MAX_LIST 64            /* allowed_from, http_allowed_hosts items */
#define CONF_ADDRESS_MAX 254        /* RFC 5321 4.5.3.1.3 path (256) less <> */
#define CONF_API_TOKEN_MIN 16

/*
 * The conf_parse_* functions above and below take the value as the file
 * holds it (no surrounding white space) and return 0, or -1 with an
 * ERR_CONFIG message that quotes the value and says what to write, e.g.
 * "'30' has no unit; write a unit: 30s, 5m, 2h or 5d".  The message does
 * not name the key: the caller adds "FILE:LINE: KEY: " or a field name.
 * They fill op_err through the *_e variants; the declared API forms
 * (without op_err) only say yes or no.
 */
int conf_parse_bool_e(const char *s, int *out, struct op_err *e);
int conf_parse_duration_e(const char *s, uint32_t *seconds, struct op_err *e);
int conf_parse_size_e(const char *s, uint64_t *bytes, struct op_err *e);
int conf_parse_limits_e(const char *s, struct conf_limit *out, size_t max,
    size_t *n, struct op_err *e);
int conf_parse_security_e(const char *s, int *out, struct op_err *e);
/* 1..65535 */
int conf_parse_port(const char *s, unsigned *port, struct op_err *e);
/* "1m, 5m, 15m": 1..max durations, each more than zero. */
int conf_parse_retry(const char *s, uint32_t *out, size_t max, size_t *n,
    struct op_err *e);
/* A bare address local@domain: dot-atom local part (RFC 5322 3.4.1) of at
 * most 64 bytes, a domain of LDH labels, at most CONF_ADDRESS_MAX bytes;
 * no quotes, spaces, control characters or non-ASCII.  Strict on purpose. */
int conf_check_address(const char *s, struct op_err *e);
/* A profile's from as the file writes it: "address", or "Name <address>"
 * (the name in double quotes, with \" and \\ escaped, when it holds
 * anything but letters, digits, spaces and . - _ ' or non-ASCII), "" if
 * unset.  Truncated to dstsz. */
#define CONF_FROM_TEXT_MAX 1024
void conf_profile_from_text(const struct conf_profile *p, char *dst,
    size_t dstsz);
/* A host name of LDH labels (at most 253 bytes), or an IPv4/IPv6 literal
 * (IPv6 with or without brackets). */
int conf_check_host(const char *s, struct op_err *e);

/* A duration or size the way the file writes it, in the largest unit that
 * divides it exactly ("5m", "90s", "25M", "1000"); dst of 24 bytes is
 * enough. */
void conf_format_duration(uint32_t seconds, char *dst, size_t dstsz);
void conf_format_size(uint64_t bytes, char *dst, size_t dstsz);

/* An OAuth2 endpoint: https://HOST..., or http:// only to a loopback
 * address (127.0.0.0/8, [::1], localhost); at most CONF_URL_MAX bytes. */
#define CONF_URL_MAX 2048
int conf_check_oauth_url(const char *v, struct op_err *e);

/* Like conf_load() for text already in memory (the editor checks an edited
 * file before saving it).  name is used in messages and becomes c->path.
 * No permission warning is given for the text itself. */
int conf_load_text(const char *name, const char *text, size_t len,
    struct conf **out, struct buf *diag, struct op_err *e);

/* Check a section header: type is "server", "client", "profile",
 * "redirect" or "report"; arg the name or address (NULL for server and
 * redirect). */
int conf_check_section(const char *type, const char *arg, struct op_err *e);

/* Check one value of one key the way the loader does (types, ranges;
 * files are not opened and commands are not run).  section is a type as
 * above.  For the API's per-field errors: e->msg names neither file nor
 * key. */
int conf_check_value(const char *section, const char *key, const char *value,
    struct op_err *e);

#endif
