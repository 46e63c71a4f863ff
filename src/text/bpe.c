/* BPE merging of one pre-tokenized word, with a per-tokenizer word cache.
 *
 * Same result as HF Word::merge_all: repeatedly merge the adjacent pair with
 * the lowest merge rank, leftmost first on ties. A heap of candidate pairs
 * makes long words (e.g. unbroken CJK runs) O(n log n); entries made stale by
 * an earlier merge are detected on pop by re-checking the current pair.
 * Words work on raw bytes: byte_id[] gives each byte's symbol. The cache is
 * only touched under tok->lock (see tokenizer.c). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/tok_internal.h"

#define CACHE_MAX_WORD 256      /* longer words are not cached (as in HF) */
#define CACHE_MAX_ENTRIES (1u << 20)

int ld_idvec_push(ld_idvec *iv, int32_t id) {
    if (iv->n == iv->cap) {
        size_t cap = iv->cap ? iv->cap * 2 : 256;
        int32_t *nv = realloc(iv->v, cap * sizeof *nv);
        if (!nv) return ld_set_error("out of memory (token ids)");
        iv->v = nv;
        iv->cap = cap;
    }
    iv->v[iv->n++] = id;
    return 0;
}

typedef struct {
    int32_t id, prev, next;
} sym;

typedef struct {
    int32_t rank, pos;
} cand;

static int cand_less(cand a, cand b) { return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos; }

static void heap_push(cand *h, size_t *n, cand c) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(c, h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}

static cand heap_pop(cand *h, size_t *n) {
    cand top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        cand best = last;
        if (l < *n && cand_less(h[l], best)) { m = l; best = h[l]; }
        if (r < *n && cand_less(h[r], best)) { m = r; }
        if (m == i) break;
        h[i] = h[m];
        i = m;
    }
    if (*n) h[i] = last;
    return top;
}

static void push_pair(const ld_tokenizer *tok, const sym *s, int32_t pos, cand *h, size_t *hn) {
    if (pos < 0 || s[pos].next < 0) return;
    const ld_pairmap_slot *m = ld_pairmap_get(&tok->merges, s[pos].id, s[s[pos].next].id);
    if (m) heap_push(h, hn, (cand){m->rank, pos});
}

/* Initial symbols (HF merge_word): one per byte; unknown bytes fall back to
 * "<0xXX>" tokens, then to unk (fused if asked), else are dropped. */
static size_t initial_symbols(const ld_tokenizer *tok, const unsigned char *w, size_t len, sym *s) {
    size_t n = 0;
    int32_t pending_unk = -1;
    for (size_t i = 0; i < len; i++) {
        int32_t id = tok->byte_id[w[i]];
        if (id < 0 && tok->fallback_id[w[i]] >= 0) id = tok->fallback_id[w[i]];
        if (id >= 0) {
            if (pending_unk >= 0) s[n++].id = pending_unk;
            pending_unk = -1;
            s[n++].id = id;
        } else if (tok->unk_id >= 0) {
            if (pending_unk >= 0 && !tok->fuse_unk) s[n++].id = pending_unk;
            pending_unk = tok->unk_id;
        }
    }
    if (pending_unk >= 0) s[n++].id = pending_unk;
    for (size_t i = 0; i < n; i++) {
        s[i].prev = (int32_t)i - 1;
        s[i].next = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    return n;
}

static int cache_put(ld_tokenizer *tok, const char *word, size_t len, const int32_t *ids, size_t n) {
    if (len >= CACHE_MAX_WORD || tok->cache_n >= CACHE_MAX_ENTRIES) return 0;
    if (tok->cache_n == tok->cache_cap) {
        size_t cap = tok->cache_cap ? tok->cache_cap * 2 : 4096;
        ld_cache_entry *ne = realloc(tok->cache_ent, cap * sizeof *ne);
        if (!ne) return 0; /* the cache is an optimization: skip on OOM */
        tok->cache_ent = ne;
        tok->cache_cap = cap;
    }
    if (tok->cache_ids_n + n > tok->cache_ids_cap) {
        size_t cap = tok->cache_ids_cap ? tok->cache_ids_cap * 2 : 16384;
        while (cap < tok->cache_ids_n + n) cap *= 2;
        int32_t *ni = realloc(tok->cache_ids, cap * sizeof *ni);
        if (!ni) return 0;
        tok->cache_ids = ni;
        tok->cache_ids_cap = cap;
    }
    char *key = ld_arena_dup(&tok->cache_arena, word, len);
    if (!key) return 0;
    if (ld_strmap_put(&tok->cache, key, len, (int32_t)tok->cache_n)) return 0;
    memcpy(tok->cache_ids + tok->cache_ids_n, ids, n * sizeof *ids);
    tok->cache_ent[tok->cache_n++] = (ld_cache_entry){(uint32_t)tok->cache_ids_n, (uint32_t)n};
    tok->cache_ids_n += n;
    return 0;
}

int ld_bpe_word(ld_tokenizer *tok, const char *word, size_t len, ld_idvec *out) {
    if (tok->ignore_merges) {
        int32_t id = ld_strmap_get(&tok->vocab, word, len);
        if (id >= 0) return ld_idvec_push(out, id);
    }
    if (len < CACHE_MAX_WORD) {
        int32_t ci = ld_strmap_get(&tok->cache, word, len);
        if (ci >= 0) {
            const ld_cache_entry *e = &tok->cache_ent[ci];
            for (uint32_t i = 0; i < e->n; i++)
                if (ld_idvec_push(out, tok->cache_ids[e->off + i])) return -1;
            return 0;
        }
    }
    sym sbuf[64];
    cand hbuf[3 * 64];
    sym *s = len <= 64 ? sbuf : malloc(len * sizeof *s);
    cand *h = len <= 64 ? hbuf : malloc(3 * len * sizeof *h);
    if (!s || !h) {
        if (s != sbuf) free(s);
        if (h != hbuf) free(h);
        return ld_set_error("out of memory (BPE word of %zu bytes)", len);
    }
    size_t n = initial_symbols(tok, (const unsigned char *)word, len, s), hn = 0;
    for (size_t i = 0; i + 1 < n; i++) push_pair(tok, s, (int32_t)i, h, &hn);
    /* Stale entries stay in the heap, so its size is bounded by the n - 1
     * initial pairs plus two per merge: under 3 * len. */
    while (hn) {
        cand c = heap_pop(h, &hn);
        int32_t p = c.pos, q = s[p].next;
        if (s[p].id < 0 || q < 0) continue;
        const ld_pairmap_slot *m = ld_pairmap_get(&tok->merges, s[p].id, s[q].id);
        if (!m || m->rank != c.rank) continue;
        s[p].id = m->id;
        s[p].next = s[q].next;
        if (s[q].next >= 0) s[s[q].next].prev = p;
        s[q].id = -1;
        push_pair(tok, s, s[p].prev, h, &hn);
        push_pair(tok, s, p, h, &hn);
    }
    size_t first = out->n;
    int rc = 0;
    for (int32_t i = n ? 0 : -1; i >= 0 && !rc; i = s[i].next) rc = ld_idvec_push(out, s[i].id);
    if (!rc && out->n > first) rc = cache_put(tok, word, len, out->v + first, out->n - first);
    if (s != sbuf) free(s);
    if (h != hbuf) free(h);
    return rc;
}

void ld_bpe_cache_free(ld_tokenizer *tok) {
    ld_strmap_free(&tok->cache);
    ld_arena_free(&tok->cache_arena);
    free(tok->cache_ent);
    free(tok->cache_ids);
    tok->cache_ent = NULL;
    tok->cache_ids = NULL;
}
