/* test_oauth.c - the SASL XOAUTH2 / OAUTHBEARER messages, PKCE, the
 * refresh margin, the provider table.  Expected values computed with
 * Python's base64 and hashlib (an independent implementation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "config/providers.h"
#include "oauth/oauth.h"
#include "smtp/sasl_oauth.h"

static void
test_xoauth2(void **state)
{
	struct op_err e;
	char *b = NULL;

	(void)state;
	assert_int_equal(smtp_sasl_oauth_initial("XOAUTH2", "a@b.c", "h", 587,
	    "tok123", &b, &e), 0);
	assert_string_equal(b, "dXNlcj1hQGIuYwFhdXRoPUJlYXJlciB0b2sxMjMBAQ==");
	free(b);
}

static void
test_oauthbearer(void **state)
{
	struct op_err e;
	char *b = NULL;

	(void)state;
	assert_int_equal(smtp_sasl_oauth_initial("OAUTHBEARER", "a@b.c",
	    "smtp.gmail.com", 587, "tok123", &b, &e), 0);
	assert_string_equal(b, "bixhPWFAYi5jLAFob3N0PXNtdHAuZ21haWwuY29tAXBvcnQ9"
	    "NTg3AWF1dGg9QmVhcmVyIHRvazEyMwEB");
	free(b);
	/* RFC 5801 4: ',' and '=' in the authzid are escaped */
	assert_int_equal(smtp_sasl_oauth_initial("OAUTHBEARER", "a,b=@c", "h",
	    25, "t", &b, &e), 0);
	assert_string_equal(b, "bixhPWE9MkNiPTNEQGMsAWhvc3Q9aAFwb3J0PTI1AWF1dGg9"
	    "QmVhcmVyIHQBAQ==");
	free(b);
	/* control bytes cannot be carried */
	assert_int_equal(smtp_sasl_oauth_initial("XOAUTH2", "a\001b", "h", 25,
	    "t", &b, &e), -1);
	assert_null(b);
}

static void
test_choose_and_abort(void **state)
{
	struct op_err e;
	char m[32];

	(void)state;
	assert_int_equal(smtp_sasl_oauth_choose("LOGIN PLAIN XOAUTH2 "
	    "OAUTHBEARER", m, sizeof(m), &e), 0);
	assert_string_equal(m, "OAUTHBEARER");
	assert_int_equal(smtp_sasl_oauth_choose("LOGIN XOAUTH2", m, sizeof(m),
	    &e), 0);
	assert_string_equal(m, "XOAUTH2");
	assert_int_equal(smtp_sasl_oauth_choose("LOGIN PLAIN", m, sizeof(m),
	    &e), -1);
	assert_non_null(strstr(e.msg, "LOGIN PLAIN"));
	assert_string_equal(smtp_sasl_oauth_abort_line("XOAUTH2"), "");
	assert_string_equal(smtp_sasl_oauth_abort_line("OAUTHBEARER"), "AQ==");
}

static void
test_challenge_text(void **state)
{
	char t[200];

	(void)state;
	smtp_sasl_oauth_challenge_text("eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiQmVh"
	    "cmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==", t,
	    sizeof(t));
	assert_string_equal(t, "status 401, scope https://mail.google.com/");
	smtp_sasl_oauth_challenge_text("!!!", t, sizeof(t));
	assert_string_equal(t, "");
}

static void
test_pkce(void **state)
{
	struct op_err e;
	char v[64], v2[64], c[64];
	size_t i;

	(void)state;
	assert_int_equal(oauth_pkce_challenge("dBjftJeZ4CVP-mJ92K9BRWfXq1PmS5rV"
	    "TefgyWKhaik", c, sizeof(c), &e), 0);
	assert_string_equal(c, "CDC8mlEdJSOG3nYGDEZMQGrZii89GS21aVCNXOu-eZ0");
	assert_int_equal(oauth_pkce_verifier(v, sizeof(v), &e), 0);
	assert_int_equal(oauth_pkce_verifier(v2, sizeof(v2), &e), 0);
	/* RFC 7636 4.1: 43..128 characters of [A-Za-z0-9-._~] */
	assert_int_equal(strlen(v), 43);
	assert_string_not_equal(v, v2);
	for (i = 0; v[i] != '\0'; i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
		    "qrstuvwxyz0123456789-._~", v[i]));
}

static void
test_margin(void **state)
{
	(void)state;
	assert_int_equal(oauth_margin_s(3600), 600);   /* Microsoft: 10 min */
	assert_int_equal(oauth_margin_s(4), 1);        /* short test tokens */
	assert_int_equal(oauth_margin_s(0), 0);
}

static void
test_providers(void **state)
{
	const struct conf_provider *p = conf_provider_find("microsoft365");
	struct op_err e;
	char *u = NULL;

	(void)state;
	assert_non_null(p);
	assert_int_equal(conf_provider_url(p->token_url, "contoso.com", &u, &e), 0);
	assert_string_equal(u, "https://login.microsoftonline.com/contoso.com/"
	    "oauth2/v2.0/token");
	free(u);
	assert_null(conf_provider_find("gmail")->device_url);
	assert_null(conf_provider_find("nosuch"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xoauth2),
		cmocka_unit_test(test_oauthbearer),
		cmocka_unit_test(test_choose_and_abort),
		cmocka_unit_test(test_challenge_text),
		cmocka_unit_test(test_pkce),
		cmocka_unit_test(test_margin),
		cmocka_unit_test(test_providers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
