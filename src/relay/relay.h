/*
 * relay.h - the delivery engine of the daemon: a scheduler that claims due
 * messages in batches and routes each to the first enabled profile that
 * works, and per-profile pools of worker threads, each holding one
 * upstream connection that it reuses for many messages.
 *
 *   - Pools: at most max_connections workers per profile; a worker keeps
 *     its connection while there is work (RSET between messages, up to
 *     max_messages_per_connection), and closes it after RELAY_IDLE_MS idle.
 *   - Failover: when a profile cannot be reached, refuses TLS or AUTH, or
 *     answers 421, its messages move at once to the next enabled profile;
 *     the broken one cools down (relay/policy.h) before it is tried again.
 *     If every profile failed for a message, that counts as one attempt
 *     (deferred, retried on the `retry` schedule).
 *   - Quotas: each profile's `limits` are enforced across its connections
 *     (relay/ratelimit.h) and survive restarts (sends are recorded in the
 *     queue).  A provider asking to slow down pauses the profile with a
 *     growing backoff; the message waits without losing an attempt.
 *   - OAuth2: a profile that can get no access token pauses without an
 *     attempt counted; its messages fail over or wait (deferred, the
 *     token error as their reason).  One that needs a sign-in waits until
 *     the token store has one (looked at every RELAY_TOKEN_POLL_MS, or at
 *     once after relay_oauth_signed_in()).
 *   - Held: while no profile is enabled, due messages are held; they are
 *     released when a reload brings an enabled profile.
 *
 * Threads: relay_start() starts the scheduler; workers come and go.  All
 * functions are thread-safe.  The relay borrows settings, queue and
 * metrics (which must outlive it).
 */
#ifndef OUTPOST_RELAY_RELAY_H
#define OUTPOST_RELAY_RELAY_H

#include "queue/queue.h"
#include "relay/settings.h"
#include "smtp/client.h"
#include "util/err.h"
#include "util/metrics.h"

struct deliver_msg;

#define RELAY_INFLIGHT_MAX 4096    /* messages claimed and not finished */
#define RELAY_CLAIM_ROOM 16        /* claim from the queue only with this much room */
#define RELAY_IDLE_MS 5000         /* an idle upstream connection closes */
#define RELAY_POLL_MS 1000         /* look for mail queued by other processes */

struct relay;

struct relay_deps {
	struct settings *settings;
	struct queue *queue;
	struct metrics *metrics;       /* may be NULL */
};

int relay_start(const struct relay_deps *d, struct relay **out,
    struct op_err *e);
/* New mail was committed, a retry was asked for, or settings changed. */
void relay_wake(struct relay *r);
/* Someone signed in (OAuth2, the page's callback): a profile waiting for
 * a sign-in looks at the token store now, and what waited for it goes. */
void relay_oauth_signed_in(struct relay *r);
/* Stop claiming, let workers finish the message they are sending (at most
 * grace_ms), give unsent claims back to the queue.  Returns 0 if
 * everything stopped, -1 if a worker was still busy after grace_ms (its
 * message stays claimed and is recovered at the next start; the relay is
 * then not freed). */
int relay_stop(struct relay *r, int grace_ms);
void relay_free(struct relay *r);

/*
 * The fast path for mail accepted by this process's listener: instead of
 * being queued and claimed again, a message is stored already claimed and
 * handed over with its body in memory, so it goes out without another
 * database round trip.  relay_reserve() says whether the relay takes a
 * message of len bytes now (an enabled profile, room for it: at most
 * RELAY_INFLIGHT_MAX messages and RELAY_FAST_BYTES_MAX body bytes in
 * memory): RELAY_TAKE reserves its place.  After the commit,
 * relay_handoff() gives it over (the relay takes the body, malloc'ed).
 * With no enabled profile it says RELAY_HOLD: store the message held, as
 * the scheduler would make it at once; otherwise RELAY_QUEUE.  When a
 * RELAY_TAKE commit failed, or a RELAY_HOLD commit ended either way,
 * relay_unreserve() gives back what was reserved (a held message decided
 * just before a profile was enabled is released once it is stored).
 */
#define RELAY_FAST_BYTES_MAX (64u << 20)
enum relay_how { RELAY_QUEUE, RELAY_TAKE, RELAY_HOLD };
int relay_reserve(struct relay *r, size_t len);
void relay_unreserve(struct relay *r, int how, size_t len);
void relay_handoff(struct relay *r, const char *id, const char *sender,
    char *const *rcpts, size_t nrcpts, char *body, size_t len);

/*
 * Deliver message dm now, in the calling thread, through the profiles of
 * conf with failover (`outpost send --now`), and record the outcome in q
 * as the daemon would.  The message was stored already claimed by the
 * caller (QUEUE_MSG_SENDING), and dm (deliver_msg_new(), with its body)
 * is taken.  res gets the last result; the recipients' outcomes are in
 * the queue.
 */
void relay_send_now(const struct conf *conf, struct queue *q,
    struct metrics *m, struct deliver_msg *dm, struct smtp_result *res);

#endif
