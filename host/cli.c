// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * The command line: crosvm's spelling and value formats for everything that
 * matters in plugin mode, but every mistake is one "plugvm: error: ..." line
 * and -EINVAL (exit status 1), never a partial configuration.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "crosvm.h"
#include "log.h"
#include "plugvm-config.h"
#include "util.h"

/* Mount and gid-map files are a few lines; anything larger is a mistake, not a config. */
#define CLI_FILE_MAX (1024 * 1024)
/* Bounds on repeatable options, so a runaway script cannot make us allocate without limit. */
#define CLI_MAX_REPEAT 4096u

#define CLI_DEFAULT_KVM_DEVICE "/dev/kvm"
#define CLI_DEFAULT_PIVOT_ROOT "/var/empty"

enum cli_opt_id {
	OPT_HELP,
	OPT_VERSION,
	OPT_LOG_LEVEL,
	OPT_SYSLOG,
	OPT_SYSLOG_TAG,
	OPT_NO_SYSLOG,
	OPT_PLUGIN,
	OPT_PARAMS,
	OPT_CPUS,
	OPT_NET,
	OPT_HOST_IP,
	OPT_NETMASK,
	OPT_MAC,
	OPT_TAP_NAME,
	OPT_TAP_FD,
	OPT_VHOST_NET,
	OPT_VHOST_NET_DEVICE,
	OPT_HYPERVISOR,
	OPT_KVM_DEVICE,
	OPT_VCPU_CGROUP_PATH,
	OPT_DISABLE_SANDBOX,
	OPT_NO_EXTENSIONS,
	OPT_SECCOMP_POLICY_DIR,
	OPT_SECCOMP_LOG_FAILURES,
	OPT_NO_HOST_SECCOMP,
	OPT_PIVOT_ROOT,
	OPT_PLUGIN_ROOT,
	OPT_PLUGIN_MOUNT,
	OPT_PLUGIN_MOUNT_FILE,
	OPT_PLUGIN_GID_MAP,
	OPT_PLUGIN_GID_MAP_FILE,
	OPT_HUGEPAGES,
	OPT_NAME,
	OPT_STATS,
	OPT_PLUGIN_STDIN,
	OPT_MAX,
};

enum {
	CLI_VALUE = 0x1,  /* takes a value */
	CLI_REPEAT = 0x2, /* may be given more than once */
	CLI_GLOBAL = 0x4, /* also accepted before "run" */
};

struct cli_option {
	const char *name;
	char short_name;
	unsigned flags;
	enum cli_opt_id id;
};

static const struct cli_option cli_options[] = {
	{ "help", 'h', CLI_GLOBAL | CLI_REPEAT, OPT_HELP },
	{ "version", 0, CLI_GLOBAL | CLI_REPEAT, OPT_VERSION },
	{ "log-level", 0, CLI_GLOBAL | CLI_VALUE, OPT_LOG_LEVEL },
	{ "syslog", 0, CLI_GLOBAL | CLI_REPEAT, OPT_SYSLOG },
	{ "syslog-tag", 0, CLI_GLOBAL | CLI_VALUE, OPT_SYSLOG_TAG },
	{ "no-syslog", 0, CLI_GLOBAL | CLI_REPEAT, OPT_NO_SYSLOG },
	{ "plugin", 0, CLI_VALUE, OPT_PLUGIN },
	{ "params", 'p', CLI_VALUE | CLI_REPEAT, OPT_PARAMS },
	{ "cpus", 'c', CLI_VALUE, OPT_CPUS },
	{ "net", 0, CLI_VALUE | CLI_REPEAT, OPT_NET },
	{ "host-ip", 0, CLI_VALUE, OPT_HOST_IP },
	{ "netmask", 0, CLI_VALUE, OPT_NETMASK },
	{ "mac", 0, CLI_VALUE, OPT_MAC },
	{ "tap-name", 0, CLI_VALUE | CLI_REPEAT, OPT_TAP_NAME },
	{ "tap-fd", 0, CLI_VALUE | CLI_REPEAT, OPT_TAP_FD },
	{ "vhost-net", 0, CLI_REPEAT, OPT_VHOST_NET },
	{ "vhost-net-device", 0, CLI_VALUE, OPT_VHOST_NET_DEVICE },
	{ "hypervisor", 0, CLI_VALUE, OPT_HYPERVISOR },
	{ "kvm-device", 0, CLI_VALUE, OPT_KVM_DEVICE },
	{ "vcpu-cgroup-path", 0, CLI_VALUE, OPT_VCPU_CGROUP_PATH },
	{ "disable-sandbox", 0, CLI_REPEAT, OPT_DISABLE_SANDBOX },
	{ "no-extensions", 0, CLI_REPEAT, OPT_NO_EXTENSIONS },
	{ "seccomp-policy-dir", 0, CLI_VALUE, OPT_SECCOMP_POLICY_DIR },
	{ "seccomp-log-failures", 0, CLI_REPEAT, OPT_SECCOMP_LOG_FAILURES },
	{ "no-host-seccomp", 0, CLI_REPEAT, OPT_NO_HOST_SECCOMP },
	{ "pivot-root", 0, CLI_VALUE, OPT_PIVOT_ROOT },
	{ "plugin-root", 0, CLI_VALUE, OPT_PLUGIN_ROOT },
	{ "plugin-mount", 0, CLI_VALUE | CLI_REPEAT, OPT_PLUGIN_MOUNT },
	{ "plugin-mount-file", 0, CLI_VALUE, OPT_PLUGIN_MOUNT_FILE },
	{ "plugin-gid-map", 0, CLI_VALUE | CLI_REPEAT, OPT_PLUGIN_GID_MAP },
	{ "plugin-gid-map-file", 0, CLI_VALUE, OPT_PLUGIN_GID_MAP_FILE },
	{ "hugepages", 0, CLI_REPEAT, OPT_HUGEPAGES },
	{ "name", 0, CLI_VALUE, OPT_NAME },
	{ "stats", 0, CLI_REPEAT, OPT_STATS },
	{ "plugin-stdin", 0, CLI_REPEAT, OPT_PLUGIN_STDIN },
};

static const char cli_usage[] =
	"Usage: plugvm [GLOBAL OPTIONS] run --plugin PATH [OPTIONS] [-- ARGS...]\n"
	"\n"
	"Runs a KVM virtual machine driven by PATH, a program using the crosvm plugin API.\n"
	"ARGS are appended to the plugin's arguments after the --params values.\n"
	"\n"
	"Global options (also accepted after `run`):\n"
	"  -h, --help                  print this help and exit\n"
	"      --version               print the version and exit\n"
	"      --log-level LEVEL       off, error, warn, info (default), debug (trace = debug)\n"
	"      --syslog                also send log lines to syslog (daemon facility)\n"
	"      --syslog-tag TAG        syslog identity (default plugvm); implies --syslog\n"
	"      --no-syslog             do not use syslog (the default; last one wins)\n"
	"\n"
	"Run options:\n"
	"      --plugin PATH           plugin program (required); becomes its argv[0]\n"
	"  -p, --params STR            one more plugin argument (repeatable)\n"
	"  -c, --cpus N|num-cores=N[,...]  number of vcpus, 1..64 (default 1)\n"
	"      --net host-ip=IP,netmask=MASK,mac=MAC | tap-name=NAME[,mac=MAC] | tap-fd=FD[,mac=MAC]\n"
	"                              add a tap (repeatable)\n"
	"      --host-ip IP --netmask MASK --mac MAC\n"
	"                              create and configure a tap vmtapN (all three or none)\n"
	"      --tap-name NAME         open the existing tap NAME (repeatable)\n"
	"      --tap-fd FD             use the inherited tap descriptor FD (repeatable)\n"
	"      --hypervisor kvm[device=PATH]  KVM device node (default /dev/kvm)\n"
	"      --kvm-device PATH       deprecated spelling of --hypervisor kvm[device=PATH]\n"
	"      --vcpu-cgroup-path DIR  put the host and vcpu threads into DIR/tasks\n"
	"      --disable-sandbox       run the plugin without a jail\n"
	"      --no-extensions         answer API 0.23 extension requests ENOTTY, as crosvm does\n"
	"      --seccomp-policy-dir DIR  directory holding plugin.policy / plugin.bpf\n"
	"      --seccomp-log-failures  log seccomp violations instead of killing\n"
	"      --no-host-seccomp       do not filter the host's own system calls (debugging)\n"
	"      --pivot-root DIR        jail root without --plugin-root (default /var/empty)\n"
	"      --plugin-root DIR       jail root (absolute, existing directory)\n"
	"      --plugin-mount SRC[:[DST][:WRITABLE]]  bind mount into the jail (repeatable)\n"
	"      --plugin-mount-file FILE  one --plugin-mount value per line\n"
	"      --plugin-gid-map INNER[:[OUTER][:COUNT]]  extra gid map line (repeatable)\n"
	"      --plugin-gid-map-file FILE  one --plugin-gid-map value per line\n"
	"      --plugin-stdin          give the host's stdin to the jailed plugin (default /dev/null)\n"
	"      --hugepages             accepted; no effect for plugin VMs\n"
	"      --name NAME             name of the host's main thread\n"
	"      --stats                 print vcpu exit counts and handling latencies at the end\n"
	"      --vhost-net, --vhost-net-device PATH  rejected: vhost-net is not supported\n"
	"\n"
	"Exit status: 0 if the plugin exited with status 0, 1 on any error.\n";

/* Taps in the four groups the "first tap" order is built from. */
struct cli_taps {
	struct tap_spec *items;
	size_t n;
};

struct cli {
	struct host_config *cfg;
	bool seen[OPT_MAX];
	char err[512];

	char **extra; /* ARGS after "--" (borrowed from argv) */
	size_t n_extra;

	struct cli_taps net, names, fds;
	bool has_host_ip, has_netmask, has_mac;
	uint32_t host_ip, netmask;
	uint8_t mac[6];

	bool vhost_net;
	bool kvm_device_option; /* deprecated --kvm-device was used */
	char *hypervisor_device;
	char *kvm_device;
	char *mount_file;
	char *gid_map_file;
};

/* Records the first error; later ones are consequences and would only confuse. */
static int __attribute__((format(printf, 2, 3))) cli_err(struct cli *c, const char *fmt, ...)
{
	va_list ap;

	if (c->err[0])
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Puts context ("--plugin-mount-file F line 3: ") in front of the recorded error. */
static void __attribute__((format(printf, 2, 3))) cli_err_prefix(struct cli *c, const char *fmt,
								   ...)
{
	char prefix[256];
	size_t plen, olen;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	plen = strlen(prefix);
	olen = strnlen(c->err, sizeof(c->err) - 1);
	if (plen + olen > sizeof(c->err) - 1)
		olen = sizeof(c->err) - 1 - plen;
	memmove(c->err + plen, c->err, olen);
	memcpy(c->err, prefix, plen);
	c->err[plen + olen] = '\0';
}

static void cli_print_error(const char *msg)
{
	char line[sizeof(((struct cli *)0)->err) + 32];
	int n;

	n = snprintf(line, sizeof(line), "plugvm: error: %s", msg[0] ? msg : "invalid arguments");
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	/* The message quotes user input; it must still be exactly one line. */
	for (int i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)line[i];

		if (ch < 0x20 || ch == 0x7f)
			line[i] = '?';
	}
	line[n++] = '\n';
	/* One write so that the line cannot interleave with anything else. */
	while (write(STDERR_FILENO, line, (size_t)n) < 0 && errno == EINTR)
		;
}

static int cli_oom(struct cli *c)
{
	cli_err(c, "out of memory");
	return -ENOMEM;
}

static int cli_strdup(struct cli *c, char **dst, const char *src)
{
	char *s = strdup(src);

	if (!s)
		return cli_oom(c);
	free(*dst);
	*dst = s;
	return 0;
}

static int cli_grow(struct cli *c, void **arr, size_t n, size_t elem)
{
	void *p;

	if (n >= CLI_MAX_REPEAT)
		return cli_err(c, "too many values (at most %u of each kind)", CLI_MAX_REPEAT);
	p = realloc(*arr, (n + 1) * elem);
	if (!p)
		return cli_oom(c);
	*arr = p;
	return 0;
}

/* Strict decimal: digits only, no sign, no spaces, no overflow. */
static int parse_u32(const char *s, uint32_t *ret)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return -ERANGE;
	}
	*ret = (uint32_t)v;
	return 0;
}

/* Dotted quad as Rust's Ipv4Addr accepts it: four decimal octets, no leading zeros. */
static int parse_ipv4(const char *s, uint32_t *ret_s_addr)
{
	uint8_t b[4];

	for (int i = 0; i < 4; i++) {
		unsigned v = 0, digits = 0;

		while (*s >= '0' && *s <= '9') {
			if (digits == 1 && v == 0)
				return -EINVAL;
			v = v * 10 + (unsigned)(*s - '0');
			if (++digits > 3 || v > 255)
				return -EINVAL;
			s++;
		}
		if (!digits)
			return -EINVAL;
		b[i] = (uint8_t)v;
		if (i < 3 && *s++ != '.')
			return -EINVAL;
	}
	if (*s)
		return -EINVAL;
	/* s_addr holds the octets in memory order, whatever the host byte order. */
	memcpy(ret_s_addr, b, 4);
	return 0;
}

static int hex_digit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Six ':'-separated groups of one or two hex digits. */
static int parse_mac(const char *s, uint8_t mac[6])
{
	uint8_t out[6];

	for (int i = 0; i < 6; i++) {
		int hi = hex_digit(s[0]), lo;

		if (hi < 0)
			return -EINVAL;
		lo = hex_digit(s[1]);
		if (lo >= 0) {
			out[i] = (uint8_t)(hi << 4 | lo);
			s += 2;
		} else {
			out[i] = (uint8_t)hi;
			s += 1;
		}
		if (i < 5 && *s++ != ':')
			return -EINVAL;
	}
	if (*s)
		return -EINVAL;
	memcpy(mac, out, 6);
	return 0;
}

static int parse_bool(const char *s, bool *ret)
{
	if (strcmp(s, "true") == 0)
		*ret = true;
	else if (strcmp(s, "false") == 0)
		*ret = false;
	else
		return -EINVAL;
	return 0;
}

/*
 * Splits a crosvm key=value list in place.  Commas inside [...] belong to the
 * value (e.g. --cpus num-cores=4,clusters=[[0,1],[2,3]]).  Returns the
 * number of entries or -EINVAL for unbalanced brackets.
 */
struct kv {
	char *key;
	char *value; /* NULL for a bare key */
};

static int kv_split(char *s, struct kv *out, size_t max)
{
	size_t n = 0;
	int depth = 0;
	char *start = s;

	for (char *p = s;; p++) {
		if (*p == '[') {
			depth++;
		} else if (*p == ']') {
			if (--depth < 0)
				return -EINVAL;
		} else if ((*p == ',' && depth == 0) || *p == '\0') {
			bool end = *p == '\0';
			char *eq;

			if (n == max)
				return -E2BIG;
			*p = '\0';
			out[n].key = start;
			eq = strchr(start, '=');
			out[n].value = NULL;
			if (eq) {
				*eq = '\0';
				out[n].value = eq + 1;
			}
			n++;
			if (end)
				break;
			start = p + 1;
		}
	}
	if (depth != 0)
		return -EINVAL;
	return (int)n;
}

static int cli_parse_cpus(struct cli *c, const char *s)
{
	struct kv kv[32];
	uint32_t n = 0;
	char *copy;
	int cnt, r;
	bool have = false;

	if (strchr(s, '=') == NULL && strchr(s, ',') == NULL) {
		r = parse_u32(s, &n);
		if (r < 0)
			return cli_err(c, "--cpus: '%s' is not a number", s);
		goto check;
	}

	copy = strdup(s);
	if (!copy)
		return cli_oom(c);
	cnt = kv_split(copy, kv, ARRAY_SIZE(kv));
	if (cnt < 0) {
		free(copy);
		return cli_err(c, "--cpus: malformed list '%s'", s);
	}
	r = 0;
	for (int i = 0; i < cnt && r == 0; i++) {
		if (!kv[i].key[0])
			r = cli_err(c, "--cpus: empty entry in '%s'", s);
		else if (!kv[i].value)
			r = cli_err(c, "--cpus: '%s' needs a value (num-cores=N)", kv[i].key);
		else if (strcmp(kv[i].key, "num-cores") != 0)
			continue; /* clusters, core-types, boot-cpu...: meaningless for plugins */
		else if (have)
			r = cli_err(c, "--cpus: num-cores given twice");
		else if (parse_u32(kv[i].value, &n) < 0)
			r = cli_err(c, "--cpus: num-cores needs a number");
		else
			have = true;
	}
	free(copy);
	if (r < 0)
		return r;
	if (!have)
		n = 1;
check:
	if (n < 1 || n > CONFIG_MAX_VCPUS)
		return cli_err(c, "--cpus: %u vcpus is out of range (1..%u)", n, CONFIG_MAX_VCPUS);
	c->cfg->cpus = n;
	return 0;
}

/* A descriptor number for --tap-fd: inherited, so it must be open and survive exec. */
static int cli_parse_tap_fd(struct cli *c, const char *what, const char *s, int *ret_fd)
{
	uint32_t v;
	int flags;

	if (parse_u32(s, &v) < 0 || v > INT_MAX)
		return cli_err(c, "%s: '%s' is not a descriptor number", what, s);
	flags = fcntl((int)v, F_GETFD);
	if (flags < 0)
		return cli_err(c, "%s: descriptor %u is not open", what, v);
	if (flags & FD_CLOEXEC)
		return cli_err(c, "%s: descriptor %u is close-on-exec, so it was not meant to be "
				  "inherited", what, v);
	*ret_fd = (int)v;
	return 0;
}

static int cli_check_tap_name(struct cli *c, const char *what, const char *name)
{
	if (!name[0] || strlen(name) >= IFNAMSIZ)
		return cli_err(c, "%s: interface name '%s' must be 1..%d characters", what, name,
			       IFNAMSIZ - 1);
	if (strchr(name, '/') || strchr(name, ' '))
		return cli_err(c, "%s: invalid interface name '%s'", what, name);
	return 0;
}

static int cli_add_tap(struct cli *c, struct cli_taps *list, const struct tap_spec *t)
{
	int r = cli_grow(c, (void **)&list->items, list->n, sizeof(*list->items));

	if (r < 0)
		return r;
	list->items[list->n++] = *t;
	return 0;
}

static int cli_parse_net(struct cli *c, const char *s)
{
	struct tap_spec t = { 0 };
	bool has_ip = false, has_mask = false, has_name = false, has_fd = false;
	struct kv kv[16];
	char *copy;
	int cnt, r = 0;

	copy = strdup(s);
	if (!copy)
		return cli_oom(c);
	cnt = kv_split(copy, kv, ARRAY_SIZE(kv));
	if (cnt < 0) {
		r = cli_err(c, "--net: malformed list '%s'", s);
		goto out;
	}
	for (int i = 0; i < cnt && r == 0; i++) {
		const char *k = kv[i].key, *v = kv[i].value;
		bool dup = false;

		if (strcmp(k, "vhost-net") == 0) {
			if (v && strcmp(v, "false") == 0)
				continue;
			r = cli_err(c, "vhost-net not supported with plugin");
			break;
		}
		/* Accepted by crosvm's --net but meaningless without a virtio device. */
		if (strcmp(k, "vq-pairs") == 0 || strcmp(k, "packed-queue") == 0 ||
		    strcmp(k, "pci-address") == 0)
			continue;
		if (!v) {
			r = cli_err(c, "--net: '%s' needs a value", k);
			break;
		}
		if (strcmp(k, "host-ip") == 0) {
			dup = has_ip;
			has_ip = true;
			if (!dup && parse_ipv4(v, &t.host_ip) < 0)
				r = cli_err(c, "--net: host-ip '%s' is not an IPv4 address", v);
		} else if (strcmp(k, "netmask") == 0) {
			dup = has_mask;
			has_mask = true;
			if (!dup && parse_ipv4(v, &t.netmask) < 0)
				r = cli_err(c, "--net: netmask '%s' is not an IPv4 address", v);
		} else if (strcmp(k, "mac") == 0) {
			dup = t.has_mac;
			t.has_mac = true;
			if (!dup && parse_mac(v, t.mac) < 0)
				r = cli_err(c, "--net: mac '%s' is not a MAC address", v);
		} else if (strcmp(k, "tap-name") == 0) {
			dup = has_name;
			has_name = true;
			if (!dup) {
				r = cli_check_tap_name(c, "--net tap-name", v);
				if (r == 0) {
					t.name = strdup(v);
					if (!t.name)
						r = cli_oom(c);
				}
			}
		} else if (strcmp(k, "tap-fd") == 0) {
			dup = has_fd;
			has_fd = true;
			if (!dup)
				r = cli_parse_tap_fd(c, "--net tap-fd", v, &t.fd);
		} else {
			r = cli_err(c, "--net: unknown key '%s'", k);
		}
		if (dup)
			r = cli_err(c, "--net: '%s' given twice", k);
	}
	if (r < 0)
		goto out;

	if (has_name && has_fd) {
		r = cli_err(c, "--net: tap-name and tap-fd cannot be combined");
	} else if (has_name || has_fd) {
		if (has_ip || has_mask)
			r = cli_err(c, "--net: host-ip/netmask cannot be combined with %s",
				    has_name ? "tap-name" : "tap-fd");
		t.kind = has_name ? TAP_KIND_NAME : TAP_KIND_FD;
	} else if (has_ip || has_mask || t.has_mac) {
		if (!has_ip || !has_mask || !t.has_mac)
			r = cli_err(c, "--net: host-ip, netmask and mac must be given together");
		t.kind = TAP_KIND_HOST_IP;
	} else {
		r = cli_err(c, "--net: needs host-ip,netmask,mac or tap-name or tap-fd");
	}
	if (r == 0) {
		if (t.kind != TAP_KIND_FD)
			t.fd = -1;
		r = cli_add_tap(c, &c->net, &t);
		if (r == 0)
			t.name = NULL;
	}
out:
	free(t.name);
	free(copy);
	return r;
}

/* kvm, or kvm[device=PATH]: crosvm's enum-with-fields syntax. */
static int cli_parse_hypervisor(struct cli *c, const char *s)
{
	const char *br = strchr(s, '[');
	size_t name_len = br ? (size_t)(br - s) : strlen(s);
	struct kv kv[8];
	char *copy;
	int cnt, r = 0;

	if (name_len != 3 || strncmp(s, "kvm", 3) != 0)
		return cli_err(c, "--hypervisor: unsupported hypervisor '%.*s' (only kvm)",
			       (int)name_len, s);
	if (!br)
		return 0;
	if (s[strlen(s) - 1] != ']')
		return cli_err(c, "--hypervisor: missing ']' in '%s'", s);
	copy = strndup(br + 1, strlen(br + 1) - 1);
	if (!copy)
		return cli_oom(c);
	if (!copy[0])
		goto out;
	cnt = kv_split(copy, kv, ARRAY_SIZE(kv));
	if (cnt < 0) {
		r = cli_err(c, "--hypervisor: malformed options in '%s'", s);
		goto out;
	}
	for (int i = 0; i < cnt && r == 0; i++) {
		if (strcmp(kv[i].key, "device") != 0)
			r = cli_err(c, "--hypervisor: unknown kvm option '%s'", kv[i].key);
		else if (c->hypervisor_device)
			r = cli_err(c, "--hypervisor: device given twice");
		else if (!kv[i].value || !kv[i].value[0])
			r = cli_err(c, "--hypervisor: device needs a path");
		else
			r = cli_strdup(c, &c->hypervisor_device, kv[i].value);
	}
out:
	free(copy);
	return r;
}

static int cli_check_dir(struct cli *c, const char *what, const char *path, bool absolute)
{
	struct stat st;

	if (absolute && path[0] != '/')
		return cli_err(c, "%s: '%s' is not an absolute path", what, path);
	if (stat(path, &st) < 0)
		return cli_err(c, "%s: '%s': %s", what, path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return cli_err(c, "%s: '%s' is not a directory", what, path);
	return 0;
}

/* Splits "a:b:c" into at most three parts; more ':' is an error. Modifies s. */
static int split_colon3(char *s, char *parts[3])
{
	int n = 0;

	parts[0] = s;
	parts[1] = parts[2] = NULL;
	for (char *p = s; *p; p++) {
		if (*p != ':')
			continue;
		if (++n > 2)
			return -EINVAL;
		*p = '\0';
		parts[n] = p + 1;
	}
	return n + 1;
}

static int cli_parse_mount(struct cli *c, const char *s, struct plugin_mount *ret)
{
	struct plugin_mount m = { 0 };
	char *copy, *parts[3];
	struct stat st;
	int r = 0;

	copy = strdup(s);
	if (!copy)
		return cli_oom(c);
	if (split_colon3(copy, parts) < 0) {
		r = cli_err(c, "'%s' has more than three ':'-separated parts", s);
		goto out;
	}
	if (!parts[0][0]) {
		r = cli_err(c, "'%s' has an empty source", s);
		goto out;
	}
	if (parts[0][0] != '/') {
		r = cli_err(c, "source '%s' is not an absolute path", parts[0]);
		goto out;
	}
	if (stat(parts[0], &st) < 0) {
		r = cli_err(c, "source '%s': %s", parts[0], strerror(errno));
		goto out;
	}
	if (parts[1] && parts[1][0] && parts[1][0] != '/') {
		r = cli_err(c, "destination '%s' is not an absolute path", parts[1]);
		goto out;
	}
	if (parts[2] && parse_bool(parts[2], &m.writable) < 0) {
		r = cli_err(c, "writable must be true or false, not '%s'", parts[2]);
		goto out;
	}
	m.src = strdup(parts[0]);
	m.dst = strdup(parts[1] && parts[1][0] ? parts[1] : parts[0]);
	if (!m.src || !m.dst) {
		free(m.src);
		free(m.dst);
		r = cli_oom(c);
		goto out;
	}
	*ret = m;
out:
	free(copy);
	return r;
}

static int cli_parse_gid_map(struct cli *c, const char *s, struct gid_map *ret)
{
	struct gid_map g;
	char *copy, *parts[3];
	int r = 0;

	copy = strdup(s);
	if (!copy)
		return cli_oom(c);
	if (split_colon3(copy, parts) < 0) {
		r = cli_err(c, "'%s' has more than three ':'-separated parts", s);
		goto out;
	}
	if (parse_u32(parts[0], &g.inner) < 0) {
		r = cli_err(c, "inner gid '%s' is not a number", parts[0]);
		goto out;
	}
	g.outer = g.inner;
	if (parts[1] && parts[1][0] && parse_u32(parts[1], &g.outer) < 0) {
		r = cli_err(c, "outer gid '%s' is not a number", parts[1]);
		goto out;
	}
	g.count = 1;
	if (parts[2] && parts[2][0] && parse_u32(parts[2], &g.count) < 0) {
		r = cli_err(c, "count '%s' is not a number", parts[2]);
		goto out;
	}
	/* The kernel refuses such lines; say so now instead of failing inside the jail. */
	if (g.count == 0 || g.inner > UINT32_MAX - g.count || g.outer > UINT32_MAX - g.count) {
		r = cli_err(c, "'%s' is not a valid range", s);
		goto out;
	}
	*ret = g;
out:
	free(copy);
	return r;
}

static int cli_add_mount(struct cli *c, const char *s)
{
	struct host_config *cfg = c->cfg;
	int r;

	r = cli_grow(c, (void **)&cfg->mounts, cfg->n_mounts, sizeof(*cfg->mounts));
	if (r < 0)
		return r;
	r = cli_parse_mount(c, s, &cfg->mounts[cfg->n_mounts]);
	if (r < 0)
		return r;
	cfg->n_mounts++;
	return 0;
}

static int cli_add_gid_map(struct cli *c, const char *s)
{
	struct host_config *cfg = c->cfg;
	int r;

	r = cli_grow(c, (void **)&cfg->gid_maps, cfg->n_gid_maps, sizeof(*cfg->gid_maps));
	if (r < 0)
		return r;
	r = cli_parse_gid_map(c, s, &cfg->gid_maps[cfg->n_gid_maps]);
	if (r < 0)
		return r;
	cfg->n_gid_maps++;
	return 0;
}

static int cli_read_file(struct cli *c, const char *what, const char *path, char **ret)
{
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cli_err(c, "%s: '%s': %s", what, path, strerror(errno));
	buf = malloc(CLI_FILE_MAX + 1);
	if (!buf) {
		r = cli_oom(c);
		goto out;
	}
	for (;;) {
		n = read(fd, buf + len, CLI_FILE_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = cli_err(c, "%s: '%s': %s", what, path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CLI_FILE_MAX) {
			r = cli_err(c, "%s: '%s' is larger than %d bytes", what, path, CLI_FILE_MAX);
			goto out;
		}
	}
	if (memchr(buf, '\0', len)) {
		r = cli_err(c, "%s: '%s' contains a NUL byte", what, path);
		goto out;
	}
	buf[len] = '\0';
	*ret = buf;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return r;
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Feeds each meaningful line (after '#', trimmed, non-empty) of FILE to add(). */
static int cli_parse_file(struct cli *c, const char *what, const char *path,
			  int (*add)(struct cli *, const char *))
{
	char *buf = NULL, *line, *next;
	unsigned lineno = 0;
	int r;

	r = cli_read_file(c, what, path, &buf);
	if (r < 0)
		return r;
	for (line = buf; line; line = next) {
		char *hash, *end;

		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		while (is_space(*line))
			line++;
		end = line + strlen(line);
		while (end > line && is_space(end[-1]))
			*--end = '\0';
		if (!*line)
			continue;
		r = add(c, line);
		if (r < 0) {
			cli_err_prefix(c, "%s %s line %u: ", what, path, lineno);
			break;
		}
	}
	free(buf);
	return r;
}

static const struct cli_option *cli_find_long(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(cli_options); i++) {
		if (strlen(cli_options[i].name) == len && strncmp(cli_options[i].name, name, len) == 0)
			return &cli_options[i];
	}
	return NULL;
}

static const struct cli_option *cli_find_short(char ch)
{
	for (size_t i = 0; i < ARRAY_SIZE(cli_options); i++) {
		if (cli_options[i].short_name && cli_options[i].short_name == ch)
			return &cli_options[i];
	}
	return NULL;
}

static int cli_print(struct cli *c, const char *text)
{
	/* "plugvm --help > /dev/full" must not claim success. */
	if (fputs(text, stdout) == EOF || fflush(stdout) == EOF)
		return cli_err(c, "cannot write to stdout: %s", strerror(errno));
	return CLI_EXIT_DONE;
}

/* Handles one option. Returns 0, CLI_EXIT_DONE (help/version printed) or -errno. */
static int cli_apply(struct cli *c, const struct cli_option *o, const char *v)
{
	struct host_config *cfg = c->cfg;
	struct tap_spec t = { .fd = -1 };
	char version[128];
	int r;

	switch (o->id) {
	case OPT_HELP:
		return cli_print(c, cli_usage);
	case OPT_VERSION:
		snprintf(version, sizeof(version), "plugvm %s (crosvm plugin API %d.%d.%d)\n",
			 PLUGVM_VERSION, CROSVM_API_MAJOR, CROSVM_API_MINOR, CROSVM_API_PATCH);
		return cli_print(c, version);
	case OPT_LOG_LEVEL:
		if (log_parse_level(v, &cfg->log_level) < 0)
			return cli_err(c, "--log-level: unknown level '%s' (off, error, warn, info, "
					  "debug)", v);
		return 0;
	case OPT_SYSLOG:
		cfg->syslog = true;
		return 0;
	case OPT_SYSLOG_TAG:
		if (!v[0])
			return cli_err(c, "--syslog-tag: empty tag");
		cfg->syslog = true;
		return cli_strdup(c, &cfg->syslog_tag, v);
	case OPT_NO_SYSLOG:
		cfg->syslog = false;
		return 0;
	case OPT_HUGEPAGES:
		/* Accepted so that crosvm command lines keep working; nothing to do. */
		return 0;
	case OPT_PLUGIN:
		if (!v[0])
			return cli_err(c, "--plugin: empty path");
		return cli_strdup(c, &cfg->plugin_path, v);
	case OPT_PARAMS:
		r = cli_grow(c, (void **)&cfg->params, cfg->n_params, sizeof(*cfg->params));
		if (r < 0)
			return r;
		cfg->params[cfg->n_params] = strdup(v);
		if (!cfg->params[cfg->n_params])
			return cli_oom(c);
		cfg->n_params++;
		return 0;
	case OPT_CPUS:
		return cli_parse_cpus(c, v);
	case OPT_NET:
		return cli_parse_net(c, v);
	case OPT_HOST_IP:
		c->has_host_ip = true;
		if (parse_ipv4(v, &c->host_ip) < 0)
			return cli_err(c, "--host-ip: '%s' is not an IPv4 address", v);
		return 0;
	case OPT_NETMASK:
		c->has_netmask = true;
		if (parse_ipv4(v, &c->netmask) < 0)
			return cli_err(c, "--netmask: '%s' is not an IPv4 address", v);
		return 0;
	case OPT_MAC:
		c->has_mac = true;
		if (parse_mac(v, c->mac) < 0)
			return cli_err(c, "--mac: '%s' is not a MAC address (aa:bb:cc:dd:ee:ff)", v);
		return 0;
	case OPT_TAP_NAME:
		r = cli_check_tap_name(c, "--tap-name", v);
		if (r < 0)
			return r;
		t.kind = TAP_KIND_NAME;
		t.name = strdup(v);
		if (!t.name)
			return cli_oom(c);
		r = cli_add_tap(c, &c->names, &t);
		if (r < 0)
			free(t.name);
		return r;
	case OPT_TAP_FD:
		t.kind = TAP_KIND_FD;
		r = cli_parse_tap_fd(c, "--tap-fd", v, &t.fd);
		if (r < 0)
			return r;
		return cli_add_tap(c, &c->fds, &t);
	case OPT_VHOST_NET:
	case OPT_VHOST_NET_DEVICE:
		/* crosvm turns the legacy taps into vhost devices, which plugins cannot use. */
		c->vhost_net = true;
		return 0;
	case OPT_HYPERVISOR:
		return cli_parse_hypervisor(c, v);
	case OPT_KVM_DEVICE:
		if (!v[0])
			return cli_err(c, "--kvm-device: empty path");
		c->kvm_device_option = true;
		return cli_strdup(c, &c->kvm_device, v);
	case OPT_VCPU_CGROUP_PATH:
		r = cli_check_dir(c, "--vcpu-cgroup-path", v, false);
		if (r < 0)
			return r;
		return cli_strdup(c, &cfg->vcpu_cgroup_path, v);
	case OPT_NO_EXTENSIONS:
		cfg->no_extensions = true;
		return 0;
	case OPT_DISABLE_SANDBOX:
		cfg->disable_sandbox = true;
		return 0;
	case OPT_SECCOMP_POLICY_DIR:
		if (!v[0])
			return cli_err(c, "--seccomp-policy-dir: empty path");
		return cli_strdup(c, &cfg->seccomp_policy_dir, v);
	case OPT_NO_HOST_SECCOMP:
		cfg->no_host_seccomp = true;
		return 0;
	case OPT_SECCOMP_LOG_FAILURES:
		cfg->seccomp_log_failures = true;
		return 0;
	case OPT_PIVOT_ROOT:
		if (!v[0])
			return cli_err(c, "--pivot-root: empty path");
		return cli_strdup(c, &cfg->pivot_root, v);
	case OPT_PLUGIN_ROOT:
		r = cli_check_dir(c, "--plugin-root", v, true);
		if (r < 0)
			return r;
		return cli_strdup(c, &cfg->plugin_root, v);
	case OPT_PLUGIN_MOUNT:
		r = cli_add_mount(c, v);
		if (r < 0)
			cli_err_prefix(c, "--plugin-mount: ");
		return r;
	case OPT_PLUGIN_MOUNT_FILE:
		return cli_strdup(c, &c->mount_file, v);
	case OPT_PLUGIN_GID_MAP:
		r = cli_add_gid_map(c, v);
		if (r < 0)
			cli_err_prefix(c, "--plugin-gid-map: ");
		return r;
	case OPT_PLUGIN_GID_MAP_FILE:
		return cli_strdup(c, &c->gid_map_file, v);
	case OPT_STATS:
		cfg->stats = true;
		return 0;
	case OPT_PLUGIN_STDIN:
		cfg->plugin_stdin = true;
		return 0;
	case OPT_NAME:
		return cli_strdup(c, &cfg->name, v);
	case OPT_MAX:
		break;
	}
	return cli_err(c, "internal error: unhandled option");
}

/*
 * Parses argv[*i] as an option (global_only: before "run").  Consumes its
 * value, from "=VALUE" or the next argument, and advances *i.
 */
static int cli_option(struct cli *c, int argc, char **argv, int *i, bool global_only)
{
	const char *arg = argv[*i], *value = NULL;
	const struct cli_option *o;
	char shown[64];

	if (arg[1] == '-') {
		const char *name = arg + 2, *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);

		o = cli_find_long(name, len);
		if (eq)
			value = eq + 1;
		snprintf(shown, sizeof(shown), "--%.*s", (int)(len > 40 ? 40 : len), name);
	} else {
		o = arg[2] ? NULL : cli_find_short(arg[1]);
		snprintf(shown, sizeof(shown), "%.40s", arg);
	}
	if (!o)
		return cli_err(c, "unknown option '%s' (try --help)", shown);
	if (global_only && !(o->flags & CLI_GLOBAL))
		return cli_err(c, "%s is an option of `run`: plugvm run %s ...", shown, shown);
	if (!(o->flags & CLI_VALUE)) {
		if (value)
			return cli_err(c, "%s takes no value", shown);
	} else if (!value) {
		if (*i + 1 >= argc)
			return cli_err(c, "%s needs a value", shown);
		value = argv[++*i];
	}
	if (!(o->flags & CLI_REPEAT) && c->seen[o->id])
		return cli_err(c, "%s given more than once", shown);
	c->seen[o->id] = true;
	(*i)++;
	return cli_apply(c, o, value);
}

static int cli_finish_taps(struct cli *c)
{
	struct host_config *cfg = c->cfg;
	bool triple = c->has_host_ip || c->has_netmask || c->has_mac;
	size_t n = c->net.n + c->names.n + c->fds.n + (triple ? 1 : 0), k = 0;
	struct cli_taps *groups[] = { &c->net, &c->names, &c->fds };

	if (triple && !(c->has_host_ip && c->has_netmask && c->has_mac))
		return cli_err(c, "--host-ip, --netmask and --mac must be given together");
	if (c->vhost_net)
		return cli_err(c, "vhost-net not supported with plugin");
	if (!n)
		return 0;
	cfg->taps = calloc(n, sizeof(*cfg->taps));
	if (!cfg->taps)
		return cli_oom(c);
	/* The "first tap" the plugin sees is whatever lands at index 0 here. */
	for (size_t g = 0; g < ARRAY_SIZE(groups); g++) {
		for (size_t j = 0; j < groups[g]->n; j++) {
			cfg->taps[k++] = groups[g]->items[j];
			groups[g]->items[j].name = NULL;
		}
		groups[g]->n = 0;
	}
	if (triple) {
		cfg->taps[k].kind = TAP_KIND_HOST_IP;
		cfg->taps[k].fd = -1;
		cfg->taps[k].host_ip = c->host_ip;
		cfg->taps[k].netmask = c->netmask;
		cfg->taps[k].has_mac = true;
		memcpy(cfg->taps[k].mac, c->mac, 6);
		k++;
	}
	cfg->n_taps = k;
	return 0;
}

static int cli_finish(struct cli *c)
{
	struct host_config *cfg = c->cfg;
	int r;

	if (!cfg->plugin_path)
		return cli_err(c, "missing --plugin PATH (plugvm runs plugin VMs only)");
	if (cfg->disable_sandbox) {
		/*
		 * Unjailed, the path means the same thing now as at exec time, so a typo
		 * is a command-line error.  A jailed plugin is resolved inside the jail
		 * and cannot be checked here.
		 */
		struct stat st;

		if (stat(cfg->plugin_path, &st) < 0)
			return cli_err(c, "--plugin: '%s': %s", cfg->plugin_path, strerror(errno));
		if (!S_ISREG(st.st_mode) || access(cfg->plugin_path, X_OK) < 0)
			return cli_err(c, "--plugin: '%s' is not an executable file",
				       cfg->plugin_path);
	}

	if (c->kvm_device && c->seen[OPT_HYPERVISOR])
		return cli_err(c, "--kvm-device and --hypervisor cannot be combined");
	if (c->hypervisor_device) {
		cfg->kvm_device = c->hypervisor_device;
		c->hypervisor_device = NULL;
	} else if (c->kvm_device) {
		cfg->kvm_device = c->kvm_device;
		c->kvm_device = NULL;
	} else {
		r = cli_strdup(c, &cfg->kvm_device, CLI_DEFAULT_KVM_DEVICE);
		if (r < 0)
			return r;
	}
	if (!cfg->pivot_root) {
		r = cli_strdup(c, &cfg->pivot_root, CLI_DEFAULT_PIVOT_ROOT);
		if (r < 0)
			return r;
	}

	/* File entries come after the command-line ones, wherever the options were given. */
	if (c->mount_file) {
		r = cli_parse_file(c, "--plugin-mount-file", c->mount_file, cli_add_mount);
		if (r < 0)
			return r;
	}
	if (c->gid_map_file) {
		r = cli_parse_file(c, "--plugin-gid-map-file", c->gid_map_file, cli_add_gid_map);
		if (r < 0)
			return r;
	}

	r = cli_finish_taps(c);
	if (r < 0)
		return r;

	if (c->n_extra) {
		size_t n = cfg->n_params + c->n_extra;
		char **p;

		if (n > CLI_MAX_REPEAT)
			return cli_err(c, "too many plugin arguments");
		p = realloc(cfg->params, n * sizeof(*p));
		if (!p)
			return cli_oom(c);
		cfg->params = p;
		for (size_t j = 0; j < c->n_extra; j++) {
			p[cfg->n_params] = strdup(c->extra[j]);
			if (!p[cfg->n_params])
				return cli_oom(c);
			cfg->n_params++;
		}
	}
	return 0;
}

static void cli_taps_free(struct cli_taps *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->items[i].name);
	free(t->items);
	t->items = NULL;
	t->n = 0;
}

static void cli_free(struct cli *c)
{
	cli_taps_free(&c->net);
	cli_taps_free(&c->names);
	cli_taps_free(&c->fds);
	free(c->hypervisor_device);
	free(c->kvm_device);
	free(c->mount_file);
	free(c->gid_map_file);
}

static int cli_run(struct cli *c, int argc, char **argv)
{
	bool have_run = false;
	int i = 1, r;

	/* Global options, up to the "run" command. */
	while (i < argc) {
		const char *arg = argv[i];

		if (strcmp(arg, "run") == 0) {
			have_run = true;
			i++;
			break;
		}
		if (strcmp(arg, "help") == 0)
			return cli_print(c, cli_usage);
		if (arg[0] != '-' || !arg[1])
			return cli_err(c, "unknown command '%.40s' (only `run` is supported)", arg);
		if (strcmp(arg, "--") == 0)
			return cli_err(c, "missing command `run` before --");
		r = cli_option(c, argc, argv, &i, true);
		if (r)
			return r;
	}
	if (!have_run)
		return cli_err(c, "missing command: plugvm run --plugin PATH (try --help)");

	while (i < argc) {
		const char *arg = argv[i];

		if (strcmp(arg, "--") == 0) {
			c->extra = argv + i + 1;
			c->n_extra = (size_t)(argc - i - 1);
			break;
		}
		if (arg[0] != '-' || !arg[1])
			return cli_err(c, "unexpected argument '%.40s' (plugin arguments go after --)",
				       arg);
		r = cli_option(c, argc, argv, &i, false);
		if (r)
			return r;
	}
	return cli_finish(c);
}

int cli_parse(int argc, char **argv, struct host_config *cfg)
{
	struct cli c = { .cfg = cfg };
	int r;

	memset(cfg, 0, sizeof(*cfg));
	cfg->cpus = 1;
	cfg->log_level = LOG_LEVEL_INFO;

	r = cli_run(&c, argc, argv);
	cli_free(&c);
	if (r < 0 || r == CLI_EXIT_DONE) {
		if (r < 0)
			cli_print_error(c.err);
		config_free(cfg);
		return r == -ENOMEM || r == CLI_EXIT_DONE ? r : -EINVAL;
	}
	if (c.kvm_device_option) {
		/* Honour --log-level for this one, even though main() has not applied it yet. */
		if (cfg->log_level >= LOG_LEVEL_WARN) {
			int saved = log_get_level();

			log_set_level(cfg->log_level);
			log_warn("--kvm-device is deprecated; use --hypervisor kvm[device=PATH]");
			log_set_level(saved);
		}
	}
	return 0;
}

void config_free(struct host_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->plugin_path);
	for (size_t i = 0; i < cfg->n_params; i++)
		free(cfg->params[i]);
	free(cfg->params);
	free(cfg->kvm_device);
	free(cfg->vcpu_cgroup_path);
	free(cfg->seccomp_policy_dir);
	free(cfg->pivot_root);
	free(cfg->plugin_root);
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		free(cfg->mounts[i].src);
		free(cfg->mounts[i].dst);
	}
	free(cfg->mounts);
	free(cfg->gid_maps);
	for (size_t i = 0; i < cfg->n_taps; i++)
		free(cfg->taps[i].name);
	free(cfg->taps);
	free(cfg->name);
	free(cfg->syslog_tag);
	memset(cfg, 0, sizeof(*cfg));
}
