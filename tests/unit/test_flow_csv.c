/* SPDX-License-Identifier: BSD-3-Clause */
/* Flow CSV: exact row text for v4/v6/ICMP, header (the file itself: test_streamfile). */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "safem_flowcsv.h"

static struct safem_flow_record
v4_record(void)
{
	struct safem_flow_record r;

	memset(&r, 0, sizeof(r));
	inet_pton(AF_INET, "192.0.2.1", r.key.src_addr);
	inet_pton(AF_INET, "198.51.100.20", r.key.dst_addr);
	r.key.src_port = 40000;
	r.key.dst_port = 443;
	r.key.proto = 6;
	r.key.ip_version = 4;
	r.packets = 12;
	r.bytes = 3456;
	r.first_ms = 1700000000123ull;
	r.last_ms = 1700000004567ull;
	r.tcp_flags = 0x1b;
	r.end_reason = SAFEM_FLOW_END_tcp_end;
	return r;
}

static void
test_format_v4(void **state)
{
	struct safem_flow_record r = v4_record();
	char row[SAFEM_FLOWCSV_ROW_MAX];
	size_t n;

	(void)state;
	n = safem_flowcsv_format(&r, row, sizeof(row));
	assert_string_equal(row, "192.0.2.1,198.51.100.20,40000,443,6,12,3456,1700000000123,"
				 "1700000004567,27,tcp_end\n");
	assert_int_equal(n, strlen(row));
}

static void
test_format_v6_icmp_and_reasons(void **state)
{
	struct safem_flow_record r;
	char row[SAFEM_FLOWCSV_ROW_MAX];
	static const char *const names[] = {"inactive", "active", "tcp_end", "end_of_input",
					    "evicted"};
	unsigned int reason;

	(void)state;
	memset(&r, 0, sizeof(r));
	inet_pton(AF_INET6, "2001:db8::1", r.key.src_addr);
	inet_pton(AF_INET6, "2001:db8:0:0:1:0:0:2", r.key.dst_addr);
	r.key.dst_port = 128 << 8; /* echo request, code 0 */
	r.key.proto = 58;
	r.key.ip_version = 6;
	r.packets = 1;
	r.bytes = 104;
	r.first_ms = r.last_ms = 5;
	for (reason = 1; reason <= 5; reason++) {
		char expected[SAFEM_FLOWCSV_ROW_MAX];

		r.end_reason = (uint8_t)reason;
		safem_flowcsv_format(&r, row, sizeof(row));
		snprintf(expected, sizeof(expected), "2001:db8::1,2001:db8::1:0:0:2,0,32768,58,1,104,5,5,0,%s\n",
			 names[reason - 1]);
		assert_string_equal(row, expected);
	}
}

static void
test_longest_row_fits(void **state)
{
	struct safem_flow_record r;
	char row[SAFEM_FLOWCSV_ROW_MAX];

	(void)state;
	memset(&r, 0xff, sizeof(r));
	r.key.ip_version = 6;
	r.end_reason = SAFEM_FLOW_END_end_of_input;
	assert_true(safem_flowcsv_format(&r, row, sizeof(row)) < sizeof(row) - 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_v4),
		cmocka_unit_test(test_format_v6_icmp_and_reasons),
		cmocka_unit_test(test_longest_row_fits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
