/*
 * cmd_suppressions.c - the suppression list from the command line:
 *   outpost suppressions list [--after ADDRESS] [--limit N] [--json]
 *   outpost suppressions delete ADDRESS
 *
 * An address refused for good with 5.1.1, 5.1.10 or 5.2.1 is on the list
 * ([server] suppress = yes): later messages to it fail at once for that
 * recipient ("suppressed").  Deleting it lets the next message through.
 * The store is opened directly, as `outpost queue` does.
 *
 * Exit codes: 0 ok; 64 usage; 66 the address is not on the list; 74/75
 * the queue cannot be used or is busy; 78 configuration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli/cli.h"
#include "queue/queue.h"
#include "util/buf.h"
#include "util/log.h"

#define SUPP_USAGE "suppressions list [--after ADDRESS] [--limit N] [--json]" \
	" | delete ADDRESS"
#define S_PREFIX "outpost suppressions: "

static int
s_fail(const char *what, const struct op_err *e)
{
	fprintf(stderr, S_PREFIX "%s: %s\n", what, e->msg);
	return e->kind != ERR_NONE ? e->kind : ERR_SOFTWARE;
}

static int
s_list(struct queue *q, const char *after, size_t limit, int json)
{
	struct queue_set set;
	struct op_err e;
	char a[QUEUE_ADDR_MAX], r[QUEUE_TEXT_MAX], at[32];
	size_t i;

	if (queue_supp_list(q, after, limit, &set, &e) < 0)
		return s_fail("cannot list suppressed addresses", &e);
	if (json) {
		json_t *arr = json_array();
		char *out;

		for (i = 0; i < set.nsupps; i++)
			json_array_append_new(arr, json_pack("{s:s,s:s?,s:I,s:s?}",
			    "address", set.supps[i].address, "reason",
			    set.supps[i].reason, "at", (json_int_t)set.supps[i].at,
			    "id", set.supps[i].id));
		out = json_dumps(arr, JSON_INDENT(2));
		json_decref(arr);
		if (out != NULL)
			printf("%s\n", out);
		free(out);
	} else if (set.nsupps == 0) {
		printf("no suppressed address\n");
	} else {
		for (i = 0; i < set.nsupps; i++) {
			time_t t = (time_t)set.supps[i].at;
			struct tm tm;

			gmtime_r(&t, &tm);
			strftime(at, sizeof(at), "%Y-%m-%d %H:%M", &tm);
			log_sanitize(a, sizeof(a), set.supps[i].address);
			log_sanitize(r, sizeof(r), set.supps[i].reason != NULL ?
			    set.supps[i].reason : "");
			printf("%-40s %s  %s  %s\n", a, at,
			    set.supps[i].id != NULL ? set.supps[i].id : "-", r);
		}
	}
	queue_set_free(&set);
	return 0;
}

int
cmd_suppressions(struct cli_ctx *ctx, int argc, char **argv)
{
	struct conf *conf = NULL;
	struct queue *q = NULL;
	struct op_err e;
	const char *sub, *after = NULL, *addr = NULL, *v;
	unsigned long limit = 100;
	int rc, i, json = 0;

	if (argc < 2)
		return cli_usage(SUPP_USAGE);
	sub = argv[1];
	if (strcmp(sub, "list") != 0 && strcmp(sub, "delete") != 0)
		return cli_usage(SUPP_USAGE);
	for (i = 2; i < argc; i++) {
		if (strcmp(sub, "list") == 0 && strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(sub, "list") == 0 &&
		    cli_option_value(argc, argv, &i, "--after", &v)) {
			if (v == NULL)
				return cli_usage(SUPP_USAGE);
			after = v;
		} else if (strcmp(sub, "list") == 0 &&
		    cli_option_value(argc, argv, &i, "--limit", &v)) {
			if (v == NULL || str_to_ulong(v, QUEUE_SUPP_LIST_MAX, &limit) < 0 ||
			    limit == 0)
				return cli_usage(SUPP_USAGE);
		} else if (strcmp(sub, "delete") == 0 && addr == NULL &&
		    argv[i][0] != '-')
			addr = argv[i];
		else
			return cli_usage(SUPP_USAGE);
	}
	if (strcmp(sub, "delete") == 0 && addr == NULL)
		return cli_usage(SUPP_USAGE);
	rc = cli_load_conf(ctx, &conf);
	if (rc != 0)
		return rc;
	if (queue_open_db(conf->server.data_dir, conf->server.database,
	    conf->server.node, 0, &q, &e) < 0) {
		rc = s_fail("cannot open the queue", &e);
		goto out;
	}
	if (strcmp(sub, "list") == 0) {
		rc = s_list(q, after, limit, json);
	} else if (queue_supp_delete(q, addr, &e) < 0) {
		rc = s_fail("cannot delete", &e);
	} else {
		char a[QUEUE_ADDR_MAX];

		log_sanitize(a, sizeof(a), addr);
		printf("%s is no longer suppressed\n", a);
		rc = 0;
	}
out:
	queue_close(q);
	conf_free(conf);
	return rc;
}
