/*
 * serve_priv.c - [server] user for `outpost serve` (see serve_priv.h).
 *
 * Started as root, the daemon opens everything that needs root first (its
 * ports, however low; the settings, the TLS keys and password files that
 * only root may read), then becomes `user` for good.  Root without `user`
 * is refused: a mail relay that parses what the network sends has no
 * business keeping root.  `user = root` says it is wanted, and so does
 * OUTPOST_ALLOW_ROOT=1 in the environment (for test rigs and containers
 * that run everything as root and share one settings file with others).
 */
#include "cli/serve_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

int
serve_priv_plan(const struct conf *c, struct serve_priv *p)
{
	const char *user = c->server.user;
	struct op_err e;

	memset(p, 0, sizeof(*p));
	if (geteuid() == 0) {
		const char *allow = getenv("OUTPOST_ALLOW_ROOT");

		if (user == NULL && allow != NULL && strcmp(allow, "1") == 0)
			return 0;
		if (user == NULL) {
			fprintf(stderr, "outpost: serve runs as root without "
			    "[server] user; set user = outpost (an unprivileged "
			    "user the daemon becomes once its ports are bound), "
			    "or user = root (or OUTPOST_ALLOW_ROOT=1) to run as root on "
			    "purpose\n");
			return 78;
		}
		if (strcmp(user, "root") == 0)
			return 0;
		if (priv_lookup(user, &p->user, &e) < 0) {
			fprintf(stderr, "outpost: %s\n", e.msg);
			return 78;
		}
		if (p->user.uid == 0) {
			fprintf(stderr, "outpost: user %s has uid 0, i.e. is root; "
			    "name an unprivileged user, or write user = root\n",
			    user);
			return 78;
		}
		p->drop = 1;
		return 0;
	}
	if (user != NULL && strcmp(user, "root") != 0) {
		if (priv_lookup(user, &p->user, &e) < 0) {
			fprintf(stderr, "outpost: %s\n", e.msg);
			return 78;
		}
		if (p->user.uid != geteuid()) {
			fprintf(stderr, "outpost: [server] user is %s, but serve "
			    "runs as uid %ld and cannot become %s; start it as "
			    "root or as %s\n", user, (long)geteuid(), user, user);
			return 77;
		}
	}
	return 0;
}

int
serve_priv_data_dir(const char *dir, const struct serve_priv *p)
{
	struct op_err e;

	if (!p->drop) {
		if (mkdir(dir, 0700) == 0 || errno == EEXIST)
			return 0;
		fprintf(stderr, "outpost: cannot create data_dir %s: %s\n", dir,
		    strerror(errno));
		return 73;
	}
	if (priv_prepare_dir(dir, &p->user, &e) < 0) {
		fprintf(stderr, "outpost: %s\n", e.msg);
		return e.kind == ERR_CONFIG ? 78 : 73;
	}
	return 0;
}

int
serve_priv_drop(const char *dir, const struct serve_priv *p)
{
	struct op_err e;
	char uid[24], gid[24];

	if (!p->drop)
		return 0;
	if (priv_chown_tree(dir, &p->user, &e) < 0 ||
	    priv_drop(&p->user, &e) < 0) {
		fprintf(stderr, "outpost: %s\n", e.msg);
		return 71;
	}
	snprintf(uid, sizeof(uid), "%ld", (long)p->user.uid);
	snprintf(gid, sizeof(gid), "%ld", (long)p->user.gid);
	log_event(LOG_INFO, "privileges_dropped", "user", p->user.name, "uid",
	    uid, "gid", gid, NULL);
	return 0;
}
