/* Open-addressing hash maps and a bump arena for the tokenizer tables.
 * Invariants: capacities are powers of two and kept under 75% load, so
 * probing always terminates at an empty slot. */
#include "text/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* FNV-1a: the keys are short token strings, where it is fast and spreads well
 * enough; the map only needs determinism, not resistance to crafted input. */
uint32_t ld_hash_bytes(const void *p, size_t n) {
    const unsigned char *s = p;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 16777619u;
    }
    return h;
}

static size_t pow2_for(size_t expected) {
    size_t cap = 16;
    while (cap * 3 / 4 <= expected) cap *= 2;
    return cap;
}

int ld_strmap_init(ld_strmap *m, size_t expected) {
    m->cap = pow2_for(expected);
    m->count = 0;
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (!m->slots) return ld_set_error("out of memory (hash map of %zu slots)", m->cap);
    return 0;
}

void ld_strmap_free(ld_strmap *m) {
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

static ld_strmap_slot *strmap_find(const ld_strmap *m, const char *key, size_t len, uint32_t h) {
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        ld_strmap_slot *s = &m->slots[i];
        if (!s->key) return s;
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) return s;
    }
}

static int strmap_grow(ld_strmap *m) {
    ld_strmap old = *m;
    m->cap *= 2;
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (!m->slots) {
        *m = old;
        return ld_set_error("out of memory (growing hash map)");
    }
    for (size_t i = 0; i < old.cap; i++) {
        if (!old.slots[i].key) continue;
        *strmap_find(m, old.slots[i].key, old.slots[i].len, old.slots[i].hash) = old.slots[i];
    }
    free(old.slots);
    return 0;
}

int ld_strmap_put(ld_strmap *m, const char *key, size_t len, int32_t val) {
    if ((m->count + 1) * 4 > m->cap * 3 && strmap_grow(m)) return -1;
    uint32_t h = ld_hash_bytes(key, len);
    ld_strmap_slot *s = strmap_find(m, key, len, h);
    if (!s->key) {
        /* An empty key still needs a non-NULL pointer to mark the slot used. */
        s->key = key ? key : "";
        s->len = (uint32_t)len;
        s->hash = h;
        m->count++;
    }
    s->val = val;
    return 0;
}

int32_t ld_strmap_get(const ld_strmap *m, const char *key, size_t len) {
    if (!m->slots) return -1;
    ld_strmap_slot *s = strmap_find(m, key, len, ld_hash_bytes(key, len));
    return s->key ? s->val : -1;
}

static uint64_t pair_key(int32_t a, int32_t b) {
    return (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

int ld_pairmap_init(ld_pairmap *m, size_t expected) {
    m->cap = pow2_for(expected);
    m->count = 0;
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (!m->slots) return ld_set_error("out of memory (merge table of %zu slots)", m->cap);
    return 0;
}

void ld_pairmap_free(ld_pairmap *m) {
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

static ld_pairmap_slot *pair_find(const ld_pairmap *m, uint64_t k) {
    size_t mask = m->cap - 1;
    for (size_t i = mix64(k) & mask;; i = (i + 1) & mask)
        if (m->slots[i].key == k || m->slots[i].key == 0) return &m->slots[i];
}

int ld_pairmap_put(ld_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t id) {
    if ((m->count + 1) * 4 > m->cap * 3) {
        ld_pairmap old = *m;
        m->cap *= 2;
        m->slots = calloc(m->cap, sizeof *m->slots);
        if (!m->slots) {
            *m = old;
            return ld_set_error("out of memory (growing merge table)");
        }
        for (size_t i = 0; i < old.cap; i++)
            if (old.slots[i].key) *pair_find(m, old.slots[i].key) = old.slots[i];
        free(old.slots);
    }
    uint64_t k = pair_key(a, b);
    ld_pairmap_slot *s = pair_find(m, k);
    if (!s->key) m->count++;
    s->key = k;
    s->rank = rank;
    s->id = id;
    return 0;
}

const ld_pairmap_slot *ld_pairmap_get(const ld_pairmap *m, int32_t a, int32_t b) {
    ld_pairmap_slot *s = pair_find(m, pair_key(a, b));
    return s->key ? s : NULL;
}

struct ld_arena_chunk {
    ld_arena_chunk *next;
    size_t used, cap;
    char data[];
};

char *ld_arena_dup(ld_arena *a, const void *p, size_t n) {
    ld_arena_chunk *c = a->head;
    if (!c || c->cap - c->used < n + 1) {
        size_t cap = n + 1 > (1u << 20) ? n + 1 : (1u << 20);
        c = malloc(sizeof *c + cap);
        if (!c) {
            ld_set_error("out of memory (string arena)");
            return NULL;
        }
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    char *dst = c->data + c->used;
    if (n) memcpy(dst, p, n);
    dst[n] = 0;
    c->used += n + 1;
    return dst;
}

void ld_arena_free(ld_arena *a) {
    while (a->head) {
        ld_arena_chunk *n = a->head->next;
        free(a->head);
        a->head = n;
    }
}
