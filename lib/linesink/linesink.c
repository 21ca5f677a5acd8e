/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A stream of lines: a FILE * from fopencookie whose writes go straight to
 * the file output (lib/streamfile, which only ever writes whole lines) and
 * are cut into lines for syslog and Kafka.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "safem_linesink.h"
#include "safem_streamfile.h"

#include "linesink_private.h"

/* First size of the line buffer; it doubles up to SAFEM_LINESINK_LINE_MAX. */
#define LINE_BUFFER_INITIAL 4096

struct safem_linesink {
	char *name;
	char *kafka_topic;
	struct safem_streamfile *file; /* NULL: no file (owned by the caller) */
	struct safem_linesink_syslog *syslog;
	int syslog_severity;
	struct safem_linesink_kafka *kafka;
	FILE *stream; /* the fopencookie stream handed out, or NULL */
	char *line;   /* the line being assembled */
	size_t line_len, line_size;
	bool line_too_long; /* the current line outgrew the buffer: file only */
	struct safem_linesink_stats stats;
};

/* A complete line (without its '\n') to syslog and Kafka. */
static void
fan_out(struct safem_linesink *s, const char *line, size_t len)
{
	if (s->syslog != NULL)
		linesink_syslog_send(s->syslog, s->syslog_severity, s->name, line, len, &s->stats);
	if (s->kafka != NULL) {
		if (linesink_kafka_produce(s->kafka, s->kafka_topic, line, len, &s->stats) == 0)
			linesink_count(&s->stats.kafka_queued, 1);
		else
			linesink_count(&s->stats.kafka_dropped, 1);
	}
}

/* Write errors are the file's to count and retry (lib/streamfile): never the writer's. */
static void
write_file(struct safem_linesink *s, const char *buf, size_t len)
{
	if (s->file != NULL)
		safem_streamfile_append(s->file, buf, len);
}

/* Room for one more byte in the line buffer; false once the line is too long. */
static bool
line_reserve(struct safem_linesink *s)
{
	size_t size;
	char *p;

	if (s->line_too_long)
		return false;
	if (s->line_len < s->line_size)
		return true;
	size = s->line_size == 0 ? LINE_BUFFER_INITIAL : s->line_size * 2;
	if (size > SAFEM_LINESINK_LINE_MAX || (p = realloc(s->line, size)) == NULL) {
		s->line_too_long = true;
		return false;
	}
	s->line = p;
	s->line_size = size;
	return true;
}

static void
line_end(struct safem_linesink *s)
{
	linesink_count(&s->stats.lines, 1);
	if (s->line_too_long)
		linesink_count(&s->stats.lines_too_long, 1);
	else
		fan_out(s, s->line, s->line_len);
	s->line_len = 0;
	s->line_too_long = false;
}

static ssize_t
cookie_write(void *cookie, const char *buf, size_t size)
{
	struct safem_linesink *s = cookie;
	size_t i = 0;

	linesink_count(&s->stats.bytes, size);
	while (i < size) {
		const char *nl = memchr(buf + i, '\n', size - i);
		size_t n = (nl != NULL ? (size_t)(nl - buf) : size) - i;

		/* Whole pieces at a time: the line buffer only grows to fit. */
		while (n > 0 && line_reserve(s)) {
			size_t room =
				s->line_size - s->line_len < n ? s->line_size - s->line_len : n;

			memcpy(s->line + s->line_len, buf + i, room);
			s->line_len += room;
			i += room;
			n -= room;
		}
		i += n; /* what did not fit in a too long line */
		if (nl != NULL) {
			line_end(s);
			i++;
		}
	}
	write_file(s, buf, size);
	return (ssize_t)size;
}

static int
cookie_close(void *cookie)
{
	struct safem_linesink *s = cookie;

	/* An unterminated last line is still a line. */
	if (s->line_len != 0 || s->line_too_long)
		line_end(s);
	return 0;
}

struct safem_linesink *
safem_linesink_open(const struct safem_linesink_params *p)
{
	struct safem_linesink *s;

	if (p->name == NULL ||
	    (p->kafka != NULL && (p->kafka_topic == NULL || p->kafka_topic[0] == '\0'))) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->name = strdup(p->name);
	s->kafka_topic = p->kafka != NULL ? strdup(p->kafka_topic) : NULL;
	if (s->name == NULL || (p->kafka != NULL && s->kafka_topic == NULL))
		goto fail;
	s->file = p->file;
	s->syslog = p->syslog;
	s->syslog_severity = p->syslog_severity;
	s->kafka = p->kafka;
	return s;
fail : {
	int saved = errno;

	free(s->kafka_topic);
	free(s->name);
	free(s);
	errno = saved;
	return NULL;
}
}

FILE *
safem_linesink_stream(struct safem_linesink *s)
{
	static const cookie_io_functions_t io = {
		.write = cookie_write,
		.close = cookie_close,
	};

	if (s->stream != NULL)
		return s->stream;
	s->stream = fopencookie(s, "w", io);
	/* Line buffered: each report reaches syslog and Kafka when it is written. */
	if (s->stream != NULL)
		setvbuf(s->stream, NULL, _IOLBF, 0);
	return s->stream;
}

void
safem_linesink_write_line(struct safem_linesink *s, const char *line, size_t len)
{
	size_t text = len != 0 && line[len - 1] == '\n' ? len - 1 : len;

	linesink_count(&s->stats.lines, 1);
	linesink_count(&s->stats.bytes, text + 1);
	if (text > SAFEM_LINESINK_LINE_MAX)
		linesink_count(&s->stats.lines_too_long, 1);
	else
		fan_out(s, line, text);
	write_file(s, line, text);
	write_file(s, "\n", 1);
}

void
safem_linesink_close(struct safem_linesink *s)
{
	if (s->stream != NULL) {
		fclose(s->stream);
		s->stream = NULL;
	}
	s->file = NULL;
	free(s->line);
	s->line = NULL;
	s->line_len = s->line_size = 0;
}

const struct safem_linesink_stats *
safem_linesink_stats(const struct safem_linesink *s)
{
	return &s->stats;
}

void
safem_linesink_stats_read(const struct safem_linesink *s, struct safem_linesink_stats *out)
{
#define READ_(name) out->name = __atomic_load_n(&s->stats.name, __ATOMIC_RELAXED);
	SAFEM_LINESINK_COUNTERS(READ_)
#undef READ_
}

void
safem_linesink_free(struct safem_linesink *s)
{
	if (s == NULL)
		return;
	safem_linesink_close(s);
	free(s->kafka_topic);
	free(s->name);
	free(s);
}
