/*
 * net.h - sockets with timeouts, name resolution, listening sockets, clocks.
 *
 * Failures fill op_err with kind ERR_UNAVAILABLE (resolve, connect) or
 * ERR_IO, and op_err.sys with the errno (or EAI_* for resolution), so a
 * caller can tell "connection refused" from "timed out".
 * Names under the special-use domain .invalid (RFC 6761 section 6.4) fail
 * to resolve without any lookup (sys = EAI_NONAME).
 * Sockets returned are owned by the caller (close them).
 */
#ifndef OUTPOST_UTIL_NET_H
#define OUTPOST_UTIL_NET_H

#include <netdb.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* "host:port", "[v6]:port" -> host, port.  Port required. */
int net_split_hostport(const char *spec, char *host, size_t hostsz,
    char *port, size_t portsz, struct op_err *e);

/* An IPv6 literal written in brackets, as outpost.conf allows ("[::1]"):
 * the address without them ("::1", copied to dst).  Anything else,
 * including brackets around what is not an IPv6 address, is returned as
 * it is.  The result is dst or host. */
const char *net_host_bare(const char *host, char *dst, size_t dstsz);

/* getaddrinfo for a TCP client; *res freed with freeaddrinfo().  host may
 * be a name, an address, or a bracketed IPv6 literal ("[::1]"). */
int net_resolve(const char *host, const char *port, struct addrinfo **res,
    struct op_err *e);

/* Connect to one address within timeout_ms; *fd is a blocking socket with
 * TCP_NODELAY set. sys = ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH, ... */
int net_connect_addr(const struct addrinfo *ai, int timeout_ms, int *fd,
    struct op_err *e);

/* Numeric text of an address ("127.0.0.1", "::1"). */
void net_addr_text(const struct sockaddr *sa, char *dst, size_t dstsz);

/* Listening TCP socket on "host:port" (non-blocking, SO_REUSEADDR). */
int net_listen(const char *spec, int backlog, int *fd, struct op_err *e);

/* 1 if "host:port" names only loopback (127.0.0.0/8, ::1, localhost). */
int net_spec_is_loopback(const char *spec);

int net_set_nonblock(int fd, int on);

/* Wait until fd is readable (events=POLLIN) or writable (POLLOUT) or the
 * deadline (monotonic ms) passes: 0 ready, -1 with sys=ETIMEDOUT or errno. */
int net_wait(int fd, short events, int64_t deadline_ms, struct op_err *e);

/* Monotonic milliseconds, and wall-clock seconds/milliseconds. */
int64_t clock_mono_ms(void);
int64_t clock_wall_ms(void);

/* RFC 5322 date ("Sun, 22 Nov 2026 11:00:00 +0000") for t (seconds). */
void clock_rfc5322(int64_t t, char *dst, size_t dstsz);
/* ISO 8601 UTC ("2026-11-22T11:00:00Z"). */
void clock_iso8601(int64_t t, char *dst, size_t dstsz);

/* Fill dst with n random bytes from the kernel (getrandom); -1 on failure. */
int rand_bytes(void *dst, size_t n, struct op_err *e);

#endif
