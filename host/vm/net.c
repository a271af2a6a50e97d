// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include "log.h"
#include "net.h"

#define NET_TUN_PATH "/dev/net/tun"

static int net_ioctl(int fd, unsigned long req, void *arg)
{
	int r;

	do {
		r = ioctl(fd, req, arg);
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

/* A throwaway socket: the SIOC[GS]IF* ioctls are addressed by name through any inet socket. */
static int net_ctl_socket(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	return fd < 0 ? -errno : fd;
}

static int net_tun_open(const char *name, short flags, char ret_name[IFNAMSIZ])
{
	struct ifreq ifr;
	int fd, r;

	fd = open(NET_TUN_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = flags;
	r = net_ioctl(fd, TUNSETIFF, &ifr);
	if (r < 0) {
		close(fd);
		return r;
	}
	/* The kernel fills in the real name when we asked for a "vmtap%d" template. */
	memcpy(ret_name, ifr.ifr_name, IFNAMSIZ);
	ret_name[IFNAMSIZ - 1] = '\0';
	return fd;
}

static int net_tap_name(int tap_fd, char ret_name[IFNAMSIZ], short *ret_flags)
{
	struct ifreq ifr;
	int r;

	memset(&ifr, 0, sizeof(ifr));
	r = net_ioctl(tap_fd, TUNGETIFF, &ifr);
	if (r < 0)
		return r;
	memcpy(ret_name, ifr.ifr_name, IFNAMSIZ);
	ret_name[IFNAMSIZ - 1] = '\0';
	if (ret_flags)
		*ret_flags = ifr.ifr_flags;
	return 0;
}

static void net_ifreq_addr(struct ifreq *ifr, const char *name, uint32_t s_addr)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", name);
	sin.sin_addr.s_addr = s_addr;
	memcpy(&ifr->ifr_addr, &sin, sizeof(sin));
}

static int net_set_mac(int sock, const char *name, const uint8_t mac[6])
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
	return net_ioctl(sock, SIOCSIFHWADDR, &ifr);
}

static int net_configure(const struct tap_spec *t, const char *name, const char **ret_step)
{
	struct ifreq ifr;
	int sock, r;

	sock = net_ctl_socket();
	if (sock < 0) {
		*ret_step = "socket";
		return sock;
	}
	if (t->kind == TAP_KIND_HOST_IP) {
		net_ifreq_addr(&ifr, name, t->host_ip);
		*ret_step = "set address";
		r = net_ioctl(sock, SIOCSIFADDR, &ifr);
		if (r < 0)
			goto out;
		net_ifreq_addr(&ifr, name, t->netmask);
		*ret_step = "set netmask";
		r = net_ioctl(sock, SIOCSIFNETMASK, &ifr);
		if (r < 0)
			goto out;
	}
	if (t->has_mac) {
		*ret_step = "set mac";
		r = net_set_mac(sock, name, t->mac);
		if (r < 0)
			goto out;
	}
	r = 0;
	if (t->kind == TAP_KIND_HOST_IP) {
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
		*ret_step = "get flags";
		r = net_ioctl(sock, SIOCGIFFLAGS, &ifr);
		if (r < 0)
			goto out;
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		*ret_step = "bring up";
		r = net_ioctl(sock, SIOCSIFFLAGS, &ifr);
	}
out:
	close(sock);
	return r;
}

/* --tap-fd: the descriptor is the caller's; we keep a close-on-exec duplicate of our own. */
static int net_adopt_fd(int fd, char ret_name[IFNAMSIZ], const char **ret_step)
{
	short flags = 0;
	int flags_fd, fl, dup_fd, r;

	*ret_step = "check descriptor";
	flags_fd = fcntl(fd, F_GETFD);
	if (flags_fd < 0)
		return -errno;
	/* A CLOEXEC descriptor was not meant to be handed to us (crosvm refuses it too). */
	if (flags_fd & FD_CLOEXEC) {
		*ret_step = "descriptor is close-on-exec, so it was not inherited";
		return -EBADF;
	}
	*ret_step = "not a tap device";
	r = net_tap_name(fd, ret_name, &flags);
	if (r < 0)
		return r == -EBADFD || r == -ENOTTY || r == -EINVAL ? -ENOTTY : r;
	if (!(flags & IFF_TAP))
		return -ENOTTY;
	*ret_step = "duplicate";
	dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (dup_fd < 0)
		return -errno;
	*ret_step = "set O_NONBLOCK";
	fl = fcntl(dup_fd, F_GETFL);
	if (fl < 0 || fcntl(dup_fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		r = -errno;
		close(dup_fd);
		return r;
	}
	return dup_fd;
}

static int net_open_one(const struct tap_spec *t, size_t idx)
{
	char name[IFNAMSIZ] = "";
	const char *step = "open " NET_TUN_PATH;
	char what[64];
	int fd, r;

	switch (t->kind) {
	case TAP_KIND_HOST_IP:
		snprintf(what, sizeof(what), "tap %zu (vmtap%%d)", idx);
		fd = net_tun_open("vmtap%d", IFF_TAP | IFF_NO_PI, name);
		break;
	case TAP_KIND_NAME:
		snprintf(what, sizeof(what), "tap %zu (%.16s)", idx, t->name ? t->name : "");
		if (!t->name) {
			fd = -EINVAL;
			break;
		}
		fd = net_tun_open(t->name, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, name);
		break;
	case TAP_KIND_FD:
		snprintf(what, sizeof(what), "tap %zu (--tap-fd %d)", idx, t->fd);
		fd = net_adopt_fd(t->fd, name, &step);
		break;
	default:
		snprintf(what, sizeof(what), "tap %zu", idx);
		fd = -EINVAL;
		break;
	}
	if (fd < 0) {
		r = fd;
		goto err;
	}
	if (t->kind == TAP_KIND_HOST_IP || t->has_mac) {
		r = net_configure(t, name, &step);
		if (r < 0)
			goto err_close;
	}
	log_debug("%s: opened %s", what, name);
	return fd;

err_close:
	close(fd);
err:
	errno = -r;
	log_err("%s: %s: %m", what, step);
	return r;
}

int net_open_taps(const struct host_config *cfg, int **ret_fds)
{
	int *fds = NULL;
	size_t i;
	int r;

	if (cfg->n_taps == 0) {
		*ret_fds = NULL;
		return 0;
	}
	fds = calloc(cfg->n_taps, sizeof(*fds));
	if (!fds)
		return -ENOMEM;
	for (i = 0; i < cfg->n_taps; i++) {
		r = net_open_one(&cfg->taps[i], i);
		if (r < 0)
			goto err_close;
		fds[i] = r;
	}
	*ret_fds = fds;
	return 0;

err_close:
	while (i-- > 0)
		close(fds[i]);
	free(fds);
	return r;
}

/* The answer for one tap, taken before the host's seccomp filter forbids socket(). */
static struct {
	bool valid;
	int tap_fd;
	int err;
	uint8_t mac[6];
	uint32_t ip, mask;
} net_cache;

static int net_query_live(int tap_fd, uint8_t ret_mac[6], uint32_t *ret_ip,
			  uint32_t *ret_netmask);

void net_prefetch(int tap_fd)
{
	net_cache.err = net_query_live(tap_fd, net_cache.mac, &net_cache.ip, &net_cache.mask);
	net_cache.tap_fd = tap_fd;
	net_cache.valid = true;
}

int net_query(int tap_fd, uint8_t ret_mac[6], uint32_t *ret_ip, uint32_t *ret_netmask)
{
	if (!net_cache.valid || net_cache.tap_fd != tap_fd)
		return net_query_live(tap_fd, ret_mac, ret_ip, ret_netmask);
	if (net_cache.err < 0)
		return net_cache.err;
	memcpy(ret_mac, net_cache.mac, 6);
	*ret_ip = net_cache.ip;
	*ret_netmask = net_cache.mask;
	return 0;
}

static int net_query_live(int tap_fd, uint8_t ret_mac[6], uint32_t *ret_ip,
			  uint32_t *ret_netmask)
{
	char name[IFNAMSIZ];
	struct ifreq ifr;
	struct sockaddr_in sin;
	uint8_t mac[6];
	uint32_t ip, mask;
	int sock, r;

	r = net_tap_name(tap_fd, name, NULL);
	if (r < 0)
		return r;
	sock = net_ctl_socket();
	if (sock < 0)
		return sock;

	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, IFNAMSIZ);
	r = net_ioctl(sock, SIOCGIFHWADDR, &ifr);
	if (r < 0)
		goto out;
	if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
		r = -EINVAL;
		goto out;
	}
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);

	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, IFNAMSIZ);
	r = net_ioctl(sock, SIOCGIFADDR, &ifr);
	if (r < 0)
		goto out;
	memcpy(&sin, &ifr.ifr_addr, sizeof(sin));
	if (sin.sin_family != AF_INET) {
		r = -EADDRNOTAVAIL;
		goto out;
	}
	ip = sin.sin_addr.s_addr;

	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, IFNAMSIZ);
	r = net_ioctl(sock, SIOCGIFNETMASK, &ifr);
	if (r < 0)
		goto out;
	memcpy(&sin, &ifr.ifr_netmask, sizeof(sin));
	mask = sin.sin_addr.s_addr;

	memcpy(ret_mac, mac, 6);
	*ret_ip = ip;
	*ret_netmask = mask;
out:
	close(sock);
	return r;
}
