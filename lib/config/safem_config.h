/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SAFEM_CONFIG_H
#define SAFEM_CONFIG_H

/**
 * @file
 * Option tables shared by the command line, INI files (DPDK rte_cfgfile)
 * and --help. An app describes each option once (name, INI section/key,
 * type, default, bounds, help, offset of its field in the app's config
 * struct); this library fills the struct from defaults, then a file, then
 * the command line (later sources win), and reports errors naming the
 * option and, for files, the file and line.
 *
 * Not used on the packet path.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

enum safem_opt_type {
	SAFEM_OPT_BOOL,     /**< bool field; "true/false/yes/no/on/off/1/0"; a bare --flag sets true */
	SAFEM_OPT_UINT,     /**< uint64_t field; decimal or 0x hex, optional k/M/G suffix (x1000) */
	SAFEM_OPT_DURATION, /**< uint64_t field in ms; "30" = 30 s, "250ms", "1.5s", "5m", "1h" */
	SAFEM_OPT_STRING,   /**< char[SAFEM_OPT_STRING_MAX] field */
	SAFEM_OPT_CHOICE,   /**< char[SAFEM_OPT_STRING_MAX] field, value must be one of choices */
};

#define SAFEM_OPT_STRING_MAX 512

/** One option. Tables end with an entry whose name is NULL. */
struct safem_opt_def {
	const char *name;        /**< long option, without "--" (e.g. "inactive-timeout") */
	const char *section;     /**< INI section (e.g. "flow") */
	const char *key;         /**< INI key in that section (e.g. "inactive-timeout") */
	enum safem_opt_type type;
	const char *default_value; /**< as text, parsed like user input; NULL = empty/0/false */
	uint64_t min, max;       /**< bounds for UINT and DURATION (ms); max 0 = no upper bound */
	const char *const *choices; /**< NULL-terminated, for CHOICE */
	size_t offset;           /**< offsetof(app config struct, field) */
	const char *help;        /**< one line */
	const char *metavar;     /**< shown in --help (e.g. "PATH"); NULL = derived from type */
};

/** Fill every field with its default. Returns 0 or -EINVAL (a bad default: a bug). */
int safem_config_set_defaults(const struct safem_opt_def *defs, void *cfg, char *err, size_t errlen);

/**
 * Apply an INI file. Every [section] key must be in the table, every value
 * must parse and be in bounds. Errors read like
 *   "FILE:LINE: [flow] inactive-timeout = 'abc': not a duration (e.g. 30s, 250ms, 5m)".
 * Comments: lines starting with ';' or '#', and the rest of a line after its
 * first ';' unless that one is written "\;": then, as rte_cfgfile reads it,
 * the line has no comment and every "\;" is a literal ';'. A value may have
 * up to 255 characters
 * (rte_cfgfile's CFG_VALUE_LEN). Later lines win over earlier ones.
 * Returns 0, or -EINVAL / -ENOENT (or another -errno from opening or reading
 * the file) with err filled.
 */
int safem_config_load_file(const struct safem_opt_def *defs, void *cfg, const char *path,
			   char *err, size_t errlen);

/**
 * Apply command-line options (argv[0] is skipped; "--name value",
 * "--name=value", a bare "--flag" for BOOL). Options named in
 * passthrough (NULL-terminated, e.g. {"config", "help", NULL}) are accepted
 * and skipped with their value (the next argument unless given as
 * --name=value or the next one starts with '-'), so a caller can look for
 * them first.
 * Positional arguments are an error. Returns 0 or -EINVAL with err filled.
 */
int safem_config_parse_args(const struct safem_opt_def *defs, void *cfg, int argc,
			    char *const argv[], const char *const *passthrough, char *err,
			    size_t errlen);

/** Set one option from text, as if given on the command line. */
int safem_config_set(const struct safem_opt_def *defs, void *cfg, const char *name,
		     const char *value, char *err, size_t errlen);

/** Print every option: "--name METAVAR  help (default: X) [section] key". */
void safem_config_print_help(FILE *out, const struct safem_opt_def *defs);

/** Print the effective configuration as INI (round-trips through load_file). */
void safem_config_print_ini(FILE *out, const struct safem_opt_def *defs, const void *cfg);

/** Find an option by long name; NULL if none. */
const struct safem_opt_def *safem_config_find(const struct safem_opt_def *defs, const char *name);

#ifdef __cplusplus
}
#endif

#endif /* SAFEM_CONFIG_H */
