/*
 * test_db.c: vmmd's SQLite store (vmmd/db.c) on real files in a fresh
 * temporary directory per test: the connection's settings read back from
 * SQLite, the file's mode, migrations and refusals (golden messages),
 * definitions, runtime state and events with exact values, persistence,
 * a writer killed with SIGKILL in the middle of its commits, a full file
 * system (a 512 KiB tmpfs; skipped with the reason when mount(2) is not
 * allowed) and a printed commit rate.  No KVM needed.
 */

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "db.h"
#include "vmdef.h"

#define ERRLEN		512
#define CRASH_ACKS	150	/* commits seen before the SIGKILL */
#define CRASH_MAX	100000		/* the child's loop bound */
#define FULL_SIZE	"512k"
#define FULL_MAX	5000		/* puts tried before giving up */
#define RATE_N		500		/* puts timed for the rate */
#define WHO		"uid:0"

struct fx {
	char dir[64];		/* /tmp/test_db.XXXXXX */
	char path[PATH_MAX];
	char mnt[PATH_MAX];	/* a tmpfs mounted here, or "" */
	struct db *db;
};

/* -------------------------------------------------------------------------- */
/* Helpers. */

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int
setup(void **state)
{
	struct fx *fx;

	fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_db.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/vmmd.db", fx->dir);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;

	db_close(fx->db);
	if (fx->mnt[0] != '\0')
		umount2(fx->mnt, MNT_DETACH);
	nftw(fx->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static struct db *
xopen(const char *path)
{
	char err[ERRLEN];
	struct db *db;
	int error;

	error = db_open(path, &db, err, sizeof(err));
	if (error != 0)
		fail_msg("db_open %s: %d %s", path, error, err);
	return db;
}

static void
mkuuid(char *buf, unsigned int i)
{
	snprintf(buf, VMDEF_UUID_LEN + 1, "%08x-0000-4000-8000-%012x", i, i);
}

/*
 * A valid definition: name, uuid, memory, and (when desc is not NULL) a
 * description, two vCPUs, a command line and a disk.
 */
static void
mkdef(struct vmdef *def, const char *name, const char *uuid, uint64_t mib,
    const char *desc)
{
	struct vmdef_errors errs = { NULL, 0 };
	json_t *j;
	int error;

	j = json_pack("{s:s, s:s, s:{s:I}, s:{s:s}}", "name", name, "uuid",
	    uuid, "memory", "size_mib", (json_int_t)mib, "os", "kernel",
	    "/boot/vmlinuz");
	assert_non_null(j);
	if (desc != NULL) {
		json_object_set_new(j, "description", json_string(desc));
		json_object_set_new(j, "vcpu", json_pack("{s:i}", "count", 2));
		json_object_set_new(json_object_get(j, "os"), "cmdline",
		    json_string("console=ttyS0 quiet"));
		json_object_set_new(j, "devices", json_pack("{s:[{s:s, s:b, "
		    "s:s}]}", "disks", "path", "/var/lib/vmm/a.img",
		    "readonly", 1, "serial", "disk0"));
	}
	error = vmdef_decode(j, def, &errs);
	if (error != 0)
		fail_msg("vmdef_decode: %d %s %s", error,
		    errs.n ? errs.v[0].path : "", errs.n ? errs.v[0].msg : "");
	json_decref(j);
}

static void
put(struct db *db, const char *name, unsigned int i, uint64_t mib)
{
	char uuid[VMDEF_UUID_LEN + 1];
	struct vmdef def;
	int error;

	mkuuid(uuid, i);
	mkdef(&def, name, uuid, mib, NULL);
	error = db_vm_put(db, &def, false, WHO);
	if (error != 0)
		fail_msg("put %s: %d %s", name, error, db_errmsg(db));
	vmdef_free(&def);
}

static sqlite3 *
raw_open(const char *path)
{
	sqlite3 *h;

	assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE,
	    NULL), SQLITE_OK);
	return h;
}

static int64_t
q_int(sqlite3 *h, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* The first column of the first row as text, in buf. */
static const char *
q_text(sqlite3 *h, const char *sql, char *buf, size_t size)
{
	sqlite3_stmt *st;
	const char *s;

	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	s = (const char *)sqlite3_column_text(st, 0);
	snprintf(buf, size, "%s", s != NULL ? s : "(null)");
	sqlite3_finalize(st);
	return buf;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f;

	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* -------------------------------------------------------------------------- */
/* Opening. */

static void
test_open_settings(void **state)
{
	struct fx *fx = *state;
	char buf[64];
	struct stat sb;
	sqlite3 *h;
	mode_t old;

	/* The mode is 0600 whatever the umask. */
	old = umask(0);
	fx->db = xopen(fx->path);
	umask(old);
	h = db_sqlite(fx->db);
	assert_string_equal(q_text(h, "PRAGMA journal_mode", buf,
	    sizeof(buf)), "wal");
	assert_int_equal(q_int(h, "PRAGMA synchronous"), 2);
	assert_int_equal(q_int(h, "PRAGMA foreign_keys"), 1);
	assert_int_equal(q_int(h, "PRAGMA busy_timeout"), DB_BUSY_TIMEOUT_MS);
	assert_int_equal(q_int(h, "PRAGMA user_version"), DB_SCHEMA_VERSION);
	assert_int_equal(q_int(h, "PRAGMA application_id"),
	    DB_APPLICATION_ID);
	assert_int_equal(stat(fx->path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);

	/* The WAL and its index take the database's mode. */
	put(fx->db, "a", 1, 64);
	{
		char p[PATH_MAX + 8];

		snprintf(p, sizeof(p), "%s-wal", fx->path);
		assert_int_equal(stat(p, &sb), 0);
		assert_int_equal(sb.st_mode & 07777, 0600);
		snprintf(p, sizeof(p), "%s-shm", fx->path);
		assert_int_equal(stat(p, &sb), 0);
		assert_int_equal(sb.st_mode & 07777, 0600);
	}

	/* An existing file loses group and other permissions. */
	db_close(fx->db);
	fx->db = NULL;
	assert_int_equal(chmod(fx->path, 0644), 0);
	fx->db = xopen(fx->path);
	assert_int_equal(stat(fx->path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
}

static void
test_migrate(void **state)
{
	struct fx *fx = *state;
	char before[4096], after[4096];
	static const char schema_q[] = "SELECT group_concat(type || ' ' || "
	    "name || ': ' || coalesce(sql, ''), char(10)) FROM (SELECT * FROM "
	    "sqlite_master ORDER BY name)";
	sqlite3 *h;

	/* An empty file is a new database. */
	write_file(fx->path, "");
	fx->db = xopen(fx->path);
	h = db_sqlite(fx->db);
	assert_int_equal(q_int(h, "SELECT count(*) FROM sqlite_master WHERE "
	    "name IN ('vms', 'vm_runtime', 'events', 'events_vm')"), 4);
	assert_int_equal(q_int(h, "SELECT count(*) FROM pragma_table_info"
	    "('vm_runtime')"), 10);
	/* Version 2: no sqlite_sequence to update, no rowid for vm_runtime. */
	assert_int_equal(q_int(h, "SELECT count(*) FROM sqlite_master WHERE "
	    "sql LIKE '%AUTOINCREMENT%'"), 0);
	assert_int_equal(q_int(h, "SELECT count(*) FROM sqlite_sequence"), 0);
	/* A new database needs no db.migrate event. */
	assert_int_equal(q_int(h, "SELECT count(*) FROM events"), 0);
	assert_int_equal(q_int(h, "SELECT count(*) FROM sqlite_master WHERE "
	    "name = 'vm_runtime' AND sql LIKE '%) WITHOUT ROWID'"), 1);
	q_text(h, schema_q, before, sizeof(before));
	put(fx->db, "keep", 7, 64);
	db_close(fx->db);
	fx->db = NULL;

	/* Opening again migrates nothing and keeps the rows. */
	fx->db = xopen(fx->path);
	h = db_sqlite(fx->db);
	q_text(h, schema_q, after, sizeof(after));
	assert_string_equal(before, after);
	assert_int_equal(q_int(h, "PRAGMA user_version"), DB_SCHEMA_VERSION);
	assert_int_equal(q_int(h, "SELECT count(*) FROM vms"), 1);
	assert_int_equal(db_vm_get_by_name(fx->db, "keep", NULL, NULL), 0);
}

static void
test_refusals(void **state)
{
	struct fx *fx = *state;
	char err[ERRLEN], want[ERRLEN + PATH_MAX], other[PATH_MAX + 8];
	struct db *db;
	sqlite3 *h;

	/* Newer than this code. */
	fx->db = xopen(fx->path);
	db_close(fx->db);
	fx->db = NULL;
	h = raw_open(fx->path);
	assert_int_equal(sqlite3_exec(h, "PRAGMA user_version = 99", NULL,
	    NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	db = (struct db *)1;
	assert_int_equal(db_open(fx->path, &db, err, sizeof(err)), -ENOTSUP);
	assert_null(db);
	snprintf(want, sizeof(want), "%s: schema version 99 is newer than "
	    "this vmmd supports (3)", fx->path);
	assert_string_equal(err, want);

	/* Not a database at all. */
	snprintf(other, sizeof(other), "%s/text.db", fx->dir);
	write_file(other, "This is not an SQLite database, only text that "
	    "is long enough to look like a header and a page or so.\n");
	assert_int_equal(db_open(other, &db, err, sizeof(err)), -EINVAL);
	assert_null(db);
	snprintf(want, sizeof(want), "%s: file is not a database", other);
	assert_string_equal(err, want);

	/* Another program's database. */
	snprintf(other, sizeof(other), "%s/foreign.db", fx->dir);
	assert_int_equal(sqlite3_open(other, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "CREATE TABLE t (x)", NULL, NULL,
	    NULL), SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(db_open(other, &db, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s: not a vmmd database "
	    "(application_id 0, user_version 0)", other);
	assert_string_equal(err, want);

	/* A directory, a symbolic link. */
	assert_int_equal(db_open(fx->dir, &db, err, sizeof(err)), -EISDIR);
	snprintf(other, sizeof(other), "%s/link.db", fx->dir);
	assert_int_equal(symlink(fx->path, other), 0);
	assert_int_equal(db_open(other, &db, err, sizeof(err)), -ELOOP);
	assert_null(db);
}

/* -------------------------------------------------------------------------- */
/* Definitions. */

static void
check_def(const struct vmdef *a, const struct vmdef *b)
{
	assert_string_equal(a->name, b->name);
	assert_string_equal(a->uuid, b->uuid);
	assert_string_equal(a->description, b->description);
	assert_int_equal(a->vcpus, b->vcpus);
	assert_int_equal(a->memory_mib, b->memory_mib);
	assert_string_equal(a->kernel, b->kernel);
	assert_string_equal(a->cmdline, b->cmdline);
	assert_int_equal(a->ndisks, b->ndisks);
	assert_string_equal(a->disks[0].path, b->disks[0].path);
	assert_string_equal(a->disks[0].serial, b->disks[0].serial);
	assert_int_equal(a->disks[0].readonly, b->disks[0].readonly);
	assert_int_equal(a->shutdown_timeout, b->shutdown_timeout);
	assert_int_equal(a->on_crash, b->on_crash);
}

/* The canonical text db_vm_put must store for def. */
static char *
canon(const struct vmdef *def)
{
	json_t *j;
	char *s;

	j = vmdef_encode(def);
	assert_non_null(j);
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	assert_non_null(s);
	return s;
}

struct evs {
	struct db_event v[64];
	char kind[64][DB_KIND_MAX + 1];
	char who[64][DB_WHO_MAX + 1];
	char vm[64][VMDEF_UUID_LEN + 1];
	char detail[64][256];
	char result[64][DB_RESULT_MAX + 1];
	unsigned int n;
};

static int
ev_collect(void *arg, const struct db_event *ev)
{
	struct evs *e = arg;

	assert_true(e->n < 64);
	e->v[e->n] = *ev;
	snprintf(e->kind[e->n], sizeof(e->kind[0]), "%s", ev->kind);
	snprintf(e->who[e->n], sizeof(e->who[0]), "%s", ev->who);
	snprintf(e->vm[e->n], sizeof(e->vm[0]), "%s", ev->vm ? ev->vm : "");
	snprintf(e->detail[e->n], sizeof(e->detail[0]), "%s",
	    ev->detail ? ev->detail : "");
	snprintf(e->result[e->n], sizeof(e->result[0]), "%s", ev->result);
	e->n++;
	return 0;
}

static void
test_vm_round_trip(void **state)
{
	struct fx *fx = *state;
	char uuid[VMDEF_UUID_LEN + 1], *text;
	struct vmdef def, def2, got;
	struct db_runtime rt;
	struct db_vm vm;
	struct evs *e;
	int64_t t0;

	fx->db = xopen(fx->path);
	mkuuid(uuid, 42);
	mkdef(&def, "web-1", uuid, 512, "the web server");
	t0 = (int64_t)time(NULL) * 1000;
	assert_int_equal(db_vm_put(fx->db, &def, false, WHO), 0);

	assert_int_equal(db_vm_get_by_name(fx->db, "web-1", &vm, &got), 0);
	check_def(&def, &got);
	text = canon(&def);
	assert_string_equal(vm.definition, text);
	free(text);
	assert_string_equal(vm.uuid, uuid);
	assert_string_equal(vm.name, "web-1");
	assert_int_equal(vm.state, DB_STATE_DEFINED);
	assert_true(vm.created >= t0 && vm.created < t0 + 60000);
	assert_int_equal(vm.updated, vm.created);
	db_vm_free(&vm);
	vmdef_free(&got);
	assert_int_equal(db_vm_get_by_uuid(fx->db, uuid, &vm, NULL), 0);
	assert_string_equal(vm.name, "web-1");
	db_vm_free(&vm);
	assert_int_equal(db_runtime_get(fx->db, uuid, &rt), 0);
	assert_int_equal(rt.state, DB_STATE_DEFINED);
	assert_int_equal(rt.pid, 0);
	assert_string_equal(rt.socket, "");
	assert_int_equal(rt.restart_count, 0);

	/* The same uuid again: refused unless replacing. */
	mkdef(&def2, "web-2", uuid, 1024, "renamed");
	assert_int_equal(db_vm_put(fx->db, &def2, false, WHO), -EEXIST);
	assert_string_equal(db_errmsg(fx->db), "a VM with uuid "
	    "0000002a-0000-4000-8000-00000000002a already exists");
	rt.state = DB_STATE_RUNNING;
	rt.pid = 4242;
	assert_int_equal(db_runtime_set(fx->db, uuid, &rt), 0);
	assert_int_equal(db_vm_put(fx->db, &def2, true, "uid:1000"), 0);
	assert_int_equal(db_vm_get_by_name(fx->db, "web-1", &vm, &got),
	    -ENOENT);
	assert_null(vm.definition);
	assert_int_equal(db_vm_get_by_name(fx->db, "web-2", &vm, &got), 0);
	check_def(&def2, &got);
	assert_int_equal(got.memory_mib, 1024);
	assert_int_equal(vm.state, DB_STATE_RUNNING);	/* kept */
	assert_true(vm.updated >= vm.created);
	db_vm_free(&vm);
	vmdef_free(&got);

	/* Delete, twice. */
	assert_int_equal(db_vm_delete(fx->db, uuid, "uid:1000"), 0);
	assert_int_equal(db_vm_get_by_uuid(fx->db, uuid, NULL, NULL), -ENOENT);
	assert_int_equal(db_vm_delete(fx->db, uuid, WHO), -ENOENT);
	assert_string_equal(db_errmsg(fx->db),
	    "no VM 0000002a-0000-4000-8000-00000000002a");

	/* Each mutation logged its event, with the requester. */
	e = calloc(1, sizeof(*e));
	assert_non_null(e);
	assert_int_equal(db_events_since(fx->db, 0, 10, ev_collect, e), 0);
	assert_int_equal(e->n, 3);
	assert_string_equal(e->kind[0], "vm.define");
	assert_string_equal(e->who[0], WHO);
	assert_string_equal(e->vm[0], uuid);
	assert_string_equal(e->detail[0], "{\"name\":\"web-1\","
	    "\"replaced\":false}");
	assert_string_equal(e->result[0], "ok");
	assert_string_equal(e->kind[1], "vm.define");
	assert_string_equal(e->who[1], "uid:1000");
	assert_string_equal(e->detail[1], "{\"name\":\"web-2\","
	    "\"replaced\":true}");
	assert_string_equal(e->kind[2], "vm.undefine");
	assert_string_equal(e->detail[2], "");
	free(e);
	vmdef_free(&def);
	vmdef_free(&def2);
}

static int
count_vm(void *arg, const struct db_vm *vm)
{
	(*(int *)arg)++;
	return 0;
}

static void
test_conflicts(void **state)
{
	struct fx *fx = *state;
	char u1[VMDEF_UUID_LEN + 1], u2[VMDEF_UUID_LEN + 1];
	struct vmdef a, b, bad;
	int n = 0;

	fx->db = xopen(fx->path);
	mkuuid(u1, 1);
	mkuuid(u2, 2);
	mkdef(&a, "alpha", u1, 64, NULL);
	mkdef(&b, "alpha", u2, 64, NULL);
	assert_int_equal(db_vm_put(fx->db, &a, false, WHO), 0);
	assert_int_equal(db_vm_put(fx->db, &b, false, WHO), -EEXIST);
	assert_string_equal(db_errmsg(fx->db),
	    "a VM named alpha already exists");
	assert_int_equal(db_vm_put(fx->db, &b, true, WHO), -EEXIST);
	vmdef_free(&b);

	/* A rename onto another VM's name is refused too. */
	mkdef(&b, "beta", u2, 64, NULL);
	assert_int_equal(db_vm_put(fx->db, &b, false, WHO), 0);
	vmdef_free(&b);
	mkdef(&b, "alpha", u2, 64, NULL);
	assert_int_equal(db_vm_put(fx->db, &b, true, WHO), -EEXIST);
	assert_int_equal(db_vm_get_by_uuid(fx->db, u2, NULL, &bad), 0);
	assert_string_equal(bad.name, "beta");
	vmdef_free(&bad);
	assert_int_equal(db_vm_list(fx->db, 0, count_vm, &n), 0);
	assert_int_equal(n, 2);

	/* Failed puts logged nothing; bad arguments are refused. */
	assert_int_equal(q_int(db_sqlite(fx->db),
	    "SELECT count(*) FROM events"), 2);
	assert_int_equal(db_vm_put(fx->db, &a, false, ""), -EINVAL);
	assert_int_equal(db_vm_put(fx->db, &a, false, NULL), -EINVAL);
	memcpy(bad.uuid, "not-a-uuid", 11);
	bad.name = a.name;
	assert_int_equal(db_vm_put(fx->db, &bad, false, WHO), -EINVAL);
	vmdef_free(&a);
	vmdef_free(&b);
}

/* -------------------------------------------------------------------------- */
/* Runtime state and listing. */

static void
test_runtime(void **state)
{
	struct fx *fx = *state;
	char uuid[VMDEF_UUID_LEN + 1], nouuid[VMDEF_UUID_LEN + 1];
	struct db_runtime rt, got;
	enum db_state st;
	sqlite3 *h;
	int rc;

	fx->db = xopen(fx->path);
	h = db_sqlite(fx->db);
	put(fx->db, "rt", 5, 64);
	mkuuid(uuid, 5);
	mkuuid(nouuid, 6);

	/* A new VM has no runtime row yet and reads as a zeroed "defined". */
	assert_int_equal(q_int(h, "SELECT count(*) FROM vm_runtime"), 0);
	memset(&got, 0xa5, sizeof(got));
	assert_int_equal(db_runtime_get(fx->db, uuid, &got), 0);
	memset(&rt, 0, sizeof(rt));
	rt.state = DB_STATE_DEFINED;
	assert_memory_equal(&got, &rt, sizeof(rt));

	memset(&rt, 0, sizeof(rt));
	rt.state = DB_STATE_CRASHED;
	rt.pid = 31337;
	snprintf(rt.socket, sizeof(rt.socket), "/run/vmm/%s.sock", uuid);
	rt.started_at = 1700000000123;
	snprintf(rt.exit_reason, sizeof(rt.exit_reason), "signal");
	rt.exit_status = 9;
	snprintf(rt.exit_message, sizeof(rt.exit_message), "killed by "
	    "SIGKILL");
	rt.restart_count = 3;
	assert_int_equal(db_runtime_set(fx->db, uuid, &rt), 0);
	assert_int_equal(db_runtime_get(fx->db, uuid, &got), 0);
	assert_int_equal(got.state, DB_STATE_CRASHED);
	assert_int_equal(got.pid, 31337);
	assert_string_equal(got.socket, rt.socket);
	assert_int_equal(got.started_at, 1700000000123);
	assert_string_equal(got.exit_reason, "signal");
	assert_int_equal(got.exit_status, 9);
	assert_string_equal(got.exit_message, "killed by SIGKILL");
	assert_int_equal(got.restart_count, 3);
	assert_true(got.updated > 0);

	/* Every state of the enum is one the schema accepts. */
	for (st = 0; st < DB_STATE_COUNT; st++) {
		struct db_runtime r2 = rt;

		r2.state = st;
		assert_int_equal(db_runtime_set(fx->db, uuid, &r2), 0);
		assert_int_equal(db_runtime_get(fx->db, uuid, &got), 0);
		assert_int_equal(got.state, st);
		assert_int_equal(db_state_parse(db_state_name(st), &got.state),
		    0);
	}
	assert_null(db_state_name(DB_STATE_COUNT));
	assert_int_equal(db_state_parse("exploded", &got.state), -EINVAL);
	assert_int_equal(db_runtime_set(fx->db, uuid, &rt), 0);

	/* Unknown VM, a state outside the enum, an unterminated string. */
	assert_int_equal(db_runtime_set(fx->db, nouuid, &rt), -ENOENT);
	assert_int_equal(db_runtime_get(fx->db, nouuid, &got), -ENOENT);
	rt.state = DB_STATE_COUNT;
	assert_int_equal(db_runtime_set(fx->db, uuid, &rt), -EINVAL);
	rt.state = DB_STATE_RUNNING;
	memset(rt.socket, 'x', sizeof(rt.socket));
	assert_int_equal(db_runtime_set(fx->db, uuid, &rt), -EINVAL);

	/* The schema itself refuses a state it does not know. */
	rc = sqlite3_exec(h, "UPDATE vm_runtime SET state = 'exploded'",
	    NULL, NULL, NULL);
	assert_int_equal(rc, SQLITE_CONSTRAINT_CHECK);
	assert_int_equal(db_runtime_get(fx->db, uuid, &got), 0);
	assert_int_equal(got.state, DB_STATE_CRASHED);

	/* Deleting the VM deletes its runtime row. */
	assert_int_equal(db_vm_delete(fx->db, uuid, WHO), 0);
	assert_int_equal(q_int(h, "SELECT count(*) FROM vm_runtime"), 0);
	assert_int_equal(db_runtime_get(fx->db, uuid, &got), -ENOENT);
}

struct names {
	char v[16][VMDEF_NAME_MAX + 1];
	int n;
	int stop_at;		/* return -ECANCELED at this many, or -1 */
};

static int
collect_name(void *arg, const struct db_vm *vm)
{
	struct names *nm = arg;

	assert_true(nm->n < 16);
	assert_non_null(vm->definition);
	snprintf(nm->v[nm->n++], sizeof(nm->v[0]), "%s", vm->name);
	return nm->n == nm->stop_at ? -ECANCELED : 0;
}

static void
test_list(void **state)
{
	static const char *const names[] = { "delta", "alpha", "echo",
	    "charlie", "bravo" };
	struct fx *fx = *state;
	char uuid[VMDEF_UUID_LEN + 1];
	struct db_runtime rt;
	struct names nm;
	unsigned int i;

	fx->db = xopen(fx->path);
	for (i = 0; i < 5; i++)
		put(fx->db, names[i], 100 + i, 64);
	memset(&rt, 0, sizeof(rt));
	rt.state = DB_STATE_RUNNING;
	mkuuid(uuid, 100);		/* delta */
	assert_int_equal(db_runtime_set(fx->db, uuid, &rt), 0);
	rt.state = DB_STATE_PAUSED;
	mkuuid(uuid, 103);		/* charlie */
	assert_int_equal(db_runtime_set(fx->db, uuid, &rt), 0);

	memset(&nm, 0, sizeof(nm));
	nm.stop_at = -1;
	assert_int_equal(db_vm_list(fx->db, 0, collect_name, &nm), 0);
	assert_int_equal(nm.n, 5);
	assert_string_equal(nm.v[0], "alpha");
	assert_string_equal(nm.v[1], "bravo");
	assert_string_equal(nm.v[2], "charlie");
	assert_string_equal(nm.v[3], "delta");
	assert_string_equal(nm.v[4], "echo");

	memset(&nm, 0, sizeof(nm));
	nm.stop_at = -1;
	assert_int_equal(db_vm_list(fx->db, DB_STATE_BIT(DB_STATE_RUNNING) |
	    DB_STATE_BIT(DB_STATE_PAUSED), collect_name, &nm), 0);
	assert_int_equal(nm.n, 2);
	assert_string_equal(nm.v[0], "charlie");
	assert_string_equal(nm.v[1], "delta");

	memset(&nm, 0, sizeof(nm));
	nm.stop_at = -1;
	assert_int_equal(db_vm_list(fx->db, DB_STATE_BIT(DB_STATE_DEFINED),
	    collect_name, &nm), 0);
	assert_int_equal(nm.n, 3);

	/* A callback's error stops the walk and comes back. */
	memset(&nm, 0, sizeof(nm));
	nm.stop_at = 2;
	assert_int_equal(db_vm_list(fx->db, 0, collect_name, &nm),
	    -ECANCELED);
	assert_int_equal(nm.n, 2);
	/* And the statement is usable again. */
	nm.n = 0;
	nm.stop_at = -1;
	assert_int_equal(db_vm_list(fx->db, 0, collect_name, &nm), 0);
	assert_int_equal(nm.n, 5);
}

/* -------------------------------------------------------------------------- */
/* Events. */

static void
test_events(void **state)
{
	struct fx *fx = *state;
	char uuid[VMDEF_UUID_LEN + 1];
	int64_t seq, prev = 0, after;
	json_t *detail;
	struct evs *e;
	unsigned int i, pages;

	fx->db = xopen(fx->path);
	mkuuid(uuid, 9);
	for (i = 0; i < 25; i++) {
		detail = json_pack("{s:i}", "i", (int)i);
		assert_int_equal(db_event_append(fx->db, "vm.start",
		    i % 2 ? uuid : NULL, "uid:7", i % 3 ? detail : NULL,
		    i == 4 ? "error: busy" : "ok", &seq), 0);
		json_decref(detail);
		assert_true(seq > prev);
		prev = seq;
	}

	/* Pages of 10, 10 and 5, then nothing. */
	e = calloc(1, sizeof(*e));
	assert_non_null(e);
	after = 0;
	for (pages = 0; pages < 4; pages++) {
		unsigned int before = e->n;

		assert_int_equal(db_events_since(fx->db, after, 10,
		    ev_collect, e), 0);
		if (e->n == before)
			break;
		assert_true(e->n - before <= 10);
		after = e->v[e->n - 1].seq;
	}
	assert_int_equal(pages, 3);
	assert_int_equal(e->n, 25);
	for (i = 0; i < 25; i++) {
		char want[32];

		if (i > 0)
			assert_true(e->v[i].seq > e->v[i - 1].seq);
		assert_string_equal(e->kind[i], "vm.start");
		assert_string_equal(e->who[i], "uid:7");
		assert_string_equal(e->vm[i], i % 2 ? uuid : "");
		snprintf(want, sizeof(want), "{\"i\":%u}", i);
		assert_string_equal(e->detail[i], i % 3 ? want : "");
		assert_string_equal(e->result[i], i == 4 ? "error: busy" :
		    "ok");
		assert_true(e->v[i].time > 0);
	}
	free(e);

	/* Bad arguments. */
	assert_int_equal(db_events_since(fx->db, 0, 0, ev_collect, NULL),
	    -EINVAL);
	assert_int_equal(db_events_since(fx->db, 0, DB_EVENTS_PAGE_MAX + 1,
	    ev_collect, NULL), -EINVAL);
	assert_int_equal(db_event_append(fx->db, "", NULL, WHO, NULL, "ok",
	    NULL), -EINVAL);
	assert_int_equal(db_event_append(fx->db, "k", "nope", WHO, NULL, "ok",
	    NULL), -EINVAL);

	/*
	 * A seq is never reused once old events are pruned: seq is the
	 * rowid, and the newest event is never deleted (db.h).
	 */
	assert_int_equal(sqlite3_exec(db_sqlite(fx->db), "DELETE FROM events "
	    "WHERE seq < (SELECT max(seq) FROM events)", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(db_event_append(fx->db, "k", NULL, WHO, NULL, "ok",
	    &seq), 0);
	assert_int_equal(seq, prev + 1);
}

/* -------------------------------------------------------------------------- */
/* Durability. */

static void
test_persistence(void **state)
{
	struct fx *fx = *state;
	char uuid[VMDEF_UUID_LEN + 1];
	struct db_runtime rt;
	struct vmdef def;
	struct evs *e;

	fx->db = xopen(fx->path);
	put(fx->db, "stays", 3, 256);
	mkuuid(uuid, 3);
	memset(&rt, 0, sizeof(rt));
	rt.state = DB_STATE_STOPPED;
	rt.restart_count = 1;
	assert_int_equal(db_runtime_set(fx->db, uuid, &rt), 0);
	assert_int_equal(db_event_append(fx->db, "vm.stop", uuid, WHO, NULL,
	    "ok", NULL), 0);
	db_close(fx->db);
	fx->db = NULL;

	fx->db = xopen(fx->path);
	assert_int_equal(db_vm_get_by_name(fx->db, "stays", NULL, &def), 0);
	assert_string_equal(def.uuid, uuid);
	assert_int_equal(def.memory_mib, 256);
	vmdef_free(&def);
	assert_int_equal(db_runtime_get(fx->db, uuid, &rt), 0);
	assert_int_equal(rt.state, DB_STATE_STOPPED);
	assert_int_equal(rt.restart_count, 1);
	e = calloc(1, sizeof(*e));
	assert_non_null(e);
	assert_int_equal(db_events_since(fx->db, 0, 10, ev_collect, e), 0);
	assert_int_equal(e->n, 2);
	assert_string_equal(e->kind[1], "vm.stop");
	free(e);
}

/*
 * Schema version 1 as db.c's step 1 created it (frozen SQL), to make a
 * version 1 file with data for the migration to version 2.
 */
static const char v1_schema[] =
	"PRAGMA journal_mode = WAL;"
	"CREATE TABLE vms ("
	"  uuid TEXT PRIMARY KEY NOT NULL,"
	"  name TEXT NOT NULL UNIQUE,"
	"  definition TEXT NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL);"
	"CREATE TABLE vm_runtime ("
	"  uuid TEXT PRIMARY KEY NOT NULL"
	"    REFERENCES vms (uuid) ON DELETE CASCADE,"
	"  state TEXT NOT NULL DEFAULT 'defined' CHECK (state IN ('defined',"
	"    'starting', 'running', 'paused', 'stopping', 'stopped',"
	"    'crashed')),"
	"  pid INTEGER CHECK (pid IS NULL OR pid > 0),"
	"  socket TEXT,"
	"  started_at INTEGER,"
	"  exit_reason TEXT,"
	"  exit_status INTEGER,"
	"  exit_message TEXT,"
	"  restart_count INTEGER NOT NULL DEFAULT 0"
	"    CHECK (restart_count >= 0),"
	"  updated INTEGER NOT NULL);"
	"CREATE TABLE events ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  time INTEGER NOT NULL,"
	"  vm TEXT,"
	"  kind TEXT NOT NULL,"
	"  who TEXT NOT NULL,"
	"  detail TEXT,"
	"  result TEXT NOT NULL);"
	"CREATE INDEX events_vm ON events (vm, seq);"
	"PRAGMA application_id = 1986882916;"
	"PRAGMA user_version = 1;";

/* Insert the vms row of def with fixed times; its text in text. */
static void
v1_vm(sqlite3 *h, const struct vmdef *def, int64_t created, char *text,
    size_t size)
{
	sqlite3_stmt *st;
	json_t *j;
	char *s;

	j = vmdef_encode(def);
	assert_non_null(j);
	s = json_dumps(j, JSON_COMPACT);
	assert_non_null(s);
	snprintf(text, size, "%s", s);
	assert_int_equal(sqlite3_prepare_v2(h, "INSERT INTO vms VALUES (?1, "
	    "?2, ?3, ?4, ?5)", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, def->uuid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, def->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, s, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, created);
	sqlite3_bind_int64(st, 5, created + 1);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	free(s);
	json_decref(j);
}

static void
test_migrate_v1(void **state)
{
	struct fx *fx = *state;
	char a[VMDEF_UUID_LEN + 1], b[VMDEF_UUID_LEN + 1], sql[1024];
	char text_a[2048], text_b[2048], got_s[4096], fresh_s[4096];
	static const char schema_q[] = "SELECT group_concat(type || ' ' || "
	    "name || ': ' || coalesce(sql, ''), char(10)) FROM (SELECT * FROM "
	    "sqlite_master ORDER BY name)";
	struct vmdef def_a, def_b, got;
	struct db_runtime rt;
	struct db_vm vm;
	struct evs *e;
	int64_t t0, t1, seq;
	sqlite3 *h;
	int n;

	/* A version 1 file: two VMs, their runtime rows, five events. */
	mkuuid(a, 0xa1);
	mkuuid(b, 0xb2);
	mkdef(&def_a, "old-a", a, 1024, "made by schema 1");
	mkdef(&def_b, "old-b", b, 64, NULL);
	write_file(fx->path, "");
	h = raw_open(fx->path);
	assert_int_equal(sqlite3_exec(h, v1_schema, NULL, NULL, NULL),
	    SQLITE_OK);
	v1_vm(h, &def_a, 1600000000000, text_a, sizeof(text_a));
	v1_vm(h, &def_b, 1600000000100, text_b, sizeof(text_b));
	snprintf(sql, sizeof(sql), "INSERT INTO vm_runtime VALUES ('%s', "
	    "'crashed', 4242, '/run/vmm/a.sock', 1600000001000, 'signal', 9, "
	    "'killed by SIGKILL', 2, 1600000002000);"
	    "INSERT INTO vm_runtime (uuid, updated) VALUES ('%s', "
	    "1600000000100);", a, b);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	snprintf(sql, sizeof(sql), "INSERT INTO events (time, vm, kind, who, "
	    "detail, result) VALUES "
	    "(1600000000000, '%s', 'vm.define', 'uid:0', "
	    "'{\"name\":\"old-a\",\"replaced\":false}', 'ok'),"
	    "(1600000000100, '%s', 'vm.define', 'uid:0', "
	    "'{\"name\":\"old-b\",\"replaced\":false}', 'ok'),"
	    "(1600000001000, '%s', 'vm.start', 'uid:7', NULL, 'ok'),"
	    "(1600000001500, NULL, 'vmmd.start', 'vmmd', NULL, 'error: x'),"
	    "(1600000003000, '%s', 'vm.stop', 'uid:7', NULL, 'ok');"
	    /* By hand: the counter (5) is now ahead of the newest (4). */
	    "DELETE FROM events WHERE seq = 5;", a, b, a, a);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(q_int(h, "SELECT seq FROM sqlite_sequence"), 5);
	assert_int_equal(sqlite3_close(h), SQLITE_OK);

	/* Opening migrates. */
	t0 = (int64_t)time(NULL) * 1000;
	fx->db = xopen(fx->path);
	t1 = ((int64_t)time(NULL) + 1) * 1000;
	h = db_sqlite(fx->db);
	assert_int_equal(q_int(h, "PRAGMA user_version"), DB_SCHEMA_VERSION);
	assert_string_equal(q_text(h, "PRAGMA integrity_check", sql,
	    sizeof(sql)), "ok");
	assert_int_equal(q_int(h, "SELECT count(*) FROM "
	    "pragma_foreign_key_check"), 0);
	assert_int_equal(q_int(h, "SELECT count(*) FROM sqlite_master WHERE "
	    "name LIKE '%_v1'"), 0);
	q_text(h, schema_q, got_s, sizeof(got_s));

	/* The definitions, exactly. */
	assert_int_equal(db_vm_get_by_name(fx->db, "old-a", &vm, &got), 0);
	assert_string_equal(vm.uuid, a);
	assert_string_equal(vm.definition, text_a);
	assert_int_equal(vm.state, DB_STATE_CRASHED);
	assert_int_equal(vm.created, 1600000000000);
	assert_int_equal(vm.updated, 1600000000001);
	assert_int_equal(got.memory_mib, 1024);
	assert_string_equal(got.description, "made by schema 1");
	vmdef_free(&got);
	db_vm_free(&vm);
	assert_int_equal(db_vm_get_by_uuid(fx->db, b, &vm, NULL), 0);
	assert_string_equal(vm.name, "old-b");
	assert_string_equal(vm.definition, text_b);
	assert_int_equal(vm.state, DB_STATE_DEFINED);
	assert_int_equal(vm.created, 1600000000100);
	db_vm_free(&vm);
	n = 0;
	assert_int_equal(db_vm_list(fx->db, 0, count_vm, &n), 0);
	assert_int_equal(n, 2);

	/* The runtime rows, exactly. */
	assert_int_equal(db_runtime_get(fx->db, a, &rt), 0);
	assert_int_equal(rt.state, DB_STATE_CRASHED);
	assert_int_equal(rt.pid, 4242);
	assert_string_equal(rt.socket, "/run/vmm/a.sock");
	assert_int_equal(rt.started_at, 1600000001000);
	assert_string_equal(rt.exit_reason, "signal");
	assert_int_equal(rt.exit_status, 9);
	assert_string_equal(rt.exit_message, "killed by SIGKILL");
	assert_int_equal(rt.restart_count, 2);
	assert_int_equal(rt.updated, 1600000002000);
	assert_int_equal(db_runtime_get(fx->db, b, &rt), 0);
	assert_int_equal(rt.state, DB_STATE_DEFINED);
	assert_int_equal(rt.pid, 0);
	assert_string_equal(rt.socket, "");
	assert_int_equal(rt.restart_count, 0);
	assert_int_equal(rt.updated, 1600000000100);

	/*
	 * The events, exactly, then a db.migrate event holding the
	 * counter's seq 5, then new ones after it.
	 */
	e = calloc(1, sizeof(*e));
	assert_non_null(e);
	assert_int_equal(db_events_since(fx->db, 0, 100, ev_collect, e), 0);
	assert_int_equal(e->n, 5);
	for (n = 0; n < 5; n++)
		assert_int_equal(e->v[n].seq, n + 1);
	assert_int_equal(e->v[0].time, 1600000000000);
	assert_string_equal(e->vm[0], a);
	assert_string_equal(e->kind[0], "vm.define");
	assert_string_equal(e->who[0], "uid:0");
	assert_string_equal(e->detail[0],
	    "{\"name\":\"old-a\",\"replaced\":false}");
	assert_string_equal(e->result[0], "ok");
	assert_string_equal(e->vm[1], b);
	assert_string_equal(e->detail[1],
	    "{\"name\":\"old-b\",\"replaced\":false}");
	assert_int_equal(e->v[2].time, 1600000001000);
	assert_string_equal(e->kind[2], "vm.start");
	assert_string_equal(e->who[2], "uid:7");
	assert_string_equal(e->detail[2], "");
	assert_int_equal(e->v[3].time, 1600000001500);
	assert_string_equal(e->vm[3], "");
	assert_string_equal(e->kind[3], "vmmd.start");
	assert_string_equal(e->result[3], "error: x");
	assert_string_equal(e->vm[4], "");
	assert_string_equal(e->kind[4], "db.migrate");
	assert_string_equal(e->who[4], "vmmd");
	assert_string_equal(e->detail[4], "{\"schema_version\":2}");
	assert_string_equal(e->result[4], "ok");
	assert_true(e->v[4].time >= t0 && e->v[4].time <= t1);
	free(e);
	assert_int_equal(db_event_append(fx->db, "k", NULL, WHO, NULL, "ok",
	    &seq), 0);
	assert_int_equal(seq, 6);

	/* The migrated schema is a new database's. */
	{
		char p[PATH_MAX + 16];
		struct db *fresh;

		snprintf(p, sizeof(p), "%s/fresh.db", fx->dir);
		fresh = xopen(p);
		q_text(db_sqlite(fresh), schema_q, fresh_s, sizeof(fresh_s));
		db_close(fresh);
		assert_string_equal(got_s, fresh_s);
	}

	/*
	 * Version 2 behaviour on migrated rows: replace keeps the state,
	 * delete cascades to the runtime row.
	 */
	def_a.memory_mib = 2048;
	assert_int_equal(db_vm_put(fx->db, &def_a, true, WHO), 0);
	assert_int_equal(db_runtime_get(fx->db, a, &rt), 0);
	assert_int_equal(rt.state, DB_STATE_CRASHED);
	assert_int_equal(db_vm_delete(fx->db, a, WHO), 0);
	assert_int_equal(q_int(h, "SELECT count(*) FROM vm_runtime"), 1);
	assert_int_equal(db_runtime_get(fx->db, a, &rt), -ENOENT);

	/* Reopening migrates nothing more. */
	db_close(fx->db);
	fx->db = xopen(fx->path);
	h = db_sqlite(fx->db);
	assert_int_equal(q_int(h, "PRAGMA user_version"), DB_SCHEMA_VERSION);
	assert_int_equal(q_int(h, "SELECT count(*) FROM events WHERE "
	    "kind = 'db.migrate'"), 1);
	vmdef_free(&def_a);
	vmdef_free(&def_b);
}

/* The crash child: commit puts forever, acknowledging each on fd. */
static void __attribute__((noreturn))
crash_child(const char *path, int fd)
{
	char err[ERRLEN], name[32], uuid[VMDEF_UUID_LEN + 1];
	struct vmdef def;
	struct db *db;
	uint32_t i;

	if (db_open(path, &db, err, sizeof(err)) != 0)
		_exit(2);
	for (i = 0; i < CRASH_MAX; i++) {
		snprintf(name, sizeof(name), "c%06u", i);
		mkuuid(uuid, i);
		mkdef(&def, name, uuid, 64, "written by the crash child");
		if (db_vm_put(db, &def, false, WHO) != 0)
			_exit(3);
		vmdef_free(&def);
		if (write(fd, &i, sizeof(i)) != sizeof(i))
			_exit(4);
	}
	_exit(5);
}

static void
test_crash_safety(void **state)
{
	struct fx *fx = *state;
	char uuid[VMDEF_UUID_LEN + 1], buf[64];
	uint32_t ack, last = 0, n = 0;
	int p[2], status;
	int64_t rows;
	pid_t pid;
	unsigned int i;

	fx->db = xopen(fx->path);	/* the schema, before the child */
	db_close(fx->db);
	fx->db = NULL;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		crash_child(fx->path, p[1]);
	}
	close(p[1]);
	while (n < CRASH_ACKS && read(p[0], &ack, sizeof(ack)) ==
	    sizeof(ack)) {
		last = ack;
		n++;
	}
	assert_int_equal(n, CRASH_ACKS);
	/* Somewhere inside the next commit or so. */
	srand((unsigned int)getpid() ^ (unsigned int)time(NULL));
	usleep((useconds_t)(rand() % 4000));
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* Acknowledgements written before the kill are still in the pipe. */
	while (read(p[0], &ack, sizeof(ack)) == sizeof(ack))
		last = ack;
	close(p[0]);

	fx->db = xopen(fx->path);
	for (i = 0; i <= last; i++) {
		mkuuid(uuid, i);
		assert_int_equal(db_vm_get_by_uuid(fx->db, uuid, NULL, NULL),
		    0);
	}
	/* At most the one commit that was under way when it died. */
	rows = q_int(db_sqlite(fx->db), "SELECT count(*) FROM vms");
	assert_true(rows == (int64_t)last + 1 || rows == (int64_t)last + 2);
	assert_string_equal(q_text(db_sqlite(fx->db), "PRAGMA integrity_check",
	    buf, sizeof(buf)), "ok");
	print_message("crash: %u commits acknowledged, %" PRId64 " rows "
	    "after the SIGKILL\n", last + 1, rows);
}

static void
test_disk_full(void **state)
{
	struct fx *fx = *state;
	char path[PATH_MAX + 16], name[32], uuid[VMDEF_UUID_LEN + 1];
	char desc[VMDEF_DESC_MAX + 1];
	struct vmdef def;
	unsigned int i, ok = 0;
	int error = 0, n;

	snprintf(fx->mnt, sizeof(fx->mnt), "%s/small", fx->dir);
	assert_int_equal(mkdir(fx->mnt, 0700), 0);
	if (mount("tmpfs", fx->mnt, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
	    "size=" FULL_SIZE ",mode=0700") != 0) {
		print_message("skipped: mount of a " FULL_SIZE " tmpfs: %s "
		    "(needs root and CAP_SYS_ADMIN)\n", strerror(errno));
		fx->mnt[0] = '\0';
		skip();
	}
	snprintf(path, sizeof(path), "%s/vmmd.db", fx->mnt);
	fx->db = xopen(path);
	memset(desc, 'x', VMDEF_DESC_MAX);
	desc[VMDEF_DESC_MAX] = '\0';
	for (i = 0; i < FULL_MAX; i++) {
		snprintf(name, sizeof(name), "f%05u", i);
		mkuuid(uuid, i);
		mkdef(&def, name, uuid, 64, desc);
		error = db_vm_put(fx->db, &def, false, WHO);
		vmdef_free(&def);
		if (error != 0)
			break;
		ok++;
	}
	assert_int_equal(error, -ENOSPC);
	assert_string_equal(db_errmsg(fx->db), "database or disk is full");
	assert_true(ok > 0);
	print_message("full: %u puts fitted in " FULL_SIZE ", then -ENOSPC\n",
	    ok);

	/* Every earlier row is readable, before and after a reopen. */
	n = 0;
	assert_int_equal(db_vm_list(fx->db, 0, count_vm, &n), 0);
	assert_int_equal(n, (int)ok);
	db_close(fx->db);
	fx->db = NULL;
	fx->db = xopen(path);
	n = 0;
	assert_int_equal(db_vm_list(fx->db, 0, count_vm, &n), 0);
	assert_int_equal(n, (int)ok);
	mkuuid(uuid, ok - 1);
	assert_int_equal(db_vm_get_by_uuid(fx->db, uuid, NULL, &def), 0);
	assert_string_equal(def.description, desc);
	vmdef_free(&def);
	db_close(fx->db);
	fx->db = NULL;
	assert_int_equal(umount2(fx->mnt, 0), 0);
	fx->mnt[0] = '\0';
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Not a timed assertion: the figure depends on the disk's fsync. */
static void
test_rate(void **state)
{
	struct fx *fx = *state;
	char name[32];
	double t;
	unsigned int i;

	fx->db = xopen(fx->path);
	t = now_s();
	for (i = 0; i < RATE_N; i++) {
		snprintf(name, sizeof(name), "r%05u", i);
		put(fx->db, name, i, 64);
	}
	t = now_s() - t;
	print_message("rate: %u durable puts in %.0f ms: %.0f commits/s "
	    "(%s)\n", RATE_N, t * 1e3, RATE_N / t, fx->dir);
	t = now_s();
	for (i = 0; i < RATE_N; i++)
		assert_int_equal(db_event_append(fx->db, "bench", NULL, WHO,
		    NULL, "ok", NULL), 0);
	t = now_s() - t;
	print_message("rate: %u durable events: %.0f commits/s\n", RATE_N,
	    RATE_N / t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_settings, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_migrate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vm_round_trip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_conflicts, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_runtime, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persistence, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v1, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_crash_safety, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_disk_full, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rate, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
