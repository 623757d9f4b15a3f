/*
 * test_virtio.c: the virtio-mmio transport, split virtqueues and the
 * virtio devices (virtio_mmio.c, virtio_blk.c, virtio_rng.c, and
 * virtio_net.c on a socket).
 *
 * First without KVM: a struct vm whose RAM is plain host memory between
 * PROT_NONE guard regions (an access outside guest RAM faults), driven
 * through bus_access as a vcpu would.  Every malformed ring must leave the
 * device in DEVICE_NEEDS_RESET with one exact warning, and the device must
 * work again after a reset.  Then the real vmm-worker runs the guests
 * tests/guests/vio_*.S on KVM.
 */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <poll.h>
#include <unistd.h>

#include <cmocka.h>

#include "virtio.h"
#include "vmtest.h"
#include "workertest.h"

#define UT_RAM		(4UL << 20)
#define UT_GUARD	(1UL << 20)
#define UT_QSZ		8
#define UT_QAREA(q)	(0x10000UL + (q) * 0x8000UL)	/* desc table */
#define UT_AVAIL	0x2000UL			/* + UT_QAREA */
#define UT_USED		0x4000UL			/* + UT_QAREA */
#define UT_IND		0x30000UL			/* indirect tables */
#define UT_HDR		0x31000UL
#define UT_STAT		0x31100UL
#define UT_BUF		0x100000UL
#define UT_CANARY	0x180000UL
#define UT_CANARY_LEN	0x10000UL
#define UT_SECTORS	16
#define UT_UUID		"0b5e2a54-6c9e-4d7e-9a51-1d2f3a4b5c6d"
#define UT_PREFIX	"vmm-worker: "

#define F_NEXT		VIRTQ_DESC_F_NEXT
#define F_WRITE		VIRTQ_DESC_F_WRITE
#define F_IND		VIRTQ_DESC_F_INDIRECT
#define FEAT_IND	(1U << VIRTIO_F_INDIRECT_DESC)
#define FEAT_EVENT	(1U << VIRTIO_F_EVENT_IDX)

/* ------------------------------------------------------------------------ */
/* A VM without KVM. */

static struct vm ut_vm;
static struct vmdef ut_def;
static struct vmdef_disk ut_disk;
static struct vmdef_nic ut_nic;
static uint8_t *ut_map, *ut_ram;
static uint64_t ut_base;		/* the window under test */
static char ut_img[64];			/* the blk image file */
static int ut_peer = -1;		/* the far end of virtio-net's socket */

static void
ut_vm_up(void)
{
	memset(&ut_def, 0, sizeof(ut_def));
	ut_def.name = (char *)(uintptr_t)"ut";
	snprintf(ut_def.uuid, sizeof(ut_def.uuid), "%s", UT_UUID);
	ut_def.vcpus = ut_def.sockets = ut_def.cores = ut_def.threads = 1;
	ut_def.memory_mib = UT_RAM >> 20;
	assert_int_equal(vm_init(&ut_vm, &ut_def), 0);
	ut_map = mmap(NULL, UT_RAM + 2 * UT_GUARD, PROT_NONE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(ut_map != MAP_FAILED);
	ut_ram = ut_map + UT_GUARD;
	assert_int_equal(mprotect(ut_ram, UT_RAM, PROT_READ | PROT_WRITE), 0);
	ut_vm.ram[0] = (struct vm_ram){ 0, UT_RAM, ut_ram };
	ut_vm.nram = 1;
	ut_vm.ram_total = UT_RAM;
}

static int
ut_down(void **state)
{
	(void)state;
	uv_run(&ut_vm.loop, UV_RUN_NOWAIT);	/* calls still deferred */
	ut_vm.nram = 0;		/* our mapping, not mem.c's */
	vm_fini(&ut_vm);
	uv_close((uv_handle_t *)&ut_vm.wake, NULL);
	uv_close((uv_handle_t *)&ut_vm.stop_timer, NULL);
	uv_run(&ut_vm.loop, UV_RUN_NOWAIT);
	assert_int_equal(uv_loop_close(&ut_vm.loop), 0);
	munmap(ut_map, UT_RAM + 2 * UT_GUARD);
	if (ut_img[0] != '\0')
		unlink(ut_img);
	ut_img[0] = '\0';
	if (ut_peer != -1)
		close(ut_peer);
	ut_peer = -1;
	return 0;
}

static void
ut_window(unsigned int i)
{
	unsigned int irq;

	vm_mmio_window(&ut_vm, i, &ut_base, &irq);
}

static int
ut_up_rng(void **state)
{
	(void)state;
	ut_vm_up();
	assert_int_equal(virtio_rng_create(&ut_vm), 0);
	ut_window(0);
	return 0;
}

/* The byte at offset j of sector s of the test image. */
static uint8_t
ut_sector_byte(unsigned int s, unsigned int j)
{
	char head[17];

	if (j < 16) {
		snprintf(head, sizeof(head), "disk sector #%02u:", s);
		return (uint8_t)head[j];
	}
	return (uint8_t)(s * 31 + j * 7);
}

/* Write an image of UT_SECTORS known sectors; return its path in buf. */
static void
ut_make_image(char *buf, size_t len, unsigned int sectors)
{
	uint8_t sec[512];
	unsigned int s, j;
	int fd;

	snprintf(buf, len, "/tmp/vmmvio.XXXXXX");
	assert_true((fd = mkstemp(buf)) != -1);
	for (s = 0; s < sectors; s++) {
		for (j = 0; j < 512; j++)
			sec[j] = ut_sector_byte(s, j);
		assert_int_equal(write(fd, sec, 512), 512);
	}
	close(fd);
}

static int
ut_up_blk_mode(bool ro)
{
	int fd;

	ut_vm_up();
	ut_make_image(ut_img, sizeof(ut_img), UT_SECTORS);
	memset(&ut_disk, 0, sizeof(ut_disk));
	ut_disk.path = ut_img;
	ut_disk.readonly = ro;
	ut_disk.serial = (char *)(uintptr_t)"unit-serial";
	assert_true((fd = open(ut_img, ro ? O_RDONLY : O_RDWR)) != -1);
	assert_int_equal(virtio_blk_create(&ut_vm, &ut_disk, fd), 0);
	ut_window(0);
	return 0;
}

static int
ut_up_blk(void **state)
{
	(void)state;
	return ut_up_blk_mode(false);
}

static int
ut_up_blk_ro(void **state)
{
	(void)state;
	return ut_up_blk_mode(true);
}

static int
ut_up_net(void **state)
{
	int sv[2];

	(void)state;
	ut_vm_up();
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	memset(&ut_nic, 0, sizeof(ut_nic));
	memcpy(ut_nic.mac, "\x52\x54\x00\x12\x34\x56", 6);
	ut_nic.mac_set = true;
	assert_int_equal(virtio_net_create(&ut_vm, &ut_nic, sv[0]), 0);
	ut_peer = sv[1];
	ut_window(0);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Register access, as a vcpu does it. */

static uint32_t
rd32(uint32_t off)
{
	uint8_t d[4];
	uint32_t v;

	assert_true(bus_access(&ut_vm, BUS_MMIO, ut_base + off, d, 4, false));
	memcpy(&v, d, 4);
	return v;
}

static void
wr32(uint32_t off, uint32_t v)
{
	uint8_t d[4];

	memcpy(d, &v, 4);
	assert_true(bus_access(&ut_vm, BUS_MMIO, ut_base + off, d, 4, true));
}

static uint64_t
rdn(uint32_t off, unsigned int size)
{
	uint8_t d[8] = { 0 };
	uint64_t v = 0;

	assert_true(bus_access(&ut_vm, BUS_MMIO, ut_base + off, d, size,
	    false));
	memcpy(&v, d, size);
	return v;
}

/* ------------------------------------------------------------------------ */
/* Guest memory, as the driver sees it. */

static void *
g(uint64_t gpa)
{
	assert_true(gpa < UT_RAM);
	return ut_ram + gpa;
}

static void
set_desc(uint64_t table, unsigned int i, uint64_t addr, uint32_t len,
    uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { addr, len, flags, next };

	memcpy(g(table + 16 * i), &d, sizeof(d));
}

static void
desc(unsigned int q, unsigned int i, uint64_t addr, uint32_t len,
    uint16_t flags, uint16_t next)
{
	set_desc(UT_QAREA(q), i, addr, len, flags, next);
}

static void
ind(unsigned int i, uint64_t addr, uint32_t len, uint16_t flags,
    uint16_t next)
{
	set_desc(UT_IND, i, addr, len, flags, next);
}

static uint16_t *
avail_field(unsigned int q, unsigned int i)	/* flags 0, idx 1, ring */
{
	return g(UT_QAREA(q) + UT_AVAIL + 2 * i);
}

static void
avail_add(unsigned int q, uint16_t head)
{
	uint16_t idx = *avail_field(q, 1);

	*avail_field(q, 2 + idx % UT_QSZ) = head;
	*avail_field(q, 1) = idx + 1;
}

static uint16_t
used_idx(unsigned int q)
{
	return *(uint16_t *)g(UT_QAREA(q) + UT_USED + 2);
}

static uint32_t
used_id(unsigned int q, unsigned int i)
{
	return *(uint32_t *)g(UT_QAREA(q) + UT_USED + 4 + 8 * (i % UT_QSZ));
}

static uint32_t
used_len(unsigned int q, unsigned int i)
{
	return *(uint32_t *)g(UT_QAREA(q) + UT_USED + 8 + 8 * (i % UT_QSZ));
}

/* avail->used_event and used->avail_event (EVENT_IDX). */
static uint16_t *
used_event(unsigned int q)
{
	return avail_field(q, 2 + UT_QSZ);
}

static uint16_t
avail_event(unsigned int q)
{
	return *(uint16_t *)g(UT_QAREA(q) + UT_USED + 4 + 8 * UT_QSZ);
}

/* ------------------------------------------------------------------------ */
/* The driver's side of initialization (3.1.1). */

static uint32_t
drv_features(uint32_t w0, uint32_t w1)
{
	wr32(VIRTIO_MMIO_STATUS, 0);
	wr32(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr32(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE |
	    VIRTIO_STATUS_DRIVER);
	wr32(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr32(VIRTIO_MMIO_DRIVER_FEATURES, w0);
	wr32(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr32(VIRTIO_MMIO_DRIVER_FEATURES, w1);
	wr32(VIRTIO_MMIO_STATUS, 0xB);
	return rd32(VIRTIO_MMIO_STATUS);
}

/* Queue q of num entries in its area (zeroed), enabled; QueueReady. */
static uint32_t
drv_queue_at(unsigned int q, uint32_t num, uint64_t d, uint64_t a, uint64_t u)
{
	wr32(VIRTIO_MMIO_QUEUE_SEL, q);
	wr32(VIRTIO_MMIO_QUEUE_NUM, num);
	wr32(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)d);
	wr32(VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(d >> 32));
	wr32(VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)a);
	wr32(VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(a >> 32));
	wr32(VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)u);
	wr32(VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(u >> 32));
	wr32(VIRTIO_MMIO_QUEUE_READY, 1);
	return rd32(VIRTIO_MMIO_QUEUE_READY);
}

static uint32_t
drv_queue(unsigned int q, uint32_t num)
{
	memset(g(UT_QAREA(q)), 0, 0x8000);
	return drv_queue_at(q, num, UT_QAREA(q), UT_QAREA(q) + UT_AVAIL,
	    UT_QAREA(q) + UT_USED);
}

/* Features (word 0; VERSION_1 always), nq queues of UT_QSZ, DRIVER_OK. */
static void
drv_start(uint32_t w0, unsigned int nq)
{
	unsigned int q;

	assert_int_equal(drv_features(w0, 1), 0xB);
	for (q = 0; q < nq; q++)
		assert_int_equal(drv_queue(q, UT_QSZ), 1);
	wr32(VIRTIO_MMIO_STATUS, 0xF);
	assert_int_equal(rd32(VIRTIO_MMIO_STATUS), 0xF);
}

static void
notify(unsigned int q)
{
	wr32(VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

/* ------------------------------------------------------------------------ */
/* The worker's log (stderr), captured around a step. */

static int cap_fd = -1, cap_saved = -1;

static void
cap_begin(void)
{
	fflush(stderr);
	assert_true((cap_fd = memfd_create("log", MFD_CLOEXEC)) != -1);
	assert_true((cap_saved = dup(STDERR_FILENO)) != -1);
	assert_int_equal(dup2(cap_fd, STDERR_FILENO), STDERR_FILENO);
}

/* The text logged since cap_begin (owned by the caller). */
static char *
cap_end(void)
{
	off_t n;
	char *s;

	fflush(stderr);
	dup2(cap_saved, STDERR_FILENO);
	close(cap_saved);
	n = lseek(cap_fd, 0, SEEK_END);
	assert_true(n >= 0);
	assert_non_null(s = calloc(1, (size_t)n + 1));
	assert_int_equal(pread(cap_fd, s, (size_t)n, 0), n);
	close(cap_fd);
	return s;
}

/* The log of the step so far must be exactly one line: prefix + msg. */
static void
cap_expect(const char *dev, const char *msg)
{
	char want[512], *got = cap_end();

	snprintf(want, sizeof(want), UT_PREFIX "%s@0x%llx: %s\n", dev,
	    (unsigned long long)ut_base, msg);
	if (strcmp(got, want) != 0)
		fail_msg("log:\n%s\nwanted:\n%s", got, want);
	free(got);
}

/* Nothing was logged since cap_begin. */
static void
cap_expect_none(void)
{
	char *got = cap_end();

	if (got[0] != '\0')
		fail_msg("unexpected log:\n%s", got);
	free(got);
}

static size_t
count_lines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* ------------------------------------------------------------------------ */
/* Transport registers. */

static void
test_mmio_identity(void **state)
{
	(void)state;
	assert_int_equal(rd32(VIRTIO_MMIO_MAGIC), 0x74726976);
	assert_int_equal(rd32(VIRTIO_MMIO_VERSION), 2);
	assert_int_equal(rd32(VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
	assert_int_equal(rd32(VIRTIO_MMIO_VENDOR_ID), VIRTIO_MMIO_VENDOR_VALUE);
	/* INDIRECT_DESC and EVENT_IDX, then VERSION_1, then nothing. */
	wr32(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	assert_int_equal(rd32(VIRTIO_MMIO_DEVICE_FEATURES), 0x30000000);
	wr32(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(rd32(VIRTIO_MMIO_DEVICE_FEATURES), 1);
	wr32(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	assert_int_equal(rd32(VIRTIO_MMIO_DEVICE_FEATURES), 0);
	wr32(VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(rd32(VIRTIO_MMIO_QUEUE_NUM_MAX), 64);
	assert_int_equal(rd32(VIRTIO_MMIO_QUEUE_READY), 0);
	wr32(VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(rd32(VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	assert_int_equal(rd32(VIRTIO_MMIO_SHM_LEN_LOW), 0xFFFFFFFF);
	assert_int_equal(rd32(VIRTIO_MMIO_SHM_LEN_HIGH), 0xFFFFFFFF);
	assert_int_equal(rd32(VIRTIO_MMIO_CONFIG_GENERATION), 0);
	assert_int_equal(rd32(VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(rd32(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	/* No config space: zeros, at any width. */
	assert_int_equal(rdn(VIRTIO_MMIO_CONFIG, 8), 0);
	assert_int_equal(rdn(VM_MMIO_SIZE - 1, 1), 0);
}

/* Wrong widths and directions are warned about, read as 0, ignored. */
static void
test_mmio_bad_accesses(void **state)
{
	uint8_t d[8];

	(void)state;
	cap_begin();
	memset(d, 0xAA, sizeof(d));
	assert_true(bus_access(&ut_vm, BUS_MMIO, ut_base, d, 1, false));
	assert_int_equal(d[0], 0);
	cap_expect("virtio-rng", "1-byte read at register offset 0x0");

	cap_begin();
	assert_int_equal(rdn(VIRTIO_MMIO_MAGIC + 2, 2), 0);
	cap_expect("virtio-rng", "2-byte read at register offset 0x2");

	cap_begin();
	wr32(VIRTIO_MMIO_MAGIC, 1);
	cap_expect("virtio-rng", "write 0x1 to read-only register 0x0");

	cap_begin();
	assert_int_equal(rd32(VIRTIO_MMIO_QUEUE_NOTIFY), 0);
	cap_expect("virtio-rng", "read of write-only register 0x50");

	cap_begin();
	assert_int_equal(rd32(0xC0), 0);
	cap_expect("virtio-rng", "read of unknown register 0xc0");

	cap_begin();
	wr32(VIRTIO_MMIO_QUEUE_NOTIFY, 7);
	cap_expect("virtio-rng", "notify for queue 7, which does not exist");

	cap_begin();
	wr32(VIRTIO_MMIO_CONFIG, 1);
	cap_expect("virtio-rng", "4-byte write to config offset 0x0 ignored");

	/* Past the window (the bus hands it over whole): all ones. */
	memset(d, 0, sizeof(d));
	assert_true(bus_access(&ut_vm, BUS_MMIO, ut_base + VM_MMIO_SIZE - 4,
	    d, 8, false));
	assert_memory_equal(d, "\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF", 8);
	assert_int_equal(rd32(VIRTIO_MMIO_STATUS), 0);
}

/* FEATURES_OK sticks only for offered features that include VERSION_1. */
static void
test_features_negotiation(void **state)
{
	static const struct {
		uint32_t w0, w1, status;
		const char *log;
	} cases[] = {
		{ 0, 1, 0xB, NULL },
		{ FEAT_IND | FEAT_EVENT, 1, 0xB, NULL },
		{ 1, 1, 0x3, "driver accepted features 0x1 that were not "
		    "offered" },
		{ 0, 3, 0x3, "driver accepted features 0x200000000 that were "
		    "not offered" },
		{ FEAT_IND, 0, 0x3, "driver did not accept VIRTIO_F_VERSION_1 "
		    "(legacy drivers are not supported)" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cap_begin();
		assert_int_equal(drv_features(cases[i].w0, cases[i].w1),
		    cases[i].status);
		if (cases[i].log != NULL)
			cap_expect("virtio-rng", cases[i].log);
		else
			cap_expect_none();
	}
}

static void
test_status_rules(void **state)
{
	(void)state;
	/* DRIVER_OK before FEATURES_OK: a protocol error. */
	wr32(VIRTIO_MMIO_STATUS, 0);
	wr32(VIRTIO_MMIO_STATUS, 3);
	cap_begin();
	wr32(VIRTIO_MMIO_STATUS, 7);
	cap_expect("virtio-rng", "DRIVER_OK without FEATURES_OK");
	assert_int_equal(rd32(VIRTIO_MMIO_STATUS), 0x43);
	assert_int_equal(rd32(VIRTIO_MMIO_INTERRUPT_STATUS), 0);

	/* Clearing a bit is not a way to go back. */
	assert_int_equal(drv_features(0, 1), 0xB);
	cap_begin();
	wr32(VIRTIO_MMIO_STATUS, 0x3);
	cap_expect("virtio-rng", "status 0x3 clears bits of 0xb");
	assert_int_equal(rd32(VIRTIO_MMIO_STATUS), 0xB);

	/* Features are fixed after FEATURES_OK. */
	cap_begin();
	wr32(VIRTIO_MMIO_DRIVER_FEATURES, 0);
	cap_expect("virtio-rng", "driver features written after FEATURES_OK");

	/* The driver cannot set NEEDS_RESET itself; FAILED it can. */
	wr32(VIRTIO_MMIO_STATUS, 0x4B);
	assert_int_equal(rd32(VIRTIO_MMIO_STATUS), 0xB);
	wr32(VIRTIO_MMIO_STATUS, 0x8B);
	assert_int_equal(rd32(VIRTIO_MMIO_STATUS), 0x8B);
	wr32(VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rd32(VIRTIO_MMIO_STATUS), 0);
}

/* Bad queue parameters are refused when the queue is enabled. */
static void
test_queue_setup_errors(void **state)
{
	static const struct {
		uint32_t num;
		uint64_t d, a, u;
		const char *log;
	} cases[] = {
		{ 6, 0x10000, 0x12000, 0x14000, "queue 0: size 6 is not a "
		    "power of 2 in [1, 64]" },
		{ 0, 0x10000, 0x12000, 0x14000, "queue 0: size 0 is not a "
		    "power of 2 in [1, 64]" },
		{ 128, 0x10000, 0x12000, 0x14000, "queue 0: size 128 is not "
		    "a power of 2 in [1, 64]" },
		{ 8, 0x10008, 0x12000, 0x14000, "queue 0: misaligned ring "
		    "(desc 0x10008, driver 0x12000, device 0x14000)" },
		{ 8, 0x10000, 0x12001, 0x14000, "queue 0: misaligned ring "
		    "(desc 0x10000, driver 0x12001, device 0x14000)" },
		{ 8, 0x10000, 0x12000, 0x14002, "queue 0: misaligned ring "
		    "(desc 0x10000, driver 0x12000, device 0x14002)" },
		{ 8, 0x80000000, 0x12000, 0x14000, "queue 0: ring outside "
		    "guest RAM (desc 0x80000000, driver 0x12000, device "
		    "0x14000, size 8)" },
		/* The used ring is 6 + 8 * 8 = 70 bytes: one too many. */
		{ 8, 0x10000, 0x12000, UT_RAM - 68, "queue 0: ring outside "
		    "guest RAM (desc 0x10000, driver 0x12000, device "
		    "0x3fffbc, size 8)" },
		{ 8, 0x10000, 0x100000012000ULL, 0x14000, "queue 0: ring "
		    "outside guest RAM (desc 0x10000, driver 0x100000012000, "
		    "device 0x14000, size 8)" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(drv_features(0, 1), 0xB);
		cap_begin();
		assert_int_equal(drv_queue_at(0, cases[i].num, cases[i].d,
		    cases[i].a, cases[i].u), 0);
		cap_expect("virtio-rng", cases[i].log);
		assert_int_equal(rd32(VIRTIO_MMIO_STATUS), 0x4B);
		/* Before DRIVER_OK: no configuration interrupt. */
		assert_int_equal(rd32(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	}
	/* A ring that ends with the last byte of RAM is fine. */
	assert_int_equal(drv_features(0, 1), 0xB);
	assert_int_equal(drv_queue_at(0, 8, 0x10000, UT_RAM - 22, 0x14000), 1);
}

/* An enabled queue's registers are fixed; QueueReady 0 disables it. */
static void
test_queue_regs_locked(void **state)
{
	(void)state;
	drv_start(0, 1);
	cap_begin();
	wr32(VIRTIO_MMIO_QUEUE_NUM, 4);
	cap_expect("virtio-rng", "QueueNum written while queue 0 is enabled");
	cap_begin();
	wr32(VIRTIO_MMIO_QUEUE_DESC_LOW, 0x20000);
	cap_expect("virtio-rng", "QueueDescLow written while queue 0 is "
	    "enabled");
	/* Still 8 entries at the old table: head 7 is in range. */
	desc(0, 7, UT_BUF, 16, F_WRITE, 0);
	avail_add(0, 7);
	notify(0);
	assert_int_equal(used_idx(0), 1);
	assert_int_equal(used_id(0, 0), 7);
	assert_int_equal(used_len(0, 0), 16);
	/* Disabled: notifies are ignored, the registers writable again. */
	wr32(VIRTIO_MMIO_QUEUE_READY, 0);
	assert_int_equal(rd32(VIRTIO_MMIO_QUEUE_READY), 0);
	avail_add(0, 7);
	notify(0);
	assert_int_equal(used_idx(0), 1);
	cap_begin();
	wr32(VIRTIO_MMIO_QUEUE_NUM, 4);
	cap_expect_none();
	assert_int_equal(rd32(VIRTIO_MMIO_STATUS), 0xF);
}

/* ------------------------------------------------------------------------ */
/* Chains that work. */

static void
test_rng_requests(void **state)
{
	static const uint8_t zero[64];
	unsigned int i;

	(void)state;
	drv_start(FEAT_IND, 1);
	memset(g(UT_BUF), 0, 0x10000);

	/* One buffer. */
	desc(0, 0, UT_BUF, 64, F_WRITE, 0);
	avail_add(0, 0);
	notify(0);
	assert_int_equal(used_idx(0), 1);
	assert_int_equal(used_id(0, 0), 0);
	assert_int_equal(used_len(0, 0), 64);
	assert_memory_not_equal(g(UT_BUF), zero, 64);
	assert_int_equal(rd32(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_INTR_USED);
	wr32(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_INTR_USED);
	assert_int_equal(rd32(VIRTIO_MMIO_INTERRUPT_STATUS), 0);

	/* The longest chain: all eight descriptors, one of them empty. */
	for (i = 0; i < UT_QSZ; i++)
		desc(0, i, UT_BUF + 0x100 + 16 * i, i == 4 ? 0 : 8,
		    F_WRITE | (i < UT_QSZ - 1 ? F_NEXT : 0), i + 1);
	avail_add(0, 0);
	notify(0);
	assert_int_equal(used_idx(0), 2);
	assert_int_equal(used_len(0, 1), 7 * 8);

	/* Readable buffers first are left alone: 16 bytes used. */
	memset(g(UT_BUF + 0x200), 0x11, 32);
	desc(0, 5, UT_BUF + 0x200, 16, F_NEXT, 6);
	desc(0, 6, UT_BUF + 0x210, 16, F_WRITE, 0);
	avail_add(0, 5);
	notify(0);
	assert_int_equal(used_idx(0), 3);
	assert_int_equal(used_id(0, 2), 5);
	assert_int_equal(used_len(0, 2), 16);
	assert_memory_equal(g(UT_BUF + 0x200),
	    "\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11",
	    16);

	/* Indirect: a direct buffer, then a table of three. */
	ind(0, UT_BUF + 0x300, 10, F_WRITE | F_NEXT, 2);
	ind(2, UT_BUF + 0x310, 20, F_WRITE | F_NEXT, 1);
	ind(1, UT_BUF + 0x330, 30, F_WRITE, 0);
	desc(0, 1, UT_BUF + 0x400, 4, F_WRITE | F_NEXT, 2);
	desc(0, 2, UT_IND, 48, F_IND, 0);
	avail_add(0, 1);
	notify(0);
	assert_int_equal(used_idx(0), 4);
	assert_int_equal(used_id(0, 3), 1);
	assert_int_equal(used_len(0, 3), 4 + 10 + 20 + 30);
	assert_int_equal(rd32(VIRTIO_MMIO_STATUS), 0xF);

	/* Several at once, all served by one notify. */
	for (i = 0; i < 3; i++) {
		desc(0, i, UT_BUF + 0x1000 * (i + 1), 100 + i, F_WRITE, 0);
		avail_add(0, (uint16_t)i);
	}
	notify(0);
	assert_int_equal(used_idx(0), 7);
	for (i = 0; i < 3; i++) {
		assert_int_equal(used_id(0, 4 + i), i);
		assert_int_equal(used_len(0, 4 + i), 100 + i);
	}
}

/* One request gets at most 64 KiB; the rest of its buffers stay as is. */
static void
test_rng_request_bound(void **state)
{
	(void)state;
	drv_start(0, 1);
	memset(g(0x200000), 0, 0x18000);
	desc(0, 0, 0x200000, 0x8000, F_WRITE | F_NEXT, 1);
	desc(0, 1, 0x208000, 0x8000, F_WRITE | F_NEXT, 2);
	desc(0, 2, 0x210000, 0x8000, F_WRITE, 0);
	avail_add(0, 0);
	notify(0);
	assert_int_equal(used_idx(0), 1);
	assert_int_equal(used_len(0, 0), 65536);
	assert_true(*(uint64_t *)g(0x210000) == 0);
	assert_true(*(uint64_t *)g(0x217FF8) == 0);
	assert_true(*(uint64_t *)g(0x20FFF8) != 0 ||
	    *(uint64_t *)g(0x20FFF0) != 0);
}

/* Buffers made available before DRIVER_OK are served when it is set. */
static void
test_driver_ok_kick(void **state)
{
	(void)state;
	assert_int_equal(drv_features(0, 1), 0xB);
	assert_int_equal(drv_queue(0, UT_QSZ), 1);
	desc(0, 0, UT_BUF, 32, F_WRITE, 0);
	avail_add(0, 0);
	notify(0);
	assert_int_equal(used_idx(0), 0);
	wr32(VIRTIO_MMIO_STATUS, 0xF);
	assert_int_equal(used_idx(0), 1);
	assert_int_equal(used_len(0, 0), 32);
	assert_int_equal(rd32(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_INTR_USED);
}

/* VIRTIO_F_EVENT_IDX: used_event decides, avail_event is kept. */
static void
test_event_idx(void **state)
{
	unsigned int i;

	(void)state;
	drv_start(FEAT_EVENT, 1);
	desc(0, 0, UT_BUF, 8, F_WRITE, 0);

	/* The first used buffer always interrupts. */
	*used_event(0) = 0;
	avail_add(0, 0);
	notify(0);
	assert_int_equal(used_idx(0), 1);
	assert_int_equal(rd32(VIRTIO_MMIO_INTERRUPT_STATUS), 1);
	assert_int_equal(avail_event(0), 1);
	wr32(VIRTIO_MMIO_INTERRUPT_ACK, 1);

	/* used_event 5: quiet until the used index passes 5. */
	*used_event(0) = 5;
	for (i = 2; i <= 6; i++) {
		avail_add(0, 0);
		notify(0);
		assert_int_equal(used_idx(0), i);
		assert_int_equal(avail_event(0), i);
		assert_int_equal(rd32(VIRTIO_MMIO_INTERRUPT_STATUS),
		    i == 6 ? 1 : 0);
	}
	wr32(VIRTIO_MMIO_INTERRUPT_ACK, 1);

	/* Two in one batch crossing used_event 6: one interrupt. */
	*used_event(0) = 6;
	avail_add(0, 0);
	avail_add(0, 0);
	notify(0);
	assert_int_equal(used_idx(0), 8);
	assert_int_equal(rd32(VIRTIO_MMIO_INTERRUPT_STATUS), 1);
}

/* Without EVENT_IDX the driver can turn interrupts off with a flag. */
static void
test_no_interrupt_flag(void **state)
{
	(void)state;
	drv_start(0, 1);
	desc(0, 0, UT_BUF, 8, F_WRITE, 0);
	*avail_field(0, 0) = VIRTQ_AVAIL_F_NO_INTERRUPT;
	avail_add(0, 0);
	notify(0);
	assert_int_equal(used_idx(0), 1);
	assert_int_equal(rd32(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	*avail_field(0, 0) = 0;
	avail_add(0, 0);
	notify(0);
	assert_int_equal(used_idx(0), 2);
	assert_int_equal(rd32(VIRTIO_MMIO_INTERRUPT_STATUS), 1);
}

/* ------------------------------------------------------------------------ */
/* Chains that do not: one case per rule of virtq_pop (virtio.h). */

static void
bad_loop(void)
{
	desc(0, 0, UT_BUF, 16, F_NEXT | F_WRITE, 1);
	desc(0, 1, UT_BUF, 16, F_NEXT | F_WRITE, 0);
	avail_add(0, 0);
}

static void
bad_self_loop(void)
{
	desc(0, 3, UT_BUF, 16, F_NEXT | F_WRITE, 3);
	avail_add(0, 3);
}

static void
bad_ring_of_eight(void)
{
	unsigned int i;

	for (i = 0; i < UT_QSZ; i++)
		desc(0, i, UT_BUF, 16, F_NEXT | F_WRITE, (i + 1) % UT_QSZ);
	avail_add(0, 0);
}

static void
bad_next_range(void)
{
	desc(0, 0, UT_BUF, 16, F_NEXT | F_WRITE, 8);
	avail_add(0, 0);
}

static void
bad_head_range(void)
{
	avail_add(0, 8);
}

static void
bad_outside(void)
{
	desc(0, 0, 0x80000000, 16, F_WRITE, 0);
	avail_add(0, 0);
}

static void
bad_wrap(void)
{
	desc(0, 0, 0xFFFFFFFFFFFFF000ULL, 0x2000, F_WRITE, 0);
	avail_add(0, 0);
}

static void
bad_end_of_ram(void)
{
	desc(0, 0, UT_RAM - 0x10, 0x20, F_WRITE, 0);
	avail_add(0, 0);
}

static void
bad_huge(void)
{
	desc(0, 0, UT_BUF, 0xFFFFFFFF, F_WRITE, 0);
	avail_add(0, 0);
}

static void
bad_second_outside(void)
{
	desc(0, 0, UT_BUF, 16, F_NEXT | F_WRITE, 1);
	desc(0, 1, UT_RAM, 1, F_WRITE, 0);
	avail_add(0, 0);
}

static void
bad_avail_far(void)
{
	desc(0, 0, UT_BUF, 16, F_WRITE, 0);
	*avail_field(0, 1) = 9;
}

static void
bad_avail_back(void)
{
	desc(0, 0, UT_BUF, 16, F_WRITE, 0);
	*avail_field(0, 1) = 0xFFFF;
}

static void
bad_ind_nofeat(void)
{
	ind(0, UT_BUF, 16, F_WRITE, 0);
	desc(0, 0, UT_IND, 32, F_IND, 0);
	avail_add(0, 0);
}

static void
bad_ind_next(void)
{
	ind(0, UT_BUF, 16, F_WRITE, 0);
	desc(0, 0, UT_IND, 32, F_IND | F_NEXT, 1);
	desc(0, 1, UT_BUF, 16, F_WRITE, 0);
	avail_add(0, 0);
}

static void
bad_ind_nested(void)
{
	ind(0, UT_IND + 0x100, 16, F_IND, 0);
	desc(0, 0, UT_IND, 32, F_IND, 0);
	avail_add(0, 0);
}

static void
bad_ind_len0(void)
{
	desc(0, 0, UT_IND, 0, F_IND, 0);
	avail_add(0, 0);
}

static void
bad_ind_len24(void)
{
	desc(0, 0, UT_IND, 24, F_IND, 0);
	avail_add(0, 0);
}

static void
bad_ind_long(void)
{
	desc(0, 0, UT_IND, 16 * 65, F_IND, 0);
	avail_add(0, 0);
}

static void
bad_ind_outside(void)
{
	desc(0, 0, UT_RAM - 16, 32, F_IND, 0);
	avail_add(0, 0);
}

static void
bad_ind_loop(void)
{
	ind(0, UT_BUF, 16, F_NEXT | F_WRITE, 1);
	ind(1, UT_BUF, 16, F_NEXT | F_WRITE, 0);
	desc(0, 0, UT_IND, 32, F_IND, 0);
	avail_add(0, 0);
}

static void
bad_ind_next_range(void)
{
	ind(0, UT_BUF, 16, F_NEXT | F_WRITE, 5);
	desc(0, 0, UT_IND, 32, F_IND, 0);
	avail_add(0, 0);
}

static void
bad_ind_buf_outside(void)
{
	ind(0, UT_BUF, 16, F_NEXT | F_WRITE, 1);
	ind(1, 0x80000000, 16, F_WRITE, 0);
	desc(0, 0, UT_IND, 32, F_IND, 0);
	avail_add(0, 0);
}

static void
bad_order(void)
{
	desc(0, 0, UT_BUF, 16, F_NEXT | F_WRITE, 1);
	desc(0, 1, UT_BUF + 16, 16, 0, 0);
	avail_add(0, 0);
}

/* One direct buffer and a full indirect table: 65 buffers > 64. */
static void
bad_too_many(void)
{
	unsigned int i;

	for (i = 0; i < 64; i++)
		ind(i, UT_BUF, 16, F_WRITE | (i < 63 ? F_NEXT : 0), i + 1);
	desc(0, 0, UT_BUF, 16, F_NEXT | F_WRITE, 1);
	desc(0, 1, UT_IND, 16 * 64, F_IND, 0);
	avail_add(0, 0);
}

/* The canary region still holds 0xA5 everywhere. */
static void
expect_canary(void)
{
	uint8_t canary[256];
	unsigned long i;

	memset(canary, 0xA5, sizeof(canary));
	for (i = 0; i < UT_CANARY_LEN; i += sizeof(canary))
		assert_memory_equal(g(UT_CANARY + i), canary, sizeof(canary));
}

static const struct bad_case {
	const char *name;
	uint32_t features;
	void (*build)(void);
	const char *log;
} bad_cases[] = {
	{ "loop", FEAT_IND, bad_loop,
	    "queue 0: chain 0 is longer than its table of 8 (a loop)" },
	{ "self loop", FEAT_IND, bad_self_loop,
	    "queue 0: chain 3 is longer than its table of 8 (a loop)" },
	{ "ring of eight", FEAT_IND, bad_ring_of_eight,
	    "queue 0: chain 0 is longer than its table of 8 (a loop)" },
	{ "next out of range", FEAT_IND, bad_next_range,
	    "queue 0: chain 0: descriptor index 8 out of range [0, 8)" },
	{ "head out of range", FEAT_IND, bad_head_range,
	    "queue 0: chain 8: descriptor index 8 out of range [0, 8)" },
	{ "outside RAM", FEAT_IND, bad_outside,
	    "queue 0: buffer 0x80000000+0x10 outside guest RAM in chain 0" },
	{ "address wraps", FEAT_IND, bad_wrap,
	    "queue 0: buffer 0xfffffffffffff000+0x2000 outside guest RAM "
	    "in chain 0" },
	{ "past the end of RAM", FEAT_IND, bad_end_of_ram,
	    "queue 0: buffer 0x3ffff0+0x20 outside guest RAM in chain 0" },
	{ "4 GiB long", FEAT_IND, bad_huge,
	    "queue 0: buffer 0x100000+0xffffffff outside guest RAM in "
	    "chain 0" },
	{ "second buffer outside", FEAT_IND, bad_second_outside,
	    "queue 0: buffer 0x400000+0x1 outside guest RAM in chain 0" },
	{ "avail index too far", FEAT_IND, bad_avail_far,
	    "queue 0: avail index 9 is more than 8 ahead of 0" },
	{ "avail index backwards", FEAT_IND, bad_avail_back,
	    "queue 0: avail index 65535 is more than 8 ahead of 0" },
	{ "indirect not negotiated", 0, bad_ind_nofeat,
	    "queue 0: indirect descriptor without the feature "
	    "(0x30000+0x20, chain 0)" },
	{ "indirect with next", FEAT_IND, bad_ind_next,
	    "queue 0: indirect descriptor with NEXT (0x30000+0x20, chain 0)" },
	{ "nested indirect", FEAT_IND, bad_ind_nested,
	    "queue 0: indirect descriptor inside an indirect table "
	    "(0x30100+0x10, chain 0)" },
	{ "empty indirect table", FEAT_IND, bad_ind_len0,
	    "queue 0: indirect table length not a multiple of 16 in "
	    "[16, 16 * queue_max] (0x30000+0x0, chain 0)" },
	{ "indirect table of 24 bytes", FEAT_IND, bad_ind_len24,
	    "queue 0: indirect table length not a multiple of 16 in "
	    "[16, 16 * queue_max] (0x30000+0x18, chain 0)" },
	{ "indirect table too long", FEAT_IND, bad_ind_long,
	    "queue 0: indirect table length not a multiple of 16 in "
	    "[16, 16 * queue_max] (0x30000+0x410, chain 0)" },
	{ "indirect table outside RAM", FEAT_IND, bad_ind_outside,
	    "queue 0: indirect table outside guest RAM (0x3ffff0+0x20, "
	    "chain 0)" },
	{ "loop in an indirect table", FEAT_IND, bad_ind_loop,
	    "queue 0: chain 0 is longer than its indirect table of 2 "
	    "(a loop)" },
	{ "indirect next out of range", FEAT_IND, bad_ind_next_range,
	    "queue 0: chain 0: descriptor index 5 out of range [0, 2)" },
	{ "indirect buffer outside RAM", FEAT_IND, bad_ind_buf_outside,
	    "queue 0: buffer 0x80000000+0x10 outside guest RAM in chain 0" },
	{ "readable after writable", FEAT_IND, bad_order,
	    "queue 0: readable descriptor after a writable one in chain 0" },
	{ "too many buffers", FEAT_IND, bad_too_many,
	    "queue 0: chain 0 has more than 64 buffers" },
};

/*
 * Each case (on a fresh device: warnings are rate-limited per device):
 * exactly one warning, NEEDS_RESET with a configuration interrupt,
 * nothing used, nothing written to the canary; further notifies are
 * ignored; after a reset the device works again.
 */
static void
test_malformed_chains(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];

		print_message("[ CASE     ] %s\n", c->name);
		if (i > 0) {
			ut_down(state);
			ut_up_rng(state);
		}
		memset(g(UT_IND), 0, 0x1000);
		memset(g(UT_CANARY), 0xA5, UT_CANARY_LEN);
		drv_start(c->features, 1);
		c->build();
		cap_begin();
		notify(0);
		cap_expect("virtio-rng", c->log);
		assert_int_equal(rd32(VIRTIO_MMIO_STATUS), 0x4F);
		assert_int_equal(rd32(VIRTIO_MMIO_INTERRUPT_STATUS),
		    VIRTIO_INTR_CONFIG);
		assert_int_equal(used_idx(0), 0);
		assert_int_equal(used_len(0, 0), 0);
		expect_canary();
		/* Ignored from now on, silently. */
		cap_begin();
		notify(0);
		cap_expect_none();
		assert_int_equal(used_idx(0), 0);

		wr32(VIRTIO_MMIO_STATUS, 0);
		assert_int_equal(rd32(VIRTIO_MMIO_STATUS), 0);
		assert_int_equal(rd32(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
		assert_int_equal(rd32(VIRTIO_MMIO_QUEUE_READY), 0);
		drv_start(0, 1);
		desc(0, 0, UT_BUF, 16, F_WRITE, 0);
		avail_add(0, 0);
		notify(0);
		assert_int_equal(used_idx(0), 1);
		assert_int_equal(used_len(0, 0), 16);
		wr32(VIRTIO_MMIO_STATUS, 0);
	}
}

/*
 * Random descriptor tables, avail rings and indirect tables: whatever the
 * device does, it stays inside guest RAM (the guard regions would fault),
 * leaves the canary alone, and either serves every chain or ends in
 * NEEDS_RESET.
 */
static uint64_t
rand64(void)
{
	return (uint64_t)rand() << 42 ^ (uint64_t)rand() << 21 ^
	    (uint64_t)rand();
}

static uint64_t
random_addr(void)
{
	switch (rand() % 5) {
	case 0:
		return rand64();
	case 1:
		return UT_RAM - (uint64_t)(rand() % 0x1000);
	case 2:
		return UT_IND + (uint64_t)(rand() % 0x100) * 16;
	default:
		return UT_BUF + (uint64_t)(rand() % 0x10000);
	}
}

static uint32_t
random_len(void)
{
	switch (rand() % 6) {
	case 0:
		return 0;
	case 1:
		return (uint32_t)rand64();
	case 2:
		return 16 * (uint32_t)(rand() % 80);
	default:
		return (uint32_t)(rand() % 0x1000);
	}
}

static void
test_random_rings(void **state)
{
	unsigned int iter, i, nserved = 0, nreset = 0;

	(void)state;
	srand(20240611);
	memset(g(UT_CANARY), 0xA5, UT_CANARY_LEN);
	/* The warnings are rate-limited; keep them out of the test output. */
	cap_begin();
	for (iter = 0; iter < 3000; iter++) {
		uint16_t n = (uint16_t)(rand() % 10);

		drv_start(rand() % 2 ? FEAT_IND : FEAT_IND | FEAT_EVENT, 1);
		for (i = 0; i < UT_QSZ; i++)
			desc(0, i, random_addr(), random_len(),
			    (uint16_t)(rand() % 8), (uint16_t)(rand() % 10));
		for (i = 0; i < 0x100; i++)
			set_desc(UT_IND, i, random_addr(), random_len(),
			    (uint16_t)(rand() % 8), (uint16_t)(rand() % 300));
		for (i = 0; i < n; i++)
			*avail_field(0, 2 + i % UT_QSZ) =
			    (uint16_t)(rand() % 9);
		*avail_field(0, 1) = rand() % 50 == 0 ?
		    (uint16_t)rand() : n;
		notify(0);
		if (rd32(VIRTIO_MMIO_STATUS) == 0x4F) {
			nreset++;
		} else {
			assert_int_equal(rd32(VIRTIO_MMIO_STATUS), 0xF);
			assert_int_equal(used_idx(0), n);
			for (i = 0; i < n && i < UT_QSZ; i++)
				assert_true(used_len(0, i) <= 65536);
			nserved++;
		}
	}
	free(cap_end());
	expect_canary();
	print_message("[ RANDOM   ] %u rings served, %u device errors\n",
	    nserved, nreset);
	assert_true(nserved > 100 && nreset > 100);
}

/* A guest that keeps breaking rules gets a burst of warnings, not more. */
static void
test_warnings_rate_limited(void **state)
{
	unsigned int i;
	char *log;

	(void)state;
	cap_begin();
	for (i = 0; i < 100; i++)
		wr32(VIRTIO_MMIO_MAGIC, i);
	log = cap_end();
	assert_int_equal(count_lines(log), 10);
	free(log);
}

/* The VM's reset puts the device back to its power-on state. */
static void
test_vm_reset(void **state)
{
	unsigned int i;

	(void)state;
	drv_start(0, 1);
	desc(0, 0, UT_BUF, 8, F_WRITE, 0);
	avail_add(0, 0);
	notify(0);
	assert_int_equal(rd32(VIRTIO_MMIO_INTERRUPT_STATUS), 1);
	for (i = 0; i < ut_vm.ndevs; i++)
		ut_vm.devs[i].ops->reset(ut_vm.devs[i].dev);
	assert_int_equal(rd32(VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(rd32(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	wr32(VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(rd32(VIRTIO_MMIO_QUEUE_READY), 0);
}

/* ------------------------------------------------------------------------ */
/* virtio-blk. */

struct blk_result {
	uint8_t status;
	uint32_t used;
};

/*
 * A request on queue 0: header, data (none when len is 0), status.  The
 * chain is descriptors 0, 1, 2; returns the status byte and used length.
 */
static struct blk_result
blk_req(uint32_t type, uint64_t sector, uint64_t data, uint32_t len,
    bool writable)
{
	struct blk_result r;
	uint16_t before = used_idx(0);
	uint32_t hdr[4] = { type, 0, (uint32_t)sector,
	    (uint32_t)(sector >> 32) };

	memcpy(g(UT_HDR), hdr, 16);
	*(uint8_t *)g(UT_STAT) = 0xEE;
	desc(0, 0, UT_HDR, 16, F_NEXT, len != 0 ? 1 : 2);
	if (len != 0)
		desc(0, 1, data, len, F_NEXT | (writable ? F_WRITE : 0), 2);
	desc(0, 2, UT_STAT, 1, F_WRITE, 0);
	avail_add(0, 0);
	notify(0);
	assert_int_equal(used_idx(0), (uint16_t)(before + 1));
	assert_int_equal(used_id(0, before), 0);
	r.status = *(uint8_t *)g(UT_STAT);
	r.used = used_len(0, before);
	return r;
}

static void
read_image(uint8_t *buf, size_t len)
{
	int fd = open(ut_img, O_RDONLY);

	assert_true(fd != -1);
	assert_int_equal(pread(fd, buf, len, 0), (ssize_t)len);
	close(fd);
}

static void
expect_sectors(const uint8_t *p, unsigned int first, unsigned int n)
{
	unsigned int s, j;

	for (s = 0; s < n; s++)
		for (j = 0; j < 512; j++)
			if (p[512 * s + j] != ut_sector_byte(first + s, j))
				fail_msg("sector %u byte %u: 0x%02x", first + s,
				    j, p[512 * s + j]);
}

static void
test_blk_config(void **state)
{
	(void)state;
	assert_int_equal(rd32(VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BLOCK);
	wr32(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	/* SEG_MAX, BLK_SIZE, FLUSH, INDIRECT_DESC, EVENT_IDX. */
	assert_int_equal(rd32(VIRTIO_MMIO_DEVICE_FEATURES), 0x30000244);
	assert_int_equal(rd32(VIRTIO_MMIO_QUEUE_NUM_MAX), 256);
	assert_int_equal(rdn(0x100, 8), UT_SECTORS);		/* capacity */
	assert_int_equal(rdn(0x100, 1), UT_SECTORS);
	assert_int_equal(rd32(0x104), 0);
	assert_int_equal(rd32(0x10C), 254);			/* seg_max */
	assert_int_equal(rd32(0x114), 512);			/* blk_size */
	assert_int_equal(rd32(0x120), 0);			/* past it */
}

static void
test_blk_requests(void **state)
{
	static const struct {
		const char *name;
		uint32_t type;
		uint64_t sector;
		uint32_t len;
		bool writable;
		uint8_t status;
		uint32_t used;
	} cases[] = {
		{ "read 0-1", 0, 0, 1024, true, 0, 1025 },
		{ "read the last sector", 0, 15, 512, true, 0, 513 },
		{ "read past the end", 0, 15, 1024, true, 1, 1 },
		{ "nothing at the end", 0, 16, 0, true, 0, 1 },
		{ "nothing past the end", 0, 17, 0, true, 1, 1 },
		{ "sector overflow", 0, ~0ULL, 512, true, 1, 1 },
		{ "partial sector", 0, 0, 100, true, 1, 1 },
		{ "write 3", 1, 3, 512, false, 0, 1 },
		{ "write past the end", 1, 15, 1024, false, 1, 1 },
		{ "flush", 4, 0, 0, true, 0, 1 },
		{ "id", 8, 0, 20, true, 0, 21 },
		{ "short id", 8, 0, 8, true, 0, 9 },
		{ "unknown type", 0x99, 0, 0, true, 2, 1 },
		{ "discard", 11, 0, 512, false, 2, 1 },
	};
	uint8_t img[UT_SECTORS * 512];
	struct blk_result r;
	size_t i;

	(void)state;
	drv_start(FEAT_IND, 1);
	memset(g(UT_BUF), 0x5A, 0x1000);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("[ CASE     ] %s\n", cases[i].name);
		if (cases[i].writable)
			memset(g(UT_BUF), 0, 0x1000);
		else
			memset(g(UT_BUF), 0x5A, 0x1000);
		cap_begin();
		r = blk_req(cases[i].type, cases[i].sector, UT_BUF,
		    cases[i].len, cases[i].writable);
		free(cap_end());
		assert_int_equal(r.status, cases[i].status);
		assert_int_equal(r.used, cases[i].used);
		if (i == 0)
			expect_sectors(g(UT_BUF), 0, 2);
		if (i == 1)
			expect_sectors(g(UT_BUF), 15, 1);
		if (cases[i].type == 8)
			assert_memory_equal(g(UT_BUF), "unit-serial\0\0\0\0\0"
			    "\0\0\0\0\0", cases[i].len);
	}
	assert_int_equal(rd32(VIRTIO_MMIO_STATUS), 0xF);
	read_image(img, sizeof(img));
	expect_sectors(img, 0, 3);
	for (i = 0; i < 512; i++)
		assert_int_equal(img[3 * 512 + i], 0x5A);
	expect_sectors(img + 4 * 512, 4, UT_SECTORS - 4);
}

/* Requests are not framed by descriptors (2.6.4); broken ones answered. */
static void
test_blk_framing(void **state)
{
	uint32_t hdr[4] = { 0, 0, 5, 0 };
	uint8_t sec[512];
	char *log;

	(void)state;
	drv_start(0, 1);
	/* Header split 8 + 8, data 100 + 312 + 100, status in the last. */
	memcpy(g(UT_HDR), hdr, 16);
	memset(g(UT_BUF), 0, 0x1000);
	desc(0, 0, UT_HDR, 8, F_NEXT, 1);
	desc(0, 1, UT_HDR + 8, 8, F_NEXT, 2);
	desc(0, 2, UT_BUF, 100, F_NEXT | F_WRITE, 3);
	desc(0, 3, UT_BUF + 0x200, 312, F_NEXT | F_WRITE, 4);
	desc(0, 4, UT_BUF + 0x400, 101, F_WRITE, 0);
	avail_add(0, 0);
	notify(0);
	assert_int_equal(used_len(0, 0), 513);
	assert_int_equal(*(uint8_t *)g(UT_BUF + 0x400 + 100), 0);
	memcpy(sec, g(UT_BUF), 100);
	memcpy(sec + 100, g(UT_BUF + 0x200), 312);
	memcpy(sec + 412, g(UT_BUF + 0x400), 100);
	expect_sectors(sec, 5, 1);

	/* No writable byte for the status: given back, untouched. */
	desc(0, 0, UT_HDR, 16, 0, 0);
	avail_add(0, 0);
	cap_begin();
	notify(0);
	cap_expect("virtio-blk", "request 0 has no status byte");
	assert_int_equal(used_idx(0), 2);
	assert_int_equal(used_len(0, 1), 0);

	/* A header of 8 bytes: IOERR. */
	desc(0, 0, UT_HDR, 8, F_NEXT, 1);
	desc(0, 1, UT_STAT, 1, F_WRITE, 0);
	avail_add(0, 0);
	cap_begin();
	notify(0);
	cap_expect("virtio-blk", "request 0: header of 8 bytes");
	assert_int_equal(used_len(0, 2), 1);
	assert_int_equal(*(uint8_t *)g(UT_STAT), 1);

	/* Out of range requests are logged with their numbers. */
	cap_begin();
	assert_int_equal(blk_req(0, 15, UT_BUF, 1024, true).status, 1);
	log = cap_end();
	assert_string_equal(log, UT_PREFIX "virtio-blk@0xd0000000: sectors "
	    "[15, +2) beyond the capacity of 16\n");
	free(log);
	assert_int_equal(rd32(VIRTIO_MMIO_STATUS), 0xF);
}

static void
test_blk_readonly(void **state)
{
	uint8_t img[UT_SECTORS * 512];

	(void)state;
	wr32(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	assert_int_equal(rd32(VIRTIO_MMIO_DEVICE_FEATURES), 0x30000264);
	drv_start(0, 1);
	memset(g(UT_BUF), 0x77, 512);
	assert_int_equal(blk_req(1, 0, UT_BUF, 512, false).status, 1);
	assert_int_equal(blk_req(4, 0, 0, 0, true).status, 0);
	memset(g(UT_BUF), 0, 512);
	assert_int_equal(blk_req(0, 0, UT_BUF, 512, true).status, 0);
	expect_sectors(g(UT_BUF), 0, 1);
	read_image(img, sizeof(img));
	expect_sectors(img, 0, UT_SECTORS);
}

/* Descriptors that cannot back a disk are refused at creation. */
static void
test_blk_create_errors(void **state)
{
	struct vmdef_disk d = { .path = (char *)(uintptr_t)"x" };
	int fd, sv[2];

	(void)state;
	assert_true((fd = open(ut_img, O_RDONLY)) != -1);
	assert_int_equal(virtio_blk_create(&ut_vm, &d, fd), -EROFS);
	close(fd);
	assert_true((fd = open("/tmp", O_RDONLY | O_DIRECTORY)) != -1);
	d.readonly = true;
	assert_int_equal(virtio_blk_create(&ut_vm, &d, fd), -EINVAL);
	close(fd);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(virtio_blk_create(&ut_vm, &d, sv[0]), -EINVAL);
	close(sv[0]);
	close(sv[1]);
	/* The failures left no device behind. */
	assert_int_equal(ut_vm.ndevs, 1);
	assert_int_equal(ut_vm.mmio.n, 1);
}

/* ------------------------------------------------------------------------ */
/* virtio-net on a datagram socket (the tap tests: test_virtio_net.c). */

/* Run the loop until used_idx(q) reaches want (or give up). */
static void
loop_until_used(unsigned int q, uint16_t want)
{
	int i;

	for (i = 0; i < 200 && used_idx(q) != want; i++) {
		uv_run(&ut_vm.loop, UV_RUN_NOWAIT);
		if (used_idx(q) != want)
			usleep(1000);
	}
	assert_int_equal(used_idx(q), want);
}

static void
test_net_config(void **state)
{
	(void)state;
	assert_int_equal(rd32(VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_NET);
	wr32(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	/* MAC, STATUS, INDIRECT_DESC, EVENT_IDX. */
	assert_int_equal(rd32(VIRTIO_MMIO_DEVICE_FEATURES), 0x30010020);
	assert_int_equal(rdn(0x100, 1), 0x52);
	assert_int_equal(rdn(0x101, 1), 0x54);
	assert_int_equal(rdn(0x102, 1), 0x00);
	assert_int_equal(rdn(0x103, 1), 0x12);
	assert_int_equal(rdn(0x104, 1), 0x34);
	assert_int_equal(rdn(0x105, 1), 0x56);
	assert_int_equal(rdn(0x106, 2), 1);		/* LINK_UP */
	wr32(VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(rd32(VIRTIO_MMIO_QUEUE_NUM_MAX), 256);
	wr32(VIRTIO_MMIO_QUEUE_SEL, 2);
	assert_int_equal(rd32(VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
}

/* Without a MAC in the definition: 52:54:00 and the same one each time. */
static void
test_net_derived_mac(void **state)
{
	uint8_t mac[2][6];
	int sv[2], i, j;

	for (i = 0; i < 2; i++) {
		ut_vm_up();
		assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
		ut_peer = sv[1];
		memset(&ut_nic, 0, sizeof(ut_nic));
		assert_int_equal(virtio_net_create(&ut_vm, &ut_nic, sv[0]), 0);
		ut_window(0);
		for (j = 0; j < 6; j++)
			mac[i][j] = (uint8_t)rdn(0x100 + (uint32_t)j, 1);
		ut_down(state);
	}
	assert_memory_equal(mac[0], "\x52\x54\x00", 3);
	assert_memory_equal(mac[0], mac[1], 6);
}

static const uint8_t test_frame[60] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
	0x88, 0xb5, 'f', 'r', 'o', 'm', ' ', 't', 'h', 'e', ' ', 'g', 'u', 'e',
	's', 't',
};

static void
test_net_transmit(void **state)
{
	uint8_t got[128];

	(void)state;
	drv_start(0, 2);
	/* Header and frame in three pieces. */
	memset(g(UT_BUF), 0, 12);
	memcpy(g(UT_BUF + 0x100), test_frame, 20);
	memcpy(g(UT_BUF + 0x200), test_frame + 20, 40);
	desc(1, 0, UT_BUF, 12, F_NEXT, 1);
	desc(1, 1, UT_BUF + 0x100, 20, F_NEXT, 2);
	desc(1, 2, UT_BUF + 0x200, 40, 0, 0);
	avail_add(1, 0);
	notify(1);
	assert_int_equal(used_idx(1), 1);
	assert_int_equal(used_len(1, 0), 0);
	assert_int_equal(recv(ut_peer, got, sizeof(got), MSG_DONTWAIT), 60);
	assert_memory_equal(got, test_frame, 60);

	/* Too short for an Ethernet header: dropped, still used. */
	desc(1, 0, UT_BUF, 22, 0, 0);
	avail_add(1, 0);
	cap_begin();
	notify(1);
	cap_expect("virtio-net", "transmit buffer 0 of 22 bytes dropped");
	assert_int_equal(used_idx(1), 2);
	assert_int_equal(recv(ut_peer, got, sizeof(got), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
}

static void
test_net_receive(void **state)
{
	uint8_t frame[70], hdr[12] = { 0 };

	(void)state;
	memset(frame, 0x3C, sizeof(frame));
	assert_int_equal(drv_features(0, 1), 0xB);
	assert_int_equal(drv_queue(0, UT_QSZ), 1);
	assert_int_equal(drv_queue(1, UT_QSZ), 1);
	/* Buffers before DRIVER_OK: the device polls once it is set. */
	desc(0, 0, UT_BUF, 2048, F_WRITE, 0);
	avail_add(0, 0);
	wr32(VIRTIO_MMIO_STATUS, 0xF);
	assert_int_equal(send(ut_peer, frame, sizeof(frame), 0), 70);
	loop_until_used(0, 1);
	assert_int_equal(used_len(0, 0), 12 + 70);
	hdr[10] = 1;					/* num_buffers */
	assert_memory_equal(g(UT_BUF), hdr, 12);
	assert_memory_equal(g(UT_BUF + 12), frame, 70);
	assert_int_equal(rd32(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_INTR_USED);

	/* No buffer: the frame waits in the socket until one comes. */
	frame[0] = 0x11;
	assert_int_equal(send(ut_peer, frame, sizeof(frame), 0), 70);
	loop_until_used(0, 1);
	uv_run(&ut_vm.loop, UV_RUN_NOWAIT);
	assert_int_equal(used_idx(0), 1);
	desc(0, 1, UT_BUF + 0x1000, 1000, F_WRITE | F_NEXT, 2);
	desc(0, 2, UT_BUF + 0x2000, 1000, F_WRITE, 0);
	avail_add(0, 1);
	notify(0);
	loop_until_used(0, 2);
	assert_int_equal(used_id(0, 1), 1);
	assert_int_equal(used_len(0, 1), 82);
	assert_int_equal(*(uint8_t *)g(UT_BUF + 0x1000 + 12), 0x11);

	/* A buffer with no room for a frame is given back empty. */
	desc(0, 3, UT_BUF + 0x3000, 12, F_WRITE, 0);
	avail_add(0, 3);
	cap_begin();
	notify(0);
	assert_int_equal(send(ut_peer, frame, sizeof(frame), 0), 70);
	loop_until_used(0, 3);
	cap_expect("virtio-net", "receive buffer 3 of 12 bytes is too small");
	assert_int_equal(used_len(0, 2), 0);
}

/* A receive ring broken while the main loop polls: NEEDS_RESET there. */
static void
test_net_receive_malformed(void **state)
{
	uint8_t frame[60] = { 0 };

	(void)state;
	drv_start(FEAT_IND, 2);
	desc(0, 0, UT_BUF, 2048, F_WRITE | F_NEXT, 0);
	avail_add(0, 0);
	notify(0);
	cap_begin();
	assert_int_equal(send(ut_peer, frame, sizeof(frame), 0), 60);
	uv_run(&ut_vm.loop, UV_RUN_NOWAIT);
	uv_run(&ut_vm.loop, UV_RUN_NOWAIT);
	cap_expect("virtio-net", "queue 0: chain 0 is longer than its table "
	    "of 8 (a loop)");
	assert_int_equal(rd32(VIRTIO_MMIO_STATUS), 0x4F);
	assert_int_equal(used_idx(0), 0);
	/* Reset and go again: the waiting frame arrives. */
	drv_start(0, 2);
	desc(0, 0, UT_BUF, 2048, F_WRITE, 0);
	avail_add(0, 0);
	notify(0);
	loop_until_used(0, 1);
	assert_int_equal(used_len(0, 0), 72);
}

/* ------------------------------------------------------------------------ */
/* The real worker on KVM. */

#define WT_TIMEOUT	30000
#define WT_UUID		"5e0c6a7e-8d7c-4b1e-9f3a-2b4c6d8e0f1a"

/* A raw long-mode guest definition with the given devices (JSON). */
static void
guest_def(char *buf, size_t len, const char *name, const char *guest,
    const char *devices)
{
	snprintf(buf, len, "{\"name\": \"%s\", \"uuid\": \"" WT_UUID "\", "
	    "\"memory\": {\"size_mib\": 4}, \"os\": {\"loader\": \"raw\", "
	    "\"kernel\": \"%s\", \"load_address\": 65536, \"mode\": "
	    "\"long\"}, \"devices\": {\"debug_exit\": true%s%s}}", name,
	    guest, devices[0] != '\0' ? ", " : "", devices);
}

static void
run_blk_guest(bool ro)
{
	char img[64], devs[256], json[1024], want[1024];
	uint8_t got[UT_SECTORS * 512];
	struct wt_proc p;
	unsigned int j;
	int fd;

	wt_require_worker();
	ut_make_image(img, sizeof(img), UT_SECTORS);
	snprintf(devs, sizeof(devs), "\"disks\": [{\"path\": \"%s\", "
	    "\"readonly\": %s, \"serial\": \"vmm-test-serial-01\"}]", img,
	    ro ? "true" : "false");
	guest_def(json, sizeof(json), "vblk", WT_GUEST("vio_blk"), devs);
	wt_run(&p, json, WT_TIMEOUT);
	snprintf(want, sizeof(want),
	    "virtio-blk: magic ok, version 2, device 2\n"
	    "features %s\n"
	    "capacity 00000010\n"
	    "s0: disk sector #00:\n"
	    "s1: disk sector #01:\n"
	    "write: %s\n"
	    "flush: ok\n"
	    "id: vmm-test-serial-01\n"
	    "beyond: ioerr\n"
	    "unknown: unsupp\n"
	    "indirect: ok\n", ro ? "30000264" : "30000244",
	    ro ? "ioerr" : "ok");
	WT_CHECK(&p, strcmp(p.console, want) == 0);
	WT_CHECK(&p, p.status == WORKER_DEBUG_EXIT_BASE + 1);

	assert_true((fd = open(img, O_RDONLY)) != -1);
	assert_int_equal(read(fd, got, sizeof(got)), (ssize_t)sizeof(got));
	close(fd);
	unlink(img);
	expect_sectors(got, 0, 2);
	for (j = 0; j < 512; j++) {
		uint8_t want_b = ro ? ut_sector_byte(2, j) :
		    (uint8_t)~ut_sector_byte(1, j);

		if (got[1024 + j] != want_b)
			fail_msg("sector 2 byte %u: 0x%02x, not 0x%02x", j,
			    got[1024 + j], want_b);
	}
	expect_sectors(got + 3 * 512, 3, UT_SECTORS - 3);
	wt_cleanup(&p);
}

static void
test_worker_blk(void **state)
{
	(void)state;
	run_blk_guest(false);
}

static void
test_worker_blk_readonly(void **state)
{
	(void)state;
	run_blk_guest(true);
}

static void
test_worker_rng(void **state)
{
	char json[1024];
	struct wt_proc p;

	(void)state;
	wt_require_worker();
	guest_def(json, sizeof(json), "vrng", WT_GUEST("vio_rng"),
	    "\"rng\": true");
	wt_run(&p, json, WT_TIMEOUT);
	WT_CHECK(&p, strcmp(p.console,
	    "rng: 64 bytes, not all zero\n"
	    "rng: chain 32 bytes\n"
	    "rng: large 00010000, tail untouched\n") == 0);
	WT_CHECK(&p, p.status == WORKER_DEBUG_EXIT_BASE + 1);
	wt_cleanup(&p);
}

/*
 * With the in-kernel irqchip: an interrupt per used buffer and one for the
 * configuration change, each with the exact InterruptStatus, none left
 * pending.  A line not lowered on the acknowledgement would never give
 * the second interrupt (vio_irq.S): the run would time out.
 */
static void
test_worker_irq(void **state)
{
	char json[1024];
	struct wt_proc p;

	(void)state;
	wt_require_worker();
	snprintf(json, sizeof(json), "{\"name\": \"virq\", "
	    "\"memory\": {\"size_mib\": 4}, \"features\": {\"irqchip\": "
	    "true}, \"os\": {\"loader\": \"raw\", \"kernel\": \"%s\", "
	    "\"load_address\": 65536, \"mode\": \"long\"}, \"devices\": "
	    "{\"debug_exit\": true, \"rng\": true}}", WT_GUEST("vio_irq"));
	wt_run(&p, json, WT_TIMEOUT);
	WT_CHECK(&p, strcmp(p.console,
	    "irq: used buffer, 01 interrupts, isr 00000001, irr 0\n"
	    "irq: used buffer, 02 interrupts, isr 00000001, irr 0\n"
	    "irq: config change, 03 interrupts, isr 00000002, irr 0\n") == 0);
	WT_CHECK(&p, p.status == WORKER_DEBUG_EXIT_BASE + 1);
	wt_cleanup(&p);
}

/* Read one line from the control socket (bounded wait). */
static bool
ctl_line(int fd, char *buf, size_t len)
{
	size_t n = 0;
	struct pollfd pfd = { fd, POLLIN, 0 };

	while (n + 1 < len) {
		if (poll(&pfd, 1, 5000) != 1 || read(fd, buf + n, 1) != 1)
			return false;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return true;
}

/*
 * After the guest's malicious suite: the worker still runs and answers on
 * its control socket, then stops on request (poweroff, not a signal).
 */
static void
expect_alive_then_stop(struct wt_proc *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char line[4096];
	const char *stop = "{\"cmd\": \"status\"}\n"
	    "{\"cmd\": \"stop\", \"force\": true}\n";
	int fd;

	wt_sock_path(p, WT_UUID, sa.sun_path, sizeof(sa.sun_path));
	assert_true((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) !=
	    -1);
	WT_CHECK(p, connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	WT_CHECK(p, ctl_line(fd, line, sizeof(line)));
	WT_CHECK(p, strstr(line, "\"event\":\"hello\"") != NULL);
	WT_CHECK(p, strstr(line, "\"state\":\"running\"") != NULL);
	assert_int_equal(write(fd, stop, strlen(stop)), (ssize_t)strlen(stop));
	WT_CHECK(p, ctl_line(fd, line, sizeof(line)));
	WT_CHECK(p, strstr(line, "\"state\":\"running\"") != NULL);
	close(fd);
	assert_int_equal(wt_wait(p, WT_TIMEOUT), 0);
	WT_CHECK(p, p->status == 0);
	WT_CHECK(p, strstr(p->log, "poweroff (status 0): forced stop") !=
	    NULL);
}

/* The console and log every malicious guest must produce. */
static void
expect_bad_suite(struct wt_proc *p, const char *dev, unsigned int q,
    const char *last)
{
	static const char *const msgs[] = {
		"chain 0 is longer than its table of 8 (a loop)",
		"buffer 0x80000000+0x200 outside guest RAM in chain 0",
		"buffer 0xfffffffffffff000+0x2000 outside guest RAM in chain 0",
		"buffer 0x3ff000+0xffffffff outside guest RAM in chain 0",
		"avail index 9 is more than 8 ahead of 0",
		"chain 0: descriptor index 200 out of range [0, 8)",
		"indirect descriptor inside an indirect table "
		    "(0x108100+0x10, chain 0)",
		"ring outside guest RAM (desc 0x80000000, driver 0x80001000, "
		    "device 0x80002000, size 8)",
		"size 6 is not a power of 2 in [1, ",
	};
	char want[512];
	size_t i;

	snprintf(want, sizeof(want), "loop ok\nrange ok\noverflow ok\n"
	    "length ok\nindex ok\nnext ok\nnested ok\nring ok\nsize ok\n%s",
	    last);
	WT_CHECK(p, wt_console_wait(p, last, WT_TIMEOUT));
	WT_CHECK(p, strcmp(p->console, want) == 0);
	for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		snprintf(want, sizeof(want), "%s@0xd0000000: queue %u: %s",
		    dev, q, msgs[i]);
		WT_CHECK(p, strstr(p->log, want) != NULL);
	}
}

static void
test_worker_bad_blk(void **state)
{
	char img[64], devs[256], json[1024];
	uint8_t got[UT_SECTORS * 512];
	struct wt_proc p;
	int fd;

	(void)state;
	wt_require_worker();
	ut_make_image(img, sizeof(img), UT_SECTORS);
	snprintf(devs, sizeof(devs), "\"disks\": [{\"path\": \"%s\"}]", img);
	guest_def(json, sizeof(json), "badblk", WT_GUEST("vio_bad_blk"), devs);
	wt_spawn(&p, json, NULL);
	expect_bad_suite(&p, "virtio-blk", 0, "recovered: disk sector #00:\n");
	expect_alive_then_stop(&p);
	/* The image is untouched: the "buffers" were never written. */
	assert_true((fd = open(img, O_RDONLY)) != -1);
	assert_int_equal(read(fd, got, sizeof(got)), (ssize_t)sizeof(got));
	close(fd);
	unlink(img);
	expect_sectors(got, 0, UT_SECTORS);
	wt_cleanup(&p);
}

static void
test_worker_bad_rng(void **state)
{
	char json[1024];
	struct wt_proc p;

	(void)state;
	wt_require_worker();
	guest_def(json, sizeof(json), "badrng", WT_GUEST("vio_bad_rng"),
	    "\"rng\": true");
	wt_spawn(&p, json, NULL);
	expect_bad_suite(&p, "virtio-rng", 0, "recovered\n");
	expect_alive_then_stop(&p);
	wt_cleanup(&p);
}

/* virtio-net on a socket passed with -T: the good frame comes out. */
static void
test_worker_bad_net(void **state)
{
	static const char want_frame[60] =
	    "\xff\xff\xff\xff\xff\xff\x52\x54\x00\xba\xd0\x01\x88\xb5"
	    "recovered after a reset";
	char json[1024], arg[32];
	const char *extra[3] = { "-T", arg, NULL };
	uint8_t got[128];
	struct pollfd pfd;
	struct wt_proc p;
	int sv[2];

	(void)state;
	wt_require_worker();
	/* The worker's end is inherited (no CLOEXEC), ours is not. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	fcntl(sv[1], F_SETFD, FD_CLOEXEC);
	snprintf(arg, sizeof(arg), "0=%d", sv[0]);
	guest_def(json, sizeof(json), "badnet", WT_GUEST("vio_bad_net"),
	    "\"interfaces\": [{\"type\": \"tap\", "
	    "\"mac\": \"52:54:00:ba:d0:01\"}]");
	wt_spawn(&p, json, extra);
	close(sv[0]);
	expect_bad_suite(&p, "virtio-net", 1, "recovered\n");
	pfd = (struct pollfd){ sv[1], POLLIN, 0 };
	WT_CHECK(&p, poll(&pfd, 1, 5000) == 1);
	WT_CHECK(&p, recv(sv[1], got, sizeof(got), 0) == 60);
	WT_CHECK(&p, memcmp(got, want_frame, 60) == 0);
	expect_alive_then_stop(&p);
	close(sv[1]);
	wt_cleanup(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define UT_RNG(t) cmocka_unit_test_setup_teardown(t, ut_up_rng, ut_down)
#define UT_BLK(t) cmocka_unit_test_setup_teardown(t, ut_up_blk, ut_down)
#define UT_NET(t) cmocka_unit_test_setup_teardown(t, ut_up_net, ut_down)
		UT_RNG(test_mmio_identity),
		UT_RNG(test_mmio_bad_accesses),
		UT_RNG(test_features_negotiation),
		UT_RNG(test_status_rules),
		UT_RNG(test_queue_setup_errors),
		UT_RNG(test_queue_regs_locked),
		UT_RNG(test_rng_requests),
		UT_RNG(test_rng_request_bound),
		UT_RNG(test_driver_ok_kick),
		UT_RNG(test_event_idx),
		UT_RNG(test_no_interrupt_flag),
		UT_RNG(test_malformed_chains),
		UT_RNG(test_random_rings),
		UT_RNG(test_warnings_rate_limited),
		UT_RNG(test_vm_reset),
		UT_BLK(test_blk_config),
		UT_BLK(test_blk_requests),
		UT_BLK(test_blk_framing),
		cmocka_unit_test_setup_teardown(test_blk_readonly,
		    ut_up_blk_ro, ut_down),
		UT_BLK(test_blk_create_errors),
		UT_NET(test_net_config),
		cmocka_unit_test(test_net_derived_mac),
		UT_NET(test_net_transmit),
		UT_NET(test_net_receive),
		UT_NET(test_net_receive_malformed),
		cmocka_unit_test(test_worker_blk),
		cmocka_unit_test(test_worker_blk_readonly),
		cmocka_unit_test(test_worker_rng),
		cmocka_unit_test(test_worker_irq),
		cmocka_unit_test(test_worker_bad_blk),
		cmocka_unit_test(test_worker_bad_rng),
		cmocka_unit_test(test_worker_bad_net),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
