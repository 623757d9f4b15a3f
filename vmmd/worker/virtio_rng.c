/*
 * virtio_rng.c: the entropy device (virtio 1.2 section 5.4).  Each
 * buffer's device-writable part is filled from getrandom(2), at most
 * VRNG_REQ_MAX bytes per request, on the vcpu thread that notified.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "virtio.h"

#define VRNG_QUEUE_MAX	64
#define VRNG_REQ_MAX	65536	/* bytes per request */

struct vrng {
	struct virtio_dev *vd;
};

/*
 * Fill up to VRNG_REQ_MAX bytes of the writable part, segment by segment.
 * Returns the bytes written.  getrandom only fails here if the kernel has
 * no entropy source at all; the guest then gets a short (or empty)
 * buffer, which the protocol allows.
 */
static uint32_t
vrng_fill(struct vrng *r, const struct virtq_chain *c)
{
	uint32_t done = 0;
	unsigned int i;

	for (i = c->nr; i < c->nr + c->nw && done < VRNG_REQ_MAX; i++) {
		size_t want = c->seg[i].len;
		ssize_t n;

		if (want > VRNG_REQ_MAX - done)
			want = VRNG_REQ_MAX - done;
		do {
			n = getrandom(c->seg[i].hva, want, 0);
		} while (n == -1 && errno == EINTR);
		if (n == -1) {
			virtio_warn(r->vd, "getrandom: %s", strerror(errno));
			break;
		}
		done += (uint32_t)n;
		if ((size_t)n < want)
			break;
	}
	return done;
}

/* virtio_dev_ops.notify. */
static void
vrng_notify(void *arg, unsigned int qi)
{
	struct vrng *r = arg;
	struct virtq *q = virtio_queue(r->vd, qi);
	struct virtq_chain c;

	while (virtq_pop(q, &c) == 1)
		virtq_push(q, c.head, vrng_fill(r, &c));
	virtq_notify(q);
}

static void
vrng_destroy(void *arg)
{
	free(arg);
}

static const struct virtio_dev_ops vrng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG,
	.features = 0,
	.nqueues = 1,
	.queue_max = VRNG_QUEUE_MAX,
	.notify = vrng_notify,
	.destroy = vrng_destroy,
};

int
virtio_rng_create(struct vm *vm)
{
	struct vrng *r;
	int error;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -ENOMEM;
	if ((error = virtio_mmio_create(vm, &vrng_ops, r, NULL, 0,
	    &r->vd)) != 0) {
		free(r);
		return error;
	}
	log_debug("virtio-rng@0x%llx: irq %u",
	    (unsigned long long)virtio_base(r->vd), virtio_irq(r->vd));
	return 0;
}
