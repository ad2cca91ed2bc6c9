/* SPDX-License-Identifier: Apache-2.0 */
/*
 * server.c - the HTTP server: libmicrohttpd plumbing around api.c.
 *
 * libmicrohttpd runs a pool of threads, each with its own epoll (or poll)
 * loop. For every request this file collects the body up to the limit
 * (refusing early when Content-Length is already too big), gathers the
 * query parameters, calls kn_api_handle and turns its response into an
 * MHD response. The serving thread blocks SIGINT and SIGTERM before the
 * pool starts (so only it receives them) and waits for one with sigwait.
 */
#include "kanri.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http/api.h"
#include "http/http.h"

#define MAX_ARGS 256

typedef struct server {
	kn_api *api;
	size_t body_limit;
	bool access_log;
} server;

/* Per-request state, kept in MHD's con_cls between calls. */
typedef struct request {
	kn_buf body;
	bool has_body;   /* some body bytes arrived */
	bool too_big;    /* over the limit: the rest is discarded */
	size_t discarded;
	struct timespec t0;
} request;

/* ---- request helpers ---------------------------------------------------- */

static const char *hdr_get(void *ctx, const char *name)
{
	return MHD_lookup_connection_value(ctx, MHD_HEADER_KIND, name);
}

static const char *cookie_get(void *ctx, const char *name)
{
	return MHD_lookup_connection_value(ctx, MHD_COOKIE_KIND, name);
}

typedef struct argv_acc {
	kn_param p[MAX_ARGS];
	size_t n;
	bool overflow;
} argv_acc;

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	argv_acc *a = cls;
	if (!key || !*key)
		return MHD_YES; /* "?&limit=5", a stray separator */
	if (a->n == MAX_ARGS) {
		a->overflow = true;
		return MHD_NO;
	}
	a->p[a->n].key = key;
	a->p[a->n].value = value ? value : "";
	a->n++;
	return MHD_YES;
}

static void request_free(request *r)
{
	if (!r)
		return;
	kn_buf_release(&r->body);
	free(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	request_free(*con_cls);
	*con_cls = NULL;
}

/* Send rs (taking its body) with status; releases rs. */
static enum MHD_Result send_resp(struct MHD_Connection *c, kn_http_resp *rs)
{
	struct MHD_Response *r;
	if (rs->body && rs->len && rs->borrowed) {
		r = MHD_create_response_from_buffer(rs->len, rs->body, MHD_RESPMEM_PERSISTENT);
	} else if (rs->body && rs->len) {
		r = MHD_create_response_from_buffer(rs->len, rs->body, MHD_RESPMEM_MUST_FREE);
		if (r)
			rs->body = NULL;
	} else {
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	}
	if (!r) {
		kn_http_resp_release(rs);
		return MHD_NO;
	}
	if (rs->type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rs->type);
	for (size_t i = 0; i < rs->nhdrs; i++)
		MHD_add_response_header(r, rs->hdrs[i].name, rs->hdrs[i].value);
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)rs->status, r);
	MHD_destroy_response(r);
	kn_http_resp_release(rs);
	return ret;
}

static void access_log(const request *rq, const char *method, const char *url, int status)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - rq->t0.tv_sec) * 1e3 +
		    (double)(t1.tv_nsec - rq->t0.tv_nsec) / 1e6;
	char at[32];
	kn_now_iso(at, sizeof at);
	fprintf(stderr, "%s %s %s %d %.2fms\n", at, method, url, status, ms);
}

static enum MHD_Result too_big(server *s, struct MHD_Connection *c, request *rq,
			       const char *method, const char *url)
{
	kn_http_resp rs = {0};
	char *d = kn_xasprintf("the request body is larger than %zu bytes", s->body_limit);
	kn_http_problem(&rs, KN_ETOOBIG, NULL, d);
	free(d);
	kn_http_api_headers(&rs);
	kn_http_header(&rs, MHD_HTTP_HEADER_CONNECTION, "close");
	if (s->access_log)
		access_log(rq, method, url, rs.status);
	return send_resp(c, &rs);
}

/* ---- the access handler ------------------------------------------------- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	server *s = cls;
	request *rq = *con_cls;

	if (!rq) {
		/* Headers are in: set up, and refuse a declared oversize body now
		 * (MHD then discards the body and closes the connection). */
		rq = kn_xcalloc(1, sizeof *rq);
		kn_buf_init(&rq->body, s->body_limit);
		clock_gettime(CLOCK_MONOTONIC, &rq->t0);
		*con_cls = rq;
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl) {
			char *end;
			errno = 0;
			unsigned long long n = strtoull(cl, &end, 10);
			if (errno == ERANGE || (end != cl && n > s->body_limit)) {
				rq->too_big = true;
				return too_big(s, c, rq, method, url);
			}
		}
		return MHD_YES;
	}

	if (*upload_data_size) {
		/* A response cannot be queued while the body streams in: keep
		 * what fits, discard the rest and answer 413 at the end. A client
		 * that keeps sending far past the limit is cut off. */
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		rq->has_body = true;
		if (!rq->too_big && kn_buf_add(&rq->body, upload_data, n) != 0) {
			rq->too_big = true;
			kn_buf_release(&rq->body);
		}
		if (rq->too_big) {
			rq->discarded += n;
			if (rq->discarded > 4 * s->body_limit + 65536)
				return MHD_NO;
		}
		return MHD_YES;
	}

	if (rq->too_big)
		return too_big(s, c, rq, method, url);

	argv_acc args;
	args.n = 0;
	args.overflow = false;
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &args);

	kn_http_resp rs = {0};
	if (args.overflow) {
		kn_http_problem(&rs, KN_EINVAL, NULL, "too many query parameters");
		kn_http_api_headers(&rs);
	} else {
		kn_http_req req = {
			.method = strcmp(method, "HEAD") ? method : "GET",
			.path = url,
			.args = args.p,
			.nargs = args.n,
			.body = rq->has_body ? rq->body.data : NULL,
			.body_len = rq->has_body ? rq->body.len : 0,
			.header = hdr_get,
			.cookie = cookie_get,
			.ctx = c,
		};
		kn_api_handle(s->api, &req, &rs);
	}
	if (s->access_log)
		access_log(rq, method, url, rs.status);
	return send_resp(c, &rs);
}

/* ---- start-up ----------------------------------------------------------- */

/* Split "HOST:PORT", "[V6]:PORT" or "PORT" and resolve it. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sslen,
			char *shown, size_t nshown, kn_error *err)
{
	char host[256] = "127.0.0.1";
	const char *port;
	const char *colon = strrchr(listen, ':');
	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');
		if (!close || close[1] != ':' || (size_t)(close - listen - 1) >= sizeof host)
			return kn_fail(err, KN_EINVAL, NULL, "bad listen address '%s'", listen);
		memcpy(host, listen + 1, (size_t)(close - listen - 1));
		host[close - listen - 1] = 0;
		port = close + 2;
	} else if (colon && strchr(listen, ':') != colon) {
		return kn_fail(err, KN_EINVAL, NULL,
			       "bad listen address '%s': write IPv6 as [ADDR]:PORT", listen);
	} else if (colon) {
		size_t hl = (size_t)(colon - listen);
		if (hl >= sizeof host)
			return kn_fail(err, KN_EINVAL, NULL, "bad listen address '%s'", listen);
		if (hl) {
			memcpy(host, listen, hl);
			host[hl] = 0;
		} else {
			snprintf(host, sizeof host, "0.0.0.0");
		}
		port = colon + 1;
	} else {
		port = listen;
	}
	char *end;
	errno = 0;
	long pn = strtol(port, &end, 10);
	if (!*port || *end || errno || pn < 0 || pn > 65535)
		return kn_fail(err, KN_EINVAL, NULL, "bad port in listen address '%s'", listen);

	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0 || !res)
		return kn_fail(err, KN_EINVAL, NULL, "cannot resolve '%s': %s", host,
			       gai_strerror(rc));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	freeaddrinfo(res);

	char num[INET6_ADDRSTRLEN];
	const void *a = ss->ss_family == AF_INET6
				? (const void *)&((struct sockaddr_in6 *)ss)->sin6_addr
				: (const void *)&((struct sockaddr_in *)ss)->sin_addr;
	if (!inet_ntop(ss->ss_family, a, num, sizeof num))
		return kn_fail(err, KN_EINVAL, NULL, "bad listen address '%s'", listen);
	snprintf(shown, nshown, ss->ss_family == AF_INET6 ? "[%s]" : "%s", num);
	return 0;
}

static size_t config_body_limit(const kn_engine *e)
{
	json_t *v = e->config ? json_object_get(e->config, "body_limit") : NULL;
	if (json_is_integer(v) && json_integer_value(v) > 0)
		return (size_t)json_integer_value(v);
	return KN_HTTP_BODY_LIMIT_DEFAULT;
}

int kn_http_serve(kn_engine *e, const char *listen, const kn_http_opts *o, kn_error *err)
{
	kn_http_opts defaults = {0};
	if (!o)
		o = &defaults;

	struct sockaddr_storage ss;
	socklen_t sslen;
	char shown[INET6_ADDRSTRLEN + 2];
	int rc = parse_listen(listen, &ss, &sslen, shown, sizeof shown, err);
	if (rc)
		return rc;

	int threads = o->threads;
	json_t *ct = e->config ? json_object_get(e->config, "threads") : NULL;
	if (threads <= 0 && json_is_integer(ct) && json_integer_value(ct) > 0 &&
	    json_integer_value(ct) <= 1024)
		threads = (int)json_integer_value(ct);
	/* No pool size given: a thread per connection, so that the kernel
	 * spreads the work over the cores (a fixed pool of epoll threads lets
	 * one thread take every busy keep-alive connection). */
	bool per_conn = threads <= 0;
	if (!per_conn && threads < 2)
		threads = 2;
	if (threads > 1024)
		threads = 1024;

	server s = {
		.body_limit = o->body_limit ? o->body_limit : config_body_limit(e),
		.access_log = o->access_log,
	};
	s.api = kn_api_new(e);

	/* Only this thread takes SIGINT/SIGTERM: block them before MHD starts
	 * its threads (which inherit the mask), then sigwait below. */
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	signal(SIGPIPE, SIG_IGN);

	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	if (per_conn)
		flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
	else if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES)
		flags |= MHD_USE_EPOLL;
	else
		flags |= MHD_USE_POLL;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;

	uint16_t port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						      : ((struct sockaddr_in *)&ss)->sin_port);
	struct MHD_Daemon *d = MHD_start_daemon(
		flags, port, NULL, NULL, on_request, &s,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		/* a pool size (even 0) beside thread-per-connection draws a warning */
		per_conn ? MHD_OPTION_CONNECTION_LIMIT : MHD_OPTION_THREAD_POOL_SIZE,
		(unsigned int)(per_conn ? 1000 : threads),
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)1000,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)(o->timeout > 0 ? o->timeout : 60),
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
		MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
		MHD_OPTION_END);
	if (!d) {
		int saved = errno;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		kn_api_free(s.api);
		return kn_fail(err, KN_EINTERNAL, NULL, "cannot listen on %s: %s", listen,
			       saved ? strerror(saved) : "libmicrohttpd failed to start");
	}
	if (port == 0) {
		const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
		if (di)
			port = di->port;
	}
	printf("kanri listening on http://%s:%u\n", shown, (unsigned)port);
	fflush(stdout);

	int sig = 0;
	while (sigwait(&set, &sig) != 0)
		;
	if (o->access_log)
		fprintf(stderr, "kanri: %s received, shutting down\n",
			sig == SIGINT ? "SIGINT" : "SIGTERM");

	MHD_stop_daemon(d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	kn_api_free(s.api);
	return 0;
}
