/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <string.h>

#include "probe_detect.h"

int
probe_detect_home(struct probe_detect *pd, const struct probe_config *cfg, char *err,
		  size_t errlen)
{
	memset(pd, 0, sizeof(*pd));
	pd->cfg = cfg;
	if (probe_options_home(cfg, &pd->home) != 0) {
		snprintf(err, errlen, "--home: invalid prefix list");
		return -EINVAL;
	}
	return 0;
}

int
probe_detect_open(struct probe_detect *pd, const struct probe_config *cfg, FILE *alerts,
		  char *err, size_t errlen)
{
	struct safem_detect_params p;
	unsigned int d;

	safem_detect_params_init(&p);
	p.kind = cfg->baseline_path[0] != '\0' ? SAFEM_BASELINE_TRAINED : SAFEM_BASELINE_MOVING;
	p.profile_path = cfg->baseline_path[0] != '\0' ? cfg->baseline_path : NULL;
	p.moving_windows = (unsigned int)cfg->moving_windows;
	p.warmup_windows =
		cfg->warmup_windows != 0 ? (unsigned int)cfg->warmup_windows : SAFEM_DETECT_WARMUP_AUTO;
	p.band_margin = probe_options_band_margin(cfg);
	p.alert_score = probe_options_alert_score(cfg);
	p.incident_gap_windows = (unsigned int)cfg->incident_gap;
	p.nq = probe_options_q(cfg, p.q, SAFEM_SPECTRUM_Q_MAX);
	p.directions = 1u << SAFEM_DIR_ALL;
	if (pd->home.count != 0)
		for (d = 0; d < SAFEM_DIR_COUNT; d++)
			p.directions |= 1u << d;
	p.alerts = alerts;
	pd->detector = safem_detector_create(&p, err, errlen);
	if (pd->detector == NULL) {
		int e = errno == ENOMEM ? -ENOMEM : -EINVAL;

		probe_detect_free(pd);
		return e;
	}
	if (cfg->train_baseline_path[0] != '\0') {
		pd->trainer = safem_baseline_trainer_create(cfg->baseline_per_hour);
		if (pd->trainer == NULL) {
			snprintf(err, errlen, "no memory for the baseline trainer");
			probe_detect_free(pd);
			return -ENOMEM;
		}
	}
	return 0;
}

int
probe_detect_window(void *ctx, const struct safem_window_summary *summary, FILE *members)
{
	struct probe_detect *pd = ctx;
	struct safem_detect_verdict v;
	int ret;

	pd->last_end_ms = summary->end_ms;
	if (pd->trainer != NULL) {
		safem_baseline_trainer_add(pd->trainer, summary);
		pd->trained_windows++;
	}
	ret = safem_detector_window(pd->detector, summary, members, &v);
	if (ret != 0 && pd->error == 0)
		pd->error = ret;
	return ret;
}

int
probe_detect_close(struct probe_detect *pd, bool ok)
{
	const struct probe_config *cfg = pd->cfg;
	int ret = pd->error;

	if (pd->detector != NULL && ret == 0)
		ret = safem_detector_finish(pd->detector, pd->last_end_ms);
	if (ret != 0)
		fprintf(stderr, "safem-probe: alerts: write failed: %s\n", strerror(-ret));
	if (pd->trainer != NULL && ok && ret == 0) {
		ret = safem_baseline_trainer_save(pd->trainer, cfg->train_baseline_path);
		if (ret == -EINVAL)
			fprintf(stderr,
				"safem-probe: --train-baseline %s: no usable window to learn from "
				"(%llu windows seen)\n",
				cfg->train_baseline_path, (unsigned long long)pd->trained_windows);
		else if (ret != 0)
			fprintf(stderr, "safem-probe: --train-baseline %s: write failed: %s\n",
				cfg->train_baseline_path, strerror(-ret));
	}
	return ret;
}

void
probe_detect_free(struct probe_detect *pd)
{
	safem_detector_free(pd->detector);
	pd->detector = NULL;
	safem_baseline_trainer_free(pd->trainer);
	pd->trainer = NULL;
}
