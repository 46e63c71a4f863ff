#include "server/prefix.h"

#include <stdlib.h>
#include <string.h>

typedef struct entry {
    int *key;
    long n;
    ladder_snapshot *snap;
    size_t bytes;
    unsigned long used; /* clock of the last save or hit */
    struct entry *next;
} entry;

struct ld_prefix {
    entry *head;
    unsigned long clock;
    ld_prefix_stats st;
};

ld_prefix *ld_prefix_new(size_t max_bytes) {
    if (!max_bytes) return NULL;
    ld_prefix *p = calloc(1, sizeof *p);
    if (p) p->st.max_bytes = max_bytes;
    return p;
}

static void drop(ld_prefix *p, entry **link) {
    entry *e = *link;
    *link = e->next;
    p->st.bytes -= e->bytes;
    p->st.entries--;
    ladder_snapshot_free(e->snap);
    free(e->key);
    free(e);
}

void ld_prefix_free(ld_prefix *p) {
    if (!p) return;
    while (p->head) drop(p, &p->head);
    free(p);
}

static int is_prefix(const entry *e, const int *ids, long n) {
    return e->n <= n && !memcmp(e->key, ids, sizeof(int) * (size_t)e->n);
}

long ld_prefix_restore(ld_prefix *p, const int *ids, int n, ladder_session *s) {
    if (!p) return 0;
    entry *best = NULL;
    for (entry *e = p->head; e; e = e->next)
        if (e->n < n && (!best || e->n > best->n) && is_prefix(e, ids, n)) best = e;
    if (!best || ladder_session_restore(s, best->snap)) {
        if (best) ladder_session_reset(s);
        p->st.misses++;
        return best ? -1 : 0;
    }
    best->used = ++p->clock;
    p->st.hits++;
    p->st.hit_tokens += best->n;
    return best->n;
}

int ld_prefix_save(ld_prefix *p, const int *ids, ladder_session *s) {
    long n = ladder_session_pos(s);
    if (!p || n <= 0 || !ladder_session_exact(s)) return 0; /* before any copy */
    for (entry *e = p->head; e; e = e->next)
        if (e->n == n && is_prefix(e, ids, n)) {
            e->used = ++p->clock;
            return 0;
        }
    ladder_snapshot *snap;
    if (ladder_session_save(s, &snap)) return -1;
    size_t bytes = ladder_snapshot_bytes(snap) + sizeof(int) * (size_t)n + sizeof(entry);
    if (bytes > p->st.max_bytes) {
        ladder_snapshot_free(snap);
        return 0;
    }
    entry *e = calloc(1, sizeof *e);
    int *key = malloc(sizeof(int) * (size_t)n);
    if (!e || !key) {
        free(e);
        free(key);
        ladder_snapshot_free(snap);
        return -1;
    }
    memcpy(key, ids, sizeof(int) * (size_t)n);
    while (p->head && p->st.bytes + bytes > p->st.max_bytes) { /* least recently used first */
        entry **old = &p->head;
        for (entry **l = &p->head; *l; l = &(*l)->next)
            if ((*l)->used < (*old)->used) old = l;
        drop(p, old);
        p->st.evictions++;
    }
    *e = (entry){.key = key, .n = n, .snap = snap, .bytes = bytes, .used = ++p->clock, .next = p->head};
    p->head = e;
    p->st.bytes += bytes;
    p->st.entries++;
    p->st.saves++;
    return 0;
}

void ld_prefix_get_stats(const ld_prefix *p, ld_prefix_stats *st) {
    if (p) *st = p->st;
    else memset(st, 0, sizeof *st);
}
