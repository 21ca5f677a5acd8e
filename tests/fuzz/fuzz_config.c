/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/config: INI files (rte_cfgfile underneath), through safem-probe's real
 * option table and validation: probe_options_parse with
 * "--config FILE --check-config", exactly what `safem-probe -- --config FILE
 * --check-config` runs after EAL init.
 *
 * Checks: the result is "go on" or "bad config" (never help), and a config
 * that is accepted prints as INI that loads again to the same settings
 * (safem_config_print_ini round-trips through load_file, as its header says).
 */
#include <string.h>

#include "fuzz_common.h"
#include "probe_options.h"
#include "safem_config.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct probe_config cfg, again;
	const char *path = fuzz_file(0, data, size);
	char *argv[] = {"safem-probe", "--config", (char *)path, "--check-config", NULL};
	char *ini = NULL, err[1024] = "";
	size_t ini_len = 0;
	bool check_only;
	FILE *f;
	int rc;

	rc = probe_options_parse(&cfg, 4, argv, &check_only);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	if (rc != 0)
		return 0;
	FUZZ_CHECK(check_only);

	f = open_memstream(&ini, &ini_len);
	FUZZ_CHECK(f != NULL);
	safem_config_print_ini(f, probe_options, &cfg);
	FUZZ_CHECK(fclose(f) == 0);
	FUZZ_CHECK(safem_config_set_defaults(probe_options, &again, err, sizeof(err)) == 0);
	rc = safem_config_load_file(probe_options, &again, fuzz_file(1, (const uint8_t *)ini, ini_len),
				    err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "printed INI does not load: %s\n", err);
	FUZZ_CHECK(rc == 0);
	/* ... to the same settings: printed again, the same text. */
	{
		char *ini2 = NULL;
		size_t ini2_len = 0;

		f = open_memstream(&ini2, &ini2_len);
		FUZZ_CHECK(f != NULL);
		safem_config_print_ini(f, probe_options, &again);
		FUZZ_CHECK(fclose(f) == 0);
		FUZZ_CHECK(ini2_len == ini_len && memcmp(ini, ini2, ini_len) == 0);
		free(ini2);
	}
	free(ini);
	return 0;
}
