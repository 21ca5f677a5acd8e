/* SPDX-License-Identifier: BSD-3-Clause */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/socket.h>

#include "safem_flowcsv.h"

static void
format_addr(const uint8_t addr[16], uint8_t ip_version, char *out, size_t len)
{
	if (inet_ntop(ip_version == 4 ? AF_INET : AF_INET6, addr, out, len) == NULL)
		snprintf(out, len, "?");
}

/* CSV row and JSON line take the same values in the same order. */
static const char csv_format[] =
	"%s,%s,%u,%u,%u,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%u,%s\n";
/* The CSV columns as keys, in CSV order; numbers stay numbers. */
static const char json_format[] =
	"{\"src_addr\":\"%s\",\"dst_addr\":\"%s\",\"src_port\":%u,\"dst_port\":%u,"
	"\"proto\":%u,\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"first_ms\":%" PRIu64
	",\"last_ms\":%" PRIu64 ",\"tcp_flags\":%u,\"end_reason\":\"%s\"}\n";

static size_t
format_record(const char *format, const struct safem_flow_record *r, char *buf, size_t len)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	int n;

	format_addr(r->key.src_addr, r->key.ip_version, src, sizeof(src));
	format_addr(r->key.dst_addr, r->key.ip_version, dst, sizeof(dst));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	n = snprintf(buf, len, format, src, dst, r->key.src_port, r->key.dst_port, r->key.proto,
		     r->packets, r->bytes, r->first_ms, r->last_ms, r->tcp_flags,
		     safem_flow_end_reason_name(r->end_reason));
#pragma GCC diagnostic pop
	return n < 0 ? 0 : ((size_t)n < len ? (size_t)n : len - 1);
}

size_t
safem_flowcsv_format(const struct safem_flow_record *r, char *buf, size_t len)
{
	return format_record(csv_format, r, buf, len);
}

size_t
safem_flowcsv_format_json(const struct safem_flow_record *r, char *buf, size_t len)
{
	return format_record(json_format, r, buf, len);
}
