/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef PROBE_PROMETHEUS_H
#define PROBE_PROMETHEUS_H

/*
 * --prometheus PORT: GET /metrics in the Prometheus text exposition format
 * (version 0.0.4), rendered from the same counters as --stats and telemetry.
 * Served by the main lcore between hand-off drains: a non-blocking listening
 * socket and at most a few non-blocking connections, polled once per main
 * loop iteration; never on a worker.
 */

#include <stddef.h>
#include <stdio.h>

#include "probe_options.h"
#include "probe_stats.h"

struct probe_prometheus;

/** Check --prometheus-address (a numeric IPv4/IPv6 address). 0 or -EINVAL with a message. */
int probe_prometheus_check_options(const struct probe_config *cfg);

/**
 * Listen on --prometheus-address:--prometheus. NULL with err naming the
 * option (port in use, address not local...). ctx must outlive the endpoint.
 */
struct probe_prometheus *probe_prometheus_open(const struct probe_config *cfg,
					       const struct probe_context *ctx, char *err,
					       size_t errlen);

/** Accept, read requests and answer them as far as possible without waiting. */
void probe_prometheus_poll(struct probe_prometheus *p);

/** Close the endpoint and its connections. NULL is fine. */
void probe_prometheus_close(struct probe_prometheus *p);

/** Write every metric in the text exposition format (also used by tests via /metrics). */
void probe_prometheus_render(FILE *f, const struct probe_context *ctx);

#endif /* PROBE_PROMETHEUS_H */
