/*
 * msg_json.h - a queued message as JSON: the one shape that GET
 * /api/messages[/ID] and `outpost queue list|show --json` both print.
 *
 * Every function returns a new reference the caller owns (json_decref).
 * Times are ISO 8601 UTC strings, null for "never"; absent texts are null.
 */
#ifndef OUTPOST_HTTP_MSG_JSON_H
#define OUTPOST_HTTP_MSG_JSON_H

#include <jansson.h>
#include <stdint.h>

#include "queue/queue.h"

/* A string, or null for NULL (or text Jansson refuses: invalid UTF-8). */
json_t *msg_json_str(const char *s);
/* An ISO 8601 time, or null for t <= 0. */
json_t *msg_json_time(int64_t t);
/* The summary of a list entry: id, state, from, recipients_total, size,
 * attempts, created, updated, next_attempt, profile, profile_used,
 * last_error. */
json_t *msg_json_summary(const struct queue_msg *m);
/* The whole message of a queue_get() set: the summary plus since, subject
 * (the reference is stolen; NULL = null), recipients (address, state, code,
 * enhanced, reply, attempts, updated) and events (at, kind, text). */
json_t *msg_json_detail(const struct queue_set *set, json_t *subject);

#endif
