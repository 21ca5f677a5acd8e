/* SPDX-License-Identifier: BSD-3-Clause */
/* JSON: alert lines (docs/detection.md, "Alerts") and the members appended to a
 * window report line. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <string.h>

#include "detect_private.h"

/* Involved values listed per feature / tree side: those whose share moved most. */
#define INVOLVED_LISTED 3
#define INVOLVED_MIN_CHANGE 0.01

void
json_number(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.6g", v);
	else
		fputs("null", f);
}

static bool
is_v4_mapped(const uint8_t *a)
{
	static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return memcmp(a, prefix, sizeof(prefix)) == 0;
}

static void
address_text(FILE *f, const uint8_t *a)
{
	char text[INET6_ADDRSTRLEN];

	if (is_v4_mapped(a))
		inet_ntop(AF_INET, a + 12, text, sizeof(text));
	else
		inet_ntop(AF_INET6, a, text, sizeof(text));
	fputs(text, f);
}

void
value_text(FILE *f, unsigned int feat, const struct safem_feature_value *v, bool quoted)
{
	if (feat == SAFEM_FEATURE_SRC_PORT || feat == SAFEM_FEATURE_DST_PORT) {
		fprintf(f, "%u", (unsigned int)(v->bytes[14] << 8 | v->bytes[15]));
		return;
	}
	fputs(quoted ? "\"" : "", f);
	address_text(f, v->bytes);
	fputs(quoted ? "\"" : "", f);
}

void
prefix_text(FILE *f, const struct safem_feature_value *addr, uint8_t len, bool quoted)
{
	bool v4 = is_v4_mapped(addr->bytes) && len >= 96;

	fputs(quoted ? "\"" : "", f);
	address_text(f, addr->bytes);
	fprintf(f, "/%u%s", v4 ? len - 96u : len, quoted ? "\"" : "");
}

/*
 * How far an item's share moved from its baseline. Values whose flow share moved come
 * first (largest move first): floods, scans and worms show in flows, and the class was
 * judged on them; then values whose packet share moved (elephant flows, bursts).
 */
static double
share_change(const struct involved_item *it)
{
	double flows = fabs(it->share.flows - it->baseline.flows);

	if (flows >= INVOLVED_MIN_CHANGE)
		return 1.0 + flows;
	return fabs(it->share.packets - it->baseline.packets);
}

/* Items whose share moved most from the baseline, largest change first. */
static void
involved_list(FILE *f, const char *key, unsigned int feat, bool prefix,
	      const struct involved_item *items, unsigned int n)
{
	bool listed[TOP_UNION] = {false};
	unsigned int k, i, first = 1;

	fprintf(f, "\"%s\":[", key);
	for (k = 0; k < INVOLVED_LISTED; k++) {
		double best_change = INVOLVED_MIN_CHANGE;
		int best = -1;

		for (i = 0; i < n; i++) {
			double change = share_change(&items[i]);

			/* a horizon's stale address ended before the newest window: not who is
			 * involved now, however large its summed counts */
			if (!listed[i] && !items[i].stale && change >= best_change) {
				best_change = change;
				best = (int)i;
			}
		}
		if (best < 0)
			break;
		listed[best] = true;
		fputs(first ? "{" : ",{", f);
		first = 0;
		if (prefix) {
			fputs("\"prefix\":", f);
			prefix_text(f, items[best].value, items[best].len, true);
		} else {
			fputs("\"value\":", f);
			value_text(f, feat, items[best].value, true);
		}
		fputs(",\"share\":", f);
		json_number(f, items[best].share.packets);
		fputs(",\"baseline_share\":", f);
		json_number(f, items[best].baseline.packets);
		if (!prefix) {
			fputs(",\"flow_share\":", f);
			json_number(f, items[best].share.flows);
			fputs(",\"baseline_flow_share\":", f);
			json_number(f, items[best].baseline.flows);
		}
		fputc('}', f);
	}
	fputc(']', f);
}

static void
patterns_write(FILE *f, const struct metric_layout *l, const struct deviation *dev,
	       unsigned int dir, bool only_deviating)
{
	char pattern[SAFEM_SPECTRUM_Q_MAX + 1];
	unsigned int feat, weight, first = 1;

	fputs(",\"patterns\":{", f);
	for (feat = 0; feat < FEATURES; feat++) {
		if (only_deviating && !pattern_deviates(l, dev, dir, feat))
			continue;
		fprintf(f, "%s\"%s\":{", first ? "" : ",", detect_feature_names[feat]);
		first = 0;
		for (weight = 0; weight < WEIGHTS; weight++) {
			pattern_string(l, dev, dir, feat, weight, pattern);
			fprintf(f, "%s\"%s\":\"%s\"", weight ? "," : "",
				detect_weight_names[weight], pattern);
		}
		fputc('}', f);
	}
	fputc('}', f);
}

/* Findings named per alert line at most (the caller lists the strongest first). */
#define FINDINGS_LISTED SAFEM_DETECT_FINDINGS_MAX

static void
value_list(FILE *f, const char *key, unsigned int feat, const struct safem_feature_value *v,
	   unsigned int n, size_t stride)
{
	unsigned int i, j, first = 1;

	fprintf(f, "\"%s\":[", key);
	for (i = 0; i < n; i++) {
		const struct safem_feature_value *x =
			(const void *)((const char *)v + i * stride);

		for (j = 0; j < i; j++) /* each value once */
			if (memcmp((const char *)v + j * stride, x, sizeof(*x)) == 0)
				break;
		if (j < i)
			continue;
		fputs(first ? "{\"value\":" : ",{\"value\":", f);
		first = 0;
		value_text(f, feat, x, true);
		fputc('}', f);
	}
	fputc(']', f);
}

/* ,"scan_test":[...],"involved":{"src_addr":[...],"dst_port":[...],"dst_addr":[...]} */
static void
findings_write(FILE *f, const struct safem_detect_finding *fi, unsigned int n)
{
	struct safem_feature_value ports[FINDINGS_LISTED], targets[FINDINGS_LISTED];
	struct safem_feature_value sources[FINDINGS_LISTED];
	unsigned int i, nports = 0, ntargets = 0;

	if (n > FINDINGS_LISTED)
		n = FINDINGS_LISTED;
	fputs(",\"scan_test\":[", f);
	for (i = 0; i < n; i++) {
		fprintf(f, "%s{\"test\":\"%s\",\"class\":\"%s\",\"source\":", i ? "," : "",
			fi[i].test != NULL ? fi[i].test : "unknown",
			safem_attack_class_name(fi[i].cls));
		value_text(f, SAFEM_FEATURE_SRC_ADDR, &fi[i].address, true);
		fprintf(f, ",\"port\":%u,\"proto\":%u", (unsigned int)fi[i].port,
			(unsigned int)fi[i].proto);
		if (fi[i].has_target) {
			fputs(",\"target\":", f);
			value_text(f, SAFEM_FEATURE_DST_ADDR, &fi[i].target, true);
		}
		fprintf(f, ",\"failed_contacts\":%u,\"failed_contacts_run\":%u,\"llr\":",
			(unsigned int)fi[i].evidence, (unsigned int)fi[i].evidence_run);
		json_number(f, fi[i].llr);
		fprintf(f, ",\"windows\":%u", fi[i].windows);
		/* worm: flagged sources behind it; a destination-side finding (a target
		 * with sources): the new sources that failed on the victim */
		if (fi[i].cls == SAFEM_CLASS_WORM || (fi[i].has_target && fi[i].sources != 0))
			fprintf(f, ",\"sources\":%u", fi[i].sources);
		fputc('}', f);
		sources[i] = fi[i].address;
		if (fi[i].port != 0) {
			memset(&ports[nports], 0, sizeof(ports[nports]));
			ports[nports].bytes[14] = (uint8_t)(fi[i].port >> 8);
			ports[nports++].bytes[15] = (uint8_t)fi[i].port;
		}
		if (fi[i].has_target)
			targets[ntargets++] = fi[i].target;
	}
	fputs("],\"involved\":{", f);
	value_list(f, "src_addr", SAFEM_FEATURE_SRC_ADDR, sources, n, sizeof(sources[0]));
	fputc(',', f);
	value_list(f, "dst_port", SAFEM_FEATURE_DST_PORT, ports, nports, sizeof(ports[0]));
	fputc(',', f);
	value_list(f, "dst_addr", SAFEM_FEATURE_DST_ADDR, targets, ntargets, sizeof(targets[0]));
	fputc('}', f);
}

int
alert_write(const struct alert_context *a, const struct incident *inc, const char *record,
	    uint64_t start_ms, uint64_t end_ms)
{
	static const char *const prefix_keys[TREE_SIDES] = {"src_prefix", "dst_prefix"};
	FILE *f = a->out;
	unsigned int feat, side;

	if (f == NULL)
		return 0;
	fprintf(f,
		"{\"start_ms\":%llu,\"end_ms\":%llu,\"event_type\":\"anomaly\",\"class\":\"%s\","
		"\"record\":\"%s\",\"incident\":%llu,\"incident_start_ms\":%llu,"
		"\"last_seen_ms\":%llu,\"direction\":\"%s\"",
		(unsigned long long)start_ms, (unsigned long long)end_ms,
		safem_attack_class_name(inc->cls), record, (unsigned long long)inc->id,
		(unsigned long long)inc->start_ms, (unsigned long long)inc->last_seen_ms,
		detect_direction_names[a->dir]);
	if (a->horizon_windows > 1)
		fprintf(f, ",\"horizon_windows\":%u,\"horizon_start_ms\":%llu", a->horizon_windows,
			(unsigned long long)a->horizon_start_ms);
	if (a->dev != NULL) {
		fputs(",\"score\":", f);
		json_number(f, a->score);
		if (a->hint != NULL)
			hint_write(f, a->hint);
		patterns_write(f, a->layout, a->dev, a->dir, true);
		fputs(",\"involved\":{", f);
		for (side = 0; side < TREE_SIDES; side++) {
			involved_list(f, prefix_keys[side], 0, true, a->inv->prefix[side],
				      a->inv->nprefix[side]);
			fputc(',', f);
		}
		for (feat = 0; feat < FEATURES; feat++) {
			involved_list(f, detect_feature_names[feat], feat, false, a->inv->top[feat],
				      a->inv->ntop[feat]);
			fputs(feat + 1 < FEATURES ? "," : "", f);
		}
		fputc('}', f);
	} else if (a->findings != NULL) {
		fputs(",\"score\":", f);
		json_number(f, a->score);
		if (a->hint != NULL)
			hint_write(f, a->hint);
		findings_write(f, a->findings, a->nfindings);
	}
	fputs("}\n", f);
	return ferror(f) ? -EIO : 0;
}

int
report_write(FILE *out, const struct metric_layout *l, const struct safem_window_summary *w,
	     const struct deviation *dev, const struct safem_detect_verdict *v)
{
	unsigned int dir, feat, weight, qi;

	fputs(",\"spectrum\":{\"q\":[", out);
	for (qi = 0; qi < l->nq; qi++) {
		fputs(qi ? "," : "", out);
		json_number(out, l->q[qi]);
	}
	fputc(']', out);
	for (dir = 0; dir < DIRS; dir++) {
		if (!(l->directions & (1u << dir)))
			continue;
		fprintf(out, ",\"%s\":{", detect_direction_names[dir]);
		for (feat = 0; feat < FEATURES; feat++) {
			fprintf(out, "%s\"%s\":{", feat ? "," : "", detect_feature_names[feat]);
			for (weight = 0; weight < WEIGHTS; weight++) {
				fprintf(out, "%s\"%s\":[", weight ? "," : "",
					detect_weight_names[weight]);
				for (qi = 0; qi < l->nq; qi++) {
					fputs(qi ? "," : "", out);
					json_number(out, w->spectrum[dir][feat][weight][qi]);
				}
				fputc(']', out);
			}
			fputc('}', out);
		}
		fputc('}', out);
	}
	fputc('}', out);
	if (dev != NULL)
		patterns_write(out, l, dev, v->direction, false);
	fprintf(out, ",\"direction\":\"%s\",\"score\":", detect_direction_names[v->direction]);
	json_number(out, v->score);
	fprintf(out,
		",\"deviating_metrics\":%u,\"baseline_windows\":%u,\"anomalous\":%s,"
		"\"class\":\"%s\",\"incident\":%llu",
		v->deviating_metrics, v->baseline_windows, v->anomalous ? "true" : "false",
		safem_attack_class_name(v->cls), (unsigned long long)v->incident_id);
	fprintf(out, ",\"warmup\":%s,\"low_rate\":%s", v->warmup ? "true" : "false",
		v->low_rate ? "true" : "false");
	fprintf(out, ",\"horizon_windows\":%u", v->horizon_windows);
	return ferror(out) ? -EIO : 0;
}
