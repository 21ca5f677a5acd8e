/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * safem-probe: wires the libraries together. Options and EAL, ports, one
 * flow cache and hand-off channel per worker lcore, then the main lcore
 * drains the hand-off into the record outputs until the workers are done,
 * and passes the window panes to the analysis thread (probe_analysis.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf_dyn.h>

#include "safem_flowcsv.h"
#include "safem_ipfix.h"
#include "safem_streamfile.h"
#include "safem_mem.h"
#include "safem_outfile.h"
#include "safem_window.h"

#include "probe_analysis.h"
#include "probe_detect.h"
#include "probe_files.h"
#include "probe_options.h"
#include "probe_port.h"
#include "probe_prometheus.h"
#include "probe_sinks.h"
#include "probe_stats.h"
#include "probe_worker.h"

#define EXIT_USAGE 2
#define EXIT_RUNTIME 1

/* Main lcore pause between hand-off drains: it must not busy-poll, so that on
 * a 2-CPU box two workers get both CPUs. */
#define MAIN_IDLE_SLEEP_US 1000
/* Records in a half-full hand-off batch wait at most this long (live ports). */
#define HANDOFF_FLUSH_INTERVAL_MS 100
#define MAX_EAL_ARGS 128
/* Bounds of the workers' waits on other cores (probe_worker.c wait_expired):
 * replay gives up after 10 s without progress (a wedge: a loaded 2-CPU CI box
 * has been seen to starve a consumer for over a second), a live worker
 * waits for a dispatch ring far less than a 4096-descriptor RX ring lasts at
 * 14.88 Mpps (275 us), and after a stop a live probe waits no more than 2 s
 * for a consumer that makes no progress, so the process ends. A replay keeps
 * the 10 s bound after a stop: its outputs must be complete, and a disk that
 * throttles the writer for 2 s has been seen in CI. */
#define WAIT_STALL_MS 10000
#define LIVE_DISPATCH_WAIT_US 100
#define STOP_WAIT_MS 2000
/* Significant clusters reported per direction and dimension (largest first). */
#define PROFILE_MAX_CLUSTERS 64
/* Window panes per worker in flight to the analysis thread. */
#define WINDOW_PANE_BUFFERS 4
/* IPFIX collectors per probe, and how often a half-full message leaves. */
#define MAX_IPFIX_COLLECTORS 4
#define IPFIX_FLUSH_INTERVAL_MS 500
/* Replay: stop taking records while a paced queue has less room than this. */
#define IPFIX_BACKLOG_ROOM 0.25
/* At exit, queued IPFIX messages may take this long to leave (a full 8 MB
 * queue at the default 20 Mbit/s takes 3.4 s). */
#define IPFIX_DRAIN_MS 30000
/* How often the live clock's TSC rate is re-measured (probe_live_clock_calibrate). */
#define CLOCK_CALIBRATION_INTERVAL_MS 1000

/* Set from the signal handler; the main loop turns it into shared.stop. The
 * handlers go in before EAL starts, so a signal during start-up still ends
 * the run cleanly (outputs complete, exit 0) instead of killing it. */
static volatile sig_atomic_t stop_signalled;
/* SIGHUPs so far: each file's writer reopens its live file when this moves
 * (logrotate's create mode; probe_files.h). */
static volatile sig_atomic_t reopen_requests;

static void
on_signal(int signum __rte_unused)
{
	stop_signalled = 1;
}

static void
on_hangup(int signum __rte_unused)
{
	reopen_requests++;
}

struct output_sinks {
	struct probe_files files;      /* every line file: flows CSV, windows, alerts, features */
	struct safem_streamfile *flows; /* the flow CSV in files, or NULL */
	struct safem_ipfix_exporter *ipfix[MAX_IPFIX_COLLECTORS];
	char ipfix_target[MAX_IPFIX_COLLECTORS][SAFEM_OPT_STRING_MAX];
	bool ipfix_udp[MAX_IPFIX_COLLECTORS]; /* paced, so its queue always drains */
	unsigned int ipfix_count;
	struct safem_window_analysis *windows; /* used by the analysis thread only */
	struct probe_analysis *analysis;       /* the thread; NULL: windows off */
	struct probe_line_outputs lines; /* window reports, flow JSON lines: file/syslog/Kafka */
	struct probe_output_counters counters;
	bool analysis_abandoned; /* the analysis thread was stuck at exit and left running */
	int windows_error; /* first -errno of the window analysis (the thread's, after the join) */
};

static void
consume_records(unsigned int producer __rte_unused, const struct safem_flow_record *records,
		unsigned int count, void *mark, void *ctx)
{
	struct output_sinks *sinks = ctx;
	unsigned int i;

	if (mark != NULL) {
		/* A worker closed a window pane behind the records above. The
		 * analysis thread takes it: never waits, a refusal is counted. */
		int ret = probe_analysis_pane(sinks->analysis, mark);

		if (ret != 0 && sinks->windows_error == 0)
			sinks->windows_error = ret;
		return;
	}
	if (sinks->ipfix_count != 0) {
		uint32_t now_s = (uint32_t)time(NULL);
		unsigned int c;

		/* Drops (collector slow or away) are counted by the exporter. */
		for (c = 0; c < sinks->ipfix_count; c++)
			for (i = 0; i < count; i++)
				safem_ipfix_exporter_add(sinks->ipfix[c], &records[i], now_s);
	}
	probe_line_outputs_flow_records(&sinks->lines, records, count);
	if (sinks->flows == NULL)
		return;
	/* Buffered: whole lines reach the file at the next flush (probe_files_tick);
	 * write errors are the file's to count and retry. */
	for (i = 0; i < count; i++) {
		char row[SAFEM_FLOWCSV_ROW_MAX];

		safem_streamfile_append(sinks->flows, row,
					safem_flowcsv_format(&records[i], row, sizeof(row)));
	}
	__atomic_store_n(&sinks->counters.records_written,
			 sinks->counters.records_written + count, __ATOMIC_RELAXED);
}

static bool
eal_no_huge(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--no-huge") == 0)
			return true;
	return false;
}

/* Hugepages reserved, all sizes (sysfs); 0 when none or unreadable. */
static unsigned long
hugepages_reserved(void)
{
	static const char *const sizes[] = {"hugepages-2048kB", "hugepages-1048576kB"};
	unsigned long total = 0, n;
	char path[128];
	unsigned int i;

	for (i = 0; i < RTE_DIM(sizes); i++) {
		FILE *f;

		snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/%s/nr_hugepages", sizes[i]);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fscanf(f, "%lu", &n) == 1)
			total += n;
		fclose(f);
	}
	return total;
}

/* EAL argv: what precedes "--", or the profile's [eal] args when that is empty. */
static int
build_eal_argv(char **argv, int split, const struct probe_config *cfg, char **eal_argv,
	       char *storage)
{
	int n = 0, i;
	char *tok, *save = NULL;

	eal_argv[n++] = argv[0];
	if (split > 1 || cfg->eal_args[0] == '\0') {
		for (i = 1; i < split && n < MAX_EAL_ARGS - 1; i++)
			eal_argv[n++] = argv[i];
	} else {
		strcpy(storage, cfg->eal_args);
		for (tok = strtok_r(storage, " \t", &save); tok != NULL && n < MAX_EAL_ARGS - 1;
		     tok = strtok_r(NULL, " \t", &save))
			eal_argv[n++] = tok;
	}
	eal_argv[n] = NULL;
	return n;
}

/* A worker's software RSS ring and staging buffers: --stats memory.queues. */
static size_t
dispatch_bytes(const struct probe_shared *s, const struct probe_worker *w)
{
	return safem_mem_ring_bytes(w->input) +
	       (size_t)s->worker_count * PROBE_STAGING_SLOTS * sizeof(struct safem_packet) +
	       s->worker_count * sizeof(unsigned int) + s->worker_count * sizeof(uint64_t);
}

static int
setup_workers(const struct probe_config *cfg, struct probe_shared *s,
	      const struct probe_ports *ports, char *err, size_t errlen)
{
	unsigned int lcore, i = 0;
	uint16_t p;

	s->workers = calloc(s->worker_count, sizeof(*s->workers));
	if (s->workers == NULL)
		goto nomem;
	/*
	 * Software RSS keeps every flow on one worker when the hardware cannot:
	 * a port with fewer queues than workers, or without RSS (net_pcap), so
	 * a flow's packets may arrive on several queues.
	 */
	if (strcmp(cfg->software_rss, "on") == 0) {
		s->software_rss = s->worker_count > 1;
	} else if (strcmp(cfg->software_rss, "auto") == 0) {
		s->software_rss = false;
		for (p = 0; p < ports->count; p++)
			if (s->worker_count > 1 && (ports->ports[p].rx_queues < s->worker_count ||
						    !ports->ports[p].rss))
				s->software_rss = true;
	} else {
		s->software_rss = false;
	}

	RTE_LCORE_FOREACH_WORKER(lcore) {
		int socket = (int)rte_lcore_to_socket_id(lcore);
		struct probe_worker *w = rte_zmalloc_socket("worker", sizeof(*w),
							     RTE_CACHE_LINE_SIZE, socket);
		struct safem_flow_cache_params fp = {
			.name = "flow_cache",
			.capacity = (uint32_t)cfg->flow_cache_size,
			.inactive_timeout_ms = (uint32_t)cfg->inactive_timeout_ms,
			.active_timeout_ms = (uint32_t)cfg->active_timeout_ms,
			.socket_id = socket,
			.export_fn = probe_worker_export,
			.window_accounting = s->pane_ms != 0,
		};
		char name[RTE_RING_NAMESIZE];

		if (w == NULL)
			goto nomem;
		s->workers[i] = w;
		w->index = i;
		w->lcore_id = lcore;
		w->shared = s;
		fp.export_ctx = w;
		fp.window_fn = probe_worker_window_flow;
		fp.window_ctx = w;
		w->cache = safem_flow_cache_create(&fp);
		if (w->cache == NULL) {
			if (rte_errno == EINVAL) {
				snprintf(err, errlen, "flow cache: %s",
					 safem_flow_cache_params_error());
				return -EINVAL;
			}
			snprintf(err, errlen,
				 "worker %u: no memory for a flow cache of %llu flows "
				 "(--flow-cache-size; EAL -m or hugepages too small?)",
				 i, (unsigned long long)cfg->flow_cache_size);
			return -ENOMEM;
		}
		/* Worker i polls queues i, i + workers, ... of every port. */
		for (p = 0; p < ports->count; p++) {
			uint16_t q;

			for (q = (uint16_t)i; q < ports->ports[p].rx_queues;
			     q = (uint16_t)(q + s->worker_count)) {
				if (w->queue_count == PROBE_MAX_QUEUES_PER_WORKER) {
					snprintf(err, errlen,
						 "worker %u would poll more than %d RX queues: "
						 "add worker lcores",
						 i, PROBE_MAX_QUEUES_PER_WORKER);
					return -EINVAL;
				}
				w->queues[w->queue_count].port_id = ports->ports[p].port_id;
				w->queues[w->queue_count].queue_id = q;
				w->queue_count++;
			}
		}
		if (s->pane_ms != 0) {
			struct safem_window_producer_params wp = {
				.name = "window",
				.producer = i,
				.tree_nodes = (uint32_t)cfg->tree_nodes,
				.buffers = WINDOW_PANE_BUFFERS,
				.feature_values = (uint32_t)s->feature_values,
				.home = s->home,
				.flow_budget = (uint32_t)cfg->window_flow_budget,
				.profile_flows = (uint32_t)s->profile_flows,
				.socket_id = socket,
			};

			w->window = safem_window_producer_create(&wp);
			if (w->window == NULL)
				goto nomem;
			safem_pane_clock_init(&w->panes, s->pane_ms, cfg->time_gap_ms);
			w->sweep_lines = RTE_MAX(WINDOW_SWEEP_LINES_MIN,
						 safem_flow_cache_capacity(w->cache) /
							 SAFEM_FLOW_LINE_SLOTS / WINDOW_SWEEP_SLICES);
		}
		if (s->software_rss) {
			snprintf(name, sizeof(name), "dispatch%u", i);
			w->input = rte_ring_create_elem(name, sizeof(struct safem_packet),
							(unsigned int)cfg->dispatch_ring_size,
							socket, RING_F_SC_DEQ);
			w->staging = rte_zmalloc_socket("staging",
							 (size_t)s->worker_count *
								 PROBE_STAGING_SLOTS *
								 sizeof(struct safem_packet),
							 RTE_CACHE_LINE_SIZE, socket);
			w->staged = rte_zmalloc_socket(
				"staged", s->worker_count * sizeof(unsigned int), 0, socket);
			w->dispatch_stalled = rte_zmalloc_socket(
				"stalled", s->worker_count * sizeof(uint64_t), 0, socket);
			if (w->input == NULL || w->staging == NULL || w->staged == NULL ||
			    w->dispatch_stalled == NULL)
				goto nomem;
			safem_mem_account(SAFEM_MEM_queues, (int64_t)dispatch_bytes(s, w));
		}
		i++;
	}
	return 0;
nomem:
	snprintf(err, errlen, "out of memory setting up workers (EAL -m or hugepages too small?)");
	return -ENOMEM;
}

static void
free_workers(struct probe_shared *s)
{
	unsigned int i;

	for (i = 0; s->workers != NULL && i < s->worker_count; i++) {
		struct probe_worker *w = s->workers[i];

		if (w == NULL)
			continue;
		safem_flow_cache_free(w->cache);
		safem_window_producer_free(w->window);
		if (w->input != NULL && w->staging != NULL && w->staged != NULL &&
		    w->dispatch_stalled != NULL)
			safem_mem_account(SAFEM_MEM_queues, -(int64_t)dispatch_bytes(s, w));
		rte_ring_free(w->input);
		rte_free(w->staging);
		rte_free(w->staged);
		rte_free(w->dispatch_stalled);
		rte_free(w);
	}
	free(s->workers);
}

/* One exporter per --ipfix target ("HOST:PORT[,proto=udp|tcp]", space-separated). */
static int
open_ipfix(const struct probe_config *cfg, struct output_sinks *sinks, char *err, size_t errlen)
{
	char list[SAFEM_OPT_STRING_MAX], *tok, *save = NULL;

	snprintf(list, sizeof(list), "%s", cfg->ipfix);
	for (tok = strtok_r(list, " \t", &save); tok != NULL; tok = strtok_r(NULL, " \t", &save)) {
		struct safem_ipfix_params p;
		unsigned int c = sinks->ipfix_count;

		if (c == MAX_IPFIX_COLLECTORS) {
			snprintf(err, errlen, "--ipfix: at most %d collectors",
				 MAX_IPFIX_COLLECTORS);
			return -EINVAL;
		}
		memset(&p, 0, sizeof(p));
		if (safem_ipfix_parse_target(tok, &p) != 0) {
			snprintf(err, errlen, "--ipfix '%.200s': %s", tok, safem_ipfix_error());
			return -EINVAL;
		}
		p.observation_domain_id = (uint32_t)cfg->observation_domain;
		if (p.mtu == 0) /* a per-target ",mtu=N" wins over --ipfix-mtu */
			p.mtu = (uint32_t)cfg->ipfix_mtu;
		p.rate_bits_s = cfg->ipfix_rate != 0 ? cfg->ipfix_rate : SAFEM_IPFIX_RATE_UNLIMITED;
		p.queue_bytes = (uint32_t)cfg->ipfix_queue;
		sinks->ipfix_udp[c] = p.transport == SAFEM_IPFIX_UDP;
		sinks->ipfix[c] = safem_ipfix_exporter_create(&p);
		if (sinks->ipfix[c] == NULL) {
			snprintf(err, errlen, "--ipfix '%.200s': %s", tok, safem_ipfix_error());
			return -EINVAL;
		}
		snprintf(sinks->ipfix_target[c], sizeof(sinks->ipfix_target[c]), "%s", tok);
		sinks->ipfix_count++;
	}
	return 0;
}

/*
 * flush: also send the partly filled messages (every 100 ms to 1 s and at
 * exit); otherwise only what the pacing and the sockets allow now (every
 * loop). Neither waits.
 */
static void
send_ipfix(struct output_sinks *sinks, bool flush)
{
	uint32_t now_s = (uint32_t)time(NULL);
	unsigned int c;

	for (c = 0; c < sinks->ipfix_count; c++)
		if (flush)
			safem_ipfix_exporter_flush(sinks->ipfix[c], now_s);
		else
			safem_ipfix_exporter_pump(sinks->ipfix[c], now_s);
}

/*
 * Replay only: a UDP exporter's queue is filling faster than its rate
 * drains it, so the main lcore stops taking records until it has room
 * (the hand-off then holds the workers back: a replay loses nothing). A
 * live probe never waits: a full queue drops records, counted. TCP is left
 * out: a collector that is away would stall the replay.
 */
static bool
ipfix_backlogged(const struct output_sinks *sinks)
{
	unsigned int c;

	for (c = 0; c < sinks->ipfix_count; c++)
		if (sinks->ipfix_udp[c] &&
		    safem_ipfix_exporter_queue_room(sinks->ipfix[c]) < IPFIX_BACKLOG_ROOM)
			return true;
	return false;
}

/*
 * At exit: let the queued IPFIX messages leave at the paced rate. Bounded:
 * it gives up when nothing leaves for the stall bound, or after
 * IPFIX_DRAIN_MS (STOP_WAIT_MS once a live probe was stopped); what is left
 * is counted (records_unsent_at_exit). Serves /metrics meanwhile.
 */
static void
drain_ipfix(struct output_sinks *sinks, const struct probe_shared *shared,
	    struct probe_prometheus *prometheus)
{
	uint64_t hz = rte_get_tsc_hz(), start = rte_rdtsc(), last_progress = start;
	uint64_t limit_ms = !shared->packet_clock && (stop_signalled || shared->stop_tsc != 0)
				    ? STOP_WAIT_MS
				    : IPFIX_DRAIN_MS;
	uint64_t pending, last_pending = UINT64_MAX;
	unsigned int c;

	for (;;) {
		uint64_t now = rte_rdtsc();

		send_ipfix(sinks, false);
		for (pending = 0, c = 0; c < sinks->ipfix_count; c++)
			pending += safem_ipfix_exporter_pending(sinks->ipfix[c]);
		if (pending == 0)
			return;
		if (pending != last_pending) {
			last_pending = pending;
			last_progress = now;
		}
		if (now - start > limit_ms * hz / 1000 ||
		    now - last_progress > WAIT_STALL_MS * hz / 1000)
			break;
		if (prometheus != NULL)
			probe_prometheus_poll(prometheus);
		probe_line_outputs_poll(&sinks->lines); /* Kafka reports, paced syslog */
		rte_delay_us_sleep(MAIN_IDLE_SLEEP_US);
	}
	fprintf(stderr, "safem-probe: ipfix: %llu records not sent at exit (collector slow or away)\n",
		(unsigned long long)pending);
	for (c = 0; c < sinks->ipfix_count; c++)
		safem_ipfix_exporter_discard(sinks->ipfix[c]);
}

static bool
all_workers_finished(const struct probe_shared *s)
{
	unsigned int i;

	for (i = 0; i < s->worker_count; i++)
		if (__atomic_load_n(&s->workers[i]->finished, __ATOMIC_ACQUIRE) == 0)
			return false;
	return true;
}

static int
resolve_clock(const struct probe_config *cfg, const struct probe_ports *ports,
	      struct probe_shared *s, char *err, size_t errlen)
{
	bool all_replay = true;
	uint16_t p;

	for (p = 0; p < ports->count; p++)
		all_replay = all_replay && ports->ports[p].replays_file;
	if (strcmp(cfg->clock, "packet") == 0)
		s->packet_clock = true;
	else if (strcmp(cfg->clock, "tsc") == 0)
		s->packet_clock = false;
	else
		s->packet_clock = all_replay;
	if (!s->packet_clock)
		return 0;
	s->timestamp_offset = rte_mbuf_dynfield_lookup(RTE_MBUF_DYNFIELD_TIMESTAMP_NAME, NULL);
	int bit = rte_mbuf_dynflag_lookup(RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME, NULL);
	if (s->timestamp_offset < 0 || bit < 0) {
		snprintf(err, errlen,
			 "--clock packet: the ports give no RX timestamps (use --clock tsc)");
		return -EINVAL;
	}
	s->timestamp_flag = 1ull << bit;
	return 0;
}

/*
 * One worker per worker lcore. When a launch fails the run cannot go on: the
 * launched workers are told to stop, and the others are retired (their
 * shutdown flags published as if they had run out of input at once, the
 * analysis told they are done) so that nobody waits for them. Returns 0 or
 * the launch's -errno with err filled; the caller still drains until the
 * launched workers have finished.
 */
static int
launch_workers(struct probe_shared *s, struct probe_analysis *analysis, char *err, size_t errlen)
{
	unsigned int lcore, i = 0, k;
	int ret = 0;

	RTE_LCORE_FOREACH_WORKER(lcore) {
		ret = rte_eal_remote_launch(probe_worker_main, s->workers[i], lcore);
		if (ret != 0)
			break;
		i++;
	}
	if (ret == 0)
		return 0;
	snprintf(err, errlen, "cannot launch worker %u on lcore %u: %s", i, lcore,
		 strerror(-ret));
	s->stop_tsc = rte_rdtsc();
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELAXED);
	/* The flags probe_worker_main() publishes on its way out. */
	for (k = i; k < s->worker_count; k++) {
		struct probe_worker *w = s->workers[k];

		__atomic_store_n(&w->polling_done, 1, __ATOMIC_RELEASE);
		__atomic_store_n(&w->rx_done, 1, __ATOMIC_RELEASE);
		__atomic_store_n(&w->finished, 1, __ATOMIC_RELEASE);
		if (analysis != NULL)
			probe_analysis_producer_done(analysis, k);
	}
	return ret;
}

/*
 * End of run, after every pane is queued: the thread finishes the complete
 * windows. Meanwhile main keeps serving Kafka delivery reports and /metrics.
 * The wait lasts while the thread gets through panes, and gives up when it
 * makes no progress (WAIT_STALL_MS, or STOP_WAIT_MS once a live probe stops).
 */
static int
finish_analysis(struct output_sinks *sinks, unsigned int producers,
		struct probe_prometheus *prometheus, const struct probe_shared *shared)
{
	unsigned int i;
	struct probe_analysis_totals t;
	uint64_t hz = rte_get_tsc_hz(), last_tsc = rte_rdtsc(), last_panes = 0;

	for (i = 0; i < producers; i++)
		probe_analysis_producer_done(sinks->analysis, i);
	while (!probe_analysis_finished(sinks->analysis)) {
		uint64_t now = rte_rdtsc(), limit_ms;

		probe_line_outputs_poll(&sinks->lines);
		probe_files_tick(&sinks->files, PROBE_FILE_OWNER_MAIN);
		send_ipfix(sinks, false);
		if (prometheus != NULL)
			probe_prometheus_poll(prometheus);
		rte_delay_us_sleep(MAIN_IDLE_SLEEP_US);
		/* Bounded like every other wait: while the thread gets through
		 * panes, let it finish; if it is stuck (a report file on a hung
		 * mount, a FIFO nobody reads), give up, after a stop sooner. */
		probe_analysis_read(sinks->analysis, &t);
		if (t.panes_analysed != last_panes) {
			last_panes = t.panes_analysed;
			last_tsc = now;
		}
		limit_ms = !shared->packet_clock && (stop_signalled || shared->stop_tsc != 0)
				   ? STOP_WAIT_MS
				   : WAIT_STALL_MS;
		if (now - last_tsc > limit_ms * hz / 1000) {
			fprintf(stderr, "safem-probe: the analysis thread made no progress for %llu ms: "
					"window reports and alerts are left incomplete\n",
				(unsigned long long)limit_ms);
			sinks->analysis_abandoned = true;
			return -ETIMEDOUT;
		}
	}
	return probe_analysis_join(sinks->analysis);
}

int
main(int argc, char **argv)
{
	static struct probe_config cfg;
	static char eal_storage[SAFEM_OPT_STRING_MAX];
	static struct probe_detect detect; /* zero until probe_detect_open() */
	struct safem_profiler *profiler = NULL; /* behaviour profiling of the windows */
	bool detect_on = false;
	char *eal_argv[MAX_EAL_ARGS];
	char err[2048];
	/* static: an abandoned analysis thread may still read these (its tick
	 * hook, the clock) after main has written the counters and exited. */
	static struct probe_shared shared;
	struct probe_ports ports = {NULL, 0};
	static struct output_sinks sinks;
	struct probe_context ctx;
	struct probe_memory_marks memory = {0, 0, 0};
	struct probe_prometheus *prometheus = NULL;
	struct timespec wall, mono;
	bool check_only;
	int split, eal_argc, ret, launch_ret, status = EXIT_RUNTIME;
	uint64_t start_tsc, hz;

	/* Probe options first: a bad option must not wait for EAL to start. */
	for (split = 1; split < argc && strcmp(argv[split], "--") != 0; split++)
		;
	{
		char *app_argv[argc + 1];
		int app_argc = 0, i;

		app_argv[app_argc++] = argv[0];
		for (i = split + 1; i < argc; i++)
			app_argv[app_argc++] = argv[i];
		app_argv[app_argc] = NULL;
		/* "--help" alone (no "--") is also the probe's help. */
		if (split == argc && argc == 2 && strcmp(argv[1], "--help") == 0)
			app_argc = 2, app_argv[1] = argv[1];
		ret = probe_options_parse(&cfg, app_argc, app_argv, &check_only);
		if (ret == 1)
			return 0;
		if (ret < 0)
			return EXIT_USAGE;
	}
	if (check_only) {
		safem_config_print_ini(stdout, probe_options, &cfg);
		return 0;
	}

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_hangup);
	eal_argc = build_eal_argv(argv, split, &cfg, eal_argv, eal_storage);
	if (probe_ports_check_devargs(eal_argc, eal_argv, err, sizeof(err)) != 0) {
		fprintf(stderr, "safem-probe: %s\n", err);
		return EXIT_USAGE;
	}
	ret = rte_eal_init(eal_argc, eal_argv);
	if (ret < 0) {
		/* The first minute on a new box: say what to fix. Everything EAL
		 * refuses at start-up is set-up, not a run-time failure: exit 2. */
		fprintf(stderr, "safem-probe: EAL initialisation failed: %s\n",
			rte_strerror(rte_errno));
		if (!eal_no_huge(eal_argc, eal_argv) && hugepages_reserved() == 0)
			fprintf(stderr, "safem-probe: no hugepages reserved "
					"(/sys/kernel/mm/hugepages/*/nr_hugepages are 0): run "
					"scripts/setup-hugepages, or give EAL --no-huge for a test\n");
		return EXIT_USAGE;
	}

	/* Before the probe allocates anything: the base of the memory budget. */
	memory.rss_start = safem_mem_process_rss();
	memory.heap_start = safem_mem_heap_in_use();
	memset(&shared, 0, sizeof(shared));
	memset(&sinks, 0, sizeof(sinks));
	probe_files_init(&sinks.files, cfg.rotate_ms, cfg.rotate_bytes, &reopen_requests,
			 probe_clock_now_ms, &shared);
	shared.worker_count = rte_lcore_count() - 1;
	if (shared.worker_count == 0) {
		fprintf(stderr, "safem-probe: need a worker lcore besides the main one "
				"(e.g. -l 0-1, or --lcores='(0-2)@(0-1)' for two workers on 2 CPUs)\n");
		rte_eal_cleanup();
		return EXIT_USAGE;
	}
	shared.pane_ms = probe_options_windows_enabled(&cfg) ? cfg.slide_ms : 0;
	shared.feature_values = shared.pane_ms != 0 ? cfg.feature_values : 0;
	shared.profile_flows = shared.feature_values != 0 ? cfg.profile_flows : 0;
	shared.sample_rate = (uint32_t)cfg.sample_rate;
	shared.sample_random = strcmp(cfg.sample_mode, "random") == 0;
	ret = probe_ports_start(&cfg, shared.worker_count, &ports, err, sizeof(err));
	if (ret != 0)
		ret = -EINVAL; /* a port that does not start: set-up, exit 2 */
	if (ret == 0)
		ret = resolve_clock(&cfg, &ports, &shared, err, sizeof(err));
	/* Before the workers: their panes split flows by the home prefixes. */
	if (ret == 0 && shared.feature_values != 0) {
		ret = probe_detect_home(&detect, &cfg, err, sizeof(err));
		if (ret == 0) {
			detect_on = true;
			shared.home = &detect.home;
		}
	}
	if (ret == 0) {
		probe_options_size_flow_cache(&cfg, shared.worker_count, shared.pane_ms != 0);
		ret = setup_workers(&cfg, &shared, &ports, err, sizeof(err));
	}
	if (ret == 0) {
		struct safem_handoff_params hp = {
			.name = "handoff",
			.producers = shared.worker_count,
			.batches_per_producer = (unsigned int)cfg.handoff_batches,
			.socket_id = (int)rte_socket_id(),
			/* Replays must lose nothing; live ports must never stall. */
			.block_when_full = shared.packet_clock,
			/* Window marks never drop: a batch for every pane buffer. */
			.mark_reserve = shared.pane_ms != 0 ? WINDOW_PANE_BUFFERS : 0,
			.stall_us = WAIT_STALL_MS * 1000,
			.stop_wait_us = STOP_WAIT_MS * 1000,
			/* After a stop, a live probe exits within the stop bound; a
			 * replay stays complete (it only gives up on a wedge). */
			.stop = shared.packet_clock ? NULL : &shared.stop,
		};

		shared.handoff = safem_handoff_create(&hp);
		if (shared.handoff == NULL) {
			snprintf(err, sizeof(err), "no memory for the record hand-off");
			ret = -ENOMEM;
		}
	}
	if (ret == 0 && cfg.flows_path[0] != '\0') {
		ret = probe_files_open(&sinks.files, PROBE_FILE_FLOWS, cfg.flows_path,
				       SAFEM_FLOWCSV_HEADER, err, sizeof(err));
		sinks.flows = probe_files_get(&sinks.files, PROBE_FILE_FLOWS);
	}
	if (ret == 0 && cfg.ipfix[0] != '\0')
		ret = open_ipfix(&cfg, &sinks, err, sizeof(err));
	if (ret == 0)
		ret = probe_line_outputs_open(&sinks.lines, &cfg,
					      cfg.windows_syslog || cfg.alerts_syslog, err, sizeof(err));
	if (ret == 0 && cfg.flows_json_path[0] != '\0')
		ret = probe_files_open(&sinks.files, PROBE_FILE_FLOWS_JSON, cfg.flows_json_path, NULL,
				       err, sizeof(err));
	if (ret == 0 && (cfg.kafka_flows_topic[0] != '\0' || cfg.flows_json_path[0] != '\0'))
		ret = probe_line_outputs_open_stream(
			&sinks.lines, PROBE_STREAM_FLOWS,
			probe_files_get(&sinks.files, PROBE_FILE_FLOWS_JSON), false,
			cfg.kafka_flows_topic, err, sizeof(err));
	if (ret == 0 && shared.pane_ms != 0) {
		if (cfg.trees_dir[0] != '\0' && access(cfg.trees_dir, W_OK) != 0) {
			snprintf(err, sizeof(err), "--trees %.400s: not a writable directory: %s",
				 cfg.trees_dir, strerror(errno));
			ret = -EINVAL;
		} else if (cfg.windows_path[0] != '\0' &&
			   ((ret = probe_files_open(&sinks.files, PROBE_FILE_WINDOWS, cfg.windows_path,
						    NULL, err, sizeof(err))) != 0 ||
			    (ret = probe_line_outputs_open_stream(
				     &sinks.lines, PROBE_STREAM_WINDOWS,
				     probe_files_get(&sinks.files, PROBE_FILE_WINDOWS),
				     cfg.windows_syslog, cfg.kafka_windows_topic, err, sizeof(err))) != 0)) {
			/* err names the file */
		} else if (detect_on && probe_options_alerts_enabled(&cfg) &&
			   ((cfg.alerts_path[0] != '\0' &&
			     (ret = probe_files_open(&sinks.files, PROBE_FILE_ALERTS, cfg.alerts_path,
						     NULL, err, sizeof(err))) != 0) ||
			    (ret = probe_line_outputs_open_stream(
				     &sinks.lines, PROBE_STREAM_ALERTS,
				     probe_files_get(&sinks.files, PROBE_FILE_ALERTS),
				     cfg.alerts_syslog, cfg.kafka_alerts_topic, err, sizeof(err))) != 0)) {
			/* err names the file */
		} else if (detect_on && cfg.features_path[0] != '\0' &&
			   ((ret = probe_files_open(&sinks.files, PROBE_FILE_FEATURES,
						    cfg.features_path, NULL, err, sizeof(err))) != 0 ||
			    (ret = probe_line_outputs_open_stream(
				     &sinks.lines, PROBE_STREAM_FEATURES,
				     probe_files_get(&sinks.files, PROBE_FILE_FEATURES), false, NULL,
				     err, sizeof(err))) != 0)) {
			/* err names the file */
		} else if (detect_on &&
			   (ret = probe_detect_open(
				    &detect, &cfg,
				    probe_line_outputs_file(&sinks.lines, PROBE_STREAM_ALERTS), err,
				    sizeof(err))) != 0) {
			/* err names the option or profile */
		} else {
			bool seqscan_nomem = false, victim_nomem = false;
			struct safem_window_analysis_params ap = {
				.name = "windows",
				.producers = shared.worker_count,
				.window_ms = cfg.window_ms,
				.slide_ms = cfg.slide_ms,
				.alpha = probe_options_alpha(&cfg),
				.log_base = probe_options_log_base(&cfg),
				/* Room for every worker's tree without a fold on merge. */
				.tree_nodes = (uint32_t)RTE_MIN(cfg.tree_nodes * shared.worker_count,
								1ull << 26),
				.report = probe_line_outputs_file(&sinks.lines,
								  PROBE_STREAM_WINDOWS),
				.trees_dir = cfg.trees_dir[0] != '\0' ? cfg.trees_dir : NULL,
				/* The merge of every worker's pane: room for more values. */
				.feature_values = (uint32_t)RTE_MIN(shared.feature_values * 4,
								    1ull << 24),
				.directional = detect.home.count != 0,
				.home = &detect.home,
				.sample_rate = shared.sample_rate,
				.summary_fn = detect_on ? probe_detect_window : NULL,
				.summary_ctx = &detect,
				.socket_id = (int)rte_socket_id(),
			};

			ap.nq = probe_options_q(&cfg, ap.q, SAFEM_SPECTRUM_Q_MAX);
			if (shared.profile_flows != 0) {
				struct safem_profiler_params pp = {
					.max_clusters = PROFILE_MAX_CLUSTERS,
					.top_hosts = (unsigned int)cfg.top_hosts,
					.home = &detect.home,
				};

				profiler = safem_profiler_create(&pp);
				detect.profiler = cfg.behaviour_alerts ? profiler : NULL;
				/* every worker's log fits: results do not depend on the
				 * number of workers while no log overflows */
				ap.profiler = profiler;
				ap.profile_flows = (uint32_t)RTE_MIN(
					shared.profile_flows * shared.worker_count, 1ull << 26);
				if (profiler != NULL && cfg.scan_test && detect_on) {
					struct safem_seqscan_params sp = {
						.pane_flows = ap.profile_flows,
						.home = &detect.home,
					};

					struct safem_brute_params bp = {
						.pane_flows = ap.profile_flows,
					};

					struct safem_fanout_params fp = {
						.pane_flows = ap.profile_flows,
						.home = &detect.home,
					};

					detect.seqscan = safem_seqscan_create(&sp);
					/* the guessing test reads the same logs (--scan-test) */
					detect.brute = safem_brute_create(&bp);
					/* so does the sampled fan-out test (sampled windows) */
					detect.fanout = safem_fanout_create(&fp);
					seqscan_nomem = detect.seqscan == NULL || detect.brute == NULL ||
							detect.fanout == NULL;
				}
				if (profiler != NULL && cfg.victim_test && detect_on) {
					struct safem_victim_params vp = {
						.pane_flows = ap.profile_flows,
					};

					detect.victim = safem_victim_create(&vp);
					victim_nomem = detect.victim == NULL;
				}
			}

			sinks.windows = (shared.profile_flows != 0 && profiler == NULL)
						? NULL
						: safem_window_analysis_create(&ap);
			detect.windows = sinks.windows;
			if (sinks.windows == NULL) {
				snprintf(err, sizeof(err), "no memory for window analysis trees "
							   "(--tree-nodes)");
				ret = -ENOMEM;
			} else if (seqscan_nomem) {
				snprintf(err, sizeof(err), "no memory for the scan test (--scan-test "
							   "off, or a smaller --profile-flows)");
				ret = -ENOMEM;
			} else if (victim_nomem) {
				snprintf(err, sizeof(err), "no memory for the victim test "
							   "(--victim-test off, or a smaller "
							   "--profile-flows)");
				ret = -ENOMEM;
			}
		}
	}
	if (ret == 0 && detect_on)
		detect.features_out = probe_line_outputs_file(&sinks.lines, PROBE_STREAM_FEATURES);
	if (ret == 0 && sinks.windows != NULL) {
		sinks.analysis = probe_analysis_create(sinks.windows, shared.worker_count,
						       WINDOW_PANE_BUFFERS, err, sizeof(err));
		if (sinks.analysis == NULL)
			ret = -ENOMEM;
	}
	if (ret != 0) {
		fprintf(stderr, "safem-probe: %s\n", err);
		status = ret == -EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
		goto cleanup;
	}

	hz = rte_get_tsc_hz();
	shared.parse_flags = cfg.flow_key_vlan ? SAFEM_PARSE_KEY_VLAN : 0;
	shared.rx_burst = (unsigned int)cfg.rx_burst;
	shared.scan_lines = (unsigned int)cfg.expiry_scan_lines;
	shared.sweep_ms = cfg.expiry_sweep_ms;
	shared.eof_idle_tsc = cfg.eof_idle_ms * hz / 1000;
	shared.handoff_flush_tsc = HANDOFF_FLUSH_INTERVAL_MS * hz / 1000;
	shared.stall_tsc = WAIT_STALL_MS * hz / 1000;
	shared.live_wait_tsc = LIVE_DISPATCH_WAIT_US * hz / 1000000;
	shared.stop_wait_tsc = STOP_WAIT_MS * hz / 1000;
	shared.ring_time_tsc = 275 * hz / 1000000;
	clock_gettime(CLOCK_REALTIME, &wall);
	shared.tsc_base = rte_rdtsc();
	clock_gettime(CLOCK_MONOTONIC, &mono);
	shared.unix_ns_base = (uint64_t)wall.tv_sec * 1000000000ull + (uint64_t)wall.tv_nsec;
	shared.mono_ns_base = (uint64_t)mono.tv_sec * 1000000000ull + (uint64_t)mono.tv_nsec;
	shared.ns_per_tsc = 1e9 / (double)hz;
	shared.unix_ns_per_tsc = shared.ns_per_tsc; /* until the first calibration */

	/* The analysis thread flushes, rotates and reopens the files it writes. */
	if (sinks.analysis != NULL)
		probe_analysis_set_tick(sinks.analysis, probe_files_tick_analysis, &sinks.files);
	/* Before telemetry and /metrics: once they answer, the workers start at once. */
	if (sinks.analysis != NULL && probe_analysis_start(sinks.analysis, err, sizeof(err)) != 0) {
		fprintf(stderr, "safem-probe: %s\n", err);
		status = EXIT_RUNTIME;
		goto cleanup;
	}
	memory.heap_setup = safem_mem_heap_in_use();
	ctx.memory = &memory;
	ctx.shared = &shared;
	ctx.ports = &ports;
	ctx.output = &sinks.counters;
	ctx.analysis = sinks.analysis;
	ctx.detect = detect_on ? &detect : NULL;
	ctx.ipfix = sinks.ipfix;
	ctx.ipfix_target = (const char(*)[SAFEM_OPT_STRING_MAX])sinks.ipfix_target;
	ctx.ipfix_count = sinks.ipfix_count;
	ctx.lines = &sinks.lines;
	ctx.files = &sinks.files;
	ctx.clock_name = shared.packet_clock ? "packet" : "tsc";
	probe_stats_register_telemetry(&ctx);
	if (cfg.prometheus_port != 0 &&
	    (prometheus = probe_prometheus_open(&cfg, &ctx, err, sizeof(err))) == NULL) {
		fprintf(stderr, "safem-probe: %s\n", err);
		status = EXIT_USAGE;
		goto cleanup;
	}


	printf("safem-probe: %u worker(s), %u port(s), %s clock, %s\n", shared.worker_count,
	       ports.count, ctx.clock_name,
	       shared.software_rss ? "software RSS dispatch" : "one RX queue per worker");
	fflush(stdout);

	/* Everything is set up: the files replace (or rotate away) what an earlier run left. */
	probe_files_start(&sinks.files);
	launch_ret = launch_workers(&shared, sinks.analysis, err, sizeof(err));
	if (launch_ret != 0)
		fprintf(stderr, "safem-probe: %s; stopping\n", err);
	start_tsc = rte_rdtsc();
	uint64_t last_ipfix_flush_tsc = start_tsc, last_calibration_tsc = start_tsc;
	while (!all_workers_finished(&shared)) {
		if (!shared.packet_clock &&
		    rte_rdtsc() - last_calibration_tsc > CLOCK_CALIBRATION_INTERVAL_MS * hz / 1000) {
			probe_live_clock_calibrate(&shared);
			last_calibration_tsc = rte_rdtsc();
		}
		/* A quiet link must not hold records in a half-full IPFIX message. */
		if (sinks.ipfix_count != 0 &&
		    rte_rdtsc() - last_ipfix_flush_tsc > IPFIX_FLUSH_INTERVAL_MS * hz / 1000) {
			send_ipfix(&sinks, true);
			last_ipfix_flush_tsc = rte_rdtsc();
		}
		if (shared.stop_tsc == 0 &&
		    (stop_signalled || (cfg.duration_ms != 0 &&
					rte_rdtsc() - start_tsc >= cfg.duration_ms * hz / 1000))) {
			shared.stop_tsc = rte_rdtsc();
			__atomic_store_n(&shared.stop, 1, __ATOMIC_RELAXED);
		}
		probe_line_outputs_poll(&sinks.lines);
		probe_files_tick(&sinks.files, PROBE_FILE_OWNER_MAIN);
		if (prometheus != NULL)
			probe_prometheus_poll(prometheus);
		send_ipfix(&sinks, false);
		if (shared.packet_clock && ipfix_backlogged(&sinks) && !stop_signalled) {
			rte_delay_us_sleep(MAIN_IDLE_SLEEP_US);
			continue;
		}
		if (safem_handoff_consume(shared.handoff, 16, consume_records, &sinks) == 0)
			rte_delay_us_sleep(MAIN_IDLE_SLEEP_US);
	}
	rte_eal_mp_wait_lcore();
	for (;;) {
		/* The same back-pressure as above: the queue drains at its rate;
		 * the same upkeep too (files, Kafka reports, syslog, /metrics). */
		probe_line_outputs_poll(&sinks.lines);
		probe_files_tick(&sinks.files, PROBE_FILE_OWNER_MAIN);
		if (prometheus != NULL)
			probe_prometheus_poll(prometheus);
		send_ipfix(&sinks, false);
		if (shared.packet_clock && ipfix_backlogged(&sinks) && !stop_signalled) {
			rte_delay_us_sleep(MAIN_IDLE_SLEEP_US);
			continue;
		}
		if (safem_handoff_consume(shared.handoff, 64, consume_records, &sinks) == 0)
			break;
	}
	if (launch_ret != 0) {
		/* Incomplete input: the files keep the whole lines written so far. */
		status = EXIT_RUNTIME;
		goto cleanup;
	}
	if (sinks.analysis != NULL) {
		ret = finish_analysis(&sinks, shared.worker_count, prometheus, &shared);
		if (ret != 0 && sinks.windows_error == 0)
			sinks.windows_error = ret;
		if (sinks.analysis_abandoned) {
			/* The thread may still be inside the streams and detection:
			 * close the flow files, write the counters, touch nothing it uses,
			 * and leave its memory to the exit. */
			status = EXIT_RUNTIME;
			send_ipfix(&sinks, true);
			drain_ipfix(&sinks, &shared, prometheus);
			probe_files_close(&sinks.files, PROBE_FILE_FLOWS);
			probe_files_close(&sinks.files, PROBE_FILE_FLOWS_JSON);
			/* Queued syslog lines: sent or counted before the counters. */
			probe_line_outputs_drain_syslog(&sinks.lines, STOP_WAIT_MS);
			ctx.detect = NULL;
			if (cfg.stats_path[0] != '\0')
				probe_stats_write_json(&ctx, cfg.stats_path);
			probe_stats_unregister_telemetry();
			/* No exit handlers: stdio's exit-time flush would race the
			 * thread still writing its streams. */
			fflush(stdout);
			fflush(stderr);
			_exit(status);
		}
	}

	send_ipfix(&sinks, true);
	drain_ipfix(&sinks, &shared, prometheus);

	status = EXIT_SUCCESS;
	/* Incident end records go to the alerts stream, which closes after. */
	if (detect_on && probe_detect_close(&detect, sinks.windows_error == 0) != 0)
		status = EXIT_RUNTIME;
	if (sinks.windows_error != 0) {
		fprintf(stderr, "safem-probe: window analysis failed: %s\n",
			strerror(-sinks.windows_error));
		status = EXIT_RUNTIME;
	}
	/* Each stream's last line goes to its file, then the files close: the
	 * live files keep their names; a write error already cost lines. */
	for (unsigned int k = 0; k < PROBE_STREAM_COUNT; k++)
		probe_line_outputs_close(&sinks.lines, k);
	for (unsigned int k = 0; k < PROBE_FILE_COUNT; k++)
		if (probe_files_close(&sinks.files, k) != 0)
			status = EXIT_RUNTIME;
	/* Bounded: a broker that is away costs at most --kafka-flush-timeout here. */
	probe_line_outputs_finish(&sinks.lines, (unsigned int)cfg.kafka_flush_timeout_ms,
				  PROBE_SYSLOG_DRAIN_MS);
	if (sinks.lines.kafka_undelivered != 0)
		fprintf(stderr, "safem-probe: kafka: %llu messages not delivered at exit\n",
			(unsigned long long)sinks.lines.kafka_undelivered);
	if (sinks.lines.syslog_undelivered != 0)
		fprintf(stderr, "safem-probe: syslog: %llu paced messages not sent at exit\n",
			(unsigned long long)sinks.lines.syslog_undelivered);
	if (cfg.stats_path[0] != '\0') {
		ret = probe_stats_write_json(&ctx, cfg.stats_path);
		if (ret != 0) {
			fprintf(stderr, "safem-probe: --stats %s: %s\n", cfg.stats_path,
				strerror(-ret));
			status = EXIT_RUNTIME;
		}
	}
	probe_stats_print_summary(&ctx, stdout);
	if (cfg.flows_path[0] != '\0' && status == EXIT_SUCCESS)
		printf("safem-probe: flows in %s\n", cfg.flows_path);
	if (cfg.stats_path[0] != '\0' && status == EXIT_SUCCESS)
		printf("safem-probe: counters in %s\n", cfg.stats_path);
	if (cfg.windows_path[0] != '\0' && status == EXIT_SUCCESS)
		printf("safem-probe: window reports in %s\n", cfg.windows_path);
	if (cfg.alerts_path[0] != '\0' && status == EXIT_SUCCESS)
		printf("safem-probe: alerts in %s\n", cfg.alerts_path);
	if (cfg.train_baseline_path[0] != '\0' && status == EXIT_SUCCESS)
		printf("safem-probe: baseline profile in %s (%llu windows)\n",
		       cfg.train_baseline_path, (unsigned long long)detect.trained_windows);

cleanup:
	/* Telemetry reads what is freed below; it waits for a callback in flight. */
	probe_stats_unregister_telemetry();
	/* Stops the thread if an error path left it running: it uses detection and the streams. */
	probe_analysis_free(sinks.analysis);
	probe_prometheus_close(prometheus);
	probe_line_outputs_finish(&sinks.lines, 0, 0);
	probe_line_outputs_free(&sinks.lines);
	probe_files_free(&sinks.files);
	safem_window_analysis_free(sinks.windows);
	safem_profiler_free(profiler);
	probe_detect_free(&detect);
	for (unsigned int c = 0; c < sinks.ipfix_count; c++)
		safem_ipfix_exporter_free(sinks.ipfix[c]);
	safem_handoff_free(shared.handoff);
	free_workers(&shared);
	probe_ports_stop(&ports);
	rte_eal_cleanup();
	return status;
}
