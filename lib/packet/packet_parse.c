/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packet path parser. Every header is read with memcpy from a byte pointer:
 * frames come from pcap files and NIC buffers at any alignment, and VLAN tags
 * or IPv4 options shift the IP header off its natural alignment anyway.
 *
 * Bounds: each header is checked against the bytes still available before
 * any of it is read. Above the IP header, "available" is the smaller of the
 * captured bytes and the length the IP header claims, so Ethernet padding
 * after a short IP packet is never mistaken for an L4 header.
 */

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "safem_packet.h"

#define PARSE_ERR(name) SAFEM_PARSE_ERR_##name

/* glibc has no names for these IPv6 extension headers (RFC 7401, RFC 5533). */
#define IPV6_EXT_HIP 139
#define IPV6_EXT_SHIM6 140

/* Header sizes this parser needs in order to read what goes into the key. */
#define VLAN_TAG_BYTES RTE_VLAN_HLEN
#define VLAN_ID_MASK 0x0fff
#define IPV4_MIN_HEADER_BYTES ((uint32_t)sizeof(struct rte_ipv4_hdr))
#define IPV6_HEADER_BYTES ((uint32_t)sizeof(struct rte_ipv6_hdr))
/* Every IPv6 extension header is a multiple of 8 bytes, at least 8. */
#define IPV6_EXT_MIN_BYTES 8u
#define IPV6_EXT_LEN_UNIT 8u
/* RFC 4302: AH counts its length in 4-byte words, minus 2. */
#define IPV6_AH_LEN_UNIT 4u
#define IPV6_AH_LEN_BIAS 2u
#define IPV6_FRAG_OFFSET_SHIFT 3
#define IPV6_FRAG_MORE 0x0001
#define TCP_HEADER_BYTES ((uint32_t)sizeof(struct rte_tcp_hdr))
#define TCP_FLAGS_OFFSET 13
#define UDP_HEADER_BYTES ((uint32_t)sizeof(struct rte_udp_hdr))
#define SCTP_COMMON_HEADER_BYTES 12u
/* RFC 4340 5.1: the generic header is 12 bytes with X=0, 16 with X=1; ports are first. */
#define DCCP_MIN_HEADER_BYTES 12u
#define ICMP_HEADER_BYTES 8u
#define ICMPV6_HEADER_BYTES 4u

static const char *const status_names[SAFEM_PARSE_STATUS_COUNT] = {
	[SAFEM_PARSE_OK] = "ok",
	[SAFEM_PARSE_NON_IP] = "non_ip",
#define SAFEM_PARSE_NAME_(name) [SAFEM_PARSE_ERR_##name] = #name,
	SAFEM_PARSE_ERRORS(SAFEM_PARSE_NAME_)
#undef SAFEM_PARSE_NAME_
};

const char *
safem_parse_status_name(enum safem_parse_status status)
{
	if ((unsigned int)status >= SAFEM_PARSE_STATUS_COUNT)
		return "unknown";
	return status_names[status];
}

static inline uint16_t
load_be16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return rte_be_to_cpu_16(v);
}

static inline bool
is_vlan_tpid(uint16_t ether_type)
{
	return ether_type == RTE_ETHER_TYPE_VLAN || ether_type == RTE_ETHER_TYPE_QINQ ||
	       ether_type == RTE_ETHER_TYPE_QINQ1;
}

/*
 * Ports (and TCP flags) of the upper-layer header at l4, of which l4_len bytes
 * are both captured and inside the IP packet. Protocols without ports keep
 * ports 0 and need no bytes.
 */
static inline enum safem_parse_status
parse_l4(uint8_t proto, uint8_t ip_version, const uint8_t *l4, uint32_t l4_len,
	 struct safem_packet *out)
{
	uint32_t need;

	switch (proto) {
	case IPPROTO_TCP:
		need = TCP_HEADER_BYTES;
		break;
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
		need = UDP_HEADER_BYTES;
		break;
	case IPPROTO_SCTP:
		need = SCTP_COMMON_HEADER_BYTES;
		break;
	case IPPROTO_DCCP:
		need = DCCP_MIN_HEADER_BYTES;
		break;
	case IPPROTO_ICMP:
		if (ip_version != 4)
			return SAFEM_PARSE_OK;
		need = ICMP_HEADER_BYTES;
		break;
	case IPPROTO_ICMPV6:
		if (ip_version != 6)
			return SAFEM_PARSE_OK;
		need = ICMPV6_HEADER_BYTES;
		break;
	default:
		return SAFEM_PARSE_OK;
	}
	if (unlikely(l4_len < need))
		return PARSE_ERR(truncated_l4);

	if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		/* NetFlow convention: ICMP type and code travel in the destination port. */
		out->key.dst_port = (uint16_t)(l4[0] << 8 | l4[1]);
		return SAFEM_PARSE_OK;
	}
	out->key.src_port = load_be16(l4);
	out->key.dst_port = load_be16(l4 + 2);
	if (proto == IPPROTO_TCP)
		out->tcp_flags = l4[TCP_FLAGS_OFFSET];
	return SAFEM_PARSE_OK;
}

static inline enum safem_parse_status
parse_ipv4(const uint8_t *ip, uint32_t len, struct safem_packet *out)
{
	uint32_t header_bytes, total_bytes, avail;
	uint16_t frag;

	if (unlikely(len < IPV4_MIN_HEADER_BYTES))
		return PARSE_ERR(truncated_ipv4);
	if (unlikely((ip[0] >> 4) != 4))
		return PARSE_ERR(ipv4_bad_version);
	header_bytes = (uint32_t)(ip[0] & RTE_IPV4_HDR_IHL_MASK) * RTE_IPV4_IHL_MULTIPLIER;
	if (unlikely(header_bytes < IPV4_MIN_HEADER_BYTES))
		return PARSE_ERR(ipv4_bad_header_length);
	total_bytes = load_be16(ip + offsetof(struct rte_ipv4_hdr, total_length));
	if (unlikely(total_bytes < header_bytes))
		return PARSE_ERR(ipv4_bad_total_length);
	if (unlikely(len < header_bytes))
		return PARSE_ERR(truncated_ipv4);

	memcpy(out->key.src_addr, ip + offsetof(struct rte_ipv4_hdr, src_addr), 4);
	memset(out->key.src_addr + 4, 0, sizeof(out->key.src_addr) - 4);
	memcpy(out->key.dst_addr, ip + offsetof(struct rte_ipv4_hdr, dst_addr), 4);
	memset(out->key.dst_addr + 4, 0, sizeof(out->key.dst_addr) - 4);
	out->key.proto = ip[offsetof(struct rte_ipv4_hdr, next_proto_id)];
	out->key.ip_version = 4;
	out->ip_bytes = total_bytes;

	frag = load_be16(ip + offsetof(struct rte_ipv4_hdr, fragment_offset));
	if (unlikely(frag & (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK))) {
		if (frag & RTE_IPV4_HDR_OFFSET_MASK) {
			out->fragment = SAFEM_FRAG_LATER;
			return SAFEM_PARSE_OK;
		}
		out->fragment = SAFEM_FRAG_FIRST;
	}

	avail = RTE_MIN(len, total_bytes);
	return parse_l4(out->key.proto, 4, ip + header_bytes, avail - header_bytes, out);
}

static inline enum safem_parse_status
parse_ipv6(const uint8_t *ip, uint32_t len, struct safem_packet *out)
{
	uint32_t ip_bytes, avail, off, ext_bytes;
	unsigned int ext_count = 0;
	uint16_t payload_bytes, frag;
	uint8_t next;

	if (unlikely(len < IPV6_HEADER_BYTES))
		return PARSE_ERR(truncated_ipv6);
	if (unlikely((ip[0] >> 4) != 6))
		return PARSE_ERR(ipv6_bad_version);

	memcpy(out->key.src_addr, ip + offsetof(struct rte_ipv6_hdr, src_addr), 16);
	memcpy(out->key.dst_addr, ip + offsetof(struct rte_ipv6_hdr, dst_addr), 16);
	out->key.ip_version = 6;
	payload_bytes = load_be16(ip + offsetof(struct rte_ipv6_hdr, payload_len));
	next = ip[offsetof(struct rte_ipv6_hdr, proto)];
	if (unlikely(payload_bytes == 0 && next == IPPROTO_HOPOPTS))
		/* RFC 2675 jumbogram: the real length sits in a hop-by-hop option and may exceed
		 * 64 KiB; the captured bytes are the best length we can vouch for. */
		ip_bytes = len;
	else
		ip_bytes = IPV6_HEADER_BYTES + payload_bytes;
	out->ip_bytes = ip_bytes;
	avail = RTE_MIN(len, ip_bytes);

	off = IPV6_HEADER_BYTES;
	for (;;) {
		switch (next) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case IPPROTO_MH:
		case IPV6_EXT_HIP:
		case IPV6_EXT_SHIM6:
		case IPPROTO_AH:
		case IPPROTO_FRAGMENT:
			break;
		default:
			/* Upper layer, ESP or no-next-header: the chain ends here. */
			out->key.proto = next;
			return parse_l4(next, 6, ip + off, avail - off, out);
		}
		if (unlikely(++ext_count > SAFEM_PACKET_MAX_IPV6_EXT))
			return PARSE_ERR(ipv6_extension_chain_too_long);
		if (unlikely(avail - off < IPV6_EXT_MIN_BYTES))
			return PARSE_ERR(truncated_ipv6_extension);

		if (next == IPPROTO_FRAGMENT) {
			ext_bytes = IPV6_EXT_MIN_BYTES;
			frag = load_be16(ip + off + 2);
			if (frag >> IPV6_FRAG_OFFSET_SHIFT) {
				/* Later fragments carry no upper-layer header to walk. */
				out->key.proto = ip[off];
				out->fragment = SAFEM_FRAG_LATER;
				return SAFEM_PARSE_OK;
			}
			/* Offset 0 without M is an atomic fragment (RFC 6946): a whole packet. */
			if (frag & IPV6_FRAG_MORE)
				out->fragment = SAFEM_FRAG_FIRST;
		} else if (next == IPPROTO_AH) {
			ext_bytes = ((uint32_t)ip[off + 1] + IPV6_AH_LEN_BIAS) * IPV6_AH_LEN_UNIT;
		} else {
			ext_bytes = ((uint32_t)ip[off + 1] + 1) * IPV6_EXT_LEN_UNIT;
		}
		if (unlikely(avail - off < ext_bytes))
			return PARSE_ERR(truncated_ipv6_extension);
		next = ip[off];
		off += ext_bytes;
	}
}

enum safem_parse_status
safem_packet_parse(const uint8_t *frame, uint32_t frame_len, unsigned int flags,
		   struct safem_packet *out)
{
	uint32_t off = RTE_ETHER_HDR_LEN;
	uint16_t ether_type, outer_vlan_id = 0;
	unsigned int tags = 0;

	if (unlikely(frame_len < RTE_ETHER_HDR_LEN))
		return PARSE_ERR(truncated_ethernet);
	ether_type = load_be16(frame + offsetof(struct rte_ether_hdr, ether_type));
	while (is_vlan_tpid(ether_type)) {
		if (unlikely(tags == SAFEM_PACKET_MAX_VLAN_TAGS))
			return PARSE_ERR(too_many_vlan_tags);
		if (unlikely(frame_len - off < VLAN_TAG_BYTES))
			return PARSE_ERR(truncated_vlan);
		if (tags == 0)
			outer_vlan_id = load_be16(frame + off) & VLAN_ID_MASK;
		ether_type = load_be16(frame + off + 2);
		off += VLAN_TAG_BYTES;
		tags++;
	}

	/* Keys compare as raw bytes: every field is written on the OK path, ports here
	 * because most branches below leave them 0. */
	out->key.src_port = 0;
	out->key.dst_port = 0;
	out->key.vlan_id = (flags & SAFEM_PARSE_KEY_VLAN) ? outer_vlan_id : 0;
	out->tcp_flags = 0;
	out->fragment = SAFEM_FRAG_NONE;
	memset(out->reserved, 0, sizeof(out->reserved));

	if (likely(ether_type == RTE_ETHER_TYPE_IPV4))
		return parse_ipv4(frame + off, frame_len - off, out);
	if (likely(ether_type == RTE_ETHER_TYPE_IPV6))
		return parse_ipv6(frame + off, frame_len - off, out);
	/* 802.3 length-field frames (< 0x0600) land here too. */
	return SAFEM_PARSE_NON_IP;
}
