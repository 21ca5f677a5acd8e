/* SPDX-License-Identifier: BSD-3-Clause */
/* Wires lib/linesink to the probe's options; see probe_sinks.h. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <rte_common.h>

#include "safem_flowcsv.h"

#include "probe_sinks.h"

/* Most --kafka-property settings. */
#define KAFKA_PROPERTIES_MAX 32
/* syslog severities (RFC 5424): reports are informational. */
#define SYSLOG_SEVERITY_INFO 6

static const char *const stream_names[PROBE_STREAM_COUNT] = {"windows", "alerts", "flows",
								   "features"};

const char *
probe_stream_name(enum probe_stream which)
{
	return stream_names[which];
}

int
probe_sinks_check_options(const struct probe_config *cfg)
{
	static const struct {
		const char *option;
		size_t offset;
		bool is_topic; /* names a stream to send, as opposed to a setting */
	} kafka_options[] = {
		{"--kafka-windows-topic", offsetof(struct probe_config, kafka_windows_topic), true},
		{"--kafka-alerts-topic", offsetof(struct probe_config, kafka_alerts_topic), true},
		{"--kafka-flows-topic", offsetof(struct probe_config, kafka_flows_topic), true},
		{"--kafka-property", offsetof(struct probe_config, kafka_properties), false},
	};
	bool any_topic = false;
	unsigned int i;

	for (i = 0; i < sizeof(kafka_options) / sizeof(kafka_options[0]); i++) {
		const char *v = (const char *)cfg + kafka_options[i].offset;

		if (v[0] == '\0')
			continue;
		if (!safem_linesink_kafka_available()) {
			fprintf(stderr, "safem-probe: %s: built without librdkafka\n",
				kafka_options[i].option);
			return -EINVAL;
		}
		if (cfg->kafka_brokers[0] == '\0') {
			fprintf(stderr, "safem-probe: %s needs --kafka-brokers\n",
				kafka_options[i].option);
			return -EINVAL;
		}
		any_topic = any_topic || kafka_options[i].is_topic;
	}
	if (cfg->kafka_brokers[0] != '\0' && !safem_linesink_kafka_available()) {
		fprintf(stderr, "safem-probe: --kafka-brokers: built without librdkafka\n");
		return -EINVAL;
	}
	if (cfg->kafka_brokers[0] != '\0' && !any_topic) {
		fprintf(stderr,
			"safem-probe: --kafka-brokers: no stream to send (give "
			"--kafka-windows-topic, --kafka-alerts-topic or --kafka-flows-topic)\n");
		return -EINVAL;
	}
	if (cfg->windows_path[0] == '\0' &&
	    (cfg->windows_syslog || cfg->kafka_windows_topic[0] != '\0')) {
		fprintf(stderr, "safem-probe: %s needs --windows\n",
			cfg->windows_syslog ? "--windows-syslog" : "--kafka-windows-topic");
		return -EINVAL;
	}
	if (safem_linesink_syslog_facility(cfg->syslog_facility) < 0) {
		fprintf(stderr, "safem-probe: --syslog-facility '%s': unknown\n",
			cfg->syslog_facility);
		return -EINVAL;
	}
	return 0;
}

static int
open_kafka(struct probe_line_outputs *o, const struct probe_config *cfg, char *err, size_t errlen)
{
	char props[SAFEM_OPT_STRING_MAX], *tok, *save = NULL;
	const char *list[KAFKA_PROPERTIES_MAX];
	struct safem_linesink_kafka_params kp = {
		.brokers = cfg->kafka_brokers,
		.properties = list,
		.queue_messages = (unsigned int)cfg->kafka_queue_messages,
	};
	char why[512];

	snprintf(props, sizeof(props), "%s", cfg->kafka_properties);
	for (tok = strtok_r(props, " \t", &save); tok != NULL; tok = strtok_r(NULL, " \t", &save)) {
		if (kp.property_count == KAFKA_PROPERTIES_MAX) {
			snprintf(err, errlen, "--kafka-property: at most %d settings",
				 KAFKA_PROPERTIES_MAX);
			return -EINVAL;
		}
		list[kp.property_count++] = tok;
	}
	o->kafka = safem_linesink_kafka_create(&kp, why, sizeof(why));
	if (o->kafka == NULL) {
		snprintf(err, errlen, "--kafka-brokers/--kafka-property: %s", why);
		return -EINVAL;
	}
	return 0;
}

int
probe_line_outputs_open(struct probe_line_outputs *o, const struct probe_config *cfg,
			bool to_syslog_any, char *err, size_t errlen)
{
	memset(o, 0, sizeof(*o));
	if (to_syslog_any) {
		struct safem_linesink_syslog_params sp = {
			.target = cfg->syslog_target,
			.facility = safem_linesink_syslog_facility(cfg->syslog_facility),
			.ident = cfg->syslog_ident,
			/* 1-7 bits/s is a (tiny) rate, not "unpaced". */
			.rate_bytes_s = cfg->syslog_rate == 0 ? 0 : RTE_MAX(cfg->syslog_rate / 8, 1ull),
		};
		char why[512];

		o->syslog = safem_linesink_syslog_open(&sp, why, sizeof(why));
		if (o->syslog == NULL) {
			snprintf(err, errlen, "--syslog %s", why);
			return -EINVAL;
		}
	}
	if (cfg->kafka_brokers[0] != '\0')
		return open_kafka(o, cfg, err, errlen);
	return 0;
}

int
probe_line_outputs_open_stream(struct probe_line_outputs *o, enum probe_stream which,
			       struct safem_streamfile *file, bool to_syslog, const char *kafka_topic,
			       char *err, size_t errlen)
{
	bool to_kafka = kafka_topic != NULL && kafka_topic[0] != '\0';
	struct safem_linesink_params p = {
		.name = stream_names[which],
		.file = file,
		.syslog = to_syslog ? o->syslog : NULL,
		.syslog_severity = SYSLOG_SEVERITY_INFO,
		.kafka = to_kafka ? o->kafka : NULL,
		.kafka_topic = kafka_topic,
	};

	o->streams[which] = safem_linesink_open(&p);
	if (o->streams[which] == NULL) {
		snprintf(err, errlen, "%s stream: %s", stream_names[which], strerror(errno));
		return errno == ENOMEM ? -ENOMEM : -EINVAL;
	}
	return 0;
}

FILE *
probe_line_outputs_file(struct probe_line_outputs *o, enum probe_stream which)
{
	return o->streams[which] != NULL ? safem_linesink_stream(o->streams[which]) : NULL;
}

void
probe_line_outputs_flow_records(struct probe_line_outputs *o,
				const struct safem_flow_record *records, unsigned int count)
{
	struct safem_linesink *s = o->streams[PROBE_STREAM_FLOWS];
	char line[SAFEM_FLOWCSV_JSON_MAX];
	unsigned int i;

	if (s == NULL)
		return;
	for (i = 0; i < count; i++)
		safem_linesink_write_line(
			s, line, safem_flowcsv_format_json(&records[i], line, sizeof(line)));
}

void
probe_line_outputs_poll(struct probe_line_outputs *o)
{
	if (o->kafka != NULL)
		safem_linesink_kafka_poll(o->kafka);
	safem_linesink_syslog_pump(o->syslog);
}

void
probe_line_outputs_close(struct probe_line_outputs *o, enum probe_stream which)
{
	if (o->streams[which] != NULL)
		safem_linesink_close(o->streams[which]);
}

void
probe_line_outputs_finish(struct probe_line_outputs *o, unsigned int timeout_ms,
			  unsigned int syslog_drain_ms)
{
	unsigned int i;

	for (i = 0; i < PROBE_STREAM_COUNT; i++)
		if (o->streams[i] != NULL)
			safem_linesink_close(o->streams[i]);
	/* Paced syslog datagrams leave at their rate, for at most syslog_drain_ms. */
	probe_line_outputs_drain_syslog(o, syslog_drain_ms);
	if (o->kafka != NULL)
		o->kafka_undelivered = safem_linesink_kafka_flush(o->kafka, timeout_ms);
}

void
probe_line_outputs_drain_syslog(struct probe_line_outputs *o, unsigned int timeout_ms)
{
	o->syslog_undelivered += safem_linesink_syslog_drain(o->syslog, timeout_ms);
}

void
probe_line_outputs_free(struct probe_line_outputs *o)
{
	unsigned int i;

	/* Queued datagrams count into the streams' stats: settle them first. */
	safem_linesink_syslog_drain(o->syslog, 0);
	for (i = 0; i < PROBE_STREAM_COUNT; i++) {
		safem_linesink_free(o->streams[i]);
		o->streams[i] = NULL;
	}
	safem_linesink_kafka_free(o->kafka);
	safem_linesink_syslog_close(o->syslog);
	o->kafka = NULL;
	o->syslog = NULL;
}
