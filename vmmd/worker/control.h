/*
 * control.h: what the control socket (control.c) needs from the console
 * (console.c) beyond worker.h: pulling guest output from the ring, being
 * told when there is more, the scrollback, host input and the counters.
 *
 * The console keeps every byte the guest wrote as a position in one
 * stream: byte n of the guest's output is at offset n.  The ring holds the
 * newest console_ring_size() bytes of that stream; console_log and a
 * replaying watcher see only the newest "scrollback" of them (the
 * definition's devices.console.scrollback, which may be 0).
 */

#ifndef CONTROL_H
#define CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "worker.h"

/*
 * The ring is at least this large, whatever the scrollback, so that a
 * watcher does not lose output that arrives between two wake-ups of the
 * main loop.
 */
#define CONSOLE_RING_MIN	(16 * 1024)

/*
 * A watcher of guest output.  The owner embeds it, sets ready and calls
 * console_watch; ready is called on the main thread when new output may
 * be there, and the owner pulls it with console_read(c, &w->pos, ...) at
 * its own pace.  A watcher that falls more than the ring behind is told
 * how many bytes it lost.
 */
struct console_watch {
	void (*ready)(struct console_watch *w);
	uint64_t pos;			/* stream offset of the next byte */
	TAILQ_ENTRY(console_watch) entry;
};

struct console_stats {
	uint64_t total;			/* bytes the guest wrote */
	uint64_t out_dropped;		/* the console fd did not take */
	size_t scrollback;		/* configured scrollback, bytes */
};

/*
 * Start watching (main thread).  With replay the watcher starts at the
 * oldest byte of the scrollback, else at the next byte the guest writes.
 * w stays owned by the caller and must be unwatched before it is freed.
 */
void	console_watch(struct console *c, struct console_watch *w, bool replay);
void	console_unwatch(struct console *c, struct console_watch *w);

/*
 * Copy up to len bytes of output from stream offset *pos into buf and
 * advance *pos; returns the number of bytes copied (0: nothing new).  If
 * *pos has already left the ring, *lost is set to the number of bytes
 * skipped and *pos moves to the oldest byte kept; else *lost is 0.  Any
 * thread.
 */
size_t	console_read(struct console *c, uint64_t *pos, void *buf, size_t len,
	    uint64_t *lost);

/*
 * The newest min(len, scrollback) bytes of output into buf; returns their
 * number and sets *end to the stream offset just past them (the total
 * written so far).  Any thread.
 */
size_t	console_scrollback(struct console *c, void *buf, size_t len,
	    uint64_t *end);

void	console_get_stats(struct console *c, struct console_stats *st);

/*
 * Host input for the guest, through the function given to
 * console_set_input (main thread).  0, or -ENODEV when no device takes
 * input.
 */
int	console_input(struct console *c, const uint8_t *buf, size_t len);

/*
 * Call every watcher's ready function now (main thread), so that output
 * written so far can be pulled.  console_output arranges this through
 * vm_defer; a caller that cannot wait for the loop calls it directly.
 */
void	console_notify(struct console *c);

#endif /* CONTROL_H */
