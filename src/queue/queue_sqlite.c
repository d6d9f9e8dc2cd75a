/*
 * queue_sqlite.c - the SQLite backend of the message store (queue.h).
 *
 * ===== Schema (PRAGMA user_version 3, PRAGMA application_id 'OPST') =====
 *
 * Times are Unix seconds.  States are stored as their names (queue.h) so
 * the file reads well in the sqlite3 shell; CHECK constraints keep them
 * honest.
 *
 * messages - one row per message; small rows, so scans stay fast with
 * 100,000 messages in the queue (the body lives in its own table).
 *   mid           INTEGER PRIMARY KEY  internal key, in order of acceptance
 *   id            TEXT UNIQUE          public id (queue.h: 16 base32 chars)
 *   sender        TEXT                 reverse-path, '' for <>
 *   size          INTEGER              body bytes
 *   state         TEXT                 queued sending deferred sent failed held
 *   attempts      INTEGER              delivery attempts made
 *   created       INTEGER              accepted
 *   since         INTEGER              start of the current lifetime (created,
 *                                      or the last retry/release)
 *   next_attempt  INTEGER              due time while queued or deferred
 *   updated       INTEGER              last change
 *   claimed       INTEGER              when a worker claimed it (while sending)
 *   profile       TEXT                 profile asked for, NULL = first enabled
 *   profile_used  TEXT                 last profile tried
 *   last_error    TEXT                 last failure, "550 5.1.1 text"
 * bodies - the message as received, one row per message
 *   mid           INTEGER PRIMARY KEY  -> messages.mid, ON DELETE CASCADE
 *   body          BLOB                 read with sqlite3_blob_* (no copy of
 *                                      the whole row; streamed in pieces)
 * recipients - one row per recipient (WITHOUT ROWID: a message's
 * recipients sit together)
 *   mid, idx      PRIMARY KEY          -> messages.mid; idx from 0 in order
 *   address       TEXT
 *   state         TEXT                 pending sent deferred failed
 *   code          INTEGER              last SMTP reply code (NULL: none yet,
 *                                      0: no reply, connection failed)
 *   enhanced      TEXT                 last enhanced status code "5.1.1"
 *   reply         TEXT                 last reply text (sanitised)
 *   attempts      INTEGER
 *   updated       INTEGER              time of the last result
 *   profile       TEXT                 set with a "sent" result: the profile
 *                                      that delivered it; its event is then
 *                                      not stored but made from this row
 *                                      (version 2; NULL in rows of 1)
 * events - what happened to each message, in order
 *   eid           INTEGER PRIMARY KEY
 *   mid           INTEGER              -> messages.mid, ON DELETE CASCADE
 *   at, kind, text                     kind: held sent deferred failed
 *                                      retry recovered released ...; the
 *                                      first, "accepted", is not stored but
 *                                      made from the message row when read,
 *                                      nor are "sent" results (made from
 *                                      the recipient rows)
 *
 * Version 2 added recipients.profile (ALTER TABLE, when a file of version
 * 1 is opened); version 3 the counters table; version 4 the events for
 * the application (below).
 * sends - sends per profile and minute, for provider quotas across
 * restarts (WITHOUT ROWID, pruned after two days)
 *   profile, minute  PRIMARY KEY       minute = time / 60
 *   n             INTEGER              sends in that minute
 *   last          INTEGER              time of the latest of them
 * counters - delivery outcomes per profile ('-': none, an expiry), added
 * by every process that records one (the daemon, `send --now`, test
 * emails), once per profile and transaction (WITHOUT ROWID); GET /metrics
 * shows them, so they count every delivery whoever made it
 *   profile       TEXT PRIMARY KEY
 *   sent, deferred, failed              attempts by the state they left
 *                                       the message in (failed: also
 *                                       queue_fail())
 *   rcpt_sent, rcpt_deferred, rcpt_failed  recipient results by state
 *
 * Version 4 (events for the application):
 * messages.metadata  TEXT             the JSON object submitted, as given
 * messages.subject   TEXT             the Subject header (cut), searched
 * outbox - events waiting for a webhook, written in the transaction of
 * the outcome they describe; removed once delivered or dropped
 *   oid           INTEGER PRIMARY KEY  in order of the events
 *   hook          TEXT                 the webhook's name
 *   id            TEXT                 the message's public id
 *   kind          TEXT                 queued sent deferred failed suppressed
 *   rcpt, code, enhanced, reply, profile, node, attempt, at
 *   tries         INTEGER              deliveries tried
 *   next_try      INTEGER              due then
 *   lease         INTEGER              claimed by a sender until then (0)
 * idempotency - Idempotency-Key -> the message it stored (WITHOUT ROWID),
 * purged after QUEUE_IDEM_KEEP_S
 *   key TEXT PRIMARY KEY, id TEXT, at INTEGER
 * suppressions - addresses refused for good (WITHOUT ROWID)
 *   address TEXT PRIMARY KEY (lowercase), reason, at, id (the message)
 * and the indexes recipients_address (address COLLATE NOCASE) and
 * for searches by recipient (the others read the messages newest first:
 * one more index would cost every submission); outbox_msg
 * (hook, id, oid) keeps a message's events in order.
 *
 * Indexes: messages(id) UNIQUE; messages(state) for counts and filtered
 * lists (newest first by the implied mid); messages(next_attempt) WHERE
 * state IN ('queued','deferred') - a partial index, so claiming due
 * messages and finding the next due time read only the due entries, in
 * order, and never look at held, sent or failed ones (the statements name
 * it with INDEXED BY: without statistics the planner would pick the state
 * index and sort every waiting message at each claim); events(mid).
 *
 * ===== Connections and group commit =====
 *
 * All writes of a handle go through one committer thread, which owns the
 * writing connection.  A caller (queue_submit(), queue_record(), ...)
 * appends a job to a list and, unless asynchronous, sleeps until the job
 * is done.  The committer takes every job waiting (at most BATCH_JOBS of
 * them and about BATCH_BYTES of message bodies), runs them in ONE
 * transaction (BEGIN IMMEDIATE ... COMMIT: one fsync with synchronous=FULL
 * in WAL mode), and then wakes every waiter and runs the asynchronous
 * callbacks.  While it commits, new jobs gather for the next transaction:
 * the busier the store, the larger the batches.  Each waiter sleeps on
 * its own condition variable, so a commit wakes only its own waiters.
 * Each job runs inside its
 * own SAVEPOINT, so a job that fails alone (no such message) is rolled
 * back alone; a failure of the whole transaction (disk full, I/O error,
 * locked too long) rolls everything back and every job in it fails with
 * that error: nothing of it was stored, nothing was acknowledged.
 *
 * Reads (lists, bodies, counts) use a small pool of read-only connections
 * (up to READERS_MAX, opened on demand; queue_sqlite_read.c); in WAL mode
 * they read while the committer writes.  Every connection is used by one thread at a time, so
 * they are opened without SQLite's own mutexes, and their statements are
 * prepared once.
 *
 * Several processes may use the file at once (the daemon and CLI
 * commands): SQLite's locks serialise the writers (each waits up to
 * BUSY_TIMEOUT_MS), and a claim is one UPDATE ... RETURNING inside
 * BEGIN IMMEDIATE, so no message is claimed twice.
 */
#include "queue/queue_sqlite.h"
#include "queue/queue_impl.h"
#include "queue/queue_sqlite_int.h"
#include "queue/queue_commit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/net.h"

#define SCHEMA_VERSION 4
#define APPLICATION_ID 0x4f505354      /* "OPST" */
#define WRITER_CACHE_KIB 8192
#define WAL_LIMIT_BYTES (64 << 20)     /* journal_size_limit */
#define CKPT_FRAMES 4000               /* new WAL frames between
                                        * checkpoints (16 MiB at 4 KiB) */
#define CKPT_CATCHUP_FRAMES 16000      /* past this, one after each commit
                                        * until the WAL starts over */
#define CKPT_IDLE_MS 1000              /* and one once writes pause */
#define CLOSE_CKPT_FRAMES 64           /* a command's close checkpoints a
                                        * WAL longer than this */
#define RATE_KEEP_S (2 * 86400)        /* sends buckets kept */
#define RATE_PRUNE_EVERY_S 3600

#define COUNTERS_SQL "CREATE TABLE IF NOT EXISTS counters (" \
	" profile TEXT PRIMARY KEY, sent INTEGER NOT NULL DEFAULT 0," \
	" deferred INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0," \
	" rcpt_sent INTEGER NOT NULL DEFAULT 0," \
	" rcpt_deferred INTEGER NOT NULL DEFAULT 0," \
	" rcpt_failed INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"

/* version 4: events for the application */
#define V4_SQL "ALTER TABLE messages ADD COLUMN metadata TEXT;" \
	"ALTER TABLE messages ADD COLUMN subject TEXT;" \
	"CREATE INDEX recipients_address ON recipients(address COLLATE NOCASE);" \
	"CREATE TABLE outbox (oid INTEGER PRIMARY KEY, hook TEXT NOT NULL," \
	" id TEXT NOT NULL, kind TEXT NOT NULL, rcpt TEXT NOT NULL," \
	" code INTEGER, enhanced TEXT, reply TEXT, profile TEXT, node TEXT," \
	" attempt INTEGER NOT NULL DEFAULT 0, at INTEGER NOT NULL," \
	" tries INTEGER NOT NULL DEFAULT 0, next_try INTEGER NOT NULL," \
	" lease INTEGER NOT NULL DEFAULT 0);" \
	"CREATE INDEX outbox_msg ON outbox(hook, id, oid);" \
	"CREATE TABLE idempotency (key TEXT PRIMARY KEY, id TEXT NOT NULL," \
	" at INTEGER NOT NULL) WITHOUT ROWID;" \
	"CREATE TABLE suppressions (address TEXT PRIMARY KEY, reason TEXT," \
	" at INTEGER NOT NULL, id TEXT) WITHOUT ROWID;"
#define OUTBOX_LEASE_S 300              /* a claimed event is sent again
                                         * after this if its sender died */

static const char schema_sql[] =
	"CREATE TABLE messages ("
	" mid INTEGER PRIMARY KEY,"
	" id TEXT NOT NULL UNIQUE,"
	" sender TEXT NOT NULL,"
	" size INTEGER NOT NULL,"
	" state TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'deferred',"
	"   'sent', 'failed', 'held')),"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" created INTEGER NOT NULL,"
	" since INTEGER NOT NULL,"
	" next_attempt INTEGER NOT NULL,"
	" updated INTEGER NOT NULL,"
	" claimed INTEGER,"
	" profile TEXT,"
	" profile_used TEXT,"
	" last_error TEXT);"
	"CREATE INDEX messages_state ON messages(state);"
	"CREATE INDEX messages_due ON messages(next_attempt)"
	" WHERE state IN ('queued', 'deferred');"
	"CREATE TABLE bodies ("
	" mid INTEGER PRIMARY KEY REFERENCES messages(mid) ON DELETE CASCADE,"
	" body BLOB NOT NULL);"
	"CREATE TABLE recipients ("
	" mid INTEGER NOT NULL REFERENCES messages(mid) ON DELETE CASCADE,"
	" idx INTEGER NOT NULL,"
	" address TEXT NOT NULL,"
	" state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'deferred',"
	"   'failed')),"
	" code INTEGER,"
	" enhanced TEXT,"
	" reply TEXT,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" updated INTEGER,"
	" profile TEXT,"
	" PRIMARY KEY (mid, idx)) WITHOUT ROWID;"
	"CREATE TABLE events ("
	" eid INTEGER PRIMARY KEY,"
	" mid INTEGER NOT NULL REFERENCES messages(mid) ON DELETE CASCADE,"
	" at INTEGER NOT NULL,"
	" kind TEXT NOT NULL,"
	" text TEXT);"
	"CREATE INDEX events_mid ON events(mid);"
	"CREATE TABLE sends ("
	" profile TEXT NOT NULL,"
	" minute INTEGER NOT NULL,"
	" n INTEGER NOT NULL,"
	" last INTEGER NOT NULL,"
	" PRIMARY KEY (profile, minute)) WITHOUT ROWID;"
	COUNTERS_SQL;

/* ---- Statements of the writing connection (committer thread only) ---- */

/* The messages `queue retry --all | --status S` takes (?2: S or NULL). */
#define RETRYABLE "(state = ?2 OR (?2 IS NULL AND state IN ('queued'," \
	" 'deferred', 'failed', 'held')))"

static const char *const w_sql[W__COUNT] = {
	[W_BEGIN] = "BEGIN IMMEDIATE",
	[W_COMMIT] = "COMMIT",
	[W_ROLLBACK] = "ROLLBACK",
	[W_SAVEPOINT] = "SAVEPOINT job",
	[W_RELEASE] = "RELEASE job",
	[W_ROLLBACK_TO] = "ROLLBACK TO job",
	[W_MSG_INSERT] = "INSERT INTO messages (id, sender, size, state,"
	    " attempts, created, since, next_attempt, updated, profile,"
	    " metadata, subject)"
	    " VALUES (?1, ?2, ?3, ?4, 0, ?5, ?5, ?5, ?5, ?6, ?7, ?8)",
	[W_BODY_INSERT] = "INSERT INTO bodies (mid, body) VALUES (?1, ?2)",
	[W_RCPT_INSERT] = "INSERT INTO recipients (mid, idx, address, state)"
	    " VALUES (?1, ?2, ?3, 'pending')",
	[W_EVENT_INSERT] = "INSERT INTO events (mid, at, kind, text)"
	    " VALUES (?1, ?2, ?3, ?4)",
	[W_FIND] = "SELECT mid, state FROM messages WHERE id = ?1",
	[W_CLAIM] = "UPDATE messages SET state = 'sending', claimed = ?1,"
	    " updated = ?1 WHERE mid IN (SELECT mid FROM messages"
	    " INDEXED BY messages_due WHERE " WAITING " AND next_attempt <= ?1"
	    " ORDER BY next_attempt LIMIT ?2)"
	    " RETURNING " MSG_COLS,
	[W_CLAIM_ID] = "UPDATE messages SET state = 'sending', claimed = ?1,"
	    " updated = ?1 WHERE id = ?2 AND " WAITING
	    " RETURNING " MSG_COLS,
	[W_RCPTS_OF] = "SELECT " RCPT_COLS ", EXISTS (SELECT 1 FROM"
	    " suppressions AS s WHERE s.address = lower(recipients.address))"
	    " FROM recipients WHERE mid = ?1 ORDER BY idx",
	[W_RCPT_RESULT] = "UPDATE recipients SET state = ?3, code = ?4,"
	    " enhanced = ?5, reply = ?6, attempts = attempts + 1, updated = ?7,"
	    " profile = ?8 WHERE mid = ?1 AND idx = ?2",
	/* (not RETURNING: SQLite keeps its rows in a new temporary b-tree) */
	[W_RCPT_ADDR] = "SELECT address FROM recipients WHERE mid = ?1"
	    " AND idx = ?2",
	[W_RCPT_TALLY] = "SELECT count(*) FILTER (WHERE state IN ('pending',"
	    " 'deferred')), count(*) FILTER (WHERE state = 'sent'),"
	    " count(*) FILTER (WHERE state = 'failed')"
	    " FROM recipients WHERE mid = ?1",
	[W_MSG_RESULT] = "UPDATE messages SET state = ?2,"
	    " attempts = attempts + 1,"
	    " next_attempt = coalesce(?3, next_attempt),"
	    " profile_used = coalesce(?4, profile_used),"
	    " last_error = CASE WHEN ?7 THEN NULL"
	    " ELSE coalesce(?5, last_error) END, updated = ?6,"
	    " claimed = NULL WHERE mid = ?1",
	[W_RCPT_FAIL_OPEN] = "UPDATE recipients SET state = 'failed',"
	    " updated = ?2 WHERE mid = ?1 AND state IN ('pending', 'deferred')",
	[W_MSG_FAIL] = "UPDATE messages SET state = ?2, last_error = ?3,"
	    " updated = ?4, claimed = NULL WHERE mid = ?1",
	[W_UNCLAIM] = "UPDATE messages SET state = " BACK_FROM_SENDING ","
	    " next_attempt = ?2, updated = ?3, claimed = NULL"
	    " WHERE mid = ?1 AND state = 'sending'",
	[W_WAIT_RCPTS] = "UPDATE recipients SET state = 'deferred', code = ?2,"
	    " enhanced = ?3, reply = ?4, updated = ?5"
	    " WHERE mid = ?1 AND state IN ('pending', 'deferred')",
	/* deferred once attempted or a recipient had a reply (a 421): a
	 * full quota alone keeps a new message queued */
	[W_WAIT] = "UPDATE messages SET last_error = coalesce(?4, last_error),"
	    " state = CASE WHEN attempts > 0 OR EXISTS (SELECT 1 FROM recipients"
	    " AS r WHERE r.mid = ?1 AND r.state = 'deferred') THEN 'deferred'"
	    " ELSE 'queued' END,"
	    " next_attempt = ?2, updated = ?3, claimed = NULL"
	    " WHERE mid = ?1 AND state = 'sending'",
	[W_ADVANCE] = "UPDATE messages SET next_attempt = ?1 WHERE " WAITING
	    " AND next_attempt > ?1 AND next_attempt <= ?2",
	[W_RECOVER_EVENTS] = "INSERT INTO events (mid, at, kind, text)"
	    " SELECT mid, ?1, 'recovered', '" QUEUE_TEXT_RECOVERED "' FROM messages"
	    " WHERE state = 'sending' AND updated <= ?2",
	[W_RECOVER] = "UPDATE messages SET state = " BACK_FROM_SENDING ","
	    " next_attempt = min(next_attempt, ?1), updated = ?1,"
	    " claimed = NULL WHERE state = 'sending' AND updated <= ?2",
	[W_HOLD_EVENTS] = "INSERT INTO events (mid, at, kind, text)"
	    " SELECT mid, ?1, 'held', ?2 FROM messages WHERE " WAITING,
	[W_HOLD] = "UPDATE messages SET state = 'held', updated = ?1"
	    " WHERE " WAITING,
	[W_RELEASE_EVENTS] = "INSERT INTO events (mid, at, kind, text)"
	    " SELECT mid, ?1, 'released', '" QUEUE_TEXT_RELEASED "'"
	    " FROM messages WHERE state = 'held'",
	[W_RELEASE_HELD] = "UPDATE messages SET state = 'queued',"
	    " next_attempt = ?1, since = ?1, updated = ?1 WHERE state = 'held'",
	[W_RETRY_RCPTS] = "UPDATE recipients SET state = 'pending'"
	    " WHERE mid = ?1 AND state IN ('failed', 'deferred')",
	[W_RETRY_MSG] = "UPDATE messages SET state = 'queued',"
	    " next_attempt = ?2, since = ?2, updated = ?2, claimed = NULL"
	    " WHERE mid = ?1",
	/* bulk retry: ?2 one state, or NULL for every retryable one */
	[W_RETRY_ALL_EVENTS] = "INSERT INTO events (mid, at, kind, text)"
	    " SELECT mid, ?1, 'retry', '" QUEUE_TEXT_RETRY "'"
	    " FROM messages WHERE " RETRYABLE,
	[W_RETRY_ALL_RCPTS] = "UPDATE recipients SET state = 'pending'"
	    " WHERE state IN ('failed', 'deferred') AND mid IN"
	    " (SELECT mid FROM messages WHERE " RETRYABLE ")",
	[W_RETRY_ALL] = "UPDATE messages SET state = 'queued',"
	    " next_attempt = ?1, since = ?1, updated = ?1, claimed = NULL"
	    " WHERE " RETRYABLE,
	[W_DELETE] = "DELETE FROM messages WHERE mid = ?1",
	/* one state's messages, oldest first (the index holds them in mid
	 * order): job_purge() stops at the first made after the cut */
	[W_PURGE_SCAN] = "SELECT mid, created, updated FROM messages"
	    " INDEXED BY messages_state WHERE state = ?1 ORDER BY mid",
	[W_RATE_ADD] = "INSERT INTO sends (profile, minute, n, last)"
	    " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (profile, minute)"
	    " DO UPDATE SET n = n + excluded.n, last = max(last, excluded.last)",
	[W_RATE_PRUNE] = "DELETE FROM sends WHERE minute < ?1",
	[W_COUNT_ADD] = "INSERT INTO counters (profile, sent, deferred, failed,"
	    " rcpt_sent, rcpt_deferred, rcpt_failed)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (profile) DO UPDATE"
	    " SET sent = sent + excluded.sent,"
	    " deferred = deferred + excluded.deferred,"
	    " failed = failed + excluded.failed,"
	    " rcpt_sent = rcpt_sent + excluded.rcpt_sent,"
	    " rcpt_deferred = rcpt_deferred + excluded.rcpt_deferred,"
	    " rcpt_failed = rcpt_failed + excluded.rcpt_failed",
	/* ---- events for the application ---- */
	[W_IDEM_FIND] = "SELECT id FROM idempotency WHERE key = ?1 AND at > ?2",
	[W_IDEM_PUT] = "INSERT OR REPLACE INTO idempotency (key, id, at)"
	    " VALUES (?1, ?2, ?3)",
	[W_IDEM_PURGE] = "DELETE FROM idempotency WHERE at <= ?1",
	[W_OUTBOX_QUEUED] = "INSERT INTO outbox (hook, id, kind, rcpt, at,"
	    " next_try) VALUES (?1, ?2, 'queued', ?3, ?4, ?4)",
	[W_OUTBOX_RESULT] = "INSERT INTO outbox (hook, id, kind, rcpt, code,"
	    " enhanced, reply, profile, attempt, at, next_try)"
	    " SELECT ?1, ?2, ?3, address, ?4, ?5, ?6, ?7, attempts, ?8, ?8"
	    " FROM recipients WHERE mid = ?9 AND idx = ?10",
	[W_OUTBOX_FAIL] = "INSERT INTO outbox (hook, id, kind, rcpt, code,"
	    " reply, attempt, at, next_try)"
	    " SELECT ?1, ?2, 'failed', address, 0, ?3, attempts, ?4, ?4"
	    " FROM recipients WHERE mid = ?5 AND state IN ('pending', 'deferred')",
	[W_SUPP_ADD] = "INSERT INTO suppressions (address, reason, at, id)"
	    " SELECT lower(address), ?3, ?4, ?5 FROM recipients"
	    " WHERE mid = ?1 AND idx = ?2 ON CONFLICT (address) DO UPDATE"
	    " SET reason = excluded.reason, at = excluded.at, id = excluded.id",
	[W_OUTBOX_CLAIM] = "UPDATE outbox SET lease = ?3 WHERE oid IN"
	    " (SELECT o.oid FROM outbox AS o WHERE o.hook = ?1"
	    " AND o.next_try <= ?2 AND o.lease <= ?2 AND NOT EXISTS"
	    " (SELECT 1 FROM outbox AS p WHERE p.hook = o.hook AND p.id = o.id"
	    " AND p.oid < o.oid) ORDER BY o.oid LIMIT ?4)"
	    " RETURNING oid, hook, kind, id, rcpt, code, enhanced, reply,"
	    " profile, node, attempt, at, tries,"
	    " (SELECT m.metadata FROM messages AS m WHERE m.id = outbox.id)",
	[W_OUTBOX_DEL] = "DELETE FROM outbox WHERE oid = ?1",
	[W_OUTBOX_RETRY] = "UPDATE outbox SET tries = tries + 1, next_try = ?2,"
	    " lease = 0 WHERE oid = ?1",
	[W_SUPP_DEL] = "DELETE FROM suppressions WHERE address = ?1",
	[W_SUPP_UNRETRY] = "DELETE FROM suppressions WHERE address IN"
	    " (SELECT lower(address) FROM recipients WHERE mid = ?1"
	    " AND state IN ('failed', 'deferred'))",
	/* ---- end of events for the application ---- */
};

static const struct queue_ops sq_ops;
static const struct queue_txn sq_txn;

static int64_t
now_s(void)
{
	return clock_wall_ms() / 1000;
}

static size_t
cut(const char *s, size_t max)
{
	return s != NULL ? strnlen(s, max) : 0;
}

/* ---- Errors ---- */

static int
is_batch_fatal(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
	case SQLITE_ERROR:
	case SQLITE_RANGE:
	case SQLITE_MISUSE:
	case SQLITE_TOOBIG:
	case SQLITE_MISMATCH:
		return 0;
	default:
		return 1;
	}
}

static int
corrupt_err(const char *path, const char *detail, struct op_err *e)
{
	return err_set(e, ERR_IO, "the queue database %s is damaged (%s): stop "
	    "Outpost, move it and its -wal and -shm files aside, and restore "
	    "them from a backup (\"sqlite3 FILE .recover\" may save messages); "
	    "Outpost will not start an empty queue in its place", path, detail);
}

int
sq_err(struct sq *s, sqlite3 *db, int rc, const char *what, struct op_err *e)
{
	int sys = db != NULL ? sqlite3_system_errno(db) : 0;
	const char *msg = db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
	const char *path = s->path;

	if (db != NULL && db == s->wdb && is_batch_fatal(rc))
		s->fatal = 1;
	switch (rc & 0xff) {
	case SQLITE_FULL:
		err_set(e, ERR_TEMP, "%s: disk full: cannot write %s; free space "
		    "on its file system and try again (nothing was stored)",
		    what, path);
		break;
	case SQLITE_IOERR:
		/* a full disk shows as SQLITE_FULL on write, but as an I/O error
		 * when fsync finds it, or when a file size limit is hit */
		if (rc == SQLITE_IOERR_READ || rc == SQLITE_IOERR_SHORT_READ)
			err_set(e, ERR_TEMP, "%s: cannot read %s: I/O error (%s%s%s); "
			    "check the disk", what, path, msg, sys ? ": " : "",
			    sys ? strerror(sys) : "");
		else if (sys == ENOSPC || sys == EDQUOT)
			err_set(e, ERR_TEMP, "%s: disk full: cannot write %s (%s); "
			    "free space on its file system and try again (nothing "
			    "was stored)", what, path, strerror(sys));
		else
			err_set(e, ERR_TEMP, "%s: cannot write %s: I/O error or disk "
			    "full (%s%s%s); check the disk and its free space and try "
			    "again (nothing was stored)", what, path, msg,
			    sys ? ": " : "", sys ? strerror(sys) : "");
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		err_set(e, ERR_TEMP, "%s: %s stayed locked by another process for "
		    "%d s; try again", what, path, BUSY_TIMEOUT_MS / 1000);
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		corrupt_err(path, msg, e);
		err_prefix(e, "%s", what);
		break;
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		err_set(e, ERR_IO, "%s: cannot write %s: %s%s%s; check the "
		    "permissions of the file and its directory", what, path, msg,
		    sys ? ": " : "", sys ? strerror(sys) : "");
		break;
	case SQLITE_NOMEM:
		err_set(e, ERR_OSERR, "%s: out of memory", what);
		break;
	default:
		err_set(e, ERR_SOFTWARE, "%s: database error on %s: %s", what,
		    path, msg);
		break;
	}
	if (e != NULL)
		e->sys = sys;
	return -1;
}

/* ---- Small statement helpers ---- */

static void
st_reset(sqlite3_stmt *st)
{
	sqlite3_reset(st);
}

/* Step a writing statement that returns no row; reset it. */
static int
w_exec(struct sq *s, int idx, const char *what, struct op_err *e)
{
	sqlite3_stmt *st = s->w[idx];
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return sq_err(s, s->wdb, rc, what, e);
	return 0;
}

static void
bind_text(sqlite3_stmt *st, int i, const char *s, size_t max)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, (int)cut(s, max), SQLITE_STATIC);
}

const char *
sq_col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t != NULL ? (const char *)t : "";
}

const char *
sq_set_col(struct queue_set *set, sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	if (t == NULL)
		return NULL;
	return queue_set_strndup(set, (const char *)t,
	    (size_t)sqlite3_column_bytes(st, i));
}

int64_t
sq_row_msg(struct queue_set *set, sqlite3_stmt *st)
{
	struct queue_msg *m = queue_set_add_msg(set);

	str_copy(m->id, sizeof(m->id), sq_col_text(st, 1));
	m->sender = sq_set_col(set, st, 2);
	if (m->sender == NULL)
		m->sender = queue_set_strndup(set, "", 0);
	m->size = (uint64_t)sqlite3_column_int64(st, 3);
	m->state = queue_msg_state_parse(sq_col_text(st, 4));
	m->attempts = (unsigned)sqlite3_column_int(st, 5);
	m->created = sqlite3_column_int64(st, 6);
	m->since = sqlite3_column_int64(st, 7);
	m->next_attempt = sqlite3_column_int64(st, 8);
	m->updated = sqlite3_column_int64(st, 9);
	m->profile = sq_set_col(set, st, 10);
	m->profile_used = sq_set_col(set, st, 11);
	m->last_error = sq_set_col(set, st, 12);
	m->nrcpts_total = (size_t)sqlite3_column_int64(st, 13);
	if (sqlite3_column_count(st) > 15) {
		m->metadata = sq_set_col(set, st, 14);
		m->subject = sq_set_col(set, st, 15);
	}
	if (sqlite3_column_count(st) > 17) {
		m->first_rcpt = sq_set_col(set, st, 16);
		m->last_reply = sq_set_col(set, st, 17);
	}
	return sqlite3_column_int64(st, 0);
}

void
sq_row_rcpt(struct queue_set *set, struct queue_msg *m, sqlite3_stmt *st)
{
	struct queue_rcpt *r = queue_set_add_rcpt(set, m);
	const char *enh = sq_set_col(set, st, 4), *reply = sq_set_col(set, st, 5);

	r->idx = (unsigned)sqlite3_column_int(st, 0);
	r->address = sq_set_col(set, st, 1);
	if (r->address == NULL)
		r->address = queue_set_strndup(set, "", 0);
	r->state = queue_rcpt_state_parse(sq_col_text(st, 2));
	r->code = sqlite3_column_int(st, 3);
	r->enhanced = enh != NULL ? enh : queue_set_strndup(set, "", 0);
	r->reply = reply != NULL ? reply : queue_set_strndup(set, "", 0);
	r->attempts = (unsigned)sqlite3_column_int(st, 6);
	r->updated = sqlite3_column_int64(st, 7);
	r->profile = sq_set_col(set, st, 8);
	if (sqlite3_column_count(st) > 9)
		r->suppressed = sqlite3_column_int(st, 9) != 0;
}

/* ---- Opening connections ---- */

int
sq_db_exec(struct sq *s, sqlite3 *db, const char *sql, const char *what,
    struct op_err *e)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return sq_err(s, db, rc, what, e);
	return 0;
}

/* The single integer or text a pragma returns. */
static int
db_pragma(struct sq *s, sqlite3 *db, const char *sql, int64_t *ival,
    char *tval, size_t tsz, struct op_err *e)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(s, db, rc, "cannot read the queue database", e);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (ival != NULL)
			*ival = sqlite3_column_int64(st, 0);
		if (tval != NULL)
			str_copy(tval, tsz, sq_col_text(st, 0));
		rc = SQLITE_DONE;
	}
	if (rc != SQLITE_DONE) {
		sq_err(s, db, rc, "cannot read the queue database", e);
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

int
sq_db_connect(struct sq *s, sqlite3 **out, int cache_kib, struct op_err *e)
{
	sqlite3 *db = NULL;
	char sql[128];
	int rc;

	*out = NULL;
	rc = sqlite3_open_v2(s->path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		sq_err(s, db, rc, "cannot open the queue database", e);
		sqlite3_close(db);
		return -1;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	{
		/* Keep the -wal file when the last connection closes: short
		 * commands (`outpost sendmail`) would otherwise delete and
		 * create it each time, paying two extra fsyncs for its header
		 * and the directory. */
		int persist = 1;

		sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
	}
	snprintf(sql, sizeof(sql), "PRAGMA synchronous = FULL;"
	    " PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;"
	    " PRAGMA cache_size = -%d;", cache_kib);
	if (sq_db_exec(s, db, sql, "cannot set up the queue database", e) < 0) {
		sqlite3_close(db);
		return -1;
	}
	*out = db;
	return 0;
}

int
sq_prepare_all(struct sq *s, sqlite3 *db, const char *const *sql,
    sqlite3_stmt **st, int n, struct op_err *e)
{
	int i, rc;

	for (i = 0; i < n; i++) {
		rc = sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT,
		    &st[i], NULL);
		if (rc != SQLITE_OK)
			return sq_err(s, db, rc, "cannot prepare the queue's "
			    "statements", e);
	}
	return 0;
}

void
sq_finalize_all(sqlite3_stmt **st, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		sqlite3_finalize(st[i]);
		st[i] = NULL;
	}
}

/*
 * A queue file never exists without its tables: a new one is made under
 * a temporary name (mode 0600; SQLite would use 0644), its schema
 * committed and synced, and only then linked to its name (link(2), not
 * rename: a file another process made meanwhile is kept, not replaced).
 * So a queue.db that is empty, or that holds no tables, was not left
 * half-made by an Outpost that was stopped: it is a queue that lost its
 * contents, and open_file() and setup_schema() refuse it rather than
 * start an empty queue over it.  A crash while making one can leave a
 * "queue.db.new-XXXXXX" file behind; it holds no mail.
 */
static int
empty_err(const char *path, const char *detail, struct op_err *e)
{
	return err_set(e, ERR_IO, "the queue database %s is empty (%s) but "
	    "Outpost did not just create it: the mail it held may be lost. "
	    "Stop Outpost and restore it and its -wal file from a backup, or "
	    "delete it to start an empty queue; Outpost will not start one in "
	    "its place by itself", path, detail);
}

static int
sync_dir_of(const char *path)
{
	char *dir = str_dup(path), *slash = strrchr(dir, '/');
	int fd, rc;

	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	fd = open(slash != NULL ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int
create_db(struct sq *s, struct op_err *e)
{
	size_t n = strlen(s->path) + sizeof(".new-XXXXXX");
	char *tmp = mem_alloc(n), sql[96];
	sqlite3 *db = NULL;
	int fd, rc;

	snprintf(tmp, n, "%s.new-XXXXXX", s->path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err_set(e, ERR_IO, "cannot create the queue database %s: %s",
		    s->path, strerror(errno));
		free(tmp);
		return -1;
	}
	rc = sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		sq_err(s, db, rc, "cannot create the queue database", e);
		goto fail;
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d;"
	    " PRAGMA application_id = %d; COMMIT;", SCHEMA_VERSION,
	    APPLICATION_ID);
	if (sq_db_exec(s, db, "PRAGMA synchronous = FULL; BEGIN", "cannot "
	    "create the queue database", e) < 0 ||
	    sq_db_exec(s, db, schema_sql, "cannot create the queue's tables",
	    e) < 0 ||
	    sq_db_exec(s, db, V4_SQL, "cannot create the queue's tables",
	    e) < 0 ||
	    sq_db_exec(s, db, sql, "cannot create the queue's tables", e) < 0)
		goto fail;
	rc = sqlite3_close(db);
	db = NULL;
	if (rc != SQLITE_OK || fsync(fd) != 0) {
		err_set(e, ERR_TEMP, "cannot create the queue database %s: %s",
		    s->path, rc != SQLITE_OK ? sqlite3_errstr(rc) :
		    strerror(errno));
		goto fail;
	}
	if (link(tmp, s->path) != 0 && errno != EEXIST) {
		err_set(e, errno == ENOSPC || errno == EDQUOT ? ERR_TEMP : ERR_IO,
		    "cannot create the queue database %s: %s", s->path,
		    strerror(errno));
		goto fail;
	}
	unlink(tmp);
	close(fd);
	free(tmp);
	if (sync_dir_of(s->path) != 0)
		return err_set(e, ERR_TEMP, "cannot create the queue database "
		    "%s: cannot sync its directory: %s", s->path,
		    strerror(errno));
	return 0;
fail:
	if (db != NULL)
		sqlite3_close(db);
	unlink(tmp);
	close(fd);
	free(tmp);
	return -1;
}

/* The file as found, or a new one; never an emptied one. */
static int
open_file(struct sq *s, struct op_err *e)
{
	struct stat st;

	if (stat(s->path, &st) != 0) {
		if (errno == ENOENT)
			return create_db(s, e);
		return err_set(e, ERR_IO, "cannot use the queue database %s: %s",
		    s->path, strerror(errno));
	}
	if (S_ISREG(st.st_mode) && st.st_size == 0)
		return empty_err(s->path, "0 bytes", e);
	return 0;
}

/* WAL mode, then the schema checked (open_file() made it if new). */
static int
setup_schema(struct sq *s, struct op_err *e)
{
	char mode[32];
	int64_t version = 0, appid = 0, ntables = 0;

	if (db_pragma(s, s->wdb, "PRAGMA journal_mode", NULL, mode, sizeof(mode),
	    e) < 0)
		return -1;
	if (strcmp(mode, "wal") != 0) {
		if (db_pragma(s, s->wdb, "PRAGMA journal_mode = WAL", NULL, mode,
		    sizeof(mode), e) < 0)
			return -1;
		if (strcmp(mode, "wal") != 0)
			return err_set(e, ERR_IO, "cannot put the queue database %s "
			    "in WAL mode (it stays \"%s\"); put data_dir on a local "
			    "file system", s->path, mode);
	}
	if (sq_db_exec(s, s->wdb, "BEGIN IMMEDIATE", "cannot open the queue "
	    "database", e) < 0)
		return -1;
	if (db_pragma(s, s->wdb, "PRAGMA user_version", &version, NULL, 0, e) < 0 ||
	    db_pragma(s, s->wdb, "PRAGMA application_id", &appid, NULL, 0, e) < 0 ||
	    db_pragma(s, s->wdb, "SELECT count(*) FROM sqlite_schema", &ntables,
	    NULL, 0, e) < 0)
		goto fail;
	if (version == 0 && ntables == 0 && appid == 0) {
		empty_err(s->path, "an SQLite database without tables", e);
		goto fail;
	} else if (appid != APPLICATION_ID) {
		err_set(e, ERR_IO, "%s is an SQLite database but not an Outpost "
		    "queue; set data_dir to another directory or move the file "
		    "aside", s->path);
		goto fail;
	} else if (version > SCHEMA_VERSION) {
		err_set(e, ERR_CONFIG, "the queue database %s was made by a newer "
		    "Outpost (schema version %lld; this one knows up to %d): run "
		    "the newer Outpost, or restore a backup made with this one",
		    s->path, (long long)version, SCHEMA_VERSION);
		goto fail;
	} else if (version < 1) {
		corrupt_err(s->path, "schema version missing", e);
		goto fail;
	}
	if (version == 1) {
		if (sq_db_exec(s, s->wdb, "ALTER TABLE recipients ADD COLUMN"
		    " profile TEXT; PRAGMA user_version = 2;", "cannot upgrade "
		    "the queue's tables", e) < 0)
			goto fail;
		log_event(LOG_INFO, "queue_upgrade", "file", s->path, "schema",
		    "2", NULL);
		version = 2;
	}
	if (version == 2) {
		if (sq_db_exec(s, s->wdb, COUNTERS_SQL " PRAGMA user_version = 3;",
		    "cannot upgrade the queue's tables", e) < 0)
			goto fail;
		log_event(LOG_INFO, "queue_upgrade", "file", s->path, "schema",
		    "3", NULL);
		version = 3;
	}
	if (version == 3) {        /* events for the application */
		if (sq_db_exec(s, s->wdb, V4_SQL " PRAGMA user_version = 4;",
		    "cannot upgrade the queue's tables", e) < 0)
			goto fail;
		log_event(LOG_INFO, "queue_upgrade", "file", s->path, "schema",
		    "4", NULL);
	}
	if (sq_db_exec(s, s->wdb, "COMMIT", "cannot create the queue's tables",
	    e) < 0)
		goto fail;
	return 0;
fail:
	sqlite3_exec(s->wdb, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static int
quick_check(struct sq *s, struct op_err *e)
{
	sqlite3_stmt *st = NULL;
	char first[256] = "";
	int rc, problems = 0;

	rc = sqlite3_prepare_v2(s->wdb, "PRAGMA quick_check", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(s, s->wdb, rc, "cannot check the queue database", e);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *line = sq_col_text(st, 0);

		if (strcmp(line, "ok") == 0)
			continue;
		if (problems++ == 0)
			log_sanitize(first, sizeof(first), line);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sq_err(s, s->wdb, rc, "cannot check the queue database", e);
	if (problems > 0) {
		char detail[300];

		snprintf(detail, sizeof(detail), "%d problem%s, first: %s", problems,
		    problems == 1 ? "" : "s", first);
		return corrupt_err(s->path, detail, e);
	}
	return 0;
}

static int
rate_add(struct sq *s, const char *profile, int64_t now, unsigned n,
    struct op_err *e)
{
	sqlite3_stmt *st = s->w[W_RATE_ADD];

	sqlite3_bind_text(st, 1, profile, (int)cut(profile, QUEUE_PROFILE_MAX),
	    SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now / 60);
	sqlite3_bind_int64(st, 3, n);
	sqlite3_bind_int64(st, 4, now);
	if (w_exec(s, W_RATE_ADD, "cannot count a send", e) < 0)
		return -1;
	if (now - s->last_prune >= RATE_PRUNE_EVERY_S) {
		sqlite3_bind_int64(s->w[W_RATE_PRUNE], 1, (now - RATE_KEEP_S) / 60);
		if (w_exec(s, W_RATE_PRUNE, "cannot prune send counts", e) < 0)
			return -1;
		s->last_prune = now;
	}
	return 0;
}

/* ---- The transaction of the writing connection (queue_commit.c) ---- */

static struct sq *
core_sq(struct queue_core *c)
{
	return (struct sq *)c;
}

static struct sq *
to_sq(struct queue *q)
{
	return (struct sq *)q;
}

static int
txn_begin(struct queue_core *c, struct op_err *e)
{
	core_sq(c)->fatal = 0;
	return w_exec(core_sq(c), W_BEGIN, "cannot store", e);
}

static int
txn_savepoint(struct queue_core *c, struct op_err *e)
{
	return w_exec(core_sq(c), W_SAVEPOINT, "cannot store", e);
}

static int
txn_release(struct queue_core *c, struct op_err *e)
{
	return w_exec(core_sq(c), W_RELEASE, "cannot store", e);
}

static int
txn_rollback_to(struct queue_core *c, struct op_err *e)
{
	if (w_exec(core_sq(c), W_ROLLBACK_TO, "cannot store", e) < 0)
		return -1;
	return w_exec(core_sq(c), W_RELEASE, "cannot store", e);
}

static int
txn_lost(struct queue_core *c)
{
	struct sq *s = core_sq(c);

	return s->fatal || sqlite3_get_autocommit(s->wdb);
}

static int
txn_commit(struct queue_core *c, struct op_err *e)
{
	return w_exec(core_sq(c), W_COMMIT, "cannot commit", e);
}

static void
txn_rollback(struct queue_core *c)
{
	struct sq *s = core_sq(c);

	if (!sqlite3_get_autocommit(s->wdb)) {
		sqlite3_step(s->w[W_ROLLBACK]);
		sqlite3_reset(s->w[W_ROLLBACK]);
	}
}

static int
txn_rate_add(struct queue_core *c, const char *profile, int64_t at,
    unsigned n, struct op_err *e)
{
	return rate_add(core_sq(c), profile, at, n, e);
}

static int
txn_count_add(struct queue_core *c, const char *profile,
    const uint64_t n[QUEUE_COUNT_N], struct op_err *e)
{
	struct sq *s = core_sq(c);
	sqlite3_stmt *st = s->w[W_COUNT_ADD];
	int k;

	bind_text(st, 1, profile, QUEUE_PROFILE_MAX);
	for (k = 0; k < QUEUE_COUNT_N; k++)
		sqlite3_bind_int64(st, k + 2, (int64_t)n[k]);
	return w_exec(s, W_COUNT_ADD, "cannot count a delivery", e);
}

/* ---- Jobs (run by the committer inside the batch's transaction) ---- */

/* The mid and state of message j->id (ERR_NOINPUT if none). */
static int
find_msg(struct sq *s, const char *id, int64_t *mid, int *state,
    struct op_err *e)
{
	sqlite3_stmt *st = s->w[W_FIND];
	int rc;

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*mid = sqlite3_column_int64(st, 0);
		if (state != NULL)
			*state = queue_msg_state_parse(sq_col_text(st, 1));
		st_reset(st);
		return 0;
	}
	st_reset(st);
	if (rc == SQLITE_DONE)
		return err_set(e, ERR_NOINPUT, "no message with id %s", id);
	return sq_err(s, s->wdb, rc, "cannot find the message", e);
}

static int
add_event(struct sq *s, int64_t mid, int64_t at, const char *kind,
    const char *text, struct op_err *e)
{
	sqlite3_stmt *st = s->w[W_EVENT_INSERT];

	sqlite3_bind_int64(st, 1, mid);
	sqlite3_bind_int64(st, 2, at);
	bind_text(st, 3, kind, QUEUE_EVENT_KIND_MAX);
	bind_text(st, 4, text, QUEUE_TEXT_MAX);
	return w_exec(s, W_EVENT_INSERT, "cannot log an event", e);
}

/* submit: reads j->m; writes j->id. */
static int
job_submit(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct sq *s = core_sq(c);
	const struct queue_new *m = j->m;
	sqlite3_stmt *st;
	unsigned char rnd[5];
	int64_t mid, ms = clock_wall_ms(), now = ms / 1000;
	size_t i, h;
	int rc = SQLITE_CONSTRAINT, tries;
	char subject[QUEUE_SUBJECT_MAX];

	/* events for the application: a key seen within a day names the
	 * message it stored; nothing else is stored */
	if (m->replayed != NULL)
		*m->replayed = 0;
	if (m->idem_key != NULL) {
		st = s->w[W_IDEM_FIND];
		sqlite3_bind_text(st, 1, m->idem_key, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now - QUEUE_IDEM_KEEP_S);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			str_copy(j->id, sizeof(j->id), sq_col_text(st, 0));
			st_reset(st);
			if (m->replayed != NULL)
				*m->replayed = 1;
			return 0;
		}
		st_reset(st);
		if (rc != SQLITE_DONE)
			return sq_err(s, s->wdb, rc, "cannot look up the "
			    "Idempotency-Key", e);
		rc = SQLITE_CONSTRAINT;
	}
	queue_subject_of(m->body, m->len, subject, sizeof(subject));

	for (tries = 0; tries < QUEUE_ID_TRIES && rc != SQLITE_DONE; tries++) {
		if (rand_bytes(rnd, sizeof(rnd), e) < 0)
			return -1;
		queue_id_make(j->id, ms, rnd);
		st = s->w[W_MSG_INSERT];
		sqlite3_bind_text(st, 1, j->id, QUEUE_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, m->sender, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)m->len);
		sqlite3_bind_text(st, 4, queue_msg_state_name(m->state), -1,
		    SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, now);
		bind_text(st, 6, m->profile, QUEUE_PROFILE_MAX);
		bind_text(st, 7, m->metadata, QUEUE_META_MAX);
		bind_text(st, 8, subject[0] != '\0' ? subject : NULL,
		    QUEUE_SUBJECT_MAX);
		rc = sqlite3_step(st);
		st_reset(st);
		if (rc != SQLITE_DONE && rc != SQLITE_CONSTRAINT_UNIQUE)
			return sq_err(s, s->wdb, rc, "cannot store the message", e);
	}
	if (rc != SQLITE_DONE)
		return err_set(e, ERR_SOFTWARE, "cannot store the message: %d new "
		    "ids were all taken", QUEUE_ID_TRIES);
	mid = sqlite3_last_insert_rowid(s->wdb);

	st = s->w[W_BODY_INSERT];
	sqlite3_bind_int64(st, 1, mid);
	if (m->len > 0)
		sqlite3_bind_blob64(st, 2, m->body, m->len, SQLITE_STATIC);
	else
		sqlite3_bind_zeroblob(st, 2, 0);
	if (w_exec(s, W_BODY_INSERT, "cannot store the message", e) < 0)
		return -1;

	st = s->w[W_RCPT_INSERT];
	for (i = 0; i < m->nrcpts; i++) {
		sqlite3_bind_int64(st, 1, mid);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
		sqlite3_bind_text(st, 3, m->rcpts[i], -1, SQLITE_STATIC);
		if (w_exec(s, W_RCPT_INSERT, "cannot store the message", e) < 0)
			return -1;
	}
	/* events for the application */
	if (m->idem_key != NULL) {
		st = s->w[W_IDEM_PUT];
		sqlite3_bind_text(st, 1, m->idem_key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, j->id, QUEUE_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, now);
		if (w_exec(s, W_IDEM_PUT, "cannot store the Idempotency-Key", e) < 0)
			return -1;
	}
	for (h = 0; (c->bmask & QUEUE_HOOK_QUEUED) && h < c->nbhooks; h++) {
		if (!(c->bhooks[h].events & QUEUE_HOOK_QUEUED))
			continue;
		st = s->w[W_OUTBOX_QUEUED];
		for (i = 0; i < m->nrcpts; i++) {
			sqlite3_bind_text(st, 1, c->bhooks[h].name, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, j->id, QUEUE_ID_LEN, SQLITE_STATIC);
			sqlite3_bind_text(st, 3, m->rcpts[i], -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 4, now);
			if (w_exec(s, W_OUTBOX_QUEUED, "cannot store an event", e) < 0)
				return -1;
		}
	}
	return 0;                      /* "accepted" is made when read */
}

/* claim: reads j->now, j->max, and j->id for claim_id (j->max 1);
 * fills j->set. */
static int
job_claim(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct sq *s = core_sq(c);
	sqlite3_stmt *st = s->w[j->id[0] != '\0' ? W_CLAIM_ID : W_CLAIM];
	int64_t *mids = NULL;
	size_t i, n = 0;
	int rc;

	mids = mem_alloc(j->max * sizeof(*mids));
	sqlite3_bind_int64(st, 1, j->now);
	if (j->id[0] != '\0')
		sqlite3_bind_text(st, 2, j->id, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 2, (sqlite3_int64)j->max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < j->max)
		mids[n++] = sq_row_msg(j->set, st);
	st_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		goto fail_db;
	st = s->w[W_RCPTS_OF];
	for (i = 0; i < n; i++) {
		struct queue_msg *m = &j->set->msgs[i];

		sqlite3_bind_int64(st, 1, mids[i]);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *state = sq_col_text(st, 2);

			if (strcmp(state, "pending") == 0 ||
			    strcmp(state, "deferred") == 0)
				sq_row_rcpt(j->set, m, st);
		}
		st_reset(st);
		if (rc != SQLITE_DONE)
			goto fail_db;
	}
	free(mids);
	queue_set_finish(j->set);
	return 0;
fail_db:
	free(mids);
	queue_set_free(j->set);
	return sq_err(s, s->wdb, rc, "cannot claim messages", e);
}

/* Set the message's state from its recipients (queue.h's rule); *well
 * (if not NULL) 1 when every recipient was delivered. */
static int
derive_state(struct sq *s, int64_t mid, int *state, int *well,
    struct op_err *e)
{
	sqlite3_stmt *st = s->w[W_RCPT_TALLY];
	int64_t open_n, sent_n, failed_n;
	int rc;

	sqlite3_bind_int64(st, 1, mid);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		st_reset(st);
		return sq_err(s, s->wdb, rc, "cannot read the recipients", e);
	}
	open_n = sqlite3_column_int64(st, 0);
	sent_n = sqlite3_column_int64(st, 1);
	failed_n = sqlite3_column_int64(st, 2);
	st_reset(st);
	*state = queue_state_derive((uint64_t)open_n, (uint64_t)sent_n,
	    (uint64_t)failed_n, well);
	return 0;
}

static void
format_result(char *dst, size_t dstsz, const struct queue_rcpt_result *r)
{
	queue_format_result(dst, dstsz, r->code, r->enhanced, r->reply);
}

/* events for the application: the outbox rows of result r (its
 * recipient updated already), and its address suppressed if r says so */
static int
record_extra(struct sq *s, struct queue_core *c, const struct queue_outcome *o,
    const struct queue_rcpt_result *r, int64_t mid, int64_t now,
    struct op_err *e)
{
	unsigned kind = queue_hook_kind_of(r);
	sqlite3_stmt *st;
	size_t h;

	for (h = 0; (c->bmask & kind) && h < c->nbhooks; h++) {
		if (!(c->bhooks[h].events & kind))
			continue;
		st = s->w[W_OUTBOX_RESULT];
		sqlite3_bind_text(st, 1, c->bhooks[h].name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, o->id, QUEUE_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, queue_hook_kind_name(kind), -1,
		    SQLITE_STATIC);
		sqlite3_bind_int(st, 4, r->code);
		bind_text(st, 5, r->enhanced, QUEUE_ENHANCED_MAX);
		bind_text(st, 6, r->reply, QUEUE_REPLY_MAX);
		bind_text(st, 7, o->profile_used, QUEUE_PROFILE_MAX);
		sqlite3_bind_int64(st, 8, now);
		sqlite3_bind_int64(st, 9, mid);
		sqlite3_bind_int64(st, 10, r->idx);
		if (w_exec(s, W_OUTBOX_RESULT, "cannot store an event", e) < 0)
			return -1;
	}
	if (r->suppress && !r->suppressed) {
		char reason[QUEUE_TEXT_MAX];

		format_result(reason, sizeof(reason), r);
		st = s->w[W_SUPP_ADD];
		sqlite3_bind_int64(st, 1, mid);
		sqlite3_bind_int64(st, 2, r->idx);
		bind_text(st, 3, reason, QUEUE_TEXT_MAX);
		sqlite3_bind_int64(st, 4, now);
		sqlite3_bind_text(st, 5, o->id, QUEUE_ID_LEN, SQLITE_STATIC);
		if (w_exec(s, W_SUPP_ADD, "cannot suppress an address", e) < 0)
			return -1;
		queue_core_supp_added(c);
	}
	return 0;
}

/* record: reads j->o, j->now (o->now, or the clock); writes j->state, and
 * j->sends, j->sends_profile. */
static int
job_record(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct sq *s = core_sq(c);
	const struct queue_outcome *o = j->o;
	const struct queue_rcpt_result *first_bad = NULL;
	char text[QUEUE_TEXT_MAX + 512], err_text[QUEUE_TEXT_MAX];
	sqlite3_stmt *st, *ast;
	int quiet, well = 0;
	int64_t mid, now;
	size_t i;
	int rc, state;

	if (find_msg(s, o->id, &mid, NULL, e) < 0)
		return -1;
	now = j->now;
	st = s->w[W_RCPT_RESULT];
	for (i = 0; i < o->nresults; i++) {
		const struct queue_rcpt_result *r = &o->results[i];

		sqlite3_bind_int64(st, 1, mid);
		sqlite3_bind_int64(st, 2, r->idx);
		sqlite3_bind_text(st, 3, queue_rcpt_state_name(r->state), -1,
		    SQLITE_STATIC);
		sqlite3_bind_int(st, 4, r->code);
		bind_text(st, 5, r->enhanced != NULL && r->enhanced[0] != '\0' ?
		    r->enhanced : NULL, QUEUE_ENHANCED_MAX);
		bind_text(st, 6, r->reply, QUEUE_REPLY_MAX);
		sqlite3_bind_int64(st, 7, now);
		/* a sent result's event is made from its row when read: the
		 * row keeps it for good (sent recipients are never retried) */
		quiet = r->state == QUEUE_RCPT_SENT && o->profile_used != NULL;
		bind_text(st, 8, quiet ? o->profile_used : NULL,
		    QUEUE_PROFILE_MAX);
		rc = sqlite3_step(st);
		st_reset(st);
		if (rc != SQLITE_DONE)
			return sq_err(s, s->wdb, rc, "cannot record a result", e);
		if (sqlite3_changes(s->wdb) == 0)
			return err_set(e, ERR_DATA, "message %s has no recipient %u",
			    o->id, r->idx);
		if (!quiet) {
			ast = s->w[W_RCPT_ADDR];
			sqlite3_bind_int64(ast, 1, mid);
			sqlite3_bind_int64(ast, 2, r->idx);
			rc = sqlite3_step(ast);
			if (rc != SQLITE_ROW) {
				st_reset(ast);
				if (rc == SQLITE_DONE)
					return err_set(e, ERR_DATA, "message %s has no "
					    "recipient %u", o->id, r->idx);
				return sq_err(s, s->wdb, rc, "cannot record a result",
				    e);
			}
			format_result(err_text, sizeof(err_text), r);
			queue_format_event(text, sizeof(text), sq_col_text(ast, 0),
			    o->profile_used, err_text);
			st_reset(ast);
			if (add_event(s, mid, now, r->suppressed ? "suppressed" :
			    queue_rcpt_state_name(r->state), text, e) < 0)
				return -1;
		}
		if (record_extra(s, c, o, r, mid, now, e) < 0)
			return -1;
		if (first_bad == NULL && r->state != QUEUE_RCPT_SENT)
			first_bad = r;
	}
	for (i = 0; i < o->nevents; i++)
		if (add_event(s, mid, now, o->events[i].kind, o->events[i].text,
		    e) < 0)
			return -1;
	if (derive_state(s, mid, &state, &well, e) < 0)
		return -1;
	st = s->w[W_MSG_RESULT];
	sqlite3_bind_int64(st, 1, mid);
	sqlite3_bind_text(st, 2, queue_msg_state_name(state), -1, SQLITE_STATIC);
	if (state == QUEUE_MSG_DEFERRED)
		sqlite3_bind_int64(st, 3, o->next_attempt);
	else
		sqlite3_bind_null(st, 3);
	bind_text(st, 4, o->profile_used, QUEUE_PROFILE_MAX);
	if (o->error != NULL) {
		bind_text(st, 5, o->error, QUEUE_TEXT_MAX);
	} else if (first_bad != NULL) {
		format_result(err_text, sizeof(err_text), first_bad);
		bind_text(st, 5, err_text, QUEUE_TEXT_MAX);
	} else {
		sqlite3_bind_null(st, 5);
	}
	sqlite3_bind_int64(st, 6, now);
	/* ended well (every recipient delivered): no last error; the
	 * events keep the failures on the way */
	sqlite3_bind_int(st, 7, well);
	if (w_exec(s, W_MSG_RESULT, "cannot record a result", e) < 0)
		return -1;
	queue_job_count_record(j, state);
	return 0;
}

/* unclaim: reads j->id, j->when (next attempt), j->text (reason). */
static int
job_unclaim(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct sq *s = core_sq(c);
	sqlite3_stmt *st = s->w[W_UNCLAIM];
	int64_t mid, now = now_s();

	if (find_msg(s, j->id, &mid, NULL, e) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, mid);
	sqlite3_bind_int64(st, 2, j->when);
	sqlite3_bind_int64(st, 3, now);
	if (w_exec(s, W_UNCLAIM, "cannot give the message back", e) < 0)
		return -1;
	if (sqlite3_changes(s->wdb) == 0)
		return err_set(e, ERR_DATA, "message %s is not being sent", j->id);
	if (j->text != NULL)
		return add_event(s, mid, now, "unclaimed", j->text, e);
	return 0;
}

/* wait: reads j->id, j->w. */
static int
job_wait(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct sq *s = core_sq(c);
	const struct queue_wait *w = j->w;
	sqlite3_stmt *st;
	int64_t mid;
	int state;

	if (find_msg(s, j->id, &mid, &state, e) < 0)
		return -1;
	if (state != QUEUE_MSG_SENDING)
		return err_set(e, ERR_DATA, "message %s is not being sent", j->id);
	if (w->code > 0 || (w->reply != NULL && w->reply[0] != '\0')) {
		st = s->w[W_WAIT_RCPTS];
		sqlite3_bind_int64(st, 1, mid);
		sqlite3_bind_int(st, 2, w->code);
		bind_text(st, 3, w->enhanced != NULL && w->enhanced[0] != '\0' ?
		    w->enhanced : NULL, QUEUE_ENHANCED_MAX);
		bind_text(st, 4, w->reply != NULL ? w->reply : "", QUEUE_REPLY_MAX);
		sqlite3_bind_int64(st, 5, w->now);
		if (w_exec(s, W_WAIT_RCPTS, "cannot give the message back", e) < 0)
			return -1;
	}
	st = s->w[W_WAIT];
	sqlite3_bind_int64(st, 1, mid);
	sqlite3_bind_int64(st, 2, w->next_attempt);
	sqlite3_bind_int64(st, 3, w->now);
	bind_text(st, 4, w->error, QUEUE_TEXT_MAX);
	return w_exec(s, W_WAIT, "cannot give the message back", e);
}

/* advance: reads j->now, j->when (until); writes j->n. */
static int
job_advance(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct sq *s = core_sq(c);
	sqlite3_bind_int64(s->w[W_ADVANCE], 1, j->now);
	sqlite3_bind_int64(s->w[W_ADVANCE], 2, j->when);
	if (w_exec(s, W_ADVANCE, "cannot make waiting messages due", e) < 0)
		return -1;
	j->n = (uint64_t)sqlite3_changes64(s->wdb);
	return 0;
}

/* fail: reads j->id, j->now, j->text (reason). */
static int
job_fail(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct sq *s = core_sq(c);
	sqlite3_stmt *st;
	int64_t mid;
	int state;

	if (find_msg(s, j->id, &mid, NULL, e) < 0)
		return -1;
	for (size_t h = 0; (c->bmask & QUEUE_HOOK_FAILED) && h < c->nbhooks;
	    h++) {
		if (!(c->bhooks[h].events & QUEUE_HOOK_FAILED))
			continue;
		st = s->w[W_OUTBOX_FAIL];
		sqlite3_bind_text(st, 1, c->bhooks[h].name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, j->id, QUEUE_ID_LEN, SQLITE_STATIC);
		bind_text(st, 3, j->text, QUEUE_REPLY_MAX);
		sqlite3_bind_int64(st, 4, j->now);
		sqlite3_bind_int64(st, 5, mid);
		if (w_exec(s, W_OUTBOX_FAIL, "cannot store an event", e) < 0)
			return -1;
	}
	st = s->w[W_RCPT_FAIL_OPEN];
	sqlite3_bind_int64(st, 1, mid);
	sqlite3_bind_int64(st, 2, j->now);
	if (w_exec(s, W_RCPT_FAIL_OPEN, "cannot fail the message", e) < 0)
		return -1;
	memset(j->cnt, 0, sizeof(j->cnt));
	j->cnt[QUEUE_COUNT_RCPT_FAILED] = (unsigned)sqlite3_changes(s->wdb);
	if (derive_state(s, mid, &state, NULL, e) < 0)
		return -1;
	j->cnt_profile = "-";
	if (state == QUEUE_MSG_FAILED)
		j->cnt[QUEUE_COUNT_FAILED] = 1;
	st = s->w[W_MSG_FAIL];
	sqlite3_bind_int64(st, 1, mid);
	sqlite3_bind_text(st, 2, queue_msg_state_name(state), -1, SQLITE_STATIC);
	bind_text(st, 3, j->text, QUEUE_TEXT_MAX);
	sqlite3_bind_int64(st, 4, j->now);
	if (w_exec(s, W_MSG_FAIL, "cannot fail the message", e) < 0)
		return -1;
	return add_event(s, mid, j->now, "failed", j->text, e);
}

/* event_add: reads j->id, j->now, j->text (kind), j->text2 (text). */
static int
job_event(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct sq *s = core_sq(c);
	int64_t mid;

	if (find_msg(s, j->id, &mid, NULL, e) < 0)
		return -1;
	return add_event(s, mid, j->now, j->text, j->text2, e);
}

/* recover: reads j->now, j->when (claims at or before it); writes j->n. */
static int
job_recover(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct sq *s = core_sq(c);
	sqlite3_bind_int64(s->w[W_RECOVER_EVENTS], 1, j->now);
	sqlite3_bind_int64(s->w[W_RECOVER_EVENTS], 2, j->when);
	if (w_exec(s, W_RECOVER_EVENTS, "cannot recover claims", e) < 0)
		return -1;
	sqlite3_bind_int64(s->w[W_RECOVER], 1, j->now);
	sqlite3_bind_int64(s->w[W_RECOVER], 2, j->when);
	if (w_exec(s, W_RECOVER, "cannot recover claims", e) < 0)
		return -1;
	j->n = (uint64_t)sqlite3_changes64(s->wdb);
	return 0;
}

/* hold_all: reads j->now, j->text (reason); writes j->n. */
static int
job_hold(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct sq *s = core_sq(c);
	sqlite3_bind_int64(s->w[W_HOLD_EVENTS], 1, j->now);
	bind_text(s->w[W_HOLD_EVENTS], 2, j->text, QUEUE_TEXT_MAX);
	if (w_exec(s, W_HOLD_EVENTS, "cannot hold messages", e) < 0)
		return -1;
	sqlite3_bind_int64(s->w[W_HOLD], 1, j->now);
	if (w_exec(s, W_HOLD, "cannot hold messages", e) < 0)
		return -1;
	j->n = (uint64_t)sqlite3_changes64(s->wdb);
	return 0;
}

/* release_held: reads j->now; writes j->n. */
static int
job_release(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct sq *s = core_sq(c);
	sqlite3_bind_int64(s->w[W_RELEASE_EVENTS], 1, j->now);
	if (w_exec(s, W_RELEASE_EVENTS, "cannot release held messages", e) < 0)
		return -1;
	sqlite3_bind_int64(s->w[W_RELEASE_HELD], 1, j->now);
	if (w_exec(s, W_RELEASE_HELD, "cannot release held messages", e) < 0)
		return -1;
	j->n = (uint64_t)sqlite3_changes64(s->wdb);
	return 0;
}

/* retry: reads j->id, j->now. */
static int
job_retry(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct sq *s = core_sq(c);
	int64_t mid;
	int state;

	if (find_msg(s, j->id, &mid, &state, e) < 0)
		return -1;
	if (state == QUEUE_MSG_SENDING)
		return err_set(e, ERR_DATA, "message %s is being delivered now; "
		    "retry it when the attempt has ended", j->id);
	/* an operator's retry tries its refused addresses again: off the
	 * suppression list (events for the application) */
	sqlite3_bind_int64(s->w[W_SUPP_UNRETRY], 1, mid);
	if (w_exec(s, W_SUPP_UNRETRY, "cannot retry the message", e) < 0)
		return -1;
	sqlite3_bind_int64(s->w[W_RETRY_RCPTS], 1, mid);
	if (w_exec(s, W_RETRY_RCPTS, "cannot retry the message", e) < 0)
		return -1;
	if (state == QUEUE_MSG_SENT && sqlite3_changes(s->wdb) == 0)
		return err_set(e, ERR_DATA, "message %s was delivered to every "
		    "recipient: nothing to retry", j->id);
	sqlite3_bind_int64(s->w[W_RETRY_MSG], 1, mid);
	sqlite3_bind_int64(s->w[W_RETRY_MSG], 2, j->now);
	if (w_exec(s, W_RETRY_MSG, "cannot retry the message", e) < 0)
		return -1;
	return add_event(s, mid, j->now, "retry", QUEUE_TEXT_RETRY, e);
}

/* retry_all: reads j->now, j->state (-1: every retryable state);
 * writes j->n. */
static int
job_retry_all(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct sq *s = core_sq(c);
	static const int order[] = { W_RETRY_ALL_EVENTS, W_RETRY_ALL_RCPTS,
		W_RETRY_ALL };
	size_t i;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		sqlite3_stmt *st = s->w[order[i]];

		sqlite3_bind_int64(st, 1, j->now);
		if (j->state < 0)
			sqlite3_bind_null(st, 2);
		else
			sqlite3_bind_text(st, 2, queue_msg_state_name(j->state), -1,
			    SQLITE_STATIC);
		if (w_exec(s, order[i], "cannot retry the messages", e) < 0)
			return -1;
	}
	j->n = (uint64_t)sqlite3_changes64(s->wdb);
	return 0;
}

/* delete: reads j->id. */
static int
job_delete(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct sq *s = core_sq(c);
	int64_t mid;

	if (find_msg(s, j->id, &mid, NULL, e) < 0)
		return -1;
	sqlite3_bind_int64(s->w[W_DELETE], 1, mid);
	return w_exec(s, W_DELETE, "cannot delete the message", e);
}

/* rate_add: reads j->text (profile), j->now, j->count. */
static int
job_rate_add(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct sq *s = core_sq(c);
	return rate_add(s, j->text, j->now, j->count, e);
}

/*
 * purge: reads j->when (before) and j->max; writes j->n.  Messages are
 * numbered as they are stored, so a state's rows come oldest first and the
 * scan stops at the first one stored after the cut (none after it can
 * have ended before it): the work is what is removed, not the whole
 * history.  Recipients, bodies and events go with their message (ON
 * DELETE CASCADE).
 */
static int
job_purge(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct sq *s = core_sq(c);
	static const char *const ended[] = { "failed", "sent" };
	sqlite3_stmt *st = s->w[W_PURGE_SCAN];
	int64_t *mids;
	size_t n = 0, i, k;
	int rc = SQLITE_DONE;

	j->n = 0;
	/* events for the application: keys older than a day name nothing */
	sqlite3_bind_int64(s->w[W_IDEM_PURGE], 1, now_s() - QUEUE_IDEM_KEEP_S);
	if (w_exec(s, W_IDEM_PURGE, "cannot remove old Idempotency-Keys", e) < 0)
		return -1;
	if (j->max == 0)
		return 0;
	mids = mem_alloc(j->max * sizeof(*mids));
	for (k = 0; k < 2 && n < j->max; k++) {
		sqlite3_bind_text(st, 1, ended[k], -1, SQLITE_STATIC);
		while (n < j->max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (sqlite3_column_int64(st, 1) >= j->when)
				break;
			if (sqlite3_column_int64(st, 2) < j->when)
				mids[n++] = sqlite3_column_int64(st, 0);
		}
		st_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			break;
		rc = SQLITE_DONE;
	}
	if (rc != SQLITE_DONE) {
		free(mids);
		return sq_err(s, s->wdb, rc, "cannot remove old messages", e);
	}
	for (i = 0; i < n; i++) {
		sqlite3_bind_int64(s->w[W_DELETE], 1, mids[i]);
		if (w_exec(s, W_DELETE, "cannot remove old messages", e) < 0) {
			free(mids);
			return -1;
		}
	}
	free(mids);
	j->n = n;
	return 0;
}

/* ---- Events for the application ---- */

/* outbox claim: reads j->text (webhook), j->now, j->max; fills j->set. */
static int
job_outbox_claim(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct sq *s = core_sq(c);
	sqlite3_stmt *st = s->w[W_OUTBOX_CLAIM];
	struct queue_set *set = j->set;
	int rc;

	sqlite3_bind_text(st, 1, j->text, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, j->now);
	sqlite3_bind_int64(st, 3, j->now + OUTBOX_LEASE_S);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)j->max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct queue_outbox_ev *ev = queue_set_add_outbox(set);

		ev->oid = sqlite3_column_int64(st, 0);
		ev->hook = sq_set_col(set, st, 1);
		ev->kind = sq_set_col(set, st, 2);
		ev->id = sq_set_col(set, st, 3);
		ev->rcpt = sq_set_col(set, st, 4);
		ev->code = sqlite3_column_int(st, 5);
		ev->enhanced = sq_set_col(set, st, 6);
		if (ev->enhanced == NULL)
			ev->enhanced = queue_set_strndup(set, "", 0);
		ev->reply = sq_set_col(set, st, 7);
		if (ev->reply == NULL)
			ev->reply = queue_set_strndup(set, "", 0);
		ev->profile = sq_set_col(set, st, 8);
		ev->node = sq_set_col(set, st, 9);
		ev->attempt = (unsigned)sqlite3_column_int(st, 10);
		ev->at = sqlite3_column_int64(st, 11);
		ev->tries = (unsigned)sqlite3_column_int(st, 12);
		ev->metadata = sq_set_col(set, st, 13);
	}
	st_reset(st);
	if (rc != SQLITE_DONE) {
		queue_set_free(set);
		return sq_err(s, s->wdb, rc, "cannot claim events", e);
	}
	queue_set_sort_outbox(set);
	return 0;
}

/* outbox finish: reads j->done, j->max (how many). */
static int
job_outbox_finish(struct queue_core *c, struct queue_job *j,
    struct op_err *e)
{
	struct sq *s = core_sq(c);
	size_t i;

	for (i = 0; i < j->max; i++) {
		const struct queue_outbox_done *d = &j->odone[i];
		int k = d->next_try == 0 ? W_OUTBOX_DEL : W_OUTBOX_RETRY;

		sqlite3_bind_int64(s->w[k], 1, d->oid);
		if (k == W_OUTBOX_RETRY)
			sqlite3_bind_int64(s->w[k], 2, d->next_try);
		if (w_exec(s, k, "cannot update an event", e) < 0)
			return -1;
	}
	return 0;
}

/* suppression delete: reads j->text (lowercase address). */
static int
job_supp_delete(struct queue_core *c, struct queue_job *j, struct op_err *e)
{
	struct sq *s = core_sq(c);

	sqlite3_bind_text(s->w[W_SUPP_DEL], 1, j->text, -1, SQLITE_STATIC);
	if (w_exec(s, W_SUPP_DEL, "cannot remove a suppressed address", e) < 0)
		return -1;
	if (sqlite3_changes(s->wdb) == 0)
		return err_set(e, ERR_NOINPUT, "%s is not suppressed", j->text);
	return 0;
}

/* ---- Open and close ---- */

static void
sq_stats(struct queue *q, struct queue_stats *st)
{
	struct sq *s = to_sq(q);

	queue_core_stats(&s->core, st);
	pthread_mutex_lock(&s->core.mu);
	st->checkpoints = s->checkpoints;
	pthread_mutex_unlock(&s->core.mu);
}


/*
 * When to checkpoint.  A checkpoint copies the newest version of each page
 * written since the last one into the database file and fsyncs it; pages
 * that many commits rewrite (the last leaf of each table and index, page 1)
 * are copied once however often they were written, so the longer the
 * stretch, the less is copied per message.  Hence one checkpoint per
 * CKPT_FRAMES new frames, and one once writes pause for CKPT_IDLE_MS, so
 * that the WAL starts over from its beginning at the next write.  Under a
 * sustained load the checkpoints never catch up fully and the WAL would
 * only grow: past CKPT_CATCHUP_FRAMES one is asked after every commit
 * until one finds nothing left to copy and the WAL starts over.
 */

/* After each commit of the writer (frames: the WAL's length).  Replaces
 * SQLite's automatic checkpoint, which would run inside the commit and
 * hold every waiting submission. */
static int
wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct sq *s = arg;
	int want;

	(void)db;
	(void)name;
	if (frames < s->ckpt_mark)
		s->ckpt_mark = 0;              /* the WAL started over */
	want = frames - s->ckpt_mark >= CKPT_FRAMES ||
	    frames >= CKPT_CATCHUP_FRAMES;
	pthread_mutex_lock(&s->core.mu);
	s->ckpt_pending = frames > s->ckpt_mark;
	if (want) {
		s->ckpt_mark = frames;
		s->ckpt_pending = 0;
		s->ckpt_wanted = 1;
		pthread_cond_signal(&s->ckpt_cv);
	}
	pthread_mutex_unlock(&s->core.mu);
	return SQLITE_OK;
}

/* The checkpointer thread: PASSIVE checkpoints never wait for the writer
 * or the readers, so commits go on while it copies pages. */
static void *
checkpointer(void *arg)
{
	struct sq *s = arg;
	struct timespec until;
	int log, done, rc;

	pthread_setname_np(pthread_self(), "op-checkpoint");

	pthread_mutex_lock(&s->core.mu);
	for (;;) {
		while (!s->ckpt_wanted && !s->core.stop) {
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += CKPT_IDLE_MS / 1000;
			rc = pthread_cond_timedwait(&s->ckpt_cv, &s->core.mu, &until);
			if (rc == ETIMEDOUT && s->ckpt_pending)
				break;         /* writes paused with frames to copy */
		}
		if (s->core.stop)
			break;
		s->ckpt_wanted = 0;
		s->ckpt_pending = 0;
		pthread_mutex_unlock(&s->core.mu);
		rc = sqlite3_wal_checkpoint_v2(s->cdb, NULL,
		    SQLITE_CHECKPOINT_PASSIVE, &log, &done);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
			log_event(LOG_WARN, "queue_checkpoint", "file", s->path,
			    "error", sqlite3_errstr(rc), NULL);
		pthread_mutex_lock(&s->core.mu);
		s->checkpoints++;
	}
	pthread_mutex_unlock(&s->core.mu);
	return NULL;
}

/*
 * A short-lived command (no checkpointer thread) checkpoints inline once
 * the WAL passes CKPT_FRAMES, as SQLite's automatic checkpoint would, and
 * remembers its length for the close: the next process to open the file
 * alone (no daemon running) reads the whole WAL back to rebuild its index,
 * so a command that leaves more than CLOSE_CKPT_FRAMES checkpoints when
 * it closes as the last user.  Closing is otherwise free of fsyncs.
 */
static int
cli_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct sq *s = arg;

	s->wal_frames = frames;
	if (frames >= CKPT_FRAMES)
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE,
		    NULL, NULL);
	return SQLITE_OK;
}

/*
 * The daemon writes its -wal file out to WAL_LIMIT_BYTES (zeros past what
 * it holds) once, at start.  SQLite appends frames to the file, and while
 * the file grows every commit's fsync must also write its new size and
 * blocks, a second I/O the commit waits for; within the file's length it
 * writes data only (measured: 10% more held submissions per second with
 * 16 clients).  SQLite empties the file when the last connection closes,
 * so this is done at every start.  Zeros past the valid frames are no
 * frames to SQLite (their salts and checksums do not match), and the
 * write lock is held meanwhile, so no other process appends.  Only a
 * speed-up: any failure leaves the file as it was and is ignored.
 */
static void
wal_preallocate(struct sq *s)
{
	static const char zeros[1 << 16];
	char wal[4096];
	struct stat st;
	off_t off;
	int fd, ok = 1;

	if ((size_t)snprintf(wal, sizeof(wal), "%s-wal", s->path) >= sizeof(wal) ||
	    sqlite3_exec(s->wdb, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return;
	fd = open(wal, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size < WAL_LIMIT_BYTES) {
		for (off = st.st_size; ok && off < WAL_LIMIT_BYTES; ) {
			size_t n = WAL_LIMIT_BYTES - off < (off_t)sizeof(zeros) ?
			    (size_t)(WAL_LIMIT_BYTES - off) : sizeof(zeros);
			ssize_t w = pwrite(fd, zeros, n, off);

			if (w < 0 && errno == EINTR)
				continue;
			ok = w > 0;
			off += ok ? w : 0;
		}
		/* out of space: give the blocks back, SQLite grows it as usual */
		if (!ok || fdatasync(fd) < 0)
			(void)ftruncate(fd, st.st_size);
	}
	if (fd >= 0)
		close(fd);
	sqlite3_exec(s->wdb, "COMMIT", NULL, NULL, NULL);
}

static int
checkpointer_start(struct sq *s, struct op_err *e)
{
	int rc;

	if (sq_db_connect(s, &s->cdb, 64, e) < 0)
		return -1;
	sqlite3_wal_hook(s->wdb, wal_hook, s);
	rc = pthread_create(&s->cthread, NULL, checkpointer, s);
	if (rc != 0) {
		sqlite3_wal_autocheckpoint(s->wdb, CKPT_FRAMES);
		return err_set(e, ERR_OSERR, "cannot start the queue's "
		    "checkpoint thread: %s", strerror(rc));
	}
	s->cthread_started = 1;
	return 0;
}

static void
sq_free(struct sq *s)
{
	/* every job waiting is done first, then the checkpointer stops */
	queue_core_stop(&s->core, &s->ckpt_cv);
	if (s->cthread_started)
		pthread_join(s->cthread, NULL);
	if (s->cdb != NULL)
		sqlite3_close(s->cdb);
	if (s->wdb != NULL && !s->cthread_started &&
	    s->wal_frames > CLOSE_CKPT_FRAMES)
		sqlite3_db_config(s->wdb, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0,
		    NULL);
	sq_readers_close(s);
	sq_finalize_all(s->w, W__COUNT);
	if (s->wdb != NULL)
		sqlite3_close(s->wdb);
	queue_core_destroy(&s->core);
	pthread_cond_destroy(&s->ckpt_cv);
	pthread_mutex_destroy(&s->rmu);
	pthread_cond_destroy(&s->rcv);
	free(s->path);
	free(s);
}

static void
sq_close(struct queue *q)
{
	sq_free(to_sq(q));
}

int
queue_sqlite_open(const char *db_path, unsigned flags, struct queue **out,
    struct op_err *e)
{
	struct sq *s;

	*out = NULL;
	s = mem_alloc(sizeof(*s));
	queue_core_init(&s->core, &sq_ops, &sq_txn);
	s->path = str_dup(db_path);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&s->ckpt_cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	pthread_mutex_init(&s->rmu, NULL);
	pthread_cond_init(&s->rcv, NULL);

	if (open_file(s, e) < 0 ||
	    sq_db_connect(s, &s->wdb, WRITER_CACHE_KIB, e) < 0)
		goto fail;
	/* A short-lived command leaves checkpoints to the daemon, or makes
	 * them itself (cli_wal_hook) */
	if (!(flags & QUEUE_OPEN_CHECK))
		sqlite3_db_config(s->wdb, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	if (!(flags & QUEUE_OPEN_DAEMON))
		sqlite3_wal_hook(s->wdb, cli_wal_hook, s);
	if (setup_schema(s, e) < 0)
		goto fail;
	if ((flags & QUEUE_OPEN_CHECK) && quick_check(s, e) < 0)
		goto fail;
	{
		char sql[64];

		snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit = %d",
		    WAL_LIMIT_BYTES);
		if (sq_db_exec(s, s->wdb, sql, "cannot set up the queue database",
		    e) < 0)
			goto fail;
	}
	/* The CHECK constraints on the state columns hold for every writer
	 * (the sqlite3 shell, say), but this one binds states only from
	 * their enums, and SQLite tests "state IN (...)" with a temporary
	 * b-tree in every INSERT and UPDATE of the row: skip them here. */
	if (sq_db_exec(s, s->wdb, "PRAGMA ignore_check_constraints = ON",
	    "cannot set up the queue database", e) < 0)
		goto fail;
	if (sq_prepare_all(s, s->wdb, w_sql, s->w, W__COUNT, e) < 0)
		goto fail;
	if (flags & QUEUE_OPEN_DAEMON)
		wal_preallocate(s);
	if ((flags & QUEUE_OPEN_DAEMON) && checkpointer_start(s, e) < 0)
		goto fail;
	if (queue_core_start(&s->core, e) < 0)
		goto fail;
	*out = &s->core.base;
	return 0;
fail:
	sq_free(s);
	return -1;
}

static const struct queue_ops sq_ops = {
	.name = "sqlite",
	.submit = queue_core_submit,
	.submit_async = queue_core_submit_async,
	.claim = queue_core_claim,
	.claim_id = queue_core_claim_id,
	.body_get = sq_body_get,
	.body_read = sq_body_read,
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
	.list = sq_list,
	.get = sq_get,
	.counts = sq_counts,
	.next_due = sq_next_due,
	.counters = sq_counters,
	.rate_add = queue_core_rate_add,
	.rate_load = sq_rate_load,
	.outbox_claim = queue_core_outbox_claim,
	.outbox_finish = queue_core_outbox_finish,
	.outbox_count = sq_outbox_count,
	.supp_list = sq_supp_list,
	.supp_delete = queue_core_supp_delete,
	.supp_check = sq_supp_check,
	.stats = sq_stats,
	.close = sq_close,
};

static const struct queue_txn sq_txn = {
	.begin = txn_begin,
	.savepoint = txn_savepoint,
	.release = txn_release,
	.rollback_to = txn_rollback_to,
	.lost = txn_lost,
	.rate_add = txn_rate_add,
	.count_add = txn_count_add,
	.commit = txn_commit,
	.rollback = txn_rollback,
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
