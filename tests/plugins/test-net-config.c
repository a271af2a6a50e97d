// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * Net config (docs/protocol.md Appendix A), run with --host-ip 100.115.92.5
 * --netmask 255.255.255.252 --mac de:21:e8:47:6b:6a: the addresses come back
 * in network byte order, the MAC as given, and the descriptor is a working
 * tap (TUNGETFEATURES) owned by the caller.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "testlib.h"

int main(void)
{
	static const uint8_t mac[6] = { 0xde, 0x21, 0xe8, 0x47, 0x6b, 0x6a };
	struct crosvm_net_config net, again;
	struct crosvm *crosvm;
	unsigned int features = 0;

	test_init("net-config");
	TEST_OK(crosvm_connect(&crosvm));
	memset(&net, 0xee, sizeof(net));
	TEST_OK(crosvm_net_get_config(crosvm, &net));
	TEST_ASSERT(net.host_ip == htonl(0x64735c05), "host_ip %#x", net.host_ip);
	TEST_ASSERT(net.netmask == htonl(0xfffffffc), "netmask %#x", net.netmask);
	TEST_ASSERT(memcmp(net.host_mac_address, mac, 6) == 0,
		    "mac %02x:%02x:%02x:%02x:%02x:%02x", net.host_mac_address[0],
		    net.host_mac_address[1], net.host_mac_address[2], net.host_mac_address[3],
		    net.host_mac_address[4], net.host_mac_address[5]);
	TEST_ASSERT(net.tap_fd >= 0 && fcntl(net.tap_fd, F_GETFD) >= 0, "tap fd %d", net.tap_fd);
	TEST_ASSERT(ioctl(net.tap_fd, TUNGETFEATURES, &features) == 0, "TUNGETFEATURES: %m");
	TEST_ASSERT(features & IFF_TAP, "tun features %#x", features);

	/* Every call hands out a new descriptor of the same tap. */
	TEST_OK(crosvm_net_get_config(crosvm, &again));
	TEST_ASSERT(again.tap_fd >= 0 && again.tap_fd != net.tap_fd, "second tap fd %d",
		    again.tap_fd);
	close(again.tap_fd);
	close(net.tap_fd);
	TEST_OK(crosvm_destroy_connection(&crosvm));
	return 0;
}
