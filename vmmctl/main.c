/* main.c: vmmctl, the command-line client of vmmd(8). */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmmctl.h"

int
main(int argc, char **argv)
{
	struct ctl_args a;
	char err[256];
	int rc;

	if (args_parse(argc, argv, &a, err, sizeof(err)) != 0) {
		fprintf(stderr, "vmmctl: %s\n", err);
		args_usage(stderr, a.cmd);
		return CTL_EXIT_USAGE;
	}
	if (a.commands) {
		args_commands(stdout);
		rc = CTL_EXIT_OK;
	} else if (a.help) {
		args_help(stdout, a.cmd);
		rc = CTL_EXIT_OK;
	} else
		rc = cmd_main(&a);
	/* What was printed must have reached its file (a full disk...). */
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "vmmctl: standard output: %s\n",
		    strerror(errno));
		if (rc == CTL_EXIT_OK)
			rc = CTL_EXIT_ERROR;
	}
	return rc;
}
