/*
 * fuzz_addr.c - address parsing (mail/addr.h): the envelope mailbox, SMTP
 * paths with parameters, allowed_from patterns.
 *
 * Input: a selector byte, then text.  Checked, for what is accepted:
 *   - the normalised address re-parses to itself (normalising twice
 *     changes nothing) and is within RFC 5321's bounds: at most 254
 *     octets, local part at most 64, domain at most 255;
 *   - it holds no control character, no space outside quotes, no '%' or
 *     '!' in the local part, exactly one '@' outside quotes, a non-empty
 *     local part and domain, no source route;
 *   - ADDR_F_UTF8 exactly when a byte is >= 0x80;
 *   - a mailbox always matches the pattern "*@*" and itself (any case);
 *   - a path's parameters are within ADDR_PARAMS_MAX, keywords unique.
 */
#include "fuzz.h"

#include <strings.h>

#include "mail/addr.h"

static void
check_mailbox(const struct addr_mailbox *mb)
{
	struct addr_mailbox again;
	size_t len = strlen(mb->addr), i;
	const char *dom = addr_domain(mb);
	int quoted = 0, utf8 = 0, ats = 0;
	char pat[ADDR_MAILBOX_MAX + 2];

	fuzz_assert(len > 0 && len <= ADDR_MAILBOX_MAX);
	fuzz_assert(mb->local_len > 0 && mb->local_len <= ADDR_LOCAL_MAX);
	fuzz_assert(mb->addr[mb->local_len] == '@');
	fuzz_assert(dom == mb->addr + mb->local_len + 1);
	fuzz_assert(dom[0] != '\0' && strlen(dom) <= ADDR_DOMAIN_MAX);
	fuzz_assert(dom[strlen(dom) - 1] != '.');
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)mb->addr[i];

		fuzz_assert(c >= 0x20 && c != 0x7f);
		if (c >= 0x80)
			utf8 = 1;
		if (i < mb->local_len && (c == '%' || c == '!'))
			fuzz_fail("percent hack or bang path accepted: %s", mb->addr);
	}
	for (i = 0; i < len; i++) {
		char c = mb->addr[i];

		if (quoted && c == '\\') {
			i++;    /* an escaped character inside quotes */
			continue;
		}
		if (c == '"')
			quoted = !quoted;
		else if (!quoted && c == ' ')
			fuzz_fail("space outside quotes: %s", mb->addr);
		else if (!quoted && c == '@')
			ats++;
	}
	fuzz_assert(ats == 1);
	fuzz_assert(mb->addr[0] != '@');
	fuzz_assert(((mb->flags & ADDR_F_UTF8) != 0) == utf8);

	if (addr_parse_mailbox(mb->addr, &again, NULL) != 0)
		fuzz_fail("normalised form is refused: %s", mb->addr);
	if (strcmp(again.addr, mb->addr) != 0 || again.local_len != mb->local_len ||
	    again.flags != mb->flags)
		fuzz_fail("normalising is not stable: %s -> %s", mb->addr, again.addr);
	fuzz_assert(addr_mailbox_equal(mb, &again));
	fuzz_assert(addr_match_pattern("*@*", mb));
	fuzz_assert(addr_domain_equal(dom, dom));
	/* A literal pattern of an address without '*' matches it. */
	if (!(mb->flags & (ADDR_F_QUOTED | ADDR_F_LITERAL)) &&
	    strchr(mb->addr, '*') == NULL && addr_pattern_valid(mb->addr, NULL) == 0)
		fuzz_assert(addr_match_pattern(mb->addr, mb));
	snprintf(pat, sizeof(pat), "*@%s", dom);
	if (addr_pattern_valid(pat, NULL) == 0 && !(mb->flags & ADDR_F_LITERAL))
		fuzz_assert(addr_match_pattern(pat, mb));
}

static void
check_path(const struct addr_path *p, int kind)
{
	size_t i, j;

	fuzz_assert(p->nparams <= ADDR_PARAMS_MAX);
	if (p->is_null)
		fuzz_assert(kind == ADDR_PATH_REVERSE);
	else
		check_mailbox(&p->mbox);
	for (i = 0; i < p->nparams; i++) {
		const char *k = addr_path_param_key(p, i);

		fuzz_assert(k[0] != '\0');
		fuzz_assert(addr_path_param_value(p, i) != NULL);
		fuzz_assert(addr_path_param(p, k) != NULL);
		for (j = 0; j < i; j++)
			fuzz_assert(strcasecmp(k, addr_path_param_key(p, j)) != 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct addr_mailbox mb;
	struct addr_path path;
	struct addr_list list;
	struct op_err e;
	char *text, *pattern = NULL;
	unsigned sel;

	if (size < 1 || size > 4096)
		return 0;
	sel = data[0];
	text = malloc(size);
	if (text == NULL)
		abort();
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';

	switch (sel % 4) {
	case 0:
		if (addr_parse_mailbox(text, &mb, &e) == 0)
			check_mailbox(&mb);
		else
			fuzz_assert(e.kind == ERR_DATA && e.msg[0] != '\0');
		break;
	case 1:
	case 2:
		if (addr_parse_path(text, sel % 4 == 1 ? ADDR_PATH_REVERSE :
		    ADDR_PATH_FORWARD, &path, &e) == 0)
			check_path(&path, sel % 4 == 1 ? ADDR_PATH_REVERSE :
			    ADDR_PATH_FORWARD);
		else
			fuzz_assert(e.kind == ERR_DATA);
		break;
	default:
		/* "pattern\naddress" */
		pattern = text;
		text = strchr(pattern, '\n');
		if (text == NULL) {
			text = pattern;
			break;
		}
		*text++ = '\0';
		if (addr_pattern_valid(pattern, NULL) == 0 &&
		    addr_parse_mailbox(text, &mb, NULL) == 0) {
			addr_list_init(&list, 2);
			fuzz_assert(addr_list_add(&list, &mb, 1, NULL) == 0);
			fuzz_assert(addr_list_add(&list, &mb, 1, NULL) == 0);
			fuzz_assert(list.n == 1);
			(void)addr_match_pattern(pattern, &list.v[0]);
			addr_list_free(&list);
		}
		text = pattern;
		break;
	}
	free(text);
	return 0;
}
