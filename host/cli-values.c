// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * The command line's values (cli-internal.h): error recording, bounded
 * allocation, numbers, addresses, --cpus, --net, --hypervisor, mounts, gid
 * maps and the files that list them.
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

int __attribute__((format(printf, 2, 3))) cli_err(struct cli *c, const char *fmt, ...)
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
void __attribute__((format(printf, 2, 3))) cli_err_prefix(struct cli *c, const char *fmt,
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

void cli_print_error(const char *msg)
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

int cli_oom(struct cli *c)
{
	cli_err(c, "out of memory");
	return -ENOMEM;
}

int cli_strdup(struct cli *c, char **dst, const char *src)
{
	char *s = strdup(src);

	if (!s)
		return cli_oom(c);
	free(*dst);
	*dst = s;
	return 0;
}

int cli_grow(struct cli *c, void **arr, size_t n, size_t elem)
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
int cli_parse_ipv4(const char *s, uint32_t *ret_s_addr)
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
int cli_parse_mac(const char *s, uint8_t mac[6])
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

int cli_parse_cpus(struct cli *c, const char *s)
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
int cli_parse_tap_fd(struct cli *c, const char *what, const char *s, int *ret_fd)
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

int cli_check_tap_name(struct cli *c, const char *what, const char *name)
{
	if (!name[0] || strlen(name) >= IFNAMSIZ)
		return cli_err(c, "%s: interface name '%s' must be 1..%d characters", what, name,
			       IFNAMSIZ - 1);
	if (strchr(name, '/') || strchr(name, ' '))
		return cli_err(c, "%s: invalid interface name '%s'", what, name);
	return 0;
}

int cli_add_tap(struct cli *c, struct cli_taps *list, const struct tap_spec *t)
{
	int r = cli_grow(c, (void **)&list->items, list->n, sizeof(*list->items));

	if (r < 0)
		return r;
	list->items[list->n++] = *t;
	return 0;
}

int cli_parse_net(struct cli *c, const char *s)
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
			if (!dup && cli_parse_ipv4(v, &t.host_ip) < 0)
				r = cli_err(c, "--net: host-ip '%s' is not an IPv4 address", v);
		} else if (strcmp(k, "netmask") == 0) {
			dup = has_mask;
			has_mask = true;
			if (!dup && cli_parse_ipv4(v, &t.netmask) < 0)
				r = cli_err(c, "--net: netmask '%s' is not an IPv4 address", v);
		} else if (strcmp(k, "mac") == 0) {
			dup = t.has_mac;
			t.has_mac = true;
			if (!dup && cli_parse_mac(v, t.mac) < 0)
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
int cli_parse_hypervisor(struct cli *c, const char *s)
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

int cli_check_dir(struct cli *c, const char *what, const char *path, bool absolute)
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

int cli_add_mount(struct cli *c, const char *s)
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

int cli_add_gid_map(struct cli *c, const char *s)
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
int cli_parse_file(struct cli *c, const char *what, const char *path,
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
