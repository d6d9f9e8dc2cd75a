/*
 * sasl_oauth.c - XOAUTH2 and OAUTHBEARER messages (sasl_oauth.h).
 */
#include "smtp/sasl_oauth.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/log.h"

#define OAUTH_MSG_MAX 12000   /* the raw message; fits SMTP_AUTH_LINE_MAX
                               * once base64 (4/3) */

static int
offers(const char *offered, const char *mech)
{
	size_t ml = strlen(mech);
	const char *p = offered;

	while (*p != '\0') {
		size_t n;

		while (*p == ' ')
			p++;
		n = strcspn(p, " ");
		if (n == ml && strncasecmp(p, mech, ml) == 0)
			return 1;
		p += n;
	}
	return 0;
}

int
smtp_sasl_oauth_choose(const char *offered, char *mech, size_t mechsz,
    struct op_err *e)
{
	const char *m = offers(offered, "OAUTHBEARER") ? "OAUTHBEARER" :
	    offers(offered, "XOAUTH2") ? "XOAUTH2" : NULL;

	if (m == NULL)
		return err_set(e, ERR_CONFIG, "the server offers no OAuth2 "
		    "mechanism (XOAUTH2 or OAUTHBEARER; it offers: %s): use auth = "
		    "yes with a password, or check host and port", offered[0] ?
		    offered : "none");
	if (str_copy(mech, mechsz, m) < 0)
		return err_set(e, ERR_SOFTWARE, "mechanism name buffer too small");
	return 0;
}

static int
has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

int
smtp_sasl_oauth_initial(const char *mech, const char *user,
    const char *host, unsigned port, const char *token, char **out_b64,
    struct op_err *e)
{
	struct buf raw;
	char *b64 = NULL;
	const char *c;
	int n, rc = -1;

	*out_b64 = NULL;
	buf_init(&raw, OAUTH_MSG_MAX);
	if (has_ctl(user) || has_ctl(token) || (host != NULL && has_ctl(host))) {
		err_set(e, ERR_CONFIG, "the username or the token holds control "
		    "characters");
		goto out;
	}
	if (strcasecmp(mech, "XOAUTH2") == 0) {
		if (buf_printf(&raw, e, "user=%s\001auth=Bearer %s\001\001", user,
		    token) < 0)
			goto out;
	} else if (strcasecmp(mech, "OAUTHBEARER") == 0) {
		/* RFC 5801 4: in the authzid, ',' is "=2C" and '=' is "=3D" */
		if (buf_appendstr(&raw, "n,a=", e) < 0)
			goto out;
		for (c = user; *c != '\0'; c++)
			if ((*c == ',' ? buf_appendstr(&raw, "=2C", e) :
			    *c == '=' ? buf_appendstr(&raw, "=3D", e) :
			    buf_append(&raw, c, 1, e)) < 0)
				goto out;
		if (buf_printf(&raw, e, ",\001host=%s\001port=%u\001auth=Bearer "
		    "%s\001\001", host != NULL ? host : "", port, token) < 0)
			goto out;
	} else {
		err_set(e, ERR_CONFIG, "%s is not an OAuth2 mechanism", mech);
		goto out;
	}
	b64 = mem_alloc(4 * ((raw.len + 2) / 3) + 1);
	n = EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)raw.data,
	    (int)raw.len);
	if (n < 0) {
		err_set(e, ERR_SOFTWARE, "base64 encoding failed");
		free(b64);
		goto out;
	}
	*out_b64 = b64;
	rc = 0;
out:
	if (raw.data != NULL)
		explicit_bzero(raw.data, raw.len);
	buf_free(&raw);
	return rc;
}

const char *
smtp_sasl_oauth_abort_line(const char *mech)
{
	return strcasecmp(mech, "OAUTHBEARER") == 0 ? "AQ==" : "";
}

/* The string value of "key": "..." in a flat JSON object, copied (no
 * escapes undone: the text is only shown). */
static void
json_field(const char *json, const char *key, char *dst, size_t dstsz)
{
	char pat[32];
	const char *p, *end;

	dst[0] = '\0';
	snprintf(pat, sizeof(pat), "\"%s\"", key);
	p = strstr(json, pat);
	if (p == NULL)
		return;
	p += strlen(pat);
	while (*p == ' ' || *p == ':')
		p++;
	if (*p != '"')
		return;
	end = strchr(++p, '"');
	if (end == NULL)
		return;
	if ((size_t)(end - p) >= dstsz)
		end = p + dstsz - 1;
	memcpy(dst, p, (size_t)(end - p));
	dst[end - p] = '\0';
}

void
smtp_sasl_oauth_challenge_text(const char *b64, char *dst, size_t dstsz)
{
	unsigned char raw[1024];
	char json[1025], status[64], scope[256], text[400];
	size_t n = strlen(b64);
	int got;

	dst[0] = '\0';
	if (n == 0 || n > 4 * (sizeof(raw) / 3))
		return;
	got = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
	if (got <= 0)
		return;
	memcpy(json, raw, (size_t)got);
	json[got] = '\0';
	json_field(json, "status", status, sizeof(status));
	json_field(json, "scope", scope, sizeof(scope));
	if (status[0] == '\0')
		return;
	snprintf(text, sizeof(text), "status %s%s%s", status,
	    scope[0] ? ", scope " : "", scope);
	log_sanitize(dst, dstsz, text);
}
