/*
 * config.h: vmmd.conf, vmmd's configuration file (vmmd.conf(5)): the
 * control sockets, the state and run directories, the worker and the
 * limits that keep one client from starving the others.
 *
 * Conventions.  Functions return 0 or a negative errno.  A parse reports
 * every problem, one error per problem in line order, each a line
 * "FILE:LINE: reason" ready for the log or stderr; the caller owns the
 * list and frees it with config_errors_free.  The library never prints.
 */

#ifndef VMMD_CONFIG_H
#define VMMD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "rpc.h"

#ifndef CONFIG_PATH_DEFAULT
#define CONFIG_PATH_DEFAULT	"/etc/vmmd.conf"
#endif
#ifndef CONFIG_WORKER_DEFAULT
#define CONFIG_WORKER_DEFAULT	"/usr/local/libexec/vmm-worker"
#endif

#define CONFIG_LINE_MAX		1024	/* bytes in a line, without '\n' */
#define CONFIG_FILE_MAX		(1024 * 1024)	/* bytes in the file */
#define CONFIG_ERRORS_MAX	100	/* reported, then one notice */
/*
 * Bytes in a path: the longest keyword of a path (state-dir), a blank,
 * two quotes and the path fit in a line, so that config_print's output
 * parses again.  Paths hold no quote nor backslash, which would be
 * escaped.
 */
#define CONFIG_PATH_MAX		1000
#define CONFIG_SOCKET_MAX	107	/* sizeof(sun_path) - 1 */
#define CONFIG_NAME_MAX		32	/* bytes in a user or group name */
/* "HOST:PORT", "[V6ADDR]:PORT" or "*:PORT": a DNS name and a port. */
#define CONFIG_LISTEN_MAX	262
#define CONFIG_ROLES_MAX	64	/* tls-role lines */
#define CONFIG_PATTERN_MAX	128	/* bytes in a tls-role pattern */

/*
 * The log levels, least verbose first.  X(NAME, "name"): the value
 * CONFIG_LOG_NAME and its spelling in the file.
 */
#define CONFIG_LOG_MAP(X)					\
	X(WARN, "warn")						\
	X(INFO, "info")						\
	X(DEBUG, "debug")

enum config_log_level {
#define CONFIG_X(NAME, name)	CONFIG_LOG_##NAME,
	CONFIG_LOG_MAP(CONFIG_X)
#undef CONFIG_X
	CONFIG_LOG_COUNT
};

/* "info" etc.; NULL for a value outside the enum. */
const char *config_log_level_name(enum config_log_level level);

/*
 * What a tls-role line matches in a client certificate: its SHA-256
 * fingerprint ("SHA256:" and 32 upper-case hex pairs joined by ':'), or
 * an fnmatch(3) pattern against its subject's CN or OU.
 */
#define CONFIG_MATCH_MAP(X)					\
	X(FINGERPRINT, "fingerprint")				\
	X(CN, "cn")						\
	X(OU, "ou")

enum config_match {
#define CONFIG_X(NAME, name)	CONFIG_MATCH_##NAME,
	CONFIG_MATCH_MAP(CONFIG_X)
#undef CONFIG_X
	CONFIG_MATCH_COUNT
};

/* "fingerprint" etc.; NULL for a value outside the enum. */
const char *config_match_name(enum config_match match);

/* One tls-role line: certificates that match get role. */
struct config_role {
	enum rpc_role role;
	enum config_match match;
	char pattern[CONFIG_PATTERN_MAX + 1];
};

/*
 * The effective configuration.  Strings are held in the struct (no
 * allocation), always terminated; paths are absolute.  The read-only
 * socket's mode is not configurable: it is always 0666.
 */
struct config {
	char socket[CONFIG_SOCKET_MAX + 1];	/* read-write socket */
	unsigned int socket_mode;		/* its mode, no o+w */
	char socket_group[CONFIG_NAME_MAX + 1];	/* its group */
	char readonly_socket[CONFIG_SOCKET_MAX + 1];
	char state_dir[CONFIG_PATH_MAX + 1];	/* the database */
	char run_dir[CONFIG_PATH_MAX + 1];	/* worker sockets */
	char worker[CONFIG_PATH_MAX + 1];	/* vmm-worker binary */
	char worker_user[CONFIG_NAME_MAX + 1];
	unsigned int max_clients;		/* connections at once */
	unsigned int max_inflight;		/* requests per client */
	unsigned int max_message;		/* bytes per JSON text */
	unsigned int idle_timeout;		/* seconds, 0: none */
	unsigned int handshake_timeout;		/* seconds */
	unsigned int console_buffer;		/* bytes per console client */
	bool stop_vms_on_exit;
	enum config_log_level log_level;
	/* Remote access; an empty string is "not set". */
	char tls_listen[CONFIG_LISTEN_MAX + 1];	/* "": no TLS listener */
	char tls_certificate[CONFIG_PATH_MAX + 1];
	char tls_key[CONFIG_PATH_MAX + 1];
	char tls_ca[CONFIG_PATH_MAX + 1];
	char tls_crl[CONFIG_PATH_MAX + 1];	/* "": no revocation list */
	char metrics_listen[CONFIG_LISTEN_MAX + 1];	/* "": none */
	/* In file order: the first that matches a certificate decides. */
	struct config_role roles[CONFIG_ROLES_MAX];
	unsigned int nroles;
	unsigned int event_retention;		/* events kept */
};

/*
 * Split a listen address ("HOST:PORT", "[ADDR]:PORT", "*:PORT") into host
 * (NULL for "*") and port.  Returns 0, or -EINVAL.
 */
int	config_listen_split(const char *text, char *host, size_t hostlen,
	    unsigned int *port);

/* One problem: its line (0: the whole file) and "FILE:LINE: reason". */
struct config_error {
	unsigned int line;
	char *msg;
};

struct config_errors {
	struct config_error *v;
	size_t n;
};

/* Fill *cfg with the documented defaults (vmmd.conf(5)). */
void	config_defaults(struct config *cfg);

/*
 * Read and check the file at path.  *cfg is always set: the defaults,
 * overlaid with every line that was valid; use it only when 0 is
 * returned.  Returns 0 with no errors; -EINVAL with one error or more in
 * errs; -ENOMEM; or another negative errno when the file cannot be read
 * (larger than CONFIG_FILE_MAX: -EFBIG), with one error "FILE: reason".
 * errs must be released with config_errors_free whatever the result.
 */
int	config_load(const char *path, struct config *cfg,
	    struct config_errors *errs);

/*
 * As config_load, for the len bytes of text (not necessarily terminated)
 * read from a file called name, the name used in the errors.
 */
int	config_parse(const char *name, const char *text, size_t len,
	    struct config *cfg, struct config_errors *errs);

/*
 * Write every setting of cfg to fp, one "key value" line each in the
 * file's syntax, so that parsing the output gives cfg back.  Returns 0,
 * or a negative errno when writing failed.
 */
int	config_print(const struct config *cfg, FILE *fp);

/* Whether a and b hold the same settings. */
bool	config_equal(const struct config *a, const struct config *b);

/*
 * Release what cfg owns and reset it to the defaults; accepts NULL.  It
 * owns nothing today: callers call it anyway, so that a setting that
 * needs memory can be added without visiting them.
 */
void	config_free(struct config *cfg);

/* Release the errors and zero *errs; accepts NULL and a zeroed list. */
void	config_errors_free(struct config_errors *errs);

#endif /* VMMD_CONFIG_H */
