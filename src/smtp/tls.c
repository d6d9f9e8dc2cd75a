/*
 * tls.c - OpenSSL 3 for the SMTP client and listener (tls.h).
 *
 * The SSL object talks to the socket through a small BIO of our own (send
 * with MSG_NOSIGNAL, recv), for two reasons: no SIGPIPE when the peer goes
 * away, and the client can see the first bytes the server sent, which is
 * how "this port speaks plain SMTP" is told apart from other handshake
 * failures.  Sockets are non-blocking; waits are poll() with deadlines.
 */
#include "smtp/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "util/buf.h"
#include "util/net.h"

#define TLS_FIRST_BYTES 8

struct tls_ctx {
	SSL_CTX *ctx;
	int verify;
};

struct tls_conn {
	SSL *ssl;
	int fd;
	int sys;                          /* errno of the last socket error */
	unsigned char first[TLS_FIRST_BYTES]; /* first bytes from the peer */
	size_t nfirst;
	struct tls_info *info;            /* during the client handshake */
};

/* ---- the socket BIO ---- */

static pthread_once_t bio_once = PTHREAD_ONCE_INIT;
static BIO_METHOD *bio_method;

static int
bio_sock_write(BIO *b, const char *p, size_t n, size_t *written)
{
	struct tls_conn *c = BIO_get_data(b);
	ssize_t r;

	BIO_clear_retry_flags(b);
	*written = 0;
	do
		r = send(c->fd, p, n, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_write(b);
		else
			c->sys = errno;
		return 0;
	}
	*written = (size_t)r;
	return 1;
}

static int
bio_sock_read(BIO *b, char *p, size_t n, size_t *got)
{
	struct tls_conn *c = BIO_get_data(b);
	ssize_t r;

	BIO_clear_retry_flags(b);
	*got = 0;
	do
		r = recv(c->fd, p, n, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_read(b);
		else
			c->sys = errno;
		return 0;
	}
	if (r == 0)
		return 0;           /* EOF */
	if (c->nfirst < TLS_FIRST_BYTES) {
		size_t k = TLS_FIRST_BYTES - c->nfirst;

		if (k > (size_t)r)
			k = (size_t)r;
		memcpy(c->first + c->nfirst, p, k);
		c->nfirst += k;
	}
	*got = (size_t)r;
	return 1;
}

static long
bio_sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b; (void)num; (void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int
bio_sock_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void
bio_init_method(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
	    "outpost socket");

	if (m == NULL)
		return;
	BIO_meth_set_write_ex(m, bio_sock_write);
	BIO_meth_set_read_ex(m, bio_sock_read);
	BIO_meth_set_ctrl(m, bio_sock_ctrl);
	BIO_meth_set_create(m, bio_sock_create);
	bio_method = m;
}

/* ---- errors ---- */

/* The most recent OpenSSL error as text, and clear the queue. */
static void
ssl_errtext(char *dst, size_t dstsz)
{
	unsigned long code, last = 0;

	while ((code = ERR_get_error()) != 0)
		last = code;
	if (last == 0)
		str_copy(dst, dstsz, "unknown TLS error");
	else
		ERR_error_string_n(last, dst, dstsz);
}

static int tls_fail(struct op_err *e, int kind, int fail, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
tls_fail(struct op_err *e, int kind, int fail, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err_set(e, kind, "%s", msg);
	if (e != NULL)
		e->sys = fail;
	return -1;
}

int
tls_verify_is_expired(int v)
{
	return v == X509_V_ERR_CERT_HAS_EXPIRED || v == X509_V_ERR_CERT_NOT_YET_VALID;
}

int
tls_verify_is_hostname(int v)
{
	return v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH;
}

int
tls_verify_is_untrusted(int v)
{
	return v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
	    v == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
	    v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	    v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
	    v == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE ||
	    v == X509_V_ERR_CERT_UNTRUSTED;
}

int
tls_verify_is_self_signed(int v)
{
	return v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT;
}

/* The CN of an RFC 2253 name, or the whole name. */
static void
subject_cn(const char *name, char *dst, size_t dstsz)
{
	const char *p, *cn = NULL;
	size_t n;

	for (p = name; *p != '\0'; p++)
		if ((p == name || p[-1] == ',') && strncmp(p, "CN=", 3) == 0) {
			cn = p;
			break;
		}
	if (cn == NULL) {
		str_copy(dst, dstsz, name[0] != '\0' ? name : "(no subject)");
		return;
	}
	for (n = 0; cn[n] != '\0' && n + 1 < dstsz; n++) {
		if (n > 0 && cn[n] == ',' && cn[n - 1] != '\\')
			break;
		dst[n] = cn[n];
	}
	dst[n] = '\0';
}

void
tls_verify_reason(const struct tls_info *ti, const char *host, char *dst,
    size_t dstsz)
{
	int v = ti->verify_code;
	char cn[TLS_NAME_MAX];

	if (tls_verify_is_self_signed(v)) {
		snprintf(dst, dstsz, "is not trusted: it is self-signed");
	} else if (tls_verify_is_untrusted(v) && ti->untrusted[0] != '\0') {
		if (ti->untrusted_depth == 0)
			snprintf(dst, dstsz, "is not trusted: its issuer %s is not "
			    "a trusted CA", ti->untrusted);
		else
			snprintf(dst, dstsz, "is not trusted: it chains to %s, "
			    "which is not a trusted CA", ti->untrusted);
	} else if (tls_verify_is_hostname(v)) {
		if (ti->names[0] != '\0') {
			snprintf(dst, dstsz, "is not valid for %s: it names %s",
			    host, ti->names);
		} else {
			subject_cn(ti->subject, cn, sizeof(cn));
			snprintf(dst, dstsz, "is not valid for %s: it has no "
			    "subjectAltName, only the subject %s", host, cn);
		}
	} else if (v == X509_V_ERR_CERT_HAS_EXPIRED && ti->not_after[0] != '\0') {
		snprintf(dst, dstsz, "expired on %.10s", ti->not_after);
	} else if (v == X509_V_ERR_CERT_NOT_YET_VALID) {
		snprintf(dst, dstsz, "is not valid yet (check this machine's "
		    "clock)");
	} else {
		snprintf(dst, dstsz, "is not valid: %s", ti->verify_text[0] ?
		    ti->verify_text : "verification failed");
	}
}

/* ---- contexts ---- */

static struct tls_ctx *
ctx_wrap(SSL_CTX *sc, int verify)
{
	struct tls_ctx *c = mem_alloc(sizeof(*c));

	c->ctx = sc;
	c->verify = verify;
	return c;
}

void
tls_ctx_free(struct tls_ctx *ctx)
{
	if (ctx == NULL)
		return;
	SSL_CTX_free(ctx->ctx);
	free(ctx);
}

int
tls_client_ctx_new(const char *ca_file, int verify, struct tls_ctx **out,
    struct op_err *e)
{
	char why[256];
	SSL_CTX *sc;

	*out = NULL;
	ERR_clear_error();
	sc = SSL_CTX_new(TLS_client_method());
	if (sc == NULL) {
		ssl_errtext(why, sizeof(why));
		return tls_fail(e, ERR_SOFTWARE, TLS_FAIL_SETUP, "cannot create a TLS context: %s", why);
	}
	SSL_CTX_set_min_proto_version(sc, TLS1_2_VERSION);
	/* SMTP frames its own data: a close without close_notify is no
	 * truncation attack here, and many servers do it. */
	SSL_CTX_set_options(sc, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (SSL_CTX_set_default_verify_paths(sc) != 1)
		ERR_clear_error();   /* no system store: ca_file may still do */
	if (ca_file != NULL && ca_file[0] != '\0' &&
	    SSL_CTX_load_verify_locations(sc, ca_file, NULL) != 1) {
		ssl_errtext(why, sizeof(why));
		SSL_CTX_free(sc);
		err_set(e, ERR_CONFIG, "cannot load tls_ca_file %s: %s", ca_file, why);
		if (e != NULL)
			e->sys = TLS_FAIL_SETUP;
		return -1;
	}
	*out = ctx_wrap(sc, verify);
	return 0;
}

int
tls_server_ctx_new(const char *cert_file, const char *key_file,
    struct tls_ctx **out, struct op_err *e)
{
	char why[256];
	SSL_CTX *sc;

	*out = NULL;
	ERR_clear_error();
	sc = SSL_CTX_new(TLS_server_method());
	if (sc == NULL) {
		ssl_errtext(why, sizeof(why));
		return tls_fail(e, ERR_SOFTWARE, TLS_FAIL_SETUP, "cannot create a TLS context: %s", why);
	}
	SSL_CTX_set_min_proto_version(sc, TLS1_2_VERSION);
	SSL_CTX_set_options(sc, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
	if (SSL_CTX_use_certificate_chain_file(sc, cert_file) != 1) {
		ssl_errtext(why, sizeof(why));
		SSL_CTX_free(sc);
		err_set(e, ERR_CONFIG, "cannot load smtp_tls_cert %s: %s", cert_file, why);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(sc, key_file, SSL_FILETYPE_PEM) != 1) {
		ssl_errtext(why, sizeof(why));
		SSL_CTX_free(sc);
		err_set(e, ERR_CONFIG, "cannot load smtp_tls_key %s: %s", key_file, why);
		goto fail;
	}
	if (SSL_CTX_check_private_key(sc) != 1) {
		ERR_clear_error();
		SSL_CTX_free(sc);
		err_set(e, ERR_CONFIG, "smtp_tls_key %s does not match smtp_tls_cert %s",
		    key_file, cert_file);
		goto fail;
	}
	*out = ctx_wrap(sc, 0);
	return 0;
fail:
	if (e != NULL)
		e->sys = TLS_FAIL_SETUP;
	return -1;
}

/* ---- connections ---- */

static int
conn_new(struct tls_ctx *ctx, int fd, struct tls_conn **out, struct op_err *e)
{
	struct tls_conn *c;
	BIO *b;
	char why[256];

	*out = NULL;
	pthread_once(&bio_once, bio_init_method);
	if (bio_method == NULL)
		return tls_fail(e, ERR_SOFTWARE, TLS_FAIL_SETUP, "cannot create the TLS socket layer");
	if (net_set_nonblock(fd, 1) < 0)
		return tls_fail(e, ERR_IO, TLS_FAIL_IO, "cannot make the socket non-blocking: %s", strerror(errno));
	c = mem_alloc(sizeof(*c));
	c->fd = fd;
	ERR_clear_error();
	c->ssl = SSL_new(ctx->ctx);
	b = BIO_new(bio_method);
	if (c->ssl == NULL || b == NULL) {
		ssl_errtext(why, sizeof(why));
		BIO_free(b);
		tls_conn_free(c);
		return tls_fail(e, ERR_SOFTWARE, TLS_FAIL_SETUP, "cannot create a TLS connection: %s", why);
	}
	BIO_set_data(b, c);
	SSL_set_bio(c->ssl, b, b);
	SSL_set_app_data(c->ssl, c);
	*out = c;
	return 0;
}

static void
name_text(const X509_NAME *n, char *dst, size_t dstsz)
{
	BIO *m = BIO_new(BIO_s_mem());
	char tmp[TLS_NAME_MAX];
	int len;

	dst[0] = '\0';
	if (m == NULL)
		return;
	X509_NAME_print_ex(m, n, 0, XN_FLAG_RFC2253);
	len = BIO_read(m, tmp, (int)sizeof(tmp) - 1);
	if (len > 0) {
		tmp[len] = '\0';
		/* Names may hold any bytes: keep them printable. */
		for (int i = 0; i < len; i++)
			if ((unsigned char)tmp[i] < 0x20 || (unsigned char)tmp[i] >= 0x7f)
				tmp[i] = '?';
		str_copy(dst, dstsz, tmp);
	}
	BIO_free(m);
}

/* The certificate's subjectAltName DNS names and IP addresses, for
 * diagnostics ("the certificate is for a.example, b.example"). */
static void
san_text(X509 *x, char *dst, size_t dstsz)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
	    NULL);
	char one[INET6_ADDRSTRLEN > 256 ? INET6_ADDRSTRLEN : 256];
	size_t len = 0, n;
	int i, cut = 0;

	dst[0] = '\0';
	if (gens == NULL)
		return;
	for (i = 0; i < sk_GENERAL_NAME_num(gens) && !cut; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const unsigned char *d;
		int dl;

		one[0] = '\0';
		if (g->type == GEN_DNS) {
			d = ASN1_STRING_get0_data(g->d.dNSName);
			dl = ASN1_STRING_length(g->d.dNSName);
			for (n = 0; (int)n < dl && n + 1 < sizeof(one); n++)
				one[n] = d[n] >= 0x20 && d[n] < 0x7f ? (char)d[n] : '?';
			one[n] = '\0';
		} else if (g->type == GEN_IPADD) {
			d = ASN1_STRING_get0_data(g->d.iPAddress);
			dl = ASN1_STRING_length(g->d.iPAddress);
			if (dl == 4)
				inet_ntop(AF_INET, d, one, sizeof(one));
			else if (dl == 16)
				inet_ntop(AF_INET6, d, one, sizeof(one));
		}
		if (one[0] == '\0')
			continue;
		n = strlen(one);
		if (len + n + 8 >= dstsz) {
			cut = 1;
			n = 0;
		}
		len += (size_t)snprintf(dst + len, dstsz - len, "%s%s",
		    len > 0 ? ", " : "", cut ? "..." : one);
	}
	GENERAL_NAMES_free(gens);
}

static void
cert_info(X509 *x, struct tls_info *info)
{
	const ASN1_TIME *t;
	struct tm tm;

	if (x == NULL || info->have_cert)
		return;
	info->have_cert = 1;
	name_text(X509_get_subject_name(x), info->subject, sizeof(info->subject));
	name_text(X509_get_issuer_name(x), info->issuer, sizeof(info->issuer));
	san_text(x, info->names, sizeof(info->names));
	t = X509_get0_notAfter(x);
	if (t != NULL && ASN1_TIME_to_tm(t, &tm) == 1) {
		info->not_after_t = (int64_t)timegm(&tm);
		clock_iso8601(info->not_after_t, info->not_after, sizeof(info->not_after));
	}
}

/* Verification callback: remember the server's certificate even when the
 * chain fails, so diagnostics can say which certificate and why. */
static int
verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_conn *c = ssl != NULL ? SSL_get_app_data(ssl) : NULL;

	if (c != NULL && c->info != NULL) {
		cert_info(X509_STORE_CTX_get0_cert(xs), c->info);
		/* The first failure stops the check: if it is an issuer the
		 * store does not hold, keep that issuer's name. */
		if (!ok && c->info->untrusted[0] == '\0' &&
		    tls_verify_is_untrusted(X509_STORE_CTX_get_error(xs)) &&
		    X509_STORE_CTX_get_current_cert(xs) != NULL) {
			name_text(X509_get_issuer_name(
			    X509_STORE_CTX_get_current_cert(xs)),
			    c->info->untrusted, sizeof(c->info->untrusted));
			c->info->untrusted_depth =
			    X509_STORE_CTX_get_error_depth(xs);
		}
	}
	return ok;
}

void
tls_conn_info(const struct tls_conn *c, struct tls_info *info)
{
	const char *v = SSL_get_version(c->ssl);
	const char *ci = SSL_get_cipher_name(c->ssl);

	str_copy(info->version, sizeof(info->version), v != NULL ? v : "");
	str_copy(info->cipher, sizeof(info->cipher), ci != NULL ? ci : "");
	cert_info(SSL_get0_peer_certificate(c->ssl), info);
}

static int
is_ip_literal(const char *host)
{
	unsigned char a[16];

	return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* The first bytes look like an SMTP reply ("220"), not a TLS record. */
static int
looks_like_smtp(const struct tls_conn *c)
{
	return c->nfirst >= 3 && c->first[0] >= '2' && c->first[0] <= '5' &&
	    c->first[1] >= '0' && c->first[1] <= '9' &&
	    c->first[2] >= '0' && c->first[2] <= '9';
}

/* Wait for what SSL_get_error() asked; -1 (filled) if it is not a wait. */
static int
ssl_wait(struct tls_conn *c, int rc, int64_t deadline_ms, struct op_err *e)
{
	int err = SSL_get_error(c->ssl, rc);
	struct op_err we;
	short ev;

	if (err == SSL_ERROR_WANT_READ)
		ev = POLLIN;
	else if (err == SSL_ERROR_WANT_WRITE)
		ev = POLLOUT;
	else
		return 1;
	if (net_wait(c->fd, ev, deadline_ms, &we) < 0) {
		if (we.sys == ETIMEDOUT)
			return tls_fail(e, ERR_TEMP, TLS_FAIL_TIMEOUT, "TLS timed out");
		c->sys = we.sys;
		return tls_fail(e, ERR_IO, TLS_FAIL_IO, "%s", we.msg);
	}
	return 0;
}

int
tls_client_handshake(struct tls_ctx *ctx, int fd, const char *host,
    int64_t deadline_ms, struct tls_conn **out, struct tls_info *info,
    struct op_err *e)
{
	struct tls_conn *c = NULL;
	char why[256], bare[64];
	int rc, w;

	/* "[::1]" is the address ::1: no SNI, and the certificate must name
	 * the address (RFC 6066 section 3 allows no literal in SNI) */
	host = net_host_bare(host, bare, sizeof(bare));
	*out = NULL;
	memset(info, 0, sizeof(*info));
	info->verify_enabled = ctx->verify;
	info->verify_code = -1;
	if (conn_new(ctx, fd, &c, e) < 0)
		return -1;
	c->info = info;
	if (is_ip_literal(host)) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);

		if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1)
			goto setup_fail;
	} else {
		if (SSL_set_tlsext_host_name(c->ssl, host) != 1 ||
		    SSL_set1_host(c->ssl, host) != 1)
			goto setup_fail;
	}
	SSL_set_verify(c->ssl, ctx->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, verify_cb);
	SSL_set_connect_state(c->ssl);
	for (;;) {
		ERR_clear_error();
		rc = SSL_do_handshake(c->ssl);
		if (rc == 1)
			break;
		w = ssl_wait(c, rc, deadline_ms, e);
		if (w == 0)
			continue;
		if (w < 0) {
			if (looks_like_smtp(c))
				goto plaintext;
			goto fail;
		}
		/* A real failure: classify it. */
		if (looks_like_smtp(c))
			goto plaintext;
		if (info->have_cert) {
			/* the certificate was seen: report its check */
			info->verify_code = (int)SSL_get_verify_result(c->ssl);
			str_copy(info->verify_text, sizeof(info->verify_text),
			    X509_verify_cert_error_string(info->verify_code));
		}
		if (ctx->verify && info->have_cert && info->verify_code != X509_V_OK) {
			char reason[TLS_NAME_MAX + 128];

			ERR_clear_error();
			/* the protocol worked up to the certificate */
			tls_conn_info(c, info);
			tls_verify_reason(info, host, reason, sizeof(reason));
			tls_fail(e, ERR_UNAVAILABLE, TLS_FAIL_VERIFY,
			    "the server's certificate %s", reason);
			goto fail;
		}
		ssl_errtext(why, sizeof(why));
		if (c->sys != 0) {
			info->sys = c->sys;
			err_set(e, ERR_IO, "TLS handshake failed: %s", strerror(c->sys));
			if (e != NULL)
				e->sys = TLS_FAIL_IO;
		} else if (SSL_get_error(c->ssl, rc) == SSL_ERROR_SYSCALL ||
		    SSL_get_error(c->ssl, rc) == SSL_ERROR_ZERO_RETURN) {
			tls_fail(e, ERR_UNAVAILABLE, TLS_FAIL_IO,
			    "the server closed the connection during the TLS handshake");
		} else {
			tls_fail(e, ERR_UNAVAILABLE, TLS_FAIL_HANDSHAKE, "TLS handshake failed: %s", why);
		}
		goto fail;
	}
	info->done = 1;
	info->verify_code = (int)SSL_get_verify_result(c->ssl);
	str_copy(info->verify_text, sizeof(info->verify_text),
	    X509_verify_cert_error_string(info->verify_code));
	tls_conn_info(c, info);
	c->info = NULL;
	*out = c;
	return 0;
setup_fail:
	ssl_errtext(why, sizeof(why));
	tls_fail(e, ERR_SOFTWARE, TLS_FAIL_SETUP, "cannot set up TLS: %s", why);
	goto fail;
plaintext:
	ERR_clear_error();
	tls_fail(e, ERR_UNAVAILABLE, TLS_FAIL_PLAINTEXT,
	    "the server answered in plain text instead of TLS");
fail:
	info->sys = c->sys;
	c->info = NULL;
	tls_conn_free(c);
	return -1;
}

int
tls_read(struct tls_conn *c, void *buf, size_t n, size_t *got,
    int64_t deadline_ms, struct op_err *e)
{
	char why[256];
	int rc, w, err;

	*got = 0;
	for (;;) {
		ERR_clear_error();
		rc = SSL_read_ex(c->ssl, buf, n, got);
		if (rc == 1)
			return 0;
		err = SSL_get_error(c->ssl, rc);
		if (err == SSL_ERROR_ZERO_RETURN) {
			*got = 0;
			return 0;
		}
		w = ssl_wait(c, rc, deadline_ms, e);
		if (w == 0)
			continue;
		if (w < 0)
			return -1;
		if (err == SSL_ERROR_SYSCALL && c->sys == 0) {
			*got = 0;       /* EOF without close_notify */
			return 0;
		}
		if (c->sys != 0) {
			err_set(e, ERR_IO, "TLS read: %s", strerror(c->sys));
			if (e != NULL)
				e->sys = TLS_FAIL_IO;
			return -1;
		}
		ssl_errtext(why, sizeof(why));
		return tls_fail(e, ERR_PROTOCOL, TLS_FAIL_HANDSHAKE, "TLS read: %s", why);
	}
}

int
tls_write(struct tls_conn *c, const void *buf, size_t n, int64_t deadline_ms,
    struct op_err *e)
{
	const char *p = buf;
	char why[256];
	size_t done;
	int rc, w;

	while (n > 0) {
		ERR_clear_error();
		rc = SSL_write_ex(c->ssl, p, n, &done);
		if (rc == 1) {
			p += done;
			n -= done;
			continue;
		}
		w = ssl_wait(c, rc, deadline_ms, e);
		if (w == 0)
			continue;
		if (w < 0)
			return -1;
		if (c->sys != 0) {
			err_set(e, ERR_IO, "TLS write: %s", strerror(c->sys));
			if (e != NULL)
				e->sys = TLS_FAIL_IO;
			return -1;
		}
		ssl_errtext(why, sizeof(why));
		return tls_fail(e, ERR_IO, TLS_FAIL_IO, "TLS write: %s", why);
	}
	return 0;
}

/* ---- server, non-blocking ---- */

int
tls_server_conn_new(struct tls_ctx *ctx, int fd, struct tls_conn **out,
    struct op_err *e)
{
	if (conn_new(ctx, fd, out, e) < 0)
		return -1;
	SSL_set_accept_state((*out)->ssl);
	return 0;
}

/* Classify a non-blocking result: 1 would block (*want set), -1 failure. */
static int
nb_result(struct tls_conn *c, int rc, short *want, const char *what,
    struct op_err *e)
{
	char why[256];

	switch (SSL_get_error(c->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		*want = POLLIN;
		return 1;
	case SSL_ERROR_WANT_WRITE:
		*want = POLLOUT;
		return 1;
	default:
		break;
	}
	if (c->sys != 0) {
		err_set(e, ERR_IO, "TLS %s: %s", what, strerror(c->sys));
		if (e != NULL)
			e->sys = TLS_FAIL_IO;
		return -1;
	}
	ssl_errtext(why, sizeof(why));
	err_set(e, ERR_PROTOCOL, "TLS %s failed: %s", what, why);
	if (e != NULL)
		e->sys = TLS_FAIL_HANDSHAKE;
	return -1;
}

int
tls_nb_handshake(struct tls_conn *c, short *want, struct op_err *e)
{
	int rc;

	*want = 0;
	ERR_clear_error();
	rc = SSL_do_handshake(c->ssl);
	if (rc == 1)
		return 0;
	return nb_result(c, rc, want, "handshake", e);
}

int
tls_nb_read(struct tls_conn *c, void *buf, size_t n, size_t *got, short *want,
    struct op_err *e)
{
	int rc, err;

	*want = 0;
	*got = 0;
	ERR_clear_error();
	rc = SSL_read_ex(c->ssl, buf, n, got);
	if (rc == 1)
		return 0;
	err = SSL_get_error(c->ssl, rc);
	if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && c->sys == 0)) {
		*got = 0;
		return 0;
	}
	return nb_result(c, rc, want, "read", e);
}

int
tls_nb_write(struct tls_conn *c, const void *buf, size_t n, size_t *done,
    short *want, struct op_err *e)
{
	int rc;

	*want = 0;
	*done = 0;
	if (n == 0)
		return 0;
	ERR_clear_error();
	rc = SSL_write_ex(c->ssl, buf, n, done);
	if (rc == 1)
		return 0;
	return nb_result(c, rc, want, "write", e);
}

size_t
tls_pending(const struct tls_conn *c)
{
	int n = SSL_pending(c->ssl);

	return n > 0 ? (size_t)n : 0;
}

void
tls_conn_free(struct tls_conn *c)
{
	if (c == NULL)
		return;
	if (c->ssl != NULL) {
		if (SSL_is_init_finished(c->ssl))
			SSL_shutdown(c->ssl);    /* one non-blocking try */
		ERR_clear_error();
		SSL_free(c->ssl);            /* frees the BIO, not the socket */
	}
	free(c);
}
