#include "http/mhd.h"

#include "util/dl.h"

struct mhd_api mhd;

/* The functions, by name and place in struct mhd_api. */
#define F(name, field) DL_SYM(struct mhd_api, name, field)
static const struct dl_sym funcs[] = {
	F("MHD_start_daemon", start_daemon),
	F("MHD_stop_daemon", stop_daemon),
	F("MHD_lookup_connection_value", lookup_connection_value),
	F("MHD_get_connection_values", get_connection_values),
	F("MHD_queue_response", queue_response),
	F("MHD_suspend_connection", suspend_connection),
	F("MHD_resume_connection", resume_connection),
	F("MHD_create_response_from_buffer", create_response_from_buffer),
	F("MHD_create_response_from_buffer_with_free_callback",
	    create_response_from_buffer_with_free_callback),
	F("MHD_destroy_response", destroy_response),
	F("MHD_add_response_header", add_response_header),
};
#undef F

static struct dl_lib lib = {
	.soname = MHD_SONAME, .package = "libmicrohttpd12",
	.minimum = "0.9.75", .syms = funcs, .nsyms = DL_COUNT(funcs),
	.api = &mhd, .api_size = sizeof(mhd), DL_STATE,
};

int
mhd_load(struct op_err *e)
{
	return dl_load(&lib, e);
}
