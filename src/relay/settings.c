#include "relay/settings.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/log.h"

/* One generation of settings and the readers holding it. */
struct held {
	struct conf *conf;
	unsigned refs;         /* readers + 1 while current */
	struct held *next;     /* retired generations still in use */
};

struct settings {
	pthread_mutex_t lock;
	char *path;
	struct held *current;
	struct held *retired;
	unsigned generation;
	int (*compose)(void *arg, const char *path, struct buf *out,
	    struct op_err *e);
	void *compose_arg;
};

void
settings_set_compose(struct settings *s, int (*compose)(void *arg,
    const char *path, struct buf *out, struct op_err *e), void *arg)
{
	s->compose = compose;
	s->compose_arg = arg;
}

/* The file, or with a compose hook the text it makes (cluster). */
static int
load_current(struct settings *s, struct conf **conf, struct buf *diag,
    struct op_err *e)
{
	struct buf text;
	int rc;

	if (s->compose == NULL)
		return conf_load(s->path, conf, diag, e);
	buf_init(&text, 2 * CONF_FILE_MAX);
	rc = s->compose(s->compose_arg, s->path, &text, e);
	if (rc == 0)
		rc = conf_load_text(s->path != NULL ? s->path : "(settings)",
		    text.data != NULL ? text.data : "", text.len, conf, diag, e);
	else if (diag != NULL)
		buf_printf(diag, NULL, "%s\n", e->msg);
	if (text.data != NULL)
		explicit_bzero(text.data, text.len);
	buf_free(&text);
	return rc;
}

struct settings *
settings_new(const char *path, struct conf *conf)
{
	struct settings *s = mem_alloc(sizeof(*s));

	pthread_mutex_init(&s->lock, NULL);
	s->path = path != NULL ? str_dup(path) : NULL;
	s->current = mem_alloc(sizeof(*s->current));
	s->current->conf = conf;
	s->current->refs = 1;
	return s;
}

static void
held_free(struct held *h)
{
	conf_free(h->conf);
	free(h);
}

void
settings_free(struct settings *s)
{
	struct held *h, *next;

	if (s == NULL)
		return;
	for (h = s->retired; h != NULL; h = next) {
		next = h->next;
		held_free(h);
	}
	held_free(s->current);
	free(s->path);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

const struct conf *
settings_get(struct settings *s)
{
	const struct conf *c;

	pthread_mutex_lock(&s->lock);
	s->current->refs++;
	c = s->current->conf;
	pthread_mutex_unlock(&s->lock);
	return c;
}

void
settings_put(struct settings *s, const struct conf *c)
{
	struct held **hp, *h;

	if (c == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	if (s->current->conf == c) {
		s->current->refs--;
		pthread_mutex_unlock(&s->lock);
		return;
	}
	for (hp = &s->retired; (h = *hp) != NULL; hp = &h->next) {
		if (h->conf == c) {
			if (--h->refs == 0) {
				*hp = h->next;
				pthread_mutex_unlock(&s->lock);
				held_free(h);
				return;
			}
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
}

/* The loader's list (one problem or warning a line, each ending in "\n")
 * as one log value in out: "a; b", with no newline. */
static const char *
one_line(const char *list, struct buf *out)
{
	const char *p = list, *nl;
	size_t n;

	while (*p != '\0') {
		nl = strchr(p, '\n');
		n = nl != NULL ? (size_t)(nl - p) : strlen(p);
		if (n > 0 && ((out->len > 0 && buf_append(out, "; ", 2, NULL) < 0) ||
		    buf_append(out, p, n, NULL) < 0))
			break;
		p += n + (nl != NULL);
	}
	return out->data != NULL ? out->data : "";
}

int
settings_reload(struct settings *s, struct op_err *e)
{
	struct conf *conf = NULL;
	struct buf diag, line;
	struct held *h, *old;

	buf_init(&diag, 64 * 1024);
	buf_init(&line, 64 * 1024);
	/* only the thread that reloads changes the path */
	if (load_current(s, &conf, &diag, e) < 0) {
		log_event(LOG_ERROR, "reload", "result", "kept old settings",
		    "file", s->path, "problems", diag.len ? one_line(diag.data,
		    &line) : e->msg, NULL);
		buf_free(&line);
		buf_free(&diag);
		return -1;
	}
	if (diag.len > 0)
		log_event(LOG_WARN, "reload", "file", s->path, "warnings",
		    one_line(diag.data, &line), NULL);
	buf_free(&line);
	buf_free(&diag);
	h = mem_alloc(sizeof(*h));
	h->conf = conf;
	h->refs = 1;
	pthread_mutex_lock(&s->lock);
	old = s->current;
	s->current = h;
	s->generation++;
	if (--old->refs == 0) {
		pthread_mutex_unlock(&s->lock);
		held_free(old);
	} else {
		old->next = s->retired;
		s->retired = old;
		pthread_mutex_unlock(&s->lock);
	}
	log_event(LOG_INFO, "reload", "result", "ok", "file", s->path, NULL);
	return 0;
}

unsigned
settings_generation(struct settings *s)
{
	unsigned g;

	pthread_mutex_lock(&s->lock);
	g = s->generation;
	pthread_mutex_unlock(&s->lock);
	return g;
}

const char *
settings_path(const struct settings *s)
{
	return s->path;
}

void
settings_set_path(struct settings *s, const char *path)
{
	pthread_mutex_lock(&s->lock);
	free(s->path);
	s->path = path != NULL ? str_dup(path) : NULL;
	pthread_mutex_unlock(&s->lock);
}
