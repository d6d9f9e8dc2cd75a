/*
 * diag.c - connection diagnostics and the test email (see diag.h).
 *
 * The SMTP client records each step of smtp_client_open() and, on failure,
 * the phase and kind of the failure (smtp/client.h).  This file turns that
 * into steps for a person and picks, for the failure, one hint that names
 * the fix: classify() is the one place that knows every failure class, and
 * docs/check.md lists what it says.
 */
#include "relay/diag.h"
#include "relay/hints.h"
#include "oauth/oauth.h"
#include "relay/oauth_glue.h"
#include "relay/deliver.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mail/addr.h"
#include "mail/dkim.h"
#include "mail/mime.h"
#include "smtp/client.h"
#include "smtp/reply.h"
#include "smtp/tls.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/net.h"

/* The mechanisms the client can use (smtp/sasl.h), for the hint. */
#define DIAG_OUR_MECHS "SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN and LOGIN"

/* A server that never greets may be an implicit-TLS server waiting for
 * our ClientHello: diag_run() tries a TLS handshake on the same port, for
 * at most this long, to tell the two apart. */
#define DIAG_PROBE_TIMEOUT_S 5

/* ... and it does not wait the whole timeout for that: when the greeting
 * is this late, the handshake is tried on a second connection while the
 * first still waits. */
#define DIAG_GREETING_LATE_S 3

/* The test message is small; this bounds its composition. */
#define DIAG_MESSAGE_MAX (16 * 1024)

static const char *const status_names[] = {
	"ok", "failed", "skipped", "warning",
};

const char *
diag_status_name(int status)
{
	if (status < 0 || status > DIAG_WARNING)
		return "failed";
	return status_names[status];
}

static const char *
security_name(int security)
{
	switch (security) {
	case CONF_SEC_NONE:
		return "none";
	case CONF_SEC_TLS:
		return "tls";
	default:
		return "starttls";
	}
}

const struct conf_profile *
diag_profile(const struct conf *c, const char *name, struct op_err *e)
{
	const struct conf_profile *p;
	struct buf names;
	char shown[256];
	size_t i;

	if (name == NULL) {
		p = conf_profile_first_enabled(c);
		if (p == NULL)
			err_set(e, ERR_CONFIG, "no enabled profile: add a "
			    "[profile NAME] section with host, port and "
			    "security (or set enabled = yes in one)");
		return p;
	}
	p = conf_profile_find(c, name);
	if (p != NULL)
		return p;
	log_sanitize(shown, sizeof(shown), name);
	if (c->nprofiles == 0) {
		err_set(e, ERR_CONFIG, "no profile \"%s\": the settings have "
		    "no profile; add a [profile %s] section", shown, shown);
		return NULL;
	}
	buf_init(&names, ERR_MSG_MAX);
	for (i = 0; i < c->nprofiles; i++)
		if (buf_printf(&names, NULL, "%s%s", i > 0 ? ", " : "",
		    c->profiles[i].name) < 0)
			break;
	err_set(e, ERR_CONFIG, "no profile \"%s\"; the profiles are: %s",
	    shown, names.data != NULL ? names.data : "");
	buf_free(&names);
	return NULL;
}

/* ---- building a report ---- */

static struct diag_step *
step_add(struct diag_report *r, const char *name, int status,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static struct diag_step *
step_add(struct diag_report *r, const char *name, int status,
    const char *fmt, ...)
{
	struct diag_step *s;
	va_list ap;

	if (r->nsteps >= DIAG_STEPS_MAX) {
		/* Keep the last slot for what matters most: a failure. */
		if (status != DIAG_FAILED)
			return NULL;
		r->nsteps = DIAG_STEPS_MAX - 1;
	}
	s = &r->steps[r->nsteps++];
	memset(s, 0, sizeof(*s));
	(void)str_copy(s->step, sizeof(s->step), name);
	s->status = status;
	va_start(ap, fmt);
	vsnprintf(s->detail, sizeof(s->detail), fmt, ap);
	va_end(ap);
	if (status == DIAG_FAILED) {
		r->ok = 0;
		(void)str_copy(r->failed_step, sizeof(r->failed_step), name);
	}
	return s;
}

/* snprintf for text that may be cut short: a detail or hint that does not
 * fit is truncated, which is what we want. */
static void
textf(char *dst, size_t dstsz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
textf(char *dst, size_t dstsz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dst, dstsz, fmt, ap);
	va_end(ap);
}

/* "2027-01-01" from an ISO 8601 time, or "an unknown date". */
static void
date_only(const struct tls_info *ti, char *dst, size_t dstsz)
{
	if (ti != NULL && ti->not_after[0] != '\0')
		snprintf(dst, dstsz, "%.10s", ti->not_after);
	else
		(void)str_copy(dst, dstsz, "an unknown date");
}

/* The CN of an RFC 2253 name ("CN=a.example,O=x" -> "a.example"), else the
 * whole name, sanitised. */
static void
cert_name(const char *subject, char *dst, size_t dstsz)
{
	char raw[TLS_NAME_MAX];
	const char *cn = NULL, *p;
	size_t n;

	for (p = subject; p != NULL && *p != '\0'; p++) {
		if ((p == subject || p[-1] == ',') && strncmp(p, "CN=", 3) == 0) {
			cn = p + 3;
			break;
		}
	}
	if (cn == NULL) {
		log_sanitize(dst, dstsz, subject != NULL && *subject != '\0' ?
		    subject : "(no subject)");
		return;
	}
	/* Up to an unescaped ','. */
	for (n = 0; cn[n] != '\0' && n + 1 < sizeof(raw); n++) {
		if (cn[n] == ',' && (n == 0 || cn[n - 1] != '\\'))
			break;
		raw[n] = cn[n];
	}
	raw[n] = '\0';
	log_sanitize(dst, dstsz, raw);
}

/* "CN=x issued by CN=y, valid until 2027-01-01" */
static void
cert_text(const struct tls_info *ti, char *dst, size_t dstsz)
{
	char subj[TLS_NAME_MAX * 2], iss[TLS_NAME_MAX * 2], until[16];

	if (ti == NULL || !ti->have_cert) {
		(void)str_copy(dst, dstsz, "the server sent no certificate");
		return;
	}
	log_sanitize(subj, sizeof(subj), ti->subject[0] ? ti->subject :
	    "(no subject)");
	log_sanitize(iss, sizeof(iss), ti->issuer[0] ? ti->issuer :
	    "(no issuer)");
	date_only(ti, until, sizeof(until));
	textf(dst, dstsz, "%s issued by %s, valid until %s", subj, iss,
	    until);
}

/*
 * The one place that knows the failure classes: from the client's result
 * (and the session, for the capabilities and TLS findings), the kind
 * (exit code) and the hint that names the fix.
 */
static int
classify(const struct smtp_params *sp, const struct smtp_session *s,
    const struct smtp_result *res, const char *sender, const char *rcpt,
    char *hint, size_t hintsz)
{
	const struct tls_info *ti = s != NULL ? smtp_client_tls(s) : NULL;
	const struct smtp_caps *caps = s != NULL ? smtp_client_caps(s) : NULL;
	char reply[DIAG_REPLY_MAX], name[TLS_NAME_MAX * 2], when[16];
	char host[512];
	int code = res->reply.code;
	int temp = code >= 400 && code < 500;
	unsigned timeout = sp->timeout_s;

	log_sanitize(host, sizeof(host), sp->host);
	smtp_reply_format(&res->reply, reply, sizeof(reply));
	hint[0] = '\0';

	switch (res->fail) {
	case SMTP_FAIL_RESOLVE:
		textf(hint, hintsz, "The host name %s does not resolve: check "
		    "it for typos (it is the provider's SMTP server name, such "
		    "as smtp.example.com) and that this machine can look up "
		    "names (DNS).", host);
		return ERR_UNAVAILABLE;
	case SMTP_FAIL_CONNECT:
		if (res->sys == ECONNREFUSED) {
			textf(hint, hintsz, "Nothing listens on %s port %u: "
			    "check host and port (587 is STARTTLS, 465 implicit "
			    "TLS, 25 plain SMTP).", host, sp->port);
		} else if (res->sys == ETIMEDOUT) {
			textf(hint, hintsz, "No answer from %s port %u: a "
			    "firewall or the provider may block the port (many "
			    "networks block port 25); try port 587 (security = "
			    "starttls) or 465 (security = tls).", host, sp->port);
		} else if (res->sys == EHOSTUNREACH || res->sys == ENETUNREACH) {
			textf(hint, hintsz, "There is no route to %s: check the "
			    "host name and this machine's network connection.",
			    host);
		} else {
			textf(hint, hintsz, "Could not connect to %s port %u: "
			    "check host, port and the network.", host, sp->port);
		}
		return ERR_UNAVAILABLE;
	case SMTP_FAIL_TIMEOUT:
		if (res->phase == SMTP_PHASE_CONNECT) {
			textf(hint, hintsz, "No answer from %s port %u: a "
			    "firewall or the provider may block the port (many "
			    "networks block port 25); try port 587 (security = "
			    "starttls) or 465 (security = tls).", host, sp->port);
			return ERR_UNAVAILABLE;
		}
		if (res->phase == SMTP_PHASE_GREETING) {
			textf(hint, hintsz, "The server took the connection but "
			    "sent no greeting%s: this is probably the wrong port, "
			    "or a proxy or firewall that swallows the greeting "
			    "(an implicit-TLS port used with security = starttls "
			    "looks like this too: port 465 needs security = tls).",
			    timeout > 0 ? " in time" : "");
			return ERR_UNAVAILABLE;
		}
		textf(hint, hintsz, "The server stopped answering during %s: "
		    "try again; if it persists, the server or the network in "
		    "between is broken (timeout = %us in the profile).",
		    smtp_phase_name(res->phase), timeout);
		return ERR_TEMP;
	case SMTP_FAIL_TLS_ON_PLAIN_PORT:
		textf(hint, hintsz, "This port expects implicit TLS: set "
		    "security = tls (port 465 is implicit TLS, 587 is "
		    "STARTTLS).");
		return ERR_UNAVAILABLE;
	case SMTP_FAIL_PLAIN_ON_TLS_PORT:
		textf(hint, hintsz, "This port speaks plain SMTP/STARTTLS, not "
		    "implicit TLS: set security = starttls (port 587).");
		return ERR_UNAVAILABLE;
	case SMTP_FAIL_NO_STARTTLS:
		textf(hint, hintsz, "The server does not offer STARTTLS, so "
		    "nothing was sent in clear and the session stopped: use "
		    "security = tls with port 465, or ask the provider which "
		    "port offers STARTTLS (security = none only on a network "
		    "you trust).");
		return ERR_UNAVAILABLE;
	case SMTP_FAIL_INJECTION:
		textf(hint, hintsz, "The server, or something between, sent "
		    "data after its \"220\" to STARTTLS and before the TLS "
		    "handshake; that is how STARTTLS command injection works, "
		    "so Outpost stopped and sent nothing more. The server is "
		    "broken or the connection is tampered with: ask the "
		    "provider, or use security = tls on port 465.");
		return ERR_UNAVAILABLE;
	case SMTP_FAIL_TLS:
		textf(hint, hintsz, "The TLS handshake failed: the server may "
		    "offer only protocols or ciphers older than TLS 1.2, or the "
		    "port does not speak TLS; check security and port, or ask "
		    "the provider.");
		return ERR_UNAVAILABLE;
	case SMTP_FAIL_TLS_VERIFY: {
		int vc = ti != NULL ? ti->verify_code : res->sys;

		if (ti != NULL && ti->names[0] != '\0')
			log_sanitize(name, sizeof(name), ti->names);
		else
			cert_name(ti != NULL ? ti->subject : NULL, name,
			    sizeof(name));
		if (tls_verify_is_expired(vc)) {
			date_only(ti, when, sizeof(when));
			if (ti != NULL && ti->not_after_t > 0 &&
			    ti->not_after_t < clock_wall_ms() / 1000)
				textf(hint, hintsz, "The server's certificate "
				    "expired on %s: the provider must renew it "
				    "(tls_verify = no only for testing).", when);
			else
				textf(hint, hintsz, "The server's certificate "
				    "is not valid yet: check this machine's "
				    "clock, or ask the provider (tls_verify = "
				    "no only for testing).");
		} else if (tls_verify_is_hostname(vc)) {
			textf(hint, hintsz, "The certificate is for %s, not "
			    "for %s: set host to a name on the certificate "
			    "(the SMTP host name the provider documents).",
			    name, host);
		} else if (tls_verify_is_self_signed(vc)) {
			textf(hint, hintsz, "The certificate is not trusted: "
			    "it is self-signed. Set tls_ca_file to the "
			    "certificate itself if you trust it, or tls_verify "
			    "= no only for testing.");
		} else if (tls_verify_is_untrusted(vc)) {
			char ca[TLS_NAME_MAX * 2];

			log_sanitize(ca, sizeof(ca), ti != NULL &&
			    ti->untrusted[0] ? ti->untrusted : "its issuer");
			textf(hint, hintsz, "The certificate is not trusted: "
			    "it %s %s, which is not a CA this machine trusts. "
			    "Set tls_ca_file to that CA's certificate (for a "
			    "private CA), or tls_verify = no only for testing.",
			    ti != NULL && ti->untrusted_depth > 0 ?
			    "chains to" : "was issued by", ca);
		} else {
			char why[256];

			log_sanitize(why, sizeof(why), ti != NULL &&
			    ti->verify_text[0] ? ti->verify_text : res->msg);
			textf(hint, hintsz, "The certificate is not valid "
			    "(%s): ask the provider; set tls_ca_file for a "
			    "private CA, or tls_verify = no only for testing.",
			    why);
		}
		return ERR_UNAVAILABLE;
	}
	case SMTP_FAIL_NO_AUTH:
		textf(hint, hintsz, "The server does not offer AUTH on this "
		    "connection: check port and security (many servers offer "
		    "AUTH only after STARTTLS, or only on 587 and 465), or set "
		    "auth = no if the server takes mail from this machine "
		    "without a login.");
		return ERR_NOPERM;
	case SMTP_FAIL_NO_MECH: {
		char offered[SMTP_MECHS_MAX * 2];

		log_sanitize(offered, sizeof(offered), caps != NULL &&
		    caps->mechs[0] ? caps->mechs : "nothing usable");
		textf(hint, hintsz, "No login mechanism in common: the server "
		    "offers %s; Outpost supports " DIAG_OUR_MECHS ". Ask the "
		    "provider, or check port and security.", offered);
		return ERR_NOPERM;
	}
	case SMTP_FAIL_AUTH_INSECURE:
		textf(hint, hintsz, "Outpost does not send a password over an "
		    "unencrypted connection: use security = starttls or tls, "
		    "or (only on a network you trust) allow_plaintext_auth = "
		    "yes.");
		return ERR_CONFIG;
	case SMTP_FAIL_TOKEN:
		if (code == 0) {
			textf(hint, hintsz, "Outpost has no access token for this "
			    "profile (the token step says why). Sign in again: "
			    "outpost oauth login PROFILE, or the page's Sign in "
			    "button.");
			return ERR_NOPERM;
		}
		textf(hint, hintsz, "The server refused the access token, a "
		    "fresh one too (%s). Usual causes: the token is for another "
		    "mailbox than username (sign in as %s); the scope lacks "
		    "SMTP.Send (https://outlook.office.com/SMTP.Send) or "
		    "https://mail.google.com/; with client credentials, the app "
		    "has no SMTP.SendAsApp permission or no permission on the "
		    "mailbox (Add-MailboxPermission for the app's Exchange "
		    "service principal).", reply, sp->username != NULL ?
		    sp->username : "the username");
		return ERR_NOPERM;
	case SMTP_FAIL_AUTH:
		/* provider-specific refusals (5.7.139, ...): the rules of
		 * relay/hints.c, applied by provider_hint() */
		if (temp) {
			textf(hint, hintsz, "The server could not check the "
			    "login just now (%s): try again later.", reply);
			return ERR_TEMP;
		}
		textf(hint, hintsz, "The server refused the username or "
		    "password: check username and password; many providers "
		    "(Gmail, Microsoft 365, ...) need an app password, or SMTP "
		    "AUTH enabled in the account settings.");
		return ERR_NOPERM;
	case SMTP_FAIL_SASL:
		textf(hint, hintsz, "The login exchange failed: the server's "
		    "answers did not fit the mechanism (for SCRAM, the server "
		    "did not prove it knows the password). Ask the provider.");
		return ERR_NOPERM;
	case SMTP_FAIL_PARAMS:
		textf(hint, hintsz, "The profile is incomplete: with auth = "
		    "yes it needs username and password (or password_file, "
		    "password_command).");
		return ERR_CONFIG;
	case SMTP_FAIL_CLOSED:
		if (res->phase == SMTP_PHASE_GREETING) {
			textf(hint, hintsz, "The server closed the connection "
			    "without a greeting: probably the wrong port, or "
			    "the server refuses connections from this "
			    "address.");
			return ERR_UNAVAILABLE;
		}
		textf(hint, hintsz, "The server closed the connection during "
		    "%s: try again; if it persists, ask the provider.",
		    smtp_phase_name(res->phase));
		return ERR_TEMP;
	case SMTP_FAIL_IO:
		textf(hint, hintsz, "The connection failed during %s (%s): "
		    "try again; if it persists, check the network.",
		    smtp_phase_name(res->phase), strerror(res->sys));
		return ERR_TEMP;
	case SMTP_FAIL_PROTOCOL:
		if (res->phase == SMTP_PHASE_GREETING)
			textf(hint, hintsz, "What answered on this port is "
			    "not an SMTP server: check the port (587 "
			    "STARTTLS, 465 implicit TLS, 25 plain SMTP).");
		else
			textf(hint, hintsz, "The server broke the SMTP "
			    "protocol during %s: ask the provider.",
			    smtp_phase_name(res->phase));
		return ERR_UNAVAILABLE;
	case SMTP_FAIL_NO_SMTPUTF8:
		textf(hint, hintsz, "An address is not plain ASCII and the "
		    "server does not accept such addresses (no SMTPUTF8).");
		return ERR_DATA;
	case SMTP_FAIL_TOO_BIG:
		textf(hint, hintsz, "The message is larger than the server "
		    "accepts.");
		return ERR_DATA;
	case SMTP_FAIL_BAD_ADDRESS:
		textf(hint, hintsz, "An address cannot be sent over SMTP: "
		    "check the sender (from) and recipient addresses.");
		return ERR_DATA;
	case SMTP_FAIL_REPLY:
	default:
		break;
	}

	/* The server refused a command: judge by phase and code. */
	switch (res->phase) {
	case SMTP_PHASE_GREETING:
		if (temp) {
			textf(hint, hintsz, "The server is busy or refuses "
			    "connections from this address (%d): try again "
			    "later; if it persists, ask the provider whether "
			    "this machine's address is blocked.", code);
			return ERR_TEMP;
		}
		textf(hint, hintsz, "The server refuses service to this "
		    "address: ask the provider (this machine's address may be "
		    "on a block list).");
		return ERR_UNAVAILABLE;
	case SMTP_PHASE_EHLO:
		textf(hint, hintsz, "The server refused EHLO and HELO: set "
		    "[server] hostname to this machine's fully qualified "
		    "domain name.");
		return temp ? ERR_TEMP : ERR_UNAVAILABLE;
	case SMTP_PHASE_STARTTLS:
		if (temp) {
			textf(hint, hintsz, "The server cannot start TLS just "
			    "now: try again later.");
			return ERR_TEMP;
		}
		textf(hint, hintsz, "The server refused STARTTLS: use "
		    "security = tls with port 465, or ask the provider.");
		return ERR_UNAVAILABLE;
	case SMTP_PHASE_MAIL:
		if (temp) {
			textf(hint, hintsz, "The server did not take the sender "
			    "just now: try again later.");
			return ERR_TEMP;
		}
		if (code == 530 || (res->reply.enh_class == 5 &&
		    res->reply.enh_subject == 7 && res->reply.enh_detail == 0
		    && !sp->auth)) {
			textf(hint, hintsz, "The server wants a login before it "
			    "takes mail: set auth = yes with username and "
			    "password.");
			return ERR_NOPERM;
		}
		textf(hint, hintsz, "The server refused the sender address "
		    "%s: set from to an address the provider allows (a "
		    "verified sender, or an address in a domain verified with "
		    "the provider).", sender != NULL ? sender : "(none)");
		return ERR_DATA;
	case SMTP_PHASE_RCPT:
		if (temp) {
			textf(hint, hintsz, "The server did not take the "
			    "recipient just now: try again later.");
			return ERR_TEMP;
		}
		textf(hint, hintsz, "The server refused the recipient %s: "
		    "check the address; some providers only relay to "
		    "verified recipients while an account is in a trial or "
		    "sandbox mode.", rcpt != NULL ? rcpt : "(none)");
		return ERR_DATA;
	case SMTP_PHASE_DATA:
		if (temp) {
			textf(hint, hintsz, "The server did not take the "
			    "message just now: try again later.");
			return ERR_TEMP;
		}
		textf(hint, hintsz, "The server refused the message: see its "
		    "reply.");
		return ERR_DATA;
	default:
		break;
	}
	if (temp) {
		textf(hint, hintsz, "The server answered with a temporary "
		    "failure: try again later.");
		return ERR_TEMP;
	}
	textf(hint, hintsz, "The server refused during %s: see its reply.",
	    smtp_phase_name(res->phase));
	return ERR_UNAVAILABLE;
}

static const char *
phase_step_name(int phase)
{
	switch (phase) {
	case SMTP_PHASE_MAIL:
		return "sender";
	case SMTP_PHASE_RCPT:
		return "recipient";
	default:
		return smtp_phase_name(phase);
	}
}

/* A failed step's detail: the client's text, with the server's reply when
 * the client's text does not already show it. */
static void
failure_detail(const char *base, const struct smtp_result *res, char *dst,
    size_t dstsz)
{
	char reply[DIAG_REPLY_MAX];
	char code[8];

	if (base == NULL || base[0] == '\0')
		base = res->msg;
	if (res->reply.code == 0) {
		(void)str_copy(dst, dstsz, base);
		return;
	}
	smtp_reply_format(&res->reply, reply, sizeof(reply));
	snprintf(code, sizeof(code), "%d", res->reply.code);
	if (strstr(base, code) != NULL)
		(void)str_copy(dst, dstsz, base);
	else
		textf(dst, dstsz, "%s: %s", base, reply);
}

/* The tls and certificate steps, from the session's TLS findings. */
static void
add_tls_steps(struct diag_report *rep, const struct smtp_params *sp,
    const struct smtp_session *s, const struct smtp_step *st,
    const struct smtp_result *res, int failed_here)
{
	const struct tls_info *ti = smtp_client_tls(s);
	char cert[DIAG_DETAIL_MAX], host[300], hint[DIAG_HINT_MAX];
	char reason[DIAG_DETAIL_MAX];
	struct diag_step *d;
	int kind;

	log_sanitize(host, sizeof(host), sp->host);
	if (!failed_here) {
		if (ti != NULL && ti->version[0] != '\0')
			step_add(rep, "tls", DIAG_OK, "%s %s", ti->version,
			    ti->cipher);
		else
			step_add(rep, "tls", DIAG_OK, "%s", st->detail);
		cert_text(ti, cert, sizeof(cert));
		if (ti != NULL && ti->verify_enabled) {
			step_add(rep, "certificate", DIAG_OK, "%s; verified "
			    "for %s", cert, host);
		} else {
			d = step_add(rep, "certificate", DIAG_WARNING, "%s; "
			    "not verified (tls_verify = no)", cert);
			if (d != NULL)
				textf(d->hint, sizeof(d->hint), "tls_verify = "
				    "no: the certificate is not checked, so "
				    "anyone between here and the server could "
				    "read the mail and the password; use it only "
				    "for testing (for a private CA, set "
				    "tls_ca_file instead).");
		}
		return;
	}

	kind = classify(sp, s, res, NULL, NULL, hint, sizeof(hint));
	if (res->fail == SMTP_FAIL_TLS_VERIFY) {
		/* TLS itself worked; the certificate did not pass. */
		if (ti != NULL && ti->version[0] != '\0')
			step_add(rep, "tls", DIAG_OK, "%s %s", ti->version,
			    ti->cipher);
		else
			step_add(rep, "tls", DIAG_OK, "handshake reached the "
			    "certificate check");
		cert_text(ti, cert, sizeof(cert));
		if (ti != NULL) {
			char why[TLS_NAME_MAX * 2 + 128];
			char bare[300];

			/* what failed, said as itself (tls_verify_reason) */
			tls_verify_reason(ti, net_host_bare(sp->host, bare,
			    sizeof(bare)), why, sizeof(why));
			log_sanitize(reason, sizeof(reason), why);
		} else {
			(void)str_copy(reason, sizeof(reason), "is not valid");
		}
		d = step_add(rep, "certificate", DIAG_FAILED, "%s; the "
		    "certificate %s", cert, reason);
	} else {
		char detail[DIAG_DETAIL_MAX];

		failure_detail(st != NULL ? st->detail : NULL, res, detail,
		    sizeof(detail));
		d = step_add(rep, "tls", DIAG_FAILED, "%s", detail);
	}
	if (d != NULL)
		(void)str_copy(d->hint, sizeof(d->hint), hint);
	rep->kind = kind;
}

/* Consecutive connect steps (one per address tried) become one step. */
struct connect_acc {
	size_t n;
	int ok;
	char detail[DIAG_DETAIL_MAX];
};

static void
connect_add(struct connect_acc *c, const struct smtp_step *st)
{
	size_t len = strlen(c->detail);

	if (c->n > 0 && len + 3 < sizeof(c->detail)) {
		snprintf(c->detail + len, sizeof(c->detail) - len, "; %s",
		    st->detail);
	} else if (c->n == 0) {
		(void)str_copy(c->detail, sizeof(c->detail), st->detail);
	}
	c->ok = st->ok;
	c->n++;
}

/* Add the failed step name/detail with the hint and kind for res. */
static void
add_failure(struct diag_report *rep, const struct smtp_params *sp,
    const struct smtp_session *s, const struct smtp_result *res,
    const char *name, const char *detail)
{
	char hint[DIAG_HINT_MAX];
	struct diag_step *d;

	rep->kind = classify(sp, s, res, NULL, NULL, hint, sizeof(hint));
	d = step_add(rep, name, DIAG_FAILED, "%s", detail);
	if (d != NULL)
		(void)str_copy(d->hint, sizeof(d->hint), hint);
}

static void
add_tls_skipped(struct diag_report *rep)
{
	step_add(rep, "tls", DIAG_SKIPPED, "skipped: security = none (the "
	    "connection is not encrypted)");
}

/*
 * The steps of smtp_client_open(), failed or not.  The failure is the last
 * step that is not ok in the phase the result names; other steps that are
 * not ok did not stop the session (an address that refused before another
 * answered, EHLO refused before HELO worked) and are shown as warnings.
 */
static void
add_open_steps(struct diag_report *rep, const struct smtp_params *sp,
    const struct smtp_session *s, const struct smtp_result *res,
    int open_failed)
{
	size_t i, n = smtp_client_nsteps(s);
	struct connect_acc conn;
	char detail[DIAG_DETAIL_MAX];
	int tls_shown = 0;
	long fail_idx = -1;

	if (open_failed) {
		for (i = n; i > 0; i--) {
			const struct smtp_step *st = smtp_client_step(s, i - 1);

			if (!st->ok && st->phase == res->phase) {
				fail_idx = (long)(i - 1);
				break;
			}
		}
	}
	memset(&conn, 0, sizeof(conn));
	for (i = 0; i < n; i++) {
		const struct smtp_step *st = smtp_client_step(s, i);
		int fails = (long)i == fail_idx;

		if (st->phase == SMTP_PHASE_CONNECT) {
			connect_add(&conn, st);
			if (i + 1 < n && smtp_client_step(s, i + 1)->phase ==
			    SMTP_PHASE_CONNECT)
				continue;
			if (fails)
				add_failure(rep, sp, s, res, "connect",
				    conn.detail);
			else
				step_add(rep, "connect", conn.ok ? DIAG_OK :
				    DIAG_WARNING, "%s", conn.detail);
			memset(&conn, 0, sizeof(conn));
			continue;
		}
		if (st->phase == SMTP_PHASE_TLS) {
			add_tls_steps(rep, sp, s, st, res, fails);
			tls_shown = 1;
			continue;
		}
		if (st->phase == SMTP_PHASE_AUTH && !tls_shown &&
		    sp->security == SMTP_SEC_NONE) {
			add_tls_skipped(rep);
			tls_shown = 1;
		}
		if (fails) {
			failure_detail(st->detail, res, detail, sizeof(detail));
			add_failure(rep, sp, s, res, phase_step_name(st->phase),
			    detail);
		} else {
			step_add(rep, phase_step_name(st->phase), st->ok ?
			    DIAG_OK : DIAG_WARNING, "%s", st->detail);
		}
	}
	if (open_failed && fail_idx < 0) {
		/* The client failed without a step of its own for it. */
		failure_detail(NULL, res, detail, sizeof(detail));
		add_failure(rep, sp, s, res, phase_step_name(
		    res->phase != SMTP_PHASE_NONE ? res->phase :
		    SMTP_PHASE_CONNECT), detail);
	}
	if (!open_failed && !tls_shown && sp->security == SMTP_SEC_NONE)
		add_tls_skipped(rep);
}

/*
 * The server did not greet: is it an implicit-TLS port?  Try a TLS
 * handshake on a new connection (no certificate check, no login; only
 * EHLO and QUIT are sent, over TLS).  1 with the version and cipher in
 * found if TLS answered.
 */
static int
probe_implicit_tls(const struct smtp_params *sp, char *found, size_t foundsz)
{
	struct smtp_params pp = *sp;
	struct smtp_session *ps = NULL;
	struct smtp_result pr;
	const struct tls_info *ti;
	int yes = 0;

	pp.security = SMTP_SEC_TLS;
	pp.greeting_late = NULL;
	pp.tls_verify = 0;
	pp.tls_ca_file = NULL;
	pp.auth = 0;
	pp.username = NULL;
	pp.password = NULL;
	if (pp.timeout_s == 0 || pp.timeout_s > DIAG_PROBE_TIMEOUT_S)
		pp.timeout_s = DIAG_PROBE_TIMEOUT_S;
	smtp_result_init(&pr);
	if (smtp_client_open(&pp, &ps, &pr) == 0)
		smtp_client_quit(ps);
	ti = smtp_client_tls(ps);
	if (ti != NULL && ti->done) {
		yes = 1;
		textf(found, foundsz, "%s %s", ti->version, ti->cipher);
	}
	smtp_client_free(ps);
	smtp_result_free(&pr);
	return yes;
}

/* The implicit-TLS probe as the client's greeting_late hook. */
struct late_probe {
	const struct smtp_params *sp;
	int ran;                /* the probe was made */
	int yes;                /* and TLS answered */
	char found[128];        /* version and cipher */
};

static int
greeting_late(void *arg)
{
	struct late_probe *lp = arg;

	lp->ran = 1;
	lp->yes = probe_implicit_tls(lp->sp, lp->found, sizeof(lp->found));
	return lp->yes;
}

/*
 * A refusal the provider rules know (relay/hints.c): their hint replaces
 * the generic one, and their class decides the kind.  1 if one matched.
 */
static int
provider_hint(const char *provider, const struct smtp_reply *rep,
    char *hint, size_t hintsz, int *kind)
{
	const struct hint_rule *rule = hint_match(provider, rep);
	char reply[DIAG_REPLY_MAX];

	if (rule == NULL)
		return 0;
	smtp_reply_format(rep, reply, sizeof(reply));
	textf(hint, hintsz, "%s", rule->hint);
	switch (rule->cls) {
	case HINT_AUTH: *kind = ERR_NOPERM; break;
	case HINT_SENDER: *kind = ERR_DATA; break;
	default: *kind = ERR_TEMP; break;
	}
	return 1;
}

static struct diag_step *
failed_step(struct diag_report *rep)
{
	size_t i;

	for (i = rep->nsteps; i > 0; i--)
		if (rep->steps[i - 1].status == DIAG_FAILED)
			return &rep->steps[i - 1];
	return NULL;
}

/* What probe_implicit_tls() found, in the failed greeting step: TLS
 * answered (the failure is the security setting), or it did not. */
static void
mark_probe(struct diag_report *rep, const struct smtp_params *sp,
    int tls_answered, const char *found)
{
	struct smtp_result r;
	struct diag_step *d = failed_step(rep);
	size_t len;

	if (d == NULL)
		return;
	len = strlen(d->detail);
	if (!tls_answered) {
		textf(d->detail + len, sizeof(d->detail) - len, "; a TLS "
		    "handshake on the same port got no answer either");
		textf(d->hint, sizeof(d->hint), "The server took the "
		    "connection but sent no greeting, and it does not answer "
		    "TLS either: this is probably the wrong port, or a proxy "
		    "or firewall that swallows the greeting; check host and "
		    "port (587 is STARTTLS, 465 implicit TLS, 25 plain SMTP).");
		return;
	}
	smtp_result_init(&r);
	r.phase = SMTP_PHASE_GREETING;
	r.fail = SMTP_FAIL_TLS_ON_PLAIN_PORT;
	rep->kind = classify(sp, NULL, &r, NULL, NULL, d->hint,
	    sizeof(d->hint));
	textf(d->detail + len, sizeof(d->detail) - len, "; a TLS handshake "
	    "on the same port worked (%s)", found);
	smtp_result_free(&r);
}

/*
 * Open the session; with auth = oauth2 a "token" step comes first (the
 * access token got, or why not, with what to do).
 */
static int
token_open(struct diag_report *rep, const struct conf_profile *p,
    const struct smtp_params *sp, struct smtp_session **s,
    struct smtp_result *res)
{
	struct relay_oauth_info info;
	struct oauth_status st;
	struct diag_step *d;
	int rc = relay_oauth_open(p, sp, s, res, &info);

	if (!info.used)
		return rc;
	if (!info.token_ok) {
		d = step_add(rep, "token", DIAG_FAILED, "%s", info.token_err.msg);
		rep->ok = 0;
		rep->kind = ERR_NOPERM;
		if (d != NULL)
			textf(d->hint, sizeof(d->hint), "%s", info.token_err.kind ==
			    ERR_NOPERM ? "Sign in again: outpost oauth login "
			    "PROFILE (or the page's Sign in button). The reason "
			    "above names the cause." : "The token endpoint could "
			    "not be reached or failed: check oauth_token_url, the "
			    "network and tls_ca_file; Outpost tries again with a "
			    "backoff.");
		return rc;
	}
	oauth_status_get(p, &st);
	if (st.expires > 0) {
		int64_t left = st.expires - (int64_t)(clock_wall_ms() / 1000);

		step_add(rep, "token", DIAG_OK, "an access token (%s)%s, valid for "
		    "%lld more minutes", st.grant, info.retried ? ", fresh after "
		    "the server refused the first" : "", (long long)(left / 60));
	} else {
		step_add(rep, "token", DIAG_OK, "an access token (%s)%s", st.grant,
		    info.retried ? ", fresh after the server refused the first" : "");
	}
	return rc;
}

int
diag_run(const struct conf_profile *p, const char *helo,
    struct diag_report *rep, struct op_err *e)
{
	struct smtp_params sp;
	struct smtp_session *s = NULL;
	struct smtp_result res;
	struct diag_step *d;
	struct late_probe late;
	char hint[DIAG_HINT_MAX], detail[DIAG_DETAIL_MAX], from[512];
	int rc;

	memset(rep, 0, sizeof(*rep));
	rep->ok = 1;
	rep->kind = ERR_NONE;
	if (p == NULL || p->host == NULL || p->host[0] == '\0') {
		rep->ok = 0;
		rep->kind = ERR_CONFIG;
		return err_set(e, ERR_CONFIG, "profile %s has no host: set "
		    "host = the provider's SMTP server name",
		    p != NULL && p->name != NULL ? p->name : "(none)");
	}
	deliver_params(p, helo, &sp);
	smtp_result_init(&res);
	memset(&late, 0, sizeof(late));
	if (sp.security != SMTP_SEC_TLS) {
		late.sp = &sp;
		sp.greeting_late_s = DIAG_GREETING_LATE_S;
		sp.greeting_late = greeting_late;
		sp.greeting_late_arg = &late;
	}

	rc = token_open(rep, p, &sp, &s, &res);
	add_open_steps(rep, &sp, s, &res, rc < 0);
	if (rc < 0 && res.phase == SMTP_PHASE_GREETING &&
	    sp.security != SMTP_SEC_TLS && (res.fail == SMTP_FAIL_TIMEOUT ||
	    (res.fail == SMTP_FAIL_TLS_ON_PLAIN_PORT && late.ran))) {
		smtp_client_free(s);
		s = NULL;
		if (!late.ran)          /* the timeout came first */
			late.yes = probe_implicit_tls(&sp, late.found,
			    sizeof(late.found));
		mark_probe(rep, &sp, late.yes, late.found);
	}
	if (rc < 0) {
		if (rep->ok) {          /* cannot happen; never report ok */
			rep->ok = 0;
			if (rep->kind == ERR_NONE)
				rep->kind = ERR_UNAVAILABLE;
		}
		goto out;
	}

	if (!p->auth)
		step_add(rep, "auth", DIAG_SKIPPED, "skipped: auth = no (the "
		    "server must take mail from this machine without a "
		    "login)");

	if (p->from == NULL || p->from[0] == '\0') {
		d = step_add(rep, "sender", DIAG_SKIPPED, "skipped: the "
		    "profile has no from address");
		if (d != NULL)
			textf(d->hint, sizeof(d->hint), "Set from = the sender "
			    "address for test emails, so that the check can "
			    "ask the server whether it accepts it.");
		smtp_client_quit(s);
		goto out;
	}
	log_sanitize(from, sizeof(from), p->from);
	if (smtp_client_mail(s, p->from, 0, 0, &res) == 0) {
		char reply[DIAG_REPLY_MAX];
		struct smtp_result rr;

		smtp_reply_format(&res.reply, reply, sizeof(reply));
		step_add(rep, "sender", DIAG_OK, "MAIL FROM:<%s> accepted: %s",
		    from, reply);
		smtp_result_init(&rr);
		(void)smtp_client_rset(s, &rr);   /* no mail is sent */
		smtp_result_free(&rr);
	} else {
		rep->kind = classify(&sp, s, &res, from, NULL, hint,
		    sizeof(hint));
		if (res.reply.code != 0) {
			char reply[DIAG_REPLY_MAX];

			smtp_reply_format(&res.reply, reply, sizeof(reply));
			textf(detail, sizeof(detail), "MAIL FROM:<%s> "
			    "refused: %s", from, reply);
		} else {
			failure_detail(NULL, &res, detail, sizeof(detail));
		}
		d = step_add(rep, "sender", DIAG_FAILED, "%s", detail);
		if (d != NULL)
			(void)str_copy(d->hint, sizeof(d->hint), hint);
	}
	smtp_client_quit(s);
out:
	if (!rep->ok && res.reply.code != 0 && res.fail != SMTP_FAIL_TOKEN &&
	    (d = failed_step(rep)) != NULL)
		provider_hint(hint_provider(p), &res.reply, d->hint,
		    sizeof(d->hint), &rep->kind);
	smtp_client_free(s);
	smtp_result_free(&res);
	if (rep->ok)
		rep->kind = ERR_NONE;
	return 0;
}

/* ---- JSON ---- */

json_t *
diag_report_to_json(const struct diag_report *rep)
{
	json_t *root = NULL, *steps = NULL, *o;
	size_t i;

	root = json_object();
	steps = json_array();
	if (root == NULL || steps == NULL)
		goto fail;
	for (i = 0; i < rep->nsteps; i++) {
		const struct diag_step *s = &rep->steps[i];

		o = json_pack("{s:s, s:b, s:s, s:o}", "step", s->step, "ok",
		    s->status != DIAG_FAILED, "detail", s->detail, "hint",
		    s->hint[0] != '\0' ? json_string(s->hint) : json_null());
		if (o == NULL || json_array_append_new(steps, o) < 0)
			goto fail;
	}
	if (json_object_set_new(root, "ok", json_boolean(rep->ok)) < 0)
		goto fail;
	if (json_object_set_new(root, "steps", steps) < 0) {
		steps = NULL;
		goto fail;
	}
	return root;
fail:
	json_decref(steps);
	json_decref(root);
	return NULL;
}

char *
diag_report_json_text(const struct diag_report *rep, struct op_err *e)
{
	json_t *j = diag_report_to_json(rep);
	char *text;

	if (j == NULL) {
		err_set(e, ERR_OSERR, "out of memory building JSON");
		return NULL;
	}
	text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (text == NULL)
		err_set(e, ERR_OSERR, "out of memory building JSON");
	return text;
}

/* ---- the test email ---- */

/*
 * The test message (mail/mime.h does the MIME): Date, From, To, Subject,
 * Message-ID, MIME-Version, text/plain UTF-8, and a body that says which
 * profile, server and machine sent it, and when.
 */
static int
compose_test(const struct conf_profile *p, const struct addr_mailbox *from,
    const struct addr_mailbox *to, const char *helo, struct buf *out,
    struct mime_info *info, struct op_err *e)
{
	char date[64], subject[256], myname[256];
	struct mime_addr to_addr = { to->addr, NULL };
	struct mime_header xmailer = { "X-Mailer", "Outpost " OUTPOST_VERSION };
	struct mime_msg m;
	struct buf text;
	int64_t now = clock_wall_ms() / 1000;
	int rc = -1;

	buf_init(&text, DIAG_MESSAGE_MAX);
	clock_rfc5322(now, date, sizeof(date));
	textf(subject, sizeof(subject), DIAG_SUBJECT " (%s)", p->name);
	if (helo != NULL && helo[0] != '\0')
		(void)str_copy(myname, sizeof(myname), helo);
	else if (gethostname(myname, sizeof(myname)) < 0)
		(void)str_copy(myname, sizeof(myname), "this machine");
	myname[sizeof(myname) - 1] = '\0';
	if (buf_printf(&text, e,
	    "This is a test email from Outpost.\n"
	    "\n"
	    "Profile:  %s\n"
	    "Server:   %s port %u (security = %s%s)\n"
	    "Sent by:  %s\n"
	    "Sent at:  %s\n"
	    "From:     %s\n"
	    "To:       %s\n"
	    "\n"
	    "If you can read this, the profile \"%s\" can send mail.\n",
	    p->name, p->host, p->port, security_name(p->security),
	    p->auth ? ", with login" : "", myname, date, from->addr, to->addr,
	    p->name) < 0)
		goto out;

	memset(&m, 0, sizeof(m));
	m.from.addr = from->addr;
	m.from.name = p->from_name;
	m.to = &to_addr;
	m.nto = 1;
	m.subject = subject;
	m.text = text.data;
	m.text_len = text.len;
	m.headers = &xmailer;
	m.nheaders = 1;
	m.date = now;
	rc = mime_compose(&m, out, info, e);
out:
	buf_free(&text);
	return rc;
}

/* Fill res for a failure described by r (and the session, if any). */
static void
send_failed(struct diag_send_result *res, const struct smtp_params *sp,
    const struct smtp_session *s, const struct smtp_result *r,
    const char *sender, const char *rcpt, const char *provider)
{
	res->ok = 0;
	res->kind = classify(sp, s, r, sender, rcpt, res->hint,
	    sizeof(res->hint));
	if (r->fail != SMTP_FAIL_TOKEN)   /* its own hint says more */
		provider_hint(provider, &r->reply, res->hint,
		    sizeof(res->hint), &res->kind);
	res->code = r->reply.code;
	(void)str_copy(res->step, sizeof(res->step),
	    phase_step_name(r->phase != SMTP_PHASE_NONE ? r->phase :
	    SMTP_PHASE_CONNECT));
	if (r->reply.code != 0)
		smtp_reply_format(&r->reply, res->reply, sizeof(res->reply));
	(void)str_copy(res->msg, sizeof(res->msg), r->msg); /* sanitised */
}

int
diag_test_email(const struct conf_profile *p, const char *helo,
    const char *to, struct diag_send_result *res, struct op_err *e)
{
	struct addr_mailbox from_mb, to_mb;
	struct smtp_params sp;
	struct smtp_session *s = NULL;
	struct smtp_result r, rcpt_r;
	struct smtp_envelope env;
	struct smtp_body body;
	struct smtp_mem_body mem;
	struct buf msg;
	struct mime_info info;
	struct op_err ae;
	const char *rcpts[1];
	char shown[512];
	int rc = -1;

	memset(res, 0, sizeof(*res));
	res->kind = ERR_SOFTWARE;
	buf_init(&msg, DIAG_MESSAGE_MAX);
	smtp_result_init(&r);
	smtp_result_init(&rcpt_r);

	if (to == NULL || addr_parse_mailbox(to, &to_mb, &ae) < 0) {
		log_sanitize(shown, sizeof(shown), to != NULL ? to : "");
		err_set(e, ERR_DATA, "%s is not a valid recipient address: %s",
		    shown, to != NULL ? ae.msg : "none given");
		goto out;
	}
	if (p->host == NULL || p->host[0] == '\0') {
		err_set(e, ERR_CONFIG, "profile %s has no host: set host = "
		    "the provider's SMTP server name", p->name);
		goto out;
	}
	if (p->from == NULL || p->from[0] == '\0') {
		err_set(e, ERR_CONFIG, "profile %s has no from address: add "
		    "from = ADDRESS to [profile %s] (the sender of test "
		    "emails)", p->name, p->name);
		goto out;
	}
	if (addr_parse_mailbox(p->from, &from_mb, &ae) < 0) {
		log_sanitize(shown, sizeof(shown), p->from);
		err_set(e, ERR_CONFIG, "profile %s: from = %s is not a valid "
		    "address: %s", p->name, shown, ae.msg);
		goto out;
	}
	if (compose_test(p, &from_mb, &to_mb, helo, &msg, &info, e) < 0)
		goto out;
	(void)str_copy(res->message_id, sizeof(res->message_id),
	    info.message_id);
	rc = 0;

	deliver_params(p, helo, &sp);
	if (relay_oauth_open(p, &sp, &s, &r, NULL) < 0) {
		send_failed(res, &sp, s, &r, from_mb.addr, to_mb.addr,
		    hint_provider(p));
		goto out;
	}
	rcpts[0] = to_mb.addr;
	memset(&env, 0, sizeof(env));
	env.sender = from_mb.addr;
	env.rcpts = rcpts;
	env.nrcpts = 1;
	smtp_body_from_mem(&body, &mem, msg.data, msg.len);
	if (smtp_client_send(s, &env, &body, &rcpt_r, &r) < 0) {
		/* A refused recipient is in its own result. */
		if (rcpt_r.phase == SMTP_PHASE_RCPT && rcpt_r.reply.code != 0)
			send_failed(res, &sp, s, &rcpt_r, from_mb.addr,
			    to_mb.addr, hint_provider(p));
		else
			send_failed(res, &sp, s, &r, from_mb.addr, to_mb.addr,
		    hint_provider(p));
		smtp_client_quit(s);
		goto out;
	}
	res->ok = 1;
	res->kind = ERR_NONE;
	res->code = r.reply.code;
	smtp_reply_format(&r.reply, res->reply, sizeof(res->reply));
	snprintf(res->msg, sizeof(res->msg), "the server accepted the test "
	    "email to %s", to_mb.addr);
	smtp_client_quit(s);
out:
	smtp_client_free(s);
	smtp_result_free(&rcpt_r);
	smtp_result_free(&r);
	buf_free(&msg);
	return rc;
}

/* ---- DKIM: the published records (docs/dkim.md) ---- */

#define DIAG_DNS_ANSWER_MAX 8192
#define DIAG_TXT_MAX 4096

/*
 * The TXT record at name, its strings joined, into out.  Returns 1 if
 * found, 0 if there is none (the name does not exist, or has no TXT
 * record), -1 if the lookup failed (detail in why).
 */
static int
dns_txt(const char *name, char *out, size_t outsz, char *why, size_t whysz)
{
	struct __res_state rs;
	unsigned char *ans = NULL;
	const char *srv = getenv(DIAG_DKIM_ENV);
	const unsigned char *p, *end;
	int n, i, qd, count, rc = -1, best = 0;

	memset(&rs, 0, sizeof(rs));
	if (res_ninit(&rs) != 0) {
		snprintf(why, whysz, "the resolver cannot start (/etc/resolv.conf)");
		return -1;
	}
	if (srv != NULL && srv[0] != '\0') {
		char host[64];
		const char *colon = strrchr(srv, ':');
		unsigned long port = 53;
		struct in_addr a;

		snprintf(host, sizeof(host), "%.*s", colon != NULL ?
		    (int)(colon - srv) : (int)strlen(srv), srv);
		if ((colon != NULL && str_to_ulong(colon + 1, 65535, &port) < 0) ||
		    inet_pton(AF_INET, host, &a) != 1) {
			snprintf(why, whysz, "%s=%s: write IPV4:PORT", DIAG_DKIM_ENV,
			    srv);
			goto out;
		}
		rs.nsaddr_list[0].sin_family = AF_INET;
		rs.nsaddr_list[0].sin_addr = a;
		rs.nsaddr_list[0].sin_port = htons((unsigned short)port);
		rs.nscount = 1;
	}
	rs.retrans = 2;
	rs.retry = 2;
	ans = malloc(DIAG_DNS_ANSWER_MAX);
	if (ans == NULL) {
		snprintf(why, whysz, "out of memory");
		goto out;
	}
	n = res_nquery(&rs, name, ns_c_in, ns_t_txt, ans, DIAG_DNS_ANSWER_MAX);
	if (n < 0) {
		if (rs.res_h_errno == HOST_NOT_FOUND || rs.res_h_errno == NO_DATA) {
			rc = 0;
		} else {
			snprintf(why, whysz, "the DNS lookup failed (%s)",
			    hstrerror(rs.res_h_errno));
		}
		goto out;
	}
	/* The answer (RFC 1035 section 4.1), read here rather than with
	 * libresolv's ns_* functions, which would add a library to every
	 * start: the header, the question skipped, then the records. */
	p = ans + NS_HFIXEDSZ;
	end = ans + n;
	if (n < NS_HFIXEDSZ) {
		snprintf(why, whysz, "the DNS answer cannot be read");
		goto out;
	}
	qd = (ans[4] << 8) | ans[5];
	count = (ans[6] << 8) | ans[7];
	for (i = 0; i < qd; i++) {
		int sk = dn_skipname(p, end);

		if (sk < 0 || p + sk + 4 > end) {
			snprintf(why, whysz, "the DNS answer cannot be read");
			goto out;
		}
		p += sk + 4;
	}
	rc = 0;
	for (i = 0; i < count; i++) {
		const unsigned char *rd, *rend;
		char txt[DIAG_TXT_MAX];
		size_t len = 0;
		int sk = dn_skipname(p, end), type, rdlen;

		if (sk < 0 || p + sk + 10 > end)
			break;
		p += sk;
		type = (p[0] << 8) | p[1];
		rdlen = (p[8] << 8) | p[9];
		p += 10;
		if (p + rdlen > end)
			break;
		rd = p;
		rend = p + rdlen;
		p = rend;
		if (type != ns_t_txt)
			continue;
		while (rd < rend) {
			size_t sl = *rd++;

			if (sl > (size_t)(rend - rd))
				sl = (size_t)(rend - rd);
			if (len + sl < sizeof(txt)) {
				memcpy(txt + len, rd, sl);
				len += sl;
			}
			rd += sl;
		}
		txt[len] = '\0';
		/* Of several TXT records, the DKIM one. */
		if (rc == 0 || (!best && strncmp(txt, "v=DKIM1", 7) == 0)) {
			best = strncmp(txt, "v=DKIM1", 7) == 0;
			snprintf(out, outsz, "%s", txt);
			rc = 1;
		}
	}
out:
	free(ans);
	res_nclose(&rs);
	return rc;
}

void
diag_dkim(const struct conf *c, struct diag_report *rep)
{
	size_t i;

	for (i = 0; i < c->ndkim; i++) {
		const struct conf_dkim *k = &c->dkim[i];
		char name[600], txt[DIAG_TXT_MAX], why[256] = "";
		struct buf pub;
		struct op_err e;
		struct diag_step *d;
		int found;

		snprintf(name, sizeof(name), "%s._domainkey.%s", k->selector,
		    k->domain);
		found = dns_txt(name, txt, sizeof(txt), why, sizeof(why));
		if (found == 1 && mail_dkim_record_compare(txt, k->key_pem,
		    k->key_len, why, sizeof(why)) == MAIL_DKIM_REC_OK) {
			step_add(rep, "dkim", DIAG_OK, "[dkim %s]: %s: published, "
			    "the same %s key", k->name, name,
			    mail_dkim_type_name(k->key_type));
			continue;
		}
		if (found == 1)
			d = step_add(rep, "dkim", DIAG_WARNING, "[dkim %s]: %s: a "
			    "different key is published: %s", k->name, name, why);
		else if (found == 0)
			d = step_add(rep, "dkim", DIAG_WARNING, "[dkim %s]: %s: not "
			    "found: no TXT record is published", k->name, name);
		else
			d = step_add(rep, "dkim", DIAG_WARNING, "[dkim %s]: %s: "
			    "cannot look it up: %s", k->name, name, why);
		if (d == NULL)
			continue;
		buf_init(&pub, 8192);
		if (mail_dkim_public(k->key_pem, k->key_len, &pub, &e) == 0 &&
		    buf_append(&pub, "", 1, &e) == 0)
			textf(d->hint, sizeof(d->hint), "Receivers cannot verify "
			    "the signatures of %s. Publish at %s the TXT record "
			    "\"v=DKIM1; k=%s; p=%s\" (split into strings of 255 "
			    "bytes; docs/dkim.md), or wait for the DNS to catch up.",
			    k->domain, name, mail_dkim_type_name(k->key_type),
			    pub.data);
		buf_free(&pub);
	}
}

/* ---- end of DKIM ---- */
