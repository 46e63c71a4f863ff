/* Encode throughput of ladder's tokenizer on one thread.
 * usage: text_bench TOKENIZER_JSON TEXT_FILE [REPEATS]
 * Prints load time, the first (cold-cache) pass and the best warm pass in
 * MB/s (1 MB = 1e6 bytes), in the same format as bench_hf.js. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/error.h"
#include "text/tokenizer.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: text_bench TOKENIZER_JSON TEXT_FILE [REPEATS]\n");
        return 2;
    }
    int reps = argc > 3 ? atoi(argv[3]) : 5;
    double t0 = now();
    ld_tokenizer *tok = ld_tokenizer_load(argv[1]);
    double t_load = now() - t0;
    if (!tok) { fprintf(stderr, "error: %s\n", ld_last_error()); return 1; }
    FILE *f = fopen(argv[2], "rb");
    if (!f) { fprintf(stderr, "error: cannot open %s\n", argv[2]); return 1; }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n);
    if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) return 1;
    fclose(f);
    double first = 0, best = 1e30;
    size_t nids = 0;
    for (int r = 0; r <= reps; r++) {
        int32_t *ids;
        double s = now();
        if (ld_tokenizer_encode(tok, text, (size_t)n, NULL, &ids, &nids)) {
            fprintf(stderr, "error: %s\n", ld_last_error());
            return 1;
        }
        double dt = now() - s;
        free(ids);
        if (r == 0) first = dt;
        else if (dt < best) best = dt;
    }
    /* Same text again as line-aligned chunks of <= 4 KB, as bench_hf.js. */
    double best_chunk = 1e30;
    size_t nchunks = 0;
    for (int r = 0; r < reps; r++) {
        double s = now();
        nchunks = 0;
        for (long p = 0; p < n;) {
            long e = p, last_nl = -1;
            while (e < n && e - p < 4096) {
                if (text[e] == '\n') last_nl = e;
                e++;
            }
            if (e < n && last_nl >= p) e = last_nl + 1;
            if (e < n && last_nl < p) { /* one line longer than 4 KB: take it whole */
                while (e < n && text[e - 1] != '\n') e++;
            }
            int32_t *ids;
            size_t k;
            if (ld_tokenizer_encode(tok, text + p, (size_t)(e - p), NULL, &ids, &k)) return 1;
            free(ids);
            nchunks++;
            p = e;
        }
        double dt = now() - s;
        if (dt < best_chunk) best_chunk = dt;
    }
    printf("ladder: load %.3f s; %ld bytes -> %zu ids; cold %.2f MB/s; warm best of %d %.2f MB/s; %zu chunks of <=4KB: %.2f MB/s\n",
           t_load, n, nids, n / first / 1e6, reps, n / best / 1e6, nchunks, n / best_chunk / 1e6);
    free(text);
    ld_tokenizer_free(tok);
    return 0;
}
