/* SPDX-License-Identifier: BSD-3-Clause */
/* Copyright 2026 The plugvm Authors. */

/*
 * Inside the policy compiler (host/jail/): the parsed form of a policy that
 * seccomp-parse.c makes from minijail syntax and seccomp-policy.c turns into
 * BPF.  seccomp-policy.h is the interface.
 */
#ifndef PLUGVM_HOST_SECCOMP_PARSE_H
#define PLUGVM_HOST_SECCOMP_PARSE_H

#include <limits.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POLICY_MAX_BYTES (1u << 20)
#define POLICY_MAX_INCLUDE_DEPTH 8
#define POLICY_MAX_CLAUSES 256 /* per rule, after expanding "&" masks bit by bit */
#define POLICY_MAX_NR 1024      /* system call numbers we consider (x86-64 uses < 512) */
#define POLICY_ARGS 6

/* A comparison on one argument, already in the form libseccomp takes. */
struct policy_atom {
	unsigned arg;
	enum scmp_compare op;
	uint64_t a; /* datum, or mask for SCMP_CMP_MASKED_EQ */
	uint64_t b; /* datum for SCMP_CMP_MASKED_EQ */
};

struct policy_clause {
	struct policy_atom atoms[POLICY_ARGS];
	unsigned n;
};

struct policy_rule {
	int nr;
	uint32_t action;      /* when a clause holds (or always, if unconditional) */
	bool unconditional;
	bool has_else;
	int else_errno;       /* "; return E" */
	struct policy_clause *clauses;
	size_t n_clauses;
};

struct policy {
	struct policy_rule *rules;
	size_t n_rules;
	bool seen[POLICY_MAX_NR];
};

/* Where an error happened, for the one line we print. */
struct policy_ctx {
	struct policy *pol;
	const char *file;
	unsigned line; /* physical line counter */
	unsigned at;   /* first line of the logical line being parsed */
	int depth;
	char err[PATH_MAX + 256]; /* "FILE:LINE: message" */
};

/*
 * Parses policy text (the syntax in seccomp-policy.c) into *c->pol, following
 * @include relative to c->file.  0, or -errno with the one-line message in
 * c->err ("FILE:LINE: message") when the text is at fault.  policy_free()
 * releases *c->pol in either case.
 */
int policy_parse_text(struct policy_ctx *c, const char *text);
void policy_free(struct policy *p);

#endif /* PLUGVM_HOST_SECCOMP_PARSE_H */
