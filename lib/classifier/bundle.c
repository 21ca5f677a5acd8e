/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The model bundle (docs/classifier.md, "Model format"): one text file,
 *
 *   safem-model 1
 *   features N            then N lines  feature I NAME       (I from 1)
 *   classes K             then K lines  class I NAME         (I from 0)
 *   normal_class I
 *   holdout W P           (format 2) W held-out windows, verdicts counted at probability >= P
 *   then K lines          holdout_class I PREDICTED CORRECT   (I from 0)
 *   scale N               then N lines  scale I MIN MAX
 *   csvc                  then a libsvm model text (svm_type c_svc ... SV, total_sv lines)
 *   ocsvm                 then a libsvm model text (svm_type one_class ...)
 *   end
 *
 * Each embedded model is what svm_save_model would write, so it can be cut
 * out and used with svm-predict (after svm-scale with the table). Reading
 * checks every count, index and number itself and names PATH:LINE of the
 * first problem.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safem_outfile.h"

#include "classifier_private.h"

#define BUNDLE_MAGIC "safem-model"
#define BUNDLE_VERSION 2UL
/* Format 1 (no held-out precision) is still read: its SVM verdicts never alert alone. */
#define BUNDLE_VERSION_MIN 1UL
/* Bounds that keep a corrupt count from asking for an absurd allocation. */
#define MAX_SUPPORT_VECTORS 10000000UL
#define MAX_PAIRS (SAFEM_CLASSIFIER_CLASSES_MAX * (SAFEM_CLASSIFIER_CLASSES_MAX - 1) / 2)

bool
classifier_name_ok(const char *name)
{
	size_t i;

	if (name == NULL || name[0] == '\0')
		return false;
	for (i = 0; name[i] != '\0'; i++)
		if (i >= SAFEM_CLASSIFIER_NAME_MAX - 1 || !isgraph((unsigned char)name[i]))
			return false;
	return true;
}

/* ---- Writing ---------------------------------------------------------------- */

static void
write_svm_model(FILE *f, const struct svm_model *m)
{
	int pairs = m->nr_class * (m->nr_class - 1) / 2, i, k;
	const struct svm_node *n;

	fprintf(f, "svm_type %s\nkernel_type rbf\ngamma %.17g\nnr_class %d\ntotal_sv %d\nrho",
		m->param.svm_type == C_SVC ? "c_svc" : "one_class", m->param.gamma, m->nr_class,
		m->l);
	for (i = 0; i < pairs; i++)
		fprintf(f, " %.17g", m->rho[i]);
	fputc('\n', f);
	if (m->label != NULL) {
		fputs("label", f);
		for (i = 0; i < m->nr_class; i++)
			fprintf(f, " %d", m->label[i]);
		fputc('\n', f);
	}
	if (m->probA != NULL && m->probB != NULL) {
		fputs("probA", f);
		for (i = 0; i < pairs; i++)
			fprintf(f, " %.17g", m->probA[i]);
		fputs("\nprobB", f);
		for (i = 0; i < pairs; i++)
			fprintf(f, " %.17g", m->probB[i]);
		fputc('\n', f);
	}
	if (m->nSV != NULL) {
		fputs("nr_sv", f);
		for (i = 0; i < m->nr_class; i++)
			fprintf(f, " %d", m->nSV[i]);
		fputc('\n', f);
	}
	fputs("SV\n", f);
	for (i = 0; i < m->l; i++) {
		for (k = 0; k < m->nr_class - 1; k++)
			fprintf(f, "%.17g ", m->sv_coef[k][i]);
		for (n = m->SV[i]; n->index != -1; n++)
			fprintf(f, "%d:%.17g ", n->index, n->value);
		fputc('\n', f);
	}
}

int
safem_classifier_save(const struct safem_classifier *c, const char *path)
{
	struct safem_outfile *o;
	unsigned int i;
	FILE *f;

	if (c == NULL || path == NULL)
		return -EINVAL;
	o = safem_outfile_open(path, "w");
	if (o == NULL)
		return -errno;
	f = safem_outfile_stream(o);
	fprintf(f, "%s %lu\nfeatures %u\n", BUNDLE_MAGIC, BUNDLE_VERSION, c->nfeatures);
	for (i = 0; i < c->nfeatures; i++)
		fprintf(f, "feature %u %s\n", i + 1, c->feature_names[i]);
	fprintf(f, "classes %u\n", c->nclasses);
	for (i = 0; i < c->nclasses; i++)
		fprintf(f, "class %u %s\n", i, c->class_names[i]);
	fprintf(f, "normal_class %u\nholdout %llu %.17g\n", c->normal_class,
		(unsigned long long)c->holdout.windows, c->holdout.min_probability);
	for (i = 0; i < c->nclasses; i++)
		fprintf(f, "holdout_class %u %llu %llu\n", i,
			(unsigned long long)c->holdout.predicted[i],
			(unsigned long long)c->holdout.correct[i]);
	fprintf(f, "scale %u\n", c->nfeatures);
	for (i = 0; i < c->nfeatures; i++)
		fprintf(f, "scale %u %.17g %.17g\n", i + 1, c->scale_min[i], c->scale_max[i]);
	fputs("csvc\n", f);
	write_svm_model(f, c->csvc);
	fputs("ocsvm\n", f);
	write_svm_model(f, c->ocsvm);
	fputs("end\n", f);
	return safem_outfile_close(o, true);
}

/* ---- Reading ---------------------------------------------------------------- */

struct reader {
	FILE *f;
	const char *path;
	char *line;
	size_t cap;
	unsigned long lineno;
	char *err;
	size_t errlen;
	bool failed;
};

static void __attribute__((format(printf, 2, 3))) fail(struct reader *r, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (r->failed)
		return;
	r->failed = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	classifier_set_error(r->err, r->errlen, "%s:%lu: %s", r->path, r->lineno, msg);
}

/* The next line without its end, or NULL (and a failure) at the end of the file. */
static char *
next_line(struct reader *r, const char *expected)
{
	ssize_t len;

	if (r->failed)
		return NULL;
	len = getline(&r->line, &r->cap, r->f);
	if (len < 0) {
		r->lineno++;
		fail(r, "%s (expected %s)", ferror(r->f) ? "read error" : "truncated file",
		     expected);
		return NULL;
	}
	r->lineno++;
	while (len > 0 && (r->line[len - 1] == '\n' || r->line[len - 1] == '\r'))
		r->line[--len] = '\0';
	return r->line;
}

static const char *
skip_blank(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* An unsigned decimal number ending at a blank or the end; *s moves past it. */
static bool
take_ulong(const char **s, unsigned long max, unsigned long *out)
{
	const char *p = skip_blank(*s);
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)*p))
		return false;
	errno = 0;
	v = strtoul(p, &end, 10);
	if (errno != 0 || v > max || (*end != '\0' && *end != ' ' && *end != '\t' && *end != ':'))
		return false;
	*out = v;
	*s = end;
	return true;
}

static bool
take_double(const char **s, double *out)
{
	const char *p = skip_blank(*s);
	char *end;
	double v;

	if (*p == '\0')
		return false;
	errno = 0;
	v = strtod(p, &end);
	if (end == p || errno == ERANGE || !isfinite(v) ||
	    (*end != '\0' && *end != ' ' && *end != '\t'))
		return false;
	*out = v;
	*s = end;
	return true;
}

static bool
at_end(const char *s)
{
	return *skip_blank(s) == '\0';
}

/* "KEY" then the rest: s past KEY and a blank, or NULL. */
static const char *
after_key(const char *line, const char *key)
{
	size_t n = strlen(key);

	if (strncmp(line, key, n) != 0 || (line[n] != '\0' && line[n] != ' ' && line[n] != '\t'))
		return NULL;
	return line + n;
}

/* A line "KEY N" with N <= max. */
static bool
read_count(struct reader *r, const char *key, unsigned long max, unsigned long *out)
{
	const char *line = next_line(r, key), *s;

	if (line == NULL)
		return false;
	s = after_key(line, key);
	if (s == NULL || !take_ulong(&s, max, out) || !at_end(s)) {
		fail(r, "expected '%s N' (N <= %lu)", key, max);
		return false;
	}
	return true;
}

/* A line "KEY I NAME" with I the expected index; the name copied to out. */
static bool
read_named(struct reader *r, const char *key, unsigned long index, char *out)
{
	const char *line = next_line(r, key), *s;
	unsigned long i;
	size_t n;

	if (line == NULL)
		return false;
	s = after_key(line, key);
	if (s == NULL || !take_ulong(&s, ULONG_MAX, &i) || i != index) {
		fail(r, "expected '%s %lu NAME'", key, index);
		return false;
	}
	s = skip_blank(s);
	n = strcspn(s, " \t");
	if (n == 0 || n >= SAFEM_CLASSIFIER_NAME_MAX || !at_end(s + n)) {
		fail(r, "%s %lu: expected one name of 1..%d characters", key, index,
		     SAFEM_CLASSIFIER_NAME_MAX - 1);
		return false;
	}
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

static bool
read_doubles(struct reader *r, const char *s, const char *key, int n, double *out)
{
	int i;

	for (i = 0; i < n; i++)
		if (!take_double(&s, &out[i])) {
			fail(r, "%s: expected %d finite numbers", key, n);
			return false;
		}
	if (!at_end(s)) {
		fail(r, "%s: more than %d values", key, n);
		return false;
	}
	return true;
}

static bool
read_ints(struct reader *r, const char *s, const char *key, int n, unsigned long max, int *out)
{
	unsigned long v;
	int i;

	for (i = 0; i < n; i++) {
		if (!take_ulong(&s, max, &v)) {
			fail(r, "%s: expected %d whole numbers <= %lu", key, n, max);
			return false;
		}
		out[i] = (int)v;
	}
	if (!at_end(s)) {
		fail(r, "%s: more than %d values", key, n);
		return false;
	}
	return true;
}

/* The header of an embedded libsvm model, up to its "SV" line. */
struct svm_header {
	int svm_type;
	double gamma;
	int nr_class;
	int l;
	double rho[MAX_PAIRS];
	int label[SAFEM_CLASSIFIER_CLASSES_MAX];
	double prob_a[MAX_PAIRS];
	double prob_b[MAX_PAIRS];
	int nsv[SAFEM_CLASSIFIER_CLASSES_MAX];
	bool has_rho, has_label, has_prob_a, has_prob_b, has_nsv;
};

static bool
read_svm_header(struct reader *r, bool classification, unsigned int nclasses, struct svm_header *h)
{
	const char *type = classification ? "c_svc" : "one_class";
	const char *line, *s;
	unsigned long v;
	int pairs, i;
	long sum = 0;

	memset(h, 0, sizeof(*h));
	h->svm_type = classification ? C_SVC : ONE_CLASS;
	line = next_line(r, "svm_type");
	if (line == NULL)
		return false;
	s = after_key(line, "svm_type");
	if (s == NULL || strcmp(skip_blank(s), type) != 0) {
		fail(r, "expected 'svm_type %s'", type);
		return false;
	}
	line = next_line(r, "kernel_type");
	if (line == NULL)
		return false;
	s = after_key(line, "kernel_type");
	if (s == NULL || strcmp(skip_blank(s), "rbf") != 0) {
		fail(r, "expected 'kernel_type rbf'");
		return false;
	}
	line = next_line(r, "gamma");
	if (line == NULL)
		return false;
	s = after_key(line, "gamma");
	if (s == NULL || !take_double(&s, &h->gamma) || !(h->gamma > 0) || !at_end(s)) {
		fail(r, "expected 'gamma G' with G > 0");
		return false;
	}
	if (!read_count(r, "nr_class", SAFEM_CLASSIFIER_CLASSES_MAX, &v))
		return false;
	if (v != (classification ? nclasses : 2)) {
		fail(r, "nr_class %lu: expected %u", v, classification ? nclasses : 2);
		return false;
	}
	h->nr_class = (int)v;
	if (!read_count(r, "total_sv", MAX_SUPPORT_VECTORS, &v))
		return false;
	if (v == 0) {
		fail(r, "total_sv 0: a model has support vectors");
		return false;
	}
	h->l = (int)v;
	pairs = h->nr_class * (h->nr_class - 1) / 2;
	for (;;) {
		line = next_line(r, "SV");
		if (line == NULL)
			return false;
		if (strcmp(line, "SV") == 0)
			break;
		if ((s = after_key(line, "rho")) != NULL && !h->has_rho)
			h->has_rho = read_doubles(r, s, "rho", pairs, h->rho);
		else if ((s = after_key(line, "label")) != NULL && classification && !h->has_label)
			h->has_label = read_ints(r, s, "label", h->nr_class,
						 (unsigned long)nclasses - 1, h->label);
		else if ((s = after_key(line, "probA")) != NULL && classification && !h->has_prob_a)
			h->has_prob_a = read_doubles(r, s, "probA", pairs, h->prob_a);
		else if ((s = after_key(line, "probB")) != NULL && classification && !h->has_prob_b)
			h->has_prob_b = read_doubles(r, s, "probB", pairs, h->prob_b);
		else if ((s = after_key(line, "nr_sv")) != NULL && classification && !h->has_nsv)
			h->has_nsv =
				read_ints(r, s, "nr_sv", h->nr_class, MAX_SUPPORT_VECTORS, h->nsv);
		else
			fail(r, "unexpected line in the %s model header", type);
		if (r->failed)
			return false;
	}
	if (!h->has_rho ||
	    (classification && !(h->has_label && h->has_prob_a && h->has_prob_b && h->has_nsv))) {
		fail(r, "%s model header lacks %s", type,
		     classification ? "rho, label, probA, probB or nr_sv" : "rho");
		return false;
	}
	if (classification) {
		bool seen[SAFEM_CLASSIFIER_CLASSES_MAX] = {false};

		for (i = 0; i < h->nr_class; i++) {
			if (seen[h->label[i]]) {
				fail(r, "label %d appears twice", h->label[i]);
				return false;
			}
			seen[h->label[i]] = true;
			sum += h->nsv[i];
		}
		if (sum != h->l) {
			fail(r, "nr_sv adds up to %ld, total_sv is %d", sum, h->l);
			return false;
		}
	}
	return true;
}

/* The total_sv lines after "SV": coefficients, then ascending INDEX:VALUE pairs. */
static struct svm_model *
read_svm_model(struct reader *r, bool classification, unsigned int nclasses, unsigned int nfeatures)
{
	struct svm_header h;
	struct svm_model *m = NULL;
	struct svm_node *nodes = NULL;
	size_t nnodes = 0, cap = 0, *start = NULL;
	double *coef = NULL;
	int i, k, pairs;

	if (!read_svm_header(r, classification, nclasses, &h))
		return NULL;
	start = calloc((size_t)h.l, sizeof(*start));
	coef = calloc((size_t)h.l * (size_t)(h.nr_class - 1), sizeof(*coef));
	if (start == NULL || coef == NULL)
		goto nomem;
	for (i = 0; i < h.l; i++) {
		const char *s = next_line(r, "a support vector");
		unsigned long prev = 0, idx;

		if (s == NULL)
			goto out;
		for (k = 0; k < h.nr_class - 1; k++)
			if (!take_double(&s, &coef[(size_t)k * (size_t)h.l + (size_t)i])) {
				fail(r, "support vector %d: expected %d coefficients", i + 1,
				     h.nr_class - 1);
				goto out;
			}
		start[i] = nnodes;
		for (;;) {
			if (nnodes + 1 >= cap) {
				size_t ncap = cap == 0 ? 4096 : cap * 2;
				struct svm_node *nn = realloc(nodes, ncap * sizeof(*nodes));

				if (nn == NULL)
					goto nomem;
				nodes = nn;
				cap = ncap;
			}
			if (at_end(s))
				break;
			if (!take_ulong(&s, nfeatures, &idx) || idx <= prev || *s != ':') {
				fail(r,
				     "support vector %d: expected ascending INDEX:VALUE with "
				     "INDEX in 1..%u",
				     i + 1, nfeatures);
				goto out;
			}
			s++;
			if (*s == ' ' || *s == '\t' || !take_double(&s, &nodes[nnodes].value)) {
				fail(r, "support vector %d: feature %lu: expected a finite number",
				     i + 1, idx);
				goto out;
			}
			nodes[nnodes++].index = (int)idx;
			prev = idx;
		}
		nodes[nnodes].index = -1;
		nodes[nnodes++].value = 0.0;
	}
	m = model_alloc(h.svm_type, h.gamma, h.nr_class, h.l, nnodes, classification,
			classification);
	if (m == NULL)
		goto nomem;
	memcpy(m->SV[0], nodes, nnodes * sizeof(*nodes));
	for (i = 0; i < h.l; i++)
		m->SV[i] = &m->SV[0][start[i]];
	for (k = 0; k < h.nr_class - 1; k++)
		memcpy(m->sv_coef[k], &coef[(size_t)k * (size_t)h.l], (size_t)h.l * sizeof(double));
	pairs = h.nr_class * (h.nr_class - 1) / 2;
	memcpy(m->rho, h.rho, (size_t)pairs * sizeof(double));
	if (classification) {
		memcpy(m->label, h.label, (size_t)h.nr_class * sizeof(int));
		memcpy(m->nSV, h.nsv, (size_t)h.nr_class * sizeof(int));
		memcpy(m->probA, h.prob_a, (size_t)pairs * sizeof(double));
		memcpy(m->probB, h.prob_b, (size_t)pairs * sizeof(double));
	}
	goto out;
nomem:
	fail(r, "out of memory");
	errno = ENOMEM;
out:
	free(start);
	free(coef);
	free(nodes);
	return m;
}

static bool
read_keyword(struct reader *r, const char *key)
{
	const char *line = next_line(r, key);

	if (line == NULL)
		return false;
	if (strcmp(line, key) != 0) {
		fail(r, "expected '%s'", key);
		return false;
	}
	return true;
}

/* "holdout W P" then "holdout_class I PREDICTED CORRECT" per class (format 2). */
static bool
read_holdout(struct reader *r, struct safem_classifier *c)
{
	struct safem_classifier_holdout h = {0};
	const char *line = next_line(r, "holdout"), *s, *bad;
	unsigned long v, i, predicted, correct;

	if (line == NULL)
		return false;
	s = after_key(line, "holdout");
	if (s == NULL || !take_ulong(&s, ULONG_MAX, &v) || !take_double(&s, &h.min_probability) ||
	    !at_end(s)) {
		fail(r, "expected 'holdout WINDOWS MIN_PROBABILITY'");
		return false;
	}
	h.windows = v;
	for (i = 0; i < c->nclasses; i++) {
		line = next_line(r, "holdout_class");
		if (line == NULL)
			return false;
		s = after_key(line, "holdout_class");
		if (s == NULL || !take_ulong(&s, ULONG_MAX, &v) || v != i) {
			fail(r, "expected 'holdout_class %lu PREDICTED CORRECT'", i);
			return false;
		}
		if (!take_ulong(&s, ULONG_MAX, &predicted) || !take_ulong(&s, ULONG_MAX, &correct) ||
		    !at_end(s)) {
			fail(r, "holdout_class %lu: expected two whole numbers", i);
			return false;
		}
		h.predicted[i] = predicted;
		h.correct[i] = correct;
	}
	bad = classifier_holdout_invalid(&h, c->nclasses);
	if (bad != NULL) {
		fail(r, "held-out figures: %s", bad);
		return false;
	}
	c->holdout = h;
	return true;
}

/* Every part of the bundle, in order; false with r->err set. */
static struct safem_classifier *
read_bundle(struct reader *r, const char *const *names, unsigned int expected_features)
{
	struct safem_classifier *c = NULL;
	unsigned long nfeatures, nclasses, normal, v, version;
	const char *line, *s;
	unsigned long i;

	line = next_line(r, "'" BUNDLE_MAGIC " 1'");
	if (line == NULL)
		return NULL;
	s = after_key(line, BUNDLE_MAGIC);
	if (s == NULL || !take_ulong(&s, ULONG_MAX, &v) || !at_end(s)) {
		fail(r, "not a safem model (expected '%s %lu')", BUNDLE_MAGIC, BUNDLE_VERSION);
		return NULL;
	}
	if (v < BUNDLE_VERSION_MIN || v > BUNDLE_VERSION) {
		fail(r, "model format version %lu, this program reads %lu..%lu", v,
		     BUNDLE_VERSION_MIN, BUNDLE_VERSION);
		return NULL;
	}
	version = v;
	if (!read_count(r, "features", SAFEM_CLASSIFIER_FEATURES_MAX, &nfeatures))
		return NULL;
	if (nfeatures == 0) {
		fail(r, "features 0");
		return NULL;
	}
	if (names != NULL && nfeatures != expected_features) {
		fail(r,
		     "the model has %lu features, this program's layout has %u (model built "
		     "for another feature layout)",
		     nfeatures, expected_features);
		return NULL;
	}
	/* Classes come later; allocate for the largest count and fix it below. */
	c = classifier_alloc((unsigned int)nfeatures, SAFEM_CLASSIFIER_CLASSES_MAX);
	if (c == NULL) {
		fail(r, "out of memory");
		return NULL;
	}
	for (i = 0; i < nfeatures; i++) {
		if (!read_named(r, "feature", i + 1, c->feature_names[i]))
			goto fail;
		if (names != NULL && strcmp(c->feature_names[i], names[i]) != 0) {
			fail(r,
			     "feature %lu is '%s' in the model, '%s' in this program's layout "
			     "(model built for another feature layout)",
			     i + 1, c->feature_names[i], names[i]);
			goto fail;
		}
	}
	if (!read_count(r, "classes", SAFEM_CLASSIFIER_CLASSES_MAX, &nclasses))
		goto fail;
	if (nclasses < 2) {
		fail(r, "classes %lu: expected 2..%d", nclasses, SAFEM_CLASSIFIER_CLASSES_MAX);
		goto fail;
	}
	c->nclasses = (unsigned int)nclasses;
	for (i = 0; i < nclasses; i++)
		if (!read_named(r, "class", i, c->class_names[i]))
			goto fail;
	if (!read_count(r, "normal_class", nclasses - 1, &normal))
		goto fail;
	c->normal_class = (unsigned int)normal;
	if (version >= 2 && !read_holdout(r, c))
		goto fail;
	if (!read_count(r, "scale", nfeatures, &v))
		goto fail;
	if (v != nfeatures) {
		fail(r, "scale %lu: expected %lu (one row per feature)", v, nfeatures);
		goto fail;
	}
	for (i = 0; i < nfeatures; i++) {
		line = next_line(r, "a scale row");
		if (line == NULL)
			goto fail;
		s = after_key(line, "scale");
		if (s == NULL || !take_ulong(&s, ULONG_MAX, &v) || v != i + 1 ||
		    !take_double(&s, &c->scale_min[i]) || !take_double(&s, &c->scale_max[i]) ||
		    !at_end(s) || c->scale_min[i] > c->scale_max[i]) {
			fail(r, "expected 'scale %lu MIN MAX' with MIN <= MAX", i + 1);
			goto fail;
		}
	}
	if (!read_keyword(r, "csvc"))
		goto fail;
	c->csvc = read_svm_model(r, true, c->nclasses, c->nfeatures);
	if (c->csvc == NULL || !read_keyword(r, "ocsvm"))
		goto fail;
	c->ocsvm = read_svm_model(r, false, c->nclasses, c->nfeatures);
	if (c->ocsvm == NULL || !read_keyword(r, "end"))
		goto fail;
	while (getline(&r->line, &r->cap, r->f) >= 0) {
		r->lineno++;
		if (strspn(r->line, " \t\r\n") != strlen(r->line)) {
			fail(r, "text after 'end'");
			goto fail;
		}
	}
	if (ferror(r->f)) {
		fail(r, "read error");
		goto fail;
	}
	return c;
fail:
	safem_classifier_free(c);
	return NULL;
}

struct safem_classifier *
safem_classifier_load_layout(const char *path, const char *const *names, unsigned int nfeatures,
			     char *err, size_t errlen)
{
	struct reader r = {.path = path, .err = err, .errlen = errlen};
	struct safem_classifier *c;

	classifier_set_error(err, errlen, "%s", "");
	if (path == NULL) {
		classifier_set_error(err, errlen, "no model path");
		errno = EINVAL;
		return NULL;
	}
	r.f = fopen(path, "r");
	if (r.f == NULL) {
		int e = errno;

		classifier_set_error(err, errlen, "%s: %s", path, strerror(e));
		errno = e;
		return NULL;
	}
	errno = 0;
	c = read_bundle(&r, names, nfeatures);
	free(r.line);
	fclose(r.f);
	if (c == NULL && errno != ENOMEM)
		errno = EINVAL;
	return c;
}

struct safem_classifier *
safem_classifier_load(const char *path, char *err, size_t errlen)
{
	const char *names[SAFEM_CLASSIFIER_FEATURES];
	unsigned int i;

	for (i = 0; i < SAFEM_CLASSIFIER_FEATURES; i++)
		names[i] = safem_feature_name_at(i);
	return safem_classifier_load_layout(path, names, SAFEM_CLASSIFIER_FEATURES, err, errlen);
}
