// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * The jail's plan, made in the host before clone() (jail-internal.h): the
 * plugin's argv and environment, the mounts it needs (its own directory, the
 * libraries its ELF interpreter and DT_RUNPATH/DT_NEEDED entries point at,
 * --plugin-mount entries), the staging directory and the seccomp policy.
 */

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jail-internal.h"
#include "jail.h"
#include "log.h"
#include "seccomp-policy.h"

/* ---- plan: mounts ---- */

static bool path_is_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return true;
	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* True if dst is already visible in the jail through an earlier directory bind. */
static bool plan_covers(const struct jail_plan *p, const char *dst)
{
	for (size_t i = 0; i < p->n_items; i++) {
		const struct jail_item *it = &p->items[i];

		if (it->kind == ITEM_BIND && it->is_dir && path_is_under(dst, it->dst))
			return true;
		if (strcmp(it->dst, dst) == 0)
			return true;
	}
	return false;
}

static int plan_add(struct jail_plan *p, enum jail_item_kind kind, const char *src,
		    const char *dst, bool is_dir, bool writable)
{
	struct jail_item *it;

	if (p->n_items >= JAIL_MAX_MOUNTS) {
		log_err("jail: more than %d mounts", JAIL_MAX_MOUNTS);
		return -E2BIG;
	}
	it = &p->items[p->n_items];
	it->kind = kind;
	it->src = strdup(src);
	it->dst = strdup(dst);
	if (!it->src || !it->dst) {
		free(it->src);
		free(it->dst);
		return -ENOMEM;
	}
	it->is_dir = is_dir;
	it->writable = writable;
	it->fd = -1;
	p->n_items++;
	return 0;
}

/* Adds a read-only bind of an existing host path at the same place, unless already visible. */
static int plan_add_same(struct jail_plan *p, const char *path, bool writable)
{
	char real[PATH_MAX];
	struct stat st;

	if (path[0] != '/' || !realpath(path, real) || stat(real, &st) < 0)
		return 0; /* nothing to show */
	if (plan_covers(p, real))
		return 0;
	return plan_add(p, ITEM_BIND, real, real, S_ISDIR(st.st_mode), writable);
}

/* Recreates a host symlink such as /lib -> usr/lib, or binds the directory. */
static int plan_add_libdir(struct jail_plan *p, const char *path)
{
	char link[PATH_MAX];
	struct stat st;
	ssize_t n;

	if (lstat(path, &st) < 0)
		return 0;
	if (S_ISLNK(st.st_mode)) {
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			return 0;
		link[n] = '\0';
		if (plan_covers(p, path))
			return 0;
		return plan_add(p, ITEM_SYMLINK, link, path, false, false);
	}
	if (!S_ISDIR(st.st_mode) || plan_covers(p, path))
		return 0;
	return plan_add(p, ITEM_BIND, path, path, true, false);
}

/*
 * Reads PT_INTERP and DT_RUNPATH/DT_RPATH from an ELF64 file.  Plugins built
 * in a meson tree find libcrosvm_plugin.so through a $ORIGIN-relative
 * RUNPATH, which must resolve inside the jail too.
 */
struct elf_info {
	char interp[PATH_MAX];
	char runpath[4096];
};

static int elf_read_at(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t n;

	if (off > (uint64_t)INT64_MAX)
		return -EINVAL;
	n = pread(fd, buf, len, (off_t)off);
	return n == (ssize_t)len ? 0 : -EINVAL;
}

static int elf_inspect(const char *path, struct elf_info *info)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	uint64_t dyn_off = 0, dyn_size = 0, strtab = 0, rp = UINT64_MAX;
	bool have_strtab = false;
	int fd, r = -EINVAL;

	info->interp[0] = '\0';
	info->runpath[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (elf_read_at(fd, &eh, sizeof(eh), 0) < 0 || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    eh.e_phnum > 256)
		goto out;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		if (elf_read_at(fd, &ph, sizeof(ph), eh.e_phoff + (uint64_t)i * sizeof(ph)) < 0)
			goto out;
		if (ph.p_type == PT_INTERP && ph.p_filesz > 1 && ph.p_filesz < sizeof(info->interp)) {
			if (elf_read_at(fd, info->interp, ph.p_filesz, ph.p_offset) < 0)
				goto out;
			info->interp[ph.p_filesz] = '\0';
		} else if (ph.p_type == PT_DYNAMIC) {
			dyn_off = ph.p_offset;
			dyn_size = ph.p_filesz;
		}
	}
	r = 0;
	if (!dyn_size || dyn_size > 65536)
		goto out;
	for (uint64_t off = 0; off + sizeof(Elf64_Dyn) <= dyn_size; off += sizeof(Elf64_Dyn)) {
		Elf64_Dyn d;

		if (elf_read_at(fd, &d, sizeof(d), dyn_off + off) < 0 || d.d_tag == DT_NULL)
			break;
		if (d.d_tag == DT_STRTAB) {
			strtab = d.d_un.d_ptr;
			have_strtab = true;
		} else if (d.d_tag == DT_RUNPATH || (d.d_tag == DT_RPATH && rp == UINT64_MAX)) {
			rp = d.d_un.d_val;
		}
	}
	if (!have_strtab || rp == UINT64_MAX)
		goto out;
	/* DT_STRTAB is a virtual address: find the PT_LOAD segment holding it. */
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		uint64_t at;
		ssize_t n;

		if (elf_read_at(fd, &ph, sizeof(ph), eh.e_phoff + (uint64_t)i * sizeof(ph)) < 0)
			break;
		if (ph.p_type != PT_LOAD || strtab < ph.p_vaddr || strtab - ph.p_vaddr >= ph.p_filesz)
			continue;
		at = ph.p_offset + (strtab - ph.p_vaddr) + rp;
		if (at > (uint64_t)INT64_MAX)
			break;
		n = pread(fd, info->runpath, sizeof(info->runpath) - 1, (off_t)at);
		if (n <= 0) {
			info->runpath[0] = '\0';
			break;
		}
		info->runpath[n] = '\0';
		break;
	}
out:
	close(fd);
	return r;
}

/* Binds every directory of a colon-separated search path, expanding $ORIGIN. */
static int plan_add_search_path(struct jail_plan *p, const char *list, const char *origin)
{
	char *copy = strdup(list), *save = NULL;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (char *tok = strtok_r(copy, ":", &save); tok && r == 0; tok = strtok_r(NULL, ":", &save)) {
		char path[PATH_MAX];
		const char *rest = NULL;

		if (strncmp(tok, "$ORIGIN", 7) == 0)
			rest = tok + 7;
		else if (strncmp(tok, "${ORIGIN}", 9) == 0)
			rest = tok + 9;
		if (rest) {
			if (!origin || snprintf(path, sizeof(path), "%s%s", origin, rest) >=
					       (int)sizeof(path))
				continue;
		} else if (snprintf(path, sizeof(path), "%s", tok) >= (int)sizeof(path)) {
			continue;
		}
		r = plan_add_same(p, path, false);
	}
	free(copy);
	return r;
}

/* What a tmpfs root needs so that an ordinary dynamically linked plugin can start. */
static int plan_auto_mounts(struct jail_plan *p, const char *plugin_real)
{
	static const char *const libdirs[] = { "/lib", "/lib64", "/usr/lib", "/usr/lib64",
					       "/usr/local/lib" };
	struct elf_info *elf;
	char origin[PATH_MAX];
	const char *llp;
	char *slash;
	int r;

	/* Directories first, so that files inside them are recognised as covered. */
	for (size_t i = 0; i < sizeof(libdirs) / sizeof(libdirs[0]); i++) {
		r = plan_add_libdir(p, libdirs[i]);
		if (r < 0)
			return r;
	}
	r = plan_add_same(p, "/etc/ld.so.cache", false);
	if (r < 0)
		return r;

	elf = malloc(sizeof(*elf));
	if (!elf)
		return -ENOMEM;
	snprintf(origin, sizeof(origin), "%s", plugin_real);
	slash = strrchr(origin, '/');
	if (slash)
		*(slash == origin ? slash + 1 : slash) = '\0';
	if (elf_inspect(plugin_real, elf) == 0) {
		/*
		 * The loader's real file; its literal name (/lib64/ld-linux-x86-64.so.2)
		 * resolves through the library directory symlinks reproduced above.
		 */
		if (elf->interp[0])
			r = plan_add_same(p, elf->interp, false);
		if (r == 0 && elf->runpath[0])
			r = plan_add_search_path(p, elf->runpath, origin);
	}
	free(elf);
	if (r < 0)
		return r;
	llp = getenv("LD_LIBRARY_PATH");
	if (llp && *llp) {
		r = plan_add_search_path(p, llp, NULL);
		if (r < 0)
			return r;
	}
	return plan_add_same(p, plugin_real, false);
}

static int plan_mounts(struct jail_plan *p, const struct host_config *cfg)
{
	static const char *const devs[] = { "/dev/null", "/dev/zero", "/dev/full", "/dev/urandom" };
	char real[PATH_MAX];
	int r;

	if (cfg->plugin_root) {
		struct stat st;

		if (cfg->plugin_root[0] != '/' || stat(cfg->plugin_root, &st) < 0 ||
		    !S_ISDIR(st.st_mode)) {
			log_err("--plugin-root %s: not an existing absolute directory", cfg->plugin_root);
			return -EINVAL;
		}
		/* A plugin root is a whole file system: the plugin path is resolved inside it. */
		if (cfg->plugin_path[0] != '/') {
			log_err("--plugin %s: must be an absolute path inside --plugin-root",
				cfg->plugin_path);
			return -EINVAL;
		}
		p->root = cfg->plugin_root;
		p->exec_path = strdup(cfg->plugin_path);
		if (!p->exec_path)
			return -ENOMEM;
	} else {
		if (!realpath(cfg->plugin_path, real)) {
			log_err("cannot execute plugin %s: %s", cfg->plugin_path, strerror(errno));
			return -errno;
		}
		p->exec_path = strdup(real);
		if (!p->exec_path)
			return -ENOMEM;
		r = plan_auto_mounts(p, real);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
		r = plan_add(p, ITEM_BIND, devs[i], devs[i], false, true);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		const struct plugin_mount *m = &cfg->mounts[i];
		const char *dst = m->dst ? m->dst : m->src;
		struct stat st;

		if (!m->src || m->src[0] != '/' || dst[0] != '/') {
			log_err("--plugin-mount %s: source and destination must be absolute paths",
				m->src ? m->src : "");
			return -EINVAL;
		}
		if (stat(m->src, &st) < 0) {
			log_err("--plugin-mount %s: %s", m->src, strerror(errno));
			return -errno;
		}
		if (strcmp(dst, "/") == 0 || strcmp(dst, "/proc") == 0 ||
		    strncmp(dst, "/proc/", 6) == 0) {
			log_err("--plugin-mount %s: cannot mount over %s in the jail", m->src, dst);
			return -EINVAL;
		}
		r = plan_add(p, ITEM_BIND, m->src, dst, S_ISDIR(st.st_mode), m->writable);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The directory the new root is attached to before pivot_root; its content is never used. */
static int plan_staging(struct jail_plan *p, const struct host_config *cfg)
{
	const char *cands[] = { cfg->pivot_root, "/tmp", "/mnt", "/proc" };
	struct stat st;

	for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
		if (cands[i] && cands[i][0] == '/' && strcmp(cands[i], "/") != 0 &&
		    stat(cands[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			p->staging = strdup(cands[i]);
			return p->staging ? 0 : -ENOMEM;
		}
	}
	log_err("jail: no directory to prepare the jail root on");
	return -ENOENT;
}

/* ---- plan: process ---- */

void plan_free(struct jail_plan *p)
{
	free(p->argv);
	free(p->envp);
	free(p->env_socket);
	free(p->exec_path);
	free(p->staging);
	for (size_t i = 0; i < p->n_items; i++) {
		free(p->items[i].src);
		free(p->items[i].dst);
	}
	seccomp_policy_free(&p->seccomp);
	memset(p, 0, sizeof(*p));
}

int plan_build(struct jail_plan *p, const struct host_config *cfg, int sock_fd,
		      int stderr_fd, bool notify)
{
	enum seccomp_fail fail = cfg->seccomp_log_failures ? SECCOMP_FAIL_LOG : SECCOMP_FAIL_KILL;
	size_t n_env = 0, k = 0;
	int r;

	p->sock_fd = sock_fd;
	p->stderr_fd = stderr_fd;
	p->keep_stdin = cfg->plugin_stdin;
	p->go_fd = -1;
	p->report_fd = -1;

	if (notify)
		fail = SECCOMP_FAIL_NOTIFY;
	r = seccomp_policy_compile(cfg->seccomp_policy_dir, fail, &p->seccomp);
	if (r < 0)
		return r;
	r = plan_mounts(p, cfg);
	if (r < 0)
		return r;
	r = plan_staging(p, cfg);
	if (r < 0)
		return r;

	if (getrlimit(RLIMIT_NOFILE, &p->nofile) < 0)
		return -errno;
	if (p->nofile.rlim_max == RLIM_INFINITY || p->nofile.rlim_max > JAIL_MAX_FILES)
		p->nofile.rlim_max = JAIL_MAX_FILES;
	p->nofile.rlim_cur = p->nofile.rlim_max;

	p->argv = calloc(cfg->n_params + 2, sizeof(*p->argv));
	if (!p->argv)
		return -ENOMEM;
	p->argv[0] = cfg->plugin_path;
	for (size_t i = 0; i < cfg->n_params; i++)
		p->argv[i + 1] = cfg->params[i];

	for (char **e = environ; e && *e; e++)
		n_env++;
	p->envp = calloc(n_env + 2, sizeof(*p->envp));
	if (!p->envp)
		return -ENOMEM;
	for (char **e = environ; e && *e; e++) {
		if (strncmp(*e, JAIL_ENV_NAME "=", sizeof(JAIL_ENV_NAME)) != 0)
			p->envp[k++] = *e;
	}
	p->envp[k++] = NULL; /* CROSVM_SOCKET goes here once the child's number is known */
	p->envp[k] = NULL;
	return 0;
}

/* The socket keeps its number unless it sits on 0..2 or on a descriptor the setup still needs. */
int plan_socket_number(struct jail_plan *p)
{
	size_t k = 0;

	if (p->sock_fd > STDERR_FILENO)
		p->child_sock = p->sock_fd;
	else
		p->child_sock = 1 + (p->stderr_fd > p->go_fd ?
				     (p->stderr_fd > p->report_fd ? p->stderr_fd : p->report_fd) :
				     (p->go_fd > p->report_fd ? p->go_fd : p->report_fd));
	if (asprintf(&p->env_socket, JAIL_ENV_NAME "=%d", p->child_sock) < 0) {
		p->env_socket = NULL;
		return -ENOMEM;
	}
	while (p->envp[k])
		k++;
	p->envp[k] = p->env_socket;
	return 0;
}
