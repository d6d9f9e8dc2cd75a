/* relay/diag: the JSON of a report, choosing a profile, and the failures
 * that need no server (the peers are in tests/integration/test_check.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "relay/diag.h"
#include "util/buf.h"

static void
add(struct diag_report *r, const char *name, int status, const char *detail,
    const char *hint)
{
	struct diag_step *s = &r->steps[r->nsteps++];

	str_copy(s->step, sizeof(s->step), name);
	s->status = status;
	str_copy(s->detail, sizeof(s->detail), detail);
	str_copy(s->hint, sizeof(s->hint), hint);
	if (status == DIAG_FAILED)
		r->ok = 0;
}

static void
test_json_contract_shape(void **state)
{
	struct diag_report *r = calloc(1, sizeof(*r));
	json_t *j, *steps, *s;
	json_error_t jerr;
	const char *key;
	json_t *v;
	char *text;
	size_t i;
	(void)state;

	r->ok = 1;
	add(r, "resolve", DIAG_OK, "a \"quoted\" name\nand a line", "");
	add(r, "tls", DIAG_SKIPPED, "skipped: security = none", "");
	add(r, "certificate", DIAG_WARNING, "not verified", "tls_verify = no");
	add(r, "auth", DIAG_FAILED, "535 5.7.8 no", "check the password");
	text = diag_report_json_text(r, NULL);
	assert_non_null(text);
	j = json_loads(text, 0, &jerr);
	assert_non_null(j);
	assert_int_equal(json_object_size(j), 2);
	assert_true(json_is_false(json_object_get(j, "ok")));
	steps = json_object_get(j, "steps");
	assert_int_equal(json_array_size(steps), 4);
	json_array_foreach(steps, i, s) {
		assert_int_equal(json_object_size(s), 4);
		json_object_foreach(s, key, v) {
			assert_true(strcmp(key, "step") == 0 ||
			    strcmp(key, "ok") == 0 || strcmp(key, "detail") == 0
			    || strcmp(key, "hint") == 0);
		}
	}
	s = json_array_get(steps, 0);
	assert_string_equal(json_string_value(json_object_get(s, "detail")),
	    "a \"quoted\" name\nand a line");
	assert_true(json_is_null(json_object_get(s, "hint")));
	assert_true(json_is_true(json_object_get(s, "ok")));
	/* skipped and warning steps are ok; the warning keeps its hint */
	assert_true(json_is_true(json_object_get(json_array_get(steps, 1),
	    "ok")));
	s = json_array_get(steps, 2);
	assert_true(json_is_true(json_object_get(s, "ok")));
	assert_string_equal(json_string_value(json_object_get(s, "hint")),
	    "tls_verify = no");
	s = json_array_get(steps, 3);
	assert_true(json_is_false(json_object_get(s, "ok")));
	assert_string_equal(json_string_value(json_object_get(s, "step")),
	    "auth");
	json_decref(j);
	free(text);
	free(r);
}

static void
test_status_names(void **state)
{
	(void)state;
	assert_string_equal(diag_status_name(DIAG_OK), "ok");
	assert_string_equal(diag_status_name(DIAG_FAILED), "failed");
	assert_string_equal(diag_status_name(DIAG_SKIPPED), "skipped");
	assert_string_equal(diag_status_name(DIAG_WARNING), "warning");
	assert_string_equal(diag_status_name(99), "failed");
}

static void
init_profile(struct conf_profile *p, const char *name, int enabled)
{
	memset(p, 0, sizeof(*p));
	p->name = (char *)name;
	p->enabled = enabled;
	p->host = (char *)"127.0.0.1";
	p->port = 25;
	p->security = CONF_SEC_NONE;
	p->tls_verify = 1;
	p->timeout_s = 5;
}

static void
test_pick_profile(void **state)
{
	struct conf_profile ps[3];
	struct conf c;
	struct op_err e;
	(void)state;

	memset(&c, 0, sizeof(c));
	init_profile(&ps[0], "off", 0);
	init_profile(&ps[1], "alpha", 1);
	init_profile(&ps[2], "beta", 1);
	c.profiles = ps;
	c.nprofiles = 3;
	assert_ptr_equal(diag_profile(&c, NULL, &e), &ps[1]);
	assert_ptr_equal(diag_profile(&c, "off", &e), &ps[0]);
	assert_ptr_equal(diag_profile(&c, "beta", &e), &ps[2]);
	assert_null(diag_profile(&c, "gamma", &e));
	assert_int_equal(e.kind, ERR_CONFIG);
	assert_non_null(strstr(e.msg, "\"gamma\""));
	assert_non_null(strstr(e.msg, "off, alpha, beta"));

	c.nprofiles = 1;
	assert_null(diag_profile(&c, NULL, &e));
	assert_int_equal(e.kind, ERR_CONFIG);
	assert_non_null(strstr(e.msg, "no enabled profile"));
	assert_non_null(strstr(e.msg, "[profile NAME]"));

	c.nprofiles = 0;
	assert_null(diag_profile(&c, "x", &e));
	assert_non_null(strstr(e.msg, "no profile"));
}

/* A port on 127.0.0.1 where nothing listens. */
static unsigned
closed_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static const struct diag_step *
last_step(const struct diag_report *r)
{
	assert_true(r->nsteps > 0);
	return &r->steps[r->nsteps - 1];
}

static void
test_run_refused_and_unresolvable(void **state)
{
	struct diag_report *r = calloc(1, sizeof(*r));
	struct conf_profile p;
	struct op_err e;
	(void)state;

	init_profile(&p, "p", 1);
	p.port = closed_port();
	assert_int_equal(diag_run(&p, "localhost", r, &e), 0);
	assert_false(r->ok);
	assert_int_equal(r->kind, ERR_UNAVAILABLE);
	assert_string_equal(r->failed_step, "connect");
	assert_int_equal(last_step(r)->status, DIAG_FAILED);
	assert_non_null(strstr(last_step(r)->hint, "Nothing listens"));

	p.host = (char *)"no-such-host.invalid";
	assert_int_equal(diag_run(&p, "localhost", r, &e), 0);
	assert_false(r->ok);
	assert_int_equal(r->kind, ERR_UNAVAILABLE);
	assert_string_equal(r->failed_step, "resolve");
	assert_non_null(strstr(last_step(r)->hint, "does not resolve"));

	p.host = NULL;
	assert_int_equal(diag_run(&p, "localhost", r, &e), -1);
	assert_int_equal(e.kind, ERR_CONFIG);
	assert_false(r->ok);
	free(r);
}

static void
test_test_email_refuses_bad_requests(void **state)
{
	struct diag_send_result *res = calloc(1, sizeof(*res));
	struct conf_profile p;
	struct op_err e;
	(void)state;

	init_profile(&p, "p", 1);
	p.port = closed_port();
	p.from = (char *)"sender@example.com";

	/* an invalid recipient is refused before any connection */
	assert_int_equal(diag_test_email(&p, "localhost", "not-an-address",
	    res, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_non_null(strstr(e.msg, "not-an-address"));
	assert_int_equal(diag_test_email(&p, "localhost", "a%b@example.com",
	    res, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);

	/* the profile must have a sender */
	p.from = NULL;
	assert_int_equal(diag_test_email(&p, "localhost", "to@example.org",
	    res, &e), -1);
	assert_int_equal(e.kind, ERR_CONFIG);
	assert_non_null(strstr(e.msg, "from"));

	/* a valid request that cannot connect: 0, and the result says why */
	p.from = (char *)"sender@example.com";
	assert_int_equal(diag_test_email(&p, "localhost", "to@example.org",
	    res, &e), 0);
	assert_false(res->ok);
	assert_int_equal(res->kind, ERR_UNAVAILABLE);
	assert_string_equal(res->step, "connect");
	assert_string_equal(res->reply, "");
	assert_non_null(strstr(res->hint, "Nothing listens"));
	free(res);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_contract_shape),
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_pick_profile),
		cmocka_unit_test(test_run_refused_and_unresolvable),
		cmocka_unit_test(test_test_email_refuses_bad_requests),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
