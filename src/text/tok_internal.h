/* Internal layout of ld_tokenizer, shared by the tokenizer source files
 * (tokjson.c loads it, added.c/pretok.c/bpe.c/tokenizer.c run it). Not part
 * of the public API. */
#ifndef LADDER_TEXT_TOK_INTERNAL_H
#define LADDER_TEXT_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "text/strmap.h"
#include "text/tokenizer.h"

/* HF SplitDelimiterBehavior. */
enum { LD_SPLIT_REMOVED, LD_SPLIT_ISOLATED, LD_SPLIT_MERGED_PREV, LD_SPLIT_MERGED_NEXT,
       LD_SPLIT_CONTIGUOUS };
enum { LD_PT_SPLIT, LD_PT_BYTELEVEL };

typedef struct {
    int kind;
    pcre2_code *re; /* Split pattern, or the GPT-2 regex of ByteLevel(use_regex) */
    pcre2_code *re_exact; /* re patched to classify code points like HF, or NULL */
    int behavior, invert;
    int add_prefix_space; /* ByteLevel only */
} ld_pretok_step;

typedef struct {
    int32_t id;
    const char *content; /* arena */
    size_t len;
    int special, normalized, lstrip, rstrip, single_word;
} ld_added_token;

/* Byte trie over added-token texts, for leftmost-longest matching. */
typedef struct {
    int32_t child, sibling; /* node indices, -1 = none */
    int32_t token;          /* index into tok->added, -1 = not a token end */
    unsigned char byte;
} ld_trie_node;

typedef struct {
    ld_trie_node *nodes; /* nodes[0] is the root */
    size_t n, cap;
    uint8_t first[256];  /* 1 when some token starts with that byte */
} ld_trie;

typedef struct {
    uint32_t off, n; /* span in tok->cache_ids */
} ld_cache_entry;

struct ld_tokenizer {
    ld_arena arena;
    ld_strmap vocab;      /* raw bytes of byte-level vocab entries -> id */
    ld_strmap by_text;    /* token text as written in tokenizer.json -> id */
    ld_pairmap merges;    /* (left id, right id) -> (rank, merged id) */
    int32_t byte_id[256]; /* id of each single byte, -1 if the vocab lacks it */
    int32_t fallback_id[256]; /* "<0xXX>" ids when byte_fallback, else -1 */
    int ignore_merges, fuse_unk;
    int32_t unk_id;       /* -1 when no unk_token */

    /* decode: bytes of every id (NULL for unused ids) */
    const char **dec;
    uint32_t *dec_len;
    uint8_t *special;     /* per id: added token marked special */
    int32_t n_ids;

    ld_added_token *added;
    size_t n_added;
    ld_trie trie_raw, trie_norm; /* normalized=false / normalized=true tokens */

    ld_pretok_step *steps;
    size_t n_steps;
    /* Code points on which some re_exact differs from its re (bitmap); text
     * without them runs the faster original regexes. */
    uint8_t *ucd_touched;
    int ucd_patched;
    int32_t bos_id;

    /* Word cache and regex scratch, guarded by lock. */
    pthread_mutex_t lock;
    pcre2_match_data *md;
    ld_strmap cache;
    ld_arena cache_arena;
    ld_cache_entry *cache_ent;
    size_t cache_n, cache_cap;
    int32_t *cache_ids;
    size_t cache_ids_n, cache_ids_cap;
};

/* Growable id vector used while encoding. */
typedef struct {
    int32_t *v;
    size_t n, cap;
} ld_idvec;
int ld_idvec_push(ld_idvec *iv, int32_t id);

/* Spans of a text buffer. */
typedef struct {
    size_t start, len;
} ld_span;
typedef struct {
    ld_span *v;
    size_t n, cap;
} ld_spanvec;
int ld_spanvec_push(ld_spanvec *sv, size_t start, size_t len);

/* tokenizer.c */
ld_tokenizer *ld_tokenizer_new_empty(void);

/* added.c */
int ld_trie_add(ld_trie *t, const char *s, size_t len, int32_t token);
void ld_trie_free(ld_trie *t);
/* Splits text[0..len) on the tokens of trie (HF find_matches semantics).
 * Appends alternating pieces to out: text pieces as spans with *is_tok 0,
 * matched tokens with is_tok 1 and the token index in tok_idx. */
typedef struct {
    size_t start, len;
    int32_t token; /* index into tok->added, or -1 for a text piece */
} ld_piece;
typedef struct {
    ld_piece *v;
    size_t n, cap;
} ld_piecevec;
int ld_added_split(const ld_tokenizer *tok, const ld_trie *trie, const char *text, size_t len,
                   int skip_all, ld_piecevec *out);

/* pretok.c: runs the pre-tokenizer steps over text[0..len) (valid UTF-8) and
 * calls emit(ctx, word, wlen) for each resulting word, in order. */
typedef int (*ld_word_fn)(void *ctx, const char *word, size_t wlen);
int ld_pretokenize(ld_tokenizer *tok, const char *text, size_t len, ld_word_fn emit, void *ctx);
/* Compiles a regex with the semantics HF's Oniguruma build gives it. With
 * exact NULL, returns the regex that classifies code points like HF. Else
 * returns the pattern as written and sets *exact to the patched regex (NULL
 * when no class changed), marking the code points concerned in tok. */
pcre2_code *ld_regex_compile(const char *pattern, size_t len, int literal, ld_tokenizer *tok,
                             pcre2_code **exact);

/* bpe.c: BPE of one word (raw bytes), appending ids. Uses the cache. */
int ld_bpe_word(ld_tokenizer *tok, const char *word, size_t len, ld_idvec *out);
void ld_bpe_cache_free(ld_tokenizer *tok);

#endif
