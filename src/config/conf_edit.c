/*
 * conf_edit.c - in-place edits of outpost.conf (see conf_edit.h).
 *
 * The document is the file's lines, without their line ends.  Every edit
 * is one or more splices (replace lines [from, to) with new lines), each
 * checked against CONF_FILE_MAX before anything changes.
 */
#include "config/conf_edit.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/conf.h"
#include "config/ini.h"
#include "util/log.h"

struct conf_doc {
	char **lines;           /* each without its line end */
	size_t n, cap;
	size_t size;            /* bytes of the text with LF line ends */
	int crlf;               /* write CRLF line ends */
};

/* A section's place: [lead, head) its own comments, head its header,
 * (head, keys_end) its keys, [.., end) the rest up to the next section's
 * own comments. */
struct span {
	size_t lead, head, keys_end, end;
};

/* ---- lines -------------------------------------------------------- */

static int
is_blank_line(const char *l)
{
	return l[strspn(l, " \t")] == '\0';
}

static int
is_comment_line(const char *l)
{
	char c = l[strspn(l, " \t")];

	return c == ';' || c == '#';
}

static int
is_header_line(const char *l)
{
	return l[strspn(l, " \t")] == '[';
}

/* Replace lines [from, to) with k copies of add[]. */
static int
doc_splice(struct conf_doc *d, size_t from, size_t to, const char *const *add,
    size_t k, struct op_err *e)
{
	size_t i, removed = 0, added = 0;

	for (i = from; i < to; i++)
		removed += strlen(d->lines[i]) + 1;
	for (i = 0; i < k; i++)
		added += strlen(add[i]) + 1;
	if (d->size - removed + added > CONF_FILE_MAX)
		return err_set(e, ERR_DATA, "the settings file would be larger "
		    "than %d bytes", CONF_FILE_MAX);
	if (d->n - (to - from) + k > d->cap) {
		d->cap = d->n - (to - from) + k + 16;
		d->lines = mem_realloc(d->lines, d->cap * sizeof(*d->lines));
	}
	for (i = from; i < to; i++)
		free(d->lines[i]);
	memmove(d->lines + from + k, d->lines + to, (d->n - to) * sizeof(*d->lines));
	for (i = 0; i < k; i++)
		d->lines[from + i] = str_dup(add[i]);
	d->n = d->n - (to - from) + k;
	d->size = d->size - removed + added;
	return 0;
}

/* ---- documents ---------------------------------------------------- */

int
conf_doc_parse(const char *text, size_t len, struct conf_doc **out,
    struct op_err *e)
{
	struct conf_doc *d;
	const char *nul;
	size_t pos = 0;

	*out = NULL;
	if (len > CONF_FILE_MAX)
		return err_set(e, ERR_DATA, "the settings file is larger than %d "
		    "bytes", CONF_FILE_MAX);
	/* The loader refuses such a line (ini.c); kept as a C string it
	 * would be cut at the NUL and written back as another line. */
	nul = len > 0 ? memchr(text, '\0', len) : NULL;
	if (nul != NULL)
		return err_set(e, ERR_CONFIG, "the settings file holds a NUL byte "
		    "(at offset %zu); remove it", (size_t)(nul - text));
	d = mem_alloc(sizeof(*d));
	while (pos < len) {
		const char *p = text + pos, *nl = memchr(p, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - p) : len - pos;

		if (pos == 0 && nl != NULL && n > 0 && p[n - 1] == '\r')
			d->crlf = 1;
		pos += n + (nl != NULL);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (d->n == d->cap) {
			d->cap = d->cap ? d->cap * 2 : 64;
			d->lines = mem_realloc(d->lines, d->cap * sizeof(*d->lines));
		}
		d->lines[d->n++] = str_ndup(p, n);
		d->size += n + 1;
	}
	*out = d;
	return 0;
}

int
conf_doc_load(const char *path, struct conf_doc **out, struct op_err *e)
{
	struct buf b;
	char chunk[8192];
	ssize_t r;
	int fd, rc = -1;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int saved = errno;

		err_set(e, ERR_NOINPUT, "cannot read %s: %s", path, strerror(saved));
		if (e != NULL)
			e->sys = saved;
		return -1;
	}
	buf_init(&b, CONF_FILE_MAX);
	for (;;) {
		r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int saved = errno;

			err_set(e, ERR_NOINPUT, "cannot read %s: %s", path,
			    strerror(saved));
			if (e != NULL)
				e->sys = saved;
			goto out;
		}
		if (r == 0)
			break;
		if (buf_append(&b, chunk, (size_t)r, NULL) < 0) {
			err_set(e, ERR_DATA, "%s is larger than %d bytes", path,
			    CONF_FILE_MAX);
			goto out;
		}
	}
	rc = conf_doc_parse(b.data != NULL ? b.data : "", b.len, out, e);
out:
	close(fd);
	if (b.data != NULL)
		explicit_bzero(b.data, b.len);
	buf_free(&b);
	return rc;
}

void
conf_doc_free(struct conf_doc *d)
{
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < d->n; i++) {
		explicit_bzero(d->lines[i], strlen(d->lines[i]));
		free(d->lines[i]);
	}
	free(d->lines);
	free(d);
}

int
conf_doc_text(const struct conf_doc *d, struct buf *out, struct op_err *e)
{
	const char *eol = d->crlf ? "\r\n" : "\n";
	size_t i;

	for (i = 0; i < d->n; i++)
		if (buf_appendstr(out, d->lines[i], e) < 0 ||
		    buf_appendstr(out, eol, e) < 0)
			return -1;
	return 0;
}

/* ---- sections ----------------------------------------------------- */

/* "profile primary" -> type "profile", arg "primary"; checked. */
static int
split_section(const char *section, char *type, size_t typesz,
    const char **arg, struct op_err *e)
{
	const char *sp = strchr(section, ' ');
	size_t tl = sp != NULL ? (size_t)(sp - section) : strlen(section);

	if (tl == 0 || tl >= typesz)
		return err_set(e, ERR_CONFIG, "'%.40s' is not a section name",
		    section);
	memcpy(type, section, tl);
	type[tl] = '\0';
	*arg = sp != NULL ? sp + 1 : NULL;
	return conf_check_section(type, *arg, e);
}

/* The type and argument of a header line: 0, or -1 if it is not one. */
static int
parse_header(const char *line, struct ini_line *l)
{
	if (!is_header_line(line))
		return -1;
	if (ini_parse_line(line, strlen(line), l) < 0 || l->kind != INI_SECTION) {
		ini_line_free(l);
		return -1;
	}
	return 0;
}

/* 1 if line is a header of type; with want_arg, of exactly type/arg. */
static int
header_is(const char *line, const char *type, int want_arg, const char *arg)
{
	struct ini_line l;
	int match;

	if (parse_header(line, &l) < 0)
		return 0;
	match = strcmp(l.name, type) == 0;
	if (match && want_arg) {
		if (arg == NULL || l.arg == NULL)
			match = arg == NULL && l.arg == NULL;
		else if (strcmp(type, "report") == 0)
			match = strcasecmp(l.arg, arg) == 0;  /* as the loader */
		else
			match = strcmp(l.arg, arg) == 0;
	}
	ini_line_free(&l);
	return match;
}

/* The span of the section whose header is at head. */
static void
span_at(const struct conf_doc *d, size_t head, struct span *s)
{
	size_t i, floor = 0;

	for (i = head; i > 0; i--)
		if (is_header_line(d->lines[i - 1])) {
			floor = i;
			break;
		}
	s->head = head;
	s->lead = head;
	while (s->lead > floor && is_comment_line(d->lines[s->lead - 1]))
		s->lead--;
	for (i = head + 1; i < d->n && !is_header_line(d->lines[i]); i++)
		;
	s->keys_end = i;
	s->end = i;
	if (i < d->n)           /* the next section's own comments are its */
		while (s->end > head + 1 && is_comment_line(d->lines[s->end - 1]))
			s->end--;
}

/* What moves with a section: its span without the blank lines at its
 * end. */
static size_t
core_end(const struct conf_doc *d, const struct span *s)
{
	size_t end = s->end;

	while (end > s->head + 1 && is_blank_line(d->lines[end - 1]))
		end--;
	return end;
}

static int
find_section(const struct conf_doc *d, const char *type, const char *arg,
    struct span *s)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (header_is(d->lines[i], type, 1, arg)) {
			span_at(d, i, s);
			return 0;
		}
	return -1;
}

int
conf_doc_has_section(const struct conf_doc *d, const char *section)
{
	char type[32];
	const char *arg;
	struct span s;

	if (split_section(section, type, sizeof(type), &arg, NULL) < 0)
		return 0;
	return find_section(d, type, arg, &s) == 0;
}

static int
add_section(struct conf_doc *d, const char *type, const char *arg,
    struct op_err *e)
{
	struct buf h;
	struct span last;
	const char *add[3];
	size_t i, at, k = 0;
	int found = 0, rc = -1;

	buf_init(&h, CONF_LINE_MAX);
	if (buf_printf(&h, e, "[%s%s%s]", type, arg != NULL ? " " : "",
	    arg != NULL ? arg : "") < 0)
		goto out;
	for (i = 0; i < d->n; i++)
		if (header_is(d->lines[i], type, 0, NULL)) {
			span_at(d, i, &last);
			found = 1;
		}
	if (found) {
		at = core_end(d, &last);
	} else {
		at = d->n;
		while (at > 0 && is_blank_line(d->lines[at - 1]))
			at--;
	}
	if (at > 0)
		add[k++] = "";
	add[k++] = h.data;
	if (at < d->n && !is_blank_line(d->lines[at]))
		add[k++] = "";
	rc = doc_splice(d, at, at, add, k, e);
out:
	buf_free(&h);
	return rc;
}

int
conf_edit_add_section(struct conf_doc *d, const char *section,
    struct op_err *e)
{
	char type[32];
	const char *arg;
	struct span s;

	if (split_section(section, type, sizeof(type), &arg, e) < 0)
		return -1;
	if (find_section(d, type, arg, &s) == 0)
		return err_set(e, ERR_CONFIG, "[%s] exists already", section);
	return add_section(d, type, arg, e);
}

int
conf_edit_delete_section(struct conf_doc *d, const char *section,
    struct op_err *e)
{
	char type[32];
	const char *arg;
	struct span s;
	int at_end;

	if (split_section(section, type, sizeof(type), &arg, e) < 0)
		return -1;
	if (find_section(d, type, arg, &s) < 0)
		return err_set(e, ERR_NOINPUT, "there is no [%s]", section);
	at_end = s.end == d->n;
	if (doc_splice(d, s.lead, s.end, NULL, 0, e) < 0)
		return -1;
	/* The last section gone: no blank lines left dangling at the end. */
	while (at_end && d->n > 0 && is_blank_line(d->lines[d->n - 1]))
		doc_splice(d, d->n - 1, d->n, NULL, 0, NULL);
	return 0;
}

/* line with line[from, to) replaced by text; a space is kept between the
 * new text and a comment that follows. */
static int
replace_part(struct buf *out, const char *line, size_t from, size_t to,
    const char *text, struct op_err *e)
{
	size_t len = strlen(line);

	if (buf_append(out, line, from, e) < 0)
		return -1;
	if (from > 0 && from == len && line[from - 1] == '=' &&
	    buf_appendstr(out, " ", e) < 0)
		return -1;
	if (buf_appendstr(out, text, e) < 0)
		return -1;
	if (to < len && line[to] != ' ' && line[to] != '\t' &&
	    buf_appendstr(out, " ", e) < 0)
		return -1;
	return buf_append(out, line + to, len - to, e);
}

int
conf_edit_set(struct conf_doc *d, const char *section, const char *key,
    const char *value, struct op_err *e)
{
	char type[32];
	const char *arg, *add[1];
	struct span s;
	struct buf q, line;
	size_t i, first = 0, last_key = 0;
	int found = 0, rc = -1;

	buf_init(&q, CONF_LINE_MAX);
	buf_init(&line, CONF_LINE_MAX * 2);
	if (split_section(section, type, sizeof(type), &arg, e) < 0 ||
	    conf_check_value(type, key, value, e) < 0 ||
	    ini_append_value(&q, value, e) < 0)
		goto out;
	/* Fail before changing anything: at most a header, two blank lines
	 * and the key's line are added. */
	if (d->size + strlen(section) + 5 + strlen(key) + 4 + q.len > CONF_FILE_MAX) {
		err_set(e, ERR_DATA, "the settings file would be larger than %d "
		    "bytes", CONF_FILE_MAX);
		goto out;
	}
	if (find_section(d, type, arg, &s) < 0) {
		if (add_section(d, type, arg, e) < 0 ||
		    find_section(d, type, arg, &s) < 0)
			goto out;
	}
	for (i = s.head + 1; i < s.keys_end; i++) {
		struct ini_line l;
		int bad = 0;

		if (ini_parse_line(d->lines[i], strlen(d->lines[i]), &l) == 0 &&
		    l.kind == INI_KEY) {
			last_key = i;
			if (!found && strcmp(l.name, key) == 0) {
				found = 1;
				first = i;
				bad = replace_part(&line, d->lines[i], l.vstart,
				    l.vend, q.data, e) < 0;
			}
		}
		ini_line_free(&l);
		if (bad)
			goto out;
	}
	if (found) {
		add[0] = line.data;
		if (doc_splice(d, first, first + 1, add, 1, e) < 0)
			goto out;
		/* Later lines setting the same key would make the file invalid. */
		for (i = s.keys_end; i-- > first + 1;) {
			struct ini_line l;

			if (ini_parse_line(d->lines[i], strlen(d->lines[i]), &l) == 0 &&
			    l.kind == INI_KEY && strcmp(l.name, key) == 0)
				doc_splice(d, i, i + 1, NULL, 0, NULL);
			ini_line_free(&l);
		}
	} else {
		if (buf_printf(&line, e, "%s = %s", key, q.data) < 0)
			goto out;
		add[0] = line.data;
		i = last_key > 0 ? last_key + 1 : s.head + 1;
		if (doc_splice(d, i, i, add, 1, e) < 0)
			goto out;
	}
	rc = 0;
out:
	if (line.data != NULL)
		explicit_bzero(line.data, line.len);
	if (q.data != NULL)
		explicit_bzero(q.data, q.len);
	buf_free(&line);
	buf_free(&q);
	return rc;
}

int
conf_edit_unset(struct conf_doc *d, const char *section, const char *key,
    size_t *removed, struct op_err *e)
{
	char type[32];
	const char *arg;
	struct span s;
	size_t i, count = 0;

	if (removed != NULL)
		*removed = 0;
	if (split_section(section, type, sizeof(type), &arg, e) < 0)
		return -1;
	if (find_section(d, type, arg, &s) < 0)
		return 0;
	for (i = s.keys_end; i-- > s.head + 1;) {
		struct ini_line l;

		if (ini_parse_line(d->lines[i], strlen(d->lines[i]), &l) == 0 &&
		    l.kind == INI_KEY && strcmp(l.name, key) == 0) {
			doc_splice(d, i, i + 1, NULL, 0, NULL);
			count++;
		}
		ini_line_free(&l);
	}
	if (removed != NULL)
		*removed = count;
	return 0;
}

int
conf_edit_rename_profile(struct conf_doc *d, const char *from, const char *to,
    struct op_err *e)
{
	struct span s, other;
	struct ini_line l;
	struct buf h, line;
	const char *add[1];
	int rc = -1;

	if (conf_check_section("profile", to, e) < 0)
		return -1;
	if (find_section(d, "profile", from, &s) < 0)
		return err_set(e, ERR_NOINPUT, "there is no [profile %.64s]", from);
	if (strcmp(from, to) == 0)
		return 0;
	if (find_section(d, "profile", to, &other) == 0)
		return err_set(e, ERR_CONFIG, "[profile %s] exists already", to);
	if (parse_header(d->lines[s.head], &l) < 0)
		return err_set(e, ERR_SOFTWARE, "the header of [profile %.64s] "
		    "cannot be read", from);
	buf_init(&h, CONF_LINE_MAX);
	buf_init(&line, CONF_LINE_MAX * 2);
	if (buf_printf(&h, e, "[profile %s]", to) < 0 ||
	    replace_part(&line, d->lines[s.head], l.vstart, l.vend, h.data, e) < 0)
		goto out;
	add[0] = line.data;
	rc = doc_splice(d, s.head, s.head + 1, add, 1, e);
out:
	ini_line_free(&l);
	buf_free(&h);
	buf_free(&line);
	return rc;
}

int
conf_edit_order_profiles(struct conf_doc *d, const char *const *names,
    size_t n, struct op_err *e)
{
	struct span *spans = NULL;
	size_t *order = NULL, m = 0, i, j, k, pos;
	char **lines = NULL;
	int rc = -1;

	for (i = 0; i < d->n; i++)
		if (header_is(d->lines[i], "profile", 0, NULL)) {
			spans = mem_realloc(spans, (m + 1) * sizeof(*spans));
			span_at(d, i, &spans[m++]);
		}
	if (n != m) {
		err_set(e, ERR_CONFIG, "the order names %zu profiles, the file has "
		    "%zu; name each profile once", n, m);
		goto out;
	}
	order = mem_alloc((m + 1) * sizeof(*order));
	for (k = 0; k < n; k++) {
		for (j = 0; j < m; j++)
			if (header_is(d->lines[spans[j].head], "profile", 1, names[k]))
				break;
		if (j == m) {
			err_set(e, ERR_NOINPUT, "there is no [profile %.64s]", names[k]);
			goto out;
		}
		for (i = 0; i < k; i++)
			if (order[i] == j) {
				err_set(e, ERR_CONFIG, "the order names profile %.64s "
				    "twice", names[k]);
				goto out;
			}
		order[k] = j;
	}
	/* Same lines, new order: the pointers move, nothing is copied. */
	lines = mem_alloc((d->n + 1) * sizeof(*lines));
	for (pos = 0, i = 0, k = 0; k < m; k++) {
		const struct span *slot = &spans[k], *mv = &spans[order[k]];
		size_t slot_core = core_end(d, slot), mv_core = core_end(d, mv);

		while (pos < slot->lead)
			lines[i++] = d->lines[pos++];
		for (j = mv->lead; j < mv_core; j++)
			lines[i++] = d->lines[j];
		for (j = slot_core; j < slot->end; j++)
			lines[i++] = d->lines[j];
		pos = slot->end;
	}
	while (pos < d->n)
		lines[i++] = d->lines[pos++];
	free(d->lines);
	d->lines = lines;
	d->cap = d->n + 1;
	lines = NULL;
	rc = 0;
out:
	free(lines);
	free(order);
	free(spans);
	return rc;
}

/* ---- saving ------------------------------------------------------- */

static int
holds_secret(const struct conf_doc *d)
{
	size_t i;
	int yes = 0;

	for (i = 0; i < d->n && !yes; i++) {
		struct ini_line l;

		if (ini_parse_line(d->lines[i], strlen(d->lines[i]), &l) == 0 &&
		    l.kind == INI_KEY)
			yes = strcmp(l.name, "password") == 0 ||
			    strcmp(l.name, "api_token") == 0;
		ini_line_free(&l);
	}
	return yes;
}

static int
write_all(int fd, const char *p, size_t n)
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

int
conf_doc_save(const struct conf_doc *d, const char *path, struct op_err *e)
{
	char target[PATH_MAX], dirbuf[PATH_MAX], basebuf[PATH_MAX];
	char tmp[PATH_MAX + 16];
	const char *dir, *base;
	struct stat st;
	struct buf text;
	mode_t mode = 0600;
	int fd = -1, dfd, have = 0, rc = -1;

	buf_init(&text, CONF_FILE_MAX + 1024);
	tmp[0] = '\0';
	/* Replace what a symbolic link points to, not the link. */
	if (realpath(path, target) == NULL) {
		if (errno != ENOENT)
			return err_set(e, ERR_IO, "cannot save %s: %s", path,
			    strerror(errno));
		if (str_copy(target, sizeof(target), path) < 0)
			return err_set(e, ERR_IO, "cannot save %s: the path is too "
			    "long", path);
	}
	if (stat(target, &st) == 0) {
		mode = st.st_mode & 07777;
		have = 1;
	}
	if (holds_secret(d))
		mode &= ~(mode_t)077;
	if (str_copy(dirbuf, sizeof(dirbuf), target) < 0 ||
	    str_copy(basebuf, sizeof(basebuf), target) < 0)
		return err_set(e, ERR_IO, "cannot save %s: the path is too long",
		    path);
	dir = dirname(dirbuf);
	base = basename(basebuf);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, base) >=
	    sizeof(tmp))
		return err_set(e, ERR_IO, "cannot save %s: the path is too long",
		    path);
	if (conf_doc_text(d, &text, e) < 0)
		goto out;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err_set(e, ERR_IO, "cannot save %s: cannot create a file in %s: %s",
		    path, dir, strerror(errno));
		tmp[0] = '\0';
		goto out;
	}
	if (have) {
		/* Keep the owner; only root may give a file away, so a failure
		 * leaves the file ours, which is what a non-root saver wants. */
		int ignored = fchown(fd, st.st_uid, st.st_gid);

		(void)ignored;
	}
	if (fchmod(fd, mode) < 0 || write_all(fd, text.data != NULL ? text.data :
	    "", text.len) < 0 || fsync(fd) < 0) {
		err_set(e, ERR_IO, "cannot save %s: %s", path, strerror(errno));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		err_set(e, ERR_IO, "cannot save %s: %s", path, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, target) < 0) {
		err_set(e, ERR_IO, "cannot save %s: %s", path, strerror(errno));
		goto out;
	}
	tmp[0] = '\0';
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		err_set(e, ERR_IO, "saved %s, but cannot sync its directory: %s",
		    path, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		goto out;
	}
	close(dfd);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp[0] != '\0')
		unlink(tmp);
	if (text.data != NULL)
		explicit_bzero(text.data, text.len);
	buf_free(&text);
	return rc;
}
