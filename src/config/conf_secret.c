/*
 * conf_secret.c - password_file and password_command (see conf_secret.h).
 *
 * The command is started with posix_spawnp(), not fork()+exec: the daemon
 * reloads its settings while other threads run, and posix_spawn is the
 * safe way to start a program from a threaded process.  No shell is ever
 * involved, so the command line cannot expand, redirect or chain.
 */
#include "config/conf_secret.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/net.h"

extern char **environ;

int
conf_command_split(const char *cmd, char ***argvp, struct op_err *e)
{
	size_t len = strlen(cmd), nargs = 0;
	char **argv;
	char *out;
	const char *p = cmd;

	*argvp = NULL;
	if (len > CONF_COMMAND_MAX)
		return err_set(e, ERR_CONFIG, "the command is longer than %d bytes",
		    CONF_COMMAND_MAX);
	/* One block: the pointer array, then the words, each NUL-ended. */
	argv = mem_alloc((CONF_COMMAND_ARGS_MAX + 1) * sizeof(char *) + len + 1);
	out = (char *)(argv + CONF_COMMAND_ARGS_MAX + 1);
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		if (nargs == CONF_COMMAND_ARGS_MAX) {
			free(argv);
			return err_set(e, ERR_CONFIG, "the command has more than %d "
			    "words", CONF_COMMAND_ARGS_MAX);
		}
		argv[nargs++] = out;
		while (*p != '\0' && *p != ' ' && *p != '\t') {
			if (*p != '"') {
				*out++ = *p++;
				continue;
			}
			for (p++; *p != '"'; p++) {
				if (*p == '\0') {
					free(argv);
					return err_set(e, ERR_CONFIG, "the command has a "
					    "'\"' without its closing '\"'");
				}
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
					p++;
				*out++ = *p;
			}
			p++;
		}
		*out++ = '\0';
	}
	if (nargs == 0) {
		free(argv);
		return err_set(e, ERR_CONFIG, "the command is empty");
	}
	argv[nargs] = NULL;
	*argvp = argv;
	return 0;
}

/* The first line of data (n bytes): CR LF removed; checked. */
static int
first_line(const char *data, size_t n, int truncated, char **secret,
    const char *what, size_t max, struct op_err *e)
{
	const char *nl = memchr(data, '\n', n);
	size_t i, ln = nl != NULL ? (size_t)(nl - data) : n;

	if (nl == NULL && truncated)
		return err_set(e, ERR_CONFIG, "%s has a first line longer than %zu "
		    "bytes", what, max);
	if (ln > 0 && data[ln - 1] == '\r')
		ln--;
	if (ln == 0)
		return err_set(e, ERR_CONFIG, "%s %s", what, n == 0 ?
		    "is empty" : "has an empty first line");
	if (ln > max)
		return err_set(e, ERR_CONFIG, "%s has a first line longer than %zu "
		    "bytes", what, max);
	for (i = 0; i < ln; i++)
		if ((unsigned char)data[i] < 0x20 || data[i] == 0x7f)
			return err_set(e, ERR_CONFIG, "%s has a control character "
			    "in its first line", what);
	*secret = str_ndup(data, ln);
	return 0;
}

int
conf_secret_file(const char *path, char **secret, unsigned *mode,
    struct op_err *e)
{
	char data[CONF_SECRET_MAX + 3];
	char shown[256];
	struct stat st;
	size_t n = 0;
	ssize_t r;
	int fd, rc = -1;

	*secret = NULL;
	log_sanitize(shown, sizeof(shown), path);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return err_set(e, ERR_CONFIG, "cannot read %s: %s", shown,
		    strerror(errno));
	if (fstat(fd, &st) < 0) {
		err_set(e, ERR_CONFIG, "cannot read %s: %s", shown, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err_set(e, ERR_CONFIG, "%s is not a regular file", shown);
		goto out;
	}
	if (mode != NULL)
		*mode = (unsigned)st.st_mode;
	/* Read at most the longest line, its CR LF and one byte more. */
	while (n < sizeof(data)) {
		r = read(fd, data + n, sizeof(data) - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err_set(e, ERR_CONFIG, "cannot read %s: %s", shown,
			    strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (memchr(data, '\n', n) != NULL)
			break;
	}
	rc = first_line(data, n, n == sizeof(data), secret, shown, CONF_SECRET_MAX, e);
out:
	explicit_bzero(data, sizeof(data));
	close(fd);
	return rc;
}

/* Append up to the room left in dst; count what is dropped. */
static int
drain(int fd, char *dst, size_t cap, size_t *len, int *over)
{
	char tmp[512];
	ssize_t r;
	size_t take;

	r = read(fd, tmp, sizeof(tmp));
	if (r < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -1;
	if (r == 0)
		return 0;
	take = (size_t)r;
	if (take > cap - *len) {
		take = cap - *len;
		*over = 1;
	}
	memcpy(dst + *len, tmp, take);
	*len += take;
	explicit_bzero(tmp, sizeof(tmp));
	return 1;
}

int
conf_secret_command(const char *cmd, int timeout_ms, char **secret,
    struct op_err *e)
{
	return conf_secret_command_max(cmd, timeout_ms, CONF_SECRET_MAX, secret, e);
}

int
conf_secret_command_max(const char *cmd, int timeout_ms, size_t max,
    char **secret, struct op_err *e)
{
	size_t cap = (max < CONF_COMMAND_OUT_MAX ? max : CONF_COMMAND_OUT_MAX) + 3;
	char out[CONF_COMMAND_OUT_MAX + 3], errtext[CONF_COMMAND_ERR_MAX + 1];
	char shown[160], why[CONF_COMMAND_ERR_MAX + 8];
	char **argv = NULL;
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	size_t outlen = 0, errlen = 0;
	int outover = 0, errover = 0, status = 0, timed_out = 0, rc = -1;
	int spawned = 0, serr, open_fds;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t all, none;
	int64_t deadline;
	pid_t pid, waited;

	*secret = NULL;
	log_sanitize(shown, sizeof(shown), cmd);
	if (conf_command_split(cmd, &argv, e) < 0)
		return -1;
	if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		err_set(e, ERR_OSERR, "cannot make a pipe for '%s': %s", shown,
		    strerror(errno));
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	posix_spawnattr_init(&attr);
	/* The child starts with default signal dispositions and none blocked,
	 * whatever the daemon set for itself. */
	sigfillset(&all);
	sigemptyset(&none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	serr = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(outp[1]);
	close(errp[1]);
	outp[1] = errp[1] = -1;
	if (serr != 0) {
		err_set(e, ERR_CONFIG, "cannot run '%s': %s", shown, strerror(serr));
		goto out;
	}
	spawned = 1;

	deadline = clock_mono_ms() + timeout_ms;
	open_fds = 2;
	while (open_fds > 0) {
		struct pollfd pfd[2];
		int64_t left = deadline - clock_mono_ms();
		int r;

		if (left <= 0) {
			timed_out = 1;
			break;
		}
		pfd[0].fd = outp[0];
		pfd[1].fd = errp[0];
		pfd[0].events = pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		r = poll(pfd, 2, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err_set(e, ERR_OSERR, "cannot wait for '%s': %s", shown,
			    strerror(errno));
			break;
		}
		if (pfd[0].revents != 0 && drain(outp[0], out, cap,
		    &outlen, &outover) <= 0) {
			close(outp[0]);
			outp[0] = -1;           /* poll ignores a negative fd */
			open_fds--;
		}
		if (pfd[1].revents != 0 && drain(errp[0], errtext,
		    sizeof(errtext) - 1, &errlen, &errover) <= 0) {
			close(errp[0]);
			errp[0] = -1;
			open_fds--;
		}
	}
	if (open_fds > 0)               /* timed out or poll failed */
		kill(pid, SIGKILL);
	while ((waited = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	spawned = 0;
	if (waited < 0) {               /* e.g. SIGCHLD ignored: no status */
		err_set(e, ERR_OSERR, "cannot get the exit status of '%s': %s",
		    shown, strerror(errno));
		goto out;
	}
	if (timed_out) {
		if (timeout_ms % 1000 == 0)
			err_set(e, ERR_CONFIG, "'%s' did not finish within %d "
			    "second%s (it was stopped)", shown, timeout_ms / 1000,
			    timeout_ms == 1000 ? "" : "s");
		else
			err_set(e, ERR_CONFIG, "'%s' did not finish within %d ms "
			    "(it was stopped)", shown, timeout_ms);
		goto out;
	}
	if (open_fds > 0)
		goto out;                       /* poll failed: e is set */

	/* The first line of stderr, to say why the command failed. */
	errtext[errlen] = '\0';
	errtext[strcspn(errtext, "\r\n")] = '\0';
	why[0] = '\0';
	if (errtext[0] != '\0') {
		char clean[CONF_COMMAND_ERR_MAX + 1];

		log_sanitize(clean, sizeof(clean), errtext);
		snprintf(why, sizeof(why), ": %s", clean);
	}
	if (WIFSIGNALED(status)) {
		err_set(e, ERR_CONFIG, "'%s' was killed by signal %d%s", shown,
		    WTERMSIG(status), why);
		goto out;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		err_set(e, ERR_CONFIG, "'%s' exited with status %d%s", shown,
		    WIFEXITED(status) ? WEXITSTATUS(status) : -1, why);
		goto out;
	}
	{
		char what[sizeof(shown) + 32];

		snprintf(what, sizeof(what), "the output of '%s'", shown);
		rc = first_line(out, outlen, outover, secret, what, max, e);
	}
out:
	if (spawned) {
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	explicit_bzero(out, sizeof(out));
	if (outp[0] >= 0)
		close(outp[0]);
	if (outp[1] >= 0)
		close(outp[1]);
	if (errp[0] >= 0)
		close(errp[0]);
	if (errp[1] >= 0)
		close(errp[1]);
	free(argv);
	return rc;
}

/* ---- A database URI with its password masked ---- */

/* Append n bytes of src to dst (dsz bytes, *len used), as far as they
 * fit; dst stays NUL-terminated. */
static void
mask_put(char *dst, size_t dsz, size_t *len, const char *src, size_t n)
{
	if (*len + 1 >= dsz)
		return;
	if (n > dsz - 1 - *len)
		n = dsz - 1 - *len;
	memcpy(dst + *len, src, n);
	*len += n;
	dst[*len] = '\0';
}

static int
mask_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Whether the n bytes at k, percent-decoded, spell "password". */
static int
mask_is_password(const char *k, size_t n)
{
	static const char want[] = "password";
	size_t i, w = 0;
	int c, h, l;

	for (i = 0; i < n; i++, w++) {
		c = (unsigned char)k[i];
		if (c == '%' && i + 2 < n && (h = mask_hex(k[i + 1])) >= 0 &&
		    (l = mask_hex(k[i + 2])) >= 0) {
			c = h * 16 + l;
			i += 2;
		}
		if (w >= sizeof(want) - 1 || c != want[w])
			return 0;
	}
	return w == sizeof(want) - 1;
}

void
conf_mask_uri(char *dst, size_t dsz, const char *uri)
{
	const char *p = strstr(uri, "://"), *at, *colon, *q, *amp, *eq;
	size_t len = 0, end;

	if (dsz == 0)
		return;
	dst[0] = '\0';
	if (p == NULL) {
		mask_put(dst, dsz, &len, uri, strlen(uri));
		return;
	}
	/* libpq's own reading: the userinfo ends at the first '@' before
	 * any '/' (a '?' in a password stays in the password). */
	p += 3;
	end = strcspn(p, "/");
	at = memchr(p, '@', end);
	colon = at != NULL ? memchr(p, ':', (size_t)(at - p)) : NULL;
	if (colon != NULL) {
		mask_put(dst, dsz, &len, uri, (size_t)(colon + 1 - uri));
		mask_put(dst, dsz, &len, CONF_MASK, strlen(CONF_MASK));
		p = at;
	} else
		p = uri;
	/* the query begins at the first '?' after the userinfo */
	q = strchr(at != NULL ? at : p, '?');
	if (q == NULL) {
		mask_put(dst, dsz, &len, p, strlen(p));
		return;
	}
	mask_put(dst, dsz, &len, p, (size_t)(q + 1 - p));
	for (p = q + 1; ; p = amp + 1) {
		amp = p + strcspn(p, "&");
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq != NULL && eq + 1 < amp &&
		    mask_is_password(p, (size_t)(eq - p))) {
			mask_put(dst, dsz, &len, p, (size_t)(eq + 1 - p));
			mask_put(dst, dsz, &len, CONF_MASK, strlen(CONF_MASK));
		} else
			mask_put(dst, dsz, &len, p, (size_t)(amp - p));
		if (*amp == '\0')
			break;
		mask_put(dst, dsz, &len, "&", 1);
	}
}
