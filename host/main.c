// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>

#include "config.h"
#include "log.h"
#include "run.h"

int main(int argc, char **argv)
{
	struct host_config cfg;
	int r, status;

	r = cli_parse(argc, argv, &cfg);
	if (r == CLI_EXIT_DONE)
		return EXIT_SUCCESS;
	if (r < 0)
		return EXIT_FAILURE;
	log_set_level(cfg.log_level);

	/* A plugin that closes its socket must not kill us with SIGPIPE (the plugin gets the
	 * default disposition back in spawn_plugin()). */
	signal(SIGPIPE, SIG_IGN);
	if (cfg.name)
		prctl(PR_SET_NAME, cfg.name);

	status = run_vm(&cfg);
	config_free(&cfg);
	return status == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
