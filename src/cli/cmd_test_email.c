/*
 * cmd_test_email.c - `outpost test-email --to ADDR [--profile P]`: compose
 * a test message and send it now, synchronously, through the profile
 * (relay/diag.h: the same session code as the daemon).
 *
 * stdout: the server's final reply ("250 2.0.0 Ok: queued as ...") on the
 * first line, also when it refused; after a success, a line naming the
 * recipient, server and Message-ID.  stderr: what went wrong, and the hint.
 * Exit codes: 0 accepted; 64 usage; 65 a bad --to, or the recipient,
 * sender or message refused (5xx); 69 cannot connect; 75 temporary (4xx,
 * connection lost); 77 login refused; 78 configuration (no such profile,
 * no from address).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "relay/diag.h"
#include "util/log.h"

#define TEST_EMAIL_USAGE "test-email --to ADDR [--profile P]"


int
cmd_test_email(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct conf_profile *p;
	const char *to = NULL, *name = NULL, *v;
	struct diag_send_result res;
	struct conf *conf = NULL;
	struct op_err e;
	int rc, i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			printf("usage: outpost " TEST_EMAIL_USAGE "\n\n"
			    "Send a test email to ADDR now through profile P "
			    "(default: the first enabled\nprofile), from the "
			    "profile's `from` address, and print the server's "
			    "reply.\n\nExit codes: 0 accepted, 65 address or "
			    "message refused, 69 cannot connect,\n75 temporary "
			    "failure, 77 login refused, 78 configuration "
			    "error.\n");
			return 0;
		} else if (cli_option_value(argc, argv, &i, "--to", &v)) {
			if (v == NULL || v[0] == '\0') {
				fprintf(stderr, "outpost: test-email: --to "
				    "needs an address\n");
				return cli_usage(TEST_EMAIL_USAGE);
			}
			to = v;
		} else if (cli_option_value(argc, argv, &i, "--profile", &v)) {
			if (v == NULL || v[0] == '\0') {
				fprintf(stderr, "outpost: test-email: "
				    "--profile needs a profile name\n");
				return cli_usage(TEST_EMAIL_USAGE);
			}
			name = v;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "outpost: test-email: unknown option "
			    "%s\n", argv[i]);
			return cli_usage(TEST_EMAIL_USAGE);
		} else {
			fprintf(stderr, "outpost: test-email: unexpected "
			    "argument %s (the recipient goes after --to)\n",
			    argv[i]);
			return cli_usage(TEST_EMAIL_USAGE);
		}
	}
	if (to == NULL) {
		fprintf(stderr, "outpost: test-email: --to ADDR is required\n");
		return cli_usage(TEST_EMAIL_USAGE);
	}

	if (ctx->verbose == 0)
		log_set_level(LOG_WARN);
	rc = cli_load_conf(ctx, &conf);
	if (rc != 0)
		return rc;
	p = diag_profile(conf, name, &e);
	if (p == NULL) {
		fprintf(stderr, "outpost: test-email: %s\n", e.msg);
		rc = e.kind;
		goto out;
	}
	if (diag_test_email(p, conf->server.hostname, to, &res, &e) < 0) {
		fprintf(stderr, "outpost: test-email: %s\n", e.msg);
		rc = e.kind;
		goto out;
	}
	if (res.reply[0] != '\0')
		printf("%s\n", res.reply);
	if (res.ok) {
		printf("Test email to %s accepted by %s port %u (profile %s), "
		    "Message-ID %s\n", to, p->host, p->port, p->name,
		    res.message_id);
		rc = 0;
		goto out;
	}
	fprintf(stderr, "outpost: test-email: not sent (profile %s, %s port "
	    "%u, at %s): %s\n", p->name, p->host, p->port, res.step, res.msg);
	if (res.hint[0] != '\0')
		fprintf(stderr, "  hint: %s\n", res.hint);
	rc = res.kind;
out:
	fflush(stdout);
	conf_free(conf);
	return rc;
}
