/*
 * priv.c - dropping root for [server] user (see priv.h).
 */
#include "util/priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"

#define PRIV_PWBUF_MAX 16384

int
priv_lookup(const char *name, struct priv_user *u, struct op_err *e)
{
	struct passwd pw, *res = NULL;
	char pwbuf[PRIV_PWBUF_MAX];
	int rc;

	memset(u, 0, sizeof(*u));
	if (str_copy(u->name, sizeof(u->name), name) < 0)
		return err_set(e, ERR_CONFIG, "user: '%.64s...' is too long a "
		    "user name", name);
	rc = getpwnam_r(name, &pw, pwbuf, sizeof(pwbuf), &res);
	if (rc != 0 || res == NULL)
		return err_set(e, ERR_CONFIG, "user: there is no user '%s'%s%s; "
		    "make it (adduser --system --group --home /var/lib/outpost "
		    "%s) or name another one", name, rc != 0 ? ": " : "",
		    rc != 0 ? strerror(rc) : "", name);
	u->uid = pw.pw_uid;
	u->gid = pw.pw_gid;
	return 0;
}

int
priv_prepare_dir(const char *dir, const struct priv_user *u, struct op_err *e)
{
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return err_set(e, ERR_IO, "cannot create data_dir %s: %s", dir,
		    strerror(errno));
	if (lstat(dir, &st) < 0)
		return err_set(e, ERR_IO, "cannot read data_dir %s: %s", dir,
		    strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return err_set(e, ERR_CONFIG, "data_dir %s is not a directory",
		    dir);
	if (st.st_uid == u->uid)
		return 0;
	if (st.st_uid != 0)
		return err_set(e, ERR_CONFIG, "data_dir %s belongs to uid %ld, "
		    "neither root nor user %s; give it to %s (chown -R %s %s)",
		    dir, (long)st.st_uid, u->name, u->name, u->name, dir);
	if (lchown(dir, u->uid, u->gid) < 0)
		return err_set(e, ERR_IO, "cannot give data_dir %s to user %s: "
		    "%s", dir, u->name, strerror(errno));
	return 0;
}

/* Give dir's entries owned by root to u; one more level when depth > 0. */
static int
chown_in(int dfd, const char *shown, const struct priv_user *u, int depth,
    struct op_err *e)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	struct stat st;
	int rc = 0;

	if (d == NULL) {
		close(dfd);
		return err_set(e, ERR_IO, "cannot read %s: %s", shown,
		    strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;       /* gone meanwhile */
		if (st.st_uid == 0 && fchownat(dirfd(d), de->d_name, u->uid,
		    u->gid, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = err_set(e, ERR_IO, "cannot give %s/%s to user %s: "
			    "%s", shown, de->d_name, u->name, strerror(errno));
			break;
		}
		if (depth > 0 && S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY |
			    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0 && chown_in(sub, shown, u, depth - 1, e) < 0) {
				rc = -1;
				break;
			}
		}
	}
	closedir(d);
	return rc;
}

int
priv_chown_tree(const char *dir, const struct priv_user *u, struct op_err *e)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return err_set(e, ERR_IO, "cannot open data_dir %s: %s", dir,
		    strerror(errno));
	return chown_in(fd, dir, u, 1, e);
}

int
priv_drop(const struct priv_user *u, struct op_err *e)
{
	if (initgroups(u->name, u->gid) < 0)
		return err_set(e, ERR_OSERR, "cannot set the groups of user %s: "
		    "%s", u->name, strerror(errno));
	if (setresgid(u->gid, u->gid, u->gid) < 0)
		return err_set(e, ERR_OSERR, "cannot change to the group of user "
		    "%s (gid %ld): %s", u->name, (long)u->gid, strerror(errno));
	if (setresuid(u->uid, u->uid, u->uid) < 0)
		return err_set(e, ERR_OSERR, "cannot change to user %s (uid %ld): "
		    "%s", u->name, (long)u->uid, strerror(errno));
	/* for good: neither the user nor the group may come back */
	if (u->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
		return err_set(e, ERR_OSERR, "after changing to user %s, root "
		    "could be taken back; refusing to run", u->name);
	if (u->gid != 0 && u->uid != 0 && (setgid(0) == 0 || setegid(0) == 0))
		return err_set(e, ERR_OSERR, "after changing to user %s, group "
		    "root could be taken back; refusing to run", u->name);
	if (getuid() != u->uid || geteuid() != u->uid || getgid() != u->gid ||
	    getegid() != u->gid)
		return err_set(e, ERR_OSERR, "the change to user %s did not take",
		    u->name);
	return 0;
}
