/*
 * ini.h - one line of outpost.conf, taken apart; and values written back.
 *
 * The loader (conf.c) and the in-place editor (conf_edit.c) read the file
 * with the same lexer, so what the editor believes is a key is exactly
 * what the loader will read.
 *
 * A line is one of:
 *   blank             only white space
 *   comment           first non-blank byte is ';' or '#'
 *   [TYPE]            a section header; [TYPE ARG] with an argument
 *   KEY = VALUE       a setting
 * A ';' or '#' that follows white space starts a comment, also after a
 * header or a value.  A value that starts with a double quote runs to the
 * closing quote and keeps ';', '#' and spaces; inside it \" is a quote and
 * \\ a backslash (no other escapes).  An unquoted value is trimmed.
 *
 * Ownership: ini_parse_line() fills a struct ini_line whose strings it
 * allocates; ini_line_free() releases them.  The input line is not kept.
 */
#ifndef OUTPOST_CONFIG_INI_H
#define OUTPOST_CONFIG_INI_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

/* Longest line the loader accepts (bytes, without the line end). */
#define INI_LINE_MAX 4096

enum ini_kind {
	INI_BLANK = 0,
	INI_COMMENT,
	INI_SECTION,
	INI_KEY,
	INI_BAD,
};

struct ini_line {
	int kind;               /* enum ini_kind */
	char *name;             /* SECTION: the type; KEY: the key; BAD: the
	                         * first word of the line if any (for the
	                         * message), else NULL */
	char *arg;              /* SECTION: the argument or NULL; KEY: the
	                         * value, unquoted and unescaped */
	int quoted;             /* KEY: the value was written in quotes */
	size_t vstart, vend;    /* KEY: the value as written (quotes included)
	                         * is line[vstart, vend); SECTION: the header
	                         * is line[vstart, vend) */
	char why[160];          /* BAD: what is wrong, one phrase */
};

/*
 * Take one line apart (len bytes, no line end; a trailing CR is ignored).
 * Returns 0, or -1 for a line that is none of the above (kind INI_BAD,
 * why filled).  Lines longer than INI_LINE_MAX are INI_BAD.
 */
int ini_parse_line(const char *line, size_t len, struct ini_line *out);
void ini_line_free(struct ini_line *l);

/* 1 if a value must be written in quotes to read back the same: empty,
 * white space at either end, or a ';', '#', '"' anywhere. */
int ini_needs_quotes(const char *value);

/*
 * Append value to out the way the file writes it: as is, or in double
 * quotes with \" and \\ escaped when ini_needs_quotes() says so.  Fails
 * (ERR_CONFIG) for a value no line can hold: a control character other
 * than tab (CR and LF included).
 */
int ini_append_value(struct buf *out, const char *value, struct op_err *e);

/* 1 if s is a usable key or section type: [a-z0-9_]+, at most 64 bytes. */
int ini_is_name(const char *s);

#endif
