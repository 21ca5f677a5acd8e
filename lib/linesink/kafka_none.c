/* SPDX-License-Identifier: BSD-3-Clause */
/* Built without librdkafka: the Kafka output is refused at configuration time. */
#include <errno.h>
#include <stdio.h>

#include "safem_linesink.h"

#include "linesink_private.h"

bool
safem_linesink_kafka_available(void)
{
	return false;
}

struct safem_linesink_kafka *
safem_linesink_kafka_create(const struct safem_linesink_kafka_params *p, char *err, size_t errlen)
{
	(void)p;
	snprintf(err, errlen, "built without librdkafka");
	errno = ENOTSUP;
	return NULL;
}

int
linesink_kafka_produce(struct safem_linesink_kafka *k, const char *topic, const char *line,
		       size_t len, struct safem_linesink_stats *st)
{
	(void)k, (void)topic, (void)line, (void)len, (void)st;
	return -ENOTSUP;
}

void
safem_linesink_kafka_poll(struct safem_linesink_kafka *k)
{
	(void)k;
}

uint64_t
safem_linesink_kafka_flush(struct safem_linesink_kafka *k, unsigned int timeout_ms)
{
	(void)k, (void)timeout_ms;
	return 0;
}

void
safem_linesink_kafka_free(struct safem_linesink_kafka *k)
{
	(void)k;
}
