/*
 * json.c - request bodies in, JSON replies out.
 *
 * Bodies are checked before Jansson sees them: valid UTF-8 (RFC 3629
 * section 4: no overlongs, no surrogates, nothing past U+10FFFF) and at
 * most HTTP_JSON_DEPTH_MAX levels of nesting, so the message a client gets
 * names the real problem and Jansson's recursion stays shallow.  Jansson
 * then parses with JSON_REJECT_DUPLICATES and refuses \u0000 in strings.
 *
 * Errors are {"error": "one sentence", "fields": {"key": "why"}}.
 */
#include "http/http_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

void
http_reply_clear(struct http_req *r)
{
	if (r->out != NULL && !r->out_static)
		free(r->out);
	r->out = NULL;
	r->out_len = 0;
	r->out_static = 0;
	r->status = 0;
	r->ctype = NULL;
}

void
http_reply_owned(struct http_req *r, unsigned status, const char *ctype,
    char *data, size_t len)
{
	http_reply_clear(r);
	r->status = status;
	r->ctype = ctype;
	r->out = data;
	r->out_len = len;
}

void
http_reply_static(struct http_req *r, unsigned status, const char *ctype,
    const void *data, size_t len)
{
	http_reply_clear(r);
	r->status = status;
	r->ctype = ctype;
	r->out = (char *)(uintptr_t)data;       /* never written, never freed */
	r->out_len = len;
	r->out_static = 1;
}

void
http_reply_empty(struct http_req *r, unsigned status)
{
	http_reply_static(r, status, NULL, "", 0);
}

void
http_reply_json(struct http_req *r, unsigned status, json_t *j)
{
	char *text;

	if (j == NULL) {
		http_reply_error(r, 500, "out of memory building the reply");
		return;
	}
	text = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(j);
	if (text == NULL) {
		http_reply_error(r, 500, "out of memory building the reply");
		return;
	}
	http_reply_owned(r, status, "application/json", text, strlen(text));
}

void
http_reply_fields(struct http_req *r, unsigned status, const char *msg,
    json_t *fields)
{
	json_t *j = json_object();

	json_object_set_new(j, "error", http_jstr(msg));
	if (fields != NULL && json_object_size(fields) > 0)
		json_object_set_new(j, "fields", fields);
	else if (fields != NULL)
		json_decref(fields);
	http_reply_json(r, status, j);
}

void
http_reply_error(struct http_req *r, unsigned status, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	http_reply_fields(r, status, msg, NULL);
}

/* Length of the UTF-8 sequence at p (n bytes left), or 0 if invalid. */
static size_t
utf8_seq(const unsigned char *p, size_t n)
{
	unsigned c = p[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && p[1] < 0xa0)
			return 0;       /* overlong */
		if (c == 0xed && p[1] >= 0xa0)
			return 0;       /* UTF-16 surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
		    (p[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && p[1] < 0x90)
			return 0;       /* overlong */
		if (c == 0xf4 && p[1] >= 0x90)
			return 0;       /* past U+10FFFF */
		return 4;
	}
	return 0;
}

int
http_json_precheck(const char *text, size_t n, size_t depth_max,
    struct op_err *e)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t i = 0, depth = 0, k;
	int in_str = 0;

	while (i < n) {
		unsigned char c = p[i];

		if (c >= 0x80) {
			k = utf8_seq(p + i, n - i);
			if (k == 0)
				return err_set(e, ERR_DATA, "the request body is not valid "
				    "UTF-8 (byte 0x%02x at offset %zu)", c, i);
			i += k;
			continue;
		}
		if (in_str) {
			if (c == '\\')
				i++;            /* skip the escaped byte */
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > depth_max)
				return err_set(e, ERR_DATA, "the request body nests arrays "
				    "and objects deeper than %zu levels", depth_max);
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
		i++;
	}
	return 0;
}

json_t *
http_body_object(struct http_req *r)
{
	struct op_err e;
	json_error_t je;
	json_t *j;

	if (r->json != NULL)
		return r->json;
	if (r->body.len == 0) {
		http_reply_error(r, 400, "the request needs a JSON object as its body");
		return NULL;
	}
	if (http_json_precheck(r->body.data, r->body.len, HTTP_JSON_DEPTH_MAX, &e) < 0) {
		http_reply_error(r, 400, "%s", e.msg);
		return NULL;
	}
	j = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL) {
		char text[sizeof(je.text) * 4];

		log_sanitize(text, sizeof(text), je.text);
		http_reply_error(r, 400, "the request body is not valid JSON: line %d, "
		    "column %d: %s", je.line, je.column, text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		http_reply_error(r, 400, "the request body must be a JSON object ({...})");
		return NULL;
	}
	r->json = j;
	return j;
}

json_t *
http_jstr(const char *s)
{
	json_t *j;
	char *clean;
	size_t n;

	if (s == NULL)
		return json_null();
	j = json_string(s);
	if (j != NULL)
		return j;
	/* Not UTF-8: escape it the way logs are escaped (pure ASCII). */
	n = strlen(s) * 4 + 4;
	clean = mem_alloc(n);
	log_sanitize(clean, n, s);
	j = json_string(clean);
	free(clean);
	return j;
}

int
http_jget_str(json_t *o, const char *key, const char **out)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v)) {
		*out = NULL;
		return 0;
	}
	if (!json_is_string(v))
		return -1;
	*out = json_string_value(v);
	return 0;
}
