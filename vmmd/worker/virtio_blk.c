/*
 * virtio_blk.c: a virtio block device (virtio 1.2 section 5.2) on a raw
 * image descriptor: read, write (refused on a read-only disk), flush and
 * the device id.  Requests are served synchronously on the vcpu thread
 * that notified the queue, with the device lock held.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fs.h>

#include "virtio.h"

#define VBLK_QUEUE_MAX		256
#define VBLK_SECTOR		512
#define VBLK_ID_BYTES		20	/* VIRTIO_BLK_ID_BYTES */
/* One transfer at most: what a single preadv/pwritev moves on Linux. */
#define VBLK_XFER_MAX		0x7FFFF000ULL

/* Feature bits (5.2.3). */
#define VIRTIO_BLK_F_SEG_MAX	2
#define VIRTIO_BLK_F_RO		5
#define VIRTIO_BLK_F_BLK_SIZE	6
#define VIRTIO_BLK_F_FLUSH	9

/* Request types and status values (5.2.6). */
#define VIRTIO_BLK_T_IN		0
#define VIRTIO_BLK_T_OUT	1
#define VIRTIO_BLK_T_FLUSH	4
#define VIRTIO_BLK_T_GET_ID	8

#define VIRTIO_BLK_S_OK		0
#define VIRTIO_BLK_S_IOERR	1
#define VIRTIO_BLK_S_UNSUPP	2

/* The request header, at the start of the device-readable part. */
struct vblk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

/* The configuration layout up to blk_size and topology (5.2.4). */
struct vblk_config {
	uint64_t capacity;
	uint32_t size_max;
	uint32_t seg_max;
	uint16_t cylinders;
	uint8_t heads;
	uint8_t sectors;
	uint32_t blk_size;
	uint8_t physical_block_exp;
	uint8_t alignment_offset;
	uint16_t min_io_size;
	uint32_t opt_io_size;
} __attribute__((packed));

_Static_assert(sizeof(struct vblk_config) == 32, "virtio_blk_config");

struct vblk {
	struct virtio_dev *vd;
	int fd;
	bool ro;
	uint64_t capacity;		/* sectors */
	char id[VBLK_ID_BYTES];		/* zero-padded serial */
	struct vblk_config config;
	struct iovec iov[VBLK_QUEUE_MAX];
};

/*
 * One request: the data part (the readable part after the header for
 * writes, the writable part before the status byte otherwise) and what
 * the handler wrote into the writable part.
 */
struct vblk_req {
	const struct virtq_chain *c;
	struct vblk_hdr hdr;
	uint64_t data_len;
	uint32_t written;
};

/*
 * Check a read or write against the disk: whole sectors, inside the
 * capacity.  0 or a status byte.
 */
static int
vblk_check_range(struct vblk *b, const struct vblk_req *r)
{
	uint64_t nsect = r->data_len / VBLK_SECTOR;

	if (r->data_len % VBLK_SECTOR != 0 || r->data_len > VBLK_XFER_MAX) {
		virtio_warn(b->vd, "request of %llu bytes: not whole sectors "
		    "or more than %llu", (unsigned long long)r->data_len,
		    VBLK_XFER_MAX);
		return VIRTIO_BLK_S_IOERR;
	}
	if (r->hdr.sector > b->capacity ||
	    nsect > b->capacity - r->hdr.sector) {
		virtio_warn(b->vd, "sectors [%llu, +%llu) beyond the capacity "
		    "of %llu", (unsigned long long)r->hdr.sector,
		    (unsigned long long)nsect,
		    (unsigned long long)b->capacity);
		return VIRTIO_BLK_S_IOERR;
	}
	return VIRTIO_BLK_S_OK;
}

/* preadv/pwritev of the whole request, or IOERR (a short transfer too). */
static int
vblk_transfer(struct vblk *b, struct vblk_req *r, bool write)
{
	off_t off = (off_t)(r->hdr.sector * VBLK_SECTOR);
	ssize_t n;
	int niov;

	niov = virtq_chain_iov(r->c, !write, write ? sizeof(r->hdr) : 0,
	    r->data_len, b->iov, VBLK_QUEUE_MAX);
	if (niov < 0)
		return VIRTIO_BLK_S_IOERR;
	if (niov == 0)
		return VIRTIO_BLK_S_OK;
	do {
		n = write ? pwritev(b->fd, b->iov, niov, off) :
		    preadv(b->fd, b->iov, niov, off);
	} while (n == -1 && errno == EINTR);
	if (n == -1) {
		virtio_warn(b->vd, "%s at sector %llu: %s", write ? "write" :
		    "read", (unsigned long long)r->hdr.sector,
		    strerror(errno));
		return VIRTIO_BLK_S_IOERR;
	}
	if ((uint64_t)n != r->data_len) {
		virtio_warn(b->vd, "short %s at sector %llu: %zd of %llu bytes",
		    write ? "write" : "read",
		    (unsigned long long)r->hdr.sector, n,
		    (unsigned long long)r->data_len);
		return VIRTIO_BLK_S_IOERR;
	}
	if (!write)
		r->written = (uint32_t)r->data_len;
	return VIRTIO_BLK_S_OK;
}

static int
vblk_in(struct vblk *b, struct vblk_req *r)
{
	int status;

	if ((status = vblk_check_range(b, r)) != VIRTIO_BLK_S_OK)
		return status;
	return vblk_transfer(b, r, false);
}

static int
vblk_out(struct vblk *b, struct vblk_req *r)
{
	int status;

	if (b->ro)
		return VIRTIO_BLK_S_IOERR;
	if ((status = vblk_check_range(b, r)) != VIRTIO_BLK_S_OK)
		return status;
	return vblk_transfer(b, r, true);
}

static int
vblk_flush(struct vblk *b, struct vblk_req *r)
{
	if (b->ro)
		return VIRTIO_BLK_S_OK;
	if (fdatasync(b->fd) == -1) {
		virtio_warn(b->vd, "flush: %s", strerror(errno));
		return VIRTIO_BLK_S_IOERR;
	}
	return VIRTIO_BLK_S_OK;
}

/* The id: up to 20 bytes, no NUL when all 20 are used (5.2.6). */
static int
vblk_get_id(struct vblk *b, struct vblk_req *r)
{
	size_t n = r->data_len < VBLK_ID_BYTES ? (size_t)r->data_len :
	    VBLK_ID_BYTES;

	r->written = (uint32_t)virtq_chain_write(r->c, 0, b->id, n);
	return VIRTIO_BLK_S_OK;
}

static const struct {
	uint32_t type;
	bool writes_guest;	/* the data is in the writable part */
	int (*fn)(struct vblk *, struct vblk_req *);
} vblk_types[] = {
	{ VIRTIO_BLK_T_IN, true, vblk_in },
	{ VIRTIO_BLK_T_OUT, false, vblk_out },
	{ VIRTIO_BLK_T_FLUSH, true, vblk_flush },
	{ VIRTIO_BLK_T_GET_ID, true, vblk_get_id },
};

/*
 * Serve one chain: header in the readable part, status as the last byte
 * of the writable part.  A chain without room for the status cannot be
 * answered; it is given back untouched.
 */
static void
vblk_request(struct vblk *b, struct virtq *q, const struct virtq_chain *c)
{
	struct vblk_req r = { .c = c };
	uint8_t status = VIRTIO_BLK_S_UNSUPP;
	size_t i;

	if (c->wlen == 0) {
		virtio_warn(b->vd, "request %u has no status byte", c->head);
		virtq_push(q, c->head, 0);
		return;
	}
	if (virtq_chain_read(c, 0, &r.hdr, sizeof(r.hdr)) != sizeof(r.hdr)) {
		virtio_warn(b->vd, "request %u: header of %llu bytes", c->head,
		    (unsigned long long)c->rlen);
		status = VIRTIO_BLK_S_IOERR;
		goto done;
	}
	for (i = 0; i < sizeof(vblk_types) / sizeof(vblk_types[0]); i++) {
		if (vblk_types[i].type != r.hdr.type)
			continue;
		r.data_len = vblk_types[i].writes_guest ? c->wlen - 1 :
		    c->rlen - sizeof(r.hdr);
		status = (uint8_t)vblk_types[i].fn(b, &r);
		break;
	}
done:
	if (status != VIRTIO_BLK_S_OK)
		r.written = 0;
	virtq_chain_write(c, c->wlen - 1, &status, 1);
	virtq_push(q, c->head, r.written + 1);
}

/* virtio_dev_ops.notify: serve everything available, then interrupt. */
static void
vblk_notify(void *arg, unsigned int qi)
{
	struct vblk *b = arg;
	struct virtq *q = virtio_queue(b->vd, qi);
	struct virtq_chain c;

	while (virtq_pop(q, &c) == 1)
		vblk_request(b, q, &c);
	virtq_notify(q);
}

static void
vblk_destroy(void *arg)
{
	struct vblk *b = arg;

	if (b->fd != -1)
		close(b->fd);
	free(b);
}

static const struct virtio_dev_ops vblk_ops = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.features = VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |
	    VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH),
	.nqueues = 1,
	.queue_max = VBLK_QUEUE_MAX,
	.notify = vblk_notify,
	.destroy = vblk_destroy,
};

static const struct virtio_dev_ops vblk_ro_ops = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.features = VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |
	    VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) |
	    VIRTIO_BIT(VIRTIO_BLK_F_RO),
	.nqueues = 1,
	.queue_max = VBLK_QUEUE_MAX,
	.notify = vblk_notify,
	.destroy = vblk_destroy,
};

/* The image size in bytes: a regular file or a block device. */
static int
vblk_size(int fd, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st) == -1)
		return -errno;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, size) == -1 ? -errno : 0;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	*size = (uint64_t)st.st_size;
	return 0;
}

/*
 * A read-only disk only needs to be readable; a writable one must be
 * opened for writing (else every write would fail late, as IOERR).
 */
static int
vblk_check_mode(int fd, bool ro)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1)
		return -errno;
	if ((fl & O_ACCMODE) == O_WRONLY)
		return -EBADF;
	if (!ro && (fl & O_ACCMODE) != O_RDWR)
		return -EROFS;
	return 0;
}

/*
 * Create the device for disk on fd.  On success the device owns fd (it is
 * closed at teardown); on failure the caller keeps it.  0 or -errno.
 */
int
virtio_blk_create(struct vm *vm, const struct vmdef_disk *disk, int fd)
{
	struct vblk *b;
	uint64_t size;
	int error;

	if ((error = vblk_check_mode(fd, disk->readonly)) != 0)
		return error;
	if ((error = vblk_size(fd, &size)) != 0)
		return error;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return -ENOMEM;
	b->fd = -1;
	b->ro = disk->readonly;
	b->capacity = size / VBLK_SECTOR;
	if (disk->serial != NULL)
		memcpy(b->id, disk->serial, strnlen(disk->serial,
		    sizeof(b->id)));
	b->config.capacity = b->capacity;
	b->config.seg_max = VBLK_QUEUE_MAX - 2;	/* header and status */
	b->config.blk_size = VBLK_SECTOR;
	error = virtio_mmio_create(vm, b->ro ? &vblk_ro_ops : &vblk_ops, b,
	    &b->config, sizeof(b->config), &b->vd);
	if (error != 0) {
		free(b);
		return error;
	}
	b->fd = fd;	/* owned by the device now */
	log_debug("virtio-blk@0x%llx: irq %u, %llu sectors%s",
	    (unsigned long long)virtio_base(b->vd), virtio_irq(b->vd),
	    (unsigned long long)b->capacity, b->ro ? ", read-only" : "");
	return 0;
}
