/*
 * conf_shared.h - which sections of outpost.conf several nodes share.
 *
 * With [server] database = postgresql://..., the sections the web page
 * and the API edit - every [profile NAME], [redirect] and every
 * [report NAME] - live in the database, one text for the whole cluster;
 * every other section ([server], [client NAME], [dkim NAME]) stays in
 * each node's own file.  The settings a node runs with are its file's own
 * sections followed by the database's shared ones (conf_shared_join()).
 */
#ifndef OUTPOST_CONFIG_CONF_SHARED_H
#define OUTPOST_CONFIG_CONF_SHARED_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

/* 1 if a section of this type ("profile", "redirect", "report") is
 * shared. */
int conf_shared_type(const char *type);

/*
 * Split the text of a settings file: own gets the lines before the first
 * section and those of the sections a node keeps, shared those of the
 * shared sections (each line as it was, comments and blank lines going
 * with the section above them).  Either may be NULL.  -1 (ERR_CONFIG)
 * only when a buffer is full.
 */
int conf_shared_split(const char *text, size_t len, struct buf *own,
    struct buf *shared, struct op_err *e);

/* 1 if text holds a section or a key (not only blanks and comments). */
int conf_shared_any(const char *text, size_t len);

/* out = own, a line end if own lacks one, then shared. */
int conf_shared_join(const char *own, size_t olen, const char *shared,
    size_t slen, struct buf *out, struct op_err *e);

#endif
