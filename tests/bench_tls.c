/*
 * bench_tls.c: benchmark of vmmd's TLS listener (prints figures and
 * ratios; not a timed test).  The PKI is made by vmmd's pki code: ECDSA
 * P-256 keys, the server's certificate with SANs localhost and 127.0.0.1.
 *
 *   a) Mutual-TLS handshakes per second: one client opens a connection,
 *	completes a full handshake with its certificate (no resumption),
 *	sends one line and waits for the answer, closes, and again, for a
 *	fixed time; against vmmd (the line is daemon.version) and against
 *	`openssl s_server -Verify 1 -rev` with the same certificate, key and
 *	CA (the line comes back reversed).  The round trip makes both
 *	servers finish the handshake, whose TLS 1.3 client side ends before
 *	the server has checked the client's certificate.  Target: vmmd at
 *	least 80% of s_server.
 *   b) vm.info requests per second over one TLS connection, pipelined
 *	(64 in flight, the window topped up in one record), target at least
 *	15000 a second; and one at a time (each waits for its answer), with
 *	the same over the read-write UNIX socket as the peer: one at a time
 *	measures the loopback's round trip on this host more than vmmd.
 *
 * Usage: bench_tls [seconds]	(default 5, per handshake measurement)
 *
 * Exit status: 0 when the benchmark ran (whatever the verdicts) or cannot
 * run (no /dev/kvm, no openssl: the reason is printed).
 */

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "pki.h"
#include "vmmdtest.h"
#include "vmtest.h"

#define B_SECONDS_DEF		5
#define B_TARGET_HS_RATIO	0.80
#define B_TARGET_INFO		15000.0
#define B_INFO_N		50000
#define B_PIPELINE		64

static struct vd *b_vd;
static int b_port;			/* vmmd's tls-listen */
static pid_t b_server = -1;
static char b_pki[64];

static const char *
b_verdict(bool met)
{
	return met ? "met" : "MISSED";
}

static double
b_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
b_cleanup(void)
{
	if (b_server > 0) {
		kill(b_server, SIGTERM);
		waitpid(b_server, NULL, 0);
	}
	if (b_vd != NULL)
		vd_teardown(NULL);
	b_vd = NULL;
}

static SSL_CTX *
b_ctx(void)
{
	char cert[96], key[96], ca[96];
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	snprintf(cert, sizeof(cert), "%s/admin.pem", b_pki);
	snprintf(key, sizeof(key), "%s/admin.key", b_pki);
	snprintf(ca, sizeof(ca), "%s/ca.pem", b_pki);
	if (ctx == NULL || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 ||
	    SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		fprintf(stderr, "bench_tls: client context failed\n");
		exit(1);
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
}

/* Connect, handshake; NULL on failure (refused: the server not ready). */
static SSL *
b_connect(SSL_CTX *ctx, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd, one = 1;
	SSL *ssl;

	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sin,
	    sizeof(sin)) == -1) {
		if (fd != -1)
			close(fd);
		return NULL;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1) {
		ERR_clear_error();
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	return ssl;
}

static void
b_close(SSL *ssl)
{
	int fd = SSL_get_fd(ssl);

	SSL_free(ssl);
	close(fd);
}

/* Send line, read until a newline.  0, or -1. */
static int
b_round_trip(SSL *ssl, const char *line)
{
	char buf[4096];
	int n;

	if (SSL_write(ssl, line, (int)strlen(line)) <= 0)
		return -1;
	do {
		if ((n = SSL_read(ssl, buf, sizeof(buf))) <= 0)
			return -1;
	} while (memchr(buf, '\n', (size_t)n) == NULL);
	return 0;
}

/* Handshakes per second against port for secs seconds. */
static double
b_handshakes(SSL_CTX *ctx, int port, const char *line, double secs,
    const char *what)
{
	double t0 = b_now(), t;
	unsigned long n = 0, fail = 0;
	SSL *ssl;

	do {
		if ((ssl = b_connect(ctx, port)) == NULL ||
		    b_round_trip(ssl, line) != 0)
			fail++;
		else
			n++;
		if (ssl != NULL)
			b_close(ssl);
		t = b_now() - t0;
	} while (t < secs);
	printf("  %-34s %8.0f handshakes/s (%lu in %.1f s%s)\n", what,
	    (double)n / t, n, t, fail > 0 ? ", with failures" : "");
	if (fail > 0)
		printf("  %-34s %lu failed\n", "", fail);
	return (double)n / t;
}

/* openssl s_server on port with vmmd's certificate, key and CA. */
static void
b_s_server(int port)
{
	char p[16], cert[96], key[96], ca[96];
	SSL_CTX *ctx;
	SSL *ssl;
	int i;

	snprintf(p, sizeof(p), "%d", port);
	snprintf(cert, sizeof(cert), "%s/server.pem", b_pki);
	snprintf(key, sizeof(key), "%s/server.key", b_pki);
	snprintf(ca, sizeof(ca), "%s/ca.pem", b_pki);
	fflush(stdout);
	if ((b_server = fork()) == 0) {
		(void)freopen("/dev/null", "w", stdout);
		(void)freopen("/dev/null", "w", stderr);
		execlp("openssl", "openssl", "s_server", "-accept", p,
		    "-cert", cert, "-key", key, "-CAfile", ca, "-Verify", "1",
		    "-verify_return_error", "-rev", "-quiet", "-no_ticket",
		    (char *)NULL);
		_exit(127);
	}
	ctx = b_ctx();
	for (i = 0; i < 200; i++) {	/* until it listens */
		if ((ssl = b_connect(ctx, port)) != NULL) {
			b_close(ssl);
			break;
		}
		usleep(20000);
	}
	SSL_CTX_free(ctx);
}

static void
bench_handshakes(double secs)
{
	const char *req = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	    "\"daemon.version\"}\n";
	int sport = vd_free_port();
	double ours, peer;
	SSL_CTX *ctx = b_ctx();

	printf("a) mutual-TLS handshakes (ECDSA P-256, full, one client, "
	    "one round trip each)\n");
	b_s_server(sport);
	peer = b_handshakes(ctx, sport, req, secs, "openssl s_server -rev");
	ours = b_handshakes(ctx, b_port, req, secs, "vmmd");
	printf("  ratio vmmd / s_server: %.2f (target >= %.2f: %s)\n\n",
	    ours / peer, B_TARGET_HS_RATIO,
	    b_verdict(ours / peer >= B_TARGET_HS_RATIO));
	SSL_CTX_free(ctx);
}

static void
bench_info(void)
{
	const char *req = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	    "\"vm.info\",\"params\":{\"name\":\"b1\"}}\n";
	size_t len = strlen(req), sent = 0, got = 0, k;
	char buf[65536], many[B_PIPELINE * 128];
	double t0, seq, pipe, unix_seq;
	struct vc c;
	SSL_CTX *ctx = b_ctx();
	SSL *ssl;
	int i, n, j;

	printf("b) vm.info over one TLS connection\n");
	ssl = b_connect(ctx, b_port);
	if (ssl == NULL) {
		fprintf(stderr, "bench_tls: cannot connect to vmmd\n");
		exit(1);
	}
	t0 = b_now();
	for (i = 0; i < B_INFO_N / 5; i++)
		if (b_round_trip(ssl, req) != 0)
			exit(1);
	seq = (double)(B_INFO_N / 5) / (b_now() - t0);
	vc_connect(&c, b_vd->rw);
	t0 = b_now();
	for (i = 0; i < B_INFO_N / 5; i++) {
		vc_send(&c, req, len);
		json_decref(vc_next(&c, VD_TIMEOUT_MS));
	}
	unix_seq = (double)(B_INFO_N / 5) / (b_now() - t0);
	vc_close(&c);
	for (i = 0; i < B_PIPELINE; i++)
		memcpy(many + (size_t)i * len, req, len);
	t0 = b_now();
	while (got < B_INFO_N) {
		/* Top the window up in one record. */
		k = B_PIPELINE - (sent - got);
		if (k > B_INFO_N - sent)
			k = B_INFO_N - sent;
		if (k > 0 && SSL_write(ssl, many, (int)(k * len)) <= 0)
			exit(1);
		sent += k;
		if ((n = SSL_read(ssl, buf, sizeof(buf))) <= 0)
			exit(1);
		for (j = 0; j < n; j++)
			got += buf[j] == '\n';
	}
	pipe = (double)B_INFO_N / (b_now() - t0);
	printf("  %d in flight:   %8.0f requests/s (target >= %.0f: %s)\n",
	    B_PIPELINE, pipe, B_TARGET_INFO, b_verdict(pipe >= B_TARGET_INFO));
	printf("  one at a time:  %8.0f round trips/s; the same over the "
	    "UNIX socket %.0f/s (ratio %.2f)\n", seq, unix_seq,
	    seq / unix_seq);
	b_close(ssl);
	SSL_CTX_free(ctx);
}

int
main(int argc, char **argv)
{
	static const char *const san[] = { "localhost", "127.0.0.1" };
	struct pki_opts o = { .san = san, .nsan = 2 };
	double secs = B_SECONDS_DEF;
	char extra[1024], err[256];
	const char *why;
	struct vc c;

	if (argc > 2 || (argc == 2 && (secs = atof(argv[1])) <= 0)) {
		fprintf(stderr, "usage: bench_tls [seconds]\n");
		return 2;
	}
	if (!vmtest_have_kvm(&why)) {
		printf("bench_tls: skipped: %s\n", why);
		return 0;
	}
	if (system("openssl version >/dev/null 2>&1") != 0) {
		printf("bench_tls: skipped: no openssl program\n");
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	atexit(b_cleanup);
	b_vd = vd_prepare(NULL);
	snprintf(b_pki, sizeof(b_pki), "%s/pki", b_vd->dir);
	if (pki_init(b_pki, &o, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_tls: pki: %s\n", err);
		return 1;
	}
	b_port = vd_free_port();
	snprintf(extra, sizeof(extra), "tls-listen \"127.0.0.1:%d\"\n"
	    "tls-certificate \"%s/server.pem\"\ntls-key \"%s/server.key\"\n"
	    "tls-ca \"%s/ca.pem\"\ntls-role admin ou \"admin\"\n", b_port,
	    b_pki, b_pki, b_pki);
	vd_append_conf(b_vd, extra);
	vd_spawn(b_vd);
	vc_connect(&c, b_vd->rw);
	(void)vd_define(&c, vd_def("b1", "hello", NULL));
	vc_close(&c);
	printf("bench_tls: vmmd pid %d, %s\n\n", (int)b_vd->pid,
	    OpenSSL_version(OPENSSL_VERSION));
	bench_handshakes(secs);
	bench_info();
	vd_passed(b_vd);
	return 0;
}
