/*
 * cmd_config.c - `outpost config check` and `outpost config show`.
 *
 *   check   load and validate the settings; print "FILE: ok" and any
 *           warnings, or every problem found (exit 78)
 *   show    print the effective settings (defaults filled in, secrets
 *           shown as ********) in the file's own format
 *
 * Problems and warnings go to stderr, the result to stdout.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "config/conf.h"
#include "queue/queue.h"
#include "relay/cluster_conf.h"
#include "util/buf.h"

#define CONFIG_USAGE "config check | show"
#define DIAG_MAX (64 * 1024)
#define SHOW_MAX (1024 * 1024)

/* Load like every command, but keep the diagnostics for the caller. */
static int
load(struct cli_ctx *ctx, const char **path, struct conf **c, struct buf *diag)
{
	struct op_err e;

	err_clear(&e);
	*path = conf_find_path(ctx->config_path);
	if (conf_load(*path, c, diag, &e) < 0) {
		if (diag->len > 0)
			fputs(diag->data, stderr);
		else
			fprintf(stderr, "%s\n", e.msg);
		return 78;
	}
	return 0;
}

/*
 * Cluster: with [server] database on PostgreSQL, the profiles, [redirect]
 * and the reports in effect are the database's (relay/cluster_conf.h):
 * load the file's own sections with those.  0, or an exit code.
 */
static int
load_shared(const char *path, struct conf **c, struct buf *diag)
{
	struct cluster_conf *cc = NULL;
	struct queue *q = NULL;
	struct conf *eff = NULL;
	struct buf text;
	struct op_err e;
	int64_t version = 0;
	int rc = 0;

	if (!queue_db_is_pg((*c)->server.database))
		return 0;
	buf_init(&text, 2 * CONF_FILE_MAX);
	if (queue_open_db((*c)->server.data_dir, (*c)->server.database,
	    (*c)->server.node, 0, &q, &e) < 0) {
		/* the file alone, said so: what the nodes run may differ */
		fprintf(stderr, "outpost: %s\noutpost: the profiles, [redirect] and "
		    "[report] sections shown are this file's; the nodes run with "
		    "the database's, which could not be read\n", e.msg);
		goto out;
	}
	cc = cluster_conf_new(q);
	if (cluster_conf_compose(cc, path, &text, &version, &e) < 0 ||
	    conf_load_text(path, text.data != NULL ? text.data : "", text.len,
	    &eff, diag, &e) < 0) {
		fprintf(stderr, "outpost: the shared settings: %s\n", e.msg);
		rc = e.kind == ERR_TEMP ? 75 : 78;
		goto out;
	}
	fprintf(stderr, "outpost: the profiles, [redirect] and [report] sections "
	    "are the database's (version %lld), shared by every node\n",
	    (long long)version);
	conf_free(*c);
	*c = eff;
out:
	cluster_conf_free(cc);
	queue_close(q);
	if (text.data != NULL)
		explicit_bzero(text.data, text.len);
	buf_free(&text);
	return rc;
}

static int
config_check(struct cli_ctx *ctx)
{
	const char *path;
	struct conf *c = NULL;
	struct buf diag;
	int rc;

	buf_init(&diag, DIAG_MAX);
	rc = load(ctx, &path, &c, &diag);
	if (rc != 0)
		goto out;
	if (path == NULL)
		printf("no settings file found (tried $OUTPOST_CONFIG, "
		    "./outpost.conf, /etc/outpost/outpost.conf); using the "
		    "built-in defaults: ok\n");
	else
		printf("%s: ok\n", path);
	if (diag.len > 0)
		fputs(diag.data, stderr);
out:
	conf_free(c);
	buf_free(&diag);
	return rc;
}

static int
config_show(struct cli_ctx *ctx)
{
	const char *path;
	struct conf *c = NULL;
	struct buf diag, out;
	struct op_err e;
	int rc;

	buf_init(&diag, DIAG_MAX);
	buf_init(&out, SHOW_MAX);
	rc = load(ctx, &path, &c, &diag);
	if (rc == 0)
		rc = load_shared(path, &c, &diag);
	if (rc != 0)
		goto out;
	if (diag.len > 0)
		fputs(diag.data, stderr);
	if (conf_show(c, &out, &e) < 0) {
		fprintf(stderr, "outpost: config show: %s\n", e.msg);
		rc = 70;
		goto out;
	}
	fputs(out.data, stdout);
out:
	conf_free(c);
	buf_free(&diag);
	buf_free(&out);
	return rc;
}

int
cmd_config(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		printf("usage: outpost [-c FILE] %s\n"
		    "  check   validate the settings; exit 78 on any problem\n"
		    "  show    print the effective settings, secrets masked\n",
		    CONFIG_USAGE);
		return 0;
	}
	if (argc != 2)
		return cli_usage(CONFIG_USAGE);
	if (strcmp(argv[1], "check") == 0)
		return config_check(ctx);
	if (strcmp(argv[1], "show") == 0)
		return config_show(ctx);
	fprintf(stderr, "outpost: config: unknown subcommand '%s'\n", argv[1]);
	return cli_usage(CONFIG_USAGE);
}
