/*
 * test_net.c - util/net.c: host texts (brackets, host:port), resolving
 * address literals without a lookup, and connecting over IPv6 loopback.
 * Nothing here leaves the machine: only literals, .invalid names and ::1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/net.h"

static void
test_host_bare(void **state)
{
	char b[64];

	(void)state;
	assert_string_equal(net_host_bare("[::1]", b, sizeof(b)), "::1");
	assert_ptr_equal(net_host_bare("[::1]", b, sizeof(b)), b);
	assert_string_equal(net_host_bare("[2001:db8::25]", b, sizeof(b)), "2001:db8::25");
	/* anything else is left alone */
	assert_string_equal(net_host_bare("::1", b, sizeof(b)), "::1");
	assert_string_equal(net_host_bare("mail.example.com", b, sizeof(b)), "mail.example.com");
	assert_string_equal(net_host_bare("[1.2.3.4]", b, sizeof(b)), "[1.2.3.4]");
	assert_string_equal(net_host_bare("[mail.example]", b, sizeof(b)), "[mail.example]");
	assert_string_equal(net_host_bare("[::1", b, sizeof(b)), "[::1");
	assert_string_equal(net_host_bare("[]", b, sizeof(b)), "[]");
	assert_string_equal(net_host_bare("", b, sizeof(b)), "");
	/* too long for dst: as it is (it would not be an address anyway) */
	assert_string_equal(net_host_bare("[::1]", b, 3), "[::1]");
}

/* One address: its family and numeric text. */
static void
expect_one(const char *host, int family, const char *text)
{
	struct addrinfo *res = NULL;
	struct op_err e;
	char a[64];

	err_clear(&e);
	if (net_resolve(host, "25", &res, &e) != 0)
		fail_msg("%s: %s", host, e.msg);
	assert_non_null(res);
	assert_null(res->ai_next);
	assert_int_equal(res->ai_family, family);
	assert_int_equal(res->ai_socktype, SOCK_STREAM);
	net_addr_text(res->ai_addr, a, sizeof(a));
	assert_string_equal(a, text);
	if (family == AF_INET6)
		assert_int_equal(ntohs(((struct sockaddr_in6 *)(void *)res->ai_addr)->sin6_port), 25);
	freeaddrinfo(res);
}

static void
test_resolve_literals(void **state)
{
	struct addrinfo *res = NULL;
	struct op_err e;

	(void)state;
	/* outpost.conf accepts host = [::1]: the brackets never reach
	 * getaddrinfo (which calls "[::1]" a name that does not exist) */
	expect_one("[::1]", AF_INET6, "::1");
	expect_one("::1", AF_INET6, "::1");
	expect_one("[2001:db8::25]", AF_INET6, "2001:db8::25");
	expect_one("127.0.0.1", AF_INET, "127.0.0.1");

	/* .invalid: no lookup, and the message names the host as written */
	assert_int_equal(net_resolve("smtp.example.invalid", "25", &res, &e), -1);
	assert_null(res);
	assert_int_equal(e.kind, ERR_UNAVAILABLE);
	assert_int_equal(e.sys, EAI_NONAME);
	assert_string_equal(e.msg, "the name smtp.example.invalid does not resolve "
	    "(.invalid names never exist)");
}

static void
test_split_hostport(void **state)
{
	char h[64], p[16];
	struct op_err e;

	(void)state;
	assert_int_equal(net_split_hostport("[::1]:2525", h, sizeof(h), p, sizeof(p), &e), 0);
	assert_string_equal(h, "::1");
	assert_string_equal(p, "2525");
	assert_int_equal(net_split_hostport("127.0.0.1:25", h, sizeof(h), p, sizeof(p), &e), 0);
	assert_string_equal(h, "127.0.0.1");
	assert_int_equal(net_split_hostport("[::1]2525", h, sizeof(h), p, sizeof(p), &e), -1);
	assert_string_equal(e.msg, "'[::1]2525' is not [address]:port");
	assert_int_equal(net_split_hostport("[::1]:0", h, sizeof(h), p, sizeof(p), &e), -1);
	assert_string_equal(e.msg, "'[::1]:0': port must be 1..65535");
	assert_true(net_spec_is_loopback("[::1]:25"));
	assert_true(net_spec_is_loopback("127.0.0.2:25"));
	assert_false(net_spec_is_loopback("[::]:25"));
}

/* A ::1 socket on an ephemeral port, listening or only bound. */
static int
v6_socket(int do_listen, char *port, size_t portsz)
{
	struct sockaddr_in6 sa;
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin6_family = AF_INET6;
	sa.sin6_addr = in6addr_loopback;
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (do_listen)
		assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(port, portsz, "%u", (unsigned)ntohs(sa.sin6_port));
	return fd;
}

/* Connect to "[::1]" as resolved: to a listener, and to a port that
 * refuses (ECONNREFUSED in e.sys, the address in the message). */
static void
test_connect_ipv6(void **state)
{
	struct addrinfo *res = NULL;
	struct op_err e;
	char port[16], want[64];
	int lfd, fd, afd;

	(void)state;
	lfd = v6_socket(1, port, sizeof(port));
	assert_int_equal(net_resolve("[::1]", port, &res, &e), 0);
	assert_int_equal(net_connect_addr(res, 2000, &fd, &e), 0);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(write(fd, "hi", 2), 2);
	{
		char got[3] = "";

		assert_int_equal(read(afd, got, 2), 2);
		assert_string_equal(got, "hi");
	}
	close(afd);
	close(fd);
	close(lfd);
	freeaddrinfo(res);

	lfd = v6_socket(0, port, sizeof(port));         /* bound, not listening */
	assert_int_equal(net_resolve("[::1]", port, &res, &e), 0);
	assert_int_equal(net_connect_addr(res, 2000, &fd, &e), -1);
	assert_int_equal(fd, -1);
	assert_int_equal(e.kind, ERR_UNAVAILABLE);
	assert_int_equal(e.sys, ECONNREFUSED);
	snprintf(want, sizeof(want), "connect to ::1: %s", strerror(ECONNREFUSED));
	assert_string_equal(e.msg, want);
	close(lfd);
	freeaddrinfo(res);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_bare),
		cmocka_unit_test(test_resolve_literals),
		cmocka_unit_test(test_split_hostport),
		cmocka_unit_test(test_connect_ipv6),
	};

	return cmocka_run_group_tests_name("net", tests, NULL, NULL);
}
