/*
 * sasl_oauth.h - the OAuth2 SASL mechanisms of the SMTP client: XOAUTH2
 * (Google's and Microsoft's) and OAUTHBEARER (RFC 7628).  The token is
 * the caller's (smtp_params.bearer_token); nothing here fetches one.
 *
 *   XOAUTH2:     base64("user=" U "\x01auth=Bearer " T "\x01\x01")
 *   OAUTHBEARER: base64("n,a=" U ",\x01host=" H "\x01port=" P
 *                       "\x01auth=Bearer " T "\x01\x01")
 *
 * Both are client-first (AUTH MECH <initial-response>).  A server that
 * refuses the token may answer 334 with a base64 JSON error (Gmail); the
 * client then sends the mechanism's empty answer (smtp_sasl_oauth_
 * abort_line: an empty line for XOAUTH2, "AQ==" (the byte 0x01) for
 * OAUTHBEARER, RFC 7628 3.2.3) and reads the final 535.
 *
 * Choice: OAUTHBEARER when offered (the standard, RFC 7628), else
 * XOAUTH2 (Microsoft 365 and Outlook.com offer only XOAUTH2; Gmail offers
 * both).
 */
#ifndef OUTPOST_SMTP_SASL_OAUTH_H
#define OUTPOST_SMTP_SASL_OAUTH_H

#include <stddef.h>

#include "util/err.h"

/* The mechanism to use from offered (space-separated, any case), copied
 * upper case to mech.  -1 (ERR_CONFIG) if neither is offered. */
int smtp_sasl_oauth_choose(const char *offered, char *mech, size_t mechsz,
    struct op_err *e);

/* The initial response of mech for user, token (and host, port for
 * OAUTHBEARER), base64, malloc'ed into *out_b64 (the caller wipes and
 * frees it).  ERR_CONFIG for a user or token holding bytes the format
 * cannot carry (control bytes; ',' or '=' in the OAUTHBEARER user are
 * escaped as RFC 5801 says). */
int smtp_sasl_oauth_initial(const char *mech, const char *user,
    const char *host, unsigned port, const char *token, char **out_b64,
    struct op_err *e);

/* The line that ends an exchange after the server's 334 error challenge:
 * "" (XOAUTH2) or "AQ==" (OAUTHBEARER). */
const char *smtp_sasl_oauth_abort_line(const char *mech);

/* The server's 334 error challenge decoded for a person: its "status"
 * (and "scope") from the JSON, sanitised, into dst; "" if none. */
void smtp_sasl_oauth_challenge_text(const char *b64, char *dst, size_t dstsz);

#endif
