/*
 * aliases.h - [server] aliases: local names mapped to full addresses.
 *
 * cron mails "root", and many programs mail a bare local name; Outpost
 * delivers only to full addresses, so a bare local name given to
 * `outpost sendmail` (arguments, and with -t the To, Cc and Bcc fields) or
 * to the SMTP listener (RCPT TO:<root>) goes to the addresses its alias
 * names.  The file has the /etc/aliases form (aliases(5)):
 *
 *   # comment (a line whose first non-blank character is '#')
 *   root: admin@example.com
 *   postmaster: root             (another entry's name: its addresses)
 *   webmaster: root,
 *       ops@example.com          (a line starting with a blank continues)
 *   default: ops@example.com     (any local name without its own entry)
 *
 * so that a stock Debian /etc/aliases (postmaster: root) is accepted once
 * root has an address.  Names are local parts (letters, digits,
 * !#$%&'*+-/=?^_`{|}~ and inner dots, at most ALIASES_NAME_MAX octets),
 * compared ignoring case.  Targets, separated by commas, are full
 * addresses (local@domain, checked by conf_check_address()) or bare local
 * names that stand for the addresses of that entry of the same file (or,
 * without one, of `default`), resolved when the file is loaded,
 * recursively: each name ends up with its addresses flattened, each kept
 * once.  A local name with neither its own entry nor `default`, a loop
 * (a: b, b: a; named in the error), a chain through more than
 * ALIASES_DEPTH_MAX names, or more than ALIASES_TARGETS_MAX addresses once
 * resolved is a load error at the entry's line.  Pipes (|cmd), files
 * (/path), :include: lists and \name are refused: Outpost runs no
 * command, writes no mailbox and has no local users.  A name defined
 * twice is an error.
 *
 * Bounds: the file at most ALIASES_FILE_MAX octets, one entry with its
 * continuation lines at most ALIASES_ENTRY_MAX, ALIASES_TARGETS_MAX
 * targets per entry and addresses per name once resolved, ALIASES_MAX
 * names, ALIASES_DEPTH_MAX names in a chain.
 *
 * The file is read with the settings (config/conf.c): at start, on SIGHUP,
 * by every command and by `outpost config check`, whose errors read
 * "PATH:LINE: what is wrong and what to write".  A loaded table is
 * immutable and may be shared between threads.
 */
#ifndef OUTPOST_CONFIG_ALIASES_H
#define OUTPOST_CONFIG_ALIASES_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

#define ALIASES_FILE_MAX (1024 * 1024)
#define ALIASES_ENTRY_MAX 8192
#define ALIASES_TARGETS_MAX 100
#define ALIASES_DEPTH_MAX 10        /* postmaster -> root -> ...: names in
                                     * one chain of local-name targets */
#define ALIASES_MAX 10000
#define ALIASES_NAME_MAX 64         /* RFC 5321 4.5.3.1.1: a local part */
#define ALIASES_ERRORS_MAX 50       /* diag stops listing after this many */
#define ALIASES_DEFAULT "default"   /* the catch-all name */

struct aliases;

/*
 * Read and check path.  On success *out is the table (aliases_free it).
 * On failure -1, ERR_CONFIG, e->msg the first problem and diag (if not
 * NULL) every problem, one "PATH:LINE: message" line each.
 */
int aliases_load(const char *path, struct aliases **out, struct buf *diag,
    struct op_err *e);
void aliases_free(struct aliases *a);

/* 1 if s is a bare local name (no '@', the syntax of a name above): the
 * kind of recipient the table is for. */
int aliases_is_local(const char *s);

/*
 * The addresses local name stands for (full addresses only, local
 * names of the file already resolved): its own entry, else the entry
 * "default".  *targets points into the table.  a is NULL when no aliases
 * file is set.  -1 with ERR_DATA and a sentence naming `aliases` when
 * there is no mapping (no file, or neither the name nor default in it).
 */
int aliases_lookup(const struct aliases *a, const char *name,
    char *const **targets, size_t *n, struct op_err *e);

#endif
