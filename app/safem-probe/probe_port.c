/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <pcap/pcap.h>
#include "safem_mem.h"

#include "probe_port.h"

static void
add_chunk_bytes(struct rte_mempool *mp __rte_unused, void *opaque,
		struct rte_mempool_memhdr *memhdr, unsigned int idx __rte_unused)
{
	*(size_t *)opaque += memhdr->len;
}

/* A pool's real allocation: its memory chunks (the objects) and its memzone
 * (header, per-lcore caches, private data). */
static size_t
mempool_bytes(struct rte_mempool *mp)
{
	size_t bytes = mp->mz != NULL ? mp->mz->len : 0;

	rte_mempool_mem_iter(mp, add_chunk_bytes, &bytes);
	return bytes;
}

/* Mempool per-lcore cache; DPDK's guidance is a divisor of the pool size
 * and well below it. */
#define MBUF_CACHE_SIZE 256
/* Frames per RX queue emptied from a fresh net_af_packet ring, at most. */
#define AF_PACKET_DISCARD_MAX 65536u

/*
 * 0x6d5a repeated makes the Toeplitz hash symmetric in (src, dst) and
 * (sport, dport) (Woo & Park, "Scalable TCP session monitoring with symmetric
 * receive-side scaling"), so both directions of a connection reach one queue.
 */
static void
symmetric_rss_key(uint8_t *key, unsigned int len)
{
	unsigned int i;

	for (i = 0; i < len; i++)
		key[i] = (i % 2) == 0 ? 0x6d : 0x5a;
}

static bool
devargs_replay_file(const struct rte_eth_dev_info *info)
{
	const struct rte_devargs *da = rte_dev_devargs(info->device);
	const char *args = da != NULL ? da->args : NULL;

	if (strcmp(info->driver_name, "net_pcap") != 0 || args == NULL)
		return false;
	return strstr(args, "rx_pcap=") != NULL && strstr(args, "infinite_rx=1") == NULL &&
	       strstr(args, "rx_iface") == NULL;
}

/*
 * net_af_packet (DPDK 22.11) opens its ETH_P_ALL socket and maps its ring
 * before binding it to the interface, so frames of every interface on the
 * host can land in the ring in between (seen on a busy host: hundreds of
 * loopback and other-veth frames in the first burst). Nothing is captured
 * yet at this point, so the ring is emptied and the counters start from zero:
 * the port's counters and the workers' then count the same frames.
 */
static void
discard_foreign_frames(uint16_t port_id, uint16_t rx_queues)
{
	struct rte_mbuf *burst[32];
	unsigned int taken;
	uint16_t q, n, i;

	/* Bounded: on a busy link new frames keep coming; a ring holds fewer. */
	for (q = 0; q < rx_queues; q++)
		for (taken = 0; taken < AF_PACKET_DISCARD_MAX &&
				(n = rte_eth_rx_burst(port_id, q, burst, RTE_DIM(burst))) != 0;
		     taken += n)
			for (i = 0; i < n; i++)
				rte_pktmbuf_free(burst[i]);
	rte_eth_stats_reset(port_id);
}

static int
port_start(const struct probe_config *cfg, unsigned int workers, uint16_t port_id,
	   struct probe_port *p, char *err, size_t errlen)
{
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	uint8_t key[PROBE_RSS_KEY_MAX];
	char pool_name[RTE_MEMPOOL_NAMESIZE];
	int key_len, ret, socket = rte_eth_dev_socket_id(port_id);
	uint16_t q, rx_desc = (uint16_t)cfg->rx_descriptors, tx_desc = 512;

	if (socket < 0)
		socket = (int)rte_socket_id();
	ret = rte_eth_dev_info_get(port_id, &info);
	if (ret != 0) {
		snprintf(err, errlen, "port %u: cannot read device info: %s", port_id,
			 rte_strerror(-ret));
		return -EIO;
	}
	p->port_id = port_id;
	rte_eth_dev_get_name_by_port(port_id, p->name);
	snprintf(p->driver, sizeof(p->driver), "%s", info.driver_name);
	p->replays_file = devargs_replay_file(&info);
	/*
	 * net_pcap: every RX queue is a capture source (one per rx_pcap file or
	 * rx_iface), so all must be read. A NIC gets one queue per worker.
	 */
	if (strcmp(info.driver_name, "net_pcap") == 0)
		p->rx_queues = info.max_rx_queues;
	else
		p->rx_queues = (uint16_t)RTE_MIN(workers, (unsigned int)info.max_rx_queues);
	if (p->rx_queues == 0) {
		snprintf(err, errlen, "port %u (%s): driver offers no RX queue", port_id,
			 info.driver_name);
		return -EINVAL;
	}

	memset(&conf, 0, sizeof(conf));
	p->rss = p->rx_queues > 1 && info.flow_type_rss_offloads != 0;
	if (p->rss) {
		key_len = probe_options_rss_key(cfg, key);
		if (key_len < 0)
			return -EINVAL;
		if (key_len == 0) {
			key_len = info.hash_key_size != 0 ? info.hash_key_size : 40;
			symmetric_rss_key(key, (unsigned int)key_len);
		} else if (info.hash_key_size != 0 && key_len != info.hash_key_size) {
			snprintf(err, errlen, "--rss-key: port %u (%s) needs a %u-byte key, got %d",
				 port_id, info.driver_name, info.hash_key_size, key_len);
			return -EINVAL;
		}
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_key = key;
		conf.rx_adv_conf.rss_conf.rss_key_len = (uint8_t)key_len;
		conf.rx_adv_conf.rss_conf.rss_hf =
			(RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP | RTE_ETH_RSS_SCTP) &
			info.flow_type_rss_offloads;
	}
	ret = rte_eth_dev_configure(port_id, p->rx_queues, 1, &conf);
	if (ret != 0) {
		snprintf(err, errlen, "port %u (%s, %s): configure with %u RX queues failed: %s",
			 port_id, p->name, info.driver_name, p->rx_queues, rte_strerror(-ret));
		return -EIO;
	}
	ret = rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &rx_desc, &tx_desc);
	if (ret != 0) {
		snprintf(err, errlen, "port %u (%s): descriptor counts refused: %s", port_id,
			 p->name, rte_strerror(-ret));
		return -EIO;
	}
	snprintf(pool_name, sizeof(pool_name), "mbufs_p%u", port_id);
	p->pool = rte_pktmbuf_pool_create(
		pool_name, (unsigned int)cfg->mbufs,
		cfg->mbufs >= 4 * MBUF_CACHE_SIZE ? MBUF_CACHE_SIZE : 0, 0,
		(uint16_t)cfg->mbuf_data_room, socket);
	if (p->pool == NULL) {
		snprintf(err, errlen,
			 "port %u (%s): cannot allocate %llu mbufs of %llu bytes (--mbufs, "
			 "--mbuf-data-room; EAL -m or hugepages too small?): %s",
			 port_id, p->name, (unsigned long long)cfg->mbufs,
			 (unsigned long long)cfg->mbuf_data_room, rte_strerror(rte_errno));
		return -EINVAL;
	}
	safem_mem_account(SAFEM_MEM_mbufs, (int64_t)mempool_bytes(p->pool));
	for (q = 0; q < p->rx_queues; q++) {
		ret = rte_eth_rx_queue_setup(port_id, q, rx_desc, (unsigned int)socket, NULL,
					     p->pool);
		if (ret != 0) {
			snprintf(err, errlen,
				 "port %u (%s): RX queue %u setup failed: %s (for infinite_rx, "
				 "--mbufs must exceed the packets in the file)",
				 port_id, p->name, q, rte_strerror(-ret));
			return -EIO;
		}
	}
	ret = rte_eth_tx_queue_setup(port_id, 0, tx_desc, (unsigned int)socket, NULL);
	if (ret != 0) {
		snprintf(err, errlen, "port %u (%s): TX queue setup failed: %s", port_id, p->name,
			 rte_strerror(-ret));
		return -EIO;
	}
	ret = rte_eth_dev_start(port_id);
	if (ret != 0) {
		snprintf(err, errlen, "port %u (%s, %s): start failed: %s (link down, "
			 "interface missing or not permitted?)", port_id, p->name,
			 info.driver_name, rte_strerror(-ret));
		return -EIO;
	}
	/* A probe sees everything on the wire; drivers without the knob are fine. */
	rte_eth_promiscuous_enable(port_id);
	if (strcmp(info.driver_name, "net_af_packet") == 0)
		discard_foreign_frames(port_id, p->rx_queues);
	return 0;
}

/* The value of key= in a devargs string ("net_pcap0,rx_pcap=F,..."), copied into out. */
static bool
devargs_value(const char *args, const char *key, const char **from, char *out, size_t outlen)
{
	size_t klen = strlen(key);
	const char *p = *from, *end;

	for (; p != NULL && *p != '\0'; p = strchr(p, ',') != NULL ? strchr(p, ',') + 1 : NULL) {
		if (strncmp(p, key, klen) != 0 || (p != args && p[-1] != ','))
			continue;
		p += klen;
		end = strchr(p, ',');
		snprintf(out, outlen, "%.*s", (int)(end != NULL ? (size_t)(end - p) : strlen(p)), p);
		*from = end;
		return true;
	}
	*from = NULL;
	return false;
}

int
probe_ports_check_devargs(int argc, char **argv, char *err, size_t errlen)
{
	/* Keys naming a capture file, and keys naming a network interface. */
	static const char *const file_keys[] = {"rx_pcap="};
	static const char *const iface_keys[] = {"rx_iface=", "rx_iface_in=", "iface="};
	char value[PATH_MAX], pcap_err[PCAP_ERRBUF_SIZE];
	int i;

	for (i = 1; i < argc; i++) {
		const char *args = NULL, *from;
		unsigned int k;

		if (strncmp(argv[i], "--vdev=", 7) == 0)
			args = argv[i] + 7;
		else if (strcmp(argv[i], "--vdev") == 0 && i + 1 < argc)
			args = argv[++i];
		if (args == NULL)
			continue;
		for (k = 0; k < RTE_DIM(file_keys); k++) {
			for (from = args; devargs_value(args, file_keys[k], &from, value,
							sizeof(value));) {
				/* net_pcap only says "probe failed" and the probe then
				 * finds no port: name the file and why here. */
				pcap_t *pc = pcap_open_offline(value, pcap_err);

				if (pc == NULL) {
					snprintf(err, errlen, "--vdev %.200s: capture '%s' cannot be "
							      "read: %s", args, value, pcap_err);
					return -EINVAL;
				}
				pcap_close(pc);
			}
		}
		for (k = 0; k < RTE_DIM(iface_keys); k++) {
			for (from = args; devargs_value(args, iface_keys[k], &from, value,
							sizeof(value));) {
				if (if_nametoindex(value) == 0) {
					snprintf(err, errlen, "--vdev %.200s: network interface '%s': %s",
						 args, value, strerror(errno));
					return -EINVAL;
				}
			}
		}
	}
	return 0;
}

int
probe_ports_start(const struct probe_config *cfg, unsigned int workers, struct probe_ports *out,
		  char *err, size_t errlen)
{
	uint16_t port_id;
	int ret;

	out->count = 0;
	out->ports = calloc(RTE_MAX_ETHPORTS, sizeof(*out->ports));
	if (out->ports == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	RTE_ETH_FOREACH_DEV(port_id) {
		ret = port_start(cfg, workers, port_id, &out->ports[out->count], err, errlen);
		if (ret != 0)
			return ret;
		out->count++;
	}
	if (out->count == 0) {
		snprintf(err, errlen,
			 "no ports: give EAL a device, e.g. --vdev=net_pcap0,rx_pcap=FILE or a PCI "
			 "address (-a 0000:03:00.0)");
		return -EINVAL;
	}
	return 0;
}

void
probe_ports_stop(struct probe_ports *ports)
{
	uint16_t i;

	for (i = 0; i < ports->count; i++) {
		rte_eth_dev_stop(ports->ports[i].port_id);
		rte_eth_dev_close(ports->ports[i].port_id);
		if (ports->ports[i].pool != NULL)
			safem_mem_account(SAFEM_MEM_mbufs,
					  -(int64_t)mempool_bytes(ports->ports[i].pool));
		rte_mempool_free(ports->ports[i].pool);
	}
	free(ports->ports);
	ports->ports = NULL;
	ports->count = 0;
}
