/*
 * db.h: vmmd's state store, one SQLite file in the state directory: VM
 * definitions, their runtime state and an append-only event log with the
 * requester's identity.  See ARCHITECTURE.md section 5 ("State").
 *
 * Conventions.  Every function returns 0 or a negative errno; the reason
 * of the last failure, SQLite's message when SQLite failed, is kept for
 * db_errmsg.  SQLite's results map once, in db.c: SQLITE_FULL -ENOSPC,
 * SQLITE_IOERR -EIO, SQLITE_BUSY and SQLITE_LOCKED -EBUSY, SQLITE_NOMEM
 * -ENOMEM, a UNIQUE or PRIMARY KEY violation -EEXIST, a FOREIGN KEY one
 * -ENOENT, a CHECK or NOT NULL one -EINVAL, corruption -EIO.  Every
 * mutation has committed (synchronous=FULL: it is on disk) when the call
 * returns 0, so a caller answers its client only after the commit.
 *
 * A struct db is one connection, used by one thread (vmmd's event loop);
 * it keeps its prepared statements for its lifetime.  Times are
 * milliseconds since the Unix epoch (CLOCK_REALTIME).
 */

#ifndef VMMD_DB_H
#define VMMD_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "vmdef.h"

#define DB_SCHEMA_VERSION	3	/* the newest user_version we know */
/* PRAGMA application_id of our databases: "vmmd". */
#define DB_APPLICATION_ID	0x766d6d64
#define DB_BUSY_TIMEOUT_MS	5000
#define DB_SOCKET_MAX		107	/* sizeof(sun_path) - 1 */
#define DB_EXIT_REASON_MAX	31
#define DB_EXIT_MESSAGE_MAX	255
#define DB_KIND_MAX		63	/* event kind, bytes */
#define DB_WHO_MAX		255	/* requester identity, bytes */
#define DB_RESULT_MAX		255	/* event result, bytes */
#define DB_DETAIL_MAX		(64 * 1024) /* event detail, encoded */
#define DB_EVENTS_PAGE_MAX	1000	/* events per db_events_since */
#define DB_ERRMSG_MAX		256

/*
 * The supervisor's states (ARCHITECTURE.md section 5), in the order of
 * the state mask bits.  X(NAME, "name"): DB_STATE_NAME and the text
 * stored in vm_runtime.state (the schema's CHECK lists the same names).
 */
#define DB_STATE_MAP(X)						\
	X(DEFINED, "defined")					\
	X(STARTING, "starting")					\
	X(RUNNING, "running")					\
	X(PAUSED, "paused")					\
	X(STOPPING, "stopping")					\
	X(STOPPED, "stopped")					\
	X(CRASHED, "crashed")

enum db_state {
#define DB_X(NAME, name)	DB_STATE_##NAME,
	DB_STATE_MAP(DB_X)
#undef DB_X
	DB_STATE_COUNT
};

/* A state in db_vm_list's mask. */
#define DB_STATE_BIT(s)		(1u << (s))

/* "running" etc.; NULL for a value outside the enum. */
const char *db_state_name(enum db_state state);
/* The state named name: 0 and *state, or -EINVAL. */
int	db_state_parse(const char *name, enum db_state *state);

struct db;

/*
 * Open the database at path, creating it (mode 0600; an existing file
 * loses any group and other permissions) when absent, and bring its
 * schema up to DB_SCHEMA_VERSION, one transaction per migration step.
 * The connection uses WAL, synchronous=FULL, foreign keys and a busy
 * timeout of DB_BUSY_TIMEOUT_MS.  Refused: a path that is a symbolic link
 * or not a regular file, a file that is not an SQLite database, a
 * database of another program (-EINVAL), one whose schema is newer than
 * this code (-ENOTSUP).  Returns 0 with *out a handle for db_close, or a
 * negative errno with a one-line reason in err (errlen bytes, always
 * terminated when errlen > 0) and *out NULL.
 */
int	db_open(const char *path, struct db **out, char *err, size_t errlen);

/* Finalize the statements and close; accepts NULL. */
void	db_close(struct db *db);

/*
 * The reason for the last failure on db (SQLite's message when it came
 * from SQLite), "" when none; valid until the next call on db.
 */
const char *db_errmsg(const struct db *db);

/*
 * The SQLite connection, for tests and diagnostics only (PRAGMA queries,
 * integrity checks); the caller must not change its settings or close it.
 */
struct sqlite3 *db_sqlite(struct db *db);

/*
 * One VM as stored.  From db_vm_get_*, the caller owns definition (free
 * it with db_vm_free); in a db_vm_list callback everything is borrowed
 * and valid only during the call.
 */
struct db_vm {
	char uuid[VMDEF_UUID_LEN + 1];
	char name[VMDEF_NAME_MAX + 1];
	char *definition;	/* the canonical JSON text (vmdef_encode) */
	enum db_state state;	/* from vm_runtime */
	int64_t created, updated;
};

/* Release vm->definition and zero *vm; accepts NULL and a zeroed one. */
void	db_vm_free(struct db_vm *vm);

/*
 * Store def (valid, as from vmdef_decode) in its canonical form, with a
 * "vm.define" event for who, in one transaction.  A new uuid is in
 * state "defined"; its runtime row is written by its first
 * db_runtime_set, not here.  An existing uuid is -EEXIST unless
 * replace, when its definition (and name) are replaced and its runtime
 * state kept.  A name held by another uuid is -EEXIST.  -EINVAL for a
 * bad name, uuid or who.
 */
int	db_vm_put(struct db *db, const struct vmdef *def, bool replace,
	    const char *who);

/*
 * Look a VM up by name or by uuid.  Fills vm (when not NULL: free with
 * db_vm_free) and def (when not NULL: the stored definition decoded by
 * vmdef_parse, release with vmdef_free).  Returns 0, -ENOENT, -EIO when
 * the stored definition no longer decodes (reason in db_errmsg), or
 * another negative errno; vm and def are zeroed on failure.
 */
int	db_vm_get_by_name(struct db *db, const char *name, struct db_vm *vm,
	    struct vmdef *def);
int	db_vm_get_by_uuid(struct db *db, const char *uuid, struct db_vm *vm,
	    struct vmdef *def);

/*
 * Delete the VM uuid, its runtime row if any (ON DELETE CASCADE), and
 * log a "vm.undefine" event for who, in one transaction.  Its events
 * stay.  Returns 0, -ENOENT when there is no such VM, or an errno.
 */
int	db_vm_delete(struct db *db, const char *uuid, const char *who);

/*
 * A db_vm_list callback: 0 to go on; anything else stops the walk and is
 * what db_vm_list returns (use a negative errno).  It must not modify
 * the database nor call db_vm_list.
 */
typedef int db_vm_fn(void *arg, const struct db_vm *vm);

/*
 * Call fn for every VM whose state is in states (a mask of DB_STATE_BIT;
 * 0 means every state), ordered by name.  Returns 0, fn's non-zero
 * value, or a negative errno.
 */
int	db_vm_list(struct db *db, unsigned int states, db_vm_fn *fn,
	    void *arg);

/* A VM's runtime state, the supervisor's record. */
struct db_runtime {
	enum db_state state;
	int64_t pid;			/* 0: none */
	char socket[DB_SOCKET_MAX + 1];	/* control socket, "": none */
	int64_t started_at;		/* 0: never started */
	char exit_reason[DB_EXIT_REASON_MAX + 1];	/* "": no exit yet */
	int exit_status;
	char exit_message[DB_EXIT_MESSAGE_MAX + 1];
	unsigned int restart_count;
	int64_t updated;		/* set by db_runtime_set */
};

/*
 * Write the runtime state of VM uuid (rt->updated is ignored and set to
 * now).  Returns 0, -ENOENT when there is no such VM, -EINVAL for a state
 * outside the enum or a string without its terminator, or an errno.
 */
int	db_runtime_set(struct db *db, const char *uuid,
	    const struct db_runtime *rt);

/*
 * Read it: 0 and *rt, -ENOENT when there is no such VM, or an errno.  A
 * VM never given a runtime state reads as a zeroed struct in state
 * "defined" (updated 0).
 */
int	db_runtime_get(struct db *db, const char *uuid,
	    struct db_runtime *rt);

/*
 * Append an event: kind ("vm.start"), the VM's uuid (NULL for none), the
 * requester's identity who, detail (borrowed; NULL for none; stored as
 * compact JSON of at most DB_DETAIL_MAX bytes) and result ("ok", or an
 * error).  Returns 0 with *seq (when not NULL) its sequence number, which
 * is larger than any before it, or an errno.
 *
 * The sequence number is the events table's rowid (no AUTOINCREMENT):
 * the next one is the largest stored plus one.  So seqs only grow as long
 * as the newest event is never deleted.  Nothing deletes events today;
 * any future pruning must keep the newest event.
 */
int	db_event_append(struct db *db, const char *kind, const char *uuid,
	    const char *who, const json_t *detail, const char *result,
	    int64_t *seq);

/* One event, borrowed for the duration of a db_events_since callback. */
struct db_event {
	int64_t seq;
	int64_t time;
	const char *vm;		/* NULL for none */
	const char *kind;
	const char *who;
	const char *detail;	/* JSON text, NULL for none */
	const char *result;
};

/* As db_vm_fn: 0 goes on, anything else stops and is returned. */
typedef int db_event_fn(void *arg, const struct db_event *ev);

/*
 * Call fn for the events after seq (0: from the first), oldest first, at
 * most limit of them (1..DB_EVENTS_PAGE_MAX, else -EINVAL).  The next
 * page starts after the last seq seen.  Returns 0, fn's non-zero value or
 * a negative errno.  fn must not modify the database.
 */
int	db_events_since(struct db *db, int64_t seq, unsigned int limit,
	    db_event_fn *fn, void *arg);

/* The oldest and newest event's seq (0 and 0: none).  0 or an errno. */
int	db_events_bounds(struct db *db, int64_t *oldest, int64_t *latest);

/*
 * Call fn(arg) whenever an event row is inserted, from inside the
 * statement (its transaction is not committed yet: fn must only take
 * note, e.g. schedule work for the loop's next turn).  NULL: none.
 */
void	db_event_hook(struct db *db, void (*fn)(void *), void *arg);

/*
 * Keep the newest keep events and the newest keep audit records, delete
 * the older ones; *deleted is how many went.  The newest of each is never
 * deleted, so sequence numbers keep growing.  0 or an errno.
 */
int	db_prune(struct db *db, unsigned int keep, int64_t *deleted);

/*
 * One audit record: a call to a method that changes something (or that
 * the caller's role does not allow), by whom, and how it ended.  Strings
 * borrowed.  uid is -1 over TLS; fingerprint and subject NULL on a UNIX
 * socket.  params (borrowed) is stored as compact JSON; reading gives
 * params_text instead.  result is "ok" or the error's message, code 0 or
 * the RPC error code.
 */
struct db_audit {
	int64_t seq;
	int64_t time;
	const char *who;
	int64_t uid;
	const char *fingerprint;
	const char *subject;
	const char *role;
	const char *method;
	const json_t *params;		/* db_audit_append */
	const char *params_text;	/* db_audit_since */
	int code;
	const char *result;
};

/*
 * Append a record, *seq (when not NULL) its sequence number.  It is
 * committed without a sync of its own: the database's next synced commit
 * (every other write is synchronous = FULL) or checkpoint makes it
 * durable, so a power loss may cost the last records, a crash of vmmd
 * none.  0 or an errno.
 */
int	db_audit_append(struct db *db, const struct db_audit *a, int64_t *seq);

/*
 * Stage a record (copied) for the next commit of a change: it is
 * inserted in that change's transaction, so the change and its record
 * are durable together, with no sync of their own.  db_audit_unstage
 * drops it and returns whether it was still staged, i.e. false when a
 * commit took it.  One at a time: staging again replaces it.  0 or an
 * errno.
 */
int	db_audit_stage(struct db *db, const struct db_audit *a);
bool	db_audit_unstage(struct db *db);

typedef int db_audit_fn(void *arg, const struct db_audit *a);

/* As db_events_since, for the audit records. */
int	db_audit_since(struct db *db, int64_t seq, unsigned int limit,
	    db_audit_fn *fn, void *arg);

#endif /* VMMD_DB_H */
