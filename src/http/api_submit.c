/*
 * api_submit.c - POST /api/messages: compose a message (mail/mime.h) and
 * queue it; 202 {"id": ...} once it is on disk.
 *
 *   {"from": "a@example.org" | {"email": ..., "name": ...},
 *    "to": [address, ...], "cc": [...], "bcc": [...],   (or one address)
 *    "subject": "...", "text": "...", "html": "...",
 *    "headers": {"Reply-To": "..."},
 *    "attachments": [{"filename", "content_type", "content_base64"}],
 *    "profile": "primary"}
 *
 * Every field is checked before anything is composed, so a 400 names the
 * field: {"error": ..., "fields": {"to[1]": "..."}}.  No input can add a
 * header or a recipient: CR and LF are refused in every header-bound field
 * (mime.h), and Bcc addresses only reach the envelope.
 */
#include "http/http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/conf.h"
#include "mail/addr.h"
#include "mail/encode.h"
#include "mail/mime.h"
#include "queue/queue.h"
#include "util/log.h"

struct submit {
	struct mime_msg m;
	struct mime_addr *to, *cc;
	struct mime_header *hdrs;
	struct mime_attachment *att;
	struct buf *att_data;
	size_t natt_data;
	struct addr_list rcpts;         /* envelope: to + cc + bcc, unique */
	json_t *fields;                 /* field -> why, for the 400 */
};

static void
field_error(struct submit *s, const char *field, const char *why)
{
	if (json_object_get(s->fields, field) == NULL)
		json_object_set_new(s->fields, field, http_jstr(why));
}

/* One address: "a@b" or {"email": "a@b", "name": "A"}.  Adds it to the
 * envelope if rcpt is set.  0, or -1 with a field error. */
static int
take_addr(struct submit *s, json_t *v, const char *field, struct mime_addr *out,
    int rcpt)
{
	struct addr_mailbox mb;
	struct op_err e;
	const char *email = NULL, *name = NULL;

	if (json_is_string(v)) {
		email = json_string_value(v);
	} else if (json_is_object(v)) {
		if (http_jget_str(v, "email", &email) < 0 || http_jget_str(v, "name", &name) < 0) {
			field_error(s, field, "email and name must be strings");
			return -1;
		}
	} else {
		field_error(s, field, "an address: \"user@example.org\" or "
		    "{\"email\": ..., \"name\": ...}");
		return -1;
	}
	if (email == NULL || *email == '\0') {
		field_error(s, field, "the address is missing");
		return -1;
	}
	if (addr_parse_mailbox(email, &mb, &e) < 0) {
		field_error(s, field, e.msg);
		return -1;
	}
	if (name != NULL && (strpbrk(name, "\r\n") != NULL || strlen(name) > MIME_NAME_MAX)) {
		field_error(s, field, "the name must be one line of at most 256 bytes");
		return -1;
	}
	out->addr = email;
	out->name = name;
	if (rcpt && addr_list_add(&s->rcpts, &mb, 1, &e) < 0) {
		field_error(s, field, e.msg);
		return -1;
	}
	return 0;
}

/* A list of addresses (or one); *out is allocated (free it). */
static int
take_addr_list(struct submit *s, json_t *body, const char *key,
    struct mime_addr **out, size_t *n, int header)
{
	json_t *v = json_object_get(body, key), *x;
	char field[32];
	size_t i, cnt;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_array(v)) {
		struct mime_addr one;

		if (take_addr(s, v, key, &one, 1) < 0)
			return -1;
		*out = mem_alloc(sizeof(**out));
		(*out)[0] = one;
		*n = header ? 1 : 0;
		return 0;
	}
	cnt = json_array_size(v);
	if (cnt > MIME_ADDRS_MAX) {
		field_error(s, key, "too many addresses");
		return -1;
	}
	*out = mem_alloc((cnt ? cnt : 1) * sizeof(**out));
	json_array_foreach(v, i, x) {
		snprintf(field, sizeof(field), "%s[%zu]", key, i);
		if (take_addr(s, x, field, &(*out)[i], 1) < 0)
			rc = -1;
	}
	*n = header ? cnt : 0;
	return rc;
}

static int
take_text(struct submit *s, json_t *body, const char *key, const char **out,
    size_t *len)
{
	json_t *v = json_object_get(body, key);

	*out = NULL;
	if (len != NULL)
		*len = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		field_error(s, key, "must be a string");
		return -1;
	}
	*out = json_string_value(v);
	if (len != NULL)
		*len = json_string_length(v);
	return 0;
}

static int
take_headers(struct submit *s, json_t *body)
{
	json_t *v = json_object_get(body, "headers"), *x;
	const char *name;
	char field[MIME_NAME_MAX + 16];
	struct op_err e;
	size_t i = 0;
	int rc = 0;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v)) {
		field_error(s, "headers", "an object of \"Name\": \"value\"");
		return -1;
	}
	if (json_object_size(v) > MIME_HEADERS_MAX) {
		field_error(s, "headers", "too many headers");
		return -1;
	}
	s->hdrs = mem_alloc((json_object_size(v) + 1) * sizeof(*s->hdrs));
	json_object_foreach(v, name, x) {
		snprintf(field, sizeof(field), "headers.%s", name);
		if (mime_header_allowed(name, &e) < 0) {
			field_error(s, field, e.msg);
			rc = -1;
			continue;
		}
		if (!json_is_string(x)) {
			field_error(s, field, "must be a string");
			rc = -1;
			continue;
		}
		if (strpbrk(json_string_value(x), "\r\n") != NULL) {
			field_error(s, field, "must be one line (no CR or LF)");
			rc = -1;
			continue;
		}
		s->hdrs[i].name = name;
		s->hdrs[i].value = json_string_value(x);
		i++;
	}
	s->m.headers = s->hdrs;
	s->m.nheaders = i;
	return rc;
}

static int
take_attachments(struct submit *s, json_t *body, size_t max_size)
{
	json_t *v = json_object_get(body, "attachments"), *x;
	const char *fn, *ct, *b64;
	char field[48];
	struct op_err e;
	size_t i, n;
	int rc = 0;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_array(v)) {
		field_error(s, "attachments", "an array of {\"filename\", "
		    "\"content_type\", \"content_base64\"}");
		return -1;
	}
	n = json_array_size(v);
	if (n > MIME_ATTACH_MAX) {
		field_error(s, "attachments", "too many attachments");
		return -1;
	}
	s->att = mem_alloc((n ? n : 1) * sizeof(*s->att));
	s->att_data = mem_alloc((n ? n : 1) * sizeof(*s->att_data));
	s->natt_data = n;
	for (i = 0; i < n; i++)
		buf_init(&s->att_data[i], max_size);
	json_array_foreach(v, i, x) {
		snprintf(field, sizeof(field), "attachments[%zu]", i);
		if (!json_is_object(x) || http_jget_str(x, "filename", &fn) < 0 ||
		    http_jget_str(x, "content_type", &ct) < 0 ||
		    http_jget_str(x, "content_base64", &b64) < 0 || b64 == NULL) {
			field_error(s, field, "needs \"content_base64\" (a string), and "
			    "optionally \"filename\" and \"content_type\" (strings)");
			rc = -1;
			continue;
		}
		if ((fn != NULL && (strpbrk(fn, "\r\n/\\") != NULL ||
		    strlen(fn) > MIME_FILENAME_MAX)) ||
		    (ct != NULL && (strpbrk(ct, "\r\n") != NULL || strlen(ct) > MIME_CTYPE_MAX))) {
			field_error(s, field, "filename and content_type must be one line; "
			    "a filename has no / or \\");
			rc = -1;
			continue;
		}
		if (enc_base64_decode(&s->att_data[i], b64, strlen(b64), &e) < 0) {
			field_error(s, field, e.msg);
			rc = -1;
			continue;
		}
		s->att[i].filename = fn != NULL && *fn != '\0' ? fn : NULL;
		s->att[i].content_type = ct != NULL && *ct != '\0' ? ct : NULL;
		s->att[i].data = s->att_data[i].data != NULL ? s->att_data[i].data : "";
		s->att[i].len = s->att_data[i].len;
	}
	s->m.att = s->att;
	s->m.natt = n;
	return rc;
}

static void
submit_free(struct submit *s)
{
	size_t i;

	free(s->to);
	free(s->cc);
	free(s->hdrs);
	free(s->att);
	for (i = 0; i < s->natt_data; i++)
		buf_free(&s->att_data[i]);
	free(s->att_data);
	addr_list_free(&s->rcpts);
	json_decref(s->fields);
}

static const char *const known_keys[] = {
	"from", "to", "cc", "bcc", "subject", "text", "html", "headers",
	"attachments", "profile", NULL,
};

void
http_api_messages_post(struct http_req *r)
{
	struct submit s;
	struct queue *q = r->srv->deps.queue;
	const struct conf *c = NULL;
	const struct conf_profile *p = NULL;
	struct mime_addr *bcc = NULL;
	size_t nbcc = 0, i, k;
	const char *profile = NULL, *key;
	const char **rcpts = NULL;
	struct queue_new qn;
	char id[QUEUE_ID_SIZE];
	struct mime_info info;
	struct op_err e;
	struct buf msg;
	json_t *body, *v;
	int bad = 0;

	memset(&s, 0, sizeof(s));
	buf_init(&msg, 0);
	if ((body = http_body_object(r)) == NULL)
		return;
	if (q == NULL) {
		http_reply_error(r, 503, "the queue is not open in this process");
		return;
	}
	s.fields = json_object();
	addr_list_init(&s.rcpts, QUEUE_RCPTS_MAX);
	json_object_foreach(body, key, v) {
		for (k = 0; known_keys[k] != NULL && strcmp(known_keys[k], key) != 0; k++)
			;
		if (known_keys[k] == NULL) {
			field_error(&s, key, "unknown field");
			bad = 1;
		}
	}
	v = json_object_get(body, "from");
	if (v == NULL || json_is_null(v)) {
		field_error(&s, "from", "the sender address is required");
		bad = 1;
	} else if (take_addr(&s, v, "from", &s.m.from, 0) < 0) {
		bad = 1;
	}
	bad |= take_addr_list(&s, body, "to", &s.to, &s.m.nto, 1) < 0;
	bad |= take_addr_list(&s, body, "cc", &s.cc, &s.m.ncc, 1) < 0;
	bad |= take_addr_list(&s, body, "bcc", &bcc, &nbcc, 0) < 0;
	free(bcc);      /* envelope only: already in s.rcpts */
	s.m.to = s.to;
	s.m.cc = s.cc;
	if (!bad && s.rcpts.n == 0) {
		field_error(&s, "to", "at least one recipient (to, cc or bcc) is required");
		bad = 1;
	}
	if (take_text(&s, body, "subject", &s.m.subject, NULL) < 0)
		bad = 1;
	else if (s.m.subject != NULL && strpbrk(s.m.subject, "\r\n") != NULL) {
		field_error(&s, "subject", "the subject must be one line (no CR or LF)");
		bad = 1;
	}
	bad |= take_text(&s, body, "text", &s.m.text, &s.m.text_len) < 0;
	bad |= take_text(&s, body, "html", &s.m.html, &s.m.html_len) < 0;
	bad |= take_text(&s, body, "profile", &profile, NULL) < 0;
	bad |= take_headers(&s, body) < 0;

	c = http_conf_get(r);
	bad |= take_attachments(&s, body, (size_t)c->server.max_message_size) < 0;
	if (profile != NULL && *profile != '\0' &&
	    (p = conf_profile_find(c, profile)) == NULL) {
		field_error(&s, "profile", "no such profile");
		bad = 1;
	}
	if (bad) {
		http_reply_fields(r, 400, "the message has invalid fields", s.fields);
		s.fields = NULL;
		goto out;
	}

	s.m.date = (int64_t)time(NULL);
	buf_init(&msg, (size_t)c->server.max_message_size);
	if (mime_compose(&s.m, &msg, &info, &e) < 0) {
		if (e.kind == ERR_DATA && msg.len + 1024 >= msg.max)
			http_reply_error(r, 413, "the message is larger than max_message_size "
			    "(%llu bytes)", (unsigned long long)c->server.max_message_size);
		else
			http_reply_error(r, e.kind == ERR_DATA ? 400 : 500, "%s", e.msg);
		goto out;
	}

	rcpts = mem_alloc(s.rcpts.n * sizeof(*rcpts));
	for (i = 0; i < s.rcpts.n; i++)
		rcpts[i] = s.rcpts.v[i].addr;
	memset(&qn, 0, sizeof(qn));
	qn.sender = s.m.from.addr;
	qn.rcpts = rcpts;
	qn.nrcpts = s.rcpts.n;
	qn.body = msg.data;
	qn.len = msg.len;
	qn.profile = p != NULL ? p->name : NULL;
	qn.state = conf_profile_first_enabled(c) != NULL ? QUEUE_MSG_QUEUED : QUEUE_MSG_HELD;
	if (queue_submit(q, &qn, id, &e) < 0) {
		http_reply_error(r, e.kind == ERR_TEMP ? 503 : e.kind == ERR_DATA ? 400 : 500,
		    "the message was not queued: %s", e.msg);
		goto out;
	}
	if (r->srv->deps.wake_delivery != NULL)
		r->srv->deps.wake_delivery(r->srv->deps.arg);
	{
		char nr[16];

		snprintf(nr, sizeof(nr), "%zu", s.rcpts.n);
		log_event(LOG_INFO, "http_submit", "id", id, "from", s.m.from.addr,
		    "rcpts", nr, "state", queue_msg_state_name(qn.state), NULL);
	}
	http_reply_json(r, 202, json_pack("{s:s,s:s,s:s}", "id", id, "state",
	    queue_msg_state_name(qn.state), "message_id", info.message_id));
out:
	if (c != NULL)
		http_conf_put(r, c);
	free(rcpts);
	buf_free(&msg);
	submit_free(&s);
}
