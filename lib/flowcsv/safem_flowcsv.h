/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SAFEM_FLOWCSV_H
#define SAFEM_FLOWCSV_H

/**
 * @file
 * Flow records as CSV rows and JSON lines (the `--flows` output and the flow
 * stream; the columns are a contract read by outside tools). Formatting only:
 * the probe appends the rows to a lib/streamfile file (header once per file).
 * Never on the packet path.
 */

#include <stddef.h>
#include <stdint.h>

#include "safem_flow.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Header row, without the newline. */
#define SAFEM_FLOWCSV_HEADER                                                                       \
	"src_addr,dst_addr,src_port,dst_port,proto,packets,bytes,first_ms,last_ms,tcp_flags,"   \
	"end_reason"

/** Longest row: two IPv6 addresses (45 each) plus numbers and commas. */
#define SAFEM_FLOWCSV_ROW_MAX 256

/**
 * Format one record as a CSV row with trailing newline into buf.
 * @return the row length (< SAFEM_FLOWCSV_ROW_MAX).
 */
size_t safem_flowcsv_format(const struct safem_flow_record *record, char *buf, size_t len);

/** Longest JSON line: the row plus the quoted column names. */
#define SAFEM_FLOWCSV_JSON_MAX 512

/**
 * Format one record as a JSON object on one line, with trailing newline: the
 * CSV columns as keys (same names, same order), numbers as JSON numbers,
 * addresses and end_reason as strings. For line-oriented outputs (Kafka).
 * @return the line length (< SAFEM_FLOWCSV_JSON_MAX).
 */
size_t safem_flowcsv_format_json(const struct safem_flow_record *record, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_FLOWCSV_H */
