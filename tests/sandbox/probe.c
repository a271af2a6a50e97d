// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * Escape probes, run as the jailed "plugin": each mode tries one attack (or
 * checks one property of the jail) and exits 0 if the jail held, 1 if the
 * attack worked or a property is wrong (after saying which on stderr), and
 * 2 on bad usage.  Modes that use system calls outside the default policy
 * are meant to run under tests/sandbox/permissive/plugin.policy, so that
 * they test the namespaces and capabilities rather than seccomp.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                                    \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "probe: FAIL %s:%d: ", __func__, __LINE__);         \
			fprintf(stderr, __VA_ARGS__);                                       \
			fputc('\n', stderr);                                                \
			failures++;                                                         \
		}                                                                           \
	} while (0)

static long status_field(const char *name, int base)
{
	char line[256];
	size_t n = strlen(name);
	long v = -1;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return -2;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, name, n) == 0 && line[n] == ':') {
			v = strtol(line + n + 1, NULL, base);
			break;
		}
	}
	fclose(f);
	return v;
}

static void probe_identity(int argc, char **argv)
{
	const char *sock_env = getenv("CROSVM_SOCKET");
	int sock = sock_env ? atoi(sock_env) : -1;
	char host[64] = "";
	struct rlimit rl;
	struct stat st;
	struct dirent *d;
	DIR *dir;
	int procs = 0, fd;

	CHECK(argc >= 3 && strcmp(argv[0], argv[2]) == 0, "argv[0] is '%s'", argv[0]);
	CHECK(getuid() == 0 && geteuid() == 0, "uid %d", (int)getuid());
	CHECK(getgid() == 0 && getegid() == 0, "gid %d", (int)getgid());
	CHECK(getpid() == 1, "pid %d (want 1: the plugin is init of its pid namespace)",
	      (int)getpid());
	CHECK(getppid() == 0, "ppid %d (the host must be invisible)", (int)getppid());
	gethostname(host, sizeof(host) - 1);
	CHECK(strcmp(host, "plugvm") == 0, "hostname '%s'", host);
	CHECK(status_field("CapEff", 16) == 0, "CapEff %lx", status_field("CapEff", 16));
	CHECK(status_field("CapPrm", 16) == 0, "CapPrm %lx", status_field("CapPrm", 16));
	CHECK(status_field("CapInh", 16) == 0, "CapInh %lx", status_field("CapInh", 16));
	CHECK(status_field("CapBnd", 16) == 0, "CapBnd %lx", status_field("CapBnd", 16));
	CHECK(status_field("CapAmb", 16) == 0, "CapAmb %lx", status_field("CapAmb", 16));
	CHECK(status_field("NoNewPrivs", 10) == 1, "NoNewPrivs %ld",
	      status_field("NoNewPrivs", 10));
	CHECK(status_field("Seccomp", 10) == 2, "Seccomp %ld", status_field("Seccomp", 10));
	CHECK(status_field("SigBlk", 16) == 0, "SigBlk %lx", status_field("SigBlk", 16));
	CHECK(status_field("SigIgn", 16) == 0, "SigIgn %lx", status_field("SigIgn", 16));

	CHECK(sock > 2 && fstat(sock, &st) == 0 && S_ISSOCK(st.st_mode),
	      "CROSVM_SOCKET=%s is not an open socket", sock_env ? sock_env : "(unset)");
	CHECK(fstat(0, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3),
	      "stdin is not /dev/null");
	CHECK(fstat(2, &st) == 0 && S_ISFIFO(st.st_mode), "stderr is not the capture pipe");

	dir = opendir("/proc/self/fd");
	CHECK(dir != NULL, "opendir /proc/self/fd: %m");
	while (dir && (d = readdir(dir))) {
		int n;

		if (d->d_name[0] == '.')
			continue;
		n = atoi(d->d_name);
		CHECK(n <= 2 || n == sock || n == dirfd(dir), "stray descriptor %d", n);
	}
	if (dir)
		closedir(dir);
	dir = opendir("/proc");
	while (dir && (d = readdir(dir))) {
		if (d->d_name[0] >= '1' && d->d_name[0] <= '9')
			procs++;
	}
	if (dir)
		closedir(dir);
	CHECK(procs == 1, "/proc shows %d processes (want only the plugin)", procs);

	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max <= 32768, "RLIMIT_NOFILE %llu",
	      (unsigned long long)rl.rlim_max);
	CHECK(getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_max == 512, "RLIMIT_NPROC %llu",
	      (unsigned long long)rl.rlim_max);
	CHECK(getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_max == 0, "RLIMIT_CORE %llu",
	      (unsigned long long)rl.rlim_max);

	fd = open("/plugvm-probe", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	CHECK(fd < 0 && errno == EROFS, "the jail root is writable (%m)");
	fd = open("/usr/lib/plugvm-probe", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	CHECK(fd < 0 && (errno == EROFS || errno == ENOENT), "/usr/lib is writable (%m)");
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	CHECK(fd >= 0 && write(fd, "x", 1) == 1, "/dev/null unusable: %m");
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0 && read(fd, host, 8) == 8, "/dev/urandom unusable: %m");
}

static void probe_read_file(int argc, char **argv)
{
	for (int i = 2; i < argc; i++) {
		int fd = open(argv[i], O_RDONLY | O_CLOEXEC);

		CHECK(fd < 0, "could open %s", argv[i]);
		CHECK(access(argv[i], F_OK) < 0, "%s is visible", argv[i]);
	}
}

static void probe_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	CHECK(fd < 0, "could open /dev/kvm");
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	CHECK(fd < 0, "could open /dev/net/tun");
	CHECK(mknod("/kvm", S_IFCHR | 0600, makedev(10, 232)) < 0, "could mknod /kvm");
}

static void probe_tcp(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd;

	if (argc < 3)
		exit(2);
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return; /* no socket at all is a denial too */
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0,
	      "connected to the host's 127.0.0.1:%s", argv[2]);
}

static void probe_signal_host(int argc, char **argv)
{
	pid_t host;

	if (argc < 3)
		exit(2);
	host = (pid_t)atoi(argv[2]);
	/* Our own pid 1 is us; any other number must not reach the host. */
	if (host != 1)
		CHECK(kill(host, SIGUSR1) < 0, "kill(%d) succeeded", (int)host);
	CHECK(kill(getppid(), SIGUSR1) == 0 || errno == ESRCH, "kill(getppid()): %m");
	kill(0, SIGUSR1);  /* our own process group: just us, and init ignores it */
	kill(-1, SIGUSR1); /* every process we may signal: none outside the namespace */
}

static void probe_ptrace(int argc, char **argv)
{
	pid_t host;

	if (argc < 3)
		exit(2);
	host = (pid_t)atoi(argv[2]);
	CHECK(ptrace(PTRACE_ATTACH, host, NULL, NULL) < 0, "ptrace attach %d succeeded",
	      (int)host);
	CHECK(ptrace(PTRACE_SEIZE, host, NULL, NULL) < 0, "ptrace seize %d succeeded", (int)host);
}

static void probe_mount(void)
{
	CHECK(mount("none", "/dev", "tmpfs", 0, NULL) < 0, "mounted a tmpfs");
	CHECK(mount("/usr/lib", "/dev", NULL, MS_BIND, NULL) < 0, "bind-mounted");
	CHECK(mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL) < 0, "remounted / writable");
	CHECK(umount2("/proc", MNT_DETACH) < 0, "unmounted /proc");
	CHECK(umount2("/dev/null", 0) < 0, "unmounted /dev/null");
	CHECK(chroot("/usr") < 0, "chroot worked");
	CHECK(syscall(SYS_pivot_root, "/usr", "/usr") < 0, "pivot_root worked");
}

static void probe_unshare(void)
{
	int fd;

	CHECK(unshare(CLONE_NEWUSER) < 0, "created a nested user namespace");
	CHECK(unshare(CLONE_NEWNS) < 0, "created a mount namespace");
	CHECK(unshare(CLONE_NEWNET) < 0, "created a network namespace");
	fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	CHECK(fd < 0 || setns(fd, 0) < 0, "setns worked");
	fd = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
	CHECK(fd < 0 || setns(fd, 0) < 0, "setns(user) worked");
	CHECK(setuid(1) < 0, "setuid(1) worked");
	CHECK(setgroups(0, NULL) < 0, "setgroups worked");
}

static void probe_rlimit(void)
{
	static const int res[] = { RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_CORE };

	for (size_t i = 0; i < sizeof(res) / sizeof(res[0]); i++) {
		struct rlimit rl;

		getrlimit(res[i], &rl);
		rl.rlim_max = rl.rlim_max == RLIM_INFINITY ? RLIM_INFINITY : rl.rlim_max + 1;
		rl.rlim_cur = rl.rlim_max;
		CHECK(setrlimit(res[i], &rl) < 0, "raised rlimit %d above its hard limit", res[i]);
	}
}

static void probe_forkbomb(void)
{
	int n = 0;

	/* Bounded: well above the jail's limit, so success means the limit is missing. */
	for (; n < 4096; n++) {
		pid_t pid = fork();

		if (pid == 0) {
			pause();
			_exit(0);
		}
		if (pid < 0)
			break;
	}
	fprintf(stderr, "probe: forked %d processes before the limit\n", n);
	CHECK(n < 4096, "no pid limit: %d processes", n);
	/* Our exit as pid 1 kills the rest of the namespace. */
}

struct thread_arg {
	int efd;
};

static void *probe_thread(void *p)
{
	struct thread_arg *a = p;
	uint64_t one = 1;

	if (write(a->efd, &one, sizeof(one)) != sizeof(one))
		return (void *)1;
	return NULL;
}

/* What a real plugin does, all inside the default policy. */
static void probe_benign(void)
{
	struct thread_arg a;
	struct timespec ts = { 0, 1000000 };
	pthread_t t;
	uint64_t v = 0;
	void *ret = (void *)1;
	char buf[16];
	int mfd, sv[2];
	char *mem;

	a.efd = eventfd(0, EFD_CLOEXEC);
	CHECK(a.efd >= 0, "eventfd: %m");
	CHECK(pthread_create(&t, NULL, probe_thread, &a) == 0, "pthread_create");
	CHECK(pthread_join(t, &ret) == 0 && ret == NULL, "thread failed");
	CHECK(read(a.efd, &v, sizeof(v)) == sizeof(v) && v == 1, "eventfd value %llu",
	      (unsigned long long)v);
	mfd = memfd_create("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	CHECK(mfd >= 0, "memfd_create: %m");
	CHECK(ftruncate(mfd, 0x10000) == 0, "ftruncate: %m");
	CHECK(fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK) == 0, "seal: %m");
	mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	CHECK(mem != MAP_FAILED, "mmap: %m");
	if (mem != MAP_FAILED) {
		mem[0] = 1;
		munmap(mem, 0x10000);
	}
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0, "socketpair: %m");
	CHECK(getrandom(buf, sizeof(buf), 0) == sizeof(buf), "getrandom: %m");
	CHECK(nanosleep(&ts, NULL) == 0, "nanosleep: %m");
	printf("probe: hello from the jail\n");
	fflush(stdout);
}

static void probe_wx(void)
{
	void *mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(mem == MAP_FAILED, "got a writable and executable mapping");
}

static void probe_path_writable(int argc, char **argv, bool want)
{
	char path[4096];
	int fd;

	if (argc < 3)
		exit(2);
	snprintf(path, sizeof(path), "%s/probe-was-here", argv[2]);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (want)
		CHECK(fd >= 0 && write(fd, "ok", 2) == 2, "cannot write %s: %m", path);
	else
		CHECK(fd < 0, "could write %s", path);
}

static void probe_gid_map(int argc, char **argv)
{
	char buf[512] = "";
	int fd = open("/proc/self/gid_map", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	char want[64];

	if (argc < 5)
		exit(2);
	if (n > 0)
		buf[n] = '\0';
	/* gid_map columns are padded; compare the numbers. */
	snprintf(want, sizeof(want), "%s %s %s", argv[2], argv[3], argv[4]);
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		unsigned a, b, c;
		char got[64];

		if (sscanf(line, "%u %u %u", &a, &b, &c) == 3) {
			snprintf(got, sizeof(got), "%u %u %u", a, b, c);
			if (strcmp(got, want) == 0)
				return;
		}
	}
	CHECK(0, "gid_map has no line '%s'", want);
}

/*
 * Four distinct harmless calls outside the default policy, each twice: a
 * host in --seccomp-log-failures mode must name all four, once each.
 */
static void probe_forbidden4(void)
{
	for (int i = 0; i < 2; i++) {
		syscall(SYS_personality, 0xffffffffUL);
		syscall(SYS_getpriority, 0, 0);
		syscall(SYS_getpgid, 0);
		syscall(SYS_getsid, 0);
	}
}

/* A forked child makes the forbidden call: the filter is inherited, and so is the naming. */
static int probe_forbidden_child(void)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return 1;
	if (pid == 0) {
		/* Outside the default and the permissive test policy alike. */
		syscall(SYS_getsid, 0);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid)
		return 1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

/* --plugin-stdin: the host's stdin (here a file) arrives whole; tcsetattr passes the filter. */
static void probe_stdin(int argc, char **argv)
{
	char buf[256];
	size_t len = 0;
	ssize_t n;
	struct termios t;

	if (argc < 3)
		exit(2);
	while (len < sizeof(buf) - 1 && (n = read(STDIN_FILENO, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	CHECK(strcmp(buf, argv[2]) == 0, "stdin gave '%s', want '%s'", buf, argv[2]);
	memset(&t, 0, sizeof(t));
	CHECK(tcgetattr(STDIN_FILENO, &t) < 0 && errno == ENOTTY, "tcgetattr on a file: %m");
	CHECK(tcsetattr(STDIN_FILENO, TCSANOW, &t) < 0 && errno == ENOTTY, "tcsetattr on a file: %m");
}

int main(int argc, char **argv)
{
	const char *mode;

	if (argc < 2) {
		fprintf(stderr, "usage: probe MODE [ARGS...]\n");
		return 2;
	}
	mode = argv[1];
	if (strcmp(mode, "identity") == 0)
		probe_identity(argc, argv);
	else if (strcmp(mode, "read-file") == 0)
		probe_read_file(argc, argv);
	else if (strcmp(mode, "kvm") == 0)
		probe_kvm();
	else if (strcmp(mode, "tcp") == 0)
		probe_tcp(argc, argv);
	else if (strcmp(mode, "signal-host") == 0)
		probe_signal_host(argc, argv);
	else if (strcmp(mode, "ptrace") == 0)
		probe_ptrace(argc, argv);
	else if (strcmp(mode, "mount") == 0)
		probe_mount();
	else if (strcmp(mode, "unshare") == 0)
		probe_unshare();
	else if (strcmp(mode, "rlimit") == 0)
		probe_rlimit();
	else if (strcmp(mode, "forkbomb") == 0)
		probe_forkbomb();
	else if (strcmp(mode, "benign") == 0)
		probe_benign();
	else if (strcmp(mode, "wx") == 0)
		probe_wx();
	else if (strcmp(mode, "forbidden") == 0)
		syscall(SYS_personality, 0xffffffffUL); /* harmless query, not in the policy */
	else if (strcmp(mode, "forbidden4") == 0)
		probe_forbidden4();
	else if (strcmp(mode, "forbidden-child") == 0)
		return probe_forbidden_child();
	else if (strcmp(mode, "writable") == 0)
		probe_path_writable(argc, argv, true);
	else if (strcmp(mode, "readonly") == 0)
		probe_path_writable(argc, argv, false);
	else if (strcmp(mode, "gid-map") == 0)
		probe_gid_map(argc, argv);
	else if (strcmp(mode, "stdin") == 0)
		probe_stdin(argc, argv);
	else if (strcmp(mode, "ping") == 0)
		return getenv("CROSVM_SOCKET") &&
		       write(atoi(getenv("CROSVM_SOCKET")), "x", 1) == 1 ? 0 : 1;
	else if (strcmp(mode, "sleep") == 0)
		sleep(60);
	else if (strcmp(mode, "exit") == 0)
		return argc > 2 ? atoi(argv[2]) : 0;
	else
		return 2;
	return failures ? 1 : 0;
}
