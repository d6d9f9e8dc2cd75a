/*
 * cmd_check.c - `outpost check [PROFILE] [--json]`: diagnose a profile step
 * by step (relay/diag.h) without sending mail.
 *
 * Output: one line per step ("ok", "FAIL", "skip", "warn"), the detail, and
 * for a failure or warning the hint indented under it; with --json, only
 * the report's JSON (diag.h) on stdout.  Exit codes (docs/check.md): 0 all ok
 * (warnings allowed), 65 sender refused, 69 cannot resolve/connect, no
 * greeting, TLS does not work, 75 temporary (421, 4xx), 77 login refused
 * or impossible, 78 configuration (no such profile, no enabled profile).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "relay/diag.h"
#include "util/log.h"

#define CHECK_USAGE "check [PROFILE] [--json]"
#define WRAP_COL 78
#define HINT_INDENT 14     /* "        hint: " */

static const char *
status_word(int status)
{
	switch (status) {
	case DIAG_OK:
		return "ok";
	case DIAG_SKIPPED:
		return "skip";
	case DIAG_WARNING:
		return "warn";
	default:
		return "FAIL";
	}
}

/* Print text after a label, wrapped at WRAP_COL, continuation lines
 * indented to HINT_INDENT.  Words longer than a line are printed whole. */
static void
print_wrapped(FILE *f, const char *label, const char *text)
{
	size_t col, wlen;
	const char *w = text;

	col = (size_t)fprintf(f, "%*s%s: ", HINT_INDENT - (int)strlen(label) - 2,
	    "", label);
	while (*w != '\0') {
		while (*w == ' ')
			w++;
		if (*w == '\0')
			break;
		wlen = strcspn(w, " ");
		if (col > HINT_INDENT && col + 1 + wlen > WRAP_COL) {
			fprintf(f, "\n%*s", HINT_INDENT, "");
			col = HINT_INDENT;
		} else if (col > HINT_INDENT) {
			fputc(' ', f);
			col++;
		}
		fwrite(w, 1, wlen, f);
		col += wlen;
		w += wlen;
	}
	fputc('\n', f);
}

static void
print_report(FILE *f, const struct conf_profile *p,
    const struct diag_report *rep)
{
	static const char *const sec[] = { "none", "starttls", "tls" };
	size_t i;

	fprintf(f, "Checking profile \"%s\": %s port %u, security = %s, "
	    "auth = %s\n\n", p->name, p->host != NULL ? p->host : "(no host)",
	    p->port, p->security >= 0 && p->security <= 2 ? sec[p->security] :
	    "?", p->auth == CONF_AUTH_OAUTH2 ? "oauth2" : p->auth ? "yes" : "no");
	for (i = 0; i < rep->nsteps; i++) {
		const struct diag_step *s = &rep->steps[i];
		const char *detail = s->detail;

		if (s->status == DIAG_SKIPPED &&
		    strncmp(detail, "skipped: ", 9) == 0)
			detail += 9;
		fprintf(f, "  %-5s %-12s %s\n", status_word(s->status),
		    s->step, detail);
		if (s->hint[0] != '\0')
			print_wrapped(f, s->status == DIAG_FAILED ? "hint" :
			    s->status == DIAG_WARNING ? "warning" : "note",
			    s->hint);
	}
	fputc('\n', f);
	if (rep->ok)
		fprintf(f, "All checks passed: profile \"%s\" is ready to send "
		    "mail (no mail was sent).\n", p->name);
	else
		fprintf(f, "Check failed at %s (exit %d).\n", rep->failed_step,
		    rep->kind);
}

int
cmd_check(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct conf_profile *p;
	const char *name = NULL;
	struct diag_report *rep = NULL;
	struct conf *conf = NULL;
	struct op_err e;
	int json = 0, rc, i;
	char *text;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			printf("usage: outpost " CHECK_USAGE "\n\n"
			    "Diagnose a profile step by step (resolve, connect, "
			    "greeting, EHLO, TLS,\ncertificate, AUTH, sender) "
			    "without sending mail.  PROFILE defaults to the\n"
			    "first enabled profile.  --json prints "
			    "{\"ok\":...,\"steps\":[...]}.\n\n"
			    "Exit codes: 0 ok, 65 sender refused, 69 cannot "
			    "connect or TLS fails,\n75 temporary failure, 77 "
			    "login refused, 78 configuration error.\n");
			return 0;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "outpost: check: unknown option %s\n",
			    argv[i]);
			return cli_usage(CHECK_USAGE);
		} else if (name == NULL) {
			name = argv[i];
		} else {
			fprintf(stderr, "outpost: check: one profile at a "
			    "time\n");
			return cli_usage(CHECK_USAGE);
		}
	}

	if (ctx->verbose == 0)
		log_set_level(LOG_WARN);
	rc = cli_load_conf(ctx, &conf);
	if (rc != 0)
		return rc;
	p = diag_profile(conf, name, &e);
	if (p == NULL) {
		fprintf(stderr, "outpost: check: %s\n", e.msg);
		rc = e.kind;
		goto out;
	}

	rep = malloc(sizeof(*rep));
	if (rep == NULL) {
		fprintf(stderr, "outpost: check: out of memory\n");
		rc = ERR_OSERR;
		goto out;
	}
	if (diag_run(p, conf->server.hostname, rep, &e) < 0) {
		fprintf(stderr, "outpost: check: %s\n", e.msg);
		rc = e.kind;
		goto out;
	}
	diag_dkim(conf, rep);   /* DKIM: the published records */
	if (json) {
		text = diag_report_json_text(rep, &e);
		if (text == NULL) {
			fprintf(stderr, "outpost: check: %s\n", e.msg);
			rc = e.kind;
			goto out;
		}
		printf("%s\n", text);
		free(text);
	} else {
		print_report(stdout, p, rep);
	}
	rc = rep->ok ? 0 : rep->kind;
out:
	fflush(stdout);
	free(rep);
	conf_free(conf);
	return rc;
}
