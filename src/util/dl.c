/*
 * dl.c - optional libraries, loaded with dlopen() on first use (dl.h).
 */
#include "util/dl.h"

#include <dlfcn.h>
#include <string.h>

static int
open_lib(const struct dl_lib *l, struct op_err *e)
{
	void *h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);
	const char *why;
	size_t i;

	if (h == NULL) {
		why = dlerror();
		return err_set(e, ERR_UNAVAILABLE, "cannot load %s (%s): "
		    "install the Debian package %s%s%s", l->soname,
		    why != NULL ? why : "not found", l->package,
		    l->purpose != NULL ? " " : "",
		    l->purpose != NULL ? l->purpose : "");
	}
	for (i = 0; i < l->nsyms; i++) {
		void *sym = dlsym(h, l->syms[i].name);

		if (sym == NULL) {
			why = dlerror();
			return err_set(e, ERR_UNAVAILABLE, "%s lacks %s (%s): "
			    "install %s %s or newer", l->soname, l->syms[i].name,
			    why != NULL ? why : "missing", l->package, l->minimum);
		}
		/* dlsym's void * holds a function address (POSIX, XSH
		 * dlsym); it is copied into the typed pointer's place */
		memcpy((char *)l->api + l->syms[i].offset, &sym, sizeof(sym));
	}
	if (l->start != NULL && l->start(l->api, e) < 0) {
		e->kind = ERR_UNAVAILABLE;
		return -1;
	}
	return 0;
}

int
dl_load(struct dl_lib *l, struct op_err *e)
{
	int rc;

	pthread_mutex_lock(&l->lock);
	if (!l->tried) {
		l->tried = 1;
		memset(l->api, 0, l->api_size);
		if (open_lib(l, &l->err) < 0)
			memset(l->api, 0, l->api_size);
	}
	rc = l->err.kind != ERR_NONE ? -1 : 0;
	if (rc < 0 && e != NULL)
		*e = l->err;
	pthread_mutex_unlock(&l->lock);
	return rc;
}
