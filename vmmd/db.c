/*
 * db.c: vmmd's SQLite store (db.h): opening with the settings that make a
 * commit durable, schema migrations by user_version, and the queries, each
 * a statement prepared once per connection with its parameters bound.
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "db.h"
#include "vmdef.h"

/* vmdef_parse's own limit on a definition's text. */
#define DB_DEFINITION_MAX	(1024 * 1024)

/*
 * Schema migrations: step N takes a database at user_version N - 1 to N.
 * A step's SQL is frozen once released (databases in the field were made
 * by it); change the schema with a new step.  Each step ends by setting
 * user_version itself, because PRAGMA takes no bound parameters and SQL is
 * never built from strings here; db_migrate checks the result.
 *
 * Version 1.  vm_runtime.state lists db.h's DB_STATE_MAP names; a new
 * state needs a step that rebuilds the table.  events.vm has no foreign
 * key so that a VM's history outlives it; AUTOINCREMENT keeps a seq from
 * ever being reused, even after old events are pruned.  The
 * application_id is DB_APPLICATION_ID ("vmmd") in decimal.
 *
 * Version 2 writes fewer pages per commit.  events.seq is a plain rowid
 * (no AUTOINCREMENT, no sqlite_sequence row to update): the next seq is
 * max(seq) + 1, so seqs only grow because the newest event is never
 * deleted (db.h).  Should a version 1 file's counter be ahead of its
 * newest event (events deleted by hand), a "db.migrate" event takes the
 * counter's seq so that none is ever handed out twice.  vm_runtime is
 * WITHOUT ROWID (one b-tree, no separate uuid index) and a VM gets its
 * row at its first db_runtime_set: no row reads as state "defined".  The
 * rows of version 1 are copied as they are.
 */
static const struct db_migration {
	int version;
	const char *sql;
} db_migrations[] = {
	{ 1,
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
	"PRAGMA user_version = 1;" },
	{ 2,
	"ALTER TABLE events RENAME TO events_v1;"
	"DROP INDEX events_vm;"
	"CREATE TABLE events ("
	"  seq INTEGER PRIMARY KEY,"
	"  time INTEGER NOT NULL,"
	"  vm TEXT,"
	"  kind TEXT NOT NULL,"
	"  who TEXT NOT NULL,"
	"  detail TEXT,"
	"  result TEXT NOT NULL);"
	"INSERT INTO events (seq, time, vm, kind, who, detail, result)"
	"  SELECT seq, time, vm, kind, who, detail, result FROM events_v1;"
	"INSERT INTO events (seq, time, vm, kind, who, detail, result)"
	"  SELECT seq, CAST((julianday('now') - 2440587.5) * 86400000"
	"    AS INTEGER), NULL, 'db.migrate', 'vmmd',"
	"    '{\"schema_version\":2}', 'ok'"
	"  FROM sqlite_sequence WHERE name = 'events_v1'"
	"    AND seq > (SELECT coalesce(max(seq), 0) FROM events);"
	"DROP TABLE events_v1;"
	"CREATE INDEX events_vm ON events (vm, seq);"
	"ALTER TABLE vm_runtime RENAME TO vm_runtime_v1;"
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
	"  updated INTEGER NOT NULL) WITHOUT ROWID;"
	"INSERT INTO vm_runtime (uuid, state, pid, socket, started_at,"
	"    exit_reason, exit_status, exit_message, restart_count, updated)"
	"  SELECT uuid, state, pid, socket, started_at, exit_reason,"
	"    exit_status, exit_message, restart_count, updated"
	"  FROM vm_runtime_v1;"
	"DROP TABLE vm_runtime_v1;"
	"PRAGMA user_version = 2;" },
	{ 3,
	"CREATE TABLE audit ("
	"  seq INTEGER PRIMARY KEY,"
	"  time INTEGER NOT NULL,"
	"  who TEXT NOT NULL,"
	"  uid INTEGER,"
	"  fingerprint TEXT,"
	"  subject TEXT,"
	"  role TEXT NOT NULL,"
	"  method TEXT NOT NULL,"
	"  params TEXT,"
	"  code INTEGER NOT NULL,"
	"  result TEXT NOT NULL);"
	"PRAGMA user_version = 3;" },
};
#define DB_NMIGRATIONS	(sizeof(db_migrations) / sizeof(db_migrations[0]))

/*
 * The columns a VM row is read with, in db_vm_row's order.  A VM without
 * a runtime row is "defined" (schema version 2).
 */
#define DB_VM_COLS	"SELECT v.uuid, v.name, v.definition, v.created, " \
	"v.updated, coalesce(r.state, 'defined') FROM vms v " \
	"LEFT JOIN vm_runtime r USING (uuid) "

/*
 * Every statement a connection uses, prepared once at open.
 * X(NAME, SQL): DB_S_NAME.
 */
#define DB_STMT_MAP(X)							\
	X(BEGIN, "BEGIN IMMEDIATE")					\
	X(COMMIT, "COMMIT")						\
	X(ROLLBACK, "ROLLBACK")						\
	X(VM_EXISTS, "SELECT 1 FROM vms WHERE uuid = ?1")		\
	X(VM_INSERT, "INSERT INTO vms (uuid, name, definition, created, " \
	    "updated) VALUES (?1, ?2, ?3, ?4, ?4)")			\
	X(VM_UPDATE, "UPDATE vms SET name = ?2, definition = ?3, "	\
	    "updated = ?4 WHERE uuid = ?1")				\
	X(VM_BY_NAME, DB_VM_COLS "WHERE v.name = ?1")			\
	X(VM_BY_UUID, DB_VM_COLS "WHERE v.uuid = ?1")			\
	X(VM_LIST, DB_VM_COLS "ORDER BY v.name")			\
	X(VM_DELETE, "DELETE FROM vms WHERE uuid = ?1")			\
	X(RT_SET, "INSERT INTO vm_runtime (uuid, state, pid, socket, "	\
	    "started_at, exit_reason, exit_status, exit_message, "	\
	    "restart_count, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, " \
	    "?8, ?9, ?10) ON CONFLICT (uuid) DO UPDATE SET "		\
	    "state = excluded.state, pid = excluded.pid, "		\
	    "socket = excluded.socket, started_at = excluded.started_at, " \
	    "exit_reason = excluded.exit_reason, "			\
	    "exit_status = excluded.exit_status, "			\
	    "exit_message = excluded.exit_message, "			\
	    "restart_count = excluded.restart_count, "			\
	    "updated = excluded.updated")				\
	X(RT_GET, "SELECT coalesce(r.state, 'defined'), r.pid, "	\
	    "r.socket, r.started_at, r.exit_reason, r.exit_status, "	\
	    "r.exit_message, coalesce(r.restart_count, 0), "		\
	    "coalesce(r.updated, 0) FROM vms v "			\
	    "LEFT JOIN vm_runtime r USING (uuid) WHERE v.uuid = ?1")	\
	X(EV_INSERT, "INSERT INTO events (time, vm, kind, who, detail, " \
	    "result) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")			\
	X(EV_SINCE, "SELECT seq, time, vm, kind, who, detail, result "	\
	    "FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")		\
	X(EV_BOUNDS, "SELECT coalesce(min(seq), 0), coalesce(max(seq), 0) " \
	    "FROM events")						\
	X(EV_PRUNE, "DELETE FROM events WHERE seq <= "			\
	    "(SELECT max(seq) FROM events) - ?1")			\
	X(AU_INSERT, "INSERT INTO audit (time, who, uid, fingerprint, "	\
	    "subject, role, method, params, code, result) VALUES (?1, ?2, " \
	    "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")				\
	X(AU_SINCE, "SELECT seq, time, who, uid, fingerprint, subject, "	\
	    "role, method, params, code, result FROM audit WHERE seq > ?1 " \
	    "ORDER BY seq LIMIT ?2")					\
	X(AU_PRUNE, "DELETE FROM audit WHERE seq <= "			\
	    "(SELECT max(seq) FROM audit) - ?1")

enum db_stmt {
#define DB_X(NAME, sql)	DB_S_##NAME,
	DB_STMT_MAP(DB_X)
#undef DB_X
	DB_S_COUNT
};

static const char *const db_stmt_sql[DB_S_COUNT] = {
#define DB_X(NAME, sql)	[DB_S_##NAME] = sql,
	DB_STMT_MAP(DB_X)
#undef DB_X
};

static const char *const db_state_names[DB_STATE_COUNT] = {
#define DB_X(NAME, name)	[DB_STATE_##NAME] = name,
	DB_STATE_MAP(DB_X)
#undef DB_X
};

struct db {
	sqlite3 *h;
	sqlite3_stmt *st[DB_S_COUNT];
	char errmsg[DB_ERRMSG_MAX];
	void (*event_fn)(void *);	/* db_event_hook */
	void *event_arg;
	/* db_audit_stage: written by the next commit, then cleared. */
	struct db_audit staged;
	char *staged_text[7];		/* the strings of staged, owned */
	bool has_staged;
};

/* -------------------------------------------------------------------------- */
/* Small helpers. */

const char *
db_state_name(enum db_state state)
{
	if ((unsigned int)state >= DB_STATE_COUNT)
		return NULL;
	return db_state_names[state];
}

int
db_state_parse(const char *name, enum db_state *state)
{
	unsigned int i;

	for (i = 0; name != NULL && i < DB_STATE_COUNT; i++) {
		if (strcmp(name, db_state_names[i]) == 0) {
			*state = (enum db_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *
db_errmsg(const struct db *db)
{
	return db->errmsg;
}

struct sqlite3 *
db_sqlite(struct db *db)
{
	return db->h;
}

static int64_t
db_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Record a reason of our own for error (a negative errno); returns it. */
static int __attribute__((format(printf, 3, 4)))
db_seterr(struct db *db, int error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(db->errmsg, sizeof(db->errmsg), fmt, ap);
	va_end(ap);
	return error;
}

/* The one translation of an SQLite result code into an errno. */
static int
db_errno(int rc)
{
	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return -EEXIST;
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		return -ENOENT;
	case SQLITE_IOERR_NOMEM:
		return -ENOMEM;
	}
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_CONSTRAINT:	/* CHECK, NOT NULL and the rest */
	case SQLITE_NOTADB:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
		return -EINVAL;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_TOOBIG:
		return -E2BIG;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	default:			/* IOERR, CORRUPT, PROTOCOL, ... */
		return -EIO;
	}
}

/* An SQLite failure rc on db: keep its message, return its errno. */
static int
db_fail(struct db *db, int rc)
{
	return db_seterr(db, db_errno(rc), "%s", sqlite3_errmsg(db->h));
}

/* Is s a canonical uuid (8-4-4-4-12, lower-case hexadecimal)? */
static bool
db_uuid_valid(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) != VMDEF_UUID_LEN)
		return false;
	for (i = 0; i < VMDEF_UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

/* Is s a string of 1..max bytes? */
static bool
db_text_valid(const char *s, size_t max)
{
	return s != NULL && s[0] != '\0' && strnlen(s, max + 1) <= max;
}

/*
 * Encode j as compact JSON of at most max bytes into *out (malloc'd, NUL
 * terminated; ours, not jansson's allocator).  Returns 0, -E2BIG or
 * -ENOMEM.
 */
static int
db_json_text(const json_t *j, size_t max, char **out)
{
	size_t len;
	char *s;

	*out = NULL;
	len = json_dumpb(j, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
	if (len == 0)
		return -ENOMEM;
	if (len > max)
		return -E2BIG;
	if ((s = malloc(len + 1)) == NULL)
		return -ENOMEM;
	if (json_dumpb(j, s, len, JSON_COMPACT | JSON_ENCODE_ANY) != len) {
		free(s);
		return -ENOMEM;
	}
	s[len] = '\0';
	*out = s;
	return 0;
}

/* -------------------------------------------------------------------------- */
/* Statements and transactions. */

/* Forget a statement's row and bindings (the bound text is borrowed). */
static void
db_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Bind text, NULL for s NULL or "". */
static int
db_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL || s[0] == '\0')
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* Bind an integer, NULL for 0 when zero_null. */
static int
db_bind_int(sqlite3_stmt *st, int i, int64_t v, bool zero_null)
{
	if (zero_null && v == 0)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_int64(st, i, v);
}

/*
 * Run a bound statement that returns no row and reset it.  Returns 0 or
 * the errno of its failure.
 */
static int
db_run(struct db *db, sqlite3_stmt *st)
{
	int rc, error;

	rc = sqlite3_step(st);
	error = rc == SQLITE_DONE ? 0 : db_fail(db, rc == SQLITE_ROW ?
	    SQLITE_MISUSE : rc);
	db_done(st);
	return error;
}

static int
db_begin(struct db *db)
{
	return db_run(db, db->st[DB_S_BEGIN]);
}

/*
 * Undo the open transaction, if any: SQLite has already rolled it back
 * after some failures (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM).  The
 * reason of the failure that led here stays in errmsg.
 */
static void
db_rollback(struct db *db)
{
	if (!sqlite3_get_autocommit(db->h)) {
		sqlite3_step(db->st[DB_S_ROLLBACK]);
		db_done(db->st[DB_S_ROLLBACK]);
	}
}

static int	db_audit_insert(struct db *, const struct db_audit *,
		    const char *);

/*
 * Commit, with the staged audit record (db_audit_stage) if any, or roll
 * back when the commit fails.
 */
static int
db_commit(struct db *db)
{
	int error = 0;

	/* A staged audit record commits with the change it describes. */
	if (db->has_staged)
		error = db_audit_insert(db, &db->staged, db->staged_text[6]);
	if (error == 0 && (error = db_run(db, db->st[DB_S_COMMIT])) == 0)
		db_audit_unstage(db);
	else
		db_rollback(db);
	return error;
}

/*
 * Copy column col of st into buf (size bytes, "" for NULL).  A longer
 * value than the schema allows means a damaged row: -EIO.
 */
static int
db_col_copy(struct db *db, sqlite3_stmt *st, int col, char *buf, size_t size)
{
	const char *s;
	size_t len;

	s = (const char *)sqlite3_column_text(st, col);
	if (s == NULL) {
		if (sqlite3_errcode(db->h) == SQLITE_NOMEM)
			return db_seterr(db, -ENOMEM, "out of memory");
		buf[0] = '\0';
		return 0;
	}
	len = (size_t)sqlite3_column_bytes(st, col);
	if (len >= size)
		return db_seterr(db, -EIO, "stored %s is too long (%zu bytes)",
		    sqlite3_column_name(st, col), len);
	memcpy(buf, s, len + 1);
	return 0;
}

/* -------------------------------------------------------------------------- */
/* Opening, checking and migrating. */

static void __attribute__((format(printf, 4, 5)))
db_report(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (errlen == 0)
		return;
	n = snprintf(err, errlen, "%s: ", path);
	if (n < 0 || (size_t)n >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

/*
 * Create path with mode 0600 if absent, or check that it is a regular
 * file and take group and other permissions away: the definitions may
 * hold secrets.  SQLite gives its -wal and -shm files the mode of the
 * database.  A symbolic link is refused (O_NOFOLLOW): the state
 * directory is root's and nothing there should point elsewhere.
 */
static int
db_create_file(const char *path, char *err, size_t errlen)
{
	struct stat sb;
	int fd, error;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
	    0600);
	if (fd == -1) {
		error = -errno;
		db_report(err, errlen, path, "%s", strerror(-error));
		return error;
	}
	error = 0;
	if (fstat(fd, &sb) == -1) {
		error = -errno;
		db_report(err, errlen, path, "%s", strerror(-error));
	} else if (!S_ISREG(sb.st_mode)) {
		error = -EINVAL;
		db_report(err, errlen, path, "not a regular file");
	} else if ((sb.st_mode & 077) != 0 &&
	    fchmod(fd, sb.st_mode & 0700) == -1) {
		error = -errno;
		db_report(err, errlen, path, "chmod: %s", strerror(-error));
	}
	close(fd);
	return error;
}

/* The integer a query (a PRAGMA, a count) returns in *v. */
static int
db_query_int(sqlite3 *h, const char *sql, int64_t *v)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(h, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE)
		rc = SQLITE_MISUSE;
	sqlite3_finalize(st);
	return rc;
}

/* An SQLite failure rc while opening path: report it, return its errno. */
static int
db_open_fail(struct db *db, int rc, const char *path, char *err,
    size_t errlen)
{
	db_report(err, errlen, path, "%s", (rc & 0xff) == SQLITE_NOTADB ?
	    "file is not a database" : sqlite3_errmsg(db->h));
	return db_errno(rc);
}

/*
 * Is this ours?  A new database is empty, with application_id and
 * user_version 0; ours carry DB_APPLICATION_ID; anything else belongs to
 * another program.  The first read is also where SQLite finds that a file
 * is not a database at all.
 */
static int
db_check_identity(struct db *db, const char *path, char *err, size_t errlen)
{
	int64_t app, ver, ntables;
	int rc;

	if ((rc = db_query_int(db->h, "PRAGMA application_id", &app)) != 0 ||
	    (rc = db_query_int(db->h, "PRAGMA user_version", &ver)) != 0 ||
	    (rc = db_query_int(db->h, "SELECT count(*) FROM sqlite_master",
	    &ntables)) != 0)
		return db_open_fail(db, rc, path, err, errlen);
	if (app != DB_APPLICATION_ID && (app != 0 || ver != 0 ||
	    ntables != 0)) {
		db_report(err, errlen, path, "not a vmmd database "
		    "(application_id %#llx, user_version %lld)",
		    (unsigned long long)app, (long long)ver);
		return -EINVAL;
	}
	if (ver > DB_SCHEMA_VERSION || ver < 0) {
		db_report(err, errlen, path, "schema version %lld is newer "
		    "than this vmmd supports (%d)", (long long)ver,
		    DB_SCHEMA_VERSION);
		return -ENOTSUP;
	}
	return 0;
}

/*
 * The connection's settings.  WAL lets readers (vmmctl's future local
 * reads, sqlite3(1)) run beside the daemon; synchronous=FULL syncs the
 * WAL at every commit, which is what makes "answered after its commit"
 * mean "on disk".  foreign_keys is per connection and off by default.
 */
static int
db_pragmas(struct db *db, const char *path, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	const char *mode;
	int64_t fk;
	int rc;

	rc = sqlite3_prepare_v2(db->h, "PRAGMA journal_mode = WAL", -1, &st,
	    NULL);
	if (rc != SQLITE_OK)
		return db_open_fail(db, rc, path, err, errlen);
	rc = sqlite3_step(st);
	mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) :
	    NULL;
	if (mode == NULL || strcmp(mode, "wal") != 0) {
		if (rc == SQLITE_ROW)
			db_report(err, errlen, path, "cannot use WAL "
			    "(journal_mode stays %s)", mode ? mode : "?");
		else
			db_open_fail(db, rc, path, err, errlen);
		sqlite3_finalize(st);
		return rc == SQLITE_ROW ? -ENOTSUP : db_errno(rc);
	}
	sqlite3_finalize(st);
	rc = sqlite3_exec(db->h, "PRAGMA synchronous = FULL;"
	    "PRAGMA foreign_keys = ON;"
	    "PRAGMA trusted_schema = OFF;", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = db_query_int(db->h, "PRAGMA foreign_keys", &fk);
	if (rc != SQLITE_OK)
		return db_open_fail(db, rc, path, err, errlen);
	if (fk != 1) {
		db_report(err, errlen, path, "SQLite without foreign keys");
		return -ENOTSUP;
	}
	return 0;
}

/*
 * Apply one migration step in its own transaction.  The version is read
 * again inside it: another process may have migrated meanwhile.
 */
static int
db_migrate_step(struct db *db, const struct db_migration *m,
    const char *path, char *err, size_t errlen)
{
	int64_t ver;
	int rc;

	rc = sqlite3_exec(db->h, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return db_open_fail(db, rc, path, err, errlen);
	rc = db_query_int(db->h, "PRAGMA user_version", &ver);
	if (rc == SQLITE_OK && ver < m->version) {
		rc = sqlite3_exec(db->h, m->sql, NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			rc = db_query_int(db->h, "PRAGMA user_version", &ver);
		/* Each step sets its own version: a slip is a bug. */
		if (rc == SQLITE_OK && ver != m->version)
			rc = SQLITE_INTERNAL;
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		db_report(err, errlen, path, "migration to schema version %d: "
		    "%s", m->version, sqlite3_errmsg(db->h));
		if (!sqlite3_get_autocommit(db->h))
			sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
		return db_errno(rc);
	}
	return 0;
}

static int
db_migrate(struct db *db, const char *path, char *err, size_t errlen)
{
	int64_t ver;
	size_t i;
	int rc, error;

	rc = db_query_int(db->h, "PRAGMA user_version", &ver);
	if (rc != SQLITE_OK)
		return db_open_fail(db, rc, path, err, errlen);
	for (i = 0; i < DB_NMIGRATIONS; i++) {
		if (db_migrations[i].version <= ver)
			continue;
		error = db_migrate_step(db, &db_migrations[i], path, err,
		    errlen);
		if (error != 0)
			return error;
	}
	return 0;
}

static int
db_prepare(struct db *db, const char *path, char *err, size_t errlen)
{
	int i, rc;

	for (i = 0; i < DB_S_COUNT; i++) {
		rc = sqlite3_prepare_v3(db->h, db_stmt_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &db->st[i], NULL);
		if (rc != SQLITE_OK)
			return db_open_fail(db, rc, path, err, errlen);
	}
	return 0;
}

int
db_open(const char *path, struct db **out, char *err, size_t errlen)
{
	struct db *db;
	int rc, error;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if ((db = calloc(1, sizeof(*db))) == NULL) {
		db_report(err, errlen, path, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	if ((error = db_create_file(path, err, errlen)) != 0)
		goto fail;
	/* One thread uses a connection: no mutex (NOMUTEX). */
	rc = sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW |
	    SQLITE_OPEN_EXRESCODE, NULL);
	if (rc != SQLITE_OK) {
		error = db->h != NULL ? db_open_fail(db, rc, path, err,
		    errlen) : -ENOMEM;
		goto fail;
	}
	sqlite3_extended_result_codes(db->h, 1);
	sqlite3_busy_timeout(db->h, DB_BUSY_TIMEOUT_MS);
	/* No writable schema, no shadow-table tricks from a crafted file. */
	sqlite3_db_config(db->h, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	if ((error = db_check_identity(db, path, err, errlen)) != 0 ||
	    (error = db_pragmas(db, path, err, errlen)) != 0 ||
	    (error = db_migrate(db, path, err, errlen)) != 0 ||
	    (error = db_prepare(db, path, err, errlen)) != 0)
		goto fail;
	*out = db;
	return 0;

fail:
	db_close(db);
	return error;
}

void
db_close(struct db *db)
{
	int i;

	if (db == NULL)
		return;
	db_audit_unstage(db);
	for (i = 0; i < DB_S_COUNT; i++)
		sqlite3_finalize(db->st[i]);
	/* The last connection checkpoints the WAL into the file. */
	sqlite3_close(db->h);
	free(db);
}

/* -------------------------------------------------------------------------- */
/* Events. */

/*
 * Insert an event, inside the caller's transaction or as its own.  The
 * arguments are db_event_append's, checked; *seq may be NULL.  The seq
 * is the new rowid, max(seq) + 1: never delete the newest event (db.h).
 */
static int
db_event_insert(struct db *db, int64_t now, const char *kind,
    const char *uuid, const char *who, const json_t *detail,
    const char *result, int64_t *seq)
{
	sqlite3_stmt *st = db->st[DB_S_EV_INSERT];
	char *text = NULL;
	int rc, error;

	if (detail != NULL &&
	    (error = db_json_text(detail, DB_DETAIL_MAX, &text)) != 0)
		return db_seterr(db, error, "event detail: %s",
		    strerror(-error));
	if ((rc = sqlite3_bind_int64(st, 1, now)) != SQLITE_OK ||
	    (rc = db_bind_text(st, 2, uuid)) != SQLITE_OK ||
	    (rc = db_bind_text(st, 3, kind)) != SQLITE_OK ||
	    (rc = db_bind_text(st, 4, who)) != SQLITE_OK ||
	    (rc = db_bind_text(st, 5, text)) != SQLITE_OK ||
	    (rc = db_bind_text(st, 6, result)) != SQLITE_OK) {
		error = db_fail(db, rc);
		db_done(st);
	} else
		error = db_run(db, st);
	if (error == 0 && seq != NULL)
		*seq = sqlite3_last_insert_rowid(db->h);
	free(text);
	return error;
}

int
db_event_append(struct db *db, const char *kind, const char *uuid,
    const char *who, const json_t *detail, const char *result, int64_t *seq)
{
	if (!db_text_valid(kind, DB_KIND_MAX) ||
	    !db_text_valid(who, DB_WHO_MAX) ||
	    !db_text_valid(result, DB_RESULT_MAX) ||
	    (uuid != NULL && !db_uuid_valid(uuid)))
		return db_seterr(db, -EINVAL, "bad event kind, uuid, "
		    "requester or result");
	/* One statement outside a transaction commits by itself. */
	return db_event_insert(db, db_now(), kind, uuid, who, detail, result,
	    seq);
}

int
db_events_since(struct db *db, int64_t seq, unsigned int limit,
    db_event_fn *fn, void *arg)
{
	sqlite3_stmt *st = db->st[DB_S_EV_SINCE];
	struct db_event ev;
	int rc = SQLITE_DONE, error = 0;

	if (limit < 1 || limit > DB_EVENTS_PAGE_MAX || seq < 0)
		return db_seterr(db, -EINVAL, "events: seq %lld, limit %u",
		    (long long)seq, limit);
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_int64(st, 2, limit);
	while (error == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		ev.seq = sqlite3_column_int64(st, 0);
		ev.time = sqlite3_column_int64(st, 1);
		ev.vm = (const char *)sqlite3_column_text(st, 2);
		ev.kind = (const char *)sqlite3_column_text(st, 3);
		ev.who = (const char *)sqlite3_column_text(st, 4);
		ev.detail = (const char *)sqlite3_column_text(st, 5);
		ev.result = (const char *)sqlite3_column_text(st, 6);
		if (ev.kind == NULL || ev.who == NULL || ev.result == NULL)
			error = db_fail(db, SQLITE_NOMEM);
		else
			error = fn(arg, &ev);
	}
	if (error == 0 && rc != SQLITE_DONE)
		error = db_fail(db, rc);
	db_done(st);
	return error;
}

int
db_events_bounds(struct db *db, int64_t *oldest, int64_t *latest)
{
	sqlite3_stmt *st = db->st[DB_S_EV_BOUNDS];
	int rc, error = 0;

	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*oldest = sqlite3_column_int64(st, 0);
		*latest = sqlite3_column_int64(st, 1);
	} else
		error = db_fail(db, rc);
	db_done(st);
	return error;
}

/* SQLite's update hook: an event row was inserted. */
static void
db_update_hook(void *arg, int op, const char *dbname, const char *table,
    sqlite3_int64 rowid)
{
	struct db *db = arg;

	if (op == SQLITE_INSERT && strcmp(table, "events") == 0)
		db->event_fn(db->event_arg);
}

void
db_event_hook(struct db *db, void (*fn)(void *), void *arg)
{
	db->event_fn = fn;
	db->event_arg = arg;
	sqlite3_update_hook(db->h, fn != NULL ? db_update_hook : NULL, db);
}

int
db_prune(struct db *db, unsigned int keep, int64_t *deleted)
{
	int error;

	*deleted = 0;
	sqlite3_bind_int64(db->st[DB_S_EV_PRUNE], 1, keep);
	if ((error = db_run(db, db->st[DB_S_EV_PRUNE])) != 0)
		return error;
	*deleted = sqlite3_changes(db->h);
	sqlite3_bind_int64(db->st[DB_S_AU_PRUNE], 1, keep);
	if ((error = db_run(db, db->st[DB_S_AU_PRUNE])) != 0)
		return error;
	*deleted += sqlite3_changes(db->h);
	return 0;
}

/* -------------------------------------------------------------------------- */
/* Audit. */

static int
db_audit_bind(sqlite3_stmt *st, int64_t now, const struct db_audit *a,
    const char *params)
{
	int rc;

	if ((rc = sqlite3_bind_int64(st, 1, now)) != SQLITE_OK ||
	    (rc = db_bind_text(st, 2, a->who)) != SQLITE_OK ||
	    (rc = a->uid < 0 ? sqlite3_bind_null(st, 3) :
	    sqlite3_bind_int64(st, 3, a->uid)) != SQLITE_OK ||
	    (rc = db_bind_text(st, 4, a->fingerprint)) != SQLITE_OK ||
	    (rc = db_bind_text(st, 5, a->subject)) != SQLITE_OK ||
	    (rc = db_bind_text(st, 6, a->role)) != SQLITE_OK ||
	    (rc = db_bind_text(st, 7, a->method)) != SQLITE_OK ||
	    (rc = db_bind_text(st, 8, params)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int(st, 9, a->code)) != SQLITE_OK)
		return rc;
	return db_bind_text(st, 10, a->result);
}

/* Insert a in the transaction under way; params as JSON text. */
static int
db_audit_insert(struct db *db, const struct db_audit *a, const char *params)
{
	sqlite3_stmt *st = db->st[DB_S_AU_INSERT];
	int rc;

	if ((rc = db_audit_bind(st, db_now(), a, params)) != SQLITE_OK) {
		db_done(st);
		return db_fail(db, rc);
	}
	return db_run(db, st);
}

static bool
db_audit_valid(const struct db_audit *a)
{
	return db_text_valid(a->who, DB_WHO_MAX) &&
	    db_text_valid(a->method, DB_KIND_MAX) &&
	    db_text_valid(a->role, DB_KIND_MAX) &&
	    db_text_valid(a->result, DB_RESULT_MAX);
}

int
db_audit_stage(struct db *db, const struct db_audit *a)
{
	const char *src[6] = { a->who, a->fingerprint, a->subject, a->role,
	    a->method, a->result };
	char **t = db->staged_text;
	int i, error;

	db_audit_unstage(db);
	if (!db_audit_valid(a))
		return db_seterr(db, -EINVAL, "bad audit record");
	for (i = 0; i < 6; i++)
		if (src[i] != NULL && (t[i] = strdup(src[i])) == NULL)
			goto nomem;
	if (a->params != NULL && (error = db_json_text(a->params,
	    DB_DETAIL_MAX, &t[6])) != 0) {
		db_audit_unstage(db);
		return db_seterr(db, error, "audit params: %s",
		    strerror(-error));
	}
	db->staged = *a;
	db->staged.who = t[0];
	db->staged.fingerprint = t[1];
	db->staged.subject = t[2];
	db->staged.role = t[3];
	db->staged.method = t[4];
	db->staged.result = t[5];
	db->staged.params = NULL;
	db->has_staged = true;
	return 0;
nomem:
	db_audit_unstage(db);
	return db_seterr(db, -ENOMEM, "out of memory");
}

bool
db_audit_unstage(struct db *db)
{
	bool was = db->has_staged;
	int i;

	for (i = 0; i < 7; i++) {
		free(db->staged_text[i]);
		db->staged_text[i] = NULL;
	}
	db->has_staged = false;
	return was;
}

int
db_audit_append(struct db *db, const struct db_audit *a, int64_t *seq)
{
	char *params = NULL;
	int error;

	if (!db_audit_valid(a))
		return db_seterr(db, -EINVAL, "bad audit record");
	if (a->params != NULL && (error = db_json_text(a->params,
	    DB_DETAIL_MAX, &params)) != 0)
		return db_seterr(db, error, "audit params: %s",
		    strerror(-error));
	/*
	 * Not synced by itself: the next commit of the database's own
	 * (synchronous = FULL) makes it durable with the WAL before it.
	 * A pragma acts when compiled, so it cannot be a prepared statement.
	 */
	(void)sqlite3_exec(db->h, "PRAGMA synchronous = NORMAL", NULL, NULL,
	    NULL);
	error = db_audit_insert(db, a, params);
	if (error == 0 && seq != NULL)
		*seq = sqlite3_last_insert_rowid(db->h);
	(void)sqlite3_exec(db->h, "PRAGMA synchronous = FULL", NULL, NULL,
	    NULL);
	free(params);
	return error;
}

int
db_audit_since(struct db *db, int64_t seq, unsigned int limit,
    db_audit_fn *fn, void *arg)
{
	sqlite3_stmt *st = db->st[DB_S_AU_SINCE];
	struct db_audit a;
	int rc = SQLITE_DONE, error = 0;

	if (limit < 1 || limit > DB_EVENTS_PAGE_MAX || seq < 0)
		return db_seterr(db, -EINVAL, "audit: seq %lld, limit %u",
		    (long long)seq, limit);
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_int64(st, 2, limit);
	while (error == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&a, 0, sizeof(a));
		a.seq = sqlite3_column_int64(st, 0);
		a.time = sqlite3_column_int64(st, 1);
		a.who = (const char *)sqlite3_column_text(st, 2);
		a.uid = sqlite3_column_type(st, 3) == SQLITE_NULL ? -1 :
		    sqlite3_column_int64(st, 3);
		a.fingerprint = (const char *)sqlite3_column_text(st, 4);
		a.subject = (const char *)sqlite3_column_text(st, 5);
		a.role = (const char *)sqlite3_column_text(st, 6);
		a.method = (const char *)sqlite3_column_text(st, 7);
		a.params_text = (const char *)sqlite3_column_text(st, 8);
		a.code = sqlite3_column_int(st, 9);
		a.result = (const char *)sqlite3_column_text(st, 10);
		if (a.who == NULL || a.role == NULL || a.method == NULL ||
		    a.result == NULL)
			error = db_fail(db, SQLITE_NOMEM);
		else
			error = fn(arg, &a);
	}
	if (error == 0 && rc != SQLITE_DONE)
		error = db_fail(db, rc);
	db_done(st);
	return error;
}

/* -------------------------------------------------------------------------- */
/* Definitions. */

void
db_vm_free(struct db_vm *vm)
{
	if (vm == NULL)
		return;
	free(vm->definition);
	memset(vm, 0, sizeof(*vm));
}

/* Does VM uuid exist?  0 and *exists, or an errno. */
static int
db_vm_exists(struct db *db, const char *uuid, bool *exists)
{
	sqlite3_stmt *st = db->st[DB_S_VM_EXISTS];
	int rc, error = 0;

	sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		*exists = rc == SQLITE_ROW;
	else
		error = db_fail(db, rc);
	db_done(st);
	return error;
}

/*
 * Write the vms row of def (text its canonical JSON): insert, or update
 * when exists.  A new VM has no runtime row ("defined") until
 * db_runtime_set.  Inside db_vm_put's transaction.
 */
static int
db_vm_write(struct db *db, const struct vmdef *def, const char *text,
    bool exists, int64_t now)
{
	sqlite3_stmt *st = db->st[exists ? DB_S_VM_UPDATE : DB_S_VM_INSERT];
	int error;

	sqlite3_bind_text(st, 1, def->uuid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, def->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	if ((error = db_run(db, st)) == -EEXIST)
		return db_seterr(db, -EEXIST, "a VM named %s already exists",
		    def->name);
	return error;
}

int
db_vm_put(struct db *db, const struct vmdef *def, bool replace,
    const char *who)
{
	json_t *j, *detail = NULL;
	char *text = NULL;
	bool exists = false;
	int64_t now;
	int error;

	if (!vmdef_name_valid(def->name) || !db_uuid_valid(def->uuid) ||
	    !db_text_valid(who, DB_WHO_MAX))
		return db_seterr(db, -EINVAL, "bad VM name, uuid or requester");
	if ((j = vmdef_encode(def)) == NULL)
		return db_seterr(db, -ENOMEM, "out of memory");
	error = db_json_text(j, DB_DEFINITION_MAX, &text);
	json_decref(j);
	if (error != 0)
		return db_seterr(db, error, "definition: %s", strerror(-error));

	if ((error = db_begin(db)) != 0)
		goto out;
	if ((error = db_vm_exists(db, def->uuid, &exists)) != 0)
		goto rollback;
	if (exists && !replace) {
		error = db_seterr(db, -EEXIST, "a VM with uuid %s already "
		    "exists", def->uuid);
		goto rollback;
	}
	now = db_now();
	if ((error = db_vm_write(db, def, text, exists, now)) != 0)
		goto rollback;
	if ((detail = json_pack("{s:s, s:b}", "name", def->name,
	    "replaced", exists)) == NULL) {
		error = db_seterr(db, -ENOMEM, "out of memory");
		goto rollback;
	}
	error = db_event_insert(db, now, "vm.define", def->uuid, who, detail,
	    "ok", NULL);
	json_decref(detail);
	if (error != 0)
		goto rollback;
	error = db_commit(db);
	goto out;

rollback:
	db_rollback(db);
out:
	free(text);
	return error;
}

/*
 * Read the current row of a DB_VM_COLS query into *vm, borrowing the
 * definition from st (valid until st moves on).
 */
static int
db_vm_row(struct db *db, sqlite3_stmt *st, struct db_vm *vm)
{
	const char *state;
	int error;

	memset(vm, 0, sizeof(*vm));
	if ((error = db_col_copy(db, st, 0, vm->uuid, sizeof(vm->uuid))) != 0 ||
	    (error = db_col_copy(db, st, 1, vm->name, sizeof(vm->name))) != 0)
		return error;
	vm->definition = (char *)(uintptr_t)sqlite3_column_text(st, 2);
	if (vm->definition == NULL)
		return db_fail(db, SQLITE_NOMEM);
	vm->created = sqlite3_column_int64(st, 3);
	vm->updated = sqlite3_column_int64(st, 4);
	state = (const char *)sqlite3_column_text(st, 5);
	if (db_state_parse(state, &vm->state) != 0)
		return db_seterr(db, -EIO, "VM %s: unknown state %s",
		    vm->name, state != NULL ? state : "NULL");
	return 0;
}

/* Decode the stored definition of vm into *def. */
static int
db_vm_decode(struct db *db, const struct db_vm *vm, struct vmdef *def)
{
	struct vmdef_errors errs = { NULL, 0 };
	int error;

	error = vmdef_parse(vm->definition, strlen(vm->definition), def,
	    &errs);
	if (error == -EINVAL)
		error = db_seterr(db, -EIO, "stored definition of %s does not "
		    "decode: %s: %s", vm->name, errs.n > 0 ? errs.v[0].path :
		    "$", errs.n > 0 ? errs.v[0].msg : "?");
	else if (error != 0)
		error = db_seterr(db, error, "%s", strerror(-error));
	vmdef_errors_free(&errs);
	if (error != 0)
		vmdef_free(def);
	return error;
}

static int
db_vm_get(struct db *db, enum db_stmt id, const char *key, struct db_vm *vm,
    struct vmdef *def)
{
	sqlite3_stmt *st = db->st[id];
	struct db_vm row;
	int rc, error;

	if (vm != NULL)
		memset(vm, 0, sizeof(*vm));
	if (def != NULL)
		memset(def, 0, sizeof(*def));
	if (key == NULL)
		return db_seterr(db, -EINVAL, "no VM name or uuid");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		error = db_seterr(db, -ENOENT, "no VM %s", key);
	else if (rc != SQLITE_ROW)
		error = db_fail(db, rc);
	else if ((error = db_vm_row(db, st, &row)) == 0 &&
	    (row.definition = strdup(row.definition)) == NULL)
		error = db_seterr(db, -ENOMEM, "out of memory");
	db_done(st);
	if (error != 0)
		return error;
	if (def != NULL && (error = db_vm_decode(db, &row, def)) != 0) {
		db_vm_free(&row);
		return error;
	}
	if (vm != NULL)
		*vm = row;
	else
		db_vm_free(&row);
	return 0;
}

int
db_vm_get_by_name(struct db *db, const char *name, struct db_vm *vm,
    struct vmdef *def)
{
	return db_vm_get(db, DB_S_VM_BY_NAME, name, vm, def);
}

int
db_vm_get_by_uuid(struct db *db, const char *uuid, struct db_vm *vm,
    struct vmdef *def)
{
	return db_vm_get(db, DB_S_VM_BY_UUID, uuid, vm, def);
}

int
db_vm_delete(struct db *db, const char *uuid, const char *who)
{
	sqlite3_stmt *st = db->st[DB_S_VM_DELETE];
	int error;

	if (!db_uuid_valid(uuid) || !db_text_valid(who, DB_WHO_MAX))
		return db_seterr(db, -EINVAL, "bad uuid or requester");
	if ((error = db_begin(db)) != 0)
		return error;
	sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
	if ((error = db_run(db, st)) != 0)
		goto rollback;
	if (sqlite3_changes(db->h) == 0) {
		error = db_seterr(db, -ENOENT, "no VM %s", uuid);
		goto rollback;
	}
	error = db_event_insert(db, db_now(), "vm.undefine", uuid, who, NULL,
	    "ok", NULL);
	if (error != 0)
		goto rollback;
	return db_commit(db);

rollback:
	db_rollback(db);
	return error;
}

int
db_vm_list(struct db *db, unsigned int states, db_vm_fn *fn, void *arg)
{
	sqlite3_stmt *st = db->st[DB_S_VM_LIST];
	struct db_vm vm;
	int rc = SQLITE_DONE, error = 0;

	/*
	 * The filter is applied here rather than in SQL: the state is text
	 * and the mask would need a CASE copy of the state list.
	 */
	while (error == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((error = db_vm_row(db, st, &vm)) != 0)
			break;
		if (states == 0 || (states & DB_STATE_BIT(vm.state)) != 0)
			error = fn(arg, &vm);
	}
	if (error == 0 && rc != SQLITE_DONE)
		error = db_fail(db, rc);
	db_done(st);
	return error;
}

/* -------------------------------------------------------------------------- */
/* Runtime state. */

int
db_runtime_set(struct db *db, const char *uuid, const struct db_runtime *rt)
{
	sqlite3_stmt *st = db->st[DB_S_RT_SET];
	bool exited;
	int rc, error;

	if (!db_uuid_valid(uuid) || db_state_name(rt->state) == NULL ||
	    rt->pid < 0 || rt->started_at < 0 ||
	    memchr(rt->socket, '\0', sizeof(rt->socket)) == NULL ||
	    memchr(rt->exit_reason, '\0', sizeof(rt->exit_reason)) == NULL ||
	    memchr(rt->exit_message, '\0', sizeof(rt->exit_message)) == NULL)
		return db_seterr(db, -EINVAL, "bad runtime state for %s",
		    uuid != NULL ? uuid : "(null)");
	exited = rt->exit_reason[0] != '\0';
	if ((rc = sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC)) ||
	    (rc = db_bind_text(st, 2, db_state_name(rt->state))) ||
	    (rc = db_bind_int(st, 3, rt->pid, true)) ||
	    (rc = db_bind_text(st, 4, rt->socket)) ||
	    (rc = db_bind_int(st, 5, rt->started_at, true)) ||
	    (rc = db_bind_text(st, 6, rt->exit_reason)) ||
	    (rc = exited ? sqlite3_bind_int(st, 7, rt->exit_status) :
	    sqlite3_bind_null(st, 7)) ||
	    (rc = db_bind_text(st, 8, exited ? rt->exit_message : NULL)) ||
	    (rc = sqlite3_bind_int64(st, 9, rt->restart_count)) ||
	    (rc = sqlite3_bind_int64(st, 10, db_now()))) {
		error = db_fail(db, rc);
		db_done(st);
		return error;
	}
	/* One statement: it commits by itself. */
	if ((error = db_run(db, st)) == -ENOENT)
		return db_seterr(db, -ENOENT, "no VM %s", uuid);
	return error;
}

int
db_runtime_get(struct db *db, const char *uuid, struct db_runtime *rt)
{
	sqlite3_stmt *st = db->st[DB_S_RT_GET];
	const char *state;
	int rc, error = 0;

	memset(rt, 0, sizeof(*rt));
	if (uuid == NULL)
		return db_seterr(db, -EINVAL, "no uuid");
	sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		error = db_seterr(db, -ENOENT, "no VM %s", uuid);
	else if (rc != SQLITE_ROW)
		error = db_fail(db, rc);
	else {
		state = (const char *)sqlite3_column_text(st, 0);
		if (db_state_parse(state, &rt->state) != 0)
			error = db_seterr(db, -EIO, "VM %s: unknown state %s",
			    uuid, state != NULL ? state : "NULL");
		rt->pid = sqlite3_column_int64(st, 1);
		rt->started_at = sqlite3_column_int64(st, 3);
		rt->exit_status = sqlite3_column_int(st, 5);
		rt->restart_count = (unsigned int)sqlite3_column_int64(st, 7);
		rt->updated = sqlite3_column_int64(st, 8);
		if (error == 0)
			error = db_col_copy(db, st, 2, rt->socket,
			    sizeof(rt->socket));
		if (error == 0)
			error = db_col_copy(db, st, 4, rt->exit_reason,
			    sizeof(rt->exit_reason));
		if (error == 0)
			error = db_col_copy(db, st, 6, rt->exit_message,
			    sizeof(rt->exit_message));
	}
	db_done(st);
	if (error != 0)
		memset(rt, 0, sizeof(*rt));
	return error;
}
