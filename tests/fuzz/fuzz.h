/*
 * fuzz.h - what the libFuzzer targets in tests/fuzz/ share.
 *
 * Each target is one file fuzz_<name>.c with LLVMFuzzerTestOneInput();
 * `make fuzz` builds them with clang (-fsanitize=fuzzer,address,undefined)
 * against the library compiled the same way, and scripts/run-fuzz runs
 * them.  A target checks the invariants the module's header promises and
 * calls fuzz_fail() (an abort, which libFuzzer reports with the input)
 * when one does not hold; memory errors, leaks and undefined behaviour
 * are the sanitizers' to find.
 *
 * struct fuzz_in reads the fuzzer's bytes as a stream of small decisions
 * (a byte, a length) and pieces of data; past the end every read gives
 * zeros / empty pieces, so any input is a valid program.
 */
#ifndef OUTPOST_FUZZ_H
#define OUTPOST_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Bound of the targets' own scratch buffers (struct buf's max; 0 would
 * mean "nothing fits"). */
#define FUZZ_BUF_MAX ((size_t)64 * 1024 * 1024)

/* 1 if two byte strings are equal (either may be NULL when empty). */
static inline int
fuzz_same(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline unsigned
fuzz_byte(struct fuzz_in *in)
{
	unsigned v;

	if (in->n == 0)
		return 0;
	v = in->p[0];
	in->p++;
	in->n--;
	return v;
}

/* A piece of at most max bytes, its length taken from the next byte (or
 * two bytes when max > 255); *len gets its length.  Points into the input. */
static inline const uint8_t *
fuzz_piece(struct fuzz_in *in, size_t max, size_t *len)
{
	size_t want = fuzz_byte(in);
	const uint8_t *p = in->p;

	if (max > 255)
		want = (want << 8) | fuzz_byte(in);
	if (want > max)
		want %= max + 1;
	if (want > in->n)
		want = in->n;
	in->p += want;
	in->n -= want;
	*len = want;
	return p;
}

/* A NUL-terminated copy of a piece (free() it). */
static inline char *
fuzz_str(struct fuzz_in *in, size_t max)
{
	size_t n;
	const uint8_t *p = fuzz_piece(in, max, &n);
	char *s = malloc(n + 1);

	if (s == NULL)
		abort();
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

#define fuzz_fail(...) do { \
	fprintf(stderr, "fuzz invariant broken at %s:%d: ", __FILE__, __LINE__); \
	fprintf(stderr, __VA_ARGS__); \
	fputc('\n', stderr); \
	abort(); \
} while (0)

#define fuzz_assert(cond) do { \
	if (!(cond)) \
		fuzz_fail("%s", #cond); \
} while (0)

/* Logs go nowhere (but are still formatted and escaped, so the escaping
 * code is fuzzed too). */
#include <fcntl.h>
#include "util/log.h"

static inline void
fuzz_quiet_logs(void)
{
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (fd >= 0)
		log_set_fd(fd);
	log_set_level(LOG_DEBUG);
}

/* Every target starts with quiet logs (each target is one file that
 * includes this header once). */
int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet_logs();
	return 0;
}

#endif
