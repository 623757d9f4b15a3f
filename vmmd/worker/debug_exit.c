/*
 * debug_exit.c: the exit port of test guests, like QEMU's isa-debug-exit.
 * A write of v to DEBUG_EXIT_PORT ends the VM; the worker then exits with
 * status WORKER_DEBUG_EXIT_BASE + (v & 31) (main.c).  Reads return all
 * ones.  The port exists only when the definition asks for it.
 */

#include <errno.h>
#include <stdlib.h>

#include "worker.h"

/* A byte, word or dword write; no state, so no lock. */
struct debug_exit {
	struct vm *vm;
};

/*
 * The value is the bytes written, little-endian (PIO accesses are at
 * most four bytes; bus.c never passes more than eight).  Vcpu threads.
 */
static void
debug_exit_access(void *dev, uint64_t off, uint8_t *data, unsigned int size,
    bool write)
{
	struct debug_exit *d = dev;
	unsigned int i, v = 0;

	if (!write) {
		for (i = 0; i < size; i++)
			data[i] = 0xFF;
		return;
	}
	for (i = 0; i < size && i < sizeof(v); i++)
		v |= (unsigned int)data[i] << (8 * i);
	vm_request_exit(d->vm, WORKER_EXIT_DEBUG_EXIT, (int)(v & 0x7FFFFFFF),
	    "debug exit %u", v);
}

static void
debug_exit_destroy(void *dev)
{
	free(dev);
}

static const struct vm_device_ops debug_exit_ops = {
	.name = "debug-exit",
	.destroy = debug_exit_destroy,
};

int
debug_exit_create(struct vm *vm)
{
	struct debug_exit *d;
	int error;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return -ENOMEM;
	d->vm = vm;
	if ((error = vm_device_add(vm, &debug_exit_ops, d)) != 0) {
		free(d);
		return error;
	}
	/* Owned by the device list from here: vm_fini frees it. */
	return bus_register(vm, BUS_PIO, DEBUG_EXIT_PORT, 1, "debug-exit",
	    debug_exit_access, d);
}
