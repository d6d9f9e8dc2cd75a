/*
 * queue_impl.h - helpers shared by the store's backends (not for callers
 * of the store: they include queue.h only).
 *
 * A backend builds a struct queue_set with these: strings go into the
 * set's arena (one block per 16 KiB, freed at once by queue_set_free());
 * messages, recipients and events are appended to growable arrays.
 * Recipients must be appended in the order of their messages: each
 * message counts its own in msg->nrcpts while it is being built, and
 * queue_set_finish() points each message at its slice.
 */
#ifndef OUTPOST_QUEUE_QUEUE_IMPL_H
#define OUTPOST_QUEUE_QUEUE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "queue/queue.h"

/* Copy n bytes of p (NULL stays NULL) into the set's arena, NUL-terminated. */
const char *queue_set_strndup(struct queue_set *s, const char *p, size_t n);
/* A new zeroed message at the end of s->msgs. */
struct queue_msg *queue_set_add_msg(struct queue_set *s);
/* A new zeroed recipient of message m (an element of s->msgs; counted in
 * m->nrcpts).  Recipients are added message after message, in order. */
struct queue_rcpt *queue_set_add_rcpt(struct queue_set *s, struct queue_msg *m);
/* A new zeroed event. */
struct queue_event *queue_set_add_event(struct queue_set *s);
/* Point every message at its recipients; call once, when done adding. */
void queue_set_finish(struct queue_set *s);

/* events for the application: a new outbox event / suppressed address
 * at the end of s->outbox / s->supps */
struct queue_outbox_ev *queue_set_add_outbox(struct queue_set *s);
struct queue_supp *queue_set_add_supp(struct queue_set *s);
/* "sent", ... for one enum queue_hook_event bit; NULL for another */
const char *queue_hook_kind_name(unsigned ev);
/* The event bit of a result (suppressed, sent, failed, deferred). */
unsigned queue_hook_kind_of(const struct queue_rcpt_result *r);
/* ASCII lowercase copy of an address (suppression keys). */
void queue_addr_lower(char *dst, size_t dstsz, const char *addr);

/* A new id from a wall-clock time in milliseconds and 5 random bytes. */
void queue_id_make(char id[QUEUE_ID_SIZE], int64_t ms,
    const unsigned char rnd[5]);

/* Check a submission against the bounds of queue.h (ERR_DATA). */
int queue_new_check(const struct queue_new *m, struct op_err *e);
/* Check an id argument: ERR_NOINPUT naming it when it is not an id. */
int queue_id_check(const char *id, struct op_err *e);
/* The checks of queue_list()'s options every backend makes, filling
 * *limit (100 by default, at most QUEUE_LIST_MAX) and *state (-1: any):
 * ERR_DATA for an unknown state or a search longer than its bound,
 * ERR_NOINPUT for a malformed `before` id. */
int queue_list_check(const struct queue_list_opts *o, size_t *limit,
    int *state, struct op_err *e);
/* 1 if o searches (to, from, subject, since or until). */
int queue_list_searches(const struct queue_list_opts *o);
/* Sort s->outbox by oid (the claim order). */
void queue_set_sort_outbox(struct queue_set *s);
/* Check the results and events of an attempt against the bounds of
 * queue.h (ERR_DATA). */
int queue_outcome_check(const struct queue_outcome *o, struct op_err *e);

/* The texts of the events every backend stores (no quote in them: the
 * SQL of a backend may carry them as literals). */
#define QUEUE_TEXT_HELD "held: no profile is enabled"
#define QUEUE_TEXT_RECOVERED "the attempt in progress was interrupted" \
	" (Outpost stopped); due again"
#define QUEUE_TEXT_RELEASED "released from hold: queued again"
#define QUEUE_TEXT_RETRY "queued again by an operator"

/* A result as the events show it: "550 5.1.1 text", and the event's text
 * "<addr> via profile: result" (profile may be NULL). */
void queue_format_result(char *dst, size_t dstsz, int code, const char *enh,
    const char *reply);
void queue_format_event(char *dst, size_t dstsz, const char *addr,
    const char *profile, const char *result);

/* The message state from its recipients, queue.h's rule: open (pending or
 * deferred), sent and failed counts; *well (if not NULL) 1 when every
 * recipient was delivered. */
int queue_state_derive(uint64_t open_n, uint64_t sent_n, uint64_t failed_n,
    int *well);

/* A message read with queue_get() (out->n 1, its recipients and stored
 * events, oldest first, finished with queue_set_finish()): add the events
 * that are not stored but made from the rows - "accepted" from the
 * message, "sent" from each recipient delivered (with its profile) - in
 * their places; the latest QUEUE_EVENTS_MAX are kept. */
void queue_set_add_made_events(struct queue_set *out);

#endif
