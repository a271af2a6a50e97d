/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * The contract between the tiny real-mode test guests (guests.S) and the
 * test plugins: where guests are loaded and which ports form the "ucall"
 * convention.  Included from both C and assembly.
 */
#ifndef PLUGVM_TESTS_GUEST_H
#define PLUGVM_TESTS_GUEST_H

/* Guests run in real mode with all segment bases 0 and are copied here. */
#define GUEST_LOAD 0x1000
/* Default guest RAM: [0, GUEST_MEM_SIZE), the stack grows down from GUEST_STACK. */
#define GUEST_MEM_SIZE 0x10000
#define GUEST_STACK 0xf000
/* A page of guest RAM the guests use for scratch data. */
#define GUEST_DATA 0x8000

/*
 * ucall ports, reserved by every test: a guest ends with an `out` to
 * PORT_DONE, and reports a failed check with its code in %ax on PORT_FAIL.
 * These ports are not emulated by KVM, so only the plugin sees them.
 */
#define PORT_DONE 0xe0
#define PORT_FAIL 0xe1
/* Guest -> plugin values the test interprets (out of %al/%ax/%eax). */
#define PORT_REPORT 0xe2
/* Guest -> plugin "I am at step N" (in %al); the plugin acts, then resumes. */
#define PORT_STEP 0xe3

/* The usual 16550 data port: bytes written here are "printed". */
#define PORT_SERIAL 0x3f8

#endif /* PLUGVM_TESTS_GUEST_H */
