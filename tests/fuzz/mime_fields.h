/*
 * mime_fields.h - for the targets that compose messages (fuzz_mime,
 * fuzz_submit): is a header field one that mime_compose() writes itself or
 * one the message asked for?
 */
#ifndef OUTPOST_FUZZ_MIME_FIELDS_H
#define OUTPOST_FUZZ_MIME_FIELDS_H

#include <strings.h>

#include "mail/mime.h"

static inline int
fuzz_known_field(const char *name, const struct mime_msg *m)
{
	static const char *const own_fields[] = {
		"Date", "From", "To", "Cc", "Subject", "Message-ID",
		"MIME-Version", "Content-Type", "Content-Transfer-Encoding", NULL,
	};
	size_t i;

	for (i = 0; own_fields[i] != NULL; i++)
		if (strcasecmp(name, own_fields[i]) == 0)
			return 1;
	if (m->nreply_to > 0 && strcasecmp(name, "Reply-To") == 0)
		return 1;
	for (i = 0; i < m->nheaders; i++)
		if (strcasecmp(name, m->headers[i].name) == 0)
			return 1;
	return 0;
}

#endif
