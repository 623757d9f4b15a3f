/*
 * fuzz_rpc.c: libFuzzer target for the JSON-RPC codec (proto/rpc.c).  The
 * input is fed to a line reader (maximum 4096 bytes, in chunks whose sizes
 * come from the input itself), each line is dispatched against the method
 * table with a dummy handler under each role, and every response must be
 * one line of JSON: an object, or a non-empty array of objects, each with
 * "jsonrpc": "2.0", an id, and either a result or an error with a known
 * code, a message and data naming the code.  Seeds in tests/corpus/fuzz_rpc/.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rpc.h"

#define FUZZ_LINE_MAX	4096
#define FUZZ_NMETHODS	64

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "fuzz_rpc: %s:%d: %s\n",	\
			    __FILE__, __LINE__, #cond);			\
			abort();					\
		}							\
	} while (0)

static struct rpc_method table[FUZZ_NMETHODS];

/* Echo the params, or fail with a code chosen by "fail" when present. */
static int
dummy_handler(void *ctx, json_t *params, json_t **result,
    struct rpc_error *err)
{
	json_t *fail = json_object_get(params, "fail");

	(void)ctx;
	if (json_is_integer(fail))
		return rpc_error_set(err, (int)json_integer_value(fail),
		    json_pack("{s:O}", "params", params), NULL);
	*result = json_deep_copy(params);
	return 0;
}

static void
bind_table(void)
{
	size_t i;

	if (table[0].name != NULL)
		return;
	for (i = 0; rpc_methods[i].name != NULL; i++) {
		FUZZ_CHECK(i + 1 < FUZZ_NMETHODS);
		table[i] = rpc_methods[i];
		table[i].handler = dummy_handler;
	}
	table[i] = rpc_methods[i];
}

static void
check_one(const json_t *r)
{
	const json_t *err, *id;

	FUZZ_CHECK(json_is_object(r));
	FUZZ_CHECK(json_is_string(json_object_get(r, "jsonrpc")));
	FUZZ_CHECK(strcmp(json_string_value(json_object_get(r, "jsonrpc")),
	    RPC_JSONRPC) == 0);
	id = json_object_get(r, "id");
	FUZZ_CHECK(json_is_string(id) || json_is_integer(id) ||
	    json_is_null(id));
	err = json_object_get(r, "error");
	FUZZ_CHECK((err == NULL) != (json_object_get(r, "result") == NULL));
	FUZZ_CHECK(json_object_size(r) == 3);
	if (err == NULL)
		return;
	FUZZ_CHECK(json_is_integer(json_object_get(err, "code")));
	FUZZ_CHECK(rpc_code_name((int)json_integer_value(json_object_get(err,
	    "code"))) != NULL);
	FUZZ_CHECK(json_is_string(json_object_get(err, "message")));
	FUZZ_CHECK(json_is_string(json_object_get(json_object_get(err, "data"),
	    "name")));
}

/* The response, encoded and read back, has the shape of the contract. */
static void
check_response(json_t *resp)
{
	json_t *back;
	size_t len, i;
	char *text;

	if (resp == NULL)
		return;
	text = rpc_encode(resp, &len);
	FUZZ_CHECK(text != NULL);
	FUZZ_CHECK(len > 0 && text[len - 1] == '\n');
	FUZZ_CHECK(memchr(text, '\n', len - 1) == NULL);
	back = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	FUZZ_CHECK(back != NULL);
	FUZZ_CHECK(json_equal(back, resp));
	if (json_is_array(back)) {
		FUZZ_CHECK(json_array_size(back) > 0);
		for (i = 0; i < json_array_size(back); i++)
			check_one(json_array_get(back, i));
	} else {
		check_one(back);
	}
	json_decref(back);
	rpc_text_free(text);
	json_decref(resp);
}

static void
handle_line(const struct rpc_line *line, unsigned int role)
{
	json_t *resp = NULL;

	if (line->kind == RPC_LINE_TOO_LONG) {
		check_response(rpc_response_too_long(FUZZ_LINE_MAX));
		return;
	}
	FUZZ_CHECK(line->kind == RPC_LINE_OK);
	FUZZ_CHECK(line->len > 0 && line->len <= FUZZ_LINE_MAX);
	FUZZ_CHECK(memchr(line->text, '\n', line->len) == NULL);
	FUZZ_CHECK(rpc_dispatch_text(table, (enum rpc_role)role, line->text,
	    line->len, NULL, &resp) == 0);
	check_response(resp);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rpc_reader r;
	struct rpc_line line;
	size_t at = 0, chunk, used;
	unsigned int role, k = 0;

	bind_table();
	if (size == 0)
		return 0;
	role = data[0] % 4;	/* 3 is no role at all: denied everything */
	FUZZ_CHECK(rpc_reader_init(&r, FUZZ_LINE_MAX) == 0);
	while (at < size) {
		/* Chunks of 1 to 4096 bytes, sized by the input's bytes. */
		chunk = 1 + (size_t)data[k++ % size] * 16;
		if (chunk > size - at)
			chunk = size - at;
		while (chunk > 0) {
			FUZZ_CHECK(rpc_reader_feed(&r, data + at, chunk,
			    &used, &line) == 0);
			FUZZ_CHECK(used <= chunk);
			at += used;
			chunk -= used;
			if (line.kind == RPC_LINE_NONE)
				FUZZ_CHECK(chunk == 0);
			else
				handle_line(&line, role);
		}
	}
	rpc_reader_free(&r);
	return 0;
}
