// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
#include "main-request.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ext-bits.h"
#include "ext.h"
#include "codec.h"
#include "kvm-ops.h"
#include "log.h"
#include "net.h"
#include "objects.h"
#include "vcpu.h"
#include "vm.h"

static int vm_ioctl(struct vm *vm, unsigned long req, void *arg)
{
	return vm->kvm->ioctl(vm->vm_fd, req, arg);
}

static void reply_errno(struct main_reply *reply, int r)
{
	reply->resp.errnum = r < 0 ? -r : 0;
}

static void reply_fd(struct main_reply *reply, int fd)
{
	reply->fds[reply->nfds++] = fd;
}

static void reply_close_after(struct main_reply *reply, int fd)
{
	reply->close_after[reply->n_close_after++] = fd;
}

static void reply_free_after(struct main_reply *reply, void *p)
{
	reply->free_after[reply->n_free_after++] = p;
}

static void handle_create(struct main_ctx *ctx, const Plugvm__MainRequest__Create *req, int *fd_in,
			  struct main_reply *reply)
{
	struct vm *vm = ctx->vm;
	struct object obj;
	int resample = -1, r;

	plugvm__main_response__create__init(&reply->u.create);
	reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_CREATE;
	reply->resp.create = &reply->u.create;

	/* An id in use is reported before the constructor is looked at. */
	if (objects_find(&vm->objects, req->id)) {
		r = -EEXIST;
		goto out;
	}
	r = objects_check_room(&vm->objects);
	if (r < 0)
		goto out;
	memset(&obj, 0, sizeof(obj));
	obj.id = req->id;
	switch (req->constructor_case) {
	case PLUGVM__MAIN_REQUEST__CREATE__CONSTRUCTOR_IO_EVENT: {
		const Plugvm__MainRequest__Create__IoEvent *io = req->io_event;

		r = vm_create_io_event(vm, &obj, (uint32_t)io->space, io->address, io->length,
				       io->datamatch);
		break;
	}
	case PLUGVM__MAIN_REQUEST__CREATE__CONSTRUCTOR_MEMORY: {
		const Plugvm__MainRequest__Create__Memory *m = req->memory;
		int fd = *fd_in;

		if (fd < 0) {
			r = -EBADF;
			break;
		}
		*fd_in = -1;
		/* The mapping keeps the memory; the plugin keeps its own fd. */
		r = vm_create_memory(vm, &obj, fd, m->offset, m->start, m->length, m->read_only,
				     m->dirty_log);
		close(fd);
		break;
	}
	case PLUGVM__MAIN_REQUEST__CREATE__CONSTRUCTOR_IRQ_EVENT:
		/* resample is always on, whatever the request says (docs/protocol.md §3.5). */
		r = vm_create_irq_event(vm, &obj, req->irq_event->irq_id, &resample);
		break;
	case PLUGVM__MAIN_REQUEST__CREATE__CONSTRUCTOR_EDGE_IRQ_EVENT:
		if (!(vm_ext_offered(vm) & PLUGVM_EXT_EDGE_IRQ_EVENT))
			r = -ENOTTY;
		else if (req->edge_irq_event->resample)
			r = -EINVAL;
		else
			r = ext_create_edge_irq_event(vm, &obj, req->edge_irq_event->irq_id);
		break;
	default:
		r = -ENOTTY;
		break;
	}
	if (r < 0)
		goto out;
	r = objects_insert(&vm->objects, &obj);
	if (r < 0) {
		if (vm_destroy_object(vm, &obj) < 0)
			log_warn("object %u: cannot undo a failed create", obj.id);
		if (resample >= 0)
			close(resample);
		goto out;
	}
	switch (obj.kind) {
	case OBJECT_IO_EVENT:
		reply_fd(reply, obj.io.fd);
		break;
	case OBJECT_IRQ_EVENT:
		reply_fd(reply, obj.irq.fd);
		/* An edge irq event has no resample eventfd and sends the trigger alone. */
		if (resample >= 0) {
			reply_fd(reply, resample);
			/* Only the trigger is kept (docs/protocol.md §3.5). */
			reply_close_after(reply, resample);
		}
		break;
	default:
		break;
	}
out:
	reply_errno(reply, r);
}

static void handle_destroy(struct main_ctx *ctx, const Plugvm__MainRequest__Destroy *req,
			   struct main_reply *reply)
{
	struct object *obj = objects_find(&ctx->vm->objects, req->id);
	int r = -ENOENT;

	plugvm__main_response__destroy__init(&reply->u.destroy);
	reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_DESTROY;
	reply->resp.destroy = &reply->u.destroy;
	if (obj) {
		/*
		 * Forget the object only once the kernel let go of it, so host and
		 * client agree on what exists (docs/protocol.md §7.15).
		 */
		r = vm_destroy_object(ctx->vm, obj);
		if (r == 0)
			objects_remove(&ctx->vm->objects, req->id);
	}
	reply_errno(reply, r);
}

static void handle_new_connection(struct main_ctx *ctx, struct main_reply *reply)
{
	int sv[2], r = 0;

	plugvm__main_response__new_connection__init(&reply->u.new_connection);
	reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_NEW_CONNECTION;
	reply->resp.new_connection = &reply->u.new_connection;
	if (ctx->n_conns >= VM_MAX_CONNECTIONS) {
		r = -EMFILE;
	} else if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -errno;
	} else {
		ctx->new_conn_fd = sv[0];
		reply_fd(reply, sv[1]);
		reply_close_after(reply, sv[1]);
	}
	reply_errno(reply, r);
}

static void handle_get_shutdown_eventfd(struct main_ctx *ctx, struct main_reply *reply)
{
	plugvm__main_response__get_shutdown_eventfd__init(&reply->u.get_shutdown_eventfd);
	reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_GET_SHUTDOWN_EVENTFD;
	reply->resp.get_shutdown_eventfd = &reply->u.get_shutdown_eventfd;
	reply_fd(reply, ctx->vm->kill_efd);
}

static void handle_check_extension(struct main_ctx *ctx,
				   const Plugvm__MainRequest__CheckExtension *req,
				   struct main_reply *reply)
{
	int r = vm_ioctl(ctx->vm, KVM_CHECK_EXTENSION, (void *)(unsigned long)req->extension);

	plugvm__main_response__check_extension__init(&reply->u.check_extension);
	reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_CHECK_EXTENSION;
	reply->resp.check_extension = &reply->u.check_extension;
	/* Counts above 1 read as false, as in the original (docs/protocol.md §3.10). */
	reply->u.check_extension.has_extension = r == 1;
}

static void handle_get_cpuid(struct main_ctx *ctx, bool emulated, struct main_reply *reply)
{
	struct kvm_cpuid2 *c = NULL;
	struct codec_cpuid_list list;
	int r;

	plugvm__cpuid_response__init(&reply->u.cpuid);
	if (emulated) {
		reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_GET_EMULATED_CPUID;
		reply->resp.get_emulated_cpuid = &reply->u.cpuid;
	} else {
		reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_GET_SUPPORTED_CPUID;
		reply->resp.get_supported_cpuid = &reply->u.cpuid;
	}
	r = vm_get_cpuid(ctx->vm, emulated, &c);
	if (r < 0)
		goto out;
	r = codec_cpuid_list_from_kvm(c->entries, c->nent, &list);
	if (r < 0)
		goto out;
	reply->u.cpuid.entries = list.ptrs;
	reply->u.cpuid.n_entries = list.n;
	reply_free_after(reply, list.entries);
	reply_free_after(reply, list.ptrs);
out:
	free(c);
	reply_errno(reply, r);
}

static void handle_get_msr_index_list(struct main_ctx *ctx, struct main_reply *reply)
{
	uint32_t *idx = NULL;
	size_t n = 0;
	int r;

	plugvm__main_response__get_msr_index_list__init(&reply->u.get_msr_index_list);
	reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_GET_MSR_INDEX_LIST;
	reply->resp.get_msr_index_list = &reply->u.get_msr_index_list;
	r = vm_get_msr_index_list(ctx->vm, &idx, &n);
	if (r == 0) {
		reply->u.get_msr_index_list.indices = idx;
		reply->u.get_msr_index_list.n_indices = n;
		reply_free_after(reply, idx);
	}
	reply_errno(reply, r);
}

static void handle_get_net_config(struct main_ctx *ctx, struct main_reply *reply)
{
	struct vm *vm = ctx->vm;
	Plugvm__MainResponse__GetNetConfig *nc = &reply->u.get_net_config;
	uint32_t ip = 0, mask = 0;
	int r;

	plugvm__main_response__get_net_config__init(nc);
	reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_GET_NET_CONFIG;
	reply->resp.get_net_config = nc;
	if (vm->n_taps == 0) {
		r = -ENODATA;
		goto out;
	}
	/* Only the first tap is reachable (docs/protocol.md §3.12). */
	r = net_query(vm->tap_fds[0], reply->mac, &ip, &mask);
	if (r < 0)
		goto out;
	nc->host_mac_address.data = reply->mac;
	nc->host_mac_address.len = sizeof(reply->mac);
	nc->host_ipv4_address = ip;
	nc->netmask = mask;
	reply_fd(reply, vm->tap_fds[0]);
out:
	reply_errno(reply, r);
}

static void handle_reserve_range(struct main_ctx *ctx,
				 const Plugvm__MainRequest__ReserveRange *req,
				 struct main_reply *reply)
{
	struct vm *vm = ctx->vm;
	uint32_t space = (uint32_t)req->space;
	int r;

	plugvm__main_response__reserve_range__init(&reply->u.reserve_range);
	reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_RESERVE_RANGE;
	reply->resp.reserve_range = &reply->u.reserve_range;
	if (space > VM_SPACE_MMIO) {
		r = -EINVAL;
		goto out;
	}
	pthread_rwlock_wrlock(&vm->io_lock);
	if (req->length == 0)
		r = ranges_unreserve(&vm->ranges[space], req->start);
	else
		r = ranges_reserve(&vm->ranges[space], req->start, req->length, req->async_write);
	pthread_rwlock_unlock(&vm->io_lock);
out:
	reply_errno(reply, r);
}

static void handle_set_irq(struct main_ctx *ctx, const Plugvm__MainRequest__SetIrq *req,
			   struct main_reply *reply)
{
	struct kvm_irq_level line = { .irq = req->irq_id, .level = req->active ? 1 : 0 };

	plugvm__main_response__set_irq__init(&reply->u.set_irq);
	reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_SET_IRQ;
	reply->resp.set_irq = &reply->u.set_irq;
	reply_errno(reply, vm_ioctl(ctx->vm, KVM_IRQ_LINE, &line));
}

static void handle_set_irq_routing(struct main_ctx *ctx,
				   const Plugvm__MainRequest__SetIrqRouting *req,
				   struct main_reply *reply)
{
	struct kvm_irq_routing *table = NULL;
	size_t n = req->n_routes;
	int r;

	plugvm__main_response__set_irq_routing__init(&reply->u.set_irq_routing);
	reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_SET_IRQ_ROUTING;
	reply->resp.set_irq_routing = &reply->u.set_irq_routing;
	if (n > VM_MAX_ROUTES) {
		r = -EINVAL;
		goto out;
	}
	table = calloc(1, sizeof(*table) + n * sizeof(table->entries[0]));
	if (!table) {
		r = -ENOMEM;
		goto out;
	}
	table->nr = (uint32_t)n;
	for (size_t i = 0; i < n; i++) {
		const Plugvm__MainRequest__SetIrqRouting__Route *route = req->routes[i];
		struct kvm_irq_routing_entry *e = &table->entries[i];

		e->gsi = route->irq_id;
		switch (route->route_case) {
		case PLUGVM__MAIN_REQUEST__SET_IRQ_ROUTING__ROUTE__ROUTE_IRQCHIP:
			e->type = KVM_IRQ_ROUTING_IRQCHIP;
			e->u.irqchip.irqchip = route->irqchip->irqchip;
			e->u.irqchip.pin = route->irqchip->pin;
			break;
		case PLUGVM__MAIN_REQUEST__SET_IRQ_ROUTING__ROUTE__ROUTE_MSI:
			e->type = KVM_IRQ_ROUTING_MSI;
			e->u.msi.address_lo = (uint32_t)route->msi->address;
			e->u.msi.address_hi = (uint32_t)(route->msi->address >> 32);
			e->u.msi.data = route->msi->data;
			break;
		default:
			r = -EINVAL;
			goto out;
		}
	}
	r = vm_ioctl(ctx->vm, KVM_SET_GSI_ROUTING, table);
out:
	free(table);
	reply_errno(reply, r);
}

static void handle_get_state(struct main_ctx *ctx, const Plugvm__MainRequest__GetState *req,
			     struct main_reply *reply)
{
	int size = vm_state_size((uint32_t)req->set);
	int r = size;

	plugvm__main_response__get_state__init(&reply->u.get_state);
	reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_GET_STATE;
	reply->resp.get_state = &reply->u.get_state;
	if (size >= 0) {
		r = vm_get_state(ctx->vm, (uint32_t)req->set, reply->state);
		if (r == 0) {
			reply->u.get_state.state.data = reply->state;
			reply->u.get_state.state.len = (size_t)size;
		}
	}
	reply_errno(reply, r);
}

static void handle_set_state(struct main_ctx *ctx, const Plugvm__MainRequest__SetState *req,
			     struct main_reply *reply)
{
	plugvm__main_response__set_state__init(&reply->u.set_state);
	reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_SET_STATE;
	reply->resp.set_state = &reply->u.set_state;
	reply_errno(reply,
		    vm_set_state(ctx->vm, (uint32_t)req->set, req->state.data, req->state.len));
}

static void handle_set_identity_map_addr(struct main_ctx *ctx,
					 const Plugvm__MainRequest__SetIdentityMapAddr *req,
					 struct main_reply *reply)
{
	uint64_t addr = req->address;

	plugvm__main_response__set_identity_map_addr__init(&reply->u.set_identity_map_addr);
	reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_SET_IDENTITY_MAP_ADDR;
	reply->resp.set_identity_map_addr = &reply->u.set_identity_map_addr;
	reply_errno(reply, vm_ioctl(ctx->vm, KVM_SET_IDENTITY_MAP_ADDR, &addr));
}

static void handle_pause_vcpus(struct main_ctx *ctx, const Plugvm__MainRequest__PauseVcpus *req,
			       struct main_reply *reply)
{
	plugvm__main_response__pause_vcpus__init(&reply->u.pause_vcpus);
	reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_PAUSE_VCPUS;
	reply->resp.pause_vcpus = &reply->u.pause_vcpus;
	/*
	 * Before Start no thread exists and the pause is dropped, still with success
	 * (docs/protocol.md §7.17).
	 */
	vcpus_pause(ctx->vm, req->cpu_mask, req->user);
}

static void handle_get_vcpus(struct main_ctx *ctx, struct main_reply *reply)
{
	struct vm *vm = ctx->vm;

	plugvm__main_response__get_vcpus__init(&reply->u.get_vcpus);
	reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_GET_VCPUS;
	reply->resp.get_vcpus = &reply->u.get_vcpus;
	/* The kernel duplicates the descriptors; the host keeps its own ends. */
	for (unsigned i = 0; i < vm->n_vcpus && reply->nfds + 2 <= WIRE_MAX_FDS; i++) {
		reply_fd(reply, vm->vcpus[i].to_host[1]);
		reply_fd(reply, vm->vcpus[i].to_plugin[0]);
	}
}

static void handle_start(struct main_ctx *ctx, struct main_reply *reply)
{
	int r = 0;

	plugvm__main_response__start__init(&reply->u.start);
	reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_START;
	reply->resp.start = &reply->u.start;
	if (ctx->vm->start_requested)
		r = -EINVAL;
	else
		ctx->vm->start_requested = true;
	reply_errno(reply, r);
}

static void handle_set_call_hint(struct main_ctx *ctx,
				 const Plugvm__MainRequest__SetCallHint *req,
				 struct main_reply *reply)
{
	struct vm *vm = ctx->vm;
	struct hint_detail *details = NULL, *old;
	size_t n = req->n_hints;
	int r = 0;

	plugvm__main_response__set_call_hint__init(&reply->u.set_call_hint);
	reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_SET_CALL_HINT;
	reply->resp.set_call_hint = &reply->u.set_call_hint;
	if ((uint32_t)req->space > VM_SPACE_MMIO || n > VM_MAX_HINT_DETAILS) {
		r = -EINVAL;
		goto out;
	}
	if (req->address == 0)
		n = 0;
	if (n) {
		details = calloc(n, sizeof(*details));
		if (!details) {
			r = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const Plugvm__MainRequest__SetCallHint__RegHint *h = req->hints[i];

		details[i] = (struct hint_detail){
			.match = { h->match_rax, h->match_rbx, h->match_rcx, h->match_rdx },
			.value = { h->rax, h->rbx, h->rcx, h->rdx },
			.send_sregs = h->send_sregs,
			.send_debugregs = h->send_debugregs,
		};
	}
	pthread_rwlock_wrlock(&vm->io_lock);
	old = vm->hint.details;
	/* Address 0 clears the hint, whatever the other fields say (docs/protocol.md §3.17). */
	vm->hint.active = req->address != 0;
	vm->hint.space = (uint32_t)req->space;
	vm->hint.address = req->address;
	vm->hint.on_write = req->on_write;
	vm->hint.details = details;
	vm->hint.n_details = n;
	pthread_rwlock_unlock(&vm->io_lock);
	free(old);
out:
	reply_errno(reply, r);
}

static void handle_dirty_log(struct main_ctx *ctx, const Plugvm__MainRequest__MemoryDirtyLog *req,
			     int *fd_in, struct main_reply *reply)
{
	struct object *obj = objects_find(&ctx->vm->objects, req->id);
	uint8_t *bitmap;
	size_t len;
	int r = -ENOENT;

	plugvm__main_response__memory_dirty_log__init(&reply->u.dirty_log);
	reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_DIRTY_LOG;
	reply->resp.dirty_log = &reply->u.dirty_log;
	if (req->shared) {
		/* plugvm extension: any size, written into the plugin's memfd. */
		if (*fd_in < 0)
			r = -EBADF;
		else if (obj && obj->kind == OBJECT_MEMORY)
			r = vm_dirty_log_shared(ctx->vm, obj, *fd_in);
		if (r == 0)
			reply->u.dirty_log.shared = true;
		goto out; /* the caller closes *fd_in */
	}
	if (obj && obj->kind == OBJECT_MEMORY) {
		uint64_t bytes = (obj->mem.length / 4096 + 7) / 8;

		/*
		 * A bitmap the client cannot receive (over 8 GiB of memory) is
		 * refused before KVM_GET_DIRTY_LOG, which would clear the log.
		 */
		if (bytes > WIRE_MAIN_RESPONSE_MAX - 64) {
			r = -E2BIG;
			goto out;
		}
		r = vm_dirty_log(ctx->vm, obj, &bitmap, &len);
		if (r == 0) {
			reply->u.dirty_log.bitmap.data = bitmap;
			reply->u.dirty_log.bitmap.len = len;
			reply_free_after(reply, bitmap);
		}
	}
out:
	reply_errno(reply, r);
}

/* plugvm extension: the shared-memory vcpu channel (docs/shm-channel.md). */
static void handle_vcpu_channel(struct main_ctx *ctx, const Plugvm__MainRequest__VcpuChannel *req,
				struct main_reply *reply)
{
	struct vcpu_channel_info info;
	int r;

	plugvm__main_response__vcpu_channel__init(&reply->u.vcpu_channel);
	reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_VCPU_CHANNEL;
	reply->resp.vcpu_channel = &reply->u.vcpu_channel;
	r = vcpus_negotiate_channel(ctx->vm, req->version, &info);
	if (r == 0 && info.fd >= 0) {
		reply->u.vcpu_channel.version = info.version;
		reply->u.vcpu_channel.slot_size = info.slot_size;
		reply->u.vcpu_channel.n_vcpus = info.n_vcpus;
		reply->u.vcpu_channel.size = info.size;
		reply_fd(reply, info.fd);
	}
	reply_errno(reply, r);
}

/* API 0.23 extensions (docs/protocol.md "Extensions"); ENOTTY with --no-extensions. */
static bool handle_extension(struct main_ctx *ctx, const Plugvm__MainRequest *req,
			     const int *fd_in, struct main_reply *reply)
{
	if (!vm_ext_offered(ctx->vm))
		return false;
	switch (req->message_case) {
	case PLUGVM__MAIN_REQUEST__MESSAGE_EXTENSIONS:
		plugvm__main_response__extensions__init(&reply->u.extensions);
		reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_EXTENSIONS;
		reply->resp.extensions = &reply->u.extensions;
		reply->u.extensions.mask = vm_ext_offered(ctx->vm);
		return true;
	case PLUGVM__MAIN_REQUEST__MESSAGE_DEFAULT_CPUID:
		plugvm__main_response__default_cpuid__init(&reply->u.default_cpuid);
		reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_DEFAULT_CPUID;
		reply->resp.default_cpuid = &reply->u.default_cpuid;
		reply_errno(reply, ext_set_default_cpuid(ctx->vm, req->default_cpuid->enable));
		return true;
	case PLUGVM__MAIN_REQUEST__MESSAGE_RESET_EVENTS:
		plugvm__main_response__reset_events__init(&reply->u.reset_events);
		reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_RESET_EVENTS;
		reply->resp.reset_events = &reply->u.reset_events;
		reply_errno(reply, ext_set_reset_events(ctx->vm, req->reset_events->enable));
		return true;
	case PLUGVM__MAIN_REQUEST__MESSAGE_IO_DETAILS:
		plugvm__main_response__io_details__init(&reply->u.io_details);
		reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_IO_DETAILS;
		reply->resp.io_details = &reply->u.io_details;
		reply_errno(reply, ext_set_io_details(ctx->vm, req->io_details->enable));
		return true;
	case PLUGVM__MAIN_REQUEST__MESSAGE_RESERVE_RANGE_MODE: {
		const Plugvm__MainRequest__ReserveRangeMode *m = req->reserve_range_mode;

		plugvm__main_response__reserve_range_mode__init(&reply->u.reserve_range_mode);
		reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_RESERVE_RANGE_MODE;
		reply->resp.reserve_range_mode = &reply->u.reserve_range_mode;
		reply_errno(reply, ext_reserve_range_mode(ctx->vm, (uint32_t)m->space, m->start,
							  m->length, m->mode));
		return true;
	}
	case PLUGVM__MAIN_REQUEST__MESSAGE_MEMORY_READ_ONLY:
		plugvm__main_response__memory_read_only__init(&reply->u.memory_read_only);
		reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_MEMORY_READ_ONLY;
		reply->resp.memory_read_only = &reply->u.memory_read_only;
		reply_errno(reply, ext_memory_set_read_only(ctx->vm, req->memory_read_only->id,
							    req->memory_read_only->read_only));
		return true;
	case PLUGVM__MAIN_REQUEST__MESSAGE_MEMORY_REPLACE:
		plugvm__main_response__memory_replace__init(&reply->u.memory_replace);
		reply->resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_MEMORY_REPLACE;
		reply->resp.memory_replace = &reply->u.memory_replace;
		/* The caller closes *fd_in. */
		reply_errno(reply, ext_memory_replace(ctx->vm, req->memory_replace->id, *fd_in,
						      req->memory_replace->offset,
						      req->memory_replace->read_only));
		return true;
	default:
		return false;
	}
}

void plugin_main_handle(struct main_ctx *ctx, const Plugvm__MainRequest *req, int *fd_in,
			struct main_reply *reply)
{
	memset(reply, 0, sizeof(*reply));
	plugvm__main_response__init(&reply->resp);

	switch (req->message_case) {
	case PLUGVM__MAIN_REQUEST__MESSAGE_CREATE:
		handle_create(ctx, req->create, fd_in, reply);
		break;
	case PLUGVM__MAIN_REQUEST__MESSAGE_DESTROY:
		handle_destroy(ctx, req->destroy, reply);
		break;
	case PLUGVM__MAIN_REQUEST__MESSAGE_NEW_CONNECTION:
		handle_new_connection(ctx, reply);
		break;
	case PLUGVM__MAIN_REQUEST__MESSAGE_GET_SHUTDOWN_EVENTFD:
		handle_get_shutdown_eventfd(ctx, reply);
		break;
	case PLUGVM__MAIN_REQUEST__MESSAGE_CHECK_EXTENSION:
		handle_check_extension(ctx, req->check_extension, reply);
		break;
	case PLUGVM__MAIN_REQUEST__MESSAGE_GET_SUPPORTED_CPUID:
		handle_get_cpuid(ctx, false, reply);
		break;
	case PLUGVM__MAIN_REQUEST__MESSAGE_GET_EMULATED_CPUID:
		handle_get_cpuid(ctx, true, reply);
		break;
	case PLUGVM__MAIN_REQUEST__MESSAGE_GET_MSR_INDEX_LIST:
		handle_get_msr_index_list(ctx, reply);
		break;
	case PLUGVM__MAIN_REQUEST__MESSAGE_GET_NET_CONFIG:
		handle_get_net_config(ctx, reply);
		break;
	case PLUGVM__MAIN_REQUEST__MESSAGE_RESERVE_RANGE:
		handle_reserve_range(ctx, req->reserve_range, reply);
		break;
	case PLUGVM__MAIN_REQUEST__MESSAGE_SET_IRQ:
		handle_set_irq(ctx, req->set_irq, reply);
		break;
	case PLUGVM__MAIN_REQUEST__MESSAGE_SET_IRQ_ROUTING:
		handle_set_irq_routing(ctx, req->set_irq_routing, reply);
		break;
	case PLUGVM__MAIN_REQUEST__MESSAGE_GET_STATE:
		handle_get_state(ctx, req->get_state, reply);
		break;
	case PLUGVM__MAIN_REQUEST__MESSAGE_SET_STATE:
		handle_set_state(ctx, req->set_state, reply);
		break;
	case PLUGVM__MAIN_REQUEST__MESSAGE_SET_IDENTITY_MAP_ADDR:
		handle_set_identity_map_addr(ctx, req->set_identity_map_addr, reply);
		break;
	case PLUGVM__MAIN_REQUEST__MESSAGE_PAUSE_VCPUS:
		handle_pause_vcpus(ctx, req->pause_vcpus, reply);
		break;
	case PLUGVM__MAIN_REQUEST__MESSAGE_GET_VCPUS:
		handle_get_vcpus(ctx, reply);
		break;
	case PLUGVM__MAIN_REQUEST__MESSAGE_START:
		handle_start(ctx, reply);
		break;
	case PLUGVM__MAIN_REQUEST__MESSAGE_SET_CALL_HINT:
		handle_set_call_hint(ctx, req->set_call_hint, reply);
		break;
	case PLUGVM__MAIN_REQUEST__MESSAGE_DIRTY_LOG:
		handle_dirty_log(ctx, req->dirty_log, fd_in, reply);
		break;
	case PLUGVM__MAIN_REQUEST__MESSAGE_VCPU_CHANNEL:
		handle_vcpu_channel(ctx, req->vcpu_channel, reply);
		break;
	default:
		if (handle_extension(ctx, req, fd_in, reply))
			break;
		/* The only reply without a member: the request is not one we know. */
		reply->resp.errnum = ENOTTY;
		break;
	}
	/* fds travel only with successful replies (docs/protocol.md §2.6). */
	if (reply->resp.errnum)
		reply->nfds = 0;
}

void main_reply_release(struct main_reply *reply)
{
	for (size_t i = 0; i < reply->n_close_after; i++)
		close(reply->close_after[i]);
	for (size_t i = 0; i < reply->n_free_after; i++)
		free(reply->free_after[i]);
	reply->n_close_after = 0;
	reply->n_free_after = 0;
	reply->nfds = 0;
}
