/*
 * conf_secret.h - passwords kept outside outpost.conf: password_file and
 * password_command.
 *
 * password_command is run without a shell: the command line is split on
 * blanks into argv (a "double-quoted" part is one argument, with \" and \\
 * inside it), argv[0] is looked up in PATH, stdin is /dev/null, and the
 * first line of its standard output is the password.  It must exit 0
 * within the timeout and print a non-empty first line.
 *
 * Ownership: a secret returned in *secret is allocated; the caller wipes
 * it (explicit_bzero) and frees it.  Messages never hold the secret; they
 * name the file or the command (which is not a secret).
 */
#ifndef OUTPOST_CONFIG_CONF_SECRET_H
#define OUTPOST_CONFIG_CONF_SECRET_H

#include <stddef.h>

#include "util/err.h"

#define CONF_SECRET_MAX 1024            /* bytes of one password */
#define CONF_COMMAND_MAX 1024           /* bytes of a password_command */
#define CONF_COMMAND_ARGS_MAX 32        /* words of a password_command */
#define CONF_COMMAND_TIMEOUT_MS 10000   /* a password_command's time */
#define CONF_COMMAND_ERR_MAX 200        /* its stderr quoted in a message */

/*
 * Split cmd into a NULL-terminated argv (one allocation; free with free()).
 * ERR_CONFIG for an empty command, an unclosed quote, a bad escape or more
 * than CONF_COMMAND_ARGS_MAX words.
 */
int conf_command_split(const char *cmd, char ***argv, struct op_err *e);

/*
 * The first line of the file at path (a trailing CR and LF removed), at
 * most CONF_SECRET_MAX bytes.  *mode receives the file's st_mode (for the
 * "readable by other users" warning).  ERR_CONFIG if the file cannot be
 * read, is not a regular file, is empty or its first line is too long or
 * holds a control character.
 */
int conf_secret_file(const char *path, char **secret, unsigned *mode,
    struct op_err *e);

/*
 * Run cmd (see above) and return the first line of its output.  timeout_ms
 * bounds the whole run; past it the command is killed (SIGKILL).
 * ERR_CONFIG naming the command: it cannot be started, exited with a
 * status other than 0 (the message gives the status and the first line of
 * its standard error), was killed by a signal, did not finish in time,
 * or printed an empty or too long first line.  ERR_OSERR if pipes cannot
 * be made.
 */
int conf_secret_command(const char *cmd, int timeout_ms, char **secret,
    struct op_err *e);
/* The same with a first line of up to max bytes (at most
 * CONF_COMMAND_OUT_MAX): oauth_token_command prints access tokens, which
 * are longer than passwords. */
#define CONF_COMMAND_OUT_MAX 16384
int conf_secret_command_max(const char *cmd, int timeout_ms, size_t max,
    char **secret, struct op_err *e);

/*
 * uri (a libpq postgresql:// URI) with its password replaced by ********
 * in both places libpq takes one: the userinfo (user:PASSWORD@host) and a
 * password query parameter (?password=... or &password=..., the name also
 * when percent-encoded), for `config show`, messages and logs.  Anything
 * else is copied as is.  dst receives at most dsz - 1 bytes and a NUL; a
 * longer result is cut (a secret is never copied, not even in part).
 */
#define CONF_MASK "********"
void conf_mask_uri(char *dst, size_t dsz, const char *uri);

#endif
