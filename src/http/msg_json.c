#include "http/msg_json.h"

#include "util/net.h"

json_t *
msg_json_str(const char *s)
{
	json_t *j;

	if (s == NULL)
		return json_null();
	j = json_string(s);
	return j != NULL ? j : json_null();
}

json_t *
msg_json_time(int64_t t)
{
	char s[32];

	if (t <= 0)
		return json_null();
	clock_iso8601(t, s, sizeof(s));
	return json_string(s);
}

static json_t *
text_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? msg_json_str(s) : json_null();
}

json_t *
msg_json_summary(const struct queue_msg *m)
{
	json_t *j = json_object();

	json_object_set_new(j, "id", json_string(m->id));
	json_object_set_new(j, "state", json_string(queue_msg_state_name(m->state)));
	json_object_set_new(j, "from", msg_json_str(m->sender));
	json_object_set_new(j, "recipients_total", json_integer((json_int_t)m->nrcpts_total));
	json_object_set_new(j, "size", json_integer((json_int_t)m->size));
	json_object_set_new(j, "attempts", json_integer(m->attempts));
	json_object_set_new(j, "created", msg_json_time(m->created));
	json_object_set_new(j, "updated", msg_json_time(m->updated));
	json_object_set_new(j, "next_attempt",
	    m->state == QUEUE_MSG_QUEUED || m->state == QUEUE_MSG_DEFERRED ?
	    msg_json_time(m->next_attempt) : json_null());
	json_object_set_new(j, "profile", msg_json_str(m->profile));
	json_object_set_new(j, "profile_used", msg_json_str(m->profile_used));
	json_object_set_new(j, "last_error", msg_json_str(m->last_error));
	/* the node that claimed or delivered it (PostgreSQL); null: one node */
	json_object_set_new(j, "node", msg_json_str(m->node));
	/* events for the application: the metadata as submitted ({} if
	 * none); in lists, the first recipient and the latest reply */
	{
		json_t *meta = m->metadata != NULL ?
		    json_loads(m->metadata, 0, NULL) : NULL;

		json_object_set_new(j, "metadata", json_is_object(meta) ? meta :
		    (json_decref(meta), json_object()));
	}
	if (m->first_rcpt != NULL)
		json_object_set_new(j, "first_recipient", msg_json_str(m->first_rcpt));
	json_object_set_new(j, "last_reply", msg_json_str(m->last_reply));
	return j;
}

json_t *
msg_json_detail(const struct queue_set *set, json_t *subject)
{
	const struct queue_msg *m = &set->msgs[0];
	json_t *j = msg_json_summary(m), *rc = json_array(), *ev = json_array();
	size_t i;

	json_object_set_new(j, "since", msg_json_time(m->since));
	json_object_set_new(j, "subject", subject != NULL ? subject : json_null());
	for (i = 0; i < m->nrcpts; i++) {
		const struct queue_rcpt *x = &m->rcpts[i];
		json_t *o = json_object();

		json_object_set_new(o, "address", msg_json_str(x->address));
		json_object_set_new(o, "state", json_string(queue_rcpt_state_name(x->state)));
		json_object_set_new(o, "code", x->code != 0 ? json_integer(x->code) : json_null());
		json_object_set_new(o, "enhanced", text_or_null(x->enhanced));
		json_object_set_new(o, "reply", text_or_null(x->reply));
		json_object_set_new(o, "attempts", json_integer(x->attempts));
		json_object_set_new(o, "updated", msg_json_time(x->updated));
		json_object_set_new(o, "node", msg_json_str(x->node));
		json_array_append_new(rc, o);
	}
	for (i = 0; i < set->nevents; i++) {
		json_t *o = json_object();

		json_object_set_new(o, "at", msg_json_time(set->events[i].at));
		json_object_set_new(o, "kind", msg_json_str(set->events[i].kind));
		json_object_set_new(o, "text", msg_json_str(set->events[i].text));
		json_array_append_new(ev, o);
	}
	json_object_set_new(j, "recipients", rc);
	json_object_set_new(j, "events", ev);
	return j;
}
