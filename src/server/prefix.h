/* The server's prefix cache: session snapshots keyed by the tokens that led
 * to them, so a request that starts with the same tokens (a shared system
 * prompt, the earlier turns of a conversation) resumes from the longest one
 * instead of evaluating them again.
 *
 * Only exact snapshots are kept (ladder_snapshot_exact): restoring one and
 * feeding the rest gives the bits the whole prompt evaluated from scratch
 * would, so output is identical with and without a hit. Memory is bounded;
 * the least recently used entries go first. Used by the scheduler's thread
 * only. */
#ifndef LADDER_SERVER_PREFIX_H
#define LADDER_SERVER_PREFIX_H

#include <stddef.h>

#include "ladder.h"

typedef struct ld_prefix ld_prefix;

typedef struct {
    long hits, misses;     /* lookups that restored a snapshot, or found none */
    long hit_tokens;       /* prompt tokens not evaluated thanks to hits */
    long saves, evictions;
    long entries;
    size_t bytes, max_bytes;
} ld_prefix_stats;

/* max_bytes: bound on the snapshots and their keys together (0: no cache). */
ld_prefix *ld_prefix_new(size_t max_bytes);
void ld_prefix_free(ld_prefix *p);
/* Restores into s the longest stored key that is a prefix of ids[0..n)
 * shorter than n (one token at least must be left to evaluate); returns
 * its length, 0 on a miss (s untouched) or -1 if the restore failed (s then
 * reset). */
long ld_prefix_restore(ld_prefix *p, const int *ids, int n, ladder_session *s);
/* Saves s under key ids[0..ladder_session_pos(s)) unless that key is stored,
 * the state is not exact, or it exceeds the bound alone. 0, or -1 on
 * failure (nothing stored). */
int ld_prefix_save(ld_prefix *p, const int *ids, ladder_session *s);
void ld_prefix_get_stats(const ld_prefix *p, ld_prefix_stats *st);

#endif
