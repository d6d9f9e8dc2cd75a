# Outpost build.  `make` builds build/outpost; `make asan` builds the
# AddressSanitizer + UndefinedBehaviorSanitizer variant the tests use;
# `make test` runs every test (unit tests, then integration tests).
# Sources are found by wildcard: a new src/<part>/<file>.c or
# tests/unit/test_<name>.c needs no edit here.

CC      ?= cc
PKGS    := openssl libgsasl sqlite3 libmicrohttpd jansson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) libpq 2>/dev/null)
# libmicrohttpd is not linked: `outpost serve` loads it (src/http/mhd.c),
# so short commands do not pay for GnuTLS at every start.  Nor is libpq
# (only its header is used): a PostgreSQL queue loads it
# (src/queue/queue_pg.c).
PKG_LIBS   := $(shell pkg-config --libs $(filter-out libmicrohttpd,$(PKGS)) 2>/dev/null)
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

WARN    := -std=c11 -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wvla \
           -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
DEFS    := -D_GNU_SOURCE -DOUTPOST_VERSION='"$(VERSION)"'
CFLAGS  ?= -O2 -g
ALL_CFLAGS := $(WARN) $(DEFS) -Isrc $(PKG_CFLAGS) $(CFLAGS)
LIBS    := $(PKG_LIBS) -lpthread -lm

SAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
             -fno-sanitize-recover=undefined

SRC      := $(sort $(wildcard src/*/*.c))
LIB_SRC  := $(filter-out src/cli/%,$(SRC))
CLI_SRC  := $(filter src/cli/%,$(SRC))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
ASSETS   := $(sort $(wildcard src/http/assets/*))

OBJ      := $(SRC:%.c=build/obj/%.o)
LIB_OBJ  := $(LIB_SRC:%.c=build/obj/%.o)
SAN_OBJ  := $(SRC:%.c=build/asan/obj/%.o)
SAN_LIB_OBJ := $(LIB_SRC:%.c=build/asan/obj/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=build/asan/tests/%)
# Test-only programs that integration tests drive (tests/tools/*.c).
TOOL_SRC := $(sort $(wildcard tests/tools/*.c))
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=build/asan/tools/%)

.PHONY: all asan test unit integration checksrc clean deps fuzz bench run \
	install uninstall
all: checksrc build/outpost

build/outpost: $(OBJ)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

build/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

asan: build/asan/outpost $(UNIT_BIN) $(TOOL_BIN)

build/asan/outpost: $(SAN_OBJ)
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) -o $@ $^ $(LIBS)

build/asan/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(WARN) $(DEFS) -Isrc $(PKG_CFLAGS) $(SAN_FLAGS) -MMD -MP -c -o $@ $<

# Unit tests link against an archive, so each pulls in only what it uses.
build/asan/liboutpost.a: $(SAN_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/asan/tests/%: build/asan/obj/tests/unit/%.o build/asan/liboutpost.a
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) -o $@ $^ $(LIBS) -lcmocka

build/asan/tools/%: build/asan/obj/tests/tools/%.o build/asan/liboutpost.a
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) -o $@ $^ $(LIBS)

# The web page's files are embedded in the binary (see src/http/assets.c).
build/obj/src/http/assets.o build/asan/obj/src/http/assets.o: $(ASSETS)

# Benchmarks: bench/<name>.c -> build/bench/<name>, optimised, linked
# against an archive of the library objects.  `make bench` builds them all
# and runs the benchmark (bench/run; see bench/README.md).
BENCH_BIN := $(patsubst bench/%.c,build/bench/%,$(sort $(wildcard bench/*.c)))

bench: all $(BENCH_BIN)
	bench/run

# bench/spawn times one command for the one-shot figures: libc only, so
# that its own size stays out of the peak RSS it measures.
build/bench/spawn: bench/spawn.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $<

build/liboutpost.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/bench/%: bench/%.c build/liboutpost.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LIBS)

checksrc:
	@scripts/checksrc

unit: asan
	@scripts/run-unit build/asan/tests

integration: asan build/outpost
	@OUTPOST_BIN=$(CURDIR)/build/asan/outpost scripts/run-integration

test: checksrc asan build/outpost
	@scripts/run-tests

deps:
	@scripts/install-deps

# Installing (README.md, "Install as a service"): `make install` [PREFIX=/usr/local]
# [DESTDIR=...]: the binary, the man pages outpost(1) and outpost.conf(5),
# the systemd unit (its paths filled in), the settings for the service
# (never over an existing file) and the example.  `make uninstall` removes
# what install put there, except the settings file.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/outpost
SYSCONFDIR ?= $(PREFIX)/etc
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
INSTALL    ?= install

# made at every install: the paths come from the command line
build/outpost.service: dist/outpost.service.in FORCE
	@mkdir -p $(@D)
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' $< > $@

install: build/outpost build/outpost.service
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(SYSTEMDUNITDIR) \
		$(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/outpost
	$(INSTALL) -m 0755 build/outpost $(DESTDIR)$(BINDIR)/outpost
	$(INSTALL) -m 0644 man/outpost.1 $(DESTDIR)$(MANDIR)/man1/outpost.1
	$(INSTALL) -m 0644 man/outpost.conf.5 $(DESTDIR)$(MANDIR)/man5/outpost.conf.5
	$(INSTALL) -m 0644 build/outpost.service $(DESTDIR)$(SYSTEMDUNITDIR)/outpost.service
	$(INSTALL) -m 0644 outpost.conf.example $(DESTDIR)$(DOCDIR)/outpost.conf.example
	[ -e $(DESTDIR)$(SYSCONFDIR)/outpost/outpost.conf ] || \
		$(INSTALL) -m 0640 dist/outpost.conf $(DESTDIR)$(SYSCONFDIR)/outpost/outpost.conf

FORCE:

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/outpost $(DESTDIR)$(MANDIR)/man1/outpost.1 \
		$(DESTDIR)$(MANDIR)/man5/outpost.conf.5 \
		$(DESTDIR)$(SYSTEMDUNITDIR)/outpost.service \
		$(DESTDIR)$(DOCDIR)/outpost.conf.example
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/outpost/outpost.conf ]; then \
		echo "uninstall: kept $(DESTDIR)$(SYSCONFDIR)/outpost/outpost.conf (your settings)"; fi

clean:
	rm -rf build

-include $(OBJ:.o=.d) $(SAN_OBJ:.o=.d) $(UNIT_BIN:build/asan/tests/%=build/asan/obj/tests/unit/%.d) \
	$(TOOL_BIN:build/asan/tools/%=build/asan/obj/tests/tools/%.d)

# Fuzzing (tests/fuzz/README.md, docs/security.md): libFuzzer targets
# tests/fuzz/fuzz_<name>.c, built with clang against the library compiled
# by clang with the same sanitizers (never the gcc objects).
# `make fuzz` runs each target for FUZZ_TIME seconds (default 60);
# `make fuzz-smoke` runs each briefly over its seed corpus (CI).
FUZZ_CC    ?= clang
FUZZ_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=undefined
FUZZ_SRC   := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN   := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=build/fuzz/obj/%.o)

.PHONY: fuzz-build fuzz-smoke

# The library under clang: clang warns about things gcc does not, and this
# build must not break on them (gcc's -Werror build is the gate).
build/fuzz/obj/src/%.o: src/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(filter-out -Werror,$(WARN)) $(DEFS) -Isrc $(PKG_CFLAGS) \
		$(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

build/fuzz/obj/tests/fuzz/%.o: tests/fuzz/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(WARN) $(DEFS) -Isrc $(PKG_CFLAGS) $(FUZZ_FLAGS) \
		-fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

build/fuzz/liboutpost.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/fuzz/fuzz_%: build/fuzz/obj/tests/fuzz/fuzz_%.o build/fuzz/liboutpost.a
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-build
	@scripts/run-fuzz --time "$${FUZZ_TIME:-60}"

fuzz-smoke: fuzz-build
	@scripts/run-fuzz --smoke

-include $(FUZZ_LIB_OBJ:.o=.d) $(FUZZ_BIN:build/fuzz/%=build/fuzz/obj/tests/fuzz/%.d)
