/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safem_outfile.h"

struct safem_outfile {
	FILE *file;
	char *path;
	char *tmp_path; /* NULL: written in place (not a regular file) */
};

struct safem_outfile *
safem_outfile_open(const char *path, const char *mode)
{
	struct safem_outfile *o = calloc(1, sizeof(*o));
	struct stat st;
	int saved;

	if (o == NULL)
		return NULL;
	o->path = strdup(path);
	if (o->path == NULL)
		goto fail;
	/* A device, FIFO or socket (/dev/null, /dev/stdout, a pipe a reader waits on) is
	 * written in place: "complete or absent" is a regular file's property, and a rename
	 * over the node would replace it with a regular file (as root, --stats /dev/null
	 * replaced the system's /dev/null). */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		o->file = fopen(path, mode);
		if (o->file == NULL)
			goto fail;
		return o;
	}
	if (asprintf(&o->tmp_path, "%s.tmp", path) < 0) {
		o->tmp_path = NULL;
		goto fail;
	}
	o->file = fopen(o->tmp_path, mode);
	if (o->file == NULL)
		goto fail;
	return o;
fail:
	saved = errno;
	free(o->tmp_path);
	free(o->path);
	free(o);
	errno = saved;
	return NULL;
}

FILE *
safem_outfile_stream(const struct safem_outfile *o)
{
	return o->file;
}

int
safem_outfile_close(struct safem_outfile *o, bool commit)
{
	int err = 0;

	if (fflush(o->file) != 0)
		err = errno;
	if (err == 0 && ferror(o->file))
		err = EIO;
	/* in place: a device or pipe has nothing to sync (EINVAL), no name to commit */
	if (commit && err == 0 && o->tmp_path != NULL && fsync(fileno(o->file)) != 0)
		err = errno;
	if (fclose(o->file) != 0 && err == 0)
		err = errno;
	if (o->tmp_path != NULL && commit && err == 0 && rename(o->tmp_path, o->path) != 0)
		err = errno;
	if (o->tmp_path != NULL && (!commit || err != 0))
		unlink(o->tmp_path);
	free(o->tmp_path);
	free(o->path);
	free(o);
	return -err;
}
