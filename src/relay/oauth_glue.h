/*
 * oauth_glue.h - opening an SMTP session for a profile with auth = oauth2:
 * the token comes from oauth/ and goes to the SMTP client as a parameter.
 *
 * The token is got before AUTH; when the server refuses it
 * (SMTP_FAIL_TOKEN: 535, or Gmail's 334 challenge then 535) the cached
 * token is dropped, a fresh one got and the session opened once more
 * before the attempt is judged.  When no token can be got at all, nothing
 * is sent to the provider: the result is a local failure (phase auth,
 * fail token_refused, reply code 0) whose msg says what to do, so the
 * delivery code treats the profile as down (the message waits; it is
 * never failed for a token problem).
 */
#ifndef OUTPOST_RELAY_OAUTH_GLUE_H
#define OUTPOST_RELAY_OAUTH_GLUE_H

#include "config/conf.h"
#include "smtp/client.h"
#include "util/err.h"

struct relay_oauth_info {
	int used;               /* the profile uses auth = oauth2 */
	int token_ok;           /* a token was got (the last try) */
	int retried;            /* the server refused the first token */
	struct op_err token_err; /* why no token, when !token_ok */
};

/* smtp_client_open(sp) for p, with the token step when p->auth is
 * oauth2 (sp is copied; the token is wiped after).  *s is always set
 * (free it); info may be NULL.  Returns 0 or -1 as smtp_client_open. */
int relay_oauth_open(const struct conf_profile *p,
    const struct smtp_params *sp, struct smtp_session **s,
    struct smtp_result *res, struct relay_oauth_info *info);

#endif
