/* Sampler behaviour: greedy is argmax, filters restrict the support the way
 * they are documented, draws follow the softmax, and a seed reproduces. */
#include <math.h>
#include <stdlib.h>

#include "runtime/sampler.h"
#include "testutil.h"

#define V 8

static int draw_counts(const ld_sampling *p, const float *lg, int n, int *cnt) {
    ld_sampler s;
    if (ld_sampler_init(&s, p, V)) return -1;
    for (int i = 0; i < V; i++) cnt[i] = 0;
    for (int i = 0; i < n; i++) cnt[ld_sampler_next(&s, lg)]++;
    ld_sampler_free(&s);
    return 0;
}

/* The documented selection rule written the plain way: softmax, all
 * candidates sorted by a comparison sort (probability descending, ties by
 * lower id), filters, one draw. The sampler must pick the same token for
 * every seed, whatever sort it uses inside. */
struct cand { float p; int id; };
static int cmp_desc(const void *a, const void *b) {
    const struct cand *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return x->id - y->id;
}
static uint64_t ref_next(uint64_t *st) {
    uint64_t z = (*st += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static int ref_draw(const ld_sampling *p, uint64_t *st, const float *lg, int n, struct cand *c) {
    float mx = lg[ld_argmax(lg, n)];
    double sum = 0;
    for (int i = 0; i < n; i++) c[i].p = (float)exp((double)(lg[i] - mx) / p->temperature), c[i].id = i, sum += c[i].p;
    for (int i = 0; i < n; i++) c[i].p = (float)(c[i].p / sum);
    qsort(c, (size_t)n, sizeof *c, cmp_desc);
    int k = n;
    if (p->top_k > 0 && p->top_k < k) k = p->top_k;
    if (p->top_p < 1) {
        double acc = 0;
        for (int i = 0; i < k; i++)
            if ((acc += c[i].p) >= p->top_p) { k = i + 1; break; }
    }
    if (p->min_p > 0) {
        int m = 1;
        while (m < k && c[m].p >= p->min_p * c[0].p) m++;
        k = m;
    }
    double tot = 0, acc = 0;
    for (int i = 0; i < k; i++) tot += c[i].p;
    double u = (double)(ref_next(st) >> 11) * 0x1p-53 * tot;
    for (int i = 0; i < k; i++)
        if (u < (acc += c[i].p)) return c[i].id;
    return c[k - 1].id;
}

static void matches_reference(void) {
    enum { N = 3000 };
    static float lg[N];
    static struct cand c[N];
    uint32_t r = 7;
    for (int i = 0; i < N; i++) {
        r = r * 1664525u + 1013904223u;
        /* a third spread out, a third on a coarse grid (exact ties), a third
           just off the grid (probabilities that differ in their last bits) */
        float grid = (float)((int)(r >> 28) - 8) * 0.5f;
        lg[i] = i % 3 == 0 ? (float)(r >> 8) / (float)(1 << 24) * 8.0f - 6.0f
                : i % 3 == 1 ? grid : grid + (float)((r >> 4) & 15) * 0x1p-20f;
    }
    const ld_sampling ps[] = {
        {.temperature = 1, .top_p = 1},
        {.temperature = 0.7f, .top_k = 50, .top_p = 1},
        {.temperature = 1.3f, .top_p = 0.9f},
        {.temperature = 1, .top_p = 1, .min_p = 0.05f},
        {.temperature = 0.8f, .top_k = 400, .top_p = 0.95f, .min_p = 0.01f},
    };
    long bad = 0, total = 0;
    for (int q = 0; q < (int)(sizeof ps / sizeof ps[0]); q++)
        for (uint64_t seed = 1; seed <= 8; seed++) {
            ld_sampling p = ps[q];
            p.seed = seed;
            ld_sampler s;
            if (ld_sampler_init(&s, &p, N)) { bad++; continue; }
            uint64_t st = seed ^ 0x853c49e6748fea9bull;
            for (int t = 0; t < 40; t++, total++) bad += ld_sampler_next(&s, lg) != ref_draw(&p, &st, lg, N, c);
            ld_sampler_free(&s);
        }
    CHECK(bad == 0, "%ld of %ld draws differ from the reference selection rule", bad, total);
}

int main(void) {
    matches_reference();
    const float lg[V] = {1.0f, 3.0f, 2.5f, -1.0f, 0.0f, 3.0f, 0.5f, -2.0f};
    double pr[V], z = 0;
    for (int i = 0; i < V; i++) z += exp(lg[i]);
    for (int i = 0; i < V; i++) pr[i] = exp(lg[i]) / z;
    int cnt[V];

    /* greedy: argmax, ties to the lower id (1 and 5 tie) */
    ld_sampling g = {.temperature = 0, .top_p = 1};
    draw_counts(&g, lg, 10, cnt);
    CHECK(cnt[1] == 10, "greedy picked other than the lowest-id maximum");
    CHECK(ld_argmax(lg, V) == 1, "argmax tie rule");

    /* temperature 1: frequencies follow the softmax (N=200k, 5 sigma) */
    int N = 200000;
    ld_sampling t1 = {.temperature = 1, .top_p = 1, .seed = 3};
    draw_counts(&t1, lg, N, cnt);
    for (int i = 0; i < V; i++) {
        double sd = sqrt(N * pr[i] * (1 - pr[i]));
        CHECK(fabs(cnt[i] - N * pr[i]) < 5 * sd + 1, "token %d drawn %d times, expected %.0f", i, cnt[i], N * pr[i]);
    }
    /* the same seed reproduces the same sequence; another seed does not */
    int a[V], b[V];
    draw_counts(&t1, lg, 1000, a);
    draw_counts(&t1, lg, 1000, b);
    int eq = 1;
    for (int i = 0; i < V; i++) eq &= a[i] == b[i];
    CHECK(eq, "same seed gave different draws");

    /* top-k 2: only the two most likely (ids 1 and 5) */
    ld_sampling k2 = {.temperature = 1, .top_k = 2, .top_p = 1, .seed = 1};
    draw_counts(&k2, lg, 5000, cnt);
    CHECK(cnt[1] + cnt[5] == 5000, "top-k 2 drew outside {1,5}");
    CHECK(cnt[1] > 2000 && cnt[5] > 2000, "top-k 2 not balanced between equal logits: %d %d", cnt[1], cnt[5]);

    /* top-p: smallest prefix whose mass reaches p. p(1)+p(5) < 0.7 < +p(2) */
    double two = pr[1] + pr[5], three = two + pr[2];
    CHECK(two < 0.7 && three > 0.7, "test premise");
    ld_sampling tp = {.temperature = 1, .top_p = 0.7f, .seed = 2};
    draw_counts(&tp, lg, 20000, cnt);
    CHECK(cnt[1] + cnt[5] + cnt[2] == 20000, "top-p drew outside the nucleus");
    CHECK(cnt[2] > 0, "top-p dropped a nucleus member");

    /* min-p 0.5: keep tokens with p >= 0.5 * p_max: ids 1, 5 (=p_max) and 2 (e^-0.5 = 0.61) */
    ld_sampling mp = {.temperature = 1, .top_p = 1, .min_p = 0.5f, .seed = 4};
    draw_counts(&mp, lg, 20000, cnt);
    CHECK(cnt[1] + cnt[5] + cnt[2] == 20000 && cnt[2] > 0, "min-p support wrong");

    /* low temperature concentrates, high temperature flattens */
    ld_sampling cold = {.temperature = 0.05f, .top_p = 1, .seed = 5};
    draw_counts(&cold, lg, 2000, cnt);
    CHECK(cnt[1] + cnt[5] == 2000, "temperature 0.05 still drew a non-maximal token");

    /* invalid parameters are refused */
    ld_sampler s;
    ld_sampling bad = {.temperature = 1, .top_p = 0};
    CHECK(ld_sampler_init(&s, &bad, V) != 0, "top_p 0 accepted");
    bad = (ld_sampling){.temperature = -1, .top_p = 1};
    CHECK(ld_sampler_init(&s, &bad, V) != 0, "negative temperature accepted");
    return test_summary("sampler");
}
