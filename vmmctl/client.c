/*
 * client.c: vmmctl's JSON-RPC connection to vmmd, over a UNIX socket or
 * TLS (the transport itself is in tls.c).
 */

#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "client.h"
#include "rpc.h"

#define CLIENT_READ_CHUNK	65536

#define CLIENT_UNIX_PREFIX	"unix:"
#define CLIENT_TLS_PREFIX	"tls://"

static int	client_uri_fail(char *, size_t, const char *, const char *,
		    ...) __attribute__((format(printf, 4, 5)));

/* "bad URI \"uri\": reason" into err; returns -EINVAL. */
static int
client_uri_fail(char *err, size_t errlen, const char *uri, const char *fmt,
    ...)
{
	char reason[CLIENT_NAME_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "bad URI \"%s\": %s", uri, reason);
	return -EINVAL;
}

/*
 * A host name as RFC 1123 has it: dot-separated labels of 1 to 63
 * letters, digits and hyphens, no hyphen at either end; the last label
 * not all digits, so that no name reads as a (legacy, partial) address.
 */
static bool
client_dns_name_ok(const char *s)
{
	size_t len = 0, i;
	bool digits = true;

	for (i = 0;; i++) {
		if (s[i] == '.' || s[i] == '\0') {
			if (len == 0 || len > 63 || s[i - 1] == '-')
				return false;
			if (s[i] == '\0')
				return !digits;
			len = 0;
			digits = true;
			continue;
		}
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
		if (len == 0 && s[i] == '-')
			return false;
		digits = digits && isdigit((unsigned char)s[i]);
		len++;
	}
}

/* The HOST of a tls:// URI, [h, hend), into u. */
static int
client_uri_host(const char *uri, const char *h, const char *hend, bool v6,
    struct client_uri *u, char *err, size_t errlen)
{
	unsigned char addr[16];
	size_t len = (size_t)(hend - h);

	if (len == 0)
		return client_uri_fail(err, errlen, uri, "the host is empty");
	if (len > CLIENT_HOST_MAX)
		return client_uri_fail(err, errlen, uri, "the host is longer "
		    "than %d bytes", CLIENT_HOST_MAX);
	memcpy(u->host, h, len);
	u->host[len] = '\0';
	if (v6) {
		if (inet_pton(AF_INET6, u->host, addr) != 1)
			return client_uri_fail(err, errlen, uri, "\"%s\" is "
			    "not an IPv6 address", u->host);
		u->host_kind = CLIENT_HOST_IPV6;
	} else if (inet_pton(AF_INET, u->host, addr) == 1)
		u->host_kind = CLIENT_HOST_IPV4;
	else if (client_dns_name_ok(u->host))
		u->host_kind = CLIENT_HOST_DNS;
	else
		return client_uri_fail(err, errlen, uri, "the host must be a "
		    "DNS name, an IPv4 address or an IPv6 address in "
		    "brackets");
	return 0;
}

/* The PORT of a tls:// URI (NULL: none, the default). */
static int
client_uri_port(const char *uri, const char *p, struct client_uri *u,
    char *err, size_t errlen)
{
	unsigned int v = 0;
	const char *s;

	if (p == NULL) {
		u->port = CLIENT_TLS_PORT;
		return 0;
	}
	for (s = p; *s >= '0' && *s <= '9' && v <= 65535; s++)
		v = v * 10 + (unsigned int)(*s - '0');
	if (s == p || *s != '\0' || v < 1 || v > 65535)
		return client_uri_fail(err, errlen, uri, "the port must be a "
		    "number from 1 to 65535");
	u->port = v;
	return 0;
}

/* "tls://HOST[:PORT]", rest after "tls://". */
static int
client_uri_tls(const char *uri, const char *rest, struct client_uri *u,
    char *err, size_t errlen)
{
	const char *h = rest, *hend, *port = NULL;
	bool v6 = rest[0] == '[';
	int rc;

	if (v6) {
		h = rest + 1;
		if ((hend = strchr(h, ']')) == NULL)
			return client_uri_fail(err, errlen, uri, "missing "
			    "\"]\" after the IPv6 address");
		if (hend[1] == ':')
			port = hend + 2;
		else if (hend[1] != '\0')
			return client_uri_fail(err, errlen, uri, "expected "
			    "\":PORT\" or the end after \"]\"");
	} else if ((hend = strchr(rest, ':')) != NULL) {
		port = hend + 1;
		if (strchr(port, ':') != NULL)
			return client_uri_fail(err, errlen, uri, "an IPv6 "
			    "address must be in brackets, as in "
			    "tls://[::1]:%d", CLIENT_TLS_PORT);
	} else
		hend = rest + strlen(rest);
	if ((rc = client_uri_host(uri, h, hend, v6, u, err, errlen)) != 0 ||
	    (rc = client_uri_port(uri, port, u, err, errlen)) != 0)
		return rc;
	u->transport = CLIENT_TLS;
	snprintf(u->name, sizeof(u->name), "tls://%s%s%s:%u", v6 ? "[" : "",
	    u->host, v6 ? "]" : "", u->port);
	return 0;
}

int
client_uri_parse(const char *uri, struct client_uri *u, char *err,
    size_t errlen)
{
	const char *path;
	size_t plen = strlen(CLIENT_UNIX_PREFIX);

	memset(u, 0, sizeof(*u));
	if (strncmp(uri, CLIENT_TLS_PREFIX, strlen(CLIENT_TLS_PREFIX)) == 0)
		return client_uri_tls(uri, uri + strlen(CLIENT_TLS_PREFIX), u,
		    err, errlen);
	if (strncmp(uri, CLIENT_UNIX_PREFIX, plen) == 0)
		path = uri + plen;
	else if (uri[0] == '/')
		path = uri;
	else
		return client_uri_fail(err, errlen, uri, "expected unix:PATH, "
		    "an absolute path or tls://HOST:PORT");
	if (path[0] == '\0')
		return client_uri_fail(err, errlen, uri, "the socket path is "
		    "empty");
	if (strlen(path) >= sizeof(u->path)) {
		snprintf(err, errlen, "bad URI: the socket path is longer than "
		    "%zu bytes", sizeof(u->path) - 1);
		return -EINVAL;
	}
	u->transport = CLIENT_UNIX;
	memcpy(u->path, path, strlen(path) + 1);
	snprintf(u->name, sizeof(u->name), "%s", u->path);
	return 0;
}

void
client_init(struct client *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->next_id = 1;
}

int
client_connect(struct client *c, const char *path)
{
	struct sockaddr_un sun;
	int fd, rc;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	memcpy(c->path, path, strlen(path) + 1);
	c->failure[0] = '\0';
	/* Replies can be as long as the largest message a daemon may send. */
	if ((rc = rpc_reader_init(&c->rd, RPC_MSG_MAX_LIMIT)) != 0)
		return rc;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		rc = -errno;
		close(fd);
		return rc;
	}
	c->fd = fd;
	return 0;
}

void
client_close(struct client *c)
{
	if (c->tls != NULL)
		client_tls_close(c);
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	rpc_reader_free(&c->rd);
	json_decref(c->answer);
	c->answer = NULL;
	c->waiting = c->answered = false;
}

/* Write all of buf; MSG_NOSIGNAL: a closed peer is -EPIPE, not a signal. */
static int
client_write(struct client *c, const char *buf, size_t len)
{
	ssize_t n;

	if (c->tls != NULL)
		return client_tls_write(c, buf, len);
	while (len > 0) {
		n = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int
client_send(struct client *c, const char *method, json_t *params,
    json_int_t *id)
{
	json_t *req;
	char *text = NULL;
	size_t len;
	int rc = -ENOMEM;

	req = json_pack("{s:s,s:I,s:s}", "jsonrpc", RPC_JSONRPC, "id",
	    c->next_id, "method", method);
	if (req == NULL)
		goto out;
	if (params != NULL && json_object_set(req, "params", params) != 0)
		goto out;
	if ((text = rpc_encode(req, &len)) == NULL)
		goto out;
	if ((rc = client_write(c, text, len)) != 0)
		goto out;
	if (id != NULL)
		*id = c->next_id;
	c->next_id++;
out:
	rpc_text_free(text);
	json_decref(req);
	json_decref(params);
	return rc;
}

/* Is msg a well-formed response: "jsonrpc", "id", one of result/error? */
static bool
client_response_ok(const json_t *msg)
{
	const json_t *id = json_object_get(msg, "id");
	const json_t *res = json_object_get(msg, "result");
	const json_t *err = json_object_get(msg, "error");

	if (id == NULL || !(json_is_integer(id) || json_is_null(id)))
		return false;
	if ((res == NULL) == (err == NULL))
		return false;
	if (err != NULL && (!json_is_object(err) ||
	    !json_is_integer(json_object_get(err, "code")) ||
	    !json_is_string(json_object_get(err, "message"))))
		return false;
	return json_object_size(msg) == 3;
}

/* A notification: "jsonrpc", "method", maybe "params", and no "id". */
static bool
client_notification_ok(const json_t *msg)
{
	const json_t *params = json_object_get(msg, "params");
	size_t n = params != NULL ? 3 : 2;

	if (!json_is_string(json_object_get(msg, "method")))
		return false;
	if (params != NULL && !json_is_object(params))
		return false;
	return json_object_size(msg) == n;
}

/*
 * A TLS server that accepted our certificate but maps it to no role says
 * so once, with id null, and closes (PROTOCOL.md): set c->failure.  The
 * fingerprint is shown only when it looks like one.
 */
static bool
client_no_role(struct client *c, const json_t *msg)
{
	const json_t *err = json_object_get(msg, "error");
	const char *fp;

	if (c->tls == NULL || !json_is_null(json_object_get(msg, "id")) ||
	    err == NULL || json_integer_value(json_object_get(err, "code")) !=
	    RPC_E_PERMISSION_DENIED)
		return false;
	fp = json_string_value(json_object_get(json_object_get(err, "data"),
	    "fingerprint"));
	if (fp == NULL || strlen(fp) > 128 || fp[0] == '\0' ||
	    fp[strspn(fp, "0123456789ABCDEFabcdefSH:")] != '\0')
		return false;
	client_tls_no_role(c, fp);
	return true;
}

/* Hand a valid response to the waiting call or to on_response. */
static void
client_response(struct client *c, json_t *msg)
{
	const json_t *id = json_object_get(msg, "id");
	json_int_t n = json_is_integer(id) ? json_integer_value(id) : -1;

	/* An error without an id can only be about the call in progress. */
	if (c->waiting && !c->answered && (n == c->wait_id ||
	    json_is_null(id))) {
		c->answer = json_incref(msg);
		c->answered = true;
		return;
	}
	if (c->on_response != NULL)
		c->on_response(c->arg, n, json_object_get(msg, "result"),
		    json_object_get(msg, "error"));
}

int
client_handle_line(struct client *c, const char *text, size_t len)
{
	json_error_t jerr;
	json_t *msg;
	int rc = 0;

	msg = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (msg == NULL || !json_is_object(msg) ||
	    !json_is_string(json_object_get(msg, "jsonrpc")) ||
	    strcmp(json_string_value(json_object_get(msg, "jsonrpc")),
	    RPC_JSONRPC) != 0) {
		rc = -EPROTO;
		goto out;
	}
	if (json_object_get(msg, "method") != NULL) {
		if (!client_notification_ok(msg)) {
			rc = -EPROTO;
			goto out;
		}
		if (c->on_notify != NULL)
			c->on_notify(c->arg, json_string_value(
			    json_object_get(msg, "method")),
			    json_object_get(msg, "params"));
	} else if (client_response_ok(msg)) {
		if (client_no_role(c, msg))
			rc = -EACCES;
		else
			client_response(c, msg);
	} else
		rc = -EPROTO;
out:
	json_decref(msg);
	return rc;
}

/* Handle every complete line in buf[0..n). */
static int
client_feed(struct client *c, const char *buf, size_t n)
{
	struct rpc_line line;
	size_t off = 0, used;
	int rc;

	while (off < n) {
		if ((rc = rpc_reader_feed(&c->rd, buf + off, n - off, &used,
		    &line)) != 0)
			return rc;
		off += used;
		if (line.kind == RPC_LINE_TOO_LONG)
			return -EMSGSIZE;
		if (line.kind == RPC_LINE_OK &&
		    (rc = client_handle_line(c, line.text, line.len)) != 0)
			return rc;
	}
	return 0;
}

/* One read: bytes, 0 for none yet, or a negative errno (-ECONNRESET). */
static ssize_t
client_recv(struct client *c, char *buf, size_t len)
{
	ssize_t n;

	if (c->tls != NULL)
		return client_tls_read(c, buf, len);
	n = read(c->fd, buf, len);
	if (n == -1)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	if (n == 0)
		return -ECONNRESET;	/* vmmd closed the connection */
	return n;
}

int
client_read(struct client *c)
{
	char buf[CLIENT_READ_CHUNK];
	ssize_t n;
	int rc;

	/*
	 * What OpenSSL has decrypted is no longer in the socket, where the
	 * caller's poll would see it: take it all now.
	 */
	do {
		if ((n = client_recv(c, buf, sizeof(buf))) <= 0)
			return (int)n;
		if ((rc = client_feed(c, buf, (size_t)n)) != 0)
			return rc;
	} while (c->tls != NULL && client_tls_pending(c) > 0);
	return 0;
}

int
client_call(struct client *c, const char *method, json_t *params,
    json_t **result, json_t **error)
{
	json_int_t id;
	int rc;

	*result = *error = NULL;
	if ((rc = client_send(c, method, params, &id)) != 0)
		return rc;
	c->waiting = true;
	c->answered = false;
	c->wait_id = id;
	while (!c->answered)
		if ((rc = client_read(c)) != 0)
			goto out;
	*error = json_incref(json_object_get(c->answer, "error"));
	if (*error == NULL)
		*result = json_incref(json_object_get(c->answer, "result"));
out:
	json_decref(c->answer);
	c->answer = NULL;
	c->waiting = c->answered = false;
	return rc;
}
