/*
 * test_ext.c: libvmm's extensions in the machine-dependent configuration
 * range: in-kernel irqchip and PIT, interrupt lines, irqfd, ioeventfd and
 * KVM's binary statistics, on real KVM machines.
 */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/kvm.h>

#include "nvmm.h"
#include "vmtest.h"

VMTEST_DECLARE_GUEST(ext_ioeventfd);

static uint8_t ext_last_out;
static int ext_nout;

static void
ext_io(struct nvmm_io *io)
{
	if (!io->in) {
		ext_last_out = io->data[0];
		ext_nout++;
	}
}

/* Check a KVM binary statistics descriptor: a header and an id string. */
static void
check_stats_fd(int fd, const char *prefix)
{
	struct kvm_stats_header h;
	char id[64];

	assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	assert_int_equal(pread(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	assert_true(h.num_desc > 0);
	assert_true(h.name_size > 0);
	memset(id, 0, sizeof(id));
	assert_true(pread(fd, id, sizeof(id) - 1, h.id_offset) > 0);
	assert_memory_equal(id, prefix, strlen(prefix));
}

static void
test_stats(void **state)
{
	struct nvmm_vmm_conf_stats st;
	struct vmtest t;

	vmtest_require_kvm();
	assert_int_equal(vmtest_init(&t, 0x10000), 0);
	st.fd = -1;
	assert_int_equal(nvmm_machine_configure(&t.mach,
	    NVMM_MACH_CONF_VMM_STATS, &st), 0);
	check_stats_fd(st.fd, "kvm-");
	close(st.fd);
	st.fd = -1;
	assert_int_equal(nvmm_vcpu_configure(&t.mach, &t.vcpu,
	    NVMM_VCPU_CONF_VMM_STATS, &st), 0);
	check_stats_fd(st.fd, "kvm-");
	close(st.fd);
	assert_int_equal(nvmm_machine_configure(&t.mach,
	    NVMM_MACH_CONF_VMM_STATS, NULL), -1);
	assert_int_equal(errno, EINVAL);
	vmtest_fini(&t);
}

/* A guest write to an ioeventfd port signals the eventfd without an exit. */
static void
test_ioeventfd(void **state)
{
	struct nvmm_assist_callbacks cbs = { .io = ext_io };
	struct nvmm_vmm_conf_ioeventfd ioe;
	struct vmtest t;
	uint64_t count = 0;
	int efd;

	vmtest_require_kvm();
	assert_int_equal(vmtest_init(&t, 0x10000), 0);
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(efd >= 0);
	memset(&ioe, 0, sizeof(ioe));
	ioe.fd = efd;
	ioe.addr = 0x99;
	ioe.len = 1;
	ioe.pio = 1;
	assert_int_equal(nvmm_machine_configure(&t.mach,
	    NVMM_MACH_CONF_VMM_IOEVENTFD, &ioe), 0);
	assert_int_equal(nvmm_vcpu_configure(&t.mach, &t.vcpu,
	    NVMM_VCPU_CONF_CALLBACKS, &cbs), 0);
	vmtest_load(&t, VMTEST_GUEST_BASE, VMTEST_GUEST(ext_ioeventfd));
	vmtest_setup_real(&t, 0, VMTEST_GUEST_BASE);
	ext_nout = 0;
	vmtest_run(&t, NVMM_VCPU_EXIT_HALTED);
	/* Only the port 0x10 write reached user space. */
	assert_int_equal(ext_nout, 1);
	assert_int_equal(ext_last_out, 0x2a);
	assert_int_equal(read(efd, &count, sizeof(count)),
	    (ssize_t)sizeof(count));
	assert_int_equal(count, 3);

	/* Deassigned, the same port exits again. */
	ioe.deassign = 1;
	assert_int_equal(nvmm_machine_configure(&t.mach,
	    NVMM_MACH_CONF_VMM_IOEVENTFD, &ioe), 0);
	vmtest_setup_real(&t, 0, VMTEST_GUEST_BASE);
	ext_nout = 0;
	vmtest_run(&t, NVMM_VCPU_EXIT_HALTED);
	assert_int_equal(ext_nout, 4);
	close(efd);
	vmtest_fini(&t);
}

/*
 * The irqchip must come before the first vcpu; with it, interrupt lines and
 * irqfds work, and the PIT exists.
 */
static void
test_irqchip(void **state)
{
	struct nvmm_vmm_conf_irqchip ic = { .pit = 1 };
	struct nvmm_vmm_conf_irq_line il = { .irq = 4, .level = 1 };
	struct nvmm_vmm_conf_irqfd ifd;
	struct nvmm_machine mach;
	struct nvmm_vcpu vcpu;
	struct vmtest t;
	int efd;

	vmtest_require_kvm();
	/* After a vcpu: EBUSY. */
	assert_int_equal(vmtest_init(&t, 0x10000), 0);
	assert_int_equal(nvmm_machine_configure(&t.mach,
	    NVMM_MACH_CONF_VMM_IRQCHIP, &ic), -1);
	assert_int_equal(errno, EBUSY);
	/* No irqchip: KVM refuses interrupt lines. */
	assert_int_equal(nvmm_machine_configure(&t.mach,
	    NVMM_MACH_CONF_VMM_IRQ_LINE, &il), -1);
	vmtest_fini(&t);

	assert_int_equal(nvmm_machine_create(&mach), 0);
	assert_int_equal(nvmm_machine_configure(&mach,
	    NVMM_MACH_CONF_VMM_IRQCHIP, &ic), 0);
	assert_int_equal(nvmm_vcpu_create(&mach, 0, &vcpu), 0);
	assert_int_equal(nvmm_machine_configure(&mach,
	    NVMM_MACH_CONF_VMM_IRQ_LINE, &il), 0);
	il.level = 0;
	assert_int_equal(nvmm_machine_configure(&mach,
	    NVMM_MACH_CONF_VMM_IRQ_LINE, &il), 0);
	efd = eventfd(0, EFD_CLOEXEC);
	assert_true(efd >= 0);
	memset(&ifd, 0, sizeof(ifd));
	ifd.fd = efd;
	ifd.gsi = 5;
	assert_int_equal(nvmm_machine_configure(&mach,
	    NVMM_MACH_CONF_VMM_IRQFD, &ifd), 0);
	/* The same eventfd twice: KVM says EBUSY. */
	assert_int_equal(nvmm_machine_configure(&mach,
	    NVMM_MACH_CONF_VMM_IRQFD, &ifd), -1);
	assert_int_equal(errno, EBUSY);
	ifd.deassign = 1;
	assert_int_equal(nvmm_machine_configure(&mach,
	    NVMM_MACH_CONF_VMM_IRQFD, &ifd), 0);
	close(efd);
	assert_int_equal(nvmm_vcpu_destroy(&mach, &vcpu), 0);
	assert_int_equal(nvmm_machine_destroy(&mach), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_ioeventfd),
		cmocka_unit_test(test_irqchip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
