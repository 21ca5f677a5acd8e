/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One librdkafka producer shared by every stream; each message carries a
 * pointer to its stream's counters, so delivery reports are counted there.
 * Reports are served by rd_kafka_poll() on the calling (main) thread only.
 * Streams may produce from other threads (the probe's analysis thread writes
 * window reports and alerts): rd_kafka_producev() is thread-safe, and the
 * report counters (kafka_delivered/failed/undelivered) are written only here,
 * on the polling thread, while the producing thread writes the others.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "safem_linesink.h"

#include "linesink_private.h"

struct safem_linesink_kafka {
	rd_kafka_t *rk;
};

bool
safem_linesink_kafka_available(void)
{
	return true;
}

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct safem_linesink_stats *st = m->_private;

	(void)rk;
	(void)opaque;
	if (st == NULL)
		return;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
		linesink_count(&st->kafka_delivered, 1);
	else if (m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
		 m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
		linesink_count(&st->kafka_undelivered, 1);
	else
		linesink_count(&st->kafka_failed, 1);
}

static int
set_property(rd_kafka_conf_t *conf, const char *key, const char *value, char *err, size_t errlen)
{
	char why[256];

	if (rd_kafka_conf_set(conf, key, value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
		snprintf(err, errlen, "property '%s=%s': %s", key, value, why);
		return -EINVAL;
	}
	return 0;
}

struct safem_linesink_kafka *
safem_linesink_kafka_create(const struct safem_linesink_kafka_params *p, char *err, size_t errlen)
{
	struct safem_linesink_kafka *k = calloc(1, sizeof(*k));
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char queue[24], why[512];
	unsigned int i;
	int ret = 0;

	if (k == NULL || conf == NULL) {
		snprintf(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto fail;
	}
	snprintf(queue, sizeof(queue), "%u", p->queue_messages);
	ret = set_property(conf, "bootstrap.servers", p->brokers, err, errlen);
	if (ret == 0 && p->queue_messages != 0)
		ret = set_property(conf, "queue.buffering.max.messages", queue, err, errlen);
	for (i = 0; ret == 0 && i < p->property_count; i++) {
		char kv[512], *eq;

		snprintf(kv, sizeof(kv), "%s", p->properties[i]);
		eq = strchr(kv, '=');
		if (eq == NULL || eq == kv) {
			snprintf(err, errlen, "property '%s': expected key=value", kv);
			ret = -EINVAL;
			break;
		}
		*eq = '\0';
		ret = set_property(conf, kv, eq + 1, err, errlen);
	}
	if (ret != 0)
		goto fail;
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
	if (k->rk == NULL) {
		snprintf(err, errlen, "%s", why);
		ret = -EINVAL;
		goto fail;
	}
	return k; /* rd_kafka_new took conf */
fail:
	if (conf != NULL)
		rd_kafka_conf_destroy(conf);
	free(k);
	errno = -ret;
	return NULL;
}

int
linesink_kafka_produce(struct safem_linesink_kafka *k, const char *topic, const char *line,
		       size_t len, struct safem_linesink_stats *st)
{
	/* No RD_KAFKA_MSG_F_BLOCK: a full queue refuses at once and we count the drop. */
	rd_kafka_resp_err_t e = rd_kafka_producev(k->rk, RD_KAFKA_V_TOPIC(topic),
						  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
						  RD_KAFKA_V_VALUE((void *)(uintptr_t)line, len),
						  RD_KAFKA_V_OPAQUE(st), RD_KAFKA_V_END);

	if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
		return 0;
	return e == RD_KAFKA_RESP_ERR__QUEUE_FULL ? -ENOBUFS : -EIO;
}

void
safem_linesink_kafka_poll(struct safem_linesink_kafka *k)
{
	rd_kafka_poll(k->rk, 0);
}

uint64_t
safem_linesink_kafka_flush(struct safem_linesink_kafka *k, unsigned int timeout_ms)
{
	/* Reports of purged messages are served by this short final flush. */
	const int purge_reports_ms = 100;
	uint64_t left;

	rd_kafka_flush(k->rk, (int)timeout_ms);
	left = (uint64_t)rd_kafka_outq_len(k->rk);
	rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
				      RD_KAFKA_PURGE_F_NON_BLOCKING);
	rd_kafka_flush(k->rk, purge_reports_ms);
	return left;
}

void
safem_linesink_kafka_free(struct safem_linesink_kafka *k)
{
	if (k == NULL)
		return;
	rd_kafka_destroy(k->rk);
	free(k);
}
