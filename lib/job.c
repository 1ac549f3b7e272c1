/* SPDX-License-Identifier: MIT */
#include "job.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "util.h"

/* Room for one entry of the channel header's "files": its path escaped as
 * JSON (at worst 6 bytes a byte) and the rest of the entry. */
#define ENTRY_ROOM (PLAN_PATH_MAX * 6 + 256)

static int put_num(int fd, uint64_t v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%" PRIu64, v);

	return write_all(fd, buf, (size_t)n + 1); /* with its NUL */
}

static int put_str(int fd, const char *s)
{
	return write_all(fd, s, strlen(s) + 1);
}

/* The header fields, in the order of job.h. */
static int put_header(int fd, const struct pexos_options *o,
		      const struct run_plan *plan)
{
	uint64_t head[] = {
	    plan->script_len, plan->figures ? o->figures : 0,
	    o->figure_max,    o->out_file_max,
	    o->out_files_max, PLAN_OUT_ENTRIES_MAX,
	};
	int r = write_all(fd, JOB_MAGIC, JOB_MAGIC_LEN);

	for (size_t i = 0; r == 0 && i < ELEMENTSOF(head); i++)
		r = put_num(fd, head[i]);
	if (r == 0)
		r = put_num(fd, plan->n_outputs);
	for (size_t i = 0; r == 0 && i < plan->n_outputs; i++)
		r = put_str(fd, plan->outputs[i]);
	if (r == 0)
		r = put_num(fd, plan->n_files);
	for (size_t i = 0; r == 0 && i < plan->n_files; i++) {
		r = put_str(fd, plan->files[i].path);
		if (r == 0)
			r = put_num(fd, plan->files[i].len);
	}
	return r;
}

int job_memfd(const struct pexos_options *o, const struct run_plan *plan)
{
	_cleanup_close_ int fd = memfd_create("pexos-script", MFD_CLOEXEC);
	int r;

	if (fd < 0)
		return -errno;
	r = put_header(fd, o, plan);
	if (r == 0)
		r = write_all(fd, plan->script, plan->script_len);
	for (size_t i = 0; r == 0 && i < plan->n_files; i++)
		r = write_all(fd, plan->files[i].data, plan->files[i].len);
	if (r < 0)
		return r;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	return TAKE_FD(fd);
}

size_t job_channel_max(const struct pexos_options *o,
		       const struct run_plan *plan)
{
	size_t max = o->result_max + 65536;

	if (plan && plan->n_outputs)
		max += o->out_files_max +
		       (size_t)PLAN_OUT_ENTRIES_MAX * ENTRY_ROOM;
	if (!plan || plan->figures)
		max += o->figures * (o->figure_max + 32);
	return max;
}

json_t *job_limits(const struct pexos_options *o, const struct run_plan *plan)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "in_files",
			 (json_int_t)o->in_files, "in_files_max",
			 (json_int_t)o->in_files_max, "out_file_max",
			 (json_int_t)o->out_file_max, "out_files_max",
			 (json_int_t)o->out_files_max, "figures",
			 (json_int_t)(plan && !plan->figures ? 0 : o->figures),
			 "figure_max", (json_int_t)o->figure_max);
}
