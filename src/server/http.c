/* HTTP with libmicrohttpd: one thread per connection (a streaming reply
 * blocks in its reader until the scheduler has tokens), bodies collected up
 * to a limit, Bearer authentication, and the shutdown on SIGTERM. */
#define _GNU_SOURCE /* POLLRDHUP */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "runtime/generate.h"
#include "server/server_internal.h"

typedef struct {
    ld_strbuf body;
    int too_big;
} conn;

typedef struct {
    ld_srv *S;
    ld_stream *s;
    ld_strbuf pending; /* events not yet handed to MHD */
    size_t off;
    int last;
    struct MHD_Connection *c;
} stream_ctx;

static void nap_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

ld_server_opts ld_server_opts_default(void) {
    return (ld_server_opts){.host = "127.0.0.1", .port = 8080, .model_name = "ladder", .parallel = 4, .context = 0,
                            .queue = 64, .max_tokens = 4096, .max_body = 4 << 20, .max_conns = 256, .timeout_s = 60,
                            .drain_s = 10, .prefix_bytes = (size_t)512 << 20};
}

static void on_gap(void *m, double s) { ld_metrics_itl(m, s); }

/* constant time in the length of the expected key */
static int key_ok(const char *got, const char *want) {
    size_t gl = strlen(got), wl = strlen(want);
    unsigned char d = gl != wl;
    for (size_t i = 0; i < wl; i++) d |= (unsigned char)(want[i] ^ (i < gl ? got[i] : 0));
    return d == 0;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream_ctx *x = cls;
    while (x->off == x->pending.n) {
        if (x->last) return MHD_CONTENT_READER_END_OF_STREAM;
        x->pending.n = x->off = 0;
        x->last = x->s->next(x->s, &x->pending);
        if (x->pending.oom) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = x->pending.n - x->off < max ? x->pending.n - x->off : max;
    memcpy(buf, x->pending.p + x->off, n);
    x->off += n;
    return (ssize_t)n;
}

/* MHD is done with the reply: finished, or the client went away */
static void stream_done(void *cls) {
    stream_ctx *x = cls;
    if (!x->last) x->s->cancel(x->s);
    x->s->free(x->s);
    free(x->pending.p);
    free(x);
}

static enum MHD_Result send_reply(ld_srv *S, struct MHD_Connection *c, ld_reply *rp) {
    struct MHD_Response *r;
    ld_metrics_status(&S->m, rp->status);
    if (rp->stream) {
        stream_ctx *x = calloc(1, sizeof *x);
        if (!x) {
            rp->stream->free(rp->stream);
            return MHD_NO;
        }
        x->S = S;
        x->s = rp->stream;
        x->c = c;
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, x, stream_done);
        if (!r) {
            stream_done(x);
            return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
    } else {
        const char *b = rp->body ? rp->body : "";
        r = MHD_create_response_from_buffer(strlen(b), (void *)b, MHD_RESPMEM_MUST_COPY);
        free(rp->body);
        if (!r) return MHD_NO;
        MHD_add_response_header(r, "Content-Type", rp->type ? rp->type : "application/json");
    }
    if (rp->status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)rp->status, r);
    MHD_destroy_response(r);
    return ok;
}

/* The peer closed its end (a non-streamed request waits for its whole
 * reply, so nothing else of the connection is read meanwhile). */
static int client_gone(void *ctx) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(ctx, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return 0;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return 0;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return 1;
    char b;
    return (p.revents & POLLIN) && recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *data_size, void **con_cls) {
    (void)version;
    ld_srv *S = cls;
    conn *k = *con_cls;
    if (!k) {
        if (!(k = calloc(1, sizeof *k))) return MHD_NO;
        *con_cls = k;
        return MHD_YES;
    }
    if (*data_size) {
        if (k->body.n + *data_size > S->o.max_body) k->too_big = 1;
        else ld_sb_put(&k->body, data, *data_size);
        *data_size = 0;
        return MHD_YES;
    }
    ld_reply rp = {.client_gone = client_gone, .gone_ctx = c};
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (S->o.api_key && strcmp(url, "/health") &&
        !(auth && !strncmp(auth, "Bearer ", 7) && key_ok(auth + 7, S->o.api_key)))
        ld_reply_error(&rp, 401, "invalid_request_error", "a valid API key is required (Authorization: Bearer KEY)");
    else if (k->too_big)
        ld_reply_error(&rp, 413, "invalid_request_error", "the body is over this server's limit of %zu bytes",
                       S->o.max_body);
    else if (k->body.oom)
        ld_reply_error(&rp, 500, "server_error", "out of memory");
    else if (g_stop)
        ld_reply_error(&rp, 503, "server_error", "the server is shutting down");
    else
        ld_api_handle(S, method, url, k->body.p ? k->body.p : "", k->body.n, &rp);
    return send_reply(S, c, &rp);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)c, (void)toe;
    conn *k = *con_cls;
    if (k) {
        free(k->body.p);
        free(k);
    }
    *con_cls = NULL;
}

int ld_server_run(ladder_engine *e, ld_tokenizer *tok, const ld_server_opts *o) {
    ld_srv S = {.e = e, .info = ladder_engine_info(e), .tok = tok, .o = *o};
    if (S.o.context <= 0) S.o.context = S.info->max_position_embeddings < 4096 ? S.info->max_position_embeddings : 4096;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    if (inet_pton(AF_INET, o->host, &addr.sin_addr) != 1) {
        fprintf(stderr, "ladder serve: error: --host '%s' is not an IPv4 address\n", o->host);
        return 1;
    }
    ld_metrics_init(&S.m);
    ld_sched_opts so = {.parallel = S.o.parallel, .context = S.o.context, .queue = S.o.queue,
                        .prefix_bytes = S.o.prefix_bytes, .chunk = S.o.prefill_chunk,
                        .on_gap = on_gap, .user = &S.m};
    if (!(S.sched = ld_sched_new(e, &so))) {
        fprintf(stderr, "ladder serve: error: cannot make %d sessions of %ld positions: %s\n", S.o.parallel,
                S.o.context, ladder_last_error());
        ld_metrics_free(&S.m);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
        on_request, &S, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)o->max_conns, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout_s, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, &S, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "ladder serve: error: cannot listen on %s:%d: %s\n", o->host, o->port, strerror(errno));
        ld_sched_free(S.sched);
        ld_metrics_free(&S.m);
        return 1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    int port = di ? di->port : o->port;
    fprintf(stderr, "ladder serve: %s on http://%s:%d (%d sequences of %ld positions, backend %s)\n",
            S.o.model_name, o->host, port, S.o.parallel, S.o.context, S.info->backend);
    if (o->port_file) {
        FILE *f = fopen(o->port_file, "w");
        if (f) {
            fprintf(f, "%d\n", port);
            fclose(f);
        }
    }
    while (!g_stop) nap_ms(100);
    fprintf(stderr, "ladder serve: stopping: finishing in-flight requests (at most %.0f s)\n", o->drain_s);
    MHD_quiesce_daemon(d);
    ld_sched_drain(S.sched, o->drain_s);
    /* the streams end as their requests finish or are cancelled */
    double t0 = ld_now();
    for (;;) {
        ld_sched_stats st;
        ld_sched_snapshot(S.sched, &st);
        if (!st.running || ld_now() - t0 > o->drain_s + 5) break;
        nap_ms(50);
    }
    MHD_stop_daemon(d);
    ld_sched_free(S.sched);
    ld_metrics_free(&S.m);
    fprintf(stderr, "ladder serve: stopped\n");
    return 0;
}
