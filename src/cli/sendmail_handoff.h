/*
 * sendmail_handoff.h - `outpost sendmail` for a user who may not touch the
 * queue: the message goes to the local daemon's SMTP listener instead.
 *
 * A packaged Outpost keeps its settings (0640 root:outpost) and its queue
 * (data_dir 0700 outpost) from ordinary users, and needs no setgid
 * program: when sendmail finds the settings file unreadable (EACCES) or
 * the SQLite queue in data_dir not writable, it submits the message over
 * SMTP to the daemon, which commits it to the queue before it answers 250
 * to the final dot.  Where the listener is:
 *   - the settings are readable: their smtp_listen;
 *   - else $OUTPOST_SUBMIT: "host:port" (the address only), or the path of
 *     a submit file;
 *   - else the submit file SM_SUBMIT_FILE, which the daemon writes (0644)
 *     at start and at every reload when it runs under systemd
 *     (RuntimeDirectory: $RUNTIME_DIRECTORY/submit);
 *   - else 127.0.0.1:2525, the default smtp_listen.
 * The submit file holds no secret: "key=value" lines smtp (the listen
 * address, or "off"), hostname, from (the first enabled profile's from,
 * the sender sendmail uses without -f), max_message_size, smtp_auth.
 */
#ifndef OUTPOST_CLI_SENDMAIL_HANDOFF_H
#define OUTPOST_CLI_SENDMAIL_HANDOFF_H

#include <stddef.h>
#include <stdint.h>

#include "config/conf.h"
#include "mail/addr.h"
#include "util/err.h"

#define SM_SUBMIT_FILE "/run/outpost/submit"
#define SM_SUBMIT_NAME "submit"          /* in $RUNTIME_DIRECTORY */
#define SM_SUBMIT_MAX 4096               /* bytes of a submit file read */
#define SM_HANDOFF_DEFAULT "127.0.0.1:2525"
/* max_message_size when the settings cannot be read nor the submit
 * file says (the default of [server] max_message_size) */
#define SM_MAX_MESSAGE_DEFAULT (25ULL * 1024 * 1024)

/* What the hand-off knows of the daemon. */
struct sm_handoff {
	char listen[300];         /* "127.0.0.1:2525"; "" = listener off */
	char source[1100];        /* where listen came from, for messages */
	char hostname[256];       /* "" unknown */
	char from[ADDR_MAILBOX_MAX + 1]; /* default sender; "" unknown */
	uint64_t max_message_size;       /* 0 unknown */
	int smtp_auth;            /* the listener requires AUTH */
};

/* 1 when the settings file path exists but this user may not read it. */
int sm_handoff_settings_denied(const char *path);

/* 1 when conf's queue is SQLite in data_dir and this user may not write
 * it (data_dir or its queue.db not writable). */
int sm_handoff_queue_denied(const struct conf *conf);

/* Fill h: from conf when not NULL, else from the environment, the submit
 * file or the default (see the top of the file).  0, or -1 (ERR_CONFIG:
 * OUTPOST_SUBMIT or the submit file is malformed). */
int sm_handoff_where(const struct conf *conf, struct sm_handoff *h,
    struct op_err *e);

/* Submit one message (rcpts may hold bare local names, resolved by the
 * daemon's aliases).  Prints what went wrong; returns the exit code: 0
 * after the daemon's 250 to the final dot, 75 unreachable or 4xx, 65 a
 * 5xx to the sender, a recipient or the message, 69 the listener cannot
 * take it (off, AUTH required, 5xx greeting). */
int sm_handoff_send(const struct sm_handoff *h, const char *sender,
    const char *const *rcpts, size_t nrcpts, const char *body, size_t len,
    int verbose);

/* The daemon's side: write $RUNTIME_DIRECTORY/submit (mode 0644) from
 * conf; nothing when RUNTIME_DIRECTORY is unset.  Failures are logged. */
void sm_submit_write(const struct conf *conf);

#endif
