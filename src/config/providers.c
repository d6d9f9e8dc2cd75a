/*
 * providers.c - the provider table (providers.h).  Data only: a preset is
 * a row here, not code elsewhere.  Hosts, ports, usernames and limits are
 * the providers' own documented values; docs/providers.md lists them with
 * their sources (the url and limits_url columns).
 */
#include "config/providers.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config/conf.h"
#include "util/buf.h"

#define MS_LOGIN "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/"
#define MS_SCOPE "https://outlook.office.com/SMTP.Send offline_access"
#define MS_APP_SCOPE "https://outlook.office365.com/.default"
#define GOOGLE_AUTH "https://accounts.google.com/o/oauth2/v2/auth"
#define GOOGLE_TOKEN "https://oauth2.googleapis.com/token"
#define GOOGLE_SCOPE "https://mail.google.com/"
#define PW CONF_AUTH_PASSWORD
#define STARTTLS CONF_SEC_STARTTLS

#define SES(r) { r, "email-smtp." r ".amazonaws.com" }
static const struct conf_region ses_regions[] = {
	SES("us-east-1"), SES("us-east-2"), SES("us-west-1"), SES("us-west-2"),
	SES("ca-central-1"), SES("eu-west-1"), SES("eu-west-2"),
	SES("eu-west-3"), SES("eu-central-1"), SES("eu-north-1"),
	SES("eu-south-1"), SES("ap-south-1"), SES("ap-northeast-1"),
	SES("ap-northeast-2"), SES("ap-northeast-3"), SES("ap-southeast-1"),
	SES("ap-southeast-2"), SES("ap-southeast-3"), SES("sa-east-1"),
	SES("me-south-1"), SES("af-south-1"), SES("il-central-1"),
	{ NULL, NULL },
};

static const struct conf_region mailgun_regions[] = {
	{ "us", "smtp.mailgun.org" },
	{ "eu", "smtp.eu.mailgun.org" },
	{ NULL, NULL },
};

static const struct conf_region zoho_regions[] = {
	{ "us", "smtp.zoho.com" },
	{ "eu", "smtp.zoho.eu" },
	{ "in", "smtp.zoho.in" },
	{ "au", "smtp.zoho.com.au" },
	{ "jp", "smtp.zoho.jp" },
	{ "ca", "smtp.zohocloud.ca" },
	{ "sa", "smtp.zoho.sa" },
	{ NULL, NULL },
};

static const struct conf_provider providers[] = {
	{ "gmail", "Gmail", "smtp.gmail.com", 587, STARTTLS,
	  /* Google refuses the device flow for the Gmail scope. */
	  GOOGLE_AUTH, GOOGLE_TOKEN, NULL, NULL, GOOGLE_SCOPE, NULL,
	  PW, NULL, "500/d",
	  "Username: your full Gmail address. Password: an app password "
	  "(Google Account > Security > 2-Step Verification > App passwords, "
	  "https://myaccount.google.com/apppasswords), not your normal "
	  "password; or auth = oauth2. Sender: your address or an alias "
	  "added under Settings > Accounts > Send mail as.",
	  "https://support.google.com/mail/answer/7126229",
	  "https://support.google.com/mail/answer/22839", NULL },
	{ "google-workspace", "Google Workspace", "smtp.gmail.com", 587,
	  STARTTLS, GOOGLE_AUTH, GOOGLE_TOKEN, NULL, NULL, GOOGLE_SCOPE, NULL,
	  PW, NULL, "2000/d",
	  "Username: the user's full address. Password: an app password "
	  "(needs 2-Step Verification; the admin may have to allow it), or "
	  "auth = oauth2. Sender: the user's address or an alias of the "
	  "user. For whole-domain relaying, Google's SMTP relay service "
	  "(smtp-relay.gmail.com) is set up in the Admin console instead.",
	  "https://support.google.com/a/answer/176600",
	  "https://support.google.com/a/answer/166852", NULL },
	{ "microsoft365", "Microsoft 365", "smtp.office365.com", 587,
	  STARTTLS, MS_LOGIN "authorize", MS_LOGIN "token",
	  MS_LOGIN "devicecode", "organizations", MS_SCOPE, MS_APP_SCOPE,
	  PW, NULL, "30/m, 10000/d",
	  "Username: the mailbox's full address. Password: the mailbox's "
	  "password (an app password with MFA), and Authenticated SMTP "
	  "enabled for the mailbox (admin center > Users > Mail > Manage "
	  "email apps); Microsoft is retiring password logins: auth = "
	  "oauth2 is the lasting way. Sender: the mailbox itself, or one it "
	  "has Send As permission for. The daily limit counts recipients.",
	  "https://learn.microsoft.com/en-us/exchange/mail-flow-best-practices/"
	  "how-to-set-up-a-multifunction-device-or-application-to-send-email-"
	  "using-microsoft-365-or-office-365",
	  "https://learn.microsoft.com/en-us/office365/servicedescriptions/"
	  "exchange-online-service-description/exchange-online-limits", NULL },
	{ "outlook", "Outlook.com", "smtp-mail.outlook.com", 587, STARTTLS,
	  MS_LOGIN "authorize", MS_LOGIN "token", MS_LOGIN "devicecode",
	  "consumers", MS_SCOPE, NULL,
	  PW, NULL, NULL,
	  "Username: your full Outlook.com address. Password: an app password "
	  "(account.microsoft.com > Security > Advanced security options) "
	  "with two-step verification on; Microsoft is moving Outlook.com to "
	  "OAuth2 only: auth = oauth2. Sender: your own address.",
	  "https://support.microsoft.com/en-us/office/pop-imap-and-smtp-"
	  "settings-for-outlook-com-d088b986-291d-42b8-9564-9c414e2aa040",
	  NULL, NULL },
	{ "ses", "Amazon SES", "email-smtp.us-east-1.amazonaws.com", 587,
	  STARTTLS, NULL, NULL, NULL, NULL, NULL, NULL,
	  PW, NULL, "1/s, 200/d",
	  "Username and password: SMTP credentials created in the SES "
	  "console (SMTP settings > Create SMTP credentials), not your AWS "
	  "access key; set region to the SES region you verified in. "
	  "Sender: a verified identity (address or domain) of that region. "
	  "New accounts are in the sandbox (1 message/s, 200/day, verified "
	  "recipients only): write your own limits once AWS raised them.",
	  "https://docs.aws.amazon.com/ses/latest/dg/smtp-connect.html",
	  "https://docs.aws.amazon.com/ses/latest/dg/request-production-"
	  "access.html", ses_regions },
	{ "sendgrid", "SendGrid", "smtp.sendgrid.net", 587, STARTTLS,
	  NULL, NULL, NULL, NULL, NULL, NULL,
	  PW, "apikey", NULL,
	  "Username: the word apikey, literally. Password: an API key with "
	  "the Mail Send permission (Settings > API Keys). Sender: a verified "
	  "Sender Identity (a single sender or an authenticated domain).",
	  "https://www.twilio.com/docs/sendgrid/for-developers/sending-email/"
	  "integrating-with-the-smtp-api", NULL, NULL },
	{ "mailgun", "Mailgun", "smtp.mailgun.org", 587, STARTTLS,
	  NULL, NULL, NULL, NULL, NULL, NULL,
	  PW, NULL, NULL,
	  "Username: the SMTP login of your sending domain (Sending > Domain "
	  "settings > SMTP credentials, e.g. postmaster@mg.example.com). "
	  "Password: that login's SMTP password. Sender: an address in the "
	  "domain; sandbox domains only send to authorized recipients. "
	  "region = eu for domains in the EU region.",
	  "https://documentation.mailgun.com/docs/mailgun/user-manual/"
	  "sending-messages/send-smtp", NULL, mailgun_regions },
	{ "postmark", "Postmark", "smtp.postmarkapp.com", 587, STARTTLS,
	  NULL, NULL, NULL, NULL, NULL, NULL,
	  PW, NULL, NULL,
	  "Username and password: both the Server API Token (Servers > your "
	  "server > API Tokens), not the Account API Token. Sender: a "
	  "confirmed Sender Signature or an address in a verified domain.",
	  "https://postmarkapp.com/developer/user-guide/send-email-with-smtp",
	  NULL, NULL },
	{ "brevo", "Brevo", "smtp-relay.brevo.com", 587, STARTTLS,
	  NULL, NULL, NULL, NULL, NULL, NULL,
	  PW, NULL, NULL,
	  "Username: the SMTP login shown under SMTP & API > SMTP (an address "
	  "like ...@smtp-brevo.com). Password: an SMTP key from that page, "
	  "not the v3 API key. Sender: a verified sender or an address in an "
	  "authenticated domain; this machine's IP address may have to be "
	  "authorized (Security > Authorized IPs).",
	  "https://help.brevo.com/hc/en-us/articles/7924908994450", NULL, NULL },
	{ "zoho", "Zoho Mail", "smtp.zoho.com", 587, STARTTLS,
	  NULL, NULL, NULL, NULL, NULL, NULL,
	  PW, NULL, NULL,
	  "Username: your full Zoho address. Password: an application-specific "
	  "password if two-factor authentication is on. Sender: your address "
	  "or an alias of the account. Organization accounts use "
	  "smtppro.zoho.com (write host = smtppro.zoho.com); set region to "
	  "your account's data center.",
	  "https://www.zoho.com/mail/help/zoho-smtp.html", NULL, zoho_regions },
	{ "custom", "Custom", NULL, 0, STARTTLS, NULL, NULL, NULL, NULL, NULL,
	  NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL },
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

const struct conf_provider *
conf_provider_at(size_t i)
{
	return i < NPROVIDERS ? &providers[i] : NULL;
}

const char *
conf_provider_names(void)
{
	return "gmail, google-workspace, microsoft365, outlook, ses, sendgrid, "
	    "mailgun, postmark, brevo, zoho, custom";
}

const char *
conf_provider_host(const struct conf_provider *pv, const char *region)
{
	size_t i;

	if (pv == NULL)
		return NULL;
	if (region == NULL)
		return pv->host;
	if (pv->regions == NULL)
		return NULL;
	for (i = 0; pv->regions[i].name != NULL; i++)
		if (strcmp(pv->regions[i].name, region) == 0)
			return pv->regions[i].host;
	return NULL;
}

void
conf_provider_region_names(const struct conf_provider *pv, char *dst,
    size_t dstsz)
{
	size_t i, o = 0;

	if (dstsz > 0)
		dst[0] = '\0';
	for (i = 0; pv->regions != NULL && pv->regions[i].name != NULL; i++) {
		int n = snprintf(dst + o, dstsz - o, "%s%s", i ? ", " : "",
		    pv->regions[i].name);

		if (n < 0 || (size_t)n >= dstsz - o)
			return;
		o += (size_t)n;
	}
}

const struct conf_provider *
conf_provider_by_host(const char *host)
{
	size_t i, j;

	if (host == NULL)
		return NULL;
	for (i = 0; i < NPROVIDERS; i++) {
		/* gmail and google-workspace share a server: the first wins */
		if (providers[i].host != NULL &&
		    strcasecmp(providers[i].host, host) == 0)
			return &providers[i];
		for (j = 0; providers[i].regions != NULL &&
		    providers[i].regions[j].name != NULL; j++)
			if (strcasecmp(providers[i].regions[j].host, host) == 0)
				return &providers[i];
	}
	return NULL;
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

json_t *
conf_providers_json(void)
{
	static const char *const sec[] = { "none", "starttls", "tls" };
	json_t *list = json_array(), *j;
	size_t i, k;

	if (list == NULL)
		return NULL;
	for (i = 0; i < NPROVIDERS; i++) {
		const struct conf_provider *pv = &providers[i];
		json_t *regions = json_array();

		for (k = 0; pv->regions != NULL && pv->regions[k].name != NULL; k++)
			json_array_append_new(regions, json_pack("{s:s,s:s}",
			    "name", pv->regions[k].name, "host", pv->regions[k].host));
		json_array_append_new(list, json_pack("{s:s,s:s,s:s?,s:i,s:s,s:s?,"
		    "s:s?,s:s?,s:o,s:b,s:s?,s:s?,s:s?}", "name", pv->name,
		    "label", pv->label, "host", pv->host, "port", (int)pv->port,
		    "security", sec[pv->security], "auth", pv->auth ==
		    CONF_AUTH_OAUTH2 ? "oauth2" : pv->auth ? "password" : NULL,
		    "username", pv->username, "limits", pv->limits,
		    "regions", regions, "oauth2", pv->token_url != NULL,
		    "hint", pv->hint, "url", pv->url, "limits_url",
		    pv->limits_url));
	}
	j = json_pack("{s:o}", "providers", list);
	return j;
}
