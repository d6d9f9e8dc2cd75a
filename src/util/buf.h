/*
 * buf.h - bounded growable byte buffers.
 *
 * Every buffer has a named maximum (curl's dynbuf): growing past it fails
 * with ERR_DATA and leaves the contents as they were.  The buffer owns its
 * memory; buf_free() releases it.  Contents are always NUL-terminated
 * (the NUL is not counted in len) so text can be used as a C string.
 */
#ifndef OUTPOST_UTIL_BUF_H
#define OUTPOST_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "util/err.h"

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;     /* largest len allowed */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);                 /* len = 0, memory kept */
int buf_append(struct buf *b, const void *p, size_t n, struct op_err *e);
int buf_appendstr(struct buf *b, const char *s, struct op_err *e);
int buf_printf(struct buf *b, struct op_err *e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int buf_vprintf(struct buf *b, struct op_err *e, const char *fmt, va_list ap);
/* Remove the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Hand the memory to the caller (who frees it); the buffer is emptied. */
char *buf_detach(struct buf *b, size_t *len);

/* Small string helpers used everywhere. */
/* Copy at most dstsz-1 bytes and NUL-terminate; returns -1 if truncated. */
int str_copy(char *dst, size_t dstsz, const char *src);
char *str_dup(const char *s);                  /* aborts on OOM */
char *str_ndup(const char *s, size_t n);       /* aborts on OOM */
void *mem_alloc(size_t n);                     /* zeroed; aborts on OOM */
void *mem_realloc(void *p, size_t n);          /* aborts on OOM */
int str_casecmp_prefix(const char *s, const char *prefix); /* 1 if s starts with prefix, ignoring case */
char *str_trim(char *s);                       /* in place, both ends */
/* Parse a non-negative decimal integer (the whole string), no atoi. */
int str_to_ulong(const char *s, unsigned long max, unsigned long *out);

#endif
