/* Hash maps used by the tokenizer (internal).
 *
 * ld_strmap: byte string -> int32, open addressing. Keys are not copied: the
 * caller keeps them alive (the tokenizer stores them in its arena) for the
 * map's lifetime. ld_pairmap: (int32, int32) -> (rank, id) for BPE merges.
 * Both grow by doubling and never shrink; lookups are read-only and may run
 * concurrently, inserts may not. */
#ifndef LADDER_TEXT_STRMAP_H
#define LADDER_TEXT_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *key;
    uint32_t len;
    uint32_t hash;
    int32_t val;
} ld_strmap_slot;

typedef struct {
    ld_strmap_slot *slots; /* (cap) */
    size_t cap, count;     /* cap is a power of two; count < cap * 3/4 */
} ld_strmap;

uint32_t ld_hash_bytes(const void *p, size_t n);
int ld_strmap_init(ld_strmap *m, size_t expected);
void ld_strmap_free(ld_strmap *m);
/* Inserts or overwrites. Returns 0, or -1 (error set) when out of memory. */
int ld_strmap_put(ld_strmap *m, const char *key, size_t len, int32_t val);
/* Returns the value, or -1 when absent (values stored are never negative). */
int32_t ld_strmap_get(const ld_strmap *m, const char *key, size_t len);

typedef struct {
    uint64_t key; /* (a << 32 | b) + 1; 0 marks an empty slot */
    int32_t rank, id;
} ld_pairmap_slot;

typedef struct {
    ld_pairmap_slot *slots;
    size_t cap, count;
} ld_pairmap;

int ld_pairmap_init(ld_pairmap *m, size_t expected);
void ld_pairmap_free(ld_pairmap *m);
int ld_pairmap_put(ld_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t id);
/* Returns the slot for (a, b) or NULL. */
const ld_pairmap_slot *ld_pairmap_get(const ld_pairmap *m, int32_t a, int32_t b);

/* Append-only storage for key bytes; chunks never move once allocated. */
typedef struct ld_arena_chunk ld_arena_chunk;
typedef struct {
    ld_arena_chunk *head;
} ld_arena;

/* Copies n bytes (plus a NUL) into the arena; NULL when out of memory. */
char *ld_arena_dup(ld_arena *a, const void *p, size_t n);
void ld_arena_free(ld_arena *a);

#endif
