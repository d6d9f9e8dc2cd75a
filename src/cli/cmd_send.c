/*
 * cmd_send.c - `outpost send --from A --to B [--to C]... [--cc C]...
 * [--bcc D]... --subject S [--text FILE] [--html FILE] [--attach FILE]...
 * [--header "K: V"]... [--profile P] [--now]`: compose a message
 * (mail/mime.h: the same composer as POST /api/messages), queue it, and
 * print its id; with --now, deliver it at once and wait for the outcome.
 *
 * Input:
 *   - Addresses: "user@example.org", "<user@example.org>" or
 *     "Display Name <user@example.org>" (the name may be in double quotes
 *     and may be UTF-8: it is RFC 2047-encoded).  One address per option;
 *     repeat the option for more.  Bcc addresses are envelope only: they
 *     never reach a header.  Invalid addresses are refused, not repaired.
 *   - --text FILE and --html FILE: UTF-8 files; "-" reads standard input
 *     (for one of them).  Text and HTML make multipart/alternative.
 *   - --attach FILE: the file's base name and content (type detected by
 *     mime_detect_type()); multipart/mixed.
 *   - --header "Name: value": an extra field (Reply-To, List-Unsubscribe,
 *     X-...); From, To, Cc, Subject, Date, Message-ID, MIME-Version and
 *     Content-* are refused (they have their own options or are written
 *     by Outpost).
 *   - Every file, and the composed message, is bounded by [server]
 *     max_message_size.
 *
 * Output: the message id on one line (stdout).  With --now, then one line
 * per recipient: "ADDRESS: STATE: REPLY", the server's final reply (or the
 * local failure, such as "connection refused").
 *
 * --now stores the message already claimed (state "sending") so the
 * daemon cannot take it too, and delivers it in this process through the
 * profiles, with failover (relay_send_now(): the daemon's own delivery
 * code).  A message not delivered at once
 * stays in the queue: the daemon retries deferred recipients on the retry
 * schedule.
 *
 * Exit codes (sysexits.h):
 *   0  queued (without --now), or delivered to every recipient (--now)
 *  64  usage: unknown option, missing --from, --to/--cc/--bcc or --subject
 *  65  bad data: an invalid address, header, file content or a message
 *      over max_message_size; with --now: at least one recipient refused
 *      for good (5xx) and none left to retry (the output says which)
 *  66  a file cannot be read
 *  69  --now: no profile could be reached (connection, TLS); the message
 *      stays queued and is retried
 *  75  not queued (queue not writable, disk full); or --now: delivery was
 *      deferred (4xx, or no enabled profile: held) - it stays queued
 *  77  --now: the server refused the login; the message stays queued
 *  78  configuration error, or --profile names no enabled profile
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "mail/addr.h"
#include "mail/mime.h"
#include "queue/queue.h"
#include "relay/webhook.h"
#include "relay/deliver.h"
#include "relay/relay.h"
#include "smtp/client.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/net.h"

#define SEND_USAGE \
	"send --from A --to B [--to C]... [--cc C]... [--bcc D]... --subject S\n" \
	"               [--text FILE] [--html FILE] [--attach FILE]... " \
	"[--header \"K: V\"]...\n" \
	"               [--profile P] [--now]"
#define SEND_PREFIX "outpost send: "
#define SEND_READ_CHUNK 65536
#define SEND_SHOW_MAX 128          /* an argument quoted in a message */
/* Room to compose in: encoded parts grow at most 3.1 times (QP: "=XX" per
 * octet and a soft break every 76 characters), headers and MIME
 * boundaries add a bounded amount. */
#define SEND_COMPOSE_FACTOR 4
#define SEND_COMPOSE_SLACK (1024 * 1024)

struct send_addr {
	struct addr_mailbox mb;
	char *name;                /* display name, NULL if none */
};

struct send_opts {
	const char *from;
	const char **to, **cc, **bcc, **attach, **headers;
	size_t nto, ncc, nbcc, natt, nhdr;
	const char *subject;
	const char *text, *html;   /* file names, "-" for stdin */
	const char *profile;
	int now;
};

static const char *
show(char dst[SEND_SHOW_MAX], const char *s)
{
	log_sanitize(dst, SEND_SHOW_MAX, s);
	return dst;
}

/* Print text from the store to stdout with control bytes replaced: the
 * store keeps sanitised text, and this keeps a terminal safe regardless. */
static void
put_safe(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}


static void
send_help(void)
{
	printf("usage: outpost " SEND_USAGE "\n\n"
	    "Compose a message, queue it and print its id.\n\n"
	    "  --from A          sender: \"a@example.org\" or \"Name <a@example.org>\"\n"
	    "  --to, --cc, --bcc recipient (repeat for more); Bcc is envelope only\n"
	    "  --subject S       subject (UTF-8)\n"
	    "  --text FILE       plain text body (UTF-8); \"-\" reads standard input\n"
	    "  --html FILE       HTML body (UTF-8); with --text: multipart/alternative\n"
	    "  --attach FILE     attach a file (repeat for more)\n"
	    "  --header \"K: V\"   an extra header field (repeat for more)\n"
	    "  --profile P       deliver through profile P\n"
	    "  --now             deliver now and print each recipient's reply\n\n"
	    "Exit codes: 0 queued (--now: delivered), 64 usage, 65 bad data or\n"
	    "refused for good, 66 file not readable, 69 no server reachable,\n"
	    "75 not queued or deferred, 77 login refused, 78 configuration.\n");
}

/* "outpost send: BEFORE[ARG][AFTER]" and the usage line; returns 64. */
static int
send_usage_error(const char *before, const char *arg, const char *after)
{
	char sh[SEND_SHOW_MAX];

	fprintf(stderr, SEND_PREFIX "%s%s%s\n", before,
	    arg != NULL ? show(sh, arg) : "", after != NULL ? after : "");
	return cli_usage(SEND_USAGE);
}

/* Parse the command line into o (arrays allocated, sized argc).
 * 0, -1 after --help, or an exit code. */
static int
send_parse(int argc, char **argv, struct send_opts *o)
{
	const char *v;
	int i;

	o->to = mem_alloc((size_t)argc * sizeof(*o->to));
	o->cc = mem_alloc((size_t)argc * sizeof(*o->cc));
	o->bcc = mem_alloc((size_t)argc * sizeof(*o->bcc));
	o->attach = mem_alloc((size_t)argc * sizeof(*o->attach));
	o->headers = mem_alloc((size_t)argc * sizeof(*o->headers));
	for (i = 1; i < argc; i++) {
		v = NULL;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			send_help();
			return -1;
		} else if (strcmp(argv[i], "--now") == 0) {
			o->now = 1;
			continue;
		} else if (cli_option_value(argc, argv, &i, "--from", &v)) {
			if (v != NULL && o->from != NULL)
				return send_usage_error("--from is given twice", NULL, NULL);
			o->from = v;
		} else if (cli_option_value(argc, argv, &i, "--to", &v)) {
			o->to[o->nto++] = v;
		} else if (cli_option_value(argc, argv, &i, "--cc", &v)) {
			o->cc[o->ncc++] = v;
		} else if (cli_option_value(argc, argv, &i, "--bcc", &v)) {
			o->bcc[o->nbcc++] = v;
		} else if (cli_option_value(argc, argv, &i, "--subject", &v)) {
			o->subject = v;
		} else if (cli_option_value(argc, argv, &i, "--text", &v)) {
			o->text = v;
		} else if (cli_option_value(argc, argv, &i, "--html", &v)) {
			o->html = v;
		} else if (cli_option_value(argc, argv, &i, "--attach", &v)) {
			if (v != NULL && strcmp(v, "-") == 0)
				return send_usage_error("--attach needs a file: "
				    "standard input has no file name", NULL, NULL);
			o->attach[o->natt++] = v;
		} else if (cli_option_value(argc, argv, &i, "--header", &v)) {
			o->headers[o->nhdr++] = v;
		} else if (cli_option_value(argc, argv, &i, "--profile", &v)) {
			o->profile = v;
		} else if (argv[i][0] == '-') {
			return send_usage_error("unknown option ", argv[i], NULL);
		} else {
			return send_usage_error("unexpected argument ", argv[i],
			    " (recipients go after --to, --cc or --bcc)");
		}
		if (v == NULL)
			return send_usage_error("option ", argv[i], " needs a value");
	}
	if (o->from == NULL)
		return send_usage_error("--from ADDR is required", NULL, NULL);
	if (o->nto + o->ncc + o->nbcc == 0)
		return send_usage_error("at least one recipient (--to, --cc or "
		    "--bcc) is required", NULL, NULL);
	if (o->subject == NULL)
		return send_usage_error("--subject is required (it may be "
		    "empty: --subject '')", NULL, NULL);
	if (o->text != NULL && o->html != NULL && strcmp(o->text, "-") == 0 &&
	    strcmp(o->html, "-") == 0)
		return send_usage_error("only one of --text and --html can read "
		    "standard input", NULL, NULL);
	return 0;
}

/* "a@b", "<a@b>", "Name <a@b>", "\"Name, Jr.\" <a@b>" into out (name
 * allocated, NULL if none), by the parser the API and the settings use. */
static int
send_parse_addr(const char *s, struct send_addr *out, struct op_err *e)
{
	char name[ADDR_NAME_MAX + 1];

	out->name = NULL;
	if (addr_parse_display(s, &out->mb, name, sizeof(name), e) < 0)
		return -1;
	if (name[0] != '\0')
		out->name = str_dup(name);
	return 0;
}

/* Read a whole file ("-": standard input) into out, at most max bytes.
 * ERR_NOINPUT if it cannot be read, ERR_DATA if it is too large. */
static int
send_read_file(const char *path, size_t max, struct buf *out,
    struct op_err *e)
{
	char sh[SEND_SHOW_MAX];
	char *chunk = NULL;
	int fd, rc = -1;
	ssize_t n;

	buf_init(out, max);
	if (strcmp(path, "-") == 0)
		fd = 0;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return err_set(e, ERR_NOINPUT, "cannot open %s: %s",
		    show(sh, path), strerror(errno));
	chunk = mem_alloc(SEND_READ_CHUNK);
	for (;;) {
		n = read(fd, chunk, SEND_READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set(e, ERR_NOINPUT, "cannot read %s: %s",
			    fd == 0 ? "standard input" : show(sh, path),
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (buf_append(out, chunk, (size_t)n, e) < 0) {
			err_set(e, ERR_DATA, "%s is larger than max_message_size "
			    "(%zu bytes)", fd == 0 ? "standard input" :
			    show(sh, path), max);
			goto out;
		}
	}
	rc = 0;
out:
	free(chunk);
	if (fd > 0)
		close(fd);
	return rc;
}

/*
 * After --now: print each recipient's outcome and return the exit code
 * (see the top of the file).  res is the last SMTP result (may be empty).
 */
static int
send_report(struct queue *q, const char *id, const struct smtp_result *res)
{
	struct queue_set set;
	const struct queue_msg *m;
	struct op_err e;
	size_t i, nsent = 0, nfailed = 0, nopen = 0, nreplied = 0;
	char when[32];
	int rc;

	memset(&set, 0, sizeof(set));
	if (queue_get(q, id, &set, &e) < 0 || set.n != 1) {
		fprintf(stderr, SEND_PREFIX "cannot read the outcome of message "
		    "%s: %s\n", id, set.n != 1 && e.kind == ERR_NONE ?
		    "it is gone" : e.msg);
		queue_set_free(&set);
		return ERR_TEMP;
	}
	m = &set.msgs[0];
	for (i = 0; i < m->nrcpts; i++) {
		const struct queue_rcpt *r = &m->rcpts[i];

		put_safe(r->address);
		printf(": %s", queue_rcpt_state_name(r->state));
		if (r->code != 0)
			printf(": %d", r->code);
		if (r->code != 0 && r->enhanced != NULL && r->enhanced[0] != '\0') {
			putchar(' ');
			put_safe(r->enhanced);
		}
		if (r->reply != NULL && r->reply[0] != '\0') {
			fputs(r->code != 0 ? " " : ": ", stdout);
			put_safe(r->reply);
		}
		putchar('\n');
		switch (r->state) {
		case QUEUE_RCPT_SENT:
			nsent++;
			break;
		case QUEUE_RCPT_FAILED:
			nfailed++;
			break;
		default:
			nopen++;
			if (r->code != 0)
				nreplied++;
			break;
		}
	}
	if (m->state == QUEUE_MSG_HELD) {
		fprintf(stderr, SEND_PREFIX "message %s is held: no profile is "
		    "enabled; it is delivered once one is\n", id);
		rc = ERR_TEMP;
	} else if (nopen > 0) {
		clock_iso8601(m->next_attempt, when, sizeof(when));
		fprintf(stderr, SEND_PREFIX "not delivered to %zu of %zu "
		    "recipient%s yet: ", nopen, m->nrcpts, m->nrcpts == 1 ? "" : "s");
		if (m->last_error != NULL && m->last_error[0] != '\0') {
			fflush(stdout);
			for (i = 0; m->last_error[i] != '\0'; i++)
				fputc((unsigned char)m->last_error[i] < 0x20 ?
				    '?' : m->last_error[i], stderr);
		} else {
			fputs(res->msg[0] != '\0' ? res->msg : "not attempted", stderr);
		}
		fprintf(stderr, "\n  it stays queued and is retried at %s "
		    "(outpost queue show %s)\n", when, id);
		if (res->fail == SMTP_FAIL_AUTH)
			rc = ERR_NOPERM;
		else if (nreplied == 0 && m->attempts > 0)
			rc = ERR_UNAVAILABLE;
		else
			rc = ERR_TEMP;
	} else if (nfailed > 0) {
		fprintf(stderr, SEND_PREFIX "refused for good for %zu of %zu "
		    "recipient%s (not retried)\n", nfailed, m->nrcpts,
		    m->nrcpts == 1 ? "" : "s");
		rc = ERR_DATA;
	} else {
		rc = nsent > 0 ? 0 : ERR_TEMP;
	}
	queue_set_free(&set);
	return rc;
}

/*
 * --now: deliver message dm (taken) here.  It was stored already claimed
 * (QUEUE_MSG_SENDING), so the daemon never takes it, and its body is still
 * in memory.  Returns the exit code.
 */
static int
send_now(const struct conf *conf, struct queue *q, struct deliver_msg *dm)
{
	struct smtp_result res;
	char id[QUEUE_ID_SIZE];
	int rc;

	str_copy(id, sizeof(id), dm->id);
	smtp_result_init(&res);
	relay_send_now(conf, q, NULL, dm, &res);
	rc = send_report(q, id, &res);
	smtp_result_free(&res);
	return rc;
}

/* --header "Name: value" into h (pointers into a copy kept in *keep).
 * 0 or an exit code. */
static int
send_parse_header(const char *arg, struct mime_header *h, char **keep)
{
	char sh[SEND_SHOW_MAX];
	struct op_err e;
	char *copy, *colon, *name, *value;
	size_t n;

	copy = str_dup(arg);
	*keep = copy;
	if ((colon = strchr(copy, ':')) == NULL)
		return send_usage_error("--header ", arg,
		    ": write it as \"Name: value\"");
	*colon = '\0';
	name = copy;
	n = strlen(name);
	while (n > 0 && (name[n - 1] == ' ' || name[n - 1] == '\t'))
		name[--n] = '\0';
	value = colon + 1;
	while (*value == ' ' || *value == '\t')
		value++;
	if (mime_header_allowed(name, &e) < 0) {
		fprintf(stderr, SEND_PREFIX "--header %s: %s\n", show(sh, arg),
		    e.msg);
		return ERR_DATA;
	}
	if (value[0] == '\0' || strpbrk(value, "\r\n") != NULL) {
		fprintf(stderr, SEND_PREFIX "--header %s: the value must be one "
		    "line and not empty\n", show(sh, arg));
		return ERR_DATA;
	}
	h->name = name;
	h->value = value;
	return 0;
}

/* Addresses of one option into v (and the envelope list). 0 or 65. */
static int
send_addrs(const char *opt, const char **args, size_t n,
    struct send_addr *v, struct mime_addr *ma, struct addr_list *env)
{
	char sh[SEND_SHOW_MAX];
	struct op_err e;
	size_t i;

	for (i = 0; i < n; i++) {
		if (send_parse_addr(args[i], &v[i], &e) < 0) {
			fprintf(stderr, SEND_PREFIX "%s '%s': %s\n", opt,
			    show(sh, args[i]), e.msg);
			return ERR_DATA;
		}
		if (ma != NULL) {
			ma[i].addr = v[i].mb.addr;
			ma[i].name = v[i].name;
		}
		if (env != NULL && addr_list_add(env, &v[i].mb, 1, &e) < 0) {
			fprintf(stderr, SEND_PREFIX "%s\n", e.msg);
			return ERR_DATA;
		}
	}
	return 0;
}

int
cmd_send(struct cli_ctx *ctx, int argc, char **argv)
{
	struct send_opts o;
	struct conf *conf = NULL;
	const struct conf_profile *p = NULL;
	struct queue *q = NULL;
	struct send_addr from, *to = NULL, *cc = NULL, *bcc = NULL;
	struct mime_addr *mto = NULL, *mcc = NULL;
	struct mime_attachment *att = NULL;
	struct mime_header *hdrs = NULL;
	char **hkeep = NULL;
	struct buf text, html, *attbuf = NULL, msg;
	struct addr_list env;
	struct mime_msg m;
	struct mime_info info;
	struct queue_new qn;
	struct deliver_msg *dm = NULL;
	const char **rv = NULL;
	char id[QUEUE_ID_SIZE], sh[SEND_SHOW_MAX];
	struct op_err e;
	size_t i, max, raw;
	int rc;

	memset(&o, 0, sizeof(o));
	memset(&m, 0, sizeof(m));
	memset(&from, 0, sizeof(from));
	buf_init(&text, 0);
	buf_init(&html, 0);
	buf_init(&msg, 0);
	addr_list_init(&env, QUEUE_RCPTS_MAX);

	rc = send_parse(argc, argv, &o);
	if (rc != 0) {
		rc = rc < 0 ? 0 : rc;
		goto out;
	}
	/* the command reports outcomes itself; the log only for errors */
	if (ctx->verbose == 0)
		log_set_level(LOG_ERROR);
	if ((rc = cli_load_conf(ctx, &conf)) != 0)
		goto out;
	max = (size_t)conf->server.max_message_size;

	/* Addresses. */
	to = mem_alloc((o.nto + 1) * sizeof(*to));
	cc = mem_alloc((o.ncc + 1) * sizeof(*cc));
	bcc = mem_alloc((o.nbcc + 1) * sizeof(*bcc));
	mto = mem_alloc((o.nto + 1) * sizeof(*mto));
	mcc = mem_alloc((o.ncc + 1) * sizeof(*mcc));
	if ((rc = send_addrs("--from", &o.from, 1, &from, NULL, NULL)) != 0 ||
	    (rc = send_addrs("--to", o.to, o.nto, to, mto, &env)) != 0 ||
	    (rc = send_addrs("--cc", o.cc, o.ncc, cc, mcc, &env)) != 0 ||
	    (rc = send_addrs("--bcc", o.bcc, o.nbcc, bcc, NULL, &env)) != 0)
		goto out;
	if (o.nto + o.ncc > MIME_ADDRS_MAX) {
		fprintf(stderr, SEND_PREFIX "more than %d --to and --cc "
		    "addresses\n", MIME_ADDRS_MAX);
		rc = ERR_DATA;
		goto out;
	}

	/* Profile. */
	if (o.profile != NULL) {
		if ((p = conf_profile_find(conf, o.profile)) == NULL) {
			fprintf(stderr, SEND_PREFIX "there is no profile called "
			    "'%s' in %s\n", show(sh, o.profile),
			    conf->path != NULL ? conf->path : "the settings");
			rc = ERR_CONFIG;
			goto out;
		}
		if (!p->enabled) {
			fprintf(stderr, SEND_PREFIX "profile %s is not enabled "
			    "(enabled = yes in its section)\n", p->name);
			rc = ERR_CONFIG;
			goto out;
		}
	}

	/* Headers. */
	if (o.nhdr > MIME_HEADERS_MAX) {
		fprintf(stderr, SEND_PREFIX "more than %d --header fields\n",
		    MIME_HEADERS_MAX);
		rc = ERR_DATA;
		goto out;
	}
	hdrs = mem_alloc((o.nhdr + 1) * sizeof(*hdrs));
	hkeep = mem_alloc((o.nhdr + 1) * sizeof(*hkeep));
	for (i = 0; i < o.nhdr; i++)
		if ((rc = send_parse_header(o.headers[i], &hdrs[i], &hkeep[i])) != 0)
			goto out;

	/* Bodies and attachments. */
	rc = ERR_DATA;
	if (o.natt > MIME_ATTACH_MAX) {
		fprintf(stderr, SEND_PREFIX "more than %d attachments\n",
		    MIME_ATTACH_MAX);
		goto out;
	}
	if (o.text != NULL && send_read_file(o.text, max, &text, &e) < 0)
		goto file_error;
	if (o.html != NULL && send_read_file(o.html, max, &html, &e) < 0)
		goto file_error;
	att = mem_alloc((o.natt + 1) * sizeof(*att));
	attbuf = mem_alloc((o.natt + 1) * sizeof(*attbuf));
	for (i = 0; i < o.natt; i++) {
		const char *base = strrchr(o.attach[i], '/');

		if (send_read_file(o.attach[i], max, &attbuf[i], &e) < 0)
			goto file_error;
		att[i].filename = base != NULL ? base + 1 : o.attach[i];
		att[i].content_type = NULL;         /* mime_detect_type() */
		att[i].data = attbuf[i].data != NULL ? attbuf[i].data : "";
		att[i].len = attbuf[i].len;
	}

	/* Compose. */
	m.from.addr = from.mb.addr;
	m.from.name = from.name;
	m.to = mto;
	m.nto = o.nto;
	m.cc = mcc;
	m.ncc = o.ncc;
	m.subject = o.subject;
	if (o.text != NULL) {
		m.text = text.data != NULL ? text.data : "";
		m.text_len = text.len;
	}
	if (o.html != NULL) {
		m.html = html.data != NULL ? html.data : "";
		m.html_len = html.len;
	}
	m.att = att;
	m.natt = o.natt;
	m.headers = hdrs;
	m.nheaders = o.nhdr;
	m.msgid_domain = NULL;                  /* the From domain */
	m.date = (int64_t)time(NULL);
	/*
	 * Encoding only makes content larger, so inputs larger than
	 * max_message_size together cannot fit.  Inputs that do are composed
	 * with room for the worst expansion (quoted-printable triples an
	 * octet, plus soft line breaks), so a failure of mime_compose() is
	 * about the data, and the size is checked on the result.
	 */
	raw = text.len + html.len;
	for (i = 0; i < o.natt; i++)
		raw += attbuf[i].len;
	if (raw > max) {
		fprintf(stderr, SEND_PREFIX "the message would be larger than "
		    "max_message_size (%zu bytes): its parts have %zu bytes "
		    "before encoding\n", max, raw);
		goto out;
	}
	buf_init(&msg, SEND_COMPOSE_FACTOR * max + SEND_COMPOSE_SLACK);
	if (mime_compose(&m, &msg, &info, &e) < 0) {
		fprintf(stderr, SEND_PREFIX "%s\n", e.msg);
		rc = e.kind;
		goto out;
	}
	if (msg.len > max) {
		fprintf(stderr, SEND_PREFIX "the message is larger than "
		    "max_message_size (%zu bytes) once encoded: %zu bytes\n",
		    max, msg.len);
		goto out;
	}
	buf_free(&text);
	buf_free(&html);

	/* Queue. */
	rv = mem_alloc(env.n * sizeof(*rv));
	for (i = 0; i < env.n; i++)
		rv[i] = env.v[i].addr;
	memset(&qn, 0, sizeof(qn));
	qn.sender = from.mb.addr;
	qn.rcpts = rv;
	qn.nrcpts = env.n;
	qn.body = msg.data;
	qn.len = msg.len;
	qn.profile = p != NULL ? p->name : NULL;
	/* with --now the message is stored claimed by us: the daemon, if it
	 * runs, never races us for it */
	qn.state = conf_profile_first_enabled(conf) == NULL ? QUEUE_MSG_HELD :
	    o.now ? QUEUE_MSG_SENDING : QUEUE_MSG_QUEUED;
	if (queue_open_db(conf->server.data_dir, conf->server.database,
	    conf->server.node, 0, &q, &e) < 0) {
		fprintf(stderr, SEND_PREFIX "the message was not queued: %s\n",
		    e.msg);
		rc = ERR_TEMP;
		goto out;
	}
	/* events for the application: this process's outcomes too */
	if (webhook_hooks_set(q, conf, &e) < 0)
		fprintf(stderr, SEND_PREFIX "%s\n", e.msg);
	if (queue_submit(q, &qn, id, &e) < 0) {
		fprintf(stderr, SEND_PREFIX "the message was not queued: %s\n",
		    e.msg);
		rc = e.kind == ERR_DATA ? ERR_DATA : ERR_TEMP;
		goto out;
	}
	if (qn.state == QUEUE_MSG_SENDING) {
		/* delivered from memory: the body is not read back */
		size_t len;
		char *body = buf_detach(&msg, &len);

		dm = deliver_msg_new(id, qn.sender, qn.rcpts, qn.nrcpts,
		    qn.profile, body, len);
	}
	buf_free(&msg);
	{
		char nr[16];

		snprintf(nr, sizeof(nr), "%zu", env.n);
		log_event(LOG_INFO, "send_queued", "id", id, "from", qn.sender,
		    "rcpts", nr, "message_id", info.message_id, "state",
		    queue_msg_state_name(qn.state), NULL);
	}
	printf("%s\n", id);
	fflush(stdout);
	rc = 0;
	if (o.now) {
		if (qn.state == QUEUE_MSG_HELD) {
			fprintf(stderr, SEND_PREFIX "message %s is held: no profile "
			    "is enabled; it is delivered once one is\n", id);
			rc = ERR_TEMP;
		} else {
			rc = send_now(conf, q, dm);
			dm = NULL;
		}
	} else if (qn.state == QUEUE_MSG_HELD) {
		fprintf(stderr, SEND_PREFIX "note: message %s is held until a "
		    "profile is enabled\n", id);
	}
	goto out;

file_error:
	fprintf(stderr, SEND_PREFIX "%s\n", e.msg);
	rc = e.kind;
out:
	fflush(stdout);
	deliver_msg_free(dm);
	queue_close(q);
	free(rv);
	buf_free(&msg);
	buf_free(&text);
	buf_free(&html);
	for (i = 0; attbuf != NULL && i < o.natt; i++)
		buf_free(&attbuf[i]);
	free(attbuf);
	free(att);
	for (i = 0; hkeep != NULL && i < o.nhdr; i++)
		free(hkeep[i]);
	free(hkeep);
	free(hdrs);
	free(from.name);
	for (i = 0; to != NULL && i < o.nto; i++)
		free(to[i].name);
	for (i = 0; cc != NULL && i < o.ncc; i++)
		free(cc[i].name);
	for (i = 0; bcc != NULL && i < o.nbcc; i++)
		free(bcc[i].name);
	free(to);
	free(cc);
	free(bcc);
	free(mto);
	free(mcc);
	free(o.to);
	free(o.cc);
	free(o.bcc);
	free(o.attach);
	free(o.headers);
	addr_list_free(&env);
	conf_free(conf);
	return rc;
}
