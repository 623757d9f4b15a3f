/* client.c: vmmctl's JSON-RPC connection to vmmd over a UNIX socket. */

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "client.h"
#include "rpc.h"

#define CLIENT_READ_CHUNK	65536

#define CLIENT_UNIX_PREFIX	"unix:"
#define CLIENT_TLS_PREFIX	"tls://"

int
client_uri_parse(const char *uri, struct client_uri *u, char *err,
    size_t errlen)
{
	const char *path;
	size_t plen = strlen(CLIENT_UNIX_PREFIX);

	memset(u, 0, sizeof(*u));
	if (strncmp(uri, CLIENT_TLS_PREFIX, strlen(CLIENT_TLS_PREFIX)) == 0) {
		u->transport = CLIENT_TLS;
		snprintf(err, errlen, "tls:// is not supported yet");
		return -ENOTSUP;
	}
	if (strncmp(uri, CLIENT_UNIX_PREFIX, plen) == 0)
		path = uri + plen;
	else if (uri[0] == '/')
		path = uri;
	else {
		snprintf(err, errlen, "bad URI \"%s\": expected unix:PATH, an "
		    "absolute path or tls://HOST:PORT", uri);
		return -EINVAL;
	}
	if (path[0] == '\0') {
		snprintf(err, errlen, "bad URI \"%s\": the socket path is "
		    "empty", uri);
		return -EINVAL;
	}
	if (strlen(path) >= sizeof(u->path)) {
		snprintf(err, errlen, "bad URI: the socket path is longer than "
		    "%zu bytes", sizeof(u->path) - 1);
		return -EINVAL;
	}
	u->transport = CLIENT_UNIX;
	memcpy(u->path, path, strlen(path) + 1);
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
	} else if (client_response_ok(msg))
		client_response(c, msg);
	else
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

int
client_read(struct client *c)
{
	char buf[CLIENT_READ_CHUNK];
	ssize_t n;

	n = read(c->fd, buf, sizeof(buf));
	if (n == -1)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	if (n == 0)
		return -ECONNRESET;	/* vmmd closed the connection */
	return client_feed(c, buf, (size_t)n);
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
