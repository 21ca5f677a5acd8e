/* SPDX-License-Identifier: BSD-3-Clause */
/* A scratch directory per test case under /tmp, removed with whatever the case left in it
 * (rotated files, FIFOs, sockets). Shared by the units that write files, so that each does
 * not carry its own mkdtemp and `rm -rf` through system(): nftw removes the tree without a
 * shell, and a path with a quote in it cannot break the command. */
#ifndef SAFEM_TEST_TMPDIR_H
#define SAFEM_TEST_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

/* dir (size bytes) becomes /tmp/safem-UNIT-XXXXXX, created mode 0700. 0, or -1 with errno
 * set (the caller fails its setup). */
static inline int
test_tmpdir_make(char *dir, size_t size, const char *unit)
{
	int n = snprintf(dir, size, "/tmp/safem-%s-XXXXXX", unit);

	if (n < 0 || (size_t)n >= size)
		return -1;
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static inline int
test_tmpdir_remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Remove dir and everything under it, symbolic links not followed. 0, or -1. */
static inline int
test_tmpdir_remove(const char *dir)
{
	return nftw(dir, test_tmpdir_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
