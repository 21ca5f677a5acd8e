/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test helper for tests/e2e/test_line_outputs.py: a one-broker librdkafka mock
 * cluster whose topics the probe produces to.
 *
 *   kafka_mock_consume TOPIC...
 *
 * Creates each topic with one partition (so a topic keeps the order lines
 * were produced in), prints "BOOTSTRAP host:port" on stdout, then waits for
 * end of input on stdin (the probe has exited) and prints every message of
 * every topic as "TOPIC<TAB>PAYLOAD", then "END TOPIC COUNT" per topic.
 *
 * Lines on stdin before that are faults for tests/e2e/test_faults.py, each
 * answered "OK LINE" once in effect: "down" (the broker drops its
 * connections and refuses new ones), "up" (it is back), "rtt MS" (it answers
 * every request MS milliseconds late: a slow broker).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define CONSUME_TIMEOUT_MS 20000

static rd_kafka_t *
new_client(rd_kafka_type_t type, const char *const *settings)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char why[512];
	rd_kafka_t *rk;

	for (; settings != NULL && settings[0] != NULL; settings += 2)
		if (rd_kafka_conf_set(conf, settings[0], settings[1], why, sizeof(why)) !=
		    RD_KAFKA_CONF_OK) {
			fprintf(stderr, "kafka_mock_consume: %s: %s\n", settings[0], why);
			exit(1);
		}
	rk = rd_kafka_new(type, conf, why, sizeof(why));
	if (rk == NULL) {
		fprintf(stderr, "kafka_mock_consume: %s\n", why);
		exit(1);
	}
	return rk;
}

static long
consume_topic(const char *bootstrap, const char *topic)
{
	const char *settings[] = {"bootstrap.servers",
				  bootstrap,
				  "group.id",
				  "safem-test",
				  "enable.partition.eof",
				  "true",
				  "auto.offset.reset",
				  "earliest",
				  NULL};
	rd_kafka_t *rk = new_client(RD_KAFKA_CONSUMER, settings);
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
	long count = 0;
	int waited_ms = 0;

	rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_assign(rk, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	while (waited_ms < CONSUME_TIMEOUT_MS) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

		if (m == NULL) {
			waited_ms += 100;
			continue;
		}
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			rd_kafka_message_destroy(m);
			break;
		}
		if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			fprintf(stderr, "kafka_mock_consume: %s: %s\n", topic,
				rd_kafka_message_errstr(m));
		} else {
			printf("%s\t%.*s\n", topic, (int)m->len, (const char *)m->payload);
			count++;
		}
		rd_kafka_message_destroy(m);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return count;
}

int
main(int argc, char **argv)
{
	rd_kafka_t *owner = new_client(RD_KAFKA_PRODUCER, NULL);
	rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(owner, 1);
	char bootstrap[256], buf[256];
	int i;

	if (mc == NULL) {
		fprintf(stderr, "kafka_mock_consume: cannot create a mock cluster\n");
		return 1;
	}
	for (i = 1; i < argc; i++)
		if (rd_kafka_mock_topic_create(mc, argv[i], 1, 1) != RD_KAFKA_RESP_ERR_NO_ERROR) {
			fprintf(stderr, "kafka_mock_consume: cannot create topic %s\n", argv[i]);
			return 1;
		}
	snprintf(bootstrap, sizeof(bootstrap), "%s", rd_kafka_mock_cluster_bootstraps(mc));
	printf("BOOTSTRAP %s\n", bootstrap);
	fflush(stdout);
	while (fgets(buf, sizeof(buf), stdin) != NULL) {
		rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
		int rtt_ms;

		buf[strcspn(buf, "\n")] = '\0';
		if (strcmp(buf, "down") == 0)
			err = rd_kafka_mock_broker_set_down(mc, 1);
		else if (strcmp(buf, "up") == 0)
			err = rd_kafka_mock_broker_set_up(mc, 1);
		else if (sscanf(buf, "rtt %d", &rtt_ms) == 1)
			err = rd_kafka_mock_broker_set_rtt(mc, 1, rtt_ms);
		else if (buf[0] != '\0') {
			fprintf(stderr, "kafka_mock_consume: unknown command %s\n", buf);
			return 1;
		}
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			fprintf(stderr, "kafka_mock_consume: %s: %s\n", buf, rd_kafka_err2str(err));
			return 1;
		}
		if (buf[0] != '\0') {
			printf("OK %s\n", buf);
			fflush(stdout);
		}
	}
	for (i = 1; i < argc; i++) {
		long n = consume_topic(bootstrap, argv[i]);

		printf("END %s %ld\n", argv[i], n);
	}
	fflush(stdout);
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(owner);
	return 0;
}
