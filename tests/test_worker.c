/*
 * test_worker.c: the worker's core.  The bus and guest-memory helpers
 * directly; then the real vmm-worker binary: command line and definition
 * errors, a guest's console bytes and exit statuses (poweroff, triple
 * fault), an SMP guest that starts its APs, a graceful stop that has
 * to be forced, and the readiness descriptor (-R).
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmtest.h"
#include "worker.h"
#include "workertest.h"

#define WT_TIMEOUT	20000

/* ------------------------------------------------------------------------ */
/* The bus. */

struct probe {
	uint64_t off;
	unsigned int size;
	bool write;
	uint8_t last;
	int calls;
};

static void
probe_access(void *dev, uint64_t off, uint8_t *data, unsigned int size,
    bool write)
{
	struct probe *p = dev;

	p->off = off;
	p->size = size;
	p->write = write;
	p->calls++;
	if (write)
		p->last = data[0];
	else
		memset(data, 0x5A, size);
}

static void
test_bus_register_and_dispatch(void **state)
{
	struct vm vm;
	struct probe a = { 0 }, b = { 0 };
	uint8_t data[8];

	(void)state;
	memset(&vm, 0, sizeof(vm));
	assert_int_equal(bus_register(&vm, BUS_PIO, 0x3F8, 8, "a",
	    probe_access, &a), 0);
	assert_int_equal(bus_register(&vm, BUS_PIO, 0x60, 1, "b",
	    probe_access, &b), 0);
	/* Overlaps on either side, and nonsense, are refused. */
	assert_int_equal(bus_register(&vm, BUS_PIO, 0x3F0, 9, "x",
	    probe_access, &b), -EEXIST);
	assert_int_equal(bus_register(&vm, BUS_PIO, 0x3FF, 2, "x",
	    probe_access, &b), -EEXIST);
	assert_int_equal(bus_register(&vm, BUS_PIO, 0xFFFF, 2, "x",
	    probe_access, &b), -EINVAL);
	assert_int_equal(bus_register(&vm, BUS_MMIO, ~0ULL, 2, "x",
	    probe_access, &b), -EINVAL);
	assert_int_equal(bus_register(&vm, BUS_MMIO, 0x1000, 0, "x",
	    probe_access, &b), -EINVAL);
	/* Adjacent ranges are fine. */
	assert_int_equal(bus_register(&vm, BUS_PIO, 0x400, 1, "c",
	    probe_access, &b), 0);

	data[0] = 0x41;
	assert_true(bus_access(&vm, BUS_PIO, 0x3FD, data, 1, true));
	assert_int_equal(a.off, 5);
	assert_int_equal(a.last, 0x41);
	assert_true(a.write);
	assert_true(bus_access(&vm, BUS_PIO, 0x60, data, 2, false));
	assert_int_equal(b.off, 0);
	assert_int_equal(b.size, 2);
	assert_int_equal(data[0], 0x5A);
	assert_int_equal(data[1], 0x5A);

	/* Nobody there: reads are all ones, writes vanish. */
	memset(data, 0, sizeof(data));
	assert_false(bus_access(&vm, BUS_PIO, 0x3F7, data, 4, false));
	assert_memory_equal(data, "\xFF\xFF\xFF\xFF", 4);
	assert_false(bus_access(&vm, BUS_MMIO, 0x3F8, data, 4, true));
	assert_int_equal(a.calls, 1);
	bus_teardown(&vm);
}

/* Many ranges in random order still dispatch to the right one. */
static void
test_bus_many_ranges(void **state)
{
	struct probe p[64];
	struct vm vm;
	uint8_t data[1];
	unsigned int i, j;

	(void)state;
	memset(&vm, 0, sizeof(vm));
	memset(p, 0, sizeof(p));
	srand(4);
	for (i = 0; i < 64; i++) {
		j = (i * 37) % 64;	/* a permutation of 0..63 */
		assert_int_equal(bus_register(&vm, BUS_MMIO,
		    0xD0000000ULL + j * 0x1000, 0x200, "v", probe_access,
		    &p[j]), 0);
	}
	for (i = 0; i < 1000; i++) {
		j = (unsigned int)rand() % 64;
		assert_true(bus_access(&vm, BUS_MMIO,
		    0xD0000000ULL + j * 0x1000 + 0x1FF, data, 1, false));
		assert_int_equal(p[j].off, 0x1FF);
		assert_false(bus_access(&vm, BUS_MMIO,
		    0xD0000000ULL + j * 0x1000 + 0x200, data, 1, false));
	}
	bus_teardown(&vm);
}

/* ------------------------------------------------------------------------ */
/* Guest memory lookups (regions faked with host buffers). */

static void
test_mem_bounds(void **state)
{
	static uint8_t low[0x4000], high[0x2000];
	struct vm vm;
	uint8_t buf[0x100];

	(void)state;
	memset(&vm, 0, sizeof(vm));
	vm.ram[0] = (struct vm_ram){ 0, sizeof(low), low };
	vm.ram[1] = (struct vm_ram){ VM_HIGH_RAM_START, sizeof(high), high };
	vm.nram = 2;

	assert_ptr_equal(vm_gpa(&vm, 0, sizeof(low)), low);
	assert_ptr_equal(vm_gpa(&vm, 0x3FFF, 1), low + 0x3FFF);
	assert_ptr_equal(vm_gpa(&vm, 0x4000, 0), low + 0x4000);
	assert_null(vm_gpa(&vm, 0x3FFF, 2));
	assert_null(vm_gpa(&vm, 0x4000, 1));
	assert_null(vm_gpa(&vm, ~0ULL, 2));		/* wraps */
	assert_null(vm_gpa(&vm, 0x10, ~0UL));		/* wraps */
	assert_ptr_equal(vm_gpa(&vm, VM_HIGH_RAM_START + 0x1000, 0x1000),
	    high + 0x1000);
	assert_null(vm_gpa(&vm, VM_HIGH_RAM_START + 0x1000, 0x1001));

	memset(buf, 0xAB, sizeof(buf));
	assert_int_equal(vm_mem_write(&vm, 0x3F80, buf, 0x80), 0);
	assert_int_equal(low[0x3FFF], 0xAB);
	assert_int_equal(vm_mem_write(&vm, 0x3F80, buf, 0x81), -EFAULT);
	assert_int_equal(vm_mem_read(&vm, VM_HIGH_RAM_START - 0x10, buf, 0x20),
	    -EFAULT);
	assert_int_equal(vm_mem_read(&vm, ~0ULL - 4, buf, 0x10), -EFAULT);
	assert_int_equal(vm_mem_read(&vm, VM_HIGH_RAM_START + 0x1FF0, buf,
	    0x10), 0);
}

/* ------------------------------------------------------------------------ */
/* The real worker. */

static void
test_usage_errors(void **state)
{
	struct wt_proc p;

	(void)state;
	wt_require_worker();
	wt_spawn_argv(&p, "{}", (const char *const []){ "w", NULL });
	assert_int_equal(wt_wait(&p, WT_TIMEOUT), 0);
	WT_CHECK(&p, p.status == 64);
	WT_CHECK(&p, strstr(p.log, "usage: vmm-worker") != NULL);
	wt_cleanup(&p);

	wt_spawn_argv(&p, "{}", (const char *const []){ "w", "-D", "9=1",
	    "x.json", NULL });
	assert_int_equal(wt_wait(&p, WT_TIMEOUT), 0);
	WT_CHECK(&p, p.status == 64);
	WT_CHECK(&p, strstr(p.log, "-D 9=1: expected index=fd with index "
	    "below 8") != NULL);
	wt_cleanup(&p);

	wt_spawn_argv(&p, "{}", (const char *const []){ "w", "-c", "77",
	    "x.json", NULL });
	assert_int_equal(wt_wait(&p, WT_TIMEOUT), 0);
	WT_CHECK(&p, p.status == 64);
	WT_CHECK(&p, strstr(p.log, "-c 77: not an open descriptor") != NULL);
	wt_cleanup(&p);
}

static void
test_bad_definition(void **state)
{
	struct wt_proc p;

	(void)state;
	wt_require_worker();
	wt_run(&p, "{\"name\": \"../x\", \"memory\": {\"size_mib\": 0}}",
	    WT_TIMEOUT);
	WT_CHECK(&p, p.status == 65);
	/* One line per problem, each with its JSON path. */
	WT_CHECK(&p, strstr(p.log, "$.name: ") != NULL);
	WT_CHECK(&p, strstr(p.log, "$.memory.size_mib: ") != NULL);
	WT_CHECK(&p, strstr(p.log, "$.os") != NULL);
	wt_cleanup(&p);

	wt_run(&p, "{\"name\": \"a\",", WT_TIMEOUT);
	WT_CHECK(&p, p.status == 65);
	WT_CHECK(&p, strstr(p.log, "$: invalid JSON") != NULL);
	wt_cleanup(&p);
}

static void
test_unusable_kernel(void **state)
{
	struct wt_proc p;

	(void)state;
	wt_require_worker();
	wt_run(&p, "{\"name\": \"k\", \"os\": {\"loader\": \"raw\", "
	    "\"kernel\": \"/nonexistent/k.bin\", \"load_address\": 4096}}",
	    WT_TIMEOUT);
	WT_CHECK(&p, p.status == 66);
	WT_CHECK(&p, strstr(p.log, "kernel /nonexistent/k.bin: No such file "
	    "or directory") != NULL);
	wt_cleanup(&p);

	wt_run(&p, "{\"name\": \"k\", \"os\": {\"loader\": \"raw\", "
	    "\"kernel\": \"/tmp\", \"load_address\": 4096}}", WT_TIMEOUT);
	WT_CHECK(&p, p.status == 66);
	WT_CHECK(&p, strstr(p.log, "kernel /tmp: not a regular file") != NULL);
	wt_cleanup(&p);
}

/* The demo guest in real mode: exact console bytes, then HLT: poweroff. */
static void
test_hello_real_mode(void **state)
{
	struct wt_proc p;

	(void)state;
	wt_require_worker();
	wt_run(&p, "{\"name\": \"hello\", \"memory\": {\"size_mib\": 2}, "
	    "\"os\": {\"loader\": \"raw\", \"kernel\": \"" WT_GUEST("hello")
	    "\", \"load_address\": \"0x1000\", \"mode\": \"real\"}}",
	    WT_TIMEOUT);
	WT_CHECK(&p, p.status == 0);
	WT_CHECK(&p, strcmp(p.console, "Hello from a guest on libvmm "
	    "(libnvmm API on KVM)\n") == 0);
	WT_CHECK(&p, strstr(p.log, "hello: poweroff (status 0): vcpu 0 "
	    "halted with interrupts disabled") != NULL);
	wt_cleanup(&p);
}

static void
test_triple_fault(void **state)
{
	struct wt_proc p;

	(void)state;
	wt_require_worker();
	wt_run(&p, "{\"name\": \"tf\", \"memory\": {\"size_mib\": 4}, "
	    "\"os\": {\"loader\": \"raw\", \"kernel\": \"" WT_GUEST("wk_triple")
	    "\", \"load_address\": 4096}}", WT_TIMEOUT);
	WT_CHECK(&p, p.status == 11);
	WT_CHECK(&p, strcmp(p.console, "tf\n") == 0);
	WT_CHECK(&p, strstr(p.log, "tf: triple-fault (status 11): vcpu 0: "
	    "triple fault") != NULL);
	wt_cleanup(&p);
}

/*
 * Four vcpus as one socket of two cores with two threads: the BSP starts
 * the three APs with INIT-SIPI-SIPI through the in-kernel LAPIC; each sets
 * its APIC id bit; CPUID reports four logical processors per package.
 */
static void
test_smp_aps_start(void **state)
{
	struct wt_proc p;

	(void)state;
	wt_require_worker();
	wt_run(&p, "{\"name\": \"smp\", \"memory\": {\"size_mib\": 4}, "
	    "\"vcpu\": {\"count\": 4, \"topology\": {\"sockets\": 1, "
	    "\"cores\": 2, \"threads\": 2}}, \"features\": {\"irqchip\": true},"
	    "\"devices\": {\"debug_exit\": true}, "
	    "\"os\": {\"loader\": \"raw\", \"kernel\": \"" WT_GUEST("wk_smp")
	    "\", \"load_address\": 4096}}", 60000);
	WT_CHECK(&p, strcmp(p.console, "smp: mask 0e logical 04\n") == 0);
	WT_CHECK(&p, p.status == WORKER_DEBUG_EXIT_BASE + 0);
	wt_cleanup(&p);
}

/*
 * SIGTERM asks for a graceful stop (Ctrl-Alt-Del); a guest that ignores it
 * is forced off when shutdown_timeout runs out: status 0 with the reason.
 */
static void
test_sigterm_forced_after_timeout(void **state)
{
	struct timespec t0, t1;
	struct wt_proc p;
	double secs;

	(void)state;
	wt_require_worker();
	wt_spawn(&p, "{\"name\": \"spin\", \"memory\": {\"size_mib\": 4}, "
	    "\"shutdown_timeout\": 1, "
	    "\"os\": {\"loader\": \"raw\", \"kernel\": \"" WT_GUEST("wk_spin")
	    "\", \"load_address\": 4096}}", NULL);
	WT_CHECK(&p, wt_console_wait(&p, "spin\n", WT_TIMEOUT));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	kill(p.pid, SIGTERM);
	assert_int_equal(wt_wait(&p, WT_TIMEOUT), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	WT_CHECK(&p, p.status == 0);
	WT_CHECK(&p, strstr(p.log, "spin: poweroff (status 0): the guest did "
	    "not stop in time; forced off") != NULL);
	/* Forced at the deadline, not before it, and not much after. */
	WT_CHECK(&p, secs >= 0.9 && secs < 5.0);
	wt_cleanup(&p);
}

/* SIGTERM twice: the second forces the stop at once. */
static void
test_sigterm_twice_forces(void **state)
{
	struct wt_proc p;

	(void)state;
	wt_require_worker();
	wt_spawn(&p, "{\"name\": \"spin\", \"memory\": {\"size_mib\": 4}, "
	    "\"shutdown_timeout\": 600, "
	    "\"os\": {\"loader\": \"raw\", \"kernel\": \"" WT_GUEST("wk_spin")
	    "\", \"load_address\": 4096}}", NULL);
	WT_CHECK(&p, wt_console_wait(&p, "spin\n", WT_TIMEOUT));
	kill(p.pid, SIGTERM);
	usleep(100000);
	kill(p.pid, SIGTERM);
	assert_int_equal(wt_wait(&p, WT_TIMEOUT), 0);
	WT_CHECK(&p, p.status == 0);
	WT_CHECK(&p, strstr(p.log, "spin: poweroff (status 0): forced stop")
	    != NULL);
	wt_cleanup(&p);
}

/*
 * Read the readiness pipe until end of file (at most timeout_ms): what
 * came, at most len bytes; -1 on timeout.
 */
static ssize_t
ready_read(int fd, char *buf, size_t len, int timeout_ms)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	size_t got = 0;
	ssize_t n;

	for (;;) {
		if (poll(&pfd, 1, timeout_ms) != 1)
			return -1;
		n = read(fd, buf + got, len - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? (ssize_t)got : -1;
		got += (size_t)n;
		if (got == len)
			return (ssize_t)got;
	}
}

/*
 * -R fd: the worker writes 'R' once its vcpus run and closes the
 * descriptor (end of file right after); a worker that fails setup closes
 * it by exiting, without a byte.
 */
static void
test_ready_fd(void **state)
{
	static const char *def_ok = "{\"name\": \"rdy\", "
	    "\"uuid\": \"00000000-0000-4000-8000-00000000d001\", "
	    "\"memory\": {\"size_mib\": 4}, \"os\": {\"loader\": \"raw\", "
	    "\"kernel\": \"" WT_GUEST("ctl_count") "\", "
	    "\"load_address\": 4096}}";
	static const char *def_bad = "{\"name\": \"rdy\", \"os\": "
	    "{\"loader\": \"raw\", \"kernel\": \"/nonexistent/k.bin\", "
	    "\"load_address\": 4096}}";
	char arg[16], buf[8], sock[256];
	struct wt_proc p;
	int fds[2];

	(void)state;
	wt_require_worker();

	/* The write end is inherited (no O_CLOEXEC), the read end is not. */
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(fcntl(fds[0], F_SETFD, FD_CLOEXEC), 0);
	snprintf(arg, sizeof(arg), "%d", fds[1]);
	wt_spawn(&p, def_ok, (const char *const []){ "-R", arg, NULL });
	close(fds[1]);
	WT_CHECK(&p, ready_read(fds[0], buf, sizeof(buf), WT_TIMEOUT) == 1);
	WT_CHECK(&p, buf[0] == 'R');
	/* By then the control socket is there and the guest prints. */
	wt_sock_path(&p, "00000000-0000-4000-8000-00000000d001", sock,
	    sizeof(sock));
	WT_CHECK(&p, access(sock, F_OK) == 0);
	WT_CHECK(&p, wt_console_wait(&p, "tick 0001", WT_TIMEOUT));
	close(fds[0]);
	wt_cleanup(&p);

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(fcntl(fds[0], F_SETFD, FD_CLOEXEC), 0);
	snprintf(arg, sizeof(arg), "%d", fds[1]);
	wt_spawn(&p, def_bad, (const char *const []){ "-R", arg, NULL });
	close(fds[1]);
	WT_CHECK(&p, ready_read(fds[0], buf, sizeof(buf), WT_TIMEOUT) == 0);
	assert_int_equal(wt_wait(&p, WT_TIMEOUT), 0);
	WT_CHECK(&p, p.status == 66);
	close(fds[0]);
	wt_cleanup(&p);

	/* Not a descriptor: a usage error. */
	wt_spawn_argv(&p, "{}", (const char *const []){ "w", "-R", "77",
	    "x.json", NULL });
	assert_int_equal(wt_wait(&p, WT_TIMEOUT), 0);
	WT_CHECK(&p, p.status == 64);
	WT_CHECK(&p, strstr(p.log, "-R 77: not an open descriptor") != NULL);
	wt_cleanup(&p);
}

/*
 * Guest RAM in huge pages: with none reserved, one clear line and status
 * 71; with some reserved (the test reserves them and puts the old value
 * back), the guest runs from them.
 */
static void
test_hugepages(void **state)
{
	static const char def[] = "{\"name\": \"hp\", \"memory\": "
	    "{\"size_mib\": 4, \"hugepages\": true}, \"os\": {\"loader\": "
	    "\"raw\", \"kernel\": \"" WT_GUEST("hello") "\", "
	    "\"load_address\": \"0x1000\", \"mode\": \"real\"}}";
	const char *knob = "/proc/sys/vm/nr_hugepages";
	char old[32] = "";
	struct wt_proc p;
	FILE *f;

	(void)state;
	wt_require_worker();
	if ((f = fopen(knob, "r+")) == NULL) {
		print_message("[  SKIPPED ] %s: cannot open for writing\n",
		    knob);
		skip();
	}
	if (fgets(old, sizeof(old), f) == NULL)
		fail_msg("%s: unreadable", knob);
	fclose(f);

	if (atoi(old) == 0) {
		wt_run(&p, def, WT_TIMEOUT);
		WT_CHECK(&p, p.status == 71);
		/* The errno differs between kernels (ENOMEM, EINVAL). */
		WT_CHECK(&p, strstr(p.log, "hp: guest memory (4 MiB in 2 MiB "
		    "huge pages): ") != NULL);
		WT_CHECK(&p, strstr(p.log, " (are enough huge pages reserved? "
		    "see /proc/sys/vm/nr_hugepages)\n") != NULL);
		wt_cleanup(&p);
	}

	if ((f = fopen(knob, "w")) == NULL || fprintf(f, "%d\n",
	    atoi(old) + 2) < 0 || fclose(f) != 0) {
		print_message("[  SKIPPED ] cannot reserve huge pages\n");
		skip();
	}
	wt_run(&p, def, WT_TIMEOUT);
	if ((f = fopen(knob, "w")) != NULL) {
		fputs(old, f);
		fclose(f);
	}
	WT_CHECK(&p, p.status == 0);
	WT_CHECK(&p, strcmp(p.console, "Hello from a guest on libvmm "
	    "(libnvmm API on KVM)\n") == 0);
	wt_cleanup(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bus_register_and_dispatch),
		cmocka_unit_test(test_bus_many_ranges),
		cmocka_unit_test(test_mem_bounds),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_bad_definition),
		cmocka_unit_test(test_unusable_kernel),
		cmocka_unit_test(test_hello_real_mode),
		cmocka_unit_test(test_triple_fault),
		cmocka_unit_test(test_smp_aps_start),
		cmocka_unit_test(test_sigterm_forced_after_timeout),
		cmocka_unit_test(test_sigterm_twice_forces),
		cmocka_unit_test(test_ready_fd),
		cmocka_unit_test(test_hugepages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
