# vmm: the top-level Makefile.  `make` builds what exists, `make test` builds
# and runs every test, `make install` honours PREFIX and DESTDIR.
#
#   SAN=address,undefined   build with sanitizers
#   WERROR=0                do not turn warnings into errors
#   V=1                     show the commands

PREFIX	?= /usr/local
DESTDIR	?=
BINDIR	?= $(PREFIX)/bin
SBINDIR	?= $(PREFIX)/sbin
LIBEXECDIR ?= $(PREFIX)/libexec
LIBDIR	?= $(PREFIX)/lib
INCDIR	?= $(PREFIX)/include
MANDIR	?= $(PREFIX)/share/man
PKGDIR	?= $(LIBDIR)/pkgconfig

B	?= build
CC	?= cc
WERROR	?= 1
SAN	?=

# Debian packages the build needs; later parts append to this list.
DEB_PKGS := build-essential pkg-config libjansson-dev libuv1-dev \
	libsqlite3-dev libssl-dev libcmocka-dev libseccomp-dev

WARN	:= -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes -Wshadow \
	-Wpointer-arith -Wcast-qual -Wformat=2 -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN	+= -Werror
endif

CFLAGS	?= -O2 -g
CFLAGS	+= -std=gnu11 -D_GNU_SOURCE -pthread -fPIC $(WARN)
LDFLAGS	+= -pthread
ifneq ($(SAN),)
CFLAGS	+= -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS	+= -fsanitize=$(SAN)
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

# ---------------------------------------------------------------------------
# Dependencies: as root, install what is missing; otherwise say what to run.

DEPS_STAMP := $(B)/.deps

$(DEPS_STAMP): Makefile
	$(Q)command -v dpkg-query >/dev/null 2>&1 || { \
		echo "deps: not a Debian system; install by hand: $(DEB_PKGS)"; \
		mkdir -p $(B); touch $@; exit 0; }; \
	missing=""; \
	for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		    grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then \
			echo "deps: missing Debian packages; run:"; \
			echo "  sudo apt-get install -y$$missing"; \
			exit 1; \
		fi; \
		echo "deps: installing$$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y --no-install-recommends $$missing || \
		{ apt-get update && \
		  apt-get install -y --no-install-recommends $$missing; } || \
		exit 1; \
	fi; \
	mkdir -p $(B); touch $@

.PHONY: deps
deps: $(DEPS_STAMP)

# ---------------------------------------------------------------------------
# libvmm

LIBVMM_SO_VERSION := 0
LIBVMM_SRCS := libvmm/libnvmm.c libvmm/libnvmm_x86.c libvmm/kvm_cpu.c \
	libvmm/kvm_state.c libvmm/backend_kvm.c libvmm/backend_gate.c \
	libvmm/mmu.c
LIBVMM_OBJS := $(LIBVMM_SRCS:%.c=$(B)/%.o)
LIBVMM_HDRS := libvmm/nvmm.h libvmm/internal.h libvmm/kvm_cpu.h \
	kmod/nvmm_kern.h

LIBVMM_A  := $(B)/libvmm.a
LIBVMM_SO := $(B)/libvmm.so.$(LIBVMM_SO_VERSION)

$(B)/libvmm/%.o: libvmm/%.c $(LIBVMM_HDRS) $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -fvisibility=hidden -DLIBVMM_BUILD -c -o $@ $<

$(LIBVMM_A): $(LIBVMM_OBJS)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBVMM_SO): $(LIBVMM_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) -shared -Wl,-soname,libvmm.so.$(LIBVMM_SO_VERSION) \
		-Wl,-z,defs -o $@ $^ $(LDFLAGS)
	$(Q)ln -sf libvmm.so.$(LIBVMM_SO_VERSION) $(B)/libvmm.so
	$(Q)ln -sf libvmm.so.$(LIBVMM_SO_VERSION) $(B)/libnvmm.so
	$(Q)ln -sf libvmm.a $(B)/libnvmm.a

$(B)/libvmm.pc: libvmm/libvmm.pc.in Makefile
	@mkdir -p $(B)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCDIR@|$(INCDIR)|' $< > $@

.PHONY: libvmm
libvmm: $(LIBVMM_A) $(LIBVMM_SO) $(B)/libvmm.pc

# ---------------------------------------------------------------------------
# proto: the RPC contract and the VM definition, shared by every program.

PROTO_SRCS := $(wildcard proto/*.c)
PROTO_OBJS := $(PROTO_SRCS:%.c=$(B)/%.o)
PROTO_HDRS := $(wildcard proto/*.h)
PROTO_A    := $(B)/libproto.a

$(B)/proto/%.o: proto/%.c $(PROTO_HDRS) $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -Iproto -c -o $@ $<

$(PROTO_A): $(PROTO_OBJS)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

# ---------------------------------------------------------------------------
# vmmd, the daemon: everything but main.c goes into an archive the tests
# link against.

VMMD_SRCS := $(filter-out vmmd/main.c,$(wildcard vmmd/*.c))
VMMD_OBJS := $(VMMD_SRCS:%.c=$(B)/obj/%.o)
VMMD_HDRS := $(wildcard vmmd/*.h) $(PROTO_HDRS)
VMMD_A    := $(B)/libvmmd.a
VMMD_CFLAGS := $(CFLAGS) -Ilibvmm -Iproto -Ivmmd
VMMD_LIBS := -lsqlite3 -ljansson -luv -lssl -lcrypto

$(B)/obj/vmmd/%.o: vmmd/%.c $(VMMD_HDRS) $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(VMMD_CFLAGS) -c -o $@ $<

$(VMMD_A): $(VMMD_OBJS)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

# The daemon finds the worker where `make install` puts it; a build-tree
# vmmd is pointed at build/vmm-worker by its config (the tests do so).
VMMD_BIN := $(B)/vmmd
$(B)/obj/vmmd/config.o: VMMD_CFLAGS += \
	-DCONFIG_WORKER_DEFAULT='"$(LIBEXECDIR)/vmm-worker"'

$(VMMD_BIN): $(B)/obj/vmmd/main.o $(VMMD_A) $(PROTO_A) $(LIBVMM_A)
	@echo "  LD      $@"
	$(Q)$(CC) -o $@ $^ $(LDFLAGS) $(VMMD_LIBS)

.PHONY: vmmd
vmmd: $(VMMD_BIN)

# ---------------------------------------------------------------------------
# vmmctl, the command-line client: proto/, jansson and OpenSSL (tls://).

VMMCTL_SRCS := $(wildcard vmmctl/*.c)
VMMCTL_OBJS := $(VMMCTL_SRCS:%.c=$(B)/obj/%.o)
VMMCTL_HDRS := $(wildcard vmmctl/*.h) $(PROTO_HDRS)
VMMCTL_BIN  := $(B)/vmmctl
VMMCTL_LIBS := -ljansson -lssl -lcrypto

$(B)/obj/vmmctl/%.o: vmmctl/%.c $(VMMCTL_HDRS) $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -Iproto -Ivmmctl -c -o $@ $<

$(VMMCTL_BIN): $(VMMCTL_OBJS) $(PROTO_A)
	@echo "  LD      $@"
	$(Q)$(CC) -o $@ $^ $(LDFLAGS) $(VMMCTL_LIBS)

.PHONY: vmmctl
vmmctl: $(VMMCTL_BIN)

# ---------------------------------------------------------------------------
# vmm-worker: one process per running VM.  Everything but main.c also goes
# into an archive the tests link against.

WORKER_SRCS := $(filter-out vmmd/worker/main.c,$(wildcard vmmd/worker/*.c))
WORKER_OBJS := $(WORKER_SRCS:%.c=$(B)/obj/%.o)
WORKER_HDRS := $(wildcard vmmd/worker/*.h) $(PROTO_HDRS) libvmm/nvmm.h
WORKER_A    := $(B)/libworker.a
WORKER_BIN  := $(B)/vmm-worker
WORKER_CFLAGS := $(CFLAGS) -Ilibvmm -Iproto -Ivmmd/worker -Ikmod
WORKER_LIBS := -ljansson -luv -lseccomp

$(B)/obj/vmmd/worker/%.o: vmmd/worker/%.c $(WORKER_HDRS) $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(WORKER_CFLAGS) -c -o $@ $<

# The seccomp filter is compiled at build time: sandbox.c, built as a
# program, prints it as a header that sandbox.c then includes.
SANDBOX_GEN := $(B)/obj/vmmd/worker/sandbox_gen
SANDBOX_BPF := $(B)/obj/vmmd/worker/sandbox_bpf.h
WORKER_CFLAGS += -I$(B)/obj/vmmd/worker

$(SANDBOX_GEN): vmmd/worker/sandbox.c $(WORKER_HDRS) $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	$(Q)$(CC) $(WORKER_CFLAGS) -DSANDBOX_GEN -o $@ $< $(LDFLAGS) -lseccomp

$(SANDBOX_BPF): $(SANDBOX_GEN)
	$(Q)$< > $@.tmp && mv $@.tmp $@

$(B)/obj/vmmd/worker/sandbox.o: $(SANDBOX_BPF)

$(WORKER_A): $(WORKER_OBJS)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

# The binary takes jansson and libuv from their archives when they are
# installed (Debian's -dev packages ship them): no dynamic loading of them
# at each VM start, about 0.2 ms sooner to the first guest byte.  It needs
# no libseccomp at run time (the filter is compiled at build time).
WORKER_ARCHIVES := $(foreach a,libjansson.a libuv_a.a,\
	$(shell $(CC) -print-file-name=$(a) 2>/dev/null))
ifeq ($(words $(filter /%,$(WORKER_ARCHIVES))),2)
WORKER_BIN_LIBS := $(WORKER_ARCHIVES)
else
WORKER_BIN_LIBS := $(WORKER_LIBS)
endif

$(WORKER_BIN): $(B)/obj/vmmd/worker/main.o $(WORKER_A) $(PROTO_A) $(LIBVMM_A)
	@echo "  LD      $@"
	$(Q)$(CC) -o $@ $^ $(LDFLAGS) $(WORKER_BIN_LIBS)

.PHONY: worker
worker: $(WORKER_BIN)

# ---------------------------------------------------------------------------
# Test guests: tests/guests/NAME.S is linked at GUEST_BASE, flattened to a
# raw image and embedded as guest_NAME[] / guest_NAME_end[] (tests/vmtest.h).

GUEST_BASE := 0x1000
# Files named *_lib.S are included by guests, not guests themselves.
GUEST_LIBS := $(wildcard tests/guests/*_lib.S)
GUEST_SRCS := $(filter-out $(GUEST_LIBS),$(wildcard tests/guests/*.S))
GUEST_OBJS := $(GUEST_SRCS:tests/guests/%.S=$(B)/tests/guests/%.bin.o)

$(B)/tests/guests/%.elf: tests/guests/%.S $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  GUEST   $<"
	$(Q)$(CC) -c -nostdlib -ffreestanding -o $(@:.elf=.o) $<
	$(Q)ld -m elf_x86_64 -nostdlib -static -Ttext=$(GUEST_BASE) \
		-e $(GUEST_BASE) -z noexecstack -o $@ $(@:.elf=.o)

$(GUEST_SRCS:tests/guests/%.S=$(B)/tests/guests/%.elf): $(GUEST_LIBS)

$(B)/tests/guests/%.bin: $(B)/tests/guests/%.elf
	$(Q)objcopy -O binary -j .text $< $@

$(B)/tests/guests/%.bin.o: $(B)/tests/guests/%.bin
	$(Q)cd $(dir $<) && ld -r -b binary -z noexecstack -o $(notdir $@) \
		$(notdir $<)
	$(Q)objcopy --redefine-sym _binary_$*_bin_start=guest_$* \
		--redefine-sym _binary_$*_bin_end=guest_$*_end \
		--strip-symbol _binary_$*_bin_size \
		--rename-section .data=.rodata,alloc,load,readonly,data,contents \
		$@

# ---------------------------------------------------------------------------
# Metrics (vmmd/metrics.c): tests/test_metrics checks vmmd's Prometheus and
# OpenMetrics text with the reference parsers of Debian's Prometheus client
# library, run by /usr/bin/python3.

DEB_PKGS += python3-prometheus-client

# ---------------------------------------------------------------------------
# Tests (cmocka): one binary per tests/test_*.c, plus the benchmarks.

TEST_SRCS  := $(wildcard tests/test_*.c)
TEST_BINS  := $(TEST_SRCS:tests/%.c=$(B)/tests/%)
BENCH_SRCS := $(wildcard tests/bench_*.c)
BENCH_BINS := $(BENCH_SRCS:tests/%.c=$(B)/tests/%)
TEST_COMMON := $(B)/tests/vmtest.o $(B)/tests/workertest.o $(B)/tests/testutil.o \
	$(B)/tests/vmmdtest.o
TEST_CFLAGS := $(CFLAGS) -Ilibvmm -Itests -Iproto -Ivmmd/worker -Ivmmd \
	-DBUILD_DIR='"$(abspath $(B))"' -DSRC_DIR='"$(CURDIR)"'
TEST_LIBS   := $(VMMD_A) $(WORKER_A) $(PROTO_A) $(LIBVMM_A) $(LDFLAGS) \
	-lcmocka $(WORKER_LIBS) $(VMMD_LIBS)
# The worker tests run the real binary on the real guest images.
TEST_DEPS   := $(WORKER_BIN) $(VMMD_BIN) $(VMMCTL_BIN) $(GUEST_SRCS:tests/guests/%.S=$(B)/tests/guests/%.bin)

$(B)/tests/%.o: tests/%.c $(wildcard tests/*.h) $(LIBVMM_HDRS) $(WORKER_HDRS) \
    $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(TEST_CFLAGS) -c -o $@ $<

$(B)/tests/test_%: $(B)/tests/test_%.o $(TEST_COMMON) $(GUEST_OBJS) \
    $(VMMD_A) $(WORKER_A) $(PROTO_A) $(LIBVMM_A) | $(TEST_DEPS)
	@echo "  LD      $@"
	$(Q)$(CC) -o $@ $(filter %.o,$^) $(TEST_LIBS)

# test_vmmctl includes vmmctl's sources to reach their static functions,
# and runs a TLS server of its own.
$(B)/tests/test_vmmctl.o: $(VMMCTL_SRCS) $(VMMCTL_HDRS)
$(B)/tests/test_vmmctl: TEST_LIBS += -lssl -lcrypto

# libFuzzer targets (tests/fuzz_*.c).  `make test` runs each through a
# small driver over its corpus plus random inputs; `make fuzz` builds real
# libFuzzer binaries with clang.
FUZZ_SRCS := $(filter-out tests/fuzz_driver.c,$(wildcard tests/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRCS:tests/%.c=$(B)/tests/%)

$(B)/tests/fuzz_%: $(B)/tests/fuzz_%.o $(B)/tests/fuzz_driver.o \
    $(VMMD_A) $(WORKER_A) $(PROTO_A) $(LIBVMM_A)
	@echo "  LD      $@"
	$(Q)$(CC) -o $@ $(filter %.o,$^) $(TEST_LIBS)

FUZZ_CC ?= clang
$(B)/fuzz/%: tests/%.c $(WORKER_SRCS) $(PROTO_SRCS) $(LIBVMM_SRCS) \
    $(SANDBOX_BPF)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	$(Q)$(FUZZ_CC) -g -O1 -std=gnu11 -D_GNU_SOURCE -pthread \
		-fsanitize=fuzzer,address,undefined -Ilibvmm -Iproto \
		-Ivmmd/worker -I$(B)/obj/vmmd/worker -Itests -o $@ $< \
		$(WORKER_SRCS) $(PROTO_SRCS) $(LIBVMM_SRCS) $(WORKER_LIBS)

.PHONY: fuzz
fuzz: $(FUZZ_SRCS:tests/%.c=$(B)/fuzz/%)

$(B)/tests/bench_%: $(B)/tests/bench_%.o $(TEST_COMMON) $(GUEST_OBJS) \
    $(VMMD_A) $(WORKER_A) $(PROTO_A) $(LIBVMM_A) | $(TEST_DEPS)
	@echo "  LD      $@"
	$(Q)$(CC) -o $@ $(filter %.o,$^) $(TEST_LIBS)

$(B)/tests/demo: $(B)/tests/demo.o $(TEST_COMMON) $(GUEST_OBJS) \
    $(VMMD_A) $(WORKER_A) $(PROTO_A) $(LIBVMM_A)
	@echo "  LD      $@"
	$(Q)$(CC) -o $@ $(filter %.o,$^) $(TEST_LIBS)

# A program written for NetBSD's libnvmm, built the way its users build it:
# against the installed-style names (<nvmm.h>, -lnvmm), nothing of ours.
$(B)/tests/compat_libnvmm: tests/compat_libnvmm.c $(LIBVMM_SO)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -Ilibvmm -o $@ $< -L$(B) -lnvmm \
		-Wl,-rpath,$(abspath $(B))

.PHONY: tests
tests: $(TEST_BINS) $(BENCH_BINS) $(FUZZ_BINS) $(B)/tests/compat_libnvmm

# ---------------------------------------------------------------------------
# The VM-host harness: Debian's own kernel under QEMU (TCG, -cpu max, which
# emulates SVM) with kvm-amd loaded, running test programs inside.  It
# installs its own Debian packages as root and caches the kernel in
# HARNESS_DIR.  Not yet part of `make test` (see tests/harness/run-vmhost).

HARNESS_DIR	?= $(B)/harness
HARNESS_TIMEOUT	?= 300
HARNESS_FLAGS	?= --smp 1
HARNESS_FILES	:= --file $(WORKER_BIN) --file $(B)/tests/guests \
	--file tests/golden --file tests/corpus

.PHONY: check-vmhost
check-vmhost: all $(TEST_BINS)
	$(Q)tests/harness/run-vmhost --cache $(HARNESS_DIR) \
		--timeout $(HARNESS_TIMEOUT) $(HARNESS_FLAGS) $(HARNESS_FILES) \
		$(TEST_BINS)

# The libvmm test suite alone (its guests are linked into the programs, so
# no --file is needed), on whatever backend libvmm picks inside.
LIBVMM_TEST_BINS := $(addprefix $(B)/tests/,test_api test_vcpu test_mmu \
	test_io test_assist_mem test_ext compat_libnvmm)

.PHONY: check-vmhost-libvmm
check-vmhost-libvmm: $(LIBVMM_TEST_BINS)
	$(Q)tests/harness/run-vmhost --cache $(HARNESS_DIR) \
		--timeout $(HARNESS_TIMEOUT) $(HARNESS_FLAGS) $(LIBVMM_TEST_BINS)

# ---------------------------------------------------------------------------
# Kernel module: kmod/nvmm.ko, /dev/nvmm, a gate in front of KVM (issue 3).
# `make kmod` builds it with kbuild against KDIR (default: the running
# kernel's build tree) in KMOD_OUT, out of the source tree; `make
# install-kmod` installs it, its man page, the udev rule and the nvmm
# group.  `make check-kmod` builds it against the headers of the harness
# kernel (fetched and unpacked by run-vmhost, not installed) and runs, in
# the VM-host harness with nvmm.ko loaded, test_kmod and the libvmm tests
# over the gate backend.

KDIR		?= /lib/modules/$(shell uname -r)/build
KMOD_OUT	?= $(B)/kmod
KMOD_SRCS	:= kmod/Kbuild $(wildcard kmod/*.c kmod/*.h)
UDEVDIR		?= /etc/udev/rules.d
KMOD_HARNESS_OUT := $(B)/kmod-harness
KMOD_TEST_BINS	:= $(B)/tests/test_kmod $(addprefix $(B)/tests/,test_api \
	test_vcpu test_mmu test_io test_assist_mem test_ext test_syscalls \
	compat_libnvmm)

.PHONY: kmod install-kmod check-kmod FORCE
kmod: $(KMOD_OUT)/nvmm.ko

# kbuild decides what to rebuild (also when KDIR changes).
$(KMOD_OUT)/nvmm.ko: $(KMOD_SRCS) FORCE
	@test -f $(KDIR)/Makefile || { echo "kmod: no kernel build tree in" \
		"$(KDIR): install linux-headers-$$(uname -r) or give KDIR=" >&2; \
		exit 1; }
	@mkdir -p $(KMOD_OUT)
	$(Q)cp -p $(KMOD_SRCS) $(KMOD_OUT)/
	$(Q)$(MAKE) --no-print-directory -C $(KDIR) \
		M=$(abspath $(KMOD_OUT)) W=1 modules

# Unsigned (sign it for Secure Boot as the host does).  The headers carry
# no System.map, so depmod runs here (a package runs it at install).
install-kmod: kmod
	$(MAKE) --no-print-directory -C $(KDIR) M=$(abspath $(KMOD_OUT)) \
		$(if $(DESTDIR),INSTALL_MOD_PATH=$(DESTDIR)) \
		CONFIG_MODULE_SIG_ALL= modules_install
	[ -n "$(DESTDIR)" ] || depmod \
		$$(modinfo -F vermagic $(KMOD_OUT)/nvmm.ko | cut -d' ' -f1)
	install -D -m 0644 etc/60-nvmm.rules $(DESTDIR)$(UDEVDIR)/60-nvmm.rules
	install -D -m 0644 kmod/nvmm.4 $(DESTDIR)$(MANDIR)/man4/nvmm.4
	[ -n "$(DESTDIR)" ] || getent group nvmm >/dev/null || \
		groupadd --system nvmm

check-kmod: all $(KMOD_TEST_BINS)
	$(Q)kdir=$$(tests/harness/run-vmhost --cache $(HARNESS_DIR) \
		--headers) && \
	$(MAKE) --no-print-directory kmod KDIR=$$kdir \
		KMOD_OUT=$(KMOD_HARNESS_OUT) && \
	tests/harness/run-vmhost --cache $(HARNESS_DIR) \
		--work $(B)/harness-kmod --timeout $(HARNESS_TIMEOUT) \
		$(HARNESS_FLAGS) --check-dmesg \
		--module $(KMOD_HARNESS_OUT)/nvmm.ko \
		--file $(KMOD_HARNESS_OUT)/nvmm.ko --env LIBVMM_BACKEND=gate \
		--env NVMM_TEST_REQUIRE=1 \
		--env NVMM_TEST_KO=$(abspath $(KMOD_HARNESS_OUT))/nvmm.ko \
		$(KMOD_TEST_BINS)

# ---------------------------------------------------------------------------
# Service integration: rc.d/vmmd (rc.subr(8)) and rc.d/vmmd.service
# (systemd), the examples, bash completion, and nvmm.4 and the udev rule
# (in UDEVDIR, as install-kmod does) when they exist.  The service files
# name /usr/local paths; install rewrites them to the directories below.
# Nothing is written to /etc but the udev rule: /etc/vmmd.conf stays the
# administrator's (vmmd runs on the defaults without it, which the example
# spells out).  tests/test_service checks it all: shellcheck, mandoc,
# systemd-analyze, a DESTDIR install and uninstall, the rc.d script
# against a real vmmd.

DEB_PKGS += shellcheck mandoc systemd

RCDIR		?= $(PREFIX)/etc/rc.d
SYSTEMDUNITDIR	?= $(PREFIX)/lib/systemd/system
EXAMPLESDIR	?= $(PREFIX)/share/examples/vmm
BASHCOMPDIR	?= $(PREFIX)/share/bash-completion/completions

SERVICE_NVMM4	:= $(wildcard kmod/nvmm.4)
SERVICE_UDEV	:= $(wildcard etc/60-nvmm.rules)
EXAMPLE_DEFS	:= $(wildcard etc/examples/*.json)
# The guests the example definitions boot (@GUESTS@/NAME.bin).
EXAMPLE_GUESTS	:= $(sort $(shell sed -n \
	's|.*"@GUESTS@/\([A-Za-z0-9_]*\.bin\)".*|\1|p' $(EXAMPLE_DEFS)))
SERVICE_SED	:= sed -e 's|/usr/local/sbin/vmmd|$(SBINDIR)/vmmd|g' \
	-e 's|/usr/local/bin/vmmctl|$(BINDIR)/vmmctl|g' \
	-e 's|/usr/local/libexec/vmm-worker|$(LIBEXECDIR)/vmm-worker|g' \
	-e 's|@GUESTS@|$(EXAMPLESDIR)/guests|g'

# The test programs that are scripts, run by `make test` with the others.
TEST_SCRIPTS	:= tests/test_service

.PHONY: install-service uninstall-service
install-service: $(EXAMPLE_GUESTS:%=$(B)/tests/guests/%)
	install -d $(DESTDIR)$(RCDIR) $(DESTDIR)$(SYSTEMDUNITDIR) \
		$(DESTDIR)$(EXAMPLESDIR)/guests $(DESTDIR)$(BASHCOMPDIR)
	$(SERVICE_SED) rc.d/vmmd > $(DESTDIR)$(RCDIR)/vmmd
	chmod 0755 $(DESTDIR)$(RCDIR)/vmmd
	$(SERVICE_SED) rc.d/vmmd.service \
		> $(DESTDIR)$(SYSTEMDUNITDIR)/vmmd.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/vmmd.service
	$(SERVICE_SED) etc/vmmd.conf > $(DESTDIR)$(EXAMPLESDIR)/vmmd.conf
	chmod 0644 $(DESTDIR)$(EXAMPLESDIR)/vmmd.conf
	for f in $(notdir $(EXAMPLE_DEFS)); do \
		$(SERVICE_SED) etc/examples/$$f \
		    > $(DESTDIR)$(EXAMPLESDIR)/$$f && \
		chmod 0644 $(DESTDIR)$(EXAMPLESDIR)/$$f || exit 1; \
	done
	for g in $(EXAMPLE_GUESTS); do \
		install -m 0644 $(B)/tests/guests/$$g \
		    $(DESTDIR)$(EXAMPLESDIR)/guests/$$g || exit 1; \
	done
	install -m 0644 vmmctl/vmmctl.bash $(DESTDIR)$(BASHCOMPDIR)/vmmctl
	$(if $(SERVICE_NVMM4),install -d $(DESTDIR)$(MANDIR)/man4 && \
		install -m 0644 kmod/nvmm.4 $(DESTDIR)$(MANDIR)/man4/nvmm.4)
	$(if $(SERVICE_UDEV),install -d $(DESTDIR)$(UDEVDIR) && \
		install -m 0644 etc/60-nvmm.rules \
		$(DESTDIR)$(UDEVDIR)/60-nvmm.rules)

uninstall-service:
	rm -f $(DESTDIR)$(RCDIR)/vmmd $(DESTDIR)$(SYSTEMDUNITDIR)/vmmd.service \
		$(DESTDIR)$(EXAMPLESDIR)/vmmd.conf \
		$(EXAMPLE_DEFS:etc/examples/%=$(DESTDIR)$(EXAMPLESDIR)/%) \
		$(EXAMPLE_GUESTS:%=$(DESTDIR)$(EXAMPLESDIR)/guests/%) \
		$(DESTDIR)$(BASHCOMPDIR)/vmmctl \
		$(DESTDIR)$(MANDIR)/man4/nvmm.4 \
		$(DESTDIR)$(UDEVDIR)/60-nvmm.rules
	rmdir $(DESTDIR)$(EXAMPLESDIR)/guests $(DESTDIR)$(EXAMPLESDIR) \
		2> /dev/null || true

# ---------------------------------------------------------------------------

.DEFAULT_GOAL := all
.PHONY: all test bench demo install uninstall clean

all: libvmm worker $(VMMD_BIN) $(VMMCTL_BIN)

test: all tests
	$(Q)VMM_BUILD=$(abspath $(B)) VMM_SAN=$(SAN) \
		tests/run-tests $(B)/tests $(TEST_BINS) $(TEST_SCRIPTS) \
		$(FUZZ_BINS) $(B)/tests/compat_libnvmm
	$(Q)$(MAKE) --no-print-directory check-kmod

bench: $(BENCH_BINS)
	$(Q)for b in $(BENCH_BINS); do $$b || exit 1; done

# The main job: boot a demo guest through libvmm, then the same guest as a
# VM of its own through vmm-worker (sandboxed, with its control socket
# under $(B)/run), then vmmd hosting the VMs of etc/examples.
DEMO_DEF := {"name": "demo", "memory": {"size_mib": 2}, "os": \
	{"loader": "raw", "kernel": "$(abspath $(B))/tests/guests/hello.bin", \
	"load_address": "0x1000", "mode": "real"}}

demo: $(B)/tests/demo $(WORKER_BIN) $(VMMD_BIN) $(VMMCTL_BIN) \
    $(B)/tests/guests/hello.bin $(B)/tests/guests/ctl_count.bin \
    $(B)/tests/guests/sb_wait.bin
	$(Q)$(B)/tests/demo
	@echo "demo: the same guest through vmm-worker, one process per VM:"
	$(Q)echo '$(DEMO_DEF)' | $(WORKER_BIN) -r $(B)/run -; \
		echo "demo: vmm-worker exit status $$? (0: the guest powered off)"
	$(Q)tests/demo-vmmd $(B)

install: all install-service
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(PKGDIR) \
		$(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(LIBEXECDIR) \
		$(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR)
	install -m 0755 $(WORKER_BIN) $(DESTDIR)$(LIBEXECDIR)/vmm-worker
	install -m 0755 $(VMMD_BIN) $(DESTDIR)$(SBINDIR)/vmmd
	install -m 0755 $(VMMCTL_BIN) $(DESTDIR)$(BINDIR)/vmmctl
	install -m 0644 vmmd/vmmd.8 $(DESTDIR)$(MANDIR)/man8/vmmd.8
	install -m 0644 vmmctl/vmmctl.8 $(DESTDIR)$(MANDIR)/man8/vmmctl.8
	install -m 0644 vmmd/vmmd.conf.5 $(DESTDIR)$(MANDIR)/man5/vmmd.conf.5
	install -m 0644 vmmd/worker/vmm-worker.8 \
		$(DESTDIR)$(MANDIR)/man8/vmm-worker.8
	install -m 0644 $(LIBVMM_A) $(DESTDIR)$(LIBDIR)/libvmm.a
	install -m 0755 $(LIBVMM_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libvmm.so.$(LIBVMM_SO_VERSION) $(DESTDIR)$(LIBDIR)/libvmm.so
	ln -sf libvmm.so.$(LIBVMM_SO_VERSION) $(DESTDIR)$(LIBDIR)/libnvmm.so
	ln -sf libvmm.a $(DESTDIR)$(LIBDIR)/libnvmm.a
	install -m 0644 libvmm/nvmm.h $(DESTDIR)$(INCDIR)/nvmm.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCDIR@|$(INCDIR)|' libvmm/libvmm.pc.in \
		> $(DESTDIR)$(PKGDIR)/libvmm.pc
	chmod 0644 $(DESTDIR)$(PKGDIR)/libvmm.pc
	install -m 0644 libvmm/libvmm.3 $(DESTDIR)$(MANDIR)/man3/libvmm.3
	ln -sf libvmm.3 $(DESTDIR)$(MANDIR)/man3/libnvmm.3

uninstall: uninstall-service
	rm -f $(DESTDIR)$(LIBDIR)/libvmm.a $(DESTDIR)$(LIBDIR)/libnvmm.a \
		$(DESTDIR)$(LIBDIR)/libvmm.so $(DESTDIR)$(LIBDIR)/libnvmm.so \
		$(DESTDIR)$(LIBDIR)/libvmm.so.$(LIBVMM_SO_VERSION) \
		$(DESTDIR)$(INCDIR)/nvmm.h $(DESTDIR)$(PKGDIR)/libvmm.pc \
		$(DESTDIR)$(MANDIR)/man3/libvmm.3 \
		$(DESTDIR)$(MANDIR)/man3/libnvmm.3 \
		$(DESTDIR)$(LIBEXECDIR)/vmm-worker \
		$(DESTDIR)$(MANDIR)/man8/vmm-worker.8 \
		$(DESTDIR)$(SBINDIR)/vmmd $(DESTDIR)$(BINDIR)/vmmctl \
		$(DESTDIR)$(MANDIR)/man8/vmmd.8 $(DESTDIR)$(MANDIR)/man8/vmmctl.8 \
		$(DESTDIR)$(MANDIR)/man5/vmmd.conf.5

clean:
	rm -rf $(B)

.SECONDARY:
