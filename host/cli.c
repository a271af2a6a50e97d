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

#include "cli-internal.h"
#include "config.h"
#include "crosvm.h"
#include "log.h"
#include "plugvm-config.h"
#include "util.h"

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
		if (cli_parse_ipv4(v, &c->host_ip) < 0)
			return cli_err(c, "--host-ip: '%s' is not an IPv4 address", v);
		return 0;
	case OPT_NETMASK:
		c->has_netmask = true;
		if (cli_parse_ipv4(v, &c->netmask) < 0)
			return cli_err(c, "--netmask: '%s' is not an IPv4 address", v);
		return 0;
	case OPT_MAC:
		c->has_mac = true;
		if (cli_parse_mac(v, c->mac) < 0)
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
