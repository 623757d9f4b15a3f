/*
 * bus.c: the port and MMIO buses.  Devices claim address ranges during
 * setup; afterwards the tables are read-only, so vcpu threads look them up
 * without a lock (binary search over ranges sorted by base).
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

#define BUS_MAX_RANGES	256

static struct bus *
bus_of(struct vm *vm, enum bus_space space)
{
	return space == BUS_PIO ? &vm->pio : &vm->mmio;
}

int
bus_register(struct vm *vm, enum bus_space space, uint64_t base,
    uint64_t len, const char *name, bus_access_fn *fn, void *dev)
{
	struct bus *b = bus_of(vm, space);
	struct bus_range *r;
	size_t i;

	if (len == 0 || base + len < base || fn == NULL ||
	    (space == BUS_PIO && base + len > 0x10000))
		return -EINVAL;
	if (b->n == BUS_MAX_RANGES)
		return -ENOSPC;
	/* Insertion point: the first range that starts after base. */
	for (i = 0; i < b->n && b->r[i].base <= base; i++)
		;
	if (i > 0 && b->r[i - 1].base + b->r[i - 1].len > base)
		return -EEXIST;
	if (i < b->n && base + len > b->r[i].base)
		return -EEXIST;
	r = realloc(b->r, (b->n + 1) * sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	memmove(&r[i + 1], &r[i], (b->n - i) * sizeof(*r));
	r[i] = (struct bus_range){ base, len, name, fn, dev };
	b->r = r;
	b->n++;
	return 0;
}

static const struct bus_range *
bus_find(const struct bus *b, uint64_t addr)
{
	size_t lo = 0, hi = b->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct bus_range *r = &b->r[mid];

		if (addr < r->base)
			hi = mid;
		else if (addr - r->base >= r->len)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

bool
bus_access(struct vm *vm, enum bus_space space, uint64_t addr,
    uint8_t *data, unsigned int size, bool write)
{
	const struct bus_range *r = bus_find(bus_of(vm, space), addr);

	/*
	 * An access that starts inside a range but runs past its end is
	 * given to the device whole: devices check off + size themselves.
	 */
	if (r == NULL) {
		if (!write)
			memset(data, 0xFF, size);
		return false;
	}
	r->fn(r->dev, addr - r->base, data, size, write);
	return true;
}

void
bus_teardown(struct vm *vm)
{
	free(vm->pio.r);
	free(vm->mmio.r);
	memset(&vm->pio, 0, sizeof(vm->pio));
	memset(&vm->mmio, 0, sizeof(vm->mmio));
}
