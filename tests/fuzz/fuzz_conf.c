/*
 * fuzz_conf.c - loading outpost.conf (config/conf.h), and `config show`.
 *
 * Input: the text of a configuration file.  Inputs that name
 * password_command are skipped: the loader runs that command (through
 * posix_spawnp, never a shell), and a fuzzer must not run commands it
 * made up.  Checked:
 *   - a refusal has kind ERR_CONFIG and a message, and leaves no conf;
 *   - an accepted file: conf_show() prints it, the printed text loads
 *     again (unless a masked api_token is in it, which the header
 *     excepts) and prints the same text (show is a fixed point), with
 *     the same profiles in the same order.
 */
#include "fuzz.h"

#include "config/conf.h"
#include "util/buf.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf *c = NULL, *c2 = NULL;
	struct buf diag, show, show2, diag2;
	struct op_err e;
	size_t i;

	if (size > 64 * 1024 || memmem(data, size, "_command", 8) != NULL)
		return 0;
	buf_init(&diag, FUZZ_BUF_MAX);
	buf_init(&show, FUZZ_BUF_MAX);
	buf_init(&show2, FUZZ_BUF_MAX);
	buf_init(&diag2, FUZZ_BUF_MAX);
	if (conf_load_text("fuzz.conf", (const char *)data, size, &c, &diag, &e) < 0) {
		fuzz_assert(c == NULL);
		fuzz_assert(e.kind == ERR_CONFIG && e.msg[0] != '\0');
		goto out;
	}
	fuzz_assert(c != NULL);
	fuzz_assert(conf_show(c, &show, NULL) == 0);
	if (c->server.api_token != NULL)
		goto out;
	if (conf_load_text("fuzz.conf", show.data, show.len, &c2, &diag2, &e) < 0)
		fuzz_fail("config show output does not load: %s\n--- input\n%.*s\n"
		    "--- shown\n%s", e.msg, (int)size, (const char *)data, show.data);
	fuzz_assert(c2->nprofiles == c->nprofiles);
	for (i = 0; i < c->nprofiles; i++)
		fuzz_assert(strcmp(c->profiles[i].name, c2->profiles[i].name) == 0);
	fuzz_assert(conf_show(c2, &show2, NULL) == 0);
	if (!fuzz_same(show.data, show.len, show2.data, show2.len))
		fuzz_fail("config show is not a fixed point:\n--- first\n%s\n"
		    "--- second\n%s", show.data, show2.data);
out:
	conf_free(c);
	conf_free(c2);
	buf_free(&diag);
	buf_free(&diag2);
	buf_free(&show);
	buf_free(&show2);
	return 0;
}
