/*
 * virtio_net.c: a virtio network device (virtio 1.2 section 5.1) on a tap
 * descriptor.  Frames the guest transmits are written to the tap on the
 * vcpu thread that notified; frames from the tap are read on the main
 * loop (uv_poll) into the guest's receive buffers.  No offloads are
 * offered, so every header the guest sees is zero but for num_buffers.
 *
 * The descriptor is a tap opened with IFF_TAP | IFF_NO_PI, with or
 * without IFF_VNET_HDR (then with a 12-byte header), or a datagram or
 * seqpacket socket that carries one Ethernet frame per message.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/if.h>
#include <linux/if_tun.h>

#include "virtio.h"

#define VNET_QUEUE_MAX		256
#define VNET_RXQ		0
#define VNET_TXQ		1
#define VNET_HDR_LEN		12	/* virtio_net_hdr_v1 (5.1.6) */
#define VNET_ETH_HLEN		14
#define VNET_FRAME_MAX		65550	/* an Ethernet frame without GSO */
#define VNET_RX_BATCH		64	/* frames per loop iteration */

/* Feature bits and status (5.1.3, 5.1.4). */
#define VIRTIO_NET_F_MAC	5
#define VIRTIO_NET_F_STATUS	16
#define VIRTIO_NET_S_LINK_UP	1

/* The configuration layout without MQ and MTU (5.1.4). */
struct vnet_config {
	uint8_t mac[6];
	uint16_t status;
} __attribute__((packed));

/*
 * rx_polling and rx_arm_pending are under the device lock; the uv_poll
 * handle itself is only touched on the main thread.
 */
struct vnet {
	struct virtio_dev *vd;
	struct vm *vm;
	int fd;
	bool is_tap;
	bool vnet_hdr;			/* the tap reads and writes a header */
	struct vnet_config config;
	uv_poll_t poll;
	bool poll_init;
	bool rx_polling;
	bool rx_arm_pending;
	uint8_t rx_hdr[VNET_HDR_LEN];	/* the tap's header, discarded */
	/* For one transfer at a time, either way: under the lock. */
	struct iovec iov[VNET_QUEUE_MAX + 1];
};

/* ------------------------------------------------------------------------ */
/* Transmit (vcpu thread). */

/*
 * Send one chain: a header (ignored: nothing that would give it meaning
 * was offered) and one frame in the readable part.
 */
static void
vnet_tx_one(struct vnet *n, const struct virtq_chain *c)
{
	static const uint8_t zero_hdr[VNET_HDR_LEN];
	uint64_t len;
	ssize_t w;
	int i = 0, k;

	if (c->rlen < VNET_HDR_LEN + VNET_ETH_HLEN ||
	    c->rlen - VNET_HDR_LEN > VNET_FRAME_MAX) {
		virtio_warn(n->vd, "transmit buffer %u of %llu bytes dropped",
		    c->head, (unsigned long long)c->rlen);
		return;
	}
	len = c->rlen - VNET_HDR_LEN;
	if (n->vnet_hdr) {
		n->iov[0].iov_base = (void *)(uintptr_t)zero_hdr;
		n->iov[0].iov_len = sizeof(zero_hdr);
		i = 1;
	}
	k = virtq_chain_iov(c, false, VNET_HDR_LEN, len, n->iov + i,
	    VNET_QUEUE_MAX);
	if (k < 0)
		return;
	do {
		w = writev(n->fd, n->iov, i + k);
	} while (w == -1 && errno == EINTR);
	/* A full or downed tap drops frames, as a wire would. */
	if (w == -1 && errno != EAGAIN && errno != ENOBUFS && errno != EIO)
		virtio_warn(n->vd, "transmit: %s", strerror(errno));
}

static void
vnet_tx(struct vnet *n, struct virtq *q)
{
	struct virtq_chain c;

	while (virtq_pop(q, &c) == 1) {
		vnet_tx_one(n, &c);
		virtq_push(q, c.head, 0);
	}
	virtq_notify(q);
}

/* ------------------------------------------------------------------------ */
/* Receive (main thread). */

static void	vnet_rx_cb(uv_poll_t *h, int status, int events);

static void
vnet_poll_start(struct vnet *n)
{
	int error;

	if (n->rx_polling || !n->poll_init)
		return;
	if ((error = uv_poll_start(&n->poll, UV_READABLE, vnet_rx_cb)) != 0) {
		virtio_warn(n->vd, "cannot poll the tap: %s",
		    uv_strerror(error));
		return;
	}
	n->rx_polling = true;
}

static void
vnet_poll_stop(struct vnet *n)
{
	if (!n->rx_polling)
		return;
	uv_poll_stop(&n->poll);
	n->rx_polling = false;
}

/*
 * Read one frame into chain c.  Returns 0 when the chain was used (a frame
 * or a useless buffer), -EAGAIN when no frame is waiting, or -EIO when the
 * descriptor failed (receive stops until the next notify).
 */
static int
vnet_rx_one(struct vnet *n, struct virtq *q, const struct virtq_chain *c)
{
	static const uint16_t one = 1;
	uint8_t hdr[VNET_HDR_LEN] = { 0 };
	ssize_t r;
	int i = 0, k;

	if (c->wlen <= VNET_HDR_LEN ||
	    (k = virtq_chain_iov(c, true, VNET_HDR_LEN,
	    c->wlen - VNET_HDR_LEN, n->iov + 1, VNET_QUEUE_MAX)) < 0) {
		virtio_warn(n->vd, "receive buffer %u of %llu bytes is too "
		    "small", c->head, (unsigned long long)c->wlen);
		virtq_push(q, c->head, 0);
		return 0;
	}
	if (n->vnet_hdr) {
		n->iov[0].iov_base = n->rx_hdr;
		n->iov[0].iov_len = sizeof(n->rx_hdr);
	} else
		i = 1;
	do {
		r = readv(n->fd, n->iov + i, k + 1 - i);
	} while (r == -1 && errno == EINTR);
	if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -EAGAIN;
	if (r <= 0 || (n->vnet_hdr && r < VNET_HDR_LEN)) {
		virtio_warn(n->vd, "receive: %s", r == -1 ? strerror(errno) :
		    "end of file");
		return -EIO;
	}
	if (n->vnet_hdr)
		r -= VNET_HDR_LEN;
	/* No offloads: flags and GSO zero, num_buffers 1 (5.1.6.4). */
	memcpy(hdr + 10, &one, sizeof(one));
	virtq_chain_write(c, 0, hdr, sizeof(hdr));
	virtq_push(q, c->head, (uint32_t)(VNET_HDR_LEN + r));
	return 0;
}

/*
 * Move waiting frames into receive buffers, at most VNET_RX_BATCH per
 * call.  With no buffer left polling stops: the tap queues (and in the
 * end drops) frames until the driver adds buffers and notifies.
 */
static void
vnet_rx(struct vnet *n)
{
	struct virtq *q = virtio_queue(n->vd, VNET_RXQ);
	struct virtq_chain c;
	unsigned int i;
	int error;

	for (i = 0; i < VNET_RX_BATCH; i++) {
		if (virtq_pop(q, &c) != 1) {
			vnet_poll_stop(n);
			break;
		}
		if ((error = vnet_rx_one(n, q, &c)) != 0) {
			virtq_unpop(q);
			if (error != -EAGAIN)
				vnet_poll_stop(n);
			break;
		}
	}
	virtq_notify(q);
}

static void
vnet_rx_cb(uv_poll_t *h, int status, int events)
{
	struct vnet *n = h->data;

	virtio_lock(n->vd);
	if (status < 0) {
		virtio_warn(n->vd, "tap: %s", uv_strerror(status));
		vnet_poll_stop(n);
	} else
		vnet_rx(n);
	virtio_unlock(n->vd);
}

/* Deferred to the main thread by a receive queue notify. */
static void
vnet_rx_arm(void *arg)
{
	struct vnet *n = arg;

	virtio_lock(n->vd);
	n->rx_arm_pending = false;
	if (virtq_ready(virtio_queue(n->vd, VNET_RXQ)))
		vnet_poll_start(n);
	virtio_unlock(n->vd);
}

/* ------------------------------------------------------------------------ */
/* The device. */

/* virtio_dev_ops.notify (vcpu thread, lock held). */
static void
vnet_notify(void *arg, unsigned int qi)
{
	struct vnet *n = arg;

	if (qi == VNET_TXQ) {
		vnet_tx(n, virtio_queue(n->vd, VNET_TXQ));
		return;
	}
	/* New receive buffers: make sure the main loop polls the tap. */
	if (n->rx_polling || n->rx_arm_pending)
		return;
	if (vm_defer(n->vm, vnet_rx_arm, n) == 0)
		n->rx_arm_pending = true;
	else
		virtio_warn(n->vd, "cannot arm receive: out of memory");
}

static void
vnet_closed(uv_handle_t *h)
{
	free(h->data);
}

/*
 * Teardown (main thread).  The handle is closed before the descriptor;
 * the memory goes when libuv is done with the handle (never, if the loop
 * does not run again: it stays reachable from the loop).
 */
static void
vnet_destroy(void *arg)
{
	struct vnet *n = arg;

	if (n->poll_init)
		uv_close((uv_handle_t *)&n->poll, vnet_closed);
	if (n->fd != -1)
		close(n->fd);
	if (!n->poll_init)
		free(n);
}

static const struct virtio_dev_ops vnet_ops = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.features = VIRTIO_BIT(VIRTIO_NET_F_MAC) |
	    VIRTIO_BIT(VIRTIO_NET_F_STATUS),
	.nqueues = 2,
	.queue_max = VNET_QUEUE_MAX,
	.notify = vnet_notify,
	.destroy = vnet_destroy,
};

/*
 * The MAC address: the definition's, else 52:54:00 followed by three bytes
 * of an FNV-1a hash of the VM's uuid and the interface's index, so that a
 * VM keeps its address across restarts.
 */
static void
vnet_mac(const struct vm *vm, const struct vmdef_nic *nic, uint8_t mac[6])
{
	uint32_t h = 2166136261U;
	const char *p;
	ptrdiff_t idx = nic - vm->def->nics;

	if (nic->mac_set) {
		memcpy(mac, nic->mac, 6);
		return;
	}
	for (p = vm->def->uuid; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619U;
	if (idx >= 0 && idx < VMDEF_NIC_MAX)
		h = (h ^ (uint32_t)idx) * 16777619U;
	mac[0] = 0x52;
	mac[1] = 0x54;
	mac[2] = 0x00;
	mac[3] = (uint8_t)(h >> 16);
	mac[4] = (uint8_t)(h >> 8);
	mac[5] = (uint8_t)h;
}

/*
 * What the descriptor is: a tap (IFF_TAP and IFF_NO_PI required; with
 * IFF_VNET_HDR its header size is set to ours) or a socket.  Also makes
 * it non-blocking for the main loop.  0 or -errno.
 */
static int
vnet_fd_setup(int fd, bool *is_tap, bool *vnet_hdr)
{
	struct ifreq ifr;
	struct stat st;
	int fl, sz = VNET_HDR_LEN;

	*is_tap = *vnet_hdr = false;
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) == 0) {
		*is_tap = true;
		if ((ifr.ifr_flags & (IFF_TAP | IFF_NO_PI)) !=
		    (IFF_TAP | IFF_NO_PI))
			return -EINVAL;
		if (ifr.ifr_flags & IFF_VNET_HDR) {
			if (ioctl(fd, TUNSETVNETHDRSZ, &sz) == -1)
				return -errno;
			*vnet_hdr = true;
		}
	} else if (fstat(fd, &st) == -1 || !S_ISSOCK(st.st_mode))
		return -EINVAL;
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return -errno;
	return 0;
}

/*
 * Create the device for nic on fd (a tap, see above).  Setup only, main
 * thread.  On success the device owns fd; on failure the caller keeps it.
 * 0 or -errno.
 */
int
virtio_net_create(struct vm *vm, const struct vmdef_nic *nic, int fd)
{
	struct vnet *n;
	int error;

	if ((n = calloc(1, sizeof(*n))) == NULL)
		return -ENOMEM;
	n->vm = vm;
	n->fd = -1;
	if ((error = vnet_fd_setup(fd, &n->is_tap, &n->vnet_hdr)) != 0)
		goto fail;
	vnet_mac(vm, nic, n->config.mac);
	n->config.status = VIRTIO_NET_S_LINK_UP;
	if ((error = uv_poll_init(vm_loop(vm), &n->poll, fd)) != 0)
		goto fail;
	n->poll.data = n;
	n->poll_init = true;
	if ((error = virtio_mmio_create(vm, &vnet_ops, n, &n->config,
	    sizeof(n->config), &n->vd)) != 0) {
		/* The handle is the loop's until closed; n goes with it. */
		uv_close((uv_handle_t *)&n->poll, vnet_closed);
		return error;
	}
	n->fd = fd;	/* owned by the device now */
	log_debug("virtio-net@0x%llx: irq %u, MAC "
	    "%02x:%02x:%02x:%02x:%02x:%02x, %s",
	    (unsigned long long)virtio_base(n->vd), virtio_irq(n->vd),
	    n->config.mac[0], n->config.mac[1], n->config.mac[2],
	    n->config.mac[3], n->config.mac[4], n->config.mac[5],
	    n->vnet_hdr ? "tap with a 12-byte vnet header" :
	    n->is_tap ? "tap" : "socket");
	return 0;

fail:
	free(n);
	return error;
}

int
virtio_net_open_tap(const char *ifname, char *err, size_t errlen)
{
	struct ifreq ifr;
	int fd, error, sz = VNET_HDR_LEN;

	if (strlen(ifname) >= sizeof(ifr.ifr_name)) {
		snprintf(err, errlen, "tap %s: name longer than %zu bytes",
		    ifname, sizeof(ifr.ifr_name) - 1);
		return -EINVAL;
	}
	if ((fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK)) ==
	    -1) {
		error = -errno;
		snprintf(err, errlen, "tap %s: /dev/net/tun: %s", ifname,
		    strerror(errno));
		return error;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	memcpy(ifr.ifr_name, ifname, strlen(ifname));
	if (ioctl(fd, TUNSETIFF, &ifr) == -1 ||
	    ioctl(fd, TUNSETVNETHDRSZ, &sz) == -1) {
		error = -errno;
		snprintf(err, errlen, "tap %s: %s", ifname, strerror(errno));
		close(fd);
		return error;
	}
	return fd;
}
