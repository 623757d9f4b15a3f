/*
 * rpc.c: the JSON-RPC 2.0 codec of the control plane.  A line reader that
 * frames the byte stream with a bounded buffer, a strict request decoder,
 * parameter schemas checked one problem per entry with a JSON path, the
 * method table and a generic dispatcher (method, role, params, handler),
 * and the compact one-line encoder.  The wire format is documented in
 * proto/PROTOCOL.md ("JSON-RPC"); keep the two in step.
 *
 * As in vmdef.c every allocation goes through jansson's allocator, so that
 * json_set_alloc_funcs covers the whole codec (the tests fail each
 * allocation in turn).
 */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jpath.h"
#include "rpc.h"
#include "vmdef.h"

/* vm.console input: base64 of at most 4096 bytes. */
#define RP_INPUT_MAX	(4096 / 3 * 4 + 4)
#define RP_STATE_MAX	16	/* vm.list state filter, bytes */
#define RP_BUF_MIN	4096	/* the reader's first buffer */

/*
 * Memory, through jansson's allocator (see the top of the file).
 */

static void *
rp_malloc(size_t n)
{
	json_malloc_t m;
	json_free_t f;

	json_get_alloc_funcs(&m, &f);
	return m(n);
}

static void
rp_free(void *p)
{
	json_malloc_t m;
	json_free_t f;

	if (p == NULL)
		return;
	json_get_alloc_funcs(&m, &f);
	f(p);
}

/* jansson's iterators take a non-const object but do not change it. */
static json_t *
rp_unconst(const json_t *j)
{
	return (json_t *)(uintptr_t)j;
}

/*
 * Codes and roles.
 */

static const struct {
	int code;
	const char *name, *message;
} rp_codes[] = {
#define RPC_X(NAME, code, name, msg)	{ (code), (name), (msg) },
	RPC_ERRNO_MAP(RPC_X)
#undef RPC_X
};

#define RP_NCODES	(sizeof(rp_codes) / sizeof(rp_codes[0]))

const char *
rpc_code_name(int code)
{
	size_t i;

	for (i = 0; i < RP_NCODES; i++)
		if (rp_codes[i].code == code)
			return rp_codes[i].name;
	return NULL;
}

const char *
rpc_code_message(int code)
{
	size_t i;

	for (i = 0; i < RP_NCODES; i++)
		if (rp_codes[i].code == code)
			return rp_codes[i].message;
	return NULL;
}

static const char *const rp_role_names[] = {
	[RPC_ROLE_READONLY] = "readonly",
	[RPC_ROLE_OPERATOR] = "operator",
	[RPC_ROLE_ADMIN] = "admin",
};

const char *
rpc_role_name(enum rpc_role role)
{
	if ((unsigned int)role >= sizeof(rp_role_names) /
	    sizeof(rp_role_names[0]))
		return NULL;
	return rp_role_names[role];
}

/*
 * Text: every path and message on the wire is printable ASCII, whatever
 * the input held (jansson's parse errors quote it).
 */

static int
rp_hexdigit(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/* Replace each byte of s outside printable ASCII by '?'. */
static void
rp_clean(char *s)
{
	for (; *s != '\0'; s++)
		if (!jpath_isprint((unsigned char)*s))
			*s = '?';
}

/*
 * Errors.
 */

void
rpc_error_clear(struct rpc_error *err)
{
	if (err == NULL)
		return;
	json_decref(err->data);
	memset(err, 0, sizeof(*err));
}

int
rpc_error_set(struct rpc_error *err, int code, json_t *data,
    const char *fmt, ...)
{
	const char *def;
	va_list ap;

	rpc_error_clear(err);
	err->code = code;
	if (data != NULL && !json_is_object(data)) {
		/* Not what the contract says: keep it, under a name. */
		data = json_pack("{s:o}", "value", data);
	}
	err->data = data;
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	} else {
		def = rpc_code_message(code);
		snprintf(err->message, sizeof(err->message), "%s",
		    def != NULL ? def : "Error");
	}
	rp_clean(err->message);
	return code;
}

/*
 * Framing.
 */

int
rpc_reader_init(struct rpc_reader *r, size_t max)
{
	memset(r, 0, sizeof(*r));
	if (max == 0)
		max = RPC_MSG_MAX_DEFAULT;
	if (max > RPC_MSG_MAX_LIMIT)
		return -EINVAL;
	r->max = max;
	return 0;
}

void
rpc_reader_free(struct rpc_reader *r)
{
	if (r == NULL)
		return;
	rp_free(r->buf);
	r->buf = NULL;
	r->len = r->cap = 0;
	r->skipping = r->done = false;
}

bool
rpc_reader_pending(const struct rpc_reader *r)
{
	return r->skipping || (r->len > 0 && !r->done);
}

/*
 * Append s[0..n) to the unfinished line; r->len + n <= r->max.  The buffer
 * doubles from RP_BUF_MIN up to max, so a slow line costs O(len) copies.
 */
static int
rp_reader_append(struct rpc_reader *r, const char *s, size_t n)
{
	size_t need = r->len + n, cap;
	char *p;

	if (need > r->cap) {
		cap = r->cap != 0 ? r->cap : RP_BUF_MIN;
		while (cap < need)
			cap *= 2;
		if (cap > r->max)
			cap = r->max;
		if ((p = rp_malloc(cap)) == NULL)
			return -ENOMEM;
		if (r->len != 0)
			memcpy(p, r->buf, r->len);
		rp_free(r->buf);
		r->buf = p;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, s, n);
	r->len = need;
	return 0;
}

/* Is a complete line blank ("" or "\r")? */
static bool
rp_blank(const char *s, size_t n)
{
	return n == 0 || (n == 1 && s[0] == '\r');
}

int
rpc_reader_feed(struct rpc_reader *r, const void *data, size_t len,
    size_t *used, struct rpc_line *line)
{
	const char *p = data, *nl;
	size_t chunk, at = 0;

	memset(line, 0, sizeof(*line));
	*used = 0;
	if (r->done) {		/* the line returned last time is gone */
		r->len = 0;
		r->done = false;
	}
	while (at < len) {
		nl = memchr(p + at, '\n', len - at);
		chunk = nl != NULL ? (size_t)(nl - (p + at)) : len - at;
		if (r->skipping) {
			at += chunk + (nl != NULL);
			r->skipping = nl == NULL;
			continue;
		}
		if (chunk > r->max - r->len) {
			/* Reported once, as soon as it is known. */
			at += chunk + (nl != NULL);
			r->len = 0;
			r->skipping = nl == NULL;
			line->kind = RPC_LINE_TOO_LONG;
			break;
		}
		if (nl == NULL) {
			if (rp_reader_append(r, p + at, chunk) != 0)
				goto nomem;
			at = len;
			break;
		}
		if (r->len == 0) {
			line->text = p + at;
			line->len = chunk;
		} else {
			if (rp_reader_append(r, p + at, chunk) != 0)
				goto nomem;
			line->text = r->buf;
			line->len = r->len;
			r->done = true;
		}
		at += chunk + 1;
		if (rp_blank(line->text, line->len)) {
			r->len = 0;
			r->done = false;
			line->text = NULL;
			line->len = 0;
			continue;
		}
		line->kind = RPC_LINE_OK;
		break;
	}
	*used = at;
	return 0;
nomem:
	*used = at;
	return -ENOMEM;
}

/*
 * Problems: the list that goes into error.data.problems, each entry
 * {"path": ..., "message": ...}.  The first RPC_PROBLEMS_MAX are kept,
 * then one notice.  An allocation failure is remembered and reported as
 * -ENOMEM at the end.
 */

struct rp_problems {
	json_t *list;
	size_t n;		/* found, kept or not */
	bool nomem;
};

static void
rp_problems_init(struct rp_problems *pb)
{
	pb->list = json_array();
	pb->n = 0;
	pb->nomem = pb->list == NULL;
}

static void
rp_problem_add(struct rp_problems *pb, const char *path, const char *msg)
{
	char p[RPC_PATH_MAX], m[RPC_TEXT_MAX];
	json_t *e;

	pb->n++;
	if (pb->nomem || pb->n > RPC_PROBLEMS_MAX + 1)
		return;
	if (pb->n == RPC_PROBLEMS_MAX + 1) {
		path = "$";
		msg = "too many problems, only the first 100 are reported";
	}
	snprintf(p, sizeof(p), "%s", path);
	snprintf(m, sizeof(m), "%s", msg);
	rp_clean(p);
	rp_clean(m);
	e = json_pack("{s:s,s:s}", "path", p, "message", m);
	if (e == NULL || json_array_append_new(pb->list, e) != 0)
		pb->nomem = true;
}

static void	rp_problem(struct rp_problems *, const char *, const char *,
		    ...) __attribute__((format(printf, 3, 4)));

static void
rp_problem(struct rp_problems *pb, const char *path, const char *fmt, ...)
{
	char msg[RPC_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rp_problem_add(pb, path, msg);
}

/*
 * Turn the problems into err (code, data {"problems": [...]}): returns 0
 * when there were none, -EINVAL, or -ENOMEM.  Consumes pb.
 */
static int
rp_problems_end(struct rp_problems *pb, int code, struct rpc_error *err)
{
	json_t *data;

	if (pb->nomem) {
		json_decref(pb->list);
		return -ENOMEM;
	}
	if (pb->n == 0) {
		json_decref(pb->list);
		return 0;
	}
	data = json_pack("{s:o}", "problems", pb->list);
	if (data == NULL)
		return -ENOMEM;
	rpc_error_set(err, code, data, NULL);
	return -EINVAL;
}

/* Paths (jpath.h): base ("$" is the whole request) followed by key. */
static void
rp_path_key(struct jpath *p, const char *base, const char *key,
    size_t len)
{
	jpath_init(p, base, RPC_PATH_MAX);
	(void)jpath_push_key(p, key, len);
}

static bool
rp_key_is(const char *key, size_t len, const char *name)
{
	return strlen(name) == len && memcmp(key, name, len) == 0;
}

/*
 * Requests.
 */

static bool
rp_valid_id(const json_t *id)
{
	return json_is_string(id) || json_is_integer(id) || json_is_null(id);
}

/* One member of a request object; reports its own problem. */
static void
rp_request_member(struct rp_problems *pb, struct rpc_request *req,
    const char *key, size_t len, json_t *v, unsigned int *seen)
{
	struct jpath path;

	rp_path_key(&path, "$", key, len);
	if (rp_key_is(key, len, "jsonrpc")) {
		*seen |= 1;
		if (!json_is_string(v) || strcmp(json_string_value(v),
		    RPC_JSONRPC) != 0 || json_string_length(v) != 3)
			rp_problem(pb, path.s, "must be \"%s\"", RPC_JSONRPC);
	} else if (rp_key_is(key, len, "method")) {
		*seen |= 2;
		if (!json_is_string(v)) {
			rp_problem(pb, path.s, "must be a string");
			return;
		}
		req->method = json_string_value(v);
		req->method_len = json_string_length(v);
	} else if (rp_key_is(key, len, "params")) {
		if (!json_is_object(v))
			rp_problem(pb, path.s, "must be an object");
		else
			req->params = v;
	} else if (rp_key_is(key, len, "id")) {
		if (!rp_valid_id(v))
			rp_problem(pb, path.s, "must be a string, an integer "
			    "or null");
		else
			req->id = v;
	} else {
		rp_problem(pb, path.s, "unknown member");
	}
}

int
rpc_request_decode(const json_t *in, struct rpc_request *req,
    struct rpc_error *err)
{
	struct rp_problems pb;
	unsigned int seen = 0;
	void *it;

	memset(req, 0, sizeof(*req));
	rp_problems_init(&pb);
	if (!json_is_object(in)) {
		rp_problem(&pb, "$", "must be an object");
		return rp_problems_end(&pb, RPC_E_INVALID_REQUEST, err);
	}
	for (it = json_object_iter(rp_unconst(in)); it != NULL;
	    it = json_object_iter_next(rp_unconst(in), it))
		rp_request_member(&pb, req, json_object_iter_key(it),
		    json_object_iter_key_len(it), json_object_iter_value(it),
		    &seen);
	if ((seen & 1) == 0)
		rp_problem(&pb, "$.jsonrpc", "required");
	if ((seen & 2) == 0)
		rp_problem(&pb, "$.method", "required");
	return rp_problems_end(&pb, RPC_E_INVALID_REQUEST, err);
}

/*
 * Parameters.
 */

/* 8-4-4-4-12 hexadecimal digits, either case. */
static bool
rp_uuid_ok(const char *s, size_t len)
{
	size_t i;

	if (len != VMDEF_UUID_LEN)
		return false;
	for (i = 0; i < len; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!rp_hexdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

static void
rp_check_string(struct rp_problems *pb, const char *path, const json_t *v,
    const struct rpc_param *f)
{
	size_t len;

	if (!json_is_string(v)) {
		rp_problem(pb, path, "must be a string");
		return;
	}
	len = json_string_length(v);
	if ((int64_t)len < f->min || (int64_t)len > f->max) {
		if (f->min == 0)
			rp_problem(pb, path, "must be at most %" PRId64
			    " bytes", f->max);
		else
			rp_problem(pb, path, "must be %" PRId64 " to %"
			    PRId64 " bytes", f->min, f->max);
	} else if (strlen(json_string_value(v)) != len) {
		rp_problem(pb, path, "must not contain \\u0000");
	}
}

/* A definition: vmdef_decode's problems, re-rooted under path. */
static void
rp_check_definition(struct rp_problems *pb, const char *path,
    const json_t *v)
{
	struct vmdef_errors errs;
	struct vmdef def;
	char full[RPC_PATH_MAX];
	size_t i;
	int rc;

	rc = vmdef_decode(v, &def, &errs);
	vmdef_free(&def);
	if (rc == -ENOMEM) {
		pb->nomem = true;
		return;
	}
	for (i = 0; rc != 0 && i < errs.n; i++) {
		/* errs.v[i].path starts with "$", the definition itself. */
		snprintf(full, sizeof(full), "%s%s", path, errs.v[i].path + 1);
		rp_problem_add(pb, full, errs.v[i].msg);
	}
	vmdef_errors_free(&errs);
}

/* One parameter's value against its row of the schema. */
static void
rp_check_value(struct rp_problems *pb, const char *path, const json_t *v,
    const struct rpc_param *f)
{
	switch (f->type) {
	case RPC_T_STRING:
		rp_check_string(pb, path, v, f);
		break;
	case RPC_T_INTEGER:
		if (!json_is_integer(v) || json_integer_value(v) < f->min ||
		    json_integer_value(v) > f->max)
			rp_problem(pb, path, "must be an integer from %" PRId64
			    " to %" PRId64, f->min, f->max);
		break;
	case RPC_T_BOOLEAN:
		if (!json_is_boolean(v))
			rp_problem(pb, path, "must be true or false");
		break;
	case RPC_T_OBJECT:
		if (!json_is_object(v))
			rp_problem(pb, path, "must be an object");
		break;
	case RPC_T_UUID:
		if (!json_is_string(v) || !rp_uuid_ok(json_string_value(v),
		    json_string_length(v)))
			rp_problem(pb, path, "must be a UUID, 8-4-4-4-12 "
			    "hexadecimal digits");
		break;
	case RPC_T_VM_NAME:
		if (!json_is_string(v))
			rp_problem(pb, path, "must be a string");
		else if (strlen(json_string_value(v)) !=
		    json_string_length(v) ||
		    !vmdef_name_valid(json_string_value(v)))
			rp_problem(pb, path, "must be 1 to 64 characters from "
			    "[A-Za-z0-9._-], starting with a letter or digit, "
			    "without \"..\"");
		break;
	case RPC_T_DEFINITION:
		rp_check_definition(pb, path, v);
		break;
	default:
		rp_problem(pb, path, "has an unknown type in the schema");
		break;
	}
}

static const struct rpc_param *
rp_param_lookup(const struct rpc_param *schema, const char *key, size_t len)
{
	for (; schema != NULL && schema->name != NULL; schema++)
		if (rp_key_is(key, len, schema->name))
			return schema;
	return NULL;
}

int
rpc_params_check(const struct rpc_param *schema, const json_t *params,
    struct rpc_error *err)
{
	const struct rpc_param *f;
	struct rp_problems pb;
	struct jpath path;
	const char *key;
	size_t len;
	void *it;

	rp_problems_init(&pb);
	for (it = json_object_iter(rp_unconst(params)); it != NULL;
	    it = json_object_iter_next(rp_unconst(params), it)) {
		key = json_object_iter_key(it);
		len = json_object_iter_key_len(it);
		rp_path_key(&path, "$.params", key, len);
		if ((f = rp_param_lookup(schema, key, len)) == NULL)
			rp_problem(&pb, path.s, "unknown parameter");
		else
			rp_check_value(&pb, path.s, json_object_iter_value(it),
			    f);
	}
	for (f = schema; f != NULL && f->name != NULL; f++) {
		if ((f->flags & RPC_P_REQUIRED) == 0 || (params != NULL &&
		    json_object_get(params, f->name) != NULL))
			continue;
		rp_path_key(&path, "$.params", f->name, strlen(f->name));
		rp_problem(&pb, path.s, "required");
	}
	return rp_problems_end(&pb, RPC_E_INVALID_PARAMS, err);
}

/*
 * The methods.  Parameter tables end with a NULL name.
 */

#define RP_END		{ NULL, RPC_T_STRING, 0, 0, 0 }
#define RP_NAME		{ "name", RPC_T_VM_NAME, RPC_P_REQUIRED, 0, 0 }

static const struct rpc_param rp_p_name[] = {
	RP_NAME,
	RP_END
};

static const struct rpc_param rp_p_define[] = {
	{ "definition", RPC_T_DEFINITION, RPC_P_REQUIRED, 0, 0 },
	{ "replace", RPC_T_BOOLEAN, 0, 0, 0 },
	RP_END
};

static const struct rpc_param rp_p_undefine[] = {
	RP_NAME,
	{ "uuid", RPC_T_UUID, 0, 0, 0 },
	RP_END
};

static const struct rpc_param rp_p_list[] = {
	{ "state", RPC_T_STRING, 0, 1, RP_STATE_MAX },
	{ "prefix", RPC_T_STRING, 0, 0, VMDEF_NAME_MAX },
	{ "autostart", RPC_T_BOOLEAN, 0, 0, 0 },
	RP_END
};

static const struct rpc_param rp_p_stop[] = {
	RP_NAME,
	{ "force", RPC_T_BOOLEAN, 0, 0, 0 },
	{ "timeout", RPC_T_INTEGER, 0, 1, VMDEF_SHUTDOWN_MAX },
	{ "wait", RPC_T_BOOLEAN, 0, 0, 0 },
	RP_END
};

/* events.list and events.subscribe: where to start, and filters. */
static const struct rpc_param rp_p_events[] = {
	{ "after", RPC_T_INTEGER, 0, 0, INT64_MAX },
	{ "limit", RPC_T_INTEGER, 0, 1, RPC_EVENTS_PAGE },
	{ "vm", RPC_T_VM_NAME, 0, 0, 0 },
	{ "kind", RPC_T_STRING, 0, 1, 63 },
	RP_END
};

static const struct rpc_param rp_p_audit[] = {
	{ "after", RPC_T_INTEGER, 0, 0, INT64_MAX },
	{ "limit", RPC_T_INTEGER, 0, 1, RPC_EVENTS_PAGE },
	RP_END
};

/* host.stop_all: the deadline of the whole host shutdown plan. */
static const struct rpc_param rp_p_stop_all[] = {
	{ "timeout", RPC_T_INTEGER, 0, 1, VMDEF_SHUTDOWN_MAX },
	RP_END
};

/* host.metrics: "prometheus" or "openmetrics", checked by its handler. */
static const struct rpc_param rp_p_metrics[] = {
	{ "format", RPC_T_STRING, 0, 1, 16 },
	RP_END
};

static const struct rpc_param rp_p_console[] = {
	RP_NAME,
	{ "input", RPC_T_STRING, 0, 1, RP_INPUT_MAX },
	RP_END
};

static const struct rpc_param rp_p_console_log[] = {
	RP_NAME,
	{ "bytes", RPC_T_INTEGER, 0, 1, VMDEF_SCROLLBACK_MAX },
	{ "follow", RPC_T_BOOLEAN, 0, 0, 0 },
	RP_END
};

const struct rpc_method rpc_methods[] = {
	{ "vm.define", RPC_ROLE_ADMIN, rp_p_define, NULL },
	{ "vm.undefine", RPC_ROLE_ADMIN, rp_p_undefine, NULL },
	{ "vm.list", RPC_ROLE_READONLY, rp_p_list, NULL },
	{ "vm.get", RPC_ROLE_READONLY, rp_p_name, NULL },
	{ "vm.info", RPC_ROLE_READONLY, rp_p_name, NULL },
	{ "vm.start", RPC_ROLE_OPERATOR, rp_p_name, NULL },
	{ "vm.stop", RPC_ROLE_OPERATOR, rp_p_stop, NULL },
	{ "vm.restart", RPC_ROLE_OPERATOR, rp_p_stop, NULL },
	{ "vm.reset", RPC_ROLE_OPERATOR, rp_p_name, NULL },
	{ "vm.pause", RPC_ROLE_OPERATOR, rp_p_name, NULL },
	{ "vm.resume", RPC_ROLE_OPERATOR, rp_p_name, NULL },
	{ "vm.console", RPC_ROLE_OPERATOR, rp_p_console, NULL },
	{ "vm.console_log", RPC_ROLE_READONLY, rp_p_console_log, NULL },
	{ "vm.stats", RPC_ROLE_READONLY, rp_p_name, NULL },
	{ "host.info", RPC_ROLE_READONLY, NULL, NULL },
	{ "host.metrics", RPC_ROLE_READONLY, rp_p_metrics, NULL },
	{ "host.stop_all", RPC_ROLE_OPERATOR, rp_p_stop_all, NULL },
	{ "daemon.version", RPC_ROLE_READONLY, NULL, NULL },
	{ "events.list", RPC_ROLE_READONLY, rp_p_events, NULL },
	{ "events.subscribe", RPC_ROLE_READONLY, rp_p_events, NULL },
	{ "audit.list", RPC_ROLE_ADMIN, rp_p_audit, NULL },
	{ NULL, RPC_ROLE_ADMIN, NULL, NULL }
};

const struct rpc_method *
rpc_method_lookup(const struct rpc_method *table, const char *name,
    size_t len)
{
	for (; table->name != NULL; table++)
		if (rp_key_is(name, len, table->name))
			return table;
	return NULL;
}

/*
 * Responses.
 */

static int	rp_reject(json_t **, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

json_t *
rpc_response_result(const json_t *id, json_t *result)
{
	if (result == NULL && (result = json_null()) == NULL)
		return NULL;
	return json_pack("{s:s,s:O?,s:o}", "jsonrpc", RPC_JSONRPC, "id",
	    rp_unconst(id), "result", result);
}

json_t *
rpc_response_error(const json_t *id, struct rpc_error *err)
{
	const char *name;
	json_t *data, *resp;
	int code = err->code;

	if ((name = rpc_code_name(code)) == NULL) {
		rpc_error_set(err, RPC_E_INTERNAL, NULL, "unknown error code "
		    "%d", code);
		code = RPC_E_INTERNAL;
		name = rpc_code_name(code);
	}
	/* data.name first, then whatever the error carries. */
	data = json_pack("{s:s}", "name", name);
	if (data == NULL || (err->data != NULL &&
	    json_object_update(data, err->data) != 0)) {
		json_decref(data);
		rpc_error_clear(err);
		return NULL;
	}
	resp = json_pack("{s:s,s:O?,s:{s:i,s:s,s:o}}", "jsonrpc", RPC_JSONRPC,
	    "id", rp_unconst(id), "error", "code", code, "message",
	    err->message, "data", data);
	rpc_error_clear(err);
	return resp;
}

json_t *
rpc_response_too_long(size_t max)
{
	json_t *resp = NULL;

	(void)rp_reject(&resp, RPC_E_INVALID_REQUEST, "must be at most %zu "
	    "bytes", max);
	return resp;
}

/*
 * Dispatch.
 */

/* The permission-denied error for role against m. */
static int
rp_denied(const struct rpc_method *m, enum rpc_role role,
    struct rpc_error *err)
{
	json_t *data;

	data = json_pack("{s:s,s:s?}", "required_role",
	    rpc_role_name(m->least_role), "your_role", rpc_role_name(role));
	if (data == NULL)
		return -ENOMEM;
	rpc_error_set(err, RPC_E_PERMISSION_DENIED, data, "%s needs the %s "
	    "role", m->name, rpc_role_name(m->least_role));
	return -EINVAL;
}

/*
 * Everything after decoding: the method, the role, the params, the
 * handler.  Returns 0 with *result (a new reference, may be NULL), the
 * RPC error code with err filled, or -ENOMEM.
 */
static int
rp_invoke(const struct rpc_method *table, enum rpc_role role,
    const struct rpc_request *req, void *ctx, json_t **result,
    struct rpc_error *err)
{
	const struct rpc_method *m;
	json_t *params, *empty = NULL;
	int rc;

	*result = NULL;
	m = rpc_method_lookup(table, req->method, req->method_len);
	if (m == NULL)
		return rpc_error_set(err, RPC_E_METHOD_NOT_FOUND, NULL, NULL);
	/* Deny by default: an unknown role is below every method. */
	if (rpc_role_name(role) == NULL || role < m->least_role)
		return (rc = rp_denied(m, role, err)) == -ENOMEM ? rc :
		    err->code;
	if ((rc = rpc_params_check(m->params, req->params, err)) != 0)
		return rc == -ENOMEM ? rc : err->code;
	if (m->handler == NULL)
		return rpc_error_set(err, RPC_E_INTERNAL, NULL, "%s is not "
		    "implemented", m->name);
	if ((params = req->params) == NULL &&
	    (params = empty = json_object()) == NULL)
		return -ENOMEM;
	rc = m->handler(ctx, params, result, err);
	json_decref(empty);
	if (rc == 0) {
		rpc_error_clear(err);
		return 0;
	}
	json_decref(*result);
	*result = NULL;
	if (err->code == 0)
		rpc_error_set(err, rc, NULL, NULL);
	return err->code;
}

/* One request of a batch, or the whole message when not a batch. */
static int
rp_dispatch_one(const struct rpc_method *table, enum rpc_role role,
    const json_t *in, void *ctx, rpc_observe_fn *observe, json_t **resp)
{
	const struct rpc_method *m;
	struct rpc_request req;
	struct rpc_error err;
	json_t *result;
	int rc;

	*resp = NULL;
	memset(&err, 0, sizeof(err));
	rc = rpc_request_decode(in, &req, &err);
	if (rc == -ENOMEM)
		return rc;
	if (rc != 0)	/* answered even without an id (JSON-RPC 2.0, 5) */
		goto error;
	rc = rp_invoke(table, role, &req, ctx, &result, &err);
	if (rc == -ENOMEM) {
		rpc_error_clear(&err);
		return rc;
	}
	if (observe != NULL && (m = rpc_method_lookup(table, req.method,
	    req.method_len)) != NULL)
		observe(ctx, m, &req, rc == 0 ? result : NULL,
		    rc == 0 ? NULL : &err);
	if (req.id == NULL) {	/* a notification is never answered */
		json_decref(result);
		rpc_error_clear(&err);
		return 0;
	}
	if (rc == 0) {
		*resp = rpc_response_result(req.id, result);
		return *resp == NULL ? -ENOMEM : 0;
	}
error:
	*resp = rpc_response_error(req.id, &err);
	return *resp == NULL ? -ENOMEM : 0;
}

/* A whole-message problem, answered with a null id. */
static int
rp_reject(json_t **resp, int code, const char *fmt, ...)
{
	char msg[RPC_TEXT_MAX];
	struct rp_problems pb;
	struct rpc_error err;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	memset(&err, 0, sizeof(err));
	rp_problems_init(&pb);
	rp_problem_add(&pb, "$", msg);
	if ((rc = rp_problems_end(&pb, code, &err)) == -ENOMEM)
		return rc;
	*resp = rpc_response_error(NULL, &err);
	return *resp == NULL ? -ENOMEM : 0;
}

static int
rp_dispatch_batch(const struct rpc_method *table, enum rpc_role role,
    const json_t *in, void *ctx, rpc_observe_fn *observe, json_t **resp)
{
	json_t *out, *one;
	size_t i, n = json_array_size(in);
	int rc;

	if (n == 0)
		return rp_reject(resp, RPC_E_INVALID_REQUEST, "must not be an "
		    "empty batch");
	if (n > RPC_BATCH_MAX)
		return rp_reject(resp, RPC_E_INVALID_REQUEST, "must have at "
		    "most %d requests", RPC_BATCH_MAX);
	if ((out = json_array()) == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		rc = rp_dispatch_one(table, role, json_array_get(in, i), ctx,
		    observe, &one);
		if (rc != 0)
			goto fail;
		if (one != NULL && json_array_append_new(out, one) != 0) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	if (json_array_size(out) == 0) {	/* notifications only */
		json_decref(out);
		out = NULL;
	}
	*resp = out;
	return 0;
fail:
	json_decref(out);
	return rc;
}

static int
rp_dispatch(const struct rpc_method *table, enum rpc_role role,
    const json_t *in, void *ctx, rpc_observe_fn *observe, json_t **resp)
{
	*resp = NULL;
	if (json_is_array(in))
		return rp_dispatch_batch(table, role, in, ctx, observe, resp);
	return rp_dispatch_one(table, role, in, ctx, observe, resp);
}

int
rpc_dispatch(const struct rpc_method *table, enum rpc_role role,
    const json_t *in, void *ctx, json_t **resp)
{
	return rp_dispatch(table, role, in, ctx, NULL, resp);
}

int
rpc_dispatch_text(const struct rpc_method *table, enum rpc_role role,
    const char *text, size_t len, void *ctx, json_t **resp)
{
	return rpc_dispatch_observed(table, role, text, len, ctx, NULL, resp);
}

int
rpc_dispatch_observed(const struct rpc_method *table, enum rpc_role role,
    const char *text, size_t len, void *ctx, rpc_observe_fn *observe,
    json_t **resp)
{
	json_error_t jerr;
	json_t *in;
	int rc;

	*resp = NULL;
	/*
	 * As in vmdef_parse: jansson reports most allocation failures of its
	 * parser with no text (and its error code unset, hence the memset).
	 */
	memset(&jerr, 0, sizeof(jerr));
	in = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
	    &jerr);
	if (in == NULL) {
		if (json_error_code(&jerr) == json_error_out_of_memory ||
		    jerr.text[0] == '\0')
			return -ENOMEM;
		return rp_reject(resp, RPC_E_PARSE, "invalid JSON at line %d "
		    "column %d: %s", jerr.line, jerr.column, jerr.text);
	}
	rc = rp_dispatch(table, role, in, ctx, observe, resp);
	json_decref(in);
	return rc;
}

/*
 * Encoding.
 */

char *
rpc_encode(const json_t *msg, size_t *len)
{
	char *text, *line;
	size_t n;

	if ((text = json_dumps(msg, JSON_COMPACT)) == NULL)
		return NULL;
	n = strlen(text);
	if ((line = rp_malloc(n + 2)) != NULL) {
		memcpy(line, text, n);
		line[n] = '\n';
		line[n + 1] = '\0';
		if (len != NULL)
			*len = n + 1;
	}
	rp_free(text);
	return line;
}

void
rpc_text_free(char *text)
{
	rp_free(text);
}
