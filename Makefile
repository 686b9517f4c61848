# LLMProxy: HAProxy data path + llmproxy-agent (SPOP decisions) + llmproxy-ctl (YAML -> haproxy.cfg).
#
#   make                 build build/llmproxy-ctl and build/llmproxy-agent
#   make test            install missing Debian packages, build, run the unit tests plain and
#                        under ASan+UBSan, then the integration tests against real HAProxy
#   make deps            install missing Debian packages (root, non-interactive, idempotent)
#   make unit            unit tests of the current variant only (O=..., SAN=...)
#   make lint            the include rules between folders, and no include cycle between
#                        modules (tests/lint/includes.sh; docs/architecture.md)
#   make integration     integration tests only (uses the sanitizer build)
#   make bench-agent     SPOP decision benchmark of the agent
#   make bench           full data path side by side: direct, HAProxy, LLMProxy (roundrobin and
#                        response_aware), Portkey when npm has it (tests/bench/full.sh, ~4 min)
#   make soak            10-minute mixed load with faults, watching RSS and fds for growth
#                        (tests/soak/soak.sh; SOAK_SECONDS=600; not part of make test)
#   make run             build, then run the demo in the foreground (docs/examples/config.yaml:
#                        HAProxy, the agent, two mock upstreams on loopback); Ctrl-C stops it
#   make format          clang-format every C file in place
#   make deb             build the llmproxy .deb (dpkg-buildpackage) into $(O)/packages
#   make rpm             build the llmproxy .rpm (rpmbuild, packaging/rpm/llmproxy.spec) likewise
#   make fuzz            build the libFuzzer harnesses (clang) and run each FUZZ_SECONDS (60)
#   make fuzz-smoke      the same, 10 s each (docs/reliability.md)
#   make -s print-version   print VERSION (the packaging scripts read it from here)
#
# Source files are discovered by folder, so adding a module needs no Makefile change:
#   contract/*.c     what both binaries must agree on (names, formats, paths), built into the
#                    configuration library
#   ctl/config/*.c   the configuration library, linked by both binaries
#   ctl/*.c          llmproxy-ctl (ctl/main.c is its entry point, the rest is a library)
#   agent/*.c        the agent (agent/main.c is its entry point, the rest is a library)
#   tests/unit/check_*.c       one Check test program each (+ tests/unit/util/*.c)
#   tests/tools/*.c            one helper program each (mock upstream, load generator, ...)
#   tests/fuzz/fuzz_*.c        one libFuzzer harness each (+ tests/fuzz/util/*.c)

# The one place the release number lives: both programs' --version, and the packages
# (packaging/debian/changelog and the RPM spec must carry the same, their scripts check).
VERSION  := 0.1.0

CC       ?= cc
O        ?= build
SAN      ?= 0

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wformat=2 -Wvla -Wundef
CSTD     := -std=c11 -D_GNU_SOURCE
ifeq ($(SAN),1)
OPT      ?= -O1 -g -fno-omit-frame-pointer
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all
else
OPT      ?= -O2 -g
SANFLAGS :=
endif

# Each folder sees only the headers it may include (docs/architecture.md, `make lint`), so a
# forbidden include is a build error: contract/ headers by their folder ("contract/x.h"),
# the agent and llmproxy-ctl their own and the configuration library's, never each other's.
# Tests, tools and fuzz harnesses see everything.
INCS_CONTRACT := -I.
INCS_CONF     := -I. -Ictl/config
INCS_CTL      := -I. -Ictl -Ictl/config
INCS_AGENT    := -I. -Iagent -Ictl/config
INCS_ALL      := -I. -Ictl/config -Ictl -Iagent
incs = $(if $(filter contract/%,$(1)),$(INCS_CONTRACT),$(if $(filter ctl/config/%,$(1)),$(INCS_CONF),$(if \
       $(filter ctl/%,$(1)),$(INCS_CTL),$(if $(filter agent/%,$(1)),$(INCS_AGENT),$(INCS_ALL)))))

CFLAGS   += $(CSTD) $(WARN) $(OPT) $(SANFLAGS) -MMD -MP
LDFLAGS  += $(SANFLAGS)
VERSION_FLAG := -DLLMPROXY_VERSION='"$(VERSION)"'

LIBS_CONF  := -lyaml -lcrypto $(shell pkg-config --libs libpcre2-8 2>/dev/null || echo -lpcre2-8)
LIBS_AGENT := -lev -lhiredis -lssl -lcrypto -lm
LIBS_CHECK  = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck)

CONF_SRCS  := $(sort $(wildcard contract/*.c ctl/config/*.c))
CTL_MAIN   := $(wildcard ctl/main.c)
CTL_SRCS   := $(filter-out ctl/main.c,$(sort $(wildcard ctl/*.c)))
AGENT_MAIN := $(wildcard agent/main.c)
AGENT_SRCS := $(filter-out agent/main.c,$(sort $(wildcard agent/*.c)))
UTIL_SRCS  := $(sort $(wildcard tests/unit/util/*.c))
UNIT_SRCS  := $(sort $(wildcard tests/unit/check_*.c))
TOOL_SRCS  := $(sort $(wildcard tests/tools/*.c))

obj = $(patsubst %.c,$(O)/obj/%.o,$(1))

LIBCONF    := $(O)/libllmconf.a
LIBAGENT   := $(O)/libllmagent.a
LIBCTL     := $(O)/libllmctl.a
CTL_BIN    := $(if $(CTL_MAIN),$(O)/llmproxy-ctl)
AGENT_BIN  := $(if $(AGENT_MAIN),$(O)/llmproxy-agent)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRCS))
TOOL_BINS  := $(patsubst tests/tools/%.c,$(O)/tools/%,$(TOOL_SRCS))

.PHONY: all deps lint test unit integration integration-matrix haproxy-builds bench-agent bench \
        soak run format deb rpm clean fuzz fuzz-build fuzz-smoke print-version
# Keep objects that only pattern rules reach (tests, tools) so they are not rebuilt.
.SECONDARY:
.DEFAULT_GOAL := all

all: $(CTL_BIN) $(AGENT_BIN) $(TOOL_BINS)

deps:
	@packaging/install-deps.sh

$(O)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(call incs,$<) -c -o $@ $<

# Only the entry points print the version; they are rebuilt when it changes.
$(call obj,$(CTL_MAIN) $(AGENT_MAIN)): CFLAGS += $(VERSION_FLAG)
$(call obj,$(CTL_MAIN) $(AGENT_MAIN)): Makefile

print-version:
	@echo $(VERSION)

$(LIBCONF): $(call obj,$(CONF_SRCS))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBAGENT): $(call obj,$(AGENT_SRCS))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBCTL): $(call obj,$(CTL_SRCS))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(O)/llmproxy-ctl: $(call obj,$(CTL_MAIN)) $(LIBCTL) $(LIBCONF)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CONF) -lcrypto

$(O)/llmproxy-agent: $(call obj,$(AGENT_MAIN)) $(LIBAGENT) $(LIBCONF)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CONF) $(LIBS_AGENT)

$(O)/tests/check_%: $(O)/obj/tests/unit/check_%.o $(call obj,$(UTIL_SRCS)) $(LIBCTL) $(LIBAGENT) $(LIBCONF)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CHECK) $(LIBS_CONF) $(LIBS_AGENT)

$(O)/tools/%: $(O)/obj/tests/tools/%.o $(LIBAGENT) $(LIBCONF)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CONF) $(LIBS_AGENT) -lpthread

# Unit tests of one variant. Each program prints Check's summary line; the runner adds
# a total and fails if any program failed.
unit: $(UNIT_BINS)
	@tests/run-unit.sh $(UNIT_BINS)

# The integration suite against the system's HAProxy (Debian 12's 2.6), or $HAPROXY.
integration:
	$(MAKE) SAN=1 O=build/san all
	@LLMPROXY_BUILD=$(CURDIR)/build/san tests/integration/run.sh

# The HAProxy releases, besides the system's, that users run and the suite runs against:
# Debian 13's and RHEL 10's 3.0, and the 3.2 LTS. Each is built once from its release
# tarball into build/haproxy/<version>/ (tests/lib/haproxy-build.sh).
HAPROXY_MATRIX ?= 3.0.11 3.2.0

haproxy-builds:
	@tests/lib/haproxy-build.sh $(CURDIR)/build/haproxy $(HAPROXY_MATRIX)

integration-matrix:
	$(MAKE) SAN=1 O=build/san all
	@LLMPROXY_BUILD=$(CURDIR)/build/san tests/integration/matrix.sh $(CURDIR)/build/haproxy $(HAPROXY_MATRIX)

lint:
	@tests/lint/includes.sh
	@tests/lint/haproxy-versions.sh

# The README's test command: from a fresh Debian 12 machine (as root) to a verdict.
test: deps
	$(MAKE) lint
	$(MAKE) all unit
	$(MAKE) SAN=1 O=build/san all unit
	$(MAKE) integration
	$(MAKE) integration-matrix

bench-agent: all
	@tests/bench/agent.sh $(O)

# The release build in build/ unless O says otherwise; loopback only, stops what it started.
bench: all
	@tests/bench/full.sh $(O)

# The release build in build/ unless O says otherwise; loopback only, stops what it started.
soak: all
	@tests/soak/soak.sh $(O)

# Ports and folders are set by environment variables: see packaging/run-local.sh.
run: deps
	$(MAKE) all
	@LLMPROXY_BUILD=$(abspath $(O)) packaging/run-local.sh

# Packages build from a copy of the tree with their own flags (packaging/build-release.sh).
deb rpm: deps
	@packaging/build-$@.sh $(O)/packages

# Fuzzing: every harness is linked with clang's libFuzzer under ASan+UBSan against an
# archive of the product sources built the same way, so it pulls in just the files it needs.
# tests/fuzz/run.sh runs each on a copy of its seed corpus in $(FUZZ_O)/corpus-<name>.
FUZZ_CC      ?= clang
FUZZ_O       ?= build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS  := $(CSTD) $(WARN) -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) -MMD -MP
FUZZ_SRCS    := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRCS))
FUZZ_BINS    := $(patsubst tests/fuzz/%.c,$(FUZZ_O)/%,$(FUZZ_SRCS))
FUZZ_LIBSRCS := $(CONF_SRCS) $(CTL_SRCS) $(AGENT_SRCS) $(sort $(wildcard tests/fuzz/util/*.c))

$(FUZZ_O)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(call incs,$<) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_O)/libfuzztarget.a: $(patsubst %.c,$(FUZZ_O)/obj/%.o,$(FUZZ_LIBSRCS))
	rm -f $@ && ar rcs $@ $^

$(FUZZ_O)/fuzz_%: $(FUZZ_O)/obj/tests/fuzz/fuzz_%.o $(FUZZ_O)/libfuzztarget.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LIBS_CONF) $(LIBS_AGENT)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@FUZZ_O=$(FUZZ_O) tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_NAMES)

fuzz-smoke: fuzz-build
	@FUZZ_O=$(FUZZ_O) tests/fuzz/run.sh 10 $(FUZZ_NAMES)

format:
	clang-format -i $(shell git ls-files '*.c' '*.h')

clean:
	rm -rf build

-include $(shell find $(O)/obj -name '*.d' 2>/dev/null)
ifneq ($(filter fuzz%,$(MAKECMDGOALS)),)
-include $(shell find $(FUZZ_O)/obj -name '*.d' 2>/dev/null)
endif
