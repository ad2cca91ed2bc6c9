/* SPDX-License-Identifier: Apache-2.0 */
/*
 * static.c - the web UI's files, compiled into the binary from web/dist/
 * (see the Makefile), served beside the API.
 *
 *   /assets/NAME      a file of web/dist/assets/ (names carry a content hash:
 *                     cached for a year)
 *   /NAME             a file at the top of web/dist/ (favicon...)
 *   anything else     web/dist/index.html, which routes in the browser
 *                     (/app/incidents/INC-000001, /portal/...)
 *
 * Every answer has an ETag (If-None-Match gives 304) and the security
 * headers: a Content-Security-Policy that allows only kanri's own scripts,
 * styles and images, no framing, no sniffing.
 */
#include "kanri.h"

#include <pthread.h>

#include "core/embedded.h"
#include "http/api.h"

#define DIST "web/dist"
#define CSP                                                                                \
	"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "  \
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

typedef struct webfile {
	const kn_embedded_file *f;
	const char *path; /* below DIST, with its leading "/" */
	char etag[24];    /* "\"" + 16 hex digits of the SHA-256 + "\"" */
} webfile;

static webfile *files;
static size_t nfiles;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void index_files(void)
{
	size_t n = 0;
	for (const kn_embedded_file *ef = kn_embedded_files; ef->path; ef++)
		n += strncmp(ef->path, DIST "/", sizeof DIST) == 0;
	files = kn_xcalloc(n + 1, sizeof *files);
	for (const kn_embedded_file *ef = kn_embedded_files; ef->path; ef++) {
		if (strncmp(ef->path, DIST "/", sizeof DIST) != 0)
			continue;
		webfile *w = &files[nfiles++];
		w->f = ef;
		w->path = ef->path + sizeof DIST - 1;
		char h[65];
		kn_sha256_hex(ef->data, ef->len, h);
		snprintf(w->etag, sizeof w->etag, "\"%.16s\"", h);
	}
}

static const webfile *find(const char *path)
{
	for (size_t i = 0; i < nfiles; i++)
		if (strcmp(files[i].path, path) == 0)
			return &files[i];
	return NULL;
}

static const char *type_of(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	    {".html", "text/html; charset=utf-8"},
	    {".js", "text/javascript; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"},
	    {".json", "application/json"},
	    {".svg", "image/svg+xml"},
	    {".png", "image/png"},
	    {".ico", "image/x-icon"},
	    {".woff2", "font/woff2"},
	    {".txt", "text/plain; charset=utf-8"},
	};
	const char *dot = strrchr(path, '.');
	for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

bool kn_static_available(void)
{
	pthread_once(&once, index_files);
	return find("/index.html") != NULL;
}

void kn_static_serve(const kn_http_req *rq, kn_http_resp *rs)
{
	pthread_once(&once, index_files);
	kn_http_header(rs, "Content-Security-Policy", CSP);
	kn_http_header(rs, "X-Content-Type-Options", "nosniff");
	kn_http_header(rs, "X-Frame-Options", "DENY");
	kn_http_header(rs, "Referrer-Policy", "same-origin");
	if (strcmp(rq->method, "GET") != 0) {
		kn_http_header(rs, "Allow", "GET, HEAD");
		rs->status = 405;
		return;
	}
	const webfile *w = strstr(rq->path, "..") ? NULL : find(rq->path);
	bool asset = strncmp(rq->path, "/assets/", 8) == 0;
	if (!w && !asset)
		w = find("/index.html"); /* a route of the UI */
	if (!w) {
		static const char none[] = "not found\n";
		rs->status = 404;
		rs->type = "text/plain; charset=utf-8";
		rs->body = (char *)none;
		rs->len = sizeof none - 1;
		rs->borrowed = true;
		return;
	}
	kn_http_header(rs, "ETag", w->etag);
	kn_http_header(rs, "Cache-Control",
		       asset ? "public, max-age=31536000, immutable" : "no-cache");
	const char *inm = rq->header ? rq->header(rq->ctx, "If-None-Match") : NULL;
	if (inm && strstr(inm, w->etag)) {
		rs->status = 304;
		return;
	}
	rs->status = 200;
	rs->type = type_of(w->path);
	rs->body = (char *)w->f->data;
	rs->len = w->f->len;
	rs->borrowed = true;
}
