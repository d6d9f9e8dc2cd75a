/*
 * listener.h - the SMTP listener: where applications hand over mail
 * (smtp_listen, default 127.0.0.1:2525).
 *
 * One thread runs an epoll loop over every connection; the protocol is
 * smtp/server.c's state machine.  A message is answered 250 only after
 * the queue committed it (queue_submit_async: the commit is shared with
 * every other message waiting, and its completion comes back to the loop
 * through an eventfd).  STARTTLS when [server] smtp_tls_cert/key are set;
 * AUTH against the [client NAME] entries when smtp_auth = yes, with each
 * client's allowed_from.  At most smtp_max_sessions connections; more get
 * "421 4.3.2" at once.  Per-phase timeouts from the session.
 *
 * The listener borrows settings and queue, which must outlive it.
 * Settings that change on reload apply to new connections; a new
 * smtp_listen address or certificate needs a restart.
 */
#ifndef OUTPOST_RELAY_LISTENER_H
#define OUTPOST_RELAY_LISTENER_H

#include "queue/queue.h"
#include "relay/settings.h"
#include "util/err.h"

struct listener;

struct listener_deps {
	struct settings *settings;
	struct queue *queue;              /* NULL with refuse set */
	void (*on_queued)(void *arg);     /* a message was committed */
	void *arg;
	/* Not NULL: the queue cannot be used; every connection is answered
	 * "421 4.3.5 <refuse>" and closed, so clients keep their mail and
	 * retry (the daemon never accepts what it cannot store). */
	const char *refuse;
	/* How to store a message (may be NULL: queue it; see
	 * relay_reserve()): reserve(arg, len) says enum relay_how:
	 * RELAY_TAKE = store it already claimed and hand it over after its
	 * commit with handoff(), which takes the body; RELAY_HOLD = store it
	 * held.  unreserve(arg, how, len) after a RELAY_TAKE commit failed or
	 * a RELAY_HOLD commit ended. */
	int (*reserve)(void *arg, size_t len);
	void (*unreserve)(void *arg, int how, size_t len);
	void (*handoff)(void *arg, const char *id, const char *sender,
	    char *const *rcpts, size_t nrcpts, char *body, size_t len);
};

/* Bind smtp_listen of the current settings and start the loop thread.
 * ERR_CONFIG for a bad address or certificate, ERR_UNAVAILABLE if the
 * port is taken. */
int listener_start(const struct listener_deps *d, struct listener **out,
    struct op_err *e);

/* Stop accepting; answer every idle session "421 4.3.2 shutting down";
 * wait up to grace_ms for messages being committed (their clients get
 * their 250), then close everything and join the thread. */
void listener_stop(struct listener *l, int grace_ms);
void listener_free(struct listener *l);

/* Connections open now (for metrics and tests). */
unsigned listener_sessions(struct listener *l);

#endif
