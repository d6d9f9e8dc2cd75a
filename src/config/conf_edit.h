/*
 * conf_edit.h - editing outpost.conf in place, for the web page and the API.
 *
 * The editor works on the lines of the file, not on a struct conf: every
 * line it does not have to change is written back byte for byte, so
 * comments, blank lines, the order of keys and sections and commented-out
 * examples all survive.  It reads lines with the same lexer as the loader
 * (ini.h), so what it takes for a key is what conf_load() reads.
 *
 * A typical save:
 *
 *     conf_doc_load(path, &d, e);
 *     conf_edit_set(d, "profile primary", "host", "smtp.example.com", e);
 *     conf_doc_text(d, &text, e);
 *     conf_load_text(path, text.data, text.len, &c, &diag, e);   (check)
 *     conf_doc_save(d, path, e);
 *
 * Sections are named as their header without brackets: "server",
 * "redirect", "profile NAME", "client NAME", "report ADDRESS".
 *
 * Where things go:
 * - A key that is set again keeps its place, its indentation and the
 *   comment after it; only the value is replaced.  A new key goes after the
 *   last key of its section.  A value is written in double quotes when it
 *   would not read back the same otherwise (empty, white space at an end,
 *   or a ';', '#' or '"' in it).
 * - A new section goes after the last section of the same type, or at the
 *   end of the file, after a blank line.
 * - A section owns the comment lines directly above its header (no blank
 *   line between): they describe it, so deleting the section deletes
 *   them, and reordering profiles moves them along.  It also owns the
 *   lines after its header up to the next section's own comments;
 *   blank lines at the end of that stretch stay in place when profiles
 *   are reordered, so the spacing of the file does not change.
 *
 * Every function returns 0, or -1 with op_err: ERR_CONFIG for a bad
 * section name, key or value (the message says why, without file or
 * line), ERR_NOINPUT for a section that does not exist where one must,
 * ERR_DATA for an edit that would make the text larger than
 * CONF_FILE_MAX, ERR_IO for a failed save.  A failed edit leaves the
 * document as it was.
 *
 * Ownership: struct conf_doc is opaque; the caller frees it with
 * conf_doc_free().  It holds no secret other than what the file holds.
 */
#ifndef OUTPOST_CONFIG_CONF_EDIT_H
#define OUTPOST_CONFIG_CONF_EDIT_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

struct conf_doc;

/* The document for text (len bytes; may be empty).  ERR_CONFIG if the
 * text holds a NUL byte (the loader refuses such a line too). */
int conf_doc_parse(const char *text, size_t len, struct conf_doc **out,
    struct op_err *e);
/* The document for the file at path; ERR_NOINPUT (sys = errno) if it
 * cannot be read, so a caller can start from an empty one on ENOENT. */
int conf_doc_load(const char *path, struct conf_doc **out, struct op_err *e);
void conf_doc_free(struct conf_doc *d);

/* The text of the document, appended to out (line ends as the file had
 * them: CRLF if its first line ended so, else LF; always a final one). */
int conf_doc_text(const struct conf_doc *d, struct buf *out, struct op_err *e);

/* 1 if the section exists. */
int conf_doc_has_section(const struct conf_doc *d, const char *section);

/* Set key = value in section; the section is added if it is missing.  The
 * key must belong to the section and the value must be valid for it
 * (conf_check_value()). */
int conf_edit_set(struct conf_doc *d, const char *section, const char *key,
    const char *value, struct op_err *e);
/* Remove key from section (every occurrence).  *removed (if not NULL) is
 * set to the number of lines removed; a missing key or section is not an
 * error. */
int conf_edit_unset(struct conf_doc *d, const char *section, const char *key,
    size_t *removed, struct op_err *e);
/* Add an empty section; ERR_CONFIG if it exists already. */
int conf_edit_add_section(struct conf_doc *d, const char *section,
    struct op_err *e);
/* Delete a section with its keys and the comments directly above it. */
int conf_edit_delete_section(struct conf_doc *d, const char *section,
    struct op_err *e);
/* [profile from] becomes [profile to]; ERR_CONFIG if to exists or is not
 * a valid name, ERR_NOINPUT if from does not exist. */
int conf_edit_rename_profile(struct conf_doc *d, const char *from,
    const char *to, struct op_err *e);
/* Put the [profile] sections in the order of names (each profile exactly
 * once).  Profile blocks move into the places profile blocks held; other
 * sections stay where they are. */
int conf_edit_order_profiles(struct conf_doc *d, const char *const *names,
    size_t n, struct op_err *e);

/*
 * Write the document to path atomically: a temporary file in the same
 * directory, with the mode (and, where allowed, the owner) of the file it
 * replaces, or 0600 for a new file; never readable by group or others
 * when it holds a password or api_token.  The temporary file is fsynced,
 * renamed over path (over the target if path is a symbolic link) and the
 * directory is fsynced.  On failure path is unchanged.
 */
int conf_doc_save(const struct conf_doc *d, const char *path, struct op_err *e);

#endif
