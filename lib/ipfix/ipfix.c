/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_errno.h>

#include "safem_ipfix.h"
#include "safem_pace.h"

/* ------------------------------------------------------------------------- */
/* Templates (RFC 7011 section 3.4.1; IE numbers and lengths from RFC 7012 / IANA). */

struct ipfix_field {
	uint16_t ie;
	uint16_t length;
};

/* Order is the wire order of every data record; see the table in safem_ipfix.h. */
#define IPFIX_FIELDS(addr_src, addr_dst, addr_len, icmp_ie)                                        \
	{                                                                                          \
		{addr_src, addr_len}, {addr_dst, addr_len}, {7, 2}, {icmp_ie, 2}, {11, 2}, {4, 1}, \
			{1, 8}, {2, 8}, {152, 8}, {153, 8}, {6, 1}, {136, 1}, {60, 1}, {58, 2},    \
	}

static const struct ipfix_field ipfix_fields_v4[SAFEM_IPFIX_TEMPLATE_FIELDS] =
	IPFIX_FIELDS(8, 12, 4, 32);
static const struct ipfix_field ipfix_fields_v6[SAFEM_IPFIX_TEMPLATE_FIELDS] =
	IPFIX_FIELDS(27, 28, 16, 139);

/* Bytes of everything but the two addresses: ports, ICMP, protocol, counters, times... */
#define IPFIX_RECORD_FIXED_BYTES (2 + 2 + 2 + 1 + 8 + 8 + 8 + 8 + 1 + 1 + 1 + 2)
static_assert(SAFEM_IPFIX_RECORD_BYTES_IPV4 == IPFIX_RECORD_FIXED_BYTES + 2 * 4, "v4 record");
static_assert(SAFEM_IPFIX_RECORD_BYTES_IPV6 == IPFIX_RECORD_FIXED_BYTES + 2 * 16, "v6 record");

#define IPPROTO_NUM_ICMP 1
#define IPPROTO_NUM_ICMPV6 58

/* ------------------------------------------------------------------------- */
/* Encoder */

static inline uint8_t *
put8(uint8_t *p, uint8_t v)
{
	*p = v;
	return p + 1;
}

static inline uint8_t *
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static inline uint8_t *
put32(uint8_t *p, uint32_t v)
{
	p = put16(p, (uint16_t)(v >> 16));
	return put16(p, (uint16_t)v);
}

static inline uint8_t *
put64(uint8_t *p, uint64_t v)
{
	p = put32(p, (uint32_t)(v >> 32));
	return put32(p, (uint32_t)v);
}

void
safem_ipfix_message_init(struct safem_ipfix_message *m, uint8_t *buf, uint32_t capacity)
{
	m->buf = buf;
	m->capacity = RTE_MIN(capacity, SAFEM_IPFIX_MESSAGE_MAX);
	m->length = SAFEM_IPFIX_MESSAGE_HEADER_BYTES;
	m->set_offset = 0;
	m->set_id = 0;
	m->has_templates = 0;
	m->records = 0;
}

static uint8_t *
put_template(uint8_t *p, uint16_t template_id, const struct ipfix_field *fields)
{
	unsigned int i;

	p = put16(p, template_id);
	p = put16(p, SAFEM_IPFIX_TEMPLATE_FIELDS);
	for (i = 0; i < SAFEM_IPFIX_TEMPLATE_FIELDS; i++) {
		/* Enterprise bit clear: IANA elements (RFC 7011 section 3.2). */
		p = put16(p, fields[i].ie);
		p = put16(p, fields[i].length);
	}
	return p;
}

int
safem_ipfix_message_add_templates(struct safem_ipfix_message *m)
{
	uint8_t *p;

	if (m->records != 0 || m->set_id != 0 || m->has_templates)
		return -EINVAL;
	if (m->length + SAFEM_IPFIX_TEMPLATE_SET_BYTES > m->capacity)
		return -ENOSPC;
	p = m->buf + m->length;
	p = put16(p, SAFEM_IPFIX_TEMPLATE_SET_ID);
	p = put16(p, SAFEM_IPFIX_TEMPLATE_SET_BYTES);
	p = put_template(p, SAFEM_IPFIX_TEMPLATE_IPV4, ipfix_fields_v4);
	p = put_template(p, SAFEM_IPFIX_TEMPLATE_IPV6, ipfix_fields_v6);
	m->length = (uint32_t)(p - m->buf);
	m->has_templates = 1;
	return 0;
}

uint32_t
safem_ipfix_record_bytes(const struct safem_flow_record *r)
{
	if (r->key.ip_version == 4)
		return SAFEM_IPFIX_RECORD_BYTES_IPV4;
	if (r->key.ip_version == 6)
		return SAFEM_IPFIX_RECORD_BYTES_IPV6;
	return 0;
}

static inline void
close_set(struct safem_ipfix_message *m)
{
	if (m->set_id != 0)
		put16(m->buf + m->set_offset + 2, (uint16_t)(m->length - m->set_offset));
}

int
safem_ipfix_message_add_record(struct safem_ipfix_message *m, const struct safem_flow_record *r)
{
	const struct safem_flow_key *k = &r->key;
	uint32_t bytes = safem_ipfix_record_bytes(r);
	uint16_t template_id, icmp_type_code;
	uint32_t addr_len;
	uint8_t *p;

	if (bytes == 0)
		return -EINVAL;
	template_id = k->ip_version == 4 ? SAFEM_IPFIX_TEMPLATE_IPV4 : SAFEM_IPFIX_TEMPLATE_IPV6;
	if (m->length + bytes + (m->set_id != template_id ? SAFEM_IPFIX_SET_HEADER_BYTES : 0) >
	    m->capacity)
		return -ENOSPC;
	if (m->set_id != template_id) {
		/* One data set per run of same-family records; the set id is the
		 * template id (RFC 7011 section 3.3.2). No padding: optional. */
		close_set(m);
		m->set_offset = m->length;
		m->set_id = template_id;
		put16(m->buf + m->length, template_id);
		m->length += SAFEM_IPFIX_SET_HEADER_BYTES;
	}
	addr_len = k->ip_version == 4 ? 4 : 16;
	/* The flow key keeps ICMP type << 8 | code in dst_port (NetFlow style);
	 * ICMP in the other IP version has no type/code there. */
	icmp_type_code = (k->ip_version == 4 && k->proto == IPPROTO_NUM_ICMP) ||
					 (k->ip_version == 6 && k->proto == IPPROTO_NUM_ICMPV6)
				 ? k->dst_port
				 : 0;
	p = m->buf + m->length;
	memcpy(p, k->src_addr, addr_len); /* already network order */
	p += addr_len;
	memcpy(p, k->dst_addr, addr_len);
	p += addr_len;
	p = put16(p, k->src_port);
	p = put16(p, icmp_type_code);
	p = put16(p, k->dst_port);
	p = put8(p, k->proto);
	p = put64(p, r->bytes);
	p = put64(p, r->packets);
	p = put64(p, r->first_ms);
	p = put64(p, r->last_ms);
	p = put8(p, r->tcp_flags);  /* reduced-size tcpControlBits (safem_ipfix.h) */
	p = put8(p, r->end_reason); /* our values are IPFIX flowEndReason */
	p = put8(p, k->ip_version);
	p = put16(p, k->vlan_id);
	m->length = (uint32_t)(p - m->buf);
	m->records++;
	return 0;
}

uint32_t
safem_ipfix_message_finish(struct safem_ipfix_message *m, uint32_t export_time_s, uint32_t sequence,
			   uint32_t observation_domain_id)
{
	uint8_t *p = m->buf;

	close_set(m);
	/* Message header, RFC 7011 section 3.1. */
	p = put16(p, SAFEM_IPFIX_VERSION);
	p = put16(p, (uint16_t)m->length);
	p = put32(p, export_time_s);
	p = put32(p, sequence);
	put32(p, observation_domain_id);
	return m->length;
}

/* ------------------------------------------------------------------------- */
/* Parameters */

/* Create and parse run on the main lcore at start-up; per thread keeps it simple. */
static _Thread_local char ipfix_error[320];

const char *
safem_ipfix_error(void)
{
	return ipfix_error;
}

static void __rte_format_printf(2, 3) ipfix_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ipfix_error, sizeof(ipfix_error), fmt, ap);
	va_end(ap);
	rte_errno = err;
	errno = err;
}

#define IPFIX_DEFAULT_MTU 1500
#define IPFIX_MIN_MTU 576 /* IPv4 minimum reassembly size (RFC 791) */
#define IPFIX_MAX_MTU 65535
#define IPFIX_DEFAULT_REFRESH_S 60
#define IPFIX_DEFAULT_REFRESH_MESSAGES 100
#define IPFIX_DEFAULT_CONNECT_TIMEOUT_MS 1000
#define IPFIX_MAX_CONNECT_TIMEOUT_MS 60000
#define IPFIX_DEFAULT_SNDBUF (4u << 20)
/* A connect that has not completed in this long is abandoned and retried. */
#define IPFIX_CONNECT_ABANDON_S 5
/* At free: how long a partly sent TCP message may wait for the collector. */
#define IPFIX_CLOSE_DRAIN_MS 1000
/* A queue holds at least this many messages, whatever queue_bytes says. */
#define IPFIX_MIN_QUEUE_MESSAGES 4
/* Messages one pump call sends at most: the main loop comes back within a
 * millisecond, so this bounds the time of one call without bounding the rate. */
#define IPFIX_PUMP_MAX_MESSAGES 256

static int
parse_uint(const char *s, size_t len, unsigned long min, unsigned long max, unsigned long *out)
{
	char buf[16];
	char *end;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (buf[0] < '0' || buf[0] > '9')
		return -1;
	errno = 0;
	*out = strtoul(buf, &end, 10);
	if (errno != 0 || *end != '\0' || *out < min || *out > max)
		return -1;
	return 0;
}

int
safem_ipfix_parse_target(const char *spec, struct safem_ipfix_params *p)
{
	const char *comma, *host, *port, *hp_end, *opt;
	size_t host_len;
	unsigned long v;

	ipfix_error[0] = '\0';
	if (spec == NULL || spec[0] == '\0') {
		ipfix_fail(EINVAL, "empty collector, want HOST:PORT[,proto=udp|tcp]");
		return -EINVAL;
	}
	comma = strchr(spec, ',');
	hp_end = comma != NULL ? comma : spec + strlen(spec);
	if (spec[0] == '[') {
		const char *close = memchr(spec, ']', (size_t)(hp_end - spec));

		if (close == NULL || close + 1 >= hp_end || close[1] != ':') {
			ipfix_fail(EINVAL, "want [IPv6]:PORT");
			return -EINVAL;
		}
		host = spec + 1;
		host_len = (size_t)(close - host);
		port = close + 2;
	} else {
		const char *colon = memchr(spec, ':', (size_t)(hp_end - spec));

		if (colon == NULL) {
			ipfix_fail(EINVAL, "no port, want HOST:PORT");
			return -EINVAL;
		}
		if (memchr(colon + 1, ':', (size_t)(hp_end - colon - 1)) != NULL) {
			ipfix_fail(EINVAL, "an IPv6 address needs brackets: [ADDR]:PORT");
			return -EINVAL;
		}
		host = spec;
		host_len = (size_t)(colon - spec);
		port = colon + 1;
	}
	if (host_len == 0 || host_len >= SAFEM_IPFIX_HOST_MAX) {
		ipfix_fail(EINVAL, "host empty or longer than %d characters",
			   SAFEM_IPFIX_HOST_MAX - 1);
		return -EINVAL;
	}
	if (parse_uint(port, (size_t)(hp_end - port), 1, 65535, &v) != 0) {
		ipfix_fail(EINVAL, "port must be 1..65535");
		return -EINVAL;
	}
	memcpy(p->host, host, host_len);
	p->host[host_len] = '\0';
	p->port = (uint16_t)v;
	for (opt = comma; opt != NULL; opt = comma) {
		const char *end;
		size_t len;

		opt++;
		comma = strchr(opt, ',');
		end = comma != NULL ? comma : opt + strlen(opt);
		len = (size_t)(end - opt);
		if (len == 9 && strncmp(opt, "proto=udp", 9) == 0) {
			p->transport = SAFEM_IPFIX_UDP;
		} else if (len == 9 && strncmp(opt, "proto=tcp", 9) == 0) {
			p->transport = SAFEM_IPFIX_TCP;
		} else if (len > 4 && strncmp(opt, "mtu=", 4) == 0) {
			if (parse_uint(opt + 4, len - 4, IPFIX_MIN_MTU, IPFIX_MAX_MTU, &v) != 0) {
				ipfix_fail(EINVAL, "mtu must be %d..%d", IPFIX_MIN_MTU,
					   IPFIX_MAX_MTU);
				return -EINVAL;
			}
			p->mtu = (uint32_t)v;
		} else {
			ipfix_fail(EINVAL, "unknown option '%.*s' (want proto=udp|tcp, mtu=N)",
				   (int)len, opt);
			return -EINVAL;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------- */
/* Exporter */

enum ipfix_conn_state {
	IPFIX_DISCONNECTED,
	IPFIX_CONNECTING,
	IPFIX_CONNECTED,
};

struct safem_ipfix_exporter {
	struct safem_ipfix_params params; /* with defaults filled in */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	int family;
	int fd; /* -1 when TCP is disconnected */
	enum ipfix_conn_state state;
	bool ever_connected;
	bool templates_due;
	uint32_t max_message;
	uint32_t sequence; /* data records sent in this Transport Session (mod 2^32) */
	uint32_t last_template_s;
	uint32_t messages_since_templates;
	uint32_t connect_started_s; /* last connect attempt */
	bool connect_tried;
	/* TCP: rest of a message the kernel took only partly; sent before anything else. */
	uint8_t *tail;
	uint32_t tail_len;
	uint32_t tail_records;
	/*
	 * Data records being packed, one message per family (IPv4, IPv6): each
	 * message then holds a single data set, so a mixed stream of records
	 * costs no set header per family change and every message is as full
	 * as the MTU allows.
	 */
	struct safem_ipfix_message msg[2];
	struct safem_ipfix_message templates; /* prebuilt template-only message */
	uint8_t template_buf[SAFEM_IPFIX_MESSAGE_HEADER_BYTES + SAFEM_IPFIX_TEMPLATE_SET_BYTES];
	/*
	 * Finished data messages waiting to be sent, oldest at queue_head. A
	 * message is queued by swapping buffers with the free slot, so nothing
	 * is copied; its header is written when it is sent (the export time and
	 * the sequence number of the session it goes out on).
	 */
	struct safem_ipfix_message *queue;
	uint32_t queue_slots;
	uint32_t queue_head;
	uint32_t queue_count;
	uint64_t queue_records;
	bool head_paced;   /* the head message has waited for tokens (counted once) */
	bool head_blocked; /* the head message has found the socket full (counted once) */
	bool paced;	   /* UDP with a rate */
	struct safem_pace pace;
	struct safem_ipfix_stats stats;
	uint8_t *buffers; /* every message buffer and the TCP tail, one block */
};

static uint32_t
transport_overhead(int family, enum safem_ipfix_transport t)
{
	uint32_t ip = family == AF_INET6 ? 40 : 20;

	return ip + (t == SAFEM_IPFIX_TCP ? 20 : 8);
}

static bool
is_tcp(const struct safem_ipfix_exporter *exp)
{
	return exp->params.transport == SAFEM_IPFIX_TCP;
}

static int
open_socket(struct safem_ipfix_exporter *exp)
{
	int type = is_tcp(exp) ? SOCK_STREAM : SOCK_DGRAM;
	int fd = socket(exp->family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, sndbuf = (int)RTE_MIN(exp->params.sndbuf_bytes, (uint32_t)INT_MAX);

	if (fd < 0)
		return -errno;
	/* Room for bursts of messages while the collector catches up; the
	 * kernel caps it at net.core.wmem_max, which is fine. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	/* A flushed, partly filled message should leave now, not after 40 ms. */
	if (is_tcp(exp))
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void
tcp_disconnect(struct safem_ipfix_exporter *exp)
{
	if (exp->fd >= 0)
		close(exp->fd);
	exp->fd = -1;
	exp->state = IPFIX_DISCONNECTED;
	/* A message cut in the middle never reached the collector whole. */
	exp->stats.records_sent -= exp->tail_records;
	exp->stats.records_dropped += exp->tail_records;
	exp->tail_len = 0;
	exp->tail_records = 0;
}

static void
tcp_established(struct safem_ipfix_exporter *exp)
{
	exp->state = IPFIX_CONNECTED;
	if (exp->ever_connected)
		exp->stats.reconnects++;
	exp->ever_connected = true;
	/* A new connection is a new Transport Session (RFC 7011 section 10.4.2):
	 * templates again, sequence numbers from 0. */
	exp->sequence = 0;
	exp->templates_due = true;
}

/* Start a connection attempt (non-blocking). */
static void
tcp_connect_start(struct safem_ipfix_exporter *exp, uint32_t now_s)
{
	int fd;

	exp->connect_tried = true;
	exp->connect_started_s = now_s;
	fd = open_socket(exp);
	if (fd < 0)
		return;
	exp->fd = fd;
	if (connect(fd, (const struct sockaddr *)&exp->addr, exp->addr_len) == 0) {
		tcp_established(exp);
	} else if (errno == EINPROGRESS) {
		exp->state = IPFIX_CONNECTING;
	} else {
		close(fd);
		exp->fd = -1;
	}
}

/* Has a pending connect finished? Waits at most timeout_ms. */
static void
tcp_connect_check(struct safem_ipfix_exporter *exp, int timeout_ms)
{
	struct pollfd pfd = {.fd = exp->fd, .events = POLLOUT};
	int err = 0;
	socklen_t len = sizeof(err);

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return;
	if (getsockopt(exp->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
		tcp_disconnect(exp);
		return;
	}
	tcp_established(exp);
}

/*
 * Collectors never send to an exporter, so a readable socket means the
 * collector closed (read returns 0) or reset it. Checked before every
 * message (one non-blocking recv, next to the send it guards): a message
 * sent after the collector's FIN would be taken by the kernel and lost
 * uncounted; checked, it stays queued for the next connection. Only what
 * the kernel had already taken when the collector went is lost unseen.
 */
static void
tcp_check_alive(struct safem_ipfix_exporter *exp)
{
	uint8_t junk[256];
	ssize_t n;

	for (;;) {
		n = recv(exp->fd, junk, sizeof(junk), MSG_DONTWAIT);
		if (n > 0)
			continue;
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			tcp_disconnect(exp);
		return;
	}
}

/* Can a message go out now? Drives TCP (re)connection; never waits. */
static bool
transport_ready(struct safem_ipfix_exporter *exp, uint32_t now_s)
{
	if (!is_tcp(exp))
		return true;
	switch (exp->state) {
	case IPFIX_CONNECTED:
		tcp_check_alive(exp);
		break;
	case IPFIX_CONNECTING:
		tcp_connect_check(exp, 0);
		if (exp->state == IPFIX_CONNECTING &&
		    (now_s < exp->connect_started_s ||
		     now_s - exp->connect_started_s >= IPFIX_CONNECT_ABANDON_S))
			tcp_disconnect(exp);
		break;
	case IPFIX_DISCONNECTED:
		/* At most one attempt per second: a dead collector costs nothing. */
		if (!exp->connect_tried || now_s != exp->connect_started_s)
			tcp_connect_start(exp, now_s);
		break;
	}
	return exp->state == IPFIX_CONNECTED;
}

/* TCP: push the rest of a partly sent message. True when nothing is left. */
static bool
tcp_flush_tail(struct safem_ipfix_exporter *exp)
{
	ssize_t n;

	if (exp->tail_len == 0)
		return true;
	n = send(exp->fd, exp->tail, exp->tail_len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			tcp_disconnect(exp);
		return false;
	}
	memmove(exp->tail, exp->tail + n, exp->tail_len - (uint32_t)n);
	exp->tail_len -= (uint32_t)n;
	if (exp->tail_len == 0)
		exp->tail_records = 0;
	return exp->tail_len == 0;
}

enum ipfix_tx {
	IPFIX_TX_SENT,	 /* the kernel has it (TCP: maybe with a tail to send first next time) */
	IPFIX_TX_LATER,	 /* not sent, try again later: buffer full, TCP not connected */
	IPFIX_TX_FAILED, /* not sent and never will be (UDP error): drop it */
};

static bool
would_block(int err)
{
	/* ENOBUFS: a UDP socket whose device queue is full (Linux), transient. */
	return err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == ENOBUFS;
}

/* Hand one finished message to the kernel without blocking. */
static enum ipfix_tx
transmit(struct safem_ipfix_exporter *exp, const uint8_t *buf, uint32_t len, uint32_t records)
{
	ssize_t n;

	if (exp->fd < 0 || (is_tcp(exp) && exp->tail_len != 0))
		return IPFIX_TX_LATER;
	n = send(exp->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n == (ssize_t)len)
		return IPFIX_TX_SENT;
	if (n > 0 && is_tcp(exp)) {
		/* Partial write: the stream now holds half a message, so the rest
		 * must follow before anything else. */
		memcpy(exp->tail, buf + n, len - (uint32_t)n);
		exp->tail_len = len - (uint32_t)n;
		exp->tail_records = records;
		return IPFIX_TX_SENT;
	}
	if (n < 0 && would_block(errno))
		return IPFIX_TX_LATER;
	if (is_tcp(exp)) {
		/* The connection broke before any of this message went: it waits
		 * in the queue for the next connection. */
		tcp_disconnect(exp);
		return IPFIX_TX_LATER;
	}
	/* UDP: ECONNREFUSED (an ICMP port unreachable came back for an earlier
	 * datagram) or another error: this one is lost. */
	exp->stats.send_errors++;
	return IPFIX_TX_FAILED;
}

static bool
templates_due(struct safem_ipfix_exporter *exp, uint32_t now_s)
{
	if (exp->templates_due || is_tcp(exp))
		return exp->templates_due;
	/* UDP (RFC 7011 section 10.3.6): templates can be lost or the collector
	 * restarted, so they are resent on a timer and a message count. A clock
	 * that went back also triggers a refresh. */
	return now_s < exp->last_template_s ||
	       now_s - exp->last_template_s >= exp->params.template_refresh_s ||
	       exp->messages_since_templates >= exp->params.template_refresh_messages;
}

/* True when the templates left. */
static bool
send_templates(struct safem_ipfix_exporter *exp, uint32_t now_s)
{
	uint32_t len = safem_ipfix_message_finish(&exp->templates, now_s, exp->sequence,
						  exp->params.observation_domain_id);

	exp->templates_due = true;
	if (transmit(exp, exp->template_buf, len, 0) != IPFIX_TX_SENT)
		return false;
	if (exp->paced)
		safem_pace_spend(&exp->pace, len);
	exp->templates_due = false;
	exp->last_template_s = now_s;
	exp->messages_since_templates = 0;
	exp->stats.messages_sent++;
	exp->stats.bytes_sent += len;
	exp->stats.templates_sent += 2;
	return true;
}

/* May a message of len bytes leave now (UDP pacing)? */
static bool
pace_allows(struct safem_ipfix_exporter *exp, uint32_t len)
{
	return !exp->paced || safem_pace_ready(&exp->pace, len, safem_pace_now_ns());
}

/* The socket refused the head message for now (back-pressure): counted once a message. */
static void
note_blocked(struct safem_ipfix_exporter *exp)
{
	if (exp->queue_count == 0 || exp->head_blocked || exp->fd < 0)
		return; /* nothing waiting, already counted, or no connection (not back-pressure) */
	exp->stats.messages_blocked++;
	exp->head_blocked = true;
}

static void
queue_pop(struct safem_ipfix_exporter *exp)
{
	exp->queue_records -= exp->queue[exp->queue_head].records;
	exp->queue_head = (exp->queue_head + 1) % exp->queue_slots;
	exp->queue_count--;
	exp->head_paced = false;
	exp->head_blocked = false;
}

/* Queue the data message being packed (or count its records as dropped) and start a new one. */
static void
queue_data(struct safem_ipfix_exporter *exp, unsigned int family)
{
	struct safem_ipfix_message *m = &exp->msg[family], *slot;
	uint8_t *free_buf;

	if (m->records == 0)
		return;
	if (exp->queue_count == exp->queue_slots) {
		exp->stats.records_dropped += m->records;
		exp->stats.records_queue_full += m->records;
		safem_ipfix_message_init(m, m->buf, exp->max_message);
		return;
	}
	slot = &exp->queue[(exp->queue_head + exp->queue_count) % exp->queue_slots];
	free_buf = slot->buf;
	*slot = *m;
	exp->queue_count++;
	exp->queue_records += m->records;
	safem_ipfix_message_init(m, free_buf, exp->max_message);
}

void
safem_ipfix_exporter_pump(struct safem_ipfix_exporter *exp, uint32_t now_s)
{
	unsigned int sent;

	for (sent = 0; sent < IPFIX_PUMP_MAX_MESSAGES; sent++) {
		struct safem_ipfix_message *m;
		uint32_t len, records;
		enum ipfix_tx tx;

		/* TCP: (re)connection, paced to one attempt a second. */
		if (!transport_ready(exp, now_s))
			return;
		if (is_tcp(exp) && !tcp_flush_tail(exp)) {
			note_blocked(exp); /* the window is closed */
			return;
		}
		/* UDP (RFC 7011 section 10.3.6): refresh on a timer and a count.
		 * TCP: once per connection, before any data on it. */
		if (templates_due(exp, now_s)) {
			if (!pace_allows(exp, sizeof(exp->template_buf)) ||
			    !send_templates(exp, now_s))
				return;
		}
		if (exp->queue_count == 0)
			return;
		m = &exp->queue[exp->queue_head];
		records = m->records;
		len = safem_ipfix_message_finish(m, now_s, exp->sequence,
						 exp->params.observation_domain_id);
		if (!pace_allows(exp, len)) {
			if (!exp->head_paced)
				exp->stats.messages_paced++;
			exp->head_paced = true;
			return;
		}
		tx = transmit(exp, m->buf, len, records);
		if (tx == IPFIX_TX_LATER) {
			note_blocked(exp);
			return;
		}
		if (tx == IPFIX_TX_SENT) {
			if (exp->paced)
				safem_pace_spend(&exp->pace, len);
			exp->sequence += records;
			exp->messages_since_templates++;
			exp->stats.messages_sent++;
			exp->stats.records_sent += records;
			exp->stats.bytes_sent += len;
		} else {
			exp->stats.records_dropped += records;
		}
		queue_pop(exp);
	}
}

int
safem_ipfix_exporter_add(struct safem_ipfix_exporter *exp, const struct safem_flow_record *record,
			 uint32_t now_s)
{
	unsigned int family = record->key.ip_version == 6;
	int ret = safem_ipfix_message_add_record(&exp->msg[family], record);

	if (ret == -ENOSPC) {
		queue_data(exp, family);
		safem_ipfix_exporter_pump(exp, now_s);
		/* An empty message always has room for one record (create checks). */
		ret = safem_ipfix_message_add_record(&exp->msg[family], record);
	}
	if (ret != 0)
		exp->stats.records_dropped++;
	return ret;
}

int
safem_ipfix_exporter_flush(struct safem_ipfix_exporter *exp, uint32_t now_s)
{
	uint64_t dropped = exp->stats.records_dropped;
	uint64_t errors = exp->stats.send_errors;
	unsigned int family;

	for (family = 0; family < 2; family++)
		queue_data(exp, family);
	/* Periodic work, records or not: a TCP reconnect (paced), the rest of a
	 * partly sent message, a UDP template refresh that fell due. */
	safem_ipfix_exporter_pump(exp, now_s);
	return exp->stats.records_dropped != dropped || exp->stats.send_errors != errors ? -EAGAIN
											 : 0;
}

uint64_t
safem_ipfix_exporter_pending(const struct safem_ipfix_exporter *exp)
{
	/* Not the TCP tail: its records count as sent already (free() finishes it). */
	return exp->queue_records + exp->msg[0].records + exp->msg[1].records;
}

double
safem_ipfix_exporter_queue_room(const struct safem_ipfix_exporter *exp)
{
	return (double)(exp->queue_slots - exp->queue_count) / (double)exp->queue_slots;
}

void
safem_ipfix_exporter_discard(struct safem_ipfix_exporter *exp)
{
	unsigned int family;
	uint64_t lost;

	for (family = 0; family < 2; family++)
		queue_data(exp, family);
	lost = exp->queue_records;
	while (exp->queue_count != 0)
		queue_pop(exp);
	exp->stats.records_dropped += lost;
	exp->stats.records_unsent_at_exit += lost;
}

bool
safem_ipfix_exporter_connected(const struct safem_ipfix_exporter *exp)
{
	return !is_tcp(exp) || exp->state == IPFIX_CONNECTED;
}

const struct safem_ipfix_stats *
safem_ipfix_exporter_stats(const struct safem_ipfix_exporter *exp)
{
	return &exp->stats;
}

uint32_t
safem_ipfix_exporter_max_message(const struct safem_ipfix_exporter *exp)
{
	return exp->max_message;
}

static int
params_check(const struct safem_ipfix_params *in, struct safem_ipfix_params *p)
{
	if (in == NULL) {
		ipfix_fail(EINVAL, "params must not be NULL");
		return -EINVAL;
	}
	*p = *in;
	if (memchr(p->host, '\0', sizeof(p->host)) == NULL || p->host[0] == '\0') {
		ipfix_fail(EINVAL, "host: collector host must be set");
		return -EINVAL;
	}
	if (p->transport != SAFEM_IPFIX_UDP && p->transport != SAFEM_IPFIX_TCP) {
		ipfix_fail(EINVAL, "transport: %d is neither UDP nor TCP", (int)p->transport);
		return -EINVAL;
	}
	if (p->port == 0)
		p->port = SAFEM_IPFIX_DEFAULT_PORT;
	if (p->mtu == 0)
		p->mtu = IPFIX_DEFAULT_MTU;
	if (p->mtu < IPFIX_MIN_MTU || p->mtu > IPFIX_MAX_MTU) {
		ipfix_fail(EINVAL, "mtu: %u is outside %d..%d", p->mtu, IPFIX_MIN_MTU,
			   IPFIX_MAX_MTU);
		return -EINVAL;
	}
	if (p->template_refresh_s == 0)
		p->template_refresh_s = IPFIX_DEFAULT_REFRESH_S;
	if (p->template_refresh_messages == 0)
		p->template_refresh_messages = IPFIX_DEFAULT_REFRESH_MESSAGES;
	if (p->connect_timeout_ms == 0)
		p->connect_timeout_ms = IPFIX_DEFAULT_CONNECT_TIMEOUT_MS;
	if (p->connect_timeout_ms > IPFIX_MAX_CONNECT_TIMEOUT_MS) {
		ipfix_fail(EINVAL, "connect_timeout_ms: %u is more than %d", p->connect_timeout_ms,
			   IPFIX_MAX_CONNECT_TIMEOUT_MS);
		return -EINVAL;
	}
	if (p->sndbuf_bytes == 0)
		p->sndbuf_bytes = IPFIX_DEFAULT_SNDBUF;
	if (p->rate_bits_s == 0)
		p->rate_bits_s = SAFEM_IPFIX_DEFAULT_RATE_BITS;
	if (p->rate_bits_s < 8) {
		ipfix_fail(EINVAL, "rate_bits_s: %llu is less than one byte per second",
			   (unsigned long long)p->rate_bits_s);
		return -EINVAL;
	}
	if (p->burst_bytes == 0)
		p->burst_bytes = SAFEM_IPFIX_DEFAULT_BURST_BYTES;
	if (p->queue_bytes == 0)
		p->queue_bytes = SAFEM_IPFIX_DEFAULT_QUEUE_BYTES;
	return 0;
}

static int
resolve(struct safem_ipfix_exporter *exp)
{
	const struct safem_ipfix_params *p = &exp->params;
	struct addrinfo hints, *res = NULL;
	char port[8];
	int ret;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = is_tcp(exp) ? SOCK_STREAM : SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", p->port);
	ret = getaddrinfo(p->host, port, &hints, &res);
	if (ret != 0 || res == NULL) {
		ipfix_fail(EINVAL, "host: collector '%s' does not resolve: %s", p->host,
			   ret == EAI_SYSTEM ? strerror(errno) : gai_strerror(ret));
		if (res != NULL)
			freeaddrinfo(res);
		return -EINVAL;
	}
	memcpy(&exp->addr, res->ai_addr, res->ai_addrlen);
	exp->addr_len = res->ai_addrlen;
	exp->family = res->ai_family;
	freeaddrinfo(res);
	return 0;
}

/* Close the socket and free everything: failed create and free alike. */
static void
exporter_release(struct safem_ipfix_exporter *exp)
{
	if (exp->fd >= 0)
		close(exp->fd);
	free(exp->queue);
	free(exp->buffers);
	free(exp);
}

struct safem_ipfix_exporter *
safem_ipfix_exporter_create(const struct safem_ipfix_params *params)
{
	struct safem_ipfix_exporter *exp;
	int err;

	ipfix_error[0] = '\0';
	exp = calloc(1, sizeof(*exp));
	if (exp == NULL) {
		ipfix_fail(ENOMEM, "out of memory");
		return NULL;
	}
	exp->fd = -1;
	if (params_check(params, &exp->params) != 0 || resolve(exp) != 0)
		goto fail;
	exp->max_message =
		RTE_MIN(exp->params.mtu - transport_overhead(exp->family, exp->params.transport),
			SAFEM_IPFIX_MESSAGE_MAX);
	exp->queue_slots = RTE_MAX(exp->params.queue_bytes / exp->max_message,
				   (uint32_t)IPFIX_MIN_QUEUE_MESSAGES);
	exp->queue = calloc(exp->queue_slots, sizeof(*exp->queue));
	/* Buffers: one per queue slot, the two being packed, the TCP tail. */
	exp->buffers = malloc((size_t)(exp->queue_slots + 3) * exp->max_message);
	if (exp->queue == NULL || exp->buffers == NULL) {
		ipfix_fail(ENOMEM, "out of memory for a queue of %u bytes (queue_bytes)",
			   exp->params.queue_bytes);
		goto fail;
	}
	for (uint32_t i = 0; i < exp->queue_slots; i++)
		safem_ipfix_message_init(&exp->queue[i],
					 exp->buffers + (size_t)i * exp->max_message,
					 exp->max_message);
	safem_ipfix_message_init(&exp->msg[0],
				 exp->buffers + (size_t)exp->queue_slots * exp->max_message,
				 exp->max_message);
	safem_ipfix_message_init(&exp->msg[1],
				 exp->buffers + (size_t)(exp->queue_slots + 1) * exp->max_message,
				 exp->max_message);
	exp->tail = exp->buffers + (size_t)(exp->queue_slots + 2) * exp->max_message;
	exp->paced = !is_tcp(exp) && exp->params.rate_bits_s != SAFEM_IPFIX_RATE_UNLIMITED;
	if (exp->paced)
		safem_pace_init(&exp->pace, exp->params.rate_bits_s / 8, exp->params.burst_bytes,
				safem_pace_now_ns());
	safem_ipfix_message_init(&exp->templates, exp->template_buf, sizeof(exp->template_buf));
	safem_ipfix_message_add_templates(&exp->templates);
	exp->templates_due = true;
	if (is_tcp(exp)) {
		tcp_connect_start(exp, (uint32_t)time(NULL));
		if (exp->state == IPFIX_CONNECTING)
			tcp_connect_check(exp, (int)exp->params.connect_timeout_ms);
		return exp;
	}
	exp->fd = open_socket(exp);
	if (exp->fd < 0) {
		err = -exp->fd;
		ipfix_fail(err, "UDP socket for collector %s: %s", exp->params.host, strerror(err));
		goto fail;
	}
	/* A connected UDP socket: the kernel reports ICMP port unreachable as
	 * ECONNREFUSED, and send() skips the per-datagram route lookup. */
	if (connect(exp->fd, (const struct sockaddr *)&exp->addr, exp->addr_len) != 0) {
		err = errno;
		ipfix_fail(err, "collector %s port %u: %s", exp->params.host, exp->params.port,
			   strerror(err));
		goto fail;
	}
	exp->state = IPFIX_CONNECTED;
	return exp;
fail:
	err = rte_errno;
	exporter_release(exp);
	rte_errno = err;
	errno = err;
	return NULL;
}

void
safem_ipfix_exporter_free(struct safem_ipfix_exporter *exp)
{
	if (exp == NULL)
		return;
	safem_ipfix_exporter_flush(exp, (uint32_t)time(NULL));
	safem_ipfix_exporter_discard(exp);
	/* At exit, a message the kernel took only partly may wait a little
	 * (bounded) for the collector, rather than being cut. */
	while (is_tcp(exp) && exp->state == IPFIX_CONNECTED && exp->tail_len != 0) {
		struct pollfd pfd = {.fd = exp->fd, .events = POLLOUT};

		if (poll(&pfd, 1, IPFIX_CLOSE_DRAIN_MS) <= 0) {
			tcp_disconnect(exp);
			break;
		}
		tcp_flush_tail(exp);
	}
	exporter_release(exp);
}
