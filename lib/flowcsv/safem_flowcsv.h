/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SAFEM_FLOWCSV_H
#define SAFEM_FLOWCSV_H

/**
 * @file
 * Flow records as CSV (the `--flows` output; its columns are a contract read
 * by outside tools). The file is written as PATH.tmp and renamed to PATH only
 * when closed with commit, so PATH is either complete or absent.
 * Runs on the analysis lcore, never on the packet path.
 */

#include <stdbool.h>
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

struct safem_flowcsv;

/**
 * Create PATH.tmp and write the header. Returns NULL with errno set
 * (the caller names the path in its message).
 */
struct safem_flowcsv *safem_flowcsv_open(const char *path);

/** Append one record. Returns 0 or -errno (the write failed: disk full...). */
int safem_flowcsv_write(struct safem_flowcsv *w, const struct safem_flow_record *record);

/** Rows written so far. */
uint64_t safem_flowcsv_rows(const struct safem_flowcsv *w);

/**
 * Close. commit: flush, fsync and rename PATH.tmp to PATH; otherwise remove
 * PATH.tmp. Returns 0 or -errno (on failure nothing is left at PATH.tmp).
 */
int safem_flowcsv_close(struct safem_flowcsv *w, bool commit);

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_FLOWCSV_H */
