/*
 * webhook.h - events for the application: the daemon's senders of the
 * outbox ([webhook NAME] sections, docs/webhooks.md).
 *
 * The store writes one outbox row per event and webhook in the
 * transaction of the outcome it describes (queue.h, queue_hooks_set());
 * the senders read them: per webhook, WEBHOOK_WORKERS threads, each with
 * its own HTTP connection (libcurl, util/http_client.h), claim the oldest
 * event of each message (so a message's events go out in order), POST
 * one JSON body per event signed with HMAC-SHA256
 * (Outpost-Signature: t=UNIXTIME,v1=HEX over "UNIXTIME.body"), and
 * remove it on a 2xx reply.  Otherwise the event is tried again with a
 * backoff (1 s doubling to WEBHOOK_BACKOFF_MAX_S) for at least
 * WEBHOOK_KEEP_S, then dropped with a log line.  Nothing here runs on the
 * delivery path: a dead receiver leaves rows in the outbox, no more.
 *
 * The webhooks are read from the settings at start and again every
 * second (a reload adds, changes or removes them).
 */
#ifndef OUTPOST_RELAY_WEBHOOK_H
#define OUTPOST_RELAY_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "queue/queue.h"
#include "config/conf.h"
#include "relay/settings.h"
#include "util/err.h"

#define WEBHOOK_WORKERS 4              /* connections per webhook */
#define WEBHOOK_BATCH 8                /* events claimed at once */
#define WEBHOOK_TIMEOUT_S 10           /* one POST */
#define WEBHOOK_IDLE_MS 500            /* a worker that found nothing */
#define WEBHOOK_BACKOFF_MAX_S 300
#define WEBHOOK_KEEP_S 86400           /* tried for at least a day */
#define WEBHOOK_BODY_MAX (QUEUE_META_MAX + 3 * QUEUE_REPLY_MAX + 4096)

struct webhooks;

/* Set the store's webhooks from the settings and start the senders.
 * With no [webhook] section nothing is written to the outbox. */
int webhook_start(struct settings *settings, struct queue *q,
    struct webhooks **out, struct op_err *e);
/* Stop the senders (an event being posted is finished or, cut off, sent
 * again later: at least once) and free.  NULL is ignored. */
void webhook_stop(struct webhooks *w);

/* The store's webhooks from conf, without senders: for the commands
 * that record outcomes or submit (`send`, `sendmail`), whose events the
 * daemon's senders deliver. */
int webhook_hooks_set(struct queue *q, const struct conf *c,
    struct op_err *e);

/* The JSON body of an event (for tests): into a buffer of
 * WEBHOOK_BODY_MAX bytes; its length. */
size_t webhook_body(const struct queue_outbox_ev *ev, char *dst,
    size_t dstsz);
/* The header "Outpost-Signature: t=T,v1=HEX" for body at time t. */
void webhook_sign(const char *secret, int64_t t, const char *body,
    size_t len, char *dst, size_t dstsz);

#endif
