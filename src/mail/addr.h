/*
 * addr.h - mail addresses: the envelope mailbox (RFC 5321), SMTP paths with
 * their parameters, lists of mailboxes, and allowed_from patterns.
 *
 * Everything here is a pure function over caller memory: no allocation
 * except in struct addr_list (freed with addr_list_free()), no I/O.
 *
 * Policy, decided once and applied everywhere an address enters Outpost
 * (the listener, the API, the CLI, sendmail -t):
 *   - Invalid addresses are refused, never "repaired" (docs/security.md).
 *   - local-part: RFC 5321 Dot-string or Quoted-string.  Dot-string atoms
 *     use RFC 5322 atext, so ' * + / = ? ^ _ ` { | } ~ # $ & are accepted:
 *     they are legal, and Outpost never hands an address to a shell, so a
 *     "`id`" or "$(id)" local part is harmless data.
 *   - '%' and '!' are refused anywhere in the local part, quoted or not:
 *     they are the percent hack (RFC 1123 section 5.2.16: "u%x@relay" is
 *     forwarded to u@x) and UUCP bang paths ("x!u@relay"), old tricks to
 *     make a relay route mail where it was not meant to go.  An '@' inside
 *     a quoted local part is refused for the same reason ("a@b"@c is read
 *     as a@b by careless parsers).
 *   - Source routes ("@a,@b:u@c", RFC 5321 section 4.1.2 obs) are refused.
 *   - Control characters (including CR, LF, NUL, DEL and the C1 range) are
 *     refused everywhere, quoted or not; spaces only inside quotes.
 *   - domain: dot-separated LDH labels (RFC 5321 section 4.1.2 sub-domain,
 *     a label at most 63 octets, RFC 1035 section 2.3.4), or an address
 *     literal [1.2.3.4] / [IPv6:...].  No trailing dot.
 *   - UTF-8 (RFC 6531, SMTPUTF8) is accepted in the local part and in domain
 *     labels when it is well-formed UTF-8 (no overlong forms, surrogates or
 *     C1 controls); the result is flagged ADDR_F_UTF8 so the caller knows
 *     the message needs SMTPUTF8.  U-labels are not checked against IDNA.
 *   - Limits, RFC 5321 section 4.5.3.1: local-part 64 octets, domain 255
 *     octets, path (with its angle brackets) 256 octets, hence a mailbox of
 *     at most 254 octets.
 */
#ifndef OUTPOST_MAIL_ADDR_H
#define OUTPOST_MAIL_ADDR_H

#include <stddef.h>

#include "util/err.h"

#define ADDR_LOCAL_MAX 64      /* RFC 5321 section 4.5.3.1.1 */
#define ADDR_DOMAIN_MAX 255    /* RFC 5321 section 4.5.3.1.2 */
#define ADDR_PATH_MAX 256      /* RFC 5321 section 4.5.3.1.3, with "<>" */
#define ADDR_MAILBOX_MAX (ADDR_PATH_MAX - 2)
#define ADDR_LABEL_MAX 63      /* RFC 1035 section 2.3.4 */
#define ADDR_NAME_MAX 256      /* a display name, octets (MIME_NAME_MAX) */

/* SMTP command parameters (RFC 5321 section 4.1.2 Mail-parameters): the
 * whole command line is bounded by section 4.5.3.1.4 (512 octets). */
#define ADDR_PARAMS_TEXT_MAX 512
#define ADDR_PARAMS_MAX 16

/* flags of struct addr_mailbox */
#define ADDR_F_UTF8 0x1        /* non-ASCII: needs SMTPUTF8 (RFC 6531) */
#define ADDR_F_QUOTED 0x2      /* the local part needs quotes */
#define ADDR_F_LITERAL 0x4     /* the domain is an address literal */

struct addr_mailbox {
	/* The normalised address, NUL-terminated: as given, except that a
	 * quoted local part that needs no quotes is written without them
	 * ("john"@x -> john@x) and a needed quoted string is written with
	 * only '"' and '\' escaped (RFC 5321 section 4.1.2: a Quoted-string
	 * SHOULD NOT be used unless necessary).  The case is kept. */
	char addr[ADDR_MAILBOX_MAX + 1];
	size_t local_len;      /* octets before the '@' */
	unsigned flags;        /* ADDR_F_* */
};

/*
 * Validate an envelope mailbox "local@domain" (no angle brackets, nothing
 * around it) and store its normalised form in *out.
 * Errors: ERR_DATA with a sentence that says what is wrong.
 */
int addr_parse_mailbox(const char *text, struct addr_mailbox *out,
    struct op_err *e);

/*
 * An address as people write it (RFC 5322 section 3.4 name-addr, the way
 * `outpost send`, POST /api/messages and a profile's `from` take it):
 *   "user@example.org", "<user@example.org>",
 *   "Display Name <user@example.org>", "\"Name, Jr.\" <user@example.org>"
 * The mailbox (between the last '<' and a final '>', or the whole text)
 * is checked by addr_parse_mailbox() into *mb.  The display name is what
 * comes before the '<', trimmed, without its surrounding double quotes
 * and the backslashes of quoted pairs; it is copied to name (namesz >
 * ADDR_NAME_MAX; "" when there is none).  It must be valid UTF-8 without
 * control characters (CR and LF included: it can never start a header
 * field) and at most ADDR_NAME_MAX octets.  Writing it into a header is
 * the composer's (mime_write_addr_header quotes or encodes it).
 * Errors: ERR_DATA with a sentence that says what is wrong.
 */
int addr_parse_display(const char *text, struct addr_mailbox *mb,
    char *name, size_t namesz, struct op_err *e);

/* The domain part of a parsed mailbox (points into mb->addr). */
const char *addr_domain(const struct addr_mailbox *mb);

/* 1 if two domains are equal ignoring ASCII case (UTF-8 octets compare
 * exactly; address literals compare as text), else 0. */
int addr_domain_equal(const char *a, const char *b);

/* 1 if two mailboxes are the same: local parts equal octet for octet
 * (RFC 5321 section 2.4: they are case-sensitive), domains per
 * addr_domain_equal(). */
int addr_mailbox_equal(const struct addr_mailbox *a,
    const struct addr_mailbox *b);

enum addr_path_kind {
	ADDR_PATH_REVERSE = 0, /* MAIL FROM: "<>" (the null path) allowed */
	ADDR_PATH_FORWARD = 1, /* RCPT TO: a mailbox is required */
};

struct addr_path {
	int is_null;                   /* "<>" */
	struct addr_mailbox mbox;      /* valid unless is_null */
	size_t nparams;
	/* Parameters, each "KEYWORD\0VALUE\0" in text; keyword and value
	 * offsets below.  Use addr_path_param*(), and copy the struct freely:
	 * it holds no pointers. */
	char text[ADDR_PARAMS_TEXT_MAX + 1];
	unsigned short key_off[ADDR_PARAMS_MAX];
	unsigned short val_off[ADDR_PARAMS_MAX];
	unsigned char has_val[ADDR_PARAMS_MAX];
};

/*
 * Parse the argument of MAIL FROM: or RCPT TO:, starting at the '<':
 *   "<user@example.org> SIZE=1234 BODY=8BITMIME"
 * The path must be in angle brackets; parameters follow after one or more
 * spaces, each esmtp-keyword ["=" esmtp-value] (RFC 5321 section 4.1.2;
 * values may hold UTF-8, RFC 6531 section 3.3).  A keyword may appear only
 * once.  Leading spaces are not skipped: the caller strips "MAIL FROM:".
 * Errors: ERR_DATA naming what is wrong.
 */
int addr_parse_path(const char *text, int kind, struct addr_path *out,
    struct op_err *e);

/* The i-th parameter's keyword (as given), and its value ("" if it had
 * none; see has_val).  i < p->nparams. */
const char *addr_path_param_key(const struct addr_path *p, size_t i);
const char *addr_path_param_value(const struct addr_path *p, size_t i);
/* The value of the parameter named key (ignoring case), or NULL if the
 * path has no such parameter; a parameter without "=" yields "". */
const char *addr_path_param(const struct addr_path *p, const char *key);

/*
 * allowed_from patterns: "local@domain" where either side may hold '*',
 * which matches any run of characters (none included) within that side:
 *   "*@example.com"          every sender at example.com
 *   "billing@example.com"    one sender
 *   "*@*.example.com"        any subdomain of example.com (not itself)
 * Matching ignores ASCII case on both sides (an allowed_from entry that
 * allows "billing" is meant to allow "Billing" too).  The address is
 * matched in the normalised form addr_parse_mailbox() gives.
 */
int addr_match_pattern(const char *pattern, const struct addr_mailbox *mb);

/* Check a pattern's syntax for the configuration loader: exactly one '@',
 * both sides non-empty, only atext, '.', and '*' on the left, only LDH,
 * '.', '*' and UTF-8 on the right.  Errors: ERR_DATA. */
int addr_pattern_valid(const char *pattern, struct op_err *e);

/*
 * A growable list of mailboxes with a bound on its length.  Owns its
 * array; addr_list_free() releases it.  A zeroed struct is an empty list
 * with no bound; addr_list_init() sets the bound.
 */
struct addr_list {
	struct addr_mailbox *v;
	size_t n;
	size_t cap;
	size_t max;            /* 0: no bound */
};

void addr_list_init(struct addr_list *l, size_t max);
void addr_list_free(struct addr_list *l);
/* Append a copy of mb; if unique is set, an equal mailbox already in the
 * list (addr_mailbox_equal) is not added again.  Errors: ERR_DATA when the
 * list is full. */
int addr_list_add(struct addr_list *l, const struct addr_mailbox *mb,
    int unique, struct op_err *e);

#endif
