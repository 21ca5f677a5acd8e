/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SAFEM_OUTFILE_H
#define SAFEM_OUTFILE_H

/**
 * @file
 * Output files that are complete or absent: written as PATH.tmp and renamed
 * to PATH only when closed with commit after every write succeeded. Serves
 * every output of the probe and of safem-merge (flow CSV, stats JSON, window
 * reports, window tree files). Not for the packet path. A PATH that exists and
 * is no regular file (a device such as /dev/null, a FIFO, a socket) is written
 * in place, never renamed over.
 */

#include <stdbool.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct safem_outfile;

/** Create PATH.tmp with fopen mode ("w", "wb"), or open PATH itself when it is no
 *  regular file. NULL with errno set. */
struct safem_outfile *safem_outfile_open(const char *path, const char *mode);

/** The stream to write to. */
FILE *safem_outfile_stream(const struct safem_outfile *o);

/**
 * Close. commit: flush, fsync and rename PATH.tmp to PATH, unless a write
 * on the stream failed (-EIO). Without commit, or on any failure, PATH.tmp
 * is removed and PATH left as it was. Returns 0 or -errno.
 */
int safem_outfile_close(struct safem_outfile *o, bool commit);

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_OUTFILE_H */
