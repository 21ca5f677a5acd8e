/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SAFEM_LINESINK_H
#define SAFEM_LINESINK_H

/**
 * @file
 * Streams of JSON lines (window reports, alerts, flow records) fanned out to
 * several outputs. A library that writes its lines to a FILE * (lib/window)
 * gets one from safem_linesink_stream(); every complete line ('\n') written
 * to it goes, as one unit, to each output the stream was opened with:
 *
 *  - a file (lib/streamfile, owned by the caller): appended as lines are
 *    made, written in whole lines only, rotated and retried by that library;
 *  - syslog: one datagram per line, sent by this library to a unix datagram
 *    socket (the local daemon, RFC 3164 "local" format as glibc's syslog(3)
 *    sends it) or to a UDP collector (RFC 5424). Our own sender rather than
 *    syslog(3): the target and facility are per probe, not per process, and
 *    tests can point it at a socket of their own;
 *  - Kafka: one message per line to the stream's topic, through one shared
 *    librdkafka producer (safem_linesink_kafka_*).
 *
 * Nothing here blocks for long: syslog sockets are non-blocking (a full one
 * is waited on at most 5 ms per line), the Kafka producer queue is bounded
 * and never waited on; lines that cannot be handed over are dropped and
 * counted per stream. The file output counts its own write errors.
 *
 * Never on the packet path. A stream is written by one thread at a time; the
 * syslog sender (a lock per line) and the Kafka producer may be shared by
 * streams written from different threads, and Kafka reports are served by
 * whichever thread calls safem_linesink_kafka_poll(). Lines are
 * assembled in a buffer that grows up to SAFEM_LINESINK_LINE_MAX bytes.
 * librdkafka is optional at build time; without it the Kafka functions fail
 * with -ENOTSUP and safem_linesink_kafka_available() says false.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct safem_streamfile;

/** Longest line sent to syslog or Kafka; longer ones reach the file only (counted). */
#define SAFEM_LINESINK_LINE_MAX (1u << 20)

/** Per-stream counters (X-macro: the probe's --stats, telemetry and /metrics read them). */
#define SAFEM_LINESINK_COUNTERS(X)                                                                 \
	X(lines)	     /* complete lines written to the stream */                            \
	X(bytes)	     /* their bytes, newlines included */                                  \
	X(lines_too_long)    /* lines over SAFEM_LINESINK_LINE_MAX: file only */                   \
	X(syslog_sent)	     /* datagrams the kernel took (at once or from the pacing queue) */    \
	X(syslog_dropped)    /* failed, would block, or the pacing queue gave up */                \
	X(kafka_queued)	     /* messages handed to the producer queue */                           \
	X(kafka_delivered)   /* messages the brokers acknowledged */                               \
	X(kafka_dropped)     /* messages refused at once (queue full, too large...) */             \
	X(kafka_failed)	     /* messages the producer gave up on (delivery error, timeout) */      \
	X(kafka_undelivered) /* messages still queued when the shutdown flush timed out */

struct safem_linesink_stats {
#define SAFEM_LINESINK_FIELD_(name) uint64_t name;
	SAFEM_LINESINK_COUNTERS(SAFEM_LINESINK_FIELD_)
#undef SAFEM_LINESINK_FIELD_
};

/* ---- syslog destination (shared by streams) ---------------------------- */

struct safem_linesink_syslog;

struct safem_linesink_syslog_params {
	/** "unix:PATH" (datagram socket, e.g. unix:/dev/log) or "HOST:PORT" / "[V6]:PORT" (UDP). */
	const char *target;
	int facility;	   /**< 0..23 (see safem_linesink_syslog_facility) */
	const char *ident; /**< APP-NAME / tag, e.g. "safem-probe" */
	/**
	 * UDP targets: send at most this many bytes/s (token bucket, bursts of
	 * burst_bytes); 0: unpaced. A collector's socket buffer drops what
	 * arrives faster than it reads (a burst of alerts, reports grown by
	 * clusters and hosts), so datagrams wait in a queue of at most
	 * queue_bytes instead; what does not fit is dropped and counted. A unix
	 * target is never paced: the local daemon pushes back (EAGAIN).
	 */
	uint64_t rate_bytes_s;
	uint64_t burst_bytes; /**< 0: 32 KiB */
	uint64_t queue_bytes; /**< 0: 4 MiB */
};

/** Facility code of a name ("daemon", "user", "local0".."local7"...), or -EINVAL. */
int safem_linesink_syslog_facility(const char *name);

/**
 * Open the socket (non-blocking). A unix target must exist and accept
 * datagrams now; a UDP target is resolved once. NULL with errno set and
 * err filled with a reason naming the target.
 */
struct safem_linesink_syslog *
safem_linesink_syslog_open(const struct safem_linesink_syslog_params *p, char *err, size_t errlen);

/**
 * Send queued datagrams the rate allows now (non-blocking). The owner calls
 * it often (the probe: every main-loop pass); sends also pump first.
 */
void safem_linesink_syslog_pump(struct safem_linesink_syslog *sl);

/** Datagrams waiting in the pacing queue. */
uint64_t safem_linesink_syslog_pending(struct safem_linesink_syslog *sl);

/**
 * Send what is queued at the paced rate for at most timeout_ms, then drop
 * the rest, counted in each stream's syslog_dropped. Returns how many were
 * dropped. Call before the streams that wrote to it are freed (the queue
 * counts into their stats).
 */
uint64_t safem_linesink_syslog_drain(struct safem_linesink_syslog *sl, unsigned int timeout_ms);

/** Close the socket; anything still queued is discarded uncounted (drain first). */
void safem_linesink_syslog_close(struct safem_linesink_syslog *sl);

/* ---- Kafka producer (shared by streams) -------------------------------- */

struct safem_linesink_kafka;

struct safem_linesink_kafka_params {
	const char *brokers;	       /**< bootstrap.servers, "HOST:PORT[,HOST:PORT...]" */
	const char *const *properties; /**< librdkafka "key=value" settings, applied last */
	unsigned int property_count;
	unsigned int queue_messages; /**< producer queue bound (queue.buffering.max.messages) */
};

/** True when built with librdkafka. */
bool safem_linesink_kafka_available(void);

/**
 * Create the producer (it connects in the background). NULL with errno set
 * (ENOTSUP: built without librdkafka; EINVAL: a property was refused) and err
 * filled naming the property.
 */
struct safem_linesink_kafka *
safem_linesink_kafka_create(const struct safem_linesink_kafka_params *p, char *err, size_t errlen);

/** Serve delivery reports (counts them). Never waits; call every main loop. */
void safem_linesink_kafka_poll(struct safem_linesink_kafka *k);

/**
 * Shutdown: wait at most timeout_ms for the queue to drain, then purge what
 * is left; purged messages are counted as kafka_undelivered on their stream.
 * Call after the streams are closed and before reading their final counters.
 * Returns the number of undelivered messages.
 */
uint64_t safem_linesink_kafka_flush(struct safem_linesink_kafka *k, unsigned int timeout_ms);

/** Destroy the producer (after safem_linesink_kafka_flush). NULL is fine. */
void safem_linesink_kafka_free(struct safem_linesink_kafka *k);

/* ---- streams ------------------------------------------------------------ */

struct safem_linesink;

struct safem_linesink_params {
	const char *name;		      /**< stream name ("windows"): syslog MSGID */
	struct safem_streamfile *file;	      /**< file output (the caller's), or NULL */
	struct safem_linesink_syslog *syslog; /**< or NULL */
	int syslog_severity;		      /**< 0..7, e.g. 6 (info) for reports */
	struct safem_linesink_kafka *kafka;   /**< or NULL */
	const char *kafka_topic;	      /**< with kafka */
};

/**
 * Open a stream; nothing is written yet. NULL with errno set (EINVAL: a bad
 * parameter).
 */
struct safem_linesink *safem_linesink_open(const struct safem_linesink_params *p);

/**
 * The stream as a FILE * (glibc fopencookie, line buffered): every '\n'
 * completes a line. Created on first call, owned by the sink. NULL with errno.
 */
FILE *safem_linesink_stream(struct safem_linesink *s);

/** Send one complete line (len bytes, without or with a final '\n'). */
void safem_linesink_write_line(struct safem_linesink *s, const char *line, size_t len);

/**
 * Close the FILE * (an unterminated last line still goes out). The file
 * output is the caller's to close after this. The counters stay readable
 * until safem_linesink_free() (Kafka reports still arrive until the flush).
 */
void safem_linesink_close(struct safem_linesink *s);

/** The stream's counters, for the thread that writes the stream (or after it stopped). */
const struct safem_linesink_stats *safem_linesink_stats(const struct safem_linesink *s);

/** Copy the counters from any thread while the stream is written (relaxed atomic loads). */
void safem_linesink_stats_read(const struct safem_linesink *s, struct safem_linesink_stats *out);

/** Free a closed stream, after safem_linesink_kafka_flush(). NULL is fine. */
void safem_linesink_free(struct safem_linesink *s);

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_LINESINK_H */
