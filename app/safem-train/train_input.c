/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * safem-train's readers. Feature files are what the probe writes with
 * safem_features_write_line (libsvm text, docs/classifier.md); the ground
 * truth is the attack generator's JSON ({"windows":[{"start_ms", "end_ms",
 * "class"}...]}, read with jansson) or a two-column CSV. Each reader names
 * FILE:LINE of the first problem (a JSON syntax error FILE:LINE:COLUMN, a bad
 * JSON window FILE: windows[I]); none accepts a file partly.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "train_input.h"

/* Largest start_ms/end_ms: 2^53, exact in the double the old reader parsed into. */
#define JSON_MS_MAX 9007199254740992LL

static bool __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return false;
}

static bool
read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char chunk[65536];
	size_t n, cap = 0;

	*buf = NULL;
	*len = 0;
	if (f == NULL)
		return set_err(err, errlen, "%s: %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (*len + n + 1 > cap) {
			char *nb;

			cap = (*len + n + 1) * 2;
			nb = realloc(*buf, cap);
			if (nb == NULL) {
				fclose(f);
				return set_err(err, errlen, "%s: out of memory", path);
			}
			*buf = nb;
		}
		memcpy(*buf + *len, chunk, n);
		*len += n;
	}
	if (ferror(f)) {
		fclose(f);
		return set_err(err, errlen, "%s: read error", path);
	}
	fclose(f);
	if (*buf == NULL) {
		*buf = malloc(1);
		if (*buf == NULL)
			return set_err(err, errlen, "%s: out of memory", path);
	}
	(*buf)[*len] = '\0';
	return true;
}

/* ---- Feature files ----------------------------------------------------------- */

static bool
grow_samples(struct sample_set *set)
{
	size_t cap = set->cap == 0 ? 1024 : set->cap * 2;
	struct sample *s = realloc(set->s, cap * sizeof(*s));
	double *x;

	if (s == NULL)
		return false;
	set->s = s;
	x = realloc(set->x, cap * set->nfeatures * sizeof(double));
	if (x == NULL)
		return false;
	set->x = x;
	set->cap = cap;
	return true;
}

/* One data line (no end of line). */
static bool
parse_sample_line(struct sample_set *set, char *line, const char *path, unsigned long lineno,
		  char *err, size_t errlen)
{
	struct sample *s;
	double *x;
	char *p = line, *end;
	size_t n;
	unsigned long prev = 0;

	if (set->n == set->cap && !grow_samples(set))
		return set_err(err, errlen, "%s:%lu: out of memory", path, lineno);
	s = &set->s[set->n];
	x = &set->x[set->n * set->nfeatures];
	memset(x, 0, set->nfeatures * sizeof(double));
	s->file = path;
	s->line = lineno;
	s->start_ms = NO_START_MS;
	n = strcspn(p, " \t#");
	/* A pair first ("1:0.5 ...") means the LABEL is missing. */
	if (n == 0 || n >= sizeof(s->label) || memchr(p, ':', n) != NULL)
		return set_err(err, errlen,
			       "%s:%lu: expected a LABEL (class name or index, 1..%d "
			       "characters) first",
			       path, lineno, SAFEM_CLASSIFIER_NAME_MAX - 1);
	memcpy(s->label, p, n);
	s->label[n] = '\0';
	p += n;
	for (;;) {
		unsigned long idx;
		double v;

		p += strspn(p, " \t");
		if (*p == '\0' || *p == '#')
			break;
		errno = 0;
		idx = isdigit((unsigned char)*p) ? strtoul(p, &end, 10) : 0;
		if (idx == 0 || errno != 0 || *end != ':')
			return set_err(err, errlen, "%s:%lu: expected INDEX:VALUE at '%.20s'", path,
				       lineno, p);
		if (idx > set->nfeatures)
			return set_err(err, errlen,
				       "%s:%lu: feature index %lu beyond the layout (%u features)",
				       path, lineno, idx, set->nfeatures);
		if (idx <= prev)
			return set_err(err, errlen,
				       "%s:%lu: feature index %lu after %lu (indices "
				       "must ascend)",
				       path, lineno, idx, prev);
		p = end + 1;
		errno = 0;
		v = strtod(p, &end);
		if (end == p || errno == ERANGE || !isfinite(v) ||
		    (*end != '\0' && *end != ' ' && *end != '\t'))
			return set_err(err, errlen, "%s:%lu: feature %lu: expected a finite number",
				       path, lineno, idx);
		x[idx - 1] = v;
		prev = idx;
		p = end;
	}
	if (*p == '#') {
		const char *m = strstr(p, "start_ms=");

		if (m != NULL) {
			m += strlen("start_ms=");
			errno = 0;
			s->start_ms = isdigit((unsigned char)*m) ? strtoull(m, &end, 10) : 0;
			if (!isdigit((unsigned char)*m) || errno != 0 ||
			    (*end != '\0' && *end != ' ' && *end != '\t'))
				return set_err(err, errlen, "%s:%lu: start_ms=: expected a number",
					       path, lineno);
		}
	}
	set->n++;
	return true;
}

bool
samples_read(struct sample_set *set, const char *path, char *err, size_t errlen)
{
	char *buf, *line, *next;
	size_t len, before = set->n;
	unsigned long lineno = 0;

	if (!read_file(path, &buf, &len, err, errlen))
		return false;
	if (memchr(buf, '\0', len) != NULL) {
		free(buf);
		return set_err(err, errlen, "%s: not a text file", path);
	}
	for (line = buf; line != NULL && *line != '\0'; line = next) {
		size_t l;

		lineno++;
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		l = strlen(line);
		if (l > 0 && line[l - 1] == '\r')
			line[l - 1] = '\0';
		line += strspn(line, " \t");
		if (*line == '\0' || *line == '#')
			continue;
		if (!parse_sample_line(set, line, path, lineno, err, errlen)) {
			set->n = before;
			free(buf);
			return false;
		}
	}
	free(buf);
	return true;
}

void
samples_free(struct sample_set *set)
{
	free(set->s);
	free(set->x);
	memset(set, 0, sizeof(*set));
}

/* ---- Ground truth ------------------------------------------------------------- */

static bool
truth_add(struct truth_set *t, const struct truth *w)
{
	if (t->n == t->cap) {
		size_t cap = t->cap == 0 ? 256 : t->cap * 2;
		struct truth *nt = realloc(t->t, cap * sizeof(*nt));

		if (nt == NULL)
			return false;
		t->t = nt;
		t->cap = cap;
	}
	t->t[t->n++] = *w;
	return true;
}

/*
 * A whole number of milliseconds: a JSON integer >= 0, or a real with no fraction
 * (a generator writing 1.7e12), both at most 2^53 (exact in a double).
 */
static bool
json_ms(json_t *v, uint64_t *out)
{
	double d;

	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i < 0 || i > JSON_MS_MAX)
			return false;
		*out = (uint64_t)i;
		return true;
	}
	if (!json_is_real(v))
		return false;
	d = json_real_value(v);
	if (!(d >= 0) || d > (double)JSON_MS_MAX || d != floor(d))
		return false;
	*out = (uint64_t)d;
	return true;
}

/* windows[i] = {"start_ms":N,"end_ms":N,"class":"NAME",...}: false with err naming it. */
static bool
json_window(json_t *o, size_t i, const char *path, struct truth_set *t, char *err, size_t errlen)
{
	struct truth w = {.start_ms = NO_START_MS, .end_ms = NO_START_MS};
	json_t *cls;
	const char *name;

	/* jansson keeps no position of a value: the window is named by its index (from 0) */
	if (!json_is_object(o))
		return set_err(err, errlen, "%s: windows[%zu]: expected an object", path, i);
	cls = json_object_get(o, "class");
	if (json_object_get(o, "start_ms") == NULL || json_object_get(o, "end_ms") == NULL ||
	    cls == NULL)
		return set_err(err, errlen, "%s: windows[%zu]: a window needs start_ms, end_ms and class",
			       path, i);
	if (!json_ms(json_object_get(o, "start_ms"), &w.start_ms))
		return set_err(err, errlen,
			       "%s: windows[%zu]: start_ms: expected a whole number of milliseconds",
			       path, i);
	if (!json_ms(json_object_get(o, "end_ms"), &w.end_ms))
		return set_err(err, errlen,
			       "%s: windows[%zu]: end_ms: expected a whole number of milliseconds",
			       path, i);
	if (w.end_ms <= w.start_ms)
		return set_err(err, errlen,
			       "%s: windows[%zu]: end_ms %" PRIu64 " is not after start_ms %" PRIu64,
			       path, i, w.end_ms, w.start_ms);
	name = json_string_value(cls);
	if (name == NULL || name[0] == '\0' || json_string_length(cls) >= sizeof(w.cls))
		return set_err(err, errlen, "%s: windows[%zu]: class: expected a name of 1..%zu characters",
			       path, i, sizeof(w.cls) - 1);
	if (strpbrk(name, " \t\r\n") != NULL)
		return set_err(err, errlen, "%s: windows[%zu]: class '%s': no blanks in a class name",
			       path, i, name);
	memcpy(w.cls, name, json_string_length(cls) + 1);
	if (!truth_add(t, &w))
		return set_err(err, errlen, "%s: out of memory", path);
	return true;
}

bool
truth_read_json(struct truth_set *t, const char *path, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root, *windows;
	size_t i, before = t->n;
	bool ok = true;

	/* a key twice would make the file mean what the last one says: refused */
	root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL) {
		if (je.line > 0)
			return set_err(err, errlen, "%s:%d:%d: %s", path, je.line, je.column,
				       je.text);
		return set_err(err, errlen, "%s: %s", path, je.text);
	}
	windows = json_is_object(root) ? json_object_get(root, "windows") : NULL;
	if (!json_is_object(root))
		ok = set_err(err, errlen, "%s: expected a JSON object at the top", path);
	else if (!json_is_array(windows))
		ok = set_err(err, errlen, "%s: no \"windows\" array", path);
	for (i = 0; ok && i < json_array_size(windows); i++)
		ok = json_window(json_array_get(windows, i), i, path, t, err, errlen);
	json_decref(root);
	if (!ok)
		t->n = before; /* nothing of a bad file */
	return ok;
}

bool
truth_read_csv(struct truth_set *t, const char *path, char *err, size_t errlen)
{
	char *buf, *line, *next, *end;
	size_t len;
	unsigned long lineno = 0;
	bool ok = false;

	if (!read_file(path, &buf, &len, err, errlen))
		return false;
	for (line = buf; line != NULL && *line != '\0'; line = next) {
		struct truth w = {.end_ms = NO_START_MS};
		char *comma;
		size_t n;

		lineno++;
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		n = strlen(line);
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		if (n == 0 || line[0] == '#' ||
		    (lineno == 1 && strcmp(line, "start_ms,class") == 0))
			continue;
		comma = strchr(line, ',');
		errno = 0;
		w.start_ms = isdigit((unsigned char)line[0]) ? strtoull(line, &end, 10) : 0;
		if (comma == NULL || !isdigit((unsigned char)line[0]) || errno != 0 ||
		    end != comma) {
			set_err(err, errlen, "%s:%lu: expected 'start_ms,class'", path, lineno);
			goto out;
		}
		n = strlen(comma + 1);
		if (n == 0 || n >= sizeof(w.cls) || strpbrk(comma + 1, " \t,") != NULL) {
			set_err(err, errlen, "%s:%lu: expected one class name after the comma",
				path, lineno);
			goto out;
		}
		memcpy(w.cls, comma + 1, n + 1);
		if (!truth_add(t, &w)) {
			set_err(err, errlen, "%s: out of memory", path);
			goto out;
		}
	}
	ok = true;
out:
	free(buf);
	return ok;
}

static int
truth_cmp(const void *a, const void *b)
{
	const struct truth *x = a, *y = b;

	return x->start_ms < y->start_ms ? -1 : x->start_ms > y->start_ms;
}

bool
truth_finish(struct truth_set *t, const char *path, char *err, size_t errlen)
{
	size_t i;

	if (t->n == 0)
		return set_err(err, errlen, "%s: no ground-truth window", path);
	qsort(t->t, t->n, sizeof(*t->t), truth_cmp);
	for (i = 1; i < t->n; i++)
		if (t->t[i].start_ms == t->t[i - 1].start_ms &&
		    strcmp(t->t[i].cls, t->t[i - 1].cls) != 0)
			return set_err(err, errlen,
				       "%s: two windows start at %" PRIu64 " with classes '%s' and "
				       "'%s'",
				       path, t->t[i].start_ms, t->t[i - 1].cls, t->t[i].cls);
	return true;
}

const char *
truth_class(const struct truth_set *t, uint64_t start_ms)
{
	size_t lo = 0, hi = t->n;

	/* The last window starting at or before start_ms. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->t[mid].start_ms <= start_ms)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	lo--;
	if (t->t[lo].start_ms == start_ms ||
	    (t->t[lo].end_ms != NO_START_MS && start_ms < t->t[lo].end_ms))
		return t->t[lo].cls;
	return NULL;
}

void
truth_free(struct truth_set *t)
{
	free(t->t);
	memset(t, 0, sizeof(*t));
}
