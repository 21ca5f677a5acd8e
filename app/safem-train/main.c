/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * safem-train: train the window classifier (lib/classifier) from feature
 * files the probe wrote, and evaluate a model on held-out files
 * (docs/classifier.md, "Training").
 *
 *   safem-train [options] -o MODEL FEATURES...       grid search, train, write
 *   safem-train --model MODEL --test FEATURES...     evaluate a saved model
 *
 * Training: every window is labelled (by its LABEL, or by --labels ground
 * truth matched on start_ms), a C x gamma grid is searched by k-fold
 * cross-validation (on at most --grid-windows windows), the best point's CV
 * confusion matrix is printed, and the final probability C-SVC plus the
 * one-class SVM on the normal windows are trained on every window.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safem_classifier.h"
#include "train_input.h"

#define EXIT_RUNTIME 1 /* model could not be trained or written */
#define EXIT_USAGE 2   /* bad option or bad input */

/* A coarse default grid (log2): 3 x 3 points, < 1 min on ~5000 windows. */
#define DEFAULT_LOG2C "1,9,4"
#define DEFAULT_LOG2G "-11,-3,4"
#define DEFAULT_FOLDS 5U
#define DEFAULT_NU 0.01
#define DEFAULT_NORMAL "normal"
#define DEFAULT_GRID_WINDOWS 2000UL
#define DEFAULT_SEED 1U
/* The probe's --svm-min-probability default: held-out verdicts are counted at the
 * confidence the probe acts on. */
#define DEFAULT_HOLDOUT_MIN_PROBABILITY 0.8
#define GRID_MAX_POINTS 64
#define ERR_BYTES 512
#define SHORT_USAGE                                                                                \
	"usage: safem-train [options] -o MODEL FEATURES...\n"                                      \
	"       safem-train --model MODEL --test FEATURES...\n"

struct train_options {
	const char *output;
	const char *model;
	const char *labels_json;
	const char *labels_csv;
	const char *classes; /* comma list, NULL: from the data */
	const char *normal;
	double c, gamma; /* > 0: fixed, no grid search */
	double log2c[3], log2g[3];
	unsigned int folds;
	double nu;
	unsigned long grid_windows;
	unsigned int seed;
	const char **test;
	unsigned int ntest;
	const char **holdout;
	unsigned int nholdout;
	double holdout_min_probability;
};

static void
print_usage(FILE *out)
{
	fprintf(out,
		"%s"
		"Train the safem window classifier (C-SVC + one-class SVM, RBF) from feature\n"
		"files in libsvm text format: 'LABEL I:V ... # start_ms=S', LABEL a class name\n"
		"or an index into --classes (docs/classifier.md).\n"
		"\n"
		"  -o, --output MODEL   write the model bundle (complete or absent)\n"
		"  --labels FILE        ground truth JSON {\"windows\":[{\"start_ms\",\"end_ms\",\n"
		"                       \"class\"}...]}: a window's class is the one whose start\n"
		"                       equals (else whose span holds) its start_ms; LABEL "
		"ignored\n"
		"  --labels-csv FILE    ground truth as lines 'start_ms,class'\n"
		"  --classes A,B,...    class order (default: the normal class, then by name)\n"
		"  --normal-class NAME  class of normal windows (default %s)\n"
		"  --log2c B,E,S        C grid 2^B..2^E step 2^S (default %s)\n"
		"  --log2g B,E,S        gamma grid 2^B..2^E step 2^S (default %s)\n"
		"  --c C --gamma G      fixed C and gamma: no grid search\n"
		"  --folds K            cross-validation folds, >= 2 (default %u)\n"
		"  --grid-windows N     grid search on at most N windows, drawn at random\n"
		"                       (default %lu; the final model uses every window)\n"
		"  --nu NU              one-class SVM nu, 0 < NU <= 1 (default %g)\n"
		"  --seed N             random seed (default %u)\n"
		"  --holdout FILE       held-out feature file (repeat): never trained on; the\n"
		"                       model's per-class precision on it is measured and\n"
		"                       written into the bundle (the probe lets a class's SVM\n"
		"                       verdict alert alone only when it earns it)\n"
		"  --holdout-min-probability P\n"
		"                       count held-out verdicts of probability >= P (default "
		"%g)\n"
		"  --model MODEL        with --test: the model to evaluate\n"
		"  --test FILE          evaluate the model on held-out feature files (repeat);\n"
		"                       after training, the model just trained\n"
		"  -h, --help           this text\n"
		"\n"
		"Exit status: 0 done, 1 training or writing failed, 2 bad usage or input.\n",
		SHORT_USAGE, DEFAULT_NORMAL, DEFAULT_LOG2C, DEFAULT_LOG2G, DEFAULT_FOLDS,
		DEFAULT_GRID_WINDOWS, DEFAULT_NU, DEFAULT_SEED, DEFAULT_HOLDOUT_MIN_PROBABILITY);
}

static int __attribute__((format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "safem-train: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s(see --help)\n", SHORT_USAGE);
	return EXIT_USAGE;
}

static int
input_error(const char *msg)
{
	fprintf(stderr, "safem-train: %s\n", msg);
	return EXIT_USAGE;
}

static bool
parse_double(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return end != s && *end == '\0' && errno == 0 && isfinite(*out);
}

static bool
parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return *end == '\0' && errno == 0 && *out <= max;
}

/* "B,E,S": begin, end, step (log2), a non-empty range of at most GRID_MAX_POINTS. */
static bool
parse_range(const char *s, double r[3])
{
	char *end;
	int i;

	for (i = 0; i < 3; i++) {
		errno = 0;
		r[i] = strtod(s, &end);
		if (end == s || errno != 0 || !isfinite(r[i]) || *end != (i < 2 ? ',' : '\0'))
			return false;
		s = end + 1;
	}
	if (r[2] == 0 || (r[1] - r[0]) / r[2] < 0 || (r[1] - r[0]) / r[2] >= GRID_MAX_POINTS)
		return false;
	return fabs(r[0]) <= 30 && fabs(r[1]) <= 30;
}

static unsigned int
range_values(const double r[3], double *out)
{
	unsigned int n = 0;
	double e;

	for (e = r[0]; r[2] > 0 ? e <= r[1] + 1e-9 : e >= r[1] - 1e-9; e += r[2])
		out[n++] = exp2(e);
	return n;
}

/* 0 with optind at the first FEATURES file, -1 after --help, or EXIT_USAGE. */
static int
parse_options(int argc, char **argv, struct train_options *o)
{
	enum {
		OPT_LABELS = 256,
		OPT_LABELS_CSV,
		OPT_CLASSES,
		OPT_NORMAL,
		OPT_LOG2C,
		OPT_LOG2G,
		OPT_C,
		OPT_GAMMA,
		OPT_FOLDS,
		OPT_GRID_WINDOWS,
		OPT_NU,
		OPT_SEED,
		OPT_MODEL,
		OPT_TEST,
		OPT_HOLDOUT,
		OPT_HOLDOUT_MIN_PROBABILITY,
	};
	static const struct option long_options[] = {
		{"output", required_argument, NULL, 'o'},
		{"labels", required_argument, NULL, OPT_LABELS},
		{"labels-csv", required_argument, NULL, OPT_LABELS_CSV},
		{"classes", required_argument, NULL, OPT_CLASSES},
		{"normal-class", required_argument, NULL, OPT_NORMAL},
		{"log2c", required_argument, NULL, OPT_LOG2C},
		{"log2g", required_argument, NULL, OPT_LOG2G},
		{"c", required_argument, NULL, OPT_C},
		{"gamma", required_argument, NULL, OPT_GAMMA},
		{"folds", required_argument, NULL, OPT_FOLDS},
		{"grid-windows", required_argument, NULL, OPT_GRID_WINDOWS},
		{"nu", required_argument, NULL, OPT_NU},
		{"seed", required_argument, NULL, OPT_SEED},
		{"model", required_argument, NULL, OPT_MODEL},
		{"test", required_argument, NULL, OPT_TEST},
		{"holdout", required_argument, NULL, OPT_HOLDOUT},
		{"holdout-min-probability", required_argument, NULL, OPT_HOLDOUT_MIN_PROBABILITY},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	unsigned long v;
	int ch;

	memset(o, 0, sizeof(*o));
	o->normal = DEFAULT_NORMAL;
	o->folds = DEFAULT_FOLDS;
	o->nu = DEFAULT_NU;
	o->grid_windows = DEFAULT_GRID_WINDOWS;
	o->seed = DEFAULT_SEED;
	parse_range(DEFAULT_LOG2C, o->log2c);
	parse_range(DEFAULT_LOG2G, o->log2g);
	o->holdout_min_probability = DEFAULT_HOLDOUT_MIN_PROBABILITY;
	o->test = calloc((size_t)argc, sizeof(*o->test));
	o->holdout = calloc((size_t)argc, sizeof(*o->holdout));
	if (o->test == NULL || o->holdout == NULL)
		return EXIT_RUNTIME;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":ho:", long_options, NULL)) != -1) {
		switch (ch) {
		case 'o':
			o->output = optarg;
			break;
		case OPT_LABELS:
			o->labels_json = optarg;
			break;
		case OPT_LABELS_CSV:
			o->labels_csv = optarg;
			break;
		case OPT_CLASSES:
			o->classes = optarg;
			break;
		case OPT_NORMAL:
			o->normal = optarg;
			break;
		case OPT_LOG2C:
			if (!parse_range(optarg, o->log2c))
				return usage_error("--log2c '%s': expected BEGIN,END,STEP (log2, "
						   "|x| <= 30, at most %d points)",
						   optarg, GRID_MAX_POINTS);
			break;
		case OPT_LOG2G:
			if (!parse_range(optarg, o->log2g))
				return usage_error("--log2g '%s': expected BEGIN,END,STEP (log2, "
						   "|x| <= 30, at most %d points)",
						   optarg, GRID_MAX_POINTS);
			break;
		case OPT_C:
			if (!parse_double(optarg, &o->c) || !(o->c > 0))
				return usage_error("--c '%s': expected a number > 0", optarg);
			break;
		case OPT_GAMMA:
			if (!parse_double(optarg, &o->gamma) || !(o->gamma > 0))
				return usage_error("--gamma '%s': expected a number > 0", optarg);
			break;
		case OPT_FOLDS:
			if (!parse_ulong(optarg, 100, &v) || v < 2)
				return usage_error(
					"--folds '%s': expected a whole number in 2..100", optarg);
			o->folds = (unsigned int)v;
			break;
		case OPT_GRID_WINDOWS:
			if (!parse_ulong(optarg, 100000000UL, &v) || v < 2)
				return usage_error(
					"--grid-windows '%s': expected a whole number >= 2",
					optarg);
			o->grid_windows = v;
			break;
		case OPT_NU:
			if (!parse_double(optarg, &o->nu) || !(o->nu > 0) || !(o->nu <= 1))
				return usage_error("--nu '%s': expected 0 < NU <= 1", optarg);
			break;
		case OPT_SEED:
			if (!parse_ulong(optarg, 4294967295UL, &v))
				return usage_error("--seed '%s': expected a whole number", optarg);
			o->seed = (unsigned int)v;
			break;
		case OPT_MODEL:
			o->model = optarg;
			break;
		case OPT_TEST:
			o->test[o->ntest++] = optarg;
			break;
		case OPT_HOLDOUT:
			o->holdout[o->nholdout++] = optarg;
			break;
		case OPT_HOLDOUT_MIN_PROBABILITY:
			if (!parse_double(optarg, &o->holdout_min_probability) ||
			    !(o->holdout_min_probability > 0) || !(o->holdout_min_probability <= 1))
				return usage_error("--holdout-min-probability '%s': expected 0 < P "
						   "<= 1",
						   optarg);
			break;
		case 'h':
			print_usage(stdout);
			return -1;
		case ':':
			return usage_error("%s: needs a value", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if ((o->c > 0) != (o->gamma > 0))
		return usage_error("--c and --gamma go together");
	if (o->labels_json != NULL && o->labels_csv != NULL)
		return usage_error("--labels and --labels-csv: give one");
	if (optind < argc) {
		if (o->output == NULL)
			return usage_error("-o MODEL: needed to train");
		if (o->model != NULL)
			return usage_error("--model: only to evaluate (--test) without training");
	} else {
		if (o->ntest == 0)
			return usage_error("no FEATURES file given");
		if (o->model == NULL)
			return usage_error("--test without training needs --model MODEL");
		if (o->output != NULL)
			return usage_error("-o MODEL: no FEATURES file to train on");
		if (o->nholdout > 0)
			return usage_error("--holdout: only when training (FEATURES files)");
	}
	return 0;
}

/* ---- Classes ------------------------------------------------------------------- */

struct class_list {
	unsigned int n;
	char name[SAFEM_CLASSIFIER_CLASSES_MAX][SAFEM_CLASSIFIER_NAME_MAX];
	const char *ptr[SAFEM_CLASSIFIER_CLASSES_MAX];
};

static int
class_find(const struct class_list *c, const char *name)
{
	unsigned int i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->name[i], name) == 0)
			return (int)i;
	return -1;
}

static bool
class_add(struct class_list *c, const char *name)
{
	if (class_find(c, name) >= 0)
		return true;
	if (c->n == SAFEM_CLASSIFIER_CLASSES_MAX)
		return false;
	snprintf(c->name[c->n], sizeof(c->name[0]), "%s", name);
	c->ptr[c->n] = c->name[c->n];
	c->n++;
	return true;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* The class of sample i: its --labels truth, or its LABEL (an index into classes if numeric). */
static const char *
sample_class(const struct sample *s, const struct truth_set *truth,
	     const struct class_list *by_index, char *err, size_t errlen)
{
	unsigned long idx;

	if (truth->n > 0) {
		if (s->start_ms == NO_START_MS) {
			snprintf(err, errlen,
				 "%s:%lu: no 'start_ms=' comment to match the ground truth",
				 s->file, s->line);
			return NULL;
		}
		return truth_class(truth, s->start_ms);
	}
	if (by_index != NULL && parse_ulong(s->label, ULONG_MAX, &idx)) {
		if (idx >= by_index->n) {
			snprintf(err, errlen, "%s:%lu: class index %lu: there are %u classes",
				 s->file, s->line, idx, by_index->n);
			return NULL;
		}
		return by_index->name[idx];
	}
	return s->label;
}

/* ---- Reports -------------------------------------------------------------------- */

/* rows x cols matrix [true][predicted]; novel (per row) may be NULL. */
static void
print_confusion(const char *title, const char *const *rows, unsigned int nrows,
		const char *const *cols, unsigned int ncols, const uint64_t *m,
		const uint64_t *novel)
{
	uint64_t correct = 0, total = 0;
	unsigned int r, c;
	int w = 9;

	for (r = 0; r < nrows; r++)
		w = (int)fmax(w, (double)strlen(rows[r]) + 1);
	printf("%s (rows: true class, columns: predicted)\n%-*s", title, w, "");
	for (c = 0; c < ncols; c++)
		printf(" %10.10s", cols[c]);
	printf(" %8s %8s%s\n", "recall", "windows", novel != NULL ? "    novel" : "");
	for (r = 0; r < nrows; r++) {
		uint64_t row = 0;

		printf("%-*s", w, rows[r]);
		for (c = 0; c < ncols; c++) {
			printf(" %10" PRIu64, m[r * ncols + c]);
			row += m[r * ncols + c];
		}
		if (r < ncols && row > 0)
			printf(" %8.4f", (double)m[r * ncols + r] / (double)row);
		else
			printf(" %8s", "-");
		printf(" %8" PRIu64, row);
		if (novel != NULL)
			printf(" %8" PRIu64, novel[r]);
		printf("\n");
		if (r < ncols) {
			correct += m[r * ncols + r];
			total += row;
		}
	}
	printf("%-*s", w, "precision");
	for (c = 0; c < ncols; c++) {
		uint64_t col = 0;

		for (r = 0; r < nrows; r++)
			col += m[r * ncols + c];
		if (col > 0)
			printf(" %10.4f", (double)m[c * ncols + c] / (double)col);
		else
			printf(" %10s", "-");
	}
	printf("\naccuracy %.4f (%" PRIu64 "/%" PRIu64 ")\n",
	       total > 0 ? (double)correct / (double)total : 0.0, correct, total);
}

static void
report_point(const struct safem_classifier_cv_point *pt, void *ctx)
{
	(void)ctx;
	printf("grid: C 2^%g gamma 2^%g CV accuracy %.4f\n", log2(pt->c), log2(pt->gamma),
	       pt->accuracy);
	fflush(stdout);
}

/* ---- Training -------------------------------------------------------------------- */

struct labelled {
	size_t n;
	double *x;
	unsigned int *y;
};

static int
read_all(const struct train_options *o, char **files, int nfiles, struct sample_set *set,
	 struct truth_set *truth)
{
	char err[ERR_BYTES];
	int i;

	set->nfeatures = SAFEM_CLASSIFIER_FEATURES;
	for (i = 0; i < nfiles; i++)
		if (!samples_read(set, files[i], err, sizeof(err)))
			return input_error(err);
	if (o->labels_json != NULL && (!truth_read_json(truth, o->labels_json, err, sizeof(err)) ||
				       !truth_finish(truth, o->labels_json, err, sizeof(err))))
		return input_error(err);
	if (o->labels_csv != NULL && (!truth_read_csv(truth, o->labels_csv, err, sizeof(err)) ||
				      !truth_finish(truth, o->labels_csv, err, sizeof(err))))
		return input_error(err);
	return 0;
}

/* Classes from --classes, else the normal class then the others by name. */
static int
build_classes(const struct train_options *o, const struct sample_set *set,
	      const struct truth_set *truth, struct class_list *cl)
{
	char err[ERR_BYTES];
	size_t i;

	memset(cl, 0, sizeof(*cl));
	if (o->classes != NULL) {
		const char *p = o->classes;

		while (*p != '\0') {
			size_t n = strcspn(p, ",");
			char name[SAFEM_CLASSIFIER_NAME_MAX];

			if (n == 0 || n >= sizeof(name))
				return usage_error("--classes '%s': expected NAME,NAME,...",
						   o->classes);
			memcpy(name, p, n);
			name[n] = '\0';
			if (class_find(cl, name) >= 0 || !class_add(cl, name))
				return usage_error("--classes '%s': '%s' twice or more than %d "
						   "classes",
						   o->classes, name, SAFEM_CLASSIFIER_CLASSES_MAX);
			p += n + (p[n] == ',');
		}
		return 0;
	}
	class_add(cl, o->normal);
	for (i = 0; i < set->n; i++) {
		const char *name = sample_class(&set->s[i], truth, NULL, err, sizeof(err));

		if (name == NULL && err[0] != '\0')
			return input_error(err);
		if (name != NULL && !class_add(cl, name)) {
			snprintf(err, sizeof(err), "%s:%lu: more than %d classes", set->s[i].file,
				 set->s[i].line, SAFEM_CLASSIFIER_CLASSES_MAX);
			return input_error(err);
		}
		err[0] = '\0';
	}
	qsort(cl->name[1], cl->n - 1, sizeof(cl->name[0]), name_cmp);
	return 0;
}

/* Rows with a class (windows outside the ground truth skipped). */
static int
label_samples(const struct sample_set *set, const struct truth_set *truth,
	      const struct class_list *cl, bool numeric, struct labelled *out, size_t *skipped)
{
	char err[ERR_BYTES];
	size_t i;

	out->n = 0;
	*skipped = 0;
	out->x = set->x; /* rows compacted in place */
	out->y = calloc(set->n + 1, sizeof(*out->y));
	if (out->y == NULL)
		return EXIT_RUNTIME;
	for (i = 0; i < set->n; i++) {
		const char *name;
		int k;

		err[0] = '\0';
		name = sample_class(&set->s[i], truth, numeric ? cl : NULL, err, sizeof(err));
		if (name == NULL) {
			if (err[0] != '\0')
				return input_error(err);
			(*skipped)++;
			continue;
		}
		k = class_find(cl, name);
		if (k < 0) {
			snprintf(err, sizeof(err), "%s:%lu: class '%s' is not in --classes",
				 set->s[i].file, set->s[i].line, name);
			return input_error(err);
		}
		if (out->n != i)
			memmove(&out->x[out->n * set->nfeatures], &set->x[i * set->nfeatures],
				set->nfeatures * sizeof(double));
		out->y[out->n++] = (unsigned int)k;
	}
	return 0;
}

/* At most max rows, drawn at random (partial Fisher-Yates on row indices). */
static int
subsample(const struct labelled *all, unsigned int nfeatures, size_t max, unsigned int seed,
	  struct labelled *out)
{
	size_t *idx, i;
	uint64_t state = 0x9E3779B97F4A7C15ULL ^ seed;

	if (all->n <= max) {
		*out = *all;
		return 0;
	}
	idx = malloc(all->n * sizeof(*idx));
	out->x = malloc(max * nfeatures * sizeof(double));
	out->y = malloc(max * sizeof(*out->y));
	if (idx == NULL || out->x == NULL || out->y == NULL) {
		free(idx);
		return EXIT_RUNTIME;
	}
	for (i = 0; i < all->n; i++)
		idx[i] = i;
	for (i = 0; i < max; i++) {
		size_t j, t;

		state = state * 6364136223846793005ULL + 1442695040888963407ULL;
		j = i + (size_t)((state >> 33) % (all->n - i));
		t = idx[i];
		idx[i] = idx[j];
		idx[j] = t;
		memcpy(&out->x[i * nfeatures], &all->x[idx[i] * nfeatures],
		       nfeatures * sizeof(double));
		out->y[i] = all->y[idx[i]];
	}
	out->n = max;
	free(idx);
	return 0;
}

static int evaluate(const struct train_options *o, const char *model_path);
static int measure(const struct train_options *o, const struct safem_classifier *c,
		   const char **files, unsigned int nfiles, const char *title,
		   const char *model_path, double min_probability,
		   struct safem_classifier_holdout *h);

static int
train(const struct train_options *o, char **files, int nfiles)
{
	struct sample_set set = {0};
	struct truth_set truth = {0};
	struct class_list cl;
	struct labelled all = {0}, grid = {0};
	struct safem_classifier_train_params p;
	struct safem_classifier *model = NULL;
	const char *names[SAFEM_CLASSIFIER_FEATURES];
	uint64_t confusion[SAFEM_CLASSIFIER_CLASSES_MAX * SAFEM_CLASSIFIER_CLASSES_MAX];
	size_t counts[SAFEM_CLASSIFIER_CLASSES_MAX] = {0}, skipped, i;
	char err[ERR_BYTES];
	int rc, normal;
	unsigned int k, sv_c, sv_o;

	rc = read_all(o, files, nfiles, &set, &truth);
	if (rc == 0)
		rc = build_classes(o, &set, &truth, &cl);
	if (rc == 0)
		rc = label_samples(&set, &truth, &cl, o->classes != NULL, &all, &skipped);
	if (rc != 0)
		goto out;
	if (skipped > 0)
		fprintf(stderr, "safem-train: %zu windows outside the ground truth skipped\n",
			skipped);
	normal = class_find(&cl, o->normal);
	for (i = 0; i < all.n; i++)
		counts[all.y[i]]++;
	if (normal < 0 || counts[normal] == 0) {
		rc = usage_error("no window of the normal class '%s' (see --normal-class)",
				 o->normal);
		goto out;
	}
	for (k = 0; k < cl.n; k++)
		if (counts[k] == 0) {
			rc = usage_error("class '%s' has no window", cl.name[k]);
			goto out;
		}
	if (cl.n < 2) {
		rc = usage_error("only one class ('%s') in the input: nothing to tell apart",
				 cl.name[0]);
		goto out;
	}
	printf("windows %zu, features %u, classes %u:", all.n, set.nfeatures, cl.n);
	for (k = 0; k < cl.n; k++)
		printf(" %s=%zu", cl.name[k], counts[k]);
	printf("\n");
	for (k = 0; k < SAFEM_CLASSIFIER_FEATURES; k++)
		names[k] = safem_feature_name_at(k);
	p = (struct safem_classifier_train_params){
		.nfeatures = set.nfeatures,
		.feature_names = names,
		.nclasses = cl.n,
		.class_names = cl.ptr,
		.normal_class = (unsigned int)normal,
		.n = all.n,
		.x = all.x,
		.y = all.y,
		.c = o->c,
		.gamma = o->gamma,
		.nu = o->nu,
		.seed = o->seed,
	};
	if (o->c > 0 && o->folds <= all.n) {
		const double cv[1] = {o->c}, gv[1] = {o->gamma};
		struct safem_classifier_cv_point best;

		rc = safem_classifier_grid_search(&p, cv, 1, gv, 1, o->folds, &best, confusion,
						  NULL, NULL);
		if (rc == 0)
			print_confusion("cross-validation", cl.ptr, cl.n, cl.ptr, cl.n, confusion,
					NULL);
	} else if (o->c <= 0) {
		double cs[GRID_MAX_POINTS], gs[GRID_MAX_POINTS];
		unsigned int nc = range_values(o->log2c, cs), ng = range_values(o->log2g, gs);
		struct safem_classifier_cv_point best;
		struct safem_classifier_train_params gp = p;

		if (o->folds > all.n) {
			rc = usage_error("--folds %u: only %zu windows", o->folds, all.n);
			goto out;
		}
		rc = subsample(&all, set.nfeatures, o->grid_windows, o->seed, &grid);
		if (rc != 0)
			goto out;
		gp.n = grid.n;
		gp.x = grid.x;
		gp.y = grid.y;
		printf("grid search: %u x %u points, %u-fold cross-validation on %zu windows\n", nc,
		       ng, o->folds, grid.n);
		rc = safem_classifier_grid_search(&gp, cs, nc, gs, ng, o->folds, &best, confusion,
						  report_point, NULL);
		if (rc == 0) {
			printf("best: C %g gamma %g CV accuracy %.4f\n", best.c, best.gamma,
			       best.accuracy);
			print_confusion("cross-validation", cl.ptr, cl.n, cl.ptr, cl.n, confusion,
					NULL);
			p.c = best.c;
			p.gamma = best.gamma;
		}
	}
	if (rc != 0) {
		fprintf(stderr, "safem-train: cross-validation failed (%s)\n", strerror(-rc));
		rc = EXIT_RUNTIME;
		goto out;
	}
	model = safem_classifier_train(&p, err, sizeof(err));
	if (model == NULL) {
		fprintf(stderr, "safem-train: training failed: %s\n", err);
		rc = EXIT_RUNTIME;
		goto out;
	}
	if (o->nholdout > 0) {
		struct safem_classifier_holdout h;

		/* the model as shipped, on windows it never saw: its precision goes into it */
		rc = measure(o, model, o->holdout, o->nholdout, "held-out", "(just trained)",
			     o->holdout_min_probability, &h);
		if (rc == 0 && safem_classifier_set_holdout(model, &h) != 0)
			rc = EXIT_RUNTIME;
		if (rc != 0)
			goto out;
	}
	rc = safem_classifier_save(model, o->output);
	if (rc != 0) {
		fprintf(stderr, "safem-train: %s: %s\n", o->output, strerror(-rc));
		rc = EXIT_RUNTIME;
		goto out;
	}
	safem_classifier_support_vectors(model, &sv_c, &sv_o);
	printf("model %s: C %g gamma %g nu %g, %u + %u support vectors\n", o->output, p.c, p.gamma,
	       p.nu, sv_c, sv_o);
	fflush(stdout);
	if (o->ntest > 0)
		rc = evaluate(o, o->output);
out:
	if (grid.x != all.x) {
		free(grid.x);
		free(grid.y);
	}
	free(all.y);
	safem_classifier_free(model);
	samples_free(&set);
	truth_free(&truth);
	return rc;
}

/* ---- Evaluation ------------------------------------------------------------------- */

/*
 * Predict every labelled window of files with model c, print the confusion matrix under
 * title and, if h, count per class the verdicts of probability >= min_probability and how
 * many named the true class (a window of a class the model lacks: a wrong verdict).
 */
static int
measure(const struct train_options *o, const struct safem_classifier *c, const char **files,
	unsigned int nfiles, const char *title, const char *model_path, double min_probability,
	struct safem_classifier_holdout *h)
{
	struct sample_set set = {0};
	struct truth_set truth = {0};
	struct class_list model_classes = {0}, rows = {0};
	uint64_t *m = NULL, novel[SAFEM_CLASSIFIER_CLASSES_MAX * 2] = {0};
	char err[ERR_BYTES];
	size_t i, skipped = 0;
	unsigned int k, nc;
	int rc;

	nc = safem_classifier_classes(c);
	for (k = 0; k < nc; k++) {
		class_add(&model_classes, safem_classifier_class_name(c, k));
		class_add(&rows, safem_classifier_class_name(c, k));
	}
	if (h != NULL) {
		memset(h, 0, sizeof(*h));
		h->min_probability = min_probability;
	}
	rc = read_all(o, (char **)files, (int)nfiles, &set, &truth);
	if (rc != 0)
		goto out;
	m = calloc((size_t)SAFEM_CLASSIFIER_CLASSES_MAX * 2 * nc, sizeof(*m));
	if (m == NULL) {
		rc = EXIT_RUNTIME;
		goto out;
	}
	for (i = 0; i < set.n; i++) {
		struct safem_classifier_verdict v;
		const char *name;
		int r;

		err[0] = '\0';
		name = sample_class(&set.s[i], &truth, &model_classes, err, sizeof(err));
		if (name == NULL) {
			if (err[0] != '\0') {
				rc = input_error(err);
				goto out;
			}
			skipped++;
			continue;
		}
		/* A class the model never saw: a row of its own (novelty shows how it fares). */
		r = class_find(&rows, name);
		if (r < 0) {
			if (rows.n == SAFEM_CLASSIFIER_CLASSES_MAX) {
				snprintf(err, sizeof(err), "%s:%lu: too many classes",
					 set.s[i].file, set.s[i].line);
				rc = input_error(err);
				goto out;
			}
			class_add(&rows, name);
			r = (int)rows.n - 1;
		}
		safem_classifier_predict(c, &set.x[i * set.nfeatures], set.nfeatures, &v);
		m[(size_t)r * nc + v.class_index]++;
		novel[r] += v.novel;
		if (h != NULL) {
			h->windows++;
			if (v.probability >= min_probability) {
				h->predicted[v.class_index]++;
				h->correct[v.class_index] += (unsigned int)r == v.class_index;
			}
		}
	}
	if (skipped > 0)
		fprintf(stderr, "safem-train: %zu %s windows outside the ground truth skipped\n",
			skipped, title);
	printf("%s: %zu windows, model %s\n", title, set.n - skipped, model_path);
	print_confusion(title, rows.ptr, rows.n, model_classes.ptr, nc, m, novel);
	if (h != NULL) {
		printf("%s verdicts at probability >= %g (right/counted):", title,
		       min_probability);
		for (k = 0; k < nc; k++)
			printf(" %s=%" PRIu64 "/%" PRIu64, model_classes.name[k], h->correct[k],
			       h->predicted[k]);
		printf("\n");
	}
out:
	free(m);
	samples_free(&set);
	truth_free(&truth);
	return rc;
}

static int
evaluate(const struct train_options *o, const char *model_path)
{
	struct safem_classifier *c;
	char err[ERR_BYTES];
	int rc;

	c = safem_classifier_load(model_path, err, sizeof(err));
	if (c == NULL)
		return input_error(err);
	rc = measure(o, c, o->test, o->ntest, "test", model_path, 0, NULL);
	safem_classifier_free(c);
	return rc;
}

int
main(int argc, char **argv)
{
	struct train_options o;
	int rc = parse_options(argc, argv, &o);

	if (rc == 0)
		rc = optind < argc ? train(&o, &argv[optind], argc - optind)
				   : evaluate(&o, o.model);
	free(o.test);
	free(o.holdout);
	return rc < 0 ? 0 : rc;
}
