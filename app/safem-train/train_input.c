/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * safem-train's readers. Feature files are what the probe writes with
 * safem_features_write_line (libsvm text, docs/classifier.md); the ground
 * truth is the attack generator's JSON ({"windows":[{"start_ms", "end_ms",
 * "class"}...]}) or a two-column CSV. Each reader names FILE:LINE of the
 * first problem; none accepts a file partly.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train_input.h"

/* Nesting a ground-truth file may use (the generator's is 3 deep). */
#define JSON_MAX_DEPTH 32

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

struct json {
	const char *buf;
	const char *p;
	const char *path;
	char *err;
	size_t errlen;
};

static bool __attribute__((format(printf, 2, 3))) json_fail(struct json *j, const char *fmt, ...)
{
	unsigned long line = 1;
	const char *q;
	char msg[200];
	va_list ap;

	for (q = j->buf; q < j->p; q++)
		line += *q == '\n';
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return set_err(j->err, j->errlen, "%s:%lu: %s", j->path, line, msg);
}

static void
json_ws(struct json *j)
{
	j->p += strspn(j->p, " \t\r\n");
}

static bool
json_expect(struct json *j, char c)
{
	json_ws(j);
	if (*j->p != c)
		return json_fail(j, "expected '%c'", c);
	j->p++;
	return true;
}

/* A string into out (cap bytes; longer: an error). \u escapes become '?'. */
static bool
json_string(struct json *j, char *out, size_t cap)
{
	size_t n = 0;

	json_ws(j);
	if (*j->p != '"')
		return json_fail(j, "expected a string");
	j->p++;
	while (*j->p != '"') {
		char c = *j->p;

		if (c == '\0' || (unsigned char)c < 0x20)
			return json_fail(j, "unterminated string");
		if (c == '\\') {
			j->p++;
			c = *j->p;
			if (c == 'u') {
				if (strspn(j->p + 1, "0123456789abcdefABCDEF") < 4)
					return json_fail(j, "bad \\u escape");
				j->p += 4;
				c = '?';
			} else if (strchr("\"\\/bfnrt", c) == NULL || c == '\0') {
				return json_fail(j, "bad escape in a string");
			} else {
				c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
			}
		}
		if (out != NULL) {
			if (n + 1 >= cap)
				return json_fail(j, "string longer than %zu characters", cap - 1);
			out[n++] = c;
		}
		j->p++;
	}
	j->p++;
	if (out != NULL)
		out[n] = '\0';
	return true;
}

static bool
json_number(struct json *j, double *out)
{
	char *end;

	json_ws(j);
	if (*j->p != '-' && !isdigit((unsigned char)*j->p))
		return json_fail(j, "expected a number");
	*out = strtod(j->p, &end);
	if (end == j->p || !isfinite(*out))
		return json_fail(j, "expected a number");
	j->p = end;
	return true;
}

static bool
json_skip(struct json *j, int depth)
{
	double v;

	if (depth > JSON_MAX_DEPTH)
		return json_fail(j, "nested too deep");
	json_ws(j);
	switch (*j->p) {
	case '"':
		return json_string(j, NULL, 0);
	case '{':
	case '[': {
		char close = *j->p == '{' ? '}' : ']';
		bool object = close == '}';

		j->p++;
		json_ws(j);
		if (*j->p == close) {
			j->p++;
			return true;
		}
		for (;;) {
			if (object && (!json_string(j, NULL, 0) || !json_expect(j, ':')))
				return false;
			if (!json_skip(j, depth + 1))
				return false;
			json_ws(j);
			if (*j->p == close) {
				j->p++;
				return true;
			}
			if (!json_expect(j, ','))
				return false;
		}
	}
	default:
		if (strncmp(j->p, "true", 4) == 0 || strncmp(j->p, "null", 4) == 0) {
			j->p += 4;
			return true;
		}
		if (strncmp(j->p, "false", 5) == 0) {
			j->p += 5;
			return true;
		}
		return json_number(j, &v);
	}
}

static bool
json_ms(struct json *j, const char *key, uint64_t *out)
{
	double v;

	if (!json_number(j, &v))
		return false;
	if (v < 0 || v > 9007199254740992.0 || v != floor(v))
		return json_fail(j, "%s: expected a whole number of milliseconds", key);
	*out = (uint64_t)v;
	return true;
}

/* {"start_ms":N,"end_ms":N,"class":"NAME",...} */
static bool
json_window(struct json *j, struct truth_set *t)
{
	struct truth w = {.start_ms = NO_START_MS, .end_ms = NO_START_MS};
	char key[64];

	if (!json_expect(j, '{'))
		return false;
	json_ws(j);
	if (*j->p != '}') {
		for (;;) {
			if (!json_string(j, key, sizeof(key)) || !json_expect(j, ':'))
				return false;
			if (strcmp(key, "start_ms") == 0) {
				if (!json_ms(j, key, &w.start_ms))
					return false;
			} else if (strcmp(key, "end_ms") == 0) {
				if (!json_ms(j, key, &w.end_ms))
					return false;
			} else if (strcmp(key, "class") == 0) {
				if (!json_string(j, w.cls, sizeof(w.cls)))
					return false;
			} else if (!json_skip(j, 2)) {
				return false;
			}
			json_ws(j);
			if (*j->p == '}')
				break;
			if (!json_expect(j, ','))
				return false;
		}
	}
	if (w.start_ms == NO_START_MS || w.end_ms == NO_START_MS || w.cls[0] == '\0')
		return json_fail(j, "a window needs start_ms, end_ms and class");
	if (w.end_ms <= w.start_ms)
		return json_fail(j, "end_ms %" PRIu64 " is not after start_ms %" PRIu64, w.end_ms,
				 w.start_ms);
	if (strpbrk(w.cls, " \t\r\n") != NULL)
		return json_fail(j, "class '%s': no blanks in a class name", w.cls);
	j->p++;
	if (!truth_add(t, &w))
		return json_fail(j, "out of memory");
	return true;
}

bool
truth_read_json(struct truth_set *t, const char *path, char *err, size_t errlen)
{
	struct json j = {.path = path, .err = err, .errlen = errlen};
	char *buf, key[64];
	size_t len;
	bool ok = false, seen = false;

	if (!read_file(path, &buf, &len, err, errlen))
		return false;
	j.buf = j.p = buf;
	if (!json_expect(&j, '{'))
		goto out;
	json_ws(&j);
	while (*j.p != '}') {
		if (!json_string(&j, key, sizeof(key)) || !json_expect(&j, ':'))
			goto out;
		if (strcmp(key, "windows") == 0) {
			seen = true;
			if (!json_expect(&j, '['))
				goto out;
			json_ws(&j);
			while (*j.p != ']') {
				if (!json_window(&j, t))
					goto out;
				json_ws(&j);
				if (*j.p != ']' && !json_expect(&j, ','))
					goto out;
			}
			j.p++;
		} else if (!json_skip(&j, 1)) {
			goto out;
		}
		json_ws(&j);
		if (*j.p != '}' && !json_expect(&j, ','))
			goto out;
		json_ws(&j);
	}
	j.p++;
	json_ws(&j);
	if (*j.p != '\0') {
		json_fail(&j, "text after the top-level object");
		goto out;
	}
	if (!seen) {
		json_fail(&j, "no \"windows\" array");
		goto out;
	}
	ok = true;
out:
	free(buf);
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
