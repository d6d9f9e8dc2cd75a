/*
 * test_dkim.c - the parts of mail/dkim.c around libopendkim: the signature
 * field's line ends made CRLF, the message put in wire form (the same
 * bytes as the SMTP client's encoder, less dot-stuffing), key checks, the
 * TXT record's strings and its comparison with a key; and one signature
 * made through the library, its field in CRLF form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "mail/dkim.h"
#include "smtp/data.h"
#include "util/buf.h"

static void
fold(const char *in, const char *want)
{
	struct buf b;
	struct op_err e;

	buf_init(&b, 4096);
	assert_int_equal(mail_dkim_fold_crlf(in, strlen(in), &b, &e), 0);
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data, want, b.len);
	buf_free(&b);
}

static void
fold_crlf(void **state)
{
	(void)state;
	/* libopendkim's folding, bare LF or CRLF: CRLF out, a final CRLF */
	fold("v=1; a=rsa-sha256;\n\tb=abc", "v=1; a=rsa-sha256;\r\n\tb=abc\r\n");
	fold("v=1;\r\n\tb=abc\r\n", "v=1;\r\n\tb=abc\r\n");
	fold("v=1;\r\tb=x\n", "v=1;\r\n\tb=x\r\n");
	fold("a\n\t b\n\t c", "a\r\n\t b\r\n\t c\r\n");
	fold("", "\r\n");
}

/* mail_dkim_wire() is the encoder's output with dot-stuffing undone. */
static void
wire_matches_encoder(void **state)
{
	static const char *const cases[] = {
		"a\nb", "a\r\nb\r\n", "a\rb\r", ".x\n..y\n", "\n\n\n", "x\r\r\n",
		"a\r\n.\r\n", "", "tail", "h: v\n\tc\n\nbody\n.\n",
	};
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf a, b, u;
		struct op_err e;
		struct smtp_data_enc d;
		size_t j;
		int bol = 1;

		buf_init(&a, 4096);
		buf_init(&b, 4096);
		buf_init(&u, 4096);
		assert_int_equal(mail_dkim_wire(cases[i], strlen(cases[i]), &a, &e), 0);
		smtp_data_init(&d);
		assert_int_equal(smtp_data_feed(&d, cases[i], strlen(cases[i]), &b, &e), 0);
		assert_int_equal(smtp_data_finish(&d, &b, &e), 0);
		/* undo dot-stuffing, drop ".\r\n" */
		b.len -= 3;
		for (j = 0; j < b.len; j++) {
			if (bol && b.data[j] == '.') {
				bol = 0;
				continue;
			}
			assert_int_equal(buf_append(&u, b.data + j, 1, &e), 0);
			bol = b.data[j] == '\n';
		}
		assert_int_equal(a.len, u.len);
		if (a.len > 0)
			assert_memory_equal(a.data, u.data, a.len);
		buf_free(&a);
		buf_free(&b);
		buf_free(&u);
	}
}

static char *
pem_of(const char *alg, int bits, size_t *len)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL);
	EVP_PKEY *k = NULL;
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out;
	long n;

	assert_non_null(c);
	assert_int_equal(EVP_PKEY_keygen_init(c), 1);
	if (bits > 0)
		assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(c, bits), 1);
	assert_int_equal(EVP_PKEY_keygen(c, &k), 1);
	assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
	n = BIO_get_mem_data(b, &p);
	out = calloc(1, (size_t)n + 1);
	memcpy(out, p, (size_t)n);
	*len = (size_t)n;
	BIO_free(b);
	EVP_PKEY_free(k);
	EVP_PKEY_CTX_free(c);
	return out;
}

static void
key_checks(void **state)
{
	struct op_err e;
	size_t len;
	int type;
	unsigned bits;
	char *rsa = pem_of("RSA", 1024, &len), *weak, *ed;
	const char *pub = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n";
	(void)state;

	assert_int_equal(mail_dkim_key_check(rsa, len, &type, &bits, &e), 0);
	assert_int_equal(type, MAIL_DKIM_RSA);
	assert_int_equal(bits, 1024);
	free(rsa);
	weak = pem_of("RSA", 512, &len);
	assert_int_equal(mail_dkim_key_check(weak, len, &type, &bits, &e), -1);
	assert_non_null(strstr(e.msg, "too weak"));
	free(weak);
	ed = pem_of("ED25519", 0, &len);
	assert_int_equal(mail_dkim_key_check(ed, len, &type, &bits, &e), 0);
	assert_int_equal(type, MAIL_DKIM_ED25519);
	free(ed);
	assert_int_equal(mail_dkim_key_check(pub, strlen(pub), &type, &bits, &e), -1);
	assert_non_null(strstr(e.msg, "public key"));
	assert_int_equal(mail_dkim_key_check("junk", 4, &type, &bits, &e), -1);
	assert_non_null(strstr(e.msg, "not a PEM private key"));
}

static void
txt_strings(void **state)
{
	struct buf b;
	struct op_err e;
	char v[600];
	(void)state;

	memset(v, 'a', sizeof(v) - 1);
	v[sizeof(v) - 1] = '\0';
	buf_init(&b, 4096);
	assert_int_equal(mail_dkim_txt_strings(v, &b, &e), 0);
	assert_int_equal(b.len, 2 + 255 + 1 + 2 + 255 + 1 + 2 + 89);
	assert_true(b.data[256] == '"' && b.data[257] == ' ' && b.data[258] == '"');
	buf_free(&b);
}

static void
record_compare(void **state)
{
	size_t len, len2;
	char *ed = pem_of("ED25519", 0, &len), *other = pem_of("ED25519", 0, &len2);
	char rec[512], why[256];
	struct buf pub;
	struct op_err e;
	(void)state;

	buf_init(&pub, 4096);
	assert_int_equal(mail_dkim_public(ed, len, &pub, &e), 0);
	assert_int_equal(buf_append(&pub, "", 1, &e), 0);
	snprintf(rec, sizeof(rec), "v=DKIM1; k=ed25519; p=%s", pub.data);
	assert_int_equal(mail_dkim_record_compare(rec, ed, len, why, sizeof(why)),
	    MAIL_DKIM_REC_OK);
	assert_int_equal(mail_dkim_record_compare(rec, other, len2, why,
	    sizeof(why)), MAIL_DKIM_REC_DIFFERENT);
	assert_non_null(strstr(why, "another public key"));
	snprintf(rec, sizeof(rec), "v=DKIM1; p=%s", pub.data);   /* k=rsa */
	assert_int_equal(mail_dkim_record_compare(rec, ed, len, why, sizeof(why)),
	    MAIL_DKIM_REC_DIFFERENT);
	assert_int_equal(mail_dkim_record_compare("v=DKIM1; k=ed25519; p=", ed,
	    len, why, sizeof(why)), MAIL_DKIM_REC_DIFFERENT);
	assert_non_null(strstr(why, "revokes"));
	buf_free(&pub);
	free(ed);
	free(other);
}

/* One message through libopendkim with both key types: one field each,
 * CRLF only, h= with From twice; a From elsewhere is not signed. */
static void
sign_through_the_library(void **state)
{
	static const char msg[] = "From: A <a@Example.ORG>\r\nTo: b@x.test\r\n"
	    "Subject: s\r\n\tfolded\r\n\r\nbody\r\n.dot\r\n";
	static const char elsewhere[] = "From: a@example.com\r\n\r\nx\r\n";
	struct mail_dkim_key k[2];
	size_t l1, l2, n, i;
	char *rsa = pem_of("RSA", 1024, &l1), *ed = pem_of("ED25519", 0, &l2);
	struct buf out;
	struct op_err e;
	(void)state;

	k[0] = (struct mail_dkim_key){ "r", "example.org", "s1", rsa, l1, MAIL_DKIM_RSA };
	k[1] = (struct mail_dkim_key){ "e", "example.org", "s2", ed, l2, MAIL_DKIM_ED25519 };
	buf_init(&out, 65536);
	assert_int_equal(mail_dkim_sign(k, 2, msg, sizeof(msg) - 1, &out, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_int_equal(buf_append(&out, "", 1, &e), 0);
	for (i = 0; i + 1 < out.len; i++)
		if (out.data[i] == '\n')
			assert_true(i > 0 && out.data[i - 1] == '\r');
	assert_non_null(strstr(out.data, "a=rsa-sha256"));
	assert_non_null(strstr(out.data, "a=ed25519-sha256"));
	assert_non_null(strstr(out.data, "c=relaxed/relaxed"));
	assert_non_null(strstr(out.data, ":from;"));
	buf_reset(&out);
	assert_int_equal(mail_dkim_sign(k, 2, elsewhere, sizeof(elsewhere) - 1,
	    &out, &n, &e), 0);
	assert_int_equal(n, 0);
	assert_int_equal(out.len, 0);
	buf_free(&out);
	free(rsa);
	free(ed);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fold_crlf),
		cmocka_unit_test(wire_matches_encoder),
		cmocka_unit_test(key_checks),
		cmocka_unit_test(txt_strings),
		cmocka_unit_test(record_compare),
		cmocka_unit_test(sign_through_the_library),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
