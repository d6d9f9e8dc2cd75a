/*
 * mhd.h - GNU libmicrohttpd, loaded when the HTTP server starts.
 *
 * Only `outpost serve` runs the HTTP server, but libmicrohttpd brings
 * GnuTLS and its dependencies (nine libraries) with it; linking it into
 * the binary would make every short command (`outpost sendmail` above all)
 * pay about 2.5 ms of dynamic loading.  So the binary does not link it:
 * mhd_load() opens the library (the Debian package libmicrohttpd12) and
 * fills `mhd` with the few functions the server calls, through their real
 * prototypes from <microhttpd.h>.
 */
#ifndef OUTPOST_HTTP_MHD_H
#define OUTPOST_HTTP_MHD_H

#include <microhttpd.h>

#include "util/err.h"

#define MHD_SONAME "libmicrohttpd.so.12"

struct mhd_api {
	__typeof__(MHD_start_daemon) *start_daemon;
	__typeof__(MHD_stop_daemon) *stop_daemon;
	__typeof__(MHD_lookup_connection_value) *lookup_connection_value;
	__typeof__(MHD_get_connection_values) *get_connection_values;
	__typeof__(MHD_queue_response) *queue_response;
	__typeof__(MHD_suspend_connection) *suspend_connection;
	__typeof__(MHD_resume_connection) *resume_connection;
	__typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
	__typeof__(MHD_create_response_from_buffer_with_free_callback)
	    *create_response_from_buffer_with_free_callback;
	__typeof__(MHD_destroy_response) *destroy_response;
	__typeof__(MHD_add_response_header) *add_response_header;
};

/* Filled by mhd_load(); all NULL before. */
extern struct mhd_api mhd;

/* Load the library once (thread-safe; later calls return at once).
 * ERR_UNAVAILABLE naming the library and the package if it is missing. */
int mhd_load(struct op_err *e);

#endif
