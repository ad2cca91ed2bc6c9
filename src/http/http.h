/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http.h - the HTTP server: kanri's REST API on libmicrohttpd.
 *
 * server.c owns the sockets, threads, request bodies and signals; api.c
 * (see api.h) turns one complete request into one response. The engine
 * functions it calls are thread-safe, so requests run in parallel: on a
 * thread per connection by default, or on a fixed pool of threads.
 */
#ifndef KN_HTTP_H
#define KN_HTTP_H

#include "core/record.h"

#define KN_HTTP_BODY_LIMIT_DEFAULT (1024 * 1024)

typedef struct kn_http_opts {
	int threads;       /* thread pool size; 0 = config "threads", else a thread per connection */
	size_t body_limit; /* bytes; 0 = config "body_limit", else 1 MiB */
	int timeout;       /* idle connection timeout in seconds; 0 = 60 */
	bool access_log;   /* one line per request on stderr */
} kn_http_opts;

/*
 * Serve the API of engine e on listen ("HOST:PORT", "[V6ADDR]:PORT" or
 * "PORT"; HOST may be a name) until SIGINT or SIGTERM, then stop every
 * thread and free everything. Prints "kanri listening on http://HOST:PORT"
 * (flushed) on stdout once the socket is bound. o may be NULL (defaults).
 * Returns 0 after a clean shutdown, or a negative code (bad address, port
 * in use...) with err filled. The engine stays owned by the caller.
 */
int kn_http_serve(kn_engine *e, const char *listen, const kn_http_opts *o, kn_error *err);

#endif
