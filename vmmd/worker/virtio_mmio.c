/*
 * virtio_mmio.c: the virtio-mmio transport, version 2 (virtio 1.2 section
 * 4.2.2), and split virtqueues (2.7) for the virtio devices.  The guest
 * drives both: every register value, ring address, index and descriptor
 * is checked here, and a driver that breaks the rules puts its device in
 * DEVICE_NEEDS_RESET instead of reaching anything outside guest RAM.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "virtio rings are little-endian; this code reads them natively"
#endif

/* The three areas of a split virtqueue (2.7), in register order. */
enum { VQ_DESC, VQ_DRIVER, VQ_DEVICE, VQ_NRINGS };

#define VIRTIO_WARN_BURST	10		/* warnings in a burst */
#define VIRTIO_WARN_PERIOD_NS	1000000000LL	/* one more per second */

/* The transport's own features, offered with every device's. */
#define VIRTIO_TRANSPORT_FEATURES					\
	(VIRTIO_BIT(VIRTIO_F_VERSION_1) |				\
	VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) |				\
	VIRTIO_BIT(VIRTIO_F_EVENT_IDX))

struct virtq {
	struct virtio_dev *vd;
	unsigned int index;

	/* Registers, as the driver wrote them. */
	uint32_t num;
	uint64_t ring_gpa[VQ_NRINGS];	/* descriptor, driver, device */
	bool enabled;

	/* Set when enabled: checked host views of the three rings. */
	const uint8_t *desc;
	uint8_t *avail;		/* flags, idx, ring[num], used_event */
	uint8_t *used;		/* flags, idx, ring[num], avail_event */

	uint16_t last_avail;	/* next avail ring entry to take */
	uint16_t used_idx;	/* our copy of used->idx */
	uint16_t signalled;	/* used_idx at the last interrupt decision */
	bool signalled_valid;
	bool pushed;		/* used entries since that decision */

	struct virtq_seg *segs;	/* queue_max entries, for virtq_pop */
};

struct virtio_dev {
	struct vm *vm;
	const struct virtio_dev_ops *ops;
	void *dev;
	const uint8_t *config;
	size_t config_len;
	uint64_t base;
	unsigned int irq;
	struct vm_device_ops vmops;
	pthread_mutex_t lock;

	uint64_t features;		/* offered */
	uint64_t driver_features;	/* written by the driver */
	uint32_t dev_features_sel, drv_features_sel;
	uint32_t queue_sel;
	uint32_t status;
	uint32_t isr;
	uint32_t config_gen;

	/* Warning rate limit. */
	int64_t warn_last_ns;
	unsigned int warn_tokens;
	unsigned long warn_dropped;

	struct virtq *queues;
};

static void	virtio_raise(struct virtio_dev *vd, uint32_t bits);

/* ------------------------------------------------------------------------ */
/*
 * Ring fields in guest memory, read and written as single aligned accesses
 * (the rings' alignment is checked when a queue is enabled): the driver
 * runs on other cpus at the same time.
 */

static uint16_t
vq_load16(const uint8_t *p, int order)
{
	return __atomic_load_n((const uint16_t *)(const void *)p, order);
}

static void
vq_store16(uint8_t *p, uint16_t v, int order)
{
	__atomic_store_n((uint16_t *)(void *)p, v, order);
}

static uint16_t
vq_avail_idx(const struct virtq *q)
{
	/* Acquire: the ring entries before idx are read after it (2.7.13). */
	return vq_load16(q->avail + 2, __ATOMIC_ACQUIRE);
}

static uint16_t
vq_avail_flags(const struct virtq *q)
{
	return vq_load16(q->avail, __ATOMIC_RELAXED);
}

static uint16_t
vq_avail_ring(const struct virtq *q, uint16_t i)
{
	return vq_load16(q->avail + 4 + 2 * (i & (q->num - 1)),
	    __ATOMIC_RELAXED);
}

static uint16_t
vq_used_event(const struct virtq *q)
{
	return vq_load16(q->avail + 4 + 2 * q->num, __ATOMIC_RELAXED);
}

static void
vq_set_avail_event(struct virtq *q, uint16_t v)
{
	vq_store16(q->used + 4 + 8 * q->num, v, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------------ */
/* Logging and errors. */

/*
 * One warning about what the guest did, prefixed with the device: a burst
 * of VIRTIO_WARN_BURST, then one per period; the next line that gets out
 * says how many were dropped.  Lock held.
 */
static void
virtio_vwarn(struct virtio_dev *vd, const char *fmt, va_list ap)
{
	int64_t n = (vm_now_ns() - vd->warn_last_ns) / VIRTIO_WARN_PERIOD_NS;
	char msg[512];

	/* A token bucket: a burst, then one message per period. */
	if (n > 0) {
		if (n > VIRTIO_WARN_BURST)
			n = VIRTIO_WARN_BURST;
		vd->warn_tokens += (unsigned int)n;
		if (vd->warn_tokens > VIRTIO_WARN_BURST)
			vd->warn_tokens = VIRTIO_WARN_BURST;
		vd->warn_last_ns = vm_now_ns();
	}
	if (vd->warn_tokens == 0) {
		vd->warn_dropped++;
		return;
	}
	vd->warn_tokens--;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (vd->warn_dropped != 0)
		log_warnx("%s@0x%llx: %s (%lu similar messages suppressed)",
		    vd->ops->name, (unsigned long long)vd->base, msg,
		    vd->warn_dropped);
	else
		log_warnx("%s@0x%llx: %s", vd->ops->name,
		    (unsigned long long)vd->base, msg);
	vd->warn_dropped = 0;
}

void
virtio_warn(struct virtio_dev *vd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	virtio_vwarn(vd, fmt, ap);
	va_end(ap);
}

void
virtio_device_error(struct virtio_dev *vd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	virtio_vwarn(vd, fmt, ap);
	va_end(ap);
	if (vd->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	vd->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (vd->status & VIRTIO_STATUS_DRIVER_OK)
		virtio_raise(vd, VIRTIO_INTR_CONFIG);
}

/* ------------------------------------------------------------------------ */
/*
 * Interrupts.  The line follows the interrupt status: up while it is
 * non-zero.  An acknowledgement that leaves bits set lowers and raises it
 * again, so that a driver whose interrupt controller treats the line as
 * edge-triggered (the usual setting for an ISA-range GSI) still sees the
 * remaining event.  Without the in-kernel irqchip vm_irq_line does
 * nothing and guests poll.
 */

static void
virtio_raise(struct virtio_dev *vd, uint32_t bits)
{
	uint32_t old = vd->isr;

	vd->isr |= bits;
	if (old == 0 && vd->isr != 0)
		vm_irq_line(vd->vm, vd->irq, 1);
}

static void
virtio_ack(struct virtio_dev *vd, uint32_t bits)
{
	uint32_t old = vd->isr;

	vd->isr &= ~bits;
	if (old == 0 || old == vd->isr)
		return;
	vm_irq_line(vd->vm, vd->irq, 0);
	if (vd->isr != 0)
		vm_irq_line(vd->vm, vd->irq, 1);
}

void
virtio_config_changed(struct virtio_dev *vd)
{
	vd->config_gen++;
	if (vd->status & VIRTIO_STATUS_DRIVER_OK)
		virtio_raise(vd, VIRTIO_INTR_CONFIG);
}

/* ------------------------------------------------------------------------ */
/* Small accessors. */

void
virtio_lock(struct virtio_dev *vd)
{
	pthread_mutex_lock(&vd->lock);
}

void
virtio_unlock(struct virtio_dev *vd)
{
	pthread_mutex_unlock(&vd->lock);
}

struct vm *
virtio_vm(const struct virtio_dev *vd)
{
	return vd->vm;
}

uint64_t
virtio_base(const struct virtio_dev *vd)
{
	return vd->base;
}

unsigned int
virtio_irq(const struct virtio_dev *vd)
{
	return vd->irq;
}

bool
virtio_has_feature(const struct virtio_dev *vd, unsigned int n)
{
	return n < 64 && (vd->status & VIRTIO_STATUS_FEATURES_OK) &&
	    (vd->driver_features & VIRTIO_BIT(n)) != 0;
}

struct virtq *
virtio_queue(struct virtio_dev *vd, unsigned int q)
{
	return q < vd->ops->nqueues ? &vd->queues[q] : NULL;
}

static bool
virtio_live(const struct virtio_dev *vd)
{
	return (vd->status & (VIRTIO_STATUS_DRIVER_OK |
	    VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)) ==
	    VIRTIO_STATUS_DRIVER_OK;
}

bool
virtq_ready(const struct virtq *q)
{
	return q->enabled && virtio_live(q->vd);
}

/* ------------------------------------------------------------------------ */
/* Queues. */

static void
virtq_clear(struct virtq *q)
{
	q->num = q->vd->ops->queue_max;
	memset(q->ring_gpa, 0, sizeof(q->ring_gpa));
	q->enabled = false;
	q->desc = NULL;
	q->avail = q->used = NULL;
	q->last_avail = q->used_idx = q->signalled = 0;
	q->signalled_valid = q->pushed = false;
}

/*
 * The driver wrote 1 to QueueReady: check the size and the three rings
 * (2.7: alignment 16, 2 and 4, wholly in guest RAM) and start the queue
 * from index 0.  On failure the device needs a reset.
 */
static void
virtq_enable(struct virtq *q)
{
	struct virtio_dev *vd = q->vd;
	struct vm *vm = vd->vm;
	uint32_t n = q->num;

	if (n == 0 || n > vd->ops->queue_max || (n & (n - 1)) != 0) {
		virtio_device_error(vd, "queue %u: size %u is not a power of "
		    "2 in [1, %u]", q->index, n, vd->ops->queue_max);
		return;
	}
	if ((q->ring_gpa[VQ_DESC] & 15) != 0 ||
	    (q->ring_gpa[VQ_DRIVER] & 1) != 0 ||
	    (q->ring_gpa[VQ_DEVICE] & 3) != 0) {
		virtio_device_error(vd, "queue %u: misaligned ring "
		    "(desc 0x%llx, driver 0x%llx, device 0x%llx)", q->index,
		    (unsigned long long)q->ring_gpa[VQ_DESC],
		    (unsigned long long)q->ring_gpa[VQ_DRIVER],
		    (unsigned long long)q->ring_gpa[VQ_DEVICE]);
		return;
	}
	q->desc = vm_gpa(vm, q->ring_gpa[VQ_DESC], VIRTQ_DESC_SIZE(n));
	q->avail = vm_gpa(vm, q->ring_gpa[VQ_DRIVER], VIRTQ_AVAIL_SIZE(n));
	q->used = vm_gpa(vm, q->ring_gpa[VQ_DEVICE], VIRTQ_USED_SIZE(n));
	if (q->desc == NULL || q->avail == NULL || q->used == NULL) {
		virtio_device_error(vd, "queue %u: ring outside guest RAM "
		    "(desc 0x%llx, driver 0x%llx, device 0x%llx, size %u)",
		    q->index, (unsigned long long)q->ring_gpa[VQ_DESC],
		    (unsigned long long)q->ring_gpa[VQ_DRIVER],
		    (unsigned long long)q->ring_gpa[VQ_DEVICE], n);
		q->desc = NULL;
		q->avail = q->used = NULL;
		return;
	}
	q->last_avail = q->used_idx = q->signalled = 0;
	q->signalled_valid = q->pushed = false;
	q->enabled = true;
}

/* Where a chain walk stands: the table it reads and its bounds. */
struct virtq_walk {
	const uint8_t *table;	/* descriptors, 16 bytes each */
	uint32_t size;		/* entries in table */
	uint32_t steps;		/* descriptors read from this table */
	bool indirect;
	unsigned int nseg;
	bool writable_seen;
};

/* Take one descriptor into the chain.  0 or -EINVAL (device error). */
static int
virtq_add_seg(struct virtq *q, struct virtq_chain *c, struct virtq_walk *w,
    const struct virtq_desc *d)
{
	struct virtio_dev *vd = q->vd;
	bool writable = (d->flags & VIRTQ_DESC_F_WRITE) != 0;
	uint8_t *hva;

	if (!writable && w->writable_seen) {
		virtio_device_error(vd, "queue %u: readable descriptor after "
		    "a writable one in chain %u", q->index, c->head);
		return -EINVAL;
	}
	w->writable_seen |= writable;
	if (d->len == 0)
		return 0;
	hva = vm_gpa(vd->vm, d->addr, d->len);
	if (hva == NULL) {
		virtio_device_error(vd, "queue %u: buffer 0x%llx+0x%x outside "
		    "guest RAM in chain %u", q->index,
		    (unsigned long long)d->addr, d->len, c->head);
		return -EINVAL;
	}
	if (w->nseg == vd->ops->queue_max) {
		virtio_device_error(vd, "queue %u: chain %u has more than %u "
		    "buffers", q->index, c->head, vd->ops->queue_max);
		return -EINVAL;
	}
	q->segs[w->nseg].hva = hva;
	q->segs[w->nseg].len = d->len;
	w->nseg++;
	if (writable) {
		c->nw++;
		c->wlen += d->len;
	} else {
		c->nr++;
		c->rlen += d->len;
	}
	return 0;
}

/* Switch the walk to the indirect table d describes (2.7.5.3). */
static int
virtq_enter_indirect(struct virtq *q, struct virtq_chain *c,
    struct virtq_walk *w, const struct virtq_desc *d)
{
	struct virtio_dev *vd = q->vd;
	const char *why = NULL;
	const uint8_t *table = NULL;

	if (!virtio_has_feature(vd, VIRTIO_F_INDIRECT_DESC))
		why = "indirect descriptor without the feature";
	else if (w->indirect)
		why = "indirect descriptor inside an indirect table";
	else if (d->flags & VIRTQ_DESC_F_NEXT)
		why = "indirect descriptor with NEXT";
	else if (d->len == 0 || d->len % 16 != 0 ||
	    d->len / 16 > vd->ops->queue_max)
		why = "indirect table length not a multiple of 16 in "
		    "[16, 16 * queue_max]";
	else if ((table = vm_gpa(vd->vm, d->addr, d->len)) == NULL)
		why = "indirect table outside guest RAM";
	if (why != NULL) {
		virtio_device_error(vd, "queue %u: %s (0x%llx+0x%x, chain %u)",
		    q->index, why, (unsigned long long)d->addr, d->len,
		    c->head);
		return -EINVAL;
	}
	w->table = table;
	w->size = d->len / 16;
	w->steps = 0;
	w->indirect = true;
	return 0;
}

/*
 * May the walk read entry i of its table?  Not past the table, and not
 * more entries than the table has: a longer walk is going round a loop.
 */
static int
virtq_walk_bounds(struct virtq *q, const struct virtq_chain *c,
    const struct virtq_walk *w, uint32_t i)
{
	if (i >= w->size) {
		virtio_device_error(q->vd, "queue %u: chain %u: descriptor "
		    "index %u out of range [0, %u)", q->index, c->head, i,
		    w->size);
		return -EINVAL;
	}
	if (w->steps == w->size) {
		virtio_device_error(q->vd, "queue %u: chain %u is longer than "
		    "its %stable of %u (a loop)", q->index, c->head,
		    w->indirect ? "indirect " : "", w->size);
		return -EINVAL;
	}
	return 0;
}

/*
 * Walk the chain that starts at descriptor head of the queue's table.
 * Each descriptor is copied before it is checked: the guest may change the
 * table while we read it.  Every table walk is bounded by the table's
 * size, which also ends loops.
 */
static int
virtq_walk_chain(struct virtq *q, struct virtq_chain *c, uint16_t head)
{
	struct virtq_walk w = { q->desc, q->num, 0, false, 0, false };
	struct virtq_desc d;
	uint32_t i = head;
	int error;

	for (;;) {
		if ((error = virtq_walk_bounds(q, c, &w, i)) != 0)
			return error;
		memcpy(&d, w.table + 16 * i, sizeof(d));
		w.steps++;
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if ((error = virtq_enter_indirect(q, c, &w, &d)) != 0)
				return error;
			i = 0;
			continue;
		}
		if ((error = virtq_add_seg(q, c, &w, &d)) != 0)
			return error;
		if ((d.flags & VIRTQ_DESC_F_NEXT) == 0)
			return 0;
		i = d.next;
	}
}

int
virtq_pop(struct virtq *q, struct virtq_chain *c)
{
	bool event_idx = virtio_has_feature(q->vd, VIRTIO_F_EVENT_IDX);
	uint16_t avail, head;
	int error;

	if (!virtq_ready(q))
		return -EIO;
	avail = vq_avail_idx(q);
	if (avail == q->last_avail && event_idx) {
		/* Ask for a notification, then look again (2.7.10). */
		vq_set_avail_event(q, q->last_avail);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		avail = vq_avail_idx(q);
	}
	if (avail == q->last_avail)
		return 0;
	if ((uint16_t)(avail - q->last_avail) > q->num) {
		virtio_device_error(q->vd, "queue %u: avail index %u is more "
		    "than %u ahead of %u", q->index, avail, q->num,
		    q->last_avail);
		return -EINVAL;
	}
	head = vq_avail_ring(q, q->last_avail);
	memset(c, 0, sizeof(*c));
	c->head = head;
	c->seg = q->segs;
	if ((error = virtq_walk_chain(q, c, head)) != 0)
		return error;
	q->last_avail++;
	if (event_idx)
		vq_set_avail_event(q, q->last_avail);
	return 1;
}

void
virtq_unpop(struct virtq *q)
{
	q->last_avail--;
}

void
virtq_push(struct virtq *q, uint16_t head, uint32_t len)
{
	uint8_t *e;

	if (!q->enabled)
		return;
	e = q->used + 4 + 8 * (q->used_idx & (q->num - 1));
	memcpy(e, &(uint32_t){ head }, 4);
	memcpy(e + 4, &len, 4);
	q->used_idx++;
	q->pushed = true;
	/* Release: the element is visible before the index (2.7.8). */
	vq_store16(q->used + 2, q->used_idx, __ATOMIC_RELEASE);
}

/*
 * vring_need_event: with EVENT_IDX the driver wants an interrupt when the
 * used index moves past used_event (2.7.10).
 */
static bool
virtq_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

void
virtq_notify(struct virtq *q)
{
	uint16_t old = q->signalled;
	bool need;

	if (!q->enabled || !q->pushed)
		return;
	q->pushed = false;
	/* Our used index is visible before we read the driver's wishes. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (virtio_has_feature(q->vd, VIRTIO_F_EVENT_IDX))
		need = !q->signalled_valid ||
		    virtq_need_event(vq_used_event(q), q->used_idx, old);
	else
		need = (vq_avail_flags(q) & VIRTQ_AVAIL_F_NO_INTERRUPT) == 0;
	q->signalled = q->used_idx;
	q->signalled_valid = true;
	if (need)
		virtio_raise(q->vd, VIRTIO_INTR_USED);
}

/* ------------------------------------------------------------------------ */
/* Chains. */

/*
 * The segment range of a part: readable [0, nr), writable [nr, nr + nw).
 */
static void
virtq_part(const struct virtq_chain *c, bool writable, unsigned int *first,
    unsigned int *end)
{
	*first = writable ? c->nr : 0;
	*end = writable ? c->nr + c->nw : c->nr;
}

/* Copy between buf and the part, starting off bytes into it. */
static size_t
virtq_chain_copy(const struct virtq_chain *c, bool writable, uint64_t off,
    void *buf, size_t len)
{
	uint8_t *p = buf;
	unsigned int i, end;
	size_t done = 0;

	virtq_part(c, writable, &i, &end);
	for (; i < end && done < len; i++) {
		const struct virtq_seg *s = &c->seg[i];
		size_t n;

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		n = s->len - off;
		if (n > len - done)
			n = len - done;
		if (writable)
			memcpy(s->hva + off, p + done, n);
		else
			memcpy(p + done, s->hva + off, n);
		done += n;
		off = 0;
	}
	return done;
}

size_t
virtq_chain_read(const struct virtq_chain *c, uint64_t off, void *buf,
    size_t len)
{
	return virtq_chain_copy(c, false, off, buf, len);
}

size_t
virtq_chain_write(const struct virtq_chain *c, uint64_t off,
    const void *buf, size_t len)
{
	return virtq_chain_copy(c, true, off, (void *)(uintptr_t)buf, len);
}

int
virtq_chain_iov(const struct virtq_chain *c, bool writable, uint64_t off,
    uint64_t len, struct iovec *iov, int iovmax)
{
	uint64_t total = writable ? c->wlen : c->rlen;
	unsigned int i, end;
	int n = 0;

	if (off > total || len > total - off)
		return -EINVAL;
	virtq_part(c, writable, &i, &end);
	for (; i < end && len > 0; i++) {
		const struct virtq_seg *s = &c->seg[i];
		uint64_t take;

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		if (n == iovmax)
			return -E2BIG;
		take = s->len - off;
		if (take > len)
			take = len;
		iov[n].iov_base = s->hva + off;
		iov[n].iov_len = (size_t)take;
		n++;
		len -= take;
		off = 0;
	}
	return n;
}

/* ------------------------------------------------------------------------ */
/* Reset. */

/* Back to the state after power-on (2.4): the device's part too. */
static void
virtio_reset(struct virtio_dev *vd)
{
	unsigned int i;

	vd->status = 0;
	vd->driver_features = 0;
	vd->dev_features_sel = vd->drv_features_sel = 0;
	vd->queue_sel = 0;
	virtio_ack(vd, vd->isr);
	for (i = 0; i < vd->ops->nqueues; i++)
		virtq_clear(&vd->queues[i]);
	if (vd->ops->reset != NULL)
		vd->ops->reset(vd->dev);
}

/* ------------------------------------------------------------------------ */
/* Registers (4.2.2), one row per register. */

static struct virtq *
virtio_sel_queue(struct virtio_dev *vd)
{
	return virtio_queue(vd, vd->queue_sel);
}

static uint32_t
vreg_magic(struct virtio_dev *vd)
{
	return VIRTIO_MMIO_MAGIC_VALUE;
}

static uint32_t
vreg_version(struct virtio_dev *vd)
{
	return VIRTIO_MMIO_VERSION_VALUE;
}

static uint32_t
vreg_device_id(struct virtio_dev *vd)
{
	return vd->ops->device_id;
}

static uint32_t
vreg_vendor_id(struct virtio_dev *vd)
{
	return VIRTIO_MMIO_VENDOR_VALUE;
}

static uint32_t
vreg_device_features(struct virtio_dev *vd)
{
	if (vd->dev_features_sel > 1)
		return 0;
	return (uint32_t)(vd->features >> (32 * vd->dev_features_sel));
}

static void
vreg_device_features_sel(struct virtio_dev *vd, uint32_t v)
{
	vd->dev_features_sel = v;
}

/* Features are fixed once FEATURES_OK is set (3.1.1). */
static void
vreg_driver_features(struct virtio_dev *vd, uint32_t v)
{
	unsigned int shift;

	if (vd->status & VIRTIO_STATUS_FEATURES_OK) {
		virtio_warn(vd, "driver features written after FEATURES_OK");
		return;
	}
	if (vd->drv_features_sel > 1) {
		if (v != 0)
			virtio_warn(vd, "driver features 0x%x in word %u, "
			    "none offered", v, vd->drv_features_sel);
		return;
	}
	shift = 32 * vd->drv_features_sel;
	vd->driver_features &= ~(0xFFFFFFFFULL << shift);
	vd->driver_features |= (uint64_t)v << shift;
}

static void
vreg_driver_features_sel(struct virtio_dev *vd, uint32_t v)
{
	vd->drv_features_sel = v;
}

static void
vreg_queue_sel(struct virtio_dev *vd, uint32_t v)
{
	vd->queue_sel = v;
}

static uint32_t
vreg_queue_num_max(struct virtio_dev *vd)
{
	return virtio_sel_queue(vd) != NULL ? vd->ops->queue_max : 0;
}

/*
 * The queue a configuration register write applies to, or NULL (with a
 * warning) when there is none or it is enabled: its registers are fixed
 * while the device uses it.
 */
static struct virtq *
virtio_cfg_queue(struct virtio_dev *vd, const char *reg)
{
	struct virtq *q = virtio_sel_queue(vd);

	if (q == NULL) {
		virtio_warn(vd, "%s written for queue %u, which does not "
		    "exist", reg, vd->queue_sel);
		return NULL;
	}
	if (q->enabled) {
		virtio_warn(vd, "%s written while queue %u is enabled", reg,
		    q->index);
		return NULL;
	}
	return q;
}

static void
vreg_queue_num(struct virtio_dev *vd, uint32_t v)
{
	struct virtq *q = virtio_cfg_queue(vd, "QueueNum");

	if (q != NULL)
		q->num = v;
}

static uint32_t
vreg_queue_ready(struct virtio_dev *vd)
{
	struct virtq *q = virtio_sel_queue(vd);

	return q != NULL && q->enabled;
}

static void
vreg_queue_ready_w(struct virtio_dev *vd, uint32_t v)
{
	struct virtq *q = virtio_sel_queue(vd);

	if (q == NULL) {
		virtio_warn(vd, "QueueReady written for queue %u, which does "
		    "not exist", vd->queue_sel);
		return;
	}
	if (v == 0) {
		q->enabled = false;
		return;
	}
	if (!q->enabled && !(vd->status & VIRTIO_STATUS_NEEDS_RESET))
		virtq_enable(q);
}

static void
vreg_queue_notify(struct virtio_dev *vd, uint32_t v)
{
	struct virtq *q = virtio_queue(vd, v);

	if (q == NULL) {
		virtio_warn(vd, "notify for queue %u, which does not exist",
		    v);
		return;
	}
	if (virtq_ready(q) && vd->ops->notify != NULL)
		vd->ops->notify(vd->dev, q->index);
}

static uint32_t
vreg_interrupt_status(struct virtio_dev *vd)
{
	return vd->isr;
}

static void
vreg_interrupt_ack(struct virtio_dev *vd, uint32_t v)
{
	virtio_ack(vd, v);
}

static uint32_t
vreg_status(struct virtio_dev *vd)
{
	return vd->status;
}

/* FEATURES_OK is accepted only for offered features with VERSION_1. */
static bool
virtio_features_ok(struct virtio_dev *vd)
{
	uint64_t extra = vd->driver_features & ~vd->features;

	if (extra != 0) {
		virtio_warn(vd, "driver accepted features 0x%llx that were "
		    "not offered", (unsigned long long)extra);
		return false;
	}
	if (!(vd->driver_features & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
		virtio_warn(vd, "driver did not accept VIRTIO_F_VERSION_1 "
		    "(legacy drivers are not supported)");
		return false;
	}
	return true;
}

/* Buffers made available before DRIVER_OK are seen now. */
static void
virtio_driver_ok(struct virtio_dev *vd)
{
	unsigned int i;

	for (i = 0; i < vd->ops->nqueues; i++) {
		if (virtq_ready(&vd->queues[i]) && vd->ops->notify != NULL)
			vd->ops->notify(vd->dev, i);
	}
}

/*
 * Status (2.1, 3.1.1): 0 resets; otherwise the driver adds bits.  The
 * device's NEEDS_RESET stays; FEATURES_OK sticks only when the features
 * are acceptable; DRIVER_OK without FEATURES_OK is a protocol error.
 */
static void
vreg_status_w(struct virtio_dev *vd, uint32_t v)
{
	uint32_t old = vd->status;
	uint32_t set;

	if (v == 0) {
		virtio_reset(vd);
		return;
	}
	v &= 0xFF & ~VIRTIO_STATUS_NEEDS_RESET;
	if (old & ~v & ~VIRTIO_STATUS_NEEDS_RESET) {
		virtio_warn(vd, "status 0x%x clears bits of 0x%x", v, old);
		return;
	}
	set = v & ~old;
	if ((set & VIRTIO_STATUS_FEATURES_OK) && !virtio_features_ok(vd))
		v &= ~VIRTIO_STATUS_FEATURES_OK;
	if ((set & VIRTIO_STATUS_DRIVER_OK) &&
	    !(v & VIRTIO_STATUS_FEATURES_OK)) {
		vd->status = old | (v & ~VIRTIO_STATUS_DRIVER_OK);
		virtio_device_error(vd, "DRIVER_OK without FEATURES_OK");
		return;
	}
	vd->status = v | (old & VIRTIO_STATUS_NEEDS_RESET);
	if ((set & VIRTIO_STATUS_DRIVER_OK) && virtio_live(vd))
		virtio_driver_ok(vd);
}

/* The 64-bit ring addresses, written in 32-bit halves. */
static void
virtio_set_half(struct virtio_dev *vd, const char *reg, unsigned int ring,
    bool high, uint32_t v)
{
	struct virtq *q = virtio_cfg_queue(vd, reg);
	uint64_t *a;

	if (q == NULL)
		return;
	a = &q->ring_gpa[ring];
	if (high)
		*a = (*a & 0xFFFFFFFFULL) | (uint64_t)v << 32;
	else
		*a = (*a & ~0xFFFFFFFFULL) | v;
}

static void
vreg_desc_lo(struct virtio_dev *vd, uint32_t v)
{
	virtio_set_half(vd, "QueueDescLow", VQ_DESC, false, v);
}

static void
vreg_desc_hi(struct virtio_dev *vd, uint32_t v)
{
	virtio_set_half(vd, "QueueDescHigh", VQ_DESC, true, v);
}

static void
vreg_driver_lo(struct virtio_dev *vd, uint32_t v)
{
	virtio_set_half(vd, "QueueDriverLow", VQ_DRIVER, false, v);
}

static void
vreg_driver_hi(struct virtio_dev *vd, uint32_t v)
{
	virtio_set_half(vd, "QueueDriverHigh", VQ_DRIVER, true, v);
}

static void
vreg_device_lo(struct virtio_dev *vd, uint32_t v)
{
	virtio_set_half(vd, "QueueDeviceLow", VQ_DEVICE, false, v);
}

static void
vreg_device_hi(struct virtio_dev *vd, uint32_t v)
{
	virtio_set_half(vd, "QueueDeviceHigh", VQ_DEVICE, true, v);
}

/* No shared memory regions: every one reads as length -1 (4.2.2.1). */
static uint32_t
vreg_shm_len(struct virtio_dev *vd)
{
	return 0xFFFFFFFF;
}

static void
vreg_ignore(struct virtio_dev *vd, uint32_t v)
{
}

static uint32_t
vreg_config_generation(struct virtio_dev *vd)
{
	return vd->config_gen;
}

struct virtio_reg {
	const char *name;
	uint32_t (*read)(struct virtio_dev *);
	void (*write)(struct virtio_dev *, uint32_t);
};

#define VREG(off, name, r, w)	[(off) / 4] = { name, r, w }

static const struct virtio_reg virtio_regs[VIRTIO_MMIO_CONFIG / 4] = {
	VREG(VIRTIO_MMIO_MAGIC, "MagicValue", vreg_magic, NULL),
	VREG(VIRTIO_MMIO_VERSION, "Version", vreg_version, NULL),
	VREG(VIRTIO_MMIO_DEVICE_ID, "DeviceID", vreg_device_id, NULL),
	VREG(VIRTIO_MMIO_VENDOR_ID, "VendorID", vreg_vendor_id, NULL),
	VREG(VIRTIO_MMIO_DEVICE_FEATURES, "DeviceFeatures",
	    vreg_device_features, NULL),
	VREG(VIRTIO_MMIO_DEVICE_FEATURES_SEL, "DeviceFeaturesSel", NULL,
	    vreg_device_features_sel),
	VREG(VIRTIO_MMIO_DRIVER_FEATURES, "DriverFeatures", NULL,
	    vreg_driver_features),
	VREG(VIRTIO_MMIO_DRIVER_FEATURES_SEL, "DriverFeaturesSel", NULL,
	    vreg_driver_features_sel),
	VREG(VIRTIO_MMIO_QUEUE_SEL, "QueueSel", NULL, vreg_queue_sel),
	VREG(VIRTIO_MMIO_QUEUE_NUM_MAX, "QueueNumMax", vreg_queue_num_max,
	    NULL),
	VREG(VIRTIO_MMIO_QUEUE_NUM, "QueueNum", NULL, vreg_queue_num),
	VREG(VIRTIO_MMIO_QUEUE_READY, "QueueReady", vreg_queue_ready,
	    vreg_queue_ready_w),
	VREG(VIRTIO_MMIO_QUEUE_NOTIFY, "QueueNotify", NULL,
	    vreg_queue_notify),
	VREG(VIRTIO_MMIO_INTERRUPT_STATUS, "InterruptStatus",
	    vreg_interrupt_status, NULL),
	VREG(VIRTIO_MMIO_INTERRUPT_ACK, "InterruptACK", NULL,
	    vreg_interrupt_ack),
	VREG(VIRTIO_MMIO_STATUS, "Status", vreg_status, vreg_status_w),
	VREG(VIRTIO_MMIO_QUEUE_DESC_LOW, "QueueDescLow", NULL, vreg_desc_lo),
	VREG(VIRTIO_MMIO_QUEUE_DESC_HIGH, "QueueDescHigh", NULL,
	    vreg_desc_hi),
	VREG(VIRTIO_MMIO_QUEUE_DRIVER_LOW, "QueueDriverLow", NULL,
	    vreg_driver_lo),
	VREG(VIRTIO_MMIO_QUEUE_DRIVER_HIGH, "QueueDriverHigh", NULL,
	    vreg_driver_hi),
	VREG(VIRTIO_MMIO_QUEUE_DEVICE_LOW, "QueueDeviceLow", NULL,
	    vreg_device_lo),
	VREG(VIRTIO_MMIO_QUEUE_DEVICE_HIGH, "QueueDeviceHigh", NULL,
	    vreg_device_hi),
	VREG(VIRTIO_MMIO_SHM_SEL, "SHMSel", NULL, vreg_ignore),
	VREG(VIRTIO_MMIO_SHM_LEN_LOW, "SHMLenLow", vreg_shm_len, NULL),
	VREG(VIRTIO_MMIO_SHM_LEN_HIGH, "SHMLenHigh", vreg_shm_len, NULL),
	VREG(VIRTIO_MMIO_SHM_BASE_LOW, "SHMBaseLow", vreg_shm_len, NULL),
	VREG(VIRTIO_MMIO_SHM_BASE_HIGH, "SHMBaseHigh", vreg_shm_len, NULL),
	VREG(VIRTIO_MMIO_CONFIG_GENERATION, "ConfigGeneration",
	    vreg_config_generation, NULL),
};

/*
 * Control registers: 32-bit aligned accesses only (4.2.2.2).  Anything
 * else, a read of a write-only register or a write to a read-only one
 * is warned about; reads of it return 0.
 */
static void
virtio_reg_access(struct virtio_dev *vd, uint64_t off, uint8_t *data,
    unsigned int size, bool write)
{
	const struct virtio_reg *r = &virtio_regs[off / 4];
	uint32_t v = 0;

	if (size != 4 || (off & 3) != 0) {
		virtio_warn(vd, "%u-byte %s at register offset 0x%llx", size,
		    write ? "write" : "read", (unsigned long long)off);
		if (!write)
			memset(data, 0, size);
		return;
	}
	if (write) {
		memcpy(&v, data, 4);
		if (r->write != NULL)
			r->write(vd, v);
		else
			virtio_warn(vd, "write 0x%x to %s register 0x%llx", v,
			    r->name != NULL ? "read-only" : "unknown",
			    (unsigned long long)off);
		return;
	}
	if (r->read != NULL)
		v = r->read(vd);
	else
		virtio_warn(vd, "read of %s register 0x%llx",
		    r->name != NULL ? "write-only" : "unknown",
		    (unsigned long long)off);
	memcpy(data, &v, 4);
}

/*
 * The device config space: any width; bytes past config_len read as 0.
 * The devices here have no writable config field: writes are ignored.
 */
static void
virtio_config_access(struct virtio_dev *vd, uint64_t off, uint8_t *data,
    unsigned int size, bool write)
{
	unsigned int i;

	if (write) {
		virtio_warn(vd, "%u-byte write to config offset 0x%llx "
		    "ignored", size, (unsigned long long)off);
		return;
	}
	for (i = 0; i < size; i++)
		data[i] = off + i < vd->config_len ? vd->config[off + i] : 0;
}

/* bus_access_fn for the window (vcpu threads). */
static void
virtio_mmio_access(void *arg, uint64_t off, uint8_t *data, unsigned int size,
    bool write)
{
	struct virtio_dev *vd = arg;

	if (size == 0 || size > 8 || off >= VM_MMIO_SIZE ||
	    size > VM_MMIO_SIZE - off) {
		if (!write)
			memset(data, 0xFF, size);
		return;
	}
	virtio_lock(vd);
	if (off >= VIRTIO_MMIO_CONFIG)
		virtio_config_access(vd, off - VIRTIO_MMIO_CONFIG, data, size,
		    write);
	else
		virtio_reg_access(vd, off, data, size, write);
	virtio_unlock(vd);
}

/* ------------------------------------------------------------------------ */
/* Life cycle. */

/* vm_device_ops.reset: the VM resets (main thread, vcpus parked). */
static void
virtio_vm_reset(void *arg)
{
	struct virtio_dev *vd = arg;

	virtio_lock(vd);
	virtio_reset(vd);
	virtio_unlock(vd);
}

static void
virtio_free(struct virtio_dev *vd)
{
	unsigned int i;

	if (vd == NULL)
		return;
	if (vd->queues != NULL) {
		for (i = 0; i < vd->ops->nqueues; i++)
			free(vd->queues[i].segs);
		free(vd->queues);
	}
	pthread_mutex_destroy(&vd->lock);
	free(vd);
}

/* vm_device_ops.destroy: teardown (main thread). */
static void
virtio_vm_destroy(void *arg)
{
	struct virtio_dev *vd = arg;

	if (vd->ops->destroy != NULL)
		vd->ops->destroy(vd->dev);
	virtio_free(vd);
}

static int
virtio_alloc_queues(struct virtio_dev *vd)
{
	const struct virtio_dev_ops *ops = vd->ops;
	unsigned int i;

	vd->queues = calloc(ops->nqueues, sizeof(*vd->queues));
	if (vd->queues == NULL)
		return -ENOMEM;
	for (i = 0; i < ops->nqueues; i++) {
		struct virtq *q = &vd->queues[i];

		q->vd = vd;
		q->index = i;
		q->segs = calloc(ops->queue_max, sizeof(*q->segs));
		if (q->segs == NULL)
			return -ENOMEM;
		virtq_clear(q);
	}
	return 0;
}

int
virtio_mmio_create(struct vm *vm, const struct virtio_dev_ops *ops,
    void *dev, const void *config, size_t config_len,
    struct virtio_dev **vdp)
{
	struct virtio_dev *vd;
	int error;

	if (ops->nqueues == 0 || ops->queue_max == 0 ||
	    ops->queue_max > VIRTQ_MAX ||
	    (ops->queue_max & (ops->queue_max - 1)) != 0 ||
	    config_len > VIRTIO_MMIO_CONFIG_MAX)
		return -EINVAL;
	if ((vd = calloc(1, sizeof(*vd))) == NULL)
		return -ENOMEM;
	pthread_mutex_init(&vd->lock, NULL);
	vd->vm = vm;
	vd->ops = ops;
	vd->dev = dev;
	vd->config = config;
	vd->config_len = config_len;
	vd->features = ops->features | VIRTIO_TRANSPORT_FEATURES;
	vd->warn_tokens = VIRTIO_WARN_BURST;
	vd->warn_last_ns = vm_now_ns();
	vd->vmops = (struct vm_device_ops){ ops->name, virtio_vm_reset,
	    virtio_vm_destroy };
	if ((error = virtio_alloc_queues(vd)) != 0)
		goto fail;
	if ((error = vm_mmio_alloc(vm, &vd->base, &vd->irq)) != 0)
		goto fail;
	/*
	 * The bus keeps the range until teardown; a failure after this
	 * point would leave it registered, so the device list comes first.
	 */
	if ((error = vm_device_add(vm, &vd->vmops, vd)) != 0)
		goto fail;
	if ((error = bus_register(vm, BUS_MMIO, vd->base, VM_MMIO_SIZE,
	    ops->name, virtio_mmio_access, vd)) != 0) {
		/* Ours is the last entry: take it back out. */
		vm->ndevs--;
		goto fail;
	}
	*vdp = vd;
	return 0;

fail:
	virtio_free(vd);
	return error;
}
