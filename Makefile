# lagerbild -- build, test, run.
#
#   make          build build/liblagerbild.a and build/lagerbild
#   make check    install missing packages, build, run every test suite
#                 against a throwaway PostgreSQL cluster
#   make run      cluster under ./var, migrate, demo data, national picture
#   make bench    ledger throughput beside pgbench on the same cluster
#   make asan     the test suite built with ASan and UBSan
#   make fuzz     libFuzzer targets (tests/fuzz/) under ASan and UBSan,
#                 FUZZ_SECONDS each (default 60); not part of check
#   make lint     banned functions and SQL built by formatting
#   make format   clang-format every C file

CC ?= cc
BUILD ?= build
OPT ?= -O2 -g
SAN ?=
WARN := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
PKGS := libpq libsodium uuid libmicrohttpd jansson libcurl libxml-2.0 libzip
TEST_PKGS := check

# Resolved when used, so that `make check` can install pkg-config first.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS = $(shell pkg-config --libs $(PKGS))
TEST_CFLAGS = $(shell pkg-config --cflags $(TEST_PKGS))
# GLPK checks the allocator against an independent LP solver; tests only.
TEST_LIBS = $(shell pkg-config --libs $(TEST_PKGS)) -lglpk

CPPFLAGS += -D_DEFAULT_SOURCE -Isrc -Ireports -Iimporters
ALL_CFLAGS = $(WARN) $(OPT) $(SAN) $(CPPFLAGS) $(PKG_CFLAGS) -MMD -MP
LDLIBS_ALL = $(PKG_LIBS) -lcsv -lpthread -lm

BIN_SRC := src/main.c $(wildcard src/cmd_*.c)
LIB_SRC := $(filter-out $(BIN_SRC),$(wildcard src/*.c)) \
	$(wildcard reports/*.c) $(wildcard importers/*.c)
TEST_SRC := $(wildcard tests/*.c)
BENCH_SRC := $(wildcard tests/bench/*.c)

# make fuzz: clang's libFuzzer.  The library is built with coverage
# (fuzzer-no-link) into a BUILD of its own; only the targets' link brings
# in libFuzzer's main.  fuzz_feed.c is built once per feed.
FUZZ_SECONDS ?= 60
FUZZ_BUILD := build/fuzz
FUZZ_SAN := address,undefined -fno-sanitize-recover=all
FUZZ_FEEDS := npl articles products shortages population targets stock \
	consumption
FUZZ_TARGETS := capacity jsonin validate $(FUZZ_FEEDS:%=feed_%)
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/embedded.o
BIN_OBJ := $(BIN_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
BENCH_OBJ := $(BENCH_SRC:%.c=$(BUILD)/%.o)

LIB := $(BUILD)/liblagerbild.a
BIN := $(BUILD)/lagerbild
TEST_BIN := $(BUILD)/check_lagerbild
# Each tests/bench/*.c is a program of its own.
BENCH_BINS := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/%)

# The fuzz targets' files, in whatever BUILD (build/fuzz when `make fuzz`
# builds them).
FUZZ_FEED_OBJ := $(FUZZ_FEEDS:%=$(BUILD)/tests/fuzz/fuzz_feed_%.o)
FUZZ_FEED_BINS := $(FUZZ_FEEDS:%=$(BUILD)/fuzz_feed_%)
FUZZ_PURE_BINS := $(BUILD)/fuzz_capacity $(BUILD)/fuzz_jsonin \
	$(BUILD)/fuzz_validate
FUZZ_OBJ := $(FUZZ_FEED_OBJ) \
	$(FUZZ_PURE_BINS:$(BUILD)/%=$(BUILD)/tests/fuzz/%.o) \
	$(BUILD)/tests/fuzz/fuzz.o $(BUILD)/tests/fuzz/import_stubs.o

EMBED_MIGRATIONS := $(sort $(wildcard sql/[0-9]*.sql))
EMBED_DEMO := $(sort $(wildcard contrib/demo/*.sql))

.PHONY: all deps check run bench asan fuzz lint format clean FORCE
.DELETE_ON_ERROR:

all: $(BIN)

deps:
	@bash contrib/deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) -Itests -c -o $@ $<

# Benchmarks are programs of their own, not Check suites.
$(BUILD)/tests/bench/%.o: tests/bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/fuzz/%.o: tests/fuzz/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/fuzz -c -o $@ $<

$(FUZZ_FEED_OBJ): $(BUILD)/tests/fuzz/fuzz_feed_%.o: tests/fuzz/fuzz_feed.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/fuzz -DFEED=import_feed_$* -c -o $@ $<

# The embedded files' names, rewritten only when they change: a file
# removed (or renamed) rebuilds embedded.c, as an edited one does.
EMBED_NAMES := $(EMBED_MIGRATIONS) $(EMBED_DEMO)
$(BUILD)/embedded.names: FORCE
	@mkdir -p $(BUILD)
	@echo '$(EMBED_NAMES)' | cmp -s - $@ || echo '$(EMBED_NAMES)' >$@
FORCE:

$(BUILD)/embedded.c: contrib/embed.sh $(EMBED_MIGRATIONS) $(EMBED_DEMO) \
		src/openapi.json $(BUILD)/embedded.names
	@mkdir -p $(BUILD)
	sh contrib/embed.sh $@ -- embedded_migrations $(EMBED_MIGRATIONS) \
		-- embedded_demo $(EMBED_DEMO) -- embedded_openapi src/openapi.json

$(BUILD)/embedded.o: $(BUILD)/embedded.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(BIN_OBJ) $(LIB)
	$(CC) $(OPT) $(SAN) -o $@ $(BIN_OBJ) $(LIB) $(LDLIBS_ALL)

$(TEST_BIN): $(TEST_OBJ) $(LIB)
	$(CC) $(OPT) $(SAN) -o $@ $(TEST_OBJ) $(LIB) $(TEST_LIBS) $(LDLIBS_ALL)

$(BENCH_BINS): $(BUILD)/%: $(BUILD)/tests/bench/%.o $(LIB)
	$(CC) $(OPT) $(SAN) -o $@ $< $(LIB) $(LDLIBS_ALL)

# The stubs come before the library, so import.o is not linked.
$(FUZZ_FEED_BINS): $(BUILD)/fuzz_feed_%: $(BUILD)/tests/fuzz/fuzz_feed_%.o \
		$(BUILD)/tests/fuzz/import_stubs.o $(BUILD)/tests/fuzz/fuzz.o \
		$(LIB)
	$(CC) $(OPT) -fsanitize=fuzzer,$(FUZZ_SAN) -o $@ $^ $(LDLIBS_ALL)

$(FUZZ_PURE_BINS): $(BUILD)/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o \
		$(BUILD)/tests/fuzz/fuzz.o $(LIB)
	$(CC) $(OPT) -fsanitize=fuzzer,$(FUZZ_SAN) -o $@ $^ $(LDLIBS_ALL)

check: deps
	$(MAKE) $(BIN) $(TEST_BIN)
	bash contrib/check-banned.sh
	bash tests/run.sh $(BUILD)

asan:
	$(MAKE) check BUILD=build/asan OPT="-O1 -g -fno-omit-frame-pointer" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"

run: deps
	$(MAKE) $(BIN)
	bash contrib/run.sh $(BUILD)

bench:
	@bash contrib/deps.sh --bench
	$(MAKE) $(BIN) $(BENCH_BINS)
	bash tests/bench/run.sh $(BUILD)

# contrib/deps.sh --dev installs clang.
fuzz:
	@bash contrib/deps.sh --dev
	$(MAKE) $(FUZZ_BINS) CC=clang BUILD=$(FUZZ_BUILD) \
		OPT="-O1 -g -fno-omit-frame-pointer" \
		SAN="-fsanitize=fuzzer-no-link,$(FUZZ_SAN)"
	bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

lint:
	bash contrib/check-banned.sh

format:
	clang-format -i $(wildcard src/*.[ch] reports/*.[ch] importers/*.[ch] \
		tests/*.[ch] tests/bench/*.[ch] tests/fuzz/*.[ch])

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(BIN_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BENCH_OBJ:.o=.d) \
	$(FUZZ_OBJ:.o=.d)
