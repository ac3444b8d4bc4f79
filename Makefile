# Kairos -- plain make.  Targets: all (default), check, demo, bench, bench-scale, asan,
# install, uninstall, clean, deps, fuzz, coverage.
#
# Everything is built under $(B) (build/ by default; build-asan/ for asan).

PREFIX  ?= /usr/local
DESTDIR ?=
B       ?= build
CC      ?= cc
PKGS    := glib-2.0 yaml-0.1 zlib libpq sqlite3
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libpq: headers only; runtime/src_pg.c loads it when a postgresql: source is used
PKG_LIBS   := $(shell pkg-config --libs $(filter-out libpq,$(PKGS)) 2>/dev/null) -lyajl -lm -pthread -ldl
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
WARN    := -std=c11 -Wall -Wextra -Werror -Wmissing-prototypes
ALL_CFLAGS = $(WARN) $(CFLAGS) $(EXTRA_CFLAGS) -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
             -MMD -MP -I. -I$(B) $(PKG_CFLAGS) -DKAIROS_STDLIB_DIR='"$(PREFIX)/share/kairos"' \
             -DKAIROS_DOC_DIR='"$(PREFIX)/share/doc/kairos"' $(if $(DOC_URL),-DKAIROS_DOC_URL='"$(DOC_URL)"')
LDFLAGS ?=
ALL_LDFLAGS = $(LDFLAGS) $(EXTRA_LDFLAGS)

VERSION := 0.1.0

LANG_SRC    := $(wildcard lang/*.c)
RUNTIME_SRC := $(wildcard runtime/*.c)
CLI_SRC     := $(wildcard cli/*.c)
GEN_SRC     := $(B)/parser.c $(B)/lexer.c $(B)/stdlib_data.c
UNIT_SRC    := $(wildcard tests/unit/*.c)
STDLIB      := stdlib/prelude.kai $(wildcard stdlib/std/*.kai)

LANG_OBJ    := $(LANG_SRC:%.c=$(B)/%.o) $(B)/parser.o $(B)/lexer.o $(B)/stdlib_data.o
RUNTIME_OBJ := $(RUNTIME_SRC:%.c=$(B)/%.o)
CLI_OBJ     := $(CLI_SRC:%.c=$(B)/%.o)
UNIT_OBJ    := $(UNIT_SRC:%.c=$(B)/%.o)
LIB_OBJ     := $(LANG_OBJ) $(RUNTIME_OBJ)

KAIROS := $(B)/kairos

.PHONY: all check unit demo bench bench-scale asan valgrind install uninstall clean deps fuzz fuzz-smoke coverage screenshots
.DELETE_ON_ERROR:

all: $(KAIROS)

$(KAIROS): $(CLI_OBJ) $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS)

# ---- generated sources -------------------------------------------------
$(B)/parser.c $(B)/parser.h: lang/parser.y | $(B)
	bison -Wall -Werror --defines=$(B)/parser.h -o $(B)/parser.c $<

$(B)/lexer.c $(B)/lexer.h: lang/lexer.l $(B)/parser.h | $(B)
	flex --header-file=$(B)/lexer.h -o $(B)/lexer.c $<

$(B)/stdlib_data.c: $(STDLIB) tools/embed.sh | $(B)
	sh tools/embed.sh $(STDLIB) > $@

# Generated scanner/parser code is not held to -Wextra's unused-parameter.
$(B)/lexer.o $(B)/parser.o: EXTRA_CFLAGS += -Wno-unused-function -Wno-unused-parameter -Wno-sign-compare

# Everything in lang/ may include the generated headers.
$(LANG_SRC:%.c=$(B)/%.o): $(B)/parser.h $(B)/lexer.h

$(B)/%.o: %.c | $(B)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/%.o: $(B)/%.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B):
	mkdir -p $(B)

# ---- tests -------------------------------------------------------------
$(B)/unit-tests: $(UNIT_OBJ) $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS) $(CHECK_LIBS)

check: $(KAIROS) $(B)/unit-tests $(B)/kairos-bench
	@echo "== unit tests"
	CK_FORK=no $(B)/unit-tests
	@echo "== diagnostics, golden cases, examples"
	sh tests/run.sh $(KAIROS)
	sh tests/cli/manpage.sh $(KAIROS) doc/kairos.1
	@echo "== event sources in PostgreSQL (a server started here) and SQLite"
	sh tests/db/run.sh $(KAIROS)
	sh tests/spec/run.sh $(KAIROS)
	sh tests/spec/editors.sh
	sh tests/spec/grammar.sh
	@echo "== kairos report in headless Chromium (tidy, no network, charts drawn, numbers shown)"
	sh tests/report/browser.sh $(KAIROS) $(B)/report-shots
	@echo "== language server (protocol tests, Neovim's client)"
	sh tests/lsp/run.sh $(KAIROS)
	@echo "== scale-out on a Dask LocalCluster"
	sh tests/dask/run.sh $(KAIROS) $(B)/kairos-bench

unit: $(B)/unit-tests
	CK_FORK=no $(B)/unit-tests

# ---- sanitizers --------------------------------------------------------
asan:
	$(MAKE) B=build-asan OPT=-O1 \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all -DKAIROS_DEBUG" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined" check

# The whole suite with every kairos process under valgrind's memcheck (slow:
# about an hour on two shared cores: 1,725 processes; run by hand, CI runs asan instead).
valgrind: $(KAIROS) $(B)/unit-tests
	sh tests/valgrind.sh $(KAIROS) $(B)/unit-tests

# ---- demo, bench -------------------------------------------------------
demo: deps
	$(MAKE) all
	@echo
	@echo "== kairos simulate examples/support-table/policy.kai examples/support-table/events.csv --stats"
	@$(KAIROS) simulate examples/support-table/policy.kai examples/support-table/events.csv --stats

deps:
	@sh tools/deps.sh

# The screenshots of the report pages shown in README.md (doc/*.png), taken
# by the browser test.
screenshots: $(KAIROS)
	sh tests/report/browser.sh $(KAIROS) doc

bench: $(KAIROS) $(B)/kairos-bench
	sh bench/run.sh $(KAIROS) $(B)/kairos-bench

# The scaling table: 1M to 50M events, 8,000 to 1,000,000 customers
# (bench/scale.sh; BENCH_SCALE_* shrink it).
bench-scale: $(KAIROS) $(B)/kairos-bench
	sh bench/scale.sh $(KAIROS) $(B)/kairos-bench

# kairos-bench: the floor, the reader alone, the log generator, an RSS meter.
$(B)/kairos-bench: $(B)/bench/floor.o $(B)/bench/gen.o $(B)/bench/readbench.o \
                   $(B)/runtime/pool.o $(B)/runtime/timeparse.o $(B)/runtime/input.o \
                   $(B)/runtime/rows.o $(B)/runtime/input_par.o $(B)/runtime/csv.o $(B)/runtime/jsonl.o $(B)/runtime/gunzip.o $(B)/runtime/thread.o \
                   $(B)/runtime/schema.o $(B)/runtime/segment.o $(B)/runtime/srcuri.o \
                   $(B)/runtime/src_pg.o $(B)/runtime/src_sqlite.o $(B)/runtime/tz.o \
                   $(B)/lang/bytecode.o $(B)/lang/util.o | $(B)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS)

# ---- install -----------------------------------------------------------
install: $(KAIROS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	           $(DESTDIR)$(PREFIX)/share/kairos/std
	install -m 755 $(KAIROS) $(DESTDIR)$(PREFIX)/bin/kairos
	install -m 644 doc/kairos.1 $(DESTDIR)$(PREFIX)/share/man/man1/kairos.1
	install -d $(DESTDIR)$(PREFIX)/share/doc/kairos
	install -m 644 SPEC.md README.md $(DESTDIR)$(PREFIX)/share/doc/kairos/
	install -m 644 stdlib/prelude.kai $(DESTDIR)$(PREFIX)/share/kairos/prelude.kai
	install -d $(DESTDIR)$(PREFIX)/share/kairos/python/kairos_dask
	install -m 644 python/kairos_dask/*.py $(DESTDIR)$(PREFIX)/share/kairos/python/kairos_dask/
	sed 's#@PYDIR@#$(PREFIX)/share/kairos/python#' tools/kairos-dask.in > $(DESTDIR)$(PREFIX)/bin/kairos-dask
	chmod 755 $(DESTDIR)$(PREFIX)/bin/kairos-dask
	for f in stdlib/std/*.kai; do [ -e "$$f" ] && install -m 644 "$$f" $(DESTDIR)$(PREFIX)/share/kairos/std/ || true; done

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/kairos $(DESTDIR)$(PREFIX)/bin/kairos-dask $(DESTDIR)$(PREFIX)/share/man/man1/kairos.1
	rm -rf $(DESTDIR)$(PREFIX)/share/kairos

# ---- fuzzing (clang libFuzzer; AFL++ with afl-clang-fast) -----------------
FUZZ_SECONDS ?= 60
fuzz:
	sh fuzz/run.sh build $(FUZZ_SECONDS)

fuzz-smoke:
	sh fuzz/run.sh smoke

# ---- coverage (gcov): the whole test suite on an instrumented build -------
coverage:
	rm -f build-cov/*/*.gcda
	$(MAKE) B=build-cov OPT=-O0 EXTRA_CFLAGS=--coverage EXTRA_LDFLAGS=--coverage check
	sh tools/coverage.sh build-cov

clean:
	rm -rf build build-asan build-fuzz build-cov

-include $(shell find $(B) -name '*.d' 2>/dev/null)
