// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * cli_parse() into struct host_config, linked directly against host/cli.c and
 * host/log.c: every option lands in the right field, with the right defaults
 * and order, and bad values are refused without leaving anything allocated.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"

#define MAX_ARGS 64

static char tmpdir[64];
static int null_fd = -1;     /* open, not close-on-exec: a valid --tap-fd */
static int cloexec_fd = -1;  /* open, close-on-exec: must be refused */
static int stderr_save = -1; /* the refused cases print errors; keep test output readable */

/* Builds argv from a NULL-terminated list; "%FD" and "%CLOEXEC" become descriptor numbers. */
static int parse_args(struct host_config *cfg, const char *first, ...)
{
	static char bufs[MAX_ARGS][256];
	char *argv[MAX_ARGS + 1];
	int argc = 0, r;
	va_list ap;

	argv[argc++] = (char *)"plugvm";
	va_start(ap, first);
	for (const char *a = first; a; a = va_arg(ap, const char *)) {
		assert_true(argc < MAX_ARGS);
		snprintf(bufs[argc], sizeof(bufs[argc]), "%s", a);
		if (strstr(a, "%FD")) {
			char *p = strstr(bufs[argc], "%FD");
			char tail[128];

			snprintf(tail, sizeof(tail), "%s", p + 3);
			snprintf(p, sizeof(bufs[argc]) - (size_t)(p - bufs[argc]), "%d%s", null_fd,
				 tail);
		} else if (strcmp(a, "%CLOEXEC") == 0) {
			snprintf(bufs[argc], sizeof(bufs[argc]), "%d", cloexec_fd);
		} else if (strncmp(a, "%TMP", 4) == 0) {
			snprintf(bufs[argc], sizeof(bufs[argc]), "%s%s", tmpdir, a + 4);
		}
		argv[argc] = bufs[argc];
		argc++;
	}
	va_end(ap);
	argv[argc] = NULL;
	r = cli_parse(argc, argv, cfg);
	return r;
}

/* A refused command line leaves the config zeroed (nothing to free, nothing half-set). */
static void assert_refused(struct host_config *cfg, int r)
{
	static const struct host_config zero;

	assert_int_equal(r, -EINVAL);
	assert_memory_equal(cfg, &zero, sizeof(zero));
}

#define REFUSE(cfgp, ...) assert_refused((cfgp), parse_args((cfgp), __VA_ARGS__, NULL))

static void write_file(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/plugvm-cli-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	null_fd = open("/dev/null", O_RDWR);
	cloexec_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	write_file("mounts", "# bind mounts for the jail\n"
			     "\n"
			     "   /dev/zero   # trailing comment\n"
			     "\t/dev/null:/dev/full:true\t\n"
			     "/tmp::false\n");
	write_file("bad-mounts", "/dev/null\nrelative/path\n");
	write_file("gids", "# gid maps\n5\n\n 6:7 \n8::9 # eight\n");
	write_file("bad-gids", "1\n2:x\n");
	/* The refused cases print their error line; send those to /dev/null. */
	stderr_save = dup(STDERR_FILENO);
	return null_fd < 0 || cloexec_fd < 0 || stderr_save < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	static const char *const files[] = { "mounts", "bad-mounts", "gids", "bad-gids" };
	char path[128];

	(void)state;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
		unlink(path);
	}
	rmdir(tmpdir);
	close(null_fd);
	close(cloexec_fd);
	close(stderr_save);
	return 0;
}

static void quiet(void)
{
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

static void loud(void)
{
	dup2(stderr_save, STDERR_FILENO);
}

static void defaults(void **state)
{
	struct host_config cfg;

	(void)state;
	assert_int_equal(parse_args(&cfg, "run", "--plugin", "/bin/true", NULL), 0);
	assert_string_equal(cfg.plugin_path, "/bin/true");
	assert_int_equal(cfg.n_params, 0);
	assert_int_equal(cfg.cpus, 1);
	assert_string_equal(cfg.kvm_device, "/dev/kvm");
	assert_null(cfg.vcpu_cgroup_path);
	assert_false(cfg.disable_sandbox);
	assert_null(cfg.seccomp_policy_dir);
	assert_false(cfg.seccomp_log_failures);
	assert_string_equal(cfg.pivot_root, "/var/empty");
	assert_null(cfg.plugin_root);
	assert_int_equal(cfg.n_mounts, 0);
	assert_int_equal(cfg.n_gid_maps, 0);
	assert_int_equal(cfg.n_taps, 0);
	assert_int_equal(cfg.log_level, LOG_LEVEL_INFO);
	assert_null(cfg.name);
	config_free(&cfg);
	assert_null(cfg.plugin_path);
}

static void params_order(void **state)
{
	struct host_config cfg;

	(void)state;
	assert_int_equal(parse_args(&cfg, "run", "-p", "a", "--params", "b b", "--plugin=/bin/true",
				    "--params=c=d", "-p", "", "--", "e", "-p", "--", "--plugin", NULL),
			 0);
	assert_string_equal(cfg.plugin_path, "/bin/true");
	assert_int_equal(cfg.n_params, 8);
	assert_string_equal(cfg.params[0], "a");
	assert_string_equal(cfg.params[1], "b b");
	assert_string_equal(cfg.params[2], "c=d");
	assert_string_equal(cfg.params[3], "");
	/* Everything after the first "--" is passed through untouched. */
	assert_string_equal(cfg.params[4], "e");
	assert_string_equal(cfg.params[5], "-p");
	assert_string_equal(cfg.params[6], "--");
	assert_string_equal(cfg.params[7], "--plugin");
	config_free(&cfg);

	/* A value is taken literally even when it looks like an option. */
	assert_int_equal(parse_args(&cfg, "run", "--plugin", "/bin/true", "-p", "--cpus", NULL), 0);
	assert_int_equal(cfg.n_params, 1);
	assert_string_equal(cfg.params[0], "--cpus");
	assert_int_equal(cfg.cpus, 1);
	config_free(&cfg);

	/* A trailing "--" adds nothing. */
	assert_int_equal(parse_args(&cfg, "run", "--plugin", "/bin/true", "--", NULL), 0);
	assert_int_equal(cfg.n_params, 0);
	config_free(&cfg);
}

static void cpus_forms(void **state)
{
	static const struct {
		const char *arg;
		unsigned cpus;
	} ok[] = {
		{ "1", 1 },
		{ "4", 4 },
		{ "64", 64 },
		{ "num-cores=8", 8 },
		{ "num-cores=2,clusters=[[0,1],[2,3]],boot-cpu=1", 2 },
		{ "core-types=[atom=[0],core=[1]],num-cores=3", 3 },
		{ "boot-cpu=0", 1 },
	};
	struct host_config cfg;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(parse_args(&cfg, "run", "--plugin", "/p", "--cpus", ok[i].arg, NULL),
				 0);
		assert_int_equal(cfg.cpus, ok[i].cpus);
		config_free(&cfg);
	}
	assert_int_equal(parse_args(&cfg, "run", "-c", "5", "--plugin", "/p", NULL), 0);
	assert_int_equal(cfg.cpus, 5);
	config_free(&cfg);
	assert_int_equal(parse_args(&cfg, "run", "--cpus=6", "--plugin", "/p", NULL), 0);
	assert_int_equal(cfg.cpus, 6);
	config_free(&cfg);

	quiet();
	REFUSE(&cfg, "run", "--plugin", "/p", "--cpus", "0");
	REFUSE(&cfg, "run", "--plugin", "/p", "--cpus", "65");
	REFUSE(&cfg, "run", "--plugin", "/p", "--cpus", "4294967297");
	REFUSE(&cfg, "run", "--plugin", "/p", "--cpus", "-1");
	REFUSE(&cfg, "run", "--plugin", "/p", "--cpus", "+2");
	REFUSE(&cfg, "run", "--plugin", "/p", "--cpus", " 2");
	REFUSE(&cfg, "run", "--plugin", "/p", "--cpus", "2x");
	REFUSE(&cfg, "run", "--plugin", "/p", "--cpus", "");
	REFUSE(&cfg, "run", "--plugin", "/p", "--cpus", "num-cores=");
	REFUSE(&cfg, "run", "--plugin", "/p", "--cpus", "num-cores");
	REFUSE(&cfg, "run", "--plugin", "/p", "--cpus", "num-cores=0");
	REFUSE(&cfg, "run", "--plugin", "/p", "--cpus", "num-cores=2,num-cores=3");
	REFUSE(&cfg, "run", "--plugin", "/p", "--cpus", "num-cores=2,clusters=[[0,1]");
	REFUSE(&cfg, "run", "--plugin", "/p", "--cpus", "4,clusters=[[0]]");
	REFUSE(&cfg, "run", "--plugin", "/p", "--cpus", "2", "--cpus", "3");
	REFUSE(&cfg, "run", "--plugin", "/p", "--cpus");
	loud();
}

static void assert_tap_ip(const struct tap_spec *t, const char *ip, const char *mask)
{
	assert_int_equal(t->kind, TAP_KIND_HOST_IP);
	assert_int_equal(t->host_ip, inet_addr(ip));
	assert_int_equal(t->netmask, inet_addr(mask));
}

static void taps_order(void **state)
{
	static const uint8_t mac1[6] = { 0xde, 0x21, 0xe8, 0x47, 0x6b, 0x6a };
	static const uint8_t mac2[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a };
	static const uint8_t mac3[6] = { 0xaa, 0xbb, 0xcc, 0x0d, 0xee, 0x0f };
	struct host_config cfg;

	(void)state;
	/* Given in scrambled order; stored as --net, --tap-name, --tap-fd, then the triple. */
	assert_int_equal(parse_args(&cfg, "run", "--host-ip", "100.115.92.5", "--tap-fd", "%FD",
				    "--tap-name", "tapB", "--net", "tap-name=tapA,mac=2:0:0:0:0:a",
				    "--plugin", "/p", "--netmask", "255.255.255.252", "--tap-name=tapC",
				    "--mac", "de:21:e8:47:6b:6a", "--net",
				    "host-ip=10.0.0.1,netmask=255.0.0.0,mac=AA:BB:CC:0D:EE:0F",
				    "--net", "tap-fd=%FD,vq-pairs=1", NULL),
			 0);
	assert_int_equal(cfg.n_taps, 7);

	assert_int_equal(cfg.taps[0].kind, TAP_KIND_NAME);
	assert_string_equal(cfg.taps[0].name, "tapA");
	assert_true(cfg.taps[0].has_mac);
	assert_memory_equal(cfg.taps[0].mac, mac2, 6);

	assert_tap_ip(&cfg.taps[1], "10.0.0.1", "255.0.0.0");
	assert_true(cfg.taps[1].has_mac);
	assert_memory_equal(cfg.taps[1].mac, mac3, 6);

	assert_int_equal(cfg.taps[2].kind, TAP_KIND_FD);
	assert_int_equal(cfg.taps[2].fd, null_fd);
	assert_false(cfg.taps[2].has_mac);

	assert_int_equal(cfg.taps[3].kind, TAP_KIND_NAME);
	assert_string_equal(cfg.taps[3].name, "tapB");
	assert_false(cfg.taps[3].has_mac);
	assert_int_equal(cfg.taps[4].kind, TAP_KIND_NAME);
	assert_string_equal(cfg.taps[4].name, "tapC");

	assert_int_equal(cfg.taps[5].kind, TAP_KIND_FD);
	assert_int_equal(cfg.taps[5].fd, null_fd);

	assert_tap_ip(&cfg.taps[6], "100.115.92.5", "255.255.255.252");
	/* GetNetConfig compares against sin_addr.s_addr, i.e. network byte order. */
	assert_int_equal(cfg.taps[6].host_ip, htonl(0x64735c05));
	assert_true(cfg.taps[6].has_mac);
	assert_memory_equal(cfg.taps[6].mac, mac1, 6);
	config_free(&cfg);

	/* vhost-net=false is not a request for vhost-net. */
	assert_int_equal(parse_args(&cfg, "run", "--plugin", "/p", "--net",
				    "tap-name=t0,vhost-net=false", NULL),
			 0);
	assert_int_equal(cfg.n_taps, 1);
	config_free(&cfg);

	quiet();
	REFUSE(&cfg, "run", "--plugin", "/p", "--host-ip", "1.2.3.4");
	REFUSE(&cfg, "run", "--plugin", "/p", "--host-ip", "1.2.3.4", "--netmask", "255.0.0.0");
	REFUSE(&cfg, "run", "--plugin", "/p", "--mac", "de:21:e8:47:6b:6a");
	REFUSE(&cfg, "run", "--plugin", "/p", "--host-ip", "1.2.3", "--netmask", "255.0.0.0",
	       "--mac", "de:21:e8:47:6b:6a");
	REFUSE(&cfg, "run", "--plugin", "/p", "--host-ip", "256.2.3.4");
	REFUSE(&cfg, "run", "--plugin", "/p", "--host-ip", "01.2.3.4");
	REFUSE(&cfg, "run", "--plugin", "/p", "--host-ip", "1.2.3.4.5");
	REFUSE(&cfg, "run", "--plugin", "/p", "--host-ip", "1.2.3.4", "--host-ip", "1.2.3.4");
	REFUSE(&cfg, "run", "--plugin", "/p", "--netmask", "255.255.255.");
	REFUSE(&cfg, "run", "--plugin", "/p", "--mac", "de:21:e8:47:6b");
	REFUSE(&cfg, "run", "--plugin", "/p", "--mac", "de:21:e8:47:6b:6a:00");
	REFUSE(&cfg, "run", "--plugin", "/p", "--mac", "dg:21:e8:47:6b:6a");
	REFUSE(&cfg, "run", "--plugin", "/p", "--mac", "de-21-e8-47-6b-6a");
	REFUSE(&cfg, "run", "--plugin", "/p", "--mac", "de:21:e8:47:6b:6a1");
	REFUSE(&cfg, "run", "--plugin", "/p", "--tap-name", "");
	REFUSE(&cfg, "run", "--plugin", "/p", "--tap-name", "0123456789abcdef");
	REFUSE(&cfg, "run", "--plugin", "/p", "--tap-fd", "%CLOEXEC");
	REFUSE(&cfg, "run", "--plugin", "/p", "--tap-fd", "100000");
	REFUSE(&cfg, "run", "--plugin", "/p", "--tap-fd", "-1");
	REFUSE(&cfg, "run", "--plugin", "/p", "--tap-fd", "x");
	REFUSE(&cfg, "run", "--plugin", "/p", "--net", "tap-name=a,tap-fd=%FD");
	REFUSE(&cfg, "run", "--plugin", "/p", "--net", "tap-name=a,host-ip=1.2.3.4");
	REFUSE(&cfg, "run", "--plugin", "/p", "--net", "host-ip=1.2.3.4,netmask=255.0.0.0");
	REFUSE(&cfg, "run", "--plugin", "/p", "--net", "mac=de:21:e8:47:6b:6a");
	REFUSE(&cfg, "run", "--plugin", "/p", "--net", "tap-name=a,tap-name=b");
	REFUSE(&cfg, "run", "--plugin", "/p", "--net", "tap-name");
	REFUSE(&cfg, "run", "--plugin", "/p", "--net", "tap-name=a,colour=blue");
	REFUSE(&cfg, "run", "--plugin", "/p", "--net", "");
	REFUSE(&cfg, "run", "--plugin", "/p", "--net", "tap-fd=%CLOEXEC");
	REFUSE(&cfg, "run", "--plugin", "/p", "--net", "tap-name=a,vhost-net");
	REFUSE(&cfg, "run", "--plugin", "/p", "--net", "tap-name=a,vhost-net=true");
	REFUSE(&cfg, "run", "--plugin", "/p", "--net", "tap-name=a,vhost-net=[device=/dev/x]");
	REFUSE(&cfg, "run", "--plugin", "/p", "--vhost-net");
	REFUSE(&cfg, "run", "--plugin", "/p", "--tap-name", "t0", "--vhost-net");
	REFUSE(&cfg, "run", "--plugin", "/p", "--vhost-net-device", "/dev/vhost-net");
	loud();
}

static void mounts(void **state)
{
	struct host_config cfg;

	(void)state;
	assert_int_equal(parse_args(&cfg, "run", "--plugin-mount-file", "%TMP/mounts", "--plugin",
				    "/p", "--plugin-mount", "/dev/null", "--plugin-mount",
				    "/dev/null:/dev/zero", "--plugin-mount=/dev/null::true",
				    "--plugin-mount", "/tmp:/mnt/x:false", NULL),
			 0);
	assert_int_equal(cfg.n_mounts, 7);
	assert_string_equal(cfg.mounts[0].src, "/dev/null");
	assert_string_equal(cfg.mounts[0].dst, "/dev/null");
	assert_false(cfg.mounts[0].writable);
	assert_string_equal(cfg.mounts[1].src, "/dev/null");
	assert_string_equal(cfg.mounts[1].dst, "/dev/zero");
	assert_false(cfg.mounts[1].writable);
	assert_string_equal(cfg.mounts[2].dst, "/dev/null");
	assert_true(cfg.mounts[2].writable);
	assert_string_equal(cfg.mounts[3].src, "/tmp");
	assert_string_equal(cfg.mounts[3].dst, "/mnt/x");
	assert_false(cfg.mounts[3].writable);
	/* The file's entries follow, although the file option came first. */
	assert_string_equal(cfg.mounts[4].src, "/dev/zero");
	assert_string_equal(cfg.mounts[4].dst, "/dev/zero");
	assert_false(cfg.mounts[4].writable);
	assert_string_equal(cfg.mounts[5].src, "/dev/null");
	assert_string_equal(cfg.mounts[5].dst, "/dev/full");
	assert_true(cfg.mounts[5].writable);
	assert_string_equal(cfg.mounts[6].src, "/tmp");
	assert_string_equal(cfg.mounts[6].dst, "/tmp");
	assert_false(cfg.mounts[6].writable);
	config_free(&cfg);

	quiet();
	REFUSE(&cfg, "run", "--plugin", "/p", "--plugin-mount", "");
	REFUSE(&cfg, "run", "--plugin", "/p", "--plugin-mount", "dev/null");
	REFUSE(&cfg, "run", "--plugin", "/p", "--plugin-mount", "/nonexistent/plugvm");
	REFUSE(&cfg, "run", "--plugin", "/p", "--plugin-mount", ":/dev/null");
	REFUSE(&cfg, "run", "--plugin", "/p", "--plugin-mount", "/dev/null:dev/null");
	REFUSE(&cfg, "run", "--plugin", "/p", "--plugin-mount", "/dev/null:/a:yes");
	REFUSE(&cfg, "run", "--plugin", "/p", "--plugin-mount", "/dev/null:/a:");
	REFUSE(&cfg, "run", "--plugin", "/p", "--plugin-mount", "/dev/null:/a:true:x");
	REFUSE(&cfg, "run", "--plugin", "/p", "--plugin-mount-file", "%TMP/bad-mounts");
	REFUSE(&cfg, "run", "--plugin", "/p", "--plugin-mount-file", "%TMP/missing");
	REFUSE(&cfg, "run", "--plugin", "/p", "--plugin-mount-file", "%TMP/mounts",
	       "--plugin-mount-file", "%TMP/mounts");
	loud();
}

static void gid_maps(void **state)
{
	static const struct gid_map want[] = {
		{ 1, 1, 1 }, { 1, 2, 1 }, { 1, 1, 3 }, { 1, 2, 3 },
		{ 4294967294u, 0, 1 }, { 5, 5, 1 }, { 6, 7, 1 }, { 8, 8, 9 },
	};
	struct host_config cfg;

	(void)state;
	assert_int_equal(parse_args(&cfg, "run", "--plugin-gid-map-file", "%TMP/gids",
				    "--plugin-gid-map", "1", "--plugin-gid-map", "1:2",
				    "--plugin-gid-map", "1::3", "--plugin-gid-map=1:2:3",
				    "--plugin-gid-map", "4294967294:0", "--plugin", "/p", NULL),
			 0);
	assert_int_equal(cfg.n_gid_maps, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < cfg.n_gid_maps; i++) {
		assert_int_equal(cfg.gid_maps[i].inner, want[i].inner);
		assert_int_equal(cfg.gid_maps[i].outer, want[i].outer);
		assert_int_equal(cfg.gid_maps[i].count, want[i].count);
	}
	config_free(&cfg);

	quiet();
	REFUSE(&cfg, "run", "--plugin", "/p", "--plugin-gid-map", "");
	REFUSE(&cfg, "run", "--plugin", "/p", "--plugin-gid-map", "x");
	REFUSE(&cfg, "run", "--plugin", "/p", "--plugin-gid-map", ":1");
	REFUSE(&cfg, "run", "--plugin", "/p", "--plugin-gid-map", "1:x");
	REFUSE(&cfg, "run", "--plugin", "/p", "--plugin-gid-map", "1:2:3:4");
	REFUSE(&cfg, "run", "--plugin", "/p", "--plugin-gid-map", "1:2:0");
	REFUSE(&cfg, "run", "--plugin", "/p", "--plugin-gid-map", "4294967296");
	REFUSE(&cfg, "run", "--plugin", "/p", "--plugin-gid-map", "4294967295:1:2");
	REFUSE(&cfg, "run", "--plugin", "/p", "--plugin-gid-map", "-1");
	REFUSE(&cfg, "run", "--plugin", "/p", "--plugin-gid-map-file", "%TMP/bad-gids");
	loud();
}

static void kvm_device(void **state)
{
	struct host_config cfg;

	(void)state;
	assert_int_equal(parse_args(&cfg, "run", "--plugin", "/p", "--hypervisor", "kvm", NULL), 0);
	assert_string_equal(cfg.kvm_device, "/dev/kvm");
	config_free(&cfg);
	assert_int_equal(parse_args(&cfg, "run", "--plugin", "/p", "--hypervisor",
				    "kvm[device=/dev/kvm2]", NULL),
			 0);
	assert_string_equal(cfg.kvm_device, "/dev/kvm2");
	config_free(&cfg);
	/* The deprecation warning goes to stderr; keep it out of the test log. */
	quiet();
	assert_int_equal(parse_args(&cfg, "run", "--plugin", "/p", "--kvm-device", "/dev/kvm3",
				    NULL),
			 0);
	assert_string_equal(cfg.kvm_device, "/dev/kvm3");
	config_free(&cfg);

	REFUSE(&cfg, "run", "--plugin", "/p", "--hypervisor", "kvm", "--kvm-device", "/dev/kvm");
	REFUSE(&cfg, "run", "--plugin", "/p", "--kvm-device", "/dev/kvm", "--hypervisor",
	       "kvm[device=/dev/kvm]");
	REFUSE(&cfg, "run", "--plugin", "/p", "--hypervisor", "xen");
	REFUSE(&cfg, "run", "--plugin", "/p", "--hypervisor", "geniezone[device=/dev/gzvm]");
	REFUSE(&cfg, "run", "--plugin", "/p", "--hypervisor", "kvm[device=/dev/kvm");
	REFUSE(&cfg, "run", "--plugin", "/p", "--hypervisor", "kvm[path=/dev/kvm]");
	REFUSE(&cfg, "run", "--plugin", "/p", "--hypervisor", "kvm[device=]");
	REFUSE(&cfg, "run", "--plugin", "/p", "--hypervisor", "kvm[device=/a,device=/b]");
	REFUSE(&cfg, "run", "--plugin", "/p", "--hypervisor", "kvmx");
	REFUSE(&cfg, "run", "--plugin", "/p", "--kvm-device", "");
	loud();
}

static void sandbox_and_misc(void **state)
{
	struct host_config cfg;

	(void)state;
	assert_int_equal(parse_args(&cfg, "--log-level", "debug", "--no-syslog", "--syslog-tag",
				    "vm", "run", "--plugin", "/bin/true", "--disable-sandbox",
				    "--seccomp-policy-dir", "/usr/share/policy",
				    "--seccomp-log-failures", "--pivot-root", "/var/empty2",
				    "--plugin-root", "/tmp", "--hugepages", "--name", "vm1",
				    "--vcpu-cgroup-path", "/tmp", NULL),
			 0);
	assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);
	/* --syslog-tag came after --no-syslog: the last one wins. */
	assert_true(cfg.syslog);
	assert_string_equal(cfg.syslog_tag, "vm");
	assert_true(cfg.disable_sandbox);
	assert_string_equal(cfg.seccomp_policy_dir, "/usr/share/policy");
	assert_true(cfg.seccomp_log_failures);
	assert_string_equal(cfg.pivot_root, "/var/empty2");
	assert_string_equal(cfg.plugin_root, "/tmp");
	assert_string_equal(cfg.name, "vm1");
	assert_string_equal(cfg.vcpu_cgroup_path, "/tmp");
	config_free(&cfg);

	/* Global options are also accepted after "run". */
	assert_int_equal(parse_args(&cfg, "run", "--plugin", "/p", "--log-level=error",
				    "--no-syslog", NULL),
			 0);
	assert_int_equal(cfg.log_level, LOG_LEVEL_ERROR);
	assert_false(cfg.syslog);
	config_free(&cfg);
	assert_int_equal(parse_args(&cfg, "--syslog", "run", "--plugin", "/p", "--stats", NULL), 0);
	assert_true(cfg.stats);
	assert_false(cfg.plugin_stdin); /* the jail's stdin is /dev/null unless asked */
	assert_true(cfg.syslog);
	assert_null(cfg.syslog_tag);
	config_free(&cfg);
	assert_int_equal(parse_args(&cfg, "--syslog-tag", "t", "run", "--plugin", "/p", "--no-syslog",
				    NULL),
			 0);
	assert_false(cfg.syslog);
	config_free(&cfg);
	assert_int_equal(parse_args(&cfg, "run", "--plugin-stdin", "--plugin", "/p", NULL), 0);
	assert_true(cfg.plugin_stdin);
	config_free(&cfg);
	REFUSE(&cfg, "run", "--plugin", "/p", "--plugin-stdin=yes");
	assert_int_equal(parse_args(&cfg, "run", "--plugin", "/p", "--log-level", "trace", NULL), 0);
	assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);
	config_free(&cfg);
	assert_int_equal(parse_args(&cfg, "run", "--plugin", "/p", "--log-level", "off", NULL), 0);
	assert_true(cfg.log_level < LOG_LEVEL_ERROR);
	config_free(&cfg);

	quiet();
	REFUSE(&cfg, NULL);
	REFUSE(&cfg, "run");
	REFUSE(&cfg, "start", "--plugin", "/p");
	REFUSE(&cfg, "--plugin", "/p", "run");
	REFUSE(&cfg, "--", "run", "--plugin", "/p");
	REFUSE(&cfg, "run", "--plugin");
	REFUSE(&cfg, "run", "--plugin", "");
	REFUSE(&cfg, "run", "--plugin", "/p", "--plugin", "/q");
	REFUSE(&cfg, "run", "--plugin", "/p", "/vmlinux");
	REFUSE(&cfg, "run", "--plugin", "/p", "--bios", "/x");
	REFUSE(&cfg, "run", "--plugin", "/p", "-x");
	REFUSE(&cfg, "run", "--plugin", "/p", "-pfoo");
	REFUSE(&cfg, "run", "--plugin", "/p", "-");
	REFUSE(&cfg, "run", "--plugin", "/p", "--disable-sandbox=true");
	REFUSE(&cfg, "run", "--plugin", "/p", "--log-level", "loud");
	REFUSE(&cfg, "--log-level", "info", "run", "--plugin", "/p", "--log-level", "info");
	REFUSE(&cfg, "run", "--plugin", "/p", "--plugin-root", "tmp");
	REFUSE(&cfg, "run", "--plugin", "/p", "--plugin-root", "/nonexistent/plugvm");
	REFUSE(&cfg, "run", "--plugin", "/p", "--plugin-root", "/dev/null");
	REFUSE(&cfg, "run", "--plugin", "/p", "--vcpu-cgroup-path", "/nonexistent/plugvm");
	REFUSE(&cfg, "run", "--plugin", "/p", "--seccomp-policy-dir", "");
	REFUSE(&cfg, "run", "--plugin", "/p", "--pivot-root", "");
	REFUSE(&cfg, "run", "--plugin", "/p", "--name");
	/* Unjailed, the plugin path is checked on the spot. */
	REFUSE(&cfg, "run", "--plugin", "/nonexistent/plugvm", "--disable-sandbox");
	REFUSE(&cfg, "run", "--plugin", "/dev/null", "--disable-sandbox");
	REFUSE(&cfg, "run", "--plugin", "/tmp", "--disable-sandbox");
	REFUSE(&cfg, "run", "--plugin", "%TMP/gids", "--disable-sandbox");
	loud();
}

static void help_and_version(void **state)
{
	struct host_config cfg;
	int out = dup(STDOUT_FILENO), fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	(void)state;
	assert_true(out >= 0 && fd >= 0);
	fflush(stdout);
	dup2(fd, STDOUT_FILENO);
	assert_int_equal(parse_args(&cfg, "--help", NULL), CLI_EXIT_DONE);
	assert_int_equal(parse_args(&cfg, "-h", NULL), CLI_EXIT_DONE);
	assert_int_equal(parse_args(&cfg, "--version", NULL), CLI_EXIT_DONE);
	assert_int_equal(parse_args(&cfg, "run", "--help", NULL), CLI_EXIT_DONE);
	assert_int_equal(parse_args(&cfg, "run", "--plugin", "/p", "--version", NULL), CLI_EXIT_DONE);
	/* Nothing is left allocated when help was printed half-way through. */
	assert_null(cfg.plugin_path);
	fflush(stdout);
	/* Help that could not be written is an error, not a success. */
	close(fd);
	fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	dup2(fd, STDOUT_FILENO);
	quiet();
	assert_int_equal(parse_args(&cfg, "--help", NULL), -EINVAL);
	assert_int_equal(parse_args(&cfg, "--version", NULL), -EINVAL);
	loud();
	/* Drop whatever stdio kept from the failed writes before stdout is real again. */
	__fpurge(stdout);
	clearerr(stdout);
	dup2(out, STDOUT_FILENO);
	close(out);
	close(fd);
}

/*
 * Random command lines built from option names and awkward values: cli_parse()
 * must always answer 0, CLI_EXIT_DONE or -EINVAL, and leave nothing behind
 * (run under ASan/LSan for the memory side).  Fixed seed: failures reproduce.
 */
static void random_command_lines(void **state)
{
	static const char *const pool[] = {
		"run", "--", "-", "-p", "-c", "-h", "--plugin", "--plugin=", "--params", "--cpus",
		"--cpus=", "--net", "--host-ip", "--netmask", "--mac", "--tap-name", "--tap-fd",
		"--vhost-net", "--hypervisor", "--kvm-device", "--vcpu-cgroup-path",
		"--disable-sandbox", "--seccomp-policy-dir", "--pivot-root", "--plugin-root",
		"--plugin-mount", "--plugin-mount-file", "--plugin-gid-map", "--plugin-gid-map-file",
		"--hugepages", "--plugin-stdin", "--name", "--log-level", "--syslog-tag", "--no-syslog", "/bin/true",
		"/dev/null", "/tmp", "1", "0", "64", "65", "num-cores=2", "num-cores=2,clusters=[[0]]",
		"[", "]", ",", "=", ":", "::", "1:2:3", "/dev/null::true", "tap-name=x",
		"tap-fd=%FD", "host-ip=1.2.3.4,netmask=255.0.0.0,mac=1:2:3:4:5:6", "kvm",
		"kvm[device=/dev/kvm]", "kvm[", "1.2.3.4", "255.255.255.252", "de:21:e8:47:6b:6a",
		"%FD", "%CLOEXEC", "%TMP/mounts", "%TMP/gids", "%TMP/bad-gids", "debug", "", "x",
		"\n", "\xff\xfe",
	};
	const size_t n_pool = sizeof(pool) / sizeof(pool[0]);
	int out = dup(STDOUT_FILENO), fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	(void)state;
	assert_true(out >= 0 && fd >= 0);
	fflush(stdout);
	dup2(fd, STDOUT_FILENO);
	quiet();
	srand(12345);
	for (int iter = 0; iter < 20000; iter++) {
		const char *a[12] = { NULL };
		struct host_config cfg;
		int n = rand() % 11, r;

		/* Most lines start with "run" so that the run options get exercised. */
		for (int k = 0; k < n; k++)
			a[k] = k == 0 && rand() % 4 ? "run" : pool[(size_t)rand() % n_pool];
		r = parse_args(&cfg, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9],
			       a[10], NULL);
		if (r == 0) {
			assert_non_null(cfg.plugin_path);
			assert_true(cfg.cpus >= 1 && cfg.cpus <= CONFIG_MAX_VCPUS);
			assert_non_null(cfg.kvm_device);
			config_free(&cfg);
		} else if (r == CLI_EXIT_DONE) {
			assert_null(cfg.plugin_path);
		} else {
			assert_refused(&cfg, r);
		}
	}
	loud();
	fflush(stdout);
	dup2(out, STDOUT_FILENO);
	close(out);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults),	 cmocka_unit_test(params_order),
		cmocka_unit_test(cpus_forms),	 cmocka_unit_test(taps_order),
		cmocka_unit_test(mounts),	 cmocka_unit_test(gid_maps),
		cmocka_unit_test(kvm_device),	 cmocka_unit_test(sandbox_and_misc),
		cmocka_unit_test(help_and_version), cmocka_unit_test(random_command_lines),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
