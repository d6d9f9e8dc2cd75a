/*
 * dkim.c - DKIM signatures through libopendkim, and DKIM keys (dkim.h).
 */
#include "mail/dkim.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/bio.h>

#include <opendkim/dkim.h>

#include "mail/header.h"
#include "util/dl.h"

/* ---- the library, loaded on first use -------------------------------- */

struct dkim_api {
	__typeof__(dkim_init) *init;
	__typeof__(dkim_options) *options;
	__typeof__(dkim_sign) *sign;
	__typeof__(dkim_header) *header;
	__typeof__(dkim_eoh) *eoh;
	__typeof__(dkim_body) *body;
	__typeof__(dkim_eom) *eom;
	__typeof__(dkim_getsighdr_d) *getsighdr_d;
	__typeof__(dkim_geterror) *geterror;
	__typeof__(dkim_getresultstr) *getresultstr;
	__typeof__(dkim_free) *free;
	__typeof__(dkim_libversion) *libversion;
};

static struct dkim_api api;
static DKIM_LIB *lib;           /* shared by all threads, options set once */

#define F(name, field) DL_SYM(struct dkim_api, name, field)
static const struct dl_sym funcs[] = {
	F("dkim_init", init),
	F("dkim_options", options),
	F("dkim_sign", sign),
	F("dkim_header", header),
	F("dkim_eoh", eoh),
	F("dkim_body", body),
	F("dkim_eom", eom),
	F("dkim_getsighdr_d", getsighdr_d),
	F("dkim_geterror", geterror),
	F("dkim_getresultstr", getresultstr),
	F("dkim_free", free),
	F("dkim_libversion", libversion),
};
#undef F

/*
 * A leak in libopendkim 2.11.0 (Debian 12's libopendkim11): dkim_free()
 * releases the key of an RSA signature but not that of an Ed25519 one:
 * its EVP_PKEY and the signature buffer, about 1.3 KB per message.  The
 * library's allocations of one signature go through an allocator that
 * remembers them (struct track); before dkim_free(), the key's record
 * (struct dkim_crypto of that version, laid out below) is found among
 * them by what it must hold, and after, what the library left is freed.
 * Only for version LEAKY_VERSION and when every check holds; otherwise
 * nothing is touched (a later version that frees them is not harmed).
 */
#define LEAKY_VERSION 0x020b0000UL
#define TRACK_MAX 512

struct track {
	void *p[TRACK_MAX];
	size_t n[TRACK_MAX];
	size_t count;
	int overflow;
};

/* struct dkim_crypto of libopendkim 2.11.0 built with OpenSSL. */
struct leaky_crypto {
	unsigned char pad;
	int keysize;
	size_t inlen;
	size_t outlen;
	EVP_PKEY *pkey;
	void *key;
	BIO *keydata;
	unsigned char *in;
	unsigned char *out;
};

static void *
track_malloc(void *closure, size_t n)
{
	struct track *t = closure;
	void *p = malloc(n);

	if (t != NULL && p != NULL) {
		if (t->count < TRACK_MAX) {
			t->p[t->count] = p;
			t->n[t->count++] = n;
		} else {
			t->overflow = 1;
		}
	}
	return p;
}

static void
track_forget(struct track *t, const void *p)
{
	size_t i;

	for (i = t->count; i > 0; i--)
		if (t->p[i - 1] == p) {
			t->p[i - 1] = t->p[t->count - 1];
			t->n[i - 1] = t->n[t->count - 1];
			t->count--;
			return;
		}
}

static void
track_free(void *closure, void *p)
{
	if (closure != NULL && p != NULL)
		track_forget(closure, p);
	free(p);
}

static int
tracked(const struct track *t, const void *p, size_t n)
{
	size_t i;

	for (i = 0; i < t->count; i++)
		if (t->p[i] == p && t->n[i] == n)
			return 1;
	return 0;
}

/* The Ed25519 key record among t's blocks, or NULL. */
static struct leaky_crypto *
leaky_find(const struct track *t)
{
	size_t i;

	if (t->overflow || api.libversion() != LEAKY_VERSION)
		return NULL;
	for (i = 0; i < t->count; i++) {
		struct leaky_crypto c;

		if (t->n[i] != sizeof(c))
			continue;
		memcpy(&c, t->p[i], sizeof(c));
		if (c.keysize == 512 && c.outlen == 64 && c.pkey != NULL &&
		    c.out != NULL && tracked(t, c.out, 64))
			return t->p[i];
	}
	return NULL;
}

static const char *const signed_headers[] = { MAIL_DKIM_SIGNED_HEADERS, NULL };
static const char *const oversigned_headers[] = { "from", NULL };

static int
start(void *arg, struct op_err *e)
{
	struct dkim_api *a = arg;
	const char **sh = (const char **)signed_headers;
	const char **os = (const char **)oversigned_headers;

	lib = a->init(track_malloc, track_free);
	if (lib == NULL)
		return err_set(e, ERR_UNAVAILABLE, "libopendkim failed to "
		    "start (dkim_init): out of memory?");
	/* The options take a pointer to a NULL-terminated list, and its
	 * size is that of the pointer. */
	if (a->options(lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, &sh[0],
	    sizeof(sh)) != DKIM_STAT_OK ||
	    a->options(lib, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS, &os[0],
	    sizeof(os)) != DKIM_STAT_OK) {
		lib = NULL;
		return err_set(e, ERR_UNAVAILABLE, "libopendkim refused the "
		    "list of header fields to sign: install libopendkim11 2.11 "
		    "or newer");
	}
	return 0;
}

static struct dl_lib dl = {
	.soname = MAIL_DKIM_SONAME, .package = "libopendkim11",
	.minimum = "2.11", .purpose = "to sign with DKIM", .syms = funcs,
	.nsyms = DL_COUNT(funcs), .api = &api, .api_size = sizeof(api),
	.start = start, DL_STATE,
};

int
mail_dkim_load(struct op_err *e)
{
	return dl_load(&dl, e);
}

const char *
mail_dkim_type_name(int type)
{
	return type == MAIL_DKIM_ED25519 ? "ed25519" : "rsa";
}

/* ---- keys -------------------------------------------------------------- */

static EVP_PKEY *
read_key(const char *pem, size_t len, struct op_err *e)
{
	BIO *b;
	EVP_PKEY *k;

	if (len > MAIL_DKIM_KEY_FILE_MAX) {
		err_set(e, ERR_CONFIG, "the key file is larger than %d bytes: "
		    "give the PEM private key made by `outpost dkim keygen`",
		    MAIL_DKIM_KEY_FILE_MAX);
		return NULL;
	}
	b = BIO_new_mem_buf(pem, (int)len);
	if (b == NULL) {
		err_set(e, ERR_OSERR, "out of memory reading a DKIM key");
		return NULL;
	}
	k = PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"");
	BIO_free(b);
	if (k != NULL)
		return k;
	if (memmem(pem, len, "PUBLIC KEY-----", 15) != NULL ||
	    memmem(pem, len, "CERTIFICATE-----", 16) != NULL)
		err_set(e, ERR_CONFIG, "the file holds a public key or a "
		    "certificate, not the private key: name the private key "
		    "(the public half goes in the DNS record)");
	else if (memmem(pem, len, "ENCRYPTED", 9) != NULL)
		err_set(e, ERR_CONFIG, "the private key is encrypted with a "
		    "passphrase: store it unencrypted, readable only by Outpost "
		    "(chmod 600)");
	else
		err_set(e, ERR_CONFIG, "not a PEM private key: give the file "
		    "written by `outpost dkim keygen` (or `openssl genpkey`)");
	return NULL;
}

int
mail_dkim_key_check(const char *pem, size_t len, int *type, unsigned *bits,
    struct op_err *e)
{
	EVP_PKEY *k = read_key(pem, len, e);
	int rc = -1, id;

	if (k == NULL)
		return -1;
	id = EVP_PKEY_get_base_id(k);
	*bits = (unsigned)EVP_PKEY_get_bits(k);
	if (id == EVP_PKEY_RSA) {
		*type = MAIL_DKIM_RSA;
		if (*bits < MAIL_DKIM_RSA_MIN_BITS) {
			err_set(e, ERR_CONFIG, "an RSA key of %u bits is too weak "
			    "(verifiers ignore keys under %d bits, RFC 8301): make a "
			    "new one with `outpost dkim keygen` (2048 bits)", *bits,
			    MAIL_DKIM_RSA_MIN_BITS);
			goto out;
		}
		if (*bits > MAIL_DKIM_RSA_MAX_BITS) {
			err_set(e, ERR_CONFIG, "an RSA key of %u bits is larger "
			    "than %d bits: use 2048 bits", *bits, MAIL_DKIM_RSA_MAX_BITS);
			goto out;
		}
	} else if (id == EVP_PKEY_ED25519) {
		*type = MAIL_DKIM_ED25519;
	} else {
		err_set(e, ERR_CONFIG, "a %s key cannot sign DKIM (only RSA and "
		    "Ed25519 can): make one with `outpost dkim keygen`",
		    OBJ_nid2sn(id));
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_free(k);
	return rc;
}

int
mail_dkim_public(const char *pem, size_t len, struct buf *out,
    struct op_err *e)
{
	EVP_PKEY *k = read_key(pem, len, e);
	unsigned char *der = NULL, raw[64];
	unsigned char *b64 = NULL;
	size_t n = sizeof(raw);
	int dn, rc = -1;

	if (k == NULL)
		return -1;
	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519) {
		if (EVP_PKEY_get_raw_public_key(k, raw, &n) != 1) {
			err_set(e, ERR_SOFTWARE, "cannot read the Ed25519 public key");
			goto out;
		}
		der = OPENSSL_malloc(n);
		if (der == NULL)
			goto oom;
		memcpy(der, raw, n);
		dn = (int)n;
	} else {
		dn = i2d_PUBKEY(k, &der);
		if (dn <= 0) {
			err_set(e, ERR_SOFTWARE, "cannot encode the public key");
			goto out;
		}
	}
	b64 = malloc(((size_t)dn + 2) / 3 * 4 + 1);
	if (b64 == NULL)
		goto oom;
	n = (size_t)EVP_EncodeBlock(b64, der, dn);
	rc = buf_append(out, b64, n, e);
	goto out;
oom:
	err_set(e, ERR_OSERR, "out of memory encoding a DKIM key");
out:
	OPENSSL_free(der);
	free(b64);
	EVP_PKEY_free(k);
	return rc;
}

int
mail_dkim_txt_strings(const char *value, struct buf *out, struct op_err *e)
{
	size_t len = strlen(value), off, n;

	for (off = 0; off < len || off == 0; off += n) {
		n = len - off > 255 ? 255 : len - off;
		if (buf_printf(out, e, "%s\"%.*s\"", off > 0 ? " " : "", (int)n,
		    value + off) < 0)
			return -1;
		if (len == 0)
			break;
	}
	return 0;
}

/* ---- the message --------------------------------------------------------- */

void
mail_dkim_from_domain(const char *msg, size_t len, char *dst, size_t dstsz)
{
	struct hdr_block hb;
	struct addr_list l;
	struct op_err e;
	const char *from, *d;
	size_t i;

	dst[0] = '\0';
	if (hdr_parse(msg, len, &hb, &e) < 0)
		return;
	memset(&l, 0, sizeof(l));
	addr_list_init(&l, 16);
	from = hdr_get(&hb, "From");
	if (from != NULL && hdr_parse_addr_list(from, &l, &e) == 0 && l.n > 0) {
		d = addr_domain(&l.v[0]);
		for (i = 0; d[i] != '\0' && i + 1 < dstsz; i++)
			dst[i] = (char)tolower((unsigned char)d[i]);
		dst[i] = '\0';
	}
	addr_list_free(&l);
	hdr_block_free(&hb);
}

int
mail_dkim_wire(const char *msg, size_t len, struct buf *out, struct op_err *e)
{
	size_t i, start = 0;

	for (i = 0; i < len; i++) {
		if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r')) {
			/* bare LF */
			if (buf_append(out, msg + start, i - start, e) < 0 ||
			    buf_append(out, "\r\n", 2, e) < 0)
				return -1;
			start = i + 1;
		} else if (msg[i] == '\r' && (i + 1 == len || msg[i + 1] != '\n')) {
			/* bare CR */
			if (buf_append(out, msg + start, i - start, e) < 0 ||
			    buf_append(out, "\r\n", 2, e) < 0)
				return -1;
			start = i + 1;
		}
	}
	if (buf_append(out, msg + start, len - start, e) < 0)
		return -1;
	if (len > 0 && msg[len - 1] != '\n' && msg[len - 1] != '\r')
		return buf_append(out, "\r\n", 2, e);
	return 0;
}

int
mail_dkim_fold_crlf(const char *in, size_t n, struct buf *out,
    struct op_err *e)
{
	if (mail_dkim_wire(in, n, out, e) < 0)
		return -1;
	if (n == 0)
		return buf_append(out, "\r\n", 2, e);
	return 0;
}

/* One signature with key k over msg (CRLF form). */
static int
sign_one(const struct mail_dkim_key *k, const char *msg, size_t len,
    struct buf *out, struct op_err *e)
{
	DKIM_STAT st;
	DKIM *d;
	struct track *t = NULL;
	struct leaky_crypto *lc;
	EVP_PKEY *leaked_key = NULL;
	unsigned char *leaked_out = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0, i = 0, eol, start;
	int rc = -1;
	static const char prefix[] = "DKIM-Signature: ";

	if (k->type == MAIL_DKIM_ED25519)
		t = calloc(1, sizeof(*t));
	d = api.sign(lib, (unsigned char *)"outpost", t,
	    (dkim_sigkey_t)k->pem, (unsigned char *)k->selector,
	    (unsigned char *)k->domain, DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
	    k->type == MAIL_DKIM_ED25519 ? DKIM_SIGN_ED25519SHA256 :
	    DKIM_SIGN_RSASHA256, -1, &st);
	if (d == NULL) {
		free(t);
		return err_set(e, ERR_SOFTWARE, "[dkim %s]: libopendkim cannot start "
		    "a signature: %s", k->name, api.getresultstr(st));
	}
	/* The header fields, each with its continuation lines and without
	 * its final CRLF, up to the empty line. */
	while (i < len) {
		if (i + 1 < len && msg[i] == '\r' && msg[i + 1] == '\n') {
			i += 2;         /* the empty line: the body follows */
			break;
		}
		start = i;
		for (;;) {
			const char *nl = memchr(msg + i, '\n', len - i);

			eol = nl != NULL ? (size_t)(nl - msg) + 1 : len;
			i = eol;
			if (i >= len || (msg[i] != ' ' && msg[i] != '\t'))
				break;
		}
		eol = i;
		if (eol - start >= 2 && msg[eol - 1] == '\n' && msg[eol - 2] == '\r')
			eol -= 2;
		st = api.header(d, (unsigned char *)msg + start, eol - start);
		if (st != DKIM_STAT_OK)
			goto fail;
	}
	st = api.eoh(d);
	if (st != DKIM_STAT_OK)
		goto fail;
	if (i < len) {
		st = api.body(d, (unsigned char *)msg + i, len - i);
		if (st != DKIM_STAT_OK)
			goto fail;
	}
	st = api.eom(d, NULL);
	if (st != DKIM_STAT_OK)
		goto fail;
	st = api.getsighdr_d(d, sizeof(prefix) - 1, &sig, &siglen);
	if (st != DKIM_STAT_OK)
		goto fail;
	if (siglen > MAIL_DKIM_SIG_MAX) {
		err_set(e, ERR_SOFTWARE, "[dkim %s]: the signature is longer than "
		    "%d bytes", k->name, MAIL_DKIM_SIG_MAX);
		goto out;
	}
	/* libopendkim folds the field itself; make every line end CRLF
	 * whatever it used (some builds fold with a bare LF). */
	if (buf_append(out, prefix, sizeof(prefix) - 1, e) < 0 ||
	    mail_dkim_fold_crlf((const char *)sig, siglen, out, e) < 0)
		goto out;
	rc = 0;
	goto out;
fail:
	{
		const char *why = api.geterror(d);

		err_set(e, ERR_SOFTWARE, "[dkim %s]: libopendkim cannot sign "
		    "this message: %s%s%s", k->name, api.getresultstr(st),
		    why != NULL ? ": " : "", why != NULL ? why : "");
	}
out:
	if (t != NULL && (lc = leaky_find(t)) != NULL) {
		leaked_key = lc->pkey;
		leaked_out = lc->out;
	}
	api.free(d);
	if (leaked_key != NULL && tracked(t, leaked_out, 64)) {
		/* still there after dkim_free(): the library's leak */
		EVP_PKEY_free(leaked_key);
		track_forget(t, leaked_out);
		free(leaked_out);
	}
	free(t);
	return rc;
}

int
mail_dkim_sign(const struct mail_dkim_key *keys, size_t nkeys,
    const char *msg, size_t len, struct buf *out, size_t *nsigned,
    struct op_err *e)
{
	char domain[256];
	size_t i;

	*nsigned = 0;
	if (nkeys == 0)
		return 0;
	mail_dkim_from_domain(msg, len, domain, sizeof(domain));
	if (domain[0] == '\0')
		return 0;
	for (i = 0; i < nkeys; i++) {
		if (strcasecmp(keys[i].domain, domain) != 0)
			continue;
		if (*nsigned == 0 && mail_dkim_load(e) < 0)
			return -1;
		if (*nsigned >= MAIL_DKIM_MAX_KEYS)
			break;
		if (sign_one(&keys[i], msg, len, out, e) < 0)
			return -1;
		(*nsigned)++;
	}
	return 0;
}

/* ---- the published record ------------------------------------------------- */

/* The value of tag name in a tag=value list (RFC 6376 section 3.2), white
 * space removed, into dst; 1 if present. */
static int
record_tag(const char *rec, const char *name, char *dst, size_t dstsz)
{
	const char *p = rec;
	size_t nlen = strlen(name), n;

	while (*p != '\0') {
		const char *end = strchr(p, ';'), *q;

		if (end == NULL)
			end = p + strlen(p);
		while (p < end && isspace((unsigned char)*p))
			p++;
		q = p;
		while (q < end && (isalnum((unsigned char)*q) || *q == '_'))
			q++;
		if ((size_t)(q - p) == nlen && strncmp(p, name, nlen) == 0) {
			while (q < end && isspace((unsigned char)*q))
				q++;
			if (q < end && *q == '=') {
				q++;
				for (n = 0; q < end; q++)
					if (!isspace((unsigned char)*q) && n + 1 < dstsz)
						dst[n++] = *q;
				dst[n] = '\0';
				return 1;
			}
		}
		p = *end != '\0' ? end + 1 : end;
	}
	return 0;
}

int
mail_dkim_record_compare(const char *record, const char *pem, size_t len,
    char *why, size_t whysz)
{
	char v[16], k[32], *p = NULL;
	struct buf pub;
	struct op_err e;
	int type, rc = MAIL_DKIM_REC_DIFFERENT;
	unsigned bits;
	size_t plen = strlen(record) + 1;
	char dummy[1];

	if (why == NULL) {
		why = dummy;
		whysz = sizeof(dummy);
	}
	why[0] = '\0';
	buf_init(&pub, 8192);
	p = malloc(plen);
	if (p == NULL || mail_dkim_key_check(pem, len, &type, &bits, &e) < 0 ||
	    mail_dkim_public(pem, len, &pub, &e) < 0 ||
	    buf_append(&pub, "", 1, &e) < 0) {
		snprintf(why, whysz, "the key cannot be read");
		goto out;
	}
	if (record_tag(record, "v", v, sizeof(v)) && strcmp(v, "DKIM1") != 0) {
		snprintf(why, whysz, "not a DKIM record (v=%s)", v);
		goto out;
	}
	if (!record_tag(record, "k", k, sizeof(k)))
		str_copy(k, sizeof(k), "rsa");
	if (strcmp(k, mail_dkim_type_name(type)) != 0) {
		snprintf(why, whysz, "the record is for a key of type %s, the "
		    "key is %s", k, mail_dkim_type_name(type));
		goto out;
	}
	if (!record_tag(record, "p", p, plen)) {
		snprintf(why, whysz, "the record has no p= (public key)");
		goto out;
	}
	if (p[0] == '\0') {
		snprintf(why, whysz, "the record revokes the key (p= is empty)");
		goto out;
	}
	if (strcmp(p, pub.data) != 0) {
		snprintf(why, whysz, "the record's p= is another public key");
		goto out;
	}
	rc = MAIL_DKIM_REC_OK;
out:
	free(p);
	buf_free(&pub);
	return rc;
}
