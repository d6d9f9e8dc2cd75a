/*
 * test_client.c - the SMTP client against a scripted fake server.
 *
 * The fake server runs in a thread on 127.0.0.1 (ephemeral port).  It
 * follows a script (send this; read N lines; read the body; start TLS;
 * read everything until the client hangs up) and records every byte the
 * client sent, decrypted when TLS is on.  The tests assert the exact
 * transcript, as curl's test suite does, plus the results.
 * TLS uses certificates made here with OpenSSL and the server side of
 * smtp/tls.c.  The fake server listens on 127.0.0.1, or on ::1 for the
 * IPv6 tests; a name with two addresses comes from this file's own
 * getaddrinfo() (see "a name with two addresses" below).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gsasl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "smtp/client.h"
#include "smtp/sasl.h"
#include "smtp/tls.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/net.h"

#define FS_WAIT_MS 5000

/* ---- the fake server ---- */

enum fs_op {
	FS_END = 0,
	FS_SEND,        /* write text */
	FS_LINES,       /* read n lines (the client must then wait: nothing
	                 * more may be pending, else lockstep_violations++) */
	FS_BATCH,       /* read n lines that must come in one read */
	FS_DATA,        /* read the body up to and including CRLF.CRLF */
	FS_TLS,         /* server-side TLS handshake */
	FS_DRAIN,       /* read until the client closes */
	FS_SASL,        /* play the server side of AUTH with GNU SASL,
	                 * password "pass"; text: the mechanism expected */
	FS_DRIP,        /* write text one byte at a time, n ms apart (a
	                 * tarpit: each byte well within any read timeout) */
};

struct fs_step {
	int op;
	const char *text;
	int n;
};

struct fake_server {
	int lfd, fd, port;
	pthread_t th;
	const struct fs_step *script;
	struct tls_ctx *tctx;
	struct tls_conn *tls;
	struct buf pend;              /* received, not yet consumed */
	struct buf got;               /* the transcript */
	int lockstep_violations;
	int batch_violations;
	int tls_failed;
	int eof;
	int done_steps;
	int sasl_result;              /* FS_SASL: 1 ok, -1 refused */
};

static int
fs_wait(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };

	return poll(&p, 1, FS_WAIT_MS) == 1 ? 0 : -1;
}

/* Read what is there (waiting up to FS_WAIT_MS) into pend; 0 ok, -1 EOF
 * or error or timeout. */
static int
fs_read_some(struct fake_server *fs)
{
	char tmp[8192];
	size_t got = 0;

	if (fs->eof)
		return -1;
	if (fs->tls != NULL) {
		for (;;) {
			short want;
			int rc = tls_nb_read(fs->tls, tmp, sizeof(tmp), &got, &want, NULL);

			if (rc == 0)
				break;
			if (rc < 0 || fs_wait(fs->fd, want) < 0) {
				fs->eof = 1;
				return -1;
			}
		}
	} else {
		ssize_t n;

		if (fs_wait(fs->fd, POLLIN) < 0) {
			fs->eof = 1;
			return -1;
		}
		n = recv(fs->fd, tmp, sizeof(tmp), 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		got = n > 0 ? (size_t)n : 0;
	}
	if (got == 0) {
		fs->eof = 1;
		return -1;
	}
	buf_append(&fs->pend, tmp, got, NULL);
	return 0;
}

static int
fs_write(struct fake_server *fs, const char *p, size_t n)
{
	while (n > 0) {
		size_t done = 0;

		if (fs->tls != NULL) {
			short want;
			int rc = tls_nb_write(fs->tls, p, n, &done, &want, NULL);

			if (rc < 0)
				return -1;
			if (rc == 1) {
				if (fs_wait(fs->fd, want) < 0)
					return -1;
				continue;
			}
		} else {
			ssize_t w = send(fs->fd, p, n, MSG_NOSIGNAL);

			if (w < 0) {
				if (errno == EAGAIN && fs_wait(fs->fd, POLLOUT) == 0)
					continue;
				return -1;
			}
			done = (size_t)w;
		}
		p += done;
		n -= done;
	}
	return 0;
}

static size_t
fs_count_lines(const struct fake_server *fs)
{
	size_t i, n = 0;

	for (i = 0; i < fs->pend.len; i++)
		if (fs->pend.data[i] == '\n')
			n++;
	return n;
}

/* Move one line from pend to the transcript; -1 if the client hung up. */
static int
fs_take_line(struct fake_server *fs)
{
	char *nl;

	while (fs->pend.len == 0 ||
	    (nl = memchr(fs->pend.data, '\n', fs->pend.len)) == NULL)
		if (fs_read_some(fs) < 0)
			return -1;
	nl = memchr(fs->pend.data, '\n', fs->pend.len);
	buf_append(&fs->got, fs->pend.data, (size_t)(nl - fs->pend.data) + 1, NULL);
	buf_consume(&fs->pend, (size_t)(nl - fs->pend.data) + 1);
	return 0;
}

static int
fs_take_data(struct fake_server *fs)
{
	for (;;) {
		size_t end = 0;

		if (fs->pend.len >= 3 && memcmp(fs->pend.data, ".\r\n", 3) == 0)
			end = 3;
		else if (fs->pend.len >= 5) {
			char *p = memmem(fs->pend.data, fs->pend.len, "\r\n.\r\n", 5);

			if (p != NULL)
				end = (size_t)(p - fs->pend.data) + 5;
		}
		if (end > 0) {
			buf_append(&fs->got, fs->pend.data, end, NULL);
			buf_consume(&fs->pend, end);
			return 0;
		}
		if (fs_read_some(fs) < 0)
			return -1;
	}
}

static int
fs_sasl_cb(Gsasl *ctx, Gsasl_session *sctx, Gsasl_property prop)
{
	(void)ctx;
	if (prop == GSASL_PASSWORD)
		return gsasl_property_set(sctx, prop, "pass");
	return GSASL_NO_CALLBACK;
}

/* The last line of the transcript, without CRLF, into dst. */
static void
fs_last_line(const struct fake_server *fs, char *dst, size_t dstsz)
{
	size_t end = fs->got.len, start;

	while (end > 0 && (fs->got.data[end - 1] == '\n' || fs->got.data[end - 1] == '\r'))
		end--;
	start = end;
	while (start > 0 && fs->got.data[start - 1] != '\n')
		start--;
	if (end - start >= dstsz)
		end = start + dstsz - 1;
	memcpy(dst, fs->got.data + start, end - start);
	dst[end - start] = '\0';
}

/* Server side of AUTH: "AUTH MECH [ir]", then 334 rounds, then 235/535. */
static int
fs_sasl(struct fake_server *fs, const char *mech)
{
	Gsasl *ctx = NULL;
	Gsasl_session *ss = NULL;
	char line[4096], out334[4200];
	const char *input;
	char *out = NULL;
	size_t ml = strlen(mech);
	int rc, ret = -1;

	if (fs_take_line(fs) < 0)
		return -1;
	fs_last_line(fs, line, sizeof(line));
	if (strncmp(line, "AUTH ", 5) != 0 || strncmp(line + 5, mech, ml) != 0)
		goto refuse;
	input = line[5 + ml] == ' ' ? line + 6 + ml : "";
	if (strcmp(input, "=") == 0)
		input = "";
	if (gsasl_init(&ctx) != GSASL_OK)
		goto refuse;
	gsasl_callback_set(ctx, fs_sasl_cb);
	if (gsasl_server_start(ctx, mech, &ss) != GSASL_OK)
		goto refuse;
	for (;;) {
		rc = gsasl_step64(ss, input, &out);
		if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE)
			goto refuse;
		if (rc == GSASL_OK && (out == NULL || out[0] == '\0'))
			break;
		snprintf(out334, sizeof(out334), "334 %s\r\n", out);
		gsasl_free(out);
		out = NULL;
		if (fs_write(fs, out334, strlen(out334)) < 0 || fs_take_line(fs) < 0)
			goto done;
		fs_last_line(fs, line, sizeof(line));
		input = line;
		if (rc == GSASL_OK)
			break;      /* server-final sent, empty answer received */
	}
	fs->sasl_result = 1;
	ret = fs_write(fs, "235 2.7.0 ok\r\n", 14);
	goto done;
refuse:
	fs->sasl_result = -1;
	ret = fs_write(fs, "535 5.7.8 no\r\n", 15);
done:
	if (out != NULL)
		gsasl_free(out);
	if (ss != NULL)
		gsasl_finish(ss);
	if (ctx != NULL)
		gsasl_done(ctx);
	return ret;
}

static void *
fs_main(void *arg)
{
	struct fake_server *fs = arg;
	const struct fs_step *st;
	int i;

	if (fs_wait(fs->lfd, POLLIN) < 0)
		return NULL;
	fs->fd = accept(fs->lfd, NULL, NULL);
	if (fs->fd < 0)
		return NULL;
	i = 1;
	setsockopt(fs->fd, IPPROTO_TCP, TCP_NODELAY, &i, sizeof(i));
	for (st = fs->script; st->op != FS_END; st++, fs->done_steps++) {
		switch (st->op) {
		case FS_SEND:
			if (fs_write(fs, st->text, strlen(st->text)) < 0)
				goto out;
			break;
		case FS_LINES:
			for (i = 0; i < st->n; i++)
				if (fs_take_line(fs) < 0)
					goto out;
			if (fs->pend.len > 0)
				fs->lockstep_violations++;
			break;
		case FS_BATCH:
			if (fs->pend.len == 0 && fs_read_some(fs) < 0)
				goto out;
			if (fs_count_lines(fs) < (size_t)st->n)
				fs->batch_violations++;
			for (i = 0; i < st->n; i++)
				if (fs_take_line(fs) < 0)
					goto out;
			break;
		case FS_DATA:
			if (fs_take_data(fs) < 0)
				goto out;
			break;
		case FS_TLS: {
			short want;
			int rc;

			if (tls_server_conn_new(fs->tctx, fs->fd, &fs->tls, NULL) < 0) {
				fs->tls_failed = 1;
				goto out;
			}
			while ((rc = tls_nb_handshake(fs->tls, &want, NULL)) == 1)
				if (fs_wait(fs->fd, want) < 0)
					break;
			if (rc != 0) {
				fs->tls_failed = 1;
				goto out;
			}
			break;
		}
		case FS_SASL:
			if (fs_sasl(fs, st->text) < 0)
				goto out;
			break;
		case FS_DRIP: {
			const char *c;

			for (c = st->text; *c != '\0'; c++) {
				usleep((useconds_t)st->n * 1000);
				if (fs_write(fs, c, 1) < 0)
					goto out;
			}
			break;
		}
		case FS_DRAIN:
			while (fs_read_some(fs) == 0)
				;
			if (fs->pend.len > 0)
				buf_append(&fs->got, fs->pend.data, fs->pend.len, NULL);
			buf_reset(&fs->pend);
			break;
		}
	}
out:
	/* whatever else arrived is part of the transcript too */
	if (fs->pend.len > 0)
		buf_append(&fs->got, fs->pend.data, fs->pend.len, NULL);
	buf_reset(&fs->pend);
	tls_conn_free(fs->tls);
	fs->tls = NULL;
	close(fs->fd);
	fs->fd = -1;
	return NULL;
}

/* A TCP socket bound to the loopback address of family (AF_INET:
 * 127.0.0.1, AF_INET6: ::1) and port (0: any), listening if asked; its
 * port in *port. */
static int
loopback_socket(int family, int port, int do_listen, int *bound_port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t sl;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET6) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		sin6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*sin6);
	} else {
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin->sin_port = htons((uint16_t)port);
		sl = sizeof(*sin);
	}
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, sl), 0);
	if (do_listen)
		assert_int_equal(listen(fd, 4), 0);
	sl = sizeof(ss);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &sl), 0);
	*bound_port = ntohs(family == AF_INET6 ? sin6->sin6_port : sin->sin_port);
	return fd;
}

/* The fake server on the loopback address of family. */
static void
fs_start_af(struct fake_server *fs, const struct fs_step *script,
    struct tls_ctx *tctx, int family)
{
	memset(fs, 0, sizeof(*fs));
	fs->script = script;
	fs->tctx = tctx;
	fs->fd = -1;
	buf_init(&fs->pend, 1 << 20);
	buf_init(&fs->got, 1 << 20);
	buf_appendstr(&fs->got, "", NULL);
	fs->lfd = loopback_socket(family, 0, 1, &fs->port);
	assert_int_equal(pthread_create(&fs->th, NULL, fs_main, fs), 0);
}

static void
fs_start(struct fake_server *fs, const struct fs_step *script,
    struct tls_ctx *tctx)
{
	fs_start_af(fs, script, tctx, AF_INET);
}

/* Wait for the server to finish its script; the transcript is then
 * fs->got.data. */
static void
fs_join(struct fake_server *fs)
{
	pthread_join(fs->th, NULL);
	close(fs->lfd);
}

static void
fs_free(struct fake_server *fs)
{
	buf_free(&fs->pend);
	buf_free(&fs->got);
}

/* ---- certificates for the TLS tests ---- */

static char cert_dir[] = "/tmp/outpost-test-client-XXXXXX";

static void
make_cert(const char *name, const char *san, long nb_off, long na_off)
{
	char path[512];
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n;
	X509V3_CTX xc;
	X509_EXTENSION *ext;
	FILE *f;
	static long serial = 1;

	assert_non_null(k);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), nb_off);
	X509_gmtime_adj(X509_getm_notAfter(x), na_off);
	X509_set_pubkey(x, k);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"Outpost Test", -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509V3_set_ctx_nodb(&xc);
	X509V3_set_ctx(&xc, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &xc, NID_subject_alt_name, san);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &xc, NID_basic_constraints, "critical,CA:TRUE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	snprintf(path, sizeof(path), "%s/%s.crt", cert_dir, name);
	f = fopen(path, "w");
	PEM_write_X509(f, x);
	fclose(f);
	snprintf(path, sizeof(path), "%s/%s.key", cert_dir, name);
	f = fopen(path, "w");
	PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(k);
}

static char *
cert_path(const char *name, const char *ext)
{
	static char paths[4][512];
	static int i;
	char *p = paths[i++ % 4];

	snprintf(p, 512, "%s/%s.%s", cert_dir, name, ext);
	return p;
}

static struct tls_ctx *
server_ctx(const char *name)
{
	struct tls_ctx *c = NULL;
	struct op_err e;

	assert_int_equal(tls_server_ctx_new(cert_path(name, "crt"),
	    cert_path(name, "key"), &c, &e), 0);
	return c;
}

static int
group_setup(void **state)
{
	(void)state;
	if (mkdtemp(cert_dir) == NULL)
		return -1;
	make_cert("good", "DNS:localhost,IP:127.0.0.1", -3600, 86400 * 30);
	make_cert("expired", "DNS:localhost,IP:127.0.0.1", -86400 * 10, -86400);
	make_cert("wrongname", "DNS:mail.example", -3600, 86400 * 30);
	make_cert("ipv6", "IP:::1", -3600, 86400 * 30);
	log_set_level(LOG_ERROR);
	return 0;
}

static int
group_teardown(void **state)
{
	static const char *const names[] = { "good", "expired", "wrongname", "ipv6" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		unlink(cert_path(names[i], "crt"));
		unlink(cert_path(names[i], "key"));
	}
	rmdir(cert_dir);
	return 0;
}

/* ---- helpers ---- */

static void
params_for(struct smtp_params *p, const struct fake_server *fs, int security)
{
	smtp_params_init(p);
	p->host = "127.0.0.1";
	p->port = (unsigned)fs->port;
	p->security = security;
	p->helo_name = "client.test";
	p->timeout_s = 5;
}

static const char *const two_rcpts[] = { "b@example.net", "c@example.net" };

#define GREETING "220 fake.test ESMTP\r\n"

/* ---- tests ---- */

static void
test_mech_choice(void **state)
{
	char m[32];

	(void)state;
	assert_int_equal(smtp_sasl_choose("LOGIN PLAIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256", m, sizeof(m), NULL), 0);
	assert_string_equal(m, "SCRAM-SHA-256");
	assert_int_equal(smtp_sasl_choose("LOGIN PLAIN CRAM-MD5 SCRAM-SHA-1", m, sizeof(m), NULL), 0);
	assert_string_equal(m, "SCRAM-SHA-1");
	assert_int_equal(smtp_sasl_choose("login plain cram-md5", m, sizeof(m), NULL), 0);
	assert_string_equal(m, "CRAM-MD5");
	assert_int_equal(smtp_sasl_choose("LOGIN PLAIN", m, sizeof(m), NULL), 0);
	assert_string_equal(m, "PLAIN");
	assert_int_equal(smtp_sasl_choose("LOGIN XOAUTH2", m, sizeof(m), NULL), 0);
	assert_string_equal(m, "LOGIN");
	/* prefixes are not matches */
	assert_int_equal(smtp_sasl_choose("SCRAM-SHA-256-PLUS PLAINX", m, sizeof(m), NULL), -1);
	assert_int_equal(smtp_sasl_choose("", m, sizeof(m), NULL), -1);
	assert_int_equal(smtp_sasl_choose("GSSAPI NTLM", m, sizeof(m), NULL), -1);
	assert_true(smtp_sasl_client_first("PLAIN"));
	assert_true(smtp_sasl_client_first("SCRAM-SHA-256"));
	assert_false(smtp_sasl_client_first("LOGIN"));
	assert_false(smtp_sasl_client_first("CRAM-MD5"));
}

/* PIPELINING: MAIL, RCPT, RCPT, DATA in one write; replies read in order. */
static void
test_pipelined_session(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250-fake.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n"
		    "250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n", 0 },
		{ FS_BATCH, NULL, 4 },
		{ FS_SEND, "250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n354 go\r\n", 0 },
		{ FS_DATA, NULL, 0 },
		{ FS_SEND, "250 2.0.0 queued as ABC\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "221 2.0.0 bye\r\n", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	const char *body = "Subject: t\n\n.hi\nbye";
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r, rr[2];
	struct smtp_envelope env = { "a@example.org", two_rcpts, 2, 0 };
	struct smtp_mem_body mb;
	struct smtp_body b;
	const struct smtp_caps *caps;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	smtp_result_init(&r);
	smtp_result_init(&rr[0]);
	smtp_result_init(&rr[1]);
	assert_int_equal(smtp_client_open(&p, &s, &r), 0);
	assert_true(smtp_client_usable(s));
	caps = smtp_client_caps(s);
	assert_true(caps->flags & SMTP_CAP_PIPELINING);
	assert_true(caps->flags & SMTP_CAP_8BITMIME);
	assert_int_equal(caps->size_max, 1000000);
	assert_string_equal(smtp_client_peer(s), "127.0.0.1");
	assert_int_equal(smtp_client_greeting(s)->code, 220);
	smtp_body_from_mem(&b, &mb, body, strlen(body));
	assert_int_equal(smtp_client_send(s, &env, &b, rr, &r), 0);
	assert_int_equal(r.outcome, SMTP_DELIVERED);
	assert_int_equal(r.reply.code, 250);
	assert_string_equal(r.reply.text, "2.0.0 queued as ABC");
	assert_int_equal(rr[0].outcome, SMTP_DELIVERED);
	assert_int_equal(rr[1].outcome, SMTP_DELIVERED);
	assert_int_equal(rr[1].reply.enh_class, 2);
	assert_int_equal(smtp_client_messages(s), 1);
	assert_true(smtp_client_usable(s));
	smtp_client_quit(s);
	assert_false(smtp_client_usable(s));
	smtp_client_free(s);
	fs_join(&fs);
	assert_string_equal(fs.got.data,
	    "EHLO client.test\r\n"
	    "MAIL FROM:<a@example.org> SIZE=22\r\n"
	    "RCPT TO:<b@example.net>\r\n"
	    "RCPT TO:<c@example.net>\r\n"
	    "DATA\r\n"
	    "Subject: t\r\n\r\n..hi\r\nbye\r\n.\r\n"
	    "QUIT\r\n");
	assert_int_equal(fs.batch_violations, 0);
	smtp_result_free(&r);
	smtp_result_free(&rr[0]);
	smtp_result_free(&rr[1]);
	fs_free(&fs);
}

/* A reused connection: the second message starts with RSET, written in the
 * same batch as MAIL, RCPT and DATA (issue 3: RSET between messages). */
static void
test_reuse_rset_pipelined(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250-fake.test\r\n250 PIPELINING\r\n", 0 },
		{ FS_BATCH, NULL, 3 },
		{ FS_SEND, "250 ok\r\n250 ok\r\n354 go\r\n", 0 },
		{ FS_DATA, NULL, 0 },
		{ FS_SEND, "250 one\r\n", 0 },
		{ FS_BATCH, NULL, 4 },
		{ FS_SEND, "250 reset\r\n250 ok\r\n250 ok\r\n354 go\r\n", 0 },
		{ FS_DATA, NULL, 0 },
		{ FS_SEND, "250 two\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "221 bye\r\n", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	static const char *const r1[] = { "one@example.net" };
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r, rr[1];
	struct smtp_envelope env = { "a@example.org", r1, 1, 0 };
	struct smtp_mem_body mb;
	struct smtp_body b;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	smtp_result_init(&r);
	smtp_result_init(&rr[0]);
	assert_int_equal(smtp_client_open(&p, &s, &r), 0);
	smtp_body_from_mem(&b, &mb, "1\r\n", 3);
	assert_int_equal(smtp_client_send(s, &env, &b, rr, &r), 0);
	smtp_body_from_mem(&b, &mb, "2\r\n", 3);
	assert_int_equal(smtp_client_send(s, &env, &b, rr, &r), 0);
	assert_string_equal(r.reply.text, "two");
	assert_int_equal(smtp_client_messages(s), 2);
	smtp_client_quit(s);
	smtp_client_free(s);
	fs_join(&fs);
	assert_string_equal(fs.got.data,
	    "EHLO client.test\r\n"
	    "MAIL FROM:<a@example.org>\r\nRCPT TO:<one@example.net>\r\nDATA\r\n1\r\n.\r\n"
	    "RSET\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<one@example.net>\r\nDATA\r\n2\r\n.\r\n"
	    "QUIT\r\n");
	assert_int_equal(fs.batch_violations, 0);
	smtp_result_free(&r);
	smtp_result_free(&rr[0]);
	fs_free(&fs);
}

/* Without PIPELINING: one command, one reply.  8-bit body -> BODY=8BITMIME. */
static void
test_lockstep_session(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250-fake.test\r\n250 8BITMIME\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250 ok\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250 ok\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "251 will forward\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "354 go\r\n", 0 },
		{ FS_DATA, NULL, 0 },
		{ FS_SEND, "250 queued\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "221 bye\r\n", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	const char *body = "Subject: caf\xc3\xa9\r\n\r\nbody\r\n";
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r, rr[2];
	struct smtp_envelope env = { "a@example.org", two_rcpts, 2, 0 };
	struct smtp_mem_body mb;
	struct smtp_body b;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	smtp_result_init(&r);
	smtp_result_init(&rr[0]);
	smtp_result_init(&rr[1]);
	assert_int_equal(smtp_client_open(&p, &s, &r), 0);
	smtp_body_from_mem(&b, &mb, body, strlen(body));
	assert_true(b.eightbit);
	assert_int_equal(smtp_client_send(s, &env, &b, rr, &r), 0);
	assert_int_equal(rr[0].outcome, SMTP_DELIVERED);
	assert_int_equal(rr[1].outcome, SMTP_DELIVERED);
	assert_string_equal(r.reply.text, "queued");
	smtp_client_quit(s);
	smtp_client_free(s);
	fs_join(&fs);
	assert_string_equal(fs.got.data,
	    "EHLO client.test\r\n"
	    "MAIL FROM:<a@example.org> BODY=8BITMIME\r\n"
	    "RCPT TO:<b@example.net>\r\n"
	    "RCPT TO:<c@example.net>\r\n"
	    "DATA\r\n"
	    "Subject: caf\xc3\xa9\r\n\r\nbody\r\n.\r\n"
	    "QUIT\r\n");
	assert_int_equal(fs.lockstep_violations, 0);
	smtp_result_free(&r);
	smtp_result_free(&rr[0]);
	smtp_result_free(&rr[1]);
	fs_free(&fs);
}

/* One recipient of three refused: it alone fails, with its own reply. */
static void
test_one_of_three_refused(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250-fake.test\r\n250 PIPELINING\r\n", 0 },
		{ FS_BATCH, NULL, 5 },
		{ FS_SEND, "250 2.1.0 ok\r\n250 2.1.5 ok\r\n"
		    "550-5.1.1 <bad@example.net>: no such\r\n550 5.1.1 user here\r\n"
		    "250 2.1.5 ok\r\n354 go\r\n", 0 },
		{ FS_DATA, NULL, 0 },
		{ FS_SEND, "250 2.0.0 queued\r\n", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	static const char *const rcpts[] = { "a@example.net", "bad@example.net", "c@example.net" };
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r, rr[3];
	struct smtp_envelope env = { "", rcpts, 3, 0 };
	struct smtp_mem_body mb;
	struct smtp_body b;
	int i;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	smtp_result_init(&r);
	for (i = 0; i < 3; i++)
		smtp_result_init(&rr[i]);
	assert_int_equal(smtp_client_open(&p, &s, &r), 0);
	smtp_body_from_mem(&b, &mb, "x", 1);
	assert_int_equal(smtp_client_send(s, &env, &b, rr, &r), 0);
	assert_int_equal(r.outcome, SMTP_DELIVERED);
	assert_int_equal(rr[0].outcome, SMTP_DELIVERED);
	assert_int_equal(rr[0].reply.code, 250);
	assert_string_equal(rr[0].reply.text, "2.0.0 queued");
	assert_int_equal(rr[1].outcome, SMTP_PERMANENT);
	assert_int_equal(rr[1].phase, SMTP_PHASE_RCPT);
	assert_int_equal(rr[1].fail, SMTP_FAIL_REPLY);
	assert_int_equal(rr[1].reply.code, 550);
	assert_int_equal(rr[1].reply.enh_class, 5);
	assert_int_equal(rr[1].reply.enh_subject, 1);
	assert_int_equal(rr[1].reply.enh_detail, 1);
	assert_string_equal(rr[1].reply.text, "5.1.1 <bad@example.net>: no such\n5.1.1 user here");
	assert_int_equal(rr[2].outcome, SMTP_DELIVERED);
	smtp_client_free(s);            /* no QUIT: just hang up */
	fs_join(&fs);
	assert_string_equal(fs.got.data,
	    "EHLO client.test\r\n"
	    "MAIL FROM:<>\r\n"
	    "RCPT TO:<a@example.net>\r\n"
	    "RCPT TO:<bad@example.net>\r\n"
	    "RCPT TO:<c@example.net>\r\n"
	    "DATA\r\n"
	    "x\r\n.\r\n");
	assert_int_equal(fs.batch_violations, 0);
	smtp_result_free(&r);
	for (i = 0; i < 3; i++)
		smtp_result_free(&rr[i]);
	fs_free(&fs);
}

/* RSET and reuse: a message, an explicit RSET, a message whose only
 * recipient is refused (automatic RSET), and a third message. */
static void
test_rset_and_reuse(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250 fake.test\r\n", 0 },
		/* message 1 */
		{ FS_LINES, NULL, 1 }, { FS_SEND, "250 ok\r\n", 0 },
		{ FS_LINES, NULL, 1 }, { FS_SEND, "250 ok\r\n", 0 },
		{ FS_LINES, NULL, 1 }, { FS_SEND, "354 go\r\n", 0 },
		{ FS_DATA, NULL, 0 }, { FS_SEND, "250 one\r\n", 0 },
		/* explicit RSET */
		{ FS_LINES, NULL, 1 }, { FS_SEND, "250 reset\r\n", 0 },
		/* message 2: refused recipient -> RSET */
		{ FS_LINES, NULL, 1 }, { FS_SEND, "250 ok\r\n", 0 },
		{ FS_LINES, NULL, 1 }, { FS_SEND, "450 4.2.1 mailbox busy\r\n", 0 },
		{ FS_LINES, NULL, 1 }, { FS_SEND, "250 reset\r\n", 0 },
		/* message 3 */
		{ FS_LINES, NULL, 1 }, { FS_SEND, "250 ok\r\n", 0 },
		{ FS_LINES, NULL, 1 }, { FS_SEND, "250 ok\r\n", 0 },
		{ FS_LINES, NULL, 1 }, { FS_SEND, "354 go\r\n", 0 },
		{ FS_DATA, NULL, 0 }, { FS_SEND, "250 three\r\n", 0 },
		{ FS_LINES, NULL, 1 }, { FS_SEND, "221 bye\r\n", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	static const char *const r1[] = { "one@example.net" };
	static const char *const r2[] = { "busy@example.net" };
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r, rr[1];
	struct smtp_envelope env1 = { "a@example.org", r1, 1, 0 };
	struct smtp_envelope env2 = { "a@example.org", r2, 1, 0 };
	struct smtp_mem_body mb;
	struct smtp_body b;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	smtp_result_init(&r);
	smtp_result_init(&rr[0]);
	assert_int_equal(smtp_client_open(&p, &s, &r), 0);
	assert_int_equal(smtp_client_caps(s)->flags, 0);
	smtp_body_from_mem(&b, &mb, "1\r\n", 3);
	assert_int_equal(smtp_client_send(s, &env1, &b, rr, &r), 0);
	assert_int_equal(smtp_client_rset(s, &r), 0);
	assert_true(smtp_client_usable(s));
	smtp_body_from_mem(&b, &mb, "2\r\n", 3);
	assert_int_equal(smtp_client_send(s, &env2, &b, rr, &r), -1);
	assert_int_equal(rr[0].outcome, SMTP_TEMPORARY);
	assert_int_equal(rr[0].reply.code, 450);
	assert_int_equal(r.outcome, SMTP_TEMPORARY);
	assert_int_equal(r.phase, SMTP_PHASE_RCPT);
	assert_true(smtp_client_usable(s));
	smtp_body_from_mem(&b, &mb, "3\r\n", 3);
	assert_int_equal(smtp_client_send(s, &env1, &b, rr, &r), 0);
	assert_string_equal(r.reply.text, "three");
	assert_int_equal(smtp_client_messages(s), 2);
	smtp_client_quit(s);
	smtp_client_free(s);
	fs_join(&fs);
	assert_string_equal(fs.got.data,
	    "EHLO client.test\r\n"
	    "MAIL FROM:<a@example.org>\r\nRCPT TO:<one@example.net>\r\nDATA\r\n1\r\n.\r\n"
	    "RSET\r\n"
	    "MAIL FROM:<a@example.org>\r\nRCPT TO:<busy@example.net>\r\nRSET\r\n"
	    "MAIL FROM:<a@example.org>\r\nRCPT TO:<one@example.net>\r\nDATA\r\n3\r\n.\r\n"
	    "QUIT\r\n");
	assert_int_equal(fs.lockstep_violations, 0);
	smtp_result_free(&r);
	smtp_result_free(&rr[0]);
	fs_free(&fs);
}

/* security=starttls and no STARTTLS offered: EHLO and QUIT, nothing else. */
static void
test_starttls_not_offered(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250-fake.test\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "221 bye\r\n", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r;
	const struct smtp_step *st;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_STARTTLS);
	p.auth = 1;
	p.username = "user";
	p.password = "secret-password";
	smtp_result_init(&r);
	assert_int_equal(smtp_client_open(&p, &s, &r), -1);
	assert_int_equal(r.phase, SMTP_PHASE_STARTTLS);
	assert_int_equal(r.fail, SMTP_FAIL_NO_STARTTLS);
	assert_int_equal(r.outcome, SMTP_TEMPORARY);
	assert_false(smtp_client_usable(s));
	assert_null(smtp_client_tls(s));
	st = smtp_client_step(s, smtp_client_nsteps(s) - 1);
	assert_int_equal(st->phase, SMTP_PHASE_STARTTLS);
	assert_false(st->ok);
	assert_int_equal(st->fail, SMTP_FAIL_NO_STARTTLS);
	smtp_client_free(s);
	fs_join(&fs);
	assert_string_equal(fs.got.data, "EHLO client.test\r\nQUIT\r\n");
	smtp_result_free(&r);
	fs_free(&fs);
}

/* Bytes after the 220 to STARTTLS: the session ends, no handshake. */
static void
test_starttls_injection(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250-fake.test\r\n250 STARTTLS\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "220 2.0.0 go ahead\r\n250-injected\r\n250 AUTH PLAIN\r\n", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_STARTTLS);
	smtp_result_init(&r);
	assert_int_equal(smtp_client_open(&p, &s, &r), -1);
	assert_int_equal(r.phase, SMTP_PHASE_STARTTLS);
	assert_int_equal(r.fail, SMTP_FAIL_INJECTION);
	assert_int_equal(r.outcome, SMTP_TEMPORARY);
	assert_false(smtp_client_usable(s));
	assert_false(smtp_client_encrypted(s));
	smtp_client_free(s);
	fs_join(&fs);
	/* nothing after STARTTLS: no ClientHello, no QUIT */
	assert_string_equal(fs.got.data, "EHLO client.test\r\nSTARTTLS\r\n");
	smtp_result_free(&r);
	fs_free(&fs);
}

/* The injected bytes arrive in a separate packet, a moment later. */
static void
test_starttls_injection_late(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250-fake.test\r\n250 STARTTLS\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "220-2.0.0 go\r\n", 0 },
		{ FS_SEND, "220 ahead\r\n250 injected\r\n", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_STARTTLS);
	smtp_result_init(&r);
	assert_int_equal(smtp_client_open(&p, &s, &r), -1);
	assert_int_equal(r.fail, SMTP_FAIL_INJECTION);
	smtp_client_free(s);
	fs_join(&fs);
	assert_string_equal(fs.got.data, "EHLO client.test\r\nSTARTTLS\r\n");
	smtp_result_free(&r);
	fs_free(&fs);
}

/* STARTTLS, certificate verified against tls_ca_file (IP SAN), EHLO again
 * over TLS, AUTH PLAIN with an initial response, masked in the log. */
static void
test_starttls_auth_plain(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250-fake.test\r\n250-STARTTLS\r\n250 AUTH CRAM-MD5\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "220 2.0.0 ready\r\n", 0 },
		{ FS_TLS, NULL, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250-fake.test\r\n250-AUTH LOGIN\r\n250 AUTH=PLAIN LOGIN\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "235 2.7.0 accepted\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "221 bye\r\n", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r;
	const struct tls_info *ti;
	static const int phases[] = {
		SMTP_PHASE_RESOLVE, SMTP_PHASE_CONNECT, SMTP_PHASE_GREETING,
		SMTP_PHASE_EHLO, SMTP_PHASE_STARTTLS, SMTP_PHASE_TLS,
		SMTP_PHASE_EHLO, SMTP_PHASE_AUTH,
	};
	char logpath[600], logbuf[65536];
	int logfd;
	ssize_t n;
	size_t i;

	(void)state;
	snprintf(logpath, sizeof(logpath), "%s/log", cert_dir);
	logfd = open(logpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(logfd >= 0);
	log_set_fd(logfd);
	log_set_level(LOG_DEBUG);
	fs_start(&fs, script, server_ctx("good"));
	params_for(&p, &fs, SMTP_SEC_STARTTLS);
	p.tls_ca_file = cert_path("good", "crt");
	p.auth = 1;
	p.username = "user";
	p.password = "pass";
	smtp_result_init(&r);
	assert_int_equal(smtp_client_open(&p, &s, &r), 0);
	assert_true(smtp_client_encrypted(s));
	ti = smtp_client_tls(s);
	assert_non_null(ti);
	assert_true(ti->done);
	assert_int_equal(ti->verify_code, 0);
	assert_true(ti->verify_enabled);
	assert_true(ti->have_cert);
	assert_non_null(strstr(ti->subject, "CN=Outpost Test"));
	assert_true(strncmp(ti->version, "TLSv1.", 6) == 0);
	assert_true(ti->not_after_t > 0);
	assert_string_equal(smtp_client_auth_mech(s), "PLAIN");
	/* capabilities are those of the EHLO over TLS */
	assert_string_equal(smtp_client_caps(s)->mechs, "LOGIN PLAIN");
	assert_false(smtp_client_caps(s)->flags & SMTP_CAP_STARTTLS);
	assert_int_equal(smtp_client_nsteps(s), sizeof(phases) / sizeof(phases[0]));
	for (i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
		assert_int_equal(smtp_client_step(s, i)->phase, phases[i]);
		assert_true(smtp_client_step(s, i)->ok);
	}
	assert_non_null(strstr(smtp_client_step(s, 7)->detail, "chosen: PLAIN"));
	smtp_client_quit(s);
	smtp_client_free(s);
	fs_join(&fs);
	tls_ctx_free(fs.tctx);
	log_set_fd(2);
	log_set_level(LOG_ERROR);
	/* "\0user\0pass" in base64 */
	assert_string_equal(fs.got.data,
	    "EHLO client.test\r\nSTARTTLS\r\n"
	    "EHLO client.test\r\nAUTH PLAIN AHVzZXIAcGFzcw==\r\nQUIT\r\n");
	n = pread(logfd, logbuf, sizeof(logbuf) - 1, 0);
	close(logfd);
	unlink(logpath);
	assert_true(n > 0);
	logbuf[n] = '\0';
	assert_non_null(strstr(logbuf, "AUTH PLAIN ********"));
	assert_null(strstr(logbuf, "AHVzZXIAcGFzcw"));
	assert_non_null(strstr(logbuf, "from=ehlo to=starttls"));
	smtp_result_free(&r);
	fs_free(&fs);
}

/* Implicit TLS with a certificate nobody trusts: TLS_VERIFY, and the
 * certificate is still described. */
/* The failure names what failed (tls_verify_reason()): want is the whole
 * message, or NULL where it holds a date. */
static void
run_tls_verify_fail(const char *cert, const char *ca, int (*check)(int),
    const char *want)
{
	static const struct fs_step script[] = {
		{ FS_TLS, NULL, 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r;
	const struct tls_info *ti;

	fs_start(&fs, script, server_ctx(cert));
	params_for(&p, &fs, SMTP_SEC_TLS);
	p.tls_ca_file = ca;
	smtp_result_init(&r);
	assert_int_equal(smtp_client_open(&p, &s, &r), -1);
	assert_int_equal(r.phase, SMTP_PHASE_TLS);
	assert_int_equal(r.fail, SMTP_FAIL_TLS_VERIFY);
	assert_int_equal(r.outcome, SMTP_TEMPORARY);
	assert_true(check(r.sys));
	if (want != NULL)
		assert_string_equal(r.msg, want);
	ti = smtp_client_tls(s);
	assert_non_null(ti);
	assert_false(ti->done);
	assert_int_equal(ti->verify_code, r.sys);
	assert_true(ti->have_cert);
	assert_non_null(strstr(ti->subject, "Outpost Test"));
	assert_true(ti->verify_text[0] != '\0');
	assert_true(strncmp(ti->version, "TLSv1.", 6) == 0);
	smtp_client_free(s);
	fs_join(&fs);
	tls_ctx_free(fs.tctx);
	assert_true(fs.tls_failed);
	assert_string_equal(fs.got.data, "");
	smtp_result_free(&r);
	fs_free(&fs);
}

static void
test_tls_untrusted(void **state)
{
	(void)state;
	run_tls_verify_fail("good", NULL, tls_verify_is_untrusted,
	    "the server's certificate is not trusted: it is self-signed "
	    "(certificate CN=Outpost Test)");
}

static void
test_tls_expired(void **state)
{
	(void)state;
	run_tls_verify_fail("expired", cert_path("expired", "crt"),
	    tls_verify_is_expired, NULL);
}

static void
test_tls_wrong_name(void **state)
{
	(void)state;
	run_tls_verify_fail("wrongname", cert_path("wrongname", "crt"),
	    tls_verify_is_hostname, "the server's certificate is not valid for "
	    "127.0.0.1: it names mail.example (certificate CN=Outpost Test)");
}

/* tls_verify = no: the same untrusted certificate is accepted, and the
 * verification result is still reported. */
static void
test_tls_verify_off(void **state)
{
	static const struct fs_step script[] = {
		{ FS_TLS, NULL, 0 },
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250 fake.test\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "221 bye\r\n", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r;
	const struct tls_info *ti;

	(void)state;
	fs_start(&fs, script, server_ctx("wrongname"));
	params_for(&p, &fs, SMTP_SEC_TLS);
	p.tls_verify = 0;
	smtp_result_init(&r);
	assert_int_equal(smtp_client_open(&p, &s, &r), 0);
	ti = smtp_client_tls(s);
	assert_true(ti->done);
	assert_false(ti->verify_enabled);
	assert_int_not_equal(ti->verify_code, 0);
	smtp_client_quit(s);
	smtp_client_free(s);
	fs_join(&fs);
	tls_ctx_free(fs.tctx);
	assert_string_equal(fs.got.data, "EHLO client.test\r\nQUIT\r\n");
	smtp_result_free(&r);
	fs_free(&fs);
}

/* security=tls against a plain SMTP server. */
static void
test_plain_on_tls_port(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_TLS);
	smtp_result_init(&r);
	assert_int_equal(smtp_client_open(&p, &s, &r), -1);
	assert_int_equal(r.phase, SMTP_PHASE_TLS);
	assert_int_equal(r.fail, SMTP_FAIL_PLAIN_ON_TLS_PORT);
	assert_non_null(strstr(r.msg, "security=starttls"));
	smtp_client_free(s);
	fs_join(&fs);
	smtp_result_free(&r);
	fs_free(&fs);
}

/* security=starttls against a server that speaks TLS first. */
static void
test_tls_on_plain_port(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, "\x15\x03\x03\x00\x02\x02\x46", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_STARTTLS);
	smtp_result_init(&r);
	assert_int_equal(smtp_client_open(&p, &s, &r), -1);
	assert_int_equal(r.phase, SMTP_PHASE_GREETING);
	assert_int_equal(r.fail, SMTP_FAIL_TLS_ON_PLAIN_PORT);
	assert_non_null(strstr(r.msg, "security=tls"));
	smtp_client_free(s);
	fs_join(&fs);
	assert_string_equal(fs.got.data, "");
	smtp_result_free(&r);
	fs_free(&fs);
}

/* A server that never greets: a timeout, with the implicit-TLS hint. */
static void
test_no_greeting(void **state)
{
	static const struct fs_step script[] = {
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_STARTTLS);
	p.timeout_s = 1;
	smtp_result_init(&r);
	assert_int_equal(smtp_client_open(&p, &s, &r), -1);
	assert_int_equal(r.phase, SMTP_PHASE_GREETING);
	assert_int_equal(r.fail, SMTP_FAIL_TIMEOUT);
	assert_int_equal(r.sys, ETIMEDOUT);
	assert_non_null(strstr(r.msg, "security=tls"));
	smtp_client_free(s);
	fs_join(&fs);
	assert_string_equal(fs.got.data, "");
	smtp_result_free(&r);
	fs_free(&fs);
}

/* 421 greeting: no command at all, not even QUIT. */
static void
test_greeting_421(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, "421 4.3.2 too busy\r\n", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	smtp_result_init(&r);
	assert_int_equal(smtp_client_open(&p, &s, &r), -1);
	assert_int_equal(r.phase, SMTP_PHASE_GREETING);
	assert_int_equal(r.fail, SMTP_FAIL_REPLY);
	assert_int_equal(r.outcome, SMTP_TEMPORARY);
	assert_int_equal(r.reply.code, 421);
	assert_int_equal(smtp_client_greeting(s)->code, 421);
	smtp_client_free(s);
	fs_join(&fs);
	assert_string_equal(fs.got.data, "");
	smtp_result_free(&r);
	fs_free(&fs);
}

/* AUTH wanted on a cleartext connection: refused before AUTH is sent. */
static void
test_auth_insecure(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250-fake.test\r\n250 AUTH PLAIN\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "221 bye\r\n", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	p.auth = 1;
	p.username = "user";
	p.password = "pass";
	smtp_result_init(&r);
	assert_int_equal(smtp_client_open(&p, &s, &r), -1);
	assert_int_equal(r.phase, SMTP_PHASE_AUTH);
	assert_int_equal(r.fail, SMTP_FAIL_AUTH_INSECURE);
	smtp_client_free(s);
	fs_join(&fs);
	assert_string_equal(fs.got.data, "EHLO client.test\r\nQUIT\r\n");
	smtp_result_free(&r);
	fs_free(&fs);
}

/* security=none + allow_plaintext_auth: AUTH LOGIN, challenge by challenge. */
static void
test_auth_login(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250-fake.test\r\n250 AUTH LOGIN\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "334 VXNlcm5hbWU6\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "334 UGFzc3dvcmQ6\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "235 2.7.0 ok\r\n", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	p.auth = 1;
	p.allow_plaintext_auth = 1;
	p.username = "user";
	p.password = "pass";
	smtp_result_init(&r);
	assert_int_equal(smtp_client_open(&p, &s, &r), 0);
	assert_string_equal(smtp_client_auth_mech(s), "LOGIN");
	smtp_client_free(s);
	fs_join(&fs);
	assert_string_equal(fs.got.data,
	    "EHLO client.test\r\nAUTH LOGIN\r\ndXNlcg==\r\ncGFzcw==\r\n");
	assert_int_equal(fs.lockstep_violations, 0);
	smtp_result_free(&r);
	fs_free(&fs);
}

/* Each mechanism against GNU SASL's own server side. */
static void
run_sasl(const char *offered, const char *mech, const char *password, int want_ok)
{
	char ehlo[256];
	struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, ehlo, 0 },
		{ FS_SASL, mech, 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r;
	char prefix[64];

	snprintf(ehlo, sizeof(ehlo), "250-fake.test\r\n250 AUTH %s\r\n", offered);
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	p.auth = 1;
	p.allow_plaintext_auth = 1;
	p.username = "user";
	p.password = password;
	smtp_result_init(&r);
	assert_int_equal(smtp_client_open(&p, &s, &r), want_ok ? 0 : -1);
	assert_string_equal(smtp_client_auth_mech(s), mech);
	if (!want_ok) {
		assert_int_equal(r.fail, SMTP_FAIL_AUTH);
		assert_int_equal(r.reply.code, 535);
	}
	smtp_client_free(s);
	fs_join(&fs);
	assert_int_equal(fs.sasl_result, want_ok ? 1 : -1);
	snprintf(prefix, sizeof(prefix), "EHLO client.test\r\nAUTH %s", mech);
	assert_true(strncmp(fs.got.data, prefix, strlen(prefix)) == 0);
	assert_null(strstr(fs.got.data, password));
	smtp_result_free(&r);
	fs_free(&fs);
}

static void
test_sasl_mechanisms(void **state)
{
	(void)state;
	run_sasl("PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256", "SCRAM-SHA-256", "pass", 1);
	run_sasl("PLAIN SCRAM-SHA-1", "SCRAM-SHA-1", "pass", 1);
	run_sasl("LOGIN CRAM-MD5", "CRAM-MD5", "pass", 1);
	run_sasl("PLAIN", "PLAIN", "pass", 1);
	run_sasl("LOGIN", "LOGIN", "pass", 1);
	run_sasl("SCRAM-SHA-256", "SCRAM-SHA-256", "wrong", 0);
	run_sasl("CRAM-MD5", "CRAM-MD5", "wrong", 0);
}

/* 535: the login is refused; phase auth, PERMANENT, the reply kept. */
static void
test_auth_refused(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250-fake.test\r\n250 AUTH PLAIN\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "535 5.7.8 Authentication credentials invalid\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "221 bye\r\n", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	p.auth = 1;
	p.allow_plaintext_auth = 1;
	p.username = "user";
	p.password = "wrong";
	smtp_result_init(&r);
	assert_int_equal(smtp_client_open(&p, &s, &r), -1);
	assert_int_equal(r.phase, SMTP_PHASE_AUTH);
	assert_int_equal(r.fail, SMTP_FAIL_AUTH);
	assert_int_equal(r.outcome, SMTP_PERMANENT);
	assert_int_equal(r.reply.code, 535);
	assert_int_equal(r.reply.enh_detail, 8);
	smtp_client_free(s);
	fs_join(&fs);
	assert_string_equal(fs.got.data,
	    "EHLO client.test\r\nAUTH PLAIN AHVzZXIAd3Jvbmc=\r\nQUIT\r\n");
	smtp_result_free(&r);
	fs_free(&fs);
}

static void
test_auth_not_offered(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250-fake.test\r\n250 8BITMIME\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "221 bye\r\n", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	p.auth = 1;
	p.allow_plaintext_auth = 1;
	p.username = "user";
	p.password = "pass";
	smtp_result_init(&r);
	assert_int_equal(smtp_client_open(&p, &s, &r), -1);
	assert_int_equal(r.phase, SMTP_PHASE_AUTH);
	assert_int_equal(r.fail, SMTP_FAIL_NO_AUTH);
	smtp_client_free(s);
	fs_join(&fs);
	assert_string_equal(fs.got.data, "EHLO client.test\r\nQUIT\r\n");
	smtp_result_free(&r);
	fs_free(&fs);
}

/* EHLO not understood: HELO, then plain lock-step mail. */
static void
test_helo_fallback(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "502 5.5.2 what?\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250 hello\r\n", 0 },
		{ FS_LINES, NULL, 1 }, { FS_SEND, "250 ok\r\n", 0 },
		{ FS_LINES, NULL, 1 }, { FS_SEND, "250 ok\r\n", 0 },
		{ FS_LINES, NULL, 1 }, { FS_SEND, "354 go\r\n", 0 },
		{ FS_DATA, NULL, 0 }, { FS_SEND, "250 ok\r\n", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	static const char *const r1[] = { "b@example.net" };
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r, rr[1];
	struct smtp_envelope env = { "a@example.org", r1, 1, 0 };
	struct smtp_mem_body mb;
	struct smtp_body b;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	smtp_result_init(&r);
	smtp_result_init(&rr[0]);
	assert_int_equal(smtp_client_open(&p, &s, &r), 0);
	assert_false(smtp_client_caps(s)->esmtp);
	/* 8-bit body, but no 8BITMIME: no BODY= parameter */
	smtp_body_from_mem(&b, &mb, "\xe9t\xe9", 3);
	assert_int_equal(smtp_client_send(s, &env, &b, rr, &r), 0);
	smtp_client_free(s);
	fs_join(&fs);
	assert_string_equal(fs.got.data,
	    "EHLO client.test\r\nHELO client.test\r\n"
	    "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
	    "\xe9t\xe9\r\n.\r\n");
	smtp_result_free(&r);
	smtp_result_free(&rr[0]);
	fs_free(&fs);
}

/* Pipelined, every RCPT refused, DATA answered 354 anyway: the dot alone. */
static void
test_all_refused_data_354(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250-fake.test\r\n250 PIPELINING\r\n", 0 },
		{ FS_BATCH, NULL, 4 },
		{ FS_SEND, "250 ok\r\n550 5.1.1 no\r\n451 4.3.0 later\r\n354 go\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "554 5.5.1 no valid recipients\r\n", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r, rr[2];
	struct smtp_envelope env = { "a@example.org", two_rcpts, 2, 0 };
	struct smtp_mem_body mb;
	struct smtp_body b;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	smtp_result_init(&r);
	smtp_result_init(&rr[0]);
	smtp_result_init(&rr[1]);
	assert_int_equal(smtp_client_open(&p, &s, &r), 0);
	smtp_body_from_mem(&b, &mb, "never sent", 10);
	assert_int_equal(smtp_client_send(s, &env, &b, rr, &r), -1);
	assert_int_equal(rr[0].outcome, SMTP_PERMANENT);
	assert_int_equal(rr[0].reply.code, 550);
	assert_int_equal(rr[1].outcome, SMTP_TEMPORARY);
	assert_int_equal(rr[1].reply.code, 451);
	assert_int_equal(r.outcome, SMTP_TEMPORARY);    /* one may work later */
	assert_int_equal(r.phase, SMTP_PHASE_RCPT);
	assert_true(smtp_client_usable(s));
	smtp_client_free(s);
	fs_join(&fs);
	assert_string_equal(fs.got.data,
	    "EHLO client.test\r\nMAIL FROM:<a@example.org>\r\n"
	    "RCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n.\r\n");
	smtp_result_free(&r);
	smtp_result_free(&rr[0]);
	smtp_result_free(&rr[1]);
	fs_free(&fs);
}

/* Pipelined, every RCPT refused, DATA refused: RSET. */
static void
test_all_refused_data_554(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250-fake.test\r\n250 PIPELINING\r\n", 0 },
		{ FS_BATCH, NULL, 4 },
		{ FS_SEND, "250 ok\r\n550 5.1.1 no\r\n550 5.1.1 no\r\n554 5.5.1 no valid recipients\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250 reset\r\n", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r, rr[2];
	struct smtp_envelope env = { "a@example.org", two_rcpts, 2, 0 };
	struct smtp_mem_body mb;
	struct smtp_body b;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	smtp_result_init(&r);
	smtp_result_init(&rr[0]);
	smtp_result_init(&rr[1]);
	assert_int_equal(smtp_client_open(&p, &s, &r), 0);
	smtp_body_from_mem(&b, &mb, "never sent", 10);
	assert_int_equal(smtp_client_send(s, &env, &b, rr, &r), -1);
	assert_int_equal(r.outcome, SMTP_PERMANENT);
	assert_int_equal(rr[0].outcome, SMTP_PERMANENT);
	assert_int_equal(rr[1].outcome, SMTP_PERMANENT);
	assert_true(smtp_client_usable(s));
	smtp_client_free(s);
	fs_join(&fs);
	assert_string_equal(fs.got.data,
	    "EHLO client.test\r\nMAIL FROM:<a@example.org>\r\n"
	    "RCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nDATA\r\nRSET\r\n");
	smtp_result_free(&r);
	smtp_result_free(&rr[0]);
	smtp_result_free(&rr[1]);
	fs_free(&fs);
}

/* MAIL refused (lock-step): no RCPT; every recipient gets the MAIL reply. */
static void
test_mail_refused(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250 fake.test\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "553 5.7.1 sender not allowed\r\n", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r, rr[2];
	struct smtp_envelope env = { "a@example.org", two_rcpts, 2, 0 };
	struct smtp_mem_body mb;
	struct smtp_body b;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	smtp_result_init(&r);
	smtp_result_init(&rr[0]);
	smtp_result_init(&rr[1]);
	assert_int_equal(smtp_client_open(&p, &s, &r), 0);
	smtp_body_from_mem(&b, &mb, "x", 1);
	assert_int_equal(smtp_client_send(s, &env, &b, rr, &r), -1);
	assert_int_equal(r.phase, SMTP_PHASE_MAIL);
	assert_int_equal(r.outcome, SMTP_PERMANENT);
	assert_int_equal(r.reply.code, 553);
	assert_int_equal(rr[0].reply.code, 553);
	assert_int_equal(rr[1].phase, SMTP_PHASE_MAIL);
	assert_true(smtp_client_usable(s));
	smtp_client_free(s);
	fs_join(&fs);
	assert_string_equal(fs.got.data, "EHLO client.test\r\nMAIL FROM:<a@example.org>\r\n");
	smtp_result_free(&r);
	smtp_result_free(&rr[0]);
	smtp_result_free(&rr[1]);
	fs_free(&fs);
}

/* Refused locally: too big for SIZE, an address with CR LF, a non-ASCII
 * address without SMTPUTF8.  Nothing but EHLO goes out. */
static void
test_local_refusals(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250-fake.test\r\n250-PIPELINING\r\n250 SIZE 100\r\n", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	static const char *const evil[] = { "x@example.net>\r\nRCPT TO:<y@example.net" };
	static const char *const utf8[] = { "j\xc3\xb6rg@example.net" };
	char big[200];
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r, rr[2];
	struct smtp_envelope env = { "a@example.org", two_rcpts, 2, 0 };
	struct smtp_mem_body mb;
	struct smtp_body b;

	(void)state;
	memset(big, 'x', sizeof(big));
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	smtp_result_init(&r);
	smtp_result_init(&rr[0]);
	smtp_result_init(&rr[1]);
	assert_int_equal(smtp_client_open(&p, &s, &r), 0);
	smtp_body_from_mem(&b, &mb, big, sizeof(big));
	assert_int_equal(smtp_client_send(s, &env, &b, rr, &r), -1);
	assert_int_equal(r.fail, SMTP_FAIL_TOO_BIG);
	assert_int_equal(r.outcome, SMTP_PERMANENT);
	assert_int_equal(rr[1].fail, SMTP_FAIL_TOO_BIG);

	smtp_body_from_mem(&b, &mb, "x", 1);
	env.rcpts = evil;
	env.nrcpts = 1;
	assert_int_equal(smtp_client_send(s, &env, &b, rr, &r), -1);
	assert_int_equal(rr[0].fail, SMTP_FAIL_BAD_ADDRESS);
	assert_int_equal(rr[0].outcome, SMTP_PERMANENT);
	assert_int_equal(r.outcome, SMTP_PERMANENT);

	env.rcpts = utf8;
	assert_int_equal(smtp_client_send(s, &env, &b, rr, &r), -1);
	assert_int_equal(rr[0].fail, SMTP_FAIL_NO_SMTPUTF8);

	env.sender = "a@example.org>\r\nRSET";
	env.rcpts = two_rcpts;
	assert_int_equal(smtp_client_send(s, &env, &b, rr, &r), -1);
	assert_int_equal(r.fail, SMTP_FAIL_BAD_ADDRESS);
	assert_int_equal(r.phase, SMTP_PHASE_MAIL);
	assert_true(smtp_client_usable(s));
	smtp_client_free(s);
	fs_join(&fs);
	assert_string_equal(fs.got.data, "EHLO client.test\r\n");
	smtp_result_free(&r);
	smtp_result_free(&rr[0]);
	smtp_result_free(&rr[1]);
	fs_free(&fs);
}

/* No reply to the final dot: a timeout, TEMPORARY, session unusable. */
static void
test_dot_timeout(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250 fake.test\r\n", 0 },
		{ FS_LINES, NULL, 1 }, { FS_SEND, "250 ok\r\n", 0 },
		{ FS_LINES, NULL, 1 }, { FS_SEND, "250 ok\r\n", 0 },
		{ FS_LINES, NULL, 1 }, { FS_SEND, "354 go\r\n", 0 },
		{ FS_DATA, NULL, 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	static const char *const r1[] = { "b@example.net" };
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r, rr[1];
	struct smtp_envelope env = { "a@example.org", r1, 1, 0 };
	struct smtp_mem_body mb;
	struct smtp_body b;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	p.timeout_s = 1;
	smtp_result_init(&r);
	smtp_result_init(&rr[0]);
	assert_int_equal(smtp_client_open(&p, &s, &r), 0);
	smtp_body_from_mem(&b, &mb, "x", 1);
	assert_int_equal(smtp_client_send(s, &env, &b, rr, &r), -1);
	assert_int_equal(r.fail, SMTP_FAIL_TIMEOUT);
	assert_int_equal(r.phase, SMTP_PHASE_DATA);
	assert_int_equal(r.outcome, SMTP_TEMPORARY);
	assert_int_equal(rr[0].fail, SMTP_FAIL_TIMEOUT);
	assert_false(smtp_client_usable(s));
	/* a further send is refused at once */
	assert_int_equal(smtp_client_send(s, &env, &b, rr, &r), -1);
	assert_int_equal(r.fail, SMTP_FAIL_UNUSABLE);
	smtp_client_free(s);
	fs_join(&fs);
	smtp_result_free(&r);
	smtp_result_free(&rr[0]);
	fs_free(&fs);
}

/* ---- deadlines: per phase, and overall from connect on ---- */

/* A server that greets and then says nothing: the per-phase timeout (1 s)
 * ends the EHLO phase, long before the overall deadline (8 s), and the
 * result names the phase's timeout, not the deadline. */
static void
test_phase_timeout_not_deadline(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r;
	int64_t t0, took;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	p.timeout_s = 1;
	p.deadline_s = 8;
	smtp_result_init(&r);
	t0 = clock_mono_ms();
	assert_int_equal(smtp_client_open(&p, &s, &r), -1);
	took = clock_mono_ms() - t0;
	assert_int_equal(r.phase, SMTP_PHASE_EHLO);
	assert_int_equal(r.fail, SMTP_FAIL_TIMEOUT);
	assert_int_equal(r.outcome, SMTP_TEMPORARY);
	assert_non_null(strstr(r.msg, "timed out"));
	assert_non_null(strstr(r.msg, "ehlo phase"));
	assert_null(strstr(r.msg, "deadline"));
	/* generous bounds: not before the timeout, well before the deadline */
	assert_true(took >= 1000);
	assert_true(took < 4000);
	smtp_client_free(s);
	fs_join(&fs);
	assert_string_equal(fs.got.data, "EHLO client.test\r\n");
	smtp_result_free(&r);
	fs_free(&fs);
}

/* A greeting dripped one byte every 100 ms: each byte comes long before
 * the per-phase timeout (3 s) would matter, the whole greeting would take
 * 2 s; the overall deadline (1 s) ends the attempt in the greeting. */
static void
test_deadline_ends_dripped_greeting(void **state)
{
	static const struct fs_step script[] = {
		{ FS_DRIP, GREETING, 100 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r;
	int64_t t0, took;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	p.timeout_s = 3;
	p.deadline_s = 1;
	smtp_result_init(&r);
	t0 = clock_mono_ms();
	assert_int_equal(smtp_client_open(&p, &s, &r), -1);
	took = clock_mono_ms() - t0;
	assert_int_equal(r.phase, SMTP_PHASE_GREETING);
	assert_int_equal(r.fail, SMTP_FAIL_TIMEOUT);
	assert_int_equal(r.sys, ETIMEDOUT);
	assert_int_equal(r.outcome, SMTP_TEMPORARY);
	assert_non_null(strstr(r.msg, "overall deadline (1 s)"));
	assert_non_null(strstr(r.msg, "greeting phase"));
	assert_true(took >= 1000);
	assert_false(smtp_client_usable(s));
	smtp_client_free(s);
	fs_join(&fs);
	assert_string_equal(fs.got.data, "");   /* not even EHLO */
	smtp_result_free(&r);
	fs_free(&fs);
}

/* Connecting and the first message are one attempt: a greeting and an
 * EHLO reply dripped over about 0.6 s each use up most of a 2 s deadline,
 * and the MAIL reply, dripped over about 1.7 s (each reply well inside
 * the 3 s per-phase timeout), runs past what is left of it. */
static void
test_deadline_spans_open_and_first_message(void **state)
{
	static const struct fs_step script[] = {
		{ FS_DRIP, GREETING, 30 },
		{ FS_LINES, NULL, 1 },
		{ FS_DRIP, "250 fake.test\r\n", 40 },
		{ FS_LINES, NULL, 1 },
		{ FS_DRIP, "250 2.1.0 sender ok, slowly\r\n", 60 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	static const char *const r1[] = { "b@example.net" };
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r, rr[1];
	struct smtp_envelope env = { "a@example.org", r1, 1, 0 };
	struct smtp_mem_body mb;
	struct smtp_body b;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	p.timeout_s = 3;
	p.deadline_s = 2;
	smtp_result_init(&r);
	smtp_result_init(&rr[0]);
	assert_int_equal(smtp_client_open(&p, &s, &r), 0);
	smtp_body_from_mem(&b, &mb, "x\r\n", 3);
	assert_int_equal(smtp_client_send(s, &env, &b, rr, &r), -1);
	assert_int_equal(r.phase, SMTP_PHASE_MAIL);
	assert_int_equal(r.fail, SMTP_FAIL_TIMEOUT);
	assert_int_equal(r.outcome, SMTP_TEMPORARY);
	assert_non_null(strstr(r.msg, "overall deadline (2 s)"));
	assert_int_equal(rr[0].outcome, SMTP_TEMPORARY);
	assert_non_null(strstr(rr[0].msg, "overall deadline"));
	assert_false(smtp_client_usable(s));
	smtp_client_free(s);
	fs_join(&fs);
	assert_string_equal(fs.got.data,
	    "EHLO client.test\r\nMAIL FROM:<a@example.org>\r\n");
	smtp_result_free(&r);
	smtp_result_free(&rr[0]);
	fs_free(&fs);
}

/* What the open took counts against the first message only, and time
 * between the open and the first message (a quota wait of the caller's)
 * not at all: with a 3 s deadline, an open of about 1.2 s, 2 s of idling,
 * a quick first message and a second one whose replies take about 1.6 s
 * all succeed, though the whole runs well past 3 s from the connect. */
static void
test_deadline_idle_and_later_messages(void **state)
{
	static const struct fs_step script[] = {
		{ FS_DRIP, GREETING, 30 },
		{ FS_LINES, NULL, 1 },
		{ FS_DRIP, "250 fake.test\r\n", 40 },
		/* message 1: at once */
		{ FS_LINES, NULL, 1 }, { FS_SEND, "250 ok\r\n", 0 },
		{ FS_LINES, NULL, 1 }, { FS_SEND, "250 ok\r\n", 0 },
		{ FS_LINES, NULL, 1 }, { FS_SEND, "354 go\r\n", 0 },
		{ FS_DATA, NULL, 0 }, { FS_SEND, "250 one\r\n", 0 },
		/* message 2: RSET with MAIL, then slow replies */
		{ FS_BATCH, NULL, 2 }, { FS_SEND, "250 reset\r\n", 0 },
		{ FS_DRIP, "250 2.1.0 ok, slowly\r\n", 35 },
		{ FS_LINES, NULL, 1 },
		{ FS_DRIP, "250 2.1.5 ok, slowly\r\n", 35 },
		{ FS_LINES, NULL, 1 }, { FS_SEND, "354 go\r\n", 0 },
		{ FS_DATA, NULL, 0 }, { FS_SEND, "250 two\r\n", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	static const char *const r1[] = { "b@example.net" };
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r, rr[1];
	struct smtp_envelope env = { "a@example.org", r1, 1, 0 };
	struct smtp_mem_body mb;
	struct smtp_body b;
	int64_t t0;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	p.timeout_s = 3;
	p.deadline_s = 3;
	smtp_result_init(&r);
	smtp_result_init(&rr[0]);
	t0 = clock_mono_ms();
	assert_int_equal(smtp_client_open(&p, &s, &r), 0);
	usleep(2000 * 1000);
	smtp_body_from_mem(&b, &mb, "1\r\n", 3);
	assert_int_equal(smtp_client_send(s, &env, &b, rr, &r), 0);
	assert_string_equal(r.reply.text, "one");
	smtp_body_from_mem(&b, &mb, "2\r\n", 3);
	assert_int_equal(smtp_client_send(s, &env, &b, rr, &r), 0);
	assert_string_equal(r.reply.text, "two");
	assert_true(clock_mono_ms() - t0 > 3000);
	smtp_client_free(s);
	fs_join(&fs);
	assert_int_equal(fs.batch_violations, 0);
	smtp_result_free(&r);
	smtp_result_free(&rr[0]);
	fs_free(&fs);
}

/* A body source that fails: the dot is never sent. */
static int
failing_read(void *arg, char *buf, size_t n, size_t *got, struct op_err *e)
{
	int *calls = arg;

	if ((*calls)++ == 0) {
		*got = n < 5 ? n : 5;
		memcpy(buf, "part\n", *got);
		return 0;
	}
	return err_set(e, ERR_IO, "disk on fire");
}

static void
test_body_failure(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250 fake.test\r\n", 0 },
		{ FS_LINES, NULL, 1 }, { FS_SEND, "250 ok\r\n", 0 },
		{ FS_LINES, NULL, 1 }, { FS_SEND, "250 ok\r\n", 0 },
		{ FS_LINES, NULL, 1 }, { FS_SEND, "354 go\r\n", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	static const char *const r1[] = { "b@example.net" };
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r, rr[1];
	struct smtp_envelope env = { "a@example.org", r1, 1, 0 };
	struct smtp_body b;
	int calls = 0;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	smtp_result_init(&r);
	smtp_result_init(&rr[0]);
	assert_int_equal(smtp_client_open(&p, &s, &r), 0);
	memset(&b, 0, sizeof(b));
	b.read = failing_read;
	b.arg = &calls;
	assert_int_equal(smtp_client_send(s, &env, &b, rr, &r), -1);
	assert_int_equal(r.fail, SMTP_FAIL_BODY);
	assert_int_equal(r.outcome, SMTP_TEMPORARY);
	assert_non_null(strstr(r.msg, "disk on fire"));
	assert_false(smtp_client_usable(s));
	smtp_client_free(s);
	fs_join(&fs);
	assert_string_equal(fs.got.data,
	    "EHLO client.test\r\nMAIL FROM:<a@example.org>\r\n"
	    "RCPT TO:<b@example.net>\r\nDATA\r\n");
	smtp_result_free(&r);
	smtp_result_free(&rr[0]);
	fs_free(&fs);
}

/* A body larger than one chunk, with dots and bare LFs across chunk
 * boundaries, arrives intact and stuffed. */
static void
test_large_body(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250-fake.test\r\n250 PIPELINING\r\n", 0 },
		{ FS_BATCH, NULL, 3 },
		{ FS_SEND, "250 ok\r\n250 ok\r\n354 go\r\n", 0 },
		{ FS_DATA, NULL, 0 },
		{ FS_SEND, "250 ok\r\n", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	static const char *const r1[] = { "b@example.net" };
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r, rr[1];
	struct smtp_envelope env = { "a@example.org", r1, 1, 0 };
	struct smtp_mem_body mb;
	struct smtp_body b;
	size_t n = 300000, i, lines = 0;
	char *body = malloc(n);
	const char *d;

	(void)state;
	for (i = 0; i < n; i++)
		body[i] = (i % 7 == 6) ? '\n' : (i % 7 == 0) ? '.' : 'a';
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	smtp_result_init(&r);
	smtp_result_init(&rr[0]);
	assert_int_equal(smtp_client_open(&p, &s, &r), 0);
	smtp_body_from_mem(&b, &mb, body, n);
	assert_int_equal(smtp_client_send(s, &env, &b, rr, &r), 0);
	smtp_client_free(s);
	fs_join(&fs);
	d = strstr(fs.got.data, "DATA\r\n");
	assert_non_null(d);
	d += 6;
	/* every line is "..aaaaa" */
	while (strncmp(d, "..aaaaa\r\n", 9) == 0) {
		d += 9;
		lines++;
	}
	assert_int_equal(lines, n / 7);
	/* 300000 = 7 * 42857 + 1: the last byte is a lone ".", stuffed,
	 * then the line is ended and the dot follows */
	assert_string_equal(d, "..\r\n.\r\n");
	free(body);
	smtp_result_free(&r);
	smtp_result_free(&rr[0]);
	fs_free(&fs);
}

/* ---- a 421 and the connection closed at once (the server sheds load) ---- */

#define BYE421 "421 4.7.0 Try again later, closing connection\r\n"

/* What a 421 then a close must give: the message deferred with that 421
 * (code, enhanced code, text) for the message and every recipient, never
 * "the server closed the connection", and a session no longer usable. */
static void
assert_421(const struct smtp_result *r, const struct smtp_result *rr,
    size_t n, int phase)
{
	size_t i;

	assert_int_equal(r->outcome, SMTP_TEMPORARY);
	assert_int_equal(r->phase, phase);
	assert_int_equal(r->fail, SMTP_FAIL_REPLY);
	assert_int_equal(r->reply.code, 421);
	assert_int_equal(r->reply.enh_class, 4);
	assert_int_equal(r->reply.enh_subject, 7);
	assert_string_equal(r->reply.text, "4.7.0 Try again later, closing connection");
	assert_non_null(strstr(r->msg, "421 4.7.0 Try again later"));
	assert_null(strstr(r->msg, "closed the connection"));
	for (i = 0; i < n; i++) {
		assert_int_equal(rr[i].outcome, SMTP_TEMPORARY);
		assert_int_equal(rr[i].reply.code, 421);
		assert_string_equal(rr[i].reply.text,
		    "4.7.0 Try again later, closing connection");
	}
}

/* Pipelined MAIL, RCPT, RCPT, DATA; the server answers up to the 421 and
 * closes at once: at MAIL (as Gmail does when it sheds load), at the
 * second RCPT, at DATA, or after the final dot. */
static void
run_421_close(const struct fs_step *script, int phase, const char *sent)
{
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r, rr[2];
	struct smtp_envelope env = { "a@example.org", two_rcpts, 2, 0 };
	struct smtp_mem_body mb;
	struct smtp_body b;

	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	smtp_result_init(&r);
	smtp_result_init(&rr[0]);
	smtp_result_init(&rr[1]);
	assert_int_equal(smtp_client_open(&p, &s, &r), 0);
	smtp_body_from_mem(&b, &mb, "hi\r\n", 4);
	assert_int_equal(smtp_client_send(s, &env, &b, rr, &r), -1);
	assert_421(&r, rr, 2, phase);
	assert_false(smtp_client_usable(s));
	smtp_client_quit(s);
	smtp_client_free(s);
	fs_join(&fs);
	assert_string_equal(fs.got.data, sent);
	smtp_result_free(&r);
	smtp_result_free(&rr[0]);
	smtp_result_free(&rr[1]);
	fs_free(&fs);
}

#define PIPE_EHLO "250-fake.test\r\n250-ENHANCEDSTATUSCODES\r\n250 PIPELINING\r\n"
#define PIPE_SENT "EHLO client.test\r\nMAIL FROM:<a@example.org>\r\n" \
	"RCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n"

static void
test_421_close_at_mail(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, PIPE_EHLO, 0 },
		{ FS_BATCH, NULL, 4 },
		{ FS_SEND, BYE421, 0 },
		{ FS_END, NULL, 0 },
	};

	(void)state;
	run_421_close(script, SMTP_PHASE_MAIL, PIPE_SENT);
}

static void
test_421_close_at_rcpt(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, PIPE_EHLO, 0 },
		{ FS_BATCH, NULL, 4 },
		{ FS_SEND, "250 2.1.0 ok\r\n250 2.1.5 ok\r\n" BYE421, 0 },
		{ FS_END, NULL, 0 },
	};

	(void)state;
	run_421_close(script, SMTP_PHASE_RCPT, PIPE_SENT);
}

static void
test_421_close_at_data(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, PIPE_EHLO, 0 },
		{ FS_BATCH, NULL, 4 },
		{ FS_SEND, "250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n" BYE421, 0 },
		{ FS_END, NULL, 0 },
	};

	(void)state;
	run_421_close(script, SMTP_PHASE_DATA, PIPE_SENT);
}

static void
test_421_close_after_dot(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, PIPE_EHLO, 0 },
		{ FS_BATCH, NULL, 4 },
		{ FS_SEND, "250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n354 go\r\n", 0 },
		{ FS_DATA, NULL, 0 },
		{ FS_SEND, BYE421, 0 },
		{ FS_END, NULL, 0 },
	};

	(void)state;
	run_421_close(script, SMTP_PHASE_DATA, PIPE_SENT "hi\r\n.\r\n");
}

/* Without PIPELINING: MAIL gets 421 and the connection closes.  The
 * session is over: nothing more is sent on it. */
static void
test_421_close_lockstep(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250-fake.test\r\n250 ENHANCEDSTATUSCODES\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, BYE421, 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};

	(void)state;
	run_421_close(script, SMTP_PHASE_MAIL,
	    "EHLO client.test\r\nMAIL FROM:<a@example.org>\r\n");
}

/* The server answers 354, then 421 and closes without reading the body: a
 * body too large for the socket buffers meets a reset while it is being
 * written.  The 421 the server sent first is what is reported. */
static void
test_421_close_in_body(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, PIPE_EHLO, 0 },
		{ FS_BATCH, NULL, 4 },
		{ FS_SEND, "250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n354 go\r\n"
		    BYE421, 0 },
		{ FS_END, NULL, 0 },
	};
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r, rr[2];
	struct smtp_envelope env = { "a@example.org", two_rcpts, 2, 0 };
	struct smtp_mem_body mb;
	struct smtp_body b;
	size_t n = 16 * 1024 * 1024, i;
	char *body = malloc(n);

	(void)state;
	for (i = 0; i < n; i++)
		body[i] = (i % 70 == 69) ? '\n' : 'a';
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	smtp_result_init(&r);
	smtp_result_init(&rr[0]);
	smtp_result_init(&rr[1]);
	assert_int_equal(smtp_client_open(&p, &s, &r), 0);
	smtp_body_from_mem(&b, &mb, body, n);
	assert_int_equal(smtp_client_send(s, &env, &b, rr, &r), -1);
	assert_421(&r, rr, 2, SMTP_PHASE_DATA);
	assert_false(smtp_client_usable(s));
	smtp_client_free(s);
	fs_join(&fs);
	free(body);
	smtp_result_free(&r);
	smtp_result_free(&rr[0]);
	smtp_result_free(&rr[1]);
	fs_free(&fs);
}

/* A reused connection: the server gave up on the idle session (421, then
 * closed) before the second message; its RSET meets the 421. */
static void
run_421_close_at_rset(const char *ehlo, int batch)
{
	const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, ehlo, 0 },
		{ batch ? FS_BATCH : FS_LINES, NULL, batch ? 3 : 1 },
		{ FS_SEND, batch ? "250 ok\r\n250 ok\r\n354 go\r\n" : "250 ok\r\n", 0 },
		{ batch ? FS_DATA : FS_LINES, NULL, 1 },
		{ FS_SEND, batch ? "250 one\r\n" : "250 ok\r\n", 0 },
		{ batch ? FS_END : FS_LINES, NULL, 1 },
		{ FS_SEND, "354 go\r\n", 0 },
		{ FS_DATA, NULL, 0 },
		{ FS_SEND, "250 one\r\n", 0 },
		{ FS_END, NULL, 0 },
	};
	const struct fs_step idle[] = {
		{ FS_SEND, BYE421, 0 },
		{ FS_END, NULL, 0 },
	};
	static const char *const r1[] = { "b@example.net" };
	struct fs_step full[16];
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r, rr[1];
	struct smtp_envelope env = { "a@example.org", r1, 1, 0 };
	struct smtp_mem_body mb;
	struct smtp_body b;
	size_t i, k = 0;

	for (i = 0; script[i].op != FS_END; i++)
		full[k++] = script[i];
	full[k++] = idle[0];
	full[k++] = idle[1];
	fs_start(&fs, full, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	smtp_result_init(&r);
	smtp_result_init(&rr[0]);
	assert_int_equal(smtp_client_open(&p, &s, &r), 0);
	smtp_body_from_mem(&b, &mb, "1\r\n", 3);
	assert_int_equal(smtp_client_send(s, &env, &b, rr, &r), 0);
	assert_true(smtp_client_usable(s));
	fs_join(&fs);           /* the server has closed */
	smtp_body_from_mem(&b, &mb, "2\r\n", 3);
	assert_int_equal(smtp_client_send(s, &env, &b, rr, &r), -1);
	assert_421(&r, rr, 1, SMTP_PHASE_RSET);
	assert_false(smtp_client_usable(s));
	smtp_client_free(s);
	smtp_result_free(&r);
	smtp_result_free(&rr[0]);
	fs_free(&fs);
}

static void
test_421_close_at_rset(void **state)
{
	(void)state;
	run_421_close_at_rset(PIPE_EHLO, 1);
	run_421_close_at_rset("250-fake.test\r\n250 ENHANCEDSTATUSCODES\r\n", 0);
}

static void
test_connect_failures(void **state)
{
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd, port;

	(void)state;
	/* a port nobody listens on */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	port = ntohs(sa.sin_port);
	close(fd);
	smtp_params_init(&p);
	p.host = "127.0.0.1";
	p.port = (unsigned)port;
	p.helo_name = "client.test";
	smtp_result_init(&r);
	assert_int_equal(smtp_client_open(&p, &s, &r), -1);
	assert_int_equal(r.phase, SMTP_PHASE_CONNECT);
	assert_int_equal(r.fail, SMTP_FAIL_CONNECT);
	assert_int_equal(r.sys, ECONNREFUSED);
	assert_int_equal(r.outcome, SMTP_TEMPORARY);
	assert_int_equal(smtp_client_nsteps(s), 2);
	assert_true(smtp_client_step(s, 0)->ok);
	assert_false(smtp_client_step(s, 1)->ok);
	assert_int_equal(smtp_client_step(s, 1)->sys, ECONNREFUSED);
	assert_non_null(strstr(smtp_client_step(s, 1)->detail, "refused"));
	smtp_client_free(s);

	/* .invalid: no lookup at all */
	p.host = "smtp.example.invalid";
	assert_int_equal(smtp_client_open(&p, &s, &r), -1);
	assert_int_equal(r.phase, SMTP_PHASE_RESOLVE);
	assert_int_equal(r.fail, SMTP_FAIL_RESOLVE);
	assert_int_equal(r.sys, EAI_NONAME);
	smtp_client_free(s);

	/* bad params */
	p.host = "";
	assert_int_equal(smtp_client_open(&p, &s, &r), -1);
	assert_int_equal(r.fail, SMTP_FAIL_PARAMS);
	smtp_client_free(s);
	p.host = "127.0.0.1";
	p.auth = 1;
	assert_int_equal(smtp_client_open(&p, &s, &r), -1);
	assert_int_equal(r.fail, SMTP_FAIL_PARAMS);
	smtp_client_free(s);
	smtp_result_free(&r);
}

/* ---- IPv6, SNI, and a host with two addresses ---- */

/* A session with a server on ::1, the host written as outpost.conf allows
 * it ("[::1]") and bare ("::1"): the brackets never reach the resolver. */
static void
test_ipv6_session(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250-fake.test\r\n250 PIPELINING\r\n", 0 },
		{ FS_BATCH, NULL, 3 },
		{ FS_SEND, "250 ok\r\n250 ok\r\n354 go\r\n", 0 },
		{ FS_DATA, NULL, 0 },
		{ FS_SEND, "250 2.0.0 queued over IPv6\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "221 bye\r\n", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	static const char *const hosts[] = { "[::1]", "::1" };
	static const char *const r1[] = { "b@example.net" };
	struct smtp_envelope env = { "a@example.org", r1, 1, 0 };
	char want[128];
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		struct fake_server fs;
		struct smtp_params p;
		struct smtp_session *s;
		struct smtp_result r, rr[1];
		struct smtp_mem_body mb;
		struct smtp_body b;

		fs_start_af(&fs, script, NULL, AF_INET6);
		params_for(&p, &fs, SMTP_SEC_NONE);
		p.host = hosts[i];
		smtp_result_init(&r);
		smtp_result_init(&rr[0]);
		if (smtp_client_open(&p, &s, &r) != 0) {
			smtp_client_free(s);
			fs_join(&fs);           /* the thread uses fs */
			fail_msg("%s: %s", hosts[i], r.msg);
		}
		assert_string_equal(smtp_client_peer(s), "::1");
		assert_true(smtp_client_nsteps(s) >= 2);
		assert_int_equal(smtp_client_step(s, 0)->phase, SMTP_PHASE_RESOLVE);
		snprintf(want, sizeof(want), "%s: 1 address: ::1", hosts[i]);
		assert_string_equal(smtp_client_step(s, 0)->detail, want);
		assert_int_equal(smtp_client_step(s, 1)->phase, SMTP_PHASE_CONNECT);
		snprintf(want, sizeof(want), "connected to ::1 port %d", fs.port);
		assert_string_equal(smtp_client_step(s, 1)->detail, want);
		smtp_body_from_mem(&b, &mb, "x\r\n", 3);
		assert_int_equal(smtp_client_send(s, &env, &b, rr, &r), 0);
		assert_int_equal(r.outcome, SMTP_DELIVERED);
		assert_string_equal(r.reply.text, "2.0.0 queued over IPv6");
		smtp_client_quit(s);
		smtp_client_free(s);
		fs_join(&fs);
		assert_string_equal(fs.got.data,
		    "EHLO client.test\r\n"
		    "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
		    "x\r\n.\r\n"
		    "QUIT\r\n");
		smtp_result_free(&r);
		smtp_result_free(&rr[0]);
		fs_free(&fs);
	}
}

/* A bare OpenSSL server (not smtp/tls.c) that records the server_name
 * extension the client sent, then plays greeting, EHLO and QUIT. */
struct sni_server {
	int lfd, port;
	pthread_t th;
	char crt[512], key[512];
	int handshake_ok;
	int sni_seen;               /* a server_name extension came */
	char sni[256];
	char got[256];              /* what the client sent inside TLS */
};

static int
sni_cb(SSL *ssl, int *alert, void *arg)
{
	struct sni_server *ss = arg;
	const char *n = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	(void)alert;
	if (n != NULL) {
		ss->sni_seen = 1;
		snprintf(ss->sni, sizeof(ss->sni), "%s", n);
	}
	return SSL_TLSEXT_ERR_OK;
}

/* Read one line (up to LF) into ss->got; -1 if the client hung up. */
static int
sni_read_line(SSL *ssl, struct sni_server *ss)
{
	size_t n = strlen(ss->got);
	char c;

	while (n + 1 < sizeof(ss->got)) {
		if (SSL_read(ssl, &c, 1) != 1)
			return -1;
		ss->got[n++] = c;
		ss->got[n] = '\0';
		if (c == '\n')
			return 0;
	}
	return -1;
}

static int
sni_write(SSL *ssl, const char *text)
{
	return SSL_write(ssl, text, (int)strlen(text)) == (int)strlen(text) ? 0 : -1;
}

static void *
sni_main(void *arg)
{
	struct sni_server *ss = arg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	SSL *ssl = NULL;
	struct timeval tv = { FS_WAIT_MS / 1000, 0 };
	int fd = -1;

	if (ctx == NULL ||
	    SSL_CTX_use_certificate_file(ctx, ss->crt, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, ss->key, SSL_FILETYPE_PEM) != 1)
		goto out;
	SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
	SSL_CTX_set_tlsext_servername_arg(ctx, ss);
	if (fs_wait(ss->lfd, POLLIN) < 0 || (fd = accept(ss->lfd, NULL, NULL)) < 0)
		goto out;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ssl = SSL_new(ctx);
	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_accept(ssl) != 1)
		goto out;
	ss->handshake_ok = 1;
	if (sni_write(ssl, GREETING) < 0 || sni_read_line(ssl, ss) < 0 ||
	    sni_write(ssl, "250 sni.test\r\n") < 0 || sni_read_line(ssl, ss) < 0)
		goto out;
	sni_write(ssl, "221 bye\r\n");
	SSL_shutdown(ssl);
out:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	return NULL;
}

/*
 * Implicit TLS to host on the family's loopback address, the server
 * showing certificate cert (also the only trust anchor).  want_sni: the
 * server name the client must send, or NULL for none.  want_ok 0: the
 * certificate must fail verification on the host name.
 */
static void
run_sni(int family, const char *host, const char *cert, int want_ok,
    const char *want_sni)
{
	struct sni_server ss;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r;
	const struct tls_info *ti;
	int rc, done = 0, verify_code = -1;

	memset(&ss, 0, sizeof(ss));
	snprintf(ss.crt, sizeof(ss.crt), "%s", cert_path(cert, "crt"));
	snprintf(ss.key, sizeof(ss.key), "%s", cert_path(cert, "key"));
	ss.lfd = loopback_socket(family, 0, 1, &ss.port);
	assert_int_equal(pthread_create(&ss.th, NULL, sni_main, &ss), 0);
	smtp_params_init(&p);
	p.host = host;
	p.port = (unsigned)ss.port;
	p.security = SMTP_SEC_TLS;
	p.tls_ca_file = ss.crt;
	p.helo_name = "client.test";
	p.timeout_s = 5;
	smtp_result_init(&r);
	rc = smtp_client_open(&p, &s, &r);
	ti = smtp_client_tls(s);
	if (rc == 0) {
		done = ti->done;
		verify_code = ti->verify_code;
		smtp_client_quit(s);
	}
	smtp_client_free(s);
	pthread_join(ss.th, NULL);      /* before any assert: it uses ss */
	close(ss.lfd);
	if (want_ok) {
		if (rc != 0)
			fail_msg("%s: %s", host, r.msg);
		assert_true(done);
		assert_int_equal(verify_code, 0);
	} else {
		assert_int_equal(rc, -1);
		assert_int_equal(r.phase, SMTP_PHASE_TLS);
		assert_int_equal(r.fail, SMTP_FAIL_TLS_VERIFY);
		assert_true(tls_verify_is_hostname(r.sys));
	}
	if (want_ok) {
		assert_true(ss.handshake_ok);
		assert_string_equal(ss.got, "EHLO client.test\r\nQUIT\r\n");
	}
	if (want_sni == NULL) {
		assert_false(ss.sni_seen);
	} else {
		assert_true(ss.sni_seen);
		assert_string_equal(ss.sni, want_sni);
	}
	smtp_result_free(&r);
}

/* An IP literal is never sent as SNI (RFC 6066 section 3), and the
 * certificate is checked against the address: a certificate for ::1
 * passes, one for 127.0.0.1 and localhost does not.  A name is sent. */
static void
test_tls_ip_literal(void **state)
{
	(void)state;
	run_sni(AF_INET6, "[::1]", "ipv6", 1, NULL);
	run_sni(AF_INET6, "::1", "ipv6", 1, NULL);
	run_sni(AF_INET6, "[::1]", "good", 0, NULL);
	run_sni(AF_INET, "127.0.0.1", "good", 1, NULL);
	run_sni(AF_INET, "localhost", "good", 1, "localhost");
}

/*
 * A name with two addresses, without DNS.  This getaddrinfo() is the
 * executable's own, so it comes before the C library's for every caller,
 * net_resolve() included.  It answers TWO_ADDR_NAME itself, with two
 * loopback addresses, two_addr_first's first (as a name, not for an
 * AI_NUMERICHOST call); every other call goes to the real function.
 */
#define TWO_ADDR_NAME "two-addresses.test"
static int two_addr_first = AF_INET6;

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *,
    struct addrinfo **);

int
getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
	static gai_fn real;
	struct addrinfo h, *a = NULL, *b = NULL, *end;
	int rc;

	if (real == NULL) {
		void *f = dlsym(RTLD_NEXT, "getaddrinfo");

		memcpy(&real, &f, sizeof(real));
	}
	if (node == NULL || strcmp(node, TWO_ADDR_NAME) != 0)
		return real(node, service, hints, res);
	if (hints != NULL && (hints->ai_flags & AI_NUMERICHOST))
		return EAI_NONAME;
	memset(&h, 0, sizeof(h));
	h.ai_socktype = SOCK_STREAM;
	h.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	rc = real(two_addr_first == AF_INET6 ? "::1" : "127.0.0.1", service, &h, &a);
	if (rc != 0)
		return rc;
	rc = real(two_addr_first == AF_INET6 ? "127.0.0.1" : "::1", service, &h, &b);
	if (rc != 0) {
		freeaddrinfo(a);
		return rc;
	}
	for (end = a; end->ai_next != NULL; end = end->ai_next)
		;
	end->ai_next = b;           /* freeaddrinfo() frees node by node */
	*res = a;
	return 0;
}

/* The first address refuses; the client goes on to the next, and the
 * steps show both attempts.  Both orders: IPv6 refused then IPv4, and
 * IPv4 refused then IPv6. */
static void
run_fallthrough(int first)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250 fake.test\r\n", 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "221 bye\r\n", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	int second = first == AF_INET6 ? AF_INET : AF_INET6;
	const char *a1 = first == AF_INET6 ? "::1" : "127.0.0.1";
	const char *a2 = first == AF_INET6 ? "127.0.0.1" : "::1";
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r;
	const struct smtp_step *st;
	char want[256];
	int refuser, port;

	fs_start_af(&fs, script, NULL, second);
	/* bound but not listening: a connection to it is refused */
	refuser = loopback_socket(first, fs.port, 0, &port);
	assert_int_equal(port, fs.port);
	two_addr_first = first;
	params_for(&p, &fs, SMTP_SEC_NONE);
	p.host = TWO_ADDR_NAME;
	smtp_result_init(&r);
	if (smtp_client_open(&p, &s, &r) != 0) {
		smtp_client_free(s);
		fs_join(&fs);                   /* the thread uses fs */
		fail_msg("%s", r.msg);
	}
	assert_string_equal(smtp_client_peer(s), a2);
	assert_true(smtp_client_nsteps(s) >= 3);
	st = smtp_client_step(s, 0);
	assert_int_equal(st->phase, SMTP_PHASE_RESOLVE);
	assert_true(st->ok);
	snprintf(want, sizeof(want), TWO_ADDR_NAME ": 2 addresses: %s, %s", a1, a2);
	assert_string_equal(st->detail, want);
	st = smtp_client_step(s, 1);
	assert_int_equal(st->phase, SMTP_PHASE_CONNECT);
	assert_false(st->ok);
	assert_int_equal(st->fail, SMTP_FAIL_CONNECT);
	assert_int_equal(st->sys, ECONNREFUSED);
	snprintf(want, sizeof(want), "%s port %d: connection refused", a1, fs.port);
	assert_string_equal(st->detail, want);
	st = smtp_client_step(s, 2);
	assert_int_equal(st->phase, SMTP_PHASE_CONNECT);
	assert_true(st->ok);
	snprintf(want, sizeof(want), "connected to %s port %d", a2, fs.port);
	assert_string_equal(st->detail, want);
	smtp_client_quit(s);
	smtp_client_free(s);
	fs_join(&fs);
	close(refuser);
	assert_string_equal(fs.got.data, "EHLO client.test\r\nQUIT\r\n");
	smtp_result_free(&r);
	fs_free(&fs);
}

static void
test_connect_next_address(void **state)
{
	(void)state;
	run_fallthrough(AF_INET6);
	run_fallthrough(AF_INET);
}

/* Every address refuses: the failure counts them and names the last. */
static void
test_connect_all_addresses_refused(void **state)
{
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r;
	char want[256];
	int v4, v6, port, port6;

	(void)state;
	v4 = loopback_socket(AF_INET, 0, 0, &port);
	v6 = loopback_socket(AF_INET6, port, 0, &port6);
	two_addr_first = AF_INET6;
	smtp_params_init(&p);
	p.host = TWO_ADDR_NAME;
	p.port = (unsigned)port;
	p.security = SMTP_SEC_NONE;
	p.helo_name = "client.test";
	smtp_result_init(&r);
	assert_int_equal(smtp_client_open(&p, &s, &r), -1);
	assert_int_equal(r.phase, SMTP_PHASE_CONNECT);
	assert_int_equal(r.fail, SMTP_FAIL_CONNECT);
	assert_int_equal(r.sys, ECONNREFUSED);
	snprintf(want, sizeof(want), "cannot connect to " TWO_ADDR_NAME " (2 "
	    "addresses tried): 127.0.0.1 port %d: connection refused", port);
	assert_string_equal(r.msg, want);
	assert_int_equal(smtp_client_nsteps(s), 3);
	assert_false(smtp_client_step(s, 1)->ok);
	assert_false(smtp_client_step(s, 2)->ok);
	smtp_client_free(s);
	close(v4);
	close(v6);
	smtp_result_free(&r);
}

/* Malformed replies end the session as a protocol error. */
static void
test_malformed_reply(void **state)
{
	static const struct fs_step script[] = {
		{ FS_SEND, GREETING, 0 },
		{ FS_LINES, NULL, 1 },
		{ FS_SEND, "250-fake.test\r\n251 mixed codes\r\n", 0 },
		{ FS_DRAIN, NULL, 0 },
		{ FS_END, NULL, 0 },
	};
	struct fake_server fs;
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_result r;

	(void)state;
	fs_start(&fs, script, NULL);
	params_for(&p, &fs, SMTP_SEC_NONE);
	smtp_result_init(&r);
	assert_int_equal(smtp_client_open(&p, &s, &r), -1);
	assert_int_equal(r.phase, SMTP_PHASE_EHLO);
	assert_int_equal(r.fail, SMTP_FAIL_PROTOCOL);
	smtp_client_free(s);
	fs_join(&fs);
	/* no QUIT after a protocol violation */
	assert_string_equal(fs.got.data, "EHLO client.test\r\n");
	smtp_result_free(&r);
	fs_free(&fs);
}

/* Names are stable: diagnostics and logs use them. */
static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(smtp_phase_name(SMTP_PHASE_STARTTLS), "starttls");
	assert_string_equal(smtp_phase_name(SMTP_PHASE_QUIT), "quit");
	assert_string_equal(smtp_fail_name(SMTP_FAIL_PARAMS), "params");
	assert_string_equal(smtp_fail_name(SMTP_FAIL_PLAIN_ON_TLS_PORT), "plain_on_tls_port");
	assert_string_equal(smtp_fail_name(SMTP_FAIL_COUNT_), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mech_choice),
		cmocka_unit_test(test_pipelined_session),
		cmocka_unit_test(test_lockstep_session),
		cmocka_unit_test(test_one_of_three_refused),
		cmocka_unit_test(test_rset_and_reuse),
		cmocka_unit_test(test_reuse_rset_pipelined),
		cmocka_unit_test(test_starttls_not_offered),
		cmocka_unit_test(test_starttls_injection),
		cmocka_unit_test(test_starttls_injection_late),
		cmocka_unit_test(test_starttls_auth_plain),
		cmocka_unit_test(test_tls_untrusted),
		cmocka_unit_test(test_tls_expired),
		cmocka_unit_test(test_tls_wrong_name),
		cmocka_unit_test(test_tls_verify_off),
		cmocka_unit_test(test_plain_on_tls_port),
		cmocka_unit_test(test_tls_on_plain_port),
		cmocka_unit_test(test_no_greeting),
		cmocka_unit_test(test_greeting_421),
		cmocka_unit_test(test_auth_insecure),
		cmocka_unit_test(test_auth_login),
		cmocka_unit_test(test_auth_refused),
		cmocka_unit_test(test_sasl_mechanisms),
		cmocka_unit_test(test_auth_not_offered),
		cmocka_unit_test(test_helo_fallback),
		cmocka_unit_test(test_all_refused_data_354),
		cmocka_unit_test(test_all_refused_data_554),
		cmocka_unit_test(test_mail_refused),
		cmocka_unit_test(test_local_refusals),
		cmocka_unit_test(test_dot_timeout),
		cmocka_unit_test(test_phase_timeout_not_deadline),
		cmocka_unit_test(test_deadline_ends_dripped_greeting),
		cmocka_unit_test(test_deadline_spans_open_and_first_message),
		cmocka_unit_test(test_deadline_idle_and_later_messages),
		cmocka_unit_test(test_body_failure),
		cmocka_unit_test(test_large_body),
		cmocka_unit_test(test_421_close_at_mail),
		cmocka_unit_test(test_421_close_at_rcpt),
		cmocka_unit_test(test_421_close_at_data),
		cmocka_unit_test(test_421_close_after_dot),
		cmocka_unit_test(test_421_close_lockstep),
		cmocka_unit_test(test_421_close_in_body),
		cmocka_unit_test(test_421_close_at_rset),
		cmocka_unit_test(test_connect_failures),
		cmocka_unit_test(test_ipv6_session),
		cmocka_unit_test(test_tls_ip_literal),
		cmocka_unit_test(test_connect_next_address),
		cmocka_unit_test(test_connect_all_addresses_refused),
		cmocka_unit_test(test_malformed_reply),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
