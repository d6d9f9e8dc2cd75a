#include "http/mhd.h"

#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <pthread.h>
#include <string.h>

struct mhd_api mhd;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[ERR_MSG_MAX];

/* The functions, by name and place in struct mhd_api. */
static const struct {
	const char *name;
	size_t offset;
} funcs[] = {
	{ "MHD_start_daemon", offsetof(struct mhd_api, start_daemon) },
	{ "MHD_stop_daemon", offsetof(struct mhd_api, stop_daemon) },
	{ "MHD_lookup_connection_value", offsetof(struct mhd_api, lookup_connection_value) },
	{ "MHD_get_connection_values", offsetof(struct mhd_api, get_connection_values) },
	{ "MHD_queue_response", offsetof(struct mhd_api, queue_response) },
	{ "MHD_suspend_connection", offsetof(struct mhd_api, suspend_connection) },
	{ "MHD_resume_connection", offsetof(struct mhd_api, resume_connection) },
	{ "MHD_create_response_from_buffer", offsetof(struct mhd_api, create_response_from_buffer) },
	{ "MHD_create_response_from_buffer_with_free_callback",
	  offsetof(struct mhd_api, create_response_from_buffer_with_free_callback) },
	{ "MHD_destroy_response", offsetof(struct mhd_api, destroy_response) },
	{ "MHD_add_response_header", offsetof(struct mhd_api, add_response_header) },
};

static void
load(void)
{
	struct mhd_api api;
	void *h = dlopen(MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
	const char *why;
	size_t i;

	if (h == NULL) {
		why = dlerror();
		snprintf(load_error, sizeof(load_error), "cannot load %s (%s): "
		    "install the Debian package libmicrohttpd12", MHD_SONAME,
		    why != NULL ? why : "not found");
		return;
	}
	memset(&api, 0, sizeof(api));
	for (i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++) {
		void *sym = dlsym(h, funcs[i].name);

		if (sym == NULL) {
			why = dlerror();
			snprintf(load_error, sizeof(load_error), "%s lacks %s (%s): "
			    "install libmicrohttpd12 0.9.75 or newer", MHD_SONAME,
			    funcs[i].name, why != NULL ? why : "missing");
			return;
		}
		/* dlsym's void * holds a function address (POSIX, XSH
		 * dlsym); it is copied into the typed pointer's place */
		memcpy((char *)&api + funcs[i].offset, &sym, sizeof(sym));
	}
	mhd = api;
}

int
mhd_load(struct op_err *e)
{
	pthread_once(&once, load);
	if (mhd.start_daemon == NULL)
		return err_set(e, ERR_UNAVAILABLE, "%s", load_error);
	return 0;
}
