/*
 * fuzz.h -- what the libFuzzer targets of tests/fuzz/ share: the entry
 * points libFuzzer calls, and the checks every target makes of an answer.
 *
 * A target aborts (through fuzz_fail) when an invariant does not hold, so
 * that libFuzzer keeps the input as a crash; ASan and UBSan catch the rest.
 * `make fuzz` builds and runs them (tests/fuzz/run.sh).
 */
#ifndef LAGERBILD_FUZZ_H
#define LAGERBILD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* ---- libFuzzer's entry points (defined by each target) ---- */

/* Run one input; always returns 0 (libFuzzer reserves other values). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Once before the first input; defined only by targets that need it. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* ---- checks ---- */

/* Print "fuzz: invariant: ..." to stderr and abort(). */
_Noreturn void fuzz_fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/*
 * The error convention of err.h after a call that returned rc: rc is 0 or
 * -1; on -1 e has a code and a message, field and message are
 * NUL-terminated, and both are valid UTF-8 (err_set scrubs them: they
 * go to JSON); when field is not NULL, e->field is field.  Fails
 * otherwise.
 */
void fuzz_check_err(int rc, const struct err *e, const char *field);

/*
 * Decode one UTF-8 character at s into *cp; its length, or 0 when s does
 * not start with a valid one (overlong, surrogate, beyond U+10FFFF,
 * truncated).  A reference written apart from src/validate.c's decoder.
 */
int fuzz_utf8_char(const unsigned char *s, uint32_t *cp);

/* Is the NUL-terminated s valid UTF-8 throughout? */
int fuzz_utf8_valid(const char *s);

#endif
