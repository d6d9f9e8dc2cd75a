/*
 * queue.c - the store's front: state names, ids, result sets, argument
 * checks, and the queue_* functions that call the backend's operations.
 */
#include "queue/queue.h"
#include "queue/queue_impl.h"
#include "queue/queue_commit.h"
#include "queue/queue_pg.h"
#include "queue/queue_sqlite.h"

#include <errno.h>
#include <limits.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "util/buf.h"
#include "util/net.h"

/* ---- States ---- */

static const char *const msg_state_names[QUEUE_MSG_NSTATES] = {
	"queued", "sending", "deferred", "sent", "failed", "held",
};

static const char *const rcpt_state_names[QUEUE_RCPT_NSTATES] = {
	"pending", "sent", "deferred", "failed",
};

const char *
queue_msg_state_name(int state)
{
	if (state < 0 || state >= QUEUE_MSG_NSTATES)
		return NULL;
	return msg_state_names[state];
}

const char *
queue_rcpt_state_name(int state)
{
	if (state < 0 || state >= QUEUE_RCPT_NSTATES)
		return NULL;
	return rcpt_state_names[state];
}

int
queue_msg_state_parse(const char *s)
{
	int i;

	for (i = 0; s != NULL && i < QUEUE_MSG_NSTATES; i++)
		if (strcmp(s, msg_state_names[i]) == 0)
			return i;
	return -1;
}

int
queue_rcpt_state_parse(const char *s)
{
	int i;

	for (i = 0; s != NULL && i < QUEUE_RCPT_NSTATES; i++)
		if (strcmp(s, rcpt_state_names[i]) == 0)
			return i;
	return -1;
}

/* ---- Ids ---- */

/* Crockford's base32 alphabet in lowercase: no i, l, o, u; in ASCII order,
 * so ids compare like the numbers they encode. */
static const char id_alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";

void
queue_id_make(char id[QUEUE_ID_SIZE], int64_t ms, const unsigned char rnd[5])
{
	uint64_t t = (uint64_t)ms;
	uint64_t r = 0;
	int i;

	/* 9 characters = 45 bits of milliseconds (until the year 3084) */
	for (i = 8; i >= 0; i--) {
		id[i] = id_alphabet[t & 31];
		t >>= 5;
	}
	/* 7 characters = 35 random bits */
	for (i = 0; i < 5; i++)
		r = (r << 8) | rnd[i];
	for (i = QUEUE_ID_LEN - 1; i >= 9; i--) {
		id[i] = id_alphabet[r & 31];
		r >>= 5;
	}
	id[QUEUE_ID_LEN] = '\0';
}

int
queue_id_valid(const char *s)
{
	size_t i;

	if (s == NULL)
		return 0;
	for (i = 0; i < QUEUE_ID_LEN; i++)
		if (s[i] == '\0' || strchr(id_alphabet, s[i]) == NULL)
			return 0;
	return s[QUEUE_ID_LEN] == '\0';
}

int
queue_id_check(const char *id, struct op_err *e)
{
	char shown[QUEUE_ID_LEN + 8];
	size_t i, n = 0;

	if (queue_id_valid(id))
		return 0;
	if (id == NULL)
		return err_set(e, ERR_NOINPUT, "no message id given");
	/* the id came from a user: show a bounded, printable prefix */
	for (i = 0; id[i] != '\0' && n + 1 < sizeof(shown); i++)
		shown[n++] = (id[i] > 0x20 && id[i] < 0x7f) ? id[i] : '?';
	shown[n] = '\0';
	return err_set(e, ERR_NOINPUT, "no message with id \"%s\" (an id is %d "
	    "characters of 0-9 and a-z)", shown, QUEUE_ID_LEN);
}

/* ---- Lists ---- */

int
queue_list_searches(const struct queue_list_opts *o)
{
	return o != NULL && (o->to != NULL || o->from != NULL ||
	    o->subject != NULL || o->since > 0 || o->until > 0);
}

int
queue_list_check(const struct queue_list_opts *o, size_t *limit, int *state,
    struct op_err *e)
{
	*limit = o != NULL && o->limit > 0 ? o->limit : 100;
	if (*limit > QUEUE_LIST_MAX)
		*limit = QUEUE_LIST_MAX;
	*state = o != NULL ? o->state : -1;
	if (*state != -1 && queue_msg_state_name(*state) == NULL)
		return err_set(e, ERR_DATA, "unknown message state %d", *state);
	if (o == NULL)
		return 0;
	if (o->before != NULL && queue_id_check(o->before, e) < 0)
		return -1;
	if ((o->to != NULL && strlen(o->to) >= QUEUE_ADDR_MAX) ||
	    (o->from != NULL && strlen(o->from) >= QUEUE_ADDR_MAX))
		return err_set(e, ERR_DATA, "address longer than %d bytes",
		    QUEUE_ADDR_MAX - 1);
	if (o->subject != NULL && strlen(o->subject) >= QUEUE_SUBJECT_MAX)
		return err_set(e, ERR_DATA, "subject search longer than %d bytes",
		    QUEUE_SUBJECT_MAX - 1);
	return 0;
}

static int
outbox_cmp(const void *a, const void *b)
{
	const struct queue_outbox_ev *x = a, *y = b;

	return x->oid < y->oid ? -1 : x->oid > y->oid;
}

void
queue_set_sort_outbox(struct queue_set *s)
{
	if (s->noutbox > 1)
		qsort(s->outbox, s->noutbox, sizeof(*s->outbox), outbox_cmp);
}

/* ---- Submissions ---- */

static int
text_bad(const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i >= max || c < 0x20 || c == 0x7f)
			return 1;
	}
	return 0;
}

int
queue_new_check(const struct queue_new *m, struct op_err *e)
{
	size_t i;

	if (m == NULL || m->sender == NULL)
		return err_set(e, ERR_DATA, "no sender given");
	if (strlen(m->sender) >= QUEUE_ADDR_MAX || text_bad(m->sender, QUEUE_ADDR_MAX))
		return err_set(e, ERR_DATA, "sender address is longer than %d bytes "
		    "or holds control characters (RFC 5321 4.5.3.1.3)", QUEUE_ADDR_MAX - 1);
	if (m->nrcpts == 0 || m->rcpts == NULL)
		return err_set(e, ERR_DATA, "no recipients given");
	if (m->nrcpts > QUEUE_RCPTS_MAX)
		return err_set(e, ERR_DATA, "too many recipients: %zu (at most %d "
		    "per message)", m->nrcpts, QUEUE_RCPTS_MAX);
	for (i = 0; i < m->nrcpts; i++) {
		const char *r = m->rcpts[i];

		if (r == NULL || r[0] == '\0')
			return err_set(e, ERR_DATA, "recipient %zu is empty", i + 1);
		if (strlen(r) >= QUEUE_ADDR_MAX || text_bad(r, QUEUE_ADDR_MAX))
			return err_set(e, ERR_DATA, "recipient %zu is longer than %d "
			    "bytes or holds control characters (RFC 5321 "
			    "4.5.3.1.3)", i + 1, QUEUE_ADDR_MAX - 1);
	}
	if (m->len > QUEUE_BODY_MAX)
		return err_set(e, ERR_DATA, "message of %zu bytes is larger than "
		    "the store's limit of %u bytes", m->len, QUEUE_BODY_MAX);
	if (m->len > 0 && m->body == NULL)
		return err_set(e, ERR_DATA, "message body missing");
	if (m->state != QUEUE_MSG_QUEUED && m->state != QUEUE_MSG_HELD &&
	    m->state != QUEUE_MSG_SENDING)
		return err_set(e, ERR_DATA, "a new message is queued, held or sending, "
		    "not %s", queue_msg_state_name(m->state) != NULL ?
		    queue_msg_state_name(m->state) : "an unknown state");
	if (m->profile != NULL && (m->profile[0] == '\0' ||
	    strlen(m->profile) >= QUEUE_PROFILE_MAX || text_bad(m->profile, QUEUE_PROFILE_MAX)))
		return err_set(e, ERR_DATA, "profile name is empty, longer than %d "
		    "bytes or holds control characters", QUEUE_PROFILE_MAX - 1);
	/* events for the application */
	if (m->metadata != NULL && strlen(m->metadata) >= QUEUE_META_MAX)
		return err_set(e, ERR_DATA, "metadata longer than %d bytes",
		    QUEUE_META_MAX - 1);
	if (m->idem_key != NULL && (m->idem_key[0] == '\0' ||
	    strlen(m->idem_key) >= QUEUE_IDEM_MAX ||
	    text_bad(m->idem_key, QUEUE_IDEM_MAX)))
		return err_set(e, ERR_DATA, "Idempotency-Key is empty, longer than "
		    "%d bytes or holds control characters", QUEUE_IDEM_MAX - 1);
	return 0;
}

int
queue_outcome_check(const struct queue_outcome *o, struct op_err *e)
{
	size_t i;

	if (o->nresults > QUEUE_RCPTS_MAX || (o->nresults > 0 && o->results == NULL))
		return err_set(e, ERR_DATA, "bad list of results");
	for (i = 0; i < o->nresults; i++) {
		const struct queue_rcpt_result *r = &o->results[i];

		if (r->state != QUEUE_RCPT_SENT && r->state != QUEUE_RCPT_DEFERRED &&
		    r->state != QUEUE_RCPT_FAILED)
			return err_set(e, ERR_DATA, "a result is sent, deferred or "
			    "failed (recipient %u)", r->idx);
		if (r->code != 0 && (r->code < 200 || r->code > 599))
			return err_set(e, ERR_DATA, "SMTP code %d out of range "
			    "(recipient %u)", r->code, r->idx);
		if (r->enhanced != NULL && strlen(r->enhanced) >= QUEUE_ENHANCED_MAX)
			return err_set(e, ERR_DATA, "enhanced status code longer "
			    "than %d bytes (RFC 3463 section 2)", QUEUE_ENHANCED_MAX - 1);
	}
	for (i = 0; i < o->nevents; i++)
		if (o->events[i].kind == NULL || o->events[i].kind[0] == '\0')
			return err_set(e, ERR_DATA, "an event without a kind");
	if (o->profile_used != NULL && (o->profile_used[0] == '\0' ||
	    strlen(o->profile_used) >= QUEUE_PROFILE_MAX))
		return err_set(e, ERR_DATA, "profile name empty or longer than %d "
		    "bytes", QUEUE_PROFILE_MAX - 1);
	return 0;
}

/* ---- Results and events ---- */

void
queue_format_result(char *dst, size_t dstsz, int code, const char *enh,
    const char *reply)
{
	if (enh == NULL)
		enh = "";
	if (reply == NULL)
		reply = "";
	if (code == 0)
		snprintf(dst, dstsz, "%.*s", QUEUE_REPLY_MAX, reply);
	else
		snprintf(dst, dstsz, "%d%s%s %.*s", code, enh[0] ? " " : "",
		    enh, QUEUE_REPLY_MAX, reply);
}

void
queue_format_event(char *dst, size_t dstsz, const char *addr,
    const char *profile, const char *result)
{
	if (profile != NULL)
		snprintf(dst, dstsz, "<%.*s> via %.*s: %s", QUEUE_ADDR_MAX, addr,
		    QUEUE_PROFILE_MAX, profile, result);
	else
		snprintf(dst, dstsz, "<%.*s>: %s", QUEUE_ADDR_MAX, addr, result);
}

int
queue_state_derive(uint64_t open_n, uint64_t sent_n, uint64_t failed_n,
    int *well)
{
	if (well != NULL)
		*well = open_n == 0 && failed_n == 0 && sent_n > 0;
	if (open_n > 0)
		return QUEUE_MSG_DEFERRED;
	if (sent_n > 0)
		return QUEUE_MSG_SENT;
	return QUEUE_MSG_FAILED;
}

/*
 * The first event of every message, "accepted", is not stored (one row
 * and one index entry less per message on the busiest path): it is made
 * from the message row when the listing reaches back to the beginning.
 * A message held at acceptance has no event of its own (holding a queued
 * one stores "held"), so the note says so.  Files written before this
 * have the row; it is not repeated.
 */
static void
add_accepted(struct queue_set *out)
{
	const struct queue_msg *m = &out->msgs[0];
	struct queue_event *ev = queue_set_add_event(out), first;
	char text[128];
	int n;

	n = snprintf(text, sizeof(text), "%zu recipient%s, %llu bytes%s",
	    m->nrcpts_total, m->nrcpts_total == 1 ? "" : "s",
	    (unsigned long long)m->size, m->state == QUEUE_MSG_HELD &&
	    out->nevents == 1 ? "; held until a profile is enabled" : "");
	ev->at = m->created;
	ev->kind = queue_set_strndup(out, "accepted", 8);
	ev->text = queue_set_strndup(out, text, n > 0 ? (size_t)n : 0);
	first = *ev;
	memmove(out->events + 1, out->events,
	    (out->nevents - 1) * sizeof(*out->events));
	out->events[0] = first;
}

/*
 * Nor are "sent" results stored as events (one row and one index entry
 * less per recipient delivered): a recipient row keeps its sent result for
 * good, with the profile that delivered it, and the event is made from it
 * here, in its place by time among the stored ones (before those of the
 * same second; recipients sent in the same second in their order).  Rows of schema version 1 have no profile;
 * their event is stored.  The latest QUEUE_EVENTS_MAX are kept.
 */
static void
add_sent(struct queue_set *out)
{
	const struct queue_msg *m = &out->msgs[0];
	struct queue_event *syn, *merged;
	char result[QUEUE_TEXT_MAX], text[QUEUE_TEXT_MAX + 512];
	size_t i, k, a, b, o, nsyn = 0, nstored = out->nevents;

	for (i = 0; i < m->nrcpts; i++)
		if (m->rcpts[i].state == QUEUE_RCPT_SENT &&
		    m->rcpts[i].profile != NULL)
			nsyn++;
	if (nsyn == 0)
		return;
	syn = mem_alloc(nsyn * sizeof(*syn));
	for (i = 0, k = 0; i < m->nrcpts; i++) {
		const struct queue_rcpt *r = &m->rcpts[i];
		struct queue_event t;
		int n;

		if (r->state != QUEUE_RCPT_SENT || r->profile == NULL)
			continue;
		queue_format_result(result, sizeof(result), r->code, r->enhanced,
		    r->reply);
		queue_format_event(text, sizeof(text), r->address, r->profile, result);
		n = (int)strlen(text);
		t.at = r->updated;
		t.kind = queue_set_strndup(out, "sent", 4);
		t.text = queue_set_strndup(out, text, (size_t)n);
		/* by time; stable, so a second keeps the recipients' order */
		for (a = k; a > 0 && syn[a - 1].at > t.at; a--)
			syn[a] = syn[a - 1];
		syn[a] = t;
		k++;
	}
	/* before the stored events of the same second (a record stores its
	 * results before the caller's own events), never before "accepted" */
	merged = mem_alloc((nstored + nsyn) * sizeof(*merged));
	for (a = b = o = 0; a < nstored || b < nsyn; o++) {
		const struct queue_event *ev = a < nstored ? &out->events[a] : NULL;

		if (b < nsyn && (ev == NULL || syn[b].at < ev->at ||
		    (syn[b].at == ev->at && !(a == 0 &&
		    strcmp(ev->kind, "accepted") == 0))))
			merged[o] = syn[b++];
		else
			merged[o] = out->events[a++];
	}
	for (i = 0; i < nsyn; i++)
		(void)queue_set_add_event(out);        /* room for them */
	if (o > QUEUE_EVENTS_MAX) {
		memcpy(out->events, merged + (o - QUEUE_EVENTS_MAX),
		    QUEUE_EVENTS_MAX * sizeof(*merged));
		out->nevents = QUEUE_EVENTS_MAX;
	} else {
		memcpy(out->events, merged, o * sizeof(*merged));
	}
	free(syn);
	free(merged);
}

void
queue_set_add_made_events(struct queue_set *out)
{
	if (out->nevents < QUEUE_EVENTS_MAX && (out->nevents == 0 ||
	    strcmp(out->events[0].kind, "accepted") != 0))
		add_accepted(out);
	add_sent(out);
}

/* ---- Result sets ---- */

#define ARENA_CHUNK 16384

struct arena_chunk {
	struct arena_chunk *next;
	size_t used;
	size_t cap;
	alignas(max_align_t) char data[];
};

struct queue_arena {
	struct arena_chunk *head;
	size_t msgs_cap;
	size_t rcpts_len;
	size_t rcpts_cap;
	size_t events_cap;
	size_t outbox_cap;
	size_t supps_cap;
};

static struct queue_arena *
set_arena(struct queue_set *s)
{
	if (s->arena == NULL)
		s->arena = mem_alloc(sizeof(*s->arena));
	return s->arena;
}

static void *
arena_alloc(struct queue_arena *a, size_t n)
{
	struct arena_chunk *c = a->head;
	size_t need = (n + 15) & ~(size_t)15;
	void *p;

	if (c == NULL || c->cap - c->used < need) {
		size_t cap = need > ARENA_CHUNK ? need : ARENA_CHUNK;

		c = mem_alloc(sizeof(*c) + cap);
		c->cap = cap;
		c->next = a->head;
		a->head = c;
	}
	p = c->data + c->used;
	c->used += need;
	return p;
}

const char *
queue_set_strndup(struct queue_set *s, const char *p, size_t n)
{
	char *d;

	if (p == NULL)
		return NULL;
	d = arena_alloc(set_arena(s), n + 1);
	memcpy(d, p, n);
	d[n] = '\0';
	return d;
}

static void *
grow(void *arr, size_t *cap, size_t len, size_t size)
{
	if (len < *cap)
		return arr;
	*cap = *cap ? *cap * 2 : 16;
	return mem_realloc(arr, *cap * size);
}

struct queue_msg *
queue_set_add_msg(struct queue_set *s)
{
	struct queue_arena *a = set_arena(s);
	struct queue_msg *m;

	s->msgs = grow(s->msgs, &a->msgs_cap, s->n, sizeof(*s->msgs));
	m = &s->msgs[s->n++];
	memset(m, 0, sizeof(*m));
	return m;
}

struct queue_rcpt *
queue_set_add_rcpt(struct queue_set *s, struct queue_msg *m)
{
	struct queue_arena *a = set_arena(s);
	struct queue_rcpt *r;

	s->rcpt_store = grow(s->rcpt_store, &a->rcpts_cap, a->rcpts_len,
	    sizeof(*s->rcpt_store));
	r = &s->rcpt_store[a->rcpts_len++];
	memset(r, 0, sizeof(*r));
	m->nrcpts++;
	return r;
}

struct queue_event *
queue_set_add_event(struct queue_set *s)
{
	struct queue_arena *a = set_arena(s);
	struct queue_event *ev;

	s->events = grow(s->events, &a->events_cap, s->nevents, sizeof(*s->events));
	ev = &s->events[s->nevents++];
	memset(ev, 0, sizeof(*ev));
	return ev;
}

void
queue_set_finish(struct queue_set *s)
{
	size_t i, off = 0;

	for (i = 0; i < s->n; i++) {
		s->msgs[i].rcpts = s->msgs[i].nrcpts > 0 ? s->rcpt_store + off : NULL;
		off += s->msgs[i].nrcpts;
	}
}

void
queue_set_free(struct queue_set *s)
{
	struct arena_chunk *c, *next;

	if (s == NULL)
		return;
	if (s->arena != NULL) {
		for (c = s->arena->head; c != NULL; c = next) {
			next = c->next;
			free(c);
		}
		free(s->arena);
	}
	free(s->msgs);
	free(s->rcpt_store);
	free(s->events);
	free(s->outbox);
	free(s->supps);
	memset(s, 0, sizeof(*s));
}

/* ---- Events for the application ---- */

struct queue_outbox_ev *
queue_set_add_outbox(struct queue_set *s)
{
	struct queue_arena *a = set_arena(s);
	struct queue_outbox_ev *ev;

	s->outbox = grow(s->outbox, &a->outbox_cap, s->noutbox,
	    sizeof(*s->outbox));
	ev = &s->outbox[s->noutbox++];
	memset(ev, 0, sizeof(*ev));
	return ev;
}

struct queue_supp *
queue_set_add_supp(struct queue_set *s)
{
	struct queue_arena *a = set_arena(s);
	struct queue_supp *sp;

	s->supps = grow(s->supps, &a->supps_cap, s->nsupps, sizeof(*s->supps));
	sp = &s->supps[s->nsupps++];
	memset(sp, 0, sizeof(*sp));
	return sp;
}

const char *
queue_hook_kind_name(unsigned ev)
{
	switch (ev) {
	case QUEUE_HOOK_QUEUED: return "queued";
	case QUEUE_HOOK_SENT: return "sent";
	case QUEUE_HOOK_DEFERRED: return "deferred";
	case QUEUE_HOOK_FAILED: return "failed";
	case QUEUE_HOOK_SUPPRESSED: return "suppressed";
	default: return NULL;
	}
}

unsigned
queue_hook_kind_of(const struct queue_rcpt_result *r)
{
	if (r->suppressed)
		return QUEUE_HOOK_SUPPRESSED;
	return r->state == QUEUE_RCPT_SENT ? QUEUE_HOOK_SENT :
	    r->state == QUEUE_RCPT_FAILED ? QUEUE_HOOK_FAILED :
	    QUEUE_HOOK_DEFERRED;
}

void
queue_addr_lower(char *dst, size_t dstsz, const char *addr)
{
	size_t i;

	for (i = 0; addr[i] != '\0' && i + 1 < dstsz; i++)
		dst[i] = (addr[i] >= 'A' && addr[i] <= 'Z') ?
		    (char)(addr[i] - 'A' + 'a') : addr[i];
	if (dstsz > 0)
		dst[i] = '\0';
}

void
queue_subject_of(const char *body, size_t len, char *dst, size_t dstsz)
{
	size_t i = 0, o = 0, ls;
	int in = 0;

	if (dstsz == 0)
		return;
	dst[0] = '\0';
	/* header lines until the empty line; a field continues on lines
	 * that start with a space or a tab (RFC 5322 2.2.3) */
	while (i < len) {
		ls = i;
		while (i < len && body[i] != '\n')
			i++;
		if (i < len)
			i++;
		size_t end = i;
		while (end > ls && (body[end - 1] == '\n' || body[end - 1] == '\r'))
			end--;
		if (end == ls)
			break;                 /* the end of the header */
		if (body[ls] == ' ' || body[ls] == '\t') {
			if (!in)
				continue;
		} else if (in) {
			break;                 /* the next field */
		} else if (end - ls >= 8 && strncasecmp(body + ls, "subject:", 8) == 0) {
			in = 1;
			ls += 8;
		} else {
			continue;
		}
		for (; ls < end && o + 1 < dstsz && o + 1 < QUEUE_SUBJECT_MAX; ls++) {
			unsigned char c = (unsigned char)body[ls];

			if (c == '\t')
				c = ' ';
			if (c < 0x20 || c == 0x7f)
				continue;
			if (c == ' ' && (o == 0 || dst[o - 1] == ' '))
				continue;
			dst[o++] = (char)c;
		}
	}
	while (o > 0 && dst[o - 1] == ' ')
		o--;
	dst[o] = '\0';
}

int
queue_hooks_set(struct queue *q, const struct queue_hook *hooks, size_t n,
    struct op_err *e)
{
	/* both backends' handles start with the group commit's core */
	return queue_core_hooks_set(q, hooks, n, e);
}

int
queue_outbox_claim(struct queue *q, const char *hook, int64_t now,
    size_t max, struct queue_set *out, struct op_err *e)
{
	memset(out, 0, sizeof(*out));
	if (hook == NULL || hook[0] == '\0' || strlen(hook) >= QUEUE_HOOK_NAME_MAX)
		return err_set(e, ERR_DATA, "webhook name empty or longer than %d "
		    "bytes", QUEUE_HOOK_NAME_MAX - 1);
	if (max == 0)
		return 0;
	if (max > QUEUE_OUTBOX_CLAIM_MAX)
		max = QUEUE_OUTBOX_CLAIM_MAX;
	return q->ops->outbox_claim(q, hook, now, max, out, e);
}

int
queue_outbox_finish(struct queue *q, const struct queue_outbox_done *d,
    size_t n, struct op_err *e)
{
	if (n == 0)
		return 0;
	if (n > QUEUE_OUTBOX_CLAIM_MAX || d == NULL)
		return err_set(e, ERR_DATA, "bad list of outbox results");
	return q->ops->outbox_finish(q, d, n, e);
}

int
queue_outbox_count(struct queue *q, uint64_t *n, struct op_err *e)
{
	return q->ops->outbox_count(q, n, e);
}

int
queue_supp_list(struct queue *q, const char *after, size_t limit,
    struct queue_set *out, struct op_err *e)
{
	memset(out, 0, sizeof(*out));
	if (limit == 0)
		limit = 100;
	if (limit > QUEUE_SUPP_LIST_MAX)
		limit = QUEUE_SUPP_LIST_MAX;
	if (after != NULL && strlen(after) >= QUEUE_ADDR_MAX)
		return err_set(e, ERR_DATA, "address longer than %d bytes",
		    QUEUE_ADDR_MAX - 1);
	return q->ops->supp_list(q, after, limit, out, e);
}

int
queue_supp_delete(struct queue *q, const char *address, struct op_err *e)
{
	if (address == NULL || address[0] == '\0' ||
	    strlen(address) >= QUEUE_ADDR_MAX || text_bad(address, QUEUE_ADDR_MAX))
		return err_set(e, ERR_DATA, "address empty, longer than %d bytes "
		    "or holding control characters", QUEUE_ADDR_MAX - 1);
	return q->ops->supp_delete(q, address, e);
}

int
queue_supp_check(struct queue *q, const char *const *addrs, size_t n,
    int *out, struct op_err *e)
{
	size_t i;

	struct queue_core *c = (struct queue_core *)q;
	int64_t now = clock_mono_ms();
	uint64_t gen;
	int empty = 0, fresh;

	for (i = 0; i < n; i++)
		out[i] = 0;
	if (n == 0)
		return 0;
	if (n > QUEUE_RCPTS_MAX)
		return err_set(e, ERR_DATA, "too many addresses");
	pthread_mutex_lock(&c->mu);
	fresh = c->supp_empty_ms != 0 && now - c->supp_empty_ms <
	    QUEUE_SUPP_EMPTY_MS;
	gen = c->supp_gen;
	pthread_mutex_unlock(&c->mu);
	if (fresh)
		return 0;
	if (q->ops->supp_check(q, addrs, n, out, &empty, e) < 0)
		return -1;
	pthread_mutex_lock(&c->mu);
	if (empty && gen == c->supp_gen)
		c->supp_empty_ms = now != 0 ? now : 1;
	pthread_mutex_unlock(&c->mu);
	return 0;
}
/* ---- end of events for the application ---- */

/* ---- Opening ---- */

#define QUEUE_DB_NAME "queue.db"

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

int
queue_open(const char *path, unsigned flags, struct queue **out,
    struct op_err *e)
{
	struct stat st;
	char db[PATH_MAX];
	int is_file;

	*out = NULL;
	if (path == NULL || path[0] == '\0')
		return err_set(e, ERR_CONFIG, "no queue directory given (data_dir)");
	if (queue_db_is_pg(path))
		return queue_pg_open(path, NULL, flags, out, e);
	if (stat(path, &st) == 0)
		is_file = S_ISREG(st.st_mode);
	else if (errno == ENOENT)
		is_file = ends_with(path, ".db");
	else
		return err_set(e, ERR_IO, "cannot use %s: %s", path, strerror(errno));
	if (is_file)
		return queue_sqlite_open(path, flags, out, e);
	if (stat(path, &st) != 0) {
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return err_set(e, ERR_IO, "cannot create the data directory "
			    "%s: %s", path, strerror(errno));
	} else if (!S_ISDIR(st.st_mode)) {
		return err_set(e, ERR_CONFIG, "%s is neither a directory nor a "
		    "database file; set data_dir to a directory", path);
	}
	if ((size_t)snprintf(db, sizeof(db), "%s/%s", path, QUEUE_DB_NAME) >= sizeof(db))
		return err_set(e, ERR_CONFIG, "data directory path %s is too long", path);
	return queue_sqlite_open(db, flags, out, e);
}

int
queue_db_is_pg(const char *database)
{
	return database != NULL && (strncmp(database, "postgresql://", 13) == 0 ||
	    strncmp(database, "postgres://", 11) == 0);
}

int
queue_open_db(const char *data_dir, const char *database, const char *node,
    unsigned flags, struct queue **out, struct op_err *e)
{
	*out = NULL;
	if (database == NULL || database[0] == '\0')
		return queue_open(data_dir, flags, out, e);
	if (!queue_db_is_pg(database))
		return err_set(e, ERR_CONFIG, "[server] database must be a "
		    "postgresql:// URI (postgresql://USER@HOST:PORT/DB), or be "
		    "left out for the SQLite queue in data_dir");
	return queue_pg_open(database, node, flags, out, e);
}

int
queue_watch(struct queue *q, void (*cb)(void *), void *arg, struct op_err *e)
{
	if (q->ops->watch == NULL)
		return 0;
	return q->ops->watch(q, cb, arg, e);
}

void
queue_close(struct queue *q)
{
	if (q != NULL)
		q->ops->close(q);
}

/* ---- Calls into the backend ---- */

int
queue_submit(struct queue *q, const struct queue_new *m,
    char id[QUEUE_ID_SIZE], struct op_err *e)
{
	return q->ops->submit(q, m, id, e);
}

int
queue_submit_async(struct queue *q, const struct queue_new *m,
    queue_submit_cb cb, void *arg, struct op_err *e)
{
	return q->ops->submit_async(q, m, cb, arg, e);
}

int
queue_claim(struct queue *q, int64_t now, size_t max, struct queue_set *out,
    struct op_err *e)
{
	return q->ops->claim(q, now, max, out, e);
}

int
queue_record_async(struct queue *q, const struct queue_outcome *o,
    queue_record_cb cb, void *arg, struct op_err *e)
{
	return q->ops->record_async(q, o, cb, arg, e);
}

int
queue_claim_id(struct queue *q, const char *id, int64_t now,
    struct queue_set *out, struct op_err *e)
{
	return q->ops->claim_id(q, id, now, out, e);
}

int
queue_body_get(struct queue *q, const char *id, char **body, size_t *len,
    struct op_err *e)
{
	return q->ops->body_get(q, id, body, len, e);
}

int
queue_body_read(struct queue *q, const char *id, uint64_t off, void *dst,
    size_t n, size_t *got, struct op_err *e)
{
	return q->ops->body_read(q, id, off, dst, n, got, e);
}

int
queue_record(struct queue *q, const struct queue_outcome *o, int *state,
    struct op_err *e)
{
	return q->ops->record(q, o, state, e);
}

int
queue_unclaim(struct queue *q, const char *id, int64_t next_attempt,
    const char *reason, struct op_err *e)
{
	return q->ops->unclaim(q, id, next_attempt, reason, e);
}

int
queue_counters(struct queue *q, struct queue_counter **out, size_t *n,
    struct op_err *e)
{
	*out = NULL;
	*n = 0;
	return q->ops->counters(q, out, n, e);
}

int
queue_wait(struct queue *q, const struct queue_wait *w, struct op_err *e)
{
	if (w == NULL || w->id == NULL)
		return err_set(e, ERR_DATA, "a wait without a message id");
	return q->ops->wait(q, w, e);
}

int
queue_advance(struct queue *q, int64_t now, int64_t until, uint64_t *n,
    struct op_err *e)
{
	return q->ops->advance(q, now, until, n, e);
}

int
queue_fail(struct queue *q, const char *id, int64_t now, const char *reason,
    struct op_err *e)
{
	return q->ops->fail(q, id, now, reason, e);
}

int
queue_event_add(struct queue *q, const char *id, int64_t now,
    const char *kind, const char *text, struct op_err *e)
{
	return q->ops->event_add(q, id, now, kind, text, e);
}

int
queue_recover(struct queue *q, int64_t now, uint64_t *n, struct op_err *e)
{
	return q->ops->recover(q, now, INT64_MAX, n, e);
}

int
queue_recover_stale(struct queue *q, int64_t now, int64_t max_age_s,
    uint64_t *n, struct op_err *e)
{
	return q->ops->recover(q, now, now - max_age_s, n, e);
}

int
queue_hold_all(struct queue *q, int64_t now, const char *reason, uint64_t *n,
    struct op_err *e)
{
	return q->ops->hold_all(q, now, reason, n, e);
}

int
queue_release_held(struct queue *q, int64_t now, uint64_t *n, struct op_err *e)
{
	return q->ops->release_held(q, now, n, e);
}

int
queue_retry(struct queue *q, const char *id, int64_t now, struct op_err *e)
{
	return q->ops->retry(q, id, now, e);
}

int
queue_retry_all(struct queue *q, int state, int64_t now, uint64_t *n,
    struct op_err *e)
{
	if (state != -1 && state != QUEUE_MSG_QUEUED &&
	    state != QUEUE_MSG_DEFERRED && state != QUEUE_MSG_FAILED &&
	    state != QUEUE_MSG_HELD)
		return err_set(e, ERR_DATA, "only queued, deferred, failed or "
		    "held messages are retried together, not %s ones",
		    queue_msg_state_name(state) != NULL ?
		    queue_msg_state_name(state) : "unknown");
	return q->ops->retry_all(q, state, now, n, e);
}

int
queue_purge(struct queue *q, int64_t before, size_t max, uint64_t *n,
    struct op_err *e)
{
	return q->ops->purge(q, before, max, n, e);
}

int
queue_delete(struct queue *q, const char *id, struct op_err *e)
{
	return q->ops->del(q, id, e);
}

int
queue_list(struct queue *q, const struct queue_list_opts *o,
    struct queue_set *out, struct op_err *e)
{
	return q->ops->list(q, o, out, e);
}

int
queue_get(struct queue *q, const char *id, struct queue_set *out,
    struct op_err *e)
{
	return q->ops->get(q, id, out, e);
}

int
queue_counts(struct queue *q, uint64_t counts[QUEUE_MSG_NSTATES],
    struct op_err *e)
{
	return q->ops->counts(q, counts, e);
}

int
queue_next_due(struct queue *q, int64_t *when, int *found, struct op_err *e)
{
	return q->ops->next_due(q, when, found, e);
}

int
queue_rate_add(struct queue *q, const char *profile, int64_t now, unsigned n,
    struct op_err *e)
{
	return q->ops->rate_add(q, profile, now, n, e);
}

int
queue_rate_load(struct queue *q, const char *profile, int64_t since,
    struct queue_rate_bucket **out, size_t *n, struct op_err *e)
{
	return q->ops->rate_load(q, profile, since, out, n, e);
}

void
queue_stats(struct queue *q, struct queue_stats *st)
{
	q->ops->stats(q, st);
}

/* ---- Cluster state ---- */

static int
not_shared(struct queue *q, struct op_err *e)
{
	return err_set(e, ERR_SOFTWARE, "the %s queue is not shared by several "
	    "nodes", q->ops->name);
}

int
queue_shared(struct queue *q)
{
	return q != NULL && q->ops->pstate_put != NULL;
}

int
queue_rate_reserve(struct queue *q, const char *profile,
    const struct queue_limit *limits, size_t nlimits, int64_t *slot,
    int64_t *wait_ms, struct op_err *e)
{
	if (q->ops->rate_reserve == NULL)
		return not_shared(q, e);
	return q->ops->rate_reserve(q, profile, limits, nlimits, slot, wait_ms, e);
}

int
queue_rate_release(struct queue *q, int64_t slot, struct op_err *e)
{
	if (q->ops->rate_release == NULL)
		return not_shared(q, e);
	return q->ops->rate_release(q, slot, e);
}

int
queue_pstate_put(struct queue *q, const struct queue_pstate *ps,
    struct op_err *e)
{
	if (q->ops->pstate_put == NULL)
		return not_shared(q, e);
	return q->ops->pstate_put(q, ps, e);
}

int
queue_pstate_load(struct queue *q, struct queue_pstate **out, size_t *n,
    struct op_err *e)
{
	*out = NULL;
	*n = 0;
	if (q->ops->pstate_load == NULL)
		return not_shared(q, e);
	return q->ops->pstate_load(q, out, n, e);
}

int
queue_settings_get(struct queue *q, char **text, int64_t *version,
    struct op_err *e)
{
	*text = NULL;
	*version = 0;
	if (q->ops->settings_get == NULL)
		return not_shared(q, e);
	return q->ops->settings_get(q, text, version, e);
}

int
queue_settings_put(struct queue *q, const char *text, int64_t expect,
    int64_t *version, struct op_err *e)
{
	if (q->ops->settings_put == NULL)
		return not_shared(q, e);
	return q->ops->settings_put(q, text, expect, version, e);
}

unsigned
queue_changes(struct queue *q, int what)
{
	if (q == NULL || q->ops->changes == NULL)
		return 0;
	return q->ops->changes(q, what);
}

int
queue_node_counters(struct queue *q, struct queue_node_counter **out,
    size_t *n, struct op_err *e)
{
	*out = NULL;
	*n = 0;
	if (q->ops->node_counters == NULL)
		return not_shared(q, e);
	return q->ops->node_counters(q, out, n, e);
}
