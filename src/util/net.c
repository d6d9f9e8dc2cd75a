#include "util/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"

int
net_split_hostport(const char *spec, char *host, size_t hostsz, char *port,
    size_t portsz, struct op_err *e)
{
	const char *colon, *h = spec;
	size_t hl;

	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');

		if (close == NULL || close[1] != ':')
			return err_set(e, ERR_CONFIG, "'%s' is not [address]:port", spec);
		h = spec + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL)
			return err_set(e, ERR_CONFIG, "'%s' has no port (write host:port)", spec);
		hl = (size_t)(colon - spec);
	}
	if (hl == 0 || hl >= hostsz)
		return err_set(e, ERR_CONFIG, "'%s' has no usable host", spec);
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (str_copy(port, portsz, colon + 1) < 0 || port[0] == '\0')
		return err_set(e, ERR_CONFIG, "'%s' has no usable port", spec);
	unsigned long p;
	if (str_to_ulong(port, 65535, &p) < 0 || p == 0)
		return err_set(e, ERR_CONFIG, "'%s': port must be 1..65535", spec);
	return 0;
}

static int
is_invalid_tld(const char *host)
{
	size_t n = strlen(host);

	while (n > 0 && host[n - 1] == '.')
		n--;
	if (n == 7 && strncasecmp(host, "invalid", 7) == 0)
		return 1;
	return n > 8 && strncasecmp(host + n - 8, ".invalid", 8) == 0;
}

const char *
net_host_bare(const char *host, char *dst, size_t dstsz)
{
	size_t n = strlen(host);
	struct in6_addr a6;

	if (n < 3 || host[0] != '[' || host[n - 1] != ']' || n - 2 >= dstsz)
		return host;
	memcpy(dst, host + 1, n - 2);
	dst[n - 2] = '\0';
	if (inet_pton(AF_INET6, dst, &a6) != 1)
		return host;
	return dst;
}

int
net_resolve(const char *host, const char *port, struct addrinfo **res,
    struct op_err *e)
{
	struct addrinfo hints;
	char bare[INET6_ADDRSTRLEN + 1];
	const char *name = net_host_bare(host, bare, sizeof(bare));
	int rc;

	*res = NULL;
	if (is_invalid_tld(name)) {
		err_set(e, ERR_UNAVAILABLE, "the name %s does not resolve (.invalid names never exist)", host);
		if (e != NULL)
			e->sys = EAI_NONAME;
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	/* an address literal first: no name service is asked, and no
	 * AI_ADDRCONFIG, which lists the host's addresses over netlink */
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(name, port, &hints, res) == 0)
		return 0;
	*res = NULL;
	hints.ai_flags = AI_ADDRCONFIG;
	rc = getaddrinfo(name, port, &hints, res);
	if (rc == EAI_ADDRFAMILY || rc == EAI_NONAME) {
		/* AI_ADDRCONFIG hides ::1/127.0.0.1 on hosts without other
		 * addresses; try once more without it. */
		hints.ai_flags = 0;
		rc = getaddrinfo(name, port, &hints, res);
	}
	if (rc != 0) {
		err_set(e, ERR_UNAVAILABLE, "the name %s does not resolve: %s", host,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		if (e != NULL)
			e->sys = rc;
		*res = NULL;
		return -1;
	}
	return 0;
}

void
net_addr_text(const struct sockaddr *sa, char *dst, size_t dstsz)
{
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, dst, (socklen_t)dstsz);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, dst, (socklen_t)dstsz);
	else
		str_copy(dst, dstsz, "?");
}

int
net_set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	return fcntl(fd, F_SETFL, fl) < 0 ? -1 : 0;
}

int64_t
clock_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
clock_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
clock_rfc5322(int64_t t, char *dst, size_t dstsz)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(dst, dstsz, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

void
clock_iso8601(int64_t t, char *dst, size_t dstsz)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(dst, dstsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int
rand_bytes(void *dst, size_t n, struct op_err *e)
{
	unsigned char *p = dst;

	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return err_set(e, ERR_OSERR, "no random bytes from the kernel: %s", strerror(errno));
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int
net_wait(int fd, short events, int64_t deadline_ms, struct op_err *e)
{
	struct pollfd pfd;
	int rc;

	for (;;) {
		int64_t left = deadline_ms - clock_mono_ms();

		if (left <= 0) {
			err_set(e, ERR_TEMP, "timed out");
			if (e != NULL)
				e->sys = ETIMEDOUT;
			return -1;
		}
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		rc = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			err_set(e, ERR_IO, "poll: %s", strerror(errno));
			if (e != NULL)
				e->sys = errno;
			return -1;
		}
		if (rc > 0)
			return 0;
	}
}

int
net_connect_addr(const struct addrinfo *ai, int timeout_ms, int *fd,
    struct op_err *e)
{
	char addr[INET6_ADDRSTRLEN];
	int s, one = 1, soerr = 0;
	socklen_t sl = sizeof(soerr);
	struct op_err we;

	*fd = -1;
	net_addr_text(ai->ai_addr, addr, sizeof(addr));
	s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (s < 0) {
		err_set(e, ERR_UNAVAILABLE, "socket for %s: %s", addr, strerror(errno));
		if (e != NULL)
			e->sys = errno;
		return -1;
	}
	net_set_nonblock(s, 1);
	if (connect(s, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			soerr = errno;
			goto fail;
		}
		if (net_wait(s, POLLOUT, clock_mono_ms() + timeout_ms, &we) < 0) {
			soerr = we.sys ? we.sys : ETIMEDOUT;
			goto fail;
		}
		if (getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			soerr = errno;
		if (soerr != 0)
			goto fail;
	}
	net_set_nonblock(s, 0);
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*fd = s;
	return 0;
fail:
	close(s);
	err_set(e, ERR_UNAVAILABLE, "connect to %s: %s", addr,
	    soerr == ETIMEDOUT ? "connection timed out" : strerror(soerr));
	if (e != NULL)
		e->sys = soerr;
	return -1;
}

int
net_spec_is_loopback(const char *spec)
{
	char host[256], port[16];

	if (net_split_hostport(spec, host, sizeof(host), port, sizeof(port), NULL) < 0)
		return 0;
	if (strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0)
		return 1;
	struct in_addr a;
	if (inet_pton(AF_INET, host, &a) == 1)
		return (ntohl(a.s_addr) >> 24) == 127;
	return 0;
}

int
net_listen(const char *spec, int backlog, int *fd, struct op_err *e)
{
	char host[256], port[16];
	struct addrinfo hints, *res = NULL, *ai;
	int s = -1, one = 1, rc, saved = 0;

	*fd = -1;
	if (net_split_hostport(spec, host, sizeof(host), port, sizeof(port), e) < 0)
		return -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0)
		return err_set(e, ERR_CONFIG, "cannot listen on %s: %s", spec, gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
		if (s < 0) {
			saved = errno;
			continue;
		}
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(s, ai->ai_addr, ai->ai_addrlen) == 0 && listen(s, backlog) == 0)
			break;
		saved = errno;
		close(s);
		s = -1;
	}
	freeaddrinfo(res);
	if (s < 0) {
		err_set(e, ERR_UNAVAILABLE, "cannot listen on %s: %s", spec, strerror(saved));
		if (e != NULL)
			e->sys = saved;
		return -1;
	}
	*fd = s;
	return 0;
}
