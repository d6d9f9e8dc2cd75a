/*
 * sasl.h - the client side of SMTP AUTH mechanisms (RFC 4954), through
 * GNU SASL: SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN.
 *
 * The SMTP client does the protocol (AUTH, 334 challenges, 235/535); this
 * module only turns base64 challenges into base64 responses.  Credentials
 * are copied into the exchange and wiped when it is freed.  gsasl is
 * initialised once per process (thread-safe).
 *
 * Errors: ERR_CONFIG for an unsupported mechanism, ERR_PROTOCOL for a
 * challenge the mechanism rejects (a bad server signature for SCRAM),
 * ERR_SOFTWARE for a library failure.
 */
#ifndef OUTPOST_SMTP_SASL_H
#define OUTPOST_SMTP_SASL_H

#include <stddef.h>

#include "util/err.h"

#define SMTP_SASL_MECH_MAX 20      /* RFC 4422 3.1: 1..20 characters */

/*
 * The strongest mechanism in offered (a space-separated list from EHLO,
 * any case) that we prefer and GNU SASL supports, in this order:
 * SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN.  The name is copied
 * to mech (upper case).  -1 (ERR_CONFIG) if none is in common.
 */
int smtp_sasl_choose(const char *offered, char *mech, size_t mechsz,
    struct op_err *e);

/* 1 if the client speaks first (AUTH MECH <initial-response>), RFC 4954 4:
 * PLAIN and SCRAM-*; 0 for CRAM-MD5 and LOGIN (the server challenges). */
int smtp_sasl_client_first(const char *mech);

struct smtp_sasl;

/* Start an exchange.  host is the server name (for mechanisms that want
 * it); user and password are copied.  Caller frees *out. */
int smtp_sasl_start(const char *mech, const char *host, const char *user,
    const char *password, struct smtp_sasl **out, struct op_err *e);

/*
 * One step: in_b64 is the server's challenge in base64 (NULL or "" for
 * the initial response); *out_b64 is the response in base64, malloc'd,
 * caller frees (may be "" for an empty response, which goes on the wire
 * as "=" when it is an initial response).  *done is 1 when the mechanism
 * has nothing more to say (the server's 235 is still awaited).
 */
int smtp_sasl_step(struct smtp_sasl *x, const char *in_b64, char **out_b64,
    int *done, struct op_err *e);

void smtp_sasl_free(struct smtp_sasl *x);

#endif
