/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SAFEM_PACKET_H
#define SAFEM_PACKET_H

/**
 * @file
 * Packet parsing: one Ethernet frame in, one flow key plus the per-packet
 * facts the flow cache needs out. Pure function over a byte buffer: no
 * allocation, no logging, never reads past frame_len. Used on the packet path.
 *
 * Header stacks: Ethernet II, up to two 802.1Q / 802.1ad (QinQ) tags,
 * IPv4 (options, fragments), IPv6 with extension header chains (hop-by-hop,
 * routing, fragment, destination options, AH, mobility, HIP, shim6),
 * TCP, UDP, SCTP, ICMP, ICMPv6; any other IP protocol becomes a flow
 * without ports.
 *
 * Fragments: the first fragment (offset 0) carries the L4 header and is keyed
 * with its ports; non-first fragments cannot carry ports and are keyed with
 * ports 0 (as Cisco NetFlow does), so their bytes are counted in a separate
 * flow of the same address pair and protocol.
 */

#include <assert.h>
#include <stdint.h>
#include <string.h>

#include <rte_hash_crc.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Parse outcomes that are errors, one X(name) per reason. The names are
 * used verbatim as counter names in --stats and telemetry.
 */
#define SAFEM_PARSE_ERRORS(X)                                                                      \
	X(truncated_ethernet)      /* frame shorter than the Ethernet header */                  \
	X(truncated_vlan)          /* VLAN tag cut by the end of the frame */                    \
	X(too_many_vlan_tags)      /* more than SAFEM_PACKET_MAX_VLAN_TAGS tags */               \
	X(truncated_ipv4)          /* IPv4 header (with options) cut by the end of frame */      \
	X(ipv4_bad_version)        /* EtherType IPv4 but version nibble != 4 */                  \
	X(ipv4_bad_header_length)  /* IHL < 5 */                                                 \
	X(ipv4_bad_total_length)   /* total length < header length */                           \
	X(truncated_ipv6)          /* fixed IPv6 header cut by the end of frame */              \
	X(ipv6_bad_version)        /* EtherType IPv6 but version nibble != 6 */                  \
	X(truncated_ipv6_extension) /* extension header cut by the end of frame */              \
	X(ipv6_extension_chain_too_long) /* more than SAFEM_PACKET_MAX_IPV6_EXT headers */       \
	X(truncated_l4)            /* TCP/UDP/SCTP/ICMP header needed for ports cut */

#define SAFEM_PACKET_MAX_VLAN_TAGS 2
#define SAFEM_PACKET_MAX_IPV6_EXT 8

/** Result of safem_packet_parse(). */
enum safem_parse_status {
	SAFEM_PARSE_OK = 0,     /**< IP packet parsed into a flow key */
	SAFEM_PARSE_NON_IP = 1, /**< well-formed frame that is not IPv4/IPv6 (ARP, LLDP...) */
#define SAFEM_PARSE_ENUM_(name) SAFEM_PARSE_ERR_##name,
	SAFEM_PARSE_ERRORS(SAFEM_PARSE_ENUM_)
#undef SAFEM_PARSE_ENUM_
		SAFEM_PARSE_STATUS_COUNT
};

/** Number of error reasons (statuses after SAFEM_PARSE_NON_IP). */
#define SAFEM_PARSE_ERROR_COUNT (SAFEM_PARSE_STATUS_COUNT - SAFEM_PARSE_ERR_truncated_ethernet)

/** Name of a status ("ok", "non_ip", or the error reason as listed above). */
const char *safem_parse_status_name(enum safem_parse_status status);

/**
 * Flow key. Unidirectional, as in NetFlow/IPFIX. Padding-free so keys compare
 * and hash as 40 raw bytes; unused bytes are always zero.
 */
struct safem_flow_key {
	uint8_t src_addr[16]; /**< IPv4: bytes 0-3 in network order, 4-15 zero */
	uint8_t dst_addr[16];
	uint16_t src_port;  /**< host order; ICMP/ICMPv6 and portless protocols: 0 */
	uint16_t dst_port;  /**< host order; ICMP/ICMPv6: type << 8 | code (NetFlow) */
	uint16_t vlan_id;   /**< outer VLAN ID when SAFEM_PARSE_KEY_VLAN, else 0 */
	uint8_t proto;      /**< IP protocol (IPv6: the upper-layer protocol after extensions) */
	uint8_t ip_version; /**< 4 or 6 */
};
static_assert(sizeof(struct safem_flow_key) == 40, "flow key must be 40 bytes");

/** Fragment position of a parsed packet. */
enum safem_fragment {
	SAFEM_FRAG_NONE = 0,  /**< not a fragment */
	SAFEM_FRAG_FIRST = 1, /**< offset 0, more fragments follow: ports present */
	SAFEM_FRAG_LATER = 2, /**< offset > 0: no ports, key has ports 0 */
};

/**
 * A parsed packet: what the flow cache consumes. 64 bytes, one cache line, so
 * software RSS dispatch can pass it between cores through an rte_ring of
 * elements instead of the mbuf.
 */
struct safem_packet {
	struct safem_flow_key key;
	uint64_t ts_ns;     /**< packet time, Unix ns (set by the caller, not the parser) */
	uint32_t ip_bytes;  /**< IPv4 total length / IPv6 40 + payload length (octetDeltaCount) */
	uint32_t key_hash;  /**< safem_flow_key_hash(&key) (set by the caller) */
	uint8_t tcp_flags;  /**< TCP flags byte (CWR..FIN), 0 for non-TCP */
	uint8_t fragment;   /**< enum safem_fragment */
	uint8_t reserved[6];
} __attribute__((aligned(64)));
static_assert(sizeof(struct safem_packet) == 64, "parsed packet must be one cache line");

/** Parse flag: put the outer VLAN ID into the flow key. */
#define SAFEM_PARSE_KEY_VLAN (1u << 0)

/**
 * Parse one Ethernet frame.
 *
 * @param frame      first byte of the Ethernet header
 * @param frame_len  bytes available at frame (captured length)
 * @param flags      SAFEM_PARSE_* flags
 * @param out        filled on SAFEM_PARSE_OK: key, ip_bytes, tcp_flags,
 *                   fragment (ts_ns and key_hash are left for the caller);
 *                   unspecified otherwise
 * @return SAFEM_PARSE_OK, SAFEM_PARSE_NON_IP or an error reason.
 *
 * A packet whose IP total length exceeds the captured bytes (snap length) is
 * still parsed as long as the headers needed for the key are present: bytes
 * come from the IP header, as in IPFIX octetDeltaCount.
 */
enum safem_parse_status safem_packet_parse(const uint8_t *frame, uint32_t frame_len,
					   unsigned int flags, struct safem_packet *out);

/** Hash of the whole key: flow cache bucket and signature. */
static inline uint32_t
safem_flow_key_hash(const struct safem_flow_key *key)
{
	return rte_hash_crc(key, sizeof(*key), 0x5afe0001u);
}

/**
 * Symmetric hash: equal for a key and its reverse (addresses and ports
 * swapped). Software RSS uses it so both directions of a connection are
 * handled by one worker, as a symmetric Toeplitz key does in the NIC.
 */
static inline uint32_t
safem_flow_key_hash_symmetric(const struct safem_flow_key *key)
{
	uint64_t a[2], b[2];
	uint32_t ports;
	int src_first;

	src_first = memcmp(key->src_addr, key->dst_addr, 16) < 0 ||
		    (memcmp(key->src_addr, key->dst_addr, 16) == 0 && key->src_port <= key->dst_port);
	memcpy(a, src_first ? key->src_addr : key->dst_addr, 16);
	memcpy(b, src_first ? key->dst_addr : key->src_addr, 16);
	ports = src_first ? ((uint32_t)key->src_port << 16 | key->dst_port)
			  : ((uint32_t)key->dst_port << 16 | key->src_port);
	uint32_t h = rte_hash_crc_8byte(a[0], 0x5afe0002u);
	h = rte_hash_crc_8byte(a[1], h);
	h = rte_hash_crc_8byte(b[0], h);
	h = rte_hash_crc_8byte(b[1], h);
	h = rte_hash_crc_4byte(ports, h);
	return rte_hash_crc_4byte((uint32_t)key->proto << 16 | key->vlan_id, h);
}

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_PACKET_H */
