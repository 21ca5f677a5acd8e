/* SPDX-License-Identifier: BSD-3-Clause */
/* The probe's line files; see probe_files.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "probe_files.h"

/* Buffered lines reach the file at least this often, so `tail -f` follows a
 * live probe and a crash loses at most this much (and at least once per
 * window: windows are a second or more). */
#define FILE_FLUSH_INTERVAL_MS 200

static const char *const file_names[PROBE_FILE_COUNT] = {"flows", "windows", "alerts",
							 "features", "flows-json"};

const char *
probe_file_name(enum probe_file which)
{
	return file_names[which];
}

static enum probe_file_owner
file_owner(enum probe_file which)
{
	return which == PROBE_FILE_FLOWS || which == PROBE_FILE_FLOWS_JSON
		       ? PROBE_FILE_OWNER_MAIN
		       : PROBE_FILE_OWNER_ANALYSIS;
}

void
probe_files_init(struct probe_files *pf, uint64_t rotate_ms, uint64_t rotate_bytes,
		 const volatile sig_atomic_t *reopen_requests, probe_files_clock_fn clock_ms,
		 const void *clock_ctx)
{
	memset(pf, 0, sizeof(*pf));
	pf->rotate_ms = rotate_ms;
	pf->rotate_bytes = rotate_bytes;
	pf->reopen_requests = reopen_requests;
	pf->clock_ms = clock_ms;
	pf->clock_ctx = clock_ctx;
}

int
probe_files_open(struct probe_files *pf, enum probe_file which, const char *path,
		 const char *header, char *err, size_t errlen)
{
	struct safem_streamfile_params p = {
		.path = path,
		.header = header,
		.rotate_ms = pf->rotate_ms,
		.rotate_bytes = pf->rotate_bytes,
		.flush_interval_ms = FILE_FLUSH_INTERVAL_MS,
	};

	pf->file[which] = safem_streamfile_open(&p);
	if (pf->file[which] == NULL) {
		snprintf(err, errlen, "--%s %.400s: cannot create the file: %s", file_names[which],
			 path, strerror(errno));
		return -EINVAL;
	}
	pf->reopen_seen[which] = (unsigned int)*pf->reopen_requests;
	return 0;
}

void
probe_files_start(struct probe_files *pf)
{
	unsigned int k;

	for (k = 0; k < PROBE_FILE_COUNT; k++) {
		int ret = pf->file[k] != NULL ? safem_streamfile_start(pf->file[k]) : 0;

		/* Counted, and retried at the next flush: the run goes on. */
		if (ret != 0)
			fprintf(stderr, "safem-probe: --%s %s: %s (retried at the next flush)\n",
				file_names[k], safem_streamfile_path(pf->file[k]), strerror(-ret));
	}
}

struct safem_streamfile *
probe_files_get(const struct probe_files *pf, enum probe_file which)
{
	return pf->closed[which] ? NULL : pf->file[which];
}

void
probe_files_tick(struct probe_files *pf, enum probe_file_owner owner)
{
	/* Written by the SIGHUP handler; each owner compares it with what it has served. */
	unsigned int reopen = (unsigned int)*pf->reopen_requests;
	uint64_t now_ms = 0;
	bool clock_read = false;
	unsigned int k;

	for (k = 0; k < PROBE_FILE_COUNT; k++) {
		struct safem_streamfile *f;

		/* The owner first: the other thread may be closing its own files. */
		if (file_owner(k) != owner || (f = probe_files_get(pf, k)) == NULL)
			continue;
		if (reopen != pf->reopen_seen[k]) {
			pf->reopen_seen[k] = reopen;
			safem_streamfile_reopen(f);
		}
		if (!clock_read) {
			now_ms = pf->clock_ms(pf->clock_ctx);
			clock_read = true;
		}
		safem_streamfile_tick(f, now_ms);
	}
}

void
probe_files_tick_analysis(void *ctx)
{
	probe_files_tick(ctx, PROBE_FILE_OWNER_ANALYSIS);
}

int
probe_files_close(struct probe_files *pf, enum probe_file which)
{
	struct safem_streamfile_stats st;
	struct safem_streamfile *f = probe_files_get(pf, which);

	if (f == NULL)
		return 0;
	pf->error[which] = safem_streamfile_close(f);
	pf->closed[which] = true;
	safem_streamfile_stats_read(f, &st);
	if (pf->error[which] != 0)
		fprintf(stderr,
			"safem-probe: --%s %s: %llu write error(s), %llu line(s) lost (first: %s)\n",
			file_names[which], safem_streamfile_path(f),
			(unsigned long long)st.write_errors,
			(unsigned long long)(st.lines_lost + st.lines_too_long),
			strerror(-pf->error[which]));
	return pf->error[which];
}

bool
probe_files_stats(const struct probe_files *pf, enum probe_file which,
		  struct safem_streamfile_stats *out)
{
	if (pf->file[which] == NULL)
		return false;
	safem_streamfile_stats_read(pf->file[which], out);
	return true;
}

void
probe_files_free(struct probe_files *pf)
{
	unsigned int k;

	for (k = 0; k < PROBE_FILE_COUNT; k++) {
		safem_streamfile_free(pf->file[k]);
		pf->file[k] = NULL;
	}
}
