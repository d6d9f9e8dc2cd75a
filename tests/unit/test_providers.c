/*
 * test_providers.c - the provider presets (config/providers.h): every
 * preset's filled values, written keys win, bad provider and region names
 * are errors with FILE:LINE, `config show` marks preset values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/conf.h"
#include "config/providers.h"
#include "relay/hints.h"

static struct conf *
load(const char *text, struct op_err *e)
{
	struct conf *c = NULL;

	if (conf_load_text("outpost.conf", text, strlen(text), &c, NULL, e) < 0)
		return NULL;
	return c;
}

/* Each preset: host, port, security, auth, username, limits. */
static void
test_every_preset(void **state)
{
	static const struct {
		const char *provider, *region, *host;
		unsigned port;
		const char *username;    /* preset's, NULL: the one written */
		size_t nlimits;
		uint64_t first_count;
		uint32_t first_period;
	} want[] = {
		{ "gmail", NULL, "smtp.gmail.com", 587, NULL, 1, 500, 86400 },
		{ "google-workspace", NULL, "smtp.gmail.com", 587, NULL, 1, 2000, 86400 },
		{ "microsoft365", NULL, "smtp.office365.com", 587, NULL, 2, 30, 60 },
		{ "outlook", NULL, "smtp-mail.outlook.com", 587, NULL, 0, 0, 0 },
		{ "ses", NULL, "email-smtp.us-east-1.amazonaws.com", 587, NULL, 2, 1, 1 },
		{ "ses", "eu-west-1", "email-smtp.eu-west-1.amazonaws.com", 587, NULL, 2, 1, 1 },
		{ "sendgrid", NULL, "smtp.sendgrid.net", 587, "apikey", 0, 0, 0 },
		{ "mailgun", NULL, "smtp.mailgun.org", 587, NULL, 0, 0, 0 },
		{ "mailgun", "eu", "smtp.eu.mailgun.org", 587, NULL, 0, 0, 0 },
		{ "postmark", NULL, "smtp.postmarkapp.com", 587, NULL, 0, 0, 0 },
		{ "brevo", NULL, "smtp-relay.brevo.com", 587, NULL, 0, 0, 0 },
		{ "zoho", NULL, "smtp.zoho.com", 587, NULL, 0, 0, 0 },
		{ "zoho", "eu", "smtp.zoho.eu", 587, NULL, 0, 0, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		char text[512];
		struct op_err e;
		struct conf *c;
		const struct conf_profile *p;

		snprintf(text, sizeof(text), "[profile a]\nprovider = %s\n%s%s%s"
		    "%s\npassword = secret\n", want[i].provider,
		    want[i].region ? "region = " : "",
		    want[i].region ? want[i].region : "",
		    want[i].region ? "\n" : "",
		    want[i].username ? "" : "username = me@example.com");
		c = load(text, &e);
		if (c == NULL)
			fail_msg("%s: %s", want[i].provider, e.msg);
		p = &c->profiles[0];
		assert_string_equal(p->host, want[i].host);
		assert_int_equal(p->port, want[i].port);
		assert_int_equal(p->security, CONF_SEC_STARTTLS);
		assert_int_equal(p->auth, CONF_AUTH_PASSWORD);
		assert_string_equal(p->username, want[i].username ?
		    want[i].username : "me@example.com");
		assert_int_equal(p->nlimits, want[i].nlimits);
		if (want[i].nlimits > 0) {
			assert_int_equal(p->limits[0].count, want[i].first_count);
			assert_int_equal(p->limits[0].period_s, want[i].first_period);
		}
		assert_true(p->preset_keys & CONF_PRESET_HOST);
		assert_int_equal(!!(p->preset_keys & CONF_PRESET_USERNAME),
		    want[i].username != NULL);
		conf_free(c);
	}
}

static void
test_microsoft_limits(void **state)
{
	struct op_err e;
	struct conf *c = load("[profile a]\nprovider = microsoft365\n"
	    "username = me@contoso.com\npassword = x\n", &e);

	(void)state;
	assert_non_null(c);
	assert_int_equal(c->profiles[0].limits[1].count, 10000);
	assert_int_equal(c->profiles[0].limits[1].period_s, 86400);
	conf_free(c);
}

static void
test_written_keys_win(void **state)
{
	struct op_err e;
	struct conf *c = load("[profile a]\nprovider = sendgrid\n"
	    "host = 127.0.0.1\nport = 2525\nsecurity = none\n"
	    "allow_plaintext_auth = yes\nusername = other\npassword = x\n"
	    "limits = 5/s\n", &e);
	const struct conf_profile *p;

	(void)state;
	assert_non_null(c);
	p = &c->profiles[0];
	assert_string_equal(p->host, "127.0.0.1");
	assert_int_equal(p->port, 2525);
	assert_int_equal(p->security, CONF_SEC_NONE);
	assert_string_equal(p->username, "other");
	assert_int_equal(p->nlimits, 1);
	assert_int_equal(p->limits[0].count, 5);
	assert_int_equal(p->preset_keys & (CONF_PRESET_HOST | CONF_PRESET_PORT |
	    CONF_PRESET_SECURITY | CONF_PRESET_USERNAME | CONF_PRESET_LIMITS), 0);
	assert_true(p->preset_keys & CONF_PRESET_AUTH);
	conf_free(c);

	/* security written: the port follows it, not the preset */
	c = load("[profile a]\nprovider = gmail\nsecurity = tls\n"
	    "username = me@gmail.com\npassword = x\n", &e);
	assert_non_null(c);
	assert_int_equal(c->profiles[0].port, 465);
	conf_free(c);

	/* auth written wins over the preset's */
	c = load("[profile a]\nprovider = gmail\nauth = no\n", &e);
	assert_non_null(c);
	assert_int_equal(c->profiles[0].auth, 0);
	conf_free(c);
}

static void
test_bad_names(void **state)
{
	struct op_err e;

	(void)state;
	assert_null(load("[profile a]\nhost = h.example\n\nprovider = gmial\n", &e));
	assert_non_null(strstr(e.msg, "outpost.conf:4: provider: 'gmial' is "
	    "not a provider Outpost knows; write one of gmail,"));
	assert_null(load("[profile a]\nprovider = ses\nregion = mars-1\n"
	    "username = u\npassword = p\n", &e));
	assert_non_null(strstr(e.msg, "outpost.conf:3: region: 'mars-1' is not "
	    "a region of ses; write one of us-east-1, us-east-2"));
	assert_null(load("[profile a]\nprovider = mailgun\nregion = asia\n"
	    "username = u\npassword = p\n", &e));
	assert_string_equal(e.msg, "outpost.conf:3: region: 'asia' is not a "
	    "region of mailgun; write one of us, eu");
	assert_null(load("[profile a]\nprovider = gmail\nregion = eu\n"
	    "username = u\npassword = p\n", &e));
	assert_string_equal(e.msg, "outpost.conf:3: region: region is used "
	    "only with provider = ses, mailgun or zoho");
	assert_null(load("[profile a]\nhost = h.example\nregion = eu\n", &e));
	assert_non_null(strstr(e.msg, "outpost.conf:3: region:"));
	/* a preset that logs in needs the user's username */
	assert_null(load("[profile a]\nprovider = gmail\npassword = p\n", &e));
	assert_string_equal(e.msg, "outpost.conf:2: provider: provider = gmail "
	    "logs in: add username = the login the provider gave you");
}

static void
test_show_marks_preset_values(void **state)
{
	struct op_err e;
	struct conf *c = load("[profile a]\nprovider = sendgrid\nport = 2525\n"
	    "password = x\n", &e);
	struct buf out;

	(void)state;
	assert_non_null(c);
	buf_init(&out, 1 << 20);
	assert_int_equal(conf_show(c, &out, &e), 0);
	assert_non_null(strstr(out.data, "provider = sendgrid\n"
	    "host = smtp.sendgrid.net   ; from provider sendgrid\n"
	    "port = 2525\n"
	    "security = starttls   ; from provider sendgrid\n"));
	assert_non_null(strstr(out.data, "auth = yes   ; from provider sendgrid\n"
	    "username = apikey   ; from provider sendgrid\n"));
	buf_free(&out);
	conf_free(c);
}

static void
test_table(void **state)
{
	size_t i;
	const struct conf_provider *pv;

	(void)state;
	for (i = 0; (pv = conf_provider_at(i)) != NULL; i++) {
		assert_non_null(conf_provider_find(pv->name));
		assert_non_null(strstr(conf_provider_names(), pv->name));
		if (strcmp(pv->name, "custom") == 0)
			continue;
		assert_non_null(pv->hint);
		assert_int_equal(strncmp(pv->url, "https://", 8), 0);
	}
	assert_int_equal(i, 11);
	assert_string_equal(conf_provider_by_host("SMTP.SENDGRID.NET")->name,
	    "sendgrid");
	assert_string_equal(conf_provider_by_host("smtp.eu.mailgun.org")->name,
	    "mailgun");
	assert_null(conf_provider_by_host("smtp.example.com"));
}

/* The rules as the API uses them (a stored reply: code, enhanced code and
 * text apart), the provider scoping, and the quota windows.  Every rule
 * has its peer test in tests/integration/test_providers.py (RULES). */
static void
test_rules(void **state)
{
	const struct hint_rule *r;
	struct conf_profile p;
	size_t n;

	(void)state;
	r = hint_match_text("gmail", 535, "5.7.8", "Username and Password not "
	    "accepted. For more information, go to");
	assert_non_null(r);
	assert_int_equal(r->cls, HINT_AUTH);
	assert_null(hint_match_text(NULL, 535, "5.7.8", "Username and Password "
	    "not accepted."));
	assert_null(hint_match_text("sendgrid", 535, "5.7.8", "Username and "
	    "Password not accepted."));
	r = hint_match_text(NULL, 554, "", "Throttling failure: Daily message "
	    "quota exceeded.");
	assert_non_null(r);
	assert_int_equal(r->cls, HINT_QUOTA);
	assert_int_equal(hint_quota_wait_ms(r, 0), 3600000);
	r = hint_match_text(NULL, 550, "5.7.708", "Service unavailable.");
	assert_non_null(r);
	assert_int_equal(hint_quota_wait_ms(r, 86400000LL * 5 + 1000),
	    86400000 - 1000);
	assert_string_equal(hint_class_name(hint_match_text(NULL, 454, "",
	    "Throttling failure: Maximum sending rate exceeded.")->cls), "rate");
	assert_null(hint_match_text(NULL, 0, "", "Throttling failure"));
	for (n = 0; hint_rule_at(n) != NULL; n++)
		assert_non_null(hint_rule_at(n)->hint);
	assert_int_equal(n, 29);
	/* a profile without provider = is known by its host */
	memset(&p, 0, sizeof(p));
	p.host = "smtp.gmail.com";
	assert_string_equal(hint_provider(&p), "gmail");
	p.provider = "custom";
	p.host = "smtp.example.com";
	assert_null(hint_provider(&p));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_preset),
		cmocka_unit_test(test_microsoft_limits),
		cmocka_unit_test(test_written_keys_win),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_show_marks_preset_values),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
