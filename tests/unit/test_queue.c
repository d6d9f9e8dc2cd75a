/* The queue store (src/queue/): its SQLite backend, in a fresh directory
 * per test; or, with OUTPOST_TEST_DATABASE=postgresql://... (a server
 * the caller started: scripts/test-pg, scripts/run-unit), its PostgreSQL
 * backend, in a fresh database per test (the same tests; those about the
 * SQLite file itself are skipped). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "queue/queue.h"
#include "queue/queue_sqlite.h"
#include "util/buf.h"
#include "util/net.h"

#define NTHREADS 16
#define PER_THREAD 200
#define NIDS 10000

struct fixture {
	char dir[256];
	char db[300];
	struct queue *q;
};

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* OUTPOST_TEST_DATABASE: the PostgreSQL server the tests run against. */
static const char *pg_base;
static unsigned pg_seq;

/* SQL on the test's PostgreSQL database uri, through psql; its output
 * (the first line) in out. */
static void
psql(const char *uri, const char *sql, char *out, size_t outsz)
{
	char file[] = "/tmp/outpost-test-sql-XXXXXX", cmd[1024], line[256] = "";
	FILE *p;
	int fd = mkstemp(file);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, sql, strlen(sql)), (ssize_t)strlen(sql));
	close(fd);
	snprintf(cmd, sizeof(cmd), "psql -X -q -A -t -v ON_ERROR_STOP=1 -d '%s'"
	    " -f %s", uri, file);
	p = popen(cmd, "r");
	assert_non_null(p);
	if (fgets(line, sizeof(line), p) == NULL)
		line[0] = '\0';
	while (fgetc(p) != EOF)
		;
	assert_int_equal(pclose(p), 0);
	unlink(file);
	if (out != NULL)
		snprintf(out, outsz, "%s", line);
}

/* Tests of the SQLite file itself (its mode, WAL, pragmas, damage). */
#define SQLITE_ONLY() do { if (pg_base != NULL) skip(); } while (0)

static void
sql_on(const char *path, const char *sql)
{
	sqlite3 *db;

	if (queue_db_is_pg(path)) {
		psql(path, sql, NULL, 0);
		return;
	}

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* The one integer a query on the file at path returns. */
static int
sql_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int v;

	if (queue_db_is_pg(path)) {
		char out[64];

		psql(path, sql, out, sizeof(out));
		return (int)strtol(out, NULL, 10);
	}
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	struct op_err e;

	snprintf(f->dir, sizeof(f->dir), "%s/outpost-queue-XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	if (pg_base != NULL) {
		/* a fresh database on the test server */
		char name[64], sql[128];
		const char *slash = strrchr(pg_base, '/');

		snprintf(name, sizeof(name), "tq_%ld_%u", (long)getpid(), ++pg_seq);
		snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
		psql(pg_base, sql, NULL, 0);
		snprintf(f->db, sizeof(f->db), "%.*s/%s",
		    (int)(slash - pg_base), pg_base, name);
		if (queue_open(f->db, QUEUE_OPEN_CHECK, &f->q, &e) < 0) {
			fprintf(stderr, "queue_open: %s\n", e.msg);
			return -1;
		}
		*state = f;
		return 0;
	}
	/* data_dir itself must be created by queue_open */
	snprintf(f->db, sizeof(f->db), "%s/data", f->dir);
	if (queue_open(f->db, QUEUE_OPEN_CHECK, &f->q, &e) < 0) {
		fprintf(stderr, "queue_open: %s\n", e.msg);
		return -1;
	}
	snprintf(f->db, sizeof(f->db), "%s/data/queue.db", f->dir);
	*state = f;
	return 0;
}

/* The daemon's handle: checkpoints in a thread of their own. */
static int
setup_daemon(void **state)
{
	struct fixture *f;
	struct op_err e;
	char dir[sizeof(f->dir) + 8];

	if (setup(state) < 0)
		return -1;
	f = *state;
	queue_close(f->q);
	snprintf(dir, sizeof(dir), "%s/data", f->dir);
	if (queue_open(pg_base != NULL ? f->db : dir, QUEUE_OPEN_DAEMON, &f->q,
	    &e) < 0) {
		fprintf(stderr, "queue_open: %s\n", e.msg);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	queue_close(f->q);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void
reopen(struct fixture *f)
{
	struct op_err e;

	queue_close(f->q);
	f->q = NULL;
	if (queue_open(f->db, QUEUE_OPEN_CHECK, &f->q, &e) < 0)
		fail_msg("reopen: %s", e.msg);
}

static const char *const three[] = {
	"a@example.org", "b@example.org", "c@example.net",
};

static void
submit(struct queue *q, const char *body, size_t nrcpts, int state,
    char id[QUEUE_ID_SIZE])
{
	struct queue_new m = {
		.sender = "app@example.com",
		.rcpts = three,
		.nrcpts = nrcpts,
		.body = body,
		.len = strlen(body),
		.state = state,
	};
	struct op_err e;

	if (queue_submit(q, &m, id, &e) < 0)
		fail_msg("queue_submit: %s", e.msg);
}

static int64_t
now(void)
{
	return clock_wall_ms() / 1000;
}

static uint64_t
count_of(struct queue *q, int state)
{
	uint64_t c[QUEUE_MSG_NSTATES];
	struct op_err e;

	if (queue_counts(q, c, &e) < 0)
		fail_msg("queue_counts: %s", e.msg);
	return c[state];
}

/* ---- Accept and read back ---- */

static void
test_submit_and_read_back(void **state)
{
	struct fixture *f = *state;
	const char *body = "Subject: hi\r\n\r\nhello\r\n";
	char id[QUEUE_ID_SIZE], *got = NULL, dir[300];
	struct queue_set set;
	struct op_err e;
	struct stat st;
	size_t len;

	submit(f->q, body, 3, QUEUE_MSG_QUEUED, id);
	assert_true(queue_id_valid(id));
	assert_int_equal(strlen(id), QUEUE_ID_LEN);

	assert_int_equal(queue_get(f->q, id, &set, &e), 0);
	assert_int_equal(set.n, 1);
	assert_string_equal(set.msgs[0].id, id);
	assert_string_equal(set.msgs[0].sender, "app@example.com");
	assert_int_equal(set.msgs[0].state, QUEUE_MSG_QUEUED);
	assert_int_equal(set.msgs[0].size, strlen(body));
	assert_int_equal(set.msgs[0].attempts, 0);
	assert_int_equal(set.msgs[0].nrcpts_total, 3);
	assert_int_equal(set.msgs[0].nrcpts, 3);
	assert_null(set.msgs[0].profile);
	assert_null(set.msgs[0].last_error);
	assert_true(set.msgs[0].created >= now() - 5);
	assert_int_equal(set.msgs[0].since, set.msgs[0].created);
	assert_string_equal(set.msgs[0].rcpts[2].address, "c@example.net");
	assert_int_equal(set.msgs[0].rcpts[2].idx, 2);
	assert_int_equal(set.msgs[0].rcpts[2].state, QUEUE_RCPT_PENDING);
	assert_int_equal(set.msgs[0].rcpts[2].code, 0);
	assert_string_equal(set.msgs[0].rcpts[2].reply, "");
	assert_int_equal(set.nevents, 1);
	assert_string_equal(set.events[0].kind, "accepted");
	assert_string_equal(set.events[0].text, "3 recipients, 22 bytes");
	queue_set_free(&set);

	assert_int_equal(queue_body_get(f->q, id, &got, &len, &e), 0);
	assert_int_equal(len, strlen(body));
	assert_memory_equal(got, body, len);
	free(got);

	/* data_dir 0700, database 0600 */
	snprintf(dir, sizeof(dir), "%s/data", f->dir);
	if (pg_base == NULL) {
		assert_int_equal(stat(dir, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0700);
		assert_int_equal(stat(f->db, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
	}

	/* an unknown or malformed id */
	assert_int_equal(queue_get(f->q, "0000000000000000", &set, &e), -1);
	assert_int_equal(e.kind, ERR_NOINPUT);
	assert_int_equal(queue_get(f->q, "../../etc/passwd", &set, &e), -1);
	assert_int_equal(e.kind, ERR_NOINPUT);
	assert_non_null(strstr(e.msg, "no message with id"));
}

static void
test_large_body_streamed(void **state)
{
	struct fixture *f = *state;
	size_t n = (1u << 20) + 123, i, off = 0, got;
	char *body = malloc(n), chunk[65536], id[QUEUE_ID_SIZE];
	struct queue_new m = {
		.sender = "", .rcpts = three, .nrcpts = 1, .body = body, .len = n,
		.state = QUEUE_MSG_QUEUED, .profile = "backup",
	};
	struct queue_set set;
	struct op_err e;

	for (i = 0; i < n; i++)
		body[i] = (char)(i * 7 + i / 251);
	assert_int_equal(queue_submit(f->q, &m, id, &e), 0);
	for (;;) {
		assert_int_equal(queue_body_read(f->q, id, off, chunk, sizeof(chunk),
		    &got, &e), 0);
		if (got == 0)
			break;
		assert_memory_equal(chunk, body + off, got);
		off += got;
	}
	assert_int_equal(off, n);
	assert_int_equal(queue_get(f->q, id, &set, &e), 0);
	assert_string_equal(set.msgs[0].sender, "");
	assert_string_equal(set.msgs[0].profile, "backup");
	assert_int_equal(set.msgs[0].size, n);
	queue_set_free(&set);
	free(body);
}

static void
test_bad_submissions(void **state)
{
	struct fixture *f = *state;
	char longaddr[QUEUE_ADDR_MAX + 10], id[QUEUE_ID_SIZE];
	const char *bad[1] = { longaddr };
	const char *ctl[1] = { "a@b\r\nRCPT TO:<x@y>" };
	struct queue_new m = {
		.sender = "s@example.com", .rcpts = three, .nrcpts = 0,
		.body = "x", .len = 1, .state = QUEUE_MSG_QUEUED,
	};
	struct op_err e;

	assert_int_equal(queue_submit(f->q, &m, id, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	m.nrcpts = QUEUE_RCPTS_MAX + 1;
	assert_int_equal(queue_submit(f->q, &m, id, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	memset(longaddr, 'a', sizeof(longaddr) - 1);
	longaddr[sizeof(longaddr) - 1] = '\0';
	m.rcpts = bad;
	m.nrcpts = 1;
	assert_int_equal(queue_submit(f->q, &m, id, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	m.rcpts = ctl;
	assert_int_equal(queue_submit(f->q, &m, id, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	m.rcpts = three;
	m.state = QUEUE_MSG_SENT;
	assert_int_equal(queue_submit(f->q, &m, id, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_int_equal(count_of(f->q, QUEUE_MSG_QUEUED), 0);
}

/* ---- Asynchronous submissions, ids ---- */

struct async_ctx {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t done, failed;
	char (*ids)[QUEUE_ID_SIZE];
	struct queue *other;       /* a second handle: proves the commit */
	struct queue *self;
	int visible;
	int misuse_refused;
};

static void
async_cb(void *arg, int rc, const char *id, const struct op_err *e)
{
	struct async_ctx *c = arg;
	struct queue_set set;
	struct op_err e2;

	(void)e;
	if (rc == 0 && c->other != NULL && queue_get(c->other, id, &set, &e2) == 0) {
		c->visible++;
		queue_set_free(&set);
	}
	if (rc == 0 && c->self != NULL) {
		char id2[QUEUE_ID_SIZE];
		struct queue_new m = {
			.sender = "", .rcpts = three, .nrcpts = 1, .body = "x",
			.len = 1, .state = QUEUE_MSG_QUEUED,
		};

		if (queue_submit(c->self, &m, id2, &e2) < 0 &&
		    e2.kind == ERR_SOFTWARE)
			c->misuse_refused++;
	}
	pthread_mutex_lock(&c->mu);
	if (rc == 0)
		memcpy(c->ids[c->done - c->failed], id, QUEUE_ID_SIZE);
	else
		c->failed++;
	c->done++;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void
async_wait(struct async_ctx *c, size_t n)
{
	pthread_mutex_lock(&c->mu);
	while (c->done < n)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
}

static int
cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, QUEUE_ID_SIZE);
}

static void
test_async_after_commit(void **state)
{
	struct fixture *f = *state;
	struct async_ctx c = { .mu = PTHREAD_MUTEX_INITIALIZER,
	    .cv = PTHREAD_COND_INITIALIZER };
	struct queue_new m = {
		.sender = "a@example.com", .rcpts = three, .nrcpts = 2,
		.body = "body\r\n", .len = 6, .state = QUEUE_MSG_QUEUED,
	};
	struct op_err e;
	int i;

	c.ids = calloc(8, QUEUE_ID_SIZE);
	assert_int_equal(queue_open(f->db, 0, &c.other, &e), 0);
	c.self = f->q;
	for (i = 0; i < 8; i++)
		assert_int_equal(queue_submit_async(f->q, &m, async_cb, &c, &e), 0);
	async_wait(&c, 8);
	assert_int_equal(c.failed, 0);
	/* each callback saw its message through another connection */
	assert_int_equal(c.visible, 8);
	/* and a blocking call from the callback was refused, not deadlocked */
	assert_int_equal(c.misuse_refused, 8);
	/* bad arguments: refused at once, no callback */
	m.nrcpts = 0;
	assert_int_equal(queue_submit_async(f->q, &m, async_cb, &c, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_int_equal(c.done, 8);
	queue_close(c.other);
	free(c.ids);
}

static void
test_ids_unique(void **state)
{
	struct fixture *f = *state;
	struct async_ctx c = { .mu = PTHREAD_MUTEX_INITIALIZER,
	    .cv = PTHREAD_COND_INITIALIZER };
	struct queue_new m = {
		.sender = "a@example.com", .rcpts = three, .nrcpts = 1,
		.body = "x\r\n", .len = 3, .state = QUEUE_MSG_QUEUED,
	};
	struct queue_stats st;
	struct op_err e;
	size_t i;

	c.ids = calloc(NIDS, QUEUE_ID_SIZE);
	for (i = 0; i < NIDS; i++)
		assert_int_equal(queue_submit_async(f->q, &m, async_cb, &c, &e), 0);
	async_wait(&c, NIDS);
	assert_int_equal(c.failed, 0);
	qsort(c.ids, NIDS, QUEUE_ID_SIZE, cmp_id);
	for (i = 0; i < NIDS; i++) {
		assert_true(queue_id_valid(c.ids[i]));
		if (i > 0)
			assert_true(memcmp(c.ids[i - 1], c.ids[i], QUEUE_ID_SIZE) != 0);
	}
	assert_int_equal(count_of(f->q, QUEUE_MSG_QUEUED), NIDS);
	queue_stats(f->q, &st);
	assert_int_equal(st.submitted, NIDS);
	/* batches of at most 512 */
	assert_true(st.commits >= NIDS / 512);
	assert_true(st.max_batch <= 512);
	free(c.ids);
}

/* ---- Group commit ---- */

struct submitter {
	struct queue *q;
	int ok;
	char ids[PER_THREAD][QUEUE_ID_SIZE];
};

static void *
submit_thread(void *arg)
{
	struct submitter *s = arg;
	char body[512];
	struct queue_new m = {
		.sender = "app@example.com", .rcpts = three, .nrcpts = 2,
		.body = body, .state = QUEUE_MSG_QUEUED,
	};
	struct op_err e;
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		m.len = (size_t)snprintf(body, sizeof(body), "Subject: %p %d\r\n\r\n"
		    "hello\r\n", (void *)s, i);
		if (queue_submit(s->q, &m, s->ids[i], &e) == 0)
			s->ok++;
	}
	return NULL;
}

static void
test_group_commit(void **state)
{
	struct fixture *f = *state;
	struct submitter *subs = calloc(NTHREADS, sizeof(*subs));
	pthread_t th[NTHREADS];
	struct queue_stats st;
	struct queue_set set;
	struct op_err e;
	int i, j, total = 0;

	for (i = 0; i < NTHREADS; i++) {
		subs[i].q = f->q;
		assert_int_equal(pthread_create(&th[i], NULL, submit_thread, &subs[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		total += subs[i].ok;
	}
	assert_int_equal(total, NTHREADS * PER_THREAD);
	assert_int_equal(count_of(f->q, QUEUE_MSG_QUEUED), NTHREADS * PER_THREAD);
	/* every id returned is there */
	for (i = 0; i < NTHREADS; i += 5)
		for (j = 0; j < PER_THREAD; j += 37) {
			assert_int_equal(queue_get(f->q, subs[i].ids[j], &set, &e), 0);
			assert_int_equal(set.msgs[0].nrcpts_total, 2);
			queue_set_free(&set);
		}
	queue_stats(f->q, &st);
	print_message("group commit: %d messages in %llu commits (largest "
	    "batch %llu)\n", total, (unsigned long long)st.commits,
	    (unsigned long long)st.max_batch);
	assert_int_equal(st.submitted, (uint64_t)total);
	/* 16 waiting writers share commits: far fewer fsyncs than messages */
	assert_true(st.commits * 3 < (uint64_t)total);
	assert_true(st.max_batch > 1);
	free(subs);
}

/* ---- Claims ---- */

struct claimer {
	struct queue *q;
	char (*ids)[QUEUE_ID_SIZE];
	size_t n;
	int errors;
};

static void *
claim_thread(void *arg)
{
	struct claimer *c = arg;
	struct queue_set set;
	struct op_err e;
	size_t i;

	for (;;) {
		if (queue_claim(c->q, now() + 10, 37, &set, &e) < 0) {
			c->errors++;
			break;
		}
		if (set.n == 0)
			break;
		for (i = 0; i < set.n; i++) {
			if (set.msgs[i].state != QUEUE_MSG_SENDING ||
			    set.msgs[i].nrcpts != 1)
				c->errors++;
			memcpy(c->ids[c->n++], set.msgs[i].id, QUEUE_ID_SIZE);
		}
		queue_set_free(&set);
		/* "deliver" a little, so the other handle gets the lock */
		usleep(1000);
	}
	return NULL;
}

static void
claim_into(struct claimer *c, size_t max)
{
	struct queue_set set;
	struct op_err e;
	size_t i;

	if (queue_claim(c->q, now() + 10, max, &set, &e) < 0)
		fail_msg("queue_claim: %s", e.msg);
	assert_int_equal(set.n, max);
	for (i = 0; i < set.n; i++)
		memcpy(c->ids[c->n++], set.msgs[i].id, QUEUE_ID_SIZE);
	queue_set_free(&set);
}

static void
test_claim_no_double(void **state)
{
	struct fixture *f = *state;
	struct async_ctx c = { .mu = PTHREAD_MUTEX_INITIALIZER,
	    .cv = PTHREAD_COND_INITIALIZER };
	struct queue_new m = {
		.sender = "a@example.com", .rcpts = three, .nrcpts = 1,
		.body = "x\r\n", .len = 3, .state = QUEUE_MSG_QUEUED,
	};
	enum { N = 1000 };
	struct claimer cl[2];
	pthread_t th[2];
	struct queue *q2;
	char (*all)[QUEUE_ID_SIZE];
	struct op_err e;
	size_t i, n;

	c.ids = calloc(N, QUEUE_ID_SIZE);
	for (i = 0; i < N; i++)
		assert_int_equal(queue_submit_async(f->q, &m, async_cb, &c, &e), 0);
	async_wait(&c, N);
	/* a second handle: its own connections, as another process has */
	assert_int_equal(queue_open(f->db, 0, &q2, &e), 0);
	memset(cl, 0, sizeof(cl));
	cl[0].q = f->q;
	cl[1].q = q2;
	for (i = 0; i < 2; i++)
		cl[i].ids = calloc(N, QUEUE_ID_SIZE);
	/* in turn: each handle sees the other's claims at once */
	for (i = 0; i < 20; i++)
		claim_into(&cl[i % 2], 25);
	/* then at the same time */
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, claim_thread, &cl[i]), 0);
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(cl[0].errors + cl[1].errors, 0);
	print_message("claims: %zu by one handle, %zu by the other\n",
	    cl[0].n, cl[1].n);
	assert_int_equal(cl[0].n + cl[1].n, N);
	all = calloc(N, QUEUE_ID_SIZE);
	n = 0;
	for (i = 0; i < cl[0].n; i++)
		memcpy(all[n++], cl[0].ids[i], QUEUE_ID_SIZE);
	for (i = 0; i < cl[1].n; i++)
		memcpy(all[n++], cl[1].ids[i], QUEUE_ID_SIZE);
	qsort(all, N, QUEUE_ID_SIZE, cmp_id);
	qsort(c.ids, N, QUEUE_ID_SIZE, cmp_id);
	/* exactly the messages submitted, each once */
	assert_memory_equal(all, c.ids, (size_t)N * QUEUE_ID_SIZE);
	assert_int_equal(count_of(f->q, QUEUE_MSG_SENDING), N);
	assert_int_equal(count_of(q2, QUEUE_MSG_QUEUED), 0);
	queue_close(q2);
	free(all);
	free(cl[0].ids);
	free(cl[1].ids);
	free(c.ids);
}

/* Processes, not threads: two children submit while the parent claims. */
static int
submit_child(const char *db, int n)
{
	const char *rcpt[1] = { "a@example.org" };
	struct queue_new m = {
		.sender = "cli@example.com", .rcpts = rcpt, .nrcpts = 1,
		.body = "from a child\r\n", .len = 14, .state = QUEUE_MSG_QUEUED,
	};
	char id[QUEUE_ID_SIZE];
	struct queue *q;
	struct op_err e;
	int i;

	if (queue_open(db, 0, &q, &e) < 0) {
		fprintf(stderr, "child open: %s\n", e.msg);
		return 1;
	}
	for (i = 0; i < n; i++)
		if (queue_submit(q, &m, id, &e) < 0) {
			fprintf(stderr, "child submit: %s\n", e.msg);
			queue_close(q);
			return 2;
		}
	queue_close(q);
	return 0;
}

static void
test_processes(void **state)
{
	struct fixture *f = *state;
	enum { PER_CHILD = 300 };
	char (*ids)[QUEUE_ID_SIZE] = calloc(2 * PER_CHILD, QUEUE_ID_SIZE);
	struct queue_set set;
	struct op_err e;
	pid_t pid[2];
	int i, status, running = 2;
	size_t n = 0, k;

	/* fork from a single-threaded process */
	queue_close(f->q);
	f->q = NULL;
	for (i = 0; i < 2; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0)
			_exit(submit_child(f->db, PER_CHILD));
	}
	reopen(f);
	for (;;) {
		assert_int_equal(queue_claim(f->q, now() + 10, 50, &set, &e), 0);
		for (k = 0; k < set.n && n < 2 * PER_CHILD; k++)
			memcpy(ids[n++], set.msgs[k].id, QUEUE_ID_SIZE);
		assert_int_equal(k, set.n);
		queue_set_free(&set);
		if (running == 0 && k == 0)
			break;
		for (i = 0; i < 2; i++)
			if (pid[i] > 0 && waitpid(pid[i], &status, WNOHANG) == pid[i]) {
				assert_true(WIFEXITED(status));
				assert_int_equal(WEXITSTATUS(status), 0);
				pid[i] = 0;
				running--;
			}
		if (k == 0 && running > 0)
			usleep(2000);
	}
	assert_int_equal(n, 2 * PER_CHILD);
	qsort(ids, n, QUEUE_ID_SIZE, cmp_id);
	for (k = 1; k < n; k++)
		assert_true(memcmp(ids[k - 1], ids[k], QUEUE_ID_SIZE) != 0);
	assert_int_equal(count_of(f->q, QUEUE_MSG_SENDING), 2 * PER_CHILD);
	free(ids);
}

static struct queue_msg *
claim_one(struct queue *q, int64_t at, struct queue_set *set, const char *id)
{
	struct op_err e;

	/* a message submitted after the test took its `at` may be stamped a
	 * second later (the clock passed a second boundary in between) */
	if (at < now())
		at = now();
	if (queue_claim(q, at, 10, set, &e) < 0)
		fail_msg("queue_claim: %s", e.msg);
	assert_int_equal(set->n, 1);
	assert_string_equal(set->msgs[0].id, id);
	return &set->msgs[0];
}

/* The outcome of one asynchronous record. */
#define REC_N 8                 /* records in test_bad_record_fails_alone */

struct rec_done {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int n, rc[REC_N], state[REC_N], kind[REC_N];
};

static struct rec_done *rec_ctx;

static void
rec_cb(void *arg, int rc, int st, const struct op_err *e)
{
	struct rec_done *d = rec_ctx;
	int i = (int)(intptr_t)arg;

	pthread_mutex_lock(&d->mu);
	d->rc[i] = rc;
	d->state[i] = st;
	d->kind[i] = e != NULL ? e->kind : 0;
	d->n++;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

/*
 * Records sent back to back share a batch: one that names a recipient the
 * message lacks fails alone (ERR_DATA), whether the recipient was
 * delivered or not, one whose message is gone fails alone (ERR_NOINPUT),
 * the others stand.  On PostgreSQL the results of delivered recipients
 * are read with a later round trip (the pipeline), and a result has no
 * savepoint: the transaction such a check fails is tried again without
 * the jobs it blames.  Five bad records among eight are more than one
 * try per bad job allows (QUEUE_BATCH_TRIES): the jobs whose rows are
 * gone must leave together.
 */
static void
test_bad_record_fails_alone(void **state)
{
	struct fixture *f = *state;
	/* what each record is: a good one, a recipient the message lacks
	 * (delivered, then failed), a message that is gone */
	enum { GOOD, NO_RCPT_SENT, NO_RCPT_FAILED, NO_MSG };
	static const int what[REC_N] = { GOOD, NO_RCPT_SENT, NO_MSG, GOOD,
	    NO_MSG, NO_RCPT_FAILED, NO_MSG, GOOD };
	char ids[REC_N][QUEUE_ID_SIZE];
	struct queue_rcpt_result ok = { .idx = 0, .state = QUEUE_RCPT_SENT,
	    .code = 250, .enhanced = "2.0.0", .reply = "ok" };
	struct queue_rcpt_result no_sent = { .idx = 7, .state = QUEUE_RCPT_SENT,
	    .code = 250, .enhanced = "2.0.0", .reply = "ok" };
	struct queue_rcpt_result no_failed = { .idx = 7,
	    .state = QUEUE_RCPT_FAILED, .code = 550, .enhanced = "5.1.1",
	    .reply = "no such user" };
	struct queue_outcome o[REC_N];
	struct rec_done d = { .mu = PTHREAD_MUTEX_INITIALIZER,
	    .cv = PTHREAD_COND_INITIALIZER };
	struct queue_set set;
	struct op_err e;
	int64_t t = now();
	int i, nmsg = 0, gone = 0;

	for (i = 0; i < REC_N; i++) {
		if (what[i] != NO_MSG) {
			submit(f->q, "m\r\n", 1, QUEUE_MSG_QUEUED, ids[i]);
			nmsg++;
		}
	}
	assert_int_equal(queue_claim(f->q, t, 10, &set, &e), 0);
	assert_int_equal((int)set.n, nmsg);
	queue_set_free(&set);
	/* ids no message has: messages deleted meanwhile */
	for (i = 0; i < REC_N; i++) {
		if (what[i] != NO_MSG)
			continue;
		memcpy(ids[i], ids[0], sizeof(ids[i]));
		ids[i][QUEUE_ID_LEN - 1] = ids[0][QUEUE_ID_LEN - 1] == 'a' + gone ?
		    'x' : (char)('a' + gone);
		gone++;
	}
	rec_ctx = &d;
	for (i = 0; i < REC_N; i++) {
		memset(&o[i], 0, sizeof(o[i]));
		o[i].id = ids[i];
		o[i].now = t;
		o[i].profile_used = "p";
		o[i].results = what[i] == NO_RCPT_SENT ? &no_sent :
		    what[i] == NO_RCPT_FAILED ? &no_failed : &ok;
		o[i].nresults = 1;
		assert_int_equal(queue_record_async(f->q, &o[i], rec_cb,
		    (void *)(intptr_t)i, &e), 0);
	}
	pthread_mutex_lock(&d.mu);
	while (d.n < REC_N)
		pthread_cond_wait(&d.cv, &d.mu);
	pthread_mutex_unlock(&d.mu);
	for (i = 0; i < REC_N; i++) {
		if (what[i] == GOOD) {
			assert_int_equal(d.rc[i], 0);
			assert_int_equal(d.state[i], QUEUE_MSG_SENT);
			continue;
		}
		assert_int_equal(d.rc[i], -1);
		assert_int_equal(d.kind[i], what[i] == NO_MSG ? ERR_NOINPUT :
		    ERR_DATA);
		if (what[i] == NO_MSG)
			continue;
		/* the failed one is untouched: still claimed, no attempt */
		assert_int_equal(queue_get(f->q, ids[i], &set, &e), 0);
		assert_int_equal(set.msgs[0].state, QUEUE_MSG_SENDING);
		assert_int_equal(set.msgs[0].attempts, 0);
		assert_int_equal(set.msgs[0].rcpts[0].state, QUEUE_RCPT_PENDING);
		queue_set_free(&set);
	}
	assert_int_equal(count_of(f->q, QUEUE_MSG_SENT), 3);
}

static void
test_results_and_states(void **state)
{
	struct fixture *f = *state;
	char id[QUEUE_ID_SIZE];
	struct queue_set set;
	struct queue_msg *m;
	struct op_err e;
	int64_t t = now(), due;
	int st;
	size_t i;
	struct queue_rcpt_result r1[3] = {
		{ 0, QUEUE_RCPT_SENT, 250, "2.0.0", "Ok: queued as 4AbC", 0, 0 },
		{ 1, QUEUE_RCPT_FAILED, 550, "5.1.1", "<b@example.org>: user unknown", 0, 0 },
		{ 2, QUEUE_RCPT_DEFERRED, 451, "4.7.1", "try again later", 0, 0 },
	};
	struct queue_event_new ev = { "connect", "smtp.example.com:587 TLSv1.3" };
	struct queue_outcome o = {
		.now = t, .profile_used = "primary", .results = r1, .nresults = 3,
		.next_attempt = t + 300, .sends = 1, .events = &ev, .nevents = 1,
	};
	struct queue_rcpt_result r2 = { 2, QUEUE_RCPT_SENT, 250, NULL, "ok", 0, 0 };
	struct queue_rate_bucket *b;
	size_t nb;

	submit(f->q, "m\r\n", 3, QUEUE_MSG_QUEUED, id);
	m = claim_one(f->q, t, &set, id);
	assert_int_equal(m->state, QUEUE_MSG_SENDING);
	assert_int_equal(m->nrcpts, 3);
	assert_int_equal(m->nrcpts_total, 3);
	assert_string_equal(m->rcpts[1].address, "b@example.org");
	queue_set_free(&set);
	/* claimed: nobody else gets it */
	assert_int_equal(queue_claim(f->q, t + 1000, 10, &set, &e), 0);
	assert_int_equal(set.n, 0);
	queue_set_free(&set);

	o.id = id;
	assert_int_equal(queue_record(f->q, &o, &st, &e), 0);
	assert_int_equal(st, QUEUE_MSG_DEFERRED);
	assert_int_equal(queue_get(f->q, id, &set, &e), 0);
	m = &set.msgs[0];
	assert_int_equal(m->state, QUEUE_MSG_DEFERRED);
	assert_int_equal(m->attempts, 1);
	assert_int_equal(m->next_attempt, t + 300);
	assert_string_equal(m->profile_used, "primary");
	assert_string_equal(m->last_error, "550 5.1.1 <b@example.org>: user unknown");
	assert_int_equal(m->rcpts[0].state, QUEUE_RCPT_SENT);
	assert_int_equal(m->rcpts[0].code, 250);
	assert_string_equal(m->rcpts[0].enhanced, "2.0.0");
	assert_string_equal(m->rcpts[0].reply, "Ok: queued as 4AbC");
	assert_int_equal(m->rcpts[0].attempts, 1);
	assert_int_equal(m->rcpts[0].updated, t);
	assert_int_equal(m->rcpts[1].state, QUEUE_RCPT_FAILED);
	assert_int_equal(m->rcpts[1].code, 550);
	assert_int_equal(m->rcpts[2].state, QUEUE_RCPT_DEFERRED);
	assert_string_equal(m->rcpts[2].enhanced, "4.7.1");
	/* accepted, one event per result, the caller's event */
	assert_int_equal(set.nevents, 5);
	assert_string_equal(set.events[1].kind, "sent");
	assert_string_equal(set.events[1].text,
	    "<a@example.org> via primary: 250 2.0.0 Ok: queued as 4AbC");
	assert_string_equal(set.events[2].kind, "failed");
	assert_string_equal(set.events[3].kind, "deferred");
	assert_string_equal(set.events[4].kind, "connect");
	assert_string_equal(set.events[4].text, "smtp.example.com:587 TLSv1.3");
	queue_set_free(&set);

	/* not due before next_attempt */
	assert_int_equal(queue_next_due(f->q, &due, &st, &e), 0);
	assert_int_equal(st, 1);
	assert_int_equal(due, t + 300);
	assert_int_equal(queue_claim(f->q, t + 299, 10, &set, &e), 0);
	assert_int_equal(set.n, 0);
	queue_set_free(&set);
	/* then only the deferred recipient is handed out */
	m = claim_one(f->q, t + 300, &set, id);
	assert_int_equal(m->nrcpts, 1);
	assert_int_equal(m->rcpts[0].idx, 2);
	assert_int_equal(m->rcpts[0].state, QUEUE_RCPT_DEFERRED);
	assert_int_equal(m->attempts, 1);
	queue_set_free(&set);

	memset(&o, 0, sizeof(o));
	o.id = id;
	o.now = t + 301;
	o.results = &r2;
	o.nresults = 1;
	assert_int_equal(queue_record(f->q, &o, &st, &e), 0);
	/* two sent, one failed: the message is sent; the 550 stays */
	assert_int_equal(st, QUEUE_MSG_SENT);
	assert_int_equal(queue_get(f->q, id, &set, &e), 0);
	m = &set.msgs[0];
	assert_int_equal(m->state, QUEUE_MSG_SENT);
	assert_int_equal(m->attempts, 2);
	assert_string_equal(m->profile_used, "primary");
	assert_int_equal(m->rcpts[1].state, QUEUE_RCPT_FAILED);
	assert_int_equal(m->rcpts[2].state, QUEUE_RCPT_SENT);
	assert_int_equal(m->rcpts[2].attempts, 2);
	assert_string_equal(m->rcpts[2].enhanced, "");
	assert_string_equal(set.events[set.nevents - 1].text, "<c@example.net>: 250 ok");
	queue_set_free(&set);
	assert_int_equal(queue_next_due(f->q, &due, &st, &e), 0);
	assert_int_equal(st, 0);

	/* the send counted in the same commit */
	assert_int_equal(queue_rate_load(f->q, "primary", t - 60, &b, &nb, &e), 0);
	assert_int_equal(nb, 1);
	assert_int_equal(b[0].count, 1);
	assert_int_equal(b[0].at, t);
	free(b);

	/* every recipient refused: failed */
	submit(f->q, "m2\r\n", 2, QUEUE_MSG_QUEUED, id);
	m = claim_one(f->q, t + 400, &set, id);
	queue_set_free(&set);
	{
		struct queue_rcpt_result rf[2] = {
			{ 0, QUEUE_RCPT_FAILED, 554, "5.7.1", "relay denied", 0, 0 },
			{ 1, QUEUE_RCPT_FAILED, 554, "5.7.1", "relay denied", 0, 0 },
		};

		memset(&o, 0, sizeof(o));
		o.id = id;
		o.results = rf;
		o.nresults = 2;
		o.error = "554 5.7.1 relay denied (both)";
		assert_int_equal(queue_record(f->q, &o, &st, &e), 0);
		assert_int_equal(st, QUEUE_MSG_FAILED);
		assert_int_equal(queue_get(f->q, id, &set, &e), 0);
		assert_string_equal(set.msgs[0].last_error,
		    "554 5.7.1 relay denied (both)");
		assert_null(set.msgs[0].profile_used);
		queue_set_free(&set);
	}

	/* bad results are refused before anything changes */
	{
		struct queue_rcpt_result bad = { 7, QUEUE_RCPT_SENT, 250, NULL, "", 0, 0 };

		submit(f->q, "m3\r\n", 1, QUEUE_MSG_QUEUED, id);
		m = claim_one(f->q, t + 500, &set, id);
		queue_set_free(&set);
		memset(&o, 0, sizeof(o));
		o.id = id;
		o.results = &bad;
		o.nresults = 1;
		assert_int_equal(queue_record(f->q, &o, &st, &e), -1);
		assert_int_equal(e.kind, ERR_DATA);
		bad.idx = 0;
		bad.state = QUEUE_RCPT_PENDING;
		assert_int_equal(queue_record(f->q, &o, &st, &e), -1);
		assert_int_equal(e.kind, ERR_DATA);
		bad.state = QUEUE_RCPT_SENT;
		bad.code = 999;
		assert_int_equal(queue_record(f->q, &o, &st, &e), -1);
		assert_int_equal(e.kind, ERR_DATA);

		/* give it back without an attempt: queued again */
		assert_int_equal(queue_unclaim(f->q, id, t + 900, "quota full", &e), 0);
		assert_int_equal(queue_unclaim(f->q, id, t + 900, NULL, &e), -1);
		assert_int_equal(e.kind, ERR_DATA);
		assert_int_equal(queue_get(f->q, id, &set, &e), 0);
		assert_int_equal(set.msgs[0].state, QUEUE_MSG_QUEUED);
		assert_int_equal(set.msgs[0].attempts, 0);
		assert_int_equal(set.msgs[0].next_attempt, t + 900);
		assert_string_equal(set.events[set.nevents - 1].kind, "unclaimed");
		queue_set_free(&set);

		/* lifetime exceeded: failed for good, with the reason */
		assert_int_equal(queue_fail(f->q, id, t + 1000,
		    "queue lifetime of 5d exceeded", &e), 0);
		assert_int_equal(queue_get(f->q, id, &set, &e), 0);
		assert_int_equal(set.msgs[0].state, QUEUE_MSG_FAILED);
		assert_string_equal(set.msgs[0].last_error,
		    "queue lifetime of 5d exceeded");
		assert_int_equal(set.msgs[0].rcpts[0].state, QUEUE_RCPT_FAILED);
		for (i = 0; i < set.nevents; i++)
			if (strcmp(set.events[i].kind, "failed") == 0)
				break;
		assert_true(i < set.nevents);
		queue_set_free(&set);

		bad.code = 250;
		o.id = "zzzzzzzzzzzzzzzz";
		assert_int_equal(queue_record(f->q, &o, &st, &e), -1);
		assert_int_equal(e.kind, ERR_NOINPUT);
	}
}

/* Issue 10 #4: a message delivered to every recipient after a failed
 * attempt has no last error; the events keep the failure. */
static void
test_ended_well_has_no_last_error(void **state)
{
	struct fixture *f = *state;
	char id[QUEUE_ID_SIZE];
	struct queue_set set;
	struct op_err e;
	int64_t t = now();
	int st;
	size_t i;
	struct queue_rcpt_result bad = { 0, QUEUE_RCPT_DEFERRED, 451, "4.3.0",
	    "try again", 0, 0 };
	struct queue_rcpt_result good = { 0, QUEUE_RCPT_SENT, 250, "2.0.0", "ok", 0, 0 };
	struct queue_outcome o = { .now = t, .profile_used = "p",
	    .results = &bad, .nresults = 1, .next_attempt = t };

	submit(f->q, "w\r\n", 1, QUEUE_MSG_QUEUED, id);
	o.id = id;
	claim_one(f->q, t, &set, id);
	queue_set_free(&set);
	assert_int_equal(queue_record(f->q, &o, &st, &e), 0);
	assert_int_equal(st, QUEUE_MSG_DEFERRED);
	claim_one(f->q, t, &set, id);
	assert_string_equal(set.msgs[0].last_error, "451 4.3.0 try again");
	queue_set_free(&set);
	o.results = &good;
	assert_int_equal(queue_record(f->q, &o, &st, &e), 0);
	assert_int_equal(st, QUEUE_MSG_SENT);
	assert_int_equal(queue_get(f->q, id, &set, &e), 0);
	assert_null(set.msgs[0].last_error);
	for (i = 0; i < set.nevents; i++)
		if (strcmp(set.events[i].kind, "deferred") == 0)
			break;
	assert_true(i < set.nevents);
	queue_set_free(&set);
}

/* Issue 10 #2, #3: a wait gives the message back without an attempt or
 * an event, with the reply as its and its open recipients' last result;
 * queue_advance makes what waits due now. */
static void
test_wait_and_advance(void **state)
{
	struct fixture *f = *state;
	char id[QUEUE_ID_SIZE];
	struct queue_set set;
	struct op_err e;
	int64_t t = now();
	uint64_t n;
	struct queue_wait w = { .now = t, .next_attempt = t + 300,
	    .error = "421 4.3.2 busy", .code = 421, .enhanced = "4.3.2",
	    .reply = "busy" };

	submit(f->q, "w\r\n", 2, QUEUE_MSG_QUEUED, id);
	w.id = id;
	assert_int_equal(queue_wait(f->q, &w, &e), -1);     /* not claimed */
	assert_int_equal(e.kind, ERR_DATA);
	claim_one(f->q, t, &set, id);
	queue_set_free(&set);
	assert_int_equal(queue_wait(f->q, &w, &e), 0);
	assert_int_equal(queue_get(f->q, id, &set, &e), 0);
	assert_int_equal(set.msgs[0].state, QUEUE_MSG_DEFERRED);
	assert_int_equal(set.msgs[0].attempts, 0);
	assert_int_equal(set.msgs[0].next_attempt, t + 300);
	assert_string_equal(set.msgs[0].last_error, "421 4.3.2 busy");
	assert_int_equal(set.msgs[0].rcpts[1].state, QUEUE_RCPT_DEFERRED);
	assert_int_equal(set.msgs[0].rcpts[1].code, 421);
	assert_string_equal(set.msgs[0].rcpts[1].enhanced, "4.3.2");
	assert_string_equal(set.msgs[0].rcpts[1].reply, "busy");
	assert_int_equal(set.msgs[0].rcpts[1].attempts, 0);
	assert_int_equal(set.nevents, 1);                    /* accepted */
	queue_set_free(&set);

	/* a later wait without a reply keeps them */
	assert_int_equal(queue_advance(f->q, t, t + 299, &n, &e), 0);
	assert_int_equal(n, 0);
	assert_int_equal(queue_advance(f->q, t, t + 600, &n, &e), 0);
	assert_int_equal(n, 1);
	claim_one(f->q, t, &set, id);
	queue_set_free(&set);
	memset(&w, 0, sizeof(w));
	w.id = id;
	w.now = t;
	w.next_attempt = t + 5;
	assert_int_equal(queue_wait(f->q, &w, &e), 0);
	assert_int_equal(queue_get(f->q, id, &set, &e), 0);
	assert_int_equal(set.msgs[0].state, QUEUE_MSG_DEFERRED);
	assert_string_equal(set.msgs[0].last_error, "421 4.3.2 busy");
	assert_int_equal(set.msgs[0].rcpts[0].code, 421);
	assert_int_equal(set.nevents, 1);
	queue_set_free(&set);

	/* a wait without a reply (a full quota) keeps a new message queued,
	 * with the reason */
	submit(f->q, "q\r\n", 1, QUEUE_MSG_QUEUED, id);
	claim_one(f->q, t, &set, id);
	queue_set_free(&set);
	w.id = id;
	w.error = "quota full";
	assert_int_equal(queue_wait(f->q, &w, &e), 0);
	assert_int_equal(queue_get(f->q, id, &set, &e), 0);
	assert_int_equal(set.msgs[0].state, QUEUE_MSG_QUEUED);
	assert_string_equal(set.msgs[0].last_error, "quota full");
	assert_int_equal(set.msgs[0].rcpts[0].state, QUEUE_RCPT_PENDING);
	queue_set_free(&set);
}

static void
test_retry_all(void **state)
{
	struct fixture *f = *state;
	char a[QUEUE_ID_SIZE], b[QUEUE_ID_SIZE], c[QUEUE_ID_SIZE];
	struct queue_rcpt_result r = { 0, QUEUE_RCPT_DEFERRED, 451, NULL, "later", 0, 0 };
	struct queue_outcome o = { .results = &r, .nresults = 1 };
	struct queue_set set;
	struct op_err e;
	int64_t t = now();
	uint64_t n;
	int st;

	submit(f->q, "a\r\n", 1, QUEUE_MSG_QUEUED, a);
	claim_one(f->q, t, &set, a);
	queue_set_free(&set);
	o.id = a;
	o.now = t;
	o.next_attempt = t + 3600;
	assert_int_equal(queue_record(f->q, &o, &st, &e), 0);
	assert_int_equal(st, QUEUE_MSG_DEFERRED);
	submit(f->q, "b\r\n", 1, QUEUE_MSG_HELD, b);
	submit(f->q, "c\r\n", 1, QUEUE_MSG_QUEUED, c);
	assert_int_equal(queue_retry_all(f->q, QUEUE_MSG_SENT, t, &n, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_int_equal(queue_retry_all(f->q, QUEUE_MSG_DEFERRED, t + 1, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(queue_get(f->q, a, &set, &e), 0);
	assert_int_equal(set.msgs[0].state, QUEUE_MSG_QUEUED);
	assert_int_equal(set.msgs[0].next_attempt, t + 1);
	assert_int_equal(set.msgs[0].rcpts[0].state, QUEUE_RCPT_PENDING);
	assert_string_equal(set.events[set.nevents - 1].kind, "retry");
	queue_set_free(&set);
	assert_int_equal(queue_retry_all(f->q, -1, t + 2, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_int_equal(count_of(f->q, QUEUE_MSG_QUEUED), 3);
	(void)c;
}

static void
test_claim_id(void **state)
{
	struct fixture *f = *state;
	char a[QUEUE_ID_SIZE], b[QUEUE_ID_SIZE], h[QUEUE_ID_SIZE];
	struct queue_set set;
	struct op_err e;

	submit(f->q, "a\r\n", 3, QUEUE_MSG_QUEUED, a);
	submit(f->q, "b\r\n", 1, QUEUE_MSG_QUEUED, b);
	submit(f->q, "h\r\n", 1, QUEUE_MSG_HELD, h);
	/* exactly that message, with its recipients still to deliver */
	assert_int_equal(queue_claim_id(f->q, b, now(), &set, &e), 0);
	assert_int_equal(set.n, 1);
	assert_string_equal(set.msgs[0].id, b);
	assert_int_equal(set.msgs[0].state, QUEUE_MSG_SENDING);
	assert_int_equal(set.msgs[0].nrcpts, 1);
	queue_set_free(&set);
	/* claimed once only; a held one cannot be claimed */
	assert_int_equal(queue_claim_id(f->q, b, now(), &set, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_int_equal(queue_claim_id(f->q, h, now(), &set, &e), -1);
	assert_int_equal(queue_claim_id(f->q, "0000000000000000", now(), &set, &e), -1);
	/* the others are still claimable the ordinary way */
	assert_int_equal(queue_claim(f->q, now() + 1, 10, &set, &e), 0);
	assert_int_equal(set.n, 1);
	assert_string_equal(set.msgs[0].id, a);
	assert_int_equal(set.msgs[0].nrcpts, 3);
	queue_set_free(&set);
}

static void
test_recover_stale_only(void **state)
{
	struct fixture *f = *state;
	char a[QUEUE_ID_SIZE];
	struct queue_set set;
	struct op_err e;
	uint64_t n = 99;

	submit(f->q, "a\r\n", 1, QUEUE_MSG_QUEUED, a);
	assert_int_equal(queue_claim(f->q, now(), 10, &set, &e), 0);
	assert_int_equal(set.n, 1);
	queue_set_free(&set);
	/* a fresh claim is left alone ... */
	assert_int_equal(queue_recover_stale(f->q, now(), 3600, &n, &e), 0);
	assert_int_equal(n, 0);
	assert_int_equal(count_of(f->q, QUEUE_MSG_SENDING), 1);
	/* ... one older than the age limit is given back */
	assert_int_equal(queue_recover_stale(f->q, now() + 7200, 3600, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(count_of(f->q, QUEUE_MSG_SENDING), 0);
	assert_int_equal(count_of(f->q, QUEUE_MSG_QUEUED), 1);
}

static void
test_background_checkpoints(void **state)
{
	struct fixture *f = *state;
	struct queue *q;
	struct queue_stats st;
	struct op_err e;
	char id[QUEUE_ID_SIZE], body[3000];
	int i;

	SQLITE_ONLY();
	queue_close(f->q);
	f->q = NULL;
	assert_int_equal(queue_open(f->dir, QUEUE_OPEN_DAEMON, &q, &e), 0);
	memset(body, 'x', sizeof(body));
	memcpy(body + sizeof(body) - 2, "\r\n", 2);
	/* about 1500 WAL pages: past the checkpoint threshold */
	for (i = 0; i < 1500; i++) {
		const char *r[] = { "a@example.org" };
		struct queue_new m = { "s@example.org", r, 1, body, sizeof(body),
		    QUEUE_MSG_QUEUED, NULL, NULL, NULL, NULL };

		assert_int_equal(queue_submit(q, &m, id, &e), 0);
	}
	for (i = 0; i < 200; i++) {
		queue_stats(q, &st);
		if (st.checkpoints > 0)
			break;
		usleep(10000);
	}
	assert_true(st.checkpoints > 0);
	queue_close(q);
	/* everything is there after the background checkpoints */
	assert_int_equal(queue_open(f->dir, 0, &f->q, &e), 0);
	assert_int_equal(count_of(f->q, QUEUE_MSG_QUEUED), 1500);
}

static void
test_recover_sending(void **state)
{
	struct fixture *f = *state;
	char a[QUEUE_ID_SIZE], b[QUEUE_ID_SIZE], c[QUEUE_ID_SIZE];
	struct queue_set set;
	struct op_err e;
	uint64_t n;

	submit(f->q, "a\r\n", 1, QUEUE_MSG_QUEUED, a);
	submit(f->q, "b\r\n", 1, QUEUE_MSG_QUEUED, b);
	submit(f->q, "c\r\n", 1, QUEUE_MSG_HELD, c);
	assert_int_equal(queue_claim(f->q, now() + 1, 10, &set, &e), 0);
	assert_int_equal(set.n, 2);
	queue_set_free(&set);
	/* "crash": the claims stay in the file */
	reopen(f);
	assert_int_equal(count_of(f->q, QUEUE_MSG_SENDING), 2);
	assert_int_equal(queue_recover(f->q, now(), &n, &e), 0);
	assert_int_equal(n, 2);
	assert_int_equal(count_of(f->q, QUEUE_MSG_SENDING), 0);
	assert_int_equal(count_of(f->q, QUEUE_MSG_QUEUED), 2);
	assert_int_equal(count_of(f->q, QUEUE_MSG_HELD), 1);
	assert_int_equal(queue_get(f->q, a, &set, &e), 0);
	assert_string_equal(set.events[set.nevents - 1].kind, "recovered");
	queue_set_free(&set);
	assert_int_equal(queue_claim(f->q, now() + 1, 10, &set, &e), 0);
	assert_int_equal(set.n, 2);
	queue_set_free(&set);
}

static void
test_hold_and_release(void **state)
{
	struct fixture *f = *state;
	char q1[QUEUE_ID_SIZE], h1[QUEUE_ID_SIZE], q2[QUEUE_ID_SIZE];
	struct queue_set set;
	struct op_err e;
	uint64_t n;

	submit(f->q, "q1\r\n", 1, QUEUE_MSG_QUEUED, q1);
	submit(f->q, "h1\r\n", 2, QUEUE_MSG_HELD, h1);
	submit(f->q, "q2\r\n", 1, QUEUE_MSG_QUEUED, q2);
	assert_int_equal(count_of(f->q, QUEUE_MSG_HELD), 1);
	assert_int_equal(queue_get(f->q, h1, &set, &e), 0);
	assert_string_equal(set.events[0].text,
	    "2 recipients, 4 bytes; held until a profile is enabled");
	queue_set_free(&set);

	/* no profile enabled any more */
	assert_int_equal(queue_hold_all(f->q, now(), "no profile is enabled", &n,
	    &e), 0);
	assert_int_equal(n, 2);
	assert_int_equal(count_of(f->q, QUEUE_MSG_HELD), 3);
	assert_int_equal(queue_claim(f->q, now() + 100, 10, &set, &e), 0);
	assert_int_equal(set.n, 0);
	queue_set_free(&set);

	/* a profile is enabled again */
	assert_int_equal(queue_release_held(f->q, now(), &n, &e), 0);
	assert_int_equal(n, 3);
	assert_int_equal(count_of(f->q, QUEUE_MSG_QUEUED), 3);
	assert_int_equal(queue_claim(f->q, now() + 1, 10, &set, &e), 0);
	assert_int_equal(set.n, 3);
	queue_set_free(&set);
	assert_int_equal(queue_get(f->q, q1, &set, &e), 0);
	assert_string_equal(set.events[1].kind, "held");
	assert_string_equal(set.events[1].text, "no profile is enabled");
	assert_string_equal(set.events[2].kind, "released");
	queue_set_free(&set);
}

static void
test_retry_and_delete(void **state)
{
	struct fixture *f = *state;
	char id[QUEUE_ID_SIZE], ok[QUEUE_ID_SIZE];
	struct queue_rcpt_result r[2] = {
		{ 0, QUEUE_RCPT_SENT, 250, "2.0.0", "ok", 0, 0 },
		{ 1, QUEUE_RCPT_FAILED, 550, "5.1.1", "no such user", 0, 0 },
	};
	struct queue_outcome o = { .results = r, .nresults = 2 };
	struct queue_set set;
	struct op_err e;
	int64_t t = now();
	int st;
	char *body;
	size_t len;

	submit(f->q, "r\r\n", 2, QUEUE_MSG_QUEUED, id);
	/* being sent: not now */
	claim_one(f->q, t + 1, &set, id);
	queue_set_free(&set);
	assert_int_equal(queue_retry(f->q, id, t, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_non_null(strstr(e.msg, "being delivered"));
	o.id = id;
	o.now = t;
	assert_int_equal(queue_record(f->q, &o, &st, &e), 0);
	assert_int_equal(st, QUEUE_MSG_SENT);

	/* sent, but one recipient failed: retry that one */
	assert_int_equal(queue_retry(f->q, id, t + 50, &e), 0);
	assert_int_equal(queue_get(f->q, id, &set, &e), 0);
	assert_int_equal(set.msgs[0].state, QUEUE_MSG_QUEUED);
	assert_int_equal(set.msgs[0].since, t + 50);
	assert_int_equal(set.msgs[0].next_attempt, t + 50);
	assert_int_equal(set.msgs[0].rcpts[0].state, QUEUE_RCPT_SENT);
	assert_int_equal(set.msgs[0].rcpts[1].state, QUEUE_RCPT_PENDING);
	assert_string_equal(set.events[set.nevents - 1].kind, "retry");
	queue_set_free(&set);
	claim_one(f->q, t + 50, &set, id);
	assert_int_equal(set.msgs[0].nrcpts, 1);
	assert_int_equal(set.msgs[0].rcpts[0].idx, 1);
	queue_set_free(&set);

	/* everything sent: nothing to retry */
	r[1].state = QUEUE_RCPT_SENT;
	r[1].code = 250;
	o.results = &r[1];
	o.nresults = 1;
	assert_int_equal(queue_record(f->q, &o, &st, &e), 0);
	assert_int_equal(st, QUEUE_MSG_SENT);
	assert_int_equal(queue_retry(f->q, id, t, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);

	/* a held message is released by retry */
	submit(f->q, "h\r\n", 1, QUEUE_MSG_HELD, ok);
	assert_int_equal(queue_retry(f->q, ok, t, &e), 0);
	assert_int_equal(count_of(f->q, QUEUE_MSG_QUEUED), 1);

	/* delete: message, recipients, body, events gone */
	assert_int_equal(queue_event_add(f->q, id, t, "note", "operator looked", &e), 0);
	assert_int_equal(queue_delete(f->q, id, &e), 0);
	assert_int_equal(queue_get(f->q, id, &set, &e), -1);
	assert_int_equal(e.kind, ERR_NOINPUT);
	assert_int_equal(queue_body_get(f->q, id, &body, &len, &e), -1);
	assert_int_equal(e.kind, ERR_NOINPUT);
	assert_int_equal(queue_delete(f->q, id, &e), -1);
	assert_int_equal(e.kind, ERR_NOINPUT);
	assert_int_equal(queue_retry(f->q, id, t, &e), -1);
	assert_int_equal(e.kind, ERR_NOINPUT);
	/* only the other message's rows are left: 1 recipient + 1 event
	 * ("accepted" is not stored) + 1 body */
	assert_int_equal(sql_int(f->db, "SELECT (SELECT count(*) FROM recipients)"
	    " + (SELECT count(*) FROM events) + (SELECT count(*) FROM bodies)"),
	    3);
}

/* The daemon writes its -wal file out to 64 MiB at start; SQLite reads
 * the zeros past the frames as no frames, also after a crash (the files
 * copied while the handle is open). */
static void
test_wal_preallocated(void **state)
{
	struct fixture *f = *state;
	char id[3][QUEUE_ID_SIZE], wal[320], copy[320], cmd[2048];
	struct queue *q2;
	struct queue_set set;
	struct stat st;
	struct op_err e;
	size_t i;

	SQLITE_ONLY();
	snprintf(wal, sizeof(wal), "%s-wal", f->db);
	assert_int_equal(stat(wal, &st), 0);
	assert_int_equal(st.st_size, 64 << 20);
	for (i = 0; i < 3; i++)
		submit(f->q, "w\r\n", 1, QUEUE_MSG_QUEUED, id[i]);
	assert_int_equal(stat(wal, &st), 0);
	assert_int_equal(st.st_size, 64 << 20);   /* written within it */
	/* a crash now: the database and its log as they are on disk */
	snprintf(copy, sizeof(copy), "%s/crash", f->dir);
	snprintf(cmd, sizeof(cmd), "mkdir %s && cp %s %s-wal %s/", copy, f->db,
	    f->db, copy);
	assert_int_equal(system(cmd), 0);
	strncat(copy, "/queue.db", sizeof(copy) - strlen(copy) - 1);
	assert_int_equal(queue_open(copy, QUEUE_OPEN_CHECK, &q2, &e), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(queue_get(q2, id[i], &set, &e), 0);
		assert_int_equal(set.msgs[0].state, QUEUE_MSG_QUEUED);
		queue_set_free(&set);
	}
	assert_int_equal(count_of(q2, QUEUE_MSG_QUEUED), 3);
	queue_close(q2);
	assert_int_equal(sql_int(copy, "SELECT count(*) FROM messages"), 3);
	assert_int_equal(sql_int(copy, "SELECT count(*) FROM pragma_integrity_check"
	    " WHERE integrity_check = 'ok'"), 1);
}

/* Retention: only messages that ended (sent, failed) before the cut are
 * removed, at most max per call, with all their rows. */
static void
test_purge(void **state)
{
	struct fixture *f = *state;
	static const char *const states[] = {
		"sent", "failed", "deferred", "sent", "held", "queued", "sending",
	};
	char id[7][QUEUE_ID_SIZE], sql[256];
	struct queue_set set;
	struct op_err e;
	int64_t t = now();
	uint64_t n = 99;
	size_t i;

	for (i = 0; i < 7; i++) {
		submit(f->q, "p\r\n", 2, QUEUE_MSG_QUEUED, id[i]);
		assert_int_equal(queue_event_add(f->q, id[i], t, "note", "x", &e), 0);
		/* stored 41 days ago, ended 40 days ago, except the fourth
		 * (it ended a minute ago) */
		snprintf(sql, sizeof(sql), "UPDATE messages SET state = '%s',"
		    " created = %lld, updated = %lld WHERE id = '%s'", states[i],
		    (long long)(t - 41 * 86400),
		    (long long)(i == 3 ? t - 60 : t - 40 * 86400), id[i]);
		sql_on(f->db, sql);
	}
	assert_int_equal(queue_purge(f->q, t - 30 * 86400, 1, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM messages"), 6);
	assert_int_equal(queue_purge(f->q, t - 30 * 86400, 500, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(queue_purge(f->q, t - 30 * 86400, 500, &n, &e), 0);
	assert_int_equal(n, 0);
	/* left: deferred, the recent sent one, held, queued, sending; each
	 * with its 2 recipients, body and event */
	for (i = 0; i < 2; i++) {
		assert_int_equal(queue_get(f->q, id[i], &set, &e), -1);
		assert_int_equal(e.kind, ERR_NOINPUT);
	}
	for (i = 2; i < 7; i++) {
		assert_int_equal(queue_get(f->q, id[i], &set, &e), 0);
		queue_set_free(&set);
	}
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM messages"), 5);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM recipients"), 10);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM bodies"), 5);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM events"), 5);
	/* a later cut takes the recent one too */
	assert_int_equal(queue_purge(f->q, t + 1, 500, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(queue_get(f->q, id[3], &set, &e), -1);
}

/* "accepted" is made when read; a file written when it was stored keeps
 * its row, which is not repeated. */
static void
test_accepted_not_repeated(void **state)
{
	struct fixture *f = *state;
	char id[QUEUE_ID_SIZE];
	struct queue_set set;
	struct op_err e;
	char sql[256];

	submit(f->q, "x\r\n", 1, QUEUE_MSG_QUEUED, id);
	snprintf(sql, sizeof(sql), "INSERT INTO events (mid, at, kind, text)"
	    " SELECT mid, created, 'accepted', 'stored row' FROM messages"
	    " WHERE id = '%s'", id);
	sql_on(f->db, sql);
	assert_int_equal(queue_get(f->q, id, &set, &e), 0);
	assert_int_equal(set.nevents, 1);
	assert_string_equal(set.events[0].kind, "accepted");
	assert_string_equal(set.events[0].text, "stored row");
	queue_set_free(&set);
}

static void
test_list_and_counts(void **state)
{
	struct fixture *f = *state;
	char ids[7][QUEUE_ID_SIZE];
	struct queue_list_opts o = { .state = -1 };
	struct queue_set set;
	struct op_err e;
	uint64_t c[QUEUE_MSG_NSTATES];
	int i;

	for (i = 0; i < 7; i++)
		submit(f->q, "l\r\n", (size_t)(i % 3) + 1,
		    i < 5 ? QUEUE_MSG_QUEUED : QUEUE_MSG_HELD, ids[i]);
	assert_int_equal(queue_list(f->q, &o, &set, &e), 0);
	assert_int_equal(set.n, 7);
	for (i = 0; i < 7; i++) {
		/* newest first */
		assert_string_equal(set.msgs[i].id, ids[6 - i]);
		assert_int_equal(set.msgs[i].nrcpts_total, (size_t)((6 - i) % 3) + 1);
		assert_null(set.msgs[i].rcpts);
		assert_int_equal(set.msgs[i].size, 3);
	}
	queue_set_free(&set);

	o.state = QUEUE_MSG_HELD;
	assert_int_equal(queue_list(f->q, &o, &set, &e), 0);
	assert_int_equal(set.n, 2);
	assert_string_equal(set.msgs[0].id, ids[6]);
	assert_string_equal(set.msgs[1].id, ids[5]);
	queue_set_free(&set);

	/* paging */
	o.state = -1;
	o.limit = 3;
	assert_int_equal(queue_list(f->q, &o, &set, &e), 0);
	assert_int_equal(set.n, 3);
	assert_string_equal(set.msgs[2].id, ids[4]);
	queue_set_free(&set);
	o.before = ids[4];
	assert_int_equal(queue_list(f->q, &o, &set, &e), 0);
	assert_int_equal(set.n, 3);
	assert_string_equal(set.msgs[0].id, ids[3]);
	assert_string_equal(set.msgs[2].id, ids[1]);
	queue_set_free(&set);
	o.state = 42;
	assert_int_equal(queue_list(f->q, &o, &set, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);

	assert_int_equal(queue_counts(f->q, c, &e), 0);
	assert_int_equal(c[QUEUE_MSG_QUEUED], 5);
	assert_int_equal(c[QUEUE_MSG_HELD], 2);
	assert_int_equal(c[QUEUE_MSG_SENT] + c[QUEUE_MSG_FAILED] +
	    c[QUEUE_MSG_SENDING] + c[QUEUE_MSG_DEFERRED], 0);

	assert_string_equal(queue_msg_state_name(QUEUE_MSG_DEFERRED), "deferred");
	assert_int_equal(queue_msg_state_parse("held"), QUEUE_MSG_HELD);
	assert_int_equal(queue_msg_state_parse("bogus"), -1);
	assert_string_equal(queue_rcpt_state_name(QUEUE_RCPT_PENDING), "pending");
	assert_int_equal(queue_rcpt_state_parse("failed"), QUEUE_RCPT_FAILED);
	assert_null(queue_msg_state_name(QUEUE_MSG_NSTATES));
}

static void
test_events(void **state)
{
	struct fixture *f = *state;
	char id[QUEUE_ID_SIZE];
	struct queue_set set;
	struct op_err e;

	submit(f->q, "e\r\n", 1, QUEUE_MSG_QUEUED, id);
	assert_int_equal(queue_event_add(f->q, id, 1000, "failover",
	    "primary unreachable, trying backup", &e), 0);
	assert_int_equal(queue_event_add(f->q, id, 1001, "note", NULL, &e), 0);
	assert_int_equal(queue_event_add(f->q, id, 1002, "", "x", &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_int_equal(queue_get(f->q, id, &set, &e), 0);
	assert_int_equal(set.nevents, 3);
	assert_string_equal(set.events[1].kind, "failover");
	assert_string_equal(set.events[1].text, "primary unreachable, trying backup");
	assert_int_equal(set.events[1].at, 1000);
	assert_string_equal(set.events[2].kind, "note");
	assert_string_equal(set.events[2].text, "");
	queue_set_free(&set);
}

static void
test_rate_buckets(void **state)
{
	struct fixture *f = *state;
	struct queue_rate_bucket *b;
	struct op_err e;
	int64_t t = 1800000000;   /* a minute boundary: 30000000 * 60 */
	size_t n;

	/* three days ago (pruned later), then two minutes of sends */
	assert_int_equal(queue_rate_add(f->q, "primary", t - 3 * 86400, 5, &e), 0);
	assert_int_equal(queue_rate_add(f->q, "primary", t + 10, 2, &e), 0);
	assert_int_equal(queue_rate_add(f->q, "primary", t + 50, 3, &e), 0);
	assert_int_equal(queue_rate_add(f->q, "primary", t + 70, 4, &e), 0);
	assert_int_equal(queue_rate_add(f->q, "backup", t + 70, 9, &e), 0);
	assert_int_equal(queue_rate_add(f->q, "", t, 1, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_int_equal(queue_rate_load(f->q, "primary", 0, &b, &n, &e), 0);
	assert_int_equal(n, 2);
	/* each bucket dated by its latest send */
	assert_int_equal(b[0].count, 5);
	assert_int_equal(b[0].at, t + 50);
	assert_int_equal(b[1].count, 4);
	assert_int_equal(b[1].at, t + 70);
	free(b);
	assert_int_equal(queue_rate_load(f->q, "primary", t + 60, &b, &n, &e), 0);
	assert_int_equal(n, 1);
	free(b);
	assert_int_equal(queue_rate_load(f->q, "nobody", 0, &b, &n, &e), 0);
	assert_int_equal(n, 0);
	free(b);
	/* kept across a restart */
	reopen(f);
	assert_int_equal(queue_rate_load(f->q, "backup", t, &b, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(b[0].count, 9);
	free(b);
}

/* ---- Damaged, foreign and newer files ---- */

static void
write_random(const char *path, off_t off, size_t n)
{
	unsigned char buf[4096];
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	size_t done = 0;

	assert_true(fd >= 0);
	while (done < n) {
		size_t k = n - done < sizeof(buf) ? n - done : sizeof(buf);

		assert_int_equal(rand_bytes(buf, k, NULL), 0);
		assert_int_equal(pwrite(fd, buf, k, off + (off_t)done), (ssize_t)k);
		done += k;
	}
	close(fd);
}

static void
test_random_file_refused(void **state)
{
	struct fixture *f = *state;
	char path[400];
	struct queue *q = NULL;
	struct op_err e;
	struct stat st;

	SQLITE_ONLY();
	snprintf(path, sizeof(path), "%s/garbage.db", f->dir);
	write_random(path, 0, 20000);
	assert_int_equal(queue_open(path, 0, &q, &e), -1);
	assert_null(q);
	assert_true(e.kind == ERR_IO || e.kind == ERR_TEMP);
	print_message("random file: %s\n", e.msg);
	assert_non_null(strstr(e.msg, path));
	assert_non_null(strstr(e.msg, "damaged"));
	assert_non_null(strstr(e.msg, "backup"));
	/* never replaced by an empty queue */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 20000);
}

static void
test_corrupt_middle_refused(void **state)
{
	struct fixture *f = *state;
	char body[3000], id[QUEUE_ID_SIZE];
	struct queue *q = NULL;
	struct op_err e;
	struct stat st;
	int i;

	SQLITE_ONLY();
	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	for (i = 0; i < 300; i++)
		submit(f->q, body, 3, QUEUE_MSG_QUEUED, id);
	queue_close(f->q);       /* checkpoints: everything is in the file */
	f->q = NULL;
	assert_int_equal(stat(f->db, &st), 0);
	assert_true(st.st_size > 400000);
	write_random(f->db, st.st_size / 2, 64 * 1024);
	assert_int_equal(queue_open(f->db, QUEUE_OPEN_CHECK, &q, &e), -1);
	assert_null(q);
	assert_int_equal(e.kind, ERR_IO);
	print_message("damaged file: %s\n", e.msg);
	assert_non_null(strstr(e.msg, f->db));
	assert_non_null(strstr(e.msg, "damaged"));
	/* the fixture reopens nothing: teardown only removes files */
}

#define DROP_V4 "DROP TABLE outbox; DROP TABLE idempotency;" \
	" DROP TABLE suppressions; DROP INDEX recipients_address;" \
	" ALTER TABLE messages DROP COLUMN metadata;" \
	" ALTER TABLE messages DROP COLUMN subject;"

/* A file of schema version 1 (no recipients.profile, "sent" events stored)
 * is upgraded when opened, and its stored events are shown once. */
static void
test_upgrade_from_1(void **state)
{
	struct fixture *f = *state;
	char id[QUEUE_ID_SIZE], sql[1024];
	struct queue_set set;
	struct op_err e;

	SQLITE_ONLY();
	submit(f->q, "m\r\n", 1, QUEUE_MSG_QUEUED, id);
	queue_close(f->q);
	f->q = NULL;
	/* what version 1 wrote for a delivered message */
	snprintf(sql, sizeof(sql), DROP_V4 "ALTER TABLE recipients DROP COLUMN profile;"
	    " UPDATE messages SET state = 'sent', attempts = 1 WHERE id = '%s';"
	    " UPDATE recipients SET state = 'sent', code = 250, reply = 'ok',"
	    " attempts = 1, updated = 5;"
	    " INSERT INTO events (mid, at, kind, text) SELECT mid, 5, 'sent',"
	    " '<a@example.org> via old: 250 ok' FROM messages;"
	    " PRAGMA user_version = 1;", id);
	sql_on(f->db, sql);
	reopen(f);
	assert_int_equal(queue_get(f->q, id, &set, &e), 0);
	assert_int_equal(set.nevents, 2);
	assert_string_equal(set.events[0].kind, "accepted");
	assert_string_equal(set.events[1].text, "<a@example.org> via old: 250 ok");
	assert_null(set.msgs[0].rcpts[0].profile);
	queue_set_free(&set);
	assert_int_equal(sql_int(f->db, "PRAGMA user_version"), 4);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM"
	    " pragma_table_info('recipients') WHERE name = 'profile'"), 1);

	/* version 2 gets the counters table (version 3) */
	queue_close(f->q);
	f->q = NULL;
	sql_on(f->db, DROP_V4 "DROP TABLE counters; PRAGMA user_version = 2;");
	reopen(f);
	assert_int_equal(sql_int(f->db, "PRAGMA user_version"), 4);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM counters"), 0);
	assert_int_equal(sql_int(f->db, "SELECT count(*) FROM outbox"), 0);
}

/* Issue 10 #9: every outcome recorded, by any handle, adds to the
 * delivery counters of its profile, once per commit. */
static void
test_counters(void **state)
{
	struct fixture *f = *state;
	char a[QUEUE_ID_SIZE], b[QUEUE_ID_SIZE];
	struct queue_rcpt_result r[2] = {
		{ 0, QUEUE_RCPT_SENT, 250, NULL, "ok", 0, 0 },
		{ 1, QUEUE_RCPT_FAILED, 550, "5.1.1", "unknown", 0, 0 },
	};
	struct queue_outcome o = { .profile_used = "p1", .results = r,
	    .nresults = 2 };
	struct queue_counter *c;
	struct queue_set set;
	struct op_err e;
	int64_t t = now();
	size_t n;
	int st;

	assert_int_equal(queue_counters(f->q, &c, &n, &e), 0);
	assert_int_equal(n, 0);
	assert_null(c);
	submit(f->q, "a\r\n", 2, QUEUE_MSG_SENDING, a);
	o.id = a;
	o.now = t;
	assert_int_equal(queue_record(f->q, &o, &st, &e), 0);
	/* a test email: recorded right after its submission, no claim */
	submit(f->q, "b\r\n", 1, QUEUE_MSG_QUEUED, b);
	claim_one(f->q, t, &set, b);
	queue_set_free(&set);
	assert_int_equal(queue_fail(f->q, b, t, "gave up", &e), 0);
	reopen(f);              /* kept in the file */
	assert_int_equal(queue_counters(f->q, &c, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(c[0].profile, "-");
	assert_int_equal(c[0].n[QUEUE_COUNT_FAILED], 1);
	assert_int_equal(c[0].n[QUEUE_COUNT_RCPT_FAILED], 1);
	assert_string_equal(c[1].profile, "p1");
	assert_int_equal(c[1].n[QUEUE_COUNT_SENT], 1);
	assert_int_equal(c[1].n[QUEUE_COUNT_DEFERRED], 0);
	assert_int_equal(c[1].n[QUEUE_COUNT_RCPT_SENT], 1);
	assert_int_equal(c[1].n[QUEUE_COUNT_RCPT_FAILED], 1);
	free(c);
}

static void
test_newer_or_foreign_refused(void **state)
{
	struct fixture *f = *state;
	char path[400];
	struct queue *q = NULL;
	struct op_err e;

	SQLITE_ONLY();
	queue_close(f->q);
	f->q = NULL;
	sql_on(f->db, "PRAGMA user_version = 99");
	assert_int_equal(queue_open(f->db, 0, &q, &e), -1);
	assert_int_equal(e.kind, ERR_CONFIG);
	assert_non_null(strstr(e.msg, "newer Outpost"));
	assert_non_null(strstr(e.msg, "99"));
	sql_on(f->db, "PRAGMA user_version = 4");
	reopen(f);

	snprintf(path, sizeof(path), "%s/other.db", f->dir);
	sql_on(path, "CREATE TABLE t (x); INSERT INTO t VALUES (1)");
	assert_int_equal(queue_open(path, 0, &q, &e), -1);
	assert_int_equal(e.kind, ERR_IO);
	assert_non_null(strstr(e.msg, "not an Outpost queue"));

	/* a data_dir that is a file of another kind */
	snprintf(path, sizeof(path), "%s/plain", f->dir);
	write_random(path, 0, 10);
	chmod(path, 0600);
	assert_int_equal(queue_open(path, 0, &q, &e), -1);
}

/* ---- Disk full ---- */

static void
test_disk_full(void **state)
{
	struct fixture *f = *state;
	char id[QUEUE_ID_SIZE], walpath[320];
	size_t n = 2u << 20;
	char *big = malloc(n);
	struct queue_new m = {
		.sender = "a@example.com", .rcpts = three, .nrcpts = 1,
		.body = big, .len = n, .state = QUEUE_MSG_QUEUED,
	};
	struct rlimit old, lim;
	struct stat st;
	struct op_err e;
	off_t biggest = 0;
	int rc;

	if (pg_base != NULL) {
		free(big);
		skip();
	}
	memset(big, 'y', n);
	submit(f->q, "before\r\n", 1, QUEUE_MSG_QUEUED, id);
	if (stat(f->db, &st) == 0)
		biggest = st.st_size;
	snprintf(walpath, sizeof(walpath), "%s-wal", f->db);
	if (stat(walpath, &st) == 0 && st.st_size > biggest)
		biggest = st.st_size;
	/* No file of this process may grow past a limit: the kernel answers
	 * EFBIG as a full disk would answer ENOSPC. */
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)biggest + 256 * 1024;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	rc = queue_submit(f->q, &m, id, &e);
	setrlimit(RLIMIT_FSIZE, &old);
	if (rc == 0)
		free(big);
	assert_int_equal(rc, -1);
	print_message("disk full: %s\n", e.msg);
	assert_int_equal(e.kind, ERR_TEMP);
	assert_non_null(strstr(e.msg, "disk full"));
	/* nothing of it was stored */
	assert_int_equal(count_of(f->q, QUEUE_MSG_QUEUED), 1);
	/* space is back: submissions work again, the file is sound */
	assert_int_equal(queue_submit(f->q, &m, id, &e), 0);
	assert_int_equal(count_of(f->q, QUEUE_MSG_QUEUED), 2);
	reopen(f);
	assert_int_equal(count_of(f->q, QUEUE_MSG_QUEUED), 2);
	free(big);
}

/*
 * A real full disk: a 1 MiB tmpfs in a private mount namespace, in a child
 * process (the namespace and the mount vanish with it).  Needs root (CI
 * and the developers' machines run tests as root); skipped otherwise.
 * The child cannot use cmocka's asserts: it reports by exit status.
 */
static int
disk_full_child(const char *dir)
{
	char mnt[300], data[320];
	static char body[64 * 1024];
	const char *rcpt[1] = { "a@example.org" };
	struct queue_new m = {
		.sender = "a@example.com", .rcpts = rcpt, .nrcpts = 1,
		.body = body, .len = sizeof(body), .state = QUEUE_MSG_QUEUED,
	};
	char id[QUEUE_ID_SIZE];
	struct queue *q;
	struct op_err e;
	uint64_t c[QUEUE_MSG_NSTATES];
	int i, ok = 0;

	snprintf(mnt, sizeof(mnt), "%s/small", dir);
	snprintf(data, sizeof(data), "%s/data", mnt);
	if (unshare(CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mkdir(mnt, 0700) != 0 ||
	    mount("tmpfs", mnt, "tmpfs", 0, "size=1m") != 0)
		return 77;
	memset(body, 'z', sizeof(body));
	if (queue_open(data, 0, &q, &e) < 0) {
		fprintf(stderr, "open: %s\n", e.msg);
		return 1;
	}
	for (i = 0; i < 64; i++) {
		if (queue_submit(q, &m, id, &e) < 0)
			break;
		ok++;
	}
	fprintf(stderr, "tmpfs: %d messages stored, then: %s\n", ok, e.msg);
	if (i == 64 || e.kind != ERR_TEMP || strstr(e.msg, "disk full") == NULL)
		return 2;
	if (queue_counts(q, c, &e) < 0 || c[QUEUE_MSG_QUEUED] != (uint64_t)ok)
		return 3;
	/* space comes back */
	if (mount(NULL, mnt, NULL, MS_REMOUNT, "size=16m") != 0)
		return 4;
	if (queue_submit(q, &m, id, &e) < 0) {
		fprintf(stderr, "after remount: %s\n", e.msg);
		return 5;
	}
	queue_close(q);
	if (queue_open(data, QUEUE_OPEN_CHECK, &q, &e) < 0 ||
	    queue_counts(q, c, &e) < 0 || c[QUEUE_MSG_QUEUED] != (uint64_t)ok + 1)
		return 6;
	queue_close(q);
	umount2(mnt, MNT_DETACH);
	return 0;
}

static void
test_disk_full_tmpfs(void **state)
{
	struct fixture *f = *state;
	pid_t pid;
	int status;

	SQLITE_ONLY();
	if (geteuid() != 0) {
		print_message("not root: cannot mount a small tmpfs; skipped\n");
		skip();
	}
	/* a single-threaded process forks cleanly */
	queue_close(f->q);
	f->q = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(disk_full_child(f->dir));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		print_message("cannot mount a tmpfs here; skipped\n");
		skip();
	}
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- Events for the application (issue 15) ---- */

static void
submit_meta(struct queue *q, const char *const *rcpts, size_t n,
    const char *body, const char *meta, const char *key, int *replayed,
    char id[QUEUE_ID_SIZE])
{
	struct queue_new m = {
		.sender = "App@Example.com",
		.rcpts = rcpts,
		.nrcpts = n,
		.body = body,
		.len = strlen(body),
		.state = QUEUE_MSG_QUEUED,
		.metadata = meta,
		.idem_key = key,
		.replayed = replayed,
	};
	struct op_err e;

	if (queue_submit(q, &m, id, &e) < 0)
		fail_msg("queue_submit: %s", e.msg);
}

/* Metadata and the Subject are kept; an Idempotency-Key names its first
 * message: a second submission with it stores nothing. */
static void
test_metadata_and_idempotency(void **state)
{
	struct fixture *f = *state;
	char id1[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE], id3[QUEUE_ID_SIZE];
	struct queue_set set;
	struct op_err e;
	int replayed = -1;

	submit_meta(f->q, three, 1, "Subject: Your\r\n invitation\r\n\r\nx\r\n",
	    "{\"survey\":\"42\"}", "key-1", &replayed, id1);
	assert_int_equal(replayed, 0);
	submit_meta(f->q, three, 1, "Subject: other\r\n\r\ny\r\n", NULL,
	    "key-1", &replayed, id2);
	assert_int_equal(replayed, 1);
	assert_string_equal(id1, id2);
	submit_meta(f->q, three, 1, "Subject: other\r\n\r\ny\r\n", NULL,
	    "key-2", &replayed, id3);
	assert_int_equal(replayed, 0);
	assert_string_not_equal(id1, id3);
	assert_int_equal(count_of(f->q, QUEUE_MSG_QUEUED), 2);

	assert_int_equal(queue_get(f->q, id1, &set, &e), 0);
	assert_string_equal(set.msgs[0].metadata, "{\"survey\":\"42\"}");
	assert_string_equal(set.msgs[0].subject, "Your invitation");
	queue_set_free(&set);
	/* kept across a reopen (durable), and purged after a day */
	reopen(f);
	submit_meta(f->q, three, 1, "x\r\n", NULL, "key-1", &replayed, id2);
	assert_int_equal(replayed, 1);
	assert_string_equal(id1, id2);
}

/* Searches: by recipient (any case), sender, subject and time. */
static void
test_search(void **state)
{
	struct fixture *f = *state;
	static const char *const r1[] = { "x@example.org", "Dead@Example.org" };
	static const char *const r2[] = { "y@example.org" };
	char id1[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE];
	struct queue_list_opts o;
	struct queue_set set;
	struct op_err e;

	submit_meta(f->q, r1, 2, "Subject: Invitation 7\r\n\r\nx\r\n", NULL,
	    NULL, NULL, id1);
	submit_meta(f->q, r2, 1, "Subject: Reminder\r\n\r\nx\r\n", NULL, NULL,
	    NULL, id2);
	memset(&o, 0, sizeof(o));
	o.state = -1;
	o.to = "dead@example.ORG";
	assert_int_equal(queue_list(f->q, &o, &set, &e), 0);
	assert_int_equal(set.n, 1);
	assert_string_equal(set.msgs[0].id, id1);
	assert_string_equal(set.msgs[0].first_rcpt, "x@example.org");
	assert_int_equal(set.msgs[0].nrcpts_total, 2);
	queue_set_free(&set);
	o.to = NULL;
	o.subject = "remind";
	assert_int_equal(queue_list(f->q, &o, &set, &e), 0);
	assert_int_equal(set.n, 1);
	assert_string_equal(set.msgs[0].id, id2);
	queue_set_free(&set);
	o.subject = NULL;
	o.from = "app@example.com";
	o.since = now() - 60;
	assert_int_equal(queue_list(f->q, &o, &set, &e), 0);
	assert_int_equal(set.n, 2);
	queue_set_free(&set);
	o.until = now() - 60;
	assert_int_equal(queue_list(f->q, &o, &set, &e), 0);
	assert_int_equal(set.n, 0);
	queue_set_free(&set);
	o.until = 0;
	o.since = 0;
	o.from = NULL;
	o.to = "nobody@example.org";
	assert_int_equal(queue_list(f->q, &o, &set, &e), 0);
	assert_int_equal(set.n, 0);
	queue_set_free(&set);
}

static void
record_one(struct queue *q, const char *id, unsigned idx, int state, int code,
    const char *enh, const char *reply, int suppress, int suppressed)
{
	struct queue_rcpt_result r = {
		.idx = idx, .state = state, .code = code, .enhanced = enh,
		.reply = reply, .suppress = suppress, .suppressed = suppressed,
	};
	struct queue_outcome o = {
		.id = id, .now = now(), .profile_used = "main", .results = &r,
		.nresults = 1, .next_attempt = now() + 60,
	};
	struct op_err e;

	if (queue_record(q, &o, NULL, &e) < 0)
		fail_msg("queue_record: %s", e.msg);
}

/* The outbox: one row per event and webhook asking for it, written with
 * the outcome; claimed oldest first, one per message at a time (in
 * order); retried later, removed once delivered; none without webhooks. */
static void
test_outbox(void **state)
{
	struct fixture *f = *state;
	static const struct queue_hook hooks[] = {
		{ "app", QUEUE_HOOK_SENT | QUEUE_HOOK_DEFERRED | QUEUE_HOOK_FAILED |
		    QUEUE_HOOK_SUPPRESSED | QUEUE_HOOK_QUEUED },
		{ "fails", QUEUE_HOOK_FAILED },
	};
	char id1[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE], id0[QUEUE_ID_SIZE];
	struct queue_outbox_done d[4];
	struct queue_set set, set2;
	struct op_err e;
	uint64_t n;

	/* no webhook: no row */
	submit_meta(f->q, three, 1, "x\r\n", NULL, NULL, NULL, id0);
	record_one(f->q, id0, 0, QUEUE_RCPT_SENT, 250, "2.0.0", "ok", 0, 0);
	assert_int_equal(queue_outbox_count(f->q, &n, &e), 0);
	assert_int_equal(n, 0);

	assert_int_equal(queue_hooks_set(f->q, hooks, 2, &e), 0);
	submit_meta(f->q, three, 2, "x\r\n", "{\"k\":\"v\"}", NULL, NULL, id1);
	submit_meta(f->q, three, 1, "x\r\n", NULL, NULL, NULL, id2);
	/* queued: 3 rows for "app" */
	record_one(f->q, id1, 0, QUEUE_RCPT_DEFERRED, 451, "4.3.0", "later", 0, 0);
	record_one(f->q, id1, 0, QUEUE_RCPT_SENT, 250, "2.0.0", "ok", 0, 0);
	record_one(f->q, id1, 1, QUEUE_RCPT_FAILED, 550, "5.1.1", "no such user",
	    1, 0);
	record_one(f->q, id2, 0, QUEUE_RCPT_FAILED, 0, "", "suppressed", 0, 1);
	assert_int_equal(queue_outbox_count(f->q, &n, &e), 0);
	/* app: 3 queued + 3 of id1 + 1 of id2; fails: 1 (id1) */
	assert_int_equal(n, 3 + 3 + 1 + 1);

	/* one event per message at a time, oldest first */
	assert_int_equal(queue_outbox_claim(f->q, "app", now(), 10, &set, &e), 0);
	assert_int_equal(set.noutbox, 2);
	assert_string_equal(set.outbox[0].id, id1);
	assert_string_equal(set.outbox[0].kind, "queued");
	assert_string_equal(set.outbox[0].metadata, "{\"k\":\"v\"}");
	assert_string_equal(set.outbox[1].id, id2);
	/* claimed: not handed out again */
	assert_int_equal(queue_outbox_claim(f->q, "app", now(), 10, &set2, &e), 0);
	assert_int_equal(set2.noutbox, 0);
	queue_set_free(&set2);
	/* the first delivered, the second to try later */
	d[0].oid = set.outbox[0].oid;
	d[0].next_try = 0;
	d[1].oid = set.outbox[1].oid;
	d[1].next_try = now() + 3600;
	assert_int_equal(queue_outbox_finish(f->q, d, 2, &e), 0);
	queue_set_free(&set);
	assert_int_equal(queue_outbox_claim(f->q, "app", now(), 10, &set, &e), 0);
	assert_int_equal(set.noutbox, 1);
	assert_string_equal(set.outbox[0].id, id1);
	assert_string_equal(set.outbox[0].kind, "queued");
	assert_string_equal(set.outbox[0].rcpt, "b@example.org");
	d[0].oid = set.outbox[0].oid;
	d[0].next_try = 0;
	assert_int_equal(queue_outbox_finish(f->q, d, 1, &e), 0);
	queue_set_free(&set);
	/* the rest of id1 in order: deferred, sent, failed */
	{
		static const char *const kinds[] = { "deferred", "sent", "failed" };
		size_t k;

		for (k = 0; k < 3; k++) {
			assert_int_equal(queue_outbox_claim(f->q, "app", now(), 10,
			    &set, &e), 0);
			assert_int_equal(set.noutbox, 1);
			assert_string_equal(set.outbox[0].kind, kinds[k]);
			if (k == 2) {
				assert_int_equal(set.outbox[0].code, 550);
				assert_string_equal(set.outbox[0].enhanced, "5.1.1");
				assert_string_equal(set.outbox[0].reply, "no such user");
				assert_string_equal(set.outbox[0].profile, "main");
				assert_int_equal(set.outbox[0].attempt, 1);
			}
			d[0].oid = set.outbox[0].oid;
			d[0].next_try = 0;
			assert_int_equal(queue_outbox_finish(f->q, d, 1, &e), 0);
			queue_set_free(&set);
		}
	}
	/* the other webhook has its own row */
	assert_int_equal(queue_outbox_claim(f->q, "fails", now(), 10, &set, &e), 0);
	assert_int_equal(set.noutbox, 1);
	assert_string_equal(set.outbox[0].kind, "failed");
	queue_set_free(&set);
	/* id2's queued event, once due again (tried once), then its
	 * suppressed one */
	assert_int_equal(queue_outbox_claim(f->q, "app", now() + 7200, 10, &set,
	    &e), 0);
	assert_int_equal(set.noutbox, 1);
	assert_string_equal(set.outbox[0].kind, "queued");
	assert_int_equal(set.outbox[0].tries, 1);
	d[0].oid = set.outbox[0].oid;
	d[0].next_try = 0;
	assert_int_equal(queue_outbox_finish(f->q, d, 1, &e), 0);
	queue_set_free(&set);
	assert_int_equal(queue_outbox_claim(f->q, "app", now(), 10, &set, &e), 0);
	assert_int_equal(set.noutbox, 1);
	assert_string_equal(set.outbox[0].kind, "suppressed");
	assert_string_equal(set.outbox[0].id, id2);
	queue_set_free(&set);
}

/* Suppression: a refusal marked so puts the address on the list; the
 * claim says so of later messages' recipients; deleted, it is gone. */
static void
test_suppression(void **state)
{
	struct fixture *f = *state;
	static const char *const r1[] = { "Dead@Example.org" };
	static const char *const r2[] = { "ok@example.org", "dead@example.org" };
	const char *chk[] = { "DEAD@example.org", "ok@example.org" };
	char id1[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE];
	struct queue_set set;
	struct op_err e;
	int flags[2];

	submit_meta(f->q, r1, 1, "x\r\n", NULL, NULL, NULL, id1);
	assert_int_equal(queue_claim(f->q, now(), 10, &set, &e), 0);
	assert_int_equal(set.n, 1);
	assert_int_equal(set.msgs[0].rcpts[0].suppressed, 0);
	queue_set_free(&set);
	record_one(f->q, id1, 0, QUEUE_RCPT_FAILED, 550, "5.1.1", "no such user",
	    1, 0);
	assert_int_equal(queue_supp_list(f->q, NULL, 0, &set, &e), 0);
	assert_int_equal(set.nsupps, 1);
	assert_string_equal(set.supps[0].address, "dead@example.org");
	assert_string_equal(set.supps[0].reason, "550 5.1.1 no such user");
	assert_string_equal(set.supps[0].id, id1);
	queue_set_free(&set);
	assert_int_equal(queue_supp_check(f->q, chk, 2, flags, &e), 0);
	assert_int_equal(flags[0], 1);
	assert_int_equal(flags[1], 0);
	{
		/* several at once, any case, one with a quote: the flags of
		 * each in its place */
		const char *chk3[] = { "a\"b@example.org", "DEAD@Example.org",
		    "ok@example.org" };
		int flags3[3];

		assert_int_equal(queue_supp_check(f->q, chk3, 3, flags3, &e), 0);
		assert_int_equal(flags3[0], 0);
		assert_int_equal(flags3[1], 1);
		assert_int_equal(flags3[2], 0);
	}

	submit_meta(f->q, r2, 2, "x\r\n", NULL, NULL, NULL, id2);
	assert_int_equal(queue_claim(f->q, now(), 10, &set, &e), 0);
	assert_int_equal(set.n, 1);
	assert_int_equal(set.msgs[0].nrcpts, 2);
	assert_int_equal(set.msgs[0].rcpts[0].suppressed, 0);
	assert_int_equal(set.msgs[0].rcpts[1].suppressed, 1);
	queue_set_free(&set);
	/* recorded as suppressed: its event says so */
	record_one(f->q, id2, 1, QUEUE_RCPT_FAILED, 0, "", "suppressed", 0, 1);
	assert_int_equal(queue_get(f->q, id2, &set, &e), 0);
	assert_string_equal(set.events[set.nevents - 1].kind, "suppressed");
	queue_set_free(&set);

	assert_int_equal(queue_supp_delete(f->q, "DEAD@example.org", &e), 0);
	assert_int_equal(queue_supp_delete(f->q, "dead@example.org", &e), -1);
	assert_int_equal(e.kind, ERR_NOINPUT);
	/* an operator's retry of the message lifts it too */
	record_one(f->q, id1, 0, QUEUE_RCPT_FAILED, 550, "5.1.1", "no such user",
	    1, 0);
	assert_int_equal(queue_supp_check(f->q, chk, 1, flags, &e), 0);
	assert_int_equal(flags[0], 1);
	assert_int_equal(queue_retry(f->q, id1, now(), &e), 0);
	assert_int_equal(queue_supp_check(f->q, chk, 1, flags, &e), 0);
	assert_int_equal(flags[0], 0);
	assert_int_equal(queue_supp_delete(f->q, "dead@example.org", &e), -1);
	assert_int_equal(e.kind, ERR_NOINPUT);
	assert_int_equal(queue_supp_list(f->q, NULL, 0, &set, &e), 0);
	assert_int_equal(set.nsupps, 0);
	queue_set_free(&set);
}

/* A search by recipient reads the index, not the table, with 200,000
 * messages (the plan, not a time, is asserted). */
static void
test_search_plan_large(void **state)
{
	struct fixture *f = *state;
	struct queue_list_opts o;
	char plan[2048];
	struct op_err e;

	SQLITE_ONLY();
	queue_close(f->q);
	f->q = NULL;
	sql_on(f->db, "BEGIN;"
	    " WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
	    " WHERE i < 200000)"
	    " INSERT INTO messages (id, sender, size, state, created, since,"
	    " next_attempt, updated, subject) SELECT printf('%016d', i),"
	    " 'app' || (i % 5000) || '@example.com', 10, 'sent', i, i, i, i, 'invitation ' || i"
	    " FROM n;"
	    " INSERT INTO recipients (mid, idx, address, state)"
	    " SELECT mid, 0, 'user' || mid || '@example.org', 'sent' FROM messages;"
	    " ANALYZE; COMMIT;");
	reopen(f);
	memset(&o, 0, sizeof(o));
	o.state = -1;
	o.to = "user123456@example.org";
	assert_int_equal(queue_sqlite_plan(f->q, &o, plan, sizeof(plan), &e), 0);
	if (strstr(plan, "INDEX recipients_address") == NULL)
		fail_msg("the search by recipient does not use its index:\n%s",
		    plan);
	{
		struct queue_set set;

		assert_int_equal(queue_list(f->q, &o, &set, &e), 0);
		assert_int_equal(set.n, 1);
		assert_string_equal(set.msgs[0].first_rcpt, "user123456@example.org");
		queue_set_free(&set);
	}
	/* a recipient and a time range: still the index */
	o.since = 100000;
	assert_int_equal(queue_sqlite_plan(f->q, &o, plan, sizeof(plan), &e), 0);
	if (strstr(plan, "INDEX recipients_address") == NULL)
		fail_msg("the search by recipient and time does not use its "
		    "index:\n%s", plan);
}
/* ---- end of events for the application ---- */

int
main(void)
{
	pg_base = getenv("OUTPOST_TEST_DATABASE");
	if (pg_base != NULL && pg_base[0] == '\0')
		pg_base = NULL;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_submit_and_read_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_body_streamed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_submissions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_after_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ids_unique, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_record_fails_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_after_commit,
		    setup_daemon, teardown),
		cmocka_unit_test_setup_teardown(test_ids_unique, setup_daemon,
		    teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup_daemon,
		    teardown),
		cmocka_unit_test_setup_teardown(test_claim_no_double, setup, teardown),
		cmocka_unit_test_setup_teardown(test_processes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_results_and_states, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ended_well_has_no_last_error,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_and_advance, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_background_checkpoints, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_stale_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_sending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_and_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_and_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_preallocated, setup_daemon, teardown),
		cmocka_unit_test_setup_teardown(test_list_and_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accepted_not_repeated, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_from_1, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rate_buckets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_file_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_middle_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_or_foreign_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_full_tmpfs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metadata_and_idempotency, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_search, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox, setup, teardown),
		cmocka_unit_test_setup_teardown(test_suppression, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search_plan_large, setup,
		    teardown),
	};

	return cmocka_run_group_tests_name(pg_base != NULL ? "queue (PostgreSQL)" :
	    "queue", tests, NULL, NULL);
}
