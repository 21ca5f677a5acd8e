/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SAFEM_STREAMFILE_H
#define SAFEM_STREAMFILE_H

/**
 * @file
 * A line file that a reader can follow while it is written, rotated by time.
 *
 * Bytes are appended to a buffer; only whole lines leave it, each flush in
 * one write() of complete lines, so `tail -f` and a reader after a crash see
 * whole lines only (a line still being assembled waits in the buffer). The
 * live file has the name the user gave. With a rotation interval, when the
 * clock passed to safem_streamfile_tick() crosses an interval boundary
 * (intervals are aligned on the Unix epoch, like nfcapd's -t), the live file
 * is flushed, fsync'd, closed and renamed to
 *
 *     PATH.YYYYmmddTHHMMSSZ      (UTC start of the interval it covered)
 *
 * and a new live file is opened (with the header line, if any). With a size
 * limit, a flush that would take the live file past it rotates it first
 * (stamped with its interval, or without time rotation with the clock when
 * it began). An existing name is never replaced: PATH.STAMP.1, .2 ... are
 * used instead. That pattern is a contract (docs/formats.md).
 *
 * Write errors (disk full, I/O error) never reach the caller as a failure of
 * the stream: the lines of the failed flush are dropped and counted, a write
 * cut short is truncated back to the last whole line (what was written
 * before stays), and the next flush or rotation tries again, reopening the
 * live file if it had to be closed.
 *
 * One thread writes, ticks, reopens and closes a stream (start may come from
 * another thread: ticks wait for it); the counters may be read from any
 * thread (safem_streamfile_stats_read). Never on the packet
 * path: flushes are system calls and a rotation fsyncs.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Bytes buffered per stream (allocated, touched as used); also the longest
 * line, longer ones are dropped and counted. Above lib/linesink's line bound.
 */
#define SAFEM_STREAMFILE_BUFFER (4u << 20)
/** Length of the rotation stamp "YYYYmmddTHHMMSSZ". */
#define SAFEM_STREAMFILE_STAMP_LEN 16

/** Per-file counters (X-macro: --stats, telemetry and /metrics list them). */
#define SAFEM_STREAMFILE_COUNTERS(X)                                                               \
	X(lines_written)  /* whole lines the kernel took (header lines not counted) */             \
	X(bytes_written)  /* their bytes */                                                        \
	X(flushes)        /* write() calls that succeeded */                                       \
	X(write_errors)   /* failed writes, opens, fsyncs and renames */                           \
	X(lines_lost)     /* lines dropped by a failed flush */                                    \
	X(lines_too_long) /* lines longer than SAFEM_STREAMFILE_BUFFER, dropped */                 \
	X(rotations)      /* live files closed and renamed to PATH.STAMP */                        \
	X(reopens)        /* live files reopened on request (SIGHUP) */

struct safem_streamfile_stats {
#define SAFEM_STREAMFILE_FIELD_(name) uint64_t name;
	SAFEM_STREAMFILE_COUNTERS(SAFEM_STREAMFILE_FIELD_)
#undef SAFEM_STREAMFILE_FIELD_
};

struct safem_streamfile_params {
	const char *path;	  /**< the live file */
	const char *header;	  /**< first line of every file, without '\n'; NULL: none */
	uint64_t rotate_ms;	  /**< rotation interval; 0: never rotate */
	uint64_t rotate_bytes;	  /**< also rotate before a flush would pass this size; 0: no limit */
	uint64_t flush_interval_ms; /**< tick flushes buffered lines this often (monotonic) */
};

struct safem_streamfile;

/**
 * Check that the live file can be written (it is created if missing, an
 * existing one is left as it is until start). NULL with errno set (the
 * caller names the path).
 */
struct safem_streamfile *safem_streamfile_open(const struct safem_streamfile_params *p);

/**
 * Begin the stream, before the first append: without rotation an existing
 * file is replaced (truncated); with rotation (time or size), a non-empty
 * file left by an earlier run is first rotated away, stamped with the
 * interval of its last modification (without time rotation: that time), so a
 * restart never loses it. Then the header is written.
 * 0 or -errno (counted; the next flush retries the open).
 */
int safem_streamfile_start(struct safem_streamfile *f);

/**
 * Append bytes: any cut, lines complete when their '\n' arrives. Writes to
 * the file only when the buffer is full. Never fails: errors are counted.
 */
void safem_streamfile_append(struct safem_streamfile *f, const void *data, size_t len);

/** Write every complete line now (one write()). 0, or -errno of a failed write (counted). */
int safem_streamfile_flush(struct safem_streamfile *f);

/**
 * Call often from the writing thread. now_ms is the stream's clock (Unix ms;
 * 0: not known yet). Rotates when now_ms has reached the end of the current
 * interval (an interval is never split: a clock that jumps backwards waits
 * for the end, one that jumps forward skips the empty intervals), and
 * flushes when flush_interval_ms has passed since the last flush.
 */
void safem_streamfile_tick(struct safem_streamfile *f, uint64_t now_ms);

/**
 * Flush, close and open PATH again (created if it was moved away): what
 * logrotate's create mode expects after SIGHUP. 0 or -errno (counted; the
 * next flush retries).
 */
int safem_streamfile_reopen(struct safem_streamfile *f);

/**
 * Flush (an unterminated last line gets its '\n'), fsync and close the live
 * file, which keeps its name. Returns 0, or -errno of the first write error
 * of the stream's life (its lines are counted as lost). The counters stay
 * readable until safem_streamfile_free(); nothing else may be called.
 */
int safem_streamfile_close(struct safem_streamfile *f);

/**
 * Close if still open, and free. NULL is fine. A stream never started (the
 * run did not begin) removes the file if open created it, and leaves an
 * earlier one untouched.
 */
void safem_streamfile_free(struct safem_streamfile *f);

/** The live file's path. */
const char *safem_streamfile_path(const struct safem_streamfile *f);

/** Copy the counters, from any thread (relaxed atomic loads). */
void safem_streamfile_stats_read(const struct safem_streamfile *f,
				 struct safem_streamfile_stats *out);

/**
 * The rotated name of path for an interval starting at start_ms (Unix ms):
 * "PATH.YYYYmmddTHHMMSSZ", and with seq > 0 "PATH.YYYYmmddTHHMMSSZ.SEQ".
 * Returns the length, or -ENAMETOOLONG when it does not fit in len.
 */
int safem_streamfile_rotated_name(const char *path, uint64_t start_ms, unsigned int seq,
				  char *out, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_STREAMFILE_H */
