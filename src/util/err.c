#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int
err_set(struct op_err *e, int kind, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	e->kind = kind;
	e->sys = 0;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int
err_prefix(struct op_err *e, const char *fmt, ...)
{
	char old[ERR_MSG_MAX];
	va_list ap;
	int n;

	if (e == NULL)
		return -1;
	memcpy(old, e->msg, sizeof(old));
	va_start(ap, fmt);
	n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n + 2 < sizeof(e->msg)) {
		/* append ": old", truncated to fit */
		size_t at = (size_t)n, room = sizeof(e->msg) - at - 1;
		size_t ol = strlen(old);

		e->msg[at++] = ':';
		e->msg[at++] = ' ';
		room -= 2;
		if (ol > room)
			ol = room;
		memcpy(e->msg + at, old, ol);
		e->msg[at + ol] = '\0';
	}
	return -1;
}

void
err_clear(struct op_err *e)
{
	if (e == NULL)
		return;
	e->kind = ERR_NONE;
	e->sys = 0;
	e->msg[0] = '\0';
}
