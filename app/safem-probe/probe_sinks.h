/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef PROBE_SINKS_H
#define PROBE_SINKS_H

/*
 * The JSON-line streams of the probe (window reports, alerts, flow records)
 * and their outputs: file, syslog, Kafka (lib/linesink). One syslog socket
 * and one Kafka producer serve every stream.
 *
 * Use: probe_line_outputs_open() once, probe_line_outputs_open_stream() per
 * stream, write to probe_line_outputs_file() (or give it to a library),
 * probe_line_outputs_poll() every main loop, then at exit
 * probe_line_outputs_close() each stream, probe_line_outputs_finish()
 * (bounded Kafka flush), read the counters, probe_line_outputs_free().
 */

#include <stdbool.h>
#include <stdio.h>

#include "safem_flow.h"
#include "safem_linesink.h"

#include "probe_options.h"

enum probe_stream {
	PROBE_STREAM_WINDOWS, /* --windows: one report per window */
	PROBE_STREAM_ALERTS,  /* --alerts (coming): one alert per line */
	PROBE_STREAM_FLOWS,   /* --kafka-flows-topic: one flow record per line */
	PROBE_STREAM_FEATURES, /* --features: one feature vector per window (file only) */
	PROBE_STREAM_COUNT
};

struct probe_line_outputs {
	struct safem_linesink_syslog *syslog; /* opened when a stream asks for syslog */
	struct safem_linesink_kafka *kafka;   /* opened with --kafka-brokers */
	struct safem_linesink *streams[PROBE_STREAM_COUNT];
	uint64_t kafka_undelivered; /* left when the exit flush timed out */
	uint64_t syslog_undelivered; /* paced syslog datagrams dropped at the exit drain */
};

/** Stream name: "windows", "alerts", "flows", "features". */
const char *probe_stream_name(enum probe_stream which);

/** Check the [syslog]/[kafka] options; prints a message naming the option. 0 or -EINVAL. */
int probe_sinks_check_options(const struct probe_config *cfg);

/**
 * Open the shared syslog socket (if to_syslog_any) and Kafka producer (if
 * --kafka-brokers). 0, or -EINVAL with err naming the option.
 */
int probe_line_outputs_open(struct probe_line_outputs *o, const struct probe_config *cfg,
			    bool to_syslog_any, char *err, size_t errlen);

/**
 * Open a stream with a file (probe_files.h, may be NULL), syslog (to_syslog)
 * and a Kafka topic (may be empty). 0 or -ENOMEM with err filled.
 */
int probe_line_outputs_open_stream(struct probe_line_outputs *o, enum probe_stream which,
				   struct safem_streamfile *file, bool to_syslog, const char *kafka_topic,
				   char *err, size_t errlen);

/** The stream's FILE * (NULL when the stream is not open). */
FILE *probe_line_outputs_file(struct probe_line_outputs *o, enum probe_stream which);

/** Flow records to the flows stream, one JSON line each (no-op when it is not open). */
void probe_line_outputs_flow_records(struct probe_line_outputs *o,
				     const struct safem_flow_record *records, unsigned int count);

/** Serve Kafka delivery reports; never waits. */
void probe_line_outputs_poll(struct probe_line_outputs *o);

/** Close one stream (its last line goes to its file, which the caller closes after). */
void probe_line_outputs_close(struct probe_line_outputs *o, enum probe_stream which);

/* At exit, paced syslog datagrams get this long to leave (a full 4 MiB queue
 * at the default 10 Mbit/s takes 3.4 s); the rest is counted dropped. */
#define PROBE_SYSLOG_DRAIN_MS 5000

/**
 * Close what is still open, let queued syslog datagrams leave for at most
 * syslog_drain_ms and flush Kafka for at most timeout_ms (0, 0: no wait).
 */
void probe_line_outputs_finish(struct probe_line_outputs *o, unsigned int timeout_ms,
			       unsigned int syslog_drain_ms);

/**
 * Send the paced syslog queue for at most timeout_ms, then count the rest
 * dropped (syslog_undelivered too). Safe while streams are still written.
 */
void probe_line_outputs_drain_syslog(struct probe_line_outputs *o, unsigned int timeout_ms);

/** Free everything (after finish; a zeroed struct is fine). */
void probe_line_outputs_free(struct probe_line_outputs *o);

#endif /* PROBE_SINKS_H */
