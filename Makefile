# dadar — one GNU Makefile for the daemon, the tools, the tests and the benchmarks.
#
#   make            build everything into build/
#   make run        install missing packages, build, replay the sample feed through DPDK's pcap PMD
#   make test       install missing packages, build, run every unit and integration test
#   make asan       build with ASan+UBSan into build/asan/ and run the unit tests
#   make bench      run the benchmarks in bench/ (JSON into build/bench/, table in docs/benchmarks.md)
#   make bench-latency  wire-to-decision under paced load, dadar against the kernel path (root)
#   make fuzz       build the libFuzzer targets with clang and run each for FUZZ_SECONDS
#                   (make test runs each for FUZZ_RUNS inputs with a fixed seed)
#   make deps       install the Debian packages needed to build and test (idempotent)
#
# V=1 prints full command lines; MARCH overrides -march (default: native).

B        ?= build
MARCH    ?= native
OPT      ?= -O3
CC       ?= cc
Q        := $(if $(V),,@)

PKGS     := libdpdk liburing jemalloc cmocka libpcap zlib libsystemd libnats
DEB_PKGS := build-essential pkg-config dpdk-dev libdpdk-dev liburing-dev libjemalloc-dev \
            libcmocka-dev libpcap-dev zlib1g-dev libsystemd-dev python3 iproute2 tcpreplay clang libclang-rt-14-dev \
            openjdk-17-jdk-headless libhdrhistogram-java prometheus groff-base man-db systemd tshark \
            libnats-dev nats-server

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wcast-qual -Wpointer-arith -Wundef
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE $(OPT) -g $(WARN) -MMD -MP -I.

# pkg-config output is evaluated lazily so that `make deps` works before the packages exist.
# Library headers are system headers to us: their warnings are not ours to fix.
pc_cflags = $(shell pkg-config --cflags $(1) 2>/dev/null | sed 's/-I/-isystem /g; s/-march=[^ ]*//g')
pc_libs   = $(shell pkg-config --libs $(1) 2>/dev/null)

CFLAGS_CORE  = $(BASE_CFLAGS) -march=$(MARCH) $(EXTRA_CFLAGS) $(call pc_cflags,libnats)
CFLAGS_DPDK  = $(CFLAGS_CORE) $(call pc_cflags,libdpdk liburing jemalloc libsystemd)
LIBS_CORE    = $(call pc_libs,libnats) -lz -lm
LIBS_DPDK    = $(call pc_libs,libdpdk liburing jemalloc libsystemd) $(LIBS_CORE)
LIBS_TEST    = $(call pc_libs,cmocka) $(LIBS_CORE)

# Everything with logic that does not need a NIC is DPDK-free (DESIGN.md §2) and goes into one
# static library that the daemon, the tools, the tests and the benchmarks all link. The DPDK files
# live together in dataplane/dpdk/ and are the only ones built with DPDK's flags.
DPDK_SRCS := $(wildcard dataplane/dpdk/*.c)
DADAR     := $(if $(wildcard dataplane/dpdk/main.c),$(B)/dadar)
CORE_SRCS := $(wildcard ops/*.c ops/*/*.c shm/*.c dataplane/*/*.c)
CORE_SRCS := $(filter-out $(DPDK_SRCS),$(CORE_SRCS))
CORE_OBJS := $(CORE_SRCS:%.c=$(B)/%.o) $(B)/gen/fraud_default.o
CORE_LIB  := $(B)/libdadar.a

DADAR_OBJS := $(DPDK_SRCS:%.c=$(B)/%.o)

# tools/dadar_NAME.c is the main() of build/dadar-NAME; the other tools/*.c are shared by the tools,
# the tests of tools/ and the benchmarks (the feed generator's packer, pcap writer, synthetic stream).
TOOL_MAINS := $(wildcard tools/dadar_*.c)
TOOLS      := $(patsubst tools/dadar_%.c,$(B)/dadar-%,$(TOOL_MAINS))
TLIB_SRCS  := $(filter-out $(TOOL_MAINS),$(wildcard tools/*.c))
TOOL_LIB   := $(B)/libdadar_tools.a
TOOL_OBJS  := $(patsubst %.c,$(B)/%.o,$(wildcard tools/*.c))

TEST_SRCS  := $(wildcard tests/*/test_*.c tests/*/*/test_*.c)
TEST_BINS  := $(TEST_SRCS:tests/%.c=$(B)/tests/%)
BENCH_SRCS := $(wildcard bench/bench_*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(B)/bench/%)

.PHONY: all deps run test unit integration asan bench bench-latency fuzz clean
all: $(DADAR) $(TOOLS) $(TEST_BINS) $(BENCH_BINS)

deps:
	@missing=""; for p in $(PKGS); do pkg-config --exists $$p || missing="$$missing $$p"; done; \
	command -v python3 >/dev/null || missing="$$missing python3"; \
	command -v javac >/dev/null || missing="$$missing javac"; \
	command -v tcpreplay >/dev/null || missing="$$missing tcpreplay"; \
	command -v clang >/dev/null || missing="$$missing clang"; \
	command -v promtool >/dev/null || missing="$$missing promtool"; \
	command -v groff >/dev/null || missing="$$missing groff"; \
	command -v systemd-analyze >/dev/null || missing="$$missing systemd-analyze"; \
	command -v tshark >/dev/null || missing="$$missing tshark"; \
	command -v nats-server >/dev/null || missing="$$missing nats-server"; \
	ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || \
		missing="$$missing libFuzzer"; \
	[ -r /usr/share/java/hdrhistogram.jar ] || missing="$$missing hdrhistogram.jar"; \
	if [ -n "$$missing" ]; then \
		echo "deps: missing$$missing; installing Debian packages"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEB_PKGS) \
			>/dev/null || { echo "deps: apt-get install failed; install by hand: $(DEB_PKGS)"; exit 1; }; \
	fi

$(CORE_LIB): $(CORE_OBJS)
	@echo "  AR    $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(TOOL_LIB): $(TLIB_SRCS:%.c=$(B)/%.o)
	@echo "  AR    $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/ops/%.o $(B)/shm/%.o: CF = $(CFLAGS_CORE)
$(B)/dataplane/%.o: CF = $(CFLAGS_CORE)
$(DADAR_OBJS): CF = $(CFLAGS_DPDK)
$(TOOL_OBJS): CF = $(CFLAGS_CORE)
$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	$(Q)$(CC) $(CF) -c $< -o $@

# The default fraud rule set is built in (dadar runs with no file), from the file that ships.
$(B)/gen/fraud_default.c: rules/fraud-paytm.rules
	@mkdir -p $(dir $@)
	@echo "  GEN   $@"
	$(Q){ echo '/* generated from $< by the Makefile: edit that file */'; \
	  echo '#include "ops/fraud/rules.h"'; \
	  echo 'const char dd_frules_default_origin[] = "$<";'; \
	  echo 'const char dd_frules_default_text[] ='; \
	  sed 's/\\/\\\\/g; s/"/\\"/g; s/^/\t"/; s/$$/\\n"/' $<; \
	  echo ';'; } > $@.tmp && mv $@.tmp $@
$(B)/gen/fraud_default.o: $(B)/gen/fraud_default.c
	@echo "  CC    $<"
	$(Q)$(CC) $(CFLAGS_CORE) -c $< -o $@

$(B)/dadar: $(DADAR_OBJS) $(CORE_LIB)
	@echo "  LD    $@"
	$(Q)$(CC) $(CFLAGS_DPDK) -o $@ $^ $(LIBS_DPDK)

$(B)/dadar-%: $(B)/tools/dadar_%.o $(TOOL_LIB) $(CORE_LIB)
	@echo "  LD    $@"
	$(Q)$(CC) $(CFLAGS_CORE) -o $@ $^ $(LIBS_CORE)

# dadar-gen send paces a capture out of a DPDK port: the one part of the tools built with DPDK.
GEN_DPDK_OBJS := $(patsubst %.c,$(B)/%.o,$(wildcard tools/dpdk/*.c))
$(GEN_DPDK_OBJS): CF = $(CFLAGS_DPDK)
$(B)/dadar-gen: $(B)/tools/dadar_gen.o $(GEN_DPDK_OBJS) $(TOOL_LIB) $(CORE_LIB)
	@echo "  LD    $@"
	$(Q)$(CC) $(CFLAGS_DPDK) -o $@ $^ $(LIBS_DPDK)

$(B)/tests/%: tests/%.c $(TOOL_LIB) $(CORE_LIB)
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	$(Q)$(CC) $(CFLAGS_CORE) $(call pc_cflags,cmocka) -o $@ $< $(TOOL_LIB) $(CORE_LIB) $(LIBS_TEST)

# bench_journal drives the journal lcore itself: EAL, rte_ring, rte_malloc and io_uring.
$(B)/bench/bench_journal: bench/bench_journal.c $(B)/dataplane/dpdk/journal.o $(B)/dataplane/dpdk/outtx.o $(CORE_LIB)
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	$(Q)$(CC) $(CFLAGS_DPDK) -o $@ $< $(filter %.o,$^) $(CORE_LIB) $(LIBS_DPDK)

# bench_ring times the staged pipeline's ring hop: EAL, rte_ring and the daemon's event.
$(B)/bench/bench_ring: bench/bench_ring.c $(CORE_LIB)
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	$(Q)$(CC) $(CFLAGS_DPDK) -o $@ $< $(CORE_LIB) $(LIBS_DPDK)

# A benchmark's comparison peers are objects it lists as extra prerequisites, linked only into it.
$(B)/bench/bench_feed: $(B)/bench/peer_book.o
$(B)/bench/peer_book.o: CF = $(CFLAGS_CORE)
# Peers that run on their own, built by the generic rule below; not bench_*, which bench/run runs.
PEER_BINS := $(B)/bench/peer_kernel
all: $(PEER_BINS)
$(B)/bench/%: bench/%.c $(TOOL_LIB) $(CORE_LIB)
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	$(Q)$(CC) $(CFLAGS_CORE) -o $@ $< $(filter %.o,$^) $(TOOL_LIB) $(CORE_LIB) $(LIBS_CORE)

# ---- running -------------------------------------------------------------------------------------
SAMPLE_ITCH := tests/data/itch/ex20101224.TEST_ITCH_50
SAMPLE_PCAP := $(B)/sample/itch-sample.pcap
RUN_EAL     := --no-huge --no-pci -m 512 --no-shconf --no-telemetry --log-level=*:warning -l 0-1

$(SAMPLE_PCAP): $(SAMPLE_ITCH) $(B)/dadar-gen
	@mkdir -p $(dir $@)
	$(Q)$(B)/dadar-gen itch-file $< $@

# A day of synthetic payments with labelled fraud scenarios, and the merchant risk table they use.
SAMPLE_PAY := $(B)/sample/payments.pcap
$(SAMPLE_PAY): $(B)/dadar-gen
	@mkdir -p $(dir $@)
	$(Q)$(B)/dadar-gen payments $@ --seed 1 --count 30000 --payers 5000 --days 3 --scenarios 4 --merchant-table $(B)/sample/merchants.csv \
		--labels $(B)/sample/payment-labels.csv

# A planted market day (docs/patterns.md): every pattern of rules/market.rules once, over a calm
# background, on two venues merged in time order (the second venue crosses the first for arbitrage),
# and the alerts the rules must produce.
SAMPLE_PLANT := $(B)/sample/planted.pcap
$(SAMPLE_PLANT): $(B)/dadar-gen
	@mkdir -p $(dir $@)
	$(Q)$(B)/dadar-gen synth $(B)/sample/planted-venue1.pcap --plant all --expect $(B)/sample/planted-alerts.jsonl \
		--plant-venue2 $(B)/sample/planted-venue2.pcap --group 233.54.12.121 --flush-ns 1000 --seed 7 \
		--instruments 50 2>/dev/null
	$(Q)mergecap -F pcap -w $@ $(B)/sample/planted-venue1.pcap $(B)/sample/planted-venue2.pcap

# The ITCH sample on one port and the payments on another, through the same process; then the
# planted day (a market day of its own: feeds of different days do not share a watermark) through
# rules/market.rules, on two venues.
run: deps
	$(Q)$(MAKE) --no-print-directory $(B)/dadar $(SAMPLE_PCAP) $(SAMPLE_PAY) $(SAMPLE_PLANT)
	$(Q)$(B)/dadar $(RUN_EAL) --vdev net_pcap0,rx_pcap=$(SAMPLE_PCAP) --vdev net_pcap1,rx_pcap=$(SAMPLE_PAY) -- \
		--exit-on-idle 200 --summary $(B)/sample/summary.json --book-dump $(B)/sample/book.csv \
		--output $(B)/sample/outputs.jsonl --set fraud.merchant_table=$(B)/sample/merchants.csv
	@echo "summary: $(B)/sample/summary.json   book: $(B)/sample/book.csv   decisions and quotes: $(B)/sample/outputs.jsonl"
	@echo
	@echo "== the planted market day through rules/market.rules (expected alerts: $(B)/sample/planted-alerts.jsonl)"
	$(Q)$(B)/dadar $(RUN_EAL) --vdev net_pcap0,rx_pcap=$(SAMPLE_PLANT) -- --rules rules/market.rules \
		--feed venue1=233.54.12.121:26477 --feed venue2=233.54.12.120:26477 \
		--capacity-orders 65536 --capacity-levels 16384 --exit-on-idle 200 \
		--summary $(B)/sample/planted-summary.json --output $(B)/sample/alerts.jsonl
	@echo "summary: $(B)/sample/planted-summary.json   alerts, windows and quotes: $(B)/sample/alerts.jsonl"

# A local NATS server with JetStream for --nats (docs/operations.md); Ctrl-C stops it.
NATS_PORT ?= 4222
.PHONY: nats
nats: deps
	@mkdir -p $(B)/nats
	nats-server -js -a 127.0.0.1 -p $(NATS_PORT) -sd $(B)/nats

test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory unit integration fuzz-smoke

unit: $(TEST_BINS) $(TOOLS)
	$(Q)B=$(B) tests/run-unit $(TEST_BINS)

integration: $(B)/dadar $(TOOLS)
	$(Q)B=$(B) tests/run-integration
	$(Q)tests/shm/hdr_interop.sh; rc=$$?; \
	if [ $$rc = 77 ]; then echo "  SKIP  hdr_interop (see the message above)"; \
	elif [ $$rc != 0 ]; then echo "  FAIL  hdr_interop"; exit 1; else echo "  PASS  hdr_interop"; fi

asan: deps
	$(Q)$(MAKE) --no-print-directory B=build/asan OPT=-O1 \
		EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		unit-asan

.PHONY: unit-asan
unit-asan: $(TEST_BINS) $(TOOLS)
	$(Q)B=$(B) tests/run-unit $(TEST_BINS)

bench: all
	$(Q)B=$(B) bench/run

# make bench-latency: wire-to-decision under paced load, dadar over net_memif against the kernel path
# (bench/peer_kernel on a net_tap interface), one generator, one run: build/bench/latency.json.
# The kernel path needs root (a tap); docs/benchmarks.md has the method and the figures.
bench-latency: all
	$(Q)B=$(B) python3 bench/latency.py

FUZZ_SECONDS ?= 60
fuzz:
	$(Q)B=$(B) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run

# every fuzz target for a fixed number of inputs from the committed seeds, with a fixed seed
FUZZ_RUNS ?= 3000
.PHONY: fuzz-smoke
fuzz-smoke:
	$(Q)echo "fuzz: every target for $(FUZZ_RUNS) inputs"; B=$(B) FUZZ_RUNS=$(FUZZ_RUNS) tests/fuzz/run; rc=$$?; \
	if [ $$rc = 77 ]; then echo "  SKIP  fuzz (see the message above)"; elif [ $$rc != 0 ]; then exit 1; fi

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)

# ---- installing ----------------------------------------------------------------------------------
# make install [PREFIX=/usr/local] [DESTDIR=stage]: the binaries to $(PREFIX)/bin, their man pages,
# the shipped rule sets to $(PREFIX)/share/dadar/rules, dadar.conf.example to /etc/dadar (never
# /etc/dadar/dadar.conf itself) and the systemd unit (docs/operations.md, "Running as a service").
# The unit goes where systemd looks: /lib/systemd/system for PREFIX=/usr (where Debian's packages put
# units), else $(PREFIX)/lib/systemd/system (on systemd's path for /usr/local; any other prefix needs
# `systemctl link`); UNITDIR overrides it. The files name their paths for the default prefix, and
# another prefix is written into the installed copies. No step needs root when DESTDIR is set.
PREFIX   ?= /usr/local
UNITDIR  ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
INST_BIN := $(B)/dadar $(TOOLS)
INST_TXT := $(wildcard docs/man/*.[15]) docs/service/dadar.service docs/service/dadar.conf.example
INST_MAN  = $(addprefix $$t/,$(notdir $(filter %.$(1),$(INST_TXT))))

.PHONY: install uninstall
install: $(INST_BIN)
	@echo "  INSTALL $(DESTDIR)$(PREFIX)"
	$(Q)t=$$(mktemp -d) && trap 'rm -rf "$$t"' EXIT && \
	for f in $(INST_TXT); do sed 's|/usr/local/|$(PREFIX)/|g' $$f > $$t/$${f##*/} || exit 1; done && \
	install -D -m 0755 -t $(DESTDIR)$(PREFIX)/bin $(INST_BIN) && \
	install -D -m 0644 -t $(DESTDIR)$(PREFIX)/share/man/man1 $(call INST_MAN,1) && \
	install -D -m 0644 -t $(DESTDIR)$(PREFIX)/share/man/man5 $(call INST_MAN,5) && \
	install -D -m 0644 -t $(DESTDIR)$(PREFIX)/share/dadar/rules rules/fraud-paytm.rules rules/fraud-upi.rules rules/market.rules && \
	install -D -m 0644 $$t/dadar.conf.example $(DESTDIR)/etc/dadar/dadar.conf.example && \
	install -D -m 0644 $$t/dadar.service $(DESTDIR)$(UNITDIR)/dadar.service
	$(Q)[ -e $(DESTDIR)/etc/dadar/dadar.conf ] || echo "install: /etc/dadar/dadar.conf does not exist yet:" \
		"copy /etc/dadar/dadar.conf.example to it and edit it before starting dadar.service"

uninstall:
	@echo "  UNINSTALL $(DESTDIR)$(PREFIX)"
	$(Q)rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(notdir $(INST_BIN))) \
		$(addprefix $(DESTDIR)$(PREFIX)/share/man/man1/,$(notdir $(filter %.1,$(INST_TXT)))) \
		$(addprefix $(DESTDIR)$(PREFIX)/share/man/man5/,$(notdir $(filter %.5,$(INST_TXT)))) \
		$(DESTDIR)$(PREFIX)/share/dadar/rules/fraud-paytm.rules $(DESTDIR)$(PREFIX)/share/dadar/rules/fraud-upi.rules $(DESTDIR)$(PREFIX)/share/dadar/rules/market.rules \
		$(DESTDIR)/etc/dadar/dadar.conf.example $(DESTDIR)$(UNITDIR)/dadar.service
	$(Q)rmdir $(DESTDIR)$(PREFIX)/share/dadar/rules $(DESTDIR)$(PREFIX)/share/dadar 2>/dev/null || true
	$(Q)[ ! -e $(DESTDIR)/etc/dadar/dadar.conf ] || echo "uninstall: kept $(DESTDIR)/etc/dadar/dadar.conf (yours)"
	$(Q)rmdir $(DESTDIR)/etc/dadar 2>/dev/null || true

# make install-dissector: tools/wireshark/dadar.lua into Wireshark's personal Lua plugin folder
# ("Personal Lua Plugins" in `tshark -G folders`). For every user, as root:
# make install-dissector WS_PLUGIN_DIR=/usr/lib/x86_64-linux-gnu/wireshark/plugins
WS_PLUGIN_DIR ?= $(HOME)/.local/lib/wireshark/plugins
.PHONY: install-dissector uninstall-dissector
install-dissector:
	@echo "  INSTALL $(DESTDIR)$(WS_PLUGIN_DIR)/dadar.lua"
	$(Q)install -D -m 0644 tools/wireshark/dadar.lua $(DESTDIR)$(WS_PLUGIN_DIR)/dadar.lua
uninstall-dissector:
	@echo "  UNINSTALL $(DESTDIR)$(WS_PLUGIN_DIR)/dadar.lua"
	$(Q)rm -f $(DESTDIR)$(WS_PLUGIN_DIR)/dadar.lua
