/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * safem-merge: merge the window tree files of several probes (safem-probe
 * --trees DIR) into the window reports and trees that one probe seeing all
 * their traffic would have written (issue 3; formats in docs/formats.md).
 *
 * A window's trees are merged by a per-prefix sum (safem_aggtree_merge), so
 * as long as no tree folded, the merged report equals the one-probe report
 * apart from "timing", which only a probe can measure (written as NULL).
 *
 * Every input is read twice: a first pass learns each file's window and tree
 * sizes and rejects a bad file before any output exists; a second pass reads
 * them again window by window to merge. Memory is thus four trees (two read
 * buffers, two merged) whatever the number of inputs, and those trees are
 * sized from what the first pass saw, not from --tree-nodes, so that merging
 * small files does not prefault half a gigabyte.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_errno.h>

#include "safem_aggtree.h"
#include "safem_outfile.h"
#include "safem_window.h"

#define EXIT_RUNTIME 1 /* output could not be written, out of memory */
#define EXIT_USAGE 2   /* bad option or bad input */

#define DEFAULT_ALPHA 0.01
#define DEFAULT_LOG_BASE 2.0
#define DEFAULT_TREE_NODES (UINT32_C(1) << 20)
/* First size of the read buffers; most window files are far below the bound,
 * and a buffer grows (x4) only when a file does not fit in it unfolded. */
#define FIRST_READ_NODES UINT32_C(4096)
#define READ_GROWTH 4
#define TREE_FILE_SUFFIX ".tree"
#define PATH_BYTES 4096
#define SHORT_USAGE                                                                                \
	"usage: safem-merge [--alpha A] [--log-base B] [--tree-nodes N] [--windows OUT.jsonl]\n"   \
	"                   [--trees OUTDIR] INPUT...\n"

enum { TREE_SRC = 0, TREE_DST = 1, TREE_DIRS = 2 }; /* index order of safem_window_*_trees */

struct merge_options {
	double alpha;
	double log_base;
	uint32_t tree_nodes;
	const char *windows_path; /* NULL: stdout unless trees_dir */
	const char *trees_dir;	  /* NULL: no merged tree files */
};

/* One input tree file, as the first pass saw it. */
struct merge_input {
	char *path;
	unsigned int order; /* position among the inputs: the merge order within a window */
	dev_t dev;
	ino_t ino;
	uint64_t start_ms;
	uint64_t end_ms;
	uint32_t nodes[TREE_DIRS];
};

struct input_list {
	struct merge_input *v;
	size_t n;
	size_t cap;
};

/* The two trees of a window; `nodes` is their bound. */
struct tree_pair {
	struct safem_aggtree *t[TREE_DIRS];
	uint32_t nodes;
};

static void
print_usage(FILE *out)
{
	fprintf(out,
		"%s"
		"Merge the per-window trees of several safem-probe runs (--trees DIR) into the\n"
		"window reports one probe seeing all their traffic would have written.\n"
		"Each INPUT is a window tree file or a directory of them (*" TREE_FILE_SUFFIX ").\n"
		"Files are grouped by window start; the same start must have the same end.\n"
		"\n"
		"  --alpha A       prune prefixes below this share into their parent, 0 < A < 1\n"
		"                  (default %g; give the probes' value to reproduce them)\n"
		"  --log-base B    entropy log base, a number > 1 or 'e' (default %g)\n"
		"  --tree-nodes N  node bound of each merged tree, %u..%u (default %" PRIu32 ");\n"
		"                  a window needing more folds (Aguri reclaim): not exact\n"
		"  --windows PATH  write the window reports (JSON lines) to PATH\n"
		"                  (default: standard output, unless --trees is given)\n"
		"  --trees DIR     write each merged window to DIR/window-START_MS.tree\n"
		"                  (an existing directory, not one of the inputs)\n"
		"  -h, --help      this text\n"
		"\n"
		"Output files are complete or absent (written to NAME.tmp, then renamed).\n"
		"Exit status: 0 done, 1 output could not be written, 2 bad usage or input.\n",
		SHORT_USAGE, DEFAULT_ALPHA, DEFAULT_LOG_BASE, SAFEM_AGGTREE_MIN_NODES,
		SAFEM_AGGTREE_MAX_NODES, DEFAULT_TREE_NODES);
}

static int usage_error(const char *fmt, ...) __rte_format_printf(1, 2);

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "safem-merge: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s(see --help)\n", SHORT_USAGE);
	return EXIT_USAGE;
}

static bool
parse_double(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !isfinite(v))
		return false;
	*out = v;
	return true;
}

static bool
parse_tree_nodes(const char *s, uint32_t *out)
{
	unsigned long long v;
	char *end;

	/* strtoull would accept a sign and leading blanks. */
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0' || errno != 0 || v < SAFEM_AGGTREE_MIN_NODES ||
	    v > SAFEM_AGGTREE_MAX_NODES)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* Returns 0 with optind at the first INPUT, -1 after --help, or EXIT_USAGE. */
static int
parse_options(int argc, char **argv, struct merge_options *opt)
{
	enum { OPT_ALPHA = 256, OPT_LOG_BASE, OPT_TREE_NODES, OPT_WINDOWS, OPT_TREES };
	static const struct option long_options[] = {
		{"alpha", required_argument, NULL, OPT_ALPHA},
		{"log-base", required_argument, NULL, OPT_LOG_BASE},
		{"tree-nodes", required_argument, NULL, OPT_TREE_NODES},
		{"windows", required_argument, NULL, OPT_WINDOWS},
		{"trees", required_argument, NULL, OPT_TREES},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*opt = (struct merge_options){DEFAULT_ALPHA, DEFAULT_LOG_BASE, DEFAULT_TREE_NODES, NULL,
				      NULL};
	opterr = 0; /* our own messages, without argv[0]'s full path */
	/* Leading ':' tells a missing argument (':') from an unknown option ('?'). */
	while ((c = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
		switch (c) {
		case OPT_ALPHA:
			if (!parse_double(optarg, &opt->alpha) || !(opt->alpha > 0) ||
			    !(opt->alpha < 1))
				return usage_error("--alpha '%s': expected a share between 0 and 1 "
						   "(e.g. 0.01)",
						   optarg);
			break;
		case OPT_LOG_BASE:
			if (strcmp(optarg, "e") == 0)
				opt->log_base = M_E;
			else if (!parse_double(optarg, &opt->log_base) || !(opt->log_base > 1))
				return usage_error("--log-base '%s': expected a number > 1 or 'e'",
						   optarg);
			break;
		case OPT_TREE_NODES:
			if (!parse_tree_nodes(optarg, &opt->tree_nodes))
				return usage_error("--tree-nodes '%s': expected a whole number in "
						   "%u..%" PRIu32,
						   optarg, SAFEM_AGGTREE_MIN_NODES,
						   SAFEM_AGGTREE_MAX_NODES);
			break;
		case OPT_WINDOWS:
			opt->windows_path = optarg;
			break;
		case OPT_TREES:
			opt->trees_dir = optarg;
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
	if (optind >= argc)
		return usage_error("no INPUT given");
	return 0;
}

/* ------------------------------------------------------------- inputs -- */

static int
input_add(struct input_list *l, const char *path)
{
	if (l->n == l->cap) {
		size_t cap = l->cap != 0 ? 2 * l->cap : 64;
		struct merge_input *v = realloc(l->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	memset(&l->v[l->n], 0, sizeof(l->v[l->n]));
	l->v[l->n].path = strdup(path);
	if (l->v[l->n].path == NULL)
		return -ENOMEM;
	l->v[l->n].order = (unsigned int)l->n;
	l->n++;
	return 0;
}

static int
out_of_memory(void)
{
	fprintf(stderr, "safem-merge: out of memory\n");
	return EXIT_RUNTIME;
}

static void
input_list_free(struct input_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
}

static int
is_tree_file_name(const struct dirent *d)
{
	size_t len = strlen(d->d_name), suffix = strlen(TREE_FILE_SUFFIX);

	/* NAME.tree.tmp (a probe still writing) does not match. */
	return len > suffix && strcmp(d->d_name + len - suffix, TREE_FILE_SUFFIX) == 0;
}

/*
 * Add one INPUT argument: a file, or the *.tree files of a directory in name
 * order (window-START_MS.tree, so also time order). Returns 0 or an exit code.
 */
static int
collect_input(struct input_list *l, const char *arg)
{
	struct dirent **names;
	struct stat st;
	int n, i, ret = 0;

	if (stat(arg, &st) != 0) {
		fprintf(stderr, "safem-merge: %s: %s\n", arg, strerror(errno));
		return EXIT_USAGE;
	}
	if (!S_ISDIR(st.st_mode))
		return input_add(l, arg) == 0 ? 0 : out_of_memory();
	n = scandir(arg, &names, is_tree_file_name, alphasort);
	if (n < 0) {
		fprintf(stderr, "safem-merge: %s: %s\n", arg, strerror(errno));
		return EXIT_USAGE;
	}
	if (n == 0) {
		fprintf(stderr,
			"safem-merge: %s: no window tree files (*" TREE_FILE_SUFFIX
			") in this directory\n",
			arg);
		ret = EXIT_USAGE;
	}
	for (i = 0; i < n; i++) {
		char path[PATH_BYTES];

		if (ret == 0) {
			if ((size_t)snprintf(path, sizeof(path), "%s/%s", arg, names[i]->d_name) >=
			    sizeof(path)) {
				fprintf(stderr, "safem-merge: %s/%s: path too long\n", arg,
					names[i]->d_name);
				ret = EXIT_USAGE;
			} else if (input_add(l, path) != 0) {
				ret = out_of_memory();
			}
		}
		free(names[i]);
	}
	free(names);
	return ret;
}

static void
input_error(const char *path, int ret)
{
	if (ret == -EINVAL)
		fprintf(stderr, "safem-merge: %s: not a safem window tree file\n", path);
	else
		fprintf(stderr, "safem-merge: %s: %s\n", path, strerror(-ret));
}

/* ---------------------------------------------------------------- trees -- */

static void
tree_pair_free(struct tree_pair *p)
{
	unsigned int d;

	for (d = 0; d < TREE_DIRS; d++) {
		safem_aggtree_free(p->t[d]);
		p->t[d] = NULL;
	}
	p->nodes = 0;
}

/* (Re)create both trees with a bound of `nodes`. Returns 0 or -ENOMEM. */
static int
tree_pair_create(struct tree_pair *p, uint32_t nodes, const char *name)
{
	unsigned int d;

	tree_pair_free(p);
	for (d = 0; d < TREE_DIRS; d++) {
		struct safem_aggtree_params params = {
			.name = name,
			.max_nodes = RTE_MAX(nodes, (uint32_t)SAFEM_AGGTREE_MIN_NODES),
		};

		p->t[d] = safem_aggtree_create(&params);
		if (p->t[d] == NULL) {
			fprintf(stderr, "safem-merge: %s trees of %" PRIu32 " nodes: %s\n", name,
				params.max_nodes,
				rte_errno == EINVAL ? safem_aggtree_params_error()
						    : strerror(rte_errno));
			tree_pair_free(p);
			return -ENOMEM;
		}
	}
	p->nodes = RTE_MAX(nodes, (uint32_t)SAFEM_AGGTREE_MIN_NODES);
	return 0;
}

static bool
tree_pair_folded(const struct tree_pair *p)
{
	unsigned int d;

	for (d = 0; d < TREE_DIRS; d++) {
		const struct safem_aggtree_stats *s = safem_aggtree_stats(p->t[d]);

		if (s->folds != 0 || s->inherited_folds != 0)
			return true;
	}
	return false;
}

/*
 * The window header has no checksum of its own (the trees do), but its counts
 * must equal both trees' totals: every flow contribution adds the same
 * packets, bytes and one flow to both trees and to the counts.
 */
static bool
counts_match_trees(const struct safem_window_counts *c, const struct tree_pair *p)
{
	unsigned int d;

	for (d = 0; d < TREE_DIRS; d++) {
		struct safem_agg_counters total;

		safem_aggtree_totals(p->t[d], &total);
		if (total.packets != c->packets || total.bytes != c->bytes ||
		    total.flows != c->flows)
			return false;
	}
	return true;
}

/*
 * Read one file into buf. If it does not fit unfolded, buf grows (up to
 * limit) and the file is read again, so the node counts seen are the file's
 * own and the second pass reads it without folding. Returns 0 or -errno
 * (-EINVAL: not a window tree file).
 */
static int
read_window_file(const char *path, struct tree_pair *buf, uint32_t limit, uint64_t *start_ms,
		 uint64_t *end_ms, struct safem_window_counts *counts)
{
	for (;;) {
		int ret = safem_window_read_trees(path, start_ms, end_ms, counts, buf->t);
		uint64_t grown = RTE_MIN((uint64_t)buf->nodes * READ_GROWTH, (uint64_t)limit);

		if (ret != 0)
			return ret;
		if (!counts_match_trees(counts, buf))
			return -EINVAL;
		/* folds counts this read's reclaims only (the file's own are inherited). */
		if ((safem_aggtree_folds(buf->t[TREE_SRC]) == 0 &&
		     safem_aggtree_folds(buf->t[TREE_DST]) == 0) ||
		    buf->nodes >= limit)
			return 0;
		ret = tree_pair_create(buf, (uint32_t)grown, "read");
		if (ret != 0)
			return ret;
	}
}

/* ----------------------------------------------------------- first pass -- */

static int
cmp_file_identity(const void *a, const void *b)
{
	const struct merge_input *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Time order; within a window, input order, so the merge order is fixed. */
static int
cmp_window_order(const void *a, const void *b)
{
	const struct merge_input *x = a, *y = b;

	if (x->start_ms != y->start_ms)
		return x->start_ms < y->start_ms ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/*
 * Stat and read every input: reject what is not a window tree file, the same
 * file named twice (its traffic would count twice) and windows whose ends
 * disagree; leave the list in window order. *merge_nodes gets the bound the
 * merged trees need to hold the largest window unfolded (capped at the
 * option). Returns 0 or an exit code.
 */
static int
first_pass(struct input_list *l, struct tree_pair *buf, const struct merge_options *opt,
	   uint32_t *merge_nodes)
{
	uint64_t need = SAFEM_AGGTREE_MIN_NODES, sum[TREE_DIRS] = {0, 0};
	size_t i, first;
	unsigned int d;

	for (i = 0; i < l->n; i++) {
		struct merge_input *in = &l->v[i];
		struct safem_window_counts counts;
		struct stat st;
		int ret;

		if (stat(in->path, &st) != 0) {
			input_error(in->path, -errno);
			return EXIT_USAGE;
		}
		if (!S_ISREG(st.st_mode)) {
			fprintf(stderr, "safem-merge: %s: not a regular file\n", in->path);
			return EXIT_USAGE;
		}
		in->dev = st.st_dev;
		in->ino = st.st_ino;
		ret = read_window_file(in->path, buf, opt->tree_nodes, &in->start_ms, &in->end_ms,
				       &counts);
		if (ret == -ENOMEM)
			return EXIT_RUNTIME;
		if (ret != 0) {
			input_error(in->path, ret);
			return EXIT_USAGE;
		}
		for (d = 0; d < TREE_DIRS; d++)
			in->nodes[d] = safem_aggtree_nodes(buf->t[d]);
	}

	qsort(l->v, l->n, sizeof(l->v[0]), cmp_file_identity);
	for (i = 1; i < l->n; i++)
		if (l->v[i].dev == l->v[i - 1].dev && l->v[i].ino == l->v[i - 1].ino) {
			fprintf(stderr,
				"safem-merge: %s and %s are the same file: its traffic would "
				"count twice\n",
				l->v[i - 1].path, l->v[i].path);
			return EXIT_USAGE;
		}

	qsort(l->v, l->n, sizeof(l->v[0]), cmp_window_order);
	for (first = 0, i = 0; i <= l->n; i++) {
		if (i < l->n && l->v[i].start_ms == l->v[first].start_ms) {
			if (l->v[i].end_ms != l->v[first].end_ms) {
				fprintf(stderr,
					"safem-merge: the window starting at %" PRIu64
					" ms ends at %" PRIu64 " ms in %s but at %" PRIu64
					" ms in %s (probes run with different --window?)\n",
					l->v[first].start_ms, l->v[first].end_ms, l->v[first].path,
					l->v[i].end_ms, l->v[i].path);
				return EXIT_USAGE;
			}
			/* Merged nodes <= the sum of the inputs' (equal prefixes collapse). */
			for (d = 0; d < TREE_DIRS; d++)
				sum[d] += l->v[i].nodes[d];
			continue;
		}
		for (d = 0; d < TREE_DIRS; d++) {
			need = RTE_MAX(need, sum[d]);
			sum[d] = i < l->n ? l->v[i].nodes[d] : 0;
		}
		first = i;
	}
	*merge_nodes = (uint32_t)RTE_MIN(need, (uint64_t)opt->tree_nodes);
	return 0;
}

/* ---------------------------------------------------------------- output -- */

static int
check_trees_dir(const struct merge_options *opt, int argc, char **argv, int first_input)
{
	struct stat dir, in;
	int i;

	if (stat(opt->trees_dir, &dir) != 0 || access(opt->trees_dir, W_OK) != 0) {
		fprintf(stderr, "safem-merge: --trees %s: %s\n", opt->trees_dir, strerror(errno));
		return EXIT_USAGE;
	}
	if (!S_ISDIR(dir.st_mode)) {
		fprintf(stderr, "safem-merge: --trees %s: not a directory\n", opt->trees_dir);
		return EXIT_USAGE;
	}
	/* Writing window-X.tree among the inputs would replace an input. */
	for (i = first_input; i < argc; i++)
		if (stat(argv[i], &in) == 0 && in.st_dev == dir.st_dev && in.st_ino == dir.st_ino) {
			fprintf(stderr,
				"safem-merge: --trees %s is also an input: its files would be "
				"replaced\n",
				opt->trees_dir);
			return EXIT_USAGE;
		}
	return 0;
}

/*
 * Second pass: for each window, in time order, merge its files into fresh
 * trees, write the report line and the merged tree file. Counts how many
 * windows had folded trees (their distinct counts and exact entropies are
 * then bounds, see docs/formats.md). Returns 0 or an exit code.
 */
static int
merge_windows(const struct input_list *l, struct tree_pair *buf, struct tree_pair *merged,
	      const struct merge_options *opt, FILE *report, size_t *windows, size_t *folded)
{
	size_t i = 0, j;
	unsigned int d;
	int ret;

	*windows = *folded = 0;
	while (i < l->n) {
		const struct merge_input *w = &l->v[i];
		struct safem_window_counts sum = {0, 0, 0};

		for (d = 0; d < TREE_DIRS; d++)
			safem_aggtree_reset(merged->t[d]);
		for (j = i; j < l->n && l->v[j].start_ms == w->start_ms; j++) {
			struct safem_window_counts c;
			uint64_t start_ms, end_ms;

			ret = safem_window_read_trees(l->v[j].path, &start_ms, &end_ms, &c, buf->t);
			if (ret == 0 && (start_ms != w->start_ms || end_ms != w->end_ms ||
					 !counts_match_trees(&c, buf)))
				ret = -EINVAL;
			if (ret != 0) {
				/* It read fine a moment ago: something rewrote it. */
				input_error(l->v[j].path, ret);
				fprintf(stderr, "safem-merge: %s: changed while merging\n",
					l->v[j].path);
				return EXIT_USAGE;
			}
			for (d = 0; d < TREE_DIRS; d++)
				safem_aggtree_merge(merged->t[d], buf->t[d]);
			sum.packets += c.packets;
			sum.bytes += c.bytes;
			sum.flows += c.flows;
		}
		if (tree_pair_folded(merged))
			(*folded)++;
		(*windows)++;
		if (report != NULL) {
			ret = safem_window_write_report(report, opt->alpha, opt->log_base,
							w->start_ms, w->end_ms, merged->t, &sum,
							NULL);
			if (ret != 0) {
				fprintf(stderr, "safem-merge: %s: %s\n",
					opt->windows_path != NULL ? opt->windows_path
								  : "standard output",
					strerror(-ret));
				return EXIT_RUNTIME;
			}
		}
		if (opt->trees_dir != NULL) {
			char path[PATH_BYTES];

			if ((size_t)snprintf(path, sizeof(path),
					     "%s/window-%" PRIu64 TREE_FILE_SUFFIX, opt->trees_dir,
					     w->start_ms) >= sizeof(path))
				ret = -ENAMETOOLONG;
			else
				ret = safem_window_write_trees(path, w->start_ms, w->end_ms, &sum,
							       merged->t);
			if (ret != 0) {
				fprintf(stderr, "safem-merge: %s: %s\n", path, strerror(-ret));
				return EXIT_RUNTIME;
			}
		}
		i = j;
	}
	return 0;
}

/* Open the report: PATH (complete or absent, via safem_outfile), stdout, or none. */
static int
open_report(const struct merge_options *opt, struct safem_outfile **out, FILE **report)
{
	*out = NULL;
	*report = NULL;
	if (opt->windows_path == NULL) {
		if (opt->trees_dir == NULL)
			*report = stdout;
		return 0;
	}
	*out = safem_outfile_open(opt->windows_path, "w");
	if (*out == NULL) {
		fprintf(stderr, "safem-merge: --windows %s: %s\n", opt->windows_path,
			strerror(errno));
		return EXIT_USAGE;
	}
	*report = safem_outfile_stream(*out);
	return 0;
}

/* Flush and close the report; PATH appears only when everything succeeded. */
static int
close_report(const struct merge_options *opt, struct safem_outfile *out, FILE *report, int status)
{
	int ret;

	if (report == stdout) {
		if (fflush(stdout) != 0 && status == 0) {
			fprintf(stderr, "safem-merge: standard output: %s\n", strerror(errno));
			status = EXIT_RUNTIME;
		}
		return status;
	}
	if (out == NULL)
		return status;
	ret = safem_outfile_close(out, status == 0);
	if (ret != 0 && status == 0) {
		fprintf(stderr, "safem-merge: %s: %s\n", opt->windows_path, strerror(-ret));
		status = EXIT_RUNTIME;
	}
	return status;
}

int
main(int argc, char **argv)
{
	struct tree_pair buf = {{NULL, NULL}, 0}, merged = {{NULL, NULL}, 0};
	struct input_list inputs = {NULL, 0, 0};
	struct merge_options opt;
	struct safem_outfile *report_out = NULL;
	FILE *report = NULL;
	size_t windows = 0, folded = 0;
	uint32_t merge_nodes;
	int status, i;

	status = parse_options(argc, argv, &opt);
	if (status != 0)
		return status < 0 ? EXIT_SUCCESS : status;
	if (opt.trees_dir != NULL) {
		status = check_trees_dir(&opt, argc, argv, optind);
		if (status != 0)
			return status;
	}
	for (i = optind; i < argc && status == 0; i++)
		status = collect_input(&inputs, argv[i]);
	if (status == 0)
		status = tree_pair_create(&buf, RTE_MIN(FIRST_READ_NODES, opt.tree_nodes), "read")
				 ? EXIT_RUNTIME
				 : 0;
	if (status == 0)
		status = first_pass(&inputs, &buf, &opt, &merge_nodes);
	if (status == 0)
		status = tree_pair_create(&merged, merge_nodes, "merged") ? EXIT_RUNTIME : 0;
	if (status == 0)
		status = open_report(&opt, &report_out, &report);
	if (status == 0)
		status = merge_windows(&inputs, &buf, &merged, &opt, report, &windows, &folded);
	status = close_report(&opt, report_out, report, status);
	if (status == 0 && folded != 0)
		fprintf(stderr,
			"safem-merge: warning: %zu of %zu windows had folded trees (in a probe, "
			"or here beyond --tree-nodes %" PRIu32 "): not exact, their distinct "
			"counts are lower bounds\n",
			folded, windows, opt.tree_nodes);
	tree_pair_free(&buf);
	tree_pair_free(&merged);
	input_list_free(&inputs);
	return status;
}
