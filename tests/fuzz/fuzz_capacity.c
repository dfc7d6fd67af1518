/*
 * fuzz_capacity.c -- libFuzzer target for allocation_capacity_parse, the
 * parser of the capacity file an operator hands to `allocate plan`.
 *
 * The file comes from outside and its numbers go straight into the
 * allocator, so besides ASan/UBSan's view of the CSV handling this checks
 * what the allocator relies on: on success 1 <= weeks <= max, every week's
 * packs in [0, LEDGER_QTY_MAX], nothing written past the weeks read, and no
 * NUL byte in an accepted file (such a file was once read up to the NUL);
 * on failure an ERR_INVALID naming "capacity" with a message.
 *
 * Input: byte 0 picks max (ALLOCATOR_WEEKS_MAX, or 1..8 to reach the "more
 * than the weeks allowed" path); the rest is the file, in a buffer of
 * exactly its size with no NUL after it, as the parser must not need one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "allocation.h"
#include "ledger.h"

#include "fuzz.h"

/* Written to every slot first: a slot past the weeks read must keep it. */
#define UNTOUCHED (-777)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = {0};
	int64_t *cap = NULL;
	char *text = NULL;
	int max, weeks = -1, rc;

	if (size < 1)
		return 0;
	max = data[0] >= 0x80 ? ALLOCATOR_WEEKS_MAX : data[0] % 8 + 1;
	data++;
	size--;
	/* exact sizes, so that ASan sees a read or write one past the end */
	text = malloc(size ? size : 1);
	cap = malloc(sizeof(*cap) * (size_t)max);
	if (!text || !cap)
		fuzz_fail("out of memory");
	memcpy(text, data, size);
	for (int i = 0; i < max; i++)
		cap[i] = UNTOUCHED;

	rc = allocation_capacity_parse(text, size, cap, max, &weeks, &e);
	fuzz_check_err(rc, &e, e.code == ERR_INVALID ? "capacity" : NULL);
	if (rc == 0) {
		if (weeks < 1 || weeks > max)
			fuzz_fail("weeks %d, max %d", weeks, max);
		for (int i = 0; i < weeks; i++)
			if (cap[i] < 0 || cap[i] > LEDGER_QTY_MAX)
				fuzz_fail("week %d: %lld packs", i + 1,
					  (long long)cap[i]);
		for (int i = weeks; i < max; i++)
			if (cap[i] != UNTOUCHED)
				fuzz_fail("slot %d written past %d weeks", i,
					  weeks);
		if (memchr(text, '\0', size))
			fuzz_fail("a file with a NUL byte accepted");
	} else if (e.code != ERR_INVALID && e.code != ERR_INTERNAL) {
		fuzz_fail("error code %d", (int)e.code);
	}
	free(cap);
	free(text);
	return 0;
}
