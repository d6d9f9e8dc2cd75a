/*
 * api_submit.c - POST /api/messages: compose a message (mail/mime.h) and
 * queue it; 202 {"id": ...} once it is on disk.
 *
 *   {"from": "a@example.org" | "Name <a@example.org>" |
 *            {"email": ..., "name": ...},
 *    "to": [address, ...], "cc": [...], "bcc": [...],   (or one address)
 *    "reply_to": address or [address, ...],
 *    "subject": "...", "text": "...", "html": "...",
 *    "headers": {"Reply-To": "..."},
 *    "attachments": [{"filename", "content_type", "content_base64"}],
 *    "profile": "primary",
 *    "metadata": {"key": "string value", ...}}
 * and the header Idempotency-Key: a key used in the last 24 hours
 * answers 200 with the first message's id (nothing is stored).
 *
 * Every field is checked before anything is composed, so a 400 names the
 * field: {"error": ..., "fields": {"to[1]": "..."}}.  The checking is
 * api_submit_decode() (api_decode.h), which touches nothing, so that it
 * can be fuzzed on its own (tests/fuzz/fuzz_submit.c).  No input can add a
 * header or a recipient: CR and LF are refused in every header-bound field
 * (mime.h), and Bcc addresses only reach the envelope.
 */
#include "http/http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config/conf.h"
#include "http/api_decode.h"
#include "mail/addr.h"
#include "mail/encode.h"
#include "mail/mime.h"
#include "queue/queue.h"
#include "util/log.h"

/* Room to try one header field the way mime_compose() writes it. */
#define PROBE_MAX (64 * 1024)

struct decode {
	struct api_submit *s;
	json_t *fields;         /* field -> why, for the 400 */
	struct buf probe;       /* scratch for the header checks */
};

static void
field_error(struct decode *d, const char *field, const char *why)
{
	if (json_object_get(d->fields, field) == NULL)
		json_object_set_new(d->fields, field, http_jstr(why));
}

/*
 * The checks mime_compose() makes of a header field, made here on one
 * field at a time by the same code (mime_write_*_header), so the refusal
 * can name the field.  0, or -1 with a field error.
 */
static int
probe_addr(struct decode *d, const char *field, const char *header,
    const struct mime_addr *a)
{
	struct op_err e;

	buf_reset(&d->probe);
	if (mime_write_addr_header(&d->probe, header, a, 1, NULL, &e) < 0) {
		field_error(d, field, e.msg);
		return -1;
	}
	return 0;
}

static int
probe_text(struct decode *d, const char *field, const char *name,
    const char *value, size_t max)
{
	struct op_err e;
	char why[ERR_MSG_MAX];

	if (strlen(value) > max) {
		snprintf(why, sizeof(why), "must be at most %zu bytes", max);
		field_error(d, field, why);
		return -1;
	}
	buf_reset(&d->probe);
	if (mime_write_text_header(&d->probe, name, value, &e) < 0) {
		field_error(d, field, e.msg);
		return -1;
	}
	return 0;
}

/* A copy of str kept with the message (freed by api_submit_free()). */
static const char *
keep(struct api_submit *s, const char *str)
{
	if (s->nowned == s->capowned) {
		s->capowned = s->capowned ? s->capowned * 2 : 8;
		s->owned = mem_realloc(s->owned, s->capowned * sizeof(*s->owned));
	}
	s->owned[s->nowned] = str_dup(str);
	return s->owned[s->nowned++];
}

/* One address: "a@b", "Name <a@b>" (addr_parse_display(), as `outpost
 * send` takes it) or {"email": "a@b", "name": "A"}.  Adds it to the
 * envelope if rcpt is set; header names the field it is written in (NULL:
 * envelope only).  0, or -1 with a field error. */
static int
take_addr(struct decode *d, json_t *v, const char *field, struct mime_addr *out,
    int rcpt, const char *header)
{
	struct addr_mailbox mb;
	struct op_err e;
	char dname[ADDR_NAME_MAX + 1];
	const char *email = NULL, *name = NULL;

	out->addr = NULL;
	out->name = NULL;
	if (json_is_string(v)) {
		email = json_string_value(v);
	} else if (json_is_object(v)) {
		if (http_jget_str(v, "email", &email) < 0 || http_jget_str(v, "name", &name) < 0) {
			field_error(d, field, "email and name must be strings");
			return -1;
		}
	} else {
		field_error(d, field, "an address: \"user@example.org\", "
		    "\"Name <user@example.org>\" or {\"email\": ..., \"name\": ...}");
		return -1;
	}
	if (email == NULL || *email == '\0') {
		field_error(d, field, "the address is missing");
		return -1;
	}
	if (json_is_string(v)) {
		if (addr_parse_display(email, &mb, dname, sizeof(dname), &e) < 0) {
			field_error(d, field, e.msg);
			return -1;
		}
		if (strcmp(email, mb.addr) != 0) {
			/* "Name <a@b>": the parts, kept with the message */
			email = keep(d->s, mb.addr);
			name = dname[0] != '\0' ? keep(d->s, dname) : NULL;
		}
	} else if (addr_parse_mailbox(email, &mb, &e) < 0) {
		field_error(d, field, e.msg);
		return -1;
	}
	if (name != NULL && (strpbrk(name, "\r\n") != NULL || strlen(name) > MIME_NAME_MAX)) {
		field_error(d, field, "the name must be one line of at most 256 bytes");
		return -1;
	}
	out->addr = email;
	out->name = name;
	if (header != NULL && probe_addr(d, field, header, out) < 0)
		return -1;
	if (rcpt && addr_list_add(&d->s->rcpts, &mb, 1, &e) < 0) {
		field_error(d, field, e.msg);
		return -1;
	}
	return 0;
}

/* A list of addresses (or one); *out is allocated (free it). */
static int
take_addr_list(struct decode *d, json_t *body, const char *key,
    struct mime_addr **out, size_t *n, int rcpt, const char *header)
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
		*out = mem_alloc(sizeof(**out));
		if (take_addr(d, v, key, &(*out)[0], rcpt, header) < 0)
			return -1;
		*n = header != NULL ? 1 : 0;
		return 0;
	}
	cnt = json_array_size(v);
	if (cnt > MIME_ADDRS_MAX) {
		field_error(d, key, "too many addresses");
		return -1;
	}
	*out = mem_alloc((cnt ? cnt : 1) * sizeof(**out));
	json_array_foreach(v, i, x) {
		snprintf(field, sizeof(field), "%s[%zu]", key, i);
		if (take_addr(d, x, field, &(*out)[i], rcpt, header) < 0)
			rc = -1;
	}
	*n = header != NULL ? cnt : 0;
	return rc;
}

static int
take_text(struct decode *d, json_t *body, const char *key, const char **out,
    size_t *len)
{
	json_t *v = json_object_get(body, key);

	*out = NULL;
	if (len != NULL)
		*len = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		field_error(d, key, "must be a string");
		return -1;
	}
	*out = json_string_value(v);
	if (len != NULL)
		*len = json_string_length(v);
	return 0;
}

static int
take_headers(struct decode *d, json_t *body)
{
	struct api_submit *s = d->s;
	json_t *v = json_object_get(body, "headers"), *x;
	const char *name;
	char field[MIME_NAME_MAX + 16];
	struct op_err e;
	size_t i = 0;
	int rc = 0;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v)) {
		field_error(d, "headers", "an object of \"Name\": \"value\"");
		return -1;
	}
	if (json_object_size(v) > MIME_HEADERS_MAX) {
		field_error(d, "headers", "too many headers");
		return -1;
	}
	s->hdrs = mem_alloc((json_object_size(v) + 1) * sizeof(*s->hdrs));
	json_object_foreach(v, name, x) {
		snprintf(field, sizeof(field), "headers.%s", name);
		if (mime_header_allowed(name, &e) < 0) {
			field_error(d, field, e.msg);
			rc = -1;
			continue;
		}
		if (!json_is_string(x)) {
			field_error(d, field, "must be a string");
			rc = -1;
			continue;
		}
		if (strpbrk(json_string_value(x), "\r\n") != NULL) {
			field_error(d, field, "must be one line (no CR or LF)");
			rc = -1;
			continue;
		}
		if (probe_text(d, field, name, json_string_value(x),
		    MIME_HEADER_VALUE_MAX) < 0) {
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

/* An attachment's file name and content type, as mime_compose() checks
 * them: a message of that attachment alone (one byte of data) is composed
 * into the scratch buffer. */
static int
probe_attachment(struct decode *d, const char *field, const char *fn,
    const char *ct)
{
	struct mime_attachment a = { fn, ct, "x", 1 };
	struct mime_msg m;
	struct op_err e;

	memset(&m, 0, sizeof(m));
	m.from.addr = "probe@example.org";
	m.att = &a;
	m.natt = 1;
	buf_reset(&d->probe);
	if (mime_compose(&m, &d->probe, NULL, &e) < 0) {
		/* "attachment 1: ..." names the probe's; the field says which */
		field_error(d, field, strncmp(e.msg, "attachment 1: ", 14) == 0 ?
		    e.msg + 14 : e.msg);
		return -1;
	}
	return 0;
}

static int
take_attachments(struct decode *d, json_t *body, size_t max_size)
{
	struct api_submit *s = d->s;
	json_t *v = json_object_get(body, "attachments"), *x;
	const char *fn, *ct, *b64;
	char field[48];
	struct op_err e;
	size_t i, n;
	int rc = 0;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_array(v)) {
		field_error(d, "attachments", "an array of {\"filename\", "
		    "\"content_type\", \"content_base64\"}");
		return -1;
	}
	n = json_array_size(v);
	if (n > MIME_ATTACH_MAX) {
		field_error(d, "attachments", "too many attachments");
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
			field_error(d, field, "needs \"content_base64\" (a string), and "
			    "optionally \"filename\" and \"content_type\" (strings)");
			rc = -1;
			continue;
		}
		if ((fn != NULL && (strpbrk(fn, "\r\n/\\") != NULL ||
		    strlen(fn) > MIME_FILENAME_MAX)) ||
		    (ct != NULL && (strpbrk(ct, "\r\n") != NULL || strlen(ct) > MIME_CTYPE_MAX))) {
			field_error(d, field, "filename and content_type must be one line; "
			    "a filename has no / or \\");
			rc = -1;
			continue;
		}
		fn = fn != NULL && *fn != '\0' ? fn : NULL;
		ct = ct != NULL && *ct != '\0' ? ct : NULL;
		if ((fn != NULL || ct != NULL) && probe_attachment(d, field, fn, ct) < 0) {
			rc = -1;
			continue;
		}
		if (enc_base64_decode(&s->att_data[i], b64, strlen(b64), &e) < 0) {
			field_error(d, field, e.msg);
			rc = -1;
			continue;
		}
		s->att[i].filename = fn;
		s->att[i].content_type = ct;
		s->att[i].data = s->att_data[i].data != NULL ? s->att_data[i].data : "";
		s->att[i].len = s->att_data[i].len;
	}
	s->m.att = s->att;
	s->m.natt = n;
	return rc;
}

static const char *const known_keys[] = {
	"from", "to", "cc", "bcc", "subject", "text", "html", "headers",
	"attachments", "profile", "reply_to", "metadata", NULL,
};

/* ---- metadata and Idempotency-Key (events for the application) ---- */

#define META_KEYS_MAX 20
#define META_KEY_MAX 40
#define META_VALUE_MAX 500
#define IDEM_KEY_MAX 128

/* The metadata object as compact JSON text (malloc'ed) in *out, NULL if
 * absent; -1 with a field error per bad key ("metadata.KEY"). */
static int
take_metadata(json_t *body, json_t *fields, char **out)
{
	json_t *v = json_object_get(body, "metadata"), *x;
	const char *key;
	char name[META_KEY_MAX + 16];
	int bad = 0;

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v)) {
		json_object_set_new(fields, "metadata", json_string("an object of "
		    "string values"));
		return -1;
	}
	if (json_object_size(v) > META_KEYS_MAX) {
		json_object_set_new(fields, "metadata", json_sprintf("at most %d "
		    "keys", META_KEYS_MAX));
		return -1;
	}
	json_object_foreach(v, key, x) {
		size_t kl = strlen(key);

		if (kl == 0 || kl > META_KEY_MAX) {
			json_object_set_new(fields, "metadata", json_sprintf("keys "
			    "are 1 to %d bytes", META_KEY_MAX));
			bad = 1;
			continue;
		}
		snprintf(name, sizeof(name), "metadata.%s", key);
		if (!json_is_string(x))
			json_object_set_new(fields, name, json_string("a string"));
		else if (json_string_length(x) > META_VALUE_MAX)
			json_object_set_new(fields, name, json_sprintf("at most %d "
			    "bytes", META_VALUE_MAX));
		else
			continue;
		bad = 1;
	}
	if (bad)
		return -1;
	*out = json_dumps(v, JSON_COMPACT);
	return *out != NULL ? 0 : -1;
}

/* 0 if the Idempotency-Key header is absent or well formed. */
static int
idem_key_ok(const char *k)
{
	size_t i;

	if (k == NULL)
		return 1;
	for (i = 0; k[i] != '\0'; i++)
		if (i >= IDEM_KEY_MAX || k[i] < 0x20 || k[i] > 0x7e)
			return 0;
	return i > 0;
}
/* ---- end of metadata and Idempotency-Key ---- */

int
api_submit_decode(json_t *body, size_t att_max, size_t rcpts_max,
    struct api_submit *s, json_t *fields)
{
	struct decode d;
	struct mime_addr *bcc = NULL;
	size_t nbcc = 0, k;
	const char *key;
	json_t *v;
	int bad = 0;

	memset(s, 0, sizeof(*s));
	addr_list_init(&s->rcpts, rcpts_max);
	d.s = s;
	d.fields = fields;
	buf_init(&d.probe, PROBE_MAX);
	json_object_foreach(body, key, v) {
		for (k = 0; known_keys[k] != NULL && strcmp(known_keys[k], key) != 0; k++)
			;
		if (known_keys[k] == NULL) {
			field_error(&d, key, "unknown field");
			bad = 1;
		}
	}
	v = json_object_get(body, "from");
	if (v == NULL || json_is_null(v)) {
		field_error(&d, "from", "the sender address is required");
		bad = 1;
	} else if (take_addr(&d, v, "from", &s->m.from, 0, "From") < 0) {
		bad = 1;
	}
	bad |= take_addr_list(&d, body, "to", &s->to, &s->m.nto, 1, "To") < 0;
	bad |= take_addr_list(&d, body, "cc", &s->cc, &s->m.ncc, 1, "Cc") < 0;
	bad |= take_addr_list(&d, body, "bcc", &bcc, &nbcc, 1, NULL) < 0;
	free(bcc);      /* envelope only: already in s->rcpts */
	bad |= take_addr_list(&d, body, "reply_to", &s->reply_to, &s->m.nreply_to, 0,
	    "Reply-To") < 0;
	s->m.to = s->to;
	s->m.cc = s->cc;
	s->m.reply_to = s->reply_to;
	if (!bad && s->m.nto + s->m.ncc > MIME_ADDRS_MAX) {
		field_error(&d, "cc", "at most 1000 To and Cc addresses in all "
		    "(use bcc for more)");
		bad = 1;
	}
	if (!bad && s->rcpts.n == 0) {
		field_error(&d, "to", "at least one recipient (to, cc or bcc) is required");
		bad = 1;
	}
	if (take_text(&d, body, "subject", &s->m.subject, NULL) < 0)
		bad = 1;
	else if (s->m.subject != NULL && strpbrk(s->m.subject, "\r\n") != NULL) {
		field_error(&d, "subject", "the subject must be one line (no CR or LF)");
		bad = 1;
	} else if (s->m.subject != NULL &&
	    probe_text(&d, "subject", "Subject", s->m.subject, MIME_SUBJECT_MAX) < 0) {
		bad = 1;
	}
	bad |= take_text(&d, body, "text", &s->m.text, &s->m.text_len) < 0;
	bad |= take_text(&d, body, "html", &s->m.html, &s->m.html_len) < 0;
	bad |= take_text(&d, body, "profile", &s->profile, NULL) < 0;
	if (s->profile != NULL && *s->profile == '\0')
		s->profile = NULL;
	bad |= take_headers(&d, body) < 0;
	for (k = 0; k < s->m.nheaders && s->m.nreply_to > 0; k++) {
		if (strcasecmp(s->m.headers[k].name, "Reply-To") == 0) {
			field_error(&d, "reply_to", "Reply-To is given twice: use "
			    "reply_to or headers, not both");
			bad = 1;
		}
	}
	bad |= take_attachments(&d, body, att_max) < 0;
	buf_free(&d.probe);
	return bad ? -1 : 0;
}

void
api_submit_free(struct api_submit *s)
{
	size_t i;

	free(s->to);
	free(s->cc);
	free(s->reply_to);
	for (i = 0; i < s->nowned; i++)
		free(s->owned[i]);
	free(s->owned);
	free(s->hdrs);
	free(s->att);
	for (i = 0; i < s->natt_data; i++)
		buf_free(&s->att_data[i]);
	free(s->att_data);
	addr_list_free(&s->rcpts);
	memset(s, 0, sizeof(*s));
}

void
http_api_messages_post(struct http_req *r)
{
	struct api_submit s;
	struct queue *q = r->srv->deps.queue;
	const struct conf *c = NULL;
	const struct conf_profile *p = NULL;
	size_t i;
	const char **rcpts = NULL;
	struct queue_new qn;
	char id[QUEUE_ID_SIZE];
	struct mime_info info;
	struct op_err e;
	struct buf msg;
	json_t *body, *fields = NULL;
	int bad, replayed = 0;
	char *meta = NULL;
	const char *idem = http_header(r, "Idempotency-Key");

	memset(&s, 0, sizeof(s));
	buf_init(&msg, 0);
	if ((body = http_body_object(r)) == NULL)
		return;
	if (q == NULL) {
		http_reply_error(r, 503, "the queue is not open in this process");
		return;
	}
	c = http_conf_get(r);
	fields = json_object();
	bad = api_submit_decode(body, (size_t)c->server.max_message_size,
	    QUEUE_RCPTS_MAX, &s, fields) < 0;
	if (s.profile != NULL && (p = conf_profile_find(c, s.profile)) == NULL) {
		if (json_object_get(fields, "profile") == NULL)
			json_object_set_new(fields, "profile", json_string("no such profile"));
		bad = 1;
	}
	if (!idem_key_ok(idem)) {
		json_object_set_new(fields, "Idempotency-Key", json_string("1 to 128 "
		    "printable ASCII characters"));
		bad = 1;
	}
	if (bad) {
		take_metadata(body, fields, &meta);
		http_reply_fields(r, 400, "the message has invalid fields", fields);
		fields = NULL;
		goto out;
	}
	if (take_metadata(body, fields, &meta) < 0) {
		http_reply_fields(r, 422, "the metadata has invalid fields", fields);
		fields = NULL;
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
	qn.metadata = meta;
	qn.idem_key = idem;
	qn.replayed = &replayed;
	if (queue_submit(q, &qn, id, &e) < 0) {
		http_reply_error(r, e.kind == ERR_TEMP ? 503 : e.kind == ERR_DATA ? 400 : 500,
		    "the message was not queued: %s", e.msg);
		goto out;
	}
	if (replayed) {
		/* the key named an earlier message: its id, nothing stored */
		struct queue_set set = { 0 };
		const char *state = NULL;

		if (queue_get(q, id, &set, &e) == 0 && set.n == 1)
			state = queue_msg_state_name(set.msgs[0].state);
		log_event(LOG_INFO, "http_submit", "id", id, "replayed", "yes", NULL);
		r->replayed = 1;
		http_reply_json(r, 200, json_pack("{s:s,s:s?,s:b}", "id", id,
		    "state", state, "replayed", 1));
		queue_set_free(&set);
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
	http_reply_json(r, 202, json_pack("{s:s,s:s,s:s,s:b}", "id", id, "state",
	    queue_msg_state_name(qn.state), "message_id", info.message_id,
	    "replayed", 0));
out:
	free(meta);
	if (c != NULL)
		http_conf_put(r, c);
	json_decref(fields);
	free(rcpts);
	buf_free(&msg);
	api_submit_free(&s);
}
