/*
 * cmd_sendmail.c - `outpost sendmail [-t] [-i] [-f ADDR] [-F NAME] [RCPT...]`,
 * also run when the binary is called as `sendmail` (and `mailq`, which is
 * `sendmail -bp`): the command line through which cron, PHP's mail(), git
 * send-email, mutt and many others hand over mail.
 *
 * The message is read whole from standard input (at most [server]
 * max_message_size bytes), checked, completed, and committed to the queue
 * at [server] data_dir directly, so this works whether the daemon runs or
 * not; the daemon delivers it (at once if it runs, else when it starts).
 * Exit 0 only once queue_submit() returned, i.e. the message is on disk.
 * Nothing is printed on success (with -v: the message id).
 *
 * A user who may not read the settings (EACCES) or write the SQLite queue
 * in data_dir (an ordinary user of the packaged service) hands the
 * message, checked and completed the same way, to the daemon's SMTP
 * listener instead (sendmail_handoff.h): exit 0 after the daemon's 250 to
 * the final dot, which follows its durable commit.  Bare local names are
 * then resolved by the daemon's aliases.
 *
 * What is done to the message, as sendmail and Postfix do:
 *   - With -t, the addresses of the To, Cc and Bcc fields are recipients,
 *     added to those given as arguments (Postfix's rule; duplicates are
 *     kept once).
 *   - Bcc and Resent-Bcc fields are removed, with or without -t (Postfix
 *     does the same: a blind copy never shows its list), and so is a
 *     leading "From " mailbox line.
 *   - Missing From, Date and Message-ID fields are added at the top of
 *     the header, in the message's own line-end style.  From is the
 *     envelope sender with the -F full name; Message-ID is
 *     <random@[server] hostname>.
 *   - Nothing else changes: the body is stored as given (LF or CRLF; the
 *     SMTP client sends CRLF and dot-stuffs on the wire).
 *   - Without -i, a line holding only "." ends the message (traditional
 *     sendmail; what follows is not read); with -i, -oi or -O IgnoreDots
 *     such a line is part of the message and only the end of input ends it.
 *
 * Envelope sender: -f ADDR (or -r ADDR; "" or "<>" is the null sender).
 * Without -f: the `from` of the first enabled profile (an address the
 * provider accepts); else the one address of the message's From field;
 * else LOGIN@hostname, LOGIN being the name of the user running the
 * command ("nobody" if it has none) and hostname [server] hostname.
 *
 * Recipients given as arguments: one address per argument, validated by
 * addr_parse_mailbox() like every address (invalid ones are refused, never
 * repaired: an argument "`cmd`@x" or "$(cmd)" is data that is checked and
 * refused or stored, never given to a shell).  A bare local name ("root",
 * as cron gives it), as an argument or with -t in a To, Cc or Bcc field,
 * stands for the addresses of its entry in [server] aliases (else of the
 * entry "default"); without one it is refused (65) with a hint naming
 * `aliases` (config/aliases.h).
 *
 * Options of other sendmails are accepted and ignored (see sm_parse()).
 * Those that take an argument (-X LOGFILE, -C CONFIG, -o, -O, -B, -N, -R,
 * -V, -L, -h, ...) consume it, attached ("-Xfile") or as the next word,
 * so it is never taken for a recipient, and nothing they name is ever
 * opened: Outpost reads its settings from $OUTPOST_CONFIG or the usual
 * places (docs/commands.md) and logs to stderr.
 *   -bm   deliver (the default)         -bp, mailq   list the queue
 *   -bs   SMTP on stdin: refused (64); use the listener
 *   -bd, -bD   refused (64): the daemon is `outpost serve`
 *   -bi, -I    (newaliases) check the settings and [server] aliases: 0,
 *              or 78 with the problems (the file is read as it is, at
 *              every use; there is no database to rebuild)
 *   -q[...]    nothing to do: the daemon runs the queue, exit 0
 *
 * Exit codes (sysexits.h): 0 queued (or nothing to do); 64 usage (unknown
 * option, no recipient, an unsupported -b mode); 65 bad data (an invalid
 * address, a malformed header, a NUL byte anywhere in the message, a
 * message over max_message_size; in a hand-off the daemon's 5xx); 69 the
 * hand-off cannot work (the listener requires AUTH or is off); 74
 * standard input could not be read; 75 not queued (the queue could not be
 * opened or written: disk full, locked; in a hand-off the daemon does not
 * answer or answers 4xx) - the caller still has the message and may try
 * again; 78 configuration error.
 */
#include <errno.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/sendmail_handoff.h"
#include "config/aliases.h"
#include "mail/addr.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "queue/queue.h"
#include "relay/webhook.h"
#include "smtp/data.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/net.h"

#define SM_USAGE "sendmail [-t] [-i] [-f ADDR] [-F NAME] [-v] [RCPT...]"
#define SM_PREFIX "outpost sendmail: "
#define SM_READ_CHUNK 65536        /* bytes read from stdin at a time */
#define SM_ADDED_MAX 4096          /* the From, Date and Message-ID added */
#define SM_SHOW_MAX 128            /* an argument quoted in a message */

/* Options that take an argument, attached or as the next word: Postfix's
 * sendmail (A B C F L N O R V X b e f h o p r) and sendmail 8's -d. */
#define SM_ARG_OPTS "ABCFLNORVXbdefhopr"
/* Options without an argument: Postfix's and sendmail 8's flags. */
#define SM_FLAG_OPTS "GIUcimnstvx"

enum sm_mode {
	SM_DELIVER = 0,            /* -bm: read a message and queue it */
	SM_LIST,                   /* -bp, mailq */
	SM_NOTHING,                /* -q: nothing to do here */
	SM_NEWALIASES,             /* -bi, -I: check the aliases file */
};

struct sm_opts {
	int mode;                  /* enum sm_mode */
	int extract;               /* -t */
	int ignore_dots;           /* -i, -oi, -O IgnoreDots */
	int verbose;               /* -v */
	const char *from;          /* -f / -r, NULL if not given */
	const char *fullname;      /* -F, NULL if not given */
	char **rcpts;              /* the arguments after the options */
	int nrcpts;
};

/* Quote s (an argument) safely in a message: control bytes escaped,
 * cut to SM_SHOW_MAX. */
static const char *
show(char dst[SM_SHOW_MAX], const char *s)
{
	log_sanitize(dst, SM_SHOW_MAX, s);
	return dst;
}

static int
sm_usage_error(const char *what, const char *arg)
{
	char sh[SM_SHOW_MAX];

	if (arg != NULL)
		fprintf(stderr, SM_PREFIX "%s%s\n", what, show(sh, arg));
	else
		fprintf(stderr, SM_PREFIX "%s\n", what);
	return cli_usage(SM_USAGE);
}

static void
sm_help(void)
{
	printf("usage: outpost " SM_USAGE "\n"
	    "       sendmail [options] [RCPT...]   (the binary called as sendmail)\n\n"
	    "Queue the message on standard input for delivery.  Nothing is printed\n"
	    "when it is queued (exit 0).\n\n"
	    "  -t        recipients also from the To, Cc and Bcc fields\n"
	    "  -i, -oi   a line with a single \".\" does not end the message\n"
	    "  -f ADDR   envelope sender (default: the first enabled profile's from)\n"
	    "  -F NAME   full name for the From field, when one is added\n"
	    "  -v        print the message id\n"
	    "  -bp       list the queue (like mailq)\n\n"
	    "Other sendmail options are accepted and ignored.  Bcc fields are\n"
	    "removed; missing From, Date and Message-ID fields are added.\n\n"
	    "A user who cannot write the queue hands the message to the daemon's\n"
	    "SMTP listener (smtp_listen, $OUTPOST_SUBMIT or /run/outpost/submit).\n\n"
	    "Exit codes: 0 queued, 64 usage, 65 bad address or message, 69 the\n"
	    "daemon's listener requires AUTH, 75 not queued (try again later),\n"
	    "78 configuration error.\n");
}

/* -O Option=value: only IgnoreDots means something here. */
static void
sm_long_option(struct sm_opts *o, const char *v)
{
	size_t n = strlen("IgnoreDots");

	if (strncasecmp(v, "IgnoreDots", n) != 0)
		return;
	if (v[n] == '\0')
		o->ignore_dots = 1;
	else if (v[n] == '=')
		o->ignore_dots = strcasecmp(v + n + 1, "true") == 0 ||
		    strcasecmp(v + n + 1, "yes") == 0 ||
		    strcasecmp(v + n + 1, "on") == 0;
}

/* -b MODE.  0, or an exit code. */
static int
sm_mode_option(struct sm_opts *o, const char *v)
{
	if (strcmp(v, "m") == 0) {
		o->mode = SM_DELIVER;
	} else if (strcmp(v, "p") == 0) {
		o->mode = SM_LIST;
	} else if (strcmp(v, "i") == 0) {
		o->mode = SM_NEWALIASES;
	} else if (strcmp(v, "s") == 0) {
		fprintf(stderr, SM_PREFIX "-bs (SMTP on standard input) is not "
		    "supported; hand mail to the SMTP listener ([server] "
		    "smtp_listen) instead\n");
		return 64;
	} else if (strcmp(v, "d") == 0 || strcmp(v, "D") == 0) {
		fprintf(stderr, SM_PREFIX "-b%s is not supported; the daemon is "
		    "`outpost serve`\n", v);
		return 64;
	} else {
		return sm_usage_error("unsupported mode -b", v);
	}
	return 0;
}

/*
 * Parse the options the way getopt() does for Postfix's sendmail: flags
 * may be grouped ("-ti"), an option's argument may be attached ("-fa@b")
 * or the next word ("-f a@b"); "--" ends the options, and so does the
 * first word that does not start with '-': every word after it is a
 * recipient (so a misplaced "-f" is refused as an address, never read as
 * an option).  Returns 0, -1 after --help (exit 0), or an exit code.
 */
static int
sm_parse(int argc, char **argv, struct sm_opts *o)
{
	const char *a, *p, *v;
	int i, rc;

	for (i = 1; i < argc; i++) {
		a = argv[i];
		if (a[0] != '-' || a[1] == '\0')
			break;
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "--help") == 0) {
			sm_help();
			return -1;
		}
		for (p = a + 1; *p != '\0'; p++) {
			if (*p == 'q') {
				/* -q, -q1h, -qIid, -qR..., -q!: a queue run,
				 * the rest of the word is its argument */
				o->mode = SM_NOTHING;
				break;
			}
			if (strchr(SM_FLAG_OPTS, *p) != NULL) {
				if (*p == 't')
					o->extract = 1;
				else if (*p == 'i')
					o->ignore_dots = 1;
				else if (*p == 'v')
					o->verbose = 1;
				else if (*p == 'I')
					o->mode = SM_NEWALIASES;
				continue;
			}
			if (strchr(SM_ARG_OPTS, *p) == NULL) {
				char opt[3] = { '-', *p, '\0' };

				return sm_usage_error("unknown option ", opt);
			}
			if (p[1] != '\0') {
				v = p + 1;
			} else if (i + 1 < argc) {
				v = argv[++i];
			} else {
				char opt[3] = { '-', *p, '\0' };

				fprintf(stderr, SM_PREFIX "option %s needs an "
				    "argument\n", opt);
				return cli_usage(SM_USAGE);
			}
			switch (*p) {
			case 'f':
			case 'r':
				o->from = v;
				break;
			case 'F':
				o->fullname = v;
				break;
			case 'o':
				if (strcmp(v, "i") == 0)
					o->ignore_dots = 1;
				break;
			case 'O':
				sm_long_option(o, v);
				break;
			case 'b':
				if ((rc = sm_mode_option(o, v)) != 0)
					return rc;
				break;
			default:
				/* -A -B -C -L -N -R -V -X -d -e -h -p: the
				 * argument is skipped, never opened */
				break;
			}
			break;          /* the rest of the word was the argument */
		}
	}
	o->rcpts = argv + i;
	o->nrcpts = argc - i;
	return 0;
}

/* 1 if line[0..n) (without its LF) is a lone ".", optionally with CR. */
static int
is_dot_line(const char *line, size_t n)
{
	return (n == 1 && line[0] == '.') ||
	    (n == 2 && line[0] == '.' && line[1] == '\r');
}

/*
 * Read the message from fd into msg (whose max must leave room for one
 * chunk past max): all of it, or with dots (not -i) up to a line holding
 * only ".", which is not kept.  ERR_DATA when it is longer than max bytes;
 * ERR_IO when reading fails.
 */
static int
sm_read(int fd, int ignore_dots, uint64_t max, struct buf *msg,
    struct op_err *e)
{
	char *chunk = mem_alloc(SM_READ_CHUNK);
	size_t scan = 0;       /* start of the first line not yet checked */
	const char *nl;
	ssize_t n;
	int rc = -1, done = 0;

	while (!done) {
		n = read(fd, chunk, SM_READ_CHUNK);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err_set(e, ERR_IO, "cannot read the message from standard "
			    "input: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (buf_append(msg, chunk, (size_t)n, e) < 0)
			goto too_big;
		while (!ignore_dots && scan < msg->len &&
		    (nl = memchr(msg->data + scan, '\n', msg->len - scan)) != NULL) {
			size_t len = (size_t)(nl - (msg->data + scan));

			if (is_dot_line(msg->data + scan, len)) {
				msg->len = scan;
				msg->data[scan] = '\0';
				done = 1;
				break;
			}
			scan += len + 1;
		}
		if (msg->len > max)
			goto too_big;
	}
	if (!done && !ignore_dots && scan < msg->len &&
	    is_dot_line(msg->data + scan, msg->len - scan)) {
		msg->len = scan;
		msg->data[scan] = '\0';
	}
	rc = 0;
	goto out;
too_big:
	err_set(e, ERR_DATA, "the message is larger than max_message_size "
	    "(%llu bytes); nothing was queued", (unsigned long long)max);
out:
	free(chunk);
	return rc;
}

/*
 * The envelope sender when -f was not given (see the top of the file),
 * into mb.  Never fails: the last choice is LOGIN@hostname, and if even
 * that is not an address, nobody@localhost.
 */
static void
sm_default_sender(const char *pfrom, const char *hostname,
    const struct hdr_block *hb, struct addr_mailbox *mb)
{
	const char *from = hdr_get(hb, "From");
	const struct passwd *pw;
	struct addr_list l;
	char addr[ADDR_MAILBOX_MAX + 2];
	int ok = 0;

	if (pfrom != NULL && pfrom[0] != '\0' &&
	    addr_parse_mailbox(pfrom, mb, NULL) == 0)
		return;
	if (from != NULL) {
		addr_list_init(&l, 2);
		if (hdr_parse_addr_list(from, &l, NULL) == 0 && l.n == 1) {
			*mb = l.v[0];
			ok = 1;
		}
		addr_list_free(&l);
		if (ok)
			return;
	}
	pw = getpwuid(getuid());
	if ((size_t)snprintf(addr, sizeof(addr), "%s@%s",
	    pw != NULL && pw->pw_name[0] != '\0' ? pw->pw_name : "nobody",
	    hostname != NULL && hostname[0] != '\0' ? hostname : "localhost")
	    < sizeof(addr) && addr_parse_mailbox(addr, mb, NULL) == 0)
		return;
	addr_parse_mailbox("nobody@localhost", mb, NULL);
}

/*
 * Append to out the From, Date and Message-ID fields hb lacks, in the
 * message's line-end style.  from is the From address (not empty).
 */
static int
sm_missing_headers(const struct hdr_block *hb, const char *from,
    const char *fullname, const char *hostname, struct buf *out,
    struct op_err *e)
{
	struct mime_addr a = { from, fullname };
	char date[64], msgid[MIME_MSGID_MAX];
	struct buf h;
	size_t i;
	int rc = -1;

	buf_init(&h, SM_ADDED_MAX);
	if (!hdr_has(hb, "From") &&
	    mime_write_addr_header(&h, "From", &a, 1, NULL, e) < 0) {
		err_prefix(e, "cannot add a From field (-f, -F)");
		goto out;
	}
	if (!hdr_has(hb, "Date")) {
		clock_rfc5322((int64_t)time(NULL), date, sizeof(date));
		if (buf_printf(&h, e, "Date: %s\r\n", date) < 0)
			goto out;
	}
	if (!hdr_has(hb, "Message-ID")) {
		/* a hostname that cannot stand in a Message-ID (it is checked
		 * by the configuration) falls back to localhost */
		if ((hostname == NULL || mime_message_id(hostname, msgid,
		    sizeof(msgid), NULL) < 0) &&
		    mime_message_id("localhost", msgid, sizeof(msgid), e) < 0)
			goto out;
		if (buf_printf(&h, e, "Message-ID: %s\r\n", msgid) < 0)
			goto out;
	}
	if (hb->crlf) {
		if (h.len > 0 && buf_append(out, h.data, h.len, e) < 0)
			goto out;
	} else {
		for (i = 0; i < h.len; i++)
			if (h.data[i] != '\r' && buf_append(out, &h.data[i], 1, e) < 0)
				goto out;
	}
	rc = 0;
out:
	buf_free(&h);
	return rc;
}

/* What resolves a bare local name: the settings' aliases, or (hand-off)
 * the daemon's. */
struct sm_names {
	const struct conf *conf;   /* NULL when handoff */
	int handoff;
};

/* A bare local name (aliases.h): add the addresses it stands for; in a
 * hand-off the name itself, for the daemon's listener to resolve. */
static int
sm_local(void *arg, const char *name, struct addr_list *out, struct op_err *e)
{
	const struct sm_names *names = arg;
	const struct conf *conf = names->conf;
	struct addr_mailbox mb;
	char *const *t;
	size_t n, i;

	if (!aliases_is_local(name))
		return addr_parse_mailbox(name, &mb, e);    /* its error */
	if (names->handoff) {
		memset(&mb, 0, sizeof(mb));
		if (str_copy(mb.addr, sizeof(mb.addr), name) < 0)
			return err_set(e, ERR_DATA, "the local name '%.64s...' is "
			    "too long", name);
		mb.local_len = strlen(mb.addr);
		return addr_list_add(out, &mb, 1, e);
	}
	if (aliases_lookup(conf->alias_map, name, &t, &n, e) < 0)
		return -1;
	for (i = 0; i < n; i++)
		if (addr_parse_mailbox(t[i], &mb, e) < 0 ||
		    addr_list_add(out, &mb, 1, e) < 0)
			return err_prefix(e, "the alias of '%s' in %s",
			    name, conf->server.aliases);
	return 0;
}

/* Queue the message: returns an exit code. */
static int
sm_deliver(struct cli_ctx *ctx, const struct sm_opts *o)
{
	struct conf *conf = NULL;
	struct queue *q = NULL;
	struct addr_list rcpts;
	struct addr_mailbox sender, mb;
	struct hdr_block hb;
	struct buf msg, out;
	struct queue_new qn;
	const char **rv = NULL;
	const char *f;
	char id[QUEUE_ID_SIZE], sh[SM_SHOW_MAX];
	struct op_err e;
	struct sm_handoff ho;
	struct sm_names names = { NULL, 0 };
	uint64_t max;
	int rc, i, null_sender = 0;
	size_t k;

	memset(&hb, 0, sizeof(hb));
	memset(&sender, 0, sizeof(sender));
	addr_list_init(&rcpts, QUEUE_RCPTS_MAX);
	buf_init(&msg, 0);
	buf_init(&out, 0);

	/* the command reports outcomes itself; the log only for errors */
	if (ctx->verbose == 0)
		log_set_level(LOG_ERROR);
	/* A user who may not read the settings or write the queue hands the
	 * message to the daemon (sendmail_handoff.h). */
	if (sm_handoff_settings_denied(conf_find_path(ctx->config_path))) {
		names.handoff = 1;
	} else {
		if ((rc = cli_load_conf(ctx, &conf)) != 0)
			goto out;
		names.conf = conf;
		names.handoff = sm_handoff_queue_denied(conf);
	}
	if (sm_handoff_where(conf, &ho, &e) < 0) {
		fprintf(stderr, SM_PREFIX "the settings cannot be read by this "
		    "user, so the message goes to the daemon, but: %s\n", e.msg);
		rc = ERR_CONFIG;
		goto out;
	}
	max = ho.max_message_size > 0 ? ho.max_message_size :
	    SM_MAX_MESSAGE_DEFAULT;

	/* Everything on the command line is checked before stdin is read. */
	rc = ERR_DATA;
	if (o->from != NULL) {
		f = o->from;
		if (strcmp(f, "") == 0 || strcmp(f, "<>") == 0) {
			null_sender = 1;
		} else {
			char bare[ADDR_MAILBOX_MAX + 1];
			size_t n = strlen(f);

			/* "-f <a@b>" is written by some programs */
			if (n > 2 && f[0] == '<' && f[n - 1] == '>' &&
			    n - 2 < sizeof(bare)) {
				memcpy(bare, f + 1, n - 2);
				bare[n - 2] = '\0';
				f = bare;
			}
			if (addr_parse_mailbox(f, &sender, &e) < 0) {
				fprintf(stderr, SM_PREFIX "invalid sender address "
				    "'%s' (-f): %s\n", show(sh, o->from), e.msg);
				goto out;
			}
		}
	}
	if (o->fullname != NULL && (strpbrk(o->fullname, "\r\n") != NULL ||
	    strlen(o->fullname) > MIME_NAME_MAX)) {
		fprintf(stderr, SM_PREFIX "invalid full name (-F): it must be "
		    "one line of at most %d bytes\n", MIME_NAME_MAX);
		goto out;
	}
	for (i = 0; i < o->nrcpts; i++) {
		if (aliases_is_local(o->rcpts[i])) {
			if (sm_local(&names, o->rcpts[i], &rcpts, &e) < 0) {
				fprintf(stderr, SM_PREFIX "%s\n", e.msg);
				goto out;
			}
			continue;
		}
		if (addr_parse_mailbox(o->rcpts[i], &mb, &e) < 0) {
			fprintf(stderr, SM_PREFIX "invalid recipient address "
			    "'%s': %s\n", show(sh, o->rcpts[i]), e.msg);
			goto out;
		}
		if (addr_list_add(&rcpts, &mb, 1, &e) < 0) {
			fprintf(stderr, SM_PREFIX "%s\n", e.msg);
			goto out;
		}
	}
	if (rcpts.n == 0 && !o->extract) {
		fprintf(stderr, SM_PREFIX "no recipients: name them as arguments, "
		    "or use -t to take them from the To, Cc and Bcc fields\n");
		rc = cli_usage(SM_USAGE);
		goto out;
	}

	/* The message: read whole before anything is queued. */
	buf_init(&msg, (size_t)max + SM_READ_CHUNK);
	if (sm_read(0, o->ignore_dots, max, &msg, &e) < 0) {
		fprintf(stderr, SM_PREFIX "%s\n", e.msg);
		rc = e.kind == ERR_DATA ? ERR_DATA : ERR_IO;
		goto out;
	}
	/* The listener's rule (smtp/data.h): no NUL, header or body. */
	if (smtp_data_check_nul(msg.data, msg.len, &e) < 0) {
		fprintf(stderr, SM_PREFIX "the message was not queued: %s\n",
		    e.msg);
		goto out;
	}
	if (hdr_parse(msg.len > 0 ? msg.data : "", msg.len, &hb, &e) < 0) {
		fprintf(stderr, SM_PREFIX "the message header is malformed: %s\n",
		    e.msg);
		goto out;
	}
	if (o->extract) {
		if (hdr_recipients_local(&hb, sm_local, &names, &rcpts, &e) < 0) {
			fprintf(stderr, SM_PREFIX "%s\n", e.msg);
			goto out;
		}
		if (rcpts.n == 0) {
			fprintf(stderr, SM_PREFIX "no recipients: the message has "
			    "no address in a To, Cc or Bcc field, and none was "
			    "given as an argument\n");
			goto out;
		}
	}
	if (o->from == NULL)
		sm_default_sender(ho.from, ho.hostname, &hb, &sender);
	if (null_sender) {
		/* a From field still needs an address */
		sm_default_sender(ho.from, ho.hostname, &hb, &mb);
		f = mb.addr;
	} else {
		f = sender.addr;
	}

	/* The message stored: added fields, then the message without Bcc. */
	buf_init(&out, (size_t)max + SM_ADDED_MAX);
	if (sm_missing_headers(&hb, f, o->fullname, ho.hostname[0] != '\0' ?
	    ho.hostname : NULL, &out, &e) < 0 || hdr_strip_bcc(msg.len > 0 ? msg.data : "", msg.len, &hb,
	    &out, &e) < 0) {
		fprintf(stderr, SM_PREFIX "%s\n", e.msg);
		goto out;
	}
	buf_free(&msg);

	rv = mem_alloc(rcpts.n * sizeof(*rv));
	for (k = 0; k < rcpts.n; k++)
		rv[k] = rcpts.v[k].addr;
	if (names.handoff) {
		rc = sm_handoff_send(&ho, null_sender ? "" : sender.addr, rv,
		    rcpts.n, out.len > 0 ? out.data : "", out.len, o->verbose);
		goto out;
	}
	memset(&qn, 0, sizeof(qn));
	qn.sender = null_sender ? "" : sender.addr;
	qn.rcpts = rv;
	qn.nrcpts = rcpts.n;
	qn.body = out.len > 0 ? out.data : "";
	qn.len = out.len;
	qn.state = conf_profile_first_enabled(conf) != NULL ?
	    QUEUE_MSG_QUEUED : QUEUE_MSG_HELD;
	qn.profile = NULL;

	/* No QUEUE_OPEN_CHECK: the daemon checks at start; this must be quick. */
	if (queue_open_db(conf->server.data_dir, conf->server.database,
	    conf->server.node, 0, &q, &e) < 0) {
		fprintf(stderr, SM_PREFIX "the message was not queued: %s\n", e.msg);
		rc = ERR_TEMP;
		goto out;
	}
	/* events for the application: this process's outcomes too */
	if (webhook_hooks_set(q, conf, &e) < 0)
		fprintf(stderr, SM_PREFIX "%s\n", e.msg);
	if (queue_submit(q, &qn, id, &e) < 0) {
		fprintf(stderr, SM_PREFIX "the message was not queued: %s\n", e.msg);
		rc = e.kind == ERR_DATA ? ERR_DATA : ERR_TEMP;
		goto out;
	}
	{
		char nr[16];

		snprintf(nr, sizeof(nr), "%zu", rcpts.n);
		log_event(LOG_INFO, "sendmail_queued", "id", id, "from", qn.sender,
		    "rcpts", nr, "state", queue_msg_state_name(qn.state), NULL);
	}
	if (o->verbose)
		printf("queued as %s%s\n", id, qn.state == QUEUE_MSG_HELD ?
		    " (held: no profile is enabled yet)" : "");
	rc = 0;
out:
	queue_close(q);
	free(rv);
	hdr_block_free(&hb);
	buf_free(&msg);
	buf_free(&out);
	addr_list_free(&rcpts);
	conf_free(conf);
	fflush(stdout);
	return rc;
}

int
cmd_sendmail(struct cli_ctx *ctx, int argc, char **argv)
{
	struct sm_opts o;
	char *list_argv[] = { (char *)"queue", (char *)"list", NULL };
	int rc;

	memset(&o, 0, sizeof(o));
	if (strcmp(program_invocation_short_name, "mailq") == 0)
		o.mode = SM_LIST;
	rc = sm_parse(argc, argv, &o);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	switch (o.mode) {
	case SM_LIST:
		return cmd_queue(ctx, 2, list_argv);
	case SM_NEWALIASES: {
		struct conf *conf = NULL;

		/* the aliases file is read at every use: only check it */
		rc = cli_load_conf(ctx, &conf);
		conf_free(conf);
		return rc;
	}
	case SM_NOTHING:
		if (o.verbose)
			printf("nothing to do: the Outpost daemon (outpost serve) "
			    "delivers the queue\n");
		return 0;
	default:
		return sm_deliver(ctx, &o);
	}
}
