/*
 * api_decode.h - the API's write requests decoded and checked field by
 * field, without acting on them: what POST /api/messages (api_submit.c),
 * PUT /api/profiles/{name} and PUT /api/redirect (api_profiles.c) do
 * before they touch the queue or the settings file.  Apart from the
 * handlers so that the fuzz targets (tests/fuzz/fuzz_submit.c,
 * fuzz_settings.c) can drive the decoding alone.
 *
 * Each decoder takes the request's JSON object (http_body_object()) and a
 * JSON object `fields` it adds {"field": "why"} to for every bad field, so
 * a refusal always names the field: "to[1]", "headers.X-Tag",
 * "attachments[0]", "reports[2]", or a top-level key.  It returns 0 when
 * it added nothing, -1 otherwise.  Strings in the results point into the
 * body, which must outlive them, unless said otherwise.
 */
#ifndef OUTPOST_HTTP_API_DECODE_H
#define OUTPOST_HTTP_API_DECODE_H

#include <jansson.h>
#include <stddef.h>

#include "mail/addr.h"
#include "mail/mime.h"
#include "util/buf.h"

/* ---- POST /api/messages ---- */

/*
 * A message to compose.  m is mime_compose()'s input except m.date and
 * m.msgid_domain (the caller's); rcpts is the envelope: the To, Cc and
 * Bcc addresses, normalised and unique (Bcc only ever reaches it).
 * An address is "user@example.org", "Name <user@example.org>" (what
 * addr_parse_display() takes) or {"email": "user@example.org", "name":
 * "Name"}; "reply_to" (one or a list) becomes the Reply-To field.
 * Everything mime_compose() checks per field is checked here, so a
 * decoded message composes unless it is too big for the caller's buffer.
 */
struct api_submit {
	struct mime_msg m;
	struct addr_list rcpts;
	const char *profile;            /* asked for, or NULL (also for "");
	                                 * whether it exists is the caller's
	                                 * to check */
	/* storage behind m */
	struct mime_addr *to, *cc, *reply_to;
	char **owned;                   /* addresses and names taken apart
	                                 * from "Name <addr>" strings */
	size_t nowned, capowned;
	struct mime_header *hdrs;
	struct mime_attachment *att;
	struct buf *att_data;
	size_t natt_data;
};

/* Decode body into *s (initialised here; free it with api_submit_free()
 * whatever the result).  att_max bounds each attachment's decoded size;
 * rcpts_max the envelope (0: no bound). */
int api_submit_decode(json_t *body, size_t att_max, size_t rcpts_max,
    struct api_submit *s, json_t *fields);
void api_submit_free(struct api_submit *s);

/* ---- PUT /api/profiles/{name} ---- */

#define API_PROFILE_KEYS_MAX 32

/*
 * What the PUT changes in [profile NAME], checked the way the loader
 * checks each value (conf_check_value()); checks across keys are the
 * loader's, on the edited file.  keys[i] is set to vals[i], the text as
 * the file writes it (malloc'd, wiped by api_profile_edit_free()), or
 * unset (back to the default) when vals[i] is NULL; "password": "" is an
 * unset too.  host, port and security point into vals when the PUT sets
 * them.  password_file and password_command are refused.
 */
struct api_profile_edit {
	const char *newname;            /* "name" when it renames, else NULL */
	size_t n;
	const char *keys[API_PROFILE_KEYS_MAX + 1];     /* NULL-terminated */
	char *vals[API_PROFILE_KEYS_MAX];
	const char *host, *port, *security;
	int has_password;               /* a new password is set */
	/* provider and region (presets): touched by the PUT (set or unset),
	 * and the new value (NULL when unset) */
	int provider_touched, region_touched;
	const char *provider, *region;
};

/* name is the {name} of the path.  *pe is initialised here; free it with
 * api_profile_edit_free() whatever the result. */
int api_profile_decode(json_t *body, const char *name,
    struct api_profile_edit *pe, json_t *fields);
void api_profile_edit_free(struct api_profile_edit *pe);

/* ---- PUT /api/redirect ---- */

/*
 * {"enabled": bool, "reports": [{"email": ..., "enabled": bool}]}: either
 * may be absent (*enabled / *reports NULL: unchanged).  Each accepted
 * report's "email" is a valid [report ADDRESS] header argument
 * (conf_check_section()), listed once (case-insensitively); *nenabled
 * counts the reports that will be enabled.
 */
int api_redirect_decode(json_t *body, json_t **enabled, json_t **reports,
    size_t *nenabled, json_t *fields);

#endif
