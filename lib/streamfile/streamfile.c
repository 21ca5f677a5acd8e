/* SPDX-License-Identifier: BSD-3-Clause */
/* Whole-line, rotated output files; see safem_streamfile.h. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "safem_streamfile.h"

#define NS_PER_MS 1000000ull
/* Rotated names tried for one interval before giving up (PATH.STAMP, .1 ... .N-1). */
#define ROTATED_NAME_TRIES 1000
#define FILE_MODE 0644
/* Interval start not known yet (the clock gave nothing so far). */
#define START_UNKNOWN UINT64_MAX

struct safem_streamfile {
	char *path;
	char *header; /* with its '\n'; NULL: none */
	size_t header_len;
	uint64_t rotate_ms;
	uint64_t flush_interval_ns;
	int fd;		  /* -1: closed after a failure, reopened by the next flush */
	uint64_t start_ms; /* start of the current interval */
	uint64_t rotate_bytes; /* size limit of a live file (0: none) */
	uint64_t file_bytes;   /* size of the live file */
	uint64_t clock_ms;     /* the clock at the last tick (0: not known yet) */
	uint64_t opened_ms;    /* when the live file began: its stamp without time rotation */
	char *buf;
	size_t len;	      /* bytes in buf */
	size_t complete;      /* buf[0, complete) are whole lines */
	uint64_t complete_lines;
	bool discarding; /* dropping a line too long for the buffer, up to its '\n' */
	bool regular;	 /* the live file is a regular file: only those rotate */
	uint64_t last_flush_ns;
	int first_error;
	/* safem_streamfile_start() done: the file is ours. Set last, with release:
	 * start may run on another thread than the ticks that wait for it. */
	bool started;
	bool created;	     /* open created the file: free before start removes it */
	struct safem_streamfile_stats stats;
};

static void rotate_file(struct safem_streamfile *f);

/*
 * One writer per counter (the stream's thread): a relaxed load and store make
 * the readers on other threads race-free without a locked add.
 */
static void
count(uint64_t *counter, uint64_t n)
{
	__atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static void
note_error(struct safem_streamfile *f, int err)
{
	count(&f->stats.write_errors, 1);
	if (f->first_error == 0)
		f->first_error = err != 0 ? err : EIO;
}

static uint64_t
monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int
safem_streamfile_rotated_name(const char *path, uint64_t start_ms, unsigned int seq, char *out,
			      size_t len)
{
	time_t t = (time_t)(start_ms / 1000);
	char stamp[SAFEM_STREAMFILE_STAMP_LEN + 1];
	struct tm tm;
	int n;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) != SAFEM_STREAMFILE_STAMP_LEN)
		return -EINVAL;
	n = seq == 0 ? snprintf(out, len, "%s.%s", path, stamp)
		     : snprintf(out, len, "%s.%s.%u", path, stamp, seq);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : n;
}

/* fsync the directory holding path, so a rename survives a power cut too. */
static void
sync_directory(const char *path)
{
	char copy[PATH_MAX];
	int dfd;

	snprintf(copy, sizeof(copy), "%s", path);
	dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
}

/*
 * Rename the live file to its stamped name without replacing anything: the
 * first free one of PATH.STAMP, PATH.STAMP.1, ... 0 or -errno.
 */
static int
rename_rotated(const char *path, uint64_t start_ms)
{
	char name[PATH_MAX];
	unsigned int seq;

	for (seq = 0; seq < ROTATED_NAME_TRIES; seq++) {
		int n = safem_streamfile_rotated_name(path, start_ms, seq, name, sizeof(name));

		if (n < 0)
			return n;
		/* Never replace an existing name (plain rename would): link + unlink
		 * where hard links exist, else rename without replace, else a
		 * check before the rename (one writer per path: no race with us). */
		if (link(path, name) == 0) {
			if (unlink(path) != 0)
				return -errno;
		} else if (errno == EEXIST) {
			continue;
		} else if (errno == ENOENT) {
			return -ENOENT;
		} else if (renameat2(AT_FDCWD, path, AT_FDCWD, name, RENAME_NOREPLACE) != 0) {
			if (errno == EEXIST)
				continue;
			if (errno != EINVAL && errno != ENOSYS)
				return -errno;
			if (access(name, F_OK) == 0)
				continue;
			if (rename(path, name) != 0)
				return -errno;
		}
		sync_directory(path);
		return 0;
	}
	return -EEXIST;
}

/* Write all of buf at the end of the live file, or nothing: a cut write is
 * truncated back, so the file ends with a whole line whatever happens. */
static int
write_whole(struct safem_streamfile *f, const char *buf, size_t len)
{
	/* Where the file ends now, whoever else changed it (copytruncate...);
	 * -1 for a pipe or device, which cannot be taken back. */
	off_t before = lseek(f->fd, 0, SEEK_END);
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(f->fd, buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? errno : ENOSPC;

			if (done != 0 && before >= 0 && ftruncate(f->fd, before) != 0)
				err = errno;
			return -err;
		}
		done += (size_t)n;
	}
	/* From where the file really ended: someone may have truncated it
	 * (logrotate's copytruncate), and the size limit must see that. */
	f->file_bytes = before >= 0 ? (uint64_t)before + len : f->file_bytes + len;
	return 0;
}

/* Open the live file (append; O_TRUNC with truncate) and write the header if it is empty. */
static int
open_live(struct safem_streamfile *f, bool truncate)
{
	struct stat st;
	int err;

	f->fd = open(f->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0),
		     FILE_MODE);
	if (f->fd < 0)
		return -errno;
	if (fstat(f->fd, &st) != 0) {
		err = -errno;
		close(f->fd);
		f->fd = -1;
		return err;
	}
	f->file_bytes = (uint64_t)st.st_size;
	f->regular = S_ISREG(st.st_mode);
	if (st.st_size == 0 && f->header != NULL && (err = write_whole(f, f->header, f->header_len)) != 0) {
		close(f->fd);
		f->fd = -1;
		return err;
	}
	return 0;
}

/* Drop the buffer's complete lines after a failure, keeping an unfinished line. */
static void
drop_complete(struct safem_streamfile *f)
{
	count(&f->stats.lines_lost, f->complete_lines);
	memmove(f->buf, f->buf + f->complete, f->len - f->complete);
	f->len -= f->complete;
	f->complete = 0;
	f->complete_lines = 0;
}

int
safem_streamfile_flush(struct safem_streamfile *f)
{
	int ret = 0;

	f->last_flush_ns = monotonic_ns();
	if (f->complete == 0)
		return 0;
	if (!__atomic_load_n(&f->started, __ATOMIC_ACQUIRE))
		safem_streamfile_start(f);
	/* The file was closed by an earlier failure: try again now. */
	if (f->fd < 0)
		ret = open_live(f, false);
	/* Over the size limit with these lines: they start the next file (a file
	 * holding more than its header is never left empty of lines by this). */
	if (ret == 0 && f->rotate_bytes != 0 &&
	    f->file_bytes > (f->header != NULL ? f->header_len : 0) &&
	    f->file_bytes + f->complete > f->rotate_bytes) {
		rotate_file(f);
		if (f->fd < 0)
			ret = open_live(f, false);
	}
	if (ret == 0)
		ret = write_whole(f, f->buf, f->complete);
	if (ret != 0) {
		note_error(f, -ret);
		drop_complete(f);
		return ret;
	}
	count(&f->stats.lines_written, f->complete_lines);
	count(&f->stats.bytes_written, f->complete);
	count(&f->stats.flushes, 1);
	f->complete_lines = 0;
	drop_complete(f); /* nothing counted: complete_lines is 0 */
	return 0;
}

/* Scan newly buffered bytes [from, len) for line ends. */
static void
note_lines(struct safem_streamfile *f, size_t from)
{
	const char *p = f->buf + from, *end = f->buf + f->len, *nl;

	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		f->complete_lines++;
		f->complete = (size_t)(nl - f->buf) + 1;
		p = nl + 1;
	}
}

void
safem_streamfile_append(struct safem_streamfile *f, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		size_t room, n;

		if (f->discarding) {
			const char *nl = memchr(p, '\n', len);

			if (nl == NULL)
				return;
			len -= (size_t)(nl - p) + 1;
			p = nl + 1;
			f->discarding = false;
			continue;
		}
		room = SAFEM_STREAMFILE_BUFFER - f->len;
		if (room == 0) {
			if (f->complete != 0) {
				safem_streamfile_flush(f);
				continue;
			}
			/* One unfinished line fills the buffer: it cannot be written whole. */
			count(&f->stats.lines_too_long, 1);
			f->len = 0;
			f->discarding = true;
			continue;
		}
		n = len < room ? len : room;
		memcpy(f->buf + f->len, p, n);
		f->len += n;
		note_lines(f, f->len - n);
		p += n;
		len -= n;
	}
}

/* fsync and close the live file (after a flush): its lines are on disk. */
static void
sync_and_close(struct safem_streamfile *f)
{
	if (f->fd < 0)
		return;
	/* EINVAL: a device or pipe (/dev/null), nothing to sync. */
	if (fsync(f->fd) != 0 && errno != EINVAL)
		note_error(f, errno);
	if (close(f->fd) != 0)
		note_error(f, errno);
	f->fd = -1;
}

/* The clock now, or the wall clock while the stream's clock is not known. */
static uint64_t
clock_or_wall_ms(const struct safem_streamfile *f)
{
	struct timespec ts;

	if (f->clock_ms != 0)
		return f->clock_ms;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / NS_PER_MS;
}

/* fsync, close, rename to the file's stamp (the interval's start; without
 * time rotation, when the file began), open the next live file. */
static void
rotate_file(struct safem_streamfile *f)
{
	uint64_t stamp_ms =
		f->rotate_ms != 0 && f->start_ms != START_UNKNOWN ? f->start_ms : f->opened_ms;
	int ret;

	/* A device or FIFO (--flows /dev/null, a pipe) is no file to keep: renaming it would
	 * move the node itself (as root, /dev/null), and reopening it would only repeat the
	 * header to its reader. It is written on as it is. */
	if (!f->regular)
		return;
	sync_and_close(f);
	/* A live file someone moved away (ENOENT) has nothing to rename. */
	ret = rename_rotated(f->path, stamp_ms);
	if (ret != 0 && ret != -ENOENT)
		note_error(f, -ret);
	else if (ret == 0)
		count(&f->stats.rotations, 1);
	f->opened_ms = clock_or_wall_ms(f);
	/* Failing here leaves fd -1: the next flush retries. */
	ret = open_live(f, false);
	if (ret != 0)
		note_error(f, -ret);
}

/* End the interval: its lines go to its file, which is renamed; the next one opens. */
static void
rotate(struct safem_streamfile *f, uint64_t next_start_ms)
{
	safem_streamfile_flush(f);
	rotate_file(f);
	f->start_ms = next_start_ms;
}

void
safem_streamfile_tick(struct safem_streamfile *f, uint64_t now_ms)
{
	if (!__atomic_load_n(&f->started, __ATOMIC_ACQUIRE))
		return;
	if (now_ms != 0)
		f->clock_ms = now_ms;
	if (f->rotate_ms != 0 && now_ms != 0) {
		uint64_t start = now_ms - now_ms % f->rotate_ms;

		if (f->start_ms == START_UNKNOWN)
			f->start_ms = start;
		else if (start > f->start_ms)
			rotate(f, start);
	}
	if (f->complete != 0 && monotonic_ns() - f->last_flush_ns >= f->flush_interval_ns)
		safem_streamfile_flush(f);
}

int
safem_streamfile_reopen(struct safem_streamfile *f)
{
	int ret;

	/* Not started: start opens the file anyway (and may run on another thread). */
	if (!__atomic_load_n(&f->started, __ATOMIC_ACQUIRE))
		return 0;
	safem_streamfile_flush(f);
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	ret = open_live(f, false);
	if (ret != 0) {
		note_error(f, -ret);
	} else {
		count(&f->stats.reopens, 1);
		f->opened_ms = clock_or_wall_ms(f); /* a new file: its own stamp */
	}
	return ret;
}

/* With rotation (by time or size), a non-empty live file of an earlier run is rotated
 * away first: stamped with its interval, or the time it was last written. */
static int
keep_earlier_file(const struct safem_streamfile *f)
{
	struct stat st;
	uint64_t mtime_ms;

	if ((f->rotate_ms == 0 && f->rotate_bytes == 0) || stat(f->path, &st) != 0 ||
	    st.st_size == 0 || !S_ISREG(st.st_mode))
		return 0;
	mtime_ms = (uint64_t)st.st_mtim.tv_sec * 1000;
	return rename_rotated(f->path,
			      f->rotate_ms != 0 ? mtime_ms - mtime_ms % f->rotate_ms : mtime_ms);
}

struct safem_streamfile *
safem_streamfile_open(const struct safem_streamfile_params *p)
{
	struct safem_streamfile *f;
	int ret;

	if (p->path == NULL || p->path[0] == '\0') {
		errno = EINVAL;
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->fd = -1;
	f->start_ms = START_UNKNOWN;
	f->rotate_ms = p->rotate_ms;
	f->rotate_bytes = p->rotate_bytes;
	f->flush_interval_ns = p->flush_interval_ms * NS_PER_MS;
	f->path = strdup(p->path);
	f->buf = malloc(SAFEM_STREAMFILE_BUFFER);
	if (p->header != NULL) {
		f->header_len = strlen(p->header) + 1;
		f->header = malloc(f->header_len);
		if (f->header != NULL) {
			memcpy(f->header, p->header, f->header_len - 1);
			f->header[f->header_len - 1] = '\n';
		}
	}
	if (f->path == NULL || f->buf == NULL || (p->header != NULL && f->header == NULL)) {
		ret = -ENOMEM;
		goto fail;
	}
	/* Checked now, touched at start: a run that fails to start leaves an
	 * earlier file as it was. */
	f->created = access(f->path, F_OK) != 0;
	f->fd = open(f->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, FILE_MODE);
	if (f->fd < 0) {
		ret = -errno;
		goto fail;
	}
	f->last_flush_ns = monotonic_ns();
	return f;
fail:
	free(f->header);
	free(f->buf);
	free(f->path);
	free(f);
	errno = -ret;
	return NULL;
}

int
safem_streamfile_start(struct safem_streamfile *f)
{
	int ret;

	if (__atomic_load_n(&f->started, __ATOMIC_ACQUIRE))
		return 0;
	close(f->fd);
	f->fd = -1;
	f->opened_ms = clock_or_wall_ms(f);
	ret = keep_earlier_file(f);
	if (ret == 0)
		ret = open_live(f, true);
	if (ret != 0)
		note_error(f, -ret);
	__atomic_store_n(&f->started, true, __ATOMIC_RELEASE);
	return ret;
}

int
safem_streamfile_close(struct safem_streamfile *f)
{
	if (f->buf == NULL)
		return -f->first_error;
	/* An unterminated last line is still a line. */
	if (f->len > f->complete && !f->discarding)
		safem_streamfile_append(f, "\n", 1);
	safem_streamfile_flush(f);
	sync_and_close(f);
	free(f->buf);
	f->buf = NULL;
	f->len = f->complete = 0;
	return -f->first_error;
}

void
safem_streamfile_free(struct safem_streamfile *f)
{
	if (f == NULL)
		return;
	/* Never started and nothing appended: the run did not begin; leave nothing
	 * behind. Lines appended without a start are output all the same: the
	 * close below starts the file for them (nothing is lost). */
	if (!f->started && f->fd >= 0 && f->len == 0) {
		close(f->fd);
		f->fd = -1;
		if (f->created)
			unlink(f->path);
	}
	safem_streamfile_close(f);
	free(f->header);
	free(f->path);
	free(f);
}

const char *
safem_streamfile_path(const struct safem_streamfile *f)
{
	return f->path;
}

void
safem_streamfile_stats_read(const struct safem_streamfile *f, struct safem_streamfile_stats *out)
{
#define READ_(name) out->name = __atomic_load_n(&f->stats.name, __ATOMIC_RELAXED);
	SAFEM_STREAMFILE_COUNTERS(READ_)
#undef READ_
}
