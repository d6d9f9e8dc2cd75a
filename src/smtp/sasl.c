/*
 * sasl.c - SMTP AUTH mechanisms through GNU SASL (sasl.h).
 *
 * One Gsasl library context per process, made once; each exchange is a
 * Gsasl_session whose hook points at its struct smtp_sasl, so the property
 * callback hands the right credentials to the right exchange.
 */
#include "smtp/sasl.h"

#include <strings.h>
#include <gsasl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

struct smtp_sasl {
	Gsasl_session *s;
	char *host;
	char *user;
	char *password;
};

/* Strongest first: salted challenge-response, then the hashed one, then
 * the ones that rely on TLS for secrecy. */
static const char *const sasl_pref[] = {
	"SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN",
};
#define NPREF (sizeof(sasl_pref) / sizeof(sasl_pref[0]))

static pthread_once_t sasl_once = PTHREAD_ONCE_INIT;
static Gsasl *sasl_lib;
static int sasl_init_rc;

static int
sasl_callback(Gsasl *ctx, Gsasl_session *sctx, Gsasl_property prop)
{
	struct smtp_sasl *x = gsasl_session_hook_get(sctx);

	(void)ctx;
	if (x == NULL)
		return GSASL_NO_CALLBACK;
	switch (prop) {
	case GSASL_AUTHID:
		return gsasl_property_set(sctx, prop, x->user);
	case GSASL_PASSWORD:
		return gsasl_property_set(sctx, prop, x->password);
	case GSASL_SERVICE:
		return gsasl_property_set(sctx, prop, "smtp");
	case GSASL_HOSTNAME:
		return gsasl_property_set(sctx, prop, x->host);
	default:
		/* No authorization identity, no channel binding. */
		return GSASL_NO_CALLBACK;
	}
}

static void
sasl_lib_init(void)
{
	sasl_init_rc = gsasl_init(&sasl_lib);
	if (sasl_init_rc == GSASL_OK)
		gsasl_callback_set(sasl_lib, sasl_callback);
}

static int
sasl_lib_get(Gsasl **out, struct op_err *e)
{
	pthread_once(&sasl_once, sasl_lib_init);
	if (sasl_init_rc != GSASL_OK)
		return err_set(e, ERR_SOFTWARE, "GNU SASL did not initialise: %s",
		    gsasl_strerror(sasl_init_rc));
	*out = sasl_lib;
	return 0;
}

/* 1 if the space-separated list offered holds mech (any case). */
static int
list_has(const char *offered, const char *mech)
{
	size_t ml = strlen(mech);
	const char *p = offered;

	while (*p != '\0') {
		size_t n;

		while (*p == ' ' || *p == '\t')
			p++;
		n = strcspn(p, " \t");
		if (n == ml && strncasecmp(p, mech, ml) == 0)
			return 1;
		p += n;
	}
	return 0;
}

int
smtp_sasl_choose(const char *offered, char *mech, size_t mechsz,
    struct op_err *e)
{
	Gsasl *lib = NULL;
	size_t i;

	if (sasl_lib_get(&lib, e) < 0)
		return -1;
	for (i = 0; i < NPREF; i++) {
		if (!list_has(offered, sasl_pref[i]))
			continue;
		if (!gsasl_client_support_p(lib, sasl_pref[i]))
			continue;
		if (str_copy(mech, mechsz, sasl_pref[i]) < 0)
			return err_set(e, ERR_SOFTWARE, "mechanism name buffer too small");
		return 0;
	}
	return err_set(e, ERR_CONFIG, "no authentication mechanism in common "
	    "(the server offers: %s; Outpost supports SCRAM-SHA-256, "
	    "SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN)", offered[0] ? offered : "none");
}

int
smtp_sasl_client_first(const char *mech)
{
	return strcasecmp(mech, "PLAIN") == 0 ||
	    strncasecmp(mech, "SCRAM-", 6) == 0;
}

static void
wipe_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void
smtp_sasl_free(struct smtp_sasl *x)
{
	if (x == NULL)
		return;
	if (x->s != NULL)
		gsasl_finish(x->s);
	free(x->host);
	wipe_free(x->user);
	wipe_free(x->password);
	free(x);
}

int
smtp_sasl_start(const char *mech, const char *host, const char *user,
    const char *password, struct smtp_sasl **out, struct op_err *e)
{
	struct smtp_sasl *x;
	Gsasl *lib = NULL;
	int rc;

	*out = NULL;
	if (sasl_lib_get(&lib, e) < 0)
		return -1;
	if (!gsasl_client_support_p(lib, mech))
		return err_set(e, ERR_CONFIG, "authentication mechanism %s is not supported", mech);
	x = mem_alloc(sizeof(*x));
	x->host = str_dup(host != NULL ? host : "");
	x->user = str_dup(user != NULL ? user : "");
	x->password = str_dup(password != NULL ? password : "");
	rc = gsasl_client_start(lib, mech, &x->s);
	if (rc != GSASL_OK) {
		x->s = NULL;
		smtp_sasl_free(x);
		return err_set(e, ERR_SOFTWARE, "cannot start %s: %s", mech,
		    gsasl_strerror(rc));
	}
	gsasl_session_hook_set(x->s, x);
	*out = x;
	return 0;
}

int
smtp_sasl_step(struct smtp_sasl *x, const char *in_b64, char **out_b64,
    int *done, struct op_err *e)
{
	char *o = NULL;
	int rc;

	*out_b64 = NULL;
	*done = 0;
	rc = gsasl_step64(x->s, in_b64 != NULL ? in_b64 : "", &o);
	if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE) {
		if (o != NULL)
			gsasl_free(o);
		return err_set(e, rc == GSASL_MALLOC_ERROR ? ERR_OSERR : ERR_PROTOCOL,
		    "authentication exchange failed: %s", gsasl_strerror(rc));
	}
	*out_b64 = str_dup(o != NULL ? o : "");
	if (o != NULL) {
		explicit_bzero(o, strlen(o));
		gsasl_free(o);
	}
	*done = rc == GSASL_OK;
	return 0;
}
