/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The classifier: scaling, the two libsvm models, prediction and the model
 * bundle (format in docs/classifier.md).
 *
 * Every svm_model this library holds is built by it (model_alloc): copied
 * from what svm_train returned, or parsed from a bundle. The allocation
 * mirrors svm_load_model's (SV[0] is one block of all nodes, free_sv = 1),
 * so svm_free_and_destroy_model would free it too, but model_free does it
 * here. Owning the parse means a corrupt file is rejected with a message
 * instead of reaching libsvm's parser, which prints, leaks or crashes on some
 * bad inputs. Numbers are written with %.17g, so a saved model predicts
 * exactly as the trained one (svm_save_model writes support vectors with
 * %.8g).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier_private.h"

/* libsvm's defaults (svm-train): kernel cache and stopping tolerance. */
#define SVM_CACHE_MB 100.0
#define SVM_EPS 1e-3
/* Features whose training range is below this are constant: scaled to 0. */
#define CONSTANT_RANGE 1e-12

void
classifier_set_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void
print_nothing(const char *s)
{
	(void)s;
}

void
classifier_quiet_libsvm(void)
{
	svm_set_print_string_function(print_nothing);
}

/* ---- svm_model ownership ------------------------------------------------- */

void
model_free(struct svm_model *m)
{
	int i;

	if (m == NULL)
		return;
	if (m->SV != NULL)
		free(m->SV[0]);
	if (m->sv_coef != NULL)
		for (i = 0; i < m->nr_class - 1; i++)
			free(m->sv_coef[i]);
	free(m->SV);
	free(m->sv_coef);
	free(m->rho);
	free(m->label);
	free(m->probA);
	free(m->probB);
	free(m->sv_indices);
	free(m->nSV);
	free(m);
}

/*
 * An empty model of this shape: nodes (terminators included) in SV[0],
 * SV[i] not yet set. classification: label and nSV; probability: probA/B.
 */
struct svm_model *
model_alloc(int svm_type, double gamma, int nr_class, int l, size_t nodes, bool classification,
	    bool probability)
{
	struct svm_model *m = calloc(1, sizeof(*m));
	int pairs = nr_class * (nr_class - 1) / 2, i;
	bool ok;

	if (m == NULL)
		return NULL;
	m->param.svm_type = svm_type;
	m->param.kernel_type = RBF;
	m->param.gamma = gamma;
	m->nr_class = nr_class;
	m->l = l;
	m->free_sv = 1;
	m->SV = calloc((size_t)l, sizeof(*m->SV));
	m->sv_coef = calloc((size_t)(nr_class - 1), sizeof(*m->sv_coef));
	m->rho = calloc((size_t)pairs, sizeof(*m->rho));
	ok = m->SV != NULL && m->sv_coef != NULL && m->rho != NULL;
	if (ok)
		m->SV[0] = calloc(nodes, sizeof(struct svm_node));
	ok = ok && m->SV[0] != NULL;
	for (i = 0; ok && i < nr_class - 1; i++) {
		m->sv_coef[i] = calloc((size_t)l, sizeof(double));
		ok = m->sv_coef[i] != NULL;
	}
	if (ok && classification) {
		m->label = calloc((size_t)nr_class, sizeof(int));
		m->nSV = calloc((size_t)nr_class, sizeof(int));
		ok = m->label != NULL && m->nSV != NULL;
	}
	if (ok && probability) {
		m->probA = calloc((size_t)pairs, sizeof(double));
		m->probB = calloc((size_t)pairs, sizeof(double));
		ok = m->probA != NULL && m->probB != NULL;
	}
	if (!ok) {
		model_free(m);
		errno = ENOMEM;
		return NULL;
	}
	return m;
}

/* Our own copy of a model svm_train returned (whose SVs point into the problem). */
static struct svm_model *
model_copy(const struct svm_model *t)
{
	int pairs = t->nr_class * (t->nr_class - 1) / 2, i, k;
	size_t nodes = 0, pos = 0;
	struct svm_model *m;
	const struct svm_node *n;

	for (i = 0; i < t->l; i++) {
		for (n = t->SV[i]; n->index != -1; n++)
			nodes++;
		nodes++;
	}
	m = model_alloc(t->param.svm_type, t->param.gamma, t->nr_class, t->l, nodes,
			t->label != NULL, t->probA != NULL && t->probB != NULL);
	if (m == NULL)
		return NULL;
	for (i = 0; i < t->l; i++) {
		m->SV[i] = &m->SV[0][pos];
		for (n = t->SV[i];; n++) {
			m->SV[0][pos++] = *n;
			if (n->index == -1)
				break;
		}
	}
	for (k = 0; k < t->nr_class - 1; k++)
		memcpy(m->sv_coef[k], t->sv_coef[k], (size_t)t->l * sizeof(double));
	memcpy(m->rho, t->rho, (size_t)pairs * sizeof(double));
	if (m->label != NULL) {
		memcpy(m->label, t->label, (size_t)t->nr_class * sizeof(int));
		memcpy(m->nSV, t->nSV, (size_t)t->nr_class * sizeof(int));
	}
	if (m->probA != NULL) {
		memcpy(m->probA, t->probA, (size_t)pairs * sizeof(double));
		memcpy(m->probB, t->probB, (size_t)pairs * sizeof(double));
	}
	return m;
}

/* ---- Classifier object ------------------------------------------------------ */

struct safem_classifier *
classifier_alloc(unsigned int nfeatures, unsigned int nclasses)
{
	struct safem_classifier *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->nfeatures = nfeatures;
	c->nclasses = nclasses;
	c->feature_names = calloc(nfeatures, sizeof(*c->feature_names));
	c->scale_min = calloc(nfeatures, sizeof(double));
	c->scale_max = calloc(nfeatures, sizeof(double));
	if (c->feature_names == NULL || c->scale_min == NULL || c->scale_max == NULL) {
		safem_classifier_free(c);
		errno = ENOMEM;
		return NULL;
	}
	return c;
}

void
safem_classifier_free(struct safem_classifier *c)
{
	if (c == NULL)
		return;
	model_free(c->csvc);
	model_free(c->ocsvm);
	free(c->feature_names);
	free(c->scale_min);
	free(c->scale_max);
	free(c);
}

const char *
classifier_holdout_invalid(const struct safem_classifier_holdout *h, unsigned int nclasses)
{
	uint64_t sum = 0;
	unsigned int k;

	if (h->windows > 0 && !(h->min_probability > 0 && h->min_probability <= 1))
		return "min_probability (0 < p <= 1)";
	for (k = 0; k < SAFEM_CLASSIFIER_CLASSES_MAX; k++) {
		if (h->correct[k] > h->predicted[k])
			return "a class with more correct than counted verdicts";
		if (k >= nclasses && h->predicted[k] != 0)
			return "verdicts for a class the model does not have";
		if (h->predicted[k] > h->windows - sum)
			return "more verdicts than held-out windows";
		sum += h->predicted[k];
	}
	return NULL;
}

int
safem_classifier_set_holdout(struct safem_classifier *c, const struct safem_classifier_holdout *h)
{
	if (c == NULL || h == NULL || classifier_holdout_invalid(h, c->nclasses) != NULL)
		return -EINVAL;
	c->holdout = *h;
	return 0;
}

void
safem_classifier_get_holdout(const struct safem_classifier *c, struct safem_classifier_holdout *h)
{
	memset(h, 0, sizeof(*h));
	if (c != NULL)
		*h = c->holdout;
}

unsigned int
safem_classifier_features(const struct safem_classifier *c)
{
	return c->nfeatures;
}

unsigned int
safem_classifier_classes(const struct safem_classifier *c)
{
	return c->nclasses;
}

const char *
safem_classifier_class_name(const struct safem_classifier *c, unsigned int i)
{
	return i < c->nclasses ? c->class_names[i] : NULL;
}

int
safem_classifier_class_index(const struct safem_classifier *c, const char *name)
{
	unsigned int i;

	for (i = 0; i < c->nclasses; i++)
		if (strcmp(c->class_names[i], name) == 0)
			return (int)i;
	return -1;
}

void
safem_classifier_support_vectors(const struct safem_classifier *c, unsigned int *csvc,
				 unsigned int *ocsvm)
{
	*csvc = c->csvc != NULL ? (unsigned int)c->csvc->l : 0;
	*ocsvm = c->ocsvm != NULL ? (unsigned int)c->ocsvm->l : 0;
}

/* ---- Scaling ------------------------------------------------------------------ */

/* svm-scale's rule: [min, max] -> [-1, 1]; a constant feature -> 0. */
static inline double
scale_value(double x, double lo, double hi)
{
	if (!(hi - lo > CONSTANT_RANGE * fmax(1.0, fmax(fabs(lo), fabs(hi)))))
		return 0.0;
	return -1.0 + 2.0 * (x - lo) / (hi - lo);
}

/* Scaled non-zero values of x as libsvm nodes, terminated; returns nodes written. */
static size_t
scale_to_nodes(const double *lo, const double *hi, unsigned int n, const double *x,
	       struct svm_node *out)
{
	size_t k = 0;
	unsigned int i;

	for (i = 0; i < n; i++) {
		double v = scale_value(x[i], lo[i], hi[i]);

		if (v != 0.0) {
			out[k].index = (int)i + 1;
			out[k].value = v;
			k++;
		}
	}
	out[k].index = -1;
	out[k].value = 0.0;
	return k + 1;
}

int
safem_classifier_scale(const struct safem_classifier *c, const double *features, unsigned int n,
		       double *out)
{
	unsigned int i;

	if (c == NULL || features == NULL || out == NULL || n != c->nfeatures)
		return -EINVAL;
	for (i = 0; i < n; i++)
		out[i] = scale_value(features[i], c->scale_min[i], c->scale_max[i]);
	return 0;
}

/* ---- Prediction ------------------------------------------------------------------ */

int
safem_classifier_predict(const struct safem_classifier *c, const double *features, unsigned int n,
			 struct safem_classifier_verdict *v)
{
	struct svm_node nodes[SAFEM_CLASSIFIER_FEATURES_MAX + 1];
	double prob[SAFEM_CLASSIFIER_CLASSES_MAX];
	double label, decision = 0.0;
	unsigned int k, best;

	if (c == NULL || features == NULL || v == NULL || n != c->nfeatures)
		return -EINVAL;
	scale_to_nodes(c->scale_min, c->scale_max, n, features, nodes);
	label = svm_predict_probability(c->csvc, nodes, prob);
	memset(v, 0, sizeof(*v));
	v->nclasses = c->nclasses;
	/* libsvm orders the probabilities as model->label (first seen in training). */
	for (k = 0; k < c->nclasses; k++)
		v->class_probability[c->csvc->label[k]] = prob[k];
	best = (unsigned int)lrint(label);
	if (best >= c->nclasses)
		best = 0;
	v->class_index = best;
	v->class_name = c->class_names[best];
	v->probability = v->class_probability[best];
	svm_predict_values(c->ocsvm, nodes, &decision);
	v->novelty_score = decision;
	v->novel = decision < 0;
	return 0;
}

/* ---- Training ------------------------------------------------------------------ */

struct scaled_problem {
	struct svm_problem prob;
	struct svm_node *nodes;
	double *lo;
	double *hi;
};

static void
scaled_problem_free(struct scaled_problem *sp)
{
	free(sp->prob.x);
	free(sp->prob.y);
	free(sp->nodes);
	free(sp->lo);
	free(sp->hi);
}

static int
check_params(const struct safem_classifier_train_params *p, char *err, size_t errlen)
{
	size_t i;
	unsigned int k;

	if (p == NULL || p->x == NULL || p->y == NULL || p->feature_names == NULL ||
	    p->class_names == NULL) {
		classifier_set_error(err, errlen, "training: NULL data");
		return -EINVAL;
	}
	if (p->nfeatures == 0 || p->nfeatures > SAFEM_CLASSIFIER_FEATURES_MAX) {
		classifier_set_error(err, errlen, "nfeatures %u: expected 1..%u", p->nfeatures,
				     SAFEM_CLASSIFIER_FEATURES_MAX);
		return -EINVAL;
	}
	if (p->nclasses < 2 || p->nclasses > SAFEM_CLASSIFIER_CLASSES_MAX) {
		classifier_set_error(err, errlen, "nclasses %u: expected 2..%u", p->nclasses,
				     SAFEM_CLASSIFIER_CLASSES_MAX);
		return -EINVAL;
	}
	if (p->normal_class >= p->nclasses) {
		classifier_set_error(err, errlen, "normal_class %u: not a class", p->normal_class);
		return -EINVAL;
	}
	if (p->n > INT_MAX) {
		classifier_set_error(err, errlen, "%zu windows: too many", p->n);
		return -EINVAL;
	}
	for (k = 0; k < p->nclasses; k++) {
		if (!classifier_name_ok(p->class_names[k])) {
			classifier_set_error(
				err, errlen, "class name '%s': expected 1..%d characters, no blank",
				p->class_names[k] != NULL ? p->class_names[k] : "(null)",
				SAFEM_CLASSIFIER_NAME_MAX - 1);
			return -EINVAL;
		}
	}
	for (k = 0; k < p->nfeatures; k++) {
		if (!classifier_name_ok(p->feature_names[k])) {
			classifier_set_error(err, errlen, "feature %u: bad name", k + 1);
			return -EINVAL;
		}
	}
	for (i = 0; i < p->n; i++) {
		if (p->y[i] >= p->nclasses) {
			classifier_set_error(err, errlen, "window %zu: class %u out of range", i,
					     p->y[i]);
			return -EINVAL;
		}
	}
	for (i = 0; i < p->n * p->nfeatures; i++) {
		if (!isfinite(p->x[i])) {
			classifier_set_error(err, errlen, "window %zu feature %zu: not finite",
					     i / p->nfeatures, i % p->nfeatures + 1);
			return -EINVAL;
		}
	}
	return 0;
}

/* Learn the scaling on all of p's windows and build the libsvm problem. */
static int
scaled_problem_build(const struct safem_classifier_train_params *p, struct scaled_problem *sp)
{
	size_t i, pos = 0;
	unsigned int k;

	memset(sp, 0, sizeof(*sp));
	sp->lo = malloc(p->nfeatures * sizeof(double));
	sp->hi = malloc(p->nfeatures * sizeof(double));
	sp->prob.x = calloc(p->n, sizeof(*sp->prob.x));
	sp->prob.y = calloc(p->n, sizeof(double));
	sp->nodes = calloc(p->n * (p->nfeatures + 1), sizeof(struct svm_node));
	if (sp->lo == NULL || sp->hi == NULL || sp->prob.x == NULL || sp->prob.y == NULL ||
	    sp->nodes == NULL) {
		scaled_problem_free(sp);
		return -ENOMEM;
	}
	for (k = 0; k < p->nfeatures; k++) {
		sp->lo[k] = p->n > 0 ? p->x[k] : 0.0;
		sp->hi[k] = sp->lo[k];
	}
	for (i = 0; i < p->n; i++)
		for (k = 0; k < p->nfeatures; k++) {
			double v = p->x[i * p->nfeatures + k];

			sp->lo[k] = fmin(sp->lo[k], v);
			sp->hi[k] = fmax(sp->hi[k], v);
		}
	sp->prob.l = (int)p->n;
	for (i = 0; i < p->n; i++) {
		sp->prob.x[i] = &sp->nodes[pos];
		sp->prob.y[i] = p->y[i];
		pos += scale_to_nodes(sp->lo, sp->hi, p->nfeatures, &p->x[i * p->nfeatures],
				      &sp->nodes[pos]);
	}
	return 0;
}

static void
svm_param_init(struct svm_parameter *sp, int type, double c, double gamma, double nu,
	       bool probability)
{
	memset(sp, 0, sizeof(*sp));
	sp->svm_type = type;
	sp->kernel_type = RBF;
	sp->gamma = gamma;
	sp->C = c;
	sp->nu = nu;
	sp->cache_size = SVM_CACHE_MB;
	sp->eps = SVM_EPS;
	sp->shrinking = 1;
	sp->probability = probability ? 1 : 0;
}

/* svm_train, then our own copy; NULL with a message. */
static struct svm_model *
train_one(const struct svm_problem *prob, const struct svm_parameter *param, const char *what,
	  char *err, size_t errlen)
{
	const char *bad = svm_check_parameter(prob, param);
	struct svm_model *t, *m;

	if (bad != NULL) {
		classifier_set_error(err, errlen, "%s: %s", what, bad);
		errno = EINVAL;
		return NULL;
	}
	t = svm_train(prob, param);
	if (t == NULL) {
		classifier_set_error(err, errlen, "%s: training failed", what);
		errno = ENOMEM;
		return NULL;
	}
	m = model_copy(t);
	svm_free_and_destroy_model(&t);
	if (m == NULL)
		classifier_set_error(err, errlen, "%s: out of memory", what);
	return m;
}

struct safem_classifier *
safem_classifier_train(const struct safem_classifier_train_params *p, char *err, size_t errlen)
{
	struct svm_parameter param;
	struct scaled_problem sp;
	struct svm_problem normal;
	struct safem_classifier *c = NULL;
	size_t i, seen[SAFEM_CLASSIFIER_CLASSES_MAX] = {0};
	unsigned int k;
	int rc;

	classifier_quiet_libsvm();
	rc = check_params(p, err, errlen);
	if (rc == 0 && !(p->c > 0 && isfinite(p->c) && p->gamma > 0 && isfinite(p->gamma))) {
		classifier_set_error(err, errlen, "C %g, gamma %g: expected > 0", p->c, p->gamma);
		rc = -EINVAL;
	}
	if (rc == 0 && !(p->nu > 0 && p->nu <= 1)) {
		classifier_set_error(err, errlen, "nu %g: expected 0 < nu <= 1", p->nu);
		rc = -EINVAL;
	}
	if (rc == 0 && !(p->ocsvm_gamma >= 0 && isfinite(p->ocsvm_gamma))) {
		classifier_set_error(err, errlen, "one-class gamma %g: expected >= 0",
				     p->ocsvm_gamma);
		rc = -EINVAL;
	}
	if (rc != 0) {
		errno = -rc;
		return NULL;
	}
	for (i = 0; i < p->n; i++)
		seen[p->y[i]]++;
	for (k = 0; k < p->nclasses; k++)
		if (seen[k] == 0) {
			classifier_set_error(err, errlen, "class '%s' has no training window",
					     p->class_names[k]);
			errno = EINVAL;
			return NULL;
		}
	rc = scaled_problem_build(p, &sp);
	if (rc != 0) {
		classifier_set_error(err, errlen, "out of memory");
		errno = -rc;
		return NULL;
	}
	normal.l = 0;
	normal.x = calloc(p->n, sizeof(*normal.x));
	normal.y = calloc(p->n, sizeof(double));
	c = classifier_alloc(p->nfeatures, p->nclasses);
	if (normal.x == NULL || normal.y == NULL || c == NULL) {
		classifier_set_error(err, errlen, "out of memory");
		errno = ENOMEM;
		goto fail;
	}
	c->normal_class = p->normal_class;
	for (k = 0; k < p->nfeatures; k++)
		snprintf(c->feature_names[k], SAFEM_CLASSIFIER_NAME_MAX, "%s", p->feature_names[k]);
	for (k = 0; k < p->nclasses; k++)
		snprintf(c->class_names[k], SAFEM_CLASSIFIER_NAME_MAX, "%s", p->class_names[k]);
	memcpy(c->scale_min, sp.lo, p->nfeatures * sizeof(double));
	memcpy(c->scale_max, sp.hi, p->nfeatures * sizeof(double));

	/* libsvm's probability fit draws folds with rand(). */
	srand(p->seed);
	svm_param_init(&param, C_SVC, p->c, p->gamma, 0.5, true);
	c->csvc = train_one(&sp.prob, &param, "C-SVC", err, errlen);
	if (c->csvc == NULL)
		goto fail;
	for (i = 0; i < p->n; i++)
		if (p->y[i] == p->normal_class) {
			normal.x[normal.l] = sp.prob.x[i];
			normal.y[normal.l] = 1.0;
			normal.l++;
		}
	svm_param_init(&param, ONE_CLASS, 1.0, p->ocsvm_gamma > 0 ? p->ocsvm_gamma : p->gamma,
		       p->nu, false);
	c->ocsvm = train_one(&normal, &param, "one-class SVM", err, errlen);
	if (c->ocsvm == NULL)
		goto fail;
	free(normal.x);
	free(normal.y);
	scaled_problem_free(&sp);
	return c;
fail:
	rc = errno;
	free(normal.x);
	free(normal.y);
	scaled_problem_free(&sp);
	safem_classifier_free(c);
	errno = rc;
	return NULL;
}

int
safem_classifier_grid_search(const struct safem_classifier_train_params *p, const double *c_values,
			     unsigned int nc, const double *gamma_values, unsigned int ngamma,
			     unsigned int folds, struct safem_classifier_cv_point *best,
			     uint64_t *confusion,
			     void (*report)(const struct safem_classifier_cv_point *pt, void *ctx),
			     void *ctx)
{
	struct svm_parameter param;
	struct scaled_problem sp;
	double *target;
	unsigned int ci, gi;
	size_t i;
	int rc;

	classifier_quiet_libsvm();
	rc = check_params(p, NULL, 0);
	if (rc != 0 || c_values == NULL || gamma_values == NULL || nc == 0 || ngamma == 0 ||
	    folds < 2 || folds > p->n || best == NULL || confusion == NULL)
		return -EINVAL;
	rc = scaled_problem_build(p, &sp);
	if (rc != 0)
		return rc;
	target = calloc(p->n, sizeof(double));
	if (target == NULL) {
		scaled_problem_free(&sp);
		return -ENOMEM;
	}
	best->accuracy = -1.0;
	for (ci = 0; ci < nc; ci++)
		for (gi = 0; gi < ngamma; gi++) {
			struct safem_classifier_cv_point pt = {c_values[ci], gamma_values[gi], 0};
			size_t correct = 0;

			svm_param_init(&param, C_SVC, pt.c, pt.gamma, 0.5, false);
			if (svm_check_parameter(&sp.prob, &param) != NULL) {
				rc = -EINVAL;
				goto out;
			}
			/* Same folds for every grid point (libsvm shuffles with rand()). */
			srand(p->seed);
			svm_cross_validation(&sp.prob, &param, (int)folds, target);
			for (i = 0; i < p->n; i++)
				correct += lrint(target[i]) == (long)p->y[i];
			pt.accuracy = p->n > 0 ? (double)correct / (double)p->n : 0.0;
			if (report != NULL)
				report(&pt, ctx);
			if (pt.accuracy > best->accuracy) {
				*best = pt;
				memset(confusion, 0,
				       (size_t)p->nclasses * p->nclasses * sizeof(*confusion));
				for (i = 0; i < p->n; i++) {
					long t = lrint(target[i]);

					if (t >= 0 && t < (long)p->nclasses)
						confusion[p->y[i] * p->nclasses + (size_t)t]++;
				}
			}
		}
out:
	free(target);
	scaled_problem_free(&sp);
	return rc;
}
