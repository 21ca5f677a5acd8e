/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef PROBE_PORT_H
#define PROBE_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ethdev.h>

#include "probe_options.h"

struct probe_port {
	uint16_t port_id;
	uint16_t rx_queues;
	char name[RTE_ETH_NAME_MAX_LEN];
	char driver[64];
	bool replays_file;   /**< net_pcap reading rx_pcap files once (not infinite_rx, not an iface) */
	bool rss;            /**< hardware RSS configured */
	struct rte_mempool *pool;
};

struct probe_ports {
	struct probe_port *ports;
	uint16_t count;
};

/**
 * Configure and start every available port with min(workers, max RX queues)
 * RX queues, RSS with a symmetric key when there is more than one queue.
 * Returns 0, or -EINVAL (bad configuration for this hardware: exit 2) /
 * -EIO (the driver refused) with a message in err.
 */
int probe_ports_start(const struct probe_config *cfg, unsigned int workers,
		      struct probe_ports *out, char *err, size_t errlen);

void probe_ports_stop(struct probe_ports *ports);

/**
 * Before EAL: check the files and interfaces the EAL arguments name in
 * --vdev devargs (rx_pcap=FILE opens as a capture; rx_iface=, iface= exist),
 * so that a wrong path is reported with its name and cause rather than as
 * "no ports". 0, or -EINVAL with err naming the device, the file and why.
 */
int probe_ports_check_devargs(int argc, char **argv, char *err, size_t errlen);

#endif /* PROBE_PORT_H */
