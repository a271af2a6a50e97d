// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * host/vm/net.c against real tap devices (needs /dev/net/tun and CAP_NET_ADMIN;
 * the test exits 77, meson's SKIP, without them).  Every tap created here is
 * non-persistent or made non-persistent again, so it vanishes with its fds.
 */

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
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

#include <linux/if_tun.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"
#include "net.h"

static const uint8_t test_mac[6] = { 0xde, 0x21, 0xe8, 0x47, 0x6b, 0x6a };
static const uint8_t other_mac[6] = { 0x02, 0x50, 0x56, 0x00, 0x00, 0x01 };

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static void tap_name_of(int fd, char name[IFNAMSIZ], short *flags)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	assert_int_equal(ioctl(fd, TUNGETIFF, &ifr), 0);
	memcpy(name, ifr.ifr_name, IFNAMSIZ);
	if (flags)
		*flags = ifr.ifr_flags;
}

/* A tap of our own, opened outside net.c, for the --tap-name and --tap-fd cases. */
static int make_tap(const char *tmpl, short flags, bool cloexec, char name[IFNAMSIZ])
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | (cloexec ? O_CLOEXEC : 0));

	assert_true(fd >= 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tmpl);
	ifr.ifr_flags = flags;
	assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
	memcpy(name, ifr.ifr_name, IFNAMSIZ);
	return fd;
}

static void assert_nonblock_cloexec(int fd)
{
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

static void host_ip_triple(void **state)
{
	struct tap_spec t = { .kind = TAP_KIND_HOST_IP, .fd = -1, .has_mac = true };
	struct host_config cfg = { .taps = &t, .n_taps = 1 };
	char name[IFNAMSIZ];
	uint32_t ip = 0, mask = 0, feat = 0;
	uint8_t mac[6] = { 0 };
	struct ifreq ifr;
	short flags;
	int *fds = NULL, sock;

	(void)state;
	t.host_ip = inet_addr("100.115.92.5");
	t.netmask = inet_addr("255.255.255.252");
	memcpy(t.mac, test_mac, 6);

	assert_int_equal(net_open_taps(&cfg, &fds), 0);
	assert_non_null(fds);
	assert_nonblock_cloexec(fds[0]);
	tap_name_of(fds[0], name, &flags);
	assert_int_equal(strncmp(name, "vmtap", 5), 0);
	assert_true(flags & IFF_TAP);
	assert_true(flags & IFF_NO_PI);
	/* The triple's tap has no virtio-net header (crosvm's plugin host does the same). */
	assert_false(flags & IFF_VNET_HDR);

	assert_int_equal(net_query(fds[0], mac, &ip, &mask), 0);
	assert_memory_equal(mac, test_mac, 6);
	assert_int_equal(ip, htonl(0x64735c05));
	assert_int_equal(mask, htonl(0xfffffffc));
	/* The plugin's own check on the passed fd. */
	assert_int_equal(ioctl(fds[0], TUNGETFEATURES, &feat), 0);
	assert_true(feat & IFF_TAP);

	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(sock >= 0);
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, IFNAMSIZ);
	assert_int_equal(ioctl(sock, SIOCGIFFLAGS, &ifr), 0);
	assert_true(ifr.ifr_flags & IFF_UP);
	close(sock);

	close(fds[0]);
	free(fds);
	/* Not persistent: closing our only descriptor removes the interface. */
	assert_int_equal(if_nametoindex(name), 0);
}

static void by_name_and_fd(void **state)
{
	char name_a[IFNAMSIZ], name_b[IFNAMSIZ], got[IFNAMSIZ];
	struct tap_spec t[2] = { 0 };
	struct host_config cfg = { .taps = t, .n_taps = 2 };
	uint32_t ip = 1, mask = 1;
	uint8_t mac[6] = { 0 };
	int setup_a, user_fd, *fds = NULL, before;
	short flags;

	(void)state;
	/* --tap-name needs an existing interface: keep one alive with TUNSETPERSIST. */
	setup_a = make_tap("pvmtesta%d", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, true, name_a);
	assert_int_equal(ioctl(setup_a, TUNSETPERSIST, 1), 0);
	close(setup_a);
	/* --tap-fd: inherited, hence not close-on-exec, and blocking until the host adopts it. */
	user_fd = make_tap("pvmtestb%d", IFF_TAP | IFF_NO_PI, false, name_b);
	assert_false(fcntl(user_fd, F_GETFL) & O_NONBLOCK);

	t[0].kind = TAP_KIND_NAME;
	t[0].name = name_a;
	t[0].fd = -1;
	t[0].has_mac = true;
	memcpy(t[0].mac, test_mac, 6);
	t[1].kind = TAP_KIND_FD;
	t[1].fd = user_fd;
	t[1].has_mac = true;
	memcpy(t[1].mac, other_mac, 6);

	before = count_fds();
	assert_int_equal(net_open_taps(&cfg, &fds), 0);
	assert_int_equal(count_fds(), before + 2);

	tap_name_of(fds[0], got, &flags);
	assert_string_equal(got, name_a);
	assert_true(flags & IFF_VNET_HDR);
	assert_nonblock_cloexec(fds[0]);
	/* No address configured: GetNetConfig must fail rather than report zeros. */
	assert_int_equal(net_query(fds[0], mac, &ip, &mask), -EADDRNOTAVAIL);
	assert_int_equal(ip, 1); /* out-params untouched on failure */

	assert_true(fds[1] != user_fd);
	tap_name_of(fds[1], got, NULL);
	assert_string_equal(got, name_b);
	assert_nonblock_cloexec(fds[1]);
	/* The caller's descriptor stays theirs, unchanged apart from the shared file flags. */
	assert_false(fcntl(user_fd, F_GETFD) & FD_CLOEXEC);

	/* The MACs given with tap-name/tap-fd were applied; check through an address. */
	{
		int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		struct ifreq ifr;

		assert_true(sock >= 0);
		memset(&ifr, 0, sizeof(ifr));
		memcpy(ifr.ifr_name, name_a, IFNAMSIZ);
		assert_int_equal(ioctl(sock, SIOCGIFHWADDR, &ifr), 0);
		assert_memory_equal(ifr.ifr_hwaddr.sa_data, test_mac, 6);
		memset(&ifr, 0, sizeof(ifr));
		memcpy(ifr.ifr_name, name_b, IFNAMSIZ);
		assert_int_equal(ioctl(sock, SIOCGIFHWADDR, &ifr), 0);
		assert_memory_equal(ifr.ifr_hwaddr.sa_data, other_mac, 6);
		close(sock);
	}

	assert_int_equal(ioctl(fds[0], TUNSETPERSIST, 0), 0);
	close(fds[0]);
	close(fds[1]);
	free(fds);
	close(user_fd);
	assert_int_equal(if_nametoindex(name_a), 0);
	assert_int_equal(if_nametoindex(name_b), 0);
}

static void bad_fds_roll_back(void **state)
{
	char name[IFNAMSIZ];
	struct tap_spec t[2] = { 0 };
	struct host_config cfg = { .taps = t, .n_taps = 2 };
	int cloexec_tap, not_tap, *fds = (int *)&cfg, before;

	(void)state;
	cloexec_tap = make_tap("pvmtestc%d", IFF_TAP | IFF_NO_PI, true, name);
	not_tap = open("/dev/null", O_RDWR);
	assert_true(not_tap >= 0);

	/* The first tap opens fine, the second fails: nothing may be left open. */
	t[0].kind = TAP_KIND_HOST_IP;
	t[0].fd = -1;
	t[0].host_ip = inet_addr("100.115.92.9");
	t[0].netmask = inet_addr("255.255.255.252");
	t[0].has_mac = true;
	memcpy(t[0].mac, test_mac, 6);
	t[1].kind = TAP_KIND_FD;

	before = count_fds();
	t[1].fd = cloexec_tap;
	assert_int_equal(net_open_taps(&cfg, &fds), -EBADF);
	assert_int_equal(count_fds(), before);
	assert_ptr_equal(fds, (int *)&cfg); /* untouched on failure */

	t[1].fd = not_tap;
	assert_int_equal(net_open_taps(&cfg, &fds), -ENOTTY);
	assert_int_equal(count_fds(), before);

	t[1].fd = 1000;
	assert_int_equal(net_open_taps(&cfg, &fds), -EBADF);
	assert_int_equal(count_fds(), before);

	close(not_tap);
	close(cloexec_tap);
	assert_int_equal(if_nametoindex(name), 0);
}

static void query_rejects_non_ethernet(void **state)
{
	char name[IFNAMSIZ];
	uint8_t mac[6];
	uint32_t ip, mask;
	int tun, null;

	(void)state;
	/* A tun (layer 3) device has no Ethernet address: GetNetConfig must refuse it. */
	tun = make_tap("pvmtestd%d", IFF_TUN | IFF_NO_PI, true, name);
	assert_int_equal(net_query(tun, mac, &ip, &mask), -EINVAL);
	close(tun);

	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	assert_true(net_query(null, mac, &ip, &mask) < 0);
	close(null);
	assert_true(net_query(-1, mac, &ip, &mask) < 0);
}

static void no_taps(void **state)
{
	struct host_config cfg = { 0 };
	int *fds = (int *)&cfg;

	(void)state;
	assert_int_equal(net_open_taps(&cfg, &fds), 0);
	assert_null(fds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(no_taps),
		cmocka_unit_test(host_ip_triple),
		cmocka_unit_test(by_name_and_fd),
		cmocka_unit_test(bad_fds_roll_back),
		cmocka_unit_test(query_rejects_non_ethernet),
	};
	struct ifreq ifr;
	int fd;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "SKIP: /dev/net/tun: %s\n", strerror(errno));
		return 77;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "pvmprobe%%d");
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		fprintf(stderr, "SKIP: cannot create a tap: %s\n", strerror(errno));
		close(fd);
		return 77;
	}
	close(fd);
	/* Expected failures log one line each; only errors are interesting here. */
	log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
