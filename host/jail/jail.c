// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * The plugin jail.  Everything that allocates or formats (argv, environment,
 * the mount plan, the BPF programs, error messages) is prepared in the host
 * before clone(); the child then runs only raw system calls, because
 * another host thread may have held a malloc or stdio lock at the moment of
 * the clone.
 *
 * Order in the child (each step needs the privileges the previous ones
 * leave): wait for the host to write the id maps; new session; sysctl
 * limits on nested namespaces; capture every bind source with open_tree()
 * while the host's tree is still visible; build a fresh proc and the new
 * root; pivot_root; attach the captured mounts inside the new root (so mount
 * points are resolved in the jail, never through host symlinks); make the
 * root read-only; rlimits; descriptors; securebits, bounding, ambient and
 * capability sets; no_new_privs; seccomp; execve.  Failures are reported
 * over a close-on-exec pipe, so the host learns of them synchronously and
 * the pipe's EOF means the plugin was executed.
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

#include "jail.h"
#include "log.h"
#include "seccomp-notify.h"
#include "seccomp-policy.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define JAIL_ENV_NAME "CROSVM_SOCKET"
#define JAIL_HOSTNAME "plugvm"
#define JAIL_ROOT_OPTS "size=1m,mode=0755"
#define JAIL_MAX_MOUNTS 128

enum jail_item_kind {
	ITEM_BIND,    /* captured with open_tree() before pivot_root, attached after */
	ITEM_SYMLINK, /* recreated inside the jail, e.g. /lib -> usr/lib */
};

struct jail_item {
	enum jail_item_kind kind;
	char *src;      /* host path (ITEM_BIND) or link text (ITEM_SYMLINK) */
	char *dst;      /* absolute path inside the jail */
	bool is_dir;
	bool writable;
	int fd;         /* child only: the captured tree */
};

/* The steps the child reports failures of; the host turns them into messages. */
enum jail_step {
	STEP_SYNC,
	STEP_SETSID,
	STEP_SETID,
	STEP_HOSTNAME,
	STEP_PRIVATE,
	STEP_CAPTURE,
	STEP_PROC,
	STEP_ROOT,
	STEP_PIVOT,
	STEP_MOUNTPOINT,
	STEP_ATTACH,
	STEP_ROOT_RO,
	STEP_RLIMIT,
	STEP_FDS,
	STEP_CAPS,
	STEP_NNP,
	STEP_SECCOMP,
	STEP_EXEC,
	STEP_LISTENER, /* not a failure: the seccomp listener is this descriptor (item) */
};

static const char *const jail_step_text[] = {
	[STEP_SYNC] = "waiting for the host",
	[STEP_SETSID] = "setsid",
	[STEP_SETID] = "switching to uid/gid 0 in the user namespace",
	[STEP_HOSTNAME] = "sethostname",
	[STEP_PRIVATE] = "making mounts private",
	[STEP_CAPTURE] = "capturing bind mount source",
	[STEP_PROC] = "creating /proc",
	[STEP_ROOT] = "creating the jail root",
	[STEP_PIVOT] = "pivot_root",
	[STEP_MOUNTPOINT] = "creating mount point",
	[STEP_ATTACH] = "attaching bind mount",
	[STEP_ROOT_RO] = "making the jail root read-only",
	[STEP_RLIMIT] = "setting resource limits",
	[STEP_FDS] = "setting up descriptors",
	[STEP_CAPS] = "dropping capabilities",
	[STEP_NNP] = "setting no_new_privs",
	[STEP_SECCOMP] = "installing the seccomp filter",
	[STEP_EXEC] = "executing the plugin",
	[STEP_LISTENER] = "handing over the seccomp listener",
};

struct jail_report {
	int32_t step;
	int32_t err;
	int32_t item; /* index into the mount plan, or -1 */
};

struct jail_plan {
	char **argv;
	char **envp;
	char *env_socket;
	char *exec_path;    /* path of the plugin inside the jail */
	const char *root;   /* --plugin-root, or NULL for a fresh tmpfs */
	char *staging;      /* host directory the new root is attached to before pivot_root */
	struct jail_item items[JAIL_MAX_MOUNTS];
	size_t n_items;
	struct seccomp_policy seccomp;
	struct rlimit nofile;
	int sock_fd;
	int child_sock;
	int stderr_fd;
	bool keep_stdin;    /* --plugin-stdin */
	int go_fd;          /* child reads one byte once the id maps are written, one more once
			     * the host has taken the seccomp listener */
	int go_host_fd;     /* the host's end, closed in the child so host death reads as EOF */
	int report_fd;      /* child writes a jail_report on failure; EOF on exec */
	int report_host_fd; /* the host's end, closed in the child */
};

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

static void plan_free(struct jail_plan *p)
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

static int plan_build(struct jail_plan *p, const struct host_config *cfg, int sock_fd,
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
static int plan_socket_number(struct jail_plan *p)
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

/* ---- child ---- */

static void __attribute__((noreturn)) child_fail(const struct jail_plan *p, enum jail_step step,
						  int err, int item)
{
	struct jail_report rep = { .step = step, .err = err, .item = item };
	ssize_t n;

	do {
		n = write(p->report_fd, &rep, sizeof(rep));
	} while (n < 0 && errno == EINTR);
	_exit(127);
}

static int child_write_file(const char *path, const char *text)
{
	size_t len = strlen(text);
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, text, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

/* mkdir -p of the parent of path (inside the jail root), with a stack copy. */
static int child_mkdir_parents(const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i < len; i++) {
		if (buf[i] != '/')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		buf[i] = '/';
	}
	return 0;
}

static int child_mountpoint(const struct jail_item *it)
{
	int r, fd;

	r = child_mkdir_parents(it->dst);
	if (r < 0)
		return r;
	if (it->is_dir)
		return mkdir(it->dst, 0755) < 0 && errno != EEXIST ? -errno : 0;
	fd = open(it->dst, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	/* An existing file on a read-only root is still a fine mount point. */
	return errno == EROFS || errno == EISDIR || errno == EEXIST ? 0 : -errno;
}

static int child_attach(int fd, const char *dst)
{
	return move_mount(fd, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH) < 0 ? -errno : 0;
}

static int child_fresh_mount(const char *fstype, const char *opts, unsigned attrs)
{
	int fsfd, mfd;
	char key[32], val[64];

	fsfd = fsopen(fstype, FSOPEN_CLOEXEC);
	if (fsfd < 0)
		return -errno;
	/* "key=value,key=value" without allocating */
	for (const char *s = opts; s && *s;) {
		const char *comma = strchr(s, ',');
		const char *eq = strchr(s, '=');
		size_t klen, vlen;

		if (!comma)
			comma = s + strlen(s);
		if (!eq || eq > comma || (size_t)(eq - s) >= sizeof(key) ||
		    (size_t)(comma - eq - 1) >= sizeof(val))
			break;
		klen = (size_t)(eq - s);
		vlen = (size_t)(comma - eq - 1);
		memcpy(key, s, klen);
		key[klen] = '\0';
		memcpy(val, eq + 1, vlen);
		val[vlen] = '\0';
		if (fsconfig(fsfd, FSCONFIG_SET_STRING, key, val, 0) < 0)
			goto err;
		s = *comma ? comma + 1 : comma;
	}
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		goto err;
	mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, attrs);
	if (mfd < 0)
		goto err;
	close(fsfd);
	return mfd;
err:
	mfd = -errno;
	close(fsfd);
	return mfd;
}

/* Marks every descriptor except the socket close-on-exec; the report pipe must live until exec. */
static int child_cloexec_others(int keep)
{
	char buf[1024];
	int dir;

	if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) == 0)
		goto keep;
	/* Linux < 5.11: walk /proc/self/fd (the jail's fresh proc) with raw getdents64. */
	dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return -errno;
	for (;;) {
		long n = syscall(SYS_getdents64, dir, buf, sizeof(buf));

		if (n <= 0)
			break;
		for (long off = 0; off < n;) {
			struct dirent64_raw {
				uint64_t ino;
				int64_t off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *d = (struct dirent64_raw *)(void *)(buf + off);
			int fd = jail_fd_of_name(d->name);

			if (fd > STDERR_FILENO)
				fcntl(fd, F_SETFD, FD_CLOEXEC);
			off += d->reclen;
		}
	}
	close(dir);
keep:
	return fcntl(keep, F_SETFD, 0) < 0 ? -errno : 0;
}

/*
 * Empties the bounding set (while CAP_SETPCAP is still held), the ambient
 * set and the effective, permitted and inheritable sets.  strict: a
 * capability the bounding set keeps (EPERM) is an error, not skipped.
 */
static int caps_clear(bool strict)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	for (int cap = 0; cap < 64; cap++) {
		/* Past the last capability this kernel knows, both calls fail with EINVAL. */
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0)
			break;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && (strict || errno != EPERM))
			return -errno;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	return 0;
}

static int child_drop_caps(void)
{
	/* While CAP_SETPCAP is still held: no capabilities come back through exec as root. */
	if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
				     SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
				     SECBIT_NO_CAP_AMBIENT_RAISE |
				     SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED) < 0)
		return -errno;
	return caps_clear(true);
}

/* The kernel's struct sigaction on x86-64, for rt_sigaction(2) without glibc's filtering. */
struct kernel_sigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};

void spawn_reset_signal_dispositions(void)
{
	struct kernel_sigaction ksa = { .handler = SIG_DFL };

	/*
	 * The raw system call, because glibc refuses its reserved signals (32 and
	 * 33), and an ignored disposition of those inherited from whoever started
	 * the host would otherwise reach the plugin.
	 */
	for (int sig = 1; sig <= 64; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, &ksa, NULL, sizeof(ksa.mask));
	}
}

static void __attribute__((noreturn)) child_main(struct jail_plan *p)
{
	static const char *const ns_limits[] = {
		"/proc/sys/user/max_user_namespaces",   "/proc/sys/user/max_mnt_namespaces",
		"/proc/sys/user/max_pid_namespaces",    "/proc/sys/user/max_net_namespaces",
		"/proc/sys/user/max_ipc_namespaces",    "/proc/sys/user/max_uts_namespaces",
		"/proc/sys/user/max_cgroup_namespaces", "/proc/sys/user/max_time_namespaces",
	};
	struct mount_attr attr;
	struct rlimit rl;
	sigset_t none;
	int proc_fd, root_fd, fd, r;
	char go;
	ssize_t n;

	/* Handlers survive execve() as "default" only if we reset them; do it while all is blocked. */
	spawn_reset_signal_dispositions();
	/* Before anything else: a host that dies from now on takes us with it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		child_fail(p, STEP_SYNC, errno, -1);
	close(p->go_host_fd);
	close(p->report_host_fd);
	do {
		n = read(p->go_fd, &go, 1);
	} while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(127); /* the host gave up (or died) before writing our id maps */

	if (setsid() < 0)
		child_fail(p, STEP_SETSID, errno, -1);
	if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		child_fail(p, STEP_SETID, errno, -1);
	if (sethostname(JAIL_HOSTNAME, sizeof(JAIL_HOSTNAME) - 1) < 0)
		child_fail(p, STEP_HOSTNAME, errno, -1);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		child_fail(p, STEP_PRIVATE, errno, -1);

	for (size_t i = 0; i < p->n_items; i++) {
		struct jail_item *it = &p->items[i];

		if (it->kind != ITEM_BIND)
			continue;
		it->fd = open_tree(AT_FDCWD, it->src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
							      AT_RECURSIVE);
		if (it->fd < 0)
			child_fail(p, STEP_CAPTURE, errno, (int)i);
		memset(&attr, 0, sizeof(attr));
		attr.attr_set = MOUNT_ATTR_NOSUID | (it->writable ? 0 : MOUNT_ATTR_RDONLY);
		if (mount_setattr(it->fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
			child_fail(p, STEP_CAPTURE, errno, (int)i);
	}
	/* The kernel only allows a new proc while a full one is still visible: before pivot_root. */
	proc_fd = child_fresh_mount("proc", NULL, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
							  MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	if (proc_fd < 0)
		child_fail(p, STEP_PROC, -proc_fd, -1);

	if (p->root) {
		root_fd = open_tree(AT_FDCWD, p->root, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
							       AT_RECURSIVE);
		if (root_fd < 0)
			r = -errno;
		else
			r = 0;
	} else {
		root_fd = child_fresh_mount("tmpfs", JAIL_ROOT_OPTS, MOUNT_ATTR_NOSUID |
								   MOUNT_ATTR_NODEV |
								   MOUNT_ATTR_NOEXEC);
		r = root_fd < 0 ? root_fd : 0;
	}
	if (r < 0)
		child_fail(p, STEP_ROOT, -r, -1);
	r = child_attach(root_fd, p->staging);
	if (r < 0)
		child_fail(p, STEP_ROOT, -r, -1);
	/*
	 * Creating a user namespace needs no privilege, so a plugin could make
	 * one and be root in it.  These limits belong to our user namespace and
	 * bind everything created from it.  They are set only now because
	 * open_tree() and fsmount() above count as mount namespaces, and
	 * through the host's /proc because ours is read-only.  Best effort:
	 * seccomp blocks unshare and clone with namespace flags as well.
	 */
	for (size_t i = 0; i < sizeof(ns_limits) / sizeof(ns_limits[0]); i++)
		(void)child_write_file(ns_limits[i], "0");
	if (chdir(p->staging) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		child_fail(p, STEP_PIVOT, errno, -1);
	/* The old root sits on top of the new one after pivot_root(".", "."). */
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		child_fail(p, STEP_PIVOT, errno, -1);

	/* From here on every path is resolved inside the jail. */
	for (size_t i = 0; i < p->n_items; i++) {
		struct jail_item *it = &p->items[i];

		if (it->kind == ITEM_SYMLINK) {
			r = child_mkdir_parents(it->dst);
			if (r == 0 && symlink(it->src, it->dst) < 0 && errno != EEXIST)
				r = -errno;
			if (r < 0)
				child_fail(p, STEP_MOUNTPOINT, -r, (int)i);
			continue;
		}
		r = child_mountpoint(it);
		if (r < 0)
			child_fail(p, STEP_MOUNTPOINT, -r, (int)i);
		r = child_attach(it->fd, it->dst);
		if (r < 0)
			child_fail(p, STEP_ATTACH, -r, (int)i);
		close(it->fd);
	}
	if ((mkdir("/proc", 0555) < 0 && errno != EEXIST) || child_attach(proc_fd, "/proc") < 0)
		child_fail(p, STEP_PROC, errno, -1);
	close(proc_fd);
	close(root_fd);

	/* Only the root mount itself: writable --plugin-mount entries below it stay writable. */
	memset(&attr, 0, sizeof(attr));
	attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID;
	if (mount_setattr(AT_FDCWD, "/", 0, &attr, sizeof(attr)) < 0)
		child_fail(p, STEP_ROOT_RO, errno, -1);

	if (setrlimit(RLIMIT_NOFILE, &p->nofile) < 0)
		child_fail(p, STEP_RLIMIT, errno, -1);
	rl.rlim_cur = rl.rlim_max = JAIL_MAX_TASKS;
	if (setrlimit(RLIMIT_NPROC, &rl) < 0)
		child_fail(p, STEP_RLIMIT, errno, -1);
	/* A core dump would be written by the host's core_pattern helper, outside the jail. */
	rl.rlim_cur = rl.rlim_max = 0;
	if (setrlimit(RLIMIT_CORE, &rl) < 0)
		child_fail(p, STEP_RLIMIT, errno, -1);

	/* The socket first, so that installing stderr on fd 2 cannot overwrite it. */
	if (p->sock_fd != p->child_sock && dup2(p->sock_fd, p->child_sock) < 0)
		child_fail(p, STEP_FDS, errno, -1);
	if (p->stderr_fd != STDERR_FILENO && dup2(p->stderr_fd, STDERR_FILENO) < 0)
		child_fail(p, STEP_FDS, errno, -1);
	fcntl(STDERR_FILENO, F_SETFD, 0);
	/*
	 * stdin would let a plugin read the host's terminal, so it is /dev/null unless
	 * --plugin-stdin asked for it; stdout stays (plugins print results).
	 */
	fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		child_fail(p, STEP_FDS, errno, -1);
	if (!p->keep_stdin || p->sock_fd == STDIN_FILENO) {
		if (dup2(fd, STDIN_FILENO) < 0)
			child_fail(p, STEP_FDS, errno, -1);
	} else if (fcntl(STDIN_FILENO, F_SETFD, 0) < 0 && errno != EBADF) {
		child_fail(p, STEP_FDS, errno, -1);
	}
	if (p->sock_fd <= STDERR_FILENO && p->sock_fd != STDIN_FILENO &&
	    p->sock_fd != p->child_sock) {
		/* The socket sat on stdout: leave /dev/null there, not a second socket. */
		if (dup2(fd, p->sock_fd) < 0)
			child_fail(p, STEP_FDS, errno, -1);
	}
	if (fd > STDERR_FILENO)
		close(fd);
	r = child_cloexec_others(p->child_sock);
	if (r < 0)
		child_fail(p, STEP_FDS, -r, -1);

	r = child_drop_caps();
	if (r < 0)
		child_fail(p, STEP_CAPS, -r, -1);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(p, STEP_NNP, errno, -1);
	r = seccomp_policy_install(&p->seccomp);
	if (r < 0)
		child_fail(p, STEP_SECCOMP, -r, -1);
	if (p->seccomp.notify) {
		/*
		 * Under the filter now: read and write must be in the policy (any
		 * policy a plugin can live with has them).  The host takes the
		 * listener with pidfd_getfd(); it is close-on-exec, so the plugin
		 * never holds it.
		 */
		struct jail_report rep = { .step = STEP_LISTENER, .item = r };

		do {
			n = write(p->report_fd, &rep, sizeof(rep));
		} while (n < 0 && errno == EINTR);
		do {
			n = read(p->go_fd, &go, 1);
		} while (n < 0 && errno == EINTR);
		if (n != 1)
			_exit(127);
	}

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(p->exec_path, p->argv, p->envp);
	child_fail(p, STEP_EXEC, errno, -1);
}

/* ---- host side ---- */

static int write_proc_file(pid_t pid, const char *name, const char *text)
{
	char path[64];
	size_t len = strlen(text);
	ssize_t n;
	int fd, r = 0;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, text, len);
	if (n < 0)
		r = -errno;
	else if ((size_t)n != len)
		r = -EIO;
	close(fd);
	return r;
}

static int jail_write_id_maps(pid_t pid, const struct host_config *cfg)
{
	char line[64];
	char *gid_map;
	size_t cap = 64 + cfg->n_gid_maps * 40, len;
	int r;

	r = write_proc_file(pid, "setgroups", "deny");
	if (r < 0 && r != -ENOENT) {
		log_err("jail: cannot deny setgroups: %s", strerror(-r));
		return r;
	}
	snprintf(line, sizeof(line), "0 %u 1\n", (unsigned)geteuid());
	r = write_proc_file(pid, "uid_map", line);
	if (r < 0) {
		log_err("jail: cannot write the uid map \"0 %u 1\": %s", (unsigned)geteuid(),
			strerror(-r));
		return r;
	}
	gid_map = malloc(cap);
	if (!gid_map)
		return -ENOMEM;
	len = (size_t)snprintf(gid_map, cap, "0 %u 1\n", (unsigned)getegid());
	for (size_t i = 0; i < cfg->n_gid_maps; i++) {
		const struct gid_map *g = &cfg->gid_maps[i];

		len += (size_t)snprintf(gid_map + len, cap - len, "%u %u %u\n", g->inner, g->outer,
					g->count);
	}
	r = write_proc_file(pid, "gid_map", gid_map);
	if (r < 0)
		log_err("jail: cannot write the gid map%s: %s",
			cfg->n_gid_maps ? " (extra --plugin-gid-map entries need CAP_SETGID and must "
					  "not overlap gid 0's line)" : "",
			strerror(-r));
	free(gid_map);
	return r;
}

/*
 * The pid limit.  RLIMIT_NPROC counts the tasks of a (user namespace, uid)
 * pair, so inside the jail's fresh user namespace it counts exactly the
 * plugin's tasks - except that the kernel exempts the real root user
 * (INIT_USER) from it, and a root host maps the plugin to uid 0 outside.
 * A pids cgroup covers that case when the host can create one.
 */
#define CGROUP_MAX_DIRS 16
static char *cgroup_dirs[CGROUP_MAX_DIRS];
static bool cgroup_atexit_done;
static bool cgroup_warned;

static void cgroup_reap(void)
{
	for (size_t i = 0; i < CGROUP_MAX_DIRS; i++) {
		if (cgroup_dirs[i] && rmdir(cgroup_dirs[i]) == 0) {
			free(cgroup_dirs[i]);
			cgroup_dirs[i] = NULL;
		}
	}
}

static void cgroup_reap_atexit(void)
{
	/* The plugin has been reaped by now; its pid namespace is torn down with it. */
	for (int tries = 0; tries < 50; tries++) {
		bool busy = false;

		for (size_t i = 0; i < CGROUP_MAX_DIRS; i++) {
			if (!cgroup_dirs[i])
				continue;
			if (rmdir(cgroup_dirs[i]) < 0 && errno == EBUSY) {
				busy = true;
				continue;
			}
			free(cgroup_dirs[i]);
			cgroup_dirs[i] = NULL;
		}
		if (!busy)
			return;
		usleep(2000);
	}
}

/* Removes empty leftovers of hosts that died without cleaning up (best effort). */
static void cgroup_reap_stale(const char *parent)
{
	DIR *d = opendir(parent);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[PATH_MAX + 300];
		int host;

		if (sscanf(e->d_name, "%d-", &host) != 1 || host <= 0 ||
		    (kill(host, 0) < 0 && errno != ESRCH) || (kill(host, 0) == 0))
			continue;
		snprintf(path, sizeof(path), "%s/%s", parent, e->d_name);
		rmdir(path);
	}
	closedir(d);
}

static int cgroup_find_base(char *base, size_t size)
{
	char line[4096], mnt[PATH_MAX] = "", rel[PATH_MAX] = "";
	bool v2 = false;
	FILE *f;

	f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		char *nl;

		if (!c2)
			continue;
		*c2 = '\0';
		nl = strchr(c2 + 1, '\n');
		if (nl)
			*nl = '\0';
		if (strcmp(c1 + 1, "pids") == 0 || strstr(c1 + 1, ",pids") ||
		    strncmp(c1 + 1, "pids,", 5) == 0) {
			snprintf(rel, sizeof(rel), "%s", c2 + 1);
			v2 = false;
			break;
		}
		if (c1[1] == '\0' && strncmp(line, "0", 1) == 0) {
			snprintf(rel, sizeof(rel), "%s", c2 + 1);
			v2 = true;
		}
	}
	fclose(f);
	if (!rel[0])
		return -ENOENT;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - ");
		char point[PATH_MAX], fstype[64], source[256], opts[1024];

		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1 ||
		    sscanf(sep + 3, "%63s %255s %1023s", fstype, source, opts) != 3)
			continue;
		if ((!v2 && strcmp(fstype, "cgroup") == 0 &&
		     (strstr(opts, ",pids") || strncmp(opts, "pids", 4) == 0)) ||
		    (v2 && strcmp(fstype, "cgroup2") == 0)) {
			snprintf(mnt, sizeof(mnt), "%s", point);
			break;
		}
	}
	fclose(f);
	if (!mnt[0])
		return -ENOENT;
	if ((size_t)snprintf(base, size, "%s%s", mnt, strcmp(rel, "/") == 0 ? "" : rel) >= size)
		return -ENAMETOOLONG;
	return 0;
}

static int cgroup_write(const char *dir, const char *file, const char *text)
{
	char path[PATH_MAX + 32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	n = n < 0 ? -errno : 0;
	close(fd);
	return (int)n;
}

static void jail_pid_cgroup(pid_t child)
{
	char base[PATH_MAX], dir[PATH_MAX + 64], num[32];
	size_t slot = CGROUP_MAX_DIRS;
	int r;

	cgroup_reap();
	for (size_t i = 0; i < CGROUP_MAX_DIRS && slot == CGROUP_MAX_DIRS; i++) {
		if (!cgroup_dirs[i])
			slot = i;
	}
	r = slot == CGROUP_MAX_DIRS ? -ENOSPC : cgroup_find_base(base, sizeof(base));
	/*
	 * Inside a "plugvm" directory that stays: cgroup roots are often mode
	 * 0555, and the host, which has dropped CAP_DAC_OVERRIDE by the time the
	 * plugin exits, can then still remove its own entries as their owner.
	 */
	if (r == 0 && strlen(base) + 8 < sizeof(base)) {
		strcat(base, "/plugvm");
		if (mkdir(base, 0755) < 0 && errno != EEXIST)
			r = -errno;
	}
	if (r == 0) {
		cgroup_reap_stale(base);
		snprintf(dir, sizeof(dir), "%s/%d-%d", base, (int)getpid(), (int)child);
		r = mkdir(dir, 0755) < 0 ? -errno : 0;
	}
	if (r == 0) {
		snprintf(num, sizeof(num), "%d", JAIL_MAX_TASKS);
		r = cgroup_write(dir, "pids.max", num);
		if (r == 0) {
			snprintf(num, sizeof(num), "%d", (int)child);
			r = cgroup_write(dir, "cgroup.procs", num);
		}
		if (r < 0) {
			rmdir(dir);
		} else {
			cgroup_dirs[slot] = strdup(dir);
			if (!cgroup_atexit_done && atexit(cgroup_reap_atexit) == 0)
				cgroup_atexit_done = true;
		}
	}
	if (r < 0 && geteuid() == 0 && !cgroup_warned) {
		cgroup_warned = true;
		log_warn("jail: no pids cgroup (%s): running as root, the plugin's task count is "
			 "not limited", strerror(-r));
	}
}

static void jail_log_report(const struct jail_plan *p, const struct host_config *cfg,
			    const struct jail_report *rep)
{
	const char *what = rep->step >= 0 && (size_t)rep->step < sizeof(jail_step_text) /
								sizeof(jail_step_text[0]) ?
				   jail_step_text[rep->step] : "setup";
	const char *why = strerror(rep->err > 0 && rep->err < 4096 ? rep->err : EIO);

	if (rep->step == STEP_EXEC) {
		log_err("cannot execute plugin %s in the jail: %s", cfg->plugin_path, why);
	} else if (rep->item >= 0 && (size_t)rep->item < p->n_items) {
		const struct jail_item *it = &p->items[rep->item];

		log_err("jail setup failed: %s %s at %s: %s", what, it->src, it->dst, why);
	} else if (rep->step == STEP_PROC && rep->err == EPERM) {
		log_err("jail setup failed: %s: %s (the host's /proc is partly hidden, as in some "
			"containers)", what, why);
	} else {
		log_err("jail setup failed: %s: %s", what, why);
	}
}

/* Takes the child's seccomp listener (descriptor nr in the child) and lets it go on. */
static int jail_take_listener(const struct jail_plan *p, int pidfd, int nr, int *ret_fd)
{
	int fd;

	if (pidfd < 0 || !ret_fd || *ret_fd >= 0) {
		log_err("jail setup failed: unexpected seccomp listener");
		return -EPROTO;
	}
	fd = (int)syscall(SYS_pidfd_getfd, pidfd, nr, 0);
	if (fd < 0) {
		int e = errno;

		log_err("jail setup failed: cannot take the seccomp listener: %s", strerror(e));
		return -e;
	}
	*ret_fd = fd;
	if (write(p->go_host_fd, "l", 1) != 1) {
		int e = errno;

		log_err("jail setup failed: cannot release the plugin: %s", strerror(e));
		return -e;
	}
	return 0;
}

/*
 * Waits for the child's verdict: a report, or EOF once execve() succeeded.
 * On the way the child may hand over its seccomp listener (*ret_notify_fd).
 */
static int jail_wait_exec(const struct jail_plan *p, const struct host_config *cfg, pid_t pid,
			  int pidfd, int *ret_notify_fd)
{
	struct pollfd pfd = { .fd = p->report_fd, .events = POLLIN };
	struct jail_report rep;
	ssize_t n;
	int r;

again:
	do {
		r = poll(&pfd, 1, JAIL_SETUP_TIMEOUT_MS);
	} while (r < 0 && errno == EINTR);
	if (r == 0) {
		log_err("jail setup failed: no answer within %d ms%s", JAIL_SETUP_TIMEOUT_MS,
			p->seccomp.notify ? " (does the seccomp policy allow read and write?)" : "");
		return -ETIMEDOUT;
	}
	do {
		n = read(p->report_fd, &rep, sizeof(rep));
	} while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	if (n == (ssize_t)sizeof(rep) && rep.step == STEP_LISTENER) {
		r = jail_take_listener(p, pidfd, rep.item, ret_notify_fd);
		if (r < 0)
			return r;
		goto again;
	}
	if (n != (ssize_t)sizeof(rep)) {
		/* Died without a word: most likely killed by its own seccomp filter before exec. */
		int status;

		if (waitpid(pid, &status, 0) == pid && WIFSIGNALED(status))
			log_err("jail setup failed: the jailed process died of signal %d before "
				"executing the plugin%s", WTERMSIG(status),
				WTERMSIG(status) == SIGSYS ? " (the seccomp policy must allow execve)"
							   : "");
		else
			log_err("jail setup failed: the jailed process died before executing the "
				"plugin");
		return -ECHILD;
	}
	jail_log_report(p, cfg, &rep);
	return -(rep.err > 0 && rep.err < 4096 ? rep.err : EIO);
}

int jail_spawn(const struct host_config *cfg, int sock_fd, int stderr_fd, pid_t *ret_pid,
	       int *ret_pidfd, int *ret_notify_fd)
{
	int notify_fd = -1;
	struct jail_plan *p;
	int go[2] = { -1, -1 }, report[2] = { -1, -1 };
	unsigned long flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC |
			      CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWCGROUP;
	sigset_t all, old;
	pid_t pid = -1;
	int r, pidfd = -1, status;

	if (ret_notify_fd)
		*ret_notify_fd = -1;
	if (!cfg || !cfg->plugin_path || !ret_pid)
		return -EINVAL;
	if (sock_fd < 0 || stderr_fd < 0 || sock_fd == stderr_fd)
		return -EBADF;
	if (fcntl(sock_fd, F_GETFD) < 0 || fcntl(stderr_fd, F_GETFD) < 0)
		return -EBADF;

	/* The plan holds 128 mount entries; keep it off the stack. */
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	r = plan_build(p, cfg, sock_fd, stderr_fd, ret_notify_fd && seccomp_notify_available());
	if (r < 0)
		goto err_plan;
	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(report, O_CLOEXEC) < 0) {
		r = -errno;
		log_err("jail: cannot create pipes: %s", strerror(-r));
		goto err_pipes;
	}
	p->go_fd = go[0];
	p->go_host_fd = go[1];
	p->report_fd = report[1];
	p->report_host_fd = report[0];
	r = plan_socket_number(p);
	if (r < 0)
		goto err_pipes;

	/* No host handler may run in the child before it resets the dispositions. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	/* A raw clone is a fork that starts in the new namespaces, so the plugin is PID 1. */
	pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, 0);
	if (pid == 0)
		child_main(p);
	r = pid < 0 ? -errno : 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		log_err("jail: cannot create the plugin's namespaces: %s%s", strerror(-r),
			r == -EPERM || r == -ENOSPC ? " (user namespaces disabled? "
						      "--disable-sandbox runs the plugin unjailed)"
						    : "");
		goto err_pipes;
	}
	close(go[0]);
	go[0] = -1;
	close(report[1]);
	report[1] = -1;
	/* Linux < 5.3 has no pidfds; the caller then falls back to the pid and SIGCHLD. */
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		pidfd = -1;

	r = jail_write_id_maps(pid, cfg);
	if (r < 0)
		goto err_child;
	jail_pid_cgroup(pid);
	if (write(go[1], "g", 1) != 1) {
		r = -errno;
		log_err("jail: cannot release the plugin: %s", strerror(-r));
		goto err_child;
	}
	p->report_fd = report[0];
	r = jail_wait_exec(p, cfg, pid, pidfd, &notify_fd);
	if (r == -ECHILD) {
		pid = -1; /* already reaped */
		goto err_pipes;
	}
	if (r < 0)
		goto err_child;
	close(go[1]);
	close(report[0]);

	if (ret_notify_fd)
		*ret_notify_fd = notify_fd;
	log_debug("plugin %s started in the jail as pid %d", cfg->plugin_path, (int)pid);
	*ret_pid = pid;
	if (ret_pidfd)
		*ret_pidfd = pidfd;
	else if (pidfd >= 0)
		close(pidfd);
	plan_free(p);
	free(p);
	return 0;

err_child:
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
err_pipes:
	if (notify_fd >= 0)
		close(notify_fd);
	if (pidfd >= 0)
		close(pidfd);
	for (int i = 0; i < 2; i++) {
		if (go[i] >= 0)
			close(go[i]);
		if (report[i] >= 0)
			close(report[i]);
	}
err_plan:
	plan_free(p);
	free(p);
	return r;
}

const char *jail_explain_status(int wstatus)
{
	if (WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGSYS)
		return "killed by the seccomp filter (a system call outside the policy; "
		       "--seccomp-log-failures names it and lets it run)";
	return NULL;
}

int host_drop_privileges(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	/* Unprivileged, the host cannot shrink its bounding set: it has nothing to drop there. */
	int r = caps_clear(false);

	if (r < 0)
		return r;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	/* Zeroed first: valgrind does not take all of what capget writes as defined. */
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) < 0)
		return -errno;
	for (int i = 0; i < 2; i++) {
		if (data[i].effective || data[i].permitted || data[i].inheritable)
			return -EPERM;
	}
	return 0;
}
