/*
 * queue.h - the durable message store: accept, claim, record, query.
 *
 * The store is an interface: struct queue holds a table of operations
 * (struct queue_ops) that a backend fills in.  The SQLite backend
 * (queue_sqlite.c) keeps everything in one database file; the PostgreSQL
 * backend (queue_pg.c) keeps it in a database several nodes share.  What
 * both share lives above them: the group commit and the write operations
 * (queue_commit.c), and the state rule, bounds, event texts and ids
 * (queue.c); the code that calls the queue_* functions below (relay/,
 * http/, cli/) does not know which backend it uses.
 *
 * Durability: queue_submit() returns 0 only after the message, its
 * recipients and its first event are committed to disk (fsync).  Only then
 * may the caller acknowledge it (250, 202, exit 0).  Concurrent submissions
 * share one commit (group commit): the backend writes every submission that
 * is waiting into one transaction, so 16 sessions cost one fsync, not 16.
 * Every other change (claims, results, retry, delete) is committed the same
 * way before its function returns.
 *
 * Times are Unix seconds (int64_t), like relay/policy.h.
 *
 * Message states (enum queue_msg_state):
 *   queued    waiting for its first attempt (due at next_attempt)
 *   sending   claimed by a delivery worker (queue_claim)
 *   deferred  an attempt left at least one recipient to retry later
 *   sent      every recipient ended, and at least one was delivered
 *   failed    every recipient ended, and none was delivered
 *   held      kept without delivering: no profile was enabled (or an
 *             operator held it); queue_release_held() makes it queued
 * Mixed results are common (one 550 of three recipients): such a message
 * is "sent", and each recipient keeps its own truth (state, SMTP code,
 * enhanced status code, reply text, attempts).  The message state is
 * derived from its recipients by one rule, after every queue_record() and
 * queue_fail():
 *   any recipient pending or deferred  -> deferred (at next_attempt)
 *   else any recipient sent            -> sent
 *   else                               -> failed
 *
 * Errors (struct op_err kinds) every function may return:
 *   ERR_DATA       an argument is out of its bounds (named in the message)
 *   ERR_NOINPUT    no message with that id
 *   ERR_TEMP       disk full, I/O error, or the database stayed locked by
 *                  another process: nothing was changed; try again later
 *   ERR_IO         the database is corrupt or not a queue database
 *   ERR_CONFIG     the database was made by a newer Outpost (open only)
 *   ERR_SOFTWARE   misuse (e.g. a blocking call from a submit callback)
 *
 * Thread-safety: every function may be called from any thread at the same
 * time on one handle, except queue_close().  Several processes may open
 * the same database at once (the daemon and `outpost sendmail`): claims
 * never hand one message to two callers.  Do not use a handle across
 * fork().
 *
 * Ownership: strings passed in are copied or used only during the call
 * (queue_submit_async: until its callback has run).  Results come back in
 * a struct queue_set that owns all their memory; free it with
 * queue_set_free().
 */
#ifndef OUTPOST_QUEUE_QUEUE_H
#define OUTPOST_QUEUE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Message ids: 16 characters of lowercase base32 (digits and letters
 * except i, l, o, u), safe in URLs, file names and SMTP replies.  The first
 * 9 carry the acceptance time in milliseconds, the last 7 are random, so
 * ids sort by age; uniqueness is enforced by the store. */
#define QUEUE_ID_LEN 16
#define QUEUE_ID_SIZE (QUEUE_ID_LEN + 1)

/* Bounds on what the store accepts (ERR_DATA past them). */
#define QUEUE_ADDR_MAX 256        /* a path, RFC 5321 4.5.3.1.3 */
#define QUEUE_RCPTS_MAX 1000      /* recipients per message; RFC 5321
                                   * 4.5.3.1.8 asks for at least 100 */
#define QUEUE_BODY_MAX (512u << 20) /* bytes; the listener's
                                   * max_message_size is the real limit */
#define QUEUE_PROFILE_MAX 128     /* profile name */
#define QUEUE_ENHANCED_MAX 16     /* "5.7.1": RFC 3463 section 2, 1+1+3+1+3 */
#define QUEUE_REPLY_MAX 2048      /* reply text kept per recipient (cut) */
#define QUEUE_EVENT_KIND_MAX 32
#define QUEUE_TEXT_MAX 2048       /* event text, last error (cut) */
#define QUEUE_CLAIM_MAX 512       /* messages per queue_claim() */
#define QUEUE_LIST_MAX 10000      /* messages per queue_list() */
#define QUEUE_EVENTS_MAX 1000     /* latest events per queue_get() */
#define QUEUE_NODE_MAX 64         /* node name ([server] node) */
/* ---- events for the application: bounds ---- */
#define QUEUE_META_MAX 16384      /* metadata: its JSON text (the API
                                   * bounds keys and values further) */
#define QUEUE_IDEM_MAX 128        /* an Idempotency-Key */
#define QUEUE_IDEM_KEEP_S 86400   /* how long a key names its message */
#define QUEUE_SUBJECT_MAX 256     /* the Subject kept for searches (cut) */
#define QUEUE_HOOKS_MAX 16        /* webhooks ([webhook NAME] sections) */
#define QUEUE_HOOK_NAME_MAX 64
#define QUEUE_OUTBOX_CLAIM_MAX 64 /* events per queue_outbox_claim() */
#define QUEUE_SUPP_LIST_MAX 1000  /* addresses per queue_supp_list() */
/* ---- end of events for the application: bounds ---- */

enum queue_msg_state {
	QUEUE_MSG_QUEUED = 0,
	QUEUE_MSG_SENDING,
	QUEUE_MSG_DEFERRED,
	QUEUE_MSG_SENT,
	QUEUE_MSG_FAILED,
	QUEUE_MSG_HELD,
	QUEUE_MSG_NSTATES
};

enum queue_rcpt_state {
	QUEUE_RCPT_PENDING = 0,
	QUEUE_RCPT_SENT,
	QUEUE_RCPT_DEFERRED,
	QUEUE_RCPT_FAILED,
	QUEUE_RCPT_NSTATES
};

/* "queued", "sending", ...; NULL for a value out of range. */
const char *queue_msg_state_name(int state);
const char *queue_rcpt_state_name(int state);
/* The state named s, or -1. */
int queue_msg_state_parse(const char *s);
int queue_rcpt_state_parse(const char *s);
/* 1 if s has the form of a message id (QUEUE_ID_LEN base32 characters). */
int queue_id_valid(const char *s);

/* ---- What callers pass in ---- */

struct queue_new {
	const char *sender;            /* reverse-path; "" = null sender <> */
	const char *const *rcpts;      /* 1..QUEUE_RCPTS_MAX addresses */
	size_t nrcpts;
	const void *body;              /* the message as received, CRLF lines */
	size_t len;
	int state;                     /* QUEUE_MSG_QUEUED, QUEUE_MSG_HELD, or
	                                * QUEUE_MSG_SENDING: stored already
	                                * claimed by the caller, who delivers it
	                                * at once (send --now, the web page's
	                                * test email) and then records it */
	const char *profile;           /* profile asked for (send --profile),
	                                * NULL = the first enabled one */
	/* events for the application */
	const char *metadata;          /* a JSON object's text, kept as it is
	                                * and echoed in its events; NULL none */
	const char *idem_key;          /* Idempotency-Key: a submission with a
	                                * key stored within QUEUE_IDEM_KEEP_S
	                                * stores nothing and returns the first
	                                * one's id; NULL none */
	int *replayed;                 /* out (may be NULL): 1 when idem_key
	                                * named an earlier message */
};

struct queue_rcpt_result {
	unsigned idx;                  /* the recipient's index (queue_rcpt.idx) */
	int state;                     /* QUEUE_RCPT_SENT, _DEFERRED or _FAILED */
	int code;                      /* SMTP reply code; 0 = no reply (a
	                                * connection or TLS failure) */
	const char *enhanced;          /* "5.1.1", NULL or "" if none */
	const char *reply;             /* reply text, already sanitised with
	                                * log_sanitize(); cut to QUEUE_REPLY_MAX */
	int suppressed;                /* 1: not attempted, the address is on
	                                * the suppression list (state FAILED;
	                                * event "suppressed") */
	int suppress;                  /* 1: put the address on the
	                                * suppression list (a permanent refusal
	                                * that will not change) */
};

struct queue_event_new {
	const char *kind;              /* short word: "connect", "failover" */
	const char *text;              /* sanitised; cut to QUEUE_TEXT_MAX */
};

/* The outcome of one delivery attempt of one message. */
struct queue_outcome {
	const char *id;
	int64_t now;                   /* when the attempt ended */
	const char *profile_used;      /* NULL: keep the one recorded before */
	const struct queue_rcpt_result *results;  /* recipients attempted */
	size_t nresults;
	int64_t next_attempt;          /* when a deferred recipient is retried */
	const char *error;             /* message-level summary for last_error;
	                                * NULL: the first result not sent, as
	                                * "550 5.1.1 text" */
	unsigned sends;                /* > 0 with profile_used: count this many
	                                * sends for the profile's quotas (as
	                                * queue_rate_add) in the same commit */
	const struct queue_event_new *events;     /* extra events to log */
	size_t nevents;
};

/* A claimed message that waits without an attempt: the profiles that
 * would take it answered 421 or asked to slow down, are paused or cooling
 * down.  No attempt is counted and no event logged (the caller logs what
 * happened once, not at every pass of the scheduler). */
struct queue_wait {
	const char *id;
	int64_t now;
	int64_t next_attempt;          /* due again then */
	const char *error;             /* why it waits: last_error; NULL:
	                                * unchanged */
	int code;                      /* > 0: the reply that made it wait (a
	                                * 421), given to every recipient not yet
	                                * ended as its last result (state
	                                * deferred, attempts unchanged) */
	const char *enhanced;          /* "4.3.2", NULL or "" if none */
	const char *reply;             /* sanitised, without the codes; with
	                                * code 0 (a local reason: no OAuth2
	                                * token) it is still each open
	                                * recipient's last result */
};

/* ---- What comes back ---- */

struct queue_rcpt {
	unsigned idx;                  /* position in the message, from 0 */
	const char *address;
	int state;                     /* enum queue_rcpt_state */
	int code;                      /* last SMTP code, 0 if none yet */
	const char *enhanced;          /* last enhanced status code, "" if none */
	const char *reply;             /* last reply text, "" if none */
	unsigned attempts;
	int64_t updated;               /* time of the last result, 0 if none */
	const char *profile;           /* the profile that delivered it, if
	                                * sent (NULL if not known) */
	const char *node;              /* the node that recorded the last
	                                * result (PostgreSQL; NULL if none) */
	int suppressed;                /* queue_claim: the address is on the
	                                * suppression list */
};

struct queue_msg {
	char id[QUEUE_ID_SIZE];
	const char *sender;
	uint64_t size;                 /* body bytes */
	int state;                     /* enum queue_msg_state */
	unsigned attempts;             /* delivery attempts made */
	int64_t created;               /* accepted */
	int64_t since;                 /* start of the current lifetime: created,
	                                * or the last retry/release; the relay
	                                * fails it when now - since exceeds
	                                * queue_lifetime */
	int64_t next_attempt;
	int64_t updated;               /* last change */
	const char *profile;           /* profile asked for, NULL if none */
	const char *profile_used;      /* last profile tried, NULL if none */
	const char *last_error;        /* NULL if none */
	const char *node;              /* the node that claimed it last, then
	                                * recorded its latest attempt
	                                * (PostgreSQL; NULL if none) */
	size_t nrcpts_total;           /* recipients of the message */
	const char *metadata;          /* JSON object text, NULL if none */
	const char *subject;           /* Subject header (cut), NULL if none */
	const char *first_rcpt;        /* queue_list: the first recipient */
	const char *last_reply;        /* queue_list: its latest result as
	                                * "250 2.0.0 text", NULL if none */
	struct queue_rcpt *rcpts;      /* queue_claim: the recipients still to
	                                * deliver (pending or deferred);
	                                * queue_get: all; queue_list: NULL */
	size_t nrcpts;                 /* entries in rcpts */
};

struct queue_event {
	int64_t at;
	const char *kind;
	const char *text;
};

struct queue_arena;

/* An event for a webhook, from the outbox (queue_outbox_claim()). */
struct queue_outbox_ev {
	int64_t oid;                   /* the outbox row */
	const char *hook;              /* the webhook's name */
	const char *kind;              /* queued sent deferred failed
	                                * suppressed */
	const char *id;                /* the message */
	const char *rcpt;
	int code;                      /* SMTP code, 0 none */
	const char *enhanced;          /* "" none */
	const char *reply;             /* "" none */
	const char *profile;           /* NULL none */
	const char *node;              /* NULL none */
	unsigned attempt;              /* the recipient's attempts so far */
	int64_t at;                    /* when it happened */
	const char *metadata;          /* the message's, NULL none (or the
	                                * message was deleted) */
	unsigned tries;                /* deliveries of the event tried */
};

/* A suppressed address (queue_supp_list()). */
struct queue_supp {
	const char *address;           /* lowercase */
	const char *reason;            /* the reply that put it there */
	int64_t at;
	const char *id;                /* the message that was refused */
};

/* A result set: owns every string and array it points to. */
struct queue_set {
	struct queue_msg *msgs;
	size_t n;
	struct queue_event *events;    /* queue_get only: the message's events,
	                                * oldest first */
	size_t nevents;
	struct queue_outbox_ev *outbox;/* queue_outbox_claim only */
	size_t noutbox;
	struct queue_supp *supps;      /* queue_supp_list only */
	size_t nsupps;
	struct queue_arena *arena;     /* private */
	struct queue_rcpt *rcpt_store; /* private */
};

void queue_set_free(struct queue_set *s);

struct queue_list_opts {
	int state;                     /* enum queue_msg_state, or -1 for all */
	size_t limit;                  /* 0 = 100; at most QUEUE_LIST_MAX */
	const char *before;            /* id: list only older messages (paging);
	                                * NULL = from the newest */
	/* searches (NULL / 0: any); each narrows the list */
	const char *to;                /* a recipient, exact, any case
	                                * (index recipients_address) */
	const char *from;              /* the sender, exact, any case: a
	                                * scan like subject (no index: it
	                                * would cost every submission) */
	const char *subject;           /* a part of the Subject, any case: a
	                                * scan, newest first, bounded by
	                                * since/until and limit */
	int64_t since;                 /* accepted at or after, 0 any */
	int64_t until;                 /* accepted before, 0 any */
};

/* The events a webhook asks for (a bit each). */
enum queue_hook_event {
	QUEUE_HOOK_QUEUED = 1 << 0,
	QUEUE_HOOK_SENT = 1 << 1,
	QUEUE_HOOK_DEFERRED = 1 << 2,
	QUEUE_HOOK_FAILED = 1 << 3,
	QUEUE_HOOK_SUPPRESSED = 1 << 4,
};

struct queue_hook {
	const char *name;              /* [webhook NAME] */
	unsigned events;               /* enum queue_hook_event bits */
};

/* What became of claimed outbox events (queue_outbox_finish()). */
struct queue_outbox_done {
	int64_t oid;
	int64_t next_try;              /* 0: delivered or dropped (the row
	                                * goes); else tried again then */
};

struct queue_rate_bucket {
	int64_t at;                    /* time of the latest send in the bucket */
	uint64_t count;                /* sends in the bucket's minute */
};

/* Delivery outcomes, counted by the store as they are recorded, by
 * whichever process recorded them (the daemon, `send --now`, the page's
 * test email), kept in the database: totals since the queue was made. */
enum queue_count {
	QUEUE_COUNT_SENT = 0,          /* attempts that left the message sent */
	QUEUE_COUNT_DEFERRED,          /* ... deferred */
	QUEUE_COUNT_FAILED,            /* ... failed (also queue_fail()) */
	QUEUE_COUNT_RCPT_SENT,         /* recipient results, by state */
	QUEUE_COUNT_RCPT_DEFERRED,
	QUEUE_COUNT_RCPT_FAILED,
	QUEUE_COUNT_N
};

struct queue_counter {
	char profile[QUEUE_PROFILE_MAX + 1];   /* "-": no profile (expiry) */
	uint64_t n[QUEUE_COUNT_N];
};

struct queue_stats {
	uint64_t commits;              /* transactions committed */
	uint64_t jobs;                 /* operations committed (one per call) */
	uint64_t submitted;            /* messages accepted */
	uint64_t failed_batches;       /* transactions that failed as a whole */
	uint64_t max_batch;            /* most operations in one commit */
	uint64_t checkpoints;          /* background WAL checkpoints
	                                * (QUEUE_OPEN_DAEMON) */
};

/* Called from the store's committer (or sync) thread once the submission
 * is durable (rc 0, id set) or has failed (rc -1, e set).  It must be quick
 * and must not call queue functions on the same handle (they would wait
 * for the thread that runs the callback); post to the caller's event loop
 * (an eventfd or a pipe) instead.  id and e are valid only during the
 * call. */
typedef void (*queue_submit_cb)(void *arg, int rc, const char *id,
    const struct op_err *e);

/* The same for queue_record_async(): rc 0 and the message's new state, or
 * rc -1 and e.  Runs on the same thread; the same rules as
 * for queue_submit_cb. */
typedef void (*queue_record_cb)(void *arg, int rc, int state,
    const struct op_err *e);

/* ---- Cluster state (PostgreSQL; see "Cluster state" below) ---- */

struct queue_limit {
	uint64_t count;                /* at most this many sends ... */
	uint32_t period_s;             /* ... in any window of this long */
};

/* What the nodes share of a profile's health.  Times are durations from
 * now (the database's clock decides, so the nodes' clocks need not
 * agree): 0 = none in force. */
struct queue_pstate {
	char profile[QUEUE_PROFILE_MAX + 1];
	int64_t pause_ms;              /* paused (421, slow-down, quota) for */
	int64_t cooldown_ms;           /* cooling down (broken) for */
	unsigned slowdowns;            /* consecutive 421s and slow-downs */
	unsigned failures;             /* consecutive failures to open */
	char reason[QUEUE_TEXT_MAX];   /* why, "" when lifted */
	char node[QUEUE_NODE_MAX + 1]; /* the node that wrote it (load) */
	int64_t seq;                   /* grows with every write (load) */
};

/* Deliveries per node (PostgreSQL: each node's own share of the totals
 * of queue_counters()). */
struct queue_node_counter {
	char node[QUEUE_NODE_MAX + 1];
	uint64_t n[QUEUE_COUNT_N];
};

/* queue_changes() kinds. */
#define QUEUE_CHANGE_PSTATE 0     /* a profile's pause or cool-down */
#define QUEUE_CHANGE_SETTINGS 1   /* the shared settings */

/* ---- The interface a backend implements ---- */

struct queue;

struct queue_ops {
	const char *name;
	int (*submit)(struct queue *q, const struct queue_new *m,
	    char id[QUEUE_ID_SIZE], struct op_err *e);
	int (*submit_async)(struct queue *q, const struct queue_new *m,
	    queue_submit_cb cb, void *arg, struct op_err *e);
	int (*claim)(struct queue *q, int64_t now, size_t max,
	    struct queue_set *out, struct op_err *e);
	int (*claim_id)(struct queue *q, const char *id, int64_t now,
	    struct queue_set *out, struct op_err *e);
	int (*body_get)(struct queue *q, const char *id, char **body,
	    size_t *len, struct op_err *e);
	int (*body_read)(struct queue *q, const char *id, uint64_t off,
	    void *dst, size_t n, size_t *got, struct op_err *e);
	int (*record)(struct queue *q, const struct queue_outcome *o,
	    int *state, struct op_err *e);
	int (*record_async)(struct queue *q, const struct queue_outcome *o,
	    queue_record_cb cb, void *arg, struct op_err *e);
	int (*unclaim)(struct queue *q, const char *id, int64_t next_attempt,
	    const char *reason, struct op_err *e);
	int (*fail)(struct queue *q, const char *id, int64_t now,
	    const char *reason, struct op_err *e);
	int (*wait)(struct queue *q, const struct queue_wait *w,
	    struct op_err *e);
	int (*advance)(struct queue *q, int64_t now, int64_t until,
	    uint64_t *n, struct op_err *e);
	int (*event_add)(struct queue *q, const char *id, int64_t now,
	    const char *kind, const char *text, struct op_err *e);
	int (*recover)(struct queue *q, int64_t now, int64_t claimed_before,
	    uint64_t *n, struct op_err *e);
	int (*hold_all)(struct queue *q, int64_t now, const char *reason,
	    uint64_t *n, struct op_err *e);
	int (*release_held)(struct queue *q, int64_t now, uint64_t *n,
	    struct op_err *e);
	int (*retry)(struct queue *q, const char *id, int64_t now,
	    struct op_err *e);
	int (*retry_all)(struct queue *q, int state, int64_t now, uint64_t *n,
	    struct op_err *e);
	int (*del)(struct queue *q, const char *id, struct op_err *e);
	int (*purge)(struct queue *q, int64_t before, size_t max, uint64_t *n,
	    struct op_err *e);
	int (*list)(struct queue *q, const struct queue_list_opts *o,
	    struct queue_set *out, struct op_err *e);
	int (*get)(struct queue *q, const char *id, struct queue_set *out,
	    struct op_err *e);
	int (*counts)(struct queue *q, uint64_t counts[QUEUE_MSG_NSTATES],
	    struct op_err *e);
	int (*next_due)(struct queue *q, int64_t *when, int *found,
	    struct op_err *e);
	int (*counters)(struct queue *q, struct queue_counter **out, size_t *n,
	    struct op_err *e);
	int (*rate_add)(struct queue *q, const char *profile, int64_t now,
	    unsigned n, struct op_err *e);
	int (*rate_load)(struct queue *q, const char *profile, int64_t since,
	    struct queue_rate_bucket **out, size_t *n, struct op_err *e);
	/* events for the application */
	int (*outbox_claim)(struct queue *q, const char *hook, int64_t now,
	    size_t max, struct queue_set *out, struct op_err *e);
	int (*outbox_finish)(struct queue *q, const struct queue_outbox_done *d,
	    size_t n, struct op_err *e);
	int (*outbox_count)(struct queue *q, uint64_t *n, struct op_err *e);
	int (*supp_list)(struct queue *q, const char *after, size_t limit,
	    struct queue_set *out, struct op_err *e);
	int (*supp_delete)(struct queue *q, const char *address,
	    struct op_err *e);
	int (*supp_check)(struct queue *q, const char *const *addrs, size_t n,
	    int *out, int *empty, struct op_err *e);
	/* optional (NULL: no other process makes work for this one) */
	int (*watch)(struct queue *q, void (*cb)(void *), void *arg,
	    struct op_err *e);
	/* ---- cluster state (optional: NULL for a store of one node) ---- */
	int (*rate_reserve)(struct queue *q, const char *profile,
	    const struct queue_limit *limits, size_t nlimits, int64_t *slot,
	    int64_t *wait_ms, struct op_err *e);
	int (*rate_release)(struct queue *q, int64_t slot, struct op_err *e);
	int (*pstate_put)(struct queue *q, const struct queue_pstate *ps,
	    struct op_err *e);
	int (*pstate_load)(struct queue *q, struct queue_pstate **out,
	    size_t *n, struct op_err *e);
	int (*settings_get)(struct queue *q, char **text, int64_t *version,
	    struct op_err *e);
	int (*settings_put)(struct queue *q, const char *text, int64_t expect,
	    int64_t *version, struct op_err *e);
	unsigned (*changes)(struct queue *q, int what);
	int (*node_counters)(struct queue *q, struct queue_node_counter **out,
	    size_t *n, struct op_err *e);
	/* ---- end of cluster state ---- */
	void (*stats)(struct queue *q, struct queue_stats *st);
	void (*close)(struct queue *q);
};

/* A backend's handle starts with this. */
struct queue {
	const struct queue_ops *ops;
};

/* ---- The functions callers use ---- */

/* queue_open() flags. */
#define QUEUE_OPEN_CHECK 0x1      /* run PRAGMA quick_check: reads the whole
                                   * file; the daemon does it at start, the
                                   * short-lived CLI commands do not */
#define QUEUE_OPEN_DAEMON 0x2     /* a long-lived handle: WAL checkpoints
                                   * run in a thread of their own, so no
                                   * commit (and no 250) waits for one */

/*
 * Open (creating if missing) the queue at path: a directory (data_dir,
 * created mode 0700; the database is path/queue.db) or, if path ends in
 * ".db" or names an existing regular file, the database file itself
 * (created mode 0600).  The database runs in WAL mode with
 * synchronous=FULL.  Fails with ERR_IO and a message naming the file and
 * the fix if the file is not a queue database or (with QUEUE_OPEN_CHECK)
 * is corrupt; ERR_CONFIG if a newer Outpost made it; ERR_TEMP if another
 * process kept it locked.  Never starts an empty queue in place of a
 * damaged one.
 */
int queue_open(const char *path, unsigned flags, struct queue **out,
    struct op_err *e);
/*
 * Open the queue a configuration names: database NULL or "" is SQLite in
 * data_dir (queue_open()); "postgresql://..." or "postgres://..." (a libpq
 * URI) is the PostgreSQL backend (queue_pg.c), shared by several nodes,
 * with node naming this one in claims and results (NULL or "": the host
 * name).  queue_open() takes such a URI as its path too (node: the host
 * name).  ERR_TEMP when the database cannot be reached.
 */
int queue_open_db(const char *data_dir, const char *database,
    const char *node, unsigned flags, struct queue **out, struct op_err *e);
/* 1 if database names a PostgreSQL database (a postgresql:// URI). */
int queue_db_is_pg(const char *database);
/*
 * Call cb(arg) when another process (another node) made work due in the
 * shared database (LISTEN/NOTIFY); it runs on a thread of the store and
 * must be quick (relay_wake()).  A no-op returning 0 for SQLite, where
 * the daemon's poll finds the work of other processes.  cb NULL: no more
 * calls (none runs any more once this returns).
 */
int queue_watch(struct queue *q, void (*cb)(void *), void *arg,
    struct op_err *e);
/* Finish every submission already made (their callbacks run), then free
 * the handle.  NULL is ignored. */
void queue_close(struct queue *q);

/*
 * Store a message; returns 0 once it is committed to disk, with its id in
 * id (acknowledge only then).  The body is stored as given.  ERR_DATA for
 * bad arguments, ERR_TEMP ("disk full", I/O error, locked) when it could
 * not be stored: nothing was stored, and later submissions work again once
 * the cause is gone.
 */
int queue_submit(struct queue *q, const struct queue_new *m,
    char id[QUEUE_ID_SIZE], struct op_err *e);
/*
 * The same without waiting: returns 0 if the submission was taken (cb will
 * run exactly once, after the commit returned or failed), -1 if it was
 * refused at once (bad arguments; cb will not run).  m and everything it
 * points to must stay valid and unchanged until cb runs.
 */
int queue_submit_async(struct queue *q, const struct queue_new *m,
    queue_submit_cb cb, void *arg, struct op_err *e);

/*
 * Claim up to max (at most QUEUE_CLAIM_MAX) due messages - queued or
 * deferred with next_attempt <= now, earliest first - moving them to
 * "sending" in one transaction.  out->msgs[i].rcpts lists the recipients
 * still to deliver.  out->n may be 0.  Every claimed message must later get
 * queue_record(), queue_fail() or queue_unclaim(); after a crash,
 * queue_recover() puts them back.
 */
int queue_claim(struct queue *q, int64_t now, size_t max,
    struct queue_set *out, struct op_err *e);

/* Claim one message by id (`outpost send --now`): like queue_claim(),
 * for that message only, whether or not it is due.  ERR_DATA if it is not
 * queued or deferred (unknown, being sent, ended or held). */
int queue_claim_id(struct queue *q, const char *id, int64_t now,
    struct queue_set *out, struct op_err *e);

/* The whole body: *body is malloc'ed (NUL-terminated for convenience, not
 * counted in *len); the caller frees it. */
int queue_body_get(struct queue *q, const char *id, char **body,
    size_t *len, struct op_err *e);
/* Up to n bytes of the body from offset off into dst; *got is 0 at the
 * end.  For streaming a large body without holding all of it. */
int queue_body_read(struct queue *q, const char *id, uint64_t off,
    void *dst, size_t n, size_t *got, struct op_err *e);

/*
 * Record one attempt: each result updates its recipient (state, code,
 * enhanced code, reply, attempts + 1) and is logged as an event
 * ("<rcpt> via PROFILE: 550 5.1.1 text"); the message gets attempts + 1,
 * profile_used (if given), last_error (o->error, else the first result
 * not sent; unchanged when every result was sent, and none once every
 * recipient of the message is delivered), its new state by the
 * rule above (returned in *state if not NULL) and, if deferred,
 * next_attempt.  All in one transaction.  The message need not be
 * "sending" (a test email is recorded right after its submission).
 * ERR_DATA for a result of an unknown recipient index: nothing changes.
 */
int queue_record(struct queue *q, const struct queue_outcome *o,
    int *state, struct op_err *e);
/* The same without waiting for the commit: 0 if taken (cb runs exactly
 * once, after the commit returned or failed), -1 if refused at once (cb
 * will not run).  o and everything it points to must stay valid until cb
 * runs.  The delivery workers use it so that the next message does not
 * wait for the last one's fsync: if Outpost stops before the commit, the
 * message is still "sending" and is recovered and sent again (at least
 * once). */
int queue_record_async(struct queue *q, const struct queue_outcome *o,
    queue_record_cb cb, void *arg, struct op_err *e);
/* Give a claimed message back without an attempt (a quota was full, the
 * daemon is stopping): deferred if it was attempted before, else queued,
 * due at next_attempt.  reason (may be NULL) is logged as an event. */
int queue_unclaim(struct queue *q, const char *id, int64_t next_attempt,
    const char *reason, struct op_err *e);
/* Give the message back as w says (struct queue_wait above): deferred
 * when it was attempted or a recipient is deferred (by this reply or an
 * earlier one), else queued, due at w->next_attempt.  ERR_DATA if it is
 * not being sent. */
int queue_wait(struct queue *q, const struct queue_wait *w, struct op_err *e);
/* Every queued or deferred message due after now and at or before until
 * becomes due now (a profile the messages waited for was changed); *n how
 * many. */
int queue_advance(struct queue *q, int64_t now, int64_t until, uint64_t *n,
    struct op_err *e);
/* Fail every recipient not yet ended, for good (queue lifetime exceeded):
 * reason becomes last_error and an event; the message becomes failed, or
 * sent if some recipient was delivered before (the rule above). */
int queue_fail(struct queue *q, const char *id, int64_t now,
    const char *reason, struct op_err *e);
/* Append an event to a message's log. */
int queue_event_add(struct queue *q, const char *id, int64_t now,
    const char *kind, const char *text, struct op_err *e);

/* At daemon start: messages left "sending" by a crash go back to queued
 * (or deferred if attempted before), due at once; *n counts them.  Only
 * the daemon calls this: a CLI command must not steal live claims.  With
 * PostgreSQL, "a crash" is of this node: its own claims (by node name) go
 * back, and so does any claim whose lease lapsed (its node died); a live
 * lease of another node is never taken (also by queue_recover_stale()). */
int queue_recover(struct queue *q, int64_t now, uint64_t *n,
    struct op_err *e);
/* The same for claims older than max_age_s only: a `send --now` that was
 * interrupted leaves its message "sending"; the daemon gives such stale
 * claims back while it runs.  No claim of the daemon's lives that long
 * (an attempt has an overall deadline; quota waits give the claim back). */
int queue_recover_stale(struct queue *q, int64_t now, int64_t max_age_s,
    uint64_t *n, struct op_err *e);
/* Hold every queued and deferred message (no profile is enabled). */
int queue_hold_all(struct queue *q, int64_t now, const char *reason,
    uint64_t *n, struct op_err *e);
/* Release every held message: queued, due now, lifetime restarted. */
int queue_release_held(struct queue *q, int64_t now, uint64_t *n,
    struct op_err *e);

/* `outpost queue retry`: a deferred, failed, held or queued message (or a
 * sent one with failed recipients) becomes queued, due now, lifetime
 * restarted; its failed and deferred recipients become pending, and
 * their addresses leave the suppression list (an operator asked to try
 * them again).
 * ERR_DATA if there is nothing to retry (all sent) or it is being sent. */
int queue_retry(struct queue *q, const char *id, int64_t now,
    struct op_err *e);
/* `outpost queue retry --all | --status S`: queue_retry() for every
 * message in state (QUEUE_MSG_QUEUED, _DEFERRED, _FAILED or _HELD), or
 * with state -1 in any of those four, in one transaction; *n how many.
 * Messages being sent are left alone, and so are sent ones (retry a sent
 * message's failed recipients by its id).  ERR_DATA for another state. */
int queue_retry_all(struct queue *q, int state, int64_t now, uint64_t *n,
    struct op_err *e);
/* Remove a message with its recipients, body and events.  A message in
 * "sending" may still be delivered by the attempt in progress. */
int queue_delete(struct queue *q, const char *id, struct op_err *e);
/* Retention: remove at most max messages that ended (sent or failed)
 * before `before` (wall-clock seconds), with their recipients, bodies and
 * events; *n how many (fewer than max: none of them is left). */
int queue_purge(struct queue *q, int64_t before, size_t max, uint64_t *n,
    struct op_err *e);

/* Newest first (o NULL: the newest 100 of any state); msgs[i].rcpts is
 * NULL, nrcpts_total is set.  ERR_NOINPUT if o->before is no message. */
int queue_list(struct queue *q, const struct queue_list_opts *o,
    struct queue_set *out, struct op_err *e);
/* One message (out->n == 1) with all its recipients and its latest
 * QUEUE_EVENTS_MAX events. */
int queue_get(struct queue *q, const char *id, struct queue_set *out,
    struct op_err *e);
/* Messages per state, indexed by enum queue_msg_state. */
int queue_counts(struct queue *q, uint64_t counts[QUEUE_MSG_NSTATES],
    struct op_err *e);
/* The earliest next_attempt of a queued or deferred message (*found 1),
 * so the scheduler can sleep until then; *found 0 if there is none. */
int queue_next_due(struct queue *q, int64_t *when, int *found,
    struct op_err *e);

/* The delivery counters (enum queue_count) per profile, in the order of
 * the profiles' names; *out is malloc'ed (NULL when *n is 0), the caller
 * frees it.  queue_record() and queue_fail() add to them in their own
 * transaction. */
int queue_counters(struct queue *q, struct queue_counter **out, size_t *n,
    struct op_err *e);

/*
 * Provider quotas across restarts.  Sends are counted per profile in
 * one-minute buckets (minute = time / 60).  queue_rate_load() returns the
 * buckets from the minute of since on, oldest first (*out is malloc'ed,
 * the caller frees it; NULL when *n is 0).  Each bucket is dated by its
 * latest send, and the first may hold sends from just before since, so
 * preloading them can only overestimate use, never exceed a quota.
 * Buckets older than two days are pruned (the longest quota is N/d).
 */
int queue_rate_add(struct queue *q, const char *profile, int64_t now,
    unsigned n, struct op_err *e);
int queue_rate_load(struct queue *q, const char *profile, int64_t since,
    struct queue_rate_bucket **out, size_t *n, struct op_err *e);

/* Counters since open (for tests, benchmarks and /metrics). */
void queue_stats(struct queue *q, struct queue_stats *st);

/*
 * ===== Cluster state =====
 *
 * What several nodes on one database share besides the queue.  SQLite
 * (one node) has none of it: queue_shared() is 0, and each function
 * below returns -1 with ERR_SOFTWARE (queue_changes() returns 0).
 */
/* 1 if the store is shared by several nodes (PostgreSQL). */
int queue_shared(struct queue *q);
/*
 * A provider quota across every node: reserve one send of profile under
 * limits (each at most count sends in any window of period_s seconds,
 * counted on the database's clock).  *slot > 0: reserved (give it back
 * with queue_rate_release() if nothing was sent after all); *slot 0: the
 * quota is full, *wait_ms until a send frees up.  Two nodes reserving at
 * once never both exceed a limit (one transaction under a lock per
 * profile).
 */
int queue_rate_reserve(struct queue *q, const char *profile,
    const struct queue_limit *limits, size_t nlimits, int64_t *slot,
    int64_t *wait_ms, struct op_err *e);
int queue_rate_release(struct queue *q, int64_t slot, struct op_err *e);
/* Store a profile's pause, cool-down and their reason for every node
 * (and wake them: queue_changes(QUEUE_CHANGE_PSTATE) grows). */
int queue_pstate_put(struct queue *q, const struct queue_pstate *ps,
    struct op_err *e);
/* Every profile's stored state; *out is malloc'ed (NULL when *n is 0). */
int queue_pstate_load(struct queue *q, struct queue_pstate **out, size_t *n,
    struct op_err *e);
/* The shared settings: the text of the profile, [redirect] and [report]
 * sections (config/conf_shared.h) and its version; *text NULL and
 * *version 0 when none was stored yet.  *text is malloc'ed. */
int queue_settings_get(struct queue *q, char **text, int64_t *version,
    struct op_err *e);
/* Store them if the stored version is still expect (0: none stored yet);
 * ERR_NOINPUT if someone else stored another version meanwhile (nothing
 * changed).  *version the new one.  Every node hears
 * of it (queue_changes(QUEUE_CHANGE_SETTINGS) grows). */
int queue_settings_put(struct queue *q, const char *text, int64_t expect,
    int64_t *version, struct op_err *e);
/* A count that grows when another node (or this one) changed what (a
 * QUEUE_CHANGE_ kind), and after the store reconnected (a change may have
 * been missed); only for a handle with queue_watch() on.  Cheap. */
unsigned queue_changes(struct queue *q, int what);
/* Delivery counters per node (ordered by node); *out malloc'ed. */
int queue_node_counters(struct queue *q, struct queue_node_counter **out,
    size_t *n, struct op_err *e);
/* ---- Events for the application (webhooks) and suppression ----
 *
 * The outbox: with webhooks set (queue_hooks_set()), every outcome the
 * store records writes, in the same transaction, one outbox row per
 * recipient, event and webhook that asks for its kind: "queued" at
 * submission, "sent" / "deferred" / "failed" per result of
 * queue_record(), "suppressed" for a result marked so, "failed" for each
 * open recipient of queue_fail().  Without webhooks no row is written.
 */
/* The webhooks of this handle (copied; n 0: none).  ERR_DATA past
 * QUEUE_HOOKS_MAX or a name out of bounds. */
int queue_hooks_set(struct queue *q, const struct queue_hook *hooks,
    size_t n, struct op_err *e);
/* Claim up to max (at most QUEUE_OUTBOX_CLAIM_MAX) events of webhook hook
 * that are due, oldest first, each the oldest of its message for that
 * webhook not yet delivered (so a message's events go out in order),
 * with a lease of a few minutes (a crash sends them again: at least
 * once).  With PostgreSQL, rows another node claimed are skipped (FOR
 * UPDATE SKIP LOCKED).  out->outbox, out->noutbox. */
int queue_outbox_claim(struct queue *q, const char *hook, int64_t now,
    size_t max, struct queue_set *out, struct op_err *e);
/* Delivered or dropped (row removed), or to try again at next_try. */
int queue_outbox_finish(struct queue *q, const struct queue_outbox_done *d,
    size_t n, struct op_err *e);
/* Events waiting in the outbox (every webhook). */
int queue_outbox_count(struct queue *q, uint64_t *n, struct op_err *e);
/* Suppressed addresses in order, after `after` (NULL: from the first),
 * at most limit (0: 100; at most QUEUE_SUPP_LIST_MAX): out->supps. */
int queue_supp_list(struct queue *q, const char *after, size_t limit,
    struct queue_set *out, struct op_err *e);
/* Remove an address (any case) from the list; ERR_NOINPUT if absent. */
int queue_supp_delete(struct queue *q, const char *address,
    struct op_err *e);
/* out[i] 1 when addrs[i] is suppressed.  A list found empty is not read
 * again for QUEUE_SUPP_EMPTY_MS (the listener's hand-off asks for every
 * message), unless this handle added to it: an address another process
 * suppressed is seen within that time. */
#define QUEUE_SUPP_EMPTY_MS 1000
int queue_supp_check(struct queue *q, const char *const *addrs, size_t n,
    int *out, struct op_err *e);
/* The Subject header of a message (unfolded, cut to QUEUE_SUBJECT_MAX-1
 * bytes) into dst; "" if none. */
void queue_subject_of(const char *body, size_t len, char *dst, size_t dstsz);
/* ---- end of events for the application ---- */

#endif
