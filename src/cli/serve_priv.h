/*
 * serve_priv.h - `outpost serve` and [server] user: whether to drop root,
 * and the drop itself once the ports are bound (util/priv.h does the work).
 */
#ifndef OUTPOST_CLI_SERVE_PRIV_H
#define OUTPOST_CLI_SERVE_PRIV_H

#include "config/conf.h"
#include "util/priv.h"

struct serve_priv {
	int drop;               /* started as root with user = a non-root user */
	struct priv_user user;
};

/* Decide at start, before anything is opened: started as root, `user`
 * must be set (user = root runs as root on purpose); started as someone
 * else, `user` (if set) must name that someone.  Prints why and returns
 * the exit code (78, 77) when the daemon must not start; 0 otherwise. */
int serve_priv_plan(const struct conf *c, struct serve_priv *p);

/* data_dir made (0700) and, when dropping, given to the user.  Prints
 * why and returns 73/78 on failure. */
int serve_priv_data_dir(const char *dir, const struct serve_priv *p);

/* After the listeners are up: what root made in data_dir given to the
 * user, then the drop.  Prints why and returns 71 on failure. */
int serve_priv_drop(const char *dir, const struct serve_priv *p);

#endif
