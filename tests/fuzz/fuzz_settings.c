/*
 * fuzz_settings.c - the settings the API writes into outpost.conf:
 * PUT /api/profiles/{name} (api_profile_decode()) and PUT /api/redirect
 * (api_redirect_decode()), both in http/api_profiles.c, decoded as the
 * handlers decode them and then applied to a small document with the
 * in-place editor (config/conf_edit.h), as the handlers apply them.
 *
 * Input: a request body (JSON), decoded as both requests.  Checked:
 *   - a refusal names its fields, each a key of the body, "name" or
 *     "reports[i]";
 *   - an accepted profile edit sets only profile keys (never
 *     password_file or password_command), each value one the loader takes
 *     (conf_check_value()); applied to the document, the loader's lexer
 *     reads exactly the sections there were (the profile renamed if asked),
 *     every key set reads back once with exactly its value, every key
 *     unset is gone, and nothing else changed: no input adds a line,
 *     a key or a section (settings-file injection);
 *   - an accepted redirect edit lists each report address once, each a
 *     valid header argument; applied, each reads back as a [report ADDR]
 *     header naming exactly that address, with the enabled value asked.
 */
#include "fuzz.h"

#include <jansson.h>
#include <strings.h>

#include "config/conf.h"
#include "config/conf_edit.h"
#include "config/ini.h"
#include "http/api_decode.h"
#include "http/http_int.h"
#include "util/buf.h"

#define NAME "primary"

static const char base_text[] =
	"; outpost.conf\n"
	"[server]\n"
	"smtp_listen = 127.0.0.1:2525\n"
	"\n"
	"[profile " NAME "]\n"
	"host = smtp.example.com\n"
	"password = \"old; secret\"\n"
	"timeout = 30s\n"
	"\n"
	"[redirect]\n"
	"enabled = no\n";

/* What the lexer reads in a document: (section, key, value) triples and
 * the section headers, in order. */
struct entry {
	char *section;          /* "profile primary", "server" */
	char *key;              /* NULL for a header */
	char *value;
};

struct lexed {
	struct entry v[512];
	size_t n;
};

static void
lex(const struct buf *t, struct lexed *out)
{
	size_t pos = 0;
	char cur[512] = "";

	out->n = 0;
	while (pos < t->len) {
		const char *p = t->data + pos, *nl = memchr(p, '\n', t->len - pos);
		size_t len = nl != NULL ? (size_t)(nl - p) : t->len - pos;
		struct ini_line l;

		if (ini_parse_line(p, len, &l) != 0)
			fuzz_fail("the editor wrote a line the loader refuses: %.*s",
			    (int)len, p);
		if (l.kind == INI_SECTION || l.kind == INI_KEY) {
			fuzz_assert(out->n < sizeof(out->v) / sizeof(out->v[0]));
			if (l.kind == INI_SECTION) {
				snprintf(cur, sizeof(cur), "%s%s%s", l.name,
				    l.arg != NULL ? " " : "", l.arg != NULL ? l.arg : "");
				out->v[out->n].section = strdup(cur);
				out->v[out->n].key = NULL;
				out->v[out->n].value = NULL;
			} else {
				out->v[out->n].section = strdup(cur);
				out->v[out->n].key = strdup(l.name);
				out->v[out->n].value = strdup(l.arg != NULL ? l.arg : "");
			}
			out->n++;
		}
		ini_line_free(&l);
		pos += len + (nl != NULL ? 1 : 0);
	}
}

static void
lexed_free(struct lexed *x)
{
	size_t i;

	for (i = 0; i < x->n; i++) {
		free(x->v[i].section);
		free(x->v[i].key);
		free(x->v[i].value);
	}
	x->n = 0;
}

/* How many times key is in section; the last value in *val. */
static int
count(const struct lexed *x, const char *section, const char *key,
    const char **val)
{
	size_t i;
	int n = 0;

	*val = NULL;
	for (i = 0; i < x->n; i++) {
		if (strcmp(x->v[i].section, section) != 0)
			continue;
		if ((key == NULL && x->v[i].key == NULL) ||
		    (key != NULL && x->v[i].key != NULL && strcmp(x->v[i].key, key) == 0)) {
			n++;
			*val = x->v[i].value;
		}
	}
	return n;
}

static int
field_of_body(json_t *body, const char *field)
{
	const char *key;
	json_t *v;
	size_t n;

	if (strcmp(field, "name") == 0)
		return 1;
	json_object_foreach(body, key, v) {
		n = strlen(key);
		if (strncmp(field, key, n) == 0 &&
		    (field[n] == '\0' || field[n] == '[' || field[n] == '.'))
			return 1;
	}
	return 0;
}

static void
check_refusal(json_t *body, json_t *fields)
{
	const char *key;
	json_t *v;

	fuzz_assert(json_object_size(fields) > 0);
	json_object_foreach(fields, key, v) {
		fuzz_assert(json_is_string(v) && json_string_length(v) > 0);
		if (!field_of_body(body, key))
			fuzz_fail("refusal names '%s', not a field of the request", key);
	}
}

static int
edited(const struct api_profile_edit *pe, const char *key)
{
	size_t i;

	for (i = 0; i < pe->n; i++)
		if (strcmp(pe->keys[i], key) == 0)
			return 1;
	return 0;
}

static void
check_profile(json_t *body, const struct api_profile_edit *pe)
{
	struct conf_doc *doc = NULL;
	struct lexed before, after;
	struct buf text;
	struct op_err e;
	char section[128];
	const char *val, *was;
	size_t i;
	int applied = 1;

	for (i = 0; i < pe->n; i++) {
		fuzz_assert(json_object_get(body, pe->keys[i]) != NULL);
		fuzz_assert(strcmp(pe->keys[i], "password_file") != 0 &&
		    strcmp(pe->keys[i], "password_command") != 0 &&
		    strcmp(pe->keys[i], "name") != 0);
		if (pe->vals[i] != NULL && conf_check_value("profile", pe->keys[i],
		    pe->vals[i], NULL) != 0)
			fuzz_fail("accepted %s = '%s', which the loader refuses",
			    pe->keys[i], pe->vals[i]);
	}
	fuzz_assert(pe->newname == NULL || (strcmp(pe->newname, NAME) != 0 &&
	    conf_check_section("profile", pe->newname, NULL) == 0));

	buf_init(&text, CONF_FILE_MAX + 1);
	buf_append(&text, base_text, sizeof(base_text) - 1, NULL);
	lex(&text, &before);
	fuzz_assert(conf_doc_parse(base_text, sizeof(base_text) - 1, &doc, NULL) == 0);
	snprintf(section, sizeof(section), "profile %s", NAME);
	if (pe->newname != NULL) {
		fuzz_assert(conf_edit_rename_profile(doc, NAME, pe->newname, &e) == 0);
		snprintf(section, sizeof(section), "profile %s", pe->newname);
	}
	/* as the handler does; an edit the editor refuses is a 422 naming
	 * the key, and the file is not written */
	for (i = 0; i < pe->n && applied; i++) {
		if ((pe->vals[i] != NULL ? conf_edit_set(doc, section, pe->keys[i],
		    pe->vals[i], &e) : conf_edit_unset(doc, section, pe->keys[i],
		    NULL, &e)) != 0)
			applied = 0;
	}
	if (!applied)
		goto out;
	buf_reset(&text);
	fuzz_assert(conf_doc_text(doc, &text, &e) == 0);
	lex(&text, &after);

	/* the same sections, in order */
	{
		size_t nb = 0, na = 0;

		for (i = 0; i < before.n; i++)
			nb += before.v[i].key == NULL;
		for (i = 0; i < after.n; i++)
			na += after.v[i].key == NULL;
		fuzz_assert(nb == na);
		fuzz_assert(count(&after, "server", NULL, &val) == 1);
		fuzz_assert(count(&after, "redirect", NULL, &val) == 1);
		fuzz_assert(count(&after, section, NULL, &val) == 1);
	}
	/* the profile's keys: as set, gone when unset, else as they were */
	for (i = 0; i < pe->n; i++) {
		int n = count(&after, section, pe->keys[i], &val);

		if (pe->vals[i] != NULL) {
			if (n != 1 || strcmp(val, pe->vals[i]) != 0)
				fuzz_fail("%s = '%s' reads back %d times as '%s'",
				    pe->keys[i], pe->vals[i], n, val != NULL ? val : "");
		} else {
			fuzz_assert(n == 0);
		}
	}
	for (i = 0; i < after.n; i++) {
		const struct entry *x = &after.v[i];
		char old[128];

		if (x->key == NULL)
			continue;
		if (strcmp(x->section, section) == 0) {
			if (edited(pe, x->key))
				continue;
			snprintf(old, sizeof(old), "profile %s", NAME);
		} else {
			snprintf(old, sizeof(old), "%s", x->section);
		}
		if (count(&before, old, x->key, &was) != 1 || strcmp(was, x->value) != 0)
			fuzz_fail("[%s] %s = '%s' appeared", x->section, x->key, x->value);
	}
	for (i = 0; i < before.n; i++) {
		const struct entry *x = &before.v[i];
		const char *sec = x->section;

		if (x->key == NULL)
			continue;
		if (strncmp(sec, "profile ", 8) == 0) {
			if (edited(pe, x->key))
				continue;
			sec = section;
		}
		fuzz_assert(count(&after, sec, x->key, &val) == 1);
	}
	lexed_free(&after);
out:
	lexed_free(&before);
	conf_doc_free(doc);
	buf_free(&text);
}

static void
check_redirect(json_t *enabled, json_t *reports, size_t nenabled)
{
	struct conf_doc *doc = NULL;
	struct lexed after;
	struct buf text;
	struct op_err e;
	char section[CONF_ADDRESS_MAX + 16];
	const char *val, *email;
	size_t i, k, want = 0, nsections;
	json_t *x;

	fuzz_assert(enabled == NULL || json_is_boolean(enabled));
	fuzz_assert(reports == NULL || json_is_array(reports));
	fuzz_assert(conf_doc_parse(base_text, sizeof(base_text) - 1, &doc, NULL) == 0);
	if (enabled != NULL)
		fuzz_assert(conf_edit_set(doc, "redirect", "enabled",
		    json_is_true(enabled) ? "yes" : "no", &e) == 0);
	json_array_foreach(reports, i, x) {
		json_t *xe = json_object_get(x, "enabled");

		email = json_string_value(json_object_get(x, "email"));
		fuzz_assert(email != NULL);
		fuzz_assert(conf_check_section("report", email, NULL) == 0);
		for (k = 0; k < i; k++)
			fuzz_assert(strcasecmp(email, json_string_value(json_object_get(
			    json_array_get(reports, k), "email"))) != 0);
		want += xe == NULL || json_is_true(xe);
		snprintf(section, sizeof(section), "report %s", email);
		if (conf_edit_set(doc, section, "enabled",
		    xe == NULL || json_is_true(xe) ? "yes" : "no", &e) != 0)
			fuzz_fail("the editor refuses report %s: %s", email, e.msg);
	}
	fuzz_assert(want == nenabled);

	buf_init(&text, CONF_FILE_MAX + 1);
	fuzz_assert(conf_doc_text(doc, &text, &e) == 0);
	lex(&text, &after);
	nsections = 0;
	for (i = 0; i < after.n; i++)
		nsections += after.v[i].key == NULL;
	fuzz_assert(nsections == 3 + (reports != NULL ? json_array_size(reports) : 0));
	json_array_foreach(reports, i, x) {
		json_t *xe = json_object_get(x, "enabled");

		snprintf(section, sizeof(section), "report %s",
		    json_string_value(json_object_get(x, "email")));
		if (count(&after, section, NULL, &val) != 1)
			fuzz_fail("[%s] does not read back as one header", section);
		fuzz_assert(count(&after, section, "enabled", &val) == 1);
		fuzz_assert(strcmp(val, xe == NULL || json_is_true(xe) ? "yes" : "no") == 0);
	}
	fuzz_assert(count(&after, "redirect", "enabled", &val) == 1);
	lexed_free(&after);
	buf_free(&text);
	conf_doc_free(doc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_req r;
	struct api_profile_edit pe;
	json_t *body, *fields, *en, *reports;
	size_t nenabled;

	if (size > HTTP_BODY_MAX)
		return 0;
	memset(&r, 0, sizeof(r));
	buf_init(&r.body, HTTP_BODY_MAX);
	buf_append(&r.body, data, size, NULL);
	body = http_body_object(&r);
	if (body == NULL)
		goto out;

	fields = json_object();
	if (api_profile_decode(body, NAME, &pe, fields) < 0) {
		check_refusal(body, fields);
	} else {
		fuzz_assert(json_object_size(fields) == 0);
		check_profile(body, &pe);
	}
	api_profile_edit_free(&pe);
	json_decref(fields);

	fields = json_object();
	if (api_redirect_decode(body, &en, &reports, &nenabled, fields) < 0) {
		check_refusal(body, fields);
	} else {
		fuzz_assert(json_object_size(fields) == 0);
		check_redirect(en, reports, nenabled);
	}
	json_decref(fields);
out:
	json_decref(r.json);
	http_reply_clear(&r);
	buf_free(&r.body);
	return 0;
}
