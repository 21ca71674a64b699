# muxlab - one echo-server core, one object per I/O model.
#
#   make                 build bin/echo-<backend> for every backend, and bin/loadgen
#   make SAN=asan        the same under AddressSanitizer + UBSan, into bin/asan/
#   make SAN=tsan        the same under ThreadSanitizer, into bin/tsan/
#   make CC=clang        any compiler; warnings are errors with every one
#   make test            build, then run the black-box suites (tests/run)
#   make bench           the quick benchmark run (a few minutes); make bench-full:
#                        the long one.  Variables: BACKENDS= SUITES= DURATION= REPEAT=
#   make lab             every exercise in lab/, in full (make test runs them --quick)
#   make soak            10 minutes of mixed load on every backend in turn,
#                        failing if memory or fds grow (SOAK_MINUTES=10)
#   make docs            regenerate docs/side-by-side.html (the backends in pairs)
#   make V=1             show the commands

# Every backends/*.c is a backend, except the core's own files (core*.c):
# adding a model is adding a file.  Every backend is built on every make,
# so none can rot.  (BACKENDS= on the command line chooses what `make bench`
# runs, not what is built.)  `make print-backends` prints the list, which
# the test suites and the harness read.
CORE_SRCS    := $(wildcard backends/core*.c)
ALL_BACKENDS := $(sort $(basename $(notdir $(filter-out $(CORE_SRCS),$(wildcard backends/*.c)))))

CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -MMD -MP
LDLIBS  += -pthread -lm

SAN ?=
ifeq ($(SAN),)
  BIN   := bin
  BUILD := build
else ifeq ($(SAN),asan)
  BIN   := bin/asan
  BUILD := build/asan
  CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
  LDFLAGS += -fsanitize=address,undefined
else ifeq ($(SAN),tsan)
  BIN   := bin/tsan
  BUILD := build/tsan
  CFLAGS  += -fsanitize=thread -fno-omit-frame-pointer
  LDFLAGS += -fsanitize=thread
else
  $(error SAN must be asan or tsan, not '$(SAN)')
endif

ECHO_BINS    := $(ALL_BACKENDS:%=$(BIN)/echo-%)
CORE_OBJS    := $(CORE_SRCS:%.c=$(BUILD)/%.o)
LOADGEN_SRCS := $(wildcard bench/loadgen/*.c)
LOADGEN_OBJS := $(LOADGEN_SRCS:%.c=$(BUILD)/%.o)
LOADGEN_BIN  := $(if $(LOADGEN_SRCS),$(BIN)/loadgen)
# Small single-file helpers for benchmarks and tests (bench/tools/NAME.c -> bin/NAME).
TOOL_BINS    := $(patsubst bench/tools/%.c,$(BIN)/%,$(wildcard bench/tools/*.c))

ifeq ($(V),1)
  Q :=
else
  Q := @
endif

all: $(ECHO_BINS) $(LOADGEN_BIN) $(TOOL_BINS)

# The link-time choice of I/O model: the core plus exactly one backend.
$(BIN)/echo-%: $(CORE_OBJS) $(BUILD)/backends/%.o
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/loadgen: $(LOADGEN_OBJS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/%: $(BUILD)/bench/tools/%.o
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Reference echo servers on event libraries, for the benchmarks only
# (apt-get install libevent-dev libuv1-dev).
ref: $(BIN)/ref/echo-libevent $(BIN)/ref/echo-libuv

$(BIN)/ref/echo-libevent: $(BUILD)/bench/ref/echo-libevent.o
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -levent

$(BIN)/ref/echo-libuv: $(BUILD)/bench/ref/echo-libuv.o
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -luv

# The io_uring ablation (bench/README.md): each io_uring backend with the
# other's ring setup flags, one line changed, as bin/abl/echo-NAME.
URING_FLAGS := IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN
ABLATION    := $(BIN)/abl/echo-uring-flags $(BIN)/abl/echo-ms-noflags
ablation: $(ABLATION)

$(BUILD)/abl/uring-flags.c: backends/uring.c
	@mkdir -p $(@D)
	$(Q)sed 's/ring_init(lfd, 0,/ring_init(lfd, $(URING_FLAGS),/' $< >$@
	$(Q)! cmp -s $< $@ || { echo "$<: no ring_init(lfd, 0, ...) to change" >&2; rm $@; exit 1; }

$(BUILD)/abl/ms-noflags.c: backends/uring-multishot.c
	@mkdir -p $(@D)
	$(Q)sed 's/ring_init(lfd, $(URING_FLAGS),/ring_init(lfd, 0,/' $< >$@
	$(Q)! cmp -s $< $@ || { echo "$<: no ring_init(lfd, $(URING_FLAGS), ...) to change" >&2; rm $@; exit 1; }

$(BIN)/abl/echo-%: $(BUILD)/abl/%.c $(CORE_OBJS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC+LD   $@")
	$(Q)$(CC) $(CPPFLAGS) -Ibackends -DBACKEND_NAME='"$*"' $(filter-out -MMD -MP,$(CFLAGS)) \
		$(LDFLAGS) -o $@ $< $(CORE_OBJS) $(LDLIBS)

# A backend's name is its file's name: a copy of a file is a new backend.
$(BUILD)/backends/%.o: CPPFLAGS += -DBACKEND_NAME='"$(*F)"'

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# The suites run the binaries of the plain build and of both sanitizer builds;
# clang, when installed, must also build everything without a warning.
test:
	@bench/need-tools
	$(MAKE) all
	$(MAKE) all SAN=asan
	$(MAKE) all SAN=tsan
	@if command -v clang >/dev/null; then \
		$(MAKE) all CC=clang BIN=bin/clang BUILD=build/clang; \
	else \
		echo "clang not installed: skipping the clang build (apt-get install clang)"; \
	fi
	tests/run

lab: all
	@bench/need-tools
	tests/lab.py --full --times

SOAK_MINUTES ?= 10

soak: all
	tests/soak --minutes $(SOAK_MINUTES)

bench: all
	@bench/run

bench-full: all
	@FULL=1 bench/run

# The study page: every pair of backends side by side (python3 only; the
# pairs are the backends' own, from their --describe, so it builds them
# first).  The page is committed; tests/docs.py fails when it is stale.
# Phony: docs/ is also a directory, which make would take for the target,
# up to date.
.PHONY: docs
docs: all
	python3 docs/side_by_side.py

print-cc:
	@echo "$(CC) $(CFLAGS)"

print-backends:
	@echo $(ALL_BACKENDS)

# The core's objects, for linking a backend built elsewhere (lab 06).
print-core-objs:
	@echo $(CORE_OBJS)

clean:
	rm -rf bin build

.PHONY: all test lab soak bench bench-full print-cc print-backends print-core-objs ref ablation clean
.SECONDARY:

-include $(wildcard $(BUILD)/backends/*.d $(BUILD)/bench/loadgen/*.d $(BUILD)/bench/tools/*.d $(BUILD)/bench/ref/*.d)
