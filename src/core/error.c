/* SPDX-License-Identifier: Apache-2.0 */
/* error.c - the one table from error code to name, title and HTTP status. */
#include "kanri.h"

#include <stdarg.h>

static const struct {
	const char *name;
	const char *title;
	int status;
} errtab[KN_ERR_COUNT] = {
	[0] = {"ok", "OK", 200},
	[1] = {"bad-request", "Bad request", 400},
	[2] = {"validation", "Validation failed", 422},
	[3] = {"not-found", "Not found", 404},
	[4] = {"conflict", "Conflict", 409},
	[5] = {"unauthorized", "Authentication required", 401},
	[6] = {"forbidden", "Forbidden", 403},
	[7] = {"too-large", "Request body too large", 413},
	[8] = {"throttled", "Too many attempts", 429},
	[9] = {"precondition-required", "Precondition required", 428},
	[10] = {"method-not-allowed", "Method not allowed", 405},
	[11] = {"storage", "Storage error", 500},
	[12] = {"internal", "Internal error", 500},
	[13] = {"exists", "Already exists", 409},
	[14] = {"unsupported-media-type", "Unsupported media type", 415},
	[15] = {"busy", "Service busy", 503},
};

static int idx(int code)
{
	int i = -code;
	return (i >= 0 && i < KN_ERR_COUNT) ? i : -KN_EINTERNAL;
}

const char *kn_err_name(int code) { return errtab[idx(code)].name; }
const char *kn_err_title(int code) { return errtab[idx(code)].title; }
int kn_err_status(int code) { return errtab[idx(code)].status; }

int kn_fail(kn_error *err, int code, const char *field, const char *fmt, ...)
{
	if (!err)
		return code;
	err->code = code;
	snprintf(err->field, sizeof err->field, "%s", field ? field : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->detail, sizeof err->detail, fmt, ap);
	va_end(ap);
	return code;
}
