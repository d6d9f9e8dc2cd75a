/*
 * fuzz_json.c - decoding an HTTP API request body (http/json.c):
 * http_body_object(), the one function every JSON endpoint calls first
 * (UTF-8 and depth pre-check, then Jansson with duplicate keys refused).
 * What the endpoints then make of the object is fuzzed by fuzz_submit
 * (POST /api/messages) and fuzz_settings (PUT of profiles and redirect).
 *
 * Input: a request body.  Checked: either a JSON object comes back and no
 * reply is set, or no object and a 400 reply whose body is itself valid
 * JSON {"error": "..."} with printable text; an accepted body passed the
 * pre-check, is valid UTF-8, and re-serialises to text that decodes to an
 * equal value.
 */
#include "fuzz.h"

#include <jansson.h>

#include "http/http_int.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_req r;
	json_t *j, *reply, *again;
	json_error_t je;
	char *text;

	if (size > HTTP_BODY_MAX)
		return 0;
	memset(&r, 0, sizeof(r));
	buf_init(&r.body, HTTP_BODY_MAX);
	buf_append(&r.body, data, size, NULL);
	j = http_body_object(&r);
	if (j != NULL) {
		fuzz_assert(json_is_object(j) && r.status == 0);
		fuzz_assert(http_json_precheck((const char *)data, size,
		    HTTP_JSON_DEPTH_MAX, NULL) == 0);
		fuzz_assert(http_body_object(&r) == j);     /* cached */
		text = json_dumps(j, JSON_COMPACT);
		fuzz_assert(text != NULL);
		again = json_loads(text, JSON_REJECT_DUPLICATES, &je);
		fuzz_assert(again != NULL && json_equal(again, j));
		json_decref(again);
		free(text);
	} else {
		fuzz_assert(r.status == 400 && r.out != NULL);
		reply = json_loadb(r.out, r.out_len, 0, &je);
		fuzz_assert(reply != NULL);
		fuzz_assert(json_is_string(json_object_get(reply, "error")));
		json_decref(reply);
	}
	json_decref(r.json);
	http_reply_clear(&r);
	buf_free(&r.body);
	return 0;
}
