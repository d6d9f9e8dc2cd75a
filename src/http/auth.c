/*
 * auth.c - the API token, the web page's login sessions and CSRF tokens.
 *
 * A session is a row in a fixed table of HTTP_SESSIONS_MAX: the SHA-256 of
 * its id (the cookie holds the id; the table never does, so a memory dump
 * shows no usable cookie), its CSRF token, the fingerprint of the API token
 * it was opened with (changing the token logs everybody out), and its
 * times.  Ids and CSRF tokens are 32 bytes from getrandom(), in hex.
 * Every comparison with a secret is made in constant time.
 */
#include "http/http_int.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"
#include "util/net.h"

#define TOKEN_FILE "api_token"
#define TOKEN_RANDOM_BYTES 32

struct http_session {
	int used;
	unsigned char id_hash[32];
	unsigned char token_fp[32];
	char csrf[HTTP_ID_HEX + 1];
	int64_t created_ms, last_ms;
};

struct http_sessions {
	pthread_mutex_t mu;
	struct http_session s[HTTP_SESSIONS_MAX];
	int64_t fail_window_ms;
	unsigned fails;
};

static void
sha256(const void *p, size_t n, unsigned char out[32])
{
	unsigned int len = 32;

	if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1)
		abort();        /* OpenSSL without SHA-256 is a broken install */
}

static void
hex_encode(const unsigned char *p, size_t n, char *dst)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		dst[2 * i] = hex[p[i] >> 4];
		dst[2 * i + 1] = hex[p[i] & 15];
	}
	dst[2 * n] = '\0';
}

static int
random_hex(char dst[HTTP_ID_HEX + 1], struct op_err *e)
{
	unsigned char raw[HTTP_ID_HEX / 2];

	if (rand_bytes(raw, sizeof(raw), e) < 0)
		return -1;
	hex_encode(raw, sizeof(raw), dst);
	return 0;
}

int
http_session_nonce(char dst[HTTP_ID_HEX + 1], struct op_err *e)
{
	return random_hex(dst, e);
}

int
http_token_equal(const char *a, const char *b)
{
	unsigned char ha[32], hb[32];

	if (a == NULL || b == NULL || *a == '\0' || *b == '\0')
		return 0;
	sha256(a, strlen(a), ha);
	sha256(b, strlen(b), hb);
	return CRYPTO_memcmp(ha, hb, sizeof(ha)) == 0;
}

/* ---- the token file ---- */

static int
token_read(const char *path, int fd, char *out, size_t outsz, struct op_err *e)
{
	struct stat st;
	ssize_t n;
	size_t len = 0;

	if (fstat(fd, &st) < 0)
		return err_set(e, ERR_IO, "cannot read %s: %s", path, strerror(errno));
	if ((st.st_mode & 077) != 0)
		return err_set(e, ERR_CONFIG, "%s holds the API token but others can "
		    "read it: run chmod 600 %s", path, path);
	while (len < outsz - 1) {
		n = read(fd, out + len, outsz - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(e, ERR_IO, "cannot read %s: %s", path, strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len == outsz - 1)
		return err_set(e, ERR_CONFIG, "%s: the API token is longer than %d bytes",
		    path, HTTP_TOKEN_MAX - 1);
	out[len] = '\0';
	while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r' ||
	    out[len - 1] == ' ' || out[len - 1] == '\t'))
		out[--len] = '\0';
	if (len == 0)
		return err_set(e, ERR_CONFIG, "%s is empty: delete it to get a new API "
		    "token, or set [server] api_token", path);
	return 0;
}

int
http_token_load(const char *data_dir, const char *configured, char *out,
    size_t outsz, int *created, struct op_err *e)
{
	unsigned char raw[TOKEN_RANDOM_BYTES];
	char path[4096], tmp[4096 + 16], hex[2 * TOKEN_RANDOM_BYTES + 2];
	int fd = -1, rc = -1;
	size_t off, len;
	ssize_t w;

	*created = 0;
	if (outsz < HTTP_TOKEN_MAX)
		return err_set(e, ERR_SOFTWARE, "http_token_load: buffer too small");
	if (configured != NULL && *configured != '\0') {
		if (str_copy(out, outsz, configured) < 0)
			return err_set(e, ERR_CONFIG, "[server] api_token is longer than %d bytes",
			    HTTP_TOKEN_MAX - 1);
		return 0;
	}
	if (snprintf(path, sizeof(path), "%s/%s", data_dir, TOKEN_FILE) >= (int)sizeof(path))
		return err_set(e, ERR_CONFIG, "data_dir is too long");

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		rc = token_read(path, fd, out, outsz, e);
		goto out;
	}
	if (errno != ENOENT)
		return err_set(e, ERR_IO, "cannot read %s: %s", path, strerror(errno));

	/* Create: write a temporary file, then link it into place, so a
	 * concurrent start never sees a half-written token and never
	 * replaces one already there. */
	if (rand_bytes(raw, sizeof(raw), e) < 0)
		return -1;
	hex_encode(raw, sizeof(raw), hex);
	len = strlen(hex);
	hex[len++] = '\n';
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return err_set(e, ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
	for (off = 0; off < len; off += (size_t)w) {
		w = write(fd, hex + off, len - off);
		if (w < 0 && errno == EINTR) {
			w = 0;
			continue;
		}
		if (w < 0) {
			err_set(e, ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
			goto fail_tmp;
		}
	}
	if (fsync(fd) < 0) {
		err_set(e, ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
		goto fail_tmp;
	}
	close(fd);
	fd = -1;
	if (link(tmp, path) < 0) {
		int saved = errno;

		unlink(tmp);
		if (saved == EEXIST)    /* another start won: use its token */
			return http_token_load(data_dir, NULL, out, outsz, created, e);
		return err_set(e, ERR_IO, "cannot create %s: %s", path, strerror(saved));
	}
	unlink(tmp);
	hex[len - 1] = '\0';
	str_copy(out, outsz, hex);
	*created = 1;
	return 0;

fail_tmp:
	close(fd);
	unlink(tmp);
	return -1;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- sessions ---- */

struct http_sessions *
http_sessions_new(void)
{
	struct http_sessions *ss = mem_alloc(sizeof(*ss));

	pthread_mutex_init(&ss->mu, NULL);
	return ss;
}

void
http_sessions_free(struct http_sessions *ss)
{
	if (ss == NULL)
		return;
	pthread_mutex_destroy(&ss->mu);
	OPENSSL_cleanse(ss, sizeof(*ss));
	free(ss);
}

static int
session_live(const struct http_session *x, int64_t now)
{
	return x->used && now - x->last_ms < HTTP_SESSION_IDLE_MS &&
	    now - x->created_ms < HTTP_SESSION_LIFE_MS;
}

int
http_session_create(struct http_sessions *ss, const char *token,
    char id[HTTP_ID_HEX + 1], char csrf[HTTP_ID_HEX + 1], struct op_err *e)
{
	struct http_session *slot = NULL;
	int64_t now = clock_mono_ms();
	size_t i;

	if (random_hex(id, e) < 0 || random_hex(csrf, e) < 0)
		return -1;
	pthread_mutex_lock(&ss->mu);
	for (i = 0; i < HTTP_SESSIONS_MAX; i++) {
		struct http_session *x = &ss->s[i];

		if (!session_live(x, now)) {
			slot = x;
			break;
		}
		if (slot == NULL || x->last_ms < slot->last_ms)
			slot = x;       /* the least recently used */
	}
	memset(slot, 0, sizeof(*slot));
	slot->used = 1;
	sha256(id, strlen(id), slot->id_hash);
	sha256(token, strlen(token), slot->token_fp);
	memcpy(slot->csrf, csrf, HTTP_ID_HEX + 1);
	slot->created_ms = slot->last_ms = now;
	pthread_mutex_unlock(&ss->mu);
	return 0;
}

/* The live session whose id hashes to h, or NULL.  Caller holds mu.  Every
 * slot is compared, in constant time, whatever matches. */
static struct http_session *
session_find(struct http_sessions *ss, const unsigned char h[32], int64_t now)
{
	struct http_session *found = NULL;
	size_t i;

	for (i = 0; i < HTTP_SESSIONS_MAX; i++) {
		struct http_session *x = &ss->s[i];
		int same = CRYPTO_memcmp(x->id_hash, h, 32) == 0;

		if (same && session_live(x, now))
			found = x;
	}
	return found;
}

int
http_session_check(struct http_sessions *ss, const char *id, const char *token,
    char csrf[HTTP_ID_HEX + 1])
{
	unsigned char h[32], fp[32];
	struct http_session *x;
	int64_t now = clock_mono_ms();
	int rc = -1;

	if (id == NULL || strlen(id) != HTTP_ID_HEX || token == NULL)
		return -1;
	sha256(id, HTTP_ID_HEX, h);
	sha256(token, strlen(token), fp);
	pthread_mutex_lock(&ss->mu);
	x = session_find(ss, h, now);
	if (x != NULL && CRYPTO_memcmp(x->token_fp, fp, 32) == 0) {
		x->last_ms = now;
		memcpy(csrf, x->csrf, HTTP_ID_HEX + 1);
		rc = 0;
	} else if (x != NULL) {
		memset(x, 0, sizeof(*x));      /* the token changed: log out */
	}
	pthread_mutex_unlock(&ss->mu);
	return rc;
}

void
http_session_end(struct http_sessions *ss, const char *id)
{
	unsigned char h[32];
	struct http_session *x;

	if (id == NULL || strlen(id) != HTTP_ID_HEX)
		return;
	sha256(id, HTTP_ID_HEX, h);
	pthread_mutex_lock(&ss->mu);
	x = session_find(ss, h, clock_mono_ms());
	if (x != NULL)
		memset(x, 0, sizeof(*x));
	pthread_mutex_unlock(&ss->mu);
}

int
http_login_allowed(struct http_sessions *ss)
{
	int64_t now = clock_mono_ms();
	int ok;

	pthread_mutex_lock(&ss->mu);
	if (now - ss->fail_window_ms >= HTTP_LOGIN_WINDOW_MS) {
		ss->fail_window_ms = now;
		ss->fails = 0;
	}
	ok = ss->fails < HTTP_LOGIN_FAILS_MAX;
	pthread_mutex_unlock(&ss->mu);
	return ok;
}

void
http_login_failed(struct http_sessions *ss)
{
	pthread_mutex_lock(&ss->mu);
	ss->fails++;
	pthread_mutex_unlock(&ss->mu);
}
