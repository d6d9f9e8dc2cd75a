/*
 * diag.h - connection diagnostics and the test email, shared by `outpost
 * check`, `outpost test-email`, the HTTP API and the web page's Save
 * button: one diagnostics code for all of them.
 *
 * diag_run() opens a session with the profile's settings through the SMTP
 * client (smtp/client.h, the same session code as the daemon), then tries
 * the profile's sender with MAIL FROM, and RSET and QUIT: no mail is sent.
 * It turns what the client recorded into a list of steps a person can read:
 *
 *   resolve, connect, greeting, ehlo, starttls, tls, certificate, ehlo
 *   (again, over TLS), auth, sender
 *
 * each ok, failed, skipped (not used by this profile: "tls" with security =
 * none, "auth" with auth = no) or a warning (tls_verify = no), with one
 * detail line and, for a failure or a warning, a plain-language hint that
 * names the fix.  Steps after the first failure are not listed: they did
 * not happen.  docs/check.md lists every hint and exit code.
 *
 * diag_test_email() composes a test message and sends it the same way,
 * synchronously, and keeps the server's final reply.
 *
 * Failures are classified into sysexits kinds (util/err.h), used by the
 * commands as exit codes: ERR_UNAVAILABLE (cannot resolve, connect, no
 * greeting, TLS does not work: wrong security, no STARTTLS, certificate
 * refused), ERR_TEMP (421 and other 4xx, connection lost mid-session),
 * ERR_NOPERM (login refused or impossible), ERR_DATA (sender or recipient
 * refused with 5xx), ERR_CONFIG (the profile cannot be used as written).
 *
 * Memory: reports and results are plain values in caller memory; nothing
 * here keeps state between calls, so the functions are thread-safe (the
 * HTTP API runs them on its job threads).  All text in them is sanitised
 * (log_sanitize()): peer text can be shown or stored as it is.
 */
#ifndef OUTPOST_RELAY_DIAG_H
#define OUTPOST_RELAY_DIAG_H

#include <stddef.h>

#include <jansson.h>

#include "config/conf.h"
#include "util/err.h"

#define DIAG_STEPS_MAX 24       /* steps in one report (about 10 used) */
#define DIAG_STEP_NAME_MAX 16
#define DIAG_DETAIL_MAX 640     /* one detail line, sanitised */
#define DIAG_HINT_MAX 640       /* one hint, a few sentences */
#define DIAG_REPLY_MAX 1024     /* a server reply shown to a person */

enum diag_status {
	DIAG_OK = 0,
	DIAG_FAILED = 1,
	DIAG_SKIPPED = 2,       /* not used by this profile; not a problem */
	DIAG_WARNING = 3,       /* works, but see the hint */
};

struct diag_step {
	char step[DIAG_STEP_NAME_MAX];  /* "resolve", "connect", ... */
	int status;                     /* enum diag_status */
	char detail[DIAG_DETAIL_MAX];
	char hint[DIAG_HINT_MAX];       /* "" when there is none */
};

struct diag_report {
	int ok;                 /* 1: no step failed (warnings allowed) */
	int kind;               /* ERR_NONE if ok, else the failure's kind */
	char failed_step[DIAG_STEP_NAME_MAX]; /* "" if ok */
	size_t nsteps;
	struct diag_step steps[DIAG_STEPS_MAX];
};

/*
 * The profile a command or request means: the one called name, or with
 * name NULL the first enabled one.  NULL with ERR_CONFIG when there is
 * none ("no enabled profile: add a [profile NAME] section", or "no profile
 * "x"; the profiles are: a, b").
 */
const struct conf_profile *diag_profile(const struct conf *c,
    const char *name, struct op_err *e);

/*
 * Diagnose profile p: helo is the EHLO name ([server] hostname; NULL: the
 * machine's name).  Always fills *rep (when it returns 0, rep->ok and
 * rep->kind give the verdict).  Returns -1 only when it cannot run at all:
 * ERR_CONFIG if p has no host.  Takes up to a few times p->timeout_s when
 * the server is slow; never longer.
 */
int diag_run(const struct conf_profile *p, const char *helo,
    struct diag_report *rep, struct op_err *e);

/*
 * DKIM (docs/dkim.md): one step "dkim" per [dkim NAME] section, appended
 * to rep: the TXT record SELECTOR._domainkey.DOMAIN looked up in the DNS
 * and compared with the key: ok (published, the same key), a warning
 * when it is not found, holds a different key, or cannot be looked up,
 * with the record to publish in the hint.  A warning does not fail the
 * check: mail still goes, but receivers cannot verify its signature.
 * The resolver is the system's (/etc/resolv.conf); the environment
 * variable OUTPOST_DNS_SERVER=IPV4:PORT, for tests only, sends the
 * queries to that server instead.
 */
#define DIAG_DKIM_ENV "OUTPOST_DNS_SERVER"
void diag_dkim(const struct conf *c, struct diag_report *rep);

/* "ok", "failed", "skipped", "warning". */
const char *diag_status_name(int status);

/*
 * The report as JSON (docs/check.md; `check --json` and the API's check
 * give the same document):
 *   {"ok":bool,"steps":[{"step":str,"ok":bool,"detail":str,"hint":str|null}]}
 * A step's "ok" is false only for the failed step (skipped and warning
 * steps are ok); "hint" is null when there is none.
 * diag_report_to_json: a new reference the caller owns (json_decref), NULL
 * if out of memory.  diag_report_json_text: compact text, malloc'd, the
 * caller frees it; NULL with ERR_OSERR if out of memory.
 */
json_t *diag_report_to_json(const struct diag_report *rep);
char *diag_report_json_text(const struct diag_report *rep, struct op_err *e);

/* ---- the test email ---- */

#define DIAG_SUBJECT "Outpost test email"

struct diag_send_result {
	int ok;                  /* 1: the server accepted the message (2xx) */
	int kind;                /* ERR_NONE if ok, else as for diag_run */
	int code;                /* the final reply's code; 0 if none */
	char step[DIAG_STEP_NAME_MAX]; /* where it stopped: "connect", "auth",
	                          * "sender", "recipient", "data"; "" if ok */
	char reply[DIAG_REPLY_MAX]; /* the server's final reply, sanitised
	                          * ("250 2.0.0 Ok: queued as ..."); "" if
	                          * there was none (a local failure) */
	char msg[ERR_MSG_MAX];   /* one sentence: what happened */
	char hint[DIAG_HINT_MAX]; /* the fix for a failure; "" if none */
	char message_id[320];    /* the Message-ID sent, with its <> */
};

/*
 * Compose a test message from p->from to `to` (Date, Message-ID, From, To,
 * Subject "Outpost test email (PROFILE)", MIME-Version, text/plain UTF-8
 * body naming the profile, host, port and time) and send it through p now.
 * Returns -1 without sending when the request itself is wrong: ERR_DATA if
 * `to` is not a valid address (e->msg says why), ERR_CONFIG if p has no
 * from or no host.  Otherwise returns 0 and *res says how it went
 * (res->ok, res->kind, res->reply).
 */
int diag_test_email(const struct conf_profile *p, const char *helo,
    const char *to, struct diag_send_result *res, struct op_err *e);

#endif
