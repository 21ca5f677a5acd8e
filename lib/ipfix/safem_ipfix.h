/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SAFEM_IPFIX_H
#define SAFEM_IPFIX_H

/**
 * @file
 * IPFIX export of flow records (RFC 7011 protocol, RFC 7012 information
 * elements) over UDP or TCP to one collector. Runs on the analysis (main)
 * lcore, never on a worker: the packet path only hands records over.
 *
 * Two layers:
 *  - a pure encoder (safem_ipfix_message_*): builds one IPFIX message in a
 *    caller buffer, no sockets, no allocation; unit tests decode its bytes;
 *  - an exporter (safem_ipfix_exporter_*): packs records into messages of at
 *    most the path MTU, queues them (bounded), sends them without ever
 *    blocking, counts what could not be sent, refreshes templates (UDP) and
 *    reconnects (TCP).
 *
 * Pacing (UDP): a message leaves only when a token bucket (lib/pace) allows,
 * at rate_bits_s with a burst of burst_bytes, so a burst of records (the
 * flush at the end of a capture) reaches a collector at a rate its default
 * socket buffer absorbs. Messages wait in a queue of queue_bytes; a message
 * the queue cannot take loses its records (records_queue_full). A send the
 * kernel refuses for now (socket buffer full, TCP window closed: back-
 * pressure) keeps the message queued and is counted (messages_blocked). TCP
 * is not paced (its congestion control paces it) but queues the same way,
 * including while the collector is away: queued messages go out after the
 * reconnect, with the new session's templates and sequence numbers.
 *
 * Templates (the exact field lists are docs/integration.md's contract):
 *
 *   id 256 (IPv4), 14 fields, records of SAFEM_IPFIX_RECORD_BYTES_IPV4 = 52 bytes
 *   id 257 (IPv6), 14 fields, records of SAFEM_IPFIX_RECORD_BYTES_IPV6 = 76 bytes
 *
 *    #   IE  name (IPv4 template | IPv6 template)            length
 *    1    8  sourceIPv4Address | 27 sourceIPv6Address           4 | 16
 *    2   12  destinationIPv4Address | 28 destinationIPv6Address 4 | 16
 *    3    7  sourceTransportPort                               2
 *    4   32  icmpTypeCodeIPv4 | 139 icmpTypeCodeIPv6           2
 *    5   11  destinationTransportPort                          2
 *    6    4  protocolIdentifier                                1
 *    7    1  octetDeltaCount                                   8
 *    8    2  packetDeltaCount                                  8
 *    9  152  flowStartMilliseconds                             8
 *   10  153  flowEndMilliseconds                               8
 *   11    6  tcpControlBits                                    1 (reduced size, below)
 *   12  136  flowEndReason                                     1
 *   13   60  ipVersion                                         1
 *   14   58  vlanId                                            2 (0: untagged / not in key)
 *
 * ICMP: type << 8 | code goes into icmpTypeCode* (the standard place) and,
 * as in NetFlow v9 and our flow CSV, also into destinationTransportPort, so
 * collectors reading either see it. icmpTypeCode* is 0 for other protocols
 * (and for ICMP carried in the other IP version, which has no type/code in
 * the flow key). icmpTypeCode precedes destinationTransportPort on purpose:
 * nfdump 1.7 stores both in one field and the later one wins for protocols
 * other than TCP/UDP/ICMP (SCTP...), so the real port must come last.
 *
 * tcpControlBits is an unsigned16 since RFC 7125; we send it with reduced-size
 * encoding (RFC 7011 section 6.2) in one octet: the flow key keeps only the
 * eight flags CWR..FIN, and pmacct 1.7 (Debian 12) reads the field only when
 * it is one octet long (it reports 0 for a two-octet field).
 *
 * Sequence numbers (RFC 7011 section 3.1): per exporter (one Transport
 * Session, one Observation Domain), the number of data records sent before
 * the message, modulo 2^32. Records that could not be sent (counted in
 * records_dropped) do not advance it. A template-only message does not
 * advance it. A new TCP connection is a new Transport Session: it starts at 0.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "safem_flow.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SAFEM_IPFIX_VERSION 10
#define SAFEM_IPFIX_TEMPLATE_SET_ID 2
#define SAFEM_IPFIX_TEMPLATE_IPV4 256
#define SAFEM_IPFIX_TEMPLATE_IPV6 257
#define SAFEM_IPFIX_TEMPLATE_FIELDS 14
#define SAFEM_IPFIX_RECORD_BYTES_IPV4 52
#define SAFEM_IPFIX_RECORD_BYTES_IPV6 76
#define SAFEM_IPFIX_MESSAGE_HEADER_BYTES 16
#define SAFEM_IPFIX_SET_HEADER_BYTES 4
/** Template set with both templates: set header + 2 x (4 + 14 x 4). */
#define SAFEM_IPFIX_TEMPLATE_SET_BYTES                                                             \
	(SAFEM_IPFIX_SET_HEADER_BYTES + 2 * (4 + 4 * SAFEM_IPFIX_TEMPLATE_FIELDS))
/** IPFIX message length is a 16-bit field (RFC 7011 section 3.1). */
#define SAFEM_IPFIX_MESSAGE_MAX 65535u
/** The IANA port for IPFIX (RFC 7011 section 10.3.4 / 10.4.4). */
#define SAFEM_IPFIX_DEFAULT_PORT 4739

/* ------------------------------------------------------------------------- */
/* Encoder: one message in a caller buffer. */

/** A message being built. Fields are private to the encoder; read with the accessors. */
struct safem_ipfix_message {
	uint8_t *buf;
	uint32_t capacity;   /**< bytes usable in buf (<= SAFEM_IPFIX_MESSAGE_MAX) */
	uint32_t length;     /**< bytes used, header included */
	uint32_t set_offset; /**< start of the open data set */
	uint16_t set_id;     /**< template id of the open data set, 0 = none */
	uint16_t has_templates;
	uint32_t records; /**< data records in the message */
};

/**
 * Start an empty message in buf (capacity bytes; at least the header plus one
 * IPv6 record and its set header, i.e. 96 bytes, for records to fit).
 */
void safem_ipfix_message_init(struct safem_ipfix_message *m, uint8_t *buf, uint32_t capacity);

/**
 * Append the template set (both templates). Must come before any data set.
 * @return 0, -ENOSPC (does not fit), -EINVAL (data already added).
 */
int safem_ipfix_message_add_templates(struct safem_ipfix_message *m);

/**
 * Append one record to the data set of its template (256 for ip_version 4,
 * 257 for 6), opening a new set when the family changes.
 * @return 0, -ENOSPC (the message is full: finish and send it, then start a
 *         new one), -EINVAL (ip_version neither 4 nor 6).
 */
int safem_ipfix_message_add_record(struct safem_ipfix_message *m,
				   const struct safem_flow_record *record);

/**
 * Close the open set and write the message header. The message may be
 * finished again (with another header) as long as nothing is added after.
 * @return the message length in bytes.
 */
uint32_t safem_ipfix_message_finish(struct safem_ipfix_message *m, uint32_t export_time_s,
				    uint32_t sequence, uint32_t observation_domain_id);

/** Data records in the message. */
static inline uint32_t
safem_ipfix_message_records(const struct safem_ipfix_message *m)
{
	return m->records;
}

/** True when nothing (no template, no record) has been added. */
static inline bool
safem_ipfix_message_empty(const struct safem_ipfix_message *m)
{
	return m->records == 0 && !m->has_templates;
}

/** Bytes one record takes in a data set (52 or 76), 0 for an invalid ip_version. */
uint32_t safem_ipfix_record_bytes(const struct safem_flow_record *record);

/* ------------------------------------------------------------------------- */
/* Exporter: messages to one collector. */

enum safem_ipfix_transport {
	SAFEM_IPFIX_UDP = 0,
	SAFEM_IPFIX_TCP = 1,
};

/** Longest collector host name or address kept in the params. */
#define SAFEM_IPFIX_HOST_MAX 256

/**
 * Exporter settings. Zero means "default" for every numeric field, so
 * `struct safem_ipfix_params p = {0}` plus a host is a valid UDP exporter.
 */
struct safem_ipfix_params {
	/** IPv4/IPv6 literal or a name (resolved once, at create). */
	char host[SAFEM_IPFIX_HOST_MAX];
	uint16_t port; /**< 0: SAFEM_IPFIX_DEFAULT_PORT */
	enum safem_ipfix_transport transport;
	uint32_t observation_domain_id; /**< RFC 7011 section 3.1; one per probe */
	/**
	 * Path MTU in bytes (0: 1500; 576..65535). A message is at most the MTU
	 * minus the IP and transport headers: 28 (UDP/IPv4), 48 (UDP/IPv6),
	 * 40 (TCP/IPv4), 60 (TCP/IPv6), so a UDP message is never fragmented
	 * (RFC 7011 section 10.3.3).
	 */
	uint32_t mtu;
	/** UDP: resend templates after this many seconds (0: 60; RFC 7011 section 10.3.6). */
	uint32_t template_refresh_s;
	/** UDP: ... or after this many messages (0: 100), whichever comes first. */
	uint32_t template_refresh_messages;
	/**
	 * TCP: how long create waits for the first connection (0: 1000 ms). Not
	 * being connected then is not an error: records are dropped and counted
	 * until a later attempt (at most one per second) succeeds.
	 */
	uint32_t connect_timeout_ms;
	/** Socket send buffer in bytes (0: 4 MiB, capped by net.core.wmem_max). */
	uint32_t sndbuf_bytes;
	/**
	 * UDP: IPFIX bytes per second x 8 (0: SAFEM_IPFIX_DEFAULT_RATE_BITS,
	 * SAFEM_IPFIX_RATE_UNLIMITED: no pacing). TCP ignores it.
	 */
	uint64_t rate_bits_s;
	/** UDP: token bucket depth in bytes (0: SAFEM_IPFIX_DEFAULT_BURST_BYTES). */
	uint32_t burst_bytes;
	/** Messages waiting to be sent, in bytes (0: SAFEM_IPFIX_DEFAULT_QUEUE_BYTES). */
	uint32_t queue_bytes;
};

/**
 * 20 Mbit/s: a stock nfcapd (nfdump 1.7, default 208 KiB socket buffer) on
 * the same 2-CPU host stores a 100,000-flow burst without loss at this rate
 * (tests/e2e/test_ipfix.py); ~48,000 IPv4 records per second.
 */
#define SAFEM_IPFIX_DEFAULT_RATE_BITS 20000000ull
#define SAFEM_IPFIX_RATE_UNLIMITED UINT64_MAX
/** 32 KiB: ~22 full messages at once, a sixth of a default receive buffer. */
#define SAFEM_IPFIX_DEFAULT_BURST_BYTES 32768u
/** 8 MiB: ~160,000 IPv4 records, 3.4 s at the default rate. */
#define SAFEM_IPFIX_DEFAULT_QUEUE_BYTES (8u << 20)

/**
 * Parse a collector spec "HOST:PORT[,proto=udp|tcp][,mtu=N]" into p (the
 * other fields are left as they are: zero p first, and apply a global MTU
 * only where p->mtu is still 0 so a per-target mtu= wins). HOST may be
 * "[IPv6]" or a name; an IPv6 literal needs the brackets. For `--ipfix`.
 * @return 0 or -EINVAL (the reason in safem_ipfix_error(), without the spec:
 *         the caller names it).
 */
int safem_ipfix_parse_target(const char *spec, struct safem_ipfix_params *p);

/** Exporter counters, one list for fields and names (STYLE.md rule 13). */
#define SAFEM_IPFIX_COUNTERS(X)                                                                    \
	X(messages_sent)   /* messages handed to the kernel, template-only ones included */        \
	X(records_sent)	   /* data records in those messages */                                    \
	X(records_dropped) /* records not sent, whatever the reason (the two below included) */   \
	X(bytes_sent)	   /* IPFIX message bytes handed to the kernel */                          \
	X(templates_sent)  /* template records sent (two per template set) */                      \
	X(send_errors)	   /* sends that failed (their records dropped) */                         \
	X(reconnects)	   /* TCP connections made after the first one (collector restarts) */     \
	X(records_queue_full) /* records dropped because the send queue was full */               \
	X(records_unsent_at_exit) /* records still queued when the exit drain gave up */          \
	X(messages_paced)  /* messages that waited for the rate limit (UDP) */                     \
	X(messages_blocked) /* messages the kernel refused for a while: back-pressure, kept */

struct safem_ipfix_stats {
#define SAFEM_IPFIX_FIELD_(name) uint64_t name;
	SAFEM_IPFIX_COUNTERS(SAFEM_IPFIX_FIELD_)
#undef SAFEM_IPFIX_FIELD_
};

struct safem_ipfix_exporter;

/**
 * Resolve the collector, open a non-blocking socket and (TCP) try to
 * connect, waiting at most connect_timeout_ms. Allocates the message
 * buffers (one per IP family, each message then holds one data set, plus the
 * rest of a partly sent TCP message); nothing is allocated after this.
 * @return the exporter, or NULL with rte_errno set: EINVAL (a params field is
 *         out of range, the host does not resolve), ENOMEM, or the socket
 *         error; safem_ipfix_error() says what is wrong, naming the field or
 *         the host. A TCP collector that refuses or does not answer is not
 *         an error.
 */
struct safem_ipfix_exporter *safem_ipfix_exporter_create(const struct safem_ipfix_params *p);

/** Why the last create or parse failed (thread-local, "" after success). */
const char *safem_ipfix_error(void);

/**
 * Encode one record into the current message; when it does not fit, queue
 * the message and send what the rate and the socket allow. Never blocks: a
 * message the full queue cannot take drops its records (counted); a send
 * that fails drops that message's records (counted). TCP: while not
 * connected, messages stay queued and a reconnect is tried at most once per
 * second.
 *
 * @param now_s wall clock, Unix seconds: the export time in message headers,
 *        and the clock for template refresh and reconnect pacing.
 * @return 0 (the record is in a message; whether it leaves shows in the
 *         counters), -EINVAL (ip_version neither 4 nor 6: dropped, counted).
 */
int safem_ipfix_exporter_add(struct safem_ipfix_exporter *exp,
			     const struct safem_flow_record *record, uint32_t now_s);

/**
 * Send the partly filled message, if any, and do the periodic work: UDP
 * template refresh when due (even with no records), TCP connection check and
 * reconnect. Call every 100 ms to 1 s and at exit.
 * @return 0, or -EAGAIN when something to send was dropped in this call.
 */
int safem_ipfix_exporter_flush(struct safem_ipfix_exporter *exp, uint32_t now_s);

/**
 * Send queued messages as far as the rate and the socket allow, and do the
 * periodic work of flush except closing the partly filled messages. Never
 * blocks; sends at most a bounded number of messages per call. Call often
 * (every main loop) so the paced rate is kept.
 */
void safem_ipfix_exporter_pump(struct safem_ipfix_exporter *exp, uint32_t now_s);

/**
 * Records not yet handed to the kernel: queued messages and the partly
 * filled ones. At any time records_sent + records_dropped + pending is every
 * record added. (The rest of a partly sent TCP message counts as sent; free
 * finishes it, waiting at most 1 s.)
 */
uint64_t safem_ipfix_exporter_pending(const struct safem_ipfix_exporter *exp);

/** Free queue space as a fraction of the queue, 0.0 (full) .. 1.0 (empty). */
double safem_ipfix_exporter_queue_room(const struct safem_ipfix_exporter *exp);

/**
 * Give up on everything pending (an exit drain that ran out of time): the
 * records count as dropped (records_dropped, records_unsent_at_exit).
 */
void safem_ipfix_exporter_discard(struct safem_ipfix_exporter *exp);

/** TCP: currently connected. UDP: always true. */
bool safem_ipfix_exporter_connected(const struct safem_ipfix_exporter *exp);

/** Counters (owned by the calling lcore; others may read them racily for monitoring). */
const struct safem_ipfix_stats *safem_ipfix_exporter_stats(const struct safem_ipfix_exporter *exp);

/** Largest message the exporter builds (MTU minus headers). */
uint32_t safem_ipfix_exporter_max_message(const struct safem_ipfix_exporter *exp);

/**
 * Flush (export time from the wall clock), send what can go at once, count
 * the rest as dropped (drain with pump first to lose nothing), close the
 * socket and free. NULL is a no-op.
 */
void safem_ipfix_exporter_free(struct safem_ipfix_exporter *exp);

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_IPFIX_H */
