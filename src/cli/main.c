/*
 * main.c - `outpost [-c FILE] [-v] COMMAND [ARGS]`, and `sendmail ...` when
 * the binary is called by that name.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "util/log.h"

struct command {
	const char *name;
	int (*run)(struct cli_ctx *, int, char **);
	const char *usage;
	const char *help;
};

static const struct command commands[] = {
	{ "serve", cmd_serve, "serve",
	  "run the daemon: SMTP listener, web page and API, delivery" },
	{ "check", cmd_check, "check [PROFILE] [--json]",
	  "diagnose a profile step by step without sending mail" },
	{ "test-email", cmd_test_email, "test-email --to ADDR [--profile P]",
	  "send a test email now and print the server's reply" },
	{ "send", cmd_send,
	  "send --from A --to B [--cc C] [--bcc D] --subject S [--text FILE] [--html FILE]\n"
	  "               [--attach FILE]... [--header \"K: V\"]... [--profile P] [--now]",
	  "compose a message, queue it and print its id" },
	{ "sendmail", cmd_sendmail, "sendmail [-t] [-i] [-f ADDR] [-F NAME] [RCPT...]",
	  "sendmail-compatible: queue the message on standard input" },
	{ "queue", cmd_queue, "queue list [--status S] | show ID | retry ID | delete ID",
	  "list and manage queued messages" },
	{ "suppressions", cmd_suppressions, "suppressions list [--json] | delete ADDRESS",
	  "addresses refused for good, not tried again" },
	{ "config", cmd_config, "config check | show",
	  "validate the settings, or print them with secrets masked" },
	{ "providers", cmd_providers, "providers [--json]",
	  "list the provider presets, what each fills, and their help pages" },
	{ "detect", cmd_detect, "detect HOST [--ports P,...] [--json]",
	  "try a server's SMTP ports and TLS, and propose the settings" },
	{ "dkim", cmd_dkim, "dkim keygen DOMAIN --selector S [--type rsa|ed25519] "
	  "[--bits N]\n               [--out PATH]",
	  "make a DKIM key and print the DNS record to publish" },
	{ "oauth", cmd_oauth, "oauth login PROFILE [--device] [--no-browser] | "
	  "status [PROFILE] [--json]\n               | logout PROFILE",
	  "sign a profile in with OAuth2, show its tokens' state, sign out" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
print_help(FILE *f)
{
	size_t i;

	fprintf(f, "usage: outpost [-c FILE] [-v] COMMAND [ARGS]\n"
	    "       outpost --help | --version\n\n"
	    "Outpost is an outgoing-mail relay for applications.\n\n"
	    "Options:\n"
	    "  -c FILE     settings file (default: $OUTPOST_CONFIG, ./outpost.conf,\n"
	    "              /etc/outpost/outpost.conf, else built-in defaults)\n"
	    "  -v          more log detail (repeat for debug)\n\n"
	    "Commands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-11s %s\n      outpost %s\n", commands[i].name,
		    commands[i].help, commands[i].usage);
	fprintf(f, "\nExit codes: 0 ok, 64 usage, 65 bad data, 69 unavailable, "
	    "75 temporary failure,\n77 authentication refused, 78 configuration error.\n");
}

int
cli_usage(const char *line)
{
	fprintf(stderr, "outpost: usage: outpost %s\n", line);
	return 64;
}

int
main(int argc, char **argv)
{
	struct cli_ctx ctx = { NULL, 0, "outpost" };
	const char *base = strrchr(argv[0], '/');
	int i;
	size_t c;

	base = base != NULL ? base + 1 : argv[0];
	if (strcmp(base, "sendmail") == 0 || strcmp(base, "mailq") == 0) {
		argv[0] = (char *)"sendmail";
		return cmd_sendmail(&ctx, argc, argv);
	}

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			print_help(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
			printf("outpost %s\n", OUTPOST_VERSION);
			return 0;
		} else if (strcmp(argv[i], "-c") == 0) {
			if (i + 1 >= argc)
				return cli_usage("[-c FILE] [-v] COMMAND [ARGS] (-c needs a file)");
			ctx.config_path = argv[++i];
		} else if (strncmp(argv[i], "-c", 2) == 0) {
			ctx.config_path = argv[i] + 2;
		} else if (strspn(argv[i] + 1, "v") == strlen(argv[i] + 1)) {
			ctx.verbose += (int)strlen(argv[i] + 1);
		} else {
			fprintf(stderr, "outpost: unknown option %s\n", argv[i]);
			return cli_usage("[-c FILE] [-v] COMMAND [ARGS]  (see outpost --help)");
		}
	}
	if (i >= argc)
		return cli_usage("[-c FILE] [-v] COMMAND [ARGS]  (see outpost --help)");
	if (ctx.verbose > 0)
		log_set_level(ctx.verbose > 1 ? LOG_DEBUG : LOG_DEBUG);
	for (c = 0; c < NCOMMANDS; c++)
		if (strcmp(argv[i], commands[c].name) == 0)
			return commands[c].run(&ctx, argc - i, argv + i);
	if (strcmp(argv[i], "help") == 0) {
		print_help(stdout);
		return 0;
	}
	fprintf(stderr, "outpost: unknown command '%s'\n", argv[i]);
	return cli_usage("[-c FILE] [-v] COMMAND [ARGS]  (see outpost --help)");
}
