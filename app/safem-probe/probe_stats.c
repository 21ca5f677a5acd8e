/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_telemetry.h>

#include "safem_outfile.h"
#include "safem_streamfile.h"

#include "probe_files.h"
#include "probe_stats.h"

uint64_t
probe_clock_now_ms(const void *ctx)
{
	const struct probe_shared *s = ctx;
	uint64_t ns = 0;
	unsigned int i;

	for (i = 0; i < s->worker_count; i++) {
		uint64_t w = __atomic_load_n(&s->workers[i]->live_clock_ns, __ATOMIC_RELAXED);

		if (w > ns)
			ns = w;
	}
	return ns / 1000000;
}

void
probe_totals_collect(const struct probe_shared *s, struct probe_totals *t)
{
	uint64_t first_tsc = UINT64_MAX, last_tsc = 0;
	unsigned int i, k;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < s->worker_count; i++) {
		const struct probe_worker *w = s->workers[i];
		const struct safem_flow_cache_stats *c = safem_flow_cache_stats(w->cache);
		const struct safem_handoff_stats *h = safem_handoff_stats(s->handoff, i);

#define ADD_(name) t->worker.name += w->stats.name;
		PROBE_WORKER_COUNTERS(ADD_)
#undef ADD_
		for (k = 0; k < SAFEM_PARSE_STATUS_COUNT; k++)
			t->worker.parse_status[k] += w->stats.parse_status[k];
#define ADD_(name) t->cache.name += c->name;
		SAFEM_FLOW_CACHE_COUNTERS(ADD_)
#undef ADD_
		t->cache.active_flows += c->active_flows;
#define ADD_(name) t->handoff.name += h->name;
		SAFEM_HANDOFF_COUNTERS(ADD_)
#undef ADD_
		if (w->first_rx_tsc != 0) {
			first_tsc = RTE_MIN(first_tsc, w->first_rx_tsc);
			last_tsc = RTE_MAX(last_tsc, w->last_rx_tsc);
		}
	}
	t->parsed_packets = t->worker.parse_status[SAFEM_PARSE_OK];
	t->non_ip = t->worker.parse_status[SAFEM_PARSE_NON_IP];
	for (k = SAFEM_PARSE_NON_IP + 1; k < SAFEM_PARSE_STATUS_COUNT; k++)
		t->parse_errors += t->worker.parse_status[k];
	if (last_tsc > first_tsc)
		t->elapsed_s = (double)(last_tsc - first_tsc) / (double)rte_get_tsc_hz();
}

void
probe_memory_collect(const struct probe_memory_marks *marks, struct probe_memory *m)
{
	uint64_t named = 0, set_up;
	unsigned int k;

	memset(m, 0, sizeof(*m));
	for (k = 0; k < SAFEM_MEM_USE_COUNT; k++) {
		m->use[k] = safem_mem_accounted(k);
		named += m->use[k];
	}
	/* Set-up allocated heap_setup - heap_start in all; what no library
	 * named is "other". Only a reading, so clamp a skew at zero. */
	set_up = marks->heap_setup > marks->heap_start ? marks->heap_setup - marks->heap_start : 0;
	m->other = set_up > named ? set_up - named : 0;
	m->process_start = marks->rss_start;
	m->total = m->process_start + named + m->other;
	m->rss = safem_mem_process_rss();
}

static void
write_memory_json(FILE *f, const struct probe_memory_marks *marks)
{
	struct probe_memory m;
	unsigned int k;

	probe_memory_collect(marks, &m);
	fprintf(f, "  \"memory\": {");
	for (k = 0; k < SAFEM_MEM_USE_COUNT; k++)
		fprintf(f, "\"%s\": %" PRIu64 ", ", safem_mem_use_name(k), m.use[k]);
	fprintf(f,
		"\"other\": %" PRIu64 ", \"process_start\": %" PRIu64 ", \"total\": %" PRIu64
		", \"rss\": %" PRIu64 "},\n",
		m.other, m.process_start, m.total, m.rss);
}

static void
write_port_json(FILE *f, const struct probe_port *p)
{
	struct rte_eth_stats st;
	uint16_t q;

	memset(&st, 0, sizeof(st));
	rte_eth_stats_get(p->port_id, &st);
	fprintf(f,
		"{\"port\": %u, \"name\": \"%s\", \"driver\": \"%s\", \"rx_queues\": %u, "
		"\"rss\": %s, \"ipackets\": %" PRIu64 ", \"ibytes\": %" PRIu64
		", \"imissed\": %" PRIu64 ", \"ierrors\": %" PRIu64 ", \"rx_nombuf\": %" PRIu64
		", \"queues\": [",
		p->port_id, p->name, p->driver, p->rx_queues, p->rss ? "true" : "false",
		st.ipackets, st.ibytes, st.imissed, st.ierrors, st.rx_nombuf);
	for (q = 0; q < p->rx_queues && q < RTE_ETHDEV_QUEUE_STAT_CNTRS; q++)
		fprintf(f, "%s{\"queue\": %u, \"ipackets\": %" PRIu64 ", \"ibytes\": %" PRIu64 "}",
			q ? ", " : "", q, st.q_ipackets[q], st.q_ibytes[q]);
	fprintf(f, "]}");
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void
json_string(FILE *f, const char *v)
{
	fputc('"', f);
	for (; *v != '\0'; v++) {
		if (*v == '"' || *v == '\\')
			fprintf(f, "\\%c", *v);
		else if ((unsigned char)*v < 0x20)
			fprintf(f, "\\u%04x", (unsigned int)(unsigned char)*v);
		else
			fputc(*v, f);
	}
	fputc('"', f);
}

/* The line files (open or closed), with their path and write counters. */
static void
write_files_json(FILE *f, const struct probe_files *pf)
{
	const char *sep = "";
	unsigned int k;

	fprintf(f, "  \"files\": [");
	for (k = 0; k < PROBE_FILE_COUNT; k++) {
		struct safem_streamfile_stats st;

		if (!probe_files_stats(pf, k, &st))
			continue;
		fprintf(f, "%s{\"output\": \"%s\", \"path\": ", sep, probe_file_name(k));
		json_string(f, safem_streamfile_path(pf->file[k]));
#define FIELD_(name) fprintf(f, ", \"" #name "\": %" PRIu64, st.name);
		SAFEM_STREAMFILE_COUNTERS(FIELD_)
#undef FIELD_
		fprintf(f, "}");
		sep = ", ";
	}
	fprintf(f, "],\n");
}

/* The JSON-line streams that are open, with their syslog/Kafka counters. */
static void
write_streams_json(FILE *f, const struct probe_line_outputs *o)
{
	const char *sep = "";
	unsigned int k;

	fprintf(f, "  \"streams\": [");
	for (k = 0; k < PROBE_STREAM_COUNT; k++) {
		struct safem_linesink_stats st;

		if (o->streams[k] == NULL)
			continue;
		safem_linesink_stats_read(o->streams[k], &st);
		fprintf(f, "%s{\"stream\": \"%s\"", sep, probe_stream_name(k));
#define FIELD_(name) fprintf(f, ", \"" #name "\": %" PRIu64, st.name);
		SAFEM_LINESINK_COUNTERS(FIELD_)
#undef FIELD_
		fprintf(f, "}");
		sep = ", ";
	}
	fprintf(f, "],\n");
}

/* The sequential tests' totals (each lib's X-macro list: one place for the struct's fields
 * and their names here) and their worst cost per window, one JSON object each. */
#define TOTALS_FIELD_(name) fprintf(f, "%s\"" #name "\": %" PRIu64, sep, t->name), sep = ", ";
#define TOTALS_PUTTER(fn, type, LIST)                                                           \
	static void fn(FILE *f, const char *block, const type *t, uint64_t ns_max)               \
	{                                                                                        \
		const char *sep = "";                                                            \
                                                                                                 \
		fprintf(f, "  \"%s\": {", block);                                                \
		LIST(TOTALS_FIELD_)                                                              \
		fprintf(f, ", \"ms_max\": %.3f},\n", (double)ns_max / 1e6);                     \
	}
TOTALS_PUTTER(scan_totals_put, struct safem_seqscan_totals, SAFEM_SEQSCAN_TOTALS)
TOTALS_PUTTER(victim_totals_put, struct safem_victim_totals, SAFEM_VICTIM_TOTALS)
TOTALS_PUTTER(brute_totals_put, struct safem_brute_totals, SAFEM_BRUTE_TOTALS)
TOTALS_PUTTER(fanout_totals_put, struct safem_fanout_totals, SAFEM_FANOUT_TOTALS)
#undef TOTALS_PUTTER
#undef TOTALS_FIELD_

static void
write_json(FILE *f, const struct probe_context *ctx)
{
	const struct probe_shared *s = ctx->shared;
	struct probe_totals t;
	unsigned int i, k;
	const char *sep;

	probe_totals_collect(s, &t);
	fprintf(f, "{\n  \"rx_packets\": %" PRIu64 ",\n  \"rx_bytes\": %" PRIu64
		   ",\n  \"elapsed_s\": %.6f,\n",
		t.worker.rx_packets, t.worker.rx_bytes, t.elapsed_s);
	fprintf(f, "  \"parsed_packets\": %" PRIu64 ",\n  \"parsed_bytes\": %" PRIu64
		   ",\n  \"non_ip\": %" PRIu64 ",\n  \"parse_errors_total\": %" PRIu64
		   ",\n  \"parse_errors\": {",
		t.parsed_packets, t.worker.parsed_bytes, t.non_ip, t.parse_errors);
	for (k = SAFEM_PARSE_NON_IP + 1, sep = ""; k < SAFEM_PARSE_STATUS_COUNT; k++, sep = ", ")
		fprintf(f, "%s\"%s\": %" PRIu64, sep, safem_parse_status_name(k),
			t.worker.parse_status[k]);
	fprintf(f, "},\n  \"flows\": {\"created\": %" PRIu64 ", \"active\": %" PRIu64
		   ", \"packets\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"expired\": {",
		t.cache.flows_created, t.cache.active_flows, t.cache.packets, t.cache.bytes);
	fprintf(f,
		"\"inactive\": %" PRIu64 ", \"active\": %" PRIu64 ", \"tcp_end\": %" PRIu64
		", \"end_of_input\": %" PRIu64 ", \"evicted\": %" PRIu64 "}},\n",
		t.cache.expired_inactive, t.cache.expired_active, t.cache.expired_tcp_end,
		t.cache.expired_end_of_input, t.cache.evicted);
	fprintf(f,
		"  \"records\": {\"exported\": %" PRIu64 ", \"dropped\": %" PRIu64
		", \"written\": %" PRIu64 "},\n",
		t.handoff.records_put, t.handoff.records_dropped, ctx->output->records_written);
	fprintf(f,
		"  \"flow_cache\": {\"slots_per_worker\": %u, \"bytes_per_flow\": %zu, "
		"\"bytes_per_worker\": %zu},\n",
		safem_flow_cache_capacity(s->workers[0]->cache), safem_flow_cache_bytes_per_flow(),
		(size_t)safem_flow_cache_capacity(s->workers[0]->cache) *
			safem_flow_cache_bytes_per_flow());
	if (ctx->memory != NULL)
		write_memory_json(f, ctx->memory);
	if (!s->packet_clock) {
		struct timespec wall;
		uint64_t probe_ns = probe_tsc_to_unix_ns(s, rte_rdtsc());
		double rate;

		clock_gettime(CLOCK_REALTIME, &wall);
		__atomic_load(&s->unix_ns_per_tsc, &rate, __ATOMIC_RELAXED);
		/* How far the probe's clock is from the wall clock now, and the TSC
		 * frequency it measured against EAL's (docs/formats.md). */
		fprintf(f,
			"  \"live_clock\": {\"offset_ms\": %.3f, \"tsc_hz\": %.0f, \"eal_tsc_hz\": %" PRIu64
			"},\n",
			((double)probe_ns -
			 ((double)wall.tv_sec * 1e9 + (double)wall.tv_nsec)) / 1e6,
			1e9 / rate, rte_get_tsc_hz());
	}
	fprintf(f, "  \"clock\": \"%s\",\n  \"worker_count\": %u,\n  \"software_rss\": %s,\n",
		ctx->clock_name, s->worker_count, s->software_rss ? "true" : "false");
	/* How long the probe took from the stop request (signal, --duration) to
	 * its final counters: the outputs are complete by then. */
	if (s->stop_tsc != 0)
		fprintf(f, "  \"shutdown\": {\"seconds\": %.3f},\n",
			(double)(rte_rdtsc() - s->stop_tsc) / (double)rte_get_tsc_hz());
	if (ctx->analysis != NULL) {
		struct probe_analysis_totals at;
		const struct safem_window_totals *wt = &at.windows;

		probe_analysis_read(ctx->analysis, &at);
		fprintf(f,
			"  \"windows\": {\"reported\": %" PRIu64 ", \"packets\": %" PRIu64
			", \"bytes\": %" PRIu64 ", \"flows\": %" PRIu64
			", \"merge_ms_max\": %.3f, \"close_ms_max\": %.3f, \"summary_ms_max\": %.3f"
			", \"time_jumps\": %" PRIu64 "},\n",
			wt->windows, wt->packets, wt->bytes, wt->flows,
			(double)wt->merge_ns_max / 1e6, (double)wt->close_ns_max / 1e6,
			(double)wt->summary_ns_max / 1e6, wt->time_jumps);
		fprintf(f,
			"  \"analysis\": {\"thread\": \"control\", \"panes_queued\": %" PRIu64
			", \"panes_analysed\": %" PRIu64 ", \"queue_size\": %" PRIu64
			", \"queue_high_water\": %" PRIu64 ", \"queue_full\": %" PRIu64
			", \"busy_ms_total\": %.3f, \"busy_ms_max\": %.3f},\n",
			at.panes_queued, at.panes_analysed, at.queue_size, at.queue_high_water,
			at.queue_full, (double)at.busy_ns_total / 1e6, (double)at.busy_ns_max / 1e6);
	}
	if (ctx->detect != NULL) {
		struct safem_detect_totals dt;

		safem_detector_totals(ctx->detect->detector, &dt);
		fprintf(f,
			"  \"detection\": {\"windows\": %" PRIu64 ", \"anomalous_windows\": %" PRIu64
			", \"alerts\": %" PRIu64 ", \"incidents\": %" PRIu64
			", \"sample_rate\": %u, \"sampled_out\": %" PRIu64 ", \"svm\": %s"
			", \"classified_windows\": %" PRIu64
			", \"classify_ms_max\": %.3f, \"classify_ms_mean\": %.3f},\n",
			dt.windows, dt.anomalous_windows, dt.alerts, dt.incidents, s->sample_rate,
			t.worker.sampled_out, ctx->detect->model != NULL ? "true" : "false",
			ctx->detect->classified_windows,
			(double)ctx->detect->classify_ns_max / 1e6,
			ctx->detect->classified_windows != 0
				? (double)ctx->detect->classify_ns_total / 1e6 /
					  (double)ctx->detect->classified_windows
				: 0.0);
		if (ctx->detect->seqscan != NULL) {
			struct safem_seqscan_totals st;

			/* the scan test's bounds at work (docs/detection.md, "Sequential scan
			 * test (TRW)": Bounds) and its worst cost per window */
			safem_seqscan_totals(ctx->detect->seqscan, &st);
			scan_totals_put(f, "scan_test", &st, ctx->detect->scan_test_ns_max);
		}
		if (ctx->detect->victim != NULL) {
			struct safem_victim_totals vt;

			/* the victim test's bounds at work and its worst cost per window
			 * (docs/detection.md, "Destination-side sequential test (victims)") */
			safem_victim_totals(ctx->detect->victim, &vt);
			victim_totals_put(f, "victim_test", &vt, ctx->detect->victim_test_ns_max);
		}
		if (ctx->detect->brute != NULL) {
			struct safem_brute_totals bt;

			/* the guessing test's bounds at work (docs/detection.md, "Brute force
			 * at a few connections a window: sessions alike") */
			safem_brute_totals(ctx->detect->brute, &bt);
			brute_totals_put(f, "brute_test", &bt, ctx->detect->brute_test_ns_max);
		}
		if (ctx->detect->fanout != NULL) {
			struct safem_fanout_totals ft;

			/* the sampled fan-out test: sampled windows judged and its worst cost
			 * (docs/detection.md, "Sampled links: evidence over windows") */
			safem_fanout_totals(ctx->detect->fanout, &ft);
			fanout_totals_put(f, "fanout_test", &ft, ctx->detect->fanout_test_ns_max);
		}
	}
	if (ctx->ipfix_count != 0) {
		fprintf(f, "  \"ipfix\": [");
		for (i = 0; i < ctx->ipfix_count; i++) {
			const struct safem_ipfix_stats *st =
				safem_ipfix_exporter_stats(ctx->ipfix[i]);

			fprintf(f, "%s{\"collector\": \"%s\"", i ? ", " : "", ctx->ipfix_target[i]);
#define FIELD_(name) fprintf(f, ", \"" #name "\": %" PRIu64, st->name);
			SAFEM_IPFIX_COUNTERS(FIELD_)
#undef FIELD_
			fprintf(f, "}");
		}
		fprintf(f, "],\n");
	}
	if (ctx->lines != NULL)
		write_streams_json(f, ctx->lines);
	if (ctx->files != NULL)
		write_files_json(f, ctx->files);
	fprintf(f, "  \"workers\": [");
	for (i = 0; i < s->worker_count; i++) {
		const struct probe_worker *w = s->workers[i];
		const struct safem_flow_cache_stats *c = safem_flow_cache_stats(w->cache);

		fprintf(f, "%s\n    {\"lcore\": %u, \"rx_queues\": %u", i ? "," : "", w->lcore_id,
			w->queue_count);
#define FIELD_(name) fprintf(f, ", \"" #name "\": %" PRIu64, w->stats.name);
		PROBE_WORKER_COUNTERS(FIELD_)
#undef FIELD_
		fprintf(f, ", \"parsed_packets\": %" PRIu64,
			w->stats.parse_status[SAFEM_PARSE_OK]);
#define FIELD_(name) fprintf(f, ", \"flow_" #name "\": %" PRIu64, c->name);
		SAFEM_FLOW_CACHE_COUNTERS(FIELD_)
#undef FIELD_
		fprintf(f, ", \"max_poll_gap_us\": %.1f", probe_worker_max_poll_gap_us(w));
		fprintf(f, ", \"handoff_full_waits\": %" PRIu64 "}",
			safem_handoff_stats(s->handoff, i)->full_waits);
	}
	fprintf(f, "\n  ],\n  \"ports\": [");
	for (i = 0; i < ctx->ports->count; i++) {
		fprintf(f, "%s\n    ", i ? "," : "");
		write_port_json(f, &ctx->ports->ports[i]);
	}
	fprintf(f, "\n  ]\n}\n");
}

int
probe_stats_write_json(const struct probe_context *ctx, const char *path)
{
	struct safem_outfile *out = safem_outfile_open(path, "w");

	if (out == NULL)
		return -errno;
	write_json(safem_outfile_stream(out), ctx);
	return safem_outfile_close(out, true);
}

void
probe_stats_print_summary(const struct probe_context *ctx, FILE *out)
{
	struct probe_totals t;

	probe_totals_collect(ctx->shared, &t);
	fprintf(out,
		"safem-probe: %" PRIu64 " frames (%" PRIu64 " bytes) in %.3f s: %" PRIu64
		" parsed, %" PRIu64 " non-IP, %" PRIu64 " errors; %" PRIu64
		" flows created, %" PRIu64 " records exported (%" PRIu64 " evicted, %" PRIu64
		" dropped), %" PRIu64 " written\n",
		t.worker.rx_packets, t.worker.rx_bytes, t.elapsed_s, t.parsed_packets, t.non_ip,
		t.parse_errors, t.cache.flows_created, t.handoff.records_put, t.cache.evicted,
		t.handoff.records_dropped, ctx->output->records_written);
}

/*
 * What the telemetry callback reads, NULL once main is about to free it. The
 * lock makes "clear, then free" wait for a callback in flight; a callback
 * holds it only while it reads counters.
 */
static pthread_mutex_t telemetry_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct probe_context *telemetry_ctx;

/* DPDK 22.11 telemetry nests only arrays in a dict: per-item counters are
 * parallel arrays, "<group>_<counter>"[i] belonging to "<group>_names"[i]. */
static struct rte_tel_data *
telemetry_array(enum rte_tel_value_type type)
{
	struct rte_tel_data *a = rte_tel_data_alloc();

	if (a != NULL)
		rte_tel_data_start_array(a, type);
	return a;
}

static void
telemetry_add_array(struct rte_tel_data *d, const char *name, struct rte_tel_data *a)
{
	if (a != NULL && rte_tel_data_add_dict_container(d, name, a, 0) != 0)
		rte_tel_data_free(a);
}

/* Per port and RX queue (NIC counters): "rx_queue_names" are "pPORTqQUEUE". */
static void
telemetry_rx_queues(struct rte_tel_data *d, const struct probe_ports *ports)
{
	struct rte_tel_data *names = telemetry_array(RTE_TEL_STRING_VAL);
	struct rte_tel_data *packets = telemetry_array(RTE_TEL_U64_VAL);
	struct rte_tel_data *bytes = telemetry_array(RTE_TEL_U64_VAL);
	uint16_t i, q;

	for (i = 0; names != NULL && packets != NULL && bytes != NULL && i < ports->count; i++) {
		struct rte_eth_stats st;

		memset(&st, 0, sizeof(st));
		rte_eth_stats_get(ports->ports[i].port_id, &st);
		for (q = 0; q < ports->ports[i].rx_queues && q < RTE_ETHDEV_QUEUE_STAT_CNTRS; q++) {
			char name[RTE_TEL_MAX_STRING_LEN];

			snprintf(name, sizeof(name), "p%uq%u", ports->ports[i].port_id, q);
			rte_tel_data_add_array_string(names, name);
			rte_tel_data_add_array_u64(packets, st.q_ipackets[q]);
			rte_tel_data_add_array_u64(bytes, st.q_ibytes[q]);
		}
	}
	telemetry_add_array(d, "rx_queue_names", names);
	telemetry_add_array(d, "rx_queue_packets", packets);
	telemetry_add_array(d, "rx_queue_bytes", bytes);
}

/* The line files: file_names and one array per counter, in the same order. */
static void
telemetry_files(struct rte_tel_data *d, const struct probe_files *pf)
{
	struct rte_tel_data *names = telemetry_array(RTE_TEL_STRING_VAL);
	struct safem_streamfile_stats st[PROBE_FILE_COUNT];
	bool open[PROBE_FILE_COUNT];
	unsigned int i;

	for (i = 0; i < PROBE_FILE_COUNT; i++) {
		open[i] = probe_files_stats(pf, i, &st[i]);
		if (open[i] && names != NULL)
			rte_tel_data_add_array_string(names, probe_file_name(i));
	}
	telemetry_add_array(d, "file_names", names);
#define TEL_(name)                                                                                 \
	{                                                                                          \
		struct rte_tel_data *a = telemetry_array(RTE_TEL_U64_VAL);                         \
		for (i = 0; a != NULL && i < PROBE_FILE_COUNT; i++)                                \
			if (open[i])                                                               \
				rte_tel_data_add_array_u64(a, st[i].name);                         \
		telemetry_add_array(d, "file_" #name, a);                                          \
	}
	SAFEM_STREAMFILE_COUNTERS(TEL_)
#undef TEL_
}

/* IPFIX collectors, window timing and the JSON-line streams. */
static void
telemetry_outputs(struct rte_tel_data *d, const struct probe_context *ctx)
{
	struct rte_tel_data *names = telemetry_array(RTE_TEL_STRING_VAL);
	struct safem_linesink_stats st[PROBE_STREAM_COUNT];
	unsigned int i;

	for (i = 0; names != NULL && i < ctx->ipfix_count; i++)
		rte_tel_data_add_array_string(names, ctx->ipfix_target[i]);
	telemetry_add_array(d, "ipfix_names", names);
#define TEL_(name)                                                                                 \
	{                                                                                          \
		struct rte_tel_data *a = telemetry_array(RTE_TEL_U64_VAL);                         \
		for (i = 0; a != NULL && i < ctx->ipfix_count; i++)                                \
			rte_tel_data_add_array_u64(a, safem_ipfix_exporter_stats(ctx->ipfix[i])->name); \
		telemetry_add_array(d, "ipfix_" #name, a);                                         \
	}
	SAFEM_IPFIX_COUNTERS(TEL_)
#undef TEL_
	if (ctx->analysis != NULL) {
		struct probe_analysis_totals at;

		probe_analysis_read(ctx->analysis, &at);
		rte_tel_data_add_dict_u64(d, "windows_reported", at.windows.windows);
		rte_tel_data_add_dict_u64(d, "window_close_us_max", at.windows.close_ns_max / 1000);
		rte_tel_data_add_dict_u64(d, "window_merge_us_max", at.windows.merge_ns_max / 1000);
		rte_tel_data_add_dict_u64(d, "analysis_panes_queued", at.panes_queued);
		rte_tel_data_add_dict_u64(d, "analysis_panes_analysed", at.panes_analysed);
		rte_tel_data_add_dict_u64(d, "analysis_queue_high_water", at.queue_high_water);
		rte_tel_data_add_dict_u64(d, "analysis_queue_full", at.queue_full);
		rte_tel_data_add_dict_u64(d, "analysis_busy_us_total", at.busy_ns_total / 1000);
		rte_tel_data_add_dict_u64(d, "analysis_busy_us_max", at.busy_ns_max / 1000);
	}
	if (ctx->files != NULL)
		telemetry_files(d, ctx->files);
	if (ctx->lines == NULL)
		return;
	names = telemetry_array(RTE_TEL_STRING_VAL);
	for (i = 0; names != NULL && i < PROBE_STREAM_COUNT; i++)
		if (ctx->lines->streams[i] != NULL)
			rte_tel_data_add_array_string(names, probe_stream_name(i));
	telemetry_add_array(d, "stream_names", names);
	for (i = 0; i < PROBE_STREAM_COUNT; i++)
		if (ctx->lines->streams[i] != NULL)
			safem_linesink_stats_read(ctx->lines->streams[i], &st[i]);
#define TEL_(name)                                                                                 \
	{                                                                                          \
		struct rte_tel_data *a = telemetry_array(RTE_TEL_U64_VAL);                         \
		for (i = 0; a != NULL && i < PROBE_STREAM_COUNT; i++)                              \
			if (ctx->lines->streams[i] != NULL)                                        \
				rte_tel_data_add_array_u64(a, st[i].name);                         \
		telemetry_add_array(d, "stream_" #name, a);                                        \
	}
	SAFEM_LINESINK_COUNTERS(TEL_)
#undef TEL_
}

/* Per worker, in worker order: what its NIC RX rings had to absorb. */
static void
telemetry_workers(struct rte_tel_data *d, const struct probe_shared *s)
{
	struct rte_tel_data *gap = telemetry_array(RTE_TEL_U64_VAL);
	unsigned int i;

	for (i = 0; gap != NULL && i < s->worker_count; i++)
		rte_tel_data_add_array_u64(gap, (uint64_t)probe_worker_max_poll_gap_us(s->workers[i]));
	telemetry_add_array(d, "max_poll_gap_us", gap);
}

static void
telemetry_fill(struct rte_tel_data *d, const struct probe_context *ctx)
{
	struct probe_totals t;
	unsigned int k;

	probe_totals_collect(ctx->shared, &t);
	rte_tel_data_start_dict(d);
#define TEL_(name) rte_tel_data_add_dict_u64(d, #name, t.worker.name);
	PROBE_WORKER_COUNTERS(TEL_)
#undef TEL_
	rte_tel_data_add_dict_u64(d, "parsed_packets", t.parsed_packets);
	rte_tel_data_add_dict_u64(d, "non_ip", t.non_ip);
	rte_tel_data_add_dict_u64(d, "parse_errors_total", t.parse_errors);
	for (k = SAFEM_PARSE_NON_IP + 1; k < SAFEM_PARSE_STATUS_COUNT; k++) {
		char name[RTE_TEL_MAX_STRING_LEN];

		snprintf(name, sizeof(name), "parse_error_%s", safem_parse_status_name(k));
		rte_tel_data_add_dict_u64(d, name, t.worker.parse_status[k]);
	}
#define TEL_(name) rte_tel_data_add_dict_u64(d, "flow_" #name, t.cache.name);
	SAFEM_FLOW_CACHE_COUNTERS(TEL_)
#undef TEL_
	rte_tel_data_add_dict_u64(d, "flow_active", t.cache.active_flows);
#define TEL_(name) rte_tel_data_add_dict_u64(d, "handoff_" #name, t.handoff.name);
	SAFEM_HANDOFF_COUNTERS(TEL_)
#undef TEL_
	rte_tel_data_add_dict_u64(d, "records_written",
				  __atomic_load_n(&ctx->output->records_written, __ATOMIC_RELAXED));
	if (ctx->memory != NULL) {
		struct probe_memory m;

		probe_memory_collect(ctx->memory, &m);
		for (k = 0; k < SAFEM_MEM_USE_COUNT; k++) {
			char name[RTE_TEL_MAX_STRING_LEN];

			snprintf(name, sizeof(name), "memory_%s", safem_mem_use_name(k));
			rte_tel_data_add_dict_u64(d, name, m.use[k]);
		}
		rte_tel_data_add_dict_u64(d, "memory_other", m.other);
		rte_tel_data_add_dict_u64(d, "memory_process_start", m.process_start);
		rte_tel_data_add_dict_u64(d, "memory_total", m.total);
		rte_tel_data_add_dict_u64(d, "memory_rss", m.rss);
	}
	telemetry_rx_queues(d, ctx->ports);
	telemetry_outputs(d, ctx);
	telemetry_workers(d, ctx->shared);
}

static int
telemetry_stats(const char *cmd __rte_unused, const char *params __rte_unused,
		struct rte_tel_data *d)
{
	int ret = 0;

	pthread_mutex_lock(&telemetry_lock);
	if (telemetry_ctx != NULL)
		telemetry_fill(d, telemetry_ctx);
	else
		ret = -ENODEV; /* shutting down: telemetry answers null */
	pthread_mutex_unlock(&telemetry_lock);
	return ret;
}

void
probe_stats_unregister_telemetry(void)
{
	pthread_mutex_lock(&telemetry_lock);
	telemetry_ctx = NULL;
	pthread_mutex_unlock(&telemetry_lock);
}

int
probe_stats_register_telemetry(const struct probe_context *ctx)
{
	pthread_mutex_lock(&telemetry_lock);
	telemetry_ctx = ctx;
	pthread_mutex_unlock(&telemetry_lock);
	/* Per-port and per-queue NIC counters are already under /ethdev/stats. */
	return rte_telemetry_register_cmd(
		"/safem/stats", telemetry_stats,
		"safem-probe counters summed over workers, per RX queue, per IPFIX collector and "
		"per line stream. No parameters");
}
