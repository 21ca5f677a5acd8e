/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for lib/packet. Frames are built byte by byte, then copied into a
 * heap buffer of exactly their length before parsing, so that any read past
 * frame_len is caught by AddressSanitizer in the sanitizer build.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "safem_packet.h"

#define FRAME_MAX_BYTES 1024

#define ETH_IPV4 0x0800
#define ETH_IPV6 0x86dd
#define ETH_ARP 0x0806
#define ETH_LLDP 0x88cc
#define ETH_VLAN 0x8100
#define ETH_QINQ 0x88a8
#define ETH_QINQ_OLD 0x9100

#define P_HOPOPTS 0
#define P_ICMP 1
#define P_TCP 6
#define P_UDP 17
#define P_DCCP 33
#define P_ROUTING 43
#define P_FRAGMENT 44
#define P_GRE 47
#define P_ESP 50
#define P_AH 51
#define P_ICMPV6 58
#define P_NONE 59
#define P_DSTOPTS 60
#define P_SCTP 132
#define P_MH 135
#define P_UDPLITE 136
#define P_HIP 139
#define P_SHIM6 140

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_ACK 0x10
#define TCP_ECE 0x40
#define TCP_CWR 0x80

#define IPV4_MF 0x2000
#define IPV4_DF 0x4000

#define V4_SRC 0xc0000201u /* 192.0.2.1 */
#define V4_DST 0xc6336402u /* 198.51.100.2 */

static const uint8_t v6_src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
static const uint8_t v6_dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2};

/* A frame under construction. need = bytes the parser must see to return OK. */
struct frame {
	uint8_t b[FRAME_MAX_BYTES];
	uint32_t len;
	uint32_t ip_off;
	uint32_t need;
	uint8_t ip_version;
};

/* ---- builders ---- */

static void
put(struct frame *f, const void *p, uint32_t n)
{
	assert_true(f->len + n <= FRAME_MAX_BYTES);
	memcpy(f->b + f->len, p, n);
	f->len += n;
}

static void
put8(struct frame *f, uint8_t v)
{
	put(f, &v, 1);
}

static void
put16(struct frame *f, uint16_t v)
{
	put8(f, (uint8_t)(v >> 8));
	put8(f, (uint8_t)v);
}

static void
put32(struct frame *f, uint32_t v)
{
	put16(f, (uint16_t)(v >> 16));
	put16(f, (uint16_t)v);
}

static void
put_fill(struct frame *f, uint8_t v, uint32_t n)
{
	while (n--)
		put8(f, v);
}

static void
set8(struct frame *f, uint32_t off, uint8_t v)
{
	assert_true(off < f->len);
	f->b[off] = v;
}

static void
set16(struct frame *f, uint32_t off, uint16_t v)
{
	set8(f, off, (uint8_t)(v >> 8));
	set8(f, off + 1, (uint8_t)v);
}

/* Starts a new frame: destination and source MAC, then ether_type. */
static void
eth(struct frame *f, uint16_t ether_type)
{
	static const uint8_t macs[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};

	memset(f, 0, sizeof(*f));
	put(f, macs, sizeof(macs));
	put16(f, ether_type);
	f->need = f->len;
}

/* One VLAN tag: TCI, then the EtherType that follows the tag. */
static void
tag(struct frame *f, uint16_t tci, uint16_t next_type)
{
	put16(f, tci);
	put16(f, next_type);
	f->need = f->len;
}

static void
ipv4(struct frame *f, uint8_t proto, uint16_t frag, unsigned int option_words)
{
	f->ip_off = f->len;
	f->ip_version = 4;
	put8(f, (uint8_t)(0x40 | (5 + option_words)));
	put8(f, 0);
	put16(f, 0); /* total length: ip_finish() */
	put16(f, 0x1234);
	put16(f, frag);
	put8(f, 64);
	put8(f, proto);
	put16(f, 0); /* checksum: not verified by the parser */
	put32(f, V4_SRC);
	put32(f, V4_DST);
	put_fill(f, 0x01, option_words * 4); /* NOP options */
	f->need = f->len;
}

static void
ipv6(struct frame *f, uint8_t next)
{
	f->ip_off = f->len;
	f->ip_version = 6;
	put32(f, 0x60012345);
	put16(f, 0); /* payload length: ip_finish() */
	put8(f, next);
	put8(f, 64);
	put(f, v6_src, 16);
	put(f, v6_dst, 16);
	f->need = f->len;
}

/* Sets the IP length field from the bytes written after the IP header start. */
static void
ip_finish(struct frame *f)
{
	uint32_t n = f->len - f->ip_off;

	if (f->ip_version == 4)
		set16(f, f->ip_off + 2, (uint16_t)n);
	else
		set16(f, f->ip_off + 4, (uint16_t)(n - 40));
}

/* Generic IPv6 extension header: (hdr_ext_len + 1) * 8 bytes, PadN-ish zero fill. */
static void
ext6(struct frame *f, uint8_t next, uint8_t hdr_ext_len)
{
	put8(f, next);
	put8(f, hdr_ext_len);
	put_fill(f, 0, (hdr_ext_len + 1u) * 8 - 2);
	f->need = f->len;
}

static void
ah6(struct frame *f, uint8_t next, uint8_t payload_len)
{
	put8(f, next);
	put8(f, payload_len);
	put16(f, 0);
	put_fill(f, 0xab, (payload_len + 2u) * 4 - 4);
	f->need = f->len;
}

static void
frag6(struct frame *f, uint8_t next, uint16_t offset_units, bool more)
{
	put8(f, next);
	put8(f, 0);
	put16(f, (uint16_t)(offset_units << 3 | (more ? 1 : 0)));
	put32(f, 0xdeadbeef);
	f->need = f->len;
}

static void
tcp(struct frame *f, uint16_t sport, uint16_t dport, uint8_t flags)
{
	uint32_t start = f->len;

	put16(f, sport);
	put16(f, dport);
	put32(f, 1000);
	put32(f, 2000);
	put8(f, 0x50);
	put8(f, flags);
	put16(f, 65535);
	put32(f, 0);
	f->need = start + 20;
}

static void
udp(struct frame *f, uint16_t sport, uint16_t dport)
{
	uint32_t start = f->len;

	put16(f, sport);
	put16(f, dport);
	put16(f, 8);
	put16(f, 0);
	f->need = start + 8;
}

static void
sctp(struct frame *f, uint16_t sport, uint16_t dport)
{
	uint32_t start = f->len;

	put16(f, sport);
	put16(f, dport);
	put32(f, 0x11223344);
	put32(f, 0);
	f->need = start + 12;
}

static void
dccp(struct frame *f, uint16_t sport, uint16_t dport)
{
	uint32_t start = f->len;

	put16(f, sport);
	put16(f, dport);
	put_fill(f, 0, 12);
	f->need = start + 12;
}

static void
icmp(struct frame *f, uint8_t type, uint8_t code)
{
	uint32_t start = f->len;

	put8(f, type);
	put8(f, code);
	put16(f, 0);
	put32(f, 0x00010002);
	f->need = start + 8;
}

static void
icmp6(struct frame *f, uint8_t type, uint8_t code)
{
	uint32_t start = f->len;

	put8(f, type);
	put8(f, code);
	put16(f, 0);
	put32(f, 0x00010002);
	f->need = start + 4;
}

static void
payload(struct frame *f, uint32_t n)
{
	/* Bytes that would look like headers if the parser read them by mistake. */
	put_fill(f, 0x5a, n);
}

/* ---- parsing and expectations ---- */

#define POISON 0xa5

/* Parses from a heap copy of exactly len bytes at offset misalign. */
static enum safem_parse_status
parse_at(const uint8_t *data, uint32_t len, unsigned int flags, struct safem_packet *out,
	 uint32_t misalign)
{
	enum safem_parse_status st;
	uint8_t *copy = malloc(len + misalign);

	assert_true(copy != NULL || len + misalign == 0);
	if (len > 0)
		memcpy(copy + misalign, data, len);
	memset(out, POISON, sizeof(*out));
	st = safem_packet_parse(copy + misalign, len, flags, out);
	free(copy);
	return st;
}

static enum safem_parse_status
parse_exact(const uint8_t *data, uint32_t len, unsigned int flags, struct safem_packet *out)
{
	return parse_at(data, len, flags, out, 0);
}

static enum safem_parse_status
parse_frame(const struct frame *f, unsigned int flags, struct safem_packet *out)
{
	return parse_exact(f->b, f->len, flags, out);
}

/* Status comparison that names both sides on failure. */
#define assert_status(actual, expected)                                                            \
	assert_string_equal(safem_parse_status_name(actual), safem_parse_status_name(expected))

static struct safem_flow_key
key4(uint16_t sport, uint16_t dport, uint8_t proto)
{
	struct safem_flow_key k;

	memset(&k, 0, sizeof(k));
	k.src_addr[0] = (uint8_t)(V4_SRC >> 24);
	k.src_addr[1] = (uint8_t)(V4_SRC >> 16);
	k.src_addr[2] = (uint8_t)(V4_SRC >> 8);
	k.src_addr[3] = (uint8_t)V4_SRC;
	k.dst_addr[0] = (uint8_t)(V4_DST >> 24);
	k.dst_addr[1] = (uint8_t)(V4_DST >> 16);
	k.dst_addr[2] = (uint8_t)(V4_DST >> 8);
	k.dst_addr[3] = (uint8_t)V4_DST;
	k.src_port = sport;
	k.dst_port = dport;
	k.proto = proto;
	k.ip_version = 4;
	return k;
}

static struct safem_flow_key
key6(uint16_t sport, uint16_t dport, uint8_t proto)
{
	struct safem_flow_key k;

	memset(&k, 0, sizeof(k));
	memcpy(k.src_addr, v6_src, 16);
	memcpy(k.dst_addr, v6_dst, 16);
	k.src_port = sport;
	k.dst_port = dport;
	k.proto = proto;
	k.ip_version = 6;
	return k;
}

static struct safem_flow_key
with_vlan(struct safem_flow_key k, uint16_t vlan_id)
{
	k.vlan_id = vlan_id;
	return k;
}

static void
check_key(const struct safem_flow_key *got, const struct safem_flow_key *want)
{
	assert_int_equal(got->src_port, want->src_port);
	assert_int_equal(got->dst_port, want->dst_port);
	assert_int_equal(got->proto, want->proto);
	assert_int_equal(got->ip_version, want->ip_version);
	assert_int_equal(got->vlan_id, want->vlan_id);
	/* Raw bytes too: the flow cache compares and hashes keys with memcmp/CRC. */
	assert_memory_equal(got, want, sizeof(*want));
}

/* Parses f and checks the whole result of an OK parse. */
static void
expect_ok(const struct frame *f, unsigned int flags, struct safem_flow_key want, uint32_t ip_bytes,
	  uint8_t tcp_flags, enum safem_fragment fragment)
{
	static const uint8_t zero[6];
	struct safem_packet out;
	uint64_t poison64;
	uint32_t poison32;

	assert_status(parse_frame(f, flags, &out), SAFEM_PARSE_OK);
	check_key(&out.key, &want);
	assert_int_equal(out.ip_bytes, ip_bytes);
	assert_int_equal(out.tcp_flags, tcp_flags);
	assert_int_equal(out.fragment, fragment);
	assert_memory_equal(out.reserved, zero, sizeof(zero));
	/* ts_ns and key_hash belong to the caller, who may set them before parsing. */
	memset(&poison64, POISON, sizeof(poison64));
	memset(&poison32, POISON, sizeof(poison32));
	assert_true(out.ts_ns == poison64);
	assert_true(out.key_hash == poison32);
}

static void
expect_status(const struct frame *f, enum safem_parse_status want)
{
	struct safem_packet out;

	assert_status(parse_frame(f, 0, &out), want);
	assert_status(parse_frame(f, SAFEM_PARSE_KEY_VLAN, &out), want);
}

/* ---- valid frames shared by several tests ---- */

static void
b_v4_tcp(struct frame *f)
{
	eth(f, ETH_IPV4);
	ipv4(f, P_TCP, IPV4_DF, 0);
	tcp(f, 40000, 443, TCP_SYN | TCP_ACK);
	payload(f, 100);
	ip_finish(f);
}

static void
b_v4_udp_options(struct frame *f)
{
	eth(f, ETH_IPV4);
	ipv4(f, P_UDP, 0, 3);
	udp(f, 5353, 53);
	payload(f, 30);
	ip_finish(f);
}

static void
b_v4_sctp(struct frame *f)
{
	eth(f, ETH_IPV4);
	ipv4(f, P_SCTP, 0, 0);
	sctp(f, 2905, 2906);
	payload(f, 16);
	ip_finish(f);
}

static void
b_v4_icmp(struct frame *f)
{
	eth(f, ETH_IPV4);
	ipv4(f, P_ICMP, 0, 0);
	icmp(f, 8, 0);
	payload(f, 56);
	ip_finish(f);
}

static void
b_v4_gre(struct frame *f)
{
	eth(f, ETH_IPV4);
	ipv4(f, P_GRE, 0, 0);
	payload(f, 24);
	ip_finish(f);
}

static void
b_v4_dccp(struct frame *f)
{
	eth(f, ETH_IPV4);
	ipv4(f, P_DCCP, 0, 0);
	dccp(f, 5004, 5005);
	ip_finish(f);
}

static void
b_v4_udplite(struct frame *f)
{
	eth(f, ETH_IPV4);
	ipv4(f, P_UDPLITE, 0, 0);
	udp(f, 7000, 7001);
	payload(f, 8);
	ip_finish(f);
}

static void
b_v4_first_fragment(struct frame *f)
{
	eth(f, ETH_IPV4);
	ipv4(f, P_UDP, IPV4_MF, 0);
	udp(f, 4000, 4001);
	payload(f, 572);
	ip_finish(f);
}

static void
b_v4_later_fragment(struct frame *f)
{
	eth(f, ETH_IPV4);
	ipv4(f, P_UDP, IPV4_MF | 185, 0);
	payload(f, 64);
	ip_finish(f);
}

static void
b_vlan_v4_tcp(struct frame *f)
{
	eth(f, ETH_VLAN);
	tag(f, 0xe000 | 100, ETH_IPV4); /* PCP 7 must not leak into the VLAN ID */
	ipv4(f, P_TCP, 0, 0);
	tcp(f, 1234, 80, TCP_ACK);
	ip_finish(f);
}

static void
b_qinq_v4_tcp(struct frame *f)
{
	eth(f, ETH_QINQ);
	tag(f, 10, ETH_VLAN);
	tag(f, 20, ETH_IPV4);
	ipv4(f, P_TCP, 0, 0);
	tcp(f, 1234, 80, TCP_FIN | TCP_ACK);
	ip_finish(f);
}

static void
b_vlan_v6_icmpv6(struct frame *f)
{
	eth(f, ETH_VLAN);
	tag(f, 4095, ETH_IPV6);
	ipv6(f, P_ICMPV6);
	icmp6(f, 128, 0);
	payload(f, 32);
	ip_finish(f);
}

static void
b_v6_tcp(struct frame *f)
{
	eth(f, ETH_IPV6);
	ipv6(f, P_TCP);
	tcp(f, 51000, 22, TCP_CWR | TCP_ECE | TCP_SYN);
	payload(f, 12);
	ip_finish(f);
}

static void
b_v6_udp(struct frame *f)
{
	eth(f, ETH_IPV6);
	ipv6(f, P_UDP);
	udp(f, 546, 547);
	payload(f, 40);
	ip_finish(f);
}

static void
b_v6_ext_chain_tcp(struct frame *f)
{
	eth(f, ETH_IPV6);
	ipv6(f, P_HOPOPTS);
	ext6(f, P_DSTOPTS, 0);
	ext6(f, P_ROUTING, 1);
	ext6(f, P_TCP, 2);
	tcp(f, 33000, 8080, TCP_ACK);
	payload(f, 20);
	ip_finish(f);
}

static void
b_v6_mh_hip_shim6_udp(struct frame *f)
{
	eth(f, ETH_IPV6);
	ipv6(f, P_MH);
	ext6(f, P_HIP, 1);
	ext6(f, P_SHIM6, 0);
	ext6(f, P_UDP, 2);
	udp(f, 1000, 2000);
	ip_finish(f);
}

static void
b_v6_fragment_first(struct frame *f)
{
	eth(f, ETH_IPV6);
	ipv6(f, P_FRAGMENT);
	frag6(f, P_UDP, 0, true);
	udp(f, 4000, 4001);
	payload(f, 500);
	ip_finish(f);
}

static void
b_v6_fragment_later(struct frame *f)
{
	eth(f, ETH_IPV6);
	ipv6(f, P_HOPOPTS);
	ext6(f, P_FRAGMENT, 0);
	frag6(f, P_UDP, 126, false);
	payload(f, 100);
	ip_finish(f);
}

static void
b_v6_ah_tcp(struct frame *f)
{
	eth(f, ETH_IPV6);
	ipv6(f, P_AH);
	ah6(f, P_TCP, 4); /* (4 + 2) * 4 = 24 bytes */
	tcp(f, 500, 501, TCP_SYN);
	ip_finish(f);
}

static void
b_v6_esp(struct frame *f)
{
	eth(f, ETH_IPV6);
	ipv6(f, P_DSTOPTS);
	ext6(f, P_ESP, 0);
	put32(f, 0x1000); /* SPI, looks like ports if misread */
	put32(f, 1);
	payload(f, 64);
	ip_finish(f);
}

static void
b_v6_none(struct frame *f)
{
	eth(f, ETH_IPV6);
	ipv6(f, P_NONE);
	ip_finish(f);
}

static void
b_v6_max_chain_udp(struct frame *f)
{
	eth(f, ETH_IPV6);
	ipv6(f, P_DSTOPTS);
	for (int i = 0; i < SAFEM_PACKET_MAX_IPV6_EXT - 1; i++)
		ext6(f, P_DSTOPTS, 0);
	ext6(f, P_UDP, 0);
	udp(f, 1, 2);
	ip_finish(f);
}

typedef void (*frame_builder)(struct frame *f);

static const struct {
	const char *name;
	frame_builder build;
} valid_frames[] = {
	{"b_v4_tcp", b_v4_tcp},
	{"b_v4_udp_options", b_v4_udp_options},
	{"b_v4_sctp", b_v4_sctp},
	{"b_v4_icmp", b_v4_icmp},
	{"b_v4_gre", b_v4_gre},
	{"b_v4_dccp", b_v4_dccp},
	{"b_v4_udplite", b_v4_udplite},
	{"b_v4_first_fragment", b_v4_first_fragment},
	{"b_v4_later_fragment", b_v4_later_fragment},
	{"b_vlan_v4_tcp", b_vlan_v4_tcp},
	{"b_qinq_v4_tcp", b_qinq_v4_tcp},
	{"b_vlan_v6_icmpv6", b_vlan_v6_icmpv6},
	{"b_v6_tcp", b_v6_tcp},
	{"b_v6_udp", b_v6_udp},
	{"b_v6_ext_chain_tcp", b_v6_ext_chain_tcp},
	{"b_v6_mh_hip_shim6_udp", b_v6_mh_hip_shim6_udp},
	{"b_v6_fragment_first", b_v6_fragment_first},
	{"b_v6_fragment_later", b_v6_fragment_later},
	{"b_v6_ah_tcp", b_v6_ah_tcp},
	{"b_v6_esp", b_v6_esp},
	{"b_v6_none", b_v6_none},
	{"b_v6_max_chain_udp", b_v6_max_chain_udp},
};

#define N_VALID_FRAMES (sizeof(valid_frames) / sizeof(valid_frames[0]))

/* ---- IPv4 ---- */

static void
test_ipv4_tcp(void **state)
{
	struct frame f;

	(void)state;
	b_v4_tcp(&f);
	expect_ok(&f, 0, key4(40000, 443, P_TCP), 140, TCP_SYN | TCP_ACK, SAFEM_FRAG_NONE);
}

static void
test_ipv4_tcp_all_flag_bits(void **state)
{
	struct frame f;

	(void)state;
	eth(&f, ETH_IPV4);
	ipv4(&f, P_TCP, 0, 0);
	tcp(&f, 1, 2, 0xff);
	ip_finish(&f);
	set8(&f, f.ip_off + 20 + 12, 0x51); /* NS bit (in byte 12) is not part of the flags byte */
	expect_ok(&f, 0, key4(1, 2, P_TCP), 40, 0xff, SAFEM_FRAG_NONE);
}

static void
test_ipv4_udp(void **state)
{
	struct frame f;

	(void)state;
	eth(&f, ETH_IPV4);
	ipv4(&f, P_UDP, 0, 0);
	udp(&f, 53, 33333);
	payload(&f, 100);
	ip_finish(&f);
	expect_ok(&f, 0, key4(53, 33333, P_UDP), 128, 0, SAFEM_FRAG_NONE);
}

static void
test_ipv4_sctp(void **state)
{
	struct frame f;

	(void)state;
	b_v4_sctp(&f);
	expect_ok(&f, 0, key4(2905, 2906, P_SCTP), 48, 0, SAFEM_FRAG_NONE);
}

static void
test_ipv4_icmp(void **state)
{
	struct frame f;

	(void)state;
	b_v4_icmp(&f);
	expect_ok(&f, 0, key4(0, 8 << 8, P_ICMP), 84, 0, SAFEM_FRAG_NONE);

	eth(&f, ETH_IPV4);
	ipv4(&f, P_ICMP, 0, 0);
	icmp(&f, 3, 3);
	ip_finish(&f);
	expect_ok(&f, 0, key4(0, 3 << 8 | 3, P_ICMP), 28, 0, SAFEM_FRAG_NONE);
}

static void
test_ipv4_dccp_udplite(void **state)
{
	struct frame f;

	(void)state;
	b_v4_dccp(&f);
	expect_ok(&f, 0, key4(5004, 5005, P_DCCP), 36, 0, SAFEM_FRAG_NONE);
	b_v4_udplite(&f);
	expect_ok(&f, 0, key4(7000, 7001, P_UDPLITE), 36, 0, SAFEM_FRAG_NONE);
}

static void
test_ipv4_other_protocol(void **state)
{
	struct frame f;

	(void)state;
	b_v4_gre(&f);
	expect_ok(&f, 0, key4(0, 0, P_GRE), 44, 0, SAFEM_FRAG_NONE);

	/* ICMPv6 is not ICMP inside IPv4: no type/code port. */
	eth(&f, ETH_IPV4);
	ipv4(&f, P_ICMPV6, 0, 0);
	icmp6(&f, 128, 0);
	ip_finish(&f);
	expect_ok(&f, 0, key4(0, 0, P_ICMPV6), 28, 0, SAFEM_FRAG_NONE);

	/* A portless protocol needs no bytes after the IP header. */
	eth(&f, ETH_IPV4);
	ipv4(&f, P_GRE, 0, 0);
	ip_finish(&f);
	expect_ok(&f, 0, key4(0, 0, P_GRE), 20, 0, SAFEM_FRAG_NONE);
}

static void
test_ipv4_options(void **state)
{
	struct frame f;

	(void)state;
	b_v4_udp_options(&f);
	expect_ok(&f, 0, key4(5353, 53, P_UDP), 70, 0, SAFEM_FRAG_NONE);

	/* Maximum IHL: 40 bytes of options. */
	eth(&f, ETH_IPV4);
	ipv4(&f, P_TCP, 0, 10);
	tcp(&f, 9, 10, TCP_SYN);
	ip_finish(&f);
	expect_ok(&f, 0, key4(9, 10, P_TCP), 80, TCP_SYN, SAFEM_FRAG_NONE);
}

static void
test_ipv4_fragments(void **state)
{
	struct frame f;

	(void)state;
	b_v4_first_fragment(&f);
	expect_ok(&f, 0, key4(4000, 4001, P_UDP), 600, 0, SAFEM_FRAG_FIRST);

	/* Middle fragment: payload bytes must not be read as ports. */
	b_v4_later_fragment(&f);
	expect_ok(&f, 0, key4(0, 0, P_UDP), 84, 0, SAFEM_FRAG_LATER);

	/* Last fragment (MF clear, offset > 0), TCP: no flags either. */
	eth(&f, ETH_IPV4);
	ipv4(&f, P_TCP, 1, 0);
	tcp(&f, 1, 2, TCP_SYN);
	ip_finish(&f);
	expect_ok(&f, 0, key4(0, 0, P_TCP), 40, 0, SAFEM_FRAG_LATER);

	/* A later fragment too short for any L4 header is fine. */
	eth(&f, ETH_IPV4);
	ipv4(&f, P_TCP, 0x1fff, 0);
	payload(&f, 1);
	ip_finish(&f);
	expect_ok(&f, 0, key4(0, 0, P_TCP), 21, 0, SAFEM_FRAG_LATER);

	/* DF alone is not a fragment. */
	b_v4_tcp(&f);
	expect_ok(&f, 0, key4(40000, 443, P_TCP), 140, TCP_SYN | TCP_ACK, SAFEM_FRAG_NONE);
}

static void
test_ipv4_first_fragment_l4_cut(void **state)
{
	struct frame f;

	(void)state;
	/* Tiny first fragment: 8 bytes of TCP inside the IP packet, frame has them all. */
	eth(&f, ETH_IPV4);
	ipv4(&f, P_TCP, IPV4_MF, 0);
	tcp(&f, 1, 2, TCP_SYN);
	f.len -= 12;
	ip_finish(&f);
	expect_status(&f, SAFEM_PARSE_ERR_truncated_l4);

	/* First fragment cut by the capture. */
	b_v4_first_fragment(&f);
	f.len = f.ip_off + 20 + 7;
	expect_status(&f, SAFEM_PARSE_ERR_truncated_l4);
}

/* ---- IPv6 ---- */

static void
test_ipv6_tcp_udp(void **state)
{
	struct frame f;

	(void)state;
	b_v6_tcp(&f);
	expect_ok(&f, 0, key6(51000, 22, P_TCP), 72, TCP_CWR | TCP_ECE | TCP_SYN, SAFEM_FRAG_NONE);
	b_v6_udp(&f);
	expect_ok(&f, 0, key6(546, 547, P_UDP), 88, 0, SAFEM_FRAG_NONE);
}

static void
test_ipv6_icmpv6(void **state)
{
	struct frame f;

	(void)state;
	eth(&f, ETH_IPV6);
	ipv6(&f, P_ICMPV6);
	icmp6(&f, 135, 0);
	payload(&f, 24);
	ip_finish(&f);
	expect_ok(&f, 0, key6(0, 135 << 8, P_ICMPV6), 72, 0, SAFEM_FRAG_NONE);

	/* ICMPv6 needs only type and code. */
	eth(&f, ETH_IPV6);
	ipv6(&f, P_ICMPV6);
	put8(&f, 1);
	put8(&f, 4);
	put16(&f, 0);
	ip_finish(&f);
	expect_ok(&f, 0, key6(0, 1 << 8 | 4, P_ICMPV6), 44, 0, SAFEM_FRAG_NONE);

	/* ICMP (v4) inside IPv6 is just another protocol. */
	eth(&f, ETH_IPV6);
	ipv6(&f, P_ICMP);
	icmp(&f, 8, 0);
	ip_finish(&f);
	expect_ok(&f, 0, key6(0, 0, P_ICMP), 48, 0, SAFEM_FRAG_NONE);
}

static void
test_ipv6_other_protocols(void **state)
{
	struct frame f;

	(void)state;
	eth(&f, ETH_IPV6);
	ipv6(&f, P_SCTP);
	sctp(&f, 36412, 36412);
	ip_finish(&f);
	expect_ok(&f, 0, key6(36412, 36412, P_SCTP), 52, 0, SAFEM_FRAG_NONE);

	eth(&f, ETH_IPV6);
	ipv6(&f, P_GRE);
	payload(&f, 4);
	ip_finish(&f);
	expect_ok(&f, 0, key6(0, 0, P_GRE), 44, 0, SAFEM_FRAG_NONE);
}

static void
test_ipv6_extension_chain(void **state)
{
	struct frame f;

	(void)state;
	b_v6_ext_chain_tcp(&f);
	/* 40 + 8 + 16 + 24 + 20 + 20 */
	expect_ok(&f, 0, key6(33000, 8080, P_TCP), 128, TCP_ACK, SAFEM_FRAG_NONE);

	b_v6_mh_hip_shim6_udp(&f);
	expect_ok(&f, 0, key6(1000, 2000, P_UDP), 40 + 16 + 8 + 24 + 8, 0, SAFEM_FRAG_NONE);
}

static void
test_ipv6_fragments(void **state)
{
	struct frame f;

	(void)state;
	b_v6_fragment_first(&f);
	expect_ok(&f, 0, key6(4000, 4001, P_UDP), 40 + 8 + 8 + 500, 0, SAFEM_FRAG_FIRST);

	/* Later fragment: proto from the fragment header, no ports, walk stops. */
	b_v6_fragment_later(&f);
	expect_ok(&f, 0, key6(0, 0, P_UDP), 40 + 8 + 8 + 100, 0, SAFEM_FRAG_LATER);

	/* Atomic fragment (offset 0, M clear, RFC 6946) is a whole packet. */
	eth(&f, ETH_IPV6);
	ipv6(&f, P_FRAGMENT);
	frag6(&f, P_TCP, 0, false);
	tcp(&f, 7, 8, TCP_SYN);
	ip_finish(&f);
	expect_ok(&f, 0, key6(7, 8, P_TCP), 68, TCP_SYN, SAFEM_FRAG_NONE);

	/* First fragment whose extension chain continues after the fragment header. */
	eth(&f, ETH_IPV6);
	ipv6(&f, P_FRAGMENT);
	frag6(&f, P_DSTOPTS, 0, true);
	ext6(&f, P_TCP, 0);
	tcp(&f, 7, 8, TCP_SYN);
	ip_finish(&f);
	expect_ok(&f, 0, key6(7, 8, P_TCP), 76, TCP_SYN, SAFEM_FRAG_FIRST);
}

static void
test_ipv6_ah(void **state)
{
	struct frame f;

	(void)state;
	b_v6_ah_tcp(&f);
	expect_ok(&f, 0, key6(500, 501, P_TCP), 40 + 24 + 20, TCP_SYN, SAFEM_FRAG_NONE);

	/* AH followed by ESP. */
	eth(&f, ETH_IPV6);
	ipv6(&f, P_AH);
	ah6(&f, P_ESP, 1);
	payload(&f, 16);
	ip_finish(&f);
	expect_ok(&f, 0, key6(0, 0, P_ESP), 40 + 12 + 16, 0, SAFEM_FRAG_NONE);
}

static void
test_ipv6_esp_and_no_next_header(void **state)
{
	struct frame f;

	(void)state;
	b_v6_esp(&f);
	expect_ok(&f, 0, key6(0, 0, P_ESP), 40 + 8 + 8 + 64, 0, SAFEM_FRAG_NONE);

	b_v6_none(&f);
	expect_ok(&f, 0, key6(0, 0, P_NONE), 40, 0, SAFEM_FRAG_NONE);

	/* ESP directly after the fixed header. */
	eth(&f, ETH_IPV6);
	ipv6(&f, P_ESP);
	payload(&f, 2);
	ip_finish(&f);
	expect_ok(&f, 0, key6(0, 0, P_ESP), 42, 0, SAFEM_FRAG_NONE);
}

static void
test_ipv6_chain_limit(void **state)
{
	struct frame f;

	(void)state;
	b_v6_max_chain_udp(&f);
	expect_ok(&f, 0, key6(1, 2, P_UDP), 40 + 8 * SAFEM_PACKET_MAX_IPV6_EXT + 8, 0,
		  SAFEM_FRAG_NONE);

	eth(&f, ETH_IPV6);
	ipv6(&f, P_DSTOPTS);
	for (int i = 0; i < SAFEM_PACKET_MAX_IPV6_EXT; i++)
		ext6(&f, P_DSTOPTS, 0);
	ext6(&f, P_UDP, 0);
	udp(&f, 1, 2);
	ip_finish(&f);
	expect_status(&f, SAFEM_PARSE_ERR_ipv6_extension_chain_too_long);

	/* Endless chain of hop-by-hop headers that fills the frame. */
	eth(&f, ETH_IPV6);
	ipv6(&f, P_HOPOPTS);
	while (f.len + 8 <= FRAME_MAX_BYTES)
		ext6(&f, P_HOPOPTS, 0);
	ip_finish(&f);
	expect_status(&f, SAFEM_PARSE_ERR_ipv6_extension_chain_too_long);
}

static void
test_ipv6_jumbogram(void **state)
{
	struct frame f;

	(void)state;
	/* Payload length 0 plus hop-by-hop with a Jumbo Payload option (RFC 2675). */
	eth(&f, ETH_IPV6);
	ipv6(&f, P_HOPOPTS);
	put8(&f, P_TCP);
	put8(&f, 0);
	put8(&f, 0xc2);
	put8(&f, 4);
	put32(&f, 70000);
	f.need = f.len;
	tcp(&f, 1, 2, TCP_ACK);
	payload(&f, 300);
	expect_ok(&f, 0, key6(1, 2, P_TCP), 40 + 8 + 20 + 300, TCP_ACK, SAFEM_FRAG_NONE);

	/* Payload length 0 without hop-by-hop: an empty packet, L4 outside it. */
	eth(&f, ETH_IPV6);
	ipv6(&f, P_NONE);
	expect_ok(&f, 0, key6(0, 0, P_NONE), 40, 0, SAFEM_FRAG_NONE);
	eth(&f, ETH_IPV6);
	ipv6(&f, P_TCP);
	tcp(&f, 1, 2, TCP_ACK);
	expect_status(&f, SAFEM_PARSE_ERR_truncated_l4);
}

/* ---- VLAN ---- */

static void
test_vlan_key_flag(void **state)
{
	struct frame f;

	(void)state;
	b_vlan_v4_tcp(&f);
	expect_ok(&f, 0, key4(1234, 80, P_TCP), 40, TCP_ACK, SAFEM_FRAG_NONE);
	expect_ok(&f, SAFEM_PARSE_KEY_VLAN, with_vlan(key4(1234, 80, P_TCP), 100), 40, TCP_ACK,
		  SAFEM_FRAG_NONE);

	b_vlan_v6_icmpv6(&f);
	expect_ok(&f, 0, key6(0, 128 << 8, P_ICMPV6), 80, 0, SAFEM_FRAG_NONE);
	expect_ok(&f, SAFEM_PARSE_KEY_VLAN, with_vlan(key6(0, 128 << 8, P_ICMPV6), 4095), 80, 0,
		  SAFEM_FRAG_NONE);

	/* Untagged frame with the flag: VLAN 0. */
	b_v4_tcp(&f);
	expect_ok(&f, SAFEM_PARSE_KEY_VLAN, key4(40000, 443, P_TCP), 140, TCP_SYN | TCP_ACK,
		  SAFEM_FRAG_NONE);
}

static void
test_qinq(void **state)
{
	struct frame f;

	(void)state;
	b_qinq_v4_tcp(&f);
	expect_ok(&f, 0, key4(1234, 80, P_TCP), 40, TCP_FIN | TCP_ACK, SAFEM_FRAG_NONE);
	/* The outer (service) tag names the flow's VLAN. */
	expect_ok(&f, SAFEM_PARSE_KEY_VLAN, with_vlan(key4(1234, 80, P_TCP), 10), 40,
		  TCP_FIN | TCP_ACK, SAFEM_FRAG_NONE);

	/* Legacy 0x9100 outer TPID, IPv6 inside. */
	eth(&f, ETH_QINQ_OLD);
	tag(&f, 0x1000 | 300, ETH_VLAN); /* DEI set */
	tag(&f, 400, ETH_IPV6);
	ipv6(&f, P_UDP);
	udp(&f, 1, 2);
	ip_finish(&f);
	expect_ok(&f, SAFEM_PARSE_KEY_VLAN, with_vlan(key6(1, 2, P_UDP), 300), 48, 0,
		  SAFEM_FRAG_NONE);
}

static void
test_too_many_vlan_tags(void **state)
{
	static const uint16_t tpids[] = {ETH_VLAN, ETH_QINQ, ETH_QINQ_OLD};
	struct frame f;

	(void)state;
	for (unsigned int i = 0; i < 3; i++) {
		eth(&f, ETH_QINQ);
		tag(&f, 1, ETH_VLAN);
		tag(&f, 2, tpids[i]);
		tag(&f, 3, ETH_IPV4);
		ipv4(&f, P_TCP, 0, 0);
		tcp(&f, 1, 2, 0);
		ip_finish(&f);
		expect_status(&f, SAFEM_PARSE_ERR_too_many_vlan_tags);
	}
	/* Known from the second tag's EtherType alone, even with the third tag cut. */
	eth(&f, ETH_VLAN);
	tag(&f, 1, ETH_VLAN);
	tag(&f, 2, ETH_VLAN);
	expect_status(&f, SAFEM_PARSE_ERR_too_many_vlan_tags);
}

/* ---- non-IP ---- */

static void
test_non_ip(void **state)
{
	struct frame f;

	(void)state;
	/* ARP request. */
	eth(&f, ETH_ARP);
	put16(&f, 1);
	put16(&f, ETH_IPV4);
	put8(&f, 6);
	put8(&f, 4);
	put16(&f, 1);
	put_fill(&f, 0, 20);
	expect_status(&f, SAFEM_PARSE_NON_IP);

	/* Bare Ethernet header with a non-IP EtherType. */
	eth(&f, ETH_LLDP);
	expect_status(&f, SAFEM_PARSE_NON_IP);

	/* 802.3 length field with LLC (spanning tree). */
	eth(&f, 38);
	put8(&f, 0x42);
	put8(&f, 0x42);
	put8(&f, 0x03);
	put_fill(&f, 0, 35);
	expect_status(&f, SAFEM_PARSE_NON_IP);

	/* 802.3 frame whose length field happens to be 0x0600 - 1. */
	eth(&f, 0x05ff);
	expect_status(&f, SAFEM_PARSE_NON_IP);

	/* Tagged ARP. */
	eth(&f, ETH_VLAN);
	tag(&f, 5, ETH_ARP);
	put_fill(&f, 0, 28);
	expect_status(&f, SAFEM_PARSE_NON_IP);

	/* QinQ around an 802.3 frame. */
	eth(&f, ETH_QINQ);
	tag(&f, 5, ETH_VLAN);
	tag(&f, 6, 46);
	put_fill(&f, 0, 46);
	expect_status(&f, SAFEM_PARSE_NON_IP);
}

/* ---- lengths: snap length and padding ---- */

static void
test_snaplen_truncated_payload(void **state)
{
	struct frame f;

	(void)state;
	eth(&f, ETH_IPV4);
	ipv4(&f, P_TCP, 0, 0);
	tcp(&f, 40000, 443, TCP_ACK);
	payload(&f, 10);
	set16(&f, f.ip_off + 2, 1500); /* captured with a small snap length */
	expect_ok(&f, 0, key4(40000, 443, P_TCP), 1500, TCP_ACK, SAFEM_FRAG_NONE);

	/* Exactly the headers captured. */
	f.len = f.need;
	expect_ok(&f, 0, key4(40000, 443, P_TCP), 1500, TCP_ACK, SAFEM_FRAG_NONE);

	eth(&f, ETH_IPV6);
	ipv6(&f, P_HOPOPTS);
	ext6(&f, P_UDP, 0);
	udp(&f, 3, 4);
	set16(&f, f.ip_off + 4, 9000);
	expect_ok(&f, 0, key6(3, 4, P_UDP), 9040, 0, SAFEM_FRAG_NONE);
}

static void
test_ethernet_padding(void **state)
{
	struct frame f;

	(void)state;
	/* 42-byte frame padded to the 60-byte Ethernet minimum. */
	eth(&f, ETH_IPV4);
	ipv4(&f, P_UDP, 0, 0);
	udp(&f, 1000, 53);
	ip_finish(&f);
	put_fill(&f, 0, 60 - f.len);
	expect_ok(&f, 0, key4(1000, 53, P_UDP), 28, 0, SAFEM_FRAG_NONE);

	eth(&f, ETH_IPV6);
	ipv6(&f, P_NONE);
	ip_finish(&f);
	put_fill(&f, 0xff, 30);
	expect_ok(&f, 0, key6(0, 0, P_NONE), 40, 0, SAFEM_FRAG_NONE);

	/* Padding after IPv4 with options and a fragment. */
	eth(&f, ETH_IPV4);
	ipv4(&f, P_ICMP, IPV4_MF, 1);
	icmp(&f, 0, 0);
	ip_finish(&f);
	put_fill(&f, 0, 10);
	expect_ok(&f, 0, key4(0, 0, P_ICMP), 32, 0, SAFEM_FRAG_FIRST);
}

static void
test_padding_is_not_l4(void **state)
{
	struct frame f;

	(void)state;
	/* IP says 20 bytes, no TCP header; padding follows in the frame. */
	eth(&f, ETH_IPV4);
	ipv4(&f, P_TCP, 0, 0);
	ip_finish(&f);
	payload(&f, 26);
	expect_status(&f, SAFEM_PARSE_ERR_truncated_l4);

	/* UDP header straddling the IP end. */
	eth(&f, ETH_IPV4);
	ipv4(&f, P_UDP, 0, 0);
	udp(&f, 1, 2);
	set16(&f, f.ip_off + 2, 27);
	expect_status(&f, SAFEM_PARSE_ERR_truncated_l4);

	/* IPv6: extension header past the payload length. */
	eth(&f, ETH_IPV6);
	ipv6(&f, P_DSTOPTS);
	ext6(&f, P_UDP, 1);
	udp(&f, 1, 2);
	set16(&f, f.ip_off + 4, 8);
	expect_status(&f, SAFEM_PARSE_ERR_truncated_ipv6_extension);

	eth(&f, ETH_IPV6);
	ipv6(&f, P_UDP);
	udp(&f, 1, 2);
	set16(&f, f.ip_off + 4, 4);
	expect_status(&f, SAFEM_PARSE_ERR_truncated_l4);
}

/* ---- error reasons ---- */

static void
e_truncated_ethernet(struct frame *f)
{
	b_v4_tcp(f);
	f->len = 13;
}

static void
e_truncated_vlan(struct frame *f)
{
	b_vlan_v4_tcp(f);
	f->len = 17;
}

static void
e_too_many_vlan_tags(struct frame *f)
{
	eth(f, ETH_VLAN);
	tag(f, 1, ETH_VLAN);
	tag(f, 2, ETH_VLAN);
	tag(f, 3, ETH_IPV4);
	ipv4(f, P_UDP, 0, 0);
	udp(f, 1, 2);
	ip_finish(f);
}

static void
e_truncated_ipv4(struct frame *f)
{
	b_v4_tcp(f);
	f->len = f->ip_off + 19;
}

static void
e_ipv4_bad_version(struct frame *f)
{
	b_v4_tcp(f);
	set8(f, f->ip_off, 0x65);
}

static void
e_ipv4_bad_header_length(struct frame *f)
{
	b_v4_tcp(f);
	set8(f, f->ip_off, 0x44);
}

static void
e_ipv4_bad_total_length(struct frame *f)
{
	b_v4_tcp(f);
	set16(f, f->ip_off + 2, 19);
}

static void
e_truncated_ipv6(struct frame *f)
{
	b_v6_tcp(f);
	f->len = f->ip_off + 39;
}

static void
e_ipv6_bad_version(struct frame *f)
{
	b_v6_tcp(f);
	set8(f, f->ip_off, 0x40);
}

static void
e_truncated_ipv6_extension(struct frame *f)
{
	b_v6_ext_chain_tcp(f);
	f->len = f->ip_off + 40 + 8 + 15; /* destination options is 16 bytes */
}

static void
e_ipv6_extension_chain_too_long(struct frame *f)
{
	eth(f, ETH_IPV6);
	ipv6(f, P_HOPOPTS);
	for (int i = 0; i < SAFEM_PACKET_MAX_IPV6_EXT; i++)
		ext6(f, P_ROUTING, 0);
	ext6(f, P_TCP, 0);
	tcp(f, 1, 2, 0);
	ip_finish(f);
}

static void
e_truncated_l4(struct frame *f)
{
	b_v4_tcp(f);
	f->len = f->ip_off + 20 + 19;
}

static const struct {
	enum safem_parse_status status;
	frame_builder build;
} error_frames[] = {
#define ERROR_FRAME(name) {SAFEM_PARSE_ERR_##name, e_##name},
	SAFEM_PARSE_ERRORS(ERROR_FRAME)
#undef ERROR_FRAME
};

static void
test_every_error_reason(void **state)
{
	bool seen[SAFEM_PARSE_STATUS_COUNT] = {false};
	struct frame f;

	(void)state;
	for (size_t i = 0; i < sizeof(error_frames) / sizeof(error_frames[0]); i++) {
		error_frames[i].build(&f);
		expect_status(&f, error_frames[i].status);
		seen[error_frames[i].status] = true;
	}
	for (int s = SAFEM_PARSE_ERR_truncated_ethernet; s < SAFEM_PARSE_STATUS_COUNT; s++)
		assert_true(seen[s]);
}

static void
test_truncated_ethernet_and_vlan(void **state)
{
	struct frame f;

	(void)state;
	b_qinq_v4_tcp(&f);
	for (uint32_t len = 0; len < 14; len++) {
		f.len = len;
		expect_status(&f, SAFEM_PARSE_ERR_truncated_ethernet);
	}
	for (uint32_t len = 14; len < 22; len++) {
		f.len = len;
		expect_status(&f, SAFEM_PARSE_ERR_truncated_vlan);
	}
}

static void
test_ipv4_header_errors(void **state)
{
	struct frame f;

	(void)state;
	for (uint8_t ihl = 0; ihl < 5; ihl++) {
		b_v4_tcp(&f);
		set8(&f, f.ip_off, (uint8_t)(0x40 | ihl));
		expect_status(&f, SAFEM_PARSE_ERR_ipv4_bad_header_length);
	}
	/* IPv6 packet behind an IPv4 EtherType. */
	b_v6_tcp(&f);
	set16(&f, 12, ETH_IPV4);
	expect_status(&f, SAFEM_PARSE_ERR_ipv4_bad_version);

	/* Total length shorter than a header with options. */
	b_v4_udp_options(&f);
	set16(&f, f.ip_off + 2, 31);
	expect_status(&f, SAFEM_PARSE_ERR_ipv4_bad_total_length);
	set16(&f, f.ip_off + 2, 0);
	expect_status(&f, SAFEM_PARSE_ERR_ipv4_bad_total_length);
	/* Header-only length is valid for IP but leaves no room for UDP. */
	set16(&f, f.ip_off + 2, 32);
	expect_status(&f, SAFEM_PARSE_ERR_truncated_l4);
	set16(&f, f.ip_off + 2, 40);
	expect_ok(&f, 0, key4(5353, 53, P_UDP), 40, 0, SAFEM_FRAG_NONE);

	/* Options cut by the end of the frame. */
	b_v4_udp_options(&f);
	for (uint32_t len = f.ip_off + 20; len < f.ip_off + 32; len++) {
		f.len = len;
		expect_status(&f, SAFEM_PARSE_ERR_truncated_ipv4);
	}
}

static void
test_ipv6_header_errors(void **state)
{
	struct frame f;

	(void)state;
	b_v4_tcp(&f);
	set16(&f, 12, ETH_IPV6);
	expect_status(&f, SAFEM_PARSE_ERR_ipv6_bad_version);

	/* Fragment header cut. */
	b_v6_fragment_later(&f);
	f.len = f.ip_off + 40 + 8 + 7;
	expect_status(&f, SAFEM_PARSE_ERR_truncated_ipv6_extension);

	/* AH whose length runs past the frame. */
	b_v6_ah_tcp(&f);
	f.len = f.ip_off + 40 + 23;
	expect_status(&f, SAFEM_PARSE_ERR_truncated_ipv6_extension);

	/* Extension header of the maximum length (2048 bytes) in a short frame. */
	eth(&f, ETH_IPV6);
	ipv6(&f, P_ROUTING);
	put8(&f, P_TCP);
	put8(&f, 255);
	put_fill(&f, 0, 100);
	ip_finish(&f);
	set16(&f, f.ip_off + 4, 60000);
	expect_status(&f, SAFEM_PARSE_ERR_truncated_ipv6_extension);
}

static void
test_truncated_l4_each_protocol(void **state)
{
	struct l4_need {
		uint8_t proto;
		uint8_t bytes;
	};
	static const struct l4_need v4[] = {
		{P_TCP, 20}, {P_UDP, 8}, {P_UDPLITE, 8}, {P_SCTP, 12}, {P_DCCP, 12}, {P_ICMP, 8},
	};
	static const struct l4_need v6[] = {
		{P_TCP, 20}, {P_UDP, 8}, {P_UDPLITE, 8}, {P_SCTP, 12}, {P_DCCP, 12}, {P_ICMPV6, 4},
	};
	struct frame f;

	(void)state;
	for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
		eth(&f, ETH_IPV4);
		ipv4(&f, v4[i].proto, 0, 0);
		payload(&f, v4[i].bytes);
		ip_finish(&f);
		expect_status(&f, SAFEM_PARSE_OK);
		f.len--;
		ip_finish(&f);
		expect_status(&f, SAFEM_PARSE_ERR_truncated_l4);
	}
	for (size_t i = 0; i < sizeof(v6) / sizeof(v6[0]); i++) {
		eth(&f, ETH_IPV6);
		ipv6(&f, P_DSTOPTS);
		ext6(&f, v6[i].proto, 0);
		payload(&f, v6[i].bytes);
		ip_finish(&f);
		expect_status(&f, SAFEM_PARSE_OK);
		f.len--;
		ip_finish(&f);
		expect_status(&f, SAFEM_PARSE_ERR_truncated_l4);
	}
}

/* ---- robustness ---- */

/* Every prefix of a valid frame: truncated_* while headers are cut, then the full result. */
static void
check_prefixes(const struct frame *f, const char *name, unsigned int flags, uint32_t misalign)
{
	struct safem_packet full, part;

	assert_status(parse_at(f->b, f->len, flags, &full, misalign), SAFEM_PARSE_OK);
	assert_true(f->need <= f->len);
	for (uint32_t len = 0; len < f->len; len++) {
		enum safem_parse_status st = parse_at(f->b, len, flags, &part, misalign);

		if (len < f->need) {
			if (strncmp(safem_parse_status_name(st), "truncated_", 10) != 0)
				fail_msg("%s: prefix %u of %u gives %s", name, len, f->need,
					 safem_parse_status_name(st));
			continue;
		}
		if (st != SAFEM_PARSE_OK)
			fail_msg("%s: prefix %u (need %u) gives %s", name, len, f->need,
				 safem_parse_status_name(st));
		assert_memory_equal(&part.key, &full.key, sizeof(full.key));
		assert_int_equal(part.ip_bytes, full.ip_bytes);
		assert_int_equal(part.tcp_flags, full.tcp_flags);
		assert_int_equal(part.fragment, full.fragment);
	}
}

static void
test_every_prefix(void **state)
{
	struct frame f;

	(void)state;
	for (size_t i = 0; i < N_VALID_FRAMES; i++) {
		valid_frames[i].build(&f);
		check_prefixes(&f, valid_frames[i].name, 0, 0);
		check_prefixes(&f, valid_frames[i].name, SAFEM_PARSE_KEY_VLAN, 0);
	}
}

static void
test_unaligned_frames(void **state)
{
	struct frame f;

	(void)state;
	for (size_t i = 0; i < N_VALID_FRAMES; i++) {
		valid_frames[i].build(&f);
		for (uint32_t misalign = 1; misalign < 8; misalign += 2)
			check_prefixes(&f, valid_frames[i].name, SAFEM_PARSE_KEY_VLAN, misalign);
	}
}

static uint32_t
xorshift32(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Consistency of any OK result, whatever the input bytes. */
static void
check_sane(enum safem_parse_status st, const struct safem_packet *p, unsigned int flags)
{
	static const uint8_t zero[16];

	assert_true((unsigned int)st < SAFEM_PARSE_STATUS_COUNT);
	if (st != SAFEM_PARSE_OK)
		return;
	assert_true(p->key.ip_version == 4 || p->key.ip_version == 6);
	if (p->key.ip_version == 4) {
		assert_memory_equal(p->key.src_addr + 4, zero, 12);
		assert_memory_equal(p->key.dst_addr + 4, zero, 12);
		assert_true(p->ip_bytes >= 20 && p->ip_bytes <= 65535);
	} else {
		assert_true(p->ip_bytes >= 40);
	}
	assert_true(p->fragment <= SAFEM_FRAG_LATER);
	if (p->fragment == SAFEM_FRAG_LATER)
		assert_true(p->key.src_port == 0 && p->key.dst_port == 0 && p->tcp_flags == 0);
	if (p->key.proto != P_TCP)
		assert_int_equal(p->tcp_flags, 0);
	if (!(flags & SAFEM_PARSE_KEY_VLAN))
		assert_int_equal(p->key.vlan_id, 0);
	assert_true(p->key.vlan_id <= 4095);
	assert_memory_equal(p->reserved, zero, sizeof(p->reserved));
}

static void
test_mutated_frames(void **state)
{
	uint32_t seed = 0x5afe5afe;
	struct safem_packet out;
	struct frame f;

	(void)state;
	for (unsigned int iter = 0; iter < 40000; iter++) {
		unsigned int flags = iter & 1 ? SAFEM_PARSE_KEY_VLAN : 0;
		unsigned int flips = 1 + xorshift32(&seed) % 4;

		valid_frames[xorshift32(&seed) % N_VALID_FRAMES].build(&f);
		/* Mutate the headers, where the parser's decisions are. */
		for (unsigned int i = 0; i < flips; i++)
			f.b[xorshift32(&seed) % (f.need + 4 < f.len ? f.need + 4 : f.len)] =
				(uint8_t)xorshift32(&seed);
		if (xorshift32(&seed) % 2)
			f.len = xorshift32(&seed) % (f.len + 1);
		check_sane(parse_frame(&f, flags, &out), &out, flags);
	}
}

static void
test_random_frames(void **state)
{
	static const uint16_t types[] = {ETH_IPV4, ETH_IPV6, ETH_VLAN, ETH_QINQ, ETH_QINQ_OLD};
	uint32_t seed = 12345;
	struct safem_packet out;
	struct frame f;

	(void)state;
	for (unsigned int iter = 0; iter < 20000; iter++) {
		memset(&f, 0, sizeof(f));
		f.len = xorshift32(&seed) % 200;
		for (uint32_t i = 0; i < f.len; i++)
			f.b[i] = (uint8_t)xorshift32(&seed);
		if (f.len >= 14)
			set16(&f, 12, types[xorshift32(&seed) % 5]);
		if (f.len >= 18 && (xorshift32(&seed) % 2))
			set16(&f, 16, types[xorshift32(&seed) % 2]);
		/* Plausible version nibbles make the parser go deeper. */
		for (uint32_t off = 14; off <= 22 && off < f.len; off += 4)
			if (xorshift32(&seed) % 2)
				f.b[off] = (uint8_t)((xorshift32(&seed) % 2 ? 0x40 : 0x60) |
						     (f.b[off] & 0x0f));
		check_sane(parse_frame(&f, SAFEM_PARSE_KEY_VLAN, &out), &out, SAFEM_PARSE_KEY_VLAN);
	}
}

/* ---- helpers in the header ---- */

static struct safem_flow_key
reversed(struct safem_flow_key k)
{
	struct safem_flow_key r = k;

	memcpy(r.src_addr, k.dst_addr, 16);
	memcpy(r.dst_addr, k.src_addr, 16);
	r.src_port = k.dst_port;
	r.dst_port = k.src_port;
	return r;
}

static void
test_symmetric_hash(void **state)
{
	struct safem_flow_key keys[6], r;
	struct safem_packet out;
	struct frame f;

	(void)state;
	keys[0] = key4(40000, 443, P_TCP);
	keys[1] = with_vlan(key6(546, 547, P_UDP), 7);
	keys[2] = key4(0, 8 << 8, P_ICMP);
	/* Same address both ways: the ports decide the order. */
	keys[3] = key4(1000, 2000, P_UDP);
	memcpy(keys[3].dst_addr, keys[3].src_addr, 16);
	keys[4] = keys[3];
	keys[4].src_port = keys[4].dst_port = 5;
	b_qinq_v4_tcp(&f);
	assert_status(parse_frame(&f, SAFEM_PARSE_KEY_VLAN, &out), SAFEM_PARSE_OK);
	keys[5] = out.key;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		r = reversed(keys[i]);
		assert_int_equal(safem_flow_key_hash_symmetric(&keys[i]),
				 safem_flow_key_hash_symmetric(&r));
	}
	/* The directional hash tells the two directions apart. */
	r = reversed(keys[0]);
	assert_int_not_equal(safem_flow_key_hash(&keys[0]), safem_flow_key_hash(&r));
	/* Protocol and VLAN are part of the symmetric hash. */
	r = keys[0];
	r.proto = P_UDP;
	assert_int_not_equal(safem_flow_key_hash_symmetric(&keys[0]),
			     safem_flow_key_hash_symmetric(&r));
	r = keys[0];
	r.vlan_id = 1;
	assert_int_not_equal(safem_flow_key_hash_symmetric(&keys[0]),
			     safem_flow_key_hash_symmetric(&r));
}

static const char *const want_status_names[SAFEM_PARSE_STATUS_COUNT] = {[SAFEM_PARSE_OK] = "ok",
									[SAFEM_PARSE_NON_IP] =
										"non_ip",
#define NAME(name) [SAFEM_PARSE_ERR_##name] = #name,
									SAFEM_PARSE_ERRORS(NAME)
#undef NAME
};

static void
test_status_names(void **state)
{
	(void)state;
	assert_int_equal(SAFEM_PARSE_ERROR_COUNT, SAFEM_PARSE_STATUS_COUNT - 2);
	for (int s = 0; s < SAFEM_PARSE_STATUS_COUNT; s++) {
		assert_non_null(safem_parse_status_name(s));
		assert_string_equal(safem_parse_status_name(s), want_status_names[s]);
		for (int t = 0; t < s; t++)
			assert_string_not_equal(safem_parse_status_name(s),
						safem_parse_status_name(t));
	}
	assert_string_equal(safem_parse_status_name(SAFEM_PARSE_ERR_truncated_ethernet),
			    "truncated_ethernet");
	assert_string_equal(safem_parse_status_name(SAFEM_PARSE_ERR_truncated_l4), "truncated_l4");
	assert_string_equal(safem_parse_status_name(SAFEM_PARSE_STATUS_COUNT), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_tcp),
		cmocka_unit_test(test_ipv4_tcp_all_flag_bits),
		cmocka_unit_test(test_ipv4_udp),
		cmocka_unit_test(test_ipv4_sctp),
		cmocka_unit_test(test_ipv4_icmp),
		cmocka_unit_test(test_ipv4_dccp_udplite),
		cmocka_unit_test(test_ipv4_other_protocol),
		cmocka_unit_test(test_ipv4_options),
		cmocka_unit_test(test_ipv4_fragments),
		cmocka_unit_test(test_ipv4_first_fragment_l4_cut),
		cmocka_unit_test(test_ipv6_tcp_udp),
		cmocka_unit_test(test_ipv6_icmpv6),
		cmocka_unit_test(test_ipv6_other_protocols),
		cmocka_unit_test(test_ipv6_extension_chain),
		cmocka_unit_test(test_ipv6_fragments),
		cmocka_unit_test(test_ipv6_ah),
		cmocka_unit_test(test_ipv6_esp_and_no_next_header),
		cmocka_unit_test(test_ipv6_chain_limit),
		cmocka_unit_test(test_ipv6_jumbogram),
		cmocka_unit_test(test_vlan_key_flag),
		cmocka_unit_test(test_qinq),
		cmocka_unit_test(test_too_many_vlan_tags),
		cmocka_unit_test(test_non_ip),
		cmocka_unit_test(test_snaplen_truncated_payload),
		cmocka_unit_test(test_ethernet_padding),
		cmocka_unit_test(test_padding_is_not_l4),
		cmocka_unit_test(test_every_error_reason),
		cmocka_unit_test(test_truncated_ethernet_and_vlan),
		cmocka_unit_test(test_ipv4_header_errors),
		cmocka_unit_test(test_ipv6_header_errors),
		cmocka_unit_test(test_truncated_l4_each_protocol),
		cmocka_unit_test(test_every_prefix),
		cmocka_unit_test(test_unaligned_frames),
		cmocka_unit_test(test_mutated_frames),
		cmocka_unit_test(test_random_frames),
		cmocka_unit_test(test_symmetric_hash),
		cmocka_unit_test(test_status_names),
	};

	return cmocka_run_group_tests_name("packet", tests, NULL, NULL);
}
