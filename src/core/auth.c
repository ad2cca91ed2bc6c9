/* SPDX-License-Identifier: Apache-2.0 */
/*
 * auth.c - users, passwords (argon2id), API tokens, sessions and login
 * throttling. Secrets never reach the database: tokens and session ids are
 * stored as their SHA-256, passwords as argon2id strings. Every security
 * event (user added, token created, login, failed login) is journalled.
 */
#include "kanri.h"

#include <pthread.h>
#include <time.h>

#include <sodium.h>

#include "core/auth.h"

#define OPS(e) ((e)->store->ops)
#define ST(e) ((e)->store)

/* OWASP's argon2id floor: 19 MiB, 2 passes; fast enough for interactive logins. */
#define PW_OPS 2
#define PW_MEM (19u * 1024 * 1024)
#define LOCK_AFTER 5
#define LOCK_MAX_S 900

int kn_password_check(const char *pw, kn_error *err)
{
	if (!pw || strlen(pw) < 8)
		return kn_fail(err, KN_EVALID, "password",
			       "the password must be at least 8 characters");
	return 0;
}

int kn_password_hash(const char *pw, char out[160], kn_error *err)
{
	if (sodium_init() < 0)
		return kn_fail(err, KN_EINTERNAL, "", "libsodium failed to start");
	if (crypto_pwhash_str(out, pw, strlen(pw), PW_OPS, PW_MEM) != 0)
		return kn_fail(err, KN_EINTERNAL, "", "out of memory while hashing a password");
	return 0;
}

bool kn_password_verify(const char *hash, const char *pw)
{
	if (!hash || !*hash)
		return false;
	return crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 64)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("._@-", *p)))
			return false;
	return true;
}

static int finish(kn_engine *e, int rc, kn_error *err)
{
	if (rc) {
		OPS(e)->rollback(ST(e));
		return rc;
	}
	return OPS(e)->commit(ST(e), err);
}

int kn_user_add(kn_engine *e, const char *actor, const char *name, const char *role,
		const char *org, const char *password, kn_error *err)
{
	kn_user u;
	memset(&u, 0, sizeof u);
	if (!name || !name_ok(name))
		return kn_fail(err, KN_EVALID, "name",
			       "a user name is 1 to 64 letters, digits or . _ @ -");
	u.role = kn_role_parse(role);
	if (!kn_role_user_ok(u.role))
		return kn_fail(err, KN_EVALID, "role",
			       "role must be one of admin, agent, enduser, auditor, optionally with "
			       "process roles after a comma (agent,security)");
	if (org && (strlen(org) >= sizeof u.org || !kn_utf8_valid(org, strlen(org))))
		return kn_fail(err, KN_EVALID, "org", "organisation name too long or not UTF-8");
	if ((u.role & KN_ROLE_ENDUSER) && (!org || !*org))
		return kn_fail(err, KN_EVALID, "org", "an end user needs an organisation (--org)");
	int rc = kn_password_check(password, err);
	if (rc)
		return rc;
	snprintf(u.name, sizeof u.name, "%s", name);
	snprintf(u.org, sizeof u.org, "%s", org ? org : "");
	if ((rc = kn_password_hash(password, u.pwhash, err)) != 0)
		return rc;
	if ((rc = OPS(e)->begin(ST(e), true, err)))
		return rc;
	rc = OPS(e)->user_insert(ST(e), &u, err);
	if (rc == KN_ECONFLICT)
		rc = kn_fail(err, KN_ECONFLICT, "name", "user %s already exists", name);
	if (!rc) {
		json_t *ch = json_pack("[{s:s,s:n,s:s},{s:s,s:n,s:s},{s:s,s:n,s:s}]", "field",
				       "name", "old", "new", name, "field", "role", "old", "new",
				       role, "field", "org", "old", "new", u.org);
		rc = kn_journal_append(e, actor, "", u.id, "user.add", ch, NULL, NULL, err);
		json_decref(ch);
	}
	return finish(e, rc, err);
}

int kn_token_create(kn_engine *e, const char *actor, const char *user, const char *label,
		    char **token_out, kn_error *err)
{
	kn_user u;
	int rc = OPS(e)->user_get(ST(e), user, 0, &u, err);
	if (rc == KN_ENOTFOUND)
		return kn_fail(err, KN_ENOTFOUND, "user", "no user named %s", user);
	if (rc)
		return rc;
	char *rnd = kn_random_token(32);
	char *tok = kn_xasprintf("kn_%s", rnd);
	free(rnd);
	char h[65], now[32];
	kn_sha256_hex(tok, strlen(tok), h);
	kn_now_iso(now, sizeof now);
	if ((rc = OPS(e)->begin(ST(e), true, err))) {
		free(tok);
		return rc;
	}
	rc = OPS(e)->token_insert(ST(e), u.id, h, label ? label : "", now, err);
	if (!rc) {
		json_t *ch = json_pack("[{s:s,s:n,s:s}]", "field", "label", "old", "new",
				       label ? label : "");
		rc = kn_journal_append(e, actor, "", u.id, "token.create", ch, NULL, NULL, err);
		json_decref(ch);
	}
	rc = finish(e, rc, err);
	if (rc) {
		free(tok);
		return rc;
	}
	*token_out = tok;
	return 0;
}

static char dummy[160];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static void dummy_init(void)
{
	kn_error e2;
	if (kn_password_hash("not a password", dummy, &e2))
		dummy[0] = 0;
}

static int journal_security(kn_engine *e, const kn_user *u, const char *action,
			    kn_error *err)
{
	return kn_journal_append(e, u->name, "", u->id, action, NULL, NULL, NULL, err);
}

int kn_login(kn_engine *e, const char *name, const char *password, kn_user *out, char **sid,
	     char **csrf, kn_error *err)
{
	if (!name || !password)
		return kn_fail(err, KN_EAUTH, "", "name and password are required");
	kn_user u;
	kn_error e2 = {0};
	int rc = OPS(e)->user_get(ST(e), name, 0, &u, &e2);
	if (rc == KN_ENOTFOUND) {
		/* spend the same time as a real check, so names cannot be probed */
		pthread_once(&dummy_once, dummy_init);
		kn_password_verify(dummy, password);
		return kn_fail(err, KN_EAUTH, "", "wrong name or password");
	}
	if (rc) {
		*err = e2;
		return rc;
	}
	int64_t now = kn_now_ms();
	if (u.locked_until > now) {
		long long s = (u.locked_until - now + 999) / 1000;
		return kn_fail(err, KN_ETHROTTLE, "",
			       "too many failed logins; try again in %lld s", s);
	}
	bool ok = !u.disabled && kn_password_verify(u.pwhash, password);
	if ((rc = OPS(e)->begin(ST(e), true, err)))
		return rc;
	if (!ok) {
		int f = u.failures + 1;
		int64_t until = 0;
		if (f >= LOCK_AFTER) {
			int sh = f - LOCK_AFTER;
			int64_t s = sh >= 10 ? LOCK_MAX_S : (1LL << sh);
			until = now + (s > LOCK_MAX_S ? LOCK_MAX_S : s) * 1000;
		}
		rc = OPS(e)->user_set_login(ST(e), u.id, f, until, err);
		if (!rc)
			rc = journal_security(e, &u, until ? "login.locked" : "login.failed", err);
		rc = finish(e, rc, err);
		return rc ? rc : kn_fail(err, KN_EAUTH, "", "wrong name or password");
	}
	char *s = kn_random_token(32), *c = kn_random_token(24);
	char h[65];
	kn_sha256_hex(s, strlen(s), h);
	rc = OPS(e)->user_set_login(ST(e), u.id, 0, 0, err);
	if (!rc)
		rc = OPS(e)->session_insert(ST(e), h, u.id, c, now + KN_SESSION_TTL_MS, err);
	if (!rc)
		rc = journal_security(e, &u, "login", err);
	rc = finish(e, rc, err);
	if (rc) {
		free(s);
		free(c);
		return rc;
	}
	u.failures = 0;
	u.locked_until = 0;
	*out = u;
	*sid = s;
	*csrf = c;
	return 0;
}

int kn_logout(kn_engine *e, const char *sid, kn_error *err)
{
	char h[65];
	kn_sha256_hex(sid, strlen(sid), h);
	return OPS(e)->session_delete(ST(e), h, err);
}

int kn_auth_token(kn_engine *e, const char *token, kn_user *out, kn_error *err)
{
	char h[65];
	if (!token || strlen(token) > 200)
		return kn_fail(err, KN_EAUTH, "", "invalid token");
	kn_sha256_hex(token, strlen(token), h);
	int rc = OPS(e)->token_lookup(ST(e), h, out, err);
	if (rc == KN_ENOTFOUND || (!rc && out->disabled))
		return kn_fail(err, KN_EAUTH, "", "invalid token");
	return rc;
}

int kn_auth_session(kn_engine *e, const char *sid, kn_user *out, char csrf[64], kn_error *err)
{
	char h[65];
	if (!sid || strlen(sid) > 200)
		return kn_fail(err, KN_EAUTH, "", "invalid session");
	kn_sha256_hex(sid, strlen(sid), h);
	int rc = OPS(e)->session_lookup(ST(e), h, kn_now_ms(), out, csrf, err);
	if (rc == KN_ENOTFOUND || (!rc && out->disabled))
		return kn_fail(err, KN_EAUTH, "", "session expired or invalid; log in again");
	return rc;
}
