/*
 * main.c: vmmd, the daemon that keeps VM definitions and runs each VM in
 * its own vmm-worker.  Start-up in order: configuration, the hypervisor
 * device (opened for write: the root view), the state directory and its
 * database, the listeners, then (in the background unless -d) the
 * supervisor's adoption of running workers and autostart.  SIGTERM and
 * SIGINT stop the daemon (VMs keep running unless stop-vms-on-exit);
 * SIGHUP reloads what can change at run time.  See vmmd(8).
 *
 *	vmmd [-dnv] [-f file] [--state-dir dir]
 *	vmmd pki init|issue|revoke|fingerprint ...	(pki.c)
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "events.h"
#include "metrics.h"
#include "pki.h"
#include "server.h"
#include "sup.h"

#define MAIN_DB_NAME	"vmmd.db"
#define MAIN_LOCK_NAME	"vmmd.lock"
#define MAIN_PID_NAME	"vmmd.pid"

struct main_opts {
	const char *config;	/* NULL: CONFIG_PATH_DEFAULT, if it exists */
	const char *state_dir;
	bool foreground;
	bool check_only;
	bool verbose;
};

static struct vmmd main_d;
static uv_signal_t main_sigs[3];
static bool main_stopping;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: vmmd [-dnv] [-f file] [--state-dir dir]\n"
	    "       vmmd pki init|issue|revoke|fingerprint ...\n");
	exit(2);
}

static void
main_parse_args(int argc, char **argv, struct main_opts *o)
{
	static const struct option longopts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	memset(o, 0, sizeof(*o));
	while ((ch = getopt_long(argc, argv, "df:nv", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			o->foreground = true;
			break;
		case 'f':
			o->config = optarg;
			break;
		case 'n':
			o->check_only = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 's':
			o->state_dir = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
}

/*
 * The configuration: the file given, else the default one when it
 * exists, else the defaults.  Every problem is printed; exits on any.
 */
static void
main_config(const struct main_opts *o, struct config *cfg)
{
	struct config_errors errs = { NULL, 0 };
	const char *path = o->config;
	size_t i;
	int rc;

	if (path == NULL && access(CONFIG_PATH_DEFAULT, F_OK) == 0)
		path = CONFIG_PATH_DEFAULT;
	if (path == NULL)
		config_defaults(cfg);
	else if ((rc = config_load(path, cfg, &errs)) != 0) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "vmmd: %s\n", errs.v[i].msg);
		if (errs.n == 0)
			fprintf(stderr, "vmmd: %s: %s\n", path, strerror(-rc));
		config_errors_free(&errs);
		exit(1);
	}
	config_errors_free(&errs);
	if (o->state_dir != NULL) {
		if (o->state_dir[0] != '/' ||
		    strlen(o->state_dir) > CONFIG_PATH_MAX) {
			fprintf(stderr, "vmmd: --state-dir %s: must be an "
			    "absolute path of at most %d bytes\n",
			    o->state_dir, CONFIG_PATH_MAX);
			exit(1);
		}
		snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%s",
		    o->state_dir);
	}
	if (o->verbose)
		cfg->log_level = CONFIG_LOG_DEBUG;
}

/* The hypervisor device, opened for write: every machine's root view. */
static void
main_device(struct vmmd *d)
{
	if (nvmm_root_init() == -1)
		vmmd_fatal("cannot open the hypervisor device for write "
		    "(/dev/nvmm, else /dev/kvm)");
	if (nvmm_capability(&d->cap) == -1)
		vmmd_fatal("cannot read the hypervisor's capabilities");
	d->backend = access("/dev/nvmm", F_OK) == 0 ? "nvmm" : "kvm";
	vmmd_info("hypervisor: %s, NVMM API version %u, at most %u vcpus "
	    "per machine", d->backend, d->cap.version, d->cap.max_vcpus);
}

static void
main_mkdir(const char *path, mode_t mode)
{
	if (mkdir(path, mode) == -1 && errno != EEXIST)
		vmmd_fatal("%s", path);
}

/*
 * The state directory: created if missing, locked (one vmmd per
 * directory), and the database in it.
 */
static void
main_state(struct vmmd *d)
{
	char path[CONFIG_PATH_MAX + 32], err[256];
	int fd, rc;

	main_mkdir(d->cfg.state_dir, 0700);
	main_mkdir(d->cfg.run_dir, 0755);
	snprintf(path, sizeof(path), "%s/%s", d->cfg.state_dir,
	    MAIN_LOCK_NAME);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) == -1)
		vmmd_fatal("%s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) == -1)
		vmmd_fatalx("%s: another vmmd is using this state directory",
		    d->cfg.state_dir);
	/* fd stays open (and locked) for the life of the process. */
	snprintf(path, sizeof(path), "%s/%s", d->cfg.state_dir, MAIN_DB_NAME);
	if ((rc = db_open(path, &d->db, err, sizeof(err))) != 0)
		vmmd_fatalx("%s", err);
}

/* Into the background: the parent returns 0 once the child is on its own. */
static void
main_daemonize(struct vmmd *d)
{
	pid_t pid;
	int fd;

	if ((pid = fork()) == -1)
		vmmd_fatal("fork");
	if (pid > 0)
		_exit(0);
	(void)setsid();
	if (chdir("/") == -1)
		vmmd_fatal("chdir /");
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		(void)dup2(fd, STDIN_FILENO);
		(void)dup2(fd, STDOUT_FILENO);
		(void)dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	if (uv_loop_fork(d->loop) != 0)
		vmmd_fatalx("event loop: cannot reinitialize after fork");
}

static void
main_pidfile(const struct vmmd *d)
{
	char path[CONFIG_PATH_MAX + 32];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", d->cfg.run_dir, MAIN_PID_NAME);
	if ((fp = fopen(path, "we")) == NULL) {
		vmmd_warn("%s", path);
		return;
	}
	fprintf(fp, "%d\n", (int)getpid());
	fclose(fp);
}

static void
main_pidfile_remove(const struct vmmd *d)
{
	char path[CONFIG_PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/%s", d->cfg.run_dir, MAIN_PID_NAME);
	(void)unlink(path);
}

static void
main_stopped(void *arg)
{
	int i;

	for (i = 0; i < 3; i++)
		uv_close((uv_handle_t *)&main_sigs[i], NULL);
}

static void
main_events_down(void *arg)
{
	struct vmmd *d = arg;

	server_stop(d, main_stopped, d);
}

static void
main_sup_down(void *arg)
{
	struct vmmd *d = arg;

	events_shutdown(d, main_events_down, d);
}

/* SIGHUP: what can change at run time does; the rest needs a restart. */
static void
main_reload(struct vmmd *d, const char *path)
{
	struct config_errors errs = { NULL, 0 };
	struct config cfg;
	char err[256];
	size_t i;

	if (config_load(path, &cfg, &errs) != 0) {
		for (i = 0; i < errs.n; i++)
			vmmd_warnx("reload: %s", errs.v[i].msg);
		vmmd_warnx("reload: %s has errors; nothing changed", path);
		config_errors_free(&errs);
		return;
	}
	config_errors_free(&errs);
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s",
	    d->cfg.state_dir);
	if (strcmp(cfg.socket, d->cfg.socket) != 0 ||
	    strcmp(cfg.readonly_socket, d->cfg.readonly_socket) != 0 ||
	    strcmp(cfg.run_dir, d->cfg.run_dir) != 0 ||
	    cfg.socket_mode != d->cfg.socket_mode ||
	    strcmp(cfg.socket_group, d->cfg.socket_group) != 0 ||
	    strcmp(cfg.tls_listen, d->cfg.tls_listen) != 0 ||
	    strcmp(cfg.metrics_listen, d->cfg.metrics_listen) != 0)
		vmmd_warnx("reload: sockets, listen addresses and directories "
		    "change only with a restart; they are kept");
	memcpy(cfg.tls_listen, d->cfg.tls_listen, sizeof(cfg.tls_listen));
	memcpy(cfg.metrics_listen, d->cfg.metrics_listen,
	    sizeof(cfg.metrics_listen));
	memcpy(cfg.socket, d->cfg.socket, sizeof(cfg.socket));
	memcpy(cfg.readonly_socket, d->cfg.readonly_socket,
	    sizeof(cfg.readonly_socket));
	memcpy(cfg.run_dir, d->cfg.run_dir, sizeof(cfg.run_dir));
	memcpy(cfg.socket_group, d->cfg.socket_group,
	    sizeof(cfg.socket_group));
	cfg.socket_mode = d->cfg.socket_mode;
	d->cfg = cfg;
	vmmd_log_level(cfg.log_level);
	/* Certificates, CRL and roles, for the connections to come. */
	if (server_reload_tls(d, err, sizeof(err)) != 0)
		vmmd_warnx("reload: %s; new TLS clients still get the previous "
		    "certificates and roles", err);
	vmmd_info("reload: %s applied", path);
}

static const char *main_config_path;

static void
main_signal(uv_signal_t *s, int signo)
{
	struct vmmd *d = s->data;

	if (signo == SIGHUP) {
		if (main_config_path != NULL)
			main_reload(d, main_config_path);
		else
			vmmd_info("SIGHUP: no configuration file to reload");
		return;
	}
	if (main_stopping) {
		vmmd_info("signal %d: already stopping", signo);
		return;
	}
	main_stopping = true;
	vmmd_info("signal %d: stopping%s", signo, d->cfg.stop_vms_on_exit ?
	    " the VMs, then the daemon" : "; the VMs keep running");
	sup_shutdown(d->sup, main_sup_down, d);
}

static void
main_signals(struct vmmd *d)
{
	static const int sigs[3] = { SIGTERM, SIGINT, SIGHUP };
	int i;

	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < 3; i++) {
		uv_signal_init(d->loop, &main_sigs[i]);
		main_sigs[i].data = d;
		uv_signal_start(&main_sigs[i], main_signal, sigs[i]);
	}
}

int
main(int argc, char **argv)
{
	struct vmmd *d = &main_d;
	struct main_opts o;
	char err[512];
	int rc;

	/* The PKI tool needs no configuration, device nor state. */
	if (argc > 1 && strcmp(argv[1], "pki") == 0)
		return pki_main(argc - 1, argv + 1);
	main_parse_args(argc, argv, &o);
	main_config(&o, &d->cfg);
	if (o.check_only) {
		if (o.verbose)
			config_print(&d->cfg, stdout);
		else
			printf("configuration OK\n");
		return 0;
	}
	main_config_path = o.config != NULL ? o.config :
	    access(CONFIG_PATH_DEFAULT, F_OK) == 0 ? CONFIG_PATH_DEFAULT : NULL;
	vmmd_log_init(true, d->cfg.log_level);
	d->started_ms = vmmd_now_ms();
	d->loop = uv_default_loop();
	main_device(d);
	main_state(d);
	if (methods_init(d) != 0 || (d->metrics = metrics_new()) == NULL ||
	    sup_init(d) != 0 || events_init(d) != 0)
		vmmd_fatalx("out of memory");
	if ((rc = server_start(d, err, sizeof(err))) != 0)
		vmmd_fatalx("%s", err);
	if (!o.foreground) {
		main_daemonize(d);
		vmmd_log_init(false, d->cfg.log_level);
	}
	main_pidfile(d);
	main_signals(d);
	if ((rc = sup_start_all(d->sup)) != 0)
		vmmd_fatalx("adopting the running VMs: %s", strerror(-rc));
	vmmd_info("vmmd %s ready (state %s)", VMMD_VERSION, d->cfg.state_dir);
	uv_run(d->loop, UV_RUN_DEFAULT);

	vmmd_info("stopped");
	main_pidfile_remove(d);
	sup_free(d->sup);
	server_free(d);
	events_free(d);
	methods_free(d);
	metrics_free(d->metrics);
	db_close(d->db);
	return 0;
}
