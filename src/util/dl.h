/*
 * dl.h - optional libraries, loaded with dlopen() on first use.
 *
 * Some libraries only a few commands need (libmicrohttpd, libcurl, libpq,
 * libopendkim) are not linked into the binary, so the short commands do
 * not pay for loading them.  Each module keeps its typed API struct (one
 * pointer a function, declared with __typeof__ of the real prototype) and
 * describes it with a struct dl_lib: the SONAME, the Debian package that
 * provides it, and a table of {symbol name, offset in the struct}.
 * dl_load() opens the library once (thread-safe; later calls return the
 * first outcome at once) and fills the struct, or leaves it all NULL and
 * fails with ERR_UNAVAILABLE naming the library and the package.
 */
#ifndef OUTPOST_UTIL_DL_H
#define OUTPOST_UTIL_DL_H

#include <pthread.h>
#include <stddef.h>

#include "util/err.h"

struct dl_sym {
	const char *name;      /* "PQexec" */
	size_t offset;         /* offsetof(struct pq_api, exec) */
};

#define DL_SYM(type, name, field) { name, offsetof(type, field) }
#define DL_COUNT(table) (sizeof(table) / sizeof((table)[0]))

struct dl_lib {
	const char *soname;    /* "libpq.so.5" */
	const char *package;   /* the Debian package: "libpq5" */
	const char *minimum;   /* its oldest version with every symbol: "14" */
	const char *purpose;   /* said after the package ("to use a PostgreSQL
	                        * database"), or NULL */
	const struct dl_sym *syms;
	size_t nsyms;
	void *api;             /* the module's API struct, filled */
	size_t api_size;
	/* Optional: run once after every symbol is found (the library's own
	 * initialisation); -1 filling e fails the load. */
	int (*start)(void *api, struct op_err *e);
	/* State, for dl_load() only: DL_STATE in the initialiser. */
	pthread_mutex_t lock;
	int tried;
	struct op_err err;
};

#define DL_STATE .lock = PTHREAD_MUTEX_INITIALIZER

/* Load l once (thread-safe): 0 with *l->api filled, or -1 with e filled
 * (ERR_UNAVAILABLE) and *l->api all NULL, the same at every call. */
int dl_load(struct dl_lib *l, struct op_err *e);

#endif
