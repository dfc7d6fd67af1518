/*
 * import_stubs.h -- stand-ins for the import frame's functions, so that a
 * feed's parse step runs without a database (fuzz_feed.c).
 *
 * import_stubs.c defines import_stage_row, import_reject, import_reject_err
 * and the rest of what the feeds call from import.c; linked before
 * liblagerbild.a, they are used instead of import.o's.  They check what
 * the feed hands them (fuzz_fail on anything the real frame or the staging
 * COPY would choke on) and count it here.
 */
#ifndef LAGERBILD_IMPORT_STUBS_H
#define LAGERBILD_IMPORT_STUBS_H

#include <stdint.h>

struct stub_stats {
	int64_t staged;		  /* records staged */
	int64_t rejected;	  /* import_reject calls */
	int64_t last_staged_line; /* line of the last record staged */
	int expected_cols;	  /* values per staged record; -1: any */
};

/* Reset by the target before each input. */
extern struct stub_stats stub_stats;

#endif
