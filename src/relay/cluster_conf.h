/*
 * cluster_conf.h - the settings several nodes share (PostgreSQL).
 *
 * With [server] database = postgresql://..., the profiles, [redirect] and
 * the reports (config/conf_shared.h) live in the database, one text and a
 * version for the whole cluster; each node's outpost.conf keeps its own
 * [server], [client] and [dkim] sections.  The settings a node runs with
 * are its file's own sections followed by the database's shared ones.
 *
 * At the first start on a database without shared settings, the node
 * imports its file's shared sections (logged: settings_import); from then
 * on the database's win, and a file that still holds such sections is
 * ignored for them, with one warning (settings_file_ignored).  The web
 * page and the API write the shared sections to the database in one
 * statement that also notifies every node (NOTIFY outpost_settings): each
 * reloads within about a second.
 */
#ifndef OUTPOST_RELAY_CLUSTER_CONF_H
#define OUTPOST_RELAY_CLUSTER_CONF_H

#include <stdint.h>

#include "queue/queue.h"
#include "util/buf.h"
#include "util/err.h"

struct cluster_conf;

struct cluster_conf *cluster_conf_new(struct queue *q);
void cluster_conf_free(struct cluster_conf *cc);

/*
 * The effective settings text: path's own sections, then the shared ones
 * from the database (importing the file's at the first start).  *version
 * (may be NULL) the shared settings' version (0: none stored yet).
 * ERR_TEMP when the database cannot be reached.
 */
int cluster_conf_compose(struct cluster_conf *cc, const char *path,
    struct buf *out, int64_t *version, struct op_err *e);

/*
 * Store the shared sections of text (the effective settings after an
 * edit) if the stored version is still expect; ERR_NOINPUT if another
 * node stored a newer one meanwhile.  The file's own sections are not
 * written (an edit through the page or the API changes shared sections
 * only).
 */
int cluster_conf_store(struct cluster_conf *cc, const char *text, size_t len,
    int64_t expect, struct op_err *e);

/* For settings_set_compose() (relay/settings.h): arg is the cluster_conf. */
int cluster_conf_compose_cb(void *arg, const char *path, struct buf *out,
    struct op_err *e);

#endif
