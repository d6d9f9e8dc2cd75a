/*
 * dkim.h - DKIM signatures (RFC 6376; Ed25519: RFC 8463) on the bytes of a
 * message as they go upstream, and the keys they are made with.
 *
 * Who owns what:
 *   - The signing itself is libopendkim's (the Debian package
 *     libopendkim11): RSA-SHA256 and Ed25519-SHA256, relaxed/relaxed.
 *     Outpost has no signing code of its own.  The library is not linked
 *     into the binary: mail_dkim_load() opens it the first time a message
 *     is signed (like libmicrohttpd, http/mhd.h), so short commands such as
 *     `outpost sendmail`, which never sign, do not pay for it and its
 *     dependencies at every start.
 *   - This module owns what goes in and out of the library: the message
 *     normalised to the bytes the SMTP client sends (CRLF line ends, the
 *     final line ended, dot-stuffing not applied: the receiver undoes it),
 *     the header fields signed (MAIL_DKIM_SIGNED_HEADERS, From oversigned),
 *     the choice of keys (every key whose domain is the From: domain), and
 *     the DKIM-Signature field written back with CRLF line ends only.
 *   - The caller (relay/deliver.c) owns the keys (loaded and checked with
 *     the settings, config/conf.c) and puts the fields it gets before the
 *     message, after every other change it makes.
 *   - Keys are checked (type, strength) and their public half derived with
 *     OpenSSL, which is linked anyway; `outpost dkim keygen` makes them.
 */
#ifndef OUTPOST_MAIL_DKIM_H
#define OUTPOST_MAIL_DKIM_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

#define MAIL_DKIM_SONAME "libopendkim.so.11"

enum mail_dkim_type {
	MAIL_DKIM_RSA = 1,      /* rsa-sha256, k=rsa */
	MAIL_DKIM_ED25519 = 2,  /* ed25519-sha256, k=ed25519 */
};

#define MAIL_DKIM_RSA_MIN_BITS 1024     /* RFC 8301 section 3.2 */
#define MAIL_DKIM_RSA_MAX_BITS 8192
#define MAIL_DKIM_KEY_FILE_MAX (64 * 1024)
#define MAIL_DKIM_SIG_MAX 4096          /* one DKIM-Signature field */
#define MAIL_DKIM_MAX_KEYS 16           /* signatures on one message */

/* The header fields signed when present (lower case, as h= lists them);
 * From is also oversigned: h= names it once more than it occurs, so a
 * From added later breaks the signature (RFC 6376 section 8.15). */
#define MAIL_DKIM_SIGNED_HEADERS \
	"from", "to", "cc", "subject", "date", "message-id", "reply-to", \
	"mime-version", "content-type", "content-transfer-encoding", \
	"list-unsubscribe", "list-unsubscribe-post"

/* A key ready to sign: the PEM bytes as loaded from key_file. */
struct mail_dkim_key {
	const char *name;       /* the [dkim NAME] section, for logs */
	const char *domain;     /* d= */
	const char *selector;   /* s= */
	const char *pem;
	size_t pem_len;
	int type;               /* enum mail_dkim_type */
};

/* "rsa" / "ed25519" (the k= value and keygen's --type). */
const char *mail_dkim_type_name(int type);

/* Open libopendkim once (thread-safe).  ERR_UNAVAILABLE naming the
 * library and the package when it is missing. */
int mail_dkim_load(struct op_err *e);

/*
 * Check a private key held in PEM: it must be an RSA key of at least
 * MAIL_DKIM_RSA_MIN_BITS bits or an Ed25519 key.  Fills *type and *bits
 * (256 for Ed25519).  ERR_CONFIG with a sentence naming what is wrong
 * (not a private key, a key type DKIM cannot use, too weak) and the fix.
 */
int mail_dkim_key_check(const char *pem, size_t len, int *type,
    unsigned *bits, struct op_err *e);

/* Append the public half as the p= value of the DNS record: base64 of the
 * SubjectPublicKeyInfo for RSA (RFC 6376 section 3.6.1), of the 32 raw
 * octets for Ed25519 (RFC 8463 section 4). */
int mail_dkim_public(const char *pem, size_t len, struct buf *out,
    struct op_err *e);

/* Append the TXT record's value ("v=DKIM1; k=rsa; p=...") as DNS strings
 * of at most 255 octets each, each in double quotes, separated by spaces
 * (zone-file form). */
int mail_dkim_txt_strings(const char *value, struct buf *out,
    struct op_err *e);

/*
 * The domain of the first mailbox of the From: field of msg, lower case,
 * into dst; "" when there is no usable From.  Never fails.
 */
void mail_dkim_from_domain(const char *msg, size_t len, char *dst,
    size_t dstsz);

/* Append msg as the SMTP client puts it on the wire, less dot-stuffing:
 * bare LF and bare CR become CRLF, a last line without an end gets CRLF. */
int mail_dkim_wire(const char *msg, size_t len, struct buf *out,
    struct op_err *e);

/* Append the signature field text with every line end made CRLF (a bare
 * LF or bare CR becomes CRLF; CRLF stays), and a final CRLF if missing. */
int mail_dkim_fold_crlf(const char *in, size_t n, struct buf *out,
    struct op_err *e);

/*
 * Sign msg (the exact bytes to be sent, in mail_dkim_wire() form) with
 * every key whose domain equals the From: domain, ignoring case.  Appends
 * one "DKIM-Signature: ...\r\n" field per key to out, in key order, and
 * sets *nsigned.  No matching key: nothing appended, 0.  Errors: the
 * library cannot be loaded (ERR_UNAVAILABLE) or refuses (ERR_SOFTWARE,
 * naming the section and the library's reason).
 */
int mail_dkim_sign(const struct mail_dkim_key *keys, size_t nkeys,
    const char *msg, size_t len, struct buf *out, size_t *nsigned,
    struct op_err *e);

/*
 * Compare a published TXT record (its strings joined) with a private key:
 * MAIL_DKIM_REC_OK when it is a DKIM1 record of the key's type whose p=
 * is the key's public half; MAIL_DKIM_REC_DIFFERENT otherwise (another
 * key, another type, a revoked key p=, not a DKIM record).  why (may be
 * NULL) gets a short reason for a difference.
 */
enum { MAIL_DKIM_REC_OK = 0, MAIL_DKIM_REC_DIFFERENT = 1 };
int mail_dkim_record_compare(const char *record, const char *pem, size_t len,
    char *why, size_t whysz);

#endif
