/*
 * demo.c: the main job until vmmd exists.  Boots the demo guest
 * (tests/guests/hello.S) through libvmm, echoes what it writes to COM1, and
 * reports how long each step took.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "nvmm.h"
#include "vmtest.h"

#define DEMO_RAM	(1UL << 20)
#define DEMO_COM1	0x3F8

VMTEST_DECLARE_GUEST(hello);

static double demo_t0, demo_first_byte = -1;

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The io callback: COM1's transmit register goes to standard output. */
static void
demo_io(struct nvmm_io *io)
{
	if (io->in) {
		memset(io->data, 0xFF, io->size);	/* no such device */
		return;
	}
	if (io->port == DEMO_COM1) {
		if (demo_first_byte < 0)
			demo_first_byte = now_ms() - demo_t0;
		putchar(io->data[0]);
	}
}

static int
demo_run(struct vmtest *t)
{
	unsigned int exits = 0;

	for (;;) {
		if (nvmm_vcpu_run(&t->mach, &t->vcpu) == -1) {
			perror("demo: nvmm_vcpu_run");
			return -1;
		}
		exits++;
		switch (t->vcpu.exit->reason) {
		case NVMM_VCPU_EXIT_IO:
			if (nvmm_assist_io(&t->mach, &t->vcpu) == -1) {
				perror("demo: nvmm_assist_io");
				return -1;
			}
			break;
		case NVMM_VCPU_EXIT_NONE:
			break;
		case NVMM_VCPU_EXIT_HALTED:
			printf("demo: guest halted after %u exits\n", exits);
			return 0;
		default:
			fprintf(stderr, "demo: unexpected exit %s\n",
			    vmtest_exit_name(t->vcpu.exit->reason));
			return -1;
		}
	}
}

int
main(void)
{
	struct nvmm_assist_callbacks cbs = { .io = demo_io };
	struct nvmm_capability cap;
	struct vmtest t;
	const char *why;
	double t_run;
	int rv = 1;

	if (!vmtest_have_kvm(&why)) {
		fprintf(stderr, "demo: cannot run a guest: %s\n", why);
		return 1;
	}
	demo_t0 = now_ms();
	memset(&t, 0, sizeof(t));
	if (vmtest_init(&t, DEMO_RAM) == -1) {
		perror("demo: machine setup");
		goto out;
	}
	if (nvmm_capability(&cap) == 0)
		printf("demo: libnvmm API %u on KVM: up to %u vcpus, %llu GiB "
		    "of guest physical space\n", cap.version, cap.max_vcpus,
		    (unsigned long long)(cap.max_ram >> 30));
	if (nvmm_vcpu_configure(&t.mach, &t.vcpu, NVMM_VCPU_CONF_CALLBACKS,
	    &cbs) == -1) {
		perror("demo: callbacks");
		goto out;
	}
	vmtest_load(&t, VMTEST_GUEST_BASE, VMTEST_GUEST(hello));
	vmtest_setup_real(&t, 0, VMTEST_GUEST_BASE);
	t_run = now_ms();
	printf("demo: machine ready in %.2f ms; guest output:\n",
	    t_run - demo_t0);
	fflush(stdout);
	if (demo_run(&t) == 0) {
		printf("demo: first byte at %.2f ms, done at %.2f ms\n",
		    demo_first_byte, now_ms() - demo_t0);
		rv = 0;
	}
out:
	vmtest_fini(&t);
	return rv;
}
