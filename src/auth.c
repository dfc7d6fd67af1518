/*
 * auth.c -- roles, identities, API tokens, users and passwords.
 *
 * A token is "lbt_<id>_<secret>": the id finds the row, the secret is 32
 * random bytes in URL-safe base64.  Only SHA-256 of the secret bytes is
 * stored, and the comparison is sodium_memcmp, so neither the database nor
 * the timing of a refusal gives the secret away.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "auth.h"
#include "validate.h"

#define SECRET_BYTES 32
/* base64url without padding of 32 bytes */
#define SECRET_CHARS 43

static const char *const role_names[] = {
	[ROLE_NONE] = "none",
	[ROLE_REGION_CONTACT] = "region_contact",
	[ROLE_COORDINATOR] = "coordinator",
	[ROLE_VIEWER] = "viewer",
	[ROLE_IMPORTER] = "importer",
	[ROLE_ADMIN] = "admin",
	[ROLE_SYSTEM] = "system",
};

#define NROLES (sizeof(role_names) / sizeof(role_names[0]))

const char *auth_role_name(enum role role)
{
	return (size_t)role < NROLES ? role_names[role] : "none";
}

int auth_role_parse(const char *s, enum role *out, const char *field,
		    struct err *e)
{
	for (size_t i = ROLE_REGION_CONTACT; s && i < ROLE_SYSTEM; i++) {
		if (strcmp(s, role_names[i]) == 0) {
			*out = (enum role)i;
			return 0;
		}
	}
	return err_set(e, ERR_INVALID, field,
		       "role \"%.40s\": not one of region_contact, "
		       "coordinator, viewer, importer, admin",
		       s ? s : "");
}

bool auth_is_national(const struct identity *who)
{
	return who->role == ROLE_COORDINATOR || who->role == ROLE_VIEWER ||
	       who->role == ROLE_ADMIN || who->role == ROLE_SYSTEM;
}

bool auth_may_write_stock(const struct identity *who, const char *region)
{
	if (who->role == ROLE_SYSTEM)
		return true;
	return (who->role == ROLE_REGION_CONTACT ||
		who->role == ROLE_IMPORTER) &&
	       who->region[0] && strcmp(who->region, region) == 0;
}

bool auth_may_read_region_detail(const struct identity *who, const char *region)
{
	return auth_is_national(who) ||
	       (who->region[0] && strcmp(who->region, region) == 0);
}

void auth_system_identity(struct identity *out, const char *actor)
{
	memset(out, 0, sizeof(*out));
	out->role = ROLE_SYSTEM;
	snprintf(out->username, sizeof(out->username), "%s", actor);
}

/* Prepared once per connection: every request runs these. */
static const struct db_stmt identity_stmt = {
	"auth_identity",
	"SELECT set_config('lagerbild.role', $1, true),"
	" set_config('lagerbild.region', $2, true),"
	" set_config('lagerbild.user_id', $3, true),"
	" set_config('lagerbild.token_id', $4, true),"
	" set_config('lagerbild.actor', $5, true),"
	" set_config('lagerbild.remote', $6, true),"
	" set_config('lagerbild.request_id', $7, true)",
	7,
};

static const struct db_stmt token_stmt = {
	"auth_token",
	"SELECT secret_hash, user_id, username, role, region_code"
	" FROM lb_token_lookup($1)",
	1,
};

int auth_begin(struct db *db, const struct identity *who, struct err *e)
{
	char user[24], token[24];
	const char *params[7];
	PGresult *res;

	snprintf(user, sizeof(user), "%lld", (long long)who->user_id);
	snprintf(token, sizeof(token), "%lld", (long long)who->token_id);
	params[0] = auth_role_name(who->role);
	params[1] = who->region;
	params[2] = who->user_id ? user : "";
	params[3] = who->token_id ? token : "";
	params[4] = who->username;
	params[5] = who->remote;
	params[6] = who->request_id;
	if (who->role == ROLE_NONE)
		return err_set(e, ERR_INTERNAL, "", "no identity to act as");
	if (db_begin(db, e) < 0)
		return -1;
	res = db_exec_stmt(db, &identity_stmt, params, e);
	if (!res) {
		db_rollback(db);
		return -1;
	}
	PQclear(res);
	return 0;
}

/* ---- tokens ---- */

static int invalid_token(struct err *e)
{
	return err_set(e, ERR_INVALID, "token", "invalid or expired token");
}

/* Split "lbt_<id>_<secret>" and decode the secret.  Pure. */
static int parse_token(const char *token, int64_t *id,
		       unsigned char secret[SECRET_BYTES])
{
	char digits[20];
	const char *p, *underscore;
	size_t n, bin_len;
	struct err ignored;

	if (!token || strncmp(token, "lbt_", 4) != 0 ||
	    strlen(token) >= AUTH_TOKEN_MAX)
		return -1;
	p = token + 4;
	underscore = strchr(p, '_');
	if (!underscore)
		return -1;
	n = (size_t)(underscore - p);
	if (n == 0 || n >= sizeof(digits))
		return -1;
	memcpy(digits, p, n);
	digits[n] = '\0';
	if (parse_int64(digits, 1, INT64_MAX, id, "token", &ignored) < 0)
		return -1;
	if (strlen(underscore + 1) != SECRET_CHARS)
		return -1;
	if (sodium_base642bin(secret, SECRET_BYTES, underscore + 1,
			      SECRET_CHARS, NULL, &bin_len, NULL,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    bin_len != SECRET_BYTES)
		return -1;
	return 0;
}

int auth_authenticate(struct db *db, const char *token, struct identity *out,
		      struct err *e)
{
	unsigned char secret[SECRET_BYTES], hash[crypto_hash_sha256_BYTES];
	unsigned char stored[crypto_hash_sha256_BYTES];
	char idbuf[24];
	const char *params[1] = {idbuf};
	PGresult *res = NULL;
	enum role role;
	struct err ignored;
	int64_t id;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (parse_token(token, &id, secret) < 0)
		return invalid_token(e);
	crypto_hash_sha256(hash, secret, sizeof(secret));
	sodium_memzero(secret, sizeof(secret));
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)id);
	res = db_exec_stmt(db, &token_stmt, params, e);
	if (!res)
		goto out;
	if (PQntuples(res) != 1 ||
	    sodium_hex2bin(stored, sizeof(stored), db_text(res, 0, 0),
			   strlen(db_text(res, 0, 0)), NULL, NULL, NULL) != 0 ||
	    sodium_memcmp(stored, hash, sizeof(hash)) != 0 ||
	    auth_role_parse(db_text(res, 0, 3), &role, "role", &ignored) < 0) {
		invalid_token(e);
		goto out;
	}
	out->token_id = id;
	out->user_id = db_int64(res, 0, 1);
	snprintf(out->username, sizeof(out->username), "%s",
		 db_text(res, 0, 2));
	out->role = role;
	snprintf(out->region, sizeof(out->region), "%s", db_text(res, 0, 4));
	rc = 0;
out:
	PQclear(res);
	return rc;
}

int auth_token_create(struct db *db, const char *username, const char *label,
		      int days, char out[AUTH_TOKEN_MAX], int64_t *token_id,
		      struct err *e)
{
	unsigned char secret[SECRET_BYTES], hash[crypto_hash_sha256_BYTES];
	char hash_hex[2 * sizeof(hash) + 1], days_buf[16];
	char b64[SECRET_CHARS + 1];
	const char *params[4];
	PGresult *res = NULL;
	int rc = -1;

	out[0] = '\0';
	if (days < 1 || days > 3650)
		return err_set(e, ERR_INVALID, "days",
			       "days %d: must be between 1 and 3650", days);
	if (validate_text(label, 200, false, "label", e) < 0)
		return -1;
	randombytes_buf(secret, sizeof(secret));
	crypto_hash_sha256(hash, secret, sizeof(secret));
	sodium_bin2hex(hash_hex, sizeof(hash_hex), hash, sizeof(hash));
	sodium_bin2base64(b64, sizeof(b64), secret, sizeof(secret),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(secret, sizeof(secret));
	snprintf(days_buf, sizeof(days_buf), "%d", days);
	params[0] = username;
	params[1] = label;
	params[2] = hash_hex;
	params[3] = days_buf;
	res = db_exec(
		db,
		"INSERT INTO api_token (user_id, label, secret_hash,"
		" expires_at, created_by)"
		" SELECT id, $2, decode($3, 'hex'),"
		" now() + make_interval(days => $4::integer),"
		" coalesce(nullif(current_setting('lagerbild.actor', true),"
		" ''), session_user)"
		" FROM app_user WHERE username = $1 AND disabled_at IS NULL"
		" RETURNING id",
		4, params, e);
	if (!res)
		goto out;
	if (PQntuples(res) != 1) {
		err_set(e, ERR_NOT_FOUND, "username",
			"user %.64s: no such enabled user", username);
		goto out;
	}
	*token_id = db_int64(res, 0, 0);
	snprintf(out, AUTH_TOKEN_MAX, "lbt_%lld_%s", (long long)*token_id, b64);
	rc = 0;
out:
	sodium_memzero(b64, sizeof(b64));
	PQclear(res);
	return rc;
}

/*
 * Run a statement that updates a row if it needs it and counts whether the
 * row exists at all (so that doing it twice is not an error, but naming
 * nothing is).  1 when it exists, 0 when not, -1 on failure.
 */
static int update_existing(struct db *db, const char *sql, const char *param,
			   struct err *e)
{
	const char *params[1] = {param};
	PGresult *res = db_exec(db, sql, 1, params, e);
	int found;

	if (!res)
		return -1;
	found = db_int64(res, 0, 0) > 0;
	PQclear(res);
	return found;
}

int auth_token_revoke(struct db *db, int64_t token_id, struct err *e)
{
	char idbuf[24];
	int found;

	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)token_id);
	found = update_existing(db,
				"WITH t AS (SELECT id FROM api_token"
				"  WHERE id = $1),"
				" r AS (UPDATE api_token SET revoked_at = now()"
				"  WHERE id = $1 AND revoked_at IS NULL)"
				" SELECT count(*) FROM t",
				idbuf, e);
	if (found == 0)
		return err_set(e, ERR_NOT_FOUND, "id",
			       "token %lld: no such token",
			       (long long)token_id);
	return found < 0 ? -1 : 0;
}

/* ---- users ---- */

static int check_username(const char *s, struct err *e)
{
	size_t n = s ? strlen(s) : 0;

	if (n < 2 || n > 64)
		return err_set(e, ERR_INVALID, "username",
			       "username \"%.64s\": must be 2 to 64 characters",
			       s ? s : "");
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			  (i > 0 &&
			   (c == '.' || c == '_' || c == '@' || c == '-'));

		if (!ok)
			return err_set(e, ERR_INVALID, "username",
				       "username \"%.64s\": use lower-case "
				       "letters, digits and . _ @ -, starting "
				       "with a letter or digit",
				       s);
	}
	return 0;
}

int auth_user_add(struct db *db, const char *username, enum role role,
		  const char *region, const char *display_name,
		  const char *password, int64_t *user_id, struct err *e)
{
	char hash[crypto_pwhash_STRBYTES];
	const char *params[5];
	PGresult *res = NULL;

	if (check_username(username, e) < 0)
		return -1;
	if (role == ROLE_NONE || role == ROLE_SYSTEM)
		return err_set(e, ERR_INVALID, "role",
			       "role %s cannot be given", auth_role_name(role));
	if (role == ROLE_REGION_CONTACT && !region)
		return err_set(e, ERR_INVALID, "region",
			       "a region_contact needs a region");
	if (region && role != ROLE_REGION_CONTACT && role != ROLE_IMPORTER)
		return err_set(e, ERR_INVALID, "region",
			       "a %s is national and has no region",
			       auth_role_name(role));
	if (region && validate_region_code(region, "region", e) < 0)
		return -1;
	if (display_name &&
	    validate_text(display_name, 200, false, "name", e) < 0)
		return -1;
	if (password && auth_password_hash(password, hash, sizeof(hash), e) < 0)
		return -1;
	params[0] = username;
	params[1] = auth_role_name(role);
	params[2] = region;
	params[3] = display_name;
	params[4] = password ? hash : NULL;
	res = db_exec(db,
		      "INSERT INTO app_user (username, role, region_code,"
		      " display_name, password_hash)"
		      " VALUES ($1, $2, $3, $4, $5) RETURNING id",
		      5, params, e);
	sodium_memzero(hash, sizeof(hash));
	if (!res) {
		if (e->code == ERR_CONFLICT)
			err_set(e, ERR_CONFLICT, "username",
				"user %s already exists", username);
		return -1;
	}
	*user_id = db_int64(res, 0, 0);
	PQclear(res);
	return 0;
}

int auth_user_disable(struct db *db, const char *username, struct err *e)
{
	int found = update_existing(db,
				    "WITH u AS (SELECT id FROM app_user"
				    "  WHERE username = $1),"
				    " d AS (UPDATE app_user SET disabled_at ="
				    "  now() WHERE username = $1"
				    "  AND disabled_at IS NULL)"
				    " SELECT count(*) FROM u",
				    username, e);

	if (found == 0)
		return err_set(e, ERR_NOT_FOUND, "username",
			       "user %.64s: no such user", username);
	return found < 0 ? -1 : 0;
}

/* ---- passwords ---- */

int auth_password_hash(const char *password, char *out, size_t out_size,
		       struct err *e)
{
	size_t n = password ? strlen(password) : 0;

	if (out_size < crypto_pwhash_STRBYTES)
		return err_set(e, ERR_INTERNAL, "",
			       "password buffer too small");
	if (n < 12 || n > 1024)
		return err_set(e, ERR_INVALID, "password",
			       "password: must be 12 to 1024 bytes long");
	if (crypto_pwhash_str_alg(out, password, n,
				  crypto_pwhash_OPSLIMIT_INTERACTIVE,
				  crypto_pwhash_MEMLIMIT_INTERACTIVE,
				  crypto_pwhash_ALG_ARGON2ID13) != 0)
		return err_set(e, ERR_INTERNAL, "",
			       "out of memory hashing a password");
	return 0;
}

int auth_password_verify(const char *hash, const char *password)
{
	if (!hash || !password)
		return -1;
	return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0 ?
		       0 :
		       -1;
}
