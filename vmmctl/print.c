/*
 * print.c: vmmctl's output for people: tables, "key: value" lines with
 * durations, times and sizes, the printers of each command's result.
 * Anything the daemon adds to a result is still shown, generically.
 */

#include <inttypes.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "vmmctl.h"

#define PRINT_CELL	256	/* bytes of one formatted value */

/* A bounded string being built; truncates, always NUL-terminated. */
struct print_buf {
	char *s;
	size_t len, at;
};

static void	pb_add(struct print_buf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static void
pb_add(struct print_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->at + 1 >= b->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->s + b->at, b->len - b->at, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->at += (size_t)n < b->len - b->at ? (size_t)n :
		    b->len - b->at - 1;
}

void
print_json(FILE *out, const json_t *v)
{
	json_dumpf(v, out, JSON_INDENT(2) | JSON_ENCODE_ANY);
	fputc('\n', out);
}

void
print_escaped(FILE *out, const char *s, size_t n)
{
	size_t i;
	unsigned char c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
}

static void
pb_escaped(struct print_buf *b, const char *s, size_t n)
{
	size_t i;
	unsigned char c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			pb_add(b, "\\x%02x", c);
		else
			pb_add(b, "%c", c);
	}
}

static void pb_value(struct print_buf *b, const json_t *v);

/* {"a": 1, "b": "x"} as "a 1, b x"; [1, 2] as "1, 2". */
static void
pb_compound(struct print_buf *b, const json_t *v)
{
	const char *key;
	const json_t *m;
	bool first = true;
	size_t i;

	if (json_object_size(v) == 0 && json_array_size(v) == 0) {
		pb_add(b, "-");
		return;
	}
	json_object_foreach((json_t *)(uintptr_t)v, key, m) {
		pb_add(b, "%s", first ? "" : ", ");
		first = false;
		pb_escaped(b, key, strlen(key));
		pb_add(b, " ");
		pb_value(b, m);
	}
	json_array_foreach(v, i, m) {
		pb_add(b, "%s", i > 0 ? ", " : "");
		pb_value(b, m);
	}
}

static void
pb_value(struct print_buf *b, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		pb_escaped(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		pb_add(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		pb_add(b, "%g", json_real_value(v));
		break;
	case JSON_TRUE:
		pb_add(b, "yes");
		break;
	case JSON_FALSE:
		pb_add(b, "no");
		break;
	case JSON_OBJECT:
	case JSON_ARRAY:
		pb_compound(b, v);
		break;
	default:
		pb_add(b, "-");
		break;
	}
}

void
print_value(char *buf, size_t len, const json_t *v)
{
	struct print_buf b = { buf, len, 0 };

	buf[0] = '\0';
	if (v == NULL)
		pb_add(&b, "-");
	else
		pb_value(&b, v);
}

/*
 * Formats.
 */

void
print_duration(char *buf, size_t len, int64_t ms)
{
	struct print_buf b = { buf, len, 0 };
	int64_t s = ms / 1000;

	buf[0] = '\0';
	if (ms < 0) {
		pb_add(&b, "-");
		return;
	}
	if (s >= 86400)
		pb_add(&b, "%" PRId64 "d ", s / 86400);
	if (s >= 3600)
		pb_add(&b, "%" PRId64 "h ", s % 86400 / 3600);
	if (s >= 60)
		pb_add(&b, "%" PRId64 "m ", s % 3600 / 60);
	pb_add(&b, "%" PRId64 "s", s % 60);
}

void
print_time(char *buf, size_t len, int64_t ms)
{
	struct tm tm;
	time_t t = (time_t)(ms / 1000);

	if (ms < 0 || localtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
		snprintf(buf, len, "-");
}

void
print_bytes(char *buf, size_t len, uint64_t n)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB",
	    "PiB" };
	uint64_t u = 1024;
	size_t i;

	if (n < u) {
		snprintf(buf, len, "%" PRIu64 " B", n);
		return;
	}
	for (i = 0; i + 1 < sizeof(units) / sizeof(*units) && n >= u * 1024;
	    i++)
		u *= 1024;
	if (n % u == 0)
		snprintf(buf, len, "%" PRIu64 " %s", n / u, units[i]);
	else
		snprintf(buf, len, "%.1f %s", (double)n / (double)u, units[i]);
}

/* The value formatters of struct print_field. */
typedef void print_fmt_fn(char *buf, size_t len, const json_t *v);

static void
print_fmt_time(char *buf, size_t len, const json_t *v)
{
	if (json_is_integer(v))
		print_time(buf, len, json_integer_value(v));
	else
		print_value(buf, len, v);
}

static void
print_fmt_duration(char *buf, size_t len, const json_t *v)
{
	if (json_is_integer(v))
		print_duration(buf, len, json_integer_value(v));
	else
		print_value(buf, len, v);
}

static void
print_fmt_bytes(char *buf, size_t len, const json_t *v)
{
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		print_bytes(buf, len, (uint64_t)json_integer_value(v));
	else
		print_value(buf, len, v);
}

/* last_exit: "poweroff, status 0: MESSAGE" */
static void
print_fmt_exit(char *buf, size_t len, const json_t *v)
{
	struct print_buf b = { buf, len, 0 };
	const json_t *msg = json_object_get(v, "message");

	if (!json_is_object(v)) {
		print_value(buf, len, v);
		return;
	}
	buf[0] = '\0';
	pb_value(&b, json_object_get(v, "reason"));
	pb_add(&b, ", status ");
	pb_value(&b, json_object_get(v, "status"));
	if (json_string_length(msg) > 0) {
		pb_add(&b, ": ");
		pb_value(&b, msg);
	}
}

/* stats' console: "16 B written, 0 B dropped, 64 KiB scrollback" */
static void
print_fmt_console(char *buf, size_t len, const json_t *v)
{
	static const char *const keys[][2] = {
		{ "bytes", "written" },
		{ "dropped", "dropped" },
		{ "scrollback", "scrollback" },
	};
	struct print_buf b = { buf, len, 0 };
	char n[PRINT_CELL];
	size_t i;

	if (!json_is_object(v)) {
		print_value(buf, len, v);
		return;
	}
	buf[0] = '\0';
	for (i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
		print_fmt_bytes(n, sizeof(n), json_object_get(v, keys[i][0]));
		pb_add(&b, "%s%s %s", i > 0 ? ", " : "", n, keys[i][1]);
	}
}

/*
 * "key: value" lines.  A field is shown when its key is in the object;
 * members no field names follow, generically, in the object's order.
 */

typedef void print_lines_fn(FILE *out, const char *label, int width,
    int indent, const json_t *v);

struct print_field {
	const char *key;
	const char *label;	/* NULL: the key */
	print_fmt_fn *fmt;	/* NULL: print_value */
	print_lines_fn *lines;	/* prints lines of its own instead */
};

static void print_fields(FILE *, const json_t *, const struct print_field *,
    int);

static void
print_line(FILE *out, int indent, int width, const char *label,
    const char *value)
{
	char lab[PRINT_CELL];

	snprintf(lab, sizeof(lab), "%s:", label);
	fprintf(out, "%*s%-*s %s\n", indent, "", width, lab, value);
}

/* An object as a heading and its members indented under it. */
static void
print_lines_section(FILE *out, const char *label, int width, int indent,
    const json_t *v)
{
	char buf[PRINT_CELL];

	if (!json_is_object(v) || json_object_size(v) == 0) {
		print_value(buf, sizeof(buf), v);
		print_line(out, indent, width, label, buf);
		return;
	}
	fprintf(out, "%*s%s:\n", indent, "", label);
	print_fields(out, v, NULL, indent + 2);
}

/* stats' vcpus: "vcpu 0: running, exits io 12, hlt 3" each. */
static void
print_lines_vcpus(FILE *out, const char *label, int width, int indent,
    const json_t *v)
{
	char lab[32], buf[PRINT_CELL];
	struct print_buf b;
	const json_t *vcpu;
	size_t i;

	if (!json_is_array(v)) {
		print_value(buf, sizeof(buf), v);
		print_line(out, indent, width, label, buf);
		return;
	}
	json_array_foreach(v, i, vcpu) {
		snprintf(lab, sizeof(lab), "vcpu %" JSON_INTEGER_FORMAT,
		    json_integer_value(json_object_get(vcpu, "id")));
		b = (struct print_buf){ buf, sizeof(buf), 0 };
		buf[0] = '\0';
		pb_value(&b, json_object_get(vcpu, "state"));
		pb_add(&b, ", exits ");
		pb_value(&b, json_object_get(vcpu, "exits"));
		print_line(out, indent, width, lab, buf);
	}
}

static const struct print_field *
print_field_find(const struct print_field *fields, const char *key)
{
	for (; fields != NULL && fields->key != NULL; fields++)
		if (strcmp(fields->key, key) == 0)
			return fields;
	return NULL;
}

static const char *
print_label(const struct print_field *f, const char *key)
{
	return f != NULL && f->label != NULL ? f->label : key;
}

/* The widest "label:" of what obj will show. */
static int
print_width(const json_t *obj, const struct print_field *fields)
{
	const char *key;
	const json_t *v;
	size_t w = 0, n;

	json_object_foreach((json_t *)(uintptr_t)obj, key, v) {
		n = strlen(print_label(print_field_find(fields, key), key)) + 1;
		if (n > w)
			w = n;
	}
	return (int)w;
}

static void
print_field(FILE *out, const struct print_field *f, const char *key,
    const json_t *v, int width, int indent)
{
	char buf[PRINT_CELL];

	if (f != NULL && f->lines != NULL) {
		f->lines(out, print_label(f, key), width, indent, v);
		return;
	}
	if (f != NULL && f->fmt != NULL)
		f->fmt(buf, sizeof(buf), v);
	else
		print_value(buf, sizeof(buf), v);
	print_line(out, indent, width, print_label(f, key), buf);
}

static void
print_fields(FILE *out, const json_t *obj, const struct print_field *fields,
    int indent)
{
	const struct print_field *f;
	const char *key;
	const json_t *v;
	int width = print_width(obj, fields);

	for (f = fields; f != NULL && f->key != NULL; f++)
		if ((v = json_object_get(obj, f->key)) != NULL)
			print_field(out, f, f->key, v, width, indent);
	json_object_foreach((json_t *)(uintptr_t)obj, key, v)
		if (print_field_find(fields, key) == NULL)
			print_field(out, NULL, key, v, width, indent);
}

/* A result that is not an object is shown as it is. */
static void
print_object(FILE *out, const json_t *result,
    const struct print_field *fields)
{
	char buf[PRINT_CELL];

	if (json_is_object(result)) {
		print_fields(out, result, fields, 0);
		return;
	}
	print_value(buf, sizeof(buf), result);
	fprintf(out, "%s\n", buf);
}

/*
 * Tables.
 */

static size_t
print_col_width(const json_t *rows, const struct print_col *col)
{
	char buf[PRINT_CELL];
	const json_t *row;
	size_t i, w = strlen(col->header);

	json_array_foreach(rows, i, row) {
		print_value(buf, sizeof(buf), json_object_get(row, col->key));
		if (strlen(buf) > w)
			w = strlen(buf);
	}
	return w;
}

void
print_table(FILE *out, const json_t *rows, const struct print_col *cols,
    size_t ncols)
{
	char buf[PRINT_CELL];
	size_t w[8], c, i;
	const json_t *row;

	if (ncols > sizeof(w) / sizeof(*w))
		ncols = sizeof(w) / sizeof(*w);
	for (c = 0; c < ncols; c++)
		w[c] = print_col_width(rows, &cols[c]);
	for (c = 0; c < ncols; c++)
		fprintf(out, "%-*s%s", c + 1 < ncols ? (int)w[c] : 0,
		    cols[c].header, c + 1 < ncols ? "  " : "\n");
	json_array_foreach(rows, i, row)
		for (c = 0; c < ncols; c++) {
			print_value(buf, sizeof(buf),
			    json_object_get(row, cols[c].key));
			fprintf(out, "%-*s%s", c + 1 < ncols ? (int)w[c] : 0,
			    buf, c + 1 < ncols ? "  " : "\n");
		}
}

/*
 * The printers of the commands.
 */

void
print_define(FILE *out, const json_t *result)
{
	char name[PRINT_CELL], uuid[PRINT_CELL];

	print_value(name, sizeof(name), json_object_get(result, "name"));
	print_value(uuid, sizeof(uuid), json_object_get(result, "uuid"));
	fprintf(out, "defined %s (%s)\n", name, uuid);
}

void
print_list(FILE *out, const json_t *result)
{
	static const struct print_col cols[] = {
		{ "NAME", "name" },
		{ "STATE", "state" },
		{ "UUID", "uuid" },
	};

	if (!json_is_array(result)) {
		print_object(out, result, NULL);
		return;
	}
	print_table(out, result, cols, sizeof(cols) / sizeof(*cols));
}

void
print_info(FILE *out, const json_t *result)
{
	static const struct print_field fields[] = {
		{ "name", NULL, NULL, NULL },
		{ "uuid", NULL, NULL, NULL },
		{ "state", NULL, NULL, NULL },
		{ "pid", NULL, NULL, NULL },
		{ "started_at", "started", print_fmt_time, NULL },
		{ "uptime_ms", "uptime", print_fmt_duration, NULL },
		{ "restart_count", "restarts", NULL, NULL },
		{ "last_exit", "last exit", print_fmt_exit, NULL },
		{ NULL, NULL, NULL, NULL }
	};

	print_object(out, result, fields);
}

void
print_stats(FILE *out, const json_t *result)
{
	static const struct print_field fields[] = {
		{ "name", NULL, NULL, NULL },
		{ "state", NULL, NULL, NULL },
		{ "uptime_ms", "uptime", print_fmt_duration, NULL },
		{ "ram_bytes", "ram", print_fmt_bytes, NULL },
		{ "console", NULL, print_fmt_console, NULL },
		{ "vcpus", NULL, NULL, print_lines_vcpus },
		{ NULL, NULL, NULL, NULL }
	};

	print_object(out, result, fields);
}

void
print_host(FILE *out, const json_t *result)
{
	static const struct print_field fields[] = {
		{ "version", NULL, NULL, NULL },
		{ "api", NULL, NULL, NULL },
		{ "backend", NULL, NULL, NULL },
		{ "vms", NULL, NULL, NULL },
		{ "running", NULL, NULL, NULL },
		{ "clients", NULL, NULL, NULL },
		{ "uptime_ms", "uptime", print_fmt_duration, NULL },
		{ "capabilities", NULL, NULL, print_lines_section },
		{ NULL, NULL, NULL, NULL }
	};

	print_object(out, result, fields);
}

void
print_version(FILE *out, const json_t *result)
{
	char version[PRINT_CELL], api[PRINT_CELL];

	print_value(version, sizeof(version),
	    json_object_get(result, "version"));
	print_value(api, sizeof(api), json_object_get(result, "api"));
	fprintf(out, "vmmd %s (api %s)\n", version, api);
}
