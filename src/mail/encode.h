/*
 * encode.h - the encodings a composed message needs: UTF-8 checks, base64
 * (RFC 2045 section 6.8), quoted-printable (RFC 2045 section 6.7), RFC 2047
 * encoded-words, and a header writer that folds lines (RFC 5322 section
 * 2.2.3) and quotes or encodes display names.
 *
 * Output always goes to a caller's struct buf and is appended: a function
 * that fails may have appended part of its output (the caller throws the
 * buffer away); growing past the buffer's max fails with ERR_DATA.
 * Every line written ends with CRLF.  Nothing here allocates otherwise.
 */
#ifndef OUTPOST_MAIL_ENCODE_H
#define OUTPOST_MAIL_ENCODE_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

#define ENC_LINE_MAX 998       /* RFC 5322 section 2.1.1: MUST, without CRLF */
#define ENC_FOLD_COL 78        /* RFC 5322 section 2.1.1: SHOULD */
#define ENC_B64_LINE 76        /* RFC 2045 section 6.8 */
#define ENC_QP_LINE 76         /* RFC 2045 section 6.7 rule (5) */
#define ENC_WORD_MAX 75        /* RFC 2047 section 2 */

/* Length of the well-formed UTF-8 sequence at s (1..4), storing its code
 * point in *cp (may be NULL); 0 if the octets at s are not well-formed
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF) or
 * n == 0. */
size_t enc_utf8_char(const unsigned char *s, size_t n, unsigned long *cp);
/* 1 if all n octets are well-formed UTF-8. */
int enc_utf8_valid(const void *s, size_t n);
/* 1 if all n octets are below 0x80. */
int enc_is_ascii(const void *s, size_t n);

/* Base64 of n octets.  wrap != 0: lines of 76 characters, each ended by
 * CRLF (the last one too; nothing at all for n == 0).  wrap == 0: one run
 * of characters, no line end. */
int enc_base64(struct buf *out, const void *data, size_t n, int wrap,
    struct op_err *e);
/* Decode base64 text; whitespace (SP, HT, CR, LF) is skipped, anything
 * else outside the alphabet, misplaced '=' or a length that is not a
 * multiple of 4 is ERR_DATA. */
int enc_base64_decode(struct buf *out, const char *text, size_t n,
    struct op_err *e);

/* Quoted-printable of text: LF and CRLF line breaks become CRLF hard line
 * breaks, a lone CR is =0D, '=' and octets outside 33..126 are =XX, space
 * and tab are kept except at the end of a line, output lines have at most
 * 76 characters (soft breaks "=" CRLF).  If the data does not end with a
 * line break, neither does the output. */
int enc_qp(struct buf *out, const void *data, size_t n, struct op_err *e);

/* 1 if text may stand in a header as it is: printable ASCII (and SP, HT),
 * no "=?" that a reader would take for an encoded-word. */
int enc_header_text_plain(const char *s, size_t n);

/*
 * The header writer.  A field is started with enc_fold_begin(), which
 * writes "Name:", then filled with pieces, and ended with enc_fold_end(),
 * which writes CRLF.  A piece is never split; a piece "with space" is
 * written after one SP, and that SP is where the line is folded (CRLF SP)
 * when the piece would pass column 78.  A line is never folded before the
 * first piece.  A line that cannot be kept within 998 characters is
 * ERR_DATA.
 */
struct enc_fold {
	struct buf *out;
	size_t col;            /* characters on the current line */
	size_t start;          /* col right after "Name:" */
	size_t pieces;         /* pieces written so far */
};

/* Errors: ERR_DATA when name is not a valid field name (RFC 5322 section
 * 3.6.8: printable ASCII except ':', at most 76 characters). */
int enc_fold_begin(struct enc_fold *f, struct buf *out, const char *name,
    struct op_err *e);
int enc_fold_piece(struct enc_fold *f, const char *p, size_t n, int space,
    struct op_err *e);
int enc_fold_end(struct enc_fold *f, struct op_err *e);

/*
 * Unstructured text (Subject, X-*), without its leading and trailing
 * whitespace: written as it is, folded at its own
 * whitespace, when enc_header_text_plain() says it may be and no word is
 * too long for a line; otherwise as RFC 2047 encoded-words (UTF-8, Q or B,
 * whichever is shorter; each at most 75 characters; a UTF-8 sequence is
 * never split between two words).  The text must be well-formed UTF-8
 * without control characters other than HT: CR, LF, NUL and the rest are
 * ERR_DATA, so header text can never start a new field.
 */
int enc_fold_text(struct enc_fold *f, const char *text, struct op_err *e);

/* RFC 2047 encoded-words for n octets of UTF-8 text, as pieces (the first
 * with space = space, the rest folded between).  Q-encoded words use only
 * the characters RFC 2047 section 5 (3) allows in a phrase, so the words
 * are valid in a display name as well as in unstructured text. */
int enc_fold_words(struct enc_fold *f, const char *text, size_t n, int space,
    struct op_err *e);

/*
 * A display name (RFC 5322 section 3.4), as pieces: plain atoms when it is
 * ASCII atext words separated by single spaces, a quoted-string when it is
 * other ASCII, RFC 2047 encoded-words when it holds non-ASCII (or "=?").
 * Errors: ERR_DATA for invalid UTF-8 or control characters (CR, LF...).
 */
int enc_fold_phrase(struct enc_fold *f, const char *name, int space,
    struct op_err *e);

/* Check a display name or header text without writing it: ERR_DATA for
 * invalid UTF-8 or control characters other than HT (what enc_fold_text
 * and enc_fold_phrase refuse); what names the field in the message. */
int enc_check_text(const char *text, const char *what, struct op_err *e);

#endif
