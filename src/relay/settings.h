/*
 * settings.h - the daemon's current settings, swapped whole on reload.
 *
 * A loaded struct conf is immutable.  Readers take a reference with
 * settings_get() and give it back with settings_put(); settings_reload()
 * loads the file again and, only if it is valid, makes it current.  The old
 * conf is freed when its last reader puts it back, so a delivery in flight
 * keeps the settings it started with.
 */
#ifndef OUTPOST_RELAY_SETTINGS_H
#define OUTPOST_RELAY_SETTINGS_H

#include "config/conf.h"
#include "util/buf.h"
#include "util/err.h"

struct settings;

/* Takes ownership of conf (already loaded from path, which may be NULL for
 * the embedded defaults). */
struct settings *settings_new(const char *path, struct conf *conf);
void settings_free(struct settings *s);

const struct conf *settings_get(struct settings *s);
void settings_put(struct settings *s, const struct conf *c);

/* Load the file again; on success it becomes current and *generation
 * grows.  On failure the old settings stay and e says why (each problem
 * also logged). */
int settings_reload(struct settings *s, struct op_err *e);

/* Counts successful reloads; lets workers notice a change cheaply. */
unsigned settings_generation(struct settings *s);

const char *settings_path(const struct settings *s);
/* Cluster (relay/cluster_conf.h): from now on a reload loads the text
 * compose() makes from the file (its own sections and the shared ones of
 * the database) instead of the file alone.  compose NULL: the file. */
void settings_set_compose(struct settings *s, int (*compose)(void *arg,
    const char *path, struct buf *out, struct op_err *e), void *arg);
/* Load from path from now on (the daemon ran on embedded defaults and the
 * web page just created the file).  Takes effect at the next reload. */
void settings_set_path(struct settings *s, const char *path);

#endif
