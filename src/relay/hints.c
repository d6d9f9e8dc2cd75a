/*
 * hints.c - the table of provider reply rules (hints.h).  One row per
 * refusal a provider documents or is known to send; the reply texts are
 * the providers' own.  Order matters: the first match wins, so the
 * specific rows of a code come before its general one.
 */
#include "relay/hints.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config/providers.h"

#define GOOGLE "gmail,google-workspace"
#define MS "microsoft365,outlook"
#define HOUR 3600

static const struct hint_rule rules[] = {
	/* ---- Gmail and Google Workspace ---- */
	{ GOOGLE, 534, "5.7.9", "Application-specific password required",
	  HINT_AUTH, 0,
	  "Google refuses the account's normal password because 2-Step "
	  "Verification is on: create an app password "
	  "(https://myaccount.google.com/apppasswords) and put it in "
	  "password (16 letters, spaces do not matter), or sign in with auth "
	  "= oauth2 (outpost oauth login PROFILE)." },
	{ GOOGLE, 535, "5.7.8", "Username and Password not accepted",
	  HINT_AUTH, 0,
	  "Google did not accept the login: username must be the full address "
	  "(name@gmail.com) and password an app password, not the account's "
	  "normal password. Turn on 2-Step Verification, create an app "
	  "password at https://myaccount.google.com/apppasswords and paste "
	  "it in password; or use auth = oauth2." },
	{ NULL, 550, "5.4.5", "limit exceeded", HINT_QUOTA, HOUR,
	  "Google's daily sending limit is used up (Gmail 500, Workspace "
	  "2,000 messages a day, counted over a rolling 24 hours): not a "
	  "failure of the message. Outpost pauses the profile for an hour at "
	  "a time and sends through the next profile meanwhile; lower limits "
	  "or add a profile to spread the load." },
	/* ---- Microsoft 365 and Outlook.com ---- */
	{ NULL, 0, "5.7.139", "SmtpClientAuthentication is disabled",
	  HINT_AUTH, 0,
	  "SMTP AUTH is disabled for the tenant or the mailbox. An "
	  "administrator enables it: Microsoft 365 admin center > Users > the "
	  "mailbox > Mail > Manage email apps > Authenticated SMTP (or "
	  "Set-CASMailbox -Identity MAILBOX -SmtpClientAuthenticationDisabled "
	  "$false; for the tenant, Set-TransportConfig "
	  "-SmtpClientAuthenticationDisabled $false). Or use auth = oauth2 "
	  "(oauth_grant = client_credentials with the SMTP.SendAsApp "
	  "permission)." },
	{ NULL, 0, "5.7.139", "security defaults", HINT_AUTH, 0,
	  "The tenant's security defaults block password logins to SMTP: use "
	  "auth = oauth2 (outpost oauth login PROFILE), or have an "
	  "administrator turn security defaults off for this tenant." },
	{ NULL, 0, "5.7.139", NULL, HINT_AUTH, 0,
	  "Microsoft refused the password login (basic authentication is "
	  "disabled or blocked for this account): use auth = oauth2 "
	  "(outpost oauth login PROFILE), or have an administrator enable "
	  "Authenticated SMTP for the mailbox." },
	{ MS, 535, "5.7.3", "Authentication unsuccessful", HINT_AUTH, 0,
	  "Microsoft did not accept the login: username must be the mailbox's "
	  "full address and password its password (an app password when "
	  "multi-factor authentication is on); Authenticated SMTP must be "
	  "enabled for the mailbox. Password logins are being retired: auth "
	  "= oauth2 is the lasting way." },
	{ NULL, 0, "5.2.252", "SendAsDenied", HINT_SENDER, 0,
	  "The mailbox that logs in may not send as this sender: set from to "
	  "the mailbox's own address (username), or give the mailbox Send As "
	  "permission on the sender (Exchange admin center > Recipients > "
	  "Mailboxes > the sender > Delegation > Send as)." },
	{ NULL, 550, "5.7.60", NULL, HINT_SENDER, 0,
	  "The mailbox that logs in has no permission to send as this "
	  "sender: set from to the mailbox's own address, or grant it Send As "
	  "(or Send on Behalf) on the sender in the Exchange admin center." },
	{ NULL, 0, "5.7.57", NULL, HINT_AUTH, 0,
	  "Microsoft takes mail only after a login: set auth = yes with "
	  "username and password (or auth = oauth2), on port 587 with "
	  "security = starttls." },
	{ NULL, 0, "5.2.0", "SubmissionQuotaExceeded", HINT_QUOTA, HOUR,
	  "The mailbox's sending quota is used up (Microsoft 365: 10,000 "
	  "recipients a day, 30 messages a minute, over a rolling 24 hours): "
	  "not a failure of the message. Outpost pauses the profile for an "
	  "hour at a time and sends through the next profile meanwhile." },
	{ NULL, 0, "5.1.90", NULL, HINT_QUOTA, HOUR,
	  "The mailbox reached its daily recipient limit: not a failure of "
	  "the message. Outpost pauses the profile for an hour at a time and "
	  "sends through the next profile meanwhile." },
	{ NULL, 0, "5.7.708", NULL, HINT_QUOTA, 0,
	  "Microsoft stopped taking mail from this tenant (its sending "
	  "threshold is exceeded, traffic not accepted): not a failure of the "
	  "message. Outpost pauses the profile until midnight UTC and sends "
	  "through the next profile meanwhile; if it persists, open a support "
	  "case with Microsoft." },
	/* ---- Amazon SES ---- */
	{ NULL, 554, NULL, "Email address is not verified", HINT_SENDER, 0,
	  "Amazon SES sends only from verified identities: verify the sender "
	  "address or its domain in the SES console of the region the reply "
	  "names (Configuration > Identities). While the account is in the "
	  "sandbox the recipients must be verified too: request production "
	  "access to leave it." },
	{ NULL, 0, NULL, "Daily message quota exceeded", HINT_QUOTA, HOUR,
	  "Amazon SES's daily sending quota is used up (200 messages a day "
	  "in the sandbox, counted over a rolling 24 hours): not a failure of "
	  "the message. Outpost pauses the profile for an hour at a time and "
	  "sends through the next profile meanwhile; ask AWS for a higher "
	  "quota." },
	{ NULL, 0, NULL, "Maximum sending rate exceeded", HINT_RATE, 0,
	  "Amazon SES's sending rate is exceeded (1 message a second in the "
	  "sandbox): Outpost slows the profile down; set limits to the rate "
	  "your account allows (limits = 14/s)." },
	{ "ses", 535, NULL, NULL, HINT_AUTH, 0,
	  "Amazon SES did not accept the login: use SMTP credentials created "
	  "in the SES console (SMTP settings > Create SMTP credentials) of "
	  "the profile's region, not the AWS access key and secret; region "
	  "must be the one the credentials were made in." },
	/* ---- SendGrid ---- */
	{ NULL, 535, NULL, "Bad username / password", HINT_AUTH, 0,
	  "SendGrid did not accept the login: username must be the word "
	  "apikey, literally, and password an API key with the Mail Send "
	  "permission (Settings > API Keys), pasted whole." },
	{ NULL, 550, NULL, "does not match a verified Sender Identity",
	  HINT_SENDER, 0,
	  "SendGrid sends only from a verified Sender Identity: verify the "
	  "sender address (Settings > Sender Authentication > Single Sender "
	  "Verification) or authenticate its domain, or set from to an "
	  "address that is." },
	{ NULL, 0, NULL, "Maximum credits exceeded", HINT_QUOTA, 0,
	  "SendGrid's plan has no credits left for today: not a failure of "
	  "the message. Outpost pauses the profile until midnight UTC and "
	  "sends through the next profile meanwhile; upgrade the plan for "
	  "more." },
	/* ---- Mailgun ---- */
	{ "mailgun", 0, NULL, "is not allowed to send", HINT_SENDER, 0,
	  "Mailgun refuses to send for this domain: a sandbox domain sends "
	  "only to authorized recipients (add them under Account > "
	  "Authorized recipients), an account must be activated, and a "
	  "domain of your own must be verified (Sending > Domains)." },
	{ "mailgun", 535, NULL, NULL, HINT_AUTH, 0,
	  "Mailgun did not accept the login: username is the domain's SMTP "
	  "login (Sending > Domain settings > SMTP credentials, e.g. "
	  "postmaster@mg.example.com) and password that login's SMTP "
	  "password; a domain in the EU region needs region = eu." },
	/* ---- Postmark ---- */
	{ "postmark", 0, NULL, "Sender Signature", HINT_SENDER, 0,
	  "Postmark sends only from a confirmed Sender Signature or a "
	  "verified domain: add and confirm the sender (Sender Signatures), "
	  "or set from to an address that is." },
	{ "postmark", 535, NULL, NULL, HINT_AUTH, 0,
	  "Postmark did not accept the login: username and password are "
	  "both the Server API Token (Servers > the server > API Tokens), "
	  "not the Account API Token." },
	/* ---- Brevo ---- */
	{ "brevo", 0, NULL, "Unauthorized IP", HINT_AUTH, 0,
	  "Brevo does not know this machine's IP address: authorize it "
	  "(Settings > Security > Authorized IPs), or click the link in "
	  "Brevo's \"Validate your IP address\" email." },
	{ "brevo", 535, NULL, NULL, HINT_AUTH, 0,
	  "Brevo did not accept the login: username is the SMTP login shown "
	  "under SMTP & API > SMTP (an address like ...@smtp-brevo.com), and "
	  "password an SMTP key from that page, not the v3 API key nor the "
	  "account password." },
	{ "brevo", 0, NULL, "sender", HINT_SENDER, 0,
	  "Brevo refused the sender: set from to a verified sender (Senders, "
	  "Domains & Dedicated IPs > Senders) or an address in an "
	  "authenticated domain." },
	/* ---- Zoho ---- */
	{ "zoho", 553, NULL, "not allowed to relay", HINT_SENDER, 0,
	  "Zoho sends only as the account's own address or its aliases: set "
	  "from to the address you log in with, or add the sender as an "
	  "alias (Mail Settings > Send Mail As)." },
	{ "zoho", 535, NULL, NULL, HINT_AUTH, 0,
	  "Zoho did not accept the login: username is the full address, "
	  "password an application-specific password when two-factor "
	  "authentication is on; organization accounts use host = "
	  "smtppro.zoho.com, and region must be your account's data center." },
};

#define NRULES (sizeof(rules) / sizeof(rules[0]))

/* name in the comma-separated list */
static int
in_list(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *s = list;

	while (s != NULL && *s != '\0') {
		const char *end = strchr(s, ',');
		size_t len = end != NULL ? (size_t)(end - s) : strlen(s);

		if (len == n && strncmp(s, name, n) == 0)
			return 1;
		s = end != NULL ? end + 1 : NULL;
	}
	return 0;
}

const char *
hint_provider(const struct conf_profile *p)
{
	const struct conf_provider *pv;

	if (p == NULL)
		return NULL;
	if (p->provider != NULL && strcmp(p->provider, "custom") != 0)
		return p->provider;
	pv = conf_provider_by_host(p->host);
	return pv != NULL ? pv->name : NULL;
}

const struct hint_rule *
hint_match_text(const char *provider, int code, const char *enhanced,
    const char *text)
{
	size_t i;

	if (code == 0)
		return NULL;
	for (i = 0; i < NRULES; i++) {
		const struct hint_rule *r = &rules[i];

		if (r->providers != NULL && (provider == NULL ||
		    !in_list(r->providers, provider)))
			continue;
		if (r->code != 0 && r->code != code)
			continue;
		if (r->enhanced != NULL && (enhanced == NULL ||
		    strcmp(r->enhanced, enhanced) != 0))
			continue;
		if (r->text != NULL && (text == NULL ||
		    strcasestr(text, r->text) == NULL))
			continue;
		return r;
	}
	return NULL;
}

const struct hint_rule *
hint_match(const char *provider, const struct smtp_reply *r)
{
	char enh[16];

	if (r == NULL || r->code == 0)
		return NULL;
	smtp_reply_enh_text(r, enh, sizeof(enh));
	return hint_match_text(provider, r->code, enh, r->text);
}

const char *
hint_class_name(int cls)
{
	switch (cls) {
	case HINT_AUTH: return "auth";
	case HINT_SENDER: return "sender";
	case HINT_QUOTA: return "quota";
	case HINT_RATE: return "rate";
	default: return "?";
	}
}

int64_t
hint_quota_wait_ms(const struct hint_rule *rule, int64_t now_ms)
{
	const int64_t day = 86400000;

	if (rule != NULL && rule->window_s > 0)
		return (int64_t)rule->window_s * 1000;
	return day - (now_ms % day);
}

const struct hint_rule *
hint_rule_at(size_t i)
{
	return i < NRULES ? &rules[i] : NULL;
}
