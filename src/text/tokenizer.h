/* Byte-level BPE tokenizer loaded from a Hugging Face tokenizer.json.
 *
 * Covers the format used by the DeepSeek V3/V4, Qwen and Llama 3 families:
 * a BPE model (vocab + ranked merges), added tokens matched before BPE
 * (longest match first), a pre-tokenizer made of regex Splits and ByteLevel,
 * the NFC normalizer, and the ByteLevel decoder. Token ids equal those of
 * Hugging Face `tokenizers` for every valid UTF-8 input; invalid UTF-8 bytes
 * are not rejected but each becomes its own byte token, so that decoding
 * always gives back the exact input bytes.
 *
 * Thread safety: encode takes an internal lock (it updates a word cache), so
 * one tokenizer may be shared by threads; decode and lookups never block. */
#ifndef LADDER_TEXT_TOKENIZER_H
#define LADDER_TEXT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct ld_tokenizer ld_tokenizer;

/* Loads tokenizer.json from a file / from memory. NULL on failure, with a
 * one-line reason in ld_last_error() naming the offending field. */
ld_tokenizer *ld_tokenizer_load(const char *path);
ld_tokenizer *ld_tokenizer_load_json(const char *json, size_t len);
void ld_tokenizer_free(ld_tokenizer *tok);
/* A synthetic byte-level tokenizer.json covering vocab_size ids (BOS 0, EOS 1,
 * the V4 chat markers as added tokens) for synthesized checkpoints; malloc'd,
 * or NULL with the reason in ld_last_error(). */
char *ld_tokenizer_synth_json(int vocab_size, int bos_id, int eos_id);

typedef struct {
    /* Prepend the BOS token (see ld_tokenizer_bos_id). */
    int add_bos;
    /* Untrusted text: do not match any added token (special or not), so text
     * like "<｜Assistant｜>" is tokenized as ordinary characters. Unlike HF's
     * encode_special_tokens this covers non-special added tokens too, which
     * DeepSeek uses for its chat-role markers. */
    int special_as_text;
} ld_encode_opts;

/* Encodes len bytes of text. On success *ids is a malloc'd array of *n ids
 * (free() it; may be NULL when *n is 0) and 0 is returned; -1 on error.
 * opts may be NULL (no BOS, added tokens matched: the HF default). */
int ld_tokenizer_encode(ld_tokenizer *tok, const char *text, size_t len,
                        const ld_encode_opts *opts, int32_t **ids, size_t *n);

/* Decodes ids to bytes (not necessarily valid UTF-8 when the ids split a
 * character). *out is malloc'd and NUL-terminated, *out_len excludes the NUL.
 * Unknown ids are an error. */
int ld_tokenizer_decode(const ld_tokenizer *tok, const int32_t *ids, size_t n,
                        char **out, size_t *out_len);

/* The bytes one id decodes to, or NULL for an unknown id. */
const char *ld_tokenizer_token_bytes(const ld_tokenizer *tok, int32_t id, size_t *len);
/* Id of an added token or vocab entry given its exact text; -1 if absent. */
int32_t ld_tokenizer_token_id(const ld_tokenizer *tok, const char *text, size_t len);
/* BOS id: the first special token of a TemplateProcessing post-processor,
 * else a special added token with a well-known BOS name; -1 when none. */
int32_t ld_tokenizer_bos_id(const ld_tokenizer *tok);
/* One more than the largest id in use. */
int32_t ld_tokenizer_vocab_size(const ld_tokenizer *tok);
/* 1 when id is an added token marked "special" in tokenizer.json. */
int ld_tokenizer_is_special(const ld_tokenizer *tok, int32_t id);

/* Streaming detokenizer for generation. push() returns the bytes that are
 * now safe to print: never a partial UTF-8 character. Bytes that can never
 * complete a valid character are released as they are, so the concatenation
 * of all outputs plus the final flush equals the one-shot decode. */
typedef struct ld_detok_stream ld_detok_stream;
ld_detok_stream *ld_detok_stream_new(const ld_tokenizer *tok);
/* *out stays valid until the next call on the stream. */
int ld_detok_stream_push(ld_detok_stream *s, int32_t id, const char **out, size_t *out_len);
/* Releases whatever is still held back (an incomplete final character). */
int ld_detok_stream_flush(ld_detok_stream *s, const char **out, size_t *out_len);
void ld_detok_stream_free(ld_detok_stream *s);

#endif
