/* SPDX-License-Identifier: BSD-3-Clause */
/* Incidents: consecutive alerted windows of one class. The first window writes a
 * "start" record, the next ones "update"; incident_gap_windows normal windows, a
 * class change or the end of input write the "end" record. */
#include <errno.h>

#include "detect_private.h"

static int
incident_end(struct incident *inc, const struct alert_context *a)
{
	/* the end record spans the incident: [incident start, last seen] */
	struct alert_context end = {.out = a->out, .layout = a->layout, .dir = inc->dir};
	int rc = alert_write(&end, inc, "end", inc->start_ms, inc->last_seen_ms);

	inc->open = false;
	return rc;
}

int
incident_window(struct incident *inc, uint64_t *next_id, const struct alert_context *a,
		bool alerted, enum safem_attack_class cls, unsigned int gap_windows,
		uint64_t *incidents)
{
	const char *record = "update";
	int rc = 0;

	if (!alerted) {
		if (inc->open && ++inc->normal_run >= gap_windows)
			rc = incident_end(inc, a);
		return rc;
	}
	if (inc->open && inc->cls != cls)
		rc = incident_end(inc, a);
	if (!inc->open) {
		inc->open = true;
		inc->cls = cls;
		inc->id = (*next_id)++;
		/* an incident a horizon of several windows starts begins with its first window,
		 * never before the incident it follows ended (a class change within a horizon) */
		inc->start_ms = a->w->start_ms;
		if (a->horizon_windows > 1 && a->horizon_start_ms < inc->start_ms)
			/* last_seen_ms: the end of the previous incident (0: none yet) */
			inc->start_ms = a->horizon_start_ms < inc->last_seen_ms
						? inc->last_seen_ms
						: a->horizon_start_ms;
		(*incidents)++;
		record = "start";
	}
	inc->normal_run = 0;
	inc->dir = a->dir;
	inc->last_seen_ms = a->w->end_ms;
	if (alert_write(a, inc, record, a->w->start_ms, a->w->end_ms) < 0)
		rc = -EIO;
	return rc;
}

int
incident_finish(struct incident *inc, const struct alert_context *a)
{
	return inc->open ? incident_end(inc, a) : 0;
}
