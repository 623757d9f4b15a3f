/*
 * log.c: vmmd's log.  One line per message: on stderr in the foreground
 * (vmmd -d), else to syslog with the daemon facility.  The level comes from
 * vmmd.conf's log-level.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "vmmd.h"

static bool log_foreground = true;
static enum config_log_level log_max = CONFIG_LOG_INFO;

void
vmmd_log_init(bool foreground, enum config_log_level level)
{
	log_foreground = foreground;
	log_max = level;
	if (!foreground)
		openlog("vmmd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
vmmd_log_level(enum config_log_level level)
{
	log_max = level;
}

static void
log_vput(enum config_log_level level, int prio, int errnum, const char *fmt,
    va_list ap)
{
	char msg[1024];

	if (level > log_max)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_foreground && errnum != 0)
		fprintf(stderr, "vmmd: %s: %s\n", msg, strerror(errnum));
	else if (log_foreground)
		fprintf(stderr, "vmmd: %s\n", msg);
	else if (errnum != 0)
		syslog(prio, "%s: %s", msg, strerror(errnum));
	else
		syslog(prio, "%s", msg);
}

/* The four levels are one function each; the bodies differ in two values. */
#define LOG_FN(fn, level, prio, with_errno)				\
void									\
fn(const char *fmt, ...)						\
{									\
	int errnum = (with_errno) ? errno : 0;				\
	va_list ap;							\
									\
	va_start(ap, fmt);						\
	log_vput(level, prio, errnum, fmt, ap);				\
	va_end(ap);							\
}

LOG_FN(vmmd_warn, CONFIG_LOG_WARN, LOG_WARNING, true)
LOG_FN(vmmd_warnx, CONFIG_LOG_WARN, LOG_WARNING, false)
LOG_FN(vmmd_info, CONFIG_LOG_INFO, LOG_INFO, false)
LOG_FN(vmmd_debug, CONFIG_LOG_DEBUG, LOG_DEBUG, false)

void
vmmd_fatal(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vput(CONFIG_LOG_WARN, LOG_CRIT, errnum, fmt, ap);
	va_end(ap);
	exit(1);
}

void
vmmd_fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vput(CONFIG_LOG_WARN, LOG_CRIT, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

int64_t
vmmd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
