/*
 * http_client.c - libcurl, loaded on first use (http_client.h).
 */
#include "util/http_client.h"

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/dl.h"

struct curl_api {
	__typeof__(curl_global_init) *global_init;
	__typeof__(curl_easy_init) *easy_init;
	__typeof__(curl_easy_setopt) *easy_setopt;
	__typeof__(curl_easy_perform) *easy_perform;
	__typeof__(curl_easy_getinfo) *easy_getinfo;
	__typeof__(curl_easy_cleanup) *easy_cleanup;
	__typeof__(curl_easy_strerror) *easy_strerror;
	__typeof__(curl_slist_append) *slist_append;
	__typeof__(curl_slist_free_all) *slist_free_all;
};

static struct curl_api api;

#define F(name, field) DL_SYM(struct curl_api, name, field)
static const struct dl_sym funcs[] = {
	F("curl_global_init", global_init),
	F("curl_easy_init", easy_init),
	F("curl_easy_setopt", easy_setopt),
	F("curl_easy_perform", easy_perform),
	F("curl_easy_getinfo", easy_getinfo),
	F("curl_easy_cleanup", easy_cleanup),
	F("curl_easy_strerror", easy_strerror),
	F("curl_slist_append", slist_append),
	F("curl_slist_free_all", slist_free_all),
};
#undef F

static int
start(void *arg, struct op_err *e)
{
	struct curl_api *a = arg;

	if (a->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return err_set(e, ERR_UNAVAILABLE, "libcurl did not initialise");
	return 0;
}

static struct dl_lib lib = {
	.soname = HTTP_CLIENT_SONAME, .package = "libcurl4", .minimum = "7.85",
	.syms = funcs, .nsyms = DL_COUNT(funcs), .api = &api,
	.api_size = sizeof(api), .start = start, DL_STATE,
};

int
http_client_loaded(void)
{
	return api.easy_init != NULL;
}

struct sink {
	struct buf b;
	int over;
};

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	struct sink *k = arg;
	size_t len = size * n;

	if (k->b.len + len > HTTP_CLIENT_BODY_MAX ||
	    buf_append(&k->b, p, len, NULL) < 0) {
		k->over = 1;
		return 0;
	}
	return len;
}

/* Add ca_file to the system store curl loaded (OpenSSL backend). */
static CURLcode
on_ssl_ctx(CURL *c, void *ctx, void *arg)
{
	(void)c;
	if (SSL_CTX_load_verify_locations(ctx, arg, NULL) != 1)
		return CURLE_SSL_CACERT_BADFILE;
	return CURLE_OK;
}

/* One request; keep (not NULL): the easy handle in *keep is used and
 * kept for the next request (its connection reused), made if NULL. */
static int
request_on(void **keep, const char *url, const char *form, size_t formlen,
    const char *const *extra, size_t nextra, const char *ca_file,
    unsigned timeout_s, struct http_reply *out, struct op_err *e)
{
	struct curl_slist *hdrs = NULL;
	struct sink k;
	CURL *c = NULL;
	CURLcode cc;
	size_t i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	memset(&k, 0, sizeof(k));
	buf_init(&k.b, HTTP_CLIENT_BODY_MAX + 1);
	if (dl_load(&lib, e) < 0)
		return -1;
	c = keep != NULL && *keep != NULL ? *keep : api.easy_init();
	if (c == NULL)
		return err_set(e, ERR_OSERR, "libcurl could not start a request");
	if (keep != NULL)
		*keep = c;
	hdrs = api.slist_append(hdrs, "Accept: application/json");
	for (i = 0; i < nextra; i++)
		hdrs = api.slist_append(hdrs, extra[i]);
	api.easy_setopt(c, CURLOPT_URL, url);
	api.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
	api.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	api.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	api.easy_setopt(c, CURLOPT_TIMEOUT, (long)(timeout_s ? timeout_s : 30));
	api.easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
	api.easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	api.easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	api.easy_setopt(c, CURLOPT_USERAGENT, "Outpost/" OUTPOST_VERSION);
	api.easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	api.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	api.easy_setopt(c, CURLOPT_WRITEDATA, &k);
	if (ca_file != NULL) {
		api.easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
		api.easy_setopt(c, CURLOPT_SSL_CTX_DATA, (void *)ca_file);
	}
	if (form != NULL) {
		api.easy_setopt(c, CURLOPT_POSTFIELDS, form);
		api.easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)formlen);
	}
	cc = api.easy_perform(c);
	if (k.over) {
		err_set(e, ERR_PROTOCOL, "the reply of %s is larger than %d bytes",
		    url, HTTP_CLIENT_BODY_MAX);
		goto out;
	}
	if (cc != CURLE_OK) {
		int kind = cc == CURLE_OPERATION_TIMEDOUT ? ERR_TEMP :
		    cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ?
		    ERR_UNAVAILABLE : ERR_PROTOCOL;

		err_set(e, kind, "request to %s failed: %s%s", url,
		    api.easy_strerror(cc), cc == CURLE_PEER_FAILED_VERIFICATION ||
		    cc == CURLE_SSL_CACERT_BADFILE ? " (check tls_ca_file and the "
		    "server's certificate)" : "");
		goto out;
	}
	api.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	out->body = buf_detach(&k.b, &out->len);
	rc = 0;
out:
	if (k.b.data != NULL)
		explicit_bzero(k.b.data, k.b.len);
	buf_free(&k.b);
	api.easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	api.slist_free_all(hdrs);
	if (keep == NULL)
		api.easy_cleanup(c);
	return rc;
}

static int
request(const char *url, const char *form, const char *ca_file,
    unsigned timeout_s, struct http_reply *out, struct op_err *e)
{
	return request_on(NULL, url, form, form != NULL ? strlen(form) : 0,
	    NULL, 0, ca_file, timeout_s, out, e);
}

int
http_post_json(void **keep, const char *url, const char *body, size_t len,
    const char *const *headers, size_t nheaders, unsigned timeout_s,
    struct http_reply *out, struct op_err *e)
{
	const char *h[HTTP_CLIENT_HEADERS_MAX + 1];
	size_t i;

	if (nheaders > HTTP_CLIENT_HEADERS_MAX)
		return err_set(e, ERR_SOFTWARE, "too many request headers");
	h[0] = "Content-Type: application/json";
	for (i = 0; i < nheaders; i++)
		h[i + 1] = headers[i];
	return request_on(keep, url, body, len, h, nheaders + 1, NULL,
	    timeout_s, out, e);
}

void
http_handle_free(void *keep)
{
	if (keep != NULL && api.easy_cleanup != NULL)
		api.easy_cleanup(keep);
}

int
http_post_form(const char *url, const char *form, const char *ca_file,
    unsigned timeout_s, struct http_reply *out, struct op_err *e)
{
	return request(url, form != NULL ? form : "", ca_file, timeout_s, out, e);
}

int
http_get(const char *url, const char *ca_file, unsigned timeout_s,
    struct http_reply *out, struct op_err *e)
{
	return request(url, NULL, ca_file, timeout_s, out, e);
}

void
http_reply_free(struct http_reply *r)
{
	if (r->body != NULL) {
		explicit_bzero(r->body, r->len);
		free(r->body);
	}
	memset(r, 0, sizeof(*r));
}

int
http_form_escape(void *out, const char *s, struct op_err *e)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf *b = out;
	const unsigned char *u;

	for (u = (const unsigned char *)s; *u != '\0'; u++) {
		char t[3];

		if ((*u >= 'a' && *u <= 'z') || (*u >= 'A' && *u <= 'Z') ||
		    (*u >= '0' && *u <= '9') || strchr("-._~", *u) != NULL) {
			if (buf_append(b, u, 1, e) < 0)
				return -1;
			continue;
		}
		t[0] = '%';
		t[1] = hex[*u >> 4];
		t[2] = hex[*u & 15];
		if (buf_append(b, t, 3, e) < 0)
			return -1;
	}
	return 0;
}
