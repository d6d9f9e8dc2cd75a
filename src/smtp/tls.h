/*
 * tls.h - TLS over a connected socket, with OpenSSL 3, for both ends:
 * the SMTP client (STARTTLS and implicit TLS, blocking-style calls with
 * deadlines) and the SMTP listener (a server context from cert + key files
 * and non-blocking handshake/read/write steps for an event loop).
 *
 * OpenSSL types stay inside tls.c: callers see struct tls_ctx and
 * struct tls_conn only.  The socket stays the caller's: tls_conn_free()
 * never closes it.  I/O goes through send(MSG_NOSIGNAL)/recv, so a peer
 * that closes the connection never raises SIGPIPE.
 *
 * Failures fill op_err (ERR_UNAVAILABLE for handshake problems, ERR_CONFIG
 * for unreadable certificate/key/CA files, ERR_TEMP for timeouts, ERR_IO for
 * socket errors) and set e->sys to an enum tls_fail value, so callers can
 * tell the cases apart without reading the message.
 */
#ifndef OUTPOST_SMTP_TLS_H
#define OUTPOST_SMTP_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

enum tls_fail {
	TLS_FAIL_NONE = 0,
	TLS_FAIL_SETUP = 1,       /* context/CA/cert/key could not be loaded */
	TLS_FAIL_HANDSHAKE = 2,   /* protocol failure: no common version/cipher,
	                           * alert from the peer, garbage */
	TLS_FAIL_VERIFY = 3,      /* certificate chain or host name not valid;
	                           * tls_info.verify_code says why */
	TLS_FAIL_PLAINTEXT = 4,   /* the peer answered in plain text ("220 ...")
	                           * instead of a TLS ServerHello */
	TLS_FAIL_TIMEOUT = 5,
	TLS_FAIL_IO = 6,          /* connection reset/closed; tls_info.sys errno */
};

#define TLS_NAME_MAX 256

/* What a handshake found: filled as far as the handshake got, so a failed
 * verification still shows the certificate that failed (and the protocol
 * version and cipher that had been agreed). */
struct tls_info {
	int done;                     /* handshake completed */
	char version[16];             /* "TLSv1.3" */
	char cipher[64];              /* "TLS_AES_256_GCM_SHA384" */
	int have_cert;                /* peer certificate fields below are set */
	char subject[TLS_NAME_MAX];   /* RFC 2253: "CN=mx.example.com,O=..." */
	char issuer[TLS_NAME_MAX];
	char names[TLS_NAME_MAX];     /* subjectAltName DNS names and IP
	                               * addresses, ", "-separated ("" if
	                               * none; "..." ends a cut list) */
	char not_after[32];           /* ISO 8601 UTC "2027-01-01T00:00:00Z" */
	int64_t not_after_t;          /* seconds since the epoch */
	int verify_enabled;           /* tls_verify was on */
	int verify_code;              /* X509_V_OK (0) or X509_V_ERR_*; -1 when
	                               * no certificate was checked */
	char verify_text[128];        /* X509_verify_cert_error_string(), or "" */
	char untrusted[TLS_NAME_MAX]; /* for an issuer the store does not hold:
	                               * the CA that is not trusted (RFC 2253),
	                               * else "" */
	int untrusted_depth;          /* 0: it issued the server's certificate;
	                               * more: the chain ends at it */
	int sys;                      /* errno of a socket failure, else 0 */
};

/* Well-known X509_V_ERR_* values re-exported so callers need not include
 * OpenSSL to classify verify_code. */
int tls_verify_is_expired(int verify_code);      /* expired / not yet valid */
int tls_verify_is_hostname(int verify_code);     /* host name mismatch */
int tls_verify_is_untrusted(int verify_code);    /* unknown CA, self-signed */
int tls_verify_is_self_signed(int verify_code);  /* the certificate itself */

/*
 * What failed in the certificate check of info (verify_code), as the rest
 * of a sentence that starts "the server's certificate ": "is not trusted:
 * its issuer CN=x is not a trusted CA", "is not trusted: it is
 * self-signed", "is not valid for HOST: it names a, b", "expired on
 * 2020-01-02", "is not valid yet", or "is not valid: OPENSSL'S TEXT".
 * Never one problem told as another.  host is the name checked.
 */
void tls_verify_reason(const struct tls_info *info, const char *host,
    char *dst, size_t dstsz);

struct tls_ctx;
struct tls_conn;

/* ---- client ---- */

/*
 * A client context: TLS 1.2 minimum, the system trust store plus ca_file
 * (NULL: none), peer verification on unless verify is 0.  The caller owns
 * *out (tls_ctx_free).  ERR_CONFIG if ca_file cannot be loaded.
 */
int tls_client_ctx_new(const char *ca_file, int verify, struct tls_ctx **out,
    struct op_err *e);

/*
 * Handshake as a client on the connected socket fd, within deadline_ms
 * (monotonic, clock_mono_ms()).  host is the server's name, or an IP
 * literal, IPv6 with or without brackets ("[::1]"): then no SNI, and the
 * certificate must name the address.  The socket is switched to
 * non-blocking mode and stays so.  info (not NULL) is filled as far as the
 * handshake got.  On success *out is the caller's (tls_conn_free).  On
 * failure e->sys is an enum tls_fail.
 */
int tls_client_handshake(struct tls_ctx *ctx, int fd, const char *host,
    int64_t deadline_ms, struct tls_conn **out, struct tls_info *info,
    struct op_err *e);

/*
 * Read up to n bytes, waiting until deadline_ms.  *got > 0 on success;
 * *got == 0 means the peer closed the connection (clean or not).
 * -1 on timeout (sys TLS_FAIL_TIMEOUT) or error.
 */
int tls_read(struct tls_conn *c, void *buf, size_t n, size_t *got,
    int64_t deadline_ms, struct op_err *e);
/* Write all n bytes before deadline_ms, or fail. */
int tls_write(struct tls_conn *c, const void *buf, size_t n,
    int64_t deadline_ms, struct op_err *e);

/* ---- server (the SMTP listener) ---- */

/*
 * A server context from PEM files: cert_file holds the certificate (and
 * chain), key_file the private key; TLS 1.2 minimum.  ERR_CONFIG naming the
 * file if either cannot be loaded or they do not match.
 */
int tls_server_ctx_new(const char *cert_file, const char *key_file,
    struct tls_ctx **out, struct op_err *e);

/* Wrap an accepted socket (blocking or not) for a server handshake. */
int tls_server_conn_new(struct tls_ctx *ctx, int fd, struct tls_conn **out,
    struct op_err *e);

/*
 * Non-blocking steps for an event loop.  Each returns
 *    0  done (handshake complete / *got bytes read, 0 = peer closed /
 *       all *done bytes written),
 *    1  would block: wait for *want (POLLIN or POLLOUT) and call again,
 *   -1  failure (e filled, sys = enum tls_fail).
 * tls_nb_write may write part of buf: *done says how much.
 */
int tls_nb_handshake(struct tls_conn *c, short *want, struct op_err *e);
int tls_nb_read(struct tls_conn *c, void *buf, size_t n, size_t *got,
    short *want, struct op_err *e);
int tls_nb_write(struct tls_conn *c, const void *buf, size_t n, size_t *done,
    short *want, struct op_err *e);

/* ---- both ---- */

/* Bytes decrypted and buffered inside the connection (readable without
 * waiting on the socket): check before poll()ing for POLLIN. */
size_t tls_pending(const struct tls_conn *c);
/* Protocol version and cipher of an established connection. */
void tls_conn_info(const struct tls_conn *c, struct tls_info *info);
/* Send close_notify (best effort, never blocks) and free.  The socket is
 * not closed.  NULL is fine. */
void tls_conn_free(struct tls_conn *c);
void tls_ctx_free(struct tls_ctx *ctx);

#endif
