/*
 * log.c: the worker's log, one line per message on stderr, which vmmd
 * connects to its log.  Lines carry the VM's tag so that a shared log
 * stays readable.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

static const char *log_tag = "vmm-worker";
static bool log_verbose;

static const struct {
	int status;
	const char *word;
} worker_exits[WORKER_EXIT_COUNT] = {
#define WORKER_EXIT_ROW(name, status, word) { status, word },
	WORKER_EXIT_MAP(WORKER_EXIT_ROW)
#undef WORKER_EXIT_ROW
};

int
worker_exit_status(enum worker_exit e)
{
	if ((unsigned int)e >= WORKER_EXIT_COUNT)
		return worker_exits[WORKER_EXIT_SOFTWARE].status;
	return worker_exits[e].status;
}

const char *
worker_exit_word(enum worker_exit e)
{
	if ((unsigned int)e >= WORKER_EXIT_COUNT)
		return "unknown";
	return worker_exits[e].word;
}

/* tag is kept by pointer: it must outlive the process's logging. */
void
log_init(const char *tag, bool verbose)
{
	if (tag != NULL)
		log_tag = tag;
	log_verbose = verbose;
}

static void
log_vput(const char *level, int errnum, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One fprintf per line, so lines from vcpu threads do not mix. */
	if (errnum != 0)
		fprintf(stderr, "%s: %s%s: %s\n", log_tag, level, msg,
		    strerror(errnum));
	else
		fprintf(stderr, "%s: %s%s\n", log_tag, level, msg);
}

void
log_warn(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vput("", errnum, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vput("", 0, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vput("", 0, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_vput("debug: ", 0, fmt, ap);
	va_end(ap);
}

void
fatalx(enum worker_exit e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vput("", 0, fmt, ap);
	va_end(ap);
	exit(worker_exit_status(e));
}
