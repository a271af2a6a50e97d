/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * crosvm.h - the plugin API served by plugvm (crosvm plugin API 0.22, and
 * plugvm's 0.23 extensions).
 *
 * Copyright 2026 The plugvm Authors.
 *
 * One file of about 900 lines on purpose: it is the whole API contract a
 * plugin includes (crosvm's one header, plus the 0.23 extensions at its end).
 *
 * A plugin is an ordinary program started by the plugvm host ("plugvm run
 * --plugin PATH").  It owns everything about the guest except the KVM file
 * descriptors: guest memory, device emulation, firmware and boot state.  It
 * drives the VM through the functions below, which talk to the host over the
 * socket named by the CROSVM_SOCKET environment variable and over one
 * channel per vcpu.
 *
 * The usual life of a plugin:
 *   1. crosvm_connect() to get a `struct crosvm`;
 *   2. set the VM up: memory (crosvm_create_memory), trapped address ranges
 *      (crosvm_reserve_range), io events, irq events, irq routing, hints;
 *   3. crosvm_get_vcpu() for each vcpu, then crosvm_start();
 *   4. per vcpu, usually on its own thread: loop on crosvm_vcpu_wait(),
 *      handle the event, crosvm_vcpu_resume().  The first event of every vcpu
 *      is CROSVM_VCPU_EVENT_KIND_INIT, where the initial registers are set;
 *   5. when the eventfd from crosvm_get_shutdown_eventfd() fires, tear down
 *      and exit.  The host's exit status follows the plugin's.
 *
 * Return convention: a function returning `int` gives 0 on success (or a
 * non-negative file descriptor where one is documented) and a negative errno
 * value on failure.  Functions taking `T **` either store a new object there
 * or, for destroy functions, free the object and store NULL.
 *
 * Threads: a `struct crosvm` must be used by one thread at a time; make one
 * connection per thread with crosvm_new_connection().  A `struct
 * crosvm_vcpu` must likewise be used by one thread at a time, but different
 * vcpus may be driven from different threads at once.  The library starts no
 * threads, installs no signal handlers, never prints and never exits.
 *
 * vcpu state (registers, MSRs, LAPIC, ...) may only be read or written while
 * the vcpu is stopped: after crosvm_vcpu_wait() returned an event that is not
 * a `no_resume` notification, and before the matching crosvm_vcpu_resume().
 */
#ifndef __CROSVM_H__
#define __CROSVM_H__

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>

#include <linux/kvm.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Semantic version of this API (not of the host).  While MAJOR is 0, MINOR
 * may change incompatibly; compatible additions bump MINOR and fixes PATCH.
 */
#define CROSVM_API_MAJOR 0
#define CROSVM_API_MINOR 23
#define CROSVM_API_PATCH 0

/* The two address spaces a guest access can target. */
enum crosvm_address_space {
	/* x86 port I/O (in/out instructions). */
	CROSVM_ADDRESS_SPACE_IOPORT = 0,
	/* Guest physical memory (MMIO). */
	CROSVM_ADDRESS_SPACE_MMIO,
};

/* A connection to the host. */
struct crosvm;
/* An io event: an eventfd signalled by guest writes to one address. */
struct crosvm_io;
/* A range of plugin memory mapped into guest physical address space. */
struct crosvm_memory;
/* An irq event: an eventfd pair that raises a guest interrupt. */
struct crosvm_irq;
/* One virtual cpu of the VM. */
struct crosvm_vcpu;

/*
 * Opens the first connection to the host, using the socket whose number is
 * in the CROSVM_SOCKET environment variable, and fetches the vcpu channels.
 * Call it once, before anything else.  On success *out holds the connection;
 * it owns the socket and is released by crosvm_destroy_connection().
 *
 * Errors: -ENOTCONN if CROSVM_SOCKET is unset; -EINVAL if it is not a
 * non-negative decimal number; -EPROTO if the host sent no (or an odd number
 * of) vcpu descriptors; any transport error.
 */
int crosvm_connect(struct crosvm**);

/*
 * Asks the host for an additional, independent connection, typically so a
 * second thread can issue requests while the first is busy.  The new
 * connection sees the same VM, the same objects and the same vcpu handles as
 * `crosvm`.  Requests from different connections are served in an
 * unspecified order, but each call has completed when it returns.  Meant for
 * use before crosvm_start() (plugvm also allows it afterwards).
 *
 * Errors: -EPROTO if no socket came back; the host's errno; transport errors.
 */
int crosvm_new_connection(struct crosvm*, struct crosvm**);

/*
 * Closes a connection (the host forgets it) and frees it.  Objects created
 * through it stay alive.  vcpu handles stay valid while any connection
 * derived from the same crosvm_connect() remains.  Always returns 0 and sets
 * *crosvm to NULL.
 */
int crosvm_destroy_connection(struct crosvm**);

/*
 * Returns a new descriptor of the host's shutdown eventfd.  It becomes
 * readable when the VM is stopping (a vcpu halted, another plugin thread
 * failed, or the host was told to quit); the plugin should then release its
 * objects and exit.  The caller owns the returned descriptor and must close
 * it.  Every call returns a descriptor of the same eventfd, so its counter is
 * shared: reading it through one descriptor resets it for all.
 */
int crosvm_get_shutdown_eventfd(struct crosvm*);

/*
 * Asks KVM whether the VM supports capability `__extension` (a KVM_CAP_*
 * number).  *has_extension is set to true only when KVM reports exactly 1;
 * capabilities that report a count read as false.
 */
int crosvm_check_extension(struct crosvm*, uint32_t __extension, bool *has_extension);

/*
 * VM-wide capabilities.  No capability can be enabled this way: the call
 * always fails with -EINVAL and sends nothing.
 */
int crosvm_enable_capability(struct crosvm*, uint32_t __capability, uint32_t __flags,
			     uint64_t __args[4]);

/*
 * Fills `__cpuid_entries` with the CPUID leaves that the hardware and KVM
 * support (KVM_GET_SUPPORTED_CPUID).  *__out_count is always written: the
 * number of leaves KVM reported, or 0 on a transport or host error.  If that
 * number exceeds `__entry_count`, nothing is copied and -E2BIG is returned;
 * call again with a larger array.  Only the "significant index" flag is
 * carried; other flags read as 0.
 */
int crosvm_get_supported_cpuid(struct crosvm*, uint32_t __entry_count,
			       struct kvm_cpuid_entry2 *__cpuid_entries, uint32_t *__out_count);

/* As crosvm_get_supported_cpuid(), for the leaves KVM emulates in software. */
int crosvm_get_emulated_cpuid(struct crosvm*, uint32_t __entry_count,
			      struct kvm_cpuid_entry2 *__cpuid_entries, uint32_t *__out_count);

/*
 * As crosvm_get_supported_cpuid(), for the Hyper-V leaves KVM can offer on
 * this vcpu (KVM_GET_SUPPORTED_HV_CPUID).  A vcpu request: valid only while
 * the vcpu is stopped.  Kernels without the ioctl give -EINVAL.
 */
int crosvm_get_hyperv_cpuid(struct crosvm_vcpu*, uint32_t __entry_count,
			    struct kvm_cpuid_entry2 *__cpuid_entries, uint32_t *__out_count);

/*
 * Fills `__msr_indices` with the MSR numbers KVM can save and restore
 * (KVM_GET_MSR_INDEX_LIST).  Same count and -E2BIG rules as
 * crosvm_get_supported_cpuid().
 */
int crosvm_get_msr_index_list(struct crosvm*, uint32_t __entry_count, uint32_t *__msr_indices,
			      uint32_t *__out_count);

/* Network settings of the tap device the host was started with. */
struct crosvm_net_config {
	/* A descriptor of the tap device, owned by the caller (close it). */
	int tap_fd;
	/* Host-side IPv4 address of the tap, in network byte order. */
	uint32_t host_ip;
	/* Netmask of the tap's subnet, in network byte order. */
	uint32_t netmask;
	/* Host-side MAC address of the tap. */
	uint8_t host_mac_address[6];
	uint8_t _padding[2];
};

#ifdef static_assert
static_assert(sizeof(struct crosvm_net_config) == 20, "extra padding in struct crosvm_net_config");
#endif

/*
 * Reads the configuration of the first tap device given to the host and a
 * descriptor of it.  Errors: -ENODATA when the host has no tap; -EPROTO on a
 * malformed reply; the errno of the host's interface queries (for example
 * -EADDRNOTAVAIL for a tap without an address).  The struct is written only
 * on success.
 */
int crosvm_net_get_config(struct crosvm*, struct crosvm_net_config*);

/*
 * Traps guest accesses to [__start, __start + __length) in address space
 * `__space` (enum crosvm_address_space).  An access whose first byte falls
 * in the range stops the vcpu and is reported by crosvm_vcpu_wait() as an
 * IO_ACCESS event; the guest continues after crosvm_vcpu_resume().  Accesses
 * outside every reserved range complete silently (writes are dropped, reads
 * give zeros).  Ranges may be changed at any time, also after start.
 *
 * A `__length` of 0 removes the range that starts exactly at `__start`.
 *
 * Errors: -EINVAL for a bad space or a range that wraps past 2^64; -EPERM if
 * the range overlaps an existing one; -ENOENT when removing a range that
 * does not exist.
 */
int crosvm_reserve_range(struct crosvm*, uint32_t __space, uint64_t __start, uint64_t __length);

/*
 * Like crosvm_reserve_range(), but only guest writes are trapped and they do
 * not stop the guest: each write is delivered by crosvm_vcpu_wait() as an
 * IO_ACCESS event with `no_resume` set, and the plugin must not call
 * crosvm_vcpu_resume() (or any vcpu state function) for it; the next call on
 * that vcpu is crosvm_vcpu_wait().  Reads of the range behave as unreserved.
 * The range must not overlap any reservation of either kind.  A `__length`
 * of 0 removes the range starting at `__start`.
 */
int crosvm_reserve_async_write_range(struct crosvm*, uint32_t __space, uint64_t __start,
				     uint64_t __length);

/* Drives interrupt line `__irq_id` of the in-kernel irqchip high or low (KVM_IRQ_LINE). */
int crosvm_set_irq(struct crosvm*, uint32_t __irq_id, bool __active);

/* Which member of `struct crosvm_irq_route` is in use. */
enum crosvm_irq_route_kind {
	/* The GSI is routed to a pin of an interrupt controller. */
	CROSVM_IRQ_ROUTE_IRQCHIP = 0,
	/* The GSI is delivered as a message-signalled interrupt. */
	CROSVM_IRQ_ROUTE_MSI,
};

/* One entry of the GSI routing table. */
struct crosvm_irq_route {
	/* The GSI this entry describes. */
	uint32_t irq_id;
	/* An `enum crosvm_irq_route_kind` selecting the union member. */
	uint32_t kind;
	union {
		struct {
			/*
			 * KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE or
			 * KVM_IRQCHIP_IOAPIC.
			 */
			uint32_t irqchip;
			/* The input pin on that controller. */
			uint32_t pin;
		} irqchip;
		struct {
			/* MSI address the interrupt is written to. */
			uint64_t address;
			/* MSI data value written. */
			uint32_t data;
			uint8_t _reserved[4];
		} msi;
		uint8_t _reserved[16];
	};
};

#ifdef static_assert
static_assert(sizeof(struct crosvm_irq_route) == 24, "extra padding in struct crosvm_irq_route");
#endif

/*
 * Replaces the VM's whole GSI routing table with `__routes`.  Passing 0 (and
 * NULL) empties the table, removing KVM's default routes as well.  Errors:
 * -EINVAL for an unknown route kind (checked before anything is sent);
 * -E2BIG if the table does not fit in one request; KVM's errno.
 */
int crosvm_set_irq_routing(struct crosvm*, uint32_t __route_count,
			   const struct crosvm_irq_route* __routes);

/*
 * A refinement of a hypercall hint: when the vcpu's registers match the
 * selected values, also deliver the special and/or debug registers.
 */
struct crosvm_hint_detail {
	/* Which of rax..rdx must equal the values below for a match. */
	bool match_rax;
	bool match_rbx;
	bool match_rcx;
	bool match_rdx;
	uint8_t _reserved[4];
	uint64_t rax;
	uint64_t rbx;
	uint64_t rcx;
	uint64_t rdx;
	/* On a match, deliver the special registers with the event. */
	bool send_sregs;
	/* On a match, deliver the debug registers with the event. */
	bool send_debugregs;
	uint8_t _reserved2[6];
};

#ifdef static_assert
static_assert(sizeof(struct crosvm_hint_detail) == 48,
	      "extra padding in struct crosvm_hint_detail");
#endif

/* At most this many hints may be passed to crosvm_set_hypercall_hint(). */
#define CROSVM_MAX_HINT_COUNT 1
/* At most this many details may be attached to one hint. */
#define CROSVM_MAX_HINT_DETAIL_COUNT 32
/* `address_flags` value selecting writes (out); 0 selects reads (in). */
#define CROSVM_HINT_ON_WRITE 0x1

/* Describes one I/O address that the plugin uses as a hypercall port. */
struct crosvm_hint {
	/* Layout version; must be 0. */
	uint32_t hint_version;
	/* Must be 0. */
	uint32_t _reserved;
	/* An `enum crosvm_address_space`. */
	uint32_t address_space;
	/* 0 for reads, CROSVM_HINT_ON_WRITE for writes. */
	uint16_t address_flags;
	/* Number of entries in `details`, at most CROSVM_MAX_HINT_DETAIL_COUNT. */
	uint16_t details_count;
	/* The hypercall address; must not be 0. */
	uint64_t address;
	union {
		/* Array of `details_count` refinements, tried in order. */
		struct crosvm_hint_detail *details;
		/* Keeps the union 64 bits wide on every target. */
		uint64_t _reserved2;
	};
};

#ifdef static_assert
static_assert(sizeof(struct crosvm_hint) == 32, "extra padding in struct crosvm_hint");
#endif

/*
 * Tells the host that accesses to a given reserved (non-async) address will
 * be followed by crosvm_vcpu_get_regs() and perhaps get_sregs/get_debugregs.
 * The host then sends those registers along with the IO_ACCESS event, and the
 * plugin's get calls are answered from that copy without another round trip.
 * The first matching detail decides whether sregs and debugregs come too;
 * regs always come.
 *
 * `__hints_count` is 0 (remove the hint) or 1; each call replaces the
 * previous hint.  Errors: -EINVAL for more than CROSVM_MAX_HINT_COUNT hints,
 * a nonzero version or reserved field, a zero address, unknown flags or
 * space, or too many details.
 */
int crosvm_set_hypercall_hint(struct crosvm *, uint32_t __hints_count,
			      const struct crosvm_hint* __hints);

/* Reads the primary (`__primary` true) or secondary 8259 PIC's state. */
int crosvm_get_pic_state(struct crosvm *, bool __primary, struct kvm_pic_state *__pic_state);

/* Writes the primary (`__primary` true) or secondary 8259 PIC's state. */
int crosvm_set_pic_state(struct crosvm *, bool __primary,
			 const struct kvm_pic_state *__pic_state);

/* Reads the in-kernel IOAPIC's state. */
int crosvm_get_ioapic_state(struct crosvm *, struct kvm_ioapic_state *__ioapic_state);

/* Writes the in-kernel IOAPIC's state. */
int crosvm_set_ioapic_state(struct crosvm *, const struct kvm_ioapic_state *__ioapic_state);

/* Reads the in-kernel 8254 PIT's state (KVM_GET_PIT2). */
int crosvm_get_pit_state(struct crosvm *, struct kvm_pit_state2 *__pit_state);

/* Writes the in-kernel 8254 PIT's state (KVM_SET_PIT2). */
int crosvm_set_pit_state(struct crosvm *, const struct kvm_pit_state2 *__pit_state);

/* Reads the VM's kvmclock as the guest sees it (KVM_GET_CLOCK). */
int crosvm_get_clock(struct crosvm *, struct kvm_clock_data *__clock_data);

/* Sets the VM's kvmclock (KVM_SET_CLOCK); KVM rejects nonzero flags with -EINVAL. */
int crosvm_set_clock(struct crosvm *, const struct kvm_clock_data *__clock_data);

/*
 * Places the one-page identity map needed by real-mode guests on Intel
 * (KVM_SET_IDENTITY_MAP_ADDR).  Works only before crosvm_start(), while no
 * vcpu exists yet; afterwards KVM answers -EINVAL.
 */
int crosvm_set_identity_map_addr(struct crosvm*, uint32_t __addr);

/*
 * Interrupts each started vcpu whose bit is set in `__cpu_mask` (bit i for
 * vcpu i) and makes its next crosvm_vcpu_wait() return a
 * CROSVM_VCPU_EVENT_KIND_PAUSED event carrying `__user`.  A vcpu already
 * stopped in an event gets the pause after it is resumed.  Before
 * crosvm_start() the call does nothing and succeeds.
 */
int crosvm_pause_vcpus(struct crosvm*, uint64_t __cpu_mask, void* __user);

/*
 * Ends setup: the host creates the vcpus and starts their threads, and each
 * vcpu's first crosvm_vcpu_wait() returns the INIT event.  May be called once
 * per VM, on any connection; a second call gives -EINVAL.
 */
int crosvm_start(struct crosvm*);

/*
 * Creates an io event: an eventfd that KVM signals, without stopping the
 * guest, whenever the guest writes to `__addr` in `__space`.  `__len` is 0
 * (any write at that address) or 1, 2, 4 or 8: then only writes of that size
 * whose value equals the `__len` bytes at `__datamatch` (which must not be
 * NULL) signal the eventfd.  On success *out holds the new object; get its
 * descriptor with crosvm_io_event_fd().
 *
 * Errors: -EINVAL for a bad space or length; KVM's errno (for example
 * -EEXIST for a duplicate registration).
 */
int crosvm_create_io_event(struct crosvm*, uint32_t __space, uint64_t __addr, uint32_t __len,
			   const uint8_t* __datamatch, struct crosvm_io**);

/*
 * Unregisters an io event, closes its eventfd, frees the object and sets
 * *io to NULL.  On failure the object is left untouched.
 */
int crosvm_destroy_io_event(struct crosvm*, struct crosvm_io**);

/*
 * Returns the io event's eventfd.  The object keeps ownership: do not close
 * it; it stays valid until crosvm_destroy_io_event().
 */
int crosvm_io_event_fd(struct crosvm_io*);

/*
 * Maps `__length` bytes of the memfd `__fd`, starting at byte `__offset`,
 * into guest physical memory at `__start`.  The memfd must carry the
 * F_SEAL_SHRINK seal and be at least `__offset + __length` bytes long;
 * offset and length must be multiples of 4096 and non-zero length is
 * required by KVM.  The caller keeps ownership of `__fd` and may close it
 * afterwards.  The plugin and the guest then share the memory.
 *
 * With `__read_only`, guest writes to the region exit as MMIO writes (seen by
 * the plugin only if reserved).  With `__dirty_log`, the host tracks written
 * pages for crosvm_memory_get_dirty_log().
 *
 * Errors: -EINVAL for misaligned offset/length or a region past the end of
 * the memfd; -EBADF, -EPERM (no shrink seal), -EOVERFLOW; KVM's errno (for
 * example -EEXIST when overlapping other guest memory).
 */
int crosvm_create_memory(struct crosvm*, int __fd, uint64_t __offset, uint64_t __length,
			 uint64_t __start, bool __read_only, bool __dirty_log,
			 struct crosvm_memory**);

/*
 * Removes a memory region from the guest, frees the object and sets *memory
 * to NULL.  On failure the object is left untouched.
 */
int crosvm_destroy_memory(struct crosvm*, struct crosvm_memory**);

/*
 * Copies into `__log` a bitmap of the region's pages written by the guest
 * since the previous call (bit i of byte j is page 8*j+i), and clears it.
 * `__log` needs ceil(pages / 8) bytes.  The region must have been created
 * with dirty logging (-ENOENT otherwise).
 */
int crosvm_memory_get_dirty_log(struct crosvm*, struct crosvm_memory*, uint8_t* __log);

/*
 * Creates an irq event for GSI `__irq_id`: writing to its trigger eventfd
 * raises the interrupt (level-triggered with resampling: when the guest
 * acknowledges the interrupt, the resample eventfd is signalled so the
 * plugin can raise it again if still pending).
 */
int crosvm_create_irq_event(struct crosvm*, uint32_t __irq_id, struct crosvm_irq**);

/*
 * Unregisters an irq event, closes its eventfds, frees the object and sets
 * *irq to NULL.  On failure the object is left untouched.
 */
int crosvm_destroy_irq_event(struct crosvm*, struct crosvm_irq**);

/* Returns the trigger eventfd of an irq event (owned by the object). */
int crosvm_irq_event_get_fd(const struct crosvm_irq*);

/* Returns the resample eventfd of an irq event (owned by the object). */
int crosvm_irq_event_get_resample_fd(const struct crosvm_irq*);

/* What a crosvm_vcpu_wait() reported. */
enum crosvm_vcpu_event_kind {
	/*
	 * The vcpu exists and has never run.  Always the first event; set the
	 * initial register state here.
	 */
	CROSVM_VCPU_EVENT_KIND_INIT = 0,
	/* The guest accessed a range reserved with crosvm_reserve_range(). */
	CROSVM_VCPU_EVENT_KIND_IO_ACCESS,
	/* The vcpu was stopped by crosvm_pause_vcpus(). */
	CROSVM_VCPU_EVENT_KIND_PAUSED,
	/* The guest made a Hyper-V hypercall. */
	CROSVM_VCPU_EVENT_KIND_HYPERV_HCALL,
	/* The guest changed a Hyper-V SynIC register. */
	CROSVM_VCPU_EVENT_KIND_HYPERV_SYNIC,
	/*
	 * API 0.23, only after crosvm_enable_reset_events(): the guest reset
	 * the machine (the `reset` member says how).  The vcpu is stopped.
	 */
	CROSVM_VCPU_EVENT_KIND_RESET,
};

/* crosvm_vcpu_event.reset.reason */
#define CROSVM_RESET_TRIPLE_FAULT 1 /* a triple fault (KVM_EXIT_SHUTDOWN) */

/* One event returned by crosvm_vcpu_wait(). */
struct crosvm_vcpu_event {
	/* An `enum crosvm_vcpu_event_kind`, selecting the union member. */
	uint32_t kind;
	uint8_t _padding[4];
	union {
		/* CROSVM_VCPU_EVENT_KIND_IO_ACCESS */
		struct {
			/* An `enum crosvm_address_space`. */
			uint32_t address_space;
			uint8_t _padding[4];
			/* The first address (port number or physical address) accessed. */
			uint64_t address;
			/*
			 * `length` bytes of library memory.  For a write: the data
			 * written.  For a read: zeros, to be overwritten with the
			 * value the guest should read before crosvm_vcpu_resume().
			 * Valid until the next wait or resume on this vcpu.
			 */
			uint8_t *data;
			/*
			 * Size of the access in bytes.  MMIO accesses wider than 8
			 * bytes arrive as a series of 8-byte events.  String port
			 * input ("rep ins") may be larger than 8 bytes.
			 */
			uint32_t length;
			/* Nonzero for a write, zero for a read. */
			uint8_t is_write;
			/*
			 * Nonzero for a write to an async range: the guest did not
			 * stop, so do not resume; just wait again.
			 */
			uint8_t no_resume;
			uint8_t _reserved[2];
			/*
			 * API 0.23, only after crosvm_enable_io_details() (0
			 * otherwise, and for MMIO): the size in bytes of one
			 * port I/O element (1, 2 or 4) and the number of
			 * elements, KVM's kvm_run.io.size and .count.  `length`
			 * is their product; a count above 1 is string I/O
			 * ("rep ins", "rep outs").
			 */
			uint32_t element_size;
			uint32_t count;
		} io_access;
		/* CROSVM_VCPU_EVENT_KIND_PAUSED: the pointer given to crosvm_pause_vcpus(). */
		void *user;
		/* CROSVM_VCPU_EVENT_KIND_HYPERV_HCALL */
		struct {
			/* The hypercall input value. */
			uint64_t input;
			/*
			 * Library memory, initially 0: store the hypercall's
			 * result there before crosvm_vcpu_resume().
			 */
			uint64_t *result;
			/* The two hypercall parameters. */
			uint64_t params[2];
		} hyperv_call;
		/* CROSVM_VCPU_EVENT_KIND_HYPERV_SYNIC */
		struct {
			/* The SynIC MSR that was written. */
			uint32_t msr;
			uint32_t _reserved;
			/* The SynIC control, event page and message page values. */
			uint64_t control;
			uint64_t evt_page;
			uint64_t msg_page;
		} hyperv_synic;
		/* CROSVM_VCPU_EVENT_KIND_RESET (API 0.23, in the reserved bytes) */
		struct {
			/* CROSVM_RESET_*; other values may come from a newer host. */
			uint32_t reason;
			uint8_t _reserved[4];
		} reset;
		uint8_t _reserved[64];
	};
};

#ifdef static_assert
static_assert(sizeof(struct crosvm_vcpu_event) == 72, "extra padding in struct crosvm_vcpu_event");
#endif

/*
 * Stores in *out the handle of vcpu `__cpu_id` (0 to number of vcpus - 1).
 * Handles belong to the connection family and are never freed by the
 * caller; the same id always gives the same pointer, on every connection
 * derived from one crosvm_connect().  Returns -ENOENT past the last vcpu, so
 * a plugin can count vcpus by calling with increasing ids.
 */
int crosvm_get_vcpu(struct crosvm*, uint32_t __cpu_id, struct crosvm_vcpu**);

/*
 * Blocks until the vcpu has an event for the plugin and describes it in
 * *event.  Unless the event is a `no_resume` notification, the vcpu stays
 * stopped until crosvm_vcpu_resume(), and in between its state may be read
 * and written with the crosvm_vcpu_get_* and crosvm_vcpu_set_* functions.
 * Before crosvm_start() it blocks until the VM starts.
 *
 * Errors: -EPROTO on a malformed or unexpected message; -EINVAL or -EPIPE
 * once the host is gone; the host's errno (for example -EPROTO when waiting
 * twice without a resume).
 */
int crosvm_vcpu_wait(struct crosvm_vcpu*, struct crosvm_vcpu_event*);

/*
 * Lets a stopped vcpu continue.  For a read access, the bytes left in
 * `io_access.data` become the value the guest reads; for a Hyper-V
 * hypercall, `*hyperv_call.result` becomes its result.  Register writes
 * deferred by crosvm_vcpu_set_regs/sregs/debugregs travel with this request
 * and are applied before the guest runs.  No reply is awaited; errors in
 * applying deferred registers are not reported.
 */
int crosvm_vcpu_resume(struct crosvm_vcpu*);

/*
 * Reads the general purpose registers.  Answered without a round trip when
 * the host sent them with the event (see crosvm_set_hypercall_hint()).  A
 * pending deferred set is written to KVM first, so the result shows what KVM
 * holds.
 */
int crosvm_vcpu_get_regs(struct crosvm_vcpu*, struct kvm_regs*);

/*
 * Sets the general purpose registers.  The write is deferred: it is kept in
 * the library and sent with the next crosvm_vcpu_resume() (or before the
 * next get).  Always returns 0.
 */
int crosvm_vcpu_set_regs(struct crosvm_vcpu*, const struct kvm_regs*);

/* Reads the special registers (segments, control registers); cached like get_regs. */
int crosvm_vcpu_get_sregs(struct crosvm_vcpu*, struct kvm_sregs*);

/* Sets the special registers; deferred like crosvm_vcpu_set_regs(). */
int crosvm_vcpu_set_sregs(struct crosvm_vcpu*, const struct kvm_sregs*);

/* Reads the x87/SSE state (KVM_GET_FPU); one round trip. */
int crosvm_vcpu_get_fpu(struct crosvm_vcpu*, struct kvm_fpu*);

/* Writes the x87/SSE state (KVM_SET_FPU); one round trip. */
int crosvm_vcpu_set_fpu(struct crosvm_vcpu*, const struct kvm_fpu*);

/* Reads the debug registers; cached like get_regs. */
int crosvm_vcpu_get_debugregs(struct crosvm_vcpu*, struct kvm_debugregs*);

/* Sets the debug registers; deferred like crosvm_vcpu_set_regs(). */
int crosvm_vcpu_set_debugregs(struct crosvm_vcpu*, const struct kvm_debugregs*);

/* Reads the extended control registers (KVM_GET_XCRS); one round trip. */
int crosvm_vcpu_get_xcrs(struct crosvm_vcpu*, struct kvm_xcrs*);

/* Writes the extended control registers (KVM_SET_XCRS); one round trip. */
int crosvm_vcpu_set_xcrs(struct crosvm_vcpu*, const struct kvm_xcrs*);

/*
 * Reads the MSRs named by the `index` field of `__msr_entries[0..__msr_count)`
 * into their `data` fields.  KVM stops at the first MSR it cannot read:
 * *__out_count tells how many entries were filled (0 on error), and a short
 * count is not an error.
 */
int crosvm_vcpu_get_msrs(struct crosvm_vcpu*, uint32_t __msr_count,
			 struct kvm_msr_entry *__msr_entries, uint32_t *__out_count);

/* Writes each (index, data) pair of `__msr_entries` to the vcpu's MSRs. */
int crosvm_vcpu_set_msrs(struct crosvm_vcpu*, uint32_t __msr_count,
			 const struct kvm_msr_entry *__msr_entries);

/*
 * Sets what the CPUID instruction returns on this vcpu (KVM_SET_CPUID2).  Of
 * each entry's flags only KVM_CPUID_FLAG_SIGNIFCANT_INDEX is kept.
 */
int crosvm_vcpu_set_cpuid(struct crosvm_vcpu*, uint32_t __cpuid_count,
			  const struct kvm_cpuid_entry2 *__cpuid_entries);

/*
 * Enables a per-vcpu KVM capability.  Only KVM_CAP_HYPERV_SYNIC and
 * KVM_CAP_HYPERV_SYNIC2 (if the kernel has it) are allowed, and `__flags`
 * and all four `__args` must be 0 (-EINVAL otherwise).
 */
int crosvm_vcpu_enable_capability(struct crosvm_vcpu*, uint32_t __capability, uint32_t __flags,
				  uint64_t __args[4]);

/* Reads the vcpu's local APIC register page. */
int crosvm_vcpu_get_lapic_state(struct crosvm_vcpu *, struct kvm_lapic_state *__lapic_state);

/* Writes the vcpu's local APIC register page. */
int crosvm_vcpu_set_lapic_state(struct crosvm_vcpu *,
				const struct kvm_lapic_state *__lapic_state);

/* Reads the vcpu's multiprocessing state (runnable, halted, waiting for SIPI, ...). */
int crosvm_vcpu_get_mp_state(struct crosvm_vcpu *, struct kvm_mp_state *__mp_state);

/* Writes the vcpu's multiprocessing state. */
int crosvm_vcpu_set_mp_state(struct crosvm_vcpu *, const struct kvm_mp_state *__mp_state);

/* Reads pending exceptions, interrupts, NMIs and SMIs of the vcpu. */
int crosvm_vcpu_get_vcpu_events(struct crosvm_vcpu *, struct kvm_vcpu_events *);

/* Writes pending exceptions, interrupts, NMIs and SMIs of the vcpu. */
int crosvm_vcpu_set_vcpu_events(struct crosvm_vcpu *, const struct kvm_vcpu_events *);

/*
 * ---------------------------------------------------------------------------
 * Extensions (API 0.23), docs/api.md "Extensions (0.23)".  plugvm's host
 * offers the host ones; crosvm's host does not, and neither does plugvm's
 * when run with --no-extensions.  Each such call fails with -ENOTTY on a
 * host that does not offer it, and then changes nothing.  The kick and the
 * timed wait are the library's own and work with any host.  A plugin that
 * never calls these sees exactly API 0.22.
 */

/* Bits of crosvm_get_extensions()'s mask. */
#define CROSVM_EXTENSION_EDGE_IRQ_EVENT (1ull << 0) /* crosvm_create_edge_irq_event() */
#define CROSVM_EXTENSION_DEFAULT_CPUID (1ull << 1)  /* crosvm_enable_default_cpuid() */
/*
 * crosvm_vcpu_kick() and crosvm_vcpu_wait_timeout().  The library provides
 * them by itself over either vcpu channel, so the bit is set with any host.
 */
#define CROSVM_EXTENSION_VCPU_KICK (1ull << 2)
/* crosvm_enable_reset_events() and crosvm_vcpu_reset(). */
#define CROSVM_EXTENSION_RESET (1ull << 3)
/* crosvm_enable_io_details(). */
#define CROSVM_EXTENSION_IO_DETAILS (1ull << 4)
/* crosvm_reserve_range_mode(). */
#define CROSVM_EXTENSION_RANGE_MODE (1ull << 5)
/* crosvm_memory_set_read_only() and crosvm_memory_replace(). */
#define CROSVM_EXTENSION_MEMORY_READ_ONLY (1ull << 6)
/* crosvm_vcpu_get_xsave() and crosvm_vcpu_set_xsave(). */
#define CROSVM_EXTENSION_XSAVE (1ull << 7)

/*
 * Sets `*__mask` to the CROSVM_EXTENSION_* bits the host offers, plus the
 * library's own (CROSVM_EXTENSION_VCPU_KICK): only those (and success) from
 * a host without extensions.  Bits this header does not name
 * may be set by a newer host and must be ignored.
 */
int crosvm_get_extensions(struct crosvm*, uint64_t *__mask);

/*
 * As crosvm_create_irq_event(), but edge triggered: each write of 1 to the
 * trigger eventfd (crosvm_irq_event_get_fd()) injects one edge on GSI
 * `__irq_id` without any round trip to the host, and there is no resample
 * eventfd (crosvm_irq_event_get_resample_fd() returns -1).  Destroy it with
 * crosvm_destroy_irq_event().  -ENOTTY without the extension.
 */
int crosvm_create_edge_irq_event(struct crosvm*, uint32_t __irq_id, struct crosvm_irq**);

/*
 * Before crosvm_start(): every vcpu gets KVM's supported CPUID
 * (crosvm_get_supported_cpuid()) before its INIT event, with its own vcpu
 * index as initial APIC id (leaf 1 EBX[31:24], leaves 0xb and 0x1f EDX).
 * crosvm_vcpu_set_cpuid() still replaces it.  -EBUSY after crosvm_start(),
 * -ENOTTY without the extension.
 */
int crosvm_enable_default_cpuid(struct crosvm*);

/*
 * Ends a crosvm_vcpu_wait() (or crosvm_vcpu_wait_timeout()) on this vcpu
 * that is waiting for the next event, from any thread: that wait returns
 * -EINTR.  If no wait is waiting, the next wait returns -EINTR at once
 * (even if an event is ready: the wait after it returns that); kicks do not
 * add up.  A kicked wait consumed no event and
 * the vcpu's state is unchanged: call wait again.  A wait that answers a
 * stopped vcpu (a protocol error) is not ended.  Returns 0 once the kick
 * was seen or is pending.
 */
int crosvm_vcpu_kick(struct crosvm_vcpu*);

/*
 * As crosvm_vcpu_wait(), but returns -ETIMEDOUT when no event arrived
 * within `__timeout_ns` nanoseconds (CLOCK_MONOTONIC; 0 only looks, a
 * negative value waits forever), consuming nothing, and -EINTR on a kick.
 * Never returns early; over crosvm's pipe channel the timeout is rounded
 * up to whole milliseconds (poll(2), which crosvm's plugin policies allow).
 */
int crosvm_vcpu_wait_timeout(struct crosvm_vcpu*, struct crosvm_vcpu_event*,
			     int64_t __timeout_ns);

/*
 * Before crosvm_start(): a triple fault on a vcpu no longer ends the VM
 * but stops that vcpu with a CROSVM_VCPU_EVENT_KIND_RESET event
 * (reason CROSVM_RESET_TRIPLE_FAULT); the plugin resets the machine and
 * resumes.  Plugins that do not call this keep crosvm's behaviour.  -EBUSY
 * after crosvm_start(), -ENOTTY without CROSVM_EXTENSION_RESET.
 */
int crosvm_enable_reset_events(struct crosvm*);

/*
 * While the vcpu is stopped (after any event that must be resumed): puts it
 * back in the state KVM created it in, the power-on state: general, segment
 * and control registers (cs:ip f000:fff0), FPU, debug registers, XCRs,
 * local APIC, MP state (the first vcpu runnable, the others waiting for
 * INIT/SIPI) and pending events.  CPUID and MSRs other than EFER and the
 * APIC base are kept; guest memory is not touched.  -EINVAL when the vcpu
 * is not stopped, -ENOTTY without CROSVM_EXTENSION_RESET.
 */
int crosvm_vcpu_reset(struct crosvm_vcpu*);

/*
 * Before crosvm_start(): every later CROSVM_VCPU_EVENT_KIND_IO_ACCESS event
 * of a port access carries `io_access.element_size` and `io_access.count`,
 * so "rep insw" of one word and "rep insb" of two bytes differ.  -EBUSY
 * after crosvm_start(), -ENOTTY without CROSVM_EXTENSION_IO_DETAILS (the
 * two fields then stay 0).
 */
int crosvm_enable_io_details(struct crosvm*);

/* Trap modes of crosvm_reserve_range_mode(). */
/* Every access stops the vcpu, as crosvm_reserve_range(). */
#define CROSVM_RANGE_MODE_SYNC 0
/* Only writes are trapped, without stopping, as crosvm_reserve_async_write_range(). */
#define CROSVM_RANGE_MODE_ASYNC_WRITE 1
/*
 * Writes arrive as with CROSVM_RANGE_MODE_ASYNC_WRITE (`no_resume` set, no
 * resume), but reads stop the vcpu as with CROSVM_RANGE_MODE_SYNC: the
 * plugin fills `io_access.data` and calls crosvm_vcpu_resume().
 */
#define CROSVM_RANGE_MODE_ASYNC_WRITE_SYNC_READ 2

/*
 * As crosvm_reserve_range(), with a trap mode (CROSVM_RANGE_MODE_*); the same
 * overlap rules, and a `__length` of 0 removes the range starting at
 * `__start` whatever its mode.  -EINVAL for an unknown mode, -ENOTTY
 * without CROSVM_EXTENSION_RANGE_MODE.
 */
int crosvm_reserve_range_mode(struct crosvm*, uint32_t __space, uint64_t __start,
			      uint64_t __length, uint32_t __mode);

/*
 * Makes a memory object read-only (guest writes then exit as MMIO writes,
 * as with crosvm_create_memory()'s `__read_only`) or writable again, at any
 * time, as one step: the host holds every vcpu out of the guest while it
 * replaces KVM's slot, so no vcpu ever finds the range unmapped.  A dirty
 * log restarts clear.  -ENOENT for an unknown object, -ENOTTY without
 * CROSVM_EXTENSION_MEMORY_READ_ONLY.
 */
int crosvm_memory_set_read_only(struct crosvm*, struct crosvm_memory*, bool __read_only);

/*
 * Maps the memfd `__fd` from byte `__offset` (a multiple of 4096; the memfd
 * sealed with F_SEAL_SHRINK and long enough) at the memory object's guest
 * range in place of its memory, read-only or not, as one step no running
 * vcpu can observe half-done (as crosvm_memory_set_read_only()).  The
 * object keeps its id and length; the caller keeps `__fd`.  A dirty log
 * restarts clear.  -EBADF, -EPERM (no shrink seal), -EINVAL (alignment or
 * size), -ENOENT for an unknown object, -ENOTTY without
 * CROSVM_EXTENSION_MEMORY_READ_ONLY.
 */
int crosvm_memory_replace(struct crosvm*, struct crosvm_memory*, int __fd, uint64_t __offset,
			  bool __read_only);

/*
 * The size of struct kvm_xsave (KVM_GET_XSAVE): the smallest XSAVE area a
 * host gives.  Kernels with KVM_CAP_XSAVE2 may give a larger one (AMX tile
 * data), which crosvm_vcpu_get_xsave() reports.
 */
#define CROSVM_XSAVE_MIN_SIZE 4096u

/*
 * While the vcpu is stopped (as crosvm_vcpu_get_fpu()): copies the vcpu's
 * whole XSAVE area (x87, SSE, AVX, AVX-512, PKRU, ...; the layout of the
 * kernel's struct kvm_xsave, in the XSAVE standard format) into `__xsave`,
 * which has room for `__size` bytes, and sets `*__out_size` to the area's
 * size: 4096 (CROSVM_XSAVE_MIN_SIZE), or more where the kernel has
 * KVM_CAP_XSAVE2 and the area needs it.  A smaller buffer gives -E2BIG with
 * `*__out_size` set and nothing copied, so a call with a NULL buffer and
 * size 0 learns the size.  The size is the same for every vcpu of a VM.
 * -EINVAL when the vcpu is not stopped, -ENOTTY without
 * CROSVM_EXTENSION_XSAVE (`*__out_size` is then 0).
 */
int crosvm_vcpu_get_xsave(struct crosvm_vcpu *, void *__xsave, uint32_t __size,
			  uint32_t *__out_size);

/*
 * While the vcpu is stopped: writes the vcpu's XSAVE area (KVM_SET_XSAVE).
 * `__size` must be exactly the size crosvm_vcpu_get_xsave() reports
 * (-EINVAL otherwise).  The kernel's own checks apply: XSTATE_BV or
 * XCOMP_BV bits the vcpu's CPUID does not offer, or a bad MXCSR, give
 * -EINVAL and change nothing.  Set XCR0 (crosvm_vcpu_set_xcrs()) and CPUID
 * first.  -ENOTTY without CROSVM_EXTENSION_XSAVE.
 */
int crosvm_vcpu_set_xsave(struct crosvm_vcpu *, const void *__xsave, uint32_t __size);

#ifdef __cplusplus
}
#endif

#endif /* __CROSVM_H__ */
