/* SPDX-License-Identifier: Apache-2.0 */
/*
 * auth.h - users, passwords, API tokens, sessions and login throttling.
 *
 * Passwords are hashed with argon2id (libsodium). API tokens and session ids
 * are 256-bit random values; only their SHA-256 is stored. After 5
 * consecutive failed logins a user is locked for 2^(n-5) seconds (capped at
 * 15 minutes); the lock is stored, so it holds on every node.
 */
#ifndef KN_AUTH_H
#define KN_AUTH_H

#include "core/record.h"

#define KN_SESSION_COOKIE "kanri_session"
#define KN_SESSION_TTL_MS (12LL * 3600 * 1000)

/* KN_EVALID when pw is not acceptable (shorter than 8 characters). */
int kn_password_check(const char *pw, kn_error *err);
int kn_password_hash(const char *pw, char out[160], kn_error *err);
bool kn_password_verify(const char *hash, const char *pw);

/* Create a user (journalled as user.add). role: "admin", "agent", "enduser", "auditor". */
int kn_user_add(kn_engine *e, const char *actor, const char *name, const char *role,
		const char *org, const char *password, kn_error *err);
/* Create an API token for user; *token_out is the secret (caller frees). */
int kn_token_create(kn_engine *e, const char *actor, const char *user, const char *label,
		    char **token_out, kn_error *err);

/* Check name/password. On success *sid and *csrf are new strings (caller frees)
 * and *out the user. KN_EAUTH on bad credentials, KN_ETHROTTLE while locked
 * (err->detail says for how long). */
int kn_login(kn_engine *e, const char *name, const char *password, kn_user *out, char **sid,
	     char **csrf, kn_error *err);
int kn_logout(kn_engine *e, const char *sid, kn_error *err);
/* Resolve a bearer token / session id to its user. KN_EAUTH when invalid. */
int kn_auth_token(kn_engine *e, const char *token, kn_user *out, kn_error *err);
int kn_auth_session(kn_engine *e, const char *sid, kn_user *out, char csrf[64], kn_error *err);

#endif
