/*
 * test_rpc.c: the JSON-RPC codec (proto/rpc.c).  Framing (table-driven,
 * every split of the input, the size limit at and past its edge, resync),
 * request decoding and dispatch with exact responses (table-driven: each
 * invalid-request form, duplicate keys, wrong types, params, handler
 * errors, batches), the role check of every method generated from the
 * method table, a randomized property loop over generated requests and
 * batches (RPC_SEED replays it) and every allocation failure.  No KVM.
 */

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "testutil.h"
#include <jansson.h>

#include "rpc.h"
#include "vmdef.h"

#define PROP_ITERS	3000
#define NMETHODS	64
#define UUID1		"5f0c1e2a-8b3d-4c6e-9f10-a1b2c3d4e5f6"
#define NAME_RULE_C							\
	"must be 1 to 64 characters from [A-Za-z0-9._-], starting with a " \
	"letter or digit, without \"..\""

/* -------------------------------------------------------------------------- */
/* Helpers. */

/*
 * JSON written with ' for " and ` for ', in a buffer the caller frees.
 */
static char *
sq(const char *s)
{
	char *t, *p;

	t = strdup(s);
	assert_non_null(t);
	for (p = t; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
		else if (*p == '`')
			*p = '\'';
	return t;
}

static char *
repeat(char c, size_t n)
{
	char *s;

	s = malloc(n + 1);
	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* The test's own handlers: what the request asks for by its name param. */
struct calls {
	int n;
};

static int
test_handler(void *ctx, json_t *params, json_t **result,
    struct rpc_error *err)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	struct calls *c = ctx;

	if (c != NULL)
		c->n++;
	if (name != NULL && strcmp(name, "missing") == 0)
		return rpc_error_set(err, RPC_E_NOT_FOUND, json_pack("{s:s}",
		    "vm", name), "no VM named %s", name);
	if (name != NULL && strcmp(name, "busy") == 0)
		return RPC_E_BUSY;
	if (name != NULL && strcmp(name, "weird") == 0)
		return 12345;
	*result = json_pack("{s:O}", "params", params);
	return 0;
}

static struct rpc_method table[NMETHODS];

/* rpc_methods with test_handler bound to every row. */
static const struct rpc_method *
bound_table(void)
{
	size_t i;

	for (i = 0; rpc_methods[i].name != NULL; i++) {
		assert_true(i + 1 < NMETHODS);
		table[i] = rpc_methods[i];
		table[i].handler = test_handler;
	}
	table[i] = rpc_methods[i];
	return table;
}

/* The response to text as one encoded line ("" for none), to be freed. */
static char *
answer(const struct rpc_method *tab, enum rpc_role role, const char *text,
    struct calls *calls)
{
	json_t *resp = NULL;
	char *line, *out;

	assert_int_equal(rpc_dispatch_text(tab, role, text, strlen(text),
	    calls, &resp), 0);
	if (resp == NULL)
		return strdup("");
	line = rpc_encode(resp, NULL);
	assert_non_null(line);
	json_decref(resp);
	out = strdup(line);
	rpc_text_free(line);
	return out;
}

/* -------------------------------------------------------------------------- */
/* Codes and roles. */

static void
test_codes(void **state)
{
	static const struct {
		int code;
		const char *name;
	} want[] = {
		{ -32700, "parse_error" }, { -32600, "invalid_request" },
		{ -32601, "method_not_found" }, { -32602, "invalid_params" },
		{ -32603, "internal_error" }, { -32001, "not_found" },
		{ -32002, "already_exists" }, { -32003, "invalid_state" },
		{ -32004, "permission_denied" }, { -32005, "resource_limit" },
		{ -32006, "busy" }, { -32007, "failed" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_string_equal(rpc_code_name(want[i].code), want[i].name);
		assert_non_null(rpc_code_message(want[i].code));
	}
	assert_int_equal(RPC_E_BUSY, -32006);
	assert_null(rpc_code_name(0));
	assert_null(rpc_code_message(-32000));
	assert_string_equal(rpc_role_name(RPC_ROLE_READONLY), "readonly");
	assert_string_equal(rpc_role_name(RPC_ROLE_OPERATOR), "operator");
	assert_string_equal(rpc_role_name(RPC_ROLE_ADMIN), "admin");
	assert_null(rpc_role_name((enum rpc_role)3));
	assert_null(rpc_role_name((enum rpc_role)-1));
}

/* -------------------------------------------------------------------------- */
/* Framing. */

/*
 * Feed input in chunks of step bytes (0: all at once) and describe the
 * events: "L:text;" for a line, "T;" for a line too long.  Returns the
 * description (freed by the caller); *pending is rpc_reader_pending after.
 */
static char *
frame(size_t max, const char *input, size_t len, size_t step, bool *pending)
{
	struct rpc_reader r;
	struct rpc_line line;
	size_t at = 0, chunk, used, olen = 0, cap = len * 2 + 64;
	char *out;

	out = malloc(cap);
	assert_non_null(out);
	out[0] = '\0';
	assert_int_equal(rpc_reader_init(&r, max), 0);
	while (at < len) {
		chunk = step == 0 || step > len - at ? len - at : step;
		while (chunk > 0) {
			assert_int_equal(rpc_reader_feed(&r, input + at, chunk,
			    &used, &line), 0);
			assert_true(used <= chunk);
			at += used;
			chunk -= used;
			assert_true(r.cap <= r.max);
			if (line.kind == RPC_LINE_NONE) {
				assert_int_equal(chunk, 0);
			} else if (line.kind == RPC_LINE_TOO_LONG) {
				olen += (size_t)snprintf(out + olen, cap - olen,
				    "T;");
			} else {
				assert_int_equal(line.kind, RPC_LINE_OK);
				assert_true(line.len <= r.max);
				assert_null(memchr(line.text, '\n', line.len));
				olen += (size_t)snprintf(out + olen, cap - olen,
				    "L:%.*s;", (int)line.len, line.text);
			}
		}
	}
	*pending = rpc_reader_pending(&r);
	rpc_reader_free(&r);
	return out;
}

static void
test_framing_table(void **state)
{
	static const struct {
		size_t max;
		const char *in, *want;
		bool pending;
	} cases[] = {
		{ 8, "", "", false },
		{ 8, "a\n", "L:a;", false },
		{ 8, "a\nbb\nccc\n", "L:a;L:bb;L:ccc;", false },
		{ 8, "12345678\n", "L:12345678;", false },	/* max ok */
		{ 8, "123456789\nok\n", "T;L:ok;", false },	/* max + 1 */
		{ 8, "123456789abcdefghij\nok\n", "T;L:ok;", false },
		{ 8, "123456789abc", "T;", true },		/* skipping */
		{ 8, "a\n123456789\n12345678\n", "L:a;T;L:12345678;", false },
		{ 8, "\n\r\n\n\na\n\n", "L:a;", false },	/* blank */
		{ 8, "a\r\n", "L:a\r;", false },		/* JSON space */
		{ 8, "1234567\r\n", "L:1234567\r;", false },
		{ 8, "12345678\r\n", "T;", false },		/* \r counts */
		{ 8, "abc", "", true },				/* unfinished */
		{ 8, "abc\nde", "L:abc;", true },
		{ 1, "x\nxy\nz\n", "L:x;T;L:z;", false },
	};
	size_t i, step, len;
	bool pending;
	char *got;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = strlen(cases[i].in);
		/* Every chunk size gives the same events. */
		for (step = 0; step <= len + 1; step++) {
			got = frame(cases[i].max, cases[i].in, len, step,
			    &pending);
			if (strcmp(got, cases[i].want) != 0 ||
			    pending != cases[i].pending)
				fail_msg("case %zu step %zu: got \"%s\" "
				    "pending %d, want \"%s\" pending %d", i,
				    step, got, pending, cases[i].want,
				    cases[i].pending);
			free(got);
		}
	}
}

/* The default limit, 1 MiB: exactly that is a line, one byte more is not. */
static void
test_framing_default_max(void **state)
{
	size_t n = RPC_MSG_MAX_DEFAULT, steps[] = { 0, 1000, 65536 }, i;
	struct rpc_reader r;
	char *in, *got, *want;
	bool pending;

	(void)state;
	assert_int_equal(rpc_reader_init(&r, 0), 0);
	assert_int_equal(r.max, RPC_MSG_MAX_DEFAULT);
	rpc_reader_free(&r);
	assert_int_equal(rpc_reader_init(&r, RPC_MSG_MAX_LIMIT + 1), -EINVAL);
	rpc_reader_free(&r);

	in = repeat('x', 2 * n + 10);
	in[n] = '\n';			/* a line of exactly n bytes */
	in[2 * n + 2] = '\n';		/* then one of n + 1 */
	memcpy(in + 2 * n + 3, "ok\n", 3);
	in[2 * n + 6] = '\0';
	want = malloc(n + 32);
	assert_non_null(want);
	snprintf(want, n + 32, "L:%.*s;T;L:ok;", (int)n, in);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		got = frame(0, in, 2 * n + 6, steps[i], &pending);
		assert_true(strcmp(got, want) == 0);
		assert_false(pending);
		free(got);
	}
	free(want);
	free(in);
}

/*
 * A client that never sends a newline costs at most max bytes of buffer,
 * and one error.
 */
static void
test_framing_bounded(void **state)
{
	struct rpc_reader r;
	struct rpc_line line;
	char chunk[4096];
	size_t used, total, errors = 0;

	(void)state;
	memset(chunk, '[', sizeof(chunk));
	assert_int_equal(rpc_reader_init(&r, 10000), 0);
	for (total = 0; total < 16 * 1024 * 1024; total += sizeof(chunk)) {
		assert_int_equal(rpc_reader_feed(&r, chunk, sizeof(chunk),
		    &used, &line), 0);
		assert_int_equal(used, sizeof(chunk));
		errors += line.kind == RPC_LINE_TOO_LONG;
		assert_true(r.cap <= 10000);
	}
	assert_int_equal(errors, 1);
	assert_true(rpc_reader_pending(&r));
	assert_int_equal(rpc_reader_feed(&r, "x\n{}\n", 5, &used, &line), 0);
	assert_int_equal(line.kind, RPC_LINE_OK);
	assert_int_equal(line.len, 2);
	assert_memory_equal(line.text, "{}", 2);
	assert_int_equal(used, 5);
	rpc_reader_free(&r);
	rpc_reader_free(&r);	/* twice is fine */
}

/* -------------------------------------------------------------------------- */
/* Dispatch, table-driven: the exact response line to each input. */

#define R	"{'jsonrpc':'2.0',"
#define ERR(id, code, msg, data)					\
	R "'id':" id ",'error':{'code':" code ",'message':'" msg	\
	"','data':{" data "}}}"
#define INVREQ(id, problems)						\
	ERR(id, "-32600", "Invalid Request",				\
	    "'name':'invalid_request','problems':[" problems "]")
#define INVPAR(id, problems)						\
	ERR(id, "-32602", "Invalid params",				\
	    "'name':'invalid_params','problems':[" problems "]")
#define P(path, msg)	"{'path':'" path "','message':'" msg "'}"
#define OK(id, params)	R "'id':" id ",'result':{'params':" params "}}"
#define NAME_RULE							\
	"must be 1 to 64 characters from [A-Za-z0-9._-], starting with a " \
	"letter or digit, without \\'..\\'"
#define DEF_OK		"{'name':'a','os':{'kernel':'/k'}}"

struct dcase {
	const char *in;		/* ' for " */
	const char *want;	/* the response line, "" for none */
	int role;		/* RPC_ROLE_* + 1; 0 means admin */
};

static const struct dcase dcases[] = {
	/* Valid requests, each id form. */
	{ R "'id':1,'method':'vm.start','params':{'name':'web1'}}",
	  OK("1", "{'name':'web1'}"), 0 },
	{ R "'id':'x','method':'vm.get','params':{'name':'w'}}",
	  OK("'x'", "{'name':'w'}"), 0 },
	{ R "'id':null,'method':'host.info'}", OK("null", "{}"), 0 },
	{ R "'id':-9223372036854775808,'method':'host.info','params':{}}",
	  OK("-9223372036854775808", "{}"), 0 },
	{ "{'id':2,'params':{},'method':'daemon.version','jsonrpc':'2.0'}",
	  OK("2", "{}"), 0 },
	/* Notifications: never answered, whatever happens. */
	{ R "'method':'vm.start','params':{'name':'web1'}}", "", 0 },
	{ R "'method':'nope'}", "", 0 },
	{ R "'method':'vm.start','params':{'name':1}}", "", 0 },
	{ R "'method':'vm.define','params':{'definition':{}}}", "",
	  1 + RPC_ROLE_READONLY },
	{ R "'method':'vm.get','params':{'name':'missing'}}", "", 0 },
	/* Parse errors. */
	{ "not json", ERR("null", "-32700", "Parse error",
	  "'name':'parse_error','problems':[" P("$", "invalid JSON at line 1 "
	  "column 3: invalid token near `not`") "]"), 0 },
	{ "{", ERR("null", "-32700", "Parse error",
	  "'name':'parse_error','problems':[" P("$", "invalid JSON at line 1 "
	  "column 1: string or `}` expected near end of file") "]"), 0 },
	{ "{'a':1,'a':2}", ERR("null", "-32700", "Parse error",
	  "'name':'parse_error','problems':[" P("$", "invalid JSON at line 1 "
	  "column 10: duplicate object key near `\\'a\\'`")
	  "]"), 0 },
	{ R "'id':1,'method':'vm.get','params':{'name':'a','name':'b'}}",
	  ERR("null", "-32700", "Parse error",
	  "'name':'parse_error','problems':[" P("$", "invalid JSON at line 1 "
	  "column 69: duplicate object key near `\\'name\\'`")
	  "]"), 0 },
	{ R "'id':1,'method':'vm.get','params':{'name':'a\\u0000'}}",
	  ERR("null", "-32700", "Parse error",
	  "'name':'parse_error','problems':[" P("$", "invalid JSON at line 1 "
	  "column 68: \\\\u0000 is not allowed without JSON_ALLOW_NUL near "
	  "`\\'a\\\\u0000\\'`")
	  "]"), 0 },
	/* Invalid requests: answered even without an id. */
	{ "1", INVREQ("null", P("$", "must be an object")), 0 },
	{ "'x'", INVREQ("null", P("$", "must be an object")), 0 },
	{ "null", INVREQ("null", P("$", "must be an object")), 0 },
	{ "{}", INVREQ("null", P("$.jsonrpc", "required") ","
	  P("$.method", "required")), 0 },
	{ "{'jsonrpc':'2.0','id':1}", INVREQ("1", P("$.method", "required")),
	  0 },
	{ "{'method':'host.info','id':1}",
	  INVREQ("1", P("$.jsonrpc", "required")), 0 },
	{ "{'jsonrpc':'1.0','method':'host.info','id':1}",
	  INVREQ("1", P("$.jsonrpc", "must be \\'2.0\\'")), 0 },
	{ "{'jsonrpc':2.0,'method':'host.info','id':1}",
	  INVREQ("1", P("$.jsonrpc", "must be \\'2.0\\'")), 0 },
	{ "{'jsonrpc':'2.0 ','method':'host.info'}",
	  INVREQ("null", P("$.jsonrpc", "must be \\'2.0\\'")), 0 },
	{ R "'method':1,'id':1}", INVREQ("1", P("$.method",
	  "must be a string")), 0 },
	{ R "'method':null,'id':1}", INVREQ("1", P("$.method",
	  "must be a string")), 0 },
	{ R "'method':'host.info','params':[],'id':1}",
	  INVREQ("1", P("$.params", "must be an object")), 0 },
	{ R "'method':'host.info','params':null,'id':1}",
	  INVREQ("1", P("$.params", "must be an object")), 0 },
	{ R "'method':'host.info','params':'x','id':1}",
	  INVREQ("1", P("$.params", "must be an object")), 0 },
	{ R "'method':'host.info','id':1.5}", INVREQ("null", P("$.id",
	  "must be a string, an integer or null")), 0 },
	{ R "'method':'host.info','id':[1]}", INVREQ("null", P("$.id",
	  "must be a string, an integer or null")), 0 },
	{ R "'method':'host.info','id':true}", INVREQ("null", P("$.id",
	  "must be a string, an integer or null")), 0 },
	{ R "'method':'host.info','id':1,'extra':0}",
	  INVREQ("1", P("$.extra", "unknown member")), 0 },
	{ R "'method':'host.info','id':1,'a b':0}",
	  INVREQ("1", P("$[\\'a b\\']", "unknown member")), 0 },
	{ "{'jsonrpc':'1','id':{},'method':3,'params':1,'x':1}",
	  INVREQ("null", P("$.jsonrpc", "must be \\'2.0\\'") ","
	  P("$.id", "must be a string, an integer or null") ","
	  P("$.method", "must be a string") ","
	  P("$.params", "must be an object") ","
	  P("$.x", "unknown member")), 0 },
	/* Methods. */
	{ R "'id':1,'method':'nope'}", ERR("1", "-32601", "Method not found",
	  "'name':'method_not_found'"), 0 },
	{ R "'id':1,'method':''}", ERR("1", "-32601", "Method not found",
	  "'name':'method_not_found'"), 0 },
	{ R "'id':1,'method':'VM.START','params':{'name':'a'}}",
	  ERR("1", "-32601", "Method not found",
	  "'name':'method_not_found'"), 0 },
	{ R "'id':1,'method':'vm.start ','params':{'name':'a'}}",
	  ERR("1", "-32601", "Method not found",
	  "'name':'method_not_found'"), 0 },
	/* Roles: checked before the params. */
	{ R "'id':1,'method':'vm.start','params':{'bad':1}}",
	  ERR("1", "-32004", "vm.start needs the operator role",
	  "'name':'permission_denied','required_role':'operator',"
	  "'your_role':'readonly'"), 1 + RPC_ROLE_READONLY },
	{ R "'id':1,'method':'vm.define','params':{}}",
	  ERR("1", "-32004", "vm.define needs the admin role",
	  "'name':'permission_denied','required_role':'admin',"
	  "'your_role':'operator'"), 1 + RPC_ROLE_OPERATOR },
	/* Params. */
	{ R "'id':1,'method':'vm.get'}", INVPAR("1", P("$.params.name",
	  "required")), 0 },
	{ R "'id':1,'method':'vm.get','params':{}}", INVPAR("1",
	  P("$.params.name", "required")), 0 },
	{ R "'id':1,'method':'host.info','params':{'x':1}}", INVPAR("1",
	  P("$.params.x", "unknown parameter")), 0 },
	{ R "'id':1,'method':'vm.get','params':{'name':1}}", INVPAR("1",
	  P("$.params.name", "must be a string")), 0 },
	{ R "'id':1,'method':'vm.get','params':{'name':'a..b'}}",
	  INVPAR("1", P("$.params.name", NAME_RULE)), 0 },
	{ R "'id':1,'method':'vm.get','params':{'name':'../etc'}}",
	  INVPAR("1", P("$.params.name", NAME_RULE)), 0 },
	{ R "'id':1,'method':'vm.get','params':{'name':''}}",
	  INVPAR("1", P("$.params.name", NAME_RULE)), 0 },
	{ R "'id':1,'method':'vm.stop','params':{'name':'a','force':1,"
	  "'timeout':0,'z z':1,'\\u00e9':2}}", INVPAR("1",
	  P("$.params.force", "must be true or false") ","
	  P("$.params.timeout", "must be an integer from 1 to 3600") ","
	  P("$.params[\\'z z\\']", "unknown parameter") ","
	  P("$.params[\\'\\\\xc3\\\\xa9\\']", "unknown parameter")), 0 },
	{ R "'id':1,'method':'vm.stop','params':{'name':'a','timeout':3601}}",
	  INVPAR("1", P("$.params.timeout",
	  "must be an integer from 1 to 3600")), 0 },
	{ R "'id':1,'method':'vm.stop','params':{'name':'a','timeout':1.0}}",
	  INVPAR("1", P("$.params.timeout",
	  "must be an integer from 1 to 3600")), 0 },
	{ R "'id':1,'method':'vm.stop','params':{'name':'a','timeout':'1'}}",
	  INVPAR("1", P("$.params.timeout",
	  "must be an integer from 1 to 3600")), 0 },
	{ R "'id':1,'method':'vm.stop','params':{'name':'a','timeout':1,"
	  "'force':false}}", OK("1", "{'name':'a','timeout':1,'force':false}"),
	  0 },
	{ R "'id':1,'method':'vm.stop','params':{'name':'a','timeout':3600}}",
	  OK("1", "{'name':'a','timeout':3600}"), 0 },
	{ R "'id':1,'method':'vm.stop','params':{'force':null}}", INVPAR("1",
	  P("$.params.force", "must be true or false") ","
	  P("$.params.name", "required")), 0 },
	{ R "'id':1,'method':'vm.list','params':{'state':'','prefix':"
	  "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'"
	  "}}", INVPAR("1", P("$.params.state", "must be 1 to 16 bytes") ","
	  P("$.params.prefix", "must be at most 64 bytes")), 0 },
	{ R "'id':1,'method':'vm.list','params':{'state':'0123456789abcdef',"
	  "'prefix':''}}", OK("1", "{'state':'0123456789abcdef','prefix':''}"),
	  0 },
	{ R "'id':1,'method':'vm.undefine','params':{'name':'a','uuid':"
	  "'5F0C1E2A-8B3D-4C6E-9F10-A1B2C3D4E5F6'}}", OK("1", "{'name':'a',"
	  "'uuid':'5F0C1E2A-8B3D-4C6E-9F10-A1B2C3D4E5F6'}"), 0 },
	{ R "'id':1,'method':'vm.undefine','params':{'uuid':"
	  "'5f0c1e2a-8b3d-4c6e-9f10-a1b2c3d4e5f'}}", INVPAR("1",
	  P("$.params.uuid", "must be a UUID, 8-4-4-4-12 hexadecimal digits")
	  "," P("$.params.name", "required")), 0 },
	{ R "'id':1,'method':'vm.undefine','params':{'name':'a','uuid':"
	  "'5f0c1e2a+8b3d-4c6e-9f10-a1b2c3d4e5f6'}}", INVPAR("1",
	  P("$.params.uuid", "must be a UUID, 8-4-4-4-12 hexadecimal digits")),
	  0 },
	{ R "'id':1,'method':'vm.console_log','params':{'name':'a','bytes':0,"
	  "'follow':'yes'}}", INVPAR("1", P("$.params.bytes",
	  "must be an integer from 1 to 16777216") "," P("$.params.follow",
	  "must be true or false")), 0 },
	/* A definition: vmdef's problems under $.params.definition. */
	{ R "'id':1,'method':'vm.define','params':{'definition':" DEF_OK "}}",
	  OK("1", "{'definition':" DEF_OK "}"), 0 },
	{ R "'id':1,'method':'vm.define','params':{'definition':[]}}",
	  INVPAR("1", P("$.params.definition", "must be an object")), 0 },
	{ R "'id':1,'method':'vm.define','params':{'replace':true,"
	  "'definition':{'name':'a..b','os':{},'memory':{'size_mib':0},"
	  "'devices':{'disks':[{'path':'/d'},{'bogus':1}]}}}}", INVPAR("1",
	  P("$.params.definition.name", NAME_RULE) ","
	  P("$.params.definition.os.kernel", "required") ","
	  P("$.params.definition.memory.size_mib",
	  "must be an integer from 1 to 1048576") ","
	  P("$.params.definition.devices.disks[1].bogus", "unknown key") ","
	  P("$.params.definition.devices.disks[1].path", "required")), 0 },
	{ R "'id':1,'method':'vm.define','params':{'replace':1}}",
	  INVPAR("1", P("$.params.replace", "must be true or false") ","
	  P("$.params.definition", "required")), 0 },
	/* Handler errors. */
	{ R "'id':1,'method':'vm.get','params':{'name':'missing'}}",
	  ERR("1", "-32001", "no VM named missing",
	  "'name':'not_found','vm':'missing'"), 0 },
	{ R "'id':1,'method':'vm.start','params':{'name':'busy'}}",
	  ERR("1", "-32006", "Busy", "'name':'busy'"), 0 },
	{ R "'id':1,'method':'vm.start','params':{'name':'weird'}}",
	  ERR("1", "-32603", "unknown error code 12345",
	  "'name':'internal_error'"), 0 },
	/* Batches. */
	{ "[]", INVREQ("null", P("$", "must not be an empty batch")), 0 },
	{ "[1]", "[" INVREQ("null", P("$", "must be an object")) "]", 0 },
	{ "[[]]", "[" INVREQ("null", P("$", "must be an object")) "]", 0 },
	{ "[" R "'method':'host.info'}," R "'method':'x'}]", "", 0 },
	{ "[" R "'id':1,'method':'host.info'}," R "'method':'host.info'},"
	  "{'id':2}," R "'id':3,'method':'nope'}," R "'id':4,"
	  "'method':'vm.get','params':{'name':1}},{'a':1,'a':2}]",
	  ERR("null", "-32700", "Parse error", "'name':'parse_error',"
	  "'problems':[" P("$", "invalid JSON at line 1 column 209: duplicate "
	  "object key near `\\'a\\'`") "]"), 0 },
	{ "[" R "'id':1,'method':'host.info'}," R "'method':'host.info'},"
	  "{'id':2}," R "'id':3,'method':'nope'}," R "'id':4,"
	  "'method':'vm.get','params':{'name':1}},5]", "[" OK("1", "{}") ","
	  INVREQ("2", P("$.jsonrpc", "required") "," P("$.method", "required"))
	  "," ERR("3", "-32601", "Method not found",
	  "'name':'method_not_found'") "," INVPAR("4", P("$.params.name",
	  "must be a string")) "," INVREQ("null", P("$", "must be an object"))
	  "]", 0 },
};

static void
test_dispatch_table(void **state)
{
	const struct rpc_method *tab = bound_table();
	enum rpc_role role;
	char *in, *want, *got;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(dcases) / sizeof(dcases[0]); i++) {
		role = dcases[i].role == 0 ? RPC_ROLE_ADMIN :
		    (enum rpc_role)(dcases[i].role - 1);
		in = sq(dcases[i].in);
		want = sq(dcases[i].want);
		got = answer(tab, role, in, NULL);
		if (want[0] != '\0') {
			want = realloc(want, strlen(want) + 2);
			assert_non_null(want);
			strcat(want, "\n");
		}
		if (strcmp(got, want) != 0)
			fail_msg("case %zu: %s\n got: %s\nwant: %s", i, in,
			    got, want);
		free(in);
		free(want);
		free(got);
	}
}

/* The handler runs for a notification too, and once per batch entry. */
static void
test_dispatch_calls(void **state)
{
	const struct rpc_method *tab = bound_table();
	struct calls calls = { 0 };
	char *in, *got;

	(void)state;
	in = sq("[" R "'method':'host.info'}," R "'id':1,'method':'vm.stop',"
	    "'params':{'name':'a'}}," R "'method':'vm.stop','params':{}}]");
	got = answer(tab, RPC_ROLE_OPERATOR, in, &calls);
	assert_int_equal(calls.n, 2);
	free(got);
	free(in);
	/* The bare table has no handlers: "not implemented". */
	in = sq(R "'id':1,'method':'vm.start','params':{'name':'a'}}");
	got = answer(rpc_methods, RPC_ROLE_ADMIN, in, NULL);
	free(in);
	in = sq(ERR("1", "-32603", "vm.start is not implemented",
	    "'name':'internal_error'") "\n");
	assert_string_equal(got, in);
	free(in);
	free(got);
}

/* Batches at the limit and past it. */
static void
test_dispatch_batch_limit(void **state)
{
	const struct rpc_method *tab = bound_table();
	json_t *in, *resp, *req, *want;
	size_t i;

	(void)state;
	in = json_array();
	for (i = 0; i < RPC_BATCH_MAX; i++) {
		req = json_pack("{s:s,s:i,s:s}", "jsonrpc", "2.0", "id",
		    (int)i, "method", "daemon.version");
		json_array_append_new(in, req);
	}
	assert_int_equal(rpc_dispatch(tab, RPC_ROLE_READONLY, in, NULL, &resp),
	    0);
	assert_true(json_is_array(resp));
	assert_int_equal(json_array_size(resp), RPC_BATCH_MAX);
	for (i = 0; i < RPC_BATCH_MAX; i++)
		assert_int_equal(json_integer_value(json_object_get(
		    json_array_get(resp, i), "id")), i);
	json_decref(resp);
	json_array_append_new(in, json_pack("{s:s,s:s}", "jsonrpc", "2.0",
	    "method", "daemon.version"));
	assert_int_equal(rpc_dispatch(tab, RPC_ROLE_READONLY, in, NULL, &resp),
	    0);
	want = json_pack("{s:s,s:n,s:{s:i,s:s,s:{s:s,s:[{s:s,s:s}]}}}",
	    "jsonrpc", "2.0", "id", "error", "code", -32600, "message",
	    "Invalid Request", "data", "name", "invalid_request", "problems",
	    "path", "$", "message", "must have at most 256 requests");
	assert_true(json_equal(resp, want));
	json_decref(want);
	json_decref(resp);
	json_decref(in);
}

/* The answer to an oversized line, and the encoder's single newline. */
static void
test_too_long_and_encode(void **state)
{
	json_t *resp, *msg;
	char *text, *want;
	size_t len;

	(void)state;
	resp = rpc_response_too_long(RPC_MSG_MAX_DEFAULT);
	text = rpc_encode(resp, &len);
	want = sq(INVREQ("null", P("$", "must be at most 1048576 bytes"))
	    "\n");
	assert_string_equal(text, want);
	assert_int_equal(len, strlen(want));
	free(want);
	rpc_text_free(text);
	json_decref(resp);

	msg = json_pack("{s:s}", "s", "a\nb\r\x01\xc3\xa9\"");
	text = rpc_encode(msg, &len);
	assert_string_equal(text, "{\"s\":\"a\\nb\\r\\u0001\xc3\xa9\\\"\"}\n");
	rpc_text_free(text);
	json_decref(msg);
}

/* Strings with NUL cannot come from text; they can from a json_t. */
static void
test_params_nul(void **state)
{
	static const struct rpc_param schema[] = {
		{ "s", RPC_T_STRING, RPC_P_REQUIRED, 0, 8 },
		{ "n", RPC_T_VM_NAME, 0, 0, 0 },
		{ "o", RPC_T_OBJECT, 0, 0, 0 },
		{ NULL, RPC_T_STRING, 0, 0, 0 },
	};
	struct rpc_error err = { 0 };
	json_t *params, *want;

	(void)state;
	params = json_pack("{s:s#,s:s#,s:i}", "s", "a\0b", (size_t)3, "n",
	    "ab\0", (size_t)3, "o", 1);
	assert_int_equal(rpc_params_check(schema, params, &err), -EINVAL);
	assert_int_equal(err.code, RPC_E_INVALID_PARAMS);
	want = json_pack("{s:[{s:s,s:s},{s:s,s:s},{s:s,s:s}]}", "problems",
	    "path", "$.params.s", "message", "must not contain \\u0000",
	    "path", "$.params.n", "message", NAME_RULE_C,
	    "path", "$.params.o", "message", "must be an object");
	assert_true(json_equal(err.data, want));
	json_decref(want);
	json_decref(params);
	rpc_error_clear(&err);
	/* Absent params against a schema with a required one. */
	assert_int_equal(rpc_params_check(schema, NULL, &err), -EINVAL);
	rpc_error_clear(&err);
	assert_int_equal(rpc_params_check(NULL, NULL, &err), 0);
	assert_int_equal(err.code, 0);
}

/* -------------------------------------------------------------------------- */
/* Roles, generated from the method table. */

/* The least role of each method, as PROTOCOL.md documents it. */
static const struct {
	const char *name;
	enum rpc_role role;
} doc_roles[] = {
	{ "vm.define", RPC_ROLE_ADMIN }, { "vm.undefine", RPC_ROLE_ADMIN },
	{ "vm.list", RPC_ROLE_READONLY }, { "vm.get", RPC_ROLE_READONLY },
	{ "vm.info", RPC_ROLE_READONLY }, { "vm.start", RPC_ROLE_OPERATOR },
	{ "vm.stop", RPC_ROLE_OPERATOR }, { "vm.restart", RPC_ROLE_OPERATOR },
	{ "vm.reset", RPC_ROLE_OPERATOR }, { "vm.pause", RPC_ROLE_OPERATOR },
	{ "vm.resume", RPC_ROLE_OPERATOR }, { "vm.console", RPC_ROLE_OPERATOR },
	{ "vm.console_log", RPC_ROLE_READONLY },
	{ "vm.stats", RPC_ROLE_READONLY }, { "host.info", RPC_ROLE_READONLY },
	{ "host.metrics", RPC_ROLE_READONLY },
	{ "host.stop_all", RPC_ROLE_OPERATOR },
	{ "daemon.version", RPC_ROLE_READONLY },
	{ "events.list", RPC_ROLE_READONLY },
	{ "events.subscribe", RPC_ROLE_READONLY },
	{ "audit.list", RPC_ROLE_ADMIN },
};

#define NDOC	(sizeof(doc_roles) / sizeof(doc_roles[0]))

/* A valid value for a parameter (a new reference). */
static json_t *
valid_value(const struct rpc_param *p)
{
	json_t *v;
	char *s;

	switch (p->type) {
	case RPC_T_STRING:
		s = repeat('s', (size_t)(p->min > 0 ? p->min : 1));
		v = json_string(s);
		free(s);
		return v;
	case RPC_T_INTEGER:
		return json_integer(p->max);
	case RPC_T_BOOLEAN:
		return json_true();
	case RPC_T_OBJECT:
		return json_object();
	case RPC_T_UUID:
		return json_string(UUID1);
	case RPC_T_VM_NAME:
		return json_string("vm-1.a_b");
	case RPC_T_DEFINITION:
		return json_pack("{s:s,s:{s:s}}", "name", "a", "os", "kernel",
		    "/k");
	}
	return NULL;
}

/* Valid params for a method: its required ones, or all with all true. */
static json_t *
valid_params(const struct rpc_method *m, bool all)
{
	const struct rpc_param *p;
	json_t *params = json_object();

	for (p = m->params; p != NULL && p->name != NULL; p++)
		if (all || (p->flags & RPC_P_REQUIRED) != 0)
			json_object_set_new(params, p->name, valid_value(p));
	return params;
}

static void
test_roles(void **state)
{
	const struct rpc_method *tab = bound_table(), *m;
	static const int roles[] = { RPC_ROLE_READONLY, RPC_ROLE_OPERATOR,
	    RPC_ROLE_ADMIN, 3, -1 };
	json_t *req, *resp, *want;
	size_t i, n = 0, r;
	bool allowed;

	(void)state;
	for (m = rpc_methods; m->name != NULL; m++, n++) {
		for (i = 0; i < NDOC; i++)
			if (strcmp(doc_roles[i].name, m->name) == 0)
				break;
		if (i == NDOC)
			fail_msg("%s is not documented", m->name);
		assert_int_equal(m->least_role, doc_roles[i].role);
		assert_null(m->handler);
		assert_ptr_equal(rpc_method_lookup(rpc_methods, m->name,
		    strlen(m->name)), m);
		for (r = 0; r < sizeof(roles) / sizeof(roles[0]); r++) {
			req = json_pack("{s:s,s:i,s:s,s:o}", "jsonrpc", "2.0",
			    "id", 7, "method", m->name, "params",
			    valid_params(m, r % 2 == 0));
			assert_int_equal(rpc_dispatch(tab,
			    (enum rpc_role)roles[r], req, NULL, &resp), 0);
			allowed = roles[r] >= (int)m->least_role &&
			    roles[r] <= RPC_ROLE_ADMIN;
			if (allowed) {
				want = json_pack("{s:s,s:i,s:{s:O}}", "jsonrpc",
				    "2.0", "id", 7, "result", "params",
				    json_object_get(req, "params"));
			} else {
				want = json_pack("{s:s,s:i,s:{s:i,s:o,s:{s:s,"
				    "s:s,s:s?}}}", "jsonrpc", "2.0", "id", 7,
				    "error", "code", -32004, "message",
				    json_sprintf("%s needs the %s role",
				    m->name, rpc_role_name(m->least_role)),
				    "data", "name", "permission_denied",
				    "required_role",
				    rpc_role_name(m->least_role), "your_role",
				    rpc_role_name((enum rpc_role)roles[r]));
			}
			if (!json_equal(resp, want)) {
				char *g = json_dumps(resp, JSON_COMPACT);

				fail_msg("%s as role %d: %s", m->name,
				    roles[r], g);
			}
			json_decref(want);
			json_decref(resp);
			json_decref(req);
		}
	}
	assert_int_equal(n, NDOC);
	assert_null(rpc_method_lookup(rpc_methods, "vm.start", 3));
	assert_null(rpc_method_lookup(rpc_methods, "vm.startx", 9));
}

/* -------------------------------------------------------------------------- */
/* The property loop. */

static uint64_t rng_state;

static uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

/* What one generated request must get. */
struct expect {
	bool notify;
	json_t *id;		/* borrowed from the request */
	bool denied;
	json_t *paths;		/* expected problem paths, sorted; or NULL */
	json_t *params;		/* borrowed: the echo */
};

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The sorted paths of a list of {path, message} (or strings), as text. */
static char *
sorted_paths(const json_t *list)
{
	const char *v[RPC_PROBLEMS_MAX + 1];
	size_t n = json_array_size(list), i, len = 0;
	char *out;

	assert_true(n <= RPC_PROBLEMS_MAX);
	for (i = 0; i < n; i++) {
		const json_t *e = json_array_get(list, i);

		v[i] = json_is_string(e) ? json_string_value(e) :
		    json_string_value(json_object_get(e, "path"));
		assert_non_null(v[i]);
		len += strlen(v[i]) + 1;
	}
	qsort(v, n, sizeof(v[0]), cmp_str);
	out = malloc(len + 1);
	assert_non_null(out);
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		strcat(out, v[i]);
		strcat(out, ";");
	}
	return out;
}

/* A random request, with what it must get as role. */
static json_t *
gen_request(enum rpc_role role, struct expect *ex)
{
	const struct rpc_method *m;
	const struct rpc_param *p;
	json_t *req, *params;
	size_t n, k, i;
	char key[32];

	for (n = 0; rpc_methods[n].name != NULL; n++)
		;
	m = &rpc_methods[rng() % n];
	params = valid_params(m, rng() % 2);
	memset(ex, 0, sizeof(*ex));
	ex->paths = json_array();
	k = rng() % 3;
	for (i = 0; i < k; i++) {
		p = m->params;
		if (p != NULL && p->name != NULL &&
		    json_array_size(ex->paths) != 0 && rng() % 2 == 0)
			continue;	/* at most one change to the first */
		switch (i == 0 ? rng() % 3 : 0) {
		case 0:		/* an unknown parameter */
			snprintf(key, sizeof(key), "zz%zu", i);
			json_object_set_new(params, key, json_integer(1));
			json_array_append_new(ex->paths, json_sprintf(
			    "$.params.%s", key));
			break;
		case 1:		/* a wrong type */
			if (p == NULL || p->name == NULL ||
			    json_object_get(params, p->name) == NULL)
				break;
			json_object_set_new(params, p->name, json_array());
			json_array_append_new(ex->paths, json_sprintf(
			    "$.params.%s", p->name));
			break;
		default:	/* a required one missing */
			if (p == NULL || p->name == NULL ||
			    (p->flags & RPC_P_REQUIRED) == 0 ||
			    json_object_get(params, p->name) == NULL)
				break;
			json_object_del(params, p->name);
			json_array_append_new(ex->paths, json_sprintf(
			    "$.params.%s", p->name));
			break;
		}
	}
	req = json_pack("{s:s,s:s,s:o}", "jsonrpc", "2.0", "method", m->name,
	    "params", params);
	switch (rng() % 4) {
	case 0:
		ex->notify = true;
		break;
	case 1:
		json_object_set_new(req, "id", json_integer((json_int_t)rng()));
		break;
	case 2:
		json_object_set_new(req, "id", json_sprintf("r%u",
		    (unsigned int)rng()));
		break;
	default:
		json_object_set_new(req, "id", json_null());
		break;
	}
	ex->id = json_object_get(req, "id");
	ex->params = params;
	ex->denied = role < m->least_role;
	return req;
}

static void
check_answer(const json_t *resp, const struct expect *ex, const char *text)
{
	const json_t *err;
	char *got, *want;

	assert_true(json_equal(json_object_get(resp, "id"), ex->id));
	err = json_object_get(resp, "error");
	if (ex->denied) {
		assert_int_equal(json_integer_value(json_object_get(err,
		    "code")), RPC_E_PERMISSION_DENIED);
		return;
	}
	if (json_array_size(ex->paths) == 0) {
		if (err != NULL)
			fail_msg("%s: unexpected error", text);
		assert_true(json_equal(json_object_get(json_object_get(resp,
		    "result"), "params"), ex->params));
		return;
	}
	assert_int_equal(json_integer_value(json_object_get(err, "code")),
	    RPC_E_INVALID_PARAMS);
	got = sorted_paths(json_object_get(json_object_get(err, "data"),
	    "problems"));
	want = sorted_paths(ex->paths);
	if (strcmp(got, want) != 0)
		fail_msg("%s: problems at %s, want %s", text, got, want);
	free(got);
	free(want);
}

/* One iteration: a request or a batch, framed, dispatched, checked. */
static void
prop_once(const struct rpc_method *tab)
{
	struct expect ex[4];
	struct rpc_reader r;
	struct rpc_line line;
	json_t *msg, *resp;
	size_t n, i, j, len, at, used, chunk, lines = 0;
	enum rpc_role role = (enum rpc_role)(rng() % 3);
	bool batch = rng() % 2;
	char *text, *framed;

	n = batch ? 1 + rng() % 4 : 1;
	msg = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(msg, gen_request(role, &ex[i]));
	text = json_dumps(batch ? msg : json_array_get(msg, 0), JSON_COMPACT);
	assert_non_null(text);
	len = strlen(text);
	/* Blank lines around it, fed in random chunks. */
	framed = malloc(len + 4);
	assert_non_null(framed);
	memcpy(framed, "\n", 1);
	memcpy(framed + 1, text, len);
	memcpy(framed + 1 + len, "\n\r\n", 3);
	assert_int_equal(rpc_reader_init(&r, len + rng() % 2), 0);
	for (at = 0; at < len + 4; ) {
		chunk = 1 + rng() % (len + 4 - at);
		assert_int_equal(rpc_reader_feed(&r, framed + at, chunk, &used,
		    &line), 0);
		at += used;
		if (line.kind == RPC_LINE_NONE)
			continue;
		assert_int_equal(line.kind, RPC_LINE_OK);
		assert_int_equal(line.len, len);
		assert_memory_equal(line.text, text, len);
		lines++;
		assert_int_equal(rpc_dispatch_text(tab, role, line.text,
		    line.len, NULL, &resp), 0);
		if (!batch) {
			if (ex[0].notify)
				assert_null(resp);
			else
				check_answer(resp, &ex[0], text);
		} else {
			for (i = j = 0; i < n; i++) {
				if (ex[i].notify)
					continue;
				check_answer(json_array_get(resp, j++), &ex[i],
				    text);
			}
			assert_int_equal(json_array_size(resp), j);
			if (j == 0)
				assert_null(resp);
		}
		json_decref(resp);
	}
	assert_int_equal(lines, 1);
	assert_false(rpc_reader_pending(&r));
	rpc_reader_free(&r);
	for (i = 0; i < n; i++)
		json_decref(ex[i].paths);
	json_decref(msg);
	free(text);
	free(framed);
}

static void
test_property(void **state)
{
	const struct rpc_method *tab = bound_table();
	const char *env = getenv("RPC_SEED");
	unsigned long i;

	(void)state;
	rng_state = env != NULL ? strtoull(env, NULL, 0) :
	    (uint64_t)time(NULL);
	if (rng_state == 0)
		rng_state = 1;
	print_message("RPC_SEED=%" PRIu64 "\n", rng_state);
	for (i = 0; i < PROP_ITERS; i++)
		prop_once(tab);
}

/* -------------------------------------------------------------------------- */
/*
 * Allocation failures: dispatch (from a json_t: jansson's text functions
 * misbehave under failed allocations, see test_vmdef.c) with each
 * allocation failing in turn.  The answer is -ENOMEM or the right one, and
 * nothing leaks.
 */

/* A handler that allocates nothing (json_true is a singleton). */
static int
alloc_handler(void *ctx, json_t *params, json_t **result,
    struct rpc_error *err)
{
	(void)ctx;
	(void)params;
	(void)err;
	*result = json_true();
	return 0;
}

static void
test_alloc_failures(void **state)
{
	static const char *const inputs[] = {
		"[" R "'id':1,'method':'host.info'}," R "'method':'vm.get',"
		"'params':{'name':'a'}},{'x':1}," R "'id':'q','method':'nope'},"
		R "'id':2,'method':'vm.stop','params':{'name':1,'zz':2}}]",
		R "'id':1,'method':'vm.define','params':{'definition':"
		"{'name':'a..b','os':{},'devices':{'disks':[{'bogus':1}]}}}}",
		R "'id':1,'method':'vm.define','params':{'definition':" DEF_OK
		"}}",
		"[]",
	};
	struct rpc_method tab[NMETHODS];
	json_t *in, *want, *resp;
	struct rpc_reader r;
	struct rpc_line line;
	size_t i, k, used;
	long live0;
	char *text;
	int rc;

	(void)state;
	for (i = 0; rpc_methods[i].name != NULL; i++) {
		tab[i] = rpc_methods[i];
		tab[i].handler = alloc_handler;
	}
	tab[i] = rpc_methods[i];
	json_set_alloc_funcs(tu_alloc_malloc, tu_alloc_free);
	for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		text = sq(inputs[i]);
		in = json_loads(text, 0, NULL);
		assert_non_null(in);
		free(text);
		assert_int_equal(rpc_dispatch(tab, RPC_ROLE_ADMIN, in, NULL,
		    &want), 0);
		for (k = 0; ; k++) {
			live0 = tu_alloc.live;
			tu_alloc.count = 0;
			tu_alloc.fail_at = k;
			tu_alloc.armed = true;
			rc = rpc_dispatch(tab, RPC_ROLE_ADMIN, in, NULL, &resp);
			tu_alloc.armed = false;
			if (rc == 0)
				assert_true(json_equal(resp, want));
			else
				assert_int_equal(rc, -ENOMEM);
			json_decref(resp);
			if (tu_alloc.live != live0)
				fail_msg("input %zu, allocation %zu failing: "
				    "%ld blocks leaked", i, k,
				    tu_alloc.live - live0);
			if (tu_alloc.count <= k)
				break;
		}
		json_decref(want);
		json_decref(in);
	}
	/* The reader: a failed allocation leaves it usable. */
	assert_int_equal(rpc_reader_init(&r, 100), 0);
	tu_alloc.count = 0;
	tu_alloc.fail_at = 0;
	tu_alloc.armed = true;
	assert_int_equal(rpc_reader_feed(&r, "abc", 3, &used, &line), -ENOMEM);
	tu_alloc.armed = false;
	assert_int_equal(used, 0);
	assert_int_equal(rpc_reader_feed(&r, "abc", 3, &used, &line), 0);
	assert_int_equal(rpc_reader_feed(&r, "d\n", 2, &used, &line), 0);
	assert_int_equal(line.kind, RPC_LINE_OK);
	assert_memory_equal(line.text, "abcd", 4);
	rpc_reader_free(&r);
	json_set_alloc_funcs(malloc, free);
	assert_int_equal(tu_alloc.live, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codes),
		cmocka_unit_test(test_framing_table),
		cmocka_unit_test(test_framing_default_max),
		cmocka_unit_test(test_framing_bounded),
		cmocka_unit_test(test_dispatch_table),
		cmocka_unit_test(test_dispatch_calls),
		cmocka_unit_test(test_dispatch_batch_limit),
		cmocka_unit_test(test_too_long_and_encode),
		cmocka_unit_test(test_params_nul),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_property),
		cmocka_unit_test(test_alloc_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
