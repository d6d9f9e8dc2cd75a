/*
 * detect.c - port and TLS detection (detect.h) over the SMTP client: one
 * thread per port, each a few sessions at most (the security that fits,
 * then without the certificate check to learn the AUTH mechanisms of a
 * port whose certificate is not trusted).
 */
#include "relay/detect.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/conf.h"
#include "smtp/tls.h"
#include "util/buf.h"
#include "util/log.h"

const unsigned detect_default_ports[4] = { 587, 465, 2525, 25 };

const char *
detect_security_name(int security)
{
	return security == SMTP_SEC_TLS ? "tls" :
	    security == SMTP_SEC_STARTTLS ? "starttls" : "none";
}

int
detect_parse_ports(const char *s, unsigned *ports, size_t *n,
    struct op_err *e)
{
	char tmp[128], *save = NULL, *tok;
	size_t i;

	*n = 0;
	if (s == NULL || strlen(s) >= sizeof(tmp))
		return err_set(e, ERR_USAGE, "--ports takes a list like "
		    "587,465,25,2525");
	str_copy(tmp, sizeof(tmp), s);
	for (tok = strtok_r(tmp, ", ", &save); tok != NULL;
	    tok = strtok_r(NULL, ", ", &save)) {
		unsigned long v;

		if (str_to_ulong(tok, 65535, &v) < 0 || v < 1)
			return err_set(e, ERR_USAGE, "'%.32s' is not a port "
			    "(1 to 65535)", tok);
		if (*n == DETECT_PORTS_MAX)
			return err_set(e, ERR_USAGE, "at most %d ports at once",
			    DETECT_PORTS_MAX);
		for (i = 0; i < *n; i++)
			if (ports[i] == v)
				return err_set(e, ERR_USAGE, "port %lu is given "
				    "twice", v);
		ports[(*n)++] = (unsigned)v;
	}
	if (*n == 0)
		return err_set(e, ERR_USAGE, "--ports takes a list like "
		    "587,465,25,2525");
	return 0;
}

static void say(char *dst, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* snprintf that may cut (texts for people, cut at their bound). */
static void
say(char *dst, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dst, n, fmt, ap);
	va_end(ap);
}

struct job {
	const char *host;
	const char *helo;
	struct detect_port *out;
};

/* The certificate verdict of a TLS session, in words. */
static void
cert_verdict(const struct tls_info *ti, const char *host, char *dst,
    size_t n, int *ok)
{
	char names[TLS_NAME_MAX * 2], ca[TLS_NAME_MAX * 2];

	*ok = 0;
	if (ti == NULL || !ti->have_cert) {
		say(dst, n, "no certificate seen");
		return;
	}
	log_sanitize(names, sizeof(names), ti->names[0] ? ti->names :
	    ti->subject);
	if (ti->verify_code == 0) {
		*ok = 1;
		say(dst, n, "trusted, for %s, valid until %.10s", names,
		    ti->not_after);
	} else if (tls_verify_is_expired(ti->verify_code)) {
		say(dst, n, "not valid: expired or not yet valid (until "
		    "%.10s)", ti->not_after);
	} else if (tls_verify_is_hostname(ti->verify_code)) {
		say(dst, n, "not valid for %s: it is for %s", host, names);
	} else if (tls_verify_is_self_signed(ti->verify_code)) {
		say(dst, n, "not trusted: self-signed (for %s)", names);
	} else if (tls_verify_is_untrusted(ti->verify_code)) {
		log_sanitize(ca, sizeof(ca), ti->untrusted[0] ? ti->untrusted :
		    ti->issuer);
		say(dst, n, "not trusted: issued by %s, which is not a CA "
		    "this machine trusts (set tls_ca_file to it)", ca);
	} else {
		log_sanitize(ca, sizeof(ca), ti->verify_text);
		say(dst, n, "not valid: %s", ca);
	}
}

/* One session with security sec; 0 if it reached EHLO (after TLS). */
static int
try_open(const struct job *j, int sec, int verify, struct smtp_result *res,
    struct detect_port *dp, int record)
{
	struct smtp_params sp;
	struct smtp_session *s = NULL;
	const struct tls_info *ti;
	int rc;

	smtp_params_init(&sp);
	sp.host = j->host;
	sp.port = dp->port;
	sp.security = sec;
	sp.tls_verify = verify;
	sp.helo_name = j->helo;
	sp.timeout_s = DETECT_TIMEOUT_S;
	sp.connect_timeout_s = DETECT_TIMEOUT_S;
	sp.deadline_s = DETECT_TIMEOUT_S * 3;
	sp.log_name = "detect";
	smtp_result_init(res);
	rc = smtp_client_open(&sp, &s, res);
	ti = s != NULL ? smtp_client_tls(s) : NULL;
	/* the verdict of the checked session (a failed check ends the
	 * handshake, but the certificate was seen) */
	if (record && ti != NULL && ti->have_cert)
		cert_verdict(ti, j->host, dp->cert, sizeof(dp->cert),
		    &dp->cert_ok);
	if (ti != NULL && ti->done) {
		dp->tls = 1;
		str_copy(dp->tls_version, sizeof(dp->tls_version), ti->version);
	}
	if (rc == 0) {
		const struct smtp_caps *caps = smtp_client_caps(s);

		dp->works = 1;
		dp->security = sec;
		log_sanitize(dp->mechs, sizeof(dp->mechs), caps->mechs);
		smtp_client_quit(s);
	}
	smtp_client_free(s);
	return rc;
}

static void *
port_main(void *arg)
{
	struct job *j = arg;
	struct detect_port *dp = j->out;
	struct smtp_result res;
	int first = dp->port == 465 ? SMTP_SEC_TLS : SMTP_SEC_STARTTLS;
	int sec = first, rc;

	rc = try_open(j, sec, 1, &res, dp, 1);
	if (rc < 0 && (res.fail == SMTP_FAIL_TLS_ON_PLAIN_PORT ||
	    res.fail == SMTP_FAIL_PLAIN_ON_TLS_PORT ||
	    (sec == SMTP_SEC_STARTTLS && res.fail == SMTP_FAIL_TIMEOUT &&
	    res.phase == SMTP_PHASE_GREETING) ||
	    (sec == SMTP_SEC_TLS && res.fail == SMTP_FAIL_TLS))) {
		/* the other kind of TLS */
		sec = sec == SMTP_SEC_TLS ? SMTP_SEC_STARTTLS : SMTP_SEC_TLS;
		smtp_result_free(&res);
		rc = try_open(j, sec, 1, &res, dp, 1);
	}
	if (rc < 0 && res.fail == SMTP_FAIL_NO_STARTTLS) {
		smtp_result_free(&res);
		rc = try_open(j, SMTP_SEC_NONE, 0, &res, dp, 0);
		if (rc == 0)
			say(dp->detail, sizeof(dp->detail), "plain SMTP: "
			    "no STARTTLS offered, nothing would be encrypted");
	} else if (rc < 0 && res.fail == SMTP_FAIL_TLS_VERIFY) {
		/* TLS works, the certificate does not: learn the rest */
		smtp_result_free(&res);
		rc = try_open(j, sec, 0, &res, dp, 0);
		if (rc == 0)
			say(dp->detail, sizeof(dp->detail), "%s works, but "
			    "the certificate is %s", sec == SMTP_SEC_TLS ?
			    "implicit TLS" : "STARTTLS", dp->cert);
	} else if (rc == 0) {
		say(dp->detail, sizeof(dp->detail), "%s works (%s)",
		    sec == SMTP_SEC_TLS ? "implicit TLS" : "STARTTLS",
		    dp->tls_version);
	}
	if (rc < 0) {
		char why[DETECT_TEXT_MAX - 64];

		dp->security = first;
		if (res.reply.code != 0)
			smtp_reply_format(&res.reply, why, sizeof(why));
		else if (res.fail == SMTP_FAIL_CONNECT && res.sys == ECONNREFUSED)
			say(why, sizeof(why), "connection refused (nothing "
			    "listens)");
		else if (res.fail == SMTP_FAIL_TIMEOUT ||
		    (res.fail == SMTP_FAIL_CONNECT && res.sys == ETIMEDOUT))
			say(why, sizeof(why), "no answer within %ds (blocked "
			    "by a firewall, or silent)", DETECT_TIMEOUT_S);
		else
			log_sanitize(why, sizeof(why), res.msg);
		say(dp->detail, sizeof(dp->detail), "does not work: %s "
		    "(at %s)", why, smtp_phase_name(res.phase));
	}
	smtp_result_free(&res);
	return NULL;
}

/* The port to propose: TLS with a trusted certificate, else TLS, else
 * plain; in the order given. */
static void
propose(struct detect_report *rep)
{
	size_t i;
	int pass;

	rep->best = -1;
	for (pass = 0; pass < 3 && rep->best < 0; pass++)
		for (i = 0; i < rep->nports && rep->best < 0; i++) {
			const struct detect_port *dp = &rep->ports[i];

			if (dp->works && ((pass == 0 && dp->tls && dp->cert_ok) ||
			    (pass == 1 && dp->tls) || pass == 2))
				rep->best = (int)i;
		}
	if (rep->best < 0) {
		say(rep->proposal, sizeof(rep->proposal), "no port of %s "
		    "answered as an SMTP server: check the host name, and "
		    "whether this network blocks outgoing SMTP", rep->host);
		return;
	}
	const struct detect_port *b = &rep->ports[rep->best];

	say(rep->proposal, sizeof(rep->proposal), "host = %s, port = %u, "
	    "security = %s%s", rep->host, b->port,
	    detect_security_name(b->security), !b->tls ? " (no TLS on any "
	    "port: only on a network you trust, with allow_plaintext_auth = "
	    "yes for a login)" : !b->cert_ok ? " (the certificate is not "
	    "trusted: set tls_ca_file to its CA, or ask the provider)" : "");
}

int
detect_run(const char *host, const unsigned *ports, size_t nports,
    const char *helo, struct detect_report *rep, struct op_err *e)
{
	pthread_t th[DETECT_PORTS_MAX];
	struct job jobs[DETECT_PORTS_MAX];
	int started[DETECT_PORTS_MAX];
	size_t i;

	memset(rep, 0, sizeof(*rep));
	rep->best = -1;
	if (host == NULL || host[0] == '\0')
		return err_set(e, ERR_USAGE, "give the server's host name, e.g. "
		    "smtp.example.com");
	if (conf_check_host(host, e) < 0) {
		e->kind = ERR_USAGE;
		return -1;
	}
	if (ports == NULL || nports == 0) {
		ports = detect_default_ports;
		nports = sizeof(detect_default_ports) / sizeof(ports[0]);
	}
	if (nports > DETECT_PORTS_MAX)
		return err_set(e, ERR_USAGE, "at most %d ports at once",
		    DETECT_PORTS_MAX);
	str_copy(rep->host, sizeof(rep->host), host);
	rep->nports = nports;
	for (i = 0; i < nports; i++) {
		rep->ports[i].port = ports[i];
		jobs[i].host = rep->host;
		jobs[i].helo = helo;
		jobs[i].out = &rep->ports[i];
		started[i] = pthread_create(&th[i], NULL, port_main,
		    &jobs[i]) == 0;
		if (!started[i])        /* no thread: try it here */
			port_main(&jobs[i]);
	}
	for (i = 0; i < nports; i++)
		if (started[i])
			pthread_join(th[i], NULL);
	propose(rep);
	return 0;
}

static json_t *
mechs_json(const char *mechs)
{
	json_t *a = json_array();
	char tmp[SMTP_MECHS_MAX], *save = NULL, *tok;

	str_copy(tmp, sizeof(tmp), mechs);
	for (tok = strtok_r(tmp, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save))
		json_array_append_new(a, json_string(tok));
	return a;
}

json_t *
detect_to_json(const struct detect_report *rep)
{
	json_t *j = json_object(), *ports = json_array();
	size_t i;

	if (j == NULL || ports == NULL) {
		json_decref(j);
		json_decref(ports);
		return NULL;
	}
	json_object_set_new(j, "host", json_string(rep->host));
	for (i = 0; i < rep->nports; i++) {
		const struct detect_port *dp = &rep->ports[i];

		json_array_append_new(ports, json_pack("{s:i,s:b,s:s,s:b,s:s?,"
		    "s:s?,s:b,s:o,s:s}", "port", (int)dp->port, "works",
		    dp->works, "security", detect_security_name(dp->security),
		    "tls", dp->tls, "tls_version", dp->tls ? dp->tls_version :
		    NULL, "certificate", dp->cert[0] ? dp->cert : NULL,
		    "certificate_ok", dp->cert_ok, "auth", mechs_json(dp->mechs),
		    "detail", dp->detail));
	}
	json_object_set_new(j, "ports", ports);
	if (rep->best >= 0) {
		const struct detect_port *b = &rep->ports[rep->best];

		json_object_set_new(j, "proposal", json_pack("{s:s,s:i,s:s}",
		    "host", rep->host, "port", (int)b->port, "security",
		    detect_security_name(b->security)));
	} else {
		json_object_set_new(j, "proposal", json_null());
	}
	json_object_set_new(j, "summary", json_string(rep->proposal));
	return j;
}
