/*
 * migrate.h -- numbered schema migrations with checksums.
 *
 * Migration files are named NNN_what.sql and applied in order, each in its
 * own transaction together with its row in schema_migrations (version, name,
 * SHA-256 of the file).  A migration that was applied and has since been
 * edited is refused: released migrations are never edited.  Running twice
 * applies nothing the second time.  Concurrent migrators wait for each other
 * on an advisory lock.
 */
#ifndef LAGERBILD_MIGRATE_H
#define LAGERBILD_MIGRATE_H

#include <stddef.h>

#include "db.h"
#include "embedded.h"

struct migrate_result {
	int applied; /* migrations applied by this run */
	int current; /* highest version in the database afterwards */
};

/*
 * Apply the pending migrations among files (in name order, names starting
 * with a positive number).  db must be connected as the schema owner.
 */
int migrate_run(struct db *db, const struct embedded_file *files, size_t n,
		struct migrate_result *out, struct err *e);

/*
 * Is the database's schema the one files make?  0 when every one of them
 * is applied, unedited, and none beyond them; otherwise -1 with e saying
 * how it differs: ERR_UNAVAILABLE naming the first migration missing (run
 * lagerbild migrate), or migrate_run's refusal for a database that is
 * newer or was migrated from other files.  One read, no lock: for every
 * connection but the migrator's, before it acts.
 */
int migrate_check(struct db *db, const struct embedded_file *files, size_t n,
		  struct err *e);

/* SHA-256 of len bytes as 64 lower-case hex digits plus NUL. */
void migrate_checksum(const char *data, size_t len, char out[65]);

#endif
