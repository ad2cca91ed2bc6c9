/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api.h - the REST API (docs/api.md) between server.c and api.c.
 *
 * The API layer knows nothing about libmicrohttpd: server.c hands it a
 * complete request (method, decoded path, query parameters, body, a way to
 * read headers and cookies) and sends back the response it fills. That keeps
 * the router and handlers testable and fuzzable without sockets.
 */
#ifndef KN_HTTP_API_H
#define KN_HTTP_API_H

#include "core/record.h"

/* A complete request. Every pointer is borrowed for the duration of the call. */
typedef struct kn_http_req {
	const char *method;  /* "GET", "POST"... (HEAD is served as GET) */
	const char *path;    /* percent-decoded path without the query: "/api/v1/incidents" */
	const kn_param *args; /* query parameters in order, repeats kept, decoded */
	size_t nargs;
	const char *body;    /* NULL when the request had none */
	size_t body_len;
	/* Value of a request header (case-insensitive name) or cookie, NULL when absent. */
	const char *(*header)(void *ctx, const char *name);
	const char *(*cookie)(void *ctx, const char *name);
	void *ctx;
} kn_http_req;

#define KN_HTTP_MAX_HEADERS 12

typedef struct kn_http_hdr {
	const char *name; /* static */
	char *value;      /* owned */
} kn_http_hdr;

/* A response: status, content type, body (owned, malloc'd) and headers. */
typedef struct kn_http_resp {
	int status;
	const char *type; /* static content type, NULL when there is no body */
	char *body;       /* owned (free()) unless borrowed; NULL for none */
	size_t len;
	bool borrowed;    /* body lives as long as the kn_api (pre-rendered) */
	kn_http_hdr hdrs[KN_HTTP_MAX_HEADERS];
	size_t nhdrs;
} kn_http_resp;

typedef struct kn_api kn_api;

/* Build the API for engine e: reads the engine's config (secure_cookies) and
 * pre-renders the metadata and OpenAPI documents (the schema is immutable). */
kn_api *kn_api_new(kn_engine *e);
void kn_api_free(kn_api *a);

/* Answer one request; rs must be zeroed by the caller and released with
 * kn_http_resp_release afterwards. Never fails: errors become problems. */
void kn_api_handle(kn_api *a, const kn_http_req *rq, kn_http_resp *rs);

/* Make rs an application/problem+json response for code (field and detail
 * may be NULL). Clears the body and headers rs had. */
void kn_http_problem(kn_http_resp *rs, int code, const char *field, const char *detail);
/* Add the headers every API response carries (nosniff, no-store). */
void kn_http_api_headers(kn_http_resp *rs);
/* Add a header (value copied); silently dropped beyond KN_HTTP_MAX_HEADERS. */
void kn_http_header(kn_http_resp *rs, const char *name, const char *value);
void kn_http_resp_release(kn_http_resp *rs);

/* The web UI (static.c): answer a request for a path outside /api/ with a
 * file compiled in from web/dist/, or its index.html for the UI's routes. */
void kn_static_serve(const kn_http_req *rq, kn_http_resp *rs);
/* Whether the binary carries the web UI. */
bool kn_static_available(void);

#endif
