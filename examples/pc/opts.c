// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * The pc example's command line.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "machine.h"
#include "migrate.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pc [--bios FILE] [--mem MIB] [--disk IMAGE [--disk-writable]] [--timeout SECONDS]\n"
		"          [--expect TEXT] [--stay] [--quiet] [--verbose] [--no-fw-cfg]\n"
		"          [--boot-menu] [--sercon] [--sync-debugcon] [--no-stdin] [--no-reboot]\n"
		"          [--rtc-thread]\n"
		"          [--kernel BZIMAGE [--initrd FILE] [--append CMDLINE]]\n"
		"          [--save FILE [--save-after SECONDS]] [--restore FILE]\n"
		"          [--migrate-to PATH [--migrate-after SECONDS]] [--migrate-listen PATH]\n"
		"  --bios FILE       firmware image (default " DEFAULT_BIOS ")\n"
		"  --mem MIB         guest RAM in MiB (default 128, at least 16)\n"
		"  --disk IMAGE      ATA disk on the primary channel (writes stay in memory)\n"
		"  --disk-writable   guest writes to the disk go to IMAGE\n"
		"  --no-stdin        COM1 receives nothing (stdin is not read)\n"
		"  --no-reboot       a guest reset ends the run instead of rebooting\n"
		"  --rtc-thread      time the RTC on a thread of its own, not on vcpu 0's\n"
		"  --kernel BZIMAGE  boot Linux through fw_cfg and the linuxboot option ROM\n"
		"  --initrd FILE     initial ramdisk for --kernel\n"
		"  --append CMDLINE  kernel command line for --kernel\n"
		"  --linuxboot-rom F option ROM (default " DEFAULT_LINUXBOOT_ROM ")\n"
		"  --timeout S       give up after S seconds (exit 1 unless TEXT was seen)\n"
		"  --expect TEXT     success text in the console output (default \"" DEFAULT_EXPECT
		"\")\n"
		"  --stay            keep running after TEXT (until timeout or VM stop)\n"
		"  --quiet           do not copy the console to stdout\n"
		"  --verbose         log PAM changes and timings on stderr\n"
		"  --no-fw-cfg       no fw_cfg: the firmware reads the RAM size from CMOS\n"
		"  --boot-menu       let SeaBIOS offer its boot menu (fw_cfg only)\n"
		"  --sercon          ask SeaBIOS to mirror its screen on COM1 (fw_cfg only)\n"
		"  --sync-debugcon   keep port 0x402 a synchronous range (slower)\n"
		"  --save FILE       on SIGUSR1 (or after --save-after S), write the machine to\n"
		"                    FILE and exit 0\n"
		"  --save-after S    save S seconds after the start\n"
		"  --restore FILE    run the machine saved in FILE (memory size, firmware, kernel\n"
		"                    and disk come from it; the host must give the same --cpus)\n"
		"  --migrate-to PATH on SIGUSR1 (or after --migrate-after S), live-migrate to the\n"
		"                    pc listening on the unix socket PATH and exit 0\n"
		"  --migrate-after S migrate S seconds after the start\n"
		"  --migrate-downtime MS  end the pre-copy once the rest fits in MS (default 50);\n"
		"                    after 20 rounds the guest is stopped regardless\n"
		"  --migrate-listen PATH  wait on PATH for a migrating machine and run it\n");
}

int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "bios", required_argument, NULL, 'b' },
		{ "mem", required_argument, NULL, 'm' },
		{ "disk", required_argument, NULL, 'd' },
		{ "timeout", required_argument, NULL, 't' },
		{ "expect", required_argument, NULL, 'e' },
		{ "stay", no_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "no-fw-cfg", no_argument, NULL, 'F' },
		{ "boot-menu", no_argument, NULL, 'M' },
		{ "sercon", no_argument, NULL, 'S' },
		{ "sync-debugcon", no_argument, NULL, 'D' },
		{ "no-stdin", no_argument, NULL, 'N' },
		{ "no-reboot", no_argument, NULL, 'r' },
		{ "rtc-thread", no_argument, NULL, 'C' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "append", required_argument, NULL, 'a' },
		{ "linuxboot-rom", required_argument, NULL, 'R' },
		{ "disk-writable", no_argument, NULL, 'W' },
		{ "save", required_argument, NULL, 'O' },
		{ "save-after", required_argument, NULL, 'A' },
		{ "restore", required_argument, NULL, 'I' },
		{ "migrate-to", required_argument, NULL, 'T' },
		{ "migrate-after", required_argument, NULL, 'U' },
		{ "migrate-listen", required_argument, NULL, 'L' },
		{ "migrate-downtime", required_argument, NULL, 'X' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *machine_opt = NULL; /* the first option that shapes a new machine */
	char *end;
	int c;

	o->bios = DEFAULT_BIOS;
	o->expect = DEFAULT_EXPECT;
	o->mem_mib = 128;
	o->linuxboot_rom = DEFAULT_LINUXBOOT_ROM;
	o->migrate_downtime = MIG_DEFAULT_DOWNTIME_MS;
	/* Sandboxed hosts may start us with argc 0 (docs/protocol.md §7.13). */
	if (argc < 1)
		return 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			o->bios = optarg;
			machine_opt = machine_opt ? machine_opt : "--bios";
			break;
		case 'm':
			machine_opt = machine_opt ? machine_opt : "--mem";
			errno = 0;
			o->mem_mib = strtoull(optarg, &end, 10);
			if (errno || *end || o->mem_mib < 16 || o->mem_mib > (1ull << 20)) {
				fprintf(stderr,
					"pc: --mem: '%s' is not a size in MiB (16..1048576)\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'd':
			o->disk = optarg;
			break;
		case 't':
			errno = 0;
			o->timeout = strtod(optarg, &end);
			if (errno || *end || !(o->timeout >= 0) || o->timeout > 1e6) {
				fprintf(stderr, "pc: --timeout: '%s' is not a number of seconds\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'e':
			if (strlen(optarg) >= LINE_MAX_KEEP) {
				fprintf(stderr, "pc: --expect: text too long\n");
				return -EINVAL;
			}
			o->expect = optarg;
			break;
		case 's':
			o->stay = true;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'F':
			o->no_fwcfg = true;
			break;
		case 'M':
			o->boot_menu = true;
			break;
		case 'S':
			o->sercon = true;
			break;
		case 'D':
			o->sync_debugcon = true;
			break;
		case 'N':
			o->no_stdin = true;
			break;
		case 'r':
			o->no_reboot = true;
			break;
		case 'C':
			o->rtc_thread = true;
			break;
		case 'k':
			o->kernel = optarg;
			break;
		case 'i':
			o->initrd = optarg;
			break;
		case 'a':
			o->append = optarg;
			break;
		case 'R':
			o->linuxboot_rom = optarg;
			break;
		case 'W':
			o->disk_writable = true;
			break;
		case 'O':
			o->save = optarg;
			break;
		case 'A':
		case 'U':
		case 'X': {
			double *d = c == 'A' ? &o->save_after
				    : c == 'U' ? &o->migrate_after : &o->migrate_downtime;

			errno = 0;
			*d = strtod(optarg, &end);
			if (errno || *end || !(*d > 0) || *d > 1e6) {
				fprintf(stderr, "pc: --%s: '%s' is not a positive number\n",
					c == 'A' ? "save-after"
					: c == 'U' ? "migrate-after" : "migrate-downtime", optarg);
				return -EINVAL;
			}
			break;
		}
		case 'T':
			o->migrate_to = optarg;
			break;
		case 'L':
			o->migrate_listen = optarg;
			break;
		case 'I':
			o->restore = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pc: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if ((o->initrd || o->append) && !o->kernel) {
		fprintf(stderr, "pc: --initrd and --append need --kernel BZIMAGE\n");
		return -EINVAL;
	}
	if (o->kernel && o->no_fwcfg) {
		fprintf(stderr, "pc: --kernel needs fw_cfg (drop --no-fw-cfg)\n");
		return -EINVAL;
	}
	if (o->disk_writable && !o->disk) {
		fprintf(stderr, "pc: --disk-writable needs --disk IMAGE\n");
		return -EINVAL;
	}
	if (o->save_after > 0 && !o->save) {
		fprintf(stderr, "pc: --save-after needs --save FILE\n");
		return -EINVAL;
	}
	if (o->migrate_after > 0 && !o->migrate_to) {
		fprintf(stderr, "pc: --migrate-after needs --migrate-to PATH\n");
		return -EINVAL;
	}
	if (o->migrate_to && o->save) {
		fprintf(stderr, "pc: --save and --migrate-to do not go together\n");
		return -EINVAL;
	}
	if (o->migrate_listen && o->restore) {
		fprintf(stderr, "pc: --restore and --migrate-listen do not go together\n");
		return -EINVAL;
	}
	if (o->restore || o->migrate_listen) {
		if (!machine_opt && o->kernel)
			machine_opt = "--kernel";
		if (!machine_opt && (o->no_fwcfg || o->boot_menu || o->sercon))
			machine_opt = o->no_fwcfg ? "--no-fw-cfg" : o->boot_menu ? "--boot-menu" : "--sercon";
		if (machine_opt) {
			fprintf(stderr, "pc: --%s takes the machine from its %s: drop %s\n",
				o->restore ? "restore" : "migrate-listen",
				o->restore ? "file" : "source", machine_opt);
			return -EINVAL;
		}
	}
	return 0;
}
