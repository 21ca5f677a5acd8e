/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers shared by the libFuzzer targets (tests/fuzz, scripts/fuzz).
 *
 * The loaders under test take a path, as they do in the apps. The input is
 * written to a memfd and handed over as /proc/self/fd/N: opening that path
 * gives a fresh file description at offset 0 on the same in-memory file, so
 * every iteration reads exactly the fuzzer's bytes without touching a disk.
 */
#ifndef SAFEM_FUZZ_COMMON_H
#define SAFEM_FUZZ_COMMON_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A check failed: the code under test broke a promise of its header. abort()
 * makes libFuzzer save the input as a crash reproducer. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__,     \
				#cond);                                                            \
			abort();                                                           \
		}                                                                                  \
	} while (0)

/* Path of a memfd holding exactly data[0..size). One memfd per slot (0..3)
 * for targets that need several files at once. */
static inline const char *
fuzz_file(unsigned int slot, const uint8_t *data, size_t size)
{
	static int fds[4] = {-1, -1, -1, -1};
	static char paths[4][32];
	size_t done = 0;

	FUZZ_CHECK(slot < 4);
	if (fds[slot] < 0) {
		fds[slot] = memfd_create("safem-fuzz", 0);
		FUZZ_CHECK(fds[slot] >= 0);
		snprintf(paths[slot], sizeof(paths[slot]), "/proc/self/fd/%d", fds[slot]);
	}
	FUZZ_CHECK(ftruncate(fds[slot], 0) == 0);
	while (done < size) {
		ssize_t n = pwrite(fds[slot], data + done, size - done, (off_t)done);

		FUZZ_CHECK(n > 0);
		done += (size_t)n;
	}
	return paths[slot];
}

#endif /* SAFEM_FUZZ_COMMON_H */
