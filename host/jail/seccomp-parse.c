// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * The policy compiler's parser (seccomp-parse.h): minijail syntax (described
 * in seccomp-policy.c), constant names, expressions, @include.
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

struct named_const {
	const char *name;
	uint64_t value;
};

#define C(x) { #x, (uint64_t)(x) }
/* The names plugin policies use; minijail's table is larger, unknown names are an error. */
static const struct named_const policy_consts[] = {
	C(PROT_NONE), C(PROT_READ), C(PROT_WRITE), C(PROT_EXEC), C(PROT_GROWSDOWN), C(PROT_GROWSUP),
	C(MAP_SHARED), C(MAP_PRIVATE), C(MAP_FIXED), C(MAP_ANONYMOUS), C(MAP_ANON), C(MAP_NORESERVE),
	C(MAP_POPULATE), C(MAP_STACK), C(MAP_GROWSDOWN), C(MAP_HUGETLB), C(MAP_FIXED_NOREPLACE),
	C(MAP_SHARED_VALIDATE),
	C(MADV_NORMAL), C(MADV_RANDOM), C(MADV_SEQUENTIAL), C(MADV_WILLNEED), C(MADV_DONTNEED),
	C(MADV_FREE), C(MADV_REMOVE), C(MADV_DONTFORK), C(MADV_DOFORK), C(MADV_MERGEABLE),
	C(MADV_UNMERGEABLE), C(MADV_HUGEPAGE), C(MADV_NOHUGEPAGE), C(MADV_DONTDUMP), C(MADV_DODUMP),
	C(CLONE_VM), C(CLONE_FS), C(CLONE_FILES), C(CLONE_SIGHAND), C(CLONE_PTRACE), C(CLONE_VFORK),
	C(CLONE_PARENT), C(CLONE_THREAD), C(CLONE_NEWNS), C(CLONE_SYSVSEM), C(CLONE_SETTLS),
	C(CLONE_PARENT_SETTID), C(CLONE_CHILD_CLEARTID), C(CLONE_DETACHED), C(CLONE_UNTRACED),
	C(CLONE_CHILD_SETTID), C(CLONE_NEWCGROUP), C(CLONE_NEWUTS), C(CLONE_NEWIPC),
	C(CLONE_NEWUSER), C(CLONE_NEWPID), C(CLONE_NEWNET), C(CLONE_IO), C(CLONE_PIDFD),
	C(O_RDONLY), C(O_WRONLY), C(O_RDWR), C(O_ACCMODE), C(O_CREAT), C(O_EXCL), C(O_NOCTTY),
	C(O_TRUNC), C(O_APPEND), C(O_NONBLOCK), C(O_NDELAY), C(O_DSYNC), C(O_SYNC), C(O_DIRECT),
	C(O_LARGEFILE), C(O_DIRECTORY), C(O_NOFOLLOW), C(O_NOATIME), C(O_CLOEXEC), C(O_PATH),
	C(O_TMPFILE),
	C(F_DUPFD), C(F_GETFD), C(F_SETFD), C(F_GETFL), C(F_SETFL), C(F_GETLK), C(F_SETLK),
	C(F_SETLKW), C(F_DUPFD_CLOEXEC), C(F_SETPIPE_SZ), C(F_GETPIPE_SZ), C(F_ADD_SEALS),
	C(F_GET_SEALS), C(F_SEAL_SEAL), C(F_SEAL_SHRINK), C(F_SEAL_GROW), C(F_SEAL_WRITE),
	C(F_SEAL_FUTURE_WRITE), C(FD_CLOEXEC), C(F_OFD_GETLK), C(F_OFD_SETLK), C(F_OFD_SETLKW),
	C(AT_FDCWD), C(AT_SYMLINK_NOFOLLOW), C(AT_REMOVEDIR), C(AT_SYMLINK_FOLLOW), C(AT_EMPTY_PATH),
	C(AT_NO_AUTOMOUNT), C(AT_EACCESS),
	C(FUTEX_WAIT), C(FUTEX_WAKE), C(FUTEX_FD), C(FUTEX_REQUEUE), C(FUTEX_CMP_REQUEUE),
	C(FUTEX_WAKE_OP), C(FUTEX_LOCK_PI), C(FUTEX_UNLOCK_PI), C(FUTEX_TRYLOCK_PI),
	C(FUTEX_WAIT_BITSET), C(FUTEX_WAKE_BITSET), C(FUTEX_WAIT_REQUEUE_PI),
	C(FUTEX_CMP_REQUEUE_PI), C(FUTEX_PRIVATE_FLAG), C(FUTEX_CLOCK_REALTIME),
	C(FUTEX_WAIT_PRIVATE), C(FUTEX_WAKE_PRIVATE), C(FUTEX_REQUEUE_PRIVATE),
	C(FUTEX_CMP_REQUEUE_PRIVATE), C(FUTEX_WAKE_OP_PRIVATE), C(FUTEX_LOCK_PI_PRIVATE),
	C(FUTEX_UNLOCK_PI_PRIVATE), C(FUTEX_TRYLOCK_PI_PRIVATE), C(FUTEX_WAIT_BITSET_PRIVATE),
	C(FUTEX_WAKE_BITSET_PRIVATE),
	C(PR_SET_PDEATHSIG), C(PR_GET_PDEATHSIG), C(PR_GET_DUMPABLE), C(PR_SET_DUMPABLE),
	C(PR_SET_NAME), C(PR_GET_NAME), C(PR_GET_SECCOMP), C(PR_SET_SECCOMP), C(PR_CAPBSET_READ),
	C(PR_CAPBSET_DROP), C(PR_GET_SECUREBITS), C(PR_SET_SECUREBITS), C(PR_SET_TIMERSLACK),
	C(PR_GET_TIMERSLACK), C(PR_SET_NO_NEW_PRIVS), C(PR_GET_NO_NEW_PRIVS), C(PR_GET_TID_ADDRESS),
	C(PR_SET_VMA), C(PR_SET_MM), C(PR_SET_CHILD_SUBREAPER), C(PR_CAP_AMBIENT),
	C(AF_UNSPEC), C(AF_UNIX), C(AF_LOCAL), C(AF_INET), C(AF_INET6), C(AF_NETLINK), C(AF_PACKET),
	C(AF_VSOCK),
	C(SOCK_STREAM), C(SOCK_DGRAM), C(SOCK_RAW), C(SOCK_SEQPACKET), C(SOCK_NONBLOCK),
	C(SOCK_CLOEXEC),
	C(MSG_OOB), C(MSG_PEEK), C(MSG_DONTROUTE), C(MSG_CTRUNC), C(MSG_TRUNC), C(MSG_DONTWAIT),
	C(MSG_EOR), C(MSG_WAITALL), C(MSG_NOSIGNAL), C(MSG_CMSG_CLOEXEC),
	C(SOL_SOCKET), C(SO_PEERCRED), C(SO_SNDBUF), C(SO_RCVBUF), C(SO_TYPE), C(SO_ERROR),
	C(EFD_CLOEXEC), C(EFD_NONBLOCK), C(EFD_SEMAPHORE),
	C(MFD_CLOEXEC), C(MFD_ALLOW_SEALING), C(MFD_HUGETLB),
	C(TCGETS), C(TCSETS), C(TIOCGWINSZ), C(TIOCSWINSZ), C(TIOCSTI), C(TIOCGPGRP), C(FIONREAD),
	C(FIONBIO), C(FIOCLEX), C(FIONCLEX), C(FIOASYNC),
	C(TUNGETFEATURES), C(TUNSETIFF), C(TUNGETIFF), C(TUNSETOFFLOAD), C(TUNSETVNETHDRSZ),
	C(TUNGETVNETHDRSZ), C(TUNSETQUEUE), C(TUNSETSNDBUF),
	C(SIGHUP), C(SIGINT), C(SIGQUIT), C(SIGILL), C(SIGTRAP), C(SIGABRT), C(SIGBUS), C(SIGFPE),
	C(SIGKILL), C(SIGUSR1), C(SIGSEGV), C(SIGUSR2), C(SIGPIPE), C(SIGALRM), C(SIGTERM),
	C(SIGCHLD), C(SIGCONT), C(SIGSTOP), C(SIGTSTP), C(SIGTTIN), C(SIGTTOU), C(SIGURG),
	C(SIGXCPU), C(SIGXFSZ), C(SIGVTALRM), C(SIGPROF), C(SIGWINCH), C(SIGIO), C(SIGPWR),
	C(SIGSYS),
	C(SIG_BLOCK), C(SIG_UNBLOCK), C(SIG_SETMASK),
	C(GRND_NONBLOCK), C(GRND_RANDOM),
	C(RLIMIT_CPU), C(RLIMIT_FSIZE), C(RLIMIT_DATA), C(RLIMIT_STACK), C(RLIMIT_CORE),
	C(RLIMIT_RSS), C(RLIMIT_NPROC), C(RLIMIT_NOFILE), C(RLIMIT_MEMLOCK), C(RLIMIT_AS),
	C(RLIMIT_LOCKS), C(RLIMIT_SIGPENDING), C(RLIMIT_MSGQUEUE), C(RLIMIT_NICE),
	C(RLIMIT_RTPRIO), C(RLIMIT_RTTIME),
	C(CLOCK_REALTIME), C(CLOCK_MONOTONIC), C(CLOCK_PROCESS_CPUTIME_ID),
	C(CLOCK_THREAD_CPUTIME_ID), C(CLOCK_MONOTONIC_RAW), C(CLOCK_REALTIME_COARSE),
	C(CLOCK_MONOTONIC_COARSE), C(CLOCK_BOOTTIME),
	C(SEEK_SET), C(SEEK_CUR), C(SEEK_END), C(SEEK_DATA), C(SEEK_HOLE),
	C(POLLIN), C(POLLPRI), C(POLLOUT), C(POLLERR), C(POLLHUP), C(POLLNVAL),
	C(F_OK), C(R_OK), C(W_OK), C(X_OK),
	{ "ARCH_SET_GS", 0x1001 }, { "ARCH_SET_FS", 0x1002 }, { "ARCH_GET_FS", 0x1003 },
	{ "ARCH_GET_GS", 0x1004 }, { "ARCH_GET_CPUID", 0x1011 }, { "ARCH_SET_CPUID", 0x1012 },
};
#undef C

static int policy_err(struct policy_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int policy_err(struct policy_ctx *c, const char *fmt, ...)
{
	va_list ap;

	int n;

	if (c->err[0])
		return -EINVAL;
	n = snprintf(c->err, sizeof(c->err), "%s:%u: ", c->file, c->at);
	if (n < 0 || (size_t)n >= sizeof(c->err))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(c->err + n, sizeof(c->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

void policy_free(struct policy *p)
{
	for (size_t i = 0; i < p->n_rules; i++)
		free(p->rules[i].clauses);
	free(p->rules);
	p->rules = NULL;
	p->n_rules = 0;
}

/* ---- lexing helpers ---- */

static const char *skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

static bool is_ident(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_' || ch == '-';
}

/* Reads an identifier or number token into buf; returns the position after it. */
static const char *read_word(const char *s, char *buf, size_t size)
{
	size_t n = 0;

	s = skip_ws(s);
	while (is_ident(*s)) {
		if (n + 1 < size)
			buf[n++] = *s;
		else
			n = size; /* too long: caller sees an unterminated, rejected word */
		s++;
	}
	if (n >= size) {
		buf[0] = '\0';
		return s;
	}
	buf[n] = '\0';
	return s;
}

static bool word_is(const char *w, const char *lit)
{
	return strcmp(w, lit) == 0;
}

static int parse_number(const char *w, uint64_t *ret)
{
	char *end;
	bool neg = false;
	unsigned long long v;

	if (*w == '-') {
		neg = true;
		w++;
	}
	if (*w < '0' || *w > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(w, &end, 0);
	if (errno || *end)
		return -EINVAL;
	*ret = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	return 0;
}

static int lookup_const(const char *w, uint64_t *ret)
{
	for (size_t i = 0; i < sizeof(policy_consts) / sizeof(policy_consts[0]); i++) {
		if (strcmp(policy_consts[i].name, w) == 0) {
			*ret = policy_consts[i].value;
			return 0;
		}
	}
	return -ENOENT;
}

static int parse_errno_value(struct policy_ctx *c, const char *w, int *ret)
{
	uint64_t v;

	if (parse_number(w, &v) == 0) {
		if (v > 4095)
			return policy_err(c, "errno %s out of range", w);
		*ret = (int)v;
		return 0;
	}
	for (int e = 1; e < 4096; e++) {
		const char *name = strerrorname_np(e);

		if (name && strcmp(name, w) == 0) {
			*ret = e;
			return 0;
		}
	}
	return policy_err(c, "unknown errno '%s'", w);
}

/*
 * value := term ('|' term)* ; term := '~'? primary ; primary := number | NAME | '(' value ')'
 */
static int parse_value(struct policy_ctx *c, const char **sp, uint64_t *ret, int depth)
{
	const char *s = *sp;
	uint64_t acc = 0;

	if (depth > 8)
		return policy_err(c, "constant expression nested too deeply");
	for (;;) {
		bool invert = false;
		uint64_t v;
		char w[64];
		int r;

		s = skip_ws(s);
		if (*s == '~') {
			invert = true;
			s = skip_ws(s + 1);
		}
		if (*s == '(') {
			s++;
			r = parse_value(c, &s, &v, depth + 1);
			if (r < 0)
				return r;
			s = skip_ws(s);
			if (*s != ')')
				return policy_err(c, "missing ')'");
			s++;
		} else {
			if (*s == '-') { /* negative literal, e.g. AT_FDCWD as -100 */
				w[0] = '-';
				s = read_word(s + 1, w + 1, sizeof(w) - 1);
			} else {
				s = read_word(s, w, sizeof(w));
			}
			if (!w[0] || (w[0] == '-' && !w[1]))
				return policy_err(c, "expected a value");
			if (parse_number(w, &v) < 0 && lookup_const(w, &v) < 0)
				return policy_err(c, "unknown constant '%s'", w);
		}
		acc |= invert ? ~v : v;
		s = skip_ws(s);
		if (*s != '|' || s[1] == '|')
			break;
		s++;
	}
	*sp = s;
	*ret = acc;
	return 0;
}

/* ---- expressions ---- */

enum raw_op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_ANY, OP_IN };

struct raw_atom {
	unsigned arg;
	enum raw_op op;
	uint64_t v;
};

#define RAW_MAX_ATOMS 32

struct raw_group {
	struct raw_atom atoms[RAW_MAX_ATOMS];
	unsigned n;
};

static int parse_atom(struct policy_ctx *c, const char **sp, struct raw_atom *a)
{
	const char *s = skip_ws(*sp);
	char w[32];
	int r;

	s = read_word(s, w, sizeof(w));
	if (strncmp(w, "arg", 3) != 0 || w[3] < '0' || w[3] > '5' || w[4])
		return policy_err(c, "expected argN (N = 0..5), got '%s'", w[0] ? w : s);
	a->arg = (unsigned)(w[3] - '0');
	s = skip_ws(s);
	if (s[0] == '=' && s[1] == '=') {
		a->op = OP_EQ;
		s += 2;
	} else if (s[0] == '!' && s[1] == '=') {
		a->op = OP_NE;
		s += 2;
	} else if (s[0] == '<' && s[1] == '=') {
		a->op = OP_LE;
		s += 2;
	} else if (s[0] == '>' && s[1] == '=') {
		a->op = OP_GE;
		s += 2;
	} else if (s[0] == '<') {
		a->op = OP_LT;
		s += 1;
	} else if (s[0] == '>') {
		a->op = OP_GT;
		s += 1;
	} else if (s[0] == '&' && s[1] != '&') {
		a->op = OP_ANY;
		s += 1;
	} else if (s[0] == 'i' && s[1] == 'n' && !is_ident(s[2])) {
		a->op = OP_IN;
		s += 2;
	} else {
		return policy_err(c, "expected an operator (== != < <= > >= & in) after arg%u", a->arg);
	}
	r = parse_value(c, &s, &a->v, 0);
	if (r < 0)
		return r;
	*sp = s;
	return 0;
}

/* Merges a masked comparison into the clause; returns false if the clause can never hold. */
static int clause_add_masked(struct policy_ctx *c, struct policy_clause *cl, unsigned arg,
			     uint64_t mask, uint64_t val, bool *ret_possible)
{
	val &= mask;
	for (unsigned i = 0; i < cl->n; i++) {
		struct policy_atom *a = &cl->atoms[i];

		if (a->arg != arg)
			continue;
		if (a->op != SCMP_CMP_MASKED_EQ)
			return policy_err(c, "arg%u is compared twice in one && group; only ==, & "
					  "and in can be combined", arg);
		if ((a->b ^ val) & a->a & mask) {
			*ret_possible = false;
			return 0;
		}
		a->a |= mask;
		a->b |= val;
		return 0;
	}
	cl->atoms[cl->n++] = (struct policy_atom){ arg, SCMP_CMP_MASKED_EQ, mask, val };
	return 0;
}

static int clause_add_cmp(struct policy_ctx *c, struct policy_clause *cl, unsigned arg,
			  enum scmp_compare op, uint64_t v)
{
	for (unsigned i = 0; i < cl->n; i++) {
		if (cl->atoms[i].arg == arg)
			return policy_err(c, "arg%u is compared twice in one && group; only ==, & "
					  "and in can be combined", arg);
	}
	cl->atoms[cl->n++] = (struct policy_atom){ arg, op, v, 0 };
	return 0;
}

static int rule_push_clause(struct policy_ctx *c, struct policy_rule *rule,
			    const struct policy_clause *cl)
{
	struct policy_clause *n;

	if (rule->n_clauses >= POLICY_MAX_CLAUSES)
		return policy_err(c, "expression expands to more than %d alternatives",
				  POLICY_MAX_CLAUSES);
	n = realloc(rule->clauses, (rule->n_clauses + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	rule->clauses = n;
	n[rule->n_clauses++] = *cl;
	return 0;
}

/*
 * Expands one AND group into clauses.  "argN & M" means "some bit of M is
 * set", which libseccomp can only test one bit at a time, so it forks the
 * clause once per bit (recursively over the group's atoms).
 */
static int expand_group(struct policy_ctx *c, struct policy_rule *rule, const struct raw_group *g,
			unsigned idx, struct policy_clause cl)
{
	const struct raw_atom *a;
	bool possible = true;
	int r = 0;

	if (idx == g->n) {
		/* Masks of 0 always match; drop them so an all-true clause becomes unconditional. */
		struct policy_clause out = { .n = 0 };

		for (unsigned i = 0; i < cl.n; i++) {
			if (cl.atoms[i].op == SCMP_CMP_MASKED_EQ && cl.atoms[i].a == 0)
				continue;
			out.atoms[out.n] = cl.atoms[i];
			if (out.atoms[out.n].op == SCMP_CMP_MASKED_EQ && out.atoms[out.n].a == ~0ull) {
				out.atoms[out.n].op = SCMP_CMP_EQ;
				out.atoms[out.n].a = out.atoms[out.n].b;
				out.atoms[out.n].b = 0;
			}
			out.n++;
		}
		if (out.n == 0)
			rule->unconditional = true;
		return rule_push_clause(c, rule, &out);
	}
	a = &g->atoms[idx];
	switch (a->op) {
	case OP_EQ:
		r = clause_add_masked(c, &cl, a->arg, ~0ull, a->v, &possible);
		break;
	case OP_IN:
		r = clause_add_masked(c, &cl, a->arg, ~a->v, 0, &possible);
		break;
	case OP_ANY:
		for (unsigned bit = 0; bit < 64; bit++) {
			struct policy_clause fork = cl;
			uint64_t m = 1ull << bit;

			if (!(a->v & m))
				continue;
			possible = true;
			r = clause_add_masked(c, &fork, a->arg, m, m, &possible);
			if (r < 0)
				return r;
			if (possible) {
				r = expand_group(c, rule, g, idx + 1, fork);
				if (r < 0)
					return r;
			}
		}
		return 0; /* a mask of 0 matches nothing: no clause */
	case OP_NE:
		r = clause_add_cmp(c, &cl, a->arg, SCMP_CMP_NE, a->v);
		break;
	case OP_LT:
		r = clause_add_cmp(c, &cl, a->arg, SCMP_CMP_LT, a->v);
		break;
	case OP_LE:
		r = clause_add_cmp(c, &cl, a->arg, SCMP_CMP_LE, a->v);
		break;
	case OP_GT:
		r = clause_add_cmp(c, &cl, a->arg, SCMP_CMP_GT, a->v);
		break;
	case OP_GE:
		r = clause_add_cmp(c, &cl, a->arg, SCMP_CMP_GE, a->v);
		break;
	}
	if (r < 0 || !possible)
		return r;
	return expand_group(c, rule, g, idx + 1, cl);
}

/* Parses "EXPR" up to ';' or the end, appending its clauses to rule. */
static int parse_expression(struct policy_ctx *c, const char **sp, struct policy_rule *rule)
{
	const char *s = *sp;

	for (;;) {
		struct raw_group g = { .n = 0 };
		struct policy_clause empty = { .n = 0 };
		int r;

		for (;;) {
			if (g.n >= RAW_MAX_ATOMS)
				return policy_err(c, "too many comparisons in one && group");
			r = parse_atom(c, &s, &g.atoms[g.n]);
			if (r < 0)
				return r;
			g.n++;
			s = skip_ws(s);
			if (s[0] == '&' && s[1] == '&') {
				s += 2;
				continue;
			}
			break;
		}
		r = expand_group(c, rule, &g, 0, empty);
		if (r < 0)
			return r;
		s = skip_ws(s);
		if (s[0] == '|' && s[1] == '|') {
			s += 2;
			continue;
		}
		break;
	}
	*sp = s;
	return 0;
}

static int parse_action_word(const char *w, uint32_t *ret)
{
	static const struct {
		const char *name;
		uint32_t action;
	} actions[] = {
		{ "1", SCMP_ACT_ALLOW },
		{ "allow", SCMP_ACT_ALLOW },
		{ "kill", SCMP_ACT_KILL_PROCESS },
		{ "kill-process", SCMP_ACT_KILL_PROCESS },
		{ "kill-thread", SCMP_ACT_KILL_THREAD },
		{ "trap", SCMP_ACT_TRAP },
		{ "log", SCMP_ACT_LOG },
		{ "trace", SCMP_ACT_TRACE(0) },
	};

	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (strcmp(actions[i].name, w) == 0) {
			*ret = actions[i].action;
			return 0;
		}
	}
	return -ENOENT;
}

static int resolve_syscall(struct policy_ctx *c, const char *name, int *ret)
{
	uint64_t v;
	int nr;

	if (parse_number(name, &v) == 0) {
		if (v >= POLICY_MAX_NR)
			return policy_err(c, "system call number %s out of range", name);
		*ret = (int)v;
		return 0;
	}
	nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_NATIVE, name);
	if (nr == __NR_SCMP_ERROR || nr < 0 || nr >= POLICY_MAX_NR)
		return policy_err(c, "unknown system call '%s'", name);
	*ret = nr;
	return 0;
}


static int policy_include(struct policy_ctx *c, const char *arg)
{
	char path[PATH_MAX];
	const char *slash;
	struct policy_ctx sub;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	if (c->depth >= POLICY_MAX_INCLUDE_DEPTH)
		return policy_err(c, "@include nested more than %d deep", POLICY_MAX_INCLUDE_DEPTH);
	if (arg[0] == '/') {
		r = snprintf(path, sizeof(path), "%s", arg);
	} else {
		slash = strrchr(c->file, '/');
		r = snprintf(path, sizeof(path), "%.*s%s", slash ? (int)(slash - c->file + 1) : 0,
			     c->file, arg);
	}
	if (r < 0 || (size_t)r >= sizeof(path))
		return policy_err(c, "@include path too long");

	f = fopen(path, "re");
	if (!f)
		return policy_err(c, "cannot open @include %s: %s", path, strerror(errno));
	text = malloc(POLICY_MAX_BYTES + 1);
	if (!text) {
		fclose(f);
		return -ENOMEM;
	}
	len = fread(text, 1, POLICY_MAX_BYTES + 1, f);
	r = ferror(f);
	fclose(f);
	if (r || len > POLICY_MAX_BYTES) {
		free(text);
		return policy_err(c, "cannot read @include %s: %s", path,
				  r ? "read error" : "file too large");
	}
	text[len] = '\0';

	sub = (struct policy_ctx){ .pol = c->pol, .file = path, .depth = c->depth + 1 };
	r = policy_parse_text(&sub, text);
	free(text);
	if (r < 0) {
		/* The innermost location is the useful one. */
		memcpy(c->err, sub.err, sizeof(c->err));
		if (!c->err[0])
			policy_err(c, "in @include %s: %s", path, strerror(-r));
		return r;
	}
	return 0;
}

static int policy_parse_line(struct policy_ctx *c, char *line)
{
	struct policy *p = c->pol;
	struct policy_rule rule = { 0 };
	struct policy_rule *grown;
	const char *s;
	char *colon;
	char w[64];
	int r;

	s = skip_ws(line);
	if (*s == '@') {
		char *arg;

		s = read_word(s + 1, w, sizeof(w));
		arg = (char *)skip_ws(s);
		for (char *e = arg + strlen(arg); e > arg && (e[-1] == ' ' || e[-1] == '\t'); e--)
			e[-1] = '\0';
		if (word_is(w, "include"))
			return *arg ? policy_include(c, arg) : policy_err(c, "@include needs a path");
		if (word_is(w, "frequency"))
			return 0; /* a hint for minijail's optimiser; nothing to enforce */
		return policy_err(c, "unknown directive '@%s'", w);
	}

	colon = strchr(line, ':');
	if (!colon)
		return policy_err(c, "expected 'syscall: action'");
	*colon = '\0';
	s = read_word(line, w, sizeof(w));
	if (!w[0] || *skip_ws(s))
		return policy_err(c, "bad system call name '%s'", skip_ws(line));
	r = resolve_syscall(c, w, &rule.nr);
	if (r < 0)
		return r;
	if (p->seen[rule.nr])
		return policy_err(c, "duplicate entry for system call '%s'", w);

	s = skip_ws(colon + 1);
	if (!*s)
		return policy_err(c, "missing action for '%s'", w);
	rule.action = SCMP_ACT_ALLOW;
	if (strncmp(s, "arg", 3) == 0) {
		r = parse_expression(c, &s, &rule);
		if (r < 0)
			goto err_rule;
		s = skip_ws(s);
		if (*s == ';') {
			s = skip_ws(s + 1);
			s = read_word(s, w, sizeof(w));
			if (!word_is(w, "return")) {
				r = policy_err(c, "expected 'return ERRNO' after ';'");
				goto err_rule;
			}
			s = read_word(s, w, sizeof(w));
			r = parse_errno_value(c, w, &rule.else_errno);
			if (r < 0)
				goto err_rule;
			rule.has_else = true;
			s = skip_ws(s);
		}
	} else {
		s = read_word(s, w, sizeof(w));
		if (word_is(w, "return")) {
			int e;

			s = read_word(s, w, sizeof(w));
			r = parse_errno_value(c, w, &e);
			if (r < 0)
				goto err_rule;
			rule.action = SCMP_ACT_ERRNO((uint32_t)e);
		} else if (word_is(w, "user-notify")) {
			r = policy_err(c, "action 'user-notify' is not supported");
			goto err_rule;
		} else if (parse_action_word(w, &rule.action) < 0) {
			r = policy_err(c, "unknown action '%s'", w);
			goto err_rule;
		}
		rule.unconditional = true;
		s = skip_ws(s);
	}
	if (*s) {
		r = policy_err(c, "unexpected '%s'", s);
		goto err_rule;
	}

	grown = realloc(p->rules, (p->n_rules + 1) * sizeof(*grown));
	if (!grown) {
		r = -ENOMEM;
		goto err_rule;
	}
	p->rules = grown;
	p->rules[p->n_rules++] = rule;
	p->seen[rule.nr] = true;
	return 0;

err_rule:
	free(rule.clauses);
	return r;
}

int policy_parse_text(struct policy_ctx *c, const char *text)
{
	const char *s = text;
	char *line = NULL;
	size_t cap = 0;
	int r = 0;

	c->line = 0;
	while (*s) {
		size_t len = 0;
		unsigned first = c->line + 1;

		/* Join "\"-continued lines, dropping comments, into one logical line. */
		for (;;) {
			const char *eol = strchr(s, '\n');
			size_t n = eol ? (size_t)(eol - s) : strlen(s);
			const char *hash = memchr(s, '#', n);
			size_t keep = hash ? (size_t)(hash - s) : n;
			bool cont;

			c->line++;
			while (keep && (s[keep - 1] == ' ' || s[keep - 1] == '\t' || s[keep - 1] == '\r'))
				keep--;
			cont = !hash && keep && s[keep - 1] == '\\';
			if (cont)
				keep--;
			if (len + keep + 2 > cap) {
				char *g = realloc(line, len + keep + 64);

				if (!g) {
					free(line);
					return -ENOMEM;
				}
				line = g;
				cap = len + keep + 64;
			}
			memcpy(line + len, s, keep);
			len += keep;
			line[len++] = ' ';
			line[len] = '\0';
			s = eol ? eol + 1 : s + n;
			if (!cont || !*s)
				break;
		}
		for (char *t = line + len; t > line && (t[-1] == ' ' || t[-1] == '\t'); t--)
			t[-1] = '\0';
		if (!*skip_ws(line))
			continue;
		c->at = first;
		r = policy_parse_line(c, line);
		if (r < 0) {
			if (!c->err[0])
				policy_err(c, "%s", strerror(-r));
			break;
		}
	}
	free(line);
	return r;
}
