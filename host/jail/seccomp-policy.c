// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * Policy compiler.  The syntax is minijail's, so that policies written for
 * crosvm keep working:
 *
 *   # comment
 *   @include other.policy          (relative to the including file)
 *   read: 1                        (or "allow")
 *   ptrace: return EPERM           (also: kill, kill-process, kill-thread, trap, log, trace)
 *   mmap: arg2 in ~PROT_EXEC || arg2 in ~PROT_WRITE
 *   socket: arg0 == AF_UNIX; return EAFNOSUPPORT
 *
 * An expression is an OR of AND groups of "argN OP VALUE" with OP one of
 * == != < <= > >= & in; VALUE is numbers and constant names joined by "|",
 * each optionally negated with "~".  "argN & M" is true if any bit of M is
 * set, "argN in M" if no bit outside M is set.
 *
 * libseccomp cannot give one system call a conditional action and a
 * different "else" action: an unconditional rule replaces the conditional
 * ones.  "EXPR; return E" is therefore split: the main filter allows the
 * call outright, and a second filter, whose default action is ERRNO(E) and
 * which allows every other system call, allows it only when EXPR holds.  The
 * kernel applies the most restrictive verdict of all filters.
 */

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/if_tun.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "seccomp-parse.h"
#include "seccomp-policy.h"

/* ---- building BPF ---- */

static int ctx_export(scmp_filter_ctx ctx, struct sock_fprog *out)
{
	struct stat st;
	void *buf = NULL;
	ssize_t n;
	int fd, r;

	fd = memfd_create("plugvm-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		goto out;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) ||
	    st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS) {
		r = -E2BIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	n = pread(fd, buf, (size_t)st.st_size, 0);
	if (n != st.st_size) {
		r = n < 0 ? -errno : -EIO;
		free(buf);
		goto out;
	}
	out->filter = buf;
	out->len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
	r = 0;
out:
	close(fd);
	return r;
}

static scmp_filter_ctx ctx_new(uint32_t def)
{
	scmp_filter_ctx ctx = seccomp_init(def);

	if (!ctx)
		return NULL;
	/* A foreign-ABI call (i386 int 0x80, x32) must never slip past an x86-64 allow-list. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0 ||
	    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) < 0) {
		seccomp_release(ctx);
		return NULL;
	}
	/* A binary tree keeps the hot read/write/futex path short with long allow-lists. */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	return ctx;
}

static int ctx_add_rule(scmp_filter_ctx ctx, uint32_t action, uint32_t def,
			const struct policy_rule *rule)
{
	int r;

	if (action == def)
		return 0;
	if (rule->unconditional)
		return seccomp_rule_add(ctx, action, rule->nr, 0);
	for (size_t i = 0; i < rule->n_clauses; i++) {
		const struct policy_clause *cl = &rule->clauses[i];
		struct scmp_arg_cmp cmp[POLICY_ARGS];

		for (unsigned k = 0; k < cl->n; k++) {
			cmp[k] = (struct scmp_arg_cmp){ .arg = cl->atoms[k].arg,
							.op = cl->atoms[k].op,
							.datum_a = cl->atoms[k].a,
							.datum_b = cl->atoms[k].b };
		}
		r = seccomp_rule_add_array(ctx, action, rule->nr, cl->n, cmp);
		if (r < 0)
			return r;
	}
	return 0;
}

const char *const seccomp_added_calls[] = {
	"execve",
	/* The vcpu channels' bounded spin yields between rounds (common/shm-chan.c). */
	"sched_yield",
	NULL,
};

static uint32_t fail_action(enum seccomp_fail fail)
{
	switch (fail) {
	case SECCOMP_FAIL_LOG:
		return SCMP_ACT_LOG;
	case SECCOMP_FAIL_NOTIFY:
		return SCMP_ACT_NOTIFY;
	case SECCOMP_FAIL_KILL:
	default:
		return SCMP_ACT_KILL_PROCESS;
	}
}

static int policy_build(const struct policy *p, enum seccomp_fail fail, struct seccomp_policy *out,
			const char *name)
{
	uint32_t def = fail_action(fail);
	int errnos[SECCOMP_POLICY_MAX_PROGS - 1];
	size_t n_errnos = 0;
	scmp_filter_ctx ctx = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	ctx = ctx_new(def);
	if (!ctx)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct policy_rule *rule = &p->rules[i];

		if (rule->has_else && !rule->unconditional) {
			bool known = false;

			/* The helper filter decides; here the call just has to pass. */
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, rule->nr, 0);
			if (r < 0)
				goto err_rule;
			for (size_t k = 0; k < n_errnos; k++)
				known |= errnos[k] == rule->else_errno;
			if (!known) {
				if (n_errnos == SECCOMP_POLICY_MAX_PROGS - 1) {
					log_err("seccomp policy %s: more than %d different "
						"'; return' values", name, SECCOMP_POLICY_MAX_PROGS - 1);
					r = -E2BIG;
					goto err;
				}
				errnos[n_errnos++] = rule->else_errno;
			}
			continue;
		}
		if (rule->n_clauses == 0 && !rule->unconditional)
			continue; /* the expression can never hold: the default applies */
		r = ctx_add_rule(ctx, rule->action, def, rule);
		if (r < 0)
			goto err_rule;
	}
	/*
	 * The filter is installed before execve() (a preload library would not
	 * work for static plugins), so the exec itself must pass; and the
	 * library's own needs (seccomp_added_calls).
	 */
	for (size_t k = 0; seccomp_added_calls[k]; k++) {
		int nr = seccomp_syscall_resolve_name(seccomp_added_calls[k]);

		if (nr < 0 || nr >= POLICY_MAX_NR || p->seen[nr])
			continue;
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (r < 0)
			goto err_libseccomp;
	}
	r = ctx_export(ctx, &out->progs[out->n_progs]);
	if (r < 0)
		goto err_libseccomp;
	out->n_progs++;
	out->notify = fail == SECCOMP_FAIL_NOTIFY;
	seccomp_release(ctx);
	ctx = NULL;

	for (size_t k = 0; k < n_errnos; k++) {
		bool handled[POLICY_MAX_NR] = { false };

		ctx = ctx_new(SCMP_ACT_ERRNO((uint32_t)errnos[k]));
		if (!ctx) {
			r = -ENOMEM;
			goto err;
		}
		for (size_t i = 0; i < p->n_rules; i++) {
			const struct policy_rule *rule = &p->rules[i];

			if (!rule->has_else || rule->unconditional || rule->else_errno != errnos[k])
				continue;
			handled[rule->nr] = true;
			r = ctx_add_rule(ctx, SCMP_ACT_ALLOW, SCMP_ACT_ERRNO((uint32_t)errnos[k]),
					 rule);
			if (r < 0)
				goto err_rule;
		}
		for (int nr = 0; nr < POLICY_MAX_NR; nr++) {
			if (handled[nr])
				continue;
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
			/* Numbers libseccomp refuses fall to ERRNO here and to the main filter's
			 * default there, which is stricter anyway. */
			(void)r;
		}
		r = ctx_export(ctx, &out->progs[out->n_progs]);
		if (r < 0)
			goto err_libseccomp;
		out->n_progs++;
		seccomp_release(ctx);
		ctx = NULL;
	}
	return 0;

err_rule:
	log_err("seccomp policy %s: libseccomp rejected a rule: %s", name, strerror(-r));
	goto err;
err_libseccomp:
	log_err("seccomp policy %s: cannot build the filter: %s", name, strerror(-r));
err:
	if (ctx)
		seccomp_release(ctx);
	seccomp_policy_free(out);
	return r;
}

int seccomp_policy_compile_text(const char *text, const char *name, enum seccomp_fail fail,
				struct seccomp_policy *ret)
{
	struct policy pol;
	struct policy_ctx c;
	int r;

	memset(&pol, 0, sizeof(pol));
	memset(ret, 0, sizeof(*ret));
	c = (struct policy_ctx){ .pol = &pol, .file = name, .depth = 0 };
	r = policy_parse_text(&c, text);
	if (r < 0) {
		if (c.err[0])
			log_err("bad seccomp policy %s", c.err);
		else
			log_err("bad seccomp policy %s: %s", name, strerror(-r));
		policy_free(&pol);
		return r;
	}
	r = policy_build(&pol, fail, ret, name);
	policy_free(&pol);
	return r;
}

static int read_file(const char *path, char **ret, size_t *ret_len, size_t max)
{
	char *buf;
	size_t len;
	FILE *f;
	int r;

	f = fopen(path, "re");
	if (!f)
		return -errno;
	buf = malloc(max + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	len = fread(buf, 1, max + 1, f);
	r = ferror(f) ? -EIO : 0;
	fclose(f);
	if (!r && len > max)
		r = -EFBIG;
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
}

static int compile_bpf_file(const char *path, struct seccomp_policy *ret)
{
	char *buf;
	size_t len;
	int r;

	r = read_file(path, &buf, &len, BPF_MAXINSNS * sizeof(struct sock_filter));
	if (r < 0) {
		log_err("cannot read seccomp filter %s: %s", path,
			r == -EFBIG ? "more than 4096 instructions" : strerror(-r));
		return r;
	}
	if (len == 0 || len % sizeof(struct sock_filter)) {
		free(buf);
		log_err("bad seccomp filter %s: size %zu is not a whole number of BPF instructions",
			path, len);
		return -EINVAL;
	}
	memset(ret, 0, sizeof(*ret));
	ret->progs[0].filter = (struct sock_filter *)(void *)buf;
	ret->progs[0].len = (unsigned short)(len / sizeof(struct sock_filter));
	ret->n_progs = 1;
	return 0;
}

int seccomp_policy_compile(const char *dir, enum seccomp_fail fail, struct seccomp_policy *ret)
{
	char path[PATH_MAX];
	char *text;
	size_t len;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!dir)
		return seccomp_policy_compile_text(seccomp_default_policy, "<built-in plugin.policy>",
						   fail, ret);
	if (fail != SECCOMP_FAIL_LOG) {
		r = snprintf(path, sizeof(path), "%s/plugin.bpf", dir);
		if (r < 0 || (size_t)r >= sizeof(path)) {
			log_err("--seccomp-policy-dir: path too long");
			return -ENAMETOOLONG;
		}
		if (access(path, F_OK) == 0)
			return compile_bpf_file(path, ret);
	}
	r = snprintf(path, sizeof(path), "%s/plugin.policy", dir);
	if (r < 0 || (size_t)r >= sizeof(path)) {
		log_err("--seccomp-policy-dir: path too long");
		return -ENAMETOOLONG;
	}
	r = read_file(path, &text, &len, POLICY_MAX_BYTES);
	if (r < 0) {
		log_err("cannot read seccomp policy %s: %s", path,
			r == -EFBIG ? "file too large" : strerror(-r));
		return r;
	}
	if (strlen(text) != len) {
		free(text);
		log_err("bad seccomp policy %s: NUL byte in file", path);
		return -EINVAL;
	}
	r = seccomp_policy_compile_text(text, path, fail, ret);
	free(text);
	return r;
}

int seccomp_policy_install(const struct seccomp_policy *p)
{
	/*
	 * Each installation is itself filtered by the ones before it: the helper
	 * filters allow seccomp(), the main allow-list may not, so it goes last.
	 */
	for (size_t i = p->n_progs; i-- > 0;) {
		unsigned flags = i == 0 && p->notify ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0;
		long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &p->progs[i]);

		if (r < 0)
			return -errno;
		if (flags)
			return (int)r;
	}
	return 0;
}

void seccomp_policy_free(struct seccomp_policy *p)
{
	for (size_t i = 0; i < p->n_progs; i++)
		free(p->progs[i].filter);
	memset(p, 0, sizeof(*p));
}
