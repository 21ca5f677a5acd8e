/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * IPFIX exporter: the bytes of templates and records decoded by a small
 * independent decoder (RFC 7011 layout, IE numbers from RFC 7012), sequence
 * numbers, MTU packing, template refresh cadence, then real sockets: UDP to
 * 127.0.0.1 and ::1, TCP with a collector that goes away and comes back, a
 * collector too slow to read (never blocks, stream stays whole), and UDP to a
 * port nobody listens on.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "safem_ipfix.h"

/* ------------------------------------------------------------------------- */
/* Test decoder: written from RFC 7011 section 3, not from the encoder. */

#define MAX_FIELDS 32
#define MAX_RECORDS 40000
#define MAX_SETS 64

struct dec_template {
	uint16_t count;
	uint16_t ie[MAX_FIELDS];
	uint16_t len[MAX_FIELDS];
};

struct dec_record {
	uint16_t template_id;
	uint8_t src[16], dst[16];
	uint16_t src_port, dst_port, icmp_type_code, tcp_flags, vlan;
	uint8_t proto, end_reason, ip_version;
	uint64_t bytes, packets, start_ms, end_ms;
};

struct dec_message {
	uint16_t version, length;
	uint32_t export_time, sequence, domain;
	unsigned int sets;
	uint16_t set_id[MAX_SETS];
	uint16_t set_len[MAX_SETS];
	unsigned int records;
	bool templates;
};

struct decoder {
	struct dec_template tmpl[2]; /* 256, 257 */
	bool have[2];
	struct dec_record *rec;
	unsigned int n_rec;
	unsigned int messages;
	uint64_t records_in_messages; /* for sequence checks */
};

static uint64_t
get_be(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;
	unsigned int i;

	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static struct decoder *
decoder_new(void)
{
	struct decoder *d = calloc(1, sizeof(*d));

	assert_non_null(d);
	d->rec = calloc(MAX_RECORDS, sizeof(*d->rec));
	assert_non_null(d->rec);
	return d;
}

static void
decoder_free(struct decoder *d)
{
	free(d->rec);
	free(d);
}

static void
decode_record(struct dec_record *r, uint16_t tid, const struct dec_template *t, const uint8_t *p)
{
	unsigned int i;

	memset(r, 0, sizeof(*r));
	r->template_id = tid;
	for (i = 0; i < t->count; i++) {
		uint16_t len = t->len[i];
		uint64_t v = len <= 8 ? get_be(p, len) : 0;

		switch (t->ie[i]) {
		case 8:
		case 27:
			memcpy(r->src, p, len);
			break;
		case 12:
		case 28:
			memcpy(r->dst, p, len);
			break;
		case 7:
			r->src_port = (uint16_t)v;
			break;
		case 11:
			r->dst_port = (uint16_t)v;
			break;
		case 32:
		case 139:
			r->icmp_type_code = (uint16_t)v;
			break;
		case 4:
			r->proto = (uint8_t)v;
			break;
		case 1:
			r->bytes = v;
			break;
		case 2:
			r->packets = v;
			break;
		case 152:
			r->start_ms = v;
			break;
		case 153:
			r->end_ms = v;
			break;
		case 6:
			r->tcp_flags = (uint16_t)v;
			break;
		case 136:
			r->end_reason = (uint8_t)v;
			break;
		case 60:
			r->ip_version = (uint8_t)v;
			break;
		case 58:
			r->vlan = (uint16_t)v;
			break;
		default:
			fail_msg("unexpected IE %u in template %u", t->ie[i], tid);
		}
		p += len;
	}
}

/* Decode one message of exactly len bytes; records append to d->rec. */
static void
decode_message(struct decoder *d, const uint8_t *buf, size_t len, struct dec_message *m)
{
	size_t off = 16;

	memset(m, 0, sizeof(*m));
	assert_true(len >= 16);
	m->version = (uint16_t)get_be(buf, 2);
	m->length = (uint16_t)get_be(buf + 2, 2);
	m->export_time = (uint32_t)get_be(buf + 4, 4);
	m->sequence = (uint32_t)get_be(buf + 8, 4);
	m->domain = (uint32_t)get_be(buf + 12, 4);
	assert_int_equal(m->version, 10);
	assert_int_equal(m->length, len);
	while (off < len) {
		uint16_t set_id, set_len;
		size_t end;

		assert_true(off + 4 <= len);
		set_id = (uint16_t)get_be(buf + off, 2);
		set_len = (uint16_t)get_be(buf + off + 2, 2);
		assert_true(set_len >= 4);
		end = off + set_len;
		assert_true(end <= len);
		if (m->sets < MAX_SETS) {
			m->set_id[m->sets] = set_id;
			m->set_len[m->sets] = set_len;
		}
		m->sets++;
		off += 4;
		if (set_id == 2) {
			/* Template set: templates back to back (RFC 7011 section 3.4.1). */
			assert_int_equal(m->records, 0); /* templates come before data */
			m->templates = true;
			while (off + 4 <= end) {
				uint16_t tid = (uint16_t)get_be(buf + off, 2);
				uint16_t n = (uint16_t)get_be(buf + off + 2, 2);
				struct dec_template *t;
				unsigned int i;

				assert_true(tid == 256 || tid == 257);
				assert_true(n <= MAX_FIELDS);
				t = &d->tmpl[tid - 256];
				t->count = n;
				off += 4;
				for (i = 0; i < n; i++) {
					assert_true(off + 4 <= end);
					t->ie[i] = (uint16_t)get_be(buf + off, 2);
					t->len[i] = (uint16_t)get_be(buf + off + 2, 2);
					assert_int_equal(t->ie[i] & 0x8000, 0);
					off += 4;
				}
				d->have[tid - 256] = true;
			}
			assert_int_equal(off, end);
		} else {
			const struct dec_template *t;
			unsigned int rlen = 0, i;

			assert_true(set_id == 256 || set_id == 257);
			assert_true(d->have[set_id - 256]); /* template known before data */
			t = &d->tmpl[set_id - 256];
			for (i = 0; i < t->count; i++)
				rlen += t->len[i];
			/* No padding: the set is a whole number of records. */
			assert_int_equal((end - off) % rlen, 0);
			while (off + rlen <= end) {
				assert_true(d->n_rec < MAX_RECORDS);
				decode_record(&d->rec[d->n_rec++], set_id, t, buf + off);
				m->records++;
				off += rlen;
			}
		}
		off = end;
	}
	d->messages++;
}

/* Check a message's sequence number and account its records. */
static void
check_sequence(struct decoder *d, const struct dec_message *m)
{
	assert_int_equal(m->sequence, (uint32_t)d->records_in_messages);
	d->records_in_messages += m->records;
}

/* ------------------------------------------------------------------------- */
/* Records */

static struct safem_flow_record
make_record(unsigned int i, int family)
{
	struct safem_flow_record r;
	char addr[64];

	memset(&r, 0, sizeof(r));
	r.key.ip_version = (uint8_t)family;
	if (family == 4) {
		snprintf(addr, sizeof(addr), "10.%u.%u.1", (i >> 8) & 255, i & 255);
		inet_pton(AF_INET, addr, r.key.src_addr);
		inet_pton(AF_INET, "198.51.100.7", r.key.dst_addr);
	} else {
		snprintf(addr, sizeof(addr), "2001:db8::%x:1", i & 0xffff);
		inet_pton(AF_INET6, addr, r.key.src_addr);
		inet_pton(AF_INET6, "2001:db8:ffff::2", r.key.dst_addr);
	}
	r.key.src_port = (uint16_t)(1024 + i);
	r.key.dst_port = 443;
	r.key.proto = 6;
	r.key.vlan_id = (uint16_t)(i % 4096);
	r.packets = 1000000000ull + i;
	r.bytes = 0x0102030405060708ull + i;
	r.first_ms = 1700000000123ull + i;
	r.last_ms = 1700000009876ull + i;
	r.tcp_flags = 0x1b;
	r.end_reason = SAFEM_FLOW_END_tcp_end;
	return r;
}

static void
assert_record_equal(const struct dec_record *d, const struct safem_flow_record *r)
{
	unsigned int alen = r->key.ip_version == 4 ? 4 : 16;
	uint16_t icmp = (r->key.ip_version == 4 && r->key.proto == 1) ||
					(r->key.ip_version == 6 && r->key.proto == 58)
				? r->key.dst_port
				: 0;

	assert_int_equal(d->template_id, r->key.ip_version == 4 ? 256 : 257);
	assert_memory_equal(d->src, r->key.src_addr, alen);
	assert_memory_equal(d->dst, r->key.dst_addr, alen);
	assert_int_equal(d->src_port, r->key.src_port);
	assert_int_equal(d->dst_port, r->key.dst_port);
	assert_int_equal(d->icmp_type_code, icmp);
	assert_int_equal(d->proto, r->key.proto);
	assert_int_equal(d->bytes, r->bytes);
	assert_int_equal(d->packets, r->packets);
	assert_int_equal(d->start_ms, r->first_ms);
	assert_int_equal(d->end_ms, r->last_ms);
	assert_int_equal(d->tcp_flags, r->tcp_flags);
	assert_int_equal(d->end_reason, r->end_reason);
	assert_int_equal(d->ip_version, r->key.ip_version);
	assert_int_equal(d->vlan, r->key.vlan_id);
}

/*
 * The exporter packs each family into its own message, so records leave in
 * family order, not add order: match decoded records to sent ones by
 * src_port (1024 + index in make_record), each exactly once.
 */
static void
assert_records_match(const struct decoder *d, const struct safem_flow_record *r, unsigned int n)
{
	bool *seen = calloc(n, sizeof(*seen));
	unsigned int i, idx;

	assert_non_null(seen);
	assert_int_equal(d->n_rec, n);
	for (i = 0; i < d->n_rec; i++) {
		idx = d->rec[i].src_port - 1024u;
		assert_true(idx < n);
		assert_false(seen[idx]);
		seen[idx] = true;
		assert_record_equal(&d->rec[i], &r[idx]);
	}
	free(seen);
}

/* ------------------------------------------------------------------------- */
/* Encoder */

/* The templates exactly as docs/integration.md lists them. */
static const uint16_t want_v4[14][2] = {{8, 4}, {12, 4},  {7, 2},  {32, 2},  {11, 2},
					{4, 1}, {1, 8},	  {2, 8},  {152, 8}, {153, 8},
					{6, 1}, {136, 1}, {60, 1}, {58, 2}};
static const uint16_t want_v6[14][2] = {{27, 16}, {28, 16}, {7, 2},  {139, 2}, {11, 2},
					{4, 1},	  {1, 8},   {2, 8},  {152, 8}, {153, 8},
					{6, 1},	  {136, 1}, {60, 1}, {58, 2}};

static void
test_template_set(void **state)
{
	uint8_t buf[512];
	struct safem_ipfix_message m;
	struct dec_message dm;
	struct decoder *d = decoder_new();
	uint32_t len;
	unsigned int i;

	(void)state;
	safem_ipfix_message_init(&m, buf, sizeof(buf));
	assert_true(safem_ipfix_message_empty(&m));
	assert_int_equal(safem_ipfix_message_add_templates(&m), 0);
	assert_false(safem_ipfix_message_empty(&m));
	assert_int_equal(safem_ipfix_message_add_templates(&m), -EINVAL); /* only once */
	len = safem_ipfix_message_finish(&m, 1700000100, 42, 0xdeadbeef);
	assert_int_equal(len, 16 + SAFEM_IPFIX_TEMPLATE_SET_BYTES);
	assert_int_equal(len, 140);
	/* Header bytes, literally: version 10, length, time, sequence, domain. */
	static const uint8_t hdr[16] = {0, 10, 0, 140, 0x65, 0x53, 0xf1, 0x64,
					0, 0,  0, 42,  0xde, 0xad, 0xbe, 0xef};
	assert_memory_equal(buf, hdr, 16);
	decode_message(d, buf, len, &dm);
	assert_int_equal(dm.export_time, 1700000100);
	assert_int_equal(dm.sequence, 42);
	assert_int_equal(dm.domain, 0xdeadbeef);
	assert_int_equal(dm.sets, 1);
	assert_int_equal(dm.set_id[0], 2);
	assert_int_equal(dm.set_len[0], 124);
	assert_int_equal(dm.records, 0);
	assert_true(d->have[0] && d->have[1]);
	assert_int_equal(d->tmpl[0].count, 14);
	assert_int_equal(d->tmpl[1].count, 14);
	for (i = 0; i < 14; i++) {
		assert_int_equal(d->tmpl[0].ie[i], want_v4[i][0]);
		assert_int_equal(d->tmpl[0].len[i], want_v4[i][1]);
		assert_int_equal(d->tmpl[1].ie[i], want_v6[i][0]);
		assert_int_equal(d->tmpl[1].len[i], want_v6[i][1]);
	}
	decoder_free(d);
}

static void
test_encode_v4_record(void **state)
{
	uint8_t buf[512];
	struct safem_ipfix_message m;
	struct dec_message dm;
	struct decoder *d = decoder_new();
	struct safem_flow_record r = make_record(7, 4);
	const uint8_t *rec;
	uint32_t len;

	(void)state;
	r.key.vlan_id = 100;
	safem_ipfix_message_init(&m, buf, sizeof(buf));
	assert_int_equal(safem_ipfix_message_add_templates(&m), 0);
	assert_int_equal(safem_ipfix_message_add_record(&m, &r), 0);
	assert_int_equal(safem_ipfix_message_records(&m), 1);
	assert_int_equal(safem_ipfix_message_add_templates(&m), -EINVAL); /* data already */
	len = safem_ipfix_message_finish(&m, 1, 0, 5);
	assert_int_equal(len, 140 + 4 + SAFEM_IPFIX_RECORD_BYTES_IPV4);
	decode_message(d, buf, len, &dm);
	assert_int_equal(dm.sets, 2);
	assert_int_equal(dm.set_id[1], 256);
	assert_int_equal(dm.set_len[1], 4 + 52);
	assert_int_equal(d->n_rec, 1);
	assert_record_equal(&d->rec[0], &r);
	/* Raw bytes: network byte order at the offsets of the template. */
	rec = buf + 140 + 4;
	static const uint8_t addrs[8] = {10, 0, 7, 1, 198, 51, 100, 7};
	assert_memory_equal(rec, addrs, 8);
	assert_int_equal(rec[8], (1024 + 7) >> 8); /* sourceTransportPort */
	assert_int_equal(rec[9], (1024 + 7) & 255);
	assert_int_equal(rec[10], 0); /* icmpTypeCodeIPv4: not ICMP */
	assert_int_equal(rec[11], 0);
	assert_int_equal(rec[12], 443 >> 8);
	assert_int_equal(rec[13], 443 & 255);
	assert_int_equal(rec[14], 6);
	static const uint8_t octets[8] = {1, 2, 3, 4, 5, 6, 7, 8 + 7};
	assert_memory_equal(rec + 15, octets, 8);
	/* flowStartMilliseconds: Unix ms, 64 bits (RFC 7011 section 6.1.8). */
	assert_int_equal(get_be(rec + 31, 8), 1700000000123ull + 7);
	assert_int_equal(get_be(rec + 39, 8), 1700000009876ull + 7);
	assert_int_equal(rec[47], 0x1b); /* tcpControlBits, reduced to one octet */
	assert_int_equal(rec[48], 3);	 /* endOfFlowDetected */
	assert_int_equal(rec[49], 4);
	assert_int_equal(get_be(rec + 50, 2), 100);
	decoder_free(d);
}

static void
test_encode_v6_and_icmp(void **state)
{
	uint8_t buf[1024];
	struct safem_ipfix_message m;
	struct dec_message dm;
	struct decoder *d = decoder_new();
	struct safem_flow_record r[4];
	unsigned int i;
	uint32_t len;

	(void)state;
	r[0] = make_record(1, 6);
	r[1] = make_record(2, 6); /* ICMPv6 echo request */
	r[1].key.proto = 58;
	r[1].key.src_port = 0;
	r[1].key.dst_port = 128 << 8;
	r[2] = make_record(3, 4); /* ICMP destination unreachable, port */
	r[2].key.proto = 1;
	r[2].key.src_port = 0;
	r[2].key.dst_port = 3 << 8 | 3;
	r[3] = make_record(4, 6); /* ICMP (v4 protocol) inside IPv6: no type/code */
	r[3].key.proto = 1;
	r[3].key.src_port = 0;
	r[3].key.dst_port = 0;
	safem_ipfix_message_init(&m, buf, sizeof(buf));
	assert_int_equal(safem_ipfix_message_add_templates(&m), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(safem_ipfix_message_add_record(&m, &r[i]), 0);
	len = safem_ipfix_message_finish(&m, 1, 0, 0);
	assert_int_equal(len, 140 + 3 * 4 + 3 * 76 + 52);
	decode_message(d, buf, len, &dm);
	/* v6 v6 | v4 | v6: three data sets, one per run of a family. */
	assert_int_equal(dm.sets, 4);
	assert_int_equal(dm.set_id[1], 257);
	assert_int_equal(dm.set_len[1], 4 + 2 * 76);
	assert_int_equal(dm.set_id[2], 256);
	assert_int_equal(dm.set_len[2], 4 + 52);
	assert_int_equal(dm.set_id[3], 257);
	assert_int_equal(dm.set_len[3], 4 + 76);
	assert_int_equal(d->n_rec, 4);
	for (i = 0; i < 4; i++)
		assert_record_equal(&d->rec[i], &r[i]);
	assert_int_equal(d->rec[1].icmp_type_code, 128 << 8);
	assert_int_equal(d->rec[1].dst_port, 128 << 8);
	assert_int_equal(d->rec[2].icmp_type_code, 0x0303);
	assert_int_equal(d->rec[3].icmp_type_code, 0);
	decoder_free(d);
}

static void
test_invalid_record(void **state)
{
	uint8_t buf[256];
	struct safem_ipfix_message m;
	struct safem_flow_record r = make_record(1, 4);

	(void)state;
	r.key.ip_version = 5;
	safem_ipfix_message_init(&m, buf, sizeof(buf));
	assert_int_equal(safem_ipfix_record_bytes(&r), 0);
	assert_int_equal(safem_ipfix_message_add_record(&m, &r), -EINVAL);
	assert_true(safem_ipfix_message_empty(&m));
}

/* Records of one family that fit a message of capacity bytes (one data set). */
static unsigned int
fit(uint32_t capacity, unsigned int record_bytes)
{
	return (capacity - 16 - 4) / record_bytes;
}

static void
test_message_packing(void **state)
{
	static uint8_t buf[SAFEM_IPFIX_MESSAGE_MAX + 100];
	static const uint32_t caps[] = {1472, 1452, 1460, 8972, 65507, 200};
	unsigned int c, fam;

	(void)state;
	for (c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
		for (fam = 4; fam <= 6; fam += 2) {
			unsigned int rb = fam == 4 ? 52 : 76, n = 0;
			struct safem_ipfix_message m;
			struct safem_flow_record r = make_record(0, (int)fam);
			struct dec_message dm;
			struct decoder *d = decoder_new();

			safem_ipfix_message_init(&m, buf, caps[c]);
			while (safem_ipfix_message_add_record(&m, &r) == 0)
				n++;
			assert_int_equal(n, fit(caps[c], rb));
			assert_true(m.length <= caps[c]);
			assert_int_equal(safem_ipfix_message_finish(&m, 0, 0, 0), 20 + n * rb);
			d->have[0] = d->have[1] = true; /* templates known from elsewhere */
			for (unsigned int i = 0; i < 14; i++) {
				d->tmpl[0].ie[i] = want_v4[i][0];
				d->tmpl[0].len[i] = want_v4[i][1];
				d->tmpl[1].ie[i] = want_v6[i][0];
				d->tmpl[1].len[i] = want_v6[i][1];
			}
			d->tmpl[0].count = d->tmpl[1].count = 14;
			decode_message(d, buf, 20 + n * rb, &dm);
			assert_int_equal(dm.records, n);
			decoder_free(d);
		}
	}
	/* 1500-byte MTU, UDP over IPv4: 27 IPv4 or 19 IPv6 records per message. */
	assert_int_equal(fit(1472, 52), 27);
	assert_int_equal(fit(1472, 76), 19);
}

/* ------------------------------------------------------------------------- */
/* Sockets */

static uint32_t
t0(void)
{
	return (uint32_t)time(NULL);
}

/* UDP receiver bound to loopback; returns fd and sets port. */
static int
udp_receiver(int family, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = socket(family, SOCK_DGRAM, 0), big = 8 << 20;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		len = sizeof(*s6);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
		close(fd);
		return -1;
	}
	len = sizeof(ss);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	*port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					: ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

/* Receive every datagram waiting (loopback delivers at send time). */
static unsigned int
udp_drain(int fd, struct decoder *d, struct dec_message *msgs, unsigned int max)
{
	static uint8_t buf[65536];
	unsigned int n = 0;
	ssize_t got;

	while ((got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		assert_true(n < max);
		decode_message(d, buf, (size_t)got, &msgs[n++]);
	}
	return n;
}

static struct safem_ipfix_params
udp_params(const char *host, uint16_t port)
{
	struct safem_ipfix_params p;

	memset(&p, 0, sizeof(p));
	snprintf(p.host, sizeof(p.host), "%s", host);
	p.port = port;
	p.observation_domain_id = 77;
	return p;
}

#define MAX_MSGS 2048

static void
test_udp_export_v4(void **state)
{
	uint16_t port;
	int fd = udp_receiver(AF_INET, &port);
	struct safem_ipfix_params p = udp_params("127.0.0.1", port);
	struct safem_ipfix_exporter *exp;
	struct decoder *d = decoder_new();
	struct dec_message *msgs = calloc(MAX_MSGS, sizeof(*msgs));
	struct safem_flow_record r[200];
	const struct safem_ipfix_stats *st;
	uint32_t now = 1700000000;
	unsigned int i, n, data_msgs = 0, rec_bytes = 0;

	(void)state;
	exp = safem_ipfix_exporter_create(&p);
	assert_non_null(exp);
	assert_true(safem_ipfix_exporter_connected(exp));
	assert_int_equal(safem_ipfix_exporter_max_message(exp), 1500 - 28);
	/* 100 IPv4 then 100 IPv6, each family packed in its own messages. */
	for (i = 0; i < 200; i++) {
		r[i] = make_record(i, i < 100 ? 4 : 6);
		assert_int_equal(safem_ipfix_exporter_add(exp, &r[i], now), 0);
	}
	assert_int_equal(safem_ipfix_exporter_flush(exp, now), 0);
	n = udp_drain(fd, d, msgs, MAX_MSGS);
	st = safem_ipfix_exporter_stats(exp);
	assert_int_equal(st->records_sent, 200);
	assert_int_equal(st->records_dropped, 0);
	assert_int_equal(st->send_errors, 0);
	assert_int_equal(st->templates_sent, 2);
	assert_int_equal(st->messages_sent, n);
	/* Templates first, in a message of their own with sequence 0. */
	assert_true(msgs[0].templates);
	assert_int_equal(msgs[0].records, 0);
	assert_int_equal(msgs[0].sequence, 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(msgs[i].domain, 77);
		assert_int_equal(msgs[i].export_time, now);
		assert_true(msgs[i].length <= 1472);
		check_sequence(d, &msgs[i]);
		if (msgs[i].records != 0)
			data_msgs++;
		rec_bytes += msgs[i].length;
	}
	/* Packing: full messages of 27 IPv4 / 19 IPv6 records (one data set
	 * each) as they fill, then the two partial ones at flush. */
	static const unsigned int want_records[] = {0, 27, 27, 27, 19, 19, 19, 19, 19, 19, 5};
	static const uint16_t want_set[] = {2, 256, 256, 256, 257, 257, 257, 257, 257, 256, 257};
	assert_int_equal(n, 11);
	assert_int_equal(data_msgs, 10);
	for (i = 0; i < n; i++) {
		assert_int_equal(msgs[i].records, want_records[i]);
		assert_int_equal(msgs[i].sets, 1);
		assert_int_equal(msgs[i].set_id[0], want_set[i]);
	}
	assert_int_equal(msgs[1].length, 16 + 4 + 27 * 52);
	assert_int_equal(msgs[4].length, 16 + 4 + 19 * 76);
	assert_int_equal(st->bytes_sent, rec_bytes);
	assert_records_match(d, r, 200);
	safem_ipfix_exporter_free(exp);
	close(fd);
	free(msgs);
	decoder_free(d);
}

static void
test_udp_export_v6_collector(void **state)
{
	uint16_t port;
	int fd = udp_receiver(AF_INET6, &port);
	struct safem_ipfix_params p;
	struct safem_ipfix_exporter *exp;
	struct decoder *d = decoder_new();
	struct dec_message msgs[64];
	struct safem_flow_record r;
	unsigned int i, n;

	(void)state;
	if (fd < 0) {
		decoder_free(d);
		skip(); /* no IPv6 on loopback here */
	}
	p = udp_params("::1", port);
	exp = safem_ipfix_exporter_create(&p);
	assert_non_null(exp);
	/* IPv6 + UDP headers: 48 bytes; 18 IPv6 records fit 1452 (19 fit 1472). */
	assert_int_equal(safem_ipfix_exporter_max_message(exp), 1452);
	for (i = 0; i < 40; i++) {
		r = make_record(i, 6);
		safem_ipfix_exporter_add(exp, &r, 5);
	}
	safem_ipfix_exporter_flush(exp, 5);
	n = udp_drain(fd, d, msgs, 64);
	assert_int_equal(n, 1 + 3);
	assert_int_equal(msgs[1].records, 18);
	assert_int_equal(msgs[2].records, 18);
	assert_int_equal(msgs[3].records, 4);
	for (i = 0; i < n; i++) {
		assert_true(msgs[i].length <= 1452);
		check_sequence(d, &msgs[i]);
	}
	safem_ipfix_exporter_free(exp);
	close(fd);
	decoder_free(d);
}

static void
test_template_refresh(void **state)
{
	uint16_t port;
	int fd = udp_receiver(AF_INET, &port);
	struct safem_ipfix_params p = udp_params("127.0.0.1", port);
	struct safem_ipfix_exporter *exp;
	struct decoder *d = decoder_new();
	struct dec_message *msgs = calloc(MAX_MSGS, sizeof(*msgs));
	struct safem_flow_record r = make_record(1, 4);
	uint32_t now = 1000;
	unsigned int i, n, since = 0;

	(void)state;
	p.template_refresh_messages = 3;
	p.template_refresh_s = 10;
	exp = safem_ipfix_exporter_create(&p);
	assert_non_null(exp);
	/* Message count: templates before data messages 1, 4, 7, 10. */
	for (i = 0; i < 10 * 27; i++)
		safem_ipfix_exporter_add(exp, &r, now);
	safem_ipfix_exporter_flush(exp, now);
	n = udp_drain(fd, d, msgs, MAX_MSGS);
	assert_int_equal(n, 10 + 4);
	for (i = 0; i < n; i++) {
		check_sequence(d, &msgs[i]);
		if (msgs[i].templates) {
			assert_int_equal(msgs[i].records, 0);
			assert_true(i == 0 || since == 3);
			since = 0;
		} else {
			assert_int_equal(msgs[i].records, 27);
			since++;
			assert_true(since <= 3);
		}
	}
	assert_int_equal(safem_ipfix_exporter_stats(exp)->templates_sent, 4 * 2);
	/* Time: nothing at +9 s; at +10 s the templates go even with no data. */
	safem_ipfix_exporter_flush(exp, now + 9);
	assert_int_equal(udp_drain(fd, d, msgs, MAX_MSGS), 0);
	safem_ipfix_exporter_flush(exp, now + 10);
	n = udp_drain(fd, d, msgs, MAX_MSGS);
	assert_int_equal(n, 1);
	assert_true(msgs[0].templates);
	assert_int_equal(msgs[0].sequence, 270);
	/* The sequence number counts data records only (RFC 7011 section 3.1). */
	safem_ipfix_exporter_add(exp, &r, now + 11);
	safem_ipfix_exporter_flush(exp, now + 11);
	n = udp_drain(fd, d, msgs, MAX_MSGS);
	assert_int_equal(n, 1);
	assert_false(msgs[0].templates);
	assert_int_equal(msgs[0].sequence, 270);
	/* A clock that steps back refreshes at once. */
	safem_ipfix_exporter_flush(exp, now + 5);
	n = udp_drain(fd, d, msgs, MAX_MSGS);
	assert_int_equal(n, 1);
	assert_true(msgs[0].templates);
	assert_int_equal(msgs[0].sequence, 271);
	safem_ipfix_exporter_free(exp);
	close(fd);
	free(msgs);
	decoder_free(d);
}

static uint16_t
free_udp_port(void)
{
	uint16_t port;
	int fd = udp_receiver(AF_INET, &port);

	close(fd);
	return port;
}

static double
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * No collector listens: the kernel answers each datagram with ICMP port unreachable, which
 * comes back as ECONNREFUSED on a later send. Those messages are counted, none is retried,
 * nothing waits. The kernel sends those ICMP errors from one global budget (net.ipv4.
 * icmp_msgs_per_sec, 1000/s with a burst of 50) shared with every other process, and a
 * test running next to us that sends to closed ports can spend it, or bind the port we
 * found free: then no refusal comes back and the exporter has nothing to count. So a run
 * that saw no refusal is tried again, on a new port, after the budget refills (up to 5
 * runs); what each run must hold (every record sent or dropped, in under 2 s) holds in
 * every run.
 */
static void
test_udp_no_listener(void **state)
{
	struct safem_flow_record r = make_record(1, 4);
	uint64_t dropped = 0, errors = 0;
	unsigned int i, run;

	(void)state;
	for (run = 0; run < 5 && dropped == 0; run++) {
		struct safem_ipfix_params p = udp_params("127.0.0.1", free_udp_port());
		struct safem_ipfix_exporter *exp;
		const struct safem_ipfix_stats *st;
		double start;

		if (run > 0)
			usleep(200 * 1000);
		start = mono_s();
		/* Unpaced: every message is tried at once, so the refusals show now. */
		p.rate_bits_s = SAFEM_IPFIX_RATE_UNLIMITED;
		exp = safem_ipfix_exporter_create(&p);
		assert_non_null(exp);
		for (i = 0; i < 27 * 200; i++) {
			safem_ipfix_exporter_add(exp, &r, 1);
			if (i % 100 == 0)
				safem_ipfix_exporter_flush(exp, 1);
		}
		safem_ipfix_exporter_flush(exp, 1);
		st = safem_ipfix_exporter_stats(exp);
		assert_int_equal(st->records_sent + st->records_dropped, 27 * 200);
		assert_true(mono_s() - start < 2.0);
		dropped = st->records_dropped;
		errors = st->send_errors;
		safem_ipfix_exporter_free(exp);
	}
	assert_true(dropped > 0);
	assert_true(errors > 0);
}

/*
 * Pacing: over any interval the exporter sends at most burst + rate x time
 * bytes, and with enough time everything arrives, in order. Only upper
 * bounds on what was sent by a measured time: a slow machine cannot fail it.
 */
static void
test_udp_paced(void **state)
{
	uint16_t port;
	int fd = udp_receiver(AF_INET, &port);
	struct safem_ipfix_params p = udp_params("127.0.0.1", port);
	struct safem_ipfix_exporter *exp;
	const struct safem_ipfix_stats *st;
	struct decoder *d = decoder_new();
	struct dec_message *msgs = calloc(MAX_MSGS, sizeof(*msgs));
	struct safem_flow_record r[2000];
	const double rate_bytes_s = 1e6; /* 8 Mbit/s */
	const uint32_t burst = 16384;
	uint32_t now = t0();
	double start, elapsed;
	unsigned int i, n = 0, k;

	(void)state;
	p.rate_bits_s = 8000000;
	p.burst_bytes = burst;
	exp = safem_ipfix_exporter_create(&p);
	assert_non_null(exp);
	st = safem_ipfix_exporter_stats(exp);
	start = mono_s();
	for (i = 0; i < 2000; i++) {
		r[i] = make_record(i, 4);
		safem_ipfix_exporter_add(exp, &r[i], now);
	}
	safem_ipfix_exporter_flush(exp, now);
	elapsed = mono_s() - start;
	/* ~74 messages, 104 KB: far more than the burst. */
	assert_true((double)st->bytes_sent <= burst + rate_bytes_s * elapsed + 1500);
	assert_true(safem_ipfix_exporter_pending(exp) > 0);
	assert_true(st->messages_paced > 0);
	while (safem_ipfix_exporter_pending(exp) != 0 && mono_s() - start < 30) {
		usleep(1000);
		n += udp_drain(fd, d, msgs + n, MAX_MSGS - n);
		safem_ipfix_exporter_pump(exp, now);
		elapsed = mono_s() - start;
		assert_true((double)st->bytes_sent <= burst + rate_bytes_s * elapsed + 1500);
	}
	assert_int_equal(safem_ipfix_exporter_pending(exp), 0);
	assert_int_equal(st->records_sent, 2000);
	assert_int_equal(st->records_dropped, 0);
	while ((k = udp_drain(fd, d, msgs + n, MAX_MSGS - n)) != 0)
		n += k;
	assert_int_equal(n, st->messages_sent);
	for (i = 0; i < n; i++)
		check_sequence(d, &msgs[i]);
	assert_records_match(d, r, 2000);
	safem_ipfix_exporter_free(exp);
	close(fd);
	free(msgs);
	decoder_free(d);
}

/* The queue is bounded: what it cannot take is dropped and counted, never waited for. */
static void
test_udp_queue_bound(void **state)
{
	uint16_t port;
	int fd = udp_receiver(AF_INET, &port);
	struct safem_ipfix_params p = udp_params("127.0.0.1", port);
	struct safem_ipfix_exporter *exp;
	const struct safem_ipfix_stats *st;
	struct safem_flow_record r;
	uint64_t before;
	unsigned int i;

	(void)state;
	p.rate_bits_s = 800; /* 100 B/s: a second message would take 14 s of refill */
	p.burst_bytes = 1472;	  /* one message */
	p.queue_bytes = 8 * 1472; /* eight messages */
	exp = safem_ipfix_exporter_create(&p);
	assert_non_null(exp);
	st = safem_ipfix_exporter_stats(exp);
	for (i = 0; i < 27 * 100; i++) {
		r = make_record(i, 4);
		safem_ipfix_exporter_add(exp, &r, t0());
	}
	safem_ipfix_exporter_flush(exp, t0());
	assert_true(st->records_queue_full > 0);
	assert_int_equal(st->records_dropped, st->records_queue_full);
	/* Eight queued messages of 27 records; the templates and at most one
	 * data message went (the burst), two if the loop took 14 s. */
	assert_true(safem_ipfix_exporter_pending(exp) <= 8 * 27);
	assert_true(st->records_sent <= 2 * 27);
	assert_int_equal(st->records_sent + st->records_dropped + safem_ipfix_exporter_pending(exp),
			 27 * 100);
	/* Exit: what is still queued is counted as lost at exit. */
	before = st->records_dropped;
	i = (unsigned int)safem_ipfix_exporter_pending(exp);
	safem_ipfix_exporter_discard(exp);
	assert_int_equal(safem_ipfix_exporter_pending(exp), 0);
	assert_int_equal(st->records_unsent_at_exit, i);
	assert_int_equal(st->records_dropped, before + i);
	safem_ipfix_exporter_free(exp);
	close(fd);
}

/* ---- TCP ---- */

static int
tcp_listener(uint16_t *port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(*port);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* Stream reassembly: split received bytes into messages by their length field. */
struct stream {
	uint8_t *buf;
	size_t len, cap;
};

static void
stream_read(int fd, struct stream *s, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	ssize_t got;

	if (s->buf == NULL) {
		s->cap = 64 << 20;
		s->buf = malloc(s->cap);
		assert_non_null(s->buf);
	}
	while (poll(&pfd, 1, timeout_ms) > 0) {
		got = recv(fd, s->buf + s->len, s->cap - s->len, MSG_DONTWAIT);
		if (got <= 0)
			break;
		s->len += (size_t)got;
	}
}

/* Decode all whole messages in the stream; returns how many. */
static unsigned int
stream_decode(struct stream *s, struct decoder *d, struct dec_message *msgs, unsigned int max)
{
	size_t off = 0;
	unsigned int n = 0;

	while (off + 4 <= s->len) {
		size_t mlen = (size_t)get_be(s->buf + off + 2, 2);

		assert_int_equal(get_be(s->buf + off, 2), 10);
		if (off + mlen > s->len)
			break;
		assert_true(n < max);
		decode_message(d, s->buf + off, mlen, &msgs[n++]);
		off += mlen;
	}
	assert_int_equal(off, s->len); /* no half message left */
	return n;
}

static int
accept_timeout(int lfd, int timeout_ms)
{
	struct pollfd pfd = {.fd = lfd, .events = POLLIN};

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return -1;
	return accept(lfd, NULL, NULL);
}

static void
test_tcp_export_and_reconnect(void **state)
{
	uint16_t port = 0;
	int lfd = tcp_listener(&port), cfd;
	struct safem_ipfix_params p = udp_params("127.0.0.1", port);
	struct safem_ipfix_exporter *exp;
	const struct safem_ipfix_stats *st;
	struct decoder *d = decoder_new();
	struct dec_message *msgs = calloc(MAX_MSGS, sizeof(*msgs));
	struct stream s = {0};
	struct safem_flow_record r[100];
	uint32_t now = t0() + 100; /* differs from create's own clock */
	unsigned int i, n;
	uint64_t dropped, sent, queued;

	(void)state;
	p.transport = SAFEM_IPFIX_TCP;
	exp = safem_ipfix_exporter_create(&p);
	assert_non_null(exp);
	assert_true(safem_ipfix_exporter_connected(exp));
	assert_int_equal(safem_ipfix_exporter_max_message(exp), 1500 - 40);
	cfd = accept_timeout(lfd, 2000);
	assert_true(cfd >= 0);
	for (i = 0; i < 100; i++) {
		r[i] = make_record(i, i % 3 ? 4 : 6);
		safem_ipfix_exporter_add(exp, &r[i], now);
	}
	assert_int_equal(safem_ipfix_exporter_flush(exp, now), 0);
	stream_read(cfd, &s, 200);
	n = stream_decode(&s, d, msgs, MAX_MSGS);
	st = safem_ipfix_exporter_stats(exp);
	assert_int_equal(st->records_sent, 100);
	assert_int_equal(st->records_dropped, 0);
	assert_int_equal(st->messages_sent, n);
	assert_true(msgs[0].templates);
	for (i = 0; i < n; i++) {
		assert_true(msgs[i].length <= 1460);
		assert_true(i == 0 || !msgs[i].templates); /* once per connection */
		check_sequence(d, &msgs[i]);
	}
	assert_records_match(d, r, 100);

	/* The collector goes away: noticed at the next second's check; what
	 * is not sent waits in the queue. */
	close(cfd);
	close(lfd);
	now++;
	for (i = 0; i < 100; i++)
		safem_ipfix_exporter_add(exp, &r[i], now);
	safem_ipfix_exporter_flush(exp, now);
	assert_false(safem_ipfix_exporter_connected(exp));
	st = safem_ipfix_exporter_stats(exp);
	assert_int_equal(st->records_sent + st->records_dropped + safem_ipfix_exporter_pending(exp),
			 200);
	assert_true(safem_ipfix_exporter_pending(exp) > 0);
	dropped = st->records_dropped;
	sent = st->records_sent;
	/* Refused attempts, at most one a second; records keep being queued. */
	now++;
	safem_ipfix_exporter_add(exp, &r[0], now);
	safem_ipfix_exporter_flush(exp, now);
	assert_int_equal(st->records_dropped, dropped);
	queued = safem_ipfix_exporter_pending(exp);
	assert_int_equal(sent + dropped + queued, 201);
	/* Back again, but in the second of a failed attempt: no new attempt yet. */
	lfd = tcp_listener(&port);
	safem_ipfix_exporter_flush(exp, now);
	assert_false(safem_ipfix_exporter_connected(exp));
	assert_int_equal(accept_timeout(lfd, 100), -1);
	/* Next second: reconnect, templates again, sequence from 0. */
	now++;
	safem_ipfix_exporter_flush(exp, now);
	for (i = 0; i < 50 && !safem_ipfix_exporter_connected(exp); i++) {
		usleep(10000);
		safem_ipfix_exporter_flush(exp, now);
	}
	assert_true(safem_ipfix_exporter_connected(exp));
	assert_int_equal(st->reconnects, 1);
	cfd = accept_timeout(lfd, 2000);
	assert_true(cfd >= 0);
	for (i = 0; i < 30; i++)
		safem_ipfix_exporter_add(exp, &r[i], now);
	safem_ipfix_exporter_flush(exp, now);
	decoder_free(d);
	d = decoder_new();
	s.len = 0;
	stream_read(cfd, &s, 200);
	n = stream_decode(&s, d, msgs, MAX_MSGS);
	assert_true(n >= 2);
	assert_true(msgs[0].templates);
	assert_int_equal(msgs[0].sequence, 0);
	for (i = 0; i < n; i++)
		check_sequence(d, &msgs[i]);
	/* The records queued while the collector was away, then the new ones. */
	assert_int_equal(safem_ipfix_exporter_pending(exp), 0);
	assert_int_equal(d->n_rec, queued + 30);
	assert_int_equal(st->records_sent, sent + queued + 30);
	assert_int_equal(st->records_dropped, dropped);
	safem_ipfix_exporter_free(exp);
	close(cfd);
	close(lfd);
	free(s.buf);
	free(msgs);
	decoder_free(d);
}

/*
 * mtu: 1500 makes whole-or-nothing sends; 65535 makes messages larger than
 * the socket buffer, so the kernel takes them partly and the rest must go
 * before the next message for the stream to stay decodable.
 */
static void
slow_collector(uint32_t mtu)
{
	uint16_t port = 0;
	int lfd = tcp_listener(&port), cfd, small = 4096;
	struct safem_ipfix_params p = udp_params("127.0.0.1", port);
	struct safem_ipfix_exporter *exp;
	const struct safem_ipfix_stats *st;
	struct decoder *d = decoder_new();
	struct dec_message *msgs = calloc(MAX_MSGS * 8, sizeof(*msgs));
	struct stream s = {0};
	struct safem_flow_record r;
	uint32_t now = t0();
	double start;
	unsigned int i, n;

	p.transport = SAFEM_IPFIX_TCP;
	p.sndbuf_bytes = 4096;
	p.mtu = mtu;
	p.queue_bytes = 256 * 1024; /* ~1/8 of the records below */
	exp = safem_ipfix_exporter_create(&p);
	assert_non_null(exp);
	cfd = accept_timeout(lfd, 2000);
	assert_true(cfd >= 0);
	setsockopt(cfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	/* Nobody reads: the buffers fill, sends would block (back-pressure,
	 * counted), messages queue up to the bound, then records are dropped
	 * (counted); none may wait. */
	start = mono_s();
	for (i = 0; i < 30000; i++) {
		r = make_record(i, i & 1 ? 4 : 6);
		safem_ipfix_exporter_add(exp, &r, now);
	}
	safem_ipfix_exporter_flush(exp, now);
	assert_true(mono_s() - start < 2.0);
	st = safem_ipfix_exporter_stats(exp);
	assert_true(st->records_dropped > 0);
	assert_int_equal(st->records_dropped, st->records_queue_full);
	assert_true(st->messages_blocked > 0);
	assert_int_equal(st->send_errors, 0);
	assert_true(safem_ipfix_exporter_pending(exp) > 0);
	assert_true(safem_ipfix_exporter_queue_room(exp) < 0.01);
	assert_int_equal(st->records_sent + st->records_dropped + safem_ipfix_exporter_pending(exp),
			 30000);
	/* Now read everything: the queue drains, and a partly sent message
	 * is completed first. */
	for (i = 0; i < 1000 && safem_ipfix_exporter_pending(exp) != 0; i++) {
		stream_read(cfd, &s, 10);
		safem_ipfix_exporter_flush(exp, now);
	}
	assert_int_equal(safem_ipfix_exporter_pending(exp), 0);
	assert_int_equal(st->records_sent + st->records_dropped, 30000);
	/* The last bytes may still be in the sender's buffer: a 4 KB receive
	 * window reopens on TCP's persist timer, hundreds of ms. */
	for (i = 0; i < 100 && s.len < st->bytes_sent; i++) {
		stream_read(cfd, &s, 100);
		safem_ipfix_exporter_flush(exp, now); /* the rest of a partly sent message */
	}
	n = stream_decode(&s, d, msgs, MAX_MSGS * 8);
	assert_int_equal(n, st->messages_sent);
	assert_int_equal(d->n_rec, st->records_sent);
	for (i = 0; i < n; i++)
		check_sequence(d, &msgs[i]);
	assert_true(st->records_sent > 0);
	safem_ipfix_exporter_free(exp);
	close(cfd);
	close(lfd);
	free(s.buf);
	free(msgs);
	decoder_free(d);
}

static void
test_tcp_slow_collector(void **state)
{
	(void)state;
	slow_collector(1500);
	slow_collector(65535);
}

static void
test_tcp_no_collector_at_start(void **state)
{
	uint16_t port = 0;
	int lfd = tcp_listener(&port), cfd;
	struct safem_ipfix_params p = udp_params("127.0.0.1", port);
	struct safem_ipfix_exporter *exp;
	struct safem_flow_record r = make_record(1, 4);
	uint32_t now = t0() + 10;

	(void)state;
	close(lfd); /* the port is free again: nobody listens */
	p.transport = SAFEM_IPFIX_TCP;
	p.connect_timeout_ms = 200;
	exp = safem_ipfix_exporter_create(&p);
	assert_non_null(exp); /* not fatal: it will retry */
	assert_false(safem_ipfix_exporter_connected(exp));
	safem_ipfix_exporter_add(exp, &r, now);
	/* Queued for the collector to come. */
	assert_int_equal(safem_ipfix_exporter_flush(exp, now), 0);
	assert_int_equal(safem_ipfix_exporter_stats(exp)->records_dropped, 0);
	assert_int_equal(safem_ipfix_exporter_pending(exp), 1);
	lfd = tcp_listener(&port);
	now++;
	safem_ipfix_exporter_flush(exp, now);
	for (int i = 0; i < 50 && !safem_ipfix_exporter_connected(exp); i++) {
		usleep(10000);
		safem_ipfix_exporter_flush(exp, now);
	}
	assert_true(safem_ipfix_exporter_connected(exp));
	assert_int_equal(safem_ipfix_exporter_stats(exp)->reconnects, 0); /* first connection */
	cfd = accept_timeout(lfd, 2000);
	assert_true(cfd >= 0);
	safem_ipfix_exporter_flush(exp, now);
	assert_int_equal(safem_ipfix_exporter_pending(exp), 0);
	assert_int_equal(safem_ipfix_exporter_stats(exp)->records_sent, 1);
	safem_ipfix_exporter_free(exp);
	close(cfd);
	close(lfd);
}

/* ------------------------------------------------------------------------- */
/* Parameters */

static void
test_parse_target(void **state)
{
	struct safem_ipfix_params p;

	(void)state;
	memset(&p, 0, sizeof(p));
	assert_int_equal(safem_ipfix_parse_target("127.0.0.1:4739", &p), 0);
	assert_string_equal(p.host, "127.0.0.1");
	assert_int_equal(p.port, 4739);
	assert_int_equal(p.transport, SAFEM_IPFIX_UDP);
	assert_int_equal(safem_ipfix_parse_target("[2001:db8::1]:9995,proto=tcp,mtu=9000", &p), 0);
	assert_string_equal(p.host, "2001:db8::1");
	assert_int_equal(p.port, 9995);
	assert_int_equal(p.transport, SAFEM_IPFIX_TCP);
	assert_int_equal(p.mtu, 9000);
	assert_int_equal(safem_ipfix_parse_target("collector.example:2055,proto=udp", &p), 0);
	assert_string_equal(p.host, "collector.example");
	assert_int_equal(p.transport, SAFEM_IPFIX_UDP);

	static const struct {
		const char *spec, *why;
	} bad[] = {
		{"", "empty"},
		{"127.0.0.1", "no port"},
		{"127.0.0.1:", "port"},
		{"127.0.0.1:0", "port"},
		{"127.0.0.1:65536", "port"},
		{"127.0.0.1:12x", "port"},
		{":4739", "host"},
		{"2001:db8::1:4739", "brackets"},
		{"[2001:db8::1]4739", "[IPv6]:PORT"},
		{"127.0.0.1:4739,proto=sctp", "unknown option"},
		{"127.0.0.1:4739,mtu=100", "mtu"},
		{"127.0.0.1:4739,", "unknown option"},
	};
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (safem_ipfix_parse_target(bad[i].spec, &p) != -EINVAL)
			fail_msg("'%s' accepted", bad[i].spec);
		if (strstr(safem_ipfix_error(), bad[i].why) == NULL)
			fail_msg("'%s': error '%s' does not say '%s'", bad[i].spec,
				 safem_ipfix_error(), bad[i].why);
	}
}

static void
test_create_errors(void **state)
{
	struct safem_ipfix_params p;
	char label[80];

	(void)state;
	p = udp_params("", 4739);
	assert_null(safem_ipfix_exporter_create(&p));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(safem_ipfix_error(), "host"));
	p = udp_params("127.0.0.1", 4739);
	p.mtu = 100;
	assert_null(safem_ipfix_exporter_create(&p));
	assert_non_null(strstr(safem_ipfix_error(), "mtu"));
	p = udp_params("127.0.0.1", 4739);
	p.transport = (enum safem_ipfix_transport)7;
	assert_null(safem_ipfix_exporter_create(&p));
	assert_non_null(strstr(safem_ipfix_error(), "transport"));
	/* A 64-character label is not a valid DNS name: fails without a query. */
	memset(label, 'a', 64);
	snprintf(label + 64, sizeof(label) - 64, ".invalid");
	p = udp_params(label, 4739);
	assert_null(safem_ipfix_exporter_create(&p));
	assert_non_null(strstr(safem_ipfix_error(), "does not resolve"));
	assert_non_null(strstr(safem_ipfix_error(), label));
	assert_null(safem_ipfix_exporter_create(NULL));
	safem_ipfix_exporter_free(NULL);
	/* Defaults: port 4739, MTU 1500. */
	p = udp_params("127.0.0.1", 0);
	struct safem_ipfix_exporter *exp = safem_ipfix_exporter_create(&p);
	assert_non_null(exp);
	assert_string_equal(safem_ipfix_error(), "");
	assert_int_equal(safem_ipfix_exporter_max_message(exp), 1472);
	safem_ipfix_exporter_free(exp);
	/* Largest MTU: message length is 16 bits. */
	p = udp_params("127.0.0.1", 4739);
	p.mtu = 65535;
	exp = safem_ipfix_exporter_create(&p);
	assert_non_null(exp);
	assert_int_equal(safem_ipfix_exporter_max_message(exp), 65535 - 28);
	safem_ipfix_exporter_free(exp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_template_set),
		cmocka_unit_test(test_encode_v4_record),
		cmocka_unit_test(test_encode_v6_and_icmp),
		cmocka_unit_test(test_invalid_record),
		cmocka_unit_test(test_message_packing),
		cmocka_unit_test(test_udp_export_v4),
		cmocka_unit_test(test_udp_export_v6_collector),
		cmocka_unit_test(test_template_refresh),
		cmocka_unit_test(test_udp_no_listener),
		cmocka_unit_test(test_udp_paced),
		cmocka_unit_test(test_udp_queue_bound),
		cmocka_unit_test(test_tcp_export_and_reconnect),
		cmocka_unit_test(test_tcp_slow_collector),
		cmocka_unit_test(test_tcp_no_collector_at_start),
		cmocka_unit_test(test_parse_target),
		cmocka_unit_test(test_create_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
