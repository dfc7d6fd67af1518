# lagerbild -- build, test, run.
#
#   make          build build/liblagerbild.a and build/lagerbild
#   make check    install missing packages, build, run every test suite
#                 against a throwaway PostgreSQL cluster
#   make run      cluster under ./var, migrate, demo data, national picture
#   make bench    ledger throughput beside pgbench on the same cluster
#   make asan     the test suite built with ASan and UBSan
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

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/embedded.o
BIN_OBJ := $(BIN_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
BENCH_OBJ := $(BENCH_SRC:%.c=$(BUILD)/%.o)

LIB := $(BUILD)/liblagerbild.a
BIN := $(BUILD)/lagerbild
TEST_BIN := $(BUILD)/check_lagerbild
# Each tests/bench/*.c is a program of its own.
BENCH_BINS := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/%)

EMBED_MIGRATIONS := $(sort $(wildcard sql/[0-9]*.sql))
EMBED_DEMO := $(sort $(wildcard contrib/demo/*.sql))

.PHONY: all deps check run bench asan lint format clean FORCE
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

lint:
	bash contrib/check-banned.sh

format:
	clang-format -i $(wildcard src/*.[ch] reports/*.[ch] importers/*.[ch] \
		tests/*.[ch] tests/bench/*.[ch])

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(BIN_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BENCH_OBJ:.o=.d)
