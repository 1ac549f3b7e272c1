/* SPDX-License-Identifier: MIT */
#include "job.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "util.h"

/* Room for one entry of the channel header's "files": its path escaped as
 * JSON (at worst 6 bytes a byte) and the rest of the entry. */
#define ENTRY_ROOM (PLAN_PATH_MAX * 6 + 256)

/* The job's bytes, gathered into few writes: a memory file's write costs
 * a system call whatever its size. */
struct out {
	int fd, r;
	size_t n;
	char buf[4096];
};

static void flush(struct out *o)
{
	if (o->r == 0 && o->n)
		o->r = write_all(o->fd, o->buf, o->n);
	o->n = 0;
}

static void put(struct out *o, const void *data, size_t len)
{
	if (!len)
		return;
	if (o->n + len > sizeof(o->buf))
		flush(o);
	if (o->r < 0)
		return;
	if (len > sizeof(o->buf)) {
		o->r = write_all(o->fd, data, len);
		return;
	}
	memcpy(o->buf + o->n, data, len);
	o->n += len;
}

static void put_num(struct out *o, uint64_t v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%" PRIu64, v);

	put(o, buf, (size_t)n + 1); /* with its NUL */
}

static void put_str(struct out *o, const char *s)
{
	put(o, s, strlen(s) + 1);
}

/* The header fields, in the order of job.h. */
static void put_header(struct out *o, const struct pexos_options *opts,
		       const struct run_plan *plan)
{
	uint64_t head[] = {
	    plan->script_len, plan->figures ? opts->figures : 0,
	    opts->figure_max,    opts->out_file_max,
	    opts->out_files_max, PLAN_OUT_ENTRIES_MAX,
	};

	put(o, JOB_MAGIC, JOB_MAGIC_LEN);
	for (size_t i = 0; i < ELEMENTSOF(head); i++)
		put_num(o, head[i]);
	put_num(o, plan->n_outputs);
	for (size_t i = 0; i < plan->n_outputs; i++)
		put_str(o, plan->outputs[i]);
	put_num(o, plan->n_files);
	for (size_t i = 0; i < plan->n_files; i++) {
		put_str(o, plan->files[i].path);
		put_num(o, plan->files[i].len);
	}
}

int job_memfd(const struct pexos_options *o, const struct run_plan *plan)
{
	_cleanup_close_ int fd = memfd_create("pexos-script", MFD_CLOEXEC);
	struct out out = {.fd = fd};

	if (fd < 0)
		return -errno;
	put_header(&out, o, plan);
	put(&out, plan->script, plan->script_len);
	for (size_t i = 0; i < plan->n_files; i++)
		put(&out, plan->files[i].data, plan->files[i].len);
	flush(&out);
	if (out.r < 0)
		return out.r;
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
