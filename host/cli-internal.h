/* SPDX-License-Identifier: BSD-3-Clause */
/* Copyright 2026 The plugvm Authors. */

/*
 * Inside the command line (host/cli.c, host/cli-values.c): the parse state,
 * error recording and the value parsers the option table uses.  cli_parse()
 * (config.h) is the interface.
 */
#ifndef PLUGVM_HOST_CLI_INTERNAL_H
#define PLUGVM_HOST_CLI_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

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

/*
 * cli-values.c.  Every function taking a struct cli records the first error
 * in c->err (one line quoting the user's input) and returns -EINVAL, or
 * -ENOMEM after recording "out of memory".
 */

/* Records the first error; later ones are consequences and would only confuse. */
int __attribute__((format(printf, 2, 3))) cli_err(struct cli *c, const char *fmt, ...);
/* Puts context ("--plugin-mount-file F line 3: ") in front of the recorded error. */
void __attribute__((format(printf, 2, 3))) cli_err_prefix(struct cli *c, const char *fmt, ...);
/* Writes "plugvm: error: msg" to stderr as exactly one line, in one write. */
void cli_print_error(const char *msg);
int cli_oom(struct cli *c);
/* Replaces *dst with a copy of src. */
int cli_strdup(struct cli *c, char **dst, const char *src);
/* Makes room for element n of *arr (at most CLI_MAX_REPEAT of each kind). */
int cli_grow(struct cli *c, void **arr, size_t n, size_t elem);

/* Dotted-quad IPv4 address and aa:bb:cc:dd:ee:ff MAC: 0 or -EINVAL, nothing recorded. */
int cli_parse_ipv4(const char *s, uint32_t *ret_s_addr);
int cli_parse_mac(const char *s, uint8_t mac[6]);

/* The values of --cpus, --net and --hypervisor. */
int cli_parse_cpus(struct cli *c, const char *s);
int cli_parse_net(struct cli *c, const char *s);
int cli_parse_hypervisor(struct cli *c, const char *s);
/* --tap-fd and --tap-name values (what names the option in messages); a tap to a list. */
int cli_parse_tap_fd(struct cli *c, const char *what, const char *s, int *ret_fd);
int cli_check_tap_name(struct cli *c, const char *what, const char *name);
int cli_add_tap(struct cli *c, struct cli_taps *list, const struct tap_spec *t);
/* path must be an existing directory (and absolute, if absolute). */
int cli_check_dir(struct cli *c, const char *what, const char *path, bool absolute);
/* One --plugin-mount / --plugin-gid-map value, added to the configuration. */
int cli_add_mount(struct cli *c, const char *s);
int cli_add_gid_map(struct cli *c, const char *s);
/* Feeds each meaningful line of path (after '#', trimmed, non-empty) to add(). */
int cli_parse_file(struct cli *c, const char *what, const char *path,
		   int (*add)(struct cli *, const char *));

#endif /* PLUGVM_HOST_CLI_INTERNAL_H */
