/* SPDX-License-Identifier: MIT */
/*
 * files.h - pexos-run's --file, --output and --save-to (SPEC §6).
 *
 * The response is untrusted input here: a path it names is written under
 * the --save-to directory only when it is relative and has no empty, "."
 * or ".." component, one component at a time with O_NOFOLLOW, so that
 * neither a crafted path nor a symlink already in the directory can make
 * pexos-run write outside it.
 */
#ifndef PEXOS_CLI_FILES_H
#define PEXOS_CLI_FILES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* What the command line asks for. */
struct cli_files {
	const char **files; /* --file arguments, PATH[=NAME] */
	size_t n_files;
	const char **outputs; /* --output patterns */
	size_t n_outputs;
	const char *save_to; /* --save-to DIR, or NULL */
};

/* Adds an argument to `list`. Returns 0 or -ENOMEM. */
int cli_files_push(const char ***list, size_t *n, const char *arg);

/* Appends the --file files to req's "files" and the --output patterns to
 * its "outputs". Returns 0, 1 with *ret_msg (a malloc'd message for an
 * InvalidRequest response: a file that cannot be read) or -ENOMEM. */
int cli_files_add(const struct cli_files *f, json_t *req, char **ret_msg);

/* Writes the response's files and figures under f->save_to (plus `sub`,
 * the script's name in a batch, when not NULL) and replaces each
 * "content_base64" by "saved_to", the local path. A file whose path is not
 * safe, or that cannot be written, gets "not_saved" (why) instead. On
 * success *ret_resp is the new response text (free()); returns 0 when all
 * was saved, 1 when something was not (the caller exits 3), -ENOMEM.
 * `resp` is not changed. */
int cli_files_save(const struct cli_files *f, const char *sub,
		   const char *resp, char **ret_resp);

#endif
