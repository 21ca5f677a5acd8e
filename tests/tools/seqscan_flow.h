/* SPDX-License-Identifier: BSD-3-Clause */
/* What the sequential scan test's unit test and benchmark share: one flow contribution of a
 * window's flow log between IPv4 addresses, the fields lib/seqscan reads (key, TCP flags, an
 * unweighted contribution) set, the rest zero. */
#ifndef SAFEM_SEQSCAN_FLOW_H
#define SAFEM_SEQSCAN_FLOW_H

#include <stdint.h>
#include <string.h>

#include "safem_profile.h"

static inline void
seqscan_flow_v4(struct safem_profile_flow *f, uint32_t src, uint32_t dst, uint16_t sport,
		uint16_t dport, uint8_t proto, uint8_t flags)
{
	memset(f, 0, sizeof(*f));
	for (int i = 0; i < 4; i++) {
		f->key.src_addr[i] = (uint8_t)(src >> (24 - 8 * i));
		f->key.dst_addr[i] = (uint8_t)(dst >> (24 - 8 * i));
	}
	f->key.src_port = sport;
	f->key.dst_port = dport;
	f->key.proto = proto;
	f->key.ip_version = 4;
	f->tcp_flags = flags;
	f->weight_shift = 0; /* one flow */
	f->packets = 1;
	f->bytes = 60;
}

#endif /* SAFEM_SEQSCAN_FLOW_H */
