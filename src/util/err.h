/*
 * err.h - the one return convention of Outpost.
 *
 * Every fallible function returns int: 0 on success, -1 on failure.  A
 * function that returns a pointer returns NULL on failure.  On failure it
 * fills the struct op_err the caller passed (the caller may pass NULL when
 * it does not care why).  The kind is a sysexits.h value, so a command can
 * exit with err.kind directly; the message is one plain-language sentence
 * for a person, naming the cause and, where there is one, the fix.
 *
 * SMTP outcomes are a separate, three-valued thing: see smtp/reply.h.
 *
 * Ownership: struct op_err is a value; it owns no memory.
 */
#ifndef OUTPOST_UTIL_ERR_H
#define OUTPOST_UTIL_ERR_H

#include <stddef.h>

enum err_kind {
	ERR_NONE = 0,
	ERR_USAGE = 64,       /* EX_USAGE: bad command line */
	ERR_DATA = 65,        /* EX_DATAERR: bad message or address */
	ERR_NOINPUT = 66,     /* EX_NOINPUT: a named file cannot be read */
	ERR_UNAVAILABLE = 69, /* EX_UNAVAILABLE: cannot connect / resolve */
	ERR_SOFTWARE = 70,    /* EX_SOFTWARE: internal error */
	ERR_OSERR = 71,       /* EX_OSERR: out of memory, fork failed */
	ERR_IO = 74,          /* EX_IOERR: disk or socket I/O error */
	ERR_TEMP = 75,        /* EX_TEMPFAIL: temporary failure, retry later */
	ERR_PROTOCOL = 76,    /* EX_PROTOCOL: the peer broke the protocol */
	ERR_NOPERM = 77,      /* EX_NOPERM: authentication refused */
	ERR_CONFIG = 78,      /* EX_CONFIG: configuration error */
};

#define ERR_MSG_MAX 512

struct op_err {
	int kind;                /* enum err_kind */
	int sys;                 /* the module's detail code: errno for system
	                          * calls, EAI_* for name lookups, 0 if none */
	char msg[ERR_MSG_MAX];
};

/* Fill e (if not NULL) and return -1, so callers can write
 * `return err_set(e, ERR_IO, "...: %s", strerror(errno));`. */
int err_set(struct op_err *e, int kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix an existing message: "context: old message". Returns -1. */
int err_prefix(struct op_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void err_clear(struct op_err *e);

#endif
