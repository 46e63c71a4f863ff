/* ladder serve: an OpenAI-compatible HTTP server (libmicrohttpd) over one
 * engine, its tokenizer and the continuous-batching scheduler. */
#ifndef LADDER_SERVER_SERVER_H
#define LADDER_SERVER_SERVER_H

#include <stddef.h>

#include "ladder.h"
#include "text/tokenizer.h"

typedef struct {
    const char *host;      /* bind address (default 127.0.0.1: loopback only) */
    int port;              /* 0: any free port (printed) */
    const char *api_key;   /* NULL: no authentication */
    const char *model_name;/* the id /v1/models reports */
    int parallel;          /* sequences decoded together */
    long context;          /* positions per sequence */
    int queue;             /* requests waiting beyond the running ones */
    int max_tokens;        /* cap on max_tokens of one request */
    size_t max_body;       /* bytes of one request body */
    int max_conns;         /* concurrent connections */
    int timeout_s;         /* idle connection timeout */
    double drain_s;        /* on SIGTERM: how long in-flight requests may finish */
    size_t prefix_bytes;   /* bound on the prefix cache (0: off) */
    int prefill_chunk;     /* prompt tokens evaluated per step (0: the scheduler's default) */
    const char *port_file; /* write the bound port here once listening (tests) */
} ld_server_opts;

ld_server_opts ld_server_opts_default(void);

/* Serves until SIGTERM or SIGINT; 0 after a clean shutdown. tok may be NULL
 * (token-id endpoints only). */
int ld_server_run(ladder_engine *e, ld_tokenizer *tok, const ld_server_opts *o);

#endif
