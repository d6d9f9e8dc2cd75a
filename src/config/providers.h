/*
 * providers.h - what Outpost knows about a mail provider, chosen by a
 * profile's `provider = NAME` (and `region = NAME`): a table of data
 * (providers.c), one row per provider.  A preset fills only the keys the
 * profile does not write (conf.c), and records which ones it filled
 * (CONF_PRESET_* in conf_profile.preset_keys) for `config show`.
 *
 * URL templates may hold "{tenant}", replaced by the profile's
 * oauth_tenant or the row's default tenant.  docs/providers.md is the
 * table as users read it, with its sources.
 */
#ifndef OUTPOST_CONFIG_PROVIDERS_H
#define OUTPOST_CONFIG_PROVIDERS_H

#include <stddef.h>

#include <jansson.h>

#include "util/err.h"

#define CONF_PROVIDER_REGIONS_MAX 24

/* One region of a provider and its SMTP server. */
struct conf_region {
	const char *name;            /* region = NAME */
	const char *host;
};

struct conf_provider {
	const char *name;            /* provider = NAME */
	const char *label;           /* "Microsoft 365" */
	const char *host;            /* SMTP server (of the default region),
	                              * NULL if none */
	unsigned port;
	int security;                /* enum conf_security */
	const char *authorize_url;   /* OAuth2 endpoints, NULL if none */
	const char *token_url;
	const char *device_url;      /* NULL: no device code flow for mail */
	const char *default_tenant;  /* for "{tenant}", NULL if unused */
	const char *scope;           /* delegated (authorization_code) */
	const char *app_scope;       /* client_credentials, NULL if none */
	/* the preset proper */
	int auth;                    /* CONF_AUTH_PASSWORD or _OAUTH2: the
	                              * auth a preset fills (0: custom) */
	const char *username;        /* a username the provider fixes
	                              * ("apikey"), NULL if it is the user's */
	const char *limits;          /* documented limits, as `limits =`
	                              * writes them, NULL if by plan */
	const char *hint;            /* where the password or key comes from,
	                              * what the username is, which senders */
	const char *url;             /* the provider's SMTP help page */
	const char *limits_url;      /* where the limits are documented */
	const struct conf_region *regions;   /* NULL: no regions; the first
	                              * is the default */
};

/* The row called name (exact, lower case), or NULL; "custom" has a row
 * with nothing in it. */
const struct conf_provider *conf_provider_find(const char *name);

/* Row i of the table (in the order `outpost providers` lists them), NULL
 * past the end. */
const struct conf_provider *conf_provider_at(size_t i);

/* The names, comma-separated, for messages: "gmail, google-workspace, ...". */
const char *conf_provider_names(void);

/* The SMTP server of pv in region (NULL: the default region), or NULL if
 * pv has no such region (or no server). */
const char *conf_provider_host(const struct conf_provider *pv,
    const char *region);

/* The region names of pv, comma-separated, into dst ("" if none). */
void conf_provider_region_names(const struct conf_provider *pv, char *dst,
    size_t dstsz);

/* The provider whose SMTP server is host (any region), or NULL: a profile
 * written without provider = is still known by its host. */
const struct conf_provider *conf_provider_by_host(const char *host);

/* The table as JSON (`outpost providers --json`, GET /api/providers):
 * {"providers": [{"name", "label", "host", "port", "security", "auth",
 *   "username", "limits", "regions": [{"name", "host"}], "oauth2",
 *   "hint", "url", "limits_url"}]}; a new reference, NULL if out of
 * memory. */
json_t *conf_providers_json(void);

/* tmpl with "{tenant}" replaced by tenant (malloc'ed into *out). */
int conf_provider_url(const char *tmpl, const char *tenant, char **out,
    struct op_err *e);

#endif
