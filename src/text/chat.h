/* DeepSeek-V4 chat format: messages -> prompt text, completion -> message.
 *
 * Byte-exact with the official encoder (encoding_dsv4.py of the V4 release):
 * roles system, developer, user, latest_reminder, assistant and tool (tool
 * results are merged into user turns and ordered by the assistant's call
 * order), "thinking" and "chat" modes, dropping of earlier reasoning, the
 * "max" reasoning-effort preamble, tool schemas, DSML tool calls,
 * response_format and task tokens. Where the official code would raise, these
 * functions fail with a one-line reason in ld_last_error(). */
#ifndef LADDER_TEXT_CHAT_H
#define LADDER_TEXT_CHAT_H

#include <cjson/cJSON.h>
#include <stddef.h>

typedef struct {
    int thinking;      /* 1: thinking mode, 0: chat mode */
    int keep_thinking; /* keep reasoning of earlier turns (drop_thinking=False) */
    const char *reasoning_effort; /* NULL, "high" or "max" */
    int no_bos;        /* omit the leading <｜begin▁of▁sentence｜> */
} ld_chat_opts;

/* Renders a JSON array of messages (OpenAI style, as the official encoder
 * takes them; parse it with ld_pyjson_parse so numbers inside tool schemas
 * print exactly as Python would). Returns a malloc'd prompt, or NULL. */
char *ld_chat_encode(const cJSON *messages, const ld_chat_opts *opts);

/* Parses one assistant completion (text after "<｜Assistant｜>" plus "<think>"
 * in thinking mode, up to and including the end-of-sentence token) into
 * {"role", "content", "reasoning_content", "tool_calls"}; tool_calls are in
 * OpenAI form with "arguments" as a JSON string. NULL on malformed text. */
cJSON *ld_chat_parse_completion(const char *text, size_t len, int thinking);

/* The format's special strings, for callers that build or scan prompts. */
#define LD_DSV4_BOS "<｜begin▁of▁sentence｜>"
#define LD_DSV4_EOS "<｜end▁of▁sentence｜>"
#define LD_DSV4_USER "<｜User｜>"
#define LD_DSV4_ASSISTANT "<｜Assistant｜>"
#define LD_DSV4_LATEST_REMINDER "<｜latest_reminder｜>"
#define LD_DSV4_THINK_START "<think>"
#define LD_DSV4_THINK_END "</think>"
#define LD_DSV4_DSML "｜DSML｜"

#endif
