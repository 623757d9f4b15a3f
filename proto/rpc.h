/*
 * rpc.h: the control-plane RPC contract, JSON-RPC 2.0 with one JSON text
 * per line.  The line reader (framing), the strict request decoder, the
 * parameter schemas, the method table with each method's least role, the
 * generic dispatcher and the response encoder.  Shared by vmmd, vmmctl and
 * the tests; no I/O, no printing.  The wire format is in proto/PROTOCOL.md
 * ("JSON-RPC"); keep the two in step.
 */

#ifndef PROTO_RPC_H
#define PROTO_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define RPC_API_VERSION		1	/* bumped on incompatible changes */
#define RPC_JSONRPC		"2.0"
#define RPC_MSG_MAX_DEFAULT	(1024 * 1024)	/* bytes per line */
#define RPC_MSG_MAX_LIMIT	(64 * 1024 * 1024)	/* the largest max */
#define RPC_BATCH_MAX		256	/* requests in one batch */
#define RPC_PROBLEMS_MAX	100	/* reported, then one notice */
#define RPC_PATH_MAX		160	/* bytes of a problem's path, NUL too */
#define RPC_TEXT_MAX		160	/* bytes of a message, NUL too */
#define RPC_EVENTS_PAGE		1000	/* events.list, audit.list: at most */

/*
 * Error codes: the JSON-RPC 2.0 ones (section 5.1) and ours.  Each row is
 * X(NAME, code, name, message): RPC_E_NAME, the number on the wire, the
 * name in error.data.name and the default error.message.
 */
#define RPC_ERRNO_MAP(X)						\
	X(PARSE, -32700, "parse_error", "Parse error")			\
	X(INVALID_REQUEST, -32600, "invalid_request", "Invalid Request") \
	X(METHOD_NOT_FOUND, -32601, "method_not_found", "Method not found") \
	X(INVALID_PARAMS, -32602, "invalid_params", "Invalid params")	\
	X(INTERNAL, -32603, "internal_error", "Internal error")		\
	X(NOT_FOUND, -32001, "not_found", "Not found")			\
	X(ALREADY_EXISTS, -32002, "already_exists", "Already exists")	\
	X(INVALID_STATE, -32003, "invalid_state", "Invalid state")	\
	X(PERMISSION_DENIED, -32004, "permission_denied", "Permission denied") \
	X(RESOURCE_LIMIT, -32005, "resource_limit", "Resource limit")	\
	X(BUSY, -32006, "busy", "Busy")					\
	X(FAILED, -32007, "failed", "Operation failed")

enum rpc_code {
#define RPC_X(NAME, code, name, msg)	RPC_E_##NAME = (code),
	RPC_ERRNO_MAP(RPC_X)
#undef RPC_X
};

/* The name and default message of a code; NULL for an unknown code. */
const char *rpc_code_name(int code);
const char *rpc_code_message(int code);

/* Roles, from the transport only; each includes the ones before it. */
enum rpc_role {
	RPC_ROLE_READONLY,
	RPC_ROLE_OPERATOR,
	RPC_ROLE_ADMIN,
};

/* "readonly", "operator", "admin"; NULL for anything else. */
const char *rpc_role_name(enum rpc_role role);

/*
 * An error on its way to the wire.  message is printable ASCII; data, when
 * not NULL, is an object owned by the error (rpc_error_clear releases it).
 * A zeroed struct is "no error".
 */
struct rpc_error {
	int code;			/* RPC_E_*, or 0 */
	char message[RPC_TEXT_MAX];
	json_t *data;
};

/*
 * Fill err: code, data (an object whose reference is stolen, even on
 * failure; may be NULL) and a message from fmt (NULL: the code's default).
 * Releases what err held before.  Returns code, so that a handler can end
 * with `return rpc_error_set(err, RPC_E_NOT_FOUND, NULL, "no VM %s", n);`.
 */
int	rpc_error_set(struct rpc_error *err, int code, json_t *data,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void	rpc_error_clear(struct rpc_error *err);

/*
 * Framing.  A reader splits a byte stream into lines of at most max bytes
 * (the newline not counted).  It keeps at most max bytes of an unfinished
 * line; a longer line gives one RPC_LINE_TOO_LONG when its max + 1st byte
 * arrives, then the reader drops bytes up to the next newline.  Empty lines
 * (also "\r" alone) are skipped.
 */
struct rpc_reader {
	char *buf;		/* the unfinished line, jansson's allocator */
	size_t len, cap;
	size_t max;
	bool skipping;		/* inside a line already reported too long */
	bool done;		/* buf holds the line last returned */
};

enum rpc_line_kind {
	RPC_LINE_NONE,		/* all input used, no complete line yet */
	RPC_LINE_OK,		/* text, len: one line without its newline */
	RPC_LINE_TOO_LONG,	/* a line over max: answer rpc_too_long */
};

struct rpc_line {
	enum rpc_line_kind kind;
	const char *text;	/* valid until the next call on the reader */
	size_t len;
};

/* max 0 means RPC_MSG_MAX_DEFAULT; returns 0 or -EINVAL (max too big). */
int	rpc_reader_init(struct rpc_reader *r, size_t max);
void	rpc_reader_free(struct rpc_reader *r);	/* accepts a zeroed one */

/*
 * Consume input from data[0..len) up to the first event, which is stored
 * in *line; *used says how many bytes were consumed.  Call again with the
 * rest while len - *used > 0 or the event is not RPC_LINE_NONE.  The text
 * of a line points into data or into the reader.  Returns 0, or -ENOMEM
 * with *used the bytes consumed before the failure: the reader stays
 * consistent and the rest may be fed again (or the connection dropped).
 */
int	rpc_reader_feed(struct rpc_reader *r, const void *data, size_t len,
	    size_t *used, struct rpc_line *line);

/* Is a line in progress (an unfinished request at end of input)? */
bool	rpc_reader_pending(const struct rpc_reader *r);

/*
 * Parameter schemas.  A method's params are a table of these, ended by a
 * NULL name; params not in the table are refused.  NULL as a table means
 * no parameters.
 */
enum rpc_type {
	RPC_T_STRING,		/* UTF-8 without NUL, min..max bytes */
	RPC_T_INTEGER,		/* a JSON integer in min..max */
	RPC_T_BOOLEAN,
	RPC_T_OBJECT,		/* any object, checked by the handler */
	RPC_T_UUID,		/* 8-4-4-4-12 hexadecimal digits */
	RPC_T_VM_NAME,		/* vmdef_name_valid */
	RPC_T_DEFINITION,	/* a whole VM definition, vmdef_decode */
};

#define RPC_P_REQUIRED	0x1

struct rpc_param {
	const char *name;
	enum rpc_type type;
	unsigned int flags;	/* RPC_P_* */
	int64_t min, max;	/* integer range; string length in bytes */
};

/*
 * A method's handler.  ctx is the caller's of rpc_dispatch; params is the
 * validated params object (borrowed, an empty object when absent; a
 * definition in it still has to be decoded with vmdef_decode, which cannot
 * fail then but for memory).  Returns 0 with *result a new reference (NULL
 * means a null result), or the RPC_E_* code after filling err (see
 * rpc_error_set).
 */
typedef int rpc_handler_fn(void *ctx, json_t *params, json_t **result,
    struct rpc_error *err);

struct rpc_method {
	const char *name;
	enum rpc_role least_role;
	const struct rpc_param *params;
	rpc_handler_fn *handler;	/* NULL: answered "not implemented" */
};

/*
 * The methods of the control plane, ended by a NULL name, without
 * handlers: vmmd copies the table and binds its handlers by name.
 */
extern const struct rpc_method rpc_methods[];

/* The row of table named name (len bytes), or NULL. */
const struct rpc_method *rpc_method_lookup(const struct rpc_method *table,
	    const char *name, size_t len);

/*
 * A decoded request.  The pointers borrow from the json_t it came from.
 */
struct rpc_request {
	const json_t *id;	/* NULL for a notification */
	const char *method;
	size_t method_len;
	json_t *params;		/* NULL when absent */
};

/*
 * Decode one request object strictly: "jsonrpc" is "2.0", "method" a
 * string, "params" an object or absent, "id" a string, an integer or null
 * or absent, nothing else.  Returns 0 with *req filled, -EINVAL with err
 * an invalid-request error listing every problem, or -ENOMEM.  req->id is
 * the id whenever it is valid, even when the request is not, so that the
 * error can be answered to it.
 */
int	rpc_request_decode(const json_t *in, struct rpc_request *req,
	    struct rpc_error *err);

/*
 * Check params (NULL: absent) against a schema.  Returns 0, -EINVAL with
 * err an invalid-params error whose data.problems lists each problem with
 * its path ($.params.NAME...), or -ENOMEM.
 */
int	rpc_params_check(const struct rpc_param *schema, const json_t *params,
	    struct rpc_error *err);

/*
 * Answer one JSON text (a request or a batch) for a caller of role:
 * decode, look the method up in table, check the role (deny by default),
 * the params, then call the handler with ctx.  Returns 0 with *resp a new
 * reference to the response (an object, or an array for a batch), or NULL
 * when there is nothing to send (notifications only); or -ENOMEM.
 */
int	rpc_dispatch(const struct rpc_method *table, enum rpc_role role,
	    const json_t *in, void *ctx, json_t **resp);

/*
 * The same from one line of text as given by the reader: a text that is
 * not JSON gets a parse error.
 */
int	rpc_dispatch_text(const struct rpc_method *table, enum rpc_role role,
	    const char *text, size_t len, void *ctx, json_t **resp);

/*
 * Told of each request that named a method of the table, once it is
 * answered: with its result (borrowed; a handler's deferred-reply marker
 * included) or the error that answers it (borrowed; the role and params
 * checks' too).  Notifications included.  For audit and metrics.
 */
typedef void rpc_observe_fn(void *ctx, const struct rpc_method *m,
    const struct rpc_request *req, const json_t *result,
    const struct rpc_error *err);

/* rpc_dispatch_text, calling observe (NULL: none) for each request. */
int	rpc_dispatch_observed(const struct rpc_method *table,
	    enum rpc_role role, const char *text, size_t len, void *ctx,
	    rpc_observe_fn *observe, json_t **resp);

/*
 * Responses, new references or NULL when out of memory.  id is borrowed
 * (NULL: null).  rpc_response_result steals result (NULL: null) and
 * rpc_response_error takes err's data, leaving err cleared.
 */
json_t	*rpc_response_result(const json_t *id, json_t *result);
json_t	*rpc_response_error(const json_t *id, struct rpc_error *err);

/* The invalid-request response to a line over max bytes. */
json_t	*rpc_response_too_long(size_t max);

/*
 * A message as one line: compact JSON and a newline, in memory from
 * jansson's allocator (free with rpc_text_free); NULL when out of memory.
 * jansson escapes control characters inside strings, so the newline is
 * the only one.
 */
char	*rpc_encode(const json_t *msg, size_t *len);
void	rpc_text_free(char *text);

#endif /* PROTO_RPC_H */
