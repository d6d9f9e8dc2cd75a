/*
 * detect.h - which ports of an SMTP server work, and how (`outpost detect`,
 * POST /api/detect, the page's Detect button).
 *
 * detect_run() tries every port at once, one thread each, each bounded by
 * DETECT_TIMEOUT_S per phase: 587, 25 and 2525 with STARTTLS (a port that
 * does not offer it is reported as plain), 465 with implicit TLS (a port
 * that answers in clear is tried with STARTTLS, and the other way round).
 * It opens a session through the SMTP client (smtp/client.h: connect,
 * greeting, EHLO, STARTTLS, EHLO; no login, no mail) and records per port
 * whether it works, the TLS version, the certificate verdict (checked
 * against the system's CAs and the host name) and the AUTH mechanisms
 * offered; then proposes the settings: the first port in the order 587,
 * 465, 2525, 25 with TLS and a trusted certificate, else one with TLS,
 * else a plain one.
 *
 * Thread-safe; nothing is kept between calls; all text is sanitised.
 */
#ifndef OUTPOST_RELAY_DETECT_H
#define OUTPOST_RELAY_DETECT_H

#include <stddef.h>

#include <jansson.h>

#include "smtp/client.h"
#include "util/err.h"

#define DETECT_PORTS_MAX 8
#define DETECT_TIMEOUT_S 5
#define DETECT_TEXT_MAX 512
#define DETECT_HOST_MAX 253

struct detect_port {
	unsigned port;
	int works;              /* an SMTP server answered EHLO */
	int security;           /* enum smtp_security that worked (or the
	                         * first tried when none did) */
	int tls;                /* TLS is on (STARTTLS or implicit) */
	char tls_version[16];
	int cert_ok;            /* the certificate is trusted and names host */
	char cert[DETECT_TEXT_MAX];     /* the verdict in words, "" if no TLS */
	char mechs[SMTP_MECHS_MAX];     /* AUTH offered, "" if none */
	char detail[DETECT_TEXT_MAX];   /* what happened, in words */
};

struct detect_report {
	char host[DETECT_HOST_MAX + 1];
	size_t nports;
	struct detect_port ports[DETECT_PORTS_MAX];
	int best;               /* index of the proposed port, -1 if none */
	char proposal[DETECT_TEXT_MAX]; /* "port = 587, security = starttls"
	                         * with a word on the certificate, or why
	                         * nothing can be proposed */
};

/* The default ports, in the order of preference. */
extern const unsigned detect_default_ports[4];

/* Parse "587,465" (1..DETECT_PORTS_MAX ports, each 1..65535, no repeats). */
int detect_parse_ports(const char *s, unsigned *ports, size_t *n,
    struct op_err *e);

/* Try host on ports (NULL, 0: the defaults) with EHLO name helo (NULL: the
 * machine's).  -1 only when it cannot run: ERR_USAGE for a host that is
 * not a host name or address, or bad ports. */
int detect_run(const char *host, const unsigned *ports, size_t nports,
    const char *helo, struct detect_report *rep, struct op_err *e);

/* {"host", "ports": [{"port", "works", "security", "tls", "tls_version",
 *  "certificate", "certificate_ok", "auth": [...], "detail"}],
 *  "proposal": {"host", "port", "security"} | null, "summary"}
 * A new reference, NULL if out of memory. */
json_t *detect_to_json(const struct detect_report *rep);

/* "none", "starttls", "tls". */
const char *detect_security_name(int security);

#endif
