/*
 * queue_pg.c - the PostgreSQL backend of the message store (queue.h), for
 * several Outpost nodes on one database ([server] database =
 * postgresql://...).
 *
 * libpq is loaded with dlopen() when such a database is opened, so a
 * command on an SQLite queue (`outpost sendmail`) never loads it or its
 * dependencies.  The writes go through the group commit of
 * queue_commit.c: one committer thread and connection per handle runs
 * every job waiting in one transaction (a savepoint per job), and a
 * submission is acknowledged only after its COMMIT returned, with
 * synchronous_commit on (set on every connection).  A batch runs in
 * libpq's pipeline mode (see w_flush below): about two round trips per
 * batch plus two per recorded attempt.  Reads use a small pool of
 * connections of their own.
 *
 * ===== Schema (table outpost_schema holds its version) =====
 *
 * The tables of the SQLite backend (see queue_sqlite.c), with the same
 * columns and meanings, plus:
 *   messages.node         the node that claimed the message last, then the
 *                         one that recorded its latest attempt
 *   messages.owner        the handle that holds the claim (node, pid and a
 *                         random part), NULL when not sending
 *   messages.lease_until  end of the claim's lease, in the database's
 *                         clock (Unix seconds)
 *   recipients.node       the node that recorded the recipient's result
 * Version 3 (events for the application) adds what version 4 of the
 * SQLite backend adds (messages.metadata and subject, the outbox,
 * idempotency and suppressions tables), with the recipients' index on
 * lower(address).
 * Outpost creates and migrates the schema itself, inside a transaction
 * that holds an advisory lock (PG_LOCK_KEY), so two nodes that start at
 * once do not both create it.  A newer schema than this Outpost knows is
 * refused (ERR_CONFIG).
 *
 * ===== Claims across nodes =====
 *
 * A claim is UPDATE ... WHERE mid IN (SELECT ... FOR UPDATE SKIP LOCKED):
 * two nodes claiming at once each take other messages, and neither waits
 * for the other.  Each claim carries a lease of PG_LEASE_S seconds that a
 * thread of the handle (the keeper) renews every PG_RENEW_S seconds while
 * the handle lives.  A claim whose lease ended (its node died, or lost
 * the database for longer than the lease) goes back to queued or deferred
 * at the next claim of any node, with a "recovered" event naming the node:
 * a message whose delivery was cut off may be delivered twice, never zero
 * times.  queue_recover() at a daemon's start gives back the claims of its
 * own node (it just restarted) and lapsed leases, never a live claim of
 * another node.
 *
 * ===== New work =====
 *
 * A transaction that made work due (a submission, a retry, a claim given
 * back) sends NOTIFY outpost_work with its COMMIT; the keeper of a daemon
 * LISTENs and calls the callback of queue_watch() (the relay's wake-up).
 * The daemon's scheduler also polls (RELAY_POLL_MS): the safety net.
 *
 * ===== Outages =====
 *
 * A lost connection fails the jobs of its batch with ERR_TEMP (the
 * listener answers 4xx, the API 503, sendmail exits 75): nothing of the
 * batch is acknowledged.  When the connection breaks during COMMIT its
 * outcome is unknown: the batch still fails, so a client retries and the
 * message may be stored twice (at least once).  The committer reconnects
 * at its next batch, at most once per backoff (PG_BACKOFF_MIN_MS doubling
 * to PG_BACKOFF_MAX_MS), failing batches at once meanwhile; readers and
 * the keeper reconnect by themselves.
 */
#include "queue/queue_pg.h"
#include "queue/queue_commit.h"
#include "queue/queue_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "config/conf_secret.h"
#include "util/buf.h"
#include "util/dl.h"
#include "util/log.h"
#include "util/net.h"

#define PQ_SONAME "libpq.so.5"
#define PG_SCHEMA_VERSION 3            /* 3: events for the application */
#define PG_LOCK_KEY 0x4f505354         /* "OPST": schema changes */
#define PG_LEASE_S 30                  /* a claim's lease */
#define PG_RENEW_S 10                  /* renewed this often */
#define PG_SWEEP_S 5                   /* lapsed leases looked for at most
                                        * this often (at a claim) */
#define PG_READERS_MAX 4
#define PG_BACKOFF_MIN_MS 250
#define PG_BACKOFF_MAX_MS 8000
#define PG_CHANNEL "outpost_work"
#define PG_CHANNEL_STATE "outpost_state"       /* profile_state changed */
#define PG_CHANNEL_SETTINGS "outpost_settings" /* settings changed */
#define QUOTA_KEEP_MS (2LL * 86400 * 1000)   /* the longest quota: N/d */
#define RATE_KEEP_S (2 * 86400)
#define RATE_PRUNE_EVERY_S 3600
#define PG_PARAMS_MAX 12
#define PG_PENDING_MAX 256             /* statements in flight on the
                                        * writing connection */

/* ---- libpq, loaded on first use ---- */

static struct pq_api {
	__typeof__(PQconnectdbParams) *connectdbParams;
	__typeof__(PQstatus) *status;
	__typeof__(PQerrorMessage) *errorMessage;
	__typeof__(PQfinish) *finish;
	__typeof__(PQexec) *exec;
	__typeof__(PQprepare) *prepare;
	__typeof__(PQexecPrepared) *execPrepared;
	__typeof__(PQresultStatus) *resultStatus;
	__typeof__(PQresultErrorField) *resultErrorField;
	__typeof__(PQresultErrorMessage) *resultErrorMessage;
	__typeof__(PQclear) *clear;
	__typeof__(PQntuples) *ntuples;
	__typeof__(PQgetvalue) *getvalue;
	__typeof__(PQgetisnull) *getisnull;
	__typeof__(PQgetlength) *getlength;
	__typeof__(PQcmdTuples) *cmdTuples;
	__typeof__(PQcmdStatus) *cmdStatus;
	__typeof__(PQconsumeInput) *consumeInput;
	__typeof__(PQnotifies) *notifies;
	__typeof__(PQfreemem) *freemem;
	__typeof__(PQsocket) *socket;
	__typeof__(PQtransactionStatus) *transactionStatus;
	__typeof__(PQsetNoticeProcessor) *setNoticeProcessor;
	__typeof__(PQenterPipelineMode) *enterPipelineMode;
	__typeof__(PQexitPipelineMode) *exitPipelineMode;
	__typeof__(PQpipelineSync) *pipelineSync;
	__typeof__(PQpipelineStatus) *pipelineStatus;
	__typeof__(PQsendPrepare) *sendPrepare;
	__typeof__(PQsendQueryPrepared) *sendQueryPrepared;
	__typeof__(PQsendQueryParams) *sendQueryParams;
	__typeof__(PQgetResult) *getResult;
	__typeof__(PQexecParams) *execParams;
	__typeof__(PQnfields) *nfields;
} pq;

static const struct dl_sym pq_funcs[] = {
#define F(n, f) DL_SYM(struct pq_api, n, f)
	F("PQconnectdbParams", connectdbParams), F("PQstatus", status),
	F("PQerrorMessage", errorMessage), F("PQfinish", finish),
	F("PQexec", exec), F("PQprepare", prepare),
	F("PQexecPrepared", execPrepared), F("PQresultStatus", resultStatus),
	F("PQresultErrorField", resultErrorField),
	F("PQresultErrorMessage", resultErrorMessage), F("PQclear", clear),
	F("PQntuples", ntuples), F("PQgetvalue", getvalue),
	F("PQgetisnull", getisnull), F("PQgetlength", getlength),
	F("PQcmdTuples", cmdTuples), F("PQcmdStatus", cmdStatus),
	F("PQconsumeInput", consumeInput), F("PQnotifies", notifies),
	F("PQfreemem", freemem), F("PQsocket", socket),
	F("PQtransactionStatus", transactionStatus),
	F("PQsetNoticeProcessor", setNoticeProcessor),
	F("PQenterPipelineMode", enterPipelineMode),
	F("PQexitPipelineMode", exitPipelineMode),
	F("PQpipelineSync", pipelineSync), F("PQpipelineStatus", pipelineStatus),
	F("PQsendPrepare", sendPrepare),
	F("PQsendQueryPrepared", sendQueryPrepared),
	F("PQsendQueryParams", sendQueryParams), F("PQgetResult", getResult),
	F("PQexecParams", execParams), F("PQnfields", nfields),
#undef F
};

static struct dl_lib pq_lib = {
	.soname = PQ_SONAME, .package = "libpq5", .minimum = "14",
	.purpose = "to use a PostgreSQL database", .syms = pq_funcs,
	.nsyms = DL_COUNT(pq_funcs), .api = &pq, .api_size = sizeof(pq),
	DL_STATE,
};

static int
pq_ready(struct op_err *e)
{
	return dl_load(&pq_lib, e);
}

/* ---- Statements ---- */

#define DBNOW "floor(extract(epoch FROM clock_timestamp()))::bigint"
#define DBNOW_MS "floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
#define LEASE_SQL "(" DBNOW " + 30)"
#define WAITING "state IN ('queued', 'deferred')"
#define BACK_FROM_SENDING \
	"CASE WHEN attempts > 0 THEN 'deferred' ELSE 'queued' END"
#define MSG_COLS "mid, id, sender, size, state, attempts, created, since," \
	" next_attempt, updated, profile, profile_used, last_error," \
	" (SELECT count(*) FROM recipients AS r WHERE r.mid = messages.mid)," \
	" node, metadata, subject"
/* queue_list: MSG_COLS and the first recipient and latest reply */
#define LIST_COLS MSG_COLS ", (SELECT address FROM recipients AS r" \
	" WHERE r.mid = messages.mid AND r.idx = 0)," \
	" (SELECT r.code || CASE WHEN coalesce(r.enhanced, '') = '' THEN ''" \
	" ELSE ' ' || r.enhanced END || ' ' || coalesce(r.reply, '')" \
	" FROM recipients AS r WHERE r.mid = messages.mid AND r.code IS NOT NULL" \
	" ORDER BY r.updated DESC LIMIT 1)"
#define RCPT_COLS "mid, idx, address, state, code, enhanced, reply," \
	" attempts, updated, profile, node"
#define RETRYABLE "(state = $2::text OR ($2::text IS NULL AND state IN" \
	" ('queued', 'deferred', 'failed', 'held')))"
#define UNCLAIMED "claimed = NULL, owner = NULL, lease_until = NULL"

enum {
	S_FIND, S_LOCK, S_SUBMIT, S_CLAIM, S_CLAIM_ID, S_RCPTS_OPEN, S_RCPT_RESULT,
	S_EVENT, S_EVENT_ID, S_TALLY, S_MSG_RESULT, S_RCPT_FAIL_OPEN, S_MSG_FAIL,
	S_UNCLAIM, S_WAIT_RCPTS, S_WAIT, S_ADVANCE, S_RECOVER, S_HOLD_EVENTS,
	S_HOLD, S_RELEASE_EVENTS, S_RELEASE_HELD, S_RETRY_RCPTS, S_RETRY_MSG,
	S_RETRY_ALL_EVENTS, S_RETRY_ALL_RCPTS, S_RETRY_ALL, S_DELETE, S_PURGE,
	S_RATE_ADD, S_RATE_PRUNE, S_COUNT_ADD, S_RENEW,
	S_RFIND, S_LIST, S_LIST_STATE, S_GET, S_RCPTS, S_EVENTS, S_COUNTS,
	S_NEXT_DUE, S_RATE, S_COUNTERS, S_BODY, S_BODY_PART,
	/* cluster state */
	S_RESERVE, S_UNRESERVE, S_PSTATE_PUT, S_PSTATE_LOAD, S_SETTINGS_GET,
	S_SETTINGS_NEW, S_SETTINGS_PUT, S_NODE_COUNTERS,
	/* events for the application */
	S_IDEM_FIND, S_IDEM_PUT, S_IDEM_PURGE, S_OUTBOX_QUEUED, S_OUTBOX_RESULT,
	S_OUTBOX_FAIL, S_SUPP_ADD, S_OUTBOX_CLAIM, S_OUTBOX_DEL, S_OUTBOX_RETRY,
	S_SUPP_DEL, S_SUPP_CHECK, S_SUPP_LIST, S_OUTBOX_COUNT, S_SUPP_UNRETRY,
	S_SUPP_ANY,
	S__COUNT
};

static const char *const s_sql[S__COUNT] = {
	[S_FIND] = "SELECT mid, state FROM messages WHERE id = $1 FOR UPDATE",
	/* the statements of a result name the message by its id, so that
	 * they go out together, behind this lock, in one round trip */
	[S_LOCK] = "SELECT 1 FROM messages WHERE id = $1 FOR UPDATE",
	[S_SUBMIT] = "WITH m AS (INSERT INTO messages (id, sender, size, state,"
	    " attempts, created, since, next_attempt, updated, profile, node,"
	    " owner, lease_until, metadata, subject)"
	    " VALUES ($1, $2, $3, $4, 0, $5, $5, $5, $5, $6,"
	    " CASE WHEN $4 = 'sending' THEN $9 END,"
	    " CASE WHEN $4 = 'sending' THEN $10 END,"
	    " CASE WHEN $4 = 'sending' THEN " LEASE_SQL " END, $11, $12)"
	    " ON CONFLICT (id) DO NOTHING RETURNING mid),"
	    " b AS (INSERT INTO bodies (mid, body) SELECT mid, $7 FROM m)"
	    " INSERT INTO recipients (mid, idx, address, state)"
	    " SELECT m.mid, r.i - 1, r.a, 'pending' FROM m,"
	    " unnest($8::text[]) WITH ORDINALITY AS r(a, i)",
	[S_CLAIM] = "WITH c AS (UPDATE messages SET state = 'sending',"
	    " claimed = $1, updated = $1, node = $3, owner = $4,"
	    " lease_until = " LEASE_SQL " WHERE mid IN (SELECT mid FROM messages"
	    " WHERE " WAITING " AND next_attempt <= $1 ORDER BY next_attempt"
	    " LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING " MSG_COLS ")"
	    " SELECT * FROM c ORDER BY mid",
	[S_CLAIM_ID] = "UPDATE messages SET state = 'sending', claimed = $1,"
	    " updated = $1, node = $3, owner = $4, lease_until = " LEASE_SQL
	    " WHERE id = $2 AND " WAITING " RETURNING " MSG_COLS,
	[S_RCPTS_OPEN] = "SELECT " RCPT_COLS ", EXISTS (SELECT 1 FROM"
	    " suppressions AS s WHERE s.address = lower(recipients.address))"
	    " FROM recipients"
	    " WHERE mid = ANY ($1::bigint[]) AND state IN ('pending', 'deferred')"
	    " ORDER BY mid, idx",
	[S_RCPT_RESULT] = "UPDATE recipients SET state = $3, code = $4,"
	    " enhanced = $5, reply = $6, attempts = attempts + 1, updated = $7,"
	    " profile = $8, node = $9 WHERE mid = (SELECT mid FROM messages"
	    " WHERE id = $1) AND idx = $2 RETURNING address",
	[S_EVENT] = "INSERT INTO events (mid, at, kind, text)"
	    " VALUES ($1, $2, $3, $4)",
	[S_EVENT_ID] = "INSERT INTO events (mid, at, kind, text)"
	    " SELECT mid, $2, $3, $4 FROM messages WHERE id = $1",
	[S_TALLY] = "SELECT count(*) FILTER (WHERE state IN ('pending',"
	    " 'deferred')), count(*) FILTER (WHERE state = 'sent'),"
	    " count(*) FILTER (WHERE state = 'failed')"
	    " FROM recipients WHERE mid = $1",
	/* the state derived from the recipients as queue_state_derive()
	 * does, in the same round trip */
	[S_MSG_RESULT] = "WITH t AS (SELECT count(*) FILTER (WHERE state IN"
	    " ('pending', 'deferred')) AS o, count(*) FILTER (WHERE state ="
	    " 'sent') AS s, count(*) FILTER (WHERE state = 'failed') AS f"
	    " FROM recipients WHERE mid = (SELECT mid FROM messages"
	    " WHERE id = $1)), d AS (SELECT CASE WHEN o > 0"
	    " THEN 'deferred' WHEN s > 0 THEN 'sent' ELSE 'failed' END AS st,"
	    " (o = 0 AND f = 0 AND s > 0) AS well FROM t)"
	    " UPDATE messages SET state = d.st, attempts = attempts + 1,"
	    " next_attempt = CASE WHEN d.st = 'deferred' THEN $2::bigint"
	    " ELSE next_attempt END,"
	    " profile_used = coalesce($3, profile_used),"
	    " last_error = CASE WHEN d.well THEN NULL"
	    " ELSE coalesce($4, last_error) END, updated = $5, node = $6, "
	    UNCLAIMED " FROM d WHERE id = $1 RETURNING d.st",
	[S_RCPT_FAIL_OPEN] = "UPDATE recipients SET state = 'failed',"
	    " updated = $2 WHERE mid = $1 AND state IN ('pending', 'deferred')",
	[S_MSG_FAIL] = "UPDATE messages SET state = $2, last_error = $3,"
	    " updated = $4, " UNCLAIMED " WHERE mid = $1",
	[S_UNCLAIM] = "UPDATE messages SET state = " BACK_FROM_SENDING ","
	    " next_attempt = $2, updated = $3, " UNCLAIMED
	    " WHERE mid = $1 AND state = 'sending'",
	[S_WAIT_RCPTS] = "UPDATE recipients SET state = 'deferred', code = $2,"
	    " enhanced = $3, reply = $4, updated = $5"
	    " WHERE mid = $1 AND state IN ('pending', 'deferred')",
	[S_WAIT] = "UPDATE messages SET last_error = coalesce($4, last_error),"
	    " state = CASE WHEN attempts > 0 OR EXISTS (SELECT 1 FROM recipients"
	    " AS r WHERE r.mid = $1 AND r.state = 'deferred') THEN 'deferred'"
	    " ELSE 'queued' END,"
	    " next_attempt = $2, updated = $3, " UNCLAIMED
	    " WHERE mid = $1 AND state = 'sending'",
	[S_ADVANCE] = "UPDATE messages SET next_attempt = $1 WHERE " WAITING
	    " AND next_attempt > $1 AND next_attempt <= $2",
	/* the claims of node $3 updated at or before $2 (INT64_MAX: all of
	 * them, the daemon's start; INT64_MIN: none), and every lapsed lease:
	 * a live lease of another node is never taken, however old */
	[S_RECOVER] = "WITH r AS (UPDATE messages SET state = "
	    BACK_FROM_SENDING ", next_attempt = least(next_attempt, $1),"
	    " updated = $1, " UNCLAIMED " WHERE state = 'sending' AND"
	    " ((updated <= $2 AND (node = $3 OR lease_until IS NULL))"
	    " OR lease_until < " DBNOW ") RETURNING mid, node)"
	    " INSERT INTO events (mid, at, kind, text) SELECT mid, $1,"
	    " 'recovered', 'node ' || coalesce(node, '?') || ': "
	    QUEUE_TEXT_RECOVERED "' FROM r",
	[S_HOLD_EVENTS] = "INSERT INTO events (mid, at, kind, text)"
	    " SELECT mid, $1, 'held', $2 FROM messages WHERE " WAITING,
	[S_HOLD] = "UPDATE messages SET state = 'held', updated = $1"
	    " WHERE " WAITING,
	[S_RELEASE_EVENTS] = "INSERT INTO events (mid, at, kind, text)"
	    " SELECT mid, $1, 'released', '" QUEUE_TEXT_RELEASED "'"
	    " FROM messages WHERE state = 'held'",
	[S_RELEASE_HELD] = "UPDATE messages SET state = 'queued',"
	    " next_attempt = $1, since = $1, updated = $1 WHERE state = 'held'",
	[S_RETRY_RCPTS] = "UPDATE recipients SET state = 'pending'"
	    " WHERE mid = $1 AND state IN ('failed', 'deferred')",
	[S_RETRY_MSG] = "UPDATE messages SET state = 'queued',"
	    " next_attempt = $2, since = $2, updated = $2, " UNCLAIMED
	    " WHERE mid = $1",
	[S_RETRY_ALL_EVENTS] = "INSERT INTO events (mid, at, kind, text)"
	    " SELECT mid, $1, 'retry', '" QUEUE_TEXT_RETRY "'"
	    " FROM messages WHERE " RETRYABLE,
	[S_RETRY_ALL_RCPTS] = "UPDATE recipients SET state = 'pending'"
	    " WHERE state IN ('failed', 'deferred') AND mid IN"
	    " (SELECT mid FROM messages WHERE " RETRYABLE " AND $1::bigint"
	    " IS NOT NULL)",
	[S_RETRY_ALL] = "UPDATE messages SET state = 'queued',"
	    " next_attempt = $1, since = $1, updated = $1, " UNCLAIMED
	    " WHERE " RETRYABLE,
	[S_DELETE] = "DELETE FROM messages WHERE mid = $1",
	[S_PURGE] = "DELETE FROM messages WHERE mid IN (SELECT mid FROM"
	    " messages WHERE state IN ('sent', 'failed') AND created < $1"
	    " AND updated < $1 ORDER BY mid LIMIT $2)",
	[S_RATE_ADD] = "INSERT INTO sends (profile, minute, n, last)"
	    " VALUES ($1, $2, $3, $4) ON CONFLICT (profile, minute)"
	    " DO UPDATE SET n = sends.n + excluded.n,"
	    " last = greatest(sends.last, excluded.last)",
	[S_RATE_PRUNE] = "DELETE FROM sends WHERE minute < $1",
	[S_COUNT_ADD] = "INSERT INTO counters (profile, sent, deferred, failed,"
	    " rcpt_sent, rcpt_deferred, rcpt_failed,"
	    " node) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
	    " ON CONFLICT (profile, node) DO UPDATE"
	    " SET sent = counters.sent + excluded.sent,"
	    " deferred = counters.deferred + excluded.deferred,"
	    " failed = counters.failed + excluded.failed,"
	    " rcpt_sent = counters.rcpt_sent + excluded.rcpt_sent,"
	    " rcpt_deferred = counters.rcpt_deferred + excluded.rcpt_deferred,"
	    " rcpt_failed = counters.rcpt_failed + excluded.rcpt_failed",
	[S_RENEW] = "UPDATE messages SET lease_until = " DBNOW " + $2"
	    " WHERE owner = $1 AND state = 'sending' AND id = ANY ($3::text[])",
	[S_RFIND] = "SELECT mid FROM messages WHERE id = $1",
	[S_LIST] = "SELECT " LIST_COLS " FROM messages WHERE mid < $1"
	    " ORDER BY mid DESC LIMIT $2",
	[S_LIST_STATE] = "SELECT " LIST_COLS " FROM messages WHERE state = $3"
	    " AND mid < $1 ORDER BY mid DESC LIMIT $2",
	[S_GET] = "SELECT " MSG_COLS " FROM messages WHERE mid = $1",
	[S_RCPTS] = "SELECT " RCPT_COLS " FROM recipients WHERE mid = $1"
	    " ORDER BY idx",
	[S_EVENTS] = "SELECT at, kind, text FROM (SELECT eid, at, kind, text"
	    " FROM events WHERE mid = $1 ORDER BY eid DESC LIMIT $2) AS e"
	    " ORDER BY eid",
	[S_COUNTS] = "SELECT state, count(*) FROM messages GROUP BY state",
	[S_NEXT_DUE] = "SELECT min(next_attempt) FROM messages WHERE " WAITING,
	[S_RATE] = "SELECT last, n FROM sends WHERE profile = $1"
	    " AND minute >= $2 ORDER BY minute",
	[S_COUNTERS] = "SELECT profile, sum(sent)::bigint, sum(deferred)::bigint,"
	    " sum(failed)::bigint, sum(rcpt_sent)::bigint,"
	    " sum(rcpt_deferred)::bigint, sum(rcpt_failed)::bigint FROM counters"
	    " GROUP BY profile ORDER BY profile",
	/* binary results: mid (int8), body (bytea) */
	[S_BODY] = "SELECT m.mid, b.body FROM messages AS m LEFT JOIN bodies"
	    " AS b ON b.mid = m.mid WHERE m.id = $1",
	/* binary results: mid (int8), the part (bytea), total (int8) */
	[S_BODY_PART] = "SELECT m.mid, substring(b.body FROM $2::integer"
	    " FOR $3::integer), octet_length(b.body)::bigint FROM messages AS m"
	    " LEFT JOIN bodies AS b ON b.mid = m.mid WHERE m.id = $1",
	/* ---- cluster state (schema 2) ---- */
	[S_RESERVE] = "SELECT outpost_reserve($1, $2::bigint[], $3::bigint[])",
	[S_UNRESERVE] = "DELETE FROM quota_sends WHERE sid = $1",
	[S_PSTATE_PUT] = "WITH u AS (INSERT INTO profile_state (profile,"
	    " pause_until, cooldown_until, slowdowns, failures, reason, node, seq)"
	    " VALUES ($1::text, CASE WHEN $2::bigint > 0 THEN " DBNOW_MS
	    " + $2::bigint ELSE 0 END, CASE WHEN $3::bigint > 0 THEN " DBNOW_MS
	    " + $3::bigint ELSE 0 END, $4, $5, $6, $7,"
	    " nextval('profile_state_seq')) ON CONFLICT (profile) DO UPDATE SET"
	    " pause_until = excluded.pause_until,"
	    " cooldown_until = excluded.cooldown_until,"
	    " slowdowns = excluded.slowdowns, failures = excluded.failures,"
	    " reason = excluded.reason, node = excluded.node, seq = excluded.seq"
	    " RETURNING seq) SELECT seq, pg_notify('" PG_CHANNEL_STATE "',"
	    " $1::text) FROM u",
	[S_PSTATE_LOAD] = "SELECT profile, greatest(pause_until - " DBNOW_MS
	    ", 0), greatest(cooldown_until - " DBNOW_MS ", 0), slowdowns,"
	    " failures, reason, coalesce(node, ''), seq FROM profile_state"
	    " ORDER BY profile",
	[S_SETTINGS_GET] = "SELECT text, version FROM settings WHERE id = 1",
	[S_SETTINGS_NEW] = "WITH u AS (INSERT INTO settings (id, text, version,"
	    " updated, node) VALUES (1, $1, 1, " DBNOW ", $2) ON CONFLICT (id)"
	    " DO NOTHING RETURNING version) SELECT version, pg_notify('"
	    PG_CHANNEL_SETTINGS "', '') FROM u",
	[S_SETTINGS_PUT] = "WITH u AS (UPDATE settings SET text = $1,"
	    " version = version + 1, updated = " DBNOW ", node = $2"
	    " WHERE id = 1 AND version = $3 RETURNING version) SELECT version,"
	    " pg_notify('" PG_CHANNEL_SETTINGS "', '') FROM u",
	[S_NODE_COUNTERS] = "SELECT node, sum(sent)::bigint,"
	    " sum(deferred)::bigint, sum(failed)::bigint, sum(rcpt_sent)::bigint,"
	    " sum(rcpt_deferred)::bigint, sum(rcpt_failed)::bigint FROM counters"
	    " GROUP BY node ORDER BY node",
	/* ---- events for the application ---- */
	[S_IDEM_FIND] = "SELECT id FROM idempotency WHERE key = $1 AND at > $2",
	/* a key older than a day is replaced; a race of two nodes on one
	 * key keeps the first */
	[S_IDEM_PUT] = "INSERT INTO idempotency (key, id, at) VALUES ($1, $2, $3)"
	    " ON CONFLICT (key) DO UPDATE SET id = excluded.id, at = excluded.at"
	    " WHERE idempotency.at <= $4",
	[S_IDEM_PURGE] = "DELETE FROM idempotency WHERE at <= $1",
	[S_OUTBOX_QUEUED] = "INSERT INTO outbox (hook, id, kind, rcpt, at,"
	    " next_try) SELECT $1, $2, 'queued', a, $3, $3"
	    " FROM unnest($4::text[]) AS a",
	[S_OUTBOX_RESULT] = "INSERT INTO outbox (hook, id, kind, rcpt, code,"
	    " enhanced, reply, profile, node, attempt, at, next_try)"
	    " SELECT $1, $2, $3, address, $4, $5, $6, $7, $8, attempts, $9, $9"
	    " FROM recipients WHERE mid = (SELECT mid FROM messages"
	    " WHERE id = $2) AND idx = $10",
	[S_OUTBOX_FAIL] = "INSERT INTO outbox (hook, id, kind, rcpt, code,"
	    " reply, node, attempt, at, next_try)"
	    " SELECT $1, $2, 'failed', address, 0, $3, $6, attempts, $4, $4"
	    " FROM recipients WHERE mid = $5 AND state IN ('pending', 'deferred')",
	[S_SUPP_ADD] = "INSERT INTO suppressions (address, reason, at, id)"
	    " SELECT lower(address), $3, $4, $1 FROM recipients"
	    " WHERE mid = (SELECT mid FROM messages WHERE id = $1)"
	    " AND idx = $2 ON CONFLICT (address) DO UPDATE"
	    " SET reason = excluded.reason, at = excluded.at, id = excluded.id",
	/* the oldest event of each message for the webhook, rows another
	 * node holds skipped */
	[S_OUTBOX_CLAIM] = "UPDATE outbox SET lease = $3 WHERE oid IN"
	    " (SELECT o.oid FROM outbox AS o WHERE o.hook = $1"
	    " AND o.next_try <= $2 AND o.lease <= $2 AND NOT EXISTS"
	    " (SELECT 1 FROM outbox AS p WHERE p.hook = o.hook AND p.id = o.id"
	    " AND p.oid < o.oid) ORDER BY o.oid LIMIT $4 FOR UPDATE SKIP LOCKED)"
	    " RETURNING oid, hook, kind, id, rcpt, code, enhanced, reply,"
	    " profile, node, attempt, at, tries,"
	    " (SELECT m.metadata FROM messages AS m WHERE m.id = outbox.id)",
	[S_OUTBOX_DEL] = "DELETE FROM outbox WHERE oid = $1",
	[S_OUTBOX_RETRY] = "UPDATE outbox SET tries = tries + 1, next_try = $2,"
	    " lease = 0 WHERE oid = $1",
	[S_SUPP_DEL] = "DELETE FROM suppressions WHERE address = $1",
	[S_SUPP_UNRETRY] = "DELETE FROM suppressions WHERE address IN"
	    " (SELECT lower(address) FROM recipients WHERE mid = $1"
	    " AND state IN ('failed', 'deferred'))",
	[S_SUPP_CHECK] = "SELECT u.i FROM unnest($1::text[]) WITH ORDINALITY"
	    " AS u(a, i) WHERE EXISTS (SELECT 1 FROM suppressions"
	    " WHERE address = lower(u.a))",
	[S_SUPP_LIST] = "SELECT address, reason, at, id FROM suppressions"
	    " WHERE address > $1 ORDER BY address LIMIT $2",
	[S_OUTBOX_COUNT] = "SELECT count(*) FROM outbox",
	[S_SUPP_ANY] = "SELECT EXISTS (SELECT 1 FROM suppressions)",
	/* ---- end of events for the application ---- */
};

/* Schema version 3: events for the application (version 2 is another
 * step of its own). */
static const char schema_v3[] =
	"ALTER TABLE messages ADD COLUMN metadata text;"
	"ALTER TABLE messages ADD COLUMN subject text;"
	"CREATE INDEX recipients_address ON recipients (lower(address));"
	"CREATE TABLE outbox ("
	" oid bigserial PRIMARY KEY,"
	" hook text NOT NULL,"
	" id text NOT NULL,"
	" kind text NOT NULL,"
	" rcpt text NOT NULL,"
	" code integer, enhanced text, reply text, profile text, node text,"
	" attempt integer NOT NULL DEFAULT 0,"
	" at bigint NOT NULL,"
	" tries integer NOT NULL DEFAULT 0,"
	" next_try bigint NOT NULL,"
	" lease bigint NOT NULL DEFAULT 0);"
	"CREATE INDEX outbox_msg ON outbox (hook, id, oid);"
	"CREATE TABLE idempotency ("
	" key text PRIMARY KEY,"
	" id text NOT NULL,"
	" at bigint NOT NULL);"
	"CREATE TABLE suppressions ("
	" address text PRIMARY KEY,"
	" reason text,"
	" at bigint NOT NULL,"
	" id text);"
	"INSERT INTO outpost_schema (version) VALUES (3);";
#define OUTBOX_LEASE_S 300

static const char schema_v1[] =
	"CREATE TABLE messages ("
	" mid bigserial PRIMARY KEY,"
	" id text NOT NULL UNIQUE,"
	" sender text NOT NULL,"
	" size bigint NOT NULL,"
	" state text NOT NULL CHECK (state IN ('queued', 'sending', 'deferred',"
	"   'sent', 'failed', 'held')),"
	" attempts integer NOT NULL DEFAULT 0,"
	" created bigint NOT NULL,"
	" since bigint NOT NULL,"
	" next_attempt bigint NOT NULL,"
	" updated bigint NOT NULL,"
	" claimed bigint,"
	" profile text,"
	" profile_used text,"
	" last_error text,"
	" node text,"
	" owner text,"
	" lease_until bigint);"
	"CREATE INDEX messages_state ON messages (state, mid);"
	"CREATE INDEX messages_due ON messages (next_attempt)"
	" WHERE state IN ('queued', 'deferred');"
	"CREATE INDEX messages_sending ON messages (owner)"
	" WHERE state = 'sending';"
	"CREATE TABLE bodies ("
	" mid bigint PRIMARY KEY REFERENCES messages (mid) ON DELETE CASCADE,"
	" body bytea NOT NULL);"
	"CREATE TABLE recipients ("
	" mid bigint NOT NULL REFERENCES messages (mid) ON DELETE CASCADE,"
	" idx integer NOT NULL,"
	" address text NOT NULL,"
	" state text NOT NULL CHECK (state IN ('pending', 'sent', 'deferred',"
	"   'failed')),"
	" code integer,"
	" enhanced text,"
	" reply text,"
	" attempts integer NOT NULL DEFAULT 0,"
	" updated bigint,"
	" profile text,"
	" node text,"
	" PRIMARY KEY (mid, idx));"
	"CREATE TABLE events ("
	" eid bigserial PRIMARY KEY,"
	" mid bigint NOT NULL REFERENCES messages (mid) ON DELETE CASCADE,"
	" at bigint NOT NULL,"
	" kind text NOT NULL,"
	" text text);"
	"CREATE INDEX events_mid ON events (mid);"
	"CREATE TABLE sends ("
	" profile text NOT NULL,"
	" minute bigint NOT NULL,"
	" n bigint NOT NULL,"
	" last bigint NOT NULL,"
	" PRIMARY KEY (profile, minute));"
	"CREATE TABLE counters ("
	" profile text PRIMARY KEY,"
	" sent bigint NOT NULL DEFAULT 0,"
	" deferred bigint NOT NULL DEFAULT 0,"
	" failed bigint NOT NULL DEFAULT 0,"
	" rcpt_sent bigint NOT NULL DEFAULT 0,"
	" rcpt_deferred bigint NOT NULL DEFAULT 0,"
	" rcpt_failed bigint NOT NULL DEFAULT 0);"
	"INSERT INTO outpost_schema (version) VALUES (1);";

/*
 * Schema 2: the state the nodes share besides the queue.
 *   counters.node   each node counts its own deliveries (a row per
 *                   profile and node; the totals are their sums)
 *   quota_sends     one row per send reserved under a profile's limits,
 *                   dated in the database's clock (ms); outpost_reserve()
 *                   checks every limit and inserts under a transaction
 *                   lock per profile, so two nodes never both take the
 *                   last slot of a window
 *   profile_state   a profile's pause (421, slow-down, quota) and
 *                   cool-down, as end times in the database's clock (ms);
 *                   seq grows with every write (NOTIFY outpost_state)
 *   settings        the one row of shared settings: the text of the
 *                   profile, [redirect] and [report] sections, and its
 *                   version (NOTIFY outpost_settings)
 */
static const char schema_v2[] =
	"ALTER TABLE counters ADD COLUMN node text NOT NULL DEFAULT '';"
	"ALTER TABLE counters DROP CONSTRAINT counters_pkey;"
	"ALTER TABLE counters ADD PRIMARY KEY (profile, node);"
	"CREATE TABLE quota_sends ("
	" sid bigserial PRIMARY KEY,"
	" profile text NOT NULL,"
	" at_ms bigint NOT NULL);"
	"CREATE INDEX quota_sends_at ON quota_sends (profile, at_ms);"
	"CREATE FUNCTION outpost_reserve(p text, counts bigint[],"
	"   periods bigint[]) RETURNS bigint LANGUAGE plpgsql AS $f$"
	" DECLARE now_ms bigint; t bigint; wait bigint := 0; id bigint;"
	" BEGIN"
	"  PERFORM pg_advisory_xact_lock(hashtext('outpost quota ' || p));"
	"  now_ms := " DBNOW_MS ";"
	"  FOR i IN 1 .. coalesce(array_length(counts, 1), 0) LOOP"
	"   SELECT at_ms INTO t FROM quota_sends WHERE profile = p"
	"    AND at_ms > now_ms - periods[i] * 1000"
	"    ORDER BY at_ms DESC OFFSET counts[i] - 1 LIMIT 1;"
	"   IF FOUND THEN"
	"    wait := greatest(wait, t + periods[i] * 1000 - now_ms);"
	"   END IF;"
	"  END LOOP;"
	"  IF wait > 0 THEN RETURN -wait; END IF;"
	"  IF random() < 0.001 THEN"
	"   DELETE FROM quota_sends WHERE at_ms < now_ms - 172800000;"
	"  END IF;"
	"  INSERT INTO quota_sends (profile, at_ms) VALUES (p, now_ms)"
	"   RETURNING sid INTO id;"
	"  RETURN id;"
	" END $f$;"
	"CREATE SEQUENCE profile_state_seq;"
	"CREATE TABLE profile_state ("
	" profile text PRIMARY KEY,"
	" pause_until bigint NOT NULL DEFAULT 0,"
	" cooldown_until bigint NOT NULL DEFAULT 0,"
	" slowdowns integer NOT NULL DEFAULT 0,"
	" failures integer NOT NULL DEFAULT 0,"
	" reason text NOT NULL DEFAULT '',"
	" node text,"
	" seq bigint NOT NULL);"
	"CREATE TABLE settings ("
	" id integer PRIMARY KEY CHECK (id = 1),"
	" text text NOT NULL,"
	" version bigint NOT NULL,"
	" updated bigint NOT NULL,"
	" node text);"
	"INSERT INTO outpost_schema (version) VALUES (2);";

/* ---- The handle ---- */

struct pgconn {
	PGconn *conn;
	int broken;                    /* lost: reconnect before the next use */
	unsigned char prepared[S__COUNT];
	int busy;                      /* readers: in use by a thread */
};

/* A statement sent on the writing connection in pipeline mode whose
 * result is read at the next flush (w_flush). */
struct pgq;

struct pend {
	const char *what;              /* for the error */
	int idx;                       /* the statement; -1 a command */
	int prepare;                   /* its PREPARE (cleared on failure) */
	int keep;                      /* the result the caller waits for */
	int guarded;                   /* sent inside the job's savepoint */
	int commit;                    /* COMMIT: its status is checked */
	uint64_t *changed;             /* rows changed, at the flush */
	struct queue_job *redo;        /* a submission: its id was taken */
	char none[QUEUE_ID_SIZE + 64]; /* no row changed: this error */
	int none_code;                 /* ... with this code (0: ERR_DATA) */
	/* a result read at the flush: got(s, job, result), rows only */
	void (*got)(struct pgq *, struct queue_job *, const PGresult *);
	struct queue_job *job;         /* whose statement (NULL: the batch's) */
};

struct pgq {
	struct queue_core core;        /* first: the group commit */
	char *uri;
	char where[256];               /* the URI without its password */
	char node[QUEUE_NODE_MAX + 1];
	char owner[QUEUE_NODE_MAX + 48]; /* node/pid/random: this handle */
	unsigned flags;

	/* committer only */
	struct pgconn w;
	int64_t next_try_ms;           /* no reconnect before (monotonic) */
	int backoff_ms;
	char down[ERR_MSG_MAX];        /* why the last connect failed */
	int notify;                    /* the batch made work due */
	int sp_open;                   /* savepoint j is open (released
	                                * with the next one, or committed) */
	int piped;                     /* w is in pipeline mode (a batch) */
	int guard;                     /* a job with a savepoint runs */
	int doomed;                    /* a statement outside the running
	                                * job's savepoint failed: the
	                                * transaction is gone */
	struct pend pend[PG_PENDING_MAX];
	size_t npend;
	PGresult *kept;                /* the result of the flush's keep */
	int64_t last_sweep, last_prune;

	/* under core.mu */
	int claims;                    /* this handle claimed: renew leases */
	char (*live)[QUEUE_ID_SIZE];   /* its claims still being worked on */
	size_t nlive, live_cap;
	int kstarted;

	_Atomic unsigned changes[2];   /* QUEUE_CHANGE_*: notifications heard */

	pthread_mutex_t wmu;           /* the callback, held while it runs */
	void (*watch_cb)(void *);
	void *watch_arg;

	pthread_t kthread;
	int kpipe[2];                  /* wakes the keeper to stop */

	pthread_mutex_t rmu;           /* the reader pool */
	pthread_cond_t rcv;
	struct pgconn readers[PG_READERS_MAX];
};

static const struct queue_ops pg_ops;
static const struct queue_txn pg_txn;

static struct pgq *
to_pg(struct queue *q)
{
	return (struct pgq *)q;
}

static struct pgq *
core_pg(struct queue_core *c)
{
	return (struct pgq *)c;
}

static void
notice_none(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* The server's message on one line, without its "ERROR:  " prefix. */
static void
pg_message(char *dst, size_t dsz, const char *msg)
{
	if (msg == NULL || msg[0] == '\0')
		msg = "no reply";
	if (strncmp(msg, "ERROR:  ", 8) == 0)
		msg += 8;
	log_sanitize(dst, dsz, msg);
	while (strlen(dst) > 0 && (dst[strlen(dst) - 1] == ' ' ||
	    dst[strlen(dst) - 1] == '.'))
		dst[strlen(dst) - 1] = '\0';
}

static int
conn_lost(const struct pgconn *k)
{
	return k->conn == NULL || k->broken ||
	    pq.status(k->conn) != CONNECTION_OK;
}

/* Fill e from a failed statement (res may be NULL) on k; a lost
 * connection or a server going away is ERR_TEMP and marks k broken.
 * Returns -1. */
static int
pg_err(struct pgq *s, struct pgconn *k, const PGresult *res, const char *what,
    struct op_err *e)
{
	const char *code = res != NULL ?
	    pq.resultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	char msg[512];

	pg_message(msg, sizeof(msg), res != NULL && code != NULL ?
	    pq.resultErrorMessage(res) : k->conn != NULL ?
	    pq.errorMessage(k->conn) : "not connected");
	if (conn_lost(k) || code == NULL || strncmp(code, "08", 2) == 0 ||
	    strncmp(code, "57", 2) == 0) {
		k->broken = 1;
		return err_set(e, ERR_TEMP, "%s: lost the PostgreSQL database %s "
		    "(%s); Outpost reconnects by itself: check that the server "
		    "runs and answers (nothing was stored)", what, s->where, msg);
	}
	if (strncmp(code, "53", 2) == 0 || strncmp(code, "40", 2) == 0 ||
	    strcmp(code, "55P03") == 0)
		return err_set(e, ERR_TEMP, "%s: PostgreSQL %s is out of resources "
		    "or busy (%s, SQLSTATE %s); try again (nothing was stored)",
		    what, s->where, msg, code);
	return err_set(e, ERR_SOFTWARE, "%s: database error on %s: %s "
	    "(SQLSTATE %s)", what, s->where, msg, code);
}

/* Connect k with Outpost's defaults (the URI's own settings win). */
static int
pg_connect(struct pgq *s, struct pgconn *k, struct op_err *e)
{
	static const char *const keys[] = {
		"connect_timeout", "keepalives_idle", "keepalives_interval",
		"keepalives_count", "tcp_user_timeout", "application_name",
		"dbname", NULL,
	};
	const char *vals[] = {
		"5", "10", "5", "3", "15000", "outpost", s->uri, NULL,
	};
	char msg[512];
	PGresult *r;

	memset(k->prepared, 0, sizeof(k->prepared));
	k->broken = 0;
	k->conn = pq.connectdbParams(keys, vals, 1);
	if (k->conn == NULL || pq.status(k->conn) != CONNECTION_OK) {
		pg_message(msg, sizeof(msg), k->conn != NULL ?
		    pq.errorMessage(k->conn) : "out of memory");
		if (k->conn != NULL)
			pq.finish(k->conn);
		k->conn = NULL;
		return err_set(e, ERR_TEMP, "cannot connect to the PostgreSQL "
		    "database %s (%s): check that the server runs and that "
		    "[server] database names it (Outpost retries by itself)",
		    s->where, msg);
	}
	pq.setNoticeProcessor(k->conn, notice_none, NULL);
	/* a 250 only after the commit is on the server's disk, whatever the
	 * server's default */
	r = pq.exec(k->conn, "SET synchronous_commit = on;"
	    " SET client_min_messages = warning");
	if (pq.resultStatus(r) != PGRES_COMMAND_OK) {
		pg_err(s, k, r, "cannot set up the connection", e);
		pq.clear(r);
		pq.finish(k->conn);
		k->conn = NULL;
		return -1;
	}
	pq.clear(r);
	return 0;
}

static void
pg_disconnect(struct pgconn *k)
{
	if (k->conn != NULL)
		pq.finish(k->conn);
	k->conn = NULL;
	k->broken = 0;
}

/* ---- Parameters and results ---- */

struct prm {
	const char *v[PG_PARAMS_MAX];
	int len[PG_PARAMS_MAX];
	int fmt[PG_PARAMS_MAX];
	char buf[PG_PARAMS_MAX][24];
	int n;
};

static void
p_i64(struct prm *p, int64_t x)
{
	snprintf(p->buf[p->n], sizeof(p->buf[0]), "%" PRId64, x);
	p->v[p->n] = p->buf[p->n];
	p->len[p->n] = 0;
	p->fmt[p->n] = 0;
	p->n++;
}

static void
p_null(struct prm *p)
{
	p->v[p->n] = NULL;
	p->len[p->n] = 0;
	p->fmt[p->n] = 0;
	p->n++;
}

/* Text, cut at max bytes (on a character boundary), sent as is. */
static void
p_str(struct prm *p, const char *s, size_t max)
{
	size_t n;

	if (s == NULL) {
		p_null(p);
		return;
	}
	n = strnlen(s, max);
	if (n == max)
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	p->v[p->n] = s;
	p->len[p->n] = (int)n;
	p->fmt[p->n] = 1;              /* binary text: the bytes */
	p->n++;
}

static void
p_bin(struct prm *p, const void *d, size_t n)
{
	p->v[p->n] = n > 0 ? d : "";
	p->len[p->n] = (int)n;
	p->fmt[p->n] = 1;
	p->n++;
}

/* Run statement idx on k (prepared on first use); NULL with e filled on
 * failure.  bin: results in binary. */
static PGresult *
k_run(struct pgq *s, struct pgconn *k, int idx, const struct prm *p, int bin,
    const char *what, struct op_err *e)
{
	char name[16];
	PGresult *r;
	ExecStatusType st;

	snprintf(name, sizeof(name), "s%d", idx);
	if (conn_lost(k)) {
		pg_err(s, k, NULL, what, e);
		return NULL;
	}
	if (!k->prepared[idx]) {
		r = pq.prepare(k->conn, name, s_sql[idx], 0, NULL);
		if (pq.resultStatus(r) != PGRES_COMMAND_OK) {
			pg_err(s, k, r, what, e);
			pq.clear(r);
			return NULL;
		}
		pq.clear(r);
		k->prepared[idx] = 1;
	}
	r = pq.execPrepared(k->conn, name, p != NULL ? p->n : 0,
	    p != NULL ? p->v : NULL, p != NULL ? p->len : NULL,
	    p != NULL ? p->fmt : NULL, bin);
	st = pq.resultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		pg_err(s, k, r, what, e);
		pq.clear(r);
		return NULL;
	}
	return r;
}

/* The same, for a statement whose result is not needed. */
static int
k_do(struct pgq *s, struct pgconn *k, int idx, const struct prm *p,
    const char *what, uint64_t *changed, struct op_err *e)
{
	PGresult *r = k_run(s, k, idx, p, 0, what, e);

	if (r == NULL)
		return -1;
	if (changed != NULL)
		*changed = strtoull(pq.cmdTuples(r), NULL, 10);
	pq.clear(r);
	return 0;
}

/* A simple command on k (BEGIN, COMMIT, ...). */
static int
k_simple(struct pgq *s, struct pgconn *k, const char *sql, const char *what,
    struct op_err *e)
{
	PGresult *r;

	if (conn_lost(k))
		return pg_err(s, k, NULL, what, e);
	r = pq.exec(k->conn, sql);
	if (pq.resultStatus(r) != PGRES_COMMAND_OK &&
	    pq.resultStatus(r) != PGRES_TUPLES_OK) {
		pg_err(s, k, r, what, e);
		pq.clear(r);
		return -1;
	}
	pq.clear(r);
	return 0;
}

static int64_t
c_i64(const PGresult *r, int row, int col)
{
	return strtoll(pq.getvalue(r, row, col), NULL, 10);
}

/* A binary int8 or int4 column. */
static int64_t
c_bin_i64(const PGresult *r, int row, int col)
{
	const unsigned char *v = (const unsigned char *)pq.getvalue(r, row, col);
	int n = pq.getlength(r, row, col), i;
	uint64_t x = 0;

	for (i = 0; i < n && i < 8; i++)
		x = (x << 8) | v[i];
	if (n == 4)
		return (int32_t)(uint32_t)x;
	return (int64_t)x;
}

static const char *
c_set(struct queue_set *set, const PGresult *r, int row, int col)
{
	if (pq.getisnull(r, row, col))
		return NULL;
	return queue_set_strndup(set, pq.getvalue(r, row, col),
	    (size_t)pq.getlength(r, row, col));
}

static const char *
c_set_or_empty(struct queue_set *set, const PGresult *r, int row, int col)
{
	const char *v = c_set(set, r, row, col);

	return v != NULL ? v : queue_set_strndup(set, "", 0);
}

/* A row of MSG_COLS into a new message of set; returns its mid. */
static int64_t
row_msg(struct queue_set *set, const PGresult *r, int i)
{
	struct queue_msg *m = queue_set_add_msg(set);

	str_copy(m->id, sizeof(m->id), pq.getvalue(r, i, 1));
	m->sender = c_set_or_empty(set, r, i, 2);
	m->size = (uint64_t)c_i64(r, i, 3);
	m->state = queue_msg_state_parse(pq.getvalue(r, i, 4));
	m->attempts = (unsigned)c_i64(r, i, 5);
	m->created = c_i64(r, i, 6);
	m->since = c_i64(r, i, 7);
	m->next_attempt = c_i64(r, i, 8);
	m->updated = c_i64(r, i, 9);
	m->profile = c_set(set, r, i, 10);
	m->profile_used = c_set(set, r, i, 11);
	m->last_error = c_set(set, r, i, 12);
	m->nrcpts_total = (size_t)c_i64(r, i, 13);
	m->node = c_set(set, r, i, 14);
	m->metadata = c_set(set, r, i, 15);
	m->subject = c_set(set, r, i, 16);
	if (pq.nfields(r) > 18) {
		m->first_rcpt = c_set(set, r, i, 17);
		m->last_reply = c_set(set, r, i, 18);
	}
	return c_i64(r, i, 0);
}

/* A row of RCPT_COLS into a new recipient of message m. */
static void
row_rcpt(struct queue_set *set, struct queue_msg *m, const PGresult *r, int i)
{
	struct queue_rcpt *x = queue_set_add_rcpt(set, m);

	x->idx = (unsigned)c_i64(r, i, 1);
	x->address = c_set_or_empty(set, r, i, 2);
	x->state = queue_rcpt_state_parse(pq.getvalue(r, i, 3));
	x->code = (int)c_i64(r, i, 4);
	x->enhanced = c_set_or_empty(set, r, i, 5);
	x->reply = c_set_or_empty(set, r, i, 6);
	x->attempts = (unsigned)c_i64(r, i, 7);
	x->updated = c_i64(r, i, 8);
	x->profile = c_set(set, r, i, 9);
	x->node = c_set(set, r, i, 10);
	if (pq.nfields(r) > 11)
		x->suppressed = strcmp(pq.getvalue(r, i, 11), "t") == 0;
}

/* ---- The transaction of the committer (queue_commit.c) ---- */

/*
 * The writing connection runs a batch in libpq's pipeline mode: a
 * statement whose result a job does not need at once (w_defer, w_cmd) is
 * sent and its result read at the next flush, together with every other
 * statement sent meanwhile, in one round trip (PQpipelineSync).  A
 * statement whose result is needed (w_run, w_do) flushes.  A job with a
 * savepoint flushes before it ends (txn_job_end), so its statements fail
 * it alone.  A failure of a statement sent outside the running job's
 * savepoint (BEGIN, SAVEPOINT, a submission, a result) dooms the
 * transaction and nothing of it is acknowledged; the job that sent it is
 * blamed (pend.job), and the committer tries the batch again without it.
 * COMMIT is only sent once every statement whose rows are checked has
 * been read.
 */

static int submit_again(struct pgq *s, struct queue_job *j,
    struct op_err *e);

/* Queue statement idx (prepared on the connection's first use). */
static struct pend *
w_send(struct pgq *s, int idx, const char *sql, const struct prm *p,
    const char *what, struct op_err *e)
{
	struct pgconn *k = &s->w;
	struct pend *x;
	char name[16];
	int ok;

	if (conn_lost(k)) {
		pg_err(s, k, NULL, what, e);
		return NULL;
	}
	if (idx >= 0) {
		snprintf(name, sizeof(name), "s%d", idx);
		if (!k->prepared[idx]) {
			if (!pq.sendPrepare(k->conn, name, s_sql[idx], 0, NULL)) {
				pg_err(s, k, NULL, what, e);
				return NULL;
			}
			x = &s->pend[s->npend++];
			memset(x, 0, sizeof(*x));
			x->what = what;
			x->idx = idx;
			x->prepare = 1;
			x->guarded = s->guard;
			k->prepared[idx] = 1;
		}
		ok = pq.sendQueryPrepared(k->conn, name, p != NULL ? p->n : 0,
		    p != NULL ? p->v : NULL, p != NULL ? p->len : NULL,
		    p != NULL ? p->fmt : NULL, 0);
	} else {
		ok = pq.sendQueryParams(k->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
	}
	if (!ok) {
		pg_err(s, k, NULL, what, e);
		return NULL;
	}
	x = &s->pend[s->npend++];
	memset(x, 0, sizeof(*x));
	x->what = what;
	x->idx = idx;
	x->guarded = s->guard;
	x->job = s->core.running;
	return x;
}

/*
 * Statement x changed no row where it had to.  The first such failure is
 * the flush's (*e); a statement outside a savepoint dooms the transaction
 * and blames its job (*bad).  Later ones outside a savepoint blame their
 * jobs too, each with its own error, so that every job whose row is gone
 * leaves the batch in one try (the server went on running them).
 */
static void
none_failed(struct pgq *s, struct pend *x, int *failed,
    struct queue_job **bad, struct op_err *e)
{
	int code = x->none_code != 0 ? x->none_code : ERR_DATA;

	if (!*failed) {
		err_set(e, code, "%s", x->none);
		*failed = 1;
		if (!x->guarded) {
			s->doomed = 1;
			*bad = x->job;
		}
	} else if (!x->guarded) {
		s->doomed = 1;
		/* its first error only; the running job's is *e, and it
		 * fails in its own code */
		if (x->job != NULL && x->job != *bad && !x->job->blamed &&
		    &x->job->err != e) {
			x->job->blamed = 1;
			err_set(&x->job->err, code, "%s", x->none);
		}
	}
}

/* Read the results of everything sent; 0 if each succeeded (and changed
 * rows where it had to).  The kept result, if any, goes to s->kept. */
static int
w_flush(struct pgq *s, struct op_err *e)
{
	struct pgconn *k = &s->w;
	struct queue_job *redo[PG_PENDING_MAX];
	struct queue_job *bad = NULL;
	size_t i, nredo = 0;
	PGresult *r;
	int failed = 0;

	if (s->npend == 0)
		return 0;
	if (!pq.pipelineSync(k->conn)) {
		s->npend = 0;
		s->doomed = 1;
		return pg_err(s, k, NULL, "cannot store", e);
	}
	for (i = 0; i < s->npend; i++) {
		struct pend *x = &s->pend[i];
		ExecStatusType st;

		r = pq.getResult(k->conn);
		if (r == NULL) {
			/* the connection went */
			s->npend = 0;
			s->doomed = 1;
			k->broken = 1;
			return failed ? -1 : pg_err(s, k, NULL, x->what, e);
		}
		st = pq.resultStatus(r);
		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
			if (x->prepare)
				k->prepared[x->idx] = 0;
			if (!failed && st != PGRES_PIPELINE_ABORTED) {
				pg_err(s, k, r, x->what, e);
				failed = 1;
				if (!x->guarded) {
					s->doomed = 1;
					bad = x->job;
				}
			}
			pq.clear(r);
		} else if (x->commit && strcmp(pq.cmdStatus(r), "COMMIT") != 0) {
			/* the server rolled the transaction back */
			if (!failed)
				err_set(e, ERR_TEMP, "cannot commit: PostgreSQL %s "
				    "rolled the transaction back; try again (nothing "
				    "was stored)", s->where);
			failed = 1;
			pq.clear(r);
		} else {
			uint64_t n = strtoull(pq.cmdTuples(r), NULL, 10);

			if (x->changed != NULL)
				*x->changed = n;
			if (n == 0 && x->redo != NULL)
				redo[nredo++] = x->redo;
			if (n == 0 && x->none[0] != '\0')
				none_failed(s, x, &failed, &bad, e);
			if (n > 0 && x->got != NULL && !failed)
				x->got(s, x->job, r);
			if (x->keep && !failed)
				s->kept = r;
			else
				pq.clear(r);
		}
		/* the end of this statement's results */
		while ((r = pq.getResult(k->conn)) != NULL)
			pq.clear(r);
	}
	s->npend = 0;
	r = pq.getResult(k->conn);
	if (r == NULL || pq.resultStatus(r) != PGRES_PIPELINE_SYNC) {
		k->broken = 1;
		s->doomed = 1;
		if (!failed)
			pg_err(s, k, NULL, "cannot store", e);
		failed = 1;
	}
	pq.clear(r);
	if (failed) {
		if (s->kept != NULL)
			pq.clear(s->kept);
		s->kept = NULL;
		/* a statement of that job doomed the transaction, not the
		 * connection: the batch goes again without it (run_batch) */
		if (bad != NULL && !conn_lost(k)) {
			bad->blamed = 1;
			if (&bad->err != e)
				bad->err = *e;
		}
		return -1;
	}
	for (i = 0; i < nredo; i++) {
		struct queue_job *was = s->core.running;
		int rc;

		s->core.running = redo[i];
		rc = submit_again(s, redo[i], e);
		s->core.running = was;
		if (rc < 0) {
			s->doomed = 1;
			return -1;
		}
	}
	return 0;
}

/* Send statement idx; its result is read at the next flush.  none: the
 * error when it changes no row (may be NULL). */
static struct pend *
w_later(struct pgq *s, int idx, const struct prm *p, const char *what,
    uint64_t *changed, const char *none, struct op_err *e)
{
	struct pend *x;

	if (s->npend + 2 > PG_PENDING_MAX && w_flush(s, e) < 0)
		return NULL;
	if ((x = w_send(s, idx, NULL, p, what, e)) == NULL)
		return NULL;
	x->changed = changed;
	if (none != NULL)
		str_copy(x->none, sizeof(x->none), none);
	return x;
}

static int
w_defer(struct pgq *s, int idx, const struct prm *p, const char *what,
    uint64_t *changed, const char *none, struct op_err *e)
{
	return w_later(s, idx, p, what, changed, none, e) == NULL ? -1 : 0;
}

/* A command without parameters (BEGIN, SAVEPOINT, ...), deferred. */
static struct pend *
w_cmd(struct pgq *s, const char *sql, const char *what, struct op_err *e)
{
	if (s->npend + 2 > PG_PENDING_MAX && w_flush(s, e) < 0)
		return NULL;
	return w_send(s, -1, sql, NULL, what, e);
}

/* Run statement idx and return its result (everything sent before is
 * read too); NULL with e filled on failure. */
static PGresult *
w_run(struct pgq *s, int idx, const struct prm *p, const char *what,
    struct op_err *e)
{
	struct pend *x;
	PGresult *r;

	if (!s->piped)
		return k_run(s, &s->w, idx, p, 0, what, e);
	if (s->npend + 2 > PG_PENDING_MAX && w_flush(s, e) < 0)
		return NULL;
	if ((x = w_send(s, idx, NULL, p, what, e)) == NULL)
		return NULL;
	x->keep = 1;
	s->kept = NULL;
	if (w_flush(s, e) < 0)
		return NULL;
	r = s->kept;
	s->kept = NULL;
	return r;
}

static int
w_do(struct pgq *s, int idx, const struct prm *p, const char *what,
    uint64_t *changed, struct op_err *e)
{
	PGresult *r = w_run(s, idx, p, what, e);

	if (r == NULL)
		return -1;
	if (changed != NULL)
		*changed = strtoull(pq.cmdTuples(r), NULL, 10);
	pq.clear(r);
	return 0;
}

/* Leave pipeline mode (every result read); the connection is broken if
 * it cannot. */
static void
w_unpipe(struct pgq *s)
{
	struct op_err e;

	if (!s->piped)
		return;
	if (s->npend > 0)
		(void)w_flush(s, &e);
	if (s->w.conn != NULL && !pq.exitPipelineMode(s->w.conn))
		s->w.broken = 1;
	s->piped = 0;
	s->npend = 0;
}

static int
txn_begin(struct queue_core *c, struct op_err *e)
{
	struct pgq *s = core_pg(c);
	int64_t now = clock_mono_ms();

	s->notify = 0;
	s->sp_open = 0;
	s->guard = 0;
	s->doomed = 0;
	s->npend = 0;
	if (conn_lost(&s->w)) {
		int was_up = s->w.conn != NULL;

		pg_disconnect(&s->w);
		if (was_up) {
			log_event(LOG_WARN, "queue_db_lost", "database", s->where,
			    NULL);
			s->next_try_ms = 0;
		}
		if (now < s->next_try_ms)
			return err_set(e, ERR_TEMP, "cannot store: the PostgreSQL "
			    "database is unreachable (%s); Outpost reconnects by "
			    "itself (nothing was stored)", s->down);
		if (pg_connect(s, &s->w, e) < 0) {
			if (s->backoff_ms == 0)
				log_event(LOG_WARN, "queue_db_down", "error", e->msg,
				    NULL);
			s->backoff_ms = s->backoff_ms == 0 ? PG_BACKOFF_MIN_MS :
			    s->backoff_ms * 2 > PG_BACKOFF_MAX_MS ?
			    PG_BACKOFF_MAX_MS : s->backoff_ms * 2;
			s->next_try_ms = now + s->backoff_ms;
			str_copy(s->down, sizeof(s->down), e->msg);
			return -1;
		}
		if (s->backoff_ms != 0 || was_up)
			log_event(LOG_INFO, "queue_db_back", "database", s->where,
			    NULL);
		s->backoff_ms = 0;
	}
	if (!pq.enterPipelineMode(s->w.conn))
		return pg_err(s, &s->w, NULL, "cannot store", e);
	s->piped = 1;
	/* read with the first statement that needs a result */
	return w_cmd(s, "BEGIN", "cannot store", e) == NULL ? -1 : 0;
}

/* A job's savepoint is released with the next one's, in the same round
 * trip as the job's first statement, or committed with the transaction. */
static int
txn_savepoint(struct queue_core *c, struct op_err *e)
{
	struct pgq *s = core_pg(c);

	s->guard = 0;
	if (s->sp_open && w_cmd(s, "RELEASE SAVEPOINT j", "cannot store",
	    e) == NULL)
		return -1;
	if (w_cmd(s, "SAVEPOINT j", "cannot store", e) == NULL)
		return -1;
	s->sp_open = 1;
	s->guard = 1;
	return 0;
}

/* A job with a savepoint ends: what it sent is read, so that it fails
 * alone if it has to. */
static int
txn_job_end(struct queue_core *c, struct op_err *e)
{
	return w_flush(core_pg(c), e);
}

static int
txn_release(struct queue_core *c, struct op_err *e)
{
	(void)e;
	core_pg(c)->guard = 0;
	return 0;
}

static int
txn_rollback_to(struct queue_core *c, struct op_err *e)
{
	struct pgq *s = core_pg(c);
	struct op_err ignored;

	err_clear(&ignored);
	s->sp_open = 0;
	s->guard = 0;
	/* what the failed job left unread fails with it, unless it was sent
	 * outside its savepoint */
	if (s->npend > 0)
		(void)w_flush(s, &ignored);
	if (s->doomed)
		return err_set(e, ERR_TEMP, "cannot store: the transaction was "
		    "lost (%s); try again (nothing was stored)", ignored.msg);
	if (w_cmd(s, "ROLLBACK TO SAVEPOINT j", "cannot store", e) == NULL ||
	    w_cmd(s, "RELEASE SAVEPOINT j", "cannot store", e) == NULL)
		return -1;
	if (w_flush(s, e) < 0) {
		s->doomed = 1;
		return -1;
	}
	return 0;
}

static int
txn_lost(struct queue_core *c)
{
	struct pgq *s = core_pg(c);
	PGTransactionStatusType t;

	if (s->doomed || conn_lost(&s->w))
		return 1;
	if (s->piped)
		return 0;
	t = pq.transactionStatus(s->w.conn);
	return t != PQTRANS_INTRANS && t != PQTRANS_INERROR;
}

static int
txn_commit(struct queue_core *c, struct op_err *e)
{
	struct pgq *s = core_pg(c);
	struct pend *x;
	char msg[512];
	size_t i;
	int checked = 0;

	if (conn_lost(&s->w))
		return pg_err(s, &s->w, NULL, "cannot commit", e);
	/* rows checked must be read before COMMIT is sent */
	for (i = 0; i < s->npend; i++)
		if (s->pend[i].redo != NULL || s->pend[i].none[0] != '\0')
			checked = 1;
	if (checked && w_flush(s, e) < 0)
		return -1;
	s->guard = 0;
	if (s->notify && w_cmd(s, "NOTIFY " PG_CHANNEL, "cannot commit",
	    e) == NULL)
		return -1;
	if ((x = w_cmd(s, "COMMIT", "cannot commit", e)) == NULL)
		return -1;
	x->commit = 1;
	if (w_flush(s, e) == 0) {
		w_unpipe(s);
		return 0;
	}
	if (!conn_lost(&s->w))
		return -1;
	/* the connection went during COMMIT: it may or may not have been
	 * done, and nothing of it is acknowledged */
	pg_message(msg, sizeof(msg), s->w.conn != NULL ?
	    pq.errorMessage(s->w.conn) : "not connected");
	s->w.broken = 1;
	return err_set(e, ERR_TEMP, "cannot commit: lost the PostgreSQL "
	    "database %s during COMMIT (%s): its outcome is unknown and "
	    "nothing was acknowledged; try again (a message may then be "
	    "stored twice, never lost)", s->where, msg);
}

static void
txn_rollback(struct queue_core *c)
{
	struct pgq *s = core_pg(c);
	PGresult *r;

	w_unpipe(s);
	if (conn_lost(&s->w) ||
	    pq.transactionStatus(s->w.conn) == PQTRANS_IDLE)
		return;
	r = pq.exec(s->w.conn, "ROLLBACK");
	if (pq.resultStatus(r) != PGRES_COMMAND_OK)
		s->w.broken = 1;
	pq.clear(r);
}

static int
rate_add(struct pgq *s, const char *profile, int64_t now, unsigned n,
    struct op_err *e)
{
	struct prm p = { .n = 0 };

	p_str(&p, profile, QUEUE_PROFILE_MAX);
	p_i64(&p, now / 60);
	p_i64(&p, n);
	p_i64(&p, now);
	if (w_defer(s, S_RATE_ADD, &p, "cannot count a send", NULL, NULL,
	    e) < 0)
		return -1;
	if (now - s->last_prune >= RATE_PRUNE_EVERY_S) {
		p.n = 0;
		p_i64(&p, (now - RATE_KEEP_S) / 60);
		if (w_defer(s, S_RATE_PRUNE, &p, "cannot prune send counts", NULL,
		    NULL, e) < 0)
			return -1;
		s->last_prune = now;
	}
	return 0;
}

static int
txn_rate_add(struct queue_core *c, const char *profile, int64_t at,
    unsigned n, struct op_err *e)
{
	return rate_add(core_pg(c), profile, at, n, e);
}

static int
txn_count_add(struct queue_core *c, const char *profile,
    const uint64_t n[QUEUE_COUNT_N], struct op_err *e)
{
	struct prm p = { .n = 0 };
	int k;

	p_str(&p, profile, QUEUE_PROFILE_MAX);
	for (k = 0; k < QUEUE_COUNT_N; k++)
		p_i64(&p, (int64_t)n[k]);
	p_str(&p, core_pg(c)->node, QUEUE_NODE_MAX + 1);
	return w_defer(core_pg(c), S_COUNT_ADD, &p, "cannot count a delivery",
	    NULL, NULL, e);
}

static void *keeper(void *arg);

/* Under core.mu: the live claims of this handle. */
static void
live_add(struct pgq *s, const char *id)
{
	if (s->nlive == s->live_cap) {
		s->live_cap = s->live_cap ? s->live_cap * 2 : 64;
		s->live = mem_realloc(s->live, s->live_cap * sizeof(*s->live));
	}
	memcpy(s->live[s->nlive++], id, QUEUE_ID_SIZE);
}

static void
live_del(struct pgq *s, const char *id)
{
	size_t i;

	for (i = 0; i < s->nlive; i++)
		if (strcmp(s->live[i], id) == 0) {
			memcpy(s->live[i], s->live[--s->nlive], QUEUE_ID_SIZE);
			return;
		}
}

/*
 * After a batch: the claims it made are live (their leases renewed by
 * the keeper) until a record, unclaim, wait or fail of the message ends
 * them, committed or not: a worker that could not record its attempt
 * (the database was lost) has let go of the message, whose lease then
 * lapses, and any node delivers it again (at least once).  A handle that
 * holds claims needs its keeper.
 */
static void
txn_after(struct queue_core *c, struct queue_job *batch, int rc)
{
	struct pgq *s = core_pg(c);
	struct queue_job *j;
	size_t i;
	int start;

	(void)rc;
	pthread_mutex_lock(&c->mu);
	for (j = batch; j != NULL; j = j->next) {
		if (j->kind == QJ_CLAIM && j->rc == 0)
			for (i = 0; i < j->set->n; i++)
				live_add(s, j->set->msgs[i].id);
		else if (j->kind == QJ_SUBMIT && j->rc == 0 &&
		    j->m->state == QUEUE_MSG_SENDING)
			live_add(s, j->id);
		else if (j->kind == QJ_RECORD)
			live_del(s, j->o->id);
		else if (j->kind == QJ_UNCLAIM || j->kind == QJ_WAIT ||
		    j->kind == QJ_FAIL)
			live_del(s, j->id);
	}
	start = s->claims && !s->kstarted && !c->stop;
	if (start)
		s->kstarted = pthread_create(&s->kthread, NULL, keeper, s) == 0;
	pthread_mutex_unlock(&c->mu);
}

/* ---- Jobs (run by the committer inside the batch's transaction) ---- */

static int
find_msg(struct pgq *s, const char *id, int64_t *mid, int *state,
    struct op_err *e)
{
	struct prm p = { .n = 0 };
	PGresult *r;

	p_str(&p, id, QUEUE_ID_LEN);
	if ((r = w_run(s, S_FIND, &p, "cannot find the message", e)) == NULL)
		return -1;
	if (pq.ntuples(r) == 0) {
		pq.clear(r);
		return err_set(e, ERR_NOINPUT, "no message with id %s", id);
	}
	*mid = c_i64(r, 0, 0);
	if (state != NULL)
		*state = queue_msg_state_parse(pq.getvalue(r, 0, 1));
	pq.clear(r);
	return 0;
}

static int
add_event(struct pgq *s, int64_t mid, int64_t at, const char *kind,
    const char *text, struct op_err *e)
{
	struct prm p = { .n = 0 };

	p_i64(&p, mid);
	p_i64(&p, at);
	p_str(&p, kind, QUEUE_EVENT_KIND_MAX);
	p_str(&p, text, QUEUE_TEXT_MAX);
	return w_defer(s, S_EVENT, &p, "cannot log an event", NULL, NULL, e);
}

/* An event of the message named by its id, read at the next flush. */
static int
add_event_id(struct pgq *s, const char *id, int64_t at, const char *kind,
    const char *text, struct op_err *e)
{
	struct prm p = { .n = 0 };

	p_str(&p, id, QUEUE_ID_LEN);
	p_i64(&p, at);
	p_str(&p, kind, QUEUE_EVENT_KIND_MAX);
	p_str(&p, text, QUEUE_TEXT_MAX);
	return w_defer(s, S_EVENT_ID, &p, "cannot log an event", NULL, NULL, e);
}

/* Texts as a PostgreSQL array literal: {"a","b"}. */
static char *
text_array(const char *const *v, size_t nv)
{
	size_t i, k, n = 3;
	char *a, *o;

	for (i = 0; i < nv; i++)
		n += 2 * strlen(v[i]) + 3;
	a = o = mem_alloc(n);
	*o++ = '{';
	for (i = 0; i < nv; i++) {
		if (i > 0)
			*o++ = ',';
		*o++ = '"';
		for (k = 0; v[i][k] != '\0'; k++) {
			if (v[i][k] == '"' || v[i][k] == '\\')
				*o++ = '\\';
			*o++ = v[i][k];
		}
		*o++ = '"';
	}
	*o++ = '}';
	*o = '\0';
	return a;
}

/* The recipients as a PostgreSQL array literal. */
static char *
rcpt_array(const struct queue_new *m)
{
	return text_array((const char *const *)m->rcpts, m->nrcpts);
}

/*
 * Store the submission of j under a new id.  defer: one try, sent with
 * the batch's next round trip; a taken id (ON CONFLICT DO NOTHING, no row)
 * is seen at that flush, which calls submit_again().  Otherwise up to
 * tries ids, each in a round trip of its own.
 */
static int
submit_store(struct pgq *s, struct queue_job *j, int tries, int defer,
    struct op_err *e)
{
	const struct queue_new *m = j->m;
	unsigned char rnd[5];
	int64_t ms = clock_wall_ms();
	uint64_t n = 0;
	char subject[QUEUE_SUBJECT_MAX];
	char *rcpts = rcpt_array(m);
	struct pend *x;
	struct prm p;
	int rc = 0;

	queue_subject_of(m->body, m->len, subject, sizeof(subject));
	for (; tries > 0 && n == 0 && rc == 0; tries--) {
		if (rand_bytes(rnd, sizeof(rnd), e) < 0) {
			rc = -1;
			break;
		}
		queue_id_make(j->id, ms, rnd);
		p.n = 0;
		p_str(&p, j->id, QUEUE_ID_LEN);
		p_str(&p, m->sender, QUEUE_ADDR_MAX);
		p_i64(&p, (int64_t)m->len);
		p_str(&p, queue_msg_state_name(m->state), 16);
		p_i64(&p, ms / 1000);
		p_str(&p, m->profile, QUEUE_PROFILE_MAX);
		p_bin(&p, m->body, m->len);
		p.v[p.n] = rcpts;
		p.len[p.n] = 0;
		p.fmt[p.n++] = 0;
		p_str(&p, s->node, QUEUE_NODE_MAX);
		p_str(&p, s->owner, sizeof(s->owner));
		p_str(&p, m->metadata, QUEUE_META_MAX);
		p_str(&p, subject[0] != '\0' ? subject : NULL, QUEUE_SUBJECT_MAX);
		if (defer) {
			/* libpq copies the parameters as it sends */
			if ((s->npend + 2 > PG_PENDING_MAX && w_flush(s, e) < 0) ||
			    (x = w_send(s, S_SUBMIT, NULL, &p,
			    "cannot store the message", e)) == NULL) {
				rc = -1;
				break;
			}
			x->redo = j;
			n = 1;
			break;
		}
		rc = w_do(s, S_SUBMIT, &p, "cannot store the message", &n, e);
	}
	free(rcpts);
	if (rc < 0)
		return -1;
	if (n == 0)
		return err_set(e, ERR_SOFTWARE, "cannot store the message: %d new "
		    "ids were all taken", QUEUE_ID_TRIES);
	return 0;
}

static int
submit_again(struct pgq *s, struct queue_job *j, struct op_err *e)
{
	return submit_store(s, j, QUEUE_ID_TRIES - 1, 0, e);
}

/*
 * Events for the application at submission: a key seen within a day
 * names the message it stored (*found 1, j->id that message's).
 */
static int
submit_idem_find(struct pgq *s, struct queue_job *j, int *found,
    struct op_err *e)
{
	const struct queue_new *m = j->m;
	struct prm p = { .n = 0 };
	PGresult *x;

	*found = 0;
	p_str(&p, m->idem_key, QUEUE_IDEM_MAX);
	p_i64(&p, clock_wall_ms() / 1000 - QUEUE_IDEM_KEEP_S);
	if ((x = w_run(s, S_IDEM_FIND, &p, "cannot look up the "
	    "Idempotency-Key", e)) == NULL)
		return -1;
	if (pq.ntuples(x) > 0) {
		str_copy(j->id, sizeof(j->id), pq.getvalue(x, 0, 0));
		*found = 1;
	}
	pq.clear(x);
	return 0;
}

/* The stored message's Idempotency-Key and "queued" events. */
static int
submit_events(struct queue_core *c, struct pgq *s, struct queue_job *j,
    struct op_err *e)
{
	const struct queue_new *m = j->m;
	int64_t now = clock_wall_ms() / 1000;
	struct prm p;
	char *rcpts;
	size_t h;
	int rc = 0;

	if (m->idem_key != NULL) {
		p.n = 0;
		p_str(&p, m->idem_key, QUEUE_IDEM_MAX);
		p_str(&p, j->id, QUEUE_ID_LEN);
		p_i64(&p, now);
		p_i64(&p, now - QUEUE_IDEM_KEEP_S);
		rc = w_do(s, S_IDEM_PUT, &p, "cannot store the Idempotency-Key",
		    NULL, e);
	}
	if (rc < 0 || !(c->bmask & QUEUE_HOOK_QUEUED))
		return rc;
	rcpts = rcpt_array(m);
	for (h = 0; rc == 0 && h < c->nbhooks; h++) {
		if (!(c->bhooks[h].events & QUEUE_HOOK_QUEUED))
			continue;
		p.n = 0;
		p_str(&p, c->bhooks[h].name, QUEUE_HOOK_NAME_MAX);
		p_str(&p, j->id, QUEUE_ID_LEN);
		p_i64(&p, now);
		p.v[p.n] = rcpts;
		p.len[p.n] = 0;
		p.fmt[p.n++] = 0;
		rc = w_do(s, S_OUTBOX_QUEUED, &p, "cannot store an event", NULL, e);
	}
	free(rcpts);
	return rc;
}

static int
job_submit(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct pgq *s = core_pg(c);
	const struct queue_new *m = j->m;
	int events = m->idem_key != NULL || (c->bmask & QUEUE_HOOK_QUEUED);
	int found;

	if (m->replayed != NULL)
		*m->replayed = 0;
	if (m->idem_key != NULL) {
		if (submit_idem_find(s, j, &found, e) < 0)
			return -1;
		if (found) {
			if (m->replayed != NULL)
				*m->replayed = 1;
			return 0;
		}
	}
	/* rows that name the message need its id settled: no deferred
	 * submission (whose id may still be taken) when there are any */
	if (submit_store(s, j, QUEUE_ID_TRIES, s->piped && !events, e) < 0)
		return -1;
	if (events && submit_events(c, s, j, e) < 0)
		return -1;
	if (m->state == QUEUE_MSG_SENDING) {
		pthread_mutex_lock(&c->mu);
		s->claims = 1;
		pthread_mutex_unlock(&c->mu);
	} else if (m->state == QUEUE_MSG_QUEUED) {
		s->notify = 1;
	}
	return 0;
}

/* Give lapsed leases back (at most every PG_SWEEP_S, at a claim). */
static int
sweep_leases(struct pgq *s, int64_t now, struct op_err *e)
{
	struct prm p = { .n = 0 };
	uint64_t n = 0;
	char nb[24];

	if (s->last_sweep != 0 && clock_mono_ms() - s->last_sweep <
	    PG_SWEEP_S * 1000)
		return 0;
	s->last_sweep = clock_mono_ms();
	p_i64(&p, now);
	p_i64(&p, INT64_MIN);
	p_str(&p, s->node, QUEUE_NODE_MAX);
	if (w_do(s, S_RECOVER, &p, "cannot take back lapsed claims", &n, e) < 0)
		return -1;
	if (n > 0) {
		snprintf(nb, sizeof(nb), "%" PRIu64, n);
		log_event(LOG_WARN, "recover", "lapsed_claims", nb, NULL);
	}
	return 0;
}

static int
job_claim(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct pgq *s = core_pg(c);
	struct prm p = { .n = 0 };
	PGresult *r = NULL, *rr = NULL;
	char *mids;
	size_t used;
	int i, n, k = 0;

	if (j->id[0] == '\0' && sweep_leases(s, j->now, e) < 0)
		return -1;
	p_i64(&p, j->now);
	if (j->id[0] != '\0')
		p_str(&p, j->id, QUEUE_ID_LEN);
	else
		p_i64(&p, (int64_t)j->max);
	p_str(&p, s->node, QUEUE_NODE_MAX);
	p_str(&p, s->owner, sizeof(s->owner));
	r = w_run(s, j->id[0] != '\0' ? S_CLAIM_ID : S_CLAIM, &p,
	    "cannot claim messages", e);
	if (r == NULL)
		return -1;
	n = pq.ntuples(r);
	if (n == 0) {
		pq.clear(r);
		return 0;
	}
	mids = mem_alloc((size_t)n * 22 + 3);
	used = 0;
	mids[used++] = '{';
	for (i = 0; i < n && (size_t)i < j->max; i++) {
		row_msg(j->set, r, i);
		used += (size_t)snprintf(mids + used, 22, "%s%s", i > 0 ? "," : "",
		    pq.getvalue(r, i, 0));
	}
	mids[used++] = '}';
	mids[used] = '\0';
	p.v[0] = mids;
	p.len[0] = 0;
	p.fmt[0] = 0;
	p.n = 1;
	rr = w_run(s, S_RCPTS_OPEN, &p, "cannot claim messages", e);
	free(mids);
	if (rr == NULL) {
		pq.clear(r);
		queue_set_free(j->set);
		return -1;
	}
	/* both ordered by mid: walk them together */
	for (i = 0; i < (int)j->set->n; i++) {
		int64_t mid = c_i64(r, i, 0);

		while (k < pq.ntuples(rr) && c_i64(rr, k, 0) < mid)
			k++;
		for (; k < pq.ntuples(rr) && c_i64(rr, k, 0) == mid; k++)
			row_rcpt(j->set, &j->set->msgs[i], rr, k);
	}
	pq.clear(r);
	pq.clear(rr);
	queue_set_finish(j->set);
	pthread_mutex_lock(&c->mu);
	s->claims = 1;
	pthread_mutex_unlock(&c->mu);
	return 0;
}

static int
derive_state(struct pgq *s, int64_t mid, int *state, int *well,
    struct op_err *e)
{
	struct prm p = { .n = 0 };
	PGresult *r;

	p_i64(&p, mid);
	if ((r = w_run(s, S_TALLY, &p, "cannot read the recipients", e)) == NULL)
		return -1;
	*state = queue_state_derive((uint64_t)c_i64(r, 0, 0),
	    (uint64_t)c_i64(r, 0, 1), (uint64_t)c_i64(r, 0, 2), well);
	pq.clear(r);
	return 0;
}

/* events for the application: the outbox rows of result x (its
 * recipient updated already), and its address suppressed if x says so */
static int
record_extra(struct pgq *s, struct queue_core *c,
    const struct queue_outcome *o, const struct queue_rcpt_result *x,
    int64_t now, struct op_err *e)
{
	unsigned kind = queue_hook_kind_of(x);
	struct prm p;
	size_t h;

	for (h = 0; (c->bmask & kind) && h < c->nbhooks; h++) {
		if (!(c->bhooks[h].events & kind))
			continue;
		p.n = 0;
		p_str(&p, c->bhooks[h].name, QUEUE_HOOK_NAME_MAX);
		p_str(&p, o->id, QUEUE_ID_LEN);
		p_str(&p, queue_hook_kind_name(kind), 16);
		p_i64(&p, x->code);
		p_str(&p, x->enhanced, QUEUE_ENHANCED_MAX);
		p_str(&p, x->reply, QUEUE_REPLY_MAX);
		p_str(&p, o->profile_used, QUEUE_PROFILE_MAX);
		p_str(&p, s->node, QUEUE_NODE_MAX);
		p_i64(&p, now);
		p_i64(&p, x->idx);
		if (w_defer(s, S_OUTBOX_RESULT, &p, "cannot store an event", NULL,
		    NULL, e) < 0)
			return -1;
	}
	if (x->suppress && !x->suppressed) {
		char reason[QUEUE_TEXT_MAX];

		queue_format_result(reason, sizeof(reason), x->code, x->enhanced,
		    x->reply);
		p.n = 0;
		p_str(&p, o->id, QUEUE_ID_LEN);
		p_i64(&p, x->idx);
		p_str(&p, reason, QUEUE_TEXT_MAX);
		p_i64(&p, now);
		if (w_defer(s, S_SUPP_ADD, &p, "cannot suppress an address", NULL,
		    NULL, e) < 0)
			return -1;
		queue_core_supp_added(c);
	}
	return 0;
}

/* The message's state once its result is read (w_flush). */
static void
record_got(struct pgq *s, struct queue_job *j, const PGresult *r)
{
	int state = queue_msg_state_parse(pq.getvalue(r, 0, 0));

	if (state == QUEUE_MSG_DEFERRED)
		s->notify = 1;
	queue_job_count_record(j, state);
}

/*
 * Every statement names the message by its id and goes out behind the
 * lock of its row, in one round trip (the job's end reads them all);
 * only a result whose event needs its recipient's address waits for it.
 */
static int
job_record(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct pgq *s = core_pg(c);
	const struct queue_outcome *o = j->o;
	const struct queue_rcpt_result *first_bad = NULL;
	char text[QUEUE_TEXT_MAX + 512], err_text[QUEUE_TEXT_MAX];
	char none[QUEUE_ID_SIZE + 64];
	struct prm p = { .n = 0 };
	struct pend *x;
	PGresult *r;
	size_t i;
	int quiet;

	snprintf(none, sizeof(none), "no message with id %s", o->id);
	p_str(&p, o->id, QUEUE_ID_LEN);
	if ((x = w_later(s, S_LOCK, &p, "cannot find the message", NULL, none,
	    e)) == NULL)
		return -1;
	x->none_code = ERR_NOINPUT;
	for (i = 0; i < o->nresults; i++) {
		const struct queue_rcpt_result *res = &o->results[i];

		/* a sent result's event is made from its row when read */
		quiet = res->state == QUEUE_RCPT_SENT && o->profile_used != NULL;
		p.n = 0;
		p_str(&p, o->id, QUEUE_ID_LEN);
		p_i64(&p, res->idx);
		p_str(&p, queue_rcpt_state_name(res->state), 16);
		p_i64(&p, res->code);
		p_str(&p, res->enhanced != NULL && res->enhanced[0] != '\0' ?
		    res->enhanced : NULL, QUEUE_ENHANCED_MAX);
		p_str(&p, res->reply, QUEUE_REPLY_MAX);
		p_i64(&p, j->now);
		p_str(&p, quiet ? o->profile_used : NULL, QUEUE_PROFILE_MAX);
		p_str(&p, s->node, QUEUE_NODE_MAX);
		snprintf(none, sizeof(none), "message %s has no recipient %u",
		    o->id, res->idx);
		if (quiet) {
			if (w_defer(s, S_RCPT_RESULT, &p, "cannot record a result",
			    NULL, none, e) < 0 ||
			    record_extra(s, c, o, res, j->now, e) < 0)
				return -1;
			continue;
		}
		if ((r = w_run(s, S_RCPT_RESULT, &p, "cannot record a result",
		    e)) == NULL)
			return -1;
		if (pq.ntuples(r) == 0) {
			pq.clear(r);
			return err_set(e, ERR_DATA, "%s", none);
		}
		queue_format_result(err_text, sizeof(err_text), res->code,
		    res->enhanced, res->reply);
		queue_format_event(text, sizeof(text), pq.getvalue(r, 0, 0),
		    o->profile_used, err_text);
		pq.clear(r);
		if (add_event_id(s, o->id, j->now, res->suppressed ?
		    "suppressed" : queue_rcpt_state_name(res->state), text, e) < 0 ||
		    record_extra(s, c, o, res, j->now, e) < 0)
			return -1;
		if (first_bad == NULL && res->state != QUEUE_RCPT_SENT)
			first_bad = res;
	}
	for (i = 0; i < o->nevents; i++)
		if (add_event_id(s, o->id, j->now, o->events[i].kind,
		    o->events[i].text, e) < 0)
			return -1;
	p.n = 0;
	p_str(&p, o->id, QUEUE_ID_LEN);
	p_i64(&p, o->next_attempt);    /* if it stays deferred */
	p_str(&p, o->profile_used, QUEUE_PROFILE_MAX);
	if (o->error != NULL) {
		p_str(&p, o->error, QUEUE_TEXT_MAX);
	} else if (first_bad != NULL) {
		queue_format_result(err_text, sizeof(err_text), first_bad->code,
		    first_bad->enhanced, first_bad->reply);
		p_str(&p, err_text, QUEUE_TEXT_MAX);
	} else {
		p_null(&p);
	}
	p_i64(&p, j->now);
	p_str(&p, s->node, QUEUE_NODE_MAX);
	snprintf(none, sizeof(none), "no message with id %s", o->id);
	if ((x = w_later(s, S_MSG_RESULT, &p, "cannot record a result", NULL,
	    none, e)) == NULL)
		return -1;
	x->none_code = ERR_NOINPUT;
	x->got = record_got;
	return 0;
}

static int
job_unclaim(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct pgq *s = core_pg(c);
	struct prm p = { .n = 0 };
	int64_t mid, now = clock_wall_ms() / 1000;
	uint64_t n = 0;

	if (find_msg(s, j->id, &mid, NULL, e) < 0)
		return -1;
	p_i64(&p, mid);
	p_i64(&p, j->when);
	p_i64(&p, now);
	if (w_do(s, S_UNCLAIM, &p, "cannot give the message back", &n, e) < 0)
		return -1;
	if (n == 0)
		return err_set(e, ERR_DATA, "message %s is not being sent", j->id);
	s->notify = 1;
	if (j->text != NULL)
		return add_event(s, mid, now, "unclaimed", j->text, e);
	return 0;
}

static int
job_wait(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct pgq *s = core_pg(c);
	const struct queue_wait *w = j->w;
	struct prm p = { .n = 0 };
	int64_t mid;
	int state;

	if (find_msg(s, j->id, &mid, &state, e) < 0)
		return -1;
	if (state != QUEUE_MSG_SENDING)
		return err_set(e, ERR_DATA, "message %s is not being sent", j->id);
	if (w->code > 0) {
		p_i64(&p, mid);
		p_i64(&p, w->code);
		p_str(&p, w->enhanced != NULL && w->enhanced[0] != '\0' ?
		    w->enhanced : NULL, QUEUE_ENHANCED_MAX);
		p_str(&p, w->reply != NULL ? w->reply : "", QUEUE_REPLY_MAX);
		p_i64(&p, w->now);
		if (w_do(s, S_WAIT_RCPTS, &p, "cannot give the message back",
		    NULL, e) < 0)
			return -1;
	}
	p.n = 0;
	p_i64(&p, mid);
	p_i64(&p, w->next_attempt);
	p_i64(&p, w->now);
	p_str(&p, w->error, QUEUE_TEXT_MAX);
	s->notify = 1;
	return w_do(s, S_WAIT, &p, "cannot give the message back", NULL, e);
}

static int
job_advance(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct pgq *s = core_pg(c);
	struct prm p = { .n = 0 };

	p_i64(&p, j->now);
	p_i64(&p, j->when);
	s->notify = 1;
	return w_do(s, S_ADVANCE, &p, "cannot make waiting messages due", &j->n,
	    e);
}

static int
job_fail(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct pgq *s = core_pg(c);
	struct prm p = { .n = 0 };
	uint64_t n = 0;
	int64_t mid;
	int state;

	if (find_msg(s, j->id, &mid, NULL, e) < 0)
		return -1;
	for (size_t h = 0; (c->bmask & QUEUE_HOOK_FAILED) && h < c->nbhooks;
	    h++) {
		if (!(c->bhooks[h].events & QUEUE_HOOK_FAILED))
			continue;
		p.n = 0;
		p_str(&p, c->bhooks[h].name, QUEUE_HOOK_NAME_MAX);
		p_str(&p, j->id, QUEUE_ID_LEN);
		p_str(&p, j->text, QUEUE_REPLY_MAX);
		p_i64(&p, j->now);
		p_i64(&p, mid);
		p_str(&p, s->node, QUEUE_NODE_MAX);
		if (w_do(s, S_OUTBOX_FAIL, &p, "cannot store an event", NULL,
		    e) < 0)
			return -1;
	}
	p.n = 0;
	p_i64(&p, mid);
	p_i64(&p, j->now);
	if (w_do(s, S_RCPT_FAIL_OPEN, &p, "cannot fail the message", &n, e) < 0)
		return -1;
	memset(j->cnt, 0, sizeof(j->cnt));
	j->cnt[QUEUE_COUNT_RCPT_FAILED] = (unsigned)n;
	if (derive_state(s, mid, &state, NULL, e) < 0)
		return -1;
	j->cnt_profile = "-";
	if (state == QUEUE_MSG_FAILED)
		j->cnt[QUEUE_COUNT_FAILED] = 1;
	p.n = 0;
	p_i64(&p, mid);
	p_str(&p, queue_msg_state_name(state), 16);
	p_str(&p, j->text, QUEUE_TEXT_MAX);
	p_i64(&p, j->now);
	if (w_do(s, S_MSG_FAIL, &p, "cannot fail the message", NULL, e) < 0)
		return -1;
	return add_event(s, mid, j->now, "failed", j->text, e);
}

static int
job_event(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct pgq *s = core_pg(c);
	int64_t mid;

	if (find_msg(s, j->id, &mid, NULL, e) < 0)
		return -1;
	return add_event(s, mid, j->now, j->text, j->text2, e);
}

static int
job_recover(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct pgq *s = core_pg(c);
	struct prm p = { .n = 0 };

	p_i64(&p, j->now);
	p_i64(&p, j->when);
	p_str(&p, s->node, QUEUE_NODE_MAX);
	s->notify = 1;
	return w_do(s, S_RECOVER, &p, "cannot recover claims", &j->n, e);
}

static int
job_hold(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct pgq *s = core_pg(c);
	struct prm p = { .n = 0 };

	p_i64(&p, j->now);
	p_str(&p, j->text, QUEUE_TEXT_MAX);
	if (w_do(s, S_HOLD_EVENTS, &p, "cannot hold messages", NULL, e) < 0)
		return -1;
	p.n = 0;
	p_i64(&p, j->now);
	return w_do(s, S_HOLD, &p, "cannot hold messages", &j->n, e);
}

static int
job_release(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct pgq *s = core_pg(c);
	struct prm p = { .n = 0 };

	p_i64(&p, j->now);
	if (w_do(s, S_RELEASE_EVENTS, &p, "cannot release held messages", NULL,
	    e) < 0)
		return -1;
	s->notify = 1;
	return w_do(s, S_RELEASE_HELD, &p, "cannot release held messages",
	    &j->n, e);
}

static int
job_retry(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct pgq *s = core_pg(c);
	struct prm p = { .n = 0 };
	uint64_t n = 0;
	int64_t mid;
	int state;

	if (find_msg(s, j->id, &mid, &state, e) < 0)
		return -1;
	if (state == QUEUE_MSG_SENDING)
		return err_set(e, ERR_DATA, "message %s is being delivered now; "
		    "retry it when the attempt has ended", j->id);
	p_i64(&p, mid);
	/* an operator's retry tries its refused addresses again: off the
	 * suppression list (events for the application) */
	if (w_do(s, S_SUPP_UNRETRY, &p, "cannot retry the message", NULL, e) < 0)
		return -1;
	if (w_do(s, S_RETRY_RCPTS, &p, "cannot retry the message", &n, e) < 0)
		return -1;
	if (state == QUEUE_MSG_SENT && n == 0)
		return err_set(e, ERR_DATA, "message %s was delivered to every "
		    "recipient: nothing to retry", j->id);
	p_i64(&p, j->now);
	if (w_do(s, S_RETRY_MSG, &p, "cannot retry the message", NULL, e) < 0)
		return -1;
	s->notify = 1;
	return add_event(s, mid, j->now, "retry", QUEUE_TEXT_RETRY, e);
}

static int
job_retry_all(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	static const int order[] = { S_RETRY_ALL_EVENTS, S_RETRY_ALL_RCPTS,
		S_RETRY_ALL };
	struct pgq *s = core_pg(c);
	struct prm p;
	size_t i;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		p.n = 0;
		p_i64(&p, j->now);
		p_str(&p, j->state < 0 ? NULL : queue_msg_state_name(j->state),
		    16);
		if (w_do(s, order[i], &p, "cannot retry the messages", &j->n,
		    e) < 0)
			return -1;
	}
	s->notify = 1;
	return 0;
}

static int
job_delete(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct pgq *s = core_pg(c);
	struct prm p = { .n = 0 };
	int64_t mid;

	if (find_msg(s, j->id, &mid, NULL, e) < 0)
		return -1;
	p_i64(&p, mid);
	return w_do(s, S_DELETE, &p, "cannot delete the message", NULL, e);
}

static int
job_purge(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct pgq *s = core_pg(c);
	struct prm p = { .n = 0 };

	j->n = 0;
	/* events for the application: keys older than a day name nothing */
	p_i64(&p, clock_wall_ms() / 1000 - QUEUE_IDEM_KEEP_S);
	if (w_do(s, S_IDEM_PURGE, &p, "cannot remove old Idempotency-Keys",
	    NULL, e) < 0)
		return -1;
	p.n = 0;
	if (j->max == 0)
		return 0;
	p_i64(&p, j->when);
	p_i64(&p, (int64_t)j->max);
	return w_do(s, S_PURGE, &p, "cannot remove old messages", &j->n, e);
}

static int
job_rate_add(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	return rate_add(core_pg(c), j->text, j->now, j->count, e);
}

/* ---- Events for the application ---- */

static int
job_outbox_claim(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct pgq *s = core_pg(c);
	struct queue_set *set = j->set;
	struct prm p = { .n = 0 };
	PGresult *r;
	int i;

	p_str(&p, j->text, QUEUE_HOOK_NAME_MAX);
	p_i64(&p, j->now);
	p_i64(&p, j->now + OUTBOX_LEASE_S);
	p_i64(&p, (int64_t)j->max);
	if ((r = w_run(s, S_OUTBOX_CLAIM, &p, "cannot claim events", e)) == NULL)
		return -1;
	for (i = 0; i < pq.ntuples(r); i++) {
		struct queue_outbox_ev *ev = queue_set_add_outbox(set);

		ev->oid = c_i64(r, i, 0);
		ev->hook = c_set(set, r, i, 1);
		ev->kind = c_set(set, r, i, 2);
		ev->id = c_set(set, r, i, 3);
		ev->rcpt = c_set(set, r, i, 4);
		ev->code = (int)c_i64(r, i, 5);
		ev->enhanced = c_set_or_empty(set, r, i, 6);
		ev->reply = c_set_or_empty(set, r, i, 7);
		ev->profile = c_set(set, r, i, 8);
		ev->node = c_set(set, r, i, 9);
		ev->attempt = (unsigned)c_i64(r, i, 10);
		ev->at = c_i64(r, i, 11);
		ev->tries = (unsigned)c_i64(r, i, 12);
		ev->metadata = c_set(set, r, i, 13);
	}
	pq.clear(r);
	queue_set_sort_outbox(set);
	return 0;
}

static int
job_outbox_finish(struct queue_core *c, struct queue_job *j,
    struct op_err *e)
{
	struct pgq *s = core_pg(c);
	struct prm p;
	size_t i;

	for (i = 0; i < j->max; i++) {
		const struct queue_outbox_done *d = &j->odone[i];

		p.n = 0;
		p_i64(&p, d->oid);
		if (d->next_try != 0)
			p_i64(&p, d->next_try);
		if (w_do(s, d->next_try == 0 ? S_OUTBOX_DEL : S_OUTBOX_RETRY, &p,
		    "cannot update an event", NULL, e) < 0)
			return -1;
	}
	return 0;
}

static int
job_supp_delete(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct pgq *s = core_pg(c);
	struct prm p = { .n = 0 };
	uint64_t n = 0;

	p_str(&p, j->text, QUEUE_ADDR_MAX);
	if (w_do(s, S_SUPP_DEL, &p, "cannot remove a suppressed address", &n,
	    e) < 0)
		return -1;
	if (n == 0)
		return err_set(e, ERR_NOINPUT, "%s is not suppressed", j->text);
	return 0;
}

/* ---- The keeper: leases renewed, new work heard ---- */

static void
keeper_nap(struct pgq *s, int ms)
{
	struct pollfd pfd = { .fd = s->kpipe[0], .events = POLLIN };

	(void)poll(&pfd, 1, ms);
}

static void *
keeper(void *arg)
{
	struct pgq *s = arg;
	struct pgconn k;
	struct op_err e;
	int64_t next_renew = 0;
	int backoff = PG_BACKOFF_MIN_MS, listening = 0, stop;

	pthread_setname_np(pthread_self(), "op-pg-keeper");
	memset(&k, 0, sizeof(k));
	for (;;) {
		void (*cb)(void *);
		struct pollfd pfd[2];
		int64_t now;
		int heard = 0;

		pthread_mutex_lock(&s->core.mu);
		stop = s->core.stop;
		pthread_mutex_unlock(&s->core.mu);
		pthread_mutex_lock(&s->wmu);
		cb = s->watch_cb;
		pthread_mutex_unlock(&s->wmu);
		if (stop)
			break;
		if (conn_lost(&k)) {
			pg_disconnect(&k);
			listening = 0;
			if (pg_connect(s, &k, &e) < 0) {
				keeper_nap(s, backoff);
				backoff = backoff * 2 > PG_BACKOFF_MAX_MS ?
				    PG_BACKOFF_MAX_MS : backoff * 2;
				continue;
			}
			backoff = PG_BACKOFF_MIN_MS;
			next_renew = 0;
		}
		if (!listening && cb != NULL) {
			if (k_simple(s, &k, "LISTEN " PG_CHANNEL "; LISTEN "
			    PG_CHANNEL_STATE "; LISTEN " PG_CHANNEL_SETTINGS,
			    "cannot listen", &e) < 0) {
				keeper_nap(s, 1000);
				continue;
			}
			listening = 1;
			heard = 1;     /* work may have come while deaf, */
			s->changes[QUEUE_CHANGE_PSTATE]++;    /* and changes */
			s->changes[QUEUE_CHANGE_SETTINGS]++;
		}
		now = clock_mono_ms();
		if (now >= next_renew) {
			struct prm p = { .n = 0 };
			char *ids;
			size_t i, used = 0;
			int rc;

			pthread_mutex_lock(&s->core.mu);
			ids = mem_alloc(s->nlive * (QUEUE_ID_SIZE + 1) + 3);
			ids[used++] = '{';
			for (i = 0; i < s->nlive; i++) {
				if (i > 0)
					ids[used++] = ',';
				memcpy(ids + used, s->live[i], QUEUE_ID_LEN);
				used += QUEUE_ID_LEN;
			}
			pthread_mutex_unlock(&s->core.mu);
			ids[used++] = '}';
			ids[used] = '\0';
			p_str(&p, s->owner, sizeof(s->owner));
			p_i64(&p, PG_LEASE_S);
			p.v[p.n] = ids;
			p.len[p.n] = 0;
			p.fmt[p.n++] = 0;
			rc = k_do(s, &k, S_RENEW, &p, "cannot renew claims", NULL, &e);
			free(ids);
			if (rc < 0) {
				log_event(LOG_WARN, "queue_lease", "error", e.msg, NULL);
				next_renew = now + 1000;
				continue;
			}
			next_renew = now + PG_RENEW_S * 1000;
		}
		pfd[0].fd = pq.socket(k.conn);
		pfd[0].events = POLLIN;
		pfd[1].fd = s->kpipe[0];
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, (int)(next_renew - now)) > 0 &&
		    (pfd[0].revents & (POLLIN | POLLERR | POLLHUP))) {
			PGnotify *n;

			if (!pq.consumeInput(k.conn))
				k.broken = 1;
			while ((n = pq.notifies(k.conn)) != NULL) {
				heard = 1;
				if (strcmp(n->relname, PG_CHANNEL_STATE) == 0)
					s->changes[QUEUE_CHANGE_PSTATE]++;
				else if (strcmp(n->relname, PG_CHANNEL_SETTINGS) == 0)
					s->changes[QUEUE_CHANGE_SETTINGS]++;
				pq.freemem(n);
			}
		}
		pthread_mutex_lock(&s->wmu);
		if (heard && s->watch_cb != NULL)
			s->watch_cb(s->watch_arg);
		pthread_mutex_unlock(&s->wmu);
	}
	pg_disconnect(&k);
	return NULL;
}

static int
pg_watch(struct queue *q, void (*cb)(void *), void *arg, struct op_err *e)
{
	struct pgq *s = to_pg(q);
	int rc = 0;

	pthread_mutex_lock(&s->wmu);
	s->watch_cb = cb;
	s->watch_arg = arg;
	pthread_mutex_unlock(&s->wmu);
	pthread_mutex_lock(&s->core.mu);
	if (!s->kstarted && cb != NULL && !s->core.stop) {
		rc = pthread_create(&s->kthread, NULL, keeper, s);
		s->kstarted = rc == 0;
	}
	pthread_mutex_unlock(&s->core.mu);
	if (rc != 0)
		return err_set(e, ERR_OSERR, "cannot start the queue's keeper "
		    "thread: %s", strerror(rc));
	return 0;
}

/* ---- Reads ---- */

static struct pgconn *
reader_get(struct pgq *s, struct op_err *e)
{
	struct pgconn *r = NULL, *fresh = NULL;
	size_t i;

	pthread_mutex_lock(&s->rmu);
	for (;;) {
		for (i = 0; i < PG_READERS_MAX; i++) {
			if (s->readers[i].busy)
				continue;
			if (s->readers[i].conn != NULL) {
				r = &s->readers[i];
				break;
			}
			if (fresh == NULL)
				fresh = &s->readers[i];
		}
		if (r == NULL && fresh != NULL)
			r = fresh;
		if (r != NULL)
			break;
		pthread_cond_wait(&s->rcv, &s->rmu);
	}
	r->busy = 1;
	pthread_mutex_unlock(&s->rmu);
	if (r->conn != NULL && conn_lost(r))
		pg_disconnect(r);
	if (r->conn == NULL && pg_connect(s, r, e) < 0) {
		pthread_mutex_lock(&s->rmu);
		r->busy = 0;
		pthread_cond_signal(&s->rcv);
		pthread_mutex_unlock(&s->rmu);
		return NULL;
	}
	return r;
}

static void
reader_put(struct pgq *s, struct pgconn *r)
{
	if (!conn_lost(r) && pq.transactionStatus(r->conn) != PQTRANS_IDLE) {
		PGresult *x = pq.exec(r->conn, "ROLLBACK");

		pq.clear(x);
	}
	pthread_mutex_lock(&s->rmu);
	r->busy = 0;
	pthread_cond_signal(&s->rcv);
	pthread_mutex_unlock(&s->rmu);
}

/* One statement on a reading connection, taken and given back. */
static PGresult *
r_run(struct pgq *s, int idx, const struct prm *p, int bin, const char *what,
    struct op_err *e)
{
	struct pgconn *r;
	PGresult *x;

	if ((r = reader_get(s, e)) == NULL)
		return NULL;
	x = k_run(s, r, idx, p, bin, what, e);
	reader_put(s, r);
	return x;
}

static int
r_find(struct pgq *s, struct pgconn *r, const char *id, int64_t *mid,
    struct op_err *e)
{
	struct prm p = { .n = 0 };
	PGresult *x;

	p_str(&p, id, QUEUE_ID_LEN);
	if ((x = k_run(s, r, S_RFIND, &p, 0, "cannot find the message", e)) == NULL)
		return -1;
	if (pq.ntuples(x) == 0) {
		pq.clear(x);
		return err_set(e, ERR_NOINPUT, "no message with id %s", id);
	}
	*mid = c_i64(x, 0, 0);
	pq.clear(x);
	return 0;
}

static int
pg_body_read(struct queue *q, const char *id, uint64_t off, void *dst,
    size_t n, size_t *got, struct op_err *e)
{
	struct pgq *s = to_pg(q);
	struct prm p = { .n = 0 };
	struct pgconn *r;
	PGresult *x;
	int ret = -1;

	*got = 0;
	if (n > INT32_MAX / 2)
		n = INT32_MAX / 2;
	if (queue_id_check(id, e) < 0)
		return -1;
	if (off >= QUEUE_BODY_MAX)
		off = QUEUE_BODY_MAX;
	if ((r = reader_get(s, e)) == NULL)
		return -1;
	p_str(&p, id, QUEUE_ID_LEN);
	p_i64(&p, (int64_t)off + 1);
	p_i64(&p, (int64_t)n);
	if ((x = k_run(s, r, S_BODY_PART, &p, 1, "cannot read the message",
	    e)) == NULL)
		goto out;
	if (pq.ntuples(x) == 0)
		err_set(e, ERR_NOINPUT, "no message with id %s", id);
	else if (pq.getisnull(x, 0, 1))
		err_set(e, ERR_NOINPUT, "message %s has no body", id);
	else {
		size_t len = (size_t)pq.getlength(x, 0, 1);

		if (len > n)
			len = n;
		memcpy(dst, pq.getvalue(x, 0, 1), len);
		*got = len;
		ret = 0;
	}
	pq.clear(x);
out:
	reader_put(s, r);
	return ret;
}

static int
pg_body_get(struct queue *q, const char *id, char **body, size_t *len,
    struct op_err *e)
{
	struct pgq *s = to_pg(q);
	struct prm p = { .n = 0 };
	struct pgconn *r;
	PGresult *x;
	int ret = -1;

	*body = NULL;
	*len = 0;
	if (queue_id_check(id, e) < 0 || (r = reader_get(s, e)) == NULL)
		return -1;
	p_str(&p, id, QUEUE_ID_LEN);
	if ((x = k_run(s, r, S_BODY, &p, 1, "cannot read the message", e)) == NULL)
		goto out;
	if (pq.ntuples(x) == 0)
		err_set(e, ERR_NOINPUT, "no message with id %s", id);
	else if (pq.getisnull(x, 0, 1))
		err_set(e, ERR_NOINPUT, "message %s has no body", id);
	else {
		size_t n = (size_t)pq.getlength(x, 0, 1);

		*body = mem_alloc(n + 1);
		memcpy(*body, pq.getvalue(x, 0, 1), n);
		(*body)[n] = '\0';
		*len = n;
		ret = 0;
	}
	(void)c_bin_i64;
	pq.clear(x);
out:
	reader_put(s, r);
	return ret;
}

/* ---- Reads of the events for the application ---- */

static int
pg_outbox_count(struct queue *q, uint64_t *n, struct op_err *e)
{
	struct pgq *s = to_pg(q);
	struct pgconn *r;
	PGresult *x;

	*n = 0;
	if ((r = reader_get(s, e)) == NULL)
		return -1;
	x = k_run(s, r, S_OUTBOX_COUNT, NULL, 0, "cannot count the events "
	    "waiting", e);
	if (x != NULL) {
		*n = (uint64_t)c_i64(x, 0, 0);
		pq.clear(x);
	}
	reader_put(s, r);
	return x != NULL ? 0 : -1;
}

static int
pg_supp_list(struct queue *q, const char *after, size_t limit,
    struct queue_set *out, struct op_err *e)
{
	struct pgq *s = to_pg(q);
	struct prm p = { .n = 0 };
	struct pgconn *r;
	PGresult *x;
	int i;

	if ((r = reader_get(s, e)) == NULL)
		return -1;
	p_str(&p, after != NULL ? after : "", QUEUE_ADDR_MAX);
	p_i64(&p, (int64_t)limit);
	x = k_run(s, r, S_SUPP_LIST, &p, 0, "cannot list suppressed addresses",
	    e);
	if (x != NULL) {
		for (i = 0; i < pq.ntuples(x); i++) {
			struct queue_supp *sp = queue_set_add_supp(out);

			sp->address = c_set_or_empty(out, x, i, 0);
			sp->reason = c_set(out, x, i, 1);
			sp->at = c_i64(x, i, 2);
			sp->id = c_set(out, x, i, 3);
		}
		pq.clear(x);
	}
	reader_put(s, r);
	return x != NULL ? 0 : -1;
}

static int
pg_supp_check(struct queue *q, const char *const *addrs, size_t n, int *out,
    int *empty, struct op_err *e)
{
	struct pgq *s = to_pg(q);
	struct prm p;
	struct pgconn *r;
	PGresult *x = NULL;
	int ret = 0;

	if ((r = reader_get(s, e)) == NULL)
		return -1;
	/* an empty list (the common case) in one step */
	x = k_run(s, r, S_SUPP_ANY, NULL, 0, "cannot read the suppression list",
	    e);
	if (x == NULL) {
		reader_put(s, r);
		return -1;
	}
	*empty = strcmp(pq.getvalue(x, 0, 0), "f") == 0;
	pq.clear(x);
	if (!*empty && n > 0) {
		/* every address in one round trip: the (1-based) indexes of
		 * those on the list */
		char *a = text_array(addrs, n);
		int row;

		p.n = 0;
		p.v[p.n] = a;
		p.len[p.n] = 0;
		p.fmt[p.n++] = 0;
		x = k_run(s, r, S_SUPP_CHECK, &p, 0, "cannot read the suppression "
		    "list", e);
		free(a);
		if (x == NULL) {
			ret = -1;
		} else {
			for (row = 0; row < pq.ntuples(x); row++) {
				int64_t k = c_i64(x, row, 0);

				if (k >= 1 && (uint64_t)k <= n)
					out[k - 1] = 1;
			}
			pq.clear(x);
		}
	}
	reader_put(s, r);
	return ret;
}

/* A search (queue_list() with to, from, subject, since or until): its
 * own SQL, with only the parameters it uses; a recipient is found
 * through the index recipients_address (lower(address)), a sender
 * the others are read newest first. */
static int
pg_search(struct pgq *s, struct pgconn *r, const struct queue_list_opts *o,
    int state, int64_t before, size_t limit, struct queue_set *out,
    struct op_err *e)
{
	struct prm p = { .n = 0 };
	struct buf sql;
	PGresult *x;
	int i, ret = -1;

	buf_init(&sql, 8192);
	p_i64(&p, before);
	p_i64(&p, (int64_t)limit);
	buf_printf(&sql, NULL, "SELECT " LIST_COLS " FROM messages"
	    " WHERE mid < $1");
	if (state != -1) {
		p_str(&p, queue_msg_state_name(state), 16);
		buf_printf(&sql, NULL, " AND state = $%d", p.n);
	}
	if (o->to != NULL) {
		p_str(&p, o->to, QUEUE_ADDR_MAX);
		buf_printf(&sql, NULL, " AND mid IN (SELECT mid FROM recipients"
		    " WHERE lower(address) = lower($%d))", p.n);
	}
	if (o->from != NULL) {
		p_str(&p, o->from, QUEUE_ADDR_MAX);
		buf_printf(&sql, NULL, " AND lower(sender) = lower($%d)", p.n);
	}
	if (o->subject != NULL) {
		p_str(&p, o->subject, QUEUE_SUBJECT_MAX);
		buf_printf(&sql, NULL, " AND strpos(lower(subject), lower($%d))"
		    " > 0", p.n);
	}
	if (o->since > 0) {
		p_i64(&p, o->since);
		buf_printf(&sql, NULL, " AND created >= $%d", p.n);
	}
	if (o->until > 0) {
		p_i64(&p, o->until);
		buf_printf(&sql, NULL, " AND created < $%d", p.n);
	}
	buf_printf(&sql, NULL, " ORDER BY mid DESC LIMIT $2");
	if (conn_lost(r)) {
		pg_err(s, r, NULL, "cannot search the queue", e);
		goto out;
	}
	x = pq.execParams(r->conn, sql.data, p.n, NULL, p.v, p.len, p.fmt, 0);
	if (pq.resultStatus(x) != PGRES_TUPLES_OK) {
		pg_err(s, r, x, "cannot search the queue", e);
		pq.clear(x);
		goto out;
	}
	for (i = 0; i < pq.ntuples(x); i++)
		row_msg(out, x, i);
	pq.clear(x);
	queue_set_finish(out);
	ret = 0;
out:
	buf_free(&sql);
	return ret;
}

static int
pg_list(struct queue *q, const struct queue_list_opts *o,
    struct queue_set *out, struct op_err *e)
{
	struct pgq *s = to_pg(q);
	struct prm p = { .n = 0 };
	struct pgconn *r;
	PGresult *x;
	int64_t before = INT64_MAX;
	size_t limit;
	int state, i, ret = -1;

	memset(out, 0, sizeof(*out));
	if (queue_list_check(o, &limit, &state, e) < 0)
		return -1;
	if ((r = reader_get(s, e)) == NULL)
		return -1;
	if (o != NULL && o->before != NULL && r_find(s, r, o->before, &before,
	    e) < 0)
		goto out;
	if (queue_list_searches(o)) {
		ret = pg_search(s, r, o, state, before, limit, out, e);
		goto out;
	}
	p_i64(&p, before);
	p_i64(&p, (int64_t)limit);
	if (state != -1)
		p_str(&p, queue_msg_state_name(state), 16);
	if ((x = k_run(s, r, state == -1 ? S_LIST : S_LIST_STATE, &p, 0,
	    "cannot list the queue", e)) == NULL)
		goto out;
	for (i = 0; i < pq.ntuples(x); i++)
		row_msg(out, x, i);
	pq.clear(x);
	queue_set_finish(out);
	ret = 0;
out:
	reader_put(s, r);
	return ret;
}

static int
pg_get(struct queue *q, const char *id, struct queue_set *out,
    struct op_err *e)
{
	struct pgq *s = to_pg(q);
	struct prm p = { .n = 0 };
	struct pgconn *r;
	PGresult *x = NULL;
	int64_t mid;
	int i, ret = -1;

	memset(out, 0, sizeof(*out));
	if (queue_id_check(id, e) < 0 || (r = reader_get(s, e)) == NULL)
		return -1;
	/* one snapshot for the message, its recipients and its events */
	if (k_simple(s, r, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
	    "cannot read the message", e) < 0 || r_find(s, r, id, &mid, e) < 0)
		goto out;
	p_i64(&p, mid);
	if ((x = k_run(s, r, S_GET, &p, 0, "cannot read the message", e)) == NULL)
		goto fail;
	if (pq.ntuples(x) == 0) {
		err_set(e, ERR_NOINPUT, "no message with id %s", id);
		goto fail;
	}
	row_msg(out, x, 0);
	pq.clear(x);
	if ((x = k_run(s, r, S_RCPTS, &p, 0, "cannot read the message", e)) == NULL)
		goto fail;
	for (i = 0; i < pq.ntuples(x); i++)
		row_rcpt(out, &out->msgs[0], x, i);
	pq.clear(x);
	p_i64(&p, QUEUE_EVENTS_MAX);
	if ((x = k_run(s, r, S_EVENTS, &p, 0, "cannot read the message",
	    e)) == NULL)
		goto fail;
	for (i = 0; i < pq.ntuples(x); i++) {
		struct queue_event *ev = queue_set_add_event(out);

		ev->at = c_i64(x, i, 0);
		ev->kind = c_set_or_empty(out, x, i, 1);
		ev->text = c_set_or_empty(out, x, i, 2);
	}
	pq.clear(x);
	x = NULL;
	queue_set_finish(out);
	queue_set_add_made_events(out);
	ret = 0;
	goto out;
fail:
	if (x != NULL)
		pq.clear(x);
	queue_set_free(out);
out:
	reader_put(s, r);
	return ret;
}

static int
pg_counts(struct queue *q, uint64_t counts[QUEUE_MSG_NSTATES],
    struct op_err *e)
{
	struct pgq *s = to_pg(q);
	PGresult *x;
	int i, state;

	memset(counts, 0, sizeof(uint64_t) * QUEUE_MSG_NSTATES);
	if ((x = r_run(s, S_COUNTS, NULL, 0, "cannot count the queue",
	    e)) == NULL)
		return -1;
	for (i = 0; i < pq.ntuples(x); i++) {
		state = queue_msg_state_parse(pq.getvalue(x, i, 0));
		if (state >= 0)
			counts[state] = (uint64_t)c_i64(x, i, 1);
	}
	pq.clear(x);
	return 0;
}

static int
pg_next_due(struct queue *q, int64_t *when, int *found, struct op_err *e)
{
	struct pgq *s = to_pg(q);
	PGresult *x;

	*when = 0;
	*found = 0;
	if ((x = r_run(s, S_NEXT_DUE, NULL, 0, "cannot read the queue",
	    e)) == NULL)
		return -1;
	if (pq.ntuples(x) > 0 && !pq.getisnull(x, 0, 0)) {
		*when = c_i64(x, 0, 0);
		*found = 1;
	}
	pq.clear(x);
	return 0;
}

static int
pg_rate_load(struct queue *q, const char *profile, int64_t since,
    struct queue_rate_bucket **out, size_t *n, struct op_err *e)
{
	struct pgq *s = to_pg(q);
	struct prm p = { .n = 0 };
	struct queue_rate_bucket *b = NULL;
	struct pgconn *r;
	PGresult *x;
	int i, rows;

	*out = NULL;
	*n = 0;
	if (profile == NULL || strlen(profile) >= QUEUE_PROFILE_MAX)
		return err_set(e, ERR_DATA, "profile name missing or longer than "
		    "%d bytes", QUEUE_PROFILE_MAX - 1);
	if ((r = reader_get(s, e)) == NULL)
		return -1;
	p_str(&p, profile, QUEUE_PROFILE_MAX);
	p_i64(&p, since / 60);
	x = k_run(s, r, S_RATE, &p, 0, "cannot read send counts", e);
	reader_put(s, r);
	if (x == NULL)
		return -1;
	rows = pq.ntuples(x);
	if (rows > 0)
		b = mem_alloc((size_t)rows * sizeof(*b));
	for (i = 0; i < rows; i++) {
		b[i].at = c_i64(x, i, 0);
		b[i].count = (uint64_t)c_i64(x, i, 1);
	}
	pq.clear(x);
	*out = b;
	*n = (size_t)rows;
	return 0;
}

static int
pg_counters(struct queue *q, struct queue_counter **out, size_t *n,
    struct op_err *e)
{
	struct pgq *s = to_pg(q);
	struct queue_counter *c = NULL;
	PGresult *x;
	int i, k, rows;

	if ((x = r_run(s, S_COUNTERS, NULL, 0, "cannot read the delivery "
	    "counters", e)) == NULL)
		return -1;
	rows = pq.ntuples(x);
	if (rows > 0)
		c = mem_alloc((size_t)rows * sizeof(*c));
	for (i = 0; i < rows; i++) {
		str_copy(c[i].profile, sizeof(c[i].profile), pq.getvalue(x, i, 0));
		for (k = 0; k < QUEUE_COUNT_N; k++)
			c[i].n[k] = (uint64_t)c_i64(x, i, k + 1);
	}
	pq.clear(x);
	*out = c;
	*n = (size_t)rows;
	return 0;
}

/* ---- Cluster state ---- */

static int
pg_rate_reserve(struct queue *q, const char *profile,
    const struct queue_limit *limits, size_t nlimits, int64_t *slot,
    int64_t *wait_ms, struct op_err *e)
{
	struct pgq *s = to_pg(q);
	struct prm p = { .n = 0 };
	char counts[32 * 8 + 3], periods[32 * 8 + 3];
	size_t i, oc = 0, op = 0;
	PGresult *x;
	int64_t v;

	*slot = 0;
	*wait_ms = 0;
	if (profile == NULL || strlen(profile) >= QUEUE_PROFILE_MAX || nlimits > 8)
		return err_set(e, ERR_DATA, "profile name missing or too long, or "
		    "more than 8 limits");
	counts[oc++] = '{';
	periods[op++] = '{';
	for (i = 0; i < nlimits; i++) {
		oc += (size_t)snprintf(counts + oc, sizeof(counts) - oc, "%s%llu",
		    i ? "," : "", (unsigned long long)limits[i].count);
		op += (size_t)snprintf(periods + op, sizeof(periods) - op, "%s%u",
		    i ? "," : "", limits[i].period_s);
	}
	str_copy(counts + oc, sizeof(counts) - oc, "}");
	str_copy(periods + op, sizeof(periods) - op, "}");
	p_str(&p, profile, QUEUE_PROFILE_MAX);
	p.v[p.n] = counts;
	p.len[p.n] = 0;
	p.fmt[p.n++] = 0;
	p.v[p.n] = periods;
	p.len[p.n] = 0;
	p.fmt[p.n++] = 0;
	if ((x = r_run(s, S_RESERVE, &p, 0, "cannot reserve a send under the "
	    "profile's limits", e)) == NULL)
		return -1;
	v = pq.ntuples(x) == 1 ? c_i64(x, 0, 0) : 0;
	pq.clear(x);
	if (v > 0)
		*slot = v;
	else
		*wait_ms = v < 0 ? -v : 1;
	return 0;
}

static int
pg_rate_release(struct queue *q, int64_t slot, struct op_err *e)
{
	struct pgq *s = to_pg(q);
	struct prm p = { .n = 0 };
	struct pgconn *r;
	int rc;

	p_i64(&p, slot);
	if ((r = reader_get(s, e)) == NULL)
		return -1;
	rc = k_do(s, r, S_UNRESERVE, &p, "cannot give a reserved send back",
	    NULL, e);
	reader_put(s, r);
	return rc;
}

static int
pg_pstate_put(struct queue *q, const struct queue_pstate *ps,
    struct op_err *e)
{
	struct pgq *s = to_pg(q);
	struct prm p = { .n = 0 };
	struct pgconn *r;
	int rc;

	p_str(&p, ps->profile, QUEUE_PROFILE_MAX);
	p_i64(&p, ps->pause_ms > 0 ? ps->pause_ms : 0);
	p_i64(&p, ps->cooldown_ms > 0 ? ps->cooldown_ms : 0);
	p_i64(&p, ps->slowdowns);
	p_i64(&p, ps->failures);
	p_str(&p, ps->reason, QUEUE_TEXT_MAX);
	p_str(&p, s->node, QUEUE_NODE_MAX + 1);
	if ((r = reader_get(s, e)) == NULL)
		return -1;
	rc = k_do(s, r, S_PSTATE_PUT, &p, "cannot store a profile's pause",
	    NULL, e);
	reader_put(s, r);
	return rc;
}

static int
pg_pstate_load(struct queue *q, struct queue_pstate **out, size_t *n,
    struct op_err *e)
{
	struct pgq *s = to_pg(q);
	struct queue_pstate *a = NULL;
	PGresult *x;
	int i, rows;

	if ((x = r_run(s, S_PSTATE_LOAD, NULL, 0, "cannot read the profiles' "
	    "pauses", e)) == NULL)
		return -1;
	rows = pq.ntuples(x);
	if (rows > 0)
		a = mem_alloc((size_t)rows * sizeof(*a));
	for (i = 0; i < rows; i++) {
		str_copy(a[i].profile, sizeof(a[i].profile), pq.getvalue(x, i, 0));
		a[i].pause_ms = c_i64(x, i, 1);
		a[i].cooldown_ms = c_i64(x, i, 2);
		a[i].slowdowns = (unsigned)c_i64(x, i, 3);
		a[i].failures = (unsigned)c_i64(x, i, 4);
		str_copy(a[i].reason, sizeof(a[i].reason), pq.getvalue(x, i, 5));
		str_copy(a[i].node, sizeof(a[i].node), pq.getvalue(x, i, 6));
		a[i].seq = c_i64(x, i, 7);
	}
	pq.clear(x);
	*out = a;
	*n = (size_t)rows;
	return 0;
}

static int
pg_settings_get(struct queue *q, char **text, int64_t *version,
    struct op_err *e)
{
	struct pgq *s = to_pg(q);
	PGresult *x;

	if ((x = r_run(s, S_SETTINGS_GET, NULL, 0, "cannot read the shared "
	    "settings", e)) == NULL)
		return -1;
	if (pq.ntuples(x) == 1) {
		*text = str_dup(pq.getvalue(x, 0, 0));
		*version = c_i64(x, 0, 1);
	}
	pq.clear(x);
	return 0;
}

static int
pg_settings_put(struct queue *q, const char *text, int64_t expect,
    int64_t *version, struct op_err *e)
{
	struct pgq *s = to_pg(q);
	struct prm p = { .n = 0 };
	PGresult *x;
	int rows;

	p_str(&p, text, (size_t)1 << 30);
	p_str(&p, s->node, QUEUE_NODE_MAX + 1);
	if (expect > 0)
		p_i64(&p, expect);
	if ((x = r_run(s, expect > 0 ? S_SETTINGS_PUT : S_SETTINGS_NEW, &p, 0,
	    "cannot store the shared settings", e)) == NULL)
		return -1;
	rows = pq.ntuples(x);
	if (rows == 1)
		*version = c_i64(x, 0, 0);
	pq.clear(x);
	if (rows != 1)
		return err_set(e, ERR_NOINPUT, "the shared settings were changed "
		    "by another node meanwhile; reload them and make the change "
		    "again");
	return 0;
}

static unsigned
pg_changes(struct queue *q, int what)
{
	struct pgq *s = to_pg(q);

	if (what < 0 || what > QUEUE_CHANGE_SETTINGS)
		return 0;
	return s->changes[what];
}

static int
pg_node_counters(struct queue *q, struct queue_node_counter **out, size_t *n,
    struct op_err *e)
{
	struct pgq *s = to_pg(q);
	struct queue_node_counter *c = NULL;
	PGresult *x;
	int i, k, rows;

	if ((x = r_run(s, S_NODE_COUNTERS, NULL, 0, "cannot read the delivery "
	    "counters", e)) == NULL)
		return -1;
	rows = pq.ntuples(x);
	if (rows > 0)
		c = mem_alloc((size_t)rows * sizeof(*c));
	for (i = 0; i < rows; i++) {
		str_copy(c[i].node, sizeof(c[i].node), pq.getvalue(x, i, 0));
		for (k = 0; k < QUEUE_COUNT_N; k++)
			c[i].n[k] = (uint64_t)c_i64(x, i, k + 1);
	}
	pq.clear(x);
	*out = c;
	*n = (size_t)rows;
	return 0;
}

/* ---- Open and close ---- */

/* The URI without its password, for messages and logs. */
static void
mask_uri(char *dst, size_t dsz, const char *uri)
{
	char tmp[1024];

	conf_mask_uri(tmp, sizeof(tmp), uri);
	log_sanitize(dst, dsz, tmp);
}

static int
pg_schema(struct pgq *s, struct op_err *e)
{
	PGresult *r;
	char sql[96];
	int64_t version = 0;

	snprintf(sql, sizeof(sql), "BEGIN; SELECT pg_advisory_xact_lock(%d)",
	    PG_LOCK_KEY);
	if (k_simple(s, &s->w, sql, "cannot open the queue", e) < 0 ||
	    k_simple(s, &s->w, "CREATE TABLE IF NOT EXISTS outpost_schema"
	    " (version integer NOT NULL)", "cannot create the queue's tables",
	    e) < 0)
		goto fail;
	r = pq.exec(s->w.conn, "SELECT coalesce(max(version), 0),"
	    " to_regclass('messages') IS NOT NULL FROM outpost_schema");
	if (pq.resultStatus(r) != PGRES_TUPLES_OK) {
		pg_err(s, &s->w, r, "cannot read the queue's schema version", e);
		pq.clear(r);
		goto fail;
	}
	version = c_i64(r, 0, 0);
	if (version == 0 && strcmp(pq.getvalue(r, 0, 1), "t") == 0) {
		pq.clear(r);
		err_set(e, ERR_CONFIG, "the PostgreSQL database %s holds a table "
		    "\"messages\" that Outpost did not make: give Outpost a "
		    "database of its own", s->where);
		goto fail;
	}
	pq.clear(r);
	if (version > PG_SCHEMA_VERSION) {
		err_set(e, ERR_CONFIG, "the queue in %s was made by a newer Outpost "
		    "(schema version %lld; this one knows up to %d): run the "
		    "newer Outpost on every node", s->where, (long long)version,
		    PG_SCHEMA_VERSION);
		goto fail;
	}
	if (version < 1) {
		if (k_simple(s, &s->w, schema_v1, "cannot create the queue's "
		    "tables", e) < 0)
			goto fail;
		log_event(LOG_INFO, "queue_create", "database", s->where,
		    "schema", "1", NULL);
		version = 1;
	}
	if (version < 2) {
		if (k_simple(s, &s->w, schema_v2, "cannot migrate the queue's "
		    "tables to schema 2", e) < 0)
			goto fail;
		log_event(LOG_INFO, "queue_migrate", "database", s->where,
		    "schema", "2", NULL);
	}
	if (version < 3) {             /* events for the application */
		if (k_simple(s, &s->w, schema_v3, "cannot migrate the queue's "
		    "tables to schema 3", e) < 0)
			goto fail;
		log_event(LOG_INFO, "queue_migrate", "database", s->where,
		    "schema", "3", NULL);
	}
	return k_simple(s, &s->w, "COMMIT", "cannot create the queue's tables",
	    e);
fail:
	txn_rollback(&s->core);
	return -1;
}

static void
pg_free(struct pgq *s)
{
	size_t i;
	int started;

	queue_core_stop(&s->core, NULL);
	pthread_mutex_lock(&s->core.mu);
	started = s->kstarted;
	pthread_mutex_unlock(&s->core.mu);
	if (started) {
		if (write(s->kpipe[1], "x", 1) < 0) {
			/* the keeper sees stop at its next renewal */
		}
		pthread_join(s->kthread, NULL);
	}
	if (s->kpipe[0] >= 0)
		close(s->kpipe[0]);
	if (s->kpipe[1] >= 0)
		close(s->kpipe[1]);
	if (pq.finish != NULL) {
		pg_disconnect(&s->w);
		for (i = 0; i < PG_READERS_MAX; i++)
			pg_disconnect(&s->readers[i]);
	}
	queue_core_destroy(&s->core);
	pthread_mutex_destroy(&s->rmu);
	pthread_cond_destroy(&s->rcv);
	pthread_mutex_destroy(&s->wmu);
	free(s->live);
	free(s->uri);
	free(s);
}

static void
pg_close(struct queue *q)
{
	pg_free(to_pg(q));
}

static void
pg_stats(struct queue *q, struct queue_stats *st)
{
	queue_core_stats(&to_pg(q)->core, st);
}

int
queue_pg_open(const char *uri, const char *node, unsigned flags,
    struct queue **out, struct op_err *e)
{
	struct pgq *s;
	unsigned char rnd[6];
	char host[QUEUE_NODE_MAX + 1];

	*out = NULL;
	if (pq_ready(e) < 0)
		return -1;
	if (node == NULL || node[0] == '\0') {
		if (gethostname(host, sizeof(host)) != 0)
			str_copy(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		node = host;
	}
	if (strlen(node) > QUEUE_NODE_MAX)
		return err_set(e, ERR_CONFIG, "node name longer than %d bytes: set "
		    "a shorter [server] node", QUEUE_NODE_MAX);
	if (rand_bytes(rnd, sizeof(rnd), e) < 0)
		return -1;
	s = mem_alloc(sizeof(*s));
	queue_core_init(&s->core, &pg_ops, &pg_txn);
	s->uri = str_dup(uri);
	s->flags = flags;
	s->kpipe[0] = s->kpipe[1] = -1;
	mask_uri(s->where, sizeof(s->where), uri);
	str_copy(s->node, sizeof(s->node), node);
	snprintf(s->owner, sizeof(s->owner), "%s/%ld/%02x%02x%02x%02x%02x%02x",
	    s->node, (long)getpid(), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
	    rnd[5]);
	pthread_mutex_init(&s->rmu, NULL);
	pthread_cond_init(&s->rcv, NULL);
	pthread_mutex_init(&s->wmu, NULL);
	if (pipe2(s->kpipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		err_set(e, ERR_OSERR, "cannot make a pipe: %s", strerror(errno));
		goto fail;
	}
	if (pg_connect(s, &s->w, e) < 0 || pg_schema(s, e) < 0)
		goto fail;
	if (queue_core_start(&s->core, e) < 0)
		goto fail;
	*out = &s->core.base;
	return 0;
fail:
	pg_free(s);
	return -1;
}

static const struct queue_ops pg_ops = {
	.name = "postgresql",
	.submit = queue_core_submit,
	.submit_async = queue_core_submit_async,
	.claim = queue_core_claim,
	.claim_id = queue_core_claim_id,
	.body_get = pg_body_get,
	.body_read = pg_body_read,
	.record = queue_core_record,
	.record_async = queue_core_record_async,
	.unclaim = queue_core_unclaim,
	.fail = queue_core_fail,
	.wait = queue_core_wait,
	.advance = queue_core_advance,
	.event_add = queue_core_event_add,
	.recover = queue_core_recover,
	.hold_all = queue_core_hold_all,
	.release_held = queue_core_release_held,
	.retry = queue_core_retry,
	.retry_all = queue_core_retry_all,
	.del = queue_core_delete,
	.purge = queue_core_purge,
	.list = pg_list,
	.get = pg_get,
	.counts = pg_counts,
	.next_due = pg_next_due,
	.counters = pg_counters,
	.rate_add = queue_core_rate_add,
	.rate_load = pg_rate_load,
	.outbox_claim = queue_core_outbox_claim,
	.outbox_finish = queue_core_outbox_finish,
	.outbox_count = pg_outbox_count,
	.supp_list = pg_supp_list,
	.supp_delete = queue_core_supp_delete,
	.supp_check = pg_supp_check,
	.watch = pg_watch,
	.rate_reserve = pg_rate_reserve,
	.rate_release = pg_rate_release,
	.pstate_put = pg_pstate_put,
	.pstate_load = pg_pstate_load,
	.settings_get = pg_settings_get,
	.settings_put = pg_settings_put,
	.changes = pg_changes,
	.node_counters = pg_node_counters,
	.stats = pg_stats,
	.close = pg_close,
};

static const struct queue_txn pg_txn = {
	.begin = txn_begin,
	.savepoint = txn_savepoint,
	.job_end = txn_job_end,
	.release = txn_release,
	.rollback_to = txn_rollback_to,
	.lost = txn_lost,
	.rate_add = txn_rate_add,
	.count_add = txn_count_add,
	.commit = txn_commit,
	.rollback = txn_rollback,
	.after = txn_after,
	/* the two jobs of every message go without a savepoint (two
	 * statements less, no subtransaction): a submission fails only when
	 * the database does (a taken id is ON CONFLICT DO NOTHING, and tried
	 * again); a result whose message or recipient is gone is blamed, and
	 * the batch goes again without it */
	.no_savepoint = 1u << QJ_SUBMIT | 1u << QJ_RECORD,
	.run = {
		[QJ_SUBMIT] = job_submit,
		[QJ_CLAIM] = job_claim,
		[QJ_RECORD] = job_record,
		[QJ_UNCLAIM] = job_unclaim,
		[QJ_WAIT] = job_wait,
		[QJ_ADVANCE] = job_advance,
		[QJ_FAIL] = job_fail,
		[QJ_EVENT] = job_event,
		[QJ_RECOVER] = job_recover,
		[QJ_HOLD] = job_hold,
		[QJ_RELEASE] = job_release,
		[QJ_RETRY] = job_retry,
		[QJ_RETRY_ALL] = job_retry_all,
		[QJ_DELETE] = job_delete,
		[QJ_PURGE] = job_purge,
		[QJ_RATE_ADD] = job_rate_add,
		[QJ_OUTBOX_CLAIM] = job_outbox_claim,
		[QJ_OUTBOX_FINISH] = job_outbox_finish,
		[QJ_SUPP_DELETE] = job_supp_delete,
	},
};
