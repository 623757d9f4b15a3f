/*
 * test_virtio_net.c: virtio-net in the real vmm-worker, exchanging frames
 * with the test.  The guest (tests/guests/vio_net.S) broadcasts a frame,
 * waits for one addressed to it and echoes it back; the test checks every
 * byte each way.
 *
 * The backends: a tap in a network namespace of the test's own (the
 * process unshares CLONE_NEWNET at the start), which the worker opens by
 * name with IFF_VNET_HDR or receives as a descriptor without it, the test
 * talking through an AF_PACKET socket bound to the tap; and a datagram
 * socket pair, which needs no privileges.  Without tun or network
 * namespaces (not root) the tap tests say why and skip.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>

#include <cmocka.h>

#include "vmtest.h"
#include "worker.h"
#include "workertest.h"

#define NT_TIMEOUT	30000
#define NT_IFNAME	"vmmt0"
#define NT_ETH_TYPE	0x88b5
#define NT_FRAME	60

static const uint8_t nt_guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t nt_host_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };

/* Why the tap tests cannot run here, or NULL once the namespace is ours. */
static const char *nt_no_tap;
static int nt_ifindex;

/* The test's end of the wire: a packet socket on the tap, or a socket. */
struct nt_wire {
	int fd;
	bool packet;
};

/* ------------------------------------------------------------------------ */
/* The namespace and the tap. */

static int
nt_tun_open(int flags, bool cloexec)
{
	struct ifreq ifr;
	int fd;

	if ((fd = open("/dev/net/tun", O_RDWR | (cloexec ? O_CLOEXEC : 0))) ==
	    -1)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = (short)flags;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", NT_IFNAME);
	if (ioctl(fd, TUNSETIFF, &ifr) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Best effort: keep IPv6 chatter (router solicitations) off the tap. */
static void
nt_no_ipv6(void)
{
	int fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY);

	if (fd != -1) {
		(void)write(fd, "1\n", 2);
		close(fd);
	}
}

/*
 * A network namespace of our own with a persistent tap NT_IFNAME, up.
 * Run once, before the tests; on failure nt_no_tap says why.
 */
static int
nt_setup(void **state)
{
	struct ifreq ifr;
	int fd, s;

	(void)state;
	if (unshare(CLONE_NEWNET) == -1) {
		nt_no_tap = "cannot create a network namespace (not root?)";
		return 0;
	}
	nt_no_ipv6();
	if ((fd = nt_tun_open(IFF_TAP | IFF_NO_PI, true)) == -1) {
		nt_no_tap = "cannot create a tap device (/dev/net/tun)";
		return 0;
	}
	if (ioctl(fd, TUNSETPERSIST, 1) == -1) {
		nt_no_tap = "cannot make the tap persistent";
		close(fd);
		return 0;
	}
	close(fd);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", NT_IFNAME);
	if (s == -1 || ioctl(s, SIOCGIFFLAGS, &ifr) == -1) {
		nt_no_tap = "cannot read the tap's flags";
		return 0;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) == -1 ||
	    ioctl(s, SIOCGIFINDEX, &ifr) == -1) {
		nt_no_tap = "cannot bring the tap up";
		close(s);
		return 0;
	}
	nt_ifindex = ifr.ifr_ifindex;
	close(s);
	return 0;
}

static void
require_tap(void)
{
	wt_require_worker();
	if (nt_no_tap != NULL) {
		print_message("[  SKIPPED ] %s\n", nt_no_tap);
		skip();
	}
}

/* An AF_PACKET socket on the tap for our frame type only. */
static struct nt_wire
nt_packet_wire(void)
{
	struct sockaddr_ll sll;
	struct nt_wire w = { -1, true };

	w.fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(NT_ETH_TYPE));
	assert_true(w.fd != -1);
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(NT_ETH_TYPE);
	sll.sll_ifindex = nt_ifindex;
	assert_int_equal(bind(w.fd, (struct sockaddr *)&sll, sizeof(sll)), 0);
	return w;
}

/* ------------------------------------------------------------------------ */
/* Frames. */

static void
nt_frame(uint8_t f[NT_FRAME], const uint8_t dst[6], const uint8_t src[6],
    const char *payload)
{
	memset(f, 0, NT_FRAME);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = NT_ETH_TYPE >> 8;
	f[13] = NT_ETH_TYPE & 0xFF;
	memcpy(f + 14, payload, strlen(payload));
}

/*
 * The next frame from the guest, up to timeout_ms: its length, or -1.
 * On a packet socket our own transmissions (PACKET_OUTGOING) are skipped.
 */
static ssize_t
nt_recv(struct nt_wire *w, uint8_t *buf, size_t len, int timeout_ms)
{
	struct pollfd pfd = { w->fd, POLLIN, 0 };
	struct sockaddr_ll sll;
	socklen_t sl;
	ssize_t n;

	for (;;) {
		if (poll(&pfd, 1, timeout_ms) != 1)
			return -1;
		sl = sizeof(sll);
		n = recvfrom(w->fd, buf, len, 0, (struct sockaddr *)&sll, &sl);
		if (n < 0)
			return -1;
		if (!w->packet || sll.sll_pkttype != PACKET_OUTGOING)
			return n;
	}
}

static void
nt_send(struct nt_wire *w, const uint8_t *f, size_t len)
{
	struct sockaddr_ll sll;

	if (!w->packet) {
		assert_int_equal(send(w->fd, f, len, 0), (ssize_t)len);
		return;
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(NT_ETH_TYPE);
	sll.sll_ifindex = nt_ifindex;
	sll.sll_halen = 6;
	memcpy(sll.sll_addr, f, 6);
	assert_int_equal(sendto(w->fd, f, len, 0, (struct sockaddr *)&sll,
	    sizeof(sll)), (ssize_t)len);
}

/*
 * Run vio_net with the interface JSON and extra arguments (which include
 * -v); exchange the frames over w: the guest's hello, our ping, its echo,
 * all exact.  mode is how the worker says it uses the descriptor.
 */
static void
nt_exchange(struct nt_wire *w, const char *iface, const char *const *extra,
    int close_after_spawn, const char *mode)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t want[NT_FRAME], got[2048];
	char json[1024];
	struct wt_proc p;
	ssize_t n;

	snprintf(json, sizeof(json), "{\"name\": \"vnet\", "
	    "\"memory\": {\"size_mib\": 4}, \"os\": {\"loader\": \"raw\", "
	    "\"kernel\": \"%s\", \"load_address\": 65536, "
	    "\"mode\": \"long\"}, \"devices\": {\"debug_exit\": true, "
	    "\"interfaces\": [%s]}}", WT_GUEST("vio_net"), iface);
	wt_spawn(&p, json, extra);
	if (close_after_spawn != -1)
		close(close_after_spawn);

	n = nt_recv(w, got, sizeof(got), NT_TIMEOUT);
	WT_CHECK(&p, n == NT_FRAME);
	nt_frame(want, bcast, nt_guest_mac, "hello from the guest");
	WT_CHECK(&p, memcmp(got, want, NT_FRAME) == 0);

	nt_frame(want, nt_guest_mac, nt_host_mac, "ping from the host");
	nt_send(w, want, NT_FRAME);
	n = nt_recv(w, got, sizeof(got), NT_TIMEOUT);
	WT_CHECK(&p, n == NT_FRAME);
	nt_frame(want, nt_host_mac, nt_guest_mac, "ping from the host");
	WT_CHECK(&p, memcmp(got, want, NT_FRAME) == 0);

	assert_int_equal(wt_wait(&p, NT_TIMEOUT), 0);
	WT_CHECK(&p, strcmp(p.console,
	    "virtio-net: features 30010020\n"
	    "mac 52:54:00:12:34:56\n"
	    "link up\n"
	    "tx: hello sent\n"
	    "rx: ping from the host\n"
	    "echo: sent\n") == 0);
	WT_CHECK(&p, p.status == WORKER_DEBUG_EXIT_BASE + 1);
	snprintf(json, sizeof(json), "vnet: debug: virtio-net@0xd0000000: "
	    "irq 5, MAC 52:54:00:12:34:56, %s\n", mode);
	WT_CHECK(&p, strstr(p.log, json) != NULL);
	wt_cleanup(&p);
}

/* The worker opens the tap by name (IFF_VNET_HDR, 12-byte header). */
static void
test_tap_by_name(void **state)
{
	struct nt_wire w;

	(void)state;
	require_tap();
	w = nt_packet_wire();
	nt_exchange(&w, "{\"type\": \"tap\", \"ifname\": \"" NT_IFNAME "\", "
	    "\"mac\": \"52:54:00:12:34:56\"}",
	    (const char *const []){ "-v", NULL }, -1,
	    "tap with a 12-byte vnet header");
	close(w.fd);
}

/* The test opens the tap (no vnet header) and passes it with -T. */
static void
test_tap_descriptor(void **state)
{
	char arg[32];
	const char *extra[4] = { "-v", "-T", arg, NULL };
	struct nt_wire w;
	int fd;

	(void)state;
	require_tap();
	w = nt_packet_wire();
	assert_true((fd = nt_tun_open(IFF_TAP | IFF_NO_PI, false)) != -1);
	snprintf(arg, sizeof(arg), "0=%d", fd);
	nt_exchange(&w, "{\"type\": \"tap\", \"mac\": \"52:54:00:12:34:56\"}",
	    extra, fd, "tap");
	close(w.fd);
}

/* A tap the worker cannot open is one clear error line and status 66. */
static void
test_tap_unusable(void **state)
{
	char json[1024];
	struct wt_proc p;
	int fd;

	(void)state;
	require_tap();
	/* Attached here already: a second attach is refused (EBUSY). */
	assert_true((fd = nt_tun_open(IFF_TAP | IFF_NO_PI, true)) != -1);
	snprintf(json, sizeof(json), "{\"name\": \"vnet\", "
	    "\"os\": {\"loader\": \"raw\", \"kernel\": \"%s\", "
	    "\"load_address\": 65536}, \"devices\": {\"interfaces\": "
	    "[{\"type\": \"tap\", \"ifname\": \"" NT_IFNAME "\"}]}}",
	    WT_GUEST("vio_net"));
	wt_run(&p, json, NT_TIMEOUT);
	close(fd);
	WT_CHECK(&p, p.status == 66);
	WT_CHECK(&p, strstr(p.log, "vnet: interface 0: tap " NT_IFNAME
	    ": Device or resource busy\n") != NULL);
	wt_cleanup(&p);
}

/* The same exchange over a datagram socket pair: no privileges needed. */
static void
test_socketpair(void **state)
{
	char arg[32];
	const char *extra[4] = { "-v", "-T", arg, NULL };
	struct nt_wire w = { -1, false };
	int sv[2];

	(void)state;
	wt_require_worker();
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	fcntl(sv[1], F_SETFD, FD_CLOEXEC);
	w.fd = sv[1];
	snprintf(arg, sizeof(arg), "0=%d", sv[0]);
	nt_exchange(&w, "{\"type\": \"tap\", \"mac\": \"52:54:00:12:34:56\"}",
	    extra, sv[0], "socket");
	close(w.fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tap_by_name),
		cmocka_unit_test(test_tap_descriptor),
		cmocka_unit_test(test_tap_unusable),
		cmocka_unit_test(test_socketpair),
	};

	return cmocka_run_group_tests(tests, nt_setup, NULL);
}
