/* Pieces shared by the server's files: the server state, replies, and the
 * consumer that turns a request's tokens into text with stop strings. */
#ifndef LADDER_SERVER_INTERNAL_H
#define LADDER_SERVER_INTERNAL_H

#include <cjson/cJSON.h>
#include <pthread.h>

#include "server/metrics.h"
#include "server/sched.h"
#include "server/server.h"
#include "text/pyjson.h"

typedef struct {
    ladder_engine *e;
    const ladder_info *info;
    ld_tokenizer *tok;
    ld_sched *sched;
    ld_server_opts o;
    ld_metrics m;
} ld_srv;

/* A generation in progress, seen from the HTTP side. */
typedef struct {
    ld_srv *srv;
    ld_req *r;
    ld_detok_stream *dt;
    char **stops;
    int n_stops;
    const char *const *markers; /* NULL-terminated: strings the caller scans for, never cut in two */
    ld_strbuf text;    /* the text so far (cut at a stop string) */
    size_t emitted;    /* bytes of text handed out */
    int consumed;      /* tokens of r->out turned into text */
    int lp_sent;       /* tokens whose log-probabilities a stream has sent */
    int usage_every_chunk; /* stream_options.continuous_usage_stats */
    int eos;           /* ended on the end-of-sequence token */
    int done;
    ld_finish fin;
} ld_gen;

/* Submits r (consumed: released here on failure); status 0, or the HTTP
 * status and message of the refusal. */
int ld_gen_start(ld_srv *S, ld_gen *g, ld_req *r, cJSON *stop, const char *const *markers, char *err, size_t errn);
/* The same without submitting (r is already finished: replays). */
int ld_gen_init(ld_srv *S, ld_gen *g, ld_req *r, cJSON *stop, const char *const *markers, char *err, size_t errn);
/* Waits for more text; afterwards text[emitted_before, emitted) is new.
 * Returns 1 once the generation is over. */
int ld_gen_step(ld_gen *g);
void ld_gen_cancel(ld_gen *g);
void ld_gen_free(ld_gen *g);
const char *ld_finish_name(const ld_gen *g);
/* The tokens' log-probabilities in OpenAI's chat or completions shape
 * (null when the request did not ask for them). */
cJSON *ld_gen_logprobs(ld_gen *g, int chat);
/* The same for the tokens consumed since the last call (a stream's chunk);
 * null when none, or when not asked for (g may be NULL). */
cJSON *ld_gen_logprobs_pending(ld_gen *g, int chat);

/* One server-sent event holding j (taken). */
void ld_sse(ld_strbuf *b, cJSON *j);
/* "usage" of a generation into the reply object j. */
void ld_usage_into(cJSON *j, const ld_gen *g);
/* A stream's end: the usage chunk when asked for (a chunk whose choices are
 * replaced by []; taken), then "data: [DONE]". */
void ld_stream_end(ld_strbuf *b, cJSON *usage_chunk, const ld_gen *g);

/* A reply: a JSON body, or a stream of server-sent events. */
typedef struct ld_stream ld_stream;
struct ld_stream {
    /* fills b with the next events; returns 1 when nothing follows */
    int (*next)(ld_stream *s, ld_strbuf *b);
    void (*free)(ld_stream *s);
    void (*cancel)(ld_stream *s); /* the client went away */
};

typedef struct {
    int status;
    char *body;            /* malloc'd */
    const char *type;      /* content type */
    ld_stream *stream;     /* instead of body */
    /* (optional, set by the HTTP side) whether the client has gone away,
       asked while a whole reply is being generated */
    int (*client_gone)(void *ctx);
    void *gone_ctx;
} ld_reply;

/* Runs g to its end for a whole (not streamed) reply, cancelling it as soon
 * as the client is seen gone. */
void ld_gen_finish(ld_gen *g, const ld_reply *rp);

void ld_reply_json(ld_reply *rp, int status, cJSON *j); /* takes j */
void ld_reply_error(ld_reply *rp, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Routes one request whose body is complete. */
void ld_api_handle(ld_srv *S, const char *method, const char *url, const char *body, size_t len, ld_reply *rp);

/* Endpoint handlers (body parsed; NULL for GETs). */
void ld_api_chat(ld_srv *S, cJSON *req, ld_reply *rp, int template_only);
void ld_api_completions(ld_srv *S, cJSON *req, ld_reply *rp);
void ld_api_tokenize(ld_srv *S, cJSON *req, ld_reply *rp);
void ld_api_detokenize(ld_srv *S, cJSON *req, ld_reply *rp);

/* What the chat endpoint sends for a finished completion (the text after
 * "<｜Assistant｜>" and "<think>" or "</think>", up to and including the
 * end-of-sequence token): the message JSON, or the stream's events. For
 * tests and debugging; needs the tokenizer. 0, or -1 with ld_last_error(). */
int ld_chat_replay(ld_srv *S, const char *completion, int thinking, int stream, ld_strbuf *out);

/* Request fields common to both generation endpoints into r; 0 or -1 with
 * an error reply made. */
int ld_api_sampling(ld_srv *S, cJSON *req, ld_req *r, ld_reply *rp);
/* "stream" (a boolean) and stream_options.include_usage (bit 0), with
 * continuous_usage_stats (bit 1); 0, or -1 with an error reply made. */
int ld_api_stream_flags(cJSON *req, int *stream, int *include_usage, ld_reply *rp);
/* "chatcmpl-..." / "cmpl-..." ids */
void ld_api_new_id(char *out, size_t n, const char *prefix);

#endif
