/*
 * relay.c - scheduler, routing, failover, per-profile worker pools.
 *
 * Locking: one mutex (r->lock) guards the profile table, every job list
 * and the counters.  It is never held across network or database I/O:
 * routing decides under the lock and acts on the queue after unlocking.
 */
#include "relay/relay.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oauth/oauth.h"
#include "relay/deliver.h"
#include "relay/hints.h"
#include "relay/policy.h"
#include "relay/ratelimit.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/net.h"

/* A quota or pause longer than this gives the work back (to another
 * profile, or to the queue until then) instead of holding it. */
#define RELAY_HOLD_MAX_MS 2000
/* Claims older than this were left by an interrupted `send --now`. */
#define RELAY_STALE_CLAIM_S 3600
#define RELAY_STALE_EVERY_MS 300000
#define RELAY_PURGE_EVERY_MS 600000   /* retention: look for old messages */
#define RELAY_PURGE_CHUNK 500         /* messages removed per transaction */
/* The longest a message waits for a profile without an attempt: its
 * cool-down (policy_cooldown_s) or 421 pause (policy_backoff_ms) at most.
 * When a change to a profile lifts one, the messages due within this are
 * made due at once (queue_advance). */
#define RELAY_WAIT_MAX_S 600
/* A profile waiting for an OAuth2 sign-in looks at the token store this
 * often (a sign-in by `outpost oauth login`, another process, ends the
 * wait within about this long; the page's callback wakes the relay). */
#define RELAY_TOKEN_POLL_MS 1000

struct job {
	struct deliver_msg *m;
	char last_error[QUEUE_TEXT_MAX];
	struct job *next;
};

/* What we know of one profile, kept across reloads (by name). */
struct pstate {
	char *name;
	struct ratelimit *rl;
	char limits_sig[128];          /* to notice changed limits */
	int64_t cooldown_until_ms;     /* broken: not before then */
	unsigned failures;             /* consecutive open failures */
	int64_t pause_until_ms;        /* provider asked to slow down */
	unsigned slowdowns;
	uint64_t conn_sig;             /* host, port, security, credentials */
	int token_wait;                /* paused until someone signs in (OAuth2) */
	char why[QUEUE_TEXT_MAX];      /* why it is cooling down or paused */
	int64_t db_seq;                /* cluster: the stored state last taken */
	struct deliver_reply *reply;   /* the reply that paused it, or NULL */
	struct job *head, *tail;       /* waiting for a worker */
	size_t njobs;
	unsigned workers;              /* threads running for it */
	unsigned idle;                 /* of which waiting for work */
	pthread_cond_t cond;           /* work arrived / stop */
	struct pstate *next;
};

struct relay {
	struct settings *settings;
	struct queue *queue;
	struct metrics *metrics;
	char helo[256];
	pthread_mutex_t lock;
	pthread_cond_t cond;           /* scheduler: wake up */
	pthread_cond_t done;           /* a worker ended */
	pthread_t scheduler;
	int stopping;
	int woken;
	int want_room;                 /* the scheduler found no room to claim */
	int token_now;                 /* a sign-in: look at the token store */
	size_t inflight;
	size_t inflight_bytes;         /* bodies held in memory (fast path) */
	int any_enabled;               /* as of the last settings seen */
	unsigned held_pending;         /* RELAY_HOLD commits not ended yet */
	int release_owed;              /* release held ones once they end */
	unsigned workers;              /* all profiles */
	struct pstate *profiles;
	unsigned pstate_seen;          /* cluster: queue_changes() last seen */
	unsigned settings_seen;
};

struct worker_arg {
	struct relay *r;
	struct pstate *ps;
};

static void
limits_sig(const struct conf_profile *p, char *dst, size_t dstsz)
{
	size_t i, o = 0;

	dst[0] = '\0';
	for (i = 0; i < p->nlimits && o + 32 < dstsz; i++)
		o += (size_t)snprintf(dst + o, dstsz - o, "%llu/%u,",
		    (unsigned long long)p->limits[i].count, p->limits[i].period_s);
}

/* FNV-1a over what decides where and as whom a profile connects (no
 * secret kept: only this hash of it). */
static uint64_t
fnv(uint64_t h, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	h ^= 0xff;               /* end of field: "ab","c" != "a","bc" */
	return h * 1099511628211ULL;
}

static uint64_t
conn_sig(const struct conf_profile *p)
{
	char nums[64];
	uint64_t h = 14695981039346656037ULL;

	snprintf(nums, sizeof(nums), "%u/%d/%d/%d/%d", p->port, p->security,
	    p->tls_verify, p->auth, p->allow_plaintext_auth);
	h = fnv(h, nums);
	h = fnv(h, p->host);
	h = fnv(h, p->tls_ca_file);
	h = fnv(h, p->username);
	return fnv(h, p->password);
}

static struct pstate *
pstate_find(struct relay *r, const char *name)
{
	struct pstate *ps;

	for (ps = r->profiles; ps != NULL; ps = ps->next)
		if (strcmp(ps->name, name) == 0)
			return ps;
	return NULL;
}

/* Preload a new limiter with the sends the queue recorded. */
static void
preload(struct relay *r, struct pstate *ps)
{
	struct queue_rate_bucket *b = NULL;
	size_t n = 0, i;
	struct op_err e;
	int64_t wall = clock_wall_ms(), mono = clock_mono_ms();
	int64_t since = wall / 1000 - ratelimit_horizon_s(ps->rl) - 60;

	if (ratelimit_horizon_s(ps->rl) == 0)
		return;
	if (queue_rate_load(r->queue, ps->name, since, &b, &n, &e) < 0) {
		log_event(LOG_WARN, "quota", "profile", ps->name, "error", e.msg, NULL);
		return;
	}
	/* the queue dates sends by the wall clock, to the second; the limiter
	 * counts on the monotonic one (ratelimit_take): converted, and dated
	 * at the end of their second (a later date only overestimates use) */
	for (i = 0; i < n; i++)
		ratelimit_preload(ps->rl, b[i].at * 1000 + 999, wall, mono,
		    b[i].count);
	free(b);
}

static void pstate_note_locked(struct pstate *ps, const char *why,
    const struct smtp_result *res);

/* Settings changed: a broken profile gets a fresh chance at once (the
 * admin may just have fixed it); one whose host, port, security or
 * credentials changed starts fresh, its 421 pause ended too (a pause the
 * provider asked for otherwise stays).  1 if a cool-down or pause in
 * force was lifted.  Under r->lock. */
static int
fresh_chance(struct pstate *ps, const struct conf_profile *p)
{
	int64_t now = clock_mono_ms();
	uint64_t sig = conn_sig(p);
	int lifted = ps->cooldown_until_ms > now;

	ps->cooldown_until_ms = 0;
	ps->failures = 0;
	if (sig != ps->conn_sig) {
		lifted |= ps->pause_until_ms > now;
		ps->pause_until_ms = 0;
		ps->slowdowns = 0;
		ps->token_wait = 0;
		ps->conn_sig = sig;
	}
	if (lifted)
		pstate_note_locked(ps, "", NULL);
	return lifted;
}

/* Make the profile table match conf (under r->lock); 1 if a profile's
 * cool-down or pause was lifted (fresh_chance). */
static int
reconcile(struct relay *r, const struct conf *conf)
{
	size_t i;
	int lifted = 0;

	for (i = 0; i < conf->nprofiles; i++) {
		const struct conf_profile *p = &conf->profiles[i];
		struct pstate *ps = pstate_find(r, p->name);
		char sig[128];

		limits_sig(p, sig, sizeof(sig));
		if (ps == NULL) {
			ps = mem_alloc(sizeof(*ps));
			ps->name = str_dup(p->name);
			ps->conn_sig = conn_sig(p);
			pthread_cond_init(&ps->cond, NULL);
			ps->next = r->profiles;
			r->profiles = ps;
		} else if (strcmp(ps->limits_sig, sig) == 0) {
			lifted |= fresh_chance(ps, p);
			continue;
		}
		ratelimit_free(ps->rl);
		ps->rl = ratelimit_new(p->limits, p->nlimits);
		str_copy(ps->limits_sig, sizeof(ps->limits_sig), sig);
		preload(r, ps);
		lifted |= fresh_chance(ps, p);
	}
	return lifted;
}

static void *worker_main(void *arg);

static void
spawn_worker(struct relay *r, struct pstate *ps)
{
	struct worker_arg *wa = mem_alloc(sizeof(*wa));
	pthread_attr_t attr;
	pthread_t t;

	wa->r = r;
	wa->ps = ps;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, worker_main, wa) != 0) {
		log_event(LOG_ERROR, "worker", "profile", ps->name,
		    "error", "cannot start a delivery thread", NULL);
		free(wa);
	} else {
		ps->workers++;
		r->workers++;
	}
	pthread_attr_destroy(&attr);
}

enum route_action { ROUTE_QUEUED, ROUTE_HOLD, ROUTE_DEFER, ROUTE_WAIT };

/*
 * Decide where a job goes (under r->lock).  ROUTE_QUEUED: handed to a
 * profile's workers (the job is theirs now).  Otherwise the caller acts on
 * the queue: ROUTE_HOLD (no enabled profile), ROUTE_DEFER (every profile
 * failed for it: one attempt), ROUTE_WAIT (every profile is cooling down
 * or paused, or the ones that failed for it only asked to slow down (421,
 * "rate limit"): give it back until *until_ms, no attempt).
 */
static int
route_locked(struct relay *r, const struct conf *conf, struct job *j,
    int64_t *until_ms, char *why, size_t whysz)
{
	const struct pstate *waiting = NULL;     /* the one it waits for */
	const struct conf_profile *only = NULL;
	int64_t now = clock_mono_ms(), soonest = 0, paused = 0;
	size_t i;
	int enabled = 0;

	if (j->m->profile != NULL) {
		only = conf_profile_find(conf, j->m->profile);
		if (only != NULL && !only->enabled)
			only = NULL;
	}
	for (i = 0; i < conf->nprofiles; i++) {
		const struct conf_profile *p = &conf->profiles[i];
		struct pstate *ps;

		if (!p->enabled || (only != NULL && p != only))
			continue;
		enabled++;
		ps = pstate_find(r, p->name);
		if (ps == NULL)
			continue;
		if (ps->cooldown_until_ms <= now) {
			/* not broken, at most paused: worth waiting for, even
			 * if it just answered this message 421 */
			int64_t t = ps->pause_until_ms > now ? ps->pause_until_ms : now;
			if (paused == 0 || t < paused) {
				paused = t;
				waiting = ps;
			}
		}
		if (deliver_msg_tried(j->m, p->name))
			continue;
		if (ps->cooldown_until_ms > now || ps->pause_until_ms > now) {
			int64_t t = ps->cooldown_until_ms > ps->pause_until_ms ?
			    ps->cooldown_until_ms : ps->pause_until_ms;
			if (soonest == 0 || t < soonest) {
				soonest = t;
				if (j->m->ntried == 0)
					waiting = ps;
			}
			continue;
		}
		j->next = NULL;
		if (ps->tail != NULL)
			ps->tail->next = j;
		else
			ps->head = j;
		ps->tail = j;
		ps->njobs++;
		if (ps->idle > 0)
			pthread_cond_signal(&ps->cond);
		else if (ps->workers < (p->max_connections ? p->max_connections : 1) &&
		    ps->njobs > ps->idle)
			spawn_worker(r, ps);
		return ROUTE_QUEUED;
	}
	if (enabled == 0)
		return ROUTE_HOLD;
	str_copy(why, whysz, waiting != NULL ? waiting->why : "");
	if (waiting != NULL && waiting->reply != NULL && j->m->waited == NULL) {
		/* never tried in this round: it waits for that reply too */
		j->m->waited = mem_alloc(sizeof(*j->m->waited));
		*j->m->waited = *waiting->reply;
	}
	if (j->m->ntried == 0) {
		*until_ms = soonest;
		return ROUTE_WAIT;
	}
	if (paused != 0) {
		/* a profile that failed for it only asked to slow down (or
		 * one not tried is paused): adaptive backoff, not a retry */
		*until_ms = paused;
		return ROUTE_WAIT;
	}
	/* every profile failed for it (or is broken): that was an attempt */
	return ROUTE_DEFER;
}

/* Wake the scheduler when it last found no room and now there is: not on
 * every finished message, which would make it look for due mail (a query)
 * once per delivery. */
static void
room_freed_locked(struct relay *r)
{
	if (r->want_room && RELAY_INFLIGHT_MAX - r->inflight >= RELAY_CLAIM_ROOM) {
		r->want_room = 0;
		r->woken = 1;
		pthread_cond_signal(&r->cond);
	}
}

static void
job_finish(struct relay *r, struct job *j)
{
	size_t bytes = j->m->body != NULL ? j->m->body_len : 0;

	deliver_msg_free(j->m);
	free(j);
	pthread_mutex_lock(&r->lock);
	r->inflight--;
	r->inflight_bytes -= bytes;
	room_freed_locked(r);
	pthread_mutex_unlock(&r->lock);
}

/* Route a job, and act on the queue if no profile takes it. */
static void
route(struct relay *r, const struct conf *conf, struct job *j)
{
	struct deliver_ctx dc = { r->queue, r->metrics, r->helo, 1 };
	int64_t until = 0;
	struct op_err e;
	int action;
	char why[QUEUE_TEXT_MAX];

	/* suppression: recipients on the list end here, no provider asked */
	if (deliver_suppressed(&dc, conf, j->m)) {
		job_finish(r, j);
		return;
	}
	pthread_mutex_lock(&r->lock);
	action = route_locked(r, conf, j, &until, why, sizeof(why));
	pthread_mutex_unlock(&r->lock);
	switch (action) {
	case ROUTE_QUEUED:
		return;
	case ROUTE_HOLD:
		/* back to queued; the scheduler holds everything due while no
		 * profile is enabled */
		if (queue_unclaim(r->queue, j->m->id, clock_wall_ms() / 1000,
		    "no enabled profile", &e) < 0)
			log_event(LOG_ERROR, "unclaim", "id", j->m->id, "error", e.msg, NULL);
		pthread_mutex_lock(&r->lock);
		r->woken = 1;
		pthread_mutex_unlock(&r->lock);
		break;
	case ROUTE_DEFER:
		if (!deliver_expire(&dc, conf, j->m))
			deliver_defer_all(&dc, conf, j->m,
			    j->m->ntried > 0 ? j->m->tried[j->m->ntried - 1] : NULL,
			    j->last_error[0] ? j->last_error : "no profile could take the message");
		break;
	case ROUTE_WAIT:
		/* no attempt and no event (one per scheduler pass would fill
		 * the history): the reply that made it wait, else why the
		 * profile waited for is paused, is its last error */
		deliver_wait(&dc, conf, j->m,
		    j->m->ntried > 0 ? j->m->tried[j->m->ntried - 1] : NULL,
		    j->last_error[0] ? j->last_error : why,
		    until - clock_mono_ms());
		break;
	}
	job_finish(r, j);
}

/* Why ps is paused or cooling down: why, and res's reply if it has one
 * (for the messages that wait for it).  Under r->lock. */
static void
pstate_note_locked(struct pstate *ps, const char *why,
    const struct smtp_result *res)
{
	log_sanitize(ps->why, sizeof(ps->why), why);
	if (res != NULL && res->reply.code != 0) {
		if (ps->reply == NULL)
			ps->reply = mem_alloc(sizeof(*ps->reply));
		deliver_reply_set(ps->reply, res);
	} else {
		free(ps->reply);
		ps->reply = NULL;
	}
}

/* ---- Cluster: what the nodes share of a profile (PostgreSQL) ----
 *
 * With a shared store (queue_shared()), a node that pauses a profile (a
 * 421, a slow-down, the provider's quota), cools it down (broken) or
 * ends that stores it (queue_pstate_put(): durations, the database's
 * clock decides); every node takes the stored state when the store tells
 * of a change (NOTIFY, queue_changes()), so no node contacts a provider
 * that asked another one to wait.  The monotonic times here are this
 * node's: a stored end time becomes "now + what is left". */

/* The profile's state as stored.  Under r->lock. */
static void
share_snap_locked(const struct pstate *ps, struct queue_pstate *out)
{
	int64_t now = clock_mono_ms();

	memset(out, 0, sizeof(*out));
	str_copy(out->profile, sizeof(out->profile), ps->name);
	out->pause_ms = ps->pause_until_ms > now ? ps->pause_until_ms - now : 0;
	out->cooldown_ms = ps->cooldown_until_ms > now ?
	    ps->cooldown_until_ms - now : 0;
	out->slowdowns = ps->slowdowns;
	out->failures = ps->failures;
	str_copy(out->reason, sizeof(out->reason), ps->why);
}

/* Store it for the other nodes (not under r->lock). */
static void
share_push(struct relay *r, const struct queue_pstate *st)
{
	struct op_err e;

	if (!queue_shared(r->queue))
		return;
	if (queue_pstate_put(r->queue, st, &e) < 0)
		log_event(LOG_WARN, "profile_state", "profile", st->profile,
		    "error", e.msg, NULL);
}

/* Snapshot and store (takes and drops r->lock). */
static void
share(struct relay *r, struct pstate *ps)
{
	struct queue_pstate st;

	if (!queue_shared(r->queue))
		return;
	pthread_mutex_lock(&r->lock);
	share_snap_locked(ps, &st);
	pthread_mutex_unlock(&r->lock);
	share_push(r, &st);
}

/* Take what other nodes stored (when the store heard of a change).  1 if
 * a pause or cool-down in force here was lifted by another node. */
static int
share_pull(struct relay *r)
{
	struct queue_pstate *a = NULL;
	struct op_err e;
	size_t n = 0, i;
	unsigned seen;
	int lifted = 0;

	if (!queue_shared(r->queue))
		return 0;
	seen = queue_changes(r->queue, QUEUE_CHANGE_PSTATE);
	if (seen == r->pstate_seen)
		return 0;
	if (queue_pstate_load(r->queue, &a, &n, &e) < 0) {
		log_event(LOG_WARN, "profile_state", "error", e.msg, NULL);
		return 0;
	}
	r->pstate_seen = seen;
	pthread_mutex_lock(&r->lock);
	for (i = 0; i < n; i++) {
		struct pstate *ps = pstate_find(r, a[i].profile);
		int64_t now = clock_mono_ms();

		if (ps == NULL || a[i].seq <= ps->db_seq)
			continue;
		ps->db_seq = a[i].seq;
		if ((ps->pause_until_ms > now && a[i].pause_ms == 0) ||
		    (ps->cooldown_until_ms > now && a[i].cooldown_ms == 0))
			lifted = 1;
		ps->pause_until_ms = a[i].pause_ms > 0 ? now + a[i].pause_ms : 0;
		ps->cooldown_until_ms = a[i].cooldown_ms > 0 ?
		    now + a[i].cooldown_ms : 0;
		ps->slowdowns = a[i].slowdowns;
		ps->failures = a[i].failures;
		if (a[i].pause_ms > 0 || a[i].cooldown_ms > 0) {
			log_sanitize(ps->why, sizeof(ps->why), a[i].reason);
			if (a[i].node[0] != '\0')
				log_event(LOG_INFO, "profile_state", "profile", ps->name,
				    "from_node", a[i].node, "reason", ps->why, NULL);
		}
	}
	pthread_mutex_unlock(&r->lock);
	free(a);
	return lifted;
}

/* One send under the profile's quotas (limits): 0 if it may go now,
 * else the milliseconds to wait.  With a shared store the quota is the
 * cluster's (queue_rate_reserve(), *slot set); else this node's own
 * limiter (*taken its time). */
static int64_t
quota_take(struct relay *r, struct pstate *ps, const struct conf_profile *p,
    int64_t *taken, int64_t *slot)
{
	struct queue_limit l[CONF_MAX_LIMITS];
	struct op_err e;
	int64_t wait = 0;
	size_t i;

	*slot = 0;
	*taken = clock_mono_ms();
	if (!queue_shared(r->queue) || p->nlimits == 0)
		return ratelimit_take(ps->rl, *taken);
	for (i = 0; i < p->nlimits; i++) {
		l[i].count = p->limits[i].count;
		l[i].period_s = p->limits[i].period_s;
	}
	if (queue_rate_reserve(r->queue, ps->name, l, p->nlimits, slot, &wait,
	    &e) < 0) {
		/* the database cannot say: send nothing, look again soon */
		log_event(LOG_WARN, "quota", "profile", ps->name, "error", e.msg,
		    NULL);
		return 1000;
	}
	return *slot > 0 ? 0 : wait;
}

/* The send taken by quota_take() did not happen. */
static void
quota_untake(struct relay *r, struct pstate *ps, int64_t taken, int64_t slot)
{
	struct op_err e;

	if (slot > 0) {
		if (queue_rate_release(r->queue, slot, &e) < 0)
			log_event(LOG_WARN, "quota", "profile", ps->name,
			    "error", e.msg, NULL);
		return;
	}
	ratelimit_untake(ps->rl, taken);
}

/* ---- end of cluster ---- */

/* Take all jobs waiting for ps (under r->lock). */
static struct job *
take_jobs_locked(struct pstate *ps)
{
	struct job *list = ps->head;

	ps->head = ps->tail = NULL;
	ps->njobs = 0;
	return list;
}

/* 1 if another profile would take j now (route_locked would queue it):
 * enabled, allowed for it, not tried for it, neither cooling down nor
 * paused.  Under r->lock. */
static int
other_takes_locked(struct relay *r, const struct conf *conf,
    const struct job *j)
{
	const struct conf_profile *only = NULL;
	int64_t now = clock_mono_ms();
	size_t i;

	if (j->m->profile != NULL) {
		only = conf_profile_find(conf, j->m->profile);
		if (only != NULL && !only->enabled)
			only = NULL;
	}
	for (i = 0; i < conf->nprofiles; i++) {
		const struct conf_profile *p = &conf->profiles[i];
		const struct pstate *ps;

		if (!p->enabled || (only != NULL && p != only) ||
		    deliver_msg_tried(j->m, p->name))
			continue;
		ps = pstate_find(r, p->name);
		if (ps != NULL && ps->cooldown_until_ms <= now &&
		    ps->pause_until_ms <= now)
			return 1;
	}
	return 0;
}

/* The profile is broken: cool it down and move its work elsewhere.  A 421
 * (pause_only) pauses it instead; the history of each message says
 * "failover" when another profile takes it, "paused" (the reply and for
 * how long) when it waits for this one. */
static void
profile_down(struct relay *r, const struct conf *conf, struct pstate *ps,
    struct job *j, const char *why, int pause_only,
    const struct smtp_result *res)
{
	struct job *list, *next;
	char cool[16], paused[QUEUE_TEXT_MAX], reply[QUEUE_TEXT_MAX - 64];
	unsigned ms = 0;

	pthread_mutex_lock(&r->lock);
	if (pause_only) {
		ps->slowdowns++;
		ms = policy_backoff_ms(ps->slowdowns);
		ps->pause_until_ms = clock_mono_ms() + ms;
		if (ms % 1000 == 0)
			snprintf(cool, sizeof(cool), "%us", ms / 1000);
		else
			snprintf(cool, sizeof(cool), "%ums", ms);
	} else {
		ps->failures++;
		ps->cooldown_until_ms = clock_mono_ms() +
		    (int64_t)policy_cooldown_s(ps->failures) * 1000;
		snprintf(cool, sizeof(cool), "%us", policy_cooldown_s(ps->failures));
	}
	pstate_note_locked(ps, why, res);
	list = take_jobs_locked(ps);
	pthread_mutex_unlock(&r->lock);
	share(r, ps);
	if (pause_only)
		log_event(LOG_WARN, "paused", "profile", ps->name, "reason", why,
		    "pause", cool, NULL);
	else
		log_event(LOG_WARN, "failover", "profile", ps->name, "reason", why,
		    "cooldown", cool, NULL);
	if (res != NULL && res->reply.code != 0)
		smtp_reply_format(&res->reply, reply, sizeof(reply));
	else
		str_copy(reply, sizeof(reply), why);
	snprintf(paused, sizeof(paused), "%s (profile %s paused for %s)", reply,
	    ps->name, cool);
	if (j != NULL) {
		deliver_msg_set_waited(j->m, res);
		j->next = list;
		list = j;
	}
	for (; list != NULL; list = next) {
		int other;

		next = list->next;
		deliver_msg_add_tried(list->m, ps->name);
		str_copy(list->last_error, sizeof(list->last_error), why);
		pthread_mutex_lock(&r->lock);
		other = other_takes_locked(r, conf, list);
		pthread_mutex_unlock(&r->lock);
		queue_event_add(r->queue, list->m->id, clock_wall_ms() / 1000,
		    !pause_only || other ? "failover" : "paused",
		    !pause_only || other ? why : paused, NULL);
		route(r, conf, list);
	}
}

/* ---- OAuth2: waiting for a token (issue 11) ----
 *
 * When a profile with auth = oauth2 can get no access token (not signed
 * in, the refresh token refused, the provider unreachable), nothing was
 * sent to the provider and no attempt is counted: the profile pauses, its
 * messages fail over to another enabled profile or wait (deferred, the
 * token error as their last error and their recipients' reason).  A
 * profile that needs a sign-in pauses until the token store has one again
 * (token_poll, each scheduler pass, at most every RELAY_TOKEN_POLL_MS; a
 * sign-in on the page wakes the scheduler at once); other token failures
 * pause with the 421 backoff. */

/* The session could not be opened because no token could be had
 * (relay/oauth_glue.h: a local failure, token_refused, no reply). */
static int
token_missing(const struct conf_profile *p, const struct smtp_result *res)
{
	return p->auth == CONF_AUTH_OAUTH2 && res->fail == SMTP_FAIL_TOKEN &&
	    res->reply.code == 0;
}

/* why as the reply a waiting message keeps (no code: nothing was sent). */
static void
token_reply(struct deliver_reply *dr, const char *why)
{
	memset(dr, 0, sizeof(*dr));
	log_sanitize(dr->text, sizeof(dr->text), why);
	str_copy(dr->line, sizeof(dr->line), dr->text);
}

/* m waits for profile name's token: why is the reply it keeps, and the
 * profile counts as tried (no attempt was made). */
static void
msg_token_waited(struct deliver_msg *m, const char *name, const char *why)
{
	if (m->waited == NULL)
		m->waited = mem_alloc(sizeof(*m->waited));
	token_reply(m->waited, why);
	deliver_msg_add_tried(m, name);
}

static void
profile_token_wait(struct relay *r, const struct conf *conf, struct pstate *ps,
    struct job *j, const struct conf_profile *p, const char *why)
{
	struct oauth_status st;
	struct job *list, *next;
	int64_t ms;
	char wait[24];

	oauth_status_get(p, &st);
	pthread_mutex_lock(&r->lock);
	if (st.needs_signin) {
		ps->token_wait = 1;
		ms = (int64_t)RELAY_WAIT_MAX_S * 1000;
		str_copy(wait, sizeof(wait), "sign-in");
	} else {
		ps->slowdowns++;
		ms = policy_backoff_ms(ps->slowdowns);
		snprintf(wait, sizeof(wait), "%lldms", (long long)ms);
	}
	ps->pause_until_ms = clock_mono_ms() + ms;
	log_sanitize(ps->why, sizeof(ps->why), why);
	if (ps->reply == NULL)
		ps->reply = mem_alloc(sizeof(*ps->reply));
	token_reply(ps->reply, why);
	list = take_jobs_locked(ps);
	pthread_mutex_unlock(&r->lock);
	log_event(LOG_WARN, "oauth_wait", "profile", ps->name, "reason", why,
	    "until", wait, NULL);
	if (j != NULL) {
		j->next = list;
		list = j;
	}
	for (; list != NULL; list = next) {
		next = list->next;
		msg_token_waited(list->m, ps->name, why);
		str_copy(list->last_error, sizeof(list->last_error), why);
		route(r, conf, list);
	}
}

/* End the wait of every profile whose sign-in is there now (or that no
 * longer uses OAuth2).  1 if one ended. */
static int
token_poll(struct relay *r, const struct conf *conf)
{
	struct pstate *ps, *head;
	int lifted = 0;

	pthread_mutex_lock(&r->lock);
	head = r->profiles;     /* nodes are only ever added at the head */
	pthread_mutex_unlock(&r->lock);
	for (ps = head; ps != NULL; ps = ps->next) {
		const struct conf_profile *p;
		struct oauth_status st;
		int waiting;

		pthread_mutex_lock(&r->lock);
		waiting = ps->token_wait;
		pthread_mutex_unlock(&r->lock);
		if (!waiting)
			continue;
		p = conf_profile_find(conf, ps->name);
		if (p != NULL && p->auth == CONF_AUTH_OAUTH2) {
			oauth_status_get(p, &st);
			if (st.needs_signin)
				continue;
		}
		pthread_mutex_lock(&r->lock);
		ps->token_wait = 0;
		ps->pause_until_ms = 0;
		ps->slowdowns = 0;
		pstate_note_locked(ps, "", NULL);
		pthread_mutex_unlock(&r->lock);
		log_event(LOG_INFO, "oauth_wait_over", "profile", ps->name,
		    "reason", "signed in", NULL);
		lifted = 1;
	}
	return lifted;
}

/* 1 if a profile waits for a sign-in. */
static int
token_waiting(struct relay *r)
{
	struct pstate *ps;
	int n = 0;

	pthread_mutex_lock(&r->lock);
	for (ps = r->profiles; ps != NULL; ps = ps->next)
		n |= ps->token_wait;
	pthread_mutex_unlock(&r->lock);
	return n;
}

/* ---- end of OAuth2 ---- */

/* Sleep up to ms, waking early if the relay stops.  Under r->lock. */
static void
nap_locked(struct relay *r, pthread_cond_t *c, int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(c, &r->lock, &ts);
}

static void
close_session(struct relay *r, const char *profile, struct smtp_session **s)
{
	if (*s == NULL)
		return;
	if (smtp_client_usable(*s))
		smtp_client_quit(*s);
	smtp_client_free(*s);
	*s = NULL;
	metrics_add(r->metrics, METRIC_CONNECTIONS_OPEN, profile, -1);
}

/* A session through p could not be opened for m (connect, TLS, AUTH, or a
 * 421 before any command): the attempt's event=delivery lines. */
static void
log_open_failure(const struct conf_profile *p, struct smtp_session *s,
    struct deliver_msg *m, const struct smtp_result *res,
    int64_t start_ms)
{
	const char *peer = s != NULL ? smtp_client_peer(s) : "";
	char relay[320];

	if (peer[0] != '\0')
		snprintf(relay, sizeof(relay), "%s[%s]:%u", p->host, peer, p->port);
	else
		snprintf(relay, sizeof(relay), "%s:%u", p->host, p->port);
	deliver_log_deferred(m, p, relay, res, start_ms);
}

/* ---- provider quotas (relay/hints.h) ---- */

/*
 * The provider said its daily quota is used up: pause the profile until
 * the quota's window ends (the rule's window, or the next midnight UTC).
 * Its waiting jobs move on when the worker next looks (a long pause gives
 * them to the next profile or back to the queue); nothing is an attempt.
 */
static void
quota_pause(struct relay *r, struct pstate *ps, const struct conf_profile *p,
    const struct smtp_result *res)
{
	const struct hint_rule *rule = hint_match(hint_provider(p), &res->reply);
	int64_t wait = hint_quota_wait_ms(rule, clock_wall_ms());
	char reply[ERR_MSG_MAX], why[QUEUE_TEXT_MAX], until[32], w[32];

	smtp_reply_format(&res->reply, reply, sizeof(reply));
	clock_iso8601((clock_wall_ms() + wait) / 1000, until, sizeof(until));
	snprintf(w, sizeof(w), "%llds", (long long)(wait + 999) / 1000);
	snprintf(why, sizeof(why), "the provider's quota is used up; profile "
	    "%s paused until %s: %s", ps->name, until, reply);
	pthread_mutex_lock(&r->lock);
	if (ps->pause_until_ms < clock_mono_ms() + wait)
		ps->pause_until_ms = clock_mono_ms() + wait;
	pstate_note_locked(ps, why, res);
	pthread_mutex_unlock(&r->lock);
	share(r, ps);
	log_event(LOG_WARN, "quota", "profile", ps->name, "reply", reply,
	    "paused_for", w, "until", until, NULL);
}

/* ---- end of provider quotas ---- */

static void *
worker_main(void *arg)
{
	struct worker_arg *wa = arg;
	struct relay *r = wa->r;
	struct pstate *ps = wa->ps;
	struct deliver_ctx dc = { r->queue, r->metrics, r->helo, 1 };
	struct smtp_session *s = NULL;
	unsigned session_gen = 0;
	int64_t idle_since = clock_mono_ms();
	struct smtp_result res;

	pthread_setname_np(pthread_self(), "op-worker");

	free(wa);
	smtp_result_init(&res);
	pthread_mutex_lock(&r->lock);
	for (;;) {
		struct job *j;
		const struct conf *conf;
		const struct conf_profile *p;
		int kind;

		while (ps->head == NULL && !r->stopping) {
			if (clock_mono_ms() - idle_since >= RELAY_IDLE_MS)
				break;
			ps->idle++;
			nap_locked(r, &ps->cond, RELAY_IDLE_MS);
			ps->idle--;
		}
		if (ps->head == NULL || r->stopping)
			break;
		/* paused (the provider asked to slow down, or a quota is
		 * full): a short pause is waited out here, the jobs keep their
		 * order; for a long one they go elsewhere or back to the queue */
		if (ps->pause_until_ms > clock_mono_ms()) {
			int64_t left = ps->pause_until_ms - clock_mono_ms();

			if (left <= RELAY_HOLD_MAX_MS) {
				nap_locked(r, &ps->cond, left);
				continue;
			}
			struct job *list = take_jobs_locked(ps), *next;
			pthread_mutex_unlock(&r->lock);
			const struct conf *pc = settings_get(r->settings);
			for (; list != NULL; list = next) {
				next = list->next;
				route(r, pc, list);
			}
			settings_put(r->settings, pc);
			pthread_mutex_lock(&r->lock);
			continue;
		}
		j = ps->head;
		ps->head = j->next;
		if (ps->head == NULL)
			ps->tail = NULL;
		ps->njobs--;
		pthread_mutex_unlock(&r->lock);

		conf = settings_get(r->settings);
		p = conf_profile_find(conf, ps->name);
		if (p == NULL || !p->enabled) {
			close_session(r, ps->name, &s);
			route(r, conf, j);
			settings_put(r->settings, conf);
			pthread_mutex_lock(&r->lock);
			continue;
		}
		if (s != NULL && (!smtp_client_usable(s) ||
		    settings_generation(r->settings) != session_gen ||
		    smtp_client_messages(s) >= p->max_messages_per_connection))
			close_session(r, ps->name, &s);
		if (deliver_expire(&dc, conf, j->m)) {
			job_finish(r, j);
			settings_put(r->settings, conf);
			pthread_mutex_lock(&r->lock);
			continue;
		}
		if (s == NULL) {
			int64_t t0 = clock_mono_ms();

			session_gen = settings_generation(r->settings);
			if (deliver_open(&dc, p, &s, &res) < 0) {
				/* a 421 (busy) pauses the profile, as one later
				 * in the session does; no OAuth2 token makes it
				 * wait for one; anything else breaks it */
				int busy = res.reply.code == 421;

				if (token_missing(p, &res)) {
					smtp_client_free(s);
					s = NULL;
					profile_token_wait(r, conf, ps, j, p, res.msg);
					settings_put(r->settings, conf);
					pthread_mutex_lock(&r->lock);
					break;
				}
				log_open_failure(p, s, j->m, &res, t0);
				smtp_client_free(s);
				s = NULL;
				profile_down(r, conf, ps, j, res.msg, busy, &res);
				settings_put(r->settings, conf);
				pthread_mutex_lock(&r->lock);
				break;
			}
		}
		/* provider quotas, across all connections of the profile */
		int64_t taken = clock_mono_ms(), wait, slot = 0;
		while ((wait = quota_take(r, ps, p, &taken, &slot)) > 0) {
			metrics_add(r->metrics, METRIC_RATE_LIMIT_WAITS, ps->name, 1);
			if (wait > RELAY_HOLD_MAX_MS) {
				/* a quota that frees up only later (N/h, N/d): the
				 * profile pauses; this message goes to the next
				 * profile, or back to the queue until then */
				char w[32];

				snprintf(w, sizeof(w), "%llds", (long long)(wait + 999) / 1000);
				pthread_mutex_lock(&r->lock);
				if (ps->pause_until_ms < clock_mono_ms() + wait)
					ps->pause_until_ms = clock_mono_ms() + wait;
				char full[QUEUE_PROFILE_MAX + 64];

				snprintf(full, sizeof(full), "the quota of profile "
				    "%s (limits) is full for %s", ps->name, w);
				pstate_note_locked(ps, full, NULL);
				pthread_mutex_unlock(&r->lock);
				log_event(LOG_INFO, "quota", "profile", ps->name,
				    "full_for", w, NULL);
				break;
			}
			pthread_mutex_lock(&r->lock);
			if (!r->stopping)
				nap_locked(r, &ps->cond, wait);
			int stop = r->stopping;
			pthread_mutex_unlock(&r->lock);
			if (stop)
				break;
		}
		if (wait > RELAY_HOLD_MAX_MS) {
			route(r, conf, j);
			settings_put(r->settings, conf);
			pthread_mutex_lock(&r->lock);
			continue;
		}
		if (wait > 0) {         /* stopping: give it back untouched */
			queue_unclaim(r->queue, j->m->id, clock_wall_ms() / 1000,
			    "daemon stopping", NULL);
			job_finish(r, j);
			settings_put(r->settings, conf);
			pthread_mutex_lock(&r->lock);
			break;
		}
		kind = deliver_attempt(&dc, conf, p, s, j->m, &res);
		switch (kind) {
		case DELIVER_DONE: {
			int was = ps->failures > 0 || ps->slowdowns > 0;

			pthread_mutex_lock(&r->lock);
			ps->failures = 0;
			ps->slowdowns = 0;
			if (ps->why[0] != '\0' || ps->reply != NULL)
				pstate_note_locked(ps, "", NULL);
			pthread_mutex_unlock(&r->lock);
			if (was)
				share(r, ps);
			job_finish(r, j);
			break;
		}
		case DELIVER_PROFILE_DOWN:
		case DELIVER_SLOWDOWN: {
			char why[ERR_MSG_MAX];

			quota_untake(r, ps, taken, slot);
			if (res.reply.code != 0)
				smtp_reply_format(&res.reply, why, sizeof(why));
			else
				str_copy(why, sizeof(why), res.msg);
			close_session(r, ps->name, &s);
			if (kind == DELIVER_SLOWDOWN) {
				/* same profile later, after the pause: no attempt lost */
				pthread_mutex_lock(&r->lock);
				ps->slowdowns++;
				ps->pause_until_ms = clock_mono_ms() + policy_backoff_ms(ps->slowdowns);
				pstate_note_locked(ps, why, &res);
				pthread_mutex_unlock(&r->lock);
				share(r, ps);
				log_event(LOG_WARN, "slowdown", "profile", ps->name, "reply", why, NULL);
				deliver_msg_set_waited(j->m, &res);
				route(r, conf, j);
			} else {
				profile_down(r, conf, ps, j, why, 1, &res);
			}
			break;
		}
		/* ---- provider quotas (relay/hints.h, class quota) ---- */
		case DELIVER_QUOTA:
			quota_untake(r, ps, taken, slot);
			close_session(r, ps->name, &s);
			quota_pause(r, ps, p, &res);
			deliver_msg_set_waited(j->m, &res);
			route(r, conf, j);       /* next profile, or waits */
			break;
		/* ---- end of provider quotas ---- */
		default:
			job_finish(r, j);
			break;
		}
		settings_put(r->settings, conf);
		idle_since = clock_mono_ms();
		pthread_mutex_lock(&r->lock);
	}
	/* no longer counted for routing (a new job spawns a new worker); still
	 * counted by relay_stop() until the connection is closed */
	ps->workers--;
	pthread_mutex_unlock(&r->lock);
	close_session(r, ps->name, &s);
	smtp_result_free(&res);
	pthread_mutex_lock(&r->lock);
	r->workers--;
	pthread_cond_broadcast(&r->done);
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

static int
any_enabled(const struct conf *conf)
{
	return conf_profile_first_enabled(conf) != NULL;
}

/* Retention: remove the messages that ended (sent or failed) more than
 * `retention` ago, a chunk per transaction so that accepts keep flowing
 * in between. */
static void
purge_old(struct relay *r, const struct conf *conf)
{
	int64_t before = clock_wall_ms() / 1000 - (int64_t)conf->server.retention_s;
	uint64_t n, total = 0;
	struct op_err e;

	do {
		if (queue_purge(r->queue, before, RELAY_PURGE_CHUNK, &n, &e) < 0) {
			log_event(LOG_ERROR, "purge", "error", e.msg, NULL);
			break;
		}
		total += n;
	} while (n == RELAY_PURGE_CHUNK && !r->stopping);
	if (total > 0) {
		char nb[24], kb[24];

		snprintf(nb, sizeof(nb), "%llu", (unsigned long long)total);
		conf_format_duration(conf->server.retention_s, kb, sizeof(kb));
		log_event(LOG_INFO, "purge", "messages", nb, "retention", kb, NULL);
	}
}

/* A profile's cool-down or pause was lifted by a change to it: what
 * waited for it is due now, not when the pause would have ended. */
static void
advance_waiting(struct relay *r)
{
	int64_t now = clock_wall_ms() / 1000;
	struct op_err e;
	uint64_t n = 0;

	/* + 1: a wait of RELAY_WAIT_MAX_S is rounded up to a whole second */
	if (queue_advance(r->queue, now, now + RELAY_WAIT_MAX_S + 1, &n, &e) < 0) {
		log_event(LOG_ERROR, "advance", "error", e.msg, NULL);
	} else if (n > 0) {
		char nb[24];

		snprintf(nb, sizeof(nb), "%llu", (unsigned long long)n);
		log_event(LOG_INFO, "advance", "messages", nb, "reason",
		    "a profile changed: its pause or cool-down is over", NULL);
	}
}

/* A profile is enabled (again): what was held is queued. */
static void
release_held(struct relay *r)
{
	struct op_err e;
	uint64_t n = 0;

	if (queue_release_held(r->queue, clock_wall_ms() / 1000, &n, &e) < 0) {
		log_event(LOG_ERROR, "release", "error", e.msg, NULL);
	} else if (n > 0) {
		char nb[24];

		snprintf(nb, sizeof(nb), "%llu", (unsigned long long)n);
		log_event(LOG_INFO, "release", "messages", nb, NULL);
	}
}

static void *
scheduler_main(void *arg)
{
	struct relay *r = arg;
	unsigned gen = (unsigned)-1;
	int held = 0;
	int64_t stale_check = clock_mono_ms();
	int64_t purge_check = clock_mono_ms() - RELAY_PURGE_EVERY_MS;  /* at start */
	int64_t token_check = clock_mono_ms();
	int token_now;
	struct op_err e;

	pthread_setname_np(pthread_self(), "op-scheduler");

	for (;;) {
		const struct conf *conf;
		struct queue_set set;
		size_t room, i, claimed = 0;
		int release;
		int64_t now, sleep_ms = RELAY_POLL_MS;

		pthread_mutex_lock(&r->lock);
		if (r->stopping) {
			pthread_mutex_unlock(&r->lock);
			break;
		}
		r->woken = 0;
		token_now = r->token_now;
		r->token_now = 0;
		room = RELAY_INFLIGHT_MAX - r->inflight;
		r->want_room = room < RELAY_CLAIM_ROOM;
		release = r->release_owed && r->held_pending == 0;
		if (release)
			r->release_owed = 0;
		pthread_mutex_unlock(&r->lock);

		if (clock_mono_ms() - stale_check >= RELAY_STALE_EVERY_MS) {
			uint64_t n = 0;

			stale_check = clock_mono_ms();
			if (queue_recover_stale(r->queue, clock_wall_ms() / 1000,
			    RELAY_STALE_CLAIM_S, &n, &e) < 0)
				log_event(LOG_ERROR, "recover", "error", e.msg, NULL);
			else if (n > 0) {
				char nb[24];
				snprintf(nb, sizeof(nb), "%llu", (unsigned long long)n);
				log_event(LOG_WARN, "recover", "stale_claims", nb, NULL);
			}
		}
		/* cluster: the shared settings changed (another node's page or
		 * API, or this one's), or a profile's pause */
		if (queue_shared(r->queue) &&
		    queue_changes(r->queue, QUEUE_CHANGE_SETTINGS) != r->settings_seen) {
			r->settings_seen = queue_changes(r->queue, QUEUE_CHANGE_SETTINGS);
			if (settings_reload(r->settings, &e) < 0)
				log_event(LOG_WARN, "reload", "error", e.msg, NULL);
		}
		if (share_pull(r))
			advance_waiting(r);
		conf = settings_get(r->settings);
		if (clock_mono_ms() - purge_check >= RELAY_PURGE_EVERY_MS) {
			purge_check = clock_mono_ms();
			purge_old(r, conf);
		}
		if (settings_generation(r->settings) != gen) {
			int lifted;

			gen = settings_generation(r->settings);
			pthread_mutex_lock(&r->lock);
			lifted = reconcile(r, conf);
			r->any_enabled = any_enabled(conf);
			/* listener messages decided held before this are
			 * released once all of them are stored */
			r->release_owed = r->any_enabled && r->held_pending > 0;
			pthread_mutex_unlock(&r->lock);
			release = any_enabled(conf);
			if (lifted)
				advance_waiting(r);
		}
		if (clock_mono_ms() - token_check >= RELAY_TOKEN_POLL_MS ||
		    token_now) {
			token_check = clock_mono_ms();
			if (token_waiting(r) && token_poll(r, conf))
				advance_waiting(r);
		}
		if (release && any_enabled(conf)) {
			release_held(r);
			held = 0;
		}
		if (!any_enabled(conf)) {
			uint64_t n = 0;

			if (queue_hold_all(r->queue, clock_wall_ms() / 1000,
			    "no enabled profile: enable one in outpost.conf or the web page", &n, &e) < 0)
				log_event(LOG_ERROR, "hold", "error", e.msg, NULL);
			else if (n > 0) {
				char nb[24];
				snprintf(nb, sizeof(nb), "%llu", (unsigned long long)n);
				log_event(LOG_WARN, "hold", "messages", nb,
				    "reason", "no enabled profile", NULL);
			}
			held = 1;
		} else if (room >= RELAY_CLAIM_ROOM) {
			now = clock_wall_ms() / 1000;
			memset(&set, 0, sizeof(set));
			if (queue_claim(r->queue, now, room < QUEUE_CLAIM_MAX ? room : QUEUE_CLAIM_MAX,
			    &set, &e) < 0) {
				log_event(LOG_ERROR, "claim", "error", e.msg, NULL);
			} else {
				claimed = set.n;
				pthread_mutex_lock(&r->lock);
				r->inflight += set.n;
				pthread_mutex_unlock(&r->lock);
				for (i = 0; i < set.n; i++) {
					struct job *j = mem_alloc(sizeof(*j));

					j->m = deliver_msg_from_set(&set, i);
					route(r, conf, j);
				}
				queue_set_free(&set);
			}
		}
		settings_put(r->settings, conf);
		if (claimed > 0)
			continue;       /* there may be more due right now */

		if (!held) {
			int64_t when;
			int found = 0;

			if (queue_next_due(r->queue, &when, &found, &e) == 0 && found) {
				int64_t d = (when - clock_wall_ms() / 1000) * 1000;
				if (d < sleep_ms)
					sleep_ms = d < 10 ? 10 : d;
			}
		}
		pthread_mutex_lock(&r->lock);
		if (!r->woken && !r->stopping)
			nap_locked(r, &r->cond, sleep_ms);
		pthread_mutex_unlock(&r->lock);
	}
	return NULL;
}

int
relay_start(const struct relay_deps *d, struct relay **out, struct op_err *e)
{
	struct relay *r = mem_alloc(sizeof(*r));
	const struct conf *conf;
	uint64_t n = 0;

	r->settings = d->settings;
	r->queue = d->queue;
	r->metrics = d->metrics;
	conf = settings_get(r->settings);
	str_copy(r->helo, sizeof(r->helo), conf->server.hostname);
	r->any_enabled = any_enabled(conf);
	settings_put(r->settings, conf);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	pthread_cond_init(&r->done, NULL);
	if (queue_recover(r->queue, clock_wall_ms() / 1000, &n, e) < 0) {
		free(r);
		return err_prefix(e, "cannot recover messages left by the last run");
	}
	if (n > 0) {
		char nb[24];
		snprintf(nb, sizeof(nb), "%llu", (unsigned long long)n);
		log_event(LOG_INFO, "recover", "messages", nb, NULL);
	}
	if (pthread_create(&r->scheduler, NULL, scheduler_main, r) != 0) {
		free(r);
		return err_set(e, ERR_OSERR, "cannot start the delivery scheduler thread");
	}
	*out = r;
	return 0;
}

void
relay_wake(struct relay *r)
{
	pthread_mutex_lock(&r->lock);
	r->woken = 1;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

void
relay_oauth_signed_in(struct relay *r)
{
	pthread_mutex_lock(&r->lock);
	r->token_now = 1;
	r->woken = 1;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

int
relay_stop(struct relay *r, int grace_ms)
{
	struct pstate *ps;
	int64_t deadline = clock_mono_ms() + grace_ms;
	struct job *list, *next;
	int rc = 0;

	pthread_mutex_lock(&r->lock);
	r->stopping = 1;
	pthread_cond_broadcast(&r->cond);
	for (ps = r->profiles; ps != NULL; ps = ps->next)
		pthread_cond_broadcast(&ps->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->scheduler, NULL);

	pthread_mutex_lock(&r->lock);
	while (r->workers > 0 && clock_mono_ms() < deadline)
		nap_locked(r, &r->done, deadline - clock_mono_ms());
	if (r->workers > 0)
		rc = -1;
	/* what no worker took goes back to the queue as it was */
	for (ps = r->profiles; ps != NULL; ps = ps->next) {
		for (list = take_jobs_locked(ps); list != NULL; list = next) {
			next = list->next;
			pthread_mutex_unlock(&r->lock);
			queue_unclaim(r->queue, list->m->id, clock_wall_ms() / 1000,
			    "daemon stopping", NULL);
			size_t bytes = list->m->body != NULL ? list->m->body_len : 0;
			deliver_msg_free(list->m);
			free(list);
			pthread_mutex_lock(&r->lock);
			r->inflight--;
			r->inflight_bytes -= bytes;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

void
relay_free(struct relay *r)
{
	struct pstate *ps, *next;

	if (r == NULL)
		return;
	for (ps = r->profiles; ps != NULL; ps = next) {
		next = ps->next;
		ratelimit_free(ps->rl);
		free(ps->reply);
		pthread_cond_destroy(&ps->cond);
		free(ps->name);
		free(ps);
	}
	pthread_cond_destroy(&r->cond);
	pthread_cond_destroy(&r->done);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

int
relay_reserve(struct relay *r, size_t len)
{
	int how = RELAY_QUEUE;

	pthread_mutex_lock(&r->lock);
	if (!r->any_enabled) {
		how = RELAY_HOLD;
		r->held_pending++;
	} else if (!r->stopping && r->inflight < RELAY_INFLIGHT_MAX &&
	    len <= RELAY_FAST_BYTES_MAX - r->inflight_bytes) {
		how = RELAY_TAKE;
		r->inflight++;
		r->inflight_bytes += len;
	}
	pthread_mutex_unlock(&r->lock);
	return how;
}

void
relay_unreserve(struct relay *r, int how, size_t len)
{
	pthread_mutex_lock(&r->lock);
	if (how == RELAY_TAKE) {
		r->inflight--;
		r->inflight_bytes -= len;
		room_freed_locked(r);
	} else if (how == RELAY_HOLD && --r->held_pending == 0 &&
	    r->release_owed) {
		r->woken = 1;
		pthread_cond_signal(&r->cond);
	}
	pthread_mutex_unlock(&r->lock);
}

void
relay_handoff(struct relay *r, const char *id, const char *sender,
    char *const *rcpts, size_t nrcpts, char *body, size_t len)
{
	struct job *j = mem_alloc(sizeof(*j));
	const struct conf *conf;

	j->m = deliver_msg_new(id, sender, (const char *const *)rcpts, nrcpts,
	    NULL, body, len);
	conf = settings_get(r->settings);
	route(r, conf, j);
	settings_put(r->settings, conf);
}

void
relay_send_now(const struct conf *conf, struct queue *q, struct metrics *m,
    struct deliver_msg *dm, struct smtp_result *res)
{
	struct deliver_ctx dc = { q, m, conf->server.hostname, 0 };
	char last[ERR_MSG_MAX] = "no enabled profile";
	size_t i;
	int done = 0, token_only = 1;

	/* the profile asked for, if it is there and enabled; else all, in
	 * order (as the scheduler routes) */
	const struct conf_profile *only = dm->profile != NULL ?
	    conf_profile_find(conf, dm->profile) : NULL;
	if (only != NULL && !only->enabled)
		only = NULL;
	/* suppression: recipients on the list end here, as in the daemon */
	if (deliver_suppressed(&dc, conf, dm)) {
		res->outcome = SMTP_PERMANENT;
		str_copy(res->msg, sizeof(res->msg), "every recipient is on the "
		    "suppression list (refused for good before): see outpost "
		    "suppressions list");
		deliver_msg_free(dm);
		return;
	}
	for (i = 0; i < conf->nprofiles && !done; i++) {
		const struct conf_profile *p = &conf->profiles[i];
		struct smtp_session *s = NULL;

		int64_t t0 = clock_mono_ms();

		if (!p->enabled || (only != NULL && p != only))
			continue;
		if (deliver_open(&dc, p, &s, res) < 0) {
			if (token_missing(p, res)) {
				/* no attempt: the daemon's token wait takes it */
				str_copy(last, sizeof(last), res->msg);
				smtp_client_free(s);
				msg_token_waited(dm, p->name, res->msg);
				continue;
			}
			token_only = 0;
			log_open_failure(p, s, dm, res, t0);
			str_copy(last, sizeof(last), res->msg);
			deliver_msg_add_tried(dm, p->name);
			queue_event_add(q, dm->id, clock_wall_ms() / 1000, "failover", res->msg, NULL);
			smtp_client_free(s);
			continue;
		}
		switch (deliver_attempt(&dc, conf, p, s, dm, res)) {
		case DELIVER_DONE:
		case DELIVER_NOT_READY:
			done = 1;
			break;
		default:
			token_only = 0;
			deliver_msg_add_tried(dm, p->name);
			if (res->reply.code != 0)
				smtp_reply_format(&res->reply, last, sizeof(last));
			else
				str_copy(last, sizeof(last), res->msg);
			break;
		}
		metrics_add(m, METRIC_CONNECTIONS_OPEN, p->name, -1);
		if (smtp_client_usable(s))
			smtp_client_quit(s);
		smtp_client_free(s);
	}
	if (!done) {
		if (conf_profile_first_enabled(conf) == NULL) {
			queue_unclaim(q, dm->id, clock_wall_ms() / 1000, last, NULL);
		} else if (token_only && dm->ntried > 0) {
			deliver_wait(&dc, conf, dm, dm->tried[dm->ntried - 1], last, 0);
		} else {
			deliver_defer_all(&dc, conf, dm,
			    dm->ntried > 0 ? dm->tried[dm->ntried - 1] : NULL, last);
		}
	}
	deliver_msg_free(dm);
}
