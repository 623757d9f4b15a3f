/*
 * virtio.h: the virtio-mmio transport and split virtqueues (virtio_mmio.c)
 * as seen by the virtio device files (virtio_blk.c, virtio_net.c,
 * virtio_rng.c).  References are to the virtio 1.2 specification.
 *
 * A device supplies a struct virtio_dev_ops and a config space; the
 * transport owns the register window, feature negotiation, the device
 * status, the interrupt status and the queues.  Everything a guest can
 * choose (queue size, ring and buffer addresses, chain lengths, indices)
 * is checked here before a device sees it: a device only ever gets
 * chains of segments that lie in guest RAM.  Nonsense puts the device in
 * DEVICE_NEEDS_RESET (2.1.1) until the driver resets it.
 *
 * Locking: each virtio device has one mutex.  The transport holds it
 * while it handles a register access (vcpu threads) and while it calls
 * the device's ops; a device that works from the main loop (virtio-net
 * receive) takes it with virtio_lock.  The virtio_* and virtq_* functions
 * below must be called with the lock held, except virtio_mmio_create,
 * virtio_lock itself, the constant accessors (virtio_vm, virtio_base,
 * virtio_irq) and virtio_net_open_tap.
 */

#ifndef VIRTIO_H
#define VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "worker.h"

/* Device types (5). */
#define VIRTIO_ID_NET		1
#define VIRTIO_ID_BLOCK		2
#define VIRTIO_ID_RNG		4

/* Reserved feature bits the transport handles (6). */
#define VIRTIO_F_INDIRECT_DESC	28
#define VIRTIO_F_EVENT_IDX	29
#define VIRTIO_F_VERSION_1	32

#define VIRTIO_BIT(n)		(1ULL << (n))

/* Device status bits (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE	0x01
#define VIRTIO_STATUS_DRIVER		0x02
#define VIRTIO_STATUS_DRIVER_OK		0x04
#define VIRTIO_STATUS_FEATURES_OK	0x08
#define VIRTIO_STATUS_NEEDS_RESET	0x40
#define VIRTIO_STATUS_FAILED		0x80

/* Interrupt status bits (4.2.2). */
#define VIRTIO_INTR_USED	0x1
#define VIRTIO_INTR_CONFIG	0x2

/* The virtio-mmio version 2 register window (4.2.2). */
#define VIRTIO_MMIO_MAGIC		0x000
#define VIRTIO_MMIO_VERSION		0x004
#define VIRTIO_MMIO_DEVICE_ID		0x008
#define VIRTIO_MMIO_VENDOR_ID		0x00C
#define VIRTIO_MMIO_DEVICE_FEATURES	0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL	0x014
#define VIRTIO_MMIO_DRIVER_FEATURES	0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL	0x024
#define VIRTIO_MMIO_QUEUE_SEL		0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX	0x034
#define VIRTIO_MMIO_QUEUE_NUM		0x038
#define VIRTIO_MMIO_QUEUE_READY		0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY	0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS	0x060
#define VIRTIO_MMIO_INTERRUPT_ACK	0x064
#define VIRTIO_MMIO_STATUS		0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW	0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH	0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW	0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH	0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW	0x0A0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH	0x0A4
#define VIRTIO_MMIO_SHM_SEL		0x0AC
#define VIRTIO_MMIO_SHM_LEN_LOW		0x0B0
#define VIRTIO_MMIO_SHM_LEN_HIGH	0x0B4
#define VIRTIO_MMIO_SHM_BASE_LOW	0x0B8
#define VIRTIO_MMIO_SHM_BASE_HIGH	0x0BC
#define VIRTIO_MMIO_CONFIG_GENERATION	0x0FC
#define VIRTIO_MMIO_CONFIG		0x100

#define VIRTIO_MMIO_MAGIC_VALUE		0x74726976	/* "virt" */
#define VIRTIO_MMIO_VERSION_VALUE	2
#define VIRTIO_MMIO_VENDOR_VALUE	0x554D4D56	/* "VMMU" */
#define VIRTIO_MMIO_CONFIG_MAX		(VM_MMIO_SIZE - VIRTIO_MMIO_CONFIG)

/* Split virtqueue layout (2.7), little-endian in guest memory. */
struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

#define VIRTQ_DESC_F_NEXT	1
#define VIRTQ_DESC_F_WRITE	2
#define VIRTQ_DESC_F_INDIRECT	4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

/* Ring sizes in bytes for a queue of n entries, event fields included. */
#define VIRTQ_DESC_SIZE(n)	(16 * (uint64_t)(n))
#define VIRTQ_AVAIL_SIZE(n)	(6 + 2 * (uint64_t)(n))
#define VIRTQ_USED_SIZE(n)	(6 + 8 * (uint64_t)(n))

/* The largest queue a device may offer (a split ring's own limit). */
#define VIRTQ_MAX		32768

struct virtio_dev;
struct virtq;

/*
 * One buffer the driver made available, as host pointers into guest RAM:
 * seg[0, nr) is device-readable, seg[nr, nr + nw) device-writable, with
 * rlen and wlen bytes in total.  Zero-length descriptors are left out.
 * The segments belong to the queue and stay valid until the next
 * virtq_pop on it; the guest may change the bytes under them at any time,
 * so a device copies what it validates (virtq_chain_read) before it
 * checks it.
 */
struct virtq_seg {
	uint8_t *hva;
	uint32_t len;
};

struct virtq_chain {
	uint16_t head;		/* the id to give back in the used ring */
	unsigned int nr, nw;
	struct virtq_seg *seg;
	uint64_t rlen, wlen;
};

/*
 * What a device tells the transport.  features are the device-type bits
 * offered; the transport adds VERSION_1, INDIRECT_DESC and EVENT_IDX.
 * Every queue offers queue_max entries (a power of 2, <= VIRTQ_MAX).
 * Callbacks run with the device lock held: notify on the vcpu thread
 * that wrote QueueNotify (and on the one that set DRIVER_OK, once per
 * enabled queue, for buffers made available before); reset when the
 * driver writes 0 to Status or the VM resets (after the transport reset
 * its own state); destroy at teardown (main thread), to free the device
 * part and close its descriptors.  notify and reset may be NULL.
 */
struct virtio_dev_ops {
	const char *name;
	uint32_t device_id;
	uint64_t features;
	unsigned int nqueues;
	uint16_t queue_max;
	void (*notify)(void *dev, unsigned int queue);
	void (*reset)(void *dev);
	void (*destroy)(void *dev);
};

/*
 * Create a virtio-mmio device: take the next window (vm_mmio_alloc),
 * claim it on the MMIO bus and register with the VM for reset and
 * teardown.  config (config_len <= VIRTIO_MMIO_CONFIG_MAX bytes, owned by
 * the device, read under the lock) is the device configuration space.
 * Setup only, main thread.  On success *vdp is the transport, owned by the
 * VM from now on (ops->destroy runs at teardown); on failure nothing is
 * kept and ops->destroy is not called.  0 or a negative errno.
 */
int	virtio_mmio_create(struct vm *vm, const struct virtio_dev_ops *ops,
	    void *dev, const void *config, size_t config_len,
	    struct virtio_dev **vdp);

void		 virtio_lock(struct virtio_dev *vd);
void		 virtio_unlock(struct virtio_dev *vd);
struct vm	*virtio_vm(const struct virtio_dev *vd);
/* The window's base GPA and interrupt line (GSI). */
uint64_t	 virtio_base(const struct virtio_dev *vd);
unsigned int	 virtio_irq(const struct virtio_dev *vd);

/* Was feature bit n negotiated (FEATURES_OK accepted with it)? */
bool	virtio_has_feature(const struct virtio_dev *vd, unsigned int n);

/* The device changed its config space: new generation, interrupt. */
void	virtio_config_changed(struct virtio_dev *vd);

/* A rate-limited warning about what the guest did, with the device name. */
void	virtio_warn(struct virtio_dev *vd, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * The driver broke the protocol: warn, set DEVICE_NEEDS_RESET and, if the
 * driver is running, raise a configuration change interrupt (2.1.2).  No
 * queue of the device is used again until the driver resets it.
 */
void	virtio_device_error(struct virtio_dev *vd, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* Queue q of the device (q < ops->nqueues), NULL otherwise. */
struct virtq *virtio_queue(struct virtio_dev *vd, unsigned int q);

/*
 * May the device use q?  True when the driver set DRIVER_OK, enabled the
 * queue, and neither NEEDS_RESET nor FAILED is set.
 */
bool	virtq_ready(const struct virtq *q);

/*
 * Take the next available chain.  Returns 1 with *c filled, 0 when the
 * driver has made nothing more available (with EVENT_IDX, the driver is
 * then asked to notify on the next buffer), or a negative errno: -EIO when
 * the queue is not ready, -EINVAL when the ring or the chain is malformed
 * (the device is then in NEEDS_RESET).  Malformed: an avail index more
 * than the queue size ahead, a head or next index out of range, a chain
 * longer than the queue size (a loop), a descriptor or indirect table not
 * wholly in guest RAM (or whose end overflows), an indirect descriptor
 * without the feature, with NEXT, inside an indirect table, or with a
 * length that is not a non-zero multiple of 16 entries up to queue_max, a
 * readable descriptor after a writable one, more segments than queue_max.
 */
int	virtq_pop(struct virtq *q, struct virtq_chain *c);

/* Give the last popped chain back unused (it is popped again next time). */
void	virtq_unpop(struct virtq *q);

/* Return chain head to the driver with len bytes written into it. */
void	virtq_push(struct virtq *q, uint16_t head, uint32_t len);

/*
 * After a batch of virtq_push: interrupt the driver unless it asked not to
 * be (VIRTQ_AVAIL_F_NO_INTERRUPT, or the used_event index with EVENT_IDX).
 */
void	virtq_notify(struct virtq *q);

/*
 * Copy len bytes at offset off of the chain's readable part into buf, or
 * buf into its writable part.  Return the bytes copied (less than len
 * when the part ends first).
 */
size_t	virtq_chain_read(const struct virtq_chain *c, uint64_t off, void *buf,
	    size_t len);
size_t	virtq_chain_write(const struct virtq_chain *c, uint64_t off,
	    const void *buf, size_t len);

/*
 * Describe [off, off + len) of the readable (writable false) or writable
 * part as at most iovmax iovecs.  Returns the count, -EINVAL when the
 * range does not lie in the part, -E2BIG when iovmax is too small.
 */
int	virtq_chain_iov(const struct virtq_chain *c, bool writable,
	    uint64_t off, uint64_t len, struct iovec *iov, int iovmax);

/*
 * virtio_net.c: open the tap interface ifname (created if it does not
 * exist and we may) as IFF_TAP | IFF_NO_PI | IFF_VNET_HDR with a 12-byte
 * header, close-on-exec and non-blocking.  Setup only.  Returns the
 * descriptor, or a negative errno with one line for the operator in err.
 */
int	virtio_net_open_tap(const char *ifname, char *err, size_t errlen);

#endif /* VIRTIO_H */
