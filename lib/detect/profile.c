/* SPDX-License-Identifier: BSD-3-Clause */
/* Trained baselines: the trainer (min/max per metric, all hours and per hour of
 * day UTC, mean shares of top values) and the profile file it writes and the
 * detector reads (docs/detection.md, "Baseline profile file"). */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "detect_private.h"
#include "safem_outfile.h"

#define PROFILE_MAGIC "safem-baseline"
#define PROFILE_VERSION 1
/* Distinct values the trainer tracks per feature / tree side before it drops new ones. */
#define TRAINER_SHARE_VALUES 4096
#define HOUR_SLOTS (TRAINED_HOURS + 1)

static const char *const tree_sides[TREE_SIDES] = {"src", "dst"};

struct safem_baseline_trainer {
	bool per_hour, have_layout;
	struct metric_layout layout;
	unsigned int max_metrics;
	double *x, *lo, *hi; /* lo/hi: HOUR_SLOTS * max_metrics */
	uint64_t hour_windows[HOUR_SLOTS];
	uint64_t windows, rejected;
	unsigned int sample_rate;
	struct share_tables shares;
};

struct safem_baseline_trainer *
safem_baseline_trainer_create(bool per_hour)
{
	struct safem_baseline_trainer *t = calloc(1, sizeof(*t));
	struct metric_layout largest;
	static const double q[SAFEM_SPECTRUM_Q_MAX];
	bool fail;

	if (t == NULL)
		return NULL;
	metric_layout_init(&largest, q, SAFEM_SPECTRUM_Q_MAX, 0);
	t->per_hour = per_hour;
	t->max_metrics = largest.count;
	t->x = calloc(t->max_metrics, sizeof(double));
	t->lo = calloc((size_t)HOUR_SLOTS * t->max_metrics, sizeof(double));
	t->hi = calloc((size_t)HOUR_SLOTS * t->max_metrics, sizeof(double));
	fail = t->x == NULL || t->lo == NULL || t->hi == NULL;
	if (share_tables_init(&t->shares, TRAINER_SHARE_VALUES) < 0)
		fail = true;
	if (fail) {
		safem_baseline_trainer_free(t);
		errno = ENOMEM;
		return NULL;
	}
	return t;
}

void
safem_baseline_trainer_free(struct safem_baseline_trainer *t)
{
	if (t == NULL)
		return;
	free(t->x);
	free(t->lo);
	free(t->hi);
	share_tables_free(&t->shares);
	free(t);
}

static void
trainer_band_add(struct safem_baseline_trainer *t, unsigned int slot)
{
	double *lo = &t->lo[(size_t)slot * t->max_metrics],
	       *hi = &t->hi[(size_t)slot * t->max_metrics];
	unsigned int m;

	for (m = 0; m < t->layout.count; m++) {
		if (t->hour_windows[slot] == 0) {
			lo[m] = hi[m] = t->x[m];
		} else {
			lo[m] = fmin(lo[m], t->x[m]);
			hi[m] = fmax(hi[m], t->x[m]);
		}
	}
	t->hour_windows[slot]++;
}

void
safem_baseline_trainer_add(struct safem_baseline_trainer *t, const struct safem_window_summary *w)
{
	const struct metric_layout *l = &t->layout;
	unsigned int f, s, i;

	if (!t->have_layout) {
		if (w->nq == 0 || w->nq > SAFEM_SPECTRUM_Q_MAX) {
			t->rejected++;
			return;
		}
		metric_layout_init(&t->layout, w->q, w->nq, w->directions);
		t->sample_rate = w->sample_rate;
		t->have_layout = true;
	}
	if (metric_check_summary(l, w) < 0 || w->sample_rate != t->sample_rate) {
		t->rejected++;
		return;
	}
	metric_flatten(l, w, t->x);
	trainer_band_add(t, TRAINED_ALL_HOURS);
	if (t->per_hour)
		trainer_band_add(t, (unsigned int)((w->start_ms / 3600000) % TRAINED_HOURS));
	for (f = 0; f < FEATURES; f++)
		for (i = 0; i < w->ntop[l->focus][f] && i < SAFEM_SUMMARY_TOP; i++) {
			const struct safem_top_value *v = &w->top[l->focus][f][i];
			double flows = (double)w->volume[l->focus].flows;
			struct share_pair share = {
				.packets = v->share,
				.flows = flows > 0 ? (double)v->counts.flows / flows : 0,
			};

			share_table_add(&t->shares.top[f], &v->value, 0, share);
		}
	for (s = 0; s < TREE_SIDES; s++)
		for (i = 0; i < w->nprefixes[s] && i < SAFEM_SUMMARY_TOP; i++) {
			struct share_pair share = {.packets = w->prefixes[s][i].share};

			share_table_add(&t->shares.prefix[s], (const void *)w->prefixes[s][i].addr,
					w->prefixes[s][i].len + 1, share);
		}
	t->windows++;
}

static void
profile_write_header(FILE *f, const struct safem_baseline_trainer *t)
{
	const struct metric_layout *l = &t->layout;
	unsigned int k, dir, first = 1;

	fprintf(f, "%s %d q=", PROFILE_MAGIC, PROFILE_VERSION);
	for (k = 0; k < l->nq; k++)
		fprintf(f, "%s%.17g", k ? "," : "", l->q[k]);
	fputs(" directions=", f);
	for (dir = 0; dir < DIRS; dir++)
		if (l->directions & (1u << dir)) {
			fprintf(f, "%s%s", first ? "" : ",", detect_direction_names[dir]);
			first = 0;
		}
	fprintf(f, " sample_rate=%u per_hour=%d windows=%llu\n", t->sample_rate,
		t->per_hour ? 1 : 0, (unsigned long long)t->windows);
	fputs("# band METRIC HOUR(all|0..23) MIN MAX WINDOWS\n"
	      "# top FEATURE VALUE MEAN_SHARE MEAN_FLOW_SHARE (direction: in, else all)\n"
	      "# prefix src|dst PREFIX MEAN_SHARE\n",
	      f);
}

int
safem_baseline_trainer_save(struct safem_baseline_trainer *t, const char *path)
{
	const struct metric_layout *l = &t->layout;
	struct safem_outfile *o;
	char name[96];
	unsigned int slot, m, f, s, i;
	FILE *f_out;

	if (t->windows == 0 || t->rejected > 0)
		return -EINVAL;
	o = safem_outfile_open(path, "w");
	if (o == NULL)
		return -errno;
	f_out = safem_outfile_stream(o);
	profile_write_header(f_out, t);
	for (slot = 0; slot < HOUR_SLOTS; slot++) {
		const double *lo = &t->lo[(size_t)slot * t->max_metrics];
		const double *hi = &t->hi[(size_t)slot * t->max_metrics];
		char hour[8];

		if (t->hour_windows[slot] == 0)
			continue;
		if (slot == TRAINED_ALL_HOURS)
			snprintf(hour, sizeof(hour), "all");
		else
			snprintf(hour, sizeof(hour), "%u", slot);
		for (m = 0; m < l->count; m++) {
			if (!metric_in_use(l, m))
				continue;
			metric_name(l, m, name, sizeof(name));
			fprintf(f_out, "band %s %s %.17g %.17g %llu\n", name, hour, lo[m], hi[m],
				(unsigned long long)t->hour_windows[slot]);
		}
	}
	for (f = 0; f < FEATURES; f++) {
		share_table_sort(&t->shares.top[f]);
		for (i = 0; i < t->shares.top[f].n && i < PROFILE_TOP_MAX; i++) {
			fprintf(f_out, "top %s ", detect_feature_names[f]);
			value_text(f_out, f, &t->shares.top[f].e[i].value, false);
			fprintf(f_out, " %.17g %.17g\n",
				t->shares.top[f].e[i].sum.packets / (double)t->windows,
				t->shares.top[f].e[i].sum.flows / (double)t->windows);
		}
	}
	for (s = 0; s < TREE_SIDES; s++) {
		share_table_sort(&t->shares.prefix[s]);
		for (i = 0; i < t->shares.prefix[s].n && i < PROFILE_TOP_MAX; i++) {
			fprintf(f_out, "prefix %s ", tree_sides[s]);
			prefix_text(f_out, &t->shares.prefix[s].e[i].value,
				    t->shares.prefix[s].e[i].len - 1, false);
			fprintf(f_out, " %.17g\n",
				t->shares.prefix[s].e[i].sum.packets / (double)t->windows);
		}
	}
	return safem_outfile_close(o, true);
}

/* ---- loading ---- */

struct profile_reader {
	const char *path;
	unsigned int line;
	char *err;
	size_t errlen;
};

static int
profile_error(const struct profile_reader *r, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r->err != NULL && r->errlen > 0)
		snprintf(r->err, r->errlen, "%s:%u: %s", r->path, r->line, msg);
	return -EINVAL;
}

static bool
parse_double(const char *s, double *v)
{
	char *end;

	if (s == NULL)
		return false;
	errno = 0;
	*v = strtod(s, &end);
	return errno == 0 && end != s && *end == '\0' && isfinite(*v);
}

static bool
parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (s == NULL || *s == '-')
		return false;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno == 0 && end != s && *end == '\0';
}

/* Address text (dotted quad, or IPv6) into the 16-byte form; v4 is v4-mapped. */
static bool
parse_address(const char *s, struct safem_feature_value *v, bool *v4)
{
	memset(v, 0, sizeof(*v));
	*v4 = inet_pton(AF_INET, s, v->bytes + 12) == 1;
	if (*v4) {
		v->bytes[10] = v->bytes[11] = 0xff;
		return true;
	}
	return inet_pton(AF_INET6, s, v->bytes) == 1;
}

static int
profile_header(struct profile_reader *r, const struct metric_layout *l, char *save,
	       struct baseline *b)
{
	char *tok, *version = strtok_r(NULL, " \t", &save);
	unsigned int dirs = 0, nq = 0;
	double q[SAFEM_SPECTRUM_Q_MAX];
	bool have_q = false, have_dirs = false;

	if (version == NULL || strcmp(version, "1") != 0)
		return profile_error(r, "format version '%s' not supported (want %d)",
				     version ? version : "", PROFILE_VERSION);
	while ((tok = strtok_r(NULL, " \t", &save)) != NULL) {
		char *value = strchr(tok, '='), *item, *isave;

		if (value == NULL)
			return profile_error(r, "header field '%s' is not key=value", tok);
		*value++ = '\0';
		if (strcmp(tok, "q") == 0) {
			have_q = true;
			for (item = strtok_r(value, ",", &isave); item;
			     item = strtok_r(NULL, ",", &isave)) {
				if (nq == SAFEM_SPECTRUM_Q_MAX || !parse_double(item, &q[nq]))
					return profile_error(r, "header field q: bad value '%s'",
							     item);
				nq++;
			}
		} else if (strcmp(tok, "directions") == 0) {
			have_dirs = true;
			for (item = strtok_r(value, ",", &isave); item;
			     item = strtok_r(NULL, ",", &isave)) {
				int d = detect_name_index(detect_direction_names, DIRS, item);

				if (d < 0)
					return profile_error(
						r, "header field directions: unknown '%s'", item);
				dirs |= 1u << d;
			}
		} else if (strcmp(tok, "per_hour") == 0) {
			b->per_hour = strcmp(value, "1") == 0;
		} else if (strcmp(tok, "sample_rate") == 0) {
			uint64_t rate;

			if (!parse_u64(value, &rate) || rate > UINT32_MAX)
				return profile_error(r, "header field sample_rate: bad value '%s'",
						     value);
			b->sample_rate = (unsigned int)rate;
		} else if (strcmp(tok, "windows") == 0) {
			if (!parse_u64(value, &b->trained_windows))
				return profile_error(r, "header field windows: bad value '%s'",
						     value);
		}
	}
	if (!have_q || !have_dirs)
		return profile_error(r, "header lacks %s", have_q ? "directions=" : "q=");
	if (nq != l->nq)
		return profile_error(r, "q set has %u values, the run uses %u", nq, l->nq);
	for (unsigned int k = 0; k < nq; k++)
		if (fabs(q[k] - l->q[k]) > Q_MATCH_TOLERANCE)
			return profile_error(r, "q set differs from the run's at q[%u] (%g vs %g)",
					     k, q[k], l->q[k]);
	if ((dirs | (1u << SAFEM_DIR_ALL)) != l->directions)
		return profile_error(r, "directions differ from the run's (home prefixes %s)",
				     (l->directions & (1u << SAFEM_DIR_IN)) ? "set in the run"
									    : "set in training");
	return 0;
}

static int
profile_band(struct profile_reader *r, const struct metric_layout *l, char *save,
	     struct baseline *b, bool *set, unsigned int *hint)
{
	char *name = strtok_r(NULL, " \t", &save), *hour = strtok_r(NULL, " \t", &save);
	char *min = strtok_r(NULL, " \t", &save), *max = strtok_r(NULL, " \t", &save);
	char *count = strtok_r(NULL, " \t", &save);
	double lo, hi;
	uint64_t windows, h;
	unsigned int slot;
	int m;

	if (count == NULL || strtok_r(NULL, " \t", &save) != NULL)
		return profile_error(r, "band: want 'band METRIC HOUR MIN MAX WINDOWS'");
	m = metric_find(l, name, *hint);
	if (m < 0 || !metric_in_use(l, (unsigned int)m))
		return profile_error(r, "band: unknown metric '%s'", name);
	*hint = (unsigned int)m + 1;
	if (strcmp(hour, "all") == 0)
		slot = TRAINED_ALL_HOURS;
	else if (parse_u64(hour, &h) && h < TRAINED_HOURS)
		slot = (unsigned int)h;
	else
		return profile_error(r, "band: field hour '%s' (all or 0..23)", hour);
	if (!parse_double(min, &lo))
		return profile_error(r, "band: field min '%s'", min);
	if (!parse_double(max, &hi) || hi < lo)
		return profile_error(r, "band: field max '%s' (a number >= min)", max);
	if (!parse_u64(count, &windows) || windows == 0)
		return profile_error(r, "band: field windows '%s'", count);
	b->lo[(size_t)slot * l->count + m] = lo;
	b->hi[(size_t)slot * l->count + m] = hi;
	set[(size_t)slot * l->count + m] = true;
	if (windows > b->hour_windows[slot])
		b->hour_windows[slot] = windows;
	return 0;
}

static int
profile_share(struct profile_reader *r, bool prefix, char *save, struct baseline *b)
{
	char *key = strtok_r(NULL, " \t", &save), *text = strtok_r(NULL, " \t", &save);
	char *share_text = strtok_r(NULL, " \t", &save), *slash;
	char *flow_text = prefix ? NULL : strtok_r(NULL, " \t", &save);
	struct share_pair share = {0, 0};
	struct safem_feature_value v;
	uint64_t port, len = 0;
	bool v4;
	int k;

	if (share_text == NULL || (!prefix && flow_text == NULL) ||
	    strtok_r(NULL, " \t", &save) != NULL)
		return profile_error(r, "%s: want '%s'", prefix ? "prefix" : "top",
				     prefix ? "prefix src|dst PREFIX SHARE"
					    : "top FEATURE VALUE SHARE FLOW_SHARE");
	if (!parse_double(share_text, &share.packets) || share.packets < 0 || share.packets > 1)
		return profile_error(r, "field share '%s' (0..1)", share_text);
	if (!prefix &&
	    (!parse_double(flow_text, &share.flows) || share.flows < 0 || share.flows > 1))
		return profile_error(r, "field flow_share '%s' (0..1)", flow_text);
	k = prefix ? detect_name_index(tree_sides, TREE_SIDES, key)
		   : detect_name_index(detect_feature_names, FEATURES, key);
	if (k < 0)
		return profile_error(r, "unknown %s '%s'", prefix ? "tree side" : "feature", key);
	if (!prefix && k >= SAFEM_FEATURE_SRC_PORT) {
		if (!parse_u64(text, &port) || port > 65535)
			return profile_error(r, "top: field value '%s' (a port)", text);
		memset(&v, 0, sizeof(v));
		v.bytes[14] = (uint8_t)(port >> 8);
		v.bytes[15] = (uint8_t)port;
		share_table_add(&b->trained.top[k], &v, 0, share);
		return 0;
	}
	slash = prefix ? strchr(text, '/') : NULL;
	if (slash != NULL)
		*slash = '\0';
	if ((prefix && (slash == NULL || !parse_u64(slash + 1, &len))) ||
	    !parse_address(text, &v, &v4) || len > (v4 ? 32u : 128u))
		return profile_error(r, "field value '%s' (an address%s)", text,
				     prefix ? "/length" : "");
	if (prefix)
		share_table_add(&b->trained.prefix[k], &v, (uint8_t)(len + (v4 ? 96 : 0) + 1),
				share);
	else
		share_table_add(&b->trained.top[k], &v, 0, share);
	return 0;
}

static int
profile_check_complete(struct profile_reader *r, const struct metric_layout *l,
		       struct baseline *b, const bool *set)
{
	char name[96];
	unsigned int slot, m;

	for (slot = 0; slot < HOUR_SLOTS; slot++) {
		if (slot != TRAINED_ALL_HOURS && b->hour_windows[slot] == 0)
			continue;
		for (m = 0; m < l->count; m++) {
			/* profiles written before the packet shares of the protocol classes
			 * existed have no band for them: those metrics are not judged (lo > hi),
			 * and the ICMP packet evidence (classify.c) needs a retrained profile */
			if (m >= l->proto_packet_base && !set[(size_t)slot * l->count + m]) {
				b->lo[(size_t)slot * l->count + m] = 1;
				b->hi[(size_t)slot * l->count + m] = 0;
				continue;
			}
			if (metric_in_use(l, m) && !set[(size_t)slot * l->count + m]) {
				metric_name(l, m, name, sizeof(name));
				return profile_error(r, "end of file: no band for %s hour %s", name,
						     slot == TRAINED_ALL_HOURS ? "all" : "");
			}
		}
	}
	return 0;
}

static int
profile_parse(struct profile_reader *r, FILE *f, const struct metric_layout *l, struct baseline *b,
	      bool *set)
{
	char *line = NULL, *save, *kind;
	size_t cap = 0;
	ssize_t got;
	bool header = false;
	unsigned int hint = 0;
	int rc = 0;

	while (rc == 0 && (got = getline(&line, &cap, f)) >= 0) {
		r->line++;
		while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
			line[--got] = '\0';
		kind = strtok_r(line, " \t", &save);
		if (kind == NULL || kind[0] == '#')
			continue;
		if (!header) {
			if (strcmp(kind, PROFILE_MAGIC) != 0)
				rc = profile_error(r, "not a baseline profile (want '%s 1 q=...')",
						   PROFILE_MAGIC);
			else
				rc = profile_header(r, l, save, b);
			header = true;
		} else if (strcmp(kind, "band") == 0) {
			rc = profile_band(r, l, save, b, set, &hint);
		} else if (strcmp(kind, "top") == 0) {
			rc = profile_share(r, false, save, b);
		} else if (strcmp(kind, "prefix") == 0) {
			rc = profile_share(r, true, save, b);
		} else {
			rc = profile_error(r, "unknown record '%s' (band, top, prefix)", kind);
		}
	}
	free(line);
	if (rc == 0 && ferror(f))
		rc = profile_error(r, "read error");
	if (rc == 0 && !header)
		rc = profile_error(r, "empty profile");
	if (rc == 0)
		rc = profile_check_complete(r, l, b, set);
	return rc;
}

int
profile_load(struct baseline *b, const struct metric_layout *l, const char *path, char *err,
	     size_t errlen)
{
	struct profile_reader r = {.path = path, .line = 0, .err = err, .errlen = errlen};
	bool *set;
	FILE *f;
	int rc;

	memset(b, 0, sizeof(*b));
	b->kind = SAFEM_BASELINE_TRAINED;
	b->metrics = l->count;
	b->lo = calloc((size_t)HOUR_SLOTS * l->count, sizeof(double));
	b->hi = calloc((size_t)HOUR_SLOTS * l->count, sizeof(double));
	set = calloc((size_t)HOUR_SLOTS * l->count, sizeof(bool));
	rc = share_tables_init(&b->trained, PROFILE_TOP_MAX);
	if (b->lo == NULL || b->hi == NULL || set == NULL || rc != 0) {
		free(set);
		if (err != NULL)
			snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	f = fopen(path, "r");
	if (f == NULL) {
		rc = -errno;
		if (err != NULL)
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		free(set);
		return rc;
	}
	rc = profile_parse(&r, f, l, b, set);
	fclose(f);
	free(set);
	return rc;
}
