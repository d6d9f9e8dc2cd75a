/*
 * cmd_oauth.c - `outpost oauth login PROFILE [--device] [--no-browser]`,
 * `outpost oauth status [PROFILE] [--json]`, `outpost oauth logout PROFILE`.
 *
 * login without --device: the authorization code flow with PKCE and a
 * loopback redirect.  A socket listens on 127.0.0.1 (a port the system
 * picks); the URL to open is printed (and handed to xdg-open when a
 * desktop is there, unless --no-browser); the provider sends the browser
 * back to http://127.0.0.1:PORT/ with code and state, which are checked
 * and traded for tokens (oauth/oauth.h).  With --device: the device code
 * flow, printing the code and the URL.
 */
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "oauth/oauth.h"
#include "util/buf.h"
#include "util/log.h"

#define LOGIN_REQUEST_MAX 8192
#define LOGIN_PARAM_MAX 4096

extern char **environ;

/* The value of name in the query q ("a=1&b=2"), percent-decoded. */
static int
query_get(const char *q, const char *name, char *dst, size_t dstsz)
{
	size_t nl = strlen(name), j = 0;
	const char *p = q;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
			p += nl + 1;
			while (*p != '\0' && *p != '&' && *p != ' ' && j + 1 < dstsz) {
				if (*p == '%' && p[1] != '\0' && p[2] != '\0') {
					char h[3] = { p[1], p[2], 0 };

					dst[j++] = (char)strtol(h, NULL, 16);
					p += 3;
				} else {
					dst[j++] = *p == '+' ? ' ' : *p;
					p++;
				}
			}
			dst[j] = '\0';
			return 1;
		}
		p = strchr(p, '&');
		if (p != NULL)
			p++;
	}
	dst[0] = '\0';
	return 0;
}

static void
reply_page(int fd, int ok, const char *text)
{
	char page[1024];
	int n = snprintf(page, sizeof(page), "HTTP/1.1 %s\r\nContent-Type: "
	    "text/html; charset=utf-8\r\nConnection: close\r\n\r\n<!doctype "
	    "html><title>Outpost</title><p>%s</p>\n", ok ? "200 OK" :
	    "400 Bad Request", text);

	if (n > 0)
		(void)send(fd, page, (size_t)n < sizeof(page) ? (size_t)n :
		    sizeof(page) - 1, MSG_NOSIGNAL);
}

static void
open_browser(const char *url)
{
	char *argv[] = { (char *)"xdg-open", (char *)url, NULL };
	pid_t pid;

	if (getenv("DISPLAY") == NULL && getenv("WAYLAND_DISPLAY") == NULL)
		return;
	if (posix_spawnp(&pid, "xdg-open", NULL, NULL, argv, environ) == 0)
		(void)waitpid(pid, NULL, WNOHANG);
}

static int
login_loopback(const struct conf *c, const struct conf_profile *p,
    int no_browser)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	char redirect[64], *url = NULL, req[LOGIN_REQUEST_MAX + 1];
	char state[LOGIN_PARAM_MAX], code[LOGIN_PARAM_MAX], error[256];
	char want[OAUTH_STATE_LEN + 1];
	char desc[512], name[CONF_NAME_MAX + 1];
	struct op_err e;
	time_t deadline = time(NULL) + OAUTH_PENDING_TTL_S;
	int lfd, rc = 75;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 8) < 0 || getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0) {
		fprintf(stderr, "outpost: cannot listen on 127.0.0.1 for the "
		    "sign-in's redirect: %s\n", strerror(errno));
		if (lfd >= 0)
			close(lfd);
		return 71;
	}
	snprintf(redirect, sizeof(redirect), "http://127.0.0.1:%u/",
	    (unsigned)ntohs(sa.sin_port));
	if (oauth_auth_start(p, redirect, "cli", &url, want, sizeof(want),
	    &e) < 0) {
		fprintf(stderr, "outpost: %s\n", e.msg);
		close(lfd);
		return e.kind;
	}
	printf("Open this address in a browser and sign in as %s:\n\n%s\n\n"
	    "Waiting for the sign-in (the browser comes back to %s)...\n",
	    p->username != NULL ? p->username : "the mailbox", url, redirect);
	fflush(stdout);
	if (!no_browser)
		open_browser(url);
	free(url);
	for (;;) {
		struct pollfd pf = { lfd, POLLIN, 0 };
		int left = (int)(deadline - time(NULL)), fd, n;
		size_t got = 0;
		char *q, *sp;

		if (left <= 0) {
			fprintf(stderr, "outpost: no sign-in came back within %d "
			    "minutes; run the command again\n",
			    OAUTH_PENDING_TTL_S / 60);
			break;
		}
		if (poll(&pf, 1, left * 1000) <= 0)
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		/* one request line is all we need */
		while (got < LOGIN_REQUEST_MAX) {
			struct pollfd rf = { fd, POLLIN, 0 };

			if (poll(&rf, 1, 10000) <= 0)
				break;
			n = (int)recv(fd, req + got, LOGIN_REQUEST_MAX - got, 0);
			if (n <= 0)
				break;
			got += (size_t)n;
			req[got] = '\0';
			if (strstr(req, "\r\n") != NULL)
				break;
		}
		req[got] = '\0';
		q = strncmp(req, "GET /", 5) == 0 ? strchr(req + 4, '?') : NULL;
		sp = q != NULL ? strchr(q, ' ') : NULL;
		if (q == NULL || sp == NULL || strchr(q, '\r') < sp) {
			reply_page(fd, 0, "Not an Outpost sign-in.");
			close(fd);
			continue;
		}
		*sp = '\0';
		query_get(q + 1, "state", state, sizeof(state));
		query_get(q + 1, "error", error, sizeof(error));
		query_get(q + 1, "error_description", desc, sizeof(desc));
		if ((!query_get(q + 1, "code", code, sizeof(code)) &&
		    error[0] == '\0') || strcmp(state, want) != 0) {
			/* not the redirect of this sign-in (another local
			 * program may knock on the port): it ends nothing */
			reply_page(fd, 0, "Not this Outpost sign-in.");
			close(fd);
			continue;
		}
		if (error[0] != '\0') {
			char shown[600];

			oauth_auth_abort(state, error, desc);
			reply_page(fd, 0, "The provider refused the sign-in; see the "
			    "terminal.");
			close(fd);
			log_sanitize(shown, sizeof(shown), desc[0] ? desc : error);
			fprintf(stderr, "outpost: the provider refused the sign-in: "
			    "%s\n", shown);
			rc = 77;
			break;
		}
		if (oauth_auth_complete(c, state, code, "cli", name, sizeof(name),
		    &e) < 0) {
			reply_page(fd, 0, "The sign-in failed; see the terminal.");
			close(fd);
			fprintf(stderr, "outpost: %s\n", e.msg);
			rc = e.kind;
			break;
		}
		reply_page(fd, 1, "Signed in. You can close this tab.");
		close(fd);
		printf("Signed in: profile %s can send mail.\n", p->name);
		rc = 0;
		break;
	}
	explicit_bzero(code, sizeof(code));
	close(lfd);
	return rc;
}

static void
show_device(void *arg, const char *uri, const char *user_code)
{
	char su[512], sc[64];

	(void)arg;
	log_sanitize(su, sizeof(su), uri);
	log_sanitize(sc, sizeof(sc), user_code);
	printf("To sign in, open %s and enter the code %s\n"
	    "Waiting for the sign-in...\n", su, sc);
	fflush(stdout);
}

static void
fmt_time(int64_t t, char *dst, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL) {
		str_copy(dst, n, "");
		return;
	}
	strftime(dst, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
status(const struct conf *c, const char *only, int as_json)
{
	json_t *arr = json_array();
	size_t i, shown = 0;
	int rc = 0;

	for (i = 0; i < c->nprofiles; i++) {
		const struct conf_profile *p = &c->profiles[i];
		struct oauth_status st;
		char when[32];

		if (only != NULL && strcmp(p->name, only) != 0)
			continue;
		if (p->auth != CONF_AUTH_OAUTH2) {
			if (only != NULL) {
				fprintf(stderr, "outpost: profile %s does not use auth = "
				    "oauth2\n", p->name);
				rc = 78;
			}
			continue;
		}
		shown++;
		oauth_status_get(p, &st);
		fmt_time(st.expires, when, sizeof(when));
		if (as_json) {
			json_t *o = json_object();

			json_object_set_new(o, "profile", json_string(p->name));
			json_object_set_new(o, "grant", json_string(st.grant));
			json_object_set_new(o, "signed_in", json_boolean(st.signed_in));
			json_object_set_new(o, "needs_signin",
			    json_boolean(st.needs_signin));
			json_object_set_new(o, "expires", when[0] ?
			    json_string(when) : json_null());
			json_object_set_new(o, "error", st.error[0] ?
			    json_string(st.error) : json_null());
			json_array_append_new(arr, o);
			continue;
		}
		printf("%s: %s (%s)%s%s\n", p->name, st.needs_signin ?
		    "needs sign-in" : st.signed_in ? "signed in" : "no token yet",
		    st.grant, when[0] ? ", access token until " : "", when);
		if (st.error[0] != '\0')
			printf("  last error: %s\n", st.error);
		if (st.needs_signin)
			printf("  sign in: outpost oauth login %s\n", p->name);
	}
	if (only != NULL && rc == 0 && shown == 0 &&
	    conf_profile_find(c, only) == NULL) {
		fprintf(stderr, "outpost: no profile %s\n", only);
		rc = 78;
	}
	if (as_json && rc == 0) {
		char *t = json_dumps(arr, JSON_INDENT(2));

		printf("%s\n", t != NULL ? t : "[]");
		free(t);
	} else if (!as_json && shown == 0 && only == NULL) {
		printf("no profile uses auth = oauth2\n");
	}
	json_decref(arr);
	return rc;
}

int
cmd_oauth(struct cli_ctx *ctx, int argc, char **argv)
{
	static const char usage[] = "oauth login PROFILE [--device] "
	    "[--no-browser] | status [PROFILE] [--json] | logout PROFILE";
	const struct conf_profile *p = NULL;
	const char *name = NULL, *sub;
	struct conf *c = NULL;
	struct op_err e;
	int device = 0, no_browser = 0, as_json = 0, i, rc;

	if (argc < 2)
		return cli_usage(usage);
	sub = argv[1];
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--device") == 0)
			device = 1;
		else if (strcmp(argv[i], "--no-browser") == 0)
			no_browser = 1;
		else if (strcmp(argv[i], "--json") == 0)
			as_json = 1;
		else if (argv[i][0] != '-' && name == NULL)
			name = argv[i];
		else
			return cli_usage(usage);
	}
	if (strcmp(sub, "status") != 0 && strcmp(sub, "login") != 0 &&
	    strcmp(sub, "logout") != 0)
		return cli_usage(usage);
	if (strcmp(sub, "status") != 0 && name == NULL)
		return cli_usage(usage);
	if ((rc = cli_load_conf(ctx, &c)) != 0)
		return rc;
	if (strcmp(sub, "status") == 0) {
		rc = status(c, name, as_json);
		goto out;
	}
	p = conf_profile_find(c, name);
	if (p == NULL || p->auth != CONF_AUTH_OAUTH2) {
		fprintf(stderr, "outpost: %s %s\n", p == NULL ? "no profile" :
		    "does not use auth = oauth2: profile", name);
		rc = 78;
		goto out;
	}
	if (strcmp(sub, "logout") == 0) {
		rc = oauth_logout(p, &e) < 0 ? e.kind : 0;
		if (rc != 0)
			fprintf(stderr, "outpost: %s\n", e.msg);
		else
			printf("Signed out: the tokens of profile %s are removed.\n",
			    p->name);
		goto out;
	}
	if (p->oauth_grant != CONF_GRANT_AUTHORIZATION_CODE) {
		fprintf(stderr, "outpost: profile %s uses oauth_grant = %s: no "
		    "sign-in is needed (Outpost gets its tokens itself)\n", p->name,
		    conf_grant_name(p->oauth_grant));
		rc = 78;
		goto out;
	}
	if (device) {
		rc = oauth_device_login(p, show_device, NULL, &e) < 0 ? e.kind : 0;
		if (rc != 0)
			fprintf(stderr, "outpost: %s\n", e.msg);
		else
			printf("Signed in: profile %s can send mail.\n", p->name);
		goto out;
	}
	rc = login_loopback(c, p, no_browser);
out:
	oauth_shutdown();
	conf_free(c);
	return rc;
}
