/* util/dl: loading an optional library once, and what it says when the
 * library or one of its functions is missing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "util/dl.h"

struct m_api {
	__typeof__(cos) *cos_;
	__typeof__(sin) *sin_;
};

static struct m_api m;
static int starts;

static void
must_say(const struct op_err *e, const char *words)
{
	if (strstr(e->msg, words) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", e->msg, words);
}

static const struct dl_sym m_syms[] = {
	DL_SYM(struct m_api, "cos", cos_), DL_SYM(struct m_api, "sin", sin_),
};

static const struct dl_sym m_bad_syms[] = {
	DL_SYM(struct m_api, "cos", cos_),
	DL_SYM(struct m_api, "no_such_function_here", sin_),
};

static int
count_start(void *api, struct op_err *e)
{
	(void)api;
	(void)e;
	starts++;
	return 0;
}

static int
refuse_start(void *api, struct op_err *e)
{
	(void)api;
	return err_set(e, ERR_SOFTWARE, "the library did not initialise");
}

static void
test_loads_once(void **state)
{
	struct dl_lib l = {
		.soname = "libm.so.6", .package = "libc6", .minimum = "2.36",
		.syms = m_syms, .nsyms = DL_COUNT(m_syms), .api = &m,
		.api_size = sizeof(m), .start = count_start, DL_STATE,
	};
	struct op_err e;

	(void)state;
	starts = 0;
	assert_int_equal(dl_load(&l, &e), 0);
	assert_int_equal(dl_load(&l, NULL), 0);
	assert_int_equal(starts, 1);
	assert_non_null(m.cos_);
	assert_true(m.cos_(0.0) == 1.0);
}

static void
test_missing_library(void **state)
{
	struct dl_lib l = {
		.soname = "libnot-there.so.9", .package = "libnot-there9",
		.minimum = "1", .purpose = "to test", .syms = m_syms,
		.nsyms = DL_COUNT(m_syms), .api = &m, .api_size = sizeof(m),
		DL_STATE,
	};
	struct op_err e;

	(void)state;
	memset(&m, 0xff, sizeof(m));
	assert_int_equal(dl_load(&l, &e), -1);
	assert_int_equal(e.kind, ERR_UNAVAILABLE);
	must_say(&e, "cannot load libnot-there.so.9 (");
	must_say(&e, "install the Debian package libnot-there9 to test");
	assert_null(m.cos_);
	memset(&e, 0, sizeof(e));
	assert_int_equal(dl_load(&l, &e), -1);   /* the same, again */
	must_say(&e, "libnot-there9");
}

static void
test_missing_symbol(void **state)
{
	struct dl_lib l = {
		.soname = "libm.so.6", .package = "libc6", .minimum = "2.36",
		.syms = m_bad_syms, .nsyms = DL_COUNT(m_bad_syms), .api = &m,
		.api_size = sizeof(m), DL_STATE,
	};
	struct op_err e;

	(void)state;
	assert_int_equal(dl_load(&l, &e), -1);
	assert_int_equal(e.kind, ERR_UNAVAILABLE);
	must_say(&e, "libm.so.6 lacks no_such_function_here");
	must_say(&e, "install libc6 2.36 or newer");
	assert_null(m.cos_);               /* none half filled */
}

static void
test_start_refused(void **state)
{
	struct dl_lib l = {
		.soname = "libm.so.6", .package = "libc6", .minimum = "2.36",
		.syms = m_syms, .nsyms = DL_COUNT(m_syms), .api = &m,
		.api_size = sizeof(m), .start = refuse_start, DL_STATE,
	};
	struct op_err e;

	(void)state;
	assert_int_equal(dl_load(&l, &e), -1);
	assert_int_equal(e.kind, ERR_UNAVAILABLE);
	must_say(&e, "did not initialise");
	assert_null(m.cos_);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loads_once),
		cmocka_unit_test(test_missing_library),
		cmocka_unit_test(test_missing_symbol),
		cmocka_unit_test(test_start_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
