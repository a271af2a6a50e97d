/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * What the multi-vcpu plugin and its guest agree on; included from C and
 * from the guest's assembly.
 */
#ifndef PLUGVM_EXAMPLES_MULTI_VCPU_H
#define PLUGVM_EXAMPLES_MULTI_VCPU_H

/* Guest RAM is [0, MV_RAM_SIZE); the guest code is copied to MV_LOAD.  The guest uses no stack. */
#define MV_RAM_SIZE 0x10000
#define MV_LOAD 0x1000

/*
 * Every vcpu runs the same code; the plugin tells them apart by which vcpu
 * thread an access arrives on.  All three ports are 32-bit writes.
 */
#define PORT_PROGRESS 0x600 /* the loop counter, every PROGRESS_EVERY iterations */
#define PORT_ACK 0x604 /* "I saw your poke": the value the plugin put in ebp */
#define PORT_DONE 0x608 /* the final counter, after the plugin set edi */
#define MV_PORTS 12

/* A power of two: the guest tests the counter's low bits. */
#define PROGRESS_EVERY (1 << 12)

#endif /* PLUGVM_EXAMPLES_MULTI_VCPU_H */
