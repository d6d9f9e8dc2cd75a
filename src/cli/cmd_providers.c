/*
 * cmd_providers.c - `outpost providers [--json]`: the provider presets
 * (config/providers.h) with what each fills and its help page; and
 * `outpost detect HOST [--ports P,...] [--json]`: which ports of a server
 * work and how (relay/detect.h).
 *
 * Exit codes: providers 0; detect 0 when a port works, 69 when none does,
 * 64 for a bad host or port list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "config/providers.h"
#include "relay/detect.h"
#include "util/log.h"

#define PROVIDERS_USAGE "providers [--json]"
#define DETECT_USAGE "detect HOST [--ports P,...] [--json]"

static int
print_json(json_t *j)
{
	char *text;

	if (j == NULL) {
		fprintf(stderr, "outpost: out of memory\n");
		return 71;
	}
	text = json_dumps(j, JSON_INDENT(2));
	json_decref(j);
	if (text == NULL) {
		fprintf(stderr, "outpost: out of memory\n");
		return 71;
	}
	printf("%s\n", text);
	free(text);
	return 0;
}

int
cmd_providers(struct cli_ctx *ctx, int argc, char **argv)
{
	static const char *const sec[] = { "none", "starttls", "tls" };
	const struct conf_provider *pv;
	int json = 0, i;
	size_t k;

	(void)ctx;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else {
			fprintf(stderr, "outpost: providers: unexpected argument "
			    "%s\n", argv[i]);
			return cli_usage(PROVIDERS_USAGE);
		}
	}
	if (json)
		return print_json(conf_providers_json());
	for (k = 0; (pv = conf_provider_at(k)) != NULL; k++) {
		char regions[512];

		if (pv->host == NULL) {
			printf("%s (%s): nothing filled; write host, port, "
			    "security and the login yourself\n", pv->name,
			    pv->label);
			continue;
		}
		conf_provider_region_names(pv, regions, sizeof(regions));
		printf("%s (%s)\n  fills: host = %s, port = %u, security = %s, "
		    "auth = %s%s%s%s%s\n", pv->name, pv->label, pv->host,
		    pv->port, sec[pv->security], pv->auth == CONF_AUTH_OAUTH2 ?
		    "oauth2" : "yes", pv->username != NULL ? ", username = " : "",
		    pv->username != NULL ? pv->username : "",
		    pv->limits != NULL ? ", limits = " : "",
		    pv->limits != NULL ? pv->limits : "");
		if (regions[0] != '\0')
			printf("  region = %s (default %s)\n", regions,
			    pv->regions[0].name);
		if (pv->token_url != NULL)
			printf("  also: auth = oauth2 (endpoints filled)\n");
		printf("  %s\n  help: %s\n", pv->hint, pv->url);
		if (pv->limits_url != NULL)
			printf("  limits: %s\n", pv->limits_url);
	}
	return 0;
}

int
cmd_detect(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *host = NULL, *ports_arg = NULL;
	unsigned ports[DETECT_PORTS_MAX];
	size_t nports = 0, k;
	struct detect_report *rep = NULL;
	struct op_err e;
	int json = 0, i, rc;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (cli_option_value(argc, argv, &i, "--ports", &ports_arg)) {
			if (ports_arg == NULL)
				return cli_usage(DETECT_USAGE);
		} else if (argv[i][0] == '-' || host != NULL) {
			fprintf(stderr, "outpost: detect: unexpected argument %s\n",
			    argv[i]);
			return cli_usage(DETECT_USAGE);
		} else {
			host = argv[i];
		}
	}
	if (host == NULL)
		return cli_usage(DETECT_USAGE);
	if (ports_arg != NULL && detect_parse_ports(ports_arg, ports, &nports,
	    &e) < 0) {
		fprintf(stderr, "outpost: detect: %s\n", e.msg);
		return cli_usage(DETECT_USAGE);
	}
	if (ctx->verbose == 0)
		log_set_level(LOG_ERROR);
	rep = malloc(sizeof(*rep));
	if (rep == NULL)
		return 71;
	if (detect_run(host, nports ? ports : NULL, nports, NULL, rep, &e) < 0) {
		fprintf(stderr, "outpost: detect: %s\n", e.msg);
		free(rep);
		return e.kind;
	}
	rc = rep->best >= 0 ? 0 : ERR_UNAVAILABLE;
	if (json) {
		int jrc = print_json(detect_to_json(rep));

		free(rep);
		return jrc != 0 ? jrc : rc;
	}
	for (k = 0; k < rep->nports; k++) {
		const struct detect_port *dp = &rep->ports[k];

		printf("port %-5u %-4s %s\n", dp->port, dp->works ? "ok" : "FAIL",
		    dp->detail);
		if (dp->cert[0] != '\0')
			printf("           certificate: %s\n", dp->cert);
		if (dp->works)
			printf("           AUTH offered: %s\n", dp->mechs[0] ?
			    dp->mechs : "none");
	}
	printf("%s: %s\n", rep->best >= 0 ? "use" : "nothing works",
	    rep->proposal);
	free(rep);
	return rc;
}
