/*
 * cluster_conf.c - the settings several nodes share (see cluster_conf.h).
 */
#include "relay/cluster_conf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/conf.h"
#include "config/conf_shared.h"
#include "util/log.h"

struct cluster_conf {
	struct queue *q;
	pthread_mutex_t mu;
	int warned;                    /* settings_file_ignored said once */
};

struct cluster_conf *
cluster_conf_new(struct queue *q)
{
	struct cluster_conf *cc = mem_alloc(sizeof(*cc));

	cc->q = q;
	pthread_mutex_init(&cc->mu, NULL);
	return cc;
}

void
cluster_conf_free(struct cluster_conf *cc)
{
	if (cc == NULL)
		return;
	pthread_mutex_destroy(&cc->mu);
	free(cc);
}

/* The file's text ("" if path is NULL or the file does not exist). */
static int
file_text(const char *path, struct buf *b, struct op_err *e)
{
	char chunk[8192];
	ssize_t n;
	int fd;

	if (path == NULL)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return err_set(e, ERR_CONFIG, "%s: cannot read: %s", path,
		    strerror(errno));
	}
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set(e, ERR_CONFIG, "%s: cannot read: %s", path,
			    strerror(errno));
			break;
		}
		if (n == 0) {
			close(fd);
			return 0;
		}
		if (buf_append(b, chunk, (size_t)n, NULL) < 0) {
			err_set(e, ERR_CONFIG, "%s: is larger than %d bytes", path,
			    CONF_FILE_MAX);
			break;
		}
	}
	close(fd);
	return -1;
}

static void
buf_wipe(struct buf *b)
{
	if (b->data != NULL)
		explicit_bzero(b->data, b->len);
	buf_free(b);
}

int
cluster_conf_compose(struct cluster_conf *cc, const char *path,
    struct buf *out, int64_t *version, struct op_err *e)
{
	struct buf file, own, fshared;
	char *db = NULL, vb[24];
	int64_t v = 0;
	int rc = -1;

	buf_init(&file, CONF_FILE_MAX);
	buf_init(&own, CONF_FILE_MAX);
	buf_init(&fshared, CONF_FILE_MAX);
	if (file_text(path, &file, e) < 0 ||
	    conf_shared_split(file.data != NULL ? file.data : "", file.len, &own,
	    &fshared, e) < 0)
		goto out;
	if (queue_settings_get(cc->q, &db, &v, e) < 0)
		goto out;
	if (db == NULL && conf_shared_any(fshared.data, fshared.len)) {
		/* the first node to start brings the profiles along */
		if (queue_settings_put(cc->q, fshared.data, 0, &v, e) == 0) {
			snprintf(vb, sizeof(vb), "%lld", (long long)v);
			log_event(LOG_INFO, "settings_import", "file", path,
			    "version", vb, "note", "the profiles, [redirect] and "
			    "[report] sections of this file are now kept in the "
			    "database for every node", NULL);
		} else if (e->kind != ERR_NOINPUT) {
			goto out;
		}
		/* stored by us, or by a node that started at the same time */
		if (queue_settings_get(cc->q, &db, &v, e) < 0)
			goto out;
	} else if (db != NULL && conf_shared_any(fshared.data, fshared.len)) {
		pthread_mutex_lock(&cc->mu);
		if (!cc->warned && strcmp(db, fshared.data) != 0)
			log_event(LOG_WARN, "settings_file_ignored", "file", path,
			    "note", "the profiles, [redirect] and [report] sections "
			    "of this file are ignored: with [server] database set, "
			    "the database holds them for every node (change them on "
			    "the web page or through the API; `outpost config show` "
			    "prints those in effect)", NULL);
		cc->warned = 1;
		pthread_mutex_unlock(&cc->mu);
	}
	if (conf_shared_join(own.data != NULL ? own.data : "", own.len,
	    db != NULL ? db : "", db != NULL ? strlen(db) : 0, out, e) < 0)
		goto out;
	if (version != NULL)
		*version = v;
	rc = 0;
out:
	if (db != NULL) {
		explicit_bzero(db, strlen(db));
		free(db);
	}
	buf_wipe(&file);
	buf_wipe(&own);
	buf_wipe(&fshared);
	return rc;
}

int
cluster_conf_store(struct cluster_conf *cc, const char *text, size_t len,
    int64_t expect, struct op_err *e)
{
	struct buf shared;
	int64_t v = 0;
	int rc = -1;

	buf_init(&shared, CONF_FILE_MAX);
	if (conf_shared_split(text, len, NULL, &shared, e) < 0)
		goto out;
	if (queue_settings_put(cc->q, shared.data != NULL ? shared.data : "",
	    expect, &v, e) < 0)
		goto out;
	rc = 0;
out:
	buf_wipe(&shared);
	return rc;
}

int
cluster_conf_compose_cb(void *arg, const char *path, struct buf *out,
    struct op_err *e)
{
	return cluster_conf_compose(arg, path, out, NULL, e);
}
