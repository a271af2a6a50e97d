/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * The host's configuration, as parsed from the command line (cli.c) and
 * consumed by the VM (run.c), the spawner (spawn.c) and the taps (net.c).
 */
#ifndef PLUGVM_HOST_CONFIG_H
#define PLUGVM_HOST_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most vcpus a VM may have (the pause mask is 64 bits wide). */
#define CONFIG_MAX_VCPUS 64u

struct plugin_mount {
	char *src;
	char *dst; /* defaults to src */
	bool writable;
};

struct gid_map {
	uint32_t inner;
	uint32_t outer;
	uint32_t count;
};

enum tap_kind {
	TAP_KIND_HOST_IP, /* create vmtap%d and configure ip/netmask/mac */
	TAP_KIND_NAME,    /* open an existing tap by name */
	TAP_KIND_FD,      /* use an inherited tap fd */
};

struct tap_spec {
	enum tap_kind kind;
	char *name;        /* TAP_KIND_NAME */
	int fd;            /* TAP_KIND_FD */
	uint32_t host_ip;  /* TAP_KIND_HOST_IP, network byte order (s_addr) */
	uint32_t netmask;  /* TAP_KIND_HOST_IP, network byte order (s_addr) */
	bool has_mac;
	uint8_t mac[6];
};

struct host_config {
	char *plugin_path;   /* --plugin; becomes the plugin's argv[0] */
	char **params;       /* -p/--params, one argv element each */
	size_t n_params;
	unsigned cpus;       /* -c/--cpus, 1..CONFIG_MAX_VCPUS (default 1) */
	char *kvm_device;    /* --hypervisor kvm[device=PATH] / --kvm-device, default /dev/kvm */
	char *vcpu_cgroup_path; /* --vcpu-cgroup-path, or NULL */

	/* Sandbox (issue 4 implements the jail; until then the plugin runs unjailed). */
	bool disable_sandbox;
	bool no_extensions; /* --no-extensions: answer the API 0.23 requests like crosvm */
	char *seccomp_policy_dir;
	bool seccomp_log_failures;
	bool no_host_seccomp; /* --no-host-seccomp: the host runs without its own filters */
	char *pivot_root;
	char *plugin_root;
	struct plugin_mount *mounts;
	size_t n_mounts;
	struct gid_map *gid_maps;
	size_t n_gid_maps;
	bool plugin_stdin;   /* --plugin-stdin: the jailed plugin keeps the host's stdin */

	/* Taps in "first tap" order: --net entries, --tap-name, --tap-fd, then the host-ip triple. */
	struct tap_spec *taps;
	size_t n_taps;

	int log_level;       /* enum log_level */
	char *name;          /* run --name, or NULL */
	bool syslog;         /* --syslog / --syslog-tag: also log to syslog */
	bool stats;          /* --stats: print a table of vcpu exits at the end */
	char *syslog_tag;    /* --syslog-tag, or NULL for "plugvm" */
};

/*
 * Parses the command line (argv[0] is the program, argv[1] must be "run",
 * or --help/--version).  On success fills *cfg and returns 0.  Returns
 * CLI_EXIT_DONE after printing help or version, and -EINVAL after printing
 * exactly one line to stderr describing the bad input.
 */
#define CLI_EXIT_DONE 1
int cli_parse(int argc, char **argv, struct host_config *cfg);

/* Frees everything cli_parse() allocated; the struct is zeroed. */
void config_free(struct host_config *cfg);

#endif /* PLUGVM_HOST_CONFIG_H */
