/*
 * cmd_queue.c - the queue from the command line:
 *   outpost queue list [--status S] [--limit N] [--json]
 *   outpost queue show ID [--json]
 *   outpost queue retry ID | --all | --status S
 *   outpost queue delete ID
 * (`sendmail -bp` and `mailq` run `queue list`.)
 *
 * The store is opened directly at [server] data_dir (queue_open() without
 * QUEUE_OPEN_CHECK), so these work whether the daemon runs or not; the
 * daemon picks up a retried message within RELAY_POLL_MS.
 *
 * Output is for people: a table for list (the last error cut to the
 * terminal's width, or to LIST_ERROR_COLS when stdout is not a terminal),
 * labelled lines for show; --json prints the same objects as the HTTP API
 * (GET /api/messages, GET /api/messages/{id}).  Everything read from the
 * store is printed with control characters replaced (peer text is already
 * sanitised when it is stored; this keeps a terminal safe regardless).
 *
 * Exit codes (sysexits.h): 0 ok; 64 usage (unknown subcommand, option or
 * status); 65 retry refused (nothing to retry: every recipient was
 * delivered); 66 no message with that id; 74 the queue cannot be used
 * (data_dir cannot be created, the database is damaged or is not a queue
 * database); 75 the store is busy (locked by another process, disk full,
 * or the message is being sent right now: try again); 78 configuration
 * (or a database made by a newer Outpost).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "http/msg_json.h"
#include "mail/encode.h"
#include "mail/header.h"
#include "queue/queue.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/net.h"

#define QUEUE_USAGE \
	"queue list [--status S] [--limit N] [--json] | show ID [--json] | " \
	"retry ID | retry --all | retry --status S | delete ID"
#define Q_PREFIX "outpost queue: "
#define LIST_LIMIT_DEFAULT 100
#define LIST_ERROR_COLS 60         /* last error when not on a terminal */
#define LIST_ERROR_MIN_COLS 16     /* ... and at least this on a terminal */
#define LIST_SENDER_MAX_COLS 40
#define SUBJECT_SCAN_MAX (64 * 1024) /* header bytes read for the Subject */
#define SHOW_ARG_MAX 64

/* Display columns of UTF-8 text (one per code point; no East Asian wide
 * forms: good enough for addresses and sanitised replies). */
static size_t
text_cols(const char *s)
{
	size_t n = 0;

	for (; s != NULL && *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/*
 * Print s to f, at most cols columns (0: no limit); when it is cut, the
 * last three columns are "...".  Bytes that are not well-formed UTF-8 and
 * control characters (C0, DEL, C1) are printed as '?'.  With pad, spaces
 * fill up to cols.
 */
static void
put_cell(FILE *f, const char *s, size_t cols, int pad)
{
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
	size_t len = strlen((const char *)p), used = 0, k;
	size_t room = cols;
	unsigned long cp;

	if (cols > 0 && text_cols((const char *)p) > cols)
		room = cols > 3 ? cols - 3 : 0;
	while (*p != '\0' && (cols == 0 || used < room)) {
		k = enc_utf8_char(p, len, &cp);
		if (k == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
			fputc('?', f);
			k = k == 0 ? 1 : k;
		} else {
			fwrite(p, 1, k, f);
		}
		p += k;
		len -= k;
		used++;
	}
	if (*p != '\0' && cols > 0) {
		for (k = 0; k < 3 && used < cols; k++, used++)
			fputc('.', f);
	}
	while (pad && used < cols) {
		fputc(' ', f);
		used++;
	}
}

static void
put_line(const char *label, const char *value)
{
	printf("  %-14s ", label);
	put_cell(stdout, value, 0, 0);
	putchar('\n');
}

static void
iso(int64_t t, char *dst, size_t dstsz)
{
	if (t <= 0)
		str_copy(dst, dstsz, "-");
	else
		clock_iso8601(t, dst, dstsz);
}

/* The exit code for a failed queue call (its op_err kind, a sysexits
 * value), after printing why. */
static int
q_fail(const char *what, const struct op_err *e)
{
	fprintf(stderr, Q_PREFIX "%s%s%s\n", what, what[0] ? ": " : "", e->msg);
	return e->kind != ERR_NONE ? e->kind : ERR_SOFTWARE;
}

/* The message id argument: 0, or an exit code after printing why. */
static int
q_check_id(const char *id)
{
	char sh[SHOW_ARG_MAX];

	if (queue_id_valid(id))
		return 0;
	log_sanitize(sh, sizeof(sh), id);
	fprintf(stderr, Q_PREFIX "no message with id %s (an id has %d "
	    "characters; see outpost queue list)\n", sh, QUEUE_ID_LEN);
	return ERR_NOINPUT;
}

/* ---- JSON, as the HTTP API shows messages ---- */

static int
print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2));

	json_decref(j);
	if (s == NULL) {
		fprintf(stderr, Q_PREFIX "cannot write JSON (out of memory)\n");
		return ERR_OSERR;
	}
	printf("%s\n", s);
	free(s);
	return 0;
}

/* ---- list ---- */

static size_t
terminal_cols(void)
{
	struct winsize ws;

	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 &&
	    ws.ws_col > 0)
		return ws.ws_col;
	return 0;
}

static void
list_table(const struct queue_set *set, const uint64_t counts[QUEUE_MSG_NSTATES],
    const struct queue_list_opts *lo)
{
	size_t i, scols = strlen("SENDER"), ecols, width, used;
	char created[32], num[32];
	int k, first = 1;

	for (i = 0; i < set->n; i++) {
		size_t c = set->msgs[i].sender[0] != '\0' ?
		    text_cols(set->msgs[i].sender) : 2;

		if (c > scols)
			scols = c;
	}
	if (scols > LIST_SENDER_MAX_COLS)
		scols = LIST_SENDER_MAX_COLS;
	/* ID STATE CREATED TRIES RCPTS SENDER, two spaces between columns */
	used = QUEUE_ID_LEN + 2 + 8 + 2 + 20 + 2 + 5 + 2 + 5 + 2 + scols + 2;
	width = terminal_cols();
	if (width == 0)
		ecols = LIST_ERROR_COLS;
	else
		ecols = width > used + LIST_ERROR_MIN_COLS ? width - used :
		    LIST_ERROR_MIN_COLS;

	if (set->n > 0) {
		printf("%-*s  %-8s  %-20s  %5s  %5s  ", QUEUE_ID_LEN, "ID", "STATE",
		    "CREATED", "TRIES", "RCPTS");
		put_cell(stdout, "SENDER", scols, 1);
		printf("  LAST ERROR\n");
	}
	for (i = 0; i < set->n; i++) {
		const struct queue_msg *m = &set->msgs[i];

		iso(m->created, created, sizeof(created));
		printf("%-*s  %-8s  %-20s  %5u  %5zu  ", QUEUE_ID_LEN, m->id,
		    queue_msg_state_name(m->state), created, m->attempts,
		    m->nrcpts_total);
		put_cell(stdout, m->sender[0] != '\0' ? m->sender : "<>", scols, 1);
		fputs("  ", stdout);
		put_cell(stdout, m->last_error != NULL ? m->last_error : "", ecols, 0);
		putchar('\n');
	}
	if (set->n == 0) {
		if (lo->state >= 0)
			printf("no message is %s\n", queue_msg_state_name(lo->state));
		else
			printf("the queue is empty\n");
	}
	printf("%zu message%s shown", set->n, set->n == 1 ? "" : "s");
	if (set->n == lo->limit)
		printf(" (the newest %zu; more with --limit)", lo->limit);
	printf("; in the queue:");
	for (k = 0; k < QUEUE_MSG_NSTATES; k++) {
		if (counts[k] == 0)
			continue;
		snprintf(num, sizeof(num), "%llu", (unsigned long long)counts[k]);
		printf("%s %s %s", first ? "" : ",", num, queue_msg_state_name(k));
		first = 0;
	}
	printf("%s\n", first ? " nothing" : "");
}

/* list's options into lo and *json: 0, or an exit code. */
static int
q_list_parse(int argc, char **argv, struct queue_list_opts *lo, int *json)
{
	unsigned long n;
	const char *v;
	char sh[SHOW_ARG_MAX];
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			*json = 1;
		} else if (strcmp(argv[i], "--status") == 0 ||
		    strncmp(argv[i], "--status=", 9) == 0) {
			v = argv[i][8] == '=' ? argv[i] + 9 :
			    i + 1 < argc ? argv[++i] : NULL;
			if (v == NULL) {
				fprintf(stderr, Q_PREFIX "--status needs a state\n");
				return cli_usage(QUEUE_USAGE);
			}
			if (strcmp(v, "all") == 0) {
				lo->state = -1;
				continue;
			}
			if ((lo->state = queue_msg_state_parse(v)) < 0) {
				log_sanitize(sh, sizeof(sh), v);
				fprintf(stderr, Q_PREFIX "unknown status '%s'; the "
				    "states are queued, sending, deferred, sent, "
				    "failed, held (or all)\n", sh);
				return cli_usage(QUEUE_USAGE);
			}
		} else if (strcmp(argv[i], "--limit") == 0 ||
		    strncmp(argv[i], "--limit=", 8) == 0) {
			v = argv[i][7] == '=' ? argv[i] + 8 :
			    i + 1 < argc ? argv[++i] : NULL;
			if (v == NULL || str_to_ulong(v, QUEUE_LIST_MAX, &n) < 0 ||
			    n == 0) {
				fprintf(stderr, Q_PREFIX "--limit takes a number "
				    "from 1 to %d\n", QUEUE_LIST_MAX);
				return cli_usage(QUEUE_USAGE);
			}
			lo->limit = n;
		} else {
			log_sanitize(sh, sizeof(sh), argv[i]);
			fprintf(stderr, Q_PREFIX "list: unexpected argument %s\n", sh);
			return cli_usage(QUEUE_USAGE);
		}
	}
	return 0;
}

static int
q_list(struct queue *q, const struct queue_list_opts *lo, int json)
{
	struct queue_set set;
	uint64_t counts[QUEUE_MSG_NSTATES];
	struct op_err e;
	json_t *j, *arr, *cj;
	size_t i;
	int k, rc;

	memset(&set, 0, sizeof(set));
	if (queue_list(q, lo, &set, &e) < 0 || queue_counts(q, counts, &e) < 0) {
		queue_set_free(&set);
		return q_fail("cannot list the queue", &e);
	}
	if (json) {
		arr = json_array();
		for (i = 0; i < set.n; i++)
			json_array_append_new(arr, msg_json_summary(&set.msgs[i]));
		cj = json_object();
		for (k = 0; k < QUEUE_MSG_NSTATES; k++)
			json_object_set_new(cj, queue_msg_state_name(k),
			    json_integer((json_int_t)counts[k]));
		j = json_object();
		json_object_set_new(j, "messages", arr);
		json_object_set_new(j, "counts", cj);
		json_object_set_new(j, "more", json_boolean(set.n == lo->limit));
		rc = print_json(j);
	} else {
		list_table(&set, counts, lo);
		rc = 0;
	}
	queue_set_free(&set);
	return rc;
}

/* ---- show ---- */

/* Value of a hex digit, or -1. */
static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode one encoded-word "=?charset?E?text?=" (RFC 2047 section 2),
 * s[0..n), into out when its charset is UTF-8 or US-ASCII.  -1 if it is
 * not such a word or does not decode; out is then unchanged. */
static int
decode_word(const char *s, size_t n, struct buf *out)
{
	const char *cs, *q, *text;
	size_t tlen, i, mark = out->len;
	int hi, lo, enc;
	char c;

	if (n < 8 || s[0] != '=' || s[1] != '?' || s[n - 2] != '?' ||
	    s[n - 1] != '=')
		return -1;
	cs = s + 2;
	q = memchr(cs, '?', n - 4);
	if (q == NULL || q + 3 > s + n - 2 || q[2] != '?')
		return -1;
	if (!((q - cs == 5 && strncasecmp(cs, "utf-8", 5) == 0) ||
	    (q - cs == 8 && strncasecmp(cs, "us-ascii", 8) == 0)))
		return -1;
	enc = q[1];
	text = q + 3;
	tlen = (size_t)(s + n - 2 - text);
	if (enc == 'B' || enc == 'b') {
		if (enc_base64_decode(out, text, tlen, NULL) < 0)
			goto bad;
		return 0;
	}
	if (enc != 'Q' && enc != 'q')
		return -1;
	for (i = 0; i < tlen; i++) {
		c = text[i];
		if (c == '_') {
			c = ' ';
		} else if (c == '=') {
			if (i + 2 >= tlen)
				goto bad;
			hi = hexval((unsigned char)text[i + 1]);
			lo = hexval((unsigned char)text[i + 2]);
			if (hi < 0 || lo < 0)
				goto bad;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (buf_append(out, &c, 1, NULL) < 0)
			goto bad;
	}
	return 0;
bad:
	out->len = mark;
	if (out->data != NULL)
		out->data[mark] = '\0';
	return -1;
}

/* The length of the encoded-word candidate at p ("=?cs?E?...?="), or 0. */
static size_t
word_len(const char *p)
{
	const char *q, *end;

	if (p[0] != '=' || p[1] != '?')
		return 0;
	q = strchr(p + 2, '?');
	if (q == NULL || q[1] == '\0' || q[2] != '?')
		return 0;
	end = strstr(q + 3, "?=");
	return end != NULL ? (size_t)(end + 2 - p) : 0;
}

/*
 * A header value for people, into dst (cut to dstsz): RFC 2047
 * encoded-words in UTF-8 or US-ASCII decoded, white space between two
 * decoded words dropped (section 6.2), everything else as written.  The
 * value as written if the result is not UTF-8.
 */
static void
header_text(const char *v, char *dst, size_t dstsz)
{
	struct buf out;
	const char *p = v;
	size_t n, ws;
	int after_word = 0;

	buf_init(&out, dstsz > 0 ? dstsz - 1 : 0);
	while (*p != '\0') {
		ws = after_word ? strspn(p, " \t") : 0;
		if ((n = word_len(p + ws)) > 0 &&
		    decode_word(p + ws, n, &out) == 0) {
			p += ws + n;
			after_word = 1;
			continue;
		}
		after_word = 0;
		if (buf_append(&out, p, 1, NULL) < 0)
			break;
		p++;
	}
	if (out.len > 0 && enc_utf8_valid(out.data, out.len))
		str_copy(dst, dstsz, out.data);
	else
		str_copy(dst, dstsz, v);
	buf_free(&out);
}

/* The Subject field of message id as written (encoded-words are left as
 * they are), into dst; "" if none. */
static void
subject_of(struct queue *q, const char *id, char *dst, size_t dstsz)
{
	struct hdr_block hb;
	char *head = mem_alloc(SUBJECT_SCAN_MAX + 1);
	const char *v;
	size_t got = 0, len, i;

	dst[0] = '\0';
	memset(&hb, 0, sizeof(hb));
	if (queue_body_read(q, id, 0, head, SUBJECT_SCAN_MAX, &got, NULL) < 0)
		goto out;
	head[got] = '\0';
	/* the header ends at the first empty line: parse only that far */
	for (len = got, i = 0; i + 1 < got; i++) {
		if (head[i] == '\n' && (head[i + 1] == '\n' ||
		    (head[i + 1] == '\r' && i + 2 < got && head[i + 2] == '\n'))) {
			len = i + 1;
			break;
		}
	}
	if (hdr_parse(head, len, &hb, NULL) == 0 &&
	    (v = hdr_get(&hb, "Subject")) != NULL)
		header_text(v, dst, dstsz);
out:
	hdr_block_free(&hb);
	free(head);
}

static int
q_show(struct queue *q, const char *id, int json)
{
	struct queue_set set;
	const struct queue_msg *m;
	struct op_err e;
	char t[32], num[64], subject[1024];
	json_t *j;
	size_t i;

	memset(&set, 0, sizeof(set));
	if (queue_get(q, id, &set, &e) < 0 || set.n != 1) {
		if (set.n != 1 && e.kind == ERR_NONE)
			err_set(&e, ERR_NOINPUT, "no message with id %s", id);
		queue_set_free(&set);
		return q_fail("", &e);
	}
	m = &set.msgs[0];
	subject_of(q, m->id, subject, sizeof(subject));
	if (json) {
		j = msg_json_detail(&set, subject[0] ? msg_json_str(subject) : NULL);
		queue_set_free(&set);
		return print_json(j);
	}

	printf("message %s\n", m->id);
	put_line("state:", queue_msg_state_name(m->state));
	put_line("from:", m->sender[0] != '\0' ? m->sender : "<> (null sender)");
	if (subject[0] != '\0')
		put_line("subject:", subject);
	snprintf(num, sizeof(num), "%llu bytes", (unsigned long long)m->size);
	put_line("size:", num);
	iso(m->created, t, sizeof(t));
	put_line("created:", t);
	if (m->since != m->created) {
		iso(m->since, t, sizeof(t));
		put_line("retried:", t);
	}
	snprintf(num, sizeof(num), "%u", m->attempts);
	put_line("attempts:", num);
	if (m->state == QUEUE_MSG_QUEUED || m->state == QUEUE_MSG_DEFERRED) {
		iso(m->next_attempt, t, sizeof(t));
		put_line("next attempt:", t);
	}
	iso(m->updated, t, sizeof(t));
	put_line("updated:", t);
	put_line("profile:", m->profile != NULL ? m->profile :
	    "(the first enabled one)");
	put_line("profile used:", m->profile_used != NULL ? m->profile_used : "-");
	put_line("last error:", m->last_error != NULL && m->last_error[0] ?
	    m->last_error : "-");
	if (m->node != NULL)           /* a shared (PostgreSQL) queue */
		put_line("node:", m->node);

	printf("recipients (%zu):\n", m->nrcpts);
	for (i = 0; i < m->nrcpts; i++) {
		const struct queue_rcpt *x = &m->rcpts[i];

		fputs("  ", stdout);
		put_cell(stdout, x->address, 0, 0);
		iso(x->updated, t, sizeof(t));
		printf("\n    state: %s, attempts: %u, updated: %s",
		    queue_rcpt_state_name(x->state), x->attempts, t);
		if (x->node != NULL) {
			fputs(", node: ", stdout);
			put_cell(stdout, x->node, 0, 0);
		}
		putchar('\n');
		if (x->code != 0 || (x->reply != NULL && x->reply[0] != '\0')) {
			fputs("    reply: ", stdout);
			if (x->code != 0)
				printf("%d ", x->code);
			if (x->enhanced != NULL && x->enhanced[0] != '\0') {
				put_cell(stdout, x->enhanced, 0, 0);
				putchar(' ');
			}
			put_cell(stdout, x->reply, 0, 0);
			putchar('\n');
		}
	}
	printf("events (%zu):\n", set.nevents);
	for (i = 0; i < set.nevents; i++) {
		iso(set.events[i].at, t, sizeof(t));
		printf("  %s  ", t);
		put_cell(stdout, set.events[i].kind, 10, 1);
		fputs("  ", stdout);
		put_cell(stdout, set.events[i].text, 0, 0);
		putchar('\n');
	}
	queue_set_free(&set);
	return 0;
}

/* ---- retry, delete ---- */

/* The state of message id into *state: 0, or an exit code. */
static int
q_state(struct queue *q, const char *id, int *state)
{
	struct queue_set set;
	struct op_err e;

	memset(&set, 0, sizeof(set));
	if (queue_get(q, id, &set, &e) < 0 || set.n != 1) {
		if (set.n != 1 && e.kind == ERR_NONE)
			err_set(&e, ERR_NOINPUT, "no message with id %s", id);
		queue_set_free(&set);
		return q_fail("", &e);
	}
	*state = set.msgs[0].state;
	queue_set_free(&set);
	return 0;
}

static int
q_retry(struct queue *q, const char *id)
{
	struct op_err e;
	int rc, state;

	if ((rc = q_state(q, id, &state)) != 0)
		return rc;
	if (state == QUEUE_MSG_SENDING) {
		fprintf(stderr, Q_PREFIX "message %s is being sent right now; "
		    "retry it when the attempt has ended (outpost queue show "
		    "%s)\n", id, id);
		return ERR_TEMP;
	}
	if (queue_retry(q, id, (int64_t)time(NULL), &e) < 0)
		return q_fail("cannot retry", &e);
	log_event(LOG_INFO, "cli_retry", "id", id, NULL);
	printf("message %s is queued again, due now; the daemon sends it as "
	    "soon as a profile can\n", id);
	return 0;
}

/* Bulk retry: every queued, deferred, failed and held message (state
 * -1), or those of one state. */
static int
q_retry_all(struct queue *q, int state)
{
	struct op_err e;
	uint64_t n = 0;
	char nb[24];

	if (queue_retry_all(q, state, (int64_t)time(NULL), &n, &e) < 0)
		return q_fail("cannot retry", &e);
	snprintf(nb, sizeof(nb), "%llu", (unsigned long long)n);
	log_event(LOG_INFO, "cli_retry", "messages", nb, "status",
	    state < 0 ? "all" : queue_msg_state_name(state), NULL);
	if (n == 0)
		printf("no %s message to retry\n", state < 0 ?
		    "queued, deferred, failed or held" : queue_msg_state_name(state));
	else
		printf("%llu message%s queued again, due now; the daemon sends %s as "
		    "soon as a profile can\n",
		    (unsigned long long)n, n == 1 ? " is" : "s are",
		    n == 1 ? "it" : "them");
	return 0;
}

/* retry's --all / --status S into *state (-1: all): 0, or an exit code. */
static int
q_retry_parse(const char *opt, const char *v, int *state)
{
	char sh[SHOW_ARG_MAX];

	if (strcmp(opt, "--all") == 0) {
		*state = -1;
		return 0;
	}
	if (v == NULL) {
		fprintf(stderr, Q_PREFIX "retry --status needs a state\n");
		return cli_usage(QUEUE_USAGE);
	}
	if (strcmp(v, "all") == 0) {
		*state = -1;
		return 0;
	}
	*state = queue_msg_state_parse(v);
	if (*state != QUEUE_MSG_QUEUED && *state != QUEUE_MSG_DEFERRED &&
	    *state != QUEUE_MSG_FAILED && *state != QUEUE_MSG_HELD) {
		log_sanitize(sh, sizeof(sh), v);
		fprintf(stderr, Q_PREFIX "retry --status takes queued, deferred, "
		    "failed or held (or all), not '%s'; retry a sent message's "
		    "failed recipients by its id\n", sh);
		return cli_usage(QUEUE_USAGE);
	}
	return 0;
}

static int
q_delete(struct queue *q, const char *id)
{
	struct op_err e;
	int rc, state;

	if ((rc = q_state(q, id, &state)) != 0)
		return rc;
	if (queue_delete(q, id, &e) < 0)
		return q_fail("cannot delete", &e);
	log_event(LOG_INFO, "cli_delete", "id", id, NULL);
	printf("message %s deleted\n", id);
	if (state == QUEUE_MSG_SENDING)
		fprintf(stderr, Q_PREFIX "note: it was being sent; the attempt "
		    "in progress may still deliver it\n");
	return 0;
}

static void
q_help(void)
{
	printf("usage: outpost queue list [--status S] [--limit N] [--json]\n"
	    "       outpost queue show ID [--json]\n"
	    "       outpost queue retry ID | --all | --status S\n"
	    "       outpost queue delete ID\n\n"
	    "list    messages, newest first (S: queued, sending, deferred, sent,\n"
	    "        failed, held or all; N: 1 to %d, default %d)\n"
	    "show    a message: sender, state, attempts, each recipient's reply,\n"
	    "        and its events\n"
	    "retry   queue a message again now (failed and deferred recipients);\n"
	    "        --all: every queued, deferred, failed and held message;\n"
	    "        --status S: those in state S (one of these four)\n"
	    "delete  remove a message\n\n"
	    "Exit codes: 0 ok, 64 usage, 65 nothing to retry, 66 no such message,\n"
	    "75 busy (try again), 78 configuration error.\n",
	    QUEUE_LIST_MAX, LIST_LIMIT_DEFAULT);
}

int
cmd_queue(struct cli_ctx *ctx, int argc, char **argv)
{
	struct conf *conf = NULL;
	struct queue *q = NULL;
	struct queue_list_opts lo = { .state = -1, .limit = LIST_LIMIT_DEFAULT };
	struct op_err e;
	const char *sub, *id = NULL;
	int rc, i, json = 0, bulk = 0, bulk_state = -1;

	if (argc < 2)
		return cli_usage(QUEUE_USAGE);
	sub = argv[1];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 ||
	    strcmp(sub, "help") == 0) {
		q_help();
		return 0;
	}
	if (strcmp(sub, "list") != 0 && strcmp(sub, "show") != 0 &&
	    strcmp(sub, "retry") != 0 && strcmp(sub, "delete") != 0) {
		char sh[SHOW_ARG_MAX];

		log_sanitize(sh, sizeof(sh), sub);
		fprintf(stderr, Q_PREFIX "unknown subcommand '%s'\n", sh);
		return cli_usage(QUEUE_USAGE);
	}
	if (strcmp(sub, "list") == 0) {
		if ((rc = q_list_parse(argc - 1, argv + 1, &lo, &json)) != 0)
			return rc;
	} else {
		for (i = 2; i < argc; i++) {
			if (strcmp(argv[i], "--json") == 0 && strcmp(sub, "show") == 0) {
				json = 1;
			} else if (strcmp(sub, "retry") == 0 && !bulk && id == NULL &&
			    (strcmp(argv[i], "--all") == 0 ||
			    strcmp(argv[i], "--status") == 0 ||
			    strncmp(argv[i], "--status=", 9) == 0)) {
				const char *v = NULL;

				if (strncmp(argv[i], "--status=", 9) == 0)
					v = argv[i] + 9;
				else if (strcmp(argv[i], "--status") == 0 && i + 1 < argc)
					v = argv[++i];
				if ((rc = q_retry_parse(argv[i][2] == 'a' ? "--all" :
				    "--status", v, &bulk_state)) != 0)
					return rc;
				bulk = 1;
			} else if (argv[i][0] != '-' && id == NULL) {
				id = argv[i];
			} else {
				char sh[SHOW_ARG_MAX];

				log_sanitize(sh, sizeof(sh), argv[i]);
				fprintf(stderr, Q_PREFIX "%s: unexpected argument "
				    "%s\n", sub, sh);
				return cli_usage(QUEUE_USAGE);
			}
		}
		if (bulk && id != NULL) {
			fprintf(stderr, Q_PREFIX "retry takes a message id or "
			    "--all / --status S, not both\n");
			return cli_usage(QUEUE_USAGE);
		}
		if (id == NULL && !bulk) {
			fprintf(stderr, Q_PREFIX "%s needs a message id%s\n", sub,
			    strcmp(sub, "retry") == 0 ? " (or --all, or --status S)" :
			    "");
			return cli_usage(QUEUE_USAGE);
		}
		if (!bulk && (rc = q_check_id(id)) != 0)
			return rc;
	}

	if (ctx->verbose == 0)
		log_set_level(LOG_WARN);
	if ((rc = cli_load_conf(ctx, &conf)) != 0)
		return rc;
	if (queue_open_db(conf->server.data_dir, conf->server.database,
	    conf->server.node, 0, &q, &e) < 0) {
		rc = q_fail("cannot open the queue", &e);
		goto out;
	}
	if (strcmp(sub, "list") == 0)
		rc = q_list(q, &lo, json);
	else if (strcmp(sub, "show") == 0)
		rc = q_show(q, id, json);
	else if (strcmp(sub, "retry") == 0 && bulk)
		rc = q_retry_all(q, bulk_state);
	else if (strcmp(sub, "retry") == 0)
		rc = q_retry(q, id);
	else
		rc = q_delete(q, id);
out:
	fflush(stdout);
	queue_close(q);
	conf_free(conf);
	return rc;
}
