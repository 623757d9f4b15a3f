/*
 * workertest.h: run the real vmm-worker binary from a test.  A definition
 * (JSON text) is written to a private temporary directory, which also
 * serves as the worker's run directory; the worker's console (its stdout)
 * and log (its stderr) are collected.
 */

#ifndef WORKERTEST_H
#define WORKERTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#ifndef BUILD_DIR
#define BUILD_DIR "build"
#endif

#define WT_WORKER	BUILD_DIR "/vmm-worker"
#define WT_GUEST(name)	BUILD_DIR "/tests/guests/" name ".bin"
#define WT_GUEST_ELF(name) BUILD_DIR "/tests/guests/" name ".elf"
#define WT_ARGV_MAX	32

struct wt_proc {
	pid_t pid;
	char dir[64];		/* the temporary run directory */
	char def_path[96];	/* dir/def.json */
	int out_fd, err_fd;	/* read ends of stdout, stderr */

	/* Filled by wt_wait / wt_collect. */
	int status;		/* exit status, or 128 + signal */
	bool exited;
	char *console;		/* NUL-terminated, owned */
	size_t console_len;
	char *log;		/* NUL-terminated, owned */
	size_t log_len;
};

/*
 * Start vmm-worker with "-r dir" and "-S" (no sandbox: tests run as any
 * user), the extra arguments (NULL-terminated, may be NULL), and the
 * definition file as last argument.  json is the definition text.  The
 * worker runs in its own session.  Returns 0 or -1 (the test failed with
 * a message).
 */
int	wt_spawn(struct wt_proc *p, const char *json, const char *const *extra);

/* Like wt_spawn but with the exact argv (argv[0] is replaced). */
int	wt_spawn_argv(struct wt_proc *p, const char *json,
	    const char *const *argv);

/*
 * Wait up to timeout_ms for the worker to exit while collecting output.
 * Returns 0 when it exited (p->status set), -1 on timeout (it is still
 * running).
 */
int	wt_wait(struct wt_proc *p, unsigned int timeout_ms);

/*
 * Read what is available on the console until needle appears or
 * timeout_ms passes: true if it appeared.
 */
bool	wt_console_wait(struct wt_proc *p, const char *needle,
	    unsigned int timeout_ms);

/* SIGKILL if still running, reap, close, remove the directory, free. */
void	wt_cleanup(struct wt_proc *p);

/* Spawn, wait (failing the test on timeout) and return the status. */
int	wt_run(struct wt_proc *p, const char *json, unsigned int timeout_ms);

/*
 * Skip the current test with the reason printed unless /dev/kvm is usable
 * (vmtest_require_kvm) and the worker binary WT_WORKER has been built.
 */
void	wt_require_worker(void);

/* Fail the test with p's console and log when cond is false. */
#define WT_CHECK(p, cond) do {						\
	if (!(cond))							\
		fail_msg("%s\n--- console:\n%s\n--- log:\n%s", #cond,	\
		    (p)->console ? (p)->console : "",			\
		    (p)->log ? (p)->log : "");				\
} while (0)

/* The control socket path of a uuid under p's run directory. */
void	wt_sock_path(const struct wt_proc *p, const char *uuid, char *buf,
	    size_t len);

/*
 * Append what is readable on the non-blocking fd to *buf (realloc'd, kept
 * NUL-terminated; *len bytes without the NUL); false at end of file.
 */
bool	wt_drain(int fd, char **buf, size_t *len);

#endif /* WORKERTEST_H */
