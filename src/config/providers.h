/*
 * providers.h - what Outpost knows about a mail provider, chosen by a
 * profile's `provider = NAME`: a table of data (providers.c), one row per
 * provider.  A preset fills only the keys the profile does not write.
 *
 * Today a row holds the SMTP server (host, port, security) and the OAuth2
 * endpoints and scopes; the presets of other providers (and their limits)
 * are rows to add.  URL templates may hold "{tenant}", replaced by the
 * profile's oauth_tenant or the row's default tenant.
 */
#ifndef OUTPOST_CONFIG_PROVIDERS_H
#define OUTPOST_CONFIG_PROVIDERS_H

#include <stddef.h>

#include "util/err.h"

struct conf_provider {
	const char *name;            /* provider = NAME */
	const char *label;           /* "Microsoft 365" */
	const char *host;            /* SMTP server, NULL if none */
	unsigned port;
	int security;                /* enum conf_security */
	const char *authorize_url;   /* OAuth2 endpoints, NULL if none */
	const char *token_url;
	const char *device_url;      /* NULL: no device code flow for mail */
	const char *default_tenant;  /* for "{tenant}", NULL if unused */
	const char *scope;           /* delegated (authorization_code) */
	const char *app_scope;       /* client_credentials, NULL if none */
};

/* The row called name (exact, lower case), or NULL; "custom" has a row
 * with nothing in it. */
const struct conf_provider *conf_provider_find(const char *name);

/* The names, comma-separated, for messages: "microsoft365, outlook, ...". */
const char *conf_provider_names(void);

/* tmpl with "{tenant}" replaced by tenant (malloc'ed into *out). */
int conf_provider_url(const char *tmpl, const char *tenant, char **out,
    struct op_err *e);

#endif
