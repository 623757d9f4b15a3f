/*
 * console.c: the guest's serial console.  Output from the UART (on vcpu
 * threads) goes to the console descriptor at once, without ever blocking
 * on it, and into a ring; the control socket's watchers pull it from the
 * ring on the main thread at their own pace (control.h).  Host input goes
 * the other way, to the function the UART registered.
 *
 * Locking: c->lock guards the ring, the counters, the descriptor and
 * wake_pending; it is held only for copies and one non-blocking write, and
 * nothing is called under it but write(2) and the log.  The watcher list
 * and the input function belong to the main thread.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control.h"
#include "worker.h"

struct console {
	struct vm *vm;

	pthread_mutex_t lock;
	uint8_t *ring;
	size_t cap;			/* ring size, >= scrollback */
	size_t scrollback;
	uint64_t total;			/* stream offset of the next byte */
	uint64_t out_dropped;
	int out_fd;			/* -1: no console descriptor */
	bool out_owned;			/* out_fd is our own description */
	bool out_gone;			/* out_fd failed and was given up */
	bool wake_pending;		/* a console_wake is queued */

	_Atomic unsigned int nwatch;	/* watchers, read by vcpu threads */
	TAILQ_HEAD(, console_watch) watchers;	/* main thread */

	void (*input)(void *dev, const uint8_t *buf, size_t len);
	void *input_dev;
};

/*
 * Choose how to write to fd without blocking and, where possible, without
 * changing the parent's open file description: a regular file or block
 * device never blocks for long and is written as it is; a pipe, FIFO or
 * terminal is opened again through /proc/self/fd as a non-blocking
 * description of our own.  A socket (which cannot be opened again) or a
 * failed reopen gets O_NONBLOCK on the shared description.  Only write(2)
 * is used afterwards (the sandbox's allowlist); SIGPIPE is ignored by
 * main.c, so a reader that went away is EPIPE.
 */
static int
console_open_out(struct console *c, int fd)
{
	struct stat st;
	char path[64];
	int nfd, fl;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == -1)
		return -errno;
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
		c->out_fd = fd;
		return 0;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		nfd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		if (nfd != -1) {
			c->out_fd = nfd;
			c->out_owned = true;
			return 0;
		}
	}
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return -errno;
	c->out_fd = fd;
	return 0;
}

int
console_create(struct vm *vm, int out_fd, size_t scrollback)
{
	struct console *c;
	int error;

	if (scrollback > VMDEF_SCROLLBACK_MAX)
		return -EINVAL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -ENOMEM;
	c->vm = vm;
	c->out_fd = -1;
	c->scrollback = scrollback;
	c->cap = scrollback > CONSOLE_RING_MIN ? scrollback : CONSOLE_RING_MIN;
	TAILQ_INIT(&c->watchers);
	if ((c->ring = malloc(c->cap)) == NULL) {
		error = -ENOMEM;
		goto fail_ring;
	}
	if ((error = console_open_out(c, out_fd)) != 0)
		goto fail_out;
	pthread_mutex_init(&c->lock, NULL);
	vm->console = c;
	return 0;

fail_out:
	free(c->ring);
fail_ring:
	free(c);
	return error;
}

/* Teardown, once the loop has stopped and no vcpu thread runs.  NULL ok. */
void
console_destroy(struct console *c)
{
	if (c == NULL)
		return;
	if (c->out_owned)
		close(c->out_fd);
	pthread_mutex_destroy(&c->lock);
	free(c->ring);
	free(c);
}

void
console_set_input(struct console *c,
    void (*fn)(void *dev, const uint8_t *buf, size_t len), void *dev)
{
	c->input = fn;
	c->input_dev = dev;
}

int
console_input(struct console *c, const uint8_t *buf, size_t len)
{
	if (c->input == NULL)
		return -ENODEV;
	if (len > 0)
		c->input(c->input_dev, buf, len);
	return 0;
}

/* Append to the ring (lock held); only the last cap bytes can stay. */
static void
console_ring_put(struct console *c, const uint8_t *p, size_t len)
{
	size_t off, n;

	if (len > c->cap) {
		c->total += len - c->cap;
		p += len - c->cap;
		len = c->cap;
	}
	while (len > 0) {
		off = (size_t)(c->total % c->cap);
		n = c->cap - off < len ? c->cap - off : len;
		memcpy(c->ring + off, p, n);
		c->total += n;
		p += n;
		len -= n;
	}
}

/* Copy stream bytes [pos, pos + len), all in the ring (lock held). */
static void
console_ring_get(const struct console *c, uint64_t pos, uint8_t *p,
    size_t len)
{
	size_t off, n;

	while (len > 0) {
		off = (size_t)(pos % c->cap);
		n = c->cap - off < len ? c->cap - off : len;
		memcpy(p, c->ring + off, n);
		pos += n;
		p += n;
		len -= n;
	}
}

/*
 * Write to the console descriptor (lock held).  What it does not take at
 * once is dropped and counted: a console reader that stalls must not stall
 * the guest.  A reader that went away (EPIPE) or any other error ends the
 * descriptor's use for good, and from then on all output counts as
 * dropped.  Without a descriptor nothing is.
 */
static void
console_out_write(struct console *c, const uint8_t *p, size_t len)
{
	ssize_t n;

	if (c->out_fd == -1 && !c->out_gone)
		return;
	while (len > 0 && c->out_fd != -1) {
		n = write(c->out_fd, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		log_warn("console output stopped");
		if (c->out_owned)
			close(c->out_fd);
		c->out_fd = -1;
		c->out_gone = true;
	}
	c->out_dropped += len;
}

/* Main thread: the deferred call queued by console_output. */
static void
console_wake(void *arg)
{
	struct console *c = arg;

	pthread_mutex_lock(&c->lock);
	c->wake_pending = false;
	pthread_mutex_unlock(&c->lock);
	console_notify(c);
}

void
console_output(struct console *c, const void *buf, size_t len)
{
	bool wake;

	if (c == NULL || len == 0)
		return;
	pthread_mutex_lock(&c->lock);
	console_ring_put(c, buf, len);
	console_out_write(c, buf, len);
	wake = !c->wake_pending && atomic_load(&c->nwatch) > 0;
	if (wake)
		c->wake_pending = true;
	pthread_mutex_unlock(&c->lock);

	/* One queued wake-up at a time: it reads everything there is. */
	if (wake && vm_defer(c->vm, console_wake, c) != 0) {
		pthread_mutex_lock(&c->lock);
		c->wake_pending = false;
		pthread_mutex_unlock(&c->lock);
	}
}

void
console_notify(struct console *c)
{
	struct console_watch *w, *next;

	/* A ready function may unwatch its own watcher, never another. */
	for (w = TAILQ_FIRST(&c->watchers); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		w->ready(w);
	}
}

void
console_watch(struct console *c, struct console_watch *w, bool replay)
{
	uint64_t kept;

	pthread_mutex_lock(&c->lock);
	kept = c->total < c->scrollback ? c->total : c->scrollback;
	w->pos = replay ? c->total - kept : c->total;
	pthread_mutex_unlock(&c->lock);
	TAILQ_INSERT_TAIL(&c->watchers, w, entry);
	atomic_fetch_add(&c->nwatch, 1);
}

void
console_unwatch(struct console *c, struct console_watch *w)
{
	TAILQ_REMOVE(&c->watchers, w, entry);
	atomic_fetch_sub(&c->nwatch, 1);
}

size_t
console_read(struct console *c, uint64_t *pos, void *buf, size_t len,
    uint64_t *lost)
{
	uint64_t oldest;
	size_t n;

	pthread_mutex_lock(&c->lock);
	oldest = c->total > c->cap ? c->total - c->cap : 0;
	*lost = 0;
	if (*pos < oldest) {
		*lost = oldest - *pos;
		*pos = oldest;
	}
	if (*pos > c->total)
		*pos = c->total;
	n = c->total - *pos < len ? (size_t)(c->total - *pos) : len;
	console_ring_get(c, *pos, buf, n);
	*pos += n;
	pthread_mutex_unlock(&c->lock);
	return n;
}

size_t
console_scrollback(struct console *c, void *buf, size_t len, uint64_t *end)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = len < c->scrollback ? len : c->scrollback;
	if (c->total < n)
		n = (size_t)c->total;
	console_ring_get(c, c->total - n, buf, n);
	*end = c->total;
	pthread_mutex_unlock(&c->lock);
	return n;
}

void
console_get_stats(struct console *c, struct console_stats *st)
{
	pthread_mutex_lock(&c->lock);
	st->total = c->total;
	st->out_dropped = c->out_dropped;
	st->scrollback = c->scrollback;
	pthread_mutex_unlock(&c->lock);
}
