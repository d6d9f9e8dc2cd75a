/*
 * api_providers.c - the provider presets and port detection over HTTP.
 *
 *   GET  /api/providers   the preset table (config/providers.h), for the
 *                         page's Provider choice: {"providers": [...]}
 *   POST /api/detect      {"host": "smtp.example.com", "ports": [587, ...]}
 *                         (ports optional: 587, 465, 2525, 25) ->
 *                         relay/detect.h's report: {"host", "ports": [...],
 *                         "proposal", "summary"}
 *
 * Detection talks to the server for up to a few seconds per port (all at
 * once), so it runs on a job thread (HTTP_R_SLOW).  A host where nothing
 * works is still a 200: "proposal" is null and "summary" says why.
 */
#include "http/http_int.h"

#include <stdlib.h>
#include <string.h>

#include "config/providers.h"
#include "relay/detect.h"
#include "util/log.h"

void
http_api_providers(struct http_req *r)
{
	http_reply_json(r, 200, conf_providers_json());
}

void
http_api_detect(struct http_req *r)
{
	const char *host = NULL;
	unsigned ports[DETECT_PORTS_MAX];
	size_t nports = 0, i;
	struct detect_report *rep;
	struct op_err e;
	json_t *body, *jp, *v;

	if ((body = http_body_object(r)) == NULL)
		return;
	if (http_jget_str(body, "host", &host) < 0 || host == NULL ||
	    *host == '\0') {
		http_reply_fields(r, 400, "send {\"host\": \"smtp.example.com\"}",
		    json_pack("{s:s}", "host", "the SMTP server's host name"));
		return;
	}
	jp = json_object_get(body, "ports");
	if (jp != NULL && !json_is_null(jp)) {
		if (!json_is_array(jp) || json_array_size(jp) == 0 ||
		    json_array_size(jp) > DETECT_PORTS_MAX) {
			http_reply_fields(r, 400, "ports is a list of 1 to 8 ports",
			    json_pack("{s:s}", "ports", "a list of 1 to 8 ports"));
			return;
		}
		json_array_foreach(jp, i, v) {
			json_int_t n = json_is_integer(v) ? json_integer_value(v) : 0;

			if (n < 1 || n > 65535) {
				http_reply_fields(r, 400, "a port is 1 to 65535",
				    json_pack("{s:s}", "ports", "each port is a number "
				    "from 1 to 65535"));
				return;
			}
			ports[nports++] = (unsigned)n;
		}
	}
	rep = mem_alloc(sizeof(*rep));
	if (detect_run(host, nports ? ports : NULL, nports, NULL, rep, &e) < 0) {
		http_reply_fields(r, 400, e.msg, json_pack("{s:s}", "host", e.msg));
		free(rep);
		return;
	}
	log_event(LOG_INFO, "http_detect", "host", rep->host, "proposal",
	    rep->best >= 0 ? rep->proposal : "none", NULL);
	http_reply_json(r, 200, detect_to_json(rep));
	free(rep);
}
