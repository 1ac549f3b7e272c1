/* SPDX-License-Identifier: MIT */
#include "files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64.h"
#include "pexos.h"

/* Bytes of a path the CLI writes under --save-to. */
#define SAVE_PATH_MAX 4096
/* Directory levels --file descends into. */
#define DEPTH_MAX 32

int cli_files_push(const char ***list, size_t *n, const char *arg)
{
	const char **p = realloc(*list, (*n + 1) * sizeof(**list));

	if (!p)
		return -ENOMEM;
	p[(*n)++] = arg;
	*list = p;
	return 0;
}

static char *msg(const char *fmt, const char *a, const char *b)
{
	char buf[1024];

	snprintf(buf, sizeof(buf), fmt, a, b);
	return strdup(buf);
}

/* Reads a regular file whole. Returns a malloc'd buffer or NULL, errno. */
static char *slurp(int fd, size_t *ret_len)
{
	struct stat st;
	size_t len = 0;
	char *buf;

	if (fstat(fd, &st) < 0)
		return NULL;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	while (buf && len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* shrunk meanwhile: what is there */
		len += (size_t)n;
	}
	*ret_len = len;
	return buf;
}

/* A JSON string of valid UTF-8 text as "content", anything else as
 * "content_base64": byte-exact either way. */
static int add_entry(json_t *files, const char *name, const char *data,
		     size_t len)
{
	json_t *text = json_stringn(data, len), *e;
	char *b64;

	if (text) {
		e = json_pack("{s:s, s:o}", "path", name, "content", text);
	} else {
		b64 = malloc(b64_encoded_len(len) + 1);
		if (!b64)
			return -ENOMEM;
		b64_encode((const unsigned char *)data, len, b64);
		e = json_pack("{s:s, s:s}", "path", name, "content_base64",
			      b64);
		free(b64);
	}
	return e && json_array_append_new(files, e) == 0 ? 0 : -ENOMEM;
}

/* Adds the file `name` of directory fd (or, with fd AT_FDCWD, the path
 * `name`) as `as`. */
static int add_file(json_t *files, int dfd, const char *name, const char *as,
		    char **ret_msg)
{
	int fd =
	    openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	size_t len = 0;
	char *data;
	int r;

	if (fd < 0) {
		*ret_msg =
		    msg("cannot read --file '%s': %s", name, strerror(errno));
		return 1;
	}
	data = slurp(fd, &len);
	close(fd);
	if (!data) {
		*ret_msg = msg("cannot read --file '%s': %s", name,
			       errno == EINVAL ? "not a regular file"
					       : strerror(errno));
		return 1;
	}
	r = add_entry(files, as, data, len);
	free(data);
	return r;
}

/* The regular files under directory fd, named prefix/..., in name order;
 * symlinks and special files are skipped, as the sandbox would. */
static int add_dir(json_t *files, int fd, const char *prefix, int depth,
		   char **ret_msg)
{
	struct dirent **names = NULL;
	int n, r = 0;
	DIR *d;

	if (depth > DEPTH_MAX)
		return 0;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	n = scandirat(dirfd(d), ".", &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		const char *e = names[i]->d_name;
		char as[SAVE_PATH_MAX];
		struct stat st;

		if (r != 0 || strcmp(e, ".") == 0 || strcmp(e, "..") == 0 ||
		    fstatat(dirfd(d), e, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    snprintf(as, sizeof(as), "%s/%s", prefix, e) >=
			(int)sizeof(as))
			continue;
		if (S_ISREG(st.st_mode)) {
			r = add_file(files, dirfd(d), e, as, ret_msg);
		} else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), e,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					     O_CLOEXEC);
			if (sub >= 0)
				r = add_dir(files, sub, as, depth + 1, ret_msg);
		}
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return r;
}

/* PATH[=NAME]: the whole argument when such a file exists, else split at
 * the last '='. NAME defaults to PATH's last component. */
static int add_arg(json_t *files, const char *arg, char **ret_msg)
{
	char path[SAVE_PATH_MAX], name[SAVE_PATH_MAX];
	const char *eq = strrchr(arg, '='), *base;
	struct stat st;
	size_t n;

	if (snprintf(path, sizeof(path), "%s", arg) >= (int)sizeof(path))
		return *ret_msg = msg("--file '%.200s%s' is too long", arg, ""),
		       1;
	if (eq && stat(arg, &st) < 0)
		path[eq - arg] = '\0';
	n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		path[--n] = '\0';
	base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	snprintf(name, sizeof(name), "%s",
		 eq && path[eq - arg] == '\0' ? eq + 1 : base);
	if (stat(path, &st) < 0) {
		*ret_msg =
		    msg("cannot read --file '%s': %s", path, strerror(errno));
		return 1;
	}
	if (S_ISDIR(st.st_mode)) {
		int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			*ret_msg = msg("cannot read --file '%s': %s", path,
				       strerror(errno));
			return 1;
		}
		return add_dir(files, fd, name, 0, ret_msg);
	}
	return add_file(files, AT_FDCWD, path, name, ret_msg);
}

/* req[key], an array, made when missing; NULL when it is something else
 * (the library then says what is wrong with it) or out of memory. */
static json_t *array_member(json_t *req, const char *key)
{
	json_t *a = json_object_get(req, key);

	if (!a && json_object_set_new(req, key, a = json_array()) < 0)
		return NULL;
	return json_is_array(a) ? a : NULL;
}

int cli_files_add(const struct cli_files *f, json_t *req, char **ret_msg)
{
	json_t *files, *outputs;
	int r;

	if (f->n_files) {
		files = array_member(req, "files");
		for (size_t i = 0; files && i < f->n_files; i++) {
			r = add_arg(files, f->files[i], ret_msg);
			if (r != 0)
				return r;
		}
	}
	if (f->n_outputs) {
		outputs = array_member(req, "outputs");
		for (size_t i = 0; outputs && i < f->n_outputs; i++)
			if (json_array_append_new(outputs,
						  json_string(f->outputs[i])))
				return -ENOMEM;
	}
	return 0;
}

/* Why `p` may not be written under the save directory, or NULL: the rules
 * of input paths (SPEC §1), checked again because the response is not
 * trusted. */
static const char *unsafe(const char *p, size_t len)
{
	size_t start = 0;

	if (len == 0 || len > SAVE_PATH_MAX || memchr(p, '\0', len))
		return "empty, too long or with a NUL byte";
	if (p[0] == '/')
		return "an absolute path";
	for (size_t i = 0; i <= len; i++) {
		if (i < len && p[i] != '/')
			continue;
		if (i == start || (i - start == 1 && p[start] == '.') ||
		    (i - start == 2 && p[start] == '.' && p[start + 1] == '.'))
			return "an empty, \".\" or \"..\" component";
		start = i + 1;
	}
	return NULL;
}

/* Opens (making it when missing) the directory `name` under dfd, never
 * through a symlink. Returns an fd or -1, errno. */
static int open_dir(int dfd, const char *name)
{
	if (mkdirat(dfd, name, 0755) < 0 && errno != EEXIST)
		return -1;
	return openat(dfd, name,
		      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* Writes data to rel (safe, see unsafe()) under root. Returns 0 or -errno. */
static int write_under(int root, const char *rel, const unsigned char *data,
		       size_t len)
{
	char buf[SAVE_PATH_MAX + 1], *c = buf, *slash;
	int fd = dup(root), out, r = 0;
	struct stat st;

	snprintf(buf, sizeof(buf), "%s", rel);
	while (fd >= 0 && (slash = strchr(c, '/'))) {
		int sub;

		*slash = '\0';
		sub = open_dir(fd, c);
		close(fd);
		fd = sub;
		c = slash + 1;
	}
	if (fd < 0)
		return -errno;
	/* O_NONBLOCK: a FIFO planted in DIR fails (ENXIO) instead of
	 * blocking; fstat then refuses anything but a regular file. */
	out = openat(fd, c,
		     O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
			 O_NOCTTY,
		     0644);
	close(fd);
	if (out < 0)
		return -errno;
	if (fstat(out, &st) < 0 || !S_ISREG(st.st_mode) ||
	    ftruncate(out, 0) < 0)
		r = -EINVAL;
	for (size_t done = 0; r == 0 && done < len;) {
		ssize_t n = write(out, data + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = -errno;
		else
			done += (size_t)n;
	}
	if (close(out) < 0 && r == 0)
		r = -errno;
	return r;
}

/* Saves one entry's content_base64 as rel under root; shown as dir/rel.
 * Returns 0 (saved), 1 (not saved: "not_saved" says why) or -ENOMEM. */
static int save_entry(json_t *e, int root, const char *shown, const char *rel)
{
	json_t *b64 = json_object_get(e, "content_base64");
	const char *why = unsafe(rel, strlen(rel));
	unsigned char *data = NULL;
	char where[2 * SAVE_PATH_MAX + 2];
	size_t len = 0;
	int r;

	if (!json_is_string(b64))
		return 0;
	if (!why) {
		data = malloc(json_string_length(b64) / 4 * 3 + 1);
		if (!data)
			return -ENOMEM;
		if (!b64_decode(json_string_value(b64), json_string_length(b64),
				data, &len))
			why = "its content is not valid base64";
	}
	if (!why) {
		r = write_under(root, rel, data, len);
		if (r < 0)
			why = r == -EINVAL ? "a non-regular file is in the way"
					   : strerror(-r);
	}
	free(data);
	json_object_del(e, "content_base64");
	if (why) {
		fprintf(stderr, "pexos-run: not saved: '%s': %s\n", rel, why);
		return json_object_set_new(e, "not_saved", json_string(why))
			   ? -ENOMEM
			   : 1;
	}
	snprintf(where, sizeof(where), "%s/%s", shown, rel);
	return json_object_set_new(e, "saved_to", json_string(where)) ? -ENOMEM
								      : 0;
}

/* Saves every file and figure of resp under root. Returns 0, 1 or -ENOMEM
 * as cli_files_save. */
static int save_all(json_t *resp, int root, const char *shown)
{
	json_t *e;
	size_t i;
	int r, worst = 0;

	json_array_foreach(json_object_get(resp, "files"), i, e)
	{
		json_t *p = json_object_get(e, "path");

		r = json_is_object(e) && json_is_string(p)
			? save_entry(e, root, shown, json_string_value(p))
			: 1;
		if (r < 0)
			return r;
		worst = r > worst ? r : worst;
	}
	json_array_foreach(json_object_get(resp, "figures"), i, e)
	{
		char name[32];

		snprintf(name, sizeof(name), "figure-%zu.png", i + 1);
		r = json_is_object(e) ? save_entry(e, root, shown, name) : 1;
		if (r < 0)
			return r;
		worst = r > worst ? r : worst;
	}
	return worst;
}

/* resp as text with its "result" spelled as the library wrote it (a
 * re-encoded number could change: 0.1 stays 0.1). */
static char *dump_response(json_t *o, const char *text)
{
	char *result = NULL, *rest, *s = NULL;
	pexos_error err = {0};
	size_t rl, sl;

	if (!json_object_get(o, "result"))
		return json_dumps(o, JSON_COMPACT);
	if (pexos_response_result(text, &result, &err) < 0)
		return NULL;
	json_object_del(o, "result");
	rest = json_dumps(o, JSON_COMPACT);
	if (rest &&
	    (s = malloc((rl = strlen(result)) + (sl = strlen(rest)) + 16))) {
		memcpy(s, "{\"result\":", 10);
		memcpy(s + 10, result, rl);
		if (sl > 2)
			sprintf(s + 10 + rl, ",%s", rest + 1);
		else
			strcpy(s + 10 + rl, "}");
	}
	free(rest);
	pexos_free(result);
	return s;
}

int cli_files_save(const struct cli_files *f, const char *sub, const char *resp,
		   char **ret_resp)
{
	char shown[2 * SAVE_PATH_MAX + 2];
	json_t *o = json_loads(resp, 0, NULL);
	int root = -1, r = 0;

	if (!o)
		o = json_loads(resp, JSON_DECODE_INT_AS_REAL, NULL);
	if (!o)
		return -ENOMEM;
	snprintf(shown, sizeof(shown), "%s%s%s", f->save_to, sub ? "/" : "",
		 sub ? sub : "");
	if (json_object_get(o, "files") || json_object_get(o, "figures")) {
		if (mkdir(f->save_to, 0755) < 0 && errno != EEXIST)
			r = 1;
		else if ((root = open(f->save_to,
				      O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			r = 1;
		else if (sub && (r = open_dir(root, sub)) >= 0) {
			close(root);
			root = r;
			r = 0;
		} else if (sub)
			r = 1;
		if (r == 1)
			fprintf(stderr, "pexos-run: cannot write to '%s': %s\n",
				shown, strerror(errno));
		else
			r = save_all(o, root, shown);
	}
	if (root >= 0)
		close(root);
	if (r >= 0 && !(*ret_resp = dump_response(o, resp)))
		r = -ENOMEM;
	json_decref(o);
	return r;
}
