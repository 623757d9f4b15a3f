/*
 * vmmdtest.h: run the real vmmd, vmmctl and vmm-worker from a test.  Each
 * daemon gets a private temporary directory holding its configuration,
 * its sockets, its state and run directories and its log (its stderr);
 * a raw JSON-RPC client talks to its sockets, vmmctl runs against it, and
 * the clean-up kills the daemon and every worker it started.
 *
 * Failures end the cmocka test (fail_msg); the teardown, vd_teardown,
 * prints the daemon's log unless the test called vd_passed.
 */

#ifndef VMMDTEST_H
#define VMMDTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#ifndef BUILD_DIR
#define BUILD_DIR "build"
#endif

#ifndef VD_VMMD
#define VD_VMMD		BUILD_DIR "/vmmd"
#endif
#ifndef VD_VMMCTL
#define VD_VMMCTL	BUILD_DIR "/vmmctl"
#endif
#define VD_WORKER	BUILD_DIR "/vmm-worker"
#define VD_GUEST(name)	BUILD_DIR "/tests/guests/" name ".bin"

#define VD_TIMEOUT_MS	20000	/* for anything the daemon does */
#define VD_PATH_MAX	128

/* One daemon and its directory. */
struct vd {
	char dir[32];			/* /tmp/vmmdt.XXXXXX */
	char conf[VD_PATH_MAX];		/* dir/vmmd.conf */
	char rw[VD_PATH_MAX];		/* dir/rw.sock */
	char ro[VD_PATH_MAX];		/* dir/ro.sock */
	char state[VD_PATH_MAX];	/* dir/state */
	char run[VD_PATH_MAX];		/* dir/run */
	char log[VD_PATH_MAX];		/* dir/vmmd.log: vmmd's stderr */
	char db[VD_PATH_MAX];		/* dir/state/vmmd.db */
	pid_t pid;			/* vmmd, -1 when not running */
	int status;			/* its last exit status, 128 + signal */
	bool passed;			/* the test reached its end */
};

/*
 * Make the directory and the configuration (the sockets, directories,
 * worker and users of the harness, then the lines of extra, which may be
 * NULL; a "log-level" in extra replaces the harness's "info"), start
 * vmmd and wait until it answers.  Skips the test when /dev/kvm is not
 * usable.  The daemon is the test's until vd_teardown.
 */
struct vd *vd_start(const char *extra);

/* The same without starting vmmd (d->pid is -1). */
struct vd *vd_prepare(const char *extra);

/* Append lines to d's configuration (before vd_spawn). */
void	vd_append_conf(struct vd *d, const char *text);

/* Start vmmd -d -f d->conf on d's directory and wait until it answers. */
void	vd_spawn(struct vd *d);

/*
 * Send sig to vmmd and wait for it to exit (SIGKILL and a failure after
 * VD_TIMEOUT_MS).  Returns its status (128 + signal when killed).
 */
int	vd_signal(struct vd *d, int sig);

/* The test succeeded: vd_teardown need not print the log. */
void	vd_passed(struct vd *d);

/*
 * cmocka teardown: after a test that passed, SIGTERM must end vmmd with
 * status 0 and no sanitizer report in its log (else the teardown fails);
 * then vmmd and every worker are killed and the directory removed.
 */
int	vd_teardown(void **state);

/* vmmd's log so far, NUL-terminated, owned by the caller. */
char	*vd_log(const struct vd *d);

/* The pids of the vmm-worker processes started under d's directory. */
size_t	vd_workers(const struct vd *d, pid_t *pids, size_t max);

/* Write text to dir/name; the path goes to path (VD_PATH_MAX bytes). */
void	vd_write_file(const struct vd *d, const char *name, const char *text,
	    char *path);

/*
 * Programs.  vd_exec runs argv (argv[0] a path) with extra environment
 * entries ("K=V", NULL-terminated, may be NULL), stdin /dev/null, and
 * collects its output; it fails the test after timeout_ms.  vd_ctl runs
 * vmmctl connected to d's read-write socket (VMM_CONNECT) with the
 * arguments after d (NULL-terminated).
 */
struct vd_out {
	int status;		/* exit status, or 128 + signal */
	char *out;		/* stdout, NUL-terminated */
	char *err;		/* stderr, NUL-terminated */
	size_t out_len, err_len;
};

void	vd_exec(struct vd_out *o, const char *const *argv,
	    const char *const *env, unsigned int timeout_ms);
void	vd_ctl(const struct vd *d, struct vd_out *o, ...)
	    __attribute__((sentinel));
void	vd_out_free(struct vd_out *o);

/*
 * A raw JSON-RPC client on one connection.  Notifications that arrive
 * while a response is awaited are kept in notes, in order.
 */
struct vc {
	int fd;
	struct ssl_st *ssl;	/* vc_open_tls: TLS on fd, else NULL */
	char *buf;		/* input not yet split into lines */
	size_t len, cap;
	json_t *notes;		/* an array */
	json_int_t next_id;
	bool eof;		/* the daemon closed the connection */
	char alert[64];		/* TLS: the alert that ended it, if any */
};

/* Connect; 0 or a negative errno. */
int	vc_open(struct vc *c, const char *path);
/* Connect or fail the test. */
void	vc_connect(struct vc *c, const char *path);

/*
 * Connect over TLS to 127.0.0.1:port with the client certificate cert
 * and key (NULL: none), checking the server against the CA in ca and the
 * name "localhost".  Returns 0, or -EPROTO when the handshake failed,
 * with OpenSSL's reason in why (why may be NULL).  With TLS 1.3 the
 * server's verdict on the certificate comes after the handshake: a
 * refusal shows as the first read's EOF, with the alert in c->alert.
 */
int	vc_open_tls(struct vc *c, int port, const char *cert, const char *key,
	    const char *ca, char *why, size_t whylen);
void	vc_connect_tls(struct vc *c, int port, const char *cert,
	    const char *key, const char *ca);

/* A TCP port nobody listens on now, for a tls-listen line. */
int	vd_free_port(void);
void	vc_close(struct vc *c);		/* accepts a closed one */

/* Send len raw bytes (no newline is added). */
void	vc_send(struct vc *c, const char *text, size_t len);
/* Send a line: text and "\n". */
void	vc_send_line(struct vc *c, const char *text);

/*
 * The next message, parsed; NULL when nothing came within timeout_ms or
 * the daemon closed the connection (c->eof).  A line that is not JSON
 * fails the test.
 */
json_t	*vc_next(struct vc *c, int timeout_ms);

/* The next message that is not a notification (those go to notes). */
json_t	*vc_response(struct vc *c, int timeout_ms);

/* Wait up to timeout_ms for the daemon to close: true if it did. */
bool	vc_wait_eof(struct vc *c, int timeout_ms);

/*
 * Call method with params (stolen, NULL: none) and return the whole
 * response, which must carry the request's id (VD_TIMEOUT_MS).
 */
json_t	*vc_call(struct vc *c, const char *method, json_t *params);

/* The result of a call that must succeed (a new reference; null too). */
json_t	*vc_result(struct vc *c, const char *method, json_t *params);

/*
 * A call that must fail: its error.code; *error (if not NULL) gets the
 * error object, a new reference.
 */
int	vc_error(struct vc *c, const char *method, json_t *params,
	    json_t **error);

/* A member of an object as a string or integer (fails when absent). */
const char *vd_str(const json_t *o, const char *key);
json_int_t vd_int(const json_t *o, const char *key);
/* Compact JSON for messages; a static buffer. */
const char *vd_dump(const json_t *v);
/* got must equal the JSON text want (else the test fails, showing both). */
void	vd_expect_json(const json_t *got, const char *want);

/*
 * VMs.  vd_def builds a definition of a test guest (tests/guests/GUEST,
 * with the load address, mode and memory it needs) named name, with the
 * members of the JSON object text extra (NULL: none) merged over it.
 */
json_t	*vd_def(const char *name, const char *guest, const char *extra);

/* vm.define the definition (stolen); returns the uuid (static buffer). */
const char *vd_define(struct vc *c, json_t *def);

/* vm.info of name (a new reference). */
json_t	*vd_info(struct vc *c, const char *name);

/*
 * Poll vm.info until the state is state (and, when pid_not is not 0, the
 * pid differs from it); returns the info.  Fails after timeout_ms.
 */
json_t	*vd_wait_state(struct vc *c, const char *name, const char *state,
	    json_int_t pid_not, int timeout_ms);

/*
 * vm.console_log of name, decoded and NUL-terminated (the caller frees);
 * its length in *len and the guest's total in *total (either may be NULL).
 */
char	*vd_console(struct vc *c, const char *name, size_t *len,
	    json_int_t *total);

/* Poll vd_console until needle appears in it; fails after timeout_ms. */
char	*vd_console_wait(struct vc *c, const char *name, const char *needle,
	    int timeout_ms);

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t	vd_now_ms(void);
void	vd_sleep_ms(unsigned int ms);

#endif /* VMMDTEST_H */
