/* common.c - what every command shares: loading the settings. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "oauth/oauth.h"
#include "util/buf.h"

int
cli_load_conf(struct cli_ctx *ctx, struct conf **out)
{
	const char *path = conf_find_path(ctx->config_path);
	struct buf diag;
	struct op_err e;
	int rc;

	buf_init(&diag, 64 * 1024);
	rc = conf_load(path, out, &diag, &e);
	if (diag.len > 0)
		fputs(diag.data, stderr);
	else if (rc < 0)
		fprintf(stderr, "%s\n", e.msg);
	buf_free(&diag);
	if (rc == 0 && oauth_init((*out)->server.data_dir, &e) < 0)
		fprintf(stderr, "outpost: %s\n", e.msg);
	return rc < 0 ? 78 : 0;
}

int
cli_option_value(int argc, char **argv, int *i, const char *opt,
    const char **val)
{
	size_t n = strlen(opt);

	if (strncmp(argv[*i], opt, n) != 0)
		return 0;
	if (argv[*i][n] == '=') {
		*val = argv[*i] + n + 1;
		return 1;
	}
	if (argv[*i][n] != '\0')
		return 0;
	*val = *i + 1 < argc ? argv[++*i] : NULL;
	return 1;
}
