/*
 * cmd_dkim.c - `outpost dkim keygen DOMAIN --selector S [--type rsa|ed25519]
 * [--bits N] [--out PATH]`: make a DKIM key (docs/dkim.md).
 *
 * The key is made with OpenSSL (RSA 2048 bits by default, at least 1024;
 * or Ed25519) and written as a PKCS#8 PEM file of mode 0600 to
 * data_dir/dkim/DOMAIN.SELECTOR.key, or PATH; an existing file is never
 * overwritten.  Then the DNS TXT record to publish (its name, and its value
 * as 255-byte strings) and the [dkim NAME] section to add are printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "cli/cli.h"
#include "config/conf.h"
#include "mail/dkim.h"
#include "util/buf.h"

#define DKIM_USAGE "dkim keygen DOMAIN --selector S [--type rsa|ed25519] " \
	"[--bits N] [--out PATH]"
#define DKIM_DEFAULT_BITS 2048
#define DKIM_RECORD_MAX (16 * 1024)

static EVP_PKEY *
make_key(int type, unsigned bits)
{
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *k = NULL;

	ctx = EVP_PKEY_CTX_new_id(type == MAIL_DKIM_ED25519 ? EVP_PKEY_ED25519 :
	    EVP_PKEY_RSA, NULL);
	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1)
		goto out;
	if (type == MAIL_DKIM_RSA &&
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)bits) != 1)
		goto out;
	if (EVP_PKEY_keygen(ctx, &k) != 1)
		k = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	return k;
}

/* The key as PEM (PKCS#8) in memory. */
static int
key_pem(EVP_PKEY *k, struct buf *out, struct op_err *e)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;
	int rc = -1;

	if (b == NULL || PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL,
	    NULL) != 1) {
		err_set(e, ERR_SOFTWARE, "OpenSSL cannot write the key as PEM");
		goto out;
	}
	n = BIO_get_mem_data(b, &p);
	rc = buf_append(out, p, (size_t)n, e);
out:
	BIO_free(b);
	return rc;
}

/* Write data to path, created 0600; never over an existing file. */
static int
write_new(const char *path, const char *data, size_t len, struct op_err *e)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	size_t off = 0;
	ssize_t w;

	if (fd < 0) {
		if (errno == EEXIST)
			return err_set(e, ERR_IO, "%s already exists: "
			    "keep it, or choose another selector (a new key goes "
			    "with a new selector, docs/dkim.md)", path);
		return err_set(e, ERR_IO, "cannot create %s: %s", path,
		    strerror(errno));
	}
	while (off < len) {
		w = write(fd, data + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			err_set(e, ERR_IO, "cannot write %s: %s", path, strerror(errno));
			close(fd);
			unlink(path);
			return -1;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		err_set(e, ERR_IO, "cannot write %s: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

static int
keygen(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *domain = NULL, *selector = NULL, *type_s = "rsa";
	const char *bits_s = NULL, *out_path = NULL, *v;
	unsigned long bits = DKIM_DEFAULT_BITS;
	int type, i, rc = 1;
	struct conf *c = NULL;
	struct op_err e;
	struct buf pem, pub, rec, strings;
	EVP_PKEY *k = NULL;
	char path[PATH_MAX], abspath[PATH_MAX], name[CONF_NAME_MAX + 1];
	char desc[32];

	buf_init(&pem, MAIL_DKIM_KEY_FILE_MAX);
	buf_init(&pub, DKIM_RECORD_MAX);
	buf_init(&rec, DKIM_RECORD_MAX);
	buf_init(&strings, DKIM_RECORD_MAX);
	for (i = 1; i < argc; i++) {
		v = "";
		if (cli_option_value(argc, argv, &i, "--selector", &v))
			selector = v;
		else if (cli_option_value(argc, argv, &i, "--type", &v))
			type_s = v;
		else if (cli_option_value(argc, argv, &i, "--bits", &v))
			bits_s = v;
		else if (cli_option_value(argc, argv, &i, "--out", &v))
			out_path = v;
		else if (argv[i][0] == '-' || domain != NULL)
			v = NULL;
		else
			domain = argv[i];
		if (v == NULL) {     /* an option without its value, or too many */
			rc = cli_usage(DKIM_USAGE);
			goto out;
		}
	}
	if (domain == NULL || selector == NULL) {
		rc = cli_usage(DKIM_USAGE);
		goto out;
	}
	if (conf_check_host(domain, &e) < 0 || conf_check_host(selector, &e) < 0 ||
	    strchr(domain, ':') != NULL || strchr(selector, ':') != NULL) {
		fprintf(stderr, "outpost: dkim keygen: '%s' / '%s': give a domain "
		    "and a selector made of letters, digits, '-' and '.'\n",
		    domain, selector);
		rc = 64;
		goto out;
	}
	if (strcmp(type_s, "rsa") == 0) {
		type = MAIL_DKIM_RSA;
	} else if (strcmp(type_s, "ed25519") == 0) {
		type = MAIL_DKIM_ED25519;
	} else {
		fprintf(stderr, "outpost: dkim keygen: --type %s: write rsa or "
		    "ed25519\n", type_s);
		rc = 64;
		goto out;
	}
	if (bits_s != NULL) {
		if (type != MAIL_DKIM_RSA) {
			fprintf(stderr, "outpost: dkim keygen: --bits is for RSA keys; "
			    "an Ed25519 key has no size to choose\n");
			rc = 64;
			goto out;
		}
		if (str_to_ulong(bits_s, MAIL_DKIM_RSA_MAX_BITS, &bits) < 0 ||
		    bits < MAIL_DKIM_RSA_MIN_BITS) {
			fprintf(stderr, "outpost: dkim keygen: --bits %s: give %d to %d "
			    "(2048 is the usual size; verifiers ignore keys under "
			    "%d bits)\n", bits_s, MAIL_DKIM_RSA_MIN_BITS,
			    MAIL_DKIM_RSA_MAX_BITS, MAIL_DKIM_RSA_MIN_BITS);
			rc = 64;
			goto out;
		}
	}
	if (out_path != NULL) {
		if (str_copy(path, sizeof(path), out_path) < 0) {
			fprintf(stderr, "outpost: dkim keygen: --out: the path is too "
			    "long\n");
			rc = 64;
			goto out;
		}
	} else {
		char dir[PATH_MAX];

		if (cli_load_conf(ctx, &c) != 0) {
			fprintf(stderr, "outpost: dkim keygen: the settings have errors "
			    "(above), so data_dir is not known: fix them, or give "
			    "--out PATH\n");
			rc = 78;
			goto out;
		}
		snprintf(dir, sizeof(dir), "%s/dkim", c->server.data_dir);
		if (mkdir(c->server.data_dir, 0700) < 0 && errno != EEXIST) {
			fprintf(stderr, "outpost: dkim keygen: cannot create %s: %s\n",
			    c->server.data_dir, strerror(errno));
			rc = 73;
			goto out;
		}
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			fprintf(stderr, "outpost: dkim keygen: cannot create %s: %s\n",
			    dir, strerror(errno));
			rc = 73;
			goto out;
		}
		if ((size_t)snprintf(path, sizeof(path), "%s/%s.%s.key", dir, domain,
		    selector) >= sizeof(path)) {
			fprintf(stderr, "outpost: dkim keygen: the key's path is too "
			    "long: give --out PATH\n");
			rc = 64;
			goto out;
		}
	}
	k = make_key(type, (unsigned)bits);
	if (k == NULL) {
		fprintf(stderr, "outpost: dkim keygen: OpenSSL cannot make the key\n");
		rc = 70;
		goto out;
	}
	if (key_pem(k, &pem, &e) < 0 || write_new(path, pem.data, pem.len, &e) < 0 ||
	    mail_dkim_public(pem.data, pem.len, &pub, &e) < 0 ||
	    buf_printf(&rec, &e, "v=DKIM1; k=%s; p=%.*s", mail_dkim_type_name(type),
	    (int)pub.len, pub.data) < 0 ||
	    mail_dkim_txt_strings(rec.data, &strings, &e) < 0) {
		fprintf(stderr, "outpost: dkim keygen: %s\n", e.msg);
		rc = e.kind != 0 ? (int)e.kind : 1;
		goto out;
	}
	if (realpath(path, abspath) == NULL)
		str_copy(abspath, sizeof(abspath), path);
	snprintf(name, sizeof(name), "%.40s-%.20s", domain, selector);
	if (type == MAIL_DKIM_RSA)
		snprintf(desc, sizeof(desc), "rsa, %lu bits", bits);
	else
		snprintf(desc, sizeof(desc), "ed25519");
	printf("Wrote the private key (%s) to %s (mode 0600).\n\n"
	    "Publish this TXT record in the DNS of %s:\n\n"
	    "  name:  %s._domainkey.%s\n"
	    "  value: %s\n\n"
	    "In a zone file (the value split into strings of at most 255 bytes):\n\n"
	    "%s._domainkey.%s. IN TXT ( %s )\n\n"
	    "Then add this section to the settings, and check the record with "
	    "`outpost check`:\n\n"
	    "[dkim %s]\n"
	    "domain = %s\n"
	    "selector = %s\n"
	    "key_file = %s\n",
	    desc, abspath, domain, selector, domain, rec.data, selector,
	    domain, strings.data, name, domain, selector, abspath);
	rc = 0;
out:
	EVP_PKEY_free(k);
	if (pem.data != NULL)
		explicit_bzero(pem.data, pem.len);
	buf_free(&pem);
	buf_free(&pub);
	buf_free(&rec);
	buf_free(&strings);
	conf_free(c);
	return rc;
}

int
cmd_dkim(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
		return keygen(ctx, argc - 1, argv + 1);
	return cli_usage(DKIM_USAGE);
}
