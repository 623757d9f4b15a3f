/*
 * test_tls.c: vmmd's TLS listener, roles per client certificate, the
 * event log for subscribers and the audit log, end to end: a real vmmd,
 * a real PKI made by vmmd's own pki code, clients over real TLS (ours,
 * and openssl s_client as an independent one).
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
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/ssl.h>

#include "pki.h"
#include "rpc.h"
#include "vmmdtest.h"

#define NCLIENTS	200

/* A daemon with a PKI: DIR/pki (ours) and DIR/other (an unknown CA). */
struct tt {
	struct vd *d;
	int port, mport;		/* tls-listen, metrics-listen */
	char pki[64], other[64];	/* under vd's dir (32 bytes) */
	char ca[80];
};

static struct tt tt;

/* DIR/NAME.pem and DIR/NAME.key of a client, into static buffers. */
static const char *
crt(const char *dir, const char *name)
{
	static char b[4][VD_PATH_MAX + 16];
	static int i;

	i = (i + 1) % 4;
	snprintf(b[i], sizeof(b[i]), "%s/%s.pem", dir, name);
	return b[i];
}

static const char *
key(const char *dir, const char *name)
{
	static char b[4][VD_PATH_MAX + 16];
	static int i;

	i = (i + 1) % 4;
	snprintf(b[i], sizeof(b[i]), "%s/%s.key", dir, name);
	return b[i];
}

static void
issue(const char *dir, const char *role, const char *name, time_t nb,
    time_t na)
{
	struct pki_opts o = { .not_before = nb, .not_after = na };
	char err[256];

	if (pki_issue(dir, role, name, &o, err, sizeof(err)) != 0)
		fail_msg("pki issue %s: %s", name, err);
}

/*
 * The fixture: our CA with admin, operator (op1), readonly (mapped by
 * fingerprint), ro2 (readonly, but no line maps it), an expired admin
 * (old), a revoked admin (gone); an unknown CA with its own admin.
 */
static int
setup(void **state)
{
	static const char *const san[] = { "localhost", "127.0.0.1" };
	struct pki_opts o = { .san = san, .nsan = 2 };
	char err[256], fp[PKI_FINGERPRINT_SIZE + 1], extra[2048];
	time_t now = time(NULL);
	bool already;
	struct vd *d;

	d = vd_prepare(NULL);
	snprintf(tt.pki, sizeof(tt.pki), "%s/pki", d->dir);
	snprintf(tt.other, sizeof(tt.other), "%s/other", d->dir);
	snprintf(tt.ca, sizeof(tt.ca), "%s/ca.pem", tt.pki);
	if (pki_init(tt.pki, &o, err, sizeof(err)) != 0 ||
	    pki_init(tt.other, &o, err, sizeof(err)) != 0)
		fail_msg("pki init: %s", err);
	issue(tt.pki, "operator", "op1", 0, 0);
	issue(tt.pki, "readonly", "ro2", 0, 0);
	issue(tt.pki, "admin", "old", now - 7200, now - 3600);
	issue(tt.pki, "admin", "gone", 0, 0);
	issue(tt.pki, "admin", "gone2", 0, 0);
	if (pki_revoke(tt.pki, "gone", &already, NULL, 0, err,
	    sizeof(err)) != 0)
		fail_msg("pki revoke: %s", err);
	if (pki_fingerprint_file(crt(tt.pki, "readonly"), fp, sizeof(fp),
	    err, sizeof(err)) != 0)
		fail_msg("fingerprint: %s", err);
	tt.port = vd_free_port();
	do
		tt.mport = vd_free_port();
	while (tt.mport == tt.port);
	snprintf(extra, sizeof(extra),
	    "metrics-listen \"127.0.0.1:%d\"\n"
	    "tls-listen \"127.0.0.1:%d\"\n"
	    "tls-certificate \"%s/server.pem\"\n"
	    "tls-key \"%s/server.key\"\n"
	    "tls-ca \"%s\"\n"
	    "tls-crl \"%s/crl.pem\"\n"
	    "tls-role admin ou \"admin\"\n"
	    "tls-role operator cn \"op*\"\n"
	    "tls-role readonly fingerprint \"%s\"\n"
	    "handshake-timeout 2\n"
	    "max-clients 300\n",
	    tt.mport, tt.port, tt.pki, tt.pki, tt.ca, tt.pki, fp);
	/* vd_prepare wrote the harness's lines; ours follow them. */
	vd_append_conf(d, extra);
	vd_spawn(d);
	tt.d = d;
	*state = d;
	return 0;
}

/* A client of ours with NAME's certificate that must get in. */
static void
tls_as(struct vc *c, const char *name)
{
	vc_connect_tls(c, tt.port, crt(tt.pki, name), key(tt.pki, name),
	    tt.ca);
}

/* The daemon still serves: a fresh admin client gets an answer. */
static void
assert_serving(void)
{
	struct vc c;
	json_t *r;

	tls_as(&c, "admin");
	r = vc_result(&c, "daemon.version", NULL);
	assert_string_equal(vd_str(r, "version"), "0.1.0");
	json_decref(r);
	vc_close(&c);
}

/* -------------------------------------------------------------------------- */

/*
 * Each role against every method, from proto's table: a denied call is
 * -32004 with the least role named; an allowed one is anything else.
 */
static void
test_roles_table(void **state)
{
	static const struct {
		const char *cert;
		enum rpc_role role;
	} who[] = {
		{ "readonly", RPC_ROLE_READONLY },
		{ "op1", RPC_ROLE_OPERATOR },
		{ "admin", RPC_ROLE_ADMIN },
	};
	const struct rpc_method *m;
	json_t *err, *r;
	struct vc c;
	size_t i, n = 0;
	int code;

	for (i = 0; i < sizeof(who) / sizeof(who[0]); i++) {
		tls_as(&c, who[i].cert);
		/* The role the daemon gives shows in what it lets through. */
		for (m = rpc_methods; m->name != NULL; m++, n++) {
			if (strcmp(m->name, "host.stop_all") == 0 ||
			    strcmp(m->name, "events.subscribe") == 0 ||
			    strcmp(m->name, "vm.console") == 0) {
				/* Valid without params: check the role only. */
				r = vc_call(&c, m->name, json_pack("{s:s}",
				    "bogus", "x"));
			} else {
				r = vc_call(&c, m->name, NULL);
			}
			err = json_object_get(r, "error");
			code = err != NULL ? (int)vd_int(err, "code") : 0;
			if (who[i].role < m->least_role) {
				if (code != RPC_E_PERMISSION_DENIED)
					fail_msg("%s as %s: %s", m->name,
					    who[i].cert, vd_dump(r));
				assert_string_equal(vd_str(json_object_get(
				    err, "data"), "required_role"),
				    rpc_role_name(m->least_role));
			} else if (code == RPC_E_PERMISSION_DENIED) {
				fail_msg("%s as %s: denied", m->name,
				    who[i].cert);
			}
			json_decref(r);
		}
		vc_close(&c);
	}
	print_message("%zu calls over TLS\n", n);
	vd_passed(*state);
}

/* A certificate no tls-role line maps: one -32004 line, then the end. */
static void
test_unmapped(void **state)
{
	struct vc c;
	json_t *m, *data;

	tls_as(&c, "ro2");
	vc_send_line(&c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	    "\"vm.list\"}");
	m = vc_next(&c, VD_TIMEOUT_MS);
	assert_non_null(m);
	assert_true(json_is_null(json_object_get(m, "id")));
	assert_int_equal(vd_int(json_object_get(m, "error"), "code"),
	    RPC_E_PERMISSION_DENIED);
	assert_string_equal(vd_str(json_object_get(m, "error"), "message"),
	    "no role for this certificate");
	data = json_object_get(json_object_get(m, "error"), "data");
	assert_string_equal(vd_str(data, "subject"), "CN=ro2,OU=readonly,O=vmm");
	assert_int_equal(strlen(vd_str(data, "fingerprint")), 7 + 95);
	json_decref(m);
	assert_true(vc_wait_eof(&c, VD_TIMEOUT_MS));
	vc_close(&c);
	assert_serving();
	vd_passed(*state);
}

/* What a refused handshake looks like to our client. */
static void
assert_refused(const char *cert, const char *keyf, const char *what)
{
	char why[128] = "";
	struct vc c;
	json_t *m;

	if (vc_open_tls(&c, tt.port, cert, keyf, tt.ca, why,
	    sizeof(why)) == 0) {
		/* TLS 1.3: the verdict arrives after the handshake. */
		vc_send_line(&c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
		    "\"daemon.version\"}");
		m = vc_next(&c, VD_TIMEOUT_MS);
		if (m != NULL)
			fail_msg("%s: answered %s", what, vd_dump(m));
		/* The alert, unless our write met the closed socket first. */
		snprintf(why, sizeof(why), "%s", c.alert[0] != '\0' ?
		    c.alert : "closed without an answer");
		assert_true(c.eof);
		vc_close(&c);
	}
	print_message("%s: refused (%s)\n", what, why);
	assert_serving();
}

static void
test_refused(void **state)
{
	struct vd *d = *state;
	char *log;

	assert_refused(crt(tt.other, "admin"), key(tt.other, "admin"),
	    "a certificate of another CA");
	assert_refused(crt(tt.pki, "old"), key(tt.pki, "old"),
	    "an expired certificate");
	assert_refused(crt(tt.pki, "gone"), key(tt.pki, "gone"),
	    "a revoked certificate");
	assert_refused(NULL, NULL, "no certificate");
	log = vd_log(d);
	assert_non_null(strstr(log, "client certificate: unable to get local "
	    "issuer certificate"));
	assert_non_null(strstr(log, "client certificate: certificate has "
	    "expired"));
	assert_non_null(strstr(log, "client certificate: certificate "
	    "revoked"));
	assert_non_null(strstr(log, "peer did not return a certificate"));
	free(log);
	vd_passed(d);
}

/* A revocation takes effect for new clients at SIGHUP. */
static void
test_revoke_reload(void **state)
{
	struct vd *d = *state;
	char err[256], *log;
	bool already;
	struct vc c;

	tls_as(&c, "gone2");
	vc_close(&c);
	if (pki_revoke(tt.pki, "gone2", &already, NULL, 0, err,
	    sizeof(err)) != 0)
		fail_msg("revoke: %s", err);
	assert_int_equal(kill(d->pid, SIGHUP), 0);
	vd_sleep_ms(300);
	assert_refused(crt(tt.pki, "gone2"), key(tt.pki, "gone2"),
	    "revoked, then SIGHUP");
	log = vd_log(d);
	assert_non_null(strstr(log, "client certificate: certificate "
	    "revoked"));
	free(log);
	vd_passed(d);
}

/* openssl s_client with args, the request on stdin; its stdout. */
static char *
s_client(const char *line, const char *const *args)
{
	char cmd[2048], port[16];
	const char *const *a;
	struct vd_out o;
	char *out;
	size_t n;

	snprintf(port, sizeof(port), "%d", tt.port);
	n = (size_t)snprintf(cmd, sizeof(cmd), "(echo '%s'; sleep 1) | "
	    "timeout 10 openssl s_client -connect 127.0.0.1:%s -quiet "
	    "-verify_return_error -CAfile %s", line, port, tt.ca);
	for (a = args; *a != NULL && n < sizeof(cmd); a++)
		n += (size_t)snprintf(cmd + n, sizeof(cmd) - n, " %s", *a);
	vd_exec(&o, (const char *const[]){ "/bin/sh", "-c", cmd, NULL },
	    NULL, 20000);
	out = strdup(o.out);
	vd_out_free(&o);
	return out;
}

/* openssl s_client, an independent client: answers, refusals, versions. */
static void
test_s_client(void **state)
{
	const char *req = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":"
	    "\"daemon.version\"}";
	char *out;

	out = s_client(req, (const char *const[]){ "-cert",
	    crt(tt.pki, "admin"), "-key", key(tt.pki, "admin"), NULL });
	assert_string_equal(out, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":"
	    "{\"version\":\"0.1.0\",\"api\":1}}\n");
	free(out);
	out = s_client(req, (const char *const[]){ "-tls1_2", "-cert",
	    crt(tt.pki, "readonly"), "-key", key(tt.pki, "readonly"), NULL });
	assert_non_null(strstr(out, "\"id\":7,\"result\""));
	free(out);
	out = s_client(req, (const char *const[]){ "-cert",
	    crt(tt.pki, "ro2"), "-key", key(tt.pki, "ro2"), NULL });
	assert_non_null(strstr(out, "\"id\":null,\"error\":{\"code\":-32004,"
	    "\"message\":\"no role for this certificate\""));
	free(out);
	/* TLS 1.1 and 1.0, even with every cipher allowed: no answer. */
	out = s_client(req, (const char *const[]){ "-tls1_1", "-cipher",
	    "DEFAULT@SECLEVEL=0", "-cert", crt(tt.pki, "admin"), "-key",
	    key(tt.pki, "admin"), NULL });
	assert_string_equal(out, "");
	free(out);
	out = s_client(req, (const char *const[]){ "-tls1", "-cipher",
	    "DEFAULT@SECLEVEL=0", "-cert", crt(tt.pki, "admin"), "-key",
	    key(tt.pki, "admin"), NULL });
	assert_string_equal(out, "");
	free(out);
	assert_serving();
	vd_passed(*state);
}

/* Plaintext JSON-RPC on the TLS port: no answer, the connection ends. */
static void
test_plaintext(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	const char *req = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	    "\"daemon.version\"}\n";
	char buf[256];
	ssize_t n;
	int fd;

	sin.sin_port = htons((uint16_t)tt.port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	n = read(fd, buf, sizeof(buf));
	/* Closed, at most with a TLS alert record (0x15), never JSON. */
	assert_true(n <= 0 || (unsigned char)buf[0] == 0x15);
	close(fd);
	assert_serving();
	vd_passed(*state);
}

/* 200 TLS clients at once, each answered. */
static void
test_many_clients(void **state)
{
	struct vc *c = calloc(NCLIENTS, sizeof(*c));
	json_t *r;
	int64_t t0 = vd_now_ms();
	int i;

	assert_non_null(c);
	for (i = 0; i < NCLIENTS; i++)
		tls_as(&c[i], i % 2 == 0 ? "readonly" : "op1");
	for (i = 0; i < NCLIENTS; i++)
		vc_send_line(&c[i], "{\"jsonrpc\":\"2.0\",\"id\":1,"
		    "\"method\":\"host.info\"}");
	for (i = 0; i < NCLIENTS; i++) {
		r = vc_response(&c[i], VD_TIMEOUT_MS);
		if (r == NULL)
			fail_msg("client %d: no answer", i);
		assert_true(vd_int(json_object_get(r, "result"), "clients") >=
		    NCLIENTS);
		json_decref(r);
	}
	print_message("%d TLS clients connected and answered in %lld ms\n",
	    NCLIENTS, (long long)(vd_now_ms() - t0));
	for (i = 0; i < NCLIENTS; i++)
		vc_close(&c[i]);
	free(c);
	vd_passed(*state);
}

/*
 * A client that sends its handshake a byte at a time and one that sends
 * nothing are both cut off at handshake-timeout (2 s), while others are
 * served at once meanwhile.
 */
static void
test_slow_handshakes(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	/* The start of a TLS ClientHello record. */
	static const unsigned char hello[] = { 0x16, 0x03, 0x01, 0x02, 0x00,
	    0x01, 0x00, 0x01, 0xfc, 0x03, 0x03 };
	int64_t t0, t;
	int slow, stalled, i;
	char buf[16];
	struct vc c;

	sin.sin_port = htons((uint16_t)tt.port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	slow = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	stalled = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(slow, (struct sockaddr *)&sin,
	    sizeof(sin)), 0);
	assert_int_equal(connect(stalled, (struct sockaddr *)&sin,
	    sizeof(sin)), 0);
	t0 = vd_now_ms();
	for (i = 0; i < (int)sizeof(hello); i++) {
		if (write(slow, &hello[i], 1) != 1)
			break;
		t = vd_now_ms();
		tls_as(&c, "admin");
		json_decref(vc_result(&c, "daemon.version", NULL));
		vc_close(&c);
		/* Served while the slow ones hang on. */
		assert_true(vd_now_ms() - t < 1000);
		vd_sleep_ms(150);
	}
	assert_int_equal(read(stalled, buf, sizeof(buf)), 0);
	assert_true(read(slow, buf, sizeof(buf)) <= 0);
	t = vd_now_ms() - t0;
	print_message("slow and stalled handshakes cut after %lld ms\n",
	    (long long)t);
	assert_true(t >= 1900 && t < 5000);
	close(slow);
	close(stalled);
	assert_serving();
	vd_passed(*state);
}

/* -------------------------------------------------------------------------- */
/* Events and audit. */

/* vmmctl over TLS with NAME's certificate; the arguments after name. */
static void
ctl_tls(struct vd_out *o, const char *name, ...)
{
	const char *argv[32];
	char uri[64];
	va_list ap;
	size_t n = 0;

	snprintf(uri, sizeof(uri), "tls://localhost:%d", tt.port);
	argv[n++] = VD_VMMCTL;
	argv[n++] = "--connect";
	argv[n++] = uri;
	argv[n++] = "--cert";
	argv[n++] = crt(tt.pki, name);
	argv[n++] = "--key";
	argv[n++] = key(tt.pki, name);
	argv[n++] = "--ca";
	argv[n++] = tt.ca;
	va_start(ap, name);
	while (n < 31 && (argv[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	vd_exec(o, argv, NULL, VD_TIMEOUT_MS);
}

static size_t
count_lines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* The next "event" notification of c (from its notes first). */
static json_t *
next_event(struct vc *c)
{
	json_t *m;

	if (json_array_size(c->notes) > 0) {
		m = json_incref(json_array_get(c->notes, 0));
		json_array_remove(c->notes, 0);
	} else if ((m = vc_next(c, VD_TIMEOUT_MS)) == NULL) {
		fail_msg("no event");
	}
	assert_string_equal(vd_str(m, "method"), "event");
	return m;
}

static void
define(struct vc *c, const char *name)
{
	(void)vd_define(c, vd_def(name, "hello", NULL));
}

/*
 * A subscriber sees each event once committed; one that comes back with
 * the seq of the last event it saw gets exactly what it missed.
 */
static void
test_event_replay(void **state)
{
	json_t *r, *ev, *p;
	json_int_t last = 0, seq;
	struct vc admin, sub;
	struct vd_out o;
	int i;

	tls_as(&admin, "admin");
	tls_as(&sub, "readonly");
	r = vc_result(&sub, "events.subscribe", json_pack("{s:s}", "kind",
	    "vm."));
	json_decref(r);
	define(&admin, "ev-a");
	define(&admin, "ev-b");
	for (i = 0; i < 2; i++) {
		ev = next_event(&sub);
		p = json_object_get(ev, "params");
		assert_string_equal(vd_str(p, "kind"), "vm.define");
		assert_non_null(strstr(vd_str(p, "who"), "CN=admin,OU=admin"));
		assert_string_equal(vd_str(json_object_get(p, "detail"),
		    "name"), i == 0 ? "ev-a" : "ev-b");
		last = vd_int(p, "seq");
		json_decref(ev);
	}
	vc_close(&sub);

	/* Missed while away. */
	define(&admin, "ev-c");
	json_decref(vc_result(&admin, "vm.undefine", json_pack("{s:s}",
	    "name", "ev-a")));
	define(&admin, "ev-d");

	tls_as(&sub, "readonly");
	r = vc_result(&sub, "events.subscribe", json_pack("{s:I,s:s}",
	    "after", last, "kind", "vm."));
	assert_int_equal(vd_int(r, "after"), last);
	assert_int_equal(vd_int(r, "missed"), 0);
	assert_int_equal(vd_int(r, "latest"), last + 3);
	json_decref(r);
	for (i = 0; i < 3; i++) {
		ev = next_event(&sub);
		p = json_object_get(ev, "params");
		seq = vd_int(p, "seq");
		assert_int_equal(seq, last + 1 + i);
		assert_string_equal(vd_str(p, "kind"), i == 1 ? "vm.undefine" :
		    "vm.define");
		json_decref(ev);
	}
	/* Nothing more, and live events keep coming. */
	assert_null(vc_next(&sub, 300));
	define(&admin, "ev-e");
	ev = next_event(&sub);
	assert_int_equal(vd_int(json_object_get(ev, "params"), "seq"),
	    last + 4);
	json_decref(ev);

	/* vmmctl events over TLS prints the same log, one line each. */
	ctl_tls(&o, "readonly", "events", "--kind", "vm.", NULL);
	assert_int_equal(o.status, 0);
	assert_int_equal(count_lines(o.out), 6);
	assert_non_null(strstr(o.out, " vm.undefine "));
	vd_out_free(&o);

	/* events.list pages the same log. */
	r = vc_result(&admin, "events.list", json_pack("{s:I,s:i}", "after",
	    last, "limit", 2));
	assert_int_equal(json_array_size(json_object_get(r, "events")), 2);
	assert_int_equal(vd_int(r, "last"), last + 2);
	json_decref(r);
	vc_close(&sub);
	vc_close(&admin);
	vd_passed(*state);
}

/* Audit: who did what and how it ended, over TLS and the UNIX socket. */
static void
test_audit(void **state)
{
	struct vd *d = *state;
	json_t *r, *recs, *a, *err = NULL;
	struct vc adm, ro, ux;
	struct vd_out o;
	size_t i, n;
	bool saw_define = false, saw_denied = false, saw_unix = false;

	tls_as(&adm, "admin");
	tls_as(&ro, "readonly");
	vc_connect(&ux, d->rw);
	define(&adm, "au-1");
	assert_int_equal(vc_error(&ro, "vm.start", json_pack("{s:s}", "name",
	    "au-1"), &err), RPC_E_PERMISSION_DENIED);
	json_decref(err);
	json_decref(vc_result(&ux, "vm.undefine", json_pack("{s:s}", "name",
	    "au-1")));
	/* Read-only callers cannot read the audit. */
	assert_int_equal(vc_error(&ro, "audit.list", NULL, NULL),
	    RPC_E_PERMISSION_DENIED);

	r = vc_result(&adm, "audit.list", json_pack("{s:i}", "limit", 1000));
	recs = json_object_get(r, "records");
	n = json_array_size(recs);
	for (i = 0; i < n; i++) {
		a = json_array_get(recs, i);
		if (strcmp(vd_str(a, "method"), "vm.define") == 0 &&
		    strcmp(vd_str(json_object_get(json_object_get(a, "params"),
		    "definition"), "name"), "au-1") == 0) {
			saw_define = true;
			assert_int_equal(vd_int(a, "code"), 0);
			assert_string_equal(vd_str(a, "result"), "ok");
			assert_string_equal(vd_str(a, "role"), "admin");
			assert_string_equal(vd_str(a, "subject"),
			    "CN=admin,OU=admin,O=vmm");
			assert_int_equal(strlen(vd_str(a, "fingerprint")),
			    7 + 95);
			assert_true(json_is_null(json_object_get(a, "uid")));
			/* The definition itself is not kept. */
			assert_int_equal(json_object_size(json_object_get(
			    json_object_get(a, "params"), "definition")), 1);
		}
		if (strcmp(vd_str(a, "method"), "vm.start") == 0 &&
		    vd_int(a, "code") == RPC_E_PERMISSION_DENIED) {
			saw_denied = true;
			assert_string_equal(vd_str(a, "role"), "readonly");
			assert_string_equal(vd_str(a, "result"), "vm.start "
			    "needs the operator role");
		}
		if (strcmp(vd_str(a, "method"), "vm.undefine") == 0 &&
		    json_is_integer(json_object_get(a, "uid"))) {
			saw_unix = true;
			assert_int_equal(vd_int(a, "uid"), (json_int_t)getuid());
			assert_true(json_is_null(json_object_get(a,
			    "fingerprint")));
		}
	}
	assert_true(saw_define && saw_denied && saw_unix);
	json_decref(r);
	ctl_tls(&o, "admin", "audit", NULL);
	assert_int_equal(o.status, 0);
	assert_non_null(strstr(o.out, " vm.start -32004 \"vm.start needs the "
	    "operator role\" readonly tls SHA256:"));
	vd_out_free(&o);
	ctl_tls(&o, "readonly", "audit", NULL);
	assert_int_equal(o.status, 1);
	assert_non_null(strstr(o.err, "audit.list needs the admin role"));
	vd_out_free(&o);
	vc_close(&adm);
	vc_close(&ro);
	vc_close(&ux);
	vd_passed(d);
}

/*
 * The sample monitoring agent (tests/monitor-agent, Python's standard
 * library only) with the read-only certificate: lists, follows events
 * from the start of the log, scrapes both ways, and cannot start a VM.
 */
static void
test_monitor_agent(void **state)
{
	char conn[32], metrics[32];
	struct vd_out o;
	struct vc adm;

	tls_as(&adm, "admin");
	define(&adm, "mon-1");
	define(&adm, "mon-2");
	vc_close(&adm);
	snprintf(conn, sizeof(conn), "localhost:%d", tt.port);
	snprintf(metrics, sizeof(metrics), "localhost:%d", tt.mport);
	vd_exec(&o, (const char *const[]){ SRC_DIR "/tests/monitor-agent",
	    "--connect", conn, "--metrics", metrics, "--cert",
	    crt(tt.pki, "readonly"), "--key", key(tt.pki, "readonly"),
	    "--ca", tt.ca, "--events", "2", NULL }, NULL, 30000);
	if (o.status != 0)
		fail_msg("monitor-agent: status %d: %s", o.status, o.err);
	print_message("%s", o.out);
	assert_non_null(strstr(o.out, "vm mon-1 defined\nvm mon-2 defined\n"));
	assert_non_null(strstr(o.out, " vm.define "));
	assert_non_null(strstr(o.out, "metrics https 200 "));
	assert_non_null(strstr(o.out, "denied vm.start -32004\n"));
	vd_out_free(&o);
	vd_passed(*state);
}

/* HTTPS /metrics: a role is needed; only GET /metrics is served. */
static void
test_metrics_https(void **state)
{
	char cmd[1024];
	struct vd_out o;

	snprintf(cmd, sizeof(cmd), "curl -sS -o /dev/null -w '%%{http_code} ' "
	    "--cacert %s --cert %s --key %s https://localhost:%d/metrics; "
	    "curl -sS -o /dev/null -w '%%{http_code} ' --cacert %s --cert %s "
	    "--key %s https://localhost:%d/metrics; "
	    "curl -sS -o /dev/null -w '%%{http_code} ' --cacert %s --cert %s "
	    "--key %s https://localhost:%d/other; "
	    "curl -sS -o /dev/null -w '%%{http_code}' -X POST --cacert %s "
	    "--cert %s --key %s https://localhost:%d/metrics",
	    tt.ca, crt(tt.pki, "readonly"), key(tt.pki, "readonly"), tt.mport,
	    tt.ca, crt(tt.pki, "ro2"), key(tt.pki, "ro2"), tt.mport,
	    tt.ca, crt(tt.pki, "op1"), key(tt.pki, "op1"), tt.mport,
	    tt.ca, crt(tt.pki, "admin"), key(tt.pki, "admin"), tt.mport);
	vd_exec(&o, (const char *const[]){ "/bin/sh", "-c", cmd, NULL },
	    NULL, 30000);
	assert_string_equal(o.out, "200 403 404 405");
	vd_out_free(&o);
	assert_serving();
	vd_passed(*state);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roles_table, setup,
		    vd_teardown),
		cmocka_unit_test_setup_teardown(test_unmapped, setup,
		    vd_teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup,
		    vd_teardown),
		cmocka_unit_test_setup_teardown(test_revoke_reload, setup,
		    vd_teardown),
		cmocka_unit_test_setup_teardown(test_s_client, setup,
		    vd_teardown),
		cmocka_unit_test_setup_teardown(test_plaintext, setup,
		    vd_teardown),
		cmocka_unit_test_setup_teardown(test_many_clients, setup,
		    vd_teardown),
		cmocka_unit_test_setup_teardown(test_slow_handshakes, setup,
		    vd_teardown),
		cmocka_unit_test_setup_teardown(test_event_replay, setup,
		    vd_teardown),
		cmocka_unit_test_setup_teardown(test_audit, setup,
		    vd_teardown),
		cmocka_unit_test_setup_teardown(test_monitor_agent, setup,
		    vd_teardown),
		cmocka_unit_test_setup_teardown(test_metrics_https, setup,
		    vd_teardown),
	};

	/* A refused client's writes meet a closed socket. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
