/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef PROBE_FILES_H
#define PROBE_FILES_H

/*
 * The probe's line files (lib/streamfile): the flow CSV and JSON lines,
 * window reports, alerts and feature vectors. Each is written, flushed,
 * rotated (--rotate) and reopened (SIGHUP) by the one thread that writes it:
 * the flow files by the main lcore, the others by the analysis thread
 * (probe_analysis.h). Never by
 * a worker. Rotation follows the probe's clock: the workers' clock, i.e. the
 * capture time on a replay and the wall clock on a live port, the clock the
 * windows are cut on.
 */

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "safem_streamfile.h"

enum probe_file {
	PROBE_FILE_FLOWS,    /* --flows (CSV): main lcore */
	PROBE_FILE_WINDOWS,  /* --windows: analysis thread */
	PROBE_FILE_ALERTS,   /* --alerts: analysis thread */
	PROBE_FILE_FEATURES, /* --features: analysis thread */
	PROBE_FILE_FLOWS_JSON, /* --flows-json: main lcore */
	PROBE_FILE_COUNT
};

/** Which thread writes a file: it alone ticks and reopens it. */
enum probe_file_owner { PROBE_FILE_OWNER_MAIN, PROBE_FILE_OWNER_ANALYSIS };

/** The probe's clock in Unix ms (0: not known yet), from any thread. */
typedef uint64_t (*probe_files_clock_fn)(const void *ctx);

struct probe_files {
	struct safem_streamfile *file[PROBE_FILE_COUNT];
	int error[PROBE_FILE_COUNT];		/* -errno of the close (0: fine or open) */
	bool closed[PROBE_FILE_COUNT];
	unsigned int reopen_seen[PROBE_FILE_COUNT]; /* by the owner thread */
	uint64_t rotate_ms;
	uint64_t rotate_bytes;
	const volatile sig_atomic_t *reopen_requests; /* SIGHUPs so far */
	probe_files_clock_fn clock_ms;
	const void *clock_ctx;
};

/** "flows", "windows", "alerts", "features", "flows-json" (the option's name). */
const char *probe_file_name(enum probe_file which);

/** Set up (nothing open): rotation interval and size limit (0: none), SIGHUP count, clock. */
void probe_files_init(struct probe_files *pf, uint64_t rotate_ms, uint64_t rotate_bytes,
		      const volatile sig_atomic_t *reopen_requests, probe_files_clock_fn clock_ms,
		      const void *clock_ctx);

/**
 * Open a file with its header line (NULL: none). 0, or -EINVAL with err
 * naming the option and path.
 */
int probe_files_open(struct probe_files *pf, enum probe_file which, const char *path,
		     const char *header, char *err, size_t errlen);

/**
 * Once the run starts (everything set up): each open file replaces, or with
 * --rotate rotates away, what an earlier run left, and gets its header. Until
 * then a failed start-up leaves earlier files untouched (probe_files_free).
 */
void probe_files_start(struct probe_files *pf);

/** The open file (NULL: not asked for). */
struct safem_streamfile *probe_files_get(const struct probe_files *pf, enum probe_file which);

/** From the owner thread, often: reopen after SIGHUP, rotate, flush. */
void probe_files_tick(struct probe_files *pf, enum probe_file_owner owner);

/** probe_files_tick(ctx, PROBE_FILE_OWNER_ANALYSIS), as the analysis thread's tick hook. */
void probe_files_tick_analysis(void *ctx);

/**
 * Close one file (the live file keeps its name); prints what was lost if a
 * write failed. Returns 0 or -errno of the first write error.
 */
int probe_files_close(struct probe_files *pf, enum probe_file which);

/** The counters of a file that was opened (open or closed). False when it was not. */
bool probe_files_stats(const struct probe_files *pf, enum probe_file which,
		       struct safem_streamfile_stats *out);

/** Free everything (after the last counters were read). */
void probe_files_free(struct probe_files *pf);

#endif /* PROBE_FILES_H */
