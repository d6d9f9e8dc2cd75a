/*
 * cmd_serve.c - `outpost serve`: the daemon.  SMTP listener, web page and
 * API, and delivery in one process, in the foreground, logging to stderr.
 *
 * Signals are handled in this thread only (sigwait): SIGHUP reloads the
 * settings (a bad file keeps the old ones, and the log says why);
 * SIGTERM/SIGINT stop accepting, let commits and in-flight deliveries
 * finish for a few seconds, and exit 0.  Nothing accepted is lost: a
 * message is acknowledged only once committed, and one being sent when
 * the grace period ends is recovered at the next start.
 *
 * One daemon per data_dir: serve_lock() takes a write lock on
 * data_dir/outpost.pid (which then holds the daemon's PID) before the
 * queue is opened, and keeps it for the daemon's life; the kernel drops it
 * when the process ends, however it ends.  A second `serve` on the same
 * data_dir exits 75 naming the first one's PID.  The commands that only
 * write the queue (sendmail, send, queue) never take this lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/serve_priv.h"
#include "cli/sendmail_handoff.h"
#include "http/http.h"
#include "queue/queue.h"
#include "relay/cluster_conf.h"
#include "relay/listener.h"
#include "relay/relay.h"
#include "relay/webhook.h"
#include "relay/settings.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/net.h"
#include "util/sdnotify.h"

/* SIGTERM: the listener and then the deliveries share one deadline; the
 * deliveries always get at least SERVE_GRACE_MIN_MS of it. */
#define SERVE_GRACE_MS 5000
#define SERVE_GRACE_MIN_MS 500
/* The daemon's lock and PID file, in data_dir. */
#define SERVE_LOCK_FILE "outpost.pid"

/* What a delivery thread still running at exit may use (through the
 * relay), and the listener (whose commits may still be owed): not freed
 * under it, and kept reachable here until the process ends. */
static struct {
	struct listener *volatile listener;     /* volatile: stores are kept */
	struct queue *volatile queue;
	struct relay *volatile relay;
} kept;

struct daemon {
	struct settings *settings;
	struct relay *relay;
	const char *edit_path;
	struct cluster_conf *cluster;  /* several nodes: shared settings */
};

/* ---- cluster: the settings several nodes share (relay/cluster_conf.h) ---- */

static int
shared_read(void *arg, char **text, size_t *len, int64_t *version,
    struct op_err *e)
{
	struct daemon *d = arg;
	struct buf b;

	buf_init(&b, 2 * CONF_FILE_MAX);
	if (cluster_conf_compose(d->cluster, d->edit_path, &b, version, e) < 0) {
		if (b.data != NULL)
			explicit_bzero(b.data, b.len);
		buf_free(&b);
		return -1;
	}
	*text = buf_detach(&b, len);
	if (*text == NULL)
		*text = str_dup("");
	return 0;
}

static int
shared_write(void *arg, const char *text, size_t len, int64_t expect,
    struct op_err *e)
{
	return cluster_conf_store(((struct daemon *)arg)->cluster, text, len,
	    expect, e);
}

/* With a shared database: the settings in effect are the file's own
 * sections and the database's shared ones (imported from the file at the
 * first start).  0, or an exit code. */
static int
shared_start(struct daemon *d, struct queue *q)
{
	struct op_err e;

	if (!queue_shared(q))
		return 0;
	d->cluster = cluster_conf_new(q);
	settings_set_compose(d->settings, cluster_conf_compose_cb, d->cluster);
	if (settings_reload(d->settings, &e) < 0) {
		fprintf(stderr, "outpost: the shared settings: %s\n", e.msg);
		return e.kind == ERR_TEMP ? 75 : 78;
	}
	return 0;
}

/* ---- end of cluster ---- */

static void
wake(void *arg)
{
	struct daemon *d = arg;

	if (d->relay != NULL)
		relay_wake(d->relay);
}

/* The page's OAuth2 callback stored a sign-in. */
static void
oauth_signed_in(void *arg)
{
	struct daemon *d = arg;

	if (d->relay != NULL)
		relay_oauth_signed_in(d->relay);
}

static int
reserve(void *arg, size_t len)
{
	return relay_reserve(((struct daemon *)arg)->relay, len);
}

static void
unreserve(void *arg, int how, size_t len)
{
	relay_unreserve(((struct daemon *)arg)->relay, how, len);
}

static void
handoff(void *arg, const char *id, const char *sender, char *const *rcpts,
    size_t nrcpts, char *body, size_t len)
{
	relay_handoff(((struct daemon *)arg)->relay, id, sender, rcpts, nrcpts,
	    body, len);
}

static const struct conf *
conf_get(void *arg)
{
	return settings_get(((struct daemon *)arg)->settings);
}

static void
conf_put(void *arg, const struct conf *c)
{
	settings_put(((struct daemon *)arg)->settings, c);
}

/* /run/outpost/submit: where users' sendmail finds the listener
 * (cli/sendmail_handoff.h). */
static void
submit_file(struct settings *s)
{
	const struct conf *c = settings_get(s);

	sm_submit_write(c);
	settings_put(s, c);
}

static int
conf_reload(void *arg, struct op_err *e)
{
	struct daemon *d = arg;

	if (settings_path(d->settings) == NULL)
		settings_set_path(d->settings, d->edit_path);
	if (settings_reload(d->settings, e) < 0)
		return -1;
	submit_file(d->settings);
	wake(d);
	return 0;
}

/* The PID in the lock file (the holder's when F_GETLK cannot say), or 0. */
static long
lock_file_pid(int fd)
{
	char text[32];
	ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
	unsigned long v;

	if (n <= 0)
		return 0;
	text[n] = '\0';
	text[strcspn(text, "\n")] = '\0';
	return str_to_ulong(text, LONG_MAX, &v) == 0 ? (long)v : 0;
}

/*
 * Lock data_dir/outpost.pid for this daemon's life (see the top of the
 * file) and write our PID into it.  Returns the descriptor (kept open:
 * closing it drops the lock), or -1 after printing why with *rc the exit
 * code: 75 when another daemon holds the lock, 73 when the file cannot be
 * made.
 */
static int
serve_lock(const char *dir, int *rc)
{
	char path[PATH_MAX], text[32];
	struct flock fl, who;
	long other = 0;
	int fd, n;

	*rc = 73;
	if ((size_t)snprintf(path, sizeof(path), "%s/" SERVE_LOCK_FILE, dir) >=
	    sizeof(path)) {
		fprintf(stderr, "outpost: data_dir %s is too long a path\n", dir);
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
	    0600);
	if (fd < 0) {
		fprintf(stderr, "outpost: cannot open the lock file %s: %s; let "
		    "the user running outpost serve write to data_dir\n", path,
		    strerror(errno));
		return -1;
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_SETLK, &fl) < 0) {
		if (errno != EACCES && errno != EAGAIN) {
			fprintf(stderr, "outpost: cannot lock %s: %s\n", path,
			    strerror(errno));
			close(fd);
			return -1;
		}
		who = fl;
		if (fcntl(fd, F_GETLK, &who) == 0 && who.l_type != F_UNLCK &&
		    who.l_pid > 0)
			other = (long)who.l_pid;
		else
			other = lock_file_pid(fd);
		if (other > 0)
			fprintf(stderr, "outpost: another outpost serve (PID %ld) "
			    "already runs on data_dir %s (it holds %s); stop it "
			    "first (kill %ld), or give this one its own data_dir\n",
			    other, dir, path, other);
		else
			fprintf(stderr, "outpost: another outpost serve already "
			    "runs on data_dir %s (it holds %s); stop it first, or "
			    "give this one its own data_dir\n", dir, path);
		close(fd);
		*rc = 75;
		return -1;
	}
	n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t)n, 0) != n)
		log_event(LOG_WARN, "start", "lock_file", path, "error",
		    strerror(errno), "note", "the lock is held; the PID in the "
		    "file may be missing", NULL);
	return fd;
}

/* At a clean exit: empty the PID file while the lock is still held. */
static void
serve_unlock(int fd)
{
	if (fd < 0)
		return;
	if (ftruncate(fd, 0) < 0) {
		/* nothing to do: the lock goes with the descriptor anyway */
	}
	close(fd);
}

int
cmd_serve(struct cli_ctx *ctx, int argc, char **argv)
{
	struct daemon d;
	struct conf *conf = NULL;
	struct queue *q = NULL;
	struct metrics *metrics = NULL;
	struct listener *lst = NULL;
	struct http_server *http = NULL;
	struct relay_deps rd;
	struct serve_priv priv;         /* [server] user (serve_priv.h) */
	struct webhooks *webhooks = NULL;
	struct op_err e;
	sigset_t set;
	char token[HTTP_TOKEN_MAX];
	char broken[ERR_MSG_MAX];
	const char *path;
	int rc, sig, created = 0, stuck = 0, lock_fd;
	int64_t grace_end, left;

	(void)argv;
	if (argc > 1)
		return cli_usage("serve");
	rc = cli_load_conf(ctx, &conf);
	if (rc != 0)
		return rc;
	path = conf_find_path(ctx->config_path);
	memset(&d, 0, sizeof(d));
	d.edit_path = path != NULL ? path : "outpost.conf";

	/* every thread started from here on inherits the blocked signals */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* [server] user: decided now, the drop once the ports are bound */
	if ((rc = serve_priv_plan(conf, &priv)) != 0 ||
	    (rc = serve_priv_data_dir(conf->server.data_dir, &priv)) != 0) {
		conf_free(conf);
		return rc;
	}
	if ((lock_fd = serve_lock(conf->server.data_dir, &rc)) < 0) {
		conf_free(conf);
		return rc;
	}
	if (queue_open_db(conf->server.data_dir, conf->server.database,
	    conf->server.node, QUEUE_OPEN_CHECK | QUEUE_OPEN_DAEMON, &q,
	    &e) < 0) {
		/* a shared database out of reach at start: exit 75, so the
		 * service manager starts the node again (it then reconnects by
		 * itself while it runs) */
		if (queue_db_is_pg(conf->server.database) && e.kind == ERR_TEMP) {
			fprintf(stderr, "outpost: %s\n", e.msg);
			conf_free(conf);
			serve_unlock(lock_fd);
			return 75;
		}
		/* Never start an empty queue in place of a damaged one, and
		 * never say 250 for mail that cannot be stored: run, but
		 * answer every SMTP client 421 with the reason (they keep
		 * their mail and retry), until an operator fixes it. */
		fprintf(stderr, "outpost: %s\n", e.msg);
		if (conf->server.smtp_listen[0] == '\0') {
			conf_free(conf);
			serve_unlock(lock_fd);
			return e.kind == ERR_CONFIG ? 78 : 75;
		}
		str_copy(broken, sizeof(broken), e.msg);
		q = NULL;
	}
	metrics = metrics_new();
	d.settings = settings_new(path, conf);
	conf = NULL;

	/* cluster: the shared settings, before anything uses them */
	if (q != NULL && (rc = shared_start(&d, q)) != 0)
		goto out;
	rd.settings = d.settings;
	rd.queue = q;
	rd.metrics = metrics;
	/* events for the application: the store writes them from now on */
	if (q != NULL && webhook_start(d.settings, q, &webhooks, &e) < 0)
		log_event(LOG_ERROR, "webhook", "error", e.msg, NULL);
	if (q == NULL) {
		struct listener_deps ld = { d.settings, NULL, NULL, NULL, broken,
		    NULL, NULL, NULL };

		if (listener_start(&ld, &lst, &e) < 0) {
			fprintf(stderr, "outpost: SMTP listener: %s\n", e.msg);
			rc = e.kind == ERR_CONFIG ? 78 : 69;
			goto out;
		}
		log_event(LOG_ERROR, "start", "mode", "refusing mail",
		    "reason", broken, "note",
		    "SMTP clients get 421 and keep their mail; the web page is off; "
		    "fix or move the database, then restart", NULL);
	} else if (relay_start(&rd, &d.relay, &e) < 0) {
		fprintf(stderr, "outpost: %s\n", e.msg);
		rc = e.kind ? e.kind : 70;
		goto out;
	}
	/* other nodes' new mail wakes this one (PostgreSQL: LISTEN/NOTIFY) */
	if (q != NULL && queue_watch(q, wake, &d, &e) < 0)
		log_event(LOG_WARN, "watch", "error", e.msg, NULL);
	if (q != NULL) {
		const struct conf *c = settings_get(d.settings);
		int fail = 0;

		if (c->server.smtp_listen[0] != '\0') {
			struct listener_deps ld = { d.settings, q, wake, &d, NULL,
			    reserve, unreserve, handoff };

			if (listener_start(&ld, &lst, &e) < 0) {
				fprintf(stderr, "outpost: SMTP listener: %s\n", e.msg);
				rc = e.kind == ERR_CONFIG ? 78 : 69;
				fail = 1;
			}
		}
		if (!fail && c->server.http_listen[0] != '\0') {
			struct http_deps hd;

			memset(&hd, 0, sizeof(hd));
			if (http_token_load(c->server.data_dir, c->server.api_token, token,
			    sizeof(token), &created, &e) < 0) {
				fprintf(stderr, "outpost: API token: %s\n", e.msg);
				rc = e.kind == ERR_CONFIG ? 78 : 74;
				fail = 1;
			} else {
				hd.conf_get = conf_get;
				hd.conf_put = conf_put;
				hd.conf_path = d.edit_path;
				hd.conf_reload = conf_reload;
				if (d.cluster != NULL) {        /* cluster */
					hd.conf_shared_read = shared_read;
					hd.conf_shared_write = shared_write;
				}
				hd.queue = q;
				hd.wake_delivery = wake;
				hd.oauth_signed_in = oauth_signed_in;
				hd.metrics = metrics;
				hd.api_token = token;
				hd.arg = &d;
				/* HTTPS, or plain HTTP on purpose */
				hd.tls_cert_file = c->server.http_tls_cert;
				hd.tls_key_file = c->server.http_tls_key;
				hd.insecure = c->server.http_insecure &&
				    !net_spec_is_loopback(c->server.http_listen);
				if (http_start(c->server.http_listen, &hd, &http, &e) < 0) {
					fprintf(stderr, "outpost: web page and API: %s\n", e.msg);
					rc = e.kind == ERR_CONFIG ? 78 : 69;
					fail = 1;
				}
			}
		}
		if (!fail) {
			char url[300];

			snprintf(url, sizeof(url), "%s://%s/",
			    c->server.http_tls_cert != NULL ? "https" : "http",
			    c->server.http_listen);
			log_event(LOG_INFO, "start", "version", OUTPOST_VERSION,
			    "config", path != NULL ? path : "(built-in defaults)",
			    "data_dir", c->server.data_dir,
			    "smtp", c->server.smtp_listen[0] ? c->server.smtp_listen : "off",
			    "web", c->server.http_listen[0] ? url : "off", NULL);
			if (c->server.http_listen[0] != '\0') {
				if (c->server.api_token != NULL && c->server.api_token[0] != '\0')
					fprintf(stderr, "outpost: web page: %s (log in with api_token from %s)\n",
					    url, path);
				else if (created)
					/* the token itself is shown once, when it is made */
					fprintf(stderr, "outpost: web page: %s (log in with this token, kept in %s/api_token): %s\n",
					    url, c->server.data_dir, token);
				else
					fprintf(stderr, "outpost: web page: %s (log in with the token in %s/api_token)\n",
					    url, c->server.data_dir);
			}
			if (conf_profile_first_enabled(c) == NULL)
				log_event(LOG_WARN, "start", "note",
				    "no enabled profile: mail is accepted and held until you add one "
				    "(web page or [profile NAME] in outpost.conf)", NULL);
		}
		settings_put(d.settings, c);
		if (fail)
			goto out;
	}
	/* [server] user: ports bound, files open; root is given up here */
	{
		const struct conf *c = settings_get(d.settings);

		rc = serve_priv_drop(c->server.data_dir, &priv);
		settings_put(d.settings, c);
		if (rc != 0)
			goto out;
	}
	submit_file(d.settings);
	sd_notify_state("READY=1");

	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			sd_notify_reloading();
			if (settings_reload(d.settings, &e) == 0) {
				submit_file(d.settings);
				wake(&d);
			}
			sd_notify_state("READY=1");
			continue;
		}
		log_event(LOG_INFO, "stop", "signal", sig == SIGTERM ? "TERM" : "INT", NULL);
		break;
	}
	rc = 0;
out:
	sd_notify_state("STOPPING=1");
	grace_end = clock_mono_ms() + SERVE_GRACE_MS;
	if (lst != NULL)
		listener_stop(lst, SERVE_GRACE_MS);
	http_stop(http);
	if (q != NULL)
		queue_watch(q, NULL, NULL, NULL);       /* no more wake-ups */
	webhook_stop(webhooks);        /* events for the application */
	webhooks = NULL;
	left = grace_end - clock_mono_ms();
	if (left < SERVE_GRACE_MIN_MS)
		left = SERVE_GRACE_MIN_MS;
	if (d.relay != NULL && relay_stop(d.relay, (int)left) < 0) {
		/* a delivery still in progress: its message stays claimed and
		 * is recovered at the next start; leave without freeing what
		 * its thread may still use */
		log_event(LOG_WARN, "stop", "note",
		    "a delivery was still in progress; it will be retried at the next start", NULL);
		stuck = 1;
		kept.listener = lst;
		kept.queue = q;
		kept.relay = d.relay;
	}
	if (!stuck) {
		relay_free(d.relay);
		queue_close(q);
		listener_free(lst);
		settings_free(d.settings);
		cluster_conf_free(d.cluster);
		metrics_free(metrics);
		serve_unlock(lock_fd);
	}
	/* stuck: the lock stays until the process ends */
	conf_free(conf);
	if (rc == 0)
		log_event(LOG_INFO, "stopped", NULL);
	return rc;
}
