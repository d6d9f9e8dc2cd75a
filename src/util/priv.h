/*
 * priv.h - running as root only as long as needed ([server] user).
 *
 * `outpost serve` started as root with `[server] user = NAME` binds its
 * ports and opens its files as root, then drops to NAME for good.  Files
 * the daemon writes after that must belong to NAME: priv_prepare_dir()
 * makes data_dir its, and priv_chown_tree() gives it whatever root made
 * inside data_dir before the drop (the lock, the database and its -wal
 * and -shm files, the API token, DKIM keys).  priv_drop() sets the
 * supplementary groups, the group and the user (real, effective and
 * saved), and checks that root cannot be taken back.
 *
 * glibc applies setgroups/setgid/setuid to every thread of the process, so
 * the drop may happen after threads were started.
 */
#ifndef OUTPOST_UTIL_PRIV_H
#define OUTPOST_UTIL_PRIV_H

#include <sys/types.h>

#include "util/err.h"

#define PRIV_NAME_MAX 64

struct priv_user {
	char name[PRIV_NAME_MAX];
	uid_t uid;
	gid_t gid;
};

/* Look the user up (the passwd database).  ERR_CONFIG naming the user and
 * how to make it if it does not exist. */
int priv_lookup(const char *name, struct priv_user *u, struct op_err *e);

/* data_dir exists (made 0700 if missing) and belongs to u; a directory
 * owned by another user that is not root is refused (ERR_CONFIG). */
int priv_prepare_dir(const char *dir, const struct priv_user *u,
    struct op_err *e);

/* Give u everything root owns in dir and one level below (symbolic links
 * are not followed). */
int priv_chown_tree(const char *dir, const struct priv_user *u,
    struct op_err *e);

/* Drop to u for good; -1 (ERR_OSERR) if any step fails or if setuid(0)
 * still succeeds afterwards. */
int priv_drop(const struct priv_user *u, struct op_err *e);

#endif
