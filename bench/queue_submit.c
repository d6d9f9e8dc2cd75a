/*
 * queue_submit - how fast the queue accepts and records messages.
 *
 *   build/bench/queue_submit [-t THREADS] [-n PER_THREAD] [-s BODY_BYTES]
 *                            [-d DIR] [-k] [-H] [-D URI]
 *
 * THREADS threads (default 16, like 16 SMTP sessions) each submit
 * PER_THREAD messages (default 500) of BODY_BYTES (default 2000) with two
 * recipients through queue_submit(), which returns only after the commit
 * (WAL, synchronous=FULL).  Then THREADS delivery workers claim batches
 * and record a result per message.  Prints rates, commits, batch sizes and
 * the peak RSS.  With -H the messages are submitted held and are not
 * delivered: the queue is counted and listed instead (memory must not grow
 * with the number of messages stored).  The database goes to a new
 * directory under DIR (default $TMPDIR or /tmp), removed at the end unless
 * -k; with -D, into the PostgreSQL database URI (postgresql://...) instead.
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "queue/queue.h"
#include "util/buf.h"
#include "util/net.h"

static struct queue *q;
static unsigned per_thread = 500;
static size_t body_size = 2000;
static char *body;
static int held;
static const char *database;   /* -D: a PostgreSQL database */

static const char *const rcpts[] = { "one@example.org", "two@example.net" };

static void *
submitter(void *arg)
{
	struct queue_new m = {
		.sender = "app@example.com", .rcpts = rcpts, .nrcpts = 2,
		.body = body, .len = body_size,
		.state = held ? QUEUE_MSG_HELD : QUEUE_MSG_QUEUED,
	};
	char id[QUEUE_ID_SIZE];
	struct op_err e;
	unsigned i;
	long *failed = arg;

	for (i = 0; i < per_thread; i++)
		if (queue_submit(q, &m, id, &e) < 0) {
			fprintf(stderr, "submit: %s\n", e.msg);
			(*failed)++;
		}
	return NULL;
}

static void *
worker(void *arg)
{
	struct queue_rcpt_result r[2] = {
		{ 0, QUEUE_RCPT_SENT, 250, "2.0.0", "Ok: queued" },
		{ 1, QUEUE_RCPT_SENT, 250, "2.0.0", "Ok: queued" },
	};
	struct queue_outcome o = {
		.profile_used = "primary", .results = r, .nresults = 2, .sends = 1,
	};
	struct queue_set set;
	struct op_err e;
	long *done = arg;
	size_t i;
	char *b;
	size_t len;

	for (;;) {
		if (queue_claim(q, clock_wall_ms() / 1000 + 1, 32, &set, &e) < 0) {
			fprintf(stderr, "claim: %s\n", e.msg);
			return NULL;
		}
		if (set.n == 0)
			break;
		for (i = 0; i < set.n; i++) {
			if (queue_body_get(q, set.msgs[i].id, &b, &len, &e) < 0) {
				fprintf(stderr, "body: %s\n", e.msg);
				continue;
			}
			free(b);
			o.id = set.msgs[i].id;
			o.now = clock_wall_ms() / 1000;
			if (queue_record(q, &o, NULL, &e) < 0)
				fprintf(stderr, "record: %s\n", e.msg);
			else
				(*done)++;
		}
		queue_set_free(&set);
	}
	return NULL;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
main(int argc, char **argv)
{
	const char *base = getenv("TMPDIR");
	unsigned threads = 16, i;
	unsigned long v;
	char dir[512];
	pthread_t *th;
	long *counts, total = 0, failed = 0;
	struct queue_stats st;
	struct rusage ru;
	struct op_err e;
	int64_t t0, t1;
	int c, keep = 0;

	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	while ((c = getopt(argc, argv, "t:n:s:d:kHD:")) != -1) {
		switch (c) {
		case 't':
			if (str_to_ulong(optarg, 1024, &v) < 0 || v == 0)
				goto usage;
			threads = (unsigned)v;
			break;
		case 'n':
			if (str_to_ulong(optarg, 10000000, &v) < 0 || v == 0)
				goto usage;
			per_thread = (unsigned)v;
			break;
		case 's':
			if (str_to_ulong(optarg, QUEUE_BODY_MAX, &v) < 0)
				goto usage;
			body_size = v;
			break;
		case 'd':
			base = optarg;
			break;
		case 'k':
			keep = 1;
			break;
		case 'H':
			held = 1;
			break;
		case 'D':
			database = optarg;
			break;
		default:
			goto usage;
		}
	}
	snprintf(dir, sizeof(dir), "%s/outpost-bench-XXXXXX", base);
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "mkdtemp %s: %s\n", dir, strerror(errno));
		return 1;
	}
	if (queue_open(database != NULL ? database : dir, 0, &q, &e) < 0) {
		fprintf(stderr, "open: %s\n", e.msg);
		return 1;
	}
	body = mem_alloc(body_size + 1);
	memset(body, 'x', body_size);
	th = mem_alloc(threads * sizeof(*th));
	counts = mem_alloc(threads * sizeof(*counts));

	t0 = clock_mono_ms();
	for (i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, submitter, &counts[i]);
	for (i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		failed += counts[i];
	}
	t1 = clock_mono_ms();
	queue_stats(q, &st);
	total = (long)threads * per_thread - failed;
	printf("submit: %ld messages of %zu bytes from %u threads in %.3f s: "
	    "%.0f messages/s, %llu commits (%.1f per commit, largest %llu), "
	    "%ld failed\n", total, body_size, threads, (double)(t1 - t0) / 1000,
	    (double)total * 1000 / (double)(t1 - t0 > 0 ? t1 - t0 : 1),
	    (unsigned long long)st.commits,
	    st.commits ? (double)st.submitted / (double)st.commits : 0.0,
	    (unsigned long long)st.max_batch, failed);

	if (held) {
		uint64_t n[QUEUE_MSG_NSTATES];
		struct queue_list_opts lo = { .state = QUEUE_MSG_HELD, .limit = 100 };
		struct queue_set set;

		t0 = clock_mono_ms();
		if (queue_counts(q, n, &e) < 0 || queue_list(q, &lo, &set, &e) < 0) {
			fprintf(stderr, "count: %s\n", e.msg);
			return 1;
		}
		t1 = clock_mono_ms();
		printf("held: %llu messages held; counted and listed the newest "
		    "%zu in %lld ms\n", (unsigned long long)n[QUEUE_MSG_HELD],
		    set.n, (long long)(t1 - t0));
		queue_set_free(&set);
		goto done;
	}
	memset(counts, 0, threads * sizeof(*counts));
	t0 = clock_mono_ms();
	for (i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, worker, &counts[i]);
	total = 0;
	for (i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		total += counts[i];
	}
	t1 = clock_mono_ms();
	printf("deliver: %ld messages claimed, read and recorded by %u workers "
	    "in %.3f s: %.0f messages/s\n", total, threads,
	    (double)(t1 - t0) / 1000,
	    (double)total * 1000 / (double)(t1 - t0 > 0 ? t1 - t0 : 1));
done:
	getrusage(RUSAGE_SELF, &ru);
	printf("peak RSS: %ld KiB; database in %s%s\n", ru.ru_maxrss, dir,
	    keep ? "" : " (removed)");
	queue_close(q);
	if (!keep)
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(th);
	free(counts);
	free(body);
	return failed > 0;
usage:
	fprintf(stderr, "usage: queue_submit [-t THREADS] [-n PER_THREAD] "
	    "[-s BODY_BYTES] [-d DIR] [-k] [-H] [-D URI]\n");
	return 64;
}
