/*
 * deliver.h - one delivery attempt of one claimed message through one
 * profile, over a session the caller holds; and the recording of its
 * outcome.  Used by the daemon's workers (relay.c) and by `send --now`.
 *
 * The caller owns the session (opens it with deliver_open(), reuses it
 * while smtp_client_usable(), quits it); deliver_attempt() owns nothing
 * after it returns.  struct deliver_msg is the caller's copy of a claimed
 * message, independent of the queue's result set.
 */
#ifndef OUTPOST_RELAY_DELIVER_H
#define OUTPOST_RELAY_DELIVER_H

#include <stddef.h>
#include <stdint.h>

#include "config/conf.h"
#include "queue/queue.h"
#include "smtp/client.h"
#include "util/metrics.h"

/* The reply that made a message wait in this round (a 421, "slow down"):
 * for its recipients' last result and its last error (deliver_wait()). */
struct deliver_reply {
	int code;
	char enhanced[QUEUE_ENHANCED_MAX];
	char text[QUEUE_REPLY_MAX];    /* sanitised, without the codes */
	char line[QUEUE_TEXT_MAX];     /* "421 4.3.2 text", sanitised */
};

struct deliver_msg {
	char id[QUEUE_ID_SIZE];
	char *sender;
	char **rcpts;          /* recipients still to deliver */
	unsigned *rcpt_idx;    /* their index in the message */
	size_t nrcpts;
	unsigned attempts;
	int64_t created;
	int64_t since;
	uint64_t size;
	char *profile;         /* asked for (send --profile), or NULL */
	char **tried;          /* profiles that failed for it in this round */
	size_t ntried;
	struct deliver_reply *waited; /* NULL, or why it waits (owned) */
	int logged;            /* a failure in this round has logged its
	                        * event=delivery lines (one per recipient and
	                        * attempt: deliver_defer_all() adds none) */
	char *body;            /* the message, when the listener handed it
	                        * over (else read from the queue); owned */
	size_t body_len;
	/* suppression: */
	int *supp;             /* per recipient: on the suppression list
	                        * (from the claim); NULL: not known yet */
	int supp_done;         /* its suppressed recipients were recorded */
	int all_suppressed;    /* record(): every result is "suppressed" */
};

/* A message just stored already claimed by this process, with its body
 * in memory (the listener's hand-off, `send --now`): copies id, sender,
 * the recipients and profile (may be NULL); takes body (malloc'ed).
 * Free with deliver_msg_free(). */
struct deliver_msg *deliver_msg_new(const char *id, const char *sender,
    const char *const *rcpts, size_t nrcpts, const char *profile,
    char *body, size_t len);
/* Copy message i of a claim set.  Free with deliver_msg_free(). */
struct deliver_msg *deliver_msg_from_set(const struct queue_set *set,
    size_t i);
void deliver_msg_free(struct deliver_msg *m);
int deliver_msg_tried(const struct deliver_msg *m, const char *profile);
void deliver_msg_add_tried(struct deliver_msg *m, const char *profile);

enum deliver_kind {
	DELIVER_DONE = 0,      /* results recorded in the queue */
	DELIVER_PROFILE_DOWN,  /* the profile failed (connect, TLS, AUTH,
	                        * 421): nothing recorded; fail over */
	DELIVER_SLOWDOWN,      /* the provider asked to slow down: nothing
	                        * recorded; pause the profile, try again */
	DELIVER_NOT_READY,     /* redirect on without a report address, or
	                        * the queue failed: unclaimed, retry later */
	DELIVER_QUOTA,         /* the provider's daily quota is used up
	                        * (relay/hints.h, class quota): nothing
	                        * recorded; pause the profile until the
	                        * quota's window ends, fail over */
};

struct deliver_ctx {
	struct queue *queue;
	struct metrics *metrics;   /* may be NULL */
	const char *helo_name;
	int async_record;          /* record outcomes without waiting for
	                            * the commit (the daemon's workers) */
};

/* smtp_params for a profile (pointers into p, which must outlive them). */
void deliver_params(const struct conf_profile *p, const char *helo_name,
    struct smtp_params *out);

/* Open a session for profile p.  Returns 0, or -1 with res describing the
 * failure (DELIVER_PROFILE_DOWN material). *s is always set; free it. */
int deliver_open(const struct deliver_ctx *dc, const struct conf_profile *p,
    struct smtp_session **s, struct smtp_result *res);

/*
 * Deliver m through profile p over session s (usable), apply redirect and
 * force_from from conf, and record the outcome in the queue (DELIVER_DONE).
 * res gets the message-level result (for `send --now` and logs).
 * Returns the enum deliver_kind.
 */
int deliver_attempt(const struct deliver_ctx *dc, const struct conf *conf,
    const struct conf_profile *p, struct smtp_session *s,
    struct deliver_msg *m, struct smtp_result *res);

/* The message could not be attempted through any profile: record one
 * deferred attempt for every recipient with reason (a temporary failure),
 * or fail it if its lifetime is over.  Logs the event=delivery lines of
 * the attempt unless a failure of this round did (m->logged). */
int deliver_defer_all(const struct deliver_ctx *dc, const struct conf *conf,
    const struct deliver_msg *m, const char *profile, const char *reason);

/* An attempt that ended before any recipient had a reply of its own (the
 * session through profile could not be opened): one event=delivery line
 * per recipient, state deferred, with r's reply or failure (and the
 * provider rules' hint for it, relay/hints.h).  relay
 * ("host[address]:port") may be NULL.  start_ms: clock_mono_ms() when the
 * attempt began. */
void deliver_log_deferred(struct deliver_msg *m, const struct conf_profile *p,
    const char *relay, const struct smtp_result *r, int64_t start_ms);

/* Fill dr from r's reply (code != 0). */
void deliver_reply_set(struct deliver_reply *dr, const struct smtp_result *r);
/* Keep r's reply (if it has one: code != 0) as what made m wait. */
void deliver_msg_set_waited(struct deliver_msg *m, const struct smtp_result *r);

/*
 * No profile takes m now, and no attempt was made: they are paused (a
 * 421, a provider asking to slow down, a full quota) or cooling down.  m
 * is given back, due in wait_ms, with m->waited (else why, which
 * may be NULL) as its last error and m->waited as its open recipients'
 * last result; nothing is counted as an attempt and no event is logged.
 * Unless the wait would outlive queue_lifetime: then this was its last
 * chance, and it is recorded as an attempt that failed for good, with
 * that reason (profile: the last one tried, may be NULL).
 */
int deliver_wait(const struct deliver_ctx *dc, const struct conf *conf,
    const struct deliver_msg *m, const char *profile, const char *why,
    int64_t wait_ms);

/* The enhanced status codes that suppress an address when a recipient
 * is refused with one for good ([server] suppress): the mailbox does
 * not exist (5.1.1), the domain takes no mail (5.1.10: null MX, RFC
 * 7505), the mailbox is disabled (5.2.1).  A bare 550 without an
 * enhanced code is not enough (it is also used for policy refusals). */
int deliver_suppresses(int code, const char *enhanced);
/*
 * Suppression, before m is routed ([server] suppress = yes): its
 * recipients on the list (m->supp, else read from the queue) are
 * recorded failed with the outcome "suppressed" at once, without
 * contacting any provider, and removed from m.  Returns 1 when none is
 * left (the message ended: do not route it), else 0.  Once per m.
 */
int deliver_suppressed(const struct deliver_ctx *dc, const struct conf *conf,
    struct deliver_msg *m);

/* GET /metrics: set the registry's sent/deferred/failed counters (of
 * messages and of recipients, by profile) from the queue's, which count
 * every outcome recorded by any process (`send --now` too). */
void deliver_metrics_load(struct queue *q, struct metrics *m);

/* 1 (and the message failed for good in the queue) if m outlived
 * queue_lifetime.  A message never attempted is not failed here: it gets
 * its one attempt first (whose result ends it). */
int deliver_expire(const struct deliver_ctx *dc, const struct conf *conf,
    const struct deliver_msg *m);

#endif
