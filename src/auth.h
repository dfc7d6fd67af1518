/*
 * auth.h -- who is calling, and what lagerbild lets them do.
 *
 * Callers are users with one role each (DESIGN.md, "Who uses it").  A
 * region_contact or importer belongs to one region; the other roles are
 * national.  Machines and people authenticate with bearer API tokens:
 * 32 random bytes from libsodium, shown once, stored as a SHA-256 hash and
 * compared in constant time.  Passwords (for the web UI) are argon2id.
 *
 * Every transaction a request runs is opened with auth_begin, which sets the
 * caller's identity with SET LOCAL; the row-level security policies of
 * sql/003_auth.sql read it, so the database enforces region scoping behind
 * the handlers' own checks.
 */
#ifndef LAGERBILD_AUTH_H
#define LAGERBILD_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "err.h"

enum role {
	ROLE_NONE = 0,
	ROLE_REGION_CONTACT,
	ROLE_COORDINATOR,
	ROLE_VIEWER,
	ROLE_IMPORTER,
	ROLE_ADMIN,
	ROLE_SYSTEM /* the command line, run with database credentials */
};

struct identity {
	int64_t user_id;   /* 0 for ROLE_SYSTEM */
	int64_t token_id;  /* 0 when not authenticated by a token */
	char username[64];
	enum role role;
	char region[3];	   /* "" for national roles */
	char remote[64];   /* where the request came from, "" if local */
	char request_id[37]; /* of the request acting, "" outside one */
};

/* Token text: "lbt_" + token id + "_" + 43 base64url characters. */
#define AUTH_TOKEN_MAX 96

/* ---- roles ---- */

/* "region_contact", ...; "none" for ROLE_NONE. */
const char *auth_role_name(enum role role);

/* Parse a role name (not "system", which only the CLI takes). */
int auth_role_parse(const char *s, enum role *out, const char *field,
		    struct err *e);

/* True for the roles that see every region's detail: coordinator, viewer,
 * admin, system. */
bool auth_is_national(const struct identity *who);

/* May who record stock events for sites of region?  Only a region's own
 * region_contact or importer, or the system. */
bool auth_may_write_stock(const struct identity *who, const char *region);

/* May who read site-level balances, lots and the ledger of region? */
bool auth_may_read_region_detail(const struct identity *who,
				 const char *region);

/* The identity the command line acts with. */
void auth_system_identity(struct identity *out, const char *actor);

/* ---- transactions ---- */

/*
 * BEGIN, then SET LOCAL the caller's identity (lagerbild.role, .region,
 * .user_id, .token_id, .actor) for row-level security and the ledger's
 * recorded_by.  End it with db_commit or db_rollback.
 */
int auth_begin(struct db *db, const struct identity *who, struct err *e);

/* ---- tokens ---- */

/*
 * Authenticate a bearer token: it must exist, match in constant time, be
 * neither expired nor revoked, and its user must be enabled.  Every such
 * failure is the same ERR_INVALID "invalid or expired token", so that a
 * caller answers 401 without telling which part was wrong.  Database
 * trouble is ERR_UNAVAILABLE or ERR_INTERNAL.
 */
int auth_authenticate(struct db *db, const char *token, struct identity *out,
		      struct err *e);

/*
 * Create a token for user username, valid for days (1..3650) days.  Writes
 * the token text, to be shown once, to out.  db must be the owner or run
 * as an admin/system identity.
 */
int auth_token_create(struct db *db, const char *username, const char *label,
		      int days, char out[AUTH_TOKEN_MAX], int64_t *token_id,
		      struct err *e);

/* Revoke a token by id; revoking twice is not an error. */
int auth_token_revoke(struct db *db, int64_t token_id, struct err *e);

/* ---- users ---- */

/*
 * Add a user.  region is required for region_contact, optional for importer
 * (national feeds), and must be NULL for the national roles.  password may
 * be NULL (token-only users).
 */
int auth_user_add(struct db *db, const char *username, enum role role,
		  const char *region, const char *display_name,
		  const char *password, int64_t *user_id, struct err *e);

/* Disable a user: their tokens stop working at once. */
int auth_user_disable(struct db *db, const char *username, struct err *e);

/* ---- passwords ---- */

/* argon2id (libsodium crypto_pwhash_str, interactive limits). */
int auth_password_hash(const char *password, char *out, size_t out_size,
		       struct err *e);

/* 0 when password matches hash, -1 otherwise (constant time in libsodium). */
int auth_password_verify(const char *hash, const char *password);

#endif
