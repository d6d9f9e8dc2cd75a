/*
 * providers.c - the provider table (providers.h).  Data only: a preset
 * issue adds rows and columns here, not code elsewhere.
 */
#include "config/providers.h"

#include <string.h>

#include "config/conf.h"
#include "util/buf.h"

#define MS_LOGIN "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/"
#define MS_SCOPE "https://outlook.office.com/SMTP.Send offline_access"
#define MS_APP_SCOPE "https://outlook.office365.com/.default"
#define GOOGLE_AUTH "https://accounts.google.com/o/oauth2/v2/auth"
#define GOOGLE_TOKEN "https://oauth2.googleapis.com/token"
#define GOOGLE_SCOPE "https://mail.google.com/"

static const struct conf_provider providers[] = {
	{ "microsoft365", "Microsoft 365", "smtp.office365.com", 587,
	  CONF_SEC_STARTTLS, MS_LOGIN "authorize", MS_LOGIN "token",
	  MS_LOGIN "devicecode", "organizations", MS_SCOPE, MS_APP_SCOPE },
	{ "outlook", "Outlook.com", "smtp-mail.outlook.com", 587,
	  CONF_SEC_STARTTLS, MS_LOGIN "authorize", MS_LOGIN "token",
	  MS_LOGIN "devicecode", "consumers", MS_SCOPE, NULL },
	/* Google refuses the device flow for the Gmail scope. */
	{ "gmail", "Gmail", "smtp.gmail.com", 587, CONF_SEC_STARTTLS,
	  GOOGLE_AUTH, GOOGLE_TOKEN, NULL, NULL, GOOGLE_SCOPE, NULL },
	{ "google-workspace", "Google Workspace", "smtp.gmail.com", 587,
	  CONF_SEC_STARTTLS, GOOGLE_AUTH, GOOGLE_TOKEN, NULL, NULL,
	  GOOGLE_SCOPE, NULL },
	{ "custom", "Custom", NULL, 0, CONF_SEC_STARTTLS, NULL, NULL, NULL,
	  NULL, NULL, NULL },
};

#define NPROVIDERS (sizeof(providers) / sizeof(providers[0]))

const struct conf_provider *
conf_provider_find(const char *name)
{
	size_t i;

	for (i = 0; i < NPROVIDERS; i++)
		if (strcmp(providers[i].name, name) == 0)
			return &providers[i];
	return NULL;
}

const char *
conf_provider_names(void)
{
	return "microsoft365, outlook, gmail, google-workspace, custom";
}

int
conf_provider_url(const char *tmpl, const char *tenant, char **out,
    struct op_err *e)
{
	const char *at = strstr(tmpl, "{tenant}");
	struct buf b;

	*out = NULL;
	if (at == NULL) {
		*out = str_dup(tmpl);
		return 0;
	}
	buf_init(&b, 4096);
	if (buf_append(&b, tmpl, (size_t)(at - tmpl), e) < 0 ||
	    buf_appendstr(&b, tenant != NULL ? tenant : "", e) < 0 ||
	    buf_appendstr(&b, at + strlen("{tenant}"), e) < 0) {
		buf_free(&b);
		return -1;
	}
	*out = buf_detach(&b, NULL);
	return 0;
}
