/*
 * sendmail_handoff.c - `outpost sendmail` hands the message to the local
 * daemon's SMTP listener when the queue is out of this user's reach (see
 * sendmail_handoff.h), with the one SMTP client (smtp/client.h), plain
 * SMTP on loopback, never AUTH and never a password.
 *
 * All or nothing: MAIL, each RCPT and DATA go in lock-step; if the daemon
 * refuses the sender or any recipient, RSET ends the transaction and
 * nothing was queued (as when sendmail refuses an address itself).  The
 * daemon answers the final dot with 250 only after its durable commit, so
 * exit 0 means what it means when sendmail writes the queue itself.
 */
#include "cli/sendmail_handoff.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/queue.h"
#include "smtp/client.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/net.h"

#define SM_PREFIX "outpost sendmail: "
#define SM_TIMEOUT_S 120         /* every phase; the dot waits for a commit */
#define SM_CONNECT_TIMEOUT_S 5
#define SM_FIX "start the daemon (systemctl start outpost, or outpost " \
	"serve), or name its listener with OUTPOST_SUBMIT=host:port"

int
sm_handoff_settings_denied(const char *path)
{
	int fd;

	if (path == NULL)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return errno == EACCES || errno == EPERM;
}

int
sm_handoff_queue_denied(const struct conf *conf)
{
	char db[4096];
	const char *dir = conf->server.data_dir;

	if (conf->server.database != NULL && conf->server.database[0] != '\0')
		return 0;               /* a database server: its own rights */
	if (dir == NULL)
		return 0;
	if (access(dir, F_OK) < 0)
		return errno == EACCES;  /* a missing one is made, as before */
	if (access(dir, W_OK | X_OK) < 0)
		return errno == EACCES;
	if ((size_t)snprintf(db, sizeof(db), "%s/queue.db", dir) >= sizeof(db))
		return 0;
	return access(db, F_OK) == 0 && access(db, R_OK | W_OK) < 0 &&
	    errno == EACCES;
}

/* One "key=value" line of a submit file. */
static int
submit_line(struct sm_handoff *h, const char *path, unsigned lineno,
    char *line, struct op_err *e)
{
	char *v = strchr(line, '=');
	uint64_t n;

	if (line[0] == '\0' || line[0] == '#')
		return 0;
	if (v == NULL)
		return err_set(e, ERR_CONFIG, "%s:%u: not a key=value line; the "
		    "daemon rewrites this file when it starts", path, lineno);
	*v++ = '\0';
	if (strcmp(line, "smtp") == 0) {
		str_copy(h->listen, sizeof(h->listen), strcmp(v, "off") == 0 ?
		    "" : v);
	} else if (strcmp(line, "hostname") == 0) {
		str_copy(h->hostname, sizeof(h->hostname), v);
	} else if (strcmp(line, "from") == 0) {
		struct addr_mailbox mb;

		if (v[0] != '\0' && addr_parse_mailbox(v, &mb, NULL) == 0)
			str_copy(h->from, sizeof(h->from), mb.addr);
	} else if (strcmp(line, "max_message_size") == 0) {
		if (conf_parse_size(v, &n) == 0)
			h->max_message_size = n;
	} else if (strcmp(line, "smtp_auth") == 0) {
		h->smtp_auth = strcmp(v, "yes") == 0;
	}
	return 0;
}

/* Read a submit file into h.  1 read, 0 absent, -1 malformed, unreadable
 * or larger than SM_SUBMIT_MAX. */
static int
submit_read(const char *path, struct sm_handoff *h, struct op_err *e)
{
	struct buf text;
	struct stat st;
	char *line, *nl;
	unsigned lineno = 0;
	int rc = -1;

	if (stat(path, &st) < 0 && errno == ENOENT)
		return 0;
	buf_init(&text, SM_SUBMIT_MAX);
	if (conf_read_file(path, &text, SM_SUBMIT_MAX, "; the daemon writes "
	    "this file when it starts: restart it, or point OUTPOST_SUBMIT at "
	    "the file it writes", NULL, e) < 0)
		goto out;
	if (text.len > 0 && memchr(text.data, '\0', text.len) != NULL) {
		err_set(e, ERR_CONFIG, "%s is not a submit file", path);
		goto out;
	}
	for (line = text.data; line != NULL && *line != '\0'; line = nl) {
		nl = strchr(line, '\n');
		if (nl != NULL)
			*nl++ = '\0';
		if (submit_line(h, path, ++lineno, line, e) < 0)
			goto out;
	}
	snprintf(h->source, sizeof(h->source), "%s", path);
	rc = 1;
out:
	buf_free(&text);
	return rc;
}

int
sm_handoff_where(const struct conf *conf, struct sm_handoff *h,
    struct op_err *e)
{
	const char *env = getenv("OUTPOST_SUBMIT");
	const struct conf_profile *p;
	char host[256], port[16];
	int rc;

	memset(h, 0, sizeof(*h));
	if (conf != NULL) {
		str_copy(h->listen, sizeof(h->listen), conf->server.smtp_listen);
		str_copy(h->source, sizeof(h->source), "smtp_listen in the "
		    "settings");
		if (conf->server.hostname != NULL)
			str_copy(h->hostname, sizeof(h->hostname),
			    conf->server.hostname);
		p = conf_profile_first_enabled(conf);
		if (p != NULL && p->from != NULL)
			str_copy(h->from, sizeof(h->from), p->from);
		h->max_message_size = conf->server.max_message_size;
		h->smtp_auth = conf->server.smtp_auth;
		return 0;
	}
	if (env != NULL && env[0] != '\0' && env[0] != '/') {
		if (strlen(env) >= sizeof(h->listen) || net_split_hostport(env,
		    host, sizeof(host), port, sizeof(port), e) < 0)
			return err_set(e, ERR_CONFIG, "OUTPOST_SUBMIT=%.200s is "
			    "not host:port (e.g. 127.0.0.1:2525) nor the path of "
			    "a submit file", env);
		str_copy(h->listen, sizeof(h->listen), env);
		str_copy(h->source, sizeof(h->source), "OUTPOST_SUBMIT");
		return 0;
	}
	str_copy(h->listen, sizeof(h->listen), SM_HANDOFF_DEFAULT);
	rc = submit_read(env != NULL && env[0] == '/' ? env : SM_SUBMIT_FILE,
	    h, e);
	if (rc < 0)
		return -1;
	if (rc == 0 && env != NULL && env[0] == '/')
		return err_set(e, ERR_CONFIG, "OUTPOST_SUBMIT names %.300s, which "
		    "does not exist; the daemon writes it when it starts", env);
	if (rc == 0)
		str_copy(h->source, sizeof(h->source), "the default; "
		    SM_SUBMIT_FILE " does not exist");
	return 0;
}

/* The outcome of a refusal: 75 for 4xx and local failures, else 65. */
static int
refusal_code(const struct smtp_result *r)
{
	return r->reply.code >= 500 ? ERR_DATA : ERR_TEMP;
}

int
sm_handoff_send(const struct sm_handoff *h, const char *sender,
    const char *const *rcpts, size_t nrcpts, const char *body, size_t len,
    int verbose)
{
	struct smtp_params p;
	struct smtp_session *s = NULL;
	struct smtp_result r;
	struct smtp_body b;
	struct smtp_mem_body mb;
	char host[256], port[16];
	struct op_err e;
	unsigned long pn;
	int rc = ERR_TEMP, flags = 0;
	size_t i;

	smtp_result_init(&r);
	if (h->listen[0] == '\0') {
		fprintf(stderr, SM_PREFIX "this user cannot write the queue, and "
		    "the daemon's SMTP listener is off (%s), so the message cannot "
		    "be handed to it: set smtp_listen = " SM_HANDOFF_DEFAULT " in "
		    "[server] and reload the daemon\n", h->source);
		rc = ERR_UNAVAILABLE;
		goto out;
	}
	if (h->smtp_auth) {
		fprintf(stderr, SM_PREFIX "this user cannot write the queue, and "
		    "the daemon's SMTP listener at %s requires AUTH (smtp_auth = "
		    "yes), which sendmail does not do: run sendmail as a user who "
		    "can write data_dir (the outpost group), or have the program "
		    "submit over SMTP with its [client] name and password\n",
		    h->listen);
		rc = ERR_UNAVAILABLE;
		goto out;
	}
	if (net_split_hostport(h->listen, host, sizeof(host), port,
	    sizeof(port), &e) < 0) {
		fprintf(stderr, SM_PREFIX "the daemon's listener address '%s' "
		    "(%s): %s\n", h->listen, h->source, e.msg);
		rc = ERR_CONFIG;
		goto out;
	}
	pn = strtoul(port, NULL, 10);
	smtp_params_init(&p);
	p.host = host;
	p.port = (unsigned)pn;
	p.security = SMTP_SEC_NONE;
	p.auth = 0;
	p.helo_name = "localhost";
	p.timeout_s = SM_TIMEOUT_S;
	p.connect_timeout_s = SM_CONNECT_TIMEOUT_S;
	p.log_name = "sendmail";

	if (smtp_client_open(&p, &s, &r) < 0) {
		if (r.phase == SMTP_PHASE_GREETING && r.reply.code >= 500) {
			fprintf(stderr, SM_PREFIX "the daemon at %s refused the "
			    "connection: %s\n", h->listen, r.msg);
			rc = ERR_UNAVAILABLE;
		} else if (r.reply.code >= 400) {
			fprintf(stderr, SM_PREFIX "the daemon at %s cannot take "
			    "mail now: %s; the message was not sent, try again "
			    "later\n", h->listen, r.msg);
		} else {
			fprintf(stderr, SM_PREFIX "this user may not use the "
			    "queue, so the message goes to the Outpost daemon, but "
			    "its SMTP listener at %s (%s) does not answer: %s; the "
			    "message was not sent: " SM_FIX "\n", h->listen,
			    h->source, r.msg);
		}
		goto out;
	}
	smtp_body_from_mem(&b, &mb, body, len);
	if (b.eightbit)
		flags |= SMTP_MAIL_8BITMIME;
	for (i = 0; i < nrcpts; i++)
		for (const char *c = rcpts[i]; *c != '\0'; c++)
			if ((unsigned char)*c >= 0x80)
				flags |= SMTP_MAIL_SMTPUTF8;
	for (const char *c = sender; *c != '\0'; c++)
		if ((unsigned char)*c >= 0x80)
			flags |= SMTP_MAIL_SMTPUTF8;

	if (smtp_client_mail(s, sender, b.size, flags, &r) < 0) {
		if (r.reply.code == 530) {
			fprintf(stderr, SM_PREFIX "this user cannot write the "
			    "queue, and the daemon's SMTP listener at %s requires "
			    "AUTH (smtp_auth = yes), which sendmail does not do: "
			    "run sendmail as a user who can write data_dir, or "
			    "have the program submit over SMTP with its [client] "
			    "name and password (%s)\n", h->listen, r.msg);
			rc = ERR_UNAVAILABLE;
		} else {
			rc = refusal_code(&r);
			fprintf(stderr, SM_PREFIX "the daemon at %s refused the "
			    "sender '%s': %s\n", h->listen, sender[0] ? sender :
			    "<>", r.msg);
		}
		goto quit;
	}
	for (i = 0; i < nrcpts; i++) {
		if (smtp_client_rcpt(s, rcpts[i], &r) < 0) {
			char sh[128];

			rc = refusal_code(&r);
			log_sanitize(sh, sizeof(sh), rcpts[i]);
			fprintf(stderr, SM_PREFIX "the daemon at %s refused the "
			    "recipient '%s', so nothing was sent: %s\n", h->listen,
			    sh, r.msg);
			goto rset;
		}
	}
	if (smtp_client_data(s, &b, &r) < 0) {
		rc = refusal_code(&r);
		if (r.reply.code == 0)
			fprintf(stderr, SM_PREFIX "the message was handed to the "
			    "daemon at %s but its answer was lost (%s): it may or "
			    "may not be queued; try again later\n", h->listen, r.msg);
		else
			fprintf(stderr, SM_PREFIX "the daemon at %s did not take "
			    "the message: %s\n", h->listen, r.msg);
		goto quit;
	}
	log_event(LOG_INFO, "sendmail_handoff", "to", h->listen, "from", sender,
	    NULL);
	if (verbose)
		printf("handed to the daemon at %s: %s\n", h->listen,
		    r.reply.text != NULL ? r.reply.text : "250");
	rc = 0;
	goto quit;
rset:
	{
		struct smtp_result rr;

		smtp_result_init(&rr);
		smtp_client_rset(s, &rr);
		smtp_result_free(&rr);
	}
quit:
	smtp_client_quit(s);
out:
	smtp_client_free(s);
	smtp_result_free(&r);
	return rc;
}

/* The listener as a client on this machine reaches it. */
static void
submit_listen(const char *listen, char *dst, size_t dstsz)
{
	char host[256], port[16];

	if (listen[0] == '\0') {
		str_copy(dst, dstsz, "off");
		return;
	}
	if (net_split_hostport(listen, host, sizeof(host), port, sizeof(port),
	    NULL) == 0) {
		if (strcmp(host, "0.0.0.0") == 0 || host[0] == '\0' ||
		    strcmp(host, "*") == 0) {
			snprintf(dst, dstsz, "127.0.0.1:%s", port);
			return;
		}
		if (strcmp(host, "[::]") == 0 || strcmp(host, "::") == 0) {
			snprintf(dst, dstsz, "[::1]:%s", port);
			return;
		}
	}
	str_copy(dst, dstsz, listen);
}

/* Write all of n bytes, through short writes and EINTR. */
static int
submit_write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Called from the reload paths (HTTP and SIGHUP), which may run at once:
 * each writer has its own temporary file (mkostemp in the same directory),
 * written fully, fsynced and renamed over the submit file, so a reader
 * sees the old file or a whole new one.
 */
void
sm_submit_write(const struct conf *conf)
{
	const char *dir = getenv("RUNTIME_DIRECTORY");
	const struct conf_profile *p = conf_profile_first_enabled(conf);
	char d[1024], path[1100], tmp[1100], listen[300];
	const char *colon;
	struct buf text;
	struct op_err e;
	int fd = -1;

	if (dir == NULL || dir[0] != '/')
		return;
	/* several RuntimeDirectory entries are colon-separated: the first */
	colon = strchr(dir, ':');
	snprintf(d, sizeof(d), "%.*s", colon != NULL ? (int)(colon - dir) :
	    (int)strlen(dir), dir);
	snprintf(path, sizeof(path), "%s/" SM_SUBMIT_NAME, d);
	snprintf(tmp, sizeof(tmp), "%s/." SM_SUBMIT_NAME ".XXXXXX", d);
	submit_listen(conf->server.smtp_listen, listen, sizeof(listen));
	buf_init(&text, SM_SUBMIT_MAX);
	if (buf_printf(&text, &e, "# written by outpost serve for `outpost "
	    "sendmail` run by users who cannot write the queue\n"
	    "smtp=%s\nhostname=%s\nfrom=%s\nmax_message_size=%llu\n"
	    "smtp_auth=%s\n", listen,
	    conf->server.hostname != NULL ? conf->server.hostname : "",
	    p != NULL && p->from != NULL ? p->from : "",
	    (unsigned long long)conf->server.max_message_size,
	    conf->server.smtp_auth ? "yes" : "no") < 0)
		goto fail;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err_set(&e, ERR_IO, "cannot create a file in %s: %s", d,
		    strerror(errno));
		goto fail;
	}
	if (fchmod(fd, 0644) < 0 || submit_write_all(fd, text.data,
	    text.len) < 0 || fsync(fd) < 0) {
		err_set(&e, ERR_IO, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto fail;
	}
	if (close(fd) < 0) {
		err_set(&e, ERR_IO, "%s: %s", tmp, strerror(errno));
		unlink(tmp);
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		err_set(&e, ERR_IO, "%s: %s", path, strerror(errno));
		unlink(tmp);
		goto fail;
	}
	buf_free(&text);
	return;
fail:
	log_event(LOG_WARN, "submit_file", "error", e.msg, "note",
	    "ordinary users' sendmail falls back to " SM_HANDOFF_DEFAULT, NULL);
	buf_free(&text);
}
