/*
 * sup_console.c: each VM's console as vmmd keeps it.  The mirror is a
 * ring of the definition's scrollback size fed by the worker's console
 * events; it outlives the worker, so vm.console_log answers after the VM
 * has ended.  Watchers (client connections, conn_ref'd) get every chunk
 * as a "console.data" notification; one that cannot take it (its output
 * buffer is full) loses the chunk and is told how many bytes with a
 * "console.lost" before its next chunk.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "server.h"
#include "sup_internal.h"

/* -------------------------------------------------------------------------- */
/* The mirror. */

/*
 * Make the ring size bytes (a definition's scrollback; 0 keeps nothing),
 * keeping the newest bytes it holds.  0 or -ENOMEM (the old ring stays).
 */
int
sup_mirror_size(struct sup_vm *v, size_t size)
{
	struct sup_mirror *m = &v->mirror;
	uint8_t *nb;
	size_t keep, i, at;

	if (size == m->size)
		return 0;
	if (size == 0 || m->buf == NULL) {
		free(m->buf);
		m->buf = NULL;
		m->size = size;
		m->len = m->head = 0;
		return 0;
	}
	if ((nb = malloc(size)) == NULL)
		return -ENOMEM;
	keep = m->len < size ? m->len : size;
	for (i = 0; i < keep; i++) {
		at = (m->head + m->size - keep + i) % m->size;
		nb[i] = m->buf[at];
	}
	free(m->buf);
	m->buf = nb;
	m->size = size;
	m->len = keep;
	m->head = keep % size;
	return 0;
}

/* Append len bytes; only the newest m->size stay. */
static int
sup_mirror_add(struct sup_mirror *m, const uint8_t *p, size_t len)
{
	size_t n;

	m->total += len;
	if (m->size == 0)
		return 0;
	if (m->buf == NULL && (m->buf = malloc(m->size)) == NULL)
		return -ENOMEM;
	if (len > m->size) {
		p += len - m->size;
		len = m->size;
	}
	while (len > 0) {
		n = m->size - m->head;
		if (n > len)
			n = len;
		memcpy(m->buf + m->head, p, n);
		m->head = (m->head + n) % m->size;
		m->len = m->len + n > m->size ? m->size : m->len + n;
		p += n;
		len -= n;
	}
	return 0;
}

/* The newest n bytes (n <= m->len), in order, into out. */
static void
sup_mirror_copy(const struct sup_mirror *m, size_t n, uint8_t *out)
{
	size_t start = (m->head + m->size - n) % (m->size ? m->size : 1);
	size_t first = m->size - start < n ? m->size - start : n;

	if (n == 0)
		return;
	memcpy(out, m->buf + start, first);
	memcpy(out + first, m->buf, n - first);
}

/* -------------------------------------------------------------------------- */
/* Watchers. */

static void
sup_watcher_drop(struct sup_vm *v, unsigned int i)
{
	conn_unref(v->watchers[i].c);
	v->watchers[i] = v->watchers[--v->nwatchers];
	memset(&v->watchers[v->nwatchers], 0, sizeof(v->watchers[0]));
}

/*
 * One chunk (len bytes, b64 its text) for watcher i: its loss first if
 * any.  Returns false when the watcher is gone (and dropped).
 */
static bool
sup_watcher_send(struct sup_vm *v, unsigned int i, const char *b64,
    size_t len)
{
	struct sup_watcher *wt = &v->watchers[i];
	int rc;

	if (!conn_is_open(wt->c)) {
		sup_watcher_drop(v, i);
		return false;
	}
	if (wt->lost > 0) {
		rc = conn_notify(wt->c, SUP_NOTIFY_LOST, json_pack("{s:s, s:I}",
		    "name", v->name, "bytes", (json_int_t)wt->lost));
		if (rc == -ENOBUFS) {
			wt->lost += len;
			return true;
		}
		if (rc != 0) {
			sup_watcher_drop(v, i);
			return false;
		}
		wt->lost = 0;
	}
	rc = conn_notify(wt->c, SUP_NOTIFY_DATA, json_pack("{s:s, s:s}",
	    "name", v->name, "data", b64));
	if (rc == -ENOBUFS)
		wt->lost += len;
	else if (rc != 0) {
		sup_watcher_drop(v, i);
		return false;
	}
	return true;
}

/*
 * A console event's data (base64, len characters): into the mirror and
 * to every watcher.  Data that does not decode is logged and dropped.
 */
void
sup_console_data(struct sup_vm *v, const char *b64, size_t len)
{
	uint8_t *buf;
	ssize_t n;
	unsigned int i;

	if (v == NULL || len == 0)
		return;
	if ((buf = malloc(B64_DECODE_MAX(len) + 1)) == NULL) {
		vmmd_warnx("vm %s: out of memory for console output", v->name);
		v->mirror.total += B64_DECODE_MAX(len);
		return;
	}
	if ((n = b64_decode(b64, len, buf)) < 0) {
		vmmd_warnx("vm %s: console output that is not base64; dropped",
		    v->name);
		free(buf);
		return;
	}
	if (sup_mirror_add(&v->mirror, buf, (size_t)n) != 0)
		vmmd_warnx("vm %s: out of memory for the console mirror",
		    v->name);
	free(buf);
	for (i = 0; i < v->nwatchers; )
		if (sup_watcher_send(v, i, b64, (size_t)n))
			i++;
}

/* The worker could not send us bytes of output (we read too slowly). */
void
sup_console_lost(struct sup_vm *v, uint64_t bytes)
{
	unsigned int i;

	if (v == NULL || bytes == 0)
		return;
	vmmd_info("vm %s: %llu bytes of console output lost", v->name,
	    (unsigned long long)bytes);
	v->mirror.total += bytes;
	v->mirror.lost += bytes;
	for (i = 0; i < v->nwatchers; i++)
		v->watchers[i].lost += bytes;
}

/* The worker has exited: each watcher is told why and detached. */
void
sup_console_end(struct sup_vm *v, const char *reason)
{
	while (v->nwatchers > 0) {
		if (conn_is_open(v->watchers[0].c))
			(void)conn_notify(v->watchers[0].c, SUP_NOTIFY_END,
			    json_pack("{s:s, s:s}", "name", v->name, "reason",
			    reason));
		sup_watcher_drop(v, 0);
	}
}

void
sup_console_free(struct sup_vm *v)
{
	while (v->nwatchers > 0)
		sup_watcher_drop(v, 0);
	free(v->mirror.buf);
	memset(&v->mirror, 0, sizeof(v->mirror));
}

/* -------------------------------------------------------------------------- */
/* The operations. */

/* Make c a watcher of v: 0 or an RPC error code. */
static int
sup_watch(struct sup_vm *v, struct conn *c, struct rpc_error *err)
{
	enum db_state st = v->rt.state;
	unsigned int i;

	if (st != DB_STATE_RUNNING && st != DB_STATE_PAUSED)
		return rpc_error_set(err, RPC_E_INVALID_STATE,
		    json_pack("{s:s}", "state", db_state_name(st)),
		    "cannot attach to the console: the VM is %s",
		    db_state_name(st));
	if (c == NULL)
		return rpc_error_set(err, RPC_E_INTERNAL, NULL, "no "
		    "connection to send the console to");
	for (i = 0; i < v->nwatchers; i++)
		if (v->watchers[i].c == c)
			return 0;
	if (v->nwatchers == SUP_WATCHERS_MAX)
		return rpc_error_set(err, RPC_E_RESOURCE_LIMIT,
		    json_pack("{s:i}", "max", SUP_WATCHERS_MAX), "at most %d "
		    "clients may watch the console of %s", SUP_WATCHERS_MAX,
		    v->name);
	v->watchers[v->nwatchers].c = conn_ref(c);
	v->watchers[v->nwatchers].lost = 0;
	v->nwatchers++;
	return 0;
}

int
sup_console_attach(struct sup *s, const char *name, struct conn *c,
    struct rpc_error *err)
{
	struct sup_vm *v;
	int rc;

	if ((rc = sup_lookup(s, name, true, &v, err)) != 0)
		return rc;
	return sup_watch(v, c, err);
}

/* {"data", "bytes", "total"} of the newest bytes (0: all) of v's mirror. */
static json_t *
sup_log_result(const struct sup_vm *v, size_t bytes)
{
	const struct sup_mirror *m = v != NULL ? &v->mirror : NULL;
	size_t n = m != NULL ? m->len : 0;
	uint8_t *raw = NULL;
	char *b64 = NULL;
	json_t *r = NULL;

	if (bytes != 0 && bytes < n)
		n = bytes;
	if ((raw = malloc(n + 1)) == NULL ||
	    (b64 = malloc(B64_ENCODE_SIZE(n))) == NULL)
		goto out;
	if (n > 0)
		sup_mirror_copy(m, n, raw);
	b64_encode(raw, n, b64);
	r = json_pack("{s:s, s:I, s:I}", "data", b64, "bytes", (json_int_t)n,
	    "total", (json_int_t)(m != NULL ? m->total : 0));
out:
	free(b64);
	free(raw);
	return r;
}

int
sup_console_log(struct sup *s, const char *name, size_t bytes, bool follow,
    struct conn *c, json_t **result, struct rpc_error *err)
{
	struct sup_vm *v;
	int rc;

	*result = NULL;
	if ((rc = sup_lookup(s, name, follow, &v, err)) != 0)
		return rc;
	if ((*result = sup_log_result(v, bytes)) == NULL)
		return rpc_error_set(err, RPC_E_INTERNAL, NULL, "out of "
		    "memory");
	if (follow && (rc = sup_watch(v, c, err)) != 0) {
		json_decref(*result);
		*result = NULL;
	}
	return rc;
}

void
sup_conn_closed(struct sup *s, struct conn *c)
{
	struct sup_vm *v;
	unsigned int i;

	TAILQ_FOREACH(v, &s->vms, link) {
		for (i = 0; i < v->nwatchers; ) {
			if (v->watchers[i].c == c)
				sup_watcher_drop(v, i);
			else
				i++;
		}
	}
}
