/*
 * aliases.c - the [server] aliases file (see aliases.h for its form).
 *
 * The file is read whole (bounded), cut into logical entries (a line that
 * starts with a blank continues the entry before it; comment and blank
 * lines are skipped), and each entry is checked: "NAME: TARGET, ...".
 * The table is an array sorted by lower-cased name, searched with
 * bsearch().  Then the local names among the targets are resolved through
 * the table (resolve()), so that every entry ends up holding full
 * addresses only and a lookup is one search.
 */
#include "config/aliases.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/conf.h"
#include "util/log.h"

#define SHOW_MAX 96             /* a name or target quoted in a message */

struct alias {
	char *name;             /* lower case */
	unsigned line;
	char **targets;         /* as written; once loaded, addresses only */
	size_t ntargets;
	int bad;                /* refused: kept so that names using it do not
	                         * also say it is missing */
};

struct aliases {
	struct alias *v;
	size_t n;
	char *path;
};

/* The loader's state. */
struct ald {
	const char *path;
	struct aliases *a;
	struct buf *diag;
	struct op_err *e;
	unsigned nerrors;
};

static void aerr(struct ald *st, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
aerr(struct ald *st, unsigned line, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	if (++st->nerrors > ALIASES_ERRORS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (st->nerrors == 1)
		err_set(st->e, ERR_CONFIG, "%s:%u: %s", st->path, line, msg);
	if (st->diag != NULL)
		buf_printf(st->diag, NULL, "%s:%u: %s\n", st->path, line, msg);
}

static const char *
show(char dst[SHOW_MAX], const char *s)
{
	log_sanitize(dst, SHOW_MAX, s);
	return dst;
}

static int
is_atext(int c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

int
aliases_is_local(const char *s)
{
	size_t i, n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > ALIASES_NAME_MAX || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.' ? s[i + 1] == '.' : !is_atext(c) || c >= 0x80)
			return 0;
	}
	return 1;
}

static void
alias_free(struct alias *al)
{
	size_t i;

	for (i = 0; i < al->ntargets; i++)
		free(al->targets[i]);
	free(al->targets);
	free(al->name);
}

void
aliases_free(struct aliases *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->n; i++)
		alias_free(&a->v[i]);
	free(a->v);
	free(a->path);
	free(a);
}

static int
cmp_alias(const void *x, const void *y)
{
	const struct alias *a = x, *b = y;
	int c = strcmp(a->name, b->name);

	/* equal names: file order, so the first is reported first */
	return c != 0 ? c : (a->line > b->line) - (a->line < b->line);
}

static char *
trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return s;
}

/* One target: a full address, or a refusal saying what it is. */
static int
check_target(struct ald *st, unsigned line, const char *name, const char *t)
{
	struct op_err e;
	char sh[SHOW_MAX];

	if (t[0] == '|' || (t[0] == '"' && t[1] == '|')) {
		aerr(st, line, "%s: '%s' is a pipe to a command; Outpost runs no "
		    "commands: write a full address (admin@example.com)", name,
		    show(sh, t));
		return -1;
	}
	if (t[0] == '/' || (t[0] == '"' && t[1] == '/')) {
		aerr(st, line, "%s: '%s' is a file; Outpost writes no mailbox "
		    "files: write a full address (admin@example.com)", name,
		    show(sh, t));
		return -1;
	}
	if (strncasecmp(t, ":include:", 9) == 0) {
		aerr(st, line, "%s: ':include:' lists are not supported: write "
		    "the addresses here, separated by commas", name);
		return -1;
	}
	if (t[0] == '\\') {
		aerr(st, line, "%s: '%s' is a local name for a local mailbox "
		    "(\\name); Outpost has no local mailboxes: write a full "
		    "address (%s@example.com)", name, show(sh, t),
		    aliases_is_local(t + 1) ? t + 1 : "user");
		return -1;
	}
	if (strchr(t, '@') == NULL) {
		if (aliases_is_local(t))
			return 0;       /* another entry's name: resolve() */
		aerr(st, line, "%s: '%s' is neither a full address nor a local "
		    "name of this file: write a full address (admin@example.com) "
		    "or the name of an entry (root)", name, show(sh, t));
		return -1;
	}
	if (conf_check_address(t, &e) < 0) {
		aerr(st, line, "%s: %s", name, e.msg);
		return -1;
	}
	return 0;
}

/* One logical entry, "NAME: ADDRESS[, ADDRESS...]" (s is modified). */
static void
entry(struct ald *st, unsigned line, char *s)
{
	struct alias al;
	char *colon, *name, *p, *t, *save = NULL;
	char sh[SHOW_MAX];
	size_t i, k;
	int bad = 0;

	memset(&al, 0, sizeof(al));
	colon = strchr(s, ':');
	if (colon == NULL) {
		aerr(st, line, "'%s' has no ':' after the name; write NAME: "
		    "ADDRESS[, ADDRESS...] (root: admin@example.com)",
		    show(sh, trim(s)));
		return;
	}
	*colon = '\0';
	name = trim(s);
	if (!aliases_is_local(name)) {
		aerr(st, line, "'%s' is not a local name (letters, digits, "
		    "-_.+ and the like, at most %d, no '@' or quotes: root, "
		    "www-data, postmaster)", show(sh, name), ALIASES_NAME_MAX);
		return;
	}
	for (p = name; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	show(sh, name);
	p = colon + 1;
	if (*trim(p) == '\0') {
		aerr(st, line, "%s: no address; write %s: ADDRESS[, ADDRESS...]",
		    sh, sh);
		return;
	}
	al.targets = mem_alloc(ALIASES_TARGETS_MAX * sizeof(*al.targets));
	for (t = strtok_r(p, ",", &save); t != NULL;
	    t = strtok_r(NULL, ",", &save)) {
		t = trim(t);
		if (*t == '\0')
			continue;               /* "a@b.c, , d@e.f" or a final "," */
		if (check_target(st, line, sh, t) < 0) {
			bad = 1;
			continue;
		}
		for (k = 0; k < al.ntargets && strcasecmp(al.targets[k], t) != 0; k++)
			;
		if (k < al.ntargets)
			continue;               /* each address once */
		if (al.ntargets == ALIASES_TARGETS_MAX) {
			aerr(st, line, "%s: more than %d addresses", sh,
			    ALIASES_TARGETS_MAX);
			bad = 1;
			break;
		}
		al.targets[al.ntargets++] = str_dup(t);
	}
	if (!bad && al.ntargets == 0) {
		aerr(st, line, "%s: no address; write %s: ADDRESS[, ADDRESS...]",
		    sh, sh);
		bad = 1;
	}
	if (!bad && st->a->n == ALIASES_MAX) {
		aerr(st, line, "more than %d names", ALIASES_MAX);
		bad = 1;
	}
	if (bad) {
		for (i = 0; i < al.ntargets; i++)
			free(al.targets[i]);
		free(al.targets);
		al.targets = NULL;
		al.ntargets = 0;
		al.bad = 1;
		if (st->a->n == ALIASES_MAX)
			return;
	}
	al.name = str_dup(name);
	al.line = line;
	if (st->a->n % 64 == 0)
		st->a->v = mem_realloc(st->a->v, (st->a->n + 64) * sizeof(*st->a->v));
	st->a->v[st->a->n++] = al;
}

static int
cmp_key(const void *key, const void *elt)
{
	return strcmp(key, ((const struct alias *)elt)->name);
}

/* The entry for name (any case), else NULL. */
static struct alias *
find(const struct aliases *a, const char *name)
{
	char low[ALIASES_NAME_MAX + 1];
	size_t i;

	for (i = 0; name[i] != '\0' && i < ALIASES_NAME_MAX; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[i] = '\0';
	if (a->n == 0)
		return NULL;
	return bsearch(low, a->v, a->n, sizeof(*a->v), cmp_key);
}

/* Resolving local-name targets (a depth-first walk): each entry's state
 * (unseen, on the chain being resolved, done, failed), its addresses once
 * done, and the chain of entries being resolved (for loops). */
enum { RS_UNSEEN = 0, RS_ACTIVE, RS_DONE, RS_FAILED };

struct rsv {
	struct ald *st;
	int *state;
	char ***out;
	size_t *nout;
	size_t *height;         /* names in the longest chain from a done one */
	size_t chain[ALIASES_DEPTH_MAX];
};

/* Add address t to the list of entry i, once; -1 past the bound. */
static int
rsv_add(struct rsv *r, size_t i, const char *t)
{
	size_t k;

	for (k = 0; k < r->nout[i]; k++)
		if (strcasecmp(r->out[i][k], t) == 0)
			return 0;
	if (r->nout[i] == ALIASES_TARGETS_MAX)
		return -1;
	r->out[i][r->nout[i]++] = str_dup(t);
	return 0;
}

/* "a -> b -> a": the chain (of depth entries) from entry j on, then j;
 * from its start when j is not in it. */
static void
chain_text(const struct rsv *r, size_t depth, size_t j, char *dst, size_t dstsz)
{
	const struct alias *v = r->st->a->v;
	size_t k, at = 0, len;

	while (at < depth && r->chain[at] != j)
		at++;
	if (at == depth)
		at = 0;
	dst[0] = '\0';
	for (k = at; k < depth; k++) {
		len = strlen(dst);
		snprintf(dst + len, dstsz - len, "%s -> ", v[r->chain[k]].name);
	}
	len = strlen(dst);
	snprintf(dst + len, dstsz - len, "%s", v[j].name);
}

/*
 * Flatten entry i (at depth in the chain): its addresses, and those of the
 * entries its local names name (else of `default`), recursively, each
 * once.  Each problem is reported once, at the entry that has it: a name
 * with no entry, a loop, more than ALIASES_TARGETS_MAX addresses; a chain
 * of more than ALIASES_DEPTH_MAX names at its first name (chain[0]).  -1
 * if i cannot be resolved.
 */
static int
resolve(struct rsv *r, size_t i, size_t depth)
{
	struct aliases *a = r->st->a;
	struct alias *al = &a->v[i];
	char sh[SHOW_MAX], what[512];
	size_t k, m;

	if (r->state[i] == RS_DONE)
		return 0;
	if (r->state[i] == RS_FAILED || al->bad)
		return -1;
	r->state[i] = RS_ACTIVE;
	r->chain[depth] = i;
	r->height[i] = 1;
	r->out[i] = mem_alloc(ALIASES_TARGETS_MAX * sizeof(*r->out[i]));
	for (k = 0; k < al->ntargets; k++) {
		const char *t = al->targets[k];
		struct alias *to;
		size_t j;

		if (strchr(t, '@') != NULL) {
			if (rsv_add(r, i, t) < 0)
				goto too_many;
			continue;
		}
		to = find(a, t);
		if (to == NULL)
			to = find(a, ALIASES_DEFAULT);
		if (to == NULL) {
			aerr(r->st, al->line, "%s: '%s' is a local name with no entry "
			    "in this file, and the file has no '" ALIASES_DEFAULT
			    "' entry; add '%s: ADDRESS' or write a full address "
			    "(%s@example.com)", al->name, show(sh, t), sh, sh);
			goto fail;
		}
		j = (size_t)(to - a->v);
		if (r->state[j] == RS_ACTIVE) {
			chain_text(r, depth + 1, j, what, sizeof(what));
			aerr(r->st, al->line, "%s: '%s' makes a loop (%s); end the "
			    "chain with a full address", al->name, show(sh, t), what);
			goto fail;
		}
		/* the names from chain[0] through j and on */
		if (depth + 1 + (r->state[j] == RS_DONE ? r->height[j] : 1) >
		    ALIASES_DEPTH_MAX) {
			const struct alias *head = &a->v[r->chain[0]];

			chain_text(r, depth + 1, j, what, sizeof(what));
			aerr(r->st, head->line, "%s: more than %d local names in a "
			    "chain (%s%s); point it at full addresses sooner",
			    head->name, ALIASES_DEPTH_MAX, what,
			    r->state[j] == RS_DONE ? " -> ..." : "");
			goto fail;
		}
		if (resolve(r, j, depth + 1) < 0)
			goto fail;      /* reported where it is */
		if (r->height[j] + 1 > r->height[i])
			r->height[i] = r->height[j] + 1;
		for (m = 0; m < r->nout[j]; m++)
			if (rsv_add(r, i, r->out[j][m]) < 0)
				goto too_many;
	}
	r->state[i] = RS_DONE;
	return 0;
too_many:
	aerr(r->st, al->line, "%s: more than %d addresses once its local names "
	    "are resolved", al->name, ALIASES_TARGETS_MAX);
fail:
	r->state[i] = RS_FAILED;
	return -1;
}

/* Resolve every entry; on success each holds its addresses only. */
static void
resolve_all(struct ald *st)
{
	struct aliases *a = st->a;
	struct rsv r;
	size_t i, k;

	memset(&r, 0, sizeof(r));
	r.st = st;
	r.state = mem_alloc((a->n + 1) * sizeof(*r.state));
	r.out = mem_alloc((a->n + 1) * sizeof(*r.out));
	r.nout = mem_alloc((a->n + 1) * sizeof(*r.nout));
	r.height = mem_alloc((a->n + 1) * sizeof(*r.height));
	for (i = 0; i < a->n && st->nerrors <= ALIASES_ERRORS_MAX; i++)
		(void)resolve(&r, i, 0);
	for (i = 0; i < a->n; i++) {
		if (r.out[i] == NULL)
			continue;
		if (r.state[i] == RS_DONE) {
			for (k = 0; k < a->v[i].ntargets; k++)
				free(a->v[i].targets[k]);
			free(a->v[i].targets);
			a->v[i].targets = r.out[i];
			a->v[i].ntargets = r.nout[i];
		} else {
			for (k = 0; k < r.nout[i]; k++)
				free(r.out[i][k]);
			free(r.out[i]);
		}
	}
	free(r.state);
	free(r.out);
	free(r.nout);
	free(r.height);
}

int
aliases_load(const char *path, struct aliases **out, struct buf *diag,
    struct op_err *e)
{
	struct ald st;
	struct buf text, ent;
	size_t pos = 0, i;
	unsigned line = 0, eline = 0;
	int rc = -1, over = 0;

	*out = NULL;
	memset(&st, 0, sizeof(st));
	st.path = path;
	st.diag = diag;
	st.e = e;
	st.a = mem_alloc(sizeof(*st.a));
	st.a->path = str_dup(path);
	buf_init(&text, ALIASES_FILE_MAX);
	buf_init(&ent, ALIASES_ENTRY_MAX);
	if (conf_read_file(path, &text, ALIASES_FILE_MAX, "; an aliases file for "
	    "Outpost holds a few names", NULL, e) < 0) {
		if (diag != NULL)
			buf_printf(diag, NULL, "%s\n", e->msg);
		goto out;
	}
	while (pos < text.len && st.nerrors <= ALIASES_ERRORS_MAX) {
		const char *p = text.data + pos;
		const char *nl = memchr(p, '\n', text.len - pos);
		size_t n = nl != NULL ? (size_t)(nl - p) : text.len - pos;
		size_t sk;

		pos += n + (nl != NULL);
		line++;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (memchr(p, '\0', n) != NULL) {
			aerr(&st, line, "the line holds a NUL byte");
			continue;
		}
		for (sk = 0; sk < n && (p[sk] == ' ' || p[sk] == '\t'); sk++)
			;
		if (sk == n || p[sk] == '#')
			continue;               /* blank or comment */
		if (sk == 0) {                  /* a new entry */
			if (ent.len > 0 && !over)
				entry(&st, eline, ent.data);
			buf_reset(&ent);
			eline = line;
			over = 0;
		} else if (eline == 0) {
			aerr(&st, line, "a continuation line (it starts with a "
			    "blank) with no entry before it; start the entry at "
			    "the beginning of the line");
			continue;
		}
		if (over)
			continue;
		if ((ent.len > 0 && buf_append(&ent, " ", 1, NULL) < 0) ||
		    buf_append(&ent, p, n, NULL) < 0) {
			aerr(&st, eline, "the entry (with its continuation lines) "
			    "is longer than %d bytes", ALIASES_ENTRY_MAX - 1);
			over = 1;
		}
	}
	if (ent.len > 0 && !over && st.nerrors <= ALIASES_ERRORS_MAX)
		entry(&st, eline, ent.data);
	if (st.a->n > 1)
		qsort(st.a->v, st.a->n, sizeof(*st.a->v), cmp_alias);
	for (i = 1; i < st.a->n; i++)
		if (strcmp(st.a->v[i - 1].name, st.a->v[i].name) == 0) {
			char sh[SHOW_MAX];

			aerr(&st, st.a->v[i].line, "%s is defined twice (first at "
			    "line %u); keep one entry and list every address in "
			    "it", show(sh, st.a->v[i].name), st.a->v[i - 1].line);
		}
	resolve_all(&st);
	if (st.nerrors > ALIASES_ERRORS_MAX && diag != NULL)
		buf_printf(diag, NULL, "%s: stopping after %d errors\n", path,
		    ALIASES_ERRORS_MAX);
	if (st.nerrors == 0) {
		*out = st.a;
		st.a = NULL;
		rc = 0;
	}
out:
	aliases_free(st.a);
	buf_free(&text);
	buf_free(&ent);
	return rc;
}

int
aliases_lookup(const struct aliases *a, const char *name,
    char *const **targets, size_t *n, struct op_err *e)
{
	char sh[SHOW_MAX];
	const struct alias *al;

	show(sh, name);
	if (a == NULL)
		return err_set(e, ERR_DATA, "'%s' is a local name, not a full "
		    "address: map it in an aliases file ([server] aliases = PATH, "
		    "a line '%s: admin@example.com'), or give a full address",
		    sh, sh);
	if (!aliases_is_local(name))
		return err_set(e, ERR_DATA, "'%s' is not a local name", sh);
	al = find(a, name);
	if (al == NULL)
		al = find(a, ALIASES_DEFAULT);
	if (al == NULL)
		return err_set(e, ERR_DATA, "'%s' is a local name with no entry in "
		    "the aliases file %s, which has no '" ALIASES_DEFAULT "' "
		    "entry either; add '%s: ADDRESS' or '" ALIASES_DEFAULT
		    ": ADDRESS' to it, or give a full address", sh, a->path, sh);
	*targets = al->targets;
	*n = al->ntargets;
	return 0;
}
