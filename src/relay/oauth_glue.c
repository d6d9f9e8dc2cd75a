/*
 * oauth_glue.c - the token step of opening a session (oauth_glue.h).
 */
#include "relay/oauth_glue.h"

#include <stdio.h>
#include <string.h>

#include "oauth/oauth.h"
#include "util/log.h"

/* No token: a session that never connected, and a local failure. */
static int
no_token(const struct smtp_params *sp, struct smtp_session **s,
    struct smtp_result *res, const struct op_err *te)
{
	char why[ERR_MSG_MAX];

	snprintf(why, sizeof(why), "no OAuth2 access token: %.480s", te->msg);
	return smtp_client_unopened(sp, SMTP_FAIL_TOKEN, why, s, res);
}

int
relay_oauth_open(const struct conf_profile *p, const struct smtp_params *sp,
    struct smtp_session **s, struct smtp_result *res,
    struct relay_oauth_info *info)
{
	struct relay_oauth_info local;
	struct smtp_params tp = *sp;
	char *token = NULL;
	int rc;

	if (info == NULL)
		info = &local;
	memset(info, 0, sizeof(*info));
	if (p->auth != CONF_AUTH_OAUTH2)
		return smtp_client_open(sp, s, res);
	info->used = 1;
	if (oauth_token_get(p, &token, &info->token_err) < 0)
		return no_token(sp, s, res, &info->token_err);
	info->token_ok = 1;
	tp.password = NULL;
	tp.bearer_token = token;
	rc = smtp_client_open(&tp, s, res);
	if (rc < 0 && res->fail == SMTP_FAIL_TOKEN) {
		/* refused: a fresh token, one more try */
		info->retried = 1;
		oauth_token_refused(p, token);
		oauth_token_free(token);
		token = NULL;
		smtp_client_free(*s);
		*s = NULL;
		log_event(LOG_INFO, "oauth_retry", "profile", p->name, "reason",
		    res->msg, NULL);
		if (oauth_token_get(p, &token, &info->token_err) < 0) {
			info->token_ok = 0;
			return no_token(sp, s, res, &info->token_err);
		}
		tp.bearer_token = token;
		rc = smtp_client_open(&tp, s, res);
		if (rc < 0 && res->fail == SMTP_FAIL_TOKEN)
			oauth_token_refused(p, token);
	}
	oauth_token_free(token);
	return rc;
}
