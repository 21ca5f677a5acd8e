/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/packet: safem_packet_parse on frames of any length and content.
 *
 * libFuzzer hands over a heap buffer of exactly `size` bytes, so ASan sees
 * any read past frame_len. Beyond memory safety, the target checks what the
 * header promises and the flow cache relies on: the key is written in full
 * on the OK path (keys hash and compare as 40 raw bytes, so a byte left from
 * a previous packet would split one flow in two), and the fields are in range.
 */
#include <string.h>

#include "fuzz_common.h"
#include "safem_packet.h"

static void
check_ok(const struct safem_packet *p, unsigned int flags)
{
	static const uint8_t zero[16];

	FUZZ_CHECK(p->key.ip_version == 4 || p->key.ip_version == 6);
	if (p->key.ip_version == 4) {
		FUZZ_CHECK(memcmp(p->key.src_addr + 4, zero, 12) == 0);
		FUZZ_CHECK(memcmp(p->key.dst_addr + 4, zero, 12) == 0);
		FUZZ_CHECK(p->ip_bytes >= 20);
	} else {
		FUZZ_CHECK(p->ip_bytes >= 40);
	}
	FUZZ_CHECK(p->key.vlan_id <= 0x0fff);
	if (!(flags & SAFEM_PARSE_KEY_VLAN))
		FUZZ_CHECK(p->key.vlan_id == 0);
	FUZZ_CHECK(p->fragment <= SAFEM_FRAG_LATER);
	if (p->fragment == SAFEM_FRAG_LATER)
		FUZZ_CHECK(p->key.src_port == 0 && p->key.dst_port == 0);
	if (p->key.proto != 6)
		FUZZ_CHECK(p->tcp_flags == 0);
	FUZZ_CHECK(memcmp(p->reserved, zero, sizeof(p->reserved)) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned int flag_sets[] = {0, SAFEM_PARSE_KEY_VLAN};
	struct safem_packet a, b;
	unsigned int i;

	if (size > UINT32_MAX)
		return 0;
	for (i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
		enum safem_parse_status sa, sb;

		/* Two outputs filled with different garbage must come out equal. */
		memset(&a, 0x00, sizeof(a));
		memset(&b, 0xa5, sizeof(b));
		sa = safem_packet_parse(data, (uint32_t)size, flag_sets[i], &a);
		sb = safem_packet_parse(data, (uint32_t)size, flag_sets[i], &b);
		FUZZ_CHECK(sa == sb);
		FUZZ_CHECK((unsigned int)sa < SAFEM_PARSE_STATUS_COUNT);
		FUZZ_CHECK(strcmp(safem_parse_status_name(sa), "unknown") != 0);
		if (sa != SAFEM_PARSE_OK)
			continue;
		check_ok(&a, flag_sets[i]);
		FUZZ_CHECK(memcmp(&a.key, &b.key, sizeof(a.key)) == 0);
		FUZZ_CHECK(a.ip_bytes == b.ip_bytes && a.tcp_flags == b.tcp_flags &&
			   a.fragment == b.fragment);
		FUZZ_CHECK(safem_flow_key_hash(&a.key) == safem_flow_key_hash(&b.key));
		(void)safem_flow_key_hash_symmetric(&a.key);
	}
	return 0;
}
