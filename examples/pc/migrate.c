// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * The pc example's live migration (--migrate-to, --migrate-listen): the stream's
 * transport (see migrate.h), then the pre-copy rounds, the stop-and-copy and
 * the destination's side.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <crosvm.h>

#include "machine.h"
#include "memory.h"
#include "migrate.h"
#include "vmstate.h"

static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	return 0;
}

int mig_send(int fd, const void *buf, size_t len, int timeout_ms)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			int r = wait_fd(fd, POLLOUT, timeout_ms);

			if (r < 0)
				return r;
			continue;
		}
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int mig_recv(int fd, void *buf, size_t len, int timeout_ms)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			int r = wait_fd(fd, POLLIN, timeout_ms);

			if (r < 0)
				return r;
			continue;
		}
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void put_le(uint8_t *p, uint64_t v, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;
	unsigned int i;

	for (i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

int mig_send_hdr(int fd, uint32_t type, uint32_t count, uint64_t offset, int timeout_ms)
{
	uint8_t b[16];

	put_le(b, type, 4);
	put_le(b + 4, count, 4);
	put_le(b + 8, offset, 8);
	return mig_send(fd, b, sizeof(b), timeout_ms);
}

int mig_recv_hdr(int fd, struct mig_hdr *h, int timeout_ms)
{
	uint8_t b[16];
	int r = mig_recv(fd, b, sizeof(b), timeout_ms);

	if (r < 0)
		return r;
	h->type = (uint32_t)get_le(b, 4);
	h->count = (uint32_t)get_le(b + 4, 4);
	h->offset = get_le(b + 8, 8);
	return 0;
}

static int sockaddr_for(const char *path, struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (!path[0] || strlen(path) >= sizeof(a->sun_path))
		return -ENAMETOOLONG;
	strcpy(a->sun_path, path);
	return 0;
}

int mig_listen(const char *path)
{
	struct sockaddr_un a;
	int fd, r;

	r = sockaddr_for(path, &a);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int mig_connect(const char *path)
{
	struct sockaddr_un a;
	int fd, r;

	r = sockaddr_for(path, &a);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int mig_accept(int lfd, int timeout_ms)
{
	int r = wait_fd(lfd, POLLIN, timeout_ms), fd;

	if (r < 0)
		return r;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* ---- live migration (--migrate-to, --migrate-listen; the stream is in migrate.h) ---- */

#define MIG_START_TIMEOUT_MS 30000 /* for the destination to start the guest */
#define MIG_MAX_ROUNDS 20        /* the stop-and-copy bound for a guest that keeps dirtying */
/*
 * A round looks at what the guest dirtied in at least this long: a round
 * that takes microseconds would always look converged, even for a guest
 * that dirties everything it touches within a few milliseconds.
 */
#define MIG_ROUND_MIN_S 0.010
#define MIG_MAX_STATE (1ull << 30)

struct mig_stats {
	uint64_t bytes, pages, zero_pages;
	unsigned int rounds;
	uint64_t last_dirty;
	double send_s; /* time spent reading and sending pages, not finding them */
};

/*
 * Sends RAM pages [first, first + n) (memfd page numbers): non-zero runs as
 * MIG_PAGES, zero runs as MIG_ZERO unless `skip_zero` (the destination
 * starts with zeros, so the first round never sends them).
 */
static int mig_send_range(struct pc *pc, int sock, uint64_t first, uint64_t n, bool skip_zero,
			  struct mig_stats *st)
{
	uint64_t p = first, end = first + n;
	double t = now_s();
	int r = 0;

	while (p < end) {
		bool zero = vmstate_page_is_zero(pc->ram_map + p * MIG_PAGE);
		uint64_t q = p + 1;

		while (q < end && q - p < MIG_MAX_RUN &&
		       vmstate_page_is_zero(pc->ram_map + q * MIG_PAGE) == zero)
			q++;
		if (zero) {
			st->zero_pages += q - p;
			if (!skip_zero) {
				r = mig_send_hdr(sock, MIG_ZERO, (uint32_t)(q - p), p * MIG_PAGE,
						 MIG_TIMEOUT_MS);
				if (r < 0)
					break;
				st->bytes += sizeof(struct mig_hdr);
			}
		} else {
			r = mig_send_hdr(sock, MIG_PAGES, (uint32_t)(q - p), p * MIG_PAGE,
					 MIG_TIMEOUT_MS);
			if (!r)
				r = mig_send(sock, pc->ram_map + p * MIG_PAGE, (q - p) * MIG_PAGE,
					     MIG_TIMEOUT_MS);
			if (r < 0)
				break;
			st->bytes += sizeof(struct mig_hdr) + (q - p) * MIG_PAGE;
			st->pages += q - p;
		}
		p = q;
	}
	st->send_s += now_s() - t;
	return r;
}

static bool bit(const uint8_t *map, uint64_t i)
{
	return (map[i / 8] >> (i % 8)) & 1;
}

/* Whether bits [i, i + 64) of `map` are all clear (i a multiple of 8). */
static bool word_clear(const uint8_t *map, uint64_t i)
{
	uint64_t w;

	memcpy(&w, map + i / 8, sizeof(w));
	return !w;
}

/*
 * One pre-copy round: the pages KVM logged as written since the last one,
 * plus those the plugin wrote itself (fw_cfg DMA).  With sock -1 the logs
 * are only cleared.  *ndirty gets the number of dirty pages.  `locked`: the
 * caller holds the models' lock (which guards plugin_dirty).
 */
static int mig_dirty_round(struct pc *pc, int sock, struct mig_stats *st, uint64_t *ndirty,
			   bool locked)
{
	const struct pc_memory *m = &pc->mem;
	const struct {
		struct crosvm_memory *obj;
		uint64_t off, len;
	} objs[] = {
		{ m->low, 0, 0xa0000 },
		{ m->mid, PC_SHADOW_END, m->below_4g - PC_SHADOW_END },
		{ m->high, m->below_4g, m->above_4g },
	};
	uint64_t total = 0, pages, i, run;
	unsigned int k;
	int r = 0;

	for (k = 0; k < sizeof(objs) / sizeof(objs[0]) && !r; k++) {
		if (!objs[k].obj)
			continue;
		pages = objs[k].len / MIG_PAGE;
		memset(pc->mig_bitmap, 0, (pages + 7) / 8);
		r = crosvm_memory_get_dirty_log(pc->crosvm, objs[k].obj, pc->mig_bitmap);
		if (r < 0)
			return r;
		if (!locked)
			pthread_mutex_lock(&pc->lock);
		for (i = 0; i < pages; i++) {
			uint64_t pg = objs[k].off / MIG_PAGE + i;

			/* A 16 GiB guest has 4 Mi pages: skip the clear words whole. */
			if (!(pg % 64) && i + 64 <= pages && word_clear(pc->plugin_dirty, pg)) {
				i += 63;
				continue;
			}
			if (bit(pc->plugin_dirty, pg)) {
				pc->mig_bitmap[i / 8] |= (uint8_t)(1u << (i % 8));
				pc->plugin_dirty[pg / 8] &= (uint8_t)~(1u << (pg % 8));
			}
		}
		if (!locked)
			pthread_mutex_unlock(&pc->lock);
		for (i = 0; i < pages && !r; i += run) {
			run = 1;
			if (!(i % 64) && i + 64 <= pages && word_clear(pc->mig_bitmap, i)) {
				run = 64;
				continue;
			}
			if (!bit(pc->mig_bitmap, i))
				continue;
			while (i + run < pages && bit(pc->mig_bitmap, i + run))
				run++;
			total += run;
			if (sock >= 0)
				r = mig_send_range(pc, sock, objs[k].off / MIG_PAGE + i, run, false, st);
		}
	}
	*ndirty = total;
	return r;
}

/* The first round: every page that is not zero (a memfd's holes unread). */
static int mig_first_round(struct pc *pc, int sock, struct mig_stats *st)
{
	uint64_t off = 0, start, end, size = pc->mem.ram_size;
	int r;

	while (off < size) {
		vmstate_data_extent(pc->mem.ram_fd, off, size, &start, &end);
		if (start >= size)
			break;
		r = mig_send_range(pc, sock, start / MIG_PAGE, (end - start) / MIG_PAGE, true, st);
		if (r < 0)
			return r;
		off = end;
	}
	return 0;
}

/* The stop-and-copy: vcpus parked and models locked by the caller. */
static int mig_final(struct pc *pc, int sock, struct mig_stats *st, char *err, size_t errlen)
{
	struct vm_state vm;
	uint64_t n, size;
	uint8_t *blob;
	int fd, r;

	r = mig_dirty_round(pc, sock, st, &n, true);
	if (!r)
		r = mig_send_range(pc, sock, PC_SHADOW_START / MIG_PAGE,
				   (PC_SHADOW_END - PC_SHADOW_START) / MIG_PAGE, false, st);
	if (r < 0) {
		snprintf(err, errlen, "sending the last pages: %s", strerror(-r));
		return r;
	}
	st->last_dirty = n;
	r = vm_state_get(pc->crosvm, &vm);
	if (r < 0) {
		snprintf(err, errlen, "reading the VM state: %s", strerror(-r));
		return r;
	}
	fd = memfd_create("pc-migration-state", MFD_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "memfd: %s", strerror(errno));
		return -errno;
	}
	r = write_machine(pc, &vm, fd, false);
	size = r < 0 ? 0 : (uint64_t)lseek(fd, 0, SEEK_END);
	blob = r < 0 ? MAP_FAILED : mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (blob == MAP_FAILED) {
		snprintf(err, errlen, "writing the machine state: %s",
			 strerror(r < 0 ? -r : errno));
		return r < 0 ? r : -ENOMEM;
	}
	r = mig_send_hdr(sock, MIG_STATE, 0, size, MIG_TIMEOUT_MS);
	if (!r)
		r = mig_send(sock, blob, size, MIG_TIMEOUT_MS);
	munmap(blob, size);
	st->bytes += sizeof(struct mig_hdr) + size;
	if (r < 0)
		snprintf(err, errlen, "sending the machine state: %s", strerror(-r));
	return r;
}

/*
 * --migrate-to: pre-copy while the guest runs, then stop and copy.  On
 * success the run ends with status 0; on any failure the guest goes on here.
 */
int migrate_machine(struct pc *pc)
{
	const char *path = pc->opt.migrate_to;
	struct mig_stats st = { 0 };
	double t0 = now_s(), tstop = 0, round_start, sent_before, scan_s, rate;
	uint8_t hello[8];
	struct mig_hdr h;
	char err[300] = "";
	bool parked = false;
	uint64_t n = 0;
	int sock, r;

	r = map_guest_ram(pc);
	if (r < 0) {
		say("migration to %s: mapping guest RAM: %s; the guest goes on here", path,
		    strerror(-r));
		return r;
	}
	sock = mig_connect(path);
	if (sock < 0) {
		say("migration to %s: cannot connect: %s; the guest goes on here", path,
		    strerror(-sock));
		return sock;
	}
	for (unsigned int i = 0; i < 8; i++)
		hello[i] = (uint8_t)(pc->mem.rom_size >> (8 * i));
	r = mig_send(sock, MIG_MAGIC, 8, MIG_TIMEOUT_MS);
	if (!r)
		r = mig_send_hdr(sock, MIG_HELLO, MIG_VERSION, pc->mem.ram_size, MIG_TIMEOUT_MS);
	if (!r)
		r = mig_send(sock, hello, sizeof(hello), MIG_TIMEOUT_MS);
	/* The log starts now: what the guest writes from here on goes again. */
	round_start = now_s();
	if (!r)
		r = mig_dirty_round(pc, -1, &st, &n, false);
	if (!r)
		r = mig_first_round(pc, sock, &st);
	if (r < 0) {
		snprintf(err, sizeof(err), "first round: %s", strerror(-r));
		goto fail;
	}
	for (st.rounds = 1; st.rounds < MIG_MAX_ROUNDS; st.rounds++) {
		double wait = round_start + MIG_ROUND_MIN_S - now_s();

		if (wait > 0) {
			struct timespec ts = { 0, (long)(wait * 1e9) };

			nanosleep(&ts, NULL);
		}
		round_start = now_s();
		sent_before = st.send_s;
		r = mig_dirty_round(pc, sock, &st, &n, false);
		if (r < 0) {
			snprintf(err, sizeof(err), "round %u: %s", st.rounds + 1, strerror(-r));
			goto fail;
		}
		/*
		 * Converged when finding the dirty pages (the dirty log and the
		 * bitmap walk, which the stop-and-copy repeats) plus sending what
		 * the last round found, at the rate seen so far, fit in half the
		 * allowed downtime (the other half is for the state and the
		 * destination's start).
		 */
		scan_s = now_s() - round_start - (st.send_s - sent_before);
		rate = (double)st.bytes / (st.send_s > 1e-6 ? st.send_s : 1e-6);
		if (scan_s + (double)n * MIG_PAGE / rate <= pc->opt.migrate_downtime / 2e3)
			break;
	}
	if (pc->opt.verbose)
		say("migration: %u pre-copy rounds, the last with %" PRIu64 " dirty pages",
		    st.rounds, n);
	tstop = now_s();
	r = park_vcpus(pc, err, sizeof(err));
	if (r < 0)
		goto fail;
	parked = true;
	pthread_mutex_lock(&pc->lock);
	r = mig_final(pc, sock, &st, err, sizeof(err));
	pthread_mutex_unlock(&pc->lock);
	if (r < 0)
		goto fail;
	r = mig_recv_hdr(sock, &h, MIG_START_TIMEOUT_MS);
	if (r < 0 || h.type != MIG_RUNNING) {
		snprintf(err, sizeof(err), "the destination did not start the guest (%s)",
			 r < 0 ? strerror(-r) : "unexpected answer");
		r = r < 0 ? r : -EPROTO;
		goto fail;
	}
	close(sock);
	pc->saved = true;
	unpark(pc, PARK_LEAVE);
	say("migrated to %s: %u rounds%s, %.1f MiB sent (%" PRIu64 " pages, %" PRIu64
	    " zero pages not sent), downtime %.1f ms, total %.3f s",
	    path, st.rounds + 1, st.rounds >= MIG_MAX_ROUNDS ? " (stop-and-copy bound)" : "",
	    (double)st.bytes / (1 << 20), st.pages, st.zero_pages, (now_s() - tstop) * 1e3,
	    now_s() - t0);
	return 0;

fail:
	if (parked)
		unpark(pc, PARK_RESUME);
	close(sock);
	say("migration to %s failed: %s; the guest goes on here", path, err);
	return r < 0 ? r : -EIO;
}

/* Marks pages the plugin itself wrote into guest RAM (called with the models' lock). */
void mark_plugin_dirty(struct pc *pc, uint64_t off, uint64_t len)
{
	uint64_t p;

	if (!pc->plugin_dirty || !len)
		return;
	for (p = off / MIG_PAGE; p <= (off + len - 1) / MIG_PAGE; p++)
		pc->plugin_dirty[p / 8] |= (uint8_t)(1u << (p % 8));
}

/*
 * --migrate-listen: one connection, guest RAM straight into a new memfd,
 * then the machine state, loaded as a snapshot.  Nothing reaches KVM before
 * the whole stream is in and checked.
 */
int receive_migration(struct pc *pc, char *err, size_t errlen)
{
	const char *path = pc->opt.migrate_listen;
	uint8_t magic[8], rom[8];
	struct mig_hdr h;
	uint64_t ram, rom_size = 0, got_pages = 0;
	int lfd, sock, r, state_fd;
	uint8_t *state;
	double t0;

	lfd = mig_listen(path);
	if (lfd < 0) {
		snprintf(err, errlen, "--migrate-listen %s: %s", path, strerror(-lfd));
		return lfd;
	}
	say("waiting for a migration on %s", path);
	sock = mig_accept(lfd, pc->opt.timeout > 0 ? (int)(pc->opt.timeout * 1000) : -1);
	close(lfd);
	unlink(path);
	if (sock < 0) {
		snprintf(err, errlen, "--migrate-listen %s: %s", path,
			 sock == -ETIMEDOUT ? "no source came" : strerror(-sock));
		return sock;
	}
	t0 = now_s();
	r = mig_recv(sock, magic, sizeof(magic), MIG_TIMEOUT_MS);
	if (!r && memcmp(magic, MIG_MAGIC, 8))
		r = -EPROTO;
	if (!r)
		r = mig_recv_hdr(sock, &h, MIG_TIMEOUT_MS);
	if (!r && (h.type != MIG_HELLO || h.count != MIG_VERSION))
		r = -EPROTO;
	if (!r)
		r = mig_recv(sock, rom, sizeof(rom), MIG_TIMEOUT_MS);
	ram = h.offset;
	for (unsigned int i = 0; i < 8; i++)
		rom_size |= (uint64_t)rom[i] << (8 * i);
	if (!r && (ram < (16ull << 20) || ram > (1ull << 40) || ram % (1u << 20) ||
		   rom_size < 0x10000 || rom_size > (16u << 20) || rom_size % MIG_PAGE))
		r = -EPROTO;
	if (r < 0) {
		snprintf(err, errlen, "migration: %s", r == -EPROTO ? "not a pc migration stream"
								  : strerror(-r));
		close(sock);
		return r;
	}
	r = memory_create(&pc->mem, ram, rom_size);
	if (!r)
		r = map_guest_ram(pc);
	if (r < 0) {
		snprintf(err, errlen, "migration: guest memory: %s", strerror(-r));
		close(sock);
		return r;
	}
	for (;;) {
		r = mig_recv_hdr(sock, &h, MIG_TIMEOUT_MS);
		if (r < 0)
			break;
		if (h.type == MIG_PAGES || h.type == MIG_ZERO) {
			if (h.offset % MIG_PAGE || !h.count || h.count > MIG_MAX_RUN ||
			    h.offset > ram || (uint64_t)h.count * MIG_PAGE > ram - h.offset) {
				r = -EPROTO;
				break;
			}
			if (h.type == MIG_ZERO) {
				memset(pc->ram_map + h.offset, 0, (size_t)h.count * MIG_PAGE);
				continue;
			}
			r = mig_recv(sock, pc->ram_map + h.offset, (size_t)h.count * MIG_PAGE,
				     MIG_TIMEOUT_MS);
			if (r < 0)
				break;
			got_pages += h.count;
			continue;
		}
		if (h.type != MIG_STATE || !h.offset || h.offset > MIG_MAX_STATE)
			r = -EPROTO;
		break;
	}
	if (r < 0) {
		snprintf(err, errlen, "migration: %s",
			 r == -EPROTO ? "bad migration stream" : strerror(-r));
		close(sock);
		return r;
	}
	state_fd = memfd_create("pc-migration-state", MFD_CLOEXEC);
	if (state_fd < 0 || ftruncate(state_fd, (off_t)h.offset) < 0) {
		snprintf(err, errlen, "migration: memfd: %s", strerror(errno));
		close(sock);
		return -ENOMEM;
	}
	state = mmap(NULL, h.offset, PROT_READ | PROT_WRITE, MAP_SHARED, state_fd, 0);
	r = state == MAP_FAILED ? -errno : mig_recv(sock, state, h.offset, MIG_TIMEOUT_MS);
	if (state != MAP_FAILED)
		munmap(state, h.offset);
	if (r < 0) {
		snprintf(err, errlen, "migration: receiving the machine state: %s", strerror(-r));
		close(state_fd);
		close(sock);
		return r;
	}
	snprintf(pc->state_path, sizeof(pc->state_path), "/proc/self/fd/%d", state_fd);
	pc->opt.restore = pc->state_path;
	r = load_snapshot(pc, err, errlen);
	close(state_fd);
	if (r < 0) {
		close(sock);
		return r;
	}
	pc->mig_sock = sock;
	say("migration: %" PRIu64 " pages and the state received in %.3f s", got_pages,
	    now_s() - t0);
	return 0;
}
