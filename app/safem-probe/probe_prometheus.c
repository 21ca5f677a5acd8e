/* SPDX-License-Identifier: BSD-3-Clause */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rte_ethdev.h>

#include "probe_files.h"
#include "probe_prometheus.h"

/* Scrapers are one or two Prometheus servers and a curl now and then. */
#define PROM_CLIENTS_MAX 4
/* A GET with its headers; anything longer is not a scrape. */
#define PROM_REQUEST_MAX 4096
/* A client that neither sends its request nor reads the answer is dropped. */
#define PROM_CLIENT_TIMEOUT_NS (5ull * 1000000000ull)
#define PROM_LISTEN_BACKLOG 8

struct prom_client {
	int fd; /* -1: free slot */
	char request[PROM_REQUEST_MAX];
	size_t request_len;
	char *response; /* NULL until the request is complete */
	size_t response_len, response_sent;
	uint64_t deadline_ns;
};

struct probe_prometheus {
	int listen_fd;
	const struct probe_context *ctx;
	struct prom_client clients[PROM_CLIENTS_MAX];
};

static uint64_t
monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --prometheus-address as a socket address; false if it is not numeric. */
static bool
parse_address(const char *text, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		*len = sizeof(*v4);
		return true;
	}
	if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		*len = sizeof(*v6);
		return true;
	}
	return false;
}

int
probe_prometheus_check_options(const struct probe_config *cfg)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (cfg->prometheus_port != 0 && !parse_address(cfg->prometheus_address, 0, &ss, &len)) {
		fprintf(stderr,
			"safem-probe: --prometheus-address '%s': expected an IPv4 or IPv6 "
			"address\n",
			cfg->prometheus_address);
		return -EINVAL;
	}
	return 0;
}

struct probe_prometheus *
probe_prometheus_open(const struct probe_config *cfg, const struct probe_context *ctx, char *err,
		      size_t errlen)
{
	struct probe_prometheus *p = calloc(1, sizeof(*p));
	struct sockaddr_storage ss;
	const int one = 1;
	socklen_t len;
	unsigned int i;

	if (p == NULL) {
		snprintf(err, errlen, "--prometheus: out of memory");
		return NULL;
	}
	p->ctx = ctx;
	for (i = 0; i < PROM_CLIENTS_MAX; i++)
		p->clients[i].fd = -1;
	/* probe_prometheus_check_options() has accepted the address; checked
	 * again so that ss and len are never used unset. */
	if (!parse_address(cfg->prometheus_address, (uint16_t)cfg->prometheus_port, &ss, &len)) {
		snprintf(err, errlen, "--prometheus-address '%s': expected an IPv4 or IPv6 address",
			 cfg->prometheus_address);
		free(p);
		return NULL;
	}
	p->listen_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->listen_fd < 0 ||
	    setsockopt(p->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(p->listen_fd, (struct sockaddr *)&ss, len) != 0 ||
	    listen(p->listen_fd, PROM_LISTEN_BACKLOG) != 0) {
		snprintf(err, errlen, "--prometheus %llu: cannot listen on %s: %s",
			 (unsigned long long)cfg->prometheus_port, cfg->prometheus_address,
			 strerror(errno));
		if (p->listen_fd >= 0)
			close(p->listen_fd);
		free(p);
		return NULL;
	}
	return p;
}

static void
client_close(struct prom_client *c)
{
	close(c->fd);
	free(c->response);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void
client_respond(struct probe_prometheus *p, struct prom_client *c)
{
	static const char content_type[] = "text/plain; version=0.0.4; charset=utf-8";
	char *body = NULL;
	size_t body_len = 0;
	const char *status = "200 OK";
	FILE *f;

	if (strncmp(c->request, "GET ", 4) != 0) {
		status = "405 Method Not Allowed";
	} else if (strncmp(c->request + 4, "/metrics ", 9) != 0 &&
		   strncmp(c->request + 4, "/metrics? ", 9) != 0) {
		status = "404 Not Found";
	}
	f = open_memstream(&body, &body_len);
	if (f == NULL) {
		client_close(c);
		return;
	}
	if (strcmp(status, "200 OK") == 0)
		probe_prometheus_render(f, p->ctx);
	else
		fprintf(f, "%s: only GET /metrics is served\n", status);
	fclose(f);
	f = open_memstream(&c->response, &c->response_len);
	if (f == NULL) {
		free(body);
		client_close(c);
		return;
	}
	fprintf(f,
		"HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: "
		"close\r\n\r\n",
		status, content_type, body_len);
	fwrite(body, 1, body_len, f);
	fclose(f);
	free(body);
}

/* One step for one connection: read until the request is complete, then write. */
static void
client_step(struct probe_prometheus *p, struct prom_client *c, uint64_t now_ns)
{
	ssize_t n;

	if (now_ns > c->deadline_ns) {
		client_close(c);
		return;
	}
	if (c->response == NULL) {
		n = recv(c->fd, c->request + c->request_len,
			 sizeof(c->request) - 1 - c->request_len, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
			client_close(c);
			return;
		}
		if (n < 0)
			return;
		c->request_len += (size_t)n;
		c->request[c->request_len] = '\0';
		if (strstr(c->request, "\r\n\r\n") == NULL && strstr(c->request, "\n\n") == NULL) {
			if (c->request_len == sizeof(c->request) - 1)
				client_close(c);
			return;
		}
		client_respond(p, c);
		if (c->fd < 0)
			return;
	}
	n = send(c->fd, c->response + c->response_sent, c->response_len - c->response_sent,
		 MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
		client_close(c);
		return;
	}
	if (n > 0)
		c->response_sent += (size_t)n;
	if (c->response_sent == c->response_len)
		client_close(c);
}

void
probe_prometheus_poll(struct probe_prometheus *p)
{
	uint64_t now_ns = monotonic_ns();
	unsigned int i;

	for (i = 0; i < PROM_CLIENTS_MAX; i++) {
		struct prom_client *c = &p->clients[i];

		if (c->fd < 0) {
			c->fd = accept4(p->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (c->fd < 0)
				continue;
			c->deadline_ns = now_ns + PROM_CLIENT_TIMEOUT_NS;
		}
		client_step(p, c, now_ns);
	}
}

void
probe_prometheus_close(struct probe_prometheus *p)
{
	unsigned int i;

	if (p == NULL)
		return;
	for (i = 0; i < PROM_CLIENTS_MAX; i++)
		if (p->clients[i].fd >= 0)
			client_close(&p->clients[i]);
	close(p->listen_fd);
	free(p);
}

/* ---- rendering ------------------------------------------------------------ */

static void
head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, quote and newline escaped. */
static void
label_value(FILE *f, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

/* A metric with one unlabelled sample. */
static void
single(FILE *f, const char *name, const char *type, const char *help, uint64_t v)
{
	head(f, name, type, help);
	fprintf(f, "%s %" PRIu64 "\n", name, v);
}

/* One sample with one label: NAME{LABEL="VALUE"} V. */
static void
labelled(FILE *f, const char *name, const char *label, const char *value, uint64_t v)
{
	fprintf(f, "%s{%s=\"", name, label);
	label_value(f, value);
	fprintf(f, "\"} %" PRIu64 "\n", v);
}

static void
render_ports(FILE *f, const struct probe_ports *ports)
{
	struct rte_eth_stats st[RTE_MAX_ETHPORTS];
	uint16_t i, q;

	for (i = 0; i < ports->count && i < RTE_MAX_ETHPORTS; i++) {
		memset(&st[i], 0, sizeof(st[i]));
		rte_eth_stats_get(ports->ports[i].port_id, &st[i]);
	}
#define PORT_QUEUE_(metric, field, help)                                                           \
	head(f, "safem_port_" metric "_total", "counter", help);                                   \
	for (i = 0; i < ports->count && i < RTE_MAX_ETHPORTS; i++)                                 \
		for (q = 0; q < ports->ports[i].rx_queues && q < RTE_ETHDEV_QUEUE_STAT_CNTRS; q++) \
			fprintf(f,                                                                 \
				"safem_port_" metric "_total{port=\"%u\",queue=\"%u\"} %" PRIu64   \
				"\n",                                                              \
				ports->ports[i].port_id, q, st[i].field[q]);
	PORT_QUEUE_("rx_packets", q_ipackets, "Packets received per port and RX queue (NIC).")
	PORT_QUEUE_("rx_bytes", q_ibytes, "Bytes received per port and RX queue (NIC).")
#undef PORT_QUEUE_
#define PORT_(metric, field, help)                                                                 \
	head(f, "safem_port_" metric "_total", "counter", help);                                   \
	for (i = 0; i < ports->count && i < RTE_MAX_ETHPORTS; i++)                                 \
		fprintf(f, "safem_port_" metric "_total{port=\"%u\"} %" PRIu64 "\n",               \
			ports->ports[i].port_id, st[i].field);
	PORT_("rx_missed", imissed, "Packets the NIC dropped for lack of RX descriptors.")
	PORT_("rx_errors", ierrors, "Erroneous packets received (NIC).")
	PORT_("rx_nombuf", rx_nombuf, "RX mbuf allocation failures.")
#undef PORT_
}

static void
render_workers(FILE *f, const struct probe_shared *s)
{
	char index[RTE_MAX_LCORE][8];
	unsigned int i;

	for (i = 0; i < s->worker_count && i < RTE_MAX_LCORE; i++)
		snprintf(index[i], sizeof(index[i]), "%u", i);

#define WORKER_(name)                                                                              \
	head(f, "safem_worker_" #name "_total", "counter", "Worker counter " #name ".");           \
	for (i = 0; i < s->worker_count; i++)                                                      \
		labelled(f, "safem_worker_" #name "_total", "worker", index[i],                    \
			 s->workers[i]->stats.name);
	PROBE_WORKER_COUNTERS(WORKER_)
#undef WORKER_
	head(f, "safem_worker_max_poll_gap_seconds", "gauge",
	     "Longest time between two RX polls of the worker.");
	for (i = 0; i < s->worker_count; i++)
		fprintf(f, "safem_worker_max_poll_gap_seconds{worker=\"%s\"} %.9f\n", index[i],
			probe_worker_max_poll_gap_us(s->workers[i]) / 1e6);
}

static void
render_streams(FILE *f, const struct probe_line_outputs *o)
{
	struct safem_linesink_stats st[PROBE_STREAM_COUNT];
	unsigned int k;

	/* Window reports and alerts are written (and counted) by the analysis thread. */
	for (k = 0; k < PROBE_STREAM_COUNT; k++)
		if (o->streams[k] != NULL)
			safem_linesink_stats_read(o->streams[k], &st[k]);
#define STREAM_(name)                                                                              \
	head(f, "safem_stream_" #name "_total", "counter", "JSON-line stream counter " #name "."); \
	for (k = 0; k < PROBE_STREAM_COUNT; k++)                                                   \
		if (o->streams[k] != NULL)                                                         \
			labelled(f, "safem_stream_" #name "_total", "stream",                      \
				 probe_stream_name(k), st[k].name);
	SAFEM_LINESINK_COUNTERS(STREAM_)
#undef STREAM_
}

static void
render_files(FILE *f, const struct probe_files *pf)
{
	struct safem_streamfile_stats st[PROBE_FILE_COUNT];
	bool open[PROBE_FILE_COUNT];
	unsigned int k;

	/* Each file is counted by the thread that writes it (relaxed loads here). */
	for (k = 0; k < PROBE_FILE_COUNT; k++)
		open[k] = probe_files_stats(pf, k, &st[k]);
#define FILE_(name)                                                                                \
	head(f, "safem_file_" #name "_total", "counter", "Line file counter " #name ".");          \
	for (k = 0; k < PROBE_FILE_COUNT; k++)                                                     \
		if (open[k])                                                                       \
			labelled(f, "safem_file_" #name "_total", "output", probe_file_name(k),    \
				 st[k].name);
	SAFEM_STREAMFILE_COUNTERS(FILE_)
#undef FILE_
}

void
probe_prometheus_render(FILE *f, const struct probe_context *ctx)
{
	const struct probe_shared *s = ctx->shared;
	struct probe_totals t;
	unsigned int i, k;

	probe_totals_collect(s, &t);
	render_ports(f, ctx->ports);
	render_workers(f, s);
	single(f, "safem_rx_packets_total", "counter",
	       "Frames taken from the RX queues (all workers).", t.worker.rx_packets);
	single(f, "safem_rx_bytes_total", "counter", "Their frame bytes.", t.worker.rx_bytes);
	single(f, "safem_parsed_packets_total", "counter", "Frames parsed into flows.",
	       t.parsed_packets);
	single(f, "safem_non_ip_packets_total", "counter", "Well-formed frames that are not IP.",
	       t.non_ip);
	head(f, "safem_parse_errors_total", "counter", "Malformed or truncated frames by reason.");
	for (k = SAFEM_PARSE_NON_IP + 1; k < SAFEM_PARSE_STATUS_COUNT; k++)
		labelled(f, "safem_parse_errors_total", "reason", safem_parse_status_name(k),
			 t.worker.parse_status[k]);
#define FLOW_(name)                                                                                \
	single(f, "safem_flow_" #name "_total", "counter", "Flow cache counter " #name ".",        \
	       t.cache.name);
	SAFEM_FLOW_CACHE_COUNTERS(FLOW_)
#undef FLOW_
	single(f, "safem_flow_cache_active_flows", "gauge", "Flows in the caches now.",
	       t.cache.active_flows);
	single(f, "safem_flow_cache_slots", "gauge", "Flow cache slots over all workers.",
	       (uint64_t)safem_flow_cache_capacity(s->workers[0]->cache) * s->worker_count);
#define HANDOFF_(name)                                                                             \
	single(f, "safem_handoff_" #name "_total", "counter",                                      \
	       "Record hand-off counter " #name ".", t.handoff.name);
	SAFEM_HANDOFF_COUNTERS(HANDOFF_)
#undef HANDOFF_
	single(f, "safem_records_written_total", "counter", "Flow CSV rows written.",
	       __atomic_load_n(&ctx->output->records_written, __ATOMIC_RELAXED));
#define IPFIX_(name)                                                                               \
	head(f, "safem_ipfix_" #name "_total", "counter", "IPFIX exporter counter " #name ".");    \
	for (i = 0; i < ctx->ipfix_count; i++)                                                     \
		labelled(f, "safem_ipfix_" #name "_total", "collector", ctx->ipfix_target[i],      \
			 safem_ipfix_exporter_stats(ctx->ipfix[i])->name);
	if (ctx->ipfix_count != 0) {
		SAFEM_IPFIX_COUNTERS(IPFIX_)
	}
#undef IPFIX_
	if (ctx->analysis != NULL) {
		struct probe_analysis_totals at;

		/* Published by the analysis thread: one consistent snapshot. */
		probe_analysis_read(ctx->analysis, &at);
		head(f, "safem_windows_reported_total", "counter", "Window reports written.");
		fprintf(f, "safem_windows_reported_total %" PRIu64 "\n", at.windows.windows);
		head(f, "safem_window_close_seconds_max", "gauge",
		     "Slowest window close (merge, prune, entropies, report) so far.");
		fprintf(f, "safem_window_close_seconds_max %.9f\n",
			(double)at.windows.close_ns_max / 1e9);
		head(f, "safem_window_merge_seconds_max", "gauge", "Slowest window merge so far.");
		fprintf(f, "safem_window_merge_seconds_max %.9f\n",
			(double)at.windows.merge_ns_max / 1e9);
		single(f, "safem_analysis_panes_queued_total", "counter",
		       "Window panes queued for the analysis thread.", at.panes_queued);
		single(f, "safem_analysis_queue_full_total", "counter",
		       "Window panes the analysis queue refused.", at.queue_full);
		single(f, "safem_analysis_queue_high_water", "gauge",
		       "Most panes seen waiting for the analysis thread.", at.queue_high_water);
		head(f, "safem_analysis_busy_seconds_total", "counter",
		     "Wall time the analysis thread spent on panes and windows.");
		fprintf(f, "safem_analysis_busy_seconds_total %.9f\n",
			(double)at.busy_ns_total / 1e9);
	}
	if (ctx->lines != NULL)
		render_streams(f, ctx->lines);
	if (ctx->files != NULL)
		render_files(f, ctx->files);
}
